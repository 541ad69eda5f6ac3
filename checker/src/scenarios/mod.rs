//! The scenarios `check` explores: the built-in ones ([`builtin`]), those written for 6.12's
//! shape ([`k612`]) and the small witnesses of the seeded bugs ([`small`]), all written with
//! the builders of [`dsl`].

pub mod builtin;
pub mod dsl;
pub mod found;
pub mod goals;
pub mod k612;
pub mod multiq;
pub mod quiesce;
pub mod resize;
pub mod small;
pub mod sweep;

pub use builtin::*;
pub use goals::goals;
