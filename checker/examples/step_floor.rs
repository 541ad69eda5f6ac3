//! What the model's own steps cost, apart from the explorer around them: the floor of any
//! explorer that runs this model.
//!
//! `cargo run --release -p ublk-checker --example step_floor [--blocked] [SCENARIO [PRESET]]`
//! (default: the bench scenario, per-io-daemons-stress on K72; `--blocked` lists instead
//! which actors' tried moves turn out blocked, and where they stand).
//!
//! It collects every reachable state (unpacked, in memory), then times passes over all of
//! them, each the median of 5: (a) list the moves and clone the state per move; (b) the same
//! and take the move with its invariants, as the explorer does; (c) and pack the successor;
//! (d) and fingerprint the packing; and (g) only list the moves. (b) − (a) + (g) is the
//! model's own work — guards, steps, invariants — which no storage, hashing or copying scheme removes; the explorer's
//! whole time per transition (`ublksim bench`) divided by it bounds the speed-up any
//! explorer of this model can reach without making the model's steps themselves faster.

mod common;

use std::time::{Duration, Instant};
use ublk_checker::explore::bfs::Explorer;
use ublk_checker::explore::packing::pack;
use ublk_checker::explore::store::fingerprint_packed;
use ublk_model::{Model, Outcome, State};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let blocked_only = args.iter().any(|a| a == "--blocked");
    args.retain(|a| a != "--blocked");
    let (name, preset, m) = common::model_of(&args);

    // every reachable state, as the explorer finds them (a violation ends its path only)
    let (_, graph) = Explorer::new(&m)
        .all_violations(true)
        .run_graph(State::clone);
    let states = graph.nodes;
    if blocked_only {
        blocked(&m, &states);
        return;
    }

    // the guards alone: which moves each state has
    let guards = || {
        let t = Instant::now();
        let n: usize = states.iter().map(|s| m.moves(s).count()).sum();
        std::hint::black_box(n);
        t.elapsed()
    };
    let g = median((0..5).map(|_| guards()).collect());
    // 0: clone per move, 1: and step, 2: and pack, 3: and fingerprint
    let pass = |level: u8| -> (Duration, u64, u64) {
        let mut buf = Vec::new();
        let (mut moves, mut sink) = (0u64, 0u64);
        let t = Instant::now();
        for s in &states {
            for mv in m.moves(s) {
                moves += 1;
                let mut n: State = s.clone();
                if level >= 1 {
                    if let Ok(Outcome::Stepped(_)) = m.apply_enabled(&mut n, mv) {
                        if level >= 2 {
                            let p = pack(&n, &mut buf);
                            sink += p.len() as u64;
                            if level >= 3 {
                                sink ^= fingerprint_packed(p) as u64;
                            }
                        }
                    }
                }
                sink += std::hint::black_box(&n).actors.len() as u64;
            }
        }
        (t.elapsed(), moves, sink)
    };
    let runs = |level: u8| median((0..5).map(|_| pass(level).0).collect());
    let (_, moves, _) = pass(0);
    let t: Vec<Duration> = (0..4).map(runs).collect();
    let ns = |d: Duration| d.as_nanos() as f64 / moves as f64;
    println!(
        "{name} on {}: {} states, {moves} moves listed",
        preset.name(),
        states.len()
    );
    println!("(g) the moves (guards) alone:    {:7.1} ns/move", ns(g));
    println!("(a) moves and a clone per move:  {:7.1} ns/move", ns(t[0]));
    println!("(b) and the step, invariants:    {:7.1} ns/move", ns(t[1]));
    println!("(c) and pack the successor:      {:7.1} ns/move", ns(t[2]));
    println!("(d) and fingerprint it:          {:7.1} ns/move", ns(t[3]));
    let own = t[1] - t[0] + g;
    println!(
        "the model's own work, (b) - (a) + (g): {:.1} ns/move, {:.3} s for the scenario",
        ns(own),
        own.as_secs_f64()
    );
}

/// Which actors' tried moves turn out blocked, and where they stand: moves the explorer
/// clones a state and steps for nothing.
fn blocked(m: &Model, states: &[State]) {
    let mut h: rustc_hash::FxHashMap<String, u64> = Default::default();
    for s in states {
        for mv in m.moves(s) {
            let mut n = s.clone();
            if let Ok(Outcome::Blocked) = m.apply_enabled(&mut n, mv) {
                let k = format!(
                    "{} {:?}",
                    m.actors[mv.actor as usize].name, s.actors[mv.actor as usize].at
                );
                *h.entry(k).or_default() += 1;
            }
        }
    }
    let mut v: Vec<_> = h.into_iter().collect();
    v.sort_by_key(|(k, c)| (std::cmp::Reverse(*c), k.clone()));
    for (k, c) in v.iter().take(25) {
        println!("{c:9} {k}");
    }
}
