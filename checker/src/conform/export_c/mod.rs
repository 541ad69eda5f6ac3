//! `ublksim export-c`: a conformance program as one standalone C file — raw
//! `io_uring_setup`/`io_uring_enter`/`io_uring_register` syscalls, its own ublk uapi
//! definitions, no library but libc — that does what the real-device executor
//! (`realdev/src/exec.rs`, `child.rs`) does for each step, in the same order and with the same
//! waits, and prints each observation as a JSON line. [`judge`] reads that output back and
//! hands it to the conformance comparison ([`ublk_program::judge_all`]), so a run of the C
//! program is judged exactly as a replay is.
//!
//! The C is a fixed runtime (`uapi.c`, `server.c`, `exec.c`, `drive.c`: the executor's
//! semantics) and, generated here, the program's tables: its device, its threads and its
//! steps with the model's predictions.

use std::fmt::Write;
use ublk_program::*;

mod judge;
pub use judge::{judge, parse_output, RunOutput};

#[cfg(test)]
mod tests;

/// The runtime, in the order it is pasted (the tables go between the first and the rest).
const UAPI_C: &str = include_str!("uapi.c");
const RUNTIME_C: [&str; 3] = [
    include_str!("server.c"),
    include_str!("exec.c"),
    include_str!("drive.c"),
];

/// The device flags the executor asks ADD_DEV for (`realdev/src/bio.rs`, `dev_flags`).
pub fn dev_flags(d: &DevCfg) -> u64 {
    const ZERO_COPY: u64 = 1 << 0;
    const NEED_GET_DATA: u64 = 1 << 2;
    const USER_RECOVERY: u64 = 1 << 3;
    const REISSUE: u64 = 1 << 4;
    const USER_COPY: u64 = 1 << 7;
    const FAIL_IO: u64 = 1 << 9;
    const AUTO_BUF_REG: u64 = 1 << 11;
    const QUIESCE: u64 = 1 << 12;
    let mut f = match d.copy {
        CopyKind::Copy => 0,
        CopyKind::UserCopy => USER_COPY,
        CopyKind::ZeroCopy => ZERO_COPY,
        CopyKind::AutoBufReg => ZERO_COPY | AUTO_BUF_REG,
        CopyKind::AutoBufRegOnly => AUTO_BUF_REG,
    };
    if d.need_get_data {
        f |= NEED_GET_DATA;
    }
    if d.quiesce {
        f |= QUIESCE;
    }
    f | match d.recovery {
        RecoveryKind::None => 0,
        RecoveryKind::Requeue => USER_RECOVERY,
        RecoveryKind::Reissue => USER_RECOVERY | REISSUE,
        RecoveryKind::FailIo => USER_RECOVERY | FAIL_IO,
    }
}

/// Where the C program comes from (its header comment).
pub struct Origin<'a> {
    pub trace: &'a str,
    /// The trace's scenario description (wrapped into the header comment).
    pub doc: &'a str,
    pub preset: &'a str,
    pub kernel: &'a str,
}

/// Why a program cannot be exported (the executor's own limits, `exec::unsupported`).
pub fn unsupported(p: &Program) -> Option<String> {
    if p.dev.depth == 0 || p.dev.depth > 16 {
        return Some(format!("depth {} (the executor runs 1..=16)", p.dev.depth));
    }
    if p.steps.is_empty() {
        return Some("the program has no steps".into());
    }
    if !(1..=2).contains(&p.dev.queues) {
        return Some(format!(
            "{} hw queues (the C runtime drives one or two)",
            p.dev.queues
        ));
    }
    if p.dev.elevator || p.threads.iter().any(|t| t.kind == ThreadKind::Elevator) {
        return Some("an I/O scheduler (the C runtime loads no module, writes no sysfs)".into());
    }
    if p.dev.io_bytes != 4096 {
        return Some(format!(
            "bios of {} bytes (the C runtime's bios are 4 KiB)",
            p.dev.io_bytes
        ));
    }
    if p.steps.iter().any(|s| s.race_us.is_some()) {
        return Some(
            "racing steps (the C runtime issues one step at a time; `ublksim confirm --stress` \
             runs them)"
                .into(),
        );
    }
    None
}

/// A C string literal: printable ASCII as is, `"` and `\` escaped, the rest octal.
fn c_str(s: &str) -> String {
    let mut o = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                o.push('\\');
                o.push(b as char);
            }
            0x20..=0x7e => o.push(b as char),
            _ => {
                let _ = write!(o, "\\{b:03o}");
            }
        }
    }
    o.push('"');
    o
}

/// A C comment's text: no `*/`, one line.
fn c_comment(s: &str) -> String {
    s.replace("*/", "* /").replace(['\n', '\r'], " ")
}

fn expect_c(e: &Expect) -> String {
    match e {
        Expect::Done(Some(r)) => format!("{{X_DONE, {r}}}"),
        Expect::Done(None) => "{X_DONE_NONE, 0}".into(),
        Expect::Pending => "{X_PENDING, 0}".into(),
        Expect::Blocks => "{X_BLOCKS, 0}".into(),
    }
}

/// (enum name, tag, idx, result, buf, poll) of an action.
fn act_c(a: &Act) -> (&'static str, u16, u16, i32, bool, bool) {
    match *a {
        Act::Fetch { tag, buf } => ("A_FETCH", tag, 0, 0, buf, false),
        Act::Commit { tag, result, buf } => ("A_COMMIT", tag, 0, result, buf, false),
        Act::NeedGetData { tag } => ("A_NEED_GET_DATA", tag, 0, 0, true, false),
        Act::Register { tag, idx } => ("A_REGISTER", tag, idx, 0, false, false),
        Act::Unregister { tag, idx } => ("A_UNREGISTER", tag, idx, 0, false, false),
        Act::BadType { tag } => ("A_BAD_TYPE", tag, 0, 0, false, false),
        // the direction travels as `buf` (1: WRITE_FIXED)
        Act::FixedIo { idx, write } => ("A_FIXED_IO", 0, idx, 0, write, false),
        // the offset travels as the result field, the direction as idx (0: the request's,
        // 1: pread, 2: pwrite); the length in the step's `ulen` (see `tables`)
        Act::UserCopy { tag, off, dir, .. } => {
            let d = match dir {
                None => 0,
                Some(CopyDir::Pread) => 1,
                Some(CopyDir::Pwrite) => 2,
            };
            let off = i32::try_from(off).unwrap_or(i32::MAX);
            ("A_USER_COPY", tag, d, off, false, false)
        }
        Act::WaitCqe { tag } => ("A_WAIT_CQE", tag, 0, 0, false, false),
        Act::Exit => ("A_EXIT", 0, 0, 0, false, false),
        Act::ThreadExit => ("A_THREAD_EXIT", 0, 0, 0, false, false),
        Act::CloseRing => ("A_CLOSE_RING", 0, 0, 0, false, false),
        Act::Read => ("A_READ", 0, 0, 0, false, false),
        Act::Write => ("A_WRITE", 0, 0, 0, false, false),
        Act::BioWait => ("A_BIO_WAIT", 0, 0, 0, false, false),
        Act::StartDev => ("A_START_DEV", 0, 0, 0, false, false),
        Act::StopDev => ("A_STOP_DEV", 0, 0, 0, false, false),
        Act::StartUserRecovery { poll } => ("A_START_USER_RECOVERY", 0, 0, 0, false, poll),
        Act::EndUserRecovery => ("A_END_USER_RECOVERY", 0, 0, 0, false, false),
        Act::DelDev => ("A_DEL_DEV", 0, 0, 0, false, false),
        // the timeout travels as the step's result field (data[0] of the command)
        Act::QuiesceDev { timeout_ms } => (
            "A_QUIESCE_DEV",
            0,
            0,
            i32::try_from(timeout_ms).unwrap_or(i32::MAX),
            false,
            false,
        ),
        Act::UpdateSize => ("A_UPDATE_SIZE", 0, 0, 0, false, false),
        Act::CtrlWait => ("A_CTRL_WAIT", 0, 0, 0, false, false),
        Act::Kill => ("A_KILL", 0, 0, 0, false, false),
        Act::CloseFd => ("A_CLOSE_FD", 0, 0, 0, false, false),
        // refused by `unsupported`
        Act::SwitchElevator => ("A_CTRL_WAIT", 0, 0, 0, false, false),
    }
}

fn kind_c(k: &ThreadKind) -> (&'static str, bool, u8) {
    match *k {
        ThreadKind::Server {
            fixed_file,
            process,
        } => ("T_SERVER", fixed_file, process),
        ThreadKind::Submitter => ("T_SUBMITTER", false, 0),
        ThreadKind::Control => ("T_CONTROL", false, 0),
        ThreadKind::Killer => ("T_KILLER", false, 0),
        ThreadKind::FdHolder => ("T_FD_HOLDER", false, 0),
        // refused by `unsupported`
        ThreadKind::Elevator => ("T_CONTROL", false, 0),
    }
}

/// The program's tables (device, threads, steps with the model's predictions).
fn tables(p: &Program, timeout_ms: u64) -> Result<String, String> {
    let mut o = String::new();
    let d = &p.dev;
    let w = &mut o;
    let _ = writeln!(w, "\n/* ---- the program (generated) ---- */\n");
    let _ = writeln!(w, "#define NSTEPS {}", p.steps.len());
    let _ = writeln!(w, "#define NTHREADS {}", p.threads.len());
    let _ = writeln!(w, "#define NR_QUEUES {}", d.queues);
    let _ = writeln!(w, "#define DEPTH {}", d.depth);
    let _ = writeln!(w, "#define TABLE_SIZE {}", d.table_size);
    let _ = writeln!(
        w,
        "#define DEV_FLAGS {:#x}ULL /* {:?}{}, recovery {:?} */",
        dev_flags(d),
        d.copy,
        if d.need_get_data {
            ", NEED_GET_DATA"
        } else {
            ""
        },
        d.recovery
    );
    let _ = writeln!(w, "#define PRIVILEGED {}", d.privileged as u8);
    let _ = writeln!(w, "#define AUTO_BUF_REG {}", d.copy.auto_buf_reg() as u8);
    // ublk_auto_buf_reg.flags: UBLK_AUTO_BUF_REG_FALLBACK
    let _ = writeln!(w, "#define AUTO_BUF_REG_FALLBACK {}", d.auto_fallback as u8);
    let holder = p.threads.iter().any(|t| t.kind == ThreadKind::FdHolder);
    let _ = writeln!(w, "#define HAS_FD_HOLDER {}", holder as u8);
    let _ = writeln!(w, "#define STEP_TIMEOUT_MS {timeout_ms}\n");
    let _ = writeln!(
        w,
        "/* name, kind, /dev/ublkcN as fixed file 0, server process, hw queue */"
    );
    let _ = writeln!(w, "static const struct thread_spec threads[NTHREADS] = {{");
    for t in &p.threads {
        let (k, fixed, proc) = kind_c(&t.kind);
        let _ = writeln!(
            w,
            "\t{{{}, {k}, {}, {proc}, {}}},",
            c_str(&t.name),
            fixed as u8,
            t.queue
        );
    }
    let _ = writeln!(w, "}};\n");
    for (i, s) in p.steps.iter().enumerate() {
        if s.after.is_empty() {
            continue;
        }
        let _ = write!(w, "static const struct effect after_{i}[] = {{");
        for (k, e) in s.after.iter().enumerate() {
            if e.of >= p.steps.len() {
                return Err(format!(
                    "step {i}: an effect of step {} (no such step)",
                    e.of
                ));
            }
            let sep = if k == 0 { "" } else { ", " };
            let _ = write!(w, "{sep}{{{}, {}}}", e.of, expect_c(&e.expect));
        }
        let _ = writeln!(w, "}};");
    }
    let _ = writeln!(
        w,
        "\n/* thread, action, tag, buffer index, COMMIT result, buffer address, poll -EBUSY,\n \
         * the model's prediction, name, effects the model predicts after the step */"
    );
    let _ = writeln!(w, "static const struct step steps[NSTEPS] = {{");
    for (i, s) in p.steps.iter().enumerate() {
        let t = p
            .threads
            .get(s.thread)
            .ok_or_else(|| format!("step {i}: thread {} does not exist", s.thread))?;
        let (act, tag, idx, result, buf, poll) = act_c(&s.act);
        if matches!(
            s.act,
            Act::Fetch { .. }
                | Act::Commit { .. }
                | Act::NeedGetData { .. }
                | Act::WaitCqe { .. }
                | Act::UserCopy { .. }
        ) && tag >= d.depth
        {
            return Err(format!("step {i}: tag {tag} of a depth-{} device", d.depth));
        }
        let after = if s.after.is_empty() {
            "0, NULL".to_string()
        } else {
            format!("{}, after_{i}", s.after.len())
        };
        let _ = writeln!(
            w,
            "\t/* {i:>2} {}: {} — model: {} */",
            c_comment(&t.name),
            c_comment(&s.act.name()),
            c_comment(&show_expect(&s.expect))
        );
        // a user copy's length + 1 (0: the default 4 KiB)
        let ulen = match s.act {
            Act::UserCopy { len: Some(l), .. } => format!(", {}", u64::from(l) + 1),
            _ => String::new(),
        };
        let _ = writeln!(
            w,
            "\t{{{}, {act}, {tag}, {idx}, {result}, {}, {}, {}, {}, {after}{ulen}}},",
            s.thread,
            buf as u8,
            poll as u8,
            expect_c(&s.expect),
            c_str(&s.act.name())
        );
    }
    let _ = writeln!(w, "}};\n");
    Ok(o)
}

/// The whole C file for program `p` (deterministic: the same program gives the same bytes).
pub fn emit(p: &Program, origin: &Origin, timeout_ms: u64) -> Result<String, String> {
    if let Some(why) = unsupported(p) {
        return Err(why);
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "/* {} — trace {}\n * (model preset {}), for Linux {} with ublk_drv.\n *\n\
         \x20* Generated by `ublksim export-c`: the trace's user actions on the real ublk driver, in\n\
         \x20* trace order, each observation printed as one JSON line beside the model's prediction.\n\
         \x20* Build and run (root; ublk_drv loaded):\n\
         \x20*   gcc -static -O2 -Wall -o prog prog.c && ./prog [--timeout-ms N] > out.txt\n\
         \x20* Judge the output against the model:\n\
         \x20*   ublksim export-c {} --judge out.txt\n\
         \x20* Exit status: 0 as the model predicts, 1 a disagreement, 2 setup error, 4 refused. */\n",
        c_comment(&p.id),
        c_comment(origin.trace),
        c_comment(origin.preset),
        c_comment(origin.kernel),
        c_comment(origin.trace),
    );
    if !origin.doc.is_empty() {
        o.push_str("/*");
        let mut col = 2;
        for word in c_comment(origin.doc).split_whitespace() {
            if col + word.len() + 1 > 94 {
                o.push_str("\n *");
                col = 2;
            }
            o.push(' ');
            o.push_str(word);
            col += word.len() + 1;
        }
        o.push_str(" */\n\n");
    }
    o.push_str(UAPI_C);
    o.push_str(&tables(p, timeout_ms)?);
    for part in RUNTIME_C {
        o.push_str(part);
    }
    Ok(o)
}
