//! Symmetry reduction: interchangeable submitters.
//!
//! Two submitters with the same hardware queue and the same bios are the same program; a
//! state and the state with their places swapped (their actor states exchanged, and every
//! reference to one — a request's `owner`, the holder of `ub->mutex` or `cancel_mutex` —
//! renamed to the other) have the same futures up to the same swap, and every property the
//! explorer checks (S1–S12, the goals, a violation's [`Signature`], which masks numbers and
//! names no actor) holds in both or in neither.  So the explorer may store one state per
//! such pair: it fingerprints the *canonical* member of the state's orbit (each group's
//! actors sorted by their own state and what they hold) while it keeps, expands and reports
//! the state it really reached — every path it prints is a real schedule, replayable as it
//! stands.
//!
//! Safety only: the liveness pass needs the state graph itself (a cycle of the reduced
//! graph may end in a swapped copy of its start), so it runs without this reduction
//! (`check --symmetry` asks for `--no-liveness`).
//!
//! Why submitters only: in the model's scenarios tags, server threads and rings differ in
//! their programs (a per-io daemon serves one tag, an offload thread registers given
//! tags), and request indices are chosen by a fixed rule from the free tags — so no
//! two of them are interchangeable as they stand.
//!
//! [`Signature`]: crate::explore::signature::Signature

use crate::explore::packing::actor_key;
use crate::explore::store::{pack, Scratch};
use smallvec::SmallVec;
use ublk_model::state::ActorId;
use ublk_model::{Kind, Model, State};

/// The groups of interchangeable actors of a model.
#[derive(Clone, Debug, Default)]
pub struct Symmetry {
    /// Each group's actors, ascending; only groups of two or more.
    groups: Vec<Vec<ActorId>>,
}

type Key = ([u8; 32], SmallVec<[u8; 4]>, bool, bool);

impl Symmetry {
    /// The submitters of `m` grouped by (queue, bios).
    pub fn of(m: &Model) -> Symmetry {
        let mut groups: Vec<Vec<ActorId>> = Vec::new();
        let mut kinds: Vec<&Kind> = Vec::new();
        for (a, d) in m.actors.iter().enumerate() {
            if !matches!(d.kind, Kind::Submitter { .. }) {
                continue;
            }
            match kinds.iter().position(|k| **k == d.kind) {
                Some(i) => groups[i].push(a as ActorId),
                None => {
                    kinds.push(&d.kind);
                    groups.push(vec![a as ActorId]);
                }
            }
        }
        groups.retain(|g| g.len() > 1);
        Symmetry { groups }
    }

    /// No two actors are interchangeable: the reduction changes nothing.
    pub fn is_trivial(&self) -> bool {
        self.groups.is_empty()
    }

    /// What the reduction uses, for reports: e.g. `symmetry: 2 submitters`.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self.groups.iter().map(|g| g.len().to_string()).collect();
        format!("symmetry: {} interchangeable submitters", sizes.join("+"))
    }

    /// What sorts actor `a` within its group: its own state, the requests it owns, and
    /// whether it holds `ub->mutex` / `cancel_mutex`.  Equal keys of two actors of a group
    /// mean swapping them leaves the state as it is (a request has one owner, a mutex one
    /// holder, so both own none and hold neither).
    fn key(s: &State, a: ActorId) -> Key {
        let owned = (s.reqs.iter().enumerate())
            .filter(|(_, r)| r.owner == Some(a))
            .map(|(i, _)| i as u8)
            .collect();
        (
            actor_key(&s.actors[a as usize]),
            owned,
            s.dev.mutex == Some(a),
            s.dev.cancel_mutex == Some(a),
        )
    }

    /// The bytes state `s` (packed as `packed`) is stored under: its canonical member's
    /// packing (in `canon`) under `sym`, else `packed` itself.
    pub fn stored_key<'a>(
        sym: Option<&Symmetry>,
        s: &State,
        packed: &'a [u8],
        canon: &'a mut Scratch,
    ) -> &'a [u8] {
        match sym.and_then(|y| y.canonical(s)) {
            Some(c) => pack(&c, canon),
            None => packed,
        }
    }

    /// The canonical member of `s`'s orbit, or `None` when `s` is it.
    pub fn canonical(&self, s: &State) -> Option<State> {
        let mut out: Option<State> = None;
        for g in &self.groups {
            let keys: SmallVec<[Key; 4]> = g.iter().map(|&a| Self::key(s, a)).collect();
            let mut order: SmallVec<[usize; 4]> = (0..g.len()).collect();
            order.sort_by(|&i, &j| keys[i].cmp(&keys[j]));
            if order.iter().enumerate().all(|(i, &j)| i == j) {
                continue;
            }
            // the actor at place order[i] moves to place i
            let c = out.get_or_insert_with(|| s.clone());
            let rename = |x: ActorId| -> ActorId {
                match g.iter().position(|&a| a == x) {
                    Some(p) => g[order.iter().position(|&o| o == p).expect("a permutation")],
                    None => x,
                }
            };
            // groups are disjoint: this group's actors are as in `s`, and renaming what
            // `c` holds now keeps what an earlier group renamed
            for (i, &j) in order.iter().enumerate() {
                c.actors[g[i] as usize] = s.actors[g[j] as usize];
            }
            for r in c.reqs.iter_mut() {
                r.owner = r.owner.map(rename);
            }
            c.dev.mutex = c.dev.mutex.map(rename);
            c.dev.cancel_mutex = c.dev.cancel_mutex.map(rename);
        }
        out
    }
}
