//! Submission, dispatch to the server, completion and abort of requests:
//! `ublk_queue_rq` (split QR1 | QR2), `ublk_dispatch_req`,
//! `__ublk_complete_rq`, `__ublk_abort_rq`, `__ublk_fail_req`.

use crate::config::CopyMode;
use crate::exec::*;
use crate::features::Sw;
use crate::invariants::Inv;
use crate::state::*;

impl Exec<'_> {
    /// QR1 — `ublk_queue_rq()` up to and including `blk_mq_start_request()`
    /// and the `canceling` test (`ublk_prep_req` + `__ublk_queue_rq_common`).
    /// Returns whether the request goes on to QR2.  Runs inside the dispatch
    /// section, which quiesce waits for.
    pub fn ublk_queue_rq_start(&mut self, r: RqId) -> R<bool> {
        let q = self.rq(r, "ublk_queue_rq")?.q as usize;
        let rec = self.m.dev.recovery;
        if self.s.queues[q].fail_io {
            self.ublk_queue_rq_fail(r, EREMOTEIO)?; // BLK_STS_TARGET
            return Ok(false);
        }
        if rec.queues_io() && self.s.queues[q].force_abort {
            self.ublk_queue_rq_fail(r, EIO)?;
            return Ok(false);
        }
        if !self.m.feat.has(Sw::FixB7) && self.s.queues[q].canceling {
            // B-7: from d796cea7b9f3 ("ublk: implement ->queue_rqs()", 6.15
            // merge window) until 18461f2a02be (6.15-rc2) `ublk_prep_req`
            // returned BLK_STS_IOERR while `ubq->canceling` was set, for
            // `ublk_queue_rq` too, before `blk_mq_start_request`: blk-mq ends
            // the request with an error even in recovery-queue mode, where
            // `__ublk_abort_rq` would requeue it.
            self.ublk_queue_rq_fail(r, EIO)?;
            return Ok(false);
        }
        self.start_request(r)?;
        if self.s.queues[q].canceling {
            self.ublk_abort_rq(r)?;
            return Ok(false);
        }
        self.s.dev.in_dispatch += 1;
        Ok(true)
    }

    /// QR2 — `ublk_queue_cmd()`: read `io->cmd` and queue the dispatch task
    /// work on the task that issued it.  S7: the cmd must still be pending.
    pub fn ublk_queue_cmd(&mut self, r: RqId) -> R<()> {
        self.s.dev.in_dispatch -= 1;
        self.queue_cmd_tw(r)
    }

    /// The body of `ublk_queue_cmd()` (6.12 NEED_GET_DATA calls it directly).
    /// 6.12 pushes the request on the queue's `io_cmds` llist and only the
    /// first pusher schedules task work on its tag's cmd, which drains the
    /// list; modelled as one task work per request on its own tag's cmd
    /// (the same task with one daemon per queue).
    pub(crate) fn queue_cmd_tw(&mut self, r: RqId) -> R<()> {
        let (q, tag) = {
            let rq = self.rq(r, "ublk_queue_cmd")?;
            let (q, tag, ended, started) = (rq.q, rq.tag, rq.ended, rq.started);
            let Some(tag) = tag else {
                return self.fail(
                    Inv::S2,
                    format!("ublk_queue_cmd: rq{r} lost its driver tag since ublk_queue_rq started it (ended {ended}, started {started})"),
                );
            };
            (q, tag)
        };
        let sl = self.slot_idx(q, tag);
        let io = &self.s.slots[sl];
        let c = match io.cell {
            Cell::Cmd(c) if io.has(flag::ACTIVE) => c,
            Cell::Req(x) => {
                return self.fail(
                    Inv::S7,
                    format!("ublk_queue_cmd reads io->cmd of q{q}t{tag} while the union holds request rq{x}"),
                )
            }
            _ => return self.fail(Inv::S7, format!("ublk_queue_cmd: q{q}t{tag} has no armed cmd (NULL io->cmd)")),
        };
        if self.s.cmds[c as usize].st != CmdSt::Pending {
            return self.fail(
                Inv::S7,
                format!("ublk_queue_cmd hands rq{r} to cmd c{c}, which was already completed"),
            );
        }
        self.s.cmds[c as usize].pdu_rq = Some(r);
        self.complete_in_task(c);
        Ok(())
    }

    /// `ublk_cmd_tw_cb` → `ublk_dispatch_req()`, in task work of the cmd's
    /// task (`fallback`: the task is exiting, io_uring runs it from a kworker).
    pub fn ublk_dispatch_req(&mut self, c: CmdId, fallback: bool) -> R<()> {
        let r = self.s.cmds[c as usize]
            .pdu_rq
            .expect("dispatch cmd has a request");
        let (q, tag, ring) = {
            let d = &self.m.cmds[c as usize];
            (d.q, d.tag, d.ring)
        };
        let sl = self.slot_idx(q, tag);
        let t = self.m.cmds[c as usize].task;
        let daemon = if self.m.feat.has(Sw::PerIoDaemon) {
            self.s.slots[sl].task
        } else {
            self.s.queues[q as usize].daemon // 6.12 __ublk_rq_task_work
        };
        if fallback || daemon != Some(t) {
            // the uring_cmd is left to cancel, the request to recovery or EIO
            return self.ublk_abort_rq(r);
        }
        let write = self.rq(r, "ublk_dispatch_req")?.write;
        let io_c = match self.s.slots[sl].cell {
            Cell::Cmd(x) => x,
            _ => {
                return self.fail(
                    Inv::S5,
                    format!("ublk_dispatch_req: q{q}t{tag} io->cmd does not hold a cmd"),
                )
            }
        };
        if self.m.dev.need_get_data && write && !self.s.slots[sl].has(flag::NEED_GET_DATA) {
            self.s.slots[sl].flags |= flag::NEED_GET_DATA;
            self.prep_compl_io_cmd(sl, r);
            return self.cmd_done(io_c, UBLK_IO_RES_NEED_GET_DATA, "ublk_dispatch_req");
        }
        if !self.m.feat.has(Sw::SyncGetData) && self.s.slots[sl].has(flag::NEED_GET_DATA) {
            // 6.12 second pass after the NEED_GET_DATA cmd: clear, copy
            self.s.slots[sl].flags &= !flag::NEED_GET_DATA;
            let fails = self.m.dev.get_data_fails && !self.s.dev.get_data_fail_used;
            if fails {
                // nothing mapped: requeue, delayed kick; the cmd stays ACTIVE
                self.s.dev.get_data_fail_used = true;
                return self.requeue_request(r, true);
            }
        }
        let mut auto_ok = false;
        if self.m.dev.copy == CopyMode::AutoBufReg {
            // ublk_auto_buf_register(): index = tag
            if self.register_bvec(ring, tag, r, sl) == 0 {
                self.ghost_out(sl, r, 1)?;
                let io = &mut self.s.slots[sl];
                io.flags |= flag::AUTO_BUF_REG;
                io.buf_ctx = Some(ring);
                auto_ok = true;
            } else if !self.m.dev.auto_fallback {
                return self.end_request(r, EIO, "ublk_auto_buf_reg");
            }
            // else AUTO_BUF_REG_FALLBACK: ublk_auto_buf_reg_fallback() flags the iod
            // NEED_REG_BUF, and ublk_auto_buf_io_setup() hands the request over as it is —
            // no AUTO_BUF_REG flag, so COMMIT unregisters nothing
        }
        if self.m.dev.copy.needs_ref() {
            self.init_req_ref(sl, r, auto_ok)?;
        }
        self.prep_compl_io_cmd(sl, r);
        self.cmd_done(io_c, 0, "ublk_dispatch_req")
    }

    /// `__ublk_prep_compl_io_cmd()`: slot OWNED, `io->req = rq`.
    fn prep_compl_io_cmd(&mut self, sl: usize, r: RqId) {
        let io = &mut self.s.slots[sl];
        io.flags = (io.flags | flag::OWNED_BY_SRV) & !flag::ACTIVE;
        io.cell = Cell::Req(r);
        io.g_round = Some(r);
        io.g_aborted = false;
        self.s.reqs[r as usize].g_hold = true;
    }

    /// Does `blk_should_fake_timeout()` fire now?  (one-shot injection)
    pub fn should_fake_timeout(&mut self) -> bool {
        if self.m.dev.fake_timeout && !self.s.dev.fake_timeout_used {
            self.s.dev.fake_timeout_used = true;
            return true;
        }
        false
    }

    /// `__ublk_complete_rq()`: end the request with `io->res`.
    pub fn ublk_complete_rq(&mut self, sl: usize, r: RqId) -> R<()> {
        let res = self.s.slots[sl].res;
        let write = self.rq(r, "__ublk_complete_rq")?.write;
        let res = if res == 0 && !write { EIO } else { res };
        if res < 0 {
            return self.end_request(r, res, "__ublk_complete_rq");
        }
        let bytes = self.rq(r, "__ublk_complete_rq")?.bytes;
        if (res as u32) < bytes as u32 {
            // blk_update_request() completed only part of it: the request advances past
            // what was done and the remainder is requeued (with a kick) and dispatched to
            // the slot again — measured on 7.2 with a 0-byte WRITE commit
            self.rq(r, "blk_update_request")?.bytes = bytes - res as u16;
            return self.requeue_request(r, true);
        }
        if self.m.feat.has(Sw::FixB11) && self.should_fake_timeout() {
            return Ok(()); // pretend the completion was lost: the timeout handler owns it
        }
        self.end_request(r, 0, "__ublk_complete_rq")
    }

    /// `ublk_queue_rq()` returns an error status: blk-mq ends the request with it.
    /// S10 is checked here: with USER_RECOVERY (with or without REISSUE), while the device
    /// is not being stopped (`force_abort`), a request the driver cannot hand to a server
    /// must wait on the requeue list for the next server, not fail.
    fn ublk_queue_rq_fail(&mut self, r: RqId, res: i32) -> R<()> {
        let q = self.rq(r, "ublk_queue_rq")?.q as usize;
        if self.m.dev.recovery.queues_io() && !self.s.queues[q].force_abort {
            return self.fail(
                Inv::S10,
                format!("ublk_queue_rq fails rq{r} with {res} in recovery-queue mode while the device is not stopping"),
            );
        }
        self.end_request(r, res, "ublk_queue_rq")
    }

    /// `__ublk_abort_rq()`: requeue in recovery-queue mode, else end with EIO.
    pub fn ublk_abort_rq(&mut self, r: RqId) -> R<()> {
        if self.m.dev.recovery.queues_io() {
            self.requeue_request(r, false)
        } else {
            self.end_request(r, EIO, "__ublk_abort_rq")
        }
    }

    /// `__ublk_fail_req()` from `ublk_abort_queue()` on a server-owned slot.
    pub fn ublk_fail_req(&mut self, sl: usize, r: RqId) -> R<()> {
        let reissue = self.m.dev.recovery == crate::config::Recovery::Reissue;
        self.s.slots[sl].g_aborted = true;
        if !self.m.feat.has(Sw::P11) && self.m.dev.copy.needs_ref() {
            // the one-reference scheme (before p11; p02 only moved the count
            // from the request pdu to ublk_io): drop the server's reference;
            // whoever drops the last one fails (or requeues) it.
            if reissue && !self.m.feat.has(Sw::FixB6) {
                return self.requeue_request(r, false); // B-6: ref still held
            }
            self.s.slots[sl].res = EIO;
            self.rq(r, "__ublk_fail_req")?.g_hold = false;
            if self.sub_ref(sl, r, 1, "__ublk_fail_req")? {
                return self.fail_rq_fn(r, reissue);
            }
            return Ok(());
        }
        // INIT-based refs (p11 on): settled and reset by the release work
        // (B-8 fix), or simply ignored (before it).
        self.rq(r, "__ublk_fail_req")?.g_hold = false;
        self.fail_rq_fn(r, reissue)
    }

    fn fail_rq_fn(&mut self, r: RqId, reissue: bool) -> R<()> {
        if reissue {
            self.requeue_request(r, false)
        } else {
            self.end_request(r, EIO, "__ublk_fail_req")
        }
    }
}
