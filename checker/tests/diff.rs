//! `ublksim diff`: side syntax, the PRE → POST headline, agreement of the
//! command-result table with plain exploration, and the fix-o6 worked
//! example of docs/howto.md carried end to end.

use std::collections::BTreeSet;
use std::time::Duration;
use ublk_checker::diff::compare::{self, parse_side, DiffOpts};
use ublk_checker::diff::situations;
use ublk_checker::explore::bfs::{Explorer, Stop};
use ublk_checker::explore::verdict::{self, CheckOpts, Verdict};
use ublk_checker::scenarios;
use ublk_model::{Func, Inv, Model, Preset, Sw};

fn opts(liveness: bool) -> DiffOpts {
    DiffOpts {
        scenarios: scenarios::all(),
        examples: 1,
        max_states: 2_000_000,
        max_time: Duration::from_secs(120),
        liveness,
    }
}

#[test]
fn side_syntax() {
    let s = parse_side("PRE+p02+p03").unwrap();
    assert!(s.features.has(Sw::P02) && s.features.has(Sw::P03) && !s.features.has(Sw::P09));
    assert_eq!(s.switches, ["+p02", "+p03"]);
    // a bug id with + means the bug is present: its fix removed
    assert!(!parse_side("K72+B-8").unwrap().features.has(Sw::FixB8));
    assert!(!parse_side("POST-p02").unwrap().features.has(Sw::P02));
    // names containing '-' are matched whole
    let s = parse_side("K72-fix-b8+v2-trb-overflow-check").unwrap();
    assert!(!s.features.has(Sw::FixB8));
    for bad in ["K73", "PRE+nope", "PRE+p0", "POST+"] {
        assert!(parse_side(bad).is_err(), "{bad} must not parse");
    }
}

#[test]
fn pre_to_post_removes_the_b1_use_after_free_and_changes_off_daemon_results() {
    let r = compare::run(
        &parse_side("PRE").unwrap(),
        &parse_side("POST").unwrap(),
        &opts(true),
    )
    .unwrap();
    assert!(!r.worse);
    let uaf = r
        .scenarios
        .iter()
        .find(|s| s.scenario == "user-copy-vs-elevator")
        .unwrap();
    assert!(
        uaf.base.verdict.starts_with("KNOWN S1"),
        "{}",
        uaf.base.verdict
    );
    assert_eq!(uaf.patch.verdict, "PASS");
    // changed rows come first
    let first_unchanged = r.commands.iter().position(|c| !c.changed).unwrap();
    assert!(r.commands[first_unchanged..].iter().all(|c| !c.changed));
    let row = |cmd: &str, sit: &str, who: &str| {
        r.commands
            .iter()
            .find(|c| {
                c.mode == "zero copy" && c.command == cmd && c.situation == sit && c.issuer == who
            })
            .unwrap_or_else(|| panic!("no row {cmd} {sit} {who}"))
    };
    let reg = row("REGISTER_IO_BUF", "OWNED", "other task");
    assert_eq!(reg.base, "-EINVAL");
    assert!(reg.patch.contains('0') && reg.changed, "{reg:?}");
    let unreg = row("UNREGISTER_IO_BUF", "ACTIVE (after COMMIT)", "daemon");
    assert_eq!((unreg.base.as_str(), unreg.changed), ("-EBUSY", true));
    assert!(unreg.patch.contains('0'), "{unreg:?}");
    // spec §4.1: bad ioctl type with a bad q_id
    let bad = row(
        "bad ioctl type, bad q_id",
        "before FETCH",
        "no io->task yet",
    );
    assert_eq!(
        (bad.base.as_str(), bad.patch.as_str()),
        ("-EINVAL", "-EOPNOTSUPP")
    );
    // off-daemon paths reach states PRE never does
    let st = r
        .scenarios
        .iter()
        .find(|s| s.scenario == "offdaemon-register-vs-commit")
        .unwrap();
    let d = st.states.as_ref().unwrap();
    assert!(d.only_patch > 0 && d.common > 0);
    assert!(!d.examples_patch.is_empty() && !d.examples_patch[0].steps.is_empty());
    // deterministic
    let again = compare::run(
        &parse_side("PRE").unwrap(),
        &parse_side("POST").unwrap(),
        &opts(true),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        serde_json::to_string(&again).unwrap()
    );
}

/// The table is made of the same results plain exploration observes.
#[test]
fn command_table_agrees_with_observed_results() {
    for preset in [Preset::Pre, Preset::Post, Preset::K72] {
        let t = situations::table(preset.features()).unwrap();
        assert!(t.partial.is_empty(), "{:?}", t.partial);
        for (mode, label) in situations::MODES {
            let m = Model::new(&situations::scenario(mode), preset.features()).unwrap();
            let r = Explorer::new(&m).observe().run();
            assert_eq!(r.stop, Stop::Exhausted);
            let seen: BTreeSet<i32> = r
                .observed
                .iter()
                .filter(|(a, f, _)| {
                    (a == "daemon" || a == "other") && *f != Func::IoUringEnterWaitCqe
                })
                .map(|(_, _, v)| *v)
                .collect();
            let table: BTreeSet<i32> = t
                .rows
                .iter()
                .filter(|(k, _)| k.0 == label)
                .flat_map(|(_, v)| v.iter().flatten().copied())
                .collect();
            assert_eq!(seen, table, "{} {label}", preset.name());
        }
    }
}

/// docs/howto.md, end to end: the O-6 fix as a switch.
#[test]
fn fix_o6_worked_example() {
    let sc = scenarios::by_name("thread-exit-before-start").unwrap();
    let run = |f| verdict::run_scenario(&sc, &CheckOpts::new(Preset::K72, f)).unwrap();
    let k72 = Preset::K72.features();
    assert!(!k72.has(Sw::FixO6), "fix-o6 is a proposal, in no preset");
    let before = run(k72);
    assert_eq!(before.verdict, Verdict::Known);
    assert_eq!(before.violation.unwrap().inv, Inv::S7);
    assert_eq!(run(k72.with(Sw::FixO6)).verdict, Verdict::Pass);
    let r = compare::run(
        &parse_side("K72").unwrap(),
        &parse_side("K72+fix-o6").unwrap(),
        &opts(false),
    )
    .unwrap();
    assert!(!r.worse);
    let changed: Vec<_> = r.scenarios.iter().filter(|s| s.changed).collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].scenario, "thread-exit-before-start");
    assert_eq!(changed[0].patch.verdict, "PASS");
    // nothing else moves: no other state or command result differs
    assert_eq!(r.counts(), (1, 0, 0));
    // and the bug id works as a switch: K72+fix-o6+O-6 is K72 again
    assert_eq!(parse_side("K72+fix-o6+O-6").unwrap().features, k72);
}

/// Turning p02 off on POST is a regression `diff` must flag (exit code 1).
#[test]
fn a_regression_is_worse() {
    let mut o = opts(false);
    o.scenarios = vec![scenarios::by_name("register-vs-elevator").unwrap()];
    let r = compare::run(
        &parse_side("POST").unwrap(),
        &parse_side("POST-p02").unwrap(),
        &o,
    )
    .unwrap();
    assert!(r.worse);
    assert!(r.scenarios[0].patch.verdict.starts_with("FAIL S1"));
}

/// The state-graph picture (`diff --dot/--svg`): drawn nodes coloured exactly by who reaches
/// them, its counts those of the diff's state table, violations drawn where a side has one,
/// the same bytes every time, and the committed example fresh.
mod picture {
    use super::*;
    use ublk_checker::diff::picture::{state_graph, Picture};

    fn draw(sc: &str, base: &str, patch: &str) -> Picture {
        let o = DiffOpts {
            scenarios: scenarios::select(&[sc.to_string()]).unwrap(),
            ..opts(false)
        };
        state_graph(
            &o.scenarios[0],
            &parse_side(base).unwrap(),
            &parse_side(patch).unwrap(),
            &o,
            6,
        )
        .unwrap()
    }

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn nodes_are_coloured_by_the_sides_that_reach_them() {
        let p = draw("daemon-unreg-after-commit", "PRE", "POST");
        // the same numbers as the diff's REACHABLE STATES table
        let o = DiffOpts {
            scenarios: scenarios::select(&["daemon-unreg-after-commit".to_string()]).unwrap(),
            ..opts(false)
        };
        let r = compare::run(
            &parse_side("PRE").unwrap(),
            &parse_side("POST").unwrap(),
            &o,
        )
        .unwrap();
        let st = r.scenarios[0].states.as_ref().expect("both sides complete");
        assert_eq!(p.only, (st.only_base, st.only_patch));
        assert_eq!(
            p.only,
            (2, 16),
            "PRE's pre-p09 hang states vs POST's ended request"
        );
        // every drawn node carries its class, and the classes add up
        assert_eq!(count(&p.dot, "class=\"both\""), p.nodes.0);
        assert_eq!(count(&p.dot, "class=\"only_base\""), p.nodes.1);
        assert_eq!(count(&p.dot, "class=\"only_patch\""), p.nodes.2);
        assert_eq!(p.nodes.1, 2, "both states only PRE reaches are drawn");
        assert!(
            p.nodes.2 >= 6,
            "the six shallowest POST-only states are drawn"
        );
        assert_eq!(count(&p.dot, " -> n"), p.edges);
        // POST's UNREGISTER ends the request; PRE's leaves it in flight (O-7's pre-p09 hang)
        assert!(p.dot.contains("rq0 ended(0)") && p.dot.contains("color=\"#c66a00\""));
        assert_eq!(
            p,
            draw("daemon-unreg-after-commit", "PRE", "POST"),
            "deterministic"
        );
    }

    #[test]
    fn a_side_against_itself_draws_nothing_coloured() {
        let p = draw("daemon-unreg-after-commit", "POST", "POST");
        assert_eq!(
            (p.only, p.nodes, p.edges, p.violations),
            ((0, 0), (0, 0, 0), 0, 0)
        );
    }

    #[test]
    fn the_patch_side_violation_is_drawn_with_its_path() {
        // O-5 is reached only with the series (POST): the stale pointer's S1
        let p = draw("stale-pointer-window", "PRE", "POST");
        assert_eq!(p.violations, 1);
        assert!(p.dot.contains("✗ S1") && p.dot.contains("class=\"violation\""));
        assert_eq!(count(&p.dot, "-> v0"), 1);
        assert_eq!(
            count(&p.dot, "color=\"#c62828\", penwidth=2"),
            1,
            "its state has a red border"
        );
    }

    #[test]
    fn the_committed_example_is_fresh() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let want = draw("daemon-unreg-after-commit", "PRE", "POST").dot;
        let have =
            std::fs::read_to_string(root.join("docs/diff/daemon-unreg-after-commit-PRE-POST.dot"))
                .unwrap();
        assert!(
            have == want,
            "docs/diff/daemon-unreg-after-commit-PRE-POST.dot is stale: run `cargo run --release -- diff --base PRE --patch POST -s daemon-unreg-after-commit --dot docs/diff/daemon-unreg-after-commit-PRE-POST.dot --svg docs/diff/daemon-unreg-after-commit-PRE-POST.svg`"
        );
        let svg =
            std::fs::read_to_string(root.join("docs/diff/daemon-unreg-after-commit-PRE-POST.svg"))
                .unwrap();
        for class in ["both", "only_base", "only_patch"] {
            assert_eq!(
                count(&svg, &format!("class=\"node {class}\"")),
                count(&want, &format!("class=\"{class}\"")),
                "the committed SVG was drawn from this DOT ({class})"
            );
        }
    }
}

/// The picture needs one scenario: several are refused with one line and exit 2, nothing written.
#[test]
fn the_picture_flags_need_exactly_one_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.svg");
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args(["diff", "--base", "PRE", "--patch", "POST", "--svg"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("name exactly one with -s"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.exists());
}
