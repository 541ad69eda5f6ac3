//! Hang detection: lassos and dead ends, fairness, KNOWN hangs, replay.

use ublk_checker::explore::verdict::{self, CheckOpts, Verdict};
use ublk_checker::scenarios;
use ublk_model::{apply_switches, Func, Preset, Prop};

fn run(name: &str, o: CheckOpts) -> verdict::ScenarioResult {
    verdict::run_scenario(&scenarios::by_name(name).unwrap(), &o).unwrap()
}

#[test]
fn o1_another_fd_holder_blocks_teardown_as_a_dead_end() {
    let r = run(
        "stop-with-fd-held",
        CheckOpts::new(Preset::K72, Preset::K72.features()),
    );
    assert_eq!(r.verdict, Verdict::Known);
    let h = r.hang.unwrap();
    assert_eq!(h.property, Prop::L2);
    assert_eq!(
        h.cycle_steps, 0,
        "only the unfair fd holder could move: a dead end for fairness"
    );
    // without the other process the same teardown completes
    assert_eq!(
        run(
            "stop-after-server-exit",
            CheckOpts::new(Preset::K72, Preset::K72.features())
        )
        .verdict,
        Verdict::Pass
    );
}

#[test]
fn b12_is_a_ring_exit_lasso_when_the_safety_check_is_off() {
    let f = apply_switches(Preset::K72.features(), &["B-12".into()], &[]).unwrap();
    let o = CheckOpts {
        safety: false,
        ..CheckOpts::new(Preset::K72, f)
    };
    let r = run("fetch-without-buffer", o);
    assert_eq!(r.verdict, Verdict::Fail);
    let h = r.hang.expect("a hang");
    assert_eq!(h.property, Prop::L3);
    assert!(h.cycle_steps > 0, "the cancel loop repeats forever: {h:?}");
    // with the fix: no hang
    let o = CheckOpts {
        safety: false,
        ..CheckOpts::new(Preset::K72, Preset::K72.features())
    };
    assert_eq!(run("fetch-without-buffer", o).verdict, Verdict::Pass);
}

#[test]
fn o7_exit_between_commit_and_unregister_hangs_ring_exit() {
    let r = run(
        "exit-before-unregister",
        CheckOpts::new(Preset::K72, Preset::K72.features()),
    );
    assert_eq!(r.verdict, Verdict::Known, "{:?}", r.hang);
    assert!(r.hang.unwrap().cycle_steps > 0);
}

#[test]
fn no_liveness_option_skips_hangs() {
    let o = CheckOpts {
        liveness: false,
        ..CheckOpts::new(Preset::K72, Preset::K72.features())
    };
    let r = run("stop-with-fd-held", o);
    assert_eq!(r.verdict, Verdict::Pass);
    assert!(r.hang.is_none());
}

#[test]
fn hang_traces_replay() {
    let dir = std::env::temp_dir().join(format!("ublksim-hang-{}", std::process::id()));
    for name in ["stop-with-fd-held", "exit-before-unregister"] {
        let o = CheckOpts {
            out: Some(dir.clone()),
            ..CheckOpts::new(Preset::K72, Preset::K72.features())
        };
        let r = run(name, o);
        let file = std::path::PathBuf::from(r.trace_file.unwrap());
        let (text, same) = verdict::replay_file(&file).unwrap();
        assert!(same, "{name}: {text}");
        assert!(text.contains("HANG"));
        // a trace cut before its last step no longer reproduces the hang
        let body = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<&str> = body.lines().collect();
        let outcome = lines.pop().unwrap();
        lines.pop();
        lines.push(outcome);
        std::fs::write(&file, lines.join("\n")).unwrap();
        assert!(
            !verdict::replay_file(&file).map(|(_, s)| s).unwrap_or(false),
            "{name}: truncated trace still reproduces"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recovery_hands_the_held_request_to_the_new_server() {
    use ublk_checker::explore::bfs::{Explorer, Stop};
    use ublk_model::Model;
    for preset in [Preset::K72, Preset::Post] {
        let r = run(
            "recovery-new-server",
            CheckOpts::new(preset, preset.features()),
        );
        assert_eq!(r.verdict, Verdict::Pass, "{:?} {:?}", r.violation, r.hang);
        let m = Model::new(
            &scenarios::by_name("recovery-new-server").unwrap(),
            preset.features(),
        )
        .unwrap();
        let rep = Explorer::new(&m).observe().run();
        assert_eq!(rep.stop, Stop::Exhausted);
        let seen = |a: &str, f: Func, v: i32| {
            rep.observed
                .iter()
                .any(|(x, y, z)| x == a && *y == f && *z == v)
        };
        // the new server receives the request (its FETCH completes with 0) and
        // the reader sees success; END_USER_RECOVERY returns 0
        assert!(
            seen("new-daemon", Func::IoUringEnterWaitCqe, 0),
            "{:?}",
            rep.observed
        );
        assert!(seen("submitter0", Func::BioEndio, 0));
        assert!(seen("control", Func::UblkCtrlEndRecovery, 0));
        // and the old server never completes it
        assert!(!seen("daemon", Func::UblkChUringCmdCommitAndFetchReq, 0));
    }
}
