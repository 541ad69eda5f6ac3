//! Unit tests of single kernel paths, run by stepping one actor at a time.

use crate::config::*;
use crate::exec::*;
use crate::state::*;
use crate::{Model, Outcome, Preset, Sw};

fn daemon_only(prog: Vec<Op>, copy: CopyMode) -> Scenario {
    Scenario {
        name: "unit".into(),
        doc: String::new(),
        dev: DevConfig {
            copy,
            ..DevConfig::default()
        },
        actors: vec![ActorSpec::Server {
            name: "d".into(),
            fixed_file: true,
            prog,
        }],
    }
}

/// Step actor 0 until it blocks or finishes; the results it observed.
fn results(m: &Model, s: &mut State) -> Vec<i32> {
    let mut out = vec![];
    while let Ok(Outcome::Stepped(i)) = m.apply(s, 0) {
        out.extend(i.result);
    }
    out
}

#[test]
fn check_order_errnos_per_preset() {
    let prog = vec![
        Op::Commit {
            q: 0,
            tag: 0,
            result: 0,
            buf: false,
        }, // before FETCH
        Op::BadType { q: 1, tag: 0 }, // bad type and bad q_id
        Op::Fetch {
            q: 0,
            tag: 0,
            buf: false,
        },
        Op::Register {
            q: 0,
            tag: 0,
            idx: 0,
        }, // slot ACTIVE
        Op::Fetch {
            q: 0,
            tag: 0,
            buf: false,
        }, // second FETCH of an ACTIVE slot
    ];
    let mut sc = daemon_only(prog, CopyMode::ZeroCopy);
    sc.dev.depth = 2; // the device is not ready after one FETCH
    let run = |sc: &Scenario, f| {
        let m = Model::new(sc, f).unwrap();
        results(&m, &mut m.init())
    };
    assert_eq!(
        run(&sc, Preset::K72.features()),
        vec![EINVAL, EOPNOTSUPP, EBUSY, EINVAL]
    );
    // before p04 the second FETCH hits the common ACTIVE check first
    assert_eq!(
        run(&sc, Preset::Pre.features()),
        vec![EINVAL, EINVAL, EBUSY, EBUSY]
    );
    // once every io is fetched the device is ready: -EBUSY comes before the ACTIVE test
    sc.dev.depth = 1;
    assert_eq!(
        run(&sc, Preset::K72.features()),
        vec![EINVAL, EOPNOTSUPP, EBUSY, EBUSY]
    );
}

#[test]
fn fetch_buffer_rule_and_b12() {
    let sc = daemon_only(
        vec![Op::Fetch {
            q: 0,
            tag: 0,
            buf: false,
        }],
        CopyMode::Copy,
    );
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    assert_eq!(results(&m, &mut m.init()), vec![EINVAL]);
    // B-12: queued without arming; S5 flags the unreachable cmd
    let m = Model::new(&sc, Preset::K72.features().without(Sw::FixB12)).unwrap();
    let mut s = m.init();
    assert!(matches!(m.apply(&mut s, 0), Ok(Outcome::Stepped(_))));
    let v = m.apply(&mut s, 0).unwrap_err();
    assert_eq!(v.inv, crate::Inv::S5);
}

#[test]
fn refcount_helpers_follow_the_split_counter() {
    let sc = daemon_only(vec![], CopyMode::ZeroCopy);
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let mut s = m.init();
    s.reqs[0].allocated = true;
    s.reqs[0].started = true;
    let mut x = Exec {
        m: &m,
        s: &mut s,
        actor: 0,
        cur: Ctx::Task(0),
        choice: 0,
    };
    x.init_req_ref(0, 0, true).unwrap();
    assert_eq!(
        (x.s.slots[0].refcnt, x.s.slots[0].trb),
        (UBLK_REFCOUNT_INIT, 1)
    );
    assert!(x.get_ref(0, 0).unwrap());
    assert!(!x.sub_ref(0, 0, UBLK_REFCOUNT_INIT, "t").unwrap());
    assert!(x.sub_ref(0, 0, 1, "t").unwrap());
    assert_eq!(x.sub_ref(0, 0, 1, "t").unwrap_err().inv, crate::Inv::S4);
    assert!(!x.get_ref(0, 0).unwrap(), "inc_not_zero fails at 0");
}

#[test]
fn buffer_table_errnos() {
    let sc = daemon_only(vec![], CopyMode::ZeroCopy);
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let mut s = m.init();
    let mut x = Exec {
        m: &m,
        s: &mut s,
        actor: 0,
        cur: Ctx::Task(0),
        choice: 0,
    };
    assert_eq!(
        x.register_bvec(0, 9, 0, 0),
        EINVAL,
        "index beyond the table"
    );
    assert_eq!(x.register_bvec(0, 0, 0, 0), 0);
    assert_eq!(x.register_bvec(0, 0, 0, 0), EBUSY, "slot occupied");
    assert_eq!(x.unregister_bvec(0, 1).unwrap(), EINVAL, "empty slot");
}

/// Step the first actor (in model order) that can move, until none can.
fn run_to_quiescence(m: &Model, s: &mut State) {
    'outer: for _ in 0..10_000 {
        for a in 0..m.actors.len() as ActorId {
            if let Ok(Outcome::Stepped(_)) = m.apply(s, a) {
                continue 'outer;
            }
        }
        return;
    }
    panic!("no quiescence");
}

/// A plain-fd ring (/dev/ublkcN not registered as a fixed file) holds the
/// char device only through its in-flight requests.  Its exit cancels the
/// FETCH of tag 1 (K72 claims cmd 1); once no request is left, the file
/// reference goes, the process's fd went with its only thread, so the
/// release work runs: the request the daemon owned fails (-EIO) and,
/// without recovery, the device stops (DEAD).  Measured on 7.2.  (The
/// model once kept the claimed cmd and "file reference dropped" in one
/// register: claiming cmd 1 read as "dropped", the char device was never
/// released and the read hung.)
#[test]
fn plain_fd_ring_exit_after_claiming_cmd_1_releases_the_char_device() {
    let fetch = |tag| Op::Fetch {
        q: 0,
        tag,
        buf: false,
    };
    let sc = Scenario {
        name: "unit".into(),
        doc: String::new(),
        dev: DevConfig {
            depth: 2,
            ..DevConfig::default()
        },
        actors: vec![
            ActorSpec::Server {
                name: "d".into(),
                fixed_file: false,
                prog: vec![
                    fetch(0),
                    fetch(1),
                    Op::WaitCqe { q: 0, tag: 0 }, // owns the read's request
                    Op::CloseRing,
                    Op::ThreadExit, // the only thread: the process's fd goes
                ],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read],
            },
        ],
    };
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let mut s = m.init();
    run_to_quiescence(&m, &mut s);
    let reader = &s.actors[m.actor_id("submitter0").unwrap() as usize];
    assert_eq!(
        s.cmds[1].st,
        CmdSt::Done(UBLK_IO_RES_ABORT),
        "FETCH of tag 1 canceled"
    );
    assert_eq!(s.dev.file_refs, 0, "the char device is released");
    assert!(
        reader.done && reader.res == EIO,
        "the read fails: {reader:?}"
    );
    assert_eq!(s.dev.state, DevState::Dead);
}

/// A finished elevator switch has returned: its actor is done and no longer inside the
/// kernel (the oracle reads "in the kernel" as "the sysfs write has not returned").
#[test]
fn a_finished_elevator_switch_is_not_in_the_kernel() {
    let sc = Scenario {
        name: "unit".into(),
        doc: String::new(),
        dev: DevConfig {
            elevator: true,
            ..DevConfig::default()
        },
        actors: vec![
            ActorSpec::Server {
                name: "d".into(),
                fixed_file: true,
                prog: vec![Op::Fetch {
                    q: 0,
                    tag: 0,
                    buf: false,
                }],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
            ActorSpec::Elevator,
        ],
    };
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let mut s = m.init();
    let el = (m
        .actors
        .iter()
        .position(|a| matches!(a.kind, crate::Kind::Elevator)))
    .unwrap() as u8;
    // the FETCH, then START_DEV
    for _ in 0..50 {
        for a in 0..m.actors.len() as u8 {
            if a != el {
                let _ = m.apply(&mut s, a);
            }
        }
        if s.dev.has_disk {
            break;
        }
    }
    assert!(s.dev.has_disk, "START_DEV added the disk");
    let mut steps = 0;
    while let Ok(Outcome::Stepped(_)) = m.apply(&mut s, el) {
        steps += 1;
        assert!(steps < 10);
    }
    assert!(s.actors[el as usize].done);
    assert!(!s.actors[el as usize].in_kernel());
}

/// START_USER_RECOVERY (7.x) asked once is refused with -EBUSY unless the device is
/// QUIESCED or FAIL_IO *and* its char device is closed: a device whose server exited
/// before START_DEV (closed, but DEAD) is not recoverable.
#[test]
fn start_user_recovery_needs_a_recoverable_closed_device() {
    let sc = Scenario {
        name: "unit".into(),
        doc: String::new(),
        dev: DevConfig {
            recovery: Recovery::Requeue,
            ..DevConfig::default()
        },
        actors: vec![
            ActorSpec::Server {
                name: "d".into(),
                fixed_file: true,
                prog: vec![
                    Op::Fetch {
                        q: 0,
                        tag: 0,
                        buf: false,
                    },
                    Op::Exit,
                ],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartUserRecoveryOnce],
            },
        ],
    };
    for p in [Preset::K72, Preset::Post] {
        let m = Model::new(&sc, p.features()).unwrap();
        let c = m.actor_id("control").unwrap();
        let mut s = m.init();
        // everything but the control task runs to quiescence: the server exits, its
        // ring's exit and the release work run
        for _ in 0..200 {
            let moved = (0..m.actors.len() as u8)
                .filter(|&a| a != c)
                .any(|a| matches!(m.apply(&mut s, a), Ok(Outcome::Stepped(_))));
            if !moved {
                break;
            }
        }
        assert!(
            !s.dev.open,
            "{}: the release work closed the device",
            p.name()
        );
        assert_eq!(s.dev.state, DevState::Dead);
        let mut r = Vec::new();
        while let Ok(Outcome::Stepped(i)) = m.apply(&mut s, c) {
            r.extend(i.result);
        }
        assert_eq!(r, [EBUSY], "{}", p.name());
        assert!(!s.dev.recovering);
    }
}

/// Two per-io daemons (one tag each), or one daemon serving both tags, and one READ.
fn two_tags(per_io: bool) -> Scenario {
    let fetch = |tag| Op::Fetch {
        q: 0,
        tag,
        buf: false,
    };
    let wait = |tag| Op::WaitCqe { q: 0, tag };
    let mut actors = if per_io {
        (0..2)
            .map(|t| ActorSpec::Server {
                name: format!("d{t}"),
                fixed_file: true,
                prog: vec![fetch(t), wait(t), Op::Exit],
            })
            .collect()
    } else {
        vec![ActorSpec::Server {
            name: "d".into(),
            fixed_file: true,
            prog: vec![fetch(0), fetch(1), wait(0), Op::Exit],
        }]
    };
    actors.push(ActorSpec::Submitter {
        q: 0,
        bios: vec![Bio::Read],
    });
    actors.push(ActorSpec::Control {
        prog: vec![CtrlOp::StartDev],
    });
    Scenario {
        name: "unit-two-tags".into(),
        doc: String::new(),
        dev: DevConfig {
            depth: 2,
            ..DevConfig::default()
        },
        actors,
    }
}

/// blk-mq may hand a request any free driver tag: with both tags free the
/// submitter's allocation has two alternatives, and the second puts the
/// request on tag 1 (`tags->rqs[1]`).  Where one thread serves both tags the
/// model keeps the lowest free tag (its program waits for tag 0).
#[test]
fn a_request_may_get_any_free_tag() {
    for per_io in [true, false] {
        let m = Model::new(&two_tags(per_io), Preset::K72.features()).unwrap();
        assert_eq!(m.any_tag, per_io);
        let sub = m.actor_id("submitter0").unwrap();
        let mut s = m.init();
        assert_eq!(
            m.choices(&s, sub),
            1,
            "no disk yet: no allocation, no choice"
        );
        // every FETCH, then START_DEV: the submitter is the one left to move
        let others: Vec<_> = (0..m.actors.len() as u8).filter(|&a| a != sub).collect();
        for _ in 0..8 {
            for &a in &others {
                let _ = m.apply(&mut s, a);
            }
        }
        assert!(s.dev.has_disk, "START_DEV returned");
        let n = m.choices(&s, sub);
        assert_eq!(n, if per_io { 2 } else { 1 });
        let tags: Vec<_> = (0..n)
            .map(|c| {
                let mut t = s.clone();
                let mv = crate::Move {
                    actor: sub,
                    choice: c,
                };
                assert!(matches!(m.apply(&mut t, mv), Ok(Outcome::Stepped(_))));
                assert_eq!(m.choices(&t, sub), 1, "ublk_queue_rq has no choice");
                t.tags_rqs.iter().position(|r| r.is_some())
            })
            .collect();
        let want = if per_io {
            vec![Some(0), Some(1)]
        } else {
            vec![Some(0)]
        };
        assert_eq!(tags, want);
        // an alternative that does not exist is no step
        let mv = crate::Move {
            actor: sub,
            choice: n,
        };
        assert_eq!(m.apply(&mut s.clone(), mv).ok(), Some(Outcome::Blocked));
    }
}

/// With an I/O scheduler a requeued request gives its driver tag back
/// (`blk_mq_put_driver_tag`), and the requeue work's re-dispatch takes any
/// free one: a WRITE committed with 0 bytes is requeued, and its second
/// dispatch may reach either daemon.
#[test]
fn a_requeue_with_an_elevator_takes_any_free_tag() {
    let mut sc = two_tags(true);
    sc.dev.elevator = true;
    for a in &mut sc.actors {
        match a {
            ActorSpec::Server { prog, name, .. } if name == "d0" => {
                *prog = vec![
                    Op::Fetch {
                        q: 0,
                        tag: 0,
                        buf: false,
                    },
                    Op::WaitCqe { q: 0, tag: 0 },
                    Op::Commit {
                        q: 0,
                        tag: 0,
                        result: 0,
                        buf: false,
                    },
                ]
            }
            ActorSpec::Submitter { bios, .. } => *bios = vec![Bio::Write],
            _ => {}
        }
    }
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let rw = m.actor_id("requeue-work").unwrap();
    let mut s = m.init();
    // everyone but the requeue work, the request on tag 0 (the first alternative)
    for _ in 0..12 {
        for a in (0..m.actors.len() as u8).filter(|&a| a != rw) {
            let _ = m.apply(
                &mut s,
                crate::Move {
                    actor: a,
                    choice: 0,
                },
            );
        }
    }
    let r = s
        .dev
        .requeue_run
        .first()
        .copied()
        .expect("the WRITE was requeued");
    assert_eq!(s.reqs[r as usize].tag, None, "the driver tag went back");
    assert_eq!(
        s.tags_rqs[0],
        Some(r),
        "tags->rqs[0] keeps the stale pointer"
    );
    assert_eq!(m.choices(&s, rw), 2);
    // the client waits in the block layer meanwhile, both tags free: it has no choice to make
    let sub = m.actor_id("submitter0").unwrap();
    assert_eq!(m.choices(&s, sub), 1);
    let tags: Vec<_> = (0..2)
        .map(|c| {
            let mut t = s.clone();
            let mv = crate::Move {
                actor: rw,
                choice: c,
            };
            assert!(matches!(m.apply(&mut t, mv), Ok(Outcome::Stepped(_))));
            assert_eq!(m.choices(&t, rw), 1, "ublk_queue_cmd has no choice");
            let tag = t.reqs[r as usize].tag;
            assert_eq!(
                t.tags_rqs[tag.unwrap() as usize],
                Some(r),
                "tags->rqs[tag] is set"
            );
            tag
        })
        .collect();
    assert_eq!(tags, vec![Some(0), Some(1)]);
}

/// With an I/O scheduler a request takes any free scheduler request and any free driver
/// tag: four distinct alternatives on an idle depth-2 device.
#[test]
fn with_an_elevator_any_request_meets_any_tag() {
    let mut sc = two_tags(true);
    sc.dev.elevator = true;
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let sub = m.actor_id("submitter0").unwrap();
    let mut s = m.init();
    let others: Vec<_> = (0..m.actors.len() as u8).filter(|&a| a != sub).collect();
    for _ in 0..8 {
        for &a in &others {
            let _ = m.apply(&mut s, a);
        }
    }
    assert_eq!(m.choices(&s, sub), 4);
    let mut got: Vec<(usize, Option<u8>)> = (0..4)
        .map(|c| {
            let mut t = s.clone();
            assert!(matches!(
                m.apply(
                    &mut t,
                    crate::Move {
                        actor: sub,
                        choice: c
                    }
                ),
                Ok(Outcome::Stepped(_))
            ));
            let r = t.reqs.iter().position(|r| r.allocated).unwrap();
            (r, t.reqs[r].tag)
        })
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 4, "{got:?}");
}
