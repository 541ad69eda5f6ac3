//! `ublksim series`: the off-daemon series patch by patch (docs/series.md).

use crate::diff::series;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SeriesArgs {
    /// Write the Markdown page here (atomically) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: SeriesArgs) -> anyhow::Result<i32> {
    let md = series::markdown().map_err(anyhow::Error::msg)?;
    match a.out {
        Some(p) => ublk_traces::write_atomic(&p, md.as_bytes())?,
        None => print!("{md}"),
    }
    Ok(0)
}
