//! `ublksim check`: run the explorer on scenarios × a switch set, print the
//! verdict table, counterexamples (safety violations and hangs), and save
//! traces.

use crate::explore::bfs::{replay_with, Explorer, Order, Progress, Stop};
use crate::explore::known::{self, What};
use crate::explore::liveness::{find_hangs, Hang, LiveNode};
use crate::explore::signature::Signature;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use ublk_model::Move;
use ublk_model::{Features, Func, Goal, Model, Preset, Prop, Scenario, Violation};
use ublk_traces::{HangRec, Header, Outcome, Trace, TraceStep, ViolationRec};

/// Options shared by every scenario of one `check` run.
pub struct CheckOpts {
    pub preset: Preset,
    pub features: Features,
    pub order: Order,
    pub max_states: u64,
    pub max_time: Duration,
    pub out: Option<PathBuf>,
    /// Look for hangs (L1–L5) on the explored graph as well.
    pub liveness: bool,
    /// Check the state invariants (S4–S6, S9) after every step.  Off, a bug
    /// that breaks one first can still be seen as the hang it leads to.
    pub safety: bool,
    /// Keep whole states in the visited set (no hash compaction).
    pub exact: bool,
    /// Stop a scenario when the process's resident set reaches this many bytes.
    pub max_memory: Option<u64>,
    /// Told the scenario's name and the explorer's progress now and then.
    pub progress: Option<ProgressFn>,
    /// Symmetry reduction ([`crate::explore::symmetry`]); safety only, so `liveness` must
    /// be off.
    pub symmetry: bool,
    /// Partial-order reduction ([`Explorer::partial_order`]); safety only, so `liveness`
    /// must be off.
    pub partial_order: bool,
}

/// A progress sink shared by the threads of a sweep.
pub type ProgressFn = std::sync::Arc<dyn Fn(&str, &Progress) + Send + Sync>;

impl CheckOpts {
    /// Defaults of `ublksim check` for a preset and switch set.
    pub fn new(preset: Preset, features: Features) -> Self {
        CheckOpts {
            preset,
            features,
            order: Order::Bfs,
            max_states: 5_000_000,
            max_time: Duration::from_secs(300),
            out: None,
            liveness: true,
            safety: true,
            exact: false,
            max_memory: None,
            progress: None,
            symmetry: false,
            partial_order: false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    /// A limit stopped exploration before the state space was exhausted.
    #[serde(rename = "INCOMPLETE")]
    Incomplete,
    /// The finding this kernel version is known to have (see `known.rs`).
    #[serde(rename = "KNOWN")]
    Known,
    /// The kernel cannot express the scenario (a device flag or server
    /// shape it does not have); the reason is in `stop_reason`.
    #[serde(rename = "n/a")]
    NotApplicable,
}

/// A hang as reported: which property, which obligation, the lasso's shape.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct HangSummary {
    pub property: Prop,
    pub obligation: String,
    pub stem_steps: usize,
    /// 0 for a dead end.
    pub cycle_steps: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub verdict: Verdict,
    pub states: u64,
    pub transitions: u64,
    pub max_depth: u32,
    pub stuck_states: u64,
    pub seconds: f64,
    pub states_per_sec: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation: Option<Violation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hang: Option<HangSummary>,
    /// For KNOWN (or a known finding that disappeared): the bug and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_file: Option<String>,
    #[serde(skip)]
    pub trace: Option<Trace>,
    /// Every distinct finding (signature), new ones and known ones; the fields above show
    /// the headline one (the first new finding, else the first known one).
    pub findings: Vec<Found>,
    /// Declared findings this scenario shows on this preset that it no longer shows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreached: Vec<String>,
    /// "Sometimes" goals the model reached in this scenario (every goal is looked for).
    #[serde(skip)]
    pub goals: Vec<Goal>,
    /// Goals the scenario declares ([`crate::scenarios::goals`]) that exploration never
    /// reached: a PASS here is vacuous — the race the scenario exists for did not happen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vacuous: Vec<String>,
}

impl ScenarioResult {
    /// The finding in one phrase for the table ("S4", "hang L3").
    pub fn finding(&self) -> Option<String> {
        if let Some(v) = &self.violation {
            return Some(v.inv.to_string());
        }
        self.hang.as_ref().map(|h| format!("hang {}", h.property))
    }
}

/// The preset and its switch differences as one word: `K72`, `K72+B-8`
/// (a seeded bug: its `fix-*` switch off), `POST-p02`, `K612+p02+p03`.
pub fn switch_label(preset: Preset, f: Features) -> String {
    let mut out = preset.name().to_string();
    for d in f.diff_from(preset.features()) {
        let (sign, name) = d.split_at(1);
        // a fix switched off is its bug seeded: `--with B-8` is `-fix-b8`
        let fix = name.starts_with("fix-");
        match ublk_model::Sw::from_name(name).and_then(|w| w.info().bug) {
            Some(bug) if sign == "-" && fix => out.push_str(&format!("+{bug}")),
            _ => out.push_str(&d),
        }
    }
    out
}

/// The file a counterexample of `scenario` is saved as: runs with different
/// switch sets never overwrite each other's traces.
pub fn trace_file_name(preset: Preset, f: Features, scenario: &str) -> String {
    format!("{}-{scenario}.jsonl", switch_label(preset, f))
}

pub fn engine_name(o: Order) -> &'static str {
    match o {
        Order::Bfs => "explorer-bfs",
        Order::Dfs => "explorer-dfs",
    }
}

/// How a trace ends.
pub enum Ending<'a> {
    Violation(&'a Violation),
    Hang(&'a Hang),
    Nothing,
}

/// Build the trace of a path through `m` and how it ends.
pub fn make_trace(m: &Model, preset: Preset, engine: &str, path: &[Move], end: Ending) -> Trace {
    make_trace_with(m, preset, engine, path, end, true)
}

/// As [`make_trace`]; `invariants`: whether the state invariants were checked.
pub fn make_trace_with(
    m: &Model,
    preset: Preset,
    engine: &str,
    path: &[Move],
    end: Ending,
    invariants: bool,
) -> Trace {
    let (steps, _) = replay_with(m, path, invariants).expect("a path the explorer found replays");
    let v = match end {
        Ending::Violation(v) => Some(v),
        _ => None,
    };
    let steps = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let func = if matches!(s.func, Func::Violation) {
                v.map(|v| v.func.clone()).unwrap_or_default()
            } else {
                s.func.to_string()
            };
            TraceStep {
                i: i as u32,
                actor: m.actors[s.actor as usize].name.clone(),
                actor_id: s.actor,
                choice: s.choice,
                func,
                result: s.result,
            }
        })
        .collect();
    let outcome = match end {
        Ending::Violation(v) => Outcome {
            violation: Some(ViolationRec {
                invariant: v.inv,
                message: v.msg.clone(),
                actor: path
                    .last()
                    .map(|a| m.actors[a.actor as usize].name.clone())
                    .unwrap_or_default(),
            }),
            hang: None,
        },
        Ending::Hang(h) => Outcome {
            violation: None,
            hang: Some(HangRec {
                property: h.prop,
                obligation: h.desc.clone(),
                cycle_start: (!h.is_dead_end()).then_some(h.stem.len() as u32),
            }),
        },
        Ending::Nothing => Outcome {
            violation: None,
            hang: None,
        },
    };
    Trace {
        header: Header {
            format: ublk_traces::FORMAT.into(),
            version: ublk_traces::VERSION,
            tool: format!("ublksim {}", env!("CARGO_PKG_VERSION")),
            preset: preset.name().into(),
            switches: m.feat.diff_from(preset.features()),
            features: m.feat,
            scenario: m.scenario.clone(),
            engine: engine.into(),
            state_invariants: invariants,
        },
        steps,
        outcome: Some(outcome),
    }
}

/// One distinct finding of a scenario: its signature, whether a kernel version is declared
/// to have it, and its shortest counterexample.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Found {
    pub signature: Signature,
    /// The declaration (`B-24 (S7): reason`) when the preset has this finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation: Option<Violation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hang: Option<HangSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_file: Option<String>,
    #[serde(skip)]
    pub trace: Option<Trace>,
}

impl Found {
    pub fn what(&self) -> What {
        match (&self.violation, &self.hang) {
            (Some(v), _) => What::Safety(v.inv),
            (None, Some(h)) => What::Hang(h.property),
            _ => unreachable!("a finding is a violation or a hang"),
        }
    }
}

pub fn run_scenario(sc: &Scenario, o: &CheckOpts) -> Result<ScenarioResult, String> {
    if let Some(why) = Model::unsupported(sc, o.features) {
        return Ok(not_applicable(sc, why));
    }
    let m = Model::new(sc, o.features)?;
    if o.symmetry && o.liveness {
        return Err("symmetry reduction is for the safety search: the liveness pass needs the whole state graph (use --no-liveness)".into());
    }
    if o.partial_order && o.liveness {
        return Err("partial-order reduction is for the safety search: the liveness pass needs the whole state graph (use --no-liveness)".into());
    }
    let report = |p: &Progress| {
        if let Some(f) = &o.progress {
            f(&sc.name, p)
        }
    };
    // every distinct violation, not only the first: a scenario with a known finding can
    // still show a new one
    let mut ex = Explorer::new(&m)
        .order(o.order)
        .max_states(o.max_states)
        .max_time(o.max_time)
        .state_invariants(o.safety)
        .all_violations(true)
        .sometimes(&Goal::ALL)
        .exact(o.exact)
        .symmetry(o.symmetry)
        .partial_order(o.partial_order)
        .max_memory(o.max_memory);
    if o.progress.is_some() {
        ex = ex.progress(50_000, &report);
    }
    let live = o.liveness && m.liveness_supported() && o.order == Order::Bfs;
    let (r, hangs) = if live {
        let (r, g) = ex.run_graph(|s| LiveNode::of(&m, s));
        let hangs = if r.stop == Stop::Exhausted {
            find_hangs(&m, &g)
        } else {
            Vec::new()
        };
        (r, hangs)
    } else {
        (ex.run(), Vec::new())
    };
    let engine = engine_name(o.order);
    let mut found = Vec::new();
    for (sig, path, v) in &r.violations {
        let t = make_trace_with(&m, o.preset, engine, path, Ending::Violation(v), o.safety);
        found.push(Found {
            known: known::declared(sig, What::Safety(v.inv), o.preset).map(|k| k.note()),
            signature: sig.clone(),
            violation: Some(v.clone()),
            hang: None,
            trace_file: None,
            trace: Some(t),
        });
    }
    for (sig, h) in &hangs {
        let path: Vec<Move> = h.stem.iter().chain(&h.cycle).copied().collect();
        let t = make_trace_with(&m, o.preset, engine, &path, Ending::Hang(h), o.safety);
        found.push(Found {
            known: known::declared(sig, What::Hang(h.prop), o.preset).map(|k| k.note()),
            signature: sig.clone(),
            violation: None,
            hang: Some(HangSummary {
                property: h.prop,
                obligation: h.desc.clone(),
                stem_steps: h.stem.len(),
                cycle_steps: h.cycle.len(),
            }),
            trace_file: None,
            trace: Some(t),
        });
    }
    let stop_reason = match r.stop {
        Stop::StateLimit => Some(format!("state limit {} reached", o.max_states)),
        Stop::TimeLimit => Some(format!("time limit {:?} reached", o.max_time)),
        Stop::MemoryLimit => Some(format!(
            "memory limit {} MiB reached",
            o.max_memory.unwrap_or_default() >> 20
        )),
        _ => None,
    };
    // a declaration for this scenario on this very preset that nothing found any more
    let unmodified = o.features == o.preset.features();
    let unreached = if unmodified && o.safety && stop_reason.is_none() {
        known::expected(&sc.name, o.preset)
            .filter(|k| live || k.what.is_safety())
            .filter(|k| !found.iter().any(|f| k.matches(&f.signature, f.what())))
            .map(|k| {
                format!(
                    "{} ({}) is no longer found here: fixed, or the model changed",
                    k.bug, k.what
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let goals: Vec<Goal> = r.discoveries.iter().map(|(g, _)| *g).collect();
    if let Some(dir) = &o.out {
        for (i, f) in found.iter_mut().enumerate() {
            let name = match i {
                0 => trace_file_name(o.preset, o.features, &sc.name),
                _ => trace_file_name(o.preset, o.features, &format!("{}-{}", sc.name, i + 1)),
            };
            let file = dir.join(name);
            f.trace
                .as_ref()
                .expect("a trace per finding")
                .write(&file)
                .map_err(|e| e.to_string())?;
            f.trace_file = Some(file.display().to_string());
        }
    }
    let verdict = if stop_reason.is_some() {
        Verdict::Incomplete
    } else if found.iter().any(|f| f.known.is_none()) {
        Verdict::Fail
    } else if !found.is_empty() {
        Verdict::Known
    } else {
        Verdict::Pass
    };
    // a PASS or KNOWN verdict can be vacuous (a new finding is its own evidence)
    let vacuous = crate::scenarios::goals::goals_for(&sc.name, &verdict)
        .iter()
        .filter(|g| !goals.contains(g))
        .map(|g| {
            format!(
                "{g} ({}) never happens: the scenario's race is not reached",
                g.describe()
            )
        })
        .collect();
    // the headline finding: the first new one, else the first known one
    let head = found
        .iter()
        .position(|f| f.known.is_none())
        .or((!found.is_empty()).then_some(0));
    let h = head.map(|i| &found[i]);
    Ok(ScenarioResult {
        scenario: sc.name.clone(),
        verdict,
        states: r.states,
        transitions: r.transitions,
        max_depth: r.max_depth,
        stuck_states: r.stuck,
        seconds: r.elapsed.as_secs_f64(),
        states_per_sec: r.states_per_sec(),
        stop_reason,
        violation: h.and_then(|f| f.violation.clone()),
        hang: h.and_then(|f| f.hang.clone()),
        known: h.and_then(|f| f.known.clone()),
        trace_file: h.and_then(|f| f.trace_file.clone()),
        trace: h.and_then(|f| f.trace.clone()),
        findings: found,
        unreached,
        goals,
        vacuous,
    })
}

/// The result for a scenario the kernel cannot express.
fn not_applicable(sc: &Scenario, why: String) -> ScenarioResult {
    ScenarioResult {
        scenario: sc.name.clone(),
        verdict: Verdict::NotApplicable,
        states: 0,
        transitions: 0,
        max_depth: 0,
        stuck_states: 0,
        seconds: 0.0,
        states_per_sec: 0.0,
        stop_reason: Some(why),
        violation: None,
        hang: None,
        known: None,
        trace_file: None,
        trace: None,
        findings: Vec::new(),
        unreached: Vec::new(),
        goals: Vec::new(),
        vacuous: Vec::new(),
    }
}

pub use crate::explore::replay::*;
