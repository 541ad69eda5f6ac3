//! Sequential programs for the real kernel: from the model (a scenario plus an order of user
//! actions, see [`crate::conform::oracle`]) to a [`Program`] the real-device executor runs
//! (`realdev/src/exec.rs`), from a saved trace to such an order, random programs
//! (`ublksim conform`) and the shrinking of a divergent one.

use crate::conform::choice::{ChoicePoint, Chooser};
use crate::conform::oracle::{self, is_kernel_actor, Observed};
use std::collections::{HashMap, HashSet};
use ublk_model::state::{ActorId, CmdSt};
use ublk_model::{
    Bio, CopyMode, CtrlOp, DevConfig, Features, Kind, Model, Op, Outcome, Preset, Recovery,
    Scenario, State,
};
use ublk_program::*;
use ublk_traces::{Header, Trace, TraceStep};

/// A kernel the conformance runs target: the model's preset for it and the VM's kernel.
#[derive(Clone, Copy, Debug)]
pub struct KernelTarget {
    pub name: &'static str,
    pub preset: Preset,
    /// `UBLK_VM_KERNEL` for `scripts/vm/run.sh`: the kernel line it boots.
    pub vm_line: &'static str,
}

/// `--kernel NAME`: a VM line of the kernel table (7.2, 6.12) or its preset's name (K72).
pub fn kernel_target(name: &str) -> Result<KernelTarget, String> {
    let (preset, vm) = Preset::for_vm(name)
        .ok_or_else(|| format!("unknown kernel '{name}' (known: {})", Preset::vm_lines()))?;
    Ok(KernelTarget {
        name: vm.line,
        preset,
        vm_line: vm.line,
    })
}

/// The kernel line (`7.2`, `6.12`) of a `uname -r` release string
/// (`7.2.13+deb14-cloud-amd64` → `7.2`).
pub fn release_line(release: &str) -> Option<String> {
    let mut it = release.trim().split(['.', '-', '+']);
    let (major, minor) = (it.next()?, it.next()?);
    let num = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (num(major) && num(minor)).then(|| format!("{major}.{minor}"))
}

/// The kernel to compare with: `--kernel` if given, else on this host's device (`--device`)
/// the host's own kernel (`/proc/sys/kernel/osrelease`), else 7.2. A host kernel no preset
/// models is refused, and an explicit `--kernel` other than the host's is a warning: the
/// device then answers for another kernel than the model predicts.
pub fn resolve_kernel(explicit: Option<&str>, device: bool) -> Result<KernelTarget, String> {
    if !device {
        return kernel_target(explicit.unwrap_or("7.2"));
    }
    if !std::path::Path::new("/dev/ublk-control").exists() {
        return Err(
            "/dev/ublk-control not found: this kernel has no ublk_drv (use --vm to boot one)"
                .into(),
        );
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_err(|e| format!("cannot read this host's kernel release: {e}"))?;
    let release = release.trim();
    let host = release_line(release);
    match explicit {
        Some(k) => {
            let t = kernel_target(k)?;
            if host.as_deref() != Some(t.vm_line) {
                eprintln!(
                    "warning: this host runs {release}, compared with the model of {} (--kernel)",
                    t.vm_line
                );
            }
            Ok(t)
        }
        None => host
            .as_deref()
            .and_then(|l| kernel_target(l).ok())
            .ok_or_else(|| {
                format!(
                    "this host runs {release}, which no preset models (known: {}); give --kernel \
                     to compare its device with one of them anyway",
                    Preset::vm_lines()
                )
            }),
    }
}

/// A sequential program in the model's terms.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelProgram {
    pub id: String,
    pub scenario: Scenario,
    pub order: Vec<ActorId>,
}

/// Run kernel actors until none can move (the oracle's fair `settle`), recording their steps.
pub(crate) fn settle(m: &Model, s: &mut State, steps: &mut Vec<TraceStep>) -> Result<(), String> {
    settle_choosing(m, s, steps, &mut Chooser::default())
}

/// [`settle`] with the tag choices of `ch`.
fn settle_choosing(
    m: &Model,
    s: &mut State,
    steps: &mut Vec<TraceStep>,
    ch: &mut Chooser,
) -> Result<(), String> {
    oracle::settle_with(m, s, ch, |a, info| push_step(m, steps, a, info)).map_err(|v| v.to_string())
}

fn push_step(m: &Model, steps: &mut Vec<TraceStep>, a: ActorId, info: &ublk_model::StepInfo) {
    steps.push(TraceStep {
        i: steps.len() as u32,
        actor: m.actors[a as usize].name.clone(),
        actor_id: a,
        choice: info.choice,
        func: info.func.label().to_string(),
        result: info.result,
    });
}

pub(crate) fn mid_op(m: &Model, s: &State, a: ActorId) -> bool {
    let st = &s.actors[a as usize];
    match m.actors[a as usize].kind {
        Kind::Submitter { .. } => st.bio_dispatching(),
        _ => st.in_kernel(),
    }
}

/// Is the request whose buffer sits at index `idx` of server `a`'s ring a WRITE?
fn registered_write(m: &Model, s: &State, a: ActorId, idx: u8) -> bool {
    let Kind::Server { ring, .. } = m.actors[a as usize].kind else {
        return false;
    };
    let node = s.rings[ring as usize]
        .table
        .get(idx as usize)
        .copied()
        .flatten();
    node.and_then(|n| s.nodes[n as usize].as_ref())
        .is_some_and(|n| s.reqs[n.rq as usize].write)
}

/// The action an actor's next operation is, from the state before it.
fn act_of(m: &Model, s: &State, a: ActorId) -> Result<Act, String> {
    let st = &s.actors[a as usize];
    let name = &m.actors[a as usize].name;
    Ok(match &m.actors[a as usize].kind {
        Kind::Server { prog, .. } => {
            let Some((op, _)) = prog.get(st.next_op as usize) else {
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
                Op::FixedIo { idx } => Act::FixedIo {
                    idx: idx as u16,
                    write: registered_write(m, s, a, idx),
                },
                Op::UserCopy {
                    tag, off, len, dir, ..
                } => Act::UserCopy {
                    tag: tag as u16,
                    off,
                    len,
                    dir: dir.map(|d| match d {
                        ublk_model::CopyDir::Pread => CopyDir::Pread,
                        ublk_model::CopyDir::Pwrite => CopyDir::Pwrite,
                    }),
                },
                Op::WaitCqe { tag, .. } => Act::WaitCqe { tag: tag as u16 },
                Op::Exit => Act::Exit,
                Op::ThreadExit => Act::ThreadExit,
                Op::CloseRing => Act::CloseRing,
                Op::Loop { .. } | Op::Goto { .. } => {
                    return Err(format!("{name}: Loop/Goto programs are not supported yet"))
                }
            }
        }
        Kind::Submitter { bios, .. } => match (st.in_kernel(), bios.get(st.next_op as usize)) {
            (false, Some(Bio::Read)) => Act::Read,
            (false, Some(Bio::Write)) => Act::Write,
            (false, None) => return Err(format!("{name}: no bio left")),
            _ => Act::BioWait,
        },
        Kind::Control { prog } => match (st.in_kernel(), prog.get(st.next_op as usize)) {
            (false, Some(CtrlOp::StartDev)) => Act::StartDev,
            (false, Some(CtrlOp::StopDev)) => Act::StopDev,
            // the model's StartUserRecovery waits until the old server's file is closed and
            // the device QUIESCED (a tool that polls: the executor retries -EBUSY); the Once
            // variant takes the first answer
            (false, Some(CtrlOp::StartUserRecovery)) => Act::StartUserRecovery { poll: true },
            (false, Some(CtrlOp::StartUserRecoveryOnce)) => Act::StartUserRecovery { poll: false },
            (false, Some(CtrlOp::EndUserRecovery)) => Act::EndUserRecovery,
            (false, Some(CtrlOp::DelDev)) => Act::DelDev,
            // data[0] = 0: no timeout, as the model has it
            (false, Some(CtrlOp::QuiesceDev)) => Act::QuiesceDev { timeout_ms: 0 },
            (false, Some(CtrlOp::UpdateSize)) => Act::UpdateSize,
            (false, None) => return Err("control: no command left".into()),
            _ => Act::CtrlWait,
        },
        Kind::Killer => Act::Kill,
        Kind::FdHolder => Act::CloseFd,
        Kind::Elevator if st.in_kernel() => Act::CtrlWait,
        Kind::Elevator if st.done => return Err("the elevator switch is done".into()),
        Kind::Elevator => Act::SwitchElevator,
        _ => return Err(format!("{name} is a kernel actor")),
    })
}

/// The scenario's actors in the order `Model::new` numbers them (position = `ActorId`): the
/// first process's server threads, the recovery server's, the other strands of server
/// threads, then the rest in scenario order.
pub(crate) fn actor_specs(sc: &ublk_model::Scenario) -> Vec<usize> {
    use ublk_model::ActorSpec;
    let rank = |a: &ActorSpec| match a {
        ActorSpec::Server { .. } => 0,
        ActorSpec::RecoveryServer { .. } => 1,
        ActorSpec::Strand { .. } => 2,
        _ => 3,
    };
    let mut v: Vec<usize> = (0..sc.actors.len()).collect();
    v.sort_by_key(|&i| rank(&sc.actors[i])); // stable: scenario order within a rank
    v
}

/// The one hw queue a server thread's io commands name: a real thread acts on the queue whose
/// descriptors it mapped (`ThreadSpec.queue`), where the model names the queue per operation.
fn server_queue(name: &str, prog: &[(Op, Option<u8>)]) -> Result<u16, String> {
    // a bad-type command's q_id is the executor's own (the program does not carry it; a
    // hand-written one may name a queue the device lacks), so the other commands decide —
    // but a thread with bad-type commands alone runs on their queue: on 6.12 the q_id
    // decides whether `ubq_daemon != current` fails it (-EINVAL) before the type check (a
    // helper whose only command was a bad-type one on queue 1 ran on queue 0: s20261215-332
    // and -1685 of the 6.12 run with seed 20261215, expected -EOPNOTSUPP, got -EINVAL)
    let queues = |bad: bool| {
        (prog.iter())
            .filter(move |(op, _)| matches!(op, Op::BadType { .. }) == bad)
            .filter_map(|(op, _)| op.queue())
    };
    let mut qs = queues(false);
    let q = qs.next().or_else(|| queues(true).next()).unwrap_or(0);
    if qs.any(|o| o != q) {
        return Err(format!(
            "server thread {name} acts on two hw queues (a real server thread maps one queue's \
             descriptors)"
        ));
    }
    Ok(q as u16)
}

/// The effect after an action of earlier step `k`, whose completion user space waits for: still
/// pending (`done` None), or its result `done`, reported once.
fn outstanding(
    after: &mut Vec<Effect>,
    reported: &mut HashSet<usize>,
    k: usize,
    done: Option<i32>,
) {
    match done {
        None => after.push(Effect {
            of: k,
            expect: Expect::Pending,
        }),
        Some(r) if reported.insert(k) => after.push(Effect {
            of: k,
            expect: Expect::Done(Some(r)),
        }),
        Some(_) => {}
    }
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
    if !(1..=2).contains(&d.nr_queues) {
        return Err(format!(
            "{} queues: the executor's VM has 2 CPUs, one per hw queue",
            d.nr_queues
        ));
    }
    if d.nr_queues > 1 && d.part_scan {
        // 6.12's START_DEV reads sector 0 from the control task's CPU, whose hw queue the
        // executor does not pin; the model sends that read to queue 0
        return Err(
            "a partition scan on a device of two queues (its read's queue is the \
                    control task's CPU's)"
                .into(),
        );
    }
    if d.fake_timeout || d.get_data_fails || d.bad_auto_fetch {
        return Err(
            "fault injection (fake_timeout, get_data_fails, bad_auto_fetch) cannot be set up \
             on a real device"
                .into(),
        );
    }
    if d.elevator && d.nr_queues > 1 {
        // elevator_set_default attaches mq-deadline to single-queue devices only
        return Err("an I/O scheduler on a device of two queues".into());
    }
    Ok(DevCfg {
        queues: d.nr_queues as u16,
        depth: d.depth as u16,
        copy: match d.copy {
            CopyMode::Copy => CopyKind::Copy,
            CopyMode::UserCopy => CopyKind::UserCopy,
            CopyMode::ZeroCopy => CopyKind::ZeroCopy,
            CopyMode::AutoBufReg if d.auto_no_zc => CopyKind::AutoBufRegOnly,
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
        privileged: d.part_scan,
        quiesce: d.quiesce,
        auto_fallback: d.auto_fallback,
        elevator: d.elevator,
        io_bytes: d.io_bytes,
    })
}

/// Compile `mp` under `feat`: the program with the oracle's expectation for each action and
/// the predicted completions after it. Errors: the scenario cannot be run on a real device, or
/// the order is not a program of it.
pub fn compile(mp: &ModelProgram, feat: Features) -> Result<Compiled, String> {
    compile_with(mp, feat, &[]).map(|(c, _)| c)
}

/// [`compile`] with the `forced` tag choices ([`Chooser::forced`]); also returns the choice
/// points of the run.
pub fn compile_with(
    mp: &ModelProgram,
    feat: Features,
    forced: &[u8],
) -> Result<(Compiled, Vec<ChoicePoint>), String> {
    if (mp.scenario.actors.iter()).any(|a| matches!(a, ublk_model::ActorSpec::Strand { .. })) {
        // a real thread is one sequence of syscalls; the executor has no event loop yet
        return Err(
            "a server thread of several strands (an event loop that takes CQEs in any \
             order) is not expressible yet"
                .into(),
        );
    }
    let m = oracle::oracle_model(&mp.scenario, feat)?;
    let prediction = oracle::predict_with(&m, &mp.order, &mut Chooser::forced(forced))?;
    let mut ch = Chooser::forced(forced);
    let n_user = (0..m.actors.len() as ActorId)
        .take_while(|&a| !is_kernel_actor(&m, a))
        .count();
    let threads: Vec<ThreadSpec> = m.actors[..n_user]
        .iter()
        .map(|d| {
            Ok(ThreadSpec {
                name: d.name.clone(),
                kind: match &d.kind {
                    Kind::Server { task, process, .. } => ThreadKind::Server {
                        fixed_file: m.fixed_file[*task as usize],
                        process: *process,
                    },
                    Kind::Submitter { .. } => ThreadKind::Submitter,
                    Kind::Control { .. } => ThreadKind::Control,
                    Kind::Killer => ThreadKind::Killer,
                    Kind::FdHolder => ThreadKind::FdHolder,
                    Kind::Elevator => ThreadKind::Elevator,
                    _ => ThreadKind::Control,
                },
                queue: match &d.kind {
                    Kind::Submitter { q, .. } => *q as u16,
                    Kind::Server { prog, .. } => server_queue(&d.name, prog)?,
                    _ => 0,
                },
            })
        })
        .collect::<Result<_, String>>()?;
    let mut s = m.init();
    let mut tsteps = Vec::new();
    settle_choosing(&m, &mut s, &mut tsteps, &mut ch)?;
    ch.end_action(&m, &s);
    let mut steps = Vec::new();
    // issuing step of each model cmd; outstanding bio (submit step) per submitter
    let mut cmd_step: HashMap<u8, usize> = HashMap::new();
    let mut bio_step: HashMap<ActorId, usize> = HashMap::new();
    let mut reported_done: HashSet<usize> = HashSet::new();
    // the elevator switch's write and the control command still inside the kernel (each
    // its step): their return is an effect of the action during which the kernel finished
    // them (they go on unasked, `oracle::runs_unasked`)
    let mut elev_step: Option<(usize, ActorId)> = None;
    let mut ctrl_step: Option<(usize, ActorId)> = None;
    for (i, &a) in mp.order.iter().enumerate() {
        let Some(pred) = prediction.steps.get(i) else {
            break; // the model broke an invariant before this action
        };
        if a as usize >= n_user {
            return Err(format!("action {i}: actor {a} is not a user actor"));
        }
        let act = act_of(&m, &s, a)?;
        if let Kind::Server { prog, .. } = &m.actors[a as usize].kind {
            let (op, cmd) = &prog[s.actors[a as usize].next_op as usize];
            if let (Some(c), false) = (cmd, matches!(op, Op::WaitCqe { .. })) {
                cmd_step.insert(*c, i);
            }
        }
        if matches!(act, Act::Read | Act::Write) {
            bio_step.insert(a, i);
        }
        let elevator_write = matches!(m.actors[a as usize].kind, Kind::Elevator);
        if act == Act::SwitchElevator {
            elev_step = Some((i, a));
        }
        let ctrl_cmd =
            matches!(m.actors[a as usize].kind, Kind::Control { .. }) && act != Act::CtrlWait;
        let first_tstep = tsteps.len();
        // execute the action as the oracle does
        ch.start_action(i);
        loop {
            match ch.apply(&m, &mut s, a) {
                Err(_) => break,
                Ok(Outcome::Stepped(info)) => {
                    push_step(&m, &mut tsteps, a, &info);
                    if settle_choosing(&m, &mut s, &mut tsteps, &mut ch).is_err() {
                        break;
                    }
                    if info.result.is_some() || !mid_op(&m, &s, a) {
                        break;
                    }
                }
                Ok(Outcome::Blocked) => break,
            }
        }
        ch.end_action(&m, &s);
        if ctrl_cmd && s.actors[a as usize].in_kernel() {
            ctrl_step = Some((i, a));
        }
        if matches!(act, Act::Read | Act::Write | Act::BioWait) && !s.actors[a as usize].in_kernel()
        {
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
            let done = st.bio_ended(&s.reqs).then_some(st.res);
            outstanding(&mut after, &mut reported_done, k, done);
        }
        if let Some((k, e)) = elev_step.filter(|&(k, _)| k != i) {
            // the write to queue/scheduler returns its length: 0 for the executor
            let done = (!s.actors[e as usize].in_kernel()).then_some(0);
            outstanding(&mut after, &mut reported_done, k, done);
        }
        if let Some((k, c)) = ctrl_step.filter(|&(k, _)| k != i && !reported_done.contains(&k)) {
            // the control command's return value, from the step where it returned
            let ret = || {
                let mine = tsteps[first_tstep..].iter().filter(|t| t.actor_id == c);
                mine.filter_map(|t| t.result).next_back()
            };
            let done = if s.actors[c as usize].in_kernel() {
                None
            } else {
                Some(ret().ok_or_else(|| format!("action {i}: control returned no value"))?)
            };
            outstanding(&mut after, &mut reported_done, k, done);
        }
        if let Expect::Done(Some(_)) = expect_of(&pred.observed) {
            reported_done.insert(i);
        }
        let mut expect = expect_of(&pred.observed);
        if act == Act::CtrlWait && matches!(m.actors[a as usize].kind, Kind::Control { .. }) {
            // the wait reports the command's return itself
            if let (Expect::Done(Some(_)), Some((k, _))) = (&expect, ctrl_step) {
                reported_done.insert(k);
            }
        }
        if elevator_write && expect == Expect::Done(None) {
            // the switch (or the wait for it) returned: the write's 0
            expect = Expect::Done(Some(0));
            if let Some((k, _)) = elev_step {
                reported_done.insert(k);
            }
        }
        if expect == Expect::Pending && matches!(act, Act::Exit | Act::ThreadExit | Act::CloseRing)
        {
            // the oracle's "kept cmd" test looks at the op before pc, and an exit does not
            // advance pc: an exit is never itself pending (reported to the oracle's owner)
            expect = Expect::Done(None);
        }
        let act = match act {
            // a second START_USER_RECOVERY takes the first answer, but in a sequential run the
            // kernel settled before it: the previous server's file is released. A real exit
            // releases it in the ring's exit work, after exit_group returns, so an -EBUSY the
            // model does not predict is the kernel not yet settled: retried like the first
            // (O-11's program: -EBUSY 3 of 3 without the retry)
            Act::StartUserRecovery { poll: false } if expect != Expect::Done(Some(-16)) => {
                Act::StartUserRecovery { poll: true }
            }
            act => act,
        };
        steps.push(Step {
            thread: a as usize,
            act,
            expect,
            after,
            race_us: None,
        });
    }
    Ok((
        Compiled {
            program: Program {
                id: mp.id.clone(),
                dev: dev_cfg(&mp.scenario.dev)?,
                threads,
                steps,
            },
            prediction,
            steps: tsteps,
        },
        ch.points,
    ))
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
    let m = oracle::oracle_model(&t.header.scenario, t.header.features)?;
    let mut s = m.init();
    let mut order = Vec::new();
    for st in &t.steps {
        let a = st.actor_id;
        if a as usize >= m.actors.len() {
            return Err(format!("step {}: no actor {a}", st.i));
        }
        // a user action ends when its actor is back outside the kernel, or when another user
        // actor acts (the oracle ran it until it blocked: a control command waiting inside,
        // like START_DEV for a partition scan's read, resumes as a new action)
        if !oracle::runs_unasked(&m, &s, a) && (!mid_op(&m, &s, a) || order.last() != Some(&a)) {
            order.push(a);
        }
        let mv = ublk_model::Move {
            actor: a,
            choice: st.choice,
        };
        match m.apply(&mut s, mv) {
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
