//! The command-result table: what every io command returns in every slot
//! situation the model distinguishes, per switch set — spec §4.1's "errno
//! consequences" table, generated from the model instead of written by hand.
//!
//! Three probe scenarios (one per copy mode) are explored exhaustively with
//! the state graph kept.  A *probe* is every io command of a server program:
//! the daemon issues each command before its FETCH, while its slot is
//! ACTIVE, while it OWNS the request and after its COMMIT; a second thread
//! issues each command at any moment.  The situation is read from the state
//! in which the command *enters* the driver (flags, which cmd the slot holds,
//! whether the issuer is `io->task`), so nothing is assumed about
//! scheduling; a command whose later sub-steps race (off-daemon REGISTER,
//! FETCH under `ub->mutex`) gets the set of results of every continuation.
//! The scenarios are not in `scenarios::all()`: they probe, they do not check.

use crate::explore::bfs::{Explorer, Stop};
use crate::scenarios::dsl::commit;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use ublk_model::config::*;
use ublk_model::exec::EIOCBQUEUED;
use ublk_model::state::*;
use ublk_model::{Features, Kind, Model};

const Q: u8 = 0;

/// The probe program of the slot's daemon: every command in each situation.
fn daemon_prog(buf: bool) -> Vec<Op> {
    // `unreg`: the buffer index UNREGISTER names; after COMMIT it is the one
    // registered while OWNED and kept across the commit (allowed since p09)
    let probes = |v: &mut Vec<Op>, with_fetch: bool, with_commit: bool, unreg: u8| {
        if with_fetch {
            v.push(Op::Fetch { q: Q, tag: 0, buf });
        }
        if with_commit {
            v.push(commit(0, 4096, buf));
        }
        v.extend([
            Op::NeedGetData { q: Q, tag: 0 },
            Op::Register {
                q: Q,
                tag: 0,
                idx: 0,
            },
            Op::Unregister {
                q: Q,
                tag: 0,
                idx: unreg,
            },
            Op::Unregister {
                q: 1,
                tag: 0,
                idx: 1,
            },
            Op::BadType { q: Q, tag: 0 },
            Op::BadType { q: 1, tag: 0 },
        ]);
    };
    let mut v = Vec::new();
    probes(&mut v, false, true, 0); // before FETCH
    v.push(Op::Fetch { q: Q, tag: 0, buf });
    probes(&mut v, true, false, 0); // ACTIVE (or OWNED, if the request raced in)
    v.push(Op::WaitCqe { q: Q, tag: 0 });
    probes(&mut v, true, false, 0); // OWNED; REGISTER+UNREGISTER leave it settled
    v.push(Op::Register {
        q: Q,
        tag: 0,
        idx: 1,
    }); // kept across the commit
    v.push(commit(0, 4096, buf)); // the real commit
    probes(&mut v, true, true, 1); // after COMMIT
    v
}

/// The other thread: each command once, at a moment of the explorer's choosing.
fn other_prog(buf: bool) -> Vec<Op> {
    vec![
        commit(0, 4096, buf),
        Op::NeedGetData { q: Q, tag: 0 },
        Op::Register {
            q: Q,
            tag: 0,
            idx: 0,
        },
        Op::Unregister {
            q: Q,
            tag: 0,
            idx: 0,
        },
        Op::BadType { q: Q, tag: 0 },
        Op::Fetch { q: Q, tag: 0, buf },
    ]
}

/// The copy modes the table covers, with their labels.
pub const MODES: [(CopyMode, &str); 3] = [
    (CopyMode::Copy, "copy"),
    (CopyMode::UserCopy, "user copy"),
    (CopyMode::ZeroCopy, "zero copy"),
];

/// The probe scenario for one copy mode.
pub fn scenario(mode: CopyMode) -> Scenario {
    let buf = mode == CopyMode::Copy;
    let label = MODES.iter().find(|(m, _)| *m == mode).map_or("?", |m| m.1);
    Scenario {
        name: format!("situations-{}", label.replace(' ', "-")),
        doc: format!("command-result probes, {label}"),
        dev: DevConfig {
            copy: mode,
            table_size: 2,
            ..DevConfig::default()
        },
        actors: vec![
            ActorSpec::Server {
                name: "daemon".into(),
                fixed_file: true,
                prog: daemon_prog(buf),
            },
            ActorSpec::Server {
                name: "other".into(),
                fixed_file: false,
                prog: other_prog(buf),
            },
            ActorSpec::Submitter {
                q: Q,
                bios: vec![Bio::Write],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
        ],
    }
}

/// The command's label in the table.
pub fn command(op: &Op) -> Option<&'static str> {
    Some(match op {
        Op::Fetch { .. } => "FETCH_REQ",
        Op::Commit { .. } => "COMMIT_AND_FETCH_REQ",
        Op::NeedGetData { .. } => "NEED_GET_DATA",
        Op::Register { .. } => "REGISTER_IO_BUF",
        Op::Unregister { q: 0, .. } => "UNREGISTER_IO_BUF",
        Op::Unregister { .. } => "UNREGISTER_IO_BUF, bad q_id",
        Op::BadType { q: 0, .. } => "bad ioctl type",
        Op::BadType { .. } => "bad ioctl type, bad q_id",
        _ => return None,
    })
}

/// The slot situation a command enters in (slot q0t0).
pub fn situation(m: &Model, s: &State) -> String {
    let io = m.slot_view(s, 0);
    let other = io.flags.0 & !(flag::ACTIVE | flag::OWNED_BY_SRV);
    match io.cell {
        _ if other != 0 => format!("flags {}", io.flags),
        Cell::None if io.flags.0 == 0 && io.task.is_none() => "before FETCH".into(),
        Cell::Cmd(c) if io.flags.0 == flag::ACTIVE => match m.cmds[c as usize].op {
            Op::Fetch { .. } => "ACTIVE (fetched)".into(),
            _ => "ACTIVE (after COMMIT)".into(),
        },
        Cell::Req(_) if io.flags.0 == flag::OWNED_BY_SRV => "OWNED".into(),
        _ => format!("flags {} (other cell)", io.flags),
    }
}

/// One row key: (mode, command, situation, issuer).
pub type RowKey = (String, &'static str, String, &'static str);

/// A result: `None` = kept by the driver (`-EIOCBQUEUED`, completes later).
pub type Res = Option<i32>;

/// The table of one switch set.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CmdTable {
    pub rows: BTreeMap<RowKey, BTreeSet<Res>>,
    /// Probe scenarios whose exploration stopped early (violation / limit):
    /// their rows cover the states before the stop only.
    pub partial: Vec<String>,
}

/// Explore the probe scenarios under `f` and classify every command entry.
pub fn table(f: Features) -> Result<CmdTable, String> {
    let mut t = CmdTable::default();
    for (mode, label) in MODES {
        let sc = scenario(mode);
        let m = Model::new(&sc, f)?;
        let (r, g) = Explorer::new(&m)
            .max_states(500_000)
            .run_graph(|s| s.clone());
        if r.stop != Stop::Exhausted {
            let why = r
                .counterexample
                .as_ref()
                .map_or(format!("{:?}", r.stop), |(_, v)| format!("{}", v.inv));
            t.partial.push(format!("{} ({why})", sc.name));
        }
        let mut out: BTreeMap<u32, Vec<(u32, u8)>> = BTreeMap::new();
        for &(from, to, a) in &g.edges {
            out.entry(from).or_default().push((to, a.actor));
        }
        for &(from, to, mv) in &g.edges {
            let a = mv.actor;
            let s = &g.nodes[from as usize];
            let Kind::Server { task, prog, .. } = &m.actors[a as usize].kind else {
                continue;
            };
            let st = &s.actors[a as usize];
            let Some((op, _)) = prog.get(st.next_op as usize) else {
                continue;
            };
            let (Some(cmd), false) = (command(op), st.in_kernel()) else {
                continue;
            };
            let who = match m.slot_view(s, 0).task {
                None => "no io->task yet",
                Some(t) if t == *task => "daemon",
                Some(_) => "other task",
            };
            let key = (label.to_string(), cmd, situation(&m, s), who);
            let res = finals(&m, &g.nodes, &out, from, to, a);
            t.rows.entry(key).or_default().extend(res);
        }
    }
    Ok(t)
}

/// The results actor `a`'s command (entered on the edge `from → to`) ends
/// with, over every continuation in the graph.
fn finals(
    m: &Model,
    nodes: &[State],
    out: &BTreeMap<u32, Vec<(u32, u8)>>,
    from: u32,
    to: u32,
    a: u8,
) -> BTreeSet<Res> {
    let pc = nodes[from as usize].actors[a as usize].next_op;
    let step = |f: u32| {
        let mut s = nodes[f as usize].clone();
        match m.apply(&mut s, a) {
            Ok(ublk_model::Outcome::Stepped(i)) => i.result,
            _ => None,
        }
    };
    let mut res = BTreeSet::new();
    if nodes[to as usize].actors[a as usize].next_op != pc {
        res.insert(step(from).filter(|r| *r != EIOCBQUEUED));
        return res;
    }
    let mut seen = BTreeSet::from([to]);
    let mut work = vec![to];
    while let Some(n) = work.pop() {
        for &(next, b) in out.get(&n).map_or(&[][..], |v| v.as_slice()) {
            if b == a && nodes[next as usize].actors[a as usize].next_op != pc {
                res.insert(step(n));
            } else if seen.insert(next) {
                work.push(next);
            }
        }
    }
    res
}

/// `-EINVAL`, `queued`, `0`, `4096` …
pub fn show_res(r: Res) -> String {
    use ublk_model::exec::*;
    match r {
        None => "queued".into(),
        Some(v) => match v {
            EINVAL => "-EINVAL".into(),
            EBUSY => "-EBUSY".into(),
            EOPNOTSUPP => "-EOPNOTSUPP".into(),
            ENODEV => "-ENODEV".into(),
            EIO => "-EIO".into(),
            EACCES => "-EACCES".into(),
            EEXIST => "-EEXIST".into(),
            EFAULT => "-EFAULT".into(),
            v => v.to_string(),
        },
    }
}

/// A result set as one cell: `-EINVAL` or `{0, -EINVAL}`; `—` if never issued.
pub fn show_set(s: Option<&BTreeSet<Res>>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.len() == 1 => show_res(*s.iter().next().unwrap()),
        Some(s) => {
            let v: Vec<_> = s.iter().map(|r| show_res(*r)).collect();
            format!("{{{}}}", v.join(", "))
        }
    }
}
