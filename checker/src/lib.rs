//! Exploration engines over the ublk model, the built-in scenarios and the
//! `ublksim` command line.
//!
//! The rooms, from the bottom up (a room imports only from rooms above it in this list):
//! * [`scenarios`] — the built-in scenarios and the builders they are written with;
//! * [`explore`] — the strategies (breadth-first explorer, liveness, loom/shuttle engines,
//!   the simulator's shrinker), verdicts, known findings, projection and step descriptions;
//! * [`diff`] — two switch sets compared, and the series page;
//! * [`teach`] — the teaching aid: prose, pages, diagrams, the bug zoo;
//! * [`conform`] — real-kernel conformance: the oracle, program generation and compilation,
//!   the corpus, and the runner that drives the VM or this host's device;
//! * [`cmd`] — one file per subcommand: its clap arguments and `run`; [`cli`] is the enum.

pub mod cli;
pub mod cmd;
pub mod conform;
pub mod diff;
pub mod explore;
pub mod scenarios;
pub mod teach;
