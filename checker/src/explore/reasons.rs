//! The signature patterns and reasons the findings catalogue's declarations share
//! (`catalogue.rs` holds the rows). A reason says why a real kernel version shows the
//! finding: the fix it lacks, or our own analysis and where it was confirmed.

use crate::explore::findings::*;

/// A dispatch into a cmd the ring exit already completed, outside recovery (B-24).
/// (not after a STOP_DEV before any disk: that route to a completed cmd is O-14's)
pub(crate) const B24_SIG: Sig = sig("ublk_queue_cmd", "which was already completed")
    .not_recovering()
    .stopped_before_start(false);
/// The same dispatch during a user recovery (O-8).
pub(crate) const O8_SIG: Sig = sig("ublk_queue_cmd", "which was already completed").recovering();
/// A request that never ends because nothing will run the release work (O-1).
pub(crate) const O1_SIG: Sig = sig("dead end", "a request is never ended").fake_timeout(false);
/// A ring exit that spins on a slot whose started request a buffer holds (O-7).
pub(crate) const O7_SIG: Sig = sig(
    "cycle: ublk_cancel_cmd: ACTIVE / started-request check",
    "a request is never ended",
)
.fake_timeout(false);
/// A ring exit that spins on a recovery server's FETCH whose slot kept a stale CANCELED (O-13).
pub(crate) const O13_SIG: Sig = sig(
    "cycle: ublk_cancel_cmd: ACTIVE / started-request check",
    "a cmd of an exiting ring is never completed",
)
.recovering();
/// Any hang once the fault injection dropped a completion (by design).
pub(crate) const FAKE_SIG: Sig = sig("", "").fake_timeout(true);

pub(crate) const B5_612_READY: &str = "the other face of 6.12's unserialized FETCH (B-5): the second FETCH of one slot \
                            counts the slot ready a second time, so the queue looks ready with a slot \
                            unfetched (fixed in 6.15 by b69b8edfb27d).";

pub(crate) const B5_612_CANCEL: &str = "after 6.12's unserialized FETCH (B-5) a thread that is not the queue's \
                             ubq_daemon keeps a FETCH; when its ring exits, ublk_uring_cmd_cancel_fn \
                             WARNs (task != ubq_daemon) and returns without completing it, so the ring \
                             exit never finishes (fixed in 6.15 by b69b8edfb27d).";

pub(crate) const B24_AFTER: &str =
    "the rest of B-24's story on other schedules: after START_DEV hands a request to \
                         the cmd the ring exit already completed, the cancel walk or the dispatch \
                         completes that cmd again (fixed by 1133b93fc7f6).";

pub(crate) const B24_RECOVERY: &str = "B-24 with user recovery (found by the configuration sweep): a ring exit before \
                            START_DEV cancels the FETCH without setting canceling; after the server's \
                            death the release work resets the slot for recovery (io->cmd NULL) and the \
                            request it requeued is dispatched through the empty slot (fixed by \
                            1133b93fc7f6; gone with fix-b24).";

pub(crate) const B24_RECOVERY_TOOL: &str = "B-24 seen during a user recovery (found by the configuration sweep's \
                                 recovery tool that ignores START_USER_RECOVERY's -EBUSY): the server \
                                 dies before START_DEV, the ring exit cancels the FETCH without setting \
                                 canceling, START_DEV succeeds, and once a new server has opened the \
                                 device the request is handed to the canceled cmd (fixed by \
                                 1133b93fc7f6; gone with fix-b24).";

pub(crate) const B11_612: &str =
    "6.12's ublk_commit_completion skips ublk_put_req_ref when blk_should_fake_timeout() \
                       fires, so a USER_COPY request keeps the server's reference in its pdu kref \
                       (B-11's shape before 6.17; found by the configuration sweep).";

pub(crate) const B14_612: &str = "6.12.118's server-exit handling before 82a8a30c581b (B-14), found by the configuration \
                       sweep: a daemon closes its ring while a request is being dispatched to its \
                       FETCH; the cancel fn's ublk_abort_requests sets canceling (the slot is still \
                       ACTIVE, nothing aborted), the task work then hands the request to the closed \
                       ring's cmd, the server exits; the timeout handler's ublk_abort_requests returns \
                       early because canceling is set, and the stop work's del_gendisk waits for the \
                       request forever. Own analysis, not yet tried on a real 6.12 kernel.";

pub(crate) const O6_AFTER: &str = "the rest of O-6's story on other schedules: with the exited thread's slot \
                        dispatched through a NULL io->cmd, its task work and the STOP cancel walk find \
                        no cmd in the slot (own analysis, confirmed on 7.2.13).";

pub(crate) const O8_AFTER: &str = "the rest of O-8's story on other schedules: the new server's FETCH completed by \
                        the still running cancel walk is completed again by the dispatch or the next \
                        cancel (own analysis of 6.12.118).";

pub(crate) const B24: &str = "ring exit before the first START_DEV cancels the FETCH without setting canceling (POST's \
                   ublk_start_cancel returns early without a disk); START_DEV then dispatches into the \
                   canceled slot. Fixed by 1133b93fc7f6 (7.x), spec §7 B-24.";

pub(crate) const O6: &str = "own analysis, not reported upstream, confirmed on Debian 7.2.13 (scripts/vm/run.sh o6 \
                  --mode close: NULL pointer dereference in ublk_queue_rq): a per-io daemon thread \
                  closes its ring and exits after its FETCH and \
                  before the device is ready; the FETCH that then makes the device ready clears \
                  canceling (K72 ublk_mark_io_ready) or CANCELED (POST ublk_reset_io_flags) although \
                  the exited thread's cmd was canceled, so START_DEV succeeds and ublk_queue_cmd \
                  dispatches through a NULL (K72) / completed (POST) io->cmd.";

pub(crate) const O7: &str = "own analysis, not reported upstream: the server dies between COMMIT_AND_FETCH and \
                  UNREGISTER of a buffer registered in its own ring. ublk_cancel_cmd skips the slot \
                  because its request is started; the request waits for the buffer's last reference, \
                  which io_uring drops only in io_ring_ctx_free, after the cancel loop: ring exit and \
                  the request hang. Confirmed on Debian 7.2.13 (STOP_DEV and DEL_DEV never return).";

pub(crate) const O1: &str =
    "another process holds /dev/ublkcN: the release work (the only thing that aborts a dead \
                  server's requests since 82a8a30c581b) never runs, so the request never ends and \
                  STOP_DEV blocks in del_gendisk (spec §7.1 O-1, open in 7.2).";

pub(crate) const FAKE: &str = "fail_io_timeout fault injection drops the request's completion by design; a privileged \
                    device's ublk_timeout only re-arms the timer, and the exiting ring's cancel skips the \
                    slot of a started request, so the request (and the server's ring exit) never finish.";

pub(crate) const PRE_UNREG: &str =
    "before p09 an UNREGISTER after COMMIT is refused with -EBUSY, so the buffer is \
                         released only at ring teardown (the documented pre-6.17 rule: unregister \
                         before commit); STOP_DEV waits for the request meanwhile.";

pub(crate) const O5: &str = "own analysis (spec §5.3, O-5): __ublk_check_and_get_req loads tags->rqs[tag] before \
                  refcount_inc_not_zero(&io->ref); if meanwhile that request completes, an elevator \
                  switch frees it and a new request is dispatched on the tag, the increment succeeds \
                  and the started/tag check reads freed memory. Needs a full freeze and elevator \
                  switch inside a few instructions.";

pub(crate) const O5_PUT: &str = "own analysis, found by the simulator in session 5 (K72 user copy, seed 18) once a \
                      request may take any free scheduler request: the same window as O-5 without the \
                      elevator switch. An off-daemon lookup loads tags->rqs[tag] (request A), A ends and \
                      request B is dispatched on the tag; refcount_inc_not_zero(&io->ref) succeeds on B's \
                      round, the started/tag check fails on A, and the failing path's \
                      ublk_put_req_ref(io, A) drops what may be B's last reference and completes A — \
                      already ended, or by now a new request between ublk_queue_rq's two halves (it \
                      loses its driver tag, or its dispatch then hands an ended request to the slot) — while \
                      B is never completed. Not yet tried on a real kernel.";

pub(crate) const O8: &str = "own analysis of 6.12.118, not reported upstream: ublk_quiesce_work_fn drops ub->mutex \
                  after QUIESCED and only then walks ublk_cancel_dev; START_USER_RECOVERY (which needs \
                  QUIESCED and takes only ub->mutex, no flush of quiesce_work) reinitialises the queue, \
                  the new server FETCHes, and the still running walk completes the new FETCH with \
                  UBLK_IO_RES_ABORT; the next request is handed to that completed cmd.";

pub(crate) const B5_612: &str = "6.12 __ublk_ch_uring_cmd checks ACTIVE and fills the slot without a lock (only \
                      ublk_mark_io_ready takes ub->mutex), so two threads FETCHing one slot before the \
                      queue is ready both succeed and one cmd is lost (spec §7 B-5, fixed in 6.15 by \
                      b69b8edfb27d, not in 6.12.118).";

pub(crate) const B24_612: &str = "6.12 ublk_abort_requests returns before setting canceling when there is no disk, so a \
                       ring exit after the queue is ready but before START_DEV cancels the FETCH and \
                       START_DEV still succeeds; ublk_queue_rq hands the request to the completed cmd \
                       (the 6.12 form of B-24, 1133b93fc7f6 not in 6.12.118).";

pub(crate) const B1_612: &str = "6.12 keeps the user-copy kref in the request pdu (ublk_rq_data): \
                      ublk_check_and_get_req looks the request up by tag and kref_get_unless_zero \
                      touches it after an elevator switch freed it (B-1, fixed in 6.17 by f053751a413b).";

pub(crate) const B9: &str = "B-8's fix settles and resets the references of zero-copy slots only: the release work \
                  aborts a USER_COPY slot's request and leaves ref = INIT (WARN in ublk_queue_reinit); \
                  fixed in 6.19 by daa24603d9f0 (CVE-2025-71070).";

pub(crate) const B1_PRE: &str = "the refcount lives in the request pdu: a user copy that looked the request up by tag \
                 increments it after an elevator switch freed the request (fixed by series patch 02).";

pub(crate) const B1_PRE_SMALL: &str = "as user-copy-vs-elevator: the refcount lives in the request pdu, and the user copy \
                 increments it after an elevator switch freed the request (fixed by series patch 02).";

pub(crate) const B11: &str = "a faked timeout skips dropping the server's reference at COMMIT, so buffer releases can \
                 never settle the count (fixed in 6.17 by moving the check into __ublk_complete_rq).";

pub(crate) const B13: &str = "6.17's ublk_fetch fills the slot (ACTIVE, io->cmd) before ublk_set_auto_buf_reg parses the \
                   auto-buf-reg descriptor; an invalid one returns -EINVAL, io_uring completes the cmd \
                   and the slot keeps it as its ACTIVE io->cmd (spec §4.2 B-13; found by the \
                   configuration sweep's bad-descriptor quirk).";

pub(crate) const B17: &str =
    "ublk_ctrl_set_size had no state test before 25966fc09769 (7.0-rc4, CVE-2026-43364; \
                   stable 6.18.y): UPDATE_SIZE on a device that was added but not started, or \
                   stopped, passes the NULL ub->ub_disk to set_capacity_and_notify.";

pub(crate) const B18: &str = "END_USER_RECOVERY waits on ub->completion, complete since the device was first ready and \
                   re-armed only by a successful START_USER_RECOVERY: after a START that failed (-EBUSY, \
                   ignored) it marks the device LIVE and kicks the requeue list while canceling is still \
                   set; the held request is parked again and nothing kicks the list once the last FETCH \
                   clears canceling (CVE-2026-68173, fixed in 7.2-rc4 by 432a9b2780c0). On POST the s1 \
                   sweep's requeue-kill configurations reach the same stranded-after-END state through \
                   B-24 (a ring exit before START_DEV; the dead daemon's fallback dispatch parks the \
                   request after END_USER_RECOVERY — the model lets that fallback task work run after \
                   the ring was freed, a doubt); the signatures cannot tell the two apart.";

pub(crate) const B12: &str =
    "a copy-mode FETCH without a buffer is queued without arming the slot: no cancel can \
                 find the cmd (fixed by ublk_check_fetch_buf, 6.17).";

pub(crate) const O10: &str = "own analysis (found by the two-queue scenarios, session 6), not reported upstream, \
                  confirmed on Debian 7.2.13 (scripts/vm/twoq.sh 7.2 close: NULL pointer dereference \
                  in ublk_queue_rq, 13 of 13 runs; none with one queue): during a user recovery the new \
                  server's FETCHes make queue 0 ready, and ublk_mark_io_ready clears queue 0's canceling \
                  while ub->canceling stays set until queue 1 is ready; when queue 0's daemon then closes \
                  its ring or dies, ublk_start_cancel returns early on ub->canceling (no quiesce, no \
                  ublk_set_canceling) and ublk_cancel_cmd takes io->cmd, so the next bio on queue 0 passes \
                  __ublk_queue_rq_common and ublk_queue_cmd dereferences the NULL cmd.";

pub(crate) const O10_AFTER: &str = "the rest of O-10's story on other schedules: without the quiesce that \
                        ublk_start_cancel skipped, the cancel races the dispatch and the task work finds \
                        io->cmd gone (own analysis, the same window confirmed on 7.2.13).";

pub(crate) const O11: &str = "own analysis (found by the two-queue scenarios and the s2 sweep, session 6), not \
                  reported upstream, confirmed on Debian 6.12.118 (scripts/vm/twoq.sh 6.12 restart: WARNING \
                  at ublk_drv.c:2852 in ublk_queue_reinit, then a NULL pointer dereference in \
                  put_task_struct, 13 of 13 runs; none with one queue, none on 7.2): e58f5142f883 refuses \
                  START_USER_RECOVERY only while no queue is ready, so after a new server readied queue 0 \
                  but not queue 1 and died, a second START passes and ublk_queue_reinit puts queue 1's \
                  NULL ubq_daemon.";

pub(crate) const O12: &str = "own analysis of 7.2.13 (the same code since 6.16; model/src/quiesce.rs), not reported upstream: \
                  QUIESCE_DEV's ublk_wait_for_idle_io is meant to wait until each queue has an idle \
                  io, so that ublk_cancel_dev can complete one FETCH per queue with ABORT and tell \
                  that queue's server to stop; but ublk_count_busy_req counts !blk_mq_request_started \
                  among the requests blk_mq_tagset_busy_iter visits, and that iterator \
                  (BT_TAG_ITER_STARTED) visits started requests only: the count is 0 and the wait \
                  returns at once, so a queue whose ios all hold requests is never told.";

pub(crate) const O10_POST: &str = "O-10 in the 6.16/6.17 code (own analysis, not tried on a real kernel): \
                  during a two-queue recovery the ring exit of a queue-0 daemon whose queue is ready \
                  finds ub->canceling set and ublk_start_cancel returns without quiescing; once queue 1 \
                  is ready the device's readiness clears canceling, a bio is dispatched to the slot, and \
                  the unquiesced ublk_cancel_cmd (no claim of io->cmd before 7.x) and the dispatch task \
                  work both complete the FETCH.";

pub(crate) const O13: &str = "own analysis of the 6.16/6.17 code (PRE, POST), not tried on a real kernel: \
                  the release work's ublk_queue_reinit keeps UBLK_IO_FLAG_CANCELED on every slot (\"kept \
                  for avoiding to touch io->cmd\"), and only the device's full readiness \
                  (ublk_reset_io_flags) clears it; a new server that readies queue 0 of two and dies \
                  leaves queue 0's FETCH in a slot still marked CANCELED, so ublk_cancel_cmd never \
                  completes it and the ring exit retries forever (the exiting task never finishes). \
                  7.2 clears the slot's CANCELED at each FETCH (ublk_mark_io_ready).";

pub(crate) const O14: &str = "found by the configuration sweep (STOP_DEV before START_DEV), the route 1 \
Josef Bacik reported upstream on 2026-09-28 (\"[PATCH 0/9] ublk: fix dispatch to canceled io commands\", \
linux-block; not in 7.2.13): STOP_DEV on a device that is ready but has no disk runs \
ublk_cancel_dev after dropping ub->mutex and completes the fetched cmds with ABORT without \
setting canceling (nothing to quiesce); START_DEV still finds the device ready (a canceled FETCH \
counts as fetched), adds the disk, and ublk_queue_rq hands the first request to the completed \
cmd (NULL io->cmd)";
