//! # ublk-sim: deterministic simulation of the ublk model
//!
//! One seed drives every choice: which actor moves next (weighted: faults
//! are rare events against ordinary work), and — in swarm mode — which
//! faults a run enables.  The same seed, configuration and step budget give
//! the same run, byte for byte (ChaCha8 is portable across platforms and
//! `rand` versions, unlike `SmallRng`).  Each *episode* runs from the
//! initial state until nothing can move (or a cap), then starts again; the
//! first invariant violation ends the run with the episode's path.

pub mod coverage;
pub mod faults;
pub mod workload;

use coverage::Coverage;
use faults::{Fault, FaultSet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use ublk_model::config::CtrlOp;
use ublk_model::properties::Before;
use ublk_model::state::ActorId;
use ublk_model::{Kind, Model, Move, Outcome, State, Violation};
use workload::BASE_WEIGHT;

/// Options of one run.
#[derive(Clone, Debug)]
pub struct RunOpts {
    pub seed: u64,
    pub steps: u64,
    /// An episode longer than this is cut (a livelock or an endless
    /// fault-free stretch) and a new one starts.
    pub episode_cap: u64,
    /// An episode in which no block I/O completed for this many steps is
    /// cut: it is stuck (e.g. a dropped completion, an exited server that
    /// still holds the device) or only busy-looping.
    pub stall_cap: u64,
    /// An episode in which only kernel contexts moved for this many steps
    /// (e.g. a ring exit retrying a cancel forever) is cut.
    pub kernel_only_cap: u64,
    /// Call `progress` every this many steps (0: never).
    pub progress_every: u64,
    /// Check the state invariants after every step (S4–S6, S9). Off, a bug that breaks one
    /// first runs on into the hang it leads to (the checks inside steps still apply).
    pub invariants: bool,
    /// Count each step under the event faults fired before it in its episode
    /// ([`Coverage::under_fault`], `sim --coverage-svg`); off by default (a second map
    /// update per step).
    pub fault_matrix: bool,
}

impl Default for RunOpts {
    fn default() -> Self {
        RunOpts {
            seed: 1,
            steps: 100_000,
            episode_cap: 1_000_000,
            stall_cap: 20_000,
            kernel_only_cap: 2_000,
            progress_every: 0,
            invariants: true,
            fault_matrix: false,
        }
    }
}

/// Counters shown while a run goes on and at its end.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub steps: u64,
    pub episodes: u64,
    pub requests_completed: u64,
    pub faults_injected: u64,
    pub episodes_cut: u64,
    /// Cut episodes by reason: no block I/O completed for `stall_cap` steps; only kernel
    /// contexts moved for `kernel_only_cap` steps; longer than `episode_cap`.
    pub cut_stalled: u64,
    pub cut_kernel_only: u64,
    pub cut_long: u64,
    /// Episodes that ended with nothing able to move while an obligation (L1–L5) was open.
    pub dead_ends_open: u64,
}

/// Why an episode ended with an obligation still open: a hang candidate, to be confirmed
/// (or explained) by exploring the state it ended in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum EpisodeEnd {
    /// Nothing could move.
    DeadEnd,
    /// No block I/O completed for `stall_cap` steps.
    Stalled,
    /// Only kernel contexts moved for `kernel_only_cap` steps.
    KernelOnly,
    /// Longer than `episode_cap`.
    Long,
}

/// An episode that ended with an open obligation: its path from the initial state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HangCandidate {
    pub end: EpisodeEnd,
    pub path: Vec<Move>,
}

/// Candidates kept per run: the first of each (end, open obligation kinds).
pub const MAX_CANDIDATES: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimReport {
    pub seed: u64,
    pub progress: Progress,
    pub coverage: Coverage,
    /// The failing episode's path (actor per step) and its violation.
    pub violation: Option<(Vec<Move>, Violation)>,
    /// Episodes that ended with an obligation open, the first of each kind.
    pub hang_candidates: Vec<HangCandidate>,
}

/// Scheduling weight of actor `a` in state `s`: faults carry their own
/// weight, STOP_DEV is the `stop` fault, everything else is ordinary work.
pub fn weight(m: &Model, faults: &FaultSet, s: &State, a: ActorId) -> u32 {
    match &m.actors[a as usize].kind {
        Kind::Killer => faults
            .weight(Fault::Kill)
            .max(faults.weight(Fault::Recovery)),
        Kind::RingCloseFault { .. } => faults.weight(Fault::RingExit),
        Kind::ThreadDeathFault { .. } => faults.weight(Fault::OffloadDeath),
        Kind::Elevator => faults.weight(Fault::Elevator),
        Kind::Control { prog } => match prog.get(s.actors[a as usize].next_op as usize) {
            Some(CtrlOp::StopDev) => faults.weight(Fault::Stop).max(1),
            _ => BASE_WEIGHT,
        },
        _ => BASE_WEIGHT,
    }
}

/// An actor that stands for user space (or an injected event), as opposed
/// to the kernel's own contexts.
fn is_user(m: &Model, a: ActorId) -> bool {
    !m.actors[a as usize].kind.is_kernel()
}

/// Which event fault a fault step is (the heat map's column); a SIGKILL is `kill`, also
/// when `recovery` brings a new server after it.
fn which_fault(m: &Model, a: ActorId) -> Fault {
    match &m.actors[a as usize].kind {
        Kind::Killer => Fault::Kill,
        Kind::RingCloseFault { .. } => Fault::RingExit,
        Kind::ThreadDeathFault { .. } => Fault::OffloadDeath,
        Kind::Elevator => Fault::Elevator,
        _ => Fault::Stop,
    }
}

fn is_fault(m: &Model, a: ActorId, s: &State) -> bool {
    match &m.actors[a as usize].kind {
        Kind::Killer
        | Kind::RingCloseFault { .. }
        | Kind::ThreadDeathFault { .. }
        | Kind::Elevator => true,
        Kind::Control { prog } => {
            prog.get(s.actors[a as usize].next_op as usize) == Some(&CtrlOp::StopDev)
        }
        _ => false,
    }
}

/// Run `m` under the seeded weighted scheduler.
pub fn simulate(
    m: &Model,
    faults: &FaultSet,
    o: &RunOpts,
    mut progress: impl FnMut(&Progress),
) -> SimReport {
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let n = m.actors.len();
    let mut p = Progress::default();
    let mut cov = Coverage::default();
    let mut cand: Vec<ActorId> = Vec::with_capacity(n);
    let mut w: Vec<u32> = Vec::with_capacity(n);
    let mut cands: Vec<HangCandidate> = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    let mut candidate = |end: EpisodeEnd, s: &State, path: &[Move]| {
        let obl = m.obligations(s);
        if obl.is_empty() || cands.len() >= MAX_CANDIDATES {
            return;
        }
        let k: Vec<_> = obl.iter().map(|o| std::mem::discriminant(&o)).collect();
        if kinds.insert((end, format!("{k:?}"))) {
            cands.push(HangCandidate {
                end,
                path: path.to_vec(),
            });
        }
    };
    while p.steps < o.steps {
        p.episodes += 1;
        let mut s = m.init();
        let mut path: Vec<Move> = Vec::new();
        let mut before = Before::default();
        let mut last_completion = 0u64;
        let mut last_user = 0u64;
        // event faults fired so far in this episode (bits of coverage::event_bit)
        let mut fired = 0u8;
        loop {
            if p.steps >= o.steps {
                break;
            }
            let len = path.len() as u64;
            let cut = if len >= o.episode_cap {
                p.cut_long += 1;
                Some(EpisodeEnd::Long)
            } else if len - last_completion >= o.stall_cap {
                p.cut_stalled += 1;
                Some(EpisodeEnd::Stalled)
            } else if len - last_user >= o.kernel_only_cap {
                p.cut_kernel_only += 1;
                Some(EpisodeEnd::KernelOnly)
            } else {
                None
            };
            if let Some(end) = cut {
                p.episodes_cut += 1;
                candidate(end, &s, &path);
                break;
            }
            cand.clear();
            w.clear();
            for a in 0..n as ActorId {
                if m.may_step(&s, a) {
                    cand.push(a);
                    w.push(weight(m, faults, &s, a));
                }
            }
            let mut moved = false;
            while !cand.is_empty() {
                let total: u32 = w.iter().sum();
                let mut pick = rng.random_range(0..total);
                let mut i = 0;
                while pick >= w[i] {
                    pick -= w[i];
                    i += 1;
                }
                let a = cand[i];
                let fault = is_fault(m, a, &s);
                // the kernel's free choices (a driver tag): uniform, and no draw where
                // there is none, so seeds keep their episodes on choice-free scenarios
                let choice = match m.choices(&s, a) {
                    1 => 0,
                    k => rng.random_range(0..k),
                };
                let mv = Move { actor: a, choice };
                let step = if o.invariants {
                    m.apply(&mut s, mv)
                } else {
                    m.step(&mut s, mv)
                };
                match step {
                    Ok(Outcome::Blocked) => {
                        cand.swap_remove(i);
                        w.swap_remove(i);
                    }
                    Ok(Outcome::Stepped(info)) => {
                        path.push(mv);
                        p.steps += 1;
                        p.faults_injected += fault as u64;
                        if is_user(m, a) {
                            last_user = path.len() as u64;
                        }
                        if matches!(info.func, ublk_model::Func::BioEndio) {
                            p.requests_completed += 1;
                            last_completion = path.len() as u64;
                        }
                        cov.record(m, &info, &s, before);
                        if o.fault_matrix {
                            cov.record_under(info.func.label(), fired);
                            if fault {
                                fired |=
                                    coverage::event_bit(which_fault(m, a)).expect("an event fault");
                            }
                        }
                        before = Before::of(m, &s);
                        if o.progress_every > 0 && p.steps % o.progress_every == 0 {
                            progress(&p);
                        }
                        moved = true;
                        break;
                    }
                    Err(v) => {
                        path.push(mv);
                        p.steps += 1;
                        return SimReport {
                            seed: o.seed,
                            progress: p,
                            coverage: cov,
                            violation: Some((path, v)),
                            hang_candidates: cands,
                        };
                    }
                }
            }
            if !moved {
                // nothing can move: the episode is over; with an obligation open it is a
                // dead end (a hang for liveness, unless an actor that may never act could)
                if !m.obligations(&s).is_empty() {
                    p.dead_ends_open += 1;
                    candidate(EpisodeEnd::DeadEnd, &s, &path);
                }
                break;
            }
        }
    }
    SimReport {
        seed: o.seed,
        progress: p,
        coverage: cov,
        violation: None,
        hang_candidates: cands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ublk_model::config::CopyMode;
    use ublk_model::Preset;
    use workload::SimConfig;

    fn model(c: &SimConfig, f: ublk_model::Features) -> Model {
        Model::new(&workload::scenario(c).0, f).unwrap()
    }

    #[test]
    fn same_seed_same_run() {
        let c = SimConfig {
            faults: FaultSet::all(),
            ..SimConfig::default()
        };
        let m = model(&c, Preset::K72.features());
        let o = RunOpts {
            seed: 7,
            steps: 20_000,
            ..RunOpts::default()
        };
        let a = simulate(&m, &c.faults, &o, |_| {});
        assert_eq!(a, simulate(&m, &c.faults, &o, |_| {}));
        let b = simulate(&m, &c.faults, &RunOpts { seed: 8, ..o }, |_| {});
        assert_ne!(
            a.coverage, b.coverage,
            "a different seed takes a different path"
        );
    }

    #[test]
    fn k72_serves_requests_clean_under_faults() {
        for copy in [
            CopyMode::ZeroCopy,
            CopyMode::UserCopy,
            CopyMode::Copy,
            CopyMode::AutoBufReg,
        ] {
            let c = SimConfig {
                copy,
                faults: FaultSet::all(),
                ..SimConfig::default()
            };
            let m = model(&c, Preset::K72.features());
            let r = simulate(
                &m,
                &c.faults,
                &RunOpts {
                    seed: 3,
                    steps: 30_000,
                    ..RunOpts::default()
                },
                |_| {},
            );
            assert!(
                r.violation.is_none(),
                "{copy:?}: {:?}",
                r.violation.map(|v| v.1)
            );
            assert!(
                r.progress.requests_completed > 10,
                "{copy:?}: {:?}",
                r.progress
            );
            assert!(r.progress.episodes > 1, "faults end episodes");
        }
    }

    #[test]
    fn a_seeded_bug_is_found() {
        let c = SimConfig {
            faults: FaultSet::parse("kill").unwrap(),
            ..SimConfig::default()
        };
        let m = model(&c, Preset::K72.features().without(ublk_model::Sw::FixB8));
        let found = (0..200).any(|seed| {
            simulate(
                &m,
                &c.faults,
                &RunOpts {
                    seed,
                    steps: 20_000,
                    ..RunOpts::default()
                },
                |_| {},
            )
            .violation
            .is_some()
        });
        assert!(found);
    }
}
