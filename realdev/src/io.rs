//! The data plane: the single-open `/dev/ublkcN`, its descriptor mmap, and per-thread io
//! rings issuing FETCH / COMMIT_AND_FETCH / REGISTER_IO_BUF / UNREGISTER_IO_BUF.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::error::{Error, Result};
use crate::uapi::*;

/// Wait for one CQE until `deadline`; `None` on timeout. Submits pending SQEs too.
pub fn wait_cqe<S: squeue::EntryMarker>(
    ring: &mut IoUring<S, cqueue::Entry>,
    deadline: Instant,
) -> io::Result<Option<cqueue::Entry>> {
    loop {
        if let Some(c) = ring.completion().next() {
            return Ok(Some(c));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let left = deadline - now;
        let ts = types::Timespec::new()
            .sec(left.as_secs())
            .nsec(left.subsec_nanos());
        let args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Open a device node, retrying while it does not exist yet (devtmpfs, no udev) until
/// `wait` has passed.
pub fn open_node(path: &str, flags: i32, wait: Duration) -> Result<OwnedFd> {
    let deadline = Instant::now() + wait;
    loop {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags | libc::O_CLOEXEC)
            .open(path)
        {
            Ok(f) => return Ok(f.into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound && Instant::now() < deadline => {
                // The node is created by devtmpfs; there is nothing to wait on but time.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(Error::sys(format!("open {path}"), e)),
        }
    }
}

/// `/dev/ublkcN`, opened once per process (a second open gets EBUSY).
pub struct CharDev {
    pub fd: OwnedFd,
    pub dev_id: u32,
}

impl CharDev {
    pub fn open(dev_id: u32, wait: Duration) -> Result<CharDev> {
        Ok(CharDev {
            fd: open_node(&format!("/dev/ublkc{dev_id}"), 0, wait)?,
            dev_id,
        })
    }
}

/// The read-only descriptor array of one queue.
pub struct DescMap {
    ptr: *mut libc::c_void,
    len: usize,
    depth: u16,
}

// SAFETY: the mapping is read-only shared memory; reads are volatile.
unsafe impl Send for DescMap {}
unsafe impl Sync for DescMap {}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

impl DescMap {
    pub fn map(cdev: &CharDev, q_id: u16, depth: u16) -> Result<DescMap> {
        let ps = page_size();
        let len = desc_mmap_len(depth, ps);
        // SAFETY: plain mmap of a device region; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                cdev.fd.as_raw_fd(),
                desc_mmap_offset(q_id, ps) as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::last_os(format!("mmap descriptors of queue {q_id}")));
        }
        Ok(DescMap { ptr, len, depth })
    }

    pub fn get(&self, tag: u16) -> IoDesc {
        assert!(tag < self.depth, "tag {tag} out of range");
        // SAFETY: in bounds of the mapping; the kernel writes it before completing the cmd.
        unsafe { std::ptr::read_volatile(self.ptr.cast::<IoDesc>().add(tag as usize)) }
    }
}

impl Drop for DescMap {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// A page-aligned, zeroed buffer (O_DIRECT and ublk copy-mode buffers).
pub struct AlignedBuf {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: owned heap memory.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    pub fn new(len: usize) -> AlignedBuf {
        let layout = std::alloc::Layout::from_size_align(len.max(1), 4096).expect("layout");
        // SAFETY: non-zero size.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory");
        AlignedBuf { ptr, len }
    }
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: owned allocation of len bytes.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: owned allocation of len bytes.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len.max(1), 4096).expect("layout");
        // SAFETY: allocated with the same layout.
        unsafe { std::alloc::dealloc(self.ptr, layout) };
    }
}

/// A completion: user data and result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cqe {
    pub user_data: u64,
    pub res: i32,
}

/// User data of an io command: `op` (the ioctl nr, e.g. 0x20 FETCH) and tag.
pub fn io_ud(op: u32, tag: u16) -> u64 {
    ((op & 0xff) as u64) << 16 | tag as u64
}

/// Decode [`io_ud`]: (nr, tag).
pub fn io_ud_split(ud: u64) -> (u8, u16) {
    ((ud >> 16) as u8, ud as u16)
}

/// Name of an io command by ioctl nr.
pub fn io_op_name(nr: u8) -> &'static str {
    match nr {
        0x20 => "FETCH_REQ",
        0x21 => "COMMIT_AND_FETCH_REQ",
        0x22 => "NEED_GET_DATA",
        0x23 => "REGISTER_IO_BUF",
        0x24 => "UNREGISTER_IO_BUF",
        _ => "?",
    }
}

/// One io ring (one per server thread) targeting `/dev/ublkcN`, either through a registered
/// fixed file (index 0) or the raw fd.
pub struct IoRing {
    pub ring: IoUring,
    fd: RawFd,
    fixed: bool,
}

impl IoRing {
    pub fn new(cdev: &CharDev, entries: u32, fixed_file: bool) -> Result<IoRing> {
        let ring = IoUring::builder()
            .build(entries)
            .map_err(|e| Error::sys("io_uring_setup (io ring)", e))?;
        let fd = cdev.fd.as_raw_fd();
        if fixed_file {
            ring.submitter()
                .register_files(&[fd])
                .map_err(|e| Error::sys("IORING_REGISTER_FILES", e))?;
        }
        Ok(IoRing {
            ring,
            fd,
            fixed: fixed_file,
        })
    }

    /// A sparse buffer table of `n` entries (zero copy: REGISTER_IO_BUF fills it).
    pub fn register_sparse_buffers(&self, n: u32) -> Result<()> {
        self.ring
            .submitter()
            .register_buffers_sparse(n)
            .map_err(|e| Error::sys("IORING_REGISTER_BUFFERS2 (sparse)", e))
    }

    /// Signal `efd` on every CQE posted to this ring (even after the ring fd was closed,
    /// until the ring is freed): how another thread observes a cancel.
    pub fn register_eventfd(&self, efd: RawFd) -> Result<()> {
        self.ring
            .submitter()
            .register_eventfd(efd)
            .map_err(|e| Error::sys("IORING_REGISTER_EVENTFD", e))
    }

    pub fn ring_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// Queue an io command (not submitted yet).
    pub fn push(&mut self, op: u32, cmd: IoCmd) -> Result<()> {
        self.push_ud(op, cmd, io_ud(op, cmd.tag))
    }

    /// Queue an io command with the caller's user data.
    pub fn push_ud(&mut self, op: u32, cmd: IoCmd, ud: u64) -> Result<()> {
        self.push_ud_addr(op, cmd, ud, None)
    }

    /// Queue an io command whose SQE also carries `sqe->addr` (the
    /// AUTO_BUF_REG descriptor of FETCH and COMMIT_AND_FETCH: index in bits
    /// 0–15, flags in 16–23, the rest reserved = 0).
    pub fn push_ud_addr(
        &mut self,
        op: u32,
        cmd: IoCmd,
        ud: u64,
        sqe_addr: Option<u64>,
    ) -> Result<()> {
        let mut area = [0u8; 16];
        area.copy_from_slice(as_bytes(&cmd));
        let sqe = if self.fixed {
            opcode::UringCmd16::new(types::Fixed(0), op)
                .cmd(area)
                .addr(sqe_addr)
                .build()
        } else {
            opcode::UringCmd16::new(types::Fd(self.fd), op)
                .cmd(area)
                .addr(sqe_addr)
                .build()
        };
        // SAFETY: the command area is copied into the SQE; copy-mode buffer addresses are
        // owned by the caller for the device's lifetime.
        unsafe { self.ring.submission().push(&sqe.user_data(ud)) }
            .map_err(|_| Error::Other(format!("{}: io SQ full", io_op_name(op as u8))))
    }

    pub fn fetch(&mut self, q_id: u16, tag: u16, addr: u64) -> Result<()> {
        self.push(
            UBLK_U_IO_FETCH_REQ,
            IoCmd {
                q_id,
                tag,
                result: 0,
                addr,
            },
        )
    }

    pub fn commit_and_fetch(&mut self, q_id: u16, tag: u16, result: i32, addr: u64) -> Result<()> {
        self.push(
            UBLK_U_IO_COMMIT_AND_FETCH_REQ,
            IoCmd {
                q_id,
                tag,
                result,
                addr,
            },
        )
    }

    pub fn register_io_buf(&mut self, q_id: u16, tag: u16, index: u16) -> Result<()> {
        self.push(
            UBLK_U_IO_REGISTER_IO_BUF,
            IoCmd {
                q_id,
                tag,
                result: 0,
                addr: index as u64,
            },
        )
    }

    pub fn unregister_io_buf(&mut self, q_id: u16, tag: u16, index: u16) -> Result<()> {
        self.push(
            UBLK_U_IO_UNREGISTER_IO_BUF,
            IoCmd {
                q_id,
                tag,
                result: 0,
                addr: index as u64,
            },
        )
    }

    /// Submit what is queued. Uring_cmd handlers of ublk run during this call: when it
    /// returns, a FETCH has been accepted (or completed with an error CQE).
    pub fn submit(&mut self) -> Result<usize> {
        loop {
            match self.ring.submit() {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                r => return r.map_err(|e| Error::sys("io_uring_enter (submit)", e)),
            }
        }
    }

    /// Wait up to `timeout` for one CQE.
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<Cqe>> {
        let c = wait_cqe(&mut self.ring, Instant::now() + timeout)
            .map_err(|e| Error::sys("io_uring_enter (wait)", e))?;
        Ok(c.map(|c| Cqe {
            user_data: c.user_data(),
            res: c.result(),
        }))
    }

    /// A CQE already posted, without entering the kernel.
    pub fn peek(&mut self) -> Option<Cqe> {
        self.ring.completion().next().map(|c| Cqe {
            user_data: c.user_data(),
            res: c.result(),
        })
    }
}

/// An eventfd (non-blocking) and a bounded wait on it.
pub struct EventFd(pub OwnedFd);

impl EventFd {
    pub fn new() -> Result<EventFd> {
        // SAFETY: plain syscall; result checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::last_os("eventfd"));
        }
        // SAFETY: fresh fd we own.
        Ok(EventFd(unsafe {
            <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
        }))
    }

    /// Wait until signalled (returns the counter) or `timeout` passed (None).
    pub fn wait(&self, timeout: Duration) -> Result<Option<u64>> {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(Error::sys("poll(eventfd)", e));
            }
            if n == 0 {
                return Ok(None);
            }
            let mut v = 0u64;
            // SAFETY: 8-byte read into a u64.
            let r = unsafe { libc::read(self.0.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
            if r == 8 {
                return Ok(Some(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_roundtrip() {
        let ud = io_ud(UBLK_U_IO_COMMIT_AND_FETCH_REQ, 4095);
        assert_eq!(io_ud_split(ud), (0x21, 4095));
        assert_eq!(io_op_name(0x21), "COMMIT_AND_FETCH_REQ");
    }

    #[test]
    fn aligned_buffer() {
        let mut b = AlignedBuf::new(8192);
        assert_eq!(b.addr() % 4096, 0);
        b.as_mut_slice()[8191] = 7;
        assert_eq!(b.as_slice()[8191], 7);
    }

    #[test]
    fn ring_wait_times_out_without_ublk() {
        // A plain io_uring (no ublk needed): waiting with nothing in flight times out.
        let Ok(mut ring) = IoUring::<squeue::Entry>::builder().build(4) else {
            eprintln!("skipped: io_uring not available here");
            return;
        };
        let t = Instant::now();
        let c = wait_cqe(&mut ring, Instant::now() + Duration::from_millis(30)).unwrap();
        assert!(c.is_none());
        assert!(t.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn eventfd_wait_times_out() {
        let e = EventFd::new().unwrap();
        assert_eq!(e.wait(Duration::from_millis(10)).unwrap(), None);
    }
}
