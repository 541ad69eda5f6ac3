//! `o6`: the model's finding O-6 — a per-io daemon thread that exits after its FETCH, before
//! the device is ready.

use super::*;

/// `o6`: see the module doc and `checker/src/scenarios.rs` `thread-exit-before-start`.
/// Device with 1 queue, depth 2. Thread A FETCHes tag 1 and exits (and/or closes its ring,
/// per [`O6Mode`]); once A's cancel was observed (or waited for), thread B FETCHes tag 0,
/// which makes the device ready; START_DEV; then reads until one lands on tag 1 (B holds the
/// first request on tag 0, so the second read must take tag 1). Reports every result;
/// returns Ok(()) when the run itself worked, whatever the kernel did.
pub fn o6(o: &Opts) -> Result<()> {
    let (dev, cdev, desc) = setup(o, 2)?;
    let id = dev.id();
    let efd = EventFd::new()?;
    let efd_raw = std::os::fd::AsRawFd::as_raw_fd(&efd.0);
    let t = o.timeout;
    emit(
        "o6_mode",
        json!({"mode": format!("{:?}", o.o6_mode), "fixed_file": o.fixed_file, "zero_copy": o.zero_copy}),
    );

    // Thread A: FETCH tag 1, then exit (optionally closing its ring first).
    let a_buf = AlignedBuf::new(BUF_BYTES as usize);
    let a_addr = if o.zero_copy { 0 } else { a_buf.addr() };
    let (cd, fixed, mode) = (cdev.clone(), o.fixed_file, o.o6_mode);
    let a = thread::Builder::new()
        .name("thread-a".into())
        .spawn(move || -> Result<Option<IoRing>> {
            let mut ring = IoRing::new(&cd, 8, fixed)?;
            ring.register_eventfd(efd_raw)?;
            ring.fetch(Q, 1, a_addr)?;
            ring.submit()?;
            let early = ring.peek();
            emit("a_fetch", json!({"tag": 1, "tid": unsafe { libc::gettid() }, "immediate_cqe": early.map(|c| c.res)}));
            if mode == O6Mode::Close {
                drop(ring);
                emit("a_ring_closed", json!({}));
                return Ok(None);
            }
            Ok(Some(ring))
        })
        .expect("spawn thread A");
    let mut a_ring = match a.join() {
        Ok(r) => r?,
        Err(_) => return Err(Error::Other("thread A panicked".into())),
    };
    emit("a_exited", json!({}));

    // Observe A's cancel: an eventfd signal (any CQE on A's ring) and, while A's ring is
    // still open here, the CQE itself.
    let wait_cancel = Duration::from_secs(2).min(t);
    let mut sig = efd.wait(wait_cancel)?;
    let cqe = a_ring.as_mut().and_then(|r| r.peek());
    emit(
        "a_cancel_after_exit",
        json!({"eventfd": sig, "cqe": cqe.map(|c| res_json(c.res)), "waited_ms": wait_cancel.as_millis() as u64}),
    );
    if sig.is_none() && o.o6_mode == O6Mode::ExitThenClose {
        drop(a_ring.take());
        emit("a_ring_closed_by_main", json!({}));
        sig = efd.wait(t)?;
        emit("a_cancel_after_close", json!({"eventfd": sig}));
    }

    // Thread B: FETCH tag 0 (makes the device ready), then serve, holding its first request.
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = DaemonCfg {
        name: "thread-b",
        tags: vec![0],
        fixed_file: o.fixed_file,
        zero_copy: o.zero_copy,
        hold_first: true,
        timeout: t,
    };
    let (ev, ctl, bh) = spawn_daemon(cfg, cdev.clone(), desc.clone(), stop.clone());
    if wait_ev(&ev, t, |e| matches!(e, Ev::Fetched | Ev::Exit)).is_none() {
        return Err(Error::Timeout {
            what: "thread B FETCH".into(),
            timeout: t,
        });
    }
    let start = ctrl_result("start_dev", recv(&dev.start_async(t), t * 2));

    let mut outcome = json!({"start_dev": start});
    if start == Some(0) {
        let r1 = spawn_reader("reader-1".into(), id, 0, 4096);
        // Either B receives the request (tag 0), or the read landed on tag 1 directly.
        let first = wait_ev(&ev, Duration::from_secs(2), |e| {
            matches!(e, Ev::Request { .. } | Ev::Exit)
        });
        emit(
            "reader1_dispatch",
            json!({"b_got_request": matches!(first, Some(Ev::Request { .. }))}),
        );
        let (tag1_reader, tag1_rx, on_tag0) = if matches!(first, Some(Ev::Request { tag: 0, .. })) {
            (
                "reader-2",
                spawn_reader("reader-2".into(), id, 4096, 4096),
                Some(r1),
            )
        } else {
            ("reader-1", r1, None)
        };
        let r = recv(&tag1_rx, t);
        match r {
            Some((res, pat)) => emit(
                "read_on_tag1",
                json!({"reader": tag1_reader, "res": res, "errno": if res < 0 { errno_name(res as i32) } else { "" },
                       "pattern_ok": pat}),
            ),
            None => emit(
                "read_on_tag1",
                json!({"reader": tag1_reader, "error": "no completion (hang)", "waited_ms": t.as_millis() as u64}),
            ),
        }
        outcome["read_on_tag1"] = r.map(|(res, _)| json!(res)).unwrap_or(json!("hang"));
        let _ = ctl.send(DaemonCtl::Release);
        if let Some(r1) = on_tag0 {
            let r = recv(&r1, t);
            emit(
                "read_on_tag0",
                json!({"reader": "reader-1", "res": r.map(|x| x.0), "pattern_ok": r.map(|x| x.1)}),
            );
            outcome["read_on_tag0"] = r.map(|(res, _)| json!(res)).unwrap_or(json!("hang"));
        }
    }
    // A's ring (mode exit): anything posted by now?
    if let Some(r) = a_ring.as_mut() {
        emit(
            "a_cqe_before_stop",
            json!({"cqe": r.peek().map(|c| res_json(c.res))}),
        );
    }
    let stop_rx = dev.stop_async(t);
    let stop_res = ctrl_result("stop_dev", recv(&stop_rx, t * 2));
    outcome["stop_dev"] = json!(stop_res);
    if let Some(r) = a_ring.as_mut() {
        let c = r.wait(Duration::from_millis(500))?;
        emit(
            "a_cqe_after_stop",
            json!({"cqe": c.map(|c| res_json(c.res))}),
        );
    }
    if let Some(Ev::Done { tag, op, res }) = wait_ev(&ev, Duration::from_secs(2), |e| {
        matches!(e, Ev::Done { .. } | Ev::Exit)
    }) {
        emit(
            "b_after_stop",
            merge(json!({"tag": tag, "op": io_op_name(op)}), res_json(res)),
        );
    }
    stop.store(true, Ordering::Release);
    let _ = bh.join();
    drop(a_ring);
    drop(desc);
    drop(cdev);
    drop(a_buf);
    outcome["verdict"] = json!(match (start, &outcome["read_on_tag1"]) {
        (Some(0), Value::String(_)) => "read on the canceled tag never completed: see the kernel log (O-6 predicts a NULL io->cmd oops in ublk_queue_cmd)",
        (Some(0), Value::Number(n)) if n.as_i64() == Some(4096) => "read on tag 1 was served: no O-6",
        (Some(0), Value::Number(_)) => "read on tag 1 failed without a crash: tag 1's cmd was not canceled before readiness",
        (Some(0), _) => "no read reached tag 1",
        _ => "START_DEV did not succeed",
    });
    emit("o6_result", outcome);
    if stop_res == Some(0) {
        ctrl_result("del_dev", Some(dev.delete()));
    } else {
        // Dropping the guard: STOP_DEV again + DEL_DEV_ASYNC, both bounded.
        drop(dev);
    }
    Ok(())
}
