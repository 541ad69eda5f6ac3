//! `ublksim chart`: a saved trace as a message-sequence chart, SVG or plain text.

use crate::cmd::input::TraceInput;
use crate::teach::{chart, chart_svg, chart_text};
use std::path::PathBuf;

/// `ublksim chart` arguments.
#[derive(clap::Args)]
pub struct ChartArgs {
    /// A trace saved by `ublksim check` (out/traces/*.jsonl).
    pub trace: PathBuf,
    /// Write the chart as SVG to this file (`-`: standard output); never the trace itself.
    #[arg(long, value_name = "OUT", conflicts_with = "text")]
    pub svg: Option<PathBuf>,
    /// Print the chart as plain-text lanes (the default): ASCII, ≤ 100 columns up to eight
    /// lanes, for a mailing list.
    #[arg(long)]
    pub text: bool,
    #[command(flatten)]
    pub input: TraceInput,
}

pub fn run(a: ChartArgs) -> anyhow::Result<i32> {
    if let Some(out) = &a.svg {
        if ublk_traces::same_file(&a.trace, out) {
            anyhow::bail!(
                "{} is the input trace; refusing to overwrite it",
                out.display()
            );
        }
    }
    // the chart holds one small row per step (not every step's state, as view's page does),
    // but an SVG of more than view's limit is no picture anyone reads
    let c = chart::from_file(&a.trace, &a.input.replay_opts(TraceInput::VIEW_MAX_STEPS))
        .map_err(anyhow::Error::msg)?;
    match &a.svg {
        Some(out) => {
            ublk_traces::write_atomic(out, chart_svg::render(&c).as_bytes())?;
            if !ublk_traces::is_stdout(out) {
                println!(
                    "wrote {} ({} lanes, {} steps)",
                    out.display(),
                    c.lanes.len(),
                    c.rows.len()
                );
            }
        }
        None => {
            use std::io::Write;
            let mut o = std::io::stdout().lock();
            o.write_all(chart_text::render(&c).as_bytes())?;
            o.flush()?;
        }
    }
    Ok(0)
}
