//! One file per subcommand, as cargo's `src/bin/cargo/commands/`: its clap arguments and its
//! `run`, which returns the exit code. The work itself lives in the rooms below.

pub mod agree;
pub mod bench;
pub mod chart;
pub mod check;
pub mod confirm;
pub mod conform;
pub mod diff;
pub mod explain;
pub mod export_c;
pub mod graph;
pub mod input;
pub mod list;
pub mod replay;
pub mod report;
pub mod series;
pub mod sim;
pub mod sweep_merge;
pub mod view;
pub mod zoo;
