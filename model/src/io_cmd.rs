//! The io commands on /dev/ublkcN: `ublk_ch_uring_cmd_local()` and the
//! handlers it dispatches to, with every check in the kernel's order.
//!
//! The entry checks are one atomic step; FETCH continues in a second step
//! (`ublk_fetch`, under `ub->mutex`) so that B-5 (unserialized FETCH) has a
//! window; REGISTER through the tag lookup is split at the points spec §9.2
//! names (lookup | reference | check | register).

use crate::config::{CopyMode, Op};
use crate::exec::*;
use crate::features::Sw;
use crate::invariants::Inv;
use crate::state::*;

/// Where `ublk_ch_uring_cmd_local()` sends a command after its checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// The command is complete with this result (or kept: EIOCBQUEUED).
    Done(i32),
    /// Continue with `ublk_fetch()`.
    Fetch,
    /// Continue with `ublk_register_io_buf()` (tag lookup + atomic ref).
    LookupReg,
}

/// The function a violation inside `__ublk_check_and_get_req`'s `fail_put` is reported at.
pub const FAIL_PUT: &str = "__ublk_check_and_get_req: fail_put";

impl Exec<'_> {
    pub(crate) fn cmd_slot(&self, c: CmdId) -> (u8, u8) {
        let d = &self.m.cmds[c as usize];
        (d.q, d.tag)
    }

    /// `ublk_ch_uring_cmd_local()` up to the handler.
    pub fn ublk_ch_uring_cmd_local(&mut self, c: CmdId) -> R<Entry> {
        use Entry::Done;
        let f = self.m.feat;
        if !f.has(Sw::PerIoDaemon) {
            return self.uring_cmd_612(c); // 6.12 __ublk_ch_uring_cmd
        }
        let op = self.m.cmds[c as usize].op.clone();
        let (q, tag) = self.cmd_slot(c);
        let bad_type = matches!(op, Op::BadType { .. });
        if f.has(Sw::P03) && bad_type {
            return Ok(Done(EOPNOTSUPP)); // ublk_check_cmd_op
        }
        if f.has(Sw::P09) && matches!(op, Op::Unregister { .. }) {
            return self.ublk_unregister_io_buf(c).map(Done);
        }
        if q >= self.m.dev.nr_queues || tag >= self.m.dev.depth {
            return Ok(Done(EINVAL));
        }
        let sl = self.slot_idx(q, tag);
        if f.has(Sw::P04) && matches!(op, Op::Fetch { .. }) {
            if f.has(Sw::FixB12) {
                if let Some(e) = self.ublk_check_fetch_buf(c) {
                    return Ok(Done(e));
                }
            }
            return Ok(Entry::Fetch);
        }
        let cur = self.current_task();
        let task = self.s.slots[sl].task;
        if task != cur && (f.has(Sw::P04) || task.is_some()) {
            if f.has(Sw::P09) && matches!(op, Op::Register { .. }) {
                return self.register_lookup(c);
            }
            return Ok(Done(EINVAL));
        }
        let flags = self.s.slots[sl].flags;
        if f.has(Sw::P06) {
            if flags & flag::OWNED_BY_SRV == 0 {
                return Ok(Done(EBUSY));
            }
        } else {
            if flags & flag::ACTIVE != 0 {
                return Ok(Done(EBUSY));
            }
            let fetch_nr = matches!(op, Op::Fetch { .. } | Op::BadType { .. });
            if flags & flag::OWNED_BY_SRV == 0 && !fetch_nr {
                return Ok(Done(EINVAL));
            }
        }
        if (flags & flag::NEED_GET_DATA != 0) != matches!(op, Op::NeedGetData { .. }) {
            return Ok(Done(EINVAL));
        }
        if bad_type {
            return Ok(Done(EOPNOTSUPP)); // ublk_check_cmd_op, before p03
        }
        match op {
            Op::Register { .. } if f.has(Sw::P11) => self.ublk_daemon_register_io_buf(c),
            Op::Register { .. } => self.register_lookup(c),
            Op::Unregister { .. } => self.ublk_unregister_io_buf(c).map(Done),
            Op::Fetch { .. } => Ok(Entry::Fetch),
            Op::Commit { .. } => self.ublk_commit_and_fetch(c, sl).map(Done),
            Op::NeedGetData { .. } => self.ublk_need_get_data(c, sl).map(Done),
            _ => Ok(Done(EINVAL)),
        }
    }

    /// `ublk_check_fetch_buf()`: copy mode needs a buffer (unless
    /// NEED_GET_DATA), the other modes must not pass one.
    pub(crate) fn ublk_check_fetch_buf(&self, c: CmdId) -> Option<i32> {
        let Op::Fetch { buf, .. } = self.m.cmds[c as usize].op else {
            unreachable!()
        };
        let dev = &self.m.dev;
        let bad = if dev.copy == CopyMode::Copy {
            !buf && !dev.need_get_data
        } else {
            buf
        };
        bad.then_some(EINVAL)
    }

    /// Can `ublk_fetch()` take `ub->mutex` now?
    pub fn fetch_blocked(&self) -> bool {
        // 6.12 takes it only in ublk_mark_io_ready (same step here)
        let f = self.m.feat;
        (f.has(Sw::FixB5) || !f.has(Sw::PerIoDaemon))
            && self.s.dev.mutex.is_some_and(|h| h != self.actor)
    }

    /// `ublk_fetch()` / `__ublk_fetch()` + `ublk_mark_io_ready()`.
    pub fn ublk_fetch(&mut self, c: CmdId) -> R<i32> {
        let f = self.m.feat;
        if !f.has(Sw::PerIoDaemon) {
            return self.fetch_612(c);
        }
        let (q, tag) = self.cmd_slot(c);
        let sl = self.slot_idx(q, tag);
        if !f.has(Sw::FixB12) && self.ublk_check_fetch_buf(c).is_some() {
            // B-12: "success" without arming the slot; the caller still
            // marks the cmd cancelable and keeps it.
            self.s.cmds[c as usize].cancelable = true;
            return Ok(EIOCBQUEUED);
        }
        // an invalid auto-buf-reg descriptor (DevConfig::bad_auto_fetch):
        // K72 `ublk_validate_io_buf` rejects it before anything else
        let bad_auto = self.m.dev.copy == CopyMode::AutoBufReg
            && self.m.dev.bad_auto_fetch
            && !self.s.dev.bad_auto_used;
        if bad_auto {
            self.s.dev.bad_auto_used = true;
            if f.has(Sw::FixB13) {
                return Ok(EINVAL);
            }
        }
        if self.s.dev.nr_io_ready == self.m.nr_slots() {
            return Ok(EBUSY);
        }
        if f.has(Sw::FixB5) && self.s.slots[sl].has(flag::ACTIVE) {
            return Ok(EINVAL);
        }
        self.ublk_fill_io_cmd(sl, c);
        if bad_auto {
            // B-13: 6.17 `ublk_fetch` fills the slot first, then
            // `ublk_config_io_buf` → `ublk_set_auto_buf_reg` fails and it
            // returns -EINVAL before setting io->task and counting the io
            // ready; io_uring completes the cmd with the error while the slot
            // stays ACTIVE holding it (spec §4.2, B-13).
            return Ok(EINVAL);
        }
        self.s.slots[sl].task = self.current_task();
        self.ublk_mark_io_ready(q, sl);
        self.s.cmds[c as usize].cancelable = true; // ublk_prep_cancel
        Ok(EIOCBQUEUED)
    }

    /// `ublk_fill_io_cmd()`: the slot holds this cmd, ACTIVE.
    fn ublk_fill_io_cmd(&mut self, sl: usize, c: CmdId) {
        let io = &mut self.s.slots[sl];
        io.cell = Cell::Cmd(c);
        io.flags = (io.flags | flag::ACTIVE) & !flag::OWNED_BY_SRV;
    }

    /// `ublk_mark_io_ready()`.
    fn ublk_mark_io_ready(&mut self, q: u8, sl: usize) {
        let depth = self.m.dev.depth;
        self.s.dev.nr_io_ready += 1;
        let dev_ready = self.s.dev.nr_io_ready == self.m.nr_slots();
        if dev_ready {
            self.s.dev.completion_done = true; // complete_all(&ub->completion)
        }
        if self.m.feat.has(Sw::FetchClearsCanceled) {
            // K72: per io, per queue, then device
            self.s.slots[sl].flags &= !flag::CANCELED;
            let keep = self.o6_keeps_canceling();
            let qs = &mut self.s.queues[q as usize];
            qs.nr_io_ready += 1;
            if qs.nr_io_ready == depth && !keep {
                qs.canceling = false;
                qs.fail_io = false;
                qs.force_abort = false;
            }
            if dev_ready && !keep {
                self.s.dev.canceling = false;
            }
        } else if dev_ready && !self.o6_keeps_canceling() {
            // POST ublk_reset_io_flags(): every io, every queue
            for io in &mut self.s.slots {
                io.flags &= !flag::CANCELED;
            }
            for qs in &mut self.s.queues {
                qs.fail_io = false;
                qs.canceling = false;
            }
            self.s.dev.canceling = false;
        }
    }

    /// `fix-o6` (a proposal, not upstream code): before the first
    /// START_DEV (no disk) `canceling` / CANCELED can only come from a ring
    /// exit of a dying server, and nothing but a later FETCH would clear
    /// them; readiness then keeps them, so START_DEV still succeeds but
    /// `ublk_queue_rq` fails requests (canceling) instead of handing them to
    /// a canceled cmd (O-6).  Recovery happens with a disk, so it still
    /// clears the flags.
    fn o6_keeps_canceling(&self) -> bool {
        self.m.feat.has(Sw::FixO6)
            && !self.s.dev.has_disk
            && (self.s.dev.canceling || self.s.slots.iter().any(|io| io.has(flag::CANCELED)))
    }

    /// COMMIT_AND_FETCH_REQ (inlined in `ublk_ch_uring_cmd_local` since 6.17).
    pub(crate) fn ublk_commit_and_fetch(&mut self, c: CmdId, sl: usize) -> R<i32> {
        let f = self.m.feat;
        let Op::Commit { result, buf, .. } = self.m.cmds[c as usize].op else {
            unreachable!()
        };
        let Cell::Req(r) = self.s.slots[sl].cell else {
            return self.fail(
                Inv::S5,
                format!("COMMIT reads io->req of slot {sl} while the union holds no request"),
            );
        };
        self.daemon_only(sl, "ublk_commit_and_fetch")?;
        let write = self.rq(r, "ublk_check_commit_and_fetch")?.write;
        let dev = &self.m.dev;
        let bad = if dev.copy == CopyMode::Copy {
            !buf && (!dev.need_get_data || !write)
        } else {
            buf
        };
        if bad {
            return Ok(EINVAL);
        }
        self.s.slots[sl].res = result;
        self.ublk_fill_io_cmd(sl, c);
        // the old auto registration is unregistered here if it is on this ring
        let mut auto_idx = None;
        if self.s.slots[sl].has(flag::AUTO_BUF_REG) {
            self.s.slots[sl].flags &= !flag::AUTO_BUF_REG;
            if self.s.slots[sl].buf_ctx == Some(self.m.cmds[c as usize].ring) {
                auto_idx = Some(self.m.cmds[c as usize].tag);
            }
        }
        let ring = self.m.cmds[c as usize].ring;
        if f.has(Sw::AutoUnregFirst) {
            if let Some(i) = auto_idx.take() {
                self.unregister_bvec(ring, i)?;
            }
        }
        let compl = if !f.has(Sw::FixB11) && self.should_fake_timeout() {
            // before the B-11 fix: the commit skips dropping the server's
            // reference so the request looks lost to the timeout handler
            false
        } else if dev.copy.needs_ref() {
            self.ublk_sub_req_ref(sl, r)?
        } else {
            true
        };
        self.ghost_commit(r)?;
        if let Some(i) = auto_idx {
            self.unregister_bvec(ring, i)?;
        }
        if compl {
            self.ublk_complete_rq(sl, r)?;
        }
        self.s.cmds[c as usize].cancelable = true; // ublk_prep_cancel
        Ok(EIOCBQUEUED)
    }

    /// Ghost: the server has given its dispatch reference back.
    fn ghost_commit(&mut self, r: RqId) -> R<()> {
        self.rq(r, "ublk_commit_and_fetch")?.g_hold = false;
        Ok(())
    }

    /// `ublk_sub_req_ref()` (p11: drop INIT − trb, trb = 0) or, before p11,
    /// `ublk_put_req_ref()` of the dispatch reference.
    fn ublk_sub_req_ref(&mut self, sl: usize, r: RqId) -> R<bool> {
        if self.m.feat.has(Sw::P11) {
            let sub = UBLK_REFCOUNT_INIT - self.s.slots[sl].trb;
            self.s.slots[sl].trb = 0;
            self.sub_ref(sl, r, sub, "ublk_sub_req_ref")
        } else {
            self.sub_ref(sl, r, 1, "ublk_put_req_ref")
        }
    }

    /// S8: the daemon-only paths run on `io->task`.
    fn daemon_only(&self, sl: usize, func: &str) -> R<()> {
        let owner = if self.m.feat.has(Sw::PerIoDaemon) {
            self.s.slots[sl].task
        } else {
            // 6.12: the queue's ubq_daemon (any task before the queue is ready)
            let q = sl / self.m.dev.depth as usize;
            match self.s.queues[q].daemon {
                None => return Ok(()),
                d => d,
            }
        };
        if owner != self.current_task() {
            return self.fail(
                Inv::S8,
                format!("{func} runs on slot {sl} from a task that is not io->task"),
            );
        }
        Ok(())
    }

    /// UBLK_U_IO_NEED_GET_DATA: refill the slot, copy the WRITE payload,
    /// hand the request back synchronously.
    fn ublk_need_get_data(&mut self, c: CmdId, sl: usize) -> R<i32> {
        let Cell::Req(r) = self.s.slots[sl].cell else {
            return self.fail(
                Inv::S5,
                format!("NEED_GET_DATA reads io->req of slot {sl} with no request"),
            );
        };
        self.daemon_only(sl, "ublk_get_data")?;
        let fails = self.m.dev.get_data_fails && !self.s.dev.get_data_fail_used;
        if fails {
            self.s.dev.get_data_fail_used = true;
        }
        if !self.m.feat.has(Sw::FixB10) {
            // 6.16-rc: no fill; a failed copy requeues and keeps the cmd
            self.s.slots[sl].flags &= !flag::NEED_GET_DATA;
            if fails {
                self.requeue_request(r, true)?;
                return Ok(EIOCBQUEUED);
            }
            return Ok(0);
        }
        self.ublk_fill_io_cmd(sl, c);
        self.s.slots[sl].flags &= !flag::NEED_GET_DATA;
        if fails {
            // ublk_start_io mapped 0 bytes: requeue + delayed kick, keep the cmd
            self.requeue_request(r, true)?;
            self.s.cmds[c as usize].cancelable = true;
            return Ok(EIOCBQUEUED);
        }
        let io = &mut self.s.slots[sl];
        io.flags = (io.flags | flag::OWNED_BY_SRV) & !flag::ACTIVE;
        io.cell = Cell::Req(r);
        Ok(0)
    }

    /// `ublk_daemon_register_io_buf()` (p11): no atomics, no lookup.
    fn ublk_daemon_register_io_buf(&mut self, c: CmdId) -> R<Entry> {
        let (q, tag) = self.cmd_slot(c);
        let sl = self.slot_idx(q, tag);
        let new = self.s.slots[sl].trb + 1;
        if self.m.feat.has(Sw::V2Overflow) && new >= UBLK_REFCOUNT_INIT {
            return self.register_lookup(c);
        }
        self.daemon_only(sl, "ublk_daemon_register_io_buf")?;
        let Cell::Req(r) = self.s.slots[sl].cell else {
            return self.fail(
                Inv::S5,
                format!("REGISTER reads io->req of slot {sl} with no request"),
            );
        };
        if !self.m.dev.zero_copy_flag() {
            return Ok(Entry::Done(EINVAL));
        }
        self.rq(r, "ublk_daemon_register_io_buf")?;
        let Op::Register { idx, .. } = self.m.cmds[c as usize].op else {
            unreachable!()
        };
        let ret = self.register_bvec(self.m.cmds[c as usize].ring, idx, r, sl);
        if ret == 0 {
            self.s.slots[sl].trb = new;
            self.ghost_out(sl, r, 1)?;
        }
        Ok(Entry::Done(ret))
    }

    /// Ghost: one more (or one fewer) reference held by a registration or an
    /// off-task copy, on whichever cell the reference lives in.
    pub fn ghost_out(&mut self, sl: usize, r: RqId, delta: i8) -> R<()> {
        let cell = if self.m.feat.has(Sw::P02) {
            &mut self.s.slots[sl].g_out
        } else {
            &mut self.rq(r, "ublk_get_req_ref")?.g_out
        };
        *cell = cell.wrapping_add_signed(delta);
        Ok(())
    }

    /// `ublk_unregister_io_buf()`.
    fn ublk_unregister_io_buf(&mut self, c: CmdId) -> R<i32> {
        let f = self.m.feat;
        if (f.has(Sw::V2UnregZc) || !f.has(Sw::P09)) && !self.m.dev.zero_copy_flag() {
            return Ok(EINVAL);
        }
        let Op::Unregister { idx, .. } = self.m.cmds[c as usize].op else {
            unreachable!()
        };
        self.unregister_bvec(self.m.cmds[c as usize].ring, idx)
    }

    /// `ublk_register_io_buf()` step 1: the zero-copy test and the tag
    /// lookup (`blk_mq_tag_to_rq`, a plain pointer load).
    fn register_lookup(&mut self, c: CmdId) -> R<Entry> {
        if !self.m.dev.zero_copy_flag() {
            return Ok(Entry::Done(EINVAL));
        }
        let (q, tag) = self.cmd_slot(c);
        match self.s.tags_rqs[self.slot_idx(q, tag)] {
            None => Ok(Entry::Done(EINVAL)),
            Some(r) => {
                self.s.actors[self.actor as usize].rq = Some(r);
                Ok(Entry::LookupReg)
            }
        }
    }

    /// `__ublk_check_and_get_req()` step 2: `refcount_inc_not_zero()`.
    pub fn check_and_get_ref(&mut self, q: u8, tag: u8, r: RqId) -> R<bool> {
        let sl = self.slot_idx(q, tag);
        if !self.get_ref(sl, r)? {
            return Ok(false);
        }
        self.ghost_out(sl, r, 1)?;
        Ok(true)
    }

    /// `__ublk_check_and_get_req()` step 3: started and still on this tag.
    /// On failure the reference is put (which may complete the request).
    pub fn check_req_started(&mut self, q: u8, tag: u8, r: RqId) -> R<bool> {
        let rq = self.rq(r, "__ublk_check_and_get_req")?;
        if rq.started && rq.tag == Some(tag) && rq.q == q {
            return Ok(true);
        }
        // `fail_put`: what the put breaks is named after the failed check, so a signature
        // tells this path (a stale lookup's put, O-5) from any other completion
        self.put_req_ref(q, tag, r).map_err(|mut v| {
            if v.func.is_empty() {
                v.func = FAIL_PUT.into();
            }
            v
        })?;
        Ok(false)
    }

    /// `ublk_put_req_ref()` of a reference taken by a lookup.
    pub fn put_req_ref(&mut self, q: u8, tag: u8, r: RqId) -> R<()> {
        let sl = self.slot_idx(q, tag);
        self.ghost_out(sl, r, -1)?;
        if self.sub_ref(sl, r, 1, "ublk_put_req_ref")? {
            self.ublk_complete_rq(sl, r)?;
        }
        Ok(())
    }

    /// `ublk_register_io_buf()` step 4: `io_buffer_register_bvec()`; the
    /// reference is put on failure.
    pub fn register_with_ref(&mut self, c: CmdId, r: RqId) -> R<i32> {
        let (q, tag) = self.cmd_slot(c);
        let Op::Register { idx, .. } = self.m.cmds[c as usize].op else {
            unreachable!()
        };
        let ret = self.register_bvec(self.m.cmds[c as usize].ring, idx, r, self.slot_idx(q, tag));
        if ret != 0 {
            self.put_req_ref(q, tag, r)?;
        }
        Ok(ret)
    }
}
