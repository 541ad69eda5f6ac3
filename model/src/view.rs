//! How a reader sees a state: one slot (`struct ublk_io`), one request, the
//! device — the same for every consumer outside the model (printed
//! counterexamples, `explain`, the state graphs, the diff projection, the
//! conformance oracle, the simulator's coverage, the engines' inclusion
//! checks).
//!
//! Why here: each of those once had its own idea of "the slot's reference
//! count" (before p02 it lives in the request's pdu, so which request?) or
//! of a request's stage, and they drifted apart.  The raw [`State`] stays the
//! model's own encoding; this module is the one translation into the
//! driver's terms, with the names `ublk_drv.c` uses.

use crate::state::{flag, Cell, CmdId, DevState, RqId, State, TaskId, UBLK_REFCOUNT_INIT};
use crate::{Kind, Model, Sw};
use std::fmt;

/// `UBLK_IO_FLAG_*` bits, printed by name (`ACTIVE|OWNED_BY_SRV`, `0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    pub fn has(self, f: u8) -> bool {
        self.0 & f != 0
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, &str); 5] = [
            (flag::ACTIVE, "ACTIVE"),
            (flag::OWNED_BY_SRV, "OWNED_BY_SRV"),
            (flag::NEED_GET_DATA, "NEED_GET_DATA"),
            (flag::AUTO_BUF_REG, "AUTO_BUF_REG"),
            (flag::CANCELED, "CANCELED"),
        ];
        let v: Vec<_> = NAMES
            .iter()
            .filter(|(b, _)| self.0 & b != 0)
            .map(|(_, n)| *n)
            .collect();
        if v.is_empty() {
            f.write_str("0")
        } else {
            f.write_str(&v.join("|"))
        }
    }
}

/// A reference count as the driver writes it: `0`, `INIT`, `INIT-1`,
/// `INIT+2`, or a small number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefCount(pub u32);

impl fmt::Display for RefCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("0"),
            UBLK_REFCOUNT_INIT => f.write_str("INIT"),
            v if v > UBLK_REFCOUNT_INIT / 2 && v < UBLK_REFCOUNT_INIT => {
                write!(f, "INIT-{}", UBLK_REFCOUNT_INIT - v)
            }
            v if v > UBLK_REFCOUNT_INIT => write!(f, "INIT+{}", v - UBLK_REFCOUNT_INIT),
            v => write!(f, "{v}"),
        }
    }
}

impl fmt::Display for Cell {
    /// The `cmd`/`req` union of `struct ublk_io`: `NULL`, `cmd c0`, `req rq1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cell::None => f.write_str("NULL"),
            Cell::Cmd(c) => write!(f, "cmd c{c}"),
            Cell::Req(r) => write!(f, "req rq{r}"),
        }
    }
}

/// Where the count that keeps a slot's request alive lives in this kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refs {
    /// Since p02: `io->ref`.
    Io(u32),
    /// Before p02: `ublk_rq_data.ref` in the pdu of the request the slot
    /// serves (`None`: the slot serves no request).
    Pdu(Option<(RqId, u32)>),
}

impl Refs {
    /// The count's value (0 when there is none).
    pub fn value(self) -> u32 {
        match self {
            Refs::Io(v) | Refs::Pdu(Some((_, v))) => v,
            Refs::Pdu(None) => 0,
        }
    }
}

/// One slot, `struct ublk_io` of (queue, tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotView {
    pub q: u8,
    pub tag: u8,
    pub flags: Flags,
    /// `io->cmd` / `io->req`.
    pub cell: Cell,
    /// `io->task`.
    pub task: Option<TaskId>,
    /// The request this slot serves: the one in `io->req`, else the one
    /// dispatched to it in the current round (its cmd already re-armed).
    pub serves: Option<RqId>,
    pub refs: Refs,
    /// `io->task_registered_buffers`.
    pub trb: u32,
    /// `tags->rqs[tag]`: the last request started on this tag (may have
    /// ended since).
    pub tags_rq: Option<RqId>,
    /// Ghost: the request of the current dispatch round.
    pub round: Option<RqId>,
    /// Ghost: references held by registrations / off-task copies.
    pub out_refs: u8,
}

impl SlotView {
    /// `io[q0t1]`.
    pub fn name(&self) -> String {
        format!("io[q{}t{}]", self.q, self.tag)
    }

    /// `io->cmd` holds a cmd.
    pub fn cmd(&self) -> Option<CmdId> {
        match self.cell {
            Cell::Cmd(c) => Some(c),
            _ => None,
        }
    }

    /// `io->req` holds a request.
    pub fn req(&self) -> Option<RqId> {
        match self.cell {
            Cell::Req(r) => Some(r),
            _ => None,
        }
    }

    /// OWNED_BY_SRV with the request in `io->req`: the server owns it.
    pub fn owned(&self) -> bool {
        self.flags.has(flag::OWNED_BY_SRV) && self.req().is_some()
    }
}

/// A request's life stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Its memory is gone (an elevator switch freed the scheduler's pages).
    Freed,
    /// Not allocated, never ended in this round.
    Free,
    /// Ended and given back, with the result the submitter saw.
    Ended(i32),
    /// Allocated, not started.
    Idle,
    /// `MQ_RQ_IN_FLIGHT`.
    InFlight,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Stage::Freed => f.write_str("FREED"),
            Stage::Free => f.write_str("free"),
            Stage::Ended(r) => write!(f, "ended({r})"),
            Stage::Idle => f.write_str("IDLE"),
            Stage::InFlight => f.write_str("IN_FLIGHT"),
        }
    }
}

/// One `struct request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReqView {
    pub id: RqId,
    pub stage: Stage,
    pub q: u8,
    /// `rq->tag`.
    pub tag: Option<u8>,
    pub write: bool,
    /// `ublk_rq_data.ref` (before p02; 0 after).
    pub pdu_ref: u32,
    /// The server holds its dispatch share (dispatched, not yet committed
    /// or aborted) — ghost state, which places the pre-p11 share of `1`.
    pub server_holds: bool,
    /// How often it ended in its current allocation round (more than once
    /// breaks S2).
    pub ends: u8,
}

impl ReqView {
    /// Between allocation and `blk_mq_free_request()`.
    pub fn allocated(&self) -> bool {
        matches!(self.stage, Stage::Idle | Stage::InFlight)
    }
}

impl fmt::Display for ReqView {
    /// `IN_FLIGHT tag 0`, `IDLE tag - pdu ref INIT`, `ended(-5)`, `FREED`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.allocated() {
            return write!(f, "{}", self.stage);
        }
        write!(f, "{} tag ", self.stage)?;
        match self.tag {
            Some(t) => write!(f, "{t}")?,
            None => f.write_str("-")?,
        }
        if self.pdu_ref != 0 {
            write!(f, " pdu ref {}", RefCount(self.pdu_ref))?;
        }
        Ok(())
    }
}

/// The device, `struct ublk_device` and its queues' shared flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevView {
    /// `dev_info.state`.
    pub state: DevState,
    pub has_disk: bool,
    /// `ub->canceling` or any queue's `ubq->canceling`.
    pub canceling: bool,
    /// Each `struct ublk_queue`.
    pub queues: Vec<QueueView>,
    /// Any queue's `force_abort`.
    pub force_abort: bool,
    /// References on the /dev/ublkcN file.
    pub file_refs: u8,
    /// Registered buffers per ring, (ring, count) for rings with any.
    pub buffers: Vec<(usize, usize)>,
    /// `q->requeue_list`.
    pub requeue: Vec<RqId>,
    pub recovering: bool,
    pub new_server_open: bool,
    /// `UB_STATE_OPEN`.
    pub open: bool,
    /// `UB_STATE_USED`: a disk was added and not yet freed.
    pub used: bool,
    /// The last disk was deleted and no new one added.
    pub disk_removed: bool,
    /// The fault "a completion is dropped to the timeout handler" was used.
    pub fake_timeout_used: bool,
    /// STOP_DEV ran before any disk was added (ghost).
    pub stopped_unstarted: bool,
}

/// The flags of one `struct ublk_queue` a reader follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueView {
    pub canceling: bool,
    pub force_abort: bool,
    pub fail_io: bool,
}

impl Model {
    /// Slot `i` (queue-major: `q * depth + tag`).
    pub fn slot_view(&self, s: &State, i: usize) -> SlotView {
        let io = &s.slots[i];
        let depth = self.dev.depth as usize;
        let serves = match io.cell {
            Cell::Req(r) => Some(r),
            _ => io.g_round,
        };
        let refs = if self.feat.has(Sw::P02) {
            Refs::Io(io.refcnt)
        } else {
            Refs::Pdu(serves.map(|r| (r, s.reqs[r as usize].pdu_ref)))
        };
        SlotView {
            q: (i / depth) as u8,
            tag: (i % depth) as u8,
            flags: Flags(io.flags),
            cell: io.cell,
            task: io.task,
            serves,
            refs,
            trb: io.trb,
            tags_rq: s.tags_rqs[i],
            round: io.g_round,
            out_refs: io.g_out,
        }
    }

    /// Every slot, queue-major.
    pub fn slot_views<'a>(&'a self, s: &'a State) -> impl Iterator<Item = SlotView> + 'a {
        (0..s.slots.len()).map(move |i| self.slot_view(s, i))
    }

    /// Request `r`.
    pub fn req_view(&self, s: &State, r: usize) -> ReqView {
        let rq = &s.reqs[r];
        let stage = if !rq.alive {
            Stage::Freed
        } else if rq.allocated {
            if rq.started {
                Stage::InFlight
            } else {
                Stage::Idle
            }
        } else if rq.ended > 0 {
            Stage::Ended(rq.res)
        } else {
            Stage::Free
        };
        ReqView {
            id: r as RqId,
            stage,
            q: rq.q,
            tag: rq.tag,
            write: rq.write,
            pdu_ref: rq.pdu_ref,
            server_holds: rq.g_hold,
            ends: rq.ended,
        }
    }

    /// Every request.
    pub fn req_views<'a>(&'a self, s: &'a State) -> impl Iterator<Item = ReqView> + 'a {
        (0..s.reqs.len()).map(move |r| self.req_view(s, r))
    }

    /// The slot request `r` would occupy by its tag (its queue's tag 0 when
    /// it has none).
    pub fn slot_of_req(&self, s: &State, r: usize) -> usize {
        let rq = &s.reqs[r];
        rq.tag
            .map_or(0, |t| rq.q as usize * self.dev.depth as usize + t as usize)
    }

    /// The device.
    pub fn dev_view(&self, s: &State) -> DevView {
        let d = &s.dev;
        DevView {
            state: d.state,
            has_disk: d.has_disk,
            canceling: d.canceling || s.queues.iter().any(|q| q.canceling),
            queues: s
                .queues
                .iter()
                .map(|q| QueueView {
                    canceling: q.canceling,
                    force_abort: q.force_abort,
                    fail_io: q.fail_io,
                })
                .collect(),
            force_abort: s.queues.iter().any(|q| q.force_abort),
            file_refs: d.file_refs,
            buffers: s
                .rings
                .iter()
                .enumerate()
                .map(|(i, r)| (i, r.table.iter().filter(|x| x.is_some()).count()))
                .filter(|(_, n)| *n > 0)
                .collect(),
            requeue: d.requeue.to_vec(),
            recovering: d.recovering,
            new_server_open: d.new_server_open,
            open: d.open,
            used: d.used,
            disk_removed: d.disk_removed,
            fake_timeout_used: d.fake_timeout_used,
            stopped_unstarted: d.g_stopped_unstarted,
        }
    }

    /// `io->task` by the name of the server thread it is (`NULL`, `daemon`,
    /// `task3` for a task no actor runs).
    pub fn task_name(&self, t: Option<TaskId>) -> String {
        t.map_or("NULL".into(), |t| {
            self.actors
                .iter()
                .find(|d| matches!(d.kind, Kind::Server { task, .. } if task == t))
                .map_or(format!("task{t}"), |d| d.name.clone())
        })
    }
}
