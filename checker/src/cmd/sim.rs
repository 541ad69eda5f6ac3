//! `ublksim sim`: deterministic simulation of large configurations, with
//! faults, swarm mode, coverage, shrinking and a determinism check.

use crate::explore::confirm::{confirm, shrink_hang, Confirmation, BUDGET};
use crate::explore::known::{self, What};
use crate::explore::liveness::Hang;
use crate::explore::shrink::{shrink, Cex};
use crate::explore::signature::Signature;
use crate::explore::verdict::{
    make_trace, make_trace_with, print_trace, print_trace_with, switch_label, Ending,
};
use anyhow::{bail, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;
use ublk_model::config::CopyMode;
use ublk_model::Goal;
use ublk_model::{Model, Preset};
use ublk_sim::coverage::Coverage;
use ublk_sim::faults::{FaultSet, ALL_FAULTS};
use ublk_sim::workload::{scenario, Quirk, SimConfig};
use ublk_sim::{simulate, Progress, RunOpts};

#[derive(clap::Args)]
pub struct SimArgs {
    #[arg(long, default_value = "K72")]
    preset: String,
    /// Turn a switch (or a seeded bug, `B-8`) on.
    #[arg(long)]
    with: Vec<String>,
    #[arg(long)]
    without: Vec<String>,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of seeds to run (a sweep: seed, seed+1, …); stops at the first failure.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Atomic model steps per seed.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    steps: u64,
    /// Hardware queues.
    #[arg(long, default_value_t = 1)]
    queues: u8,
    /// Tags per queue (default 2; 1 on a kernel with one daemon per queue, e.g. K612, whose
    /// per-io daemon threads the workload cannot use — unless `--per-queue`).
    #[arg(long)]
    depth: Option<u8>,
    /// One daemon thread per queue serving every tag (one strand per tag, taking requests in
    /// the order they come) instead of a thread per tag; 6.12's only server shape.
    #[arg(long)]
    per_queue: bool,
    /// Offload threads (off-daemon REGISTER / user copy).
    #[arg(long, default_value_t = 1)]
    offload: u8,
    /// Block submitters per queue.
    #[arg(long, default_value_t = 2)]
    submitters: u8,
    /// copy | user-copy | zero-copy | auto-buf-reg (default zero-copy; copy on a kernel
    /// without zero copy, e.g. K612).
    #[arg(long)]
    copy: Option<String>,
    /// Faults: `all`, `none`, or a list like `kill,stop=4,elevator` (see `--list-faults`).
    #[arg(long, default_value = "none")]
    faults: String,
    /// Server quirks: `all`, `none`, or a list (double-fetch, no-buffer-fetch,
    /// need-get-data, commit-before-unregister, unfixed-rings).
    #[arg(long, default_value = "none")]
    quirks: String,
    /// Swarm mode: each seed enables a random subset of the faults (random
    /// weights) and of the quirks.
    #[arg(long)]
    swarm: bool,
    /// Run every seed twice and compare the results byte for byte.
    #[arg(long)]
    check_determinism: bool,
    /// Print the fault vocabulary and exit.
    #[arg(long)]
    list_faults: bool,
    /// Folder for the full and the shrunk counterexample traces.
    #[arg(long, default_value = "out/traces")]
    out: PathBuf,
    /// Create the missing parent folders of --out.
    #[arg(long)]
    parents: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the coverage as an SVG heat map: kernel functions × the faults fired
    /// earlier in the episode (`-`: standard output, instead of the report).
    #[arg(long, value_name = "OUT")]
    coverage_svg: Option<PathBuf>,
    /// Hangs only: do not stop at the state invariants S4–S6, S9 (a bug that breaks one first
    /// runs on into the hang it leads to, e.g. B-12's lost FETCH into a ring exit that never ends).
    #[arg(long)]
    liveness_only: bool,
}

fn copy_mode(s: &str) -> Result<CopyMode> {
    Ok(match s {
        "copy" => CopyMode::Copy,
        "user-copy" => CopyMode::UserCopy,
        "zero-copy" => CopyMode::ZeroCopy,
        "auto-buf-reg" => CopyMode::AutoBufReg,
        _ => bail!("unknown copy mode '{s}' (copy, user-copy, zero-copy, auto-buf-reg)"),
    })
}

#[derive(Serialize)]
struct SeedResult {
    seed: u64,
    faults: Vec<&'static str>,
    quirks: Vec<&'static str>,
    progress: Progress,
    violation: Option<String>,
    /// A confirmed hang a declaration matches (`KNOWN <bug>: hang <property>`).
    known_hang: Option<String>,
    /// A confirmed hang no declaration matches (its signature).
    hang: Option<String>,
    /// Hang candidates (episodes ended or cut with an obligation open) and what exploring
    /// from each said.
    candidates: Vec<String>,
}

pub fn run(a: SimArgs) -> Result<i32> {
    if a.list_faults {
        for f in ALL_FAULTS {
            println!(
                "  {:<14} weight {:<2} {}",
                f.name(),
                f.default_weight(),
                f.describe()
            );
        }
        return Ok(0);
    }
    let preset = crate::cmd::input::preset(&a.preset)?;
    let feat = crate::cmd::input::switch_set(preset, &a.with, &a.without)?;
    let Some(end) = a.seed.checked_add(a.seeds) else {
        bail!(
            "--seed {} with --seeds {} would run past seed {} (u64::MAX)",
            a.seed,
            a.seeds,
            u64::MAX
        );
    };
    let faults = FaultSet::parse(&a.faults).map_err(anyhow::Error::msg)?;
    crate::cmd::input::prepare_traces_dir(&a.out, a.parents)?;
    // defaults that fit the kernel: its data paths and its daemon shape
    let pf = preset.features();
    let depth = a
        .depth
        .unwrap_or(if pf.has(ublk_model::Sw::PerIoDaemon) || a.per_queue {
            2
        } else {
            1
        });
    let copy = match &a.copy {
        Some(c) => copy_mode(c)?,
        None if pf.has(ublk_model::Sw::ZeroCopy) => CopyMode::ZeroCopy,
        None => CopyMode::Copy,
    };
    if a.queues == 0 || depth == 0 || a.queues as usize * depth as usize > 8 {
        bail!("--queues × --depth must be between 1 and 8");
    }
    let base = SimConfig {
        queues: a.queues,
        depth,
        copy,
        offload: a.offload,
        submitters: a.submitters,
        per_queue: a.per_queue,
        faults: faults.clone(),
        quirks: Quirk::parse_list(&a.quirks).map_err(anyhow::Error::msg)?,
    };
    let t0 = Instant::now();
    let mut total = Coverage::default();
    let mut steps = 0u64;
    let mut results = Vec::new();
    let mut code = 0;
    for seed in a.seed..end {
        let mut cfg = base.clone();
        if a.swarm {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed);
            cfg.faults = faults.swarm(&mut rng);
            cfg.quirks.retain(|_| rng.random_bool(0.5));
        }
        let (sc, _) = scenario(&cfg);
        let m = Model::new(&sc, feat).map_err(anyhow::Error::msg)?;
        let opts = RunOpts {
            seed,
            steps: a.steps,
            progress_every: 1 << 20,
            invariants: !a.liveness_only,
            fault_matrix: a.coverage_svg.is_some(),
            ..RunOpts::default()
        };
        let started = Instant::now();
        let show = !a.json;
        let r = simulate(&m, &cfg.faults, &opts, |p| {
            if show {
                let rate = p.steps as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprintln!(
                    "  seed {seed}: {} steps ({rate:.0}/s), {} requests completed, {} faults injected, {} episodes",
                    p.steps, p.requests_completed, p.faults_injected, p.episodes
                );
            }
        });
        if a.check_determinism {
            let again = simulate(&m, &cfg.faults, &opts, |_| {});
            if again != r {
                bail!("seed {seed}: two runs with the same seed differ — the simulation is not deterministic");
            }
        }
        steps += r.progress.steps;
        total.merge(&r.coverage);
        let known = r
            .violation
            .as_ref()
            .and_then(|(path, v)| known::sim_known(&m, preset, path, v));
        let violation = r.violation.as_ref().map(|(_, v)| match &known {
            Some(k) => format!("KNOWN {}: {v}", k.bug),
            None => v.to_string(),
        });
        let mut candidates = Vec::new();
        let mut hang: Option<(Signature, Hang)> = None;
        let mut known_hang = None;
        if r.violation.is_none() {
            for c in &r.hang_candidates {
                let what =
                    confirm(&m, &c.path, BUDGET, !a.liveness_only).map_err(anyhow::Error::msg)?;
                candidates.push(match &what {
                    Confirmation::Hang(sig, _) => format!("{:?}: HANG {sig}", c.end),
                    Confirmation::NotAHang { states } => format!(
                        "{:?}: not a hang ({states} states explored from where it stopped: every open obligation can still be met)",
                        c.end
                    ),
                    Confirmation::Unconfirmed { states } => format!(
                        "{:?}: unconfirmed (more than {states} states reachable from where it stopped)",
                        c.end
                    ),
                });
                if let Confirmation::Hang(sig, h) = what {
                    match known::declared(&sig, What::Hang(h.prop), preset) {
                        Some(k) => {
                            let c = candidates.last_mut().expect("just pushed");
                            *c = format!("{c} — KNOWN {}", k.bug);
                            known_hang.get_or_insert(k);
                        }
                        None if hang.is_none() => hang = Some((sig, h)),
                        None => {}
                    }
                }
            }
        }
        results.push(SeedResult {
            seed,
            faults: cfg.faults.names(),
            quirks: cfg.quirks.iter().map(|q| q.name()).collect(),
            progress: r.progress.clone(),
            violation,
            known_hang: known_hang.map(|k| format!("KNOWN {}: hang {}", k.bug, k.what)),
            hang: hang.as_ref().map(|(sig, _)| sig.to_string()),
            candidates,
        });
        if let Some((sig, h)) = hang {
            code = 1;
            report_hang(&a, preset, feat, &m, seed, &sig, &h)?;
            break;
        }
        if let Some((path, v)) = r.violation {
            if let Some(k) = known {
                // a finding this kernel is known to have: report it, go on
                if !a.json {
                    println!("seed {seed}: KNOWN {}", k.note());
                }
                report_violation(&a, preset, feat, &m, seed, path, v)?;
                continue;
            }
            code = 1;
            report_violation(&a, preset, feat, &m, seed, path, v)?;
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if let Some(out) = &a.coverage_svg {
        let svg = crate::teach::coverage_svg::render(
            &total,
            &heat_title(&a, preset, feat, &results),
            &faults.names(),
        );
        ublk_traces::write_atomic(out, svg.as_bytes())?;
        if ublk_traces::is_stdout(out) {
            return Ok(code);
        }
        if !a.json {
            println!("wrote {} (coverage heat map)", out.display());
        }
    }
    if a.json {
        let rep = serde_json::json!({
            "preset": preset.name(),
            "switches": feat.diff_from(preset.features()),
            "config": base,
            "seeds": results,
            "steps": steps,
            "seconds": secs,
            "steps_per_sec": steps as f64 / secs.max(1e-9),
            "coverage": total,
            "missed_goals": total.missed(),
        });
        crate::cmd::report::print("sim", rep)?;
    } else {
        print_summary(&results, &total, steps, secs);
    }
    Ok(code)
}

/// What the heat map is of: preset, switches, seeds, steps, faults and quirks (no time: the
/// picture of a run is the same bytes every time).
fn heat_title(a: &SimArgs, preset: Preset, feat: ublk_model::Features, r: &[SeedResult]) -> String {
    let sw = feat.diff_from(preset.features());
    let last = r.last().map_or(a.seed, |r| r.seed);
    let seeds = if last == a.seed {
        format!("seed {}", a.seed)
    } else {
        format!("seeds {}–{last}", a.seed)
    };
    format!(
        "sim {}{}{}: {seeds}, {} steps each, faults {}{}, quirks {}",
        preset.name(),
        if sw.is_empty() { "" } else { " " },
        sw.join(" "),
        a.steps,
        a.faults,
        if a.swarm { " (swarm)" } else { "" },
        a.quirks
    )
}

fn print_summary(results: &[SeedResult], cov: &Coverage, steps: u64, secs: f64) {
    let clean = results
        .iter()
        .filter(|r| r.violation.is_none() && r.hang.is_none() && r.known_hang.is_none())
        .count();
    let known = results
        .iter()
        .filter(|r| {
            r.known_hang.is_some() || r.violation.as_ref().is_some_and(|v| v.starts_with("KNOWN"))
        })
        .count();
    let req: u64 = results.iter().map(|r| r.progress.requests_completed).sum();
    let faults: u64 = results.iter().map(|r| r.progress.faults_injected).sum();
    let eps: u64 = results.iter().map(|r| r.progress.episodes).sum();
    let cut: u64 = results.iter().map(|r| r.progress.episodes_cut).sum();
    println!(
        "{} seed(s), {clean} clean, {known} known finding(s); {steps} steps in {secs:.1}s ({:.0} steps/s); \
         {req} requests completed; {faults} faults injected; {eps} episodes ({cut} cut as stuck or endless)",
        results.len(),
        steps as f64 / secs.max(1e-9)
    );
    let sum = |f: fn(&Progress) -> u64| results.iter().map(|r| f(&r.progress)).sum::<u64>();
    println!(
        "episodes cut: {} with no I/O completing, {} with only kernel contexts moving, {} too long; \
         {} ended in a dead end with an obligation open",
        sum(|p| p.cut_stalled),
        sum(|p| p.cut_kernel_only),
        sum(|p| p.cut_long),
        sum(|p| p.dead_ends_open)
    );
    let cands: Vec<_> = results
        .iter()
        .flat_map(|r| r.candidates.iter().map(move |c| (r.seed, c)))
        .collect();
    if !cands.is_empty() {
        println!(
            "hang candidates (the first of each kind per seed), explored from where they stopped:"
        );
        for (seed, c) in cands {
            println!("  seed {seed}: {c}");
        }
    }
    println!("\ncoverage — goals:");
    for goal in Goal::ALL {
        let (g, what) = (goal.name(), goal.describe());
        let n = cov.goals.get(g).copied().unwrap_or(0);
        let mark = if n == 0 { "  NOT SEEN" } else { "" };
        println!("  {g:<20} {n:>10}  {what}{mark}");
    }
    println!("coverage — invariant premises (states in which the check had something to check):");
    for (k, n) in &cov.premises {
        println!("  {k:<40} {n:>10}");
    }
    println!("coverage — steps per kernel function:");
    for (k, n) in &cov.steps {
        println!("  {n:>10}  {k}");
    }
}

fn report_violation(
    a: &SimArgs,
    preset: Preset,
    feat: ublk_model::Features,
    m: &Model,
    seed: u64,
    path: Vec<ublk_model::Move>,
    v: ublk_model::Violation,
) -> Result<()> {
    let full = make_trace(m, preset, "sim", &path, Ending::Violation(&v));
    let f_full = a.out.join(format!(
        "sim-{}-seed{seed}-full.jsonl",
        switch_label(preset, feat)
    ));
    full.write(&f_full)?;
    let cex = Cex {
        scenario: m.scenario.clone(),
        path,
        violation: v,
    };
    let small = shrink(&cex, feat);
    let sm = Model::new(&small.scenario, feat).map_err(anyhow::Error::msg)?;
    let t = make_trace(
        &sm,
        preset,
        "sim-shrunk",
        &small.path,
        Ending::Violation(&small.violation),
    );
    let f_small = a.out.join(format!(
        "sim-{}-seed{seed}-shrunk.jsonl",
        switch_label(preset, feat)
    ));
    t.write(&f_small)?;
    if !a.json {
        println!(
            "seed {seed}: {} after {} steps; shrunk to {} steps, {} actors:",
            small.violation.inv,
            cex.path.len(),
            small.path.len(),
            small.scenario.actors.len()
        );
        print!("{}", print_trace(&sm, &small.path, None));
        println!(
            "  full trace: {}\n  shrunk trace: {}  (ublksim check --replay {})",
            f_full.display(),
            f_small.display(),
            f_small.display()
        );
    }
    Ok(())
}

/// Shrink a confirmed hang, save it as a trace `check --replay` accepts, and print it.
fn report_hang(
    a: &SimArgs,
    preset: Preset,
    feat: ublk_model::Features,
    m: &Model,
    seed: u64,
    sig: &Signature,
    h: &Hang,
) -> Result<()> {
    let inv = !a.liveness_only;
    let (sc, small) = shrink_hang(&m.scenario, feat, sig, h, inv);
    let sm = Model::new(&sc, feat).map_err(anyhow::Error::msg)?;
    let path: Vec<ublk_model::Move> = small.stem.iter().chain(&small.cycle).copied().collect();
    let t = make_trace_with(&sm, preset, "sim-shrunk", &path, Ending::Hang(&small), inv);
    let f = a
        .out
        .join(format!("sim-{}-seed{seed}-hang.jsonl", preset.name()));
    t.write(&f)?;
    if !a.json {
        let shape = if small.is_dead_end() {
            format!("a dead end after {} steps", small.stem.len())
        } else {
            format!(
                "a lasso: {} steps, then a {}-step cycle",
                small.stem.len(),
                small.cycle.len()
            )
        };
        println!(
            "seed {seed}: HANG {} — {sig}\n  shrunk to {shape}, {} actors:",
            small.prop,
            sc.actors.len()
        );
        let cycle = (!small.is_dead_end()).then_some(small.stem.len());
        print!("{}", print_trace_with(&sm, &path, cycle, inv));
        println!(
            "  ⟳ {}\n  trace: {}  (ublksim check --replay {})",
            small.desc,
            f.display(),
            f.display()
        );
    }
    Ok(())
}
