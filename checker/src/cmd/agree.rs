//! `ublksim agree`: explorer, loom and shuttle-dfs on the small scenarios — the same verdicts
//! and the same projected state sets.

use crate::explore::engines::{agree_one, AgreeRow};
use crate::explore::verdict::CheckOpts;
use ublk_model::Scenario;

/// `ublksim agree`.
#[derive(clap::Args, Clone)]
pub struct AgreeArgs {
    /// Preset(s) (default: PRE, POST and K72).
    #[arg(long)]
    pub preset: Vec<String>,
    /// Scenario(s) (default: every one small enough).
    #[arg(long = "scenario", short = 's')]
    pub scenarios: Vec<String>,
    #[arg(long)]
    pub with: Vec<String>,
    #[arg(long)]
    pub without: Vec<String>,
    /// "Small enough": the explorer exhausts it within this many states ...
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_states: u64,
    /// ... and loom within this many executions (0: no limit).
    #[arg(long, default_value_t = 100_000)]
    pub max_loom: usize,
    /// The preemption bound of loom and shuttle-dfs, every actor a thread (0: unbounded).
    #[arg(long, default_value_t = 2)]
    pub preemption_bound: usize,
    /// The bound when actors share threads to fit loom (0: unbounded).
    #[arg(long, default_value_t = 3)]
    pub merged_bound: usize,
    /// shuttle-dfs: stop after this many executions (0: none — exhaust the bound).
    #[arg(long, default_value_t = 0)]
    pub dfs_iterations: usize,
    #[arg(long)]
    pub json: bool,
}

/// The agreement table over presets × scenarios; every row must agree.
pub fn agree_table(a: &AgreeArgs) -> Result<Vec<(String, AgreeRow)>, String> {
    let presets: Vec<ublk_model::Preset> = if a.preset.is_empty() {
        ublk_model::Preset::all().collect()
    } else {
        a.preset
            .iter()
            .map(|p| ublk_model::Preset::from_name(p).ok_or(format!("unknown preset '{p}'")))
            .collect::<Result<_, _>>()?
    };
    let scs: Vec<Scenario> = crate::scenarios::select(&a.scenarios)?;
    let mut rows = Vec::new();
    // a bar on stderr (hidden when it is not a terminal): presets × scenarios done
    let bar = indicatif::ProgressBar::with_draw_target(
        Some((presets.len() * scs.len()) as u64),
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("  agree {pos}/{len} {wide_bar} {elapsed} {msg}")
            .expect("a valid template"),
    );
    for p in presets {
        let f = crate::cmd::input::switch_set(p, &a.with, &a.without).map_err(|e| e.to_string())?;
        let o = CheckOpts {
            out: None,
            liveness: false,
            ..CheckOpts::new(p, f)
        };
        for sc in &scs {
            bar.set_message(format!("{} {}", p.name(), sc.name));
            let b = |n: usize| (n > 0).then_some(n);
            let bound = (b(a.preemption_bound), b(a.merged_bound));
            let dfs = (a.dfs_iterations > 0).then_some(a.dfs_iterations);
            let small = (a.max_states, (a.max_loom > 0).then_some(a.max_loom));
            if let Some(r) = agree_one(sc, &o, small, bound, dfs)? {
                rows.push((p.name().to_string(), r));
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(rows)
}

pub fn run(a: AgreeArgs) -> anyhow::Result<i32> {
    let rows = agree_table(&a).map_err(anyhow::Error::msg)?;
    let show = |b: usize| match b {
        0 => "unbounded".to_string(),
        b => format!("preemption bound {b}"),
    };
    let bound = format!(
        "{} (actors sharing threads: {})",
        show(a.preemption_bound),
        show(a.merged_bound)
    );
    if a.json {
        let v: Vec<_> = rows
            .iter()
            .map(|(p, r)| serde_json::json!({"preset": p, "row": r}))
            .collect();
        crate::cmd::report::print("agree", serde_json::json!({ "rows": v }))?;
    } else {
        println!(
            "ublksim agree — loom and shuttle-dfs: {bound}; projected state sets must be equal"
        );
        println!(
            "{:<5} {:<34} {:>2} {:>2} {:<9} {:>7} {:>5} {:<9} {:>8} {:>5} {:<9} {:>8} {:>5} {:>7} {:>7} {:>7}  agree",
            "preset",
            "scenario",
            "th",
            "b",
            "explorer",
            "states",
            "proj",
            "loom",
            "execs",
            "proj",
            "shuttle",
            "execs",
            "proj",
            "t-expl",
            "t-loom",
            "t-dfs"
        );
        for (p, r) in &rows {
            println!(
                "{:<5} {:<34} {:>2} {:>2} {:<9} {:>7} {:>5} {:<9} {:>8} {:>5} {:<9} {:>8} {:>5} {:>6.2}s {:>6.2}s {:>6.2}s  {}",
                p,
                r.scenario,
                r.threads,
                r.preemption_bound.map_or("∞".into(), |b| b.to_string()),
                r.explorer,
                r.explorer_states,
                r.projected,
                r.loom,
                r.loom_executions,
                r.loom_projected,
                r.shuttle_dfs,
                r.shuttle_executions,
                r.shuttle_projected,
                r.seconds[0],
                r.seconds[1],
                r.seconds[2],
                if r.agree { "yes" } else { "NO" }
            );
        }
        println!("{} configurations compared", rows.len());
    }
    Ok(i32::from(rows.iter().any(|(_, r)| !r.agree)))
}
