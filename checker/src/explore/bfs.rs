//! The stateful explorer: breadth-first (shortest counterexample) or
//! depth-first over the model's state graph, with a fingerprint visited set.
//!
//! ```ignore
//! let report = Explorer::new(&model).breadth_first().max_states(1_000_000).run();
//! ```

use crate::explore::signature::Signature;
use rustc_hash::FxHashSet;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use ublk_model::properties::Before;
use ublk_model::state::ActorId;
use ublk_model::{Func, Goal, Model, Move, Outcome, State, StepInfo, Violation};

pub use crate::explore::store::{fingerprint, omission_bound};
use crate::explore::store::{pack, Frontier, Scratch};
use crate::explore::symmetry::Symmetry;
use crate::explore::tree::{path_in, stepped, Full, Tree};

/// Peak resident set size of this process in bytes (Linux `/proc/self/status` VmHWM;
/// `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}

/// Current resident set size in bytes (`/proc/self/statm`).
fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What a long exploration reports while it runs (states, depth, rate, memory).
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub states: u64,
    pub transitions: u64,
    pub depth: u32,
    pub elapsed: Duration,
    pub rss_bytes: Option<u64>,
}

/// Where [`Explorer::progress`] reports.
pub type ProgressSink<'a> = dyn Fn(&Progress) + Sync + 'a;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Bfs,
    Dfs,
}

/// Why exploration stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every reachable state was visited.
    Exhausted,
    Violation,
    StateLimit,
    TimeLimit,
    /// `--max-memory`: the process's resident set reached the limit.
    MemoryLimit,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub stop: Stop,
    pub states: u64,
    pub transitions: u64,
    pub max_depth: u32,
    /// States where no actor can move but a declared actor has not finished
    /// (a hang candidate; liveness proper is checked separately).
    pub stuck: u64,
    pub elapsed: Duration,
    /// Path (actor per step) to the violating step, the violation last.
    pub counterexample: Option<(Vec<Move>, Violation)>,
    /// With `observe`: every (actor, step, user-visible result) seen.
    pub observed: BTreeSet<(String, Func, i32)>,
    /// With `all_violations`: every distinct violation signature with its first (with BFS,
    /// shortest) path, in the order found. The violating state is not expanded, so the
    /// consequences of one bug on that path are not reported as others.
    pub violations: Vec<(Signature, Vec<Move>, Violation)>,
    /// With `sometimes`: each goal reached, with its first (with BFS, shortest) path, in
    /// the order the goals were given; goals never reached are absent.
    pub discoveries: Vec<(Goal, Vec<Move>)>,
    /// What the explorer itself stored, in bytes (not the process's resident set).
    pub memory: Memory,
}

/// The explorer's own storage at the end of a run (capacities, not what the allocator
/// took from the system): what "bytes per state" means without the program around it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// The visited set.
    pub visited: u64,
    /// Parent links (4 bytes a state; 8 with the move, where the state graph is kept), for
    /// counterexamples.
    pub parents: u64,
    /// The largest frontier (packed states waiting), sampled as it grew.
    pub frontier_peak: u64,
}

impl Memory {
    /// Visited set and parent links per distinct state: what every state costs for good.
    pub fn stored_per_state(&self, states: u64) -> f64 {
        (self.visited + self.parents) as f64 / states.max(1) as f64
    }
}

impl Report {
    pub fn states_per_sec(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub struct Explorer<'a> {
    model: &'a Model,
    order: Order,
    max_states: u64,
    max_time: Duration,
    observe: bool,
    invariants: bool,
    all_violations: bool,
    /// "Sometimes" goals to look for (stateright's discoveries).
    goals: Vec<Goal>,
    /// Keep whole states in the visited set instead of fingerprints.
    exact: bool,
    /// Every alternative of a step, or only the first ([`Explorer::alternatives`]).
    alternatives: bool,
    /// Stop when the resident set reaches this many bytes.
    max_memory: Option<u64>,
    /// Called about every `progress_every` expanded states.
    progress: Option<(u64, &'a ProgressSink<'a>)>,
    /// Explore from this state (reached from the initial one by the path) instead.
    start: Option<(State, Vec<Move>)>,
    /// Store one state per orbit of interchangeable actors ([`Symmetry`]).
    symmetry: Option<Symmetry>,
    /// Partial-order reduction: from a state with a local step, only that step.
    por: bool,
}

impl<'a> Explorer<'a> {
    pub fn new(model: &'a Model) -> Self {
        Explorer {
            model,
            order: Order::Bfs,
            max_states: 5_000_000,
            max_time: Duration::from_secs(600),
            observe: false,
            invariants: true,
            all_violations: false,
            goals: Vec::new(),
            exact: false,
            alternatives: true,
            max_memory: None,
            progress: None,
            start: None,
            symmetry: None,
            por: false,
        }
    }
    /// Symmetry reduction ([`Symmetry`]): states that differ only by a swap of
    /// interchangeable actors are stored once. Safety only — [`Explorer::run_graph`]
    /// refuses it (the liveness pass needs the state graph itself). With
    /// [`Explorer::observe`], a result is listed under the name of whichever of two
    /// interchangeable submitters the search happened to step.
    pub fn symmetry(mut self, on: bool) -> Self {
        self.symmetry = on
            .then(|| Symmetry::of(self.model))
            .filter(|y| !y.is_trivial());
        self
    }
    /// Partial-order reduction: from a state where some actor's next step is local
    /// ([`Model::local_step`]: independent of everything any other actor can do, read by
    /// no property), explore only that step (the lowest such actor's). Every reachable
    /// violation, goal and dead end stays reachable; a counterexample may take a local
    /// step earlier than the shortest one would. Safety only, like [`Explorer::symmetry`].
    pub fn partial_order(mut self, on: bool) -> Self {
        self.por = on;
        self
    }
    /// Explore what is reachable from the state `path` leads to (e.g. where a simulated
    /// episode stopped); every reported path still starts at the initial state.
    pub fn from_path(mut self, path: &[Move]) -> Result<Self, String> {
        let mut s = self.model.init();
        for (i, &a) in path.iter().enumerate() {
            match self.model.step(&mut s, a) {
                Ok(Outcome::Stepped(_)) => {}
                _ => return Err(format!("step {i}: actor {a} cannot move here")),
            }
        }
        self.start = Some((s, path.to_vec()));
        Ok(self)
    }
    /// Go on past a violation (SPIN's `-c0`): the violating state is not expanded, every
    /// distinct signature is kept with its shortest path ([`Report::violations`]).
    pub fn all_violations(mut self, on: bool) -> Self {
        self.all_violations = on;
        self
    }
    /// Keep whole states, not fingerprints, in the visited set: no two states can be
    /// merged (more memory; for small configurations and to cross-check fingerprints).
    pub fn exact(mut self, on: bool) -> Self {
        self.exact = on;
        self
    }
    /// Take every alternative of a step (default), or only the first — the schedules
    /// alone, as loom and shuttle explore them (`agree` compares like with like).
    pub fn alternatives(mut self, on: bool) -> Self {
        self.alternatives = on;
        self
    }
    /// Stop (INCOMPLETE, what was found so far kept) once the process's resident set
    /// reaches `bytes`.
    pub fn max_memory(mut self, bytes: Option<u64>) -> Self {
        self.max_memory = bytes;
        self
    }
    /// Report progress to `f` about every `every` expanded states.
    pub fn progress(mut self, every: u64, f: &'a ProgressSink<'a>) -> Self {
        self.progress = Some((every.max(1), f));
        self
    }
    /// Look for these goals on every transition and report the first path to each
    /// ([`Report::discoveries`]): a goal never reached means the run never showed the
    /// behaviour, and a PASS about it is vacuous.
    pub fn sometimes(mut self, goals: &[Goal]) -> Self {
        self.goals = goals.to_vec();
        self
    }
    /// Check the state invariants after each step (default); the checks made
    /// inside steps (S1, S2, S3, S7, S8, double completion) always apply.
    pub fn state_invariants(mut self, on: bool) -> Self {
        self.invariants = on;
        self
    }
    /// Record every user-visible result (for errno tables and tests).
    pub fn observe(mut self) -> Self {
        self.observe = true;
        self
    }
    pub fn breadth_first(mut self) -> Self {
        self.order = Order::Bfs;
        self
    }
    pub fn depth_first(mut self) -> Self {
        self.order = Order::Dfs;
        self
    }
    pub fn order(mut self, o: Order) -> Self {
        self.order = o;
        self
    }
    pub fn max_states(mut self, n: u64) -> Self {
        self.max_states = n;
        self
    }
    pub fn max_time(mut self, d: Duration) -> Self {
        self.max_time = d;
        self
    }

    pub fn run(&self) -> Report {
        self.explore(None::<&mut dyn FnMut(&State)>).0
    }

    /// Explore and keep the state graph: a summary of every state (from
    /// `summarize`, called once per distinct state, in index order), the
    /// BFS parent tree and every transition.
    pub fn run_graph<T>(&self, mut summarize: impl FnMut(&State) -> T) -> (Report, Graph<T>) {
        let (r, g) = self.explore(Some(&mut summarize));
        (r, g.expect("graph requested"))
    }

    fn explore<T>(
        &self,
        mut summarize: Option<&mut dyn FnMut(&State) -> T>,
    ) -> (Report, Option<Graph<T>>) {
        let m = self.model;
        let t0 = Instant::now();
        let keep = summarize.is_some();
        assert!(
            !(keep && (self.symmetry.is_some() || self.por)),
            "the state graph is not kept under a reduction"
        );
        let sym = self.symmetry.as_ref();
        // a second buffer for the canonical member's packing, beside the state's own
        let mut canon_scratch = Scratch::default();
        // the visited states and, per state, how it was first reached
        let mut tree = Tree::new(self.exact, keep);
        let mut nodes: Vec<T> = Vec::new();
        let mut edges: Vec<(u32, u32, Move)> = Vec::new();
        let (init, root) = match &self.start {
            Some((s, p)) => (s.clone(), p.clone()),
            None => (m.init(), Vec::new()),
        };
        let mut scratch = Scratch::default();
        let packed = pack(&init, &mut scratch);
        let key = Symmetry::stored_key(sym, &init, packed, &mut canon_scratch);
        let _ = tree.probe(key, u32::MAX, Move::default(), u64::MAX);
        if let Some(f) = summarize.as_mut() {
            nodes.push(f(&init));
        }
        let mut work = Frontier::default();
        work.push(0, 0, packed);
        let step = stepped(self.invariants);
        // the moves from the model's initial state to state `i`
        let path_to = |tree: &Tree, i: u32| -> Vec<Move> {
            [&root[..], &tree.path(i, m, &init, &step, sym)].concat()
        };
        let (mut transitions, mut stuck, mut max_depth) = (0u64, 0u64, 0u32);
        let mut stop = Stop::Exhausted;
        let mut cex = None;
        let mut observed = BTreeSet::new();
        let mut violations = Vec::new();
        let mut signatures: FxHashSet<Signature> = FxHashSet::default();
        let mut halted = Vec::new();
        let mut pending: Vec<Goal> = self.goals.clone();
        let mut found: Vec<(Goal, Vec<Move>)> = Vec::new();
        let mut frontier_peak = 0u64;
        'outer: while let Some((idx, depth, s)) = work.pop(self.order == Order::Bfs) {
            if (idx & 0x3ff) == 0 {
                frontier_peak = frontier_peak.max(work.bytes());
                if t0.elapsed() > self.max_time {
                    stop = Stop::TimeLimit;
                    break;
                }
                if let (Some(max), Some(rss)) = (self.max_memory, rss_bytes()) {
                    if rss >= max {
                        stop = Stop::MemoryLimit;
                        break;
                    }
                }
            }
            if let Some((every, f)) = self.progress {
                if u64::from(idx) % every == 0 && idx > 0 {
                    f(&Progress {
                        states: tree.len() as u64,
                        transitions,
                        depth: max_depth,
                        elapsed: t0.elapsed(),
                        rss_bytes: rss_bytes(),
                    });
                }
            }
            let mut moved = false;
            let before = (!pending.is_empty()).then(|| Before::of(m, &s));
            let local = match self.por {
                true => (0..m.actors.len() as ActorId).find(|&a| m.local_step(&s, a)),
                false => None,
            };
            let only = |a: &Move| local.is_none_or(|l| a.actor == l);
            for a in m
                .moves(&s)
                .filter(|a| (self.alternatives || a.choice == 0) && only(a))
            {
                let mut n = s.clone();
                let step = if self.invariants {
                    m.apply_enabled(&mut n, a)
                } else {
                    m.step_enabled(&mut n, a)
                };
                match step {
                    Ok(Outcome::Blocked) => continue,
                    Ok(Outcome::Stepped(info)) => {
                        moved = true;
                        transitions += 1;
                        if let (true, Some(r)) = (self.observe, info.result) {
                            observed.insert((
                                m.actors[a.actor as usize].name.clone(),
                                info.func,
                                r,
                            ));
                        }
                        if let Some(b) = before {
                            // a pending goal is judged once per transition; only a hit
                            // (rare) allocates a path and re-partitions the pending list
                            if let Some(i) = pending.iter().position(|g| g.reached(m, b, &info, &n))
                            {
                                let mut path = path_to(&tree, idx);
                                path.push(a);
                                let later: Vec<Goal> = pending.split_off(i + 1);
                                found.push((pending.pop().expect("the hit"), path.clone()));
                                for g in later {
                                    if g.reached(m, b, &info, &n) {
                                        found.push((g, path.clone()));
                                    } else {
                                        pending.push(g);
                                    }
                                }
                            }
                        }
                        let packed = pack(&n, &mut scratch);
                        let key = Symmetry::stored_key(sym, &n, packed, &mut canon_scratch);
                        let id = tree.len() as u32;
                        match tree.probe(key, idx, a, self.max_states) {
                            Ok(Some(to)) => {
                                if keep {
                                    edges.push((idx, to, a));
                                }
                                continue;
                            }
                            Ok(None) => {}
                            Err(Full) => {
                                stop = Stop::StateLimit;
                                break 'outer;
                            }
                        }
                        let d = depth + 1;
                        max_depth = max_depth.max(d);
                        if let Some(f) = summarize.as_mut() {
                            nodes.push(f(&n));
                            edges.push((idx, id, a));
                        }
                        work.push(id, d, packed);
                    }
                    Err(v) => {
                        transitions += 1;
                        if !self.all_violations {
                            let mut path = path_to(&tree, idx);
                            path.push(a);
                            cex = Some((path, v));
                            stop = Stop::Violation;
                            break 'outer;
                        }
                        moved = true;
                        if halted.last() != Some(&idx) {
                            halted.push(idx);
                        }
                        let sig = Signature::of_violation(m, &s, a.actor, &v);
                        if signatures.insert(sig.clone()) {
                            let mut path = path_to(&tree, idx);
                            path.push(a);
                            if cex.is_none() {
                                cex = Some((path.clone(), v.clone()));
                            }
                            violations.push((sig, path, v));
                        }
                    }
                }
            }
            if !moved && !m.all_done(&s) {
                stuck += 1;
            }
        }
        let report = Report {
            stop,
            states: tree.len() as u64,
            transitions,
            max_depth,
            stuck,
            elapsed: t0.elapsed(),
            counterexample: cex,
            observed,
            violations,
            discoveries: self
                .goals
                .iter()
                .filter_map(|g| found.iter().find(|(f, _)| f == g).cloned())
                .collect(),
            memory: Memory {
                visited: tree.bytes().0,
                parents: tree.bytes().1,
                frontier_peak: frontier_peak.max(work.bytes()),
            },
        };
        (
            report,
            keep.then_some(Graph {
                nodes,
                parent: tree.links(),
                edges,
                halted,
                root,
            }),
        )
    }
}

/// The explored state graph (see [`Explorer::run_graph`]).  State 0 is the
/// initial state; with BFS the parent tree gives shortest paths.
pub struct Graph<T> {
    /// Summary of each distinct state, by index.
    pub nodes: Vec<T>,
    /// (parent state, actor) of each state in the search tree.
    pub parent: Vec<(u32, Move)>,
    /// Every transition (from, to, actor), including those to known states.
    pub edges: Vec<(u32, u32, Move)>,
    /// With `all_violations`: states with a violating step (not in `edges`), ascending.
    /// Not dead ends: something can still happen there, and it is a violation.
    pub halted: Vec<u32>,
    /// The path from the model's initial state to state 0 (empty unless explored
    /// [`Explorer::from_path`]).
    pub root: Vec<Move>,
}

impl<T> Graph<T> {
    /// The actors of a shortest (BFS) path from the initial state to `idx` (through
    /// state 0).
    pub fn path_to(&self, idx: u32) -> Vec<Move> {
        let mut p = self.root.clone();
        p.extend(path_in(&self.parent, idx));
        p
    }
}

/// Re-execute a path of actors from the initial state, collecting each
/// step and, if one breaks an invariant, the violation.
pub fn replay(m: &Model, path: &[Move]) -> Result<(Vec<StepInfo>, Option<Violation>), String> {
    replay_with(m, path, true)
}

/// As [`replay`]; `invariants`: check the state invariants after each step.
pub fn replay_with(
    m: &Model,
    path: &[Move],
    invariants: bool,
) -> Result<(Vec<StepInfo>, Option<Violation>), String> {
    let mut s = m.init();
    let mut steps = Vec::new();
    for (i, &a) in path.iter().enumerate() {
        if a.actor as usize >= m.actors.len() {
            return Err(format!("step {i}: no actor {} in this scenario", a.actor));
        }
        let r = if invariants {
            m.apply(&mut s, a)
        } else {
            m.step(&mut s, a)
        };
        match r {
            Ok(Outcome::Stepped(info)) => steps.push(info),
            Ok(Outcome::Blocked) => {
                return Err(format!(
                    "step {i}: actor {} cannot move here",
                    m.actors[a.actor as usize].name
                ))
            }
            Err(v) => {
                steps.push(StepInfo {
                    actor: a.actor,
                    choice: a.choice,
                    func: Func::Violation,
                    result: None,
                });
                return Ok((steps, Some(v)));
            }
        }
    }
    Ok((steps, None))
}
