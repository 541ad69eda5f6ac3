//! `ublksim replay` and `ublksim conform`: run sequential programs (saved traces, random
//! programs) on a real kernel — in the QEMU VM of `scripts/vm/run.sh` (one boot per batch) or
//! on this host's `/dev/ublk-control` — and compare every observation with the model.

use crate::conform::{self, KernelTarget, ModelProgram};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use ublk_realdev::program::{Program, RunResult, Verdict};
use ublk_traces::Trace;

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
    #[arg(long, default_value = "7.2")]
    pub kernel: String,
    /// Per-step timeout (a step without its effect by then is a hang).
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print every result as a JSON line.
    #[arg(long)]
    pub json: bool,
    /// Run each trace this many times in one boot (a race shows up as some runs failing).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
}

#[derive(clap::Args)]
pub struct ConformArgs {
    #[arg(long, default_value = "7.2")]
    pub kernel: String,
    /// Random programs to run.
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only program N of the seed (`sS-N`), `--repeat` times: reproduce one program of a
    /// batch, e.g. to tell a race from a deterministic divergence.
    #[arg(long)]
    pub only: Option<usize>,
    /// With --only: run the program this many times in one boot.
    #[arg(long, default_value_t = 1, requires = "only")]
    pub repeat: usize,
    /// Boot the kernel in QEMU and run there (without --vm/--device: print the programs).
    #[arg(long, conflicts_with = "device")]
    pub vm: bool,
    #[arg(long)]
    pub device: bool,
    /// Also replay the traces of this folder in the same run (e.g. traces/corpus).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Test hook: alter the errno the model predicts at step N of the first program; the run
    /// must report the divergence at that step.
    #[arg(long)]
    pub perturb: Option<usize>,
    /// Test hook: append a wait for a CQE that never comes to the first program; the run
    /// must report a hang there and still finish.
    #[arg(long)]
    pub hang: bool,
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Do not shrink divergent programs.
    #[arg(long)]
    pub no_shrink: bool,
    /// Write the corpus programs as traces into this folder and exit.
    #[arg(long)]
    pub write_corpus: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

/// Timing of one batch run.
#[derive(Default, Debug, Clone)]
pub struct Timing {
    pub boot_s: Option<f64>,
    pub batch_s: Option<f64>,
    pub wall_s: f64,
}

fn repo_root() -> PathBuf {
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
pub fn run_programs(
    programs: &[Program],
    k: &KernelTarget,
    vm: bool,
    timeout_ms: u64,
) -> anyhow::Result<(Vec<RunResult>, Timing)> {
    for attempt in 0.. {
        let (results, timing, ran) = run_programs_once(programs, k, vm, timeout_ms)?;
        if !vm || ran || attempt == 2 {
            return Ok((results, timing));
        }
        eprintln!(
            "ublksim: the guest died before any program ran; booting again ({}/2)",
            attempt + 1
        );
    }
    unreachable!()
}

fn run_programs_once(
    programs: &[Program],
    k: &KernelTarget,
    vm: bool,
    timeout_ms: u64,
) -> anyhow::Result<(Vec<RunResult>, Timing, bool)> {
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
        let per = timeout_ms as f64 / 1000.0;
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
            .env("UBLK_VM_TIMEOUT", (payload + 120).to_string());
        cmd.env("UBLK_VM_KERNEL", k.vm_line);
        eprintln!(
            "ublksim: booting kernel {} in QEMU for {} programs",
            k.name,
            programs.len()
        );
        cmd.output()?
    } else {
        if !Path::new(ublk_realdev::ctrl::CONTROL_PATH).exists() {
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
            .output()?;
        if o.status.code() == Some(3) {
            anyhow::bail!("{}", String::from_utf8_lossy(&o.stderr).trim());
        }
        o
    };
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
    for p in programs.iter().skip(results.len()) {
        results.push(RunResult {
            id: p.id.clone(),
            verdict: Verdict::Error("no result: the run ended before this program".into()),
            verdict_text: "error: no result: the run ended before this program".into(),
            got: vec![],
            ms: 0.0,
        });
    }
    Ok((results, timing, ran))
}

/// Trace files of `files` (folders: their `*.jsonl`, sorted).
fn trace_files(files: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
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
    let order = conform::order_from_trace(&t).map_err(anyhow::Error::msg)?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mp = ModelProgram {
        id,
        scenario: t.header.scenario.clone(),
        order,
    };
    let c = conform::compile(&mp, t.header.features).map_err(anyhow::Error::msg)?;
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

fn print_results(results: &[RunResult], json: bool) -> (usize, usize, usize, usize) {
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
        if json {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        } else if !matches!(r.verdict, Verdict::Conforms) {
            println!("  {:<40} {}", r.id, r.verdict_text);
        }
    }
    (ok, div, hang, other)
}

fn print_timing(t: &Timing, n: usize) {
    let per_min = t.batch_s.filter(|s| *s > 0.0).map(|s| n as f64 * 60.0 / s);
    eprintln!(
        "timing: boot {} s (guest uptime at /init), batch {} s, wall {:.1} s, {} replays/min",
        t.boot_s.map_or("?".into(), |b| format!("{b:.1}")),
        t.batch_s.map_or("?".into(), |b| format!("{b:.1}")),
        t.wall_s,
        per_min.map_or("?".into(), |p| format!("{p:.0}"))
    );
}

pub fn run_replay(a: ReplayArgs) -> anyhow::Result<i32> {
    let k = conform::kernel_target(&a.kernel).map_err(anyhow::Error::msg)?;
    if !a.vm && !a.device {
        anyhow::bail!("say where to replay: --vm (QEMU) or --device (this host's ublk)");
    }
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
    let (results, timing) = run_programs(&programs, &k, a.vm, a.timeout_ms)?;
    println!(
        "ublksim replay — kernel {} — {} traces",
        k.name,
        programs.len()
    );
    let (ok, div, hang, other) = print_results(&results, a.json);
    println!("{ok} conform, {div} diverge, {hang} hang, {other} refused/error");
    print_timing(&timing, results.len());
    Ok(if div + hang + other > 0 { 1 } else { 0 })
}

/// Shrink a divergent program: repeatedly run every one-op-smaller variant (one batch per
/// round) and keep the first that shows the same divergence.
fn shrink(
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
        let cands = conform::shrink_candidates(&cur, feat);
        let progs: Vec<Program> = cands
            .iter()
            .filter_map(|c| conform::compile(c, feat).ok().map(|x| x.program))
            .collect();
        if progs.is_empty() {
            break;
        }
        let (res, _) = run_programs(&progs, k, vm, timeout_ms)?;
        let hit = progs
            .iter()
            .zip(&res)
            .zip(&cands)
            .find(|((p, r), _)| conform::signature(p, &r.verdict).as_deref() == Some(sig));
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
            let p = conform::compile(&cur, feat)
                .map_err(anyhow::Error::msg)?
                .program;
            run_programs(&[p], k, vm, timeout_ms)?.0.remove(0)
        }
    };
    Ok((cur, r))
}

fn describe_program(mp: &ModelProgram, feat: ublk_model::Features) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let d = &mp.scenario.dev;
    let _ = writeln!(
        s,
        "    device: depth {}, {:?}{}",
        d.depth,
        d.copy,
        if d.need_get_data {
            ", NEED_GET_DATA"
        } else {
            ""
        }
    );
    if let Ok(c) = conform::compile(mp, feat) {
        for (i, st) in c.program.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "    {i:>2}. {:<12} {:<34} expect {}",
                c.program.threads[st.thread].name,
                st.act.name(),
                ublk_realdev::program::show_expect(&st.expect)
            );
        }
    }
    s
}

pub fn run_conform(a: ConformArgs) -> anyhow::Result<i32> {
    let k = conform::kernel_target(&a.kernel).map_err(anyhow::Error::msg)?;
    let feat = k.preset.features();
    if let Some(dir) = &a.write_corpus {
        std::fs::create_dir_all(dir)?;
        for mp in conform::corpus_for(k.preset) {
            let t = conform::to_trace(&mp, k.preset).map_err(anyhow::Error::msg)?;
            let p = dir.join(format!("{}.jsonl", mp.id));
            t.write(&p)?;
            println!("wrote {}", p.display());
        }
        return Ok(0);
    }
    let excluded: HashSet<&str> = conform::EXCLUDED.iter().map(|(k, _)| *k).collect();
    for (kind, why) in conform::EXCLUDED {
        eprintln!("note: op kind '{kind}' excluded from random programs: {why}");
    }
    let models: Vec<ModelProgram> = match a.only {
        Some(n) => (0..a.repeat.max(1))
            .map(|r| {
                let mut mp = conform::generate_one(a.seed, n, feat, &excluded);
                if a.repeat > 1 {
                    mp.id = format!("{}#{r}", mp.id);
                }
                mp
            })
            .collect(),
        None => (0..a.count)
            .map(|n| conform::generate_one(a.seed, n, feat, &excluded))
            .collect(),
    };
    let mut programs: Vec<Program> = Vec::new();
    for mp in &models {
        programs.push(
            conform::compile(mp, feat)
                .map_err(anyhow::Error::msg)?
                .program,
        );
    }
    if let Some(step) = a.perturb {
        let p = programs
            .first_mut()
            .ok_or_else(|| anyhow::anyhow!("--perturb needs --count ≥ 1"))?;
        if !conform::perturb(p, step) {
            anyhow::bail!("--perturb {step}: step {step} of {} has no result", p.id);
        }
        eprintln!(
            "note: --perturb: step {step} of program {} now expects {}",
            p.id,
            ublk_realdev::program::show_expect(&p.steps[step].expect)
        );
    }
    if a.hang {
        let p = programs
            .first_mut()
            .ok_or_else(|| anyhow::anyhow!("--hang needs --count ≥ 1"))?;
        inject_hang(p)?;
    }
    let mut corpus = Vec::new();
    if let Some(dir) = &a.corpus {
        for f in trace_files(std::slice::from_ref(dir))? {
            corpus.push(program_of_trace(&f, &k)?);
        }
    }
    let total: Vec<Program> = corpus.iter().cloned().chain(programs.clone()).collect();
    if !a.vm && !a.device {
        for (mp, p) in models.iter().zip(&programs) {
            println!("{}:", p.id);
            print!("{}", describe_program(mp, feat));
        }
        return Ok(0);
    }
    let (results, timing) = run_programs(&total, &k, a.vm, a.timeout_ms)?;
    println!(
        "ublksim conform — kernel {} (model preset {}) — seed {}, {} random programs{}",
        k.name,
        k.preset.name(),
        a.seed,
        programs.len(),
        if corpus.is_empty() {
            String::new()
        } else {
            format!(" + {} corpus traces", corpus.len())
        }
    );
    let (ok, div, hang, other) = print_results(&results, a.json);
    println!(
        "{} programs: {ok} conform, {div} diverge, {hang} hang, {other} refused/error",
        results.len()
    );
    print_timing(&timing, results.len());
    // shrink each distinct random-program divergence
    if !a.no_shrink && a.perturb.is_none() && !a.hang {
        let mut seen = HashSet::new();
        for ((mp, p), r) in models
            .iter()
            .zip(&programs)
            .zip(results.iter().skip(corpus.len()))
        {
            let Some(sig) = conform::signature(p, &r.verdict) else {
                continue;
            };
            if !seen.insert(sig.clone()) {
                continue;
            }
            let (small, sr) = shrink(mp, &sig, &k, a.vm, a.timeout_ms)?;
            println!(
                "\nminimal program for [{sig}] (from {}, {} → {} actions): {}",
                mp.id,
                mp.order.len(),
                small.order.len(),
                sr.verdict_text
            );
            print!("{}", describe_program(&small, feat));
            if let Ok(t) = conform::to_trace(&small, k.preset) {
                let f = PathBuf::from("out/divergences").join(format!("{}.jsonl", small.id));
                if t.write(&f).is_ok() {
                    println!("    trace saved: {}", f.display());
                }
            }
        }
    }
    Ok(if div + hang + other > 0 { 1 } else { 0 })
}

/// Append to `p` a wait for a CQE no request will ever produce (FETCH of a tag on a thread,
/// never a request for it... simplest: a second FETCH-less wait): the model says it blocks.
fn inject_hang(p: &mut Program) -> anyhow::Result<()> {
    use ublk_realdev::program::{Act, Expect, Step};
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
    });
    p.id = format!("{}-hang", p.id);
    eprintln!(
        "note: --hang: program {} waits at step {} for a CQE nothing produces",
        p.id,
        p.steps.len() - 1
    );
    Ok(())
}
