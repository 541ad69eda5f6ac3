//! `ublksim graph`: the guide's diagrams, projected from the state graph (DOT, and SVG through
//! graphviz).

use crate::teach::graph::{dot, svg, Spec, ALL};
use std::path::{Path, PathBuf};

/// `ublksim graph` arguments.
#[derive(clap::Args)]
pub struct GraphArgs {
    /// Regenerate every diagram of the guide.
    #[arg(long)]
    pub all: bool,
    /// One diagram by name (see `--list`).
    #[arg(long)]
    pub name: Vec<String>,
    /// List the diagrams.
    #[arg(long)]
    pub list: bool,
    /// Folder for NAME.dot and NAME.svg.
    #[arg(long, default_value = "docs/img")]
    pub out: PathBuf,
    /// Write only the DOT files (no graphviz needed).
    #[arg(long)]
    pub dot_only: bool,
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    ublk_traces::write_atomic(path, bytes)?;
    Ok(())
}

pub fn run(a: GraphArgs) -> anyhow::Result<i32> {
    if a.list {
        for s in ALL {
            println!(
                "{:<22} {} on {} — {}",
                s.name,
                s.scenario,
                s.preset.name(),
                s.title
            );
        }
        return Ok(0);
    }
    let specs: Vec<&Spec> = if a.all {
        ALL.iter().collect()
    } else {
        a.name
            .iter()
            .map(|n| {
                ALL.iter()
                    .find(|s| s.name == n)
                    .ok_or_else(|| anyhow::anyhow!("no diagram '{n}' (see `ublksim graph --list`)"))
            })
            .collect::<Result<_, _>>()?
    };
    if specs.is_empty() {
        anyhow::bail!("say --all or --name NAME (see --list)");
    }
    for s in specs {
        let d = dot(s).map_err(anyhow::Error::msg)?;
        write(&a.out.join(format!("{}.dot", s.name)), d.as_bytes())?;
        if !a.dot_only {
            let svg = svg(&d).map_err(anyhow::Error::msg)?;
            write(&a.out.join(format!("{}.svg", s.name)), &svg)?;
        }
        let nodes = d
            .lines()
            .filter(|l| {
                l.starts_with("  n") && l.as_bytes()[3].is_ascii_digit() && !l.contains(" -> ")
            })
            .count();
        println!("{}: {} nodes → {}", s.name, nodes, a.out.display());
    }
    Ok(0)
}
