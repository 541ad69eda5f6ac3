//! Exploration engines over the ublk model, the built-in scenarios and the
//! `ublksim` command line.

pub mod build;
pub mod check;
pub mod cli;
pub mod conform;
pub mod conform_gen;
pub mod corpus;
pub mod describe;
pub mod diff;
pub mod diff_cli;
pub mod diff_render;
pub mod engines;
pub mod explain;
pub mod explore;
pub mod gloss;
pub mod graph;
pub mod known;
pub mod liveness;
pub mod oracle;
pub mod projection;
pub mod replay_real;
pub mod scenarios;
pub mod scenarios_k612;
pub mod scenarios_small;
pub mod series;
pub mod sim_cli;
pub mod sim_shrink;
pub mod situations;
pub mod view;
pub mod zoo;
