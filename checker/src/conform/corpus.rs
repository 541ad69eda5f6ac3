//! The conformance corpus: hand-written sequential programs, per kernel, whose traces live in
//! the kernel table's corpus folder (`traces/corpus/` for 7.2, `traces/corpus/6.12/` for 6.12)
//! and are replayed by CI.  A kernel row names which program set its corpus holds.

use crate::conform::compile::ModelProgram;
pub use crate::conform::corpus_612::corpus_programs_612;
use crate::conform::corpus_recovery as recovery;
use crate::scenarios::by_name;
use crate::scenarios::dsl::{sc, server};
use ublk_model::config::*;
use ublk_model::kernels::Programs;
use ublk_model::{Model, Preset};

/// The corpus of the kernel a preset models (empty for presets no VM boots).
pub fn corpus_for(preset: Preset) -> Vec<ModelProgram> {
    match preset.kernel().vm.as_ref().map(|vm| vm.programs) {
        Some(Programs::PerIoDaemon) => corpus_programs(),
        Some(Programs::PerQueueDaemon) => corpus_programs_612(),
        None => vec![],
    }
}

/// A program: `scenario` with its actors stepped in the order of `names`.
pub(crate) fn program(
    scenario: Scenario,
    preset: Preset,
    names: &[&str],
    id: &str,
) -> ModelProgram {
    let m = Model::new(&scenario, preset.features()).expect("scenario compiles");
    let order = names
        .iter()
        .map(|n| {
            m.actor_id(n)
                .unwrap_or_else(|| panic!("{}: no actor {n}", scenario.name))
        })
        .collect();
    ModelProgram {
        id: id.into(),
        scenario,
        order,
    }
}

/// The 7.2 corpus: (file stem, scenario, order by actor name).
pub fn corpus_programs() -> Vec<ModelProgram> {
    let by = |sc: &str, names: &[&str], id: &str| -> ModelProgram {
        let scenario = by_name(sc).unwrap_or_else(|| panic!("scenario {sc}"));
        program(scenario, Preset::K72, names, id)
    };
    let (d, h, b, c) = ("daemon", "helper", "submitter0", "control");
    vec![
        // FETCH, START, read, CQE, REGISTER, UNREGISTER, COMMIT, read done, STOP, CQE -ENODEV, exit
        by(
            "daemon-zc",
            &[d, c, b, d, d, d, d, b, c, d, d],
            "daemon-zc-on-daemon",
        ),
        // commit before unregister on the daemon
        by(
            "daemon-unreg-after-commit",
            &[d, c, b, d, d, d, d, b, c, d, d],
            "daemon-unreg-after-commit",
        ),
        // off daemon: helper REGISTER, READ_FIXED, UNREGISTER, then the daemon commits
        by(
            "offdaemon-register-vs-commit",
            &[d, c, b, d, h, h, h, d, b, c, d, d],
            "offdaemon-register-fixed-unregister",
        ),
        // off daemon: the commit comes before the helper's unregister; the read completes
        // only after it
        by(
            "offdaemon-unregister-after-commit",
            &[d, c, b, d, h, d, h, b],
            "offdaemon-commit-before-unregister",
        ),
        // the errno consequences of the series' check order on 7.2: COMMIT before FETCH,
        // bad ioctl type with a bad q_id, REGISTER on an ACTIVE slot, a duplicate index,
        // REGISTER after COMMIT, UNREGISTER after COMMIT, FETCH once the device is ready
        by(
            "errno-table",
            &[d, d, d, d, c, b, d, d, d, d, d, d, b, d, c, d],
            "errno-table-7.2",
        ),
        // user copy on the daemon (no reference) and from a helper (lookup + reference)
        by(
            "user-copy-daemon-and-helper",
            &[d, c, b, d, d, h, d, b, c, d, d],
            "user-copy-daemon-and-helper",
        ),
        // a ring without /dev/ublkcN as a fixed file: the daemon owns the read's request,
        // closes its ring (the exit cancels the other tag's FETCH) and exits; the last close
        // of /dev/ublkcN runs the release work, which fails the read with -EIO. (The model
        // kept the ring exit's "file dropped" and its claimed cmd in one register, so after
        // cancelling cmd 1 the file was never released: the read hung; measured on 7.2.)
        program(
            sc(
                "plain-fd-ring-close-release",
                "plain-fd ring closed while its daemon owns a request, then exit",
                DevConfig {
                    depth: 2,
                    copy: CopyMode::Copy,
                    ..DevConfig::default()
                },
                vec![
                    server(
                        d,
                        false,
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: true,
                            },
                            Op::Fetch {
                                q: 0,
                                tag: 1,
                                buf: true,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::CloseRing,
                            Op::Exit,
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
            ),
            Preset::K72,
            &[d, d, c, b, d, d, d, b],
            "plain-fd-ring-close-release",
        ),
        // what __ublk_complete_rq makes of a COMMIT's result: a READ committed with 0 bytes
        // fails (-EIO); a WRITE committed with 0 bytes is a partial completion
        // (blk_update_request with 0 bytes), requeued with a kick and dispatched again to
        // the slot's new FETCH, then committed in full; STOP cancels the last FETCH
        program(
            sc(
                "commit-results",
                "copy mode: a READ committed with 0 bytes, a WRITE with 0 bytes, then in full",
                DevConfig {
                    copy: CopyMode::Copy,
                    ..DevConfig::default()
                },
                vec![
                    server(d, true, {
                        let commit = |result| Op::Commit {
                            q: 0,
                            tag: 0,
                            result,
                            buf: true,
                        };
                        let wait = Op::WaitCqe { q: 0, tag: 0 };
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: true,
                            },
                            wait.clone(),
                            commit(0),
                            wait.clone(),
                            commit(0),
                            wait.clone(),
                            commit(4096),
                            wait,
                            Op::Exit,
                        ]
                    }),
                    ActorSpec::Submitter {
                        q: 0,
                        bios: vec![Bio::Read, Bio::Write],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            Preset::K72,
            &[d, c, b, d, d, b, b, d, d, d, d, b, c, d, d],
            "commit-results-7.2",
        ),
        // errnos no other trace shows: a second START_DEV on a live device (-EEXIST), a
        // READ_FIXED of an empty index of the ring's buffer table (-EFAULT, io_uring) and a
        // pread on /dev/ublkcN of a device without USER_COPY (-EACCES, ublk_user_copy)
        program(
            sc(
                "errno-extra",
                "zero copy: START_DEV twice; the daemon's READ_FIXED of an unregistered index, a user copy",
                DevConfig {
                    copy: CopyMode::ZeroCopy,
                    ..DevConfig::default()
                },
                vec![
                    server(
                        d,
                        true,
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: false,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::FixedIo { idx: 1 },
                            Op::user_copy(0, 0),
                            Op::Commit {
                                q: 0,
                                tag: 0,
                                result: 4096,
                                buf: false,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Exit,
                        ],
                    ),
                    ActorSpec::Submitter {
                        q: 0,
                        bios: vec![Bio::Read],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            Preset::K72,
            &[d, c, c, b, d, d, d, d, b, c, d, d],
            "errno-extra-7.2",
        ),
        // a COMMIT_AND_FETCH from another thread than the slot's daemon: -EINVAL (only
        // REGISTER/UNREGISTER may come from off the daemon)
        program(
            sc(
                "offdaemon-commit",
                "zero copy: a helper thread commits the daemon's request",
                DevConfig {
                    copy: CopyMode::ZeroCopy,
                    ..DevConfig::default()
                },
                vec![
                    server(
                        d,
                        true,
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: false,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Commit {
                                q: 0,
                                tag: 0,
                                result: 4096,
                                buf: false,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Exit,
                        ],
                    ),
                    server(
                        h,
                        false,
                        vec![
                            Op::Commit {
                                q: 0,
                                tag: 0,
                                result: 4096,
                                buf: false,
                            },
                            Op::ThreadExit,
                        ],
                    ),
                    ActorSpec::Submitter {
                        q: 0,
                        bios: vec![Bio::Read],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            Preset::K72,
            &[d, c, b, d, h, h, d, b, c, d, d],
            "offdaemon-commit-7.2",
        ),
        // copy mode without NEED_GET_DATA: a COMMIT of a WRITE without a buffer address is
        // -EINVAL (the slot stays the server's); the COMMIT with one ends the write
        program(
            sc(
                "commit-without-buffer",
                "copy mode: the daemon commits a WRITE without, then with, a buffer",
                DevConfig {
                    copy: CopyMode::Copy,
                    ..DevConfig::default()
                },
                vec![
                    server(
                        d,
                        true,
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: true,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Commit {
                                q: 0,
                                tag: 0,
                                result: 4096,
                                buf: false,
                            },
                            Op::Commit {
                                q: 0,
                                tag: 0,
                                result: 4096,
                                buf: true,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Exit,
                        ],
                    ),
                    ActorSpec::Submitter {
                        q: 0,
                        bios: vec![Bio::Write],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            Preset::K72,
            &[d, c, b, d, d, d, b, c, d, d],
            "commit-without-buffer-7.2",
        ),
        // USER_RECOVERY_FAIL_IO: the server owns the first read's request and exits; the
        // release work's ublk_abort_queue fails it through __ublk_fail_req (io->res = -EIO);
        // then it sets FAIL_IO and ubq->fail_io, so the second read is ended by ublk_queue_rq
        // itself: ublk_prep_req returns BLK_STS_TARGET, which blk_status_to_errno makes
        // -EREMOTEIO for the O_DIRECT read. STOP_DEV then deletes the disk (0).
        program(
            sc(
                "fail-io-read-7.2",
                "FAIL_IO recovery: a read owned by the dead server (-EIO), then a read in FAIL_IO (-EREMOTEIO)",
                DevConfig {
                    copy: CopyMode::Copy,
                    recovery: Recovery::FailIo,
                    ..DevConfig::default()
                },
                vec![
                    server(
                        d,
                        true,
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: true,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Exit,
                        ],
                    ),
                    ActorSpec::Submitter {
                        q: 0,
                        bios: vec![Bio::Read, Bio::Read],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            Preset::K72,
            &[d, c, b, d, d, b, b, b, c],
            "fail-io-read-7.2",
        ),
        // a FETCH that waits for ub->mutex: ublk_fetch takes ub->mutex before
        // __ublk_fetch's "device ready" check (-EBUSY). STOP_DEV holds the mutex in
        // ublk_stop_dev while del_gendisk waits for the read the daemon owns; another server
        // thread's FETCH of tag 0 sleeps in its io_uring_enter until the daemon's COMMIT ends
        // the read and STOP_DEV unlocks, then it is -EBUSY; STOP cancels the re-armed FETCH
        program(
            sc(
                "fetch-waits-for-stop-7.2",
                "a second thread's FETCH while STOP_DEV holds ub->mutex in del_gendisk",
                DevConfig {
                    copy: CopyMode::Copy,
                    ..DevConfig::default()
                },
                vec![
                    server(
                        d,
                        true,
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: true,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Commit {
                                q: 0,
                                tag: 0,
                                result: 4096,
                                buf: true,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::Exit,
                        ],
                    ),
                    server(
                        h,
                        true,
                        vec![Op::Fetch {
                            q: 0,
                            tag: 0,
                            buf: true,
                        }],
                    ),
                    ActorSpec::Submitter {
                        q: 0,
                        bios: vec![Bio::Read],
                    },
                    ActorSpec::Control {
                        prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                    },
                ],
            ),
            Preset::K72,
            // (STOP_DEV returns within the COMMIT's action: no control wait)
            &[d, c, b, d, c, h, d, b, d, d],
            "fetch-waits-for-stop-7.2",
        ),
        // plain-fd-ring-close-release with one more command: after the thread closed its
        // ring, its next FETCH is an io_uring_enter on the closed fd number (-EBADF from the
        // syscall, the model's io_uring_enter on a closed ring fd)
        program(
            sc(
                "closed-ring-ebadf-7.2",
                "a FETCH issued on the ring fd its thread closed: -EBADF",
                DevConfig {
                    depth: 2,
                    copy: CopyMode::Copy,
                    ..DevConfig::default()
                },
                vec![
                    server(
                        d,
                        false,
                        vec![
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: true,
                            },
                            Op::Fetch {
                                q: 0,
                                tag: 1,
                                buf: true,
                            },
                            Op::WaitCqe { q: 0, tag: 0 },
                            Op::CloseRing,
                            Op::Fetch {
                                q: 0,
                                tag: 0,
                                buf: true,
                            },
                            Op::Exit,
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
            ),
            Preset::K72,
            &[d, d, c, b, d, d, d, d, b],
            "closed-ring-ebadf-7.2",
        ),
        // user recovery with a new server process (REISSUE): the held read is re-dispatched
        recovery::reissue_new_server(Preset::K72, 1, "recovery-reissue-new-server-7.2"),
        recovery::quiesce_idle("quiesce-idle-7.2"),
        recovery::update_size(Preset::K72, "update-size-7.2"),
        recovery::stop_goes_on_after_exit("stop-goes-on-after-exit-7.2"),
        crate::conform::corpus_ucopy::large_bio_partial(Preset::K72, "large-bio-partial-7.2"),
        auto_buf_reg_without_zero_copy("auto-buf-reg-no-zc-7.2"),
        crate::conform::corpus_ucopy::ucopy_offsets(Preset::K72, "user-copy-offsets-7.2"),
        crate::conform::corpus_tags::two_reads_per_io_daemons("two-reads-per-io-daemons-7.2"),
        crate::conform::corpus_auto::fallback(true, "auto-buf-reg-fallback-7.2"),
        crate::conform::corpus_auto::fallback(false, "auto-buf-reg-no-fallback-7.2"),
        crate::conform::corpus_wide::two_queues_served(Preset::K72, "two-queues-served-7.2"),
        crate::conform::corpus_wide::elevator_switch("elevator-switch-7.2"),
        crate::conform::corpus_pid::start_dev_after_server_exit("start-dev-after-server-exit-7.2"),
        crate::conform::corpus_pid::end_recovery_without_recovery(
            "end-recovery-without-recovery-7.2",
            Preset::K72,
        ),
    ]
}

/// AUTO_BUF_REG without ZERO_COPY (ADD_DEV accepts it): the read's buffer is registered at
/// dispatch (index 0) and unregistered at COMMIT as usual, but the daemon's own REGISTER and
/// UNREGISTER (index 1) are -EINVAL.
fn auto_buf_reg_without_zero_copy(id: &str) -> ModelProgram {
    let (d, b, c) = ("daemon", "submitter0", "control");
    let (q, tag) = (0, 0);
    program(
        sc(
            id,
            "AUTO_BUF_REG without SUPPORT_ZERO_COPY: no REGISTER/UNREGISTER by hand",
            DevConfig {
                copy: CopyMode::AutoBufReg,
                auto_no_zc: true,
                auto_fallback: false,
                ..DevConfig::default()
            },
            vec![
                server(
                    d,
                    true,
                    vec![
                        Op::Fetch { q, tag, buf: false },
                        Op::WaitCqe { q, tag },
                        Op::Register { q, tag, idx: 1 },
                        Op::Unregister { q, tag, idx: 1 },
                        Op::Commit {
                            q,
                            tag,
                            result: 4096,
                            buf: false,
                        },
                        Op::WaitCqe { q, tag },
                        Op::Exit,
                    ],
                ),
                ActorSpec::Submitter {
                    q,
                    bios: vec![Bio::Read],
                },
                ActorSpec::Control {
                    prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
                },
            ],
        ),
        Preset::K72,
        &[d, c, b, d, d, d, d, b, c, d, d],
        id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::compile::compile;

    #[test]
    fn every_corpus_program_compiles_without_blocks_or_violations() {
        for p in Preset::every().filter(|p| p.kernel().vm.is_some()) {
            for mp in corpus_for(p) {
                let c = compile(&mp, p.features()).unwrap_or_else(|e| panic!("{}: {e}", mp.id));
                assert!(c.prediction.violation.is_none(), "{}", mp.id);
                assert_eq!(c.prediction.steps.len(), mp.order.len(), "{}", mp.id);
            }
        }
    }
}
