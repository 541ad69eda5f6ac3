//! QUIESCE_DEV (`model/src/quiesce.rs`): its errors, the locks and the dispatch it waits
//! for, the cancel walk it ends with, and the proposed `fix-o12` wait.

use super::*;
use crate::exec::{ENODEV, EOPNOTSUPP};
use crate::features::apply_switches;

/// A copy device of depth 1 with a user recovery mode and, with `flag`, UBLK_F_QUIESCE; one
/// daemon that FETCHes and waits; control: START_DEV (unless `start` is false), QUIESCE_DEV.
fn quiescing(features: crate::Features, flag: bool, start: bool) -> (Model, State) {
    let dev = DevConfig {
        recovery: Recovery::Requeue,
        quiesce: flag,
        ..copy(1)
    };
    let prog: &[CtrlOp] = if start {
        &[CtrlOp::StartDev, CtrlOp::QuiesceDev]
    } else {
        &[CtrlOp::QuiesceDev]
    };
    let sc = Scenario {
        name: "quiesce-unit".into(),
        doc: String::new(),
        dev,
        actors: vec![
            server("d", vec![fetch(0), wait(0)]),
            bios(&[Bio::Read]),
            control(prog),
        ],
    };
    let m = Model::new(&sc, features).unwrap();
    let mut s = m.init();
    let (d, c) = (id(&m, "d"), id(&m, "control"));
    run(&m, &mut s, d);
    if start {
        assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    }
    (m, s)
}

#[test]
fn quiesce_dev_errors() {
    // no UBLK_F_QUIESCE: -EOPNOTSUPP before anything else
    let (m, mut s) = quiescing(Preset::K72.features(), false, true);
    assert_eq!(until_result(&m, &mut s, id(&m, "control")), EOPNOTSUPP);
    // no disk yet: -ENODEV
    let (m, mut s) = quiescing(Preset::K72.features(), true, false);
    assert_eq!(until_result(&m, &mut s, id(&m, "control")), ENODEV);
    // a DEAD device (with its disk): -ENODEV
    let (m, mut s) = quiescing(Preset::K72.features(), true, true);
    s.dev.state = DevState::Dead;
    assert_eq!(until_result(&m, &mut s, id(&m, "control")), ENODEV);
    // 6.12 has no QUIESCE_DEV
    let (m, mut s) = quiescing(Preset::K612.features(), true, true);
    assert_eq!(until_result(&m, &mut s, id(&m, "control")), EOPNOTSUPP);
    // UBLK_F_QUIESCE without a recovery mode is refused, as ADD_DEV refuses it
    let sc = Scenario {
        name: "q".into(),
        doc: String::new(),
        dev: DevConfig {
            quiesce: true,
            ..copy(1)
        },
        actors: vec![control(&[CtrlOp::QuiesceDev])],
    };
    assert!(Model::new(&sc, Preset::K72.features()).is_err());
}

#[test]
fn quiesce_dev_on_a_quiesced_device_returns_0_and_still_cancels() {
    let (m, mut s) = quiescing(Preset::K72.features(), true, true);
    s.dev.state = DevState::Quiesced;
    let c = id(&m, "control");
    assert_eq!(step(&m, &mut s, c), Some(Func::UblkCtrlQuiesceDevMutex));
    assert!(!s.dev.canceling, "already in expected state: no canceling");
    assert_eq!(run(&m, &mut s, c), vec![0]);
    assert!(
        matches!(s.cmds[0].st, CmdSt::Done(r) if r == ENODEV),
        "the FETCH aborted"
    );
}

#[test]
fn quiesce_dev_takes_the_mutexes_waits_for_dispatch_and_aborts_the_idle_fetch() {
    let (m, mut s) = quiescing(Preset::K72.features(), true, true);
    let c = id(&m, "control");
    let other = id(&m, "d");
    // ub->mutex held by someone else: it waits
    let mut held = s.clone();
    held.dev.mutex = Some(other);
    assert_eq!(step(&m, &mut held, c), None, "ub->mutex");
    assert_eq!(step(&m, &mut s, c), Some(Func::UblkCtrlQuiesceDevMutex));
    assert_eq!(s.dev.mutex, Some(c));
    // cancel_mutex held: it waits
    let mut held = s.clone();
    held.dev.cancel_mutex = Some(other);
    assert_eq!(step(&m, &mut held, c), None, "cancel_mutex");
    assert_eq!(step(&m, &mut s, c), Some(Func::UblkCtrlQuiesceDevQuiesce));
    assert_eq!((s.dev.quiesced, s.dev.cancel_mutex), (1, Some(c)));
    // blk_mq_quiesce_queue waits for a dispatch in progress
    let mut busy = s.clone();
    busy.dev.in_dispatch = 1;
    assert_eq!(step(&m, &mut busy, c), None, "in_dispatch");
    assert_eq!(step(&m, &mut s, c), Some(Func::UblkCtrlQuiesceDevCanceling));
    assert!(s.dev.canceling && s.queues.iter().all(|q| q.canceling));
    assert_eq!((s.dev.quiesced, s.dev.cancel_mutex), (0, None));
    assert_eq!(s.dev.mutex, Some(c), "ub->mutex held over the idle wait");
    assert_eq!(step(&m, &mut s, c), Some(Func::UblkCtrlQuiesceDevIdle));
    assert_eq!(s.dev.mutex, None);
    // ublk_cancel_dev: the idle FETCH completes with UBLK_IO_RES_ABORT, then it returns 0
    assert_eq!(run(&m, &mut s, c), vec![0]);
    assert!(matches!(s.cmds[0].st, CmdSt::Done(r) if r == ENODEV));
}

/// With the queue's only io holding a request, 7.2's idle wait returns at once (S11); the
/// proposed fix waits until the daemon's commit leaves an idle io.
#[test]
fn the_idle_wait_with_a_busy_queue() {
    for fixed in [false, true] {
        let f = if fixed {
            apply_switches(Preset::K72.features(), &["fix-o12".into()], &[]).unwrap()
        } else {
            Preset::K72.features()
        };
        let (m, mut s) = quiescing(f, true, true);
        let (b, c) = (id(&m, "submitter0"), id(&m, "control"));
        // the read is dispatched to the daemon's FETCH (started)
        for _ in 0..3 {
            step(&m, &mut s, b).unwrap();
        }
        settle_but(&m, &mut s, &[]);
        assert!(s.reqs[0].started);
        for _ in 0..3 {
            step(&m, &mut s, c).unwrap();
        }
        let r = m.apply(&mut s.clone(), c);
        if fixed {
            assert!(matches!(r, Ok(Outcome::Blocked)), "fix-o12 waits: {r:?}");
        } else {
            assert_eq!(r.unwrap_err().inv, crate::Inv::S11);
        }
    }
}

/// A request that is allocated but not yet started does not make its queue busy: the only
/// io still holds its FETCH, so the idle wait is satisfied (no S11) and QUIESCE_DEV returns 0.
/// (Mutation testing: counting allocated requests instead of started ones went unnoticed.)
#[test]
fn an_allocated_request_not_yet_started_leaves_the_io_idle() {
    let (m, mut s) = quiescing(Preset::K72.features(), true, true);
    let (b, c) = (id(&m, "submitter0"), id(&m, "control"));
    // blk_mq_submit_bio: a request and a driver tag, not started
    step(&m, &mut s, b).unwrap();
    assert!(s.reqs[0].allocated && !s.reqs[0].started);
    assert_eq!(until_result(&m, &mut s, c), 0, "QUIESCE_DEV");
}
