//! What a run exercised: step kinds, invariant premises, and "sometimes"
//! goals — so a user sees what a run did *not* do.

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

    pub fn merge(&mut self, o: &Coverage) {
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
