//! `ublksim check`: run the explorer on scenarios × a switch set, print the
//! verdict table, counterexamples (safety violations and hangs), and save
//! traces.

use crate::explore::bfs::{fingerprint, replay_with, Explorer, Order, Stop};
use crate::explore::describe;
use crate::explore::known::{self, What};
use crate::explore::liveness::{find_hangs, Hang, LiveNode};
use crate::explore::signature::Signature;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use ublk_model::state::ActorId;
use ublk_model::{Features, Func, Model, Preset, Prop, Scenario, Violation};
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
}

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
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
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
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
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
pub fn make_trace(m: &Model, preset: Preset, engine: &str, path: &[ActorId], end: Ending) -> Trace {
    make_trace_with(m, preset, engine, path, end, true)
}

/// As [`make_trace`]; `invariants`: whether the state invariants were checked.
pub fn make_trace_with(
    m: &Model,
    preset: Preset,
    engine: &str,
    path: &[ActorId],
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
                    .map(|a| m.actors[*a as usize].name.clone())
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
#[derive(Clone, Debug, Serialize)]
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
    // every distinct violation, not only the first: a scenario with a known finding can
    // still show a new one
    let ex = Explorer::new(&m)
        .order(o.order)
        .max_states(o.max_states)
        .max_time(o.max_time)
        .state_invariants(o.safety)
        .all_violations(true);
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
        let path: Vec<ActorId> = h.stem.iter().chain(&h.cycle).copied().collect();
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
    }
}

/// Print a trace step by step with what each step changed; a lasso's cycle
/// (from `cycle_start`) is marked.
pub fn print_trace(m: &Model, path: &[ActorId], cycle_start: Option<usize>) -> String {
    print_trace_with(m, path, cycle_start, true)
}

/// As [`print_trace`]; `invariants`: check the state invariants after each
/// step, as the run that found the trace did (`--liveness-only` does not, and
/// its trace must print as it was explored).
pub fn print_trace_with(
    m: &Model,
    path: &[ActorId],
    cycle_start: Option<usize>,
    invariants: bool,
) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut s = m.init();
    for (i, &a) in path.iter().enumerate() {
        if cycle_start == Some(i) {
            let _ = writeln!(
                out,
                "       ── cycle: the following steps repeat forever ──"
            );
        }
        let before = s.clone();
        let name = &m.actors[a as usize].name;
        let step = if invariants {
            m.apply(&mut s, a)
        } else {
            m.step(&mut s, a)
        };
        match step {
            Ok(ublk_model::Outcome::Stepped(info)) => {
                let res = info.result.map(|r| format!("  → {r}")).unwrap_or_default();
                let _ = writeln!(out, "  {:>3}. {:<22} {}{}", i + 1, name, info.func, res);
                for c in describe::diff(m, &before, &s) {
                    let _ = writeln!(out, "         {c}");
                }
            }
            Ok(ublk_model::Outcome::Blocked) => {
                let _ = writeln!(
                    out,
                    "  {:>3}. {name}: (cannot move — trace does not fit the model)",
                    i + 1
                );
                break;
            }
            Err(e) => {
                let f = if e.func.is_empty() {
                    String::new()
                } else {
                    format!("{} ", e.func)
                };
                let _ = writeln!(
                    out,
                    "  {:>3}. {:<22} {f}✗ VIOLATION {}: {}",
                    i + 1,
                    name,
                    e.inv,
                    e.msg
                );
                let _ = writeln!(out, "         {} — {}", e.inv, e.inv.describe());
                return out;
            }
        }
    }
    out
}

/// Print a hang: the lasso (or the path to the dead end) and what stays open.
pub fn print_hang(m: &Model, h: &Hang) -> String {
    let path: Vec<ActorId> = h.stem.iter().chain(&h.cycle).copied().collect();
    let cycle = (!h.is_dead_end()).then_some(h.stem.len());
    let mut out = print_trace(m, &path, cycle);
    let shape = if h.is_dead_end() {
        "dead end: no actor can move"
    } else {
        "the cycle is fair and repeats forever"
    };
    out.push_str(&format!(
        "  ⟳ HANG {} ({}): {}; {shape}\n",
        h.prop,
        h.prop.describe(),
        h.desc
    ));
    out
}

/// What a replay accepts beyond a complete trace.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayOpts {
    /// Accept a trace without an outcome line as a prefix (its steps are
    /// still checked one by one).
    pub prefix: bool,
    pub limits: ublk_traces::Limits,
}

/// A trace checked against the model: the model it runs on and its path.
pub struct Verified {
    pub model: Model,
    pub preset: Preset,
    pub path: Vec<ActorId>,
    /// Why the recorded outcome is not what re-executing the steps gives
    /// (None: reproduced).
    pub mismatch: Option<String>,
}

/// Re-execute a whole trace on the model and compare everything it records.
///
/// Err (the trace does not fit the model — an input error): an unknown
/// preset or a scenario the model refuses; a step whose actor id is out of
/// range, whose actor name, kernel function or result differs from what the
/// model does, or whose actor cannot move; a step after the violation; no
/// outcome line (unless `prefix`).  `mismatch` (the steps fit, the ending
/// does not): the violation (invariant, message, actor) is not the one
/// re-execution breaks, or there is none; a hang's cycle does not return to
/// its start state, is not fair, or does not keep the recorded obligation
/// (with the recorded property) open; a dead end where some fair actor can
/// still move.
pub fn verify(t: &Trace, prefix: bool) -> Result<Verified, String> {
    let preset = Preset::from_name(&t.header.preset)
        .ok_or_else(|| format!("unknown preset {}", t.header.preset))?;
    let m = Model::new(&t.header.scenario, t.header.features)?;
    let inv = t.header.state_invariants;
    let outcome = match &t.outcome {
        Some(o) => o.clone(),
        None if prefix => Outcome {
            violation: None,
            hang: None,
        },
        None => {
            return Err(format!(
                "the trace has no outcome line after its {} steps: it was cut short \
                 (--prefix replays it as a prefix)",
                t.steps.len()
            ))
        }
    };
    let mut s = m.init();
    let mut path = Vec::with_capacity(t.steps.len());
    let mut got: Option<Violation> = None;
    for (i, rec) in t.steps.iter().enumerate() {
        if got.is_some() {
            return Err(format!(
                "step {}: the trace goes on after the violation at step {i}",
                i + 1
            ));
        }
        let a = rec.actor_id;
        let Some(def) = m.actors.get(a as usize) else {
            return Err(format!(
                "step {}: actor_id {a}, but the scenario has {} actors",
                i + 1,
                m.actors.len()
            ));
        };
        if def.name != rec.actor {
            return Err(format!(
                "step {}: actor_id {a} is {}, the trace says {}",
                i + 1,
                def.name,
                rec.actor
            ));
        }
        path.push(a);
        let r = if inv {
            m.apply(&mut s, a)
        } else {
            m.step(&mut s, a)
        };
        match r {
            Ok(ublk_model::Outcome::Stepped(info)) => {
                if rec.func != info.func.label() || rec.result != info.result {
                    return Err(format!(
                        "step {} diverges: trace has {} → {:?}, model does {} → {:?}",
                        i + 1,
                        rec.func,
                        rec.result,
                        info.func,
                        info.result
                    ));
                }
            }
            Ok(ublk_model::Outcome::Blocked) => {
                return Err(format!(
                    "step {}: actor {} cannot move here",
                    i + 1,
                    def.name
                ))
            }
            Err(v) => {
                if rec.func != v.func || rec.result.is_some() {
                    return Err(format!(
                        "step {} diverges: trace has {} → {:?}, model breaks {} in {:?}",
                        i + 1,
                        rec.func,
                        rec.result,
                        v.inv,
                        v.func
                    ));
                }
                got = Some(v);
            }
        }
    }
    let last_actor = t.steps.last().map(|r| r.actor.as_str()).unwrap_or("");
    let mismatch = match (&outcome.violation, &got, &outcome.hang) {
        (Some(w), Some(g), _) => {
            if w.invariant != g.inv || w.message != g.msg {
                Some(format!(
                    "the trace records {}: {}, re-execution breaks {}: {}",
                    w.invariant, w.message, g.inv, g.msg
                ))
            } else if w.actor != last_actor {
                Some(format!(
                    "the violation names actor {}, the last step is {last_actor}'s",
                    w.actor
                ))
            } else {
                None
            }
        }
        (Some(w), None, _) => Some(format!(
            "the trace records {} but re-executing it breaks nothing",
            w.invariant
        )),
        (None, Some(g), _) => Some(format!(
            "re-execution breaks {} ({}) where the trace records {}",
            g.inv,
            g.msg,
            if outcome.hang.is_some() {
                "a hang"
            } else {
                "no violation"
            }
        )),
        (None, None, Some(h)) => hang_mismatch(&m, &path, h, inv),
        (None, None, None) => None,
    };
    Ok(Verified {
        model: m,
        preset,
        path,
        mismatch,
    })
}

/// Re-execute a saved trace; Ok((report, reproduced)) or Err(why it cannot).
/// See [`verify`] for what is compared.
pub fn replay_file(path: &Path) -> Result<(String, bool), String> {
    let r = replay_file_with(path, &ReplayOpts::default())?;
    Ok((r.text, r.mismatch.is_none()))
}

/// A replayed trace file.
pub struct Replayed {
    /// The steps as printed, with what each changed.
    pub text: String,
    /// Why the recorded outcome is not reproduced (None: it is).
    pub mismatch: Option<String>,
    /// The trace records an outcome (false only with [`ReplayOpts::prefix`]).
    pub has_outcome: bool,
}

/// As [`replay_file`]: the report and why the outcome is not reproduced.
pub fn replay_file_with(path: &Path, o: &ReplayOpts) -> Result<Replayed, String> {
    let t = Trace::read_limited(path, &o.limits).map_err(|e| e.to_string())?;
    let v = verify(&t, o.prefix).map_err(|e| format!("{}: {e}", path.display()))?;
    let outcome = t.outcome.clone().unwrap_or(Outcome {
        violation: None,
        hang: None,
    });
    let mut text = format!(
        "replay {} — scenario {}, preset {} {}\n",
        path.display(),
        t.header.scenario.name,
        v.preset.name(),
        t.header.switches.join(" ")
    );
    text.push_str(&print_trace_with(
        &v.model,
        &v.path,
        outcome
            .hang
            .as_ref()
            .and_then(|h| h.cycle_start.map(|c| c as usize)),
        t.header.state_invariants,
    ));
    if let Some(h) = &outcome.hang {
        text.push_str(&format!("  ⟳ HANG {}: {}\n", h.property, h.obligation));
    }
    Ok(Replayed {
        text,
        mismatch: v.mismatch,
        has_outcome: t.outcome.is_some(),
    })
}

/// Why the recorded hang is not what `path` does (None: it is).  A lasso
/// must return to the state its cycle starts in, keep the recorded
/// obligation open (with the recorded property) in every state of the
/// cycle, and be fair: a weakly fair actor enabled in every state of the
/// cycle takes a step in it.  A dead end must leave no weakly fair actor
/// able to move, with the recorded obligation open.
fn hang_mismatch(m: &Model, path: &[ActorId], h: &HangRec, invariants: bool) -> Option<String> {
    let fair: Vec<ActorId> = (0..m.actors.len() as ActorId)
        .filter(|&a| m.weakly_fair(a))
        .collect();
    let enabled = |s: &ublk_model::State, a: ActorId| {
        !matches!(m.step(&mut s.clone(), a), Ok(ublk_model::Outcome::Blocked))
    };
    let matching = |s: &ublk_model::State| -> Vec<ublk_model::Obligation> {
        m.obligations(s)
            .iter()
            .filter(|&o| m.describe_obligation(o) == h.obligation && m.prop_of(s, o) == h.property)
            .collect()
    };
    let mut s = m.init();
    let start = h.cycle_start.map(|c| c as usize);
    let mut at_cycle = None;
    let mut held: Vec<ublk_model::Obligation> = Vec::new();
    let mut always = vec![true; fair.len()];
    let mut taken = vec![false; m.actors.len()];
    for (i, &a) in path.iter().enumerate() {
        if start == Some(i) {
            at_cycle = Some(fingerprint(&s));
            held = matching(&s);
        }
        if start.is_some_and(|c| i >= c) {
            let o = m.obligations(&s);
            held.retain(|x| o.has(*x));
            for (k, &f) in fair.iter().enumerate() {
                always[k] &= enabled(&s, f);
            }
            taken[a as usize] = true;
        }
        let r = if invariants {
            m.apply(&mut s, a)
        } else {
            m.step(&mut s, a)
        };
        if r.is_err() {
            return Some(format!(
                "step {} breaks an invariant inside the hang",
                i + 1
            ));
        }
    }
    match start {
        Some(c) => {
            if at_cycle != Some(fingerprint(&s)) {
                return Some(format!(
                    "the cycle does not return to the state before step {}: not a lasso",
                    c + 1
                ));
            }
            if held.is_empty() {
                return Some(format!(
                    "{} '{}' is not open throughout the cycle",
                    h.property, h.obligation
                ));
            }
            if let Some(k) = (0..fair.len()).find(|&k| always[k] && !taken[fair[k] as usize]) {
                return Some(format!(
                    "the cycle is not fair: {} can always move but never does",
                    m.actors[fair[k] as usize].name
                ));
            }
            None
        }
        None => {
            if let Some(&a) = fair.iter().find(|&&a| enabled(&s, a)) {
                return Some(format!(
                    "not a dead end: {} can still move",
                    m.actors[a as usize].name
                ));
            }
            if matching(&s).is_empty() {
                return Some(format!(
                    "{} '{}' is not open at the dead end",
                    h.property, h.obligation
                ));
            }
            None
        }
    }
}
