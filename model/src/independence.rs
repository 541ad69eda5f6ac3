//! The independence the explorer's partial-order reduction may rely on: which steps are
//! *local*.
//!
//! A step of actor `a` is local at a state `s` when, from `s` on, it stays enabled until
//! `a` takes it, whatever the other actors do, and it commutes with every step any other
//! actor can take in any state reachable from `s` before it: it reads and writes only
//! `a`'s own record (plus, to be enabled, facts no other actor can undo), and nothing any
//! other actor's step, an invariant, a goal or a signature reads is in that record. Then
//! taking it at once, and only it, loses no reachable violation, goal or dead end: that is
//! an ample set of one step (conditions C0–C2 of Clarke, Grumberg and Peled's ample sets,
//! C2 because no property reads what it writes). C3, the cycle proviso, holds by shape:
//! a local step moves its actor forward in its program and the actor's next local step
//! needs a step that is not local first, so no cycle is made of local steps only.
//!
//! Why declared, not inferred: whether a step reads another actor's data cannot be seen by
//! running it, and an independence that is wrong hides states, so each kind of local step
//! is argued here against the code it relies on, and `checker/tests/independence.rs` checks
//! the claim on every reachable state of the built-in scenarios (the step writes only its
//! actor's record, commutes with every other enabled step, stays local after it, and each
//! of the two is seen the same — goals, signatures — in either order).
//!
//! One kind so far, the most frequent: a submitter whose request has ended takes its
//! `bio_endio` (`Resume::BioWait`, [`Func::BioEndio`](crate::Func::BioEndio)).
//!  * Reads: its own `rq`, `round`, `res`, `next_op`, `at`, `done` (the last two through
//!    `may_step` and the bio count); to be enabled, its request's `round` and `ended`.
//!    Only `alloc_request` resets `ended`, and it advances `round` in the same step, so
//!    once the request ended (or was reallocated) the step stays enabled — unless
//!    `round`, a byte, wraps back to the submitter's, which needs 256 more allocations of
//!    that request while the submitter waits. A model that can allocate that often (an
//!    endless workload, [`Bio::Again`], or 256 bios and partition-scan reads in all) has
//!    no local steps.
//!  * Writes: its own `next_op`, `at`, `rq`.
//!  * Nobody else writes a submitter's record once its request ended: the one writer,
//!    `end_request` (the owner's `res`), ends a request only once per round (a second end
//!    is S2, reported before anything is written) and a reallocation changes the owner.
//!  * Nobody else reads a submitter's record in a step: the other actors' steps and
//!    guards read server strands (`thread_busy`), the ring exits (`task_work_may_run`),
//!    the stop/quiesce worker and a control program's position; invariants read server
//!    programs (`in_handler`); goals read the stepping actor's own record; signatures read
//!    the device, tasks, requests and buffer nodes. (The liveness obligations do read a
//!    control program's position — one more reason the reduction is for the safety
//!    search only.)
//!  * A part-scan bio runs the same code but its end also clears `dev.part_scan`, which
//!    START_DEV waits on: not local.

use crate::config::{Bio, CtrlOp};
use crate::defs::{ActorDef, Kind, Model};
use crate::state::{ActorId, Resume, State};

impl Model {
    /// Is actor `a`'s next step at `s` local (see the module doc)? Then it is enabled, and
    /// exploring only it from `s` keeps every reachable violation, goal and dead end.
    pub fn local_step(&self, s: &State, a: ActorId) -> bool {
        let st = &s.actors[a as usize];
        match &self.actors[a as usize].kind {
            Kind::Submitter { .. } => {
                st.at == Resume::BioWait && st.bio_ended(&s.reqs) && self.allocations_bounded
            }
            _ => false,
        }
    }
}

/// Can fewer than 256 requests be allocated in all (so no request's `round` byte can
/// wrap back while its reader waits)? Each bio allocates once, and a partition scan
/// (one per START_DEV) once.
pub(crate) fn allocations_bounded(actors: &[ActorDef]) -> bool {
    let mut n = 0usize;
    for d in actors {
        match &d.kind {
            Kind::Submitter { bios, .. } if bios.contains(&Bio::Again) => return false,
            Kind::Submitter { bios, .. } => n += bios.len(),
            Kind::Control { prog } => n += prog.iter().filter(|o| **o == CtrlOp::StartDev).count(),
            _ => {}
        }
    }
    n < 256
}
