//! The server side of the real-device executor: the child process
//! (`ublk-realdev serve-child`) that owns /dev/ublkcN, one thread per server
//! actor with its own io ring, and the JSON-lines protocol it speaks with the
//! parent ([`crate::exec`]).

use crate::error::{Error, Result};
use crate::io::{AlignedBuf, CharDev, DescMap, EventFd, IoRing};
use crate::program::*;
use crate::uapi::*;
use io_uring::{opcode, types};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) const BUF_BYTES: u32 = 64 << 10;
pub(crate) const DEV_BYTES: u64 = 1 << 20;
pub(crate) const IO_BYTES: usize = 4096;

// ---------------------------------------------------------------------------------------
// parent <-> child protocol

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ChildCfg {
    pub(crate) dev_id: u32,
    pub(crate) depth: u16,
    pub(crate) table_size: u16,
    /// (program thread index, fixed_file) of each server thread.
    pub(crate) servers: Vec<(usize, bool)>,
    /// UBLK_F_AUTO_BUF_REG: FETCH and COMMIT carry `{index: tag}` in `sqe->addr`.
    #[serde(default)]
    pub(crate) auto_buf_reg: bool,
    /// With `auto_buf_reg`: `flags` = UBLK_AUTO_BUF_REG_FALLBACK.
    #[serde(default)]
    pub(crate) auto_fallback: bool,
    /// Keep CAP_SYS_ADMIN (a program of a privileged server: 6.12 scans partitions).
    #[serde(default)]
    pub(crate) privileged: bool,
    /// The hw queue of each server thread (same order as `servers`; missing: queue 0). Its
    /// io commands name that queue and it reads that queue's descriptors.
    #[serde(default)]
    pub(crate) queues: Vec<u16>,
}

impl ChildCfg {
    /// The hw queue of `servers[i]`.
    pub(crate) fn queue_of(&self, i: usize) -> u16 {
        self.queues.get(i).copied().unwrap_or(0)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ToChild {
    pub(crate) step: usize,
    pub(crate) thread: usize,
    pub(crate) act: Act,
    /// A racing step: the thread pins itself and issues at this instant (see `crate::race`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) release: Option<crate::race::Release>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum FromChild {
    /// Every thread set up; the child's /dev/ublkcN fd number.
    Ready { cdev_fd: i32 },
    /// A CQE of the io command issued at `step`.
    Cqe { step: usize, res: i32 },
    /// Step `step` was carried out (io commands: submitted); `val` for synchronous results.
    Reply {
        step: usize,
        val: Option<i32>,
        err: Option<String>,
    },
    /// Server thread `thread` closed its ring (CloseRing) and the ring's eventfd has fired
    /// since: the ring's exit work posted a CQE (e.g. the cancel of a pending FETCH), which
    /// nobody can read any more. Reported once per close.
    RingExitCqe { thread: usize },
}

// ---------------------------------------------------------------------------------------
// the server child

/// Drop CAP_SYS_ADMIN from this thread (the server threads inherit it): a kernel probes
/// partitions at START_DEV only when every queue's daemon is privileged
/// (`nr_privileged_daemon` in `ublk_ctrl_start_dev`), and a probe is a read the program
/// does not contain. 7.2 can be told with UBLK_F_NO_AUTO_PART_SCAN; 6.12 cannot. The io
/// commands on /dev/ublkcN check no capability, so the server works as before.
fn drop_sys_admin() -> std::result::Result<(), String> {
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_SYS_ADMIN: u32 = 21;
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header read/write exactly two Data entries.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) };
    if r != 0 {
        return Err(format!("capget: {}", std::io::Error::last_os_error()));
    }
    let bit = 1u32 << CAP_SYS_ADMIN;
    d[0].effective &= !bit;
    d[0].permitted &= !bit;
    d[0].inheritable &= !bit;
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()) };
    if r != 0 {
        return Err(format!("capset: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Entry of `ublk-realdev serve-child`: reads a [`ChildCfg`] line, then [`ToChild`] lines.
pub fn serve_child() -> i32 {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let send = {
        let out = out.clone();
        move |m: &FromChild| {
            let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = writeln!(o, "{}", serde_json::to_string(m).expect("serialises"));
            let _ = o.flush();
        }
    };
    let cfg: ChildCfg = match lines
        .next()
        .and_then(|l| l.ok())
        .map(|l| serde_json::from_str(&l))
    {
        Some(Ok(c)) => c,
        _ => return 2,
    };
    let cdev = match CharDev::open(cfg.dev_id, Duration::from_secs(2)) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("serve-child: {e}");
            return 1;
        }
    };
    if !cfg.privileged {
        if let Err(e) = drop_sys_admin() {
            eprintln!("serve-child: {e}");
            return 1;
        }
    }
    // one descriptor mapping per queue a server thread serves
    let mut descs: HashMap<u16, Arc<DescMap>> = HashMap::new();
    for i in 0..cfg.servers.len() {
        let q = cfg.queue_of(i);
        if descs.contains_key(&q) {
            continue;
        }
        match DescMap::map(&cdev, q, cfg.depth) {
            Ok(d) => descs.insert(q, Arc::new(d)),
            Err(e) => {
                eprintln!("serve-child: {e}");
                return 1;
            }
        };
    }
    let mut workers: HashMap<usize, (Sender<ToChild>, Arc<EventFd>)> = HashMap::new();
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
    for (i, &(idx, fixed)) in cfg.servers.iter().enumerate() {
        let (tx, rx) = mpsc::channel::<ToChild>();
        let wake = Arc::new(EventFd::new().expect("eventfd"));
        workers.insert(idx, (tx, wake.clone()));
        let q = cfg.queue_of(i);
        let (cd, de, snd, rtx) = (
            cdev.clone(),
            descs[&q].clone(),
            send.clone(),
            ready_tx.clone(),
        );
        let t = ThreadCfg {
            idx,
            q_id: q,
            fixed,
            table: cfg.table_size,
            depth: cfg.depth,
            auto: cfg.auto_buf_reg,
            auto_flags: if cfg.auto_fallback {
                UBLK_AUTO_BUF_REG_FALLBACK
            } else {
                0
            },
        };
        let h = thread::Builder::new()
            .name(format!("srv{idx}"))
            .spawn(move || server_thread(&cd, &de, &t, rx, &wake, &snd, rtx))
            .expect("spawn server thread");
        // a thread exit is reported once the thread is gone, not when it decides to go: until
        // its last return to user space the kernel may run a dispatch's task work on it as on
        // any live server thread (the request then belongs to a ring nobody reads — O-9 was
        // that); pthread_join returns after the kernel cleared the thread's tid in exit_mm,
        // with PF_EXITING set, so a dispatch after it is aborted (-EIO or requeued)
        let snd = send.clone();
        thread::spawn(move || {
            if let Ok(Some(step)) = h.join() {
                snd(&FromChild::Reply {
                    step,
                    val: None,
                    err: None,
                });
            }
        });
    }
    drop(ready_tx);
    for _ in 0..cfg.servers.len() {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("serve-child: {e}");
                return 1;
            }
            Err(_) => return 1,
        }
    }
    send(&FromChild::Ready {
        cdev_fd: cdev.fd.as_raw_fd(),
    });
    for l in lines {
        let Ok(l) = l else { break };
        let Ok(m) = serde_json::from_str::<ToChild>(&l) else {
            break;
        };
        if m.act == Act::Exit {
            // exit_group of the whole server process, from the thread the program names
            // (the difference does not matter to the kernel: every thread exits)
            match m.release {
                // a racing exit waits for its instant on a thread of its own: this loop
                // goes on reading, a step racing it may be on its way
                Some(r) => {
                    thread::spawn(move || {
                        r.go();
                        // SAFETY: terminating the process.
                        unsafe { libc::_exit(0) };
                    });
                    continue;
                }
                // SAFETY: terminating the process.
                None => unsafe { libc::_exit(0) },
            }
        }
        match workers.get(&m.thread) {
            Some((tx, wake)) => {
                let _ = tx.send(m);
                let _ = wake_up(wake);
            }
            None => send(&FromChild::Reply {
                step: m.step,
                val: None,
                err: Some(format!("no server thread {}", m.thread)),
            }),
        }
    }
    // stdin closed: the parent is done with us
    // SAFETY: terminating the process.
    unsafe { libc::_exit(0) }
}

/// `io_uring_enter(fd, 1, 0, 0)` on the number of a ring fd this thread closed: -errno
/// (-EBADF). The number must still be free: nothing in the server process opens a file once
/// its threads are set up (the block clients, the control ring and the fd holder's duplicate
/// live in the parent), and a reused number is reported as an error, not as a result.
pub(crate) fn enter_closed(fd: RawFd) -> std::result::Result<i32, String> {
    // SAFETY: fcntl on a plain fd number.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
        return Err(format!("the closed ring's fd {fd} was reused"));
    }
    // SAFETY: io_uring_enter with no SQE memory touched: the fd is not open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            fd,
            1u32,
            0u32,
            0u32,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    if r >= 0 {
        return Err(format!("io_uring_enter on the closed fd {fd} returned {r}"));
    }
    Ok(-std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO))
}

pub(crate) fn wake_up(e: &EventFd) -> std::io::Result<()> {
    let v: u64 = 1;
    // SAFETY: 8-byte write from a u64.
    let r = unsafe { libc::write(e.0.as_raw_fd(), (&v as *const u64).cast(), 8) };
    if r == 8 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub(crate) fn drain_efd(fd: RawFd) {
    let mut v = 0u64;
    // SAFETY: 8-byte read into a u64 (non-blocking eventfd).
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

/// One server thread's setup: its program thread index, hw queue and ring options.
pub(crate) struct ThreadCfg {
    pub(crate) idx: usize,
    pub(crate) q_id: u16,
    pub(crate) fixed: bool,
    pub(crate) table: u16,
    pub(crate) depth: u16,
    pub(crate) auto: bool,
    /// `ublk_auto_buf_reg.flags`.
    pub(crate) auto_flags: u8,
}

pub(crate) fn server_thread(
    cdev: &CharDev,
    desc: &DescMap,
    t: &ThreadCfg,
    rx: Receiver<ToChild>,
    wake: &EventFd,
    send: &(impl Fn(&FromChild) + Send + Sync),
    ready: Sender<std::result::Result<(), String>>,
) -> Option<usize> {
    let (fixed, table, depth, auto, q_id) = (t.fixed, t.table, t.depth, t.auto, t.q_id);
    let setup = || -> Result<(IoRing, EventFd)> {
        let ring = IoRing::new(cdev, 32, fixed)?;
        if table > 0 {
            ring.register_sparse_buffers(table as u32)?;
        }
        let cq = EventFd::new()?;
        ring.register_eventfd(cq.0.as_raw_fd())?;
        Ok((ring, cq))
    };
    let (ring, cq) = match setup() {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return None;
        }
    };
    let mut ring = Some(ring);
    // the number the ring's fd had once this thread closed it (CloseRing)
    let mut closed_fd: Option<RawFd> = None;
    let mut exit_cqe_seen = false;
    let _ = ready.send(Ok(()));
    drop(ready);
    let bufs: Vec<AlignedBuf> = (0..depth)
        .map(|_| AlignedBuf::new(BUF_BYTES as usize))
        .collect();
    let zero = std::fs::File::open("/dev/zero").ok();
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .ok();
    let drain = |ring: &mut IoRing, want: Option<u64>| -> Option<i32> {
        let mut mine = None;
        while let Some(c) = ring.peek() {
            if Some(c.user_data) == want {
                mine = Some(c.res);
            } else {
                send(&FromChild::Cqe {
                    step: c.user_data as usize,
                    res: c.res,
                });
            }
        }
        mine
    };
    loop {
        let mut fds = [
            libc::pollfd {
                fd: wake.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: cq.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds. Blocks until a command or a CQE; task work of this
        // thread (ublk dispatch) runs when the kernel interrupts the wait.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            continue; // EINTR
        }
        drain_efd(wake.0.as_raw_fd());
        if fds[1].revents & libc::POLLIN != 0 && ring.is_none() && closed_fd.is_some() {
            if !exit_cqe_seen {
                send(&FromChild::RingExitCqe { thread: t.idx });
            }
            exit_cqe_seen = true;
        }
        drain_efd(cq.0.as_raw_fd());
        if let Some(r) = ring.as_mut() {
            drain(r, None);
        }
        while let Ok(m) = rx.try_recv() {
            if let Some(r) = m.release {
                r.go();
            }
            let reply = |val: Option<i32>, err: Option<String>| {
                send(&FromChild::Reply {
                    step: m.step,
                    val,
                    err,
                })
            };
            if m.act == Act::ThreadExit {
                // the thread exits; its ring fd stays open in the process. The reply comes
                // from the thread that joins this one (see `serve_child`)
                std::mem::forget(ring.take());
                return Some(m.step);
            }
            if m.act == Act::CloseRing {
                closed_fd = ring.as_ref().map(|r| r.ring_fd()).or(closed_fd);
                // every CQE posted so far is reported, so a later signal of the eventfd
                // comes from the ring's exit work
                if let Some(r) = ring.as_mut() {
                    drain(r, None);
                }
                drain_efd(cq.0.as_raw_fd());
                exit_cqe_seen = false;
                drop(ring.take());
                reply(None, None);
                continue;
            }
            let Some(r) = ring.as_mut() else {
                match (closed_fd, &m.act) {
                    (
                        Some(fd),
                        Act::Fetch { .. }
                        | Act::Commit { .. }
                        | Act::NeedGetData { .. }
                        | Act::Register { .. }
                        | Act::Unregister { .. }
                        | Act::BadType { .. },
                    ) => match enter_closed(fd) {
                        // the syscall's error is the command's result (the model's
                        // io_uring_enter on a closed ring fd), reported as its CQE
                        Ok(res) => {
                            send(&FromChild::Cqe { step: m.step, res });
                            reply(None, None);
                        }
                        Err(e) => reply(None, Some(e)),
                    },
                    _ => reply(None, Some("ring already closed".into())),
                }
                continue;
            };
            let ud = m.step as u64;
            let addr = |tag: u16, buf: bool| {
                if buf {
                    bufs.get(tag as usize).map_or(0, |b| b.addr())
                } else {
                    0
                }
            };
            let io = |tag: u16, result: i32, addr: u64| IoCmd {
                q_id,
                tag,
                result,
                addr,
            };
            let pushed = match m.act {
                Act::Fetch { tag, buf } => r.push_ud_addr(
                    UBLK_U_IO_FETCH_REQ,
                    io(tag, 0, addr(tag, buf)),
                    ud,
                    auto.then_some(tag as u64 | (t.auto_flags as u64) << 16),
                ),
                Act::Commit { tag, result, buf } => r.push_ud_addr(
                    UBLK_U_IO_COMMIT_AND_FETCH_REQ,
                    io(tag, result, addr(tag, buf)),
                    ud,
                    auto.then_some(tag as u64 | (t.auto_flags as u64) << 16),
                ),
                Act::NeedGetData { tag } => {
                    r.push_ud(UBLK_U_IO_NEED_GET_DATA, io(tag, 0, addr(tag, true)), ud)
                }
                Act::Register { tag, idx } => {
                    r.push_ud(UBLK_U_IO_REGISTER_IO_BUF, io(tag, 0, idx as u64), ud)
                }
                Act::Unregister { tag, idx } => {
                    r.push_ud(UBLK_U_IO_UNREGISTER_IO_BUF, io(tag, 0, idx as u64), ud)
                }
                Act::BadType { tag } => r.push_ud(
                    ioc(3, b'v', 0x20, std::mem::size_of::<IoCmd>() as u32),
                    io(tag, 0, 0),
                    ud,
                ),
                Act::FixedIo { idx, write } => {
                    // the direction of the request registered at `idx` (the program says)
                    let sqe = if write {
                        null.as_ref().map(|f| {
                            opcode::WriteFixed::new(
                                types::Fd(f.as_raw_fd()),
                                std::ptr::null(),
                                IO_BYTES as u32,
                                idx,
                            )
                            .build()
                        })
                    } else {
                        zero.as_ref().map(|f| {
                            opcode::ReadFixed::new(
                                types::Fd(f.as_raw_fd()),
                                std::ptr::null_mut(),
                                IO_BYTES as u32,
                                idx,
                            )
                            .build()
                        })
                    };
                    match sqe {
                        // SAFETY: the buffer is a registered (kernel) buffer, no user memory.
                        Some(s) => unsafe { r.ring.submission().push(&s.user_data(ud)) }
                            .map_err(|_| Error::Other("SQ full".into())),
                        None => Err(Error::Other("/dev/zero or /dev/null missing".into())),
                    }
                }
                Act::UserCopy { tag, off, len, dir } => {
                    let d = desc.get(tag.min(depth - 1));
                    let pos = user_copy_pos(q_id, tag, off as u64) as i64;
                    let b = &bufs[0];
                    let fd = cdev.fd.as_raw_fd();
                    // default: the whole request, as its descriptor has it now (a partial
                    // completion's remainder is smaller); a page before any request
                    let whole = match d.nr_sectors {
                        0 => IO_BYTES,
                        n => (n as usize) << 9,
                    };
                    let len = (len.map_or(whole, |l| l as usize)).min(BUF_BYTES as usize);
                    let pread = match dir {
                        Some(d) => d == CopyDir::Pread,
                        None => d.op() == UBLK_IO_OP_WRITE,
                    };
                    // SAFETY: at most BUF_BYTES within our BUF_BYTES buffer.
                    let n = unsafe {
                        if pread {
                            libc::pread(fd, b.addr() as *mut libc::c_void, len, pos)
                        } else {
                            libc::pwrite(fd, b.addr() as *const libc::c_void, len, pos)
                        }
                    };
                    let v = if n < 0 {
                        -std::io::Error::last_os_error().raw_os_error().unwrap_or(5)
                    } else {
                        n as i32
                    };
                    reply(Some(v), None);
                    continue;
                }
                _ => Err(Error::Other(format!("{:?} is not a server action", m.act))),
            };
            if let Err(e) = pushed.and_then(|_| r.submit().map(|_| ())) {
                reply(None, Some(e.to_string()));
                continue;
            }
            if matches!(m.act, Act::FixedIo { .. }) {
                // fixed-buffer I/O on /dev/zero or /dev/null completes at once
                let mut v = drain(r, Some(ud));
                let deadline = Instant::now() + Duration::from_secs(5);
                while v.is_none() && Instant::now() < deadline {
                    match r.wait(deadline - Instant::now()) {
                        Ok(Some(c)) if c.user_data == ud => v = Some(c.res),
                        Ok(Some(c)) => send(&FromChild::Cqe {
                            step: c.user_data as usize,
                            res: c.res,
                        }),
                        _ => break,
                    }
                }
                reply(v, v.is_none().then(|| "fixed I/O did not complete".into()));
                continue;
            }
            drain(r, None);
            reply(None, None);
        }
    }
}

// ---------------------------------------------------------------------------------------
// the parent
