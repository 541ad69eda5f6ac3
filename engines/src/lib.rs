//! # ublk-engines
//!
//! * [`step`]: the step model under loom and shuttle — each actor of a
//!   scenario a real (loom/shuttle) thread executing `Model::apply` on the
//!   shared state (`ublksim check --engine loom|shuttle-*`);
//! * [`refcount`]: the refcount fast paths at the level of atomics, run
//!   under loom (`RUSTFLAGS="--cfg loom" cargo test -p ublk-engines --release`);
//! * [`bounded_dfs`]: a preemption-bounded exhaustive shuttle scheduler
//!   (`--engine shuttle-dfs`);
//! * [`inclusion`]: every harness execution must be a run of the step model.

pub mod bounded_dfs;
pub mod inclusion;
pub mod layout;
pub mod refcount;
pub mod step;
pub mod sync;

#[cfg(test)]
mod tests;
