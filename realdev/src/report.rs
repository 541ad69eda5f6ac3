//! JSON-lines report of what was observed: one object per line, `{"t_ms":…,"event":…,…}`.
//! Lines are written whole and flushed at once, so a crash loses at most the line being built.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{json, Map, Value};

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Build one report line (an object with `t_ms` and `event` first, then `fields`).
pub fn line(event: &str, fields: Value) -> String {
    let mut m = Map::new();
    m.insert(
        "t_ms".into(),
        json!((start().elapsed().as_secs_f64() * 1e4).round() / 10.0),
    );
    m.insert("event".into(), json!(event));
    if let Value::Object(f) = fields {
        m.extend(f);
    } else if !fields.is_null() {
        m.insert("value".into(), fields);
    }
    Value::Object(m).to_string()
}

/// Print one report line on stdout (flushed).
pub fn emit(event: &str, fields: Value) {
    let l = line(event, fields);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{l}");
    let _ = out.flush();
}

/// Tell a supervisor (the VM's /init, through `UBLK_REALDEV_DONE_FILE`) that the program is
/// done, with its exit code: after a kernel oops the program's cleanup or exit may never end.
pub fn signal_done(code: u8) {
    if let Ok(p) = std::env::var("UBLK_REALDEV_DONE_FILE") {
        let _ = std::fs::write(p, format!("{code}\n"));
    }
}

/// Start the report clock now.
pub fn init() {
    let _ = start();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shape() {
        let l = line("start_dev", json!({"res": 0}));
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["event"], "start_dev");
        assert_eq!(v["res"], 0);
        assert!(v["t_ms"].is_number());
    }
}
