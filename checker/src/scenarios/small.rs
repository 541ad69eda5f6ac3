//! Small witnesses: for each seeded bug, a minimal cut of the built-in
//! scenario that finds it (fewer actors and ops), small enough for every
//! engine.  *Small* means: the explorer exhausts it within `agree`'s
//! `--max-states` (default 2,000) and its active actors fit loom's 5
//! threads, one per actor or grouped into threads of actors never enabled
//! together (`ublk_engines::step::layout`).  The explorer, `--engine loom`
//! and `--engine shuttle-pct` each find the bug on its witness
//! (`checker/tests/engines.rs`), and the unmodified presets pass or report
//! exactly the finding the version is known to have (`known.rs`).  Which
//! bug each witnesses, on which preset, as which invariant, is the
//! `witness` of its row in the findings catalogue (`explore/findings.rs`).
//!
//! Bugs whose built-in scenario is already small are witnessed by it:
//! B-11 by `fake-timeout-zc`, B-12 by `fetch-without-buffer`.

use crate::scenarios::dsl::{commit, control, fetch, sc, server, submit, wait, Q};
use ublk_model::config::*;
use CtrlOp::StartDev;

fn dev(copy: CopyMode) -> DevConfig {
    DevConfig {
        copy,
        ..DevConfig::default()
    }
}

pub fn all() -> Vec<Scenario> {
    vec![
        // B-1: `user-copy-vs-elevator` without the daemon's exit (the
        // use-after-free happens before it).
        sc(
            "small-user-copy-vs-elevator",
            "Small witness of B-1 (cut of user-copy-vs-elevator: the daemon does not exit). A \
             helper's user copy looks the request up by tag while the daemon commits it and an \
             elevator switch frees the scheduler's requests; before p02 the reference it then \
             takes lives in the freed request.",
            DevConfig {
                elevator: true,
                ..dev(CopyMode::UserCopy)
            },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), commit(0, 4096, false)]),
                server("helper", false, vec![Op::user_copy(Q, 0)]),
                submit(&[Bio::Read]),
                ActorSpec::Elevator,
                control(&[StartDev]),
            ],
        ),
        // B-5: `concurrent-fetch` cut to the two FETCHes of one slot.
        sc(
            "small-concurrent-fetch",
            "Small witness of B-5 (cut of concurrent-fetch: no device start, no exit, tag 1 never \
             fetched so the device is not ready). Two server threads FETCH the same slot; \
             unserialized, both store their cmd and the first is lost.",
            DevConfig {
                depth: 2,
                ..dev(CopyMode::Copy)
            },
            vec![
                server("daemonA", true, vec![fetch(0, true)]),
                server("daemonB", true, vec![fetch(0, true)]),
            ],
        ),
        // B-6: `recovery-reissue-abort` without STOP_DEV.
        sc(
            "small-recovery-reissue-abort",
            "Small witness of B-6 (cut of recovery-reissue-abort: no STOP_DEV). USER_RECOVERY_REISSUE; \
             the server exits with a zero-copy buffer registered in a ring that did not register \
             the char device as a fixed file, so the release work aborts the server-owned request \
             while the buffer still references it.",
            DevConfig {
                recovery: Recovery::Reissue,
                ..dev(CopyMode::ZeroCopy)
            },
            vec![
                server("daemon", false, vec![fetch(0, false), wait(0), Op::Register { q: Q, tag: 0, idx: 0 }, Op::Exit]),
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        // B-8: `register-vs-server-exit` without the helper and the
        // registrations; the daemon exits on its own while it owns the
        // request.
        sc(
            "small-server-exit-owned",
            "Small witness of B-8 (cut of register-vs-server-exit: no helper, no buffers, the \
             server exits by itself while it owns the request). The release work must settle and \
             reset io->ref before it aborts the request; without that the aborted slot keeps \
             ref = INIT.",
            dev(CopyMode::ZeroCopy),
            vec![server("daemon", true, vec![fetch(0, false), wait(0), Op::Exit]), submit(&[Bio::Read]), control(&[StartDev])],
        ),
        // B-9: the same with USER_COPY, which B-8's settle check left out.
        sc(
            "small-server-exit-owned-user-copy",
            "Small witness of B-9 (small-server-exit-owned on a USER_COPY device). B-8's fix \
             settled and reset the references of zero-copy slots only; a USER_COPY slot the \
             release work aborts keeps ref = INIT (WARN in ublk_queue_reinit), and a later user \
             copy could take a reference on a completed request.",
            dev(CopyMode::UserCopy),
            vec![server("daemon", true, vec![fetch(0, false), wait(0), Op::Exit]), submit(&[Bio::Read]), control(&[StartDev])],
        ),
        // B-10: `need-get-data-fail` without STOP_DEV and the daemon's
        // exit (the COMMIT_AND_FETCH re-arms the slot and stays pending).
        sc(
            "small-need-get-data-fail",
            "Small witness of B-10 (cut of need-get-data-fail: no STOP_DEV, no exit). A \
             NEED_GET_DATA whose copy fails once: the slot must hold the new cmd before the \
             request is requeued.",
            DevConfig {
                need_get_data: true,
                get_data_fails: true,
                ..dev(CopyMode::Copy)
            },
            vec![
                server(
                    "daemon",
                    true,
                    vec![
                        fetch(0, false),
                        wait(0),
                        Op::NeedGetData { q: Q, tag: 0 },
                        wait(0),
                        Op::NeedGetData { q: Q, tag: 0 },
                        // 6.12 completes a NEED_GET_DATA from task work: a server
                        // waits for it before it commits (later kernels: at once)
                        wait(0),
                        commit(0, 4096, false),
                    ],
                ),
                ActorSpec::Submitter {
                    q: Q,
                    bios: vec![Bio::Write],
                },
                control(&[StartDev]),
            ],
        ),
        // B-24: `cancel-vs-dispatch` with one read and no commit.
        sc(
            "small-cancel-before-start",
            "Small witness of B-24 (cut of cancel-vs-dispatch: one read, no commit). The server \
             may be SIGKILLed before START_DEV: the ring exit's cancel must set canceling even \
             without a disk, or START_DEV succeeds and the request is handed to the canceled \
             slot.",
            dev(CopyMode::Copy),
            vec![
                server("daemon", true, vec![fetch(0, true), wait(0), Op::Exit]),
                ActorSpec::Killer,
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        // B-2: the daemon's ring is closed while `ublk_queue_cmd` has handed
        // the request to its cmd's task work (the thread lives on).
        sc(
            "small-ring-close-vs-dispatch",
            "Witness of B-2. The daemon's ring is closed (a fault, after START_DEV) while a read              is on its way to the daemon's FETCH: the ring exit's cancel must leave the cmd alone              once the request is started, because the dispatch task work (still to run on the              live daemon thread) completes it; otherwise the cancel completes it with              UBLK_IO_RES_ABORT first and the dispatch completes a completed cmd. (Zero copy, no \
             buffer registered: 6.12 cannot run it; in copy mode 6.12 strands the request once \
             its daemon exits, the B-14 class of hang, not analysed here.)",
            dev(CopyMode::ZeroCopy),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), Op::Exit]),
                ActorSpec::RingClose { server: 0 },
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
    ]
}
