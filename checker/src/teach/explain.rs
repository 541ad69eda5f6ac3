//! `ublksim explain TRACE`: a saved counterexample as plain prose.
//!
//! A trace file records only which actor moved at each step; everything a
//! reader needs — what the step did to the slots, the requests and the
//! device — is recomputed here by re-executing the trace on the model, so
//! the explanation is exactly as current as the model.  The same [`Walk`]
//! feeds the HTML viewer (`view.rs`), so the two never disagree.

use crate::explore::describe;
use crate::explore::verdict::{verify, ReplayOpts};
use crate::teach::gloss::{gloss, lane_kind};
use serde::Serialize;
use std::fmt::Write;
use std::path::Path;
use ublk_model::state::{ActorId, State};
use ublk_model::view::{RefCount, Refs, Stage};
use ublk_model::{Model, Outcome, Prop, Violation};
use ublk_traces::Trace;

/// One slot (`struct ublk_io`) in a ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlotRow {
    /// `io[q0t0]`.
    pub name: String,
    pub flags: String,
    /// What the `cmd`/`req` union holds.
    pub cell: String,
    /// `io->task` by actor name.
    pub task: String,
    /// `io->ref` (symbolic: 0, INIT, INIT-1, 2 …); before p02 the count of
    /// the request in the union lives in its pdu and is shown there.
    pub refcnt: String,
    /// `io->task_registered_buffers`.
    pub trb: u32,
}

/// What the reader needs to know about the state after a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ledger {
    /// Device line: state, disk, canceling, char-device references.
    pub dev: String,
    pub slots: Vec<SlotRow>,
    /// (request, stage) for every request the trace ever uses.
    pub reqs: Vec<(String, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct WalkStep {
    /// 1-based, as printed.
    pub n: usize,
    /// Index into [`Walk::lanes`].
    pub lane: usize,
    pub actor: String,
    pub func: String,
    /// What the kernel function does, in a phrase (empty if unknown).
    pub gloss: String,
    pub result: Option<i32>,
    pub changes: Vec<String>,
    pub ledger: Ledger,
    /// Part of a lasso's cycle (repeats forever).
    pub in_cycle: bool,
    /// This step broke an invariant.
    pub violation: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Lane {
    pub name: String,
    /// What kind of context it is, in words.
    pub kind: String,
    /// A kernel context (task work, ring exit, a kworker …), not a user-space thread: the
    /// chart draws these lanes apart.  Not serialised: `explain --json` and the viewer's data
    /// stay as they were.
    #[serde(skip)]
    pub kernel: bool,
}

/// How the trace ends, in words.
#[derive(Clone, Debug, Serialize)]
pub enum End {
    Violation {
        inv: String,
        describe: String,
        msg: String,
        step: usize,
    },
    Hang {
        prop: String,
        describe: String,
        obligation: String,
        /// 1-based first step of the cycle; None: a dead end.
        cycle_start: Option<usize>,
    },
    Nothing,
}

impl End {
    /// The ending as one sentence.
    pub fn sentence(&self) -> String {
        match self {
            End::Violation {
                inv,
                describe,
                msg,
                step,
            } => format!("✗ Step {step} broke {inv} ({describe}): {msg}."),
            End::Hang {
                prop,
                describe,
                obligation,
                cycle_start: Some(c),
            } => format!(
                "⟳ HANG {prop} ({describe}): {obligation}. Steps {c} to the end repeat forever, \
                 and every actor that can run gets its turn in them."
            ),
            End::Hang {
                prop,
                describe,
                obligation,
                cycle_start: None,
            } => format!(
                "⟳ HANG {prop} ({describe}): {obligation}. Dead end: after the last step no actor \
                 that must run can move."
            ),
            End::Nothing => "The trace ends without a violation or hang.".into(),
        }
    }
}

/// A trace re-executed on the model, step by step.
#[derive(Clone, Debug, Serialize)]
pub struct Walk {
    pub title: String,
    pub scenario: String,
    pub doc: String,
    pub lanes: Vec<Lane>,
    pub steps: Vec<WalkStep>,
    /// The state before the first step.
    pub initial: Ledger,
    pub end: End,
}

fn slot_rows(m: &Model, s: &State) -> Vec<SlotRow> {
    m.slot_views(s)
        .map(|io| SlotRow {
            name: io.name(),
            flags: io.flags.to_string(),
            cell: io.cell.to_string(),
            task: m.task_name(io.task),
            refcnt: match io.refs {
                Refs::Io(v) => RefCount(v).to_string(),
                Refs::Pdu(Some((r, v))) => format!("{} (in rq{r}'s pdu)", RefCount(v)),
                Refs::Pdu(None) => "- (lives in the request pdu)".into(),
            },
            trb: io.trb,
        })
        .collect()
}

fn dev_line(m: &Model, s: &State) -> String {
    let d = m.dev_view(s);
    let mut v = vec![format!("dev {:?}", d.state)];
    v.push(if d.has_disk { "disk added" } else { "no disk" }.into());
    if d.canceling {
        v.push("canceling".into());
    }
    if d.force_abort {
        v.push("force_abort".into());
    }
    v.push(format!("/dev/ublkcN refs {}", d.file_refs));
    for (i, n) in d.buffers {
        v.push(format!("ring{i}: {n} registered buffer(s)"));
    }
    if !d.requeue.is_empty() {
        v.push(format!("requeue list {:?}", d.requeue));
    }
    v.join(", ")
}

fn ledger(m: &Model, s: &State, used: &[bool]) -> Ledger {
    Ledger {
        dev: dev_line(m, s),
        slots: slot_rows(m, s),
        reqs: m
            .req_views(s)
            .filter(|r| used[r.id as usize])
            .map(|r| (format!("rq{}", r.id), r.to_string()))
            .collect(),
    }
}

/// Re-execute `t` and describe every step.  Fails if the trace does not fit
/// the model any more (a step diverges from what was recorded).
/// The trace is first re-executed in full ([`verify`]): a trace that does
/// not replay (a step or the recorded ending differs) is refused, so the
/// prose never narrates an ending the model does not reach.
pub fn walk(t: &Trace) -> Result<Walk, String> {
    walk_with(t, false)
}

/// As [`walk`]; `prefix`: accept a trace without an outcome line.
pub fn walk_with(t: &Trace, prefix: bool) -> Result<Walk, String> {
    let mut head = None;
    let mut steps = Vec::new();
    let end = walk_each(
        t,
        prefix,
        |h| head = Some(h.clone()),
        |_, st| steps.push(st),
    )?;
    let h = head.expect("the head comes first");
    Ok(Walk {
        title: h.title,
        scenario: h.scenario,
        doc: h.doc,
        lanes: h.lanes,
        steps,
        initial: h.initial,
        end,
    })
}

/// What a walk knows before its first step.
#[derive(Clone, Debug)]
pub struct WalkHead {
    pub title: String,
    pub scenario: String,
    pub doc: String,
    pub lanes: Vec<Lane>,
    pub initial: Ledger,
}

fn step_once(
    m: &Model,
    s: &mut State,
    a: ublk_model::Move,
    inv: bool,
) -> Result<Outcome, Violation> {
    if inv {
        m.apply(s, a)
    } else {
        m.step(s, a)
    }
}

/// The walk one step at a time, in bounded memory: the trace is verified, a first pass finds
/// the requests worth a ledger line, a second hands each step to `on_step` as it is made
/// (after `on_head`).  Returns the ending.
pub fn walk_each(
    t: &Trace,
    prefix: bool,
    on_head: impl FnOnce(&WalkHead),
    mut on_step: impl FnMut(&WalkHead, WalkStep),
) -> Result<End, String> {
    let v = verify(t, prefix)?;
    if let Some(why) = v.mismatch {
        return Err(format!("the trace does not replay: {why}"));
    }
    let m = v.model;
    let inv = t.header.state_invariants;
    // pass 1: requests worth a ledger line — those not plain "free" at some point
    let mut s = m.init();
    let mut used = vec![false; s.reqs.len()];
    let mark = |s: &State, used: &mut Vec<bool>| {
        for (r, u) in used.iter_mut().enumerate() {
            *u |= m.req_view(s, r).stage != Stage::Free;
        }
    };
    mark(&s, &mut used);
    for &a in &v.path {
        let r = step_once(&m, &mut s, a, inv);
        mark(&s, &mut used);
        if r.is_err() {
            break;
        }
    }
    let hang = t.outcome.as_ref().and_then(|o| o.hang.clone());
    let cycle = hang
        .as_ref()
        .and_then(|h| h.cycle_start)
        .map(|c| c as usize);
    let sw = if t.header.switches.is_empty() {
        String::new()
    } else {
        format!(" {}", t.header.switches.join(" "))
    };
    let s0 = m.init();
    let head = WalkHead {
        title: format!("{} on {}{sw}", t.header.scenario.name, t.header.preset),
        scenario: t.header.scenario.name.clone(),
        doc: t.header.scenario.doc.clone(),
        lanes: m
            .actors
            .iter()
            .map(|d| Lane {
                name: d.name.clone(),
                kind: lane_kind(&d.kind).into(),
                kernel: d.kind.is_kernel(),
            })
            .collect(),
        initial: ledger(&m, &s0, &used),
    };
    on_head(&head);
    // pass 2: each step as it is made
    let mut s = s0;
    let mut violation: Option<(usize, Violation)> = None;
    for (i, rec) in t.steps.iter().enumerate() {
        let a: ActorId = rec.actor_id;
        let before = s.clone();
        let (func, result) = match step_once(&m, &mut s, rec.mv(), inv) {
            Ok(Outcome::Stepped(info)) => (info.func.to_string(), info.result),
            Ok(Outcome::Blocked) => unreachable!("verified: every step moves"),
            Err(v) => {
                // an inline check stops inside the step: name the function
                // the message names (`ublk_get_req_ref touches …`)
                let named = v
                    .msg
                    .split_whitespace()
                    .next()
                    .map(|w| w.trim_end_matches(':'))
                    .filter(|w| {
                        w.contains('_') && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    });
                let func = [v.func.as_str(), rec.func.as_str(), named.unwrap_or("")]
                    .into_iter()
                    .find(|f| !f.is_empty())
                    .unwrap_or("(step breaks an invariant)")
                    .to_string();
                violation = Some((i + 1, v));
                (func, None)
            }
        };
        on_step(
            &head,
            WalkStep {
                n: i + 1,
                lane: a as usize,
                actor: m.actors[a as usize].name.clone(),
                gloss: gloss(&func).to_string(),
                func,
                result,
                changes: describe::diff(&m, &before, &s),
                ledger: ledger(&m, &s, &used),
                in_cycle: cycle.is_some_and(|c| i >= c),
                violation: violation.is_some(),
            },
        );
        if violation.is_some() {
            break;
        }
    }
    Ok(match (&violation, &hang) {
        (Some((step, v)), _) => End::Violation {
            inv: v.inv.to_string(),
            describe: v.inv.describe().into(),
            msg: v.msg.clone(),
            step: *step,
        },
        (None, Some(h)) => End::Hang {
            prop: h.property.to_string(),
            describe: Prop::describe(h.property).into(),
            obligation: h.obligation.clone(),
            cycle_start: h.cycle_start.map(|c| c as usize + 1),
        },
        _ => End::Nothing,
    })
}

/// `explain` without holding the walk: the same text as [`render`] of [`walk`], written as
/// each step is made (memory bounded by one step, not the trace's length).
pub fn render_stream(t: &Trace, prefix: bool, out: &mut impl std::io::Write) -> Result<(), String> {
    let sink = std::cell::RefCell::new((out, None::<std::io::Error>));
    let put = |text: &str| {
        let mut g = sink.borrow_mut();
        if g.1.is_none() {
            if let Err(e) = g.0.write_all(text.as_bytes()) {
                g.1 = Some(e);
            }
        }
    };
    let mut prev_cycle = false;
    let end = walk_each(
        t,
        prefix,
        |h| {
            let mut text = format!("{}\n{}\n\n", h.title, h.doc);
            let _ = writeln!(text, "  0. initially: {}", h.initial.dev);
            ledger_lines(&h.initial, &mut text);
            put(&text);
        },
        |h, st| {
            let mut text = String::new();
            step_text(&h.lanes, &st, prev_cycle, &mut text);
            prev_cycle = st.in_cycle;
            put(&text);
        },
    )?;
    put(&format!("\n{}\n", end.sentence()));
    match sink.into_inner().1 {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}

/// Read and walk a trace file.
pub fn walk_file(path: &Path, o: &ReplayOpts) -> Result<Walk, String> {
    let t = Trace::read_limited(path, &o.limits).map_err(|e| e.to_string())?;
    walk_with(&t, o.prefix).map_err(|e| format!("{}: {e}", path.display()))
}

fn ledger_lines(l: &Ledger, out: &mut String) {
    for sl in &l.slots {
        let _ = writeln!(
            out,
            "         │ {}: {} · {} · task {} · ref {} · trb {}",
            sl.name, sl.flags, sl.cell, sl.task, sl.refcnt, sl.trb
        );
    }
    if !l.reqs.is_empty() {
        let r: Vec<_> = l.reqs.iter().map(|(n, s)| format!("{n} {s}")).collect();
        let _ = writeln!(out, "         │ {}", r.join(" · "));
    }
}

/// The prose: a header, one line per step (actor, kernel function, what it
/// did, what changed) with the ledger after it, and the ending in words.
pub fn render(w: &Walk) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", w.title);
    let _ = writeln!(out, "{}\n", w.doc);
    out.push_str(&render_steps(w, 0));
    let _ = writeln!(out, "\n{}", w.end.sentence());
    out
}

/// The step lines from step `first` on (0: with the initial state).
pub fn render_steps(w: &Walk, first: usize) -> String {
    let mut out = String::new();
    if first == 0 {
        let _ = writeln!(out, "  0. initially: {}", w.initial.dev);
        ledger_lines(&w.initial, &mut out);
    }
    for st in w.steps.iter().filter(|s| s.n >= first.max(1)) {
        let prev_cycle = st.n >= 2 && w.steps[st.n - 2].in_cycle;
        step_text(&w.lanes, st, prev_cycle, &mut out);
    }
    out
}

/// One step's lines: the cycle marker where a cycle starts, the step, what changed, the ledger.
fn step_text(lanes: &[Lane], st: &WalkStep, prev_cycle: bool, out: &mut String) {
    if st.in_cycle && !prev_cycle {
        let _ = writeln!(out, "     ── cycle: the following steps repeat forever ──");
    }
    let kind = &lanes[st.lane].kind;
    let res = st
        .result
        .map(|r| format!(" → returns {r}"))
        .unwrap_or_default();
    let gloss = if st.gloss.is_empty() {
        String::new()
    } else {
        format!(" — {}", st.gloss)
    };
    let mark = if st.violation { "✗ " } else { "" };
    let _ = writeln!(
        out,
        "{:>3}. {mark}{} [{kind}] {}{res}{gloss}",
        st.n, st.actor, st.func
    );
    if !st.changes.is_empty() {
        let _ = writeln!(out, "         changed: {}", st.changes.join("; "));
    }
    if st.violation {
        let _ = writeln!(out, "         state at the violation:");
    }
    ledger_lines(&st.ledger, out);
}
