//! Every property of the model in one list, as stateright states them:
//! what must hold **always** (the safety invariants S1–S12), what must happen
//! **eventually** (the liveness properties L1–L5), and what should happen
//! **sometimes** (goals: behaviours a run or a scenario exists to show).
//!
//! Why goals belong to the model: a check that passes because the race it
//! was written for no longer happens (a model change moved a step, a fix
//! made a path unreachable) is a vacuous PASS, and it hides bugs exactly
//! where the scenario was meant to look.  A goal is a predicate on one
//! transition (state before, the step, state after), so the explorer, the
//! simulator and the teaching tools all judge "did it happen" the same way.

use crate::defs::{Kind, Model, StepInfo};
use crate::func::Func;
use crate::invariants::Inv;
use crate::liveness::Prop;
use crate::state::State;
use serde::Serialize;
use std::fmt;

/// How a property is expected to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Expectation {
    /// In every reachable state (a counterexample is a path).
    Always,
    /// On every fair path (a counterexample is a lasso or a dead end).
    Eventually,
    /// In some reachable transition (an example is a path; none is a
    /// vacuity warning).
    Sometimes,
}

/// A behaviour worth seeing at least once (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Goal {
    OffdaemonRef,
    OffdaemonRefused,
    ReleaseCompletes,
    CancelSkips,
    FallbackDispatch,
    RequeueRedispatch,
    Recovered,
    StopInflight,
    ElevatorFree,
    ReleaseAbort,
    FakeTimeout,
    TableBusy,
    RequestEnds,
    CancelCompletes,
    QueueReadyAlone,
}

impl Goal {
    /// Every goal, in the order reports list them.
    pub const ALL: [Goal; 15] = [
        Goal::OffdaemonRef,
        Goal::OffdaemonRefused,
        Goal::ReleaseCompletes,
        Goal::CancelSkips,
        Goal::FallbackDispatch,
        Goal::RequeueRedispatch,
        Goal::Recovered,
        Goal::StopInflight,
        Goal::ElevatorFree,
        Goal::ReleaseAbort,
        Goal::FakeTimeout,
        Goal::TableBusy,
        Goal::RequestEnds,
        Goal::CancelCompletes,
        Goal::QueueReadyAlone,
    ];

    /// The short name (`offdaemon-ref`).
    pub fn name(self) -> &'static str {
        match self {
            Goal::OffdaemonRef => "offdaemon-ref",
            Goal::OffdaemonRefused => "offdaemon-refused",
            Goal::ReleaseCompletes => "release-completes",
            Goal::CancelSkips => "cancel-skips",
            Goal::FallbackDispatch => "fallback-dispatch",
            Goal::RequeueRedispatch => "requeue-redispatch",
            Goal::Recovered => "recovered",
            Goal::StopInflight => "stop-inflight",
            Goal::ElevatorFree => "elevator-free",
            Goal::ReleaseAbort => "release-abort",
            Goal::FakeTimeout => "fake-timeout",
            Goal::TableBusy => "table-busy",
            Goal::RequestEnds => "request-ends",
            Goal::CancelCompletes => "cancel-completes",
            Goal::QueueReadyAlone => "queue-ready-alone",
        }
    }

    /// What it means, in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Goal::OffdaemonRef => "an off-daemon lookup took a request reference",
            Goal::OffdaemonRefused => {
                "an off-daemon lookup was refused (the request had completed)"
            }
            Goal::ReleaseCompletes => "the last buffer release completed a request",
            Goal::CancelSkips => {
                "a cancel pass found nothing to cancel (slot idle or owned by a started request)"
            }
            Goal::FallbackDispatch => "a dispatch ran as fallback task work of an exited task",
            Goal::RequeueRedispatch => "a requeued request was re-dispatched",
            Goal::Recovered => "END_USER_RECOVERY brought the device back",
            Goal::StopInflight => "STOP_DEV started with I/O in flight",
            Goal::ElevatorFree => "an elevator switch freed scheduler request memory",
            Goal::ReleaseAbort => "the release work aborted the dead server's requests",
            Goal::FakeTimeout => "a completion was dropped to the timeout handler",
            Goal::TableBusy => "a REGISTER found its table entry occupied (-EBUSY)",
            Goal::RequestEnds => "a request ended (bio_endio)",
            Goal::CancelCompletes => "a cancel completed a cmd with UBLK_IO_RES_ABORT",
            Goal::QueueReadyAlone => {
                "a FETCH made one hw queue fully fetched while another queue was not"
            }
        }
    }

    /// By its short name.
    pub fn by_name(n: &str) -> Option<Goal> {
        Goal::ALL.into_iter().find(|g| g.name() == n)
    }

    /// Did the step `info`, from a state summarized by `before` to `after`,
    /// show this goal?
    pub fn reached(self, m: &Model, before: Before, info: &StepInfo, after: &State) -> bool {
        let f = info.func;
        let allocated = |s: &State| m.req_views(s).filter(|r| r.allocated()).count();
        match self {
            Goal::OffdaemonRef | Goal::OffdaemonRefused => {
                // cheap tests first: this runs on every transition of an exploration
                f == Func::UblkCheckAndGetReqRef
                    && info.result.is_none() == (self == Goal::OffdaemonRef)
                    && matches!(&m.actors[info.actor as usize].kind,
                        Kind::Server { task, .. } if m.slot_views(after).all(|io| io.task != Some(*task)))
            }
            Goal::ReleaseCompletes => {
                matches!(
                    f,
                    Func::UblkChUringCmdUnregisterIoBuf | Func::IoPutRsrcNode | Func::IoRingCtxFree
                ) && allocated(after) < before.allocated
            }
            Goal::CancelSkips => {
                f == Func::UblkCancelCmdCheckActive
                    && !after.actors[info.actor as usize].in_kernel()
            }
            Goal::FallbackDispatch => f == Func::UblkCmdTwCbFallback,
            Goal::RequeueRedispatch => f == Func::BlkMqRequeueWorkQueueRq,
            Goal::Recovered => {
                matches!(f, Func::UblkCtrlEndRecovery | Func::UblkCtrlEndRecovery612)
                    && info.result == Some(0)
            }
            Goal::StopInflight => f == Func::UblkStopDevMutex && before.allocated > 0,
            Goal::ElevatorFree => f == Func::ElevatorSwitchFree,
            Goal::ReleaseAbort => f == Func::UblkChReleaseWorkFnAbort,
            // the flag itself, not `dev_view` (which allocates): every transition asks
            Goal::FakeTimeout => after.dev.fake_timeout_used,
            Goal::TableBusy => {
                info.result == Some(-16)
                    && matches!(
                        f,
                        Func::UblkChUringCmdRegisterIoBuf
                            | Func::UblkChUringCmdUnregisterIoBuf
                            | Func::UblkRegisterIoBuf
                    )
            }
            Goal::RequestEnds => f == Func::BioEndio,
            Goal::CancelCompletes => f == Func::UblkCancelCmdComplete,
            Goal::QueueReadyAlone => {
                let fetched = |q: &[crate::state::Slot]| {
                    q.iter()
                        .all(|io| io.flags & crate::state::flag::ACTIVE != 0)
                };
                let depth = m.dev.depth as usize;
                f == Func::UblkFetch
                    && after.slots.chunks(depth).any(fetched)
                    && !after.slots.chunks(depth).all(fetched)
            }
        }
    }
}

/// What a goal needs of the state before a step (so a simulator that steps
/// in place need not keep a copy of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Before {
    /// Requests allocated (between allocation and `blk_mq_free_request()`).
    pub allocated: usize,
}

impl Before {
    pub fn of(m: &Model, s: &State) -> Before {
        Before {
            allocated: m.req_views(s).filter(|r| r.allocated()).count(),
        }
    }
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PropertyId {
    Invariant(Inv),
    Liveness(Prop),
    Goal(Goal),
}

/// One property of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Property {
    pub name: &'static str,
    pub expectation: Expectation,
    pub id: PropertyId,
    pub describe: &'static str,
}

const INVS: [(Inv, &str); 12] = [
    (Inv::S1, "S1"),
    (Inv::S2, "S2"),
    (Inv::S3, "S3"),
    (Inv::S4, "S4"),
    (Inv::S5, "S5"),
    (Inv::S6, "S6"),
    (Inv::S7, "S7"),
    (Inv::S8, "S8"),
    (Inv::S9, "S9"),
    (Inv::S10, "S10"),
    (Inv::S11, "S11"),
    (Inv::S12, "S12"),
];
const PROPS: [(Prop, &str); 5] = [
    (Prop::L1, "L1"),
    (Prop::L2, "L2"),
    (Prop::L3, "L3"),
    (Prop::L4, "L4"),
    (Prop::L5, "L5"),
];

/// S1–S12 (always), L1–L5 (eventually), then the goals (sometimes).
pub fn properties() -> Vec<Property> {
    let mut v: Vec<Property> = INVS
        .iter()
        .map(|&(i, n)| Property {
            name: n,
            expectation: Expectation::Always,
            id: PropertyId::Invariant(i),
            describe: i.describe(),
        })
        .collect();
    v.extend(PROPS.iter().map(|&(p, n)| Property {
        name: n,
        expectation: Expectation::Eventually,
        id: PropertyId::Liveness(p),
        describe: p.describe(),
    }));
    v.extend(Goal::ALL.iter().map(|&g| Property {
        name: g.name(),
        expectation: Expectation::Sometimes,
        id: PropertyId::Goal(g),
        describe: g.describe(),
    }));
    v
}

impl Model {
    /// [`properties`], so a checker can ask the model what to check.
    pub fn properties(&self) -> Vec<Property> {
        properties()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_once_with_its_expectation() {
        let p = properties();
        assert_eq!(p.len(), 12 + 5 + Goal::ALL.len());
        let mut names: Vec<_> = p.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), p.len(), "names are unique");
        assert!(p
            .iter()
            .filter(|p| p.name.starts_with('S'))
            .all(|p| p.expectation == Expectation::Always));
        for g in Goal::ALL {
            assert_eq!(Goal::by_name(g.name()), Some(g));
        }
    }
}
