//! Random sequential programs for `ublksim conform`, their shrinking, the
//! perturbation hook and the corpus: the generator side of [`crate::conform::compile`].

use crate::conform::choice;
use crate::conform::compile::*;
use crate::conform::oracle::{self, Observed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use ublk_model::state::ActorId;
use ublk_model::{
    ActorSpec, Bio, CopyMode, CtrlOp, DevConfig, Features, Func, Model, Op, Recovery, Scenario,
};
use ublk_program::*;

pub use crate::conform::shrink::{perturb, shrink_candidates, signature};

/// Op kinds the generator leaves out, each with the reason (a divergence reported to the
/// model's owner, or an executor limit). Logged by `ublksim conform`.
/// (Bios are generated on depth-1 devices only: see `generate_one`. Programs whose final
/// STOP_DEV the model says cannot return are regenerated: on 7.2 such a program — the daemon
/// REGISTERs the request's buffer, COMMITs without UNREGISTER, then exits — wedges the kernel:
/// the re-armed FETCH is never canceled (`ublk_cancel_cmd` skips a started request), so the
/// ring never exits, the buffer is never released, STOP_DEV/DEL_DEV block forever.)
pub const EXCLUDED: &[(&str, &str)] = &[];

/// Why a program's outcome is not fixed by its order alone (a race with a kernel worker, or a
/// path the model knows the kernel differs on), each found as a divergence of a real run;
/// `None` for a program a sequential run pins down. The generator keeps only those.
pub(crate) fn timing_dependent(p: &oracle::Prediction, feat: Features) -> Option<&'static str> {
    use Func::*;
    let has = |s: &oracle::Predicted, fs: &[Func]| s.funcs.iter().any(|f| fs.contains(f));
    let any = |fs: &[Func]| p.steps.iter().any(|s| has(s, fs));
    // a step of `then` at or after the first step of `first`
    let later = |first: &[Func], then: &[Func]| {
        p.steps
            .iter()
            .position(|s| has(s, first))
            .is_some_and(|i| p.steps[i..].iter().any(|s| has(s, then)))
    };
    const BIO: &[Func] = &[BlkMqSubmitBio];
    if any(&[SubmitBioDiskGone]) {
        // the model does not model the /dev/ublkbN node's lifecycle (it answers -EIO; the
        // executor, which opens the node per bio, sees -ENOENT): s1-54, s1-425 (7.2)
        return Some("a bio after the disk is gone");
    }
    // a bio after a server process exited and before a START_USER_RECOVERY that, polling
    // until the old server is gone, returned (the release work has run by then)
    let recovered = |s: &oracle::Predicted| {
        has(s, &[UblkCtrlStartRecovery, UblkCtrlStartRecovery612])
            && s.observed == Observed::Done(Some(0))
    };
    // 7.x: a bio between START_USER_RECOVERY and END_USER_RECOVERY meets `canceling` and
    // goes to the requeue list without a kick; the requeue work the old server's release
    // work kicked (kblockd) may still be pending, and when it runs after the new server's
    // FETCH made the queue ready, it hands the request to that FETCH before END — the model
    // runs the kick at once. s20261213-1120 of the 7.2 run with seed 20261213 (1 of 2,027;
    // its minimal program conformed 10 of 10 runs)
    if feat.has(ublk_model::Sw::PerIoDaemon) {
        let mut recovering = false;
        for s in &p.steps {
            recovering = (recovering || recovered(s)) && !has(s, &[UblkCtrlEndRecovery]);
            if recovering && has(s, BIO) {
                return Some("a bio during a 7.x recovery, racing the requeue work's kick");
            }
        }
    }
    let mut exited = false;
    for s in &p.steps {
        exited = (exited || has(s, &[ExitGroup])) && !recovered(s);
        if exited && has(s, BIO) {
            // the release work tears the disk down concurrently: a canceling queue (-EIO) or
            // a dead disk (-ENXIO on 7.2) — s1-150 of the second 7.2 run
            return Some("a bio after the server process exited");
        }
    }
    if any(&[UblkTimeout612]) {
        // 6.12: a server gone while it owns every slot leaves no cmd for the cancel fn;
        // `ublk_timeout` aborts the request after blk-mq's 30 s default, which the model
        // settles at once (s1-2 of the first 6.12 run, a hang at 2 s)
        return Some("a request only the block layer's timeout ends");
    }
    if later(&[CloseRing, ExitGroup, DoExit], &[UblkCtrlStartDev]) {
        // the ring's exit (and the cancel fn, stop_work or release work it triggers) runs in a
        // kworker after close() returns: START_DEV meets a LIVE device (-EEXIST) or a stopped
        // one (0, the disk freed) — s2-34 and s2-142 of the first 6.12 run, one of each
        return Some("START_DEV after a ring close or server exit");
    }
    // a step that closes a ring or ends a thread/process and, in the model, lets a kworker
    // change the device state (6.12: the cancel fn's stop_work / quiesce_work)
    let kworker_state = p.steps.iter().position(|s| {
        has(s, &[CloseRing, ExitGroup, DoExit]) && has(s, &[UblkDetachDisk, UblkQuiesceDevIdle612])
    });
    if kworker_state.is_some_and(|i| p.steps[i..].iter().any(|s| has(s, &[UblkChReadIter]))) {
        // 6.12: the cancel fn of the queue daemon's ring schedules stop_work; ublk_stop_dev
        // sets DEAD (ublk_detach_disk) only after del_gendisk, in a kworker, while the model
        // settles it within the close. A user copy right after the close meets a LIVE device:
        // ublk_check_and_get_req passes the DEAD check and __ublk_check_and_get_req gives
        // NULL on a copy device (-EINVAL) where the model, past DEAD, says -EACCES —
        // s20261205-20 of the 6.12 run with seed 20261205 (3 of 3 runs: -EINVAL)
        return Some("a user copy after a ring close whose teardown runs in a kworker");
    }
    // (a bio after a server thread exited with its ring open — O-9 — was excluded here until
    // the executor reported a thread's exit before the thread was gone: see
    // traces/findings/README.md)
    if p.steps
        .iter()
        .position(|s| has(s, &[CloseRing]))
        .is_some_and(|i| p.steps[i + 1..].iter().take(1).any(|s| has(s, BIO)))
    {
        // the ring's exit work cancels its FETCH in a kworker after close() returns; a bio
        // issued right after the close can be dispatched to that FETCH first, and the request
        // then sits in a ring nobody reads (O-1's hang) where the model, which settles the
        // exit within the close, fails it with -EIO — s20261206-1088 of the 7.2 run with seed
        // 20261206 (4 of 40 and 4 of 60 runs hang)
        return Some("a bio right after a ring close, racing the ring's exit work");
    }
    None
}

/// The share of random programs on a device of two hw queues (a daemon thread per queue, a
/// submitter pinned to a CPU of each).
const TWO_QUEUES: f64 = 0.25;

/// The share of one-queue random programs on a device with an I/O scheduler (mq-deadline from
/// START_DEV) that may switch it to kyber.
const ELEVATOR: f64 = 0.2;

/// The share of random programs whose bios are 8 KiB instead of 4 KiB (a COMMIT of 4096
/// completes half the request; the rest is requeued and dispatched again).
const LARGE_BIOS: f64 = 0.25;

/// The share of random programs on a device with user recovery (requeue, reissue or fail-io;
/// on 7.2 some with UBLK_F_QUIESCE): after the random middle the server process goes away
/// (after a QUIESCE_DEV, for a live update), START_USER_RECOVERY, a new server process FETCHes
/// every tag, END_USER_RECOVERY, and the new server serves the rest of the program.
const RECOVERY: f64 = 0.25;

pub(super) struct Gen<'a> {
    pub(super) rng: ChaCha8Rng,
    pub(super) feat: Features,
    pub(super) sc: Scenario,
    pub(super) order: Vec<ActorId>,
    pub(super) excluded: &'a HashSet<&'a str>,
}

#[derive(Clone)]
pub(super) struct Ids {
    /// The daemon thread of each hw queue (its io commands name that queue).
    pub(super) daemons: Vec<usize>,
    /// An offload thread and the hw queue it acts on.
    pub(super) helper: Option<(usize, u8)>,
    /// The submitters and their hw queues: one; or two on a depth-2 device of one queue (two
    /// requests in flight); or one per queue, each pinned to a CPU of it.
    pub(super) submitters: Vec<(usize, u8)>,
    pub(super) control: usize,
    /// The elevator switch (a device with an I/O scheduler).
    pub(super) elevator: Option<usize>,
    /// The threads of a recovery's new server process, one per queue (empty without recovery).
    pub(super) new_daemons: Vec<usize>,
}

impl Gen<'_> {
    /// Append one action (and the op it needs); keep it when the oracle predicts no block
    /// and no violation.
    pub(super) fn try_push(&mut self, spec_idx: usize, op: Option<GenOp>) -> bool {
        let (old_sc, old_order) = (self.sc.clone(), self.order.clone());
        let aid = self.actor_id(spec_idx);
        match (&mut self.sc.actors[spec_idx], op) {
            (ActorSpec::Server { prog, .. }, Some(GenOp::Server(o)))
            | (ActorSpec::RecoveryServer { prog, .. }, Some(GenOp::Server(o))) => prog.push(o),
            (ActorSpec::Submitter { bios, .. }, Some(GenOp::Bio(b))) => bios.push(b),
            (ActorSpec::Control { prog }, Some(GenOp::Ctrl(c))) => prog.push(c),
            (ActorSpec::Elevator, Some(GenOp::Switch)) => {}
            (_, None) => {}
            _ => return false,
        }
        self.order.push(aid);
        let ok = oracle::oracle_model(&self.sc, self.feat)
            .and_then(|m| oracle::predict(&m, &self.order))
            .map(|p| {
                p.violation.is_none()
                    && timing_dependent(&p, self.feat).is_none()
                    && p.steps.len() == self.order.len()
                    && !p.steps.iter().any(|s| s.observed == Observed::Blocks)
            })
            .unwrap_or(false)
            && (self.sc.dev.depth == 1 || self.followable());
        if !ok {
            self.sc = old_sc;
            self.order = old_order;
        }
        ok
    }

    /// Whatever free tag the kernel gives each request, the executor can follow it
    /// ([`choice::followable`]).
    fn followable(&self) -> bool {
        let mp = ModelProgram {
            id: String::new(),
            scenario: self.sc.clone(),
            order: self.order.clone(),
        };
        choice::followable(&mp, self.feat).is_ok()
    }

    /// The model's actor id of scenario actor `spec_idx`: server threads first (the first
    /// process's, then the recovery server's, as `Model::new` numbers them), then the others
    /// in scenario order.
    pub(super) fn actor_id(&self, spec_idx: usize) -> ActorId {
        let pos = actor_specs(&self.sc).iter().position(|&i| i == spec_idx);
        pos.expect("an actor of the scenario") as ActorId
    }

    pub(super) fn ended(&self, spec_idx: usize) -> bool {
        matches!(&self.sc.actors[spec_idx], ActorSpec::Server { prog, .. }
            | ActorSpec::RecoveryServer { prog, .. }
            if prog.iter().any(|o| matches!(o, Op::CloseRing | Op::ThreadExit)))
    }

    pub(super) fn stop_issued(&self) -> bool {
        self.sc
            .actors
            .iter()
            .any(|a| matches!(a, ActorSpec::Control { prog } if prog.contains(&CtrlOp::StopDev)))
    }

    fn tag(&mut self) -> u8 {
        self.rng.random_range(0..self.sc.dev.depth)
    }

    /// An operation of a server thread on hw queue `q`.
    pub(super) fn random_server_op(&mut self, helper: bool, q: u8) -> Op {
        let copy = self.sc.dev.copy;
        let buf = copy == CopyMode::Copy;
        let tag = self.tag();
        let idx = self.rng.random_range(0..2u8);
        let k = self.rng.random_range(0..100u32);
        match k {
            0..=14 => Op::Fetch { q, tag, buf },
            15..=32 => Op::WaitCqe { q, tag },
            33..=47 => Op::Commit {
                q,
                tag,
                result: match self.rng.random_range(0..10u32) {
                    0 => -5,
                    1 => 0,
                    // a larger bio: often all of it, sometimes its first page (the rest is
                    // requeued and dispatched again, smaller)
                    _ if self.sc.dev.io_bytes != 4096 && self.rng.random_bool(0.4) => 4096,
                    _ => self.sc.dev.io_bytes as i32,
                },
                buf,
            },
            // a user-copy device: copies rather than buffer registrations (the only data
            // path there), so an owned request meets offsets and directions
            48..=72 if copy == CopyMode::UserCopy => self.random_user_copy(q, tag),
            48..=60 => Op::Register { q, tag, idx },
            61..=72 => Op::Unregister { q, tag, idx },
            73..=80 => Op::FixedIo { idx },
            81..=88 => self.random_user_copy(q, tag),
            89..=93 if self.sc.dev.need_get_data => Op::NeedGetData { q, tag },
            89..=93 => Op::BadType { q, tag },
            _ if helper => {
                if self.rng.random_bool(0.5) {
                    Op::ThreadExit
                } else {
                    Op::CloseRing
                }
            }
            _ => Op::WaitCqe { q, tag },
        }
    }

    /// A user copy: half the time the whole request in its direction, else an offset inside,
    /// at or past the request's end, a length short of or past it, either direction.
    fn random_user_copy(&mut self, q: u8, tag: u8) -> Op {
        if self.rng.random_bool(0.5) {
            return Op::user_copy(q, tag);
        }
        self.varied_user_copy(q, tag)
    }

    /// A user copy with a random offset, length and direction.
    fn varied_user_copy(&mut self, q: u8, tag: u8) -> Op {
        const OFFS: [u32; 6] = [0, 512, 4095, 4096, 4097, 8192];
        const LENS: [Option<u32>; 4] = [None, Some(512), Some(4096), Some(8192)];
        let off = match self.sc.dev.io_bytes {
            // a larger request: inside it, at its end and past it too
            4096 => OFFS[self.rng.random_range(0..OFFS.len())],
            b => [0, 4096, b as u32 - 1, b as u32, b as u32 + 1][self.rng.random_range(0..5)],
        };
        let len = LENS[self.rng.random_range(0..LENS.len())];
        let dir = match self.rng.random_range(0..3u32) {
            0 => None,
            1 => Some(ublk_model::CopyDir::Pread),
            _ => Some(ublk_model::CopyDir::Pwrite),
        };
        Op::UserCopy {
            q,
            tag,
            off,
            len,
            dir,
        }
    }

    /// A user-copy device after a bio: the daemon waits for the request's CQE, then one to
    /// three copies (some from the helper) with random offsets, lengths and directions.
    pub(super) fn user_copy_burst(&mut self, ids: &Ids, q: u8) {
        let daemon = ids.daemons[q as usize];
        self.try_push(daemon, Some(GenOp::Server(Op::WaitCqe { q, tag: 0 })));
        for _ in 0..self.rng.random_range(1..=3u32) {
            let who = match ids.helper {
                Some((h, hq)) if hq == q && !self.ended(h) && self.rng.random_bool(0.3) => h,
                _ => daemon,
            };
            let op = self.varied_user_copy(q, 0);
            if self.allowed(&op) {
                self.try_push(who, Some(GenOp::Server(op)));
            }
        }
    }

    /// The daemon of queue `q` takes the request a bio just sent there (its CQE on whichever
    /// tag the request got) and commits it whole: on two queues each bio then shows the CPU →
    /// hw queue mapping and the queue's own daemon at work.
    pub(super) fn serve(&mut self, ids: &Ids, q: u8) {
        let daemon = ids.daemons[q as usize];
        for tag in 0..self.sc.dev.depth {
            if self.try_push(daemon, Some(GenOp::Server(Op::WaitCqe { q, tag }))) {
                let buf = self.sc.dev.copy == CopyMode::Copy;
                let commit = Op::Commit {
                    q,
                    tag,
                    result: self.sc.dev.io_bytes as i32,
                    buf,
                };
                self.try_push(daemon, Some(GenOp::Server(commit)));
                return;
            }
        }
    }

    /// One of the submitters (no random draw when there is one).
    pub(super) fn submitter(&mut self, ids: &Ids) -> (usize, u8) {
        match ids.submitters[..] {
            [_, b] if self.rng.random_bool(0.5) => b,
            _ => ids.submitters[0],
        }
    }

    pub(super) fn allowed(&self, op: &Op) -> bool {
        let k = match op {
            Op::Fetch { .. } => "fetch",
            Op::Commit { .. } => "commit",
            Op::NeedGetData { .. } => "need-get-data",
            Op::Register { .. } => "register",
            Op::Unregister { .. } => "unregister",
            Op::BadType { .. } => "bad-type",
            Op::FixedIo { .. } => "fixed-io",
            Op::UserCopy { .. } => "user-copy",
            Op::WaitCqe { .. } => "wait",
            Op::Exit => "exit",
            Op::ThreadExit => "thread-exit",
            Op::CloseRing => "close-ring",
            Op::Loop { .. } | Op::Goto { .. } => "loop",
        };
        !self.excluded.contains(k)
    }
}

pub(super) enum GenOp {
    Server(Op),
    Bio(Bio),
    Ctrl(CtrlOp),
    /// The elevator's one switch.
    Switch,
}

/// Random program number `n` of seed `seed` (same inputs, same program). Only programs that
/// end with a device the model says can be stopped (a final STOP_DEV that returns) are kept:
/// a program that leaves STOP_DEV blocked wedges the real kernel too (see `EXCLUDED`).
pub fn generate_one(seed: u64, n: usize, feat: Features, excluded: &HashSet<&str>) -> ModelProgram {
    let mut last = None;
    for attempt in 0..50u64 {
        let mp = generate_attempt(seed, n, attempt, feat, excluded);
        if ends_stopped(&mp, feat) {
            return mp;
        }
        last = Some(mp);
    }
    last.expect("at least one attempt")
}

/// Does the program end with a STOP_DEV (or its wait) that the model says returns 0?
fn ends_stopped(mp: &ModelProgram, feat: Features) -> bool {
    let Ok(c) = compile(mp, feat) else {
        return false;
    };
    c.program
        .steps
        .iter()
        .rev()
        .find(|s| matches!(s.act, Act::StopDev | Act::CtrlWait))
        .is_some_and(|s| s.expect == Expect::Done(Some(0)))
        && matches!(
            c.program.steps.last().map(|s| &s.act),
            Some(Act::StopDev | Act::CtrlWait)
        )
}

/// Does the model accept a device in copy mode `copy` under `feat` (a kernel that lacks the
/// mode, like 6.12 without zero copy, makes `Model::new` refuse it)?
fn preset_accepts(feat: Features, copy: CopyMode) -> bool {
    let sc = Scenario {
        name: "probe".into(),
        doc: String::new(),
        dev: DevConfig {
            copy,
            ..DevConfig::default()
        },
        actors: vec![ActorSpec::Server {
            name: "daemon".into(),
            fixed_file: false,
            prog: vec![],
        }],
    };
    Model::new(&sc, feat).is_ok()
}

fn generate_attempt(
    seed: u64,
    n: usize,
    attempt: u64,
    feat: Features,
    excluded: &HashSet<&str>,
) -> ModelProgram {
    // one stream per kind of draw, each mixed from (seed, n, attempt) with its own constants
    let stream = |kn: u64, ka: u64| {
        ChaCha8Rng::seed_from_u64(seed ^ (n as u64).wrapping_mul(kn) ^ attempt.wrapping_mul(ka))
    };
    let mut rng = stream(0x9e37_79b9_7f4a_7c15, 0x5851_f42d);
    let depth = rng.random_range(1..=2u8);
    let mut copy = match rng.random_range(0..10u32) {
        0..=4 => CopyMode::ZeroCopy,
        5..=7 => CopyMode::Copy,
        8 => CopyMode::UserCopy,
        // the driver registers the buffer at index = tag at dispatch and
        // unregisters it at the next COMMIT on the same ring
        _ => CopyMode::AutoBufReg,
    };
    // a kernel without zero copy (6.12): the modes its preset accepts, evenly
    if !preset_accepts(feat, copy) {
        let ok: Vec<CopyMode> = [CopyMode::Copy, CopyMode::UserCopy]
            .into_iter()
            .filter(|&c| preset_accepts(feat, c))
            .collect();
        copy = ok[rng.random_range(0..ok.len())];
    }
    let need_get_data = copy == CopyMode::Copy && rng.random_bool(0.3);
    let helper = rng.random_bool(0.5);
    let server = |name: &str, fixed_file: bool| ActorSpec::Server {
        name: name.into(),
        fixed_file,
        prog: vec![],
    };
    // a device of two hw queues, decided by a stream of its own so the one-queue programs of a
    // seed stay what they were before two queues were generated
    let two = stream(0xd1b5_4a32_d192_ed03, 0x2545_f491).random_bool(TWO_QUEUES);
    let queues: u8 = if two { 2 } else { 1 };
    // an I/O scheduler from START_DEV (single-queue devices only, as blk-mq attaches one),
    // from a stream of its own too
    let elevator = queues == 1 && stream(0x94d0_49bb_1331_11eb, 0x6a09_e667).random_bool(ELEVATOR);
    // user recovery, from a stream of its own (the other programs stay what they were)
    let mut rs = stream(0xbf58_476d_1ce4_e5b9, 0x1f83_d9ab);
    let recovery = if rs.random_bool(RECOVERY) {
        let mut kinds = vec![Recovery::Requeue, Recovery::Reissue];
        if feat.has(ublk_model::Sw::RecoveryFailIo) {
            kinds.push(Recovery::FailIo);
        }
        kinds[rs.random_range(0..kinds.len())]
    } else {
        Recovery::None
    };
    let io_bytes = match stream(0x2127_599b_f432_5c37, 0x8cb9_2ba7).random_bool(LARGE_BIOS) {
        true => 8192,
        false => 4096,
    };
    let quiesce =
        recovery != Recovery::None && feat.has(ublk_model::Sw::QuiesceDev) && rs.random_bool(0.3);
    let mut actors = vec![server("daemon", rng.random_bool(0.5))];
    if queues == 2 {
        actors.push(server("daemon1", rng.random_bool(0.5)));
    }
    let daemons: Vec<usize> = (0..queues as usize).collect();
    let helper = helper.then(|| {
        actors.push(server("helper", false));
        let q = if queues == 2 {
            rng.random_range(0..2u8)
        } else {
            0
        };
        (actors.len() - 1, q)
    });
    let mut submitters = Vec::new();
    for q in 0..queues {
        submitters.push((actors.len(), q));
        actors.push(ActorSpec::Submitter { q, bios: vec![] });
    }
    if queues == 1 && depth == 2 && rng.random_bool(0.5) {
        submitters.push((actors.len(), 0));
        actors.push(ActorSpec::Submitter { q: 0, bios: vec![] });
    }
    actors.push(ActorSpec::Control { prog: vec![] });
    let control = actors.len() - 1;
    if elevator {
        actors.push(ActorSpec::Elevator);
    }
    // the new server process of a recovery: a thread per queue
    let mut new_daemons = Vec::new();
    if recovery != Recovery::None {
        for q in 0..queues {
            new_daemons.push(actors.len());
            actors.push(ActorSpec::RecoveryServer {
                name: if q == 0 {
                    "new-daemon".into()
                } else {
                    format!("new-daemon{q}")
                },
                fixed_file: rs.random_bool(0.5),
                prog: vec![],
            });
        }
    }
    let ids = Ids {
        daemons,
        helper,
        submitters,
        control,
        elevator: elevator.then_some(control + 1),
        new_daemons,
    };
    let sc = Scenario {
        name: format!("random-{seed}-{n}"),
        doc: "random sequential program (ublksim conform)".into(),
        dev: DevConfig {
            nr_queues: queues,
            depth,
            copy,
            need_get_data,
            recovery,
            elevator,
            table_size: 2,
            fake_timeout: false,
            get_data_fails: false,
            bad_auto_fetch: false,
            part_scan: false,
            quiesce,
            auto_no_zc: false,
            auto_fallback: false,
            io_bytes,
        },
        actors,
    };
    let mut g = Gen {
        rng,
        feat,
        sc,
        order: vec![],
        excluded,
    };
    // prelude (usually): FETCH every tag of every queue (each from the queue's daemon or the
    // helper), START_DEV
    if g.rng.random_bool(0.85) {
        for (q, tag) in (0..queues).flat_map(|q| (0..depth).map(move |t| (q, t))) {
            let who = match ids.helper {
                Some((h, hq)) if hq == q && g.rng.random_bool(0.3) => h,
                _ => ids.daemons[q as usize],
            };
            let op = Op::Fetch {
                q,
                tag,
                buf: copy == CopyMode::Copy,
            };
            g.try_push(who, Some(GenOp::Server(op)));
        }
        g.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StartDev)));
    }
    let target = g.rng.random_range(3..=11usize);
    // `target` actions after the prelude (a FETCH per tag of each queue, START_DEV)
    let prelude = queues as usize * depth as usize + 1;
    g.middle(&ids, target + prelude);
    match recovery {
        Recovery::None => g.finish(&ids),
        _ => {
            let after = g.recover(&ids);
            g.finish(&after)
        }
    }
    ModelProgram {
        id: format!("s{seed}-{n}"),
        scenario: g.sc,
        order: g.order,
    }
}
