//! Builders for scenarios: the short names the scenario tables (built-in, 6.12, small
//! witnesses, corpus) are written in. Queue 0 throughout (the two-queue
//! scenarios of `multiq` name their queues).

use ublk_model::config::*;

pub fn server(name: &str, fixed_file: bool, prog: Vec<Op>) -> ActorSpec {
    ActorSpec::Server {
        name: name.into(),
        fixed_file,
        prog,
    }
}

/// Strand `name` of server thread `of` (its index among the server threads): the same thread
/// serving another tag, so the thread takes its CQEs in the order they come.
pub fn strand(name: &str, of: u8, prog: Vec<Op>) -> ActorSpec {
    ActorSpec::Strand {
        name: name.into(),
        of,
        prog,
    }
}

pub(crate) const Q: u8 = 0;

pub fn fetch(tag: u8, buf: bool) -> Op {
    Op::Fetch { q: Q, tag, buf }
}
pub fn wait(tag: u8) -> Op {
    Op::WaitCqe { q: Q, tag }
}
pub fn commit(tag: u8, result: i32, buf: bool) -> Op {
    Op::Commit {
        q: Q,
        tag,
        result,
        buf,
    }
}
pub fn reg(tag: u8, idx: u8) -> Op {
    Op::Register { q: Q, tag, idx }
}
pub fn unreg(tag: u8, idx: u8) -> Op {
    Op::Unregister { q: Q, tag, idx }
}

pub fn control(prog: &[CtrlOp]) -> ActorSpec {
    ActorSpec::Control {
        prog: prog.to_vec(),
    }
}
pub fn submit(bios: &[Bio]) -> ActorSpec {
    ActorSpec::Submitter {
        q: Q,
        bios: bios.to_vec(),
    }
}

pub fn sc(name: &str, doc: &str, dev: DevConfig, actors: Vec<ActorSpec>) -> Scenario {
    Scenario {
        name: name.into(),
        doc: doc.into(),
        dev,
        actors,
    }
}
