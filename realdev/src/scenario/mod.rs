//! The checks run by the binary: `smoke` (one device lifecycle with one read), `o6` (the
//! model's finding O-6: a per-io daemon thread that exits after its FETCH, before the device
//! is ready), `twoq` (the model's two-queue recovery findings) and `quiesce` (QUIESCE_DEV's
//! wait for an idle io, on a queue whose every io the server holds). Every observed result is
//! reported as a JSON line ([`crate::report`]).

mod o6;
mod quiesce;
mod session;
mod smoke;
mod twoq;
pub use o6::o6;
pub use quiesce::{quiesce, QuiesceMode};
pub use smoke::smoke;
pub use twoq::{twoq, TwoqMode};

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
    /// `twoq` only: which two-queue story to play.
    pub twoq_mode: TwoqMode,
    /// `twoq` only: the device's hw queues (2; 1 is the control run).
    pub twoq_queues: u16,
    /// `quiesce` only: whether an io is left idle when QUIESCE_DEV is sent.
    pub quiesce_mode: QuiesceMode,
    /// `quiesce` only: QUIESCE_DEV's `data[0]`, how long the kernel is to wait for an idle io
    /// on every queue (ms, 0 = forever).
    pub quiesce_wait_ms: u64,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            fixed_file: false,
            zero_copy: false,
            timeout: Duration::from_secs(10),
            o6_mode: O6Mode::ExitThenClose,
            twoq_mode: TwoqMode::Close,
            twoq_queues: 2,
            quiesce_mode: QuiesceMode::Busy,
            quiesce_wait_ms: 2000,
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
    let dev = setup_dev(o, 1, depth, 0)?;
    let cdev = Arc::new(CharDev::open(dev.id(), Duration::from_secs(2))?);
    let desc = Arc::new(DescMap::map(&cdev, Q, depth)?);
    Ok((dev, cdev, desc))
}

/// GET_FEATURES, ADD_DEV of a device with `queues` hw queues and `extra` flags, SET_PARAMS;
/// `/dev/ublkcN` is left to the server processes (the first mmap binds the device to its mm).
/// Fails when the kernel drops a flag asked for.
fn setup_dev(o: &Opts, queues: u16, depth: u16, extra: u64) -> Result<Device> {
    setup_dev_with(o, queues, depth, extra, true)
}

/// [`setup_dev`]; with `strict` false the device is kept with the flags the kernel granted
/// (reported in the `add_dev` line).
fn setup_dev_with(o: &Opts, queues: u16, depth: u16, extra: u64, strict: bool) -> Result<Device> {
    let mut ctrl = CtrlRing::open()?;
    let feats = ctrl.get_features(o.timeout)?;
    emit(
        "features",
        json!({"flags": format!("{feats:#x}"), "names": feature_names(feats)}),
    );
    let mut flags = extra;
    if feats & UBLK_F_NO_AUTO_PART_SCAN != 0 {
        flags |= UBLK_F_NO_AUTO_PART_SCAN;
    }
    if o.zero_copy {
        flags |= UBLK_F_SUPPORT_ZERO_COPY;
    }
    let spec = DevSpec {
        nr_hw_queues: queues,
        queue_depth: depth,
        max_io_buf_bytes: BUF_BYTES,
        flags,
    };
    let mut dev = if strict {
        Device::add(ctrl, spec, o.timeout)?
    } else {
        Device::add_as_granted(ctrl, spec, o.timeout)?
    };
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
    Ok(dev)
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
