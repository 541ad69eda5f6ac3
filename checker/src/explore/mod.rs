//! Exploration strategies and what they conclude: one strategy per file (breadth-/depth-first
//! [`bfs`], hangs on the explored graph [`liveness`], loom and shuttle [`engines`], shrinking of
//! simulator counterexamples [`shrink`]), the verdict of a scenario ([`verdict`]), the findings
//! catalogue ([`findings`]) and the known findings drawn from it ([`known`]), and the state views
//! the reports print ([`describe`], [`projection`]).

pub mod bfs;
pub mod catalogue;
pub mod confirm;
pub mod describe;
pub mod engines;
pub mod findings;
pub mod known;
pub mod liveness;
pub mod packing;
pub mod projection;
pub mod reasons;
pub mod replay;
pub mod shrink;
pub mod signature;
pub mod store;
pub mod sweep;
pub mod sweep_file;
pub mod symmetry;
pub mod timely;
pub mod tree;
pub mod verdict;
