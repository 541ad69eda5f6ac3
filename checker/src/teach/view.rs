//! `ublksim view TRACE -o page.html`: a trace as one self-contained HTML page
//! — a lane per actor, the steps in order, keyboard stepping, the state panel
//! of the current step and the violation or hang at the end.
//!
//! Everything the page shows is computed here (the [`Walk`] of `explain`,
//! embedded as JSON) so the page's script only lays it out: no network, no
//! CDN, nothing the page fetches.  The page template is `view.html` beside
//! this file.  Below the lanes, a folded section holds the same sequence
//! chart `ublksim chart --svg` draws, inline.

use crate::teach::explain::Walk;
use crate::teach::{chart, chart_svg};

const TEMPLATE: &str = include_str!("view.html");

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The template with each placeholder replaced once, in one pass over the
/// template: text put in for one placeholder (a scenario doc, a message from an
/// untrusted trace) is never searched for another.
fn fill(template: &str, parts: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + parts.iter().map(|p| p.1.len()).sum::<usize>());
    let mut rest = template;
    loop {
        let next = parts
            .iter()
            .filter_map(|&(k, v)| rest.find(k).map(|i| (i, k, v)))
            .min_by_key(|&(i, ..)| i);
        let Some((i, k, v)) = next else { break };
        out.push_str(&rest[..i]);
        out.push_str(v);
        rest = &rest[i + k.len()..];
    }
    out.push_str(rest);
    out
}

/// The page for a walked trace (deterministic: same walk, same bytes).
pub fn page(w: &Walk) -> String {
    // `<` only occurs inside JSON strings, where \u003c means the same; this
    // keeps `</script>` in a message from closing the data block.
    let json = serde_json::to_string(w)
        .expect("a walk serialises")
        .replace('<', "\\u003c");
    let svg = chart_svg::render(&chart::from_walk(w)).replacen(chart_svg::XMLNS, "", 1);
    fill(
        TEMPLATE,
        &[
            ("__TITLE__", &html_escape(&w.title)),
            ("__CHART__", &svg),
            ("__WALK__", &json),
        ],
    )
}
