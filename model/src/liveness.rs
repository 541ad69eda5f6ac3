//! Liveness properties L1–L5 (spec §9.4) as *obligations*: things that are
//! open in a state and must eventually be discharged, under weak fairness of
//! the actors that keep running.
//!
//! A hang is a reachable dead end with an open obligation, or a fair cycle
//! along which one obligation stays open (the checker finds both on the
//! explored state graph).  Which actors are weakly fair is a property of
//! the actor kind: kernel contexts and live server threads always run when
//! they can; a SIGKILL, an elevator switch or another process holding the
//! char device *may* never act.

use crate::defs::Kind;
use crate::defs::Model;
use crate::state::*;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Prop {
    /// L1/L2: every submitted request is eventually ended (or, in
    /// recovery-queue mode, parked on the requeue list).
    L1,
    L2,
    /// L3: ring exit terminates: every cancelable cmd of an exiting ring is
    /// eventually completed.
    L3,
    /// L4: the release work terminates.
    L4,
    /// L5: STOP_DEV returns.
    L5,
}

impl Prop {
    pub fn describe(self) -> &'static str {
        match self {
            Prop::L1 => "with a live server, every started request is eventually ended",
            Prop::L2 => "once the server is gone and /dev/ublkcN closed, every request is ended or parked for recovery",
            Prop::L3 => "ring exit terminates: every cancelable cmd of an exiting ring is eventually completed",
            Prop::L4 => "the release work (ublk_ch_release_work_fn) terminates",
            Prop::L5 => "STOP_DEV returns",
        }
    }
}

impl fmt::Display for Prop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// One open obligation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Obligation {
    /// Request `rq` must end.
    Request(RqId),
    /// Cmd must be completed by the exiting ring's cancel loop.
    Cmd(CmdId),
    Release,
    Stop,
}

/// The open obligations of a state, as a compact bit set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Obligations {
    pub reqs: u64,
    pub cmds: u128,
    pub release: bool,
    pub stop: bool,
}

impl Obligations {
    pub fn is_empty(&self) -> bool {
        self.reqs == 0 && self.cmds == 0 && !self.release && !self.stop
    }
    pub fn has(&self, o: Obligation) -> bool {
        match o {
            Obligation::Request(r) => self.reqs & (1 << r) != 0,
            Obligation::Cmd(c) => self.cmds & (1 << c) != 0,
            Obligation::Release => self.release,
            Obligation::Stop => self.stop,
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = Obligation> + '_ {
        let r = (0..64)
            .filter(|i| self.reqs & (1 << i) != 0)
            .map(|i| Obligation::Request(i as RqId));
        let c = (0..128)
            .filter(|i| self.cmds & (1 << i) != 0)
            .map(|i| Obligation::Cmd(i as CmdId));
        let rel = self.release.then_some(Obligation::Release);
        let stop = self.stop.then_some(Obligation::Stop);
        r.chain(c).chain(rel).chain(stop)
    }
}

impl Model {
    /// Can liveness be checked on this model (obligation sets fit)?
    pub fn liveness_supported(&self) -> bool {
        // bit sets: cmds in a u128, requests in a u64, enabled actors in a u64
        self.cmds.len() <= 128 && self.nr_slots() as usize * 4 <= 64 && self.actors.len() <= 64
    }

    /// Weak fairness: an actor that stays enabled eventually steps.  False
    /// for events that may never happen.
    pub fn weakly_fair(&self, a: ActorId) -> bool {
        !matches!(
            self.actors[a as usize].kind,
            Kind::Killer | Kind::Elevator | Kind::FdHolder
        )
    }

    /// Strong fairness: an actor enabled again and again eventually steps.
    /// Task work waits for the ring's `uring_lock`, which an exiting ring's
    /// cancel passes take and drop again and again; the kernel's mutex hands
    /// it over to a waiter that keeps losing (MUTEX_FLAG_HANDOFF), so a cycle
    /// in which task work is enabled somewhere but never runs is no hang.
    pub fn strongly_fair(&self, a: ActorId) -> bool {
        matches!(self.actors[a as usize].kind, Kind::TaskWork { .. })
    }

    /// Are all server threads gone?
    pub fn server_gone(&self, s: &State) -> bool {
        self.server_tasks().all(|t| s.tasks[t as usize].exiting)
    }

    /// Request `r` is owned by a server thread that exited — or closed the ring it serves
    /// the slot with — while other threads of its process live on: the server broke its
    /// side of the protocol (L1 assumes a responsive server; a thread without its ring can
    /// never COMMIT), and the driver cannot act before the whole process is gone (then L2
    /// applies).
    ///
    /// Likewise a request a buffer pins that is registered in the ring of a thread that
    /// exited while the process (and so the ring) lives on: nothing in the kernel drops that
    /// registration before the process goes (found by the configuration sweep,
    /// `g-d1-zc-perio-off-r-offloadexit`: an offload thread dies between REGISTER and
    /// UNREGISTER).
    fn abandoned(&self, s: &State, r: RqId) -> bool {
        let dead_thread_alive_proc = |t: TaskId| {
            let p = self.procs[t as usize];
            s.tasks[t as usize].exiting && self.proc_tasks(p).any(|u| !s.tasks[u as usize].exiting)
        };
        let pinned = s.nodes.iter().flatten().any(|n| {
            n.rq == r
                && s.reqs[r as usize].round == n.round
                && !s.rings[n.ring as usize].exiting
                && dead_thread_alive_proc(self.rings[n.ring as usize])
        });
        pinned
            || s.slots.iter().any(|io| {
                io.has(flag::OWNED_BY_SRV)
                    && io.cell == Cell::Req(r)
                    && io.task.is_some_and(|t| {
                        let p = self.procs[t as usize];
                        let gone = s.tasks[t as usize].exiting || s.rings[t as usize].exiting;
                        gone && self.proc_tasks(p).any(|u| !s.tasks[u as usize].exiting)
                    })
            })
    }

    /// The obligations open in `s`.
    pub fn obligations(&self, s: &State) -> Obligations {
        let mut o = Obligations::default();
        let parks = self.dev.recovery.queues_io();
        // once a live server abandoned a request, no request is owed (L1 assumes a
        // responsive server): the others may wait behind it, e.g. in STOP_DEV's freeze
        let abandoned = (0..s.reqs.len()).any(|r| self.abandoned(s, r as RqId));
        for (i, r) in s.reqs.iter().enumerate() {
            // parked "until END_USER_RECOVERY / STOP_DEV" (spec §9.4 L2): once
            // END_USER_RECOVERY made the device LIVE (and no server died since)
            // nothing excuses a held request
            let parked = parks
                && s.dev.requeue.contains(&(i as RqId))
                && !(s.dev.state == DevState::Live && s.dev.g_recovered);
            if r.allocated && r.alive && !parked && !abandoned {
                o.reqs |= 1 << i;
            }
        }
        for (i, c) in s.cmds.iter().enumerate() {
            let ring = self.cmds[i].ring as usize;
            if c.st == CmdSt::Pending && c.cancelable && s.rings[ring].exiting {
                o.cmds |= 1 << i;
            }
        }
        o.release = s.dev.release_pending;
        // STOP_DEV returns "if the server keeps serving": not owed once a
        // server thread abandoned a request it owns
        o.stop = !abandoned
            && self
                .actors
                .iter()
                .zip(&s.actors)
                .any(|(d, st)| match &d.kind {
                    Kind::Control { prog } => {
                        !st.done
                            && prog.get(st.next_op as usize)
                                == Some(&crate::config::CtrlOp::StopDev)
                    }
                    _ => false,
                });
        o
    }

    /// The property an obligation belongs to, in state `s`.
    pub fn prop_of(&self, s: &State, o: Obligation) -> Prop {
        match o {
            Obligation::Request(_) if self.server_gone(s) => Prop::L2,
            Obligation::Request(_) => Prop::L1,
            Obligation::Cmd(_) => Prop::L3,
            Obligation::Release => Prop::L4,
            Obligation::Stop => Prop::L5,
        }
    }

    /// A human description of an obligation.
    pub fn describe_obligation(&self, o: Obligation) -> String {
        match o {
            Obligation::Request(r) => format!("request rq{r} is never ended"),
            Obligation::Cmd(c) => {
                let d = &self.cmds[c as usize];
                let who = &self.actors[d.actor as usize].name;
                format!(
                    "cmd c{c} ({who}'s {:?} on q{}t{}) is never completed by the ring exit",
                    d.op, d.q, d.tag
                )
            }
            Obligation::Release => "the release work never finishes".into(),
            Obligation::Stop => "STOP_DEV never returns".into(),
        }
    }
}
