//! Exploration engines over the ublk model, the built-in scenarios and the
//! `ublksim` command line.

pub mod check;
pub mod cli;
pub mod describe;
pub mod diff;
pub mod diff_cli;
pub mod diff_render;
pub mod explore;
pub mod known;
pub mod liveness;
pub mod oracle;
pub mod projection;
pub mod scenarios;
pub mod series;
pub mod situations;
