//! `ublksim diff --dot/--svg`: where two switch sets part, as a state graph.
//!
//! The whole projected graph of even a small scenario has dozens of states, most of them
//! shared; a reviewer wants the places where the patch changes what can happen.  So the
//! picture draws, for each side, the shortest (BFS) paths from the initial state to the
//! `per_side` shallowest projected states only that side reaches, merged by projection.
//! A node is coloured by who reaches it (both sides, only the base, only the patch); an
//! edge by which side has that step between those two projected states; a state where a
//! step breaks an invariant has a red border (exploration goes on past a violation, as
//! `check` does, so scenarios with KNOWN findings can be drawn too).  Nodes are numbered in
//! order of discovery (base side first), edges sorted: the same inputs give the same DOT.

use crate::diff::compare::{DiffOpts, Side};
use crate::explore::bfs::{Explorer, Graph, Stop};
use crate::explore::projection::{project, Projected};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use ublk_model::state::State;
use ublk_model::{Model, Outcome, Scenario};

/// Fill colours: both sides, only the base, only the patch.
const BOTH: &str = "#eef2f7";
const BASE: &str = "#cfe3ff";
const PATCH: &str = "#ffe0b2";
/// Edge colours, same order.
const BOTH_INK: &str = "#50607a";
const BASE_INK: &str = "#1f5fbf";
const PATCH_INK: &str = "#c66a00";
const BAD: &str = "#c62828";

/// What the picture holds, for the caller's one-line summary and for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub dot: String,
    /// Drawn nodes by side: (both, only base, only patch).
    pub nodes: (usize, usize, usize),
    pub edges: usize,
    /// Distinct violations drawn (red octagons, each reached by a dashed step).
    pub violations: usize,
    /// Distinct projected states only one side reaches (base, patch), drawn or not.
    pub only: (usize, usize),
}

/// One side's complete exploration, whole states kept (needed to name each drawn step).
struct Explored {
    m: Model,
    g: Graph<State>,
    proj: Vec<Projected>,
    halted: BTreeSet<u32>,
}

fn explore(sc: &Scenario, side: &Side, o: &DiffOpts) -> Result<Explored, String> {
    let m = Model::new(sc, side.features)?;
    let (r, g) = Explorer::new(&m)
        .all_violations(true)
        .max_states(o.max_states)
        .max_time(o.max_time)
        .run_graph(|s| s.clone());
    if r.stop != Stop::Exhausted {
        return Err(format!(
            "{} on {}: exploration stopped before the end ({:?} after {} states); \
             a picture of an incomplete graph would show differences that are not there \
             (raise --max-states / --max-seconds)",
            sc.name, side.spec, r.stop, r.states
        ));
    }
    let proj = g.nodes.iter().map(|s| project(&m, s)).collect();
    let halted = g.halted.iter().copied().collect();
    Ok(Explored { m, g, proj, halted })
}

/// `actor: function` of the step `mv` from graph node `from`.
fn step_label(e: &Explored, from: u32, mv: ublk_model::Move) -> String {
    let mut s = e.g.nodes[from as usize].clone();
    let func = match e.m.apply(&mut s, mv) {
        Ok(Outcome::Stepped(i)) => i.func.to_string(),
        _ => "?".into(),
    };
    format!("{}: {func}", e.m.actors[mv.actor as usize].name)
}

/// The state-graph picture of `sc`: base and patch explored to the end, at most
/// `per_side` differing states per side drawn with their shortest paths.
pub fn state_graph(
    sc: &Scenario,
    base: &Side,
    patch: &Side,
    o: &DiffOpts,
    per_side: usize,
) -> Result<Picture, String> {
    let sides = [explore(sc, base, o)?, explore(sc, patch, o)?];
    let reach: [BTreeSet<&Projected>; 2] = [
        sides[0].proj.iter().collect(),
        sides[1].proj.iter().collect(),
    ];
    let only = |k: usize, p: &Projected| !reach[1 - k].contains(p);
    let count_only = |k: usize| reach[k].iter().filter(|p| only(k, p)).count();

    // node ids in order of discovery: base side first
    let mut ids: BTreeMap<&Projected, usize> = BTreeMap::new();
    let mut order: Vec<&Projected> = Vec::new();
    // (from id, to id) → label → sides that draw it along a path
    let mut edges: BTreeMap<(usize, usize, String), u8> = BTreeMap::new();
    let mut bad: BTreeSet<usize> = BTreeSet::new();
    // violation text → (id, sides); (graph node, side, violation id, actor) of each breaking step
    let mut viol: BTreeMap<String, (usize, u8)> = BTreeMap::new();
    let mut vedges: BTreeSet<(u32, usize, usize, String)> = BTreeSet::new();
    for (k, e) in sides.iter().enumerate() {
        // the shallowest states only this side reaches (BFS numbering is by depth)
        let mut picked: Vec<u32> = Vec::new();
        let mut seen: BTreeSet<&Projected> = BTreeSet::new();
        for (i, p) in e.proj.iter().enumerate() {
            if picked.len() == per_side {
                break;
            }
            if only(k, p) && seen.insert(p) {
                picked.push(i as u32);
            }
        }
        // and the shortest path to each distinct way a step breaks an invariant
        let mut broken: BTreeSet<(String, String)> = BTreeSet::new();
        for &h in &e.halted {
            if broken.len() == per_side {
                break;
            }
            for (info, next) in e.m.successors(&e.g.nodes[h as usize]) {
                let Err(v) = next else { continue };
                let at = if v.func.is_empty() {
                    String::new()
                } else {
                    format!(" after {}", v.func)
                };
                let key = (format!("{}{at}", v.inv), v.msg.clone());
                if broken.len() < per_side && broken.insert(key.clone()) {
                    picked.push(h);
                    let who = &e.m.actors[info.actor as usize].name;
                    let text = format!("✗ {}\n{}", q(&key.0), wrap(&key.1, 56));
                    let nv = viol.len();
                    let vid = viol.entry(text).or_insert((nv, 0));
                    vid.1 |= 1 << k;
                    vedges.insert((h, k, vid.0, q(who)));
                }
            }
        }
        for &leaf in &picked {
            // the chain of (state, parent) up to the root, drawn root first
            let mut chain = vec![leaf];
            while let Some(&i) = chain.last() {
                if i == 0 {
                    break;
                }
                chain.push(e.g.parent[i as usize].0);
            }
            chain.reverse();
            for &i in &chain {
                let p = &e.proj[i as usize];
                let next = order.len();
                let id = *ids.entry(p).or_insert(next);
                if id == next {
                    order.push(p);
                }
                if e.halted.contains(&i) {
                    bad.insert(id);
                }
            }
            for w in chain.windows(2) {
                let (f, t) = (w[0], w[1]);
                let (pf, pt) = (ids[&e.proj[f as usize]], ids[&e.proj[t as usize]]);
                if pf == pt {
                    continue; // a step the projection does not see
                }
                let label = step_label(e, f, e.g.parent[t as usize].1);
                edges.entry((pf, pt, label)).or_insert(0);
            }
        }
    }
    // which side has each drawn step (between the same projected states, same label)
    for (k, e) in sides.iter().enumerate() {
        let pairs: BTreeSet<(usize, usize)> = edges.keys().map(|(f, t, _)| (*f, *t)).collect();
        for &(f, t, mv) in &e.g.edges {
            let (Some(&pf), Some(&pt)) =
                (ids.get(&e.proj[f as usize]), ids.get(&e.proj[t as usize]))
            else {
                continue;
            };
            if !pairs.contains(&(pf, pt)) {
                continue;
            }
            if let Some(sides) = edges.get_mut(&(pf, pt, step_label(e, f, mv))) {
                *sides |= 1 << k;
            }
        }
    }

    let m = &sides[0].m;
    let side_of = |p: &Projected| match (reach[0].contains(p), reach[1].contains(p)) {
        (true, true) => 3u8,
        (true, false) => 1,
        _ => 2,
    };
    let mut dot = String::new();
    let _ = writeln!(
        dot,
        "// generated by `ublksim diff --base {} --patch {} -s {} --dot`; do not edit",
        base.spec, patch.spec, sc.name
    );
    let _ = writeln!(dot, "digraph \"diff\" {{");
    let title = format!(
        "{}: {} vs {} — {} and {} projected states, {} only {}, {} only {}; drawn: shortest paths to the first {} of each",
        sc.name,
        base.spec,
        patch.spec,
        reach[0].len(),
        reach[1].len(),
        count_only(0),
        base.spec,
        count_only(1),
        patch.spec,
        per_side
    );
    let _ = writeln!(
        dot,
        "  graph [label=\"{}\\nblue: only {} · orange: only {} · grey: both · red border: a step from here breaks an invariant\", labelloc=t, fontname=\"Helvetica\", fontsize=12, rankdir=TB, nodesep=0.25, ranksep=0.35];",
        q(&title),
        q(&base.spec),
        q(&patch.spec)
    );
    dot.push_str(
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=9];\n",
    );
    dot.push_str("  edge [fontname=\"Helvetica\", fontsize=8];\n");
    let mut counts = (0, 0, 0);
    for (i, p) in order.iter().enumerate() {
        let (fill, class) = match side_of(p) {
            3 => {
                counts.0 += 1;
                (BOTH, "both")
            }
            1 => {
                counts.1 += 1;
                (BASE, "only_base")
            }
            _ => {
                counts.2 += 1;
                (PATCH, "only_patch")
            }
        };
        let label: Vec<String> = p.render(m).split("; ").map(q).collect();
        let mut extra = String::new();
        if i == 0 {
            extra.push_str(", penwidth=2");
        }
        if bad.contains(&i) {
            let _ = write!(extra, ", color=\"{BAD}\", penwidth=2");
        }
        let _ = writeln!(
            dot,
            "  n{i} [label=\"{}\", fillcolor=\"{fill}\", class=\"{class}\"{extra}];",
            label.join("\\n")
        );
    }
    for ((f, t, label), sides) in &edges {
        let ink = match sides {
            1 => BASE_INK,
            2 => PATCH_INK,
            _ => BOTH_INK,
        };
        let _ = writeln!(
            dot,
            "  n{f} -> n{t} [label=\"{}\", color=\"{ink}\", fontcolor=\"{ink}\"];",
            q(label)
        );
    }
    let mut vs: Vec<_> = viol.iter().collect();
    vs.sort_by_key(|(_, (id, _))| *id);
    for (text, (id, _)) in &vs {
        let _ = writeln!(
            dot,
            "  v{id} [label=\"{text}\", shape=octagon, style=filled, fillcolor=\"#ffe1e1\", color=\"{BAD}\", fontcolor=\"{BAD}\", class=\"violation\"];"
        );
    }
    for (h, k, vid, who) in &vedges {
        let from = ids[&sides[*k].proj[*h as usize]];
        let ink = [BASE_INK, PATCH_INK][*k];
        let _ = writeln!(
            dot,
            "  n{from} -> v{vid} [label=\"{who}\", color=\"{BAD}\", fontcolor=\"{ink}\", style=dashed];"
        );
    }
    dot.push_str("}\n");
    Ok(Picture {
        dot,
        nodes: counts,
        edges: edges.len(),
        violations: viol.len(),
        only: (count_only(0), count_only(1)),
    })
}

/// `s` inside a DOT double-quoted string.
fn q(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// `s` as DOT-quoted lines of at most `width` characters, broken at spaces.
fn wrap(s: &str, width: usize) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    for w in s.split(' ') {
        let cur = lines.last_mut().expect("one line");
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            lines.push(w.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
        }
    }
    lines.iter().map(|l| q(l)).collect::<Vec<_>>().join("\\n")
}
