//! One step of a program on the real kernel, in two halves: [`Run::issue`] starts the step's
//! system call (on the thread that owns it: a server thread of the child, a thread of its own
//! for a bio, a control command, an elevator switch) and [`Run::observe`] waits for what the
//! model predicts user space sees. A sequential step is the two back to back; a racing group
//! (`Step::race_us`) issues every step, each at its release instant, before it observes any.

use std::thread;
use std::time::{Duration, Instant};

use super::{Ev, Run, CTRL_SETTLE};
use crate::bio::{bio_on, io_cmd_tag};
use crate::ctrl::CtrlRing;
use crate::error::Error;
use crate::program::*;
use crate::race::Release;
use crate::uapi::*;

impl Run<'_> {
    /// Issue then observe step `i` (released at once, or at `self.release`).
    pub(super) fn step(&mut self, i: usize, s: &Step) -> Got {
        match self.issue(i, s) {
            Err(g) => g,
            Ok(()) => self.observe(i, s),
        }
    }

    /// The release of the step being issued (a racing group's), taken once.
    fn take_release(&mut self) -> Option<Release> {
        self.release.take()
    }

    /// Control command `op` with `data[0]` = `data0` (a pid, QUIESCE_DEV's wait) on its own
    /// thread; its result arrives as `Ev::Ctrl`. `poll_busy`: retry -EBUSY (polling the
    /// kernel, 2 ms apart) until another answer or the step timeout.
    fn spawn_ctrl(
        &mut self,
        step: usize,
        op: u32,
        name: &'static str,
        data0: u64,
        poll_busy: bool,
    ) {
        let (tx, id) = (self.tx.clone(), self.dev_id);
        // a long bound: the command is abandoned (not waited for) after the step timeout
        let t = self.o.step_timeout * 10;
        let poll_until = Instant::now() + self.o.step_timeout;
        let release = self.take_release();
        thread::spawn(move || {
            let r = CtrlRing::open().and_then(|mut c| {
                if let Some(r) = release {
                    r.go();
                }
                loop {
                    match c.simple(name, op, id, data0, t) {
                        Ok(r) if poll_busy && r == -libc::EBUSY && Instant::now() < poll_until => {
                            thread::sleep(Duration::from_millis(2))
                        }
                        r => break r,
                    }
                }
            });
            let res = match r {
                Ok(v) => v,
                Err(Error::Kernel { res, .. }) => res,
                Err(_) => return, // timed out: never completes as far as the program knows
            };
            let _ = tx.send(Ev::Ctrl { step, res });
        });
    }

    /// A bio of submitter `thread`, on its hw queue (pinned) when the device has several.
    fn spawn_bio(&mut self, step: usize, thread: usize, write: bool) {
        let (tx, id) = (self.tx.clone(), self.dev_id);
        let (queues, q) = (self.p.dev.queues, self.p.threads[thread].queue);
        let bytes = self.p.dev.io_bytes as usize;
        let release = self.take_release();
        thread::spawn(move || {
            let res = bio_on(id, write, bytes, queues, q, release);
            let _ = tx.send(Ev::Bio { step, res });
        });
    }

    /// Start step `i`'s system call. `Err`: the step is decided already (an error).
    pub(super) fn issue(&mut self, i: usize, s: &Step) -> Result<(), Got> {
        let th = self.p.threads[s.thread].clone();
        match (&th.kind, &s.act) {
            // waits: nothing to issue
            (ThreadKind::Server { .. }, Act::WaitCqe { .. })
            | (ThreadKind::Submitter, Act::BioWait)
            | (ThreadKind::Control | ThreadKind::Elevator, Act::CtrlWait) => {
                if self.release.is_some() {
                    return Err(Got::Error("a wait cannot race".into()));
                }
                Ok(())
            }
            (ThreadKind::Server { .. }, act) => {
                if let Err(e) = self.send_child(i, s.thread, act) {
                    return Err(Got::Error(e.to_string()));
                }
                if let Some(tag) = io_cmd_tag(act) {
                    // before the reply: a later WaitCqe may wait for a command whose
                    // io_uring_enter has not returned yet
                    self.last_cmd.insert((s.thread, tag), i);
                }
                Ok(())
            }
            (ThreadKind::Submitter, Act::Read | Act::Write) => {
                self.last_ref.insert(s.thread, i);
                self.spawn_bio(i, s.thread, s.act == Act::Write);
                Ok(())
            }
            (ThreadKind::Elevator, Act::SwitchElevator) => {
                self.last_ref.insert(s.thread, i);
                let (tx, id) = (self.tx.clone(), self.dev_id);
                let release = self.take_release();
                thread::spawn(move || {
                    if let Some(r) = release {
                        r.go();
                    }
                    let res = crate::sched::switch(id, crate::sched::SWITCH_TO);
                    let _ = tx.send(Ev::Ctrl { step: i, res });
                });
                Ok(())
            }
            (
                ThreadKind::Control,
                Act::StartDev
                | Act::StopDev
                | Act::StartUserRecovery { .. }
                | Act::EndUserRecovery
                | Act::QuiesceDev { .. }
                | Act::UpdateSize
                | Act::DelDev,
            ) => {
                self.last_ref.insert(s.thread, i);
                let (op, name, data0) = match s.act {
                    Act::StartDev => (
                        UBLK_U_CMD_START_DEV,
                        "START_DEV",
                        self.procs[0].server_pid() as u64,
                    ),
                    Act::StopDev => (UBLK_U_CMD_STOP_DEV, "STOP_DEV", 0),
                    Act::StartUserRecovery { .. } => {
                        (UBLK_U_CMD_START_USER_RECOVERY, "START_USER_RECOVERY", 0)
                    }
                    Act::EndUserRecovery => (
                        UBLK_U_CMD_END_USER_RECOVERY,
                        "END_USER_RECOVERY",
                        self.procs[1].server_pid() as u64,
                    ),
                    // data[0]: how long the kernel waits for an idle io on every queue
                    Act::QuiesceDev { timeout_ms } => {
                        (UBLK_U_CMD_QUIESCE_DEV, "QUIESCE_DEV", timeout_ms)
                    }
                    // the size the device already has: no I/O changes meaning
                    Act::UpdateSize => (
                        UBLK_U_CMD_UPDATE_SIZE,
                        "UPDATE_SIZE",
                        crate::child::DEV_BYTES >> 9,
                    ),
                    _ => (UBLK_U_CMD_DEL_DEV, "DEL_DEV", 0),
                };
                if s.act == Act::DelDev {
                    self.del_step = Some(i);
                }
                let poll = s.act == Act::StartUserRecovery { poll: true };
                self.spawn_ctrl(i, op, name, data0, poll);
                Ok(())
            }
            (ThreadKind::Killer, Act::Kill) => {
                let pid = self.procs[0].child.as_ref().map(|c| c.id());
                match (self.take_release(), pid) {
                    // the child is not reaped before `observe`, so its pid is not reused
                    (Some(r), Some(pid)) => {
                        thread::spawn(move || {
                            r.go();
                            // SAFETY: a signal to our own unreaped child.
                            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                        });
                    }
                    _ => {
                        if let Some(c) = self.procs[0].child.as_mut() {
                            let _ = c.kill();
                        }
                    }
                }
                Ok(())
            }
            (ThreadKind::FdHolder, Act::CloseFd) => {
                let fd = self.holder.take();
                match self.take_release() {
                    Some(r) => {
                        thread::spawn(move || {
                            r.go();
                            drop(fd);
                        });
                    }
                    None => drop(fd),
                }
                Ok(())
            }
            (k, a) => Err(Got::Error(format!(
                "{a:?} is not an action of a {k:?} thread"
            ))),
        }
    }

    /// What user space sees of issued step `i`.
    pub(super) fn observe(&mut self, i: usize, s: &Step) -> Got {
        let th = self.p.threads[s.thread].clone();
        match (&th.kind, &s.act) {
            (ThreadKind::Server { .. }, Act::WaitCqe { tag }) => {
                match self.last_cmd.get(&(s.thread, *tag)).copied() {
                    Some(r) => self.observe_ref(r, &Expect::Done(None)),
                    None => Got::Error(format!("wait CQE t{tag} before any command")),
                }
            }
            (ThreadKind::Server { process, .. }, Act::Exit) => {
                let p = *process as usize & 1;
                self.gone(p)
            }
            (ThreadKind::Server { .. }, act) => {
                let io_cmd_tag = io_cmd_tag(act);
                if !self.wait(|s| s.replies.contains_key(&i)) {
                    // an io command predicted pending whose io_uring_enter has not returned:
                    // the thread sleeps inside the driver (ublk_fetch waiting for ub->mutex);
                    // its CQE (or the hang) is judged by the steps that wait for it
                    if io_cmd_tag.is_some() && matches!(s.expect, Expect::Pending) {
                        self.pump();
                        return match self.done.get(&i) {
                            Some(&v) => Got::Done(Some(v)),
                            None => Got::Pending,
                        };
                    }
                    return Got::Hang;
                }
                let (val, err) = self.replies[&i].clone();
                if let Some(e) = err {
                    return Got::Error(e);
                }
                match act {
                    // a cmd predicted to complete within its action is waited for: its CQE
                    // may come from a kworker (a partial COMMIT's remainder is requeued by
                    // kblockd's requeue work and handed to the new FETCH); one predicted
                    // pending is checked now
                    Act::Fetch { .. } | Act::Commit { .. } | Act::NeedGetData { .. } => {
                        self.observe_ref(i, &s.expect)
                    }
                    Act::Register { .. } | Act::Unregister { .. } | Act::BadType { .. } => {
                        self.observe_ref(i, &s.expect)
                    }
                    // the model's FixedIo result is "issued" (0); its completion is a kernel
                    // step: a full transfer is 0 here, an error stays an error
                    Act::FixedIo { .. } => Got::Done(val.map(|v| if v > 0 { 0 } else { v })),
                    Act::UserCopy { .. } => Got::Done(val),
                    _ => Got::Done(None),
                }
            }
            (ThreadKind::Submitter, Act::Read | Act::Write) => self.observe_ref(i, &s.expect),
            (ThreadKind::Elevator, Act::SwitchElevator) => {
                if matches!(s.expect, Expect::Pending) {
                    // the switch freezes the queue and waits for its requests: give the write
                    // the time to get there (or to return: a divergence)
                    let settle = self.o.step_timeout.min(CTRL_SETTLE);
                    self.wait_for(settle, |s| s.done.contains_key(&i));
                }
                self.observe_ref(i, &s.expect)
            }
            (ThreadKind::Submitter, Act::BioWait)
            | (ThreadKind::Control | ThreadKind::Elevator, Act::CtrlWait) => {
                match self.last_ref.get(&s.thread).copied() {
                    Some(r) => self.observe_ref(r, &Expect::Done(None)),
                    None => Got::Error("nothing to wait for".into()),
                }
            }
            (ThreadKind::Control, _) => {
                if matches!(s.expect, Expect::Pending) {
                    // a control command predicted to wait inside (STOP_DEV in del_gendisk
                    // for a request the server owns, with ub->mutex held; DEL_DEV for the
                    // last reference to /dev/ublkcN): give it the time to get there (or to
                    // finish: a divergence) before the next action, which may depend on it
                    // (a FETCH that must find ub->mutex taken). STOP_DEV alone takes 70-110
                    // ms under TCG
                    let settle = self.o.step_timeout.min(CTRL_SETTLE);
                    self.wait_for(settle, |s| s.done.contains_key(&i));
                }
                let got = self.observe_ref(i, &s.expect);
                if s.act == Act::StartDev && got == Got::Done(Some(0)) {
                    // the disk exists: it runs the scheduler the program wants
                    if let Err(e) = crate::sched::ensure(self.dev_id, self.p.dev.elevator) {
                        return Got::Error(e.to_string());
                    }
                }
                if matches!(s.act, Act::StartUserRecovery { .. }) && got == Got::Done(Some(0)) {
                    // the new server process: opens /dev/ublkcN (`ublk_ch_open`), maps the
                    // descriptors and sets up its rings before the next action
                    if let Err(e) = self.spawn_proc(1) {
                        return Got::Error(e.to_string());
                    }
                }
                got
            }
            (ThreadKind::Killer, _) => self.gone(0),
            (ThreadKind::FdHolder, _) => Got::Done(None),
            (k, a) => Got::Error(format!("{a:?} is not an action of a {k:?} thread")),
        }
    }

    /// Server process `p` was told to exit or killed: wait until it is gone, reap it and give
    /// the teardown it starts its bounded time.
    fn gone(&mut self, p: usize) -> Got {
        if self.wait(|s| s.procs[p].gone) {
            self.procs[p].reap();
            self.wait_teardown();
            Got::Done(None)
        } else {
            Got::Hang
        }
    }
}
