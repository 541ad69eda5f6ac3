//! loom and shuttle on the step model: seeded bugs found, presets pass,
//! failing executions replay, and the engines agree with the explorer.

use std::path::PathBuf;
use ublk_checker::cmd::agree::{agree_table, AgreeArgs};
use ublk_checker::explore::engines::{run_engine, EVerdict};
use ublk_checker::explore::findings::FINDINGS;
use ublk_checker::explore::verdict::{replay_file, CheckOpts};
use ublk_checker::scenarios::by_name;
use ublk_engines::step::Engine;
use ublk_model::{apply_switches, Preset};

fn opts(p: Preset, with: &[&str], out: Option<PathBuf>) -> CheckOpts {
    let w: Vec<String> = with.iter().map(|s| s.to_string()).collect();
    let f = apply_switches(p.features(), &w, &[]).unwrap();
    CheckOpts {
        out,
        liveness: false,
        ..CheckOpts::new(p, f)
    }
}

const PCT: Engine = Engine::ShuttlePct {
    iterations: 2000,
    depth: 4,
    seed: 1,
};

#[test]
fn shuttle_pct_finds_seeded_bugs_and_the_trace_replays() {
    let dir = std::env::temp_dir().join(format!("ublk-engines-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: Vec<_> = FINDINGS
        .iter()
        .flat_map(|f| f.seeded.iter().map(move |s| (f.id, s)))
        .filter(|(_, s)| s.shuttle)
        .map(|(bug, s)| (s.preset, bug, s.scenario, s.inv.to_string()))
        .collect();
    assert_eq!(cases.len(), 5);
    for (p, bug, sc, inv) in cases {
        let o = opts(p, &[bug], Some(dir.clone()));
        let (r, _) = run_engine(&by_name(sc).unwrap(), &o, PCT, false).unwrap();
        assert_eq!(r.verdict, EVerdict::FAIL, "{bug} on {sc}: {r:?}");
        assert_eq!(r.finding.as_deref(), Some(inv.as_str()), "{bug} on {sc}");
        let f = PathBuf::from(r.trace_file.unwrap());
        let (_, same) = replay_file(&f).unwrap();
        assert!(
            same,
            "{bug}: the shuttle trace must replay to the same violation"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shuttle_pct_passes_on_post_and_k72_and_is_deterministic() {
    for p in [Preset::Post, Preset::K72] {
        for sc in [
            "daemon-zc",
            "offdaemon-register-vs-commit",
            "fake-timeout-zc",
        ] {
            let (r, _) = run_engine(&by_name(sc).unwrap(), &opts(p, &[], None), PCT, true).unwrap();
            assert_eq!(r.verdict, EVerdict::PASS, "{sc} on {p:?}: {r:?}");
        }
    }
    let o = opts(Preset::K72, &[], None);
    let sc = by_name("offdaemon-register-vs-commit").unwrap();
    let (a, sa) = run_engine(&sc, &o, PCT, true).unwrap();
    let (b, sb) = run_engine(&sc, &o, PCT, true).unwrap();
    assert_eq!(
        (a.executions, a.dead_ends, sa),
        (b.executions, b.dead_ends, sb)
    );
}

#[test]
fn loom_finds_seeded_bugs_that_fit_and_skips_what_does_not() {
    let loom = Engine::Loom {
        preemption_bound: Some(2),
        max_branches: 100_000,
        max_executions: None,
    };
    for (bug, sc, inv) in [
        ("B-11", "fake-timeout-zc", "S4"),
        ("B-12", "fetch-without-buffer", "S5"),
    ] {
        let (r, _) = run_engine(
            &by_name(sc).unwrap(),
            &opts(Preset::K72, &[bug], None),
            loom,
            false,
        )
        .unwrap();
        assert_eq!(r.verdict, EVerdict::FAIL, "{bug}: {r:?}");
        assert_eq!(r.finding.as_deref(), Some(inv));
    }
    let (r, _) = run_engine(
        &by_name("per-io-daemons-stress").unwrap(),
        &opts(Preset::K72, &[], None),
        loom,
        false,
    )
    .unwrap();
    assert_eq!(r.verdict, EVerdict::SKIP);
    assert!(r.note.unwrap().contains("at most 5 threads"));
}

/// Every seeded bug has a small witness on which the explorer, loom and
/// shuttle-pct all find it (as the same invariant).
#[test]
fn every_seeded_bug_is_found_by_every_engine_on_its_small_witness() {
    let loom = Engine::Loom {
        preemption_bound: Some(2),
        max_branches: 100_000,
        max_executions: None,
    };
    let mut bugs = Vec::new();
    for f in FINDINGS {
        let (bug, Some(w)) = (f.id, &f.witness) else {
            continue;
        };
        let (p, inv) = (w.preset, w.inv.to_string());
        let inv = inv.as_str();
        let sc = by_name(w.scenario).unwrap();
        let o = opts(p, &[bug], None);
        let ex = ublk_checker::explore::verdict::run_scenario(&sc, &o).unwrap();
        assert_eq!(
            ex.violation.map(|v| v.inv.to_string()).as_deref(),
            Some(inv),
            "explorer, {bug} on {}",
            sc.name
        );
        for e in [loom, PCT] {
            let (r, _) = run_engine(&sc, &o, e, false).unwrap();
            assert_eq!(
                r.verdict,
                EVerdict::FAIL,
                "{} {bug} on {}: {r:?}",
                e.name(),
                sc.name
            );
            assert_eq!(r.finding.as_deref(), Some(inv), "{} {bug}", e.name());
            assert!(r.threads <= ublk_engines::step::LOOM_MAX_THREADS);
        }
        bugs.push(bug);
    }
    // one witness per seeded bug of the README's table
    assert_eq!(
        bugs,
        ["B-1", "B-5", "B-6", "B-8", "B-9", "B-10", "B-11", "B-12", "B-24"]
    );
}

#[test]
fn engines_agree_on_the_small_configurations() {
    // every small witness on K72; the new cuts on POST too
    let witnesses: Vec<String> = FINDINGS
        .iter()
        .filter_map(|f| f.witness.as_ref().map(|w| w.scenario.to_string()))
        .collect();
    let cuts: Vec<String> = ublk_checker::scenarios::small::all()
        .into_iter()
        .map(|s| s.name)
        .collect();
    let a = AgreeArgs {
        preset: vec!["K72".into()],
        scenarios: witnesses.clone(),
        with: vec![],
        without: vec![],
        max_states: 2_000,
        max_loom: 100_000,
        preemption_bound: 2,
        merged_bound: 3,
        dfs_iterations: 0,
        json: false,
    };
    let post = AgreeArgs {
        preset: vec!["POST".into()],
        scenarios: cuts,
        ..a.clone()
    };
    let mut rows = agree_table(&a).unwrap();
    assert_eq!(rows.len(), witnesses.len(), "every witness is small");
    rows.extend(agree_table(&post).unwrap());
    for (p, r) in &rows {
        assert!(r.agree, "{p} {}: {r:?}", r.scenario);
        if r.explorer == "PASS" {
            assert_eq!(r.loom_projected, r.projected, "{p} {}", r.scenario);
            assert_eq!(r.shuttle_projected, r.projected, "{p} {}", r.scenario);
        }
    }
    // a seeded bug: all three report it
    let b = AgreeArgs {
        preset: vec!["K72".into()],
        scenarios: vec!["small-cancel-before-start".into()],
        with: vec!["B-24".into()],
        ..a
    };
    let rows = agree_table(&b).unwrap();
    assert!(
        rows[0].1.agree && rows[0].1.explorer == "FAIL S7",
        "{rows:?}"
    );
}
