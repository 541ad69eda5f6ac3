//! `ublksim chart`: a counterexample as a sequence chart — lanes are exactly the actors that
//! move, rows exactly the steps, the ending marked where it happens (the violation on the last
//! step, a lasso's bracket over exactly its cycle, a dead end at the bottom), kernel contexts
//! drawn apart, the text within 100 columns, the same bytes every time, and the input checks
//! of `explain` / `view`.  The committed chart of the founding example is fresh.
//!
//! Refresh the committed chart with:
//!   cargo run --release -- check --with B-8 -s register-vs-server-exit --out /tmp/t
//!   cargo run --release -- chart /tmp/t/K72+B-8-register-vs-server-exit.jsonl --svg docs/chart/register-vs-server-exit-B-8.svg
//!   cargo run --release -- chart /tmp/t/K72+B-8-register-vs-server-exit.jsonl > docs/chart/register-vs-server-exit-B-8.txt

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use ublk_checker::explore::verdict::{run_scenario, CheckOpts};
use ublk_checker::scenarios;
use ublk_checker::teach::chart::{self, Chart};
use ublk_checker::teach::explain::walk;
use ublk_checker::teach::{chart_svg, chart_text, view};
use ublk_model::{apply_switches, Preset};
use ublk_traces::Trace;

fn trace(preset: Preset, with: &[&str], scenario: &str) -> Trace {
    let sc = scenarios::by_name(scenario).expect("scenario exists");
    let with: Vec<String> = with.iter().map(|s| s.to_string()).collect();
    let f = apply_switches(preset.features(), &with, &[]).unwrap();
    run_scenario(&sc, &CheckOpts::new(preset, f))
        .unwrap()
        .trace
        .expect("a counterexample")
}

fn b8() -> Trace {
    trace(Preset::K72, &["B-8"], "register-vs-server-exit")
}

/// O-7 on K72: a lasso.
fn lasso() -> Trace {
    trace(Preset::K72, &[], "exit-before-unregister")
}

/// O-1 on K72: a dead end.
fn dead_end() -> Trace {
    trace(Preset::K72, &[], "stop-with-fd-held")
}

fn chart_of(t: &Trace) -> Chart {
    chart::from_trace(t, false).unwrap()
}

/// The actors that take a step, in actor-id order, by name.
fn acting(t: &Trace) -> Vec<String> {
    let mut ids: Vec<_> = t
        .steps
        .iter()
        .map(|s| (s.actor_id, s.actor.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    ids.into_iter().map(|(_, n)| n).collect()
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Lanes and rows of the chart and of both drawings are the trace's acting actors and steps.
fn assert_shape(t: &Trace) {
    let c = chart_of(t);
    let names: Vec<_> = c.lanes.iter().map(|l| l.name.clone()).collect();
    assert_eq!(names, acting(t), "lanes = acting actors, in actor order");
    assert_eq!(c.rows.len(), t.steps.len(), "rows = steps");
    for (r, s) in c.rows.iter().zip(&t.steps) {
        assert_eq!(
            c.lanes[r.lane].name, s.actor,
            "step {} in its actor's lane",
            r.n
        );
    }
    let svg = chart_svg::render(&c);
    assert_eq!(count(&svg, "<g class=\"lane "), c.lanes.len());
    assert_eq!(count(&svg, "<g class=\"step"), t.steps.len());
    assert!(svg.contains(&format!(
        "data-lanes=\"{}\" data-steps=\"{}\"",
        c.lanes.len(),
        t.steps.len()
    )));
    let text = chart_text::render(&c);
    let row_lines = text
        .lines()
        .filter(|l| l.len() > 6 && l[..4].trim().parse::<usize>().is_ok() && &l[4..6] == "  ")
        .count();
    assert_eq!(row_lines, t.steps.len(), "one text row per step:\n{text}");
    if c.lanes.len() <= 8 {
        for l in text.lines() {
            assert!(
                l.chars().count() <= 100,
                "{} columns: {l}",
                l.chars().count()
            );
        }
    }
    // deterministic: a second walk, the same bytes
    let again = chart_of(t);
    assert_eq!(svg, chart_svg::render(&again));
    assert_eq!(text, chart_text::render(&again));
}

#[test]
fn a_safety_violation_is_marked_on_its_last_step() {
    let t = b8();
    assert_shape(&t);
    let c = chart_of(&t);
    assert_eq!(
        c.lanes.len(),
        8,
        "B-8's trace: 8 acting actors, the widest text case"
    );
    let n = t.steps.len();
    assert!(c.rows[..n - 1].iter().all(|r| !r.violation));
    assert!(c.rows[n - 1].violation);
    let svg = chart_svg::render(&c);
    assert_eq!(count(&svg, "class=\"step violation\""), 1);
    assert!(svg.contains(&format!("class=\"step violation\" data-n=\"{n}\"")));
    assert!(
        svg.contains("✗ VIOLATION S4 at step 11"),
        "the invariant below the chart"
    );
    assert!(!svg.contains("class=\"cycle\"") && !svg.contains("class=\"dead-end\""));
    // kernel contexts are drawn apart from user space
    assert!(svg.contains("class=\"lane kernel\" data-lane=\"7\" data-actor=\"release-work\""));
    assert!(svg.contains("class=\"lane user\" data-lane=\"0\" data-actor=\"daemon\""));
    let text = chart_text::render(&c);
    let last = text
        .lines()
        .find(|l| l.starts_with(&format!("{n:>4}  ")))
        .unwrap();
    // lane H (release-work, a kernel context) has the X; user lanes are `|`, kernel `:`
    assert_eq!(&last[6..30], "|  |  |  |  :  :  :  X  ", "{last}");
    assert!(last.contains("X ublk_ch_release_work_fn"), "{last}");
    assert!(text.contains("\nX VIOLATION S4 at step 11: refcounts"));
    assert!(text.contains("  H  release-work       kernel: kworker: release work"));
    assert!(
        text.contains("ublk_ctrl_start_dev -> 0"),
        "user-visible results shown"
    );
    assert!(text.is_ascii(), "mail-safe text");
}

#[test]
fn a_lasso_is_bracketed_over_exactly_its_cycle() {
    for t in [lasso(), trace(Preset::K72, &[], "fake-timeout-zc")] {
        assert_shape(&t);
        let c = chart_of(&t);
        let start = t
            .outcome
            .as_ref()
            .unwrap()
            .hang
            .as_ref()
            .unwrap()
            .cycle_start;
        let a = start.expect("a lasso") as usize + 1;
        let b = t.steps.len();
        assert_eq!(c.cycle(), Some((a, b)));
        assert!(c.rows.iter().all(|r| r.in_cycle == (r.n >= a)));
        let svg = chart_svg::render(&c);
        assert_eq!(count(&svg, "<g class=\"cycle\""), 1);
        assert!(svg.contains(&format!(
            "class=\"cycle\" data-from=\"{a}\" data-to=\"{b}\""
        )));
        assert!(svg.contains("⟳ repeats forever") && svg.contains("L2: "));
        assert!(!svg.contains("violation") && !svg.contains("dead-end"));
        // text: the bracket column holds `|` on exactly the cycle's rows
        let text = chart_text::render(&c);
        let col = 6 + 3 * c.lanes.len();
        for l in text.lines() {
            let Ok(n) = l.get(..4).unwrap_or("").trim().parse::<usize>() else {
                continue;
            };
            let mark = l.chars().nth(col);
            assert_eq!(mark == Some('|'), (a..=b).contains(&n), "row {n}: {l}");
        }
        let open = text.find(".-- from here: repeats forever").unwrap();
        let first = text.find(&format!("\n{a:>4}  ")).unwrap();
        let last = text.find(&format!("\n{b:>4}  ")).unwrap();
        let close = text.find(&format!("'-- back to step {a}")).unwrap();
        assert!(open < first && last < close, "{text}");
    }
}

#[test]
fn a_dead_end_is_marked_at_the_bottom() {
    let t = dead_end();
    assert_shape(&t);
    let c = chart_of(&t);
    assert!(c.dead_end() && c.cycle().is_none());
    let svg = chart_svg::render(&c);
    assert_eq!(count(&svg, "class=\"dead-end\""), 1);
    let last_row = svg.rfind("<g class=\"step").unwrap();
    assert!(svg.find("class=\"dead-end\"").unwrap() > last_row);
    assert!(!svg.contains("class=\"cycle\"") && !svg.contains("violation"));
    let text = chart_text::render(&c);
    let n = t.steps.len();
    let after = &text[text.find(&format!("\n{n:>4}  ")).unwrap() + 1..];
    let next = after.lines().nth(1).unwrap();
    assert!(
        next.trim_start().starts_with('=') && next.ends_with(" dead end"),
        "{next}"
    );
}

#[test]
fn the_svg_is_self_contained_and_escapes_what_the_trace_says() {
    let mut c = chart_of(&b8());
    c.title = "<script>alert(1)</script> & \"q\"".into();
    let svg = chart_svg::render(&c);
    assert!(!svg.contains("<script") && svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    for banned in [
        "https://",
        "<link",
        "href=\"http",
        "@import",
        "<image",
        "<foreignObject",
    ] {
        assert!(!svg.contains(banned), "{banned}");
    }
    assert_eq!(count(&svg, "http://"), 1, "only the SVG namespace");
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn the_text_spells_the_models_arrows_in_ascii() {
    use ublk_checker::teach::explain::End;
    let mut c = chart_of(&b8());
    // S6's description and many messages carry ⇒, → and dashes
    c.end = End::Violation {
        inv: "S6".into(),
        describe: "ACTIVE ⇒ pending cmd — OWNED ⇒ request".into(),
        msg: "ref 0 → INIT … 2–3".into(),
        step: c.rows.len(),
    };
    c.rows[0].func = "a → b".into();
    let text = chart_text::render(&c);
    assert!(text.is_ascii(), "{text}");
    assert!(text.contains("ACTIVE => pending cmd -- OWNED => request"));
    assert!(text.contains("ref 0 -> INIT ... 2-3") && text.contains("a -> b"));
}

#[test]
fn view_embeds_the_same_chart() {
    let t = b8();
    let w = walk(&t).unwrap();
    let page = view::page(&w);
    let svg = chart_svg::render(&chart::from_walk(&w)).replacen(chart_svg::XMLNS, "", 1);
    assert!(page.contains(&svg), "the page holds the chart");
    assert_eq!(count(&page, "<svg"), 1);
    assert!(svg.contains("data-lanes=\"8\" data-steps=\"11\""));
    // the walk view has and the streamed walk chart has agree
    assert_eq!(
        chart_svg::render(&chart::from_walk(&w)),
        chart_svg::render(&chart_of(&t))
    );
}

// ---- through the binary ----

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ublksim"))
        .args(args)
        .output()
        .expect("ublksim runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn saved(dir: &Path, t: &Trace) -> PathBuf {
    let p = dir.join("t.jsonl");
    t.write(&p).unwrap();
    p
}

#[test]
fn the_command_writes_both_forms_deterministically() {
    let d = tempfile::tempdir().unwrap();
    let t = lasso();
    let p = saved(d.path(), &t);
    let (a, b) = (d.path().join("a.svg"), d.path().join("b.svg"));
    for out in [&a, &b] {
        let o = run(&["chart", s(&p), "--svg", s(out)]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let svg = std::fs::read(&a).unwrap();
    assert_eq!(svg, std::fs::read(&b).unwrap(), "two runs, same bytes");
    assert_eq!(svg, chart_svg::render(&chart_of(&t)).into_bytes());
    let o = run(&["chart", s(&p), "--svg", "-"]);
    assert_eq!(o.stdout, svg, "--svg - streams the same SVG");
    let t1 = run(&["chart", s(&p)]);
    let t2 = run(&["chart", s(&p), "--text"]);
    assert_eq!(t1.status.code(), Some(0));
    assert_eq!(t1.stdout, t2.stdout, "text is the default");
    assert_eq!(t1.stdout, chart_text::render(&chart_of(&t)).into_bytes());
}

#[test]
fn the_command_refuses_bad_input_and_bad_output() {
    let d = tempfile::tempdir().unwrap();
    let t = b8();
    let p = saved(d.path(), &t);
    let before = std::fs::read(&p).unwrap();
    let one_line_error = |o: &Output, what: &str| {
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{what}: {e}");
        assert_eq!(e.lines().count(), 1, "{what}: one line: {e}");
        assert!(e.starts_with("ublksim: error: "), "{what}: {e}");
        e.into_owned()
    };
    // the output is the trace itself
    let e = one_line_error(&run(&["chart", s(&p), "--svg", s(&p)]), "output = input");
    assert!(e.contains("refusing to overwrite"), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), before, "the trace is untouched");
    // … or not a regular file
    let e = one_line_error(&run(&["chart", s(&p), "--svg", s(d.path())]), "a folder");
    assert!(e.contains("not a regular file"), "{e}");
    // a trace the model does not make
    let mut bad = t.clone();
    bad.steps[1].func = "something_else".into();
    let q = d.path().join("bad.jsonl");
    bad.write(&q).unwrap();
    let out = d.path().join("bad.svg");
    let e = one_line_error(&run(&["chart", s(&q), "--svg", s(&out)]), "bad trace");
    assert!(e.contains("step 2 diverges"), "{e}");
    assert!(!out.exists(), "nothing written for a refused trace");
    let e = one_line_error(&run(&["chart", s(&q)]), "bad trace, text");
    assert!(e.contains("step 2 diverges"), "{e}");
    // a trace whose recorded ending the model does not reach
    let mut wrong = t.clone();
    wrong
        .outcome
        .as_mut()
        .unwrap()
        .violation
        .as_mut()
        .unwrap()
        .message = "another".into();
    wrong.write(&q).unwrap();
    let e = one_line_error(&run(&["chart", s(&q), "--svg", s(&out)]), "wrong ending");
    assert!(e.contains("does not replay"), "{e}");
    assert!(!out.exists(), "nothing written for a refused trace");
    // not a trace at all
    std::fs::write(&q, "not json\n").unwrap();
    one_line_error(&run(&["chart", s(&q)]), "garbage");
    // both forms at once is a usage error
    let o = run(&["chart", s(&p), "--svg", s(&out), "--text"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}

#[test]
fn the_committed_chart_of_the_founding_example_is_fresh() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/chart"));
    let c = chart_of(&b8());
    for (file, fresh) in [
        ("register-vs-server-exit-B-8.svg", chart_svg::render(&c)),
        ("register-vs-server-exit-B-8.txt", chart_text::render(&c)),
    ] {
        let committed = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        assert!(
            committed == fresh,
            "docs/chart/{file} is stale: regenerate it as the head of checker/tests/chart.rs says"
        );
    }
}
