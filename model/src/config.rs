//! What a scenario configures: the device, the actors and their programs.
//!
//! A scenario is plain data (serialisable, so a trace header can carry it);
//! [`crate::Model::new`] compiles it into the static tables the steps use.

use serde::{Deserialize, Serialize};

/// How request data reaches the server (`UBLK_F_*` flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CopyMode {
    /// Driver copies to/from the server buffer (`io->buf.addr`).
    Copy,
    /// `UBLK_F_USER_COPY`: pread/pwrite on /dev/ublkcN.
    UserCopy,
    /// `UBLK_F_SUPPORT_ZERO_COPY`: REGISTER/UNREGISTER_IO_BUF.
    ZeroCopy,
    /// `UBLK_F_AUTO_BUF_REG` (implies zero copy): registered at dispatch.
    AutoBufReg,
}

impl CopyMode {
    /// `ublk_need_req_ref()`: modes whose completion is reference counted.
    pub fn needs_ref(self) -> bool {
        !matches!(self, CopyMode::Copy)
    }
    /// `ublk_support_zero_copy()`.
    pub fn zero_copy(self) -> bool {
        matches!(self, CopyMode::ZeroCopy | CopyMode::AutoBufReg)
    }
}

/// `UBLK_F_USER_RECOVERY*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recovery {
    /// No recovery: server exit stops the device.
    None,
    /// USER_RECOVERY: device is QUIESCED, requests requeued and held.
    Requeue,
    /// USER_RECOVERY|REISSUE: like Requeue, outstanding requests reissued.
    Reissue,
    /// USER_RECOVERY|FAIL_IO: I/O fails fast while no server.
    FailIo,
}

impl Recovery {
    /// `ublk_nosrv_should_queue_io()` / "recovery-queue mode".
    pub fn queues_io(self) -> bool {
        matches!(self, Recovery::Requeue | Recovery::Reissue)
    }
}

/// Device configuration of a scenario.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DevConfig {
    pub nr_queues: u8,
    pub depth: u8,
    pub copy: CopyMode,
    /// `UBLK_F_NEED_GET_DATA` (copy mode only).
    pub need_get_data: bool,
    pub recovery: Recovery,
    /// An I/O scheduler is attached: requests come from scheduler pages that an
    /// elevator switch frees (the memory B-1 is about).
    pub elevator: bool,
    /// Entries of each ring's sparse buffer table.
    pub table_size: u8,
    /// `fail_io_timeout` fault injection: `blk_should_fake_timeout()` is true
    /// for the first commit.
    pub fake_timeout: bool,
    /// The first `ublk_get_data()` copies 0 bytes (no pages / signal).
    pub get_data_fails: bool,
    /// AUTO_BUF_REG: the first FETCH carries an invalid `ublk_auto_buf_reg`
    /// descriptor in `sqe->addr` (a reserved field set): -EINVAL, the slot
    /// must stay unarmed (B-13).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bad_auto_fetch: bool,
    /// Every queue's daemon has CAP_SYS_ADMIN when its FETCH makes the queue
    /// ready (`nr_privileged_daemon == nr_queues_ready`): without
    /// `async-part-scan` START_DEV's `add_disk` reads the partition table
    /// (one READ of sector 0, by the kernel actor `part-scan`) and waits for
    /// it under `ub->mutex`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub part_scan: bool,
    /// `UBLK_F_QUIESCE` (needs a user recovery mode; ADD_DEV refuses it
    /// without): QUIESCE_DEV is allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quiesce: bool,
    /// AUTO_BUF_REG without `UBLK_F_SUPPORT_ZERO_COPY` (ADD_DEV accepts it): the
    /// dispatch still registers each request's buffer, but the server cannot
    /// REGISTER_IO_BUF / UNREGISTER_IO_BUF by hand (-EINVAL, 7.2's
    /// `ublk_dev_support_zero_copy` tests).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_no_zc: bool,
    /// AUTO_BUF_REG with `UBLK_AUTO_BUF_REG_FALLBACK` in every FETCH's and COMMIT's
    /// `ublk_auto_buf_reg`: when the dispatch cannot register the request's buffer (the
    /// index is taken, or past the ring's table), 7.2's `ublk_auto_buf_register` sets
    /// `UBLK_IO_F_NEED_REG_BUF` in the I/O descriptor and hands the request to the server
    /// without a buffer, instead of ending it with -EIO.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_fallback: bool,
    /// The size of every bio (a request of that many bytes; at most 32 KiB, a multiple of
    /// 512). A COMMIT of fewer bytes completes part of the request (`blk_update_request`),
    /// and the rest is requeued and dispatched again, smaller.
    #[serde(
        default = "default_io_bytes",
        skip_serializing_if = "is_default_io_bytes"
    )]
    pub io_bytes: u16,
}

fn default_io_bytes() -> u16 {
    4096
}

fn is_default_io_bytes(b: &u16) -> bool {
    *b == 4096
}

impl DevConfig {
    /// The device has `UBLK_F_SUPPORT_ZERO_COPY`: what REGISTER_IO_BUF and
    /// UNREGISTER_IO_BUF test (`copy.zero_copy()` is ZERO_COPY *or* AUTO_BUF_REG,
    /// what the reference counting and the release work test).
    pub fn zero_copy_flag(&self) -> bool {
        self.copy.zero_copy() && !self.auto_no_zc
    }
}

impl Default for DevConfig {
    fn default() -> Self {
        DevConfig {
            nr_queues: 1,
            depth: 1,
            copy: CopyMode::ZeroCopy,
            need_get_data: false,
            recovery: Recovery::None,
            elevator: false,
            table_size: 2,
            fake_timeout: false,
            get_data_fails: false,
            bad_auto_fetch: false,
            part_scan: false,
            quiesce: false,
            auto_no_zc: false,
            auto_fallback: false,
            io_bytes: 4096,
        }
    }
}

/// One operation of a server thread, as the server issues it.  Each io
/// command is a uring_cmd on the thread's own ring.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// UBLK_U_IO_FETCH_REQ; `buf`: a non-zero `addr`; `auto_idx`: auto-buf-reg index.
    Fetch { q: u8, tag: u8, buf: bool },
    /// UBLK_U_IO_COMMIT_AND_FETCH_REQ with `result` (bytes or -errno).
    Commit {
        q: u8,
        tag: u8,
        result: i32,
        buf: bool,
    },
    /// UBLK_U_IO_NEED_GET_DATA with a buffer.
    NeedGetData { q: u8, tag: u8 },
    /// UBLK_U_IO_REGISTER_IO_BUF at table index `idx` of this thread's ring.
    Register { q: u8, tag: u8, idx: u8 },
    /// UBLK_U_IO_UNREGISTER_IO_BUF of index `idx`.
    Unregister { q: u8, tag: u8, idx: u8 },
    /// An io command with a wrong ioctl type (`_IOC_TYPE != 'u'`).
    BadType { q: u8, tag: u8 },
    /// READ_FIXED/WRITE_FIXED using buffer `idx`: takes a node reference
    /// until the I/O completes (completion is the ring's own actor).
    FixedIo { idx: u8 },
    /// pread/pwrite on /dev/ublkcN for (q, tag) at byte `off` of the
    /// request, `len` bytes (default: the request's length), in direction
    /// `dir` (default: the one matching the request — pwrite for a READ,
    /// pread for a WRITE).  The defaults are the plain whole-request copy.
    UserCopy {
        q: u8,
        tag: u8,
        #[serde(default, skip_serializing_if = "is_zero")]
        off: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        len: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<CopyDir>,
    },
    /// Wait for the CQE of this thread's last FETCH / COMMIT / NEED_GET_DATA on (q, tag).
    WaitCqe { q: u8, tag: u8 },
    /// The server process exits (`exit_group`): every server thread exits,
    /// each after the syscall it is in; their rings are torn down.
    Exit,
    /// Only this thread exits; the process, its /dev/ublkcN fd and this
    /// thread's ring live on while other server threads do (io_uring does not
    /// cancel a uring_cmd on /dev/ublkcN at thread exit: measured on 7.2).
    /// Task work for its cmds then runs in fallback mode.
    ThreadExit,
    /// Close this thread's io_uring fd: the ring exits (cancel loop, then
    /// buffer table and file teardown).  Io commands after it fail with
    /// -EBADF.
    CloseRing,
    /// Go to op `to` if the last result this thread observed is ≥ 0 (a
    /// request arrived, a command succeeded), else fall through (typically
    /// to `Exit`: an aborted FETCH ends the serving loop of a real server).
    /// Takes no step of its own.
    Loop { to: u8 },
    /// Go to op `to` unconditionally (an offload thread's endless loop).
    Goto { to: u8 },
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Direction of a user copy on /dev/ublkcN (`ublk_ch_read_iter` /
/// `ublk_ch_write_iter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CopyDir {
    /// pread: request pages to the user buffer (`ITER_DEST`), right for a WRITE.
    Pread,
    /// pwrite: user buffer to request pages (`ITER_SOURCE`), right for a READ.
    Pwrite,
}

impl Op {
    /// The hw queue an io command or user copy names (`None`: an op on no queue).
    pub fn queue(&self) -> Option<u8> {
        match *self {
            Op::Fetch { q, .. }
            | Op::Commit { q, .. }
            | Op::NeedGetData { q, .. }
            | Op::Register { q, .. }
            | Op::Unregister { q, .. }
            | Op::BadType { q, .. }
            | Op::UserCopy { q, .. }
            | Op::WaitCqe { q, .. } => Some(q),
            Op::FixedIo { .. }
            | Op::Exit
            | Op::ThreadExit
            | Op::CloseRing
            | Op::Loop { .. }
            | Op::Goto { .. } => None,
        }
    }

    /// The whole-request user copy in the request's direction.
    pub fn user_copy(q: u8, tag: u8) -> Op {
        Op::UserCopy {
            q,
            tag,
            off: 0,
            len: None,
            dir: None,
        }
    }
}

/// A control command (on /dev/ublk-control, from its own task).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CtrlOp {
    StartDev,
    StopDev,
    /// START_USER_RECOVERY, issued once the old server is gone and the
    /// device is QUIESCED or FAIL_IO (the control program polls the state).
    StartUserRecovery,
    /// START_USER_RECOVERY issued once more without waiting (a retry, or a
    /// second management tool): its -EBUSY / -EINVAL is taken as the answer.
    StartUserRecoveryOnce,
    /// END_USER_RECOVERY: waits until the new server FETCHed every io.
    EndUserRecovery,
    /// DEL_DEV: `ublk_remove` (stop the device, cancel its cmds), then wait
    /// until the device's last reference — the char device's — is gone.
    DelDev,
    /// QUIESCE_DEV (`UBLK_F_QUIESCE`, 6.16+; data[0] = 0: no timeout): a LIVE
    /// device gets `canceling` on every queue and its idle ios' FETCHes are
    /// completed with UBLK_IO_RES_ABORT, so the server can stop for a live
    /// update (a new server then recovers the device).
    QuiesceDev,
    /// UPDATE_SIZE (6.14+; data[0] = the new size in sectors): the device's capacity,
    /// under `ub->mutex`; -ENODEV while it has no disk (7.0+, B-17's fix).
    UpdateSize,
}

/// A block I/O submitted to /dev/ublkbN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Bio {
    Read,
    Write,
    /// Start over from the first bio (an endless workload for simulation).
    Again,
}

/// An actor a scenario declares.  Kernel-internal actors (task work, ring
/// exit, fixed-I/O completion, requeue work, release work) are derived.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActorSpec {
    /// A server thread: a task with its own io_uring ring.  `fixed_file`:
    /// the ring registered /dev/ublkcN as a fixed file, so its context holds
    /// a file reference until it is freed — after its buffer table is torn
    /// down.  Without it, only in-flight commands hold the file, so the file
    /// can be released before the ring's buffers are (B-6, B-8).
    Server {
        name: String,
        fixed_file: bool,
        prog: Vec<Op>,
    },
    /// A thread of the *new* server process of a user recovery: the process
    /// opens /dev/ublkcN (`ublk_ch_open`) after START_USER_RECOVERY succeeded,
    /// then its threads run their programs.
    RecoveryServer {
        name: String,
        fixed_file: bool,
        prog: Vec<Op>,
    },
    /// Another strand of server thread `of` (its index among server threads, as faults name
    /// them: the first process's `Server`s, then the `RecoveryServer`s): the same task, ring
    /// and process, a program of its own.  A real server's event loop handles whichever CQE
    /// comes first; the model's waits name their tag, so a thread that serves several tags
    /// is written as one strand per tag, and the explorer picks which strand the thread runs
    /// next.  The thread is in one syscall at a time: a strand starts an operation only while
    /// every other strand of its thread is between syscalls (waiting for a CQE included).
    Strand { name: String, of: u8, prog: Vec<Op> },
    /// A block-layer submitter on hw queue `q`.
    Submitter { q: u8, bios: Vec<Bio> },
    /// The control task.
    Control { prog: Vec<CtrlOp> },
    /// SIGKILL of the server process at a moment of the explorer's choosing:
    /// every server thread exits (each finishes the syscall it is in first).
    Killer,
    /// `elevator_switch()`: freeze, free the scheduler's requests, unfreeze.
    Elevator,
    /// Another process (a forked helper, a `pidfd_getfd` holder) that holds
    /// a reference to /dev/ublkcN and may or may not ever close it (O-1).
    FdHolder,
    /// Fault: server thread `server` (index among server threads) closes its
    /// ring at a moment of the scheduler's choosing.
    RingClose { server: u8 },
    /// Fault: server thread `server` exits (its ring stays open) at a moment
    /// of the scheduler's choosing.
    ThreadDeath { server: u8 },
}

/// A named scenario: device plus actors.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub doc: String,
    pub dev: DevConfig,
    pub actors: Vec<ActorSpec>,
}
