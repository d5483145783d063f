//! The synchronisation primitives the tree uses: from `std`; under `--cfg maple_loom` from
//! loom, so that the model checker sees every atomic access of the node layer and the pool;
//! without `std`, core's atomics, alloc's `Arc` and a spin lock.
//!
//! Every other module names atomics, mutexes and `Arc` through here. The mutex ignores
//! poisoning: the pool it guards is consistent at every panic point (a write reserves its nodes
//! before it changes anything).

#[cfg(not(maple_loom))]
pub(crate) use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
#[cfg(maple_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(maple_loom))]
pub(crate) use alloc::sync::Arc;
#[cfg(maple_loom)]
pub(crate) use loom::sync::Arc;

#[cfg(all(feature = "std", not(maple_loom)))]
use std::sync as os;

#[cfg(maple_loom)]
use loom::sync as os;

#[cfg(any(feature = "std", maple_loom))]
use std::sync::PoisonError;

/// A mutex that ignores poisoning.
#[cfg(any(feature = "std", maple_loom))]
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(os::Mutex<T>);

#[cfg(any(feature = "std", maple_loom))]
pub(crate) type MutexGuard<'a, T> = os::MutexGuard<'a, T>;

#[cfg(any(feature = "std", maple_loom))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(os::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.0.get_mut().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(not(any(feature = "std", maple_loom)))]
pub(crate) use crate::node::spin::SpinMutex as Mutex;
