//! `ublksim bench`: distinct states/s of the explorer on one scenario (median of runs).

use crate::scenarios;
use ublk_model::Model;

#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long, default_value = "K72")]
    pub preset: String,
    /// Scenario to explore (default: the largest built-in one).
    #[arg(long, default_value = "per-io-daemons-stress")]
    pub scenario: String,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub runs: u64,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
    /// Keep whole states in the visited set instead of fingerprints.
    #[arg(long, conflicts_with = "workers")]
    pub exact: bool,
    /// Explore on the timely dataflow explorer with this many worker threads (states owned
    /// by fingerprint; the same totals as the explorer's); without it, the single-threaded
    /// explorer.
    #[arg(long, short = 'w', value_parser = clap::value_parser!(u64).range(1..=256))]
    pub workers: Option<u64>,
    /// Symmetry reduction: states that differ only by a swap of interchangeable submitters
    /// are stored once (`check --symmetry`).
    #[arg(long, conflicts_with = "workers")]
    pub symmetry: bool,
    /// Partial-order reduction: from a state with a local step, only that step
    /// (`check --partial-order`).
    #[arg(long, conflicts_with = "workers")]
    pub partial_order: bool,
}

/// Peak resident set size of this process, from /proc (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    crate::explore::bfs::peak_rss_bytes().map(|b| b / 1024)
}

/// The fields both engines' reports share: the scenario, the totals, the run times sorted
/// (median, min, max) and the rates at the median, peak RSS and bytes per state.
struct Totals<'a> {
    preset: &'a str,
    scenario: &'a str,
    runs: u64,
    states: u64,
    transitions: u64,
    max_depth: u64,
}

/// `secs` sorted; the median and the shared JSON fields.
fn shared_fields(t: &Totals, secs: &mut [f64]) -> (f64, Option<u64>, serde_json::Value) {
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    let rss = peak_rss_kib();
    let v = serde_json::json!({
        "preset": t.preset,
        "scenario": t.scenario,
        "runs": t.runs,
        "states": t.states,
        "transitions": t.transitions,
        "max_depth": t.max_depth,
        "median_seconds": median,
        "min_seconds": secs[0],
        "max_seconds": secs[secs.len() - 1],
        "median_states_per_sec": t.states as f64 / median,
        "median_transitions_per_sec": t.transitions as f64 / median,
        "peak_rss_kib": rss,
        // the whole process's peak (visited set, parent links, frontier, model) per state
        "bytes_per_state": rss.map(|k| (k * 1024) as f64 / t.states.max(1) as f64),
    });
    (median, rss, v)
}

/// `base` with `extra`'s fields added.
fn merged(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(e)) = (base.as_object_mut(), extra) {
        b.extend(e);
    }
    base
}

pub fn run(a: BenchArgs) -> anyhow::Result<i32> {
    use crate::explore::bfs::Explorer;
    let preset = crate::cmd::input::preset(&a.preset)?;
    let sc = scenarios::by_name(&a.scenario)
        .ok_or_else(|| anyhow::anyhow!("unknown scenario '{}'", a.scenario))?;
    let m = Model::new(&sc, preset.features()).map_err(anyhow::Error::msg)?;
    if a.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    if let Some(w) = a.workers {
        return run_timely(&a, &m, preset.name(), &sc.name, w as usize);
    }
    let mut secs = Vec::new();
    let mut last = None;
    for _ in 0..a.runs {
        let r = Explorer::new(&m)
            .exact(a.exact)
            .symmetry(a.symmetry)
            .partial_order(a.partial_order)
            .run();
        secs.push(r.elapsed.as_secs_f64());
        last = Some(r);
    }
    let r = last.unwrap();
    let sym = crate::explore::symmetry::Symmetry::of(&m);
    let mut reductions: Vec<String> = Vec::new();
    if a.symmetry && !sym.is_trivial() {
        reductions.push(sym.describe());
    }
    if a.partial_order {
        reductions.push("partial-order (local steps)".into());
    }
    let totals = Totals {
        preset: preset.name(),
        scenario: &sc.name,
        runs: a.runs,
        states: r.states,
        transitions: r.transitions,
        max_depth: r.max_depth as u64,
    };
    let (median, rss, shared) = shared_fields(&totals, &mut secs);
    let report = merged(
        shared,
        serde_json::json!({
            "benchmark": "explorer-bfs distinct states/s",
            // what the explorer keeps for good per state: visited set + parent link
            "stored_bytes_per_state": r.memory.stored_per_state(r.states),
            "visited_set_bytes": r.memory.visited,
            "parent_link_bytes": r.memory.parents,
            "frontier_peak_bytes": r.memory.frontier_peak,
            "visited_set": if a.exact { "exact states" } else { "xxh3-128 fingerprints" },
            "reductions": reductions,
            "threads": 1,
        }),
    );
    if a.json {
        crate::cmd::report::print("bench", report)?;
    } else {
        println!(
            "{} on {}: {} states, {} transitions; median {:.3}s over {} runs = {:.0} states/s, {:.0} transitions/s; peak RSS {} KiB ({} B/state; stored {:.1} B/state; {}, {}, 1 thread)",
            sc.name,
            preset.name(),
            r.states,
            r.transitions,
            median,
            a.runs,
            r.states as f64 / median,
            r.transitions as f64 / median,
            rss.map_or("?".into(), |k| k.to_string()),
            rss.map_or("?".into(), |k| (k * 1024 / r.states.max(1)).to_string()),
            r.memory.stored_per_state(r.states),
            if a.exact { "exact states" } else { "fingerprints" },
            if reductions.is_empty() {
                "no reductions".to_string()
            } else {
                reductions.join(", ")
            }
        );
    }
    Ok(0)
}

/// `bench --workers N`: the timely explorer with N threads in this process.
fn run_timely(
    a: &BenchArgs,
    m: &Model,
    preset: &str,
    scenario: &str,
    workers: usize,
) -> anyhow::Result<i32> {
    use crate::explore::timely::{explore, Cluster, Limits};
    let cluster = Cluster::threads(workers);
    let mut secs = Vec::new();
    let mut last = None;
    for _ in 0..a.runs {
        let r = explore(m, &cluster, Limits::default())
            .map_err(anyhow::Error::msg)?
            .ok_or_else(|| anyhow::anyhow!("process 0 reports"))?;
        secs.push(r.elapsed.as_secs_f64());
        last = Some(r);
    }
    let r = last.expect("at least one run");
    let totals = Totals {
        preset,
        scenario,
        runs: a.runs,
        states: r.states,
        transitions: r.transitions,
        max_depth: r.max_depth as u64,
    };
    let (median, rss, shared) = shared_fields(&totals, &mut secs);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(String::from));
    let report = merged(
        shared,
        serde_json::json!({
            "benchmark": "timely-bfs distinct states/s",
            "engine": "timely",
            "stop": format!("{:?}", r.stop),
            "states_per_worker": r.per_worker,
            "visited_set": "xxh3-128 fingerprints, each with its parent's and the move",
            "reductions": Vec::<String>::new(),
            "threads": workers,
            "load_average_1min": load,
        }),
    );
    if a.json {
        crate::cmd::report::print("bench", report)?;
    } else {
        println!(
            "{scenario} on {preset} (timely, {workers} worker thread(s)): {} states, {} transitions, depth {}; median {:.3}s over {} runs = {:.0} states/s; peak RSS {} KiB; load {}",
            r.states,
            r.transitions,
            r.max_depth,
            median,
            a.runs,
            r.states as f64 / median,
            rss.map_or("?".into(), |k| k.to_string()),
            load.as_deref().unwrap_or("?"),
        );
    }
    Ok(0)
}
