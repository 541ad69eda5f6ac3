//! A glossary for newcomers: what each kernel function a step names does,
//! in a phrase, and what kind of context each actor is.  `explain` and the
//! viewer print these next to the function names, so a counterexample can be
//! followed without `ublk_drv.c` (or the model) open beside it.

use ublk_model::{Func, Kind};

/// What the kernel function of step `f` does, in a phrase ("" where the
/// glossary has nothing to add).
pub fn gloss_step(f: Func) -> &'static str {
    use Func::*;
    match f {
        UblkChUringCmdFetchReq => "the server's FETCH enters the driver (checks; the cmd is now pending)",
        UblkChUringCmdCommitAndFetchReq => "the server reports the request's result and re-arms the slot with a new cmd",
        UblkChUringCmdNeedGetData => "the server asks for a WRITE's data to be copied in before it handles the request",
        UblkChUringCmdRegisterIoBuf => "zero copy: the request's pages become a buffer in the caller's io_uring",
        UblkChUringCmdUnregisterIoBuf => "zero copy: the buffer leaves the io_uring table (its release may follow)",
        UblkChUringCmdBadType => "an io command with a wrong ioctl type is rejected",
        UblkFetch => "under ub->mutex: store the cmd in the slot, set ACTIVE, count the slot as ready",
        UblkCheckAndGetReqRef => "take a reference on the slot's request, unless it is already completed",
        UblkCheckAndGetReqStarted => "verify the looked-up request is started and still owns the tag",
        UblkCheckAndGetReqStartedCopy => "verify the request is started and owns the tag, then copy its data",
        UblkRegisterIoBuf => "off-daemon REGISTER: register the bvec (the ref taken just before is the buffer's)",
        IoUringReadFixed => "fixed-buffer I/O on the registered buffer takes a reference on its node",
        UblkChReadIter => "user copy: read()/write() on /dev/ublkcN looks the request up by tag",
        UblkUserCopyOnDaemon | UblkUserCopyPutReqRef => "user copy: drop the copy's reference (may complete the request)",
        IoUringEnterWaitCqe => "the server thread reaps the completion of its cmd",
        ExitGroup => "the whole server process exits: every thread, every ring",
        DoExit => "this server thread exits (its ring stays open until closed)",
        CloseRing => "the server closes its io_uring: ring exit begins",
        Sigkill => "the server process is killed at this moment: its threads exit, its rings start exiting",
        FaultCloseRing => "injected fault: the server thread's ring is closed: ring exit begins",
        FaultDoExit => "injected fault: the server thread dies (its ring stays open)",
        UblkChOpen => "the new server process opens /dev/ublkcN",
        CloseOtherFd => "the other process closes its reference to /dev/ublkcN",
        UblkCmdTwCb => "task work on the server: complete the cmd with the request (slot becomes OWNED_BY_SRV, ref INIT)",
        UblkCmdTwCbFallback => "task work of an exiting server: ublk_dispatch_req aborts the request",
        IoPutRsrcNode => "the fixed-buffer I/O ends and drops its node reference (maybe the buffer's last)",
        IoUringFputLastRequest => "the ring's last request on the char device is gone: one file reference dropped",
        IoRingCtxFree => "the exiting ring frees its buffer table (each buffer's release runs) and its files",
        SubmitBioDiskGone => "new I/O fails: the disk is gone",
        BlkMqSubmitBio => "an application's I/O becomes a request with a driver tag",
        UblkQueueRqStart => "blk-mq hands the request to ublk: it is started (IN_FLIGHT)",
        UblkQueueRqQueueCmd => "the request goes into the slot's pending cmd; task work on the server is scheduled",
        BlkMqRequeueWorkQueueRq => "the requeue work re-issues a requeued request",
        BlkMqRequeueWorkQueueCmd => "the re-issued request goes into the slot's cmd",
        ElevatorSwitchFreeze => "an I/O scheduler switch freezes the queue (waits until no request is in flight)",
        ElevatorSwitchFree => "the old scheduler's request memory is freed; stale tag pointers may remain",
        UblkUringCmdCancelFnStartCancel | UblkUringCmdCancelFnNotDaemon612 | UblkUringCmdCancelFnAbortRequests612 => "io_uring cancels a pending ublk cmd of an exiting ring: first set canceling",
        UblkStartCancelQuiesced => "quiesce the queue and set canceling, so queue_rq stops using cmds",
        UblkCancelCmdCheckActive => "skip the slot if it holds no pending cmd, or a request is already on its way to it",
        UblkCancelCmdClaim => "under cancel_lock: mark the slot CANCELED and take its cmd",
        UblkCancelCmdComplete => "complete the cmd with UBLK_IO_RES_ABORT",
        UblkChReleaseWorkFnNoDisk => "release work: the device never started (or stopped): nothing to abort",
        UblkChReleaseWorkFnAbort => "release work: wait for buffer references to settle, then abort requests the dead server owned",
        UblkChReleaseWorkFnStateChange => "release work: QUIESCED / FAIL_IO (recovery) or stop the device",
        UblkChReleaseWorkFnStopDev => "release work: no recovery, so stop the device",
        UblkChReleaseWorkFnReset => "release work: reset every slot and clear OPEN",
        DelGendiskDone | UblkDetachDisk => "every request ended: the disk is removed, the device DEAD",
        UblkCtrlStartDev => "START_DEV: once every slot is fetched, add the disk; the device goes LIVE",
        UblkCtrlStartDevPartScan => "START_DEV (privileged daemons, no async scan): the device is LIVE and add_disk reads the partition table, holding ub->mutex",
        UblkCtrlStartDevScanned => "START_DEV: the partition scan's read ended; add_disk and START_DEV return",
        UblkStopDevMutex => "STOP_DEV takes ub->mutex",
        UblkCtrlSetSize => "UPDATE_SIZE: under ub->mutex, the disk's capacity (-ENODEV while there is no disk)",
        UblkStopDevAlreadyDead => "STOP_DEV on a device that is not live: nothing to do",
        UblkStopDevForceAbort => "STOP_DEV: new I/O fails; del_gendisk waits for every started request",
        UblkCancelDevDoneWork612 | UblkCancelDevDone612 => "STOP_DEV cancels every slot's pending cmd (UBLK_IO_RES_ABORT)",
        IoUringEnterRingClosed | Loop | BioEndio | UblkAbortRequests612 | UblkTimeout612 | UblkCtrlStartRecovery | UblkCtrlEndRecovery | UblkCtrlStopDev | UblkCtrlDelDev | UblkCtrlStartRecovery612 | UblkCtrlEndRecovery612 | UblkQuiesceWorkFnMutex612 | UblkQuiesceDevIdle612 | UblkQuiesceDevUnquiesce612 | UblkCtrlDelDev612 | UblkCtrlStopDev612 | UblkCtrlQuiesceDevMutex | UblkCtrlQuiesceDevQuiesce | UblkCtrlQuiesceDevCanceling | UblkCtrlQuiesceDevIdle | UblkCtrlQuiesceDev | UblkCtrlUringCmdUnknown612 | Violation => "",
    }
}

/// Functions an invariant violation's message starts with (`ublk_io_release
/// runs for …`): a break found inside a step is named by the function the
/// message names, not by a step.  The first entry whose name is a prefix of
/// the word wins, so more specific names come first.
const NAMED: &[(&str, &str)] = &[
    ("ublk_fetch", "under ub->mutex: store the cmd in the slot, set ACTIVE, count the slot as ready"),
    ("ublk_ctrl_set_size", "UPDATE_SIZE: under ub->mutex, set_capacity_and_notify(ub->ub_disk, size)"),
    ("ublk_ctrl_start_dev", "START_DEV: once every slot is fetched, add the disk; the device goes LIVE"),
    ("ublk_ctrl_start_user_recovery", "START_USER_RECOVERY: allow a new server to open the device"),
    ("ublk_ctrl_end_user_recovery", "END_USER_RECOVERY: the new server is ready; LIVE again, held requests re-issued"),
    ("blk_mq_submit_bio", "an application's I/O becomes a request with a driver tag"),
    ("submit_bio", "new I/O fails: the disk is gone"),
    ("ublk_queue_rq", "blk-mq hands the request to ublk"),
    ("ublk_cmd_tw_cb", "task work on the server: complete the cmd with the request (slot becomes OWNED_BY_SRV, ref INIT)"),
    ("ublk_commit_and_fetch", "COMMIT_AND_FETCH: drop the server's share of the ref, complete the request if it was the last, re-arm"),
    ("ublk_need_get_data", "NEED_GET_DATA: copy the WRITE data in and hand the request to the server again"),
    ("ublk_daemon_register_io_buf", "REGISTER on io->task: no atomic, task_registered_buffers++"),
    ("ublk_register_io_buf", "off-daemon REGISTER: register the bvec (the ref taken just before is the buffer's)"),
    ("__ublk_check_and_get_req", "look the request up by tag (blk_mq_tag_to_rq): a plain pointer, no reference yet"),
    ("ublk_get_req_ref", "take a reference on the request (before p02: inside the request's own pdu)"),
    ("ublk_io_release", "a registered buffer's release callback: drops its reference (trb-- on io->task, else io->ref)"),
    ("ublk_queue_cmd", "hand the request to the slot's pending cmd"),
    ("ublk_unregister_io_buf", "UNREGISTER: remove the buffer from the ring's table"),
    ("ublk_ch_read_iter", "user copy: read()/write() on /dev/ublkcN looks the request up by tag"),
    ("ublk_user_copy", "user copy: drop the copy's reference (may complete the request)"),
    ("io_ring_ctx_free", "the exiting ring frees its buffer table (each buffer's release runs) and its files"),
    ("exit_group", "the whole server process exits: every thread, every ring"),
    ("do_exit", "this server thread exits (its ring stays open until closed)"),
    ("SIGKILL", "the server process is killed at this moment: its threads exit, its rings start exiting"),
    ("ublk_uring_cmd_cancel_fn", "io_uring cancels a pending ublk cmd of an exiting ring: first set canceling"),
    ("ublk_start_cancel", "quiesce the queue and set canceling, so queue_rq stops using cmds"),
    ("ublk_ch_release_work_fn", "release work after the last close of /dev/ublkcN"),
    ("ublk_stop_dev", "STOP_DEV"),
    ("del_gendisk", "every request ended: the disk is removed, the device DEAD"),
    ("ublk_cancel_dev", "STOP_DEV cancels every slot's pending cmd (UBLK_IO_RES_ABORT)"),
    ("blk_mq_requeue_work", "the requeue work re-issues requests"),
    ("ublk_ch_open", "the new server process opens /dev/ublkcN"),
    ("close(/dev/ublkcN)", "the other process closes its reference to /dev/ublkcN"),
];

/// The gloss of a step label (as a trace records it) or of a function name
/// taken from a violation message; "" if the glossary lacks it.
pub fn gloss(name: &str) -> &'static str {
    match Func::from_label(name) {
        Some(f) => gloss_step(f),
        None => NAMED
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .map_or("", |(_, g)| g),
    }
}

/// What kind of context an actor is, in words (a lane's subtitle).
pub fn lane_kind(k: &Kind) -> &'static str {
    match k {
        Kind::Server { process: 0, .. } => "server thread",
        Kind::Server { .. } => "new server thread",
        Kind::Submitter { .. } => "block I/O submitter",
        Kind::Control { .. } => "control task",
        Kind::Killer => "SIGKILL",
        Kind::Elevator => "elevator switch",
        Kind::TaskWork { .. } => "task work",
        Kind::RingExit { .. } => "io_uring ring exit",
        Kind::FixedIo { .. } => "fixed-buffer I/O",
        Kind::RequeueWork => "blk-mq requeue work",
        Kind::ReleaseWork => "kworker: release work",
        Kind::FdHolder => "other /dev/ublkcN holder",
        Kind::Opener => "new server open",
        Kind::RingCloseFault { .. } => "fault: a thread closes its ring",
        Kind::ThreadDeathFault { .. } => "fault: a thread dies",
        Kind::Timeout { .. } => "blk-mq timeout handler",
        Kind::NosrvWork => "kworker: stop/quiesce work",
        Kind::PartScan { .. } => "partition scan in add_disk",
    }
}
