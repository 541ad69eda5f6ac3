//! `ublksim confirm`: every finding of the model check tried on the real kernel — the
//! built-in scenarios checked per preset, each KNOWN or FAIL counterexample compiled into a
//! real-device program (or reported not expressible, with the compiler's reason), all of one
//! kernel's programs run in one VM boot (re-booted for the runs a wedged guest lost), and a
//! verdict per finding: reproduced (an oops in the kernel log during its program, or the
//! predicted symptom), not reproduced (what the kernel did), with the hit rate over repeats.

use crate::conform::compile;
use crate::conform::confirm::{self, Finding, Plan, Symptom};
use crate::conform::confirm_log::{self, RunOutcome, Tally};
use crate::conform::runner::{self, BatchOpts};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use ublk_program::Program;

#[derive(clap::Args)]
pub struct ConfirmArgs {
    /// Presets to confirm on their real kernel (K72: Debian 7.2, K612: Debian 6.12); default
    /// both.
    #[arg(long = "preset")]
    pub presets: Vec<String>,
    /// Built-in scenarios whose findings to try (default: all).
    #[arg(long = "scenario", short = 's')]
    pub scenarios: Vec<String>,
    /// Runs of each program (in one boot); 0 with `--stress`: only the racing programs run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub repeat: u64,
    /// Per-step timeout of the executor (a step without its effect by then is a hang).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub timeout_ms: u64,
    /// Boots after the first, per kernel, for the runs a crashed or wedged guest lost.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=40))]
    pub reboots: u64,
    /// Folder of hand-kept findings (conformance traces that diverged on a real kernel and
    /// that the model does not explain), tried too when no scenario is named; `none` for none.
    #[arg(long, default_value = "traces/findings")]
    pub findings: PathBuf,
    /// Runs of each racing program: a finding no sequential program shows (two system calls
    /// that must be inside the kernel at once) is run as its racing pair issued together from
    /// pinned threads, the offset between them swept across runs, and its hit rate reported;
    /// 0: such findings stay not expressible.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub stress: u64,
    /// Print the findings, their programs and what each must show; boot nothing.
    #[arg(long)]
    pub plan: bool,
    /// Print one JSON document instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Folder for each finding's trace and program and each boot's output.
    #[arg(long, default_value = "out/confirm")]
    pub out: PathBuf,
}

/// One finding's row of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub finding: String,
    pub scenario: String,
    pub bug: String,
    pub what: String,
    pub signature: String,
    /// `reproduced`, `not reproduced`, `no result`, or `not expressible`.
    pub verdict: String,
    pub hits: usize,
    pub runs: usize,
    pub asked: usize,
    pub evidence: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symptom: Option<Symptom>,
    /// The order of the program's user actions (`trace order`, `order of completion`, `…,
    /// tags steered`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    pub outcomes: Vec<RunOutcome>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PresetReport {
    pub preset: String,
    pub kernel: String,
    pub boots: u64,
    pub wall_s: f64,
    pub rows: Vec<Row>,
}

pub fn run(a: ConfirmArgs) -> anyhow::Result<i32> {
    if a.repeat == 0 && a.stress == 0 {
        anyhow::bail!("--repeat 0 runs nothing without --stress N");
    }
    let names = if a.presets.is_empty() {
        vec!["K72".to_string(), "K612".to_string()]
    } else {
        a.presets.clone()
    };
    let mut targets = Vec::new();
    for n in &names {
        let k = compile::kernel_target(n).map_err(|e| {
            anyhow::anyhow!("--preset {n}: {e}; confirm runs presets with a VM kernel")
        })?;
        if !targets
            .iter()
            .any(|t: &compile::KernelTarget| t.vm_line == k.vm_line)
        {
            targets.push(k);
        }
    }
    if !a.plan {
        crate::cmd::input::prepare_out_dir("--out", &a.out, true, None)?;
        std::fs::create_dir_all(&a.out)
            .map_err(|e| anyhow::anyhow!("--out {}: {e}", a.out.display()))?;
    }
    let mut reports = Vec::new();
    for k in &targets {
        let t0 = Instant::now();
        let mut findings = confirm::collect(k.preset, &a.scenarios).map_err(anyhow::Error::msg)?;
        if a.findings != Path::new("none") && a.scenarios.is_empty() {
            findings
                .extend(confirm::collect_hand(k.preset, &a.findings).map_err(anyhow::Error::msg)?);
        }
        let plans: Vec<Plan> = findings
            .iter()
            .map(|f| match a.stress {
                0 => confirm::plan(f),
                _ => confirm::plan_stress(f),
            })
            .collect();
        if a.plan {
            print_plan(k, &findings, &plans);
            continue;
        }
        for (f, p) in findings.iter().zip(&plans) {
            save_finding(&a.out, f, p)?;
        }
        let (outcomes, boots) = run_boots(&a, k, &plans)?;
        let rows = findings
            .iter()
            .zip(&plans)
            .zip(outcomes)
            .map(|((f, p), o)| row(f, p, o, runs_of(p, &a)))
            .collect();
        eprintln!(
            "timing: kernel {}: {} boot(s), wall {:.1} s (model check included)",
            k.vm_line,
            boots,
            t0.elapsed().as_secs_f64()
        );
        reports.push(PresetReport {
            preset: k.preset.name().into(),
            kernel: k.vm_line.into(),
            boots,
            wall_s: (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            rows,
        });
    }
    if a.plan {
        return Ok(0);
    }
    if a.json {
        crate::cmd::report::print(
            "confirm",
            serde_json::json!({
                "repeat": a.repeat,
                "stress": a.stress,
                "timeout_ms": a.timeout_ms,
                "presets": reports,
            }),
        )?;
    } else {
        for r in &reports {
            print!("{}", table(r, a.repeat));
        }
    }
    Ok(0)
}

/// How many runs plan `p` is given.
fn runs_of(p: &Plan, a: &ConfirmArgs) -> usize {
    match p {
        Plan::Program { symptom, .. } => symptom.runs(a.repeat, a.stress) as usize,
        Plan::NotExpressible(_) => a.repeat as usize,
    }
}

fn row(f: &Finding, p: &Plan, mut o: Vec<RunOutcome>, asked: usize) -> Row {
    let (verdict, t, symptom) = match p {
        Plan::NotExpressible(why) => (
            "not expressible".to_string(),
            Tally {
                verdict: String::new(),
                hits: 0,
                runs: 0,
                asked: 0,
                evidence: why.clone(),
            },
            None,
        ),
        Plan::Program { symptom, .. } => {
            if matches!(symptom, Symptom::Race { .. }) {
                o = crate::conform::race_plan::discount(o);
            }
            let mut t = confirm_log::tally(&o, asked);
            if asked == 0 {
                t.verdict = "not run".into();
                t.evidence = "--repeat 0: only the racing programs run".into();
            }
            (t.verdict.clone(), t, Some(symptom.clone()))
        }
    };
    let order = match p {
        Plan::Program { order, .. } => Some(order.to_string()),
        Plan::NotExpressible(_) => None,
    };
    Row {
        finding: f.name.clone(),
        scenario: f.scenario.clone(),
        bug: f.bug.clone(),
        what: f.what.clone(),
        signature: f.signature.clone(),
        verdict,
        hits: t.hits,
        runs: t.runs,
        asked: t.asked,
        evidence: t.evidence,
        symptom,
        order,
        outcomes: o,
    }
}

/// The report of one preset as a table (deterministic layout: findings in check order).
pub fn table(r: &PresetReport, repeat: u64) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let n_prog = r
        .rows
        .iter()
        .filter(|x| x.verdict != "not expressible")
        .count();
    let _ = writeln!(
        s,
        "ublksim confirm — preset {} on kernel {} — {} findings, {} expressible, {} run(s) each",
        r.preset,
        r.kernel,
        r.rows.len(),
        n_prog,
        repeat
    );
    let _ = writeln!(
        s,
        "{:<34} {:<14} {:<16} {:>12}  evidence",
        "finding", "bug", "verdict", "hits"
    );
    for x in &r.rows {
        let hits = if x.verdict == "not expressible" || x.verdict == "not run" {
            "-".to_string()
        } else if x.runs < x.asked {
            // runs a wedged guest lost and no boot was left for
            format!("{}/{} +{} lost", x.hits, x.runs, x.asked - x.runs)
        } else {
            format!("{}/{}", x.hits, x.runs)
        };
        // a finding no declaration covers is named by its signature
        let sig = if x.bug == "FAIL" {
            format!("[{}] ", x.signature)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{:<34} {:<14} {:<16} {:>12}  {sig}{}",
            x.finding,
            format!("{} {}", x.bug, x.what),
            x.verdict,
            hits,
            x.evidence
        );
    }
    let count = |v: &str| r.rows.iter().filter(|x| x.verdict == v).count();
    let _ = writeln!(
        s,
        "{} reproduced, {} not reproduced, {} no result, {} not expressible; {} boot(s)\n",
        count("reproduced"),
        count("not reproduced"),
        count("no result"),
        count("not expressible"),
        r.boots
    );
    s
}

fn print_plan(k: &compile::KernelTarget, findings: &[Finding], plans: &[Plan]) {
    println!(
        "ublksim confirm --plan — preset {} on kernel {}",
        k.preset.name(),
        k.vm_line
    );
    for (f, p) in findings.iter().zip(plans) {
        match p {
            Plan::NotExpressible(why) => {
                println!("{:<34} {:<14} not expressible: {why}", f.name, f.label())
            }
            Plan::Program {
                program,
                symptom,
                order,
            } => {
                println!(
                    "{:<34} {:<14} {} steps ({order}); must show: {}",
                    f.name,
                    f.label(),
                    program.steps.len(),
                    symptom.describe()
                );
                for (i, st) in program.steps.iter().enumerate() {
                    println!(
                        "    {i:>2}. {:<12} {:<34} expect {}",
                        program.threads[st.thread].name,
                        st.act.name(),
                        ublk_program::show_expect(&st.expect)
                    );
                }
            }
        }
    }
    println!();
}

fn save_finding(out: &Path, f: &Finding, p: &Plan) -> anyhow::Result<()> {
    let stem = format!("{}-{}", f.preset.name(), f.name);
    f.trace.write(&out.join(format!("{stem}.jsonl")))?;
    if let Plan::Program { program, .. } = p {
        ublk_traces::write_atomic(
            &out.join(format!("{stem}.program.json")),
            serde_json::to_string_pretty(program)?.as_bytes(),
        )?;
    }
    Ok(())
}

/// Run every expressible plan `repeat` times on `k`: one boot, then up to `--reboots` more for
/// the runs a crashed or wedged guest left without a result (the finding whose run was the
/// last to end has its remaining runs moved to the back). Outcomes per plan, and the boots.
fn run_boots(
    a: &ConfirmArgs,
    k: &compile::KernelTarget,
    plans: &[Plan],
) -> anyhow::Result<(Vec<Vec<RunOutcome>>, u64)> {
    let progs: Vec<(usize, &Program, &Symptom)> = plans
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            Plan::Program {
                program, symptom, ..
            } => Some((i, program, symptom)),
            Plan::NotExpressible(_) => None,
        })
        .collect();
    let get = |i: usize| progs.iter().find(|x| x.0 == i).expect("a planned program");
    let mut outcomes = vec![Vec::new(); plans.len()];
    let mut pending = confirm::schedule(&progs, a.repeat, a.stress);
    // boots that ran something (re-boots are counted against --reboots), boots in all (a
    // guest that dies before any program — an emulator oops while booting, seen under TCG —
    // is booted again, at most twice per kernel, without counting)
    let (mut boots, mut all_boots, mut dead) = (0, 0, 0);
    let mut wedgers: Vec<usize> = Vec::new();
    while !pending.is_empty() && boots <= a.reboots {
        boots += 1;
        all_boots += 1;
        let batch: Vec<Program> = pending
            .iter()
            .map(|&(i, r)| confirm::run_copy(get(i).1, r))
            .collect();
        let br = runner::run_batch(
            &batch,
            k,
            true,
            a.timeout_ms,
            &BatchOpts {
                kmsg_marks: true,
                timeouts_per_program: 4,
            },
        )?;
        let log = format!(
            "{}\n---- whole kernel console ----\n{}",
            br.stdout,
            br.console.as_deref().unwrap_or("(none)")
        );
        ublk_traces::write_atomic(
            &a.out
                .join(format!("{}-boot{all_boots}.log", k.preset.name())),
            log.as_bytes(),
        )?;
        if !br.ran && dead < 2 {
            dead += 1;
            boots -= 1;
            eprintln!("ublksim: the guest died before any program ran; booting again ({dead}/2)");
            continue;
        }
        let sym: Vec<(&Program, &Symptom)> = pending
            .iter()
            .zip(&batch)
            .map(|(&(i, _), p)| (p, get(i).2))
            .collect();
        let outs = confirm_log::read_boot(
            &sym,
            &br.results,
            br.reported,
            &br.stdout,
            br.console.as_deref(),
        );
        let mut next = Vec::new();
        let mut last = None;
        for (&(i, r), o) in pending.iter().zip(outs) {
            if matches!(o, RunOutcome::NoResult(_)) {
                next.push((i, r));
            } else {
                last = Some(i);
                outcomes[i].push(o);
            }
        }
        if let (Some(l), false) = (last, next.is_empty()) {
            eprintln!(
                "ublksim: {} run(s) lost after {} on kernel {}{}",
                next.len(),
                get(l).1.id,
                k.vm_line,
                if boots <= a.reboots {
                    "; booting again"
                } else {
                    "; no boots left (--reboots)"
                }
            );
            if !wedgers.contains(&l) {
                wedgers.push(l);
            }
            // a racing program that hit and took the guest with it has its hit rate: its
            // other runs would each cost a boot
            let racing = matches!(get(l).2, Symptom::Race { .. });
            if racing && outcomes[l].iter().any(|o| o.is_reproduced()) {
                let before = next.len();
                next.retain(|x| x.0 != l);
                for _ in next.len()..before {
                    outcomes[l].push(RunOutcome::NoResult(
                        "not run: the racing program stops at a hit that lost the guest".into(),
                    ));
                }
            }
        }
        // the runs of findings that wedged a guest go last, in the order they wedged one
        next.sort_by_key(|x| wedgers.iter().position(|&w| w == x.0));
        pending = next;
    }
    for (i, _) in pending {
        outcomes[i].push(RunOutcome::NoResult(format!(
            "not run: the guest was lost {boots} time(s) (--reboots {})",
            a.reboots
        )));
    }
    Ok((outcomes, all_boots))
}
