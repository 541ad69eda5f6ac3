//! Kernel-side actors: the block submitter, requeue work, ring exit, the
//! release work, the control task and the elevator switch.

use crate::config::*;
use crate::defs::{Kind, Model};
use crate::exec::*;
use crate::state::*;
use crate::teardown::Next;

/// Bit masks of what `blk_mq_get_tag` may hand out on hw queue `q`: the free
/// driver tags and, with an I/O scheduler, the free scheduler requests (bit i:
/// request `sched_pool + q * depth + i`); without one a request is the tag's
/// own static request (mask 1).  Both come from an sbitmap whose per-CPU
/// hint decides, so every set bit is a possible answer.
fn free_masks(m: &Model, s: &State, q: u8) -> (u32, u32) {
    let depth = m.dev.depth as usize;
    let mut tags = (1u32 << depth) - 1;
    for r in &s.reqs {
        if let (true, Some(t)) = (r.allocated && r.q == q, r.tag) {
            tags &= !(1 << t);
        }
    }
    let reqs = if m.dev.elevator {
        let base = s.dev.sched_pool as usize + q as usize * depth;
        (0..depth)
            .filter(|&i| !s.reqs[base + i].allocated && s.reqs[base + i].alive)
            .fold(0, |acc, i| acc | 1 << i)
    } else {
        1
    };
    (tags, reqs)
}

/// The position of the `n`-th set bit of `mask`.
fn nth_bit(mask: u32, n: u32) -> usize {
    let mut m = mask;
    for _ in 0..n {
        m &= m - 1;
    }
    m.trailing_zeros() as usize
}

/// Whether a submitter at the start of a bio may allocate now (the disk is
/// there and not frozen; a dying disk fails the bio without a request).
fn may_alloc(s: &State) -> bool {
    !s.dev.disk_dying && s.dev.has_disk && !s.dev.frozen
}

impl Model {
    /// How many alternatives actor `a`'s next step has in `s` (at least 1):
    /// a submitter allocating a request may get any free driver tag (and,
    /// with an I/O scheduler, any free scheduler request); a control command
    /// whose pid check names an exited server finds it reaped or a zombie.
    pub fn choices(&self, s: &State, a: ActorId) -> u8 {
        if self.pid_check_open(s, a).is_some() {
            return 2;
        }
        if !self.any_tag {
            return 1;
        }
        let st = &s.actors[a as usize];
        let (q, bios) = match &self.actors[a as usize].kind {
            Kind::Submitter { q, bios } => (*q, bios),
            // the requeue work re-dispatching a request that gave its driver tag back
            Kind::RequeueWork => {
                let Some(&r) = s.dev.requeue_run.first() else {
                    return 1;
                };
                if st.rq.is_some() || s.dev.quiesced > 0 || s.reqs[r as usize].tag.is_some() {
                    return 1;
                }
                let (tags, _) = free_masks(self, s, s.reqs[r as usize].q);
                return tags.count_ones().max(1) as u8;
            }
            _ => return 1,
        };
        if st.at != Resume::Idle || st.next_op as usize >= bios.len() || !may_alloc(s) {
            return 1;
        }
        let (tags, reqs) = free_masks(self, s, q);
        (tags.count_ones() * reqs.count_ones()).max(1) as u8
    }
}

impl Model {
    /// The hw queue and the driver tag of each alternative of actor `a`'s next step when
    /// that step hands out a driver tag (a submitter allocating a request, the requeue work
    /// re-dispatching one that gave its tag back) and has more than one alternative: what
    /// the conformance oracle needs to follow the tag the real kernel chose.
    pub fn tag_alternatives(&self, s: &State, a: ActorId) -> Option<(u8, Vec<u8>)> {
        let n = self.choices(s, a);
        if n < 2 {
            return None;
        }
        let q = match &self.actors[a as usize].kind {
            Kind::Submitter { q, .. } => *q,
            Kind::RequeueWork => s.reqs[*s.dev.requeue_run.first()? as usize].q,
            _ => return None,
        };
        let (tags, _) = free_masks(self, s, q);
        let nt = tags.count_ones().max(1);
        Some((
            q,
            (0..n as u32).map(|k| nth_bit(tags, k % nt) as u8).collect(),
        ))
    }
}

impl Exec<'_> {
    /// Allocate a request and a driver tag on hw queue `q`
    /// (`blk_mq_get_request` + `blk_mq_get_driver_tag`): alternative
    /// `self.choice` of [`Model::choices`], tags varying fastest.
    fn alloc_request(&mut self, q: u8, write: bool) -> Option<RqId> {
        let depth = self.m.dev.depth as usize;
        let base = q as usize * depth;
        let (tags, reqs) = free_masks(self.m, self.s, q);
        if tags == 0 || reqs == 0 {
            return None;
        }
        let (nt, k) = (tags.count_ones(), self.choice as u32);
        let tag = nth_bit(tags, k % nt);
        let r = if self.m.dev.elevator {
            self.s.dev.sched_pool as usize + base + nth_bit(reqs, k / nt)
        } else {
            base + tag
        };
        let rq = &mut self.s.reqs[r];
        rq.allocated = true;
        rq.q = q;
        rq.tag = Some(tag as u8);
        rq.write = write;
        rq.bytes = self.m.dev.io_bytes;
        rq.round = rq.round.wrapping_add(1);
        rq.ended = 0;
        rq.res = 0;
        rq.owner = Some(self.actor);
        self.s.tags_rqs[base + tag] = Some(r as RqId);
        Some(r as RqId)
    }

    pub(crate) fn step_submitter(&mut self, q: u8, bios: &[Bio]) -> Step {
        let (pc, at) = (self.me().next_op as usize, self.me().at);
        if self.m.program_over(self.s, self.actor) {
            self.me().done = true;
            return Ok(None);
        }
        match at {
            Resume::Idle => {
                if self.s.dev.disk_dying || (!self.s.dev.has_disk && self.s.dev.disk_removed) {
                    self.me().next_op += 1;
                    return Ok(Some((Func::SubmitBioDiskGone, Some(EIO))));
                }
                if !may_alloc(self.s) {
                    return Ok(None);
                }
                let Some(r) = self.alloc_request(q, bios[pc] == Bio::Write) else {
                    return Ok(None);
                };
                let round = self.s.reqs[r as usize].round;
                let me = self.me();
                me.rq = Some(r);
                me.round = round;
                me.at = Resume::QueueRq;
                Ok(Some((Func::BlkMqSubmitBio, None)))
            }
            Resume::QueueRq => {
                if self.s.dev.quiesced > 0 {
                    return Ok(None);
                }
                let r = self.me().rq.unwrap();
                let go = self.ublk_queue_rq_start(r)?;
                self.me().at = if go {
                    Resume::QueueCmd
                } else {
                    Resume::BioWait
                };
                Ok(Some((Func::UblkQueueRqStart, None)))
            }
            Resume::QueueCmd => {
                let r = self.me().rq.unwrap();
                self.ublk_queue_cmd(r)?;
                self.me().at = Resume::BioWait;
                Ok(Some((Func::UblkQueueRqQueueCmd, None)))
            }
            Resume::BioWait => {
                let r = self.me().rq.unwrap();
                let round = self.me().round;
                let rq = &self.s.reqs[r as usize];
                if rq.round == round && rq.ended == 0 {
                    return Ok(None);
                }
                // the request may have been reallocated since; its end set res
                let res = self.me().res;
                let me = self.me();
                me.next_op += 1;
                me.at = Resume::Idle;
                me.rq = None;
                Ok(Some((Func::BioEndio, Some(res))))
            }
            _ => unreachable!("no resume point {at:?} for a submitter"),
        }
    }

    /// `disk_scan_partitions()` inside START_DEV's `add_disk` (without
    /// `async-part-scan`): once START_DEV asked for it, one READ of sector 0
    /// through the block layer like any bio (the page-cache read of the
    /// partition parsers); START_DEV waits for its end.
    pub(crate) fn step_part_scan(&mut self, q: u8) -> Step {
        if !self.s.dev.part_scan {
            return Ok(None);
        }
        let r = self.step_submitter(q, &[Bio::Read])?;
        if self.me().next_op == 1 {
            // the read ended: START_DEV may go on; a later START_DEV scans again
            let me = self.me();
            me.next_op = 0;
            me.done = false;
            self.s.dev.part_scan = false;
        }
        Ok(r)
    }

    /// `blk_mq_get_driver_tag()` for a request requeued with an I/O scheduler
    /// (it gave its driver tag back): any free tag (`self.choice`), which
    /// `tags->rqs[tag]` then points to.  False if none is free.
    fn get_driver_tag(&mut self, r: RqId) -> bool {
        let q = self.s.reqs[r as usize].q;
        let (tags, _) = free_masks(self.m, self.s, q);
        if tags == 0 {
            return false;
        }
        let tag = nth_bit(tags, self.choice as u32 % tags.count_ones());
        self.s.reqs[r as usize].tag = Some(tag as u8);
        let base = q as usize * self.m.dev.depth as usize;
        self.s.tags_rqs[base + tag] = Some(r);
        true
    }

    pub(crate) fn step_requeue_work(&mut self) -> Step {
        match self.me().rq {
            None => {
                if self.s.dev.quiesced > 0 {
                    return Ok(None);
                }
                let r = self.s.dev.requeue_run[0];
                if self.s.reqs[r as usize].tag.is_none() && !self.get_driver_tag(r) {
                    return Ok(None); // every driver tag is taken: wait
                }
                self.s.dev.requeue_run.remove(0);
                self.me().rq = Some(r);
                let go = self.ublk_queue_rq_start(r)?;
                if !go {
                    self.me().rq = None;
                }
                Ok(Some((Func::BlkMqRequeueWorkQueueRq, None)))
            }
            Some(r) => {
                self.ublk_queue_cmd(r)?;
                self.me().rq = None;
                Ok(Some((Func::BlkMqRequeueWorkQueueCmd, None)))
            }
        }
    }

    /// The next cancelable, pending cmd of `ring` after the cursor.
    pub(crate) fn next_cancelable(&self, ring: RingId, after: u8) -> Option<CmdId> {
        let pend = |c: &usize| {
            self.m.cmds[*c].ring == ring
                && self.s.cmds[*c].st == CmdSt::Pending
                && self.s.cmds[*c].cancelable
        };
        let n = self.m.cmds.len();
        (after as usize + 1..n)
            .chain(0..=after as usize)
            .find(|c| *c < n && pend(c))
            .map(|c| c as CmdId)
    }

    /// io_uring ring exit: call `->uring_cmd(IO_URING_F_CANCEL)` on every
    /// cancelable cmd until none is left (`ublk_uring_cmd_cancel_fn`), wait
    /// for in-flight fixed-buffer I/O, unregister the buffer table (release
    /// callbacks run here, in a kworker), then drop the registered file.
    pub(crate) fn step_ring_exit(&mut self, ring: RingId) -> Step {
        let at = self.me().at;
        if !self.m.feat.has(crate::features::Sw::ReleaseWork) && at != Resume::Idle {
            return self.cancel_fn_612(ring);
        }
        let Resume::CancelFn(cancel_at) = at else {
            return self.ring_exit_next(ring);
        };
        let c = self.me().cancel_cursor;
        let sl = self.slot_idx(self.m.cmds[c as usize].q, self.m.cmds[c as usize].tag);
        let Some((f, next)) = self.cancel_cmd_step(sl, cancel_at)? else {
            return Ok(None);
        };
        self.me().at = next.map_or(Resume::Idle, Resume::CancelFn);
        Ok(Some((f, None)))
    }

    /// The ring exit between cancels: start canceling the next cancelable
    /// cmd, or (none pending) drop the file reference and free the ring.
    fn ring_exit_next(&mut self, ring: RingId) -> Step {
        let any_pending = self
            .m
            .cmds
            .iter()
            .zip(&self.s.cmds)
            .any(|(d, c)| d.ring == ring && c.st == CmdSt::Pending);
        if !any_pending {
            if !self.m.fixed_file[ring as usize] && !self.me().file_dropped {
                // the last in-flight request on the file is gone: the
                // ring itself holds no file reference
                self.me().file_dropped = true;
                self.drop_file_ref();
                return Ok(Some((Func::IoUringFputLastRequest, None)));
            }
            if !self.s.rings[ring as usize].fixed_ops.is_empty() {
                return Ok(None);
            }
            let rg = &mut self.s.rings[ring as usize];
            let nodes: Vec<NodeId> = rg.table.iter_mut().rev().filter_map(Option::take).collect();
            for n in nodes {
                self.put_node(n)?;
            }
            self.s.rings[ring as usize].freed = true;
            if self.m.fixed_file[ring as usize] {
                self.drop_file_ref();
            }
            self.me().done = true;
            return Ok(Some((Func::IoRingCtxFree, None)));
        }
        if !self.m.feat.has(crate::features::Sw::ReleaseWork) {
            return self.cancel_fn_612(ring);
        }
        let cursor = self.me().cancel_cursor;
        let Some(c) = self.next_cancelable(ring, cursor) else {
            return Ok(None);
        };
        self.me().at = match self.ublk_start_cancel_1() {
            Next::Blocked => return Ok(None),
            Next::Continue => Resume::CancelFn(CancelAt::StartCancelQuiesce),
            Next::Finished => Resume::CancelFn(CancelAt::CheckActive),
        };
        self.me().cancel_cursor = c;
        Ok(Some((Func::UblkUringCmdCancelFnStartCancel, None)))
    }

    pub(crate) fn step_control(&mut self, prog: &[CtrlOp]) -> Step {
        let (pc, at) = (self.me().next_op as usize, self.me().at);
        if self.m.program_over(self.s, self.actor) {
            self.me().done = true;
            return Ok(None);
        }
        if !self.m.feat.has(crate::features::Sw::ReleaseWork) && prog[pc] != CtrlOp::StartDev {
            return self.control_612(prog[pc]);
        }
        let finish = |x: &mut Self, f: Func, res: i32| {
            let me = x.me();
            me.next_op += 1;
            me.at = Resume::Idle;
            me.res = res;
            Ok(Some((f, Some(res))))
        };
        // ublk_cancel_dev() starts at slot 0
        let cancel_dev = Resume::StopDev(StopDevAt::CancelDev {
            slot: 0,
            at: CancelAt::CheckActive,
        });
        match (prog[pc], at) {
            (CtrlOp::QuiesceDev, _) => self.ublk_ctrl_quiesce_dev(),
            (CtrlOp::UpdateSize, _) => self.ublk_ctrl_set_size(),
            (CtrlOp::StartUserRecovery, _) => match self.ublk_ctrl_start_recovery(true) {
                None => Ok(None),
                Some(res) => finish(self, Func::UblkCtrlStartRecovery, res),
            },
            (CtrlOp::StartUserRecoveryOnce, _) => match self.ublk_ctrl_start_recovery(false) {
                None => Ok(None),
                Some(res) => finish(self, Func::UblkCtrlStartRecovery, res),
            },
            (CtrlOp::EndUserRecovery, _) => match self.ublk_ctrl_end_recovery() {
                None => Ok(None),
                Some(res) => finish(self, Func::UblkCtrlEndRecovery, res),
            },
            (CtrlOp::StartDev, Resume::StartDevPartScan) => {
                // add_disk returns once the partition scan's read has ended
                if self.s.dev.part_scan {
                    return Ok(None);
                }
                self.s.dev.mutex = None;
                finish(self, Func::UblkCtrlStartDevScanned, 0)
            }
            (CtrlOp::StartDev, _) => match self.ublk_ctrl_start_dev()? {
                None => Ok(None),
                Some(0)
                    if self.m.dev.part_scan
                        && !self.m.feat.has(crate::features::Sw::AsyncPartScan) =>
                {
                    // GD_SUPPRESS_PART_SCAN not set: add_disk → disk_scan_partitions
                    // reads sector 0 under ub->mutex
                    self.s.dev.mutex = Some(self.actor);
                    self.s.dev.part_scan = true;
                    self.me().at = Resume::StartDevPartScan;
                    Ok(Some((Func::UblkCtrlStartDevPartScan, None)))
                }
                Some(res) => finish(self, Func::UblkCtrlStartDev, res),
            },
            (CtrlOp::StopDev | CtrlOp::DelDev, Resume::Idle) => match self.ublk_stop_dev_1() {
                Next::Blocked => Ok(None),
                Next::Continue => {
                    self.me().at = Resume::StopDev(StopDevAt::ForceAbort);
                    Ok(Some((Func::UblkStopDevMutex, None)))
                }
                Next::Finished => {
                    self.s.dev.mutex = None;
                    if !self.s.dev.has_disk && !self.s.dev.disk_removed {
                        self.s.dev.g_stopped_unstarted = true;
                    }
                    self.me().at = cancel_dev;
                    Ok(Some((Func::UblkStopDevAlreadyDead, None)))
                }
            },
            (CtrlOp::StopDev | CtrlOp::DelDev, Resume::StopDev(StopDevAt::ForceAbort)) => {
                match self.ublk_stop_dev_2() {
                    Next::Blocked => Ok(None),
                    _ => {
                        self.me().at = Resume::StopDev(StopDevAt::DelGendisk);
                        Ok(Some((Func::UblkStopDevForceAbort, None)))
                    }
                }
            }
            (CtrlOp::StopDev | CtrlOp::DelDev, Resume::StopDev(StopDevAt::DelGendisk)) => {
                match self.del_gendisk_done() {
                    Next::Blocked => Ok(None),
                    _ => {
                        self.s.dev.mutex = None;
                        self.me().at = cancel_dev;
                        Ok(Some((Func::UblkDetachDisk, None)))
                    }
                }
            }
            (
                op @ (CtrlOp::StopDev | CtrlOp::DelDev),
                Resume::StopDev(StopDevAt::CancelDev { slot, at }),
            ) => {
                // ublk_cancel_dev(): ublk_cancel_cmd on every slot, no mutex
                let sl = slot as usize;
                if sl >= self.s.slots.len() && op == CtrlOp::DelDev {
                    // ublk_remove, then wait until the device's last
                    // reference (the char device's, the release work's) is gone
                    if self.s.dev.file_refs > 0 || self.s.dev.release_pending {
                        return Ok(None);
                    }
                    return finish(self, Func::UblkCtrlDelDev, 0);
                }
                if sl >= self.s.slots.len() {
                    return finish(self, Func::UblkCtrlStopDev, 0);
                }
                self.cancel_dev_step(slot, at)
            }
            (op, at) => unreachable!("no resume point {at:?} for {op:?}"),
        }
    }

    /// `elevator_switch()`: freeze the queue, wait until no request is
    /// allocated, free the scheduler's request pages (stale `tags->rqs`
    /// entries are cleared by `blk_mq_clear_rq_mapping`), new pool, unfreeze.
    pub(crate) fn step_elevator(&mut self) -> Step {
        if !self.m.dev.elevator {
            self.me().done = true;
            return Ok(None);
        }
        if self.me().at == Resume::Idle {
            if !self.s.dev.has_disk {
                return Ok(None);
            }
            self.s.dev.frozen = true;
            self.me().at = Resume::ElevatorFrozen;
            return Ok(Some((Func::ElevatorSwitchFreeze, None)));
        }
        if self.s.reqs.iter().any(|r| r.allocated) {
            return Ok(None);
        }
        let n = self.m.nr_slots() as usize;
        let pool = self.s.dev.sched_pool as usize;
        for i in pool..pool + n {
            self.s.reqs[i].alive = false;
        }
        for e in self.s.tags_rqs.iter_mut() {
            if e.is_some_and(|r| (pool..pool + n).contains(&(r as usize))) {
                *e = None;
            }
        }
        self.s.dev.sched_pool += n as u8;
        self.s.dev.frozen = false;
        // the write to queue/scheduler returns: the switch is no longer in the kernel
        self.me().at = Resume::Idle;
        self.me().done = true;
        Ok(Some((Func::ElevatorSwitchFree, None)))
    }

    /// Injected faults, the recovery server's open and the other fd holder's
    /// close (moved here from `Model::step`).
    pub(crate) fn step_fault_or_open(&mut self, kind: &crate::defs::Kind) -> Step {
        use crate::defs::Kind;
        match kind {
            Kind::RingCloseFault { task } => {
                // the ring of task i is ring i; the thread finishes its syscall first
                // the fault is "a daemon closes its ring while serving I/O": after
                // START_DEV (a ring exit before it is scenario thread-exit-before-start)
                let busy = self.m.thread_busy(self.s, *task, ActorId::MAX);
                if busy
                    || !self.s.dev.has_disk
                    || self.s.tasks[*task as usize].exiting
                    || self.s.rings[*task as usize].exiting
                {
                    return Ok(None);
                }
                self.s.rings[*task as usize].exiting = true;
                self.s.actors[self.actor as usize].done = true;
                Ok(Some((Func::FaultCloseRing, None)))
            }
            Kind::ThreadDeathFault { task } => {
                let busy = self.m.thread_busy(self.s, *task, ActorId::MAX);
                if busy || self.s.tasks[*task as usize].exiting {
                    return Ok(None);
                }
                self.task_exit(*task);
                self.s.actors[self.actor as usize].done = true;
                Ok(Some((Func::FaultDoExit, None)))
            }
            Kind::Opener => {
                // ublk_ch_open: test_and_set_bit(UB_STATE_OPEN); the new
                // process's fd and its rings' fixed files reference the file
                let refs = 1 + self.m.proc_tasks(1).count() as u8;
                self.s.dev.open = true;
                self.s.dev.new_server_open = true;
                self.s.dev.ublksrv_tgid = Some(1);
                self.s.dev.file_refs += refs;
                self.s.actors[self.actor as usize].done = true;
                Ok(Some((Func::UblkChOpen, None)))
            }
            Kind::FdHolder => {
                self.drop_file_ref();
                self.s.actors[self.actor as usize].done = true;
                Ok(Some((Func::CloseOtherFd, None)))
            }
            _ => unreachable!("not a fault/open actor"),
        }
    }
}
