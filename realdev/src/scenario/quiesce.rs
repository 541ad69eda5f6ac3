//! `quiesce`: UBLK_U_CMD_QUIESCE_DEV on a device whose only queue has no idle io.
//!
//! 7.2's `ublk_ctrl_quiesce_dev` sets `canceling` on every queue, then
//! `ublk_wait_for_idle_io(ub, data[0] ms)` is to "wait until each hw queue has at least one
//! idle IO" (-EBUSY at the timeout) so that `ublk_cancel_dev` can tell the server, with an
//! ABORT CQE, on every queue. Reading the source, its count of busy requests
//! (`ublk_count_busy_req` under `blk_mq_tagset_busy_iter`) counts `!blk_mq_request_started`
//! requests, but the iterator only calls it for started ones: the count would always be 0,
//! the wait a no-op, and a queue whose every io the server holds would get no ABORT.
//!
//! The device: one hw queue, UBLK_F_USER_RECOVERY | UBLK_F_QUIESCE, copy mode. Server 0 (a
//! `serve-child`, one thread) FETCHes every tag, START_DEV, a read arrives and is held (not
//! committed). Then, per [`QuiesceMode`]:
//!
//! * `busy`: depth 1, so no io is idle. The source's intent: QUIESCE_DEV waits `data[0]` ms
//!   and answers -EBUSY. Suspected: 0 at once, and no ABORT CQE.
//! * `idle` (control): depth 2, the other tag's FETCH is idle: QUIESCE_DEV answers 0 and that
//!   FETCH gets an ABORT (-ENODEV) CQE.
//!
//! Then: the held request is committed (the read completes; is the re-armed FETCH aborted?),
//! and a second read is sent (a canceling queue requeues it: held). Every wait for something
//! that must not come is bounded by [`NO_EVENT`]. Cleanup: the server is killed, then
//! STOP_DEV and DEL_DEV (the device guard deletes it on every other path). On a kernel that
//! does not know UBLK_F_QUIESCE (6.12 masks it at ADD_DEV) the device is kept with the flags
//! granted and the same steps run: the `add_dev` line and `quiesce_dev` say what it did.

use super::session::Session;
use super::*;

/// Which queue state QUIESCE_DEV meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuiesceMode {
    /// Depth 1, the only io held by the server.
    Busy,
    /// Depth 2, one io held, one idle (its FETCH pending).
    Idle,
    /// Control: as `busy`, without QUIESCE_DEV (the second read must reach the server).
    None,
}

impl std::str::FromStr for QuiesceMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<QuiesceMode, String> {
        match s {
            "busy" => Ok(QuiesceMode::Busy),
            "idle" => Ok(QuiesceMode::Idle),
            "none" => Ok(QuiesceMode::None),
            _ => Err(format!("unknown quiesce mode {s:?} (busy | idle | none)")),
        }
    }
}

/// The bound of a wait for an event that is not expected to come (an ABORT CQE, a read the
/// kernel is meant to hold).
const NO_EVENT: Duration = Duration::from_millis(2000);

/// `quiesce`: see the module doc. Returns Ok(()) when the run itself worked, whatever the
/// kernel did; the last line (`quiesce_result`) holds every answer.
pub fn quiesce(o: &Opts) -> Result<()> {
    let depth = match o.quiesce_mode {
        QuiesceMode::Busy | QuiesceMode::None => 1,
        QuiesceMode::Idle => 2,
    };
    let flags = UBLK_F_USER_RECOVERY | UBLK_F_QUIESCE;
    let dev = setup_dev_with(o, 1, depth, flags, false)?;
    let granted = dev.info.flags;
    let mut s = Session::new(dev, o.timeout, 1, depth);
    emit(
        "quiesce_mode",
        json!({"mode": format!("{:?}", o.quiesce_mode), "depth": depth,
               "wait_ms": o.quiesce_wait_ms}),
    );
    let mut out = json!({
        "mode": format!("{:?}", o.quiesce_mode),
        "quiesce_flag_granted": granted & UBLK_F_QUIESCE != 0,
        "flags_granted": feature_names(granted),
    });
    let mut held = Vec::new();
    let send = o.quiesce_mode != QuiesceMode::None;
    let r = run(
        &mut s,
        send.then_some(o.quiesce_wait_ms),
        &mut out,
        &mut held,
    );
    if let Err(e) = &r {
        out["error"] = json!(e.to_string());
    }
    emit("quiesce_result", out.clone());
    let after = cleanup(&mut s, held);
    emit("after_cleanup", after);
    r
}

/// Reads that did not complete (name, result channel): how they end is reported after the
/// cleanup.
type Held = Vec<(&'static str, Receiver<i32>)>;

/// `wait_ms`: QUIESCE_DEV's `data[0]`; `None`: QUIESCE_DEV is not sent.
fn run(
    s: &mut Session,
    wait_ms: Option<u64>,
    out: &mut Value,
    held_reads: &mut Held,
) -> Result<()> {
    s.spawn(0)?;
    let fetches: Vec<usize> = (0..s.depth)
        .map(|tag| s.fetch_tag(0, 0, tag))
        .collect::<Result<_>>()?;
    let start = s.ctrl("start_dev", UBLK_U_CMD_START_DEV, s.pid(0), false);
    out["start_dev"] = json!(start);
    if start != Some(0) {
        out["verdict"] = json!("START_DEV did not succeed");
        return Ok(());
    }
    let (cpu, _) = crate::bio::queue_cpu(s.id, 0)?;
    s.cpus.push(cpu);

    // a read arrives on one tag and is held
    let read1 = s.read_on(0);
    let t = s.t;
    if !s.wait(t, |s| fetches.iter().any(|f| s.cqes.contains_key(f))) {
        return Err(Error::Other(
            "the first read did not reach the server".into(),
        ));
    }
    let held = fetches
        .iter()
        .position(|f| s.cqes.contains_key(f))
        .expect("waited for") as u16;
    let res = s.cqes[&fetches[held as usize]];
    if res != 0 {
        return Err(Error::Other(format!(
            "tag {held}'s FETCH ended {res} instead of carrying the read"
        )));
    }
    let idle: Vec<(u16, usize)> = (0..s.depth)
        .filter(|&tag| tag != held)
        .map(|tag| (tag, fetches[tag as usize]))
        .collect();
    emit(
        "held",
        json!({"tag": held, "idle_tags": idle.iter().map(|i| i.0).collect::<Vec<_>>()}),
    );
    out["held_tag"] = json!(held);
    out["state_before"] = json!(state_name(s));

    // QUIESCE_DEV, timed
    let seen = steps(s);
    if let Some(wait_ms) = wait_ms {
        let (res, ms) = quiesce_dev(s, wait_ms);
        out["quiesce_dev"] = json!(res);
        out["quiesce_dev_errno"] = json!(res.map(|r| if r < 0 { errno_name(r) } else { "" }));
        out["quiesce_elapsed_ms"] = json!(ms);
    } else {
        out["quiesce_dev"] = json!("not sent");
    }
    // ABORT CQEs: the idle tags' FETCHes (any CQE at all in the busy mode), bounded
    let idle_steps: Vec<usize> = idle.iter().map(|i| i.1).collect();
    let all_idle_done = s.wait(NO_EVENT, |s| {
        if idle_steps.is_empty() {
            s.cqes.len() > seen.len()
        } else {
            idle_steps.iter().all(|st| s.cqes.contains_key(st))
        }
    });
    out["cqes_after_quiesce"] = json!(cqes_since(s, &seen));
    out["idle_fetches_aborted"] = json!(!idle_steps.is_empty() && all_idle_done);
    out["state_after_quiesce"] = json!(state_name(s));

    // commit the held request: the read completes; is the re-armed FETCH aborted?
    let seen = steps(s);
    let commit = s.commit(0, 0, held)?;
    let r1 = recv(&read1, t);
    emit("read_done", json!({"read": 1, "res": r1}));
    out["read1"] = r1.map_or(json!("hang"), |v| json!(v));
    if r1.is_none() {
        held_reads.push(("read1", read1));
    }
    s.wait(NO_EVENT, |s| s.cqes.contains_key(&commit));
    out["rearmed_fetch_cqe"] = json!(s.cqes.get(&commit));
    out["cqes_after_commit"] = json!(cqes_since(s, &seen));

    // a second read: held (requeued while the queue is canceling) or dispatched
    let seen = steps(s);
    let read2 = s.read_on(0);
    // the commands still armed: the re-armed FETCH and the idle tags' FETCHes not aborted
    let armed: Vec<(u16, usize)> = std::iter::once((held, commit))
        .chain(idle.iter().copied())
        .filter(|(_, st)| !s.cqes.contains_key(st))
        .collect();
    let dispatched = s.wait(NO_EVENT, |s| {
        armed.iter().any(|(_, st)| s.cqes.get(st) == Some(&0))
    });
    let r2 = if dispatched {
        // it reached the server: serve it
        let (tag, _) = *armed
            .iter()
            .find(|(_, st)| s.cqes.get(st) == Some(&0))
            .expect("waited for");
        out["read2_dispatched_to_tag"] = json!(tag);
        s.commit(0, 0, tag)?;
        recv(&read2, t)
    } else {
        recv(&read2, Duration::ZERO)
    };
    emit("read_done", json!({"read": 2, "res": r2}));
    out["cqes_after_read2"] = json!(cqes_since(s, &seen));
    out["read2"] = match r2 {
        Some(v) => json!(v),
        None => {
            held_reads.push(("read2", read2));
            json!(if dispatched {
                "hang (served by the server)"
            } else {
                "held (not dispatched)"
            })
        }
    };
    out["state_end"] = json!(state_name(s));
    out["verdict"] = json!(match wait_ms {
        Some(w) => verdict(out, w, idle_steps.is_empty()),
        None => format!(
            "control, no QUIESCE_DEV: the second read {}",
            if dispatched {
                "reached the server"
            } else {
                "did not reach the server"
            }
        ),
    });
    Ok(())
}

/// QUIESCE_DEV with `data[0]` = `wait_ms` on its own control ring and thread: (result, ms it
/// took in the kernel). `None` when it did not answer within `wait_ms` + the timeout.
fn quiesce_dev(s: &Session, wait_ms: u64) -> (Option<i32>, f64) {
    let (id, t) = (s.id, s.t);
    let bound = Duration::from_millis(wait_ms) + t;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let r = CtrlRing::open().map(|mut c| {
            let t0 = Instant::now();
            let r = c.quiesce_dev(id, wait_ms, bound);
            (r, t0.elapsed())
        });
        let _ = tx.send(r);
    });
    let (r, took) = match recv(&rx, bound + t) {
        Some(Ok((r, took))) => (Some(r), took),
        Some(Err(e)) => (Some(Err(e)), Duration::ZERO),
        None => (None, bound + t),
    };
    let ms = (took.as_secs_f64() * 1e4).round() / 10.0;
    let res = ctrl_result("quiesce_dev", r);
    emit("quiesce_dev_timing", json!({"res": res, "elapsed_ms": ms}));
    (res, ms)
}

/// The steps whose CQE was reported so far.
fn steps(s: &Session) -> std::collections::HashSet<usize> {
    s.cqes.keys().copied().collect()
}

/// The CQEs reported for steps not in `seen`: step → res (steps in order).
fn cqes_since(s: &Session, seen: &std::collections::HashSet<usize>) -> Value {
    let mut v: Vec<(usize, i32)> = s
        .cqes
        .iter()
        .filter(|(k, _)| !seen.contains(k))
        .map(|(&k, &r)| (k, r))
        .collect();
    v.sort();
    json!(v
        .into_iter()
        .map(|(k, r)| json!({"step": k, "res": r, "errno": if r < 0 { errno_name(r) } else { "" }}))
        .collect::<Vec<_>>())
}

fn state_name(s: &Session) -> String {
    match CtrlRing::open().and_then(|mut c| c.dev_state(s.id, s.t)) {
        Ok(UBLK_S_DEV_DEAD) => "DEAD".into(),
        Ok(UBLK_S_DEV_LIVE) => "LIVE".into(),
        Ok(UBLK_S_DEV_QUIESCED) => "QUIESCED".into(),
        Ok(UBLK_S_DEV_FAIL_IO) => "FAIL_IO".into(),
        Ok(v) => format!("{v}"),
        Err(e) => format!("error: {e}"),
    }
}

fn verdict(out: &Value, wait_ms: u64, busy: bool) -> String {
    let res = out["quiesce_dev"].as_i64();
    let ms = out["quiesce_elapsed_ms"].as_f64().unwrap_or(0.0);
    // data[0] = 0: wait forever
    let quick = wait_ms == 0 || ms < wait_ms as f64 / 2.0;
    let asked = if wait_ms == 0 {
        "forever".to_string()
    } else {
        format!("{wait_ms} ms")
    };
    match (busy, res) {
        (_, Some(r)) if r == -(libc::EOPNOTSUPP as i64) => {
            "QUIESCE_DEV refused -EOPNOTSUPP (the kernel has no UBLK_F_QUIESCE)".into()
        }
        (true, Some(0)) if quick => format!(
            "no idle io, yet QUIESCE_DEV answered 0 after {ms} ms (asked to wait {asked} for \
             one): the wait for an idle io is a no-op"
        ),
        (true, Some(r)) if r == -(libc::EBUSY as i64) => {
            format!("no idle io: QUIESCE_DEV waited {ms} ms and answered -EBUSY, as intended")
        }
        (false, Some(0)) => format!(
            "an idle io: QUIESCE_DEV answered 0 after {ms} ms; idle FETCH aborted: {}",
            out["idle_fetches_aborted"]
        ),
        (_, r) => format!("QUIESCE_DEV answered {r:?} after {ms} ms"),
    }
}

/// Kill the server, wait for the device to leave LIVE (bounded), STOP_DEV and DEL_DEV (the
/// guard's STOP_DEV + DEL_DEV_ASYNC when STOP_DEV fails). Then how the held reads ended.
fn cleanup(s: &mut Session, held: Held) -> Value {
    let t = s.t;
    for p in 0..s.procs.len() as u8 {
        s.kill(p);
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    let mut state = state_name(s);
    while state == "LIVE" && Instant::now() < deadline {
        // polling the kernel's state: the release work runs in a kworker
        thread::sleep(Duration::from_millis(5));
        state = state_name(s);
    }
    emit("state_after_kill", json!({"state": state}));
    let dev = s.dev.take().expect("device");
    // 6.12 fails a request its dead server held only from its monitor work (every 5 s)
    let stop = ctrl_result("stop_dev", recv(&dev.stop_async(t * 4), t * 5));
    if stop == Some(0) {
        ctrl_result("del_dev", Some(dev.delete()));
    } else {
        drop(dev);
    }
    let mut v = json!({"state_after_kill": state, "stop_dev": stop});
    for (name, rx) in held {
        v[name] = recv(&rx, t).map_or(json!("hang"), |r| json!(r));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!("busy".parse::<QuiesceMode>(), Ok(QuiesceMode::Busy));
        assert_eq!("idle".parse::<QuiesceMode>(), Ok(QuiesceMode::Idle));
        assert!("Busy".parse::<QuiesceMode>().is_err());
    }

    #[test]
    fn verdicts() {
        let v = |res: i32, ms: f64, busy: bool| {
            let out = json!({"quiesce_dev": res, "quiesce_elapsed_ms": ms,
                             "idle_fetches_aborted": true});
            verdict(&out, 2000, busy)
        };
        assert!(v(0, 3.0, true).contains("no-op"));
        let out = json!({"quiesce_dev": 0, "quiesce_elapsed_ms": 9.0});
        assert!(verdict(&out, 0, true).contains("wait forever"));
        assert!(v(-libc::EBUSY, 2010.0, true).contains("as intended"));
        assert!(v(0, 3.0, false).contains("aborted: true"));
        assert!(v(-libc::EOPNOTSUPP, 1.0, true).contains("EOPNOTSUPP"));
    }
}
