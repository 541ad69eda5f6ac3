//! Running the generated configurations (`scenarios/sweep.rs`): every configuration of a
//! scope explored exhaustively within a state budget, on every core, and summarised by
//! finding signature — for each distinct signature the smallest configuration that shows it
//! and the shortest counterexample.
//!
//! Deterministic: configurations are numbered in the grammar's order, a shard `I/N` takes
//! those whose number is `I` mod `N`, workers pull numbers from a shared counter, and the
//! results are put back in number order, so the report does not depend on the number of
//! threads or on timing.

use crate::explore::sweep_file::SweepHeader;
use crate::explore::verdict::{run_scenario, CheckOpts, Found, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use ublk_model::Scenario;

/// One configuration's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigResult {
    pub index: usize,
    pub name: String,
    pub verdict: Verdict,
    pub states: u64,
    pub findings: Vec<Found>,
    /// The length of each finding's counterexample (the traces themselves are not kept in
    /// sweep files; a resumed or merged sweep still knows which is shortest).
    pub steps: Vec<usize>,
}

/// A distinct signature over the sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
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

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepReport {
    /// Which run (and which of its shards) these results are.
    pub header: SweepHeader,
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

    /// The summary as text: counts, every signature with its smallest configuration and
    /// shortest counterexample, the configurations cut by the budget.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let h = &self.header;
        let shards: Vec<String> = h.shards.iter().map(|s| s.to_string()).collect();
        let mut out = format!(
            "\ngenerated configurations (scope {}, shard {}/{}, budget {} states): {} explored, \
             {} complete, {} cut by the budget, {} n/a; {} states\n",
            h.scope,
            shards.join(","),
            h.of,
            h.budget,
            self.explored,
            self.complete,
            self.cut,
            self.not_applicable,
            self.states
        );
        let new = self.new_signatures();
        let n = self.signatures.len();
        let _ = writeln!(
            out,
            "  {n} distinct finding signature(s): {new} new, {} known",
            n - new
        );
        for s in &self.signatures {
            let tag = match &s.known {
                Some(k) => format!("KNOWN {}", k.split_whitespace().next().unwrap_or("")),
                None => "NEW".into(),
            };
            let _ = writeln!(
                out,
                "  {tag:<14} {} — in {} configuration(s); smallest {}; shortest {} ({} steps)",
                s.signature, s.configurations, s.smallest, s.shortest, s.shortest_steps
            );
        }
        for c in (self.configs.iter()).filter(|c| c.verdict == Verdict::Incomplete) {
            let _ = writeln!(out, "  cut by the budget: {} ({} states)", c.name, c.states);
        }
        out
    }
}

/// Explore `configs` (their numbers in the grammar given by `index`) with `opts`, on
/// `threads` workers, after `done` (results of an interrupted run of the same `header`, not
/// explored again); `finished` sees each new result as it comes (the journal), and its
/// error stops the sweep.
pub fn run(
    header: SweepHeader,
    configs: &[(usize, Scenario)],
    done: Vec<ConfigResult>,
    opts: &CheckOpts,
    threads: usize,
    mut finished: impl FnMut(&ConfigResult, usize) -> Result<(), String> + Send,
) -> Result<SweepReport, String> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let out: Mutex<Vec<Option<Result<ConfigResult, String>>>> =
        Mutex::new(vec![None; configs.len()]);
    let count = AtomicUsize::new(done.len());
    let finished = Mutex::new((&mut finished, None::<String>));
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((index, sc)) = configs.get(i).filter(|_| !stop.load(Ordering::Relaxed))
                else {
                    break;
                };
                let r = run_scenario(sc, opts).map(|r| ConfigResult {
                    index: *index,
                    name: sc.name.clone(),
                    verdict: r.verdict,
                    states: r.states,
                    steps: (r.findings.iter())
                        .map(|f| f.trace.as_ref().map_or(0, |t| t.steps.len()))
                        .collect(),
                    findings: r.findings,
                });
                if let Ok(c) = &r {
                    let n = count.fetch_add(1, Ordering::Relaxed) + 1;
                    let mut g = finished.lock().expect("no worker panicked");
                    if let Err(e) = (g.0)(c, n) {
                        g.1.get_or_insert(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                out.lock().expect("no worker panicked")[i] = Some(r);
            });
        }
    });
    if let Some(e) = finished.into_inner().expect("no worker panicked").1 {
        return Err(e);
    }
    let mut results: Vec<ConfigResult> = out
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|r| r.expect("every configuration ran"))
        .collect::<Result<_, _>>()?;
    results.extend(done);
    results.sort_by_key(|c| c.index);
    Ok(summarise(header, results))
}

/// The report of `configs` (in number order): every signature, its smallest configuration
/// and its shortest counterexample.
pub(crate) fn summarise(header: SweepHeader, configs: Vec<ConfigResult>) -> SweepReport {
    let mut sigs: BTreeMap<_, SigSummary> = BTreeMap::new();
    let mut order = Vec::new();
    for c in &configs {
        for (f, &steps) in c.findings.iter().zip(&c.steps) {
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
        header,
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
