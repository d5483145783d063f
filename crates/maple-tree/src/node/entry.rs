//! Values: what a leaf slot holds, and how the tree owns, lends, clones and drops it.
//!
//! A slot is one machine word, as in the kernel. A value type says how it turns into a non-zero
//! word and back ([`Entry`]); the word 0 means "empty". Owned pointers (`Box`, `Arc`) are stored
//! as their pointer, small integers as `(v << 1) | 1` (the kernel's `xa_mk_value`).
//!
//! # Invariant
//!
//! - V1. Every non-zero leaf slot word of the live tree owns exactly one value, except while a
//!   write operation runs: a word the operation removed is owned by that operation's
//!   disposal list until it is dropped (at once in exclusive mode, after a grace period in RCU
//!   mode). A word is cloned before it is stored in a second slot.
//!
//! The helpers below are safe to call from the write paths because those paths uphold V1; the
//! drop-counting tests check that every value is dropped exactly once.

use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;

/// A value that fits in one tree slot.
///
/// The tree stores each value as one non-zero machine word, which keeps every node at 256 bytes
/// with atomic slots that concurrent readers can load. Implementations exist for owned pointers
/// ([`Box`], [`Arc`]), shared references with a `'static` lifetime, non-zero integers, and
/// integers of up to 32 bits. A value of another type goes in a `Box` or an `Arc`.
///
/// Readers borrow a value as [`Entry::Ref`]: `&U` for `Box<U>` and `Arc<U>`, the integer itself for
/// integers.
///
/// # Safety
///
/// - `into_raw` returns a word that is never 0.
/// - `from_raw(into_raw(v))` gives back `v`, and `borrow_raw` on that word gives a view of `v`
///   that stays valid, while the word is not turned back into `Self`, for any lifetime the caller
///   picks; the tree picks the lifetime of the guard under which it read the word.
/// - `borrow_raw` and `clone_raw` run on many threads at once, on the same word: every reader of
///   the tree borrows the values it finds, concurrently with the other readers and with the
///   writer, which clones a value when a store cuts its entry in two. They must therefore only
///   read through the word (shared access), never take or change what it owns, and the views
///   they return are used on those threads ([`Entry::Ref`] is `Send + Sync`). The word is turned
///   back into `Self` (`from_raw`) only once no borrow of it can be in use: after a grace period
///   in RCU mode, or by a writer that holds the tree exclusively.
/// - If making a `Self` from a word asserts unique access to what the word owns (the type holds
///   a `Box`), `clone_raw` is overridden so that it clones through shared access.
///
/// # Examples
///
/// ```
/// use maple_tree::MapleTree;
/// use std::sync::Arc;
///
/// let tree: MapleTree<Arc<String>> = MapleTree::new();
/// tree.insert_range(0x1000..=0x1fff, Arc::new(String::from("text"))).unwrap();
/// let guard = tree.read();
/// assert_eq!(guard.get(0x1234).map(String::as_str), Some("text"));
/// ```
///
/// A view that cannot be shared between threads is rejected, since readers on several threads
/// hold views of one value at once:
///
/// ```compile_fail,E0277
/// use core::cell::Cell;
/// use core::num::NonZeroUsize;
///
/// struct Counter(Box<Cell<u64>>);
///
/// unsafe impl maple_tree::Entry for Counter {
///     type Ref<'a> = &'a Cell<u64>; // `Cell` is not `Sync`
///     fn into_raw(self) -> NonZeroUsize {
///         NonZeroUsize::new(Box::into_raw(self.0).expose_provenance()).unwrap()
///     }
///     unsafe fn from_raw(raw: NonZeroUsize) -> Self {
///         Counter(unsafe { Box::from_raw(core::ptr::with_exposed_provenance_mut(raw.get())) })
///     }
///     unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> &'a Cell<u64> {
///         unsafe { &*core::ptr::with_exposed_provenance(raw.get()) }
///     }
/// }
/// ```
///
/// Linux: the Rust binding's `ForeignOwnable`; `xa_mk_value()` for integers.
#[doc(alias = "ForeignOwnable")]
#[doc(alias = "xa_mk_value")]
pub unsafe trait Entry: Send + 'static {
    /// How a reader sees a stored value. Readers on several threads hold views of one value at
    /// once, so a view can be shared and sent between threads.
    type Ref<'a>: Copy + Send + Sync
    where
        Self: 'a;

    /// Turns the value into its slot word.
    fn into_raw(self) -> NonZeroUsize;

    /// Turns a slot word back into the value.
    ///
    /// # Safety
    ///
    /// `raw` came from [`Entry::into_raw`] and has not been turned back since.
    unsafe fn from_raw(raw: NonZeroUsize) -> Self;

    /// Borrows the value behind a slot word.
    ///
    /// # Safety
    ///
    /// `raw` came from [`Entry::into_raw`], and is not turned back into `Self` during `'a`.
    unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> Self::Ref<'a>;

    /// Clones the value behind a slot word, leaving the word its owner.
    ///
    /// Readers may hold views of the value meanwhile ([`Entry::borrow_raw`]), so the clone must
    /// go through shared access only. The provided implementation clones a temporary `Self`
    /// made from the word and never dropped; that suits values that own no unique pointer (an
    /// integer, an `Arc`, a `'static` reference), but a type holding a `Box` must override it,
    /// since making a second `Box` asserts unique access to what readers are looking at.
    ///
    /// # Safety
    ///
    /// As for [`Entry::borrow_raw`]: `raw` came from [`Entry::into_raw`] and is not turned back
    /// during the call.
    unsafe fn clone_raw(raw: NonZeroUsize) -> Self
    where
        Self: Clone,
    {
        // SAFETY: the caller passes a live word; `ManuallyDrop` keeps its ownership with the
        // word. An implementor whose values assert unique access overrides this method (the
        // trait's contract), so the temporary `Self` disturbs no reader.
        let original = ManuallyDrop::new(unsafe { Self::from_raw(raw) });
        Self::clone(&original)
    }
}

// SAFETY: `Box::into_raw` never returns null, `from_raw` reverses it, and the box's allocation
// stays put until it is turned back, so the shared reference lives as long as the caller says.
unsafe impl<U: Send + Sync + 'static> Entry for Box<U> {
    type Ref<'a> = &'a U;

    fn into_raw(self) -> NonZeroUsize {
        let addr = Box::into_raw(self).expose_provenance();
        NonZeroUsize::new(addr).unwrap_or_else(|| unreachable!("Box pointers are never null"))
    }

    unsafe fn from_raw(raw: NonZeroUsize) -> Self {
        // SAFETY: the caller passes a word made by `into_raw`, which exposed a Box's provenance.
        unsafe { Box::from_raw(core::ptr::with_exposed_provenance_mut(raw.get())) }
    }

    unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> &'a U {
        // SAFETY: the word is a live Box allocation for 'a, per the caller's contract.
        unsafe { &*core::ptr::with_exposed_provenance::<U>(raw.get()) }
    }

    unsafe fn clone_raw(raw: NonZeroUsize) -> Self
    where
        Self: Clone,
    {
        let ptr = core::ptr::with_exposed_provenance::<U>(raw.get());
        // SAFETY: a `Box` of a sized type is one non-null pointer (std guarantees this layout),
        // so `ptr` can be read in place as the box it came from. The reference only lends that
        // box: it is never moved out or dropped, and `Box::clone` reads the value through
        // shared access, as the readers do.
        let boxed = unsafe { &*core::ptr::from_ref(&ptr).cast::<Self>() };
        boxed.clone()
    }
}

// SAFETY: as for `Box`: `Arc::into_raw` is non-null, reversible, and keeps one strong count
// (hence the allocation) alive until `from_raw`.
unsafe impl<U: Send + Sync + 'static> Entry for Arc<U> {
    type Ref<'a> = &'a U;

    fn into_raw(self) -> NonZeroUsize {
        let addr = Arc::into_raw(self).expose_provenance();
        NonZeroUsize::new(addr).unwrap_or_else(|| unreachable!("Arc pointers are never null"))
    }

    unsafe fn from_raw(raw: NonZeroUsize) -> Self {
        // SAFETY: the word was made by `into_raw` and still owns its strong count.
        unsafe { Arc::from_raw(core::ptr::with_exposed_provenance(raw.get())) }
    }

    unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> &'a U {
        // SAFETY: the strong count owned by the word keeps the allocation alive for 'a.
        unsafe { &*core::ptr::with_exposed_provenance::<U>(raw.get()) }
    }

    unsafe fn clone_raw(raw: NonZeroUsize) -> Self {
        let ptr = core::ptr::with_exposed_provenance::<U>(raw.get());
        // SAFETY: the word owns a strong count, so the allocation is live.
        unsafe { Arc::increment_strong_count(ptr) };
        // SAFETY: the count just added is owned by the `Arc` made here.
        unsafe { Arc::from_raw(ptr) }
    }
}

// SAFETY: a `'static` reference is non-null and valid forever.
unsafe impl<U: Sync + 'static> Entry for &'static U {
    type Ref<'a> = &'static U;

    fn into_raw(self) -> NonZeroUsize {
        let addr = core::ptr::from_ref(self).expose_provenance();
        NonZeroUsize::new(addr).unwrap_or_else(|| unreachable!("references are never null"))
    }

    unsafe fn from_raw(raw: NonZeroUsize) -> Self {
        // SAFETY: the word was made from a `&'static U` by `into_raw`.
        unsafe { &*core::ptr::with_exposed_provenance::<U>(raw.get()) }
    }

    unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> Self::Ref<'a> {
        // SAFETY: as in `from_raw`.
        unsafe { &*core::ptr::with_exposed_provenance::<U>(raw.get()) }
    }
}

// SAFETY: the word is the integer itself, which is non-zero by type.
unsafe impl Entry for NonZeroUsize {
    type Ref<'a> = NonZeroUsize;

    fn into_raw(self) -> NonZeroUsize {
        self
    }

    unsafe fn from_raw(raw: NonZeroUsize) -> Self {
        raw
    }

    unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> Self::Ref<'a> {
        raw
    }
}

// SAFETY: the word is the integer itself (64-bit targets only), non-zero by type.
unsafe impl Entry for NonZeroU64 {
    type Ref<'a> = NonZeroU64;

    fn into_raw(self) -> NonZeroUsize {
        NonZeroUsize::new(self.get() as usize).unwrap_or_else(|| unreachable!("non-zero by type"))
    }

    unsafe fn from_raw(raw: NonZeroUsize) -> Self {
        NonZeroU64::new(raw.get() as u64).unwrap_or_else(|| unreachable!("non-zero by type"))
    }

    unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> Self::Ref<'a> {
        // SAFETY: the same word, the same contract.
        unsafe { Self::from_raw(raw) }
    }
}

macro_rules! small_int_entry {
    ($($t:ty),*) => {$(
        // SAFETY: `(v << 1) | 1` is never 0 and, for integers of at most 32 bits on a 64-bit
        // target, loses no bits; `from_raw` shifts it back.
        unsafe impl Entry for $t {
            type Ref<'a> = $t;

            fn into_raw(self) -> NonZeroUsize {
                NonZeroUsize::MIN | ((self as usize) << 1)
            }

            unsafe fn from_raw(raw: NonZeroUsize) -> Self {
                #[expect(clippy::cast_possible_truncation, reason = "the word holds the integer shifted left by one")]
                let v = (raw.get() >> 1) as $t;
                v
            }

            unsafe fn borrow_raw<'a>(raw: NonZeroUsize) -> Self::Ref<'a> {
                // SAFETY: the same word, the same contract.
                unsafe { Self::from_raw(raw) }
            }
        }
    )*};
}
small_int_entry!(u8, u16, u32, i8, i16, i32);

/// Value operations on raw slot words for the write paths, under invariant V1.
pub(crate) struct Values<T>(PhantomData<T>);

impl<T: Entry> Values<T> {
    /// Borrows the value in a slot word for `'a`.
    ///
    /// The caller ties `'a` to the guard under which the word was loaded from the tree.
    #[inline]
    pub(crate) fn borrow<'a>(word: NonZeroUsize) -> T::Ref<'a> {
        // SAFETY: by V1 the word owns a live value; the value is dropped only after the word has
        // left the tree and (in RCU mode) a grace period has passed, or (in exclusive mode,
        // where no reader exists) after the writer's own borrows have ended.
        unsafe { T::borrow_raw(word) }
    }

    /// Turns a word that was removed from the tree back into the value it owns.
    pub(crate) fn take(word: NonZeroUsize) -> T {
        // SAFETY: by V1 the removed word owns its value and nothing else will use it.
        unsafe { T::from_raw(word) }
    }

    /// Clones the value a word owns, without taking it, into a new word.
    pub(crate) fn clone_word(word: NonZeroUsize) -> NonZeroUsize
    where
        T: Clone,
    {
        Self::clone_value(word).into_raw()
    }

    /// Clones the value a word owns, without taking it, through shared access: readers may be
    /// looking at it.
    pub(crate) fn clone_value(word: NonZeroUsize) -> T
    where
        T: Clone,
    {
        // SAFETY: by V1 the word owns a live value, which is not turned back during the call.
        unsafe { T::clone_raw(word) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer clones a boxed value (to give the tail of a cut entry its own) while a reader
    /// holds a shared borrow of it: the clone must go through shared access only. Natively this
    /// always passes; Miri's Stacked Borrows model rejects a clone that makes a second owning
    /// `Box` (`cargo +nightly miri test -p maple-tree --lib node::entry`).
    #[test]
    fn cloning_a_boxed_value_keeps_readers_borrows_valid() {
        let word = Box::new(String::from("value")).into_raw();
        let seen: &String = Values::<Box<String>>::borrow(word);
        let clone = Values::<Box<String>>::clone_value(word);
        assert_eq!(seen, "value");
        let word_clone = Values::<Box<String>>::clone_word(word);
        assert_eq!(seen, "value");
        assert_eq!(*clone, "value");
        drop(Values::<Box<String>>::take(word_clone));
        drop(Values::<Box<String>>::take(word));
    }

    /// The same for a shared value: cloning an `Arc` adds a count, never a second `Arc` that
    /// would be dropped.
    #[test]
    fn cloning_an_arc_value_counts_one_more_owner() {
        let value = Arc::new(5u64);
        let word = Arc::clone(&value).into_raw();
        let seen: &u64 = Values::<Arc<u64>>::borrow(word);
        let clone = Values::<Arc<u64>>::clone_value(word);
        assert_eq!((*seen, Arc::strong_count(&value)), (5, 3));
        drop(clone);
        drop(Values::<Arc<u64>>::take(word));
        assert_eq!(Arc::strong_count(&value), 1);
    }
}
