//! `ublksim explain`: a saved trace as prose.

use crate::teach::explain::{render, walk_file};

/// `ublksim explain` arguments.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A trace saved by `ublksim check` (out/traces/*.jsonl).
    pub trace: std::path::PathBuf,
    #[command(flatten)]
    pub input: crate::cmd::input::TraceInput,
}

pub fn run(a: ExplainArgs) -> anyhow::Result<i32> {
    let w = walk_file(&a.trace, &a.input.replay_opts()).map_err(anyhow::Error::msg)?;
    print!("{}", render(&w));
    Ok(0)
}
