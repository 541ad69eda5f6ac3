//! The explorer's search tree: which states were seen and how each was first reached.
//!
//! Two forms. The default keeps, per state, its 128-bit fingerprint and its parent's index
//! (20 bytes), plus an index table over the fingerprints (a `u32` and a control byte per
//! bucket) — about 30 bytes a state in all, where a set of fingerprints beside a list of
//! (parent, move) links took 40. The move that led to a state is not stored: a path is
//! rebuilt by re-expanding each state on it and finding the successor with the stored
//! fingerprint (a few hundred steps for a counterexample, against one link per state for
//! the whole run). The linked form keeps the move beside the parent and, for the state
//! graph or the exact mode, the [`Visited`] set with its indices.

use super::store::{fingerprint_packed, pack, Scratch, Visited};
use super::symmetry::Symmetry;
use hashbrown::HashTable;
use ublk_model::{Model, Move, Outcome, State};

/// Values in chunks of a fixed size: a growing `Vec` doubles and can leave almost half its
/// capacity unused, which would be most of the bytes a state costs.
pub struct Chunked<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

const CHUNK: usize = 1 << 14;

impl<T: Copy> Chunked<T> {
    pub fn new() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
    pub fn push(&mut self, v: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks.last_mut().expect("a chunk").push(v);
        self.len += 1;
    }
    pub fn get(&self, i: usize) -> T {
        self.chunks[i / CHUNK][i % CHUNK]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Bytes held, by capacity.
    pub fn bytes(&self) -> u64 {
        (self.chunks.len() * CHUNK * std::mem::size_of::<T>()
            + self.chunks.capacity() * std::mem::size_of::<Vec<T>>()) as u64
    }
}

impl<T: Copy> Default for Chunked<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// [`Tree::probe`]: the state is new and the tree holds its limit already.
#[derive(Debug)]
pub struct Full;

/// The search tree (see the module doc).
pub enum Tree {
    Compact {
        fps: Chunked<u128>,
        parent: Chunked<u32>,
        index: HashTable<u32>,
    },
    Linked {
        visited: Visited,
        parent: Vec<(u32, Move)>,
    },
}

impl Tree {
    /// The compact form unless the caller needs the index of every state seen before
    /// (`indexed`: the state graph) or whole states (`exact`).
    pub fn new(exact: bool, indexed: bool) -> Self {
        if exact || indexed {
            Tree::Linked {
                visited: Visited::new(exact),
                parent: Vec::new(),
            }
        } else {
            Tree::Compact {
                fps: Chunked::new(),
                parent: Chunked::new(),
                index: HashTable::new(),
            }
        }
    }

    /// States recorded.
    pub fn len(&self) -> usize {
        match self {
            Tree::Compact { parent, .. } => parent.len(),
            Tree::Linked { parent, .. } => parent.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Was the packed state seen before? `Some(its index)`; else it is recorded as the next
    /// state, reached from `from` by `mv`, and the answer is `None`
    /// — or [`Full`] when `limit` states are recorded already.
    pub fn probe(
        &mut self,
        packed: &[u8],
        from: u32,
        mv: Move,
        limit: u64,
    ) -> Result<Option<u32>, Full> {
        let full = self.len() as u64 >= limit;
        Ok(match self {
            Tree::Compact { fps, parent, index } => {
                let fp = fingerprint_packed(packed);
                let id = parent.len() as u32;
                let fps_ro = &*fps;
                match index.entry(
                    fp as u64,
                    |&i| fps_ro.get(i as usize) == fp,
                    |&i| fps_ro.get(i as usize) as u64,
                ) {
                    hashbrown::hash_table::Entry::Occupied(e) => Some(*e.get()),
                    hashbrown::hash_table::Entry::Vacant(_) if full => return Err(Full),
                    hashbrown::hash_table::Entry::Vacant(e) => {
                        e.insert(id);
                        fps.push(fp);
                        parent.push(from);
                        None
                    }
                }
            }
            Tree::Linked { visited, parent } => {
                let seen = visited.probe(packed, parent.len() as u32);
                if seen.is_none() {
                    if full {
                        return Err(Full);
                    }
                    parent.push((from, mv));
                }
                seen
            }
        })
    }

    /// The parent links with their moves, when kept (the linked form).
    pub fn links(self) -> Vec<(u32, Move)> {
        match self {
            Tree::Linked { parent, .. } => parent,
            Tree::Compact { .. } => Vec::new(),
        }
    }

    /// (bytes of the visited set, bytes of the parent links), by capacity.
    pub fn bytes(&self) -> (u64, u64) {
        match self {
            Tree::Compact { fps, parent, index } => {
                // hashbrown keeps capacity ≥ 7/8 of its buckets, each with a control byte
                let table = (index.capacity() * 8 / 7) as u64 * (4 + 1);
                (fps.bytes() + table, parent.bytes())
            }
            Tree::Linked { visited, parent } => (
                visited.bytes(),
                (parent.len() * std::mem::size_of::<(u32, Move)>()) as u64,
            ),
        }
    }

    /// The moves from `start` (state 0) to state `idx`. `step` is the explorer's own step
    /// (with or without the invariants), so re-expanding a state gives the successors the
    /// search saw; `sym`, the symmetry reduction it fingerprinted states under.
    pub fn path(
        &self,
        idx: u32,
        m: &Model,
        start: &State,
        step: impl Fn(&Model, &mut State, Move) -> bool,
        sym: Option<&Symmetry>,
    ) -> Vec<Move> {
        match self {
            Tree::Linked { parent, .. } => path_in(parent, idx),
            Tree::Compact { fps, parent, .. } => {
                let mut ids = Vec::new();
                let mut at = idx;
                while at != 0 {
                    ids.push(at);
                    at = parent.get(at as usize);
                }
                ids.reverse();
                let mut s = start.clone();
                let (mut scratch, mut canon) = (Scratch::default(), Scratch::default());
                let mut path = Vec::with_capacity(ids.len());
                for id in ids {
                    let want = fps.get(id as usize);
                    let next = m.moves(&s).find_map(|mv| {
                        let mut n = s.clone();
                        (step(m, &mut n, mv)
                            && fingerprint_packed(Symmetry::stored_key(
                                sym,
                                &n,
                                pack(&n, &mut scratch),
                                &mut canon,
                            )) == want)
                            .then_some((mv, n))
                    });
                    let (mv, n) = next.expect("a state's parent has a move to it");
                    path.push(mv);
                    s = n;
                }
                path
            }
        }
    }
}

/// The moves that lead from state 0 to state `idx` in a tree of (parent, move) links.
pub fn path_in(parent: &[(u32, Move)], idx: u32) -> Vec<Move> {
    let mut path = Vec::new();
    let mut at = idx;
    while at != 0 {
        let (p, act) = parent[at as usize];
        path.push(act);
        at = p;
    }
    path.reverse();
    path
}

/// The explorer's step for [`Tree::path`]: did `mv` step (not blocked, no violation)?
pub fn stepped(invariants: bool) -> impl Fn(&Model, &mut State, Move) -> bool {
    move |m, s, mv| {
        let r = if invariants {
            m.apply_enabled(s, mv)
        } else {
            m.step_enabled(s, mv)
        };
        matches!(r, Ok(Outcome::Stepped(_)))
    }
}
