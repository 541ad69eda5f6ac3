//! The state vector: a fixed-layout byte encoding of a [`State`], written and read by hand
//! field by field — the form the explorer hashes (fingerprints), queues (the frontier) and
//! sends between timely workers.
//!
//! Why by hand: postcard over serde (its predecessor) walked the state through serde's
//! visitor machinery, a call per field and a varint per integer, and cost about 40 % of the
//! explorer's time between packing and unpacking.  Here each struct is a few bytes in a
//! fixed order: the booleans of a struct share one bit-field byte (or word), counts and ids
//! are bytes, refcounts and results their four little-endian bytes, an `Option<u8>` one
//! byte, each small vector its length and then its elements.
//!
//! Why it cannot merge two states: every struct is taken apart with an exhaustive pattern
//! (no `..`), so a field added to the model does not compile until it is packed here, and
//! every enum with an exhaustive `match`; [`unpack`] inverts [`pack`] (tested on every state
//! reachable in every built-in scenario on every preset), so no two states pack alike.

use ublk_model::state::*;
use ublk_model::State;

/// The packing of `s`, written into `buf` (grown when too short for it, never shrunk:
/// the explorer packs every state through one buffer).
pub fn pack<'a>(s: &State, buf: &'a mut Vec<u8>) -> &'a [u8] {
    let need = bound(s);
    if buf.len() < need {
        buf.resize(need, 0);
    }
    let mut w = W {
        b: &mut buf[..],
        at: 0,
    };
    w.state(s);
    let n = w.at;
    &buf[..n]
}

/// An upper bound of the packing's length: no element of a state vector packs to more
/// than 32 bytes (a slot, the largest, packs to 23), an inner vector's element to more
/// than 2, a length to more than 5.  Writing into a slice of this length needs no
/// capacity check per byte (they were a third of the packing's time).
fn bound(s: &State) -> usize {
    let inner: usize = s
        .rings
        .iter()
        .map(|r| r.table.len() + r.fixed_ops.len() + 10)
        .sum::<usize>()
        + s.tasks.iter().map(|t| t.tw.len() + 5).sum::<usize>()
        + s.dev.requeue.len()
        + s.dev.requeue_run.len();
    let outer = s.queues.len()
        + s.slots.len()
        + s.tags_rqs.len()
        + s.reqs.len()
        + s.cmds.len()
        + s.rings.len()
        + s.nodes.len()
        + s.tasks.len()
        + s.actors.len();
    128 + 32 * outer + 2 * inner
}

impl W<'_> {
    fn state(&mut self, s: &State) {
        let State {
            dev,
            queues,
            slots,
            tags_rqs,
            reqs,
            cmds,
            rings,
            nodes,
            tasks,
            actors,
        } = s;
        self.dev(dev);
        self.seq(queues, W::queue);
        self.seq(slots, W::slot);
        self.seq(tags_rqs, |w, &t| w.opt(t));
        self.seq(reqs, W::req);
        self.seq(cmds, W::cmd);
        self.seq(rings, W::ring);
        self.seq(nodes, W::node);
        self.seq(tasks, W::task);
        self.seq(actors, W::actor);
    }
}

/// The state `bytes` encode (from [`pack`]).  Only ever given the explorer's own
/// packings: a malformed one is a bug here, hence the panic.
pub fn unpack(bytes: &[u8]) -> State {
    let mut r = R { b: bytes, at: 0 };
    let dev = r.dev();
    let queues = r.vec(R::queue);
    let slots = r.vec(R::slot);
    let tags_rqs = r.vec(R::opt);
    let reqs = r.vec(R::req);
    let cmds = r.vec(R::cmd);
    let rings = r.vec(R::ring);
    let nodes = r.vec(R::node);
    let tasks = r.vec(R::task);
    let actors = r.vec(R::actor);
    assert_eq!(r.at, bytes.len(), "a packed state has no trailing bytes");
    State {
        dev,
        queues,
        slots,
        tags_rqs,
        reqs,
        cmds,
        rings,
        nodes,
        tasks,
        actors,
    }
}

/// Booleans into one bit field, first argument in bit 0.
fn bits(b: &[bool]) -> u32 {
    b.iter()
        .enumerate()
        .fold(0, |acc, (i, &x)| acc | (u32::from(x) << i))
}

fn bit(f: u32, i: u32) -> bool {
    f & (1 << i) != 0
}

/// Writes into a slice [`bound`] made long enough.
struct W<'a> {
    b: &'a mut [u8],
    at: usize,
}

impl W<'_> {
    #[inline]
    fn u8(&mut self, v: u8) {
        self.b[self.at] = v;
        self.at += 1;
    }
    #[inline]
    fn bytes(&mut self, v: &[u8]) {
        self.b[self.at..self.at + v.len()].copy_from_slice(v);
        self.at += v.len();
    }
    #[inline]
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    #[inline]
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    #[inline]
    fn i32(&mut self, v: i32) {
        self.u32(v as u32);
    }
    #[inline]
    fn bool(&mut self, v: bool) {
        self.u8(v.into());
    }
    /// `None` is 0, `Some(v)` is `v + 1` up to 253; 255 escapes a larger value (prefix-free,
    /// so still injective).
    #[inline]
    fn opt(&mut self, v: Option<u8>) {
        match v {
            None => self.u8(0),
            Some(v) if v < 254 => self.u8(v + 1),
            Some(v) => {
                self.u8(255);
                self.u8(v)
            }
        }
    }
    /// A vector: its length, then each element.
    #[inline]
    fn seq<T>(&mut self, v: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.len(v.len());
        for x in v {
            f(self, x);
        }
    }
    /// A vector's length: one byte below 255, else 255 and four bytes.
    #[inline]
    fn len(&mut self, n: usize) {
        match u8::try_from(n) {
            Ok(b) if b < 255 => self.u8(b),
            _ => {
                self.u8(255);
                self.u32(u32::try_from(n).expect("a state vector under 2^32 elements"))
            }
        }
    }
    fn dev(&mut self, d: &Dev) {
        let Dev {
            state,
            used,
            disk_removed,
            has_disk,
            disk_dying,
            file_refs,
            open,
            recovering,
            new_server_open,
            recovery_tried,
            ublksrv_tgid,
            reaped,
            completion_done,
            g_recovered,
            canceling,
            nr_io_ready,
            mutex,
            cancel_mutex,
            quiesced,
            in_dispatch,
            frozen,
            requeue,
            requeue_run,
            release_pending,
            sched_pool,
            fake_timeout_used,
            g_stopped_unstarted,
            get_data_fail_used,
            bad_auto_used,
            stop_work,
            quiesce_work,
            part_scan,
        } = d;
        self.u8(match state {
            DevState::Dead => 0,
            DevState::Live => 1,
            DevState::Quiesced => 2,
            DevState::FailIo => 3,
        });
        self.u32(bits(&[
            *used,
            *disk_removed,
            *has_disk,
            *disk_dying,
            *open,
            *recovering,
            *new_server_open,
            *recovery_tried,
            *completion_done,
            *g_recovered,
            *canceling,
            *frozen,
            *release_pending,
            *fake_timeout_used,
            *g_stopped_unstarted,
            *get_data_fail_used,
            *bad_auto_used,
            *stop_work,
            *quiesce_work,
            *part_scan,
        ]));
        self.u8(*file_refs);
        self.opt(*ublksrv_tgid);
        self.u8(*reaped);
        self.u8(*nr_io_ready);
        self.opt(*mutex);
        self.opt(*cancel_mutex);
        self.u8(*quiesced);
        self.u8(*in_dispatch);
        self.len(requeue.len());
        self.bytes(requeue);
        self.len(requeue_run.len());
        self.bytes(requeue_run);
        self.u8(*sched_pool);
    }
    fn queue(&mut self, q: &Queue) {
        let Queue {
            nr_io_ready,
            canceling,
            force_abort,
            fail_io,
            daemon,
        } = q;
        self.u8(*nr_io_ready);
        self.u8(bits(&[*canceling, *force_abort, *fail_io]) as u8);
        self.opt(*daemon);
    }
    fn cell(&mut self, c: Cell) {
        match c {
            Cell::None => self.u8(0),
            Cell::Cmd(i) => {
                self.u8(1);
                self.u8(i)
            }
            Cell::Req(i) => {
                self.u8(2);
                self.u8(i)
            }
        }
    }
    fn slot(&mut self, x: &Slot) {
        let Slot {
            flags,
            cell,
            task,
            refcnt,
            trb,
            res,
            buf_ctx,
            g_round,
            g_out,
            g_aborted,
        } = x;
        self.u8(*flags);
        self.cell(*cell);
        self.opt(*task);
        self.u32(*refcnt);
        self.u32(*trb);
        self.i32(*res);
        self.opt(*buf_ctx);
        self.opt(*g_round);
        self.u8(*g_out);
        self.bool(*g_aborted);
    }
    fn req(&mut self, r: &Req) {
        let Req {
            alive,
            allocated,
            started,
            q,
            tag,
            write,
            bytes,
            pdu_ref,
            round,
            ended,
            res,
            owner,
            g_hold,
            g_out,
        } = r;
        self.u8(bits(&[*alive, *allocated, *started, *write, *g_hold]) as u8);
        self.u8(*q);
        self.opt(*tag);
        self.u16(*bytes);
        self.u32(*pdu_ref);
        self.u8(*round);
        self.u8(*ended);
        self.i32(*res);
        self.opt(*owner);
        self.u8(*g_out);
    }
    fn cmd(&mut self, c: &Cmd) {
        let Cmd {
            st,
            cancelable,
            pdu_rq,
            g_claimed,
        } = c;
        let flags = bits(&[*cancelable, *g_claimed]) as u8;
        match st {
            CmdSt::NotIssued => self.u8(flags),
            CmdSt::Pending => self.u8(flags | 4),
            CmdSt::Done(res) => {
                self.u8(flags | 8);
                self.i32(*res)
            }
        }
        self.opt(*pdu_rq);
    }
    fn ring(&mut self, r: &Ring) {
        let Ring {
            table,
            fixed_ops,
            exiting,
            freed,
        } = r;
        self.seq(table, |w, &e| w.opt(e));
        self.len(fixed_ops.len());
        self.bytes(fixed_ops);
        self.u8(bits(&[*exiting, *freed]) as u8);
    }
    fn node(&mut self, n: &Option<Node>) {
        match n {
            None => self.u8(0),
            Some(Node {
                rq,
                round,
                slot,
                ring,
                refs,
            }) => {
                self.u8(1);
                self.bytes(&[*rq, *round, *slot, *ring, *refs]);
            }
        }
    }
    fn task(&mut self, t: &Task) {
        let Task { exiting, tw } = t;
        self.bool(*exiting);
        self.seq(tw, |w, e| match e {
            Tw::Dispatch(c) => w.u8(*c),
        });
    }
    fn cancel_at(&mut self, at: CancelAt) {
        self.u8(match at {
            CancelAt::StartCancelQuiesce => 0,
            CancelAt::CheckActive => 1,
            CancelAt::Claim => 2,
            CancelAt::Complete => 3,
        })
    }
    fn resume(&mut self, at: &Resume) {
        match *at {
            Resume::Idle => self.u8(0),
            Resume::Fetch => self.u8(1),
            Resume::CheckAndGetReq(g) => {
                self.u8(2);
                self.u8(match g {
                    GetReqAt::RefInc => 0,
                    GetReqAt::StartedCheck => 1,
                    GetReqAt::Finish => 2,
                })
            }
            Resume::QueueRq => self.u8(3),
            Resume::QueueCmd => self.u8(4),
            Resume::BioWait => self.u8(5),
            Resume::CancelFn(c) => {
                self.u8(6);
                self.cancel_at(c)
            }
            Resume::AbortRequests612 => self.u8(7),
            Resume::CancelCmd612 { at, need_schedule } => {
                self.u8(8);
                self.cancel_at(at);
                self.bool(need_schedule)
            }
            Resume::ReleaseMutex => self.u8(9),
            Resume::ReleaseDelGendisk => self.u8(10),
            Resume::ReleaseReset => self.u8(11),
            Resume::StopDev(sd) => {
                self.u8(12);
                match sd {
                    StopDevAt::ForceAbort => self.u8(0),
                    StopDevAt::QuiesceDev612 => self.u8(1),
                    StopDevAt::DelGendisk => self.u8(2),
                    StopDevAt::CancelDev { slot, at } => {
                        self.u8(3);
                        self.u8(slot);
                        self.cancel_at(at)
                    }
                    StopDevAt::CancelWorkSync612 => self.u8(4),
                }
            }
            Resume::ElevatorFrozen => self.u8(13),
            Resume::QuiesceDev(q) => {
                self.u8(14);
                self.u8(match q {
                    QuiesceAt::CancelMutex => 0,
                    QuiesceAt::Quiesce => 1,
                    QuiesceAt::IdleWait => 2,
                })
            }
            Resume::StartDevPartScan => self.u8(15),
        }
    }
    fn actor(&mut self, a: &ActorSt) {
        let ActorSt {
            next_op,
            at,
            rq,
            round,
            cancel_cursor,
            claimed_cmd,
            file_dropped,
            nosrv_work,
            res,
            done,
        } = a;
        self.u8(*next_op);
        self.resume(at);
        self.opt(*rq);
        self.u8(*round);
        self.u8(*cancel_cursor);
        self.u8(*claimed_cmd);
        self.u8(bits(&[*file_dropped, *done]) as u8);
        self.u8(*nosrv_work);
        self.i32(*res);
    }
}

struct R<'a> {
    b: &'a [u8],
    at: usize,
}

impl R<'_> {
    #[inline]
    fn u8(&mut self) -> u8 {
        let v = self.b[self.at];
        self.at += 1;
        v
    }
    #[inline]
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let v: [u8; N] = self.b[self.at..self.at + N].try_into().expect("N bytes");
        self.at += N;
        v
    }
    #[inline]
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    #[inline]
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    #[inline]
    fn i32(&mut self) -> i32 {
        self.u32() as i32
    }
    #[inline]
    fn bool(&mut self) -> bool {
        match self.u8() {
            0 => false,
            1 => true,
            b => panic!("packed bool {b}"),
        }
    }
    #[inline]
    fn opt(&mut self) -> Option<u8> {
        match self.u8() {
            0 => None,
            255 => Some(self.u8()),
            b => Some(b - 1),
        }
    }
    #[inline]
    fn len(&mut self) -> usize {
        match self.u8() {
            255 => self.u32() as usize,
            b => b as usize,
        }
    }
    fn vec<T, const N: usize>(&mut self, mut f: impl FnMut(&mut Self) -> T) -> Small<T, N>
    where
        [T; N]: smallvec::Array<Item = T>,
    {
        let n = self.len();
        let mut v = Small::with_capacity(n);
        for _ in 0..n {
            v.push(f(self));
        }
        v
    }
    fn bytes<const N: usize>(&mut self) -> Small<u8, N>
    where
        [u8; N]: smallvec::Array<Item = u8>,
    {
        let n = self.len();
        let v = Small::from_slice(&self.b[self.at..self.at + n]);
        self.at += n;
        v
    }
    fn dev(&mut self) -> Dev {
        let state = match self.u8() {
            0 => DevState::Dead,
            1 => DevState::Live,
            2 => DevState::Quiesced,
            3 => DevState::FailIo,
            b => panic!("packed DevState {b}"),
        };
        let f = self.u32();
        Dev {
            state,
            used: bit(f, 0),
            disk_removed: bit(f, 1),
            has_disk: bit(f, 2),
            disk_dying: bit(f, 3),
            open: bit(f, 4),
            recovering: bit(f, 5),
            new_server_open: bit(f, 6),
            recovery_tried: bit(f, 7),
            completion_done: bit(f, 8),
            g_recovered: bit(f, 9),
            canceling: bit(f, 10),
            frozen: bit(f, 11),
            release_pending: bit(f, 12),
            fake_timeout_used: bit(f, 13),
            g_stopped_unstarted: bit(f, 14),
            get_data_fail_used: bit(f, 15),
            bad_auto_used: bit(f, 16),
            stop_work: bit(f, 17),
            quiesce_work: bit(f, 18),
            part_scan: bit(f, 19),
            file_refs: self.u8(),
            ublksrv_tgid: self.opt(),
            reaped: self.u8(),
            nr_io_ready: self.u8(),
            mutex: self.opt(),
            cancel_mutex: self.opt(),
            quiesced: self.u8(),
            in_dispatch: self.u8(),
            requeue: self.bytes(),
            requeue_run: self.bytes(),
            sched_pool: self.u8(),
        }
    }
    fn queue(&mut self) -> Queue {
        let nr_io_ready = self.u8();
        let f = u32::from(self.u8());
        Queue {
            nr_io_ready,
            canceling: bit(f, 0),
            force_abort: bit(f, 1),
            fail_io: bit(f, 2),
            daemon: self.opt(),
        }
    }
    fn cell(&mut self) -> Cell {
        match self.u8() {
            0 => Cell::None,
            1 => Cell::Cmd(self.u8()),
            2 => Cell::Req(self.u8()),
            b => panic!("packed Cell {b}"),
        }
    }
    fn slot(&mut self) -> Slot {
        Slot {
            flags: self.u8(),
            cell: self.cell(),
            task: self.opt(),
            refcnt: self.u32(),
            trb: self.u32(),
            res: self.i32(),
            buf_ctx: self.opt(),
            g_round: self.opt(),
            g_out: self.u8(),
            g_aborted: self.bool(),
        }
    }
    fn req(&mut self) -> Req {
        let f = u32::from(self.u8());
        Req {
            alive: bit(f, 0),
            allocated: bit(f, 1),
            started: bit(f, 2),
            write: bit(f, 3),
            g_hold: bit(f, 4),
            q: self.u8(),
            tag: self.opt(),
            bytes: self.u16(),
            pdu_ref: self.u32(),
            round: self.u8(),
            ended: self.u8(),
            res: self.i32(),
            owner: self.opt(),
            g_out: self.u8(),
        }
    }
    fn cmd(&mut self) -> Cmd {
        let f = self.u8();
        let st = match f & 12 {
            0 => CmdSt::NotIssued,
            4 => CmdSt::Pending,
            8 => CmdSt::Done(self.i32()),
            _ => panic!("packed CmdSt {f}"),
        };
        Cmd {
            st,
            cancelable: bit(f.into(), 0),
            g_claimed: bit(f.into(), 1),
            pdu_rq: self.opt(),
        }
    }
    fn ring(&mut self) -> Ring {
        let table = self.vec(R::opt);
        let fixed_ops = self.bytes();
        let f = u32::from(self.u8());
        Ring {
            table,
            fixed_ops,
            exiting: bit(f, 0),
            freed: bit(f, 1),
        }
    }
    fn node(&mut self) -> Option<Node> {
        match self.u8() {
            0 => None,
            1 => {
                let [rq, round, slot, ring, refs] = self.take();
                Some(Node {
                    rq,
                    round,
                    slot,
                    ring,
                    refs,
                })
            }
            b => panic!("packed Option<Node> {b}"),
        }
    }
    fn task(&mut self) -> Task {
        let exiting = self.bool();
        let tw = self.vec(|r| Tw::Dispatch(r.u8()));
        Task { exiting, tw }
    }
    fn cancel_at(&mut self) -> CancelAt {
        match self.u8() {
            0 => CancelAt::StartCancelQuiesce,
            1 => CancelAt::CheckActive,
            2 => CancelAt::Claim,
            3 => CancelAt::Complete,
            b => panic!("packed CancelAt {b}"),
        }
    }
    fn resume(&mut self) -> Resume {
        match self.u8() {
            0 => Resume::Idle,
            1 => Resume::Fetch,
            2 => Resume::CheckAndGetReq(match self.u8() {
                0 => GetReqAt::RefInc,
                1 => GetReqAt::StartedCheck,
                2 => GetReqAt::Finish,
                b => panic!("packed GetReqAt {b}"),
            }),
            3 => Resume::QueueRq,
            4 => Resume::QueueCmd,
            5 => Resume::BioWait,
            6 => Resume::CancelFn(self.cancel_at()),
            7 => Resume::AbortRequests612,
            8 => Resume::CancelCmd612 {
                at: self.cancel_at(),
                need_schedule: self.bool(),
            },
            9 => Resume::ReleaseMutex,
            10 => Resume::ReleaseDelGendisk,
            11 => Resume::ReleaseReset,
            12 => Resume::StopDev(match self.u8() {
                0 => StopDevAt::ForceAbort,
                1 => StopDevAt::QuiesceDev612,
                2 => StopDevAt::DelGendisk,
                3 => StopDevAt::CancelDev {
                    slot: self.u8(),
                    at: self.cancel_at(),
                },
                4 => StopDevAt::CancelWorkSync612,
                b => panic!("packed StopDevAt {b}"),
            }),
            13 => Resume::ElevatorFrozen,
            14 => Resume::QuiesceDev(match self.u8() {
                0 => QuiesceAt::CancelMutex,
                1 => QuiesceAt::Quiesce,
                2 => QuiesceAt::IdleWait,
                b => panic!("packed QuiesceAt {b}"),
            }),
            15 => Resume::StartDevPartScan,
            b => panic!("packed Resume {b}"),
        }
    }
    fn actor(&mut self) -> ActorSt {
        let next_op = self.u8();
        let at = self.resume();
        let rq = self.opt();
        let round = self.u8();
        let cancel_cursor = self.u8();
        let claimed_cmd = self.u8();
        let f = u32::from(self.u8());
        ActorSt {
            next_op,
            at,
            rq,
            round,
            cancel_cursor,
            claimed_cmd,
            file_dropped: bit(f, 0),
            done: bit(f, 1),
            nosrv_work: self.u8(),
            res: self.i32(),
        }
    }
}

/// An actor's packing, zero-filled to a fixed length: a sort key for
/// [`crate::explore::symmetry`].  Equal keys mean equal actor states (the packing is
/// prefix-free, so no two pad to the same bytes).
pub fn actor_key(a: &ActorSt) -> [u8; 32] {
    let mut k = [0u8; 32];
    let mut w = W { b: &mut k, at: 0 };
    w.actor(a);
    k
}
