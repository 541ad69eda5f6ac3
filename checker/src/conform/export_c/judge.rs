//! Reading a run of an exported C program back: its JSON lines (`step`, `effect`, `end`)
//! become the observations [`ublk_program::judge_all`] judges — the comparison every replay
//! uses — so the C program's output is accepted or refused as the executor's would be.

use ublk_program::*;

/// What a run of the C program printed.
#[derive(Debug, Default, PartialEq)]
pub struct RunOutput {
    /// Observation of each step, in order.
    pub got: Vec<Got>,
    /// Observations of each step's predicted effects.
    pub effects: Vec<Vec<Got>>,
    /// The `end` line: exit status and reason.
    pub end: Option<(i32, String)>,
}

/// Parse the program's JSON lines (anything else — the VM's boot lines, the kernel log — is
/// skipped). A step line out of order is an error.
pub fn parse_output(text: &str) -> Result<RunOutput, String> {
    let mut o = RunOutput::default();
    for (n, l) in text.lines().enumerate() {
        let l = l.trim();
        if !l.starts_with('{') {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
            continue;
        };
        let ev = v.get("event").and_then(|e| e.as_str()).unwrap_or("");
        let step = v.get("step").and_then(|s| s.as_u64()).map(|s| s as usize);
        let got = || -> Result<Got, String> {
            let g = v
                .get("got")
                .ok_or_else(|| format!("line {}: no \"got\"", n + 1))?;
            serde_json::from_value::<Got>(g.clone()).map_err(|e| format!("line {}: {e}", n + 1))
        };
        match (ev, step) {
            ("step", Some(i)) => {
                if i != o.got.len() {
                    return Err(format!(
                        "line {}: step {i}, expected step {}",
                        n + 1,
                        o.got.len()
                    ));
                }
                o.got.push(got()?);
                o.effects.push(Vec::new());
            }
            ("effect", Some(i)) => {
                if i + 1 != o.got.len() {
                    return Err(format!(
                        "line {}: an effect of step {i} out of order",
                        n + 1
                    ));
                }
                let g = got()?;
                o.effects[i].push(g);
            }
            ("end", _) => {
                let rc = v.get("rc").and_then(|r| r.as_i64()).unwrap_or(-1) as i32;
                let why = v.get("why").and_then(|w| w.as_str()).unwrap_or("");
                o.end = Some((rc, why.to_string()));
            }
            _ => {}
        }
    }
    Ok(o)
}

/// The verdict on a run of the C program exported from `p`: the conformance comparison of its
/// observations, or why the output is not a complete run (it stops early, or has no end).
pub fn judge(p: &Program, text: &str) -> Verdict {
    let o = match parse_output(text) {
        Ok(o) => o,
        Err(e) => return Verdict::Error(format!("malformed output: {e}")),
    };
    if let Some((4, why)) = &o.end {
        return Verdict::Refused(why.clone());
    }
    if o.got.len() > p.steps.len() {
        return Verdict::Error(format!(
            "the output has {} steps, the program {}",
            o.got.len(),
            p.steps.len()
        ));
    }
    let v = judge_all(p, &o.got, &o.effects);
    if matches!(v, Verdict::Conforms) {
        // judge_all accepts a prefix: a complete run has every step and every effect
        let short = (0..p.steps.len())
            .find(|&i| o.got.get(i).is_none() || o.effects[i].len() != p.steps[i].after.len());
        if let Some(i) = short {
            return Verdict::Error(format!(
                "the output stops at step {i} of {} (the program crashed or was killed?)",
                p.steps.len()
            ));
        }
    }
    match &o.end {
        None if !v.is_failure() => {
            Verdict::Error("the output has no end line (the program did not finish)".into())
        }
        Some((rc, why)) if *rc != 0 && !v.is_failure() => {
            Verdict::Error(format!("the program ended with status {rc}: {why}"))
        }
        _ => v,
    }
}
