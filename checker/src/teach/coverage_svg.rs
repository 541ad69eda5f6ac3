//! `ublksim sim --coverage-svg OUT`: what a simulation exercised, as a heat map of kernel
//! functions (rows) × the event faults that had fired earlier in the episode (columns, after
//! "before any fault").  A white cell is a function the run never reached under that fault —
//! the gap a table of numbers hides and a picture shows at a glance.
//!
//! Self-contained SVG (no script, no external font), integer coordinates, colours from a
//! fixed ramp on a log scale: the same run gives the same bytes.

use crate::teach::chart_svg::{esc, XMLNS};
use std::fmt::Write;
use ublk_sim::coverage::{Coverage, EVENT_FAULTS};

const FONT: usize = 12;
const CW10: usize = 72;
const ROW: usize = 18;
const TOP: usize = 84;

fn text_w(s: &str) -> usize {
    (s.chars().count() * CW10).div_ceil(10)
}

/// A count in at most five characters: 987, 12.3k, 4.5M.
pub fn compact(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{}.{}k", n / 1000, n % 1000 / 100),
        _ => format!("{}.{}M", n / 1_000_000, n % 1_000_000 / 100_000),
    }
}

/// Eight steps from pale amber to dark red.
const RAMP: [&str; 8] = [
    "#fff1d6", "#fddcaa", "#fcc47e", "#f9a55a", "#f0803e", "#dd5a2d", "#c23a24", "#98211c",
];

/// The fill and ink of a cell holding `n` of at most `max`: white for 0, else the ramp step
/// of n's bit length against max's (a log₂ scale in integers: no float rounding to differ
/// between machines).
fn fill(n: u64, max: u64) -> (&'static str, &'static str) {
    if n == 0 {
        return ("#ffffff", "#9aa5b4");
    }
    let bits = |v: u64| u64::from(64 - v.leading_zeros());
    let k = ((bits(n) - 1) * 7 / (bits(max.max(n)) - 1).max(1)).min(7) as usize;
    (RAMP[k], if k >= 5 { "#ffffff" } else { "#1d2330" })
}

/// The columns to draw: "before any fault", then every event fault of the run (`enabled`)
/// or that has a count (a STOP_DEV of the workload happens without `--faults stop`).
fn columns(cov: &Coverage, enabled: &[&str]) -> Vec<(usize, &'static str)> {
    let mut cols = vec![(0, "before any fault")];
    for (i, f) in EVENT_FAULTS.iter().enumerate() {
        let used = cov.under_fault.values().any(|r| r[i + 1] > 0);
        let on = enabled.contains(&f.name())
            || (*f == ublk_sim::faults::Fault::Kill && enabled.contains(&"recovery"));
        if used || on {
            cols.push((i + 1, f.name()));
        }
    }
    cols
}

/// The heat map of `cov` (filled with `RunOpts::fault_matrix`); `title` names the run,
/// `enabled` its event faults.
pub fn render(cov: &Coverage, title: &str, enabled: &[&str]) -> String {
    let cols = columns(cov, enabled);
    let rows: Vec<(&str, &[u64])> = cov.under_fault.iter().map(|(f, r)| (*f, &r[..])).collect();
    let max = rows
        .iter()
        .flat_map(|(_, r)| cols.iter().map(|&(i, _)| r[i]))
        .max()
        .unwrap_or(0);
    let label_w = rows.iter().map(|(f, _)| text_w(f)).max().unwrap_or(0) + 24;
    let cell_w = cols.iter().map(|(_, c)| text_w(c)).max().unwrap_or(0) + 12;
    let width = (label_w + cols.len() * cell_w + 16)
        .max(text_w(title) + 24)
        .max(520);
    let height = TOP + rows.len() * ROW + 60;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg{XMLNS} class=\"ublksim-coverage\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"{FONT}\" \
         data-rows=\"{}\" data-cols=\"{}\">\n<title>{}</title>\n<rect width=\"{width}\" \
         height=\"{height}\" fill=\"#ffffff\"/>",
        rows.len(),
        cols.len(),
        esc(title)
    );
    let _ = writeln!(
        o,
        "<text x=\"12\" y=\"22\" font-size=\"14\" font-weight=\"bold\" \
         fill=\"#243447\">{}</text><text x=\"12\" y=\"42\" fill=\"#5b6778\">steps per kernel \
         function, by the faults fired earlier in the episode (white: never; a recovery counts \
         under its kill)</text>",
        esc(title)
    );
    for (k, (_, name)) in cols.iter().enumerate() {
        let x = label_w + k * cell_w + cell_w / 2;
        let _ = writeln!(
            o,
            "<text class=\"col\" x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" \
             fill=\"#243447\">{}</text>",
            TOP - 10,
            esc(name)
        );
    }
    for (j, (func, r)) in rows.iter().enumerate() {
        let y = TOP + j * ROW;
        let _ = write!(
            o,
            "<g class=\"row\" data-func=\"{}\"><text x=\"{}\" y=\"{}\" text-anchor=\"end\" \
             fill=\"#1d2330\">{}</text>",
            esc(func),
            label_w - 8,
            y + 13,
            esc(func)
        );
        for (k, &(i, name)) in cols.iter().enumerate() {
            let n = r[i];
            let (bg, ink) = fill(n, max);
            let x = label_w + k * cell_w;
            let shown = if n == 0 { "·".into() } else { compact(n) };
            let _ = write!(
                o,
                "<g class=\"cell\" data-fault=\"{name}\" data-n=\"{n}\"><rect x=\"{x}\" \
                 y=\"{y}\" width=\"{cell_w}\" height=\"{ROW}\" fill=\"{bg}\" stroke=\"#d5dbe3\"/>\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{ink}\">{shown}</text></g>",
                x + cell_w / 2,
                y + 13
            );
        }
        let _ = writeln!(o, "</g>");
    }
    // legend: the ramp from 1 to the largest count
    let ly = TOP + rows.len() * ROW + 24;
    let _ = write!(
        o,
        "<g class=\"legend\"><text x=\"12\" y=\"{}\" fill=\"#5b6778\">0</text>",
        ly + 13
    );
    let _ = write!(
        o,
        "<rect x=\"28\" y=\"{ly}\" width=\"24\" height=\"{ROW}\" fill=\"#ffffff\" \
         stroke=\"#d5dbe3\"/><text x=\"64\" y=\"{}\" fill=\"#5b6778\">1</text>",
        ly + 13
    );
    for (k, bg) in RAMP.iter().enumerate() {
        let _ = write!(
            o,
            "<rect x=\"{}\" y=\"{ly}\" width=\"24\" height=\"{ROW}\" fill=\"{bg}\"/>",
            80 + k * 24
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{}\" fill=\"#5b6778\">{} (log scale)</text></g>\n</svg>",
        80 + 8 * 24 + 8,
        ly + 13,
        compact(max)
    );
    o
}
