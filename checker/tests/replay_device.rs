//! `ublksim replay --device` on a host without ublk: one clear line, non-zero exit.

use std::process::Command;

#[test]
fn replay_on_a_host_without_ublk_is_a_clear_error() {
    if std::path::Path::new("/dev/ublk-control").exists() {
        eprintln!("skipped: this host has /dev/ublk-control");
        return;
    }
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../traces/corpus");
    let out = Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args(["replay", "--device", corpus])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/ublk-control not found"), "stderr: {err}");
    assert_eq!(err.trim().lines().count(), 1, "stderr: {err}");
}

#[test]
fn the_corpus_compiles_to_programs_without_blocks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../traces/corpus");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            let prog = ublk_checker::replay_real::program_of_trace(&p).unwrap();
            assert!(prog
                .steps
                .iter()
                .all(|s| s.expect != ublk_realdev::program::Expect::Blocks));
            n += 1;
        }
    }
    assert!(n >= 4);
}
