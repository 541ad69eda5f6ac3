//! Unit tests pinning 6.12 (`Preset::K612`) behaviour step by step.

use crate::config::*;
use crate::exec::*;
use crate::state::*;
use crate::{Model, Outcome, Preset};

fn k612() -> crate::Features {
    Preset::K612.features()
}

fn server(name: &str, prog: Vec<Op>) -> ActorSpec {
    ActorSpec::Server {
        name: name.into(),
        fixed_file: true,
        prog,
    }
}

fn scenario(dev: DevConfig, actors: Vec<ActorSpec>) -> Scenario {
    Scenario {
        name: "k612-unit".into(),
        doc: String::new(),
        dev,
        actors,
    }
}

fn copy() -> DevConfig {
    DevConfig {
        copy: CopyMode::Copy,
        ..DevConfig::default()
    }
}

fn fetch(tag: u8, buf: bool) -> Op {
    Op::Fetch { q: 0, tag, buf }
}

/// Step actor `a` until it blocks or finishes; the results it observed.
fn run(m: &Model, s: &mut State, a: u8) -> Vec<i32> {
    let mut out = vec![];
    while let Ok(Outcome::Stepped(i)) = m.apply(s, a) {
        out.extend(i.result);
    }
    out
}

fn actor(m: &Model, name: &str) -> u8 {
    m.actor_id(name).unwrap()
}

/// Daemon `d` running `prog`, a submitter with one `bio`, control with
/// `ctrl`, on K612; the model and the ids of (d, submitter, control).
fn daemon_bio_control(
    dev: DevConfig,
    prog: Vec<Op>,
    bio: Bio,
    ctrl: &[CtrlOp],
) -> (Model, u8, u8, u8) {
    let sc = scenario(
        dev,
        vec![
            server("d", prog),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![bio],
            },
            ActorSpec::Control {
                prog: ctrl.to_vec(),
            },
        ],
    );
    let m = Model::new(&sc, k612()).unwrap();
    let ids = (
        actor(&m, "d"),
        actor(&m, "submitter0"),
        actor(&m, "control"),
    );
    (m, ids.0, ids.1, ids.2)
}

/// Run every kernel actor until none moves.
fn settle(m: &Model, s: &mut State) {
    loop {
        let moved = (0..m.actors.len() as u8).any(|a| {
            m.actors[a as usize].kind.is_kernel()
                && matches!(m.apply(s, a), Ok(Outcome::Stepped(_)))
        });
        if !moved {
            return;
        }
    }
}

#[test]
fn fetch_from_a_second_thread_on_a_ready_queue_is_einval() {
    let sc = scenario(
        copy(),
        vec![
            server("a", vec![fetch(0, true)]),
            server("b", vec![fetch(0, true)]),
        ],
    );
    let m = Model::new(&sc, k612()).unwrap();
    let mut s = m.init();
    assert_eq!(run(&m, &mut s, 0), Vec::<i32>::new(), "queued");
    assert_eq!(s.queues[0].daemon, Some(0), "the FETCH that made q0 ready");
    // ubq_daemon != current comes before the ACTIVE test (which would be -EBUSY)
    assert_eq!(run(&m, &mut s, 1), vec![EINVAL]);
}

#[test]
fn register_io_buf_is_an_unknown_opcode() {
    let prog = vec![
        Op::Register {
            q: 0,
            tag: 0,
            idx: 0,
        }, // flags 0: the switch default
        fetch(0, true),
        Op::Unregister {
            q: 0,
            tag: 0,
            idx: 0,
        }, // slot ACTIVE: the common check
        Op::BadType { q: 1, tag: 0 }, // bad q_id first
    ];
    let mut dev = copy();
    dev.depth = 2;
    let m = Model::new(&scenario(dev, vec![server("d", prog)]), k612()).unwrap();
    assert_eq!(run(&m, &mut m.init(), 0), vec![EINVAL, EBUSY, EINVAL]);
}

#[test]
fn zero_copy_per_io_daemons_and_fail_io_are_refused() {
    let zc = scenario(DevConfig::default(), vec![server("d", vec![])]);
    let e = Model::new(&zc, k612()).unwrap_err();
    assert!(e.starts_with("n/a: ") && e.contains("zero copy"), "{e}");
    let mut dev = copy();
    dev.depth = 2;
    let per_io = scenario(
        dev,
        vec![
            server("a", vec![fetch(0, true)]),
            server("b", vec![fetch(1, true)]),
        ],
    );
    assert!(Model::new(&per_io, k612())
        .unwrap_err()
        .contains("per-io daemons"));
    assert!(Model::new(&per_io, Preset::K72.features()).is_ok());
    let fail_io = scenario(
        DevConfig {
            recovery: Recovery::FailIo,
            ..copy()
        },
        vec![],
    );
    assert!(Model::new(&fail_io, k612())
        .unwrap_err()
        .contains("FAIL_IO"));
}

#[test]
fn user_copy_commit_drops_the_pdu_kref() {
    let prog = vec![
        fetch(0, false),
        Op::WaitCqe { q: 0, tag: 0 },
        Op::user_copy(0, 0),
        Op::Commit {
            q: 0,
            tag: 0,
            result: 4096,
            buf: false,
        },
    ];
    let dev = DevConfig {
        copy: CopyMode::UserCopy,
        ..DevConfig::default()
    };
    let (m, d, b, c) = daemon_bio_control(dev, prog, Bio::Read, &[CtrlOp::StartDev]);
    let mut s = m.init();
    m.apply(&mut s, d).unwrap(); // FETCH entry
    m.apply(&mut s, d).unwrap(); // fill + mark ready
    assert_eq!(run(&m, &mut s, c), vec![0]);
    for _ in 0..3 {
        m.apply(&mut s, b).unwrap(); // alloc, queue_rq, queue_cmd
    }
    settle(&m, &mut s);
    assert_eq!(s.reqs[0].pdu_ref, 1, "kref_init in __ublk_rq_task_work");
    assert_eq!(s.slots[0].refcnt, 0, "no ublk_io refcount in 6.12");
    m.apply(&mut s, d).unwrap(); // WaitCqe → 0
                                 // pwrite on the daemon: 6.12 takes the kref (no daemon fast path)
    m.apply(&mut s, d).unwrap();
    m.apply(&mut s, d).unwrap();
    assert_eq!(s.reqs[0].pdu_ref, 2);
    m.apply(&mut s, d).unwrap();
    m.apply(&mut s, d).unwrap(); // put
    assert_eq!(s.reqs[0].pdu_ref, 1);
    m.apply(&mut s, d).unwrap(); // COMMIT: ublk_commit_completion puts the last ref
    assert_eq!(s.reqs[0].ended, 1);
    assert_eq!(s.slots[0].flags, flag::ACTIVE);
}

#[test]
fn user_copy_on_a_copy_device_is_einval() {
    let prog = vec![Op::user_copy(0, 0), Op::user_copy(0, 9)];
    let sc = scenario(copy(), vec![server("d", prog)]);
    let mut m = Model::new(&sc, k612()).unwrap();
    let mut s = m.init();
    s.dev.state = DevState::Live;
    // 6.12: tag first, then __ublk_check_and_get_req without a kref: -EINVAL
    assert_eq!(run(&m, &mut s, 0), vec![EINVAL, EINVAL]);
    m.feat = Preset::K72.features();
    let mut s = m.init();
    s.dev.state = DevState::Live;
    assert_eq!(run(&m, &mut s, 0), vec![EACCES, EACCES]);
}

#[test]
fn server_death_with_an_inflight_request_and_stop_dev() {
    let (m, d, b, c) = daemon_bio_control(
        copy(),
        vec![fetch(0, true), Op::WaitCqe { q: 0, tag: 0 }, Op::Exit],
        Bio::Read,
        &[CtrlOp::StartDev, CtrlOp::StopDev],
    );
    let mut s = m.init();
    m.apply(&mut s, d).unwrap();
    m.apply(&mut s, d).unwrap();
    m.apply(&mut s, c).unwrap(); // START_DEV
    for _ in 0..3 {
        m.apply(&mut s, b).unwrap();
    }
    settle(&m, &mut s);
    m.apply(&mut s, d).unwrap(); // the CQE: the server owns the request
    m.apply(&mut s, d).unwrap(); // exit_group
                                 // nothing to cancel (no ACTIVE slot): only the timeout handler helps
    let t = actor(&m, "ublk_timeout(q0)");
    let info = match m.apply(&mut s, t).unwrap() {
        Outcome::Stepped(i) => i,
        Outcome::Blocked => panic!("the timeout handler must fire"),
    };
    assert_eq!(info.func, crate::Func::UblkTimeout612);
    assert_eq!(s.reqs[0].res, EIO, "aborted: ABORTED → BLK_STS_IOERR");
    assert!(s.queues[0].canceling && s.dev.stop_work);
    settle(&m, &mut s); // stop_work: ublk_stop_dev
    assert_eq!(s.dev.state, DevState::Dead);
    assert!(!s.dev.open, "ublk_ch_release only clears OPEN");
    // STOP_DEV on the stopped device returns 0 (already DEAD, cancel_dev)
    assert_eq!(run(&m, &mut s, c), vec![0]);
}

#[test]
fn need_get_data_completes_from_task_work() {
    let prog = vec![
        fetch(0, false),
        Op::WaitCqe { q: 0, tag: 0 },
        Op::NeedGetData { q: 0, tag: 0 },
    ];
    let dev = DevConfig {
        need_get_data: true,
        ..copy()
    };
    let (m, d, b, c) = daemon_bio_control(dev, prog, Bio::Write, &[CtrlOp::StartDev]);
    let mut s = m.init();
    m.apply(&mut s, d).unwrap();
    m.apply(&mut s, d).unwrap();
    m.apply(&mut s, c).unwrap();
    for _ in 0..3 {
        m.apply(&mut s, b).unwrap();
    }
    settle(&m, &mut s);
    assert_eq!(run(&m, &mut s, d), vec![UBLK_IO_RES_NEED_GET_DATA]);
    // the NEED_GET_DATA cmd is kept: ACTIVE with OWNED and NEED_GET_DATA
    let f = flag::ACTIVE | flag::OWNED_BY_SRV | flag::NEED_GET_DATA;
    assert_eq!(s.slots[0].flags, f);
    settle(&m, &mut s); // __ublk_rq_task_work second pass
    assert_eq!(s.slots[0].flags, flag::OWNED_BY_SRV);
    assert_eq!(s.cmds[1].st, CmdSt::Done(0));
}

#[test]
fn add_dev_and_get_features() {
    use crate::k612::*;
    assert_eq!(get_features_612(), 0x1fe);
    let f = add_dev_flags_612(UBLK_F_USER_COPY | UBLK_F_NEED_GET_DATA | (1 << 9), true).unwrap();
    assert_eq!(
        f,
        UBLK_F_USER_COPY | UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_URING_CMD_COMP_IN_TASK
    );
    assert_eq!(add_dev_flags_612(0, false), Err(EPERM));
}

/// START_USER_RECOVERY on 6.12: a recovery tool that polls (`StartUserRecovery`) waits
/// while the device is not QUIESCED — it does not return -EBUSY — and one that asks once
/// (`StartUserRecoveryOnce`) gets -EBUSY.
#[test]
fn start_user_recovery_polls_while_busy_and_asked_once_is_ebusy() {
    for (op, want) in [
        (CtrlOp::StartUserRecovery, None),
        (CtrlOp::StartUserRecoveryOnce, Some(EBUSY)),
    ] {
        let sc = scenario(
            DevConfig {
                recovery: Recovery::Requeue,
                ..copy()
            },
            vec![
                server("daemon", vec![fetch(0, true)]),
                ActorSpec::Control {
                    prog: vec![CtrlOp::StartDev, op],
                },
            ],
        );
        let m = Model::new(&sc, k612()).unwrap();
        let mut s = m.init();
        run(&m, &mut s, actor(&m, "daemon"));
        let c = actor(&m, "control");
        // START_DEV, then the recovery command on a LIVE device whose server lives
        let got = run(&m, &mut s, c);
        assert_eq!(got.first(), Some(&0), "START_DEV");
        assert_eq!(
            got.get(1).copied(),
            want,
            "{op:?} on a busy device: {got:?}"
        );
        assert_eq!(s.dev.state, DevState::Live);
    }
}

/// Which server shapes 6.12 refuses as per-io daemons (one ubq_daemon per
/// queue): each case names the threads' FETCHes (queue, tag), original
/// servers and the recovery's new ones apart.
#[test]
fn per_queue_daemon_shapes() {
    let f = |q, tag| Op::Fetch { q, tag, buf: true };
    let srv = |name: &str, prog: Vec<Op>| server(name, prog);
    let rsrv = |name: &str, prog: Vec<Op>| ActorSpec::RecoveryServer {
        name: name.into(),
        fixed_file: true,
        prog,
    };
    let dev = DevConfig {
        depth: 2,
        nr_queues: 2,
        recovery: Recovery::Requeue,
        ..copy()
    };
    let cases: Vec<(&str, Vec<ActorSpec>, bool)> = vec![
        (
            "one thread per queue",
            vec![
                srv("a", vec![f(0, 0), f(0, 1)]),
                srv("b", vec![f(1, 0), f(1, 1)]),
            ],
            false,
        ),
        (
            "two threads, different tags of a queue",
            vec![srv("a", vec![f(0, 0)]), srv("b", vec![f(0, 1)])],
            true,
        ),
        (
            "a racer of the queue daemon (B-5)",
            vec![srv("a", vec![f(0, 0), f(0, 1)]), srv("b", vec![f(0, 1)])],
            false,
        ),
        (
            "a tag FETCHed twice counts once",
            vec![srv("a", vec![f(0, 0), f(0, 0)]), srv("b", vec![f(0, 1)])],
            true,
        ),
        (
            "tags of other queues do not count",
            vec![srv("a", vec![f(0, 0)]), srv("b", vec![f(1, 1)])],
            false,
        ),
        (
            "old and new server are apart",
            vec![srv("a", vec![f(0, 0)]), rsrv("r", vec![f(0, 1)])],
            false,
        ),
        (
            "two new servers, different tags",
            vec![
                srv("a", vec![f(0, 0), f(0, 1)]),
                rsrv("r", vec![f(0, 0)]),
                rsrv("s", vec![f(0, 1)]),
            ],
            true,
        ),
    ];
    for (what, actors, refused) in cases {
        let r = Model::new(&scenario(dev.clone(), actors), k612());
        let got = matches!(&r, Err(e) if e.contains("per-io daemons"));
        assert_eq!(got, refused, "{what}: {:?}", r.err());
    }
}

/// 6.12 `ublk_ctrl_start_dev`: with every queue daemon privileged, `add_disk`
/// reads sector 0 (`disk_scan_partitions`) under `ub->mutex` and START_DEV
/// returns only once the server has served that read; 7.2 scans in a kworker
/// START_DEV does not wait for.
#[test]
fn start_dev_waits_for_the_partition_scan_read() {
    let dev = DevConfig {
        part_scan: true,
        ..copy()
    };
    let prog = vec![
        fetch(0, true),
        Op::WaitCqe { q: 0, tag: 0 },
        Op::Commit {
            q: 0,
            tag: 0,
            result: 4096,
            buf: true,
        },
    ];
    let sc = scenario(
        dev,
        vec![
            server("d", prog.clone()),
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
        ],
    );
    let m = Model::new(&sc, k612()).unwrap();
    let (d, c, p) = (actor(&m, "d"), actor(&m, "control"), actor(&m, "part-scan"));
    let tw = actor(&m, "tw(d)");
    let mut s = m.init();
    run(&m, &mut s, d); // FETCH, then waits for its CQE
    assert!(
        run(&m, &mut s, c).is_empty(),
        "START_DEV must wait for the scan"
    );
    assert_eq!(s.dev.state, DevState::Live);
    assert_eq!(s.dev.mutex, Some(c));
    run(&m, &mut s, p); // the READ of sector 0 is dispatched to the FETCH
    run(&m, &mut s, tw);
    assert!(run(&m, &mut s, c).is_empty());
    assert_eq!(run(&m, &mut s, d), vec![0]); // the FETCH's CQE, then the COMMIT
    assert_eq!(s.reqs[0].ended, 1);
    run(&m, &mut s, p); // bio_endio: the scan is over
    assert_eq!(run(&m, &mut s, c), vec![0]);
    assert_eq!(s.dev.mutex, None);

    // 7.2: no part-scan actor; START_DEV returns at once
    let mut m = Model::new(&sc, crate::Preset::K72.features()).unwrap();
    assert!(m.actor_id("part-scan").is_none());
    m.feat = crate::Preset::K72.features();
    let mut s = m.init();
    let (d, c) = (actor(&m, "d"), actor(&m, "control"));
    run(&m, &mut s, d);
    assert_eq!(run(&m, &mut s, c), vec![0]);
}

/// 6.12 DEL_DEV is its own command (`ublk_ctrl_del_dev`), not a STOP_DEV: once the
/// server is gone it returns through its own step.
#[test]
fn del_dev_612_ends_as_del_dev() {
    let sc = scenario(
        copy(),
        vec![
            server("d", vec![fetch(0, true), Op::Exit]),
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::DelDev],
            },
        ],
    );
    let m = Model::new(&sc, k612()).unwrap();
    let mut s = m.init();
    let mut funcs = Vec::new();
    for _ in 0..200 {
        let mut moved = false;
        for a in 0..m.actors.len() as u8 {
            if let Ok(Outcome::Stepped(i)) = m.apply(&mut s, a) {
                if m.actors[a as usize].name == "control" {
                    funcs.push(i.func);
                }
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    assert_eq!(
        funcs.last(),
        Some(&crate::Func::UblkCtrlDelDev612),
        "{funcs:?}"
    );
}
