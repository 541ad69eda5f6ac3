//! Trace inclusion: every execution of the atomics-level harness
//! ([`crate::refcount`]) must be a run of the step model, so the two layers
//! cannot drift apart.
//!
//! The harness threads become server threads of a zero-copy scenario (thread
//! 0 the daemon, others off-task helpers with rings of their own).  The
//! model is first driven to the state the harness starts in (the request
//! dispatched to the daemon: `io->ref = INIT`, `trb = 0`, helpers not yet
//! started), then each logged event is one step of the matching server
//! actor, with the same user-visible result.  At the end of a complete log
//! the model's `io->ref`, `task_registered_buffers` and request completions
//! equal the harness's.

use crate::refcount::{Ev, Op as HOp, Who, EINVAL};
use std::collections::{HashSet, VecDeque};
use ublk_model::state::State;
use ublk_model::view::Refs;
use ublk_model::{
    ActorSpec, Bio, CtrlOp, DevConfig, Features, Model, Op, Outcome, Preset, Scenario,
};

/// The step-model scenario for harness programs `progs` (thread 0 = daemon).
pub fn scenario(progs: &[Vec<HOp>]) -> Scenario {
    let mut actors = Vec::new();
    for (i, p) in progs.iter().enumerate() {
        let mut prog = Vec::new();
        if i == 0 {
            prog.push(Op::Fetch {
                q: 0,
                tag: 0,
                buf: false,
            });
            prog.push(Op::WaitCqe { q: 0, tag: 0 });
        }
        let (mut reg, mut unreg) = (0u8, 0u8);
        for op in p {
            prog.push(match op {
                HOp::Register => {
                    reg += 1;
                    Op::Register {
                        q: 0,
                        tag: 0,
                        idx: reg - 1,
                    }
                }
                HOp::Release => {
                    unreg += 1;
                    Op::Unregister {
                        q: 0,
                        tag: 0,
                        idx: unreg - 1,
                    }
                }
                HOp::Commit => Op::Commit {
                    q: 0,
                    tag: 0,
                    result: 4096,
                    buf: false,
                },
            });
        }
        actors.push(ActorSpec::Server {
            name: if i == 0 {
                "daemon".into()
            } else {
                format!("helper{i}")
            },
            fixed_file: true,
            prog,
        });
    }
    actors.push(ActorSpec::Submitter {
        q: 0,
        bios: vec![Bio::Read],
    });
    actors.push(ActorSpec::Control {
        prog: vec![CtrlOp::StartDev],
    });
    Scenario {
        name: "refcount-harness".into(),
        doc: "the atomics-level harness's threads as server threads".into(),
        dev: DevConfig {
            table_size: 4,
            ..DevConfig::default()
        },
        actors,
    }
}

/// The state the harness starts in: the request dispatched to the daemon,
/// which is about to run its first harness operation; helpers not started.
pub fn start_state(m: &Model, helpers: usize) -> Result<State, String> {
    let init = m.init();
    let mut seen = HashSet::from([init.clone()]);
    let mut work = VecDeque::from([init]);
    while let Some(s) = work.pop_front() {
        if s.actors[0].next_op == 2 && !s.actors[0].in_kernel() && m.slot_view(&s, 0).owned() {
            return Ok(s);
        }
        for (info, next) in m.successors(&s) {
            let a = info.actor as usize;
            if (1..=helpers).contains(&a) || (a == 0 && s.actors[0].next_op >= 2) {
                continue;
            }
            if let Ok(n) = next {
                if seen.insert(n.clone()) {
                    work.push_back(n);
                }
            }
        }
    }
    Err("the model never dispatches the request to the daemon".into())
}

fn expected(ev: Ev) -> Option<Option<i32>> {
    match ev {
        Ev::DaemonRegister(r) | Ev::Register(r) => Some(Some(r)),
        Ev::Lookup | Ev::IncNotZero(true) | Ev::Started(true) => Some(None),
        Ev::IncNotZero(false) | Ev::Started(false) => Some(Some(EINVAL)),
        Ev::Release | Ev::Commit => None,
    }
}

/// Check one harness log against the model on POST and on K72; `finals`:
/// the harness's `(io->ref, trb, completions)` when the log is complete.
pub fn check_log(
    progs: &[Vec<HOp>],
    log: &[(Who, Ev)],
    finals: Option<(u32, u32, u32)>,
) -> Result<(), String> {
    for p in [Preset::Post, Preset::K72] {
        check_log_on(p.features(), progs, log, finals).map_err(|e| format!("{}: {e}", p.name()))?;
    }
    Ok(())
}

fn check_log_on(
    feat: Features,
    progs: &[Vec<HOp>],
    log: &[(Who, Ev)],
    finals: Option<(u32, u32, u32)>,
) -> Result<(), String> {
    let sc = scenario(progs);
    let m = Model::new(&sc, feat)?;
    let mut s = start_state(&m, progs.len() - 1)?;
    for (i, &(who, ev)) in log.iter().enumerate() {
        let r = m
            .apply(&mut s, who)
            .map_err(|v| format!("event {i} {ev:?} of thread {who}: model violation {v:?}"))?;
        let Outcome::Stepped(info) = r else {
            return Err(format!(
                "event {i} {ev:?} of thread {who}: the model cannot take this step"
            ));
        };
        if let Some(want) = expected(ev) {
            if info.result != want {
                return Err(format!(
                    "event {i} {ev:?} of thread {who}: model step {} gives {:?}, harness {want:?}",
                    info.func, info.result
                ));
            }
        }
    }
    if let Some((r, t, c)) = finals {
        let io = m.slot_view(&s, 0);
        let ended: u32 = m.req_views(&s).map(|q| q.ends as u32).sum();
        let io_ref = match io.refs {
            Refs::Io(v) => v,
            Refs::Pdu(_) => 0, // before p02 `io->ref` does not exist
        };
        if (io_ref, io.trb, ended) != (r, t, c) {
            return Err(format!(
                "after the log: model ref {io_ref} trb {} completions {ended}, harness ref {r} trb {t} completions {c}",
                io.trb
            ));
        }
    }
    Ok(())
}
