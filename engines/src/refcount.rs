//! The refcount fast paths of the off-daemon series (spec §5.4) at the level
//! of atomics, kernel-shaped: `io->ref` is an atomic `refcount_t`
//! (`refcount_inc_not_zero`, `refcount_sub_and_test`), and
//! `io->task_registered_buffers` is a plain field only `io->task` may touch
//! (an [`UnsafeCell`]: under loom any access not ordered with a conflicting
//! one is reported as a data race).
//!
//! Written once against [`crate::sync`], so it runs on std, loom
//! (`--cfg loom`, exhaustive) and shuttle (feature `shuttle`).  Each
//! operation appends to an uninstrumented log at its linearization point
//! (right after its atomic instruction, before the next scheduling point),
//! so the log of an execution is a sequence of steps the step model can be
//! asked to accept ([`crate::inclusion`]).

use crate::sync::{fence, AtomicBool, AtomicU32, Ordering, UnsafeCell};
use std::sync::Mutex as StdMutex;

/// `REFCOUNT_MAX / 2`, as in `ublk_drv.c`.
pub const UBLK_REFCOUNT_INIT: u32 = (i32::MAX as u32) / 2;
pub const EINVAL: i32 = -22;

/// Deliberate bugs; each one must be reported by loom.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mutations {
    /// `ublk_io_release` reads `task_registered_buffers` without checking
    /// `current == io->task` (touched from a non-daemon thread).
    pub trb_off_task: bool,
    /// Patch 10 before the B-11 fix: a (fake) timeout returns from COMMIT
    /// before `ublk_sub_req_ref`: the dispatch reference leaks.
    pub fake_timeout_leak: bool,
    /// `ublk_daemon_register_io_buf` without `trb + 1 >= UBLK_REFCOUNT_INIT`.
    pub no_overflow_check: bool,
}

/// A thread: 0 is the daemon (`io->task`), others are off-task helpers.
pub type Who = u8;
pub const DAEMON: Who = 0;

/// One logged event, named after the step of the model it corresponds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ev {
    /// `ublk_daemon_register_io_buf` (result).
    DaemonRegister(i32),
    /// `ublk_register_io_buf`: the tag lookup.
    Lookup,
    /// `__ublk_check_and_get_req`: `refcount_inc_not_zero` succeeded?
    IncNotZero(bool),
    /// `__ublk_check_and_get_req`: request started (else the ref is put)?
    Started(bool),
    /// `ublk_register_io_buf`: `io_buffer_register_bvec` (result).
    Register(i32),
    /// UNREGISTER → `ublk_io_release`.
    Release,
    /// COMMIT_AND_FETCH → `ublk_sub_req_ref`.
    Commit,
}

/// One `struct ublk_io` with its request, dispatched to the daemon.
pub struct UblkIo {
    /// `io->ref`.
    refcnt: AtomicU32,
    /// `io->task_registered_buffers`: plain, owned by `io->task`.
    task_registered_buffers: UnsafeCell<u32>,
    /// `io->task`.
    task: Who,
    /// `blk_mq_request_started(req)`.
    started: AtomicBool,
    /// The value of `UBLK_REFCOUNT_INIT` (smaller in the overflow test).
    init: u32,
    mutations: Mutations,
    // ---- ghost state and the log: not instrumented ----
    completions: std::sync::atomic::AtomicU32,
    outstanding: std::sync::atomic::AtomicI32,
    log: StdMutex<Vec<(Who, Ev)>>,
}

// SAFETY: `task_registered_buffers` is touched only by `io->task` (the
// protocol's rule, which loom checks: a violation is a reported data race);
// everything else is atomic or behind a mutex.
unsafe impl Sync for UblkIo {}

fn ghost() -> std::sync::atomic::Ordering {
    std::sync::atomic::Ordering::SeqCst
}

impl UblkIo {
    /// `ublk_init_req_ref()` at dispatch: `ref = INIT`, `trb = 0`.
    pub fn new(init: u32, mutations: Mutations) -> Self {
        UblkIo {
            refcnt: AtomicU32::new(init),
            task_registered_buffers: UnsafeCell::new(0),
            task: DAEMON,
            started: AtomicBool::new(true),
            init,
            mutations,
            completions: Default::default(),
            outstanding: Default::default(),
            log: StdMutex::new(Vec::new()),
        }
    }

    fn log(&self, who: Who, ev: Ev) {
        self.log.lock().unwrap().push((who, ev));
    }

    pub fn take_log(&self) -> Vec<(Who, Ev)> {
        std::mem::take(&mut self.log.lock().unwrap())
    }

    fn trb(&self) -> u32 {
        self.task_registered_buffers.with(|p| unsafe { *p })
    }

    fn set_trb(&self, v: u32) {
        self.task_registered_buffers.with_mut(|p| unsafe { *p = v })
    }

    /// `refcount_inc_not_zero()`: no ordering on success.
    fn refcount_inc_not_zero(&self) -> bool {
        let mut old = self.refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                return false;
            }
            match self
                .refcnt
                .compare_exchange(old, old + 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => old = now,
            }
        }
    }

    /// `refcount_sub_and_test()`: release; acquire when it reaches zero; an
    /// underflow is the kernel's `refcount_warn_saturate(REFCOUNT_SUB_UAF)`.
    fn refcount_sub_and_test(&self, sub: u32) -> bool {
        let old = self.refcnt.fetch_sub(sub, Ordering::Release);
        assert!(
            old >= sub && old as i32 >= 0,
            "refcount_t: underflow; use-after-free (ref {old}, sub {sub})"
        );
        if old == sub {
            fence(Ordering::Acquire);
            return true;
        }
        false
    }

    /// `__ublk_complete_rq()`: the request ends.
    fn ublk_complete_rq(&self) {
        let out = self.outstanding.load(ghost());
        assert_eq!(out, 0, "request completed with {out} buffer(s) registered");
        self.started.store(false, Ordering::Release);
        let n = self.completions.fetch_add(1, ghost());
        assert_eq!(n, 0, "request completed twice");
    }

    /// `ublk_put_req_ref()`.
    fn ublk_put_req_ref(&self) {
        if self.refcount_sub_and_test(1) {
            self.ublk_complete_rq();
        }
    }

    /// `__ublk_check_and_get_req()`: a reference, or false.
    fn __ublk_check_and_get_req(&self, cur: Who) -> bool {
        let ok = self.refcount_inc_not_zero();
        self.log(cur, Ev::IncNotZero(ok));
        if !ok {
            return false;
        }
        if !self.started.load(Ordering::Acquire) {
            self.ublk_put_req_ref();
            self.log(cur, Ev::Started(false));
            return false;
        }
        self.log(cur, Ev::Started(true));
        true
    }

    /// `ublk_register_io_buf()`: the off-task path.
    pub fn ublk_register_io_buf(&self, cur: Who) -> i32 {
        self.log(cur, Ev::Lookup);
        if !self.__ublk_check_and_get_req(cur) {
            return EINVAL;
        }
        // io_buffer_register_bvec() succeeds (the table slot is free)
        self.outstanding.fetch_add(1, ghost());
        self.log(cur, Ev::Register(0));
        0
    }

    /// `ublk_daemon_register_io_buf()`: on `io->task`, no atomics.
    pub fn ublk_daemon_register_io_buf(&self, cur: Who) -> i32 {
        let new = self.trb() + 1;
        if !self.mutations.no_overflow_check && new >= self.init {
            return self.ublk_register_io_buf(cur);
        }
        self.set_trb(new);
        self.outstanding.fetch_add(1, ghost());
        self.log(cur, Ev::DaemonRegister(0));
        0
    }

    /// REGISTER_IO_BUF from thread `cur` (`ublk_ch_uring_cmd_local`).
    pub fn register(&self, cur: Who) -> i32 {
        if cur == self.task {
            self.ublk_daemon_register_io_buf(cur)
        } else {
            self.ublk_register_io_buf(cur)
        }
    }

    /// `ublk_io_release()`: the buffer's release callback, run by `cur`.
    pub fn ublk_io_release(&self, cur: Who) {
        self.outstanding.fetch_sub(1, ghost());
        let on_task = cur == self.task || self.mutations.trb_off_task;
        if on_task && self.trb() > 0 {
            self.set_trb(self.trb() - 1);
        } else {
            self.ublk_put_req_ref();
        }
        self.log(cur, Ev::Release);
    }

    /// COMMIT_AND_FETCH_REQ on the daemon: `ublk_sub_req_ref()`.
    pub fn commit(&self, cur: Who) {
        assert_eq!(cur, self.task, "COMMIT is issued by io->task");
        if self.mutations.fake_timeout_leak {
            // patch 10 before the B-11 fix: blk_should_fake_timeout() → return
            self.log(cur, Ev::Commit);
            return;
        }
        let sub = self.init.wrapping_sub(self.trb());
        self.set_trb(0);
        if self.refcount_sub_and_test(sub) {
            self.ublk_complete_rq();
        }
        self.log(cur, Ev::Commit);
    }

    /// After every thread has finished: the request completed exactly once
    /// and both counters are back to zero.
    pub fn check_final(&self) -> (u32, u32, u32) {
        let (r, t) = (self.refcnt.load(Ordering::Acquire), self.trb());
        let c = self.completions.load(ghost());
        assert_eq!(
            (c, r, t),
            (1, 0, 0),
            "at the end: completions {c}, io->ref {r}, task_registered_buffers {t} (a leak)"
        );
        (r, t, c)
    }
}

/// What one thread does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Register,
    /// Release the buffer this thread registered (skipped if it failed).
    Release,
    Commit,
}

/// Run thread `who`'s program on `io`.
pub fn run_thread(io: &UblkIo, who: Who, prog: &[Op]) {
    let mut held = 0u32;
    for op in prog {
        match op {
            Op::Register => {
                if io.register(who) == 0 {
                    held += 1;
                }
            }
            Op::Release if held > 0 => {
                held -= 1;
                io.ublk_io_release(who);
            }
            Op::Release => {}
            Op::Commit => io.commit(who),
        }
    }
}

/// One execution: threads 1.. spawned, thread 0 (the daemon) on the caller;
/// returns the log and the final `(io->ref, trb, completions)`.
pub fn execute(
    progs: &[Vec<Op>],
    init: u32,
    mutations: Mutations,
) -> (Vec<(Who, Ev)>, (u32, u32, u32)) {
    let io = std::sync::Arc::new(UblkIo::new(init, mutations));
    let hs: Vec<_> = progs[1..]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (io, p) = (io.clone(), p.clone());
            crate::sync::thread::spawn(move || run_thread(&io, (i + 1) as Who, &p))
        })
        .collect();
    run_thread(&io, DAEMON, &progs[0]);
    for h in hs {
        h.join().unwrap();
    }
    let finals = io.check_final();
    (io.take_log(), finals)
}

/// The threads one after another, in `order` (deterministic, any shim).
pub fn execute_sequential(
    progs: &[Vec<Op>],
    order: &[Who],
    init: u32,
    mutations: Mutations,
) -> (Vec<(Who, Ev)>, (u32, u32, u32)) {
    let io = UblkIo::new(init, mutations);
    for &w in order {
        run_thread(&io, w, &progs[w as usize]);
    }
    let finals = io.check_final();
    (io.take_log(), finals)
}
