//! Scenarios for a per-queue daemon server, the shape 6.12 (`K612`)
//! requires: one thread FETCHes every tag of its queue on one ring.  They
//! run on every preset; copy and user-copy modes only (6.12 has no zero
//! copy).

use crate::scenarios::dsl::{commit, fetch, sc, server, wait, Q};
use ublk_model::config::*;
use CtrlOp::{StartDev, StopDev};

fn copy(depth: u8) -> DevConfig {
    DevConfig {
        copy: CopyMode::Copy,
        depth,
        ..DevConfig::default()
    }
}

pub fn all() -> Vec<Scenario> {
    vec![
        sc(
            "queue-daemon-two-tags",
            "A per-queue daemon: one thread FETCHes both tags of its queue on one ring and serves a \
             WRITE through NEED_GET_DATA (6.12: the NEED_GET_DATA cmd re-arms the slot and the copy \
             happens in task work; later kernels: synchronously), then a READ on the same tag; \
             STOP_DEV cancels the re-armed cmd and the idle FETCH of tag 1.",
            DevConfig { need_get_data: true, ..copy(2) },
            vec![
                server("daemon", true,
                    vec![fetch(0, false), fetch(1, false), wait(0), Op::NeedGetData { q: Q, tag: 0 }, wait(0), commit(0, 4096, true), wait(0), commit(0, 4096, true), wait(0), Op::Exit],
                ),
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Write, Bio::Read] },
                ActorSpec::Control { prog: vec![StartDev, StopDev] },
            ],
        ),
        sc(
            "server-death-inflight",
            "The server dies while it owns the only request, and another process holds /dev/ublkcN: \
             no cmd is left for the ring exit to cancel. 6.12: the timeout handler (daemon exiting, \
             no ACTIVE io) aborts the request and schedules stop_work; STOP_DEV must return (later \
             kernels: O-1, the release work never runs while the fd is held).",
            copy(1),
            vec![
                server("daemon", true, vec![fetch(0, true), wait(0), Op::Exit]),
                ActorSpec::FdHolder,
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Read] },
                ActorSpec::Control { prog: vec![StartDev, StopDev] },
            ],
        ),
        sc(
            "ring-exit-owned-and-idle",
            "Two tags, one owned by the server, one idle FETCH, when the server exits: the ring \
             exit's cancel fn aborts the owned request (6.12 ublk_abort_requests) and cancels the \
             idle FETCH; the device is stopped by stop_work (6.12) or the release work.",
            copy(2),
            vec![
                server("daemon", true, vec![fetch(0, true), fetch(1, true), wait(0), Op::Exit]),
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Read] },
                ActorSpec::Control { prog: vec![StartDev] },
            ],
        ),
        sc(
            "recovery-requeue-612",
            "USER_RECOVERY (requeue, no reissue): the server dies owning a request, which is failed; a \
             second read is held while the device is QUIESCED; START_USER_RECOVERY, a new server \
             FETCHes and END_USER_RECOVERY releases the held read to it; then DEL_DEV.",
            DevConfig { recovery: Recovery::Requeue, ..copy(1) },
            vec![
                server("daemon", true, vec![fetch(0, true), wait(0), Op::Exit]),
                ActorSpec::RecoveryServer {
                    name: "new-daemon".into(),
                    fixed_file: true,
                    prog: vec![fetch(0, true), wait(0), commit(0, 4096, true), wait(0), Op::Exit],
                },
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Read, Bio::Read] },
                ActorSpec::Control { prog: vec![StartDev, CtrlOp::StartUserRecovery, CtrlOp::EndUserRecovery, CtrlOp::DelDev] },
            ],
        ),
        sc(
            "user-copy-queue-daemon",
            "USER_COPY with a per-queue daemon: the daemon pwrites the READ's data on /dev/ublkcN \
             (6.12: a kref in the request pdu taken by ublk_check_and_get_req), commits (the commit \
             drops the dispatch reference), then the control task stops and deletes the device \
             (DEL_DEV waits until the server has closed /dev/ublkcN).",
            DevConfig { copy: CopyMode::UserCopy, ..copy(1) },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), Op::UserCopy { q: Q, tag: 0 }, commit(0, 4096, false), wait(0), Op::Exit]),
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Read] },
                ActorSpec::Control { prog: vec![StartDev, StopDev, CtrlOp::DelDev] },
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use crate::conform::oracle::{predict, Observed::*};
    use ublk_model::{Model, Preset};

    fn actor(m: &Model, name: &str) -> u8 {
        m.actor_id(name).unwrap()
    }

    fn by_name(n: &str) -> ublk_model::Scenario {
        crate::scenarios::by_name(n).unwrap()
    }

    #[test]
    fn oracle_runs_a_queue_daemon_program_with_need_get_data() {
        let m = Model::new(&by_name("queue-daemon-two-tags"), Preset::K612.features()).unwrap();
        let (d, b, c) = (
            actor(&m, "daemon"),
            actor(&m, "submitter0"),
            actor(&m, "control"),
        );
        // FETCH t0, FETCH t1, START_DEV, write, CQE (NEED_GET_DATA), NEED_GET_DATA (kept),
        // its CQE (0), COMMIT, the write ends, read, CQE, COMMIT, the read ends,
        // STOP_DEV, the re-armed COMMIT is aborted, exit
        let order = [d, d, c, b, d, d, d, d, b, b, d, d, b, c, d, d];
        let p = predict(&m, &order).unwrap();
        assert!(p.violation.is_none(), "{:?}", p.violation);
        let obs: Vec<_> = p.steps.iter().map(|s| s.observed.clone()).collect();
        assert_eq!(
            obs,
            vec![
                Pending,
                Pending,
                Done(Some(0)),
                Pending,
                Done(Some(1)),
                Done(Some(0)), // kept, completed by task work before the action ends
                Done(Some(0)),
                Pending,
                Done(Some(0)),
                Pending,
                Done(Some(0)),
                Pending,
                Done(Some(0)),
                Done(Some(0)),
                Done(Some(-19)),
                Done(None)
            ]
        );
    }

    #[test]
    fn oracle_runs_user_copy_stop_and_del_dev() {
        let m = Model::new(&by_name("user-copy-queue-daemon"), Preset::K612.features()).unwrap();
        let (d, b, c) = (
            actor(&m, "daemon"),
            actor(&m, "submitter0"),
            actor(&m, "control"),
        );
        // FETCH, START_DEV, read, CQE, pwrite, COMMIT, read ends, STOP_DEV,
        // CQE of the re-armed COMMIT (aborted), DEL_DEV waits until exit
        let order = [d, c, b, d, d, d, b, c, d, c];
        let p = predict(&m, &order).unwrap();
        assert!(p.violation.is_none());
        let obs: Vec<_> = p.steps.iter().map(|s| s.observed.clone()).collect();
        assert_eq!(
            obs,
            vec![
                Pending,
                Done(Some(0)),
                Pending,
                Done(Some(0)),
                Done(Some(4096)),
                Pending,
                Done(Some(0)),
                Done(Some(0)),
                Done(Some(-19)),
                Pending // DEL_DEV stopped the device and waits for the last reference
            ]
        );
        // once the server exits, DEL_DEV returns
        let p = predict(&m, &[d, c, b, d, d, d, b, c, d, d, c]).unwrap();
        assert_eq!(p.steps.last().unwrap().observed, Done(Some(0)));
    }
}
