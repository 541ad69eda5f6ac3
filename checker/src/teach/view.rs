//! `ublksim view TRACE -o page.html`: a trace as one self-contained HTML page
//! — a lane per actor, the steps in order, keyboard stepping, the state panel
//! of the current step and the violation or hang at the end.
//!
//! Everything the page shows is computed here (the [`Walk`] of `explain`,
//! embedded as JSON) so the page's script only lays it out: no network, no
//! CDN, nothing the page fetches.  The page template is `view.html` beside
//! this file.

use crate::teach::explain::Walk;

const TEMPLATE: &str = include_str!("view.html");

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for a walked trace (deterministic: same walk, same bytes).
pub fn page(w: &Walk) -> String {
    // `<` only occurs inside JSON strings, where \u003c means the same; this
    // keeps `</script>` in a message from closing the data block.
    let json = serde_json::to_string(w)
        .expect("a walk serialises")
        .replace('<', "\\u003c");
    TEMPLATE
        .replace("__TITLE__", &html_escape(&w.title))
        .replace("__WALK__", &json)
}
