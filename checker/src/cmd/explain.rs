//! `ublksim explain`: a saved trace as prose.

use crate::cmd::input::TraceInput;
use crate::teach::explain::render_stream;

/// `ublksim explain` arguments.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A trace saved by `ublksim check` (out/traces/*.jsonl).
    pub trace: std::path::PathBuf,
    /// Print the walk as a JSON report (the whole trace is held in memory: at most
    /// 100,000 steps) instead of streaming prose.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub input: crate::cmd::input::TraceInput,
}

pub fn run(a: ExplainArgs) -> anyhow::Result<i32> {
    // streamed: memory is bounded by one step, not by the trace's length
    let lim = a.input.limits(TraceInput::MAX_STEPS);
    let t = ublk_traces::Trace::read_limited(&a.trace, &lim)?;
    if a.json {
        if t.steps.len() > 100_000 {
            anyhow::bail!(
                "{}: {} steps; --json holds the walk in memory, at most 100000",
                a.trace.display(),
                t.steps.len()
            );
        }
        let w = crate::teach::explain::walk_with(&t, a.input.prefix)
            .map_err(|e| anyhow::anyhow!("{}: {e}", a.trace.display()))?;
        crate::cmd::report::print("explain", w)?;
        return Ok(0);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    render_stream(&t, a.input.prefix, &mut out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", a.trace.display()))?;
    std::io::Write::flush(&mut out)?;
    Ok(0)
}
