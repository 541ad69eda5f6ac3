//! The 6.12 part of the conformance corpus (`traces/corpus/6.12/`).

use crate::conform::compile::ModelProgram;
use crate::conform::corpus::program;
use crate::conform::corpus_recovery as recovery;
use crate::scenarios::dsl::{sc, server};
use ublk_model::config::*;
use ublk_model::Preset;

pub(crate) fn dev(depth: u8, copy: CopyMode, need_get_data: bool) -> DevConfig {
    DevConfig {
        depth,
        copy,
        need_get_data,
        ..DevConfig::default()
    }
}

/// The 6.12 corpus: a per-queue daemon (the one shape 6.12 serves), copy mode with and
/// without NEED_GET_DATA, USER_COPY, the per-queue daemon's -EINVAL for another thread, and
/// the 6.12 errno order.
pub fn corpus_programs_612() -> Vec<ModelProgram> {
    const Q: u8 = 0;
    let (d, h, b, c) = ("daemon", "helper", "submitter0", "control");
    let k = Preset::K612;
    let fetch = |tag, buf| Op::Fetch { q: Q, tag, buf };
    let wait = |tag| Op::WaitCqe { q: Q, tag };
    let commit = |tag, result, buf| Op::Commit {
        q: Q,
        tag,
        result,
        buf,
    };
    vec![
        // NEED_GET_DATA: the WRITE's first CQE says 1, NEED_GET_DATA re-arms the slot and
        // completes at once from task work (6.12), COMMIT, the write ends, STOP cancels
        program(
            sc(
                "ngd-write-612",
                "6.12 NEED_GET_DATA on a per-queue daemon",
                dev(1, CopyMode::Copy, true),
                vec![
                    server(
                        d,
                        true,
                        vec![
                            fetch(0, false),
                            wait(0),
                            Op::NeedGetData { q: Q, tag: 0 },
                            wait(0),
                            commit(0, 4096, true),
                            wait(0),
                            Op::Exit,
                        ],
                    ),
                    ActorSpec::Submitter {
                        q: Q,
                        bios: vec![Bio::Write],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            k,
            &[d, c, b, d, d, d, d, b, c, d, d],
            "ngd-write-6.12",
        ),
        // USER_COPY: pwrite of the READ's data by the daemon and by another thread (6.12
        // checks no task for user copy: both take the pdu kref), COMMIT, the read ends
        program(
            sc(
                "user-copy-612",
                "6.12 USER_COPY from the daemon and from another thread",
                dev(1, CopyMode::UserCopy, false),
                vec![
                    server(
                        d,
                        true,
                        vec![
                            fetch(0, false),
                            wait(0),
                            Op::user_copy(Q, 0),
                            commit(0, 4096, false),
                            wait(0),
                            Op::Exit,
                        ],
                    ),
                    server(h, true, vec![Op::user_copy(Q, 0)]),
                    ActorSpec::Submitter {
                        q: Q,
                        bios: vec![Bio::Read],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            k,
            &[d, c, b, d, d, h, d, b, c, d, d],
            "user-copy-daemon-and-helper-6.12",
        ),
        // the per-queue daemon: the daemon FETCHes both tags, so the queue is ready and it is
        // `ubq_daemon`; another thread's FETCH and COMMIT are -EINVAL (the daemon check comes
        // before the tag and flag checks); the daemon's REGISTER_IO_BUF on an ACTIVE slot is
        // -EBUSY (the ACTIVE check comes before the opcode), its user copy on a copy device
        // -EINVAL; STOP_DEV aborts both FETCHes (-ENODEV). (Two threads FETCHing different
        // tags of one queue are refused by the model: 6.12 batches dispatches on a per-queue
        // llist whose task work may run on the other thread's cmd, which it does not model.)
        program(
            sc(
                "queue-daemon-612",
                "6.12: one ubq_daemon per queue; other threads get -EINVAL",
                dev(2, CopyMode::Copy, false),
                vec![
                    server(
                        d,
                        true,
                        vec![
                            fetch(0, true),
                            fetch(1, true),
                            Op::Register {
                                q: Q,
                                tag: 1,
                                idx: 0,
                            },
                            Op::user_copy(Q, 1),
                            wait(1),
                            Op::Exit,
                        ],
                    ),
                    server(h, true, vec![fetch(0, true), commit(0, 4096, true)]),
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            k,
            &[d, d, c, h, h, d, d, c, d, d],
            "queue-daemon-6.12",
        ),
        // the 6.12 errno order: COMMIT before FETCH (not OWNED: -EINVAL), bad ioctl type,
        // FETCH twice (ACTIVE: -EBUSY), REGISTER/UNREGISTER_IO_BUF unknown to 6.12 (-EBUSY on
        // the ACTIVE slot), FETCH once ready (-EBUSY), a full read, then the same ops on the
        // re-armed slot
        program(
            sc(
                "errno-table-612",
                "6.12 check order of __ublk_ch_uring_cmd",
                dev(1, CopyMode::Copy, false),
                vec![
                    server(
                        d,
                        true,
                        vec![
                            commit(0, 4096, true),
                            Op::BadType { q: Q, tag: 0 },
                            fetch(0, true),
                            fetch(0, true),
                            Op::Register {
                                q: Q,
                                tag: 0,
                                idx: 0,
                            },
                            wait(0),
                            Op::Unregister {
                                q: Q,
                                tag: 0,
                                idx: 0,
                            },
                            Op::Register {
                                q: Q,
                                tag: 0,
                                idx: 0,
                            },
                            commit(0, 4096, true),
                            fetch(0, true),
                            wait(0),
                            Op::Exit,
                        ],
                    ),
                    ActorSpec::Submitter {
                        q: Q,
                        bios: vec![Bio::Read],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            k,
            &[d, d, d, d, d, c, b, d, d, d, d, b, d, c, d, d],
            "errno-table-6.12",
        ),
        // a privileged server (CAP_SYS_ADMIN kept): START_DEV's add_disk reads the partition
        // table (disk_scan_partitions, GD_SUPPRESS_PART_SCAN not set since
        // nr_privileged_daemon == nr_queues_ready) under ub->mutex. The READ of sector 0 is
        // dispatched to the FETCH at once and START_DEV returns only after the server's
        // COMMIT; STOP_DEV then aborts the re-armed FETCH
        program(
            sc(
                "part-scan-612",
                "6.12: a privileged server; START_DEV waits for the partition scan's read",
                DevConfig {
                    part_scan: true,
                    ..dev(1, CopyMode::Copy, false)
                },
                vec![
                    server(
                        d,
                        true,
                        vec![
                            fetch(0, true),
                            wait(0),
                            commit(0, 4096, true),
                            wait(0),
                            Op::Exit,
                        ],
                    ),
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            k,
            // (START_DEV returns within the COMMIT's action: no control wait)
            &[d, c, d, d, c, d, d],
            "part-scan-6.12",
        ),
        // user recovery with a new server process (REISSUE): the held read is re-dispatched
        recovery::reissue_new_server(k, 2, "recovery-reissue-new-server-6.12"),
        // issue #15 item 2: a partial recovery's ring exit spins; STOP_DEV's requeue work
        // still ends the reads (the oracle's fair settle)
        recovery::partial_recovery_stop_612("partial-recovery-stop-6.12"),
        // a bio held by the quiesced queue reaches the new server at END_USER_RECOVERY
        recovery::bio_during_recovery(k, "bio-during-recovery-6.12"),
        // an 8 KiB READ committed 4096 bytes at a time
        crate::conform::corpus_ucopy::large_bio_partial(k, "large-bio-partial-6.12"),
        // issue #15 item 6: user copy's offset, length and direction
        crate::conform::corpus_ucopy::ucopy_offsets(k, "user-copy-offsets-6.12"),
        recovery::update_size(k, "update-size-6.12"),
        crate::conform::corpus_wide::two_queues_served(Preset::K612, "two-queues-served-6.12"),
        crate::conform::corpus_pid::end_recovery_without_recovery(
            "end-recovery-without-recovery-6.12",
            Preset::K612,
        ),
    ]
}
