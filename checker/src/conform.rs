//! Sequential programs for the real kernel: from the model (a scenario plus an order of user
//! actions, see [`crate::oracle`]) to a [`Program`] the real-device executor runs
//! (`realdev/src/exec.rs`), from a saved trace to such an order, random programs
//! (`ublksim conform`) and the shrinking of a divergent one.

use crate::explore::fingerprint;
use crate::oracle::{self, is_kernel_actor, Observed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};
use ublk_model::state::{ActorId, CmdSt};
use ublk_model::{
    ActorSpec, Bio, CopyMode, CtrlOp, DevConfig, Features, Kind, Model, Op, Outcome, Preset,
    Recovery, Scenario, State,
};
use ublk_realdev::program::*;
use ublk_traces::{Header, Trace, TraceStep};

/// A kernel the conformance runs target: the model's preset for it and the VM's kernel.
#[derive(Clone, Copy, Debug)]
pub struct KernelTarget {
    pub name: &'static str,
    pub preset: Preset,
    /// `UBLK_VM_KVER` for `scripts/vm/run.sh` (`None`: `scripts/vm/kernel.pin`).
    pub vm_kver: Option<&'static str>,
}

/// `--kernel NAME`. 6.12 needs a model preset first (the lead's work in `model/`).
pub fn kernel_target(name: &str) -> Result<KernelTarget, String> {
    match name {
        "7.2" | "K72" => Ok(KernelTarget {
            name: "7.2",
            preset: Preset::K72,
            vm_kver: None,
        }),
        "6.12" => Err(
            "kernel 6.12: the model has no 6.12 preset yet (add it in model/src/features.rs, \
             then map it here)"
                .into(),
        ),
        _ => Err(format!("unknown kernel '{name}' (known: 7.2)")),
    }
}

/// A sequential program in the model's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelProgram {
    pub id: String,
    pub scenario: Scenario,
    pub order: Vec<ActorId>,
}

/// Run kernel actors until none can move (the oracle's `settle`).
fn settle(m: &Model, s: &mut State, steps: &mut Vec<TraceStep>) -> Result<(), String> {
    let mut seen = HashSet::new();
    loop {
        if !seen.insert(fingerprint(s)) {
            return Ok(());
        }
        let mut moved = false;
        for a in 0..m.actors.len() as ActorId {
            if !is_kernel_actor(m, a) || !m.may_step(s, a) {
                continue;
            }
            if let Outcome::Stepped(info) = m.apply(s, a).map_err(|v| v.to_string())? {
                push_step(m, steps, a, info.func, info.result);
                moved = true;
                break;
            }
        }
        if !moved {
            return Ok(());
        }
    }
}

fn push_step(m: &Model, steps: &mut Vec<TraceStep>, a: ActorId, func: &str, result: Option<i32>) {
    steps.push(TraceStep {
        i: steps.len() as u32,
        actor: m.actors[a as usize].name.clone(),
        actor_id: a,
        func: func.to_string(),
        result,
    });
}

fn mid_op(m: &Model, s: &State, a: ActorId) -> bool {
    let st = &s.actors[a as usize];
    match m.actors[a as usize].kind {
        Kind::Submitter { .. } => st.sub == 1 || st.sub == 2,
        _ => st.sub != 0,
    }
}

/// The action an actor's next operation is, from the state before it.
fn act_of(m: &Model, s: &State, a: ActorId) -> Result<Act, String> {
    let st = &s.actors[a as usize];
    let name = &m.actors[a as usize].name;
    Ok(match &m.actors[a as usize].kind {
        Kind::Server { prog, process, .. } => {
            if *process != 0 {
                return Err(format!("{name}: recovery servers are not supported yet"));
            }
            let Some((op, _)) = prog.get(st.pc as usize) else {
                return Err(format!("{name}: no operation left"));
            };
            match *op {
                Op::Fetch { tag, buf, .. } => Act::Fetch {
                    tag: tag as u16,
                    buf,
                },
                Op::Commit {
                    tag, result, buf, ..
                } => Act::Commit {
                    tag: tag as u16,
                    result,
                    buf,
                },
                Op::NeedGetData { tag, .. } => Act::NeedGetData { tag: tag as u16 },
                Op::Register { tag, idx, .. } => Act::Register {
                    tag: tag as u16,
                    idx: idx as u16,
                },
                Op::Unregister { tag, idx, .. } => Act::Unregister {
                    tag: tag as u16,
                    idx: idx as u16,
                },
                Op::BadType { tag, .. } => Act::BadType { tag: tag as u16 },
                Op::FixedIo { idx } => Act::FixedIo { idx: idx as u16 },
                Op::UserCopy { tag, .. } => Act::UserCopy { tag: tag as u16 },
                Op::WaitCqe { tag, .. } => Act::WaitCqe { tag: tag as u16 },
                Op::Exit => Act::Exit,
                Op::ThreadExit => Act::ThreadExit,
                Op::CloseRing => Act::CloseRing,
                Op::Loop { .. } | Op::Goto { .. } => {
                    return Err(format!("{name}: Loop/Goto programs are not supported yet"))
                }
            }
        }
        Kind::Submitter { bios, .. } => match (st.sub, bios.get(st.pc as usize)) {
            (0, Some(Bio::Read)) => Act::Read,
            (0, Some(Bio::Write)) => Act::Write,
            (0, None) => return Err(format!("{name}: no bio left")),
            _ => Act::BioWait,
        },
        Kind::Control { prog } => match (st.sub, prog.get(st.pc as usize)) {
            (0, Some(CtrlOp::StartDev)) => Act::StartDev,
            (0, Some(CtrlOp::StopDev)) => Act::StopDev,
            (0, Some(c)) => return Err(format!("control: {c:?} is not supported yet")),
            (0, None) => return Err("control: no command left".into()),
            _ => Act::CtrlWait,
        },
        Kind::Killer => Act::Kill,
        Kind::FdHolder => Act::CloseFd,
        Kind::Elevator => return Err("elevator switches are not supported yet".into()),
        _ => return Err(format!("{name} is a kernel actor")),
    })
}

/// The result of compiling a model program.
pub struct Compiled {
    pub program: Program,
    pub prediction: oracle::Prediction,
    /// Every model step (user and kernel) of the sequential run, for a trace.
    pub steps: Vec<TraceStep>,
}

fn expect_of(o: &Observed) -> Expect {
    match o {
        Observed::Done(r) => Expect::Done(*r),
        Observed::Pending => Expect::Pending,
        Observed::Blocks => Expect::Blocks,
    }
}

fn dev_cfg(d: &DevConfig) -> Result<DevCfg, String> {
    if d.nr_queues != 1 {
        return Err("only 1 queue is supported".into());
    }
    if d.elevator || d.fake_timeout || d.get_data_fails {
        return Err(
            "elevator / fault injection (fake_timeout, get_data_fails) cannot be set up on a \
             real device"
                .into(),
        );
    }
    Ok(DevCfg {
        depth: d.depth as u16,
        copy: match d.copy {
            CopyMode::Copy => CopyKind::Copy,
            CopyMode::UserCopy => CopyKind::UserCopy,
            CopyMode::ZeroCopy => CopyKind::ZeroCopy,
            CopyMode::AutoBufReg => CopyKind::AutoBufReg,
        },
        need_get_data: d.need_get_data,
        recovery: match d.recovery {
            Recovery::None => RecoveryKind::None,
            Recovery::Requeue => RecoveryKind::Requeue,
            Recovery::Reissue => RecoveryKind::Reissue,
            Recovery::FailIo => RecoveryKind::FailIo,
        },
        table_size: d.table_size as u16,
    })
}

/// Compile `mp` under `feat`: the program with the oracle's expectation for each action and
/// the predicted completions after it. Errors: the scenario cannot be run on a real device, or
/// the order is not a program of it.
pub fn compile(mp: &ModelProgram, feat: Features) -> Result<Compiled, String> {
    let m = Model::new(&mp.scenario, feat)?;
    let prediction = oracle::predict(&m, &mp.order)?;
    let n_user = (0..m.actors.len() as ActorId)
        .take_while(|&a| !is_kernel_actor(&m, a))
        .count();
    let threads: Vec<ThreadSpec> = m.actors[..n_user]
        .iter()
        .map(|d| ThreadSpec {
            name: d.name.clone(),
            kind: match &d.kind {
                Kind::Server { task, .. } => ThreadKind::Server {
                    fixed_file: m.fixed_file[*task as usize],
                },
                Kind::Submitter { .. } => ThreadKind::Submitter,
                Kind::Control { .. } => ThreadKind::Control,
                Kind::Killer => ThreadKind::Killer,
                Kind::FdHolder => ThreadKind::FdHolder,
                _ => ThreadKind::Control,
            },
        })
        .collect();
    let mut s = m.init();
    let mut tsteps = Vec::new();
    settle(&m, &mut s, &mut tsteps)?;
    let mut steps = Vec::new();
    // issuing step of each model cmd; outstanding bio (submit step) per submitter
    let mut cmd_step: HashMap<u8, usize> = HashMap::new();
    let mut bio_step: HashMap<ActorId, usize> = HashMap::new();
    let mut reported_done: HashSet<usize> = HashSet::new();
    for (i, &a) in mp.order.iter().enumerate() {
        let Some(pred) = prediction.steps.get(i) else {
            break; // the model broke an invariant before this action
        };
        if a as usize >= n_user {
            return Err(format!("action {i}: actor {a} is not a user actor"));
        }
        let act = act_of(&m, &s, a)?;
        if let Kind::Server { prog, .. } = &m.actors[a as usize].kind {
            let (op, cmd) = &prog[s.actors[a as usize].pc as usize];
            if let (Some(c), false) = (cmd, matches!(op, Op::WaitCqe { .. })) {
                cmd_step.insert(*c, i);
            }
        }
        if matches!(act, Act::Read | Act::Write) {
            bio_step.insert(a, i);
        }
        // execute the action as the oracle does
        loop {
            match m.apply(&mut s, a) {
                Err(_) => break,
                Ok(Outcome::Stepped(info)) => {
                    push_step(&m, &mut tsteps, a, info.func, info.result);
                    if settle(&m, &mut s, &mut tsteps).is_err() {
                        break;
                    }
                    if info.result.is_some() || !mid_op(&m, &s, a) {
                        break;
                    }
                }
                Ok(Outcome::Blocked) => break,
            }
        }
        if matches!(act, Act::Read | Act::Write | Act::BioWait) && s.actors[a as usize].sub == 0 {
            // collected, or ended at once (disk gone): nothing outstanding
            bio_step.remove(&a);
        }
        // predicted effects once the kernel settled
        let mut after = Vec::new();
        let mut cmds: Vec<_> = cmd_step.iter().map(|(&c, &k)| (k, c)).collect();
        cmds.sort();
        for (k, c) in cmds {
            if k == i {
                continue;
            }
            let d = &m.cmds[c as usize];
            if s.tasks[d.task as usize].exiting || s.rings[d.ring as usize].exiting {
                continue; // its CQE cannot be seen any more
            }
            match s.cmds[c as usize].st {
                CmdSt::Pending => after.push(Effect {
                    of: k,
                    expect: Expect::Pending,
                }),
                CmdSt::Done(r) if reported_done.insert(k) => after.push(Effect {
                    of: k,
                    expect: Expect::Done(Some(r)),
                }),
                _ => {}
            }
        }
        let mut bios: Vec<_> = bio_step.iter().map(|(&b, &k)| (k, b)).collect();
        bios.sort();
        for (k, b) in bios {
            if k == i {
                continue;
            }
            let st = &s.actors[b as usize];
            let ended = match st.rq {
                Some(r) if st.sub == 3 => {
                    let rq = &s.reqs[r as usize];
                    rq.round != st.x || rq.ended != 0
                }
                _ => false,
            };
            if !ended {
                after.push(Effect {
                    of: k,
                    expect: Expect::Pending,
                });
            } else if reported_done.insert(k) {
                after.push(Effect {
                    of: k,
                    expect: Expect::Done(Some(st.res)),
                });
            }
        }
        if let Expect::Done(Some(_)) = expect_of(&pred.observed) {
            reported_done.insert(i);
        }
        let mut expect = expect_of(&pred.observed);
        if expect == Expect::Pending && matches!(act, Act::Exit | Act::ThreadExit | Act::CloseRing)
        {
            // the oracle's "kept cmd" test looks at the op before pc, and an exit does not
            // advance pc: an exit is never itself pending (reported to the oracle's owner)
            expect = Expect::Done(None);
        }
        steps.push(Step {
            thread: a as usize,
            act,
            expect,
            after,
        });
    }
    Ok(Compiled {
        program: Program {
            id: mp.id.clone(),
            dev: dev_cfg(&mp.scenario.dev)?,
            threads,
            steps,
        },
        prediction,
        steps: tsteps,
    })
}

/// A trace of the sequential run of `mp` (header embeds the scenario).
pub fn to_trace(mp: &ModelProgram, preset: Preset) -> Result<Trace, String> {
    let feat = preset.features();
    let c = compile(mp, feat)?;
    Ok(Trace {
        header: Header {
            format: ublk_traces::FORMAT.into(),
            version: ublk_traces::VERSION,
            tool: format!("ublksim {}", env!("CARGO_PKG_VERSION")),
            preset: preset.name().into(),
            switches: vec![],
            features: feat,
            scenario: mp.scenario.clone(),
            engine: "sequential".into(),
            state_invariants: true,
        },
        steps: c.steps,
        outcome: None,
    })
}

/// The user actions of a trace, in trace order: each step of a user actor that starts an
/// operation (the actor is not inside a split one) is an action.
pub fn order_from_trace(t: &Trace) -> Result<Vec<ActorId>, String> {
    let m = Model::new(&t.header.scenario, t.header.features)?;
    let mut s = m.init();
    let mut order = Vec::new();
    for st in &t.steps {
        let a = st.actor_id;
        if a as usize >= m.actors.len() {
            return Err(format!("step {}: no actor {a}", st.i));
        }
        if !is_kernel_actor(&m, a) && !mid_op(&m, &s, a) {
            order.push(a);
        }
        match m.apply(&mut s, a) {
            Ok(Outcome::Stepped(_)) => {}
            Ok(Outcome::Blocked) => {
                return Err(format!("step {}: {} cannot move here", st.i, st.actor))
            }
            Err(_) => break, // the recorded violation
        }
    }
    Ok(order)
}

// ---------------------------------------------------------------------------------------
// random programs

/// Op kinds the generator leaves out, each with the reason (a divergence reported to the
/// model's owner, or an executor limit). Logged by `ublksim conform`.
/// (Bios are generated on depth-1 devices only: see `generate_one`. Programs whose final
/// STOP_DEV the model says cannot return are regenerated: on 7.2 such a program — the daemon
/// REGISTERs the request's buffer, COMMITs without UNREGISTER, then exits — wedges the kernel:
/// the re-armed FETCH is never canceled (`ublk_cancel_cmd` skips a started request), so the
/// ring never exits, the buffer is never released, STOP_DEV/DEL_DEV block forever.)
pub const EXCLUDED: &[(&str, &str)] = &[];

struct Gen<'a> {
    rng: ChaCha8Rng,
    feat: Features,
    sc: Scenario,
    order: Vec<ActorId>,
    excluded: &'a HashSet<&'a str>,
}

#[derive(Clone, Copy)]
struct Ids {
    daemon: usize,
    helper: Option<usize>,
    submitter: usize,
    control: usize,
}

impl Gen<'_> {
    /// Append one action (and the op it needs); keep it when the oracle predicts no block
    /// and no violation.
    fn try_push(&mut self, spec_idx: usize, op: Option<GenOp>) -> bool {
        let (old_sc, old_order) = (self.sc.clone(), self.order.clone());
        let aid = self.actor_id(spec_idx);
        match (&mut self.sc.actors[spec_idx], op) {
            (ActorSpec::Server { prog, .. }, Some(GenOp::Server(o))) => prog.push(o),
            (ActorSpec::Submitter { bios, .. }, Some(GenOp::Bio(b))) => bios.push(b),
            (ActorSpec::Control { prog }, Some(GenOp::Ctrl(c))) => prog.push(c),
            (_, None) => {}
            _ => return false,
        }
        self.order.push(aid);
        let ok = Model::new(&self.sc, self.feat)
            .and_then(|m| oracle::predict(&m, &self.order))
            .map(|p| {
                // no bio once the disk is gone: the model does not model the
                // /dev/ublkbN node's lifecycle (it answers -EIO; the executor,
                // which opens the node per bio, sees -ENOENT) — programs s1-54
                // and s1-425 of the first 500-program run
                let disk_gone = p
                    .steps
                    .iter()
                    .any(|s| s.funcs.contains(&"submit_bio: disk gone"));
                p.violation.is_none()
                    && !disk_gone
                    && p.steps.len() == self.order.len()
                    && !p.steps.iter().any(|s| s.observed == Observed::Blocks)
            })
            .unwrap_or(false);
        if !ok {
            self.sc = old_sc;
            self.order = old_order;
        }
        ok
    }

    fn actor_id(&self, spec_idx: usize) -> ActorId {
        let servers: Vec<usize> = (0..self.sc.actors.len())
            .filter(|&i| matches!(self.sc.actors[i], ActorSpec::Server { .. }))
            .collect();
        if let Some(p) = servers.iter().position(|&i| i == spec_idx) {
            return p as ActorId;
        }
        let others: Vec<usize> = (0..self.sc.actors.len())
            .filter(|&i| !matches!(self.sc.actors[i], ActorSpec::Server { .. }))
            .collect();
        (servers.len() + others.iter().position(|&i| i == spec_idx).unwrap()) as ActorId
    }

    fn ended(&self, spec_idx: usize) -> bool {
        matches!(&self.sc.actors[spec_idx], ActorSpec::Server { prog, .. }
            if prog.iter().any(|o| matches!(o, Op::CloseRing | Op::ThreadExit)))
    }

    fn stop_issued(&self) -> bool {
        self.sc
            .actors
            .iter()
            .any(|a| matches!(a, ActorSpec::Control { prog } if prog.contains(&CtrlOp::StopDev)))
    }

    fn tag(&mut self) -> u8 {
        self.rng.random_range(0..self.sc.dev.depth)
    }

    fn random_server_op(&mut self, helper: bool) -> Op {
        let copy = self.sc.dev.copy;
        let buf = copy == CopyMode::Copy;
        let q = 0;
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
                    _ => 4096,
                },
                buf,
            },
            48..=60 => Op::Register { q, tag, idx },
            61..=72 => Op::Unregister { q, tag, idx },
            73..=80 => Op::FixedIo { idx },
            81..=88 => Op::UserCopy { q, tag },
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

    fn allowed(&self, op: &Op) -> bool {
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

enum GenOp {
    Server(Op),
    Bio(Bio),
    Ctrl(CtrlOp),
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

fn generate_attempt(
    seed: u64,
    n: usize,
    attempt: u64,
    feat: Features,
    excluded: &HashSet<&str>,
) -> ModelProgram {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ attempt.wrapping_mul(0x5851_f42d),
    );
    let depth = rng.random_range(1..=2u8);
    let copy = match rng.random_range(0..10u32) {
        0..=4 => CopyMode::ZeroCopy,
        5..=7 => CopyMode::Copy,
        _ => CopyMode::UserCopy,
    };
    let need_get_data = copy == CopyMode::Copy && rng.random_bool(0.3);
    let helper = rng.random_bool(0.5);
    let server = |name: &str, fixed_file: bool| ActorSpec::Server {
        name: name.into(),
        fixed_file,
        prog: vec![],
    };
    let mut actors = vec![server("daemon", rng.random_bool(0.5))];
    if helper {
        actors.push(server("helper", false));
    }
    actors.push(ActorSpec::Submitter { q: 0, bios: vec![] });
    actors.push(ActorSpec::Control { prog: vec![] });
    let ids = Ids {
        daemon: 0,
        helper: helper.then_some(1),
        submitter: actors.len() - 2,
        control: actors.len() - 1,
    };
    let sc = Scenario {
        name: format!("random-{seed}-{n}"),
        doc: "random sequential program (ublksim conform)".into(),
        dev: DevConfig {
            nr_queues: 1,
            depth,
            copy,
            need_get_data,
            recovery: Recovery::None,
            elevator: false,
            table_size: 2,
            fake_timeout: false,
            get_data_fails: false,
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
    // prelude (usually): FETCH every tag (each from the daemon or the helper), START_DEV
    if g.rng.random_bool(0.85) {
        for tag in 0..depth {
            let who = match ids.helper {
                Some(h) if g.rng.random_bool(0.3) => h,
                _ => ids.daemon,
            };
            let op = Op::Fetch {
                q: 0,
                tag,
                buf: copy == CopyMode::Copy,
            };
            g.try_push(who, Some(GenOp::Server(op)));
        }
        g.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StartDev)));
    }
    let target = g.rng.random_range(3..=11usize);
    let mut tries = 0;
    while g.order.len() < target + depth as usize + 1 && tries < 200 {
        tries += 1;
        let k = g.rng.random_range(0..100u32);
        let ok = match k {
            0..=49 => {
                let op = g.random_server_op(false);
                g.allowed(&op) && g.try_push(ids.daemon, Some(GenOp::Server(op)))
            }
            50..=64 => match ids.helper {
                // nothing after the helper closed its ring or exited (no ring to submit on)
                Some(h) if !g.ended(h) => {
                    let op = g.random_server_op(true);
                    g.allowed(&op) && g.try_push(h, Some(GenOp::Server(op)))
                }
                _ => false,
            },
            // bios only on depth 1: blk-mq picks the driver tag (per-cpu hints), the model
            // the lowest free one, so on depth 2 the first bio's tag is not predictable
            // (and none after STOP_DEV: the executor opens /dev/ublkbN per bio, and the node
            // is gone then — ENOENT where the model's submit_bio sees a dying disk, EIO)
            65..=79 if depth == 1 && !g.stop_issued() => {
                let b = if g.rng.random_bool(0.6) {
                    Bio::Read
                } else {
                    Bio::Write
                };
                g.try_push(ids.submitter, Some(GenOp::Bio(b)))
            }
            80..=91 if depth == 1 => g.try_push(ids.submitter, None), // wait for the bio
            92..=95 => g.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StartDev))),
            _ => false,
        };
        let _ = ok;
    }
    // a clean end: STOP_DEV, the server exits, every bio is collected
    if g.rng.random_bool(0.5) {
        g.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StopDev)));
        g.try_push(ids.control, None);
    }
    g.try_push(ids.daemon, Some(GenOp::Server(Op::Exit)));
    g.try_push(ids.submitter, None);
    g.try_push(ids.control, Some(GenOp::Ctrl(CtrlOp::StopDev)));
    g.try_push(ids.control, None);
    ModelProgram {
        id: format!("s{seed}-{n}"),
        scenario: g.sc,
        order: g.order,
    }
}

// ---------------------------------------------------------------------------------------
// shrinking

/// Programs one operation smaller than `mp` that are still valid (no block, no violation):
/// drop one server or control op (and its action), or one bio (both its actions).
pub fn shrink_candidates(mp: &ModelProgram, feat: Features) -> Vec<ModelProgram> {
    let Ok(m) = Model::new(&mp.scenario, feat) else {
        return vec![];
    };
    // which (spec actor, op index) each action starts, from a sequential run
    let spec_of_actor: Vec<usize> = {
        let servers = (0..mp.scenario.actors.len())
            .filter(|&i| matches!(mp.scenario.actors[i], ActorSpec::Server { .. }));
        let others = (0..mp.scenario.actors.len()).filter(|&i| {
            !matches!(
                mp.scenario.actors[i],
                ActorSpec::Server { .. } | ActorSpec::RecoveryServer { .. }
            )
        });
        servers.chain(others).collect()
    };
    let mut s = m.init();
    let mut dummy = Vec::new();
    let _ = settle(&m, &mut s, &mut dummy);
    // (spec idx, op idx) -> actions
    let mut groups: Vec<((usize, usize), Vec<usize>)> = Vec::new();
    for (i, &a) in mp.order.iter().enumerate() {
        let st = &s.actors[a as usize];
        let key = match &m.actors[a as usize].kind {
            Kind::Server { .. } | Kind::Control { .. } if st.sub == 0 => {
                Some((spec_of_actor[a as usize], st.pc as usize))
            }
            Kind::Submitter { .. } => Some((spec_of_actor[a as usize], st.pc as usize)),
            _ => None,
        };
        if let Some(k) = key {
            match groups.iter_mut().find(|(g, _)| *g == k) {
                Some((_, v)) => v.push(i),
                None => groups.push((k, vec![i])),
            }
        }
        while let Ok(Outcome::Stepped(info)) = m.apply(&mut s, a) {
            if settle(&m, &mut s, &mut dummy).is_err() {
                break;
            }
            if info.result.is_some() || !mid_op(&m, &s, a) {
                break;
            }
        }
    }
    let mut out = Vec::new();
    for ((spec, op), actions) in groups.iter().rev() {
        let mut sc = mp.scenario.clone();
        match &mut sc.actors[*spec] {
            ActorSpec::Server { prog, .. } if *op < prog.len() => {
                prog.remove(*op);
            }
            ActorSpec::Control { prog } if *op < prog.len() => {
                prog.remove(*op);
            }
            ActorSpec::Submitter { bios, .. } if *op < bios.len() => {
                bios.remove(*op);
            }
            _ => continue,
        }
        let order: Vec<ActorId> = mp
            .order
            .iter()
            .enumerate()
            .filter(|(i, _)| !actions.contains(i))
            .map(|(_, &a)| a)
            .collect();
        let valid = Model::new(&sc, feat)
            .and_then(|m| oracle::predict(&m, &order))
            .map(|p| {
                p.violation.is_none() && !p.steps.iter().any(|s| s.observed == Observed::Blocks)
            })
            .unwrap_or(false);
        if valid {
            out.push(ModelProgram {
                id: format!("{}-", mp.id),
                scenario: sc,
                order,
            });
        }
    }
    for (k, c) in out.iter_mut().enumerate() {
        c.id = format!("{}.{k}", mp.id);
    }
    out
}

/// The kind of a divergence without its step numbers: what diverged and how.
pub fn signature(p: &Program, v: &Verdict) -> Option<String> {
    match v {
        Verdict::Diverges {
            step,
            what,
            expected,
            got,
        } => {
            let what: String = what
                .split(" (")
                .next()
                .unwrap_or(what)
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            let act = p.steps.get(*step).map(|s| s.act.name()).unwrap_or_default();
            let act: String = act.chars().filter(|c| !c.is_ascii_digit()).collect();
            Some(format!("{act} / {what}: expected {expected}, got {got}"))
        }
        Verdict::Hang {
            predicted: false,
            what,
            ..
        } => Some(format!(
            "hang: {}",
            what.chars()
                .filter(|c| !c.is_ascii_digit())
                .collect::<String>()
        )),
        _ => None,
    }
}

/// Change the expectation of step `step` the way a wrong errno in the model would: a result
/// becomes another errno. Returns false if that step has no result to perturb.
pub fn perturb(p: &mut Program, step: usize) -> bool {
    match p.steps.get_mut(step).map(|s| &mut s.expect) {
        Some(Expect::Done(Some(r))) => {
            *r = if *r == -22 { -16 } else { -22 };
            true
        }
        _ => false,
    }
}

/// The hand-written programs of the corpus: (file stem, scenario, order by actor name).
pub fn corpus_programs() -> Vec<ModelProgram> {
    use crate::scenarios::by_name;
    let by = |sc: &str, names: &[&str], id: &str| -> ModelProgram {
        let scenario = by_name(sc).unwrap_or_else(|| panic!("scenario {sc}"));
        let m = Model::new(&scenario, Preset::K72.features()).expect("scenario compiles");
        let order = names
            .iter()
            .map(|n| {
                m.actors
                    .iter()
                    .position(|d| d.name == *n)
                    .unwrap_or_else(|| panic!("{sc}: no actor {n}")) as ActorId
            })
            .collect();
        ModelProgram {
            id: id.into(),
            scenario,
            order,
        }
    };
    let (d, h, b, c) = ("daemon", "helper", "submitter0", "control");
    vec![
        // FETCH, START, read, CQE, REGISTER, UNREGISTER, COMMIT, read done, STOP, CQE -ENODEV, exit
        by(
            "daemon-zc",
            &[d, c, b, d, d, d, d, b, c, d, d],
            "daemon-zc-on-daemon",
        ),
        // commit before unregister on the daemon
        by(
            "daemon-unreg-after-commit",
            &[d, c, b, d, d, d, d, b, c, d, d],
            "daemon-unreg-after-commit",
        ),
        // off daemon: helper REGISTER, READ_FIXED, UNREGISTER, then the daemon commits
        by(
            "offdaemon-register-vs-commit",
            &[d, c, b, d, h, h, h, d, b, c, d, d],
            "offdaemon-register-fixed-unregister",
        ),
        // off daemon: the commit comes before the helper's unregister; the read completes
        // only after it
        by(
            "offdaemon-unregister-after-commit",
            &[d, c, b, d, h, d, h, b],
            "offdaemon-commit-before-unregister",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_zc_compiles_with_effects() {
        let mp = &corpus_programs()[0];
        let c = compile(mp, Preset::K72.features()).unwrap();
        let p = &c.program;
        assert_eq!(p.steps.len(), 11);
        assert_eq!(p.steps[0].act, Act::Fetch { tag: 0, buf: false });
        assert_eq!(p.steps[0].expect, Expect::Pending);
        // the read (step 2) dispatches the request: the FETCH of step 0 completes with 0
        assert!(p.steps[2].after.contains(&Effect {
            of: 0,
            expect: Expect::Done(Some(0))
        }));
        assert_eq!(p.steps[7].act, Act::BioWait);
        assert_eq!(p.steps[7].expect, Expect::Done(Some(0)));
    }

    #[test]
    fn trace_round_trip_gives_the_same_order() {
        for mp in corpus_programs() {
            let t = to_trace(&mp, Preset::K72).unwrap();
            let t = Trace::parse(&t.to_jsonl(), "t").unwrap();
            assert_eq!(order_from_trace(&t).unwrap(), mp.order, "{}", mp.id);
        }
    }

    #[test]
    fn generation_is_deterministic_and_valid() {
        let ex = HashSet::new();
        let f = Preset::K72.features();
        for n in 0..30 {
            let a = generate_one(7, n, f, &ex);
            assert_eq!(a, generate_one(7, n, f, &ex));
            let c = compile(&a, f).unwrap();
            assert!(c.prediction.violation.is_none());
            assert!(c.program.steps.iter().all(|s| s.expect != Expect::Blocks));
        }
    }

    #[test]
    fn perturbed_errno_is_reported_at_its_step() {
        let mp = &corpus_programs()[2];
        let c = compile(mp, Preset::K72.features()).unwrap();
        // what a conforming kernel shows: exactly the prediction
        let got: Vec<Got> = c
            .program
            .steps
            .iter()
            .map(|s| match &s.expect {
                Expect::Done(r) => Got::Done(*r),
                Expect::Pending => Got::Pending,
                Expect::Blocks => Got::Hang,
            })
            .collect();
        let effects: Vec<Vec<Got>> = c
            .program
            .steps
            .iter()
            .map(|s| {
                s.after
                    .iter()
                    .map(|e| match &e.expect {
                        Expect::Done(r) => Got::Done(*r),
                        _ => Got::Pending,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(judge_all(&c.program, &got, &effects), Verdict::Conforms);
        let step = c
            .program
            .steps
            .iter()
            .position(|s| matches!(s.act, Act::Register { .. }))
            .unwrap();
        let mut p = c.program.clone();
        assert!(perturb(&mut p, step));
        let v = judge_all(&p, &got, &effects);
        assert_eq!(
            v.text(),
            format!(
                "diverges at step {step} (REGISTER_IO_BUF t0 idx 0: expected -22 (EINVAL), got 0)"
            )
        );
    }

    #[test]
    fn shrinking_offers_smaller_valid_programs() {
        let mp = &corpus_programs()[0];
        let f = Preset::K72.features();
        let c = shrink_candidates(mp, f);
        assert!(!c.is_empty());
        assert!(c.iter().all(|x| x.order.len() < mp.order.len()));
    }
}
