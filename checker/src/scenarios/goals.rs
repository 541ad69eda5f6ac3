//! What each built-in scenario exists to show, as "sometimes" goals of the model
//! ([`ublk_model::Goal`]): `check` reports a scenario VACUOUS when exploration
//! never reaches one of them, so a PASS cannot hide that a model change (or a
//! patch under review) made the scenario's race unreachable.
//!
//! A PASS or a KNOWN verdict can be vacuous (a known finding on one path is no
//! proof the rest of the story happened); a FAIL has its new finding to show.
//! Each scenario declares two sets: the goals it reaches on every preset where it
//! passes or shows only known findings, and those it reaches where it passes
//! (a known finding can stop the path to them). `checker/tests/gate.rs` runs them
//! all on every preset.

use crate::explore::verdict::Verdict;
use ublk_model::Goal;

/// The goals scenario `name` must reach with verdict `v` (none for scenarios not listed
/// here, such as generated configurations and scenario files, and for FAIL and n/a).
pub fn goals_for(name: &str, v: &Verdict) -> Vec<Goal> {
    let Some((_, always, on_pass)) = GOALS.iter().find(|(n, _, _)| *n == name) else {
        return Vec::new();
    };
    match v {
        Verdict::Pass => always.iter().chain(on_pass.iter()).copied().collect(),
        Verdict::Known => always.to_vec(),
        _ => Vec::new(),
    }
}

/// Every goal scenario `name` declares (for listing).
pub fn goals(name: &str) -> Vec<Goal> {
    goals_for(name, &Verdict::Pass)
}

/// Measured (every preset where the scenario PASSes or is KNOWN reaches the first set,
/// where it PASSes the second), then read against each scenario's story: a scenario that
/// stops reaching one has lost the behaviour it was written for.
#[rustfmt::skip]
const GOALS: &[(&str, &[Goal], &[Goal])] = &[
    ("daemon-zc", &[Goal::StopInflight, Goal::TableBusy, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("daemon-unreg-after-commit", &[Goal::StopInflight, Goal::TableBusy, Goal::CancelCompletes], &[Goal::ReleaseCompletes, Goal::RequestEnds]),
    ("offdaemon-register-vs-commit", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("offdaemon-unregister-after-commit", &[Goal::RequestEnds], &[]),
    ("register-vs-server-exit", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ReleaseCompletes]),
    ("user-copy-vs-elevator", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ElevatorFree, Goal::RequestEnds], &[]),
    ("register-vs-elevator", &[Goal::ElevatorFree, Goal::RequestEnds], &[]),
    ("concurrent-fetch", &[Goal::CancelCompletes], &[Goal::ReleaseAbort]),
    ("recovery-reissue-abort", &[Goal::RequeueRedispatch, Goal::StopInflight, Goal::ReleaseAbort, Goal::TableBusy, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("need-get-data-fail", &[Goal::RequeueRedispatch, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("cancel-vs-dispatch", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::ReleaseAbort]),
    ("auto-buf-reg", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("user-copy-daemon-and-helper", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("per-io-daemons-stress", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ReleaseCompletes]),
    ("thread-exit-before-start", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("thread-exit-ring-open", &[Goal::FallbackDispatch, Goal::StopInflight, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("exit-before-unregister", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("ring-exit-slot-states", &[Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("stop-after-server-exit", &[Goal::StopInflight, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("stop-with-fd-held", &[Goal::StopInflight, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("recovery-new-server", &[Goal::RequeueRedispatch, Goal::Recovered, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::ReleaseAbort]),
    ("recovery-end-without-start", &[Goal::RequeueRedispatch, Goal::Recovered, Goal::ReleaseAbort, Goal::RequestEnds], &[]),
    ("stale-pointer-window", &[Goal::ElevatorFree, Goal::RequestEnds], &[]),
    ("errno-table", &[Goal::StopInflight, Goal::TableBusy, Goal::CancelCompletes], &[Goal::ReleaseCompletes, Goal::ReleaseAbort, Goal::RequestEnds]),
    ("queue-daemon-two-tags", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("server-death-inflight", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("ring-exit-owned-and-idle", &[Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("recovery-requeue-612", &[Goal::RequeueRedispatch, Goal::Recovered, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::ReleaseAbort]),
    ("user-copy-queue-daemon", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("recovery-start-twice", &[Goal::Recovered, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    ("more-bios-than-tags", &[Goal::RequestEnds, Goal::StopInflight, Goal::CancelCompletes], &[]),
    ("small-user-copy-vs-elevator", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ElevatorFree, Goal::RequestEnds], &[]),
    ("small-recovery-reissue-abort", &[Goal::RequeueRedispatch, Goal::ReleaseAbort], &[]),
    ("small-server-exit-owned", &[Goal::ReleaseAbort, Goal::RequestEnds], &[]),
    ("small-server-exit-owned-user-copy", &[], &[Goal::RequestEnds]),
    ("small-need-get-data-fail", &[Goal::RequeueRedispatch, Goal::RequestEnds], &[]),
    ("small-cancel-before-start", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::ReleaseAbort]),
    ("two-queues-ring-close", &[Goal::QueueReadyAlone, Goal::CancelSkips, Goal::FallbackDispatch, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::ReleaseAbort]),
    ("two-queues-kill-recovery", &[Goal::QueueReadyAlone, Goal::CancelSkips, Goal::FallbackDispatch, Goal::RequeueRedispatch, Goal::Recovered, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes], &[Goal::ReleaseAbort]),
    ("small-ring-close-vs-dispatch", &[Goal::CancelSkips, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes], &[]),
    // the live update: the idle FETCH aborted, the held read requeued and served by the new server
    ("quiesce-live-update", &[Goal::CancelCompletes, Goal::ReleaseAbort, Goal::RequeueRedispatch, Goal::Recovered, Goal::RequestEnds], &[]),
    ("quiesce-busy-queue", &[Goal::CancelCompletes, Goal::RequestEnds], &[]),
];
