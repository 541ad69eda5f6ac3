//! Cancel, release and the control commands that start and stop a device:
//! `ublk_uring_cmd_cancel_fn` (= `ublk_start_cancel` + `ublk_cancel_cmd`, split
//! at its lock boundaries), `ublk_ch_release_work_fn`, `ublk_ctrl_start_dev`,
//! `ublk_stop_dev`.  Each `_1`/`_2`/`_3` function here is one atomic step;
//! `cancel_cmd_step` and `step_release_work` sequence the cancel and the
//! release work (by `ActorSt::at`), the control actor (`kactors.rs`) STOP_DEV.

use crate::config::{CtrlOp, Recovery};
use crate::defs::{Kind, Model};
use crate::exec::*;
use crate::features::Sw;
use crate::invariants::Inv;
use crate::state::*;

/// What a cancel step leaves to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Blocked: the step did nothing.
    Blocked,
    Continue,
    Finished,
}

impl Exec<'_> {
    pub(crate) fn set_canceling(&mut self, v: bool) {
        if v {
            self.s.dev.g_recovered = false;
        }
        self.s.dev.canceling = v;
        for q in &mut self.s.queues {
            q.canceling = v;
        }
    }

    /// `ublk_start_cancel()` part 1: take `cancel_mutex`; quiesce if a disk
    /// exists (the wait for in-progress dispatch is part 2).
    pub fn ublk_start_cancel_1(&mut self) -> Next {
        if self.s.dev.cancel_mutex.is_some() {
            return Next::Blocked;
        }
        if self.s.dev.canceling {
            return Next::Finished;
        }
        if self.s.dev.has_disk {
            self.s.dev.cancel_mutex = Some(self.actor);
            self.s.dev.quiesced += 1;
            return Next::Continue;
        }
        if self.m.feat.has(Sw::CancelNoDisk) {
            self.set_canceling(true);
        }
        Next::Finished
    }

    /// `ublk_start_cancel()` part 2: `blk_mq_quiesce_queue` has waited for
    /// every dispatch in progress; set canceling; unquiesce; unlock.
    pub fn ublk_start_cancel_2(&mut self) -> Next {
        if self.s.dev.in_dispatch > 0 {
            return Next::Blocked;
        }
        self.set_canceling(true);
        self.s.dev.quiesced -= 1;
        self.s.dev.cancel_mutex = None;
        Next::Finished
    }

    /// `ublk_cancel_cmd()` part 1 (lock-free): is there a cmd to cancel?
    /// Not if the slot is not ACTIVE, nor if a started request owns the tag
    /// (its dispatch task work will complete the cmd, or abort the request).
    ///
    /// Without `fix-b2` (before "ublk: fix race between
    /// io_uring_cmd_complete_in_task and ublk_cancel_cmd", 6.15-rc, spec §6.2
    /// "K615s … contains the B-2 race") only the ACTIVE test exists: a cmd
    /// that `ublk_queue_cmd` already handed to task work is completed here
    /// too, and the dispatch then runs on a completed cmd.
    pub fn ublk_cancel_cmd_1(&mut self, sl: usize) -> R<bool> {
        if !self.s.slots[sl].has(flag::ACTIVE) {
            return Ok(false);
        }
        if !self.m.feat.has(Sw::FixB2) {
            return Ok(true);
        }
        let tag = (sl % self.m.dev.depth as usize) as u8;
        if let Some(r) = self.s.tags_rqs[sl] {
            let rq = self.rq(r, "ublk_cancel_cmd")?;
            if rq.started && rq.tag == Some(tag) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `ublk_cancel_cmd()` part 2, under `cancel_lock`: test-and-set CANCELED;
    /// K72 also takes `io->cmd` and NULLs it.  Returns whether to complete.
    pub fn ublk_cancel_cmd_2(&mut self, sl: usize) -> bool {
        let io = &mut self.s.slots[sl];
        if io.has(flag::CANCELED) {
            return false;
        }
        io.flags |= flag::CANCELED;
        if self.m.feat.has(Sw::CancelClaimsCmd) {
            let cell = std::mem::replace(&mut io.cell, Cell::None);
            match cell {
                Cell::Cmd(c) => {
                    self.s.cmds[c as usize].g_claimed = true;
                    self.s.actors[self.actor as usize].claimed_cmd = c;
                }
                _ => return false,
            }
        }
        true
    }

    /// `ublk_cancel_cmd()` part 3, outside the lock:
    /// `io_uring_cmd_done(cmd, UBLK_IO_RES_ABORT)`.
    pub fn ublk_cancel_cmd_3(&mut self, sl: usize) -> R<()> {
        let c = if self.m.feat.has(Sw::CancelClaimsCmd) {
            self.s.actors[self.actor as usize].claimed_cmd
        } else {
            match self.s.slots[sl].cell {
                Cell::Cmd(c) => c,
                _ => {
                    return self.fail(
                        Inv::S5,
                        format!(
                            "ublk_cancel_cmd completes io->cmd of slot {sl}, which holds no cmd"
                        ),
                    )
                }
            }
        };
        self.cmd_done(c, UBLK_IO_RES_ABORT, "ublk_cancel_cmd")
    }

    /// One step of a cancel on slot `sl`: the quiesce wait of
    /// `ublk_start_cancel()` (ring exit only), then the three parts of
    /// `ublk_cancel_cmd()`.  `None` if blocked; else the step and where the
    /// cancel resumes (`None`: this slot is done).
    pub(crate) fn cancel_cmd_step(
        &mut self,
        sl: usize,
        at: CancelAt,
    ) -> R<Option<(Func, Option<CancelAt>)>> {
        Ok(Some(match at {
            CancelAt::StartCancelQuiesce => match self.ublk_start_cancel_2() {
                Next::Blocked => return Ok(None),
                _ => (Func::UblkStartCancelQuiesced, Some(CancelAt::CheckActive)),
            },
            CancelAt::CheckActive => {
                let go = self.ublk_cancel_cmd_1(sl)?;
                (
                    Func::UblkCancelCmdCheckActive,
                    go.then_some(CancelAt::Claim),
                )
            }
            CancelAt::Claim => {
                let go = self.ublk_cancel_cmd_2(sl);
                (Func::UblkCancelCmdClaim, go.then_some(CancelAt::Complete))
            }
            CancelAt::Complete => {
                self.ublk_cancel_cmd_3(sl)?;
                (Func::UblkCancelCmdComplete, None)
            }
        }))
    }

    /// `ublk_cancel_dev()` (from `ublk_stop_dev()`): one cancel step on slot
    /// `slot`; once its cancel is done, the walk moves to the next slot.
    pub(crate) fn cancel_dev_step(&mut self, slot: u8, at: CancelAt) -> Step {
        let Some((f, next)) = self.cancel_cmd_step(slot as usize, at)? else {
            return Ok(None);
        };
        self.me().at = Resume::StopDev(match next {
            Some(at) => StopDevAt::CancelDev { slot, at },
            None => StopDevAt::CancelDev {
                slot: slot + 1,
                at: CancelAt::CheckActive,
            },
        });
        Ok(Some((f, None)))
    }

    /// Does the device count references (`ublk_dev_need_req_ref`) in the
    /// sense the release work checks?  POST checks zero copy only (B-9).
    fn release_checks_refs(&self) -> bool {
        let f = self.m.feat;
        let copy = self.m.dev.copy;
        f.has(Sw::FixB8) && (copy.zero_copy() || (f.has(Sw::FixB9) && copy.needs_ref()))
    }

    /// `ublk_check_and_reset_active_ref()`: every slot must have
    /// `ref + trb ∈ {0, INIT}`; then both are forced to 0.
    fn refs_settled(&self) -> bool {
        self.s.slots.iter().all(|io| {
            let v = io.refcnt + io.trb;
            v == 0 || v == UBLK_REFCOUNT_INIT
        })
    }

    /// `ublk_ch_release_work_fn()` part 1: settle check (the work re-arms
    /// itself every jiffy until refs settle: modelled as blocked), then
    /// under `cancel_mutex` set canceling and abort every server-owned slot.
    pub fn release_work_1(&mut self) -> R<Next> {
        let check = self.release_checks_refs();
        if check && !self.refs_settled() {
            return Ok(Next::Blocked);
        }
        if self.s.dev.cancel_mutex.is_some() {
            return Ok(Next::Blocked);
        }
        if check {
            for io in &mut self.s.slots {
                io.refcnt = 0;
                io.trb = 0;
            }
        }
        if !self.s.dev.has_disk {
            self.s.dev.open = false; // no abort, no reset (device was stopped)
            return Ok(Next::Finished);
        }
        self.set_canceling(true);
        for sl in 0..self.s.slots.len() {
            let io = &self.s.slots[sl];
            if io.has(flag::OWNED_BY_SRV) && !io.g_aborted {
                let Cell::Req(r) = io.cell else {
                    return self.fail(
                        Inv::S6,
                        format!("ublk_abort_queue: OWNED slot {sl} holds no request"),
                    );
                };
                self.ublk_fail_req(sl, r)?;
            }
        }
        self.kick_requeue_list();
        Ok(Next::Continue)
    }

    /// Part 2, under `ub->mutex`: stop (no recovery) or park the device.
    /// Returns Continue when `del_gendisk` must wait for requests.
    pub fn release_work_2(&mut self) -> Next {
        if self.s.dev.mutex.is_some_and(|h| h != self.actor) {
            return Next::Blocked;
        }
        self.s.dev.mutex = Some(self.actor);
        if !self.s.dev.has_disk {
            return Next::Finished;
        }
        match self.m.dev.recovery {
            Recovery::None => {
                for q in &mut self.s.queues {
                    q.force_abort = true;
                }
                self.s.dev.disk_dying = true;
                return Next::Continue;
            }
            Recovery::Requeue | Recovery::Reissue => self.s.dev.state = DevState::Quiesced,
            Recovery::FailIo => {
                self.s.dev.state = DevState::FailIo;
                for q in &mut self.s.queues {
                    q.fail_io = true;
                }
            }
        }
        Next::Finished
    }

    /// `del_gendisk()` finishing: every request has ended; detach the disk.
    pub fn del_gendisk_done(&mut self) -> Next {
        if self.s.reqs.iter().any(|r| r.allocated) {
            return Next::Blocked;
        }
        self.s.dev.has_disk = false;
        self.s.dev.disk_dying = false;
        self.s.dev.state = DevState::Dead;
        // `put_disk()` right after drops the last reference (no one else
        // holds /dev/ublkbN once every request ended): `ublk_free_disk()`
        // clears UB_STATE_USED, so START_DEV may add a new disk (measured on
        // 6.12.118: program s2-142 of the first 300-program run)
        self.s.dev.used = false;
        self.s.dev.disk_removed = true;
        Next::Finished
    }

    /// Part 3: unlock, `ublk_reset_ch_dev()` (slots reinitialised under
    /// `cancel_lock`, CANCELED kept), clear OPEN.
    pub fn release_work_3(&mut self, reset: bool) -> R<()> {
        self.s.dev.mutex = None;
        if reset {
            for (sl, io) in self.s.slots.iter_mut().enumerate() {
                if io.refcnt != 0 || io.trb != 0 {
                    let (r, t) = (io.refcnt, io.trb);
                    return Err(crate::invariants::Violation::new(
                        Inv::S4,
                        format!("ublk_queue_reinit: slot {sl} still has ref {r:#x} trb {t}"),
                    ));
                }
                io.flags &= flag::CANCELED;
                io.cell = Cell::None;
                io.task = None;
            }
            self.s.dev.nr_io_ready = 0;
            for q in &mut self.s.queues {
                q.nr_io_ready = 0;
            }
            self.s.dev.ublksrv_tgid = None;
        }
        self.s.dev.open = false;
        Ok(())
    }

    /// The release-work kworker: `ublk_ch_release_work_fn()` in the steps
    /// above, resuming at `ActorSt::at`.
    pub(crate) fn step_release_work(&mut self) -> Step {
        let at = self.me().at;
        let (next, func, then) = match at {
            Resume::Idle => match self.release_work_1()? {
                Next::Finished => {
                    // the work may run again after a new server opened the device
                    self.s.dev.release_pending = false;
                    self.me().at = Resume::Idle;
                    return Ok(Some((Func::UblkChReleaseWorkFnNoDisk, None)));
                }
                n => (n, Func::UblkChReleaseWorkFnAbort, Resume::ReleaseMutex),
            },
            Resume::ReleaseMutex => match self.release_work_2() {
                Next::Finished => {
                    self.me().at = Resume::ReleaseReset;
                    return Ok(Some((Func::UblkChReleaseWorkFnStateChange, None)));
                }
                n => (
                    n,
                    Func::UblkChReleaseWorkFnStopDev,
                    Resume::ReleaseDelGendisk,
                ),
            },
            Resume::ReleaseDelGendisk => (
                self.del_gendisk_done(),
                Func::DelGendiskDone,
                Resume::ReleaseReset,
            ),
            Resume::ReleaseReset => {
                self.release_work_3(true)?;
                self.s.dev.release_pending = false;
                self.me().at = Resume::Idle;
                return Ok(Some((Func::UblkChReleaseWorkFnReset, None)));
            }
            _ => unreachable!("no resume point {at:?} for the release work"),
        };
        if next == Next::Blocked {
            return Ok(None);
        }
        self.me().at = then;
        Ok(Some((func, None)))
    }

    /// `ublk_ctrl_start_dev()`: wait until every io is fetched, then under
    /// `ub->mutex` add the disk.  S9: only with every slot armed.
    pub fn ublk_ctrl_start_dev(&mut self) -> R<Option<i32>> {
        if self.m.start_dev_waits(self.s) {
            return Ok(None);
        }
        if !self.ublk_validate_user_pid(0) {
            return Ok(Some(EINVAL));
        }
        if self.s.dev.state == DevState::Live || self.s.dev.used {
            return Ok(Some(EEXIST));
        }
        for (sl, io) in self.s.slots.iter().enumerate() {
            // A FETCH canceled by a ring exit still counts as fetched: K72
            // starts the device and relies on `canceling` (1133b93fc7f6).
            let armed = io.has(flag::ACTIVE)
                && (io.has(flag::CANCELED)
                    || matches!(io.cell, Cell::Cmd(c) if self.s.cmds[c as usize].st == CmdSt::Pending));
            if !armed {
                return self.fail(
                    Inv::S9,
                    format!("START_DEV adds the disk while slot {sl} was never fetched"),
                );
            }
        }
        self.s.dev.has_disk = true;
        self.s.dev.used = true;
        self.s.dev.disk_removed = false;
        self.s.dev.state = DevState::Live;
        Ok(Some(0))
    }

    /// `ublk_stop_dev()` part 1: take `ub->mutex`; in recovery-queue mode
    /// start `ublk_force_abort_dev()` (quiesce).
    pub fn ublk_stop_dev_1(&mut self) -> Next {
        if self.s.dev.mutex.is_some() {
            return Next::Blocked;
        }
        self.s.dev.mutex = Some(self.actor);
        if self.s.dev.state == DevState::Dead {
            return Next::Finished;
        }
        if self.m.dev.recovery.queues_io() {
            self.s.dev.quiesced += 1;
        }
        Next::Continue
    }

    /// `ublk_force_abort_dev()` rest: wait until no request is started (if
    /// LIVE), set `force_abort`, unquiesce, kick; then `del_gendisk` starts.
    pub fn ublk_stop_dev_2(&mut self) -> Next {
        if self.m.dev.recovery.queues_io() {
            if self.s.dev.in_dispatch > 0
                || (self.s.dev.state == DevState::Live && self.s.reqs.iter().any(|r| r.started))
            {
                return Next::Blocked;
            }
            for q in &mut self.s.queues {
                q.force_abort = true;
            }
            self.s.dev.quiesced -= 1;
            self.kick_requeue_list();
        }
        self.s.dev.disk_dying = true;
        Next::Continue
    }

    /// `ublk_ctrl_start_recovery()`: the device must have USER_RECOVERY, be
    /// closed and QUIESCED or FAIL_IO.  With `poll` the control program
    /// waits for that (it polls GET_DEV_INFO), so only -EINVAL is seen;
    /// without, the command's -EBUSY is the answer.
    pub fn ublk_ctrl_start_recovery(&mut self, poll: bool) -> Option<i32> {
        if self.m.dev.recovery == Recovery::None {
            return Some(EINVAL);
        }
        if self.s.dev.mutex.is_some() {
            return None;
        }
        let recoverable = matches!(self.s.dev.state, DevState::Quiesced | DevState::FailIo);
        if self.s.dev.open || !recoverable {
            if poll {
                return None;
            }
            self.s.dev.recovery_tried = true;
            return Some(EBUSY);
        }
        self.s.dev.recovery_tried = true;
        self.s.dev.completion_done = false; // init_completion(&ub->completion)
        self.s.dev.recovering = true;
        Some(0)
    }

    /// `ublk_ctrl_end_recovery()`: wait until every io is fetched
    /// (`ublk_wait_dev_ready_and_lock`), then LIVE and kick the requeue list
    /// so the held requests reach the new server.  The new server issues it
    /// once it has opened /dev/ublkcN (and queued its FETCHes).
    ///
    /// Without `fix-b18` (before 432a9b2780c0, 7.2-rc4, CVE-2026-68173) it
    /// waits on `ub->completion` instead: complete since the device was
    /// first ready, and re-armed only by a *successful* START_USER_RECOVERY.
    /// After a START that failed (-EBUSY, ignored) the wait returns at once,
    /// the device goes LIVE and the requeue list is kicked while `canceling`
    /// is still set: the held request is parked again, and once the last
    /// FETCH clears `canceling` nothing kicks the list again.
    pub fn ublk_ctrl_end_recovery(&mut self) -> Option<i32> {
        // the wait comes first: on a device without recovery the -EINVAL
        // (`ublk_nosrv_should_stop_dev`) is answered once the device is ready
        if self.m.end_recovery_waits(self.s) {
            return None;
        }
        if self.m.dev.recovery == Recovery::None {
            return Some(EINVAL);
        }
        if !self.ublk_validate_user_pid(1) {
            return Some(EINVAL);
        }
        if !matches!(self.s.dev.state, DevState::Quiesced | DevState::FailIo) {
            return Some(EBUSY);
        }
        self.s.dev.state = DevState::Live;
        self.s.dev.recovering = false;
        self.s.dev.g_recovered = true;
        self.kick_requeue_list();
        Some(0)
    }
}

/// The alternative of a `ublk_validate_user_pid` step ([`Model::pid_check_open`]) in which
/// the exited server has been reaped.
pub const PID_REAPED: u8 = 1;

impl Model {
    /// 7.x `ublk_ctrl_start_dev()` still waits (`ublk_wait_dev_ready_and_lock`): not every
    /// io is fetched, or `ub->mutex` is held.
    pub(crate) fn start_dev_waits(&self, s: &State) -> bool {
        s.dev.nr_io_ready != self.nr_slots() || s.dev.mutex.is_some()
    }

    /// 7.x `ublk_ctrl_end_recovery()` still waits: the new server has not opened the device
    /// or fetched every io (before B-18's fix: `ub->completion` is not complete), or
    /// `ub->mutex` is held.  On a device without recovery there is no new server: it waits
    /// for the first server's FETCHes (`ublk_wait_dev_ready_and_lock`; before B-18's fix
    /// `ub->completion`), then answers -EINVAL.
    pub(crate) fn end_recovery_waits(&self, s: &State) -> bool {
        let ready = if self.feat.has(Sw::FixB18) {
            s.dev.nr_io_ready == self.nr_slots()
        } else {
            s.dev.completion_done
        };
        let new_server = self.dev.recovery == Recovery::None || s.dev.new_server_open;
        !new_server || !ready || s.dev.mutex.is_some()
    }

    /// Every thread of server process `p` has exited: the process is a zombie until its
    /// parent reaps it.
    pub(crate) fn process_exited(&self, s: &State, p: u8) -> bool {
        let mut tasks = self.proc_tasks(p).peekable();
        tasks.peek().is_some() && tasks.all(|t| s.tasks[t as usize].exiting)
    }

    /// The server process whose pid control actor `a`'s next step hands to
    /// `ublk_validate_user_pid` (START_DEV: the first server, END_USER_RECOVERY: the
    /// recovery's) when the step reaches that check now and its answer is not yet decided:
    /// the process opened /dev/ublkcN last, has exited and is not known to be reaped.  Its
    /// parent may or may not have reaped it by then, so the step has two alternatives:
    /// 0 a zombie (the check passes: the engines, which take alternative 0, keep the window
    /// the kernel has), [`PID_REAPED`] reaped (-EINVAL; what a sequential run sees, its
    /// control reaps a dead server at once).
    pub fn pid_check_open(&self, s: &State, a: ActorId) -> Option<u8> {
        if !self.feat.has(Sw::ValidatePid) {
            return None;
        }
        let Kind::Control { prog } = &self.actors[a as usize].kind else {
            return None;
        };
        let st = &s.actors[a as usize];
        if st.at != Resume::Idle {
            return None;
        }
        let p = match prog.get(st.next_op as usize)? {
            CtrlOp::StartDev if !self.start_dev_waits(s) => 0,
            CtrlOp::EndUserRecovery
                if self.feat.has(Sw::ReleaseWork)
                    && self.dev.recovery != Recovery::None
                    && !self.end_recovery_waits(s) =>
            {
                1
            }
            _ => return None,
        };
        (self.opener_unreaped(s, p) && self.process_exited(s, p)).then_some(p)
    }

    /// Server process `p` opened /dev/ublkcN last and is not known to be reaped: its pid
    /// resolves to `ub->ublksrv_tgid` unless it has exited and been reaped since.
    fn opener_unreaped(&self, s: &State, p: u8) -> bool {
        s.dev.ublksrv_tgid == Some(p) && s.dev.reaped & 1 << p == 0
    }
}

impl Exec<'_> {
    /// 7.x `ublk_validate_user_pid(ub, data[0])` with `data[0]` the pid server process `p`
    /// had: `ub->ublksrv_tgid == pid_nr(find_vpid(data[0]))`.  A reaped process's pid no
    /// longer resolves (0); an exited one not known to be reaped is alternative
    /// [`Model::pid_check_open`] of this step.
    fn ublk_validate_user_pid(&mut self, p: u8) -> bool {
        if !self.m.feat.has(Sw::ValidatePid) {
            // 6.17: `ub->ublksrv_tgid != ublksrv_pid`, the number alone
            return !self.m.feat.has(Sw::PidEqualsOpener) || self.s.dev.ublksrv_tgid == Some(p);
        }
        // the step has not changed the state yet: its alternatives are the ones counted
        if self.m.pid_check_open(self.s, self.actor) == Some(p) {
            if self.choice == PID_REAPED {
                self.s.dev.reaped |= 1 << p;
                return false;
            }
            return true; // a zombie
        }
        // alive, or its fate decided at an earlier check
        self.m.opener_unreaped(self.s, p)
    }
}
