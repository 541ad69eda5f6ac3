//! The part of the ublk user-space ABI this crate uses, written from the protocol spec
//! (`shared/reference/ublk-protocol.md` §8) — not copied from the kernel header.
//!
//! Layouts are x86-64 and checked by the tests at the bottom of this file.

/// `_IOC` direction bits (asm-generic).
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// The `_IOC(dir, type, nr, size)` encoding: nr bits 0–7, type 8–15, size 16–29, dir 30–31.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: u32) -> u32 {
    (dir << 30) | (size << 16) | ((ty as u32) << 8) | nr as u32
}

const fn ior(nr: u8, size: u32) -> u32 {
    ioc(IOC_READ, b'u', nr, size)
}

const fn iowr(nr: u8, size: u32) -> u32 {
    ioc(IOC_READ | IOC_WRITE, b'u', nr, size)
}

const CTRL: u32 = core::mem::size_of::<CtrlCmd>() as u32;
const IO: u32 = core::mem::size_of::<IoCmd>() as u32;

// Control commands (SQE128 uring_cmd on /dev/ublk-control).
pub const UBLK_U_CMD_GET_QUEUE_AFFINITY: u32 = ior(0x01, CTRL);
pub const UBLK_U_CMD_GET_DEV_INFO: u32 = ior(0x02, CTRL);
pub const UBLK_U_CMD_ADD_DEV: u32 = iowr(0x04, CTRL);
pub const UBLK_U_CMD_DEL_DEV: u32 = iowr(0x05, CTRL);
pub const UBLK_U_CMD_START_DEV: u32 = iowr(0x06, CTRL);
pub const UBLK_U_CMD_STOP_DEV: u32 = iowr(0x07, CTRL);
pub const UBLK_U_CMD_SET_PARAMS: u32 = iowr(0x08, CTRL);
pub const UBLK_U_CMD_START_USER_RECOVERY: u32 = iowr(0x10, CTRL);
pub const UBLK_U_CMD_END_USER_RECOVERY: u32 = iowr(0x11, CTRL);
pub const UBLK_U_CMD_GET_PARAMS: u32 = ior(0x09, CTRL);
pub const UBLK_U_CMD_GET_DEV_INFO2: u32 = ior(0x12, CTRL);
pub const UBLK_U_CMD_GET_FEATURES: u32 = ior(0x13, CTRL);
pub const UBLK_U_CMD_DEL_DEV_ASYNC: u32 = ior(0x14, CTRL);
/// Needs UBLK_F_QUIESCE (7.2; 6.12 has neither); `data[0]` = how long to wait for an idle io
/// on every queue, in ms (0: forever).
pub const UBLK_U_CMD_QUIESCE_DEV: u32 = iowr(0x16, CTRL);
/// `data[0]` = the new size in sectors (6.14+; -ENODEV without a disk since 7.0).
pub const UBLK_U_CMD_UPDATE_SIZE: u32 = iowr(0x15, CTRL);
pub const UBLK_U_CMD_TRY_STOP_DEV: u32 = iowr(0x17, CTRL);

// `dev_info.state`.
pub const UBLK_S_DEV_DEAD: u16 = 0;
pub const UBLK_S_DEV_LIVE: u16 = 1;
pub const UBLK_S_DEV_QUIESCED: u16 = 2;
pub const UBLK_S_DEV_FAIL_IO: u16 = 3;

// I/O commands (uring_cmd on /dev/ublkcN).
pub const UBLK_U_IO_FETCH_REQ: u32 = iowr(0x20, IO);
pub const UBLK_U_IO_COMMIT_AND_FETCH_REQ: u32 = iowr(0x21, IO);
pub const UBLK_U_IO_NEED_GET_DATA: u32 = iowr(0x22, IO);
pub const UBLK_U_IO_REGISTER_IO_BUF: u32 = iowr(0x23, IO);
pub const UBLK_U_IO_UNREGISTER_IO_BUF: u32 = iowr(0x24, IO);

// I/O command results.
pub const UBLK_IO_RES_OK: i32 = 0;
pub const UBLK_IO_RES_NEED_GET_DATA: i32 = 1;
pub const UBLK_IO_RES_ABORT: i32 = -libc::ENODEV;

/// Largest queue depth; the descriptor mmap stride per queue is based on it.
pub const UBLK_MAX_QUEUE_DEPTH: usize = 4096;
/// User-copy file offset base (§8.6).
pub const UBLKSRV_IO_BUF_OFFSET: u64 = 0x8000_0000;

// Feature flags (§8.3).
pub const UBLK_F_SUPPORT_ZERO_COPY: u64 = 1 << 0;
pub const UBLK_F_URING_CMD_COMP_IN_TASK: u64 = 1 << 1;
pub const UBLK_F_NEED_GET_DATA: u64 = 1 << 2;
pub const UBLK_F_USER_RECOVERY: u64 = 1 << 3;
pub const UBLK_F_USER_RECOVERY_REISSUE: u64 = 1 << 4;
pub const UBLK_F_UNPRIVILEGED_DEV: u64 = 1 << 5;
pub const UBLK_F_CMD_IOCTL_ENCODE: u64 = 1 << 6;
pub const UBLK_F_USER_COPY: u64 = 1 << 7;
pub const UBLK_F_ZONED: u64 = 1 << 8;
pub const UBLK_F_USER_RECOVERY_FAIL_IO: u64 = 1 << 9;
pub const UBLK_F_UPDATE_SIZE: u64 = 1 << 10;
pub const UBLK_F_AUTO_BUF_REG: u64 = 1 << 11;
/// `ublk_auto_buf_reg.flags`: a request whose buffer cannot be registered still reaches the
/// server, with UBLK_IO_F_NEED_REG_BUF in its descriptor.
pub const UBLK_AUTO_BUF_REG_FALLBACK: u8 = 1 << 0;
pub const UBLK_F_QUIESCE: u64 = 1 << 12;
pub const UBLK_F_PER_IO_DAEMON: u64 = 1 << 13;
pub const UBLK_F_BUF_REG_OFF_DAEMON: u64 = 1 << 14;
pub const UBLK_F_BATCH_IO: u64 = 1 << 15;
pub const UBLK_F_INTEGRITY: u64 = 1 << 16;
pub const UBLK_F_SAFE_STOP_DEV: u64 = 1 << 17;
pub const UBLK_F_NO_AUTO_PART_SCAN: u64 = 1 << 18;
pub const UBLK_F_SHMEM_ZC: u64 = 1 << 19;

/// Names of the feature bits, for reports.
pub const FEATURE_NAMES: [(u64, &str); 20] = [
    (UBLK_F_SUPPORT_ZERO_COPY, "SUPPORT_ZERO_COPY"),
    (UBLK_F_URING_CMD_COMP_IN_TASK, "URING_CMD_COMP_IN_TASK"),
    (UBLK_F_NEED_GET_DATA, "NEED_GET_DATA"),
    (UBLK_F_USER_RECOVERY, "USER_RECOVERY"),
    (UBLK_F_USER_RECOVERY_REISSUE, "USER_RECOVERY_REISSUE"),
    (UBLK_F_UNPRIVILEGED_DEV, "UNPRIVILEGED_DEV"),
    (UBLK_F_CMD_IOCTL_ENCODE, "CMD_IOCTL_ENCODE"),
    (UBLK_F_USER_COPY, "USER_COPY"),
    (UBLK_F_ZONED, "ZONED"),
    (UBLK_F_USER_RECOVERY_FAIL_IO, "USER_RECOVERY_FAIL_IO"),
    (UBLK_F_UPDATE_SIZE, "UPDATE_SIZE"),
    (UBLK_F_AUTO_BUF_REG, "AUTO_BUF_REG"),
    (UBLK_F_QUIESCE, "QUIESCE"),
    (UBLK_F_PER_IO_DAEMON, "PER_IO_DAEMON"),
    (UBLK_F_BUF_REG_OFF_DAEMON, "BUF_REG_OFF_DAEMON"),
    (UBLK_F_BATCH_IO, "BATCH_IO"),
    (UBLK_F_INTEGRITY, "INTEGRITY"),
    (UBLK_F_SAFE_STOP_DEV, "SAFE_STOP_DEV"),
    (UBLK_F_NO_AUTO_PART_SCAN, "NO_AUTO_PART_SCAN"),
    (UBLK_F_SHMEM_ZC, "SHMEM_ZC"),
];

/// Names of the bits set in `flags` (unknown bits as hex).
pub fn feature_names(flags: u64) -> Vec<String> {
    let mut out: Vec<String> = FEATURE_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let known: u64 = FEATURE_NAMES.iter().map(|(b, _)| b).fold(0, |a, b| a | b);
    if flags & !known != 0 {
        out.push(format!("{:#x}", flags & !known));
    }
    out
}

// Parameter types.
pub const UBLK_PARAM_TYPE_BASIC: u32 = 1 << 0;
pub const UBLK_PARAM_TYPE_DISCARD: u32 = 1 << 1;
pub const UBLK_PARAM_TYPE_DEVT: u32 = 1 << 2;
pub const UBLK_PARAM_TYPE_ZONED: u32 = 1 << 3;
pub const UBLK_PARAM_TYPE_DMA_ALIGN: u32 = 1 << 4;
pub const UBLK_PARAM_TYPE_SEGMENT: u32 = 1 << 5;
pub const UBLK_PARAM_TYPE_INTEGRITY: u32 = 1 << 6;

// Descriptor op codes (low 8 bits of `op_flags`).
pub const UBLK_IO_OP_READ: u32 = 0;
pub const UBLK_IO_OP_WRITE: u32 = 1;
pub const UBLK_IO_OP_FLUSH: u32 = 2;
pub const UBLK_IO_OP_DISCARD: u32 = 3;
pub const UBLK_IO_OP_WRITE_SAME: u32 = 4;
pub const UBLK_IO_OP_WRITE_ZEROES: u32 = 5;

/// `struct ublksrv_ctrl_cmd` (32 bytes), carried in the SQE128 command area.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CtrlCmd {
    pub dev_id: u32,
    pub queue_id: u16,
    pub len: u16,
    pub addr: u64,
    pub data: [u64; 1],
    pub dev_path_len: u16,
    pub pad: u16,
    pub reserved: u32,
}

/// `struct ublksrv_ctrl_dev_info` (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DevInfo {
    pub nr_hw_queues: u16,
    pub queue_depth: u16,
    pub state: u16,
    pub pad0: u16,
    pub max_io_buf_bytes: u32,
    pub dev_id: u32,
    pub ublksrv_pid: i32,
    pub pad1: u32,
    pub flags: u64,
    pub ublksrv_flags: u64,
    pub owner_uid: u32,
    pub owner_gid: u32,
    pub reserved1: u64,
    pub reserved2: u64,
}

/// `struct ublksrv_io_cmd` (16 bytes), carried in the SQE command area.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoCmd {
    pub q_id: u16,
    pub tag: u16,
    pub result: i32,
    /// Buffer address (copy mode), buffer index (REGISTER/UNREGISTER_IO_BUF) or zone LBA.
    pub addr: u64,
}

/// `struct ublksrv_io_desc` (24 bytes), one per tag in the mmapped array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoDesc {
    pub op_flags: u32,
    pub nr_sectors: u32,
    pub start_sector: u64,
    pub addr: u64,
}

impl IoDesc {
    pub fn op(&self) -> u32 {
        self.op_flags & 0xff
    }
}

/// `struct ublk_param_basic` (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamBasic {
    pub attrs: u32,
    pub logical_bs_shift: u8,
    pub physical_bs_shift: u8,
    pub io_opt_shift: u8,
    pub io_min_shift: u8,
    pub max_sectors: u32,
    pub chunk_sectors: u32,
    pub dev_sectors: u64,
    pub virt_boundary_mask: u64,
}

/// `struct ublk_params` (152 bytes in K72). Only `basic` is interpreted here; the other
/// parameter groups are kept as opaque zeroed bytes of the right size.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub len: u32,
    pub types: u32,
    pub basic: ParamBasic,
    /// discard (20) @40, devt (16) @60, zoned (32) @76, first half of dma (8) @108 …
    pub rest_a: [u8; 72],
    /// … rest of dma, seg (16) @120 and integrity (16) @136 (no padding anywhere).
    pub rest_b: [u64; 5],
}

impl Default for Params {
    fn default() -> Self {
        Params {
            len: 0,
            types: 0,
            basic: ParamBasic::default(),
            rest_a: [0; 72],
            rest_b: [0; 5],
        }
    }
}

impl Params {
    /// Basic parameters only: a disk of `dev_bytes` with 512-byte logical and 4 KiB physical
    /// blocks and requests of at most `max_io_bytes`.
    pub fn basic(dev_bytes: u64, max_io_bytes: u32) -> Params {
        Params {
            len: core::mem::size_of::<Params>() as u32,
            types: UBLK_PARAM_TYPE_BASIC,
            basic: ParamBasic {
                attrs: 0,
                logical_bs_shift: 9,
                physical_bs_shift: 12,
                io_opt_shift: 12,
                io_min_shift: 9,
                max_sectors: max_io_bytes >> 9,
                chunk_sectors: 0,
                dev_sectors: dev_bytes >> 9,
                virt_boundary_mask: 0,
            },
            ..Params::default()
        }
    }
}

/// Offset of queue `q_id`'s descriptor array in the `/dev/ublkcN` mmap space (§8.5).
pub fn desc_mmap_offset(q_id: u16, page_size: usize) -> u64 {
    let stride =
        (UBLK_MAX_QUEUE_DEPTH * core::mem::size_of::<IoDesc>()).div_ceil(page_size) * page_size;
    q_id as u64 * stride as u64
}

/// Length of one queue's descriptor mapping.
pub fn desc_mmap_len(depth: u16, page_size: usize) -> usize {
    (depth as usize * core::mem::size_of::<IoDesc>()).div_ceil(page_size) * page_size
}

/// User-copy file offset of byte `off` of the buffer of (`q_id`, `tag`) (§8.6).
pub fn user_copy_pos(q_id: u16, tag: u16, off: u64) -> u64 {
    UBLKSRV_IO_BUF_OFFSET + ((q_id as u64) << 41) + ((tag as u64) << 25) + off
}

/// View a `#[repr(C)]` plain-data value as bytes.
pub fn as_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is Copy plain data with no padding-dependent invariants; reading its bytes
    // (including padding, zeroed by our constructors) is what the kernel does too.
    unsafe { core::slice::from_raw_parts((v as *const T).cast::<u8>(), core::mem::size_of::<T>()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn sizes() {
        assert_eq!(size_of::<CtrlCmd>(), 32);
        assert_eq!(size_of::<DevInfo>(), 64);
        assert_eq!(size_of::<IoCmd>(), 16);
        assert_eq!(size_of::<IoDesc>(), 24);
        assert_eq!(size_of::<ParamBasic>(), 32);
        assert_eq!(size_of::<Params>(), 152);
    }

    #[test]
    fn ctrl_cmd_offsets() {
        assert_eq!(offset_of!(CtrlCmd, dev_id), 0);
        assert_eq!(offset_of!(CtrlCmd, queue_id), 4);
        assert_eq!(offset_of!(CtrlCmd, len), 6);
        assert_eq!(offset_of!(CtrlCmd, addr), 8);
        assert_eq!(offset_of!(CtrlCmd, data), 16);
        assert_eq!(offset_of!(CtrlCmd, dev_path_len), 24);
        assert_eq!(offset_of!(CtrlCmd, pad), 26);
        assert_eq!(offset_of!(CtrlCmd, reserved), 28);
    }

    #[test]
    fn dev_info_offsets() {
        assert_eq!(offset_of!(DevInfo, nr_hw_queues), 0);
        assert_eq!(offset_of!(DevInfo, queue_depth), 2);
        assert_eq!(offset_of!(DevInfo, state), 4);
        assert_eq!(offset_of!(DevInfo, pad0), 6);
        assert_eq!(offset_of!(DevInfo, max_io_buf_bytes), 8);
        assert_eq!(offset_of!(DevInfo, dev_id), 12);
        assert_eq!(offset_of!(DevInfo, ublksrv_pid), 16);
        assert_eq!(offset_of!(DevInfo, pad1), 20);
        assert_eq!(offset_of!(DevInfo, flags), 24);
        assert_eq!(offset_of!(DevInfo, ublksrv_flags), 32);
        assert_eq!(offset_of!(DevInfo, owner_uid), 40);
        assert_eq!(offset_of!(DevInfo, owner_gid), 44);
        assert_eq!(offset_of!(DevInfo, reserved1), 48);
        assert_eq!(offset_of!(DevInfo, reserved2), 56);
    }

    #[test]
    fn io_cmd_and_desc_offsets() {
        assert_eq!(offset_of!(IoCmd, q_id), 0);
        assert_eq!(offset_of!(IoCmd, tag), 2);
        assert_eq!(offset_of!(IoCmd, result), 4);
        assert_eq!(offset_of!(IoCmd, addr), 8);
        assert_eq!(offset_of!(IoDesc, op_flags), 0);
        assert_eq!(offset_of!(IoDesc, nr_sectors), 4);
        assert_eq!(offset_of!(IoDesc, start_sector), 8);
        assert_eq!(offset_of!(IoDesc, addr), 16);
    }

    #[test]
    fn params_offsets() {
        assert_eq!(offset_of!(Params, len), 0);
        assert_eq!(offset_of!(Params, types), 4);
        assert_eq!(offset_of!(Params, basic), 8);
        assert_eq!(offset_of!(Params, rest_a), 40); // discard
        assert_eq!(offset_of!(Params, rest_b), 112); // dma @108 straddles; seg @120
        assert_eq!(offset_of!(ParamBasic, attrs), 0);
        assert_eq!(offset_of!(ParamBasic, logical_bs_shift), 4);
        assert_eq!(offset_of!(ParamBasic, physical_bs_shift), 5);
        assert_eq!(offset_of!(ParamBasic, io_opt_shift), 6);
        assert_eq!(offset_of!(ParamBasic, io_min_shift), 7);
        assert_eq!(offset_of!(ParamBasic, max_sectors), 8);
        assert_eq!(offset_of!(ParamBasic, chunk_sectors), 12);
        assert_eq!(offset_of!(ParamBasic, dev_sectors), 16);
        assert_eq!(offset_of!(ParamBasic, virt_boundary_mask), 24);
    }

    #[test]
    fn command_encodings() {
        assert_eq!(UBLK_U_CMD_GET_QUEUE_AFFINITY, 0x8020_7501);
        assert_eq!(UBLK_U_CMD_GET_DEV_INFO, 0x8020_7502);
        assert_eq!(UBLK_U_CMD_ADD_DEV, 0xC020_7504);
        assert_eq!(UBLK_U_CMD_DEL_DEV, 0xC020_7505);
        assert_eq!(UBLK_U_CMD_START_DEV, 0xC020_7506);
        assert_eq!(UBLK_U_CMD_STOP_DEV, 0xC020_7507);
        assert_eq!(UBLK_U_CMD_SET_PARAMS, 0xC020_7508);
        assert_eq!(UBLK_U_CMD_START_USER_RECOVERY, 0xC020_7510);
        assert_eq!(UBLK_U_CMD_END_USER_RECOVERY, 0xC020_7511);
        assert_eq!(UBLK_U_CMD_GET_PARAMS, 0x8020_7509);
        assert_eq!(UBLK_U_CMD_GET_DEV_INFO2, 0x8020_7512);
        assert_eq!(UBLK_U_CMD_GET_FEATURES, 0x8020_7513);
        assert_eq!(UBLK_U_CMD_DEL_DEV_ASYNC, 0x8020_7514);
        assert_eq!(UBLK_U_CMD_QUIESCE_DEV, 0xC020_7516);
        assert_eq!(UBLK_U_CMD_UPDATE_SIZE, 0xC020_7515);
        assert_eq!(UBLK_U_CMD_TRY_STOP_DEV, 0xC020_7517);
        assert_eq!(UBLK_U_IO_FETCH_REQ, 0xC010_7520);
        assert_eq!(UBLK_U_IO_COMMIT_AND_FETCH_REQ, 0xC010_7521);
        assert_eq!(UBLK_U_IO_NEED_GET_DATA, 0xC010_7522);
        assert_eq!(UBLK_U_IO_REGISTER_IO_BUF, 0xC010_7523);
        assert_eq!(UBLK_U_IO_UNREGISTER_IO_BUF, 0xC010_7524);
    }

    #[test]
    fn offsets_of_mappings() {
        assert_eq!(desc_mmap_offset(0, 4096), 0);
        assert_eq!(desc_mmap_offset(1, 4096), 98304);
        assert_eq!(desc_mmap_len(1, 4096), 4096);
        assert_eq!(desc_mmap_len(200, 4096), 8192);
        assert_eq!(
            user_copy_pos(1, 2, 3),
            0x8000_0000 + (1 << 41) + (2 << 25) + 3
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            feature_names(UBLK_F_USER_COPY | 1 << 40),
            vec!["USER_COPY".to_string(), "0x10000000000".into()]
        );
        assert_eq!(FEATURE_NAMES.iter().fold(0, |a, (b, _)| a | b), 0xfffff);
    }
}
