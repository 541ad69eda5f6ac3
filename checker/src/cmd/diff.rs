//! Arguments and entry points of `ublksim diff` and `ublksim series`
//! (kept here so `cli.rs` only names them).

use crate::diff::compare::{self, parse_side, DiffOpts};
use crate::diff::picture;
use crate::diff::render as diff_render;
use crate::scenarios;
use std::path::PathBuf;
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
    /// Also write where the two sides part as a state graph (DOT) to this file; needs
    /// exactly one scenario (-s).
    #[arg(long, value_name = "OUT")]
    pub dot: Option<PathBuf>,
    /// The same picture as SVG (needs graphviz's `dot`); exactly one scenario (-s).
    #[arg(long, value_name = "OUT")]
    pub svg: Option<PathBuf>,
    /// States only one side reaches drawn per side (with their shortest paths).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub draw: u64,
}

/// Exit 0 when nothing got worse, 1 when a scenario PASS/KNOWN on the base
/// FAILs on the patch; errors (bad side syntax) are exit 2 via the caller.
pub fn run(a: DiffArgs) -> anyhow::Result<i32> {
    let base = parse_side(&a.base).map_err(anyhow::Error::msg)?;
    let patch = parse_side(&a.patch).map_err(anyhow::Error::msg)?;
    let scs = scenarios::select(&a.scenarios).map_err(anyhow::Error::msg)?;
    if (a.dot.is_some() || a.svg.is_some()) && scs.len() != 1 {
        anyhow::bail!(
            "--dot/--svg draw one scenario's state graph: name exactly one with -s (got {})",
            scs.len()
        );
    }
    let o = DiffOpts {
        scenarios: scs,
        examples: a.examples,
        max_states: a.max_states,
        max_time: Duration::from_secs(a.max_seconds),
        liveness: !a.no_liveness,
    };
    let r = compare::run(&base, &patch, &o).map_err(anyhow::Error::msg)?;
    if a.dot.is_some() || a.svg.is_some() {
        let pic = picture::state_graph(&o.scenarios[0], &base, &patch, &o, a.draw as usize)
            .map_err(anyhow::Error::msg)?;
        let svg = match &a.svg {
            Some(_) => Some(crate::teach::graph::svg(&pic.dot).map_err(anyhow::Error::msg)?),
            None => None,
        };
        for (out, bytes) in [(&a.dot, Some(pic.dot.as_bytes())), (&a.svg, svg.as_deref())] {
            if let (Some(out), Some(bytes)) = (out, bytes) {
                ublk_traces::write_atomic(out, bytes)?;
                eprintln!(
                    "wrote {} ({} states both sides reach, {} only {}, {} only {}; {} steps, {} violations)",
                    out.display(),
                    pic.nodes.0,
                    pic.nodes.1,
                    base.spec,
                    pic.nodes.2,
                    patch.spec,
                    pic.edges,
                    pic.violations
                );
            }
        }
    }
    if a.json {
        crate::cmd::report::print("diff", &r)?;
    } else {
        print!("{}", diff_render::text(&r, a.all_rows));
    }
    Ok(if r.worse { 1 } else { 0 })
}
