//! UPDATE_SIZE scenarios (`ublk_ctrl_set_size`, 6.14+, `model/src/set_size.rs`): a
//! management tool resizes the device whatever its state. The disk exists only between
//! START_DEV and STOP_DEV; before B-17's fix (7.0) UPDATE_SIZE used `ub->ub_disk` anyway.
//! 6.12 answers -EOPNOTSUPP.

use crate::scenarios::dsl::sc;
use crate::scenarios::sweep::{serving_loop, Data};
use ublk_model::config::*;
use CtrlOp::{StartDev, StopDev, UpdateSize};

/// Every UPDATE_SIZE scenario of the default check.
pub fn all() -> Vec<Scenario> {
    vec![sc(
        "update-size-without-disk",
        "UPDATE_SIZE before START_DEV, while LIVE and after STOP_DEV (depth 1, copy, one \
         per-io daemon, one read). 7.2 answers -ENODEV, 0, -ENODEV (B-17's fix); the 6.16/6.17 \
         code (PRE, POST) passes the NULL ub->ub_disk of an unstarted or stopped device to \
         set_capacity_and_notify (S12, B-17); 6.12 has no UPDATE_SIZE (-EOPNOTSUPP).",
        DevConfig {
            depth: 1,
            copy: CopyMode::Copy,
            ..DevConfig::default()
        },
        vec![
            ActorSpec::Server {
                name: "daemon".into(),
                fixed_file: true,
                prog: serving_loop(Data::Copy, 0, &[0]),
            },
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read],
            },
            ActorSpec::Control {
                prog: vec![UpdateSize, StartDev, UpdateSize, StopDev, UpdateSize],
            },
        ],
    )]
}
