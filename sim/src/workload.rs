//! From a simulation configuration to a model scenario: endless serving
//! loops for the daemons, endless submitters, offload threads, and the
//! actors that inject faults, each with a scheduling weight.

use crate::faults::{Fault, FaultSet};
use serde::Serialize;
use ublk_model::config::*;

/// The shape of the simulated device and server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SimConfig {
    pub queues: u8,
    pub depth: u8,
    pub copy: CopyMode,
    /// Offload threads (each loops over every tag: REGISTER or user copy,
    /// fixed-buffer I/O, UNREGISTER).
    pub offload: u8,
    /// Block submitters per queue (each reads and writes forever).
    pub submitters: u8,
    /// One daemon thread per queue, one strand per tag (`ActorSpec::Strand`: it serves
    /// requests in the order they come), instead of a thread per tag — the only shape of a
    /// kernel with one daemon per queue (6.12).
    pub per_queue: bool,
    pub faults: FaultSet,
    /// Unusual (or wrong) server behaviours the run includes.
    pub quirks: Vec<Quirk>,
}

/// Server behaviours beyond the well-behaved serving loop: each is legal
/// user space (or a server bug the driver must survive), and each opens a
/// path some historical kernel bug needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Quirk {
    /// A second thread FETCHes tag 0 too, racing the daemon before START_DEV (B-5).
    DoubleFetch,
    /// Copy mode: the first FETCH carries no buffer (B-12).
    NoBufferFetch,
    /// Copy mode with NEED_GET_DATA; writes only; the first data copy fails (B-10).
    NeedGetData,
    /// Zero copy: COMMIT before UNREGISTER on the daemon (O-7 with a kill).
    CommitBeforeUnregister,
    /// Rings do not register /dev/ublkcN as a fixed file, so the file can be
    /// released before a ring's buffers (B-6, B-8 orderings).
    UnfixedRings,
}

pub const ALL_QUIRKS: [Quirk; 5] = [
    Quirk::DoubleFetch,
    Quirk::NoBufferFetch,
    Quirk::NeedGetData,
    Quirk::CommitBeforeUnregister,
    Quirk::UnfixedRings,
];

impl Quirk {
    pub fn name(self) -> &'static str {
        match self {
            Quirk::DoubleFetch => "double-fetch",
            Quirk::NoBufferFetch => "no-buffer-fetch",
            Quirk::NeedGetData => "need-get-data",
            Quirk::CommitBeforeUnregister => "commit-before-unregister",
            Quirk::UnfixedRings => "unfixed-rings",
        }
    }

    /// Parse `all`, `none` or a comma-separated list.
    pub fn parse_list(s: &str) -> Result<Vec<Quirk>, String> {
        match s {
            "all" => return Ok(ALL_QUIRKS.to_vec()),
            "none" | "" => return Ok(vec![]),
            _ => {}
        }
        let mut v: Vec<Quirk> = s
            .split(',')
            .map(|n| {
                ALL_QUIRKS
                    .into_iter()
                    .find(|q| q.name() == n.trim())
                    .ok_or_else(|| {
                        let known: Vec<_> = ALL_QUIRKS.iter().map(|q| q.name()).collect();
                        format!(
                            "unknown quirk '{n}' (known: {}, all, none)",
                            known.join(", ")
                        )
                    })
            })
            .collect::<Result<_, _>>()?;
        v.sort();
        v.dedup();
        Ok(v)
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            queues: 1,
            depth: 2,
            copy: CopyMode::ZeroCopy,
            offload: 1,
            submitters: 2,
            per_queue: false,
            faults: FaultSet::none(),
            quirks: vec![],
        }
    }
}

/// Weight of an actor that is not a fault: faults are rare against it.
pub const BASE_WEIGHT: u32 = 256;

fn loop_of(prog: &mut Vec<Op>, body: Vec<Op>, t: u8, q: u8, exit: Op) {
    // 0 fetch, 1 wait, 2 Loop→serve, 3 exit, serve: body…, wait, Loop→serve, exit
    let serve = prog.len() as u8 + 3;
    prog.push(Op::WaitCqe { q, tag: t });
    prog.push(Op::Loop { to: serve });
    prog.push(exit.clone());
    prog.extend(body);
    prog.push(Op::WaitCqe { q, tag: t });
    prog.push(Op::Loop { to: serve });
    prog.push(exit);
}

/// The per-io daemon of (q, t): FETCH, then serve requests until the FETCH
/// is aborted, then exit the process.
fn daemon(c: &SimConfig, q: u8, t: u8, exit: Op) -> Vec<Op> {
    let copy = c.copy == CopyMode::Copy;
    let ngd = copy && c.quirks.contains(&Quirk::NeedGetData);
    let no_buf = copy && c.quirks.contains(&Quirk::NoBufferFetch) && (q, t) == (0, 0);
    let mut prog = vec![Op::Fetch {
        q,
        tag: t,
        buf: copy && !no_buf && !ngd,
    }];
    let commit = Op::Commit {
        q,
        tag: t,
        result: 4096,
        buf: copy,
    };
    let idx = t; // the daemon's ring: one table entry per tag it serves
    let body = match c.copy {
        CopyMode::ZeroCopy if c.quirks.contains(&Quirk::CommitBeforeUnregister) => vec![
            Op::Register { q, tag: t, idx },
            Op::FixedIo { idx },
            commit,
            Op::Unregister { q, tag: t, idx },
        ],
        CopyMode::ZeroCopy => vec![
            Op::Register { q, tag: t, idx },
            Op::FixedIo { idx },
            Op::Unregister { q, tag: t, idx },
            commit,
        ],
        CopyMode::UserCopy => vec![Op::user_copy(q, t), commit],
        // every request is a WRITE: fetch the data, then commit
        // wait for NEED_GET_DATA's completion (the copy; 6.12 does it in task work) before
        // committing, as a server does
        CopyMode::Copy if ngd => vec![
            Op::NeedGetData { q, tag: t },
            Op::WaitCqe { q, tag: t },
            commit,
        ],
        CopyMode::AutoBufReg | CopyMode::Copy => vec![commit],
    };
    loop_of(&mut prog, body, t, q, exit);
    prog
}

/// An offload thread: forever, for every tag, touch the request's buffer
/// off the daemon (zero copy: REGISTER, fixed I/O, UNREGISTER on its own
/// ring; user copy: pread).
fn offload(c: &SimConfig) -> Vec<Op> {
    let mut prog = Vec::new();
    let slots: Vec<(u8, u8)> = (0..c.queues)
        .flat_map(|q| (0..c.depth).map(move |t| (q, t)))
        .collect();
    let idx = |t: u8| if c.faults.has(Fault::TableFull) { 0 } else { t };
    match c.copy {
        // register every request's buffer, use them, then unregister them
        CopyMode::ZeroCopy => {
            prog.extend(slots.iter().map(|&(q, t)| Op::Register {
                q,
                tag: t,
                idx: idx(t),
            }));
            prog.extend(slots.iter().map(|&(_, t)| Op::FixedIo { idx: idx(t) }));
            prog.extend(slots.iter().map(|&(q, t)| Op::Unregister {
                q,
                tag: t,
                idx: idx(t),
            }));
        }
        CopyMode::UserCopy => prog.extend(slots.iter().map(|&(q, t)| Op::user_copy(q, t))),
        _ => {}
    }
    if !prog.is_empty() {
        prog.push(Op::Goto { to: 0 });
    }
    prog
}

/// The per-queue daemon thread of queue `q` (its first strand: tag 0), of the first server
/// process or (`recovery`) of the recovery's new server.
fn queue_daemon(c: &SimConfig, recovery: bool, fixed_file: bool, q: u8) -> ActorSpec {
    let prog = daemon(c, q, 0, Op::Exit);
    if recovery {
        ActorSpec::RecoveryServer {
            name: format!("new-daemon-q{q}"),
            fixed_file,
            prog,
        }
    } else {
        ActorSpec::Server {
            name: format!("daemon-q{q}"),
            fixed_file,
            prog,
        }
    }
}

/// The strands of per-queue daemon thread `of` (named `{who}-q{q}`) for queue `q`'s tags after
/// the first: one serving loop each.
fn more_strands(c: &SimConfig, who: &str, of: u8, q: u8) -> Vec<ActorSpec> {
    (1..c.depth)
        .map(|t| ActorSpec::Strand {
            name: format!("{who}-q{q}/t{t}"),
            of,
            prog: daemon(c, q, t, Op::Exit),
        })
        .collect()
}

/// The scenario and, per declared actor spec, its scheduling weight.
pub fn scenario(c: &SimConfig) -> (Scenario, Vec<u32>) {
    let f = &c.faults;
    let recovery = if f.has(Fault::Recovery) {
        Recovery::Reissue
    } else if f.has(Fault::Requeue) {
        Recovery::Requeue
    } else {
        Recovery::None
    };
    let ngd = c.copy == CopyMode::Copy && c.quirks.contains(&Quirk::NeedGetData);
    let fixed = !c.quirks.contains(&Quirk::UnfixedRings);
    let dev = DevConfig {
        nr_queues: c.queues,
        depth: c.depth,
        copy: c.copy,
        need_get_data: ngd,
        recovery,
        elevator: f.has(Fault::Elevator),
        table_size: if f.has(Fault::TableFull) {
            1
        } else {
            c.depth.max(2)
        },
        fake_timeout: f.has(Fault::FakeTimeout),
        get_data_fails: ngd,
        bad_auto_fetch: false,
        part_scan: false,
        quiesce: false,
        auto_no_zc: false,
        auto_fallback: false,
        io_bytes: 4096,
    };
    let mut actors = Vec::new();
    let mut weights = Vec::new();
    let mut push = |a: ActorSpec, w: u32| {
        actors.push(a);
        weights.push(w);
    };
    // a per-queue daemon's strands for its tags after the first (declared last: a strand
    // names its thread by index, which the other servers must not shift)
    let mut strands = Vec::new();
    for q in 0..c.queues {
        if c.per_queue {
            push(queue_daemon(c, false, fixed, q), BASE_WEIGHT);
            strands.extend(more_strands(c, "daemon", q, q));
            continue;
        }
        for t in 0..c.depth {
            push(
                ActorSpec::Server {
                    name: format!("daemon-q{q}t{t}"),
                    fixed_file: fixed,
                    prog: daemon(c, q, t, Op::Exit),
                },
                BASE_WEIGHT,
            );
        }
    }
    let daemons = if c.per_queue {
        c.queues
    } else {
        c.queues * c.depth
    };
    let zc_or_uc = matches!(c.copy, CopyMode::ZeroCopy | CopyMode::UserCopy);
    let offloads = if zc_or_uc { c.offload } else { 0 };
    for i in 0..offloads {
        push(
            ActorSpec::Server {
                name: format!("offload{i}"),
                fixed_file: false,
                prog: offload(c),
            },
            BASE_WEIGHT,
        );
    }
    if c.quirks.contains(&Quirk::DoubleFetch) {
        // after the offload threads: fault actors address servers by index
        let prog = daemon(c, 0, 0, Op::ThreadExit);
        push(
            ActorSpec::Server {
                name: "rogue".into(),
                fixed_file: fixed,
                prog,
            },
            BASE_WEIGHT,
        );
    }
    if f.has(Fault::Recovery) {
        // the recovery server's threads come after every first-process thread
        let first = daemons + offloads + u8::from(c.quirks.contains(&Quirk::DoubleFetch));
        for q in 0..c.queues {
            if c.per_queue {
                push(queue_daemon(c, true, true, q), BASE_WEIGHT);
                strands.extend(more_strands(c, "new-daemon", first + q, q));
                continue;
            }
            for t in 0..c.depth {
                let name = format!("new-daemon-q{q}t{t}");
                push(
                    ActorSpec::RecoveryServer {
                        name,
                        fixed_file: true,
                        prog: daemon(c, q, t, Op::Exit),
                    },
                    BASE_WEIGHT,
                );
            }
        }
    }
    for q in 0..c.queues {
        for _ in 0..c.submitters {
            push(
                ActorSpec::Submitter {
                    q,
                    bios: if ngd {
                        vec![Bio::Write, Bio::Again]
                    } else {
                        vec![Bio::Read, Bio::Write, Bio::Again]
                    },
                },
                BASE_WEIGHT,
            );
        }
    }
    let mut ctrl = vec![CtrlOp::StartDev];
    if f.has(Fault::Recovery) {
        ctrl.extend([CtrlOp::StartUserRecovery, CtrlOp::EndUserRecovery]);
    }
    if f.has(Fault::Stop) {
        ctrl.push(CtrlOp::StopDev);
    }
    push(ActorSpec::Control { prog: ctrl }, BASE_WEIGHT);
    for s in strands {
        push(s, BASE_WEIGHT);
    }
    let servers = daemons;
    for (fault, spec) in [
        (Fault::Kill, Some(ActorSpec::Killer)),
        (Fault::Recovery, Some(ActorSpec::Killer)),
        (Fault::RingExit, Some(ActorSpec::RingClose { server: 0 })),
        (
            Fault::OffloadDeath,
            (offloads > 0).then_some(ActorSpec::ThreadDeath { server: servers }),
        ),
        (Fault::Elevator, Some(ActorSpec::Elevator)),
    ] {
        if let (true, Some(spec)) = (f.has(fault), spec) {
            push(spec, f.weight(fault));
        }
    }
    let name = format!("sim-{}q{}d-{:?}", c.queues, c.depth, c.copy).to_lowercase();
    (
        Scenario {
            name,
            doc: "generated by ublksim sim".into(),
            dev,
            actors,
        },
        weights,
    )
}
