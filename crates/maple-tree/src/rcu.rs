//! Grace periods: the one place that names the reclaimer.
//!
//! The tree uses [`crossbeam_epoch`]'s global collector as its RCU:
//! - a reader pins the current epoch ([`pin`]) for as long as it holds references into the tree,
//!   like `rcu_read_lock()`;
//! - a writer that unlinks a node or a value defers its destruction ([`defer`]), like
//!   `call_rcu()`; the collector runs it once every thread pinned at the time has unpinned.
//!
//! Swapping the reclaimer means rewriting this file only.

use crossbeam_epoch as epoch;

pub(crate) use epoch::Guard;

/// Pins the current thread: nothing retired from now on is freed before the guard drops.
#[inline]
pub(crate) fn pin() -> Guard {
    epoch::pin()
}

/// A guard for a writer that has the tree to itself (`&mut`), so no reader can exist.
///
/// Nothing is ever deferred on this guard: exclusive writers recycle nodes directly.
#[inline]
pub(crate) fn exclusive() -> &'static Guard {
    // SAFETY: `unprotected` is sound when no other thread can access the data concurrently. The
    // caller holds `&mut` to the tree, so no reader or other writer exists; and the tree never
    // defers through this guard (which would run the destructor at once).
    unsafe { epoch::unprotected() }
}

/// Runs `f` once no thread that is pinned now can still be reading what `f` frees.
#[inline]
pub(crate) fn defer<F: FnOnce() + Send + 'static>(guard: &Guard, f: F) {
    guard.defer(f);
}

/// Pushes this thread's deferred work to the collector and tries to run what is due.
///
/// Tests call this in a loop to drain reclamation before counting live nodes and values.
pub(crate) fn flush() {
    epoch::pin().flush();
}
