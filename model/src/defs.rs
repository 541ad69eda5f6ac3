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
    /// A request may get any free driver tag (else the lowest): off where a
    /// server thread serves two tags of a queue (`servers_serve_one_tag` in
    /// lib.rs says why).
    pub any_tag: bool,
    /// Fewer than 256 requests can be allocated in all, so no waiting reader's request
    /// `round` byte can wrap back (`independence.rs`: without it no step is local).
    /// Computed once here: the partial-order reduction asks per expanded state.
    pub(crate) allocations_bounded: bool,
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
    /// The ring-exit actor of each ring (task `t`'s server is actor `t`).
    pub(crate) ring_exit: Vec<ActorId>,
    /// The server actors of each task: its first strand (actor `t`), then its other strands
    /// (`ActorSpec::Strand`).
    pub(crate) strands: Vec<Vec<ActorId>>,
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

/// One transition's label: the actor that steps and, where the kernel's own
/// choice is free, which alternative it takes (0 where there is none).
///
/// blk-mq hands out driver tags (and, with an I/O scheduler, scheduler
/// requests) from an sbitmap whose per-CPU hint makes the tag a request gets
/// depend on the submitting CPU and its history: any free tag, not the lowest.
/// The model leaves that choice to the explorer ([`Model::choices`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Move {
    pub actor: ActorId,
    pub choice: u8,
}

/// `3`, or `3.1` for actor 3's alternative 1.
impl std::fmt::Display for Move {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.choice {
            0 => write!(f, "{}", self.actor),
            c => write!(f, "{}.{c}", self.actor),
        }
    }
}

/// The actor's number where there is no choice (so choice-free paths read as
/// before), `[actor, choice]` otherwise.
impl serde::Serialize for Move {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.choice {
            0 => s.serialize_u8(self.actor),
            c => [self.actor, c].serialize(s),
        }
    }
}

impl From<ActorId> for Move {
    fn from(actor: ActorId) -> Move {
        Move { actor, choice: 0 }
    }
}

/// What one step did, for traces and counterexamples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepInfo {
    pub actor: ActorId,
    /// Which of the step's alternatives was taken ([`Move::choice`]).
    pub choice: u8,
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
