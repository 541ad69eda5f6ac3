//! Reductions keep verdicts: every built-in scenario and every generated configuration of
//! the `s1` sweep, on every preset, explored with and without each reduction,
//! must give the same verdict, the same findings (signature and known-ness) and the same
//! "sometimes" goals. Safety only: the reductions are not used by the liveness pass.
//! (The partial-order reduction's independence itself is checked state by state in
//! `tests/independence.rs`.)

use std::collections::BTreeSet;
use ublk_checker::explore::bfs::Explorer;
use ublk_checker::explore::symmetry::Symmetry;
use ublk_checker::explore::verdict::{self, CheckOpts, ScenarioResult, Verdict};
use ublk_checker::scenarios;
use ublk_checker::scenarios::sweep::{configurations, Level};
use ublk_model::{Model, Preset, Scenario};

/// What a reduction must keep: the verdict, each finding, the goals reached.
fn outcome(r: &ScenarioResult) -> (Verdict, BTreeSet<String>, BTreeSet<String>) {
    let findings = r
        .findings
        .iter()
        .map(|f| format!("{:?} known={}", f.signature, f.known.is_some()))
        .collect();
    let goals = r.goals.iter().map(|g| format!("{g:?}")).collect();
    (r.verdict.clone(), findings, goals)
}

/// Every built-in scenario and `s1` sweep configuration that has interchangeable
/// submitters on `p`. The others explore exactly as without the reduction: the explorer
/// drops a trivial [`Symmetry`] (checked below on one of them).
fn symmetric(p: Preset) -> Vec<Scenario> {
    let mut all = scenarios::all();
    all.extend(configurations(Level::S1));
    let mut seen = BTreeSet::new();
    all.into_iter()
        .filter(|sc| seen.insert(sc.name.clone()))
        .filter(|sc| Model::new(sc, p.features()).is_ok_and(|m| !Symmetry::of(&m).is_trivial()))
        .collect()
}

#[test]
fn symmetry_keeps_every_verdict_finding_and_goal() {
    let (mut compared, mut before, mut after) = (0usize, 0u64, 0u64);
    for p in Preset::every() {
        let plain = CheckOpts {
            liveness: false,
            max_states: 200_000,
            out: None,
            ..CheckOpts::new(p, p.features())
        };
        let reduced = CheckOpts {
            symmetry: true,
            liveness: false,
            max_states: 200_000,
            out: None,
            ..CheckOpts::new(p, p.features())
        };
        for sc in symmetric(p) {
            let a = verdict::run_scenario(&sc, &plain).unwrap();
            let b = verdict::run_scenario(&sc, &reduced).unwrap();
            let where_ = format!("{} on {}", sc.name, p.name());
            assert!(b.states <= a.states, "{where_}: more states reduced");
            if a.verdict == Verdict::Incomplete {
                // cut without the reduction: what it found, the reduced search finds too
                let (_, fa, ga) = outcome(&a);
                let (_, fb, gb) = outcome(&b);
                assert!(fa.is_subset(&fb) && ga.is_subset(&gb), "{where_}");
                continue;
            }
            assert_eq!(outcome(&a), outcome(&b), "{where_}");
            compared += 1;
            before += a.states;
            after += b.states;
        }
    }
    // not vacuous: symmetric configurations exist, were compared, and were reduced
    eprintln!("{compared} configurations compared: {before} states, {after} with symmetry");
    assert!(compared >= 40, "{compared} configurations compared");
    assert!(after * 10 < before * 6, "{before} states → {after}");
}

/// A model with no two interchangeable actors explores the same states with the reduction
/// asked for as without it (the explorer drops the trivial symmetry).
#[test]
fn symmetry_without_interchangeable_actors_changes_nothing() {
    let sc = scenarios::by_name("thread-exit-ring-open").unwrap();
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let sc2 = scenarios::by_name("stale-tag-lookup").unwrap();
    let m2 = Model::new(&sc2, Preset::K72.features()).unwrap();
    assert!(!Symmetry::of(&m).is_trivial());
    assert!(Symmetry::of(&m2).is_trivial());
    let a = Explorer::new(&m2).run();
    let b = Explorer::new(&m2).symmetry(true).run();
    assert_eq!((a.states, a.transitions), (b.states, b.transitions));
    // and with two interchangeable submitters, about half
    let a = Explorer::new(&m).run();
    let b = Explorer::new(&m).symmetry(true).run();
    assert!(
        b.states < a.states && b.states * 2 > a.states,
        "{} → {}",
        a.states,
        b.states
    );
}

/// A counterexample found under the reduction is a real schedule: it replays from the
/// initial state step by step to the same violation (paths are rebuilt over the states the
/// explorer really reached, not over canonical ones).
#[test]
fn counterexamples_under_symmetry_replay() {
    let sc = scenarios::by_name("thread-exit-before-start").unwrap();
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    assert!(!Symmetry::of(&m).is_trivial());
    for exact in [false, true] {
        every_violation_replays(&m, Explorer::new(&m).symmetry(true).exact(exact));
    }
}

/// Every built-in scenario and every seventh `s1` configuration (all would take minutes;
/// the whole `s1` and `s2` sweeps were compared by hand, see the README), on every preset.
fn sample(p: Preset) -> Vec<Scenario> {
    let mut all = scenarios::all();
    all.extend(configurations(Level::S1).into_iter().step_by(7));
    let mut seen = BTreeSet::new();
    all.into_iter()
        .filter(|sc| seen.insert(sc.name.clone()))
        .filter(|sc| Model::new(sc, p.features()).is_ok())
        .collect()
}

#[test]
fn partial_order_keeps_every_verdict_finding_and_goal() {
    let (mut compared, mut before, mut after, mut both) = (0usize, 0u64, 0u64, 0u64);
    for p in Preset::every() {
        let opts = |partial_order: bool, symmetry: bool| CheckOpts {
            partial_order,
            symmetry,
            liveness: false,
            max_states: 200_000,
            out: None,
            ..CheckOpts::new(p, p.features())
        };
        for sc in sample(p) {
            let a = verdict::run_scenario(&sc, &opts(false, false)).unwrap();
            let b = verdict::run_scenario(&sc, &opts(true, false)).unwrap();
            let c = verdict::run_scenario(&sc, &opts(true, true)).unwrap();
            let where_ = format!("{} on {}", sc.name, p.name());
            assert!(
                b.states <= a.states && c.states <= b.states,
                "{where_}: more states"
            );
            if a.verdict == Verdict::Incomplete {
                let (_, fa, ga) = outcome(&a);
                for r in [&b, &c] {
                    let (_, f, g) = outcome(r);
                    assert!(fa.is_subset(&f) && ga.is_subset(&g), "{where_}");
                }
                continue;
            }
            assert_eq!(outcome(&a), outcome(&b), "{where_}: partial order");
            assert_eq!(
                outcome(&a),
                outcome(&c),
                "{where_}: partial order and symmetry"
            );
            compared += 1;
            before += a.states;
            after += b.states;
            both += c.states;
        }
    }
    eprintln!(
        "{compared} configurations compared: {before} states, {after} with partial order, \
         {both} with it and symmetry"
    );
    assert!(compared >= 300, "{compared} configurations compared");
    assert!(after * 10 < before * 9, "{before} states → {after}");
}

/// Counterexamples found under the partial-order reduction replay from the initial state
/// to the same violation.
#[test]
fn counterexamples_under_partial_order_replay() {
    let sc = scenarios::by_name("per-io-daemons-stress").unwrap();
    let m = Model::new(&sc, Preset::Post.features()).unwrap();
    for exact in [false, true] {
        let x = Explorer::new(&m)
            .partial_order(true)
            .symmetry(exact)
            .exact(exact);
        every_violation_replays(&m, x);
    }
}

/// `x` finds violations, and each one's path replays from the initial state to it.
fn every_violation_replays(m: &Model, x: Explorer) {
    let r = x.all_violations(true).run();
    assert!(!r.violations.is_empty());
    for (_, path, v) in &r.violations {
        let (_, got) = ublk_checker::explore::bfs::replay(m, path).unwrap();
        assert_eq!(got.as_ref().map(|g| &g.msg), Some(&v.msg));
    }
}
