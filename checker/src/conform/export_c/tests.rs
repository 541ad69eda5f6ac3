use super::*;
use crate::conform::compile::kernel_target;
use crate::conform::runner::{program_of_trace, repo_root, trace_files};
use std::path::PathBuf;

/// Every corpus trace with the program the conformance runs replay.
fn corpus() -> Vec<(PathBuf, Program, &'static str)> {
    let mut out = Vec::new();
    for (dir, k) in [("traces/corpus", "7.2"), ("traces/corpus/6.12", "6.12")] {
        let k = kernel_target(k).unwrap();
        for f in trace_files(&[repo_root().join(dir)]).unwrap() {
            let p = program_of_trace(&f, &k).unwrap();
            out.push((f, p, k.vm_line));
        }
    }
    assert!(out.len() >= 20, "the corpus has {} traces", out.len());
    out
}

fn c_of(f: &std::path::Path, p: &Program, kernel: &str) -> String {
    let name = f.display().to_string();
    let o = Origin {
        trace: &name,
        doc: "a scenario */ described",
        preset: "K",
        kernel,
    };
    emit(p, &o, 2000).unwrap()
}

fn gcc() -> bool {
    let ok = std::process::Command::new("gcc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: gcc not found: the C programs are generated but not compiled");
    }
    ok
}

#[test]
fn every_corpus_trace_exports_and_compiles_with_gcc_static() {
    // every trace the C runtime drives (one or two queues, no I/O scheduler, 4 KiB bios):
    // all but the elevator's and those with larger bios
    let (cs, refused): (Vec<_>, Vec<_>) = corpus()
        .into_iter()
        .partition(|(_, p, _)| unsupported(p).is_none());
    assert!(
        refused
            .iter()
            .all(|(_, p, _)| p.dev.elevator || p.dev.io_bytes != 4096),
        "only elevator and larger-bio traces are refused"
    );
    assert!(
        cs.iter().any(|(_, p, _)| p.dev.queues == 2),
        "a two-queue trace"
    );
    let cs: Vec<_> = cs
        .into_iter()
        .map(|(f, p, k)| (f.clone(), c_of(&f, &p, k), p))
        .collect();
    for (f, c, p) in &cs {
        // one table row per step, every step's action named
        assert_eq!(
            c.matches(" — model: ").count(),
            p.steps.len(),
            "{}",
            f.display()
        );
        assert!(c.contains(&format!("#define NSTEPS {}\n", p.steps.len())));
        assert!(!c.contains("#include <linux/"), "self-contained");
    }
    if !gcc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (i, (f, c, _)) in cs.iter().enumerate() {
        let r = crate::cmd::export_c::compile_c(c, dir.path(), &format!("p{i}"));
        assert!(r.is_ok(), "{}: {}", f.display(), r.unwrap_err());
    }
}

#[test]
fn the_export_is_deterministic() {
    let (f, p, k) = corpus().swap_remove(0);
    let a = c_of(&f, &p, k);
    let k2 = kernel_target(k).unwrap();
    let b = c_of(&f, &program_of_trace(&f, &k2).unwrap(), k);
    assert_eq!(a, b);
    // and differs where the program differs
    let mut q = p.clone();
    q.steps.pop();
    assert_ne!(a, c_of(&f, &q, k));
}

/// The output of a run that saw exactly what the model predicts.
fn predicted_output(p: &Program) -> String {
    let got = |e: &Expect| match e {
        Expect::Done(Some(r)) => format!("{{\"Done\":{r}}}"),
        Expect::Done(None) => "{\"Done\":null}".into(),
        Expect::Pending => "\"Pending\"".into(),
        Expect::Blocks => "\"Hang\"".into(),
    };
    let mut o = String::from("@@BOOT kernel=x\n{\"event\":\"features\",\"flags\":\"0x1\"}\n");
    for (i, s) in p.steps.iter().enumerate() {
        o += &format!(
            "{{\"event\":\"step\",\"step\":{i},\"got\":{}}}\n",
            got(&s.expect)
        );
        for e in &s.after {
            o += &format!(
                "{{\"event\":\"effect\",\"step\":{i},\"of\":{},\"got\":{}}}\n",
                e.of,
                got(&e.expect)
            );
        }
    }
    o + "{\"event\":\"end\",\"rc\":0,\"why\":\"conforms\"}\n"
}

#[test]
fn judging_a_run_uses_the_conformance_comparison() {
    for (f, p, _) in corpus() {
        let ok = predicted_output(&p);
        assert_eq!(judge(&p, &ok), Verdict::Conforms, "{}", f.display());
        // one wrong result: the same verdict judge_all gives a replay
        let i = p
            .steps
            .iter()
            .position(|s| matches!(s.expect, Expect::Done(Some(_))))
            .unwrap();
        let Expect::Done(Some(r)) = p.steps[i].expect else {
            unreachable!()
        };
        let line = format!("{{\"event\":\"step\",\"step\":{i},\"got\":{{\"Done\":{r}}}}}");
        let wrong = line.replace(
            &format!("{{\"Done\":{r}}}"),
            &format!("{{\"Done\":{}}}", r - 1),
        );
        let bad = ok.replace(&line, &wrong);
        let mut got: Vec<Got> = parse_output(&ok).unwrap().got;
        got[i] = Got::Done(Some(r - 1));
        let effects = parse_output(&ok).unwrap().effects;
        assert_eq!(judge(&p, &bad), judge_all(&p, &got, &effects));
        assert!(judge(&p, &bad)
            .text()
            .starts_with(&format!("diverges at step {i} (")));
        // a run cut short is not a conforming run
        let cut: String = ok.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert!(judge(&p, &cut).is_failure(), "{}", judge(&p, &cut).text());
        let no_end = ok.replace("{\"event\":\"end\",\"rc\":0,\"why\":\"conforms\"}\n", "");
        assert!(judge(&p, &no_end).is_failure());
    }
}

#[test]
fn a_compiled_program_without_ublk_is_refused_not_failed() {
    if std::path::Path::new("/dev/ublk-control").exists() || !gcc() {
        eprintln!("skipped: this host has ublk, or no gcc");
        return;
    }
    let (f, p, k) = corpus().swap_remove(0);
    let dir = tempfile::tempdir().unwrap();
    let bin = crate::cmd::export_c::compile_c(&c_of(&f, &p, k), dir.path(), "p").unwrap();
    let o = std::process::Command::new(&bin).output().unwrap();
    assert_eq!(o.status.code(), Some(4));
    let v = judge(&p, &String::from_utf8_lossy(&o.stdout));
    assert!(
        matches!(v, Verdict::Refused(ref w) if w.contains("/dev/ublk-control")),
        "{v:?}"
    );
    let o = std::process::Command::new(&bin)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// A program on two hw queues exports: the device gets both queues, each server thread names
/// its queue in its io commands and user copies, and a submitter is pinned to its queue.
#[test]
fn a_two_queue_program_exports_and_compiles() {
    let f = ublk_model::Preset::K72.features();
    let mp = (0..200)
        .map(|n| crate::conform::generate::generate_one(1, n, f, &Default::default()))
        .find(|mp| mp.scenario.dev.nr_queues == 2)
        .expect("a two-queue program among the first 200");
    let p = crate::conform::compile::compile(&mp, f).unwrap().program;
    assert_eq!(unsupported(&p), None);
    let c = c_of(std::path::Path::new("two-queues"), &p, "7.2");
    assert!(c.contains("#define NR_QUEUES 2\n"));
    let q1 = p.threads.iter().find(|t| t.queue == 1).unwrap();
    let row = format!("\t{{{}, ", c_str(&q1.name));
    let line = c.lines().find(|l| l.starts_with(&row)).unwrap();
    assert!(line.ends_with(", 1},"), "{line}");
    let mut three = p.clone();
    three.dev.queues = 3;
    assert!(unsupported(&three).unwrap().contains("3 hw queues"));
    if !gcc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = crate::cmd::export_c::compile_c(&c, dir.path(), "twoq");
    assert!(r.is_ok(), "{}", r.unwrap_err());
}
