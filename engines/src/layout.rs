//! Which actors of a scenario become engine threads, and whether they fit the
//! engine: a search of the model finds the actors that ever step and which of
//! them are enabled together, and a minimum colouring of that graph groups
//! actors that never compete into one thread (see the `step` module doc for
//! why that keeps the engine's schedules equal to the actor interleavings).

use crate::step::{Engine, LOOM_MAX_THREADS};
use std::collections::{BTreeSet, HashSet, VecDeque};
use ublk_model::state::ActorId;
use ublk_model::Model;

/// The threads of a scenario: the actors that step in some reachable state
/// (violations are not expanded but count), one per thread if they fit
/// [`LOOM_MAX_THREADS`], else grouped into the fewest threads such that no
/// two actors of a thread are enabled in the same reachable state (if that
/// fits; otherwise one per thread again, and loom cannot run it).  Every
/// actor, one per thread, if `limit` states do not suffice for the search.
pub fn layout(m: &Model, limit: usize) -> Vec<Vec<ActorId>> {
    let n = m.actors.len();
    let init = m.init();
    let mut seen = HashSet::from([init.clone()]);
    let mut work = VecDeque::from([init]);
    let mut active = BTreeSet::new();
    // together[a][b]: a and b are enabled in one reachable state
    let mut together = vec![vec![false; n]; n];
    while let Some(s) = work.pop_front() {
        if seen.len() > limit {
            return (0..n as ActorId).map(|a| vec![a]).collect();
        }
        let succ = m.successors(&s);
        for (i, (x, _)) in succ.iter().enumerate() {
            active.insert(x.actor);
            for (y, _) in &succ[..i] {
                together[x.actor as usize][y.actor as usize] = true;
                together[y.actor as usize][x.actor as usize] = true;
            }
        }
        for (_, next) in succ {
            if let Ok(n) = next {
                if seen.insert(n.clone()) {
                    work.push_back(n);
                }
            }
        }
    }
    let active: Vec<ActorId> = active.into_iter().collect();
    if active.len() > LOOM_MAX_THREADS {
        for k in 1..=LOOM_MAX_THREADS {
            let mut colour = vec![usize::MAX; active.len()];
            if colourable(&active, &together, k, 0, &mut colour) {
                let mut groups = vec![Vec::new(); k];
                for (a, c) in active.iter().zip(colour) {
                    groups[c].push(*a);
                }
                return groups;
            }
        }
    }
    active.into_iter().map(|a| vec![a]).collect()
}

/// Colour `v[i..]` with at most `k` colours, no two actors enabled together
/// sharing one (backtracking; a fresh colour is only ever the next unused
/// one).  The fewest threads: fewer threads mean far fewer schedules (with
/// every actor of the scenario still free to move whenever it is enabled),
/// though a merged thread loses the free context switch an actor's
/// blocking gives, so the same states may need a higher preemption bound.
fn colourable(v: &[ActorId], t: &[Vec<bool>], k: usize, i: usize, c: &mut [usize]) -> bool {
    if i == v.len() {
        return true;
    }
    let used = c[..i].iter().copied().max().map_or(0, |m| m + 1);
    for col in 0..k.min(used + 1) {
        let clash = (0..i).any(|j| c[j] == col && t[v[i] as usize][v[j] as usize]);
        if !clash {
            c[i] = col;
            if colourable(v, t, k, i + 1, c) {
                return true;
            }
        }
    }
    c[i] = usize::MAX;
    false
}

/// The threads as actor names, `+` joining actors that share a thread.
pub fn describe(m: &Model, threads: &[Vec<ActorId>]) -> String {
    threads
        .iter()
        .map(|g| {
            g.iter()
                .map(|a| m.actors[*a as usize].name.as_str())
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a scenario does not fit an engine, if it does not.
pub fn fits(m: &Model, engine: &Engine, threads: &[Vec<ActorId>]) -> Result<(), String> {
    if threads.is_empty() {
        return Err("no actor can move".into());
    }
    if matches!(engine, Engine::Loom { .. }) && threads.len() > LOOM_MAX_THREADS {
        return Err(format!(
            "{} active actors ({}), no grouping into {LOOM_MAX_THREADS} threads of actors never \
             enabled together; loom runs at most {LOOM_MAX_THREADS} threads",
            threads.len(),
            describe(m, threads)
        ));
    }
    Ok(())
}
