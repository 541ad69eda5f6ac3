//! Breadth-first exploration as a timely dataflow: several worker threads in one process,
//! or several processes (on one machine or many) that exchange states over TCP.
//!
//! Each state belongs to one worker, chosen by its 128-bit fingerprint. A candidate state
//! (its packed bytes, its fingerprint, its parent's fingerprint and the move that led to it)
//! travels to its owner; the owner keeps the fingerprints it has seen, each with its parent
//! link, and expands only the new ones (unpacked there, and only there). The dataflow's
//! timestamp is the depth: the owner processes depth `d` once no worker can send it any
//! more state of depth `d` (the input frontier has passed `d`), so every state is recorded
//! at its breadth-first depth and the totals — distinct states, transitions, maximum depth,
//! dead ends — are exactly those of [`Explorer`](crate::explore::bfs::Explorer) on a run that
//! exhausts the state space.
//!
//! A violating step stops the search after its level: its worker tells every worker
//! (a `Halt` one level later), nobody expands a deeper state, and the first violation of
//! the least level (ordered by worker, then fingerprint) is the one reported — so its path is
//! a shortest one, as the explorer's. The path is rebuilt by walking the parent links through
//! their owners (a second small dataflow), and process 0 replays it from the initial state to
//! get the violation (a path that does not replay to a violation is an error).
//!
//! Not here (the explorer has them): liveness (hangs need the state graph), every violation
//! (`all_violations`), goals, exact mode, depth-first order, exploring from a path. The state
//! limit is per worker (`max_states / workers`, rounded up), so a cut is not at the same
//! state as the explorer's.

pub mod check;
mod cluster;
mod walk;

pub use cluster::{Cluster, Limits};

use crate::explore::bfs::{replay_with, Stop};
use crate::explore::store::{fingerprint_packed, pack, unpack, FpHasher, Scratch};
use ::timely::dataflow::channels::pact::Exchange;
use ::timely::dataflow::operators::generic::operator::Operator;
use ::timely::dataflow::operators::{Capability, Concat, ConnectLoop, Feedback, Probe, ToStream};
use ::timely::dataflow::ProbeHandle;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ublk_model::{Model, Move, Outcome, Violation};

/// What process 0 reports (the same totals as the explorer's [`Report`](crate::explore::bfs::Report)).
#[derive(Clone, Debug)]
pub struct TimelyReport {
    pub stop: Stop,
    pub states: u64,
    pub transitions: u64,
    pub max_depth: u32,
    pub stuck: u64,
    pub elapsed: Duration,
    /// The path to the violating step (from the initial state), the violation last.
    pub counterexample: Option<(Vec<Move>, Violation)>,
    /// Distinct states owned by each worker, by global worker index.
    pub per_worker: Vec<u64>,
}

impl TimelyReport {
    pub fn states_per_sec(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

type Fp = u128;
type FpMap<V> = HashMap<Fp, V, BuildHasherDefault<FpHasher>>;

/// A move as it travels (the model's `Move` has no serde form).
type Mv = (u8, u8);

fn mv(m: Move) -> Mv {
    (m.actor, m.choice)
}

fn un_mv((actor, choice): Mv) -> Move {
    Move { actor, choice }
}

/// The worker that owns a fingerprint: its high half (the visited set hashes by the low
/// half, which would otherwise be the same modulo the workers on every worker).
fn owner(fp: Fp) -> u64 {
    (fp >> 64) as u64
}

/// What the exploration dataflow carries.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Msg {
    /// Candidate states for worker `to` (their owner): each one's fingerprint, its
    /// parent's, the move from the parent, and the end of its packed bytes in `bytes`.
    States {
        to: u64,
        heads: Vec<Head>,
        bytes: Vec<u8>,
    },
    /// To worker `to`: worker `from` found a violating step `mv` from its state `at`
    /// (one level before the message's time).
    Halt { to: u64, from: u32, at: Fp, mv: Mv },
}

/// A violating step found: (level, worker, state, move).
type Found = (u32, u32, Fp, Mv);

/// What one worker knows at the end.
#[derive(Default)]
struct Local {
    /// Parent fingerprint and move of every state this worker owns (the root: itself).
    parent: FpMap<(Fp, Mv)>,
    transitions: u64,
    stuck: u64,
    max_depth: u32,
    /// Every violation any worker reported (each worker hears of all of them).
    halts: Vec<Found>,
    /// A limit stopped this worker.
    limit: Option<Stop>,
}

/// A worker's totals, sent to worker 0.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Totals {
    worker: u32,
    states: u64,
    transitions: u64,
    stuck: u64,
    max_depth: u32,
    /// 0 none, 1 state limit, 2 time limit.
    limit: u8,
}

/// Explore `m` breadth-first on the workers of `cluster`. Every process of a cluster
/// calls this with the same model and limits; process 0 gets the report, the others
/// `Ok(None)`.
pub fn explore(
    m: &Model,
    cluster: &Cluster,
    limits: Limits,
) -> Result<Option<TimelyReport>, String> {
    let model = Arc::new(m.clone());
    let peers = cluster.total_workers();
    let per_worker_limit = limits.max_states.div_ceil(peers as u64);
    let config = cluster.config();
    let run = move || {
        ::timely::execute(config, move |worker| {
            // the time of a run: from here (threads started, processes connected) to the end
            let t0 = Instant::now();
            let index = worker.index() as u32;
            let peers = worker.peers();
            let local = Rc::new(RefCell::new(Local::default()));
            let probe = ProbeHandle::new();
            let m = Arc::clone(&model);
            let seed: Vec<Msg> = if index == 0 {
                let init = m.init();
                let mut scratch = Scratch::default();
                let bytes = pack(&init, &mut scratch).to_vec();
                let fp = fingerprint_packed(&bytes);
                let to = owner(fp) % peers as u64;
                vec![Msg::States {
                    to,
                    heads: vec![(fp, fp, mv(Move::default()), bytes.len() as u32)],
                    bytes,
                }]
            } else {
                Vec::new()
            };
            let state = Rc::clone(&local);
            worker.dataflow::<u32, _, _>(|scope| {
                let (handle, cycle) = scope.feedback(1u32);
                let route = |x: &Msg| match x {
                    Msg::States { to, .. } | Msg::Halt { to, .. } => *to,
                };
                let expanded = seed
                    .to_stream(scope)
                    .container::<Vec<Msg>>()
                    .concat(cycle)
                    .unary_frontier(Exchange::new(route), "Expand", move |_, _| {
                        let mut pending: BTreeMap<u32, (Capability<u32>, Vec<Msg>)> =
                            BTreeMap::new();
                        let mut scratch = Scratch::default();
                        let mut out = Outbox::new(peers);
                        move |(input, frontier), output| {
                            input.for_each_stamp(|cap, data| {
                                if let Some(cap) = cap.retain_least(output.output_index()) {
                                    let t = *cap.time();
                                    let slot =
                                        pending.entry(t).or_insert_with(|| (cap, Vec::new()));
                                    for d in data {
                                        slot.1.append(d);
                                    }
                                }
                            });
                            while let Some(&t) = pending.keys().next() {
                                if frontier.frontier().less_equal(&t) {
                                    break;
                                }
                                let (cap, batch) = pending.remove(&t).expect("a pending level");
                                let mut l = state.borrow_mut();
                                let mut session = output.session(&cap);
                                let w = Worker {
                                    m: &m,
                                    index,
                                    peers,
                                    limits: &limits,
                                    t0,
                                    max_local: per_worker_limit,
                                };
                                level(&w, &mut l, &mut scratch, &mut out, t, batch, |x| {
                                    session.give(x)
                                });
                            }
                        }
                    });
                expanded.probe_with(&probe).connect_loop(handle);
            });
            while !probe.done() {
                worker.step_or_park(None);
            }
            walk::finish(worker, &local, index).map(|(t, p)| (t, p, t0.elapsed()))
        })
    };
    let guards = if cluster.processes > 1 {
        stdout_on_stderr(run)
    } else {
        run()
    }
    .map_err(|e| format!("timely: {e}"))?;
    let mut out = None;
    for r in guards.join() {
        match r {
            Ok(Some(x)) => out = Some(x),
            Ok(None) => {}
            Err(e) => return Err(format!("a timely worker failed: {e}")),
        }
    }
    let Some((totals, path, elapsed)) = out else {
        return Ok(None);
    };
    let mut report = TimelyReport {
        stop: Stop::Exhausted,
        states: 0,
        transitions: 0,
        max_depth: 0,
        stuck: 0,
        elapsed: Duration::ZERO,
        counterexample: None,
        per_worker: vec![0; peers],
    };
    for t in &totals {
        report.states += t.states;
        report.transitions += t.transitions;
        report.stuck += t.stuck;
        report.max_depth = report.max_depth.max(t.max_depth);
        if let Some(w) = report.per_worker.get_mut(t.worker as usize) {
            *w = t.states;
        }
        match t.limit {
            1 if report.stop == Stop::Exhausted => report.stop = Stop::StateLimit,
            2 => report.stop = Stop::TimeLimit,
            _ => {}
        }
    }
    if let Some(path) = path {
        match replay_with(m, &path, limits.invariants) {
            Ok((_, Some(v))) => {
                report.stop = Stop::Violation;
                report.counterexample = Some((path, v));
            }
            Ok((_, None)) => {
                return Err(format!(
                    "the rebuilt counterexample ({} steps) replays without a violation",
                    path.len()
                ))
            }
            Err(e) => return Err(format!("the rebuilt counterexample does not replay: {e}")),
        }
    }
    report.elapsed = elapsed;
    Ok(Some(report))
}

/// Run `f` with this process's standard output sent to its standard error: timely prints
/// its connection progress ("awaiting connections") on standard output while processes
/// connect, and the report (maybe JSON) must be alone there.
fn stdout_on_stderr<T>(f: impl FnOnce() -> T) -> T {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: plain descriptor calls on 0-2; a failed dup leaves standard output as it is
    let saved = unsafe { libc::dup(1) };
    if saved >= 0 {
        unsafe { libc::dup2(2, 1) };
    }
    let r = f();
    let _ = std::io::stdout().flush();
    if saved >= 0 {
        unsafe {
            libc::dup2(saved, 1);
            libc::close(saved);
        }
    }
    r
}

/// What one worker's level and expansion steps read and never change.
#[derive(Clone, Copy)]
struct Worker<'a> {
    m: &'a Model,
    /// This worker's global index.
    index: u32,
    peers: usize,
    limits: &'a Limits,
    t0: Instant,
    /// The states this worker may own (`--max-states` shared out).
    max_local: u64,
}

/// Process one level (depth `t`) of the states this worker owns: record the new ones and
/// expand them, sending their successors (depth `t + 1`) through `give`.
fn level(
    w: &Worker,
    l: &mut Local,
    scratch: &mut Scratch,
    out: &mut Outbox,
    t: u32,
    batch: Vec<Msg>,
    mut give: impl FnMut(Msg),
) {
    // a violation one level up stops everyone: nothing at this depth is recorded
    for x in &batch {
        if let Msg::Halt { from, at, mv, .. } = x {
            l.halts.push((t.saturating_sub(1), *from, *at, *mv));
        }
    }
    if !l.halts.is_empty() || l.limit.is_some() {
        return;
    }
    let mut expanded = 0u64;
    expand(w, l, scratch, out, t, batch, &mut expanded, &mut give);
    out.flush(&mut give);
}

/// [`level`]'s states, one by one (a return stops the level).
#[allow(clippy::too_many_arguments)]
fn expand(
    w: &Worker,
    l: &mut Local,
    scratch: &mut Scratch,
    out: &mut Outbox,
    t: u32,
    batch: Vec<Msg>,
    expanded: &mut u64,
    give: &mut impl FnMut(Msg),
) {
    let Worker {
        m,
        index,
        peers,
        limits,
        t0,
        max_local,
    } = *w;
    for x in batch {
        let Msg::States { heads, bytes, .. } = x else {
            continue;
        };
        let mut start = 0;
        for (fp, parent, how, end) in heads {
            let span = start..end as usize;
            start = end as usize;
            if l.parent.contains_key(&fp) {
                continue;
            }
            if l.parent.len() as u64 >= max_local {
                l.limit = Some(Stop::StateLimit);
                return;
            }
            l.parent.insert(fp, (parent, how));
            l.max_depth = l.max_depth.max(t);
            *expanded += 1;
            if *expanded & 0x3ff == 0 && t0.elapsed() > limits.max_time {
                l.limit = Some(Stop::TimeLimit);
                return;
            }
            let s = unpack(&bytes[span]);
            let mut moved = false;
            for a in m.moves(&s) {
                let mut n = s.clone();
                let step = if limits.invariants {
                    m.apply_enabled(&mut n, a)
                } else {
                    m.step_enabled(&mut n, a)
                };
                match step {
                    Ok(Outcome::Blocked) => {}
                    Ok(Outcome::Stepped(_)) => {
                        moved = true;
                        l.transitions += 1;
                        let packed = pack(&n, scratch);
                        let to_fp = fingerprint_packed(packed);
                        // a state this worker owns and has seen would be dropped on arrival:
                        // not sending it saves its copy and its trip (nothing else changes,
                        // as the first arrival's parent link is the one kept)
                        if owner(to_fp) % peers as u64 == u64::from(index)
                            && l.parent.contains_key(&to_fp)
                        {
                            continue;
                        }
                        out.push(packed, to_fp, fp, mv(a), give);
                    }
                    Err(_) => {
                        // the explorer stops at its first violation; so does this worker,
                        // and the others after this level
                        l.transitions += 1;
                        for to in 0..peers as u64 {
                            give(Msg::Halt {
                                to,
                                from: index,
                                at: fp,
                                mv: mv(a),
                            });
                        }
                        return;
                    }
                }
            }
            if !moved && !m.all_done(&s) {
                l.stuck += 1;
            }
        }
    }
}

/// Candidate states on their way, a batch per owner: one message carries many states
/// (one allocation, one progress update, one serialization between processes).
struct Outbox {
    to: Vec<(Vec<Head>, Vec<u8>)>,
}

/// A candidate state's fingerprint, its parent's, the move, the end of its packed bytes.
type Head = (Fp, Fp, Mv, u32);

impl Outbox {
    /// A batch goes when its packed states reach this many bytes.
    const BATCH_BYTES: usize = 64 << 10;

    fn new(peers: usize) -> Self {
        Outbox {
            to: (0..peers).map(|_| (Vec::new(), Vec::new())).collect(),
        }
    }

    fn push(&mut self, packed: &[u8], fp: Fp, parent: Fp, how: Mv, give: &mut impl FnMut(Msg)) {
        let to = owner(fp) % self.to.len() as u64;
        let (heads, bytes) = &mut self.to[to as usize];
        bytes.extend_from_slice(packed);
        heads.push((fp, parent, how, bytes.len() as u32));
        if bytes.len() >= Self::BATCH_BYTES {
            give(Msg::States {
                to,
                heads: std::mem::take(heads),
                bytes: std::mem::take(bytes),
            });
        }
    }

    fn flush(&mut self, give: &mut impl FnMut(Msg)) {
        for (to, (heads, bytes)) in self.to.iter_mut().enumerate() {
            if !heads.is_empty() {
                give(Msg::States {
                    to: to as u64,
                    heads: std::mem::take(heads),
                    bytes: std::mem::take(bytes),
                });
            }
        }
    }
}
