//! Unit tests of 7.x `ublk_validate_user_pid` (switch `validate-pid`): START_DEV names the
//! first server's pid, and once that server has exited its parent may have reaped it or not.

use crate::config::*;
use crate::exec::EINVAL;
use crate::features::Sw;
use crate::state::State;
use crate::teardown::PID_REAPED;
use crate::tests_multiq::{actor, run};
use crate::{Features, Model, Move, Outcome, Preset};

const FETCH: Op = Op::Fetch {
    q: 0,
    tag: 0,
    buf: true,
};

/// A copy device of one queue and tag with these actors.
pub(crate) fn unit(name: &str, recovery: Recovery, actors: Vec<ActorSpec>) -> Scenario {
    Scenario {
        name: name.into(),
        doc: String::new(),
        dev: DevConfig {
            copy: CopyMode::Copy,
            recovery,
            ..DevConfig::default()
        },
        actors,
    }
}

/// One daemon `d` (FETCH, then `exit` if asked) and a control task that starts the device.
fn one_daemon(exit: bool) -> Scenario {
    let prog = if exit {
        vec![FETCH, Op::Exit]
    } else {
        vec![FETCH]
    };
    unit(
        "unit-pid",
        Recovery::None,
        vec![
            ActorSpec::Server {
                name: "d".into(),
                fixed_file: true,
                prog,
            },
            ActorSpec::Control {
                prog: vec![CtrlOp::StartDev],
            },
        ],
    )
}

/// [`one_daemon`] with the daemon run to its end.
fn model(exit: bool, feat: Features) -> (Model, State, u8) {
    let m = Model::new(&one_daemon(exit), feat).unwrap();
    let mut s = m.init();
    run(&m, &mut s, actor(&m, "d"));
    let c = actor(&m, "control");
    (m, s, c)
}

fn control_step(m: &Model, s: &mut State, actor: u8, choice: u8) -> Option<i32> {
    match m.apply(s, Move { actor, choice }).unwrap() {
        Outcome::Stepped(i) => i.result,
        Outcome::Blocked => panic!("the control command blocked"),
    }
}

#[test]
fn start_dev_after_the_server_exited_finds_it_reaped_or_a_zombie() {
    let (m, s, c) = model(true, Preset::K72.features());
    assert_eq!(m.choices(&s, c), 2);
    // the parent reaped it: find_vpid() fails
    let mut reaped = s.clone();
    assert_eq!(control_step(&m, &mut reaped, c, PID_REAPED), Some(EINVAL));
    assert_eq!(reaped.dev.reaped, 1);
    assert!(!reaped.dev.has_disk);
    // alternative 0: a zombie still has its pid
    let mut zombie = s.clone();
    assert_eq!(control_step(&m, &mut zombie, c, 0), Some(0));
    assert!(zombie.dev.has_disk);
}

#[test]
fn a_live_server_or_a_kernel_without_the_check_has_no_alternative() {
    let (m, mut s, c) = model(false, Preset::K72.features());
    assert_eq!(m.choices(&s, c), 1);
    assert_eq!(control_step(&m, &mut s, c, 0), Some(0));
    for feat in [
        Preset::K72.features().without(Sw::ValidatePid),
        Preset::K612.features(),
    ] {
        let (m, mut s, c) = model(true, feat);
        assert_eq!(m.choices(&s, c), 1);
        assert_eq!(control_step(&m, &mut s, c, 0), Some(0));
    }
}

/// The release work resets `ub->ublksrv_tgid` to -1 only when it found a disk: after the
/// teardown of a started device START_DEV's pid names no opener, whatever the process's fate.
#[test]
fn the_release_work_reset_forgets_the_opener() {
    let m = Model::new(&one_daemon(true), Preset::K72.features()).unwrap();
    let mut s = m.init();
    let (d, c) = (actor(&m, "d"), actor(&m, "control"));
    while s.actors[d as usize].next_op == 0 {
        assert!(matches!(m.apply(&mut s, d), Ok(Outcome::Stepped(_))));
    }
    assert_eq!(control_step(&m, &mut s, c, 0), Some(0));
    // the server exits; its ring exit, and then the release work, run to their ends
    for a in 0..m.actors.len() as u8 {
        run(&m, &mut s, a);
    }
    assert!(!s.dev.release_pending && !s.dev.open);
    assert_eq!(s.dev.ublksrv_tgid, None);
}

/// START_DEV that still waits for the FETCHes has nothing to decide: one alternative.
#[test]
fn a_waiting_start_dev_has_one_alternative() {
    let (m, mut s, c) = model(true, Preset::K72.features());
    // the exited server's FETCH is not counted: START_DEV waits
    s.dev.nr_io_ready = 0;
    assert_eq!(m.choices(&s, c), 1);
    assert!(matches!(m.apply(&mut s, c), Ok(Outcome::Blocked)));
}

/// A recovery whose new server exits: END_USER_RECOVERY names its pid. With every io
/// fetched first the check decides between a zombie and a reaped server (and a START_DEV,
/// which names the old server, is -EINVAL with nothing to decide, and so is a second END once
/// the server is known to be reaped); a new server that exits
/// without FETCHing leaves END waiting, with one alternative.
#[test]
fn end_user_recovery_names_the_new_server() {
    for fetches in [true, false] {
        let new_prog = if fetches {
            vec![FETCH, Op::Exit]
        } else {
            vec![Op::Exit]
        };
        let sc = unit(
            "unit-pid-recovery",
            Recovery::Requeue,
            vec![
                ActorSpec::Server {
                    name: "d".into(),
                    fixed_file: true,
                    prog: vec![FETCH, Op::Exit],
                },
                ActorSpec::RecoveryServer {
                    name: "n".into(),
                    fixed_file: true,
                    prog: new_prog,
                },
                ActorSpec::Control {
                    // with a ready new server, a START_DEV too: it names the old server,
                    // which is no longer the opener
                    prog: [
                        &[CtrlOp::StartDev, CtrlOp::StartUserRecovery][..],
                        if fetches {
                            &[CtrlOp::StartDev][..]
                        } else {
                            &[]
                        },
                        &[CtrlOp::EndUserRecovery, CtrlOp::EndUserRecovery],
                    ]
                    .concat(),
                },
            ],
        );
        let m = Model::new(&sc, Preset::K72.features()).unwrap();
        let mut s = m.init();
        let (d, n, c) = (actor(&m, "d"), actor(&m, "n"), actor(&m, "control"));
        while s.actors[d as usize].next_op == 0 {
            assert!(matches!(m.apply(&mut s, d), Ok(Outcome::Stepped(_))));
        }
        assert_eq!(control_step(&m, &mut s, c, 0), Some(0));
        // the old server exits and its teardown runs: QUIESCED, the opener forgotten
        run(&m, &mut s, d);
        let kernel: Vec<u8> = (0..m.actors.len() as u8)
            .filter(|&a| ![d, n, c].contains(&a))
            .collect();
        for &a in &kernel {
            run(&m, &mut s, a);
        }
        assert_eq!(s.dev.ublksrv_tgid, None);
        assert_eq!(control_step(&m, &mut s, c, 0), Some(0)); // START_USER_RECOVERY
        run(&m, &mut s, actor(&m, "new-server-open"));
        assert_eq!(s.dev.ublksrv_tgid, Some(1));
        run(&m, &mut s, n);
        if !fetches {
            assert_eq!(m.choices(&s, c), 1);
            assert!(matches!(m.apply(&mut s, c), Ok(Outcome::Blocked)));
            continue;
        }
        assert_eq!(m.choices(&s, c), 1);
        assert_eq!(control_step(&m, &mut s, c, 0), Some(EINVAL));
        assert_eq!(m.choices(&s, c), 2);
        let mut reaped = s.clone();
        assert_eq!(control_step(&m, &mut reaped, c, PID_REAPED), Some(EINVAL));
        assert_eq!(reaped.dev.reaped, 2);
        // decided: a second END_USER_RECOVERY has nothing left to choose
        assert_eq!(m.choices(&reaped, c), 1);
        assert_eq!(control_step(&m, &mut reaped, c, 0), Some(EINVAL));
        let mut zombie = s.clone();
        assert_eq!(control_step(&m, &mut zombie, c, 0), Some(0));
        assert_eq!(zombie.dev.state, crate::state::DevState::Live);
    }
}

/// 6.17 (POST, switch `pid-equals-opener`) compares `data[0]` with `ub->ublksrv_tgid` as a
/// number: a dead server's pid still passes (no reap alternative), another opener's or the
/// reset's -1 does not.  PRE (before the commit) takes any pid.
#[test]
fn post_compares_the_pid_with_the_opener_as_a_number() {
    let post = Preset::Post.features();
    assert!(post.has(Sw::PidEqualsOpener) && !post.has(Sw::ValidatePid));
    assert!(!Preset::Pre.features().has(Sw::PidEqualsOpener));
    // the server exited: one alternative, and its number still matches
    let (m, mut s, c) = model(true, post);
    assert_eq!(m.choices(&s, c), 1);
    assert_eq!(control_step(&m, &mut s, c, 0), Some(0));
    // another process opened /dev/ublkcN since (a recovery's server), or the release work
    // reset the tgid: START_DEV naming the first server is refused
    for tgid in [Some(1), None] {
        let (m, mut s, c) = model(false, post);
        s.dev.ublksrv_tgid = tgid;
        assert_eq!(control_step(&m, &mut s, c, 0), Some(EINVAL), "{tgid:?}");
        // without the commit (PRE, or the switch off) any pid passes
        let (m, mut s, c) = model(false, post.without(Sw::PidEqualsOpener));
        s.dev.ublksrv_tgid = tgid;
        assert_eq!(control_step(&m, &mut s, c, 0), Some(0), "{tgid:?}");
    }
}
