//! `ublksim check`: run the explorer on scenarios × a switch set, print the
//! verdict table, counterexamples, and save traces.

use crate::describe;
use crate::explore::{replay, Explorer, Order, Report, Stop};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use ublk_model::state::ActorId;
use ublk_model::{Features, Model, Preset, Scenario, Violation};
use ublk_traces::{Header, Outcome, Trace, TraceStep, ViolationRec};

/// Options shared by every scenario of one `check` run.
pub struct CheckOpts {
    pub preset: Preset,
    pub features: Features,
    pub order: Order,
    pub max_states: u64,
    pub max_time: Duration,
    pub out: Option<PathBuf>,
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
    /// The violation this kernel version is known to have (see `known.rs`).
    #[serde(rename = "KNOWN")]
    Known,
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
    /// For KNOWN (or a known finding that disappeared): the bug and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_file: Option<String>,
    #[serde(skip)]
    pub trace: Option<Trace>,
}

pub fn engine_name(o: Order) -> &'static str {
    match o {
        Order::Bfs => "explorer-bfs",
        Order::Dfs => "explorer-dfs",
    }
}

/// Build the trace of a path (and its violation) through `m`.
pub fn make_trace(
    m: &Model,
    preset: Preset,
    engine: &str,
    path: &[ActorId],
    v: Option<&Violation>,
) -> Trace {
    let (steps, _) = replay(m, path).expect("a path the explorer found replays");
    let last = path.last().copied();
    let steps = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let func = if s.func == "(violation)" {
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
        },
        steps,
        outcome: Some(Outcome {
            violation: v.map(|v| ViolationRec {
                invariant: v.inv,
                message: v.msg.clone(),
                actor: last
                    .map(|a| m.actors[a as usize].name.clone())
                    .unwrap_or_default(),
            }),
        }),
    }
}

pub fn run_scenario(sc: &Scenario, o: &CheckOpts) -> Result<ScenarioResult, String> {
    let m = Model::new(sc, o.features)?;
    let r: Report = Explorer::new(&m)
        .order(o.order)
        .max_states(o.max_states)
        .max_time(o.max_time)
        .run();
    let known = crate::known::lookup(&sc.name, o.preset, o.features == o.preset.features());
    let mut verdict = match r.stop {
        Stop::Exhausted => Verdict::Pass,
        Stop::Violation => Verdict::Fail,
        Stop::StateLimit | Stop::TimeLimit => Verdict::Incomplete,
    };
    let mut known_note = None;
    if let Some(k) = known {
        let hit = r
            .counterexample
            .as_ref()
            .is_some_and(|(_, v)| v.inv == k.inv);
        if hit {
            verdict = Verdict::Known;
            known_note = Some(format!("{} ({}): {}", k.bug, k.inv, k.reason));
        } else if verdict == Verdict::Pass {
            verdict = Verdict::Fail;
            known_note = Some(format!(
                "known finding {} ({}) was not found: fixed, or the model changed",
                k.bug, k.inv
            ));
        }
    }
    let stop_reason = match r.stop {
        Stop::StateLimit => Some(format!("state limit {} reached", o.max_states)),
        Stop::TimeLimit => Some(format!("time limit {:?} reached", o.max_time)),
        _ => None,
    };
    let mut res = ScenarioResult {
        scenario: sc.name.clone(),
        verdict,
        states: r.states,
        transitions: r.transitions,
        max_depth: r.max_depth,
        stuck_states: r.stuck,
        seconds: r.elapsed.as_secs_f64(),
        states_per_sec: r.states_per_sec(),
        stop_reason,
        violation: None,
        known: known_note,
        trace_file: None,
        trace: None,
    };
    if let Some((path, v)) = &r.counterexample {
        let t = make_trace(&m, o.preset, engine_name(o.order), path, Some(v));
        if let Some(dir) = &o.out {
            let f = dir.join(format!("{}-{}.jsonl", o.preset.name(), sc.name));
            t.write(&f).map_err(|e| e.to_string())?;
            res.trace_file = Some(f.display().to_string());
        }
        res.violation = Some(v.clone());
        res.trace = Some(t);
    }
    Ok(res)
}

/// Print a trace step by step with what each step changed.
pub fn print_trace(m: &Model, path: &[ActorId], v: Option<&Violation>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut s = m.init();
    for (i, &a) in path.iter().enumerate() {
        let before = s.clone();
        let name = &m.actors[a as usize].name;
        match m.apply(&mut s, a) {
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
    if let Some(v) = v {
        let _ = writeln!(out, "  expected violation not reproduced: {v}");
    }
    out
}

/// Re-execute a saved trace; Ok(report text) if it reproduces what it
/// records, Err(message) otherwise.
pub fn replay_file(path: &Path) -> Result<(String, bool), String> {
    let t = Trace::read(path).map_err(|e| e.to_string())?;
    let preset = Preset::from_name(&t.header.preset)
        .ok_or_else(|| format!("{}: unknown preset {}", path.display(), t.header.preset))?;
    let m = Model::new(&t.header.scenario, t.header.features)?;
    let actors: Vec<ActorId> = t.steps.iter().map(|s| s.actor_id).collect();
    let (steps, v) = replay(&m, &actors).map_err(|e| format!("{}: {e}", path.display()))?;
    for (i, (rec, got)) in t.steps.iter().zip(&steps).enumerate() {
        let want_func = if got.func == "(violation)" {
            rec.func.clone()
        } else {
            got.func.to_string()
        };
        if rec.func != want_func || rec.result != got.result {
            return Err(format!(
                "{}: step {i} diverges: trace has {} → {:?}, model does {} → {:?}",
                path.display(),
                rec.func,
                rec.result,
                got.func,
                got.result
            ));
        }
    }
    let want = t.outcome.as_ref().and_then(|o| o.violation.as_ref());
    let same = match (want, &v) {
        (Some(w), Some(g)) => w.invariant == g.inv && w.message == g.msg,
        (None, None) => true,
        _ => false,
    };
    let mut text = format!(
        "replay {} — scenario {}, preset {} {}\n",
        path.display(),
        t.header.scenario.name,
        preset.name(),
        t.header.switches.join(" ")
    );
    text.push_str(&print_trace(&m, &actors, None));
    Ok((text, same))
}
