//! Running the generated configurations (`scenarios/sweep.rs`): every configuration of a
//! scope explored exhaustively within a state budget, on every core, and summarised by
//! finding signature — for each distinct signature the smallest configuration that shows it
//! and the shortest counterexample.
//!
//! Deterministic: configurations are numbered in the grammar's order, a shard `I/N` takes
//! those whose number is `I` mod `N`, workers pull numbers from a shared counter, and the
//! results are put back in number order, so the report does not depend on the number of
//! threads or on timing.

use crate::explore::verdict::{run_scenario, CheckOpts, Found, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use ublk_model::Scenario;

/// One configuration's result.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigResult {
    pub index: usize,
    pub name: String,
    pub verdict: Verdict,
    pub states: u64,
    pub findings: Vec<Found>,
}

/// A distinct signature over the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SigSummary {
    pub signature: crate::explore::signature::Signature,
    pub known: Option<String>,
    /// Configurations showing it.
    pub configurations: usize,
    /// The smallest (fewest states) configuration showing it.
    pub smallest: String,
    /// The configuration with the shortest counterexample, and its length.
    pub shortest: String,
    pub shortest_steps: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct SweepReport {
    pub explored: usize,
    pub complete: usize,
    pub cut: usize,
    pub not_applicable: usize,
    pub states: u64,
    pub signatures: Vec<SigSummary>,
    pub configs: Vec<ConfigResult>,
}

impl SweepReport {
    pub fn new_signatures(&self) -> usize {
        self.signatures.iter().filter(|s| s.known.is_none()).count()
    }
}

/// Explore `configs` (their numbers in the grammar given by `index`) with `opts`, on
/// `threads` workers.
pub fn run(
    configs: &[(usize, Scenario)],
    opts: &CheckOpts,
    threads: usize,
    mut progress: impl FnMut(usize, usize) + Send,
) -> Result<SweepReport, String> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Result<ConfigResult, String>>>> =
        Mutex::new(vec![None; configs.len()]);
    let done = AtomicUsize::new(0);
    let progress = Mutex::new(&mut progress);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((index, sc)) = configs.get(i) else {
                    break;
                };
                let r = run_scenario(sc, opts).map(|r| ConfigResult {
                    index: *index,
                    name: sc.name.clone(),
                    verdict: r.verdict,
                    states: r.states,
                    findings: r.findings,
                });
                out.lock().expect("no worker panicked")[i] = Some(r);
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                (progress.lock().expect("no worker panicked"))(n, configs.len());
            });
        }
    });
    let results: Vec<ConfigResult> = out
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|r| r.expect("every configuration ran"))
        .collect::<Result<_, _>>()?;
    Ok(summarise(results))
}

fn summarise(configs: Vec<ConfigResult>) -> SweepReport {
    let mut sigs: BTreeMap<_, SigSummary> = BTreeMap::new();
    let mut order = Vec::new();
    for c in &configs {
        for f in &c.findings {
            let steps = f.trace.as_ref().map_or(0, |t| t.steps.len());
            let e = sigs.entry(f.signature.clone()).or_insert_with(|| {
                order.push(f.signature.clone());
                SigSummary {
                    signature: f.signature.clone(),
                    known: f.known.clone(),
                    configurations: 0,
                    smallest: c.name.clone(),
                    shortest: c.name.clone(),
                    shortest_steps: steps,
                }
            });
            e.configurations += 1;
            let smallest_states = configs
                .iter()
                .find(|x| x.name == e.smallest)
                .map_or(u64::MAX, |x| x.states);
            if c.states < smallest_states {
                e.smallest = c.name.clone();
            }
            if steps < e.shortest_steps {
                e.shortest = c.name.clone();
                e.shortest_steps = steps;
            }
        }
    }
    let count = |v: Verdict| configs.iter().filter(|c| c.verdict == v).count();
    SweepReport {
        explored: configs.len() - count(Verdict::NotApplicable),
        complete: configs.len() - count(Verdict::NotApplicable) - count(Verdict::Incomplete),
        cut: count(Verdict::Incomplete),
        not_applicable: count(Verdict::NotApplicable),
        states: configs.iter().map(|c| c.states).sum(),
        signatures: order
            .into_iter()
            .map(|k| sigs.remove(&k).expect("kept"))
            .collect(),
        configs,
    }
}
