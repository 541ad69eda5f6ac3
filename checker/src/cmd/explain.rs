//! `ublksim explain`: a saved trace as prose.

use crate::cmd::input::TraceInput;
use crate::teach::explain::render_stream;

/// `ublksim explain` arguments.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A trace saved by `ublksim check` (out/traces/*.jsonl).
    pub trace: std::path::PathBuf,
    #[command(flatten)]
    pub input: crate::cmd::input::TraceInput,
}

pub fn run(a: ExplainArgs) -> anyhow::Result<i32> {
    // streamed: memory is bounded by one step, not by the trace's length
    let lim = a.input.limits(TraceInput::MAX_STEPS);
    let t = ublk_traces::Trace::read_limited(&a.trace, &lim)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    render_stream(&t, a.input.prefix, &mut out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.trace.display()))?;
    std::io::Write::flush(&mut out)?;
    Ok(0)
}
