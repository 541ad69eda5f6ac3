//! Hangs the simulator runs into: an episode that ended (nothing could move) or was cut
//! (no I/O completed for a long stretch, only kernel contexts moving, too long) while an
//! obligation L1–L5 was open is a *candidate*. Exploring every state reachable from where it
//! ended decides it:
//! * a reachable dead end or fair cycle keeping an obligation open — a **hang**, confirmed,
//!   with a lasso from the initial state (the episode, then the explorer's stem and cycle);
//! * the exploration exhausts the neighbourhood without one — **not a hang**: every open
//!   obligation can still be discharged under the fairness rules (the cut was the
//!   scheduler's luck, e.g. a fault weight that starved the actor that would have moved);
//! * the neighbourhood is larger than the budget — **unconfirmed**, said as such.
//!
//! A confirmed hang is then shrunk like a violation: fewer actors while a full exploration
//! of the smaller scenario still shows a hang with the same signature, whose shortest lasso
//! replaces the episode's.

use crate::explore::bfs::{Explorer, Stop};
use crate::explore::liveness::{find_hangs, Hang, LiveNode};
use crate::explore::shrink::variants;
use crate::explore::signature::Signature;
use std::time::Duration;
use ublk_model::Move;
use ublk_model::{Features, Model, Scenario};

/// States explored from a candidate before it is called unconfirmed.
pub const BUDGET: u64 = 300_000;

/// What exploring from a candidate's end state says.
#[derive(Clone, Debug)]
pub enum Confirmation {
    Hang(Signature, Hang),
    /// Exhausted without a hang: `states` explored.
    NotAHang {
        states: u64,
    },
    /// The budget ran out first.
    Unconfirmed {
        states: u64,
    },
}

/// Explore from the end of `path` (every state reachable from there) and look for hangs.
/// `invariants`: check the state invariants, as the run that found the candidate did.
pub fn confirm(
    m: &Model,
    path: &[Move],
    budget: u64,
    invariants: bool,
) -> Result<Confirmation, String> {
    let ex = Explorer::new(m)
        .state_invariants(invariants)
        .from_path(path)?
        .max_states(budget)
        .max_time(Duration::from_secs(60))
        .all_violations(true);
    let (r, g) = ex.run_graph(|s| LiveNode::of(m, s));
    if r.stop != Stop::Exhausted {
        // unexpanded frontier states would look like dead ends
        return Ok(Confirmation::Unconfirmed { states: r.states });
    }
    Ok(match find_hangs(m, &g).into_iter().next() {
        Some((sig, h)) => Confirmation::Hang(sig, h),
        None => Confirmation::NotAHang { states: r.states },
    })
}

/// The hangs of a whole scenario (explored from its initial state), if it fits the budget.
fn hangs_of(m: &Model, budget: u64, invariants: bool) -> Option<Vec<(Signature, Hang)>> {
    let ex = Explorer::new(m)
        .state_invariants(invariants)
        .max_states(budget)
        .max_time(Duration::from_secs(30))
        .all_violations(true);
    let (r, g) = ex.run_graph(|s| LiveNode::of(m, s));
    (r.stop == Stop::Exhausted).then(|| find_hangs(m, &g))
}

/// Shrink a confirmed hang: drop actors while the smaller scenario, explored whole, still has
/// a hang with signature `sig`; the result is that scenario and its shortest such hang. If
/// not even the original scenario can be explored whole, the episode's lasso stays.
pub fn shrink_hang(
    sc: &Scenario,
    feat: Features,
    sig: &Signature,
    h: &Hang,
    invariants: bool,
) -> (Scenario, Hang) {
    let same = |m: &Model| -> Option<Hang> {
        hangs_of(m, BUDGET, invariants)?
            .into_iter()
            .find(|(k, _)| k == sig)
            .map(|(_, h)| h)
    };
    let mut best: (Scenario, Hang) = (sc.clone(), h.clone());
    if let Ok(m) = Model::new(sc, feat) {
        if let Some(h) = same(&m) {
            best.1 = h;
        }
    }
    let mut changed = true;
    while changed {
        changed = false;
        for v in variants(&best.0) {
            let Ok(m) = Model::new(&v, feat) else {
                continue;
            };
            if let Some(h) = same(&m) {
                best = (v, h);
                changed = true;
                break;
            }
        }
    }
    best
}
