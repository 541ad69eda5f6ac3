//! The kernel's free choices in a sequential run, and programs that follow them.
//!
//! blk-mq hands a request any free driver tag; the model leaves that to a choice
//! ([`Model::tag_alternatives`]). The oracle takes the tag blk-mq's sbitmap gives in a
//! sequential run ([`Sbitmap`]) unless told otherwise ([`Chooser::forced`]). Before a program goes to the kernel, [`followable`] checks every
//! combination of choices: with the program's later steps relabelled to the tag the request
//! really got ([`ublk_program::Program::relabel`], what the executor does when it sees the
//! kernel choose), each combination must predict exactly the relabelled program. A program
//! for which that fails is not sent (the generator makes another).

use crate::conform::compile::{compile_with, ModelProgram};
use ublk_model::state::{ActorId, Resume};
use ublk_model::{
    ActorSpec, Features, Kind, Model, Move, Op, Outcome, State, Violation, PID_REAPED,
};
use ublk_program::{show_expect, Program};

/// One point of a run where the kernel chose a driver tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChoicePoint {
    /// The action (index into the program's order) in or after which the choice was made.
    pub pos: Option<usize>,
    pub q: u8,
    /// The tag each alternative gives; alternative 0 is the one blk-mq's sbitmap gives in a
    /// sequential run ([`Sbitmap`]).
    pub tags: Vec<u8>,
    /// Per actor, the first operation not yet started when the action at `pos` ended: the
    /// operations a relabel renames.
    pub boundary: Vec<u16>,
}

/// The driver-tag sbitmap of one hw queue as blk-mq keeps it (lib/sbitmap.c, 6.12 and 7.2):
/// with fewer than 4 tags every tag is in one word (`sbitmap_calculate_shift` spreads 4 or more
/// over several words, one picked by a per-CPU hint), and without `BLK_MQ_F_TAG_RR` a search
/// starts at bit 0 (`__sbitmap_get` drops the per-CPU hint inside the word), so a request
/// gets the lowest bit not set in `word`. A freed tag is not cleared in `word` at once: it
/// goes to `cleared` (`sbitmap_deferred_clear_bit`), which is folded back only when `word`
/// is full (`sbitmap_deferred_clear`). On depth 2 that makes the second request take tag 1
/// although tag 0 is free again: requests alternate between the tags.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Sbitmap {
    word: u32,
    cleared: u32,
}

impl Sbitmap {
    /// The tag the kernel gives the next request, among `free` (the tags no request holds).
    fn pick(&self, depth: u8, free: u32) -> Option<u8> {
        let full = (1u32 << depth) - 1;
        let z = !self.word & full & free;
        let z = if z != 0 {
            z
        } else {
            !(self.word & !self.cleared) & full & free
        };
        (z != 0).then(|| z.trailing_zeros() as u8)
    }

    fn alloc(&mut self, tag: u8) {
        let bit = 1 << tag;
        if self.word & bit != 0 {
            // only reachable once the word was full and the cleared bits were folded back
            self.word &= !self.cleared;
            self.cleared = 0;
        }
        self.word |= bit;
    }

    fn free(&mut self, tag: u8) {
        self.cleared |= 1 << tag;
    }
}

/// Applies moves with the alternatives `forced` (the j-th choice point takes `forced[j]`;
/// after the end, the tag blk-mq's sbitmap gives, see [`Sbitmap`]) and records every choice
/// point.
#[derive(Clone, Default, Debug)]
pub struct Chooser {
    forced: Vec<u8>,
    pub points: Vec<ChoicePoint>,
    pos: Option<usize>,
    open: usize,
    /// Per hw queue: the shadow sbitmap and the tags held by a request after the last step.
    tags: Vec<(Sbitmap, u32)>,
}

/// The driver tags held by a request, per hw queue.
fn held(m: &Model, s: &State) -> Vec<u32> {
    let mut h = vec![0u32; m.dev.nr_queues as usize];
    for r in &s.reqs {
        if let (true, Some(t)) = (r.allocated, r.tag) {
            if let Some(w) = h.get_mut(r.q as usize) {
                *w |= 1 << t;
            }
        }
    }
    h
}

impl Chooser {
    pub fn forced(forced: &[u8]) -> Self {
        Chooser {
            forced: forced.to_vec(),
            ..Chooser::default()
        }
    }

    /// `m.apply` of actor `a`'s next step, with the alternative this choice point is given.
    pub fn apply(&mut self, m: &Model, s: &mut State, a: ActorId) -> Result<Outcome, Violation> {
        if self.tags.is_empty() {
            self.tags = held(m, s)
                .into_iter()
                .map(|h| (Sbitmap::default(), h))
                .collect();
        }
        let mut choice = 0;
        if m.pid_check_open(s, a).is_some() {
            // a sequential run's control reaps a dead server at once (the executor waits for
            // it), so START_DEV / END_USER_RECOVERY name a pid that no longer resolves
            choice = PID_REAPED;
        }
        if let Some((q, order)) = m.tag_alternatives(s, a) {
            // alternative 0 is the kernel's own pick (the others follow in the model's order)
            let mut tags = order.clone();
            let (bm, held) = self.tags[q as usize];
            let free = tags.iter().fold(0u32, |f, &t| f | 1 << t) & !held;
            if let Some(k) = bm
                .pick(m.dev.depth, free)
                .and_then(|t| tags.iter().position(|&x| x == t))
            {
                tags.swap(0, k);
            }
            let j = self.points.len();
            let alt = self
                .forced
                .get(j)
                .copied()
                .unwrap_or(0)
                .min(tags.len() as u8 - 1);
            let want = tags[alt as usize];
            choice = order.iter().position(|&t| t == want).unwrap_or(0) as u8;
            self.points.push(ChoicePoint {
                pos: self.pos,
                q,
                tags,
                boundary: vec![],
            });
        }
        let out = m.apply(s, Move { actor: a, choice });
        for (q, now) in held(m, s).into_iter().enumerate() {
            let (bm, before) = &mut self.tags[q];
            for t in 0..m.dev.depth {
                let bit = 1 << t;
                if now & bit != 0 && *before & bit == 0 {
                    bm.alloc(t);
                } else if now & bit == 0 && *before & bit != 0 {
                    bm.free(t);
                }
            }
            *before = now;
        }
        out
    }

    /// What of the chooser shapes the rest of a run: the shadow sbitmap and held tags of each
    /// hw queue (two runs in one model state with equal keys go on alike).
    pub fn shadow_key(&self) -> Vec<(u32, u32, u32)> {
        self.tags
            .iter()
            .map(|(b, h)| (b.word, b.cleared, *h))
            .collect()
    }

    /// The next action of the program starts (its index in the order).
    pub fn start_action(&mut self, pos: usize) {
        self.pos = Some(pos);
    }

    /// The current action (and the settle after it) ended: record the boundary of the
    /// choice points it made.
    pub fn end_action(&mut self, m: &Model, s: &State) {
        let boundary: Vec<u16> = (0..m.actors.len())
            .map(|a| {
                let st = &s.actors[a];
                let started =
                    matches!(m.actors[a].kind, Kind::Server { .. }) && st.at != Resume::Idle;
                st.next_op as u16 + started as u16
            })
            .collect();
        for p in &mut self.points[self.open..] {
            p.boundary = boundary.clone();
        }
        self.open = self.points.len();
    }
}

/// Rename tags `t` and `u` of hw queue `q` in every server operation at or after its actor's
/// `boundary` (server actors are numbered first, in scenario order).
fn swap_ops(mp: &ModelProgram, boundary: &[u16], q: u8, t: u8, u: u8) -> ModelProgram {
    let mut mp = mp.clone();
    // server threads as `Model::new` numbers them (the first process's, then the recovery's)
    for (a, i) in crate::conform::compile::actor_specs(&mp.scenario)
        .into_iter()
        .enumerate()
    {
        let (ActorSpec::Server { prog, .. } | ActorSpec::RecoveryServer { prog, .. }) =
            &mut mp.scenario.actors[i]
        else {
            break;
        };
        let from = boundary.get(a).copied().unwrap_or(0) as usize;
        for op in prog.iter_mut().skip(from) {
            op.swap_tag(q, t, u);
        }
    }
    mp
}

/// `mp` written for the model's second alternative at its first tag choice (the request on
/// another tag than the sbitmap's pick; later choices the sbitmap's), if it has a choice
/// with another tag: the `--contrary-tags` test hook, which makes the executor follow the
/// kernel back on every such program.
pub fn contrary(mp: &ModelProgram, feat: Features) -> Option<Program> {
    let (_, points) = compile_with(mp, feat, &[]).ok()?;
    let pt = points.first()?;
    let u = *pt.tags.get(1)?;
    let swapped = swap_ops(mp, &pt.boundary, pt.q, pt.tags[0], u);
    let (c, _) = compile_with(&swapped, feat, &[1]).ok()?;
    Some(c.program)
}

/// At most this many choice points in a program the generator sends (2^n runs to check).
const MAX_POINTS: usize = 6;

/// Does every combination of tag choices in `mp` predict the program the executor would run
/// after following the kernel (the default program relabelled at each choice)? `Err` says
/// which choice breaks it.
pub fn followable(mp: &ModelProgram, feat: Features) -> Result<(), String> {
    let (base, points) = compile_with(mp, feat, &[])?;
    if points.len() > MAX_POINTS {
        return Err(format!(
            "{} tag choices (at most {MAX_POINTS})",
            points.len()
        ));
    }
    check(mp, feat, vec![], base.program, points)
}

fn check(
    mp: &ModelProgram,
    feat: Features,
    forced: Vec<u8>,
    expected: Program,
    points: Vec<ChoicePoint>,
) -> Result<(), String> {
    let j = forced.len();
    let Some(pt) = points.get(j) else {
        return Ok(());
    };
    let mut dflt = forced.clone();
    dflt.push(0);
    check(mp, feat, dflt, expected.clone(), points.clone())?;
    for alt in 1..pt.tags.len() {
        let (t, u) = (pt.tags[0], pt.tags[alt]);
        if t == u {
            continue; // another scheduler request on the same tag
        }
        let Some(i) = pt.pos else {
            return Err("a tag chosen before the first action".into());
        };
        let pair = expected.follow_pairs(i).into_iter().find(|&(x, y)| {
            expected.steps[x].act.tag() == Some(t as u16)
                && expected.steps[y].act.tag() == Some(u as u16)
        });
        let Some((x, y)) = pair else {
            return Err(format!(
                "step {i}: the request may get tag {u} instead of {t}, which no queued \
                 command of the thread expecting it would show"
            ));
        };
        let mut relabelled = expected.clone();
        relabelled.relabel(i, x, y);
        let swapped = swap_ops(mp, &pt.boundary, pt.q, t, u);
        let mut f = forced.clone();
        f.push(alt as u8);
        let (c, pts) = compile_with(&swapped, feat, &f)?;
        if let Some(k) = (0..relabelled.steps.len().max(c.program.steps.len()))
            .find(|&k| relabelled.steps.get(k) != c.program.steps.get(k))
        {
            return Err(format!(
                "step {i}: with tag {u} instead of {t} the model predicts another program \
                 from step {k} on ({})",
                c.program
                    .steps
                    .get(k)
                    .map(|s| format!("{} {}", s.act.name(), show_expect(&s.expect)))
                    .unwrap_or_else(|| "fewer steps".into())
            ));
        }
        check(&swapped, feat, f, relabelled, pts)?;
    }
    Ok(())
}

/// Rename tags `t` and `u` of queue `q` in one operation.
trait SwapTag {
    fn swap_tag(&mut self, q: u8, t: u8, u: u8);
}

impl SwapTag for Op {
    fn swap_tag(&mut self, q0: u8, t: u8, u: u8) {
        let (q, tag) = match self {
            Op::Fetch { q, tag, .. }
            | Op::WaitCqe { q, tag }
            | Op::Commit { q, tag, .. }
            | Op::Register { q, tag, .. }
            | Op::Unregister { q, tag, .. }
            | Op::NeedGetData { q, tag }
            | Op::BadType { q, tag }
            | Op::UserCopy { q, tag, .. } => (*q, tag),
            _ => return,
        };
        if q != q0 {
            return;
        }
        if *tag == t {
            *tag = u;
        } else if *tag == u {
            *tag = t;
        }
    }
}
