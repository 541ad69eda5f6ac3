//! AUTO_BUF_REG's FALLBACK flag on the real kernel (7.2 corpus).

use crate::conform::compile::ModelProgram;
use crate::conform::corpus::program;
use crate::scenarios::dsl::{commit, control, fetch, reg, sc, server, submit, unreg, wait};
use ublk_model::config::*;
use ublk_model::Preset;

/// A depth-2 auto-buf-reg device served by one daemon (the dispatch registers each request's
/// buffer at index = tag in the daemon's ring). Read A takes tag 0 (index 0); the daemon
/// also REGISTERs A's buffer at index 1 by hand. Read B then takes tag 1, whose automatic
/// registration finds index 1 taken. With `fallback` (UBLK_AUTO_BUF_REG_FALLBACK in every
/// FETCH and COMMIT) B reaches the daemon anyway — FETCH t1 completes, the daemon commits it
/// and B ends; without, `ublk_auto_buf_register` ends B with -EIO and FETCH t1 stays queued.
/// The daemon then UNREGISTERs index 1 and commits A; STOP_DEV; exit.
pub(crate) fn fallback(fallback: bool, id: &str) -> ModelProgram {
    let mut daemon = vec![fetch(0, false), fetch(1, false), wait(0), reg(0, 1)];
    if fallback {
        daemon.extend([wait(1), commit(1, 4096, false)]);
    }
    daemon.extend([unreg(0, 1), commit(0, 4096, false), Op::Exit]);
    let s = sc(
        if fallback {
            "auto-buf-reg-fallback"
        } else {
            "auto-buf-reg-no-fallback"
        },
        "an automatic registration that finds its index taken, with and without FALLBACK",
        DevConfig {
            depth: 2,
            copy: CopyMode::AutoBufReg,
            auto_fallback: fallback,
            ..DevConfig::default()
        },
        vec![
            server("daemon", true, daemon),
            submit(&[Bio::Read]),
            submit(&[Bio::Read]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
        ],
    );
    let (d, a, b, c) = ("daemon", "submitter0", "submitter1", "control");
    let mut order = vec![d, d, c, a, d, d, b];
    if fallback {
        order.extend([d, d]); // B's CQE, COMMIT t1
        order.push(b); // B ends
    } else {
        order.push(b); // B ended with -EIO at once
    }
    order.extend([d, d, a, c, d]); // UNREGISTER, COMMIT t0, A ends, STOP_DEV, exit
    program(s, Preset::K72, &order, id)
}
