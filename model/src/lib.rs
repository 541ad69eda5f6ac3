//! # ublk-model
//!
//! The Linux ublk driver protocol (`drivers/block/ublk_drv.c`) as a
//! deterministic, engine-agnostic transition system.
//!
//! * [`Model::new`] compiles a [`Scenario`] under a set of behaviour
//!   switches ([`Features`], grouped in [`Preset`]s);
//! * [`Model::init`] gives the initial [`State`] (`Clone + Eq + Hash`);
//! * [`Model::apply`] advances one actor by one atomic step — the step names
//!   the kernel function it models — and checks the invariants, returning the
//!   step or the [`Violation`].
//!
//! There are no threads, no I/O and no globals here: the explorer, loom,
//! shuttle and the simulator all drive these same functions.

pub mod actors;
pub mod config;
pub mod defs;
mod dispatch;
pub mod exec;
pub mod features;
pub mod func;
mod independence;
pub mod invariants;
mod io_cmd;
pub mod k612;
mod kactors;
pub mod kernels;
pub mod liveness;
pub mod properties;
mod quiesce;
mod set_size;
pub mod state;
mod teardown;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_guards;
#[cfg(test)]
mod tests_k612;
#[cfg(test)]
mod tests_multiq;
#[cfg(test)]
mod tests_pid;
#[cfg(test)]
mod tests_stopped;
#[cfg(test)]
mod tests_strands;
mod uapi612;
pub mod view;

pub use config::*;
pub use defs::{ActorDef, CmdDef, Kind, Model, Move, Outcome, StepInfo};
pub use features::{apply_switches, Features, Sw, ALL_SWITCHES};
pub use func::Func;
pub use invariants::{Inv, Violation};
pub use kernels::{Kernel, Preset, KERNELS};
pub use liveness::{Obligation, Obligations, Prop};
pub use properties::{Expectation, Goal, Property, PropertyId};
pub use state::State;
pub use teardown::PID_REAPED;

use state::*;

/// Whether every server thread serves (FETCHes) at most one tag per queue.
/// A real server takes CQEs in the order they come and serves whichever tag
/// got the request; the model's server programs name the tag they wait for,
/// so a thread that FETCHes two tags of a queue and waits for one would wait
/// forever when the request went to the other — a hang of the program, not
/// of the kernel.  Only where no such thread exists may a request get any
/// free tag.
fn servers_serve_one_tag(actors: &[ActorDef]) -> bool {
    actors.iter().all(|d| match &d.kind {
        Kind::Server { prog, .. } => {
            let mut seen: Vec<(u8, u8)> = Vec::new();
            prog.iter().all(|(op, _)| match *op {
                Op::Fetch { q, tag, .. } => {
                    if !seen.contains(&(q, tag)) {
                        seen.push((q, tag));
                    }
                    seen.iter().filter(|&&(sq, _)| sq == q).count() == 1
                }
                _ => true,
            })
        }
        _ => true,
    })
}

/// A server strand's program with the cmd of each operation: every io command is a uring_cmd
/// of its own, and a `WaitCqe` waits for the strand's last FETCH / COMMIT / NEED_GET_DATA on
/// its (queue, tag) before it in program order.
fn compile_prog(
    name: &str,
    prog: &[Op],
    aid: ActorId,
    task: TaskId,
    ring: RingId,
    cmds: &mut Vec<CmdDef>,
) -> Result<Vec<(Op, Option<CmdId>)>, String> {
    let mut compiled = Vec::new();
    let mut last: Vec<((u8, u8), CmdId)> = Vec::new();
    for op in prog {
        let cmd =
            if let Some((q, tag)) = is_io_cmd(op) {
                let c = cmds.len() as CmdId;
                cmds.push(CmdDef {
                    actor: aid,
                    task,
                    ring,
                    q,
                    tag,
                    op: op.clone(),
                });
                if matches!(
                    op,
                    Op::Fetch { .. } | Op::Commit { .. } | Op::NeedGetData { .. }
                ) {
                    // only these can be kept by the driver: WaitCqe waits for them
                    last.retain(|(k, _)| *k != (q, tag));
                    last.push(((q, tag), c));
                }
                Some(c)
            } else if let Op::WaitCqe { q, tag } = op {
                let found = last.iter().find(|(k, _)| *k == (*q, *tag)).map(|(_, c)| *c);
                Some(found.ok_or_else(|| {
                    format!("{name}: WaitCqe q{q}t{tag} before any command on it")
                })?)
            } else {
                None
            };
        compiled.push((op.clone(), cmd));
    }
    Ok(compiled)
}

fn is_io_cmd(op: &Op) -> Option<(u8, u8)> {
    match *op {
        Op::Fetch { q, tag, .. }
        | Op::Commit { q, tag, .. }
        | Op::NeedGetData { q, tag }
        | Op::Register { q, tag, .. }
        | Op::Unregister { q, tag, .. }
        | Op::BadType { q, tag } => Some((q, tag)),
        _ => None,
    }
}

impl Model {
    /// Compile `sc` under `feat`.  Errors name what is wrong with the scenario.
    pub fn new(sc: &Scenario, feat: Features) -> Result<Model, String> {
        if let Some(why) = Model::unsupported(sc, feat) {
            return Err(format!("n/a: {why}"));
        }
        let d = &sc.dev;
        if d.nr_queues == 0 || d.depth == 0 || (d.nr_queues as usize * d.depth as usize) > 16 {
            return Err(format!("scenario {}: 1..=16 slots supported", sc.name));
        }
        if d.io_bytes == 0 || !d.io_bytes.is_multiple_of(512) || d.io_bytes > 32 << 10 {
            return Err(format!(
                "scenario {}: io_bytes {} is not a multiple of 512 in 512..=32768",
                sc.name, d.io_bytes
            ));
        }
        if d.auto_no_zc && d.copy != CopyMode::AutoBufReg {
            return Err(format!(
                "scenario {}: auto_no_zc is an AUTO_BUF_REG device without ZERO_COPY",
                sc.name
            ));
        }
        if d.auto_fallback && d.copy != CopyMode::AutoBufReg {
            return Err(format!(
                "scenario {}: auto_fallback is a flag of AUTO_BUF_REG's descriptor",
                sc.name
            ));
        }
        if d.quiesce && d.recovery == Recovery::None {
            // ublk_ctrl_add_dev: "UBLK_F_QUIESCE requires UBLK_F_USER_RECOVERY", -EINVAL
            return Err(format!(
                "scenario {}: UBLK_F_QUIESCE needs a user recovery mode",
                sc.name
            ));
        }
        let mut actors = Vec::new();
        let mut cmds = Vec::new();
        let mut rings = Vec::new();
        let mut fixed = Vec::new();
        let servers: Vec<_> = sc
            .actors
            .iter()
            .filter(|a| matches!(a, ActorSpec::Server { .. }))
            .chain(
                sc.actors
                    .iter()
                    .filter(|a| matches!(a, ActorSpec::RecoveryServer { .. })),
            )
            .collect();
        let mut procs = Vec::new();
        for (i, a) in servers.iter().enumerate() {
            let (name, prog, fixed_file, process) = match a {
                ActorSpec::Server {
                    name,
                    prog,
                    fixed_file,
                } => (name, prog, fixed_file, 0),
                ActorSpec::RecoveryServer {
                    name,
                    prog,
                    fixed_file,
                } => (name, prog, fixed_file, 1),
                _ => unreachable!(),
            };
            procs.push(process);
            let (task, ring) = (i as TaskId, i as RingId);
            rings.push(task);
            fixed.push(*fixed_file);
            let aid = actors.len() as ActorId;
            let compiled = compile_prog(name, prog, aid, task, ring, &mut cmds)?;
            actors.push(ActorDef {
                name: name.clone(),
                kind: Kind::Server {
                    task,
                    ring,
                    process,
                    prog: compiled,
                },
            });
        }
        let n_servers = servers.len() as u8;
        // the other strands of server threads, after every thread's first (actor `t` is the
        // first strand of task `t`)
        let mut strands: Vec<Vec<ActorId>> = (0..n_servers).map(|t| vec![t]).collect();
        for a in &sc.actors {
            let ActorSpec::Strand { name, of, prog } = a else {
                continue;
            };
            if *of >= n_servers {
                return Err(format!(
                    "scenario {}: strand {name} of unknown server thread {of}",
                    sc.name
                ));
            }
            let (task, ring) = (*of as TaskId, *of as RingId);
            let aid = actors.len() as ActorId;
            let compiled = compile_prog(name, prog, aid, task, ring, &mut cmds)?;
            strands[task as usize].push(aid);
            actors.push(ActorDef {
                name: name.clone(),
                kind: Kind::Server {
                    task,
                    ring,
                    process: procs[task as usize],
                    prog: compiled,
                },
            });
        }
        let (mut subs, mut kills) = (0, 0);
        for a in &sc.actors {
            let (name, kind) = match a {
                ActorSpec::Server { .. }
                | ActorSpec::RecoveryServer { .. }
                | ActorSpec::Strand { .. } => continue,
                ActorSpec::Submitter { q, bios } => {
                    if *q >= d.nr_queues {
                        return Err(format!(
                            "scenario {}: submitter on hw queue {q}, but the device has {}",
                            sc.name, d.nr_queues
                        ));
                    }
                    subs += 1;
                    (
                        format!("submitter{}", subs - 1),
                        Kind::Submitter {
                            q: *q,
                            bios: bios.clone(),
                        },
                    )
                }
                ActorSpec::Control { prog } => {
                    ("control".into(), Kind::Control { prog: prog.clone() })
                }
                ActorSpec::Killer => {
                    kills += 1;
                    (format!("sigkill{}", kills - 1), Kind::Killer)
                }
                ActorSpec::Elevator => ("elevator".into(), Kind::Elevator),
                ActorSpec::FdHolder => ("fd-holder".into(), Kind::FdHolder),
                ActorSpec::RingClose { server } | ActorSpec::ThreadDeath { server } => {
                    if *server >= n_servers {
                        return Err(format!(
                            "scenario {}: fault on unknown server thread {server}",
                            sc.name
                        ));
                    }
                    // as the trace format has it: a fault names a thread of the first
                    // server process (a recovery server's thread does not exist before
                    // START_USER_RECOVERY; the fault, which waits for no process, would
                    // close a ring that was never set up — it lost a cmd on 7.2)
                    if procs[*server as usize] != 0 {
                        return Err(format!(
                            "scenario {}: fault on server thread {server}, a thread of the \
                             recovery server (a fault may name only a first-process thread)",
                            sc.name
                        ));
                    }
                    let victim = &actors[*server as usize].name;
                    if matches!(a, ActorSpec::RingClose { .. }) {
                        (
                            format!("close-ring({victim})"),
                            Kind::RingCloseFault { task: *server },
                        )
                    } else {
                        (
                            format!("thread-death({victim})"),
                            Kind::ThreadDeathFault { task: *server },
                        )
                    }
                }
            };
            let _ = kills;
            actors.push(ActorDef { name, kind });
        }
        for i in 0..n_servers {
            let n = actors[i as usize].name.clone();
            actors.push(ActorDef {
                name: format!("tw({n})"),
                kind: Kind::TaskWork { task: i },
            });
            actors.push(ActorDef {
                name: format!("ring-exit({n})"),
                kind: Kind::RingExit { ring: i },
            });
            let fixed_io = strands[i as usize].iter().any(|&a| {
                let Kind::Server { prog, .. } = &actors[a as usize].kind else {
                    unreachable!()
                };
                prog.iter().any(|(op, _)| matches!(op, Op::FixedIo { .. }))
            });
            if fixed_io {
                actors.push(ActorDef {
                    name: format!("fixed-io({n})"),
                    kind: Kind::FixedIo { ring: i },
                });
            }
        }
        if procs.contains(&1) {
            actors.push(ActorDef {
                name: "new-server-open".into(),
                kind: Kind::Opener,
            });
        }
        actors.push(ActorDef {
            name: "requeue-work".into(),
            kind: Kind::RequeueWork,
        });
        if d.part_scan && !feat.has(Sw::AsyncPartScan) {
            actors.push(ActorDef {
                name: "part-scan".into(),
                kind: Kind::PartScan { q: 0 },
            });
        }
        if feat.has(Sw::ReleaseWork) {
            actors.push(ActorDef {
                name: "release-work".into(),
                kind: Kind::ReleaseWork,
            });
        } else {
            // K612: the timeout handler per queue and stop/quiesce work
            for q in 0..d.nr_queues {
                actors.push(ActorDef {
                    name: format!("ublk_timeout(q{q})"),
                    kind: Kind::Timeout { q },
                });
            }
            actors.push(ActorDef {
                name: "nosrv-work".into(),
                kind: Kind::NosrvWork,
            });
        }
        if actors.len() > 200 || cmds.len() > 250 {
            return Err(format!("scenario {}: too many actors or commands", sc.name));
        }
        // with no bio there is no tag to choose: the flag then says nothing either way
        let takes_tags = (actors.iter())
            .any(|d| matches!(d.kind, Kind::Submitter { .. } | Kind::PartScan { .. }));
        let any_tag = !takes_tags || servers_serve_one_tag(&actors);
        let allocations_bounded = independence::allocations_bounded(&actors);
        let mut ring_exit = vec![0; n_servers as usize];
        for (a, d) in actors.iter().enumerate() {
            if let Kind::RingExit { ring } = d.kind {
                ring_exit[ring as usize] = a as ActorId;
            }
        }
        Ok(Model {
            scenario: sc.clone(),
            dev: sc.dev.clone(),
            feat,
            any_tag,
            allocations_bounded,
            actors,
            cmds,
            rings,
            fixed_file: fixed,
            procs,
            n_servers,
            ring_exit,
            strands,
        })
    }

    pub fn nr_slots(&self) -> u8 {
        self.dev.nr_queues * self.dev.depth
    }

    pub fn server_tasks(&self) -> impl Iterator<Item = TaskId> {
        0..self.n_servers
    }

    /// The tasks of server process `p`.
    pub fn proc_tasks(&self, p: u8) -> impl Iterator<Item = TaskId> + '_ {
        (0..self.n_servers).filter(move |&t| self.procs[t as usize] == p)
    }

    /// The state before anything happened: device added, /dev/ublkcN open
    /// by the server process, every ring registered it as a fixed file.
    pub fn init(&self) -> State {
        let n = self.nr_slots() as usize;
        let pools = if self.dev.elevator {
            1 + self
                .actors
                .iter()
                .filter(|a| a.kind == Kind::Elevator)
                .count()
        } else {
            1
        };
        let req = Req {
            alive: true,
            allocated: false,
            started: false,
            q: 0,
            tag: None,
            write: false,
            bytes: 0,
            pdu_ref: 0,
            round: 0,
            ended: 0,
            res: 0,
            owner: None,
            g_hold: false,
            g_out: 0,
        };
        let slot = Slot {
            flags: 0,
            cell: Cell::None,
            task: None,
            refcnt: 0,
            trb: 0,
            res: 0,
            buf_ctx: None,
            g_round: None,
            g_out: 0,
            g_aborted: false,
        };
        State {
            dev: Dev {
                state: DevState::Dead,
                used: false,
                disk_removed: false,
                has_disk: false,
                disk_dying: false,
                file_refs: 1
                    + self.proc_tasks(0).count() as u8
                    + self
                        .actors
                        .iter()
                        .filter(|a| a.kind == Kind::FdHolder)
                        .count() as u8,
                open: true,
                recovering: false,
                new_server_open: false,
                recovery_tried: false,
                ublksrv_tgid: Some(0),
                reaped: 0,
                completion_done: false,
                g_recovered: false,
                canceling: false,
                nr_io_ready: 0,
                mutex: None,
                cancel_mutex: None,
                quiesced: 0,
                in_dispatch: 0,
                frozen: false,
                requeue: smallvec::smallvec![],
                requeue_run: smallvec::smallvec![],
                release_pending: false,
                sched_pool: 0,
                fake_timeout_used: false,
                g_stopped_unstarted: false,
                get_data_fail_used: false,
                bad_auto_used: false,
                part_scan: false,
                stop_work: false,
                quiesce_work: false,
            },
            queues: smallvec::smallvec![
                state::Queue {
                    nr_io_ready: 0,
                    canceling: false,
                    force_abort: false,
                    fail_io: false,
                    daemon: None
                };
                self.dev.nr_queues as usize
            ],
            slots: smallvec::smallvec![slot; n],
            tags_rqs: smallvec::smallvec![None; n],
            reqs: smallvec::smallvec![req; n * pools],
            cmds: smallvec::smallvec![
                Cmd {
                    st: CmdSt::NotIssued,
                    cancelable: false,
                    pdu_rq: None,
                    g_claimed: false
                };
                self.cmds.len()
            ],
            rings: (0..self.n_servers)
                .map(|_| Ring {
                    table: smallvec::smallvec![None; self.dev.table_size as usize],
                    fixed_ops: smallvec::smallvec![],
                    exiting: false,
                    freed: false,
                })
                .collect(),
            nodes: smallvec::smallvec![],
            tasks: smallvec::smallvec![
                Task {
                    exiting: false,
                    tw: smallvec::smallvec![]
                };
                self.n_servers as usize
            ],
            actors: smallvec::smallvec![ActorSt::default(); self.actors.len()],
        }
    }

    /// One atomic step of actor `a`, then the state invariants.
    /// Takes an actor (its first alternative) or a [`Move`].
    pub fn apply(&self, s: &mut State, mv: impl Into<Move>) -> Result<Outcome, Violation> {
        let out = self.step(s, mv)?;
        self.check_after(s, out)
    }

    /// [`Model::apply`] for a move [`Model::moves`] listed for this very state (see
    /// [`Model::step_enabled`]).
    pub fn apply_enabled(&self, s: &mut State, mv: Move) -> Result<Outcome, Violation> {
        let out = self.step_enabled(s, mv)?;
        self.check_after(s, out)
    }

    /// The state invariants after a step, named after the step's function.
    fn check_after(&self, s: &State, out: Outcome) -> Result<Outcome, Violation> {
        if let Outcome::Stepped(info) = &out {
            invariants::check(self, s).map_err(|mut v| {
                v.func = info.func.to_string();
                v
            })?;
        }
        Ok(out)
    }

    /// Every enabled step from `s`, each alternative of it
    /// ([`Model::choices`]): (step, next state or the violation).
    pub fn successors(&self, s: &State) -> Vec<(StepInfo, Result<State, Violation>)> {
        let mut out = Vec::new();
        for mv in self.moves(s) {
            let mut n = s.clone();
            match self.apply(&mut n, mv) {
                Ok(Outcome::Blocked) => {}
                Ok(Outcome::Stepped(info)) => out.push((info, Ok(n))),
                Err(v) => {
                    let info = StepInfo {
                        actor: mv.actor,
                        choice: mv.choice,
                        func: Func::Violation,
                        result: None,
                    };
                    out.push((info, Err(v)))
                }
            }
        }
        out
    }

    /// The moves to try from `s`: every actor that may step and whose program is not over
    /// ([`Model::program_over`]: that step would only be blocked), each with every
    /// alternative of its next step (a move may still turn out blocked).
    pub fn moves<'a>(&'a self, s: &'a State) -> impl Iterator<Item = Move> + 'a {
        (0..self.actors.len() as ActorId)
            .filter(move |&a| self.may_step(s, a) && !self.program_over(s, a))
            .flat_map(move |a| {
                let n = self.choices(s, a);
                (0..n).map(move |choice| Move { actor: a, choice })
            })
    }

    /// The actor called `name` (actor names are unique within a model).
    pub fn actor_id(&self, name: &str) -> Option<ActorId> {
        self.actors
            .iter()
            .position(|d| d.name == name)
            .map(|i| i as ActorId)
    }

    /// All declared actors have finished (no blocked program left).
    pub fn all_done(&self, s: &State) -> bool {
        (0..self.actors.len() as ActorId).all(|a| self.finished(s, a))
    }

    /// Has actor `a` finished its program (always, for an actor that is not declared)?
    ///
    /// Why not just `done`: an actor whose program is over (a submitter past its last
    /// bio, a server thread past its last op or killed, a control program past its last
    /// command) marks itself done in a step that changes nothing else and reports itself
    /// blocked. An engine that steps one shared state (loom, shuttle, the simulator) keeps
    /// that mark; the explorer discards a blocked step's copy, so in its states such an
    /// actor is never marked. Counting a state as a dead end because of that would make
    /// every terminal state one (per-io-daemons-stress: 2,511 "dead ends", 20 real).
    pub fn finished(&self, s: &State, a: ActorId) -> bool {
        match self.actors[a as usize].kind {
            Kind::Server { .. } | Kind::Submitter { .. } | Kind::Control { .. } => {
                s.actors[a as usize].done || {
                    let mut n = s.clone();
                    matches!(self.step(&mut n, a), Ok(Outcome::Blocked))
                        && n.actors[a as usize].done
                }
            }
            _ => true,
        }
    }
}
