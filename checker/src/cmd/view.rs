//! `ublksim view`: a saved trace as one self-contained HTML page.

use crate::teach::explain::walk_file;
use crate::teach::view::page;
use std::path::PathBuf;

/// `ublksim view` arguments.
#[derive(clap::Args)]
pub struct ViewArgs {
    /// A trace saved by `ublksim check` (out/traces/*.jsonl).
    pub trace: PathBuf,
    /// The HTML file to write (`-`: standard output); never the trace itself.
    #[arg(short, long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub input: crate::cmd::input::TraceInput,
}

pub fn run(a: ViewArgs) -> anyhow::Result<i32> {
    if ublk_traces::same_file(&a.trace, &a.out) {
        anyhow::bail!(
            "{} is the input trace; refusing to overwrite it",
            a.out.display()
        );
    }
    let w = walk_file(
        &a.trace,
        &a.input
            .replay_opts(crate::cmd::input::TraceInput::VIEW_MAX_STEPS),
    )
    .map_err(anyhow::Error::msg)?;
    ublk_traces::write_atomic(&a.out, page(&w).as_bytes())?;
    if ublk_traces::is_stdout(&a.out) {
        return Ok(0);
    }
    println!(
        "wrote {} ({} steps; open it in a browser, step with ←/→)",
        a.out.display(),
        w.steps.len()
    );
    Ok(0)
}
