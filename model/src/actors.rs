//! Actors: which contexts exist (spec §9.2) and how each one advances.
//!
//! Every actor is a deterministic sequential process; the only choice in
//! the model is *which* actor takes the next step, so an engine that runs
//! each actor as a thread (loom, shuttle) and one that enumerates
//! interleavings (the explorer) drive exactly the same [`Model::step`].
//! A step that cannot proceed returns [`Outcome::Blocked`] without touching
//! the state.

use crate::config::*;
use crate::defs::Model;
use crate::defs::*;
use crate::exec::*;
use crate::invariants::{Inv, Violation};
use crate::io_cmd::Entry;
use crate::state::*;

/// 6.12 `UBLK_MAX_PIN_PAGES`: user pages pinned per round of a user copy.
const PIN_PAGES: u32 = 32;

/// The parameters of a user copy (`Op::UserCopy`).
#[derive(Clone, Copy, Debug)]
struct UcIo {
    off: u32,
    len: Option<u32>,
    dir: Option<CopyDir>,
}

fn op_entry_func(op: &Op) -> Func {
    match op {
        Op::Fetch { .. } => Func::UblkChUringCmdFetchReq,
        Op::Commit { .. } => Func::UblkChUringCmdCommitAndFetchReq,
        Op::NeedGetData { .. } => Func::UblkChUringCmdNeedGetData,
        Op::Register { .. } => Func::UblkChUringCmdRegisterIoBuf,
        Op::Unregister { .. } => Func::UblkChUringCmdUnregisterIoBuf,
        Op::BadType { .. } => Func::UblkChUringCmdBadType,
        Op::FixedIo { .. } => Func::IoUringReadFixed,
        Op::UserCopy { .. } => Func::UblkChReadIter,
        Op::WaitCqe { .. } => Func::IoUringEnterWaitCqe,
        Op::Exit => Func::ExitGroup,
        Op::Loop { .. } | Op::Goto { .. } => Func::Loop,
        Op::ThreadExit => Func::DoExit,
        Op::CloseRing => Func::CloseRing,
    }
}

impl Model {
    /// Is actor `a`'s program over — a server thread past its last op or its task exited,
    /// a submitter past its last bio, a control program past its last command? Then its
    /// next step only marks it done and reports itself blocked: `step_server`,
    /// `step_submitter` and `step_control` begin with this very test.
    ///
    /// Why apart from [`Model::may_step`]: an engine that steps one shared state (loom,
    /// shuttle, the simulator) needs that step for the mark, which ends the actor's
    /// thread; the explorer discards a blocked step's copy, so [`Model::moves`] leaves it
    /// out (on the bench scenario it was 1.0 M of the 2.9 M moves tried, each a state
    /// clone and a step).
    pub fn program_over(&self, s: &State, a: ActorId) -> bool {
        let pc = s.actors[a as usize].next_op as usize;
        match &self.actors[a as usize].kind {
            Kind::Server { task, prog, .. } => s.tasks[*task as usize].exiting || pc >= prog.len(),
            Kind::Submitter { bios, .. } => pc >= bios.len(),
            Kind::Control { prog } => pc >= prog.len(),
            _ => false,
        }
    }

    /// Cheap filter: can actor `a` possibly step?  (Exact answer: [`Model::step`].)
    pub fn may_step(&self, s: &State, a: ActorId) -> bool {
        let st = &s.actors[a as usize];
        if st.done {
            return false;
        }
        match &self.actors[a as usize].kind {
            Kind::TaskWork { task } => self.task_work_may_run(s, *task),
            Kind::RingExit { ring } => {
                s.rings[*ring as usize].exiting && !s.rings[*ring as usize].freed
            }
            Kind::FixedIo { ring } => !s.rings[*ring as usize].fixed_ops.is_empty(),
            Kind::RequeueWork => !s.dev.requeue_run.is_empty() || st.rq.is_some(),
            Kind::ReleaseWork => s.dev.release_pending,
            Kind::Server { process: 1, .. } if !s.dev.new_server_open => false,
            Kind::Opener => (s.dev.recovering || s.dev.recovery_tried) && !s.dev.open,
            // another strand of the thread is inside a syscall
            Kind::Server { task, .. } if self.thread_busy(s, *task, a) => false,
            Kind::Server { prog, .. } => match prog.get(st.next_op as usize) {
                // waiting for a CQE that has not been posted
                Some((Op::WaitCqe { .. }, Some(c))) => {
                    matches!(s.cmds[*c as usize].st, CmdSt::Done(_))
                }
                _ => true,
            },
            _ => true,
        }
    }

    /// Is a strand of server thread `task` other than actor `but` inside a syscall?
    pub(crate) fn thread_busy(&self, s: &State, task: TaskId, but: ActorId) -> bool {
        self.strands[task as usize]
            .iter()
            .any(|&a| a != but && s.actors[a as usize].in_kernel())
    }

    /// Whether task `t`'s next task work may run.  It runs in the task between
    /// its syscalls (`task_work_run`), never inside one of its uring_cmd
    /// handlers, unless the task is exiting (then io_uring's fallback kworker
    /// runs it); and io_uring runs it under the ring's `uring_lock`, which an
    /// exiting ring's cancel (`io_uring_try_cancel_uring_cmd`) holds while it
    /// calls `->uring_cmd(IO_URING_F_CANCEL)`.
    fn task_work_may_run(&self, s: &State, t: TaskId) -> bool {
        let task = &s.tasks[t as usize];
        let Some(Tw::Dispatch(c)) = task.tw.first() else {
            return false;
        };
        if !task.exiting && self.thread_busy(s, t, ActorId::MAX) {
            return false; // the server thread is inside a handler
        }
        let exit = &s.actors[self.ring_exit[self.cmds[*c as usize].ring as usize] as usize];
        !matches!(
            exit.at,
            Resume::CancelFn(_) | Resume::CancelCmd612 { .. } | Resume::AbortRequests612
        )
    }

    /// Advance actor `a` by one atomic step.
    ///
    /// Takes an actor (its first alternative) or a [`Move`]; a move's choice
    /// must be below [`Model::choices`] (an out-of-range choice is blocked).
    pub fn step(&self, s: &mut State, mv: impl Into<Move>) -> Result<Outcome, Violation> {
        let mv = mv.into();
        if !self.may_step(s, mv.actor) || mv.choice >= self.choices(s, mv.actor) {
            return Ok(Outcome::Blocked);
        }
        self.step_enabled(s, mv)
    }

    /// [`Model::step`] for a move that [`Model::moves`] listed for this very state: the
    /// actor may step and the choice is in range, so neither is asked again (the
    /// explorer's inner loop; asking twice cost about a tenth of its time).
    pub fn step_enabled(&self, s: &mut State, mv: Move) -> Result<Outcome, Violation> {
        let a = mv.actor;
        debug_assert!(self.may_step(s, a) && mv.choice < self.choices(s, a));
        let cur = match self.actors[a as usize].kind {
            Kind::Server { task, .. } => Ctx::Task(task),
            Kind::TaskWork { task } if !s.tasks[task as usize].exiting => Ctx::Task(task),
            Kind::FixedIo { ring } => {
                let t = self.rings[ring as usize];
                if s.tasks[t as usize].exiting {
                    Ctx::Kernel
                } else {
                    Ctx::Task(t)
                }
            }
            _ => Ctx::Kernel,
        };
        let mut x = Exec {
            m: self,
            s,
            actor: a,
            cur,
            choice: mv.choice,
        };
        let r = match &self.actors[a as usize].kind {
            Kind::Server {
                task, ring, prog, ..
            } => x.step_server(*task, *ring, prog),
            Kind::Submitter { q, bios } => x.step_submitter(*q, bios),
            Kind::Control { prog } => x.step_control(prog),
            Kind::Killer => x.step_killer(),
            Kind::Elevator => x.step_elevator(),
            Kind::TaskWork { task } => x.step_task_work(*task),
            Kind::RingExit { ring } => x.step_ring_exit(*ring),
            Kind::FixedIo { ring } => x.step_fixed_io(*ring),
            Kind::RequeueWork => x.step_requeue_work(),
            Kind::ReleaseWork => x.step_release_work(),
            Kind::Timeout { q } => x.ublk_timeout(*q),
            Kind::NosrvWork => x.step_nosrv_work(),
            Kind::PartScan { q } => x.step_part_scan(*q),
            k => x.step_fault_or_open(k),
        }?;
        match (&r, &self.actors[a as usize].kind) {
            (Some(_), Kind::Server { prog, .. }) => {
                // a loop takes no step of its own: never rest on one
                resolve_loops(prog, &mut s.actors[a as usize]);
            }
            (Some(_), Kind::Submitter { bios, .. }) => {
                let st = &mut s.actors[a as usize];
                if st.at == Resume::Idle && bios.get(st.next_op as usize) == Some(&Bio::Again) {
                    st.next_op = 0; // an endless workload: start over
                }
            }
            _ => {}
        }
        Ok(match r {
            None => Outcome::Blocked,
            Some((func, result)) => Outcome::Stepped(StepInfo {
                actor: a,
                choice: mv.choice,
                func,
                result,
            }),
        })
    }
}

impl Exec<'_> {
    fn advance(&mut self) {
        let me = self.me();
        me.next_op += 1;
        me.at = Resume::Idle;
    }

    /// The cmd's handler returned: io_uring completes it unless it is kept.
    /// S6 at the access: a cmd io_uring completes here must not be left in
    /// a slot as its ACTIVE `io->cmd` (the driver would hand a request to it
    /// or cancel it later).
    fn finish_cmd(&mut self, f: Func, c: CmdId, res: i32) -> R<Option<i32>> {
        self.advance();
        if res == EIOCBQUEUED {
            return Ok(None);
        }
        let kept = self
            .s
            .slots
            .iter()
            .position(|io| io.has(flag::ACTIVE) && io.cell == Cell::Cmd(c));
        if let Some(sl) = kept {
            return self.fail(
                Inv::S6,
                format!("{f}: the handler returns {res}, so io_uring completes cmd c{c}, but slot {sl} keeps it as its ACTIVE io->cmd"),
            );
        }
        let cmd = &mut self.s.cmds[c as usize];
        if cmd.st == CmdSt::Pending {
            cmd.st = CmdSt::Done(res);
        }
        self.me().res = res;
        Ok(Some(res))
    }

    fn step_server(&mut self, task: TaskId, ring: RingId, prog: &[(Op, Option<CmdId>)]) -> Step {
        let (pc, at) = (self.me().next_op as usize, self.me().at);
        if self.m.program_over(self.s, self.actor) {
            self.me().done = true;
            return Ok(None);
        }
        let (op, cmd) = &prog[pc];
        let entry = op_entry_func(op);
        match (op, at) {
            (Op::WaitCqe { .. }, _) => {
                let c = cmd.expect("WaitCqe follows a command");
                match self.s.cmds[c as usize].st {
                    CmdSt::Done(res) => {
                        self.me().res = res;
                        self.advance();
                        Ok(Some((entry, Some(res))))
                    }
                    _ => Ok(None),
                }
            }
            (Op::ThreadExit, _) => {
                self.task_exit(task);
                Ok(Some((entry, None)))
            }
            (Op::CloseRing, _) => {
                self.advance();
                self.s.rings[ring as usize].exiting = true;
                Ok(Some((entry, None)))
            }
            (Op::Exit, _) => match self.exit_group(self.m.procs[task as usize]) {
                true => Ok(Some((entry, None))),
                false => Ok(None),
            },
            (Op::FixedIo { idx }, _) => {
                self.advance();
                let Some(n) = self.s.rings[ring as usize]
                    .table
                    .get(*idx as usize)
                    .copied()
                    .flatten()
                else {
                    return Ok(Some((entry, Some(EFAULT))));
                };
                self.s.nodes[n as usize].as_mut().unwrap().refs += 1;
                self.s.rings[ring as usize].fixed_ops.push(n);
                Ok(Some((entry, Some(0))))
            }
            (
                Op::UserCopy {
                    q,
                    tag,
                    off,
                    len,
                    dir,
                },
                _,
            ) => {
                let io = UcIo {
                    off: *off,
                    len: *len,
                    dir: *dir,
                };
                self.step_user_copy(*q, *tag, io, at)
            }
            (Op::Loop { .. } | Op::Goto { .. }, _) => {
                // a loop that never reaches an operation: the program is over
                self.me().done = true;
                Ok(None)
            }
            (_, Resume::Idle) if self.s.rings[ring as usize].exiting => {
                // io_uring_enter on a closed ring fd
                self.advance();
                self.me().res = EBADF;
                Ok(Some((Func::IoUringEnterRingClosed, Some(EBADF))))
            }
            (_, Resume::Idle) => {
                let c = cmd.expect("io op has a cmd");
                // a new uring_cmd (a loop re-issues the same one once done)
                self.s.cmds[c as usize] = Cmd {
                    st: CmdSt::Pending,
                    cancelable: false,
                    pdu_rq: None,
                    g_claimed: false,
                };
                match self.ublk_ch_uring_cmd_local(c)? {
                    Entry::Done(res) => Ok(Some((entry, self.finish_cmd(entry, c, res)?))),
                    Entry::Fetch => {
                        self.me().at = Resume::Fetch;
                        Ok(Some((entry, None)))
                    }
                    Entry::LookupReg => {
                        self.me().at = Resume::CheckAndGetReq(GetReqAt::RefInc);
                        Ok(Some((entry, None)))
                    }
                }
            }
            (Op::Fetch { .. }, Resume::Fetch) => {
                if self.fetch_blocked() {
                    return Ok(None);
                }
                let c = cmd.unwrap();
                let res = self.ublk_fetch(c)?;
                Ok(Some((
                    Func::UblkFetch,
                    self.finish_cmd(Func::UblkFetch, c, res)?,
                )))
            }
            (Op::Register { q, tag, .. }, Resume::CheckAndGetReq(get)) => {
                let c = cmd.unwrap();
                let r = self.me().rq.expect("looked-up request");
                let (q, tag) = (*q, *tag);
                match get {
                    GetReqAt::RefInc => {
                        let f = Func::UblkCheckAndGetReqRef;
                        if self.check_and_get_ref(q, tag, r)? {
                            self.me().at = Resume::CheckAndGetReq(GetReqAt::StartedCheck);
                            return Ok(Some((f, None)));
                        }
                        Ok(Some((f, self.finish_cmd(f, c, EINVAL)?)))
                    }
                    GetReqAt::StartedCheck => {
                        let f = Func::UblkCheckAndGetReqStarted;
                        if self.check_req_started(q, tag, r)? {
                            self.me().at = Resume::CheckAndGetReq(GetReqAt::Finish);
                            return Ok(Some((f, None)));
                        }
                        Ok(Some((f, self.finish_cmd(f, c, EINVAL)?)))
                    }
                    GetReqAt::Finish => {
                        let res = self.register_with_ref(c, r)?;
                        self.me().rq = None;
                        Ok(Some((
                            Func::UblkRegisterIoBuf,
                            self.finish_cmd(Func::UblkRegisterIoBuf, c, res)?,
                        )))
                    }
                }
            }
            _ => unreachable!("no resume point {at:?} for {op:?}"),
        }
    }

    /// pread/pwrite on /dev/ublkcN (`ublk_user_copy`), split like REGISTER.
    fn step_user_copy(&mut self, q: u8, tag: u8, io: UcIo, at: Resume) -> Step {
        let done = |x: &mut Self, f: Func, res: i32| {
            x.advance();
            x.me().rq = None;
            x.me().res = res;
            Ok(Some((f, Some(res))))
        };
        match at {
            Resume::Idle => {
                let f = Func::UblkChReadIter;
                if let Some(e) = self.user_copy_checks(q, tag) {
                    return done(self, f, e);
                }
                let sl = self.slot_idx(q, tag);
                let slot = &self.s.slots[sl];
                if self.m.feat.has(crate::features::Sw::UserCopyDaemonFast)
                    && slot.task == self.current_task()
                {
                    // on the daemon: no reference; `io->req` is the request
                    // the slot owns
                    let res = match (slot.has(flag::OWNED_BY_SRV), self.s.tags_rqs[sl]) {
                        (true, Some(r)) => self.user_copy_bytes(r, io),
                        _ => EINVAL,
                    };
                    return done(self, Func::UblkUserCopyOnDaemon, res);
                }
                match self.s.tags_rqs[sl] {
                    None => done(self, f, EINVAL),
                    Some(r) => {
                        let me = self.me();
                        me.rq = Some(r);
                        me.at = Resume::CheckAndGetReq(GetReqAt::RefInc);
                        Ok(Some((f, None)))
                    }
                }
            }
            Resume::CheckAndGetReq(GetReqAt::RefInc) => {
                let f = Func::UblkCheckAndGetReqRef;
                let r = self.me().rq.unwrap();
                if self.check_and_get_ref(q, tag, r)? {
                    self.me().at = Resume::CheckAndGetReq(GetReqAt::StartedCheck);
                    return Ok(Some((f, None)));
                }
                done(self, f, EINVAL)
            }
            Resume::CheckAndGetReq(GetReqAt::StartedCheck) => {
                let f = Func::UblkCheckAndGetReqStartedCopy;
                let r = self.me().rq.unwrap();
                if self.check_req_started(q, tag, r)? {
                    self.me().at = Resume::CheckAndGetReq(GetReqAt::Finish);
                    return Ok(Some((f, None)));
                }
                done(self, f, EINVAL)
            }
            Resume::CheckAndGetReq(GetReqAt::Finish) => {
                // the offset and direction checks and the copy, under the
                // reference; every outcome puts it
                let r = self.me().rq.unwrap();
                let res = self.user_copy_bytes(r, io);
                self.put_req_ref(q, tag, r)?;
                done(self, Func::UblkUserCopyPutReqRef, res)
            }
            _ => unreachable!("no resume point {at:?} for a user copy"),
        }
    }

    /// After the lookup, in both kernels' order: an offset past the
    /// request's bytes is -EINVAL (7.2 `ublk_user_copy`; 6.12 inside
    /// `__ublk_check_and_get_req`), a direction that does not match the
    /// request -EACCES (`ublk_check_ubuf_dir`), else `ublk_copy_user_pages`
    /// copies what is left of the request from `off`, at most `len` bytes:
    /// 7.2 returns that count; 6.12 returns `len` (the pinned user pages,
    /// at most 32) unless `off` is at the end (0).
    fn user_copy_bytes(&self, r: RqId, io: UcIo) -> i32 {
        let rq = &self.s.reqs[r as usize];
        let bytes = rq.bytes as u32;
        if io.off > bytes {
            return EINVAL;
        }
        let right = if rq.write {
            CopyDir::Pread
        } else {
            CopyDir::Pwrite
        };
        if io.dir.is_some_and(|d| d != right) {
            return EACCES;
        }
        let len = io.len.unwrap_or(bytes);
        if self.m.feat.has(crate::features::Sw::UserCopyBvec) {
            len.min(bytes - io.off) as i32
        } else if io.off == bytes {
            0
        } else {
            len.min(PIN_PAGES * 4096) as i32
        }
    }

    /// A server thread dies or exits: task work turns to fallback, its ring
    /// starts exiting; the process's /dev/ublkcN fd closes with the last one.
    /// A server thread exits.  Its ring survives while the process holds
    /// the ring's fd: io_uring's task-exit cancel (`io_uring_files_cancel`)
    /// only reaches requests on tracked (io_uring) files, never a uring_cmd
    /// on /dev/ublkcN — measured on 7.2.  The process's last thread closes
    /// its fd table: every ring of the process exits and its /dev/ublkcN fd
    /// reference goes.
    pub(crate) fn task_exit(&mut self, task: TaskId) {
        self.s.tasks[task as usize].exiting = true;
        for &a in &self.m.strands[task as usize] {
            self.s.actors[a as usize].done = true;
        }
        let p = self.m.procs[task as usize];
        let all_gone = self
            .m
            .proc_tasks(p)
            .all(|t| self.s.tasks[t as usize].exiting);
        if all_gone {
            for t in self.m.proc_tasks(p) {
                self.s.rings[t as usize].exiting = true; // ring i belongs to task i
            }
            self.drop_file_ref(); // the process's fd table goes away
        }
    }

    /// Drop a reference on /dev/ublkcN; the last one runs `ublk_ch_release`.
    pub(crate) fn drop_file_ref(&mut self) {
        self.s.dev.file_refs -= 1;
        if self.s.dev.file_refs == 0 {
            self.ublk_ch_release();
        }
    }

    /// Every live server thread exits, each once it is back in user space
    /// (not inside a split kernel operation).  False (nothing done) while
    /// some thread is still inside one.
    fn exit_group(&mut self, process: u8) -> bool {
        // its threads still alive, each once however many strands it has
        let live: Vec<TaskId> = (self.m.proc_tasks(process))
            .filter(|&t| !self.s.tasks[t as usize].exiting)
            .collect();
        if live
            .iter()
            .any(|&t| self.m.thread_busy(self.s, t, self.actor))
        {
            return false;
        }
        for t in live {
            self.task_exit(t);
        }
        true
    }

    /// SIGKILL of the server process.
    fn step_killer(&mut self) -> Step {
        if self
            .m
            .proc_tasks(0)
            .all(|t| self.s.tasks[t as usize].exiting)
        {
            self.me().done = true;
            return Ok(None);
        }
        if !self.exit_group(0) {
            return Ok(None);
        }
        self.me().done = true;
        Ok(Some((Func::Sigkill, None)))
    }

    fn step_task_work(&mut self, task: TaskId) -> Step {
        let fallback = self.s.tasks[task as usize].exiting;
        let Tw::Dispatch(c) = self.s.tasks[task as usize].tw.remove(0);
        self.ublk_dispatch_req(c, fallback)?;
        Ok(Some((
            if fallback {
                Func::UblkCmdTwCbFallback
            } else {
                Func::UblkCmdTwCb
            },
            None,
        )))
    }

    fn step_fixed_io(&mut self, ring: RingId) -> Step {
        let n = self.s.rings[ring as usize].fixed_ops.remove(0);
        self.put_node(n)?;
        Ok(Some((Func::IoPutRsrcNode, None)))
    }
}

/// Follow `Loop`/`Goto` ops at the actor's next op (they take no step).
/// Returns the resolved index.
fn resolve_loops(prog: &[(Op, Option<CmdId>)], st: &mut ActorSt) -> usize {
    for _ in 0..prog.len() {
        match prog.get(st.next_op as usize) {
            Some((Op::Loop { to }, _)) if st.at == Resume::Idle => {
                st.next_op = if st.res >= 0 { *to } else { st.next_op + 1 };
            }
            Some((Op::Goto { to }, _)) if st.at == Resume::Idle => st.next_op = *to,
            _ => break,
        }
    }
    st.next_op as usize
}
