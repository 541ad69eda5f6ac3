//! Tests of following the kernel's tag choice: the chooser, `followable` and the relabel.

use crate::conform::choice::followable;
use crate::conform::compile::*;
use crate::conform::corpus::program;
use crate::conform::generate::generate_one;
use crate::scenarios::dsl::{commit, control, fetch, sc, server, submit, wait};
use std::collections::HashSet;
use ublk_model::{Bio, CopyMode, CtrlOp, DevConfig, Preset};
use ublk_program::{Act, Expect};

const K72: Preset = Preset::K72;

/// A depth-2 zero-copy device whose daemon FETCHes both tags on one ring; one READ; the daemon
/// waits for tag `t`'s CQE, commits it, and the read completes.
fn per_queue_daemon(t: u8, helper_fetches_t1: bool) -> ModelProgram {
    let mut daemon = vec![fetch(0, false)];
    if !helper_fetches_t1 {
        daemon.push(fetch(1, false));
    }
    daemon.extend([wait(t), commit(t, 4096, false)]);
    let mut actors = vec![server("daemon", false, daemon)];
    let mut names = vec!["daemon", "daemon"];
    if helper_fetches_t1 {
        actors.push(server("helper", false, vec![fetch(1, false)]));
        names = vec!["daemon", "helper"];
    }
    actors.push(submit(&[Bio::Read]));
    actors.push(control(&[CtrlOp::StartDev]));
    names.extend(["control", "submitter0", "daemon", "daemon", "submitter0"]);
    let s = sc(
        "tag-choice",
        "a request on either of two armed tags",
        DevConfig {
            depth: 2,
            copy: CopyMode::ZeroCopy,
            ..DevConfig::default()
        },
        actors,
    );
    program(s, K72, &names, "tag-choice")
}

#[test]
fn the_read_is_a_choice_between_the_two_armed_tags() {
    let mp = per_queue_daemon(0, false);
    let (c, pts) = compile_with(&mp, K72.features(), &[]).unwrap();
    assert_eq!(pts.len(), 1);
    assert_eq!((pts[0].pos, pts[0].tags.clone()), (Some(3), vec![0, 1]));
    // the default (lowest tag): the read's request lands on t0, whose FETCH completes
    assert!(c.program.steps[3]
        .after
        .iter()
        .any(|e| e.of == 0 && e.expect == Expect::Done(Some(0))));
    assert_eq!(
        c.program.steps[6].expect,
        Expect::Done(Some(0)),
        "the read ends"
    );
}

#[test]
fn a_forced_choice_moves_the_request() {
    // the same program with the request forced onto t1: the daemon waits for t0 in vain
    let mp = per_queue_daemon(0, false);
    let (c, _) = compile_with(&mp, K72.features(), &[1]).unwrap();
    let read = &c.program.steps[3];
    assert!(read
        .after
        .iter()
        .any(|e| e.of == 1 && e.expect == Expect::Done(Some(0))));
    assert_eq!(c.program.steps[4].expect, Expect::Blocks);
}

#[test]
fn following_a_choice_is_the_relabelled_program() {
    let mp = per_queue_daemon(0, false);
    assert_eq!(followable(&mp, K72.features()), Ok(()));
    // what the executor does when the kernel picks t1 is what the model predicts for the
    // program written for t1 with the choice t1
    let (mut relabelled, _) = compile_with(&mp, K72.features(), &[]).unwrap();
    relabelled.program.relabel(3, 0, 1);
    let (t1, _) = compile_with(&per_queue_daemon(1, false), K72.features(), &[1]).unwrap();
    assert_eq!(relabelled.program.steps, t1.program.steps);
    assert_eq!(relabelled.program.steps[4].act, Act::WaitCqe { tag: 1 });
}

#[test]
fn a_tag_armed_by_another_thread_cannot_be_followed() {
    // per-io daemons: the request may go to the helper's FETCH while the daemon waits
    let mp = per_queue_daemon(0, true);
    let err = followable(&mp, K72.features()).unwrap_err();
    assert!(err.contains("instead of 0"), "{err}");
}

#[test]
fn generated_depth_2_programs_with_bios_are_followable() {
    let (f, ex) = (K72.features(), HashSet::new());
    let mut with_choice = 0;
    for n in 0..60 {
        let mp = generate_one(11, n, f, &ex);
        let (_, pts) = compile_with(&mp, f, &[]).unwrap();
        if !pts.is_empty() {
            with_choice += 1;
            assert_eq!(followable(&mp, f), Ok(()), "{}", mp.id);
        }
    }
    assert!(
        with_choice >= 5,
        "{with_choice} of 60 programs let the kernel choose"
    );
}

/// Two reads one after the other on a depth-2 per-queue daemon: the first request's tag goes
/// to the sbitmap's `cleared` mask when it ends, so the second request takes tag 1 although
/// tag 0 is free (lib/sbitmap.c: deferred clear; the lowest bit of the word otherwise).
fn two_reads_in_a_row(second_wait: u8) -> ModelProgram {
    let daemon = vec![
        fetch(0, false),
        fetch(1, false),
        wait(0),
        commit(0, 4096, false),
        wait(second_wait),
        commit(second_wait, 4096, false),
    ];
    let s = sc(
        "two-reads",
        "two reads in a row on two armed tags",
        DevConfig {
            depth: 2,
            copy: CopyMode::ZeroCopy,
            ..DevConfig::default()
        },
        vec![
            server("daemon", false, daemon),
            submit(&[Bio::Read, Bio::Read]),
            control(&[CtrlOp::StartDev]),
        ],
    );
    let names = [
        "daemon",
        "daemon",
        "control",
        "submitter0",
        "daemon",
        "daemon",
        "submitter0",
        "submitter0",
        "daemon",
        "daemon",
        "submitter0",
    ];
    program(s, K72, &names, "two-reads")
}

#[test]
fn the_second_request_takes_the_tag_the_first_did_not_free_yet() {
    let f = K72.features();
    let (c, pts) = compile_with(&two_reads_in_a_row(1), f, &[]).unwrap();
    assert_eq!(pts.len(), 2);
    assert_eq!(pts[1].tags, vec![1, 0], "the sbitmap's pick first");
    // the second read (step 7) lands on t1: the re-armed t0 stays queued
    let read2 = &c.program.steps[7];
    assert!(read2
        .after
        .iter()
        .any(|e| e.of == 1 && e.expect == Expect::Done(Some(0))));
    assert_eq!(
        c.program.steps[10].expect,
        Expect::Done(Some(0)),
        "the second read ends"
    );
    assert_eq!(followable(&two_reads_in_a_row(1), f), Ok(()));
    // a program written for "lowest free tag" waits for t0 in vain
    let (c0, _) = compile_with(&two_reads_in_a_row(0), f, &[]).unwrap();
    assert_eq!(c0.program.steps[8].expect, Expect::Blocks);
}

/// With an I/O scheduler a requeued request gives its driver tag back and the requeue work
/// takes a free one again: a choice point of the requeue work. A WRITE committed with 0 bytes
/// is requeued (a partial completion); tag 0 is then parked in the sbitmap's `cleared`, so
/// the re-dispatch takes tag 1.
#[test]
fn the_requeue_work_chooses_a_tag_too() {
    use crate::conform::oracle::{oracle_model, predict_with, Chooser};
    let daemon = vec![
        fetch(0, true),
        fetch(1, true),
        wait(0),
        commit(0, 0, true),
        wait(1),
    ];
    let s = sc(
        "requeue-choice",
        "a requeued request re-dispatched by the requeue work",
        DevConfig {
            depth: 2,
            copy: CopyMode::Copy,
            elevator: true,
            ..DevConfig::default()
        },
        vec![
            server("daemon", true, daemon),
            submit(&[Bio::Write]),
            control(&[CtrlOp::StartDev]),
        ],
    );
    let m = oracle_model(&s, K72.features()).unwrap();
    let id = |n| m.actor_id(n).unwrap();
    let (d, b, c) = (id("daemon"), id("submitter0"), id("control"));
    let mut ch = Chooser::default();
    let p = predict_with(&m, &[d, d, c, b, d, d, d], &mut ch).unwrap();
    assert!(p.violation.is_none());
    let requeue = ch
        .points
        .iter()
        .find(|pt| pt.pos == Some(5))
        .expect("a choice at the COMMIT's requeue");
    assert_eq!(requeue.tags, vec![1, 0], "the sbitmap's pick first");
    assert_eq!(
        p.steps[6].observed,
        crate::conform::oracle::Observed::Done(Some(0))
    );
}
