//! The teaching aid: the guide's generated parts are fresh (diagrams, bug
//! zoo), and `explain` / `view` tell a counterexample correctly — safety
//! violations and hangs (lassos) alike.
//!
//! Refresh the generated files with:
//!   cargo run --release -- graph --all --out docs/img
//!   cargo run --release -- zoo --out docs/guide/bug-zoo.md

use std::path::PathBuf;
use ublk_checker::explore::verdict::{run_scenario, CheckOpts};
use ublk_checker::scenarios;
use ublk_checker::teach::explain::{render, walk, End};
use ublk_checker::teach::{graph, view, zoo};
use ublk_model::{apply_switches, Func, Preset};
use ublk_traces::Trace;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn trace(preset: Preset, with: &[&str], scenario: &str) -> Trace {
    let sc = scenarios::by_name(scenario).expect("scenario exists");
    let with: Vec<String> = with.iter().map(|s| s.to_string()).collect();
    let f = apply_switches(preset.features(), &with, &[]).unwrap();
    run_scenario(&sc, &CheckOpts::new(preset, f))
        .unwrap()
        .trace
        .expect("a counterexample")
}

#[test]
fn diagrams_are_fresh() {
    let dir = root().join("docs/img");
    for s in graph::ALL {
        let fresh = graph::dot(s).unwrap();
        let path = dir.join(format!("{}.dot", s.name));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is stale: run `cargo run --release -- graph --all --out docs/img`",
            path.display()
        );
        assert!(
            dir.join(format!("{}.svg", s.name)).exists(),
            "{}.svg missing",
            s.name
        );
        let nodes = fresh.matches(" [label=").count() - fresh.matches(" -> ").count();
        assert!(
            (3..=40).contains(&nodes),
            "{}: {nodes} nodes is not a readable diagram",
            s.name
        );
    }
    // no orphans: every committed diagram has a generator
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
        assert!(
            graph::ALL.iter().any(|s| s.name == stem),
            "docs/img/{name} has no generator in graph::ALL"
        );
    }
}

#[test]
fn diagrams_show_the_refcount_protocols() {
    let get = |n: &str| graph::dot(graph::ALL.iter().find(|s| s.name == n).unwrap()).unwrap();
    let pre = get("slot-daemon-zc-pre");
    assert!(
        pre.contains("pdu ref 1") && pre.contains("pdu ref 2"),
        "PRE: REGISTER takes a second pdu reference"
    );
    let k72 = get("slot-daemon-zc-k72");
    assert!(k72.contains("ref INIT · trb 1") && k72.contains("[REGISTER_IO_BUF]"));
    let off = get("slot-offdaemon-k72");
    assert!(
        off.contains("ref INIT+1") && off.contains("ref 1 · trb 0"),
        "off-daemon: the buffer's reference outlives the commit"
    );
    assert!(get("device-recovery").contains("Quiesced"));
    // same inputs, same bytes
    assert_eq!(get("device-teardown"), get("device-teardown"));
}

#[test]
fn bug_zoo_page_is_fresh() {
    let path = root().join("docs/guide/bug-zoo.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = zoo::markdown().unwrap();
    assert!(
        committed == fresh,
        "docs/guide/bug-zoo.md is stale: run `cargo run --release -- zoo --out docs/guide/bug-zoo.md`"
    );
    for id in [
        "B-1", "B-5", "B-6", "B-8", "B-10", "B-11", "B-12", "B-24", "O-1", "O-6", "O-7",
    ] {
        assert!(fresh.contains(&format!("\n## {id}\n")), "zoo lacks {id}");
    }
}

#[test]
fn every_zoo_step_is_glossed() {
    for e in zoo::entries() {
        let w = walk(&trace(e.preset, e.with, e.scenario)).unwrap();
        for s in w.steps.iter().filter(|s| !s.violation) {
            assert!(
                !s.gloss.is_empty(),
                "{}: step {} `{}` has no gloss in checker/src/teach/gloss.rs",
                e.id,
                s.n,
                s.func
            );
        }
    }
}

#[test]
fn explain_tells_a_safety_violation() {
    let w = walk(&trace(Preset::K72, &["B-8"], "register-vs-server-exit")).unwrap();
    let last = w.steps.last().unwrap();
    assert!(last.violation && w.steps.iter().filter(|s| s.violation).count() == 1);
    assert_eq!(last.actor, "release-work");
    assert!(matches!(&w.end, End::Violation { inv, .. } if inv == "S4"));
    let dispatch = w
        .steps
        .iter()
        .find(|s| {
            matches!(
                Func::from_label(&s.func),
                Some(Func::UblkCmdTwCb | Func::UblkCmdTwCbFallback)
            )
        })
        .unwrap();
    let io = &dispatch.ledger.slots[0];
    assert_eq!(
        (io.flags.as_str(), io.refcnt.as_str(), io.trb),
        ("OWNED_BY_SRV", "INIT", 0)
    );
    assert!(dispatch
        .changes
        .iter()
        .any(|c| c == "io[q0t0].ref 0 → INIT"));
    let text = render(&w);
    assert!(text.contains("release-work [kworker: release work] ublk_ch_release_work_fn"));
    assert!(text.contains("│ io[q0t0]: OWNED_BY_SRV · req rq0 · task daemon · ref INIT · trb 0"));
    assert!(text.contains("✗ Step 11 broke S4 (refcounts:"));
    assert!(!text.contains("✗ Step") || text.matches("✗ Step").count() == 1);
}

#[test]
fn explain_marks_a_lasso_and_a_dead_end() {
    let w = walk(&trace(Preset::K72, &[], "exit-before-unregister")).unwrap();
    let End::Hang {
        cycle_start: Some(c),
        ref prop,
        ..
    } = w.end
    else {
        panic!("O-7 is a lasso")
    };
    assert_eq!(prop, "L2");
    assert!(w.steps.iter().all(|s| s.in_cycle == (s.n >= c)));
    let text = render(&w);
    assert!(text.contains("── cycle: the following steps repeat forever ──"));
    assert!(text.contains(&format!("Steps {c} to the end repeat forever")));
    let w = walk(&trace(Preset::K72, &[], "stop-with-fd-held")).unwrap();
    assert!(matches!(
        w.end,
        End::Hang {
            cycle_start: None,
            ..
        }
    ));
    assert!(render(&w).contains("Dead end"));
}

#[test]
fn explain_refuses_a_trace_the_model_no_longer_makes() {
    let mut t = trace(Preset::K72, &["B-8"], "register-vs-server-exit");
    t.steps[1].func = "something_else".into();
    let e = walk(&t).unwrap_err();
    assert!(e.contains("step 2") && e.contains("model"), "{e}");
}

#[test]
fn view_page_is_self_contained_and_complete() {
    let w = walk(&trace(Preset::K72, &["B-24"], "cancel-vs-dispatch")).unwrap();
    let page = view::page(&w);
    assert_eq!(page, view::page(&w), "deterministic");
    for banned in ["http://", "https://", "<link", " src="] {
        assert!(
            !page.contains(banned),
            "the page must not load anything: {banned}"
        );
    }
    assert_eq!(
        page.matches("</script>").count(),
        2,
        "data block stays closed"
    );
    let start = page.find("type=\"application/json\">").unwrap() + 24;
    let end = start + page[start..].find("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
    assert_eq!(data["steps"].as_array().unwrap().len(), w.steps.len());
    assert_eq!(data["end"]["Violation"]["inv"], "S7");
    assert!(page.contains("ArrowRight") && page.contains("\"End\""));
}
