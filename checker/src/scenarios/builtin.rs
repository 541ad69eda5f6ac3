//! The built-in scenarios: small configurations, each a set of actors with
//! their programs, each exercising one part of the protocol (spec §6.8, §7).

use crate::scenarios::dsl::*;
use ublk_model::config::*;

fn zc() -> DevConfig {
    DevConfig {
        copy: CopyMode::ZeroCopy,
        ..DevConfig::default()
    }
}

use CtrlOp::{StartDev, StopDev};

/// All built-in scenarios, in the order `check` runs them.
pub fn all() -> Vec<Scenario> {
    vec![
        sc(
            "daemon-zc",
            "Zero copy on the daemon: FETCH, REGISTER, UNREGISTER, COMMIT_AND_FETCH for one read, \
             while the control task starts and then stops the device (STOP_DEV cancels the re-armed \
             FETCH). Exercises the p11/p12 daemon fast paths (trb), ublk_sub_req_ref and the STOP \
             path's ublk_cancel_dev racing the request.",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), reg(0, 0), unreg(0, 0), commit(0, 4096, false), wait(0), Op::Exit]),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "daemon-unreg-after-commit",
            "The daemon registers a buffer, commits, and only then unregisters it (allowed since p09). \
             The request must complete from the release callback (trb is 0 after the commit, so the \
             release takes the atomic put), never before the buffer is gone.",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), reg(0, 0), commit(0, 4096, false), unreg(0, 0), wait(0), Op::Exit]),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "offdaemon-register-vs-commit",
            "An offload thread registers the request's buffer in its own ring (off-daemon REGISTER: \
             tag lookup | refcount_inc_not_zero | started/tag check | register), does fixed-buffer I/O \
             with it and unregisters it, racing the daemon's COMMIT_AND_FETCH and the completion. \
             Either the reference is taken before the commit's subtraction (completion deferred to the \
             last release) or it fails with -EINVAL.",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("helper", false, vec![reg(0, 0), Op::FixedIo { idx: 0 }, unreg(0, 0), Op::ThreadExit]),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "offdaemon-unregister-after-commit",
            "Commit before unregister: the helper's registration holds a reference across the daemon's \
             COMMIT; the block request completes only when the helper's UNREGISTER drops the last \
             reference and the commit was issued (measured on 7.2: the read completes right after the \
             delayed unregister).",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("helper", false, vec![reg(0, 0), unreg(0, 0), Op::ThreadExit]),
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "register-vs-server-exit",
            "The server may be SIGKILLed at any point while it and a helper hold registered buffers. \
             Ring exit cancels the FETCH, ring teardown releases the buffers (in a kworker: atomic put), \
             and the release work must wait for the references to settle (and reset them) before \
             aborting the request. Without that (B-8) the aborted slot keeps io->ref = INIT even \
             with no buffer left — the WARN in ublk_queue_reinit that test_stress_04 hit — and a \
             buffer still registered outlives its request.",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), reg(0, 0), unreg(0, 0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("helper", false, vec![reg(0, 1), unreg(0, 1)]),
                ActorSpec::Killer,
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "user-copy-vs-elevator",
            "USER_COPY with an I/O scheduler: an offload thread's pwrite looks the request up by tag \
             while the daemon commits it and an elevator switch frees the scheduler's request pages. \
             Before p02 the reference lives in the freed request (B-1 use-after-free); after it, in \
             ublk_io.",
            DevConfig { copy: CopyMode::UserCopy, elevator: true, ..DevConfig::default() },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("helper", false, vec![Op::user_copy(Q, 0), Op::ThreadExit]),
                submit(&[Bio::Read]),
                ActorSpec::Elevator,
                control(&[StartDev]),
            ],
        ),
        sc(
            "register-vs-elevator",
            "Zero copy with an I/O scheduler: the off-daemon REGISTER's tag lookup races the commit \
             and an elevator switch (B-1 through the REGISTER path, reachable once p09 allows \
             off-daemon registration).",
            DevConfig { elevator: true, ..zc() },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("helper", false, vec![reg(0, 0), unreg(0, 0), Op::ThreadExit]),
                submit(&[Bio::Read]),
                ActorSpec::Elevator,
                control(&[StartDev]),
            ],
        ),
        sc(
            "stale-tag-lookup",
            "Zero copy with an I/O scheduler and two per-io daemons: a request structure ends on \
             tag 0, leaving tags->rqs[0] pointing to it, and may be taken again on tag 1 for the \
             next bio; an off-daemon REGISTER of tag 0 looks the stale pointer up. Since p02 the \
             idle slot's io->ref is 0, so refcount_inc_not_zero refuses it before the `req->tag == \
             tag` check (which decides only where the count lives in the request: PRE, 6.12); the \
             stale pointer must stay harmless on every interleaving.",
            DevConfig { depth: 2, elevator: true, ..zc() },
            vec![
                server("daemon0", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("daemon1", true, vec![fetch(1, false), wait(1), commit(1, 4096, false), wait(1), Op::Exit]),
                server("helper", false, vec![reg(0, 0), unreg(0, 0), Op::ThreadExit]),
                submit(&[Bio::Read, Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "concurrent-fetch",
            "Two server threads FETCH the same slot before the device is ready (B-5): the FETCH must \
             be serialized under ub->mutex with the ACTIVE re-check, or one cmd is lost and the \
             readiness count is wrong.",
            DevConfig { copy: CopyMode::Copy, depth: 2, ..DevConfig::default() },
            vec![
                server("daemonA", true, vec![fetch(0, true), wait(0), Op::Exit]),
                server("daemonB", true, vec![fetch(0, true), fetch(1, true), wait(1), Op::Exit]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "recovery-reissue-abort",
            "USER_RECOVERY_REISSUE with a zero-copy buffer registered when the server exits (B-6): the \
             release work aborts the server-owned request while the ring, which did not register the \
             char device as a fixed file, still holds the buffer; STOP_DEV then fails requeued \
             requests. The request must not end before its buffer is released.",
            DevConfig { recovery: Recovery::Reissue, ..zc() },
            vec![
                server("daemon", false, vec![fetch(0, false), wait(0), reg(0, 0), Op::Exit]),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "fake-timeout-zc",
            "fail_io_timeout injection on a zero-copy request with a daemon-registered buffer (B-11): \
             the commit must still drop the server's reference (INIT − trb) so the buffer release \
             settles the count; only the final end is skipped.",
            DevConfig { fake_timeout: true, ..zc() },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), reg(0, 0), commit(0, 4096, false), unreg(0, 0), Op::Exit]),
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "need-get-data-fail",
            "NEED_GET_DATA whose copy fails once (B-10): the slot must hold the new cmd (ACTIVE) before \
             the request is requeued, or the re-dispatch reads a request pointer as io->cmd.",
            DevConfig { copy: CopyMode::Copy, need_get_data: true, get_data_fails: true, ..DevConfig::default() },
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
                        commit(0, 4096, false),
                        wait(0),
                        Op::Exit,
                    ],
                ),
                submit(&[Bio::Write]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "fetch-without-buffer",
            "A copy-mode FETCH without a buffer (B-12), and the server may be killed while it waits: \
             the FETCH must fail with -EINVAL, not be queued without arming the slot (a cmd no cancel \
             can find: ring exit never ends, L3).",
            DevConfig { copy: CopyMode::Copy, ..DevConfig::default() },
            vec![server("daemon", true, vec![fetch(0, false), wait(0), Op::Exit]), ActorSpec::Killer, control(&[StartDev])],
        ),
        sc(
            "cancel-vs-dispatch",
            "Copy mode, two reads, the server may be SIGKILLed at any time: ring-exit cancel races \
             queue_rq (canceling set under quiesce), the dispatch task work (run from the fallback \
             kworker once the task exits) and the release work's abort.",
            DevConfig { copy: CopyMode::Copy, ..DevConfig::default() },
            vec![
                server("daemon", true, vec![fetch(0, true), wait(0), commit(0, 4096, true), wait(0), Op::Exit]),
                ActorSpec::Killer,
                submit(&[Bio::Read, Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "auto-buf-reg",
            "AUTO_BUF_REG: dispatch registers the request buffer in the FETCH's ring (trb = 1) and the \
             next COMMIT on that ring unregisters it (K72: before ublk_sub_req_ref, so the release \
             takes the daemon fast path; POST: after, so it takes the atomic put). On the second \
             request the daemon unregisters the auto buffer itself before committing.",
            DevConfig { copy: CopyMode::AutoBufReg, ..DevConfig::default() },
            vec![
                server(
                    "daemon",
                    true,
                    vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), unreg(0, 0), commit(0, 4096, false), wait(0), Op::Exit],
                ),
                submit(&[Bio::Read, Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "user-copy-daemon-and-helper",
            "USER_COPY: the daemon copies on its own task (K72: no reference taken, slot must be \
             OWNED) while a helper's pread takes a reference through the tag lookup, racing the \
             commit: the request completes when the last of commit and the helper's put happens.",
            DevConfig { copy: CopyMode::UserCopy, ..DevConfig::default() },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), Op::user_copy(Q, 0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("helper", false, vec![Op::user_copy(Q, 0), Op::ThreadExit]),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "per-io-daemons-stress",
            "Two tags served by two per-io daemons, two concurrent readers, an offload thread \
             registering both requests' buffers, and a SIGKILL of the server at any moment: the \
             largest built-in configuration (the benchmark scenario).",
            DevConfig { depth: 2, table_size: 2, ..zc() },
            vec![
                server("daemon0", true, vec![fetch(0, false), wait(0), reg(0, 0), unreg(0, 0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("daemon1", true, vec![fetch(1, false), wait(1), commit(1, 4096, false), wait(1), Op::Exit]),
                server("helper", false, vec![reg(0, 0), reg(1, 1), unreg(0, 0), unreg(1, 1), Op::ThreadExit]),
                ActorSpec::Killer,
                submit(&[Bio::Read]),
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "thread-exit-before-start",
            "Per-io daemons; one daemon thread FETCHes its tag, closes its ring and exits (the ring \
             exit cancels its uring_cmd: canceling set, CANCELED set, io->cmd claimed) before the \
             other thread's FETCH makes the device ready. The readiness transition clears canceling \
             (K72 ublk_mark_io_ready) / CANCELED (POST ublk_reset_io_flags), START_DEV succeeds, and \
             a request for the exited thread's tag is dispatched through the canceled cmd (O-6; \
             confirmed on Debian 7.2.13: NULL pointer dereference in ublk_queue_rq).",
            DevConfig { depth: 2, ..zc() },
            vec![
                server("daemon0", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("daemon1", true, vec![fetch(1, false), Op::CloseRing, Op::ThreadExit]),
                submit(&[Bio::Read]),
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "thread-exit-ring-open",
            "As thread-exit-before-start, but the exiting thread leaves its ring open (the process \
             holds the fd): io_uring does not cancel its FETCH, the device starts, a request for its \
             tag is dispatched to task work that runs in fallback mode and fails it with -EIO, and \
             STOP_DEV's ublk_cancel_dev completes the FETCH with -ENODEV (all as measured on 7.2).",
            DevConfig { depth: 2, ..zc() },
            vec![
                server("daemon0", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("daemon1", true, vec![fetch(1, false), Op::ThreadExit]),
                submit(&[Bio::Read]),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "exit-before-unregister",
            "The daemon commits while its own registered buffer still holds the request (legal since \
             p09: it unregisters afterwards), and the server may be killed in between. The exiting \
             ring's cancel skips the slot because its request is started; the request waits for the \
             buffer, which io_uring releases only when it frees the ring — after the cancel loop \
             (O-7, own analysis).",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), reg(0, 0), commit(0, 4096, false), unreg(0, 0), wait(0), Op::Exit]),
                ActorSpec::Killer,
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "ring-exit-slot-states",
            "Two tags: one slot has a request the server owns (dispatched, not committed), the other \
             only an armed FETCH, when the daemon exits. Ring exit must complete the idle FETCH with \
             UBLK_IO_RES_ABORT and skip the owned slot; the release work must then fail the owned \
             request and stop the device (L2, L3, L4). The daemon thread is a strand per tag: the \
             request takes either tag, and the strand that gets it exits.",
            DevConfig { depth: 2, ..zc() },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), Op::Exit]),
                strand("daemon/t1", 0, vec![fetch(1, false), wait(1), Op::Exit]),
                submit(&[Bio::Read]),
                control(&[StartDev]),
            ],
        ),
        sc(
            "stop-after-server-exit",
            "STOP_DEV issued while (or after) the server exits without committing its request: \
             del_gendisk waits for the request, which only the release work's abort can end (L5).",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), Op::Exit]),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "stop-with-fd-held",
            "As stop-after-server-exit, but another process holds a reference to /dev/ublkcN and may \
             never close it: the release work never runs, so the dead server's request is never \
             aborted and STOP_DEV never returns (O-1, open in 7.2).",
            zc(),
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), Op::Exit]),
                ActorSpec::FdHolder,
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
        sc(
            "recovery-new-server",
            "USER_RECOVERY_REISSUE: the server exits while it owns a request; the release work \
             requeues it and parks the device QUIESCED; START_USER_RECOVERY; a new server process \
             opens /dev/ublkcN and FETCHes; END_USER_RECOVERY kicks the held request to it; then \
             STOP_DEV. The request must end exactly once: served by the new server, or failed with \
             -EIO if STOP_DEV's force abort wins the race with the requeue work (L1, L2). The requeue \
             work may also hand it to the new server before END_USER_RECOVERY: K72 clears canceling \
             as soon as the queue is ready again.",
            DevConfig { copy: CopyMode::Copy, recovery: Recovery::Reissue, ..DevConfig::default() },
            vec![
                server("daemon", true, vec![fetch(0, true), wait(0), Op::Exit]),
                ActorSpec::RecoveryServer {
                    name: "new-daemon".into(),
                    fixed_file: true,
                    prog: vec![fetch(0, true), wait(0), commit(0, 4096, true), wait(0), Op::Exit],
                },
                submit(&[Bio::Read]),
                control(&[StartDev, CtrlOp::StartUserRecovery, CtrlOp::EndUserRecovery, StopDev]),
            ],
        ),
        sc(
            "recovery-end-without-start",
            "USER_RECOVERY_REISSUE, zero copy (no buffer registered): the server exits while it owns \
             a request, which the release work requeues and holds. The recovery tool issues \
             START_USER_RECOVERY once and ignores its answer (-EBUSY while the old server's file is \
             still open, CVE-2026-68173's case); the new server opens /dev/ublkcN once it is free, \
             FETCHes and sends END_USER_RECOVERY, which must wait until every io is fetched before it \
             kicks the held request to it (B-18). No STOP_DEV: the request must reach the new \
             server (L1).",
            DevConfig { recovery: Recovery::Reissue, ..zc() },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), Op::Exit]),
                ActorSpec::RecoveryServer {
                    name: "new-daemon".into(),
                    fixed_file: true,
                    prog: vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit],
                },
                submit(&[Bio::Read]),
                control(&[StartDev, CtrlOp::StartUserRecoveryOnce, CtrlOp::EndUserRecovery]),
            ],
        ),
        sc(
            "stale-pointer-window",
            "The residual window of __ublk_check_and_get_req after p02 (spec §5.3, O-5): an offload \
             thread loads tags->rqs[tag]; before its refcount_inc_not_zero on ublk_io, that request \
             completes, an elevator switch frees its memory, and a new request takes the tag and is \
             dispatched (ref = INIT again), so the increment succeeds and the started/tag check reads \
             the freed request.",
            DevConfig { elevator: true, ..zc() },
            vec![
                server("daemon", true, vec![fetch(0, false), wait(0), commit(0, 4096, false), wait(0), commit(0, 4096, false), wait(0), Op::Exit]),
                server("helper", false, vec![reg(0, 0), unreg(0, 0)]),
                submit(&[Bio::Read]),
                submit(&[Bio::Read]),
                ActorSpec::Elevator,
                control(&[StartDev]),
            ],
        ),
        sc(
            "errno-table",
            "Sequential io commands in every slot situation the model distinguishes — before FETCH, \
             ACTIVE, OWNED, after COMMIT; on and off the daemon; bad ioctl type — for the errno \
             consequences of the series' reordering (spec §4.1).",
            zc(),
            vec![
                server(
                    "daemon",
                    true,
                    vec![
                        commit(0, 4096, false),
                        Op::BadType { q: 1, tag: 0 },
                        fetch(0, false),
                        reg(0, 0),
                        wait(0),
                        reg(0, 0),
                        reg(0, 0),
                        commit(0, 4096, false),
                        reg(0, 1),
                        unreg(0, 0),
                        fetch(0, false),
                        Op::Exit,
                    ],
                ),
                submit(&[Bio::Read]),
                control(&[StartDev, StopDev]),
            ],
        ),
    ].into_iter().chain(crate::scenarios::k612::all()).chain(crate::scenarios::multiq::all()).chain(crate::scenarios::quiesce::all()).chain(crate::scenarios::resize::all()).chain(crate::scenarios::small::all()).chain(crate::scenarios::found::all()).collect()
}

/// The scenarios named (all of them when none is): a command line's `-s` list.
pub fn select(names: &[String]) -> Result<Vec<Scenario>, String> {
    if names.is_empty() {
        return Ok(all());
    }
    names
        .iter()
        .map(|n| by_name(n).ok_or_else(|| format!("unknown scenario '{n}' (see `ublksim list`)")))
        .collect()
}

/// A built-in (or kept) scenario, else a generated configuration of the sweep by its name
/// (`g-d1-copy-perio-r-kill`), so `check -s` can re-check one configuration.
pub fn by_name(name: &str) -> Option<Scenario> {
    all()
        .into_iter()
        .chain(crate::scenarios::multiq::large())
        .find(|s| s.name == name)
        .or_else(|| crate::scenarios::sweep::by_name(name))
}

#[cfg(test)]
mod tests {
    use ublk_model::{Model, Preset};

    /// blk-mq gives a request any free driver tag: every built-in scenario's servers take
    /// their CQEs as they come (a strand per tag where one thread serves several), so none
    /// falls back to the lowest free tag (`Model::any_tag`).
    #[test]
    fn every_builtin_scenario_lets_a_request_take_any_free_tag() {
        for sc in super::all()
            .iter()
            .chain(&crate::scenarios::multiq::large())
        {
            for p in Preset::every() {
                if let Ok(m) = Model::new(sc, p.features()) {
                    assert!(m.any_tag, "{} on {p:?}: lowest free tag only", sc.name);
                }
            }
        }
    }
}
