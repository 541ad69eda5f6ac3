//! AUTO_BUF_REG without ZERO_COPY (`DevConfig::auto_no_zc`): the dispatch still registers
//! the request's buffer in the daemon's ring, but a REGISTER_IO_BUF or UNREGISTER_IO_BUF by
//! hand is -EINVAL (7.2 tests `ublk_dev_support_zero_copy` on both, on and off the daemon).

use super::*;
use crate::state::flag;

/// A depth-1 auto-buf-reg device (`auto_no_zc` as given); the daemon FETCHes, waits for the
/// read, REGISTERs its request at index 1, UNREGISTERs index 1, then COMMITs.
fn auto_device(auto_no_zc: bool) -> Model {
    let dev = DevConfig {
        copy: CopyMode::AutoBufReg,
        auto_no_zc,
        ..DevConfig::default()
    };
    let (q, tag) = (0, 0);
    let prog = vec![
        Op::Fetch { q, tag, buf: false },
        wait(0),
        Op::Register { q, tag, idx: 1 },
        Op::Unregister { q, tag, idx: 1 },
        Op::Commit {
            q,
            tag,
            result: 4096,
            buf: false,
        },
    ];
    model_on(
        Preset::K72,
        dev,
        vec![
            server("d", prog),
            bios(&[Bio::Read]),
            control(&[CtrlOp::StartDev]),
        ],
    )
}

/// The daemon's results: FETCH's CQE, REGISTER, UNREGISTER (the read dispatched between).
fn daemon_results(m: &Model) -> (State, Vec<i32>) {
    let mut s = m.init();
    let (d, b, c) = (id(m, "d"), id(m, "submitter0"), id(m, "control"));
    run(m, &mut s, d);
    assert_eq!(until_result(m, &mut s, c), 0, "START_DEV");
    run(m, &mut s, b);
    settle_but(m, &mut s, &[d, b, c]);
    let out = vec![
        until_result(m, &mut s, d),
        until_result(m, &mut s, d),
        until_result(m, &mut s, d),
    ];
    (s, out)
}

#[test]
fn without_zero_copy_the_dispatch_registers_but_the_server_cannot() {
    let m = auto_device(true);
    let (s, got) = daemon_results(&m);
    assert!(
        s.slots[0].has(flag::AUTO_BUF_REG),
        "the dispatch registered the buffer"
    );
    assert_eq!(got, vec![0, EINVAL, EINVAL], "CQE, REGISTER, UNREGISTER");
    // with ZERO_COPY both work
    let m = auto_device(false);
    let (_, got) = daemon_results(&m);
    assert_eq!(got, vec![0, 0, 0]);
}

#[test]
fn auto_no_zc_needs_an_auto_buf_reg_device() {
    let sc = Scenario {
        name: "x".into(),
        doc: String::new(),
        dev: DevConfig {
            auto_no_zc: true,
            ..copy(1)
        },
        actors: vec![control(&[CtrlOp::StartDev])],
    };
    assert!(Model::new(&sc, Preset::K72.features()).is_err());
}

/// UNREGISTER of the index the dispatch registered: 7.2 refuses it on a device without
/// ZERO_COPY (-EINVAL) before touching the table; the series' v1 (POST without
/// `v2-unreg-zc-check`) had no such test and unregisters the buffer (0). (Mutation testing:
/// neither side of `V2UnregZc || !P09` was pinned.)
#[test]
fn unregister_of_the_auto_registered_index() {
    let run_on = |feat: crate::Features| {
        let sc = Scenario {
            name: "auto-unreg".into(),
            doc: String::new(),
            dev: DevConfig {
                copy: CopyMode::AutoBufReg,
                auto_no_zc: true,
                ..DevConfig::default()
            },
            actors: vec![
                server(
                    "d",
                    vec![
                        Op::Fetch {
                            q: 0,
                            tag: 0,
                            buf: false,
                        },
                        wait(0),
                        Op::Unregister {
                            q: 0,
                            tag: 0,
                            idx: 0,
                        },
                    ],
                ),
                bios(&[Bio::Read]),
                control(&[CtrlOp::StartDev]),
            ],
        };
        let m = Model::new(&sc, feat).unwrap();
        let mut s = m.init();
        let (d, b, c) = (id(&m, "d"), id(&m, "submitter0"), id(&m, "control"));
        run(&m, &mut s, d);
        assert_eq!(until_result(&m, &mut s, c), 0, "START_DEV");
        run(&m, &mut s, b);
        settle_but(&m, &mut s, &[d, b, c]);
        assert_eq!(until_result(&m, &mut s, d), 0, "the read's CQE");
        until_result(&m, &mut s, d)
    };
    assert_eq!(run_on(Preset::K72.features()), EINVAL);
    let v1 = Preset::Post
        .features()
        .without(crate::features::Sw::V2UnregZc);
    assert_eq!(run_on(v1), 0);
}
