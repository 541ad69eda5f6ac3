//! `ublksim chart --svg`: the sequence chart as one self-contained SVG — no script, no
//! external font or stylesheet, integer coordinates — so the same trace gives the same bytes
//! and the picture can be mailed, committed under docs/ or embedded in `view`'s page.
//!
//! Every row holds exactly one box (one actor moves per step), so a box wider than its lane
//! may cross its neighbours without hiding another step; the lane it belongs to is the one
//! with the dot.  The groups carry `class`/`data-*` attributes (lane, step, violation, cycle,
//! dead-end) that the tests and the viewer test read instead of guessing from geometry.

use crate::teach::chart::Chart;
use crate::teach::chart_text::wrap;
use std::fmt::Write;

/// Font size and the width of one monospace character at it (0.6 em, DejaVu Sans Mono and
/// Liberation Mono alike), in px.
const FONT: usize = 12;
const CW10: usize = 72; // char width × 10
const ROW: usize = 28;
const BOX_H: usize = 20;
const NUM_W: usize = 44;
const MIN_LANE: usize = 140;
const TOP: usize = 100;

const USER_INK: &str = "#243447";
const KERNEL_INK: &str = "#6b7a90";
const KERNEL_BAND: &str = "#eef2f7";
const BAD: &str = "#c62828";
const BAD_FILL: &str = "#ffe1e1";
const CYCLE: &str = "#d08a00";
const CYCLE_FILL: &str = "#fff3d6";

/// Width of `s` in px at [`FONT`].
fn text_w(s: &str) -> usize {
    (s.chars().count() * CW10).div_ceil(10)
}

/// `s` escaped for XML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// Horizontal geometry: lane centres, and the shift that keeps every box inside the picture.
struct Geo {
    lane_w: usize,
    centre: Vec<usize>,
    /// Right edge of the widest reach (lanes, boxes).
    right: usize,
}

fn geometry(c: &Chart) -> Geo {
    let names = c
        .lanes
        .iter()
        .map(|l| text_w(&l.name).max(text_w(&l.kind)) + 16)
        .max()
        .unwrap_or(0);
    let lane_w = names.max(MIN_LANE);
    let box_w = |label: &str| text_w(label) + 16;
    let base = |i: usize| NUM_W + lane_w / 2 + i * lane_w;
    // how far the widest box sticks out left of the first lane's band
    let over = c
        .rows
        .iter()
        .map(|r| (box_w(&r.label("→")) / 2).saturating_sub(base(r.lane) - NUM_W))
        .max()
        .unwrap_or(0);
    let centre: Vec<usize> = (0..c.lanes.len()).map(|i| base(i) + over).collect();
    let lanes_right = NUM_W + over + c.lanes.len() * lane_w;
    let boxes_right = c
        .rows
        .iter()
        .map(|r| centre[r.lane] + box_w(&r.label("→")).div_ceil(2))
        .max()
        .unwrap_or(0);
    Geo {
        lane_w,
        centre,
        right: lanes_right.max(boxes_right),
    }
}

fn row_y(i: usize) -> usize {
    TOP + 8 + i * ROW
}

/// The namespace a standalone SVG file needs; inline in HTML (`view`'s page) it is implied,
/// and the page is kept free of any URL.
pub const XMLNS: &str = " xmlns=\"http://www.w3.org/2000/svg\"";

/// The SVG chart (deterministic: same chart, same bytes).
pub fn render(c: &Chart) -> String {
    let g = geometry(c);
    let n = c.rows.len();
    let cycle = c.cycle();
    let cycle_label = cycle.map(|(a, b)| {
        let prop = match &c.end {
            crate::teach::explain::End::Hang {
                prop, obligation, ..
            } => format!("{prop}: {obligation}"),
            _ => String::new(),
        };
        [
            "⟳ repeats forever".to_string(),
            format!("steps {a}–{b}"),
            prop,
        ]
    });
    let bracket_x = g.right + 14;
    let label_w = cycle_label
        .as_ref()
        .map(|l| l.iter().map(|s| text_w(s)).max().unwrap_or(0) + 40)
        .unwrap_or(0);
    let body_bottom = row_y(n) + if c.dead_end() { 36 } else { 4 };
    let width = (g.right + 12 + label_w).max(560);
    let ending: Vec<String> = c
        .ending()
        .iter()
        .flat_map(|l| wrap(l, (width - 24) * 10 / CW10))
        .collect();
    let height = body_bottom + 16 + ending.len() * 18 + 8;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg{XMLNS} class=\"ublksim-chart\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" \
         font-size=\"{FONT}\" data-lanes=\"{}\" data-steps=\"{n}\">",
        c.lanes.len()
    );
    let _ = writeln!(
        o,
        "<title>{}</title>\n<defs><marker id=\"ublksim-loop\" viewBox=\"0 0 10 10\" refX=\"9\" \
         refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 \
         L0,10 z\" fill=\"{CYCLE}\"/></marker></defs>",
        esc(&c.title)
    );
    let _ = writeln!(
        o,
        "<rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n<text x=\"12\" y=\"22\" \
         font-size=\"14\" font-weight=\"bold\" fill=\"{USER_INK}\">{}</text>",
        esc(&c.title)
    );
    // legend
    let _ = writeln!(
        o,
        "<g class=\"legend\"><line x1=\"12\" y1=\"40\" x2=\"36\" y2=\"40\" stroke=\"{USER_INK}\" \
         stroke-width=\"2\"/><text x=\"42\" y=\"44\" fill=\"{USER_INK}\">user space</text>\
         <rect x=\"140\" y=\"32\" width=\"24\" height=\"16\" fill=\"{KERNEL_BAND}\"/><line \
         x1=\"140\" y1=\"40\" x2=\"164\" y2=\"40\" stroke=\"{KERNEL_INK}\" stroke-width=\"2\" \
         stroke-dasharray=\"4 3\"/><text x=\"170\" y=\"44\" fill=\"{KERNEL_INK}\">kernel \
         context</text></g>"
    );
    // lanes: band, header, lifeline
    for (i, l) in c.lanes.iter().enumerate() {
        let x = g.centre[i];
        let (ink, cls) = if l.kernel {
            (KERNEL_INK, "kernel")
        } else {
            (USER_INK, "user")
        };
        let _ = write!(
            o,
            "<g class=\"lane {cls}\" data-lane=\"{i}\" data-actor=\"{}\">",
            esc(&l.name)
        );
        if l.kernel {
            let _ = write!(
                o,
                "<rect x=\"{}\" y=\"56\" width=\"{}\" height=\"{}\" fill=\"{KERNEL_BAND}\"/>",
                x - g.lane_w / 2 + 4,
                g.lane_w - 8,
                row_y(n) - 56
            );
        }
        let dash = if l.kernel {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<text x=\"{x}\" y=\"72\" text-anchor=\"middle\" font-weight=\"bold\" \
             fill=\"{ink}\">{}</text><text x=\"{x}\" y=\"88\" text-anchor=\"middle\" \
             font-size=\"11\" fill=\"{KERNEL_INK}\">{}</text><line x1=\"{x}\" y1=\"{TOP}\" \
             x2=\"{x}\" y2=\"{}\" stroke=\"{ink}\" stroke-width=\"2\"{dash}/></g>",
            esc(&l.name),
            esc(&l.kind),
            row_y(n)
        );
    }
    // the cycle's rows, shaded behind the boxes
    if let Some((a, b)) = cycle {
        let _ = writeln!(
            o,
            "<rect class=\"cycle-band\" x=\"4\" y=\"{}\" width=\"{}\" height=\"{}\" \
             fill=\"{CYCLE_FILL}\" fill-opacity=\"0.6\"/>",
            row_y(a - 1),
            g.right - 4,
            (b - a + 1) * ROW
        );
    }
    for (i, r) in c.rows.iter().enumerate() {
        let x = g.centre[r.lane];
        let y = row_y(i) + ROW / 2;
        let kernel = c.lanes[r.lane].kernel;
        let label = if r.violation {
            format!("✗ {}", r.label("→"))
        } else {
            r.label("→")
        };
        let w = text_w(&label) + 16;
        let (stroke, fill, ink, weight) = match (r.violation, kernel) {
            (true, _) => (BAD, BAD_FILL, BAD, " font-weight=\"bold\""),
            (false, true) => (KERNEL_INK, "#f7f9fc", USER_INK, ""),
            (false, false) => (USER_INK, "#ffffff", USER_INK, ""),
        };
        let cls = if r.violation {
            "step violation"
        } else {
            "step"
        };
        let dash = if kernel && !r.violation {
            " stroke-dasharray=\"4 2\""
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "<g class=\"{cls}\" data-n=\"{}\" data-lane=\"{}\"><text x=\"{}\" y=\"{}\" \
             text-anchor=\"end\" fill=\"{KERNEL_INK}\">{}</text><rect x=\"{}\" y=\"{}\" \
             width=\"{w}\" height=\"{BOX_H}\" rx=\"4\" fill=\"{fill}\" stroke=\"{stroke}\" \
             stroke-width=\"{}\"{dash}/><circle cx=\"{x}\" cy=\"{}\" r=\"3\" \
             fill=\"{stroke}\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" \
             fill=\"{ink}\"{weight}>{}</text></g>",
            r.n,
            r.lane,
            NUM_W - 10,
            y + 4,
            r.n,
            x - w / 2,
            y - BOX_H / 2,
            if r.violation { 2 } else { 1 },
            y - BOX_H / 2,
            y + 4,
            esc(&label)
        );
    }
    if let (Some((a, b)), Some(label)) = (cycle, &cycle_label) {
        let (top, bot) = (row_y(a - 1) + 4, row_y(b) - 4);
        let _ = write!(
            o,
            "<g class=\"cycle\" data-from=\"{a}\" data-to=\"{b}\"><path d=\"M{} {bot} H{} V{top} \
             H{}\" fill=\"none\" stroke=\"{CYCLE}\" stroke-width=\"2\" \
             marker-end=\"url(#ublksim-loop)\"/>",
            bracket_x - 8,
            bracket_x + 6,
            bracket_x - 6
        );
        let mid = (top + bot) / 2;
        for (k, s) in label.iter().enumerate() {
            let _ = write!(
                o,
                "<text x=\"{}\" y=\"{}\" fill=\"{CYCLE}\"{}>{}</text>",
                bracket_x + 14,
                mid + k * 16 - 12,
                if k == 0 { " font-weight=\"bold\"" } else { "" },
                esc(s)
            );
        }
        let _ = writeln!(o, "</g>");
    }
    if c.dead_end() {
        let y = row_y(n) + 8;
        let _ = writeln!(
            o,
            "<g class=\"dead-end\"><rect x=\"{NUM_W}\" y=\"{y}\" width=\"{}\" height=\"6\" \
             fill=\"{CYCLE}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{CYCLE}\" \
             font-weight=\"bold\">⊥ dead end</text></g>",
            g.right - NUM_W,
            g.right,
            y + 20
        );
    }
    use crate::teach::explain::End;
    let (ink, sign) = match c.end {
        End::Violation { .. } => (BAD, "✗ "),
        End::Hang { .. } => (CYCLE, "⟳ "),
        End::Nothing => (USER_INK, ""),
    };
    let _ = write!(o, "<g class=\"ending\">");
    for (k, l) in ending.iter().enumerate() {
        let bold = if k == 0 { " font-weight=\"bold\"" } else { "" };
        let mark = if k == 0 { sign } else { "" };
        let _ = write!(
            o,
            "<text x=\"12\" y=\"{}\" fill=\"{ink}\"{bold}>{mark}{}</text>",
            body_bottom + 16 + 18 * k,
            esc(l)
        );
    }
    let _ = writeln!(o, "</g>\n</svg>");
    o
}
