//! The executor's server processes: `ublk-realdev serve-child` children, each with one thread
//! and ring per server thread of the program. Process 0 is the server the program starts with
//! (spawned before the first step); process 1 is the new server of a user recovery, spawned
//! once START_USER_RECOVERY returned 0 (a fresh process: `ublk_ch_open`, its own descriptor
//! mapping and rings).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Sender};
use std::thread;
use std::time::Duration;

use crate::child::{ChildCfg, FromChild};
use crate::error::{Error, Result};
use crate::program::*;

/// What the executor hears from its server processes.
pub(crate) enum ProcEv {
    Msg(FromChild),
    /// Server process `0` or `1` closed its stdout (it exited).
    Eof(u8),
}

/// One server process.
#[derive(Default)]
pub(crate) struct ServerProc {
    pub(crate) child: Option<Child>,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) gone: bool,
    /// Its /dev/ublkcN fd number (for the fd holder's `pidfd_getfd`).
    pub(crate) cdev_fd: i32,
    /// Its pid as spawned, kept after it is reaped: START_DEV and END_USER_RECOVERY name the
    /// server in `data[0]`, dead or alive (a 0 there is -EINVAL before anything else).
    pub(crate) spawned_pid: u32,
}

impl ServerProc {
    /// The live process's pid (0 once reaped).
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// The pid the server had, for START_DEV's and END_USER_RECOVERY's `data[0]`.
    pub(crate) fn server_pid(&self) -> u32 {
        self.spawned_pid
    }

    /// Kill (if still running) and wait for the process.
    pub(crate) fn reap(&mut self) {
        self.stdin = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The server threads of process `process`: (program thread index, fixed_file).
pub(crate) fn servers_of(p: &Program, process: u8) -> Vec<(usize, bool)> {
    p.threads
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t.kind {
            ThreadKind::Server {
                fixed_file,
                process: q,
            } if q == process => Some((i, fixed_file)),
            _ => None,
        })
        .collect()
}

/// The server process a thread belongs to (0 for non-server threads).
pub(crate) fn process_of(p: &Program, thread: usize) -> u8 {
    match p.threads.get(thread).map(|t| &t.kind) {
        Some(ThreadKind::Server { process, .. }) => *process,
        _ => 0,
    }
}

/// Spawn server process `process` of `p` on device `dev_id` and wait until every thread is
/// set up (at most `ready_within`). Its CQEs and replies go to `tx` (wrapped by `wrap`).
pub(crate) fn spawn<T: Send + 'static>(
    exe: &std::path::Path,
    p: &Program,
    process: u8,
    dev_id: u32,
    tx: (Sender<T>, fn(ProcEv) -> T),
    ready_within: Duration,
) -> Result<ServerProc> {
    let cfg = child_cfg(p, process, dev_id);
    spawn_cfg(exe, &cfg, process, tx, ready_within)
}

/// The `serve-child` configuration of server process `process` of `p`: its threads, each on
/// its thread's hw queue.
pub(crate) fn child_cfg(p: &Program, process: u8, dev_id: u32) -> ChildCfg {
    let servers = servers_of(p, process);
    ChildCfg {
        dev_id,
        depth: p.dev.depth,
        table_size: p.dev.table_size,
        queues: servers.iter().map(|&(i, _)| p.threads[i].queue).collect(),
        servers,
        auto_buf_reg: p.dev.copy.auto_buf_reg(),
        auto_fallback: p.dev.auto_fallback,
        privileged: p.dev.privileged,
    }
}

/// Spawn a `serve-child` with `cfg` as server process `process` (the number its end of
/// stdout is reported with) and wait until every thread is set up (at most `ready_within`).
pub(crate) fn spawn_cfg<T: Send + 'static>(
    exe: &std::path::Path,
    cfg: &ChildCfg,
    process: u8,
    (tx, wrap): (Sender<T>, fn(ProcEv) -> T),
    ready_within: Duration,
) -> Result<ServerProc> {
    let mut child = Command::new(exe)
        .arg("serve-child")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::sys(format!("spawn {} serve-child", exe.display()), e))?;
    let mut stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let mut proc = ServerProc {
        spawned_pid: child.id(),
        child: Some(child),
        ..Default::default()
    };
    if let Err(e) = writeln!(stdin, "{}", serde_json::to_string(cfg).expect("serialises")) {
        proc.reap();
        return Err(Error::sys("write to the server process", e));
    }
    proc.stdin = Some(stdin);
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::spawn(move || {
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            match serde_json::from_str::<FromChild>(&l) {
                Ok(FromChild::Ready { cdev_fd }) => {
                    let _ = ready_tx.send(cdev_fd);
                }
                Ok(m) => {
                    let _ = tx.send(wrap(ProcEv::Msg(m)));
                }
                Err(_) => eprintln!("serve-child: {l}"),
            }
        }
        let _ = tx.send(wrap(ProcEv::Eof(process)));
    });
    match ready_rx.recv_timeout(ready_within) {
        Ok(fd) => {
            proc.cdev_fd = fd;
            Ok(proc)
        }
        Err(_) => {
            proc.reap();
            Err(Error::Other(format!(
                "server process {process} did not get ready"
            )))
        }
    }
}

/// A duplicate of fd `fd` of process `pid` (pidfd_getfd): the fd holder's reference.
pub(crate) fn getfd(pid: u32, fd: i32) -> Result<OwnedFd> {
    // SAFETY: plain syscalls; results checked.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as i32;
        if pidfd < 0 {
            return Err(Error::last_os("pidfd_open"));
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd);
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) as i32;
        if dup < 0 {
            return Err(Error::last_os("pidfd_getfd"));
        }
        Ok(OwnedFd::from_raw_fd(dup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_queues() -> Program {
        let text = include_str!("../programs/two-queues-served.jsonl");
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    }

    #[test]
    fn each_server_thread_gets_its_queue() {
        let p = two_queues();
        assert_eq!(p.dev.queues, 2);
        assert_eq!(crate::exec::unsupported(&p), None);
        let c = child_cfg(&p, 0, 7);
        assert_eq!(c.servers, vec![(0, false), (1, false)]);
        assert_eq!(c.queues, vec![0, 1]);
        // one-queue programs: every thread on queue 0, as before
        let mut p1 = p.clone();
        p1.dev.queues = 1;
        p1.threads.iter_mut().for_each(|t| t.queue = 0);
        assert_eq!(child_cfg(&p1, 0, 7).queues, vec![0, 0]);
    }

    #[test]
    fn queues_beyond_the_device_are_refused() {
        let mut p = two_queues();
        p.dev.queues = 3;
        assert!(crate::exec::unsupported(&p).unwrap().contains("queues"));
        let mut p = two_queues();
        p.dev.queues = 1;
        assert!(crate::exec::unsupported(&p)
            .unwrap()
            .contains("daemon-q1 acts on a queue"));
    }
}
