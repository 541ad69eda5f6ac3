//! `ublksim chart`: a counterexample as a message-sequence chart — one lane per actor that
//! moves, one row per step — for readers who would rather look than read.
//!
//! This file holds what both drawings need and nothing about drawing: the lanes that take a
//! step (in the scenario's actor order), one row per step, and how the trace ends.  It is
//! built from the verified walk of `explain` ([`walk_each`]), never from the trace's own
//! claims, so a chart shows only what the model does.  The drawings are [`chart_svg`]
//! (self-contained SVG, also embedded in `view`'s page) and [`chart_text`] (plain-text lanes
//! for a mailing list).
//!
//! [`chart_svg`]: crate::teach::chart_svg
//! [`chart_text`]: crate::teach::chart_text

use crate::explore::verdict::ReplayOpts;
use crate::teach::explain::{walk_each, End, Walk, WalkStep};
use std::path::Path;
use ublk_traces::Trace;

/// One column of the chart: an actor that takes at least one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartLane {
    pub name: String,
    /// What kind of context it is, in words (`server thread`, `task work` …).
    pub kind: String,
    /// A kernel context: drawn dashed and shaded, apart from user space.
    pub kernel: bool,
}

/// One step: which lane moved, the kernel function, what user space saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartRow {
    /// 1-based step number, as `explain` prints it.
    pub n: usize,
    /// Index into [`Chart::lanes`].
    pub lane: usize,
    pub func: String,
    pub result: Option<i32>,
    pub in_cycle: bool,
    pub violation: bool,
}

impl ChartRow {
    /// The function with its user-visible result, `arrow` between (`→` or `->`).
    pub fn label(&self, arrow: &str) -> String {
        match self.result {
            Some(r) => format!("{} {arrow} {r}", self.func),
            None => self.func.clone(),
        }
    }
}

/// A walked trace reduced to what a sequence chart shows.
#[derive(Clone, Debug)]
pub struct Chart {
    /// `scenario on PRESET switches`.
    pub title: String,
    pub lanes: Vec<ChartLane>,
    pub rows: Vec<ChartRow>,
    pub end: End,
}

impl Chart {
    /// The 1-based steps of a lasso's cycle (first, last), if the trace ends in one.
    pub fn cycle(&self) -> Option<(usize, usize)> {
        match self.end {
            End::Hang {
                cycle_start: Some(c),
                ..
            } => Some((c, self.rows.len())),
            _ => None,
        }
    }

    /// Whether the trace ends in a dead end (a hang without a cycle).
    pub fn dead_end(&self) -> bool {
        matches!(
            self.end,
            End::Hang {
                cycle_start: None,
                ..
            }
        )
    }

    /// The ending in words, one line per item: what broke (or hangs) and why.
    pub fn ending(&self) -> Vec<String> {
        match &self.end {
            End::Violation {
                inv,
                describe,
                msg,
                step,
            } => vec![
                format!("VIOLATION {inv} at step {step}: {describe}"),
                msg.clone(),
            ],
            End::Hang {
                prop,
                describe,
                obligation,
                cycle_start,
            } => vec![
                format!("HANG {prop}: {describe}"),
                format!("open obligation: {obligation}"),
                match cycle_start {
                    Some(c) => format!(
                        "steps {c}-{} repeat forever (every actor that can run gets its turn)",
                        self.rows.len()
                    ),
                    None => "dead end: after the last step no actor that must run can move".into(),
                },
            ],
            End::Nothing => vec!["the trace ends without a violation or hang".into()],
        }
    }
}

/// Collects rows and keeps only the lanes that move.
struct Builder {
    all: Vec<ChartLane>,
    used: Vec<bool>,
    rows: Vec<ChartRow>,
}

impl Builder {
    fn new(all: Vec<ChartLane>) -> Self {
        let used = vec![false; all.len()];
        Builder {
            all,
            used,
            rows: Vec::new(),
        }
    }

    fn push(&mut self, s: &WalkStep) {
        self.used[s.lane] = true;
        self.rows.push(ChartRow {
            n: s.n,
            lane: s.lane,
            func: s.func.clone(),
            result: s.result,
            in_cycle: s.in_cycle,
            violation: s.violation,
        });
    }

    fn finish(self, title: String, end: End) -> Chart {
        // actor index → column, in the scenario's actor order
        let mut col = vec![usize::MAX; self.all.len()];
        let mut lanes = Vec::new();
        for (i, l) in self.all.into_iter().enumerate() {
            if self.used[i] {
                col[i] = lanes.len();
                lanes.push(l);
            }
        }
        let rows = self
            .rows
            .into_iter()
            .map(|mut r| {
                r.lane = col[r.lane];
                r
            })
            .collect();
        Chart {
            title,
            lanes,
            rows,
            end,
        }
    }
}

fn lanes_of(l: &[crate::teach::explain::Lane]) -> Vec<ChartLane> {
    l.iter()
        .map(|l| ChartLane {
            name: l.name.clone(),
            kind: l.kind.clone(),
            kernel: l.kernel,
        })
        .collect()
}

/// The chart of a walk already made (`view` has one).
pub fn from_walk(w: &Walk) -> Chart {
    let mut b = Builder::new(lanes_of(&w.lanes));
    for s in &w.steps {
        b.push(s);
    }
    b.finish(w.title.clone(), w.end.clone())
}

/// The chart of a trace: verified and walked by [`walk_each`] (a trace that does not replay is
/// refused), keeping one small row per step rather than every step's ledger.
pub fn from_trace(t: &Trace, prefix: bool) -> Result<Chart, String> {
    // both callbacks fill the same builder; walk_each calls them one at a time
    let b = std::cell::RefCell::new(None::<(String, Builder)>);
    let end = walk_each(
        t,
        prefix,
        |h| *b.borrow_mut() = Some((h.title.clone(), Builder::new(lanes_of(&h.lanes)))),
        |_, s| {
            if let Some((_, b)) = b.borrow_mut().as_mut() {
                b.push(&s)
            }
        },
    )?;
    let (title, b) = b.into_inner().expect("the head comes first");
    Ok(b.finish(title, end))
}

/// Read, verify and chart a trace file.
pub fn from_file(path: &Path, o: &ReplayOpts) -> Result<Chart, String> {
    let t = Trace::read_limited(path, &o.limits).map_err(|e| e.to_string())?;
    from_trace(&t, o.prefix).map_err(|e| format!("{}: {e}", path.display()))
}
