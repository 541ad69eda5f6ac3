//! What a run exercised: step kinds, invariant premises, and "sometimes"
//! goals — so a user sees what a run did *not* do.

use crate::faults::Fault;
use serde::Serialize;
use std::collections::BTreeMap;
use ublk_model::properties::Before;
use ublk_model::state::{flag, CmdSt, State};
use ublk_model::view::Stage;
use ublk_model::{Goal, Model, StepInfo};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Steps per kernel function.
    pub steps: BTreeMap<&'static str, u64>,
    /// States in which each invariant's premise held (so its check meant
    /// something): e.g. S4 with a request round on a slot.
    pub premises: BTreeMap<&'static str, u64>,
    /// Goal → times seen.
    pub goals: BTreeMap<&'static str, u64>,
    /// Steps per kernel function by the event faults that had fired earlier in the same
    /// episode ([`FaultCols`]): what the kernel did *under* each fault, for `sim
    /// --coverage-svg`'s heat map.  Filled only when [`crate::RunOpts::fault_matrix`] asks
    /// (it costs a second map update per step); not in `sim --json`, which stays as it was.
    #[serde(skip)]
    pub under_fault: BTreeMap<&'static str, FaultCols>,
}

/// The event faults a step can happen after, in the heat map's column order; column 0 of
/// [`FaultCols`] is "before any fault" (the episode has seen none yet).  `recovery` has no
/// column of its own: its event is the same SIGKILL, and a new server's recovery shows
/// under `kill`.
pub const EVENT_FAULTS: [Fault; 5] = [
    Fault::Kill,
    Fault::RingExit,
    Fault::OffloadDeath,
    Fault::Elevator,
    Fault::Stop,
];

/// One function's steps: before any fault, then after each of [`EVENT_FAULTS`].
pub type FaultCols = [u64; 1 + EVENT_FAULTS.len()];

/// The bit of `f` in an episode's fired-faults mask (None: a configuration fault).
pub fn event_bit(f: Fault) -> Option<u8> {
    EVENT_FAULTS.iter().position(|&g| g == f).map(|i| 1 << i)
}

impl Coverage {
    /// Account one step and the state after it; `before`: the state before
    /// it, summarized.
    pub fn record(&mut self, m: &Model, info: &StepInfo, s: &State, before: Before) {
        *self.steps.entry(info.func.label()).or_default() += 1;
        for g in Goal::ALL {
            // the fake timeout is a fault of the run: counted once
            if g == Goal::FakeTimeout && self.goals.contains_key(g.name()) {
                continue;
            }
            if g.reached(m, before, info, s) {
                *self.goals.entry(g.name()).or_default() += 1;
            }
        }
        self.premises(m, s);
    }

    fn premises(&mut self, m: &Model, s: &State) {
        let mut p = |k: &'static str, c: bool| {
            if c {
                *self.premises.entry(k).or_default() += 1;
            }
        };
        p(
            "S1 request memory freed",
            m.req_views(s).any(|r| r.stage == Stage::Freed),
        );
        p(
            "S3 registered buffer present",
            s.nodes.iter().any(Option::is_some),
        );
        p(
            "S4 slot with a dispatch round",
            m.slot_views(s).any(|io| io.round.is_some()),
        );
        p(
            "S4 off-task references outstanding",
            m.slot_views(s).any(|io| io.out_refs > 0),
        );
        p(
            "S5 cmd kept by the driver",
            s.cmds.iter().any(|c| c.st == CmdSt::Pending),
        );
        p(
            "S6 slot ACTIVE",
            m.slot_views(s).any(|io| io.flags.has(flag::ACTIVE)),
        );
        p(
            "S6 slot OWNED_BY_SRV",
            m.slot_views(s).any(|io| io.flags.has(flag::OWNED_BY_SRV)),
        );
        p(
            "S6 slot CANCELED",
            m.slot_views(s).any(|io| io.flags.has(flag::CANCELED)),
        );
        p(
            "S7 request dispatched",
            m.slot_views(s).any(|io| io.req().is_some()),
        );
        p("S9 device started", m.dev_view(s).has_disk);
    }

    /// Account one step of `func` after the faults in `fired` (bits of [`event_bit`]); a step
    /// after two faults counts under both.
    pub fn record_under(&mut self, func: &'static str, fired: u8) {
        let row = self.under_fault.entry(func).or_default();
        if fired == 0 {
            row[0] += 1;
        }
        for (i, c) in row[1..].iter_mut().enumerate() {
            *c += u64::from(fired >> i & 1);
        }
    }

    pub fn merge(&mut self, o: &Coverage) {
        for (k, v) in &o.under_fault {
            let row = self.under_fault.entry(k).or_default();
            for (a, b) in row.iter_mut().zip(v) {
                *a += b;
            }
        }
        for (k, v) in &o.steps {
            *self.steps.entry(k).or_default() += v;
        }
        for (k, v) in &o.premises {
            *self.premises.entry(k).or_default() += v;
        }
        for (k, v) in &o.goals {
            *self.goals.entry(k).or_default() += v;
        }
    }

    /// Goals never seen (what the run did not exercise).
    pub fn missed(&self) -> Vec<&'static str> {
        Goal::ALL
            .iter()
            .map(|g| g.name())
            .filter(|g| !self.goals.contains_key(g))
            .collect()
    }
}
