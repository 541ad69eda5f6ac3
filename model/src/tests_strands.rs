//! Unit tests of server threads of several strands (`ActorSpec::Strand`): one thread that
//! serves two tags takes their CQEs in the order they come, and is in one syscall at a time.

use crate::config::*;
use crate::state::*;
use crate::tests_multiq::{actor, run};
use crate::{Model, Move, Outcome, Preset};

/// FETCH `tag`, wait for its request, COMMIT_AND_FETCH it, wait again.
fn serve(tag: u8) -> Vec<Op> {
    vec![
        Op::Fetch {
            q: 0,
            tag,
            buf: true,
        },
        Op::WaitCqe { q: 0, tag },
        Op::Commit {
            q: 0,
            tag,
            result: 4096,
            buf: true,
        },
        Op::WaitCqe { q: 0, tag },
    ]
}

/// A copy device of depth 2 served by one thread: `daemon` (tag 0) and its strand
/// `daemon/t1` (tag 1); one READ; START_DEV; and `extra` actors.
fn one_thread_two_strands(extra: Vec<ActorSpec>) -> Scenario {
    let mut actors = vec![
        ActorSpec::Server {
            name: "daemon".into(),
            fixed_file: true,
            prog: serve(0),
        },
        ActorSpec::Strand {
            name: "daemon/t1".into(),
            of: 0,
            prog: serve(1),
        },
        ActorSpec::Submitter {
            q: 0,
            bios: vec![Bio::Read],
        },
        ActorSpec::Control {
            prog: vec![CtrlOp::StartDev],
        },
    ];
    actors.extend(extra);
    Scenario {
        name: "unit-strands".into(),
        doc: String::new(),
        dev: DevConfig {
            depth: 2,
            copy: CopyMode::Copy,
            ..DevConfig::default()
        },
        actors,
    }
}

/// Take the first step an actor not in `but` can take; false if none can.
fn step_other(m: &Model, s: &mut State, but: &[u8]) -> bool {
    let moves: Vec<Move> = m.moves(s).filter(|mv| !but.contains(&mv.actor)).collect();
    for mv in moves {
        let mut t = s.clone();
        if let Ok(Outcome::Stepped(_)) = m.apply(&mut t, mv) {
            *s = t;
            return true;
        }
    }
    false
}

/// Both strands FETCHed, the device started: the state a request arrives in.
fn started(m: &Model) -> State {
    let mut s = m.init();
    for a in ["daemon", "daemon/t1", "control"] {
        run(m, &mut s, actor(m, a));
    }
    assert_eq!(s.dev.state, DevState::Live);
    s
}

/// The request takes tag 1 (blk-mq's any free tag): the strand serving tag 1 takes its CQE
/// while the one serving tag 0 still waits — the thread serves requests in the order they
/// come.  A single program waiting for tag 0 first would wait forever (the L1 artefact the
/// sweep reported for per-queue daemons before strands).
#[test]
fn the_strand_whose_tag_got_the_request_serves_it() {
    let m = Model::new(&one_thread_two_strands(vec![]), Preset::K72.features()).unwrap();
    assert!(
        m.any_tag,
        "each strand serves one tag: a request may get any free tag"
    );
    let mut s = started(&m);
    let (sub, d0, d1) = (
        actor(&m, "submitter0"),
        actor(&m, "daemon"),
        actor(&m, "daemon/t1"),
    );
    // the submitter's alternative naming tag 1
    let (_, tags) = m.tag_alternatives(&s, sub).expect("two free tags");
    let choice = tags.iter().position(|&t| t == 1).unwrap() as u8;
    assert!(matches!(
        m.apply(&mut s, Move { actor: sub, choice }),
        Ok(Outcome::Stepped(_))
    ));
    // the dispatch (the submitter, then the task work) until the CQE of tag 1's FETCH is
    // posted
    while !m.may_step(&s, d1) && step_other(&m, &mut s, &[d0, d1]) {}
    assert!(m.may_step(&s, d1), "tag 1's strand sees its CQE");
    assert!(!m.may_step(&s, d0), "tag 0's strand still waits");
    run(&m, &mut s, d1);
    while step_other(&m, &mut s, &[d0]) {}
    let rq = s.reqs.iter().find(|r| r.tag == Some(1)).unwrap();
    assert!(
        rq.ended > 0 && rq.res == 0,
        "tag 1's READ ended well: {rq:?}"
    );
    assert!(
        !s.actors[sub as usize].in_kernel(),
        "the submitter collected its bio"
    );
}

/// A thread is in one syscall at a time: while one strand is inside a handler, no other
/// strand of its thread starts an operation, and the thread's task work waits too.
#[test]
fn a_strand_waits_while_another_is_inside_a_syscall() {
    let m = Model::new(&one_thread_two_strands(vec![]), Preset::K72.features()).unwrap();
    let mut s = m.init();
    let (d0, d1) = (actor(&m, "daemon"), actor(&m, "daemon/t1"));
    assert!(m.may_step(&s, d0) && m.may_step(&s, d1));
    // FETCH's entry: the handler then waits for ub->mutex (Resume::Fetch)
    assert!(matches!(m.apply(&mut s, d0), Ok(Outcome::Stepped(_))));
    assert!(s.actors[d0 as usize].in_kernel());
    assert!(!m.may_step(&s, d1), "the thread is inside d0's FETCH");
    run(&m, &mut s, d0);
    assert!(!s.actors[d0 as usize].in_kernel());
    assert!(
        m.may_step(&s, d1),
        "d0 waits for a CQE: the thread is between syscalls"
    );
}

/// The process's exit ends every strand of each thread once: /dev/ublkcN loses the process's
/// reference and each ring's, not one more per strand.
#[test]
fn exit_ends_every_strand_once() {
    let mut sc = one_thread_two_strands(vec![]);
    let ActorSpec::Server { prog, .. } = &mut sc.actors[0] else {
        unreachable!()
    };
    prog.truncate(1);
    prog.push(Op::Exit);
    let m = Model::new(&sc, Preset::K72.features()).unwrap();
    let mut s = m.init();
    let refs = s.dev.file_refs;
    let (d0, d1) = (actor(&m, "daemon"), actor(&m, "daemon/t1"));
    run(&m, &mut s, d0);
    assert!(s.tasks[0].exiting);
    assert!(s.actors[d0 as usize].done && s.actors[d1 as usize].done);
    assert!(!m.may_step(&s, d1));
    // the process's fd table went away (one reference); the ring, a fixed-file holder, keeps
    // its own until it is freed
    assert_eq!(s.dev.file_refs, refs - 1);
}

/// A fault on the thread hits all of its strands.
#[test]
fn a_thread_death_ends_every_strand() {
    let m = Model::new(
        &one_thread_two_strands(vec![ActorSpec::ThreadDeath { server: 0 }]),
        Preset::K72.features(),
    )
    .unwrap();
    let mut s = m.init();
    run(&m, &mut s, actor(&m, "thread-death(daemon)"));
    assert!(s.actors[actor(&m, "daemon") as usize].done);
    assert!(s.actors[actor(&m, "daemon/t1") as usize].done);
}

/// A strand names a server thread that exists; on 6.12 (one daemon per queue) a thread's
/// strands count as that thread's tags.
#[test]
fn strands_are_checked_against_their_thread() {
    let mut bad = one_thread_two_strands(vec![]);
    bad.actors[1] = ActorSpec::Strand {
        name: "stray".into(),
        of: 3,
        prog: serve(1),
    };
    let e = Model::new(&bad, Preset::K72.features()).unwrap_err();
    assert!(e.contains("unknown server thread"), "{e}");
    // one thread with both tags: a per-queue daemon, fine on 6.12
    assert!(Model::new(&one_thread_two_strands(vec![]), Preset::K612.features()).is_ok());
    // a second thread racing for tag 1 (B-5's shape) beside the thread whose strands FETCH
    // both tags: the first thread is the queue's daemon, fine on 6.12
    let mut race = one_thread_two_strands(vec![]);
    race.actors.push(ActorSpec::Server {
        name: "racer".into(),
        fixed_file: true,
        prog: serve(1),
    });
    assert!(Model::new(&race, Preset::K612.features()).is_ok());
    // a second thread FETCHing tag 1 while the first serves tag 0: per-io daemons
    let mut perio = one_thread_two_strands(vec![]);
    perio.actors[1] = ActorSpec::Server {
        name: "other".into(),
        fixed_file: true,
        prog: serve(1),
    };
    let e = Model::new(&perio, Preset::K612.features()).unwrap_err();
    assert!(e.contains("per-io daemons"), "{e}");
}
