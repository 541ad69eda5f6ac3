//! `ublksim list`: presets, switches and scenarios.

use crate::scenarios;
use ublk_model::features::{SwKind, NON_BEHAVIOURAL_PATCHES};
use ublk_model::{Expectation, Preset, ALL_SWITCHES};

/// `ublksim list` arguments.
#[derive(clap::Args)]
pub struct ListArgs {
    /// Print a JSON report instead of the text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: ListArgs) -> anyhow::Result<i32> {
    if a.json {
        crate::cmd::report::print("list", json())?;
    } else {
        print!("{}", list());
    }
    Ok(0)
}

/// The same facts as [`list`], as data.
fn json() -> serde_json::Value {
    let presets: Vec<_> = Preset::every()
        .map(|p| {
            serde_json::json!({
                "name": p.name(),
                "describe": p.describe(),
                "switches": p.features().iter().map(|w| w.name()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let switches: Vec<_> = ALL_SWITCHES
        .iter()
        .map(|w| {
            let i = w.info();
            serde_json::json!({
                "name": i.name,
                "kind": format!("{:?}", i.kind),
                "title": i.title,
                "bug": i.bug,
            })
        })
        .collect();
    let properties = ublk_model::properties::properties();
    let scenarios: Vec<_> = scenarios::all()
        .iter()
        .map(|sc| {
            serde_json::json!({
                "name": sc.name,
                "doc": sc.doc,
                "sometimes": scenarios::goals(&sc.name).iter().map(|g| g.name()).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "presets": presets,
        "switches": switches,
        "properties": properties,
        "scenarios": scenarios,
    })
}

fn list() -> String {
    use std::fmt::Write;
    let mut s = String::from("PRESETS\n");
    for p in Preset::every() {
        let _ = writeln!(s, "  {:<5} {}", p.name(), p.describe());
    }
    let names: Vec<_> = Preset::every().map(Preset::name).collect();
    let _ = writeln!(s, "\nSWITCHES (on in: {})", names.join(" "));
    for w in ALL_SWITCHES {
        let i = w.info();
        let on: Vec<_> = Preset::every()
            .map(|p| if p.features().has(w) { "x" } else { "." })
            .collect();
        let kind = match i.kind {
            SwKind::SeriesPatch => "patch",
            SwKind::Fix => "fix",
            SwKind::Refinement => "k72",
            SwKind::Upstream => "newer",
        };
        let bug = i
            .bug
            .map(|b| format!(" [absent = seeded bug {b}]"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:<24} {:<5} {}    {}{}",
            i.name,
            kind,
            on.join("   "),
            i.title,
            bug
        );
    }
    s.push_str("\nSERIES PATCHES WITHOUT OBSERVABLE BEHAVIOUR (not switches)\n");
    for (p, why) in NON_BEHAVIOURAL_PATCHES {
        let _ = writeln!(s, "  {p:<5} {why}");
    }
    s.push_str("\nPROPERTIES (always: a counterexample is a path; eventually: a lasso or a dead end; sometimes: a goal, never reached = vacuous)\n");
    for p in ublk_model::properties::properties() {
        let e = match p.expectation {
            Expectation::Always => "always",
            Expectation::Eventually => "eventually",
            Expectation::Sometimes => "sometimes",
        };
        let _ = writeln!(s, "  {:<20} {e:<10} {}", p.name, p.describe);
    }
    s.push_str("\nSCENARIOS\n");
    for sc in scenarios::all() {
        let _ = writeln!(s, "  {:<34} {}", sc.name, sc.doc);
        let g = scenarios::goals(&sc.name);
        if !g.is_empty() {
            let names: Vec<_> = g.iter().map(|g| g.name()).collect();
            let _ = writeln!(s, "  {:<34} sometimes: {}", "", names.join(", "));
        }
    }
    s
}
