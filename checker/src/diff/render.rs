//! Rendering a [`DiffReport`]: aligned text for the terminal, Markdown for
//! the docs.  Both are pure functions of the report (no timings), so the
//! same inputs give byte-identical output.

use crate::diff::compare::{CmdRow, DiffReport, Example};
use std::fmt::Write;

fn side_label(spec: &str, switches: &[String]) -> String {
    if switches.is_empty() {
        spec.to_string()
    } else {
        format!("{spec} ({})", switches.join(" "))
    }
}

/// The one-paragraph summary both renderings end with.
pub fn summary(r: &DiffReport) -> String {
    let (v, st, c) = r.counts();
    let better = r
        .scenarios
        .iter()
        .filter(|s| s.changed && !s.worse && s.patch.verdict == "PASS")
        .count();
    let worse = r.scenarios.iter().filter(|s| s.worse).count();
    format!(
        "{v} of {} verdicts changed ({better} now PASS, {worse} got worse); {st} scenarios reach \
         different states; {c} of {} command results changed.",
        r.scenarios.len(),
        r.commands.len()
    )
}

fn example_text(out: &mut String, label: &str, e: &Example, indent: &str) {
    let _ = writeln!(out, "{indent}only {label}, in {} steps:", e.steps.len());
    for (i, s) in e.steps.iter().enumerate() {
        let _ = writeln!(out, "{indent}  {:>3}. {s}", i + 1);
    }
    let _ = writeln!(out, "{indent}  state: {}", e.state);
}

/// Aligned text for `ublksim diff`.
pub fn text(r: &DiffReport, all_rows: bool) -> String {
    let mut out = String::new();
    let (b, p) = (&r.base.spec, &r.patch.spec);
    let _ = writeln!(
        out,
        "ublksim diff — base {}, patch {}\n",
        side_label(b, &r.base.switches),
        side_label(p, &r.patch.switches)
    );
    let _ = writeln!(out, "VERDICTS (changed first)");
    // columns as wide as their widest cell ("KNOWN hang L2 fake-timeout" is 26)
    let width = |f: &dyn Fn(&crate::diff::compare::ScenarioDiff) -> usize, head: &str| {
        r.scenarios
            .iter()
            .map(f)
            .max()
            .unwrap_or(0)
            .max(head.chars().count())
    };
    let w0 = width(&|s| s.scenario.chars().count(), "scenario");
    let w1 = width(&|s| s.base.verdict.chars().count(), b);
    let w2 = width(&|s| s.patch.verdict.chars().count(), p);
    let head = format!("  {:<w0$} {:<w1$} {:<w2$}", "scenario", b, p);
    let _ = writeln!(out, "{}", head.trim_end());
    for s in &r.scenarios {
        let mark = match (s.changed, s.worse) {
            (_, true) => "  WORSE",
            (true, _) => "  changed",
            _ => "",
        };
        let line = format!(
            "  {:<w0$} {:<w1$} {:<w2$}{mark}",
            s.scenario, s.base.verdict, s.patch.verdict
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let _ = writeln!(
        out,
        "\nREACHABLE STATES (canonical projection; distinct projected states)"
    );
    let _ = writeln!(
        out,
        "  {:<34} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "scenario", b, p, "common", "only base", "only patch"
    );
    for s in &r.scenarios {
        match &s.states {
            None => {
                let _ = writeln!(
                    out,
                    "  {:<34} not compared: a side stopped at a violation",
                    s.scenario
                );
            }
            Some(d) => {
                let _ = writeln!(
                    out,
                    "  {:<34} {:>8} {:>8} {:>8} {:>10} {:>10}",
                    s.scenario, d.base, d.patch, d.common, d.only_base, d.only_patch
                );
            }
        }
    }
    for s in &r.scenarios {
        let Some(d) = &s.states else { continue };
        if d.examples_base.is_empty() && d.examples_patch.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n  {}:", s.scenario);
        for e in &d.examples_base {
            example_text(&mut out, b, e, "    ");
        }
        for e in &d.examples_patch {
            example_text(&mut out, p, e, "    ");
        }
    }
    let _ = writeln!(
        out,
        "\nCOMMAND RESULTS (slot q0t0; changed rows first{})",
        if all_rows {
            ""
        } else {
            "; --all-rows for the rest"
        }
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<28} {:<22} {:<16} {:<18} {:<18}",
        "mode", "command", "situation", "issuer", b, p
    );
    for c in r.commands.iter().filter(|c| all_rows || c.changed) {
        let _ = writeln!(
            out,
            "  {:<10} {:<28} {:<22} {:<16} {:<18} {:<18}",
            c.mode, c.command, c.situation, c.issuer, c.base, c.patch
        );
    }
    for p in &r.partial_tables {
        let _ = writeln!(out, "  (partial: probe exploration stopped early on {p})");
    }
    let _ = writeln!(out, "\n{}", summary(r));
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Markdown tables of the changes only (for `docs/series.md`).
pub fn markdown_changes(r: &DiffReport, out: &mut String) {
    let (b, p) = (&r.base.spec, &r.patch.spec);
    let changed: Vec<_> = r.scenarios.iter().filter(|s| s.changed).collect();
    if changed.is_empty() {
        out.push_str("Verdicts: no change.\n\n");
    } else {
        out.push_str("| scenario | before | after | |\n|---|---|---|---|\n");
        for s in changed {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                s.scenario,
                s.base.verdict,
                s.patch.verdict,
                if s.worse { "**worse**" } else { "" }
            );
        }
        out.push('\n');
    }
    let st: Vec<_> = r
        .scenarios
        .iter()
        .filter_map(|s| s.states.as_ref().map(|d| (s, d)))
        .filter(|(_, d)| d.only_base + d.only_patch > 0)
        .collect();
    let skipped = r.scenarios.iter().filter(|s| s.states.is_none()).count();
    if st.is_empty() {
        let _ = writeln!(
            out,
            "Reachable states: no difference ({skipped} scenarios not compared: a side stopped at a violation).\n"
        );
    } else {
        let _ = writeln!(
            out,
            "Reachable states ({skipped} scenarios not compared: a side stopped at a violation):\n"
        );
        out.push_str("| scenario | states before | after | only before | only after |\n|---|---|---|---|---|\n");
        for (s, d) in &st {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                s.scenario, d.base, d.patch, d.only_base, d.only_patch
            );
        }
        out.push('\n');
        let first = st.iter().find_map(|(s, d)| {
            d.examples_patch
                .first()
                .map(|e| (s, p, e))
                .or_else(|| d.examples_base.first().map(|e| (s, b, e)))
        });
        if let Some((s, side, e)) = first {
            let _ = writeln!(
                out,
                "Shortest path into a state only `{side}` reaches (`{}`):\n\n```",
                s.scenario
            );
            example_text(out, side, e, "");
            out.push_str("```\n\n");
        }
    }
    let rows: Vec<&CmdRow> = r.commands.iter().filter(|c| c.changed).collect();
    if rows.is_empty() {
        out.push_str("Command results: no change.\n\n");
    } else {
        out.push_str(
            "| mode | command | situation | issuer | before | after |\n|---|---|---|---|---|---|\n",
        );
        for c in rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                c.mode,
                c.command,
                c.situation,
                c.issuer,
                md_escape(&c.base),
                md_escape(&c.patch)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "*{}*\n", summary(r));
}
