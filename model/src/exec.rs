//! The execution context of one step, and the blk-mq and io_uring primitives
//! that ublk calls.  Everything that touches request memory goes through
//! [`Exec::rq`] so S1 (no access to freed request memory) is checked at the
//! access, in the step that makes it.

use crate::defs::Model;
pub use crate::func::Func;
use crate::invariants::{Inv, Violation};
use crate::state::*;

pub const EINVAL: i32 = -22;
pub const EBUSY: i32 = -16;
pub const EOPNOTSUPP: i32 = -95;
pub const ENODEV: i32 = -19;
pub const EIO: i32 = -5;
pub const EACCES: i32 = -13;
pub const EEXIST: i32 = -17;
pub const EFAULT: i32 = -14;
pub const EREMOTEIO: i32 = -121;
pub const EBADF: i32 = -9;
/// Kernel-internal "the driver keeps the cmd".
pub const EIOCBQUEUED: i32 = -529;
/// `UBLK_IO_RES_ABORT`.
pub const UBLK_IO_RES_ABORT: i32 = ENODEV;
pub const UBLK_IO_RES_NEED_GET_DATA: i32 = 1;
/// Every modelled request carries 4 KiB (one page).
pub const REQ_BYTES: u32 = 4096;

pub type R<T> = Result<T, Violation>;

/// What one step function returns: `None` if blocked (nothing changed),
/// else the step's label and the result user space observes.
pub(crate) type Step = R<Option<(Func, Option<i32>)>>;

/// Who `current` is while a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ctx {
    /// A server or control task.
    Task(TaskId),
    /// Any kernel context that is no ublk task (kworker, submitter, io-wq).
    Kernel,
}

/// One step in progress: the model's tables, the state being changed, the
/// acting actor and the context it runs in.
pub struct Exec<'a> {
    pub m: &'a Model,
    pub s: &'a mut State,
    pub actor: ActorId,
    pub cur: Ctx,
    /// The alternative this step takes where the kernel's choice is free.
    pub choice: u8,
}

impl Exec<'_> {
    pub fn fail<T>(&self, inv: Inv, msg: String) -> R<T> {
        Err(Violation::new(inv, msg))
    }

    pub fn current_task(&self) -> Option<TaskId> {
        match self.cur {
            Ctx::Task(t) => Some(t),
            Ctx::Kernel => None,
        }
    }

    /// The acting actor's own state.
    pub(crate) fn me(&mut self) -> &mut ActorSt {
        &mut self.s.actors[self.actor as usize]
    }

    pub fn slot_idx(&self, q: u8, tag: u8) -> usize {
        q as usize * self.m.dev.depth as usize + tag as usize
    }

    /// Access request memory: S1 unless it is alive.
    pub fn rq(&mut self, r: RqId, what: &str) -> R<&mut Req> {
        if !self.s.reqs[r as usize].alive {
            return self.fail(
                Inv::S1,
                format!("{what} touches request rq{r} whose memory was freed"),
            );
        }
        Ok(&mut self.s.reqs[r as usize])
    }

    // ---- refcounts: `io->ref` (p02) or the request pdu (before p02) ----

    /// `ublk_init_req_ref()`: dispatch sets the count the server owns.
    /// Since p11 that is `UBLK_REFCOUNT_INIT` (an auto registration counts in
    /// `task_registered_buffers`); before, 1 (+1 for an auto registration).
    pub fn init_req_ref(&mut self, sl: usize, r: RqId, auto_ok: bool) -> R<()> {
        let split = self.m.feat.has(crate::features::Sw::P11);
        let v = if split {
            UBLK_REFCOUNT_INIT
        } else {
            1 + auto_ok as u32
        };
        if self.m.feat.has(crate::features::Sw::P02) {
            self.s.slots[sl].refcnt = v;
        } else {
            self.rq(r, "ublk_init_req_ref")?.pdu_ref = v;
        }
        if split {
            self.s.slots[sl].trb = auto_ok as u32;
        }
        Ok(())
    }

    /// `refcount_inc_not_zero()` on the reference cell of slot `sl` / request `r`.
    pub fn get_ref(&mut self, sl: usize, r: RqId) -> R<bool> {
        let cell = if self.m.feat.has(crate::features::Sw::P02) {
            &mut self.s.slots[sl].refcnt
        } else {
            &mut self.rq(r, "ublk_get_req_ref")?.pdu_ref
        };
        if *cell == 0 {
            return Ok(false);
        }
        if *cell >= 2 * UBLK_REFCOUNT_INIT {
            return Err(Violation::new(
                Inv::S4,
                format!("refcount overflow on slot {sl}"),
            ));
        }
        *cell += 1;
        Ok(true)
    }

    /// `refcount_sub_and_test()`: true when the count reached zero.
    pub fn sub_ref(&mut self, sl: usize, r: RqId, n: u32, func: &str) -> R<bool> {
        let cell = if self.m.feat.has(crate::features::Sw::P02) {
            &mut self.s.slots[sl].refcnt
        } else {
            &mut self.rq(r, func)?.pdu_ref
        };
        if *cell < n {
            let v = *cell;
            return self.fail(
                Inv::S4,
                format!("{func}: refcount underflow on slot {sl} ({v:#x} - {n:#x})"),
            );
        }
        *cell -= n;
        Ok(*cell == 0)
    }

    // ---- io_uring primitives ----

    /// `io_uring_cmd_done()`: must happen exactly once per cmd (S5).
    pub fn cmd_done(&mut self, c: CmdId, res: i32, func: &str) -> R<()> {
        let cmd = &mut self.s.cmds[c as usize];
        match cmd.st {
            CmdSt::Pending => {
                cmd.st = CmdSt::Done(res);
                cmd.cancelable = false;
                cmd.g_claimed = false;
                Ok(())
            }
            CmdSt::Done(_) => {
                self.fail(Inv::S5, format!("{func} completes cmd c{c} a second time"))
            }
            CmdSt::NotIssued => unreachable!("cmd_done on an unissued cmd"),
        }
    }

    /// `io_uring_cmd_complete_in_task()`: queue task work on the cmd's task.
    pub fn complete_in_task(&mut self, c: CmdId) {
        let t = self.m.cmds[c as usize].task;
        self.s.tasks[t as usize].tw.push(Tw::Dispatch(c));
    }

    /// `io_buffer_register_bvec(cmd, rq, ublk_io_release, index)` into `ring`.
    pub fn register_bvec(&mut self, ring: RingId, idx: u8, r: RqId, sl: usize) -> i32 {
        let rg = &self.s.rings[ring as usize];
        if idx as usize >= rg.table.len() {
            return EINVAL;
        }
        if rg.table[idx as usize].is_some() {
            return EBUSY;
        }
        let round = self.s.reqs[r as usize].round;
        let node = Node {
            rq: r,
            round,
            slot: sl as u8,
            ring,
            refs: 1,
        };
        let id = match self.s.nodes.iter().position(Option::is_none) {
            Some(i) => {
                self.s.nodes[i] = Some(node);
                i
            }
            None => {
                self.s.nodes.push(Some(node));
                self.s.nodes.len() - 1
            }
        };
        self.s.rings[ring as usize].table[idx as usize] = Some(id as NodeId);
        0
    }

    /// `io_buffer_unregister_bvec(cmd, index)` on `ring`: clears the table slot
    /// and drops its node reference (release runs now if it was the last).
    pub fn unregister_bvec(&mut self, ring: RingId, idx: u8) -> R<i32> {
        let rg = &mut self.s.rings[ring as usize];
        if idx as usize >= rg.table.len() {
            return Ok(EINVAL);
        }
        let Some(n) = rg.table[idx as usize].take() else {
            return Ok(EINVAL);
        };
        self.put_node(n)?;
        Ok(0)
    }

    /// Drop one node reference; the last one calls `ublk_io_release()` in
    /// the dropping context.
    pub fn put_node(&mut self, n: NodeId) -> R<()> {
        let node = self.s.nodes[n as usize].as_mut().expect("live node");
        node.refs -= 1;
        if node.refs == 0 {
            let node = self.s.nodes[n as usize].take().unwrap();
            self.ublk_io_release(&node)?;
        }
        Ok(())
    }

    /// `ublk_io_release()`: the buffer's last user is gone.
    fn ublk_io_release(&mut self, node: &Node) -> R<()> {
        let r = node.rq;
        {
            let rq = self.rq(r, "ublk_io_release")?;
            if !rq.allocated || rq.round != node.round || !rq.started {
                return self.fail(
                    Inv::S3,
                    format!("ublk_io_release runs for rq{r} after it was ended (buffer outlived its request)"),
                );
            }
        }
        let sl = node.slot as usize;
        self.ghost_out(sl, r, -1)?;
        let on_daemon =
            self.current_task().is_some() && self.s.slots[sl].task == self.current_task();
        if self.m.feat.has(crate::features::Sw::P12) && on_daemon && self.s.slots[sl].trb > 0 {
            self.s.slots[sl].trb -= 1;
            return Ok(());
        }
        if self.sub_ref(sl, r, 1, "ublk_io_release")? {
            self.ublk_complete_rq(sl, r)?;
        }
        Ok(())
    }

    // ---- blk-mq primitives ----

    /// `blk_mq_start_request()`.
    pub fn start_request(&mut self, r: RqId) -> R<()> {
        let rq = self.rq(r, "blk_mq_start_request")?;
        rq.started = true;
        Ok(())
    }

    /// `blk_mq_end_request()` → `blk_mq_free_request()`: S2 and S3 are
    /// checked here, at the one place a request ends.
    pub fn end_request(&mut self, r: RqId, res: i32, func: &str) -> R<()> {
        let rq = self.rq(r, func)?;
        if !rq.allocated || rq.ended > 0 {
            return self.fail(
                Inv::S2,
                format!("{func} ends rq{r}, which was already ended"),
            );
        }
        let round = rq.round;
        let held = self
            .s
            .nodes
            .iter()
            .flatten()
            .filter(|n| n.rq == r && n.round == round)
            .count();
        if held > 0 {
            return self.fail(
                Inv::S3,
                format!("{func} ends rq{r} while {held} registered buffer(s) still reference it"),
            );
        }
        let rq = &mut self.s.reqs[r as usize];
        if let Some(o) = rq.owner {
            self.s.actors[o as usize].res = res;
        }
        rq.ended += 1;
        rq.res = res;
        rq.started = false;
        rq.allocated = false;
        rq.g_hold = false;
        let (q, tag) = (rq.q, rq.tag);
        if let Some(tag) = tag {
            let sl = self.slot_idx(q, tag);
            if self.s.slots[sl].g_round == Some(r) {
                self.s.slots[sl].g_round = None;
            }
        }
        if self.m.dev.elevator {
            // the driver tag goes back; `tags->rqs[tag]` keeps the stale pointer
            self.s.reqs[r as usize].tag = None;
        }
        Ok(())
    }

    /// `blk_mq_requeue_request(rq, kick)`: back to IDLE on the requeue list.
    pub fn requeue_request(&mut self, r: RqId, kick: bool) -> R<()> {
        let rq = self.rq(r, "blk_mq_requeue_request")?;
        rq.started = false;
        rq.g_hold = false;
        let (q, tag) = (rq.q, rq.tag);
        if let Some(tag) = tag {
            let sl = self.slot_idx(q, tag);
            if self.s.slots[sl].g_round == Some(r) {
                self.s.slots[sl].g_round = None;
            }
        }
        if self.m.dev.elevator {
            // `blk_mq_put_driver_tag`: with a scheduler the driver tag goes back
            // (`tags->rqs[tag]` keeps the stale pointer); the re-dispatch takes
            // any free one
            self.s.reqs[r as usize].tag = None;
        }
        self.s.dev.requeue.push(r);
        if kick {
            self.kick_requeue_list();
        }
        Ok(())
    }

    /// `blk_mq_kick_requeue_list()`.
    pub fn kick_requeue_list(&mut self) {
        let list = std::mem::take(&mut self.s.dev.requeue);
        self.s.dev.requeue_run.extend(list);
    }
}
