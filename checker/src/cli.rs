//! The `ublksim` command line: the subcommands and their dispatch (each in `cmd/`).

use crate::cmd;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ublksim",
    version,
    about = "Model checker for the Linux ublk driver protocol"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List presets, switches (patches, fixes, seeded bugs) and scenarios.
    List(cmd::list::ListArgs),
    /// Explore scenarios exhaustively and report a verdict per scenario.
    Check(Box<cmd::check::CheckArgs>),
    /// Benchmark the explorer: distinct states/s on a scenario (median of runs).
    Bench(cmd::bench::BenchArgs),
    /// Deterministic simulation: one seed drives workload, schedule and faults.
    Sim(cmd::sim::SimArgs),
    /// Compare two switch sets: verdicts, reachable states, command results.
    Diff(cmd::diff::DiffArgs),
    /// The off-daemon series patch by patch (generates docs/series.md).
    Series(cmd::series::SeriesArgs),
    /// A saved trace as prose: actor, kernel function, what changed, ledgers.
    Explain(cmd::explain::ExplainArgs),
    /// A saved trace as one self-contained HTML page (lanes, stepping, state).
    View(cmd::view::ViewArgs),
    /// A saved trace as a message-sequence chart: SVG (--svg OUT) or plain-text lanes.
    Chart(cmd::chart::ChartArgs),
    /// Diagrams of the protocol projected from the state graph (DOT + SVG).
    Graph(cmd::graph::GraphArgs),
    /// The guide's bug zoo, with counterexample excerpts (docs/guide/bug-zoo.md).
    Zoo(cmd::zoo::ZooArgs),
    /// Replay traces on a real kernel (--vm: QEMU, --device: this host) against the model.
    Replay(cmd::replay::ReplayArgs),
    /// Differential testing: random sequential programs, model vs real kernel.
    Conform(cmd::conform::ConformArgs),
    /// Every finding of the model check tried on the real kernel (QEMU): reproduced or not.
    Confirm(cmd::confirm::ConfirmArgs),
    /// A trace as a standalone C program for the real kernel (raw io_uring, ublk uapi).
    ExportC(cmd::export_c::ExportCArgs),
    /// Explorer, loom and shuttle-dfs on the small scenarios: same verdicts, same states.
    Agree(cmd::agree::AgreeArgs),
    /// Merge the sweep files of one run's shards (`check --shard I/N --sweep-json`).
    SweepMerge(cmd::sweep_merge::SweepMergeArgs),
}

/// Runs the CLI; returns the process exit code (0 ok, 1 violation, 2 error).
pub fn main() -> i32 {
    let cli = Cli::parse();
    // an interrupted write leaves no temp file behind
    let _ = ctrlc::set_handler(|| {
        ublk_traces::remove_pending_temps();
        std::process::exit(130);
    });
    let r = match cli.cmd {
        Cmd::List(a) => cmd::list::run(a),
        Cmd::Check(a) => cmd::check::run(*a),
        Cmd::Bench(a) => cmd::bench::run(a),
        Cmd::Sim(a) => cmd::sim::run(a),
        Cmd::Diff(a) => cmd::diff::run(a),
        Cmd::Series(a) => cmd::series::run(a),
        Cmd::Explain(a) => cmd::explain::run(a),
        Cmd::View(a) => cmd::view::run(a),
        Cmd::Chart(a) => cmd::chart::run(a),
        Cmd::Graph(a) => cmd::graph::run(a),
        Cmd::Zoo(a) => cmd::zoo::run(a),
        Cmd::Replay(a) => cmd::replay::run(a),
        Cmd::Conform(a) => cmd::conform::run(a),
        Cmd::Confirm(a) => cmd::confirm::run(a),
        Cmd::ExportC(a) => cmd::export_c::run(a),
        Cmd::Agree(a) => cmd::agree::run(a),
        Cmd::SweepMerge(a) => cmd::sweep_merge::run(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ublksim: error: {e}");
            2
        }
    }
}
