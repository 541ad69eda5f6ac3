//! The stale lookup's put (O-5, `O5_PUT` in the catalogue) as the simulator finds it: each face
//! is reported KNOWN under O-5, and the ones raised inside the failed check's put are named
//! `__ublk_check_and_get_req: fail_put` (in the saved trace and so in the signature), so the
//! declarations match that path and not every completion of an ended or registered request.

use std::process::Command;

#[test]
fn each_face_of_the_stale_lookups_put_is_known_and_named_after_its_path() {
    // (copy mode, seed, steps, property, the violating step's function, what it says)
    let faces = [
        (
            "user-copy",
            18,
            200_000,
            "S2",
            "__ublk_check_and_get_req: fail_put",
            "which was already ended",
        ),
        (
            "zero-copy",
            297,
            50_000,
            "S3",
            "__ublk_check_and_get_req: fail_put",
            "registered buffer(s) still reference it",
        ),
        (
            "user-copy",
            99,
            50_000,
            "S4",
            "__ublk_check_and_get_req: started/tag check",
            "should be",
        ),
    ];
    for (copy, seed, steps, prop, func, what) in faces {
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_ublksim"))
            .args([
                "sim", "--preset", "K72", "--copy", copy, "--faults", "all", "--quirks", "all",
            ])
            .args(["--swarm", "--seeds", "1"])
            .args([
                "--seed",
                &seed.to_string(),
                "--steps",
                &steps.to_string(),
                "--out",
            ])
            .arg(dir.path())
            .output()
            .expect("ublksim runs");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{copy} seed {seed}: KNOWN exits 0\n{out}"
        );
        assert!(
            out.contains(&format!("seed {seed}: KNOWN O-5 ({prop})")),
            "{copy} seed {seed}: not KNOWN O-5 ({prop})\n{out}"
        );
        let trace =
            std::fs::read_to_string(dir.path().join(format!("sim-K72-seed{seed}-shrunk.jsonl")))
                .expect("the shrunk trace is saved");
        let lines: Vec<&str> = trace.lines().collect();
        let (step, end) = (lines[lines.len() - 2], lines[lines.len() - 1]);
        assert!(
            step.contains(&format!("\"func\":\"{func}")),
            "{copy} seed {seed}: {step}"
        );
        assert!(
            end.contains(&format!("\"invariant\":\"{prop}\"")) && end.contains(what),
            "{end}"
        );
    }
}

/// O-7's spin seen from the re-armed cmd (L3): the daemon committed while its own registered
/// buffer held the request, its ring closed before the UNREGISTER (zero copy, seed 25).
#[test]
fn o7_spin_seen_from_the_cmd_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args([
            "sim",
            "--preset",
            "K72",
            "--copy",
            "zero-copy",
            "--faults",
            "all",
            "--quirks",
        ])
        .args([
            "all", "--swarm", "--seeds", "1", "--seed", "25", "--steps", "50000", "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("ublksim runs");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("1 known finding(s)"), "{out}");
    assert!(
        out.contains("HANG L3 at cycle: ublk_cancel_cmd: ACTIVE / started-request check"),
        "{out}"
    );
}
