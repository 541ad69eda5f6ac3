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
    // the 7.2 corpus at the top, 6.12's in its own folder
    for (sub, kernel, at_least) in [("", "7.2", 4), ("6.12", "6.12", 4)] {
        let k = ublk_checker::conform::compile::kernel_target(kernel).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../traces/corpus")
            .join(sub);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "jsonl") {
                let prog = ublk_checker::conform::runner::program_of_trace(&p, &k).unwrap();
                assert!(prog
                    .steps
                    .iter()
                    .all(|s| s.expect != ublk_program::Expect::Blocks));
                n += 1;
            }
        }
        assert!(n >= at_least, "{}: {n} traces", dir.display());
    }
}

#[test]
fn a_trace_of_another_kernel_is_refused() {
    let k = ublk_checker::conform::compile::kernel_target("6.12").unwrap();
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../traces/corpus/daemon-zc-on-daemon.jsonl");
    let e = ublk_checker::conform::runner::program_of_trace(&p, &k).unwrap_err();
    assert!(e.to_string().contains("a trace of preset K72"), "{e}");
}
