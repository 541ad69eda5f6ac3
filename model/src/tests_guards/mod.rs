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

fn wait(tag: u8) -> Op {
    Op::WaitCqe { q: 0, tag }
}

fn commit(tag: u8) -> Op {
    Op::Commit {
        q: 0,
        tag,
        result: 4096,
        buf: true,
    }
}

/// One submitter on queue 0 with these bios.
fn bios(bios: &[Bio]) -> ActorSpec {
    ActorSpec::Submitter {
        q: 0,
        bios: bios.to_vec(),
    }
}

fn control(prog: &[CtrlOp]) -> ActorSpec {
    ActorSpec::Control {
        prog: prog.to_vec(),
    }
}

/// A copy-mode device of `depth` tags.
fn copy(depth: u8) -> DevConfig {
    DevConfig {
        depth,
        copy: CopyMode::Copy,
        ..DevConfig::default()
    }
}

fn model_on(preset: Preset, dev: DevConfig, actors: Vec<ActorSpec>) -> Model {
    let sc = Scenario {
        name: "guards-unit".into(),
        doc: String::new(),
        dev,
        actors,
    };
    Model::new(&sc, preset.features()).unwrap()
}

fn model(preset: Preset, depth: u8, actors: Vec<ActorSpec>) -> Model {
    model_on(preset, copy(depth), actors)
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
    prog.extend([wait(0), Op::Exit]);
    let m = model(
        Preset::K612,
        depth,
        vec![
            server("d", prog),
            bios(&[Bio::Read]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
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
        vec![server("d", vec![fetch(0)]), control(&[CtrlOp::StopDev])],
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
fn a_612_user_copy_on_a_copy_device_is_einval_even_on_an_owned_request() {
    // __ublk_check_and_get_req: !ublk_need_req_ref(ubq) → NULL → -EINVAL, before the lookup
    // (with no request on the tag the lookup gives -EINVAL too; here one is there)
    let m = model(
        Preset::K612,
        1,
        vec![
            server("d", vec![fetch(0), wait(0), Op::user_copy(0, 0)]),
            bios(&[Bio::Read]),
            control(&[CtrlOp::StartDev]),
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

mod auto_only;
mod fallback;
mod k72;
mod quiesce;
mod set_size;
mod ucopy;
