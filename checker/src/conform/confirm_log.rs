//! `ublksim confirm`'s reading of a VM run: the kernel log attributed to the program that was
//! running, and each run judged against the finding's symptom.
//!
//! The executor (`run-batch --kmsg-marks`) writes `ublk-realdev: @@PROG K ID` to the kernel
//! log before program K. The run's kernel log is the `@@DMESG` section of the guest's output
//! (every level; printed when the payload ends), else — the guest died or wedged before
//! printing it — the guest's console (levels up to KERN_ERR: oopses, BUGs, hung tasks and the
//! marks). A line belongs to the last mark before it; lines before the first mark are the
//! boot's. Without any mark no program started: [`read_boot`] attributes nothing (a caller
//! without marks can hand the lines to one program, `unmarked`).

use crate::conform::confirm::Symptom;
use serde::Serialize;
use ublk_program::{judge, Got, Program, RunResult, Verdict};

/// Kernel-log lines that show the kernel itself went wrong.
pub const OOPS_MARKS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "general protection",
    "kernel NULL pointer dereference",
    "hung_task",
    "blocked for more than",
];

/// The text of a kernel-log line without its `[   12.345678] ` timestamp.
pub fn strip_stamp(l: &str) -> &str {
    let t = l.trim_start();
    match (t.starts_with('['), t.find("] ")) {
        (true, Some(i)) => &t[i + 2..],
        _ => t,
    }
}

/// Does this kernel-log line show an oops, BUG, WARNING or hung task?
pub fn is_oops(l: &str) -> bool {
    let t = strip_stamp(l);
    !t.contains("@@PROG") && OOPS_MARKS.iter().any(|m| t.contains(m))
}

/// `K` of a mark line `… ublk-realdev: @@PROG K ID`.
fn mark_of(l: &str) -> Option<usize> {
    let rest = l.split("ublk-realdev: @@PROG ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The run's kernel log: the `@@DMESG` section of `stdout` when it has a mark, else the
/// console when it has one, else whichever there is.
pub fn kernel_log<'a>(stdout: &'a str, console: Option<&'a str>) -> Vec<&'a str> {
    let dmesg: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("@@DMESG"))
        .skip(1)
        .take_while(|l| !l.starts_with("@@EXIT") && !l.starts_with("---- kernel console"))
        .collect();
    let cons: Vec<&str> = console.map(|c| c.lines().collect()).unwrap_or_default();
    let marked = |v: &[&str]| v.iter().any(|l| mark_of(l).is_some());
    if marked(&dmesg) {
        dmesg
    } else if marked(&cons) || dmesg.is_empty() {
        cons
    } else {
        dmesg
    }
}

/// The kernel-log lines of each of `n` programs (see the module's rule); lines of a program
/// index out of range are dropped.
pub fn attribute(log: &[&str], n: usize, unmarked: Option<usize>) -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); n];
    let any_mark = log.iter().any(|l| mark_of(l).is_some());
    let mut cur = if any_mark { None } else { unmarked };
    for l in log {
        if let Some(k) = mark_of(l) {
            cur = Some(k);
            continue;
        }
        if let Some(v) = cur.and_then(|k| out.get_mut(k)) {
            v.push(strip_stamp(l).to_string());
        }
    }
    out
}

/// One run of a finding's program, judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "evidence", rename_all = "snake_case")]
pub enum RunOutcome {
    /// The kernel log shows an oops, or the run showed the symptom; the evidence.
    Reproduced(String),
    /// What the kernel did instead.
    NotReproduced(String),
    /// The run gave nothing to judge (the guest died or wedged before it).
    NoResult(String),
}

impl RunOutcome {
    pub fn is_reproduced(&self) -> bool {
        matches!(self, RunOutcome::Reproduced(_))
    }
    pub fn text(&self) -> &str {
        match self {
            RunOutcome::Reproduced(t) | RunOutcome::NotReproduced(t) | RunOutcome::NoResult(t) => t,
        }
    }
}

/// The verdict of the program's own steps: the executor's, except that a DEL_DEV failing in
/// the executor's teardown after the program (a wedged device) is judged from the steps'
/// observations, and reported beside it.
fn program_verdict(p: &Program, r: &RunResult) -> (Verdict, Option<String>) {
    match &r.verdict {
        Verdict::Error(e) if e.starts_with("DEL_DEV after the program") => {
            for (i, (s, g)) in p.steps.iter().zip(&r.got).enumerate() {
                if let Some(v) = judge(i, &s.act.name(), &s.expect, g) {
                    return (v, Some(e.clone()));
                }
            }
            (Verdict::Conforms, Some(e.clone()))
        }
        v => (v.clone(), None),
    }
}

/// Judge one run: `klog` is the kernel log attributed to it, `reported` whether the executor
/// reported a result for it.
pub fn judge_run(
    p: &Program,
    sym: &Symptom,
    r: &RunResult,
    klog: &[String],
    reported: bool,
) -> RunOutcome {
    // a racing program's kernel log counts without its WARNINGs: a sequential teardown can
    // WARN too (6.12 warns canceling the FETCH of a queue that never became ready)
    let race = matches!(sym, Symptom::Race { .. });
    let warn = |l: &&String| race && strip_stamp(l).contains("WARNING:");
    if let Some(l) = klog.iter().find(|l| is_oops(l) && !warn(l)) {
        // the kernel's own RIP (not a user-space `RIP: 0033:`) says where
        let rip = klog
            .iter()
            .find(|l| l.starts_with("RIP: 0010:"))
            .map(|r| format!(" … {r}"))
            .unwrap_or_default();
        return RunOutcome::Reproduced(format!("kernel: {l}{rip}"));
    }
    if !reported {
        return RunOutcome::NoResult(r.verdict_text.clone());
    }
    if matches!(&r.verdict, Verdict::Error(e) if e.starts_with("ADD_DEV")) {
        // the device could not even be added: an earlier program wedged the kernel
        return RunOutcome::NoResult(format!(
            "{} (the kernel was wedged before this program)",
            r.verdict_text
        ));
    }
    let (v, teardown) = program_verdict(p, r);
    let also = teardown.map(|t| format!("; then {t}")).unwrap_or_default();
    if let Symptom::Race { steps, swapped, .. } = sym {
        let warned = klog
            .iter()
            .find(|l| warn(l))
            .map(|l| format!("; kernel (not counted): {l}"))
            .unwrap_or_default();
        let also = format!("{also}{warned}");
        return crate::conform::race_plan::judge_race(p, steps, swapped.as_deref(), r, &also);
    }
    let got_at = |s: usize| r.got.get(s).map(ublk_program::show_got);
    match (sym, &v) {
        (
            Symptom::Blocks { step, what },
            Verdict::Hang {
                step: s,
                predicted: true,
                ..
            },
        ) if s == step => RunOutcome::Reproduced(format!(
            "step {step} ({what}) never completes, as predicted{also}"
        )),
        (
            Symptom::Violation {
                step,
                what,
                inv,
                returns: true,
            },
            Verdict::Conforms,
        ) => RunOutcome::Reproduced(format!(
            "step {step} ({what}) returned {} as the model predicts where it breaks {inv}{also}",
            got_at(*step).unwrap_or_else(|| "?".into())
        )),
        (
            Symptom::Violation {
                step,
                what,
                inv,
                returns: true,
            },
            Verdict::Diverges {
                step: s,
                what: w,
                got,
                ..
            },
        ) if s == step && w == what && r.got.get(*s).is_some_and(|g| matches!(g, Got::Done(_))) => {
            // the model's prediction stops where the invariant breaks, before the command's
            // result: a result there is the command returning — unless it is an errno, a
            // refusal at a check before the path where the model breaks the invariant
            match r.got.get(*s) {
                Some(Got::Done(Some(e))) if *e < 0 => RunOutcome::NotReproduced(format!(
                    "step {step} ({what}) returned {got}: refused before the path where the \
                     model breaks {inv}{also}"
                )),
                _ => RunOutcome::Reproduced(format!(
                    "step {step} ({what}) returned {got} where the model breaks {inv}{also}"
                )),
            }
        }
        (
            Symptom::Violation {
                step,
                what,
                inv,
                returns: false,
            },
            Verdict::Hang { step: s, .. },
        ) if s >= step => RunOutcome::Reproduced(format!(
            "step {s} never completes where the model breaks {inv} at step {step} ({what}): \
                 lost, no kernel message{also}"
        )),
        (
            Symptom::Violation {
                step,
                what,
                inv,
                returns: false,
            },
            Verdict::Diverges { step: s, got, .. },
        ) if s >= step && got == &ublk_program::show_got(&Got::Hang) => {
            RunOutcome::Reproduced(format!(
                "a completion predicted at step {s} never comes where the model breaks {inv} at \
                 step {step} ({what}): lost, no kernel message{also}"
            ))
        }
        (Symptom::Diverges, Verdict::Conforms) => {
            RunOutcome::NotReproduced(format!("conformed, as the model predicts{also}"))
        }
        (Symptom::Diverges, v @ (Verdict::Hang { .. } | Verdict::Diverges { .. })) => {
            RunOutcome::Reproduced(format!("{}{also}", v.text()))
        }
        (sym, Verdict::Conforms) => RunOutcome::NotReproduced(format!(
            "conformed without the symptom ({}: got {}){also}",
            sym.describe(),
            got_at(sym.step()).unwrap_or_else(|| "nothing".into())
        )),
        (_, v) => RunOutcome::NotReproduced(format!("{}{also}", v.text())),
    }
}

/// A finding's runs summed up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// `reproduced`, `not reproduced`, or `no result`.
    pub verdict: String,
    /// Runs that reproduced it, of `runs` that gave a result (of `asked`).
    pub hits: usize,
    pub runs: usize,
    pub asked: usize,
    /// The first reproducing run's evidence, else the first run's.
    pub evidence: String,
}

pub fn tally(outcomes: &[RunOutcome], asked: usize) -> Tally {
    let hits = outcomes.iter().filter(|o| o.is_reproduced()).count();
    let runs = outcomes
        .iter()
        .filter(|o| !matches!(o, RunOutcome::NoResult(_)))
        .count();
    let first = outcomes
        .iter()
        .find(|o| o.is_reproduced())
        .or_else(|| {
            outcomes
                .iter()
                .find(|o| matches!(o, RunOutcome::NotReproduced(_)))
        })
        .or(outcomes.first());
    Tally {
        verdict: if hits > 0 {
            "reproduced"
        } else if runs > 0 {
            "not reproduced"
        } else {
            "no result"
        }
        .into(),
        hits,
        runs,
        asked,
        evidence: first.map(|o| o.text().to_string()).unwrap_or_default(),
    }
}

/// Judge every run of one boot: `progs` the batch in order with each finding's symptom,
/// `results` the runner's (one per program), `reported` how many the executor reported,
/// `stdout`/`console` the boot's output. A run without a result and without an oops of its
/// own is [`RunOutcome::NoResult`] (to run again).
pub fn read_boot(
    progs: &[(&Program, &Symptom)],
    results: &[RunResult],
    reported: usize,
    stdout: &str,
    console: Option<&str>,
) -> Vec<RunOutcome> {
    let log = kernel_log(stdout, console);
    // the executor marks every program it starts: a log without marks is a guest that died
    // before any program (an emulator oops while booting is no program's doing)
    let klog = attribute(&log, progs.len(), None);
    progs
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, ((p, sym), r))| judge_run(p, sym, r, &klog[i], i < reported))
        .collect()
}
