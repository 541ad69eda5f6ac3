//! Racing steps (`Step::race_us`, `ublksim confirm --stress`): a group of steps issued at
//! one instant from threads pinned to CPUs of their own, so that two system calls are inside
//! the kernel at once — the only way user space can reach a race inside one kernel function
//! (two FETCHes of one slot between the ACTIVE check and the fill, a control command inside
//! the window a kworker opens by dropping a lock).
//!
//! The instant is a CLOCK_MONOTONIC time, which every process of the machine reads alike, so
//! the server child's threads and the executor's own (bios, control commands, SIGKILL) meet
//! without shared memory: each racer sleeps until shortly before its instant, then spins on
//! the clock. The executor observes the group's steps only once all are issued.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How far ahead of now a group is released: time for the parent to hand every racer its
/// step (a pipe to the server child and a wake-up of its thread take milliseconds under TCG).
pub(crate) const LEAD: Duration = Duration::from_millis(40);

/// Spin (rather than sleep) for the last stretch before the instant: a wake-up from sleep
/// lands tens of microseconds late and unevenly, a spin within a microsecond. Short: under
/// QEMU TCG every spinning vCPU is a busy host thread, and the emulator's own threads need
/// the host's cores too.
const SPIN: Duration = Duration::from_micros(500);

/// When and where one racer issues its step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Release {
    /// CLOCK_MONOTONIC, nanoseconds.
    pub(crate) at_ns: u64,
    /// The CPU the racer pins itself to first (`None`: keep its affinity — a submitter of a
    /// device of several queues is already pinned to its queue's CPU).
    pub(crate) cpu: Option<usize>,
}

/// CLOCK_MONOTONIC now, in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Release {
    /// Pin the calling thread (if asked), then return at the instant.
    pub(crate) fn go(&self) {
        if let Some(c) = self.cpu {
            // an unknown CPU leaves the thread where it is: the race is only less likely
            let _ = crate::bio::pin_to(c);
        }
        let spin_from = self.at_ns.saturating_sub(SPIN.as_nanos() as u64);
        if now_ns() < spin_from {
            let ts = libc::timespec {
                tv_sec: (spin_from / 1_000_000_000) as libc::time_t,
                tv_nsec: (spin_from % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: an absolute sleep on CLOCK_MONOTONIC with a valid timespec; an early
            // return (a signal) only lengthens the spin below.
            unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &ts,
                    std::ptr::null_mut(),
                )
            };
        }
        while now_ns() < self.at_ns {
            std::hint::spin_loop();
        }
    }
}

/// The CPUs of this machine (at least 1).
pub(crate) fn cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    n.max(1) as usize
}

/// The releases of a group whose steps have offsets `us` (microseconds; the first step's is
/// 0), starting [`LEAD`] from `now`: racer k on CPU k mod `ncpu` unless `keep[k]`.
pub(crate) fn releases(now: u64, us: &[i32], keep: &[bool], ncpu: usize) -> Vec<Release> {
    let min = us.iter().copied().min().unwrap_or(0).min(0) as i64;
    let base = now + LEAD.as_nanos() as u64;
    us.iter()
        .enumerate()
        .map(|(k, &u)| Release {
            at_ns: base + ((u as i64 - min) * 1000) as u64,
            cpu: (!keep.get(k).copied().unwrap_or(false)).then_some(k % ncpu.max(1)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_instants_after_the_lead_and_cpus_alternate() {
        let r = releases(1_000, &[0, -30, 50], &[false, true, false], 2);
        let lead = LEAD.as_nanos() as u64;
        // the earliest (-30 µs) is released at the lead; the others keep their distances
        assert_eq!(r[1].at_ns, 1_000 + lead);
        assert_eq!(r[0].at_ns, 1_000 + lead + 30_000);
        assert_eq!(r[2].at_ns, 1_000 + lead + 80_000);
        assert_eq!(
            r.iter().map(|x| x.cpu).collect::<Vec<_>>(),
            vec![Some(0), None, Some(0)]
        );
    }

    #[test]
    fn go_returns_at_the_instant_not_before() {
        let at = now_ns() + 3_000_000;
        Release {
            at_ns: at,
            cpu: None,
        }
        .go();
        assert!(now_ns() >= at);
    }
}
