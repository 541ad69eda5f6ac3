//! Known findings: violations a real kernel version has, which a scenario
//! is *expected* to report on that preset.  `check` prints them as KNOWN
//! (with the counterexample) and does not fail on them; if one disappears
//! the scenario FAILs, so a fix (or a model change that hides the bug) is
//! noticed.  Seeded bugs a user turns on are never KNOWN: they are FAILs.

use std::fmt;
use ublk_model::{Inv, Preset, Prop};

/// What a finding is: an invariant violation or a hang of a liveness property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Safety(Inv),
    Hang(Prop),
}

impl What {
    pub fn is_safety(self) -> bool {
        matches!(self, What::Safety(_))
    }
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Safety(i) => write!(f, "{i}"),
            What::Hang(p) => write!(f, "hang {p}"),
        }
    }
}

pub struct Known {
    pub scenario: &'static str,
    pub preset: Preset,
    pub what: What,
    pub bug: &'static str,
    pub reason: &'static str,
}

const B24: &str = "ring exit before the first START_DEV cancels the FETCH without setting canceling (POST's \
                   ublk_start_cancel returns early without a disk); START_DEV then dispatches into the \
                   canceled slot. Fixed by 1133b93fc7f6 (7.x), spec §7 B-24.";

const O6: &str = "own analysis, not reported upstream, confirmed on Debian 7.2.13 (scripts/vm/run.sh o6 \
                  --mode close: NULL pointer dereference in ublk_queue_rq): a per-io daemon thread \
                  closes its ring and exits after its FETCH and \
                  before the device is ready; the FETCH that then makes the device ready clears \
                  canceling (K72 ublk_mark_io_ready) or CANCELED (POST ublk_reset_io_flags) although \
                  the exited thread's cmd was canceled, so START_DEV succeeds and ublk_queue_cmd \
                  dispatches through a NULL (K72) / completed (POST) io->cmd.";

const O7: &str = "own analysis, not reported upstream: the server dies between COMMIT_AND_FETCH and \
                  UNREGISTER of a buffer registered in its own ring. ublk_cancel_cmd skips the slot \
                  because its request is started; the request waits for the buffer's last reference, \
                  which io_uring drops only in io_ring_ctx_free, after the cancel loop: ring exit and \
                  the request hang. Confirmed on Debian 7.2.13 (STOP_DEV and DEL_DEV never return).";

const O1: &str =
    "another process holds /dev/ublkcN: the release work (the only thing that aborts a dead \
                  server's requests since 82a8a30c581b) never runs, so the request never ends and \
                  STOP_DEV blocks in del_gendisk (spec §7.1 O-1, open in 7.2).";

const FAKE: &str = "fail_io_timeout fault injection drops the request's completion by design; a privileged \
                    device's ublk_timeout only re-arms the timer, and the exiting ring's cancel skips the \
                    slot of a started request, so the request (and the server's ring exit) never finish.";

const PRE_UNREG: &str =
    "before p09 an UNREGISTER after COMMIT is refused with -EBUSY, so the buffer is \
                         released only at ring teardown (the documented pre-6.17 rule: unregister \
                         before commit); STOP_DEV waits for the request meanwhile.";

const O5: &str = "own analysis (spec §5.3, O-5): __ublk_check_and_get_req loads tags->rqs[tag] before \
                  refcount_inc_not_zero(&io->ref); if meanwhile that request completes, an elevator \
                  switch frees it and a new request is dispatched on the tag, the increment succeeds \
                  and the started/tag check reads freed memory. Needs a full freeze and elevator \
                  switch inside a few instructions.";

const O8: &str = "own analysis of 6.12.118, not reported upstream: ublk_quiesce_work_fn drops ub->mutex \
                  after QUIESCED and only then walks ublk_cancel_dev; START_USER_RECOVERY (which needs \
                  QUIESCED and takes only ub->mutex, no flush of quiesce_work) reinitialises the queue, \
                  the new server FETCHes, and the still running walk completes the new FETCH with \
                  UBLK_IO_RES_ABORT; the next request is handed to that completed cmd.";

const B5_612: &str = "6.12 __ublk_ch_uring_cmd checks ACTIVE and fills the slot without a lock (only \
                      ublk_mark_io_ready takes ub->mutex), so two threads FETCHing one slot before the \
                      queue is ready both succeed and one cmd is lost (spec §7 B-5, fixed in 6.15 by \
                      b69b8edfb27d, not in 6.12.118).";

const B24_612: &str = "6.12 ublk_abort_requests returns before setting canceling when there is no disk, so a \
                       ring exit after the queue is ready but before START_DEV cancels the FETCH and \
                       START_DEV still succeeds; ublk_queue_rq hands the request to the completed cmd \
                       (the 6.12 form of B-24, 1133b93fc7f6 not in 6.12.118).";

const B1_612: &str = "6.12 keeps the user-copy kref in the request pdu (ublk_rq_data): \
                      ublk_check_and_get_req looks the request up by tag and kref_get_unless_zero \
                      touches it after an elevator switch freed it (B-1, fixed in 6.17 by f053751a413b).";

const B9: &str = "B-8's fix settles and resets the references of zero-copy slots only: the release work \
                  aborts a USER_COPY slot's request and leaves ref = INIT (WARN in ublk_queue_reinit); \
                  fixed in 6.19 by daa24603d9f0 (CVE-2025-71070).";

pub const KNOWN: &[Known] = &[
    Known { scenario: "small-server-exit-owned-user-copy", preset: Preset::Post, what: What::Safety(Inv::S4), bug: "B-9", reason: B9 },
    Known { scenario: "user-copy-vs-elevator", preset: Preset::K612, what: What::Safety(Inv::S1), bug: "B-1", reason: B1_612 },
    Known { scenario: "concurrent-fetch", preset: Preset::K612, what: What::Safety(Inv::S5), bug: "B-5", reason: B5_612 },
    Known { scenario: "cancel-vs-dispatch", preset: Preset::K612, what: What::Safety(Inv::S7), bug: "B-24", reason: B24_612 },
    Known { scenario: "small-user-copy-vs-elevator", preset: Preset::K612, what: What::Safety(Inv::S1), bug: "B-1", reason: B1_612 },
    Known { scenario: "small-concurrent-fetch", preset: Preset::K612, what: What::Safety(Inv::S5), bug: "B-5", reason: B5_612 },
    Known { scenario: "small-cancel-before-start", preset: Preset::K612, what: What::Safety(Inv::S7), bug: "B-24", reason: B24_612 },
    Known { scenario: "recovery-new-server", preset: Preset::K612, what: What::Safety(Inv::S7), bug: "O-8", reason: O8 },
    Known { scenario: "recovery-requeue-612", preset: Preset::K612, what: What::Safety(Inv::S7), bug: "O-8", reason: O8 },
    Known { scenario: "server-death-inflight", preset: Preset::K72, what: What::Hang(Prop::L2), bug: "O-1", reason: O1 },
    Known { scenario: "server-death-inflight", preset: Preset::Post, what: What::Hang(Prop::L2), bug: "O-1", reason: O1 },
    Known { scenario: "server-death-inflight", preset: Preset::Pre, what: What::Hang(Prop::L2), bug: "O-1", reason: O1 },
    Known { scenario: "stale-pointer-window", preset: Preset::K72, what: What::Safety(Inv::S1), bug: "O-5", reason: O5 },
    Known { scenario: "stale-pointer-window", preset: Preset::Post, what: What::Safety(Inv::S1), bug: "O-5", reason: O5 },
    Known { scenario: "exit-before-unregister", preset: Preset::K72, what: What::Hang(Prop::L2), bug: "O-7", reason: O7 },
    Known { scenario: "stop-with-fd-held", preset: Preset::K72, what: What::Hang(Prop::L2), bug: "O-1", reason: O1 },
    Known { scenario: "stop-with-fd-held", preset: Preset::Post, what: What::Hang(Prop::L2), bug: "O-1", reason: O1 },
    Known { scenario: "stop-with-fd-held", preset: Preset::Pre, what: What::Hang(Prop::L2), bug: "O-1", reason: O1 },
    Known { scenario: "fake-timeout-zc", preset: Preset::K72, what: What::Hang(Prop::L2), bug: "fake-timeout", reason: FAKE },
    Known { scenario: "fake-timeout-zc", preset: Preset::Post, what: What::Hang(Prop::L2), bug: "fake-timeout", reason: FAKE },
    Known { scenario: "daemon-unreg-after-commit", preset: Preset::Pre, what: What::Hang(Prop::L1), bug: "pre-p09 rule", reason: PRE_UNREG },
    Known { scenario: "errno-table", preset: Preset::Pre, what: What::Hang(Prop::L2), bug: "O-7", reason: O7 },
    Known { scenario: "thread-exit-before-start", preset: Preset::K72, what: What::Safety(Inv::S7), bug: "O-6", reason: O6 },
    Known { scenario: "thread-exit-before-start", preset: Preset::Post, what: What::Safety(Inv::S6), bug: "O-6", reason: O6 },
    Known { scenario: "thread-exit-before-start", preset: Preset::Pre, what: What::Safety(Inv::S6), bug: "O-6", reason: O6 },
    Known { scenario: "register-vs-server-exit", preset: Preset::Post, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "cancel-vs-dispatch", preset: Preset::Post, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "per-io-daemons-stress", preset: Preset::Post, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "register-vs-server-exit", preset: Preset::Pre, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "cancel-vs-dispatch", preset: Preset::Pre, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "per-io-daemons-stress", preset: Preset::Pre, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "exit-before-unregister", preset: Preset::Post, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "exit-before-unregister", preset: Preset::Pre, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "small-cancel-before-start", preset: Preset::Post, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known { scenario: "small-cancel-before-start", preset: Preset::Pre, what: What::Safety(Inv::S7), bug: "B-24", reason: B24 },
    Known {
        scenario: "user-copy-vs-elevator",
        preset: Preset::Pre,
        what: What::Safety(Inv::S1),
        bug: "B-1",
        reason: "the refcount lives in the request pdu: a user copy that looked the request up by tag \
                 increments it after an elevator switch freed the request (fixed by series patch 02).",
    },
    Known {
        scenario: "small-user-copy-vs-elevator",
        preset: Preset::Pre,
        what: What::Safety(Inv::S1),
        bug: "B-1",
        reason: "as user-copy-vs-elevator: the refcount lives in the request pdu, and the user copy \
                 increments it after an elevator switch freed the request (fixed by series patch 02).",
    },
    Known {
        scenario: "fake-timeout-zc",
        preset: Preset::Pre,
        what: What::Safety(Inv::S4),
        bug: "B-11",
        reason: "a faked timeout skips dropping the server's reference at COMMIT, so buffer releases can \
                 never settle the count (fixed in 6.17 by moving the check into __ublk_complete_rq).",
    },
    Known {
        scenario: "fetch-without-buffer",
        preset: Preset::Pre,
        what: What::Safety(Inv::S5),
        bug: "B-12",
        reason: "a copy-mode FETCH without a buffer is queued without arming the slot: no cancel can \
                 find the cmd (fixed by ublk_check_fetch_buf, 6.17).",
    },
];

/// The known finding for this scenario on this preset.  It makes the
/// verdict KNOWN only when exactly that finding is found (also with changed
/// switches: seeding one bug does not turn the version's other known
/// findings into failures).
pub fn lookup(scenario: &str, preset: Preset) -> Option<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.scenario == scenario && k.preset == preset)
}

/// Known findings a *simulation* can run into, recognised by the invariant
/// they break and the code that makes it the only explanation: with p02
/// (refcount in ublk_io) every other access to request memory happens with
/// the request known alive, so an S1 is the O-5 window.
pub fn sim_known(features: ublk_model::Features, inv: Inv) -> Option<(&'static str, &'static str)> {
    (inv == Inv::S1 && features.has(ublk_model::Sw::P02)).then_some(("O-5", O5))
}
