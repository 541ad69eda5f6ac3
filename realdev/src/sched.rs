//! The device's I/O scheduler: a program with `elevator` runs with mq-deadline attached from
//! START_DEV and may switch to kyber; every other program runs with none.
//!
//! blk-mq attaches mq-deadline to every single-queue disk at `add_disk` when the scheduler is
//! available (`elevator_set_default`, 7.2 and 6.12: ublk's tag set has no
//! `BLK_MQ_F_NO_SCHED_BY_DEFAULT`). Debian builds mq-deadline and kyber as modules, so the
//! guest (which loads only ublk_drv) runs every device with none. [`Modules`] loads both for
//! one program and unloads them after it, so the next program is back to none; START_DEV's
//! result is checked against the program's choice ([`ensure`]).

use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::AsRawFd;

/// The modules, in load order; the guest's initramfs carries them in /lib (scripts/vm/run.sh).
const MODULES: [(&str, &str); 2] = [
    ("mq-deadline", "mq_deadline"),
    ("kyber-iosched", "kyber_iosched"),
];

/// The scheduler a switch attaches.
pub(crate) const SWITCH_TO: &str = "kyber";

/// mq-deadline and kyber loaded for the lifetime of the value (unloaded on drop).
pub(crate) struct Modules {
    loaded: Vec<&'static str>,
}

impl Modules {
    /// Load both modules: `/lib/<file>.ko` (the guest) or `modprobe` (a host). A module
    /// already there (built in, or loaded by the host) is left as it is.
    pub(crate) fn load() -> Result<Modules> {
        let mut m = Modules { loaded: vec![] };
        for (file, name) in MODULES {
            if std::path::Path::new(&format!("/sys/module/{name}")).exists() {
                continue;
            }
            let path = format!("/lib/{file}.ko");
            let r = match std::fs::File::open(&path) {
                Ok(f) => {
                    let empty = CString::default();
                    // SAFETY: a valid fd and a NUL-terminated empty parameter string
                    let r = unsafe {
                        libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), empty.as_ptr(), 0)
                    };
                    if r == 0 {
                        Ok(())
                    } else {
                        Err(Error::last_os(format!("finit_module({path})")))
                    }
                }
                Err(_) => std::process::Command::new("modprobe")
                    .arg(file)
                    .status()
                    .map_err(|e| Error::sys(format!("modprobe {file}"), e))
                    .and_then(|s| {
                        s.success()
                            .then_some(())
                            .ok_or_else(|| Error::Other(format!("modprobe {file}: {s}")))
                    }),
            };
            r?;
            m.loaded.push(name);
        }
        Ok(m)
    }
}

impl Drop for Modules {
    fn drop(&mut self) {
        for name in self.loaded.iter().rev() {
            let Ok(c) = CString::new(*name) else { continue };
            // SAFETY: a NUL-terminated module name; O_NONBLOCK: fail rather than wait when a
            // queue still uses it (the next program's START_DEV check then says so)
            let r = unsafe { libc::syscall(libc::SYS_delete_module, c.as_ptr(), libc::O_NONBLOCK) };
            if r != 0 {
                eprintln!(
                    "ublk-realdev: delete_module({name}): {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}

fn path(dev_id: u32) -> String {
    format!("/sys/block/ublkb{dev_id}/queue/scheduler")
}

/// The active scheduler of `/dev/ublkb{dev_id}` (the bracketed name: `[none] mq-deadline`).
pub(crate) fn active(dev_id: u32) -> Result<String> {
    let p = path(dev_id);
    let s = std::fs::read_to_string(&p).map_err(|e| Error::sys(p.clone(), e))?;
    bracketed(&s).ok_or_else(|| Error::Other(format!("{p}: no active scheduler in {s:?}")))
}

/// The bracketed word of a `queue/scheduler` line.
fn bracketed(line: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
        .map(str::to_string)
}

/// Write `name` to the scheduler file: 0, or -errno (the write blocks while the switch
/// freezes the queue and waits for its requests).
pub(crate) fn switch(dev_id: u32, name: &str) -> i32 {
    match std::fs::write(path(dev_id), name) {
        Ok(()) => 0,
        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// After START_DEV: the device runs with the scheduler the program wants (`elevator`:
/// mq-deadline, else none). A host that attached another one (mq-deadline loaded) is switched
/// before any request exists; a device that cannot get it is an error of the run.
pub(crate) fn ensure(dev_id: u32, elevator: bool) -> Result<()> {
    let want = if elevator { "mq-deadline" } else { "none" };
    let now = active(dev_id)?;
    if now == want {
        return Ok(());
    }
    // seen in the run's output: the kernel did not give the device the expected scheduler
    eprintln!("ublk-realdev: START_DEV left scheduler {now}, switching to {want}");
    match switch(dev_id, want) {
        0 => Ok(()),
        r => Err(Error::Other(format!(
            "the device runs {now}, the program wants {want}: the switch gave {r}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Act, Program, ThreadKind, ThreadSpec};

    #[test]
    fn the_active_scheduler_is_the_bracketed_one() {
        assert_eq!(
            bracketed("[none] mq-deadline kyber\n").as_deref(),
            Some("none")
        );
        assert_eq!(
            bracketed("none [mq-deadline] kyber").as_deref(),
            Some("mq-deadline")
        );
        assert_eq!(bracketed("none mq-deadline"), None);
    }

    fn one_queue() -> Program {
        let text = include_str!("../programs/two-queues-served.jsonl");
        let mut p: Program = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        p.dev.queues = 1;
        p.threads.iter_mut().for_each(|t| t.queue = 0);
        p
    }

    #[test]
    fn an_elevator_needs_one_queue_and_a_switch_needs_an_elevator() {
        let mut p = one_queue();
        p.dev.elevator = true;
        assert_eq!(crate::exec::unsupported(&p), None);
        p.dev.queues = 2;
        assert!(crate::exec::unsupported(&p).unwrap().contains("two queues"));
        let mut p = one_queue();
        p.threads.push(ThreadSpec {
            name: "elevator".into(),
            kind: ThreadKind::Elevator,
            queue: 0,
        });
        assert!(crate::exec::unsupported(&p)
            .unwrap()
            .contains("without an I/O scheduler"));
        p.dev.elevator = true;
        assert_eq!(crate::exec::unsupported(&p), None);
        assert_eq!(Act::SwitchElevator.name(), "elevator switch");
    }
}
