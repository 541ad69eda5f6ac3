//! A preemption-bounded depth-first shuttle scheduler: every schedule with
//! at most `B` preemptions, each exactly once, and then it stops by itself.
//!
//! A *preemption* is a context switch away from a current task that is still
//! runnable (a switch away from a task that blocked or finished is free).
//! This is the bound loom uses (`--preemption-bound`) and the one of
//! Musuvathi & Qadeer's iterative context bounding: most concurrency bugs
//! need very few preemptions, and the number of schedules with at most `B`
//! of them grows polynomially in the number of scheduling points, where the
//! unbounded space (shuttle's `DfsScheduler`) grows exponentially.
//!
//! The search is a stateless DFS over the tree of scheduling decisions.
//! Each level remembers the choices it may take — the current task first
//! (no preemption), then, while the execution has used fewer than `B`
//! preemptions, every other runnable task — and which one it took.  The
//! next execution replays the prefix up to the deepest level with a choice
//! left and takes that choice.  A replayed level must see the same runnable
//! tasks as the first time (the test must be deterministic); if it does not,
//! the scheduler panics rather than silently explore a different tree.
//!
//! One reduction, opted into by the test: a task that marks itself as
//! holding the lock that guards *all* shared state ([`hold`], [`release`])
//! is not preempted until it releases it.  Every other task can then only
//! run local code up to its own acquisition of that lock, so a preemption
//! there reaches nothing a preemption at the release does not (the step
//! engine's model mutex; shuttle's own DFS has no such reduction and
//! enumerates those switches too).

use shuttle::scheduler::{Schedule, Scheduler, Task, TaskId};
use std::cell::Cell;

thread_local! {
    /// The shuttle task that holds the global lock, if one said so.
    static HOLDER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The calling shuttle task now holds the lock that guards every piece of
/// shared state: no preemption of it until [`release`].
pub fn hold() {
    HOLDER.with(|h| h.set(Some(usize::from(shuttle::current::me()))));
}

/// The calling task is about to release that lock.
pub fn release() {
    HOLDER.with(|h| h.set(None));
}

/// One scheduling decision of the current DFS path.
#[derive(Debug)]
struct Level {
    /// The runnable tasks the level saw (for the determinism check).
    runnable: Vec<usize>,
    /// The choices allowed here: the current task first, if runnable.
    choices: Vec<usize>,
    /// Index into `choices` of the choice this path takes.
    taken: usize,
}

/// The search itself, over task numbers (independent of shuttle's types so
/// it can be tested on an abstract program too).
#[derive(Debug)]
pub struct BoundedDfs {
    bound: Option<usize>,
    max_executions: Option<usize>,
    executions: usize,
    levels: Vec<Level>,
    depth: usize,
    preemptions: usize,
}

impl BoundedDfs {
    /// `bound`: at most this many preemptions per schedule (`None`: every
    /// schedule); `max_executions`: stop early after that many.
    pub fn new(bound: Option<usize>, max_executions: Option<usize>) -> Self {
        BoundedDfs {
            bound,
            max_executions,
            executions: 0,
            levels: Vec::new(),
            depth: 0,
            preemptions: 0,
        }
    }

    /// Executions started so far.
    pub fn executions(&self) -> usize {
        self.executions
    }

    /// Start the next execution; false when the bounded space is exhausted
    /// (or the execution cap is reached).
    pub fn next_execution(&mut self) -> bool {
        if self.max_executions.is_some_and(|m| self.executions >= m) {
            return false;
        }
        if self.executions > 0 {
            // backtrack: drop exhausted levels, then take the next choice
            while self
                .levels
                .last()
                .is_some_and(|l| l.taken + 1 >= l.choices.len())
            {
                self.levels.pop();
            }
            match self.levels.last_mut() {
                Some(l) => l.taken += 1,
                None => return false,
            }
        }
        self.executions += 1;
        self.depth = 0;
        self.preemptions = 0;
        true
    }

    /// The task to run at the next scheduling point; `atomic`: the current
    /// task must not be preempted here.
    pub fn choose(&mut self, runnable: &[usize], current: Option<usize>, atomic: bool) -> usize {
        assert!(
            !runnable.is_empty(),
            "a scheduling point with nothing runnable"
        );
        let cur = current.filter(|c| runnable.contains(c));
        if self.depth == self.levels.len() {
            let choices = match cur {
                Some(c) => {
                    let mut v = vec![c];
                    if !atomic && self.bound.is_none_or(|b| self.preemptions < b) {
                        v.extend(runnable.iter().copied().filter(|&t| t != c));
                    }
                    v
                }
                None => runnable.to_vec(),
            };
            self.levels.push(Level {
                runnable: runnable.to_vec(),
                choices,
                taken: 0,
            });
        }
        let l = &self.levels[self.depth];
        assert_eq!(
            l.runnable, runnable,
            "nondeterministic test: scheduling point {} saw other runnable tasks on replay",
            self.depth
        );
        let next = l.choices[l.taken];
        if cur.is_some_and(|c| c != next) {
            self.preemptions += 1;
        }
        self.depth += 1;
        next
    }
}

/// [`BoundedDfs`] as a shuttle scheduler.
#[derive(Debug)]
pub struct PreemptionBoundedDfs(pub BoundedDfs);

impl PreemptionBoundedDfs {
    pub fn new(bound: Option<usize>, max_executions: Option<usize>) -> Self {
        PreemptionBoundedDfs(BoundedDfs::new(bound, max_executions))
    }
}

impl Scheduler for PreemptionBoundedDfs {
    fn new_execution(&mut self) -> Option<Schedule> {
        HOLDER.with(|h| h.set(None));
        self.0.next_execution().then(|| Schedule::new(0))
    }

    fn next_task(
        &mut self,
        runnable: &[&Task],
        current: Option<TaskId>,
        _is_yielding: bool,
    ) -> Option<TaskId> {
        let ids: Vec<usize> = runnable.iter().map(|t| usize::from(t.id())).collect();
        let cur = current.map(usize::from);
        let atomic = cur.is_some() && HOLDER.with(|h| h.get()) == cur;
        Some(TaskId::from(self.0.choose(&ids, cur, atomic)))
    }

    fn next_u64(&mut self) -> u64 {
        panic!("the preemption-bounded DFS scheduler does not enumerate random values");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuttle::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use shuttle::sync::Arc;
    use std::sync::Mutex;

    fn binom(n: usize, k: usize) -> usize {
        if k > n {
            return 0;
        }
        (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
    }

    /// Interleavings of two threads of `n` steps each with at most `b`
    /// preemptions.  A word over {A, B} with `r` runs switches `r − 1`
    /// times; all but the last switch leave a thread with steps to go, so
    /// it has `r − 2` preemptions.  Words with `2k` runs: `2·C(n−1,k−1)²`;
    /// with `2k+1` runs: `2·C(n−1,k)·C(n−1,k−1)`.
    fn closed_form(n: usize, b: usize) -> usize {
        (2..=b + 2)
            .map(|r| {
                let k = r / 2;
                if r % 2 == 0 {
                    2 * binom(n - 1, k - 1).pow(2)
                } else {
                    2 * binom(n - 1, k) * binom(n - 1, k - 1)
                }
            })
            .sum()
    }

    /// Run the abstract program "threads 0 and 1, `n` steps each, a
    /// scheduling point before every step" to exhaustion; returns the
    /// executions and the distinct step words.
    fn abstract_runs(
        n: usize,
        b: Option<usize>,
    ) -> (usize, std::collections::BTreeSet<Vec<usize>>) {
        let mut dfs = BoundedDfs::new(b, None);
        let mut words = std::collections::BTreeSet::new();
        while dfs.next_execution() {
            let mut left = [n, n];
            let mut cur = None;
            let mut word = Vec::new();
            loop {
                let runnable: Vec<usize> = (0..2).filter(|&t| left[t] > 0).collect();
                if runnable.is_empty() {
                    break;
                }
                let t = dfs.choose(&runnable, cur, false);
                left[t] -= 1;
                word.push(t);
                cur = Some(t);
            }
            words.insert(word);
        }
        (dfs.executions(), words)
    }

    #[test]
    fn counts_match_the_closed_form_and_each_schedule_runs_once() {
        for n in 1..=6 {
            for b in 0..=4 {
                let (execs, words) = abstract_runs(n, Some(b));
                assert_eq!(execs, closed_form(n, b), "n={n} b={b}");
                assert_eq!(words.len(), execs, "n={n} b={b}: a schedule ran twice");
            }
            // unbounded: every interleaving, C(2n, n)
            assert_eq!(abstract_runs(n, None).0, binom(2 * n, n));
            // a bound ≥ 2n − 2 already allows all of them
            assert_eq!(closed_form(n, 2 * n - 2), binom(2 * n, n));
        }
    }

    /// Every schedule of shuttle's own unbounded DFS: its preemptions and
    /// whether the test body flagged it as failing.
    type Log = Arc<Mutex<Vec<(usize, bool)>>>;

    struct Recording {
        inner: shuttle::scheduler::DfsScheduler,
        log: Log,
    }

    impl Scheduler for Recording {
        fn new_execution(&mut self) -> Option<Schedule> {
            let s = self.inner.new_execution();
            if s.is_some() {
                self.log.lock().unwrap().push((0, false));
            }
            s
        }
        fn next_task(
            &mut self,
            runnable: &[&Task],
            current: Option<TaskId>,
            y: bool,
        ) -> Option<TaskId> {
            let next = self.inner.next_task(runnable, current, y)?;
            if current.is_some_and(|c| c != next && runnable.iter().any(|t| t.id() == c)) {
                self.log.lock().unwrap().last_mut().unwrap().0 += 1;
            }
            Some(next)
        }
        fn next_u64(&mut self) -> u64 {
            self.inner.next_u64()
        }
    }

    /// Two threads: the main thread stores 1..=n into `x`, the other loads
    /// `x` `n` times; the execution fails if the loads began with exactly
    /// 1, 2, …, `k` (a ping-pong that needs more preemptions as `k` grows).
    /// With a log the failure is recorded there instead of panicking.
    fn ping_pong(n: usize, k: usize, log: Option<Log>) -> impl Fn() + Send + Sync + 'static {
        move || {
            let x = Arc::new(AtomicUsize::new(0));
            let y = x.clone();
            let log = log.clone();
            let h = shuttle::thread::spawn(move || {
                let seen: Vec<usize> = (0..n).map(|_| y.load(SeqCst)).collect();
                let bad = seen.iter().take(k).copied().eq(1..=k);
                match &log {
                    Some(l) => l.lock().unwrap().last_mut().unwrap().1 |= bad,
                    None => assert!(!bad, "saw the ping-pong 1..={k}"),
                }
            });
            for i in 1..=n {
                x.store(i, SeqCst);
            }
            h.join().unwrap();
        }
    }

    /// Executions of the bounded scheduler on `f`, and whether one failed.
    fn run_bounded(f: impl Fn() + Send + Sync + 'static, b: Option<usize>) -> (usize, bool) {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = count.clone();
        let sched = PreemptionBoundedDfs::new(b, None);
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shuttle::Runner::new(sched, shuttle::Config::new()).run(move || {
                c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                f()
            })
        }));
        std::panic::set_hook(hook);
        (count.load(std::sync::atomic::Ordering::Relaxed), r.is_err())
    }

    /// (preemptions, failing) of every schedule of `ping_pong(n, k)`,
    /// enumerated by shuttle's unbounded DFS.
    fn all_schedules(n: usize, k: usize) -> Vec<(usize, bool)> {
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let s = Recording {
            inner: shuttle::scheduler::DfsScheduler::new(None, false),
            log: log.clone(),
        };
        shuttle::Runner::new(s, shuttle::Config::new()).run(ping_pong(n, k, Some(log.clone())));
        let v = log.lock().unwrap().clone();
        v
    }

    #[test]
    fn on_shuttle_it_runs_exactly_the_schedules_within_the_bound() {
        let all = all_schedules(3, 4); // k > n: nothing fails
        assert!(all.len() > 20 && all.iter().all(|s| !s.1), "{all:?}");
        let max = all.iter().map(|s| s.0).max().unwrap();
        for b in 0..=max + 1 {
            let want = all.iter().filter(|s| s.0 <= b).count();
            assert_eq!(
                run_bounded(ping_pong(3, 4, None), Some(b)),
                (want, false),
                "bound {b}"
            );
        }
        assert_eq!(run_bounded(ping_pong(3, 4, None), None).0, all.len());
    }

    #[test]
    fn finds_a_bug_needing_exactly_b_preemptions_and_not_one_needing_more() {
        // the fewest preemptions of a failing schedule, for k = 1, 2, 3
        let need: Vec<usize> = (1..=3)
            .map(|k| {
                let all = all_schedules(3, k);
                all.iter().filter(|s| s.1).map(|s| s.0).min().unwrap()
            })
            .collect();
        assert!(
            need[0] >= 1 && need.windows(2).all(|w| w[0] < w[1]),
            "{need:?}"
        );
        for (i, &b) in need.iter().enumerate() {
            let k = i + 1;
            // a bug needing exactly b preemptions: found under bound b …
            assert!(run_bounded(ping_pong(3, k, None), Some(b)).1, "k={k} b={b}");
            // … and not under b − 1
            if b > 0 {
                assert!(!run_bounded(ping_pong(3, k, None), Some(b - 1)).1, "k={k}");
            }
            // the next bug needs more than b: bound b does not find it
            if k < 3 {
                assert!(
                    !run_bounded(ping_pong(3, k + 1, None), Some(b)).1,
                    "k={}",
                    k + 1
                );
            }
        }
    }
}
