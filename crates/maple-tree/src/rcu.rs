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

/// What a reader holds: a pinned guard. Nothing retired from now on is freed before it drops.
#[cfg(feature = "std")]
pub(crate) type Pin = Guard;

/// Without `std` there is no RCU mode: every writer holds the tree exclusively (`&mut`), so no
/// reader can run beside one, and a reader needs no pin.
#[cfg(not(feature = "std"))]
#[derive(Debug)]
pub(crate) struct Pin;

/// Pins the current thread: nothing retired from now on is freed before the pin drops.
#[inline]
pub(crate) fn pin() -> Pin {
    #[cfg(feature = "std")]
    {
        epoch::pin()
    }
    #[cfg(not(feature = "std"))]
    {
        Pin
    }
}

/// The guard a pin stands for.
#[inline]
pub(crate) fn guard_of(pin: &Pin) -> &Guard {
    #[cfg(feature = "std")]
    {
        pin
    }
    #[cfg(not(feature = "std"))]
    {
        let Pin = pin;
        exclusive()
    }
}

/// A guard for a writer that has the tree to itself (`&mut`), so no reader can exist, and for
/// the readers of an [`OwnedTree`](crate::OwnedTree) (`&` to it), beside which no writer can
/// exist.
///
/// Nothing is ever deferred on this guard: exclusive writers recycle nodes directly.
#[inline]
pub(crate) fn exclusive() -> &'static Guard {
    // SAFETY: `unprotected` is sound when nothing read through the guard can be freed while it
    // is in use. The caller holds either `&mut` to the tree, so no reader or other writer
    // exists, or `&` to an `OwnedTree`, whose only writer needs `&mut` to it and which never
    // lends out the tree it wraps: then any number of readers may run, but no write, and a
    // node or value is freed only by a write or by dropping the tree. An `OwnedTree` also keeps
    // node handles made with this guard between calls (its finger); it empties them before any
    // write that could free a node (`exclusive`, a store through `EntryMut` that does not stay
    // in place in the finger's leaf, a drop), so they name nodes of the tree whenever read. The
    // tree never defers through this guard (which would run the destructor at once).
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
#[cfg(feature = "std")]
pub(crate) fn flush() {
    epoch::pin().flush();
}
