//! `ublksim zoo`: the guide's bug zoo page.

use crate::teach::zoo::markdown;
use std::path::PathBuf;

/// `ublksim zoo` arguments.
#[derive(clap::Args)]
pub struct ZooArgs {
    /// Where to write the page (default: print it).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(a: ZooArgs) -> anyhow::Result<i32> {
    let md = markdown().map_err(anyhow::Error::msg)?;
    match a.out {
        Some(p) => {
            ublk_traces::write_atomic(&p, md.as_bytes())?;
            println!("wrote {}", p.display());
        }
        None => print!("{md}"),
    }
    Ok(0)
}
