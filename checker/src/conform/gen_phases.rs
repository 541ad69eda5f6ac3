//! The generator's phases after the prelude: the random middle of a program, its clean end,
//! and (a share of programs on a recovery device) a user recovery by a new server process.

use crate::conform::generate::{Gen, GenOp, Ids};
use rand::Rng;
use ublk_model::{Bio, CopyMode, CtrlOp, Op};

impl Gen<'_> {
    /// Random actions until the program has `until` of them (at most 200 draws): server
    /// operations, bios, waits, START_DEV, an elevator switch.
    pub(super) fn middle(&mut self, ids: &Ids, until: usize) {
        let mut tries = 0;
        while self.order.len() < until && tries < 200 {
            tries += 1;
            let k = self.rng.random_range(0..100u32);
            match k {
                0..=49 => {
                    let q = match self.sc.dev.nr_queues {
                        2 => self.rng.random_range(0..2u8),
                        _ => 0,
                    };
                    let op = self.random_server_op(false, q);
                    self.allowed(&op)
                        && self.try_push(ids.daemons[q as usize], Some(GenOp::Server(op)))
                }
                50..=64 => match ids.helper {
                    // nothing after the helper closed its ring or exited (no ring to submit on)
                    Some((h, hq)) if !self.ended(h) => {
                        let op = self.random_server_op(true, hq);
                        self.allowed(&op) && self.try_push(h, Some(GenOp::Server(op)))
                    }
                    _ => false,
                },
                // blk-mq gives a request any free driver tag: on depth 2 `try_push` keeps a bio
                // only if the executor can follow whichever tag the kernel picks (`followable`)
                // (and none after STOP_DEV: the executor opens /dev/ublkbN per bio, and the node
                // is gone then — ENOENT where the model's submit_bio sees a dying disk, EIO)
                65..=79 if !self.stop_issued() => {
                    let b = if self.rng.random_bool(0.6) {
                        Bio::Read
                    } else {
                        Bio::Write
                    };
                    let (sub, q) = self.submitter(ids);
                    let ok = self.try_push(sub, Some(GenOp::Bio(b)));
                    if ok && self.sc.dev.copy == CopyMode::UserCopy && self.rng.random_bool(0.7) {
                        self.user_copy_burst(ids, q);
                    }
                    if let Some(e) = ids.elevator.filter(|_| ok) {
                        // often a switch while the request is allocated: the freeze waits for it
                        if !self.order.contains(&self.actor_id(e)) && self.rng.random_bool(0.4) {
                            self.try_push(e, Some(GenOp::Switch));
                        }
                    }
                    if ok && self.sc.dev.nr_queues == 2 && self.rng.random_bool(0.6) {
                        // and often a bio on the other queue too, both in flight at once
                        let other = ids.submitters[1 - q as usize];
                        if self.rng.random_bool(0.5) && self.try_push(other.0, Some(GenOp::Bio(b)))
                        {
                            self.serve(ids, other.1);
                        }
                        self.serve(ids, q);
                    }
                    ok
                }
                80..=91 => {
                    // wait for a bio
                    let (sub, _) = self.submitter(ids);
                    self.try_push(sub, None)
                }
                92..=95 => self.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StartDev))),
                // one elevator switch (mq-deadline → kyber), after START_DEV: it freezes the
                // queue and waits for the allocated requests
                96..=99 => match ids.elevator {
                    Some(e) if !self.order.contains(&self.actor_id(e)) => {
                        self.try_push(e, Some(GenOp::Switch))
                    }
                    _ => false,
                },
                _ => false,
            };
        }
    }

    /// A clean end: maybe STOP_DEV first; the server process exits; every bio is collected;
    /// STOP_DEV.
    pub(super) fn finish(&mut self, ids: &Ids) {
        // a clean end: STOP_DEV, the server exits, every bio is collected
        if self.rng.random_bool(0.5) {
            self.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StopDev)));
            self.try_push(ids.control, None);
        }
        // exit_group: every server thread of the process
        self.try_push(ids.daemons[0], Some(GenOp::Server(Op::Exit)));
        for &(sub, _) in &ids.submitters {
            self.try_push(sub, None);
        }
        self.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StopDev)));
        self.try_push(ids.control, None);
    }

    /// A user recovery (a device with a recovery mode): maybe QUIESCE_DEV first (a live
    /// update); the server process exits; START_USER_RECOVERY (a tool that polls until the old
    /// server is gone); maybe a bio while the device waits; the new server process FETCHes
    /// every tag of its queue (tags in random order); END_USER_RECOVERY; the new server takes
    /// what was held, and a few more random actions. Returns the ids the rest of the program
    /// runs with: the new server's, or the old ones when the recovery could not start (then
    /// the clean end stops the device as usual).
    pub(super) fn recover(&mut self, ids: &Ids) -> Ids {
        if self.sc.dev.quiesce && self.rng.random_bool(0.6) {
            // QUIESCE_DEV, and its wait when it does not return at once
            if self.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::QuiesceDev))) {
                self.try_push(ids.control, None);
            }
        }
        if !self.try_push(ids.daemons[0], Some(GenOp::Server(Op::Exit)))
            || !self.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StartUserRecovery)))
        {
            return ids.clone();
        }
        let after = Ids {
            daemons: ids.new_daemons.clone(),
            helper: None,
            ..ids.clone()
        };
        if self.rng.random_bool(0.4) {
            // held while the device is QUIESCED (requeue, reissue), failed on FAIL_IO
            let b = if self.rng.random_bool(0.6) {
                Bio::Read
            } else {
                Bio::Write
            };
            let (sub, _) = self.submitter(ids);
            self.try_push(sub, Some(GenOp::Bio(b)));
        }
        let (queues, depth) = (self.sc.dev.nr_queues, self.sc.dev.depth);
        let buf = self.sc.dev.copy == CopyMode::Copy;
        for q in 0..queues {
            let mut tags: Vec<u8> = (0..depth).collect();
            if depth == 2 && self.rng.random_bool(0.5) {
                tags.reverse();
            }
            for tag in tags {
                let fetch = Op::Fetch { q, tag, buf };
                self.try_push(after.daemons[q as usize], Some(GenOp::Server(fetch)));
            }
        }
        if self.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::EndUserRecovery))) {
            for q in 0..queues {
                self.serve(&after, q);
            }
            let more = self.rng.random_range(2..=6usize);
            self.middle(&after, self.order.len() + more);
        }
        after
    }
}
