//! 6.12's device flags as ADD_DEV and GET_FEATURES see them (`ublk_cmd.h`,
//! `ublk_ctrl_add_dev`, `ublk_ctrl_get_features`), for conformance programs.

use crate::exec::EINVAL;

/// `UBLK_F_*` of 6.12's `ublk_cmd.h`.
pub const UBLK_F_SUPPORT_ZERO_COPY: u64 = 1 << 0;
pub const UBLK_F_URING_CMD_COMP_IN_TASK: u64 = 1 << 1;
pub const UBLK_F_NEED_GET_DATA: u64 = 1 << 2;
pub const UBLK_F_USER_RECOVERY: u64 = 1 << 3;
pub const UBLK_F_USER_RECOVERY_REISSUE: u64 = 1 << 4;
pub const UBLK_F_UNPRIVILEGED_DEV: u64 = 1 << 5;
pub const UBLK_F_CMD_IOCTL_ENCODE: u64 = 1 << 6;
pub const UBLK_F_USER_COPY: u64 = 1 << 7;
pub const UBLK_F_ZONED: u64 = 1 << 8;
/// 6.12's `UBLK_F_ALL`: bits 0..=8.
pub const UBLK_F_ALL_612: u64 = 0x1ff;
pub const EPERM: i32 = -1;

/// `ublk_ctrl_get_features()` on 6.12: every flag but zero copy (0x1fe).
pub fn get_features_612() -> u64 {
    UBLK_F_ALL_612 & !UBLK_F_SUPPORT_ZERO_COPY
}

/// The flags `ublk_ctrl_add_dev()` keeps on 6.12: unknown bits are dropped
/// silently, IOCTL_ENCODE and COMP_IN_TASK forced on, NEED_GET_DATA dropped
/// with USER_COPY; an unprivileged device loses recovery and may not use
/// USER_COPY; ZONED needs USER_COPY.
pub fn add_dev_flags_612(flags: u64, privileged: bool) -> Result<u64, i32> {
    let mut f = flags;
    if privileged {
        f &= !UBLK_F_UNPRIVILEGED_DEV;
    } else if f & UBLK_F_UNPRIVILEGED_DEV == 0 {
        return Err(EPERM);
    }
    if f & UBLK_F_UNPRIVILEGED_DEV != 0 {
        f &= !(UBLK_F_USER_RECOVERY_REISSUE | UBLK_F_USER_RECOVERY);
        if f & UBLK_F_USER_COPY != 0 {
            return Err(EINVAL);
        }
    }
    f &= UBLK_F_ALL_612;
    f |= UBLK_F_CMD_IOCTL_ENCODE | UBLK_F_URING_CMD_COMP_IN_TASK;
    if f & UBLK_F_USER_COPY != 0 {
        f &= !UBLK_F_NEED_GET_DATA;
    }
    if f & UBLK_F_ZONED != 0 && f & UBLK_F_USER_COPY == 0 {
        return Err(EINVAL);
    }
    Ok(f)
}
