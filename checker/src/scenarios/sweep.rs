//! Generated configurations: instead of the one story a hand-written scenario tells, every
//! combination of a small grammar — device flags, server shape, clients, control program and
//! one fault — explored exhaustively (the small-scope hypothesis pays only when *every* small
//! configuration is tried).
//!
//! The grammar (one [`Shape`] per configuration):
//! * device: one or two queues of depth 1–2 (two of depth 2: `s3`), copy / NEED_GET_DATA copy / user copy / zero copy /
//!   auto-buf-reg, recovery none / requeue / reissue / fail-io, an I/O scheduler or not,
//!   rings with or without `/dev/ublkcN` as a fixed file;
//! * servers: per-io daemons (one thread per tag) or one per-queue daemon thread (one strand
//!   per tag, so it serves requests in the order they come), each a
//!   serving loop (FETCH, then per request the copy mode's work and COMMIT_AND_FETCH, until
//!   the FETCH is aborted, then `exit_group`); zero to two offload threads (two: `s3`) that touch every
//!   tag's request off the daemon (REGISTER + fixed I/O + UNREGISTER, or a user copy);
//! * clients: one to three submitters (three: `s3`), each one READ or WRITE (with two queues
//!   one per queue: a bio reaches its submitter's hw queue);
//! * control: START_DEV, optionally STOP_DEV, then DEL_DEV (`s2`), or STOP_DEV before
//!   START_DEV; with recovery
//!   START/END_USER_RECOVERY and a new server process, which may fail too (`s2`: its first
//!   daemon FETCHes, closes its ring and exits);
//! * one fault or quirk: a live update (QUIESCE_DEV, then a user recovery); at a moment of
//!   the explorer's choosing SIGKILL, a daemon closing its
//!   ring, a daemon thread exiting, the offload thread exiting, an elevator switch, another
//!   process holding `/dev/ublkcN`; or the `fail_io_timeout` injection dropping the first
//!   completion, the first data copy of NEED_GET_DATA failing, a second thread FETCHing tag 0
//!   too, a copy-mode FETCH without a buffer, an auto-buf-reg FETCH with an invalid
//!   descriptor — legal (or buggy) user space the driver must survive, each what some
//!   historical bug needed.
//!
//! Configurations that differ only by renaming (which tag a fault hits, which thread serves
//! which tag) are generated once: faults always hit thread 0, threads serve tags in order
//! (with two queues thread `i` serves queue `i`).

use ublk_model::config::*;

/// How far the sweep goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Depth 1, every copy mode, fault and control program (the default job's sweep), and
    /// depth 2 for the second-FETCH quirk.
    S1,
    /// And depth 2: per-io daemons or a per-queue daemon, two clients; and two queues of
    /// depth 1 (a daemon and a bio per queue) with every data path.
    S2,
    /// And at depth 2 two offload threads racing for the same requests, and three clients
    /// (the third waits for a driver tag); and two queues of depth 2, each served by a
    /// per-queue daemon, with two bios on queue 0 and one on queue 1.
    S3,
}

impl Level {
    /// The name `--scope` takes.
    pub fn name(self) -> &'static str {
        match self {
            Level::S1 => "s1",
            Level::S2 => "s2",
            Level::S3 => "s3",
        }
    }

    pub fn parse(s: &str) -> Result<Level, String> {
        match s {
            "s1" => Ok(Level::S1),
            "s2" => Ok(Level::S2),
            "s3" => Ok(Level::S3),
            _ => Err(format!("unknown scope '{s}' (known: s1, s2, s3)")),
        }
    }
}

/// The data path of a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Data {
    Copy,
    /// Copy with `UBLK_F_NEED_GET_DATA`: a WRITE's data is fetched with NEED_GET_DATA.
    CopyNgd,
    UserCopy,
    ZeroCopy,
    AutoBufReg,
}

const DATA: [Data; 5] = [
    Data::Copy,
    Data::CopyNgd,
    Data::UserCopy,
    Data::ZeroCopy,
    Data::AutoBufReg,
];

impl Data {
    fn mode(self) -> CopyMode {
        match self {
            Data::Copy | Data::CopyNgd => CopyMode::Copy,
            Data::UserCopy => CopyMode::UserCopy,
            Data::ZeroCopy => CopyMode::ZeroCopy,
            Data::AutoBufReg => CopyMode::AutoBufReg,
        }
    }
    fn short(self) -> &'static str {
        match self {
            Data::Copy => "copy",
            Data::CopyNgd => "ngd",
            Data::UserCopy => "uc",
            Data::ZeroCopy => "zc",
            Data::AutoBufReg => "abr",
        }
    }
    /// An offload thread has something to do off the daemon.
    fn offloads(self) -> bool {
        matches!(self, Data::UserCopy | Data::ZeroCopy)
    }
}

/// The one fault of a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    None,
    Kill,
    RingClose,
    ThreadDeath,
    OffloadDeath,
    Elevator,
    FdHolder,
    /// `fail_io_timeout`: the first completion is dropped to the timeout handler.
    FakeTimeout,
    /// The first `ublk_get_data()` copies nothing (NEED_GET_DATA only).
    GetDataFail,
    /// A second thread FETCHes tag 0 too, then exits (before or after the daemon).
    DoubleFetch,
    /// Copy mode: the daemon's first FETCH carries no buffer.
    NoBufferFetch,
    /// Auto-buf-reg: the first FETCH carries an invalid descriptor in `sqe->addr`.
    BadAutoFetch,
    /// SIGKILL, and the recovery tool issues START_USER_RECOVERY once and ignores its
    /// answer (an -EBUSY while the old server's file is still open: B-18's case).
    KillStartOnce,
    /// SIGKILL, and the recovery tool issues START_USER_RECOVERY a second time, taking
    /// its answer as is (B-24c's case).
    KillStartTwice,
    /// A live update: the device has UBLK_F_QUIESCE; after START_DEV the control task
    /// issues QUIESCE_DEV (the server ends on its aborted FETCH), then a user recovery
    /// with a new server.
    Quiesce,
    /// A management tool resizes the device (UPDATE_SIZE, 6.14+) before START_DEV, while
    /// it is LIVE, and after STOP_DEV when the configuration stops it.
    Resize,
    /// Auto-buf-reg: before each COMMIT the server REGISTERs the request's buffer by hand at
    /// the other tag's index (and UNREGISTERs it), so a request dispatched meanwhile finds
    /// its automatic index taken: without FALLBACK the dispatch ends it with -EIO.
    AutoCollide,
    /// [`Fault::AutoCollide`] with `UBLK_AUTO_BUF_REG_FALLBACK`: the request reaches the
    /// server without a buffer.
    AutoFallback,
    /// SIGKILL, then a user recovery whose new server fails too: its first daemon thread
    /// FETCHes, closes its ring and exits the process (the recovery tool still issues
    /// END_USER_RECOVERY).
    KillNewFails,
    /// [`Fault::AutoCollide`] on a device without `UBLK_F_SUPPORT_ZERO_COPY`
    /// (`DevConfig::auto_no_zc`): the dispatch registers, the server's own REGISTER and
    /// UNREGISTER are -EINVAL.
    AutoNoZc,
}

const FAULTS: [Fault; 20] = [
    Fault::None,
    Fault::Kill,
    Fault::RingClose,
    Fault::ThreadDeath,
    Fault::OffloadDeath,
    Fault::Elevator,
    Fault::FdHolder,
    Fault::FakeTimeout,
    Fault::GetDataFail,
    Fault::DoubleFetch,
    Fault::NoBufferFetch,
    Fault::BadAutoFetch,
    Fault::KillStartOnce,
    Fault::KillStartTwice,
    Fault::KillNewFails,
    Fault::Quiesce,
    Fault::Resize,
    Fault::AutoCollide,
    Fault::AutoFallback,
    Fault::AutoNoZc,
];

impl Fault {
    fn short(self) -> &'static str {
        match self {
            Fault::None => "nofault",
            Fault::Kill => "kill",
            Fault::RingClose => "ringclose",
            Fault::ThreadDeath => "threadexit",
            Fault::OffloadDeath => "offloadexit",
            Fault::Elevator => "elevator",
            Fault::FdHolder => "fdholder",
            Fault::FakeTimeout => "faketimeout",
            Fault::GetDataFail => "getdatafail",
            Fault::DoubleFetch => "doublefetch",
            Fault::NoBufferFetch => "nobuffetch",
            Fault::BadAutoFetch => "badautofetch",
            Fault::KillStartOnce => "kill-startonce",
            Fault::KillStartTwice => "kill-starttwice",
            Fault::KillNewFails => "kill-newfails",
            Fault::Quiesce => "quiesce",
            Fault::Resize => "resize",
            Fault::AutoCollide => "autocollide",
            Fault::AutoFallback => "autofallback",
            Fault::AutoNoZc => "autonozc",
        }
    }

    /// Whether the fault makes sense for a data path.
    /// The faults `s1` also tries with a per-queue daemon at depth 2 (one thread, one ring,
    /// two tags): the index collisions of automatic registration, and the faults of one
    /// request — a dropped completion, a failing NEED_GET_DATA copy, a FETCH without a buffer
    /// or with an invalid descriptor — while the thread serves the other; and none.  The
    /// faults that end the server (SIGKILL, ring close, thread exit, a live update) are
    /// `s2`'s: about 36 M states at depth 2 with a per-queue daemon, against 0.7 M for these.
    fn two_tags_one_ring(self) -> bool {
        matches!(
            self,
            Fault::None
                | Fault::FakeTimeout
                | Fault::GetDataFail
                | Fault::NoBufferFetch
                | Fault::BadAutoFetch
                | Fault::AutoCollide
                | Fault::AutoFallback
                | Fault::AutoNoZc
        )
    }

    fn fits(self, data: Data, offload: u8) -> bool {
        match self {
            Fault::OffloadDeath => offload > 0,
            Fault::GetDataFail => data == Data::CopyNgd,
            Fault::NoBufferFetch => data == Data::Copy,
            Fault::BadAutoFetch | Fault::AutoCollide | Fault::AutoFallback | Fault::AutoNoZc => {
                data == Data::AutoBufReg
            }
            _ => true,
        }
    }
}

/// One point of the grammar.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Hardware queues (1–2); with two, one daemon per queue (thread `i` serves queue `i`;
    /// at depth 2 a per-queue daemon, one strand per tag), and bio `i` submitted on queue
    /// `i mod 2` (a bio reaches its submitter's hw queue).
    pub queues: u8,
    pub depth: u8,
    pub data: Data,
    pub recovery: Recovery,
    /// Rings register `/dev/ublkcN` as a fixed file.
    pub fixed: bool,
    /// One thread FETCHes every tag (else one thread per tag).
    pub per_queue: bool,
    /// Offload threads (0–2).
    pub offload: u8,
    /// One submitter per bio.
    pub bios: Vec<Bio>,
    pub stop: bool,
    /// DEL_DEV after STOP_DEV (only with `stop`).
    pub del: bool,
    /// STOP_DEV before START_DEV (a tool that stops a device it has not started yet; no
    /// recovery), then START_DEV.
    pub stop_first: bool,
    pub fault: Fault,
}

impl Shape {
    /// The configuration's name: every choice, short (`g-d1-zc-perio-off-r-stop-kill`).
    pub fn name(&self) -> String {
        let mut n = format!("g-d{}", self.depth);
        if self.queues > 1 {
            n += &format!("-q{}", self.queues);
        }
        n += "-";
        n += self.data.short();
        n += if self.per_queue { "-perq" } else { "-perio" };
        match self.offload {
            0 => {}
            1 => n += "-off",
            k => n += &format!("-off{k}"),
        }
        if !self.fixed {
            n += "-plainfd";
        }
        n += "-";
        for b in &self.bios {
            n += if *b == Bio::Write { "w" } else { "r" };
        }
        if self.stop {
            n += "-stop";
        }
        if self.del {
            n += "-del";
        }
        if self.stop_first {
            n += "-stopfirst";
        }
        match self.recovery {
            Recovery::None => {}
            Recovery::Requeue => n += "-requeue",
            Recovery::Reissue => n += "-reissue",
            Recovery::FailIo => n += "-failio",
        }
        n + "-" + self.fault.short()
    }

    pub fn scenario(&self) -> Scenario {
        let mode = self.data.mode();
        let ngd = self.data == Data::CopyNgd;
        let dev = DevConfig {
            nr_queues: self.queues,
            depth: self.depth,
            copy: mode,
            need_get_data: ngd,
            recovery: self.recovery,
            elevator: self.fault == Fault::Elevator,
            table_size: self.depth.max(2),
            fake_timeout: self.fault == Fault::FakeTimeout,
            get_data_fails: self.fault == Fault::GetDataFail,
            bad_auto_fetch: self.fault == Fault::BadAutoFetch,
            part_scan: false,
            quiesce: self.fault == Fault::Quiesce,
            auto_no_zc: self.fault == Fault::AutoNoZc,
            auto_fallback: self.fault == Fault::AutoFallback,
            io_bytes: 4096,
        };
        let tags: Vec<u8> = (0..self.depth).collect();
        let mut actors = Vec::new();
        // (queue, tags) each daemon thread serves
        let threads: Vec<(u8, Vec<u8>)> = if self.queues > 1 {
            (0..self.queues).map(|q| (q, tags.clone())).collect()
        } else if self.per_queue {
            vec![(0, tags.clone())]
        } else {
            tags.iter().map(|&t| (0, vec![t])).collect()
        };
        let collide = matches!(
            self.fault,
            Fault::AutoCollide | Fault::AutoFallback | Fault::AutoNoZc
        );
        // a thread that serves several tags is one strand per tag (its event loop takes the
        // CQEs in the order they come): the thread's first tag here, the others below
        let mut strands = Vec::new();
        for (i, (q, ts)) in threads.iter().enumerate() {
            let mut prog = serving_loop_with(self.data, *q, &ts[..1], collide);
            if self.fault == Fault::NoBufferFetch && i == 0 {
                prog[0] = Op::Fetch {
                    q: *q,
                    tag: ts[0],
                    buf: false,
                };
            }
            actors.push(ActorSpec::Server {
                name: format!("daemon{i}"),
                fixed_file: self.fixed,
                prog,
            });
            strands.extend(more_strands(
                self.data,
                format!("daemon{i}"),
                i,
                *q,
                ts,
                collide,
            ));
        }
        if self.fault == Fault::DoubleFetch {
            // after the daemons and before the offload thread: fault actors name servers
            // by index
            let mut prog = serving_loop(self.data, 0, &[0]);
            for op in prog.iter_mut() {
                if *op == Op::Exit {
                    *op = Op::ThreadExit;
                }
            }
            actors.push(ActorSpec::Server {
                name: "second-fetcher".into(),
                fixed_file: self.fixed,
                prog,
            });
        }
        for k in 0..self.offload {
            actors.push(ActorSpec::Server {
                // the first is `offload`, as before there could be two
                name: if k == 0 {
                    "offload".into()
                } else {
                    format!("offload{k}")
                },
                fixed_file: self.fixed,
                prog: (0..self.queues)
                    .flat_map(|q| offload(self.data, q, &tags))
                    .filter(|op| *op != Op::ThreadExit)
                    .chain([Op::ThreadExit])
                    .collect(),
            });
        }
        if self.recovery != Recovery::None {
            // the recovery server's threads come after every first-process thread
            let first = actors.len();
            for (i, (q, ts)) in threads.iter().enumerate() {
                let name = format!("new-daemon{i}");
                let mut prog = serving_loop_with(self.data, *q, &ts[..1], collide);
                if self.fault == Fault::KillNewFails && i == 0 {
                    // the new server fails too: FETCH, close the ring, exit the process
                    prog.truncate(1);
                    prog.extend([Op::CloseRing, Op::Exit]);
                }
                actors.push(ActorSpec::RecoveryServer {
                    name: name.clone(),
                    fixed_file: self.fixed,
                    prog,
                });
                strands.extend(more_strands(self.data, name, first + i, *q, ts, collide));
            }
        }
        actors.extend(strands);
        for (i, b) in self.bios.iter().enumerate() {
            // bio i on queue i mod queues (one queue: every bio on queue 0)
            let q = i as u8 % self.queues;
            actors.push(ActorSpec::Submitter { q, bios: vec![*b] });
        }
        let resize = self.fault == Fault::Resize;
        let mut ctrl = if resize {
            vec![CtrlOp::UpdateSize, CtrlOp::StartDev, CtrlOp::UpdateSize]
        } else {
            vec![CtrlOp::StartDev]
        };
        if self.stop_first {
            ctrl.insert(0, CtrlOp::StopDev);
        }
        if self.fault == Fault::Quiesce {
            ctrl.push(CtrlOp::QuiesceDev);
        }
        match (self.recovery, self.fault) {
            (Recovery::None, _) => {}
            (_, Fault::KillStartOnce) => {
                ctrl.extend([CtrlOp::StartUserRecoveryOnce, CtrlOp::EndUserRecovery])
            }
            (_, Fault::KillStartTwice) => ctrl.extend([
                CtrlOp::StartUserRecovery,
                CtrlOp::StartUserRecoveryOnce,
                CtrlOp::EndUserRecovery,
            ]),
            _ => ctrl.extend([CtrlOp::StartUserRecovery, CtrlOp::EndUserRecovery]),
        }
        if self.stop {
            ctrl.push(CtrlOp::StopDev);
            if resize {
                ctrl.push(CtrlOp::UpdateSize);
            }
        }
        if self.del {
            ctrl.push(CtrlOp::DelDev);
        }
        actors.push(ActorSpec::Control { prog: ctrl });
        let offload_thread = threads.len() as u8 + u8::from(self.fault == Fault::DoubleFetch);
        match self.fault {
            Fault::None => {}
            Fault::Kill | Fault::KillStartOnce | Fault::KillStartTwice | Fault::KillNewFails => {
                actors.push(ActorSpec::Killer)
            }
            Fault::RingClose => actors.push(ActorSpec::RingClose { server: 0 }),
            Fault::ThreadDeath => actors.push(ActorSpec::ThreadDeath { server: 0 }),
            Fault::OffloadDeath => actors.push(ActorSpec::ThreadDeath {
                server: offload_thread,
            }),
            Fault::Elevator => actors.push(ActorSpec::Elevator),
            Fault::FdHolder => actors.push(ActorSpec::FdHolder),
            Fault::FakeTimeout
            | Fault::GetDataFail
            | Fault::DoubleFetch
            | Fault::NoBufferFetch
            | Fault::BadAutoFetch
            | Fault::Quiesce
            | Fault::Resize
            | Fault::AutoCollide
            | Fault::AutoFallback
            | Fault::AutoNoZc => {}
        }
        Scenario {
            name: self.name(),
            doc: "generated by the configuration sweep (check --scope)".into(),
            dev,
            actors,
        }
    }
}

/// The strands of server thread `thread` (named `name`) for its tags after the first: one
/// serving loop each, so the thread serves its requests in whichever order they come.
fn more_strands(
    data: Data,
    name: String,
    thread: usize,
    q: u8,
    tags: &[u8],
    collide: bool,
) -> Vec<ActorSpec> {
    (tags.iter().skip(1))
        .map(|&t| ActorSpec::Strand {
            name: format!("{name}/t{t}"),
            of: thread as u8,
            prog: serving_loop_with(data, q, &[t], collide),
        })
        .collect()
}

/// A daemon thread serving `tags`: FETCH each, then for each tag in turn wait for a request,
/// serve it (the copy mode's work, COMMIT_AND_FETCH) and wait again, until a wait returns an
/// error (the FETCH was aborted); then the process exits.
///
/// With several tags it waits for them in order (the model's wait names its tag; a real
/// server waits for any CQE): the sweep gives a thread one strand per tag instead
/// (`ActorSpec::Strand`), and uses this with one tag.
pub(crate) fn serving_loop(data: Data, q: u8, tags: &[u8]) -> Vec<Op> {
    serving_loop_with(data, q, tags, false)
}

/// [`serving_loop`]; `collide` (auto-buf-reg): each request's buffer is also REGISTERed by
/// hand at the other tag's index, then UNREGISTERed, before the COMMIT.
fn serving_loop_with(data: Data, q: u8, tags: &[u8], collide: bool) -> Vec<Op> {
    let buf = data == Data::Copy;
    let mut prog: Vec<Op> = tags.iter().map(|&t| Op::Fetch { q, tag: t, buf }).collect();
    for &t in tags {
        let commit = Op::Commit {
            q,
            tag: t,
            result: 4096,
            buf: matches!(data, Data::Copy | Data::CopyNgd),
        };
        let body = match data {
            Data::ZeroCopy => {
                let mut b = zero_copy_io(q, t).to_vec();
                b.push(commit);
                b
            }
            Data::UserCopy => vec![Op::user_copy(q, t), commit],
            // every request is a WRITE (see `shapes`): fetch its data, wait for the copy
            // (6.12 does it in task work), then commit
            Data::CopyNgd => vec![
                Op::NeedGetData { q, tag: t },
                Op::WaitCqe { q, tag: t },
                commit,
            ],
            Data::AutoBufReg if collide => {
                let idx = (t + 1) % 2;
                vec![
                    Op::Register { q, tag: t, idx },
                    Op::Unregister { q, tag: t, idx },
                    commit,
                ]
            }
            Data::Copy | Data::AutoBufReg => vec![commit],
        };
        // wait, Loop→serve, exit, serve: body…, Loop→next, exit (a COMMIT refused — e.g.
        // -EBADF once the ring is closed — ends the server), next: wait, Loop→serve, exit
        let serve = prog.len() as u8 + 3;
        prog.push(Op::WaitCqe { q, tag: t });
        prog.push(Op::Loop { to: serve });
        prog.push(Op::Exit);
        prog.extend(body);
        let next = prog.len() as u8 + 2;
        prog.push(Op::Loop { to: next });
        prog.push(Op::Exit);
        prog.push(Op::WaitCqe { q, tag: t });
        prog.push(Op::Loop { to: serve });
        prog.push(Op::Exit);
    }
    prog
}

/// Zero-copy I/O on tag `t`'s request from the caller's ring: REGISTER at table index `t`,
/// one fixed-buffer I/O, UNREGISTER.
fn zero_copy_io(q: u8, t: u8) -> [Op; 3] {
    [
        Op::Register { q, tag: t, idx: t },
        Op::FixedIo { idx: t },
        Op::Unregister { q, tag: t, idx: t },
    ]
}

/// An offload thread: once, for every tag, touch the request off the daemon (zero copy:
/// REGISTER in its own ring, fixed I/O, UNREGISTER; user copy: a pread/pwrite), then exit.
pub(crate) fn offload(data: Data, q: u8, tags: &[u8]) -> Vec<Op> {
    let mut prog = Vec::new();
    for &t in tags {
        match data {
            Data::ZeroCopy => prog.extend(zero_copy_io(q, t)),
            _ => prog.push(Op::user_copy(q, t)),
        }
    }
    prog.push(Op::ThreadExit);
    prog
}

/// The configuration named `name` (in `s1`, `s2` or `s3`).
pub fn by_name(name: &str) -> Option<Scenario> {
    if !name.starts_with("g-") {
        return None;
    }
    // s3 holds s2 and s1
    shapes(Level::S3)
        .into_iter()
        .find(|s| s.name() == name)
        .map(|s| s.scenario())
}

/// Every configuration of `level`, smallest first, each once.
pub fn configurations(level: Level) -> Vec<Scenario> {
    shapes(level).iter().map(Shape::scenario).collect()
}

/// The shapes of `level`, in a fixed order (smallest first).
pub fn shapes(level: Level) -> Vec<Shape> {
    let mut out = Vec::new();
    // (queues, depth): two queues from s2, two queues of depth 2 in s3
    for (queues, depth) in [(1u8, 1u8), (1, 2), (2, 1), (2, 2)] {
        for per_queue in [false, true] {
            if per_queue && depth == 1 {
                continue; // one tag: a per-queue daemon is a per-io daemon
            }
            // two queues of depth 2 are served as ublksrv serves them, a daemon thread per
            // queue (four per-io daemons would add little the one-queue shapes lack)
            if queues == 2 && depth == 2 && (level < Level::S3 || !per_queue) {
                continue;
            }
            for data in DATA {
                // two queues: s2 only
                if queues > 1 && level == Level::S1 {
                    continue;
                }
                let bios_sets: Vec<Vec<Bio>> = match (queues, depth, data) {
                    // depth 2: two bios on queue 0 (one waits or takes the other tag), one
                    // on queue 1
                    (2, 2, Data::CopyNgd) => vec![vec![Bio::Write, Bio::Write, Bio::Write]],
                    (2, 2, _) => vec![vec![Bio::Read, Bio::Write, Bio::Read]],
                    // one bio per queue
                    (2, _, Data::CopyNgd) => vec![vec![Bio::Write, Bio::Write]],
                    (2, _, _) => vec![vec![Bio::Read, Bio::Write]],
                    // NEED_GET_DATA is what a server does for a WRITE (it reads the
                    // direction from the descriptor; a program here is fixed): writes only
                    (_, 1, Data::CopyNgd) => vec![vec![Bio::Write]],
                    (_, 1, _) => vec![vec![Bio::Read], vec![Bio::Write]],
                    (_, _, Data::CopyNgd) if level == Level::S3 => vec![
                        vec![Bio::Write, Bio::Write],
                        vec![Bio::Write, Bio::Write, Bio::Write],
                    ],
                    (_, _, Data::CopyNgd) => vec![vec![Bio::Write, Bio::Write]],
                    // s3: a third client, who waits for a driver tag
                    _ if level == Level::S3 => vec![
                        vec![Bio::Read, Bio::Write],
                        vec![Bio::Read, Bio::Write, Bio::Read],
                    ],
                    _ => vec![vec![Bio::Read, Bio::Write]],
                };
                for bios in bios_sets {
                    for offload in 0..=2u8 {
                        if offload > 0 && !data.offloads() {
                            continue;
                        }
                        // two offload threads racing for the same requests: s3, one queue
                        // of depth 2
                        if offload == 2 && (level < Level::S3 || depth < 2 || queues > 1) {
                            continue;
                        }
                        for fault in FAULTS {
                            if !fault.fits(data, offload) {
                                continue;
                            }
                            // s1 takes depth 2 only where one tag cannot show it: a second
                            // FETCH of a slot is refused once a depth-1 queue is ready (B-5);
                            // an automatic registration's index collision needs two tags in
                            // one ring (a per-queue daemon), and so do the quirks of one
                            // request while the thread serves the other
                            if level == Level::S1
                                && depth == 2
                                && !(fault == Fault::DoubleFetch && !per_queue && offload == 0)
                                && !(per_queue && fault.two_tags_one_ring())
                            {
                                continue;
                            }
                            for recovery in recoveries(fault) {
                                for (stop, del, stop_first) in CONTROLS {
                                    // DEL_DEV and a failing new server: s2 on (at depth 1
                                    // they would take s1 from 3.5 M to 16 M states on K72)
                                    if level == Level::S1 && (del || fault == Fault::KillNewFails) {
                                        continue;
                                    }
                                    if stop_first && recovery != Recovery::None {
                                        continue;
                                    }
                                    for fixed in fixed_choices(fault, recovery) {
                                        out.push(Shape {
                                            queues,
                                            depth,
                                            data,
                                            recovery,
                                            fixed,
                                            per_queue,
                                            offload,
                                            bios: bios.clone(),
                                            stop,
                                            del,
                                            stop_first,
                                            fault,
                                        });
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The control programs around START_DEV: (STOP_DEV after it, then DEL_DEV; STOP_DEV before
/// it — a device that is ready but was never started, O-14's route).
const CONTROLS: [(bool, bool, bool); 4] = [
    (false, false, false),
    (true, false, false),
    (true, true, false),
    (false, false, true),
];

/// Recovery modes worth trying with a fault: only a dead server starts a recovery.
fn recoveries(f: Fault) -> Vec<Recovery> {
    match f {
        Fault::Kill => vec![
            Recovery::None,
            Recovery::Requeue,
            Recovery::Reissue,
            Recovery::FailIo,
        ],
        // the recovery tool's variants exist only with a recovery to start, and
        // UBLK_F_QUIESCE needs a recovery mode
        Fault::KillStartOnce | Fault::KillStartTwice | Fault::KillNewFails | Fault::Quiesce => {
            vec![Recovery::Requeue, Recovery::Reissue, Recovery::FailIo]
        }
        _ => vec![Recovery::None],
    }
}

/// Whether the rings hold `/dev/ublkcN` as a fixed file matters only when a ring is torn
/// down while the file may be released (B-6, B-8 orderings).
fn fixed_choices(f: Fault, _r: Recovery) -> Vec<bool> {
    match f {
        Fault::Kill | Fault::RingClose | Fault::ThreadDeath | Fault::KillNewFails => {
            vec![true, false]
        }
        _ => vec![true],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use ublk_model::{Model, Preset};

    #[test]
    fn every_configuration_compiles_or_is_not_applicable_and_names_are_unique() {
        for level in [Level::S1, Level::S2] {
            let scs = configurations(level);
            let names: HashSet<_> = scs.iter().map(|s| s.name.clone()).collect();
            assert_eq!(names.len(), scs.len(), "{level:?}: duplicate names");
            for sc in &scs {
                for p in Preset::every() {
                    let f = p.features();
                    if Model::unsupported(sc, f).is_none() {
                        Model::new(sc, f).unwrap_or_else(|e| panic!("{}: {e}", sc.name));
                    }
                }
            }
        }
    }

    /// A per-queue daemon at depth 2 is one thread with a strand per tag, so it serves its
    /// requests in the order they come: with a single program that waits for tag 0 first,
    /// `g-d2-copy-perq-rw-nofault` was an L1 dead end (the request on tag 1 never served);
    /// with strands it passes, exhaustively, liveness included.  And the index collision of
    /// automatic registration, which needs two tags in one ring, is reached: a READ ends with
    /// -EIO (no FALLBACK).
    #[test]
    fn a_per_queue_daemon_serves_requests_in_the_order_they_come() {
        use crate::explore::verdict::{run_scenario, CheckOpts, Verdict};
        let opts = CheckOpts::new(Preset::K72, Preset::K72.features());
        let sc = by_name("g-d2-copy-perq-rw-nofault").unwrap();
        let strands: Vec<(u8, &Vec<Op>)> = (sc.actors.iter())
            .filter_map(|a| match a {
                ActorSpec::Strand { of, prog, .. } => Some((*of, prog)),
                _ => None,
            })
            .collect();
        assert_eq!(strands.len(), 1, "one strand besides the thread's first");
        assert_eq!(strands[0].0, 0);
        assert!(strands[0].1.contains(&Op::Fetch {
            q: 0,
            tag: 1,
            buf: true
        }));
        let r = run_scenario(&sc, &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.findings);
        let sc = by_name("g-d2-abr-perq-rw-autocollide").unwrap();
        let m = Model::new(&sc, Preset::K72.features()).unwrap();
        let seen = crate::explore::bfs::Explorer::new(&m)
            .observe()
            .run()
            .observed;
        assert!(
            seen.iter()
                .any(|(a, _, res)| a.starts_with("submitter") && *res == -5),
            "no READ/WRITE ended with -EIO: {seen:?}"
        );
    }

    /// `s1` has per-queue daemons at depth 2 with the faults of one request and the index
    /// collisions; the faults that end the server stay in `s2`.
    #[test]
    fn s1_has_per_queue_daemons_at_depth_2_without_server_death() {
        let d2q: Vec<Shape> = (shapes(Level::S1).into_iter())
            .filter(|s| s.depth == 2 && s.per_queue)
            .collect();
        assert!(d2q.iter().any(|s| s.fault == Fault::AutoCollide));
        assert!(d2q.iter().any(|s| s.fault == Fault::None));
        assert!(d2q.iter().all(|s| s.fault.two_tags_one_ring()));
        assert!(shapes(Level::S2)
            .iter()
            .any(|s| s.depth == 2 && s.per_queue && s.fault == Fault::Kill));
    }

    /// Two queues are in s2 on: depth 1, a daemon and a submitter per queue (809 shapes: 394
    /// before DEL_DEV, the failing new server and STOP_DEV before START_DEV joined).
    #[test]
    fn two_queue_configurations_have_a_daemon_and_a_bio_per_queue() {
        assert!(shapes(Level::S1).iter().all(|s| s.queues == 1));
        let q2: Vec<Shape> = shapes(Level::S2)
            .into_iter()
            .filter(|s| s.queues == 2)
            .collect();
        assert_eq!(q2.len(), 809);
        for sh in &q2 {
            let sc = sh.scenario();
            assert_eq!((sc.dev.nr_queues, sc.dev.depth), (2, 1));
            let subs: Vec<u8> = sc
                .actors
                .iter()
                .filter_map(|a| match a {
                    ActorSpec::Submitter { q, .. } => Some(*q),
                    _ => None,
                })
                .collect();
            assert_eq!(subs, vec![0, 1], "{}", sc.name);
            for q in 0..2u8 {
                let fetches_q = |a: &ActorSpec| match a {
                    ActorSpec::Server { prog, .. } => prog
                        .iter()
                        .any(|op| matches!(op, Op::Fetch { q: fq, .. } if *fq == q)),
                    _ => false,
                };
                assert!(sc.actors.iter().any(fetches_q), "{}: queue {q}", sc.name);
            }
        }
    }

    #[test]
    fn levels_nest() {
        let s1: HashSet<_> = shapes(Level::S1).into_iter().collect();
        let s2: HashSet<_> = shapes(Level::S2).into_iter().collect();
        let s3: HashSet<_> = shapes(Level::S3).into_iter().collect();
        assert!(s1.is_subset(&s2) && s2.is_subset(&s3));
        assert!(s2.len() > s1.len() && s3.len() > s2.len());
        // s3 adds two offload threads and three clients at depth 2, and two queues of depth 2
        let more: Vec<_> = s3.difference(&s2).collect();
        assert!(more.iter().all(|s| s.depth == 2));
        assert!(more.iter().any(|s| s.offload == 2));
        assert!(more.iter().any(|s| s.bios.len() == 3));
    }

    /// From `s2` on, the control program may end with DEL_DEV after STOP_DEV, and a user
    /// recovery's new server may fail too (FETCH, ring close, exit); `s1` has neither.
    #[test]
    fn s2_deletes_the_device_and_lets_the_new_server_fail() {
        let s1 = shapes(Level::S1);
        assert!(s1.iter().all(|s| !s.del && s.fault != Fault::KillNewFails));
        let s2 = shapes(Level::S2);
        let ctrl = |sh: &Shape| {
            let sc = sh.scenario();
            (sc.actors.iter())
                .find_map(|a| match a {
                    ActorSpec::Control { prog } => Some(prog.clone()),
                    _ => None,
                })
                .unwrap()
        };
        let del: Vec<&Shape> = s2.iter().filter(|s| s.del).collect();
        assert!(del.len() > 300, "{}", del.len());
        for sh in &del {
            assert!(sh.stop && sh.name().contains("-stop-del"), "{}", sh.name());
            assert_eq!(ctrl(sh).last(), Some(&CtrlOp::DelDev), "{}", sh.name());
        }
        let fails: Vec<&Shape> = s2
            .iter()
            .filter(|s| s.fault == Fault::KillNewFails)
            .collect();
        assert!(fails.len() > 100, "{}", fails.len());
        for sh in fails {
            let sc = sh.scenario();
            assert!(sc.actors.contains(&ActorSpec::Killer), "{}", sh.name());
            let new0 = (sc.actors.iter())
                .find_map(|a| match a {
                    ActorSpec::RecoveryServer { name, prog, .. } if name == "new-daemon0" => {
                        Some(prog.clone())
                    }
                    _ => None,
                })
                .unwrap();
            assert!(matches!(new0[0], Op::Fetch { .. }), "{}", sh.name());
            assert_eq!(new0[1..], [Op::CloseRing, Op::Exit], "{}", sh.name());
            assert!(ctrl(sh).contains(&CtrlOp::EndUserRecovery), "{}", sh.name());
        }
    }

    /// `s3` has two queues of depth 2: per queue one daemon thread with a strand per tag,
    /// two bios on queue 0 (the second may take either tag) and one on queue 1; every such
    /// configuration compiles where its preset supports it.
    #[test]
    fn s3_has_two_queues_of_depth_two_with_a_per_queue_daemon_each() {
        assert!(shapes(Level::S2)
            .iter()
            .all(|s| !(s.queues == 2 && s.depth == 2)));
        let q2d2: Vec<Shape> = (shapes(Level::S3).into_iter())
            .filter(|s| s.queues == 2 && s.depth == 2)
            .collect();
        assert!(q2d2.len() > 100, "{}", q2d2.len());
        assert!(q2d2.iter().all(|s| s.per_queue && s.offload < 2));
        assert!(q2d2
            .iter()
            .any(|s| s.fault == Fault::Kill && s.offload == 1));
        for sh in &q2d2 {
            let sc = sh.scenario();
            assert_eq!((sc.dev.nr_queues, sc.dev.depth), (2, 2));
            let subs: Vec<u8> = (sc.actors.iter())
                .filter_map(|a| match a {
                    ActorSpec::Submitter { q, .. } => Some(*q),
                    _ => None,
                })
                .collect();
            assert_eq!(subs, vec![0, 1, 0], "{}", sc.name);
            // a strand serves each (queue, tag) of the first server
            for q in 0..2u8 {
                for tag in 0..2u8 {
                    let serves = |a: &ActorSpec| match a {
                        ActorSpec::Server { prog, .. } | ActorSpec::Strand { prog, .. } => {
                            prog.iter().any(|op| {
                                matches!(op, Op::Fetch { q: fq, tag: ft, .. }
                                    if (*fq, *ft) == (q, tag))
                            })
                        }
                        _ => false,
                    };
                    assert!(sc.actors.iter().any(serves), "{}: q{q} t{tag}", sc.name);
                }
            }
            for p in Preset::every() {
                let f = p.features();
                if Model::unsupported(&sc, f).is_none() {
                    let m = Model::new(&sc, f).unwrap_or_else(|e| panic!("{}: {e}", sc.name));
                    assert!(m.any_tag, "{}: strands serve any tag", sc.name);
                }
            }
        }
    }
}
