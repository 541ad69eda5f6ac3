//! Printing and re-executing a trace: a counterexample step by step (`print_trace`), and
//! `check --replay` / `explain` / `view`'s verification that a saved trace is exactly what
//! the model does (`verify`, `replay_file`).

use crate::explore::bfs::fingerprint;
use crate::explore::describe;
use crate::explore::liveness::Hang;
use std::path::Path;
use ublk_model::state::ActorId;
use ublk_model::Move;
use ublk_model::{Model, Preset, Violation};
use ublk_traces::{HangRec, Outcome, Trace};

/// Print a trace step by step with what each step changed; a lasso's cycle
/// (from `cycle_start`) is marked.
pub fn print_trace(m: &Model, path: &[Move], cycle_start: Option<usize>) -> String {
    print_trace_with(m, path, cycle_start, true)
}

/// As [`print_trace`]; `invariants`: check the state invariants after each
/// step, as the run that found the trace did (`--liveness-only` does not, and
/// its trace must print as it was explored).
pub fn print_trace_with(
    m: &Model,
    path: &[Move],
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
        let name = &m.actors[a.actor as usize].name;
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
    let path: Vec<Move> = h.stem.iter().chain(&h.cycle).copied().collect();
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
    pub path: Vec<Move>,
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
    let mut m = Model::new(&t.header.scenario, t.header.features)?;
    // a sequential (conformance) trace follows the kernel's choice of driver tag, which
    // may be any free tag even where a server thread serves two tags (see
    // `conform::oracle::oracle_model`)
    m.any_tag |= t.header.engine == "sequential";
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
        let mv = rec.mv();
        if mv.choice >= m.choices(&s, a) {
            return Err(format!(
                "step {}: {} has no alternative {} here",
                i + 1,
                def.name,
                mv.choice
            ));
        }
        path.push(mv);
        let r = if inv {
            m.apply(&mut s, mv)
        } else {
            m.step(&mut s, mv)
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
fn hang_mismatch(m: &Model, path: &[Move], h: &HangRec, invariants: bool) -> Option<String> {
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
    let strong: Vec<ActorId> = (0..m.actors.len() as ActorId)
        .filter(|&a| m.strongly_fair(a))
        .collect();
    let mut sometimes = vec![false; strong.len()];
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
            for (k, &f) in strong.iter().enumerate() {
                sometimes[k] |= enabled(&s, f);
            }
            taken[a.actor as usize] = true;
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
            if let Some(k) = (0..strong.len()).find(|&k| sometimes[k] && !taken[strong[k] as usize])
            {
                return Some(format!(
                    "the cycle is not fair: {} can move again and again but never does",
                    m.actors[strong[k] as usize].name
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
