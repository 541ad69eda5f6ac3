//! Corpus programs of the wider shapes: a device of two hw queues, and a device with an I/O
//! scheduler whose switch waits for a request in flight.

use crate::conform::compile::ModelProgram;
use crate::conform::corpus::program;
use crate::scenarios::dsl::{control, sc, server};
use ublk_model::config::*;
use ublk_model::Preset;

fn serve(q: u8) -> Vec<Op> {
    vec![
        Op::Fetch {
            q,
            tag: 0,
            buf: true,
        },
        Op::WaitCqe { q, tag: 0 },
        Op::Commit {
            q,
            tag: 0,
            result: 4096,
            buf: true,
        },
        Op::WaitCqe { q, tag: 0 },
    ]
}

/// Two hw queues of depth 1 (copy), a daemon thread per queue and a reader pinned to a CPU of
/// each queue: both reads are in flight at once, each reaches its own queue's daemon (its
/// FETCH completes, the other queue's stays queued), each COMMIT ends its read; STOP_DEV
/// cancels both re-armed FETCHes. The shape of every preset (6.12: one daemon per queue).
pub(crate) fn two_queues_served(preset: Preset, id: &str) -> ModelProgram {
    let s = sc(
        "two-queues-served",
        "two hw queues: a read on each, served by that queue's daemon",
        DevConfig {
            nr_queues: 2,
            copy: CopyMode::Copy,
            ..DevConfig::default()
        },
        vec![
            server("daemon-q0", true, [serve(0), vec![Op::Exit]].concat()),
            server("daemon-q1", false, serve(1)),
            ActorSpec::Submitter {
                q: 1,
                bios: vec![Bio::Read],
            },
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Write],
            },
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
        ],
    );
    let (d0, d1, b1, b0, c) = (
        "daemon-q0",
        "daemon-q1",
        "submitter0",
        "submitter1",
        "control",
    );
    // FETCH q0, FETCH q1, START; read on q1 (daemon-q1's CQE), write on q0 (daemon-q0's CQE);
    // COMMIT q0 (the write ends), COMMIT q1 (the read ends); collect both; STOP (both re-armed
    // FETCHes -ENODEV), exit
    program(
        s,
        preset,
        &[d0, d1, c, b1, b0, d1, d0, d0, b0, d1, b1, c, d0, d1, d0],
        id,
    )
}

/// mq-deadline attached at START_DEV (`elevator`), depth 1, copy: a read in flight, then the
/// switch to kyber: the queue freezes and the write to `queue/scheduler` waits for the read's
/// request; the COMMIT ends the read, and with it the switch returns; a second read is
/// served under kyber; STOP_DEV.
pub(crate) fn elevator_switch(id: &str) -> ModelProgram {
    let s = sc(
        "elevator-switch",
        "an elevator switch waits for the request in flight",
        DevConfig {
            copy: CopyMode::Copy,
            elevator: true,
            ..DevConfig::default()
        },
        vec![
            server(
                "daemon",
                true,
                [serve(0), serve(0)[2..].to_vec(), vec![Op::Exit]].concat(),
            ),
            ActorSpec::Submitter {
                q: 0,
                bios: vec![Bio::Read, Bio::Read],
            },
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
            ActorSpec::Elevator,
        ],
    );
    let (d, b, c, e) = ("daemon", "submitter0", "control", "elevator");
    // FETCH, START, read 1 (CQE), switch (pending), COMMIT (read 1 and the switch end),
    // collect, read 2 (the re-armed FETCH's CQE), COMMIT, collect, STOP, exit
    program(
        s,
        Preset::K72,
        &[d, c, b, d, e, d, b, b, d, d, b, c, d, d],
        id,
    )
}
