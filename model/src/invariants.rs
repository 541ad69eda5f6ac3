//! Safety invariants S1–S9 (spec §9.3), S10 (recovery semantics, spec
//! §1.6 / §3.6: in recovery-queue mode new I/O is held, not failed), S11
//! (QUIESCE_DEV's idle wait does what its comment says: "Each queue needs at
//! least one active command for notifying ublk server") and S12 (no NULL `ub->ub_disk`: B-17).
//!
//! S1, S2, S3, S7, S8, S10, S11 and S12 are checked *at the access* inside the step that
//! makes it (see `exec.rs`, `dispatch.rs`, `io_cmd.rs`); S4, S5, S6 and S9
//! are state predicates checked after every step by [`check`].

use crate::defs::Kind;
use crate::defs::Model;
use crate::features::Sw;
use crate::state::*;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Inv {
    S1,
    S2,
    S3,
    S4,
    S5,
    S6,
    S7,
    S8,
    S9,
    S10,
    S11,
    S12,
}

impl Inv {
    pub fn describe(self) -> &'static str {
        match self {
            Inv::S1 => "no access to freed request memory",
            Inv::S2 => "each request is ended exactly once per dispatch round",
            Inv::S3 => "a request is not ended while a registered buffer references it, and a buffer is not released after its request ended",
            Inv::S4 => "refcounts: no underflow/overflow; ref (+ trb) = dispatch share + outstanding registrations and copies",
            Inv::S5 => "every uring_cmd is completed exactly once, and a cmd the driver keeps is reachable from its slot",
            Inv::S6 => "slot flags agree with the cmd/req union (ACTIVE ⇒ pending cmd, OWNED ⇒ started request, ¬(ACTIVE ∧ OWNED))",
            Inv::S7 => "a request is only handed to a slot whose cmd is pending",
            Inv::S8 => "daemon-only operations run on io->task",
            Inv::S9 => "START_DEV only with every slot armed; readiness counts armed slots",
            Inv::S10 => "recovery-queue mode: until STOP_DEV, ublk_queue_rq holds (requeues) a request it cannot hand to a server instead of failing it",
            Inv::S12 => "a control command dereferences ub->ub_disk only while the device has a disk (between START_DEV and STOP_DEV)",
            Inv::S11 => "QUIESCE_DEV tells every queue: its idle wait returns only once each hw queue has an io whose request is not started (so ublk_cancel_dev can complete that io's FETCH)",
        }
    }
}

impl fmt::Display for Inv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A broken invariant: which one and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Violation {
    pub inv: Inv,
    pub msg: String,
    /// The step that broke it, when the break is found after the step
    /// (state predicates); inline checks name the function in `msg`.
    #[serde(default)]
    pub func: String,
}

impl Violation {
    pub fn new(inv: Inv, msg: String) -> Self {
        Violation {
            inv,
            msg,
            func: String::new(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.inv, self.inv.describe(), self.msg)
    }
}

fn fail(inv: Inv, msg: String) -> Result<(), Violation> {
    Err(Violation::new(inv, msg))
}

/// The state predicates, checked after every step.
pub fn check(m: &Model, s: &State) -> Result<(), Violation> {
    check_refs(m, s)?;
    check_cmds(m, s)?;
    check_slots(m, s)?;
    let armed = s
        .slots
        .iter()
        .filter(|io| io.flags & (flag::ACTIVE | flag::OWNED_BY_SRV) != 0)
        .count();
    if s.dev.nr_io_ready as usize > armed {
        return fail(
            Inv::S9,
            format!(
                "nr_io_ready is {} but only {armed} slot(s) are fetched",
                s.dev.nr_io_ready
            ),
        );
    }
    Ok(())
}

/// S4: the reference accounting of spec §5.4 (and its pre-series form).
fn check_refs(m: &Model, s: &State) -> Result<(), Violation> {
    if !m.dev.copy.needs_ref() {
        return Ok(());
    }
    let base = if m.feat.has(Sw::P11) {
        UBLK_REFCOUNT_INIT
    } else {
        1
    };
    let p02 = m.feat.has(Sw::P02);
    for (sl, io) in s.slots.iter().enumerate() {
        // p02: the count lives in the slot; before, in the round's request
        let (cell, out, held) = match io.g_round {
            Some(r) => {
                let rq = &s.reqs[r as usize];
                let (cell, out) = if p02 {
                    (io.refcnt, io.g_out)
                } else {
                    (rq.pdu_ref, rq.g_out)
                };
                (cell, out, rq.g_hold)
            }
            None if p02 => (io.refcnt, io.g_out, false),
            None => continue,
        };
        let want = if held { base } else { 0 } + out as u32;
        if cell + io.trb != want {
            let (r, t) = (cell, io.trb);
            return fail(
                Inv::S4,
                format!("slot {sl}: ref {r:#x} + trb {t} should be {want:#x} (server share {held}, {out} outstanding)"),
            );
        }
    }
    Ok(())
}

/// Is cmd `c` inside its issuing handler (between split steps)?
fn in_handler(m: &Model, s: &State, c: usize) -> bool {
    let a = m.cmds[c].actor as usize;
    let st = &s.actors[a];
    match &m.actors[a].kind {
        Kind::Server { prog, .. } => {
            st.in_kernel()
                && !st.done
                && prog
                    .get(st.next_op as usize)
                    .is_some_and(|(_, cc)| *cc == Some(c as CmdId))
        }
        _ => false,
    }
}

/// S5: a cmd the driver keeps must be findable: it is its slot's `io->cmd`
/// (so dispatch and cancel can complete it) or a canceler has claimed it.
fn check_cmds(m: &Model, s: &State) -> Result<(), Violation> {
    for (c, cmd) in s.cmds.iter().enumerate() {
        if cmd.st != CmdSt::Pending || cmd.g_claimed || in_handler(m, s, c) {
            continue;
        }
        let d = &m.cmds[c];
        let sl = d.q as usize * m.dev.depth as usize + d.tag as usize;
        let io = s.slots.get(sl);
        let reachable =
            io.is_some_and(|io| io.cell == Cell::Cmd(c as CmdId) && io.has(flag::ACTIVE));
        if !reachable {
            // what the slot holds instead tells two lost cmds apart: a second FETCH that
            // overwrote it (B-5) from a FETCH that never armed the slot (B-12)
            let holds = match io.map(|io| (io.cell, io.has(flag::ACTIVE))) {
                Some((Cell::Cmd(_), true)) => "another cmd",
                Some((Cell::Cmd(_), false)) => "another cmd, not ACTIVE",
                Some((Cell::Req(_), _)) => "a request",
                Some((Cell::None, true)) => "nothing, ACTIVE",
                _ => "nothing",
            };
            return fail(
                Inv::S5,
                format!(
                    "cmd c{c} is kept by the driver but slot q{}t{} no longer holds it (lost cmd; the slot holds {holds})",
                    d.q, d.tag
                ),
            );
        }
    }
    Ok(())
}

/// S6: flag / union consistency.
fn check_slots(m: &Model, s: &State) -> Result<(), Violation> {
    for (sl, io) in s.slots.iter().enumerate() {
        let tag = (sl % m.dev.depth as usize) as u8;
        // 6.12: fill only sets ACTIVE; OWNED is cleared by the COMMIT, so a
        // NEED_GET_DATA cmd re-arms an OWNED slot until its task work
        let rearmed = !m.feat.has(Sw::SyncGetData) && io.has(flag::ACTIVE);
        if io.has(flag::ACTIVE) && io.has(flag::OWNED_BY_SRV) && !rearmed {
            return fail(
                Inv::S6,
                format!("slot {sl} is both ACTIVE and OWNED_BY_SRV"),
            );
        }
        if io.has(flag::ACTIVE) && !io.has(flag::CANCELED) {
            let ok = matches!(io.cell, Cell::Cmd(c) if s.cmds[c as usize].st == CmdSt::Pending);
            if !ok {
                return fail(
                    Inv::S6,
                    format!(
                        "slot {sl} is ACTIVE but io->cmd is not a pending cmd ({:?})",
                        io.cell
                    ),
                );
            }
        }
        if io.has(flag::OWNED_BY_SRV) && !io.g_aborted && !rearmed {
            let ok = matches!(io.cell, Cell::Req(r) if s.reqs[r as usize].started && s.reqs[r as usize].tag == Some(tag));
            if !ok {
                return fail(
                    Inv::S6,
                    format!(
                        "slot {sl} is OWNED_BY_SRV but io->req is not its started request ({:?})",
                        io.cell
                    ),
                );
            }
        }
        if io.has(flag::NEED_GET_DATA) && !io.has(flag::OWNED_BY_SRV) {
            return fail(
                Inv::S6,
                format!("slot {sl} has NEED_GET_DATA without OWNED_BY_SRV"),
            );
        }
    }
    Ok(())
}
