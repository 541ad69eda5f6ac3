//! The canonical projection of a model state: what two switch sets (or two
//! engines) can compare state by state.
//!
//! Two runs of one scenario under different switches reach states that differ
//! in internals which mean the same thing — the refcount in the request pdu
//! (before p02) or in `ublk_io` (after), `1` (before p11) or
//! `UBLK_REFCOUNT_INIT` (after) as the server's dispatch share, a daemon
//! registration counted in `io->ref` (before p11) or in
//! `task_registered_buffers` (after), the sub-step of a split operation.
//! [`project`] keeps only what both sides share in meaning, so a state one
//! side reaches and the other does not is a behavioural difference, not an
//! encoding one.
//!
//! What is kept, and how:
//!
//! | part | kept as |
//! |---|---|
//! | each io slot | `UBLK_IO_FLAG_*` bits, which cell of the `cmd`/`req` union is set, whether `io->task` is set, the symbolic reference count [`RefSym`] |
//! | each request | [`RqSt`]: free / idle / in flight / ended / freed |
//! | each declared actor (servers, submitters, control, SIGKILL, elevator) | program counter and `done` (not the sub-step: splits differ by switch) |
//! | the device | `dev_info.state`, per-queue `canceling` |
//!
//! Left out on purpose: uring_cmd and buffer-node bookkeeping, ring tables,
//! task work queues, locks, derived kernel actors and all ghost state (the
//! ghost `g_hold` is read once, to place the pre-p11 dispatch share; see
//! [`RefSym`]).

use serde::Serialize;
use std::fmt;
use ublk_model::state::{Cell, RqId, State, UBLK_REFCOUNT_INIT};
use ublk_model::view::{Flags, Refs, ReqView, SlotView, Stage};
use ublk_model::{Kind, Model, Sw};

/// A reference count, symbolic: the server's dispatch share shows as `INIT`
/// whatever its encoding, other holders (registrations, off-task copies) as
/// `+k`.  With p11 the value is `io->ref + task_registered_buffers` (daemon
/// registrations moved from the first into the second); before p11 the
/// share is `1`, present while the server holds the request (ghost
/// `g_hold`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RefSym {
    /// No share: `k` references (0 when idle).
    Count(i64),
    /// The dispatch share plus `k` (negative: a leak or an early drop).
    Init(i64),
}

impl fmt::Display for RefSym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RefSym::Count(k) => write!(f, "{k}"),
            RefSym::Init(0) => write!(f, "INIT"),
            RefSym::Init(k) if k > 0 => write!(f, "INIT+{k}"),
            RefSym::Init(k) => write!(f, "INIT{k}"),
        }
    }
}

/// Which member of the `cmd`/`req` union holds something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum CellKind {
    Null,
    Cmd,
    Req,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SlotP {
    pub flags: u8,
    pub cell: CellKind,
    pub task_set: bool,
    pub refs: RefSym,
}

/// A request's life stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RqSt {
    Free,
    Idle,
    InFlight,
    /// Ended and given back (result as the submitter saw it).
    Ended(i32),
    /// Scheduler pages freed by an elevator switch.
    Freed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ActorP {
    pub pc: u8,
    pub done: bool,
}

/// The canonical projection of one state (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Projected {
    pub dev_state: String,
    pub canceling: Vec<bool>,
    pub slots: Vec<SlotP>,
    pub reqs: Vec<RqSt>,
    /// Declared actors only, in declaration order.
    pub actors: Vec<ActorP>,
}

/// Whether actor kind `k` is declared by the scenario (not derived).
pub fn declared(k: &Kind) -> bool {
    matches!(
        k,
        Kind::Server { .. }
            | Kind::Submitter { .. }
            | Kind::Control { .. }
            | Kind::Killer
            | Kind::Elevator
    )
}

/// The request whose pdu holds slot `sl`'s count before p02: the one the
/// slot is serving (its dispatch round), else the one its tag maps to.
fn pdu_owner(io: &SlotView) -> Option<RqId> {
    io.serves.or(io.tags_rq)
}

fn ref_sym(m: &Model, s: &State, io: &SlotView) -> RefSym {
    let rq = pdu_owner(io);
    let raw = match io.refs {
        Refs::Io(v) => v as i64,
        Refs::Pdu(_) => rq.map_or(0, |r| m.req_view(s, r as usize).pdu_ref as i64),
    };
    if m.feat.has(Sw::P11) {
        let total = raw + io.trb as i64;
        let init = UBLK_REFCOUNT_INIT as i64;
        if total >= init / 2 {
            RefSym::Init(total - init)
        } else {
            RefSym::Count(total)
        }
    } else {
        let hold = rq.is_some_and(|r| m.req_view(s, r as usize).server_holds);
        if hold {
            RefSym::Init(raw - 1)
        } else {
            RefSym::Count(raw)
        }
    }
}

fn rq_st(r: ReqView) -> RqSt {
    match r.stage {
        Stage::Freed => RqSt::Freed,
        Stage::InFlight => RqSt::InFlight,
        Stage::Idle => RqSt::Idle,
        Stage::Ended(res) => RqSt::Ended(res),
        Stage::Free => RqSt::Free,
    }
}

/// Project state `s` of model `m`.
pub fn project(m: &Model, s: &State) -> Projected {
    let slots = m
        .slot_views(s)
        .map(|io| SlotP {
            flags: io.flags.0,
            cell: match io.cell {
                Cell::None => CellKind::Null,
                Cell::Cmd(_) => CellKind::Cmd,
                Cell::Req(_) => CellKind::Req,
            },
            task_set: io.task.is_some(),
            refs: ref_sym(m, s, &io),
        })
        .collect();
    Projected {
        dev_state: format!("{:?}", m.dev_view(s).state),
        canceling: m.dev_view(s).queues.iter().map(|q| q.canceling).collect(),
        slots,
        reqs: m.req_views(s).map(rq_st).collect(),
        actors: m
            .actors
            .iter()
            .zip(&s.actors)
            .filter(|(d, _)| declared(&d.kind))
            .map(|(_, a)| ActorP {
                pc: a.next_op,
                done: a.done,
            })
            .collect(),
    }
}

impl Projected {
    /// One line for reports: `dev Live; io0 ACTIVE cmd task ref 0; rq0 in-flight; pc 2,1,0`.
    pub fn render(&self, m: &Model) -> String {
        let mut parts = vec![format!("dev {}", self.dev_state)];
        if self.canceling.iter().any(|c| *c) {
            parts.push("canceling".into());
        }
        for (i, io) in self.slots.iter().enumerate() {
            let cell = match io.cell {
                CellKind::Null => "NULL",
                CellKind::Cmd => "cmd",
                CellKind::Req => "req",
            };
            let task = if io.task_set { " task" } else { "" };
            parts.push(format!(
                "io{i} {} {cell}{task} ref {}",
                Flags(io.flags),
                io.refs
            ));
        }
        for (i, r) in self.reqs.iter().enumerate() {
            let st = match r {
                RqSt::Free => "free".to_string(),
                RqSt::Idle => "idle".into(),
                RqSt::InFlight => "in-flight".into(),
                RqSt::Ended(res) => format!("ended({res})"),
                RqSt::Freed => "FREED".into(),
            };
            parts.push(format!("rq{i} {st}"));
        }
        let names = m.actors.iter().filter(|d| declared(&d.kind));
        let pcs: Vec<_> = names
            .zip(&self.actors)
            .map(|(d, a)| {
                if a.done {
                    format!("{} done", d.name)
                } else {
                    format!("{}@{}", d.name, a.pc)
                }
            })
            .collect();
        parts.push(pcs.join(" "));
        parts.join("; ")
    }
}
