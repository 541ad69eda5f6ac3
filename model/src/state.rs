//! The model's state: one compact, hashable value.
//!
//! Field names follow `ublk_drv.c` (`ublk_io`, `ublk_queue`, `ublk_device`)
//! and blk-mq/io_uring where the driver depends on them.  Fields prefixed
//! `g_` are *ghost* state: bookkeeping the kernel does not have, kept only so
//! invariants can state what must hold (e.g. how many buffer registrations of
//! a request are still outstanding).

use serde::{Deserialize, Serialize};

/// A state vector: inline up to `N` elements (every built-in scenario and sweep
/// configuration fits, so cloning a state allocates nothing), on the heap beyond that (a
/// larger scenario still runs, only slower). Hashes, compares and serializes as a `Vec`.
pub type Small<T, const N: usize> = smallvec::SmallVec<[T; N]>;

pub type ActorId = u8;
pub type TaskId = u8;
pub type RingId = u8;
pub type CmdId = u8;
pub type RqId = u8;
pub type NodeId = u8;

/// `UBLK_IO_FLAG_*` bits (values as in the kernel, CANCELED moved to bit 7 to
/// keep the field a byte).
pub mod flag {
    pub const ACTIVE: u8 = 0x01;
    pub const OWNED_BY_SRV: u8 = 0x02;
    pub const NEED_GET_DATA: u8 = 0x08;
    pub const AUTO_BUF_REG: u8 = 0x10;
    pub const CANCELED: u8 = 0x80;
}

/// `UBLK_REFCOUNT_INIT` = REFCOUNT_MAX / 2.
pub const UBLK_REFCOUNT_INIT: u32 = 0x3FFF_FFFF;

/// `ublksrv_ctrl_dev_info.state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DevState {
    Dead,
    Live,
    Quiesced,
    FailIo,
}

/// The `cmd`/`req` union of `struct ublk_io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cell {
    None,
    Cmd(CmdId),
    Req(RqId),
}

/// `struct ublk_device` (and the request queue / gendisk bits it drives).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Dev {
    pub state: DevState,
    /// `UB_STATE_USED`: a disk is added and not yet freed (`ublk_free_disk`
    /// clears it; a stopped device may be started again).
    pub used: bool,
    /// The last disk was deleted (its /dev/ublkbN node is gone) and no new
    /// one added: bios fail.
    pub disk_removed: bool,
    /// `ub->ub_disk != NULL`.
    pub has_disk: bool,
    /// del_gendisk started: new bios fail.
    pub disk_dying: bool,
    /// References on the /dev/ublkcN file: the server process's fd plus one
    /// per ring that registered it as a fixed file.
    pub file_refs: u8,
    /// `UB_STATE_OPEN`.
    pub open: bool,
    /// START_USER_RECOVERY succeeded: a new server may open the device.
    pub recovering: bool,
    /// The new server process opened /dev/ublkcN.
    pub new_server_open: bool,
    /// A START_USER_RECOVERY was issued (whatever it answered): the new
    /// server process is up and opens /dev/ublkcN once it is free.
    pub recovery_tried: bool,
    /// `ub->ublksrv_tgid`: the server process (0: the first, 1: the recovery's) that last
    /// opened /dev/ublkcN; `None` is the -1 `ublk_reset_ch_dev` leaves.  A release work
    /// that finds no disk skips the reset, so the tgid of a dead server stays.
    pub ublksrv_tgid: Option<u8>,
    /// Bit p: server process p has been reaped (its pid no longer resolves).  Decided at
    /// the one place that can tell, a `ublk_validate_user_pid` on a process that exited
    /// (see [`crate::defs::Model::choices`]).
    pub reaped: u8,
    /// `ub->completion` is complete: `complete_all` when the device became
    /// ready; re-armed (`init_completion`) by a successful START_USER_RECOVERY.
    pub completion_done: bool,
    /// Ghost: END_USER_RECOVERY made the device LIVE and no cancel has set
    /// `canceling` since — a held request is no longer excused (L1/L2).
    pub g_recovered: bool,
    pub canceling: bool,
    pub nr_io_ready: u8,
    /// Holder of `ub->mutex`.
    pub mutex: Option<ActorId>,
    /// Holder of `ub->cancel_mutex`.
    pub cancel_mutex: Option<ActorId>,
    /// `blk_mq_quiesce_queue()` depth.
    pub quiesced: u8,
    /// Actors inside the blk-mq dispatch (SRCU) section: between QR1 and QR2.
    pub in_dispatch: u8,
    /// `blk_freeze_queue_start()` in effect (elevator switch).
    pub frozen: bool,
    /// `q->requeue_list` (not yet kicked).
    pub requeue: Small<RqId, 4>,
    /// Spliced by a kick, being re-issued by `blk_mq_requeue_work`.
    pub requeue_run: Small<RqId, 4>,
    /// `exit_work` scheduled by `ublk_ch_release()`.
    pub release_pending: bool,
    /// First index of the current scheduler request pool.
    pub sched_pool: u8,
    /// The fake-timeout injection was consumed.
    pub fake_timeout_used: bool,
    /// Ghost: STOP_DEV ran on a device that had never had a disk: its `ublk_cancel_dev`
    /// canceled the fetched cmds without setting `canceling` (no disk to quiesce), and a
    /// later START_DEV can add a disk over them.  No kernel state; it lets a finding's
    /// signature tell this route from O-6's (a ring exit's cancel whose `canceling` the
    /// readiness cleared), which end in the same function with the same facts.
    pub g_stopped_unstarted: bool,
    pub get_data_fail_used: bool,
    /// The bad auto-buf-reg descriptor of `DevConfig::bad_auto_fetch` was consumed.
    pub bad_auto_used: bool,
    /// K612 `ub->stop_work` / `ub->quiesce_work` scheduled (cancel fn or
    /// timeout handler after `ublk_abort_requests`).
    pub stop_work: bool,
    pub quiesce_work: bool,
    /// Without `async-part-scan`, on a `part_scan` device: START_DEV's
    /// `disk_scan_partitions` submitted its read of sector 0 (the `part-scan`
    /// actor's bio) and waits for it.
    pub part_scan: bool,
}

/// `struct ublk_queue`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Queue {
    /// K72 per-queue `nr_io_ready`.
    pub nr_io_ready: u8,
    pub canceling: bool,
    pub force_abort: bool,
    pub fail_io: bool,
    /// K612 `ubq->ubq_daemon`: the task whose FETCH made the queue ready.
    pub daemon: Option<TaskId>,
}

/// `struct ublk_io`: one per (queue, tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slot {
    pub flags: u8,
    pub cell: Cell,
    /// `io->task`.
    pub task: Option<TaskId>,
    /// `io->ref` (POST/K72; with p02 off the pdu ref is used instead).
    pub refcnt: u32,
    /// `io->task_registered_buffers`.
    pub trb: u32,
    /// `io->res` (result of the last commit).
    pub res: i32,
    /// `io->buf_ctx_handle` of an auto registration.
    pub buf_ctx: Option<RingId>,
    /// Ghost: request of the current dispatch round.
    pub g_round: Option<RqId>,
    /// Ghost: references held by registrations / off-task copies (p02: the
    /// count lives here; before p02 in the request).
    pub g_out: u8,
    /// Ghost: the request was aborted by the release work (OWNED is stale).
    pub g_aborted: bool,
}

impl Slot {
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// `struct request` (plus the `ublk_rq_data` pdu when p02 is off).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Req {
    /// The memory exists (scheduler pages not freed).
    pub alive: bool,
    /// Allocated to a bio (between alloc and `blk_mq_free_request`).
    pub allocated: bool,
    /// `MQ_RQ_IN_FLIGHT`.
    pub started: bool,
    pub q: u8,
    /// `rq->tag` (driver tag).
    pub tag: Option<u8>,
    pub write: bool,
    /// `blk_rq_bytes()`: what is left of the request (a partial completion advances it).
    pub bytes: u16,
    /// `ublk_rq_data.ref` (PRE placement).
    pub pdu_ref: u32,
    /// Allocation round, so a stale buffer node can be told from a live one.
    pub round: u8,
    /// Ends in the current round (S2).
    pub ended: u8,
    pub res: i32,
    /// The submitter (or requeue) actor waiting for its end.
    pub owner: Option<ActorId>,
    /// Ghost: the server holds its dispatch reference (not committed/aborted).
    pub g_hold: bool,
    /// Ghost: registrations + off-task copies holding a reference.
    pub g_out: u8,
}

/// State of one uring_cmd (its static identity is in the model's tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmdSt {
    NotIssued,
    /// Kept by the driver (`-EIOCBQUEUED`).
    Pending,
    Done(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cmd {
    pub st: CmdSt,
    /// `io_uring_cmd_mark_cancelable()` was called.
    pub cancelable: bool,
    /// Request stored in the pdu by `ublk_queue_cmd()`.
    pub pdu_rq: Option<RqId>,
    /// Ghost: taken out of `io->cmd` by a canceler (K72 claim).
    pub g_claimed: bool,
}

/// An io_uring registered-buffer node (`io_rsrc_node` of a kernel bvec).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Node {
    pub rq: RqId,
    pub round: u8,
    pub slot: u8,
    pub ring: RingId,
    /// Table reference + one per in-flight fixed-buffer op.
    pub refs: u8,
}

#[derive(Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ring {
    /// Sparse buffer table: index -> node.
    pub table: Small<Option<NodeId>, 4>,
    /// In-flight fixed-buffer ops (node each holds).
    pub fixed_ops: Small<NodeId, 2>,
    /// Ring exit started (owner died / exited).
    pub exiting: bool,
    /// Ring freed (table torn down, file reference dropped).
    pub freed: bool,
}

/// A task-work entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Tw {
    /// `ublk_cmd_tw_cb` for this cmd (request in its pdu).
    Dispatch(CmdId),
}

#[derive(Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Task {
    /// PF_EXITING: task work runs from the fallback kworker.
    pub exiting: bool,
    pub tw: Small<Tw, 2>,
}

/// Cloned with every state: the vectors of plain values are copied in one go (see
/// [`State`]'s `Clone`), not element by element as `SmallVec`'s `Clone` does.
impl Clone for Ring {
    fn clone(&self) -> Self {
        Ring {
            table: Small::from_slice(&self.table),
            fixed_ops: Small::from_slice(&self.fixed_ops),
            exiting: self.exiting,
            freed: self.freed,
        }
    }
}

/// As [`Ring`]'s `Clone`.
impl Clone for Task {
    fn clone(&self) -> Self {
        Task {
            exiting: self.exiting,
            tw: Small::from_slice(&self.tw),
        }
    }
}

/// Where a split `__ublk_check_and_get_req()` resumes (REGISTER_IO_BUF and
/// a pread/pwrite on /dev/ublkcN, after the tag lookup stored `rq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GetReqAt {
    /// `refcount_inc_not_zero()` on the looked-up request.
    RefInc,
    /// The request is started and still owns the tag (then the copy).
    StartedCheck,
    /// `ublk_register_io_buf`'s `io_buffer_register_bvec()` / the copy's
    /// `ublk_put_req_ref()`.
    Finish,
}

/// Where a split `ublk_cancel_cmd()` resumes (and the wait inside
/// `ublk_start_cancel()` that precedes it on the ring-exit path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelAt {
    /// `ublk_start_cancel()`: `blk_mq_quiesce_queue()` waits for dispatch.
    StartCancelQuiesce,
    /// `ublk_cancel_cmd()`: ACTIVE / started-request check (lock-free).
    CheckActive,
    /// `ublk_cancel_cmd()`: under `cancel_lock`, set CANCELED (K72: claim).
    Claim,
    /// `ublk_cancel_cmd()`: `io_uring_cmd_done(UBLK_IO_RES_ABORT)`.
    Complete,
}

/// Where a split `ublk_ctrl_quiesce_dev()` resumes (7.2; the first step takes
/// `ub->mutex` from [`Resume::Idle`], the last hands over to `ublk_cancel_dev()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum QuiesceAt {
    /// The device is LIVE: `mutex_lock(&ub->cancel_mutex)` and
    /// `blk_mq_quiesce_queue()` are next.
    CancelMutex,
    /// `blk_mq_quiesce_queue()` waits for every dispatch in progress; then
    /// `ublk_set_canceling(ub, true)`, unquiesce.
    Quiesce,
    /// `ublk_wait_for_idle_io()`, then `ub->mutex` is released.
    IdleWait,
}

/// Where a split `ublk_stop_dev()` resumes (STOP_DEV / DEL_DEV; on 6.12
/// also `ublk_stop_work_fn` / `ublk_quiesce_work_fn`).  The first step
/// (taking `ub->mutex`) starts from [`Resume::Idle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StopDevAt {
    /// 7.x `ublk_force_abort_dev()`: wait until no request is started.
    ForceAbort,
    /// 6.12 `__ublk_quiesce_dev()`: wait until idle, then QUIESCED.
    QuiesceDev612,
    /// `del_gendisk()` waits for every request to end.
    DelGendisk,
    /// `ublk_cancel_dev()`: `ublk_cancel_cmd()` on slot `slot`, then the next.
    CancelDev { slot: u8, at: CancelAt },
    /// 6.12 STOP_DEV / DEL_DEV after `ublk_cancel_dev()`: `cancel_work_sync()`
    /// of the stop/quiesce work (DEL_DEV: and the char device's last reference).
    CancelWorkSync612,
}

/// Where an actor is inside a kernel function the model splits into several
/// atomic steps (the resume point of the split; `Idle` between functions).
/// Each variant names the C function that continues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Resume {
    /// Not inside a split function.
    #[default]
    Idle,
    /// Server: FETCH_REQ passed `ublk_ch_uring_cmd_local()`'s checks;
    /// `ublk_fetch()` (under `ub->mutex`) is next.
    Fetch,
    /// Server: `__ublk_check_and_get_req()` on the request in `rq`.
    CheckAndGetReq(GetReqAt),
    /// Submitter: `blk_mq_submit_bio()` holds request `rq`; `ublk_queue_rq()`
    /// QR1 (prep + `blk_mq_start_request()`) is next.
    QueueRq,
    /// Submitter: QR2, `ublk_queue_cmd()`, is next.
    QueueCmd,
    /// Submitter: waits for its request (allocation `round`) to end.
    BioWait,
    /// Ring exit, 7.x `ublk_uring_cmd_cancel_fn()` on the cmd at
    /// `cancel_cursor`: `ublk_start_cancel()` then `ublk_cancel_cmd()`.
    CancelFn(CancelAt),
    /// Ring exit, 6.12 `ublk_uring_cmd_cancel_fn()`: `ublk_abort_requests()`
    /// waits for dispatch, marks canceling, aborts, unquiesces.
    AbortRequests612,
    /// Ring exit, 6.12 `ublk_uring_cmd_cancel_fn()`: `ublk_cancel_cmd()`;
    /// `need_schedule`: this call set canceling, so it schedules the stop /
    /// quiesce work once the cmd is canceled.
    CancelCmd612 { at: CancelAt, need_schedule: bool },
    /// Release work, `ublk_ch_release_work_fn()` after its abort: next
    /// `ub->mutex` and the state change.
    ReleaseMutex,
    /// Release work: `del_gendisk()` waits for every request.
    ReleaseDelGendisk,
    /// Release work: `ublk_reset_ch_dev()`, clear OPEN.
    ReleaseReset,
    /// Control (or the 6.12 stop/quiesce kworker): inside `ublk_stop_dev()`.
    StopDev(StopDevAt),
    /// `elevator_switch()`: the queue is frozen; waits until no request is
    /// allocated, then frees the old scheduler's requests.
    ElevatorFrozen,
    /// Control, `ublk_ctrl_quiesce_dev()` (7.2) under `ub->mutex`.
    QuiesceDev(QuiesceAt),
    /// Control, `ublk_ctrl_start_dev()` without `async-part-scan`: the disk
    /// is LIVE and `add_disk` waits (under `ub->mutex`) for the partition
    /// scan's read.
    StartDevPartScan,
}

/// The state of one actor: its place in its program, where it is inside a
/// split kernel function, and the locals the C code keeps across the split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ActorSt {
    /// Index of the next operation in the actor's program: a server's ops,
    /// a submitter's bios, a control task's commands (unused by others).
    pub next_op: u8,
    /// Resume point inside a split kernel function.
    pub at: Resume,
    /// Request pointer held across split steps (`req` local of the C code).
    /// A REGISTER whose lookup fails after the lookup leaves it set (stale)
    /// until the next lookup; kept, as it distinguishes states.
    pub rq: Option<RqId>,
    /// Submitter: allocation round of its request, to tell a reallocated
    /// request from its own.  Left (stale) after the bio ends.
    pub round: u8,
    /// Ring exit: the cmd the cancel walk picked last (the walk resumes
    /// after it).
    pub cancel_cursor: u8,
    /// K72 `ublk_cancel_cmd()`: the cmd it took out of `io->cmd` under
    /// `cancel_lock`, completed in its next step (ring exit, control's
    /// `ublk_cancel_dev`, the 6.12 stop work).
    pub claimed_cmd: CmdId,
    /// Ring exit of a plain-fd ring: its last in-flight request on
    /// /dev/ublkcN was freed, and with it the ring's file reference.
    pub file_dropped: bool,
    /// 6.12 stop/quiesce kworker: the work item running (1
    /// `ublk_stop_work_fn`, 2 `ublk_quiesce_work_fn`), 0 none.
    pub nosrv_work: u8,
    /// Last user-visible result this actor observed.
    pub res: i32,
    /// Finished (or dead).
    pub done: bool,
}

impl ActorSt {
    /// Inside a split kernel function (a syscall not yet returned, a work
    /// item half done)?
    pub fn in_kernel(&self) -> bool {
        self.at != Resume::Idle
    }

    /// Submitter: its bio is between `blk_mq_submit_bio()` and
    /// `ublk_queue_cmd()` (being dispatched).
    pub fn bio_dispatching(&self) -> bool {
        matches!(self.at, Resume::QueueRq | Resume::QueueCmd)
    }

    /// Submitter: its bio is submitted and waits for its request to end.
    pub fn bio_waiting(&self) -> bool {
        self.at == Resume::BioWait
    }

    /// Submitter waiting for its request: has the request ended (or been
    /// reallocated, which means it ended)?
    pub fn bio_ended(&self, reqs: &[Req]) -> bool {
        match self.rq {
            Some(r) if self.bio_waiting() => {
                let rq = &reqs[r as usize];
                rq.round != self.round || rq.ended != 0
            }
            _ => false,
        }
    }
}

/// The whole model state.
#[derive(Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct State {
    pub dev: Dev,
    pub queues: Small<Queue, 2>,
    pub slots: Small<Slot, 4>,
    /// `tags->rqs[tag]` per (queue, tag): may be stale.
    pub tags_rqs: Small<Option<RqId>, 4>,
    pub reqs: Small<Req, 8>,
    pub cmds: Small<Cmd, 16>,
    pub rings: Small<Ring, 4>,
    pub nodes: Small<Option<Node>, 4>,
    pub tasks: Small<Task, 4>,
    pub actors: Small<ActorSt, 16>,
}

/// Cloned once per explored transition: the vectors of plain values are copied in one
/// go (`SmallVec::from_slice`), not element by element as `SmallVec`'s `Clone` does.
impl Clone for State {
    fn clone(&self) -> Self {
        State {
            dev: Dev {
                requeue: Small::from_slice(&self.dev.requeue),
                requeue_run: Small::from_slice(&self.dev.requeue_run),
                ..self.dev
            },
            queues: Small::from_slice(&self.queues),
            slots: Small::from_slice(&self.slots),
            tags_rqs: Small::from_slice(&self.tags_rqs),
            reqs: Small::from_slice(&self.reqs),
            cmds: Small::from_slice(&self.cmds),
            rings: self.rings.iter().cloned().collect(),
            nodes: Small::from_slice(&self.nodes),
            tasks: self.tasks.iter().cloned().collect(),
            actors: Small::from_slice(&self.actors),
        }
    }
}
