//! Shrinking a simulated counterexample until a person can read it.
//!
//! 1. Fewer actors: drop fault injectors, submitters, offload threads and
//!    recovery servers one at a time, keeping the change if the same
//!    invariant still breaks (replaying the schedule by actor name, skipping
//!    steps that cannot happen any more).
//! 2. Shorter schedule: delta debugging on the steps (halves, quarters, …,
//!    single steps).
//! 3. Shortest: if the reduced scenario is small enough, breadth-first
//!    exploration finds the shortest path to the same invariant.

use crate::explore::bfs::{Explorer, Stop};
use std::time::Duration;
use ublk_model::Move;
use ublk_model::{ActorSpec, Bio, Features, Inv, Model, Outcome, Scenario, Violation};

/// A counterexample: scenario, schedule, and what it breaks.
#[derive(Clone, Debug)]
pub struct Cex {
    pub scenario: Scenario,
    pub path: Vec<Move>,
    pub violation: Violation,
}

/// Replay `path` on `m`, skipping steps that are blocked; Some(effective
/// path, violation) if it breaks `inv`.
fn replay_skip(m: &Model, path: &[Move], inv: Inv) -> Option<(Vec<Move>, Violation)> {
    let mut s = m.init();
    let mut eff = Vec::new();
    for &a in path {
        if a.actor as usize >= m.actors.len() || !m.may_step(&s, a.actor) {
            continue;
        }
        match m.apply(&mut s, a) {
            Ok(Outcome::Blocked) => {}
            Ok(Outcome::Stepped(_)) => eff.push(a),
            Err(v) => {
                eff.push(a);
                return (v.inv == inv).then_some((eff, v));
            }
        }
    }
    None
}

/// Translate a path between two models by actor name.
fn remap(from: &Model, to: &Model, path: &[Move]) -> Vec<Move> {
    path.iter()
        .filter_map(|&a| {
            let name = &from.actors[a.actor as usize].name;
            let actor = to.actor_id(name)?;
            Some(Move { actor, ..a })
        })
        .collect()
}

/// Smaller variants of a scenario: one actor removed, or a submitter's
/// endless workload cut to one bio.
pub(crate) fn variants(sc: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    for (i, a) in sc.actors.iter().enumerate() {
        // the control task and the daemons carry the scenario; the rest may go
        let essential = matches!(a, ActorSpec::Control { .. }) || is_daemon(a);
        let removable = !essential;
        if removable {
            let mut v = sc.clone();
            v.actors.remove(i);
            out.push(v);
        }
        if let ActorSpec::Submitter { q, bios } = a {
            for b in [Bio::Read, Bio::Write] {
                if bios.len() > 1 {
                    let mut v = sc.clone();
                    v.actors[i] = ActorSpec::Submitter {
                        q: *q,
                        bios: vec![b],
                    };
                    out.push(v);
                }
            }
        }
    }
    out
}

/// A server thread (or a strand of one) that FETCHes (a daemon, not an offload thread).
fn is_daemon(a: &ActorSpec) -> bool {
    matches!(a, ActorSpec::Server { prog, .. } | ActorSpec::Strand { prog, .. }
        if prog.iter().any(|op| matches!(op, ublk_model::Op::Fetch { .. })))
}

/// Shrink `c` under `feat`.
pub fn shrink(c: &Cex, feat: Features) -> Cex {
    let inv = c.violation.inv;
    let mut best = c.clone();
    // 1. fewer actors
    let mut changed = true;
    while changed {
        changed = false;
        let from = Model::new(&best.scenario, feat).expect("scenario compiles");
        for v in variants(&best.scenario) {
            let Ok(to) = Model::new(&v, feat) else {
                continue;
            };
            if let Some((path, viol)) = replay_skip(&to, &remap(&from, &to, &best.path), inv) {
                best = Cex {
                    scenario: v,
                    path,
                    violation: viol,
                };
                changed = true;
                break;
            }
        }
    }
    // 2. shorter schedule
    let m = Model::new(&best.scenario, feat).expect("scenario compiles");
    let mut chunk = best.path.len().div_ceil(2);
    while chunk >= 1 {
        let mut i = 0;
        while i < best.path.len() {
            let mut cand = best.path.clone();
            cand.drain(i..(i + chunk).min(cand.len()));
            match replay_skip(&m, &cand, inv) {
                Some((path, v)) if path.len() < best.path.len() => {
                    best.path = path;
                    best.violation = v;
                }
                _ => i += chunk,
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    // 3. shortest, when the reduced scenario is small enough to explore
    let r = Explorer::new(&m)
        .max_states(400_000)
        .max_time(Duration::from_secs(20))
        .run();
    if r.stop == Stop::Violation {
        if let Some((path, v)) = r.counterexample {
            if v.inv == inv && path.len() <= best.path.len() {
                best.path = path;
                best.violation = v;
            }
        }
    }
    best
}
