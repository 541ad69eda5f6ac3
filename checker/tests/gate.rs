//! The mutation gate: what `cargo mutants` runs for every mutant of the model's kernel
//! functions (`.cargo/mutants.toml`, `scripts/mutants`). It fails on any verdict other than
//! the declared ones: the default check of every preset (built-in scenarios and the s1
//! configuration sweep), and a fixed simulator sweep — a new finding signature, a declared
//! finding no longer found, or a state budget hit all fail it; and on any change of the
//! signatures found (recorded per preset in `tests/gate/`). It also fails when
//! the model no longer reproduces a trace of the conformance corpus (`traces/corpus/`: runs a
//! real kernel reproduced, step by step with the same results — what user space sees, which
//! no invariant looks at: a CQE's value, a bio's status), and when a scenario's injected
//! fault can no longer fire (its verdict would then say nothing about the fault), when a
//! seeded bug of the findings catalogue is no longer reported with its fix switch off (a
//! check weakened at the access shows only on a bug that trips it), and when a proposed fix
//! (a switch on in no preset) no longer removes its finding. A mutant that survives it
//! changes nothing the project checks.

use ublk_checker::explore::bfs::Explorer;
use ublk_checker::explore::known::{self, What};
use ublk_checker::explore::signature::Signature;
use ublk_checker::explore::verdict::{run_scenario, verify, CheckOpts, Verdict};
use ublk_checker::scenarios;
use ublk_checker::scenarios::sweep::{configurations, Level};
use ublk_model::config::CopyMode;
use ublk_model::{Model, Preset};
use ublk_sim::faults::FaultSet;
use ublk_sim::workload::{scenario, Quirk, SimConfig};
use ublk_sim::{simulate, RunOpts};
use ublk_traces::Trace;

/// What is wrong with one scenario's result on `preset`: a verdict other than the declared
/// ones (a budget cut is allowed where `cut_ok`), a new signature, a declared finding no
/// longer reached, a vacuous goal.
fn problems(
    preset: Preset,
    name: &str,
    r: &ublk_checker::explore::verdict::ScenarioResult,
    cut_ok: bool,
) -> Vec<String> {
    let p = preset.name();
    let mut bad = Vec::new();
    match &r.verdict {
        Verdict::Pass | Verdict::Known | Verdict::NotApplicable => {}
        Verdict::Incomplete if cut_ok => {}
        v => bad.push(format!("{p} {name}: {v:?}")),
    }
    let new = r.findings.iter().filter(|f| f.known.is_none());
    bad.extend(new.map(|f| format!("{p} {name}: new {}", f.signature)));
    bad.extend(r.unreached.iter().map(|u| format!("{p} {name}: {u}")));
    bad.extend(
        r.vacuous
            .iter()
            .map(|v| format!("{p} {name}: vacuous: {v}")),
    );
    bad
}

/// Problems of `scs` on `preset` (see [`problems`]).
fn clean(preset: Preset, scs: &[ublk_model::Scenario], max_states: u64) -> Vec<String> {
    let o = CheckOpts {
        max_states,
        ..CheckOpts::new(preset, preset.features())
    };
    scs.iter()
        .flat_map(|sc| {
            problems(
                preset,
                &sc.name,
                &run_scenario(sc, &o).expect("scenario runs"),
                false,
            )
        })
        .collect()
}

/// What the default check of `preset` finds: the built-in scenarios and the s1 sweep.
/// Returns the problems (a verdict other than the declared ones) and the findings, one line
/// each: `scenario: signature` for the built-in scenarios, `sweep: signature × configurations`
/// for the generated ones.
fn check(preset: Preset) -> (Vec<String>, Vec<String>) {
    let mut bad = Vec::new();
    let mut lines = Vec::new();
    let runs = [
        (scenarios::all(), 5_000_000),
        (configurations(Level::S1), 200_000),
    ];
    for (i, (scs, max_states)) in runs.into_iter().enumerate() {
        let o = CheckOpts {
            max_states,
            ..CheckOpts::new(preset, preset.features())
        };
        let mut sweep: std::collections::BTreeMap<String, usize> = Default::default();
        for sc in &scs {
            let r = run_scenario(sc, &o).expect("scenario runs");
            // a budget cut is allowed in the sweep
            bad.extend(problems(preset, &sc.name, &r, max_states < 1_000_000));
            for f in &r.findings {
                if i == 0 {
                    lines.push(format!("{}: {}", sc.name, f.signature));
                } else {
                    *sweep.entry(f.signature.to_string()).or_default() += 1;
                }
            }
        }
        lines.extend(sweep.into_iter().map(|(s, n)| format!("sweep: {s} × {n}")));
    }
    (bad, lines)
}

/// The default check of `preset` shows only declared findings, and exactly the findings
/// recorded in `checker/tests/gate/PRESET.txt`: a declaration matches a pattern (a function,
/// a message shape), so a changed model can trade one declared signature for another, or
/// show a declared one in other configurations, and still pass the first test — this one
/// sees it. After an intended change: `UBLKSIM_BLESS=1 cargo test --release --test gate`
/// rewrites the files (review the diff).
fn gate(preset: Preset) {
    let (bad, lines) = check(preset);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    recorded(preset.name(), &lines);
}

/// `lines` must be `checker/tests/gate/NAME.txt` (UBLKSIM_BLESS=1 rewrites it).
fn recorded(name: &str, lines: &[String]) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/gate")
        .join(format!("{name}.txt"));
    let text = lines.join("\n") + "\n";
    if std::env::var_os("UBLKSIM_BLESS").is_some() {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&file).unwrap_or_default();
    if want != text {
        let old: Vec<&str> = want.lines().collect();
        let new: Vec<&str> = text.lines().collect();
        let gone: Vec<_> = old.iter().filter(|l| !new.contains(l)).collect();
        let more: Vec<_> = new.iter().filter(|l| !old.contains(l)).collect();
        panic!(
            "{name}: the findings differ from {}\nno longer: {gone:#?}\nnew: {more:#?}",
            file.display()
        );
    }
}

#[test]
fn default_check_of_k72_shows_the_recorded_findings() {
    gate(Preset::K72);
}

#[test]
fn default_check_of_pre_shows_the_recorded_findings() {
    gate(Preset::Pre);
}

#[test]
fn default_check_of_post_shows_the_recorded_findings() {
    gate(Preset::Post);
}

#[test]
fn default_check_of_k612_shows_the_recorded_findings() {
    gate(Preset::K612);
}

#[test]
fn every_preset_is_gated() {
    assert_eq!(
        Preset::every().count(),
        4,
        "add a gate test for the new preset"
    );
}

#[test]
fn fixed_simulator_sweep_on_k72_shows_only_declared_findings() {
    let mut bad = Vec::new();
    for copy in [
        CopyMode::ZeroCopy,
        CopyMode::UserCopy,
        CopyMode::Copy,
        CopyMode::AutoBufReg,
    ] {
        // seeds 7 and 8 on two queues: a tag's slot is per queue (ublk_queue's ios[])
        for seed in 1..=8u64 {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5eed);
            let c = SimConfig {
                copy,
                queues: if seed > 6 { 2 } else { 1 },
                faults: FaultSet::all().swarm(&mut rng),
                quirks: Quirk::parse_list("all")
                    .unwrap()
                    .into_iter()
                    .filter(|_| rng.random_bool(0.5))
                    .collect(),
                ..SimConfig::default()
            };
            let m = Model::new(&scenario(&c).0, Preset::K72.features()).unwrap();
            let r = simulate(
                &m,
                &c.faults,
                &RunOpts {
                    seed,
                    steps: 40_000,
                    ..RunOpts::default()
                },
                |_| {},
            );
            if let Some((path, v)) = &r.violation {
                let sig = Signature::of_path(&m, path, v);
                if known::declared(&sig, What::Safety(v.inv), Preset::K72).is_none() {
                    bad.push(format!("{copy:?} seed {seed}: new {sig}"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_model_reproduces_the_conformance_corpus() {
    // the 7.2 corpus at the top, 6.12's in its own folder (the folders of the kernel table)
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/corpus");
    let mut bad = Vec::new();
    let mut n = 0;
    for dir in [root.clone(), root.join("6.12")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_none_or(|x| x != "jsonl") {
                continue;
            }
            n += 1;
            let t = Trace::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            // a prefix: the corpus records programs, not findings
            match verify(&t, true) {
                Ok(v) if v.mismatch.is_none() => {}
                Ok(v) => bad.push(format!("{}: {}", p.display(), v.mismatch.unwrap())),
                Err(e) => bad.push(format!("{}: {e}", p.display())),
            }
            // the steps fit, but are they the model's own sequential run of the program?
            // A replay runs the model's prediction, and the trace is a prediction the kernel
            // confirmed: an action the trace leaves pending (a FETCH waiting for ub->mutex)
            // must not finish at once
            if let Err(e) = sequential_run_is_the_trace(&t) {
                bad.push(format!("{}: {e}", p.display()));
            }
        }
    }
    assert!(n >= 12, "{n} corpus traces");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The model's sequential run of the trace's program (its user actions in order, the kernel
/// settled after each, as `ublksim conform` compiles it) is exactly the trace's steps.
fn sequential_run_is_the_trace(t: &Trace) -> Result<(), String> {
    use ublk_checker::conform::compile::{compile, order_from_trace, ModelProgram};
    let order = order_from_trace(t)?;
    let mp = ModelProgram {
        id: "corpus".into(),
        scenario: t.header.scenario.clone(),
        order,
    };
    let c = compile(&mp, t.header.features)?;
    let show = |s: &ublk_traces::TraceStep| format!("{} {} → {:?}", s.actor, s.func, s.result);
    for (i, (a, b)) in t.steps.iter().zip(&c.steps).enumerate() {
        if (&a.actor, &a.func, a.result) != (&b.actor, &b.func, b.result) {
            return Err(format!(
                "step {}: the trace has {}, the model's sequential run of its program {}",
                i + 1,
                show(a),
                show(b)
            ));
        }
    }
    if t.steps.len() != c.steps.len() {
        return Err(format!(
            "the trace has {} steps, the model's sequential run of its program {}",
            t.steps.len(),
            c.steps.len()
        ));
    }
    Ok(())
}

#[test]
fn every_injected_fault_fires_in_its_scenarios() {
    // a built-in scenario that injects a one-shot fault (fail_io_timeout dropping a
    // completion, the first NEED_GET_DATA copy failing) must reach a state where the fault
    // fired, on every preset that runs it: a PASS or KNOWN of a scenario whose fault never
    // fires is about another scenario
    let mut bad = Vec::new();
    let mut n = 0;
    for p in Preset::every() {
        for sc in scenarios::all() {
            let dev = &sc.dev;
            if !(dev.fake_timeout || dev.get_data_fails)
                || Model::unsupported(&sc, p.features()).is_some()
            {
                continue;
            }
            n += 1;
            let m = Model::new(&sc, p.features()).unwrap();
            let (timeout, get_data) = faults_fired(&m);
            for (injected, fired, what) in [
                (dev.fake_timeout, timeout, "fail_io_timeout"),
                (
                    dev.get_data_fails,
                    get_data,
                    "the failing NEED_GET_DATA copy",
                ),
            ] {
                if injected && !fired {
                    bad.push(format!("{} {}: {what} never fires", p.name(), sc.name));
                }
            }
        }
    }
    assert!(n >= 5, "{n} scenario runs with a fault");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Whether (fail_io_timeout, the failing NEED_GET_DATA copy) fire in some reachable state.
fn faults_fired(m: &Model) -> (bool, bool) {
    let (mut timeout, mut get_data) = (false, false);
    // reachability only: the step that fires a fault may break a state invariant (B-11 on
    // PRE), and that state must count
    let x = Explorer::new(m)
        .all_violations(true)
        .state_invariants(false);
    x.run_graph(|s| {
        timeout |= s.dev.fake_timeout_used;
        get_data |= s.dev.get_data_fail_used;
    });
    (timeout, get_data)
}

#[test]
fn the_failing_get_data_copy_needs_a_write() {
    // only a WRITE's data is copied in: 6.12 takes its NEED_GET_DATA pass and can fail to
    // map only for a WRITE (ublk_need_map_req; ublk_map_io maps nothing for a READ), 7.2 runs
    // ublk_get_data only for the NEED_GET_DATA command a WRITE's dispatch asks for. So on a
    // NEED_GET_DATA device whose first copy fails, a READ is served straight.
    use ublk_checker::scenarios::dsl::*;
    use ublk_model::config::*;
    let sc = sc(
        "ngd-read-copy-fault",
        "a READ on a NEED_GET_DATA device whose first data copy fails",
        DevConfig {
            copy: CopyMode::Copy,
            need_get_data: true,
            get_data_fails: true,
            ..DevConfig::default()
        },
        vec![
            server(
                "daemon",
                true,
                vec![
                    fetch(0, false),
                    wait(0),
                    commit(0, 4096, true),
                    wait(0),
                    Op::Exit,
                ],
            ),
            submit(&[Bio::Read]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
        ],
    );
    let mut bad = Vec::new();
    for p in Preset::every() {
        if Model::unsupported(&sc, p.features()).is_some() {
            bad.push(format!("{}: refuses the scenario", p.name()));
            continue;
        }
        let m = Model::new(&sc, p.features()).unwrap();
        // the READ is served (the scenario does what it says) …
        let mut served = false;
        Explorer::new(&m).run_graph(|s| served |= s.reqs.iter().any(|r| r.ended > 0 && r.res == 0));
        // … and the copy fault never fires
        let (_, get_data) = faults_fired(&m);
        if !served || get_data {
            bad.push(format!(
                "{}: READ served {served}, the failing copy fires {get_data}",
                p.name()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_seeded_bug_is_still_reported() {
    // A mutant that weakens a safety check inside a step (an invariant checked at the
    // access) changes nothing on a correct kernel: only a bug that trips the check can show
    // it. Every seeded case and small witness of the findings catalogue, explored on its
    // preset with the bug's fix switch turned off, must still report a new (undeclared)
    // signature of the invariant the bug breaks (a few thousand states each).
    use ublk_checker::explore::findings::FINDINGS;
    let mut bad = Vec::new();
    let mut lines = Vec::new();
    let mut n = 0;
    for f in FINDINGS {
        let cases = f.seeded.iter().map(|s| (s.preset, s.scenario, s.inv));
        let witness = f.witness.as_ref().map(|w| (w.preset, w.scenario, w.inv));
        for (preset, name, inv) in cases.chain(witness) {
            let fix = f.fix.expect("a seeded bug has a fix switch");
            n += 1;
            let sc = scenarios::by_name(name).expect("the seeded scenario exists");
            let m = Model::new(&sc, preset.features().without(fix)).unwrap();
            let r = Explorer::new(&m)
                .all_violations(true)
                .max_states(1_000_000)
                .run();
            let new = |sig: &Signature, v: &ublk_model::Violation| {
                v.inv == inv && known::declared(sig, What::Safety(v.inv), preset).is_none()
            };
            for (sig, _, _) in &r.violations {
                lines.push(format!("{} {} {name}: {sig}", f.id, preset.name()));
            }
            if !r.violations.iter().any(|(sig, _, v)| new(sig, v)) {
                let got: Vec<_> = r.violations.iter().map(|(s, _, _)| s.to_string()).collect();
                bad.push(format!(
                    "{} on {} ({name}, without {}): no new {inv:?} in {} states; found {got:?}",
                    f.id,
                    preset.name(),
                    fix.name(),
                    r.states
                ));
            }
        }
    }
    assert!(n >= 18, "{n} seeded cases and witnesses");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // and every signature each seeded bug shows is the recorded one: a check weakened at an
    // access a seeded bug trips besides another still shows as a changed signature
    recorded("seeded", &lines);
}

#[test]
fn three_registrations_of_one_request_are_no_overflow() {
    // io->ref saturates far above what any scenario takes (refcount_inc_not_zero's
    // overflow check): a helper thread that registers one request's buffer at three table
    // indices holds INIT + 3 references, which is no overflow (S4), on every preset that
    // lets a helper register.
    use ublk_checker::scenarios::dsl::*;
    use ublk_model::config::*;
    let sc = sc(
        "three-registrations",
        "a helper registers the daemon's request at three table indices",
        DevConfig {
            copy: CopyMode::ZeroCopy,
            table_size: 3,
            ..DevConfig::default()
        },
        vec![
            server(
                "daemon",
                true,
                vec![
                    fetch(0, false),
                    wait(0),
                    commit(0, 4096, false),
                    wait(0),
                    Op::Exit,
                ],
            ),
            server(
                "helper",
                false,
                vec![
                    reg(0, 0),
                    reg(0, 1),
                    reg(0, 2),
                    unreg(0, 0),
                    unreg(0, 1),
                    unreg(0, 2),
                    Op::ThreadExit,
                ],
            ),
            submit(&[Bio::Read]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
        ],
    );
    let mut bad = Vec::new();
    let mut three = Vec::new();
    for p in Preset::every() {
        bad.extend(clean(p, std::slice::from_ref(&sc), 5_000_000));
        if Model::unsupported(&sc, p.features()).is_some() {
            continue;
        }
        // the three registrations do coexist (else the check says nothing)
        let m = Model::new(&sc, p.features()).unwrap();
        let mut held = 0;
        Explorer::new(&m).run_graph(|s| held = held.max(s.nodes.iter().flatten().count()));
        if held == 3 {
            three.push(p.name());
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(
        three.contains(&"K72"),
        "three buffers held at once on {three:?}"
    );
}

#[test]
fn the_daemons_unregister_before_commit_succeeds() {
    // UNREGISTER_IO_BUF of a buffer the daemon registered, before its COMMIT, can return 0
    // on every kernel with zero copy — before p09 too (only an UNREGISTER after COMMIT is
    // refused there): scenario daemon-zc, which every such preset runs (other schedules see
    // STOP_DEV first: -EINVAL, -EBUSY)
    use ublk_model::Func;
    let sc = scenarios::by_name("daemon-zc").unwrap();
    let mut bad = Vec::new();
    let mut n = 0;
    for p in Preset::every() {
        if Model::unsupported(&sc, p.features()).is_some() {
            continue;
        }
        n += 1;
        let m = Model::new(&sc, p.features()).unwrap();
        let r = Explorer::new(&m).observe().run();
        let unreg = Func::UblkChUringCmdUnregisterIoBuf;
        let got: Vec<i32> = r
            .observed
            .iter()
            .filter(|(a, f, _)| a == "daemon" && *f == unreg)
            .map(|(_, _, v)| *v)
            .collect();
        if !got.contains(&0) {
            bad.push(format!("{}: the daemon's UNREGISTER → {got:?}", p.name()));
        }
    }
    assert!(n >= 3, "{n} presets with zero copy");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_proposed_fix_removes_its_finding() {
    // A finding whose fix is a proposal (a switch on in no preset, e.g. fix-o6): each
    // scenario that declares it on a preset no longer shows it with the switch turned on —
    // the proposal's code paths run in no preset's check otherwise.
    use ublk_checker::explore::findings::FINDINGS;
    let mut bad = Vec::new();
    let mut n = 0;
    for f in FINDINGS {
        let Some(fix) = f.fix else { continue };
        if Preset::every().any(|p| p.features().has(fix)) {
            continue;
        }
        for p in Preset::every() {
            let declared: Vec<_> = known::all()
                .filter(|k| k.bug == f.id && !k.scenario.is_empty() && k.in_preset(p))
                .collect();
            for k in &declared {
                n += 1;
                let sc = scenarios::by_name(k.scenario).expect("declared scenario");
                let o = CheckOpts::new(p, p.features().with(fix));
                let r = run_scenario(&sc, &o).expect("scenario runs");
                if r.verdict == Verdict::Incomplete {
                    bad.push(format!(
                        "{} {} +{}: incomplete",
                        p.name(),
                        sc.name,
                        fix.name()
                    ));
                }
                for x in &r.findings {
                    if k.matches(&x.signature, x.what()) {
                        bad.push(format!(
                            "{} {} +{}: still {}",
                            p.name(),
                            sc.name,
                            fix.name(),
                            x.signature
                        ));
                    }
                }
            }
        }
    }
    assert!(n >= 1, "{n} declarations with a proposed fix");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_per_queue_daemon_serves_every_tag() {
    // 6.12's per-queue daemon: two reads in flight on one queue of depth 2, each committed
    // by the queue's daemon on its own tag, shows no new finding on K612 (its daemon-only
    // checks find the queue of a slot from the slot's index; the gate's other K612 inputs
    // reach them on tag 0 only — a mutant of that lookup survived them)
    use ublk_checker::scenarios::dsl::*;
    use ublk_model::config::*;
    let sc = sc(
        "two-tags-one-daemon",
        "copy mode, depth 2: two reads in flight, one daemon commits both",
        DevConfig {
            copy: CopyMode::Copy,
            depth: 2,
            ..DevConfig::default()
        },
        vec![
            server(
                "daemon",
                true,
                vec![
                    fetch(0, true),
                    fetch(1, true),
                    wait(1),
                    commit(1, 4096, true),
                    wait(0),
                    commit(0, 4096, true),
                    wait(1),
                    wait(0),
                    Op::Exit,
                ],
            ),
            submit(&[Bio::Read]),
            submit(&[Bio::Read]),
            control(&[CtrlOp::StartDev, CtrlOp::StopDev]),
        ],
    );
    let bad = clean(Preset::K612, std::slice::from_ref(&sc), 2_000_000);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
