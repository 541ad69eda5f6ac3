//! Property tests: random walks over enabled steps never panic, under any
//! switch combination; applying a step is deterministic; a trace survives
//! writing and reading; a switch set survives its names; every generated
//! configuration passes the scenario loader; shrinking keeps the violation.

use proptest::prelude::*;
use std::collections::HashSet;
use ublk_checker::conform::compile::to_trace;
use ublk_checker::conform::generate::generate_one;
use ublk_checker::explore::findings::{Kind, FINDINGS};
use ublk_checker::explore::replay::verify;
use ublk_checker::explore::shrink::{shrink, Cex};
use ublk_checker::explore::verdict::{make_trace, Ending};
use ublk_checker::scenarios;
use ublk_checker::scenarios::sweep::{configurations, Level};
use ublk_model::{apply_switches, Features, Model, Move, Outcome, Preset, Sw};
use ublk_traces::Trace;

/// Every move (actor and alternative) that is not blocked in `s`.
fn enabled(m: &Model, s: &ublk_model::State) -> Vec<Move> {
    m.moves(s)
        .filter(|&a| !matches!(m.apply(&mut s.clone(), a), Ok(Outcome::Blocked)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_walks_never_panic_and_apply_is_deterministic(
        sc in 0usize..64,
        mask in any::<u64>(),
        choices in proptest::collection::vec(any::<u8>(), 1..120),
    ) {
        let all = scenarios::all();
        let sc = &all[sc % all.len()];
        let feat = Features(mask & Features::all().0);
        // a switch set without zero copy / per-io daemons (6.12's) refuses the scenarios it
        // cannot express (any other error is a bug): then walk it with those switches on
        let m = match Model::new(sc, feat) {
            Ok(m) => m,
            Err(e) => {
                prop_assert!(e.starts_with("n/a: "), "{}", e);
                let newer = [Sw::PerIoDaemon, Sw::ZeroCopy, Sw::RecoveryFailIo, Sw::QuiesceDev];
                Model::new(sc, newer.iter().fold(feat, |f, &w| f.with(w))).unwrap()
            }
        };
        let mut s = m.init();
        for c in choices {
            let en = enabled(&m, &s);
            if en.is_empty() {
                break;
            }
            let a = en[c as usize % en.len()];
            let mut twin = s.clone();
            let r1 = m.apply(&mut s, a);
            let r2 = m.apply(&mut twin, a);
            prop_assert_eq!(&s, &twin);
            match (r1, r2) {
                (Ok(Outcome::Stepped(i1)), Ok(Outcome::Stepped(i2))) => prop_assert_eq!(i1, i2),
                (Err(v1), Err(v2)) => { prop_assert_eq!(v1, v2); break; }
                (a, b) => prop_assert!(false, "diverged: {:?} vs {:?}", a.is_ok(), b.is_ok()),
            }
        }
    }
}

/// A random walk of `m` (choices index the enabled moves); the path and the violation
/// that ended it, if one did.
fn walk(m: &Model, choices: &[u8]) -> (Vec<Move>, Option<ublk_model::Violation>) {
    let mut s = m.init();
    let mut path = Vec::new();
    for &c in choices {
        let en = enabled(m, &s);
        if en.is_empty() {
            break;
        }
        let a = en[c as usize % en.len()];
        path.push(a);
        match m.apply(&mut s, a) {
            Ok(_) => {}
            Err(v) => return (path, Some(v)),
        }
    }
    (path, None)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A trace of any walk, written as JSON lines and parsed back, is the same trace and
    /// writes the same bytes; `check --replay` semantics (the replayed steps) agree.
    #[test]
    fn a_trace_survives_writing_and_reading(
        sc in 0usize..64,
        choices in proptest::collection::vec(any::<u8>(), 1..80),
    ) {
        let all = scenarios::all();
        let sc = &all[sc % all.len()];
        let preset = Preset::K72;
        let Ok(m) = Model::new(sc, preset.features()) else { return Ok(()); };
        let (path, v) = walk(&m, &choices);
        let end = match &v {
            Some(v) => Ending::Violation(v),
            None => Ending::Nothing,
        };
        let t = make_trace(&m, preset, "bfs", &path, end);
        let text = t.to_jsonl();
        let back = Trace::parse(&text, "memory").unwrap();
        prop_assert_eq!(&back, &t);
        prop_assert_eq!(back.to_jsonl(), text);
    }

    /// A switch set, written as its difference from a preset (`+p09 -fix-b8`, as trace
    /// headers and `--with`/`--without` spell it), reads back as the same set.
    #[test]
    fn a_switch_set_survives_its_names(mask in any::<u64>(), preset in 0usize..4) {
        let preset = Preset::every().nth(preset % Preset::every().count()).unwrap();
        let f = Features(mask & Features::all().0);
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for d in f.diff_from(preset.features()) {
            match d.split_at(1) {
                ("+", n) => with.push(n.to_string()),
                (_, n) => without.push(n.to_string()),
            }
        }
        let back = apply_switches(preset.features(), &with, &without).unwrap();
        prop_assert_eq!(back, f);
    }

    /// Every configuration the sweep generates is a scenario the loader accepts (the
    /// validation `--scenario-file` and traces go through), and survives JSON.
    #[test]
    fn generated_configurations_pass_the_loader(i in 0usize..100_000) {
        let all = configurations(Level::S1);
        let sc = &all[i % all.len()];
        prop_assert!(ublk_traces::validate::scenario(sc).is_ok(), "{}", sc.name);
        let json = serde_json::to_string(sc).unwrap();
        let back: ublk_model::Scenario = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, sc);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, ..ProptestConfig::default() })]

    /// A random walk that breaks an invariant under a seeded bug shrinks to a
    /// counterexample that still breaks the same invariant, in no more steps.
    #[test]
    fn shrinking_keeps_the_violation(
        case in 0usize..64,
        choices in proptest::collection::vec(any::<u8>(), 1..150),
    ) {
        let cases: Vec<_> = FINDINGS
            .iter()
            .filter(|f| f.kind == Kind::Seeded)
            .flat_map(|f| f.seeded.iter().map(move |s| (f, s)))
            .collect();
        let (f, s) = cases[case % cases.len()];
        let feat = s.preset.features().without(f.fix.unwrap());
        let sc = scenarios::by_name(s.scenario).unwrap();
        let m = Model::new(&sc, feat).unwrap();
        let (path, v) = walk(&m, &choices);
        let Some(v) = v else { return Ok(()); };
        let c = Cex { scenario: sc.clone(), path: path.clone(), violation: v.clone() };
        let small = shrink(&c, feat);
        prop_assert_eq!(small.violation.inv, v.inv);
        prop_assert!(small.path.len() <= path.len());
        let sm = Model::new(&small.scenario, feat).unwrap();
        let (_, end) = ublk_checker::explore::bfs::replay(&sm, &small.path).unwrap();
        prop_assert_eq!(end.map(|e| e.inv), Some(v.inv));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// What the conformance oracle predicts for a random sequential program (the
    /// compiled trace: every user step and the kernel steps that settle after it) is a
    /// path of the model: re-executed step by step it gives the same functions and
    /// results, and ends as predicted.
    #[test]
    fn oracle_predictions_are_paths_of_the_model(seed in any::<u64>(), n in 0usize..1000) {
        let preset = Preset::K72;
        let mp = generate_one(seed, n, preset.features(), &HashSet::new());
        let t = to_trace(&mp, preset).unwrap();
        let v = verify(&t, true).unwrap();
        prop_assert!(v.mismatch.is_none(), "{}: {:?}", mp.id, v.mismatch);
    }
}
