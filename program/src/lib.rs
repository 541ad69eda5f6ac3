//! Sequential programs: what the host (`ublksim replay` / `ublksim conform`) sends to the
//! real-device executor (`ublk_realdev::exec`) and how an observation is judged against the model's
//! prediction.
//!
//! A [`Program`] is a device configuration, a set of threads (the trace's user actors) and an
//! ordered list of [`Step`]s. Each step names the thread, the action, what the model predicts
//! user space sees ([`Expect`]) and the *effects* the model predicts once the kernel settled
//! after the step (completions of earlier commands and bios, [`Effect`]): the executor waits
//! for every predicted completion before it starts the next step, so the program runs in trace
//! order without sleeps, and kernel-internal steps are checked by their effect.

use serde::{Deserialize, Serialize};

mod errno;
mod follow;
pub use errno::errno_name;

/// The ublk control node: `replay --device` looks for it on the host before it starts the
/// executor there.
pub const CONTROL_PATH: &str = "/dev/ublk-control";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopyKind {
    Copy,
    UserCopy,
    ZeroCopy,
    AutoBufReg,
    /// AUTO_BUF_REG without SUPPORT_ZERO_COPY: REGISTER/UNREGISTER_IO_BUF are -EINVAL.
    AutoBufRegOnly,
}

impl CopyKind {
    /// The dispatch registers each request's buffer (UBLK_F_AUTO_BUF_REG).
    pub fn auto_buf_reg(self) -> bool {
        matches!(self, CopyKind::AutoBufReg | CopyKind::AutoBufRegOnly)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecoveryKind {
    None,
    Requeue,
    Reissue,
    FailIo,
}

/// The device a program runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevCfg {
    /// Hw queues (1 or 2; a program without the field has 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub queues: u16,
    pub depth: u16,
    pub copy: CopyKind,
    pub need_get_data: bool,
    pub recovery: RecoveryKind,
    /// Entries of each server ring's sparse buffer table.
    pub table_size: u16,
    /// The server threads keep CAP_SYS_ADMIN: a kernel without the async partition scan
    /// (6.12) reads sector 0 inside START_DEV. Otherwise they drop it, so no scan happens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// UBLK_F_QUIESCE (7.2; needs a recovery kind): the control task may send QUIESCE_DEV.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub quiesce: bool,
    /// AUTO_BUF_REG: FETCH and COMMIT carry `UBLK_AUTO_BUF_REG_FALLBACK` — a request whose
    /// buffer cannot be registered reaches the server anyway (flagged NEED_REG_BUF).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_fallback: bool,
    /// An I/O scheduler from the start: the executor loads the mq-deadline (and kyber) modules
    /// for the program, so START_DEV's `elevator_set_default` attaches mq-deadline to the
    /// (single-queue) device; without it the device runs with none (one queue only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub elevator: bool,
    /// Bytes of every bio (O_DIRECT at offset 0; 512..=32768, a multiple of 512; a program
    /// without the field has 4096).
    #[serde(default = "page", skip_serializing_if = "is_page")]
    pub io_bytes: u16,
}

fn page() -> u16 {
    4096
}

fn is_page(b: &u16) -> bool {
    *b == 4096
}

/// One queue of depth 1, zero copy, no recovery, a buffer table of 2: the smallest device.
impl Default for DevCfg {
    fn default() -> Self {
        DevCfg {
            queues: 1,
            depth: 1,
            copy: CopyKind::ZeroCopy,
            need_get_data: false,
            recovery: RecoveryKind::None,
            table_size: 2,
            privileged: false,
            quiesce: false,
            auto_fallback: false,
            elevator: false,
            io_bytes: 4096,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadKind {
    /// A server thread with its own io ring, in server process `process`: 0 is the server
    /// the program starts with; 1 the new server of a user recovery, a fresh process that
    /// opens /dev/ublkcN once START_USER_RECOVERY returned 0.
    Server {
        fixed_file: bool,
        #[serde(default, skip_serializing_if = "is_zero")]
        process: u8,
    },
    /// A block client doing O_DIRECT 4 KiB I/O on /dev/ublkbN.
    Submitter,
    /// The control task.
    Control,
    /// SIGKILL of the server process.
    Killer,
    /// Another holder of /dev/ublkcN (a `pidfd_getfd` duplicate held by the executor).
    FdHolder,
    /// A writer of `/sys/block/ublkbN/queue/scheduler` (an elevator switch).
    Elevator,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

fn one() -> u16 {
    1
}

fn is_one(v: &u16) -> bool {
    *v == 1
}

fn is_q0(v: &u16) -> bool {
    *v == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSpec {
    pub name: String,
    pub kind: ThreadKind,
    /// The hw queue the thread acts on (default 0): a server thread's io commands name it;
    /// on a device with more than one queue a submitter is pinned to a CPU of it (blk-mq maps
    /// a bio to the hw queue of the submitting CPU).
    #[serde(default, skip_serializing_if = "is_q0")]
    pub queue: u16,
}

fn is_zero32(v: &u32) -> bool {
    *v == 0
}

/// Direction of a user copy on /dev/ublkcN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopyDir {
    /// pread: request pages to the user buffer (right for a WRITE request).
    Pread,
    /// pwrite: user buffer to request pages (right for a READ request).
    Pwrite,
}

/// One user action. Io commands act on their thread's queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Act {
    Fetch {
        tag: u16,
        buf: bool,
    },
    Commit {
        tag: u16,
        result: i32,
        buf: bool,
    },
    NeedGetData {
        tag: u16,
    },
    Register {
        tag: u16,
        idx: u16,
    },
    Unregister {
        tag: u16,
        idx: u16,
    },
    BadType {
        tag: u16,
    },
    /// READ_FIXED (READ request) / WRITE_FIXED (`write`: a WRITE request) of 4 KiB with
    /// buffer `idx`: the direction of the request the model says is registered there (a
    /// server knows which request it registered; with two tags the descriptors cannot tell).
    FixedIo {
        idx: u16,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        write: bool,
    },
    /// pread/pwrite on /dev/ublkcN for `tag` at byte `off` of the request, `len` bytes
    /// (default 4 KiB), in direction `dir` (default: the request's — pwrite for a READ, pread
    /// for a WRITE, read from its I/O descriptor).
    UserCopy {
        tag: u16,
        #[serde(default, skip_serializing_if = "is_zero32")]
        off: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        len: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<CopyDir>,
    },
    /// Wait for the CQE of this thread's last FETCH / COMMIT / NEED_GET_DATA on `tag`.
    WaitCqe {
        tag: u16,
    },
    /// exit_group of the server process.
    Exit,
    /// This server thread exits without closing its ring.
    ThreadExit,
    /// Close this thread's ring fd.
    CloseRing,
    /// Submit a 4 KiB O_DIRECT read / write at offset 0 of /dev/ublkbN.
    Read,
    Write,
    /// Wait for this submitter's last bio.
    BioWait,
    StartDev,
    StopDev,
    /// START_USER_RECOVERY; on 0 the executor starts the new server process (it opens
    /// /dev/ublkcN, maps the descriptors and sets up its threads' rings). `poll`: a recovery
    /// tool that waits for the old server to be gone — -EBUSY (the old process's file still
    /// open: its rings' exit work has not dropped it yet, or the device not yet QUIESCED) is
    /// retried until another answer or the step timeout; otherwise the first answer counts.
    StartUserRecovery {
        poll: bool,
    },
    /// END_USER_RECOVERY with the new server process's pid (waits until every io is fetched).
    EndUserRecovery,
    /// QUIESCE_DEV (a device with `quiesce`): sets `canceling` on every queue, waits at most
    /// `timeout_ms` (0: forever) for an idle io on every queue (-EBUSY when there is none),
    /// then aborts the idle ios' commands (-ENODEV CQEs).
    QuiesceDev {
        timeout_ms: u64,
    },
    /// UPDATE_SIZE (6.14+) with the size the device already has (`data[0]`, sectors): 0 on
    /// a started device; -ENODEV before START_DEV and after STOP_DEV (7.0+); 6.12 does not
    /// know the command (-EOPNOTSUPP).
    UpdateSize,
    /// DEL_DEV (waits until the last reference to /dev/ublkcN is gone).
    DelDev,
    /// Write `kyber` to `/sys/block/ublkbN/queue/scheduler` (a device with `elevator`): the
    /// switch freezes the queue (waits until no request is allocated), frees mq-deadline's
    /// requests and attaches kyber; the write returns then (0).
    SwitchElevator,
    /// Wait for the control task's last command (or the elevator writer's write).
    CtrlWait,
    /// SIGKILL the server process.
    Kill,
    /// The fd holder closes its /dev/ublkcN reference.
    CloseFd,
}

impl Act {
    /// A wait for an earlier command, bio or control command: no system call of its own to
    /// issue (so it cannot race, `Step::race_us`).
    pub fn is_wait(&self) -> bool {
        matches!(self, Act::WaitCqe { .. } | Act::BioWait | Act::CtrlWait)
    }

    pub fn name(&self) -> String {
        match self {
            Act::Fetch { tag, .. } => format!("FETCH t{tag}"),
            Act::Commit { tag, result, .. } => format!("COMMIT_AND_FETCH t{tag} res {result}"),
            Act::NeedGetData { tag } => format!("NEED_GET_DATA t{tag}"),
            Act::Register { tag, idx } => format!("REGISTER_IO_BUF t{tag} idx {idx}"),
            Act::Unregister { tag, idx } => format!("UNREGISTER_IO_BUF t{tag} idx {idx}"),
            Act::BadType { tag } => format!("bad-type cmd t{tag}"),
            Act::FixedIo { idx, .. } => format!("READ/WRITE_FIXED idx {idx}"),
            Act::UserCopy { tag, off, len, dir } => {
                let mut n = format!("user copy t{tag}");
                if let Some(d) = dir {
                    n = format!(
                        "{} t{tag}",
                        if *d == CopyDir::Pread {
                            "pread"
                        } else {
                            "pwrite"
                        }
                    );
                }
                if *off != 0 {
                    n += &format!(" off {off}");
                }
                if let Some(l) = len {
                    n += &format!(" len {l}");
                }
                n
            }
            Act::WaitCqe { tag } => format!("wait CQE t{tag}"),
            Act::Exit => "exit_group".into(),
            Act::ThreadExit => "thread exit".into(),
            Act::CloseRing => "close ring".into(),
            Act::Read => "submit READ".into(),
            Act::Write => "submit WRITE".into(),
            Act::BioWait => "bio completion".into(),
            Act::StartDev => "START_DEV".into(),
            Act::StopDev => "STOP_DEV".into(),
            Act::StartUserRecovery { .. } => "START_USER_RECOVERY".into(),
            Act::EndUserRecovery => "END_USER_RECOVERY".into(),
            Act::QuiesceDev { timeout_ms } => format!("QUIESCE_DEV wait {timeout_ms} ms"),
            Act::UpdateSize => "UPDATE_SIZE".into(),
            Act::DelDev => "DEL_DEV".into(),
            Act::SwitchElevator => "elevator switch".into(),
            Act::CtrlWait => "control completion".into(),
            Act::Kill => "SIGKILL".into(),
            Act::CloseFd => "fd holder close".into(),
        }
    }
}

/// What the model predicts for a step (see `checker/src/oracle.rs`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expect {
    /// Finished with this result (`None`: no result, e.g. exit).
    Done(Option<i32>),
    /// Issued and kept (uring_cmd queued, bio in flight): must not have completed.
    Pending,
    /// Cannot finish: the replay must see it time out.
    Blocks,
}

/// A predicted completion (or non-completion) of the command / bio issued at step `of`, once
/// the kernel settled after the step that carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    pub of: usize,
    /// `Done(Some(res))` or `Pending`.
    pub expect: Expect,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub thread: usize,
    pub act: Act,
    pub expect: Expect,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<Effect>,
    /// Issued concurrently with the step before it (a race of `ublksim confirm --stress`):
    /// the executor issues every step of such a group before it observes any, each from a
    /// thread of its own pinned to a CPU of its own, released at one instant of
    /// CLOCK_MONOTONIC plus this many microseconds (negative: earlier than the group's first
    /// step). A race inside one kernel function needs the two system calls inside the kernel
    /// at once, which a sequential program never has. `None`: issued after the previous
    /// step was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub race_us: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub id: String,
    pub dev: DevCfg,
    pub threads: Vec<ThreadSpec>,
    pub steps: Vec<Step>,
}

/// What the executor saw for one step (or effect).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Got {
    Done(Option<i32>),
    Pending,
    /// Nothing within the per-step timeout.
    Hang,
    /// The executor could not perform the step.
    Error(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Conforms,
    /// `what` names the step or the effect (`completion of step K`).
    Diverges {
        step: usize,
        what: String,
        expected: String,
        got: String,
    },
    /// A step never completed. `predicted`: the model said it blocks.
    Hang {
        step: usize,
        what: String,
        predicted: bool,
    },
    /// The kernel cannot run this program (flags dropped, unsupported action …).
    Refused(String),
    Error(String),
}

impl Verdict {
    /// One line: `conforms`, `diverges at step N (…: expected X, got Y)`, `hang at step N …`.
    pub fn text(&self) -> String {
        match self {
            Verdict::Conforms => "conforms".into(),
            Verdict::Diverges {
                step,
                what,
                expected,
                got,
            } => format!("diverges at step {step} ({what}: expected {expected}, got {got})"),
            Verdict::Hang {
                step,
                what,
                predicted,
            } => format!(
                "hang at step {step} ({what}){}",
                if *predicted {
                    ", as the model predicts"
                } else {
                    ""
                }
            ),
            Verdict::Refused(r) => format!("refused: {r}"),
            Verdict::Error(e) => format!("error: {e}"),
        }
    }

    /// A divergence, an unpredicted hang or an error (not: conforms, predicted hang, refused).
    pub fn is_failure(&self) -> bool {
        match self {
            Verdict::Conforms | Verdict::Refused(_) => false,
            Verdict::Hang { predicted, .. } => !predicted,
            _ => true,
        }
    }
}

/// The result of running one program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub id: String,
    pub verdict: Verdict,
    pub verdict_text: String,
    /// Observation of each executed step.
    pub got: Vec<Got>,
    /// The kernel's tag choices the executor followed: (step, command the program expected
    /// the request on, command that got it) — see [`Program::relabel`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub followed: Vec<[usize; 3]>,
    pub ms: f64,
}

pub fn show_res(r: Option<i32>) -> String {
    match r {
        None => "done".into(),
        Some(v) if v < 0 => format!("{v} ({})", errno_name(v)),
        Some(v) => v.to_string(),
    }
}

pub fn show_expect(e: &Expect) -> String {
    match e {
        Expect::Done(r) => show_res(*r),
        Expect::Pending => "pending".into(),
        Expect::Blocks => "blocks".into(),
    }
}

pub fn show_got(g: &Got) -> String {
    match g {
        Got::Done(r) => show_res(*r),
        Got::Pending => "pending".into(),
        Got::Hang => "no completion (timeout)".into(),
        Got::Error(e) => format!("executor error: {e}"),
    }
}

/// Judge one observation: `None` = agrees, `Some(verdict)` = the program stops here.
pub fn judge(step: usize, what: &str, expect: &Expect, got: &Got) -> Option<Verdict> {
    let div = || {
        Some(Verdict::Diverges {
            step,
            what: what.to_string(),
            expected: show_expect(expect),
            got: show_got(got),
        })
    };
    match (expect, got) {
        (Expect::Done(a), Got::Done(b)) if a == b => None,
        (Expect::Pending, Got::Pending) => None,
        (Expect::Blocks, Got::Hang) => Some(Verdict::Hang {
            step,
            what: what.to_string(),
            predicted: true,
        }),
        (_, Got::Hang) => Some(Verdict::Hang {
            step,
            what: format!("{what}: expected {}", show_expect(expect)),
            predicted: false,
        }),
        (_, Got::Error(e)) => Some(Verdict::Error(format!("step {step} ({what}): {e}"))),
        _ => div(),
    }
}

/// Judge a whole recorded run (used to re-judge observations against another prediction, e.g.
/// the perturbation test): `got[i]` is step i's observation, `effects[i]` what was seen for
/// step i's effects (same order as `steps[i].after`).
pub fn judge_all(p: &Program, got: &[Got], effects: &[Vec<Got>]) -> Verdict {
    for (i, s) in p.steps.iter().enumerate() {
        let Some(g) = got.get(i) else {
            return Verdict::Conforms;
        };
        if let Some(v) = judge(i, &s.act.name(), &s.expect, g) {
            return v;
        }
        for (e, g) in s.after.iter().zip(effects.get(i).into_iter().flatten()) {
            let what = format!("completion of step {} ({})", e.of, p.steps[e.of].act.name());
            if let Some(v) = judge(i, &what, &e.expect, g) {
                return v;
            }
        }
    }
    Verdict::Conforms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog() -> Program {
        Program {
            id: "t".into(),
            dev: DevCfg::default(),
            threads: vec![ThreadSpec {
                name: "daemon".into(),
                kind: ThreadKind::Server {
                    fixed_file: true,
                    process: 0,
                },
                queue: 0,
            }],
            steps: vec![
                Step {
                    thread: 0,
                    act: Act::Fetch { tag: 0, buf: false },
                    expect: Expect::Pending,
                    after: vec![],
                    race_us: None,
                },
                Step {
                    thread: 0,
                    act: Act::Register { tag: 0, idx: 0 },
                    expect: Expect::Done(Some(-22)),
                    after: vec![],
                    race_us: None,
                },
            ],
        }
    }

    #[test]
    fn json_round_trip() {
        let p = prog();
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Program>(&s).unwrap(), p);
    }

    #[test]
    fn one_queue_programs_keep_their_json() {
        // no `queues` / `queue` fields for queue 0 of a one-queue device: older programs
        // and traces read the same
        let s = serde_json::to_string(&prog()).unwrap();
        assert!(!s.contains("queue") && !s.contains("quiesce"), "{s}");
        let mut p = prog();
        p.dev.queues = 2;
        p.threads[0].queue = 1;
        let s = serde_json::to_string(&p).unwrap();
        assert!(
            s.contains(r#""queues":2"#) && s.contains(r#""queue":1"#),
            "{s}"
        );
        assert_eq!(serde_json::from_str::<Program>(&s).unwrap(), p);
    }

    #[test]
    fn quiesce_dev_round_trips() {
        let mut p = prog();
        p.dev.quiesce = true;
        p.steps.push(Step {
            thread: 0,
            act: Act::QuiesceDev { timeout_ms: 500 },
            expect: Expect::Done(Some(-16)),
            after: vec![],
            race_us: None,
        });
        let s = serde_json::to_string(&p).unwrap();
        assert!(
            s.contains(r#""quiesce":true"#) && s.contains(r#"{"QuiesceDev":{"timeout_ms":500}}"#),
            "{s}"
        );
        assert_eq!(serde_json::from_str::<Program>(&s).unwrap(), p);
        assert_eq!(
            p.steps.last().unwrap().act.name(),
            "QUIESCE_DEV wait 500 ms"
        );
    }

    #[test]
    fn a_first_process_server_serialises_as_before() {
        let t = ThreadKind::Server {
            fixed_file: true,
            process: 0,
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"Server":{"fixed_file":true}}"#
        );
        let r = ThreadKind::Server {
            fixed_file: false,
            process: 1,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<ThreadKind>(&s).unwrap(), r);
    }

    #[test]
    fn judging() {
        let p = prog();
        let ok = [Got::Pending, Got::Done(Some(-22))];
        assert_eq!(judge_all(&p, &ok, &[]), Verdict::Conforms);
        let bad = [Got::Pending, Got::Done(Some(-16))];
        assert_eq!(
            judge_all(&p, &bad, &[]).text(),
            "diverges at step 1 (REGISTER_IO_BUF t0 idx 0: expected -22 (EINVAL), got -16 (EBUSY))"
        );
        let hang = [Got::Hang];
        assert!(judge_all(&p, &hang, &[]).is_failure());
    }
}
