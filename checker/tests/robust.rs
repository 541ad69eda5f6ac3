//! Issue #16: hostile inputs, limits and files.  Every case of the issue runs the `ublksim`
//! binary and must give a clear error (one line on stderr, exit 2 for input and usage errors)
//! or a correct answer — never a panic, never a half-written or replaced file.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ublksim"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("ublksim runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 2 with one line on stderr containing `want`, no panic.
fn usage_error(args: &[&str], want: &str) {
    let o = run(args);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
    assert!(e.contains(want), "{args:?}: want {want:?} in {e}");
    let first = e.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("ublksim: error:") || first.starts_with("error:"),
        "{args:?}: {e}"
    );
    if first.starts_with("ublksim: error:") {
        assert_eq!(e.lines().count(), 1, "{args:?}: one line: {e}");
    }
}

/// A folder with the traces `check` saves: B-8's violation, O-7's lasso, a dead end.
struct Traces {
    dir: tempfile::TempDir,
}

impl Traces {
    fn new() -> Traces {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("t");
        let o = run(&[
            "check",
            "--with",
            "B-8",
            "-s",
            "register-vs-server-exit",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1));
        let o = run(&[
            "check",
            "-s",
            "exit-before-unregister",
            "-s",
            "stop-with-fd-held",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        Traces { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("t").join(name)
    }
    fn violation(&self) -> PathBuf {
        // the file name carries the switch difference
        self.path("K72+B-8-register-vs-server-exit.jsonl")
    }
    fn lasso(&self) -> PathBuf {
        self.path("K72-exit-before-unregister.jsonl")
    }
    fn dead_end(&self) -> PathBuf {
        self.path("K72-stop-with-fd-held.jsonl")
    }
    fn lines(p: &Path) -> Vec<Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
    /// Write `lines` as a new trace file.
    fn write(&self, name: &str, lines: &[Value]) -> String {
        let p = self.dir.path().join(name);
        let text: String = lines
            .iter()
            .map(|v| format!("{}\n", serde_json::to_string(v).unwrap()))
            .collect();
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The readers refuse `f` with `want` (exit 2): check --replay, explain, view, chart.
fn readers_refuse(f: &str, want: &str, dir: &Path) {
    usage_error(&["check", "--replay", f], want);
    usage_error(&["explain", f], want);
    let page = dir.join("page.html");
    usage_error(&["view", f, "-o", s(&page)], want);
    assert!(!page.exists());
    usage_error(&["chart", f], want);
    let svg = dir.join("chart.svg");
    usage_error(&["chart", f, "--svg", s(&svg)], want);
    assert!(!svg.exists());
}

#[test]
fn saved_traces_replay_and_are_named_by_their_switches() {
    let t = Traces::new();
    for f in [t.violation(), t.lasso(), t.dead_end()] {
        let o = run(&["check", "--replay", s(&f)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("reproduces the recorded outcome"));
        assert_eq!(run(&["explain", s(&f)]).status.code(), Some(0));
    }
}

#[test]
fn a_scenario_with_a_bad_reference_is_refused_naming_the_field() {
    let t = Traces::new();
    let mut l = Traces::lines(&t.violation());
    // the Submitter's queue: 0 → 1 in a 1-queue scenario (was an index panic in the model)
    let actors = l[0]["scenario"]["actors"].as_array_mut().unwrap();
    let sub = actors
        .iter_mut()
        .find(|a| a.get("Submitter").is_some())
        .unwrap();
    sub["Submitter"]["q"] = 1.into();
    let f = t.write("q1.jsonl", &l);
    readers_refuse(&f, "Submitter.q = 1", t.dir.path());
    // real-kernel replay reads (and refuses) it before touching any device
    usage_error(&["replay", "--device", &f], "Submitter.q = 1");
    // ... and a trace whose steps are not what the model does
    let mut l = Traces::lines(&t.violation());
    l[2]["func"] = "something_else".into();
    let f = t.write("func.jsonl", &l);
    usage_error(&["replay", "--device", &f], "step 2 diverges");
}

#[test]
fn a_scenario_that_would_wrap_the_file_reference_count_is_refused() {
    let t = Traces::new();
    let mut l = Traces::lines(&t.violation());
    l[0]["scenario"]["actors"] = serde_json::json!([
        {"Server": {"name": "d", "fixed_file": true, "prog": []}},
        {"RecoveryServer": {"name": "r", "fixed_file": true, "prog": []}},
        {"ThreadDeath": {"server": 1}}
    ]);
    l.truncate(1);
    let f = t.write("wrap.jsonl", &l);
    readers_refuse(&f, "recovery server", t.dir.path());
}

#[test]
fn endless_and_oversized_inputs_are_refused() {
    let d = tempfile::tempdir().unwrap();
    readers_refuse("/dev/zero", "larger than", d.path());
    let t = Traces::new();
    let v = t.violation();
    usage_error(
        &["check", "--replay", s(&v), "--max-trace-bytes", "100"],
        "larger than 100 bytes",
    );
    usage_error(&["explain", s(&v), "--max-steps", "3"], "more than 3 steps");
    usage_error(&["check", "--replay", s(t.dir.path())], "is a directory");
}

#[test]
fn cut_and_header_only_traces_do_not_replay_unless_a_prefix_is_asked_for() {
    let t = Traces::new();
    let l = Traces::lines(&t.violation());
    let cut = t.write("cut.jsonl", &l[..4]);
    let header = t.write("header.jsonl", &l[..1]);
    for f in [&cut, &header] {
        readers_refuse(f, "no outcome line", t.dir.path());
        let o = run(&["check", "--replay", f, "--prefix"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("a prefix"));
    }
}

#[test]
fn every_recorded_field_must_match() {
    let t = Traces::new();
    let dir = t.dir.path();
    let lasso = Traces::lines(&t.lasso());
    let n = lasso.len();
    // the property or the obligation of a lasso edited: the steps fit, the ending does not
    for (name, field, value) in [
        ("l4", "property", Value::from("L4")),
        (
            "obl",
            "obligation",
            Value::from("request rq9 is never ended"),
        ),
    ] {
        let mut l = lasso.clone();
        l[n - 1]["hang"][field] = value;
        let f = t.write(&format!("{name}.jsonl"), &l);
        let o = run(&["check", "--replay", &f]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("does not end as the trace records"));
        usage_error(&["explain", &f], "does not replay");
        usage_error(
            &["view", &f, "-o", s(&dir.join("p.html"))],
            "does not replay",
        );
        usage_error(&["chart", &f], "does not replay");
    }
    // a cycle start moved
    let mut l = lasso.clone();
    let c = l[n - 1]["hang"]["cycle_start"].as_u64().unwrap();
    l[n - 1]["hang"]["cycle_start"] = (c - 1).into();
    let f = t.write("cyc.jsonl", &l);
    assert_eq!(run(&["check", "--replay", &f]).status.code(), Some(1));
    // the chart would bracket the wrong steps: refused too
    usage_error(
        &["chart", &f, "--svg", s(&dir.join("c.svg"))],
        "does not replay",
    );
    // a dead end with the obligation edited
    let mut l = Traces::lines(&t.dead_end());
    let m = l.len();
    l[m - 1]["hang"]["property"] = "L5".into();
    let f = t.write("dead.jsonl", &l);
    assert_eq!(run(&["check", "--replay", &f]).status.code(), Some(1));
    usage_error(&["explain", &f], "does not replay");
    usage_error(&["chart", &f], "does not replay");

    let viol = Traces::lines(&t.violation());
    let k = viol.len();
    // a hang fabricated next to the violation
    let mut l = viol.clone();
    l[k - 1]["hang"] = serde_json::json!({"property": "L2", "obligation": "x", "cycle_start": 0});
    readers_refuse(
        &t.write("fab.jsonl", &l),
        "both a violation and a hang",
        dir,
    );
    // a step appended after the violation
    let mut l = viol.clone();
    let mut extra = l[k - 2].clone();
    extra["i"] = (k - 2).into();
    l.insert(k - 1, extra);
    readers_refuse(&t.write("app.jsonl", &l), "after the violation", dir);
    // an actor name edited
    let mut l = viol.clone();
    l[2]["actor"] = "somebody".into();
    readers_refuse(&t.write("actor.jsonl", &l), "the trace says somebody", dir);
    // an `i` edited
    let mut l = viol.clone();
    l[2]["i"] = 7.into();
    readers_refuse(&t.write("i.jsonl", &l), "i = 7, expected 1", dir);
    // the violating actor edited
    let mut l = viol.clone();
    l[k - 1]["violation"]["actor"] = "daemon".into();
    let f = t.write("vactor.jsonl", &l);
    assert_eq!(run(&["check", "--replay", &f]).status.code(), Some(1));
    usage_error(&["explain", &f], "does not replay");
}

#[test]
fn arguments_are_validated_at_the_edge() {
    usage_error(&["conform", "--count", "18446744073709551615"], "--count");
    usage_error(&["conform", "--count", "100000000000"], "--count");
    usage_error(
        &["check", "--engine", "shuttle-pct", "--pct-depth", "0"],
        "--pct-depth",
    );
    usage_error(
        &[
            "check",
            "--engine",
            "shuttle-pct",
            "--iterations",
            "0",
            "--with",
            "B-5",
        ],
        "--iterations",
    );
    usage_error(&["check", "--engine", "nope"], "--engine");
    usage_error(
        &["sim", "--seed", "18446744073709551614", "--seeds", "5"],
        "u64::MAX",
    );
    usage_error(&["sim", "--seeds", "0"], "--seeds");
    usage_error(&["sim", "--steps", "0"], "--steps");
    usage_error(&["sim", "--faults", "kill=0"], "bad weight in 'kill=0'");
    usage_error(&["sim", "--faults", "kill,kill=2"], "listed twice");
    usage_error(
        &["check", "--with", "B-8", "--without", "B-8"],
        "contradict",
    );
    usage_error(&["sim", "--with", "p02", "--without", "p02"], "contradict");
    usage_error(
        &["check", "--replay", "x.jsonl", "--with", "B-8"],
        "cannot be used with",
    );
    usage_error(
        &["check", "--replay", "x.jsonl", "--json"],
        "cannot be used with",
    );
    usage_error(&["check", "--prefix"], "only with --replay");
    usage_error(&["check", "--max-states", "0"], "--max-states");
    usage_error(&["check", "--max-seconds", "0"], "--max-seconds");
    usage_error(&["bench", "--runs", "0"], "--runs");
    usage_error(&["replay", "--vm", "--repeat", "0", "x"], "--repeat");
    usage_error(&["conform", "--timeout-ms", "0"], "--timeout-ms");
    usage_error(
        &[
            "diff",
            "--base",
            "PRE",
            "--patch",
            "POST",
            "--max-states",
            "0",
        ],
        "--max-states",
    );
}

#[test]
fn every_engine_honours_the_limits_and_incomplete_names_the_limit() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("t");
    for (args, want) in [
        (
            vec![
                "--engine",
                "shuttle-random",
                "--iterations",
                "1000000000",
                "--max-seconds",
                "1",
            ],
            "time limit 1s reached",
        ),
        (
            vec!["--engine", "shuttle-pct", "--max-states", "10"],
            "execution limit 10 reached",
        ),
        (
            vec![
                "--engine",
                "shuttle-dfs",
                "--preemption-bound",
                "0",
                "--max-states",
                "10",
            ],
            "execution limit 10 reached",
        ),
        (
            vec![
                "--engine",
                "loom",
                "--preemption-bound",
                "0",
                "--max-states",
                "20",
            ],
            "execution limit 20 reached",
        ),
        (
            vec![
                "-s",
                "per-io-daemons-stress",
                "--max-states",
                "100",
                "--no-liveness",
            ],
            "state limit 100 reached",
        ),
        (
            vec![
                "-s",
                "per-io-daemons-stress",
                "--max-memory",
                "16",
                "--no-liveness",
            ],
            "memory limit 16 MiB reached",
        ),
    ] {
        let mut a = vec!["check", "--out", s(&out)];
        if !args.contains(&"-s") {
            a.extend(["-s", "fetch-without-buffer"]);
        }
        a.extend(args.iter().copied());
        let o = run(&a);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(3),
            "INCOMPLETE exits 3: {a:?}: {text}{}",
            stderr(&o)
        );
        assert!(text.contains("INCOMPLETE"), "{a:?}: {text}");
        assert!(text.contains(want), "{a:?}: {text}");
        assert!(
            !stderr(&o).contains("failing seed"),
            "{a:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn output_files_are_never_inputs_devices_or_half_written() {
    let t = Traces::new();
    let v = t.violation();
    let before = std::fs::read(&v).unwrap();
    usage_error(&["view", s(&v), "-o", s(&v)], "refusing to overwrite it");
    assert_eq!(std::fs::read(&v).unwrap(), before);
    // not a regular file: refused, never replaced
    usage_error(&["view", s(&v), "-o", "/dev/null"], "not a regular file");
    usage_error(
        &["view", s(&v), "-o", s(t.dir.path())],
        "not a regular file",
    );
    // standard output streams
    for out in ["-", "/dev/stdout"] {
        let o = run(&["view", s(&v), "-o", out]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("<!DOCTYPE html>"));
    }
    // a symlink is followed: its target is replaced, the link stays a link
    let target = t.dir.path().join("real.html");
    std::fs::write(&target, "old").unwrap();
    let link = t.dir.path().join("link.html");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert_eq!(run(&["view", s(&v), "-o", s(&link)]).status.code(), Some(0));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&target)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
    // only the last folder level is created
    let deep = t.dir.path().join("a/b/page.html");
    usage_error(&["view", s(&v), "-o", s(&deep)], "does not exist");
    assert!(!t.dir.path().join("a").exists());
    let one = t.dir.path().join("a/page.html");
    assert_eq!(run(&["view", s(&v), "-o", s(&one)]).status.code(), Some(0));
    let out = t.dir.path().join("x/y/traces");
    usage_error(
        &["check", "-s", "daemon-zc", "--out", s(&out)],
        "--parents creates it",
    );
    let o = run(&["check", "-s", "daemon-zc", "--out", s(&out), "--parents"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let corpus = t.dir.path().join("p/q/corpus");
    usage_error(&["conform", "--write-corpus", s(&corpus)], "does not exist");
    // no temp file anywhere
    let mut left = Vec::new();
    for e in walk(t.dir.path()) {
        if e.file_name().unwrap().to_string_lossy().ends_with(".tmp") {
            left.push(e);
        }
    }
    assert!(left.is_empty(), "{left:?}");
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !std::fs::symlink_metadata(&p).unwrap().is_symlink() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn an_interrupted_write_leaves_no_temp_file() {
    // the test hook holds the temp file for 5 s; SIGINT then must remove it
    let t = Traces::new();
    let v = t.violation();
    let out = t.dir.path().join("page.html");
    let mut child = bin()
        .args(["view", s(&v), "-o", s(&out)])
        .env("UBLKSIM_TEST_SLOW_WRITE", "1")
        .spawn()
        .unwrap();
    let temps = || -> Vec<PathBuf> {
        walk(t.dir.path())
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect()
    };
    let t0 = std::time::Instant::now();
    while temps().is_empty() {
        assert!(t0.elapsed().as_secs() < 20, "no temp file appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(130));
    assert!(temps().is_empty(), "{:?}", temps());
    assert!(!out.exists());
}

#[test]
fn every_built_in_and_simulated_scenario_passes_the_validator() {
    use ublk_checker::scenarios;
    let mut all = scenarios::builtin::all();
    all.extend(scenarios::k612::all());
    all.extend(scenarios::small::all());
    for sc in &all {
        ublk_traces::validate::scenario(sc).unwrap_or_else(|e| panic!("{}: {e}", sc.name));
    }
    use ublk_sim::faults::FaultSet;
    use ublk_sim::workload::{scenario, Quirk, SimConfig};
    for (q, d) in [(1, 1), (1, 2), (2, 2), (2, 4), (1, 8)] {
        for copy in [
            ublk_model::CopyMode::Copy,
            ublk_model::CopyMode::UserCopy,
            ublk_model::CopyMode::ZeroCopy,
            ublk_model::CopyMode::AutoBufReg,
        ] {
            for per_queue in [false, true] {
                let c = SimConfig {
                    queues: q,
                    depth: d,
                    copy,
                    offload: 1,
                    submitters: 2,
                    per_queue,
                    faults: FaultSet::all(),
                    quirks: Quirk::parse_list("all").unwrap(),
                };
                let (sc, _) = scenario(&c);
                ublk_traces::validate::scenario(&sc)
                    .unwrap_or_else(|e| panic!("sim {q}x{d} {copy:?} {per_queue}: {e}"));
                // and the model takes it on every preset that can run it
                for p in ublk_model::Preset::every() {
                    if ublk_model::Model::unsupported(&sc, p.features()).is_none() {
                        ublk_model::Model::new(&sc, p.features()).unwrap_or_else(|e| {
                            panic!("sim {q}x{d} {per_queue} {}: {e}", p.name())
                        });
                    }
                }
            }
        }
    }
}

/// `--kernel-image` boots the user's kernel in QEMU: it must be a regular file, and it needs
/// --vm (refused before anything runs).
#[test]
fn a_kernel_image_is_checked_before_any_boot() {
    let t = Traces::new();
    let f = t.write("ok.jsonl", &Traces::lines(&t.violation()));
    let dir = t.dir.path().to_str().unwrap().to_string();
    usage_error(
        &[
            "replay",
            "--vm",
            "--kernel-image",
            "/nonexistent/bzImage",
            &f,
        ],
        "not a regular file",
    );
    usage_error(
        &["replay", "--vm", "--kernel-image", &dir, &f],
        "not a regular file",
    );
    usage_error(
        &["replay", "--device", "--kernel-image", &f, &f],
        "add --vm",
    );
    usage_error(
        &["conform", "--count", "1", "--kernel-image", &f],
        "add --vm",
    );
    usage_error(&["replay", "--vm", "--module", &f, &f], "--kernel-image");
}

/// `sweep-merge` reads only what it validates and never writes over an input; `check
/// --resume` needs the file it resumes.
#[test]
fn sweep_merge_refuses_bad_files_and_its_own_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.json");
    let fs = f.to_str().unwrap();
    let o = run(&[
        "check",
        "--scope",
        "s1",
        "-s",
        "daemon-zc",
        "--shard",
        "5/7",
        "--budget",
        "2000",
        "--json",
        "--out",
        dir.path().join("t").to_str().unwrap(),
        "--sweep-json",
        fs,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        !dir.path().join("s.json.journal").exists(),
        "the journal goes once the file is written"
    );
    let before = std::fs::read(&f).unwrap();
    usage_error(
        &["sweep-merge", fs, "-o", fs],
        "is an input; refusing to overwrite it",
    );
    usage_error(&["sweep-merge", fs, fs], "shard 5 of 7 is in two files");
    usage_error(&["sweep-merge", "/dev/null"], "not a regular file");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"header\": {\"format\": \"ublk-sim-sweep\"").unwrap();
    usage_error(&["sweep-merge", bad.to_str().unwrap()], "bad.json");
    assert_eq!(std::fs::read(&f).unwrap(), before, "the input is untouched");
    let o = run(&["sweep-merge", fs]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("shards missing: 0,1,2,3,4,6 of 7"), "{out}");
    let o = run(&["check", "--scope", "s1", "--resume"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--sweep-json"), "{}", stderr(&o));
}
