//! `ublksim chart --text`: the sequence chart as plain text for a mailing list.
//!
//! Plain ASCII on purpose (the model's arrows and dashes are spelled `->`, `=>`, `--`): mail clients, archives and `git send-email` differ in how they
//! show box-drawing characters, but every one keeps ASCII columns straight.  A lane is one
//! letter wide (the key above the chart names it), so eight lanes and the step text fit in
//! 100 columns; a step's text that would not is wrapped under itself with the lanes drawn on.

use crate::teach::chart::Chart;
use std::fmt::Write;

/// Width the text is kept to where the lanes leave room.
pub const WIDTH: usize = 100;

/// `|` a user-space lane, `:` a kernel context, `*` the acting lane, `X` the violating step.
const USER: char = '|';
const KERNEL: char = ':';

/// The lane's key: A, B, … Z, then AA, AB, ….
fn key(i: usize) -> String {
    let l = |k: usize| char::from(b'A' + k as u8);
    if i < 26 {
        l(i).to_string()
    } else {
        format!("{}{}", l(i / 26 - 1), l(i % 26))
    }
}

/// The model's words in ASCII (its messages and property descriptions use a few arrows and
/// dashes); any other character is kept.
pub fn ascii(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '→' => o.push_str("->"),
            '⇒' => o.push_str("=>"),
            '—' => o.push_str("--"),
            '–' | '−' => o.push('-'),
            '…' => o.push_str("..."),
            '≥' => o.push_str(">="),
            '≤' => o.push_str("<="),
            '≈' => o.push('~'),
            '×' => o.push('x'),
            '∧' => o.push_str("and"),
            '¬' => o.push('!'),
            '✗' => o.push('X'),
            c => o.push(c),
        }
    }
    o
}

/// Word-wrap `s` to `w` columns (a word longer than `w` stays whole).
pub fn wrap(s: &str, w: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > w {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// The plain-text chart (deterministic: same chart, same bytes).
pub fn render(c: &Chart) -> String {
    let mut out = String::new();
    for l in wrap(&ascii(&c.title), WIDTH) {
        let _ = writeln!(out, "{l}");
    }
    let _ = writeln!(
        out,
        "lanes: {USER} user space, {KERNEL} kernel context; * the step's actor, X the violation"
    );
    let name_w = c.lanes.iter().map(|l| l.name.chars().count()).max();
    for (i, l) in c.lanes.iter().enumerate() {
        let ctx = if l.kernel { "kernel" } else { "user" };
        let line = format!(
            "  {:<3}{:<w$}  {ctx}: {}",
            key(i),
            ascii(&l.name),
            ascii(&l.kind),
            w = name_w.unwrap_or(0)
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let cycle = c.cycle();
    // the bracket column exists only when there is a cycle to bracket
    let bw = if cycle.is_some() { 3 } else { 0 };
    let cell = |i: usize| if c.lanes[i].kernel { KERNEL } else { USER };
    // the lanes of one line: `mark` in lane `at`, the lane's own character elsewhere
    let lanes = |at: Option<(usize, char)>| -> String {
        let mut s = String::new();
        for i in 0..c.lanes.len() {
            let ch = match at {
                Some((j, m)) if j == i => m,
                _ => cell(i),
            };
            let _ = write!(s, "{ch:<3}");
        }
        s
    };
    let mut head = String::from("step  ");
    for i in 0..c.lanes.len() {
        let _ = write!(head, "{:<3}", key(i));
    }
    let _ = writeln!(out, "\n{}", head.trim_end());
    let text_w = WIDTH.saturating_sub(6 + 3 * c.lanes.len() + bw).max(24);
    for r in &c.rows {
        let inside = cycle.is_some_and(|(a, b)| (a..=b).contains(&r.n));
        if cycle.is_some_and(|(a, _)| a == r.n) {
            let _ = writeln!(out, "      {}.-- from here: repeats forever", lanes(None));
        }
        let bracket = match (cycle.is_some(), inside) {
            (false, _) => "",
            (true, true) => "|  ",
            (true, false) => "   ",
        };
        let mark = if r.violation { 'X' } else { '*' };
        let mut label = ascii(&r.label("->"));
        if r.violation {
            label = format!("X {label}");
        }
        for (k, part) in wrap(&label, text_w).into_iter().enumerate() {
            let line = if k == 0 {
                format!("{:>4}  {}{bracket}{part}", r.n, lanes(Some((r.lane, mark))))
            } else {
                format!("      {}{bracket}  {part}", lanes(None))
            };
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    if let Some((a, b)) = cycle {
        let _ = writeln!(
            out,
            "      {}'-- back to step {a}: steps {a}-{b} repeat forever",
            lanes(None)
        );
    }
    if c.dead_end() {
        let _ = writeln!(
            out,
            "      {} dead end",
            "=".repeat((3 * c.lanes.len()).saturating_sub(1))
        );
    }
    out.push('\n');
    for (k, item) in c.ending().iter().enumerate() {
        let (first, rest) = if k == 0 {
            (
                if c.rows.iter().any(|r| r.violation) {
                    "X "
                } else {
                    ""
                },
                "  ",
            )
        } else {
            ("  ", "  ")
        };
        for (j, l) in wrap(&ascii(item), WIDTH - 2).into_iter().enumerate() {
            let _ = writeln!(out, "{}{l}", if j == 0 { first } else { rest });
        }
    }
    out
}
