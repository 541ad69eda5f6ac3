//! Kernel versions and patches as behaviour switches.
//!
//! A switch names one behavioural difference in `ublk_drv.c` (a patch of the
//! off-daemon series, a later fix, or a K72-only refinement), declared once in
//! the `switches!` table below.  A preset is a set of switches that matches
//! one kernel (the table in `kernels.rs`).  A seeded bug is the *absence* of
//! a fix switch: `--with B-5` turns the fix for B-5 off, restoring the old
//! behaviour, so a bug is found by exploring the old code, never by a flag
//! test in an invariant.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Declares the switches once: the enum (its discriminant is the switch's
/// bit in [`Features`], so the order is the serialized bit layout: append
/// new switches at the end), [`ALL_SWITCHES`] and each one's [`SwInfo`].
macro_rules! switches {
    ($( $(#[$doc:meta])* $v:ident = $name:literal, $kind:ident, $bug:expr, $title:expr; )*) => {
        /// One behavioural switch. `true` in a [`Features`] set means "the kernel has
        /// this code".
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[repr(u8)]
        pub enum Sw {
            $( $(#[$doc])* $v, )*
        }

        /// Every switch, in bit order.
        pub const ALL_SWITCHES: [Sw; [$(Sw::$v),*].len()] = [$(Sw::$v),*];

        impl Sw {
            pub fn info(self) -> SwInfo {
                match self {
                    $( Sw::$v => SwInfo { sw: self, name: $name, kind: SwKind::$kind, bug: $bug, title: $title }, )*
                }
            }
        }
    };
}

switches! {
    /// Series 02 "remove struct ublk_rq_data": the request refcount lives in
    /// `ublk_io` instead of the request pdu (fixes B-1).
    P02 = "p02", SeriesPatch, Some("B-1"),
        "ublk: remove struct ublk_rq_data";
    /// Series 03 "check cmd_op first": -EOPNOTSUPP before any other check.
    P03 = "p03", SeriesPatch, None,
        "ublk: check cmd_op first";
    /// Series 04 "handle UBLK_IO_FETCH_REQ earlier": FETCH before the task and
    /// flag checks; a second FETCH of an ACTIVE slot gets -EINVAL.
    P04 = "p04", SeriesPatch, None,
        "ublk: handle UBLK_IO_FETCH_REQ earlier";
    /// Series 06 "consolidate ACTIVE/OWNED_BY_SRV checks": one `!OWNED -> -EBUSY`.
    P06 = "p06", SeriesPatch, None,
        "ublk: consolidate UBLK_IO_FLAG_{ACTIVE,OWNED_BY_SRV} checks";
    /// Series 09 "allow UBLK_IO_(UN)REGISTER_IO_BUF on any task".
    P09 = "p09", SeriesPatch, None,
        "ublk: allow UBLK_IO_(UN)REGISTER_IO_BUF on any task";
    /// Series 11 "optimize UBLK_IO_REGISTER_IO_BUF on daemon task": no atomic,
    /// `task_registered_buffers++`.
    P11 = "p11", SeriesPatch, None,
        "ublk: optimize UBLK_IO_REGISTER_IO_BUF on daemon task";
    /// Series 12 "optimize UBLK_IO_UNREGISTER_IO_BUF on daemon task": the
    /// release callback decrements `task_registered_buffers` on the daemon.
    P12 = "p12", SeriesPatch, None,
        "ublk: optimize UBLK_IO_UNREGISTER_IO_BUF on daemon task";
    /// Series v2: "Restore check for zero copy support in ublk_unregister_io_buf()".
    V2UnregZc = "v2-unreg-zc-check", SeriesPatch, None,
        "v2: restore zero-copy check in ublk_unregister_io_buf()";
    /// Series v2: "Check for registered buffer count overflow".
    V2Overflow = "v2-trb-overflow-check", SeriesPatch, None,
        "v2: check for registered buffer count overflow";
    /// B-5 fix "properly serialize all FETCH_REQs": FETCH filled under `ub->mutex`
    /// with the ACTIVE re-check inside.
    FixB5 = "fix-b5", Fix, Some("B-5"),
        "ublk: properly serialize all FETCH_REQs (b69b8edfb27d)";
    /// B-6 fix "fix handling recovery & reissue in ublk_abort_queue()": abort drops
    /// the server's reference instead of requeueing with it held.
    FixB6 = "fix-b6", Fix, Some("B-6"),
        "ublk: fix handling recovery & reissue in ublk_abort_queue() (6ee6bd5d4fce)";
    /// B-8 fix "avoid ublk_io_release() called after ublk char dev is closed":
    /// the release work waits until refs settle (zero copy / auto-reg only).
    FixB8 = "fix-b8", Fix, Some("B-8"),
        "ublk: avoid ublk_io_release() called after ublk char dev is closed (c5c5eb24ed61)";
    /// B-9 fix "clean up user copy references on ublk server exit": the
    /// settle-and-reset also covers USER_COPY devices.
    FixB9 = "fix-b9", Fix, Some("B-9"),
        "ublk: clean up user copy references on ublk server exit (daa24603d9f0)";
    /// B-10 fix "setup ublk_io correctly in case of ublk_get_data() failure".
    FixB10 = "fix-b10", Fix, Some("B-10"),
        "ublk: setup ublk_io correctly in case of ublk_get_data() failure (4c8a951787ff)";
    /// B-11 fix "move fake timeout logic into __ublk_complete_rq()".
    FixB11 = "fix-b11", Fix, Some("B-11"),
        "ublk: move fake timeout logic into __ublk_complete_rq()";
    /// B-12 fix "add helper of ublk_check_fetch_buf()": FETCH without a buffer
    /// in copy mode fails with -EINVAL instead of returning queued-but-unarmed.
    FixB12 = "fix-b12", Fix, Some("B-12"),
        "ublk: add helper of ublk_check_fetch_buf()";
    /// K72 `ublk_cancel_cmd` takes and NULLs `io->cmd` under `cancel_lock`.
    CancelClaimsCmd = "cancel-claims-cmd", Refinement, None,
        "K72 ublk_cancel_cmd claims io->cmd under cancel_lock";
    /// K72 clears this slot's CANCELED at each FETCH (`ublk_mark_io_ready`).
    FetchClearsCanceled = "fetch-clears-canceled", Refinement, None,
        "K72 ublk_mark_io_ready clears the slot's CANCELED";
    /// K72 user copy on the io's daemon takes no reference.
    UserCopyDaemonFast = "user-copy-daemon-fast", Refinement, None,
        "K72 user copy on the daemon takes no reference";
    /// 1133b93fc7f6 "set canceling flag even when disk is not allocated".
    CancelNoDisk = "fix-b24", Fix, Some("B-24"),
        "ublk: set canceling flag even when disk is not allocated (1133b93fc7f6)";
    /// K72 COMMIT unregisters the old auto buffer *before* `ublk_sub_req_ref`
    /// (POST: after, so the release takes the atomic path).
    AutoUnregFirst = "auto-unreg-first", Refinement, None,
        "K72 COMMIT unregisters the auto buffer before ublk_sub_req_ref()";
    /// Proposed fix for the model's finding O-6 (not upstream code, in no
    /// preset): before the first START_DEV, `ublk_mark_io_ready` keeps the
    /// `canceling` / CANCELED a dying server's ring exit set.  The worked
    /// example of docs/howto.md.
    FixO6 = "fix-o6", Fix, Some("O-6"),
        "proposal (not upstream): ublk_mark_io_ready keeps canceling set by a ring exit before START_DEV";
    /// "ublk: have a per-io daemon instead of a per-queue daemon" (6.16):
    /// `io->task` per slot.  Without it (K612) one `ubq_daemon` per queue,
    /// set by the FETCH that makes the queue ready; every io command of
    /// another task gets -EINVAL, and the dispatch task work and the cancel
    /// fn compare against it.
    PerIoDaemon = "per-io-daemon", Upstream, None,
        "ublk: have a per-io daemon instead of a per-queue daemon (6.16)";
    /// "ublk: zc register/unregister bvec" (6.15, zero-copy series):
    /// REGISTER/UNREGISTER_IO_BUF exist, zero-copy and auto-buf-reg devices,
    /// and `ublk_user_copy` tests USER_COPY itself (-EACCES).  Without it
    /// (K612) those opcodes fall to the switch default (-EINVAL) and a user
    /// copy on a copy-mode device fails in `__ublk_check_and_get_req` (-EINVAL).
    ZeroCopy = "zero-copy", Upstream, None,
        "ublk: zc register/unregister bvec (6.15 zero-copy series)";
    /// "ublk: improve detection and handling of ublk server exit"
    /// (82a8a30c581b, 6.15) with "move device reset into ublk_ch_release()":
    /// teardown by the char-dev release work.  Without it (K612) the cancel
    /// fn's `ublk_abort_requests` and the timeout handler abort requests and
    /// schedule `stop_work` / `quiesce_work`; `ublk_ch_release` only clears
    /// OPEN; START_USER_RECOVERY reinitialises the queues.
    ReleaseWork = "release-work", Upstream, Some("B-14"),
        "ublk: improve detection and handling of ublk server exit (82a8a30c581b)";
    /// NEED_GET_DATA handled synchronously in the command (6.15/6.16,
    /// `ublk_get_data`).  Without it (K612) the command re-arms the slot and
    /// re-queues the request to task work (`ublk_handle_need_get_data`),
    /// which copies the data and completes the new cmd.
    SyncGetData = "sync-get-data", Upstream, None,
        "ublk: NEED_GET_DATA handled synchronously (ublk_get_data, 6.15/6.16)";
    /// "ublk: support device recovery without I/O queueing" (6.13):
    /// UBLK_F_USER_RECOVERY_FAIL_IO.
    RecoveryFailIo = "recovery-fail-io", Upstream, None,
        "ublk: support device recovery without I/O queueing (6.13)";
    /// B-2 fix "fix race between io_uring_cmd_complete_in_task and
    /// ublk_cancel_cmd" (6.15-rc, stable 6.12): `ublk_cancel_cmd` leaves
    /// the cmd alone while a started request owns the tag (its dispatch
    /// task work will complete the cmd, or abort the request).
    FixB2 = "fix-b2", Fix, Some("B-2"),
        "ublk: fix race between io_uring_cmd_complete_in_task and ublk_cancel_cmd (f40139fde527)";
    /// B-7 fix "don't fail request for recovery & reissue in case of
    /// ubq->canceling" (18461f2a02be, 6.15-rc2): `ublk_queue_rq` no longer
    /// fails a request in `ublk_prep_req` while `canceling` is set; it starts
    /// it and `__ublk_abort_rq` requeues it (recovery-queue mode).  6.12 never
    /// had the regression (its `ublk_queue_rq` calls `__ublk_abort_rq`).
    FixB7 = "fix-b7", Fix, Some("B-7"),
        "ublk: don't fail request for recovery & reissue in case of ubq->canceling (18461f2a02be)";
    /// B-13 fix: the auto-buf-reg descriptor in `sqe->addr` is validated
    /// (`ublk_validate_io_buf`) before FETCH fills the slot.  6.16 (PRE)
    /// handled the failure too (9172dbf3a6d3); 6.17's "store auto buffer
    /// register data into struct ublk_io" parsed it after `ublk_fill_io_cmd`.
    FixB13 = "fix-b13", Fix, Some("B-13"),
        "ublk: validate the auto-buf-reg descriptor before filling the slot (ublk_validate_io_buf)";
    /// "ublk_drv: fix NULL pointer dereference in ublk_ctrl_start_recovery()"
    /// (6.10, in 6.12): START_USER_RECOVERY fails with -EINVAL while no
    /// queue is ready (`!ub->nr_queues_ready`), instead of reinitialising a
    /// queue whose `ubq_daemon` a previous START already put and cleared.
    FixB24c = "fix-b24c", Fix, Some("B-24c"),
        "ublk_drv: fix NULL pointer dereference in ublk_ctrl_start_recovery() (e58f5142f883)";
    /// B-18 fix "wait on ublk_dev_ready() instead of ub->completion"
    /// (432a9b2780c0, 7.2-rc4, CVE-2026-68173): END_USER_RECOVERY waits on
    /// the readiness itself (`ublk_wait_dev_ready_and_lock`) instead of
    /// `ub->completion`, which only a successful START_USER_RECOVERY re-arms.
    FixB18 = "fix-b18", Fix, Some("B-18"),
        "ublk: wait on ublk_dev_ready() instead of ub->completion (432a9b2780c0, CVE-2026-68173)";
    /// 7.x `ublk_ctrl_start_dev`: GD_SUPPRESS_PART_SCAN is set before
    /// `add_disk` and the partition table is read by `partition_scan_work`,
    /// a kworker START_DEV does not wait for (not modelled: conformance
    /// devices set UBLK_F_NO_AUTO_PART_SCAN).  Without it (K612, and the
    /// 6.16/6.17 code PRE/POST stand for) `add_disk` → `disk_scan_partitions`
    /// reads sector 0 inside START_DEV, under `ub->mutex`, when every queue's
    /// daemon was CAP_SYS_ADMIN at its FETCH (`nr_privileged_daemon`); START_DEV
    /// returns only once that read has ended (a device's `part_scan`).
    AsyncPartScan = "async-part-scan", Upstream, None,
        "ublk: scan partitions in a kworker, not under ub->mutex in START_DEV (7.x)";
    /// `UBLK_U_CMD_QUIESCE_DEV` (`ublk_ctrl_quiesce_dev`, 6.16; the same code
    /// in 6.17 and 7.2).  Without it (K612) the command is -EOPNOTSUPP.
    QuiesceDev = "quiesce-dev", Upstream, None,
        "ublk: add feature UBLK_F_QUIESCE (ublk_ctrl_quiesce_dev, 6.16)";
    /// `UBLK_U_CMD_UPDATE_SIZE` (`ublk_ctrl_set_size`, 6.14).  Without it
    /// (K612) the command is -EOPNOTSUPP.
    UpdateSize = "update-size", Upstream, None,
        "ublk: Add UBLK_U_CMD_UPDATE_SIZE (98b995660bff, 6.14)";
    /// B-17 fix: UPDATE_SIZE answers -ENODEV while the device has no disk
    /// (before START_DEV, after STOP_DEV) instead of passing a NULL
    /// `ub->ub_disk` to `set_capacity_and_notify` (7.0-rc4, stable 6.18.y).
    FixB17 = "fix-b17", Fix, Some("B-17"),
        "ublk: fix NULL pointer dereference in ublk_ctrl_set_size() (25966fc09769, CVE-2026-43364)";
    /// Proposed fix for the model's finding O-12 (not upstream code, in no
    /// preset): `ublk_count_busy_req` counts the started requests it is
    /// called for (`blk_mq_tagset_busy_iter` calls it for nothing else), so
    /// QUIESCE_DEV's `ublk_wait_for_idle_io` waits (no timeout) until every
    /// queue has an io whose request is not started.
    FixO12 = "fix-o12", Fix, Some("O-12"),
        "proposal (not upstream): ublk_count_busy_req counts started requests, so QUIESCE_DEV waits for an idle io per queue";
    /// K72 `ublk_copy_user_pages` copies bvec by bvec (`copy_{to,from}_iter`)
    /// and returns the bytes copied: a length past the request's end is
    /// clamped.  Without it (K612, measured on 6.12.118) it pins the user
    /// pages (`iov_iter_get_pages2`, ≤ 32) and adds the pinned length to the
    /// count even where the request ended: a copy from inside the request
    /// returns its whole length.
    UserCopyBvec = "user-copy-bvec", Refinement, None,
        "K72 user copy counts the bytes copied per bvec (6.12 counts the pinned length)";
    /// 7.x `ublk_validate_user_pid`: START_DEV's and END_USER_RECOVERY's `data[0]` must be
    /// the tgid of the process that opened /dev/ublkcN (`ub->ublksrv_tgid`, -1 after
    /// `ublk_reset_ch_dev`) *as `find_vpid` resolves it*: a zombie server passes, a reaped
    /// one resolves to 0 and gets -EINVAL.  Without it (K612) only `data[0] <= 0` fails.
    /// 6.17 (POST) compares the number alone: [`Sw::PidEqualsOpener`].
    ValidatePid = "validate-pid", Refinement, None,
        "K72 ublk_validate_user_pid: data[0] must resolve (find_vpid) to the opener of /dev/ublkcN";
    /// 6.17 "ublk: validate ublk server pid" (c2c8089f325e, stable 6.16.1): START_DEV and
    /// END_USER_RECOVERY return -EINVAL unless `data[0]` is the number `ub->ublksrv_tgid`
    /// (the tgid of the process that opened /dev/ublkcN, -1 after `ublk_reset_ch_dev`); a
    /// dead server's pid still compares equal.  PRE (the series' base, before it) takes any
    /// positive pid; K72 resolves the pid first ([`Sw::ValidatePid`]).
    PidEqualsOpener = "pid-equals-opener", Upstream, None,
        "ublk: validate ublk server pid (c2c8089f325e, 6.17): data[0] must equal ub->ublksrv_tgid";
}

// A [`Features`] set has one bit per switch.
const _: () = assert!(ALL_SWITCHES.len() <= Features::CAPACITY);

/// What kind of change a switch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SwKind {
    SeriesPatch,
    Fix,
    Refinement,
    /// An upstream change older kernels (K612) lack.
    Upstream,
}

/// Static description of a switch for `ublksim list` and the docs.
pub struct SwInfo {
    pub sw: Sw,
    pub name: &'static str,
    pub kind: SwKind,
    /// The seeded bug this fix removes (turning the switch off restores it).
    pub bug: Option<&'static str>,
    pub title: &'static str,
}

impl Sw {
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_name(s: &str) -> Option<Sw> {
        ALL_SWITCHES
            .iter()
            .copied()
            .find(|w| w.name().eq_ignore_ascii_case(s))
    }

    /// The fix switch whose absence is seeded bug `id` ("B-5", "b5", "B5").
    pub fn for_bug(id: &str) -> Option<Sw> {
        let norm = |s: &str| s.to_ascii_uppercase().replace('-', "");
        let want = norm(id);
        ALL_SWITCHES
            .iter()
            .copied()
            .find(|w| w.info().bug.map(norm).as_deref() == Some(want.as_str()))
    }
}

/// Series patches that change no behaviour the model can observe; listed so a
/// reader knows they were considered, not forgotten.
pub const NON_BEHAVIOURAL_PATCHES: [(&str, &str); 7] = [
    ("p01", "use vmalloc for __queues: only changes which allocator can fail (ENOMEM at ADD_DEV)"),
    ("p05", "remove task variable from __ublk_ch_uring_cmd(): refactor"),
    ("p07", "move ublk_prep_cancel() to case COMMIT_AND_FETCH: same calls on every path"),
    ("p10", "return early if blk_should_fake_timeout(): restructures the same skip of the put (the leak it later caused is B-11, i.e. fix-b11 absent)"),
    ("p08", "don't take ublk_queue in ublk_unregister_io_buf(): the zero-copy test reads the device flags instead"),
    ("p13", "remove ubq checks from ublk_{get,put}_req_ref(): callers test the mode instead"),
    ("p14", "cache-align struct ublk_io: layout only"),
];

/// A set of switches: bit `w as u8` for switch `w`.  A `u64` (room for 64
/// switches) stays as cheap to copy and hash as the `u32` it was: the set is
/// part of the compiled [`crate::Model`], not of the explored state, and
/// traces store it as the same number (`"features": 1476428800`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Features(pub u64);

impl Features {
    /// How many switches a set can hold.
    pub const CAPACITY: usize = u64::BITS as usize;
    /// Every switch on (`Features(mask & Features::all().0)` masks random bits).
    pub const fn all() -> Self {
        Features::of(&ALL_SWITCHES)
    }
    /// The set of exactly these switches (for the kernel table's constants).
    pub const fn of(ws: &[Sw]) -> Self {
        Features(0).plus(ws)
    }
    /// This set and these switches.
    pub const fn plus(mut self, ws: &[Sw]) -> Self {
        let mut i = 0;
        while i < ws.len() {
            self = self.with(ws[i]);
            i += 1;
        }
        self
    }
    pub const fn has(self, w: Sw) -> bool {
        self.0 & (1 << w as u8) != 0
    }
    pub const fn with(mut self, w: Sw) -> Self {
        self.0 |= 1 << w as u8;
        self
    }
    pub const fn without(mut self, w: Sw) -> Self {
        self.0 &= !(1 << w as u8);
        self
    }
    pub fn iter(self) -> impl Iterator<Item = Sw> {
        ALL_SWITCHES.into_iter().filter(move |w| self.has(*w))
    }
    /// `+p09 -fix-b8` style difference from another set (for trace headers).
    pub fn diff_from(self, base: Features) -> Vec<String> {
        let mut v = Vec::new();
        for w in ALL_SWITCHES {
            match (base.has(w), self.has(w)) {
                (false, true) => v.push(format!("+{}", w.name())),
                (true, false) => v.push(format!("-{}", w.name())),
                _ => {}
            }
        }
        v
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Sw::name)).finish()
    }
}

/// Parses `--with`/`--without` items onto a preset.  A bug id (`B-5`) means
/// "the bug present", i.e. its fix switch removed.
pub fn apply_switches(
    base: Features,
    with: &[String],
    without: &[String],
) -> Result<Features, String> {
    let mut f = base;
    for (items, on) in [(with, true), (without, false)] {
        for it in items {
            if let Some(w) = Sw::from_name(it) {
                f = if on { f.with(w) } else { f.without(w) };
            } else if let Some(w) = Sw::for_bug(it) {
                f = if on { f.without(w) } else { f.with(w) };
            } else {
                return Err(format!("unknown switch '{it}' (see `ublksim list`)"));
            }
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::Preset;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for w in ALL_SWITCHES {
            assert_eq!(Sw::from_name(w.name()), Some(w));
            assert!(seen.insert(w.name()));
        }
    }

    #[test]
    fn bug_ids_map_to_fixes() {
        assert_eq!(Sw::for_bug("B-1"), Some(Sw::P02));
        assert_eq!(Sw::for_bug("b11"), Some(Sw::FixB11));
        assert_eq!(Sw::for_bug("B-99"), None);
        assert_eq!(Sw::for_bug("B-14"), Some(Sw::ReleaseWork));
    }

    #[test]
    fn seeded_bug_removes_the_fix() {
        let f = apply_switches(Preset::K72.features(), &["B-8".into()], &[]).unwrap();
        assert!(!f.has(Sw::FixB8));
        assert!(apply_switches(f, &["nonsense".into()], &[]).is_err());
    }

    /// Traces store a set as its number: the bits of the existing switches
    /// must not move (new switches go at the end of `switches!`).
    #[test]
    fn bit_layout_is_stable() {
        assert_eq!(Preset::K612.features().0, 1_476_428_800);
        assert_eq!(Sw::P02 as u8, 0);
        assert_eq!(Sw::RecoveryFailIo as u8, 26);
        assert!(ALL_SWITCHES.len() <= Features::CAPACITY);
        assert_eq!(Features::all().iter().count(), ALL_SWITCHES.len());
    }
}
