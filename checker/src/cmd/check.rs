//! `ublksim check`: explore scenarios (or re-execute a saved trace) and report a verdict per
//! scenario.

use crate::cmd::input::{switch_set, TraceInput};
use crate::explore::bfs::Order;
use crate::explore::verdict::{self, CheckOpts, Verdict};
use crate::scenarios;
use std::path::PathBuf;
use std::time::Duration;
use ublk_model::{Model, Preset};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Kernel preset: PRE (≈6.16), POST (6.17), K72 (7.2), K612 (6.12).
    #[arg(long, default_value = "K72")]
    pub preset: String,
    /// Scenario(s) to run (default: all).
    #[arg(long = "scenario", short = 's')]
    pub scenarios: Vec<String>,
    /// Turn a switch on, or a seeded bug on (e.g. `--with B-8`).
    #[arg(long)]
    pub with: Vec<String>,
    /// Turn a switch off (e.g. `--without p02`).
    #[arg(long)]
    pub without: Vec<String>,
    /// Depth-first instead of breadth-first (counterexamples not shortest).
    #[arg(long)]
    pub dfs: bool,
    /// Stop a scenario after this many distinct states (loom, shuttle: executions).
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_states: u64,
    /// Stop a scenario after this many seconds (every engine).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub max_seconds: u64,
    /// Folder for counterexample traces (`<PRESET><switches>-<scenario>.jsonl`).
    #[arg(long, default_value = "out/traces")]
    pub out: PathBuf,
    /// Create the missing parent folders of --out.
    #[arg(long)]
    pub parents: bool,
    /// Print a JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Re-execute a saved trace instead of exploring (every step and the outcome must match;
    /// the options of an exploration do not apply).
    #[arg(long, conflicts_with_all = [
        "preset", "scenarios", "with", "without", "dfs", "max_states", "max_seconds", "out", "parents",
        "json", "no_liveness", "liveness_only", "engine", "preemption_bound", "max_branches",
        "iterations", "dfs_iterations", "pct_depth", "seed",
    ])]
    pub replay: Option<PathBuf>,
    /// Safety only: skip the search for hangs (L1–L5).
    #[arg(long)]
    pub no_liveness: bool,
    /// Hangs only: do not stop at the state invariants S4–S6, S9 (a bug that
    /// breaks one first is then shown as the hang it leads to).
    #[arg(long, conflicts_with = "no_liveness")]
    pub liveness_only: bool,
    #[command(flatten)]
    pub engine: crate::explore::engines::EngineArgs,
    #[command(flatten)]
    pub input: crate::cmd::input::TraceInput,
}

pub fn run(a: CheckArgs) -> anyhow::Result<i32> {
    if let Some(f) = &a.replay {
        let r = verdict::replay_file_with(f, &a.input.replay_opts(TraceInput::MAX_STEPS))
            .map_err(anyhow::Error::msg)?;
        print!("{}", r.text);
        if let Some(why) = r.mismatch {
            eprintln!(
                "ublksim: replay of {} does not end as the trace records: {why}",
                f.display()
            );
            return Ok(1);
        }
        if !r.has_outcome {
            println!("replay reproduces the recorded steps (a prefix: no outcome recorded)");
            return Ok(0);
        }
        println!("replay reproduces the recorded outcome");
        return Ok(0);
    }
    if a.input.prefix
        || a.input.max_steps.is_some()
        || a.input.max_trace_bytes != TraceInput::DEFAULT_MAX_BYTES
    {
        anyhow::bail!("--prefix, --max-steps and --max-trace-bytes apply only with --replay");
    }
    let preset = Preset::from_name(&a.preset).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown preset '{}' (known: PRE, POST, K72, K612)",
            a.preset
        )
    })?;
    let features = switch_set(preset, &a.with, &a.without)?;
    let scs = scenarios::select(&a.scenarios).map_err(anyhow::Error::msg)?;
    crate::cmd::input::prepare_out_dir(
        "--out",
        &a.out,
        a.out == std::path::Path::new("out/traces"),
        Some(a.parents),
    )?;
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
        return crate::explore::engines::run_check(&scs, &opts, e, a.json)
            .map_err(anyhow::Error::msg);
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
        let r = verdict::run_scenario(sc, &opts).map_err(anyhow::Error::msg)?;
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
        for r in results.iter().filter(|r| r.verdict == Verdict::Incomplete) {
            let why = r.stop_reason.as_deref().unwrap_or_default();
            println!("\n{} — INCOMPLETE: {why}", r.scenario);
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
                    verdict::print_trace_with(
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
