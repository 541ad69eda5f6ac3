//! `ublksim replay` and `ublksim conform`: run sequential programs (saved traces, random
//! programs) on a real kernel — in the QEMU VM of `scripts/vm/run.sh` (one boot per batch) or
//! on this host's `/dev/ublk-control` — and compare every observation with the model.

use crate::conform::compile::{self, KernelTarget, ModelProgram};
use crate::conform::generate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use ublk_program::{Program, RunResult, Verdict};
use ublk_traces::Trace;

/// Timing of one batch run.
#[derive(Default, Debug, Clone)]
pub struct Timing {
    pub boot_s: Option<f64>,
    pub batch_s: Option<f64>,
    pub wall_s: f64,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| ".".into())
}

/// Run `programs` in one VM boot (`vm`) or on this host. Results in program order (a program
/// without a result line — the VM died — gets an error verdict).
///
/// A guest that dies before the payload produced anything (seen once under TCG: an oops in
/// `ktime_get` two seconds into boot) is booted again, up to twice: that is the emulator, not
/// ublk, and no program has run yet.
/// Boot `image` (and load `module`) in the VM instead of the Debian kernel: checked here
/// (regular files), handed to scripts/vm/run.sh as UBLK_VM_KERNEL_IMAGE / UBLK_VM_MODULE.
pub fn use_kernel_image(
    image: Option<&Path>,
    module: Option<&Path>,
    vm: bool,
) -> anyhow::Result<()> {
    let Some(image) = image else { return Ok(()) };
    if !vm {
        anyhow::bail!("--kernel-image boots your kernel in QEMU: add --vm");
    }
    for (what, p) in [("--kernel-image", Some(image)), ("--module", module)] {
        let Some(p) = p else { continue };
        if !std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
            anyhow::bail!("{what} {}: not a regular file", p.display());
        }
    }
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    std::env::set_var("UBLK_VM_KERNEL_IMAGE", abs(image));
    match module {
        Some(m) => std::env::set_var("UBLK_VM_MODULE", abs(m)),
        None => std::env::remove_var("UBLK_VM_MODULE"),
    }
    eprintln!(
        "ublksim: booting your kernel {}{}",
        image.display(),
        module.map_or(" (ublk_drv built in)".to_string(), |m| format!(
            " with {}",
            m.display()
        ))
    );
    Ok(())
}

pub fn run_programs(
    programs: &[Program],
    k: &KernelTarget,
    vm: bool,
    timeout_ms: u64,
) -> anyhow::Result<(Vec<RunResult>, Timing)> {
    run_programs_rebooting(programs, k, vm, timeout_ms, REBOOTS)
}

/// Boots after the first for the programs a wedged or dead kernel left without a result.
pub const REBOOTS: u32 = 3;

/// [`run_programs`] with at most `reboots` further boots for the programs left: a program
/// that wedges the kernel (a device that cannot be deleted: STOP_DEV or DEL_DEV that never
/// return — the executor dumps the blocked tasks with SysRq-W and stops) or kills the guest
/// keeps its own verdict (a hang, or "the guest died during this program"), and the
/// programs after it run on a fresh boot instead of being lost. Each boot makes progress (at
/// least the program that ended it gets its verdict), so the loop ends.
pub fn run_programs_rebooting(
    programs: &[Program],
    k: &KernelTarget,
    vm: bool,
    timeout_ms: u64,
    reboots: u32,
) -> anyhow::Result<(Vec<RunResult>, Timing)> {
    let mut results: Vec<RunResult> = Vec::new();
    let mut timing = Timing::default();
    let (mut dead_boots, mut more_boots) = (0, 0);
    while results.len() < programs.len() {
        let rest = &programs[results.len()..];
        let r = run_batch(rest, k, vm, timeout_ms, &BatchOpts::default())?;
        timing.wall_s += r.timing.wall_s;
        timing.boot_s = timing.boot_s.or(r.timing.boot_s);
        if let Some(b) = r.timing.batch_s {
            timing.batch_s = Some(timing.batch_s.unwrap_or(0.0) + b);
        }
        if !r.ran {
            // the guest died before any program ran: the emulator, not ublk (seen once
            // under TCG: an oops in `ktime_get` two seconds into boot)
            if vm && dead_boots < 2 {
                dead_boots += 1;
                eprintln!(
                    "ublksim: the guest died before any program ran; booting again ({dead_boots}/2)"
                );
                continue;
            }
            results.extend(r.results);
            break;
        }
        let mut got = r.results;
        if r.reported == rest.len() || !vm || more_boots == reboots {
            results.extend(got);
            break;
        }
        got.truncate(r.reported);
        let why = match got.last() {
            // the executor stopped after a program left the kernel wedged
            Some(last) if r.finished => format!("the kernel was wedged after {}", last.id),
            // the guest died (or the run timed out) during the next program: it keeps that
            // as its verdict, so a program that kills the guest is not run again
            _ => {
                let p = &rest[r.reported];
                let e = "the guest died or the run timed out during this program";
                got.push(RunResult {
                    id: p.id.clone(),
                    verdict: Verdict::Error(e.into()),
                    verdict_text: format!("error: {e}"),
                    got: vec![],
                    followed: vec![],
                    ms: 0.0,
                });
                format!("the guest died during {}", p.id)
            }
        };
        results.extend(got);
        more_boots += 1;
        eprintln!(
            "ublksim: {why}; booting again for the {} programs left ({more_boots}/{reboots})",
            programs.len() - results.len()
        );
    }
    Ok((results, timing))
}

/// Extras of one batch run ([`run_batch`]).
#[derive(Clone, Debug, Default)]
pub struct BatchOpts {
    /// The executor marks each program's start in the kernel log (`run-batch --kmsg-marks`).
    pub kmsg_marks: bool,
    /// Per-step timeouts each program may spend (the payload's time bound); 1 by default.
    pub timeouts_per_program: u64,
}

/// What one batch left: the results (a program without one gets an error verdict), the
/// executor's and the script's whole stdout (results, `@@` markers, the run's kernel log after
/// `@@DMESG`) and, in the VM, the guest's whole kernel console.
pub struct BatchRun {
    pub results: Vec<RunResult>,
    pub timing: Timing,
    /// Some program ran (or the batch finished).
    pub ran: bool,
    /// The executor reported the end of its batch (it may have stopped early: a wedged
    /// kernel).
    pub finished: bool,
    /// Results the executor reported (the rest were filled in as "no result").
    pub reported: usize,
    pub stdout: String,
    pub console: Option<String>,
}

/// Run `programs` in one VM boot (`vm`) or on this host, once.
pub fn run_batch(
    programs: &[Program],
    k: &KernelTarget,
    vm: bool,
    timeout_ms: u64,
    bo: &BatchOpts,
) -> anyhow::Result<BatchRun> {
    let t0 = Instant::now();
    let dir = std::env::temp_dir().join(format!("ublksim-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let batch = dir.join("batch.jsonl");
    let mut text = String::new();
    for p in programs {
        text.push_str(&serde_json::to_string(p)?);
        text.push('\n');
    }
    std::fs::write(&batch, &text)?;
    let out = if vm {
        let run = repo_root().join("scripts/vm/run.sh");
        // generous bounds: a program takes well under a second unless it hangs
        let per = timeout_ms as f64 / 1000.0 * bo.timeouts_per_program.max(1) as f64;
        let payload = 60 + (programs.len() as f64 * (1.0 + per)).ceil() as u64;
        let mut cmd = Command::new("bash");
        cmd.arg(&run)
            .arg("--payload-timeout")
            .arg(payload.to_string())
            .arg("--file")
            .arg(&batch)
            .arg("--")
            .arg("run-batch")
            .arg("/payload/batch.jsonl")
            .arg("--timeout-ms")
            .arg(timeout_ms.to_string())
            .args(bo.kmsg_marks.then_some("--kmsg-marks"))
            .env("UBLK_VM_TIMEOUT", (payload + 120).to_string())
            // the script copies the guest's output and whole console here
            .env("UBLK_VM_KEEP", dir.join("keep"));
        cmd.env("UBLK_VM_KERNEL", k.vm_line);
        eprintln!(
            "ublksim: booting kernel {} in QEMU for {} programs",
            k.name,
            programs.len()
        );
        cmd.output()?
    } else {
        if !Path::new(ublk_program::CONTROL_PATH).exists() {
            anyhow::bail!(
                "/dev/ublk-control not found: this kernel has no ublk_drv (use --vm to boot one)"
            );
        }
        let me = std::env::current_exe()?;
        let exe = me.with_file_name("ublk-realdev");
        if !exe.exists() {
            anyhow::bail!(
                "{} not found: build it (cargo build --release -p ublk-realdev)",
                exe.display()
            );
        }
        let o = Command::new(&exe)
            .arg("run-batch")
            .arg(&batch)
            .arg("--timeout-ms")
            .arg(timeout_ms.to_string())
            .args(bo.kmsg_marks.then_some("--kmsg-marks"))
            .output()?;
        if o.status.code() == Some(3) {
            anyhow::bail!("{}", String::from_utf8_lossy(&o.stderr).trim());
        }
        o
    };
    let console = std::fs::read(dir.join("keep/console.txt"))
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut timing = Timing {
        wall_s: t0.elapsed().as_secs_f64(),
        ..Timing::default()
    };
    let mut results = Vec::new();
    let mut saw_done = false;
    for l in stdout.lines() {
        if let Some(rest) = l.strip_prefix("@@BOOT ") {
            timing.boot_s = rest
                .split("uptime=")
                .nth(1)
                .and_then(|u| u.trim().parse().ok());
        }
        if !l.starts_with('{') {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        match v.get("event").and_then(|e| e.as_str()) {
            Some("result") => {
                if let Ok(r) = serde_json::from_value::<RunResult>(v) {
                    results.push(r);
                }
            }
            Some("batch_done") => {
                saw_done = true;
                timing.batch_s = v.get("seconds").and_then(|s| s.as_f64());
            }
            Some("error") => eprintln!(
                "ublksim: the executor reports: {}",
                v.get("error").and_then(|e| e.as_str()).unwrap_or("?")
            ),
            _ => {}
        }
    }
    if !saw_done {
        let tail: Vec<&str> = stdout.lines().rev().take(40).collect();
        eprintln!(
            "ublksim: the batch did not finish (VM crash or timeout); output tail:\n{}\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ran = saw_done || !results.is_empty();
    let reported = results.len();
    for p in programs.iter().skip(results.len()) {
        results.push(RunResult {
            id: p.id.clone(),
            verdict: Verdict::Error("no result: the run ended before this program".into()),
            verdict_text: "error: no result: the run ended before this program".into(),
            got: vec![],
            followed: vec![],
            ms: 0.0,
        });
    }
    Ok(BatchRun {
        results,
        timing,
        ran,
        finished: saw_done,
        reported,
        stdout: stdout.into_owned(),
        console,
    })
}

/// Trace files of `files` (folders: their `*.jsonl`, sorted).
pub fn trace_files(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for f in files {
        if f.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(f)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect();
            v.sort();
            out.extend(v);
        } else {
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// A trace as a program for the real kernel (its user-visible steps in trace order, the
/// oracle's expectations).
pub fn program_of_trace(path: &Path, k: &KernelTarget) -> anyhow::Result<Program> {
    let t = Trace::read(path)?;
    if t.header.preset != k.preset.name() {
        anyhow::bail!(
            "{}: a trace of preset {}, but kernel {} is preset {} (its predictions would be \
             another kernel's)",
            path.display(),
            t.header.preset,
            k.name,
            k.preset.name()
        );
    }
    // an untrusted trace: its steps must be what the model does (no outcome needed: the
    // corpus records programs, not findings)
    let v = crate::explore::verdict::verify(&t, true)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(why) = v.mismatch {
        anyhow::bail!(
            "{}: the trace does not replay on the model: {why}",
            path.display()
        );
    }
    let order = compile::order_from_trace(&t).map_err(anyhow::Error::msg)?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mp = ModelProgram {
        id,
        scenario: t.header.scenario.clone(),
        order,
    };
    let c = compile::compile(&mp, t.header.features).map_err(anyhow::Error::msg)?;
    if let Some(v) = &c.prediction.violation {
        anyhow::bail!(
            "{}: the model predicts a violation ({}) at action {}: a finding to run on demand, \
             not a conformance replay",
            path.display(),
            v,
            c.prediction.steps.len()
        );
    }
    Ok(c.program)
}

pub fn print_results(results: &[RunResult], json: bool) -> (usize, usize, usize, usize) {
    let (mut ok, mut div, mut hang, mut other) = (0, 0, 0, 0);
    for r in results {
        match &r.verdict {
            Verdict::Conforms => ok += 1,
            Verdict::Diverges { .. } => div += 1,
            Verdict::Hang {
                predicted: true, ..
            } => ok += 1,
            Verdict::Hang { .. } => hang += 1,
            _ => other += 1,
        }
        // with `json` the caller prints one document of every result
        if !json && !matches!(r.verdict, Verdict::Conforms) {
            println!("  {:<40} {}", r.id, r.verdict_text);
        }
    }
    (ok, div, hang, other)
}

pub fn print_timing(t: &Timing, n: usize) {
    let per_min = t.batch_s.filter(|s| *s > 0.0).map(|s| n as f64 * 60.0 / s);
    eprintln!(
        "timing: boot {} s (guest uptime at /init), batch {} s, wall {:.1} s, {} replays/min",
        t.boot_s.map_or("?".into(), |b| format!("{b:.1}")),
        t.batch_s.map_or("?".into(), |b| format!("{b:.1}")),
        t.wall_s,
        per_min.map_or("?".into(), |p| format!("{p:.0}"))
    );
}

/// Shrink a divergent program: repeatedly run every one-op-smaller variant (one batch per
/// round) and keep the first that shows the same divergence.
pub fn shrink(
    mp: &ModelProgram,
    sig: &str,
    k: &KernelTarget,
    vm: bool,
    timeout_ms: u64,
) -> anyhow::Result<(ModelProgram, RunResult)> {
    let feat = k.preset.features();
    let mut cur = mp.clone();
    let mut cur_res = None;
    for _round in 0..20 {
        let cands = generate::shrink_candidates(&cur, feat);
        let progs: Vec<Program> = cands
            .iter()
            .filter_map(|c| compile::compile(c, feat).ok().map(|x| x.program))
            .collect();
        if progs.is_empty() {
            break;
        }
        let (res, _) = run_programs(&progs, k, vm, timeout_ms)?;
        let hit = progs
            .iter()
            .zip(&res)
            .zip(&cands)
            .find(|((p, r), _)| generate::signature(p, &r.verdict).as_deref() == Some(sig));
        match hit {
            Some(((_, r), c)) => {
                cur = c.clone();
                cur_res = Some(r.clone());
            }
            None => break,
        }
    }
    let r = match cur_res {
        Some(r) => r,
        None => {
            let p = compile::compile(&cur, feat)
                .map_err(anyhow::Error::msg)?
                .program;
            run_programs(&[p], k, vm, timeout_ms)?.0.remove(0)
        }
    };
    Ok((cur, r))
}

pub fn describe_program(mp: &ModelProgram, feat: ublk_model::Features) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let d = &mp.scenario.dev;
    let mut extras = String::new();
    if d.nr_queues > 1 {
        let _ = write!(extras, ", {} queues", d.nr_queues);
    }
    if d.need_get_data {
        extras.push_str(", NEED_GET_DATA");
    }
    if d.recovery != ublk_model::Recovery::None {
        let _ = write!(extras, ", recovery {:?}", d.recovery);
    }
    if d.quiesce {
        extras.push_str(", QUIESCE");
    }
    if d.elevator {
        extras.push_str(", elevator");
    }
    if d.io_bytes != 4096 {
        let _ = write!(extras, ", {} KiB bios", d.io_bytes / 1024);
    }
    let _ = writeln!(s, "    device: depth {}, {:?}{extras}", d.depth, d.copy);
    if let Ok(c) = compile::compile(mp, feat) {
        for (i, st) in c.program.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "    {i:>2}. {:<12} {:<34} expect {}",
                c.program.threads[st.thread].name,
                st.act.name(),
                ublk_program::show_expect(&st.expect)
            );
        }
    }
    s
}

/// Append to `p` a wait for a CQE no request will ever produce (FETCH of a tag on a thread,
/// never a request for it... simplest: a second FETCH-less wait): the model says it blocks.
pub fn inject_hang(p: &mut Program) -> anyhow::Result<()> {
    use ublk_program::{Act, Expect, Step};
    // a server thread whose last command on some tag is still pending, or a fresh wait on a
    // FETCH issued before START: find a pending FETCH/COMMIT and wait for it
    let pend = p.steps.iter().enumerate().rev().find(|(_, s)| {
        s.expect == Expect::Pending && matches!(s.act, Act::Fetch { .. } | Act::Commit { .. })
    });
    let Some((i, s)) = pend else {
        anyhow::bail!(
            "--hang: program {} has no pending command to wait for",
            p.id
        );
    };
    let tag = match s.act {
        Act::Fetch { tag, .. } | Act::Commit { tag, .. } => tag,
        _ => unreachable!(),
    };
    let thread = s.thread;
    // cut the program right after that command so nothing completes it
    p.steps.truncate(i + 1);
    p.steps.push(Step {
        thread,
        act: Act::WaitCqe { tag },
        expect: Expect::Blocks,
        after: vec![],
        race_us: None,
    });
    p.id = format!("{}-hang", p.id);
    eprintln!(
        "note: --hang: program {} waits at step {} for a CQE nothing produces",
        p.id,
        p.steps.len() - 1
    );
    Ok(())
}
