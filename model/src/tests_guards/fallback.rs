//! AUTO_BUF_REG's FALLBACK flag (`DevConfig::auto_fallback`): an automatic registration that
//! fails (its index taken) hands the request to the server without a buffer (7.2's
//! `ublk_auto_buf_register` → `ublk_auto_buf_reg_fallback`) instead of ending it with -EIO.
//! Corpus: `auto-buf-reg-fallback-7.2` and `auto-buf-reg-no-fallback-7.2`.

use super::*;
use crate::exec::EIO;
use crate::state::flag;

/// A depth-2 auto-buf-reg device, one daemon: read A takes tag 0 (registered at index 0),
/// the daemon REGISTERs A's buffer at index 1 too, then read B takes tag 1, whose automatic
/// registration finds index 1 taken. Returns the model, the state after B's dispatch, and
/// the ids of the daemon and of B's submitter.
fn collide(fallback: bool) -> (Model, State, u8, u8) {
    let dev = DevConfig {
        depth: 2,
        copy: CopyMode::AutoBufReg,
        auto_fallback: fallback,
        ..DevConfig::default()
    };
    let fetch = |tag| Op::Fetch {
        q: 0,
        tag,
        buf: false,
    };
    let prog = vec![
        fetch(0),
        fetch(1),
        wait(0),
        Op::Register {
            q: 0,
            tag: 0,
            idx: 1,
        },
        wait(1),
    ];
    let read = || ActorSpec::Submitter {
        q: 0,
        bios: vec![Bio::Read],
    };
    let m = model_on(
        Preset::K72,
        dev,
        vec![
            server("d", prog),
            read(),
            read(),
            control(&[CtrlOp::StartDev]),
        ],
    );
    let mut s = m.init();
    let (d, a, b, c) = (
        id(&m, "d"),
        id(&m, "submitter0"),
        id(&m, "submitter1"),
        id(&m, "control"),
    );
    run(&m, &mut s, d);
    assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
    run(&m, &mut s, a);
    settle_but(&m, &mut s, &[d, a, b, c]);
    assert_eq!(until_result(&m, &mut s, d), 0, "A's CQE on t0");
    assert_eq!(
        until_result(&m, &mut s, d),
        0,
        "REGISTER A's buffer at index 1"
    );
    run(&m, &mut s, b);
    settle_but(&m, &mut s, &[d, a, b, c]);
    (m, s, d, b)
}

#[test]
fn with_fallback_the_request_reaches_the_server_without_a_buffer() {
    let (m, mut s, d, b) = collide(true);
    assert_eq!(until_result(&m, &mut s, d), 0, "B's CQE on t1");
    let t1 = &s.slots[1];
    assert!(t1.has(flag::OWNED_BY_SRV), "the daemon owns B");
    assert!(!t1.has(flag::AUTO_BUF_REG), "nothing registered for B");
    assert!(run(&m, &mut s, b).is_empty(), "B is in flight");
}

#[test]
fn without_fallback_the_request_ends_with_eio() {
    let (m, mut s, d, b) = collide(false);
    assert_eq!(run(&m, &mut s, b), vec![EIO], "B ended by the dispatch");
    assert!(step(&m, &mut s, d).is_none(), "FETCH t1 stays queued");
    assert!(!s.slots[1].has(flag::OWNED_BY_SRV));
}
