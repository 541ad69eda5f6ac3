//! Errors of the real-device layer.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("/dev/ublk-control not found: this kernel has no ublk_drv loaded (run inside the VM, scripts/vm/run.sh)")]
    NoControl,
    #[error("/dev/ublk-control: permission denied (needs root / CAP_SYS_ADMIN)")]
    ControlPermission,
    #[error("{what}: {source}")]
    Sys {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: no completion within {timeout:?}")]
    Timeout { what: String, timeout: Duration },
    #[error("{what}: kernel returned {res} ({})", errno_name(*res))]
    Kernel { what: String, res: i32 },
    #[error("ADD_DEV dropped requested flags {dropped:?} (asked {asked:#x}, got {got:#x}): this kernel does not support them")]
    FlagsDropped {
        asked: u64,
        got: u64,
        dropped: Vec<String>,
    },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn sys(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Sys {
            what: what.into(),
            source,
        }
    }

    pub fn last_os(what: impl Into<String>) -> Error {
        Error::sys(what, std::io::Error::last_os_error())
    }
}

pub use ublk_program::errno_name;
