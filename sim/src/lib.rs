//! # ublk-sim: seeded random schedules over the model
//!
//! One seed drives every scheduling choice: the same seed, model and step
//! budget give the same path, byte for byte (ChaCha8 is portable across
//! platforms and `rand` versions, unlike `SmallRng`).  Each *episode* walks
//! from the initial state until no actor can move, then starts again; the
//! first invariant violation ends the run with its path.
//!
//! This is the simulator's core; workload generation, faults, swarm mode
//! and shrinking build on it (issue 5).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use ublk_model::state::ActorId;
use ublk_model::{Model, Outcome, Violation};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    pub seed: u64,
    /// Atomic steps taken over all episodes.
    pub steps: u64,
    pub episodes: u64,
    /// The path of the failing episode (actor per step) and its violation.
    pub violation: Option<(Vec<ActorId>, Violation)>,
}

/// Walk `m` under a scheduler seeded with `seed` for at most `max_steps`.
pub fn simulate(m: &Model, seed: u64, max_steps: u64) -> SimReport {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let actors: Vec<ActorId> = (0..m.actors.len() as ActorId).collect();
    let (mut steps, mut episodes) = (0u64, 0u64);
    while steps < max_steps {
        episodes += 1;
        let mut s = m.init();
        let mut path = Vec::new();
        loop {
            if steps >= max_steps {
                break;
            }
            let mut order = actors.clone();
            order.shuffle(&mut rng);
            let mut moved = false;
            for a in order {
                if !m.may_step(&s, a) {
                    continue;
                }
                // a blocked step leaves the state untouched, so try in place
                match m.apply(&mut s, a) {
                    Ok(Outcome::Blocked) => continue,
                    Ok(Outcome::Stepped(_)) => {
                        path.push(a);
                        steps += 1;
                        moved = true;
                        break;
                    }
                    Err(v) => {
                        path.push(a);
                        return SimReport {
                            seed,
                            steps: steps + 1,
                            episodes,
                            violation: Some((path, v)),
                        };
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }
    SimReport {
        seed,
        steps,
        episodes,
        violation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ublk_model::config::*;
    use ublk_model::Preset;

    fn scenario() -> Scenario {
        Scenario {
            name: "t".into(),
            doc: String::new(),
            dev: DevConfig {
                copy: CopyMode::Copy,
                depth: 2,
                ..DevConfig::default()
            },
            actors: vec![
                ActorSpec::Server {
                    name: "a".into(),
                    fixed_file: true,
                    prog: vec![
                        Op::Fetch {
                            q: 0,
                            tag: 0,
                            buf: true,
                        },
                        Op::WaitCqe { q: 0, tag: 0 },
                        Op::Exit,
                    ],
                },
                ActorSpec::Server {
                    name: "b".into(),
                    fixed_file: true,
                    prog: vec![
                        Op::Fetch {
                            q: 0,
                            tag: 0,
                            buf: true,
                        },
                        Op::Fetch {
                            q: 0,
                            tag: 1,
                            buf: true,
                        },
                        Op::Exit,
                    ],
                },
                ActorSpec::Control {
                    prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                },
            ],
        }
    }

    #[test]
    fn same_seed_same_run() {
        let m = Model::new(&scenario(), Preset::K72.features()).unwrap();
        assert_eq!(simulate(&m, 7, 5_000), simulate(&m, 7, 5_000));
        let r = simulate(&m, 7, 5_000);
        assert!(r.violation.is_none() && r.episodes > 1, "{r:?}");
    }

    #[test]
    fn finds_b5_within_a_few_seeds() {
        let f = Preset::K72.features().without(ublk_model::Sw::FixB5);
        let m = Model::new(&scenario(), f).unwrap();
        let found = (0..50).any(|seed| simulate(&m, seed, 2_000).violation.is_some());
        assert!(found);
    }
}
