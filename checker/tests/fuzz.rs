//! Fuzzing without nightly (issue #16): proptest drives (1) mutated valid traces through the
//! loader, the replay check and the walk of `explain`/`view`, which must answer Ok or a clean
//! Err, never panic; (2) random scenarios through the validator and, when accepted, a bounded
//! exploration whose counterexamples must replay.  A fixed budget of cases per run
//! (`PROPTEST_CASES` raises it); inputs that once crashed are kept in
//! `traces/tests/regressions/` and replayed by `regressions_stay_fixed`.

use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;
use ublk_checker::explore::bfs::{Explorer, Stop};
use ublk_checker::explore::liveness::{find_hang, LiveNode};
use ublk_checker::explore::verdict::{self, make_trace, verify, CheckOpts, Ending};
use ublk_checker::scenarios;
use ublk_checker::teach::explain::walk_with;
use ublk_model::{
    apply_switches, ActorSpec, Bio, CopyMode, CtrlOp, DevConfig, Model, Op, Preset, Recovery,
    Scenario,
};
use ublk_traces::{Limits, Trace};

/// Valid traces to mutate: a violation, a lasso, a dead end, a safety trace of K612.
fn bases() -> &'static Vec<String> {
    static B: OnceLock<Vec<String>> = OnceLock::new();
    B.get_or_init(|| {
        let mut v = Vec::new();
        for (preset, with, name) in [
            (Preset::K72, "B-8", "register-vs-server-exit"),
            (Preset::K72, "", "exit-before-unregister"),
            (Preset::K72, "", "stop-with-fd-held"),
            (Preset::K72, "B-5", "concurrent-fetch"),
        ] {
            let with: Vec<String> = [with]
                .iter()
                .filter(|w| !w.is_empty())
                .map(|w| w.to_string())
                .collect();
            let f = apply_switches(preset.features(), &with, &[]).unwrap();
            let r = verdict::run_scenario(
                &scenarios::by_name(name).unwrap(),
                &CheckOpts::new(preset, f),
            )
            .unwrap();
            v.push(r.trace.expect("a finding").to_jsonl());
        }
        v
    })
}

/// The fixed budget of cases, or `PROPTEST_CASES`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const NUMBERS: [i64; 10] = [0, 1, 2, 3, 7, 255, 256, -1, 65_536, 4_294_967_296];

/// The numeric leaves of a JSON value (paths into it).
fn numbers(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Number(_) => out.push(at.clone()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(i.to_string());
                numbers(x, at, out);
                at.pop();
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                at.push(k.clone());
                numbers(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        Value::Object(o) => o.get_mut(k).unwrap(),
        _ => unreachable!(),
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Set the n-th numeric leaf of line l to a number.
    Number(usize, usize, i64),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
    /// Set the `actor` of step l to the actor of step m.
    Actor(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<usize>(), prop::sample::select(NUMBERS.to_vec()))
            .prop_map(|(l, n, x)| Mutation::Number(l, n, x)),
        1 => any::<usize>().prop_map(Mutation::DeleteLine),
        1 => any::<usize>().prop_map(Mutation::DuplicateLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Actor(a, b)),
    ]
}

fn mutate(text: &str, ms: &[Mutation]) -> String {
    let mut lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut cut = None;
    for m in ms {
        let n = lines.len().max(1);
        match *m {
            Mutation::Number(l, k, x) => {
                let l = l % n;
                let Some(line) = lines.get_mut(l) else {
                    continue;
                };
                let mut paths = Vec::new();
                numbers(line, &mut Vec::new(), &mut paths);
                if !paths.is_empty() {
                    let p = &paths[k % paths.len()];
                    *at_mut(line, p) = x.into();
                }
            }
            Mutation::DeleteLine(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            Mutation::DuplicateLine(l) if !lines.is_empty() => {
                let x = lines[l % n].clone();
                lines.insert(l % n, x);
            }
            Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Mutation::Truncate(at) => cut = Some(at),
            Mutation::Actor(a, b) if lines.len() > 2 => {
                let (a, b) = (1 + a % (n - 1), 1 + b % (n - 1));
                if let Some(x) = lines[b].get("actor").cloned() {
                    if lines[a].get("actor").is_some() {
                        lines[a]["actor"] = x;
                    }
                }
            }
            _ => {}
        }
    }
    let mut out: String = lines
        .iter()
        .map(|v| format!("{}\n", serde_json::to_string(v).unwrap()))
        .collect();
    if let Some(at) = cut {
        let mut at = at % (out.len() + 1);
        while !out.is_char_boundary(at) {
            at -= 1;
        }
        out.truncate(at);
    }
    out
}

/// Everything a reader does with a trace text; Ok/Err are both fine, a panic is not.
fn read_all_ways(text: &str) {
    let lim = Limits {
        max_bytes: 1 << 20,
        max_steps: 10_000,
    };
    let Ok(t) = Trace::parse_limited(text, "fuzz", &lim) else {
        return;
    };
    for prefix in [false, true] {
        if let Ok(v) = verify(&t, prefix) {
            let _ = v.mismatch;
        }
        let _ = walk_with(&t, prefix);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), ..ProptestConfig::default() })]

    #[test]
    fn mutated_traces_never_panic_a_reader(
        base in 0usize..4,
        ms in prop::collection::vec(mutation(), 1..5),
    ) {
        let text = mutate(&bases()[base], &ms);
        read_all_ways(&text);
    }
}

fn op(n_ops: usize) -> impl Strategy<Value = Op> {
    let to = 0..(n_ops as u8 + 1);
    let q = 0u8..3;
    let t = 0u8..3;
    let i = 0u8..4;
    prop_oneof![
        (q.clone(), t.clone(), any::<bool>()).prop_map(|(q, tag, buf)| Op::Fetch { q, tag, buf }),
        (
            q.clone(),
            t.clone(),
            prop::sample::select(vec![4096, 0, -5, -22])
        )
            .prop_map(|(q, tag, result)| Op::Commit {
                q,
                tag,
                result,
                buf: false
            }),
        (q.clone(), t.clone(), i.clone()).prop_map(|(q, tag, idx)| Op::Register { q, tag, idx }),
        (q.clone(), t.clone(), i.clone()).prop_map(|(q, tag, idx)| Op::Unregister { q, tag, idx }),
        (q.clone(), t.clone()).prop_map(|(q, tag)| Op::NeedGetData { q, tag }),
        (q.clone(), t.clone()).prop_map(|(q, tag)| Op::BadType { q, tag }),
        i.prop_map(|idx| Op::FixedIo { idx }),
        (q.clone(), t.clone()).prop_map(|(q, tag)| Op::user_copy(q, tag)),
        (q, t).prop_map(|(q, tag)| Op::WaitCqe { q, tag }),
        Just(Op::Exit),
        Just(Op::ThreadExit),
        Just(Op::CloseRing),
        to.clone().prop_map(|to| Op::Loop { to }),
        to.prop_map(|to| Op::Goto { to }),
    ]
}

fn actor() -> impl Strategy<Value = ActorSpec> {
    let prog = (1usize..6).prop_flat_map(|n| prop::collection::vec(op(n), n..=n));
    prop_oneof![
        3 => ("[ab]", any::<bool>(), prog.clone())
            .prop_map(|(name, fixed_file, prog)| ActorSpec::Server { name, fixed_file, prog }),
        1 => ("[r]", any::<bool>(), prog).prop_map(|(name, fixed_file, prog)| {
            ActorSpec::RecoveryServer { name, fixed_file, prog }
        }),
        2 => (0u8..3, prop::collection::vec(
                prop::sample::select(vec![Bio::Read, Bio::Write, Bio::Again]), 0..3))
            .prop_map(|(q, bios)| ActorSpec::Submitter { q, bios }),
        2 => prop::collection::vec(prop::sample::select(vec![
                CtrlOp::StartDev, CtrlOp::StopDev, CtrlOp::StartUserRecovery,
                CtrlOp::EndUserRecovery, CtrlOp::DelDev, CtrlOp::QuiesceDev]), 0..4)
            .prop_map(|prog| ActorSpec::Control { prog }),
        1 => Just(ActorSpec::Killer),
        1 => Just(ActorSpec::Elevator),
        1 => Just(ActorSpec::FdHolder),
        1 => (0u8..3).prop_map(|server| ActorSpec::RingClose { server }),
        1 => (0u8..3).prop_map(|server| ActorSpec::ThreadDeath { server }),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let dev = (
        0u8..3,
        0u8..3,
        prop::sample::select(vec![
            CopyMode::Copy,
            CopyMode::UserCopy,
            CopyMode::ZeroCopy,
            CopyMode::AutoBufReg,
        ]),
        any::<bool>(),
        prop::sample::select(vec![
            Recovery::None,
            Recovery::Requeue,
            Recovery::Reissue,
            Recovery::FailIo,
        ]),
        any::<bool>(),
        0u8..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                nr_queues,
                depth,
                copy,
                need_get_data,
                recovery,
                elevator,
                table_size,
                ft,
                gdf,
                qu,
                anz,
                afb,
            )| {
                DevConfig {
                    nr_queues,
                    depth,
                    copy,
                    need_get_data,
                    recovery,
                    elevator,
                    table_size,
                    fake_timeout: ft,
                    get_data_fails: gdf,
                    bad_auto_fetch: false,
                    part_scan: false,
                    quiesce: qu,
                    auto_no_zc: anz,
                    auto_fallback: afb,
                    io_bytes: 4096,
                }
            },
        );
    (dev, prop::collection::vec(actor(), 0..5)).prop_map(|(dev, actors)| Scenario {
        name: "fuzz".into(),
        doc: String::new(),
        dev,
        actors,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(500), ..ProptestConfig::default() })]

    #[test]
    fn random_scenarios_are_refused_or_explored_and_their_traces_replay(
        sc in scenario(),
        preset in prop::sample::select(vec![Preset::K72, Preset::Post, Preset::Pre, Preset::K612]),
    ) {
        let sc: Scenario = sc;
        if ublk_traces::validate::scenario(&sc).is_err() {
            return Ok(());
        }
        let f = preset.features();
        let Ok(m) = Model::new(&sc, f) else { return Ok(()) };
        let (r, g) = Explorer::new(&m).max_states(3_000).run_graph(|s| LiveNode::of(&m, s));
        let end = match (&r.counterexample, r.stop == Stop::Exhausted) {
            (Some((path, v)), _) => Some((path.clone(), Some(v.clone()), None)),
            (None, true) if m.liveness_supported() => find_hang(&m, &g).map(|h| {
                let p: Vec<ublk_model::Move> = h.stem.iter().chain(&h.cycle).copied().collect();
                (p, None, Some(h))
            }),
            _ => None,
        };
        if let Some((path, v, h)) = end {
            let ending = match (&v, &h) {
                (Some(v), _) => Ending::Violation(v),
                (None, Some(h)) => Ending::Hang(h),
                _ => Ending::Nothing,
            };
            let t = make_trace(&m, preset, "fuzz", &path, ending);
            // what the tool wrote, it reads back and reproduces
            let back = Trace::parse(&t.to_jsonl(), "fuzz").unwrap();
            let ok = verify(&back, false).unwrap();
            prop_assert!(ok.mismatch.is_none(), "{:?}", ok.mismatch);
        }
    }
}

/// Inputs that once crashed a reader: each must now be refused (Err) without a panic.
#[test]
fn regressions_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/tests/regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        read_all_ways(&text);
        let refused = Trace::parse(&text, "r")
            .map_err(|e| e.to_string())
            .and_then(|t| verify(&t, false).map(|_| ()));
        assert!(refused.is_err(), "{}: accepted", p.display());
        n += 1;
    }
    assert!(n >= 2);
}

/// `explain` streams: its text is exactly the walk's, step for step.
#[test]
fn streamed_explain_is_the_walk_rendered() {
    use ublk_checker::teach::explain::{render, render_stream, walk};
    for text in bases() {
        let t = Trace::parse(text, "b").unwrap();
        let mut out = Vec::new();
        render_stream(&t, false, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), render(&walk(&t).unwrap()));
    }
}
