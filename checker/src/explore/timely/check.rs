//! `ublksim check --engine timely`: the safety part of `check` on the timely explorer, with
//! worker threads (`-w`) and processes (`-n`, `-p`, `--hostfile`/`--port`). Every process
//! runs the same command with its own `-p`; process 0 prints the report, the others print
//! nothing and exit 0 when the run ends.
//!
//! What it leaves out (plain `check` has it): liveness (L1–L5 need the state graph), every
//! distinct violation (it stops at the first, as `Explorer` without `all_violations`),
//! goals and vacuity, the sweep, `--exact`, `--dfs` and `--max-memory`.

use super::{explore, Cluster, Limits, TimelyReport};
use crate::explore::bfs::Stop;
use crate::explore::known::What;
use crate::explore::verdict::{make_trace_with, switch_label, CheckOpts, Ending};
use serde::Serialize;
use std::path::PathBuf;
use ublk_model::{Model, Scenario};

/// Options of `check --engine timely`.
#[derive(clap::Args, Clone, Debug)]
pub struct TimelyArgs {
    /// timely: worker threads in this process.
    #[arg(long = "workers", short = 'w', default_value_t = 1)]
    pub workers: usize,
    /// timely: processes in the run (each started with its own -p).
    #[arg(long = "processes", short = 'n', default_value_t = 1)]
    pub processes: usize,
    /// timely: this process, 0 to -n minus 1 (process 0 prints the report).
    #[arg(long = "process", short = 'p', default_value_t = 0)]
    pub process: usize,
    /// timely: a file of host:port lines, one per process in order (default: localhost,
    /// ports from --port up).
    #[arg(long)]
    pub hostfile: Option<PathBuf>,
    /// timely: the first localhost port when there is no --hostfile.
    #[arg(long, default_value_t = 2101)]
    pub port: u16,
}

impl TimelyArgs {
    pub fn cluster(&self) -> Result<Cluster, String> {
        Cluster::new(
            self.workers,
            self.processes,
            self.process,
            self.hostfile.as_deref(),
            self.port,
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TimelyResult {
    pub scenario: String,
    /// PASS, FAIL, KNOWN, INCOMPLETE or n/a.
    pub verdict: String,
    pub finding: Option<String>,
    pub states: u64,
    pub transitions: u64,
    pub max_depth: u32,
    pub dead_ends: u64,
    pub seconds: f64,
    pub states_per_sec: f64,
    pub workers: usize,
    pub states_per_worker: Vec<u64>,
    pub steps: Option<usize>,
    pub trace_file: Option<String>,
    pub note: Option<String>,
}

/// Run every scenario; the exit code as `check`'s (1: a failure, 3: a limit stopped one).
pub fn run_check(
    scs: &[Scenario],
    o: &CheckOpts,
    a: &TimelyArgs,
    json: bool,
) -> Result<i32, String> {
    let cluster = a.cluster()?;
    let me = cluster.process == 0;
    let limits = Limits {
        max_states: o.max_states,
        max_time: o.max_time,
        invariants: o.safety,
    };
    if me && !json {
        println!(
            "ublksim check --engine timely — preset {} {}; {} worker(s): {} thread(s) × {} process(es); safety only (no liveness)",
            o.preset.name(),
            o.features.diff_from(o.preset.features()).join(" "),
            cluster.total_workers(),
            cluster.workers,
            cluster.processes
        );
        println!(
            "{:<34} {:<10} {:>10} {:>12} {:>6} {:>8} {:>10}",
            "scenario", "verdict", "states", "transitions", "depth", "time", "states/s"
        );
    }
    let mut results = Vec::new();
    for sc in scs {
        let mut res = TimelyResult {
            scenario: sc.name.clone(),
            verdict: "n/a".into(),
            finding: None,
            states: 0,
            transitions: 0,
            max_depth: 0,
            dead_ends: 0,
            seconds: 0.0,
            states_per_sec: 0.0,
            workers: cluster.total_workers(),
            states_per_worker: Vec::new(),
            steps: None,
            trace_file: None,
            note: None,
        };
        if let Some(why) = Model::unsupported(sc, o.features) {
            res.note = Some(why.to_string());
            results.push(res);
            continue;
        }
        let m = Model::new(sc, o.features)?;
        let Some(r) = explore(&m, &cluster, limits)? else {
            continue; // not process 0: it reports nothing
        };
        judge(&mut res, &m, o, &r)?;
        if !json {
            println!(
                "{:<34} {:<10} {:>10} {:>12} {:>6} {:>7.2}s {:>10.0}",
                res.scenario,
                format!(
                    "{} {}",
                    res.verdict,
                    res.finding.clone().unwrap_or_default()
                )
                .trim(),
                res.states,
                res.transitions,
                res.max_depth,
                res.seconds,
                res.states_per_sec
            );
        }
        results.push(res);
    }
    if !me {
        return Ok(0);
    }
    if json {
        let report = serde_json::json!({
            "engine": "timely",
            "preset": o.preset.name(),
            "switches": o.features.diff_from(o.preset.features()),
            "workers": cluster.total_workers(),
            "threads": cluster.workers,
            "processes": cluster.processes,
            "results": results,
        });
        crate::cmd::report::print("check", report).map_err(|e| e.to_string())?;
    } else {
        for r in &results {
            if let Some(n) = &r.note {
                println!("\n{} — {}: {n}", r.scenario, r.verdict);
            }
            if let (Some(f), Some(n)) = (&r.trace_file, r.steps) {
                println!(
                    "\n{} — {} {} in {n} steps (a shortest path, rebuilt across workers)\n  trace saved: {f}  (replay: ublksim check --replay {f})",
                    r.scenario,
                    r.verdict,
                    r.finding.clone().unwrap_or_default()
                );
            }
        }
    }
    let bad = results.iter().any(|r| r.verdict == "FAIL");
    let cut = results.iter().any(|r| r.verdict == "INCOMPLETE");
    Ok(if bad {
        1
    } else if cut {
        3
    } else {
        0
    })
}

/// The verdict of one run, and its trace saved when it found a violation.
fn judge(res: &mut TimelyResult, m: &Model, o: &CheckOpts, r: &TimelyReport) -> Result<(), String> {
    res.states = r.states;
    res.transitions = r.transitions;
    res.max_depth = r.max_depth;
    res.dead_ends = r.stuck;
    res.seconds = r.elapsed.as_secs_f64();
    res.states_per_sec = r.states_per_sec();
    res.states_per_worker = r.per_worker.clone();
    let known =
        crate::explore::known::lookup(&res.scenario, o.preset).filter(|k| k.what.is_safety());
    res.verdict = match (&r.counterexample, &r.stop) {
        (Some((path, v)), _) => {
            res.finding = Some(v.inv.to_string());
            res.steps = Some(path.len());
            let t = make_trace_with(m, o.preset, "timely", path, Ending::Violation(v), o.safety);
            if let Some(dir) = &o.out {
                let f = dir.join(format!(
                    "{}-{}-timely.jsonl",
                    switch_label(o.preset, o.features),
                    res.scenario
                ));
                t.write(&f).map_err(|e| e.to_string())?;
                res.trace_file = Some(f.display().to_string());
            }
            if known.is_some_and(|k| k.what == What::Safety(v.inv)) {
                "KNOWN".into()
            } else {
                "FAIL".into()
            }
        }
        (None, Stop::Exhausted) => "PASS".into(),
        (None, stop) => {
            res.note = Some(format!(
                "{stop:?} after {} states: not a complete run (the state limit is per worker)",
                r.states
            ));
            "INCOMPLETE".into()
        }
    };
    Ok(())
}
