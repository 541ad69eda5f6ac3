//! `ublksim series`: the off-daemon zero-copy series applied to PRE one
//! patch at a time (as switches), with what `diff` says at each step —
//! the generator of `docs/series.md`.  A test regenerates the page and fails
//! if the committed file differs, so the page always shows what the model
//! says today.

use crate::diff::compare::{self, parse_side, DiffOpts, DiffReport};
use crate::diff::render::markdown_changes;
use crate::scenarios;
use std::fmt::Write;
use std::time::Duration;
use ublk_model::features::NON_BEHAVIOURAL_PATCHES;
use ublk_model::Model;

/// One step of the walk: the patch, its switch (None: no behaviour the
/// model can observe) and what it does, in a sentence or two.
pub struct Step {
    pub label: &'static str,
    pub switch: Option<&'static str>,
    pub what: &'static str,
    /// Scenarios whose counterexample on the patched side the page prints
    /// even when the verdict did not change (the B-11 story at p11).
    pub spotlight: &'static [&'static str],
}

/// PRE → POST in the order the patches were applied, then the 6.17 follow-ups and the
/// 6.17 pid check (one follow-up, B-13's regression, takes a switch away).
pub const STEPS: &[Step] = &[
    Step { label: "02", switch: Some("p02"), spotlight: &[], what: "Moves the request reference count from the request pdu (`struct ublk_rq_data`, freed with the request's scheduler pages) into `struct ublk_io`. A tag lookup racing an elevator switch no longer increments freed memory: the B-1 use-after-free (invariant S1) disappears." },
    Step { label: "03", switch: Some("p03"), spotlight: &[], what: "`ublk_check_cmd_op()` moves to the very start of `ublk_ch_uring_cmd_local`: a bad ioctl type gets -EOPNOTSUPP before any q_id/tag/task/flag check." },
    Step { label: "04", switch: Some("p04"), spotlight: &[], what: "FETCH is handled right after the io lookup, from any task and before the task and flag checks; the task check loses its `io->task == NULL` exemption." },
    Step { label: "05", switch: None, spotlight: &[], what: "" },
    Step { label: "06", switch: Some("p06"), spotlight: &[], what: "The `ACTIVE → -EBUSY` and `!OWNED_BY_SRV → -EINVAL` checks become one `!OWNED_BY_SRV → -EBUSY`." },
    Step { label: "07", switch: None, spotlight: &[], what: "" },
    Step { label: "08", switch: None, spotlight: &[], what: "" },
    Step { label: "09", switch: Some("p09"), spotlight: &[], what: "The point of the series: UNREGISTER_IO_BUF is handled before any q_id/tag/task check, and REGISTER_IO_BUF from a task that is not `io->task` takes the tag-lookup + `refcount_inc_not_zero` path instead of -EINVAL." },
    Step { label: "10", switch: None, spotlight: &[], what: "" },
    Step { label: "11", switch: Some("p11"), spotlight: &["fake-timeout-zc"], what: "REGISTER on the daemon takes no atomic reference: the dispatch share becomes `UBLK_REFCOUNT_INIT`, daemon registrations count in `task_registered_buffers`, and COMMIT subtracts `INIT − trb` (`ublk_sub_req_ref`). Patch 10's early return on a fake timeout now skips that subtraction: the reference leaks (B-11, invariant S4 in `fake-timeout-zc`, below) until fix-b11." },
    Step { label: "12", switch: Some("p12"), spotlight: &[], what: "`ublk_io_release` on the daemon with `trb > 0` decrements `trb` instead of the atomic reference." },
    Step { label: "13", switch: None, spotlight: &[], what: "" },
    Step { label: "14", switch: None, spotlight: &[], what: "" },
    Step { label: "v2", switch: Some("v2-trb-overflow-check"), spotlight: &[], what: "v2 of the series: a daemon REGISTER whose `trb + 1` would reach INIT falls back to the atomic path. (The v2 zero-copy check in `ublk_unregister_io_buf` restores PRE behaviour and is already in PRE.)" },
    Step { label: "B-8 fix", switch: Some("fix-b8"), spotlight: &[], what: "6.17 follow-up c5c5eb24ed61: the release work waits for the references of server-owned requests to settle before aborting them, so no `ublk_io_release` runs after the char device is closed." },
    Step { label: "B-11 fix", switch: Some("fix-b11"), spotlight: &[], what: "6.17 follow-up \"move fake timeout logic into __ublk_complete_rq()\": COMMIT always drops the server's share; only the final end is skipped. The leak patch 10 + 11 made (B-11) is gone." },
    Step { label: "B-12 fix", switch: Some("fix-b12"), spotlight: &[], what: "6.17 follow-up `ublk_check_fetch_buf()`: a copy-mode FETCH without a buffer fails with -EINVAL instead of being queued without arming the slot." },
    Step { label: "pid check", switch: Some("pid-equals-opener"), spotlight: &[], what: "6.17 \"ublk: validate ublk server pid\" (c2c8089f325e): START_DEV and END_USER_RECOVERY return -EINVAL unless `data[0]` equals `ub->ublksrv_tgid`, the last opener of /dev/ublkcN. A START_DEV that names the first server after a recovery's new server opened the device is refused." },
    Step { label: "B-13 regression", switch: Some("-fix-b13"), spotlight: &[], what: "6.17 follow-up \"store auto buffer register data into struct ublk_io\": FETCH parses the auto-buf-reg descriptor only after filling the slot again, so an invalid one leaves the completed cmd in an ACTIVE slot (B-13). No built-in scenario sends one; the s1 sweep's `badautofetch` quirk does." },
];

fn opts() -> DiffOpts {
    DiffOpts {
        scenarios: scenarios::all(),
        examples: 1,
        max_states: 2_000_000,
        max_time: Duration::from_secs(300),
        liveness: true,
    }
}

fn non_behavioural(label: &str) -> &'static str {
    let id = format!("p{label}");
    NON_BEHAVIOURAL_PATCHES
        .iter()
        .find(|(p, _)| *p == id)
        .map_or("", |(_, why)| why)
}

fn counterexample(
    out: &mut String,
    r: &DiffReport,
    scenario: &str,
    patched: bool,
) -> Result<(), String> {
    let Some(s) = r.scenarios.iter().find(|s| s.scenario == scenario) else {
        return Ok(());
    };
    let (side, c) = if patched {
        (&r.patch, &s.patch)
    } else {
        (&r.base, &s.base)
    };
    let Some(path) = &c.path else { return Ok(()) };
    let sc = scenarios::by_name(scenario).ok_or("scenario vanished")?;
    let m = Model::new(&sc, side.features)?;
    let _ = writeln!(
        out,
        "`{scenario}` on `{}` — {} in {} steps:\n\n```",
        side.spec,
        c.verdict,
        path.len()
    );
    for (i, st) in compare::steps(&m, path).iter().enumerate() {
        let _ = writeln!(out, "{:>3}. {st}", i + 1);
    }
    out.push_str("```\n\n");
    Ok(())
}

/// The whole page, deterministic.
pub fn markdown() -> Result<String, String> {
    let o = opts();
    let mut out = String::from(
        "# The off-daemon series, patch by patch\n\n\
         <!-- generated by `ublksim series --out docs/series.md`; checked fresh by checker/tests/diff_series.rs -->\n\n\
         \"[PATCH v2 00/14] ublk: allow off-daemon zero-copy buffer registration\" (Caleb Sander Mateos, \
         v6.17) applied to the model's `PRE` one patch at a time, as switches, then the four 6.17 follow-ups \
         that make `POST`. Each step is `ublksim diff --base <previous> --patch <previous>+<switch>` over all \
         built-in scenarios: verdicts that changed, reachable states that differ under the canonical \
         projection (checker/src/explore/projection.rs), and io-command results that changed (slot q0t0, per copy \
         mode, situation and issuing task; see checker/src/diff/situations.rs). A finding declared KNOWN for PRE \
         stays KNOWN along the walk while its fix switch is absent. How to read a diff: [howto.md](howto.md).\n\n",
    );
    let mut prev = "PRE".to_string();
    for st in STEPS {
        let Some(sw) = st.switch else {
            let _ = writeln!(
                out,
                "## Patch {} — no observable behaviour\n\n{}\n",
                st.label,
                non_behavioural(st.label)
            );
            continue;
        };
        // a switch with a leading '-' is taken away (a regression)
        let (sign, name) = match sw.strip_prefix('-') {
            Some(n) => ('-', n),
            None => ('+', sw),
        };
        let next = format!("{prev}{sign}{name}");
        let (b, p) = (parse_side(&prev)?, parse_side(&next)?);
        let r = compare::run(&b, &p, &o)?;
        let _ = writeln!(
            out,
            "## {} — `{sign}{name}`\n\n{}\n",
            title(st.label),
            st.what
        );
        markdown_changes(&r, &mut out);
        for s in r.scenarios.iter().filter(|s| s.changed) {
            // a finding that disappears: show what the patch removed; one that appears: what it added
            if s.base.path.is_some() && s.patch.path.is_none() {
                counterexample(&mut out, &r, &s.scenario, false)?;
            } else if s.patch.path.is_some() {
                counterexample(&mut out, &r, &s.scenario, true)?;
            }
        }
        for sc in st.spotlight {
            counterexample(&mut out, &r, sc, true)?;
        }
        prev = next;
    }
    let (b, p) = (parse_side("PRE")?, parse_side("POST")?);
    let r = compare::run(&b, &p, &o)?;
    out.push_str("## PRE → POST in one diff\n\n");
    let _ = writeln!(
        out,
        "The walk ends at `{prev}`, which is `POST`: {}.\n",
        if parse_side(&prev)?.features == p.features {
            "same switch set"
        } else {
            "NOT the same switch set (the walk is out of date)"
        }
    );
    markdown_changes(&r, &mut out);
    Ok(out)
}

fn title(label: &str) -> String {
    if label.chars().all(|c| c.is_ascii_digit()) {
        format!("Patch {label}")
    } else {
        label.to_string()
    }
}
