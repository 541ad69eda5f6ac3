//! `ublksim conform`: random sequential programs, the model's predictions against the real
//! kernel (or printed, without --vm/--device).

use crate::conform::compile::{KernelTarget, ModelProgram};
use crate::conform::runner::*;
use crate::conform::{compile, corpus, generate};
use std::collections::HashSet;
use std::path::PathBuf;
use ublk_program::Program;

#[derive(clap::Args)]
pub struct ConformArgs {
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
    /// Random programs to run.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub count: u64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Run only program N of the seed (`sS-N`), `--repeat` times: reproduce one program of a
    /// batch, e.g. to tell a race from a deterministic divergence.
    #[arg(long)]
    pub only: Option<usize>,
    /// With --only: run the program this many times in one boot.
    #[arg(long, default_value_t = 1, requires = "only", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub repeat: u64,
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
    #[arg(long, hide = true)]
    pub perturb: Option<usize>,
    /// Test hook: append a wait for a CQE that never comes to the first program; the run
    /// must report a hang there and still finish.
    #[arg(long, hide = true)]
    pub hang: bool,
    /// Test hook: every program that lets the kernel choose a driver tag is written for the
    /// other tag at its first choice (the model's second alternative, not the sbitmap's
    /// pick): the executor must follow the kernel back, and the run must still conform.
    #[arg(long, hide = true)]
    pub contrary_tags: bool,
    /// Test hook (7.2): run O-7's program (`exit-before-unregister`, a request that never
    /// ends, so DEL_DEV never returns) before the others: the kernel is wedged after it, and
    /// the other programs must still run, on a fresh boot.
    #[arg(long, hide = true)]
    pub wedge: bool,
    /// Further boots for the programs a wedged or dead kernel left without a result.
    #[arg(long, default_value_t = REBOOTS, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub reboots: u32,
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
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

pub fn run(a: ConformArgs) -> anyhow::Result<i32> {
    crate::conform::runner::use_kernel_image(a.kernel_image.as_deref(), a.module.as_deref(), a.vm)?;
    let k = compile::resolve_kernel(a.kernel.as_deref(), a.device).map_err(anyhow::Error::msg)?;
    let feat = k.preset.features();
    if let Some(dir) = &a.write_corpus {
        // the folder's last level is created by the first write, not a whole tree
        crate::cmd::input::prepare_out_dir("--write-corpus", dir, false, None)?;
        for mp in corpus::corpus_for(k.preset) {
            let t = compile::to_trace(&mp, k.preset).map_err(anyhow::Error::msg)?;
            let p = dir.join(format!("{}.jsonl", mp.id));
            t.write(&p)?;
            println!("wrote {}", p.display());
        }
        return Ok(0);
    }
    let excluded: HashSet<&str> = generate::EXCLUDED.iter().map(|(k, _)| *k).collect();
    for (kind, why) in generate::EXCLUDED {
        eprintln!("note: op kind '{kind}' excluded from random programs: {why}");
    }
    let models: Vec<ModelProgram> = match a.only {
        Some(n) => (0..a.repeat.max(1))
            .map(|r| {
                let mut mp = generate::generate_one(a.seed, n, feat, &excluded);
                if a.repeat > 1 {
                    mp.id = format!("{}#{r}", mp.id);
                }
                mp
            })
            .collect(),
        None => (0..a.count as usize)
            .map(|n| generate::generate_one(a.seed, n, feat, &excluded))
            .collect(),
    };
    let mut programs: Vec<Program> = Vec::new();
    // the kernel's tag choices of each program (see ublk_program::follow)
    let mut points = Vec::new();
    let mut contrary = 0;
    for mp in &models {
        let written_against = match a.contrary_tags {
            true => crate::conform::choice::contrary(mp, feat),
            false => None,
        };
        contrary += written_against.is_some() as usize;
        let (c, pts) = compile::compile_with(mp, feat, &[]).map_err(anyhow::Error::msg)?;
        points.push(pts);
        programs.push(written_against.unwrap_or(c.program));
    }
    if a.contrary_tags {
        eprintln!(
            "note: --contrary-tags: {contrary} programs are written for another tag than the \
             kernel's pick"
        );
    }
    if let Some(step) = a.perturb {
        let p = programs
            .first_mut()
            .ok_or_else(|| anyhow::anyhow!("--perturb needs --count ≥ 1"))?;
        if !generate::perturb(p, step) {
            anyhow::bail!("--perturb {step}: step {step} of {} has no result", p.id);
        }
        eprintln!(
            "note: --perturb: step {step} of program {} now expects {}",
            p.id,
            ublk_program::show_expect(&p.steps[step].expect)
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
    if a.wedge {
        corpus.insert(0, wedging_program(&k)?);
    }
    let total: Vec<Program> = corpus.iter().cloned().chain(programs.clone()).collect();
    if !a.vm && !a.device {
        if a.json {
            crate::cmd::report::print(
                "conform",
                serde_json::json!({
                    "kernel": k.name,
                    "preset": k.preset.name(),
                    "seed": a.seed,
                    "programs": programs,
                }),
            )?;
            return Ok(0);
        }
        for (mp, p) in models.iter().zip(&programs) {
            println!("{}:", p.id);
            print!("{}", describe_program(mp, feat));
        }
        return Ok(0);
    }
    let (results, timing) = run_programs_rebooting(&total, &k, a.vm, a.timeout_ms, a.reboots)?;
    // with --json, stdout carries one JSON document and the prose goes to stderr
    let say = |t: String| {
        if a.json {
            eprintln!("{t}")
        } else {
            println!("{t}")
        }
    };
    say(format!(
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
    ));
    let (ok, div, hang, other) = print_results(&results, a.json);
    say(format!(
        "{} programs: {ok} conform, {div} diverge, {hang} hang, {other} refused/error",
        results.len()
    ));
    let with_choice = points.iter().filter(|p| !p.is_empty()).count();
    // choice points where blk-mq's sbitmap does not give the lowest free tag
    let not_lowest = points
        .iter()
        .flatten()
        .filter(|p| p.tags.iter().min() != p.tags.first())
        .count();
    let followed: usize = results.iter().map(|r| r.followed.len()).sum();
    let followed_in = results.iter().filter(|r| !r.followed.is_empty()).count();
    say(format!(
        "tag choices: {with_choice} random programs let the kernel choose a request's driver \
         tag ({not_lowest} times the sbitmap's pick is not the lowest free tag); the kernel \
         chose another tag than the model's pick {followed} times (in {followed_in} \
         programs), each followed"
    ));
    if a.json {
        crate::cmd::report::print(
            "conform",
            serde_json::json!({
                "kernel": k.name,
                "preset": k.preset.name(),
                "seed": a.seed,
                "results": results,
                "summary": {"conform": ok, "diverge": div, "hang": hang, "other": other,
                            "tag_choice_programs": with_choice, "not_lowest": not_lowest,
                            "followed": followed},
            }),
        )?;
    }
    print_timing(&timing, results.len());
    // shrink each distinct random-program divergence
    if !a.no_shrink && a.perturb.is_none() && !a.hang {
        let mut seen = HashSet::new();
        for ((mp, p), r) in models
            .iter()
            .zip(&programs)
            .zip(results.iter().skip(corpus.len()))
        {
            let Some(sig) = generate::signature(p, &r.verdict) else {
                continue;
            };
            if !seen.insert(sig.clone()) {
                continue;
            }
            let (small, sr) = shrink(mp, &sig, &k, a.vm, a.timeout_ms)?;
            say(format!(
                "\nminimal program for [{sig}] (from {}, {} → {} actions): {}",
                mp.id,
                mp.order.len(),
                small.order.len(),
                sr.verdict_text
            ));
            say(describe_program(&small, feat).trim_end().to_string());
            if let Ok(t) = compile::to_trace(&small, k.preset) {
                let f = PathBuf::from("out/divergences").join(format!("{}.jsonl", small.id));
                if t.write(&f).is_ok() {
                    say(format!("    trace saved: {}", f.display()));
                }
            }
        }
    }
    Ok(if div + hang + other > 0 { 1 } else { 0 })
}

/// The `--wedge` hook's program: O-7 as `confirm` runs it on 7.2 (the request the dead
/// server's buffer keeps never ends; the executor's DEL_DEV after the program cannot return).
fn wedging_program(k: &KernelTarget) -> anyhow::Result<Program> {
    use crate::conform::confirm;
    if k.preset != ublk_model::Preset::K72 {
        anyhow::bail!("--wedge needs --kernel 7.2 (O-7's program)");
    }
    let names = ["exit-before-unregister".to_string()];
    let found = confirm::collect(k.preset, &names).map_err(anyhow::Error::msg)?;
    let f = found
        .iter()
        .find(|f| f.bug == "O-7")
        .ok_or_else(|| anyhow::anyhow!("--wedge: exit-before-unregister no longer shows O-7"))?;
    match confirm::plan(f) {
        confirm::Plan::Program { mut program, .. } => {
            program.id = format!("wedge-{}", program.id);
            Ok(program)
        }
        confirm::Plan::NotExpressible(why) => anyhow::bail!("--wedge: O-7 {why}"),
    }
}
