//! `smoke`: one device lifecycle with one read.

use super::*;

/// `smoke`: ADD_DEV (1 queue, depth 1), SET_PARAMS, FETCH on a daemon thread, START_DEV on
/// another, one O_DIRECT 4 KiB read from a third, served in copy mode, STOP_DEV while the
/// daemon serves (its re-armed FETCH ends with -ENODEV), DEL_DEV. Returns whether every
/// observation matched the expectation.
pub fn smoke(o: &Opts) -> Result<bool> {
    let (mut dev, cdev, desc) = setup(o, 1)?;
    let id = dev.id();
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = DaemonCfg {
        name: "daemon",
        tags: vec![0],
        fixed_file: o.fixed_file,
        zero_copy: o.zero_copy,
        hold_first: false,
        timeout: o.timeout,
    };
    let (ev, _ctl, dh) = spawn_daemon(cfg, cdev.clone(), desc.clone(), stop.clone());
    let mut ok = true;
    if wait_ev(&ev, o.timeout, |e| matches!(e, Ev::Fetched | Ev::Exit)).is_none() {
        return Err(Error::Timeout {
            what: "daemon FETCH".into(),
            timeout: o.timeout,
        });
    }
    let t0 = Instant::now();
    let start = ctrl_result(
        "start_dev",
        recv(&dev.start_async(o.timeout), o.timeout * 2),
    );
    emit(
        "start_dev_time",
        json!({"ms": t0.elapsed().as_millis() as u64}),
    );
    ok &= start == Some(0);
    if start == Some(0) {
        let t1 = Instant::now();
        match recv(&spawn_reader("reader".into(), id, 0, 4096), o.timeout) {
            Some((r, pat)) => {
                emit(
                    "read",
                    json!({"res": r, "pattern_ok": pat, "us": t1.elapsed().as_micros() as u64}),
                );
                ok &= r == 4096 && (pat || o.zero_copy);
            }
            None => {
                emit(
                    "read",
                    json!({"error": "no completion", "timeout_ms": o.timeout.as_millis() as u64}),
                );
                ok = false;
            }
        }
    }
    let t2 = Instant::now();
    let r = dev.stop();
    emit(
        "stop_dev_time",
        json!({"ms": t2.elapsed().as_millis() as u64}),
    );
    ok &= ctrl_result("stop_dev", Some(r)) == Some(0);
    match wait_ev(&ev, o.timeout, |e| matches!(e, Ev::Done { .. } | Ev::Exit)) {
        Some(Ev::Done { tag, op, res }) => {
            emit(
                "daemon_after_stop",
                merge(json!({"tag": tag, "op": io_op_name(op)}), res_json(res)),
            );
            ok &= res == UBLK_IO_RES_ABORT;
        }
        _ => {
            emit(
                "daemon_after_stop",
                json!({"error": "no completion of the re-armed FETCH"}),
            );
            ok = false;
        }
    }
    stop.store(true, Ordering::Release);
    let _ = dh.join();
    drop(desc);
    drop(cdev);
    ok &= ctrl_result("del_dev", Some(dev.delete())) == Some(0);
    emit("smoke_result", json!({"pass": ok}));
    Ok(ok)
}
