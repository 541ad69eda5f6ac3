//! `ublksim diff`: model-check a patch by comparing two switch sets.
//!
//! A side is `PRESET[+SWITCH|-SWITCH…]` (`POST-p02`, `K72+B-8`,
//! `PRE+p02+p03`; a bug id with `+` means "bug present", as in
//! `--with B-8`).  For every scenario both sides are checked (verdicts, with
//! the known findings of `known.rs`), both state graphs are compared under
//! the canonical projection (`projection.rs`), and the command-result table
//! (`situations.rs`) of each side is compared row by row.  A patch "got
//! worse" when a scenario that is PASS or KNOWN on the base FAILs with it.

use crate::diff::situations::{self, show_set, CmdTable, RowKey};
use crate::explore::bfs::{replay, Explorer, Order, Stop};
use crate::explore::known::What;
use crate::explore::projection::{project, Projected};
use crate::explore::verdict::{self, CheckOpts, ScenarioResult, Verdict};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use ublk_model::{apply_switches, Features, Func, Model, Preset, Scenario, Sw, ALL_SWITCHES};

/// One side of a diff: a preset and its switch changes.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub spec: String,
    #[serde(skip)]
    pub preset: Preset,
    #[serde(skip)]
    pub features: Features,
    /// `+p02 -fix-b8` relative to the preset.
    pub switches: Vec<String>,
}

/// Parse `PRESET[+/-ITEM…]`.  Items are switch names or bug ids; since both
/// contain `-`, each item is the longest known name at that position.
pub fn parse_side(spec: &str) -> Result<Side, String> {
    let cut = spec.find(['+', '-']).unwrap_or(spec.len());
    let preset = Preset::from_name(&spec[..cut]).ok_or_else(|| {
        format!(
            "'{spec}': unknown preset '{}' ({})",
            &spec[..cut],
            Preset::known_names()
        )
    })?;
    let mut names: Vec<&str> = ALL_SWITCHES.iter().map(|w| w.name()).collect();
    names.extend(ALL_SWITCHES.iter().filter_map(|w| w.info().bug));
    let mut f = preset.features();
    let mut rest = &spec[cut..];
    while !rest.is_empty() {
        let (on, tail) = (rest.starts_with('+'), &rest[1..]);
        let lower = tail.to_ascii_lowercase();
        let item = names
            .iter()
            .filter(|n| {
                let n = n.to_ascii_lowercase();
                lower.starts_with(&n)
                    && matches!(lower.as_bytes().get(n.len()), None | Some(b'+' | b'-'))
            })
            .max_by_key(|n| n.len())
            .ok_or_else(|| format!("'{spec}': unknown switch at '{rest}' (see `ublksim list`)"))?;
        let it = [tail[..item.len()].to_string()];
        f = if on {
            apply_switches(f, &it, &[])?
        } else {
            apply_switches(f, &[], &it)?
        };
        rest = &tail[item.len()..];
    }
    Ok(Side {
        spec: spec.to_string(),
        preset,
        features: f,
        switches: f.diff_from(preset.features()),
    })
}

/// Options of one diff.
pub struct DiffOpts {
    pub scenarios: Vec<Scenario>,
    /// Example paths per side and scenario into states only that side reaches.
    pub examples: usize,
    pub max_states: u64,
    pub max_time: Duration,
    /// Also look for hangs (L1–L5), as `check` does by default.
    pub liveness: bool,
}

/// A verdict in one cell: `PASS`, `KNOWN S4`, `FAIL S1` …
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Path of the counterexample (actor ids), for printing.
    #[serde(skip)]
    pub path: Option<Vec<ublk_model::Move>>,
    #[serde(skip)]
    pub kind: Verdict,
}

/// An example path into a state only one side reaches.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub steps: Vec<String>,
    pub state: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct StateDiff {
    pub base: usize,
    pub patch: usize,
    pub common: usize,
    pub only_base: usize,
    pub only_patch: usize,
    pub examples_base: Vec<Example>,
    pub examples_patch: Vec<Example>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioDiff {
    pub scenario: String,
    pub base: Cell,
    pub patch: Cell,
    pub changed: bool,
    pub worse: bool,
    /// `None` when a side stopped early (violation or limit): the graphs
    /// are not complete, so a state difference would mean nothing.
    pub states: Option<StateDiff>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CmdRow {
    pub mode: String,
    pub command: String,
    pub situation: String,
    pub issuer: String,
    pub base: String,
    pub patch: String,
    pub changed: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct DiffReport {
    pub tool: String,
    pub base: Side,
    pub patch: Side,
    /// Changed verdicts first, then catalogue order.
    pub scenarios: Vec<ScenarioDiff>,
    /// Changed rows first, then sorted.
    pub commands: Vec<CmdRow>,
    pub partial_tables: Vec<String>,
    pub worse: bool,
}

/// The verdict of `sc` on `side`.  On a modified switch set, a finding
/// declared KNOWN (for this preset, else for another version) stays KNOWN
/// while the fix switch of its bug is absent (the bug is still there) and
/// the same invariant or property breaks — so a patch is not blamed for
/// bugs it did not touch.
pub fn verdict(sc: &Scenario, side: &Side, o: &DiffOpts) -> Result<ScenarioResult, String> {
    let opts = CheckOpts {
        order: Order::Bfs,
        max_states: o.max_states,
        max_time: o.max_time,
        out: None,
        liveness: o.liveness,
        ..CheckOpts::new(side.preset, side.features)
    };
    let mut r = verdict::run_scenario(sc, &opts)?;
    if r.verdict == Verdict::Fail && side.features != side.preset.features() {
        let found = what_of(&r);
        // the preset's own declaration first, then any other version's
        let mut ks: Vec<_> = crate::explore::known::all().collect();
        ks.sort_by_key(|k| !k.in_preset(side.preset));
        let carried = ks.into_iter().find(|k| {
            k.scenario == sc.name
                && Some(k.what) == found
                && Sw::for_bug(k.bug).is_none_or(|w| !side.features.has(w))
        });
        if let Some(k) = carried {
            r.verdict = Verdict::Known;
            r.known = Some(format!("{} ({}): {}", k.bug, k.what, k.reason));
        }
    }
    Ok(r)
}

/// The finding of a result in `known.rs` terms.
fn what_of(r: &ScenarioResult) -> Option<What> {
    if let Some(v) = &r.violation {
        return Some(What::Safety(v.inv));
    }
    r.hang.as_ref().map(|h| What::Hang(h.property))
}

fn cell(r: &ScenarioResult) -> Cell {
    let inv = r.finding();
    let bug = r
        .known
        .as_ref()
        .and_then(|k| k.split_whitespace().next())
        .unwrap_or("");
    let verdict = match (&r.verdict, inv) {
        (Verdict::Pass, _) => "PASS".to_string(),
        (Verdict::Known, Some(i)) => format!("KNOWN {i} {bug}"),
        (Verdict::Fail, Some(i)) => format!("FAIL {i}"),
        (Verdict::Fail, None) => format!("FAIL (known {bug} not found)"),
        (v, _) => format!("{v:?}").to_uppercase(),
    };
    Cell {
        verdict,
        note: r.known.clone(),
        path: r
            .trace
            .as_ref()
            .map(|t| t.steps.iter().map(|s| s.mv()).collect()),
        kind: r.verdict.clone(),
    }
}

/// `actor  function → result` per step of `path`.
pub fn steps(m: &Model, path: &[ublk_model::Move]) -> Vec<String> {
    let (infos, v) = replay(m, path).unwrap_or_default();
    let mut out: Vec<String> = infos
        .iter()
        .filter(|i| i.func != Func::Violation)
        .map(|i| {
            let res = i
                .result
                .map(|r| format!(" → {}", situations::show_res(Some(r))))
                .unwrap_or_default();
            format!("{} {}{res}", m.actors[i.actor as usize].name, i.func)
        })
        .collect();
    if let Some(v) = v {
        let who = path
            .last()
            .map_or("", |a| m.actors[a.actor as usize].name.as_str());
        out.push(format!("{who} ✗ {}: {}", v.inv, v.msg));
    }
    out
}

/// Distinct projections of a complete exploration, each with the first
/// (shortest, BFS) state index that has it.
type Proj = BTreeMap<Projected, (usize, u32)>;

fn projections(m: &Model, o: &DiffOpts) -> Option<(Proj, crate::explore::bfs::Graph<Projected>)> {
    let (r, g) = Explorer::new(m)
        .max_states(o.max_states)
        .max_time(o.max_time)
        .run_graph(|s| project(m, s));
    if r.stop != Stop::Exhausted {
        return None;
    }
    let mut first = Proj::new();
    for (i, p) in g.nodes.iter().enumerate() {
        first
            .entry(p.clone())
            .or_insert_with(|| (g.path_to(i as u32).len(), i as u32));
    }
    Some((first, g))
}

fn examples(
    m: &Model,
    mine: &Proj,
    g: &crate::explore::bfs::Graph<Projected>,
    other: &Proj,
    n: usize,
) -> Vec<Example> {
    let mut only: Vec<_> = mine
        .iter()
        .filter(|(p, _)| !other.contains_key(*p))
        .map(|(p, (d, i))| (*d, p, *i))
        .collect();
    only.sort();
    only.into_iter()
        .take(n)
        .map(|(_, p, i)| Example {
            steps: steps(m, &g.path_to(i)),
            state: p.render(m),
        })
        .collect()
}

fn state_diff(
    sc: &Scenario,
    base: &Side,
    patch: &Side,
    o: &DiffOpts,
) -> Result<Option<StateDiff>, String> {
    let mb = Model::new(sc, base.features)?;
    let mp = Model::new(sc, patch.features)?;
    let (Some((pb, gb)), Some((pp, gp))) = (projections(&mb, o), projections(&mp, o)) else {
        return Ok(None);
    };
    let common = pb.keys().filter(|k| pp.contains_key(*k)).count();
    Ok(Some(StateDiff {
        base: pb.len(),
        patch: pp.len(),
        common,
        only_base: pb.len() - common,
        only_patch: pp.len() - common,
        examples_base: examples(&mb, &pb, &gb, &pp, o.examples),
        examples_patch: examples(&mp, &pp, &gp, &pb, o.examples),
    }))
}

/// Compare the command-result tables of two sides, changed rows first.
pub fn cmd_rows(b: &CmdTable, p: &CmdTable) -> Vec<CmdRow> {
    let keys: BTreeSet<&RowKey> = b.rows.keys().chain(p.rows.keys()).collect();
    let mut rows: Vec<CmdRow> = keys
        .into_iter()
        .map(|k| {
            let (bs, ps) = (b.rows.get(k), p.rows.get(k));
            CmdRow {
                mode: k.0.clone(),
                command: k.1.to_string(),
                situation: k.2.clone(),
                issuer: k.3.to_string(),
                base: show_set(bs),
                patch: show_set(ps),
                changed: bs != ps,
            }
        })
        .collect();
    rows.sort_by_key(|r| !r.changed);
    rows
}

/// Run the whole diff.
pub fn run(base: &Side, patch: &Side, o: &DiffOpts) -> Result<DiffReport, String> {
    let mut scs = Vec::new();
    for sc in &o.scenarios {
        let (rb, rp) = (verdict(sc, base, o)?, verdict(sc, patch, o)?);
        let (cb, cp) = (cell(&rb), cell(&rp));
        let worse = matches!(cb.kind, Verdict::Pass | Verdict::Known) && cp.kind == Verdict::Fail;
        scs.push(ScenarioDiff {
            scenario: sc.name.clone(),
            changed: cb.verdict != cp.verdict,
            worse,
            base: cb,
            patch: cp,
            states: state_diff(sc, base, patch, o)?,
        });
    }
    scs.sort_by_key(|s| !s.changed);
    let (tb, tp) = (
        situations::table(base.features)?,
        situations::table(patch.features)?,
    );
    let mut partial: Vec<String> = tb
        .partial
        .iter()
        .map(|p| format!("{}: {p}", base.spec))
        .collect();
    partial.extend(tp.partial.iter().map(|p| format!("{}: {p}", patch.spec)));
    Ok(DiffReport {
        tool: format!("ublksim {}", env!("CARGO_PKG_VERSION")),
        worse: scs.iter().any(|s| s.worse),
        base: base.clone(),
        patch: patch.clone(),
        scenarios: scs,
        commands: cmd_rows(&tb, &tp),
        partial_tables: partial,
    })
}

impl DiffReport {
    /// (verdicts changed, scenarios with state differences, command rows changed).
    pub fn counts(&self) -> (usize, usize, usize) {
        let v = self.scenarios.iter().filter(|s| s.changed).count();
        let st = self
            .scenarios
            .iter()
            .filter(|s| {
                s.states
                    .as_ref()
                    .is_some_and(|d| d.only_base + d.only_patch > 0)
            })
            .count();
        (v, st, self.commands.iter().filter(|r| r.changed).count())
    }
}
