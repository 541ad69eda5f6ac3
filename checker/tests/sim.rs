//! The simulator: seeded-bug sweeps find every bug, the shrunk
//! counterexample is at most twice the explorer's shortest, and the same
//! seed gives a byte-identical trace.

use rand::{Rng, SeedableRng};
use ublk_checker::explore::shrink::{shrink, Cex};
use ublk_checker::explore::verdict::{self, make_trace, CheckOpts, Ending};
use ublk_checker::scenarios;
use ublk_model::config::CopyMode;
use ublk_model::{apply_switches, Features, Model, Preset};
use ublk_sim::faults::FaultSet;
use ublk_sim::workload::{scenario, Quirk, SimConfig};
use ublk_sim::{simulate, RunOpts};

struct Bug {
    id: &'static str,
    preset: Preset,
    features: Features,
    copy: CopyMode,
    faults: &'static str,
    quirks: &'static str,
    /// The explorer's built-in scenario for the same bug.
    scenario: &'static str,
}

fn bugs() -> Vec<Bug> {
    let seeded = |p: Preset, b: &str| apply_switches(p.features(), &[b.to_string()], &[]).unwrap();
    let b = |id, preset, features, copy, faults, quirks, scenario| Bug {
        id,
        preset,
        features,
        copy,
        faults,
        quirks,
        scenario,
    };
    vec![
        b(
            "B-1",
            Preset::Post,
            Preset::Post.features().without(ublk_model::Sw::P02),
            CopyMode::UserCopy,
            "elevator",
            "none",
            "user-copy-vs-elevator",
        ),
        b(
            "B-5",
            Preset::K72,
            seeded(Preset::K72, "B-5"),
            CopyMode::ZeroCopy,
            "none",
            "double-fetch",
            "concurrent-fetch",
        ),
        b(
            "B-6",
            Preset::Pre,
            seeded(Preset::Pre, "B-6"),
            CopyMode::ZeroCopy,
            "recovery,stop",
            "unfixed-rings",
            "recovery-reissue-abort",
        ),
        b(
            "B-8",
            Preset::K72,
            seeded(Preset::K72, "B-8"),
            CopyMode::ZeroCopy,
            "kill",
            "none",
            "register-vs-server-exit",
        ),
        b(
            "B-10",
            Preset::K72,
            seeded(Preset::K72, "B-10"),
            CopyMode::Copy,
            "none",
            "need-get-data",
            "need-get-data-fail",
        ),
        b(
            "B-11",
            Preset::K72,
            seeded(Preset::K72, "B-11"),
            CopyMode::ZeroCopy,
            "fake-timeout",
            "none",
            "fake-timeout-zc",
        ),
        b(
            "B-12",
            Preset::K72,
            seeded(Preset::K72, "B-12"),
            CopyMode::Copy,
            "kill",
            "no-buffer-fetch",
            "fetch-without-buffer",
        ),
        b(
            "B-24",
            Preset::K72,
            seeded(Preset::K72, "B-24"),
            CopyMode::ZeroCopy,
            "kill",
            "none",
            "cancel-vs-dispatch",
        ),
    ]
}

/// The configuration of one swarm seed (as `ublksim sim --swarm`).
fn seed_config(bug: &Bug, seed: u64) -> SimConfig {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed);
    let mut c = SimConfig {
        copy: bug.copy,
        faults: FaultSet::parse(bug.faults).unwrap(),
        quirks: Quirk::parse_list(bug.quirks).unwrap(),
        ..SimConfig::default()
    };
    c.faults = c.faults.swarm(&mut rng);
    c.quirks.retain(|_| rng.random_bool(0.5));
    c
}

/// Simulate one swarm seed of `bug`'s configuration.
fn run_seed(bug: &Bug, seed: u64, steps: u64) -> (Model, ublk_sim::SimReport) {
    let c = seed_config(bug, seed);
    let m = Model::new(&scenario(&c).0, bug.features).unwrap();
    let r = simulate(
        &m,
        &c.faults,
        &RunOpts {
            seed,
            steps,
            ..RunOpts::default()
        },
        |_| {},
    );
    (m, r)
}

#[test]
fn every_seeded_bug_is_found_within_1000_seeds_and_shrinks_to_twice_the_shortest() {
    for bug in bugs() {
        let found = (0..1000u64).find_map(|seed| {
            let (m, r) = run_seed(&bug, seed, 20_000);
            r.violation.map(|(path, v)| {
                (
                    seed,
                    Cex {
                        scenario: m.scenario.clone(),
                        path,
                        violation: v,
                    },
                )
            })
        });
        let (seed, cex) = found.unwrap_or_else(|| panic!("{} not found in 1000 seeds", bug.id));
        let small = shrink(&cex, bug.features);
        assert_eq!(small.violation.inv, cex.violation.inv);
        let explorer = verdict::run_scenario(
            &scenarios::by_name(bug.scenario).unwrap(),
            &CheckOpts::new(bug.preset, bug.features),
        )
        .unwrap();
        let shortest = explorer
            .trace
            .expect("the explorer finds it too")
            .steps
            .len();
        assert!(
            small.path.len() <= 2 * shortest,
            "{} (seed {seed}): shrunk to {} steps, explorer's shortest is {shortest}",
            bug.id,
            small.path.len()
        );
        // the shrunk trace replays to the same violation
        let m = Model::new(&small.scenario, bug.features).unwrap();
        let t = make_trace(
            &m,
            bug.preset,
            "sim-shrunk",
            &small.path,
            Ending::Violation(&small.violation),
        );
        let dir =
            std::env::temp_dir().join(format!("ublksim-simtest-{}-{}", std::process::id(), bug.id));
        let f = dir.join("t.jsonl");
        t.write(&f).unwrap();
        assert!(
            verdict::replay_file(&f).unwrap().1,
            "{}: shrunk trace does not replay",
            bug.id
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn same_seed_same_trace_bytes() {
    let bug = &bugs()[3]; // B-8
    let run = || {
        let (m, r) = run_seed(bug, 1, 20_000);
        let (path, v) = r.violation.expect("B-8 on seed 1");
        let small = shrink(
            &Cex {
                scenario: m.scenario.clone(),
                path,
                violation: v,
            },
            bug.features,
        );
        let sm = Model::new(&small.scenario, bug.features).unwrap();
        make_trace(
            &sm,
            bug.preset,
            "sim-shrunk",
            &small.path,
            Ending::Violation(&small.violation),
        )
        .to_jsonl()
    };
    assert_eq!(run(), run());
}

#[test]
fn k72_sweep_runs_clean_apart_from_known_findings() {
    for copy in [
        CopyMode::ZeroCopy,
        CopyMode::UserCopy,
        CopyMode::Copy,
        CopyMode::AutoBufReg,
    ] {
        for seed in 0..8u64 {
            let bug = Bug {
                id: "-",
                preset: Preset::K72,
                features: Preset::K72.features(),
                copy,
                faults: "all",
                quirks: "all",
                scenario: "-",
            };
            let (m, r) = run_seed(&bug, seed, 50_000);
            if let Some((path, v)) = r.violation {
                assert!(
                    ublk_checker::explore::known::sim_known(&m, Preset::K72, &path, &v).is_some(),
                    "{copy:?} seed {seed}: {v}"
                );
            }
        }
    }
}

/// A per-queue daemon (one thread per queue, one strand per tag) at depth 2: on K612, whose
/// only server shape it is, and on K72; swarm seeds of every fault and quirk show only
/// declared findings.
#[test]
fn per_queue_daemons_run_clean_apart_from_known_findings() {
    for (preset, copy) in [
        (Preset::K612, CopyMode::Copy),
        (Preset::K612, CopyMode::UserCopy),
        (Preset::K72, CopyMode::ZeroCopy),
        (Preset::K72, CopyMode::AutoBufReg),
    ] {
        for seed in 0..8u64 {
            let bug = Bug {
                id: "-",
                preset,
                features: preset.features(),
                copy,
                faults: "all",
                quirks: "all",
                scenario: "-",
            };
            let mut c = seed_config(&bug, seed);
            c.per_queue = true;
            let sc = scenario(&c).0;
            let m = Model::new(&sc, bug.features).unwrap_or_else(|e| panic!("{e}"));
            let r = simulate(
                &m,
                &c.faults,
                &RunOpts {
                    seed,
                    steps: 50_000,
                    ..RunOpts::default()
                },
                |_| {},
            );
            if let Some((path, v)) = r.violation {
                assert!(
                    ublk_checker::explore::known::sim_known(&m, preset, &path, &v).is_some(),
                    "{} {copy:?} seed {seed}: {v}",
                    preset.name()
                );
            }
        }
    }
}
