//! Two switch sets side by side: verdicts, reachable states and command results
//! ([`compare`], printed by [`render`], drawn by [`picture`]), the situations they are told apart by
//! ([`situations`]), and the off-daemon series page patch by patch ([`series`]).

pub mod compare;
pub mod picture;
pub mod render;
pub mod series;
pub mod situations;
