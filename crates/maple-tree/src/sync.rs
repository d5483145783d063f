//! The synchronisation primitives the tree uses, from `std` or, under `--cfg maple_loom`, from
//! loom, so that the model checker sees every atomic access of the node layer and the pool.
//!
//! Every other module names atomics, mutexes and `Arc` through here.

#[cfg(not(maple_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(not(maple_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

#[cfg(maple_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
#[cfg(maple_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
