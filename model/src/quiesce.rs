//! `ublk_ctrl_quiesce_dev()` (UBLK_U_CMD_QUIESCE_DEV, 6.16; the same code in 6.17 and
//! 7.2.13, checked against both): the first half of a live
//! update. A LIVE device gets `canceling` on every queue (new requests are held, as in
//! a recovery), then `ublk_cancel_dev()` completes every idle io's FETCH with
//! UBLK_IO_RES_ABORT, which tells the server to stop; its exit runs the release work,
//! the device becomes QUIESCED and a new server recovers it.
//!
//! ```c
//! mutex_lock(&ub->mutex);
//! disk = ublk_get_disk(ub);  if (!disk) → -ENODEV;  DEAD → -ENODEV;  !LIVE → 0
//! mutex_lock(&ub->cancel_mutex);
//! blk_mq_quiesce_queue(disk->queue); ublk_set_canceling(ub, true);
//! blk_mq_unquiesce_queue(disk->queue);
//! mutex_unlock(&ub->cancel_mutex);
//! ret = ublk_wait_for_idle_io(ub, timeout_ms);
//! ublk_put_disk(disk); mutex_unlock(&ub->mutex);
//! if (!ret) ublk_cancel_dev(ub);
//! ```
//!
//! `ublk_wait_for_idle_io()` is meant to wait until every queue has an idle io (whose
//! FETCH the cancel walk can complete, so every queue's server thread hears of the
//! quiesce). It counts, with `blk_mq_tagset_busy_iter()`, the requests for which
//! `ublk_count_busy_req()` sees `!blk_mq_request_started(rq)`; but that iterator
//! passes `BT_TAG_ITER_STARTED` and calls back for *started* requests only
//! (`bt_tags_iter`, block/blk-mq-tag.c), so the count is zero — up to a request that
//! ends between the iterator's test and the callback, which does not change the answer
//! — every queue "has an idle io", and the wait returns 0 at once. The model does what
//! the code does (no wait) and checks what the wait is for (S11: when it returns, each
//! queue has an io whose request is not started); `fix-o12` is the wait as meant.

use crate::config::CtrlOp;
use crate::exec::*;
use crate::features::Sw;
use crate::func::Func;
use crate::invariants::Inv;
use crate::state::*;

impl Exec<'_> {
    /// One step of QUIESCE_DEV; `Ok(Some((f, Some(res))))` when it returns.
    pub(crate) fn ublk_ctrl_quiesce_dev(&mut self) -> Step {
        let finish = |x: &mut Self, f: Func, res: i32| {
            let me = x.me();
            (me.next_op, me.at, me.res) = (me.next_op + 1, Resume::Idle, res);
            Ok(Some((f, Some(res))))
        };
        match self.me().at {
            Resume::Idle => {
                if !self.m.dev.quiesce {
                    return finish(self, Func::UblkCtrlQuiesceDev, EOPNOTSUPP);
                }
                if self.s.dev.mutex.is_some() {
                    return Ok(None);
                }
                if !self.s.dev.has_disk || self.s.dev.state == DevState::Dead {
                    return finish(self, Func::UblkCtrlQuiesceDevMutex, ENODEV);
                }
                if self.s.dev.state != DevState::Live {
                    // "already in expected state": 0, and the cancel walk still runs
                    self.me().at = cancel_walk();
                    return Ok(Some((Func::UblkCtrlQuiesceDevMutex, None)));
                }
                self.s.dev.mutex = Some(self.actor);
                self.me().at = Resume::QuiesceDev(QuiesceAt::CancelMutex);
                Ok(Some((Func::UblkCtrlQuiesceDevMutex, None)))
            }
            Resume::QuiesceDev(QuiesceAt::CancelMutex) => {
                if self.s.dev.cancel_mutex.is_some() {
                    return Ok(None);
                }
                self.s.dev.cancel_mutex = Some(self.actor);
                self.s.dev.quiesced += 1;
                self.me().at = Resume::QuiesceDev(QuiesceAt::Quiesce);
                Ok(Some((Func::UblkCtrlQuiesceDevQuiesce, None)))
            }
            Resume::QuiesceDev(QuiesceAt::Quiesce) => {
                if self.s.dev.in_dispatch > 0 {
                    return Ok(None);
                }
                self.set_canceling(true);
                self.s.dev.quiesced -= 1;
                self.s.dev.cancel_mutex = None;
                self.me().at = Resume::QuiesceDev(QuiesceAt::IdleWait);
                Ok(Some((Func::UblkCtrlQuiesceDevCanceling, None)))
            }
            Resume::QuiesceDev(QuiesceAt::IdleWait) => {
                let busy = self.queue_without_idle_io();
                if self.m.feat.has(Sw::FixO12) {
                    // the proposal: wait (still under ub->mutex) for an idle io per queue
                    if busy.is_some() {
                        return Ok(None);
                    }
                } else if let Some(q) = busy {
                    // the kernel returns 0 here at once (module doc)
                    return self.fail(
                        Inv::S11,
                        format!(
                            "ublk_wait_for_idle_io returns 0 while every io of queue {q} has a \
                             started request: ublk_cancel_dev cannot tell queue {q}'s server"
                        ),
                    );
                }
                self.s.dev.mutex = None;
                self.me().at = cancel_walk();
                Ok(Some((Func::UblkCtrlQuiesceDevIdle, None)))
            }
            Resume::StopDev(StopDevAt::CancelDev { slot, at }) => {
                if slot as usize >= self.s.slots.len() {
                    return finish(self, Func::UblkCtrlQuiesceDev, 0);
                }
                self.cancel_dev_step(slot, at)
            }
            at => unreachable!("no resume point {at:?} for {:?}", CtrlOp::QuiesceDev),
        }
    }
}

impl Exec<'_> {
    /// The first hw queue whose every io has a started request (what
    /// `ubq_has_idle_io()` is meant to find false), if any.
    fn queue_without_idle_io(&self) -> Option<u8> {
        (0..self.m.dev.nr_queues).find(|&q| {
            let started = self
                .s
                .reqs
                .iter()
                .filter(|r| r.allocated && r.started && r.q == q)
                .count();
            started >= self.m.dev.depth as usize
        })
    }
}

/// `ublk_cancel_dev()` from slot 0.
fn cancel_walk() -> Resume {
    Resume::StopDev(StopDevAt::CancelDev {
        slot: 0,
        at: CancelAt::CheckActive,
    })
}
