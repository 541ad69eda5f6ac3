//! What the explorer keeps per state: a packed encoding (for hashing and for the frontier),
//! a visited set of 128-bit fingerprints or of whole packed states, and a frontier of
//! packed states. The rich [`State`] exists only while a state is expanded.
//!
//! Why packed: a `State` is a tree of small vectors (about 1.3 KiB in memory with its
//! inline capacity); its state vector ([`crate::explore::packing`]: bit fields, bytes,
//! lengths) is a tenth of that, so the frontier of a breadth-first search — which can
//! hold a tenth of all states at once — costs little, and hashing reads few bytes.

use crate::explore::packing;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use ublk_model::State;

/// Buffers [`pack`] reuses from call to call.
#[derive(Default)]
pub struct Scratch {
    serial: Vec<u8>,
}

/// The packed form of `s`: its state vector ([`crate::explore::packing`]). Injective, so
/// equal packings mean equal states; [`unpack`] gives back an equal state (tested on
/// every reachable state of every built-in scenario).
pub fn pack<'a>(s: &State, scratch: &'a mut Scratch) -> &'a [u8] {
    packing::pack(s, &mut scratch.serial)
}

/// The state `bytes` encode (from [`pack`]).
pub fn unpack(bytes: &[u8]) -> State {
    packing::unpack(bytes)
}

/// A 128-bit fingerprint of a packed state (xxh3-128). The visited set keeps
/// fingerprints, not states, so two states that collide would be merged (hash
/// compaction); with a real 128-bit hash the chance that any two of n states collide is
/// below n²/2¹²⁹ — under 10⁻²⁴ for 10⁷ states. (The first fingerprint, two FxHash runs,
/// was affine in its input, so a collision of one was a collision of both: effectively
/// 64 bits.)
pub fn fingerprint_packed(bytes: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// The fingerprint of a state: [`fingerprint_packed`] of its [`pack`]ing.
pub fn fingerprint(s: &State) -> u128 {
    thread_local! {
        static BUF: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
    }
    BUF.with_borrow_mut(|b| fingerprint_packed(pack(s, b)))
}

/// The probability bound that exploring `states` distinct states merged two of them.
pub fn omission_bound(states: u64) -> f64 {
    let n = states as f64;
    n * n / 2f64.powi(129)
}

/// A fingerprint is already a uniform hash: the table uses its low 64 bits as they are
/// instead of hashing it again.
#[derive(Default)]
pub struct FpHasher(u64);

impl Hasher for FpHasher {
    fn write(&mut self, bytes: &[u8]) {
        // a u128 key arrives as its 16 native-endian bytes
        let mut w = [0u8; 8];
        let n = bytes.len().min(8);
        w[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_ne_bytes(w);
    }
    fn write_u128(&mut self, i: u128) {
        self.0 ^= i as u64;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FpBuild = BuildHasherDefault<FpHasher>;

/// The visited set where the caller keeps the state graph (edges need the index of a
/// state seen before; the default search keeps its compact [`crate::explore::tree::Tree`]
/// instead). Fingerprints (hash compaction): 16 bytes a state and its index. Exact: the
/// whole packed state, so no two states can be merged (for small configurations and to
/// test the fingerprints).
pub enum Visited {
    IndexedFingerprints(HashMap<u128, u32, FpBuild>),
    Exact(HashMap<Box<[u8]>, u32, rustc_hash::FxBuildHasher>),
}

impl Visited {
    /// Bytes the set holds (its table: entries and control bytes, by capacity).
    pub fn bytes(&self) -> u64 {
        let (cap, entry) = match self {
            Visited::IndexedFingerprints(m) => (m.capacity(), 32),
            // the key's box and its bytes are counted by the packed length below
            Visited::Exact(m) => (m.capacity(), 24),
        };
        let boxed: usize = match self {
            Visited::Exact(m) => m.keys().map(|k| k.len()).sum(),
            _ => 0,
        };
        // hashbrown keeps capacity ≥ 7/8 of its buckets, each with one control byte
        ((cap * 8 / 7) * (entry + 1) + boxed) as u64
    }
    pub fn new(exact: bool) -> Self {
        if exact {
            Visited::Exact(HashMap::default())
        } else {
            Visited::IndexedFingerprints(HashMap::default())
        }
    }
    /// Was the packed state seen before? If not, it is recorded as state `id`. The
    /// answer is `Some(index)`, or `None` for a new state.
    pub fn probe(&mut self, packed: &[u8], id: u32) -> Option<u32> {
        use std::collections::hash_map::Entry;
        match self {
            Visited::IndexedFingerprints(m) => match m.entry(fingerprint_packed(packed)) {
                Entry::Occupied(e) => Some(*e.get()),
                Entry::Vacant(e) => {
                    e.insert(id);
                    None
                }
            },
            Visited::Exact(m) => match m.get(packed) {
                Some(&i) => Some(i),
                None => {
                    m.insert(packed.into(), id);
                    None
                }
            },
        }
    }
}

/// States waiting to be expanded, packed. Breadth-first: two arenas, the level being
/// expanded (read front to back) and the next one (appended to); when the first is used
/// up they swap, so the frontier never holds more than two levels and no consumed bytes.
/// Depth-first: one arena used as a stack. Each entry carries the state's index and
/// depth, so no per-state depth table is kept.
#[derive(Default)]
pub struct Frontier {
    /// Breadth-first: the level being expanded and the read position in it.
    now: Level,
    at: usize,
    /// The next level (breadth-first), or the stack (depth-first).
    next: Level,
}

#[derive(Default)]
struct Level {
    bytes: Vec<u8>,
    /// (state index, depth, end offset in `bytes`).
    items: Vec<(u32, u32, u32)>,
}

impl Level {
    fn span(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 {
            0
        } else {
            self.items[i - 1].2 as usize
        };
        start..self.items[i].2 as usize
    }
    fn bytes(&self) -> u64 {
        (self.bytes.capacity() + self.items.capacity() * 12) as u64
    }
}

impl Frontier {
    /// Bytes the frontier holds now (its arenas and entries, by capacity).
    pub fn bytes(&self) -> u64 {
        self.now.bytes() + self.next.bytes()
    }
    pub fn push(&mut self, id: u32, depth: u32, packed: &[u8]) {
        self.next.bytes.extend_from_slice(packed);
        let end = u32::try_from(self.next.bytes.len()).expect("a frontier level under 4 GiB");
        self.next.items.push((id, depth, end));
    }
    /// The next state to expand: (index, depth, the state).
    pub fn pop(&mut self, breadth_first: bool) -> Option<(u32, u32, State)> {
        if !breadth_first {
            let i = self.next.items.len().checked_sub(1)?;
            let span = self.next.span(i);
            let (id, d, _) = self.next.items.pop()?;
            let s = unpack(&self.next.bytes[span.clone()]);
            self.next.bytes.truncate(span.start);
            return Some((id, d, s));
        }
        if self.at == self.now.items.len() {
            if self.next.items.is_empty() {
                return None;
            }
            std::mem::swap(&mut self.now, &mut self.next);
            self.next.bytes.clear();
            self.next.items.clear();
            self.at = 0;
        }
        let (id, d, _) = self.now.items[self.at];
        let s = unpack(&self.now.bytes[self.now.span(self.at)]);
        self.at += 1;
        Some((id, d, s))
    }
}
