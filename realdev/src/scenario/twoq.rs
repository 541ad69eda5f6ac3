//! `twoq`: the model's two-queue findings (docs/multiqueue.md, "Findings the two-queue
//! candidates show"), tried on a real kernel. A device with two hw queues of depth 1 and
//! UBLK_F_USER_RECOVERY; each server process is a `serve-child` with one thread and ring per
//! queue; a bio's hw queue is chosen by pinning the submitting thread to a CPU of that queue
//! (`/sys/block/ublkbN/mq/Q/cpu_list`).
//!
//! Common prefix: server 0 FETCHes both queues, START_DEV, one read on each queue (served:
//! proves the CPU → queue mapping), SIGKILL of server 0, START_USER_RECOVERY (polled while
//! -EBUSY), server 1 opens `/dev/ublkcN`. Then, per [`TwoqMode`]:
//!
//! * `close` (7.2, `two-queues-recovery-ring-close`): server 1 FETCHes queue 0 only (queue 0
//!   ready: its `canceling` cleared, `ub->canceling` still set), closes that thread's ring, and
//!   once the ring's exit posted the cancel's CQE, a read on queue 0. The model: S7, NULL
//!   `io->cmd` in `ublk_queue_cmd`.
//! * `close-end`: as `close`, then server 1 FETCHes queue 1 and END_USER_RECOVERY (LIVE)
//!   before the read on queue 0.
//! * `exit-read` (7.2, `two-queues-recovery-restart` on K72): server 1 FETCHes queue 0 only
//!   and exits; a read on queue 0 at once. A race: see [`exit_then_read`].
//! * `restart` (6.12, `two-queues-recovery-restart`): server 1 FETCHes queue 0 only and
//!   exits; a second START_USER_RECOVERY. The model (K612): `ublk_queue_reinit` of queue 1
//!   puts a NULL `ubq_daemon`. If it answers 0, server 2 recovers both queues and a read on
//!   each queue shows whether the device still works.

use super::session::{cleanup, Session};
use super::*;
use crate::program::Act;

/// Which of the model's stories [`twoq`] plays after the common prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TwoqMode {
    Close,
    CloseEnd,
    Restart,
    ExitRead,
}

impl std::str::FromStr for TwoqMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<TwoqMode, String> {
        match s {
            "close" => Ok(TwoqMode::Close),
            "close-end" => Ok(TwoqMode::CloseEnd),
            "restart" => Ok(TwoqMode::Restart),
            "exit-read" => Ok(TwoqMode::ExitRead),
            _ => Err(format!(
                "unknown twoq mode {s:?} (close | close-end | restart | exit-read)"
            )),
        }
    }
}

/// `twoq`: see the module doc. Returns Ok(()) when the run itself worked, whatever the
/// kernel did; the last line (`twoq_result`) says what happened.
pub fn twoq(o: &Opts) -> Result<()> {
    let queues = o.twoq_queues;
    if !(1..=2).contains(&queues) {
        return Err(Error::Other(format!("--queues {queues}: 1 or 2")));
    }
    let dev = setup_dev(o, queues, 1, UBLK_F_USER_RECOVERY)?;
    let mut s = Session::new(dev, o.timeout, queues, 1);
    emit(
        "twoq_mode",
        json!({"mode": format!("{:?}", o.twoq_mode), "queues": queues}),
    );
    let r = run(&mut s, o.twoq_mode);
    let outcome = match &r {
        Ok(v) => v.clone(),
        Err(e) => json!({"error": e.to_string()}),
    };
    emit("twoq_result", outcome.clone());
    let hung = outcome.get("read_q0").is_some_and(|v| v == "hang")
        || outcome
            .get("second_start_recovery")
            .is_some_and(Value::is_null);
    if hung {
        // Tell the VM's supervisor now: after a kernel oops the cleanup may never end.
        crate::report::signal_done(0);
    }
    cleanup(&mut s, hung);
    r.map(|_| ())
}

fn run(s: &mut Session, mode: TwoqMode) -> Result<Value> {
    // server 0: every queue, START_DEV
    s.spawn(0)?;
    let mut pending = Vec::new();
    for q in 0..s.queues {
        pending.push(s.fetch(0, q)?);
    }
    let start = s.ctrl("start_dev", UBLK_U_CMD_START_DEV, s.pid(0), false);
    if start != Some(0) {
        return Ok(json!({"start_dev": start, "verdict": "START_DEV did not succeed"}));
    }
    for q in 0..s.queues {
        let (cpu, list) = crate::bio::queue_cpu(s.id, q)?;
        emit(
            "queue_cpus",
            json!({"queue": q, "cpu_list": list, "pinned_cpu": cpu}),
        );
        s.cpus.push(cpu);
    }
    if s.queues == 2 && s.cpus[0] == s.cpus[1] {
        return Err(Error::Other(
            "both hw queues share a CPU: boot with -smp 2".into(),
        ));
    }
    for (q, step) in pending.into_iter().enumerate() {
        s.served_read(0, q as u16, step)?;
    }

    // the old server dies; recovery
    if !s.kill(0) {
        return Err(Error::Other("server 0 did not exit".into()));
    }
    let rec = s.ctrl(
        "start_user_recovery",
        UBLK_U_CMD_START_USER_RECOVERY,
        0,
        true,
    );
    if rec != Some(0) {
        return Ok(json!({"start_user_recovery": rec, "verdict": "recovery did not start"}));
    }
    s.spawn(1)?;
    let n0 = s.fetch(1, 0)?;
    let mut out = json!({"start_user_recovery": rec, "new_fetch_q0_cqe": s.cqes.get(&n0)});
    match mode {
        TwoqMode::Close | TwoqMode::CloseEnd => close_then_read(s, mode, &mut out)?,
        TwoqMode::Restart => restart(s, &mut out)?,
        TwoqMode::ExitRead => exit_then_read(s, &mut out)?,
    }
    Ok(out)
}

/// The 7.2 finding: queue 0's new daemon closes its ring once queue 0 is ready.
fn close_then_read(s: &mut Session, mode: TwoqMode, out: &mut Value) -> Result<()> {
    s.act(1, 2, Act::CloseRing)?;
    let t = s.t;
    let seen = s.wait(t, |s| s.exit_cqes.contains(&2));
    out["cancel_cqe_after_close"] = json!(seen);
    if mode == TwoqMode::CloseEnd {
        if s.queues == 2 {
            let n1 = s.fetch(1, 1)?;
            out["new_fetch_q1_cqe"] = json!(s.cqes.get(&n1));
        }
        let end = s.ctrl(
            "end_user_recovery",
            UBLK_U_CMD_END_USER_RECOVERY,
            s.pid(1),
            false,
        );
        out["end_user_recovery"] = json!(end);
    }
    let state = CtrlRing::open().and_then(|mut c| c.dev_state(s.id, t));
    out["state_before_read"] = json!(format!("{state:?}"));
    let rx = s.read_on(0);
    let r = recv(&rx, t);
    emit("read_done", json!({"queue": 0, "res": r}));
    out["read_q0"] = r.map_or(json!("hang"), |v| json!(v));
    out["verdict"] = json!(match r {
        None =>
            "the read on queue 0 did not complete within the timeout: an oops in \
                 ublk_queue_rq in the kernel log is the 7.2 finding (NULL io->cmd); without \
                 one the bio waits (requeued, or the queue quiesced)",
        Some(0) => "the read on queue 0 was served: no NULL io->cmd",
        Some(_) => "the read on queue 0 failed without a hang: no NULL io->cmd",
    });
    Ok(())
}

/// The 7.2 finding's race form (K72 `two-queues-recovery-restart`): the new server readies
/// queue 0 only and exits; a read on queue 0 sent at once. Only a read that lands between the
/// exit's cancel of queue 0's FETCH and the release work's `ublk_set_canceling` finds the
/// NULL `io->cmd`; earlier it is dispatched to the live FETCH, later it is requeued.
fn exit_then_read(s: &mut Session, out: &mut Value) -> Result<()> {
    s.act(1, 2, Act::Exit)?;
    let rx = s.read_on(0);
    let t = s.t;
    let r = recv(&rx, t);
    emit("read_done", json!({"queue": 0, "res": r}));
    out["server_1_gone"] = json!(s.wait(t, |s| s.gone.contains(&1)));
    out["read_q0"] = r.map_or(json!("hang"), |v| json!(v));
    out["verdict"] = json!(match r {
        None =>
            "the read on queue 0 did not complete within the timeout: an oops in \
                 ublk_queue_rq in the kernel log = the read hit the window; none = it was \
                 dispatched to the live FETCH or requeued",
        Some(_) => "the read on queue 0 completed",
    });
    Ok(())
}

/// The 6.12 finding: the new server readies queue 0 only and exits; START_USER_RECOVERY again.
fn restart(s: &mut Session, out: &mut Value) -> Result<()> {
    s.act(1, 2, Act::Exit)?;
    let t = s.t;
    if !s.wait(t, |s| s.gone.contains(&1)) {
        return Err(Error::Other("server 1 did not exit".into()));
    }
    s.procs[1].reap();
    let rec2 = s.ctrl(
        "start_user_recovery",
        UBLK_U_CMD_START_USER_RECOVERY,
        0,
        true,
    );
    out["second_start_recovery"] = json!(rec2);
    if rec2 != Some(0) {
        out["verdict"] = json!(match rec2 {
            None =>
                "the second START_USER_RECOVERY never answered: an oops in \
                     ublk_ctrl_uring_cmd (ublk_queue_reinit) in the kernel log is the 6.12 \
                     finding (put_task_struct(NULL))",
            Some(_) => "the second START_USER_RECOVERY was refused",
        });
        return Ok(());
    }
    // the kernel took it: a third server recovers every queue; does the device still work?
    s.spawn(2)?;
    let mut pending = Vec::new();
    for q in 0..s.queues {
        pending.push(s.fetch(2, q)?);
    }
    let end = s.ctrl(
        "end_user_recovery",
        UBLK_U_CMD_END_USER_RECOVERY,
        s.pid(2),
        false,
    );
    out["end_user_recovery"] = json!(end);
    if end == Some(0) {
        for (q, step) in pending.into_iter().enumerate() {
            s.served_read(2, q as u16, step)?;
        }
        out["reads_after"] = json!("served on every queue");
    }
    out["verdict"] = json!(
        "the second START_USER_RECOVERY answered 0 (no put_task_struct(NULL)); a third \
         server recovered the device"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::child::ChildCfg;

    #[test]
    fn a_server_config_without_queues_serves_queue_0() {
        let old = r#"{"dev_id":3,"depth":1,"table_size":0,"servers":[[0,false],[1,true]]}"#;
        let c: ChildCfg = serde_json::from_str(old).unwrap();
        assert_eq!((c.queue_of(0), c.queue_of(1)), (0, 0));
        let c = ChildCfg {
            queues: vec![0, 1],
            ..c
        };
        assert_eq!((c.queue_of(0), c.queue_of(1), c.queue_of(2)), (0, 1, 0));
    }

    #[test]
    fn modes_parse() {
        assert_eq!("close-end".parse::<TwoqMode>(), Ok(TwoqMode::CloseEnd));
        assert!("Close".parse::<TwoqMode>().is_err());
    }
}
