//! Debian trixie 6.12.118 (`Preset::K612`): the code paths 6.12 has and the
//! later kernels replaced.  Everything here runs only when the newer
//! behaviour's switch is off (`per-io-daemon`, `zero-copy`, `release-work`,
//! `sync-get-data`, `recovery-fail-io`); the rest of 6.12 (kref in the
//! request pdu, fake timeout in the commit, the abort's kref put) reuses
//! the PRE paths through their switches (`p02`, `fix-b11`, `p11` off).
//!
//! Names follow 6.12's `ublk_drv.c`: `__ublk_ch_uring_cmd`,
//! `ublk_mark_io_ready`, `ublk_handle_need_get_data`,
//! `ublk_uring_cmd_cancel_fn` → `ublk_abort_requests` + `ublk_cancel_cmd`,
//! `ublk_timeout`, `ublk_stop_work_fn` / `ublk_quiesce_work_fn`,
//! `ublk_stop_dev`, `ublk_ctrl_start_recovery` (`ublk_queue_reinit`),
//! `ublk_ctrl_end_recovery`, `ublk_remove`.

use crate::config::*;
use crate::defs::Kind;
use crate::defs::Model;
use crate::exec::*;
use crate::features::{Features, Sw};
use crate::invariants::Inv;
use crate::io_cmd::Entry;
use crate::state::*;

pub use crate::uapi612::*;

impl Model {
    /// Why the kernel selected by `feat` cannot run scenario `sc` (a device
    /// flag or a server shape it does not have), or `None`.
    pub fn unsupported(sc: &Scenario, feat: Features) -> Option<String> {
        let d = &sc.dev;
        if !feat.has(Sw::ZeroCopy) && d.copy.zero_copy() {
            return Some(format!(
                "{:?}: zero copy (REGISTER/UNREGISTER_IO_BUF, AUTO_BUF_REG) is not in this kernel (6.15+)",
                d.copy
            ));
        }
        if !feat.has(Sw::RecoveryFailIo) && d.recovery == Recovery::FailIo {
            return Some("UBLK_F_USER_RECOVERY_FAIL_IO is not in this kernel (6.13+)".into());
        }
        let quiesces = sc.actors.iter().any(
            |a| matches!(a, ActorSpec::Control { prog } if prog.contains(&CtrlOp::QuiesceDev)),
        );
        if quiesces && !feat.has(Sw::QuiesceDev) && feat.has(Sw::ReleaseWork) {
            return Some(
                "QUIESCE_DEV without the quiesce-dev switch is modelled for 6.12 only".into(),
            );
        }
        if !feat.has(Sw::PerIoDaemon) {
            return per_queue_daemon_violation(sc);
        }
        None
    }
}

/// With one daemon per queue a server has one thread FETCHing every tag of
/// a queue; other threads may race it (B-5) but not serve tags it does not
/// FETCH (per-io daemons, 6.16).
fn per_queue_daemon_violation(sc: &Scenario) -> Option<String> {
    // each server thread (the faults' numbering) with its strands' programs
    let mut threads: Vec<(bool, &String, Vec<&Vec<Op>>)> = sc
        .actors
        .iter()
        .filter_map(|a| match a {
            ActorSpec::Server { name, prog, .. } => Some((false, name, vec![prog])),
            _ => None,
        })
        .collect();
    threads.extend(sc.actors.iter().filter_map(|a| match a {
        ActorSpec::RecoveryServer { name, prog, .. } => Some((true, name, vec![prog])),
        _ => None,
    }));
    for a in &sc.actors {
        if let ActorSpec::Strand { of, prog, .. } = a {
            if let Some(t) = threads.get_mut(*of as usize) {
                t.2.push(prog);
            }
        }
    }
    // each process on its own: the recovery's server has its own daemons
    let (recovery, first): (Vec<_>, Vec<_>) = threads.into_iter().partition(|t| t.0);
    for process in [first, recovery] {
        for q in 0..sc.dev.nr_queues {
            let sets: Vec<(&String, u32)> = process
                .iter()
                .map(|(_, name, progs)| {
                    let tags = progs
                        .iter()
                        .flat_map(|p| p.iter())
                        .fold(0u32, |m, op| match op {
                            Op::Fetch { q: oq, tag, .. } if *oq == q => m | 1 << tag,
                            _ => m,
                        });
                    (*name, tags)
                })
                .filter(|(_, t)| *t != 0)
                .collect();
            let all = sets.iter().fold(0, |m, (_, t)| m | t);
            if sets.len() > 1 && !sets.iter().any(|(_, t)| *t == all) {
                let names: Vec<&str> = sets.iter().map(|(n, _)| n.as_str()).collect();
                return Some(format!(
                    "per-io daemons ({} FETCH different tags of queue {q}): this kernel has one ubq_daemon per queue (per-io daemons: 6.16)",
                    names.join(", ")
                ));
            }
        }
    }
    None
}

/// Where the 6.12 stop machine is.
enum Stop {
    Blocked,
    Stepped(Func),
    Done,
}

impl Exec<'_> {
    /// `ublk_ch_release()`: the last reference on /dev/ublkcN.  6.12 only
    /// clears OPEN; since 6.15 the release work tears the device down.
    pub(crate) fn ublk_ch_release(&mut self) {
        if self.m.feat.has(Sw::ReleaseWork) {
            self.s.dev.release_pending = true;
        } else {
            self.s.dev.open = false;
        }
    }

    /// The entry checks of a pread/pwrite on /dev/ublkcN before the tag
    /// lookup.  With `zero-copy`: `ublk_user_copy` (DEAD, q_id, USER_COPY →
    /// -EACCES, tag); 6.12 `ublk_check_and_get_req`: DEAD, q_id, tag, then
    /// `__ublk_check_and_get_req` returns NULL without USER_COPY (-EINVAL).
    pub(crate) fn user_copy_checks(&self, q: u8, tag: u8) -> Option<i32> {
        let user_copy = self.m.dev.copy == CopyMode::UserCopy;
        if self.s.dev.state == DevState::Dead {
            return Some(EACCES);
        }
        if q >= self.m.dev.nr_queues {
            return Some(EINVAL);
        }
        let zc = self.m.feat.has(Sw::ZeroCopy);
        if zc && !user_copy {
            return Some(EACCES);
        }
        if tag >= self.m.dev.depth || !user_copy {
            return Some(EINVAL);
        }
        None
    }

    /// 6.12 `__ublk_ch_uring_cmd()` up to the handler: q_id, queue daemon,
    /// tag, ACTIVE (-EBUSY), NEED_GET_DATA xor, `ublk_check_cmd_op`, then
    /// the switch (REGISTER/UNREGISTER are unknown opcodes: -EINVAL).
    pub(crate) fn uring_cmd_612(&mut self, c: CmdId) -> R<Entry> {
        use Entry::Done;
        let d = &self.m.cmds[c as usize];
        let (q, tag, op) = (d.q, d.tag, d.op.clone());
        if q >= self.m.dev.nr_queues {
            return Ok(Done(EINVAL));
        }
        let daemon = self.s.queues[q as usize].daemon;
        if daemon.is_some() && daemon != self.current_task() {
            return Ok(Done(EINVAL));
        }
        if tag >= self.m.dev.depth {
            return Ok(Done(EINVAL));
        }
        let sl = self.slot_idx(q, tag);
        let io = &self.s.slots[sl];
        if io.has(flag::ACTIVE) {
            return Ok(Done(EBUSY));
        }
        if io.has(flag::NEED_GET_DATA) != matches!(op, Op::NeedGetData { .. }) {
            return Ok(Done(EINVAL));
        }
        if matches!(op, Op::BadType { .. }) {
            return Ok(Done(EOPNOTSUPP));
        }
        let owned = io.has(flag::OWNED_BY_SRV);
        match op {
            Op::Fetch { .. } => {
                if self.s.queues[q as usize].nr_io_ready == self.m.dev.depth {
                    return Ok(Done(EBUSY)); // only before the queue is set up
                }
                if owned {
                    return Ok(Done(EINVAL));
                }
                match self.ublk_check_fetch_buf(c) {
                    Some(e) => Ok(Done(e)),
                    None => Ok(Entry::Fetch),
                }
            }
            Op::Commit { .. } if owned => self.ublk_commit_and_fetch(c, sl).map(Done),
            Op::NeedGetData { .. } if owned => self.need_get_data_612(c, sl).map(Done),
            _ => Ok(Done(EINVAL)),
        }
    }

    /// 6.12 FETCH after its checks: `ublk_prep_cancel`, `ublk_fill_io_cmd`
    /// (outside any lock: B-5), `ublk_mark_io_ready` (under `ub->mutex`).
    pub(crate) fn fetch_612(&mut self, c: CmdId) -> R<i32> {
        let (q, tag) = (self.m.cmds[c as usize].q, self.m.cmds[c as usize].tag);
        let sl = self.slot_idx(q, tag);
        self.s.cmds[c as usize].cancelable = true;
        let cur = self.current_task();
        let io = &mut self.s.slots[sl];
        io.cell = Cell::Cmd(c);
        io.flags |= flag::ACTIVE;
        io.task = cur;
        let depth = self.m.dev.depth;
        let qs = &mut self.s.queues[q as usize];
        qs.nr_io_ready += 1;
        if qs.nr_io_ready == depth {
            qs.daemon = cur; // ubq->ubq_daemon = current
        }
        self.s.dev.nr_io_ready += 1;
        Ok(EIOCBQUEUED)
    }

    /// 6.12 NEED_GET_DATA: re-arm the slot (ACTIVE; OWNED and NEED_GET_DATA
    /// stay set until the task work) and `ublk_handle_need_get_data` →
    /// `ublk_queue_cmd` of the tag's request: the copy and the completion
    /// of the new cmd happen in task work.
    fn need_get_data_612(&mut self, c: CmdId, sl: usize) -> R<i32> {
        self.s.cmds[c as usize].cancelable = true;
        let io = &mut self.s.slots[sl];
        io.cell = Cell::Cmd(c);
        io.flags |= flag::ACTIVE;
        let Some(r) = self.s.tags_rqs[sl] else {
            return self.fail(
                Inv::S5,
                format!("ublk_handle_need_get_data: no request on slot {sl}"),
            );
        };
        self.queue_cmd_tw(r)?;
        Ok(EIOCBQUEUED)
    }

    /// 6.12 `ublk_abort_queue()`: every slot that is not ACTIVE and whose
    /// tag maps to a started request: ABORTED (ghost `g_aborted`) and
    /// `__ublk_fail_req` (kref put with the fail fn).
    fn abort_queue_612(&mut self, q: u8) -> R<()> {
        for tag in 0..self.m.dev.depth {
            let sl = self.slot_idx(q, tag);
            if self.s.slots[sl].has(flag::ACTIVE) {
                continue;
            }
            let Some(r) = self.s.tags_rqs[sl] else {
                continue;
            };
            if self.rq(r, "ublk_abort_queue")?.started {
                self.ublk_fail_req(sl, r)?;
            }
        }
        Ok(())
    }

    /// `ublk_mark_queue_canceling` + `ublk_abort_queue` once the queue is
    /// quiesced; true if this caller set canceling.
    fn mark_canceling_and_abort(&mut self, q: u8) -> R<bool> {
        if self.s.queues[q as usize].canceling {
            return Ok(false);
        }
        self.s.queues[q as usize].canceling = true;
        self.abort_queue_612(q)?;
        Ok(true)
    }

    /// `schedule_work(stop_work)` without recovery, else `quiesce_work`.
    fn schedule_nosrv_work(&mut self) {
        if self.m.dev.recovery == Recovery::None {
            self.s.dev.stop_work = true;
        } else {
            self.s.dev.quiesce_work = true;
        }
    }

    /// 6.12 `ublk_uring_cmd_cancel_fn` for the ring-exit actor: from idle it
    /// picks the next cancelable cmd, checks its task against `ubq_daemon`
    /// (a mismatch — e.g. no daemon yet — only WARNs: the cmd stays, the
    /// ring exit retries) and starts `ublk_abort_requests` (quiesce); then
    /// marks canceling and aborts; then `ublk_cancel_cmd`, after which the
    /// stop / quiesce work is scheduled if this call set canceling.
    pub(crate) fn cancel_fn_612(&mut self, ring: RingId) -> Step {
        let at = self.me().at;
        let c = if at == Resume::Idle {
            let cursor = self.me().cancel_cursor;
            let Some(c) = self.next_cancelable(ring, cursor) else {
                return Ok(None);
            };
            c
        } else {
            self.me().cancel_cursor
        };
        let d = &self.m.cmds[c as usize];
        let (q, t) = (d.q, d.task);
        let sl = self.slot_idx(q, d.tag);
        let cancel_cmd = |need_schedule| Resume::CancelCmd612 {
            at: CancelAt::CheckActive,
            need_schedule,
        };
        match at {
            Resume::Idle => {
                self.me().cancel_cursor = c;
                if self.s.queues[q as usize].daemon != Some(t) {
                    return Ok(Some((Func::UblkUringCmdCancelFnNotDaemon612, None)));
                }
                let go = !self.s.queues[q as usize].canceling && self.s.dev.has_disk;
                if go {
                    self.s.dev.quiesced += 1;
                }
                self.me().at = if go {
                    Resume::AbortRequests612
                } else {
                    cancel_cmd(false)
                };
                Ok(Some((Func::UblkUringCmdCancelFnAbortRequests612, None)))
            }
            Resume::AbortRequests612 => {
                if self.s.dev.in_dispatch > 0 {
                    return Ok(None);
                }
                let set = self.mark_canceling_and_abort(q)?;
                self.s.dev.quiesced -= 1;
                self.me().at = cancel_cmd(set);
                Ok(Some((Func::UblkAbortRequests612, None)))
            }
            Resume::CancelCmd612 { at, need_schedule } => {
                let Some((f, next)) = self.cancel_cmd_step(sl, at)? else {
                    return Ok(None);
                };
                self.me().at = match next {
                    Some(at) => Resume::CancelCmd612 { at, need_schedule },
                    None => {
                        if need_schedule {
                            self.schedule_nosrv_work();
                        }
                        Resume::Idle
                    }
                };
                Ok(Some((f, None)))
            }
            _ => unreachable!("no resume point {at:?} for the 6.12 cancel fn"),
        }
    }

    /// 6.12 `ublk_timeout()` of a privileged device: while the queue's
    /// daemon is exiting and no slot of the queue is ACTIVE (no cmd left for
    /// io_uring to cancel), `ublk_abort_requests` and schedule stop /
    /// quiesce work.  Otherwise the timer is re-armed (no state change).
    pub(crate) fn ublk_timeout(&mut self, q: u8) -> Step {
        let daemon_dying = self.s.queues[q as usize]
            .daemon
            .is_some_and(|t| self.s.tasks[t as usize].exiting);
        let base = self.slot_idx(q, 0);
        let depth = self.m.dev.depth as usize;
        let all_inflight = self.s.slots[base..base + depth]
            .iter()
            .all(|io| !io.has(flag::ACTIVE));
        let expired = self
            .s
            .reqs
            .iter()
            .any(|r| r.alive && r.allocated && r.started && r.q == q);
        let q_ok = !self.s.queues[q as usize].canceling && self.s.dev.has_disk;
        if !(daemon_dying && all_inflight && expired && q_ok) || self.s.dev.in_dispatch > 0 {
            return Ok(None);
        }
        self.mark_canceling_and_abort(q)?;
        self.schedule_nosrv_work();
        Ok(Some((Func::UblkTimeout612, None)))
    }

    /// One step of 6.12 `ublk_stop_dev()` (then `ublk_cancel_dev`), for
    /// STOP_DEV, DEL_DEV and `ublk_stop_work_fn`.  `quiesce_only`:
    /// `ublk_quiesce_work_fn` instead (LIVE → quiesce, wait idle, QUIESCED;
    /// the queue stays quiesced until END_USER_RECOVERY).
    fn stop_dev_612(&mut self, quiesce_only: bool) -> R<Stop> {
        let at = self.me().at;
        let queue_io = self.m.dev.recovery.queues_io();
        let idle = |s: &State| s.dev.in_dispatch == 0 && !s.reqs.iter().any(|r| r.started);
        let cancel_dev = Resume::StopDev(StopDevAt::CancelDev {
            slot: 0,
            at: CancelAt::CheckActive,
        });
        match at {
            Resume::Idle => {
                if self.s.dev.mutex.is_some() {
                    return Ok(Stop::Blocked);
                }
                self.s.dev.mutex = Some(self.actor);
                let live = self.s.dev.state == DevState::Live;
                let next = if quiesce_only {
                    if live {
                        self.s.dev.quiesced += 1;
                        Resume::StopDev(StopDevAt::QuiesceDev612)
                    } else {
                        self.s.dev.mutex = None;
                        cancel_dev
                    }
                } else if self.s.dev.state == DevState::Dead {
                    self.s.dev.mutex = None;
                    if !self.s.dev.has_disk && !self.s.dev.disk_removed {
                        self.s.dev.g_stopped_unstarted = true;
                    }
                    cancel_dev
                } else if queue_io && live {
                    self.s.dev.quiesced += 1; // __ublk_quiesce_dev
                    Resume::StopDev(StopDevAt::QuiesceDev612)
                } else {
                    if queue_io {
                        self.unquiesce_dev_612();
                    }
                    self.s.dev.disk_dying = true;
                    Resume::StopDev(StopDevAt::DelGendisk)
                };
                self.me().at = next;
                Ok(Stop::Stepped(if quiesce_only {
                    Func::UblkQuiesceWorkFnMutex612
                } else {
                    Func::UblkStopDevMutex
                }))
            }
            Resume::StopDev(StopDevAt::QuiesceDev612) => {
                if !idle(self.s) {
                    return Ok(Stop::Blocked);
                }
                self.s.dev.state = DevState::Quiesced;
                if quiesce_only {
                    self.s.dev.mutex = None;
                    self.me().at = cancel_dev;
                    return Ok(Stop::Stepped(Func::UblkQuiesceDevIdle612));
                }
                self.unquiesce_dev_612();
                self.s.dev.disk_dying = true;
                self.me().at = Resume::StopDev(StopDevAt::DelGendisk);
                Ok(Stop::Stepped(Func::UblkQuiesceDevUnquiesce612))
            }
            Resume::StopDev(StopDevAt::DelGendisk) => {
                if self.del_gendisk_done() == crate::teardown::Next::Blocked {
                    return Ok(Stop::Blocked);
                }
                self.s.dev.mutex = None;
                self.me().at = cancel_dev;
                Ok(Stop::Stepped(Func::UblkDetachDisk))
            }
            Resume::StopDev(StopDevAt::CancelDev { slot, at }) => {
                if slot as usize >= self.s.slots.len() {
                    return Ok(Stop::Done);
                }
                Ok(match self.cancel_dev_step(slot, at)? {
                    Some((f, _)) => Stop::Stepped(f),
                    None => Stop::Blocked,
                })
            }
            _ => unreachable!("no resume point {at:?} in ublk_stop_dev"),
        }
    }

    /// `ublk_unquiesce_dev()`: `force_abort` on every queue, unquiesce,
    /// kick the requeue list.
    fn unquiesce_dev_612(&mut self) {
        for q in &mut self.s.queues {
            q.force_abort = true;
        }
        self.s.dev.quiesced = self.s.dev.quiesced.saturating_sub(1);
        self.kick_requeue_list();
    }

    /// The kworker running `ublk_stop_work_fn` / `ublk_quiesce_work_fn`;
    /// `nosrv_work` of its state is 1 (stop) or 2 (quiesce) while one runs.
    pub(crate) fn step_nosrv_work(&mut self) -> Step {
        let running = self.me().nosrv_work;
        let which = match running {
            0 if self.s.dev.stop_work => 1,
            0 if self.s.dev.quiesce_work => 2,
            0 => return Ok(None),
            w => w,
        };
        match self.stop_dev_612(which == 2)? {
            Stop::Blocked => Ok(None),
            Stop::Stepped(f) => {
                if running == 0 {
                    match which {
                        1 => self.s.dev.stop_work = false,
                        _ => self.s.dev.quiesce_work = false,
                    }
                    self.me().nosrv_work = which;
                }
                Ok(Some((f, None)))
            }
            Stop::Done => {
                let st = self.me();
                st.nosrv_work = 0;
                st.at = Resume::Idle;
                Ok(Some((Func::UblkCancelDevDoneWork612, None)))
            }
        }
    }

    /// Is the stop/quiesce kworker in the middle of a work item?
    fn nosrv_work_running(&self) -> bool {
        self.m
            .actors
            .iter()
            .zip(&self.s.actors)
            .any(|(d, st)| d.kind == Kind::NosrvWork && st.nosrv_work != 0)
    }

    /// 6.12 control commands other than START_DEV: STOP_DEV and DEL_DEV
    /// (`ublk_stop_dev`, `cancel_work_sync` of both works; DEL_DEV then
    /// waits until the last reference of the char device is gone) and the
    /// recovery commands.
    pub(crate) fn control_612(&mut self, op: CtrlOp) -> Step {
        let finish = |x: &mut Self, f: Func, res: i32| {
            let me = x.me();
            (me.next_op, me.at, me.res) = (me.next_op + 1, Resume::Idle, res);
            Ok(Some((f, Some(res))))
        };
        let sync_work = Resume::StopDev(StopDevAt::CancelWorkSync612);
        match op {
            CtrlOp::StartUserRecovery => match self.start_recovery_612(true)? {
                None => Ok(None),
                Some(res) => finish(self, Func::UblkCtrlStartRecovery612, res),
            },
            CtrlOp::StartUserRecoveryOnce => match self.start_recovery_612(false)? {
                None => Ok(None),
                Some(res) => finish(self, Func::UblkCtrlStartRecovery612, res),
            },
            CtrlOp::EndUserRecovery => match self.end_recovery_612() {
                None => Ok(None),
                Some(res) => finish(self, Func::UblkCtrlEndRecovery612, res),
            },
            // not in 6.12: ublk_ctrl_uring_cmd's default case
            CtrlOp::QuiesceDev | CtrlOp::UpdateSize => {
                finish(self, Func::UblkCtrlUringCmdUnknown612, EOPNOTSUPP)
            }
            _ if self.me().at == sync_work => {
                if self.nosrv_work_running() {
                    return Ok(None);
                }
                if op == CtrlOp::DelDev && self.s.dev.file_refs > 0 {
                    return Ok(None); // the device id is freed with its last reference
                }
                self.s.dev.stop_work = false;
                self.s.dev.quiesce_work = false;
                match op {
                    CtrlOp::DelDev => finish(self, Func::UblkCtrlDelDev612, 0),
                    _ => finish(self, Func::UblkCtrlStopDev612, 0),
                }
            }
            _ => match self.stop_dev_612(false)? {
                Stop::Blocked => Ok(None),
                Stop::Stepped(f) => Ok(Some((f, None))),
                Stop::Done => {
                    self.me().at = sync_work;
                    Ok(Some((Func::UblkCancelDevDone612, None)))
                }
            },
        }
    }

    /// 6.12 `ublk_ctrl_start_recovery()` under `ub->mutex`: no
    /// USER_RECOVERY → -EINVAL; no ready queue (`!ub->nr_queues_ready`) →
    /// -EINVAL; the char device still open or the device not QUIESCED →
    /// -EBUSY (with `poll` the control program waits, polling, until that
    /// passes); then `ublk_queue_reinit` of every queue (put and clear
    /// `ubq_daemon`, canceling off, slot flags 0) and readiness reset.
    ///
    /// Without `fix-b24c` (before e58f5142f883 "ublk_drv: fix NULL pointer
    /// dereference in ublk_ctrl_start_recovery()", 6.11-rc7) there is no
    /// `nr_queues_ready` test: a second START_USER_RECOVERY after the first
    /// reset (no new daemon set up yet) runs `ublk_queue_reinit` on a queue
    /// whose `ubq_daemon` is NULL — WARN, then `put_task_struct(NULL)`.
    fn start_recovery_612(&mut self, poll: bool) -> R<Option<i32>> {
        if self.m.dev.recovery == Recovery::None {
            return Ok(Some(EINVAL));
        }
        let busy = self.s.dev.open || self.s.dev.state != DevState::Quiesced;
        if self.s.dev.mutex.is_some() || (poll && busy) {
            return Ok(None);
        }
        let depth = self.m.dev.depth;
        let nr_queues_ready = self
            .s
            .queues
            .iter()
            .filter(|q| q.nr_io_ready == depth)
            .count();
        if self.m.feat.has(Sw::FixB24c) && nr_queues_ready == 0 {
            return Ok(Some(EINVAL));
        }
        if busy {
            return Ok(Some(EBUSY));
        }
        if let Some(q) = self.s.queues.iter().position(|q| q.daemon.is_none()) {
            // which test let it through: none (before e58f5142f883, B-24c) or a queue another
            // new server readied (O-11) — two findings, two signatures
            let why = if nr_queues_ready > 0 {
                "while another queue is ready"
            } else {
                "with no queue ready"
            };
            return self.fail(
                Inv::S9,
                format!("ublk_queue_reinit: queue {q} has no ubq_daemon (put_task_struct(NULL)): START_USER_RECOVERY resets a queue no daemon set up, {why}"),
            );
        }
        for q in &mut self.s.queues {
            (q.nr_io_ready, q.daemon, q.canceling) = (0, None, false);
        }
        for io in &mut self.s.slots {
            (io.flags, io.cell, io.task, io.g_aborted) = (0, Cell::None, None, false);
        }
        self.s.dev.nr_io_ready = 0;
        self.s.dev.recovering = true;
        Ok(Some(0))
    }

    /// 6.12 `ublk_ctrl_end_recovery()`: wait for every queue to be ready,
    /// then under `ub->mutex`: no recovery (`ublk_nosrv_should_stop_dev`) → -EINVAL, not
    /// QUIESCED → -EBUSY; unquiesce the queue `ublk_quiesce_work_fn` left quiesced, kick the
    /// requeue list, LIVE.
    fn end_recovery_612(&mut self) -> Option<i32> {
        if self.s.dev.nr_io_ready != self.m.nr_slots() || self.s.dev.mutex.is_some() {
            return None;
        }
        if self.m.dev.recovery == Recovery::None {
            return Some(EINVAL);
        }
        if self.s.dev.state != DevState::Quiesced {
            return Some(EBUSY);
        }
        self.s.dev.quiesced = self.s.dev.quiesced.saturating_sub(1);
        self.kick_requeue_list();
        self.s.dev.state = DevState::Live;
        self.s.dev.recovering = false;
        Some(0)
    }
}
