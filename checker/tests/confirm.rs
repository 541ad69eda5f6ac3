//! `ublksim confirm` without a VM: the findings it collects, which of them compile into a
//! real-device program (and what a run must show), and how a boot's output is read — the
//! kernel log attributed to programs by the executor's marks, and each run judged.

use ublk_checker::conform::confirm::{self, Finding, Plan, Symptom};
use ublk_checker::conform::confirm_log::{self, RunOutcome};
use ublk_model::Preset;
use ublk_program::{Got, Program, RunResult, Verdict};

fn findings(preset: Preset, scenario: &str) -> Vec<Finding> {
    confirm::collect(preset, &[scenario.to_string()]).unwrap()
}

fn planned(preset: Preset, scenario: &str) -> (Finding, Program, Symptom, &'static str) {
    let f = findings(preset, scenario).remove(0);
    match confirm::plan(&f) {
        Plan::Program {
            program,
            symptom,
            order,
        } => (f, program, symptom, order),
        Plan::NotExpressible(why) => panic!("{scenario}: not expressible: {why}"),
    }
}

fn not_expressible(preset: Preset, scenario: &str) -> String {
    let f = findings(preset, scenario).remove(0);
    match confirm::plan(&f) {
        Plan::NotExpressible(why) => why,
        Plan::Program { .. } => panic!("{scenario} compiled"),
    }
}

fn result(id: &str, verdict: Verdict, got: Vec<Got>) -> RunResult {
    RunResult {
        id: id.into(),
        verdict_text: verdict.text(),
        verdict,
        got,
        followed: vec![],
        ms: 1.0,
    }
}

#[test]
fn a_known_scenario_yields_its_finding() {
    let f = findings(Preset::K72, "thread-exit-before-start");
    assert_eq!(f.len(), 2, "O-6's S7 and its S5 form");
    assert_eq!((f[0].bug.as_str(), f[0].what.as_str()), ("O-6", "S7"));
    assert_eq!(f[0].name, "thread-exit-before-start");
    assert_eq!(f[1].name, "thread-exit-before-start-2");
    assert!(f[0].signature.starts_with("S7 at ublk_queue_cmd"));
    let o7 = findings(Preset::K72, "exit-before-unregister");
    assert_eq!(o7[0].label(), "O-7 hang L2");
    // a scenario that passes has nothing to confirm
    assert!(findings(Preset::K72, "daemon-zc").is_empty());
}

#[test]
fn o6_compiles_in_its_order_of_completion_with_the_read_steered_to_tag_1() {
    let (_, p, sym, order) = planned(Preset::K72, "thread-exit-before-start");
    assert_eq!(order, "order of completion, tags steered");
    let acts: Vec<String> = p
        .steps
        .iter()
        .map(|s| format!("{} {}", p.threads[s.thread].name, s.act.name()))
        .collect();
    assert_eq!(
        acts,
        [
            "daemon1 FETCH t1",
            "daemon1 close ring",
            "daemon0 FETCH t0",
            "control START_DEV",
            "submitter1 submit READ",
            "submitter0 submit READ"
        ]
    );
    assert_eq!(
        sym,
        Symptom::Violation {
            step: 5,
            what: "submit READ".into(),
            inv: "S7".into(),
            returns: false
        }
    );
}

#[test]
fn o7_waits_for_the_read_the_model_says_never_ends() {
    let (_, p, sym, order) = planned(Preset::K72, "exit-before-unregister");
    assert_eq!(order, "trace order");
    assert_eq!(p.steps.len(), 8);
    assert_eq!(
        sym,
        Symptom::Blocks {
            step: 7,
            what: "bio completion".into()
        }
    );
    assert!(p.steps[..7]
        .iter()
        .all(|s| s.expect != ublk_program::Expect::Blocks));
}

#[test]
fn o12_is_a_control_command_that_returns() {
    let (_, _, sym, _) = planned(Preset::K72, "quiesce-busy-queue");
    assert!(
        matches!(&sym, Symptom::Violation { returns: true, inv, .. } if inv == "S11"),
        "{sym:?}"
    );
    assert_eq!(sym.risk(), 0);
}

#[test]
fn what_cannot_be_a_program_says_why() {
    assert!(not_expressible(Preset::K72, "fake-timeout-zc").contains("fault injection"));
    // O-5 runs on an elevator device (programs have one now), but its user copy must race the
    // request's end inside the kernel: no sequential order shows it
    let why = not_expressible(Preset::K72, "stale-pointer-window");
    assert!(
        why.contains("do not break S1") && why.contains("dispatching submitter0's bio"),
        "{why}"
    );
    // O-8 needs the quiesce work to run after START_USER_RECOVERY: a kernel interleaving
    let why = not_expressible(Preset::K612, "recovery-new-server");
    assert!(
        why.contains("do not break S7") && why.contains("kernel context nosrv-work"),
        "{why}"
    );
}

/// Two-queue findings compile: each server thread acts on one hw queue and a submitter is
/// pinned to a CPU of its queue. O-11 (6.12) in the trace's order; a 7.2 recovery S7 whose
/// shortest counterexample needs an interleaving, by the shortest sequential order with the
/// same signature (`conform::seqsearch`).
#[test]
fn two_queue_findings_become_programs() {
    let k612 = findings(Preset::K612, "two-queues-recovery-restart");
    let o11 = k612.iter().find(|f| f.bug == "O-11").unwrap();
    let o11 = (k612.iter().filter(|f| f.bug == "O-11"))
        .find_map(|f| match confirm::plan(f) {
            Plan::Program { program, .. } => Some(program),
            Plan::NotExpressible(_) => None,
        })
        .unwrap_or_else(|| panic!("no O-11 finding compiles ({})", o11.name));
    assert_eq!(o11.dev.queues, 2);
    let queues: Vec<(String, u16)> = (o11.threads.iter())
        .map(|t| (t.name.clone(), t.queue))
        .collect();
    assert!(queues.contains(&("daemon-q1".into(), 1)), "{queues:?}");
    assert!(queues.contains(&("new-daemon-q0".into(), 0)), "{queues:?}");
    // the second START_USER_RECOVERY retries an -EBUSY the model does not predict (the exited
    // new server's file is released by its ring's exit work, after exit_group returns)
    let polled = (o11.steps.iter())
        .filter(|s| s.act == ublk_program::Act::StartUserRecovery { poll: true })
        .count();
    assert_eq!(polled, 2, "both START_USER_RECOVERYs retry -EBUSY");
    let (_, p, sym, order) = planned(Preset::K72, "two-queues-recovery-ring-close");
    assert_eq!(order, "shortest sequential order of the same signature");
    assert_eq!(p.dev.queues, 2);
    assert!(
        matches!(&sym, Symptom::Violation { inv, what, .. } if inv == "S7" && what == "submit READ"),
        "{sym:?}"
    );
}

#[test]
fn hand_kept_findings_are_read_by_preset() {
    // the folder's last files (O-9) moved to the corpus once explained: a finding kept by
    // hand is any conformance trace, named by its id
    let root = ublk_checker::conform::runner::repo_root();
    let dir = tempfile::tempdir().unwrap();
    for (from, to) in [
        (
            "traces/corpus/6.12/thread-exit-then-read-6.12.jsonl",
            "o9-read-6.12.jsonl",
        ),
        (
            "traces/corpus/thread-exit-then-write-7.2.jsonl",
            "o9-write-7.2.jsonl",
        ),
    ] {
        std::fs::copy(root.join(from), dir.path().join(to)).unwrap();
    }
    let f = confirm::collect_hand(Preset::K612, dir.path()).unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].bug, "O-9");
    assert!(matches!(
        confirm::plan(&f[0]),
        Plan::Program {
            symptom: Symptom::Diverges,
            ..
        }
    ));
    let k72 = confirm::collect_hand(Preset::K72, dir.path()).unwrap();
    assert_eq!(k72.len(), 1);
    assert_eq!(k72[0].bug, "O-9");
    assert_eq!(confirm::bug_of_file("o12-x"), "O-12");
    assert_eq!(confirm::bug_of_file("thing"), "HAND");
    assert!(confirm::collect_hand(Preset::K72, std::path::Path::new("/nonexistent")).is_err());
    // the repository's folder exists (confirm's default) and holds no finding today
    assert!(
        confirm::collect_hand(Preset::K72, &root.join("traces/findings"))
            .unwrap()
            .is_empty()
    );
}

/// A boot's output as `scripts/vm/run.sh` prints it: the executor's lines, then the run's
/// kernel log with the marks, then the console tail.
const BOOT: &str = r#"@@BOOT kernel=7.2.13+deb14-cloud-amd64 uptime=2.91
{"event":"features","flags":"0x7fff"}
{"event":"result","id":"thread-exit-before-start#0","verdict":{"Hang":{"step":5,"what":"submit READ: expected done","predicted":false}},"verdict_text":"hang at step 5","got":[],"ms":12311.6}
{"event":"result","id":"quiesce-busy-queue#0","verdict":{"Error":"ADD_DEV: no completion within 5s"},"verdict_text":"error: ADD_DEV: no completion within 5s","got":[],"ms":5049.1}
{"event":"error","error":"kernel wedged after program quiesce-busy-queue#0: ADD_DEV: no completion within 5s"}
{"event":"batch_done","programs":2,"failures":2,"seconds":17.4}
@@PAYLOAD_DONE uptime=21.50
@@DMESG (kernel log of the run)
[    3.912000] ublk_drv: loading out-of-tree module taints kernel.
[    3.963577] ublk-realdev: @@PROG 0 thread-exit-before-start#0
[    4.270634] BUG: kernel NULL pointer dereference, address: 0000000000000018
[    4.270990] #PF: supervisor write access in kernel mode
[    4.271350] Oops: Oops: 0002 [#1] SMP NOPTI
[    4.272755] RIP: 0010:ublk_queue_rq+0x5d/0xe0 [ublk_drv]
[    4.277080] RIP: 0033:0x7fe3c49f41c7
[   16.299193] ublk-realdev: @@PROG 1 quiesce-busy-queue#0
[   21.100000] sysrq: Show Blocked State
@@EXIT=1
---- kernel console (tail) ----
[    4.270634] BUG: kernel NULL pointer dereference, address: 0000000000000018
"#;

#[test]
fn the_kernel_log_goes_to_the_program_that_was_running() {
    let log = confirm_log::kernel_log(BOOT, None);
    let a = confirm_log::attribute(&log, 2, None);
    assert!(a[0][0].starts_with("BUG: kernel NULL pointer dereference"));
    assert_eq!(a[0].len(), 5);
    assert_eq!(a[1], ["sysrq: Show Blocked State"]);
    // the boot's own lines (before the first mark) belong to no program
    assert!(!a.iter().flatten().any(|l| l.contains("taints")));
    assert!(confirm_log::is_oops(
        "[    4.2] Oops: Oops: 0002 [#1] SMP NOPTI"
    ));
    assert!(confirm_log::is_oops(
        "[  130.1] INFO: task ublk-realdev:77 blocked for more than 120 seconds."
    ));
    assert!(!confirm_log::is_oops("[    3.9] ublk-realdev: @@PROG 0 x"));
    assert!(!confirm_log::is_oops("[    3.9] ublk_drv: loading"));
    assert_eq!(confirm_log::strip_stamp("[    4.2] RIP: x"), "RIP: x");
}

#[test]
fn without_a_dmesg_section_the_console_is_read_and_unmarked_lines_go_to_the_stopped_program() {
    // the guest died: no @@DMESG; the whole console has the oops and no marks
    let stdout = "@@BOOT kernel=7.2 uptime=2.9\n{\"event\":\"result\"}\n";
    let console = "[    1.0] Linux version 7.2\n[    9.0] general protection fault, probably for non-canonical address 0xdead\n[    9.1] RIP: 0010:ublk_ch_uring_cmd+0x20\n";
    let log = confirm_log::kernel_log(stdout, Some(console));
    assert_eq!(log.len(), 3);
    let a = confirm_log::attribute(&log, 3, Some(1));
    assert!(a[0].is_empty() && a[2].is_empty());
    assert_eq!(a[1].len(), 3);
    // with marks on the console, they decide
    let console = "[    1.0] ublk-realdev: @@PROG 0 a#0\n[    2.0] ublk-realdev: @@PROG 1 b#0\n[    9.0] BUG: unable to handle page fault\n";
    let log = confirm_log::kernel_log(stdout, Some(console));
    let a = confirm_log::attribute(&log, 3, Some(2));
    assert!(a[0].is_empty() && a[2].is_empty());
    assert_eq!(a[1], ["BUG: unable to handle page fault"]);
}

#[test]
fn runs_are_judged_by_oops_or_symptom() {
    let (_, o6, o6_sym, _) = planned(Preset::K72, "thread-exit-before-start");
    let (_, o7, o7_sym, _) = planned(Preset::K72, "exit-before-unregister");
    let (_, o12, o12_sym, _) = planned(Preset::K72, "quiesce-busy-queue");
    let log = confirm_log::kernel_log(BOOT, None);
    let a = confirm_log::attribute(&log, 2, None);
    let hang5 = Verdict::Hang {
        step: 5,
        what: "submit READ: expected done".into(),
        predicted: false,
    };
    // (a) an oops in the program's kernel log, with the kernel's RIP
    let r = result("o6#0", hang5.clone(), vec![]);
    match confirm_log::judge_run(&o6, &o6_sym, &r, &a[0], true) {
        RunOutcome::Reproduced(e) => {
            assert!(
                e.starts_with("kernel: BUG: kernel NULL pointer dereference"),
                "{e}"
            );
            assert!(
                e.ends_with("RIP: 0010:ublk_queue_rq+0x5d/0xe0 [ublk_drv]"),
                "{e}"
            );
        }
        o => panic!("{o:?}"),
    }
    // an oops even when the guest died before the executor reported the run
    let o = confirm_log::judge_run(&o6, &o6_sym, &r, &a[0], false);
    assert!(o.is_reproduced());
    // no result and no oops: run again
    let o = confirm_log::judge_run(&o6, &o6_sym, &r, &[], false);
    assert!(matches!(o, RunOutcome::NoResult(_)));
    // an ADD_DEV that fails: an earlier program wedged the kernel, not this one's doing
    let add = result(
        "q#0",
        Verdict::Error("ADD_DEV: no completion within 5s".into()),
        vec![],
    );
    let o = confirm_log::judge_run(&o12, &o12_sym, &add, &a[1], true);
    assert!(matches!(o, RunOutcome::NoResult(_)), "{o:?}");
    // a violation's step that never completes, without a kernel message: lost
    let o = confirm_log::judge_run(&o6, &o6_sym, &r, &[], true);
    assert!(o.is_reproduced(), "{o:?}");
    // the read completed as if nothing happened: not reproduced, and it says what happened
    let div = Verdict::Diverges {
        step: 5,
        what: "submit READ".into(),
        expected: "done".into(),
        got: "0".into(),
    };
    let o = confirm_log::judge_run(&o6, &o6_sym, &result("o6#1", div, vec![]), &[], true);
    assert_eq!(
        o,
        RunOutcome::NotReproduced("diverges at step 5 (submit READ: expected done, got 0)".into())
    );
    // (b) O-7: the predicted hang at step 7, then the device could not be deleted
    let mut got = vec![
        Got::Pending,
        Got::Done(Some(0)),
        Got::Pending,
        Got::Done(Some(0)),
        Got::Done(Some(0)),
        Got::Pending,
        Got::Done(None),
        Got::Hang,
    ];
    let wedged =
        Verdict::Error("DEL_DEV after the program: DEL_DEV: no completion within 5s".into());
    let o = confirm_log::judge_run(
        &o7,
        &o7_sym,
        &result("o7#0", wedged.clone(), got.clone()),
        &[],
        true,
    );
    match o {
        RunOutcome::Reproduced(e) => {
            assert!(
                e.starts_with(
                    "step 7 (bio completion) never completes, as predicted; then DEL_DEV"
                ),
                "{e}"
            )
        }
        o => panic!("{o:?}"),
    }
    // the read ended: the program diverges at step 7, not reproduced
    got[7] = Got::Done(Some(-5));
    let o = confirm_log::judge_run(&o7, &o7_sym, &result("o7#1", wedged, got), &[], true);
    assert!(
        matches!(&o, RunOutcome::NotReproduced(t) if t.starts_with("diverges at step 7")),
        "{o:?}"
    );
    // O-12: QUIESCE_DEV returns (the model's prediction stops where S11 breaks, before its
    // result: "done"), which is the bug
    let got12 = vec![
        Got::Pending,
        Got::Done(Some(0)),
        Got::Pending,
        Got::Done(Some(0)),
    ];
    let div12 = Verdict::Diverges {
        step: 3,
        what: "QUIESCE_DEV wait 0 ms".into(),
        expected: "done".into(),
        got: "0".into(),
    };
    let o = confirm_log::judge_run(
        &o12,
        &o12_sym,
        &result("q#1", div12, got12.clone()),
        &[],
        true,
    );
    assert_eq!(
        o,
        RunOutcome::Reproduced(
            "step 3 (QUIESCE_DEV wait 0 ms) returned 0 where the model breaks S11".into()
        )
    );
    let o = confirm_log::judge_run(
        &o12,
        &o12_sym,
        &result("q#2", Verdict::Conforms, got12.clone()),
        &[],
        true,
    );
    assert!(o.is_reproduced(), "{o:?}");
    // an errno there is a refusal before the model's path (O-11's START_USER_RECOVERY
    // answering -EBUSY while the new server's file was still open): not the bug
    let mut busy = got12;
    busy[3] = Got::Done(Some(-16));
    let div_busy = Verdict::Diverges {
        step: 3,
        what: "QUIESCE_DEV wait 0 ms".into(),
        expected: "done".into(),
        got: "-16 (EBUSY)".into(),
    };
    let o = confirm_log::judge_run(&o12, &o12_sym, &result("q#4", div_busy, busy), &[], true);
    assert!(
        matches!(&o, RunOutcome::NotReproduced(t) if t.contains("refused before the path")),
        "{o:?}"
    );
    // QUIESCE_DEV that waits (the fixed kernel) does not show it
    let hang12 = Verdict::Hang {
        step: 3,
        what: "QUIESCE_DEV wait 0 ms: expected done".into(),
        predicted: false,
    };
    let o = confirm_log::judge_run(&o12, &o12_sym, &result("q#3", hang12, vec![]), &[], true);
    assert!(
        matches!(&o, RunOutcome::NotReproduced(t) if t.starts_with("hang at step 3")),
        "a QUIESCE_DEV that waits is the fixed kernel: {o:?}"
    );
    // but a plain conforming run of a violation that does not return shows nothing
    let o = confirm_log::judge_run(
        &o6,
        &o6_sym,
        &result("o6#2", Verdict::Conforms, vec![]),
        &[],
        true,
    );
    assert!(matches!(&o, RunOutcome::NotReproduced(t) if t.starts_with("conformed without")));
}

#[test]
fn a_boot_is_read_in_one_go_and_tallied() {
    let (_, o6, o6_sym, _) = planned(Preset::K72, "thread-exit-before-start");
    let (_, o12, o12_sym, _) = planned(Preset::K72, "quiesce-busy-queue");
    let results = vec![
        result(
            "thread-exit-before-start#0",
            Verdict::Hang {
                step: 5,
                what: "x".into(),
                predicted: false,
            },
            vec![],
        ),
        result(
            "quiesce-busy-queue#0",
            Verdict::Error("ADD_DEV: no completion within 5s".into()),
            vec![],
        ),
        result(
            "quiesce-busy-queue#1",
            Verdict::Error("no result: the run ended before this program".into()),
            vec![],
        ),
    ];
    let progs = [(&o6, &o6_sym), (&o12, &o12_sym), (&o12, &o12_sym)];
    let outs = confirm_log::read_boot(&progs, &results, 2, BOOT, None);
    assert!(outs[0].is_reproduced());
    assert!(matches!(outs[1], RunOutcome::NoResult(_)));
    assert!(matches!(outs[2], RunOutcome::NoResult(_)));
    let t = confirm_log::tally(&outs[..1], 3);
    assert_eq!(
        (t.verdict.as_str(), t.hits, t.runs, t.asked),
        ("reproduced", 1, 1, 3)
    );
    let t = confirm_log::tally(&outs[1..], 3);
    assert_eq!((t.verdict.as_str(), t.runs), ("no result", 0));
    let nr = [RunOutcome::NotReproduced("conformed".into())];
    assert_eq!(confirm_log::tally(&nr, 1).verdict, "not reproduced");
}

#[test]
fn an_oops_while_booting_is_no_programs_doing() {
    // measured under TCG: the guest panics 1.8 s into boot, before /init ran anything
    let (_, o7, o7_sym, _) = planned(Preset::K72, "exit-before-unregister");
    let console = "[    1.839780] Modules linked in:\n[    1.840136] Oops: int3: 0000 [#2] SMP NOPTI\n[    1.840204] RIP: 0010:sched_clock_cpu+0x9/0x230\n[    1.840398] Kernel panic - not syncing: Fatal exception in interrupt\n";
    let lost = result(
        "exit-before-unregister#1",
        Verdict::Error("no result: the run ended before this program".into()),
        vec![],
    );
    let outs = confirm_log::read_boot(
        &[(&o7, &o7_sym), (&o7, &o7_sym)],
        &[lost.clone(), lost],
        0,
        "---- kernel console (tail) ----\n",
        Some(console),
    );
    assert!(
        outs.iter().all(|o| matches!(o, RunOutcome::NoResult(_))),
        "{outs:?}"
    );
}

#[test]
fn the_schedule_is_deterministic_rounds_by_risk() {
    let (_, o6, o6_sym, _) = planned(Preset::K72, "thread-exit-before-start");
    let (_, o7, o7_sym, _) = planned(Preset::K72, "exit-before-unregister");
    let (_, o12, o12_sym, _) = planned(Preset::K72, "quiesce-busy-queue");
    let plans = [(1, &o6, &o6_sym), (3, &o7, &o7_sym), (17, &o12, &o12_sym)];
    let s = confirm::schedule(&plans, 2, 5);
    assert_eq!(s, [(17, 0), (17, 1), (1, 0), (1, 1), (3, 0), (3, 1)]);
    assert_eq!(s, confirm::schedule(&plans, 2, 5));
    assert_eq!(confirm::run_copy(&o6, 1).id, "thread-exit-before-start#1");
    // a racing program: `stress` runs, after every other program; `--repeat 0` runs only it
    let b5 = confirm::collect(Preset::K612, &["small-concurrent-fetch".into()]).unwrap();
    let Plan::Program {
        program: race,
        symptom: race_sym,
        ..
    } = confirm::plan_stress(&b5[0])
    else {
        panic!("B-5 has a racing program")
    };
    let with_race = [(1, &o6, &o6_sym), (9, &race, &race_sym)];
    let s = confirm::schedule(&with_race, 1, 3);
    assert_eq!(s, [(1, 0), (9, 0), (9, 1), (9, 2)]);
    assert_eq!(confirm::schedule(&with_race, 0, 2), [(9, 0), (9, 1)]);
}
