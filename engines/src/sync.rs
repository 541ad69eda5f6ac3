//! The sync shim the refcount harness is written against: loom's
//! primitives under `--cfg loom`, shuttle's with the `shuttle` feature,
//! std's otherwise (as loom's and shuttle's docs suggest).
//!
//! `UnsafeCell` has loom's closure API everywhere; under loom every access
//! is checked for a data race (an access not ordered by happens-before
//! with a conflicting one), elsewhere it is a plain cell.

#[cfg(loom)]
pub use loom::{
    cell::UnsafeCell,
    sync::atomic::{fence, AtomicBool, AtomicU32, Ordering},
    thread,
};

#[cfg(all(not(loom), feature = "shuttle"))]
pub use shuttle::{
    sync::atomic::{fence, AtomicBool, AtomicU32, Ordering},
    thread,
};

#[cfg(all(not(loom), not(feature = "shuttle")))]
pub use std::{
    sync::atomic::{fence, AtomicBool, AtomicU32, Ordering},
    thread,
};

/// A plain (non-atomic) field with loom's `UnsafeCell` API.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub fn new(v: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
