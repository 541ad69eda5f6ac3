//! # ublk-traces: the one trace format
//!
//! A trace is JSON lines: a [`Header`] line, then one [`TraceStep`] line per
//! atomic step, then an optional [`Outcome`] line.  The header embeds the
//! whole scenario and the exact switch set, so a trace replays without the
//! tool's scenario catalogue (and a catalogue change cannot silently change
//! what a saved counterexample means).  Writes are atomic (temp file +
//! rename): a failed run never leaves half a trace behind.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use ublk_model::{Features, Inv, Prop, Scenario};

pub const FORMAT: &str = "ublk-sim-trace";
pub const VERSION: u32 = 1;

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
    /// The kernel function the step models.
    pub func: String,
    /// A result user space observes at this step, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<i32>,
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

    pub fn parse(text: &str, path: &str) -> Result<Trace, TraceError> {
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
        let mut steps = Vec::new();
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
                steps.push(serde_json::from_value(v).map_err(|e| mal(n + 1, e.to_string()))?);
            }
        }
        Ok(Trace {
            header,
            steps,
            outcome,
        })
    }

    pub fn read(path: &Path) -> Result<Trace, TraceError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
            path: p.clone(),
            source,
        })?;
        Trace::parse(&text, &p)
    }

    /// Write atomically: a temp file in the same folder, then rename.
    pub fn write(&self, path: &Path) -> Result<(), TraceError> {
        write_atomic(path, self.to_jsonl().as_bytes())
    }
}

/// Write `bytes` to `path` via a temp file and rename, so readers never see
/// a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TraceError> {
    let io = |source| TraceError::Io {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("trace"),
        std::process::id()
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(io)
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
                func: "f".into(),
                result: Some(-22),
            }],
            outcome: Some(Outcome {
                violation: Some(ViolationRec {
                    invariant: Inv::S3,
                    message: "m".into(),
                    actor: "daemon".into(),
                }),
                hang: Some(HangRec {
                    property: Prop::L3,
                    obligation: "o".into(),
                    cycle_start: Some(0),
                }),
            }),
        }
    }

    #[test]
    fn round_trips() {
        let t = sample();
        assert_eq!(Trace::parse(&t.to_jsonl(), "t").unwrap(), t);
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
