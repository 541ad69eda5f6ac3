//! The `ublksim` command line.

use crate::check::{self, CheckOpts, Verdict};
use crate::explore::Order;
use crate::scenarios;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use ublk_model::features::{SwKind, NON_BEHAVIOURAL_PATCHES};
use ublk_model::{apply_switches, Model, Preset, ALL_SWITCHES, EVERY_PRESET};

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
    List,
    /// Explore scenarios exhaustively and report a verdict per scenario.
    Check(CheckArgs),
    /// Benchmark the explorer: distinct states/s on a scenario (median of runs).
    Bench(BenchArgs),
    /// Deterministic simulation: one seed drives workload, schedule and faults.
    Sim(crate::sim_cli::SimArgs),
    /// Compare two switch sets: verdicts, reachable states, command results.
    Diff(crate::diff_cli::DiffArgs),
    /// The off-daemon series patch by patch (generates docs/series.md).
    Series(crate::diff_cli::SeriesArgs),
    /// A saved trace as prose: actor, kernel function, what changed, ledgers.
    Explain(crate::explain::ExplainArgs),
    /// A saved trace as one self-contained HTML page (lanes, stepping, state).
    View(crate::view::ViewArgs),
    /// Diagrams of the protocol projected from the state graph (DOT + SVG).
    Graph(crate::graph::GraphArgs),
    /// The guide's bug zoo, with counterexample excerpts (docs/guide/bug-zoo.md).
    Zoo(crate::zoo::ZooArgs),
    /// Replay traces on a real kernel (--vm: QEMU, --device: this host) against the model.
    Replay(crate::replay_real::ReplayArgs),
    /// Differential testing: random sequential programs, model vs real kernel.
    Conform(crate::replay_real::ConformArgs),
    /// Explorer, loom and shuttle-dfs on the small scenarios: same verdicts, same states.
    Agree(crate::engines::AgreeArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    #[arg(long, default_value = "K72")]
    preset: String,
    /// Scenario to explore (default: the largest built-in one).
    #[arg(long, default_value = "per-io-daemons-stress")]
    scenario: String,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Kernel preset: PRE (≈6.16), POST (6.17), K72 (7.2), K612 (6.12).
    #[arg(long, default_value = "K72")]
    preset: String,
    /// Scenario(s) to run (default: all).
    #[arg(long = "scenario", short = 's')]
    scenarios: Vec<String>,
    /// Turn a switch on, or a seeded bug on (e.g. `--with B-8`).
    #[arg(long)]
    with: Vec<String>,
    /// Turn a switch off (e.g. `--without p02`).
    #[arg(long)]
    without: Vec<String>,
    /// Depth-first instead of breadth-first (counterexamples not shortest).
    #[arg(long)]
    dfs: bool,
    /// Stop a scenario after this many distinct states.
    #[arg(long, default_value_t = 5_000_000)]
    max_states: u64,
    /// Stop a scenario after this many seconds.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    /// Folder for counterexample traces.
    #[arg(long, default_value = "out/traces")]
    out: PathBuf,
    /// Print a JSON report instead of the table.
    #[arg(long)]
    json: bool,
    /// Re-execute a saved trace instead of exploring.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Safety only: skip the search for hangs (L1–L5).
    #[arg(long)]
    no_liveness: bool,
    /// Hangs only: do not stop at the state invariants S4–S6, S9 (a bug that
    /// breaks one first is then shown as the hang it leads to).
    #[arg(long, conflicts_with = "no_liveness")]
    liveness_only: bool,
    #[command(flatten)]
    engine: crate::engines::EngineArgs,
}

/// Runs the CLI; returns the process exit code (0 ok, 1 violation, 2 error).
pub fn main() -> i32 {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::List => {
            print!("{}", list());
            Ok(0)
        }
        Cmd::Check(a) => run_check(a),
        Cmd::Bench(a) => run_bench(a),
        Cmd::Sim(a) => crate::sim_cli::run(a),
        Cmd::Diff(a) => crate::diff_cli::run_diff(a),
        Cmd::Series(a) => crate::diff_cli::run_series(a),
        Cmd::Explain(a) => crate::explain::run(a),
        Cmd::View(a) => crate::view::run(a),
        Cmd::Graph(a) => crate::graph::run(a),
        Cmd::Zoo(a) => crate::zoo::run(a),
        Cmd::Replay(a) => crate::replay_real::run_replay(a),
        Cmd::Conform(a) => crate::replay_real::run_conform(a),
        Cmd::Agree(a) => crate::engines::run_agree(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ublksim: error: {e}");
            2
        }
    }
}

fn list() -> String {
    use std::fmt::Write;
    let mut s = String::from("PRESETS\n");
    for p in EVERY_PRESET {
        let _ = writeln!(s, "  {:<5} {}", p.name(), p.describe());
    }
    s.push_str("\nSWITCHES (on in: K612 PRE POST K72)\n");
    for w in ALL_SWITCHES {
        let i = w.info();
        let on: Vec<_> = EVERY_PRESET
            .iter()
            .map(|p| if p.features().has(w) { "x" } else { "." })
            .collect();
        let kind = match i.kind {
            SwKind::SeriesPatch => "patch",
            SwKind::Fix => "fix",
            SwKind::Refinement => "k72",
            SwKind::Upstream => "newer",
        };
        let bug = i
            .bug
            .map(|b| format!(" [absent = seeded bug {b}]"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:<24} {:<5} {}    {}{}",
            i.name,
            kind,
            on.join("   "),
            i.title,
            bug
        );
    }
    s.push_str("\nSERIES PATCHES WITHOUT OBSERVABLE BEHAVIOUR (not switches)\n");
    for (p, why) in NON_BEHAVIOURAL_PATCHES {
        let _ = writeln!(s, "  {p:<5} {why}");
    }
    s.push_str("\nSCENARIOS\n");
    for sc in scenarios::all() {
        let _ = writeln!(s, "  {:<34} {}", sc.name, sc.doc);
    }
    s
}

fn run_check(a: CheckArgs) -> anyhow::Result<i32> {
    if let Some(f) = &a.replay {
        let (text, same) = check::replay_file(f).map_err(anyhow::Error::msg)?;
        print!("{text}");
        if !same {
            eprintln!(
                "ublksim: replay of {} does not end as the trace records",
                f.display()
            );
            return Ok(1);
        }
        println!("replay reproduces the recorded outcome");
        return Ok(0);
    }
    let preset = Preset::from_name(&a.preset).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown preset '{}' (known: PRE, POST, K72, K612)",
            a.preset
        )
    })?;
    let features =
        apply_switches(preset.features(), &a.with, &a.without).map_err(anyhow::Error::msg)?;
    let scs = scenarios::select(&a.scenarios).map_err(anyhow::Error::msg)?;
    let opts = CheckOpts {
        order: if a.dfs { Order::Dfs } else { Order::Bfs },
        max_states: a.max_states,
        max_time: Duration::from_secs(a.max_seconds),
        out: Some(a.out.clone()),
        liveness: !a.no_liveness,
        safety: !a.liveness_only,
        ..CheckOpts::new(preset, features)
    };
    if let Some(e) = a.engine.engine().map_err(anyhow::Error::msg)? {
        return crate::engines::run_check(&scs, &opts, e, a.json).map_err(anyhow::Error::msg);
    }
    let mut results = Vec::new();
    let sw = features.diff_from(preset.features()).join(" ");
    if !a.json {
        println!("ublksim check — preset {} {}", preset.name(), sw);
        println!(
            "{:<34} {:<10} {:>10} {:>12} {:>6} {:>8} {:>10}",
            "scenario", "verdict", "states", "transitions", "depth", "time", "states/s"
        );
    }
    for sc in &scs {
        let r = check::run_scenario(sc, &opts).map_err(anyhow::Error::msg)?;
        if !a.json {
            let v = match r.verdict {
                Verdict::Pass => "PASS".to_string(),
                Verdict::Fail => format!("FAIL {}", r.finding().unwrap_or_default()),
                Verdict::Incomplete => "INCOMPLETE".into(),
                Verdict::Known => format!("KNOWN {}", r.finding().unwrap_or_default()),
                Verdict::NotApplicable => "n/a".into(),
            };
            println!(
                "{:<34} {:<10} {:>10} {:>12} {:>6} {:>7.2}s {:>10.0}",
                r.scenario, v, r.states, r.transitions, r.max_depth, r.seconds, r.states_per_sec
            );
        }
        results.push(r);
    }
    if !a.json {
        for r in results
            .iter()
            .filter(|r| r.verdict == Verdict::NotApplicable)
        {
            let why = r.stop_reason.as_deref().unwrap_or_default();
            println!("\n{} — n/a: {why}", r.scenario);
        }
        for (r, sc) in results.iter().zip(&scs) {
            if r.trace.is_none() {
                if let Some(k) = &r.known {
                    println!("\n{} — FAIL: {k}", r.scenario);
                }
            }
            if let Some(t) = &r.trace {
                let m = Model::new(sc, features).map_err(anyhow::Error::msg)?;
                let path: Vec<u8> = t.steps.iter().map(|s| s.actor_id).collect();
                let tag = if r.verdict == Verdict::Known {
                    "KNOWN "
                } else {
                    ""
                };
                let what = r.finding().unwrap_or_default();
                let shape = match &r.hang {
                    Some(h) if h.cycle_steps > 0 => format!(
                        "a lasso: {} steps, then a {}-step cycle",
                        h.stem_steps, h.cycle_steps
                    ),
                    Some(h) => format!("a dead end after {} steps", h.stem_steps),
                    None => format!("{} steps", path.len()),
                };
                println!("\n{} — {tag}{what} in {shape}:", r.scenario);
                if let Some(k) = &r.known {
                    println!("  known: {k}");
                }
                let cycle = t
                    .outcome
                    .as_ref()
                    .and_then(|o| o.hang.as_ref())
                    .and_then(|h| h.cycle_start);
                print!(
                    "{}",
                    check::print_trace_with(
                        &m,
                        &path,
                        cycle.map(|c| c as usize),
                        t.header.state_invariants
                    )
                );
                if let (Some(h), Some(rec)) =
                    (&r.hang, t.outcome.as_ref().and_then(|o| o.hang.as_ref()))
                {
                    let end = if h.cycle_steps > 0 {
                        "the cycle is fair and repeats forever"
                    } else {
                        "dead end: no actor can move"
                    };
                    println!(
                        "  ⟳ HANG {} ({}): {}; {end}",
                        rec.property,
                        rec.property.describe(),
                        rec.obligation
                    );
                }
                if let Some(f) = &r.trace_file {
                    println!("  trace saved: {f}  (replay: ublksim check --replay {f})");
                }
            }
        }
        let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
        println!(
            "\n{} passed, {} failed, {} known, {} incomplete, {} n/a",
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Known),
            count(Verdict::Incomplete),
            count(Verdict::NotApplicable)
        );
    } else {
        let report = serde_json::json!({
            "tool": format!("ublksim {}", env!("CARGO_PKG_VERSION")),
            "preset": preset.name(),
            "switches": features.diff_from(preset.features()),
            "results": results,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    let failed = results
        .iter()
        .any(|r| matches!(r.verdict, Verdict::Fail | Verdict::Incomplete));
    Ok(if failed { 1 } else { 0 })
}

/// Peak resident set size of this process, from /proc (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

fn run_bench(a: BenchArgs) -> anyhow::Result<i32> {
    use crate::explore::Explorer;
    let preset = Preset::from_name(&a.preset).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown preset '{}' (known: PRE, POST, K72, K612)",
            a.preset
        )
    })?;
    let sc = scenarios::by_name(&a.scenario)
        .ok_or_else(|| anyhow::anyhow!("unknown scenario '{}'", a.scenario))?;
    let m = Model::new(&sc, preset.features()).map_err(anyhow::Error::msg)?;
    if a.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    let mut secs = Vec::new();
    let mut last = None;
    for _ in 0..a.runs {
        let r = Explorer::new(&m).run();
        secs.push(r.elapsed.as_secs_f64());
        last = Some(r);
    }
    let r = last.unwrap();
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    let report = serde_json::json!({
        "benchmark": "explorer-bfs distinct states/s",
        "preset": preset.name(),
        "scenario": sc.name,
        "runs": a.runs,
        "states": r.states,
        "transitions": r.transitions,
        "max_depth": r.max_depth,
        "median_seconds": median,
        "min_seconds": secs[0],
        "max_seconds": secs[secs.len() - 1],
        "median_states_per_sec": r.states as f64 / median,
        "median_transitions_per_sec": r.transitions as f64 / median,
        "peak_rss_kib": peak_rss_kib(),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} on {}: {} states, {} transitions; median {:.3}s over {} runs = {:.0} states/s, {:.0} transitions/s; peak RSS {} KiB",
            sc.name,
            preset.name(),
            r.states,
            r.transitions,
            median,
            a.runs,
            r.states as f64 / median,
            r.transitions as f64 / median,
            peak_rss_kib().map_or("?".into(), |k| k.to_string())
        );
    }
    Ok(0)
}
