//! Arguments shared by the commands that read a saved trace (`check --replay`, `explain`,
//! `view`, `replay`): traces arrive by mail, so every reader bounds what it reads.

use crate::explore::verdict::ReplayOpts;
use ublk_traces::Limits;

#[derive(clap::Args, Clone, Debug)]
pub struct TraceInput {
    /// Refuse a trace file larger than this many bytes.
    #[arg(long, default_value_t = TraceInput::DEFAULT_MAX_BYTES, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_trace_bytes: u64,
    /// Refuse a trace with more steps than this [default: 2,000,000; view: 100,000, as its
    /// page holds every step's state].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_steps: Option<u64>,
    /// Accept a trace without an outcome line (cut short) as a prefix: its steps are checked,
    /// there is no ending to reproduce.
    #[arg(long)]
    pub prefix: bool,
}

impl TraceInput {
    pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
    /// Steps of `check --replay`, `explain` (which streams) and `replay`.
    pub const MAX_STEPS: u64 = 2_000_000;
    /// Steps of `view`: its page embeds every step's state.
    pub const VIEW_MAX_STEPS: u64 = 100_000;
    /// The limits, `default_steps` unless `--max-steps` is given.
    pub fn limits(&self, default_steps: u64) -> Limits {
        Limits {
            max_bytes: self.max_trace_bytes,
            max_steps: self.max_steps.unwrap_or(default_steps) as usize,
        }
    }
    pub fn replay_opts(&self, default_steps: u64) -> ReplayOpts {
        ReplayOpts {
            prefix: self.prefix,
            limits: self.limits(default_steps),
        }
    }
}

/// The switch set of `--with`/`--without`: a switch named in both is a contradiction, not a
/// last-one-wins.
pub fn switch_set(
    preset: ublk_model::Preset,
    with: &[String],
    without: &[String],
) -> anyhow::Result<ublk_model::Features> {
    if let Some(x) = with
        .iter()
        .find(|w| without.iter().any(|o| o.eq_ignore_ascii_case(w)))
    {
        anyhow::bail!("--with {x} and --without {x} contradict each other");
    }
    ublk_model::apply_switches(preset.features(), with, without).map_err(anyhow::Error::msg)
}

/// An output folder (`check --out`, `sim --out`, `conform --write-corpus`): files are written
/// into it as they are made, and only its last level is created then.  The default folder
/// (`out/traces`) may lack its parent too, which is created here; another folder whose parent
/// is missing is refused unless `parents` is `Some(true)` (`--parents`; None: the command has
/// no such flag), so a typo does not grow a tree somewhere.
/// The preset named on the command line, or an error that lists the known ones.
pub fn preset(name: &str) -> anyhow::Result<ublk_model::Preset> {
    ublk_model::Preset::from_name(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown preset '{name}' (known: {})",
            ublk_model::Preset::known_names()
        )
    })
}

/// `--out` of a command that saves counterexample traces (default `out/traces`).
pub fn prepare_traces_dir(out: &std::path::Path, parents: bool) -> anyhow::Result<()> {
    prepare_out_dir(
        "--out",
        out,
        out == std::path::Path::new("out/traces"),
        Some(parents),
    )
}

pub fn prepare_out_dir(
    flag: &str,
    out: &std::path::Path,
    default: bool,
    parents: Option<bool>,
) -> anyhow::Result<()> {
    if out.is_dir() {
        return Ok(());
    }
    if out.exists() {
        anyhow::bail!("{flag} {}: exists and is not a folder", out.display());
    }
    let up = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if up.is_dir() {
        return Ok(());
    }
    if default || parents == Some(true) {
        std::fs::create_dir_all(up)?;
        return Ok(());
    }
    anyhow::bail!(
        "{flag} {}: folder {} does not exist{}",
        out.display(),
        up.display(),
        if parents.is_some() {
            " (--parents creates it)"
        } else {
            ""
        }
    )
}
