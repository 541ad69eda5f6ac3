//! `ublksim confirm`: every finding of the model check tried on the real kernel.
//!
//! [`collect`] runs the check of the built-in scenarios on a preset and keeps each finding
//! (safety violation or hang) of a KNOWN or FAIL scenario with its shortest counterexample;
//! [`plan`] turns that trace into a real-device program (its user actions in trace order, the
//! oracle's predictions) and names the symptom a run must show, or says why the finding is not
//! expressible as such a program; [`crate::conform::confirm_log`] attributes the VM's kernel
//! log to programs and judges each run.

use crate::conform::compile::{self, ModelProgram};
pub use crate::conform::interleave::{
    action_spans, interleaving_point, interleaving_reason, Interleaving,
};
use crate::conform::seqsearch;
use crate::explore::verdict::{self, CheckOpts, Verdict as CheckVerdict};
use crate::scenarios;
use serde::Serialize;
use ublk_model::state::ActorId;
use ublk_model::{Kind, Model, Preset};
use ublk_program::{Act, Expect, Program};
use ublk_traces::Trace;

/// One finding of the model check: a counterexample to try on the real kernel.
#[derive(Clone, Debug)]
pub struct Finding {
    pub preset: Preset,
    pub scenario: String,
    /// `scenario`, or `scenario-N` for the scenario's N-th finding (as `check` saves traces).
    pub name: String,
    /// The declared bug (`O-6`), or `FAIL` for a signature no declaration covers.
    pub bug: String,
    /// `S7`, or `hang L2`.
    pub what: String,
    pub signature: String,
    pub trace: Trace,
}

impl Finding {
    /// `O-6 S7`, `FAIL hang L2`.
    pub fn label(&self) -> String {
        format!("{} {}", self.bug, self.what)
    }
}

/// The findings of the built-in scenarios `names` (all when empty) on `preset`, in scenario
/// order and, within a scenario, in the check's order (deterministic).
pub fn collect(preset: Preset, names: &[String]) -> Result<Vec<Finding>, String> {
    let scs = scenarios::select(names)?;
    let opts = CheckOpts {
        out: None,
        ..CheckOpts::new(preset, preset.features())
    };
    let mut out = Vec::new();
    for sc in &scs {
        let r = verdict::run_scenario(sc, &opts)?;
        if !matches!(r.verdict, CheckVerdict::Known | CheckVerdict::Fail) {
            continue;
        }
        for (i, f) in r.findings.iter().enumerate() {
            let Some(trace) = f.trace.clone() else {
                continue;
            };
            let bug = match &f.known {
                Some(k) => k.split_whitespace().next().unwrap_or("KNOWN").to_string(),
                None => "FAIL".into(),
            };
            let what = match (&f.violation, &f.hang) {
                (Some(v), _) => v.inv.to_string(),
                (None, Some(h)) => format!("hang {}", h.property),
                _ => continue,
            };
            out.push(Finding {
                preset,
                scenario: r.scenario.clone(),
                name: if i == 0 {
                    r.scenario.clone()
                } else {
                    format!("{}-{}", r.scenario, i + 1)
                },
                bug,
                what,
                signature: f.signature.to_string(),
                trace,
            });
        }
    }
    Ok(out)
}

/// The hand-kept findings of `dir` (`traces/findings/*.jsonl`: conformance traces whose run
/// diverged from the model on a real kernel) for `preset`, sorted by file name. The bug id is
/// the file name's `o9-…` prefix (`O-9`).
pub fn collect_hand(preset: Preset, dir: &std::path::Path) -> Result<Vec<Finding>, String> {
    let mut files: Vec<std::path::PathBuf> = match std::fs::read_dir(dir) {
        Ok(d) => d
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect(),
        Err(e) => return Err(format!("--findings {}: {e}", dir.display())),
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let t = Trace::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        if t.header.preset != preset.name() {
            continue;
        }
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(Finding {
            preset,
            scenario: t.header.scenario.name.clone(),
            bug: bug_of_file(&name),
            what: "divergence".into(),
            signature: format!("not in the model (traces/findings/{name}.jsonl)"),
            name,
            trace: t,
        });
    }
    Ok(out)
}

/// `o9-thread-exit…` → `O-9`; `HAND` for a name without such a prefix.
pub fn bug_of_file(name: &str) -> String {
    let head = name.split('-').next().unwrap_or("");
    let mut c = head.chars();
    match (c.next(), c.as_str()) {
        (Some(l), n)
            if l.is_ascii_alphabetic()
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{}-{n}", l.to_ascii_uppercase())
        }
        _ => "HAND".into(),
    }
}

/// What a run of the program must show (besides a kernel oops) to reproduce the finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Symptom {
    /// The model breaks an invariant at this program step (the user action during which it
    /// breaks): the action, or a completion it predicts, never completes on the real kernel
    /// (the request or command is lost), or the kernel log shows an oops.
    Violation {
        step: usize,
        what: String,
        inv: String,
        /// The violating step is a control command the model says returns (QUIESCE_DEV
        /// returning at once, O-12): the bug is that it returns, so a run that conforms through
        /// it shows it.
        returns: bool,
    },
    /// The model says this step never completes (STOP_DEV, DEL_DEV, a read, a CQE wait); the
    /// run must conform up to it and time out there.
    Blocks { step: usize, what: String },
    /// A finding the model does not have (kept by hand under `traces/findings/`): the run
    /// must not conform — a step or completion that never comes, or another result.
    Diverges,
    /// A race inside the kernel (`confirm --stress`, [`crate::conform::race_plan`]): `steps`
    /// are issued together; a run reproduces the finding when the kernel log shows an oops or
    /// those steps return what no sequential order of them does — neither the program's own
    /// expectations (the trace's order) nor `swapped` (the other order's, when it compiles).
    Race {
        steps: Vec<usize>,
        what: String,
        inv: String,
        swapped: Option<Vec<Expect>>,
    },
}

impl Symptom {
    pub fn step(&self) -> usize {
        match self {
            Symptom::Violation { step, .. } | Symptom::Blocks { step, .. } => *step,
            Symptom::Diverges => 0,
            Symptom::Race { steps, .. } => steps.first().copied().unwrap_or(0),
        }
    }
    pub fn describe(&self) -> String {
        match self {
            Symptom::Violation {
                step,
                what,
                inv,
                returns,
            } => format!(
                "{inv} at step {step} ({what}{})",
                if *returns { ", which returns" } else { "" }
            ),
            Symptom::Blocks { step, what } => format!("step {step} ({what}) never completes"),
            Symptom::Diverges => "a divergence from the model (a hang or another result)".into(),
            Symptom::Race {
                steps, what, inv, ..
            } => format!(
                "an oops, or results no sequential order gives at steps {} ({what}, issued \
                 together; {inv} in the model)",
                steps
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    /// Crash-proneness for the order of a boot: a control command that returns wrongly first,
    /// then other violations (an oops in a reader, measured to leave ADD_DEV stuck), then hangs and divergences (a request that never ends can
    /// leave the device undeletable, and the executor stops the batch), then control commands
    /// that never return (the ublk control path stays stuck).
    /// How many runs this symptom's program gets: `stress` for a racing program (its
    /// sequential control included), `repeat` for the others.
    pub fn runs(&self, repeat: u64, stress: u64) -> u64 {
        match self {
            Symptom::Race { .. } => stress,
            _ => repeat,
        }
    }

    pub fn risk(&self) -> u8 {
        match self {
            Symptom::Violation { returns: true, .. } => 0,
            Symptom::Blocks { what, .. }
                if what.contains("STOP_DEV")
                    || what.contains("DEL_DEV")
                    || what.contains("RECOVERY")
                    || what.contains("QUIESCE") =>
            {
                3
            }
            Symptom::Violation { .. } => 1,
            // many runs, any of which may crash the guest: after every other program
            Symptom::Race { .. } => 4,
            Symptom::Blocks { .. } | Symptom::Diverges => 2,
        }
    }
}

/// A finding as a real-device program, or why it cannot be one.
#[derive(Clone, Debug)]
pub enum Plan {
    Program {
        program: Program,
        symptom: Symptom,
        /// `trace order` or `order of completion` (see [`orders`]).
        order: &'static str,
    },
    NotExpressible(String),
}

/// The first line of `s`, trimmed (a compiler's reason as one line).
fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// The orders of user actions to try for a trace: the trace's order of their first steps
/// (`compile::order_from_trace`), then — when an action spans other actors' steps (a FETCH
/// asleep on `ub->mutex`, a bio being dispatched) — the trace's order of their last steps, the
/// point where each takes effect.
pub fn orders(t: &Trace) -> Result<Vec<(&'static str, Vec<ActorId>)>, String> {
    let m = Model::new(&t.header.scenario, t.header.features)?;
    let acts = action_spans(t)?;
    let first: Vec<ActorId> = acts.iter().map(|x| x.0).collect();
    let mut by_last = acts.clone();
    by_last.sort_by_key(|x| x.2);
    let last: Vec<ActorId> = by_last.into_iter().map(|x| x.0).collect();
    let mut v = vec![("trace order", first.clone())];
    if last != first && last.len() == first.len() {
        v.push(("order of completion", last));
    }
    // a bio that took a driver tag other than the lowest free one (a choice of the trace): on
    // a real device blk-mq hands out the lowest first, so a read of a submitter the trace never
    // uses takes that tag first and holds it (the way `realdev o6` steers its read to tag 1)
    let steered: Vec<(&'static str, Vec<ActorId>)> = v
        .iter()
        .filter_map(|(name, o)| {
            let o = steer_tags(&m, t, o)?;
            Some((
                if *name == "trace order" {
                    "trace order, tags steered"
                } else {
                    "order of completion, tags steered"
                },
                o,
            ))
        })
        .collect();
    v.extend(steered);
    Ok(v)
}

/// `order` with, before the first action of each submitter whose bio took the `c`-th free
/// driver tag in the trace (`c` > 0), `c` submits of submitters the trace never uses; `None`
/// when no bio needs steering or there are not enough unused submitters.
fn steer_tags(m: &Model, t: &Trace, order: &[ActorId]) -> Option<Vec<ActorId>> {
    let is_sub = |a: ActorId| matches!(m.actors[a as usize].kind, Kind::Submitter { .. });
    let used: Vec<ActorId> = order.iter().copied().filter(|&a| is_sub(a)).collect();
    let mut spare: Vec<ActorId> = (0..m.actors.len() as ActorId)
        .filter(|&a| is_sub(a) && !used.contains(&a))
        .collect();
    spare.reverse();
    let mut out = order.to_vec();
    let mut any = false;
    for st in &t.steps {
        if st.choice == 0 || !is_sub(st.actor_id) || !st.func.starts_with("blk_mq_submit_bio") {
            continue;
        }
        let at = out.iter().position(|&a| a == st.actor_id)?;
        for _ in 0..st.choice {
            out.insert(at, spare.pop()?);
        }
        any = true;
    }
    any.then_some(out)
}

/// The program of `order` and its symptom for finding `t`, or why it shows none.
fn try_order(f: &Finding, order: Vec<ActorId>) -> Result<(Program, Symptom), String> {
    let t = &f.trace;
    let mk = |order: Vec<ActorId>| ModelProgram {
        id: f.name.clone(),
        scenario: t.header.scenario.clone(),
        order,
    };
    let c = compile::compile(&mk(order.clone()), t.header.features)?;
    let want_inv = t
        .outcome
        .as_ref()
        .and_then(|o| o.violation.as_ref())
        .map(|v| v.invariant.to_string());
    match (&want_inv, &c.prediction.violation) {
        (Some(want), Some(v)) if v.inv.to_string() == *want => {
            let step = c.prediction.steps.len().saturating_sub(1);
            let st =
                c.program.steps.get(step).ok_or_else(|| {
                    format!("the model breaks {want} before the first user action")
                })?;
            let returns = matches!(
                st.act,
                Act::StartDev
                    | Act::StopDev
                    | Act::DelDev
                    | Act::QuiesceDev { .. }
                    | Act::StartUserRecovery { .. }
                    | Act::EndUserRecovery
            ) && matches!(st.expect, Expect::Done(_));
            let what = st.act.name();
            Ok((
                c.program,
                Symptom::Violation {
                    step,
                    what,
                    inv: want.clone(),
                    returns,
                },
            ))
        }
        (_, Some(v)) => Err(format!(
            "run with the kernel settled between user actions, the trace's actions break {} \
             instead (at action {})",
            v.inv,
            c.prediction.steps.len().saturating_sub(1),
        )),
        (Some(want), None) => Err(format!(
            "run with the kernel settled between user actions, the trace's {} actions do not \
             break {want}",
            c.program.steps.len()
        )),
        (None, None) => {
            // a hang: the user-visible form is a waiter that never returns; the program waits
            // for each bio and control command still in the kernel until one blocks
            let mut order = order;
            let mut prog = c.program;
            let waiters: Vec<ActorId> = (0..t.header.scenario.actors.len() as ActorId)
                .filter(|&a| {
                    matches!(
                        t.header.scenario.actors[a as usize],
                        ublk_model::ActorSpec::Submitter { .. }
                            | ublk_model::ActorSpec::Control { .. }
                    )
                })
                .collect();
            for a in waiters {
                if prog.steps.iter().any(|s| s.expect == Expect::Blocks) {
                    break;
                }
                let mut o = order.clone();
                o.push(a);
                if let Ok(c) = compile::compile(&mk(o.clone()), t.header.features) {
                    if c.prediction.violation.is_none()
                        && c.program.steps.len() == o.len()
                        && matches!(
                            c.program.steps.last().map(|s| &s.act),
                            Some(ublk_program::Act::BioWait | ublk_program::Act::CtrlWait)
                        )
                    {
                        order = o;
                        prog = c.program;
                    }
                }
            }
            match prog.steps.iter().position(|s| s.expect == Expect::Blocks) {
                Some(step) => {
                    let what = prog.steps[step].act.name();
                    Ok((prog, Symptom::Blocks { step, what }))
                }
                None => Err(
                    "run with the kernel settled between user actions, no action of the trace \
                     (nor a wait for a bio or control command) is predicted to block"
                        .into(),
                ),
            }
        }
    }
}

/// Compile `f`'s trace into a program whose user actions are the trace's, in trace order (or,
/// if that shows nothing, in the order they take effect in the trace), with the symptom a run
/// must show.
pub fn plan(f: &Finding) -> Plan {
    let t = &f.trace;
    if f.what == "divergence" {
        // a conformance trace: its own order, the model's predictions; any divergence counts
        let c = compile::order_from_trace(t).and_then(|order| {
            compile::compile(
                &ModelProgram {
                    id: f.name.clone(),
                    scenario: t.header.scenario.clone(),
                    order,
                },
                t.header.features,
            )
        });
        return match c {
            Ok(c) if c.prediction.violation.is_none() => Plan::Program {
                program: c.program,
                symptom: Symptom::Diverges,
                order: "trace order",
            },
            Ok(_) => Plan::NotExpressible("the model predicts a violation for this trace".into()),
            Err(e) => Plan::NotExpressible(one_line(&e)),
        };
    }
    let orders = match orders(t) {
        Ok(o) => o,
        Err(e) => return Plan::NotExpressible(one_line(&e)),
    };
    let mut first_err = None;
    for (name, order) in orders {
        match try_order(f, order) {
            Ok((mut program, symptom)) => {
                program.id = f.name.clone();
                return Plan::Program {
                    program,
                    symptom,
                    order: name,
                };
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let e = first_err.unwrap_or_default();
    if e.starts_with("run with the kernel settled") && !f.what.starts_with("hang") {
        // the trace's order needs an interleaving; another order may show the same bug with
        // the kernel settled between actions
        let found = seqsearch::shortest_order(
            &t.header.scenario,
            t.header.features,
            &f.signature,
            seqsearch::Limits::default(),
        );
        if let Ok(seqsearch::Searched::Found(order)) = found {
            if let Ok((mut program, symptom)) = try_order(f, order) {
                program.id = f.name.clone();
                return Plan::Program {
                    program,
                    symptom,
                    order: "shortest sequential order of the same signature",
                };
            }
        }
    }
    if e.starts_with("run with the kernel settled") {
        let why = interleaving_reason(t).unwrap_or_else(|| {
            if f.what.starts_with("hang") {
                "the hang is a kernel context that never finishes, with no user action waiting \
                 on it"
            } else {
                "no single interleaving step to blame (the sequential run takes another path)"
            }
            .into()
        });
        return Plan::NotExpressible(format!("{e}: {why}"));
    }
    Plan::NotExpressible(one_line(&e))
}

/// [`plan`], and for a finding no sequential program shows (not a hang) its racing program
/// ([`crate::conform::race_plan`]), run by `confirm --stress`.
pub fn plan_stress(f: &Finding) -> Plan {
    match plan(f) {
        Plan::NotExpressible(why)
            if why.starts_with("run with the kernel settled") && !f.what.starts_with("hang") =>
        {
            match crate::conform::race_plan::race_plan(f) {
                Ok((program, symptom)) => Plan::Program {
                    program,
                    symptom,
                    order: "racing pair, issued together (--stress)",
                },
                Err(e) => Plan::NotExpressible(format!("{why}; no racing program: {e}")),
            }
        }
        p => p,
    }
}

/// Programs of `plans` for one boot: each program `repeat` times (a racing program `stress`
/// times; ids `NAME#r`), in rounds (every finding's run r before any run r+1) within classes
/// of rising crash-proneness.
pub fn schedule(
    plans: &[(usize, &Program, &Symptom)],
    repeat: u64,
    stress: u64,
) -> Vec<(usize, u64)> {
    let mut v: Vec<(u8, u64, usize)> = Vec::new();
    for &(i, _, sym) in plans {
        for r in 0..sym.runs(repeat, stress) {
            v.push((sym.risk(), r, i));
        }
    }
    v.sort();
    v.into_iter().map(|(_, r, i)| (i, r)).collect()
}

/// `p` as run `r` of its finding (`NAME#r`). A racing program's run 0 is its sequential
/// control (the racing steps one after the other: it must conform, or the model's prediction
/// of that order is wrong); run `r` > 0 races with the sweep's offset
/// ([`crate::conform::race_plan::skew_us`]).
pub fn run_copy(p: &Program, r: u64) -> Program {
    let mut p = p.clone();
    p.id = format!("{}#{r}", p.id);
    for s in &mut p.steps {
        if s.race_us.is_some() {
            s.race_us = (r > 0).then(|| crate::conform::race_plan::skew_us(r));
        }
    }
    p
}
