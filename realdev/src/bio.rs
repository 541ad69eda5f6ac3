//! The executor's block clients (one O_DIRECT bio per thread) and the device's flags.

use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::child::IO_BYTES;
use crate::error::Error;
use crate::io::AlignedBuf;
use crate::program::*;
use crate::uapi::*;

/// One O_DIRECT 4 KiB read or write at offset 0 of /dev/ublkbN: 0 on a full transfer (the
/// model's bio status), else -errno (a short transfer is -EIO).
pub(crate) fn bio(dev_id: u32, write: bool) -> i32 {
    let path = format!("/dev/ublkb{dev_id}");
    let flags = libc::O_DIRECT
        | if write {
            libc::O_WRONLY
        } else {
            libc::O_RDONLY
        };
    let fd = match crate::io::open_node(&path, flags, Duration::from_secs(1)) {
        Ok(fd) => fd,
        Err(Error::Sys { source, .. }) => return -source.raw_os_error().unwrap_or(libc::EIO),
        Err(_) => return -libc::EIO,
    };
    let mut buf = AlignedBuf::new(IO_BYTES);
    // SAFETY: 4 KiB aligned buffer.
    let r = unsafe {
        if write {
            libc::pwrite(fd.as_raw_fd(), buf.as_slice().as_ptr().cast(), IO_BYTES, 0)
        } else {
            libc::pread(
                fd.as_raw_fd(),
                buf.as_mut_slice().as_mut_ptr().cast(),
                IO_BYTES,
                0,
            )
        }
    };
    if r < 0 {
        -std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else if r as usize == IO_BYTES {
        0
    } else {
        -libc::EIO
    }
}

pub(crate) fn dev_flags(d: &DevCfg) -> u64 {
    let mut f = match d.copy {
        CopyKind::Copy => 0,
        CopyKind::UserCopy => UBLK_F_USER_COPY,
        CopyKind::ZeroCopy => UBLK_F_SUPPORT_ZERO_COPY,
        CopyKind::AutoBufReg => UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG,
    };
    if d.need_get_data {
        f |= UBLK_F_NEED_GET_DATA;
    }
    f |= match d.recovery {
        RecoveryKind::None => 0,
        RecoveryKind::Requeue => UBLK_F_USER_RECOVERY,
        RecoveryKind::Reissue => UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE,
        RecoveryKind::FailIo => UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_FAIL_IO,
    };
    f
}

/// The io command tag of an action (FETCH, COMMIT_AND_FETCH, NEED_GET_DATA).
pub(crate) fn io_cmd_tag(act: &Act) -> Option<u16> {
    match act {
        Act::Fetch { tag, .. } | Act::Commit { tag, .. } | Act::NeedGetData { tag } => Some(*tag),
        _ => None,
    }
}
