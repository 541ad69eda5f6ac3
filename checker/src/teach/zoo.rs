//! `ublksim zoo --out docs/guide/bug-zoo.md`: the guide's bug zoo, generated.
//!
//! One entry per seeded bug and per known finding: what went wrong, what the
//! fix was, the command that shows the counterexample, and the end of that
//! counterexample as `ublksim explain` prints it.  The excerpts are produced
//! by running the checker, so the page shows what the model finds today; a
//! test regenerates it and fails when the committed page is stale.

use crate::explore::verdict::{self, CheckOpts};
use crate::scenarios;
use crate::teach::explain::{render, render_steps, walk};
use std::fmt::Write;
use ublk_model::{apply_switches, Preset};

/// One animal of the zoo.
pub struct Entry {
    pub id: &'static str,
    pub title: &'static str,
    pub preset: Preset,
    /// `--with` switches (seeded bugs) on top of the preset.
    pub with: &'static [&'static str],
    pub scenario: &'static str,
    /// What happens, in the guide's words.
    pub story: &'static str,
    /// The fix (commit) or its status.
    pub fix: &'static str,
    /// How many of the last steps the excerpt shows.
    pub tail: usize,
}

pub const ZOO: &[Entry] = &[
    Entry { id: "B-1", title: "use-after-free: the refcount lived in the freed request", preset: Preset::Pre, with: &[], scenario: "user-copy-vs-elevator", tail: 4,
        story: "Before the series the reference count sat in the request's pdu. A user copy (or, after p09, an off-daemon REGISTER) finds the request by tag — a plain pointer — and only then takes a reference *inside* it. If the request completed and an elevator switch freed the scheduler's request pages in between, the increment lands in freed memory (S1).",
        fix: "series patch 02, \"ublk: remove struct ublk_rq_data\" (f053751a413b, 6.17): the count moves into `struct ublk_io`, which lives as long as the device; the lookup takes the reference there first and reads the request only if that succeeded." },
    Entry { id: "B-5", title: "two FETCHes for one slot", preset: Preset::K72, with: &["B-5"], scenario: "concurrent-fetch", tail: 3,
        story: "FETCH_REQ checked \"slot not ACTIVE\" outside any lock. Two server threads fetching the same tag both pass the check and both store their cmd; the first cmd is lost — no dispatch or cancel will ever complete it (S5) — and the slot is counted ready twice.",
        fix: "\"ublk: properly serialize all FETCH_REQs\" (b69b8edfb27d, 6.15): FETCH runs under `ub->mutex` with the ACTIVE re-check inside." },
    Entry { id: "B-6", title: "REISSUE abort requeued with the server's reference held", preset: Preset::Pre, with: &["B-6"], scenario: "recovery-reissue-abort", tail: 4,
        story: "With USER_RECOVERY_REISSUE the abort of a dead server's request requeued it at once, without dropping the server's reference. The requeued request could then end while the dead server's ring still held a zero-copy buffer on it; the buffer's release later ran on a finished request (S3).",
        fix: "\"ublk: fix handling recovery & reissue in ublk_abort_queue()\" (6ee6bd5d4fce, 6.15-rc2): the abort drops the reference and requeues or fails only when it was the last." },
    Entry { id: "B-8", title: "release work does not wait for references to settle", preset: Preset::K72, with: &["B-8"], scenario: "register-vs-server-exit", tail: 3,
        story: "When the last reference to /dev/ublkcN goes, the release work aborts what the dead server owned and resets the slots. Registered buffers may still sit in a ring's table at that moment; their release (`ublk_io_release`) would later run on a reset slot. Without the fix the release work also leaves the server's INIT share in `io->ref` after ending the request — the shortest counterexample the checker finds breaks S4 exactly there, before any buffer is involved.",
        fix: "\"ublk: avoid ublk_io_release() called after ublk char dev is closed\" (c5c5eb24ed61, 6.17): the release work reschedules itself until every slot's `ref + trb` is 0 or INIT, then forces both to 0 before aborting." },
    Entry { id: "B-10", title: "NEED_GET_DATA failure leaves the slot unfilled", preset: Preset::K72, with: &["B-10"], scenario: "need-get-data-fail", tail: 3,
        story: "When the copy of a WRITE's data failed, NEED_GET_DATA requeued the request but returned before storing the new cmd in the slot: the slot was not ACTIVE and held no cmd the driver could complete (S5); the re-issued request would be handed to a stale `io->cmd`.",
        fix: "\"ublk: setup ublk_io correctly in case of ublk_get_data() failure\" (4c8a951787ff, 6.16-rc4)." },
    Entry { id: "B-11", title: "fake timeout skips the reference drop", preset: Preset::K72, with: &["B-11"], scenario: "fake-timeout-zc", tail: 3,
        story: "With the `fail_io_timeout` fault injection, series patch 10 returned early from COMMIT before `ublk_sub_req_ref`. After patch 11 that skip leaks the server's INIT share: buffer releases can never bring the count to 0 (S4).",
        fix: "\"ublk: move fake timeout logic into __ublk_complete_rq()\" (6.17): COMMIT always drops the share; only the final end is skipped." },
    Entry { id: "B-12", title: "FETCH without a buffer queued unarmed", preset: Preset::K72, with: &["B-12"], scenario: "fetch-without-buffer", tail: 2,
        story: "In copy mode a FETCH must carry a buffer address. Without one, `ublk_fetch` returned 0 without filling the slot and the caller kept the cmd as if the slot were armed: a pending cmd no slot points to, which no cancel can find (S5; the ring exit would hang).",
        fix: "\"ublk: add helper of ublk_check_fetch_buf()\" (6.17): such a FETCH fails with -EINVAL." },
    Entry { id: "B-24", title: "no canceling when a ring exits before START_DEV", preset: Preset::K72, with: &["B-24"], scenario: "cancel-vs-dispatch", tail: 4,
        story: "A ring exit before the first START_DEV cancels the FETCH, but `ublk_start_cancel` returned early without a disk and never set `canceling`. START_DEV still succeeds, and `ublk_queue_rq` hands the first request to the canceled, completed cmd (S7).",
        fix: "\"ublk: set canceling flag even when disk is not allocated\" (1133b93fc7f6, 7.x). PRE and POST have the bug." },
    Entry { id: "O-1", title: "a dead server's request waits for another process's close", preset: Preset::K72, with: &[], scenario: "stop-with-fd-held", tail: 4,
        story: "Only the release work — run at the *last* close of /dev/ublkcN — aborts a dead server's requests. If another process holds a reference to the char device (a forked helper, a dup), it never runs: the request never ends and STOP_DEV waits in `del_gendisk` forever (hang L2). Found on every preset.",
        fix: "open in 7.2 (spec §7.1); a prototype fix exists outside the tree." },
    Entry { id: "O-6", title: "readiness clears canceling set by a closed ring", preset: Preset::K72, with: &[], scenario: "thread-exit-before-start", tail: 4,
        story: "With per-io daemon threads, one thread FETCHes, closes its ring and exits before the device is ready: the ring exit sets `canceling` and cancels its cmd. The other thread's FETCH then makes the device ready, which clears `canceling` (K72 `ublk_mark_io_ready`); START_DEV succeeds and a request for the exited thread's tag is handed to a NULL `io->cmd` (S7). Confirmed on Debian 7.2.13 (NULL pointer dereference in `ublk_queue_rq`).",
        fix: "not reported upstream; the model's proposal is the switch `fix-o6` (see docs/howto.md)." },
    Entry { id: "O-7", title: "server dies between COMMIT and UNREGISTER of its own buffer", preset: Preset::K72, with: &[], scenario: "exit-before-unregister", tail: 5,
        story: "Since p09 the daemon may COMMIT while its own registered buffer still holds the request, and UNREGISTER afterwards. If it dies in between, the exiting ring's cancel loop skips the slot (its request is started), and the buffer that holds the request is released only when io_uring frees the ring — after that loop. The ring exit spins and the request never ends (hang L2, a lasso).",
        fix: "own analysis, not reported upstream; confirmed on Debian 7.2.13 by `ublksim conform` (STOP_DEV and DEL_DEV never return, later ADD_DEVs time out); no fix." },
];

/// The command line that shows an entry's counterexample.
pub fn command(e: &Entry) -> String {
    let mut c = String::from("ublksim check");
    if e.preset != Preset::K72 {
        let _ = write!(c, " --preset {}", e.preset.name());
    }
    for w in e.with {
        let _ = write!(c, " --with {w}");
    }
    let _ = write!(c, " -s {}", e.scenario);
    c
}

/// Run the checker on one entry: its verdict word and its trace.
fn find(e: &Entry) -> Result<(String, ublk_traces::Trace), String> {
    let sc = scenarios::by_name(e.scenario)
        .ok_or_else(|| format!("{}: no scenario {}", e.id, e.scenario))?;
    let with: Vec<String> = e.with.iter().map(|s| s.to_string()).collect();
    let feat = apply_switches(e.preset.features(), &with, &[])?;
    let r = verdict::run_scenario(&sc, &CheckOpts::new(e.preset, feat))?;
    let t = r
        .trace
        .clone()
        .ok_or_else(|| format!("{}: `{}` finds nothing any more", e.id, command(e)))?;
    let word = match r.verdict {
        verdict::Verdict::Known => "KNOWN",
        verdict::Verdict::Fail => "FAIL",
        _ => "?",
    };
    Ok((format!("{word} {}", r.finding().unwrap_or_default()), t))
}

/// The whole page, deterministic.
pub fn markdown() -> Result<String, String> {
    let mut out = String::from(
        "# The bug zoo\n\n\
         <!-- generated by `ublksim zoo --out docs/guide/bug-zoo.md`; checked fresh by checker/tests/guide.rs -->\n\n\
         Every bug the model can seed, and every finding the model made on real versions, with the \
         fix and the end of its counterexample as `ublksim explain` prints it (how to read it: \
         [reading traces](reading-traces.md)). Each excerpt below was produced by running the \
         command above it; `check` saves the trace as `out/traces/<PRESET><switches>-<scenario>.jsonl`, and \
         `ublksim explain` / `ublksim view` show it whole.\n\n",
    );
    out.push_str("| id | what | seeded by | scenario | verdict |\n|---|---|---|---|---|\n");
    let mut found = Vec::new();
    for e in ZOO {
        let (verdict, t) = find(e)?;
        let seed = if e.with.is_empty() {
            format!("— (on {})", e.preset.name())
        } else {
            format!("`--with {}` on {}", e.with.join(" "), e.preset.name())
        };
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {seed} | `{}` | {verdict} |",
            e.id,
            e.id.to_lowercase(),
            e.title,
            e.scenario
        );
        found.push((verdict, t));
    }
    for (e, (verdict, t)) in ZOO.iter().zip(&found) {
        let w = walk(t)?;
        let _ = writeln!(out, "\n## {}\n\n**{}.** {}\n", e.id, e.title, e.story);
        let _ = writeln!(out, "**Fix:** {}\n", e.fix);
        let file = format!(
            "out/traces/{}",
            crate::explore::verdict::trace_file_name(e.preset, t.header.features, e.scenario)
        );
        let _ = writeln!(
            out,
            "```sh\n{}        # {verdict} in {} steps\nublksim explain {file}\n```\n",
            command(e),
            w.steps.len()
        );
        let from = w.steps.len().saturating_sub(e.tail) + 1;
        let _ = writeln!(
            out,
            "The last {} steps:\n\n```\n{}\n{}\n```",
            w.steps.len() + 1 - from,
            render_steps(&w, from).trim_end(),
            w.end.sentence()
        );
    }
    // one trace in full, for the chapter on reading traces
    let (_, t) = &found[ZOO
        .iter()
        .position(|e| e.id == "B-8")
        .expect("B-8 is in the zoo")];
    let w = walk(t)?;
    let _ = writeln!(
        out,
        "\n## Appendix: one counterexample in full\n\n`{}`, then `ublksim explain` of its trace:\n\n```\n{}```",
        command(&ZOO[ZOO.iter().position(|e| e.id == "B-8").unwrap_or(0)]),
        render(&w)
    );
    Ok(out)
}
