//! The model's static vocabulary, shared by the step code, the invariants
//! and the liveness checks: which actors exist ([`Kind`], [`ActorDef`]),
//! which uring_cmds ([`CmdDef`]), the compiled scenario they form
//! ([`Model`]; its methods are in `lib.rs` and the step modules) and what a step reports ([`StepInfo`],
//! [`Outcome`]).
//!
//! These live apart from the step code (`actors.rs`) so that the modules
//! form no cycle: `invariants` and `liveness` read `Kind` without depending
//! on the code that executes steps.

use crate::config::*;
use crate::features::Features;
use crate::func::Func;
use crate::state::*;

/// A compiled scenario: static tables every step reads.
#[derive(Clone, Debug)]
pub struct Model {
    pub scenario: Scenario,
    pub dev: DevConfig,
    pub feat: Features,
    pub actors: Vec<ActorDef>,
    pub cmds: Vec<CmdDef>,
    /// Owner task of each ring.
    pub rings: Vec<TaskId>,
    /// Whether each ring registered /dev/ublkcN as a fixed file.
    pub fixed_file: Vec<bool>,
    /// Server process of each task: 0 the original server, 1 the server
    /// that takes over in a user recovery.
    pub procs: Vec<u8>,
    pub(crate) n_servers: u8,
}

/// A derived or declared actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A server thread: runs on `task`, issues uring_cmds on `ring`.
    Server {
        task: TaskId,
        ring: RingId,
        /// 0: the original server process; 1: the recovery's new server.
        process: u8,
        prog: Vec<(Op, Option<CmdId>)>,
    },
    Submitter {
        q: u8,
        bios: Vec<Bio>,
    },
    Control {
        prog: Vec<CtrlOp>,
    },
    /// SIGKILL of the whole server process.
    Killer,
    Elevator,
    /// Task work of a server task (`ublk_cmd_tw_cb`); fallback once it exits.
    TaskWork {
        task: TaskId,
    },
    /// io_uring ring exit: cancel loop, buffer-table then file teardown.
    RingExit {
        ring: RingId,
    },
    /// Completion of fixed-buffer I/O on a ring (drops node references).
    FixedIo {
        ring: RingId,
    },
    /// `blk_mq_requeue_work`.
    RequeueWork,
    /// `ublk_ch_release_work_fn` (exit_work).
    ReleaseWork,
    /// Another process holding /dev/ublkcN; its one step closes it.
    FdHolder,
    /// The recovery's new server process opening /dev/ublkcN (`ublk_ch_open`).
    Opener,
    /// Fault: a server thread closes its ring.
    RingCloseFault {
        task: TaskId,
    },
    /// Fault: a server thread exits (ring left open).
    ThreadDeathFault {
        task: TaskId,
    },
    /// K612 `ublk_timeout` of a request on hw queue `q` (privileged device).
    Timeout {
        q: u8,
    },
    /// K612 `ub->stop_work` / `ub->quiesce_work` (one kworker runs both).
    NosrvWork,
    /// The partition scan of START_DEV's `add_disk` (`disk_scan_partitions`,
    /// without `async-part-scan`): one READ of sector 0 on hw queue `q`.
    PartScan {
        q: u8,
    },
}

impl Kind {
    /// One of the kernel's own contexts (task work, ring exit, fixed-buffer
    /// completion, requeue and release work, the new server's open), as
    /// opposed to user space and injected events.  Engines that drive user
    /// actions (the oracle, the simulator's progress tracking) ask this.
    pub fn is_kernel(&self) -> bool {
        matches!(
            self,
            Kind::TaskWork { .. }
                | Kind::RingExit { .. }
                | Kind::FixedIo { .. }
                | Kind::RequeueWork
                | Kind::ReleaseWork
                | Kind::Opener
                | Kind::Timeout { .. }
                | Kind::NosrvWork
                | Kind::PartScan { .. }
        )
    }
}

#[derive(Clone, Debug)]
pub struct ActorDef {
    pub name: String,
    pub kind: Kind,
}

/// Static identity of a uring_cmd.
#[derive(Clone, Debug)]
pub struct CmdDef {
    pub actor: ActorId,
    pub task: TaskId,
    pub ring: RingId,
    pub q: u8,
    pub tag: u8,
    pub op: Op,
}

/// What one step did, for traces and counterexamples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepInfo {
    pub actor: ActorId,
    /// The kernel function (or user-space action) this step models.
    pub func: Func,
    /// A result user space observes at this step (cmd result, CQE, bio status).
    pub result: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Blocked,
    Stepped(StepInfo),
}
