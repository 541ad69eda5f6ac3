//! The oracle's predictions on 6.12's scenarios (NEED_GET_DATA in task work, the per-queue
//! daemon, DEL_DEV).

use crate::conform::oracle::{predict, Observed::*};
use ublk_model::{Model, Preset};

fn actor(m: &Model, name: &str) -> u8 {
    m.actor_id(name).unwrap()
}

fn by_name(n: &str) -> ublk_model::Scenario {
    crate::scenarios::by_name(n).unwrap()
}

/// One program FETCHes both tags and serves a WRITE through NEED_GET_DATA, then a READ on
/// tag 0 (the oracle predicts blk-mq's tag pick; the built-in `queue-daemon-two-tags` is one
/// strand per tag instead, which a fixed order cannot name).
fn queue_daemon_ngd() -> ublk_model::Scenario {
    use crate::scenarios::dsl::{commit, fetch, sc, server, wait, Q};
    use ublk_model::config::*;
    sc(
        "queue-daemon-ngd",
        "a per-queue daemon program: NEED_GET_DATA for a WRITE, then a READ on tag 0",
        crate::conform::corpus_612::dev(2, CopyMode::Copy, true),
        vec![
            server(
                "daemon",
                true,
                vec![
                    fetch(0, false),
                    fetch(1, false),
                    wait(0),
                    Op::NeedGetData { q: Q, tag: 0 },
                    wait(0),
                    commit(0, 4096, true),
                    wait(0),
                    commit(0, 4096, true),
                    wait(0),
                    Op::Exit,
                ],
            ),
            ActorSpec::Submitter {
                q: Q,
                bios: vec![Bio::Write, Bio::Read],
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev, CtrlOp::StopDev],
            },
        ],
    )
}

#[test]
fn oracle_runs_a_queue_daemon_program_with_need_get_data() {
    let m = Model::new(&queue_daemon_ngd(), Preset::K612.features()).unwrap();
    let (d, b, c) = (
        actor(&m, "daemon"),
        actor(&m, "submitter0"),
        actor(&m, "control"),
    );
    // FETCH t0, FETCH t1, START_DEV, write, CQE (NEED_GET_DATA), NEED_GET_DATA (kept),
    // its CQE (0), COMMIT, the write ends, read, CQE, COMMIT, the read ends,
    // STOP_DEV, the re-armed COMMIT is aborted, exit
    let order = [d, d, c, b, d, d, d, d, b, b, d, d, b, c, d, d];
    let p = predict(&m, &order).unwrap();
    assert!(p.violation.is_none(), "{:?}", p.violation);
    let obs: Vec<_> = p.steps.iter().map(|s| s.observed.clone()).collect();
    assert_eq!(
        obs,
        vec![
            Pending,
            Pending,
            Done(Some(0)),
            Pending,
            Done(Some(1)),
            Done(Some(0)), // kept, completed by task work before the action ends
            Done(Some(0)),
            Pending,
            Done(Some(0)),
            Pending,
            Done(Some(0)),
            Pending,
            Done(Some(0)),
            Done(Some(0)),
            Done(Some(-19)),
            Done(None)
        ]
    );
}

#[test]
fn oracle_runs_user_copy_stop_and_del_dev() {
    let m = Model::new(&by_name("user-copy-queue-daemon"), Preset::K612.features()).unwrap();
    let (d, b, c) = (
        actor(&m, "daemon"),
        actor(&m, "submitter0"),
        actor(&m, "control"),
    );
    // FETCH, START_DEV, read, CQE, pwrite, COMMIT, read ends, STOP_DEV,
    // CQE of the re-armed COMMIT (aborted), DEL_DEV waits until exit
    let order = [d, c, b, d, d, d, b, c, d, c];
    let p = predict(&m, &order).unwrap();
    assert!(p.violation.is_none());
    let obs: Vec<_> = p.steps.iter().map(|s| s.observed.clone()).collect();
    assert_eq!(
        obs,
        vec![
            Pending,
            Done(Some(0)),
            Pending,
            Done(Some(0)),
            Done(Some(4096)),
            Pending,
            Done(Some(0)),
            Done(Some(0)),
            Done(Some(-19)),
            Pending // DEL_DEV stopped the device and waits for the last reference
        ]
    );
    // once the server exits, DEL_DEV returns
    let p = predict(&m, &[d, c, b, d, d, d, b, c, d, d, c]).unwrap();
    assert_eq!(p.steps.last().unwrap().observed, Done(Some(0)));
}
