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
    /// A trace (traces/corpus/*.jsonl, traces/corpus/6.12/*.jsonl, or one `conform` saved);
    /// with --vm, several traces or folders of them (one kernel), run in one boot.
    #[arg(required = true, value_name = "TRACE")]
    pub traces: Vec<PathBuf>,
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
    /// Export, compile (gcc -static) and run the programs in the QEMU guest of the traces'
    /// kernel (scripts/vm/run.sh, one boot), then judge each run.
    #[arg(long)]
    pub vm: bool,
    /// Test hook: alter the errno the model predicts at step N (in the C program and in the
    /// judging); a run must report the divergence at that step.
    #[arg(long, hide = true)]
    pub perturb: Option<usize>,
}

/// One trace ready to export.
struct Export {
    trace: PathBuf,
    program: Program,
    c: String,
    kernel: KernelTarget,
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

/// A trace the C runtime cannot drive (`export_c::unsupported`): an error for a trace named
/// alone, a skipped trace (with a note) among several run in one boot.
#[derive(Debug)]
struct Unsupported(String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

fn export(trace: &Path, a: &ExportCArgs) -> anyhow::Result<Export> {
    if !std::fs::metadata(trace).is_ok_and(|m| m.is_file()) {
        anyhow::bail!("{}: not a regular file", trace.display());
    }
    let (k, doc) = kernel_of(trace)?;
    let mut p = runner::program_of_trace(trace, &k)?;
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
    let origin = Origin {
        trace: &trace.display().to_string(),
        doc: &doc,
        preset: k.preset.name(),
        kernel: k.vm_line,
    };
    if let Some(why) = export_c::unsupported(&p) {
        let e = Unsupported(format!("{}: cannot export: {why}", trace.display()));
        return Err(e.into());
    }
    let c = export_c::emit(&p, &origin, a.timeout_ms)
        .map_err(|e| anyhow::anyhow!("{}: cannot export: {e}", trace.display()))?;
    Ok(Export {
        trace: trace.to_path_buf(),
        program: p,
        c,
        kernel: k,
    })
}

pub fn run(a: ExportCArgs) -> anyhow::Result<i32> {
    if let Some(d) = a.traces.iter().find(|t| t.is_dir() && !a.vm) {
        anyhow::bail!("{}: a folder (folders only with --vm)", d.display());
    }
    let files = runner::trace_files(&a.traces)?;
    if files.is_empty() {
        anyhow::bail!("no trace (*.jsonl) in {}", a.traces[0].display());
    }
    if files.len() != 1 && (!a.vm || a.output.is_some() || a.perturb.is_some()) {
        anyhow::bail!(
            "{} traces: give one (several only with --vm, without -o and --perturb)",
            files.len()
        );
    }
    let mut exports = Vec::new();
    for f in &files {
        match export(f, &a) {
            Ok(e) => exports.push(e),
            Err(e) if files.len() > 1 && e.downcast_ref::<Unsupported>().is_some() => {
                eprintln!("note: skipped: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if exports.is_empty() {
        anyhow::bail!("no trace of {} can be exported", a.traces[0].display());
    }
    let first = &exports[0];
    if let Some(out) = &a.judge {
        let text = if ublk_traces::is_stdout(out) || out == Path::new("/dev/stdin") {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(out).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?
        };
        return Ok(print_verdict(&first.program, &text));
    }
    if let Some(out) = &a.output {
        if ublk_traces::same_file(&first.trace, out) {
            anyhow::bail!(
                "{} is the input trace; refusing to overwrite it",
                out.display()
            );
        }
    }
    if a.vm {
        if let Some(e) = exports
            .iter()
            .find(|e| e.kernel.vm_line != first.kernel.vm_line)
        {
            anyhow::bail!(
                "{} is a trace of {}, {} of {}: one kernel per boot",
                e.trace.display(),
                e.kernel.vm_line,
                first.trace.display(),
                first.kernel.vm_line
            );
        }
        if let Some(out) = &a.output {
            write(out, &first.c, &first.program)?;
        }
        return run_vm(&exports, a.timeout_ms);
    }
    write(
        a.output.as_deref().unwrap_or(Path::new("-")),
        &first.c,
        &first.program,
    )?;
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

/// Compile every program, run them one after the other in one boot of the traces' kernel,
/// judge each run. Exit code 1 if any run is not as the model predicts.
fn run_vm(exports: &[Export], timeout_ms: u64) -> anyhow::Result<i32> {
    let dir = tempfile::Builder::new()
        .prefix("ublksim-export-c.")
        .tempdir()?;
    let k = &exports[0].kernel;
    let mut run = Command::new("bash");
    run.arg(runner::repo_root().join("scripts/vm/run.sh"))
        .arg("--no-realdev");
    // the programs run in turn; /init's early end on a finished program is for one payload
    let mut line = String::from("unset UBLK_REALDEV_DONE_FILE;");
    let mut secs = 60;
    for (i, e) in exports.iter().enumerate() {
        let name = format!("ublk-repro-{i}");
        let bin = compile_c(&e.c, dir.path(), &name)?;
        run.arg("--file").arg(&bin);
        line += &format!(" echo @@PROG {i}; /payload/{name} --timeout-ms {timeout_ms};");
        secs += (e.program.steps.len() as u64 * (1000 + timeout_ms)).div_ceil(1000);
    }
    eprintln!(
        "ublksim: booting kernel {} in QEMU for {} program(s)",
        k.name,
        exports.len()
    );
    let out = run
        .args(["--payload-timeout", &secs.to_string(), "--cmd", &line])
        .env("UBLK_VM_KERNEL", k.vm_line)
        .env("UBLK_VM_TIMEOUT", (secs + 120).to_string())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // each program's output follows its marker
    let mut runs = vec![String::new(); exports.len()];
    let mut cur: Option<usize> = None;
    for l in text.lines() {
        if let Some(i) = l.strip_prefix("@@PROG ") {
            cur = i.trim().parse().ok().filter(|&i| i < runs.len());
        } else if l.starts_with("@@") {
            cur = None;
        } else if let Some(i) = cur {
            runs[i] += l;
            runs[i].push('\n');
        }
    }
    if exports.len() == 1 {
        for l in runs[0].lines().filter(|l| l.starts_with("{\"event\"")) {
            eprintln!("  {l}");
        }
    }
    let failed: i32 = exports
        .iter()
        .zip(&runs)
        .map(|(e, r)| print_verdict(&e.program, r))
        .sum();
    if exports.len() > 1 {
        println!(
            "{} of {} as the model predicts",
            exports.len() as i32 - failed,
            exports.len()
        );
    }
    if failed > 0 && !text.contains("@@EXIT=") {
        eprintln!(
            "ublksim: the guest gave no exit marker (crash or timeout); its output tail:\n{}",
            text.lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(i32::from(failed > 0))
}
