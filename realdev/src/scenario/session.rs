//! The state shared by the hand-written multi-process scenarios (`twoq`, `quiesce`): the
//! device, its `serve-child` server processes (thread `2p + q` of process `p` serves queue
//! `q`) and everything they reported (CQEs by step, replies, ring-exit CQEs, exits).

use std::collections::{HashMap, HashSet};
use std::io::Write as _;

use super::*;
use crate::child::{ChildCfg, FromChild, ToChild};
use crate::program::Act;
use crate::server_proc::{spawn_cfg, ProcEv, ServerProc};

/// The scenario's state: the device, its server processes and what they reported.
pub(super) struct Session {
    pub(super) dev: Option<Device>,
    pub(super) id: u32,
    pub(super) t: Duration,
    pub(super) exe: std::path::PathBuf,
    pub(super) tx: Sender<ProcEv>,
    pub(super) rx: Receiver<ProcEv>,
    pub(super) procs: Vec<ServerProc>,
    pub(super) gone: HashSet<u8>,
    pub(super) cqes: HashMap<usize, i32>,
    pub(super) replies: HashMap<usize, Option<String>>,
    pub(super) exit_cqes: HashSet<usize>,
    pub(super) next_step: usize,
    /// The device's hw queues (2; 1 for the control run).
    pub(super) queues: u16,
    /// A CPU of each hw queue.
    pub(super) cpus: Vec<usize>,
    /// The queue depth (every server thread maps and serves that many tags).
    pub(super) depth: u16,
}

impl Session {
    /// A session on the added device `dev` of `queues` hw queues of depth `depth`; `t` bounds
    /// every wait.
    pub(super) fn new(dev: Device, t: Duration, queues: u16, depth: u16) -> Session {
        let (tx, rx) = mpsc::channel();
        Session {
            id: dev.id(),
            dev: Some(dev),
            t,
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
            depth,
        }
    }

    pub(super) fn absorb(&mut self, ev: ProcEv) {
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
    pub(super) fn wait(&mut self, bound: Duration, f: impl Fn(&Self) -> bool) -> bool {
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
    pub(super) fn spawn(&mut self, p: u8) -> Result<()> {
        let base = 2 * p as usize;
        let cfg = ChildCfg {
            dev_id: self.id,
            depth: self.depth,
            table_size: 0,
            servers: (0..self.queues as usize)
                .map(|q| (base + q, false))
                .collect(),
            auto_buf_reg: false,
            auto_fallback: false,
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
    pub(super) fn act(&mut self, p: u8, thread: usize, act: Act) -> Result<usize> {
        let step = self.next_step;
        self.next_step += 1;
        let m = ToChild {
            step,
            thread,
            act: act.clone(),
            release: None,
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

    /// FETCH of tag 0 of queue `q` by server `p`.
    pub(super) fn fetch(&mut self, p: u8, q: u16) -> Result<usize> {
        self.fetch_tag(p, q, 0)
    }

    /// FETCH of `tag` of queue `q` by server `p`: its step.
    pub(super) fn fetch_tag(&mut self, p: u8, q: u16, tag: u16) -> Result<usize> {
        self.act(
            p,
            2 * p as usize + q as usize,
            Act::Fetch { tag, buf: true },
        )
    }

    /// COMMIT_AND_FETCH of `tag` of queue `q` by server `p` with a 4 KiB result (the read's
    /// data is the buffer's, unchecked): its step.
    pub(super) fn commit(&mut self, p: u8, q: u16, tag: u16) -> Result<usize> {
        self.act(
            p,
            2 * p as usize + q as usize,
            Act::Commit {
                tag,
                result: 4096,
                buf: true,
            },
        )
    }

    /// A control command with `data0`, answered within `bound` (-EBUSY retried while `poll`).
    pub(super) fn ctrl(&self, name: &'static str, op: u32, data0: u64, poll: bool) -> Option<i32> {
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
    pub(super) fn read_on(&self, q: u16) -> Receiver<i32> {
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
                let res = match crate::bio::bio(id, false, 4096, None) {
                    crate::bio::NO_DISK => -libc::ENOENT,
                    r => r,
                };
                let _ = tx.send(res);
            });
        rx
    }

    /// One read on queue `q` served by server `p` whose pending FETCH/COMMIT is `step`:
    /// returns the step of the COMMIT_AND_FETCH that is now pending.
    pub(super) fn served_read(&mut self, p: u8, q: u16, step: usize) -> Result<usize> {
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
        let commit = self.commit(p, q, 0)?;
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

    pub(super) fn kill(&mut self, p: u8) -> bool {
        self.procs[p as usize].reap();
        emit("sigkill", json!({"process": p}));
        let t = self.t;
        self.wait(t, |s| s.gone.contains(&p))
    }

    pub(super) fn pid(&self, p: u8) -> u64 {
        self.procs[p as usize].pid() as u64
    }
}

pub(super) fn cleanup(s: &mut Session, hung: bool) {
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
