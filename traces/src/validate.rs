//! Validation of a scenario read from outside (a trace header): every index
//! and cross-reference checked, every count bounded, so that a hostile or
//! hand-edited scenario is refused with the field it gets wrong instead of
//! indexing out of bounds or wrapping a counter inside the model.
//!
//! The bounds are the model's representation limits:
//! * slots (`nr_queues × depth`) ≤ 16 (`Model::new`);
//! * requests (`slots × (1 + elevator switches)`) ≤ 64: the liveness
//!   obligations keep one bit per request in a `u64`;
//! * io commands ≤ 128: one bit per command in a `u128`;
//! * actors, declared and derived (task work, ring exit, fixed-I/O
//!   completion, timeouts, …) ≤ 200 (`ActorId` is a `u8`);
//! * the `/dev/ublkcN` reference count (`u8`) starts at 1 + server threads
//!   + fd holders and the new server adds 1 + its threads: at most 255;
//! * a fault (`RingClose`, `ThreadDeath`) may only name a thread of the
//!   first server process: the new (recovery) process has not opened the
//!   device when the fault can fire, and its exit would drop a reference it
//!   never took (the count wrapped from 0 to 255).

use ublk_model::{ActorSpec, Op, Scenario};

pub const MAX_SLOTS: usize = 16;
pub const MAX_REQS: usize = 64;
pub const MAX_CMDS: usize = 128;
pub const MAX_ACTORS: usize = 200;
pub const MAX_TABLE: u8 = 64;
pub const MAX_PROG: usize = 128;
pub const MAX_BIOS: usize = 64;
pub const MAX_CTRL: usize = 32;
pub const MAX_TEXT: usize = 64 * 1024;

/// Check `sc` against the model's limits; the error names the field.
pub fn scenario(sc: &Scenario) -> Result<(), String> {
    let d = &sc.dev;
    if sc.name.len() > 200 || sc.doc.len() > MAX_TEXT {
        return Err("scenario.name or scenario.doc is too long".into());
    }
    if d.nr_queues == 0 {
        return Err("scenario.dev.nr_queues is 0 (at least 1)".into());
    }
    if d.depth == 0 {
        return Err("scenario.dev.depth is 0 (at least 1)".into());
    }
    let slots = d.nr_queues as usize * d.depth as usize;
    if slots > MAX_SLOTS {
        return Err(format!(
            "scenario.dev: nr_queues × depth = {slots}, at most {MAX_SLOTS} slots"
        ));
    }
    if d.table_size == 0 || d.table_size > MAX_TABLE {
        return Err(format!(
            "scenario.dev.table_size = {}, must be 1..={MAX_TABLE}",
            d.table_size
        ));
    }
    let n = sc.actors.len();
    if n > MAX_ACTORS {
        return Err(format!("scenario.actors: {n} actors, at most {MAX_ACTORS}"));
    }
    let count = |f: fn(&ActorSpec) -> bool| sc.actors.iter().filter(|a| f(a)).count();
    let servers = count(|a| matches!(a, ActorSpec::Server { .. }));
    let recovery = count(|a| matches!(a, ActorSpec::RecoveryServer { .. }));
    let holders = count(|a| matches!(a, ActorSpec::FdHolder));
    let elevators = count(|a| matches!(a, ActorSpec::Elevator));
    let threads = servers + recovery;
    // declared (non-server) + per server thread: itself, task work, ring exit,
    // fixed-I/O completion; plus opener, requeue/release work, timeouts
    let derived = (n - threads) + 4 * threads + 3 + d.nr_queues as usize;
    if derived > MAX_ACTORS {
        return Err(format!(
            "scenario.actors: {derived} actors with the derived kernel contexts, at most {MAX_ACTORS}"
        ));
    }
    let reqs = slots * (1 + if d.elevator { elevators } else { 0 });
    if reqs > MAX_REQS {
        return Err(format!(
            "scenario: {reqs} requests (slots × (1 + Elevator actors)), at most {MAX_REQS}"
        ));
    }
    let refs = 1 + servers + holders + 1 + recovery;
    if refs > u8::MAX as usize {
        return Err(format!(
            "scenario.actors: /dev/ublkcN would need {refs} references (1 + server threads + \
             FdHolder actors + the new server's), its counter holds at most 255"
        ));
    }
    let mut cmds = 0usize;
    for (i, a) in sc.actors.iter().enumerate() {
        let at = |field: &str| format!("scenario.actors[{i}].{field}");
        match a {
            ActorSpec::Server { name, prog, .. }
            | ActorSpec::RecoveryServer { name, prog, .. }
            | ActorSpec::Strand { name, prog, .. } => {
                if let ActorSpec::Strand { of, .. } = a {
                    if *of as usize >= threads {
                        return Err(format!(
                            "{} = {of}, but the scenario has {threads} server thread(s)",
                            at("Strand.of")
                        ));
                    }
                }
                if name.is_empty() || name.len() > 64 {
                    return Err(format!("{}: 1..=64 characters", at("name")));
                }
                if prog.len() > MAX_PROG {
                    return Err(format!(
                        "{}: {} ops, at most {MAX_PROG}",
                        at("prog"),
                        prog.len()
                    ));
                }
                for (j, op) in prog.iter().enumerate() {
                    let f = |x: &str| at(&format!("prog[{j}].{x}"));
                    let qt = |q: u8, tag: u8| -> Result<(), String> {
                        if q >= d.nr_queues {
                            return Err(format!(
                                "{} = {q}, but the scenario has {} queue(s) (dev.nr_queues)",
                                f("q"),
                                d.nr_queues
                            ));
                        }
                        if tag >= d.depth {
                            return Err(format!(
                                "{} = {tag}, but the queue depth is {} (dev.depth)",
                                f("tag"),
                                d.depth
                            ));
                        }
                        Ok(())
                    };
                    match *op {
                        // an io command may name any queue, tag or buffer index: the
                        // driver checks them (-EINVAL), and so does the model (the
                        // errno-table corpus trace sends q 1 on purpose; the simulator's
                        // table-full fault uses buffer indexes past the table)
                        Op::Fetch { .. }
                        | Op::Commit { .. }
                        | Op::NeedGetData { .. }
                        | Op::BadType { .. }
                        | Op::Register { .. }
                        | Op::Unregister { .. } => cmds += 1,
                        Op::UserCopy { q, tag, .. } | Op::WaitCqe { q, tag } => qt(q, tag)?,
                        Op::FixedIo { .. } => {}
                        Op::Loop { to } | Op::Goto { to } => {
                            if to as usize >= prog.len() {
                                return Err(format!(
                                    "{} = {to}, but the program has {} ops",
                                    f("to"),
                                    prog.len()
                                ));
                            }
                        }
                        Op::Exit | Op::ThreadExit | Op::CloseRing => {}
                    }
                }
            }
            ActorSpec::Submitter { q, bios } => {
                if *q >= d.nr_queues {
                    return Err(format!(
                        "{} = {q}, but the scenario has {} queue(s) (dev.nr_queues)",
                        at("Submitter.q"),
                        d.nr_queues
                    ));
                }
                if bios.len() > MAX_BIOS {
                    return Err(format!(
                        "{}: {} bios, at most {MAX_BIOS}",
                        at("Submitter.bios"),
                        bios.len()
                    ));
                }
            }
            ActorSpec::Control { prog } => {
                if prog.len() > MAX_CTRL {
                    return Err(format!(
                        "{}: {} commands, at most {MAX_CTRL}",
                        at("Control.prog"),
                        prog.len()
                    ));
                }
            }
            ActorSpec::RingClose { server } | ActorSpec::ThreadDeath { server } => {
                if *server as usize >= servers {
                    return Err(format!(
                        "{} = {server}, but the first server process has {servers} thread(s) \
                         (a fault may not name a recovery server thread)",
                        at("server")
                    ));
                }
            }
            ActorSpec::Killer | ActorSpec::Elevator | ActorSpec::FdHolder => {}
        }
    }
    if cmds > MAX_CMDS {
        return Err(format!(
            "scenario: {cmds} io commands in the server programs, at most {MAX_CMDS}"
        ));
    }
    Ok(())
}
