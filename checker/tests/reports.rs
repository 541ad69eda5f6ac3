//! Reports and kept findings, through the `ublksim` binary: `--json` gives one document
//! naming its schema for every report kind; `--keep-new` keeps the configurations of new
//! sweep signatures as named scenarios.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args(args)
        .output()
        .expect("ublksim runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `--keep-new` appends the smallest configuration of each new sweep signature to the
/// kept list, once; every kept name is a configuration; a non-regular file is refused.
#[test]
fn keep_new_appends_each_new_signatures_configuration_once() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("found.txt");
    let out = dir.path().join("traces");
    let args = |k: &str| {
        vec![
            "check".to_string(),
            "--with".into(),
            "B-24".into(),
            "-s".into(),
            "daemon-zc".into(),
            "--scope".into(),
            "s1".into(),
            "--shard".into(),
            "0/8".into(),
            "-q".into(),
            "--out".into(),
            s(&out).to_string(),
            "--keep-new".into(),
            k.to_string(),
        ]
    };
    let a = args(s(&kept));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = run(&a);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a seeded bug's new signature fails"
    );
    let text = std::fs::read_to_string(&kept).unwrap();
    let names = ublk_checker::scenarios::found::names_in(&text);
    assert!(!names.is_empty(), "{text}");
    for n in &names {
        assert!(ublk_checker::scenarios::sweep::by_name(n).is_some(), "{n}");
    }
    run(&a);
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap(),
        text,
        "no name twice"
    );
    let a = args("/dev/null");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = run(&a);
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
}

/// `--json` prints exactly one JSON document on stdout, naming its schema, for every
/// report kind that runs without a kernel.
#[test]
fn every_json_report_is_one_document_with_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    let o = s(&out);
    let runs: Vec<(&str, Vec<&str>)> = vec![
        (
            "check",
            vec![
                "check",
                "-s",
                "daemon-zc",
                "--scope",
                "none",
                "--json",
                "--out",
                o,
            ],
        ),
        (
            "check",
            vec![
                "check",
                "-s",
                "daemon-zc",
                "--scope",
                "none",
                "--json",
                "--out",
                o,
                "--engine",
                "shuttle-pct",
                "--max-states",
                "5",
            ],
        ),
        ("sim", vec!["sim", "--steps", "2000", "--json", "--out", o]),
        (
            "diff",
            vec![
                "diff",
                "--base",
                "K72",
                "--patch",
                "K72+B-8",
                "-s",
                "daemon-zc",
                "--json",
            ],
        ),
        (
            "bench",
            vec!["bench", "--scenario", "daemon-zc", "--runs", "1", "--json"],
        ),
        ("list", vec!["list", "--json"]),
        ("conform", vec!["conform", "--count", "2", "--json"]),
        // a scenario without findings: nothing to boot
        (
            "confirm",
            vec![
                "confirm",
                "--preset",
                "K72",
                "-s",
                "daemon-zc",
                "--json",
                "--out",
                o,
            ],
        ),
    ];
    for (kind, args) in runs {
        let r = run(&args);
        let text = String::from_utf8_lossy(&r.stdout);
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {text}"));
        assert_eq!(v["schema"], format!("ublksim.{kind}/1"), "{args:?}");
    }
    // explain of a counterexample a seeded bug gives
    run(&[
        "check",
        "--with",
        "B-8",
        "-s",
        "register-vs-server-exit",
        "--scope",
        "none",
        "-q",
        "--out",
        o,
    ]);
    let t = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a trace");
    let r = run(&["explain", "--json", s(&t)]);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["schema"], "ublksim.explain/1");
    assert!(v["steps"].as_array().is_some_and(|a| !a.is_empty()));
}
