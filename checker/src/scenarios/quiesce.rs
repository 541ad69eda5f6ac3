//! QUIESCE_DEV scenarios (`ublk_ctrl_quiesce_dev`, 6.16+, `model/src/quiesce.rs`): a live
//! update — QUIESCE_DEV sets `canceling` and completes the idle ios' FETCHes with
//! UBLK_IO_RES_ABORT, the server stops on that answer, its exit leaves the device
//! QUIESCED, a new server recovers it. 6.12 answers -EOPNOTSUPP.

use crate::scenarios::dsl::sc;
use crate::scenarios::sweep::{serving_loop, Data};
use ublk_model::config::*;
use CtrlOp::{EndUserRecovery, QuiesceDev, StartDev, StartUserRecovery, StopDev};

fn quiesce_dev(depth: u8) -> DevConfig {
    DevConfig {
        depth,
        copy: CopyMode::Copy,
        recovery: Recovery::Requeue,
        quiesce: true,
        ..DevConfig::default()
    }
}

/// Per-io daemon thread of `tag`: the sweep's serving loop (an ABORT ends it with the
/// server process: `Exit` is exit_group, as a server that stops for a live update does).
fn daemon(name: &str, tag: u8, recovery: bool) -> ActorSpec {
    let prog = serving_loop(Data::Copy, 0, &[tag]);
    let (name, fixed_file) = (name.into(), true);
    if recovery {
        ActorSpec::RecoveryServer {
            name,
            fixed_file,
            prog,
        }
    } else {
        ActorSpec::Server {
            name,
            fixed_file,
            prog,
        }
    }
}

/// Every QUIESCE_DEV scenario of the default check.
pub fn all() -> Vec<Scenario> {
    vec![
        sc(
            "quiesce-live-update",
            "A live update (UBLK_F_QUIESCE, USER_RECOVERY): depth 2, a per-io daemon per tag and \
             one read. QUIESCE_DEV sets canceling on the queue and ublk_cancel_dev completes the \
             idle tag's FETCH with ABORT; its daemon ends the server process, the release work \
             leaves the device QUIESCED (requeueing the read if the server held it), and a new \
             server (START/END_USER_RECOVERY) serves it; then STOP_DEV. One tag is always idle, \
             so the server is always told.",
            quiesce_dev(2),
            vec![
                daemon("daemon0", 0, false),
                daemon("daemon1", 1, false),
                daemon("new-daemon0", 0, true),
                daemon("new-daemon1", 1, true),
                ActorSpec::Submitter {
                    q: 0,
                    bios: vec![Bio::Read],
                },
                ActorSpec::Control {
                    prog: vec![
                        StartDev,
                        QuiesceDev,
                        StartUserRecovery,
                        EndUserRecovery,
                        StopDev,
                    ],
                },
            ],
        ),
        sc(
            "quiesce-busy-queue",
            "QUIESCE_DEV while the queue's only io holds a request (depth 1, one read): \
             ublk_wait_for_idle_io is meant to wait until the queue has an idle io, so that \
             ublk_cancel_dev can tell its server (S11); in 7.2 it counts `!started` among the \
             started requests blk_mq_tagset_busy_iter visits, finds none, and returns 0 at once \
             (O-12). `--with fix-o12` waits as meant: the daemon commits, re-FETCHes, that FETCH \
             is completed with ABORT and the server ends.",
            quiesce_dev(1),
            vec![
                daemon("daemon", 0, false),
                ActorSpec::Submitter {
                    q: 0,
                    bios: vec![Bio::Read],
                },
                ActorSpec::Control {
                    prog: vec![StartDev, QuiesceDev, StopDev],
                },
            ],
        ),
    ]
}
