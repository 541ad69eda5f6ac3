//! The rows of the findings catalogue ([`crate::explore::findings`]): every seeded
//! bug and every finding of the model on real versions, with the signature patterns
//! and reasons their declarations share. The types and what each field means are in
//! `findings.rs`; this file is only the data, so a new finding is one row here.

use crate::explore::findings::*;
use ublk_model::{Inv, Preset, Prop, Sw::*};

use crate::explore::reasons::*;

/// Every finding, in the zoo's order.
pub const FINDINGS: &[Finding] = &[
    Finding {
        id: "B-1",
        kind: Kind::Seeded,
        fix: Some(P02),
        commit: Some("f053751a413b"),
        status: "fixed in 6.17 by series patch 02 (f053751a413b)",
        zoo: Some(Zoo {
            title: "use-after-free: the refcount lived in the freed request",
            preset: Preset::Pre,
            seeded: false,
            scenario: "user-copy-vs-elevator",
            tail: 4,
            story: "Before the series the reference count sat in the request's pdu. A user copy (or, after p09, an off-daemon REGISTER) finds the request by tag — a plain pointer — and only then takes a reference *inside* it. If the request completed and an elevator switch freed the scheduler's request pages in between, the increment lands in freed memory (S1).",
            fix: "series patch 02, \"ublk: remove struct ublk_rq_data\" (f053751a413b, 6.17): the count moves into `struct ublk_io`, which lives as long as the device; the lookup takes the reference there first and reads the request only if that succeeded.",
        }),
        seeded: &[Seeded { preset: Preset::Post, scenario: "register-vs-elevator", inv: Inv::S1, shuttle: false }, Seeded { preset: Preset::Post, scenario: "user-copy-vs-elevator", inv: Inv::S1, shuttle: false }],
        witness: Some(Witness { preset: Preset::Post, scenario: "small-user-copy-vs-elevator", inv: Inv::S1 }),
        known: &[
            Known { scenario: "user-copy-vs-elevator", what: What::Safety(Inv::S1), sig: sig("ublk_get_req_ref", "whose memory was freed"), on: Where { on: &[], off: &[P02, PerIoDaemon] }, reason: B1_612 },
            Known { scenario: "small-user-copy-vs-elevator", what: What::Safety(Inv::S1), sig: sig("ublk_get_req_ref", "whose memory was freed"), on: Where { on: &[], off: &[P02, PerIoDaemon] }, reason: B1_612 },
            Known { scenario: "user-copy-vs-elevator", what: What::Safety(Inv::S1), sig: sig("ublk_get_req_ref", "whose memory was freed"), on: Where { on: &[PerIoDaemon], off: &[P02] }, reason: B1_PRE },
            Known { scenario: "small-user-copy-vs-elevator", what: What::Safety(Inv::S1), sig: sig("ublk_get_req_ref", "whose memory was freed"), on: Where { on: &[PerIoDaemon], off: &[P02] }, reason: B1_PRE_SMALL },
        ],
    },
    Finding {
        id: "B-2",
        kind: Kind::Seeded,
        fix: Some(FixB2),
        commit: Some("f40139fde527"),
        status: "fixed in 6.15-rc (f40139fde527), backported to 6.12.y (spec §6.2: K615s has the race)",
        zoo: None,
        seeded: &[Seeded { preset: Preset::K72, scenario: "small-ring-close-vs-dispatch", inv: Inv::S5, shuttle: false }],
        witness: None,
        known: &[],
    },
    Finding {
        id: "B-5",
        kind: Kind::Seeded,
        fix: Some(FixB5),
        commit: Some("b69b8edfb27d"),
        status: "fixed in 6.15 (b69b8edfb27d), not in 6.12.118",
        zoo: Some(Zoo {
            title: "two FETCHes for one slot",
            preset: Preset::K72,
            seeded: true,
            scenario: "concurrent-fetch",
            tail: 3,
            story: "FETCH_REQ checked \"slot not ACTIVE\" outside any lock. Two server threads fetching the same tag both pass the check and both store their cmd; the first cmd is lost — no dispatch or cancel will ever complete it (S5) — and the slot is counted ready twice.",
            fix: "\"ublk: properly serialize all FETCH_REQs\" (b69b8edfb27d, 6.15): FETCH runs under `ub->mutex` with the ACTIVE re-check inside.",
        }),
        seeded: &[Seeded { preset: Preset::K72, scenario: "concurrent-fetch", inv: Inv::S5, shuttle: true }],
        witness: Some(Witness { preset: Preset::K72, scenario: "small-concurrent-fetch", inv: Inv::S5 }),
        known: &[
            Known { scenario: "concurrent-fetch", what: What::Safety(Inv::S5), sig: sig("ublk_fetch", "the slot holds another cmd"), on: Where { on: &[], off: &[FixB5] }, reason: B5_612 },
            Known { scenario: "small-concurrent-fetch", what: What::Safety(Inv::S5), sig: sig("ublk_fetch", "the slot holds another cmd"), on: Where { on: &[], off: &[FixB5] }, reason: B5_612 },
            Known { scenario: "concurrent-fetch", what: What::Safety(Inv::S9), sig: sig("ublk_fetch", "nr_io_ready is"), on: Where { on: &[], off: &[FixB5] }, reason: B5_612_READY },
            Known { scenario: "concurrent-fetch", what: What::Hang(Prop::L3), sig: sig("cycle: ublk_uring_cmd_cancel_fn: cmd's task is not ubq_daemon", "a cmd of an exiting ring"), on: Where { on: &[], off: &[FixB5, PerIoDaemon] }, reason: B5_612_CANCEL },
            // the same spin seen from the request it holds (found by the configuration sweep)
            Known { scenario: "", what: What::Hang(Prop::L2), sig: sig("cycle: ublk_uring_cmd_cancel_fn: cmd's task is not ubq_daemon", "a request is never ended"), on: Where { on: &[], off: &[FixB5, PerIoDaemon] }, reason: B5_612_CANCEL },
        ],
    },
    Finding {
        id: "B-6",
        kind: Kind::Seeded,
        fix: Some(FixB6),
        commit: Some("6ee6bd5d4fce"),
        status: "fixed in 6.15-rc2 (6ee6bd5d4fce), also in stable 6.12",
        zoo: Some(Zoo {
            title: "REISSUE abort requeued with the server's reference held",
            preset: Preset::Pre,
            seeded: true,
            scenario: "recovery-reissue-abort",
            tail: 4,
            story: "With USER_RECOVERY_REISSUE the abort of a dead server's request requeued it at once, without dropping the server's reference. The requeued request could then end while the dead server's ring still held a zero-copy buffer on it; the buffer's release later ran on a finished request (S3).",
            fix: "\"ublk: fix handling recovery & reissue in ublk_abort_queue()\" (6ee6bd5d4fce, 6.15-rc2): the abort drops the reference and requeues or fails only when it was the last.",
        }),
        seeded: &[Seeded { preset: Preset::Pre, scenario: "recovery-reissue-abort", inv: Inv::S3, shuttle: true }],
        witness: Some(Witness { preset: Preset::Pre, scenario: "small-recovery-reissue-abort", inv: Inv::S3 }),
        known: &[],
    },
    Finding {
        id: "B-7",
        kind: Kind::Seeded,
        fix: Some(FixB7),
        commit: Some("18461f2a02be"),
        status: "regression of the 6.15 merge window (d796cea7b9f3, ->queue_rqs), fixed in 6.15-rc2 (18461f2a02be); 6.12 never had it",
        zoo: None,
        seeded: &[
            Seeded { preset: Preset::K72, scenario: "recovery-new-server", inv: Inv::S10, shuttle: false },
            Seeded { preset: Preset::K72, scenario: "recovery-reissue-abort", inv: Inv::S10, shuttle: false },
        ],
        witness: None,
        known: &[],
    },
    Finding {
        id: "B-8",
        kind: Kind::Seeded,
        fix: Some(FixB8),
        commit: Some("c5c5eb24ed61"),
        status: "fixed in 6.17 (c5c5eb24ed61)",
        zoo: Some(Zoo {
            title: "release work does not wait for references to settle",
            preset: Preset::K72,
            seeded: true,
            scenario: "register-vs-server-exit",
            tail: 3,
            story: "When the last reference to /dev/ublkcN goes, the release work aborts what the dead server owned and resets the slots. Registered buffers may still sit in a ring's table at that moment; their release (`ublk_io_release`) would later run on a reset slot. Without the fix the release work also leaves the server's INIT share in `io->ref` after ending the request — the shortest counterexample the checker finds breaks S4 exactly there, before any buffer is involved.",
            fix: "\"ublk: avoid ublk_io_release() called after ublk char dev is closed\" (c5c5eb24ed61, 6.17): the release work reschedules itself until every slot's `ref + trb` is 0 or INIT, then forces both to 0 before aborting.",
        }),
        seeded: &[Seeded { preset: Preset::K72, scenario: "register-vs-server-exit", inv: Inv::S4, shuttle: true }],
        witness: Some(Witness { preset: Preset::K72, scenario: "small-server-exit-owned", inv: Inv::S4 }),
        known: &[],
    },
    Finding {
        id: "B-9",
        kind: Kind::Seeded,
        fix: Some(FixB9),
        commit: Some("daa24603d9f0"),
        status: "fixed in 6.19 (daa24603d9f0, CVE-2025-71070)",
        zoo: None,
        seeded: &[],
        witness: Some(Witness { preset: Preset::K72, scenario: "small-server-exit-owned-user-copy", inv: Inv::S4 }),
        known: &[
            // B-8's fix present (it settles zero copy only), B-9's absent
            Known { scenario: "small-server-exit-owned-user-copy", what: What::Safety(Inv::S4), sig: sig("ublk_ch_release_work_fn", "should be"), on: Where { on: &[FixB8], off: &[FixB9] }, reason: B9 },
        ],
    },
    Finding {
        id: "B-10",
        kind: Kind::Seeded,
        fix: Some(FixB10),
        commit: Some("4c8a951787ff"),
        status: "fixed in 6.16-rc4 (4c8a951787ff)",
        zoo: Some(Zoo {
            title: "NEED_GET_DATA failure leaves the slot unfilled",
            preset: Preset::K72,
            seeded: true,
            scenario: "need-get-data-fail",
            tail: 3,
            story: "When the copy of a WRITE's data failed, NEED_GET_DATA requeued the request but returned before storing the new cmd in the slot: the slot was not ACTIVE and held no cmd the driver could complete (S5); the re-issued request would be handed to a stale `io->cmd`.",
            fix: "\"ublk: setup ublk_io correctly in case of ublk_get_data() failure\" (4c8a951787ff, 6.16-rc4).",
        }),
        seeded: &[Seeded { preset: Preset::K72, scenario: "need-get-data-fail", inv: Inv::S5, shuttle: false }],
        witness: Some(Witness { preset: Preset::K72, scenario: "small-need-get-data-fail", inv: Inv::S5 }),
        known: &[],
    },
    Finding {
        id: "B-11",
        kind: Kind::Seeded,
        fix: Some(FixB11),
        commit: None,
        status: "fixed in 6.17",
        zoo: Some(Zoo {
            title: "fake timeout skips the reference drop",
            preset: Preset::K72,
            seeded: true,
            scenario: "fake-timeout-zc",
            tail: 3,
            story: "With the `fail_io_timeout` fault injection, series patch 10 returned early from COMMIT before `ublk_sub_req_ref`. After patch 11 that skip leaks the server's INIT share: buffer releases can never bring the count to 0 (S4).",
            fix: "\"ublk: move fake timeout logic into __ublk_complete_rq()\" (6.17): COMMIT always drops the share; only the final end is skipped.",
        }),
        seeded: &[Seeded { preset: Preset::K72, scenario: "fake-timeout-zc", inv: Inv::S4, shuttle: true }],
        witness: Some(Witness { preset: Preset::K72, scenario: "fake-timeout-zc", inv: Inv::S4 }),
        known: &[
            // zero copy (the scenario needs it) without the B-11 fix
            Known { scenario: "fake-timeout-zc", what: What::Safety(Inv::S4), sig: sig("ublk_ch_uring_cmd_local [COMMIT_AND_FETCH_REQ]", "should be"), on: Where { on: &[ZeroCopy], off: &[FixB11] }, reason: B11 },
            // 6.12 skips ublk_put_req_ref (the user-copy kref) under the fake timeout: found by
            // the configuration sweep
            Known { scenario: "", what: What::Safety(Inv::S4), sig: sig("ublk_ch_uring_cmd_local [COMMIT_AND_FETCH_REQ]", "should be"), on: Where { on: &[], off: &[FixB11, ZeroCopy] }, reason: B11_612 },
        ],
    },
    Finding {
        id: "B-12",
        kind: Kind::Seeded,
        fix: Some(FixB12),
        commit: None,
        status: "fixed in 6.17 (ublk_check_fetch_buf)",
        zoo: Some(Zoo {
            title: "FETCH without a buffer queued unarmed",
            preset: Preset::K72,
            seeded: true,
            scenario: "fetch-without-buffer",
            tail: 2,
            story: "In copy mode a FETCH must carry a buffer address. Without one, `ublk_fetch` returned 0 without filling the slot and the caller kept the cmd as if the slot were armed: a pending cmd no slot points to, which no cancel can find (S5; the ring exit would hang).",
            fix: "\"ublk: add helper of ublk_check_fetch_buf()\" (6.17): such a FETCH fails with -EINVAL.",
        }),
        seeded: &[Seeded { preset: Preset::K72, scenario: "fetch-without-buffer", inv: Inv::S5, shuttle: false }],
        witness: Some(Witness { preset: Preset::K72, scenario: "fetch-without-buffer", inv: Inv::S5 }),
        known: &[
            Known { scenario: "fetch-without-buffer", what: What::Safety(Inv::S5), sig: sig("ublk_fetch", "the slot holds nothing"), on: Where { on: &[], off: &[FixB12] }, reason: B12 },
        ],
    },
    Finding {
        id: "B-13",
        kind: Kind::Seeded,
        fix: Some(FixB13),
        commit: None,
        status: "in 6.17 (POST; the July-2025 \"store auto buffer register data into struct ublk_io\" refactor), \
                 fixed by K72's ublk_validate_io_buf (commit not located); found only by the s1 sweep's \
                 bad-descriptor quirk (g-d1-abr-perio-r-badautofetch)",
        zoo: None,
        // the generated configuration that shows it (no built-in scenario does)
        seeded: &[Seeded { preset: Preset::K72, scenario: "g-d1-abr-perio-r-badautofetch", inv: Inv::S6, shuttle: false }],
        witness: None,
        known: &[
            // POST has it (found by the configuration sweep)
            Known { scenario: "", what: What::Safety(Inv::S6), sig: sig("ublk_fetch", "so io_uring completes cmd c#, but slot # keeps it as its ACTIVE io->cmd"), on: Where { on: &[ZeroCopy], off: &[FixB13] }, reason: B13 },
        ],
    },
    Finding {
        id: "B-14",
        kind: Kind::Seeded,
        fix: Some(ReleaseWork),
        commit: Some("82a8a30c581b"),
        status: "fixed in 6.15; 6.12.118 tears down by the cancel fn and the timeout handler instead",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            // found by the configuration sweep on K612 (g-d1-copy-perio-r-ringclose)
            Known { scenario: "", what: What::Hang(Prop::L2), sig: sig("dead end", "a request is never ended").fake_timeout(false), on: Where { on: &[], off: &[ReleaseWork] }, reason: B14_612 },
            // the same with a recovery server still to come (its threads count as the live
            // server, so the property is L1): found by the simulator on K612
            Known { scenario: "", what: What::Hang(Prop::L1), sig: sig("dead end", "a request is never ended").fake_timeout(false).recovering_or_not(), on: Where { on: &[], off: &[ReleaseWork] }, reason: B14_612 },
        ],
    },
    Finding {
        id: "B-24",
        kind: Kind::Seeded,
        fix: Some(CancelNoDisk),
        commit: Some("1133b93fc7f6"),
        status: "fixed in 7.x (1133b93fc7f6), not in 6.12.118 (reproduced there by confirm: NULL pointer dereference / general protection fault), PRE or POST",
        zoo: Some(Zoo {
            title: "no canceling when a ring exits before START_DEV",
            preset: Preset::K72,
            seeded: true,
            scenario: "cancel-vs-dispatch",
            tail: 4,
            story: "A ring exit before the first START_DEV cancels the FETCH, but `ublk_start_cancel` returned early without a disk and never set `canceling`. START_DEV still succeeds, and `ublk_queue_rq` hands the first request to the canceled, completed cmd (S7).",
            fix: "\"ublk: set canceling flag even when disk is not allocated\" (1133b93fc7f6, 7.x). PRE and POST have the bug.",
        }),
        seeded: &[Seeded { preset: Preset::K72, scenario: "cancel-vs-dispatch", inv: Inv::S7, shuttle: true }],
        witness: Some(Witness { preset: Preset::K72, scenario: "small-cancel-before-start", inv: Inv::S7 }),
        known: &[
            Known { scenario: "cancel-vs-dispatch", what: What::Safety(Inv::S7), sig: B24_SIG, on: Where { on: &[], off: &[CancelNoDisk, PerIoDaemon] }, reason: B24_612 },
            Known { scenario: "small-cancel-before-start", what: What::Safety(Inv::S7), sig: B24_SIG, on: Where { on: &[], off: &[CancelNoDisk, PerIoDaemon] }, reason: B24_612 },
            Known { scenario: "register-vs-server-exit", what: What::Safety(Inv::S7), sig: B24_SIG, on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk] }, reason: B24 },
            Known { scenario: "cancel-vs-dispatch", what: What::Safety(Inv::S7), sig: B24_SIG, on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk] }, reason: B24 },
            Known { scenario: "per-io-daemons-stress", what: What::Safety(Inv::S7), sig: B24_SIG, on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk] }, reason: B24 },
            Known { scenario: "exit-before-unregister", what: What::Safety(Inv::S7), sig: B24_SIG, on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk] }, reason: B24 },
            Known { scenario: "small-cancel-before-start", what: What::Safety(Inv::S7), sig: B24_SIG, on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk] }, reason: B24 },
            Known { scenario: "thread-exit-before-start", what: What::Safety(Inv::S5), sig: sig("ublk_dispatch_req", "a second time").not_recovering(), on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk] }, reason: B24_AFTER },
            // found by the configuration sweep: with user recovery the release work resets the
            // slot (io->cmd NULL) and the requeued request is dispatched through it
            Known { scenario: "", what: What::Safety(Inv::S7), sig: sig("ublk_queue_cmd", "has no armed cmd").stopped_before_start(false), on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk, FetchClearsCanceled] }, reason: B24_RECOVERY },
            // found by the sweep's recovery tool that ignores START_USER_RECOVERY's -EBUSY
            // (kill-startonce, kill-starttwice): B-24's dispatch into the canceled cmd, while
            // the new server has opened the device
            Known { scenario: "", what: What::Safety(Inv::S7), sig: sig("ublk_queue_cmd", "which was already completed").recovering(), on: Where { on: &[PerIoDaemon], off: &[CancelNoDisk] }, reason: B24_RECOVERY_TOOL },
        ],
    },
    Finding {
        id: "B-17",
        kind: Kind::Seeded,
        fix: Some(FixB17),
        commit: Some("25966fc09769"),
        status: "fixed in 7.0-rc4 (25966fc09769, CVE-2026-43364: affected 6.14 to 6.19), stable 6.18.y; PRE and POST have it, 6.12 has no UPDATE_SIZE",
        zoo: None,
        seeded: &[Seeded { preset: Preset::K72, scenario: "update-size-without-disk", inv: Inv::S12, shuttle: false }],
        witness: None,
        known: &[
            Known { scenario: "update-size-without-disk", what: What::Safety(Inv::S12), sig: sig("ublk_ctrl_set_size", "no disk"), on: Where { on: &[UpdateSize], off: &[FixB17] }, reason: B17 },
        ],
    },
    Finding {
        id: "B-18",
        kind: Kind::Seeded,
        fix: Some(FixB18),
        commit: Some("432a9b2780c0"),
        status: "fixed in 7.2-rc4 (432a9b2780c0, CVE-2026-68173: affected 6.15 to 7.1); PRE and POST have it",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            // the completion wait (before 432a9b2780c0); 6.12's own recovery path is not modelled with it
            Known { scenario: "recovery-end-without-start", what: What::Hang(Prop::L1), sig: sig("dead end", "a request is never ended").fake_timeout(false).recovering(), on: Where { on: &[ReleaseWork], off: &[FixB18] }, reason: B18 },
        ],
    },
    Finding {
        id: "B-24c",
        kind: Kind::Seeded,
        fix: Some(FixB24c),
        commit: Some("e58f5142f883"),
        status: "fixed in 6.11-rc7 (e58f5142f883), in every preset; 6.15 rewrote START_USER_RECOVERY (no reset), so only 6.12's path can show it (spec §7 B-24, third item)",
        zoo: None,
        seeded: &[Seeded { preset: Preset::K612, scenario: "recovery-start-twice", inv: Inv::S9, shuttle: false }],
        witness: None,
        known: &[],
    },
    Finding {
        id: "O-1",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "open in 7.2 (spec §7.1)",
        zoo: Some(Zoo {
            title: "a dead server's request waits for another process's close",
            preset: Preset::K72,
            seeded: false,
            scenario: "stop-with-fd-held",
            tail: 4,
            story: "Only the release work — run at the *last* close of /dev/ublkcN — aborts a dead server's requests. If another process holds a reference to the char device (a forked helper, a dup), it never runs: the request never ends and STOP_DEV waits in `del_gendisk` forever (hang L2). Found on every preset.",
            fix: "open in 7.2 (spec §7.1); a prototype fix exists outside the tree.",
        }),
        seeded: &[],
        witness: None,
        known: &[
            // only the release work (82a8a30c581b) aborts a dead server's requests
            Known { scenario: "server-death-inflight", what: What::Hang(Prop::L2), sig: O1_SIG, on: Where { on: &[ReleaseWork], off: &[] }, reason: O1 },
            Known { scenario: "stop-with-fd-held", what: What::Hang(Prop::L2), sig: O1_SIG, on: Where { on: &[ReleaseWork], off: &[] }, reason: O1 },
        ],
    },
    Finding {
        id: "O-5",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "predicted by the spec (§5.3), found by the simulator; needs a full freeze and elevator switch inside a few instructions",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            // the lookup by tag then refcount in ublk_io: p02's code
            Known { scenario: "stale-pointer-window", what: What::Safety(Inv::S1), sig: sig("__ublk_check_and_get_req", "whose memory was freed"), on: Where { on: &[P02], off: &[] }, reason: O5 },
            // the failing check's put completes the stale request (simulator, elevator devices)
            Known { scenario: "", what: What::Safety(Inv::S2), sig: sig("__ublk_check_and_get_req: fail_put", "which was already ended"), on: Where { on: &[P02], off: &[] }, reason: O5_PUT },
            // the put completes a request in flight on another slot whose server registered
            // its buffer (simulator: K72 zero copy, seed 297, session 6)
            Known { scenario: "", what: What::Safety(Inv::S3), sig: sig("__ublk_check_and_get_req: fail_put", "registered buffer(s) still reference it"), on: Where { on: &[P02], off: &[] }, reason: O5_PUT },
            Known { scenario: "", what: What::Safety(Inv::S2), sig: sig("ublk_queue_cmd", "lost its driver tag"), on: Where { on: &[P02], off: &[] }, reason: O5_PUT },
            Known { scenario: "", what: What::Safety(Inv::S6), sig: sig("ublk_cmd_tw_cb: ublk_dispatch_req", "is OWNED_BY_SRV but io->req is not its started request"), on: Where { on: &[P02], off: &[] }, reason: O5_PUT },
            // the request the failing check's put completes is in flight on another slot, which
            // is left OWNED_BY_SRV with ref INIT and no request (simulator: K72 user copy, seed 99
            // of a 100-seed sweep, session 6)
            Known { scenario: "", what: What::Safety(Inv::S4), sig: sig("__ublk_check_and_get_req: started/tag check", "should be"), on: Where { on: &[P02], off: &[] }, reason: O5_PUT },
        ],
    },
    Finding {
        id: "O-6",
        kind: Kind::Own,
        fix: Some(FixO6),
        commit: None,
        status: "confirmed on Debian 7.2.13 (NULL pointer dereference in ublk_queue_rq); not reported upstream",
        zoo: Some(Zoo {
            title: "readiness clears canceling set by a closed ring",
            preset: Preset::K72,
            seeded: false,
            scenario: "thread-exit-before-start",
            tail: 4,
            story: "With per-io daemon threads, one thread FETCHes, closes its ring and exits before the device is ready: the ring exit sets `canceling` and cancels its cmd. The other thread's FETCH then makes the device ready, which clears `canceling` (K72 `ublk_mark_io_ready`); START_DEV succeeds and a request for the exited thread's tag is handed to a NULL `io->cmd` (S7). Confirmed on Debian 7.2.13 (NULL pointer dereference in `ublk_queue_rq`).",
            fix: "not reported upstream; the model's proposal is the switch `fix-o6` (see docs/howto.md).",
        }),
        seeded: &[],
        witness: None,
        known: &[
            // K72's readiness clears canceling: NULL io->cmd (S7); else CANCELED is cleared (S6)
            Known { scenario: "thread-exit-before-start", what: What::Safety(Inv::S7), sig: sig("ublk_queue_cmd", "has no armed cmd").live_server().stopped_before_start(false), on: Where { on: &[PerIoDaemon, FetchClearsCanceled], off: &[FixO6] }, reason: O6 },
            Known { scenario: "thread-exit-before-start", what: What::Safety(Inv::S6), sig: sig("", "is ACTIVE but io->cmd is not a pending cmd").stopped_before_start(false), on: Where { on: &[PerIoDaemon], off: &[FixO6, FetchClearsCanceled] }, reason: O6 },
            Known { scenario: "thread-exit-before-start", what: What::Safety(Inv::S5), sig: sig("ublk_dispatch_req", "io->cmd does not hold a cmd").live_server().not_canceling(), on: Where { on: &[PerIoDaemon, FetchClearsCanceled], off: &[FixO6] }, reason: O6_AFTER },
        ],
    },
    Finding {
        id: "O-14",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "found by the configuration sweep; reported upstream by Josef Bacik on 2026-09-28 (route 1 of \"ublk: fix dispatch to canceled io commands\"), not in 7.2.13",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            Known { scenario: "", what: What::Safety(Inv::S7), sig: sig("ublk_queue_cmd", "has no armed cmd").stopped_before_start(true), on: Where { on: &[], off: &[] }, reason: O14 },
            // 6.16/6.17: the canceled cmd is still in io->cmd, completed
            Known { scenario: "", what: What::Safety(Inv::S7), sig: sig("ublk_queue_cmd", "which was already completed").stopped_before_start(true), on: Where { on: &[], off: &[] }, reason: O14 },
            // 6.16/6.17: START_DEV's readiness clears CANCELED (ublk_reset_io_flags), so the
            // slot is ACTIVE over the completed cmd, and a later cancel completes it again (the
            // use-after-free of a freed io_uring request Bacik's cover letter names for kernels
            // before f7700a4415af)
            Known { scenario: "", what: What::Safety(Inv::S6), sig: sig("", "is ACTIVE but io->cmd is not a pending cmd").stopped_before_start(true), on: Where { on: &[], off: &[] }, reason: O14 },
            Known { scenario: "", what: What::Safety(Inv::S5), sig: sig("ublk_cancel_cmd", "a second time").stopped_before_start(true), on: Where { on: &[], off: &[] }, reason: O14 },
        ],
    },
    Finding {
        id: "O-7",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "confirmed on Debian 7.2.13 (STOP_DEV and DEL_DEV never return); not reported upstream",
        zoo: Some(Zoo {
            title: "server dies between COMMIT and UNREGISTER of its own buffer",
            preset: Preset::K72,
            seeded: false,
            scenario: "exit-before-unregister",
            tail: 5,
            story: "Since p09 the daemon may COMMIT while its own registered buffer still holds the request, and UNREGISTER afterwards. If it dies in between, the exiting ring's cancel loop skips the slot (its request is started), and the buffer that holds the request is released only when io_uring frees the ring — after that loop. The ring exit spins and the request never ends (hang L2, a lasso).",
            fix: "own analysis, not reported upstream; confirmed on Debian 7.2.13 by `ublksim conform` (STOP_DEV and DEL_DEV never return, later ADD_DEVs time out); no fix.",
        }),
        seeded: &[],
        witness: None,
        known: &[
            // p09 lets the daemon COMMIT before UNREGISTER (exploring past B-24's S7, the hang
            // shows on POST too)
            Known { scenario: "exit-before-unregister", what: What::Hang(Prop::L2), sig: O7_SIG, on: Where { on: &[P09], off: &[] }, reason: O7 },
            // before p09 the UNREGISTER after COMMIT is refused: the buffer waits for the ring exit
            Known { scenario: "errno-table", what: What::Hang(Prop::L2), sig: O7_SIG, on: Where { on: &[ZeroCopy], off: &[P09] }, reason: O7 },
            // the same spin when the daemon closes its ring (a live server) between COMMIT and
            // UNREGISTER: found by the simulator
            Known { scenario: "", what: What::Hang(Prop::L1), sig: O7_SIG, on: Where { on: &[ZeroCopy], off: &[] }, reason: O7 },
            // the same spin seen from the slot's re-armed cmd (L3), when another thread's
            // registration keeps the request's obligation excused: simulator, K72 zero copy,
            // seed 25 of a 100-seed sweep (session 6)
            Known { scenario: "", what: What::Hang(Prop::L3), sig: sig("cycle: ublk_cancel_cmd: ACTIVE / started-request check", "a cmd of an exiting ring is never completed").fake_timeout(false).buffer_held(), on: Where { on: &[ZeroCopy, P09], off: &[] }, reason: O7 },
        ],
    },
    Finding {
        id: "O-8",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "own analysis of 6.12.118, not reproduced on a real kernel",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            // 6.12's quiesce work (no release work)
            Known { scenario: "recovery-new-server", what: What::Safety(Inv::S7), sig: O8_SIG, on: Where { on: &[], off: &[ReleaseWork] }, reason: O8 },
            Known { scenario: "recovery-requeue-612", what: What::Safety(Inv::S7), sig: O8_SIG, on: Where { on: &[], off: &[ReleaseWork] }, reason: O8 },
            Known { scenario: "recovery-new-server", what: What::Safety(Inv::S5), sig: sig("ublk_cancel_cmd", "which holds no cmd").recovering(), on: Where { on: &[], off: &[ReleaseWork] }, reason: O8_AFTER },
            Known { scenario: "recovery-new-server", what: What::Safety(Inv::S5), sig: sig("ublk_dispatch_req", "a second time").recovering(), on: Where { on: &[], off: &[ReleaseWork] }, reason: O8_AFTER },
        ],
    },
    Finding {
        id: "O-10",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "confirmed on Debian 7.2.13 (NULL pointer dereference in ublk_queue_rq, 13 of 13 runs); not reported upstream",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            // a ready queue's new daemon closes its ring during the recovery: no canceling
            Known { scenario: "two-queues-recovery-ring-close", what: What::Safety(Inv::S7), sig: sig("ublk_queue_cmd", "has no armed cmd").recovering(), on: Where { on: &[FetchClearsCanceled], off: &[] }, reason: O10 },
            Known { scenario: "two-queues-recovery-restart", what: What::Safety(Inv::S7), sig: sig("ublk_queue_cmd", "has no armed cmd").recovering(), on: Where { on: &[FetchClearsCanceled], off: &[] }, reason: O10 },
            Known { scenario: "two-queues-recovery-ring-close", what: What::Safety(Inv::S5), sig: sig("ublk_dispatch_req", "io->cmd does not hold a cmd").recovering(), on: Where { on: &[FetchClearsCanceled], off: &[] }, reason: O10_AFTER },
            // 6.16/6.17: no claim of io->cmd, so the unquiesced cancel and the dispatch both complete it
            Known { scenario: "two-queues-recovery-ring-close", what: What::Safety(Inv::S5), sig: sig("ublk_dispatch_req", "a second time").recovering(), on: Where { on: &[ReleaseWork], off: &[FetchClearsCanceled] }, reason: O10_POST },
        ],
    },
    Finding {
        id: "O-13",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "own analysis of the 6.16/6.17 code (PRE, POST), not tried on a real kernel (no such image here); 7.2 clears CANCELED at each FETCH",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            Known { scenario: "two-queues-recovery-restart", what: What::Hang(Prop::L3), sig: O13_SIG, on: Where { on: &[ReleaseWork], off: &[FetchClearsCanceled] }, reason: O13 },
            Known { scenario: "two-queues-recovery-ring-close", what: What::Hang(Prop::L3), sig: O13_SIG, on: Where { on: &[ReleaseWork], off: &[FetchClearsCanceled] }, reason: O13 },
        ],
    },
    Finding {
        id: "O-11",
        kind: Kind::Own,
        fix: None,
        commit: None,
        status: "confirmed on Debian 6.12.118 (WARN in ublk_queue_reinit, then NULL pointer dereference, 13 of 13 runs); not reported upstream",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            Known { scenario: "two-queues-recovery-restart", what: What::Safety(Inv::S9), sig: sig("ublk_queue_reinit", "while another queue is ready"), on: Where { on: &[FixB24c], off: &[ReleaseWork] }, reason: O11 },
        ],
    },
    Finding {
        id: "O-12",
        kind: Kind::Own,
        fix: Some(FixO12),
        commit: None,
        status: "confirmed on Debian 7.2.13 (QUIESCE_DEV returns 0 within 50 ms with a 2 s timeout and every io busy, 5 of 5 runs; no ABORT); not reported upstream",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            Known { scenario: "quiesce-busy-queue", what: What::Safety(Inv::S11), sig: sig("ublk_wait_for_idle_io", "has a started request"), on: Where { on: &[QuiesceDev], off: &[FixO12] }, reason: O12 },
        ],
    },
    Finding {
        id: "fake-timeout",
        kind: Kind::ByDesign,
        fix: None,
        commit: None,
        status: "by design (fail_io_timeout fault injection)",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            // by design; without the B-11 fix its S4 comes first
            Known { scenario: "fake-timeout-zc", what: What::Hang(Prop::L2), sig: FAKE_SIG, on: Where { on: &[FixB11], off: &[] }, reason: FAKE },
            // the dropped completion hangs on every kernel (found by the sweep and the simulator)
            Known { scenario: "", what: What::Hang(Prop::L1), sig: FAKE_SIG, on: Where { on: &[], off: &[] }, reason: FAKE },
            Known { scenario: "", what: What::Hang(Prop::L2), sig: FAKE_SIG, on: Where { on: &[], off: &[] }, reason: FAKE },
            Known { scenario: "", what: What::Hang(Prop::L3), sig: FAKE_SIG, on: Where { on: &[], off: &[] }, reason: FAKE },
            Known { scenario: "", what: What::Hang(Prop::L4), sig: FAKE_SIG, on: Where { on: &[], off: &[] }, reason: FAKE },
            Known { scenario: "", what: What::Hang(Prop::L5), sig: FAKE_SIG, on: Where { on: &[], off: &[] }, reason: FAKE },
        ],
    },
    Finding {
        id: "pre-p09 rule",
        kind: Kind::ByDesign,
        fix: None,
        commit: None,
        status: "the documented pre-6.17 rule: unregister before commit",
        zoo: None,
        seeded: &[],
        witness: None,
        known: &[
            // zero copy before p09
            Known { scenario: "daemon-unreg-after-commit", what: What::Hang(Prop::L1), sig: sig("dead end", "a request is never ended"), on: Where { on: &[ZeroCopy], off: &[P09] }, reason: PRE_UNREG },
        ],
    },
];
