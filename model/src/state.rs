//! The model's state: one compact, hashable value.
//!
//! Field names follow `ublk_drv.c` (`ublk_io`, `ublk_queue`, `ublk_device`)
//! and blk-mq/io_uring where the driver depends on them.  Fields prefixed
//! `g_` are *ghost* state: bookkeeping the kernel does not have, kept only so
//! invariants can state what must hold (e.g. how many buffer registrations of
//! a request are still outstanding).

use serde::Serialize;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DevState {
    Dead,
    Live,
    Quiesced,
    FailIo,
}

/// The `cmd`/`req` union of `struct ublk_io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Cell {
    None,
    Cmd(CmdId),
    Req(RqId),
}

/// `struct ublk_device` (and the request queue / gendisk bits it drives).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
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
    pub requeue: Vec<RqId>,
    /// Spliced by a kick, being re-issued by `blk_mq_requeue_work`.
    pub requeue_run: Vec<RqId>,
    /// `exit_work` scheduled by `ublk_ch_release()`.
    pub release_pending: bool,
    /// First index of the current scheduler request pool.
    pub sched_pool: u8,
    /// The fake-timeout injection was consumed.
    pub fake_timeout_used: bool,
    pub get_data_fail_used: bool,
    /// K612 `ub->stop_work` / `ub->quiesce_work` scheduled (cancel fn or
    /// timeout handler after `ublk_abort_requests`).
    pub stop_work: bool,
    pub quiesce_work: bool,
}

/// `struct ublk_queue`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum CmdSt {
    NotIssued,
    /// Kept by the driver (`-EIOCBQUEUED`).
    Pending,
    Done(i32),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Node {
    pub rq: RqId,
    pub round: u8,
    pub slot: u8,
    pub ring: RingId,
    /// Table reference + one per in-flight fixed-buffer op.
    pub refs: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Ring {
    /// Sparse buffer table: index -> node.
    pub table: Vec<Option<NodeId>>,
    /// In-flight fixed-buffer ops (node each holds).
    pub fixed_ops: Vec<NodeId>,
    /// Ring exit started (owner died / exited).
    pub exiting: bool,
    /// Ring freed (table torn down, file reference dropped).
    pub freed: bool,
}

/// A task-work entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Tw {
    /// `ublk_cmd_tw_cb` for this cmd (request in its pdu).
    Dispatch(CmdId),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Task {
    /// PF_EXITING: task work runs from the fallback kworker.
    pub exiting: bool,
    pub tw: Vec<Tw>,
}

/// Program counter and scratch registers of one actor.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize)]
pub struct ActorSt {
    pub pc: u8,
    pub sub: u8,
    /// Request pointer held across split steps (`req` local of the C code).
    pub rq: Option<RqId>,
    /// Another scratch value (cursor, claimed cmd, allocation round, …).
    pub x: u8,
    /// Cursor of loops (ring-exit cancel walk, cancel_dev slot walk).
    pub y: u8,
    /// Last user-visible result this actor observed.
    pub res: i32,
    /// Finished (or dead).
    pub done: bool,
}

/// The whole model state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct State {
    pub dev: Dev,
    pub queues: Vec<Queue>,
    pub slots: Vec<Slot>,
    /// `tags->rqs[tag]` per (queue, tag): may be stale.
    pub tags_rqs: Vec<Option<RqId>>,
    pub reqs: Vec<Req>,
    pub cmds: Vec<Cmd>,
    pub rings: Vec<Ring>,
    pub nodes: Vec<Option<Node>>,
    pub tasks: Vec<Task>,
    pub actors: Vec<ActorSt>,
}
