//! [`Func`]: which kernel function (or user-space action) a step models.
//!
//! Every atomic step names one variant; its [`Func::label`] is the text
//! traces, counterexamples and pages print (unchanged from when steps were
//! labelled with string literals, so saved traces still replay).  Code that
//! reacts to a step — the glossary, coverage goals, the conformance
//! generator's timing exclusions — matches on variants, so renaming a step
//! is a compile error there instead of a silently dead string match.
//!
//! Variants are named after the `ublk_drv.c` (or blk-mq / io_uring)
//! function and the sub-step of it the model splits off; 6.12-only paths
//! carry the 6.12 function names.

macro_rules! funcs {
    ($( $(#[$doc:meta])* $v:ident => $label:literal, )*) => {
        /// One kind of atomic step (see the module docs).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Func {
            $( $(#[$doc])* $v, )*
        }

        impl Func {
            /// Every step kind, in declaration order.
            pub const ALL: &'static [Func] = &[ $( Func::$v, )* ];

            /// The text traces and outputs print for this step.
            pub const fn label(self) -> &'static str {
                match self {
                    $( Func::$v => $label, )*
                }
            }
        }
    };
}

funcs! {
    // ---- a server thread's program (user space, then the syscall) ----
    /// `ublk_ch_uring_cmd_local()` entry checks of UBLK_U_IO_FETCH_REQ.
    UblkChUringCmdFetchReq => "ublk_ch_uring_cmd_local [FETCH_REQ]",
    /// … of UBLK_U_IO_COMMIT_AND_FETCH_REQ (the handler runs in the same step).
    UblkChUringCmdCommitAndFetchReq => "ublk_ch_uring_cmd_local [COMMIT_AND_FETCH_REQ]",
    /// … of UBLK_U_IO_NEED_GET_DATA.
    UblkChUringCmdNeedGetData => "ublk_ch_uring_cmd_local [NEED_GET_DATA]",
    /// … of UBLK_U_IO_REGISTER_IO_BUF (the tag lookup, if it goes on).
    UblkChUringCmdRegisterIoBuf => "ublk_ch_uring_cmd_local [REGISTER_IO_BUF]",
    /// … of UBLK_U_IO_UNREGISTER_IO_BUF.
    UblkChUringCmdUnregisterIoBuf => "ublk_ch_uring_cmd_local [UNREGISTER_IO_BUF]",
    /// … of a command with a wrong ioctl type.
    UblkChUringCmdBadType => "ublk_ch_uring_cmd_local [bad ioctl type]",
    /// `io_uring_enter()` on a ring fd that was closed.
    IoUringEnterRingClosed => "io_uring_enter: ring closed",
    /// `ublk_fetch()`: under `ub->mutex`, arm the slot.
    UblkFetch => "ublk_fetch",
    /// `__ublk_check_and_get_req()`: `refcount_inc_not_zero()`.
    UblkCheckAndGetReqRef => "__ublk_check_and_get_req: refcount_inc_not_zero",
    /// `__ublk_check_and_get_req()`: started and still on this tag (REGISTER).
    UblkCheckAndGetReqStarted => "__ublk_check_and_get_req: started/tag check",
    /// `__ublk_check_and_get_req()`: started/tag check, then the data copy (user copy).
    UblkCheckAndGetReqStartedCopy => "__ublk_check_and_get_req: started/tag check + copy",
    /// `ublk_register_io_buf()`: `io_buffer_register_bvec()`.
    UblkRegisterIoBuf => "ublk_register_io_buf: io_buffer_register_bvec",
    /// An io_uring READ_FIXED looks up a registered buffer.
    IoUringReadFixed => "io_uring READ_FIXED: io_find_buf_node",
    /// `ublk_ch_read_iter()`: entry checks and the tag lookup.
    UblkChReadIter => "ublk_ch_read_iter: checks + blk_mq_tag_to_rq",
    /// `ublk_user_copy()` on the daemon without a reference (7.x fast path).
    UblkUserCopyOnDaemon => "ublk_user_copy (on daemon, no ref)",
    /// `ublk_user_copy()` drops the copy's reference.
    UblkUserCopyPutReqRef => "ublk_user_copy: ublk_put_req_ref",
    /// `io_uring_enter()` reaps the CQE of a cmd.
    IoUringEnterWaitCqe => "io_uring_enter: wait for CQE",
    /// The server process exits (`exit_group`).
    ExitGroup => "exit_group (server process)",
    /// A program loop (never a step of its own; the label of the op).
    Loop => "(loop)",
    /// This server thread exits (`do_exit`), its ring left open.
    DoExit => "do_exit (this server thread)",
    /// The server closes its ring fd: io_uring ring exit begins.
    CloseRing => "close(ring fd): io_uring ring exit",

    // ---- injected events and other processes ----
    /// SIGKILL of the server process.
    Sigkill => "SIGKILL: do_exit of every server thread",
    /// Fault: a server thread's ring is closed.
    FaultCloseRing => "fault: close(ring fd): io_uring ring exit",
    /// Fault: a server thread dies.
    FaultDoExit => "fault: do_exit (server thread)",
    /// `ublk_ch_open()` by the recovery's new server.
    UblkChOpen => "ublk_ch_open (new server)",
    /// Another process closes its /dev/ublkcN fd.
    CloseOtherFd => "close(/dev/ublkcN) in the other process",

    // ---- task work and io_uring ----
    /// `ublk_cmd_tw_cb()` → `ublk_dispatch_req()` on the server task.
    UblkCmdTwCb => "ublk_cmd_tw_cb: ublk_dispatch_req",
    /// `ublk_cmd_tw_cb()` run by io_uring's fallback kworker (task exiting).
    UblkCmdTwCbFallback => "ublk_cmd_tw_cb (fallback): ublk_dispatch_req",
    /// Fixed-buffer I/O completes: `io_put_rsrc_node()`.
    IoPutRsrcNode => "io_uring: fixed-buffer I/O completes (io_put_rsrc_node)",
    /// The ring's last in-flight request on /dev/ublkcN is freed (`fput`).
    IoUringFputLastRequest => "io_uring: last request on /dev/ublkcN freed (fput)",
    /// `io_ring_ctx_free()`: buffer table, then registered files.
    IoRingCtxFree => "io_ring_ctx_free: unregister buffers, then files",

    // ---- block layer ----
    /// `submit_bio()` after the disk is gone.
    SubmitBioDiskGone => "submit_bio: disk gone",
    /// `blk_mq_submit_bio()`: request and driver tag.
    BlkMqSubmitBio => "blk_mq_submit_bio: get request + driver tag",
    /// `ublk_queue_rq()` QR1: prep and `blk_mq_start_request()`.
    UblkQueueRqStart => "ublk_queue_rq: prep + blk_mq_start_request",
    /// `ublk_queue_rq()` QR2: `ublk_queue_cmd()`.
    UblkQueueRqQueueCmd => "ublk_queue_rq: ublk_queue_cmd",
    /// The bio completes to its submitter.
    BioEndio => "bio_endio",
    /// `blk_mq_requeue_work()` → `ublk_queue_rq()` QR1.
    BlkMqRequeueWorkQueueRq => "blk_mq_requeue_work: ublk_queue_rq",
    /// `blk_mq_requeue_work()` → `ublk_queue_cmd()` (QR2).
    BlkMqRequeueWorkQueueCmd => "blk_mq_requeue_work: ublk_queue_cmd",
    /// `elevator_switch()`: `blk_mq_freeze_queue()`.
    ElevatorSwitchFreeze => "elevator_switch: blk_mq_freeze_queue",
    /// `elevator_switch()`: free the old scheduler requests, unfreeze.
    ElevatorSwitchFree => "elevator_switch: free sched requests, unfreeze",

    // ---- cancel (ring exit) ----
    /// `ublk_uring_cmd_cancel_fn()` → `ublk_start_cancel()` part 1.
    UblkUringCmdCancelFnStartCancel => "ublk_uring_cmd_cancel_fn: ublk_start_cancel",
    /// `ublk_start_cancel()` part 2: quiesced, set canceling.
    UblkStartCancelQuiesced => "ublk_start_cancel: quiesced, set canceling",
    /// `ublk_cancel_cmd()` part 1: ACTIVE / started-request check.
    UblkCancelCmdCheckActive => "ublk_cancel_cmd: ACTIVE / started-request check",
    /// `ublk_cancel_cmd()` part 2: under `cancel_lock`, set CANCELED (K72: claim the cmd).
    UblkCancelCmdClaim => "ublk_cancel_cmd: cancel_lock, set CANCELED",
    /// `ublk_cancel_cmd()` part 3: `io_uring_cmd_done(UBLK_IO_RES_ABORT)`.
    UblkCancelCmdComplete => "ublk_cancel_cmd: io_uring_cmd_done(UBLK_IO_RES_ABORT)",
    /// 6.12 `ublk_uring_cmd_cancel_fn()`: the cmd's task is not `ubq_daemon`.
    UblkUringCmdCancelFnNotDaemon612 => "ublk_uring_cmd_cancel_fn: cmd's task is not ubq_daemon (WARN), return",
    /// 6.12 `ublk_uring_cmd_cancel_fn()` → `ublk_abort_requests()`: quiesce.
    UblkUringCmdCancelFnAbortRequests612 => "ublk_uring_cmd_cancel_fn: ublk_abort_requests (quiesce)",
    /// 6.12 `ublk_abort_requests()`: mark canceling, abort, unquiesce.
    UblkAbortRequests612 => "ublk_abort_requests: mark canceling, ublk_abort_queue, unquiesce",
    /// 6.12 `ublk_timeout()` of a privileged device.
    UblkTimeout612 => "ublk_timeout: daemon exiting, no ACTIVE io: ublk_abort_requests, schedule work",

    // ---- release work (since 6.15) ----
    /// `ublk_ch_release_work_fn()`: nothing to do without a disk.
    UblkChReleaseWorkFnNoDisk => "ublk_ch_release_work_fn: no disk, skip",
    /// `ublk_ch_release_work_fn()`: settle refs, `ublk_abort_queue()`.
    UblkChReleaseWorkFnAbort => "ublk_ch_release_work_fn: settle refs, ublk_abort_queue",
    /// `ublk_ch_release_work_fn()`: `ub->mutex`, QUIESCED / FAIL_IO.
    UblkChReleaseWorkFnStateChange => "ublk_ch_release_work_fn: ub->mutex, state change",
    /// `ublk_ch_release_work_fn()`: `ub->mutex`, `ublk_stop_dev_unlocked()`.
    UblkChReleaseWorkFnStopDev => "ublk_ch_release_work_fn: ub->mutex, ublk_stop_dev_unlocked",
    /// `ublk_ch_release_work_fn()`: `ublk_reset_ch_dev()`, clear OPEN.
    UblkChReleaseWorkFnReset => "ublk_ch_release_work_fn: ublk_reset_ch_dev, clear OPEN",
    /// `del_gendisk()` finishing inside the release work.
    DelGendiskDone => "del_gendisk: all requests done, detach disk",

    // ---- control commands ----
    /// `ublk_ctrl_start_dev()`.
    UblkCtrlStartDev => "ublk_ctrl_start_dev",
    UblkCtrlStartDevPartScan => "ublk_ctrl_start_dev: LIVE, add_disk: disk_scan_partitions reads sector 0 (ub->mutex held)",
    UblkCtrlStartDevScanned => "ublk_ctrl_start_dev: partition scan done, add_disk returns",
    /// `ublk_ctrl_start_recovery()`.
    UblkCtrlStartRecovery => "ublk_ctrl_start_recovery",
    /// `ublk_ctrl_end_recovery()`.
    UblkCtrlEndRecovery => "ublk_ctrl_end_recovery",
    /// `ublk_stop_dev()`: take `ub->mutex`.
    UblkStopDevMutex => "ublk_stop_dev: ub->mutex",
    /// `ublk_stop_dev()` on a device that is not live.
    UblkStopDevAlreadyDead => "ublk_stop_dev: already DEAD",
    /// `ublk_stop_dev()`: force abort, `del_gendisk()` starts.
    UblkStopDevForceAbort => "ublk_stop_dev: force abort, del_gendisk starts",
    /// `del_gendisk()` returns, `ublk_detach_disk()`.
    UblkDetachDisk => "del_gendisk done, ublk_detach_disk",
    /// `ublk_ctrl_stop_dev()` returns.
    UblkCtrlStopDev => "ublk_ctrl_stop_dev",
    /// `ublk_ctrl_del_dev()` returns.
    UblkCtrlDelDev => "ublk_ctrl_del_dev",
    /// `ublk_ctrl_quiesce_dev()`: not UBLK_F_QUIESCE → -EOPNOTSUPP; else
    /// `ub->mutex` (no disk or DEAD → -ENODEV; not LIVE → 0, then the cancel walk).
    UblkCtrlQuiesceDevMutex => "ublk_ctrl_quiesce_dev: ub->mutex",
    /// `ublk_ctrl_quiesce_dev()`: `cancel_mutex`, `blk_mq_quiesce_queue()` starts.
    UblkCtrlQuiesceDevQuiesce => "ublk_ctrl_quiesce_dev: cancel_mutex, blk_mq_quiesce_queue",
    /// `ublk_ctrl_quiesce_dev()`: canceling set, unquiesce.
    UblkCtrlQuiesceDevCanceling => "ublk_ctrl_quiesce_dev: ublk_set_canceling",
    /// `ublk_ctrl_quiesce_dev()`: `ublk_wait_for_idle_io()` returns (at once, see
    /// `quiesce.rs`), `ub->mutex` released; `ublk_cancel_dev()` next.
    UblkCtrlQuiesceDevIdle => "ublk_ctrl_quiesce_dev: ublk_wait_for_idle_io, unlock",
    /// `ublk_ctrl_quiesce_dev()` returns after `ublk_cancel_dev()` (or at once with an error).
    UblkCtrlQuiesceDev => "ublk_ctrl_quiesce_dev",
    /// 6.12 `ublk_ctrl_uring_cmd()`: a command it does not know → -EOPNOTSUPP.
    UblkCtrlSetSize => "ublk_ctrl_set_size",
    /// 6.12 `ublk_ctrl_uring_cmd()`: a command it does not know.
    UblkCtrlUringCmdUnknown612 => "ublk_ctrl_uring_cmd: unknown command",
    /// 6.12 `ublk_ctrl_start_recovery()`: `ublk_queue_reinit()`.
    UblkCtrlStartRecovery612 => "ublk_ctrl_start_recovery: ublk_queue_reinit",
    /// 6.12 `ublk_ctrl_end_recovery()`: unquiesce, kick.
    UblkCtrlEndRecovery612 => "ublk_ctrl_end_recovery: unquiesce, kick",
    /// 6.12 `ublk_quiesce_work_fn()`: take `ub->mutex`.
    UblkQuiesceWorkFnMutex612 => "ublk_quiesce_work_fn: ub->mutex",
    /// 6.12 `__ublk_quiesce_dev()`: idle, QUIESCED.
    UblkQuiesceDevIdle612 => "__ublk_quiesce_dev: idle, QUIESCED",
    /// 6.12 `__ublk_quiesce_dev()` then `ublk_unquiesce_dev()`.
    UblkQuiesceDevUnquiesce612 => "__ublk_quiesce_dev: idle; ublk_unquiesce_dev: force_abort, del_gendisk starts",
    /// 6.12 `ublk_cancel_dev()` done, the stop/quiesce work returns.
    UblkCancelDevDoneWork612 => "ublk_cancel_dev done (work returns)",
    /// 6.12 `ublk_cancel_dev()` done inside STOP_DEV/DEL_DEV.
    UblkCancelDevDone612 => "ublk_cancel_dev done",
    /// 6.12 `ublk_ctrl_del_dev()`: the device's last reference is gone.
    UblkCtrlDelDev612 => "ublk_ctrl_del_dev: device released",
    /// 6.12 `ublk_ctrl_stop_dev()`: `cancel_work_sync()` of both works.
    UblkCtrlStopDev612 => "ublk_ctrl_stop_dev: cancel_work_sync",

    // ---- not a step ----
    /// Placeholder of a successor whose step broke an invariant (the
    /// violation names the function).
    Violation => "(violation)",
}

impl Func {
    /// The variant whose label is `label` (reading a trace back).
    pub fn from_label(label: &str) -> Option<Func> {
        Func::ALL.iter().copied().find(|f| f.label() == label)
    }
}

/// Serialized as its label (the text traces carry).
impl serde::Serialize for Func {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.label())
    }
}

impl std::fmt::Display for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::Func;

    #[test]
    fn labels_are_unique_and_parse_back() {
        for &f in Func::ALL {
            assert_eq!(Func::from_label(f.label()), Some(f), "{f:?}");
        }
    }
}
