//! One JSON document per report, with its schema named: `--json` prints exactly this on
//! stdout (prose, if any, goes to stderr), so a script can parse any report kind the
//! same way: `{"schema": "ublksim.<kind>/<version>", "tool": "ublksim x.y.z", …}`.
//!
//! Kinds and versions: check/1 (every engine; `engine` says which, and the rows of
//! `results` are the explorer's or the engine's), sim/1, diff/1, conform/1, replay/1,
//! agree/1, bench/1, explain/1, list/1, confirm/1. A field is only ever added within a version.

use serde::Serialize;

/// `v` as a JSON object carrying its schema and the tool's version (a value that is not
/// an object is put under `data`).
pub fn document(kind: &str, v: impl Serialize) -> anyhow::Result<String> {
    let mut v = serde_json::to_value(v)?;
    if !v.is_object() {
        v = serde_json::json!({ "data": v });
    }
    let o = v.as_object_mut().expect("an object");
    o.insert("schema".into(), format!("ublksim.{kind}/1").into());
    o.insert(
        "tool".into(),
        format!("ublksim {}", env!("CARGO_PKG_VERSION")).into(),
    );
    Ok(serde_json::to_string_pretty(&v)?)
}

/// Print [`document`] on stdout.
pub fn print(kind: &str, v: impl Serialize) -> anyhow::Result<()> {
    println!("{}", document(kind, v)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_document_names_its_schema() {
        let d = super::document("check", serde_json::json!({"results": []})).unwrap();
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(v["schema"], "ublksim.check/1");
        let d = super::document("agree", vec![1, 2]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(v["data"][1], 2);
    }
}
