//! The independence the explorer's partial-order reduction may rely on: which steps are
//! *local*.
//!
//! A step of actor `a` is local at a state `s` when, from `s` on, it stays enabled until
//! `a` takes it, whatever the other actors do, and it commutes with every step any other
//! actor can take in any state reachable from `s` before it: it reads and writes only
//! `a`'s own records — its actor record, and a ring exit its ring's — (plus, to be enabled,
//! facts no other actor can undo), and nothing any other actor's step, an invariant, a
//! goal or a signature reads is in them. Then
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
//! actor's records, commutes with every other enabled step, stays local after it, and each
//! of the two is seen the same — goals, signatures — in either order).
//! `checker/examples/por_bound.rs` shows, from a configuration's whole state graph, which
//! other steps could be declared and how much that could save.
//!
//! Two kinds so far. The first, the most frequent: a submitter whose request has ended
//! takes its `bio_endio` (`Resume::BioWait`, [`Func::BioEndio`](crate::Func::BioEndio)).
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
//!
//! The second: a ring exit frees a ring that holds nothing any more
//! (`io_ring_ctx_free`, [`Func::IoRingCtxFree`](crate::Func::IoRingCtxFree)) — the ring's
//! task has exited, no uring_cmd of the ring is pending, its /dev/ublkcN reference went
//! with its last request (`file_dropped`, which only a plain-fd ring sets: a ring that
//! registered the file as a fixed file drops it in the free itself, which is not local),
//! no fixed-buffer I/O is in flight and its buffer table is empty.
//!  * Reads and writes: `ring_exit_next` finds no pending cmd, the file already dropped,
//!    `fixed_ops` empty and no node to put, sets the ring's `freed` and its own `done`.
//!  * It stays so: the task's `exiting` is never reset, and every writer of what it reads
//!    is a strand of that task or its task work. A cmd becomes pending only when a strand
//!    issues it (`step_server`), and a strand of an exited task only marks itself done
//!    (`Model::program_over`); `fixed_ops` grows only by a strand's `Op::FixedIo`; the
//!    table fills only by a strand's REGISTER (its cmd pending until it returns) or by an
//!    AUTO_BUF_REG dispatch, which runs in the cmd's task's task work and, the task
//!    exiting, takes the fallback path (`ublk_dispatch_req`: the request is aborted,
//!    nothing registered).
//!  * Nobody else reads what it writes: `freed` only the ring exit's own `may_step`; of
//!    its actor record `task_work_may_run` reads `at`, which stays `Idle`; invariants and
//!    signatures read neither, and the one goal that names the function
//!    (`ReleaseCompletes`) needs a request freed by it, which an empty table cannot do.

use crate::config::{Bio, CtrlOp};
use crate::defs::{ActorDef, Kind, Model};
use crate::state::{ActorId, ActorSt, CmdSt, Resume, RingId, State};

impl Model {
    /// Is actor `a`'s next step at `s` local (see the module doc)? Then it is enabled, and
    /// exploring only it from `s` keeps every reachable violation, goal and dead end.
    pub fn local_step(&self, s: &State, a: ActorId) -> bool {
        let st = &s.actors[a as usize];
        match &self.actors[a as usize].kind {
            Kind::Submitter { .. } => {
                st.at == Resume::BioWait && st.bio_ended(&s.reqs) && self.allocations_bounded
            }
            Kind::RingExit { ring } => self.frees_an_empty_ring(s, st, *ring),
            _ => false,
        }
    }

    /// The second kind of the module doc: `io_ring_ctx_free` of a ring whose task exited
    /// and that holds no pending cmd, no file reference, no fixed-buffer I/O and no buffer.
    fn frees_an_empty_ring(&self, s: &State, st: &ActorSt, ring: RingId) -> bool {
        let r = ring as usize;
        let rg = &s.rings[r];
        st.at == Resume::Idle
            && rg.exiting
            && !rg.freed
            && s.tasks[self.rings[r] as usize].exiting
            && st.file_dropped
            && rg.fixed_ops.is_empty()
            && rg.table.iter().all(Option::is_none)
            && !(self.cmds.iter().zip(&s.cmds))
                .any(|(d, c)| d.ring == ring && c.st == CmdSt::Pending)
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
