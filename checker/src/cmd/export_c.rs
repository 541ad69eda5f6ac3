//! `ublksim export-c`: a corpus or conformance trace as one standalone C program (raw io_uring
//! syscalls, its own ublk uapi definitions) that performs the trace's user actions on a real
//! kernel and prints each observation; `--judge` compares such a run with the model, `--vm`
//! compiles it and runs it in the QEMU guest.

use crate::conform::compile::{self, KernelTarget};
use crate::conform::export_c::{self, Origin};
use crate::conform::{generate, runner};
use std::path::{Path, PathBuf};
use std::process::Command;
use ublk_program::Program;

#[derive(clap::Args)]
pub struct ExportCArgs {
    /// A trace (traces/corpus/*.jsonl, traces/corpus/6.12/*.jsonl, or one `conform` saved).
    pub trace: PathBuf,
    /// Write the C program here (`-`: standard output, the default); never the trace itself.
    #[arg(short, long, value_name = "OUT.c")]
    pub output: Option<PathBuf>,
    /// The per-step timeout compiled into the program (its `--timeout-ms` overrides it).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub timeout_ms: u64,
    /// Judge a run's output (the program's stdout, `-` for standard input) against the model
    /// instead of exporting: prints `conforms`, `diverges at step N (…)` or `hang at step N`.
    #[arg(long, value_name = "RUN_OUTPUT", conflicts_with = "vm")]
    pub judge: Option<PathBuf>,
    /// Export, compile (gcc -static) and run the program in the QEMU guest of the trace's
    /// kernel (scripts/vm/run.sh), then judge its output.
    #[arg(long)]
    pub vm: bool,
    /// Test hook: alter the errno the model predicts at step N (in the C program and in the
    /// judging); a run must report the divergence at that step.
    #[arg(long, hide = true)]
    pub perturb: Option<usize>,
}

/// The kernel a trace's preset runs on (its header names the preset), and the trace's
/// scenario description.
fn kernel_of(trace: &Path) -> anyhow::Result<(KernelTarget, String)> {
    let t = ublk_traces::Trace::read(trace)?;
    let k = compile::kernel_target(&t.header.preset).map_err(|_| {
        anyhow::anyhow!(
            "{}: a trace of preset {}, which no real kernel runs (known: {})",
            trace.display(),
            t.header.preset,
            ublk_model::Preset::vm_lines()
        )
    })?;
    Ok((k, t.header.scenario.doc))
}

pub fn run(a: ExportCArgs) -> anyhow::Result<i32> {
    if !std::fs::metadata(&a.trace).is_ok_and(|m| m.is_file()) {
        anyhow::bail!("{}: not a regular file", a.trace.display());
    }
    let (k, doc) = kernel_of(&a.trace)?;
    let mut p = runner::program_of_trace(&a.trace, &k)?;
    if let Some(step) = a.perturb {
        if !generate::perturb(&mut p, step) {
            anyhow::bail!("--perturb {step}: step {step} of {} has no result", p.id);
        }
        eprintln!(
            "note: --perturb: step {step} of {} now expects {}",
            p.id,
            ublk_program::show_expect(&p.steps[step].expect)
        );
    }
    if let Some(out) = &a.judge {
        let text = if ublk_traces::is_stdout(out) || out == Path::new("/dev/stdin") {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?
        };
        return Ok(print_verdict(&p, &text));
    }
    let origin = Origin {
        trace: &a.trace.display().to_string(),
        doc: &doc,
        preset: k.preset.name(),
        kernel: k.vm_line,
    };
    let c = export_c::emit(&p, &origin, a.timeout_ms)
        .map_err(|e| anyhow::anyhow!("{}: cannot export: {e}", a.trace.display()))?;
    if let Some(out) = &a.output {
        if ublk_traces::same_file(&a.trace, out) {
            anyhow::bail!(
                "{} is the input trace; refusing to overwrite it",
                out.display()
            );
        }
    }
    if a.vm {
        if let Some(out) = &a.output {
            write(out, &c, &p)?;
        }
        return run_vm(&p, &c, &k, a.timeout_ms);
    }
    write(a.output.as_deref().unwrap_or(Path::new("-")), &c, &p)?;
    Ok(0)
}

fn write(out: &Path, c: &str, p: &Program) -> anyhow::Result<()> {
    ublk_traces::write_atomic(out, c.as_bytes())?;
    if !ublk_traces::is_stdout(out) {
        eprintln!(
            "wrote {} ({} steps, {} lines of C)",
            out.display(),
            p.steps.len(),
            c.lines().count()
        );
    }
    Ok(())
}

/// Print the verdict on a run's output; the exit code (0 as the model predicts, 1 otherwise).
fn print_verdict(p: &Program, text: &str) -> i32 {
    let v = export_c::judge(p, text);
    println!("{}: {}", p.id, v.text());
    i32::from(v.is_failure() || matches!(v, ublk_program::Verdict::Refused(_)))
}

/// `gcc -static -O2 -Wall` of `c` into `dir`: the binary's path.
pub fn compile_c(c: &str, dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, c)?;
    let o = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .map_err(|e| anyhow::anyhow!("gcc: {e} (install gcc to compile the program)"))?;
    if !o.status.success() || !o.stderr.is_empty() {
        anyhow::bail!(
            "gcc -static -O2 -Wall {}: {}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(bin)
}

fn run_vm(p: &Program, c: &str, k: &KernelTarget, timeout_ms: u64) -> anyhow::Result<i32> {
    let dir = tempfile::Builder::new()
        .prefix("ublksim-export-c.")
        .tempdir()?;
    let name = "ublk-repro";
    let bin = compile_c(c, dir.path(), name)?;
    let payload = 60 + (p.steps.len() as u64 * (1000 + timeout_ms)).div_ceil(1000);
    eprintln!(
        "ublksim: booting kernel {} in QEMU for {} ({} steps)",
        k.name,
        p.id,
        p.steps.len()
    );
    let out = Command::new("bash")
        .arg(runner::repo_root().join("scripts/vm/run.sh"))
        .args(["--no-realdev", "--payload-timeout", &payload.to_string()])
        .arg("--file")
        .arg(&bin)
        .arg("--cmd")
        .arg(format!("/payload/{name} --timeout-ms {timeout_ms}"))
        .env("UBLK_VM_KERNEL", k.vm_line)
        .env("UBLK_VM_TIMEOUT", (payload + 120).to_string())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    for l in text.lines().filter(|l| l.starts_with("{\"event\"")) {
        eprintln!("  {l}");
    }
    Ok(print_verdict(p, &text))
}
