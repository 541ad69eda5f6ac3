//! `ublksim check`: explore scenarios (or re-execute a saved trace) and report a verdict per
//! scenario.

use crate::cmd::input::{switch_set, TraceInput};
use crate::explore::bfs::Order;
use crate::explore::sweep;
use crate::explore::sweep_file::{journal_path, resumed, Journal, SweepHeader};
use crate::explore::verdict::{self, CheckOpts, Found, Verdict};
use crate::scenarios;
use crate::scenarios::sweep::{configurations as sweep_configs, Level};
use std::path::PathBuf;
use std::time::Duration;
use ublk_model::{Model, Preset};

#[derive(clap::Args)]
pub struct CheckArgs {
    #[arg(long, default_value = "K72", help = Preset::help())]
    pub preset: String,
    /// Scenario(s) to run (default: all).
    #[arg(long = "scenario", short = 's')]
    pub scenarios: Vec<String>,
    /// Turn a switch on, or a seeded bug on (e.g. `--with B-8`).
    #[arg(long)]
    pub with: Vec<String>,
    /// Turn a switch off (e.g. `--without p02`).
    #[arg(long)]
    pub without: Vec<String>,
    /// Depth-first instead of breadth-first (counterexamples not shortest).
    #[arg(long)]
    pub dfs: bool,
    /// Stop a scenario after this many distinct states (loom, shuttle: executions).
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_states: u64,
    /// Stop a scenario after this many seconds (every engine).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub max_seconds: u64,
    /// Keep whole states in the visited set instead of 128-bit fingerprints (no omission
    /// possible; more memory — for small configurations).
    #[arg(long)]
    pub exact: bool,
    /// Stop a scenario (INCOMPLETE, what was found so far kept) when the process's
    /// resident memory reaches this many MiB.
    #[arg(long, value_parser = clap::value_parser!(u64).range(16..=1_048_576))]
    pub max_memory: Option<u64>,
    /// No progress on stderr (it is shown only when stderr is a terminal anyway).
    #[arg(long, short)]
    pub quiet: bool,
    /// Folder for counterexample traces (`<PRESET><switches>-<scenario>.jsonl`).
    #[arg(long, default_value = "out/traces")]
    pub out: PathBuf,
    /// Create the missing parent folders of --out.
    #[arg(long)]
    pub parents: bool,
    /// Print a JSON report instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Re-execute a saved trace instead of exploring (every step and the outcome must match;
    /// the options of an exploration do not apply).
    #[arg(long, conflicts_with_all = [
        "preset", "scenarios", "with", "without", "dfs", "max_states", "max_seconds", "out", "parents",
        "json", "no_liveness", "liveness_only", "engine", "exact", "max_memory", "preemption_bound", "max_branches",
        "iterations", "dfs_iterations", "pct_depth", "seed", "workers", "processes", "process",
        "hostfile", "port",
    ])]
    pub replay: Option<PathBuf>,
    /// Safety only: skip the search for hangs (L1–L5).
    #[arg(long)]
    pub no_liveness: bool,
    /// Symmetry reduction: states that differ only by a swap of interchangeable submitters
    /// (same queue, same bios) are stored once. Safety only: needs --no-liveness.
    #[arg(long, requires = "no_liveness")]
    pub symmetry: bool,
    /// Partial-order reduction: from a state where an actor's next step is local
    /// (independent of everything the others can do, read by no property: a reader's
    /// bio_endio), only that step is explored. Safety only: needs --no-liveness.
    #[arg(long, requires = "no_liveness")]
    pub partial_order: bool,
    /// Hangs only: do not stop at the state invariants S4–S6, S9 (a bug that
    /// breaks one first is then shown as the hang it leads to).
    #[arg(long, conflicts_with = "no_liveness")]
    pub liveness_only: bool,
    /// Also explore the generated configurations of this scope (`s1`: depth 1, every data
    /// path, server shape, fault and control program; `s2`: and depth 2, and two queues of
    /// depth 1; `s3`: and two offload threads or three clients at depth 2, and two queues of
    /// depth 2), or `none`.
    /// Default: `s1` when no scenario is named.
    #[arg(long, value_parser = ["none", "s1", "s2", "s3"])]
    pub scope: Option<String>,
    /// Sweep: explore only shard I of N of the configurations (`I/N`, I from 0).
    #[arg(long, default_value = "0/1")]
    pub shard: String,
    /// Sweep: distinct states per configuration before it is cut (counted as cut).
    #[arg(long, default_value_t = 200_000)]
    pub budget: u64,
    /// Sweep: worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Sweep: append the smallest configuration of every new signature to this list of
    /// kept scenarios (`checker/src/scenarios/found.txt`: a rebuild puts them in every
    /// default check).
    #[arg(long)]
    pub keep_new: Option<PathBuf>,
    /// Sweep: write every configuration's result as JSON here (`ublksim sweep-merge` merges
    /// the files of a run's shards). While the sweep runs, each finished configuration is
    /// appended to FILE.journal, removed once FILE is written.
    #[arg(long)]
    pub sweep_json: Option<PathBuf>,
    /// Sweep: go on from the journal an interrupted run with the same options left next to
    /// --sweep-json FILE (or from FILE itself): only the configurations not yet explored run,
    /// and the report is the one an uninterrupted run writes.
    #[arg(long, requires = "sweep_json")]
    pub resume: bool,
    #[command(flatten)]
    pub engine: crate::explore::engines::EngineArgs,
    #[command(flatten)]
    pub input: crate::cmd::input::TraceInput,
}

pub fn run(a: CheckArgs) -> anyhow::Result<i32> {
    if let Some(f) = &a.replay {
        let r = verdict::replay_file_with(f, &a.input.replay_opts(TraceInput::MAX_STEPS))
            .map_err(anyhow::Error::msg)?;
        print!("{}", r.text);
        if let Some(why) = r.mismatch {
            eprintln!(
                "ublksim: replay of {} does not end as the trace records: {why}",
                f.display()
            );
            return Ok(1);
        }
        if !r.has_outcome {
            println!("replay reproduces the recorded steps (a prefix: no outcome recorded)");
            return Ok(0);
        }
        println!("replay reproduces the recorded outcome");
        return Ok(0);
    }
    if a.input.prefix
        || a.input.max_steps.is_some()
        || a.input.max_trace_bytes != TraceInput::DEFAULT_MAX_BYTES
    {
        anyhow::bail!("--prefix, --max-steps and --max-trace-bytes apply only with --replay");
    }
    let preset = crate::cmd::input::preset(&a.preset)?;
    let features = switch_set(preset, &a.with, &a.without)?;
    let scs = scenarios::select(&a.scenarios).map_err(anyhow::Error::msg)?;
    crate::cmd::input::prepare_traces_dir(&a.out, a.parents)?;
    let spin = spinner(a.quiet);
    let opts = CheckOpts {
        order: if a.dfs { Order::Dfs } else { Order::Bfs },
        max_states: a.max_states,
        max_time: Duration::from_secs(a.max_seconds),
        out: Some(a.out.clone()),
        liveness: !a.no_liveness,
        safety: !a.liveness_only,
        exact: a.exact,
        symmetry: a.symmetry,
        partial_order: a.partial_order,
        max_memory: a.max_memory.map(|m| m << 20),
        progress: spin.clone().map(|s| {
            std::sync::Arc::new(move |n: &str, p: &crate::explore::bfs::Progress| s.update(n, p))
                as crate::explore::verdict::ProgressFn
        }),
        ..CheckOpts::new(preset, features)
    };
    if a.symmetry && a.engine.engine != crate::explore::engines::EngineKind::Explorer {
        anyhow::bail!("--symmetry applies to the explorer (the default engine) only");
    }
    if a.partial_order && a.engine.engine != crate::explore::engines::EngineKind::Explorer {
        anyhow::bail!("--partial-order applies to the explorer (the default engine) only");
    }
    if a.engine.engine == crate::explore::engines::EngineKind::Timely {
        if a.scope.as_deref().is_some_and(|s| s != "none") {
            anyhow::bail!("--engine timely explores the named scenarios only (no --scope sweep)");
        }
        if a.dfs || a.exact || a.max_memory.is_some() {
            anyhow::bail!("--engine timely is breadth-first on fingerprints: no --dfs, --exact or --max-memory");
        }
        return crate::explore::timely::check::run_check(&scs, &opts, &a.engine.timely, a.json)
            .map_err(anyhow::Error::msg);
    }
    if let Some(e) = a.engine.engine().map_err(anyhow::Error::msg)? {
        return crate::explore::engines::run_check(&scs, &opts, e, a.json)
            .map_err(anyhow::Error::msg);
    }
    let mut results = Vec::new();
    let sw = features.diff_from(preset.features()).join(" ");
    if !a.json {
        println!("ublksim check — preset {} {}", preset.name(), sw);
        println!(
            "{:<34} {:<10} {:>10} {:>12} {:>6} {:>8} {:>10}",
            "scenario", "verdict", "states", "transitions", "depth", "time", "states/s"
        );
    }
    for sc in &scs {
        let r = verdict::run_scenario(sc, &opts).map_err(anyhow::Error::msg);
        if let Some(s) = &spin {
            s.clear();
        }
        let r = r?;
        if !a.json {
            let v = match r.verdict {
                Verdict::Pass => "PASS".to_string(),
                Verdict::Fail => format!("FAIL {}", r.finding().unwrap_or_default()),
                Verdict::Incomplete => "INCOMPLETE".into(),
                Verdict::Known => format!("KNOWN {}", r.finding().unwrap_or_default()),
                Verdict::NotApplicable => "n/a".into(),
            };
            println!(
                "{:<34} {:<10} {:>10} {:>12} {:>6} {:>7.2}s {:>10.0}",
                r.scenario, v, r.states, r.transitions, r.max_depth, r.seconds, r.states_per_sec
            );
        }
        results.push(r);
    }
    if !a.json {
        for r in results
            .iter()
            .filter(|r| r.verdict == Verdict::NotApplicable)
        {
            let why = r.stop_reason.as_deref().unwrap_or_default();
            println!("\n{} — n/a: {why}", r.scenario);
        }
        for r in results.iter().filter(|r| r.verdict == Verdict::Incomplete) {
            let why = r.stop_reason.as_deref().unwrap_or_default();
            println!("\n{} — INCOMPLETE: {why}", r.scenario);
        }
        for (r, sc) in results.iter().zip(&scs) {
            for u in &r.unreached {
                println!("\n{} — declared finding {u}", r.scenario);
            }
            for v in &r.vacuous {
                println!("\n{} — VACUOUS: goal {v}", r.scenario);
            }
            if r.findings.is_empty() {
                continue;
            }
            let m = Model::new(sc, features).map_err(anyhow::Error::msg)?;
            for f in &r.findings {
                print_finding(&r.scenario, &m, f);
            }
        }
        let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
        let mut sigs = std::collections::BTreeMap::new();
        for f in results.iter().flat_map(|r| &r.findings) {
            sigs.entry(f.signature.clone()).or_insert(f.known.is_some());
        }
        let known = sigs.values().filter(|k| **k).count();
        let total: u64 = results.iter().map(|r| r.states).sum();
        let unreached: usize = results.iter().map(|r| r.unreached.len()).sum();
        let vacuous = results.iter().filter(|r| !r.vacuous.is_empty()).count();
        println!(
            "\n{} passed, {} failed, {} known, {} incomplete, {} n/a; {} distinct finding signature(s): {} new, {} known{}{}",
            count(Verdict::Pass),
            count(Verdict::Fail),
            count(Verdict::Known),
            count(Verdict::Incomplete),
            count(Verdict::NotApplicable),
            sigs.len(),
            sigs.len() - known,
            known,
            if unreached > 0 {
                format!("; {unreached} declared finding(s) no longer found")
            } else {
                String::new()
            },
            if vacuous > 0 {
                format!("; {vacuous} scenario(s) vacuous (a declared goal never reached)")
            } else {
                String::new()
            }
        );
        println!(
            "visited states are kept as xxh3-128 fingerprints: the chance that two of the {total} \
             states explored were merged is below {:.0e}",
            crate::explore::bfs::omission_bound(total).max(f64::MIN_POSITIVE)
        );
        if a.symmetry {
            println!(
                "symmetry reduction: states that differ only by a swap of interchangeable \
                 submitters were counted and stored once (safety only)"
            );
        }
        if a.partial_order {
            println!(
                "partial-order reduction: from a state with a local step only that step was \
                 explored (safety only; a counterexample may take a local step early)"
            );
        }
    } else {
        let mut report = serde_json::json!({
            "engine": if a.dfs { "dfs" } else { "bfs" },
            "preset": preset.name(),
            "switches": features.diff_from(preset.features()),
            "results": results,
        });
        let reductions: Vec<&str> = [(a.symmetry, "symmetry"), (a.partial_order, "partial-order")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if !reductions.is_empty() {
            report["reductions"] = serde_json::json!(reductions);
        }
        crate::cmd::report::print("check", report)?;
    }
    let mut failed = results
        .iter()
        .any(|r| r.verdict == Verdict::Fail || !r.unreached.is_empty() || !r.vacuous.is_empty());
    let incomplete = results.iter().any(|r| r.verdict == Verdict::Incomplete);
    let scope = match (&a.scope, a.scenarios.is_empty()) {
        (Some(s), _) => s.clone(),
        (None, true) => "s1".into(),
        (None, false) => "none".into(),
    };
    if scope != "none" {
        let level = Level::parse(&scope).map_err(anyhow::Error::msg)?;
        let new = run_sweep(&a, level, &opts)?;
        failed |= new > 0;
    }
    // exit codes: 0 pass/known, 1 a failure, 3 nothing failed but a limit stopped a scenario
    Ok(if failed {
        1
    } else if incomplete {
        3
    } else {
        0
    })
}

/// A spinner on stderr showing the scenario being explored (states, depth, rate, memory),
/// when stderr is a terminal and `--quiet` is not given; cleared after each scenario so it
/// never mixes with the table on stdout.
#[derive(Default)]
struct Spinner(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl Spinner {
    fn update(&self, name: &str, p: &crate::explore::bfs::Progress) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let bar = g.get_or_insert_with(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg}")
                    .expect("a valid template"),
            );
            b
        });
        let rate = p.states as f64 / p.elapsed.as_secs_f64().max(1e-9);
        let mem = p
            .rss_bytes
            .map_or(String::new(), |b| format!(", {} MiB", b >> 20));
        bar.set_message(format!(
            "{name}: {} states, depth {}, {:.0} states/s{mem}",
            p.states, p.depth, rate
        ));
        bar.tick();
    }

    fn clear(&self) {
        if let Some(b) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

fn spinner(quiet: bool) -> Option<std::sync::Arc<Spinner>> {
    (!quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| std::sync::Arc::new(Spinner::default()))
}

/// Append the smallest configuration of each new signature of `rep` to the kept list `f`
/// (names already there are not repeated; the file must be a regular file or missing).
fn keep_new(f: &std::path::Path, rep: &crate::explore::sweep::SweepReport) -> anyhow::Result<()> {
    use std::io::Write;
    let old = match std::fs::symlink_metadata(f) {
        Ok(md) if !md.file_type().is_file() => {
            anyhow::bail!("--keep-new {}: not a regular file", f.display())
        }
        Ok(_) => std::fs::read_to_string(f)?,
        Err(_) => String::new(),
    };
    let have: Vec<&str> = crate::scenarios::found::names_in(&old);
    let mut add = String::new();
    for s in rep.signatures.iter().filter(|s| s.known.is_none()) {
        if have.contains(&s.smallest.as_str()) || add.contains(&format!("{} ", s.smallest)) {
            continue;
        }
        add.push_str(&format!("{}  # {}\n", s.smallest, s.signature));
    }
    if add.is_empty() {
        return Ok(());
    }
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(f)?;
    out.write_all(add.as_bytes())?;
    eprintln!(
        "kept {} configuration(s) in {} (rebuild to check them by default)",
        add.lines().count(),
        f.display()
    );
    Ok(())
}

/// `I/N` → (I, N).
fn parse_shard(s: &str) -> anyhow::Result<(usize, usize)> {
    let bad = || anyhow::anyhow!("--shard takes I/N with 0 <= I < N (got '{s}')");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The generated configurations of `level` (this shard), explored and summarised by
/// signature; returns the number of new signatures.
fn run_sweep(a: &CheckArgs, level: Level, base: &CheckOpts) -> anyhow::Result<usize> {
    let (shard, of) = parse_shard(&a.shard)?;
    let all = sweep_configs(level);
    let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
    let opts = CheckOpts {
        max_states: a.budget,
        out: None,
        order: base.order,
        max_time: base.max_time,
        liveness: base.liveness,
        safety: base.safety,
        exact: base.exact,
        max_memory: base.max_memory,
        symmetry: base.symmetry,
        partial_order: base.partial_order,
        ..CheckOpts::new(base.preset, base.features)
    };
    let header = SweepHeader::new(&opts, level, (shard, of), all.len());
    let done = match (&a.sweep_json, a.resume) {
        (Some(f), true) => resumed(f, &header, &names).map_err(anyhow::Error::msg)?,
        _ => vec![],
    };
    let configs: Vec<(usize, ublk_model::Scenario)> = (all.into_iter().enumerate())
        .filter(|(i, _)| header.holds(*i) && !done.iter().any(|c| c.index == *i))
        .collect();
    let mut journal = match &a.sweep_json {
        Some(f) => {
            Some(Journal::start(&journal_path(f), &header, &done).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !a.quiet;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(configs.len() as u64),
        if tty {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "  sweep {msg}: {pos}/{len} configurations {wide_bar} {elapsed}",
        )
        .expect("a valid template"),
    );
    bar.set_message(format!("{level:?}"));
    bar.set_position(done.len() as u64);
    let rep = sweep::run(header, &configs, done, &opts, threads, |c, n| {
        bar.set_position(n as u64);
        journal.as_mut().map_or(Ok(()), |j| j.append(c))
    })
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    if let Some(f) = &a.sweep_json {
        ublk_traces::write_atomic(f, serde_json::to_string_pretty(&rep)?.as_bytes())?;
        drop(journal);
        std::fs::remove_file(journal_path(f))?;
    }
    // the shortest counterexample of each signature, saved; new ones printed in full
    for s in &rep.signatures {
        let c = rep
            .configs
            .iter()
            .find(|c| c.name == s.shortest)
            .expect("the configuration is in the report");
        let f = c
            .findings
            .iter()
            .find(|f| f.signature == s.signature)
            .expect("the finding is in its configuration");
        let file = a
            .out
            .join(format!("{}-{}.jsonl", base.preset.name(), c.name));
        // a configuration a resumed run read back has no trace: explored again for it
        let again;
        let f = match &f.trace {
            Some(_) => f,
            None => {
                again = explore_again(&sweep_configs(level)[c.index], &opts, &s.signature)?;
                &again
            }
        };
        if let Some(t) = &f.trace {
            t.write(&file)?;
        }
        if !a.json && s.known.is_none() {
            let sc = sweep_configs(level)
                .into_iter()
                .nth(c.index)
                .expect("numbered in the grammar");
            let m = Model::new(&sc, base.features).map_err(anyhow::Error::msg)?;
            let mut f = f.clone();
            f.trace_file = Some(file.display().to_string());
            print_finding(&c.name, &m, &f);
        }
    }
    if let Some(f) = &a.keep_new {
        keep_new(f, &rep)?;
    }
    if !a.json {
        print!("{}", rep.summary());
    }
    Ok(rep.new_signatures())
}

/// `sc` explored again for the counterexample of `sig` (a result read back has none).
fn explore_again(
    sc: &ublk_model::Scenario,
    opts: &CheckOpts,
    sig: &crate::explore::signature::Signature,
) -> anyhow::Result<Found> {
    let r = verdict::run_scenario(sc, opts).map_err(anyhow::Error::msg)?;
    (r.findings.into_iter())
        .find(|f| &f.signature == sig)
        .ok_or_else(|| anyhow::anyhow!("{}: explored again, it no longer shows {sig}", sc.name))
}

/// One finding of a scenario: what it is, its signature, whether it is known, and its
/// shortest counterexample step by step.
fn print_finding(scenario: &str, m: &Model, f: &Found) {
    let Some(t) = &f.trace else { return };
    let path: Vec<ublk_model::Move> = t.steps.iter().map(|s| s.mv()).collect();
    let tag = if f.known.is_some() { "KNOWN " } else { "NEW " };
    let what = f.what();
    let shape = match &f.hang {
        Some(h) if h.cycle_steps > 0 => format!(
            "a lasso: {} steps, then a {}-step cycle",
            h.stem_steps, h.cycle_steps
        ),
        Some(h) => format!("a dead end after {} steps", h.stem_steps),
        None => format!("{} steps", path.len()),
    };
    println!("\n{scenario} — {tag}{what} in {shape}:");
    println!("  signature: {}", f.signature);
    if let Some(k) = &f.known {
        println!("  known: {k}");
    }
    let cycle = t
        .outcome
        .as_ref()
        .and_then(|o| o.hang.as_ref())
        .and_then(|h| h.cycle_start);
    print!(
        "{}",
        verdict::print_trace_with(
            m,
            &path,
            cycle.map(|c| c as usize),
            t.header.state_invariants
        )
    );
    if let (Some(h), Some(rec)) = (&f.hang, t.outcome.as_ref().and_then(|o| o.hang.as_ref())) {
        let end = if h.cycle_steps > 0 {
            "the cycle is fair and repeats forever"
        } else {
            "dead end: no actor can move"
        };
        println!(
            "  ⟳ HANG {} ({}): {}; {end}",
            rec.property,
            rec.property.describe(),
            rec.obligation
        );
    }
    if let Some(file) = &f.trace_file {
        println!("  trace saved: {file}  (replay: ublksim check --replay {file})");
    }
}
