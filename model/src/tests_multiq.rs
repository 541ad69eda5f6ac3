//! Unit tests of the per-queue / per-device split (`docs/multiqueue.md`): two hw queues,
//! one actor stepped at a time.

use crate::config::*;
use crate::state::*;
use crate::{Model, Outcome, Preset};

fn fetch(q: u8) -> Op {
    Op::Fetch {
        q,
        tag: 0,
        buf: true,
    }
}

/// Two queues of depth 1 in copy mode, a daemon per queue and `extra` actors.
fn two_queues(recovery: Recovery, extra: Vec<ActorSpec>) -> Scenario {
    let mut actors = vec![
        ActorSpec::Server {
            name: "d0".into(),
            fixed_file: true,
            prog: vec![fetch(0)],
        },
        ActorSpec::Server {
            name: "d1".into(),
            fixed_file: true,
            prog: vec![fetch(1)],
        },
    ];
    actors.extend(extra);
    Scenario {
        name: "unit-mq".into(),
        doc: String::new(),
        dev: DevConfig {
            nr_queues: 2,
            depth: 1,
            copy: CopyMode::Copy,
            recovery,
            ..DevConfig::default()
        },
        actors,
    }
}

pub(crate) fn actor(m: &Model, name: &str) -> u8 {
    m.actors.iter().position(|a| a.name == name).unwrap() as u8
}

/// Step actor `a` until it blocks or finishes.
pub(crate) fn run(m: &Model, s: &mut State, a: u8) {
    while let Ok(Outcome::Stepped(_)) = m.apply(s, a) {}
}

/// A fault names a thread of the first server process: a recovery server's thread does not
/// exist before START_USER_RECOVERY, and a ring-close fault on it (which waits for no
/// process) closed a ring that was never set up — on 7.2 it lost a cmd in
/// `ublk_reset_ch_dev` (an S5 no kernel can show).  The trace format already refused it.
#[test]
fn a_fault_on_a_recovery_server_thread_is_refused() {
    let mut sc = two_queues(Recovery::Requeue, vec![]);
    sc.actors.push(ActorSpec::RecoveryServer {
        name: "n0".into(),
        fixed_file: true,
        prog: vec![fetch(0)],
    });
    for fault in [
        ActorSpec::RingClose { server: 2 },
        ActorSpec::ThreadDeath { server: 2 },
    ] {
        let mut bad = sc.clone();
        bad.actors.push(fault);
        let e = Model::new(&bad, Preset::K72.features()).unwrap_err();
        assert!(e.contains("recovery server"), "{e}");
    }
    let mut ok = sc.clone();
    ok.actors.push(ActorSpec::RingClose { server: 1 });
    assert!(Model::new(&ok, Preset::K72.features()).is_ok());
}

#[test]
fn a_submitter_on_a_queue_the_device_does_not_have_is_refused() {
    let sc = two_queues(
        Recovery::None,
        vec![ActorSpec::Submitter {
            q: 2,
            bios: vec![Bio::Read],
        }],
    );
    let e = Model::new(&sc, Preset::K72.features()).unwrap_err();
    assert!(e.contains("hw queue 2"), "{e}");
}

/// 7.2 `ublk_mark_io_ready`: a queue's `canceling`, `fail_io` and `force_abort` are reset
/// when *that queue* is ready (`ublk_queue_reset_io_flags`); the device's `canceling` only
/// when every queue is (`ublk_dev_ready`).  POST (`ublk_reset_io_flags` of 6.16/6.17)
/// resets every queue at once, when the device is ready.
#[test]
fn readiness_resets_a_queue_when_it_is_ready_and_the_device_when_all_are() {
    let sc = two_queues(Recovery::Requeue, vec![]);
    for (p, per_queue) in [(Preset::K72, true), (Preset::Post, false)] {
        let m = Model::new(&sc, p.features()).unwrap();
        let mut s = m.init();
        // as the release work leaves a dead server's device
        s.dev.canceling = true;
        for q in &mut s.queues {
            (q.canceling, q.fail_io) = (true, true);
        }
        run(&m, &mut s, actor(&m, "d0"));
        assert_eq!(s.queues[0].nr_io_ready, u8::from(per_queue), "{p:?}");
        assert_eq!(s.queues[0].canceling, !per_queue, "{p:?}");
        assert_eq!(s.queues[0].fail_io, !per_queue, "{p:?}");
        assert!(s.queues[1].canceling && s.dev.canceling, "{p:?}");
        run(&m, &mut s, actor(&m, "d1"));
        assert!(
            !s.dev.canceling && s.queues.iter().all(|q| !q.canceling && !q.fail_io),
            "{p:?}"
        );
        assert_eq!(s.dev.nr_io_ready, 2);
    }
}

/// 6.12: `ubq_daemon` is per queue (the task whose FETCH made *that* queue ready), and
/// `__ublk_ch_uring_cmd` refuses another task's command on a ready queue only.
#[test]
fn k612_each_queue_has_its_own_daemon() {
    let sc = two_queues(Recovery::None, vec![]);
    let m = Model::new(&sc, Preset::K612.features()).unwrap();
    let mut s = m.init();
    run(&m, &mut s, actor(&m, "d0"));
    assert_eq!(s.queues[0].daemon, Some(0));
    assert_eq!(s.queues[1].daemon, None);
    run(&m, &mut s, actor(&m, "d1"));
    assert_eq!(s.queues[1].daemon, Some(1));
    assert_eq!(s.dev.nr_io_ready, 2);
}

/// A bio reaches its submitter's hw queue: its request and driver tag come from that
/// queue's tags (`tags->rqs` of queue 1 is slot index `1 * depth + tag`).
#[test]
fn a_bio_gets_a_request_and_tag_of_its_submitters_queue() {
    let sc = two_queues(
        Recovery::None,
        vec![ActorSpec::Submitter {
            q: 1,
            bios: vec![Bio::Write],
        }],
    );
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let mut s = m.init();
    (s.dev.has_disk, s.dev.state) = (true, DevState::Live);
    let sub = actor(&m, "submitter0");
    assert!(matches!(m.apply(&mut s, sub), Ok(Outcome::Stepped(_))));
    let r = s.actors[sub as usize].rq.expect("a request");
    assert_eq!(s.reqs[r as usize].q, 1);
    assert_eq!(s.reqs[r as usize].tag, Some(0));
    assert_eq!(s.tags_rqs.as_slice(), [None, Some(r)]);
}

/// The goal `queue-ready-alone` is reached by the FETCH that makes queue 0 fully fetched
/// while queue 1 is not, and not by the one that completes the device.
#[test]
fn queue_ready_alone_is_the_fetch_that_readies_one_queue_of_two() {
    use crate::properties::Before;
    use crate::Goal;
    let sc = two_queues(Recovery::None, vec![]);
    for p in [Preset::K72, Preset::Post, Preset::K612] {
        let m = Model::new(&sc, p.features()).unwrap();
        let mut s = m.init();
        let mut seen = vec![];
        for a in [actor(&m, "d0"), actor(&m, "d1")] {
            loop {
                let before = Before::of(&m, &s);
                let Ok(Outcome::Stepped(info)) = m.apply(&mut s, a) else {
                    break;
                };
                if Goal::QueueReadyAlone.reached(&m, before, &info, &s) {
                    seen.push(a);
                }
            }
        }
        assert_eq!(seen, vec![actor(&m, "d0")], "{p:?}");
    }
}
