//! Scenarios for a per-queue daemon server, the shape 6.12 (`K612`)
//! requires: one thread FETCHes every tag of its queue on one ring.  They
//! run on every preset; copy and user-copy modes only (6.12 has no zero
//! copy).

use crate::scenarios::dsl::{commit, fetch, sc, server, strand, wait, Q};
use crate::scenarios::sweep::{serving_loop, Data};
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
            "A per-queue daemon: one thread FETCHes both tags of its queue on one ring (a strand \
             per tag, so it serves whichever tag a request takes) and serves a WRITE, then a READ, \
             each through NEED_GET_DATA (6.12: the NEED_GET_DATA cmd re-arms the slot and the copy \
             happens in task work; later kernels: synchronously; a READ has nothing to copy); \
             STOP_DEV cancels the re-armed cmds.",
            DevConfig { need_get_data: true, ..copy(2) },
            vec![
                server("daemon", true, serving_loop(Data::CopyNgd, Q, &[0])),
                strand("daemon/t1", 0, serving_loop(Data::CopyNgd, Q, &[1])),
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
             idle FETCH; the device is stopped by stop_work (6.12) or the release work. A strand \
             per tag: the request takes either tag, and the strand that gets it exits.",
            copy(2),
            vec![
                server("daemon", true, vec![fetch(0, true), wait(0), Op::Exit]),
                strand("daemon/t1", 0, vec![fetch(1, true), wait(1), Op::Exit]),
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
                server("daemon", true, vec![fetch(0, false), wait(0), Op::user_copy(Q, 0), commit(0, 4096, false), wait(0), Op::Exit]),
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Read] },
                ActorSpec::Control { prog: vec![StartDev, StopDev, CtrlOp::DelDev] },
            ],
        ),
        // B-24c: `recovery-requeue-612` with a second START_USER_RECOVERY
        // (no polling) right after the first.
        sc(
            "recovery-start-twice",
            "Witness of B-24c (recovery-requeue-612 with a second START_USER_RECOVERY, its answer \
             taken as is). USER_RECOVERY; the server dies owning a request; START_USER_RECOVERY \
             resets the queues; a second START_USER_RECOVERY before the new server has set a queue \
             up must be refused (6.12: -EINVAL, no ready queue; later kernels: -EBUSY or 0, they no \
             longer reset in START) instead of resetting a queue whose ubq_daemon the first one \
             already put and cleared (6.12 before e58f5142f883: NULL pointer dereference).",
            DevConfig { recovery: Recovery::Requeue, ..copy(1) },
            vec![
                server("daemon", true, vec![fetch(0, true), wait(0), Op::Exit]),
                ActorSpec::RecoveryServer {
                    name: "new-daemon".into(),
                    fixed_file: true,
                    prog: vec![fetch(0, true), wait(0), commit(0, 4096, true), wait(0), Op::Exit],
                },
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Read] },
                ActorSpec::Control { prog: vec![StartDev, CtrlOp::StartUserRecovery, CtrlOp::StartUserRecoveryOnce, CtrlOp::EndUserRecovery, CtrlOp::DelDev] },
            ],
        ),
        sc(
            "more-bios-than-tags",
            "Two clients on a device with one tag: the second bio waits in blk-mq for the driver \
             tag the first holds, gets it once the first request ends and is served through the \
             re-armed FETCH; STOP_DEV then cancels the FETCH the daemon armed last.",
            copy(1),
            vec![
                server(
                    "daemon",
                    true,
                    vec![fetch(0, true), wait(0), commit(0, 4096, true), wait(0), commit(0, 4096, true), wait(0), Op::Exit],
                ),
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Read] },
                ActorSpec::Submitter { q: Q, bios: vec![Bio::Write] },
                ActorSpec::Control { prog: vec![StartDev, StopDev] },
            ],
        ),
    ]
}
