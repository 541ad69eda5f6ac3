//! `ublksim replay`: saved traces on a real kernel (the VM, or this host's device), each
//! observation compared with the model.

use crate::conform::compile;
use crate::conform::runner::*;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Trace files or folders of them (`*.jsonl`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Boot the kernel in QEMU (scripts/vm/run.sh) and replay there.
    #[arg(long, conflicts_with = "device")]
    pub vm: bool,
    /// Replay on this host's /dev/ublk-control (root, ublk_drv).
    #[arg(long)]
    pub device: bool,
    /// The kernel the model predicts (`7.2`, `6.12`); default 7.2, or with --device the
    /// host's own kernel.
    #[arg(long)]
    pub kernel: Option<String>,
    /// With --vm: boot this kernel image (a bzImage you built) instead of Debian's, against
    /// the model of --kernel.
    #[arg(long)]
    pub kernel_image: Option<PathBuf>,
    /// With --kernel-image: its ublk_drv module (.ko, .ko.xz, .ko.zst); omit it when ublk_drv
    /// is built in.
    #[arg(long, requires = "kernel_image")]
    pub module: Option<PathBuf>,
    /// Per-step timeout (a step without its effect by then is a hang).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: u64,
    /// Print every result as a JSON line.
    #[arg(long)]
    pub json: bool,
    /// Run each trace this many times in one boot (a race shows up as some runs failing).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub repeat: u64,
}

pub fn run(a: ReplayArgs) -> anyhow::Result<i32> {
    if !a.vm && !a.device {
        anyhow::bail!("say where to replay: --vm (QEMU) or --device (this host's ublk)");
    }
    // the traces are read and checked first (a bad trace is refused on any host); a host
    // without ublk, or whose kernel no preset models, is refused before its device is touched
    crate::conform::runner::use_kernel_image(a.kernel_image.as_deref(), a.module.as_deref(), a.vm)?;
    let resolved = compile::resolve_kernel(a.kernel.as_deref(), a.device);
    let k = match &resolved {
        Ok(k) => *k,
        Err(_) => compile::kernel_target(a.kernel.as_deref().unwrap_or("7.2"))
            .map_err(anyhow::Error::msg)?,
    };
    let mut programs = Vec::new();
    for f in trace_files(&a.files)? {
        let p = program_of_trace(&f, &k)?;
        for r in 0..a.repeat.max(1) {
            let mut p = p.clone();
            if a.repeat > 1 {
                p.id = format!("{}#{r}", p.id);
            }
            programs.push(p);
        }
    }
    let k = resolved.map_err(anyhow::Error::msg)?;
    let (results, timing) = run_programs(&programs, &k, a.vm, a.timeout_ms)?;
    let head = format!(
        "ublksim replay — kernel {} — {} traces",
        k.name,
        programs.len()
    );
    let (ok, div, hang, other) = print_results(&results, a.json);
    let tail = format!("{ok} conform, {div} diverge, {hang} hang, {other} refused/error");
    if a.json {
        // stdout carries one JSON document, the prose goes to stderr
        eprintln!("{head}\n{tail}");
        crate::cmd::report::print(
            "replay",
            serde_json::json!({
                "kernel": k.name,
                "results": results,
                "summary": {"conform": ok, "diverge": div, "hang": hang, "other": other},
            }),
        )?;
    } else {
        println!("{head}\n{tail}");
    }
    print_timing(&timing, results.len());
    Ok(if div + hang + other > 0 { 1 } else { 0 })
}
