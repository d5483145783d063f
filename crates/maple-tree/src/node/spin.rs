//! A spin lock, for builds without `std` (an OS kernel, a hypervisor), where the tree's pool
//! still needs mutual exclusion to be `Sync` but no OS lock exists. Without `std` there is no
//! RCU mode, so the lock is never contended by the tree itself: only a writer holding the tree
//! exclusively and readers asking for statistics take it.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// A value behind a spin lock.
#[derive(Debug, Default)]
pub(crate) struct SpinMutex<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to the value to one holder at a time (`lock` takes the flag
// with Acquire, the guard releases it with Release), so sharing the mutex between threads only
// moves the value's use between them: `T: Send` is what that needs, as for `std::sync::Mutex`.
unsafe impl<T: Send> Sync for SpinMutex<T> {}

impl<T> SpinMutex<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock and takes it.
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        // ORDERING: Acquire pairs with the Release store in `SpinGuard::drop`: the previous
        // holder's writes to the value are visible to the next.
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        SpinGuard { mutex: self }
    }

    /// The value, through exclusive access to the mutex (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// Holds a [`SpinMutex`] locked; releases it when dropped.
#[derive(Debug)]
pub(crate) struct SpinGuard<'a, T> {
    mutex: &'a SpinMutex<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock, so no other
        // reference to the value exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference through the guard.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        // ORDERING: Release pairs with the Acquire in `SpinMutex::lock`.
        self.mutex.locked.store(false, Ordering::Release);
    }
}
