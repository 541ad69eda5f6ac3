//! The simulator reports hangs: an episode that stops with an obligation open is explored
//! from where it stopped, confirmed, shrunk and saved as a trace `check --replay` accepts.

use std::process::Command;

fn ublksim(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args(args)
        .output()
        .expect("ublksim runs");
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    (o.status.code().unwrap_or(-1), text)
}

/// Sweep seeds; the first confirmed hang fails the run (exit 1) and names its trace, which
/// must replay to the same hang.
fn finds_replayable_hang(extra: &[&str], property: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let mut args = vec![
        "sim", "--faults", "all", "--quirks", "all", "--swarm", "--seeds", "20", "--steps",
        "200000", "--out", out,
    ];
    args.extend_from_slice(extra);
    let (code, text) = ublksim(&args);
    assert_eq!(code, 1, "{text}");
    let line = text
        .lines()
        .find(|l| l.contains(": HANG "))
        .unwrap_or_else(|| panic!("no hang reported:\n{text}"));
    assert!(line.contains(&format!("HANG {property}")), "{line}");
    assert!(text.contains("shrunk to a"), "{text}");
    let trace = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("trace: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the trace is named");
    let (code, replay) = ublksim(&["check", "--replay", trace]);
    assert_eq!(code, 0, "{replay}");
    assert!(replay.contains(&format!("HANG {property}")), "{replay}");
}

#[test]
fn b12_lost_fetch_is_found_as_the_ring_exit_that_never_ends() {
    finds_replayable_hang(
        &["--with", "B-12", "--copy", "copy", "--liveness-only"],
        "L3",
    );
}

#[test]
fn without_release_work_a_dead_servers_request_never_ends() {
    // which obligation the first confirmed hang names depends on the schedule (L1 today)
    finds_replayable_hang(&["--without", "release-work"], "L");
}
