//! Tests of the refcount harness: sequential on std (always), exhaustive
//! under loom (`RUSTFLAGS="--cfg loom" cargo test -p ublk-engines --release`).

use crate::inclusion::check_log;
use crate::refcount::{Ev, Mutations, Op::*, UBLK_REFCOUNT_INIT as INIT};

/// The configurations that must pass (thread 0 is the daemon).
pub fn passing() -> Vec<(&'static str, Vec<Vec<crate::refcount::Op>>)> {
    vec![
        (
            "daemon reg/unreg/commit vs off-task reg/unreg",
            vec![vec![Register, Release, Commit], vec![Register, Release]],
        ),
        (
            "daemon reg, commit, unreg vs off-task reg/unreg",
            vec![vec![Register, Commit, Release], vec![Register, Release]],
        ),
        (
            "commit vs two off-task reg/unreg",
            vec![
                vec![Commit],
                vec![Register, Release],
                vec![Register, Release],
            ],
        ),
    ]
}

#[cfg(not(loom))]
fn orders(n: usize) -> Vec<Vec<u8>> {
    let fwd: Vec<u8> = (0..n as u8).collect();
    let rev: Vec<u8> = fwd.iter().rev().copied().collect();
    vec![fwd, rev]
}

#[cfg(not(loom))]
#[test]
fn sequential_runs_pass_and_are_model_runs() {
    for (name, progs) in passing() {
        for o in orders(progs.len()) {
            let (log, fin) =
                crate::refcount::execute_sequential(&progs, &o, INIT, Mutations::default());
            check_log(&progs, &log, Some(fin)).unwrap_or_else(|e| panic!("{name} {o:?}: {e}"));
        }
    }
}

#[cfg(not(loom))]
#[test]
fn inclusion_rejects_a_log_the_model_cannot_take() {
    let progs = vec![vec![Register, Release, Commit], vec![Register, Release]];
    let (mut log, fin) =
        crate::refcount::execute_sequential(&progs, &[0, 1], INIT, Mutations::default());
    // the helper registers after the commit: the model's inc_not_zero fails
    let at = log
        .iter()
        .position(|e| e.1 == Ev::IncNotZero(false))
        .unwrap();
    log[at].1 = Ev::IncNotZero(true);
    assert!(check_log(&progs, &log, None).is_err());
    // a wrong final count is caught too
    let (log, _) = crate::refcount::execute_sequential(&progs, &[1, 0], INIT, Mutations::default());
    assert!(check_log(&progs, &log, Some((fin.0 + 1, fin.1, fin.2))).is_err());
}

fn panics(f: impl FnOnce() + std::panic::UnwindSafe) -> Option<String> {
    std::panic::catch_unwind(f).err().map(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[cfg(not(loom))]
#[test]
fn sequential_mutations_leak_and_overflow_fail() {
    let progs = vec![vec![Register, Release, Commit], vec![Register, Release]];
    let leak = Mutations {
        fake_timeout_leak: true,
        ..Default::default()
    };
    let m = panics(|| {
        crate::refcount::execute_sequential(&progs, &[0, 1], INIT, leak);
    });
    assert!(m.unwrap().contains("a leak"));
    let ovf = vec![vec![
        Register, Register, Register, Commit, Release, Release, Release,
    ]];
    let (_, fin) = crate::refcount::execute_sequential(&ovf, &[0], 2, Mutations::default());
    assert_eq!(fin, (0, 0, 1));
    let no_check = Mutations {
        no_overflow_check: true,
        ..Default::default()
    };
    let m = panics(|| {
        crate::refcount::execute_sequential(&ovf, &[0], 2, no_check);
    });
    assert!(m.unwrap().contains("underflow"));
}

#[cfg(loom)]
mod under_loom {
    use super::*;
    use crate::refcount::Op;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    type Logs = BTreeSet<(Vec<(u8, Ev)>, (u32, u32, u32))>;

    /// Every loom execution of `progs`; Err(panic message) if one fails.
    fn explore(progs: &[Vec<Op>], init: u32, mu: Mutations) -> (Result<Logs, String>, u64) {
        let logs = Arc::new(Mutex::new(Logs::new()));
        let n = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (l, c, p) = (logs.clone(), n.clone(), progs.to_vec());
        let r = panics(move || {
            let mut b = loom::model::Builder::new();
            b.preemption_bound = None;
            b.check(move || {
                c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let out = crate::refcount::execute(&p, init, mu);
                l.lock().unwrap().insert(out);
            });
        });
        let execs = n.load(std::sync::atomic::Ordering::Relaxed);
        let logs = std::mem::take(&mut *logs.lock().unwrap());
        (r.map_or(Ok(logs), Err), execs)
    }

    #[test]
    fn post_passes_and_every_execution_is_a_model_run() {
        for (name, progs) in passing() {
            let (r, execs) = explore(&progs, INIT, Mutations::default());
            let logs = r.unwrap_or_else(|e| panic!("{name}: loom failed: {e}"));
            println!(
                "{name}: {execs} loom executions, {} distinct logs",
                logs.len()
            );
            assert!(
                logs.len() > 1,
                "{name}: loom explored one interleaving only"
            );
            for (log, fin) in &logs {
                check_log(&progs, log, Some(*fin)).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }

    #[test]
    fn trb_touched_off_task_is_a_data_race() {
        let mu = Mutations {
            trb_off_task: true,
            ..Default::default()
        };
        let progs = vec![vec![Register, Release, Commit], vec![Register, Release]];
        let (r, _) = explore(&progs, INIT, mu);
        let e = r.expect_err("loom must report the off-task access");
        assert!(e.contains("Causality violation"), "{e}");
    }

    #[test]
    fn patch10_fake_timeout_leak_b11_is_caught() {
        let mu = Mutations {
            fake_timeout_leak: true,
            ..Default::default()
        };
        let progs = vec![vec![Register, Release, Commit], vec![Register, Release]];
        let (r, _) = explore(&progs, INIT, mu);
        assert!(r.expect_err("leak").contains("a leak"));
    }

    #[test]
    fn dropping_the_overflow_check_is_caught() {
        // UBLK_REFCOUNT_INIT scaled down to 2 so the boundary is reachable
        let progs = vec![
            vec![
                Register, Register, Register, Commit, Release, Release, Release,
            ],
            vec![Register, Release],
        ];
        let (ok, _) = explore(&progs, 2, Mutations::default());
        ok.expect("with the check the off-task fallback keeps the counts right");
        let mu = Mutations {
            no_overflow_check: true,
            ..Default::default()
        };
        let (r, _) = explore(&progs, 2, mu);
        assert!(r.expect_err("overflow").contains("underflow"));
    }
}
