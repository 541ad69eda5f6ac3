//! The executor's block clients (one O_DIRECT bio per thread) and the device's flags.

use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::error::Error;
use crate::io::AlignedBuf;
use crate::program::*;
use crate::uapi::*;

/// What [`bio`] returns when the device has no disk (no /dev/ublkbN, no
/// /sys/block/ublkbN): the bio was never issued. The model's submitter waits for a disk
/// there (its bio "blocks"), so the executor reports no completion, not an errno.
pub(crate) const NO_DISK: i32 = i32::MIN;

/// One O_DIRECT read or write of `bytes` at offset 0 of /dev/ublkbN: 0 on a full transfer
/// (the model's bio status), else -errno (a short transfer is -EIO); [`NO_DISK`] when the
/// node does not appear within a second.
pub(crate) fn bio(
    dev_id: u32,
    write: bool,
    bytes: usize,
    release: Option<crate::race::Release>,
) -> i32 {
    let path = format!("/dev/ublkb{dev_id}");
    let flags = libc::O_DIRECT
        | if write {
            libc::O_WRONLY
        } else {
            libc::O_RDONLY
        };
    let fd = match crate::io::open_node(&path, flags, Duration::from_secs(1)) {
        Ok(fd) => fd,
        Err(Error::Sys { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return NO_DISK
        }
        Err(Error::Sys { source, .. }) => return -source.raw_os_error().unwrap_or(libc::EIO),
        Err(_) => return -libc::EIO,
    };
    let mut buf = AlignedBuf::new(bytes);
    if let Some(r) = release {
        // a racing bio: the node is open, the pread/pwrite goes at the instant
        r.go();
    }
    // SAFETY: a 4 KiB aligned buffer of `bytes`.
    let r = unsafe {
        if write {
            libc::pwrite(fd.as_raw_fd(), buf.as_slice().as_ptr().cast(), bytes, 0)
        } else {
            libc::pread(
                fd.as_raw_fd(),
                buf.as_mut_slice().as_mut_ptr().cast(),
                bytes,
                0,
            )
        }
    };
    if r < 0 {
        -std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    } else if r as usize == bytes {
        0
    } else {
        -libc::EIO
    }
}

/// Pin the calling thread to `cpu`.
pub(crate) fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is valid; CPU_SET within its bounds; the call only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The first CPU of `/sys/block/ublkb{id}/mq/{q}/cpu_list` ("0", "0-1", "0,2").
pub(crate) fn queue_cpu(id: u32, q: u16) -> crate::error::Result<(usize, String)> {
    let path = format!("/sys/block/ublkb{id}/mq/{q}/cpu_list");
    let s = std::fs::read_to_string(&path).map_err(|e| Error::sys(path.clone(), e))?;
    let list = s.trim().to_string();
    let first = list
        .split([',', '-'])
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| Error::Other(format!("{path}: {list:?}")))?;
    Ok((first, list))
}

/// [`bio`] from a thread pinned to a CPU of hw queue `q` (a device of `queues` > 1 queues;
/// with one queue the bio is not pinned). A failure to find or pin to the CPU is -EINVAL
/// (the executor's error, reported as the bio's result), except a queue list that does not
/// exist: the device has no disk ([`NO_DISK`]).
pub(crate) fn bio_on(
    dev_id: u32,
    write: bool,
    bytes: usize,
    queues: u16,
    q: u16,
    release: Option<crate::race::Release>,
) -> i32 {
    if queues > 1 {
        let pinned = queue_cpu(dev_id, q).and_then(|(cpu, _)| {
            pin_to(cpu).map_err(|e| Error::sys(format!("sched_setaffinity(CPU {cpu})"), e))
        });
        if let Err(e) = pinned {
            if matches!(&e, Error::Sys { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
            {
                return NO_DISK;
            }
            eprintln!("ublk-realdev: bio on queue {q}: {e}");
            return -libc::EINVAL;
        }
    }
    bio(dev_id, write, bytes, release)
}

pub(crate) fn dev_flags(d: &DevCfg) -> u64 {
    let mut f = match d.copy {
        CopyKind::Copy => 0,
        CopyKind::UserCopy => UBLK_F_USER_COPY,
        CopyKind::ZeroCopy => UBLK_F_SUPPORT_ZERO_COPY,
        CopyKind::AutoBufReg => UBLK_F_SUPPORT_ZERO_COPY | UBLK_F_AUTO_BUF_REG,
        CopyKind::AutoBufRegOnly => UBLK_F_AUTO_BUF_REG,
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
    if d.quiesce {
        f |= UBLK_F_QUIESCE;
    }
    f
}

/// The io command tag of an action (FETCH, COMMIT_AND_FETCH, NEED_GET_DATA).
pub(crate) fn io_cmd_tag(act: &Act) -> Option<u16> {
    match act {
        Act::Fetch { tag, .. } | Act::Commit { tag, .. } | Act::NeedGetData { tag } => Some(*tag),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiesce_programs_ask_for_the_flag() {
        let text = include_str!("../programs/quiesce.jsonl");
        for l in text.lines() {
            let p: Program = serde_json::from_str(l).unwrap();
            assert!(p.dev.quiesce, "{}", p.id);
            assert_eq!(crate::exec::unsupported(&p), None, "{}", p.id);
            let f = dev_flags(&p.dev);
            assert_eq!(
                f & (UBLK_F_QUIESCE | UBLK_F_USER_RECOVERY),
                UBLK_F_QUIESCE | UBLK_F_USER_RECOVERY
            );
            let mut q = p.clone();
            q.dev.recovery = RecoveryKind::None;
            assert!(crate::exec::unsupported(&q).unwrap().contains("recovery"));
            q.dev.quiesce = false;
            assert!(crate::exec::unsupported(&q)
                .unwrap()
                .contains("without quiesce"));
        }
    }
}
