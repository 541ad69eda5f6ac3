//! The 7.2 (K72) guards of `super`: readiness, the release work, STOP_DEV, START_DEV,
//! DEL_DEV, the elevator switch, the cancel walk, bios on a deleted disk, the ring-close fault.

use super::*;

#[test]
fn k72_readiness_clears_ub_canceling_only_when_every_queue_is_ready() {
    let m = model(
        Preset::K72,
        2,
        vec![
            server("d0", vec![fetch(0)]),
            server("d1", vec![fetch(1)]),
            control(&[CtrlOp::StartDev]),
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
fn k72_release_work_takes_ub_mutex_before_it_stops_the_device() {
    // ublk_ch_release_work_fn: ublk_abort_queue without the mutex, then mutex_lock(&ub->mutex)
    // before it marks the queues force_abort and starts del_gendisk
    let m = model(
        Preset::K72,
        1,
        vec![
            server("d", vec![fetch(0), wait(0), Op::Exit]),
            bios(&[Bio::Read]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
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
    let m = model_on(
        Preset::K72,
        DevConfig {
            recovery: Recovery::Requeue,
            ..copy(1)
        },
        vec![
            server("d", vec![fetch(0)]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
        ],
    );
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
            control(&[CtrlOp::StartDev, CtrlOp::StartDev]),
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
            bios(&[Bio::Read, Bio::Write]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
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
            bios(&[Bio::Read]),
            control(&[CtrlOp::StartDev]),
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
            server("d", vec![fetch(0), wait(0), Op::Exit]),
            control(&[CtrlOp::StartDev, CtrlOp::DelDev]),
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
    let m = model_on(
        Preset::K72,
        DevConfig {
            elevator: true,
            ..copy(1)
        },
        vec![
            server("d", vec![fetch(0), wait(0), commit(0)]),
            bios(&[Bio::Read]),
            control(&[CtrlOp::StartDev]),
            ActorSpec::Elevator,
        ],
    );
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
            control(&[CtrlOp::StartDev]),
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
