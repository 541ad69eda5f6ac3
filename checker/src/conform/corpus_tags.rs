//! The kernel's choice of driver tag on the real kernel (7.2 corpus).

use crate::conform::compile::ModelProgram;
use crate::conform::corpus::program;
use crate::scenarios::dsl::{commit, control, fetch, sc, server, submit, wait};
use ublk_model::config::*;
use ublk_model::Preset;

/// Per-io daemons on a depth-2 zero-copy device (`daemon` serves tag 0, `helper` tag 1); two
/// reads one after the other. The first read takes tag 0; when it ends, blk-mq puts tag 0 in
/// the sbitmap's `cleared` mask, not back in the word, so the second read takes tag 1 —
/// served by the other thread — although tag 0 is free and re-armed. (A model that gives the
/// lowest free tag predicts the second read on tag 0: the daemon's re-armed COMMIT completes
/// and the helper's FETCH stays queued; 7.2.13 does the opposite.) Neither thread can stand
/// in for the other, so the executor cannot follow another choice: the prediction must be
/// the kernel's.
pub(crate) fn two_reads_per_io_daemons(id: &str) -> ModelProgram {
    let serve = |tag| [fetch(tag, false), wait(tag), commit(tag, 4096, false)];
    let s = sc(
        "two-reads-per-io-daemons",
        "two reads in a row on per-io daemons: the second takes tag 1",
        DevConfig {
            depth: 2,
            copy: CopyMode::ZeroCopy,
            ..DevConfig::default()
        },
        vec![
            server("daemon", true, [&serve(0)[..], &[Op::Exit]].concat()),
            server("helper", true, serve(1).to_vec()),
            submit(&[Bio::Read, Bio::Read]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
        ],
    );
    let (d, h, b, c) = ("daemon", "helper", "submitter0", "control");
    // FETCHes, START, read 1 (t0), CQE, COMMIT, read 1 done, read 2 (t1), CQE, COMMIT,
    // read 2 done, STOP (cancels both re-armed cmds), exit
    program(s, Preset::K72, &[d, h, c, b, d, d, b, b, h, h, b, c, d], id)
}
