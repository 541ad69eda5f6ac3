//! Corpus programs of user recovery (both kernels): a new server process opens /dev/ublkcN
//! after START_USER_RECOVERY and serves the device (the executor's second server process).

use crate::conform::compile::ModelProgram;
use crate::conform::corpus::program;
use crate::scenarios::dsl::{commit, fetch, sc, server, submit, wait};
use ublk_model::config::*;
use ublk_model::Preset;

fn recovery_server(name: &str, prog: Vec<Op>) -> ActorSpec {
    ActorSpec::RecoveryServer {
        name: name.into(),
        fixed_file: true,
        prog,
    }
}

/// A whole user recovery of a REISSUE copy device of `depth` tags: the old server's and the
/// new server's programs, one submitter's bios, and the control task's START_DEV,
/// START_USER_RECOVERY, END_USER_RECOVERY, STOP_DEV and DEL_DEV, in `order`.
#[allow(clippy::too_many_arguments)]
fn reissue_recovery(
    preset: Preset,
    id: &str,
    doc: &str,
    depth: u8,
    old: Vec<Op>,
    new: Vec<Op>,
    bios: &[Bio],
    order: &[&str],
) -> ModelProgram {
    program(
        sc(
            id,
            doc,
            DevConfig {
                depth,
                copy: CopyMode::Copy,
                recovery: Recovery::Reissue,
                ..DevConfig::default()
            },
            vec![
                server("daemon", true, old),
                recovery_server("new-daemon", new),
                submit(bios),
                ActorSpec::Control {
                    prog: vec![
                        CtrlOp::StartDev,
                        CtrlOp::StartUserRecovery,
                        CtrlOp::EndUserRecovery,
                        CtrlOp::StopDev,
                        CtrlOp::DelDev,
                    ],
                },
            ],
        ),
        preset,
        order,
        id,
    )
}

/// USER_RECOVERY_REISSUE with a new server (copy, `depth` tags): the old server FETCHes
/// every tag and owns the read's request when its process exits; the request is requeued and
/// held while the device is QUIESCED; START_USER_RECOVERY, the new server process FETCHes
/// every tag, END_USER_RECOVERY hands the held read to it (the same tag), its COMMIT ends the
/// read; STOP_DEV aborts the re-armed cmds, the new server exits, DEL_DEV. On 6.12 `depth`
/// must be 2: the exit's teardown starts from the cancel fn of an idle FETCH (with every slot
/// owned only blk-mq's 30 s timeout would start it).
pub fn reissue_new_server(preset: Preset, depth: u8, id: &str) -> ModelProgram {
    let (d, n, b, c) = ("daemon", "new-daemon", "submitter0", "control");
    let tags = 0..depth;
    let mut old: Vec<Op> = tags.clone().map(|t| fetch(t, true)).collect();
    old.extend([wait(0), Op::Exit]);
    let mut new: Vec<Op> = tags.clone().map(|t| fetch(t, true)).collect();
    new.extend([wait(0), commit(0, 4096, true), wait(0)]);
    new.extend(tags.clone().skip(1).map(wait));
    new.push(Op::Exit);
    let k = depth as usize;
    let mut order = vec![d; k];
    order.extend([c, b, d, d, c]);
    order.extend(vec![n; k]);
    order.extend([c, n, n, b, c, n]);
    order.extend(vec![n; k - 1]);
    order.extend([n, c]);
    reissue_recovery(
        preset,
        id,
        "user recovery (reissue): the held read is re-dispatched to a new server",
        depth,
        old,
        new,
        &[Bio::Read],
        &order,
    )
}

/// Issue #15 item 2 (6.12): USER_RECOVERY_REISSUE, copy, depth 2. The per-queue daemon
/// FETCHes both tags, START_DEV, a read is dispatched (to tag 0: the first request of a fresh
/// tag set takes the lowest bit), the daemon process exits: the cancel fn of the idle FETCH
/// aborts the queue, which requeues the read (REISSUE) without a kick, and the quiesce work
/// parks the device QUIESCED. START_USER_RECOVERY; a new server FETCHes only tag 0 and closes
/// its ring: the queue is not ready, so its cmd's task is not `ubq_daemon` and the ring exit
/// loops on `ublk_uring_cmd_cancel_fn` (WARN, retry). STOP_DEV unquiesces and kicks the
/// requeue list; the requeue work's `ublk_queue_rq` ends the read (-EIO) while the ring exit
/// spins, `del_gendisk` returns, STOP_DEV cancels the new server's cmd (the ring exit ends)
/// and returns 0; the new server exits and DEL_DEV returns 0. The unfair settle ran the
/// spinning ring exit (a lower actor id) for ever and never the requeue work: it predicted
/// STOP_DEV pending, the read blocked, DEL_DEV blocked.
pub fn partial_recovery_stop_612(id: &str) -> ModelProgram {
    let (d, n, b, c) = ("daemon", "new-daemon", "submitter0", "control");
    program(
        sc(
            id,
            "6.12: a partial recovery (the new server FETCHes one of two tags and closes its ring), STOP_DEV, DEL_DEV",
            DevConfig {
                depth: 2,
                copy: CopyMode::Copy,
                recovery: Recovery::Reissue,
                ..DevConfig::default()
            },
            vec![
                server(d, true, vec![fetch(0, true), fetch(1, true), wait(0), Op::Exit]),
                recovery_server(n, vec![fetch(0, true), Op::CloseRing, Op::Exit]),
                submit(&[Bio::Read]),
                ActorSpec::Control {
                    prog: vec![
                        CtrlOp::StartDev,
                        CtrlOp::StartUserRecovery,
                        CtrlOp::StopDev,
                        CtrlOp::DelDev,
                    ],
                },
            ],
        ),
        Preset::K612,
        &[d, d, c, b, d, d, c, n, n, c, b, n, c],
        id,
    )
}

/// QUIESCE_DEV with the queue's only io idle (7.2; UBLK_F_QUIESCE needs a recovery mode):
/// canceling is set and ublk_cancel_dev completes the FETCH with ABORT (-ENODEV), the server
/// exits, the release work leaves the device QUIESCED; a read issued after the quiesce is
/// held (canceling) until STOP_DEV fails it with -EIO. (With the io busy the model reports
/// O-12 at the QUIESCE_DEV step, so no sequential prediction exists for that order; the
/// hand-written `quiesce` real-device scenario measures it.)
pub fn quiesce_idle(id: &str) -> ModelProgram {
    let (d, b, c) = ("daemon", "submitter0", "control");
    program(
        sc(
            id,
            "QUIESCE_DEV aborts the idle FETCH; a later read is held until STOP_DEV",
            DevConfig {
                copy: CopyMode::Copy,
                recovery: Recovery::Requeue,
                quiesce: true,
                ..DevConfig::default()
            },
            vec![
                server(d, true, vec![fetch(0, true), wait(0), Op::Exit]),
                submit(&[Bio::Read]),
                ActorSpec::Control {
                    prog: vec![CtrlOp::StartDev, CtrlOp::QuiesceDev, CtrlOp::StopDev],
                },
            ],
        ),
        Preset::K72,
        &[d, c, c, d, b, d, c, b],
        id,
    )
}

/// UPDATE_SIZE (with the size the device has) before START_DEV, while LIVE and after
/// STOP_DEV (copy, depth 1, one daemon): 7.2 answers -ENODEV, 0, -ENODEV (B-17's fix: no
/// disk, no capacity to set); 6.12 does not know the command (-EOPNOTSUPP three times).
pub fn update_size(preset: Preset, id: &str) -> ModelProgram {
    let (d, c) = ("daemon", "control");
    program(
        sc(
            id,
            "UPDATE_SIZE without a disk, with one, and after STOP_DEV",
            DevConfig {
                copy: CopyMode::Copy,
                ..DevConfig::default()
            },
            vec![
                server(d, true, vec![fetch(0, true), wait(0), Op::Exit]),
                ActorSpec::Control {
                    prog: vec![
                        CtrlOp::UpdateSize,
                        CtrlOp::StartDev,
                        CtrlOp::UpdateSize,
                        CtrlOp::StopDev,
                        CtrlOp::UpdateSize,
                    ],
                },
            ],
        ),
        preset,
        &[c, d, c, c, c, d, d, c],
        id,
    )
}

/// A STOP_DEV that waits in `del_gendisk` goes on by itself (7.2, REISSUE, copy): the
/// recovered server owns the read; STOP_DEV sleeps in del_gendisk; the new server process
/// exits, its release work requeues the read (reissue), and STOP_DEV — without any further
/// user action — sets `force_abort`, so the requeue work ends the read with -EIO and STOP_DEV
/// returns 0, both within the exit's action. The oracle ran a control command only when user
/// space waited for it, and predicted the read still pending after the exit: five programs
/// of seed 20261212 diverged that way on 7.2.13 (e.g. s20261212-97, -124).
pub fn stop_goes_on_after_exit(id: &str) -> ModelProgram {
    let (d, n, b, c) = ("daemon", "new-daemon", "submitter0", "control");
    reissue_recovery(
        Preset::K72,
        id,
        "7.2: STOP_DEV asleep in del_gendisk ends the reissued read once the recovered server exits",
        1,
        vec![fetch(0, true), Op::Exit],
        vec![fetch(0, true), wait(0), Op::Exit],
        &[Bio::Read],
        &[d, c, d, c, n, c, b, n, c, n, b, c],
    )
}

/// A bio issued during a user recovery (REISSUE, copy) waits in the quiesced queue; the
/// unquiesce of END_USER_RECOVERY runs the hw queue, and the request reaches the new server's
/// FETCH within END_USER_RECOVERY's action — not at the submitter's next action, where the
/// oracle had it (seed 20261212 of the 6.12 run, s20261212-11: a WRITE on queue 1 of a
/// two-queue device, "completion of the FETCH: expected pending, got 0" at END).
pub fn bio_during_recovery(preset: Preset, id: &str) -> ModelProgram {
    let (d, n, b, c) = ("daemon", "new-daemon", "submitter0", "control");
    reissue_recovery(
        preset,
        id,
        "a WRITE issued while the device is QUIESCED is dispatched by END_USER_RECOVERY",
        1,
        vec![fetch(0, true), Op::Exit],
        vec![fetch(0, true), wait(0), commit(0, 4096, true), Op::Exit],
        &[Bio::Write],
        &[d, c, d, c, b, n, c, n, n, b, c, n, c],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conform::compile::compile;
    use crate::conform::oracle::{predict, Observed::*};
    use ublk_model::{Func, Model};
    use ublk_program::Act;

    #[test]
    fn the_spinning_ring_exit_does_not_starve_the_stop() {
        let mp = partial_recovery_stop_612("t");
        let m = Model::new(&mp.scenario, Preset::K612.features()).unwrap();
        let p = predict(&m, &mp.order).unwrap();
        assert!(p.violation.is_none());
        let obs: Vec<_> = p.steps.iter().map(|s| s.observed.clone()).collect();
        assert_eq!(
            obs[8..],
            [
                Done(None),     // the new server closes its ring: the exit spins
                Done(Some(0)),  // STOP_DEV (the unfair settle: pending)
                Done(Some(-5)), // the read ends (unfair: blocked)
                Done(None),
                Done(Some(0)), // DEL_DEV (unfair: blocked)
            ]
        );
        // the ring exit did spin (not a daemon's cmd) while STOP_DEV ran (once: STOP_DEV,
        // which goes on unasked, has the lower actor id)
        let spins = p.steps[9]
            .funcs
            .iter()
            .filter(|f| **f == Func::UblkUringCmdCancelFnNotDaemon612)
            .count();
        assert!(spins >= 1, "{:?}", p.steps[9].funcs);
        // and the requeue work ended the read STOP_DEV's kick released
        assert!(p.steps[9].funcs.contains(&Func::BlkMqRequeueWorkQueueRq));
    }

    #[test]
    fn the_new_server_is_a_second_process() {
        let mp = reissue_new_server(Preset::K72, 1, "t");
        let c = compile(&mp, Preset::K72.features()).unwrap();
        let procs: Vec<_> = c
            .program
            .threads
            .iter()
            .filter_map(|t| match t.kind {
                ublk_program::ThreadKind::Server { process, .. } => Some(process),
                _ => None,
            })
            .collect();
        assert_eq!(procs, [0, 1]);
        let acts: Vec<_> = c.program.steps.iter().map(|s| s.act.clone()).collect();
        assert!(acts.contains(&Act::StartUserRecovery { poll: true }));
        assert!(acts.contains(&Act::EndUserRecovery));
        assert_eq!(acts.last(), Some(&Act::DelDev));
    }

    #[test]
    fn a_waiting_stop_dev_goes_on_when_the_request_it_waits_for_is_aborted() {
        let mp = stop_goes_on_after_exit("t");
        let c = compile(&mp, Preset::K72.features()).unwrap();
        let steps = &c.program.steps;
        // STOP_DEV is pending at its own step; the new server's exit ends the read (-EIO)
        // and STOP_DEV (0) within its action
        assert_eq!(steps[8].act, Act::StopDev);
        assert_eq!(steps[8].expect, ublk_program::Expect::Pending);
        assert_eq!(steps[9].act, Act::Exit);
        for (of, r) in [(6, -5), (8, 0)] {
            let e = ublk_program::Effect {
                of,
                expect: ublk_program::Expect::Done(Some(r)),
            };
            assert!(steps[9].after.contains(&e), "{:?}", steps[9].after);
        }
    }

    #[test]
    fn a_bio_held_by_the_quiesced_queue_is_dispatched_by_end_user_recovery() {
        for preset in [Preset::K72, Preset::K612] {
            let mp = bio_during_recovery(preset, "t");
            let c = compile(&mp, preset.features()).unwrap();
            let steps = &c.program.steps;
            assert_eq!(steps[4].act, Act::Write);
            assert_eq!(steps[4].expect, ublk_program::Expect::Pending);
            assert_eq!(steps[6].act, Act::EndUserRecovery);
            // the new server's FETCH (step 5) receives the WRITE within END's action
            let e = ublk_program::Effect {
                of: 5,
                expect: ublk_program::Expect::Done(Some(0)),
            };
            assert!(
                steps[6].after.contains(&e),
                "{preset:?}: {:?}",
                steps[6].after
            );
        }
    }
}
