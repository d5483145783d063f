//! Read and write guards: the two ways into a tree.

use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroUsize;
use core::ops::RangeBounds;

use crate::cursor::{Cursor, CursorState, Found, Iter};
use crate::entries::Gaps;
use crate::error::{
    AllocError, AllocErrorKind, ClearError, GapError, InsertError, InsertErrorKind, OutOfMemory,
    StoreError, StoreErrorKind,
};
use crate::gap;
use crate::node::entry::{Ref, Values};
use crate::node::pool::{Pool, out_of_memory};
use crate::range::Range;
use crate::rcu::{self, Guard};
use crate::root::Core;
use crate::search::GapRequest;
#[cfg(feature = "std")]
use crate::sync::{AtomicUsize, MutexGuard, Ordering};
use crate::walk;
use crate::write::{Reservation, Writer};

/// Looks up the entry containing `index`, walking again whenever a read turns out stale.
///
/// The leaf is confirmed after its slot's word and range are read; the internal nodes on the way
/// need not be (see [`crate::walk`]).
///
/// Linux: `mtree_lookup_walk()`.
pub(crate) fn lookup(core: &Core, guard: &Guard, index: u64) -> Option<(Range, NonZeroUsize)> {
    'restart: loop {
        let mut frame = walk::root_frame(core, guard)?;
        loop {
            frame.seek(index);
            if frame.node.is_leaf() {
                let Ok((word, range)) = frame.read_slot(frame.offset) else {
                    continue 'restart;
                };
                return NonZeroUsize::new(word).map(|w| (range, w));
            }
            frame = frame
                .child_frame()
                .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        }
    }
}

/// Looks up the entry containing `index` for the tree's writer, whose reads no write can race
/// (it is the only writer): nothing needs validating, and the pivot scan needs no bound, since
/// a node that is not full holds its maximum in the pivot at its end (N1), which stops it.
///
/// Linux: `mtree_lookup_walk()` under the tree's lock.
#[inline]
pub(crate) fn lookup_writer(
    core: &Core,
    guard: &Guard,
    index: u64,
) -> Option<(Range, NonZeroUsize)> {
    let mut node = core.root.load(guard)?;
    let (mut min, mut max) = (0, u64::MAX);
    loop {
        let end = node.end();
        let full = node.kind().pivots();
        let i = if end == full && node.pivot(full - 1) < index {
            full
        } else {
            let mut i = 0;
            while node.pivot(i) < index {
                i += 1;
            }
            i
        };
        let lo = if i == 0 { min } else { node.pivot(i - 1) + 1 };
        let hi = if i < end { node.pivot(i) } else { max };
        if node.is_leaf() {
            return NonZeroUsize::new(node.slot(i)).map(|w| (Range::new_unchecked(lo, hi), w));
        }
        node = node
            .child(i)
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        (min, max) = (lo, hi);
    }
}

/// The first entry that intersects `[first, last]`, for a reader no write can race (the tree's
/// writer, an [`OwnedTree`](crate::OwnedTree)), when the leaf holding `first` settles it: the
/// entry there, else the one in the next slot of that leaf (empty slots are never adjacent).
/// `None` when the answer lies beyond that leaf, for a cursor to find.
///
/// Linux: `mt_find()` under the tree's lock.
pub(crate) fn find_writer(
    core: &Core,
    guard: &Guard,
    first: u64,
    last: u64,
) -> Option<Option<(Range, NonZeroUsize)>> {
    let mut path = walk::Path::new();
    if !walk::walk_to_writer(core, guard, &mut path, first) {
        return Some(None);
    }
    let leaf = path[path.len() - 1];
    let i = leaf.offset;
    if let Some(word) = NonZeroUsize::new(leaf.node.slot(i)) {
        return Some(Some((
            Range::new_unchecked(leaf.slot_min(i), leaf.slot_max(i)),
            word,
        )));
    }
    if i == leaf.end {
        return None;
    }
    let next_first = leaf.slot_min(i + 1);
    if next_first > last {
        return Some(None);
    }
    NonZeroUsize::new(leaf.node.slot(i + 1))
        .map(|word| Some((Range::new_unchecked(next_first, leaf.slot_max(i + 1)), word)))
}

/// Read access to a tree: everything reached through it stays valid until it drops.
///
/// Holding a guard delays the freeing of what writers replace, so hold it for a batch of reads,
/// not for ever.
///
/// # Examples
///
/// ```
/// let tree = maple_tree::MapleTree::new();
/// tree.insert_range(1..=5, [1u8; 4]).unwrap();
/// let guard = tree.read();
/// let (range, value) = guard.get_range(3).unwrap();
/// assert_eq!((range.first(), range.last()), (1, 5));
/// assert_eq!(*value, [1u8; 4]);
/// ```
///
/// Linux: code between `rcu_read_lock()` and `rcu_read_unlock()`.
pub struct ReadGuard<'t, T: 'static> {
    core: &'t Core,
    guard: rcu::Pin,
    values: PhantomData<&'t T>,
}

impl<T: 'static> fmt::Debug for ReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard").finish_non_exhaustive()
    }
}

macro_rules! read_api {
    () => {
        /// The value at `index`.
        ///
        /// Linux: `mtree_load()`.
        #[doc(alias = "mtree_load")]
        pub fn get(&self, index: u64) -> Option<Ref<'_, T>> {
            self.get_range(index).map(|(_, v)| v)
        }

        /// The entry containing `index`: its whole range and its value.
        ///
        /// Linux: `mas_walk()`.
        #[doc(alias = "mas_walk")]
        pub fn get_range(&self, index: u64) -> Option<Found<'_, T>> {
            self.lookup_word(index)
                .map(|(r, w)| (r, Values::<T>::borrow(w)))
        }

        /// The first entry that intersects `range`: the one containing its first index, else
        /// the first one starting inside it. `None` for an empty range.
        ///
        /// The same as `self.range(range).next()`, without the iterator's second cursor.
        ///
        /// Linux: `mt_find()`.
        #[doc(alias = "mt_find")]
        pub fn find(&self, range: impl RangeBounds<u64>) -> Option<Found<'_, T>> {
            let range = Range::from_bounds(range)?;
            // A reader no write can race settles most finds in the leaf it walks to.
            if !Self::VALIDATES
                && let Some(found) =
                    find_writer(self.core(), self.rcu(), range.first(), range.last())
            {
                return found.map(|(r, w)| (r, Values::<T>::borrow(w)));
            }
            self.cursor(range.first()).find(range.last())
        }

        /// The last entry that intersects `range`: the one containing its last index, else the
        /// last one ending inside it. `None` for an empty range.
        ///
        /// The same as `self.range(range).next_back()`, without the iterator's second cursor.
        ///
        /// Linux: `mas_find_rev()`.
        #[doc(alias = "mas_find_rev")]
        pub fn find_rev(&self, range: impl RangeBounds<u64>) -> Option<Found<'_, T>> {
            let range = Range::from_bounds(range)?;
            self.cursor(range.last()).find_rev(range.first())
        }

        /// Whether a value is stored at `index`.
        pub fn contains(&self, index: u64) -> bool {
            self.lookup_word(index).is_some()
        }

        /// The entry with the lowest range.
        pub fn first(&self) -> Option<Found<'_, T>> {
            self.cursor(0).find(u64::MAX)
        }

        /// The entry with the highest range.
        pub fn last(&self) -> Option<Found<'_, T>> {
            self.cursor(u64::MAX).find_rev(0)
        }

        /// The free ranges inside `range` (runs of indices that hold no value), each cut to
        /// `range`, in ascending order; [`next_back`](DoubleEndedIterator::next_back) gives them
        /// from the top. O(1) per range after the first, like [`iter`](Self::iter).
        ///
        /// # Examples
        ///
        /// ```
        /// use maple_tree::{MapleTree, Range};
        ///
        /// let tree = MapleTree::new();
        /// tree.insert_range(10..20, 1u32).unwrap();
        /// tree.insert_range(30..40, 2).unwrap();
        /// let guard = tree.read();
        /// let gaps: Vec<Range> = guard.gaps(5..50).collect();
        /// assert_eq!(format!("{gaps:?}"), "[5..=9, 20..=29, 40..=49]");
        /// ```
        ///
        /// Linux: the empty ranges of `mas_next_range()`.
        pub fn gaps(&self, range: impl RangeBounds<u64>) -> Gaps<'_, T> {
            Gaps::new(self.core(), self.rcu(), range, Self::VALIDATES)
        }

        /// Every entry, in ascending order.
        pub fn iter(&self) -> Iter<'_, T> {
            Iter::new(self.core(), self.rcu(), .., Self::VALIDATES)
        }

        /// Every entry that intersects `range`, in ascending order. An entry that starts before
        /// the range but reaches into it is included.
        pub fn range(&self, range: impl RangeBounds<u64>) -> Iter<'_, T> {
            Iter::new(self.core(), self.rcu(), range, Self::VALIDATES)
        }

        /// A cursor that will walk to `index`.
        pub fn cursor(&self, index: u64) -> Cursor<'_, T> {
            Cursor::new(self.core(), self.rcu(), index, Self::VALIDATES)
        }

        /// The first fit for a gap request; see [`MapleTree::find_gap`](crate::MapleTree::find_gap).
        ///
        /// # Errors
        ///
        /// [`GapError::NoSpace`] if nothing fits; the other variants for a rejected request.
        ///
        /// Linux: `mas_empty_area()`, `mas_empty_area_rev()`.
        pub fn find_gap_for(&self, request: GapRequest) -> Result<u64, GapError> {
            let query = request.query()?;
            gap::search(self.core(), self.rcu(), &query, request.top_down).ok_or(GapError::NoSpace)
        }

        /// See [`MapleTree::find_gap`](crate::MapleTree::find_gap).
        ///
        /// # Errors
        ///
        /// [`GapError::NoSpace`] if nothing fits; the other variants for a rejected request.
        ///
        /// Linux: `mas_empty_area()`.
        #[doc(alias = "mas_empty_area")]
        pub fn find_gap(&self, range: impl RangeBounds<u64>, size: u64) -> Result<u64, GapError> {
            self.find_gap_for(GapRequest::new(range, size))
        }

        /// See [`MapleTree::find_gap_rev`](crate::MapleTree::find_gap_rev).
        ///
        /// # Errors
        ///
        /// As for [`find_gap`](Self::find_gap).
        ///
        /// Linux: `mas_empty_area_rev()`.
        #[doc(alias = "mas_empty_area_rev")]
        pub fn find_gap_rev(
            &self,
            range: impl RangeBounds<u64>,
            size: u64,
        ) -> Result<u64, GapError> {
            self.find_gap_for(GapRequest::new(range, size).top_down())
        }

        /// Number of entries.
        pub fn len(&self) -> usize {
            self.core().len()
        }

        /// Whether the tree holds no value.
        pub fn is_empty(&self) -> bool {
            self.core().len() == 0
        }
    };
}

pub(crate) use read_api;

impl<'t, T: 'static> ReadGuard<'t, T> {
    pub(crate) fn new(core: &'t Core) -> Self {
        Self {
            core,
            guard: rcu::pin(),
            values: PhantomData,
        }
    }

    pub(crate) fn rcu(&self) -> &Guard {
        rcu::guard_of(&self.guard)
    }

    fn core(&self) -> &'t Core {
        self.core
    }

    pub(crate) fn get_cloned(&self, index: u64) -> Option<T>
    where
        T: Clone,
    {
        self.get_range_word(index)
            .map(|(_, w)| Values::<T>::clone_value(w))
    }

    pub(crate) fn get_range_word(&self, index: u64) -> Option<(Range, NonZeroUsize)> {
        lookup(self.core, self.rcu(), index)
    }

    /// A reader's cursors and iterators confirm what they read (R1).
    const VALIDATES: bool = true;

    /// The entry containing `index`, read as a reader must (validated).
    fn lookup_word(&self, index: u64) -> Option<(Range, NonZeroUsize)> {
        lookup(self.core, self.rcu(), index)
    }

    read_api!();
}

impl<'g, T: 'static> IntoIterator for &'g ReadGuard<'_, T> {
    type Item = Found<'g, T>;
    type IntoIter = Iter<'g, T>;

    /// Every entry, as [`ReadGuard::iter`].
    fn into_iter(self) -> Iter<'g, T> {
        self.iter()
    }
}

impl<'g, T: 'static> IntoIterator for &'g WriteGuard<'_, T> {
    type Item = Found<'g, T>;
    type IntoIter = Iter<'g, T>;

    /// Every entry, as [`WriteGuard::iter`].
    fn into_iter(self) -> Iter<'g, T> {
        self.iter()
    }
}

/// Which thread holds a tree's lock, so that taking it twice on one thread panics at once
/// instead of waiting for itself for ever.
///
/// The holder is named by the address of a thread-local, which no two live threads share. Only
/// the holder stores its own name and only it clears it, so a thread that reads its own name
/// back (Relaxed is enough: it reads its own store) holds the lock.
#[cfg(feature = "std")]
#[derive(Debug, Default)]
pub(crate) struct LockOwner(AtomicUsize);

#[cfg(feature = "std")]
impl LockOwner {
    /// This thread's name. Under loom, whose threads share one OS thread, there are no names
    /// and no check.
    fn me() -> usize {
        #[cfg(not(maple_loom))]
        {
            std::thread_local!(static NAME: u8 = const { 0 });
            NAME.with(|name| core::ptr::from_ref(name).addr())
        }
        #[cfg(maple_loom)]
        0
    }

    /// Panics if this thread holds the lock already.
    #[track_caller]
    pub(crate) fn check(&self) {
        let me = Self::me();
        assert!(
            me == 0 || self.0.load(Ordering::Relaxed) != me,
            "MapleTree::lock: this thread already holds this tree's lock (a WriteGuard from \
             lock() is alive on it, perhaps while calling a method of the tree that takes the \
             lock itself); waiting would deadlock. Write through the guard held, or drop it first"
        );
    }

    fn hold(&self) {
        self.0.store(Self::me(), Ordering::Relaxed);
    }

    fn release(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

enum PoolAccess<'t> {
    /// RCU mode: the lock, and the record of who holds it.
    #[cfg(feature = "std")]
    Locked(MutexGuard<'t, Pool>, &'t LockOwner),
    Exclusive(&'t mut Pool),
}

impl PoolAccess<'_> {
    /// The pool, through the lock or the borrow.
    fn pool(&mut self) -> &mut Pool {
        match self {
            #[cfg(feature = "std")]
            PoolAccess::Locked(p, _) => p,
            PoolAccess::Exclusive(p) => p,
        }
    }
}

/// The writer of a tree: from [`MapleTree::lock`](crate::MapleTree::lock) (RCU mode, readers may run) or from
/// [`MapleTree::exclusive`](crate::MapleTree::exclusive) (no reader can exist).
///
/// It has the read API too, seeing its own writes at once.
///
/// # Examples
///
/// ```
/// let tree = maple_tree::MapleTree::new();
/// let mut w = tree.lock();
/// w.store_range(0..=9, 1u32).unwrap();
/// w.store_range(5..=14, 2u32).unwrap();
/// assert_eq!(w.get(4).as_deref(), Some(&1));
/// assert_eq!(w.get(5).as_deref(), Some(&2));
/// ```
pub struct WriteGuard<'t, T: 'static> {
    core: &'t Core,
    pool: PoolAccess<'t>,
    /// Pinned in RCU mode; `None` in exclusive mode.
    guard: Option<Guard>,
    values: PhantomData<&'t T>,
}

impl<T: 'static> fmt::Debug for WriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteGuard")
            .field("exclusive", &self.guard.is_none())
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Drop for WriteGuard<'_, T> {
    /// In RCU mode, hands what this guard's writes took out of the tree to the reclaimer, as
    /// one batch (see the crate docs: "Where values are dropped"); then clears the record of the
    /// lock's holder, before the lock itself is released.
    fn drop(&mut self) {
        if let Some(guard) = &self.guard {
            let pool = self.pool.pool();
            // NOTE: the reclaimer may drop the values on another thread. Only
            // `WriteGuard::locked` makes RCU-mode writers, and it requires `T: Send`.
            pool.hand_over(guard, Values::<T>::drop_word);
        }
        #[cfg(feature = "std")]
        if let PoolAccess::Locked(_, owner) = &self.pool {
            owner.release();
        }
    }
}

impl<'t, T: 'static> WriteGuard<'t, T> {
    /// An RCU-mode writer. Values it removes are dropped after a grace period, on whichever
    /// thread runs the deferred drop, hence `T: Send`: an RCU-mode writer exists only for such
    /// values.
    #[cfg(feature = "std")]
    pub(crate) fn locked(core: &'t Core, pool: MutexGuard<'t, Pool>, owner: &'t LockOwner) -> Self
    where
        T: Send,
    {
        owner.hold();
        Self {
            core,
            pool: PoolAccess::Locked(pool, owner),
            guard: Some(rcu::pin()),
            values: PhantomData,
        }
    }

    pub(crate) fn exclusive(core: &'t Core, pool: &'t mut Pool) -> Self {
        Self {
            core,
            pool: PoolAccess::Exclusive(pool),
            guard: None,
            values: PhantomData,
        }
    }

    pub(crate) fn rcu(&self) -> &Guard {
        self.guard.as_ref().unwrap_or_else(|| rcu::exclusive())
    }

    fn core(&self) -> &'t Core {
        self.core
    }

    /// The fault-injection budget of the tree's pool.
    #[cfg(all(feature = "fault-injection", feature = "std"))]
    pub(crate) fn pool_budget(&self) -> Option<u64> {
        match &self.pool {
            #[cfg(feature = "std")]
            PoolAccess::Locked(p, _) => p.budget(),
            PoolAccess::Exclusive(p) => p.budget(),
        }
    }

    /// Whether this writer has the tree to itself (no reader can exist).
    pub fn is_exclusive(&self) -> bool {
        self.guard.is_none()
    }

    /// The writer's cursors and iterators need not confirm what they read: no write can race
    /// them.
    const VALIDATES: bool = false;

    /// The entry containing `index`, read by the writer (no write can race it).
    #[inline]
    fn lookup_word(&self, index: u64) -> Option<(Range, NonZeroUsize)> {
        lookup_writer(self.core, self.rcu(), index)
    }

    /// Checks every structural invariant of the tree this guard writes; see
    /// [`MapleTree::check_invariants`](crate::MapleTree::check_invariants), which takes the
    /// writer lock this guard already holds.
    ///
    /// # Errors
    ///
    /// The first [`InvariantViolation`](crate::InvariantViolation) found.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// let mut writer = tree.lock();
    /// writer.insert_range(0..=9, 1u32).unwrap();
    /// writer.check_invariants().unwrap();
    /// ```
    ///
    /// Linux: `mt_validate()`, called under the tree lock.
    pub fn check_invariants(&self) -> Result<(), crate::InvariantViolation> {
        crate::validate::check(self.core, self.rcu())
    }

    /// Runs one write operation.
    pub(crate) fn with_writer<R>(&mut self, op: impl FnOnce(&mut Writer<'_, T>) -> R) -> R {
        op(&mut self.writer())
    }

    /// The tree's writer, for as long as this borrow of the guard.
    pub(crate) fn writer(&mut self) -> Writer<'_, T> {
        let exclusive = self.guard.is_none();
        let guard: &Guard = match &self.guard {
            Some(g) => g,
            None => rcu::exclusive(),
        };
        Writer::new(self.core, self.pool.pool(), guard, exclusive)
    }

    /// See [`MapleTree::insert`](crate::MapleTree::insert).
    ///
    /// # Errors
    ///
    /// As for [`MapleTree::insert_range`](crate::MapleTree::insert_range).
    ///
    /// Linux: `mtree_insert()`.
    pub fn insert(&mut self, index: u64, value: T) -> Result<(), InsertError<T>> {
        self.insert_range(Range::single(index), value)
    }

    /// See [`MapleTree::insert_range`](crate::MapleTree::insert_range).
    ///
    /// # Errors
    ///
    /// `Occupied`, `InvalidRange` or `OutOfMemory`, with the value handed back.
    ///
    /// Linux: `mtree_insert_range()`.
    pub fn insert_range(
        &mut self,
        range: impl RangeBounds<u64>,
        value: T,
    ) -> Result<(), InsertError<T>> {
        let Some(range) = Range::from_bounds(range) else {
            return Err(InsertError::new(InsertErrorKind::InvalidRange, value));
        };
        let (first, last) = (range.first(), range.last());
        self.with_writer(|w| {
            let word = Values::<T>::into_word(value);
            match w.insert(first, last, word) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(InsertError::new(
                    InsertErrorKind::Occupied,
                    Values::<T>::take(word),
                )),
                Err(OutOfMemory) => Err(InsertError::new(
                    InsertErrorKind::OutOfMemory,
                    Values::<T>::take(word),
                )),
            }
        })
    }

    /// See [`MapleTree::store`](crate::MapleTree::store).
    ///
    /// # Errors
    ///
    /// `OutOfMemory`, with the value handed back.
    ///
    /// Linux: `mtree_store()`.
    pub fn store(&mut self, index: u64, value: T) -> Result<(), StoreError<T>>
    where
        T: Clone,
    {
        self.store_range(Range::single(index), value)
    }

    /// See [`MapleTree::store_range`](crate::MapleTree::store_range).
    ///
    /// # Errors
    ///
    /// `InvalidRange` or `OutOfMemory`, with the value handed back.
    ///
    /// Linux: `mtree_store_range()`, `mas_store_gfp()`.
    pub fn store_range(
        &mut self,
        range: impl RangeBounds<u64>,
        value: T,
    ) -> Result<(), StoreError<T>>
    where
        T: Clone,
    {
        let Some(range) = Range::from_bounds(range) else {
            return Err(StoreError::new(StoreErrorKind::InvalidRange, value));
        };
        let (first, last) = (range.first(), range.last());
        self.with_writer(|w| {
            let word = Values::<T>::into_word(value);
            w.store(first, last, Some(word), Some(Values::<T>::clone_word))
                .map(drop)
                .map_err(|OutOfMemory| {
                    StoreError::new(StoreErrorKind::OutOfMemory, Values::<T>::take(word))
                })
        })
    }

    /// See [`MapleTree::clear_range`](crate::MapleTree::clear_range).
    ///
    /// # Errors
    ///
    /// `InvalidRange` or `OutOfMemory`; the tree is unchanged.
    pub fn clear_range(&mut self, range: impl RangeBounds<u64>) -> Result<(), ClearError>
    where
        T: Clone,
    {
        let range = Range::from_bounds(range).ok_or(ClearError::InvalidRange)?;
        let (first, last) = (range.first(), range.last());
        self.with_writer(|w| {
            w.store(first, last, None, Some(Values::<T>::clone_word))
                .map(drop)
                .map_err(|OutOfMemory| ClearError::OutOfMemory)
        })
    }

    /// See [`MapleTree::erase`](crate::MapleTree::erase). In exclusive mode the original value is returned; in RCU mode
    /// a clone, and the original is dropped once no reader can see it.
    ///
    /// Aborts, as `Vec` does, if a node cannot be allocated; [`try_erase`](Self::try_erase)
    /// reports it instead.
    ///
    /// Linux: `mtree_erase()`, `mas_erase()`.
    pub fn erase(&mut self, index: u64) -> Option<T>
    where
        T: Clone,
    {
        self.try_erase(index)
            .unwrap_or_else(|OutOfMemory| out_of_memory())
    }

    /// [`erase`](Self::erase), reporting a failed node allocation: erasing can need nodes when
    /// the leaf it empties merges with a neighbour.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`]; the tree is unchanged.
    ///
    /// Linux: `mtree_erase()`.
    pub fn try_erase(&mut self, index: u64) -> Result<Option<T>, OutOfMemory>
    where
        T: Clone,
    {
        let exclusive = self.is_exclusive();
        self.with_writer(|w| {
            let Some(word) = w.erase(index, exclusive)? else {
                return Ok(None);
            };
            // In RCU mode the original is dropped after a grace period; this writer is pinned,
            // so it is still alive to clone.
            Ok(Some(if exclusive {
                Values::<T>::take(word)
            } else {
                Values::<T>::clone_value(word)
            }))
        })
    }

    /// Reserves every node a store of `value` over `range` may need, so that the
    /// store itself ([`Prealloc::store`]) cannot fail and allocates nothing.
    ///
    /// The count is the worst case for this store on the tree as it is, worked out as the
    /// kernel does: nothing for a store that changes one leaf in place, one node for a leaf
    /// copied in RCU mode, `2h + 1` for a split, and `3h + 1` for a spanning store or a
    /// rebalance (which may take in a cousin node), in a tree of height `h`. The reservation is for one store only: storing consumes
    /// it, and dropping it unused drops the value and leaves the nodes in the pool.
    ///
    /// # Errors
    ///
    /// `InvalidRange` if the range is empty, `OutOfMemory` if the nodes could not be reserved;
    /// the value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// let mut writer = tree.lock();
    /// for i in 0..100u32 {
    ///     writer.insert_range(u64::from(i) * 10..u64::from(i) * 10 + 5, i).unwrap();
    /// }
    /// // Reserve first (this may fail), then store (this cannot).
    /// let reservation = writer.preallocate(3..1000, 7u32).unwrap();
    /// assert!(reservation.nodes() > 0); // a spanning store
    /// reservation.store();
    /// assert_eq!(writer.get(500).as_deref(), Some(&7));
    /// ```
    ///
    /// Linux: `mas_preallocate()` and `mas_store_prealloc()`.
    #[doc(alias = "mas_preallocate")]
    pub fn preallocate(
        &mut self,
        range: impl RangeBounds<u64>,
        value: T,
    ) -> Result<Prealloc<'_, 't, T>, StoreError<T>>
    where
        T: Clone,
    {
        let Some(range) = Range::from_bounds(range) else {
            return Err(StoreError::new(StoreErrorKind::InvalidRange, value));
        };
        let (first, last) = (range.first(), range.last());
        let word = Values::<T>::into_word(value);
        match self.reserve_for(first, last, Some(word)) {
            Ok(reservation) => Ok(Prealloc {
                writer: self,
                first,
                last,
                word: Some(word),
                reservation,
            }),
            Err(OutOfMemory) => Err(StoreError::new(
                StoreErrorKind::OutOfMemory,
                Values::<T>::take(word),
            )),
        }
    }

    /// Reserves every node emptying `range` may need; see [`preallocate`](Self::preallocate).
    ///
    /// # Errors
    ///
    /// [`ClearError::InvalidRange`] if the range is empty, [`ClearError::OutOfMemory`] if the
    /// nodes could not be reserved.
    pub fn preallocate_clear(
        &mut self,
        range: impl RangeBounds<u64>,
    ) -> Result<Prealloc<'_, 't, T>, ClearError>
    where
        T: Clone,
    {
        let range = Range::from_bounds(range).ok_or(ClearError::InvalidRange)?;
        let (first, last) = (range.first(), range.last());
        let reservation = self
            .reserve_for(first, last, None)
            .map_err(|OutOfMemory| ClearError::OutOfMemory)?;
        Ok(Prealloc {
            writer: self,
            first,
            last,
            word: None,
            reservation,
        })
    }

    fn reserve_for(
        &mut self,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
    ) -> Result<Reservation, OutOfMemory>
    where
        T: Clone,
    {
        self.with_writer(|w| w.reserve_store(first, last, word, Some(Values::<T>::clone_word)))
    }

    /// See [`MapleTree::clear`](crate::MapleTree::clear).
    pub fn clear(&mut self) {
        self.with_writer(|w| w.clear());
    }

    /// See [`MapleTree::alloc_range`](crate::MapleTree::alloc_range).
    ///
    /// # Errors
    ///
    /// The search's [`GapError`] or `OutOfMemory`, with the value handed back.
    ///
    /// Linux: `mtree_alloc_range()`.
    #[doc(alias = "mtree_alloc_range")]
    pub fn alloc_range(
        &mut self,
        range: impl RangeBounds<u64>,
        size: u64,
        value: T,
    ) -> Result<u64, AllocError<T>> {
        self.alloc_range_for(GapRequest::new(range, size), value)
    }

    /// See [`MapleTree::alloc_range_rev`](crate::MapleTree::alloc_range_rev).
    ///
    /// # Errors
    ///
    /// As for [`alloc_range`](Self::alloc_range).
    ///
    /// Linux: `mtree_alloc_rrange()`.
    #[doc(alias = "mtree_alloc_rrange")]
    pub fn alloc_range_rev(
        &mut self,
        range: impl RangeBounds<u64>,
        size: u64,
        value: T,
    ) -> Result<u64, AllocError<T>> {
        self.alloc_range_for(GapRequest::new(range, size).top_down(), value)
    }

    /// Finds a fit for `request`, stores `value` there and returns the start.
    ///
    /// # Errors
    ///
    /// The search's [`GapError`] or `OutOfMemory`, with the value handed back.
    ///
    /// Linux: `mtree_alloc_range()`, `mtree_alloc_rrange()`.
    pub fn alloc_range_for(&mut self, request: GapRequest, value: T) -> Result<u64, AllocError<T>> {
        let query = match request.query() {
            Ok(query) => query,
            Err(e) => return Err(AllocError::new(AllocErrorKind::Gap(e), value)),
        };
        let core = self.core;
        self.with_writer(|w| {
            // The search leaves the path on the fit: the store continues from that leaf
            // instead of walking from the root again.
            let mut path = walk::Path::new();
            let Some(start) = gap::search_path(core, w.guard, &query, request.top_down, &mut path)
            else {
                return Err(AllocError::new(
                    AllocErrorKind::Gap(GapError::NoSpace),
                    value,
                ));
            };
            let last = start + (request.size - 1);
            let word = Values::<T>::into_word(value);
            w.store_from(&mut path, start, last, Some(word))
                .map_err(|OutOfMemory| {
                    AllocError::new(AllocErrorKind::OutOfMemory, Values::<T>::take(word))
                })?;
            Ok(start)
        })
    }

    /// A cursor that can write, starting at `index`.
    pub fn cursor_mut(&mut self, index: u64) -> CursorMut<'_, 't, T> {
        CursorMut {
            writer: self,
            index,
            last: index,
            state: CursorState::Start,
        }
    }

    read_api!();
}

/// A cursor that moves like [`Cursor`] and can also write where it stands.
///
/// After a write, the cursor stands on the written range. Every move walks from the root, so
/// the cursor never keeps a stale path across the writes it makes.
///
/// # Examples
///
/// ```
/// let tree = maple_tree::MapleTree::new();
/// let mut writer = tree.lock();
/// for i in 0..5u32 {
///     writer.insert_range(u64::from(i) * 10..=u64::from(i) * 10 + 4, i).unwrap();
/// }
/// let mut cursor = writer.cursor_mut(0);
/// // Erase every other entry while walking forwards.
/// while let Some((range, value)) = cursor.find(u64::MAX) {
///     if value % 2 == 1 {
///         cursor.erase();
///     }
///     let _ = range;
/// }
/// drop(cursor);
/// let left: Vec<u32> = writer.iter().map(|(_, v)| *v).collect();
/// assert_eq!(left, [0, 2, 4]);
/// ```
///
/// Linux: `struct ma_state` used with `mas_store()` and `mas_erase()`.
pub struct CursorMut<'w, 't, T: 'static> {
    writer: &'w mut WriteGuard<'t, T>,
    index: u64,
    last: u64,
    state: CursorState,
}

impl<T: 'static> fmt::Debug for CursorMut<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CursorMut")
            .field("index", &self.index)
            .field("last", &self.last)
            .field("state", &self.state)
            .finish()
    }
}

impl<T: 'static> CursorMut<'_, '_, T> {
    /// Runs a read-cursor move from the saved position and saves where it ends.
    fn navigate<R>(&mut self, op: impl FnOnce(&mut Cursor<'_, T>) -> Option<R>) -> Option<R> {
        let mut cursor = Cursor::new(self.writer.core, self.writer.rcu(), self.index, false);
        cursor.restore(self.index, self.last, self.state);
        let found = op(&mut cursor);
        let range = cursor.range();
        self.index = range.first();
        self.last = range.last();
        self.state = cursor.state();
        found
    }

    /// The cursor's state.
    pub fn state(&self) -> CursorState {
        self.state
    }

    /// The range the cursor stands on.
    pub fn range(&self) -> Range {
        Range::new_unchecked(self.index, self.last)
    }

    /// Moves to `index`, forgetting the position. Linux: `mas_set()`.
    pub fn set(&mut self, index: u64) {
        self.index = index;
        self.last = index;
        self.state = CursorState::Start;
    }

    /// Sets the range the next [`store`](Self::store) or [`insert`](Self::insert) writes.
    ///
    /// # Errors
    ///
    /// [`StoreErrorKind::InvalidRange`] if the range is empty.
    ///
    /// Linux: `mas_set_range()`.
    pub fn set_range(&mut self, range: impl RangeBounds<u64>) -> Result<(), StoreErrorKind> {
        let range = Range::from_bounds(range).ok_or(StoreErrorKind::InvalidRange)?;
        self.index = range.first();
        self.last = range.last();
        self.state = CursorState::Start;
        Ok(())
    }

    /// Walks to the cursor's index; returns whether a value is there.
    ///
    /// Linux: `mas_walk()`.
    pub fn walk(&mut self) -> bool {
        self.navigate(|c| c.walk().map(|_| ())).is_some()
    }

    /// As [`Cursor::find`]; returns the range and a clone of the value.
    pub fn find(&mut self, limit: u64) -> Option<(Range, T)>
    where
        T: Clone,
    {
        self.navigate(|c| c.find(limit).map(|(r, _)| r))
            .and_then(|r| self.cloned(r))
    }

    /// As [`Cursor::next`]; returns the range and a clone of the value.
    pub fn next(&mut self, limit: u64) -> Option<(Range, T)>
    where
        T: Clone,
    {
        self.navigate(|c| c.next(limit).map(|(r, _)| r))
            .and_then(|r| self.cloned(r))
    }

    /// As [`Cursor::prev`]; returns the range and a clone of the value.
    pub fn prev(&mut self, min: u64) -> Option<(Range, T)>
    where
        T: Clone,
    {
        self.navigate(|c| c.prev(min).map(|(r, _)| r))
            .and_then(|r| self.cloned(r))
    }

    fn cloned(&self, range: Range) -> Option<(Range, T)>
    where
        T: Clone,
    {
        lookup(self.writer.core, self.writer.rcu(), range.first())
            .map(|(r, w)| (r, Values::<T>::clone_value(w)))
    }

    /// Stores `value` over the cursor's range (see [`WriteGuard::store_range`]).
    ///
    /// # Errors
    ///
    /// `OutOfMemory`, with the value handed back.
    ///
    /// Linux: `mas_store_gfp()`.
    pub fn store(&mut self, value: T) -> Result<(), StoreError<T>>
    where
        T: Clone,
    {
        self.writer.store_range(self.range(), value)?;
        self.state = CursorState::Start;
        Ok(())
    }

    /// Stores `value` over the cursor's range if it is empty (see
    /// [`WriteGuard::insert_range`]).
    ///
    /// # Errors
    ///
    /// `Occupied` or `OutOfMemory`, with the value handed back.
    ///
    /// Linux: `mas_insert()`.
    pub fn insert(&mut self, value: T) -> Result<(), InsertError<T>> {
        self.writer.insert_range(self.range(), value)?;
        self.state = CursorState::Start;
        Ok(())
    }

    /// Erases the entry containing the cursor's index and returns its value. The cursor then
    /// stands on the empty range left behind.
    ///
    /// Linux: `mas_erase()`.
    pub fn erase(&mut self) -> Option<T>
    where
        T: Clone,
    {
        let value = self.writer.erase(self.index)?;
        self.navigate(|c| c.walk().map(|_| ()));
        Some(value)
    }

    /// Pauses the cursor; the next move continues after the current range.
    ///
    /// Linux: `mas_pause()`.
    pub fn pause(&mut self) {
        self.state = CursorState::Paused;
    }
}

/// Nodes reserved for one store, made by [`WriteGuard::preallocate`] or
/// [`WriteGuard::preallocate_clear`]. Storing consumes it, so a reservation sized for one store
/// cannot be used for two (the July 2022 review thread's bug); dropping it unused drops its value
/// and leaves the nodes in the tree's pool.
///
/// Linux: a `ma_state` in `MA_STATE_PREALLOC`.
pub struct Prealloc<'w, 't, T: 'static> {
    writer: &'w mut WriteGuard<'t, T>,
    first: u64,
    last: u64,
    word: Option<NonZeroUsize>,
    reservation: Reservation,
}

impl<T: 'static> fmt::Debug for Prealloc<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prealloc")
            .field("first", &self.first)
            .field("last", &self.last)
            .field("nodes", &self.reservation.nodes)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Prealloc<'_, '_, T> {
    /// Nodes reserved.
    pub fn nodes(&self) -> usize {
        self.reservation.nodes
    }

    /// Carries out the store the reservation was made for. It cannot fail, runs no user code
    /// (a clone the store needs was made by the reservation) and performs no heap allocation:
    /// nodes come from the reservation, and what the store takes out of the tree is recorded
    /// in room reserved with them.
    ///
    /// Linux: `mas_store_prealloc()`.
    #[doc(alias = "mas_store_prealloc")]
    pub fn store(mut self) {
        let (first, last, word) = (self.first, self.last, self.word.take());
        let clone = self.reservation.clone.take();
        self.writer
            .with_writer(|w| w.store_reserved(first, last, word, clone));
    }
}

impl<T: 'static> Drop for Prealloc<'_, '_, T> {
    fn drop(&mut self) {
        if let Some(word) = self.word.take() {
            drop(Values::<T>::take(word));
        }
        if let Some(clone) = self.reservation.clone.take() {
            drop(Values::<T>::take(clone));
        }
    }
}
