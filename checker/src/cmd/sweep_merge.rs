//! `ublksim sweep-merge`: the sweep files of one run's shards (`check --scope … --shard I/N
//! --sweep-json FILE`, run on any machines) merged into one report, as one run over those
//! shards would have written it.

use crate::explore::sweep_file::{merge, read_report};
use crate::scenarios::sweep::{configurations, Level};
use std::path::PathBuf;

/// `ublksim sweep-merge` arguments.
#[derive(clap::Args)]
pub struct SweepMergeArgs {
    /// Sweep files of one run (same preset, switches, scope, budget and checks), each holding
    /// other shards.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the merged sweep file here (a new file or a regular file that is not an input).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Print the merged report as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// Exit code: 1 when a signature is new, else 0.
pub fn run(a: SweepMergeArgs) -> anyhow::Result<i32> {
    let names = |scope: &str| {
        Level::parse(scope)
            .ok()
            .map(|l| configurations(l).into_iter().map(|c| c.name).collect())
    };
    if let Some(out) = &a.out {
        let same = |p: &PathBuf| {
            std::fs::canonicalize(p)
                .ok()
                .is_some_and(|p| Some(p) == std::fs::canonicalize(out).ok())
        };
        if let Some(p) = a.inputs.iter().find(|p| same(p)) {
            anyhow::bail!(
                "--out {} is an input; refusing to overwrite it",
                p.display()
            );
        }
    }
    let parts = (a.inputs.iter())
        .map(|p| read_report(p, names))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let rep = merge(parts).map_err(anyhow::Error::msg)?;
    if let Some(out) = &a.out {
        ublk_traces::write_atomic(out, serde_json::to_string_pretty(&rep)?.as_bytes())?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", rep.summary());
        let missing: Vec<String> = (0..rep.header.of)
            .filter(|s| !rep.header.shards.contains(s))
            .map(|s| s.to_string())
            .collect();
        if missing.is_empty() {
            println!("  every shard of {} is in", rep.header.of);
        } else {
            println!(
                "  shards missing: {} of {} (the report covers the others only)",
                missing.join(","),
                rep.header.of
            );
        }
    }
    Ok(i32::from(rep.new_signatures() > 0))
}
