//! `twoq`: the model's two-queue findings (docs/multiqueue.md, "Findings the two-queue
//! candidates show"), tried on a real kernel. A device with two hw queues of depth 1 and
//! UBLK_F_USER_RECOVERY; each server process is a `serve-child` with one thread and ring per
//! queue; a bio's hw queue is chosen by pinning the submitting thread to a CPU of that queue
//! (`/sys/block/ublkbN/mq/Q/cpu_list`).
//!
//! Common prefix: server 0 FETCHes both queues, START_DEV, one read on each queue (served:
//! proves the CPU → queue mapping), SIGKILL of server 0, START_USER_RECOVERY (polled while
//! -EBUSY), server 1 opens `/dev/ublkcN`. Then, per [`TwoqMode`]:
//!
//! * `close` (7.2, `two-queues-recovery-ring-close`): server 1 FETCHes queue 0 only (queue 0
//!   ready: its `canceling` cleared, `ub->canceling` still set), closes that thread's ring, and
//!   once the ring's exit posted the cancel's CQE, a read on queue 0. The model: S7, NULL
//!   `io->cmd` in `ublk_queue_cmd`.
//! * `close-end`: as `close`, then server 1 FETCHes queue 1 and END_USER_RECOVERY (LIVE)
//!   before the read on queue 0.
//! * `exit-read` (7.2, `two-queues-recovery-restart` on K72): server 1 FETCHes queue 0 only
//!   and exits; a read on queue 0 at once. A race: see [`exit_then_read`].
//! * `restart` (6.12, `two-queues-recovery-restart`): server 1 FETCHes queue 0 only and
//!   exits; a second START_USER_RECOVERY. The model (K612): `ublk_queue_reinit` of queue 1
//!   puts a NULL `ubq_daemon`. If it answers 0, server 2 recovers both queues and a read on
//!   each queue shows whether the device still works.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;

use super::*;
use crate::child::{ChildCfg, FromChild, ToChild};
use crate::program::Act;
use crate::server_proc::{spawn_cfg, ProcEv, ServerProc};

/// Which of the model's stories [`twoq`] plays after the common prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwoqMode {
    Close,
    CloseEnd,
    Restart,
    ExitRead,
}

impl std::str::FromStr for TwoqMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<TwoqMode, String> {
        match s {
            "close" => Ok(TwoqMode::Close),
            "close-end" => Ok(TwoqMode::CloseEnd),
            "restart" => Ok(TwoqMode::Restart),
            "exit-read" => Ok(TwoqMode::ExitRead),
            _ => Err(format!(
                "unknown twoq mode {s:?} (close | close-end | restart | exit-read)"
            )),
        }
    }
}

const TAG: u16 = 0;

/// The scenario's state: the device, its server processes and what they reported.
struct Twoq {
    dev: Option<Device>,
    id: u32,
    t: Duration,
    exe: std::path::PathBuf,
    tx: Sender<ProcEv>,
    rx: Receiver<ProcEv>,
    procs: Vec<ServerProc>,
    gone: HashSet<u8>,
    cqes: HashMap<usize, i32>,
    replies: HashMap<usize, Option<String>>,
    exit_cqes: HashSet<usize>,
    next_step: usize,
    /// The device's hw queues (2; 1 for the control run).
    queues: u16,
    /// A CPU of each hw queue.
    cpus: Vec<usize>,
}

impl Twoq {
    fn absorb(&mut self, ev: ProcEv) {
        match ev {
            ProcEv::Msg(FromChild::Cqe { step, res }) => {
                emit("cqe", merge(json!({"step": step}), res_json(res)));
                self.cqes.insert(step, res);
            }
            ProcEv::Msg(FromChild::Reply { step, err, .. }) => {
                self.replies.insert(step, err);
            }
            ProcEv::Msg(FromChild::RingExitCqe { thread }) => {
                emit("ring_exit_cqe", json!({"thread": thread}));
                self.exit_cqes.insert(thread);
            }
            ProcEv::Msg(FromChild::Ready { .. }) => {}
            ProcEv::Eof(p) => {
                emit("server_gone", json!({"process": p}));
                self.gone.insert(p);
            }
        }
    }

    /// Wait until `f` holds, at most `bound`.
    fn wait(&mut self, bound: Duration, f: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + bound;
        while let Ok(ev) = self.rx.try_recv() {
            self.absorb(ev);
        }
        while !f(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(ev) => self.absorb(ev),
                Err(_) => return false,
            }
        }
        true
    }

    /// Server process `p` with one thread per queue: thread `2p + q` serves queue `q`.
    fn spawn(&mut self, p: u8) -> Result<()> {
        let base = 2 * p as usize;
        let cfg = ChildCfg {
            dev_id: self.id,
            depth: 1,
            table_size: 0,
            servers: (0..self.queues as usize)
                .map(|q| (base + q, false))
                .collect(),
            auto_buf_reg: false,
            privileged: false,
            queues: (0..self.queues).collect(),
        };
        let tx = (self.tx.clone(), (|e| e) as fn(ProcEv) -> ProcEv);
        let proc = spawn_cfg(&self.exe, &cfg, p, tx, self.t)?;
        emit("server_started", json!({"process": p, "pid": proc.pid()}));
        debug_assert_eq!(self.procs.len(), p as usize);
        self.procs.push(proc);
        Ok(())
    }

    /// Send `act` to thread `thread` of process `p` and wait for its reply: the step number.
    fn act(&mut self, p: u8, thread: usize, act: Act) -> Result<usize> {
        let step = self.next_step;
        self.next_step += 1;
        let m = ToChild {
            step,
            thread,
            act: act.clone(),
        };
        let s = self.procs[p as usize]
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Other(format!("server process {p} is gone")))?;
        writeln!(s, "{}", serde_json::to_string(&m).expect("serialises"))
            .and_then(|_| s.flush())
            .map_err(|e| Error::sys("write to the server process", e))?;
        if act == Act::Exit {
            emit(
                "act",
                json!({"process": p, "thread": thread, "act": "exit_group"}),
            );
            return Ok(step);
        }
        let t = self.t;
        if !self.wait(t, |s| s.replies.contains_key(&step)) {
            return Err(Error::Timeout {
                what: format!("{act:?} on thread {thread}"),
                timeout: t,
            });
        }
        let err = self.replies[&step].clone();
        emit(
            "act",
            json!({"process": p, "thread": thread, "queue": thread % 2, "act": format!("{act:?}"),
                   "step": step, "error": err}),
        );
        match err {
            Some(e) => Err(Error::Other(format!("{act:?} on thread {thread}: {e}"))),
            None => Ok(step),
        }
    }

    fn fetch(&mut self, p: u8, q: u16) -> Result<usize> {
        self.act(
            p,
            2 * p as usize + q as usize,
            Act::Fetch {
                tag: TAG,
                buf: true,
            },
        )
    }

    /// A control command with `data0`, answered within `bound` (-EBUSY retried while `poll`).
    fn ctrl(&self, name: &'static str, op: u32, data0: u64, poll: bool) -> Option<i32> {
        let (id, t) = (self.id, self.t);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let until = Instant::now() + t;
            let r = CtrlRing::open().and_then(|mut c| loop {
                match c.simple(name, op, id, data0, t * 2) {
                    Ok(r) if poll && r == -libc::EBUSY && Instant::now() < until => {
                        // polling the kernel's state (the old server's file is closed by
                        // its rings' exit work, in a kworker)
                        thread::sleep(Duration::from_millis(2))
                    }
                    r => break r,
                }
            });
            let _ = tx.send(r);
        });
        ctrl_result(name, recv(&rx, t * 3))
    }

    /// A 4 KiB O_DIRECT read at offset 0 by a thread pinned to a CPU of queue `q`.
    fn read_on(&self, q: u16) -> Receiver<i32> {
        let (tx, rx) = mpsc::channel();
        let (cpu, id) = (self.cpus[q as usize], self.id);
        let _ = thread::Builder::new()
            .name(format!("reader-q{q}"))
            .spawn(move || {
                if let Err(e) = crate::bio::pin_to(cpu) {
                    emit("pin_error", json!({"cpu": cpu, "error": e.to_string()}));
                    return;
                }
                // SAFETY: sched_getcpu has no preconditions.
                let on = unsafe { libc::sched_getcpu() };
                emit("read_submit", json!({"queue": q, "cpu": on}));
                let _ = tx.send(crate::bio::bio(id, false));
            });
        rx
    }

    /// One read on queue `q` served by server `p` whose pending FETCH/COMMIT is `step`:
    /// returns the step of the COMMIT_AND_FETCH that is now pending.
    fn served_read(&mut self, p: u8, q: u16, step: usize) -> Result<usize> {
        let rx = self.read_on(q);
        let t = self.t;
        if !self.wait(t, |s| s.cqes.contains_key(&step)) {
            return Err(Error::Timeout {
                what: format!("the read on queue {q} reaching server {p}'s thread"),
                timeout: t,
            });
        }
        if self.cqes[&step] != 0 {
            return Err(Error::Other(format!(
                "queue {q}'s command ended {} instead of carrying the read",
                self.cqes[&step]
            )));
        }
        let thread = 2 * p as usize + q as usize;
        let commit = self.act(
            p,
            thread,
            Act::Commit {
                tag: TAG,
                result: 4096,
                buf: true,
            },
        )?;
        let r = recv(&rx, t);
        emit(
            "read_done",
            json!({"queue": q, "res": r, "served_by_thread": thread}),
        );
        match r {
            Some(0) => Ok(commit),
            _ => Err(Error::Other(format!(
                "the served read on queue {q} gave {r:?}"
            ))),
        }
    }

    fn kill(&mut self, p: u8) -> bool {
        self.procs[p as usize].reap();
        emit("sigkill", json!({"process": p}));
        let t = self.t;
        self.wait(t, |s| s.gone.contains(&p))
    }

    fn pid(&self, p: u8) -> u64 {
        self.procs[p as usize].pid() as u64
    }
}

/// `twoq`: see the module doc. Returns Ok(()) when the run itself worked, whatever the
/// kernel did; the last line (`twoq_result`) says what happened.
pub fn twoq(o: &Opts) -> Result<()> {
    let queues = o.twoq_queues;
    if !(1..=2).contains(&queues) {
        return Err(Error::Other(format!("--queues {queues}: 1 or 2")));
    }
    let dev = setup_dev(o, queues, 1, UBLK_F_USER_RECOVERY)?;
    let (tx, rx) = mpsc::channel();
    let mut s = Twoq {
        id: dev.id(),
        dev: Some(dev),
        t: o.timeout,
        exe: std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into()),
        tx,
        rx,
        procs: Vec::new(),
        gone: HashSet::new(),
        cqes: HashMap::new(),
        replies: HashMap::new(),
        exit_cqes: HashSet::new(),
        next_step: 1,
        queues,
        cpus: Vec::new(),
    };
    emit(
        "twoq_mode",
        json!({"mode": format!("{:?}", o.twoq_mode), "queues": queues}),
    );
    let r = run(&mut s, o.twoq_mode);
    let outcome = match &r {
        Ok(v) => v.clone(),
        Err(e) => json!({"error": e.to_string()}),
    };
    emit("twoq_result", outcome.clone());
    let hung = outcome.get("read_q0").is_some_and(|v| v == "hang")
        || outcome
            .get("second_start_recovery")
            .is_some_and(Value::is_null);
    if hung {
        // Tell the VM's supervisor now: after a kernel oops the cleanup may never end.
        crate::report::signal_done(0);
    }
    cleanup(&mut s, hung);
    r.map(|_| ())
}

fn cleanup(s: &mut Twoq, hung: bool) {
    let dev = s.dev.take().expect("device");
    if hung {
        // the kernel is likely broken: bounded STOP_DEV + DEL_DEV_ASYNC by the guard
        for p in &mut s.procs {
            p.reap();
        }
        drop(dev);
        return;
    }
    let stop = ctrl_result("stop_dev", recv(&dev.stop_async(s.t), s.t * 2));
    for p in &mut s.procs {
        p.reap();
    }
    if stop == Some(0) {
        ctrl_result("del_dev", Some(dev.delete()));
    } else {
        drop(dev);
    }
}

fn run(s: &mut Twoq, mode: TwoqMode) -> Result<Value> {
    // server 0: every queue, START_DEV
    s.spawn(0)?;
    let mut pending = Vec::new();
    for q in 0..s.queues {
        pending.push(s.fetch(0, q)?);
    }
    let start = s.ctrl("start_dev", UBLK_U_CMD_START_DEV, s.pid(0), false);
    if start != Some(0) {
        return Ok(json!({"start_dev": start, "verdict": "START_DEV did not succeed"}));
    }
    for q in 0..s.queues {
        let (cpu, list) = crate::bio::queue_cpu(s.id, q)?;
        emit(
            "queue_cpus",
            json!({"queue": q, "cpu_list": list, "pinned_cpu": cpu}),
        );
        s.cpus.push(cpu);
    }
    if s.queues == 2 && s.cpus[0] == s.cpus[1] {
        return Err(Error::Other(
            "both hw queues share a CPU: boot with -smp 2".into(),
        ));
    }
    for (q, step) in pending.into_iter().enumerate() {
        s.served_read(0, q as u16, step)?;
    }

    // the old server dies; recovery
    if !s.kill(0) {
        return Err(Error::Other("server 0 did not exit".into()));
    }
    let rec = s.ctrl(
        "start_user_recovery",
        UBLK_U_CMD_START_USER_RECOVERY,
        0,
        true,
    );
    if rec != Some(0) {
        return Ok(json!({"start_user_recovery": rec, "verdict": "recovery did not start"}));
    }
    s.spawn(1)?;
    let n0 = s.fetch(1, 0)?;
    let mut out = json!({"start_user_recovery": rec, "new_fetch_q0_cqe": s.cqes.get(&n0)});
    match mode {
        TwoqMode::Close | TwoqMode::CloseEnd => close_then_read(s, mode, &mut out)?,
        TwoqMode::Restart => restart(s, &mut out)?,
        TwoqMode::ExitRead => exit_then_read(s, &mut out)?,
    }
    Ok(out)
}

/// The 7.2 finding: queue 0's new daemon closes its ring once queue 0 is ready.
fn close_then_read(s: &mut Twoq, mode: TwoqMode, out: &mut Value) -> Result<()> {
    s.act(1, 2, Act::CloseRing)?;
    let t = s.t;
    let seen = s.wait(t, |s| s.exit_cqes.contains(&2));
    out["cancel_cqe_after_close"] = json!(seen);
    if mode == TwoqMode::CloseEnd {
        if s.queues == 2 {
            let n1 = s.fetch(1, 1)?;
            out["new_fetch_q1_cqe"] = json!(s.cqes.get(&n1));
        }
        let end = s.ctrl(
            "end_user_recovery",
            UBLK_U_CMD_END_USER_RECOVERY,
            s.pid(1),
            false,
        );
        out["end_user_recovery"] = json!(end);
    }
    let state = CtrlRing::open().and_then(|mut c| c.dev_state(s.id, t));
    out["state_before_read"] = json!(format!("{state:?}"));
    let rx = s.read_on(0);
    let r = recv(&rx, t);
    emit("read_done", json!({"queue": 0, "res": r}));
    out["read_q0"] = r.map_or(json!("hang"), |v| json!(v));
    out["verdict"] = json!(match r {
        None =>
            "the read on queue 0 did not complete within the timeout: an oops in \
                 ublk_queue_rq in the kernel log is the 7.2 finding (NULL io->cmd); without \
                 one the bio waits (requeued, or the queue quiesced)",
        Some(0) => "the read on queue 0 was served: no NULL io->cmd",
        Some(_) => "the read on queue 0 failed without a hang: no NULL io->cmd",
    });
    Ok(())
}

/// The 7.2 finding's race form (K72 `two-queues-recovery-restart`): the new server readies
/// queue 0 only and exits; a read on queue 0 sent at once. Only a read that lands between the
/// exit's cancel of queue 0's FETCH and the release work's `ublk_set_canceling` finds the
/// NULL `io->cmd`; earlier it is dispatched to the live FETCH, later it is requeued.
fn exit_then_read(s: &mut Twoq, out: &mut Value) -> Result<()> {
    s.act(1, 2, Act::Exit)?;
    let rx = s.read_on(0);
    let t = s.t;
    let r = recv(&rx, t);
    emit("read_done", json!({"queue": 0, "res": r}));
    out["server_1_gone"] = json!(s.wait(t, |s| s.gone.contains(&1)));
    out["read_q0"] = r.map_or(json!("hang"), |v| json!(v));
    out["verdict"] = json!(match r {
        None =>
            "the read on queue 0 did not complete within the timeout: an oops in \
                 ublk_queue_rq in the kernel log = the read hit the window; none = it was \
                 dispatched to the live FETCH or requeued",
        Some(_) => "the read on queue 0 completed",
    });
    Ok(())
}

/// The 6.12 finding: the new server readies queue 0 only and exits; START_USER_RECOVERY again.
fn restart(s: &mut Twoq, out: &mut Value) -> Result<()> {
    s.act(1, 2, Act::Exit)?;
    let t = s.t;
    if !s.wait(t, |s| s.gone.contains(&1)) {
        return Err(Error::Other("server 1 did not exit".into()));
    }
    s.procs[1].reap();
    let rec2 = s.ctrl(
        "start_user_recovery",
        UBLK_U_CMD_START_USER_RECOVERY,
        0,
        true,
    );
    out["second_start_recovery"] = json!(rec2);
    if rec2 != Some(0) {
        out["verdict"] = json!(match rec2 {
            None =>
                "the second START_USER_RECOVERY never answered: an oops in \
                     ublk_ctrl_uring_cmd (ublk_queue_reinit) in the kernel log is the 6.12 \
                     finding (put_task_struct(NULL))",
            Some(_) => "the second START_USER_RECOVERY was refused",
        });
        return Ok(());
    }
    // the kernel took it: a third server recovers every queue; does the device still work?
    s.spawn(2)?;
    let mut pending = Vec::new();
    for q in 0..s.queues {
        pending.push(s.fetch(2, q)?);
    }
    let end = s.ctrl(
        "end_user_recovery",
        UBLK_U_CMD_END_USER_RECOVERY,
        s.pid(2),
        false,
    );
    out["end_user_recovery"] = json!(end);
    if end == Some(0) {
        for (q, step) in pending.into_iter().enumerate() {
            s.served_read(2, q as u16, step)?;
        }
        out["reads_after"] = json!("served on every queue");
    }
    out["verdict"] = json!(
        "the second START_USER_RECOVERY answered 0 (no put_task_struct(NULL)); a third \
         server recovered the device"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_config_without_queues_serves_queue_0() {
        let old = r#"{"dev_id":3,"depth":1,"table_size":0,"servers":[[0,false],[1,true]]}"#;
        let c: ChildCfg = serde_json::from_str(old).unwrap();
        assert_eq!((c.queue_of(0), c.queue_of(1)), (0, 0));
        let c = ChildCfg {
            queues: vec![0, 1],
            ..c
        };
        assert_eq!((c.queue_of(0), c.queue_of(1), c.queue_of(2)), (0, 1, 0));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("close-end".parse::<TwoqMode>(), Ok(TwoqMode::CloseEnd));
        assert!("Close".parse::<TwoqMode>().is_err());
    }
}
