//! How far partial-order reduction by single-actor ample sets *could* go on one
//! configuration: an oracle that knows the whole state graph.
//!
//! `cargo run --release -p ublk-checker --example por_bound [SCENARIO [PRESET]]`
//! (default: the bench scenario, per-io-daemons-stress on K72).
//!
//! The explorer's `--partial-order` declares which steps are local from the code
//! (`model/src/independence.rs`); any sound declaration of that kind — however precise its
//! read and write sets — can only claim an actor's moves as an ample set where they really
//! are one. This program computes exactly where they are, from the full graph: the set of
//! actor `a`'s moves at `s` is *independent from here on* when
//!  * none of them breaks an invariant or reaches a goal, and none changes what another
//!    enabled move reaches (C2, invisibility, as `tests/independence.rs` checks it);
//!  * with every other actor's enabled move `b`, both orders end in the same state (or `b`
//!    breaks the same invariant after them), `a` has the same moves after `b`, and the set
//!    is again independent from here on at `b`'s target (C1 along every path of the
//!    others: a greatest fixed point over the graph).
//!
//! Then it searches again taking, at each state, one such actor's moves alone (the
//! lowest, as the explorer does; the highest; the one with the fewest moves), with and
//! without symmetry. C3, the cycle proviso, is ignored: it can only add states. Last it
//! lists where the oracle takes a step that `Model::local_step` does not declare local
//! (actor and function): where a finer declaration would pay.
//! The count it prints is a lower bound for every sound single-actor ample-set reduction
//! of this configuration: it is the measure behind "10× fewer states needs more than
//! partial-order reduction by actors" in the README.

mod common;

use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;
use ublk_checker::explore::packing::{pack, unpack};
use ublk_checker::explore::signature::Signature;
use ublk_checker::explore::store::{fingerprint_packed, Scratch};
use ublk_checker::explore::symmetry::Symmetry;
use ublk_model::properties::Before;
use ublk_model::state::ActorId;
use ublk_model::{Goal, Model, Move, Outcome, State};

/// Where a move leads: a state's index, or a violation (its signature's index).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum To {
    State(u32),
    Violation(u32),
}

/// One enabled move of a state: the move, where it goes, the goals it reaches (bits).
#[derive(Clone, Copy, Debug)]
struct Edge {
    mv: Move,
    to: To,
    goals: u32,
}

/// Which of the independent actors (`bits`) at state `i` to take.
type Pick = fn(&Graph, u32, u32) -> ActorId;

struct Graph {
    packed: Vec<Vec<u8>>,
    edges: Vec<Vec<Edge>>,
}

fn build(m: &Model) -> Graph {
    let mut index: FxHashMap<u128, u32> = FxHashMap::default();
    let mut sigs: FxHashMap<Signature, u32> = FxHashMap::default();
    let mut scratch = Vec::new();
    let init = m.init();
    let p = pack(&init, &mut scratch).to_vec();
    index.insert(fingerprint_packed(&p), 0);
    let mut g = Graph {
        packed: vec![p],
        edges: Vec::new(),
    };
    let mut i = 0;
    while i < g.packed.len() {
        let s = unpack(&g.packed[i]);
        let before = Before::of(m, &s);
        let mut out = Vec::new();
        for mv in m.moves(&s).collect::<Vec<_>>() {
            let mut n = s.clone();
            match m.apply(&mut n, mv) {
                Ok(Outcome::Blocked) => {}
                Ok(Outcome::Stepped(info)) => {
                    let goals = (Goal::ALL.iter().enumerate())
                        .filter(|(_, g)| g.reached(m, before, &info, &n))
                        .fold(0u32, |acc, (k, _)| acc | 1 << k);
                    let p = pack(&n, &mut scratch);
                    let next = g.packed.len() as u32;
                    let to = *index.entry(fingerprint_packed(p)).or_insert(next);
                    if to == next {
                        g.packed.push(p.to_vec());
                    }
                    out.push(Edge {
                        mv,
                        to: To::State(to),
                        goals,
                    });
                }
                Err(v) => {
                    let sig = Signature::of_violation(m, &s, mv.actor, &v);
                    let next = sigs.len() as u32;
                    let k = *sigs.entry(sig).or_insert(next);
                    out.push(Edge {
                        mv,
                        to: To::Violation(k),
                        goals: 0,
                    });
                }
            }
        }
        g.edges.push(out);
        i += 1;
    }
    g
}

impl Graph {
    fn step(&self, i: u32, mv: Move) -> Option<Edge> {
        self.edges[i as usize].iter().copied().find(|e| e.mv == mv)
    }

    /// Actor `a`'s moves at `i` meet the conditions of the module doc that need no
    /// recursion; the moves of the other actors that must be checked again at their targets.
    fn locally_independent(&self, i: u32, a: ActorId) -> bool {
        let all = &self.edges[i as usize];
        let mine: Vec<Edge> = all.iter().copied().filter(|e| e.mv.actor == a).collect();
        if mine.is_empty() {
            return false;
        }
        for ea in &mine {
            let To::State(ta) = ea.to else { return false };
            if ea.goals != 0 {
                return false;
            }
            for eb in all.iter().filter(|e| e.mv.actor != a) {
                // b from a's target: the same target class and the same goals
                let Some(eb2) = self.step(ta, eb.mv) else {
                    return false;
                };
                if eb2.goals != eb.goals {
                    return false;
                }
                match (eb.to, eb2.to) {
                    (To::Violation(x), To::Violation(y)) if x == y => {}
                    (To::State(tb), To::State(tab)) => {
                        // a from b's target: the same move set, landing where b then a lands
                        let after: Vec<Edge> = (self.edges[tb as usize].iter().copied())
                            .filter(|e| e.mv.actor == a)
                            .collect();
                        if after.len() != mine.len()
                            || !after.iter().zip(&mine).all(|(x, y)| x.mv == y.mv)
                        {
                            return false;
                        }
                        let Some(ea2) = self.step(tb, ea.mv) else {
                            return false;
                        };
                        if ea2.to != To::State(tab) || ea2.goals != 0 {
                            return false;
                        }
                    }
                    _ => return false,
                }
            }
        }
        true
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, preset, m) = common::model_of(&args);
    let g = build(&m);
    let n = g.packed.len();
    let transitions: usize = g.edges.iter().map(|e| e.len()).sum();
    println!(
        "{name} on {}: {n} states, {transitions} transitions",
        preset.name()
    );

    // the greatest fixed point: good[i] bit a = a's moves at i are independent from here on
    let actors = m.actors.len() as ActorId;
    let mut good: Vec<u32> = (0..n as u32)
        .map(|i| {
            (0..actors)
                .filter(|&a| g.locally_independent(i, a))
                .fold(0, |acc, a| acc | 1 << a)
        })
        .collect();
    let candidates = good.iter().filter(|&&b| b != 0).count();
    loop {
        let mut changed = false;
        for i in 0..n {
            let mut bits = good[i];
            for a in 0..actors {
                if bits & 1 << a == 0 {
                    continue;
                }
                let ok = g.edges[i]
                    .iter()
                    .filter(|e| e.mv.actor != a)
                    .all(|e| match e.to {
                        To::State(t) => good[t as usize] & 1 << a != 0,
                        To::Violation(_) => true,
                    });
                if !ok {
                    bits &= !(1 << a);
                }
            }
            if bits != good[i] {
                good[i] = bits;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let kept = good.iter().filter(|&&b| b != 0).count();
    println!("states with an actor independent at that state: {candidates}; from there on: {kept}");

    // which independent actor to take where there are several: the explorer's rule (the
    // lowest), the highest, or the one with the fewest moves
    let orders: [(&str, Pick); 3] = [
        ("lowest", |_, _, bits| bits.trailing_zeros() as ActorId),
        ("highest", |_, _, bits| 31 - bits.leading_zeros() as ActorId),
        ("fewest moves", |g, i, bits| {
            let moves = |a: u32| {
                (g.edges[i as usize].iter())
                    .filter(|e| u32::from(e.mv.actor) == a)
                    .count()
            };
            (0..32u32)
                .filter(|a| bits & 1 << a != 0)
                .min_by_key(|&a| (moves(a), a))
                .expect("a set bit") as ActorId
        }),
    ];
    // where the oracle takes an actor that `Model::local_step` does not declare: the
    // actor and the function its step runs
    let mut missed: FxHashMap<String, u64> = FxHashMap::default();
    let what = |m: &Model, s: &State, a: ActorId| -> String {
        let mut n = s.clone();
        let func = match m.step(&mut n, a) {
            Ok(Outcome::Stepped(info)) => info.func.to_string(),
            _ => "(several moves)".into(),
        };
        format!("{} {func}", m.actors[a as usize].name)
    };
    for ((order, pick), symmetric) in orders.iter().flat_map(|o| [(o, false), (o, true)]) {
        let sym = symmetric.then(|| Symmetry::of(&m));
        let mut seen: FxHashSet<u128> = FxHashSet::default();
        let (mut scratch, mut canon) = (Vec::new(), Scratch::default());
        let mut key = |s: &State| -> u128 {
            let p = pack(s, &mut scratch);
            fingerprint_packed(Symmetry::stored_key(sym.as_ref(), s, p, &mut canon))
        };
        let mut work = VecDeque::from([0u32]);
        seen.insert(key(&unpack(&g.packed[0])));
        let tally = *order == "lowest" && !symmetric;
        while let Some(i) = work.pop_front() {
            let bits = good[i as usize];
            let only = (bits != 0).then(|| pick(&g, i, bits));
            if let (Some(a), true) = (only, tally) {
                let s = unpack(&g.packed[i as usize]);
                if !m.local_step(&s, a) {
                    *missed.entry(what(&m, &s, a)).or_default() += 1;
                }
            }
            for e in &g.edges[i as usize] {
                if only.is_some_and(|a| e.mv.actor != a) {
                    continue;
                }
                if let To::State(t) = e.to {
                    if seen.insert(key(&unpack(&g.packed[t as usize]))) {
                        work.push_back(t);
                    }
                }
            }
        }
        println!(
            "oracle, {order} actor first{}: {} states ({:.2}x fewer)",
            if symmetric { ", and symmetry" } else { "" },
            seen.len(),
            n as f64 / seen.len() as f64
        );
    }
    let total: u64 = missed.values().sum();
    let mut missed: Vec<(String, u64)> = missed.into_iter().collect();
    missed.sort_by_key(|(k, c)| (std::cmp::Reverse(*c), k.clone()));
    println!(
        "states of the first search where the oracle takes a step not declared local: {total}"
    );
    for (k, c) in missed.iter() {
        println!("{c:9}  {k}");
    }
}
