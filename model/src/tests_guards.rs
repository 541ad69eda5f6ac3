//! Unit tests pinning guards of single kernel paths that no scenario's property tells apart
//! (mutation testing found them unchecked): each test drives the model to the point where the
//! C tests the condition and shows both sides of it.
//!
//! 6.12: `ublk_timeout` waits while a slot still holds a FETCH and while `ublk_queue_rq` runs;
//! `ublk_abort_requests`' quiesce waits for a dispatch in progress; STOP_DEV's
//! `cancel_work_sync` waits for a running stop work; a FETCH's `ublk_mark_io_ready` takes
//! `ub->mutex`.  7.2: readiness clears `ub->canceling` only once every queue is ready; the
//! release work takes `ub->mutex` before it stops the device; STOP_DEV's quiesce waits for a
//! dispatch; START_DEV on a used device is -EEXIST; a bio on a deleted disk ends -EIO and the
//! submitter goes on; each ring-exit pass tries the next cancelable cmd; DEL_DEV waits for the
//! last close; an elevator switch freezes first and clears the freed requests' mappings; the
//! ring-close fault waits for START_DEV and for its thread's syscall.

use crate::config::*;
use crate::exec::EINVAL;
use crate::state::*;
use crate::{Func, Model, Outcome, Preset};

fn server(name: &str, prog: Vec<Op>) -> ActorSpec {
    ActorSpec::Server {
        name: name.into(),
        fixed_file: true,
        prog,
    }
}

fn fetch(tag: u8) -> Op {
    Op::Fetch {
        q: 0,
        tag,
        buf: true,
    }
}

fn model(preset: Preset, depth: u8, actors: Vec<ActorSpec>) -> Model {
    let sc = Scenario {
        name: "guards-unit".into(),
        doc: String::new(),
        dev: DevConfig {
            depth,
            copy: CopyMode::Copy,
            ..DevConfig::default()
        },
        actors,
    };
    Model::new(&sc, preset.features()).unwrap()
}

fn id(m: &Model, name: &str) -> u8 {
    m.actor_id(name).unwrap()
}

/// One step of `a`: its function, or `None` when it cannot move.
fn step(m: &Model, s: &mut State, a: u8) -> Option<Func> {
    match m.apply(s, a).unwrap() {
        Outcome::Stepped(i) => Some(i.func),
        Outcome::Blocked => None,
    }
}

/// Step `a` until it blocks or finishes; the results it observed.
fn run(m: &Model, s: &mut State, a: u8) -> Vec<i32> {
    let mut out = vec![];
    while let Ok(Outcome::Stepped(i)) = m.apply(s, a) {
        out.extend(i.result);
    }
    out
}

/// Step `a` until it observes a result (one command or syscall done).
fn until_result(m: &Model, s: &mut State, a: u8) -> i32 {
    loop {
        match m.apply(s, a).unwrap() {
            Outcome::Stepped(i) if i.result.is_some() => return i.result.unwrap(),
            Outcome::Stepped(_) => {}
            Outcome::Blocked => panic!("{} blocked before a result", m.actors[a as usize].name),
        }
    }
}

/// Every kernel actor but `except` until none moves.
fn settle_but(m: &Model, s: &mut State, except: &[u8]) {
    loop {
        let moved = (0..m.actors.len() as u8).any(|a| {
            !except.contains(&a)
                && m.actors[a as usize].kind.is_kernel()
                && matches!(m.apply(s, a), Ok(Outcome::Stepped(_)))
        });
        if !moved {
            return;
        }
    }
}

/// 6.12, a per-queue daemon FETCHing tags `0..depth`; a read dispatched to tag 0 and owned
/// by the daemon, which then exits (`exit_group`; its ring exit has not run yet).
fn k612_daemon_dies_owning(depth: u8) -> (Model, State) {
    let mut prog: Vec<Op> = (0..depth).map(fetch).collect();
    prog.extend([Op::WaitCqe { q: 0, tag: 0 }, Op::Exit]);
    let m = model(
        Preset::K612,
        depth,
        vec![
            server("d", prog),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
            },
        ],
    );
    let (d, b, c) = (id(&m, "d"), id(&m, "submitter0"), id(&m, "control"));
    let mut s = m.init();
    for _ in 0..depth {
        step(&m, &mut s, d).unwrap();
        step(&m, &mut s, d).unwrap();
    }
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    for _ in 0..3 {
        step(&m, &mut s, b).unwrap();
    }
    settle_but(&m, &mut s, &[]);
    assert_eq!(until_result(&m, &mut s, d), 0, "the CQE");
    step(&m, &mut s, d).expect("exit_group");
    assert!(s.reqs[0].started && s.slots[0].has(flag::OWNED_BY_SRV));
    (m, s)
}

#[test]
fn the_612_timeout_fires_only_once_no_slot_holds_a_fetch() {
    // depth 1: the only slot is the server's, nothing to cancel: the handler aborts
    let (m, s) = k612_daemon_dies_owning(1);
    let t = id(&m, "ublk_timeout(q0)");
    assert_eq!(step(&m, &mut s.clone(), t), Some(Func::UblkTimeout612));
    // ... but not while ublk_queue_rq runs (the abort's quiesce waits for it)
    let mut busy = s.clone();
    busy.dev.in_dispatch = 1;
    assert_eq!(step(&m, &mut busy, t), None, "in_dispatch > 0");
    // depth 2: tag 1's FETCH is still ACTIVE, the ring exit's cancel will help
    // ("cancelable uring_cmd can't help us" only when nr_inflight == q_depth)
    let (m, mut s) = k612_daemon_dies_owning(2);
    let t = id(&m, "ublk_timeout(q0)");
    assert!(s.slots[1].has(flag::ACTIVE));
    assert_eq!(
        step(&m, &mut s, t),
        None,
        "BLK_EH_RESET_TIMER while a slot is ACTIVE"
    );
}

#[test]
fn the_612_ring_exit_abort_waits_for_a_dispatch_in_progress() {
    let (m, mut s) = k612_daemon_dies_owning(2);
    let re = id(&m, "ring-exit(d)");
    // ublk_uring_cmd_cancel_fn picks tag 1's cmd and starts ublk_abort_requests
    let mut f = None;
    for _ in 0..8 {
        f = step(&m, &mut s, re);
        if f == Some(Func::UblkUringCmdCancelFnAbortRequests612) {
            break;
        }
    }
    assert_eq!(f, Some(Func::UblkUringCmdCancelFnAbortRequests612));
    let mut busy = s.clone();
    busy.dev.in_dispatch = 1;
    assert_eq!(
        step(&m, &mut busy, re),
        None,
        "blk_mq_quiesce_queue waits for ublk_queue_rq"
    );
    assert_eq!(step(&m, &mut s, re), Some(Func::UblkAbortRequests612));
}

#[test]
fn the_612_stop_dev_waits_for_a_running_stop_work() {
    let (m, mut s) = k612_daemon_dies_owning(1);
    let (t, w, c) = (
        id(&m, "ublk_timeout(q0)"),
        id(&m, "nosrv-work"),
        id(&m, "control"),
    );
    assert_eq!(step(&m, &mut s, t), Some(Func::UblkTimeout612));
    assert!(s.dev.stop_work);
    // the stop work runs until it has left ub->mutex (ublk_stop_dev) for ublk_cancel_dev
    let mut took = false;
    for _ in 0..16 {
        step(&m, &mut s, w).unwrap();
        took |= s.dev.mutex.is_some();
        if took && s.dev.mutex.is_none() {
            break;
        }
    }
    assert!(took && s.dev.mutex.is_none(), "the work released ub->mutex");
    let w_state = s.actors[w as usize].nosrv_work;
    assert_ne!(
        w_state, 0,
        "the work item is still running (ublk_cancel_dev)"
    );
    // STOP_DEV: the device is DEAD already; its cancel_work_sync must wait for the work
    assert_eq!(
        run(&m, &mut s, c),
        Vec::<i32>::new(),
        "STOP_DEV returned during the work"
    );
    assert_eq!(
        s.actors[c as usize].at,
        Resume::StopDev(StopDevAt::CancelWorkSync612)
    );
    run(&m, &mut s, w);
    assert_eq!(s.actors[w as usize].nosrv_work, 0);
    assert_eq!(
        run(&m, &mut s, c),
        vec![0],
        "STOP_DEV once the work is done"
    );
}

#[test]
fn a_612_fetch_takes_ub_mutex_in_mark_io_ready() {
    let m = model(
        Preset::K612,
        1,
        vec![
            server("d", vec![fetch(0)]),
            ActorSpec::Control {
                prog: vec![CtrlOp::StopDev],
            },
        ],
    );
    let (d, c) = (id(&m, "d"), id(&m, "control"));
    let mut s = m.init();
    s.dev.mutex = Some(c); // e.g. STOP_DEV inside ublk_stop_dev
    let mut held = s.clone();
    let before = held.clone();
    while step(&m, &mut held, d).is_some() {}
    assert_eq!(
        held.slots[0].flags, before.slots[0].flags,
        "FETCH went on under another's mutex"
    );
    assert!(!held.slots[0].has(flag::ACTIVE));
    s.dev.mutex = None;
    while step(&m, &mut s, d).is_some() {}
    assert!(s.slots[0].has(flag::ACTIVE), "FETCH once the mutex is free");
}

#[test]
fn k72_readiness_clears_ub_canceling_only_when_every_queue_is_ready() {
    let m = model(
        Preset::K72,
        2,
        vec![
            server("d0", vec![fetch(0)]),
            server("d1", vec![fetch(1)]),
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
        ],
    );
    let (d0, d1) = (id(&m, "d0"), id(&m, "d1"));
    let mut s = m.init();
    s.dev.canceling = true; // as a ring exit of an earlier server thread leaves it
    run(&m, &mut s, d0);
    assert!(s.slots[0].has(flag::ACTIVE));
    assert!(
        s.dev.canceling,
        "one slot of two ready: ublk_dev_ready() is false"
    );
    run(&m, &mut s, d1);
    assert!(!s.dev.canceling, "all ready: ub->canceling = false");
}

#[test]
fn a_612_user_copy_on_a_copy_device_is_einval_even_on_an_owned_request() {
    // __ublk_check_and_get_req: !ublk_need_req_ref(ubq) → NULL → -EINVAL, before the lookup
    // (with no request on the tag the lookup gives -EINVAL too; here one is there)
    let m = model(
        Preset::K612,
        1,
        vec![
            server(
                "d",
                vec![
                    fetch(0),
                    Op::WaitCqe { q: 0, tag: 0 },
                    Op::UserCopy { q: 0, tag: 0 },
                ],
            ),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
        ],
    );
    let (d, b, c) = (id(&m, "d"), id(&m, "submitter0"), id(&m, "control"));
    let mut s = m.init();
    step(&m, &mut s, d).unwrap();
    step(&m, &mut s, d).unwrap();
    assert_eq!(until_result(&m, &mut s, c), 0);
    for _ in 0..3 {
        step(&m, &mut s, b).unwrap();
    }
    settle_but(&m, &mut s, &[]);
    assert_eq!(
        until_result(&m, &mut s, d),
        0,
        "the CQE: the daemon owns the read"
    );
    assert!(s.tags_rqs[0].is_some() && s.reqs[0].started);
    assert_eq!(until_result(&m, &mut s, d), EINVAL);
}

#[test]
fn k72_release_work_takes_ub_mutex_before_it_stops_the_device() {
    // ublk_ch_release_work_fn: ublk_abort_queue without the mutex, then mutex_lock(&ub->mutex)
    // before it marks the queues force_abort and starts del_gendisk
    let m = model(
        Preset::K72,
        1,
        vec![
            server("d", vec![fetch(0), Op::WaitCqe { q: 0, tag: 0 }, Op::Exit]),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
            },
        ],
    );
    let (d, b, c, rw) = (
        id(&m, "d"),
        id(&m, "submitter0"),
        id(&m, "control"),
        id(&m, "release-work"),
    );
    let mut s = m.init();
    step(&m, &mut s, d).unwrap();
    step(&m, &mut s, d).unwrap();
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    for _ in 0..3 {
        step(&m, &mut s, b).unwrap();
    }
    settle_but(&m, &mut s, &[rw]);
    assert_eq!(
        until_result(&m, &mut s, d),
        0,
        "the CQE: the daemon owns the read"
    );
    step(&m, &mut s, d).expect("exit_group");
    settle_but(&m, &mut s, &[rw]);
    assert_eq!(
        step(&m, &mut s, rw),
        Some(Func::UblkChReleaseWorkFnAbort),
        "part 1: ublk_abort_queue"
    );
    let mut held = s.clone();
    held.dev.mutex = Some(c); // STOP_DEV inside ublk_stop_dev
    assert_eq!(step(&m, &mut held, rw), None, "part 2 waits for ub->mutex");
    assert!(!held.queues[0].force_abort && !held.dev.disk_dying);
    assert!(step(&m, &mut s, rw).is_some());
    assert!(
        s.queues[0].force_abort && s.dev.disk_dying,
        "no recovery: stop the device"
    );
}

#[test]
fn k72_stop_dev_quiesce_waits_for_a_dispatch_in_progress() {
    // ublk_stop_dev in recovery-queue mode: ublk_force_abort_dev quiesces the queue, which
    // waits for a ublk_queue_rq in progress, before it marks force_abort
    let sc = Scenario {
        name: "guards-unit".into(),
        doc: String::new(),
        dev: DevConfig {
            depth: 1,
            copy: CopyMode::Copy,
            recovery: Recovery::Requeue,
            ..DevConfig::default()
        },
        actors: vec![
            server("d", vec![fetch(0)]),
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
            },
        ],
    };
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let (d, c) = (id(&m, "d"), id(&m, "control"));
    let mut s = m.init();
    while step(&m, &mut s, d).is_some() {}
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    step(&m, &mut s, c).expect("STOP_DEV: ub->mutex, quiesce");
    let mut busy = s.clone();
    busy.dev.in_dispatch = 1;
    assert_eq!(
        step(&m, &mut busy, c),
        None,
        "the quiesce waits for ublk_queue_rq"
    );
    assert!(!busy.queues[0].force_abort);
    step(&m, &mut s, c).expect("no dispatch: force abort");
    assert!(s.queues[0].force_abort);
}

#[test]
fn k72_start_dev_on_a_used_device_is_eexist() {
    // ublk_ctrl_start_dev: `state == LIVE || test_and_set_bit(UB_STATE_USED)` → -EEXIST, e.g.
    // a device QUIESCED by a dead server (its disk still added) or LIVE
    let m = model(
        Preset::K72,
        1,
        vec![
            server("d", vec![fetch(0)]),
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::StartDev],
            },
        ],
    );
    let (d, c) = (id(&m, "d"), id(&m, "control"));
    let mut s = m.init();
    while step(&m, &mut s, d).is_some() {}
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    let mut quiesced = s.clone();
    quiesced.dev.state = DevState::Quiesced; // as the release work leaves it (recovery)
    assert_eq!(
        until_result(&m, &mut quiesced, c),
        crate::exec::EEXIST,
        "USED, not LIVE"
    );
    let mut live = s.clone();
    live.dev.used = false;
    assert_eq!(until_result(&m, &mut live, c), crate::exec::EEXIST, "LIVE");
}

#[test]
fn k72_a_bio_after_the_disk_is_gone_ends_eio_and_the_next_one_too() {
    // blk_mq_submit_bio on a deleted disk: -EIO for each bio, the submitter goes on
    let m = model(
        Preset::K72,
        1,
        vec![
            server("d", vec![fetch(0)]),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read, Bio::Write],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
            },
        ],
    );
    let (d, b, c) = (id(&m, "d"), id(&m, "submitter0"), id(&m, "control"));
    let mut s = m.init();
    while step(&m, &mut s, d).is_some() {}
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    assert_eq!(until_result(&m, &mut s, c), 0, "STOP_DEV");
    settle_but(&m, &mut s, &[b]);
    assert!(!s.dev.has_disk && s.dev.disk_removed);
    // at most four steps: a submitter that never advances would loop here forever
    let mut res = vec![];
    for _ in 0..4 {
        match m.apply(&mut s, b).unwrap() {
            Outcome::Stepped(i) => res.extend(i.result),
            Outcome::Blocked => break,
        }
    }
    assert_eq!(res, vec![crate::exec::EIO, crate::exec::EIO]);
    assert!(s.actors[b as usize].done);
}

#[test]
fn k72_each_ring_exit_pass_tries_the_next_cancelable_cmd() {
    // io_uring's cancel walks every cancelable cmd of the ring on each pass: a cmd skipped
    // because a request is started on its slot does not stop the others from being canceled
    let m = model(
        Preset::K72,
        2,
        vec![
            server("d", vec![fetch(0), fetch(1), Op::CloseRing]),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
        ],
    );
    let (d, b, c) = (id(&m, "d"), id(&m, "submitter0"), id(&m, "control"));
    let re = id(&m, "ring-exit(d)");
    let mut s = m.init();
    for _ in 0..4 {
        step(&m, &mut s, d).unwrap();
    }
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    step(&m, &mut s, b).expect("a request and a driver tag");
    step(&m, &mut s, b).expect("ublk_queue_rq: blk_mq_start_request");
    step(&m, &mut s, b).expect("ublk_queue_cmd: task work queued, not run yet");
    let tag = s
        .reqs
        .iter()
        .find(|r| r.started)
        .and_then(|r| r.tag)
        .unwrap() as usize;
    step(&m, &mut s, d).expect("close(ring fd)");
    // the ring exit (the dispatch task work does not run meanwhile)
    let mut completed = false;
    for _ in 0..12 {
        let f = step(&m, &mut s, re);
        if f == Some(Func::UblkCancelCmdComplete) {
            completed = true;
            break;
        }
    }
    assert!(completed, "the other slot's FETCH is canceled");
    assert!(s.slots[1 - tag].has(flag::CANCELED) && !s.slots[tag].has(flag::CANCELED));
}

#[test]
fn k72_del_dev_waits_for_the_last_close_of_the_char_device() {
    // ublk_ctrl_del_dev: ublk_remove, then wait until the device's last reference is gone —
    // a server that still holds /dev/ublkcN keeps DEL_DEV waiting
    let m = model(
        Preset::K72,
        1,
        vec![
            server("d", vec![fetch(0), Op::WaitCqe { q: 0, tag: 0 }, Op::Exit]),
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::DelDev],
            },
        ],
    );
    let (d, c) = (id(&m, "d"), id(&m, "control"));
    let mut s = m.init();
    step(&m, &mut s, d).unwrap();
    step(&m, &mut s, d).unwrap();
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    assert_eq!(run(&m, &mut s, c), Vec::<i32>::new(), "DEL_DEV waits");
    assert!(s.dev.file_refs > 0);
    settle_but(&m, &mut s, &[c]);
    run(&m, &mut s, d); // the aborted FETCH's CQE, then exit_group
    settle_but(&m, &mut s, &[c]);
    assert_eq!(run(&m, &mut s, c), vec![0], "DEL_DEV after the last close");
}

/// K72, an elevator on a depth-1 device, a daemon that FETCHes tag 0, one read, START_DEV.
fn k72_elevator_read() -> (Model, State, u8, u8) {
    let sc = Scenario {
        name: "guards-unit".into(),
        doc: String::new(),
        dev: DevConfig {
            depth: 1,
            copy: CopyMode::Copy,
            elevator: true,
            ..DevConfig::default()
        },
        actors: vec![
            server(
                "d",
                vec![
                    fetch(0),
                    Op::WaitCqe { q: 0, tag: 0 },
                    Op::Commit {
                        q: 0,
                        tag: 0,
                        result: 4096,
                        buf: true,
                    },
                ],
            ),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
            ActorSpec::Elevator,
        ],
    };
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let (d, c) = (id(&m, "d"), id(&m, "control"));
    let mut s = m.init();
    step(&m, &mut s, d).unwrap();
    step(&m, &mut s, d).unwrap();
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    let (b, e) = (id(&m, "submitter0"), id(&m, "elevator"));
    (m, s, b, e)
}

#[test]
fn k72_an_elevator_switch_freezes_the_queue_before_it_frees_the_requests() {
    let (m, mut s, b, e) = k72_elevator_read();
    assert_eq!(step(&m, &mut s, e), Some(Func::ElevatorSwitchFreeze));
    assert!(s.dev.frozen);
    assert_eq!(
        step(&m, &mut s, b),
        None,
        "blk_mq_submit_bio waits for the freeze"
    );
    assert_eq!(step(&m, &mut s, e), Some(Func::ElevatorSwitchFree));
    assert!(!s.dev.frozen);
    assert!(
        step(&m, &mut s, b).is_some(),
        "the bio goes on after the switch"
    );
}

#[test]
fn k72_an_elevator_switch_clears_the_freed_requests_from_tags_rqs() {
    // blk_mq_clear_rq_mapping: no tags->rqs entry may point into the freed scheduler pages
    let (m, mut s, b, e) = k72_elevator_read();
    for _ in 0..3 {
        step(&m, &mut s, b).unwrap();
    }
    settle_but(&m, &mut s, &[e]);
    let d = id(&m, "d");
    let mapped = s.tags_rqs[0].expect("the started request is mapped");
    run(&m, &mut s, d); // the CQE, then the COMMIT ends the read
    settle_but(&m, &mut s, &[e]);
    run(&m, &mut s, b); // bio_endio: the request is freed, tags->rqs[0] still points to it
    assert!(!s.reqs[mapped as usize].allocated);
    assert_eq!(
        s.tags_rqs[0],
        Some(mapped),
        "a stale mapping before the switch"
    );
    assert_eq!(step(&m, &mut s, e), Some(Func::ElevatorSwitchFreeze));
    assert_eq!(step(&m, &mut s, e), Some(Func::ElevatorSwitchFree));
    assert!(!s.reqs[mapped as usize].alive, "its page was freed");
    assert_eq!(s.tags_rqs[0], None, "and its stale mapping cleared");
}

#[test]
fn the_ring_close_fault_waits_for_start_dev_and_for_its_thread_s_syscall() {
    // the fault models "a daemon closes its ring while serving I/O": not before START_DEV
    // (that shape is scenario thread-exit-before-start), not in the middle of a syscall
    let m = model(
        Preset::K72,
        1,
        vec![
            server("d", vec![fetch(0)]),
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
            ActorSpec::RingClose { server: 0 },
        ],
    );
    let (d, c, f) = (id(&m, "d"), id(&m, "control"), id(&m, "close-ring(d)"));
    let mut s = m.init();
    assert_eq!(step(&m, &mut s.clone(), f), None, "no disk yet");
    step(&m, &mut s, d).unwrap(); // FETCH issued: the thread is in io_uring_enter
    assert_eq!(
        step(&m, &mut s.clone(), f),
        None,
        "no disk yet, thread in a syscall"
    );
    step(&m, &mut s, d).unwrap();
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    assert_eq!(step(&m, &mut s, f), Some(Func::FaultCloseRing));
}
