//! Integration tests of the stateful explorer over the model.

use std::collections::BTreeSet;
use ublk_checker::explore::bfs::{Explorer, Order, Stop};
use ublk_checker::explore::findings::FINDINGS;
use ublk_checker::explore::verdict::{self, CheckOpts, Verdict};
use ublk_checker::scenarios;
use ublk_model::{apply_switches, Features, Func, Inv, Model, Preset};

fn opts(preset: Preset, features: Features) -> CheckOpts {
    CheckOpts {
        max_states: 2_000_000,
        ..CheckOpts::new(preset, features)
    }
}

fn seeded(preset: Preset, bug: &str) -> Features {
    apply_switches(preset.features(), &[bug.to_string()], &[]).unwrap()
}

fn run(name: &str, preset: Preset, f: Features) -> verdict::ScenarioResult {
    verdict::run_scenario(&scenarios::by_name(name).unwrap(), &opts(preset, f)).unwrap()
}

fn observed(name: &str, f: Features) -> BTreeSet<(String, Func, i32)> {
    let m = Model::new(&scenarios::by_name(name).unwrap(), f).unwrap();
    let r = Explorer::new(&m).observe().run();
    assert_eq!(r.stop, Stop::Exhausted, "{name} must exhaust");
    r.observed
}

/// Every scenario passes on K72 and POST, except the findings declared
/// known for that version (each with its reason), which must be found.
#[test]
fn every_scenario_passes_on_k72_and_post_or_is_a_declared_finding() {
    assert!(scenarios::all().len() >= 8);
    for preset in [Preset::K72, Preset::Post] {
        let mut passed = 0;
        for sc in scenarios::all() {
            let r = verdict::run_scenario(&sc, &opts(preset, preset.features())).unwrap();
            let declared = ublk_checker::explore::known::lookup(&sc.name, preset).is_some();
            let want = if declared {
                Verdict::Known
            } else {
                Verdict::Pass
            };
            assert_eq!(
                r.verdict,
                want,
                "{} on {}: {:?} {:?}",
                sc.name,
                preset.name(),
                r.violation,
                r.known
            );
            passed += (r.verdict == Verdict::Pass) as usize;
        }
        assert!(
            passed >= 8,
            "{passed} passing scenarios on {}",
            preset.name()
        );
    }
}

#[test]
fn k72_known_findings_and_post_b24() {
    let mut k72: Vec<_> = ublk_checker::explore::known::all()
        .filter(|k| k.in_preset(Preset::K72))
        .map(|k| k.bug)
        .collect();
    k72.sort();
    k72.dedup(); // O-1 has two scenarios: stop-with-fd-held, server-death-inflight
    assert_eq!(
        k72,
        [
            "O-1",
            "O-10",
            "O-12",
            "O-14",
            "O-5",
            "O-6",
            "O-7",
            "fake-timeout"
        ]
    );
    let r = run("cancel-vs-dispatch", Preset::Post, Preset::Post.features());
    assert_eq!(r.verdict, Verdict::Known);
    assert!(r.known.unwrap().starts_with("B-24"));
    // the B-24 fix makes the same scenario pass
    assert_eq!(
        run(
            "cancel-vs-dispatch",
            Preset::Post,
            Preset::Post.features().with(ublk_model::Sw::CancelNoDisk)
        )
        .verdict,
        Verdict::Pass
    );
}

/// Each seeded bug is found by exploring the old code, as the invariant it breaks.
#[test]
fn every_seeded_bug_is_found() {
    let cases = FINDINGS
        .iter()
        .flat_map(|f| f.seeded.iter().map(move |s| (f.id, s)));
    let mut n = 0;
    for (bug, s) in cases {
        let (preset, sc, inv) = (&s.preset, s.scenario, &s.inv);
        n += 1;
        let r = run(sc, *preset, seeded(*preset, bug));
        assert_eq!(r.verdict, Verdict::Fail, "{bug} not found by {sc}");
        assert_eq!(
            r.violation.as_ref().unwrap().inv,
            *inv,
            "{bug} in {sc}: {:?}",
            r.violation
        );
        // and the same scenario passes with the fix
        let fixed = run(sc, *preset, preset.features());
        assert_ne!(
            fixed.verdict,
            Verdict::Fail,
            "{sc} on {} with the fix",
            preset.name()
        );
    }
    assert_eq!(n, 15, "the catalogue's seeded cases");
}

#[test]
fn pre_shows_the_b1_use_after_free_in_a_handful_of_steps() {
    let r = run("user-copy-vs-elevator", Preset::Pre, Preset::Pre.features());
    assert_eq!(r.verdict, Verdict::Known);
    let v = r.violation.unwrap();
    assert_eq!(v.inv, Inv::S1);
    let steps = r.trace.unwrap().steps.len();
    assert!(steps <= 16, "B-1 counterexample has {steps} steps");
}

#[test]
fn turning_off_p02_on_post_brings_the_use_after_free_back() {
    let f = apply_switches(Preset::Post.features(), &[], &["p02".into()]).unwrap();
    let r = run("register-vs-elevator", Preset::Post, f);
    assert_eq!(r.violation.map(|v| v.inv), Some(Inv::S1));
}

#[test]
fn turning_off_p09_makes_off_daemon_register_fail_with_einval() {
    let post = Preset::Post.features();
    let reg = Func::UblkChUringCmdRegisterIoBuf;
    let done = Func::UblkRegisterIoBuf;
    let on = observed("offdaemon-register-vs-commit", post);
    assert!(
        on.contains(&("helper".into(), done, 0)),
        "off-daemon REGISTER succeeds with p09: {on:?}"
    );
    let off = observed(
        "offdaemon-register-vs-commit",
        post.without(ublk_model::Sw::P09),
    );
    let helper: BTreeSet<_> = off
        .iter()
        .filter(|(a, f, _)| a == "helper" && (*f == reg || *f == done))
        .collect();
    assert_eq!(
        helper,
        BTreeSet::from([&("helper".to_string(), reg, -22)]),
        "{off:?}"
    );
}

#[test]
fn errno_consequences_of_the_reordering() {
    let get = |f: Features| observed("errno-table", f);
    let (k72, pre) = (get(Preset::K72.features()), get(Preset::Pre.features()));
    let bad = ("daemon".to_string(), Func::UblkChUringCmdBadType, 0);
    // bad ioctl type with a bad q_id: -EINVAL before p03, -EOPNOTSUPP after
    assert!(k72.contains(&(bad.0.clone(), bad.1, -95)));
    assert!(pre.contains(&(bad.0.clone(), bad.1, -22)));
    // COMMIT before any FETCH: -EINVAL on both (task NULL / !OWNED)
    let commit = Func::UblkChUringCmdCommitAndFetchReq;
    assert!(
        k72.contains(&("daemon".into(), commit, -22))
            && pre.contains(&("daemon".into(), commit, -22))
    );
    // UNREGISTER on the daemon after the commit: allowed since p09, -EBUSY before
    let unreg = Func::UblkChUringCmdUnregisterIoBuf;
    assert!(k72.contains(&("daemon".into(), unreg, 0)));
    assert!(pre.contains(&("daemon".into(), unreg, -16)));
}

#[test]
fn saved_counterexamples_replay_to_the_same_violation() {
    let dir = std::env::temp_dir().join(format!("ublksim-replay-{}", std::process::id()));
    let mut o = opts(Preset::K72, seeded(Preset::K72, "B-8"));
    o.out = Some(dir.clone());
    let r =
        verdict::run_scenario(&scenarios::by_name("register-vs-server-exit").unwrap(), &o).unwrap();
    let file = std::path::PathBuf::from(r.trace_file.unwrap());
    let (text, same) = verdict::replay_file(&file).unwrap();
    assert!(same, "{text}");
    // a tampered trace does not replay
    let body = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"message\":\"", "\"message\":\"x");
    std::fs::write(&file, body).unwrap();
    assert!(!verdict::replay_file(&file).unwrap().1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exploration_is_deterministic() {
    let f = seeded(Preset::K72, "B-8");
    let a = run("register-vs-server-exit", Preset::K72, f);
    let b = run("register-vs-server-exit", Preset::K72, f);
    assert_eq!((a.states, a.transitions), (b.states, b.transitions));
    assert_eq!(a.trace.unwrap().to_jsonl(), b.trace.unwrap().to_jsonl());
}

#[test]
fn depth_first_finds_bugs_too_and_limits_stop_cleanly() {
    let mut o = opts(Preset::K72, seeded(Preset::K72, "B-5"));
    o.order = Order::Dfs;
    let r = verdict::run_scenario(&scenarios::by_name("concurrent-fetch").unwrap(), &o).unwrap();
    assert_eq!(r.verdict, Verdict::Fail);
    let mut o = opts(Preset::K72, Preset::K72.features());
    o.max_states = 10;
    let r = verdict::run_scenario(
        &scenarios::by_name("offdaemon-register-vs-commit").unwrap(),
        &o,
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Incomplete);
    assert!(r.stop_reason.unwrap().contains("state limit"));
}

/// A scenario that no longer reaches the race it declares is flagged: the elevator
/// switch removed from `register-vs-elevator` (name kept), the check still passes,
/// but the declared goal `elevator-free` is never reached.
#[test]
fn a_pass_that_never_reaches_the_scenarios_race_is_vacuous() {
    let mut sc = scenarios::by_name("register-vs-elevator").unwrap();
    let full = verdict::run_scenario(&sc, &opts(Preset::K72, Preset::K72.features())).unwrap();
    assert_eq!(full.verdict, Verdict::Pass);
    assert!(full.vacuous.is_empty(), "{:?}", full.vacuous);
    sc.actors
        .retain(|a| !matches!(a, ublk_model::ActorSpec::Elevator));
    let r = verdict::run_scenario(&sc, &opts(Preset::K72, Preset::K72.features())).unwrap();
    assert_eq!(r.verdict, Verdict::Pass);
    assert!(
        r.vacuous.iter().any(|v| v.starts_with("elevator-free")),
        "{:?}",
        r.vacuous
    );
}

/// Every scenario named in the goals table exists, and declares at least one goal.
#[test]
fn the_goals_table_names_real_scenarios() {
    let names: Vec<_> = scenarios::all().into_iter().map(|s| s.name).collect();
    let declared = names
        .iter()
        .filter(|n| !scenarios::goals(n).is_empty())
        .count();
    assert!(declared >= 30, "{declared} scenarios declare goals");
}

/// Hash compaction merges no states here: with whole states in the visited set (exact
/// mode) every built-in scenario reaches the same number of states and transitions as
/// with 128-bit fingerprints, on every preset.
#[test]
fn exact_and_fingerprint_modes_reach_the_same_states() {
    for p in Preset::every() {
        for sc in scenarios::all() {
            let Ok(m) = Model::new(&sc, p.features()) else {
                continue;
            };
            if Model::unsupported(&sc, p.features()).is_some() {
                continue;
            }
            // capped, so the test stays short: both modes discover states in the same
            // order, so a cut compares the same prefix
            let fp = Explorer::new(&m)
                .all_violations(true)
                .sometimes(&ublk_model::Goal::ALL)
                .max_states(100_000)
                .run();
            let ex = Explorer::new(&m)
                .all_violations(true)
                .sometimes(&ublk_model::Goal::ALL)
                .max_states(100_000)
                .exact(true)
                .run();
            // the default mode keeps no moves and rebuilds each path by re-expanding the
            // states on it; the exact mode keeps (parent, move) links: the same paths
            let paths = |r: &ublk_checker::explore::bfs::Report| {
                let v: Vec<_> = r.violations.iter().map(|(_, p, _)| p.clone()).collect();
                let g: Vec<_> = r.discoveries.iter().map(|(_, p)| p.clone()).collect();
                (v, g)
            };
            assert_eq!(paths(&fp), paths(&ex), "{} on {}", sc.name, p.name());
            assert_eq!(
                (fp.states, fp.transitions, fp.stop),
                (ex.states, ex.transitions, ex.stop),
                "{} on {}",
                sc.name,
                p.name()
            );
        }
    }
}

/// The explorer hashes and queues states in their packed form: packing must lose
/// nothing, or two different states would be merged. Every state reachable in every
/// built-in scenario (capped) on every preset unpacks to itself, and its packing is
/// much smaller than the state.
#[test]
fn every_reachable_state_unpacks_to_itself() {
    use ublk_checker::explore::store::{pack, unpack};
    let (mut n, mut bytes) = (0usize, 0usize);
    let mut buf = ublk_checker::explore::store::Scratch::default();
    for p in Preset::every() {
        for sc in scenarios::all() {
            let Ok(m) = Model::new(&sc, p.features()) else {
                continue;
            };
            let (_, g) = Explorer::new(&m)
                .all_violations(true)
                .max_states(20_000)
                .run_graph(|s| s.clone());
            for s in g.nodes {
                let packed = pack(&s, &mut buf);
                assert_eq!(unpack(packed), s, "{} on {}", sc.name, p.name());
                n += 1;
                bytes += packed.len();
            }
        }
    }
    assert!(n > 100_000, "{n} states");
    let mean = bytes / n;
    assert!(
        mean < std::mem::size_of::<ublk_model::State>() / 4,
        "mean packing {mean} B"
    );
}

/// io_uring runs a ring's task work under its `uring_lock`, which the ring's exit holds
/// while it calls `->uring_cmd(IO_URING_F_CANCEL)`: in O-6's scenario the dispatch task
/// work of the closed ring's slot cannot run between the two halves of that slot's
/// `ublk_cancel_cmd` (the schedule the model used to report as a second O-6 signature).
#[test]
fn task_work_waits_for_the_cancel_that_holds_uring_lock() {
    use ublk_model::{Move, Outcome};
    let m = Model::new(
        &scenarios::by_name("thread-exit-before-start").unwrap(),
        Preset::K72.features(),
    )
    .unwrap();
    let id = |n: &str| m.actor_id(n).unwrap();
    let (d0, d1, ring, ctl, sub, tw) = (
        id("daemon0"),
        id("daemon1"),
        id("ring-exit(daemon1)"),
        id("control"),
        id("submitter0"),
        id("tw(daemon1)"),
    );
    let mut s = m.init();
    let tag1 = Move {
        actor: sub,
        choice: 1,
    }; // the request gets daemon1's tag
    for mv in [
        d0.into(),
        d1.into(),
        d1.into(),
        d1.into(),
        ring.into(),
        d0.into(),
        ctl.into(),
        tag1,
        ring.into(),
        sub.into(),
        sub.into(),
    ] {
        let r = m.apply(&mut s, mv);
        assert!(matches!(r, Ok(Outcome::Stepped(_))), "{mv}: {r:?}");
    }
    assert!(
        !s.tasks[1].tw.is_empty(),
        "the dispatch task work is queued"
    );
    assert!(
        !m.may_step(&s, tw),
        "task work runs inside the ring exit's cancel"
    );
    // cancel_lock + CANCELED, then io_uring_cmd_done: the cancel returns
    for _ in 0..2 {
        assert!(!m.may_step(&s, tw), "task work runs inside the cancel");
        let r = m.apply(&mut s, ring);
        assert!(matches!(r, Ok(Outcome::Stepped(_))), "{r:?}");
    }
    assert!(
        m.may_step(&s, tw),
        "task work runs once the cancel returned"
    );
}

/// Task work that keeps losing `uring_lock` to an exiting ring's cancel passes is not
/// starved (strong fairness): on K72 the server's death with a request in flight ends
/// every request (no L2 lasso of cancel passes alone).
#[test]
fn task_work_is_strongly_fair() {
    for name in [
        "register-vs-server-exit",
        "cancel-vs-dispatch",
        "small-cancel-before-start",
    ] {
        let r = run(name, Preset::K72, Preset::K72.features());
        assert_eq!(r.verdict, Verdict::Pass, "{name}: {:?}", r.hang);
    }
}

/// A terminal state is a dead end only if a declared actor has not finished: the actors
/// that mark themselves done in a step the explorer discards (a submitter past its last
/// bio, a server thread past its last op) count as finished. The happy path of
/// `daemon-zc` ends in terminal states that are no dead end; `thread-exit-before-start`
/// (O-6: a reader never answered) still has dead ends.
#[test]
fn finished_programs_are_not_dead_ends() {
    let m = Model::new(
        &scenarios::by_name("daemon-zc").unwrap(),
        Preset::K72.features(),
    )
    .unwrap();
    let (r, g) = Explorer::new(&m).run_graph(|_| ());
    assert_eq!(r.stop, Stop::Exhausted);
    let mut has_out = vec![false; g.nodes.len()];
    for &(from, _, _) in &g.edges {
        has_out[from as usize] = true;
    }
    let terminal = has_out.iter().filter(|o| !**o).count();
    assert!(terminal > 0, "daemon-zc has terminal states");
    assert_eq!(
        r.stuck, 0,
        "every terminal state of daemon-zc has every program finished"
    );
    let m = Model::new(
        &scenarios::by_name("thread-exit-before-start").unwrap(),
        Preset::K72.features(),
    )
    .unwrap();
    let r = Explorer::new(&m)
        .state_invariants(false)
        .all_violations(true)
        .run();
    assert!(r.stuck > 0, "a reader left waiting is a dead end");
}

/// [`Model::moves`] leaves out an actor whose program is over ([`Model::program_over`]):
/// that is only sound while its step does nothing but mark it done and report itself
/// blocked — the step functions begin with that very test, and nothing may come before
/// it (tried: a write ahead of it in `step_control` fails here). Checked on every state
/// the built-in scenarios reach on every preset (each cut at 10,000 states; 287,885
/// finished actors met): each such actor's step, every alternative, is blocked and its
/// copy differs from the state in that actor's `done` flag alone.
#[test]
fn a_finished_programs_step_only_marks_it_done() {
    use rustc_hash::FxHashSet;
    use ublk_checker::explore::store::fingerprint;
    use ublk_model::state::ActorId;
    use ublk_model::{Move, Outcome};
    let mut checked = 0u64;
    for p in Preset::every() {
        for sc in scenarios::all() {
            let Ok(m) = Model::new(&sc, p.features()) else {
                continue;
            };
            let init = m.init();
            let mut seen = FxHashSet::from_iter([fingerprint(&init)]);
            let mut work = vec![init];
            while let Some(s) = work.pop() {
                for a in 0..m.actors.len() as ActorId {
                    if !m.program_over(&s, a) || s.actors[a as usize].done {
                        continue;
                    }
                    for choice in 0..m.choices(&s, a).max(1) {
                        let mut n = s.clone();
                        let out = m.step(&mut n, Move { actor: a, choice });
                        assert!(
                            matches!(out, Ok(Outcome::Blocked)),
                            "{} on {}: {}'s program is over, yet it steps: {out:?}",
                            sc.name,
                            p.name(),
                            m.actors[a as usize].name
                        );
                        n.actors[a as usize].done = false;
                        assert!(
                            n == s,
                            "{}: {} writes more than its done flag",
                            sc.name,
                            m.actors[a as usize].name
                        );
                        checked += 1;
                    }
                }
                for mv in m.moves(&s).collect::<Vec<_>>() {
                    assert!(
                        !m.program_over(&s, mv.actor),
                        "moves lists a finished program"
                    );
                    let mut n = s.clone();
                    if let Ok(Outcome::Stepped(_)) = m.apply(&mut n, mv) {
                        if seen.len() < 10_000 && seen.insert(fingerprint(&n)) {
                            work.push(n);
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 10_000, "only {checked} finished programs met");
}
