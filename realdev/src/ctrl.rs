//! The control plane: uring_cmd (SQE128) on `/dev/ublk-control`, and [`Device`], a guard that
//! always stops and deletes the device it added.
//!
//! Every command has a timeout. A command that times out stays in flight in the kernel (e.g.
//! START_DEV waiting for readiness); its buffer is then kept alive by the ring, never freed
//! under the kernel's feet.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use crate::error::{Error, Result};
use crate::io::wait_cqe;
use crate::uapi::*;

pub use ublk_program::CONTROL_PATH;

/// One control ring on its own `/dev/ublk-control` fd. Not shared between threads: a thread
/// that must block in a command (START_DEV) opens its own.
pub struct CtrlRing {
    ring: IoUring<squeue::Entry128, cqueue::Entry>,
    fd: OwnedFd,
    next_ud: u64,
    /// Buffers of commands that timed out (the kernel may still write them).
    in_flight: Vec<Box<[u8]>>,
}

/// Open `/dev/ublk-control`, mapping "missing" and "permission denied" to clear errors.
pub fn open_control() -> Result<OwnedFd> {
    match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(CONTROL_PATH)
    {
        Ok(f) => Ok(f.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NoControl),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES) | Some(libc::EPERM)) => {
            Err(Error::ControlPermission)
        }
        Err(e) => Err(Error::sys(CONTROL_PATH, e)),
    }
}

impl CtrlRing {
    pub fn open() -> Result<CtrlRing> {
        let fd = open_control()?;
        let ring = IoUring::<squeue::Entry128, cqueue::Entry>::builder()
            .build(8)
            .map_err(|e| Error::sys("io_uring_setup(SQE128) for the control ring", e))?;
        Ok(CtrlRing {
            ring,
            fd,
            next_ud: 1,
            in_flight: Vec::new(),
        })
    }

    /// Issue one control command. `buf` (if any) is the payload `addr/len` points at: it is
    /// copied in before and out after the command. Returns the raw `cqe->res`.
    pub fn command(
        &mut self,
        name: &str,
        op: u32,
        mut cmd: CtrlCmd,
        buf: Option<&mut [u8]>,
        timeout: Duration,
    ) -> Result<i32> {
        let mut owned: Option<Box<[u8]>> = buf.as_ref().map(|b| b.to_vec().into_boxed_slice());
        if let Some(o) = owned.as_mut() {
            cmd.addr = o.as_mut_ptr() as u64;
            cmd.len = o.len() as u16;
        }
        let ud = self.next_ud;
        self.next_ud += 1;
        let mut area = [0u8; 80];
        area[..32].copy_from_slice(as_bytes(&cmd));
        let sqe = opcode::UringCmd80::new(types::Fd(self.fd.as_raw_fd()), op)
            .cmd(area)
            .build()
            .user_data(ud);
        // SAFETY: the payload buffer lives in `owned`, kept alive until completion (or forever
        // in `in_flight` if the command times out).
        unsafe { self.ring.submission().push(&sqe) }
            .map_err(|_| Error::Other(format!("{name}: control SQ full")))?;
        self.ring
            .submit()
            .map_err(|e| Error::sys(format!("{name}: io_uring_enter"), e))?;
        let deadline = Instant::now() + timeout;
        loop {
            match wait_cqe(&mut self.ring, deadline)
                .map_err(|e| Error::sys(format!("{name}: wait"), e))?
            {
                None => {
                    if let Some(o) = owned.take() {
                        self.in_flight.push(o);
                    }
                    return Err(Error::Timeout {
                        what: name.to_string(),
                        timeout,
                    });
                }
                Some(c) if c.user_data() == ud => {
                    if let (Some(b), Some(o)) = (buf, owned.as_ref()) {
                        b.copy_from_slice(o);
                    }
                    return Ok(c.result());
                }
                Some(_) => continue, // late completion of an earlier timed-out command
            }
        }
    }

    /// GET_FEATURES: the driver's `UBLK_F_ALL`.
    pub fn get_features(&mut self, timeout: Duration) -> Result<u64> {
        let mut v = [0u8; 8];
        let cmd = CtrlCmd {
            dev_id: u32::MAX,
            queue_id: u16::MAX,
            ..Default::default()
        };
        let res = self.command(
            "GET_FEATURES",
            UBLK_U_CMD_GET_FEATURES,
            cmd,
            Some(&mut v),
            timeout,
        )?;
        if res < 0 {
            return Err(Error::Kernel {
                what: "GET_FEATURES".into(),
                res,
            });
        }
        Ok(u64::from_ne_bytes(v))
    }

    /// GET_DEV_INFO of device `dev_id`: its `dev_info.state` (`UBLK_S_DEV_*`).
    pub fn dev_state(&mut self, dev_id: u32, timeout: Duration) -> Result<u16> {
        let mut buf = as_bytes(&DevInfo::default()).to_vec();
        let cmd = CtrlCmd {
            dev_id,
            queue_id: u16::MAX,
            ..Default::default()
        };
        let res = self.command(
            "GET_DEV_INFO",
            UBLK_U_CMD_GET_DEV_INFO,
            cmd,
            Some(&mut buf),
            timeout,
        )?;
        if res < 0 {
            return Err(Error::Kernel {
                what: "GET_DEV_INFO".into(),
                res,
            });
        }
        // SAFETY: DevInfo is plain old data, `buf` has its size.
        let info = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<DevInfo>()) };
        Ok(info.state)
    }

    /// QUIESCE_DEV of device `dev_id` (7.2, UBLK_F_QUIESCE): the kernel sets `canceling` on
    /// every queue, waits at most `wait_ms` (0: forever) until each queue has an idle io
    /// (-EBUSY when it gives up), then cancels every idle io's command (ABORT CQEs to the
    /// server). Returns the raw result; `timeout` bounds the wait for it here.
    pub fn quiesce_dev(&mut self, dev_id: u32, wait_ms: u64, timeout: Duration) -> Result<i32> {
        self.simple(
            "QUIESCE_DEV",
            UBLK_U_CMD_QUIESCE_DEV,
            dev_id,
            wait_ms,
            timeout,
        )
    }

    /// A command on device `dev_id` without payload; returns the raw result.
    pub fn simple(
        &mut self,
        name: &str,
        op: u32,
        dev_id: u32,
        data0: u64,
        timeout: Duration,
    ) -> Result<i32> {
        let cmd = CtrlCmd {
            dev_id,
            queue_id: u16::MAX,
            data: [data0],
            ..Default::default()
        };
        self.command(name, op, cmd, None, timeout)
    }
}

impl Drop for CtrlRing {
    fn drop(&mut self) {
        // A timed-out command may still complete into its buffer after the ring is gone
        // (io-wq finishing it): never free those buffers.
        for b in self.in_flight.drain(..) {
            std::mem::forget(b);
        }
    }
}

/// What to ask ADD_DEV for.
#[derive(Clone, Copy, Debug)]
pub struct DevSpec {
    pub nr_hw_queues: u16,
    pub queue_depth: u16,
    pub max_io_buf_bytes: u32,
    pub flags: u64,
}

/// An added device. Dropping it without [`Device::delete`] stops it and deletes it
/// asynchronously (DEL_DEV_ASYNC: does not wait for the char device to be closed), so every
/// error path cleans up.
pub struct Device {
    ctrl: CtrlRing,
    pub info: DevInfo,
    pub asked_flags: u64,
    pub timeout: Duration,
    done: bool,
}

impl Device {
    /// ADD_DEV with `dev_id` = any. Fails (after deleting the device again) when the kernel
    /// dropped a requested flag.
    pub fn add(ctrl: CtrlRing, spec: DevSpec, timeout: Duration) -> Result<Device> {
        let dev = Device::add_as_granted(ctrl, spec, timeout)?;
        let dropped = spec.flags & !dev.info.flags;
        if dropped != 0 {
            // `dev` is dropped here: stop + delete.
            return Err(Error::FlagsDropped {
                asked: spec.flags,
                got: dev.info.flags,
                dropped: feature_names(dropped),
            });
        }
        Ok(dev)
    }

    /// ADD_DEV with `dev_id` = any, keeping the device whatever flags the kernel granted
    /// (`info.flags`; a kernel masks the flags it does not know).
    pub fn add_as_granted(mut ctrl: CtrlRing, spec: DevSpec, timeout: Duration) -> Result<Device> {
        let mut info = DevInfo {
            nr_hw_queues: spec.nr_hw_queues,
            queue_depth: spec.queue_depth,
            max_io_buf_bytes: spec.max_io_buf_bytes,
            dev_id: u32::MAX,
            flags: spec.flags,
            ..Default::default()
        };
        let mut buf = as_bytes(&info).to_vec();
        let cmd = CtrlCmd {
            dev_id: u32::MAX,
            queue_id: u16::MAX,
            ..Default::default()
        };
        let res = ctrl.command("ADD_DEV", UBLK_U_CMD_ADD_DEV, cmd, Some(&mut buf), timeout)?;
        if res < 0 {
            return Err(Error::Kernel {
                what: "ADD_DEV".into(),
                res,
            });
        }
        // SAFETY: buf holds size_of::<DevInfo>() bytes written by the kernel; any bit pattern
        // is a valid DevInfo.
        info = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<DevInfo>()) };
        Ok(Device {
            ctrl,
            info,
            asked_flags: spec.flags,
            timeout,
            done: false,
        })
    }

    pub fn id(&self) -> u32 {
        self.info.dev_id
    }

    pub fn set_params(&mut self, p: &Params) -> Result<i32> {
        let mut buf = as_bytes(p).to_vec();
        let cmd = CtrlCmd {
            dev_id: self.id(),
            queue_id: u16::MAX,
            ..Default::default()
        };
        let t = self.timeout;
        self.ctrl
            .command("SET_PARAMS", UBLK_U_CMD_SET_PARAMS, cmd, Some(&mut buf), t)
    }

    /// START_DEV on its own thread (it blocks until every tag is fetched): the receiver gets
    /// the raw result (or the error, e.g. a timeout).
    pub fn start_async(&self, timeout: Duration) -> mpsc::Receiver<Result<i32>> {
        let (tx, rx) = mpsc::channel();
        let dev_id = self.id();
        let pid = std::process::id() as u64;
        thread::Builder::new()
            .name("start-dev".into())
            .spawn(move || {
                let r = CtrlRing::open().and_then(|mut c| {
                    c.simple("START_DEV", UBLK_U_CMD_START_DEV, dev_id, pid, timeout)
                });
                let _ = tx.send(r);
            })
            .expect("spawn start-dev thread");
        rx
    }

    pub fn stop(&mut self) -> Result<i32> {
        let (id, t) = (self.id(), self.timeout);
        self.ctrl.simple("STOP_DEV", UBLK_U_CMD_STOP_DEV, id, 0, t)
    }

    /// STOP_DEV on its own thread (it waits for in-flight I/O, which someone must serve).
    pub fn stop_async(&self, timeout: Duration) -> mpsc::Receiver<Result<i32>> {
        let (tx, rx) = mpsc::channel();
        let dev_id = self.id();
        thread::Builder::new()
            .name("stop-dev".into())
            .spawn(move || {
                let r = CtrlRing::open().and_then(|mut c| {
                    c.simple("STOP_DEV", UBLK_U_CMD_STOP_DEV, dev_id, 0, timeout)
                });
                let _ = tx.send(r);
            })
            .expect("spawn stop-dev thread");
        rx
    }

    /// The device was deleted by other means (a program's own DEL_DEV): disarm the guard.
    pub fn forget(mut self) {
        self.done = true;
    }

    /// DEL_DEV (waits until every reference to the device, e.g. an open `/dev/ublkcN`, is
    /// gone: close the char device first). The guard is disarmed whatever the result.
    pub fn delete(mut self) -> Result<i32> {
        self.done = true;
        let (id, t) = (self.id(), self.timeout);
        self.ctrl.simple("DEL_DEV", UBLK_U_CMD_DEL_DEV, id, 0, t)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (id, t) = (self.id(), self.timeout.min(Duration::from_secs(10)));
        let stop = self.ctrl.simple("STOP_DEV", UBLK_U_CMD_STOP_DEV, id, 0, t);
        let del = self
            .ctrl
            .simple("DEL_DEV_ASYNC", UBLK_U_CMD_DEL_DEV_ASYNC, id, 0, t);
        eprintln!("ublk-realdev: cleanup of device {id}: STOP_DEV {stop:?}, DEL_DEV_ASYNC {del:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_control_is_a_clear_error() {
        if std::path::Path::new(CONTROL_PATH).exists() {
            eprintln!("skipped: {CONTROL_PATH} exists on this machine");
            return;
        }
        let e = CtrlRing::open()
            .err()
            .expect("no control device, open must fail");
        assert!(matches!(e, Error::NoControl), "{e}");
        assert!(e.to_string().contains("/dev/ublk-control not found"));
    }

    #[test]
    #[ignore = "needs root, ublk_drv and /dev/ublk-control (run scripts/vm/run.sh)"]
    fn get_features_on_a_real_kernel() {
        let f = CtrlRing::open()
            .unwrap()
            .get_features(Duration::from_secs(5))
            .unwrap();
        assert!(f & UBLK_F_CMD_IOCTL_ENCODE != 0);
    }
}
