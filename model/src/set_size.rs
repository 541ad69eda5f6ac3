//! `ublk_ctrl_set_size()` (UBLK_U_CMD_UPDATE_SIZE, 6.14, 98b995660bff): a server
//! that grew or shrank its backing store tells the block layer the new capacity.
//!
//! ```c
//! mutex_lock(&ub->mutex);
//! if (!ub->ub_disk) { ret = -ENODEV; goto out; }   /* B-17's fix, 7.0 */
//! p->dev_sectors = new_size;
//! set_capacity_and_notify(ub->ub_disk, p->dev_sectors);
//! out: mutex_unlock(&ub->mutex);
//! ```
//!
//! `ub->ub_disk` is set by START_DEV and cleared by STOP_DEV's `ublk_detach_disk()`,
//! both under `ub->mutex`, so the whole body is one step: nothing it reads changes
//! while it holds the mutex. Before 25966fc09769 (B-17, CVE-2026-43364; 6.14–6.19,
//! so the 6.16/6.17 code of PRE and POST) there was no test and an UPDATE_SIZE
//! before START_DEV or after STOP_DEV dereferenced NULL in `set_capacity_and_notify`
//! (S12). 6.12 has no such command (-EOPNOTSUPP, `k612.rs`). The size itself is not
//! state: no request in the model depends on the capacity.

use crate::exec::*;
use crate::features::Sw;
use crate::func::Func;
use crate::invariants::Inv;
use crate::state::*;

impl Exec<'_> {
    /// UPDATE_SIZE in one step once `ub->mutex` is free; `Ok(Some((f, Some(res))))`.
    pub(crate) fn ublk_ctrl_set_size(&mut self) -> Step {
        if self.s.dev.mutex.is_some() {
            return Ok(None);
        }
        let res = if self.s.dev.has_disk {
            0
        } else if self.m.feat.has(Sw::FixB17) {
            ENODEV
        } else {
            return self.fail(
                Inv::S12,
                format!(
                    "ublk_ctrl_set_size: set_capacity_and_notify(ub->ub_disk = NULL) with the \
                     device {:?} and no disk (before START_DEV or after STOP_DEV)",
                    self.s.dev.state
                ),
            );
        };
        let me = self.me();
        (me.next_op, me.at, me.res) = (me.next_op + 1, Resume::Idle, res);
        Ok(Some((Func::UblkCtrlSetSize, Some(res))))
    }
}
