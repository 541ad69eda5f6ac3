//! The shortest *sequential* form of a finding.
//!
//! The explorer's shortest counterexample may need a kernel context to run at a point user
//! space cannot hold it (a ring exit's cancel after START_DEV, a quiesce work after
//! START_USER_RECOVERY): then the trace's own order of user actions, run with the kernel
//! settled between actions, does not show the finding, and `confirm` could only call it "not
//! expressible". Often the same bug — the same root-cause signature — is reachable by another
//! order in which the kernel finishes its work between actions, the way a real program on an
//! idle machine runs (O-10: the new daemon of queue 0 closes its ring, the ring's exit runs to
//! its end, *then* the read). [`shortest_order`] searches for such an order breadth-first over
//! the oracle's sequential semantics ([`oracle::act`]: one user action, then the kernel
//! settled), so the first order found is a shortest one, and the same inputs give the same
//! order.

use crate::conform::compile::{compile_with, ModelProgram};
use crate::conform::oracle::{self, Chooser, Observed};
use crate::explore::bfs::fingerprint;
use crate::explore::signature::Signature;
use std::collections::{HashSet, VecDeque};
use ublk_model::state::ActorId;
use ublk_model::{Features, Kind, Model, Move, Outcome, Scenario, State, Violation};

/// Bounds of one search: actions per order and sequential states kept.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_actions: usize,
    pub max_states: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_actions: 16,
            max_states: 200_000,
        }
    }
}

/// What a search ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Searched {
    /// A shortest order of user actions whose sequential run breaks the wanted signature.
    Found(Vec<ActorId>),
    /// No order within the limits: `complete` when every sequential state was seen (no order
    /// of any length shows it), else the limits cut the search.
    NotFound { states: usize, complete: bool },
}

/// The user actors a program may name: not the kernel's contexts, and not those the program
/// compiler cannot express (an elevator switch).
fn movers(m: &Model) -> Vec<ActorId> {
    (0..m.actors.len() as ActorId)
        .filter(|&a| !oracle::is_kernel_actor(m, a))
        .filter(|&a| !matches!(m.actors[a as usize].kind, Kind::Elevator))
        .collect()
}

/// The signature of the violation that the sequential run of `order` ends with, as `check`
/// computes it (the state before the violating step, from the run's own steps).
pub fn signature_of(sc: &Scenario, feat: Features, order: &[ActorId]) -> Option<Signature> {
    let mp = ModelProgram {
        id: String::new(),
        scenario: sc.clone(),
        order: order.to_vec(),
    };
    let (c, _) = compile_with(&mp, feat, &[]).ok()?;
    let v = c.prediction.violation.as_ref()?;
    let m = oracle::oracle_model(sc, feat).ok()?;
    let mut before = m.init();
    for st in &c.steps {
        let mv = Move {
            actor: st.actor_id,
            choice: st.choice,
        };
        match m.apply(&mut before, mv) {
            Ok(Outcome::Stepped(_)) => {}
            _ => return None,
        }
    }
    Some(Signature::of_violation(&m, &before, 0, v))
}

/// A shortest order of user actions of `sc` whose sequential run breaks a safety property
/// with signature `want` (`Signature`'s display form). `Err`: the scenario cannot be run on a
/// real device at all (the compiler's reason).
pub fn shortest_order(
    sc: &Scenario,
    feat: Features,
    want: &str,
    limits: Limits,
) -> Result<Searched, String> {
    // what the compiler refuses for every order (two queues of a partition scan, an elevator
    // device, fault injection, strands) is refused before searching
    compile_with(
        &ModelProgram {
            id: String::new(),
            scenario: sc.clone(),
            order: vec![],
        },
        feat,
        &[],
    )?;
    let m = oracle::oracle_model(sc, feat)?;
    let movers = movers(&m);
    let mut ch = Chooser::default();
    let Ok(s0) = oracle::start(&m, &mut ch) else {
        return Ok(Searched::NotFound {
            states: 0,
            complete: true,
        });
    };
    let key = |s: &State, ch: &Chooser| (fingerprint(s), ch.shadow_key());
    let mut seen = HashSet::from([key(&s0, &ch)]);
    let mut queue: VecDeque<(State, Chooser, Vec<ActorId>)> = VecDeque::from([(s0, ch, vec![])]);
    let mut cut = false;
    while let Some((s, ch, order)) = queue.pop_front() {
        if order.len() >= limits.max_actions {
            cut = true;
            continue;
        }
        for &a in &movers {
            let (mut s2, mut ch2) = (s.clone(), ch.clone());
            let Ok((p, v)) = oracle::act(&m, &mut s2, &mut ch2, order.len(), a) else {
                continue;
            };
            let mut o = order.clone();
            o.push(a);
            if let Some(v) = v {
                if matches_want(sc, feat, &o, &v, want) {
                    return Ok(Searched::Found(o));
                }
                continue; // another violation: its run ends there
            }
            if p.observed == Observed::Blocks {
                continue; // a waiter that never returns: nothing changed
            }
            if seen.len() >= limits.max_states {
                cut = true;
                continue;
            }
            if seen.insert(key(&s2, &ch2)) {
                queue.push_back((s2, ch2, o));
            }
        }
    }
    Ok(Searched::NotFound {
        states: seen.len(),
        complete: !cut,
    })
}

fn matches_want(sc: &Scenario, feat: Features, o: &[ActorId], v: &Violation, want: &str) -> bool {
    // the invariant first: the signature needs a compile and a replay
    want.starts_with(&v.inv.to_string())
        && signature_of(sc, feat, o).is_some_and(|sig| sig.to_string() == want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::confirm::{self, Plan};
    use ublk_model::Preset;

    /// The first finding of `two-queues-recovery-ring-close` on K72 (the S7 of O-10's story,
    /// a NULL `io->cmd` in `ublk_queue_cmd` during the recovery): its shortest counterexample
    /// needs the old ring's exit to run after START_DEV (not a sequential order), but the
    /// same signature is reachable with the kernel settled between actions — the new daemon
    /// of queue 0 FETCHes and closes its ring, then the read (`realdev twoq close`'s story).
    #[test]
    fn a_recovery_s7_has_a_sequential_order_with_its_signature() {
        let fs = confirm::collect(Preset::K72, &["two-queues-recovery-ring-close".into()]).unwrap();
        let f = &fs[0];
        assert_eq!(f.what, "S7");
        assert!(
            confirm::orders(&f.trace)
                .unwrap()
                .into_iter()
                .all(|(_, o)| oracle::predict(
                    &oracle::oracle_model(&f.trace.header.scenario, f.trace.header.features)
                        .unwrap(),
                    &o
                )
                .unwrap()
                .violation
                .is_none()),
            "the trace's own orders show nothing (else this test shows nothing new)"
        );
        let sc = &f.trace.header.scenario;
        let feat = f.trace.header.features;
        let found = shortest_order(sc, feat, &f.signature, Limits::default()).unwrap();
        let Searched::Found(order) = found.clone() else {
            panic!("{found:?}");
        };
        assert_eq!(
            signature_of(sc, feat, &order).unwrap().to_string(),
            f.signature
        );
        // breadth-first: no shorter order shows it; the same inputs give the same order
        let shorter = Limits {
            max_actions: order.len() - 1,
            ..Limits::default()
        };
        assert!(matches!(
            shortest_order(sc, feat, &f.signature, shorter).unwrap(),
            Searched::NotFound {
                complete: false,
                ..
            }
        ));
        assert_eq!(
            shortest_order(sc, feat, &f.signature, Limits::default()).unwrap(),
            found
        );
        match confirm::plan(f) {
            Plan::Program { order, .. } => {
                assert_eq!(order, "shortest sequential order of the same signature")
            }
            Plan::NotExpressible(e) => panic!("{e}"),
        }
    }

    /// A signature that needs the server gone *and* the read racing the release work has no
    /// sequential order: the search sees every sequential state and says so.
    #[test]
    fn a_race_only_signature_is_not_found_and_the_search_is_complete() {
        let fs = confirm::collect(Preset::K72, &["two-queues-recovery-ring-close".into()]).unwrap();
        let f = fs
            .iter()
            .find(|f| f.what == "S5" && f.signature.contains("canceling"))
            .unwrap();
        let r = shortest_order(
            &f.trace.header.scenario,
            f.trace.header.features,
            &f.signature,
            Limits::default(),
        )
        .unwrap();
        assert!(
            matches!(r, Searched::NotFound { complete: true, states } if states > 100),
            "{r:?}"
        );
    }
}
