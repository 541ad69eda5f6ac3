//! What each built-in scenario exists to show, as "sometimes" goals of the model
//! ([`ublk_model::Goal`]): `check` reports a scenario VACUOUS when exploration
//! never reaches one of them, so a PASS cannot hide that a model change (or a
//! patch under review) made the scenario's race unreachable.
//!
//! Only a PASS can be vacuous: a KNOWN or FAIL verdict has its finding as
//! evidence that the scenario did something.  Each scenario declares the goals
//! it reaches on every preset where it passes (`checker/tests/gate.rs` runs them
//! all).

use ublk_model::Goal;

/// The goals scenario `name` must reach (none for scenarios not listed here, such
/// as generated configurations and scenario files).
pub fn goals(name: &str) -> &'static [Goal] {
    GOALS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[], |(_, g)| *g)
}

/// Measured (every preset where the scenario PASSes reaches these), then read
/// against each scenario's story: a scenario that stops reaching one has lost the
/// behaviour it was written for.
#[rustfmt::skip]
const GOALS: &[(&str, &[Goal])] = &[
    ("daemon-zc", &[Goal::StopInflight, Goal::TableBusy, Goal::RequestEnds, Goal::CancelCompletes]),
    ("daemon-unreg-after-commit", &[Goal::ReleaseCompletes, Goal::StopInflight, Goal::TableBusy, Goal::RequestEnds, Goal::CancelCompletes]),
    ("offdaemon-register-vs-commit", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes]),
    ("offdaemon-unregister-after-commit", &[Goal::RequestEnds]),
    ("register-vs-server-exit", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ReleaseCompletes, Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("user-copy-vs-elevator", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ElevatorFree, Goal::RequestEnds]),
    ("register-vs-elevator", &[Goal::ElevatorFree, Goal::RequestEnds]),
    ("concurrent-fetch", &[Goal::ReleaseAbort, Goal::CancelCompletes]),
    ("recovery-reissue-abort", &[Goal::RequeueRedispatch, Goal::StopInflight, Goal::ReleaseAbort, Goal::TableBusy, Goal::RequestEnds, Goal::CancelCompletes]),
    ("need-get-data-fail", &[Goal::RequeueRedispatch, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes]),
    ("cancel-vs-dispatch", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("auto-buf-reg", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes]),
    ("user-copy-daemon-and-helper", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes]),
    ("per-io-daemons-stress", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ReleaseCompletes, Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("thread-exit-ring-open", &[Goal::FallbackDispatch, Goal::StopInflight, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("ring-exit-slot-states", &[Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("stop-after-server-exit", &[Goal::StopInflight, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("recovery-new-server", &[Goal::RequeueRedispatch, Goal::Recovered, Goal::StopInflight, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("stale-pointer-window", &[Goal::ElevatorFree, Goal::RequestEnds]),
    ("errno-table", &[Goal::ReleaseCompletes, Goal::StopInflight, Goal::ReleaseAbort, Goal::TableBusy, Goal::RequestEnds, Goal::CancelCompletes]),
    ("queue-daemon-two-tags", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes]),
    ("server-death-inflight", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes]),
    ("ring-exit-owned-and-idle", &[Goal::RequestEnds, Goal::CancelCompletes]),
    ("recovery-requeue-612", &[Goal::RequeueRedispatch, Goal::Recovered, Goal::StopInflight, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("user-copy-queue-daemon", &[Goal::StopInflight, Goal::RequestEnds, Goal::CancelCompletes]),
    ("small-user-copy-vs-elevator", &[Goal::OffdaemonRef, Goal::OffdaemonRefused, Goal::ElevatorFree, Goal::RequestEnds]),
    ("small-recovery-reissue-abort", &[Goal::RequeueRedispatch, Goal::ReleaseAbort]),
    ("small-server-exit-owned", &[Goal::ReleaseAbort, Goal::RequestEnds]),
    ("small-server-exit-owned-user-copy", &[Goal::RequestEnds]),
    ("small-need-get-data-fail", &[Goal::RequeueRedispatch, Goal::RequestEnds]),
    ("small-cancel-before-start", &[Goal::CancelSkips, Goal::FallbackDispatch, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
    ("small-ring-close-vs-dispatch", &[Goal::CancelSkips, Goal::ReleaseAbort, Goal::RequestEnds, Goal::CancelCompletes]),
];
