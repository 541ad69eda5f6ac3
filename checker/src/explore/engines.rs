//! `ublksim check --engine loom|shuttle-random|shuttle-pct|shuttle-dfs` and
//! `ublksim agree`: the step model under loom and shuttle (crate
//! `ublk-engines`), verdicts in `check`'s terms, failures as traces that
//! `check --replay` re-executes, and the cross-engine agreement table.
//!
//! loom and shuttle check safety (every invariant, at every step) and count
//! terminal states where a declared actor had not finished (dead ends);
//! lassos (L1–L5 on cycles) need the state graph and stay with the explorer.

use crate::explore::bfs::{Explorer, Stop};
use crate::explore::known::What;
use crate::explore::projection::{project, Projected};
use crate::explore::verdict::{make_trace, CheckOpts, Ending};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;
use ublk_engines::step::{self, Engine, Summarize};
use ublk_model::{Model, Scenario};

/// The engines of `check --engine`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Explorer,
    Loom,
    ShuttleRandom,
    ShuttlePct,
    ShuttleDfs,
    /// The breadth-first explorer on timely dataflow: worker threads (-w) and processes
    /// (-n, -p); safety and state counts only (no liveness).
    Timely,
}

/// Engine options of `check`.
#[derive(clap::Args, Clone, Debug)]
pub struct EngineArgs {
    /// explorer | loom | shuttle-random | shuttle-pct | shuttle-dfs | timely (safety only:
    /// no liveness, stops at the first violation; -w threads, -n processes, -p this one).
    #[arg(long, value_enum, default_value = "explorer")]
    pub engine: EngineKind,
    /// loom and shuttle-dfs: preemption bound (0: unbounded — exponential, see the README).
    #[arg(long, default_value_t = 2)]
    pub preemption_bound: usize,
    /// loom: maximum branches of one execution.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_branches: u64,
    /// shuttle-random / shuttle-pct: executions.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub iterations: u64,
    /// shuttle-dfs: stop after this many executions (0: none — exhaust the preemption bound).
    #[arg(long, default_value_t = 0)]
    pub dfs_iterations: usize,
    /// shuttle-pct: bug depth (4 finds K72's stale-pointer-window S1 in ~1,200 runs; 3 does not in 20,000).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub pct_depth: u64,
    /// shuttle-random / shuttle-pct: the seed (same seed, same schedules).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub timely: crate::explore::timely::check::TimelyArgs,
}

impl EngineArgs {
    /// The engine, or None for the explorer.
    pub fn engine(&self) -> Result<Option<Engine>, String> {
        Ok(Some(match self.engine {
            EngineKind::Explorer => return Ok(None),
            EngineKind::Timely => {
                return Err("the timely engine runs through check's own path".into())
            }
            EngineKind::Loom => Engine::Loom {
                preemption_bound: (self.preemption_bound > 0).then_some(self.preemption_bound),
                max_branches: self.max_branches as usize,
                max_executions: None,
            },
            EngineKind::ShuttleRandom => Engine::ShuttleRandom {
                iterations: self.iterations as usize,
                seed: self.seed,
            },
            EngineKind::ShuttlePct => Engine::ShuttlePct {
                iterations: self.iterations as usize,
                depth: self.pct_depth as usize,
                seed: self.seed,
            },
            EngineKind::ShuttleDfs => Engine::ShuttleDfs {
                preemption_bound: (self.preemption_bound > 0).then_some(self.preemption_bound),
                max_iterations: (self.dfs_iterations > 0).then_some(self.dfs_iterations),
            },
        }))
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub enum EVerdict {
    PASS,
    FAIL,
    KNOWN,
    /// The scenario does not fit the engine (reason given).
    SKIP,
    /// The engine stopped on a limit or an error of its own.
    ERROR,
    /// `--max-seconds` or `--max-states` (executions here) stopped the run
    /// before the engine was done (the note names the limit).
    INCOMPLETE,
}

#[derive(Clone, Debug, Serialize)]
pub struct EngineResult {
    pub scenario: String,
    pub engine: String,
    pub verdict: EVerdict,
    /// The invariant broken, if any.
    pub finding: Option<String>,
    pub executions: u64,
    pub threads: usize,
    /// The actors of each thread (`a+b`: never enabled together, one thread).
    pub layout: String,
    pub dead_ends: u64,
    pub seconds: f64,
    pub executions_per_sec: f64,
    pub note: Option<String>,
    pub trace_file: Option<String>,
    #[serde(skip)]
    pub path: Option<Vec<u8>>,
}

/// Run one scenario under `engine`; `states`: collect projected states.
pub fn run_engine(
    sc: &Scenario,
    o: &CheckOpts,
    engine: Engine,
    states: bool,
) -> Result<(EngineResult, BTreeSet<Projected>), String> {
    let m = Model::new(sc, o.features)?;
    let threads = step::layout(&m, 200_000);
    let mut res = EngineResult {
        scenario: sc.name.clone(),
        engine: engine.name().into(),
        verdict: EVerdict::SKIP,
        finding: None,
        executions: 0,
        threads: threads.len(),
        layout: step::describe(&m, &threads),
        dead_ends: 0,
        seconds: 0.0,
        executions_per_sec: 0.0,
        note: None,
        trace_file: None,
        path: None,
    };
    if let Err(why) = step::fits(&m, &engine, &threads) {
        res.note = Some(why);
        return Ok((res, BTreeSet::new()));
    }
    let summarize: Summarize<Projected> = if states {
        Some(Arc::new(|m: &Model, s: &ublk_model::State| project(m, s)))
    } else {
        None
    };
    let limits = step::RunLimits {
        max_time: Some(o.max_time),
        max_executions: Some(o.max_states),
    };
    let r = step::run_limited(&m, engine, threads, o.safety, summarize, limits);
    res.executions = r.executions;
    res.dead_ends = r.stuck;
    res.seconds = r.elapsed.as_secs_f64();
    res.executions_per_sec = r.executions as f64 / res.seconds.max(1e-9);
    let known = crate::explore::known::lookup(&sc.name, o.preset).filter(|k| k.what.is_safety());
    res.verdict = match (&r.failure, &r.error) {
        (Some((path, v)), _) => {
            res.finding = Some(v.inv.to_string());
            res.path = Some(path.clone());
            let path: Vec<ublk_model::Move> = path.iter().map(|&a| a.into()).collect();
            let t = make_trace(&m, o.preset, engine.name(), &path, Ending::Violation(v));
            if let Some(dir) = &o.out {
                let f = dir.join(format!(
                    "{}-{}-{}.jsonl",
                    crate::explore::verdict::switch_label(o.preset, o.features),
                    sc.name,
                    engine.name()
                ));
                t.write(&f).map_err(|e| e.to_string())?;
                res.trace_file = Some(f.display().to_string());
            }
            if known.is_some_and(|k| k.what == What::Safety(v.inv)) {
                EVerdict::KNOWN
            } else {
                EVerdict::FAIL
            }
        }
        (None, Some(e)) => {
            res.note = Some(e.clone());
            EVerdict::ERROR
        }
        (None, None) if r.limit.is_some() => {
            res.note = Some(format!(
                "{} after {} executions: not a complete run",
                r.limit.clone().unwrap_or_default(),
                r.executions
            ));
            EVerdict::INCOMPLETE
        }
        (None, None) => match known {
            Some(k) if o.features == o.preset.features() && exhaustive(&engine) => {
                res.note = Some(format!(
                    "known finding {} ({}) was not found",
                    k.bug, k.what
                ));
                EVerdict::FAIL
            }
            Some(k) if o.features == o.preset.features() => {
                res.note = Some(format!(
                    "known finding {} ({}) not reached in {} executions (a bounded search: not evidence of a fix)",
                    k.bug, k.what, r.executions
                ));
                EVerdict::PASS
            }
            _ => EVerdict::PASS,
        },
    };
    Ok((res, r.states))
}

/// Whether a run of `e` covers every interleaving (no bound, no sampling).
pub fn exhaustive(e: &Engine) -> bool {
    matches!(
        e,
        Engine::Loom {
            preemption_bound: None,
            ..
        } | Engine::ShuttleDfs {
            preemption_bound: None,
            max_iterations: None
        }
    )
}

/// `check --engine E`: the table (or JSON), failing traces; exit code.
pub fn run_check(
    scs: &[Scenario],
    o: &CheckOpts,
    engine: Engine,
    json: bool,
) -> Result<i32, String> {
    let sw = o.features.diff_from(o.preset.features()).join(" ");
    if !json {
        println!(
            "ublksim check --engine {} — preset {} {sw}",
            engine.name(),
            o.preset.name()
        );
        println!(
            "{:<34} {:<9} {:>7} {:>11} {:>9} {:>8} {:>10}",
            "scenario", "verdict", "threads", "executions", "dead-ends", "time", "exec/s"
        );
    }
    let mut results = Vec::new();
    for sc in scs {
        let (r, _) = run_engine(sc, o, engine, false)?;
        if !json {
            let v = format!("{:?} {}", r.verdict, r.finding.clone().unwrap_or_default());
            println!(
                "{:<34} {:<9} {:>7} {:>11} {:>9} {:>7.2}s {:>10.0}",
                r.scenario,
                v.trim(),
                r.threads,
                r.executions,
                r.dead_ends,
                r.seconds,
                r.executions_per_sec
            );
        }
        results.push(r);
    }
    if !json {
        for (r, sc) in results.iter().zip(scs) {
            if let Some(n) = &r.note {
                println!("\n{} — {:?}: {n}", r.scenario, r.verdict);
            }
            if let Some(path) = &r.path {
                let m = Model::new(sc, o.features)?;
                println!(
                    "\n{} — {:?} {} in {} steps ({}):",
                    r.scenario,
                    r.verdict,
                    r.finding.clone().unwrap_or_default(),
                    path.len(),
                    r.engine
                );
                let path: Vec<ublk_model::Move> = path.iter().map(|&a| a.into()).collect();
                print!("{}", crate::explore::verdict::print_trace(&m, &path, None));
                if let Some(f) = &r.trace_file {
                    println!("  trace saved: {f}  (replay: ublksim check --replay {f})");
                }
            }
        }
    } else {
        let report = serde_json::json!({
            "engine": engine.name(),
            "preset": o.preset.name(),
            "switches": o.features.diff_from(o.preset.features()),
            "results": results,
        });
        crate::cmd::report::print("check", report).map_err(|e| e.to_string())?;
    }
    // 1: a failure; 3: nothing failed, but a limit stopped a run (INCOMPLETE)
    let bad = results
        .iter()
        .any(|r| matches!(r.verdict, EVerdict::FAIL | EVerdict::ERROR));
    let cut = results.iter().any(|r| r.verdict == EVerdict::INCOMPLETE);
    Ok(if bad {
        1
    } else if cut {
        3
    } else {
        0
    })
}

/// One row of `ublksim agree`.
#[derive(Clone, Debug, Serialize)]
pub struct AgreeRow {
    pub scenario: String,
    /// The preemption bound loom and shuttle-dfs used (None: unbounded).
    pub preemption_bound: Option<usize>,
    pub threads: usize,
    pub explorer: String,
    pub explorer_states: u64,
    pub projected: usize,
    pub loom: String,
    pub loom_executions: u64,
    pub loom_projected: usize,
    pub shuttle_dfs: String,
    pub shuttle_executions: u64,
    pub shuttle_projected: usize,
    pub agree: bool,
    /// Explorer, loom, shuttle-dfs.
    pub seconds: [f64; 3],
    /// Explorer states/s, loom and shuttle-dfs executions/s.
    pub per_second: [f64; 3],
}

fn verdict_of(v: &EVerdict, f: &Option<String>) -> String {
    match f {
        Some(f) => format!("{v:?} {f}"),
        None => format!("{v:?}"),
    }
}

/// Explorer, loom and shuttle-dfs on one *small* configuration: verdicts
/// and, for passing runs, the projected state sets, which must be equal
/// (loom and shuttle-dfs under the same preemption bound: `bound` when
/// every actor has a thread of its own, `merged_bound` when some share one
/// — a shared thread loses the free switch an actor's blocking gives, so
/// the same states need more preemptions).  A configuration is small when
/// the explorer exhausts it within `max_states` states and its active
/// actors fit loom's threads ([`step::layout`]) and loom exhausts it within
/// `max_loom` executions; None when it is not.
pub fn agree_one(
    sc: &Scenario,
    o: &CheckOpts,
    (max_states, max_loom): (u64, Option<usize>),
    (bound, merged_bound): (Option<usize>, Option<usize>),
    dfs_iterations: Option<usize>,
) -> Result<Option<AgreeRow>, String> {
    let m = Model::new(sc, o.features)?;
    let merged = step::layout(&m, 200_000).iter().any(|g| g.len() > 1);
    let bound = if merged { merged_bound } else { bound };
    let t0 = Instant::now();
    // loom and shuttle take a step's first alternative only (`Model::choices`): the
    // schedules are what they explore, so the explorer is held to the same
    let ex = Explorer::new(&m)
        .max_states(max_states)
        .state_invariants(o.safety)
        .alternatives(false);
    let (r, g) = ex.run_graph(|s| project(&m, s));
    let t_ex = t0.elapsed().as_secs_f64();
    let ex_v = match (&r.stop, &r.counterexample) {
        (Stop::Exhausted, _) => "PASS".to_string(),
        (Stop::Violation, Some((_, v))) => format!("FAIL {}", v.inv),
        _ => return Ok(None),
    };
    let ex_states: BTreeSet<Projected> = g.nodes.into_iter().collect();
    let loom = Engine::Loom {
        preemption_bound: bound,
        max_branches: 100_000,
        max_executions: max_loom,
    };
    let (lr, ls) = run_engine(sc, o, loom, true)?;
    if lr.verdict == EVerdict::SKIP {
        return Ok(None);
    }
    if lr.verdict == EVerdict::PASS && max_loom.is_some_and(|n| lr.executions + 1 >= n as u64) {
        eprintln!(
            "note: {} is not small: loom did not exhaust it within {} executions",
            sc.name, lr.executions
        );
        return Ok(None);
    }
    let dfs = Engine::ShuttleDfs {
        preemption_bound: bound,
        max_iterations: dfs_iterations,
    };
    let (sr, ss) = run_engine(sc, o, dfs, true)?;
    let norm = |v: &EVerdict, f: &Option<String>| match v {
        EVerdict::KNOWN | EVerdict::FAIL if f.is_some() => format!("FAIL {}", f.clone().unwrap()),
        EVerdict::FAIL => "PASS".into(), // a known finding not found: the same as a pass here
        v => format!("{v:?}"),
    };
    let (lv, sv) = (
        norm(&lr.verdict, &lr.finding),
        norm(&sr.verdict, &sr.finding),
    );
    // both must reach exactly the explorer's projected states
    let same_sets = ex_v != "PASS" || (ls == ex_states && ss == ex_states);
    Ok(Some(AgreeRow {
        scenario: sc.name.clone(),
        preemption_bound: bound,
        threads: lr.threads,
        explorer: ex_v.clone(),
        explorer_states: r.states,
        projected: ex_states.len(),
        loom: verdict_of(&lr.verdict, &lr.finding),
        loom_executions: lr.executions,
        loom_projected: ls.len(),
        shuttle_dfs: verdict_of(&sr.verdict, &sr.finding),
        shuttle_executions: sr.executions,
        shuttle_projected: ss.len(),
        agree: lv == ex_v && sv == ex_v && same_sets,
        seconds: [t_ex, lr.seconds, sr.seconds],
        per_second: [
            r.states as f64 / t_ex.max(1e-9),
            lr.executions_per_sec,
            sr.executions_per_sec,
        ],
    }))
}
