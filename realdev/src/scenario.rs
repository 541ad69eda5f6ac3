//! The checks run by the binary: `smoke` (one device lifecycle with one read) and `o6` (the
//! model's finding O-6: a per-io daemon thread that exits after its FETCH, before the device
//! is ready). Every observed result is reported as a JSON line ([`crate::report`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::ctrl::{CtrlRing, DevSpec, Device};
use crate::error::{errno_name, Error, Result};
use crate::io::{io_op_name, io_ud_split, AlignedBuf, CharDev, DescMap, EventFd, IoRing};
use crate::report::emit;
use crate::uapi::*;

/// Options shared by the checks.
#[derive(Clone, Debug)]
pub struct Opts {
    /// Register `/dev/ublkcN` as fixed file 0 on every io ring.
    pub fixed_file: bool,
    /// Ask for UBLK_F_SUPPORT_ZERO_COPY (requests are then committed without data).
    pub zero_copy: bool,
    /// Timeout of each control command and of each wait for an io completion.
    pub timeout: Duration,
    /// O-6 only: how thread A's FETCH is meant to be canceled.
    pub o6_mode: O6Mode,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            fixed_file: false,
            zero_copy: false,
            timeout: Duration::from_secs(10),
            o6_mode: O6Mode::ExitThenClose,
        }
    }
}

/// How thread A of the O-6 check gets its FETCH canceled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum O6Mode {
    /// A exits; its ring stays open (owned by the process). Relies on io_uring's task-exit
    /// cancel.
    Exit,
    /// A closes its ring (ring exit cancels the cmd), then exits.
    Close,
    /// A exits; if no cancel is observed, the main thread then closes A's ring.
    ExitThenClose,
}

impl std::str::FromStr for O6Mode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<O6Mode, String> {
        match s {
            "exit" => Ok(O6Mode::Exit),
            "close" => Ok(O6Mode::Close),
            "exit-close" => Ok(O6Mode::ExitThenClose),
            _ => Err(format!("unknown o6 mode {s:?} (exit | close | exit-close)")),
        }
    }
}

const Q: u16 = 0;
const BUF_BYTES: u32 = 64 << 10;
const DEV_BYTES: u64 = 1 << 20;

fn res_json(res: i32) -> Value {
    json!({"res": res, "errno": if res < 0 { errno_name(res) } else { "" }})
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

/// The byte pattern a served READ carries at device byte offset `pos`.
pub fn pattern(pos: u64) -> u8 {
    (pos % 251) as u8
}

/// GET_FEATURES, ADD_DEV, SET_PARAMS, open `/dev/ublkcN`, map queue 0's descriptors.
fn setup(o: &Opts, depth: u16) -> Result<(Device, Arc<CharDev>, Arc<DescMap>)> {
    let mut ctrl = CtrlRing::open()?;
    let feats = ctrl.get_features(o.timeout)?;
    emit(
        "features",
        json!({"flags": format!("{feats:#x}"), "names": feature_names(feats)}),
    );
    let mut flags = 0;
    if feats & UBLK_F_NO_AUTO_PART_SCAN != 0 {
        flags |= UBLK_F_NO_AUTO_PART_SCAN;
    }
    if o.zero_copy {
        flags |= UBLK_F_SUPPORT_ZERO_COPY;
    }
    let spec = DevSpec {
        nr_hw_queues: 1,
        queue_depth: depth,
        max_io_buf_bytes: BUF_BYTES,
        flags,
    };
    let mut dev = Device::add(ctrl, spec, o.timeout)?;
    emit(
        "add_dev",
        json!({"dev_id": dev.id(), "queues": dev.info.nr_hw_queues, "depth": dev.info.queue_depth,
               "asked": format!("{flags:#x}"), "got": format!("{:#x}", dev.info.flags),
               "added_by_kernel": feature_names(dev.info.flags & !flags)}),
    );
    let r = dev.set_params(&Params::basic(DEV_BYTES, BUF_BYTES))?;
    emit("set_params", res_json(r));
    if r != 0 {
        return Err(Error::Kernel {
            what: "SET_PARAMS".into(),
            res: r,
        });
    }
    let cdev = Arc::new(CharDev::open(dev.id(), Duration::from_secs(2))?);
    let desc = Arc::new(DescMap::map(&cdev, Q, depth)?);
    Ok((dev, cdev, desc))
}

/// What a daemon thread tells the main thread.
#[derive(Debug)]
enum Ev {
    /// Its FETCHes were submitted (the driver has accepted or rejected them).
    Fetched,
    /// A request arrived on `tag` (CQE res 0).
    Request { tag: u16 },
    /// A command completed with a result other than 0.
    Done { tag: u16, op: u8, res: i32 },
    /// The thread left its loop.
    Exit,
}

/// Control messages to a daemon.
enum DaemonCtl {
    /// Commit the request being held.
    Release,
}

struct DaemonCfg {
    name: &'static str,
    tags: Vec<u16>,
    fixed_file: bool,
    zero_copy: bool,
    /// Hold the first request until told to commit it.
    hold_first: bool,
    timeout: Duration,
}

/// A server thread serving `tags` of queue 0: FETCH each, then serve READs with the pattern
/// (copy mode) and commit, until every tag's command ended with an error (e.g. -ENODEV).
fn spawn_daemon(
    cfg: DaemonCfg,
    cdev: Arc<CharDev>,
    desc: Arc<DescMap>,
    stop: Arc<AtomicBool>,
) -> (Receiver<Ev>, Sender<DaemonCtl>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let (ctl_tx, ctl_rx) = mpsc::channel();
    let h = thread::Builder::new()
        .name(cfg.name.into())
        .spawn(move || {
            if let Err(e) = daemon(&cfg, &cdev, &desc, &stop, &tx, &ctl_rx) {
                emit(
                    "daemon_error",
                    json!({"thread": cfg.name, "error": e.to_string()}),
                );
            }
            let _ = tx.send(Ev::Exit);
        })
        .expect("spawn daemon");
    (rx, ctl_tx, h)
}

fn daemon(
    cfg: &DaemonCfg,
    cdev: &CharDev,
    desc: &DescMap,
    stop: &AtomicBool,
    tx: &Sender<Ev>,
    ctl: &Receiver<DaemonCtl>,
) -> Result<()> {
    let mut ring = IoRing::new(cdev, 16, cfg.fixed_file)?;
    let mut bufs: Vec<AlignedBuf> = cfg
        .tags
        .iter()
        .map(|_| AlignedBuf::new(BUF_BYTES as usize))
        .collect();
    let addr = |bufs: &Vec<AlignedBuf>, i: usize| if cfg.zero_copy { 0 } else { bufs[i].addr() };
    for (i, &tag) in cfg.tags.iter().enumerate() {
        ring.fetch(Q, tag, addr(&bufs, i))?;
    }
    ring.submit()?;
    emit(
        "fetch_submitted",
        json!({"thread": cfg.name, "tags": cfg.tags}),
    );
    let _ = tx.send(Ev::Fetched);
    let mut armed = cfg.tags.len();
    let mut held = !cfg.hold_first;
    while armed > 0 {
        let Some(c) = ring.wait(Duration::from_millis(200))? else {
            if stop.load(Ordering::Acquire) {
                emit(
                    "daemon_stopped",
                    json!({"thread": cfg.name, "armed": armed}),
                );
                return Ok(());
            }
            continue;
        };
        let (op, tag) = io_ud_split(c.user_data);
        let i = cfg.tags.iter().position(|&t| t == tag).unwrap_or(0);
        if c.res != UBLK_IO_RES_OK {
            emit(
                "io_cqe",
                merge(
                    json!({"thread": cfg.name, "tag": tag, "op": io_op_name(op)}),
                    res_json(c.res),
                ),
            );
            let _ = tx.send(Ev::Done {
                tag,
                op,
                res: c.res,
            });
            armed -= 1;
            continue;
        }
        let d = desc.get(tag);
        emit(
            "request",
            json!({"thread": cfg.name, "tag": tag, "via": io_op_name(op), "op": d.op(),
                   "start_sector": d.start_sector, "nr_sectors": d.nr_sectors}),
        );
        let _ = tx.send(Ev::Request { tag });
        if !held {
            held = true;
            match ctl.recv_timeout(cfg.timeout * 3) {
                Ok(DaemonCtl::Release) => emit("release", json!({"thread": cfg.name, "tag": tag})),
                Err(_) => emit("release_timeout", json!({"thread": cfg.name, "tag": tag})),
            }
        }
        let bytes = d.nr_sectors as usize * 512;
        if d.op() == UBLK_IO_OP_READ && !cfg.zero_copy {
            let base = d.start_sector * 512;
            for (k, b) in bufs[i].as_mut_slice()[..bytes.min(BUF_BYTES as usize)]
                .iter_mut()
                .enumerate()
            {
                *b = pattern(base + k as u64);
            }
        }
        let result = if matches!(d.op(), UBLK_IO_OP_READ | UBLK_IO_OP_WRITE) {
            bytes as i32
        } else {
            0
        };
        ring.commit_and_fetch(Q, tag, result, addr(&bufs, i))?;
        ring.submit()?;
    }
    Ok(())
}

/// An O_DIRECT read of `len` bytes at `off` from `/dev/ublkbN` on a detached thread (it may
/// never return if the kernel breaks): (result or -errno, pattern ok).
fn spawn_reader(name: String, dev_id: u32, off: u64, len: usize) -> Receiver<(isize, bool)> {
    let (tx, rx) = mpsc::channel();
    let _ = thread::Builder::new().name(name).spawn(move || {
        let path = format!("/dev/ublkb{dev_id}");
        let fd = match crate::io::open_node(
            &path,
            libc::O_DIRECT | libc::O_RDONLY,
            Duration::from_secs(2),
        ) {
            Ok(fd) => fd,
            Err(Error::Sys { source, .. }) => {
                let _ = tx.send((
                    -(source.raw_os_error().unwrap_or(libc::EIO) as isize),
                    false,
                ));
                return;
            }
            Err(_) => {
                let _ = tx.send((-(libc::EIO as isize), false));
                return;
            }
        };
        let mut buf = AlignedBuf::new(len);
        // SAFETY: buf is len bytes, page aligned.
        let r = unsafe {
            libc::pread(
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                buf.as_mut_slice().as_mut_ptr().cast(),
                len,
                off as i64,
            )
        };
        let r = if r < 0 {
            -(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO) as isize)
        } else {
            r
        };
        let ok = r == len as isize
            && buf
                .as_slice()
                .iter()
                .enumerate()
                .all(|(k, &b)| b == pattern(off + k as u64));
        let _ = tx.send((r, ok));
    });
    rx
}

fn recv<T>(rx: &Receiver<T>, t: Duration) -> Option<T> {
    match rx.recv_timeout(t) {
        Ok(v) => Some(v),
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
    }
}

/// Wait for a daemon event matching `f`, reporting others; None on timeout.
fn wait_ev(rx: &Receiver<Ev>, t: Duration, f: impl Fn(&Ev) -> bool) -> Option<Ev> {
    let deadline = Instant::now() + t;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = recv(rx, left)?;
        if f(&ev) {
            return Some(ev);
        }
    }
}

fn ctrl_result(name: &str, r: Option<Result<i32>>) -> Option<i32> {
    match r {
        Some(Ok(res)) => {
            emit(name, res_json(res));
            Some(res)
        }
        Some(Err(e)) => {
            emit(name, json!({"error": e.to_string()}));
            None
        }
        None => {
            emit(name, json!({"error": "no result (thread timed out)"}));
            None
        }
    }
}

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
