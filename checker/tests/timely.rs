//! The timely explorer (`explore::timely`) against the single-threaded one: the same
//! totals on scenarios that pass, a violation with a counterexample that replays on one
//! that fails, with 1 and 2 worker threads and with 2 processes on localhost.

use ublk_checker::explore::bfs::{replay, Explorer, Stop};
use ublk_checker::explore::timely::{explore, Cluster, Limits, TimelyReport};
use ublk_checker::scenarios;
use ublk_model::{Features, Model, Preset, Sw};

fn model(name: &str, f: Features) -> Model {
    Model::new(&scenarios::by_name(name).expect("a built-in scenario"), f).unwrap()
}

fn threads(m: &Model, workers: usize) -> TimelyReport {
    explore(m, &Cluster::threads(workers), Limits::default())
        .expect("the run")
        .expect("process 0 reports")
}

/// Passing scenarios of every size the suite can afford: exactly the explorer's totals.
#[test]
fn one_and_two_threads_reach_the_explorers_totals() {
    for name in [
        "register-vs-server-exit",
        "concurrent-fetch",
        "stale-tag-lookup",
        "two-queues-ring-close",
        "two-queues-kill-recovery",
        "quiesce-live-update",
        "small-cancel-before-start",
    ] {
        let m = model(name, Preset::K72.features());
        let want = Explorer::new(&m).run();
        assert_eq!(want.stop, Stop::Exhausted, "{name}");
        for w in [1, 2] {
            let got = threads(&m, w);
            assert_eq!(
                (
                    got.stop,
                    got.states,
                    got.transitions,
                    got.max_depth,
                    got.stuck
                ),
                (
                    Stop::Exhausted,
                    want.states,
                    want.transitions,
                    want.max_depth,
                    want.stuck
                ),
                "{name} with {w} worker(s)"
            );
            assert_eq!(got.per_worker.len(), w);
            assert_eq!(got.per_worker.iter().sum::<u64>(), got.states);
            if w == 2 {
                // ownership by fingerprint spreads the states
                assert!(got.per_worker.iter().all(|&n| n > got.states / 4), "{name}");
            }
        }
    }
}

/// Every built-in scenario on K72 and POST, with 2 threads: where the explorer exhausts the
/// state space, the same totals; where it stops at a violation, a violation too, on a path
/// of the same (shortest) length that replays to a violation.
#[test]
fn every_built_in_scenario_agrees_with_the_explorer() {
    let mut compared = 0;
    for p in [Preset::K72, Preset::Post] {
        for sc in scenarios::all() {
            if Model::unsupported(&sc, p.features()).is_some() {
                continue;
            }
            let m = Model::new(&sc, p.features()).unwrap();
            let want = Explorer::new(&m).run();
            let got = threads(&m, 2);
            let what = format!("{} on {}", sc.name, p.name());
            match want.stop {
                Stop::Exhausted => {
                    assert_eq!(
                        (
                            got.stop,
                            got.states,
                            got.transitions,
                            got.max_depth,
                            got.stuck
                        ),
                        (
                            Stop::Exhausted,
                            want.states,
                            want.transitions,
                            want.max_depth,
                            want.stuck
                        ),
                        "{what}"
                    );
                    compared += 1;
                }
                Stop::Violation => {
                    assert_eq!(got.stop, Stop::Violation, "{what}");
                    let (path, _) = got.counterexample.expect("a counterexample");
                    assert_eq!(path.len(), want.counterexample.unwrap().0.len(), "{what}");
                    assert!(replay(&m, &path).unwrap().1.is_some(), "{what}");
                }
                ref other => panic!("{what}: the explorer stopped on {other:?}"),
            }
        }
    }
    assert!(compared >= 60, "{compared} scenarios compared");
}

/// Failing scenarios: a violation of the same invariant, on a path as short as the
/// explorer's (both breadth-first), that replays from the initial state.
#[test]
fn a_violation_is_found_with_a_counterexample_that_replays() {
    let cases = [
        ("stale-pointer-window", Preset::K72.features()),
        ("thread-exit-before-start", Preset::K72.features()),
        ("cancel-vs-dispatch", Preset::Post.features()),
        (
            "register-vs-server-exit",
            ublk_model::apply_switches(Preset::K72.features(), &["B-8".into()], &[]).unwrap(),
        ),
    ];
    for (name, f) in cases {
        let m = model(name, f);
        let want = Explorer::new(&m).run();
        let (wpath, wv) = want.counterexample.expect("the explorer finds it");
        for w in [1, 2] {
            let got = threads(&m, w);
            assert_eq!(got.stop, Stop::Violation, "{name} with {w}");
            let (path, v) = got.counterexample.expect("a counterexample");
            assert_eq!(v.inv, wv.inv, "{name} with {w}");
            assert_eq!(path.len(), wpath.len(), "{name} with {w}: a shortest path");
            let (_, again) = replay(&m, &path).expect("it replays");
            assert_eq!(again.map(|v| v.inv), Some(wv.inv), "{name} with {w}");
        }
    }
    // the B-24 fix makes cancel-vs-dispatch pass: no violation on either side
    let m = model(
        "cancel-vs-dispatch",
        Preset::Post.features().with(Sw::CancelNoDisk),
    );
    let got = threads(&m, 2);
    assert_eq!(got.stop, Stop::Exhausted);
    assert_eq!(got.states, Explorer::new(&m).run().states);
}

/// A free localhost port with room for `n` after it (as far as a bind can tell).
fn free_ports(n: u16) -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        if p < 65535 - n
            && (1..n).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok())
        {
            return p;
        }
    }
}

/// Two processes (here two clusters' halves in one test process, over TCP on localhost),
/// each with 1 worker: the explorer's totals, reported by process 0 only.
#[test]
fn two_processes_on_localhost_reach_the_explorers_totals() {
    let m = model("stale-tag-lookup", Preset::K72.features());
    let want = Explorer::new(&m).run();
    let port = free_ports(2);
    let run = |p: usize| {
        let m = m.clone();
        std::thread::spawn(move || {
            let c = Cluster::new(1, 2, p, None, port).unwrap();
            explore(&m, &c, Limits::default()).unwrap()
        })
    };
    let (p1, p0) = (run(1), run(0));
    let got = p0.join().unwrap().expect("process 0 reports");
    assert!(p1.join().unwrap().is_none(), "process 1 reports nothing");
    assert_eq!(
        (got.states, got.transitions, got.max_depth, got.stuck),
        (want.states, want.transitions, want.max_depth, want.stuck)
    );
}

#[test]
fn bad_cluster_numbers_are_errors() {
    assert!(Cluster::new(0, 1, 0, None, 2101).is_err());
    assert!(Cluster::new(1, 0, 0, None, 2101).is_err());
    assert!(Cluster::new(1, 2, 2, None, 2101).is_err());
    assert!(Cluster::new(1, 2, 0, None, 65535).is_err());
    assert!(Cluster::new(1, 2, 0, Some("/nonexistent/hosts".as_ref()), 2101).is_err());
    assert!(Cluster::new(2, 1, 0, None, 2101).is_ok());
}

fn ublksim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args(args)
        .output()
        .unwrap()
}

/// Untrusted numbers on the command line: a one-line error and a non-zero exit, no panic.
#[test]
fn the_cli_refuses_bad_worker_and_process_numbers() {
    for bad in [
        &["-w", "0"][..],
        &["-n", "0"],
        &["-n", "2", "-p", "2"],
        &["-p", "1"],
        &["-n", "2", "--hostfile", "/nonexistent/hosts"],
        &["-n", "2", "--port", "65535"],
        &["-w", "100000"],
    ] {
        let mut args = vec!["check", "--engine", "timely", "-s", "stale-tag-lookup"];
        args.extend_from_slice(bad);
        let o = ublksim(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{bad:?}");
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: {err}");
        assert!(!err.contains("panicked"), "{bad:?}: {err}");
    }
    let o = ublksim(&["bench", "-w", "0"]);
    assert!(!o.status.success());
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
}

/// `bench --workers 2 --json` and `check --engine timely -w 2`: the explorer's counts.
#[test]
fn bench_and_check_run_the_timely_explorer() {
    let m = model("stale-tag-lookup", Preset::K72.features());
    let want = Explorer::new(&m).run();
    let o = ublksim(&[
        "bench",
        "--scenario",
        "stale-tag-lookup",
        "--runs",
        "1",
        "-w",
        "2",
        "--json",
    ]);
    assert!(o.status.success());
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["threads"], 2);
    assert_eq!(j["states"], want.states);
    assert_eq!(j["transitions"], want.transitions);
    assert!(j["median_states_per_sec"].as_f64().unwrap() > 0.0);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = ublksim(&[
        "check",
        "--engine",
        "timely",
        "-w",
        "2",
        "-s",
        "stale-tag-lookup",
        "-s",
        "stale-pointer-window",
        "--out",
        out,
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &j["results"];
    assert_eq!(r[0]["verdict"], "PASS");
    assert_eq!(r[0]["states"], want.states);
    assert_eq!(r[1]["verdict"], "KNOWN");
    let trace = r[1]["trace_file"].as_str().unwrap();
    let o = ublksim(&["check", "--replay", trace]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

/// A state limit stops every worker (each at its share of it): INCOMPLETE, not a pass.
#[test]
fn a_state_limit_stops_the_run() {
    let m = model("stale-tag-lookup", Preset::K72.features());
    for w in [1, 2] {
        let limits = Limits {
            max_states: 1000,
            ..Limits::default()
        };
        let r = explore(&m, &Cluster::threads(w), limits).unwrap().unwrap();
        assert_eq!(r.stop, Stop::StateLimit, "{w}");
        assert!(r.states <= 1000 && r.states >= 500, "{w}: {}", r.states);
    }
}
