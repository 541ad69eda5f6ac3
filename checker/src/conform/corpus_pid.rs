//! The checks of the control commands that wait for the device to be ready on the real
//! kernel: 7.x `ublk_validate_user_pid` (7.2 corpus), and END_USER_RECOVERY on a device
//! without recovery (7.2 and 6.12 corpus).

use crate::conform::compile::ModelProgram;
use crate::conform::corpus::program;
use crate::scenarios::dsl::{control, fetch, sc, server};
use ublk_model::config::*;
use ublk_model::Preset;

/// The server FETCHes its only io and exits; its parent reaps it; START_DEV names the pid
/// the server had. The canceled FETCH still counts as fetched (7.x), and the release work
/// finds no disk and skips `ublk_reset_ch_dev`, so `ub->ublksrv_tgid` is still the dead
/// server's: only `find_vpid` of a reaped pid (NULL, `pid_nr` 0) refuses it, -EINVAL.
/// (A model without pids starts the device: 0. Found by `confirm --stress`'s sequential
/// controls of the `two-queues-recovery-*` findings, 8 of 8 on 7.2.13.) Whether the release
/// work has run by then does not matter: it leaves the tgid either way.
pub(crate) fn start_dev_after_server_exit(id: &str) -> ModelProgram {
    let s = sc(
        "start-dev-after-server-exit",
        "START_DEV after the server exited and was reaped: -EINVAL (ublk_validate_user_pid)",
        DevConfig::default(),
        vec![
            server("daemon", true, vec![fetch(0, false), Op::Exit]),
            control(&[CtrlOp::StartDev]),
        ],
    );
    let (d, c) = ("daemon", "control");
    // FETCH, exit (reaped), START_DEV
    program(s, Preset::K72, &[d, d, c], id)
}

/// END_USER_RECOVERY on a device without user recovery: it waits for the device to be
/// ready (7.x `ublk_wait_dev_ready_and_lock`, 6.12 `ub->completion`), and only then answers
/// -EINVAL (`ublk_nosrv_should_stop_dev`); START_DEV then starts the device.  A trace holds
/// the steps taken, not a blocked attempt, so the corpus program issues END after the FETCH;
/// the unit test below issues it first (the model answered at once, before the FETCH).
pub(crate) fn end_recovery_without_recovery(id: &str, preset: Preset) -> ModelProgram {
    let s = sc(
        "end-recovery-without-recovery",
        "END_USER_RECOVERY on a device without recovery waits for the FETCHes, then -EINVAL",
        DevConfig {
            copy: CopyMode::Copy,
            ..DevConfig::default()
        },
        vec![
            server("daemon", true, vec![fetch(0, true)]),
            control(&[CtrlOp::EndUserRecovery, CtrlOp::StartDev]),
        ],
    );
    let (d, c) = ("daemon", "control");
    // FETCH, END_USER_RECOVERY -EINVAL, START_DEV
    program(s, preset, &[d, c, c], id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::oracle::{predict, Observed};
    use ublk_model::{Model, Sw};

    /// The prediction is the kernel's -EINVAL; without the switch the model starts the device.
    #[test]
    fn start_dev_names_a_reaped_server() {
        let mp = start_dev_after_server_exit("t");
        let last = |feat| {
            let m = Model::new(&mp.scenario, feat).unwrap();
            let p = predict(&m, &mp.order).unwrap();
            assert!(p.violation.is_none());
            p.steps.last().unwrap().observed.clone()
        };
        let k72 = Preset::K72.features();
        assert_eq!(last(k72), Observed::Done(Some(-22)));
        assert_eq!(last(k72.without(Sw::ValidatePid)), Observed::Done(Some(0)));
    }

    /// END_USER_RECOVERY on a device without recovery blocks until the FETCH, then answers
    /// -EINVAL, on every preset; START_DEV then succeeds.
    #[test]
    fn end_recovery_without_recovery_waits_for_the_fetch() {
        for preset in Preset::every() {
            let mp = end_recovery_without_recovery("t", preset);
            let m = Model::new(&mp.scenario, preset.features()).unwrap();
            let (d, c) = (
                m.actor_id("daemon").unwrap(),
                m.actor_id("control").unwrap(),
            );
            // END_USER_RECOVERY (waits), FETCH, END's -EINVAL, START_DEV
            let p = predict(&m, &[c, d, c, c]).unwrap();
            assert!(p.violation.is_none(), "{preset:?}");
            let seen: Vec<Observed> = p.steps.iter().map(|s| s.observed.clone()).collect();
            assert_eq!(
                seen,
                vec![
                    Observed::Blocks,
                    Observed::Pending,
                    Observed::Done(Some(-22)),
                    Observed::Done(Some(0))
                ],
                "{preset:?}"
            );
        }
    }
}
