//! The fault vocabulary: what can go wrong in a simulated run, and how
//! often relative to normal work (a fault's weight against
//! [`crate::workload::BASE_WEIGHT`] = 256 per ordinary actor).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Fault {
    /// SIGKILL of the server process at any moment (ring exits, release work).
    Kill,
    /// A daemon thread closes its ring while serving (cancel of its FETCH).
    RingExit,
    /// An offload thread exits while it may hold registrations.
    OffloadDeath,
    /// An I/O scheduler is attached and switched: the scheduler's request
    /// memory is freed after a freeze.
    Elevator,
    /// `fail_io_timeout`: one completion is dropped to the timeout handler.
    FakeTimeout,
    /// STOP_DEV while I/O is in flight.
    Stop,
    /// USER_RECOVERY_REISSUE: the server is killed and a new server process
    /// takes over (START/END_USER_RECOVERY); outstanding I/O is reissued.
    Recovery,
    /// USER_RECOVERY without reissue: requests arriving while the device is
    /// canceling are requeued and held (until recovery or STOP).
    Requeue,
    /// A one-entry buffer table shared by every registration of an offload
    /// thread: REGISTER finds the slot occupied (-EBUSY).
    TableFull,
}

pub const ALL_FAULTS: [Fault; 9] = [
    Fault::Kill,
    Fault::RingExit,
    Fault::OffloadDeath,
    Fault::Elevator,
    Fault::FakeTimeout,
    Fault::Stop,
    Fault::Recovery,
    Fault::Requeue,
    Fault::TableFull,
];

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::RingExit => "ring-exit",
            Fault::OffloadDeath => "offload-death",
            Fault::Elevator => "elevator",
            Fault::FakeTimeout => "fake-timeout",
            Fault::Stop => "stop",
            Fault::Recovery => "recovery",
            Fault::Requeue => "requeue",
            Fault::TableFull => "table-full",
        }
    }

    /// Default weight (an event fault) or 0 (a configuration fault, which
    /// shapes the device instead of firing at a moment).
    pub fn default_weight(self) -> u32 {
        match self {
            Fault::Kill | Fault::RingExit | Fault::Stop | Fault::Elevator => 1,
            Fault::OffloadDeath => 2,
            Fault::Recovery => 1,
            Fault::FakeTimeout | Fault::Requeue | Fault::TableFull => 0,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Fault::Kill => "SIGKILL of the server process at a random moment",
            Fault::RingExit => {
                "a daemon thread closes its io_uring while serving (after START_DEV)"
            }
            Fault::OffloadDeath => "an offload thread exits (its ring stays open)",
            Fault::Elevator => "elevator switch: freeze, free the scheduler's requests",
            Fault::FakeTimeout => "fail_io_timeout drops one completion (config)",
            Fault::Stop => "STOP_DEV while I/O is in flight",
            Fault::Recovery => "server killed, a new server recovers the device (REISSUE)",
            Fault::Requeue => "USER_RECOVERY: requests requeued while canceling (config)",
            Fault::TableFull => "offload registrations share one table entry: -EBUSY (config)",
        }
    }

    pub fn from_name(s: &str) -> Option<Fault> {
        ALL_FAULTS.into_iter().find(|f| f.name() == s)
    }
}

/// Enabled faults with their weights.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultSet(pub Vec<(Fault, u32)>);

impl FaultSet {
    pub fn none() -> Self {
        FaultSet(vec![])
    }

    pub fn all() -> Self {
        FaultSet(
            ALL_FAULTS
                .iter()
                .map(|&f| (f, f.default_weight()))
                .collect(),
        )
    }

    /// Parse `all`, `none` or a comma-separated list (`kill,stop=4`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "all" => return Ok(Self::all()),
            "none" | "" => return Ok(Self::none()),
            _ => {}
        }
        let mut v = Vec::new();
        for item in s.split(',') {
            let (name, w) = match item.split_once('=') {
                Some((n, w)) => (
                    n,
                    Some(
                        w.trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|w| (1..=1000).contains(w))
                            .ok_or_else(|| {
                                format!(
                                    "bad weight in '{item}': 1..=1000 (to leave a fault out, do not list it)"
                                )
                            })?,
                    ),
                ),
                None => (item, None),
            };
            let f = Fault::from_name(name.trim()).ok_or_else(|| {
                let known: Vec<_> = ALL_FAULTS.iter().map(|f| f.name()).collect();
                format!(
                    "unknown fault '{name}' (known: {}, all, none)",
                    known.join(", ")
                )
            })?;
            if v.iter().any(|(g, _)| *g == f) {
                return Err(format!("fault '{}' listed twice", f.name()));
            }
            v.push((f, w.unwrap_or_else(|| f.default_weight())));
        }
        v.sort();
        Ok(FaultSet(v))
    }

    pub fn has(&self, f: Fault) -> bool {
        self.0.iter().any(|(g, _)| *g == f)
    }

    pub fn weight(&self, f: Fault) -> u32 {
        self.0
            .iter()
            .find(|(g, _)| *g == f)
            .map_or(0, |(_, w)| (*w).max(1))
    }

    /// Swarm testing: a random subset of these faults with random weights
    /// (each seed explores a different mix, so rare combinations appear).
    pub fn swarm(&self, rng: &mut ChaCha8Rng) -> Self {
        let mut v = Vec::new();
        for &(f, w) in &self.0 {
            if rng.random_bool(0.5) {
                v.push((f, if w == 0 { 0 } else { rng.random_range(1..=4) }));
            }
        }
        FaultSet(v)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|(f, _)| f.name()).collect()
    }
}
