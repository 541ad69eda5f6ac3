//! # ublk-traces: the one trace format
//!
//! A trace is JSON lines: a [`Header`] line, then one [`TraceStep`] line per
//! atomic step, then an optional [`Outcome`] line.  The header embeds the
//! whole scenario and the exact switch set, so a trace replays without the
//! tool's scenario catalogue (and a catalogue change cannot silently change
//! what a saved counterexample means).  Writes are atomic (temp file +
//! rename): a failed run never leaves half a trace behind.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::Path;
use ublk_model::{Features, Inv, Prop, Scenario};

pub mod validate;

pub const FORMAT: &str = "ublk-sim-trace";
pub const VERSION: u32 = 1;

/// How much of an (untrusted) trace file a reader accepts (default: 256 MiB, 2 M steps — a
/// simulator's full trace of `--steps 1000000` fits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read at most; a longer file (or a device like /dev/zero) is refused.
    pub max_bytes: u64,
    /// Steps at most.
    pub max_steps: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 256 << 20,
            max_steps: 2_000_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    /// `ublksim <crate version>`.
    pub tool: String,
    pub preset: String,
    /// Differences from the preset, `+name` / `-name`.
    pub switches: Vec<String>,
    /// The complete switch set the model ran with.
    pub features: Features,
    pub scenario: Scenario,
    /// What produced it: "explorer-bfs", "explorer-dfs", …
    pub engine: String,
    /// Were the state invariants (S4–S6, S9) checked?  (`--liveness-only`
    /// turns them off; a replay must do the same.)
    #[serde(default = "yes")]
    pub state_invariants: bool,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceStep {
    pub i: u32,
    pub actor: String,
    pub actor_id: u8,
    /// Which alternative of the step the kernel took where its choice is free
    /// (the driver tag a request gets); absent for 0.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub choice: u8,
    /// The kernel function the step models.
    pub func: String,
    /// A result user space observes at this step, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<i32>,
}

impl TraceStep {
    /// The step as a move of the model (actor and alternative).
    pub fn mv(&self) -> ublk_model::Move {
        ublk_model::Move {
            actor: self.actor_id,
            choice: self.choice,
        }
    }
}

fn is_zero(c: &u8) -> bool {
    *c == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub violation: Option<ViolationRec>,
    /// A hang (liveness): the steps from `cycle_start` on repeat forever;
    /// without a cycle the last state is a dead end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang: Option<HangRec>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HangRec {
    pub property: Prop,
    pub obligation: String,
    /// Index of the first step of the cycle; `None` for a dead end.
    pub cycle_start: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViolationRec {
    pub invariant: Inv,
    pub message: String,
    /// The actor whose step broke it.
    pub actor: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    pub header: Header,
    pub steps: Vec<TraceStep>,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: malformed trace: {msg}")]
    Malformed {
        path: String,
        line: usize,
        msg: String,
    },
    #[error("{path}: {msg}")]
    Invalid { path: String, msg: String },
    #[error("{path}: not a ublk-sim trace (format {found:?}, version {version}; this tool reads {FORMAT} v{VERSION})")]
    Version {
        path: String,
        found: String,
        version: u32,
    },
}

impl Trace {
    /// Serialise as JSON lines (deterministic: field order is fixed).
    pub fn to_jsonl(&self) -> String {
        let mut out = serde_json::to_string(&self.header).expect("header serialises");
        out.push('\n');
        for s in &self.steps {
            out.push_str(&serde_json::to_string(s).expect("step serialises"));
            out.push('\n');
        }
        if let Some(o) = &self.outcome {
            out.push_str(&serde_json::to_string(o).expect("outcome serialises"));
            out.push('\n');
        }
        out
    }

    /// Parse with the default [`Limits`].
    pub fn parse(text: &str, path: &str) -> Result<Trace, TraceError> {
        Trace::parse_limited(text, path, &Limits::default())
    }

    /// Parse and validate: the header's scenario (every index and count, see
    /// [`validate`]), the step numbering, the step count and the outcome's
    /// shape.  Whether the steps fit the model is the replay's business.
    pub fn parse_limited(text: &str, path: &str, lim: &Limits) -> Result<Trace, TraceError> {
        let mal = |line: usize, msg: String| TraceError::Malformed {
            path: path.into(),
            line,
            msg,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines.next().ok_or_else(|| mal(1, "empty file".into()))?;
        let v: serde_json::Value =
            serde_json::from_str(first).map_err(|e| mal(1, e.to_string()))?;
        let found = v
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or("")
            .to_string();
        let version = v.get("version").and_then(|f| f.as_u64()).unwrap_or(0) as u32;
        if found != FORMAT || version != VERSION {
            return Err(TraceError::Version {
                path: path.into(),
                found,
                version,
            });
        }
        let mut header: Header = serde_json::from_value(v).map_err(|e| mal(1, e.to_string()))?;
        // The switch set is the preset plus the header's `switches` (its diff): a switch added
        // after the trace was written takes the preset's value, where the stored bit mask
        // (older bit layout) would read it as off.
        let preset = ublk_model::Preset::from_name(&header.preset)
            .ok_or_else(|| mal(1, format!("unknown preset '{}'", header.preset)))?;
        let (with, without): (Vec<String>, Vec<String>) = header
            .switches
            .iter()
            .cloned()
            .partition(|s| !s.starts_with('-'));
        let strip = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.trim_start_matches(['+', '-']).to_string())
                .collect()
        };
        header.features =
            ublk_model::apply_switches(preset.features(), &strip(with), &strip(without))
                .map_err(|e| mal(1, e))?;
        validate::scenario(&header.scenario).map_err(|msg| TraceError::Invalid {
            path: path.into(),
            msg: format!("line 1: {msg}"),
        })?;
        let mut steps: Vec<TraceStep> = Vec::new();
        let mut outcome = None;
        for (n, l) in lines {
            if outcome.is_some() {
                return Err(mal(n + 1, "line after the outcome".into()));
            }
            let v: serde_json::Value =
                serde_json::from_str(l).map_err(|e| mal(n + 1, e.to_string()))?;
            if v.get("violation").is_some() || v.get("hang").is_some() {
                outcome = Some(serde_json::from_value(v).map_err(|e| mal(n + 1, e.to_string()))?);
            } else {
                let st: TraceStep =
                    serde_json::from_value(v).map_err(|e| mal(n + 1, e.to_string()))?;
                if st.i as usize != steps.len() {
                    return Err(mal(
                        n + 1,
                        format!("step field i = {}, expected {}", st.i, steps.len()),
                    ));
                }
                if steps.len() >= lim.max_steps {
                    return Err(TraceError::Invalid {
                        path: path.into(),
                        msg: format!(
                            "more than {} steps (raise the limit with --max-steps)",
                            lim.max_steps
                        ),
                    });
                }
                steps.push(st);
            }
        }
        if let Some(o) = &outcome {
            let o: &Outcome = o;
            if o.violation.is_some() && o.hang.is_some() {
                return Err(mal(
                    steps.len() + 2,
                    "the outcome records both a violation and a hang".into(),
                ));
            }
            if o.violation.is_some() && steps.is_empty() {
                return Err(mal(2, "a violation outcome without steps".into()));
            }
            if let Some(c) = o.hang.as_ref().and_then(|h| h.cycle_start) {
                if c as usize >= steps.len() {
                    return Err(mal(
                        steps.len() + 2,
                        format!(
                            "hang.cycle_start = {c}, but the trace has {} steps (a cycle needs at least one)",
                            steps.len()
                        ),
                    ));
                }
            }
        }
        Ok(Trace {
            header,
            steps,
            outcome,
        })
    }

    /// Read with the default [`Limits`].
    pub fn read(path: &Path) -> Result<Trace, TraceError> {
        Trace::read_limited(path, &Limits::default())
    }

    /// Read at most `lim.max_bytes` (a longer file, or an endless one like
    /// /dev/zero, is refused without reading further), then [`Trace::parse_limited`].
    pub fn read_limited(path: &Path, lim: &Limits) -> Result<Trace, TraceError> {
        let p = path.display().to_string();
        let text = read_capped(path, lim.max_bytes)?;
        Trace::parse_limited(&text, &p, lim)
    }
}

/// Read a text file of at most `max` bytes; longer input is an error.
pub fn read_capped(path: &Path, max: u64) -> Result<String, TraceError> {
    let p = path.display().to_string();
    let io = |source| TraceError::Io {
        path: p.clone(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    if f.metadata().map_err(io)?.is_dir() {
        return Err(TraceError::Invalid {
            path: p.clone(),
            msg: "is a directory".into(),
        });
    }
    let mut buf = Vec::new();
    f.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > max {
        return Err(TraceError::Invalid {
            path: p.clone(),
            msg: format!("larger than {max} bytes (raise the limit with --max-trace-bytes)"),
        });
    }
    String::from_utf8(buf).map_err(|e| TraceError::Invalid {
        path: p.clone(),
        msg: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })
}

impl Trace {
    /// Write atomically: a temp file in the same folder, then rename.
    pub fn write(&self, path: &Path) -> Result<(), TraceError> {
        write_atomic(path, self.to_jsonl().as_bytes())
    }
}

/// Temp files being written, removed by [`remove_pending_temps`] (the
/// binary's SIGINT handler calls it, so an interrupted write leaves nothing).
static PENDING: std::sync::Mutex<Vec<std::path::PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Remove every temp file a write in progress has created.
pub fn remove_pending_temps() {
    if let Ok(v) = PENDING.lock() {
        for p in v.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether two paths name the same existing file (after symlinks).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Whether `path` names standard output (`-`, `/dev/stdout`).
pub fn is_stdout(path: &Path) -> bool {
    path == Path::new("-") || path == Path::new("/dev/stdout")
}

/// Write `bytes` to `path` so that readers never see a partial file:
/// * `-` or `/dev/stdout`: streamed to standard output;
/// * a path that exists must be a regular file (a symlink is followed and
///   its target replaced; a device, FIFO, socket or folder is refused);
/// * a missing parent folder is created only if its own parent exists (one
///   level, e.g. `check --out`'s folder), never a whole tree;
/// * the bytes go to a temp file beside the target (removed on any error,
///   and on SIGINT via [`remove_pending_temps`]), which is then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TraceError> {
    let io = |source| TraceError::Io {
        path: path.display().to_string(),
        source,
    };
    let bad = |msg: String| TraceError::Invalid {
        path: path.display().to_string(),
        msg,
    };
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        return out.write_all(bytes).and_then(|_| out.flush()).map_err(io);
    }
    let mut target = path.to_path_buf();
    if let Ok(md) = std::fs::symlink_metadata(path) {
        if md.file_type().is_symlink() {
            target = std::fs::canonicalize(path)
                .map_err(|e| bad(format!("a symlink whose target cannot be resolved: {e}")))?;
        }
        let md = std::fs::metadata(&target).map_err(io)?;
        if !md.is_file() {
            return Err(bad(
                "exists and is not a regular file; refusing to replace it (use - for stdout)"
                    .into(),
            ));
        }
    }
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    if !dir.is_dir() {
        let up = dir
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if dir.exists() || !up.is_dir() {
            return Err(bad(format!(
                "folder {} does not exist (only its last level is created)",
                dir.display()
            )));
        }
        std::fs::create_dir(&dir).map_err(io)?;
    }
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    use std::os::unix::fs::PermissionsExt;
    let perm = std::fs::metadata(&target)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
    let mut tmp = tempfile::Builder::new()
        .permissions(perm)
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io)?;
    let tmp_path = tmp.path().to_path_buf();
    if let Ok(mut v) = PENDING.lock() {
        v.push(tmp_path.clone());
    }
    if std::env::var_os("UBLKSIM_TEST_SLOW_WRITE").is_some() {
        // test hook: hold the temp file so a test can interrupt the write
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
    let res = tmp
        .write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io)
        .and_then(|_| tmp.persist(&target).map(|_| ()).map_err(|e| io(e.error)));
    if let Ok(mut v) = PENDING.lock() {
        v.retain(|p| *p != tmp_path);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use ublk_model::{DevConfig, Preset};

    fn sample() -> Trace {
        Trace {
            header: Header {
                format: FORMAT.into(),
                version: VERSION,
                tool: "ublksim test".into(),
                preset: "K72".into(),
                switches: vec!["-fix-b8".into()],
                features: Preset::K72.features().without(ublk_model::Sw::FixB8),
                scenario: Scenario {
                    name: "x".into(),
                    doc: "d".into(),
                    dev: DevConfig::default(),
                    actors: vec![],
                },
                engine: "explorer-bfs".into(),
                state_invariants: true,
            },
            steps: vec![TraceStep {
                i: 0,
                actor: "daemon".into(),
                actor_id: 0,
                choice: 0,
                func: "f".into(),
                result: Some(-22),
            }],
            outcome: Some(Outcome {
                violation: Some(ViolationRec {
                    invariant: Inv::S3,
                    message: "m".into(),
                    actor: "daemon".into(),
                }),
                hang: None,
            }),
        }
    }

    fn lasso() -> Trace {
        let mut t = sample();
        t.outcome = Some(Outcome {
            violation: None,
            hang: Some(HangRec {
                property: Prop::L3,
                obligation: "o".into(),
                cycle_start: Some(0),
            }),
        });
        t
    }

    #[test]
    fn round_trips() {
        let t = sample();
        assert_eq!(Trace::parse(&t.to_jsonl(), "t").unwrap(), t);
        let t = lasso();
        assert_eq!(Trace::parse(&t.to_jsonl(), "t").unwrap(), t);
    }

    fn err(t: &Trace) -> String {
        Trace::parse(&t.to_jsonl(), "t").unwrap_err().to_string()
    }

    #[test]
    fn rejects_bad_references_and_shapes() {
        let mut t = sample();
        t.header.scenario.actors = vec![ublk_model::ActorSpec::Submitter { q: 1, bios: vec![] }];
        let e = err(&t);
        assert!(e.contains("actors[0].Submitter.q = 1"), "{e}");
        let mut t = sample();
        t.outcome.as_mut().unwrap().hang = lasso().outcome.unwrap().hang;
        assert!(err(&t).contains("both a violation and a hang"));
        let mut t = lasso();
        t.outcome
            .as_mut()
            .unwrap()
            .hang
            .as_mut()
            .unwrap()
            .cycle_start = Some(1);
        assert!(err(&t).contains("cycle_start = 1"));
        let mut t = sample();
        t.steps[0].i = 3;
        assert!(err(&t).contains("i = 3, expected 0"));
        let lim = Limits {
            max_bytes: 1 << 20,
            max_steps: 0,
        };
        let e = Trace::parse_limited(&sample().to_jsonl(), "t", &lim).unwrap_err();
        assert!(e.to_string().contains("more than 0 steps"), "{e}");
    }

    #[test]
    fn reading_is_capped() {
        let lim = Limits {
            max_bytes: 1000,
            max_steps: 10,
        };
        let e = Trace::read_limited(Path::new("/dev/zero"), &lim).unwrap_err();
        assert!(e.to_string().contains("larger than 1000 bytes"), "{e}");
    }

    #[test]
    fn features_come_from_the_preset_and_its_switches() {
        // a trace written before later switches existed stores an older bit mask; its
        // meaning is the preset plus the listed differences
        let mut t = sample();
        t.header.features = Features(0x1f_f7ff);
        let back = Trace::parse(&t.to_jsonl(), "t").unwrap();
        let want = Preset::K72.features().without(ublk_model::Sw::FixB8);
        assert_eq!(back.header.features, want);
        let mut t = sample();
        t.header.preset = "K99".into();
        let e = Trace::parse(&t.to_jsonl(), "t").unwrap_err().to_string();
        assert!(e.contains("unknown preset 'K99'"), "{e}");
    }

    #[test]
    fn rejects_garbage_and_other_versions() {
        assert!(matches!(
            Trace::parse("{not json", "t"),
            Err(TraceError::Malformed { .. })
        ));
        let other = sample()
            .to_jsonl()
            .replace("\"version\":1", "\"version\":99");
        assert!(matches!(
            Trace::parse(&other, "t"),
            Err(TraceError::Version { .. })
        ));
        assert!(matches!(
            Trace::parse("", "t"),
            Err(TraceError::Malformed { .. })
        ));
    }

    #[test]
    fn atomic_write_leaves_no_temp() {
        let d = std::env::temp_dir().join(format!("ublk-traces-test-{}", std::process::id()));
        let p = d.join("t.jsonl");
        sample().write(&p).unwrap();
        assert_eq!(Trace::read(&p).unwrap(), sample());
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
