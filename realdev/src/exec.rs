//! The real-device executor of [`Program`]s.
//!
//! The executor process owns the control plane (ADD_DEV, SET_PARAMS, START/STOP/DEL on
//! threads of their own), the block clients (one thread per bio, O_DIRECT on /dev/ublkbN) and
//! an optional `pidfd_getfd` duplicate of /dev/ublkcN (the fd holder). The *server* is a child
//! process (this binary re-executed as `serve-child`) so that `exit_group` and SIGKILL of the
//! server are real: it opens /dev/ublkcN once, maps the descriptors and runs one thread per
//! server actor, each with its own io ring. Parent and child talk JSON lines over pipes; the
//! child reports every CQE as it arrives (each thread polls its ring's eventfd and its command
//! queue), so the parent can check predicted completions and non-completions.
//!
//! Every wait has the per-step timeout; a step that does not finish is a hang. Every exit path
//! kills the child and stops and deletes the device.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crate::ctrl::{CtrlRing, DevSpec, Device};
use crate::error::{Error, Result};
use crate::program::*;
use crate::uapi::*;

pub use crate::batch::{kmsg_mark, run_batch, unsupported};

/// Executor options.
#[derive(Clone, Debug)]
pub struct ExecOpts {
    /// Per-step timeout (hang detection only).
    pub step_timeout: Duration,
    /// The binary to re-execute as the server child (`serve-child`).
    pub exe: std::path::PathBuf,
    /// `run-batch --kmsg-marks`: write `ublk-realdev: @@PROG K ID` to the kernel log (at
    /// KERN_ERR, so a console at `loglevel=4` shows it too) before program K, so a reader of
    /// the kernel log can tell which program each kernel message came from.
    pub kmsg_marks: bool,
}

use crate::bio::dev_flags;
use crate::race::{self, Release};

mod step;
use crate::child::*;
use crate::server_proc::{self, getfd, process_of, ProcEv, ServerProc};

/// How long a control command predicted pending is given before it is judged pending.
const CTRL_SETTLE: Duration = Duration::from_millis(500);

enum Ev {
    Proc(ProcEv),
    Bio { step: usize, res: i32 },
    Ctrl { step: usize, res: i32 },
}

struct Run<'a> {
    /// The program, relabelled as the run follows the kernel's tag choices.
    p: Program,
    /// Each tag choice followed: (step, command expected, command that got the request).
    followed: Vec<[usize; 3]>,
    o: &'a ExecOpts,
    tx: Sender<Ev>,
    rx: Receiver<Ev>,
    /// Completed refs (io commands, bios, control commands) by issuing step.
    done: HashMap<usize, i32>,
    replies: HashMap<usize, (Option<i32>, Option<String>)>,
    /// The server processes: 0 from the start, 1 the new server of a user recovery.
    procs: [ServerProc; 2],
    holder: Option<OwnedFd>,
    dev_id: u32,
    /// Last command per (thread, tag); last bio / control command per thread.
    last_cmd: HashMap<(usize, u16), usize>,
    last_ref: HashMap<usize, usize>,
    /// The step of the program's DEL_DEV, if it has one.
    del_step: Option<usize>,
    /// The release instant of the racing step being issued (see [`crate::race`]).
    release: Option<Release>,
}

impl Run<'_> {
    fn absorb(&mut self, ev: Ev) {
        match ev {
            Ev::Proc(ProcEv::Msg(FromChild::Cqe { step, res })) => {
                self.done.insert(step, res);
            }
            Ev::Proc(ProcEv::Msg(FromChild::Reply { step, val, err })) => {
                self.replies.insert(step, (val, err));
            }
            Ev::Proc(ProcEv::Msg(FromChild::Ready { .. } | FromChild::RingExitCqe { .. })) => {}
            Ev::Proc(ProcEv::Eof(p)) => self.procs[p as usize & 1].gone = true,
            // a bio that found no disk never completes, as the model's submitter waits for one
            Ev::Bio { res, .. } if res == crate::bio::NO_DISK => {}
            Ev::Bio { step, res } | Ev::Ctrl { step, res } => {
                self.done.insert(step, res);
            }
        }
    }

    /// Take every event already delivered.
    fn pump(&mut self) {
        while let Ok(ev) = self.rx.try_recv() {
            self.absorb(ev);
        }
    }

    /// Wait until `f` holds, at most the step timeout.
    fn wait(&mut self, f: impl Fn(&Self) -> bool) -> bool {
        self.wait_for(self.o.step_timeout, f)
    }

    /// Wait until `f` holds, at most `bound`.
    fn wait_for(&mut self, bound: Duration, f: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + bound;
        self.pump();
        while !f(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.rx.recv_timeout(left) {
                Ok(ev) => self.absorb(ev),
                Err(_) => return false,
            }
        }
        true
    }

    fn send_child(&mut self, step: usize, thread: usize, act: &Act) -> Result<()> {
        let m = ToChild {
            step,
            thread,
            act: act.clone(),
            release: self.release.take(),
        };
        let p = process_of(&self.p, thread) as usize & 1;
        let s = self.procs[p]
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Other(format!("server process {p} is gone")))?;
        writeln!(s, "{}", serde_json::to_string(&m).expect("serialises"))
            .and_then(|_| s.flush())
            .map_err(|e| Error::sys("write to the server process", e))
    }

    /// Follow the kernel's choice of driver tag at step `i` (see `ublk_program::follow`):
    /// for each pair of an armed command predicted to receive a request and its sibling
    /// predicted to stay queued, wait until one of them completes; if only the sibling did,
    /// with the result predicted for the other, the kernel gave the request the sibling's tag
    /// and the rest of the program is relabelled. The host checked, before sending the
    /// program, that the model predicts exactly the relabelled program for that choice.
    fn follow(&mut self, i: usize) {
        'again: loop {
            for (x, y) in self.p.follow_pairs(i) {
                let want = self.p.steps[i]
                    .after
                    .iter()
                    .find(|e| e.of == x)
                    .map(|e| e.expect.clone());
                let Some(Expect::Done(Some(v))) = want else {
                    continue;
                };
                self.wait(|s| s.done.contains_key(&x) || s.done.contains_key(&y));
                if !self.done.contains_key(&x) && self.done.get(&y) == Some(&v) {
                    self.p.relabel(i, x, y);
                    self.followed.push([i, x, y]);
                    continue 'again;
                }
            }
            return;
        }
    }

    /// Wait for a ref predicted done; a ref predicted pending is only checked now.
    fn observe_ref(&mut self, r: usize, expect: &Expect) -> Got {
        if matches!(expect, Expect::Pending) {
            self.pump();
        } else {
            self.wait(|s| s.done.contains_key(&r));
        }
        match self.done.get(&r) {
            Some(&v) => Got::Done(Some(v)),
            None if matches!(expect, Expect::Pending) => Got::Pending,
            None => Got::Hang,
        }
    }

    /// After the server process is gone: wait (bounded) until the device leaves LIVE. The
    /// model settles the teardown the exit starts within the exit action, while the kernel runs
    /// it in kworkers (7.2: the release work, which ends in QUIESCED, FAIL_IO or DEAD; 6.12: the
    /// cancel fn's stop or quiesce work) after the process is reaped. A device that stays LIVE
    /// (never started, another holder of /dev/ublkcN, a teardown that cannot finish) costs the
    /// bound and nothing else: the next steps judge what happened.
    fn wait_teardown(&mut self) {
        const BOUND: Duration = Duration::from_millis(500);
        let Ok(mut c) = CtrlRing::open() else { return };
        let deadline = Instant::now() + BOUND;
        while Instant::now() < deadline {
            match c.dev_state(self.dev_id, BOUND) {
                Ok(UBLK_S_DEV_LIVE) => thread::sleep(Duration::from_millis(2)),
                _ => break,
            }
        }
        self.pump();
    }

    /// Start server process `process` (if the program has threads in it).
    fn spawn_proc(&mut self, process: u8) -> Result<()> {
        if server_proc::servers_of(&self.p, process).is_empty() {
            return Ok(());
        }
        let within = self.o.step_timeout.max(Duration::from_secs(5));
        let tx = (self.tx.clone(), Ev::Proc as fn(ProcEv) -> Ev);
        let proc = server_proc::spawn(&self.o.exe, &self.p, process, self.dev_id, tx, within)?;
        self.procs[process as usize & 1] = proc;
        Ok(())
    }

    /// Kill and reap every server process.
    fn reap(&mut self) {
        for p in &mut self.procs {
            p.reap();
        }
    }
}

/// Run one program on the real kernel. `features`: the kernel's GET_FEATURES.
pub fn run_program(p: &Program, features: u64, o: &ExecOpts) -> RunResult {
    let t0 = Instant::now();
    let (mut got, mut followed) = (Vec::new(), Vec::new());
    let verdict = match run_inner(p, features, o, &mut got, &mut followed) {
        Ok(v) => v,
        Err(Error::FlagsDropped { dropped, .. }) => Verdict::Refused(format!(
            "this kernel cannot honour the program's features (ADD_DEV dropped {dropped:?})"
        )),
        Err(e) => Verdict::Error(e.to_string()),
    };
    RunResult {
        id: p.id.clone(),
        verdict_text: verdict.text(),
        verdict,
        got,
        followed,
        ms: (t0.elapsed().as_secs_f64() * 1e4).round() / 10.0,
    }
}

fn run_inner(
    p: &Program,
    features: u64,
    o: &ExecOpts,
    got: &mut Vec<Got>,
    followed: &mut Vec<[usize; 3]>,
) -> Result<Verdict> {
    if let Some(why) = unsupported(p) {
        return Ok(Verdict::Refused(why));
    }
    let flags = dev_flags(&p.dev);
    // no partition probe at START_DEV (it would read sector 0): asked for where the kernel
    // knows the flag (7.2); 6.12 skips the probe because the server drops CAP_SYS_ADMIN
    let flags = flags | (features & UBLK_F_NO_AUTO_PART_SCAN);
    if flags & !features != 0 {
        return Ok(Verdict::Refused(format!(
            "the kernel lacks {:?} (GET_FEATURES {features:#x})",
            feature_names(flags & !features)
        )));
    }
    // before the device: dropped after it is deleted (the modules unload once no queue uses them)
    let _sched = match p.dev.elevator {
        true => match crate::sched::Modules::load() {
            Ok(m) => Some(m),
            // a kernel of the user's own without the modules (or a host without modprobe)
            Err(e) => return Ok(Verdict::Refused(format!("no I/O scheduler modules: {e}"))),
        },
        false => None,
    };
    let ctrl = CtrlRing::open()?;
    let spec = DevSpec {
        nr_hw_queues: p.dev.queues,
        queue_depth: p.dev.depth,
        max_io_buf_bytes: BUF_BYTES,
        flags,
    };
    let mut dev = Device::add(ctrl, spec, o.step_timeout.max(Duration::from_secs(5)))?;
    let r = dev.set_params(&Params::basic(DEV_BYTES, BUF_BYTES))?;
    if r != 0 {
        return Err(Error::Kernel {
            what: "SET_PARAMS".into(),
            res: r,
        });
    }
    let (tx, rx) = mpsc::channel();
    let mut run = Run {
        p: p.clone(),
        followed: vec![],
        o,
        tx,
        rx,
        done: HashMap::new(),
        replies: HashMap::new(),
        procs: Default::default(),
        holder: None,
        dev_id: dev.id(),
        last_cmd: HashMap::new(),
        last_ref: HashMap::new(),
        del_step: None,
        release: None,
    };
    let res = drive(&mut run, got);
    *followed = std::mem::take(&mut run.followed);
    // teardown on every path: the server processes die (their fds and rings go), then the
    // device is stopped and deleted
    run.holder = None;
    run.reap();
    if let Some(k) = run.del_step {
        // the program's own DEL_DEV: once the last reference is gone it returns (if it has not
        // already); a device it deleted is not deleted again
        let t = run.o.step_timeout;
        run.wait_for(t, |s| s.done.contains_key(&k));
        if run.done.get(&k) == Some(&0) {
            dev.forget();
            return res;
        }
    }
    let _ = dev.stop();
    let del = dev.delete();
    let v = res?;
    match del {
        Ok(0) => Ok(v),
        Ok(r) if !v.is_failure() => Ok(Verdict::Error(format!(
            "DEL_DEV after the program: {} ({})",
            r,
            crate::error::errno_name(r)
        ))),
        Err(e) if !v.is_failure() => Ok(Verdict::Error(format!("DEL_DEV after the program: {e}"))),
        _ => Ok(v),
    }
}

fn drive(run: &mut Run, got: &mut Vec<Got>) -> Result<Verdict> {
    let p = run.p.clone();
    // the first server process (always: it holds /dev/ublkcN for the fd holder too)
    let within = run.o.step_timeout.max(Duration::from_secs(5));
    let tx = (run.tx.clone(), Ev::Proc as fn(ProcEv) -> Ev);
    run.procs[0] = server_proc::spawn(&run.o.exe, &p, 0, run.dev_id, tx, within)?;
    if p.threads.iter().any(|t| t.kind == ThreadKind::FdHolder) {
        run.holder = Some(getfd(run.procs[0].pid(), run.procs[0].cdev_fd)?);
    }
    let mut i = 0;
    while i < p.steps.len() {
        // a racing group: step i and the steps right after it that race it
        let end = (i + 1..p.steps.len())
            .find(|&k| p.steps[k].race_us.is_none())
            .unwrap_or(p.steps.len());
        if end > i + 1 {
            let us: Vec<i32> = (i..end).map(|k| p.steps[k].race_us.unwrap_or(0)).collect();
            // a submitter of a device of several queues stays on its queue's CPU
            let keep: Vec<bool> = (i..end)
                .map(|k| {
                    p.threads[p.steps[k].thread].kind == ThreadKind::Submitter && p.dev.queues > 1
                })
                .collect();
            let rel = race::releases(race::now_ns(), &us, &keep, race::cpus());
            let mut early = Vec::new();
            for (k, r) in (i..end).zip(rel) {
                run.release = Some(r);
                let s = run.p.steps[k].clone();
                early.push(run.issue(k, &s).err());
                run.release = None;
            }
            // every racing step is observed before any is judged: which way the race went
            // shows only in all their results together
            let mut seen = Vec::new();
            for (k, e) in (i..end).zip(early) {
                let s = run.p.steps[k].clone();
                seen.push(match e {
                    Some(g) => g,
                    None => run.observe(k, &s),
                });
            }
            let mut seen = seen.into_iter();
            for k in i..end {
                let g = seen.next().expect("one result per racing step");
                if let Some(v) = finish(run, got, k, g) {
                    got.extend(seen);
                    return Ok(v);
                }
            }
            i = end;
            continue;
        }
        let s = run.p.steps[i].clone();
        let g = run.step(i, &s);
        if let Some(v) = finish(run, got, i, g) {
            return Ok(v);
        }
        i += 1;
    }
    Ok(Verdict::Conforms)
}

/// Record what step `i` showed, judge it, follow the kernel's tag choice there and check the
/// completions predicted after it: the verdict if the run ends here.
fn finish(run: &mut Run, got: &mut Vec<Got>, i: usize, g: Got) -> Option<Verdict> {
    let s = run.p.steps[i].clone();
    got.push(g.clone());
    if let Some(v) = judge(i, &s.act.name(), &s.expect, &g) {
        return Some(v);
    }
    run.follow(i);
    let s = run.p.steps[i].clone();
    for e in &s.after {
        let g = run.observe_ref(e.of, &e.expect);
        let what = format!(
            "completion of step {} ({})",
            e.of,
            run.p.steps[e.of].act.name()
        );
        if let Some(v) = judge(i, &what, &e.expect, &g) {
            return Some(v);
        }
    }
    None
}
