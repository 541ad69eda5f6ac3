//! Arguments and entry points of `ublksim diff` and `ublksim series`
//! (kept here so `cli.rs` only names them).

use crate::diff::compare::{self, parse_side, DiffOpts};
use crate::diff::render as diff_render;
use crate::scenarios;
use std::time::Duration;

#[derive(clap::Args)]
pub struct DiffArgs {
    /// The base side: PRESET[+SWITCH|-SWITCH…], e.g. PRE, POST-p02, K72+B-8.
    #[arg(long)]
    pub base: String,
    /// The patched side, same syntax.
    #[arg(long)]
    pub patch: String,
    /// Scenario(s) to compare (default: all built-in ones).
    #[arg(long = "scenario", short = 's')]
    pub scenarios: Vec<String>,
    /// Example paths per side and scenario into states only that side reaches.
    #[arg(long, default_value_t = 1)]
    pub examples: usize,
    /// Show unchanged command-result rows too.
    #[arg(long)]
    pub all_rows: bool,
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_states: u64,
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub max_seconds: u64,
    /// Safety only: skip the search for hangs (L1–L5).
    #[arg(long)]
    pub no_liveness: bool,
    /// Print a JSON report instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// Exit 0 when nothing got worse, 1 when a scenario PASS/KNOWN on the base
/// FAILs on the patch; errors (bad side syntax) are exit 2 via the caller.
pub fn run(a: DiffArgs) -> anyhow::Result<i32> {
    let base = parse_side(&a.base).map_err(anyhow::Error::msg)?;
    let patch = parse_side(&a.patch).map_err(anyhow::Error::msg)?;
    let scs = scenarios::select(&a.scenarios).map_err(anyhow::Error::msg)?;
    let o = DiffOpts {
        scenarios: scs,
        examples: a.examples,
        max_states: a.max_states,
        max_time: Duration::from_secs(a.max_seconds),
        liveness: !a.no_liveness,
    };
    let r = compare::run(&base, &patch, &o).map_err(anyhow::Error::msg)?;
    if a.json {
        crate::cmd::report::print("diff", &r)?;
    } else {
        print!("{}", diff_render::text(&r, a.all_rows));
    }
    Ok(if r.worse { 1 } else { 0 })
}
