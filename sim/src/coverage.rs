//! What a run exercised: step kinds, invariant premises, and "sometimes"
//! goals — so a user sees what a run did *not* do.

use serde::Serialize;
use std::collections::BTreeMap;
use ublk_model::state::{flag, Cell, CmdSt, State};
use ublk_model::{Func, Kind, Model, StepInfo};

/// Behaviours a good run should show at least once.
pub const GOALS: [(&str, &str); 12] = [
    (
        "offdaemon-ref",
        "an off-daemon lookup took a request reference",
    ),
    (
        "offdaemon-refused",
        "an off-daemon lookup was refused (the request had completed)",
    ),
    (
        "release-completes",
        "the last buffer release completed a request",
    ),
    (
        "cancel-skips",
        "a cancel pass found nothing to cancel (slot idle or owned by a started request)",
    ),
    (
        "fallback-dispatch",
        "a dispatch ran as fallback task work of an exited task",
    ),
    ("requeue-redispatch", "a requeued request was re-dispatched"),
    ("recovered", "END_USER_RECOVERY brought the device back"),
    ("stop-inflight", "STOP_DEV started with I/O in flight"),
    (
        "elevator-free",
        "an elevator switch freed scheduler request memory",
    ),
    (
        "release-abort",
        "the release work aborted the dead server's requests",
    ),
    (
        "fake-timeout",
        "a completion was dropped to the timeout handler",
    ),
    (
        "table-busy",
        "a REGISTER found its table entry occupied (-EBUSY)",
    ),
];

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
    fn hit(&mut self, goal: &'static str) {
        *self.goals.entry(goal).or_default() += 1;
    }

    /// Account one step and the state after it; `allocated_before`: number
    /// of allocated requests before the step.
    pub fn record(&mut self, m: &Model, info: &StepInfo, s: &State, allocated_before: usize) {
        *self.steps.entry(info.func.label()).or_default() += 1;
        let f = info.func;
        let offdaemon = matches!(&m.actors[info.actor as usize].kind,
            Kind::Server { task, .. } if s.slots.iter().all(|io| io.task != Some(*task)));
        if f == Func::UblkCheckAndGetReqRef && offdaemon {
            self.hit(if info.result.is_none() {
                "offdaemon-ref"
            } else {
                "offdaemon-refused"
            });
        }
        let allocated = s.reqs.iter().filter(|r| r.allocated).count();
        let released_by = matches!(
            f,
            Func::UblkChUringCmdUnregisterIoBuf | Func::IoPutRsrcNode | Func::IoRingCtxFree
        );
        if allocated < allocated_before && released_by {
            self.hit("release-completes");
        }
        if f == Func::UblkCancelCmdCheckActive && !s.actors[info.actor as usize].in_kernel() {
            self.hit("cancel-skips");
        }
        if f == Func::UblkCmdTwCbFallback {
            self.hit("fallback-dispatch");
        }
        if f == Func::BlkMqRequeueWorkQueueRq {
            self.hit("requeue-redispatch");
        }
        if f == Func::UblkCtrlEndRecovery && info.result == Some(0) {
            self.hit("recovered");
        }
        if f == Func::UblkStopDevMutex && allocated_before > 0 {
            self.hit("stop-inflight");
        }
        if f == Func::ElevatorSwitchFree {
            self.hit("elevator-free");
        }
        if f == Func::UblkChReleaseWorkFnAbort {
            self.hit("release-abort");
        }
        if s.dev.fake_timeout_used && !self.goals.contains_key("fake-timeout") {
            self.hit("fake-timeout");
        }
        if info.result == Some(-16)
            && matches!(
                f,
                Func::UblkChUringCmdRegisterIoBuf
                    | Func::UblkChUringCmdUnregisterIoBuf
                    | Func::UblkRegisterIoBuf
            )
        {
            self.hit("table-busy");
        }
        self.premises(s);
    }

    fn premises(&mut self, s: &State) {
        let mut p = |k: &'static str, c: bool| {
            if c {
                *self.premises.entry(k).or_default() += 1;
            }
        };
        p("S1 request memory freed", s.reqs.iter().any(|r| !r.alive));
        p(
            "S3 registered buffer present",
            s.nodes.iter().any(Option::is_some),
        );
        p(
            "S4 slot with a dispatch round",
            s.slots.iter().any(|io| io.g_round.is_some()),
        );
        p(
            "S4 off-task references outstanding",
            s.slots.iter().any(|io| io.g_out > 0),
        );
        p(
            "S5 cmd kept by the driver",
            s.cmds.iter().any(|c| c.st == CmdSt::Pending),
        );
        p(
            "S6 slot ACTIVE",
            s.slots.iter().any(|io| io.has(flag::ACTIVE)),
        );
        p(
            "S6 slot OWNED_BY_SRV",
            s.slots.iter().any(|io| io.has(flag::OWNED_BY_SRV)),
        );
        p(
            "S6 slot CANCELED",
            s.slots.iter().any(|io| io.has(flag::CANCELED)),
        );
        p(
            "S7 request dispatched",
            s.slots.iter().any(|io| matches!(io.cell, Cell::Req(_))),
        );
        p("S9 device started", s.dev.has_disk);
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
        GOALS
            .iter()
            .map(|(g, _)| *g)
            .filter(|g| !self.goals.contains_key(g))
            .collect()
    }
}
