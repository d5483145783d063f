//! Values: what a leaf slot holds, and how the tree owns, lends, clones and drops it.
//!
//! A slot is one machine word, as in the kernel, and the word 0 means "empty". A tree stores any
//! `T`; how a value becomes a word depends only on its type ([`Repr`], decided at compile time):
//!
//! | `T` | slot word | per value |
//! |---|---|---|
//! | integers of up to 32 bits, `bool`, `char`, `f32`, `()`, non-zero integers of up to 32 bits and their `Option`s | `(bits << 1) \| 1` (the kernel's `xa_mk_value`) | nothing |
//! | `NonZeroU64`, `NonZeroI64`, `NonZeroUsize`, `NonZeroIsize` | the integer itself | nothing |
//! | `u64`, `i64`, `usize`, `isize` | `(v << 1) \| 1` when `v` fits in 63 bits, else a pointer to a box | nothing, or one 8-byte box |
//! | anything else | a pointer to a `Box<T>` the tree owns | one allocation of `size_of::<T>()` bytes |
//!
//! Readers see a value through a [`Ref`]: a copy of an inline value, or a shared reference to a
//! boxed one. An inline word always has its low bit set and a box pointer of a 64-bit integer is
//! 8-aligned, so for the mixed kind the low bit tells the two apart.
//!
//! # Invariant
//!
//! - V1. Every non-zero leaf slot word of the live tree owns exactly one value, except while a
//!   write operation runs: a word the operation removed is owned by that operation's
//!   disposal list until it is dropped (at once in exclusive mode, after a grace period in RCU
//!   mode). A word is cloned before it is stored in a second slot.
//! - V2. Readers on many threads borrow and clone the value behind one word at once, beside the
//!   writer: they only ever read through the word (shared access). The word is turned back into
//!   a value (`take`) only once no borrow of it can be in use: after a grace period in RCU mode,
//!   or by a writer that holds the tree exclusively.
//!
//! The helpers below are safe to call from the write paths because those paths uphold V1 and
//! V2; the drop-counting tests check that every value is dropped exactly once.

use alloc::boxed::Box;
use core::any::TypeId;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;
use core::mem::{ManuallyDrop, size_of};
use core::num::{NonZeroI8, NonZeroI16, NonZeroI32, NonZeroI64, NonZeroIsize};
use core::num::{NonZeroU8, NonZeroU16, NonZeroU32, NonZeroU64, NonZeroUsize};
use core::ops::{Deref, DerefMut};

use super::NodeRef;

/// How the values of one type are kept in slot words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repr {
    /// A plain value of at most 32 bits, with no padding and no pointer: `(bits << 1) | 1`.
    Small,
    /// A 64-bit integer that is never 0: the integer itself.
    NonZero,
    /// A 64-bit integer, unsigned: inline as `(v << 1) | 1` when `v < 2^63`, else boxed.
    Wide,
    /// A 64-bit integer, signed: inline as `(v << 1) | 1` when `v` fits in 63 bits, else boxed.
    WideSigned,
    /// Anything else: a pointer to a box the tree owns.
    Boxed,
}

/// Whether `T` is one of `types`. The comparisons are of constants, so each instance folds to
/// `true` or `false` at compile time.
macro_rules! is_one_of {
    ($t:ty: $($u:ty),* $(,)?) => {{
        let id = TypeId::of::<$t>();
        false $(|| id == TypeId::of::<$u>())*
    }};
}

/// How values of `T` are kept. Folds to a constant in every instance.
#[inline(always)]
pub(crate) fn repr<T: 'static>() -> Repr {
    if is_one_of!(T: u8, u16, u32, i8, i16, i32, bool, char, f32, (),
        NonZeroU8, NonZeroU16, NonZeroU32, NonZeroI8, NonZeroI16, NonZeroI32,
        Option<NonZeroU8>, Option<NonZeroU16>, Option<NonZeroU32>,
        Option<NonZeroI8>, Option<NonZeroI16>, Option<NonZeroI32>)
    {
        Repr::Small
    } else if is_one_of!(T: NonZeroU64, NonZeroI64, NonZeroUsize, NonZeroIsize) {
        Repr::NonZero
    } else if is_one_of!(T: u64, usize) {
        Repr::Wide
    } else if is_one_of!(T: i64, isize) {
        Repr::WideSigned
    } else {
        Repr::Boxed
    }
}

/// A stored value as a reader sees it: a copy of a value kept inline in its slot, or a shared
/// reference to a boxed one, valid for as long as the guard it was read under (`'g`).
///
/// It dereferences to `T`, and compares, orders, hashes and prints as the `T` it shows.
///
/// # Examples
///
/// ```
/// let tree = maple_tree::MapleTree::new();
/// tree.insert(5, String::from("five")).unwrap();
/// let guard = tree.read();
/// let five = guard.get(5).unwrap();
/// assert_eq!(five.len(), 4); // through `Deref<Target = String>`
/// assert_eq!(*five, "five");
/// ```
pub struct Ref<'g, T> {
    inner: Inner<'g, T>,
}

enum Inner<'g, T> {
    /// A boxed value, borrowed for `'g`.
    Shared(&'g T),
    /// A copy of an inline value (only ever of a `Repr::Small`, `NonZero` or `Wide*` type, all
    /// of which are `Copy` and have no destructor).
    Inline(ManuallyDrop<T>),
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match &self.inner {
            Inner::Shared(value) => value,
            Inner::Inline(value) => value,
        }
    }
}

impl<T> Clone for Ref<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            Inner::Shared(value) => Inner::Shared(*value),
            // SAFETY: only values of inline types (the integers, `bool`, `char`, `f32`, `()` and
            // their non-zero and `Option` forms listed in `repr`) are kept as `Inline`, and all of
            // them are `Copy`: a bitwise copy is a valid, independent value.
            Inner::Inline(value) => Inner::Inline(unsafe { core::ptr::read(value) }),
        };
        Self { inner }
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

impl<T: fmt::Display> fmt::Display for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

impl<'b, T: PartialEq> PartialEq<Ref<'b, T>> for Ref<'_, T> {
    fn eq(&self, other: &Ref<'b, T>) -> bool {
        T::eq(self, other)
    }
}

impl<T: Eq> Eq for Ref<'_, T> {}

impl<T: PartialOrd> PartialOrd for Ref<'_, T> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        T::partial_cmp(self, other)
    }
}

impl<T: Ord> Ord for Ref<'_, T> {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        T::cmp(self, other)
    }
}

impl<T: Hash> Hash for Ref<'_, T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        T::hash(self, state);
    }
}

/// A stored value borrowed mutably from a tree held exclusively; see
/// [`MapleTree::get_mut`](crate::MapleTree::get_mut).
///
/// It dereferences to `&mut T`. A boxed value is changed in its box; a value kept inline in
/// its slot is changed in a copy, which is written back to the slot when the `ValueMut` drops
/// (so a `ValueMut` passed to `mem::forget` leaves the old value in place).
pub struct ValueMut<'a, T: 'static> {
    inner: MutInner<'a, T>,
}

enum MutInner<'a, T: 'static> {
    Boxed(&'a mut T),
    /// A copy of an inline value and the leaf slot it goes back to.
    Inline {
        value: T,
        leaf: NodeRef<'a>,
        slot: usize,
    },
}

impl<T: 'static> Deref for ValueMut<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.inner {
            MutInner::Boxed(value) => value,
            MutInner::Inline { value, .. } => value,
        }
    }
}

impl<T: 'static> DerefMut for ValueMut<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.inner {
            MutInner::Boxed(value) => value,
            MutInner::Inline { value, .. } => value,
        }
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for ValueMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

impl<T: 'static> Drop for ValueMut<'_, T> {
    fn drop(&mut self) {
        if let MutInner::Inline { value, leaf, slot } = &self.inner {
            // SAFETY: only values of inline types, all `Copy` without a destructor, are kept as
            // `Inline`: reading one out leaves a valid value behind that needs no drop.
            let value = unsafe { core::ptr::read(value) };
            // The old word owns nothing (an inline value), so it is simply replaced. A 64-bit
            // value that no longer fits in 63 bits is boxed here.
            leaf.set_slot(*slot, Values::<T>::into_word(value).get());
        }
    }
}

/// The `u8`, `u16` or `u32` holding the bits of a value of a `Repr::Small` type.
///
/// Each `Repr::Small` type is 0, 1, 2 or 4 bytes of plain data with no padding (every byte is
/// initialised) and no pointer, so its bytes read as an unsigned integer of the same size are a
/// valid integer. `transmute_copy` reads unaligned and copies; the value stays with the caller.
#[inline(always)]
fn small_bits<T: 'static>(value: &T) -> usize {
    debug_assert_eq!(repr::<T>(), Repr::Small);
    match size_of::<T>() {
        0 => 0,
        // SAFETY: `T` is a 1-byte `Repr::Small` type (see above).
        1 => usize::from(unsafe { core::mem::transmute_copy::<T, u8>(value) }),
        // SAFETY: `T` is a 2-byte `Repr::Small` type (see above).
        2 => usize::from(unsafe { core::mem::transmute_copy::<T, u16>(value) }),
        // SAFETY: `T` is a 4-byte `Repr::Small` type (see above).
        4 => (unsafe { core::mem::transmute_copy::<T, u32>(value) }) as usize,
        _ => unreachable!("Repr::Small types are at most 4 bytes"),
    }
}

/// The value of a `Repr::Small` type whose bits `small_bits` returned.
///
/// The bits were taken from a valid `T` by `small_bits` (V1: a slot word is only ever made from
/// a value), so the integer of `T`'s size holding them is a valid `T` again. The truncating casts
/// undo the widening of `small_bits`. A `T` of 0 bytes is read from a `u8`, which is at least as
/// large, as `transmute_copy` requires.
#[inline(always)]
#[expect(
    clippy::cast_possible_truncation,
    reason = "the bits came from a T of this size"
)]
fn from_small_bits<T: 'static>(bits: usize) -> T {
    debug_assert_eq!(repr::<T>(), Repr::Small);
    match size_of::<T>() {
        // SAFETY: the bits of a `T` of at most 1 byte (see above).
        0 | 1 => unsafe { core::mem::transmute_copy::<u8, T>(&(bits as u8)) },
        // SAFETY: the bits of a 2-byte `T` (see above).
        2 => unsafe { core::mem::transmute_copy::<u16, T>(&(bits as u16)) },
        // SAFETY: the bits of a 4-byte `T` (see above).
        4 => unsafe { core::mem::transmute_copy::<u32, T>(&(bits as u32)) },
        _ => unreachable!("Repr::Small types are at most 4 bytes"),
    }
}

/// The 64 bits of a value of a `Repr::NonZero` or `Repr::Wide*` type.
#[inline(always)]
fn word_bits<T: 'static>(value: &T) -> u64 {
    debug_assert!(size_of::<T>() == 8);
    // SAFETY: `T` is one of the 8-byte integers (or their non-zero forms) of those kinds: plain
    // data, every byte initialised, no pointer; as a `u64` it is a valid integer.
    unsafe { core::mem::transmute_copy::<T, u64>(value) }
}

/// The value of a `Repr::NonZero` or `Repr::Wide*` type whose bits `word_bits` returned.
#[inline(always)]
fn from_word_bits<T: 'static>(bits: u64) -> T {
    debug_assert!(size_of::<T>() == 8);
    // SAFETY: the bits were taken from a valid `T` by `word_bits` (V1), so they are a valid `T`
    // again; for the non-zero types they are not 0.
    unsafe { core::mem::transmute_copy::<u64, T>(&bits) }
}

/// Boxes a value and returns the box's address as a slot word.
fn box_word<T>(value: T) -> NonZeroUsize {
    let addr = Box::into_raw(Box::new(value)).expose_provenance();
    NonZeroUsize::new(addr).unwrap_or_else(|| unreachable!("Box pointers are never null"))
}

/// Borrows the boxed value behind a word made by `box_word`.
fn box_ref<'a, T>(word: NonZeroUsize) -> &'a T {
    // SAFETY: by V1 the word is the address of a live box made by `box_word`, whose provenance
    // was exposed there; by V2 the box is freed only once no borrow taken under a guard (whose
    // lifetime the caller gives as `'a`) can be in use, and only shared access happens meanwhile.
    unsafe { &*core::ptr::with_exposed_provenance::<T>(word.get()) }
}

/// Turns a word made by `box_word` back into its value.
fn unbox<T>(word: NonZeroUsize) -> T {
    // SAFETY: by V1 the word owns the box made by `box_word` and, by V2, nothing borrows it any
    // more when the tree takes it back.
    *unsafe { Box::from_raw(core::ptr::with_exposed_provenance_mut::<T>(word.get())) }
}

/// Value operations on raw slot words for the read and write paths, under invariants V1 and V2.
pub(crate) struct Values<T>(PhantomData<T>);

impl<T: 'static> Values<T> {
    /// Turns a value into the slot word that owns it.
    #[inline]
    pub(crate) fn into_word(value: T) -> NonZeroUsize {
        match repr::<T>() {
            Repr::Small => NonZeroUsize::MIN | (small_bits(&value) << 1),
            Repr::NonZero => {
                #[expect(clippy::cast_possible_truncation, reason = "64-bit targets only")]
                let word = word_bits(&value) as usize;
                NonZeroUsize::new(word).unwrap_or_else(|| unreachable!("non-zero by type"))
            }
            Repr::Wide if word_bits(&value) >> 63 == 0 => {
                #[expect(clippy::cast_possible_truncation, reason = "64-bit targets only")]
                let bits = word_bits(&value) as usize;
                NonZeroUsize::MIN | (bits << 1)
            }
            Repr::WideSigned
                if (word_bits(&value).cast_signed() << 1) >> 1
                    == word_bits(&value).cast_signed() =>
            {
                #[expect(clippy::cast_possible_truncation, reason = "64-bit targets only")]
                let bits = word_bits(&value) as usize;
                NonZeroUsize::MIN | (bits << 1)
            }
            Repr::Wide | Repr::WideSigned | Repr::Boxed => box_word(value),
        }
    }

    /// Whether every value of `T` is held inline, so that a copy of a word is an independent
    /// clone of its value and dropping a word frees nothing.
    #[inline]
    pub(crate) fn always_inline() -> bool {
        matches!(repr::<T>(), Repr::Small | Repr::NonZero)
    }

    /// Whether a word holds its value inline (not behind a box).
    #[inline]
    fn is_inline(word: NonZeroUsize) -> bool {
        match repr::<T>() {
            Repr::Small | Repr::NonZero => true,
            Repr::Wide | Repr::WideSigned => word.get() & 1 == 1,
            Repr::Boxed => false,
        }
    }

    /// Whether dropping a word frees anything: a boxed value does, an inline one (a copy of the
    /// bits) does not.
    #[inline]
    pub(crate) fn owns_memory(word: NonZeroUsize) -> bool {
        !Self::is_inline(word)
    }

    /// Drops the value a word owns. As a `fn` pointer it lets code that does not know `T` (the
    /// pool, the reclaimer) drop values of a tree.
    pub(crate) fn drop_word(word: NonZeroUsize) {
        drop(Self::take(word));
    }

    /// The value of an inline word.
    #[inline]
    fn decode(word: NonZeroUsize) -> T {
        match repr::<T>() {
            Repr::Small => from_small_bits(word.get() >> 1),
            Repr::NonZero => from_word_bits(word.get() as u64),
            Repr::Wide => from_word_bits((word.get() >> 1) as u64),
            Repr::WideSigned => {
                from_word_bits(((word.get() as u64).cast_signed() >> 1).cast_unsigned())
            }
            Repr::Boxed => unreachable!("boxed words are never decoded in place"),
        }
    }

    /// Borrows the value in a slot word for `'a`.
    ///
    /// The caller ties `'a` to the guard under which the word was loaded from the tree.
    #[inline]
    pub(crate) fn borrow<'a>(word: NonZeroUsize) -> Ref<'a, T> {
        let inner = if Self::is_inline(word) {
            Inner::Inline(ManuallyDrop::new(Self::decode(word)))
        } else {
            Inner::Shared(box_ref(word))
        };
        Ref { inner }
    }

    /// Borrows mutably the value in slot `slot` of `leaf`, which holds `word`.
    ///
    /// The caller holds the tree exclusively (`&mut`) for `'a`: no reader exists and nothing
    /// else writes the slot meanwhile.
    pub(crate) fn borrow_mut<'a>(
        leaf: NodeRef<'a>,
        slot: usize,
        word: NonZeroUsize,
    ) -> ValueMut<'a, T> {
        let inner = if Self::is_inline(word) {
            MutInner::Inline {
                value: Self::decode(word),
                leaf,
                slot,
            }
        } else {
            // SAFETY: by V1 the word owns a live box made by `box_word`, whose provenance was
            // exposed there; the caller's exclusive hold on the tree for `'a` means no other
            // reference to the boxed value exists or is made meanwhile.
            MutInner::Boxed(unsafe {
                &mut *core::ptr::with_exposed_provenance_mut::<T>(word.get())
            })
        };
        ValueMut { inner }
    }

    /// Turns a word that was removed from the tree back into the value it owns.
    #[inline]
    pub(crate) fn take(word: NonZeroUsize) -> T {
        if Self::is_inline(word) {
            Self::decode(word)
        } else {
            unbox(word)
        }
    }

    /// Clones the value a word owns, without taking it, into a new word.
    #[inline]
    pub(crate) fn clone_word(word: NonZeroUsize) -> NonZeroUsize
    where
        T: Clone,
    {
        if Self::is_inline(word) {
            // Inline values are `Copy`: the same bits are an equal, independent value.
            word
        } else {
            box_word(box_ref::<T>(word).clone())
        }
    }

    /// Clones the value a word owns, without taking it, through shared access: readers may be
    /// looking at it (V2).
    #[inline]
    pub(crate) fn clone_value(word: NonZeroUsize) -> T
    where
        T: Clone,
    {
        if Self::is_inline(word) {
            Self::decode(word)
        } else {
            box_ref::<T>(word).clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::sync::Arc;

    /// A writer clones a boxed value (to give the tail of a cut entry its own) while a reader
    /// holds a shared borrow of it: the clone must go through shared access only. Natively this
    /// always passes; Miri's Stacked Borrows model rejects a clone that makes a second owning
    /// `Box` (`cargo +nightly miri test -p maple-tree --lib node::entry`).
    #[test]
    fn cloning_a_boxed_value_keeps_readers_borrows_valid() {
        let word = Values::<String>::into_word(String::from("value"));
        {
            let seen = Values::<String>::borrow(word);
            let clone = Values::<String>::clone_value(word);
            assert_eq!(*seen, "value");
            let word_clone = Values::<String>::clone_word(word);
            assert_eq!(*seen, "value");
            assert_eq!(clone, "value");
            drop(Values::<String>::take(word_clone));
        }
        drop(Values::<String>::take(word));
    }

    /// The same for a shared value: cloning an `Arc` adds a count, never a second `Arc` that
    /// would be dropped.
    #[test]
    fn cloning_an_arc_value_counts_one_more_owner() {
        let value = Arc::new(5u64);
        let word = Values::<Arc<u64>>::into_word(Arc::clone(&value));
        {
            let seen = Values::<Arc<u64>>::borrow(word);
            let clone = Values::<Arc<u64>>::clone_value(word);
            assert_eq!((**seen, Arc::strong_count(&value)), (5, 3));
            drop(clone);
        }
        drop(Values::<Arc<u64>>::take(word));
        assert_eq!(Arc::strong_count(&value), 1);
    }

    /// Every value of every inline type comes back as it went in, and its word is never 0.
    #[test]
    fn inline_values_round_trip() {
        fn round_trip<T: Copy + PartialEq + fmt::Debug + 'static>(values: &[T], kind: Repr) {
            assert_eq!(repr::<T>(), kind, "{}", core::any::type_name::<T>());
            for &v in values {
                let word = Values::<T>::into_word(v);
                assert_eq!(*Values::<T>::borrow(word), v);
                assert_eq!(Values::<T>::clone_value(word), v);
                assert_eq!(Values::<T>::take(Values::<T>::clone_word(word)), v);
                assert_eq!(Values::<T>::take(word), v);
            }
        }
        round_trip(&[0u8, 1, 0x7f, 0xff], Repr::Small);
        round_trip(&[0u16, 1, 0xffff], Repr::Small);
        round_trip(&[0u32, 1, u32::MAX], Repr::Small);
        round_trip(&[0i8, -1, i8::MIN, i8::MAX], Repr::Small);
        round_trip(&[0i16, -1, i16::MIN, i16::MAX], Repr::Small);
        round_trip(&[0i32, -1, i32::MIN, i32::MAX], Repr::Small);
        round_trip(&[false, true], Repr::Small);
        round_trip(&['\0', 'a', char::MAX], Repr::Small);
        round_trip(&[0.0f32, -1.5, f32::MAX, f32::INFINITY], Repr::Small);
        round_trip(&[()], Repr::Small);
        round_trip(&[NonZeroU8::MIN, NonZeroU8::MAX], Repr::Small);
        round_trip(&[NonZeroI32::MIN, NonZeroI32::MAX], Repr::Small);
        round_trip(&[None, NonZeroU32::new(7)], Repr::Small);
        round_trip(&[NonZeroU64::MIN, NonZeroU64::MAX], Repr::NonZero);
        round_trip(&[NonZeroI64::MIN, NonZeroI64::MAX], Repr::NonZero);
        round_trip(&[NonZeroUsize::MIN, NonZeroUsize::MAX], Repr::NonZero);
        round_trip(&[0u64, 1, (1 << 63) - 1, 1 << 63, u64::MAX], Repr::Wide);
        round_trip(&[0usize, usize::MAX], Repr::Wide);
        let edges = [
            0i64,
            1,
            -1,
            (1 << 62) - 1,
            -(1 << 62),
            1 << 62,
            -(1 << 62) - 1,
        ];
        round_trip(&edges, Repr::WideSigned);
        round_trip(&[i64::MIN, i64::MAX], Repr::WideSigned);
        round_trip(&[isize::MIN, 0, isize::MAX], Repr::WideSigned);
    }

    /// Which 64-bit integers stay inline: those that fit in 63 bits.
    #[test]
    fn wide_integers_are_boxed_only_when_they_need_64_bits() {
        let inline = |w: NonZeroUsize| w.get() & 1 == 1;
        assert!(inline(Values::<u64>::into_word((1 << 63) - 1)));
        let boxed = Values::<u64>::into_word(1 << 63);
        assert!(!inline(boxed));
        assert_eq!(Values::<u64>::take(boxed), 1 << 63);
        assert!(inline(Values::<i64>::into_word(-(1 << 62))));
        let boxed = Values::<i64>::into_word(-(1 << 62) - 1);
        assert!(!inline(boxed));
        assert_eq!(Values::<i64>::take(boxed), -(1 << 62) - 1);
    }

    /// Types that are not inline are boxed, including small ones with padding or pointers.
    #[test]
    fn other_types_are_boxed() {
        assert_eq!(repr::<(u8, u16)>(), Repr::Boxed);
        assert_eq!(repr::<&'static str>(), Repr::Boxed);
        assert_eq!(repr::<Box<u32>>(), Repr::Boxed);
        assert_eq!(repr::<f64>(), Repr::Boxed);
        struct Zst;
        let word = Values::<Zst>::into_word(Zst);
        assert!(matches!(Values::<Zst>::take(word), Zst));
    }
}
