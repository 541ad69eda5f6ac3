//! Where the timely workers run ([`Cluster`]: threads, processes, addresses) and the limits
//! of a run ([`Limits`]). The numbers come from the command line: each is checked here, so a
//! bad one is a one-line error, never a panic inside timely.

use std::time::Duration;

/// Where the workers run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Worker threads in each process.
    pub workers: usize,
    /// Processes (1: threads of this process only).
    pub processes: usize,
    /// This process, `0..processes`.
    pub process: usize,
    /// `host:port` of every process, in order (default `localhost:PORT+i`).
    pub addresses: Vec<String>,
}

impl Cluster {
    /// `workers` threads in this process alone.
    pub fn threads(workers: usize) -> Self {
        Cluster {
            workers,
            processes: 1,
            process: 0,
            addresses: Vec::new(),
        }
    }

    /// Check the numbers (untrusted: they come from the command line) and fill in the
    /// addresses: the first `processes` lines of `hostfile`, else `localhost:port+i`.
    pub fn new(
        workers: usize,
        processes: usize,
        process: usize,
        hostfile: Option<&std::path::Path>,
        port: u16,
    ) -> Result<Self, String> {
        if !(1..=256).contains(&workers) {
            return Err(format!("-w {workers}: worker threads must be 1 to 256"));
        }
        if !(1..=256).contains(&processes) {
            return Err(format!("-n {processes}: processes must be 1 to 256"));
        }
        if process >= processes {
            return Err(format!(
                "-p {process}: the process index must be below -n {processes}"
            ));
        }
        let mut addresses = Vec::new();
        if processes > 1 {
            match hostfile {
                Some(f) => {
                    let text = std::fs::read_to_string(f)
                        .map_err(|e| format!("--hostfile {}: {e}", f.display()))?;
                    addresses = text
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                        .take(processes)
                        .map(String::from)
                        .collect();
                    if addresses.len() < processes {
                        return Err(format!(
                            "--hostfile {}: {} addresses for -n {processes}",
                            f.display(),
                            addresses.len()
                        ));
                    }
                    if let Some(bad) = addresses.iter().find(|a| !a.contains(':')) {
                        return Err(format!(
                            "--hostfile {}: '{bad}' is not host:port",
                            f.display()
                        ));
                    }
                }
                None => {
                    if usize::from(port) + processes > 65536 || port == 0 {
                        return Err(format!("--port {port}: no room for {processes} ports"));
                    }
                    addresses = (0..processes)
                        .map(|i| format!("localhost:{}", usize::from(port) + i))
                        .collect();
                }
            }
        }
        Ok(Cluster {
            workers,
            processes,
            process,
            addresses,
        })
    }

    /// Every worker of every process.
    pub fn total_workers(&self) -> usize {
        self.workers * self.processes
    }

    pub(super) fn config(&self) -> ::timely::Config {
        let communication = if self.processes > 1 {
            ::timely::CommunicationConfig::Cluster {
                threads: self.workers,
                process: self.process,
                addresses: self.addresses.clone(),
                report: false,
                zerocopy: false,
            }
        } else if self.workers > 1 {
            ::timely::CommunicationConfig::Process(self.workers)
        } else {
            ::timely::CommunicationConfig::Thread
        };
        ::timely::Config {
            communication,
            worker: ::timely::WorkerConfig::default(),
        }
    }
}

/// Limits of a run (as the explorer's).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_states: u64,
    pub max_time: Duration,
    /// Check the state invariants after each step (the explorer's default).
    pub invariants: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_states: 5_000_000,
            max_time: Duration::from_secs(600),
            invariants: true,
        }
    }
}
