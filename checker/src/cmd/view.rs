//! `ublksim view`: a saved trace as one self-contained HTML page.

use crate::teach::explain::walk_file;
use crate::teach::view::page;
use std::path::PathBuf;

/// `ublksim view` arguments.
#[derive(clap::Args)]
pub struct ViewArgs {
    /// A trace saved by `ublksim check` (out/traces/*.jsonl).
    pub trace: PathBuf,
    /// The HTML file to write.
    #[arg(short, long)]
    pub out: PathBuf,
}

pub fn run(a: ViewArgs) -> anyhow::Result<i32> {
    let w = walk_file(&a.trace).map_err(anyhow::Error::msg)?;
    ublk_traces::write_atomic(&a.out, page(&w).as_bytes())?;
    println!(
        "wrote {} ({} steps; open it in a browser, step with ←/→)",
        a.out.display(),
        w.steps.len()
    );
    Ok(0)
}
