//! `ublksim export-c`: what it writes, and what it refuses (one line, exit 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args(args)
        .output()
        .unwrap()
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../traces/corpus")
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn one_line_error(o: &Output, what: &str) -> String {
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{what}: {e}");
    assert_eq!(e.lines().count(), 1, "{what}: one line: {e}");
    assert!(e.starts_with("ublksim: error: "), "{what}: {e}");
    e
}

#[test]
fn writes_the_same_c_to_a_file_and_to_stdout() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus("daemon-zc-on-daemon.jsonl");
    let out = d.path().join("zc.c");
    let o = run(&["export-c", s(&t), "-o", s(&out)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let file = std::fs::read(&out).unwrap();
    let o = run(&["export-c", s(&t)]);
    assert_eq!(o.stdout, file, "stdout is the default and the same bytes");
    let c = String::from_utf8(file).unwrap();
    assert!(c.contains("int main(int argc, char **argv)"));
    assert!(c.contains("\"REGISTER_IO_BUF t0 idx 0\""));
    // an existing regular file is replaced whole; no temp file is left beside it
    std::fs::write(&out, "old").unwrap();
    assert!(run(&["export-c", s(&t), "-o", s(&out)]).status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), c);
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
}

#[test]
fn refuses_bad_input_and_bad_output() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("t.jsonl");
    std::fs::copy(corpus("errno-table-7.2.jsonl"), &t).unwrap();
    let before = std::fs::read(&t).unwrap();
    let e = one_line_error(&run(&["export-c", s(&t), "-o", s(&t)]), "output = input");
    assert!(e.contains("refusing to overwrite"), "{e}");
    assert_eq!(std::fs::read(&t).unwrap(), before, "the trace is untouched");
    let e = one_line_error(&run(&["export-c", s(&t), "-o", "/dev/null"]), "a device");
    assert!(e.contains("not a regular file"), "{e}");
    let e = one_line_error(&run(&["export-c", s(&t), "-o", s(d.path())]), "a folder");
    assert!(e.contains("not a regular file"), "{e}");
    let e = one_line_error(&run(&["export-c", s(d.path())]), "a folder as trace");
    assert!(e.contains("folders only with --vm"), "{e}");
    let e = one_line_error(&run(&["export-c", "/nonexistent.jsonl"]), "missing");
    assert!(e.contains("/nonexistent.jsonl"), "{e}");
    let junk = d.path().join("junk.jsonl");
    std::fs::write(&junk, "not a trace\n").unwrap();
    one_line_error(&run(&["export-c", s(&junk)]), "malformed");
    // a trace whose steps are not what the model does
    let text = String::from_utf8(before.clone()).unwrap();
    let bad = d.path().join("bad.jsonl");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(1, 2);
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    one_line_error(
        &run(&["export-c", s(&bad)]),
        "a trace the model does not replay",
    );
    // several traces only with --vm, and of one kernel
    let two = [s(&t), s(&junk)];
    let e = one_line_error(&run(&["export-c", two[0], two[0]]), "two traces");
    assert!(e.contains("2 traces"), "{e}");
    let k612 = corpus("6.12/ngd-write-6.12.jsonl");
    let e = one_line_error(&run(&["export-c", "--vm", s(&t), s(&k612)]), "two kernels");
    assert!(e.contains("one kernel per boot"), "{e}");
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = one_line_error(&run(&["export-c", "--vm", s(&empty)]), "an empty folder");
    assert!(e.contains("no trace"), "{e}");
    std::fs::remove_dir(&empty).unwrap();
    // a step of the perturbation hook that has no result
    let e = one_line_error(&run(&["export-c", s(&t), "--perturb", "9999"]), "perturb");
    assert!(e.contains("--perturb 9999"), "{e}");
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        3,
        "nothing written"
    );
}

#[test]
fn judge_reads_a_run_back() {
    let d = tempfile::tempdir().unwrap();
    let t = corpus("daemon-zc-on-daemon.jsonl");
    let out = d.path().join("run.txt");
    // the first two steps as predicted, then the run stops: not a conforming run
    std::fs::write(
        &out,
        "{\"event\":\"step\",\"step\":0,\"got\":\"Pending\"}\n\
         {\"event\":\"step\",\"step\":1,\"got\":{\"Done\":-16}}\n\
         {\"event\":\"end\",\"rc\":1,\"why\":\"disagrees\"}\n",
    )
    .unwrap();
    let o = run(&["export-c", s(&t), "--judge", s(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "daemon-zc-on-daemon: diverges at step 1 (START_DEV: expected 0, got -16 (EBUSY))\n"
    );
    let e = one_line_error(
        &run(&["export-c", s(&t), "--judge", s(&d.path().join("none"))]),
        "missing output",
    );
    assert!(e.contains("none"), "{e}");
}
