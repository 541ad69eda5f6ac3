//! Exploration engines over the ublk model, the built-in scenarios and the
//! `ublksim` command line.

pub mod check;
pub mod cli;
pub mod describe;
pub mod explore;
pub mod known;
pub mod scenarios;
