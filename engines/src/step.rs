//! The step model under loom and shuttle: each actor of a scenario is a real
//! (loom or shuttle) thread that executes its own steps on the shared model
//! state; one step (`Model::apply`) is one critical section of a mutex.
//!
//! Blocking: an actor whose step returns `Outcome::Blocked` waits on its own
//! condition variable; an actor that steps wakes exactly the waiting actors
//! its new state enables, which then retry — no spinning, and no wake-up
//! that loom would have to interleave for nothing.  When every live thread
//! waits the execution ends:
//! that is a terminal state (a dead end if a declared actor has not
//! finished), not a hang of the engine.  A violation stops the execution and
//! fails it; the actor sequence (kept under the same mutex) is the trace.
//!
//! Which actors become threads ([`layout`]): those that can ever step (a
//! search of the model that does not stop at violations).  An actor that
//! never steps in any reachable state would only retry and wait, so leaving
//! it out changes no reachable state.  Each active actor is a thread of its
//! own when they fit loom's [`LOOM_MAX_THREADS`] (the main thread runs one
//! actor).  When they do not, actors that are never enabled in the same
//! reachable state may share a thread (e.g. `control`, whose only op is
//! START_DEV, and a submitter that waits for the disk START_DEV adds; or a
//! server and its ring's exit, which starts with the server's exit): such
//! a thread steps whichever of its actors is enabled — at most one, in
//! every reachable state — so in each state the same moves exist, one per
//! enabled actor, and the engine's schedules are exactly the actor
//! interleavings of the one-thread-per-actor run.  The grouping is a
//! minimum colouring of the "enabled together" graph of the search; the
//! engine re-checks at every step that at most one actor of a thread is
//! enabled and stops with an error otherwise.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use ublk_model::state::ActorId;
use ublk_model::{Model, Outcome, State, Violation};

pub use crate::layout::{describe, fits, layout};

/// loom's fixed thread limit (`loom::MAX_THREADS`, main thread included).
pub const LOOM_MAX_THREADS: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Exhaustive under a preemption bound (`None`: unbounded).
    Loom {
        preemption_bound: Option<usize>,
        max_branches: usize,
        /// Stop after this many executions (`None`: exhaust); a run that
        /// reaches it explored only part of the space.
        max_executions: Option<usize>,
    },
    ShuttleRandom {
        iterations: usize,
        seed: u64,
    },
    ShuttlePct {
        iterations: usize,
        depth: usize,
        seed: u64,
    },
    /// Exhaustive depth-first over the schedules with at most
    /// `preemption_bound` preemptions (`None`: all schedules), like loom's
    /// bound ([`crate::bounded_dfs`]); optionally capped in executions.
    ShuttleDfs {
        preemption_bound: Option<usize>,
        max_iterations: Option<usize>,
    },
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Loom { .. } => "loom",
            Engine::ShuttleRandom { .. } => "shuttle-random",
            Engine::ShuttlePct { .. } => "shuttle-pct",
            Engine::ShuttleDfs { .. } => "shuttle-dfs",
        }
    }
}

/// The summary of a state an engine collects (`None`: collect nothing).
pub type Summarize<P> = Option<Arc<dyn Fn(&Model, &State) -> P + Send + Sync>>;

/// What a run found.
#[derive(Debug)]
pub struct RunReport<P> {
    pub executions: u64,
    /// The first failing execution: its actor sequence and the violation.
    pub failure: Option<(Vec<ActorId>, Violation)>,
    /// A panic that is not a model violation (engine limits, loom errors).
    pub error: Option<String>,
    /// Terminal states where a declared actor had not finished.
    pub stuck: u64,
    /// Executions ended by a step back into a state they had visited.
    pub cycles: u64,
    /// Distinct summaries of every state reached.
    pub states: BTreeSet<P>,
    pub elapsed: Duration,
    /// The actors of each thread.
    pub threads: Vec<Vec<ActorId>>,
    /// The [`RunLimits`] limit that stopped the run before the engine was done.
    pub limit: Option<String>,
}

/// Limits every engine honours (the explorer's `--max-seconds` and
/// `--max-states`, the latter counted in executions here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunLimits {
    pub max_time: Option<Duration>,
    pub max_executions: Option<u64>,
}

/// A shuttle scheduler that starts no new execution once a limit is reached.
struct Limited<S> {
    /// Taken (and leaked) when a limit stopped the run: shuttle's random
    /// and PCT schedulers print a "failing seed" message when dropped before
    /// their iterations are done.
    inner: Option<S>,
    stopped: bool,
    limits: RunLimits,
    t0: Instant,
    started: u64,
    hit: Arc<StdMutex<Option<String>>>,
}

impl<S> Drop for Limited<S> {
    fn drop(&mut self) {
        if self.stopped {
            std::mem::forget(self.inner.take());
        }
    }
}

impl<S: shuttle::scheduler::Scheduler> shuttle::scheduler::Scheduler for Limited<S> {
    fn new_execution(&mut self) -> Option<shuttle::scheduler::Schedule> {
        let why = match self.limits {
            RunLimits {
                max_time: Some(t), ..
            } if self.t0.elapsed() >= t => Some(format!("time limit {}s reached", t.as_secs())),
            RunLimits {
                max_executions: Some(n),
                ..
            } if self.started >= n => Some(format!("execution limit {n} reached")),
            _ => None,
        };
        if let Some(w) = why {
            *self.hit.lock().unwrap() = Some(w);
            self.stopped = true;
            return None;
        }
        self.started += 1;
        self.inner.as_mut()?.new_execution()
    }
    fn next_task(
        &mut self,
        runnable: &[&shuttle::scheduler::Task],
        current: Option<shuttle::scheduler::TaskId>,
        yielding: bool,
    ) -> Option<shuttle::scheduler::TaskId> {
        self.inner.as_mut()?.next_task(runnable, current, yielding)
    }
    fn next_u64(&mut self) -> u64 {
        self.inner.as_mut().map_or(0, |s| s.next_u64())
    }
}

struct Out<P> {
    failure: Option<(Vec<ActorId>, Violation)>,
    cycles: u64,
    stuck: u64,
    states: BTreeSet<P>,
}

struct Ctx<P> {
    m: Model,
    threads: Vec<Vec<ActorId>>,
    invariants: bool,
    summarize: Summarize<P>,
    executions: AtomicU64,
    out: StdMutex<Out<P>>,
}

/// The shared part of one execution, under the model mutex.
struct Shared {
    s: State,
    path: Vec<ActorId>,
    /// Per thread: waiting for its step to become enabled.
    waiting: Vec<bool>,
    live: Vec<bool>,
    stop: bool,
    failure: Option<Violation>,
    /// States of this execution: a step back into one closes a cycle, and
    /// the execution ends there (every continuation from that state is
    /// explored from its first visit, by the schedules that take it).
    visited: HashSet<State>,
    cycle: bool,
}

impl Shared {
    /// No live thread can run: a terminal state.
    fn quiescent(&self) -> bool {
        self.live.iter().zip(&self.waiting).all(|(l, w)| !*l || *w)
    }
}

impl<P: Ord> Ctx<P> {
    fn record(&self, s: &State) {
        if let Some(f) = &self.summarize {
            let p = f(&self.m, s);
            self.out.lock().unwrap().states.insert(p);
        }
    }

    fn finish(&self, sh: &Shared) {
        let mut o = self.out.lock().unwrap();
        if let Some(v) = &sh.failure {
            if o.failure.is_none() {
                o.failure = Some((sh.path.clone(), v.clone()));
            }
        } else if sh.cycle {
            o.cycles += 1;
        } else if !self.m.all_done(&sh.s) {
            o.stuck += 1;
        }
    }

    /// Would actor `a` move (or break an invariant) in `s`?
    fn enabled(&self, s: &State, a: ActorId) -> bool {
        self.m.may_step(s, a) && !matches!(self.m.step(&mut s.clone(), a), Ok(Outcome::Blocked))
    }

    /// Would thread `i` move in `s`?
    fn thread_enabled(&self, s: &State, i: usize) -> bool {
        self.threads[i].iter().any(|&a| self.enabled(s, a))
    }

    /// The actor thread `i` steps in `s`: the only one of its actors that
    /// is enabled (none: the thread waits).
    fn pick(&self, s: &State, i: usize) -> Option<ActorId> {
        let g = &self.threads[i];
        if g.len() == 1 {
            return Some(g[0]);
        }
        let en: Vec<ActorId> = g.iter().copied().filter(|&a| self.enabled(s, a)).collect();
        assert!(
            en.len() <= 1,
            "thread layout broken: actors {en:?} of one thread are enabled together"
        );
        en.first().copied()
    }
}

/// Thread `i` of an execution: step the actors of `threads[i]` until they
/// are done, the execution stops, or no live thread can run.  A blocked thread waits
/// on its own condition variable; a thread that steps wakes exactly the
/// waiting threads whose step the new state enables.
macro_rules! actor_thread {
    ($name:ident, $sync:ident) => {
        // `$sync::hold()` / `release()`: the thread holds the model mutex
        // (only the shuttle DFS scheduler looks: no preemption inside)
        fn $name<P: Ord>(ctx: &Ctx<P>, sh: &($sync::Mutex<Shared>, Vec<$sync::Condvar>), i: usize) {
            let group = &ctx.threads[i];
            let (mx, cvs) = sh;
            // at the end threads leave one after another (each wakes the
            // next live one), so their exits are not interleaved for nothing
            let leave = |g: &mut Shared| {
                g.live[i] = false;
                if let Some(j) = (0..cvs.len()).find(|&j| g.live[j]) {
                    cvs[j].notify_one();
                }
            };
            let stop_all = |g: &mut Shared| {
                g.stop = true;
                leave(g);
            };
            let mut g = mx.lock().unwrap();
            $sync::hold();
            loop {
                if g.stop {
                    leave(&mut g);
                    return;
                }
                if group.iter().all(|&a| g.s.actors[a as usize].done) {
                    g.live[i] = false;
                    if g.quiescent() {
                        stop_all(&mut g);
                    }
                    return;
                }
                if g.waiting[i] {
                    // disabled by another thread's step: wait without trying
                    if g.quiescent() {
                        stop_all(&mut g);
                        return;
                    }
                    while g.waiting[i] && !g.stop {
                        g = cvs[i].wait(g).unwrap();
                        $sync::hold();
                    }
                    continue;
                }
                let Some(a) = ctx.pick(&g.s, i) else {
                    g.waiting[i] = true;
                    continue;
                };
                let r = if ctx.invariants {
                    ctx.m.apply(&mut g.s, a)
                } else {
                    ctx.m.step(&mut g.s, a)
                };
                match r {
                    Ok(Outcome::Stepped(_)) => {
                        g.path.push(a);
                        ctx.record(&g.s);
                        let st = g.s.clone();
                        if !g.visited.insert(st) {
                            g.cycle = true;
                            stop_all(&mut g);
                            return;
                        }
                        for j in 0..cvs.len() {
                            if !g.live[j] {
                                continue;
                            }
                            let en = ctx.thread_enabled(&g.s, j);
                            if g.waiting[j] && en {
                                cvs[j].notify_one();
                            }
                            g.waiting[j] = !en;
                        }
                        if g.quiescent() {
                            stop_all(&mut g);
                            return;
                        }
                        // a scheduling point between two steps
                        $sync::release();
                        drop(g);
                        g = mx.lock().unwrap();
                        $sync::hold();
                    }
                    Ok(Outcome::Blocked) => {
                        g.waiting[i] = true;
                        if g.quiescent() {
                            stop_all(&mut g);
                            return;
                        }
                        while g.waiting[i] && !g.stop {
                            g = cvs[i].wait(g).unwrap();
                            $sync::hold();
                        }
                    }
                    Err(v) => {
                        g.path.push(a);
                        g.failure = Some(v);
                        stop_all(&mut g);
                        return;
                    }
                }
            }
        }
    };
}

/// One execution: spawn a thread per actor (the last runs on the calling
/// thread), join, record; a violation panics (the engine's failure).
macro_rules! execution {
    ($name:ident, $thread_fn:ident, $sync:ident, $thread:ident) => {
        fn $name<P: Ord + Send + 'static>(ctx: &Arc<Ctx<P>>) {
            ctx.executions.fetch_add(1, Ordering::Relaxed);
            let init = ctx.m.init();
            ctx.record(&init);
            let n = ctx.threads.len();
            let waiting = (0..n).map(|i| !ctx.thread_enabled(&init, i)).collect();
            let sh = Arc::new((
                $sync::Mutex::new(Shared {
                    visited: HashSet::from([init.clone()]),
                    cycle: false,
                    s: init,
                    path: Vec::new(),
                    waiting,
                    live: vec![true; n],
                    stop: false,
                    failure: None,
                }),
                (0..n).map(|_| $sync::Condvar::new()).collect::<Vec<_>>(),
            ));
            let hs: Vec<_> = (0..n - 1)
                .map(|i| {
                    let (c, s) = (ctx.clone(), sh.clone());
                    $thread::spawn(move || $thread_fn(&c, &s, i))
                })
                .collect();
            $thread_fn(ctx, &sh, n - 1);
            for h in hs {
                h.join().unwrap();
            }
            let g = sh.0.lock().unwrap();
            ctx.finish(&g);
            if let Some(v) = &g.failure {
                panic!("ublk model violation {}: {}", v.inv, v.msg);
            }
        }
    };
}

mod loom_sync {
    pub use loom::sync::{Condvar, Mutex};
    pub fn hold() {}
    pub fn release() {}
}
mod shuttle_sync {
    pub use crate::bounded_dfs::{hold, release};
    pub use shuttle::sync::{Condvar, Mutex};
}
use loom::thread as loom_thread;
use shuttle::thread as shuttle_thread;

actor_thread!(loom_actor, loom_sync);
actor_thread!(shuttle_actor, shuttle_sync);
execution!(loom_execution, loom_actor, loom_sync, loom_thread);
execution!(
    shuttle_execution,
    shuttle_actor,
    shuttle_sync,
    shuttle_thread
);

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Run `m` under `engine` with one thread per actor in `threads`.
pub fn run<P: Ord + Send + 'static>(
    m: &Model,
    engine: Engine,
    threads: Vec<Vec<ActorId>>,
    invariants: bool,
    summarize: Summarize<P>,
) -> RunReport<P> {
    run_limited(
        m,
        engine,
        threads,
        invariants,
        summarize,
        RunLimits::default(),
    )
}

/// As [`run`], stopping at `limits` (the report names the limit reached).
pub fn run_limited<P: Ord + Send + 'static>(
    m: &Model,
    engine: Engine,
    threads: Vec<Vec<ActorId>>,
    invariants: bool,
    summarize: Summarize<P>,
    limits: RunLimits,
) -> RunReport<P> {
    let t0 = Instant::now();
    let hit: Arc<StdMutex<Option<String>>> = Arc::new(StdMutex::new(None));
    let limited = |inner| Limited {
        inner: Some(inner),
        stopped: false,
        limits,
        t0,
        started: 0,
        hit: hit.clone(),
    };
    let ctx = Arc::new(Ctx {
        m: m.clone(),
        threads: threads.clone(),
        invariants,
        summarize,
        executions: AtomicU64::new(0),
        out: StdMutex::new(Out {
            failure: None,
            cycles: 0,
            stuck: 0,
            states: BTreeSet::new(),
        }),
    });
    let c = ctx.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || match engine {
        Engine::Loom {
            preemption_bound,
            max_branches,
            max_executions,
        } => {
            let mut b = loom::model::Builder::new();
            b.preemption_bound = preemption_bound;
            b.max_branches = max_branches;
            // loom counts from 1: `max_permutations` n runs n - 1 executions
            let cap = limits
                .max_executions
                .map(|n| n.saturating_add(1).min(usize::MAX as u64) as usize);
            b.max_permutations = match (max_executions, cap) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            b.max_duration = limits.max_time;
            // loom looks at its limits only every checkpoint_interval executions
            b.checkpoint_interval = 1;
            b.max_threads = LOOM_MAX_THREADS;
            // a hook left by an earlier shuttle run would fire (and print
            // its own error) on every unwind loom does; a failure's text is
            // kept from the payload instead
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                b.check(move || loom_execution(&c))
            }));
            std::panic::set_hook(hook);
            if let Err(e) = r {
                std::panic::resume_unwind(e);
            }
        }
        Engine::ShuttleRandom { iterations, seed } => {
            let s = shuttle::scheduler::RandomScheduler::new_from_seed(seed, iterations);
            shuttle::Runner::new(
                limited(Box::new(s) as Box<dyn shuttle::scheduler::Scheduler + Send>),
                shuttle::Config::new(),
            )
            .run(move || shuttle_execution(&c));
        }
        Engine::ShuttlePct {
            iterations,
            depth,
            seed,
        } => {
            let s = shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, iterations);
            shuttle::Runner::new(
                limited(Box::new(s) as Box<dyn shuttle::scheduler::Scheduler + Send>),
                shuttle::Config::new(),
            )
            .run(move || shuttle_execution(&c));
        }
        Engine::ShuttleDfs {
            preemption_bound,
            max_iterations,
        } => {
            let s = crate::bounded_dfs::PreemptionBoundedDfs::new(preemption_bound, max_iterations);
            shuttle::Runner::new(
                limited(Box::new(s) as Box<dyn shuttle::scheduler::Scheduler + Send>),
                shuttle::Config::new(),
            )
            .run(move || shuttle_execution(&c));
        }
    }));
    let mut o = ctx.out.lock().unwrap();
    let executions = ctx.executions.load(Ordering::Relaxed);
    let mut limit = hit.lock().unwrap().take();
    if limit.is_none() && matches!(engine, Engine::Loom { .. }) && o.failure.is_none() {
        // loom stops quietly at max_duration / max_permutations
        if let Some(t) = limits.max_time.filter(|t| t0.elapsed() >= *t) {
            limit = Some(format!("time limit {}s reached", t.as_secs()));
        } else if let Some(n) = limits.max_executions.filter(|n| executions >= *n) {
            limit = Some(format!("execution limit {n} reached"));
        }
    }
    let error = match (&r, &o.failure) {
        (Err(e), None) => Some(panic_text(e.as_ref())),
        _ => None,
    };
    RunReport {
        executions: ctx.executions.load(Ordering::Relaxed),
        failure: o.failure.take(),
        error,
        stuck: o.stuck,
        cycles: o.cycles,
        states: std::mem::take(&mut o.states),
        elapsed: t0.elapsed(),
        threads,
        limit,
    }
}
