//! Real-device mode for ublk-sim: drive the Linux ublk driver (`/dev/ublk-control`,
//! `/dev/ublkcN`, `/dev/ublkbN`) through its uapi, so that the model's predictions can be
//! checked on a real kernel (usually Debian's 7.2 booted under QEMU, see `scripts/vm/`).
//!
//! * [`uapi`] — constants and `#[repr(C)]` structs of the ublk ABI.
//! * [`ctrl`] — the control ring (SQE128 uring_cmd) and a device guard that always stops and
//!   deletes the device it added.
//! * [`io`] — `/dev/ublkcN`, the descriptor mmap, per-thread io rings and the io commands.
//! * `race` — racing steps: one release instant for several threads (`confirm --stress`).
//! * [`report`] — JSON-lines reporting of observed results.
//! * [`batch`] — `run-batch`: a batch of programs, kernel-log marks, what the executor refuses.
//! * `sched` — the device's I/O scheduler (modules loaded per program, START_DEV's check, a switch).
//! * [`scenario`] — the checks run by the `ublk-realdev` binary (`smoke`, `o6`).
//! * `ublk_program` (crate `program/`, re-exported as [`program`]) — sequential programs (the
//!   model's predictions) and how a run is judged; [`exec`] runs them on the real kernel (`ublk-realdev run-batch`).

pub mod batch;
pub mod bio;
pub mod child;
pub mod ctrl;
pub mod error;
pub mod exec;
pub mod io;
mod race;
pub mod report;
pub mod scenario;
mod sched;
pub mod server_proc;
pub mod uapi;

pub use error::{Error, Result};
pub use ublk_program as program;
