//! Known findings: violations a real kernel version has, which a scenario
//! is *expected* to report on that preset.  `check` prints them as KNOWN
//! (with the counterexample) and does not fail on them; if one disappears
//! the scenario FAILs, so a fix (or a model change that hides the bug) is
//! noticed.  Seeded bugs a user turns on are never KNOWN: they are FAILs.

use ublk_model::{Inv, Preset};

pub struct Known {
    pub scenario: &'static str,
    pub preset: Preset,
    pub inv: Inv,
    pub bug: &'static str,
    pub reason: &'static str,
}

const B24: &str = "ring exit before the first START_DEV cancels the FETCH without setting canceling (POST's \
                   ublk_start_cancel returns early without a disk); START_DEV then dispatches into the \
                   canceled slot. Fixed by 1133b93fc7f6 (7.x), spec §7 B-24.";

const O6: &str = "own analysis, not reported upstream: a per-io daemon thread exits after its FETCH and \
                  before the device is ready; the FETCH that then makes the device ready clears \
                  canceling (K72 ublk_mark_io_ready) or CANCELED (POST ublk_reset_io_flags) although \
                  the exited thread's cmd was canceled, so START_DEV succeeds and ublk_queue_cmd \
                  dispatches through a NULL / completed io->cmd. Not yet confirmed on a real kernel.";

pub const KNOWN: &[Known] = &[
    Known { scenario: "thread-exit-before-start", preset: Preset::K72, inv: Inv::S7, bug: "O-6", reason: O6 },
    Known { scenario: "thread-exit-before-start", preset: Preset::Post, inv: Inv::S6, bug: "O-6", reason: O6 },
    Known { scenario: "thread-exit-before-start", preset: Preset::Pre, inv: Inv::S6, bug: "O-6", reason: O6 },
    Known { scenario: "register-vs-server-exit", preset: Preset::Post, inv: Inv::S7, bug: "B-24", reason: B24 },
    Known { scenario: "cancel-vs-dispatch", preset: Preset::Post, inv: Inv::S7, bug: "B-24", reason: B24 },
    Known { scenario: "per-io-daemons-stress", preset: Preset::Post, inv: Inv::S7, bug: "B-24", reason: B24 },
    Known { scenario: "register-vs-server-exit", preset: Preset::Pre, inv: Inv::S7, bug: "B-24", reason: B24 },
    Known { scenario: "cancel-vs-dispatch", preset: Preset::Pre, inv: Inv::S7, bug: "B-24", reason: B24 },
    Known { scenario: "per-io-daemons-stress", preset: Preset::Pre, inv: Inv::S7, bug: "B-24", reason: B24 },
    Known {
        scenario: "user-copy-vs-elevator",
        preset: Preset::Pre,
        inv: Inv::S1,
        bug: "B-1",
        reason: "the refcount lives in the request pdu: a user copy that looked the request up by tag \
                 increments it after an elevator switch freed the request (fixed by series patch 02).",
    },
    Known {
        scenario: "fake-timeout-zc",
        preset: Preset::Pre,
        inv: Inv::S4,
        bug: "B-11",
        reason: "a faked timeout skips dropping the server's reference at COMMIT, so buffer releases can \
                 never settle the count (fixed in 6.17 by moving the check into __ublk_complete_rq).",
    },
    Known {
        scenario: "fetch-without-buffer",
        preset: Preset::Pre,
        inv: Inv::S5,
        bug: "B-12",
        reason: "a copy-mode FETCH without a buffer is queued without arming the slot: no cancel can \
                 find the cmd (fixed by ublk_check_fetch_buf, 6.17).",
    },
];

/// The known finding for this scenario on this preset, if the user did not
/// change the preset's switches.
pub fn lookup(scenario: &str, preset: Preset, unmodified: bool) -> Option<&'static Known> {
    if !unmodified {
        return None;
    }
    KNOWN
        .iter()
        .find(|k| k.scenario == scenario && k.preset == preset)
}
