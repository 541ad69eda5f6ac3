//! A batch of programs (`ublk-realdev run-batch`): one result line per program, the kernel-log
//! marks that attribute kernel messages to programs, and what the executor refuses to run.

use std::time::{Duration, Instant};

use crate::ctrl::CtrlRing;
use crate::error::Result;
use crate::exec::{run_program, ExecOpts};
use crate::program::*;
use crate::uapi::*;

/// The kernel-log line that opens program `k` (`id`) of a batch (see [`ExecOpts::kmsg_marks`]).
pub fn kmsg_mark(k: usize, id: &str) -> String {
    format!("ublk-realdev: @@PROG {k} {id}")
}

fn write_kmsg_mark(k: usize, id: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        // one write is one record; a failure only loses the mark
        let _ = f.write_all(format!("<3>{}\n", kmsg_mark(k, id)).as_bytes());
    }
}

/// Why the executor cannot run `p` at all (before touching the kernel).
pub fn unsupported(p: &Program) -> Option<String> {
    if p.dev.depth == 0 || p.dev.depth > 16 {
        return Some("depth must be 1..=16".into());
    }
    if p.dev.io_bytes == 0 || p.dev.io_bytes % 512 != 0 || p.dev.io_bytes > 32 << 10 {
        return Some("io_bytes must be a multiple of 512 in 512..=32768".into());
    }
    if !(1..=2).contains(&p.dev.queues) {
        return Some("queues must be 1 or 2 (the VM has 2 CPUs)".into());
    }
    if p.dev.quiesce && p.dev.recovery == RecoveryKind::None {
        return Some(
            "quiesce needs a recovery kind (UBLK_F_QUIESCE needs UBLK_F_USER_RECOVERY)".into(),
        );
    }
    if !p.dev.quiesce
        && p.steps
            .iter()
            .any(|s| matches!(s.act, Act::QuiesceDev { .. }))
    {
        return Some("QUIESCE_DEV on a device without quiesce".into());
    }
    if p.dev.elevator && p.dev.queues != 1 {
        return Some("an I/O scheduler on a device of two queues (none by default)".into());
    }
    if !p.dev.elevator && p.threads.iter().any(|t| t.kind == ThreadKind::Elevator) {
        return Some("an elevator switch on a device without an I/O scheduler".into());
    }
    if let Some(t) = p.threads.iter().find(|t| t.queue >= p.dev.queues) {
        return Some(format!(
            "thread {} acts on a queue the device lacks",
            t.name
        ));
    }
    racing_group_problem(p)
}

/// What is wrong with the program's racing groups (`Step::race_us`), if anything: a group is a
/// step and the steps right after it that race it, each a system call of another thread.
fn racing_group_problem(p: &Program) -> Option<String> {
    for (k, s) in p.steps.iter().enumerate() {
        let Some(us) = s.race_us else { continue };
        if k == 0 {
            return Some("step 0 races no step before it".into());
        }
        if !(-1_000_000..=1_000_000).contains(&us) {
            return Some(format!("step {k}: a race offset beyond 1 s ({us} µs)"));
        }
        let start = (0..k).rev().find(|&j| p.steps[j].race_us.is_none())?;
        if s.act.is_wait() || p.steps[start].act.is_wait() {
            return Some(format!("step {k}: a wait cannot race"));
        }
        if p.steps[start..k].iter().any(|x| x.thread == s.thread) {
            return Some(format!(
                "step {k}: two steps of one thread cannot race each other"
            ));
        }
    }
    None
}

/// Run a batch (JSON lines of programs): one result line per program on stdout, then a
/// summary. Returns the number of failures.
pub fn run_batch(text: &str, o: &ExecOpts) -> Result<usize> {
    let mut ctrl = CtrlRing::open()?;
    let features = ctrl.get_features(Duration::from_secs(5))?;
    drop(ctrl);
    crate::report::emit(
        "features",
        serde_json::json!({"flags": format!("{features:#x}"), "names": feature_names(features)}),
    );
    let t0 = Instant::now();
    let (mut n, mut failures) = (0, 0);
    for (k, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r = match serde_json::from_str::<Program>(l) {
            Ok(p) => {
                if o.kmsg_marks {
                    write_kmsg_mark(n, &p.id);
                }
                run_program(&p, features, o)
            }
            Err(e) => RunResult {
                id: format!("line {}", k + 1),
                verdict: Verdict::Error(format!("malformed program: {e}")),
                verdict_text: format!("error: malformed program: {e}"),
                got: vec![],
                followed: vec![],
                ms: 0.0,
            },
        };
        n += 1;
        if r.verdict.is_failure() {
            failures += 1;
        }
        crate::report::emit(
            "result",
            serde_json::to_value(&r).expect("result serialises"),
        );
        // a device that cannot be deleted (or added) means the kernel is wedged: every
        // further program would only time out
        if let Verdict::Error(e) = &r.verdict {
            if e.contains("DEL_DEV") || e.contains("ADD_DEV") {
                // in the VM (its /init sets UBLK_REALDEV_DONE_FILE): show where the kernel is
                // stuck — SysRq-W puts every blocked task's stack in the run's kernel log
                if std::env::var_os("UBLK_REALDEV_DONE_FILE").is_some() {
                    let _ = std::fs::write("/proc/sysrq-trigger", "w");
                }
                crate::report::emit(
                    "error",
                    serde_json::json!({"error": format!("kernel wedged after program {}: {e}", r.id)}),
                );
                break;
            }
        }
    }
    crate::report::emit(
        "batch_done",
        serde_json::json!({"programs": n, "failures": failures,
                           "seconds": t0.elapsed().as_secs_f64()}),
    );
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn racing(acts: &[(usize, Act, Option<i32>)]) -> Program {
        let server = |name: &str| ThreadSpec {
            name: name.into(),
            kind: ThreadKind::Server {
                fixed_file: true,
                process: 0,
            },
            queue: 0,
        };
        Program {
            id: "race".into(),
            dev: DevCfg::default(),
            threads: vec![server("a"), server("b")],
            steps: acts
                .iter()
                .map(|(thread, act, race_us)| Step {
                    thread: *thread,
                    act: act.clone(),
                    expect: Expect::Pending,
                    after: vec![],
                    race_us: *race_us,
                })
                .collect(),
        }
    }

    #[test]
    fn two_threads_may_race_but_not_one_thread_or_a_wait() {
        let fetch = Act::Fetch { tag: 0, buf: true };
        let ok = racing(&[(0, fetch.clone(), None), (1, fetch.clone(), Some(-20))]);
        assert_eq!(unsupported(&ok), None);
        let one = racing(&[(0, fetch.clone(), None), (0, fetch.clone(), Some(0))]);
        assert!(unsupported(&one).unwrap().contains("one thread"));
        let wait = racing(&[
            (0, fetch.clone(), None),
            (1, Act::WaitCqe { tag: 0 }, Some(0)),
        ]);
        assert!(unsupported(&wait).unwrap().contains("wait"));
        let first = racing(&[(0, fetch.clone(), Some(0))]);
        assert!(unsupported(&first).unwrap().contains("step 0"));
        let far = racing(&[(0, fetch.clone(), None), (1, fetch, Some(2_000_000))]);
        assert!(unsupported(&far).unwrap().contains("beyond 1 s"));
    }
}
