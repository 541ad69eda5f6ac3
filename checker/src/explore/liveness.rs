//! Hang detection on the explored state graph.
//!
//! A hang is (a) a reachable dead end — no weakly fair actor can move — with an open
//! obligation, or (b) a *fair* cycle along which one obligation stays open.
//! For (b) we take, per obligation, the subgraph of states where it is open,
//! split it into strongly connected components (petgraph's Tarjan), and keep
//! a component if weak fairness allows staying in it forever: every weakly
//! fair actor is either disabled somewhere in the component or takes a step
//! inside it, and every strongly fair actor (task work, which waits for a
//! `uring_lock` the ring exit takes and drops) enabled anywhere in it takes a
//! step inside it.  (A cycle through all of a component's states and edges is
//! then fair; no cycle is fair in a component that fails the test.)  The reported
//! counterexample is a lasso: the shortest stem to the component, then a
//! cycle that returns to the stem's end and visits the steps fairness needs.

use crate::explore::bfs::Graph;
use crate::explore::signature::{Signature, Situation};
use petgraph::graph::DiGraph;
use std::collections::{BTreeMap, VecDeque};
use ublk_model::state::ActorId;
use ublk_model::Move;
use ublk_model::{Model, Obligation, Obligations, Prop, State};

/// What liveness keeps of each explored state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveNode {
    pub obl: Obligations,
    /// For hang signatures: grouping dead ends without replaying each one.
    pub situation: Situation,
}

impl LiveNode {
    pub fn of(m: &Model, s: &State) -> LiveNode {
        LiveNode {
            obl: m.obligations(s),
            situation: Situation::of(m, s),
        }
    }
}

/// A hang: stem, then (for a lasso) a cycle that repeats forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hang {
    pub prop: Prop,
    pub obligation: Obligation,
    pub desc: String,
    pub stem: Vec<Move>,
    /// Empty for a dead end.
    pub cycle: Vec<Move>,
}

impl Hang {
    pub fn is_dead_end(&self) -> bool {
        self.cycle.is_empty()
    }
}

struct Ctx<'g> {
    g: &'g Graph<LiveNode>,
    out: Vec<Vec<(u32, Move)>>,
    enabled: Vec<u64>,
    depth: Vec<u32>,
    fair: u64,
    /// Strongly fair actors (task work waiting for `uring_lock`).
    strong: u64,
}

fn context<'g>(m: &Model, g: &'g Graph<LiveNode>) -> Ctx<'g> {
    let n = g.nodes.len();
    let mut out = vec![Vec::new(); n];
    let mut enabled = vec![0u64; n];
    for &(f, t, a) in &g.edges {
        out[f as usize].push((t, a));
        enabled[f as usize] |= 1 << a.actor;
    }
    for &h in &g.halted {
        // a state with a violating step is not a dead end, and no cycle through it is fair
        // to the violating actor: the violation is the finding there
        enabled[h as usize] = u64::MAX;
    }
    let mut depth = vec![0u32; n];
    for i in 1..n {
        depth[i] = depth[g.parent[i].0 as usize] + 1; // BFS: parents come first
    }
    let fair = (0..m.actors.len() as ActorId)
        .filter(|&a| m.weakly_fair(a))
        .fold(0u64, |acc, a| acc | 1 << a);
    let strong = (0..m.actors.len() as ActorId)
        .filter(|&a| m.strongly_fair(a))
        .fold(0u64, |acc, a| acc | 1 << a);
    Ctx {
        g,
        out,
        enabled,
        depth,
        fair,
        strong,
    }
}

/// Find the hang with the shortest stem, if any.
pub fn find_hang(m: &Model, g: &Graph<LiveNode>) -> Option<Hang> {
    let cx = context(m, g);
    // candidates: (stem length, obligation, entry state, cycle)
    let mut best: Option<(u32, Obligation, u32, Vec<Move>)> = None;
    let mut consider = |d: u32, o: Obligation, at: u32, cycle: Vec<Move>| {
        let better = match &best {
            None => true,
            Some((bd, bo, ..)) => (d, o) < (*bd, *bo),
        };
        if better {
            best = Some((d, o, at, cycle));
        }
    };
    // a dead end for fairness: no weakly fair actor can move (an actor that
    // may stop — SIGKILL, another process's close — may simply never act)
    for i in 0..g.nodes.len() {
        if cx.enabled[i] & cx.fair == 0 {
            if let Some(o) = g.nodes[i].obl.iter().next() {
                consider(cx.depth[i], o, i as u32, vec![]);
            }
        }
    }
    for o in all_obligations(g).iter() {
        if let Some((entry, cycle)) = fair_cycles(&cx, o, false).pop() {
            consider(cx.depth[entry as usize], o, entry, cycle);
        }
    }
    let (_, o, at, cycle) = best?;
    let stem = g.path_to(at);
    let s = state_at(m, &stem);
    Some(Hang {
        prop: m.prop_of(&s, o),
        obligation: o,
        desc: m.describe_obligation(o),
        stem,
        cycle,
    })
}

fn all_obligations(g: &Graph<LiveNode>) -> Obligations {
    let mut all = Obligations::default();
    for n in &g.nodes {
        let o = n.obl;
        all.reqs |= o.reqs;
        all.cmds |= o.cmds;
        all.release |= o.release;
        all.stop |= o.stop;
    }
    all
}

/// Every distinct hang, by signature: the shortest stem of each (dead ends, then lassos,
/// each ordered by stem length).
pub fn find_hangs(m: &Model, g: &Graph<LiveNode>) -> Vec<(Signature, Hang)> {
    let cx = context(m, g);
    // (stem length, obligation, entry, cycle), shortest first
    let mut cands: Vec<(u32, Obligation, u32, Vec<Move>)> = Vec::new();
    // dead ends: one candidate per (obligation kind, situation), the shallowest
    let mut seen_dead = std::collections::BTreeSet::new();
    let mut order: Vec<usize> = (0..g.nodes.len()).collect();
    order.sort_by_key(|&i| (cx.depth[i], i));
    for i in order {
        if cx.enabled[i] & cx.fair != 0 {
            continue;
        }
        // one hang per state: its first open obligation names it (the others — STOP_DEV
        // waiting for the request that never ends — are the same hang)
        if let Some(o) = g.nodes[i].obl.iter().next() {
            let kind = std::mem::discriminant(&o);
            if seen_dead.insert((format!("{kind:?}"), g.nodes[i].situation)) {
                cands.push((cx.depth[i], o, i as u32, vec![]));
            }
        }
    }
    for o in all_obligations(g).iter() {
        for (entry, cycle) in fair_cycles(&cx, o, true) {
            cands.push((cx.depth[entry as usize], o, entry, cycle));
        }
    }
    cands.sort_by_key(|c| (c.0, c.1, c.2));
    let mut out: Vec<(Signature, Hang)> = Vec::new();
    let mut seen_lasso = std::collections::BTreeSet::new();
    for (_, o, at, cycle) in cands {
        // a fair cycle keeping several obligations open is one hang, named by the first
        if !cycle.is_empty() && !seen_lasso.insert((at, cycle.clone())) {
            continue;
        }
        let stem = g.path_to(at);
        let s = state_at(m, &stem);
        let prop = m.prop_of(&s, o);
        let mut labels = Vec::new();
        let mut c = s.clone();
        for &a in &cycle {
            // the kernel's steps name the cycle; user space retrying (a submitter's bios
            // failing, a server's commands refused) is not what keeps the obligation open —
            // a cycle of only those is a dead end of the kernel
            let stepped = m.step(&mut c, a);
            if let (true, Ok(ublk_model::Outcome::Stepped(info))) =
                (m.actors[a.actor as usize].kind.is_kernel(), stepped)
            {
                labels.push(info.func.label());
            }
        }
        let sig = Signature::of_hang(m, prop, o, &s, &labels);
        if out.iter().any(|(k, _)| *k == sig) {
            continue;
        }
        out.push((
            sig,
            Hang {
                prop,
                obligation: o,
                desc: m.describe_obligation(o),
                stem,
                cycle,
            },
        ));
    }
    out
}

fn state_at(m: &Model, path: &[Move]) -> ublk_model::State {
    let mut s = m.init();
    for &a in path {
        m.step(&mut s, a).expect("explored path replays");
    }
    s
}

/// Fair cycles on which `o` stays open: (entry state, cycle actors). `all`: one per fair
/// component; else only the one with the shallowest entry (at most one element).
fn fair_cycles(cx: &Ctx, o: Obligation, all: bool) -> Vec<(u32, Vec<Move>)> {
    let members: Vec<u32> = (0..cx.g.nodes.len() as u32)
        .filter(|&i| cx.g.nodes[i as usize].obl.has(o))
        .collect();
    if members.is_empty() {
        return vec![];
    }
    let mut local = BTreeMap::new();
    let mut dg: DiGraph<u32, Move> = DiGraph::with_capacity(members.len(), 0);
    for &i in &members {
        local.insert(i, dg.add_node(i));
    }
    for &i in &members {
        for &(t, a) in &cx.out[i as usize] {
            if let Some(&ti) = local.get(&t) {
                dg.add_edge(local[&i], ti, a);
            }
        }
    }
    let mut found: Option<(u32, Vec<Move>)> = None;
    let mut every = Vec::new();
    for comp in petgraph::algo::tarjan_scc(&dg) {
        let inside: std::collections::BTreeSet<u32> = comp.iter().map(|&ni| dg[ni]).collect();
        let internal: Vec<(u32, u32, Move)> = inside
            .iter()
            .flat_map(|&s| {
                cx.out[s as usize]
                    .iter()
                    .filter(|(t, _)| inside.contains(t))
                    .map(move |&(t, a)| (s, t, a))
            })
            .collect();
        if internal.is_empty() {
            continue;
        }
        let taken = internal.iter().fold(0u64, |m, &(_, _, a)| m | 1 << a.actor);
        let always = inside
            .iter()
            .fold(u64::MAX, |m, &s| m & cx.enabled[s as usize]);
        if always & cx.fair & !taken != 0 {
            continue; // some fair actor is always enabled and never steps: unfair
        }
        let sometimes = inside.iter().fold(0, |m, &s| m | cx.enabled[s as usize]);
        if sometimes & cx.strong & !taken != 0 {
            continue; // a strongly fair actor is enabled again and again, never steps
        }
        let entry = *inside
            .iter()
            .min_by_key(|&&s| (cx.depth[s as usize], s))
            .unwrap();
        if all {
            every.push((entry, build_cycle(cx, &inside, &internal, entry, taken)));
            continue;
        }
        if found
            .as_ref()
            .is_some_and(|(e, _)| cx.depth[*e as usize] <= cx.depth[entry as usize])
        {
            continue;
        }
        let cycle = build_cycle(cx, &inside, &internal, entry, taken);
        found = Some((entry, cycle));
    }
    if all {
        every
    } else {
        found.into_iter().collect()
    }
}

/// A cycle from `entry` back to it inside the component that, for every
/// fair actor enabled at `entry`, takes one of its steps or passes a state
/// where it is disabled.
fn build_cycle(
    cx: &Ctx,
    inside: &std::collections::BTreeSet<u32>,
    internal: &[(u32, u32, Move)],
    entry: u32,
    taken: u64,
) -> Vec<Move> {
    let mut path = Vec::new();
    let mut cur = entry;
    // weakly fair actors enabled at the entry, and the strongly fair ones the component
    // takes (a fair component takes every strongly fair actor enabled in it)
    let start_enabled = (cx.enabled[entry as usize] & cx.fair) | (taken & cx.strong);
    for a in 0..64u8 {
        if start_enabled & (1 << a) == 0 {
            continue;
        }
        if taken & (1 << a) != 0 {
            let &(u, v, mv) = internal.iter().find(|e| e.2.actor == a).unwrap();
            path.extend(bfs(cx, inside, cur, u));
            path.push(mv);
            cur = v;
        } else if let Some(&w) = inside
            .iter()
            .find(|&&s| cx.enabled[s as usize] & (1 << a) == 0)
        {
            path.extend(bfs(cx, inside, cur, w));
            cur = w;
        }
    }
    if path.is_empty() {
        // no waypoint needed: any step inside the component (in a one-state
        // component the self-loop), then back
        let &(_, v, a) = internal
            .iter()
            .find(|e| e.0 == entry)
            .expect("a component state has an internal step");
        path.push(a);
        cur = v;
    }
    path.extend(bfs(cx, inside, cur, entry));
    path
}

/// Shortest path (actors) from `from` to `to` using only states inside.
fn bfs(cx: &Ctx, inside: &std::collections::BTreeSet<u32>, from: u32, to: u32) -> Vec<Move> {
    if from == to {
        return vec![];
    }
    let mut prev: BTreeMap<u32, (u32, Move)> = BTreeMap::new();
    let mut q = VecDeque::from([from]);
    while let Some(s) = q.pop_front() {
        for &(t, a) in &cx.out[s as usize] {
            if !inside.contains(&t) || t == from || prev.contains_key(&t) {
                continue;
            }
            prev.insert(t, (s, a));
            if t == to {
                let mut p = vec![];
                let mut at = to;
                while at != from {
                    let (ps, pa) = prev[&at];
                    p.push(pa);
                    at = ps;
                }
                p.reverse();
                return p;
            }
            q.push_back(t);
        }
    }
    unreachable!("states of one strongly connected component are mutually reachable")
}
