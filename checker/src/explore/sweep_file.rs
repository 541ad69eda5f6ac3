//! A sweep's results on disk, so a long sweep survives an interruption and runs in pieces:
//! the header that says which run results belong to (preset, switches, scope, shards, budget,
//! checks), the journal a running sweep appends one line to per finished configuration
//! (`check --resume` reads it back and runs only the rest), and the merge of shard files into
//! one report (`ublksim sweep-merge`).
//!
//! These files travel (a shard run on another machine, mailed back): everything read is
//! validated against the grammar of this build — the configuration at each number must have
//! the name the file gives it — and a file from another run, another tool version or a
//! crafted one is refused with one line, never half used.

use crate::explore::bfs::Order;
use crate::explore::sweep::{summarise, ConfigResult, SweepReport};
use crate::explore::verdict::CheckOpts;
use crate::scenarios::sweep::{configurations, Level};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use ublk_model::Features;

pub const FORMAT: &str = "ublk-sim-sweep";
pub const VERSION: u32 = 1;
/// A sweep file larger than this is not read (a scope has a few thousand configurations).
const MAX_FILE: u64 = 512 << 20;

/// Which run a sweep's results belong to: results merge or resume only under equal headers
/// (apart from the shards).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepHeader {
    pub format: String,
    pub version: u32,
    pub preset: String,
    pub features: Features,
    pub scope: String,
    /// The shards this file holds (`I` of `--shard I/N`), ascending, and `N`.
    pub shards: Vec<usize>,
    pub of: usize,
    /// Configurations of the scope over every shard.
    pub configurations: usize,
    pub budget: u64,
    pub liveness: bool,
    pub safety: bool,
    pub exact: bool,
    /// Depth-first: counterexamples not shortest.
    pub dfs: bool,
    pub max_seconds: u64,
    pub max_memory: Option<u64>,
    /// Symmetry reduction (`--symmetry`); absent when off, as in files written before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub symmetry: bool,
    /// Partial-order reduction (`--partial-order`); absent when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial_order: bool,
}

impl SweepHeader {
    /// The header of a sweep run with `opts` (its `max_states` is the budget) over shard
    /// `shard` of `of` of `level`, which has `configurations` configurations.
    pub fn new(
        opts: &CheckOpts,
        level: Level,
        (shard, of): (usize, usize),
        configurations: usize,
    ) -> SweepHeader {
        SweepHeader {
            format: FORMAT.into(),
            version: VERSION,
            preset: opts.preset.name().into(),
            features: opts.features,
            scope: level.name().into(),
            shards: vec![shard],
            of,
            configurations,
            budget: opts.max_states,
            liveness: opts.liveness,
            safety: opts.safety,
            exact: opts.exact,
            dfs: opts.order == Order::Dfs,
            max_seconds: opts.max_time.as_secs(),
            max_memory: opts.max_memory,
            symmetry: opts.symmetry,
            partial_order: opts.partial_order,
        }
    }

    /// The same run apart from the shards.
    fn same_run(&self, o: &SweepHeader) -> bool {
        let strip = |h: &SweepHeader| SweepHeader {
            shards: vec![],
            ..h.clone()
        };
        strip(self) == strip(o)
    }

    /// Whether configuration `index` belongs to this file's shards.
    pub fn holds(&self, index: usize) -> bool {
        self.of > 0 && self.shards.contains(&(index % self.of))
    }

    /// How the header differs from `o`, for an error message.
    fn differs(&self, o: &SweepHeader) -> String {
        let a = serde_json::to_value(self).unwrap_or_default();
        let b = serde_json::to_value(o).unwrap_or_default();
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return "headers differ".into();
        };
        let fields: Vec<String> = (a.iter())
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| {
                format!(
                    "{k} {v} vs {}",
                    b.get(k).unwrap_or(&serde_json::Value::Null)
                )
            })
            .collect();
        fields.join(", ")
    }
}

/// The journal next to `--sweep-json FILE`: `FILE.journal`.
pub fn journal_path(sweep_json: &Path) -> PathBuf {
    let mut p = sweep_json.as_os_str().to_owned();
    p.push(".journal");
    PathBuf::from(p)
}

/// Checks a result read from a file against this build's grammar: its number is one of the
/// header's shards and names the configuration it says.
fn check_result(h: &SweepHeader, names: &[String], c: &ConfigResult) -> Result<(), String> {
    if c.index >= names.len() || !h.holds(c.index) {
        return Err(format!(
            "configuration number {} is not in shard(s) {:?} of {}",
            c.index, h.shards, h.of
        ));
    }
    if names[c.index] != c.name {
        return Err(format!(
            "configuration {} is '{}' in this build's grammar, the file says '{}' (another tool version?)",
            c.index, names[c.index], c.name
        ));
    }
    if c.steps.len() != c.findings.len() {
        return Err(format!(
            "configuration {}: findings and step counts disagree",
            c.name
        ));
    }
    Ok(())
}

/// Checks a header read from a file: format, version, and a scope whose size this build
/// agrees with.
fn check_header(h: &SweepHeader, names: &[String]) -> Result<(), String> {
    if h.format != FORMAT || h.version != VERSION {
        return Err(format!(
            "not a sweep file of this version (format '{}' version {}, expected '{FORMAT}' {VERSION})",
            h.format, h.version
        ));
    }
    if h.of == 0 || h.shards.is_empty() || h.shards.iter().any(|&s| s >= h.of) {
        return Err(format!("bad shards {:?} of {}", h.shards, h.of));
    }
    if h.shards.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("shards {:?} not ascending", h.shards));
    }
    if h.configurations != names.len() {
        return Err(format!(
            "scope {} has {} configurations in this build, the file says {} (another tool version?)",
            h.scope,
            names.len(),
            h.configurations
        ));
    }
    Ok(())
}

fn read_capped(path: &Path) -> Result<String, String> {
    let md = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !md.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if md.len() > MAX_FILE {
        return Err(format!(
            "{}: larger than {} MiB",
            path.display(),
            MAX_FILE >> 20
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What a journal left by an interrupted run holds: the results of `header`'s run, in the
/// order they finished.  A last line cut short (the run was killed while writing it) is
/// dropped; any other bad line is an error.
pub fn read_journal(
    path: &Path,
    header: &SweepHeader,
    names: &[String],
) -> Result<Vec<ConfigResult>, String> {
    let text = read_capped(path)?;
    let at = |n: usize, m: String| format!("{} line {}: {m}", path.display(), n + 1);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let torn = lines.pop().filter(|l| !l.is_empty());
    let Some(first) = lines.first() else {
        return Ok(vec![]); // killed before the header was written
    };
    let h: SweepHeader = serde_json::from_str(first).map_err(|e| at(0, e.to_string()))?;
    check_header(&h, names).map_err(|e| at(0, e))?;
    if &h != header {
        return Err(at(
            0,
            format!("the journal is from another run ({})", h.differs(header)),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (n, l) in lines.iter().enumerate().skip(1) {
        let c: ConfigResult = serde_json::from_str(l).map_err(|e| at(n, e.to_string()))?;
        check_result(&h, names, &c).map_err(|e| at(n, e))?;
        if !seen.insert(c.index) {
            return Err(at(n, format!("configuration {} twice", c.name)));
        }
        out.push(c);
    }
    if let Some(t) = torn {
        // a complete line would have ended with its newline
        if serde_json::from_str::<ConfigResult>(t).is_ok() {
            return Err(at(lines.len(), "a last line without its newline".into()));
        }
    }
    Ok(out)
}

/// The journal of a running sweep: its header, then one line per finished configuration,
/// each flushed as it is written.
pub struct Journal {
    file: std::fs::File,
}

impl Journal {
    /// Opens `path` for appending after `kept` results of the same run (rewritten first, so
    /// a torn last line is gone), or starts it with `header`.
    pub fn start(
        path: &Path,
        header: &SweepHeader,
        kept: &[ConfigResult],
    ) -> Result<Journal, String> {
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        if let Ok(md) = std::fs::symlink_metadata(path) {
            if !md.is_file() {
                return Err(format!(
                    "{}: exists and is not a regular file",
                    path.display()
                ));
            }
        }
        let mut text = serde_json::to_string(header).map_err(|e| e.to_string())? + "\n";
        for c in kept {
            text += &(serde_json::to_string(c).map_err(|e| e.to_string())? + "\n");
        }
        ublk_traces::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(Journal { file })
    }

    pub fn append(&mut self, c: &ConfigResult) -> Result<(), String> {
        let line = serde_json::to_string(c).map_err(|e| e.to_string())? + "\n";
        (self.file.write_all(line.as_bytes()))
            .and_then(|_| self.file.sync_data())
            .map_err(|e| format!("journal: {e}"))
    }
}

/// A sweep file (`--sweep-json`) read back and validated.
pub fn read_report(
    path: &Path,
    names_of: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<SweepReport, String> {
    let text = read_capped(path)?;
    let r: SweepReport =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let names = names_of(&r.header.scope)
        .ok_or_else(|| format!("{}: unknown scope '{}'", path.display(), r.header.scope))?;
    check_header(&r.header, &names).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut seen = BTreeSet::new();
    for c in &r.configs {
        check_result(&r.header, &names, c).map_err(|e| format!("{}: {e}", path.display()))?;
        if !seen.insert(c.index) {
            return Err(format!(
                "{}: configuration {} twice",
                path.display(),
                c.name
            ));
        }
    }
    let expected = (0..names.len()).filter(|&i| r.header.holds(i)).count();
    if seen.len() != expected {
        return Err(format!(
            "{}: holds {} of the {expected} configurations of its shard(s)",
            path.display(),
            seen.len()
        ));
    }
    // the summary is derived data: recomputed, never trusted
    Ok(summarise(r.header, r.configs))
}

/// The results an interrupted run with `header` left: its journal next to `sweep_json`, or
/// the finished file itself.
pub fn resumed(
    sweep_json: &Path,
    header: &SweepHeader,
    names: &[String],
) -> Result<Vec<ConfigResult>, String> {
    let j = journal_path(sweep_json);
    if j.exists() {
        return read_journal(&j, header, names);
    }
    if !sweep_json.exists() {
        return Ok(vec![]);
    }
    let by_scope = |s: &str| {
        Level::parse(s)
            .ok()
            .map(|l| configurations(l).into_iter().map(|c| c.name).collect())
    };
    let r = read_report(sweep_json, by_scope)?;
    if &r.header != header {
        return Err(format!(
            "{}: from another run ({}); without --resume the sweep starts over",
            sweep_json.display(),
            r.header.differs(header)
        ));
    }
    Ok(r.configs)
}

/// Shard files of one run merged into one report: same run, disjoint shards.
pub fn merge(parts: Vec<SweepReport>) -> Result<SweepReport, String> {
    let mut it = parts.into_iter();
    let first = it.next().ok_or("nothing to merge")?;
    let mut header = first.header.clone();
    let mut configs = first.configs;
    for p in it {
        if !header.same_run(&p.header) {
            return Err(format!(
                "the files are from different runs ({})",
                header.differs(&p.header)
            ));
        }
        if let Some(s) = p.header.shards.iter().find(|s| header.shards.contains(s)) {
            return Err(format!("shard {s} of {} is in two files", header.of));
        }
        header.shards.extend(&p.header.shards);
        configs.extend(p.configs);
    }
    header.shards.sort_unstable();
    configs.sort_by_key(|c| c.index);
    Ok(summarise(header, configs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explore::sweep::run;
    use ublk_model::Preset;

    /// `s1` with a small budget (every configuration runs fast; many are cut), shard
    /// `shard` of `of`: the header, the configurations, the names.
    fn setup(
        shard: usize,
        of: usize,
    ) -> (
        SweepHeader,
        Vec<(usize, ublk_model::Scenario)>,
        Vec<String>,
        CheckOpts,
    ) {
        let opts = CheckOpts {
            max_states: 3_000,
            out: None,
            ..CheckOpts::new(Preset::K72, Preset::K72.features())
        };
        let all = configurations(Level::S1);
        let names: Vec<String> = all.iter().map(|s| s.name.clone()).collect();
        let h = SweepHeader::new(&opts, Level::S1, (shard, of), all.len());
        let configs = (all.into_iter().enumerate())
            .filter(|(i, _)| h.holds(*i))
            .collect();
        (h, configs, names, opts)
    }

    fn json(r: &SweepReport) -> String {
        serde_json::to_string_pretty(r).unwrap()
    }

    /// A sweep stopped after a few configurations (its journal kept) and resumed from the
    /// journal writes the report an uninterrupted run writes, byte for byte; a torn last
    /// line is dropped; a journal of another run, or naming a configuration wrongly, is
    /// refused.
    #[test]
    fn a_resumed_sweep_writes_the_report_of_an_uninterrupted_one() {
        let (h, configs, names, opts) = setup(1, 12);
        let whole = run(h.clone(), &configs, vec![], &opts, 2, |_, _| Ok(())).unwrap();
        assert!(whole.configs.len() > 40 && whole.signatures.len() > 1 && whole.cut > 0);
        let dir = tempfile::tempdir().unwrap();
        let jp = dir.path().join("s.json.journal");
        let mut j = Journal::start(&jp, &h, &[]).unwrap();
        let stopped = run(h.clone(), &configs, vec![], &opts, 2, |c, n| {
            j.append(c)?;
            if n >= 9 {
                Err("stop".into())
            } else {
                Ok(())
            }
        });
        assert_eq!(stopped.unwrap_err(), "stop");
        drop(j);
        // the run was killed while writing one more line
        let mut text = std::fs::read_to_string(&jp).unwrap();
        text += "{\"index\": 3, \"na";
        std::fs::write(&jp, &text).unwrap();
        let done = read_journal(&jp, &h, &names).unwrap();
        assert!(
            done.len() >= 9 && done.len() < whole.configs.len(),
            "{}",
            done.len()
        );
        let rest: Vec<_> = (configs.iter())
            .filter(|&(i, _)| !done.iter().any(|c| c.index == *i))
            .cloned()
            .collect();
        let resumed = run(h.clone(), &rest, done, &opts, 1, |_, _| Ok(())).unwrap();
        assert_eq!(json(&resumed), json(&whole));
        // another run's journal
        let other = SweepHeader {
            budget: 4_000,
            ..h.clone()
        };
        let e = read_journal(&jp, &other, &names).unwrap_err();
        assert!(e.contains("another run") && e.contains("budget"), "{e}");
        // a line naming another configuration than the grammar's
        let first_line = text.lines().nth(1).unwrap();
        let mut c: ConfigResult = serde_json::from_str(first_line).unwrap();
        c.name = "g-d1-made-up".into();
        let forged = text.replacen(first_line, &serde_json::to_string(&c).unwrap(), 1);
        std::fs::write(&jp, forged).unwrap();
        let e = read_journal(&jp, &h, &names).unwrap_err();
        assert!(e.contains("line 2") && e.contains("g-d1-made-up"), "{e}");
    }

    /// Shard files merged in any order give the report of one run over every shard; files
    /// that overlap, come from another run or were altered are refused.
    #[test]
    fn merged_shards_equal_one_run_and_bad_files_are_refused() {
        let (h, configs, names, opts) = setup(0, 1);
        let whole = run(h, &configs, vec![], &opts, 2, |_, _| Ok(())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let names_of = |s: &str| (s == "s1").then(|| names.clone());
        let mut files = Vec::new();
        for shard in [2, 0, 1] {
            let (h, configs, _, opts) = setup(shard, 3);
            let r = run(h, &configs, vec![], &opts, 2, |_, _| Ok(())).unwrap();
            let f = dir.path().join(format!("{shard}.json"));
            std::fs::write(&f, json(&r)).unwrap();
            files.push(f);
        }
        let parts = files
            .iter()
            .map(|f| read_report(f, names_of).unwrap())
            .collect();
        let merged = merge(parts).unwrap();
        assert_eq!(merged.header.shards, vec![0, 1, 2]);
        let mut merged = merged;
        merged.header.shards = vec![0];
        merged.header.of = 1;
        assert_eq!(json(&merged), json(&whole));
        // the same shard twice
        let twice = vec![
            read_report(&files[1], names_of).unwrap(),
            read_report(&files[1], names_of).unwrap(),
        ];
        assert!(merge(twice).unwrap_err().contains("in two files"));
        // a file whose configurations were altered: one dropped, one renamed
        let text = std::fs::read_to_string(&files[0]).unwrap();
        let mut r: SweepReport = serde_json::from_str(&text).unwrap();
        r.configs.pop();
        std::fs::write(&files[0], json(&r)).unwrap();
        let e = read_report(&files[0], names_of).unwrap_err();
        assert!(e.contains("holds"), "{e}");
        let mut r: SweepReport = serde_json::from_str(&text).unwrap();
        r.configs[0].index = names.len() + 5;
        std::fs::write(&files[0], json(&r)).unwrap();
        assert!(read_report(&files[0], names_of)
            .unwrap_err()
            .contains("not in shard"));
        // a summary that lies is recomputed from the configurations
        let mut r: SweepReport = serde_json::from_str(&text).unwrap();
        r.signatures.clear();
        r.explored = 0;
        std::fs::write(&files[0], json(&r)).unwrap();
        let back = read_report(&files[0], names_of).unwrap();
        assert_eq!(json(&back), text);
    }
}
