//! [`OwnedTree`]: a tree written only by its owner, through `&mut`, so that reads through `&self`
//! need no RCU pin.

use core::fmt;
use core::num::NonZeroUsize;
use core::ops::RangeBounds;

use alloc::string::String;

use crate::cursor::{Cursor, Found, Iter};
use crate::dump::{Dump, DumpFormat};
use crate::entries::Gaps;
use crate::error::{ClearError, GapError, OutOfMemory, StoreError, StoreErrorKind};
use crate::gap;
use crate::guard::{WriteGuard, find_writer, lookup_writer, read_api};
use crate::layout::TreeLayout;
use crate::node::entry::{Ref, Values};
use crate::range::Range;
use crate::rcu::{self, Guard};
use crate::root::Core;
use crate::search::GapRequest;
use crate::stats::Stats;
use crate::tree::MapleTree;
use crate::validate::InvariantViolation;
use crate::walk::{Path, around_writer, each_writer, walk_from};

/// A [`MapleTree`] that only its owner writes, through `&mut self`: the compiler then proves
/// that no write runs while any read does, so reads through `&self` pin no epoch and confirm
/// nothing, like the reads of a writer from [`MapleTree::exclusive`].
///
/// Use it where a `BTreeMap` would do: a structure that owns its tree and changes it through
/// `&mut self` (an address space under its own lock, say). Its reads cost what a writer's do,
/// without the epoch pin of [`MapleTree::read`] (two thread-local accesses and a fence), and
/// any number of threads may read through `&OwnedTree` at once. For readers beside a writer,
/// use [`MapleTree`] itself.
///
/// It never lends out `&MapleTree`, through which a writer could take the tree's lock and
/// write beside these unpinned readers; [`into_inner`](Self::into_inner) gives the tree back
/// by value.
///
/// Ranges are inclusive, as everywhere in the crate: an entry stored over `10..=19` covers
/// both ends, [`get_range`](Self::get_range) returns it whole from any index inside, and
/// [`find`](Self::find) and [`find_rev`](Self::find_rev) return the first (last) entry that
/// has at least one index inside their range.
///
/// # Examples
///
/// ```
/// use maple_tree::OwnedTree;
///
/// let mut tree = OwnedTree::new_alloc();
/// {
///     let mut writer = tree.exclusive();
///     writer.store_range(0x1000..=0x2fff, 1u32).unwrap();
///     writer.store_range(0x8000..=0x8fff, 2u32).unwrap();
/// }
/// // Reads through `&tree`: no pin, no guard to hold.
/// let (range, value) = tree.get_range(0x2abc).unwrap();
/// assert_eq!((range.first(), range.last(), *value), (0x1000, 0x2fff, 1));
/// assert!(tree.get(0x3000).is_none());
/// // The first entry with an index in 0x3000..=0x8000: it starts at the range's last index.
/// assert_eq!(tree.find(0x3000..=0x8000).map(|(r, _)| r.first()), Some(0x8000));
/// // The last one with an index in 0..=0x7fff.
/// assert_eq!(tree.find_rev(..=0x7fff).map(|(r, _)| r.last()), Some(0x2fff));
/// assert_eq!(tree.find_gap_rev(..=0xffff, 0x4000), Ok(0xc000));
/// ```
///
/// A write needs `&mut`, so it cannot start while a value read through `&self` is in use:
///
/// ```compile_fail
/// let mut tree = maple_tree::OwnedTree::new();
/// tree.exclusive().insert(1, 1u32).unwrap();
/// let one = tree.get(1).unwrap();
/// tree.exclusive().erase(1); // error: `tree` is borrowed by `one`
/// assert_eq!(*one, 1);
/// ```
///
/// # Where the last walk ended
///
/// The tree remembers the walk its last [`entry_mut`](Self::entry_mut) made (a *finger*), and
/// keeps it across a store through that handle which stays in the leaf it walked to. The next
/// `entry_mut`, and reads such as [`for_each_around`](Self::for_each_around), start from there
/// when their index lies in that leaf (or climb only as far as they must), instead of from the
/// root: an owner that looks at a spot and then changes it, one call after the other, walks the
/// tree once. Any other write ([`exclusive`](Self::exclusive)), and a store through the handle
/// that splits or merges nodes, forgets it. What the calls return never depends on it.
///
/// ```
/// let mut tree = maple_tree::OwnedTree::new_alloc();
/// tree.exclusive().insert_range(0x1000..=0x1fff, 1u32).unwrap();
/// // One call looks (and walks), the next one stores from where the look ended.
/// assert!(tree.entry_mut(0x2000).get().is_none());
/// tree.entry_mut(0x2000).store(0x2000..=0x2fff, 2).unwrap();
/// assert_eq!(tree.len(), 2);
/// ```
///
/// Linux: a tree without `MT_FLAGS_USE_RCU` whose writers and readers hold the owner's lock
/// (`MT_FLAGS_LOCK_EXTERN`), checked by the compiler here; the finger is the `vma_iterator`
/// that an mm operation walks with and then stores through.
#[doc(alias = "MT_FLAGS_LOCK_EXTERN")]
pub struct OwnedTree<T: 'static> {
    /// The finger: the walk that [`entry_mut`](Self::entry_mut) made last, or that its
    /// handle's in-place store left (empty: none). Later walks start from it. It is emptied
    /// before anything else writes the tree ([`exclusive`](Self::exclusive), a store through
    /// the handle that replaces nodes or unwinds), so every node it names is in the tree
    /// whenever it is read; that is what lets its frames carry the `'static` guard of
    /// [`rcu::exclusive`]. Declared before the tree, so that it goes first when dropped.
    finger: Path<'static>,
    tree: MapleTree<T>,
}

impl<T: 'static> OwnedTree<T> {
    /// An empty range tree; see [`MapleTree::new`].
    ///
    /// ```
    /// let tree: maple_tree::OwnedTree<u32> = maple_tree::OwnedTree::new();
    /// assert!(tree.is_empty() && !tree.is_alloc());
    /// ```
    pub fn new() -> Self {
        MapleTree::new().into()
    }

    /// An empty allocation tree, which tracks gaps; see [`MapleTree::new_alloc`].
    ///
    /// ```
    /// let tree: maple_tree::OwnedTree<u32> = maple_tree::OwnedTree::new_alloc();
    /// assert!(tree.is_alloc());
    /// ```
    pub fn new_alloc() -> Self {
        MapleTree::new_alloc().into()
    }

    /// Whether this is an allocation tree.
    ///
    /// ```
    /// assert!(maple_tree::OwnedTree::<u8>::new_alloc().is_alloc());
    /// ```
    pub fn is_alloc(&self) -> bool {
        self.tree.is_alloc()
    }

    /// The writer: writes rewrite nodes in place and free what they replace at once, as
    /// [`MapleTree::exclusive`] does.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert_range(5..=9, 'a').unwrap();
    /// assert_eq!(tree.get(9).as_deref(), Some(&'a'));
    /// ```
    ///
    /// Linux: `mt_clear_in_rcu()`, but checked by the compiler.
    pub fn exclusive(&mut self) -> WriteGuard<'_, T> {
        // Any write may go through the guard: the finger goes first.
        self.finger.clear();
        self.tree.exclusive()
    }

    /// The tree itself, for sharing with readers on other threads or for writing through
    /// `&self`.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert(3, 30u32).unwrap();
    /// let shared = tree.into_inner();
    /// assert_eq!(shared.get(3), Some(30));
    /// ```
    pub fn into_inner(mut self) -> MapleTree<T> {
        self.finger.clear();
        self.tree
    }

    /// Counters and sizes of the tree and its node pool; see [`MapleTree::stats`].
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert(3, 30u32).unwrap();
    /// assert_eq!(tree.stats().entries, 1);
    /// ```
    pub fn stats(&self) -> Stats {
        self.tree.stats()
    }

    /// Checks every structural invariant; see [`MapleTree::check_invariants`].
    ///
    /// # Errors
    ///
    /// The first [`InvariantViolation`] found.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert(3, 30u32).unwrap();
    /// assert!(tree.check_invariants().is_ok());
    /// ```
    ///
    /// Linux: `mt_validate()`.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        self.tree.check_invariants()
    }

    /// A structured copy of every node; see [`MapleTree::layout`].
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert(3, 30u32).unwrap();
    /// assert_eq!(tree.layout(|v| v.to_string()).nodes.len(), 1);
    /// ```
    ///
    /// Linux: `mt_dump()`.
    pub fn layout(&self, value: impl Fn(&T) -> String) -> TreeLayout {
        self.tree.layout(value)
    }

    /// A printable view of every node; see [`MapleTree::dump`].
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert(3, 30u32).unwrap();
    /// assert!(tree.dump(maple_tree::DumpFormat::Dec).to_string().contains("3: 30"));
    /// ```
    ///
    /// Linux: `mt_dump()`.
    pub fn dump(&self, format: DumpFormat) -> Dump<'_, T>
    where
        T: fmt::Debug,
    {
        self.tree.dump(format)
    }

    /// Fault injection, for tests; see `MapleTree::fail_reservations_after`.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.fail_reservations_after(Some(0));
    /// assert!(tree.exclusive().insert(5, 1u32).is_err());
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn fail_reservations_after(&self, nodes: Option<u64>) {
        self.tree.fail_reservations_after(nodes);
    }

    /// Calls `f` with each of these entries, in ascending order: the entry before `range`,
    /// every entry that intersects `range`, and the entry after it (each if there is one).
    ///
    /// The entry before is the last one that ends below the first index of the first entry
    /// intersecting `range` (or, if none does, below `range`); the entry after is the first
    /// one that starts above the last index of the last entry intersecting `range` (or, if
    /// none does, above `range`). Nothing is called for an empty range.
    ///
    /// One walk of the tree to the start of `range`, then slot by slot: what a change of
    /// `range` may touch or merge with, for less than a cursor's walk, step back and steps
    /// forward.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// {
    ///     let mut writer = tree.exclusive();
    ///     for (i, first) in [10u64, 20, 30, 40, 50].into_iter().enumerate() {
    ///         writer.insert_range(first..=first + 4, i).unwrap();
    ///     }
    /// }
    /// let mut seen = Vec::new();
    /// tree.for_each_around(26..=33, |range, &value| seen.push((range.first(), value)));
    /// // 30..=34 intersects 26..=33; 20..=24 comes before it, 40..=44 after it.
    /// assert_eq!(seen, [(20, 1), (30, 2), (40, 3)]);
    /// seen.clear();
    /// tree.for_each_around(0..=5, |range, &value| seen.push((range.first(), value)));
    /// assert_eq!(seen, [(10, 0)]); // nothing before, nothing inside
    /// ```
    ///
    /// Linux: `vma_prev()`, `for_each_vma_range()` and `vma_next()` on one `vma_iterator`.
    pub fn for_each_around(&self, range: impl RangeBounds<u64>, f: impl FnMut(Range, &T)) {
        let Some(range) = Range::from_bounds(range) else {
            return;
        };
        // A read through `&self` may start from the finger, but not move it.
        let mut path = self.finger.clone();
        walk_from(self.core(), self.rcu(), &mut path, range.first());
        around(&path, range.last(), f);
    }

    /// Calls `f` with every entry, in ascending order: the entries of [`iter`](Self::iter),
    /// for less. The whole tree is walked depth first, each leaf's slots in one loop, with
    /// nothing to confirm between them: no write can race a read through `&self`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// {
    ///     let mut writer = tree.exclusive();
    ///     for i in 0..200u32 {
    ///         writer.insert_range(u64::from(i) * 10..=u64::from(i) * 10 + 4, i).unwrap();
    ///     }
    /// }
    /// let mut seen = Vec::new();
    /// tree.for_each(|range, &value| seen.push((range.first(), range.last(), value)));
    /// assert_eq!(seen.len(), 200);
    /// assert_eq!(seen[7], (70, 74, 7));
    /// let iterated: Vec<_> = tree.iter().map(|(r, v)| (r.first(), r.last(), *v)).collect();
    /// assert_eq!(seen, iterated);
    /// ```
    ///
    /// Linux: `mt_for_each()` over the whole tree, as `for_each_vma()` from the start.
    #[doc(alias = "mt_for_each")]
    pub fn for_each(&self, mut f: impl FnMut(Range, &T)) {
        each_writer(self.core(), self.rcu(), |r, word| {
            if let Some(word) = NonZeroUsize::new(word) {
                f(r, &Values::<T>::borrow(word));
            }
        });
    }

    /// Walks to `index` once and returns a handle on the tree there: the entry (or empty range)
    /// holding `index`, and a store or clear that starts from the leaf the walk found instead
    /// of walking the tree again. See [`EntryMut`]. The walk starts from where the last one
    /// ended when `index` lies in that leaf (see [the type's docs](Self#where-the-last-walk-ended)),
    /// and the tree keeps this one when the handle is dropped or stores in place.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new_alloc();
    /// tree.exclusive().insert_range(0x1000..=0x4fff, 1u32).unwrap();
    /// // Look at what holds 0x2000, then give the middle page a new value from there.
    /// let entry = tree.entry_mut(0x2000);
    /// assert_eq!(entry.get().as_deref(), Some(&1));
    /// assert_eq!((entry.range().first(), entry.range().last()), (0x1000, 0x4fff));
    /// entry.store(0x2000..=0x2fff, 2).unwrap();
    /// let values: Vec<_> = tree.iter().map(|(r, v)| (r.first(), *v)).collect();
    /// assert_eq!(values, [(0x1000, 1), (0x2000, 2), (0x3000, 1)]);
    /// ```
    ///
    /// Linux: `mas_walk()` on the `ma_state` that `mas_store_gfp()` then stores through, as
    /// `vma_iter_store()` does.
    #[doc(alias = "mas_walk")]
    #[doc(alias = "vma_iter_store")]
    pub fn entry_mut(&mut self, index: u64) -> EntryMut<'_, T> {
        let Self { finger, tree } = self;
        walk_from(tree.core(), rcu::exclusive(), finger, index);
        EntryMut {
            tree,
            finger,
            index,
        }
    }

    /// No write can run while `&self` lives, so reads need no pin: the guard of an exclusive
    /// writer serves.
    fn rcu(&self) -> &Guard {
        rcu::exclusive()
    }

    fn core(&self) -> &Core {
        self.tree.core()
    }

    /// Reads need not confirm what they read: no write can race them.
    const VALIDATES: bool = false;

    /// The entry containing `index`, read as the writer reads it.
    #[inline]
    fn lookup_word(&self, index: u64) -> Option<(Range, NonZeroUsize)> {
        lookup_writer(self.core(), self.rcu(), index)
    }

    read_api!();
}

/// A handle on an [`OwnedTree`] at one index, from [`OwnedTree::entry_mut`]: what holds the
/// index, found by one walk, and the leaf that walk ended on.
///
/// [`store`](Self::store) and [`clear`](Self::clear) do exactly what
/// [`WriteGuard::store_range`] and [`WriteGuard::clear_range`] do with the same range, wherever
/// it lies: entries it overlaps lose the overlapping part. Only the walk differs: a range that
/// starts in the leaf the handle stands in (always, if it starts at or around the index and
/// within its entry or empty range) is written from there, without walking the tree again; any
/// other range walks from the root. Both take the handle by value: a write may split or merge
/// the leaf, and the borrow checker then allows no further use of the position.
///
/// Ranges are inclusive, as everywhere in the crate.
///
/// # Examples
///
/// ```
/// let mut tree = maple_tree::OwnedTree::new_alloc();
/// {
///     let mut writer = tree.exclusive();
///     writer.insert_range(10..=19, 'a').unwrap();
///     writer.insert_range(30..=39, 'b').unwrap();
/// }
/// // Nothing holds 25: the entry is the empty range between the two.
/// let entry = tree.entry_mut(25);
/// assert!(entry.get().is_none());
/// assert_eq!((entry.range().first(), entry.range().last()), (20, 29));
/// // Clear the tail of the first entry and the head of the second, from the same leaf.
/// entry.clear(15..=34).unwrap();
/// let left: Vec<_> = tree.iter().map(|(r, v)| (r.first(), r.last(), *v)).collect();
/// assert_eq!(left, [(10, 14, 'a'), (35, 39, 'b')]);
/// ```
///
/// The handle borrows the tree mutably: no other read or write can happen beside it, and none
/// of its reads outlive the store that consumes it.
///
/// ```compile_fail
/// let mut tree = maple_tree::OwnedTree::new();
/// tree.exclusive().insert(1, 1u32).unwrap();
/// let entry = tree.entry_mut(1);
/// let one = entry.get();
/// entry.store(1..=1, 2); // error: `entry` is borrowed by `one`
/// assert_eq!(one.as_deref(), Some(&1));
/// ```
///
/// Linux: a `struct ma_state` after `mas_walk()`, reused by `mas_store_gfp()` when the range
/// lies in its node (`mas_wr_prealloc_setup()`), as `vma_iter_store()` reuses a VMA iterator.
#[doc(alias = "ma_state")]
pub struct EntryMut<'t, T: 'static> {
    tree: &'t mut MapleTree<T>,
    /// The tree's finger, which is the walk to `index`, from the root to a leaf (empty for an
    /// empty tree).
    finger: &'t mut Path<'static>,
    index: u64,
}

/// [`around_writer`] for `T`: `f` gets the values.
fn around<T: 'static>(path: &Path<'_>, last: u64, mut f: impl FnMut(Range, &T)) {
    around_writer(path, last, |r, word| {
        if let Some(word) = NonZeroUsize::new(word) {
            f(r, &Values::<T>::borrow(word));
        }
    });
}

impl<T: 'static> fmt::Debug for EntryMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryMut")
            .field("index", &self.index)
            .field("range", &self.range())
            .finish_non_exhaustive()
    }
}

impl<'t, T: 'static> EntryMut<'t, T> {
    /// The index the handle was made for.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::<u8>::new();
    /// assert_eq!(tree.entry_mut(7).index(), 7);
    /// ```
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The range of the entry holding the index or, if none does, of the empty range holding
    /// it (`0..=u64::MAX` in an empty tree).
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert_range(10..=19, 1u32).unwrap();
    /// let range = tree.entry_mut(12).range();
    /// assert_eq!((range.first(), range.last()), (10, 19));
    /// let range = tree.entry_mut(25).range();
    /// assert_eq!((range.first(), range.last()), (20, u64::MAX));
    /// ```
    pub fn range(&self) -> Range {
        match self.finger.last() {
            Some(leaf) => {
                Range::new_unchecked(leaf.slot_min(leaf.offset), leaf.slot_max(leaf.offset))
            }
            None => Range::new_unchecked(0, u64::MAX),
        }
    }

    /// The value of the entry holding the index, if any.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert_range(10..=19, 1u32).unwrap();
    /// assert_eq!(tree.entry_mut(19).get().as_deref(), Some(&1));
    /// assert!(tree.entry_mut(20).get().is_none());
    /// ```
    ///
    /// Linux: the entry `mas_walk()` returns.
    pub fn get(&self) -> Option<Ref<'_, T>> {
        let leaf = self.finger.last()?;
        NonZeroUsize::new(leaf.node.slot(leaf.offset)).map(Values::<T>::borrow)
    }

    /// Calls `f` with each of these entries, in ascending order: the entry before `range`,
    /// every entry that intersects `range`, and the entry after it (each if there is one); see
    /// [`OwnedTree::for_each_around`]. The walk starts from the handle's leaf when `range`
    /// starts in it, and the handle stays where it is.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new_alloc();
    /// {
    ///     let mut writer = tree.exclusive();
    ///     for (i, first) in [10u64, 20, 30, 40].into_iter().enumerate() {
    ///         writer.insert_range(first..=first + 4, i as u32).unwrap();
    ///     }
    /// }
    /// // What a change of 31..=33 may touch or merge with, then the change, from one walk.
    /// let entry = tree.entry_mut(31);
    /// let mut seen = Vec::new();
    /// entry.for_each_around(31..=33, |range, &value| seen.push((range.first(), value)));
    /// assert_eq!(seen, [(20, 1), (30, 2), (40, 3)]);
    /// entry.store(31..=33, 7).unwrap();
    /// assert_eq!(tree.get(32).as_deref(), Some(&7));
    /// ```
    ///
    /// Linux: `vma_prev()`, `for_each_vma_range()` and `vma_next()` on the `vma_iterator` that
    /// the operation then stores through.
    pub fn for_each_around(&self, range: impl RangeBounds<u64>, f: impl FnMut(Range, &T)) {
        let Some(range) = Range::from_bounds(range) else {
            return;
        };
        if range.first() == self.index {
            around(self.finger, range.last(), f);
        } else {
            let mut path = self.finger.clone();
            walk_from(self.tree.core(), rcu::exclusive(), &mut path, range.first());
            around(&path, range.last(), f);
        }
    }

    /// Stores `value` over `range`, as [`WriteGuard::store_range`] does, starting from the
    /// handle's leaf when `range` starts in it.
    ///
    /// # Errors
    ///
    /// `InvalidRange` or `OutOfMemory`, with the value handed back; the tree is unchanged.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new_alloc();
    /// tree.exclusive().insert_range(0..=99, 1u32).unwrap();
    /// tree.entry_mut(40).store(40..=59, 2).unwrap();
    /// assert_eq!(tree.get_range(50).map(|(r, v)| (r.first(), r.last(), *v)), Some((40, 59, 2)));
    /// assert_eq!(tree.get(60).as_deref(), Some(&1));
    /// ```
    ///
    /// Linux: `mas_store_gfp()` on the walked `ma_state`.
    #[doc(alias = "mas_store_gfp")]
    pub fn store(self, range: impl RangeBounds<u64>, value: T) -> Result<(), StoreError<T>>
    where
        T: Clone,
    {
        let Some(range) = Range::from_bounds(range) else {
            return Err(StoreError::new(StoreErrorKind::InvalidRange, value));
        };
        let word = Values::<T>::into_word(value);
        self.write(range, Some(word)).map_err(|OutOfMemory| {
            StoreError::new(StoreErrorKind::OutOfMemory, Values::<T>::take(word))
        })
    }

    /// Empties `range`, as [`WriteGuard::clear_range`] does, starting from the handle's leaf
    /// when `range` starts in it.
    ///
    /// # Errors
    ///
    /// `InvalidRange` or `OutOfMemory`; the tree is unchanged.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert_range(0..=99, 1u32).unwrap();
    /// let entry = tree.entry_mut(99);
    /// entry.clear(90..=99).unwrap();
    /// assert_eq!(tree.get_range(5).map(|(r, _)| r.last()), Some(89));
    /// ```
    ///
    /// Linux: `mas_store_gfp()` of `NULL` on the walked `ma_state`.
    pub fn clear(self, range: impl RangeBounds<u64>) -> Result<(), ClearError>
    where
        T: Clone,
    {
        let range = Range::from_bounds(range).ok_or(ClearError::InvalidRange)?;
        self.write(range, None)
            .map_err(|OutOfMemory| ClearError::OutOfMemory)
    }

    /// Stores `word` (`None`: nothing) over `range`, from the handle's leaf when `range`
    /// starts in it: what [`store`](Self::store) and [`clear`](Self::clear) share. The finger
    /// stays on the leaf written when the store was made there in place, and is emptied
    /// otherwise.
    fn write(self, range: Range, word: Option<NonZeroUsize>) -> Result<(), OutOfMemory>
    where
        T: Clone,
    {
        let Self {
            tree,
            finger,
            index,
        } = self;
        let (first, last) = (range.first(), range.last());
        if first != index {
            walk_from(tree.core(), rcu::exclusive(), finger, first);
        }
        let cloner = Some(Values::<T>::clone_word as fn(NonZeroUsize) -> NonZeroUsize);
        let mut w = tree.exclusive_writer();
        if w.store_in_leaf(finger, first, last, word, cloner) {
            // Every node of the finger is still in the tree.
            return Ok(());
        }
        // The general path may replace any node of the walk: the finger goes first, and the
        // writer gets a copy, shortened to its borrow of the tree.
        let mut left = Path::new();
        left.extend(finger.iter().copied());
        finger.clear();
        w.store_walked(&mut left, first, last, word, cloner)
            .map(drop)
    }
}

#[cfg(feature = "std")]
impl<T: Clone + Send + 'static> OwnedTree<T> {
    /// A copy, node by node; see [`MapleTree::try_clone`].
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the copy's nodes could not be allocated.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert(3, 30u32).unwrap();
    /// assert_eq!(tree.try_clone().unwrap().get(3).as_deref(), Some(&30));
    /// ```
    ///
    /// Linux: `__mt_dup()`.
    pub fn try_clone(&self) -> Result<Self, OutOfMemory> {
        self.tree.try_clone().map(Self::from)
    }
}

#[cfg(not(feature = "std"))]
impl<T: Clone + 'static> OwnedTree<T> {
    /// A copy, node by node; see [`MapleTree::try_clone`].
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the copy's nodes could not be allocated.
    pub fn try_clone(&self) -> Result<Self, OutOfMemory> {
        self.tree.try_clone().map(Self::from)
    }
}

impl<T: 'static> From<MapleTree<T>> for OwnedTree<T> {
    /// Takes the tree: from now on only the owner of the result writes it.
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert(1, 'x').unwrap();
    /// let owned = maple_tree::OwnedTree::from(tree);
    /// assert_eq!(owned.get(1).as_deref(), Some(&'x'));
    /// ```
    fn from(tree: MapleTree<T>) -> Self {
        Self {
            finger: Path::new(),
            tree,
        }
    }
}

impl<T: 'static> Default for OwnedTree<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for OwnedTree<T> {
    /// The entries as a map, as [`MapleTree`] prints them.
    ///
    /// ```
    /// let mut tree = maple_tree::OwnedTree::new();
    /// tree.exclusive().insert_range(0..=9, "a").unwrap();
    /// assert_eq!(format!("{tree:?}"), r#"{0..=9: "a"}"#);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
