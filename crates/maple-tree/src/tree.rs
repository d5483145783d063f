//! [`MapleTree`]: the tree, its shared state and its convenience API.

use alloc::string::String;
use core::fmt;
use core::marker::PhantomData;
use core::num::NonZeroUsize;
use core::ops::RangeBounds;

use crate::sync::{Arc, Mutex};

use crate::dump::{Dump, DumpFormat};
use crate::entries::{Entries, TreeGaps};
use crate::error::GapError;
#[cfg(feature = "std")]
use crate::error::{AllocError, ClearError, InsertError, StoreError};
#[cfg(feature = "std")]
use crate::guard::LockOwner;
use crate::guard::{ReadGuard, WriteGuard};
use crate::layout::{self, TreeLayout};
use crate::node::entry::{ValueMut, Values};
use crate::node::pool::{Pool, PoolStats};
use crate::range::Range;
use crate::rcu;
use crate::root::Core;
use crate::search::GapRequest;
use crate::stats::{NodeCounter, Stats};
use crate::validate::{self, InvariantViolation};
use crate::walk::{self, Path};
use crate::write::Writer;

/// A range B-tree after the Linux kernel's Maple Tree: non-overlapping inclusive ranges
/// `[first, last]` of `u64` indices, each mapped to a value.
///
/// # Two kinds of tree
///
/// - [`MapleTree::new`] makes a *range tree*: internal nodes hold 16 children, so the tree is
///   shallower and lookups and stores are a little faster.
/// - [`MapleTree::new_alloc`] makes an *allocation tree*: internal nodes hold 10 children and
///   the largest empty run below each, so [`find_gap`](Self::find_gap) and
///   [`alloc_range`](Self::alloc_range) take O(log n). In a range tree they work too, but visit
///   the leaves of the range one by one until one holds a fit: O(n) in the worst case.
///
/// # Reading and writing
///
/// - Readers take a [`ReadGuard`] with [`read`](Self::read). They never block and never see a
///   torn or misplaced entry while a writer changes the tree on another thread. Values are
///   borrowed for as long as the guard lives.
/// - Writers are serialised by the tree's lock. The methods on `&self` below take it for one
///   operation; [`lock`](Self::lock) holds it for several. Both work in *RCU mode*: every change
///   a reader could see half-done is made on a copy, and what is replaced is freed only when
///   no reader can still see it.
/// - [`exclusive`](Self::exclusive) borrows the tree mutably, so no reader can exist: writes
///   then rewrite nodes in place and free at once, which is faster.
///
/// # Values
///
/// Any `T: 'static`. Small integers and the like stay in their slots; other values are boxed by
/// the tree (see the [crate docs](crate#values) for the cost per type). Readers see them as
/// [`Ref`](crate::Ref)s. Stores that may cut an existing entry in two need `T: Clone` to give the
/// second piece its own value, and writing through `&self` needs `T: Send`.
///
/// # Examples
///
/// ```
/// use maple_tree::MapleTree;
///
/// let tree = MapleTree::new();
/// tree.store_range(0x1000..=0x4fff, 1u32).unwrap();
/// tree.store_range(0x2000..=0x2fff, 2u32).unwrap(); // cuts the first entry in two
/// assert_eq!(tree.get(0x1fff), Some(1));
/// assert_eq!(tree.get(0x2800), Some(2));
/// assert_eq!(tree.get(0x3000), Some(1));
/// assert_eq!(tree.len(), 3);
/// assert_eq!(tree.erase(0x2800), Some(2));
/// assert_eq!(tree.get(0x2800), None);
/// tree.check_invariants().unwrap();
/// ```
///
/// Linux: `struct maple_tree`; the Rust binding's `MapleTree`.
#[doc(alias = "maple_tree")]
pub struct MapleTree<T: 'static> {
    core: Core,
    pool: Mutex<Pool>,
    stats: Arc<PoolStats>,
    /// Which thread holds `pool`'s lock, if any.
    #[cfg(feature = "std")]
    owner: LockOwner,
    values: PhantomData<T>,
}

impl<T: 'static> MapleTree<T> {
    /// An empty range tree.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree: maple_tree::MapleTree<u32> = maple_tree::MapleTree::new();
    /// assert!(tree.is_empty());
    /// ```
    ///
    /// Linux: `mt_init()`, `DEFINE_MTREE()`.
    #[doc(alias = "mt_init")]
    pub fn new() -> Self {
        Self::with_gaps(false)
    }

    /// An empty allocation tree, which tracks gaps for [`find_gap`](Self::find_gap) and
    /// [`alloc_range`](Self::alloc_range).
    ///
    /// # Examples
    ///
    /// ```
    /// let tree: maple_tree::MapleTree<u32> = maple_tree::MapleTree::new_alloc();
    /// assert!(tree.is_alloc());
    /// ```
    ///
    /// Linux: `mt_init_flags(mt, MT_FLAGS_ALLOC_RANGE)`; the Rust binding's `MapleTreeAlloc`.
    #[doc(alias = "MT_FLAGS_ALLOC_RANGE")]
    #[doc(alias = "MapleTreeAlloc")]
    pub fn new_alloc() -> Self {
        Self::with_gaps(true)
    }

    fn with_gaps(alloc: bool) -> Self {
        let pool = Pool::new();
        let stats = Arc::clone(pool.stats());
        Self {
            core: Core::new(alloc),
            pool: Mutex::new(pool),
            stats,
            #[cfg(feature = "std")]
            owner: LockOwner::default(),
            values: PhantomData,
        }
    }

    /// Whether this is an allocation tree (made by [`new_alloc`](Self::new_alloc)).
    pub fn is_alloc(&self) -> bool {
        self.core.alloc
    }

    /// The root state, for [`OwnedTree`](crate::OwnedTree), which reads it without a pin.
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// The exclusive-mode writer of [`exclusive`](Self::exclusive), without a guard around it:
    /// for [`OwnedTree`](crate::OwnedTree)'s single stores.
    pub(crate) fn exclusive_writer(&mut self) -> Writer<'_, T> {
        Writer::new(&self.core, self.pool.get_mut(), rcu::exclusive(), true)
    }

    /// Starts reading: pins the current thread so that everything reached through the guard
    /// stays valid until the guard drops. Never blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert(7, String::from("seven")).unwrap();
    /// let guard = tree.read();
    /// let seven = guard.get(7).unwrap(); // a `Ref<String>`, borrowed from the tree
    /// assert_eq!(*seven, "seven");
    /// assert_eq!(seven.len(), 5);
    /// ```
    ///
    /// Linux: `rcu_read_lock()`.
    #[doc(alias = "rcu_read_lock")]
    pub fn read(&self) -> ReadGuard<'_, T> {
        ReadGuard::new(&self.core)
    }

    /// A writer for a tree borrowed mutably: no reader can exist, so writes rewrite nodes in
    /// place and free what they replace at once (the kernel's non-RCU mode).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tree = maple_tree::MapleTree::new();
    /// let mut writer = tree.exclusive();
    /// for i in 0..1000u32 {
    ///     writer.insert(u64::from(i), i).unwrap();
    /// }
    /// drop(writer);
    /// assert_eq!(tree.len(), 1000);
    /// ```
    ///
    /// Linux: `mt_clear_in_rcu()`, but checked by the compiler.
    #[doc(alias = "mt_clear_in_rcu")]
    pub fn exclusive(&mut self) -> WriteGuard<'_, T> {
        let pool = self.pool.get_mut();
        WriteGuard::exclusive(&self.core, pool)
    }

    /// A clone of the value at `index`. Use [`read`](Self::read) to borrow instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(10..=20, 3u32).unwrap();
    /// assert_eq!(tree.get(15), Some(3));
    /// assert_eq!(tree.get(21), None);
    /// ```
    ///
    /// Linux: `mtree_load()`.
    #[doc(alias = "mtree_load")]
    pub fn get(&self, index: u64) -> Option<T>
    where
        T: Clone,
    {
        self.read().get_cloned(index)
    }

    /// The range of the entry containing `index`, with a clone of its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(10..=20, 3u32).unwrap();
    /// let (range, value) = tree.get_range(15).unwrap();
    /// assert_eq!((range.first(), range.last(), value), (10, 20, 3));
    /// ```
    ///
    /// Linux: `mas_walk()`.
    pub fn get_range(&self, index: u64) -> Option<(Range, T)>
    where
        T: Clone,
    {
        let guard = self.read();
        guard
            .get_range_word(index)
            .map(|(r, w)| (r, Values::<T>::clone_value(w)))
    }

    /// Whether a value is stored at `index`.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(10..20, 'a').unwrap();
    /// assert!(tree.contains(15));
    /// assert!(!tree.contains(20));
    /// ```
    pub fn contains(&self, index: u64) -> bool {
        self.read().contains(index)
    }

    /// The entry with the lowest range, with a clone of its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(30..40, 'b').unwrap();
    /// tree.insert_range(10..20, 'a').unwrap();
    /// let (range, value) = tree.first().unwrap();
    /// assert_eq!((range.first(), range.last(), value), (10, 19, 'a'));
    /// ```
    pub fn first(&self) -> Option<(Range, T)>
    where
        T: Clone,
    {
        self.read().first().map(|(r, v)| (r, T::clone(&v)))
    }

    /// The entry with the highest range, with a clone of its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(30..40, 'b').unwrap();
    /// tree.insert_range(10..20, 'a').unwrap();
    /// assert_eq!(tree.last().map(|(r, v)| (r.first(), v)), Some((30, 'b')));
    /// ```
    pub fn last(&self) -> Option<(Range, T)>
    where
        T: Clone,
    {
        self.read().last().map(|(r, v)| (r, T::clone(&v)))
    }

    /// Every entry in ascending order, with clones of the values. `&tree` iterates the same way
    /// (`for (range, value) in &tree`).
    ///
    /// The iterator needs no guard: it pins the tree only while it takes the next few entries
    /// out, so it never holds up reclamation for long, and a writer may change the tree between
    /// those batches (each entry returned was current when it was read; ranges still come
    /// strictly ascending). To borrow the values instead, iterate under a guard:
    /// `tree.read().iter()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(0..10, String::from("a")).unwrap();
    /// tree.insert_range(20..30, String::from("b")).unwrap();
    /// let values: Vec<String> = tree.iter().map(|(_, v)| v).collect();
    /// assert_eq!(values, ["a", "b"]);
    /// assert_eq!(tree.iter().rev().next().map(|(r, _)| r.first()), Some(20));
    /// for (range, value) in &tree {
    ///     assert_eq!(range.len(), 10);
    ///     assert_eq!(value.len(), 1);
    /// }
    /// ```
    ///
    /// Linux: `mt_for_each()`.
    pub fn iter(&self) -> Entries<'_, T>
    where
        T: Clone,
    {
        Entries::new(&self.core, ..)
    }

    /// Every entry that intersects `range`, in ascending order, with clones of the values; as
    /// [`iter`](Self::iter). An entry that starts before the range but reaches into it is
    /// included whole.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// for i in 0..10u64 {
    ///     tree.insert_range(i * 10..i * 10 + 5, i).unwrap();
    /// }
    /// let values: Vec<u64> = tree.range(25..=50).map(|(_, v)| v).collect();
    /// assert_eq!(values, [3, 4, 5]);
    /// ```
    pub fn range(&self, range: impl RangeBounds<u64>) -> Entries<'_, T>
    where
        T: Clone,
    {
        Entries::new(&self.core, range)
    }

    /// The free ranges inside `range` (runs of indices that hold no value), each cut to
    /// `range`, in ascending order; as [`iter`](Self::iter), without a guard. The same as
    /// rangemap's `gaps`. Every tree kind answers it by visiting the entries of the range.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_tree::{MapleTree, Range};
    ///
    /// let tree = MapleTree::new();
    /// tree.insert_range(10..20, ()).unwrap();
    /// tree.insert_range(20..30, ()).unwrap();
    /// tree.insert_range(40..50, ()).unwrap();
    /// let gaps: Vec<Range> = tree.gaps(..60).collect();
    /// assert_eq!(gaps, [Range::new(0, 9).unwrap(), Range::new(30, 39).unwrap(), Range::new(50, 59).unwrap()]);
    /// assert_eq!(tree.gaps(12..18).count(), 0);
    /// ```
    pub fn gaps(&self, range: impl RangeBounds<u64>) -> TreeGaps<'_, T> {
        TreeGaps::new(&self.core, range)
    }

    /// The value at `index`, to change in place: the tree is borrowed mutably, so no reader or
    /// other writer can exist meanwhile. The entry's range stays as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tree = maple_tree::MapleTree::new();
    /// tree.insert_range(0..10, String::from("a")).unwrap();
    /// tree.insert_range(10..20, 1u32.to_string()).unwrap();
    /// tree.get_mut(5).unwrap().push('b');
    /// assert_eq!(tree.get(9).as_deref(), Some("ab"));
    /// assert!(tree.get_mut(20).is_none());
    ///
    /// let mut counts = maple_tree::MapleTree::new();
    /// counts.insert_range(0..100, 0u32).unwrap();
    /// *counts.get_mut(50).unwrap() += 1; // an inline value is written back when the borrow ends
    /// assert_eq!(counts.get(0), Some(1));
    /// ```
    pub fn get_mut(&mut self, index: u64) -> Option<ValueMut<'_, T>> {
        let guard = rcu::exclusive();
        let mut path = Path::new();
        if !walk::walk_to(&self.core, guard, &mut path, index) {
            return None;
        }
        let leaf = path.last()?;
        let word = NonZeroUsize::new(leaf.node.slot(leaf.offset))?;
        Some(Values::<T>::borrow_mut(leaf.node, leaf.offset, word))
    }

    /// The lowest start `s` such that the `size` indices from `s` lie inside `range` and hold
    /// no value.
    ///
    /// Every gap and allocation call takes its arguments in this order: where (`range`), how
    /// many indices (`size`), then what to store.
    ///
    /// O(log n) in an allocation tree ([`new_alloc`](Self::new_alloc)), which records the
    /// largest gap below every child; O(n) in the worst case in a range tree, which visits the
    /// leaves of the range one by one.
    ///
    /// # Errors
    ///
    /// [`GapError::NoSpace`] if nothing fits (including a range smaller than `size`);
    /// `ZeroSize` or `InvalidRange` (an empty range) for a request the tree rejects.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new_alloc();
    /// tree.insert_range(0..100, 1u32).unwrap();
    /// tree.insert_range(110..200, 2u32).unwrap();
    /// assert_eq!(tree.find_gap(0..=1000, 10), Ok(100));
    /// assert_eq!(tree.find_gap(0..=1000, 11), Ok(200));
    /// assert_eq!(tree.find_gap(.., 11), Ok(200));
    /// ```
    ///
    /// Linux: `mas_empty_area()`.
    #[doc(alias = "mas_empty_area")]
    pub fn find_gap(&self, range: impl RangeBounds<u64>, size: u64) -> Result<u64, GapError> {
        self.read().find_gap_for(GapRequest::new(range, size))
    }

    /// The highest start `s` such that the `size` indices from `s` lie inside `range` and
    /// hold no value.
    ///
    /// # Errors
    ///
    /// As for [`find_gap`](Self::find_gap).
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new_alloc();
    /// tree.insert_range(100..200, 1u32).unwrap();
    /// assert_eq!(tree.find_gap_rev(0..300, 10), Ok(290));
    /// assert_eq!(tree.find_gap_rev(0..=250, 100), Ok(0));
    /// ```
    ///
    /// Linux: `mas_empty_area_rev()`.
    #[doc(alias = "mas_empty_area_rev")]
    pub fn find_gap_rev(&self, range: impl RangeBounds<u64>, size: u64) -> Result<u64, GapError> {
        self.read()
            .find_gap_for(GapRequest::new(range, size).top_down())
    }

    /// Number of entries (values), not counting empty ranges.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// Whether the tree holds no value.
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// Counters and sizes of the tree and its node pool, for reports, benchmarks and leak
    /// checks; see [`Stats`]. Costs a walk over every node (for [`Stats::nodes`]), under a read
    /// guard: beside a writer, the counters come from moments a few writes apart.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// for i in 0..100u32 {
    ///     tree.insert(u64::from(i) * 2, i).unwrap();
    /// }
    /// let stats = tree.stats();
    /// assert_eq!(stats.entries, 100);
    /// assert_eq!(stats.height, 2);
    /// assert!(stats.nodes > 1 && stats.live_nodes >= stats.nodes);
    /// assert_eq!(stats.node_bytes(), stats.nodes * 256);
    /// ```
    ///
    /// Linux: `mt_height()` for the height.
    #[doc(alias = "mt_height")]
    pub fn stats(&self) -> Stats {
        let guard = self.read();
        Stats {
            entries: self.core.len(),
            height: self.core.height(),
            nodes: validate::count_nodes(&self.core, guard.rcu()),
            live_nodes: self.stats.live(),
            pool_bytes: self.stats.reserved_bytes(),
            nodes_handed_out: self.stats.handed_out(),
            pool_refills: self.stats.refills(),
        }
    }

    /// Fault injection, for tests: from now on, node reservations may ask for `nodes` more
    /// nodes in all (`None`: no limit); the reservation that would go over fails with
    /// [`OutOfMemory`](crate::OutOfMemory) before its write changes anything. Needs the
    /// `fault-injection` feature; without it the pool has no such hook.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(feature = "fault-injection")] {
    /// let tree = maple_tree::MapleTree::new();
    /// tree.fail_reservations_after(Some(0));
    /// assert!(tree.insert(5, 1u32).is_err()); // the first leaf needs a node
    /// tree.fail_reservations_after(None);
    /// assert!(tree.insert(5, 1u32).is_ok());
    /// # }
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn fail_reservations_after(&self, nodes: Option<u64>) {
        self.pool.lock().set_budget(nodes);
    }

    /// A handle to the tree's node counters that outlives the tree, so a test can check that
    /// every node was freed after the tree is dropped and deferred frees have run.
    pub fn node_counter(&self) -> NodeCounter {
        NodeCounter(Arc::clone(&self.stats))
    }

    /// Checks every structural invariant and names the first one broken, with the node and
    /// range involved.
    ///
    /// It takes the writer lock for the walk, so that it checks one state of the tree: beside a
    /// writer it would see a change half made (a node just replaced, an entry count not yet
    /// updated). So it waits for a writer to finish; a thread that holds this tree's
    /// [`WriteGuard`] calls [`WriteGuard::check_invariants`] instead (calling this panics, as
    /// [`lock`](Self::lock) does, rather than wait for itself).
    ///
    /// # Errors
    ///
    /// The first [`InvariantViolation`] found.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new_alloc();
    /// for i in 0..1000u32 {
    ///     tree.insert_range(u64::from(i) * 16..=u64::from(i) * 16 + 9, i).unwrap();
    /// }
    /// assert!(tree.check_invariants().is_ok());
    /// ```
    ///
    /// Linux: `mt_validate()`.
    #[doc(alias = "mt_validate")]
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        #[cfg(feature = "std")]
        self.owner.check();
        let _writer = self.pool.lock();
        let pin = rcu::pin();
        validate::check(&self.core, rcu::guard_of(&pin))
    }

    /// An owned, structured copy of every node, for drawing or inspecting the tree: each
    /// node's place, kind and range, and each slot's range and content, with values printed by
    /// `value`.
    ///
    /// The walk runs under one read guard, as [`dump`](Self::dump) does; with a writer working
    /// beside it, each node is read consistently but the nodes may come from different moments
    /// (a node a writer replaced is marked [`dead`](crate::LayoutNode::dead)). Costs one pass over the
    /// nodes and one allocation per node and per value.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_tree::{LayoutKind, MapleTree, SlotContent};
    ///
    /// let tree = MapleTree::new();
    /// tree.insert_range(0x10..=0x1f, 7u32).unwrap();
    /// let layout = tree.layout(|v| format!("value {v}"));
    /// let root = layout.root().unwrap();
    /// assert_eq!(root.kind, LayoutKind::Leaf);
    /// assert_eq!((root.min, root.max), (0, u64::MAX));
    /// let slot = &root.slots[1];
    /// assert_eq!((slot.range.first(), slot.range.last()), (0x10, 0x1f));
    /// assert_eq!(slot.content, SlotContent::Value("value 7".into()));
    /// assert_eq!(root.slots[2].content, SlotContent::Empty);
    /// ```
    ///
    /// Linux: `mt_dump()`.
    #[doc(alias = "mt_dump")]
    pub fn layout(&self, value: impl Fn(&T) -> String) -> TreeLayout {
        let guard = self.read();
        layout::build::<T>(&self.core, guard.rcu(), value)
    }

    /// A printable view of every node, for debugging: one line per node with its range, kind
    /// and (in an allocation tree) gaps, and one per leaf slot with its range and its value in
    /// the value's `Debug` format (another with [`Dump::values`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_tree::{DumpFormat, MapleTree};
    ///
    /// let tree = MapleTree::new();
    /// tree.insert_range(0x10..=0x1f, String::from("sixteen")).unwrap();
    /// let text = tree.dump(DumpFormat::Hex).to_string();
    /// assert!(text.contains("0x10-0x1f: \"sixteen\"\n"));
    /// ```
    ///
    /// Linux: `mt_dump()`.
    #[doc(alias = "mt_dump")]
    pub fn dump(&self, format: DumpFormat) -> Dump<'_, T>
    where
        T: fmt::Debug,
    {
        Dump::new(&self.core, format, |value, f| fmt::Debug::fmt(value, f))
    }
}

/// Writing through `&self`: each of these takes the tree's lock, and the values they remove are
/// dropped once no reader can see them, possibly on another thread, hence `T: Send`. RCU mode
/// needs `std`.
#[cfg(feature = "std")]
impl<T: Send + 'static> MapleTree<T> {
    /// Takes the writer lock (blocking while another writer holds it) and returns a guard with
    /// the write API. Writes through it are RCU-safe: readers may run meanwhile.
    ///
    /// The lock is not re-entrant: while a thread holds the guard, every method of the tree that
    /// writes through `&self` (`insert`, `store_range`, `erase`, ...) takes the lock too, so
    /// calling one would wait for ever; it panics instead. Write through the guard.
    ///
    /// Values a writer removes in RCU mode are dropped after a grace period, on whichever thread
    /// runs the deferred drop, so writing through `&self` needs `T: Send`; a tree of values that
    /// are not (`Rc`) is written through [`exclusive`](Self::exclusive):
    ///
    /// ```compile_fail,E0277
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert(1, std::rc::Rc::new(5)).unwrap(); // `Rc` cannot be dropped on another thread
    /// ```
    ///
    /// # Panics
    ///
    /// If this thread holds the tree's lock already, with a message that says so.
    ///
    /// ```should_panic
    /// let tree = maple_tree::MapleTree::new();
    /// let mut writer = tree.lock();
    /// writer.insert(1, 1u32).unwrap();
    /// tree.insert(2, 2u32).unwrap(); // panics: this thread holds the lock (`writer`)
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// let mut writer = tree.lock();
    /// writer.insert_range(0..=9, 1u32).unwrap();
    /// writer.insert_range(10..=19, 2u32).unwrap();
    /// assert_eq!(writer.len(), 2);
    /// drop(writer);
    /// tree.insert(20, 3u32).unwrap(); // the lock is free again
    /// ```
    ///
    /// Linux: `mtree_lock()`; the Rust binding's `MapleTree::lock`.
    #[track_caller]
    #[doc(alias = "mtree_lock")]
    pub fn lock(&self) -> WriteGuard<'_, T> {
        self.owner.check();
        let pool = self.pool.lock();
        WriteGuard::locked(&self.core, pool, &self.owner)
    }

    /// Stores `value` at `index` if it is empty.
    ///
    /// # Errors
    ///
    /// [`InsertErrorKind::Occupied`](crate::InsertErrorKind::Occupied) if `index` holds a
    /// value; `OutOfMemory` if a node could not be allocated. The value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// assert!(tree.insert(5, 1u32).is_ok());
    /// assert!(tree.insert(5, 2u32).is_err());
    /// ```
    ///
    /// Linux: `mtree_insert()`.
    #[doc(alias = "mtree_insert")]
    pub fn insert(&self, index: u64, value: T) -> Result<(), InsertError<T>> {
        self.lock().insert(index, value)
    }

    /// Stores `value` over `range` if every index in it is empty.
    ///
    /// # Errors
    ///
    /// `Occupied` if any index of the range holds a value, `InvalidRange` if the range is
    /// empty, `OutOfMemory` if a node could not be allocated. The value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(10..20, 1u32).unwrap();
    /// assert!(tree.insert_range(0..=10, 2u32).is_err());
    /// assert!(tree.insert_range(0..=9, 2u32).is_ok());
    /// ```
    ///
    /// Linux: `mtree_insert_range()`.
    #[doc(alias = "mtree_insert_range")]
    pub fn insert_range(
        &self,
        range: impl RangeBounds<u64>,
        value: T,
    ) -> Result<(), InsertError<T>> {
        self.lock().insert_range(range, value)
    }

    /// Stores `value` at `index`, replacing what was there (an entry covering more than `index`
    /// keeps its other indices).
    ///
    /// # Errors
    ///
    /// `OutOfMemory` if a node could not be allocated; the value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.store(3, 1u32).unwrap();
    /// tree.store(3, 2u32).unwrap();
    /// assert_eq!(tree.get(3), Some(2));
    /// ```
    ///
    /// Linux: `mtree_store()`.
    #[doc(alias = "mtree_store")]
    pub fn store(&self, index: u64, value: T) -> Result<(), StoreError<T>>
    where
        T: Clone,
    {
        self.lock().store(index, value)
    }

    /// Stores `value` over `range`, replacing whatever was there. Entries that partly overlap
    /// the range keep the indices outside it; one entry cut in two is cloned.
    ///
    /// # Errors
    ///
    /// `InvalidRange` if the range is empty, `OutOfMemory` if a node could not be allocated.
    /// The value is handed back and the tree is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.store_range(0..100, 1u32).unwrap();
    /// tree.store_range(40..=59, 2u32).unwrap();
    /// let guard = tree.read();
    /// let ranges: Vec<_> = guard.iter().map(|(r, v)| (r.first(), r.last(), *v)).collect();
    /// assert_eq!(ranges, [(0, 39, 1), (40, 59, 2), (60, 99, 1)]);
    /// ```
    ///
    /// Linux: `mtree_store_range()`.
    #[doc(alias = "mtree_store_range")]
    pub fn store_range(&self, range: impl RangeBounds<u64>, value: T) -> Result<(), StoreError<T>>
    where
        T: Clone,
    {
        self.lock().store_range(range, value)
    }

    /// Empties `range`. Entries that partly overlap it keep the indices outside it.
    ///
    /// # Errors
    ///
    /// [`ClearError::InvalidRange`] if the range is empty, [`ClearError::OutOfMemory`] if a
    /// node could not be allocated (the tree is then unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.store_range(0..100, 1u32).unwrap();
    /// tree.clear_range(10..90).unwrap();
    /// assert_eq!(tree.get(9), Some(1));
    /// assert_eq!(tree.get(50), None);
    /// assert_eq!(tree.len(), 2);
    /// ```
    ///
    /// Linux: `mtree_store_range(mt, first, last, NULL, gfp)`.
    pub fn clear_range(&self, range: impl RangeBounds<u64>) -> Result<(), ClearError>
    where
        T: Clone,
    {
        self.lock().clear_range(range)
    }

    /// Removes the whole entry containing `index` and returns its value.
    ///
    /// Readers on other threads may still be looking at the removed value, so this returns a
    /// clone and drops the tree's copy once no reader can see it. Through
    /// [`exclusive`](Self::exclusive) the original is returned, without cloning.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(100..=199, 7u32).unwrap();
    /// assert_eq!(tree.erase(150), Some(7));
    /// assert_eq!(tree.get(100), None);
    /// assert_eq!(tree.erase(150), None);
    /// ```
    ///
    /// Linux: `mtree_erase()`.
    #[doc(alias = "mtree_erase")]
    pub fn erase(&self, index: u64) -> Option<T>
    where
        T: Clone,
    {
        self.lock().erase(index)
    }

    /// [`erase`](Self::erase), reporting a failed node allocation instead of aborting.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`](crate::OutOfMemory); the tree is unchanged.
    pub fn try_erase(&self, index: u64) -> Result<Option<T>, crate::OutOfMemory>
    where
        T: Clone,
    {
        self.lock().try_erase(index)
    }

    /// Removes every entry. Values are dropped once no reader can see them.
    ///
    /// Linux: `mtree_destroy()`.
    #[doc(alias = "mtree_destroy")]
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Finds the lowest free run of `size` indices inside `range`, stores `value` there and
    /// returns its start.
    ///
    /// # Errors
    ///
    /// The [`GapError`] of the search, or `OutOfMemory`; the value is handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new_alloc();
    /// assert_eq!(tree.alloc_range(.., 16, 1u32).unwrap(), 0);
    /// assert_eq!(tree.alloc_range(.., 16, 2u32).unwrap(), 16);
    /// assert_eq!(tree.get(20), Some(2));
    /// ```
    ///
    /// Linux: `mtree_alloc_range()`.
    #[doc(alias = "mtree_alloc_range")]
    pub fn alloc_range(
        &self,
        range: impl RangeBounds<u64>,
        size: u64,
        value: T,
    ) -> Result<u64, AllocError<T>> {
        self.lock()
            .alloc_range_for(GapRequest::new(range, size), value)
    }

    /// Finds the highest free run of `size` indices inside `range`, stores `value` there and
    /// returns its start.
    ///
    /// # Errors
    ///
    /// As for [`alloc_range`](Self::alloc_range).
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new_alloc();
    /// assert_eq!(tree.alloc_range_rev(..0x10000, 0x1000, 1u32).unwrap(), 0xf000);
    /// ```
    ///
    /// Linux: `mtree_alloc_rrange()`.
    #[doc(alias = "mtree_alloc_rrange")]
    pub fn alloc_range_rev(
        &self,
        range: impl RangeBounds<u64>,
        size: u64,
        value: T,
    ) -> Result<u64, AllocError<T>> {
        self.lock()
            .alloc_range_for(GapRequest::new(range, size).top_down(), value)
    }
}

#[cfg(feature = "std")]
impl<T: Clone + Send + 'static> MapleTree<T> {
    /// A copy of the tree, made node by node in one pass: every node is copied whole and every
    /// value cloned, so the copy has the same shape. Writers wait meanwhile; readers do not.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`](crate::OutOfMemory) if the copy's nodes could not be allocated; nothing
    /// is left behind.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new_alloc();
    /// for i in 0..1000u32 {
    ///     tree.insert_range(u64::from(i) * 16..=u64::from(i) * 16 + 9, i).unwrap();
    /// }
    /// let copy = tree.try_clone().unwrap();
    /// assert_eq!(copy.len(), 1000);
    /// assert_eq!(copy.stats().nodes, tree.stats().nodes);
    /// assert_eq!(copy.get(16 * 500 + 3), Some(500));
    /// ```
    ///
    /// Linux: `mtree_dup()`, `__mt_dup()` (what fork uses).
    #[doc(alias = "mtree_dup")]
    #[doc(alias = "__mt_dup")]
    pub fn try_clone(&self) -> Result<Self, crate::OutOfMemory> {
        let source = self.lock();
        #[cfg(feature = "fault-injection")]
        let budget = source.pool_budget();
        #[cfg(not(feature = "fault-injection"))]
        let budget = None;
        self.copy_under(source.rcu(), budget)
    }
}

/// Without `std` every writer holds the tree exclusively, so a shared borrow keeps writers out
/// and the copy needs no lock (nor `T: Send`).
#[cfg(not(feature = "std"))]
impl<T: Clone + 'static> MapleTree<T> {
    /// A copy of the tree, made node by node; see the `std` build's documentation.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`](crate::OutOfMemory) if the copy's nodes could not be allocated.
    pub fn try_clone(&self) -> Result<Self, crate::OutOfMemory> {
        let pin = rcu::pin();
        #[cfg(feature = "fault-injection")]
        let budget = self.pool.lock().budget();
        #[cfg(not(feature = "fault-injection"))]
        let budget = None;
        self.copy_under(rcu::guard_of(&pin), budget)
    }
}

impl<T: Clone + 'static> MapleTree<T> {
    /// The copy of [`try_clone`](Self::try_clone), made while no writer can run, with the
    /// source's fault-injection budget (`None` without that feature).
    fn copy_under(
        &self,
        guard: &rcu::Guard,
        budget: Option<u64>,
    ) -> Result<Self, crate::OutOfMemory> {
        let mut copy = Self::with_gaps(self.core.alloc);
        #[cfg(feature = "fault-injection")]
        copy.pool.get_mut().set_budget(budget);
        #[cfg(not(feature = "fault-injection"))]
        let _ = budget; // no pool budget without fault injection
        copy.exclusive()
            .with_writer(|w| w.duplicate(&self.core, guard))?;
        Ok(copy)
    }
}

#[cfg(feature = "std")]
impl<T: Clone + Send + 'static> Clone for MapleTree<T> {
    /// See [`MapleTree::try_clone`]; aborts if memory runs out, as std's collections do.
    fn clone(&self) -> Self {
        self.try_clone()
            .unwrap_or_else(|_| crate::node::pool::out_of_memory())
    }
}

#[cfg(not(feature = "std"))]
impl<T: Clone + 'static> Clone for MapleTree<T> {
    /// See [`MapleTree::try_clone`]; aborts if memory runs out, as `alloc`'s collections do.
    fn clone(&self) -> Self {
        self.try_clone()
            .unwrap_or_else(|_| crate::node::pool::out_of_memory())
    }
}

impl<T: 'static> MapleTree<T> {
    /// Fills an empty tree with entries sorted by range, in one pass: leaves are packed as full
    /// as the node rules allow, then each level above, instead of splitting node after node.
    ///
    /// Each entry is `(range, value)`; each range must start after the previous one ends.
    ///
    /// # Errors
    ///
    /// [`BulkLoadError`](crate::BulkLoadError): a tree that is not empty, an entry with an
    /// empty range or one out of order (its value handed back), or a failed allocation. The
    /// tree is left empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut tree = maple_tree::MapleTree::new();
    /// let start = |i: u32| u64::from(i) * 10;
    /// tree.bulk_load((0..10_000u32).map(|i| (start(i)..start(i) + 5, i)))
    ///     .unwrap();
    /// assert_eq!(tree.get(50_002), Some(5000));
    /// tree.check_invariants().unwrap();
    /// ```
    ///
    /// Linux: `mas_expected_entries()` and the stores of its bulk mode.
    #[doc(alias = "mas_expected_entries")]
    pub fn bulk_load<R: RangeBounds<u64>>(
        &mut self,
        entries: impl IntoIterator<Item = (R, T)>,
    ) -> Result<(), crate::BulkLoadError<T>> {
        use crate::BulkLoadError;
        use crate::bulk::Staged;

        if !self.is_empty() {
            return Err(BulkLoadError::NotEmpty);
        }
        // What has been taken from `entries` so far: if anything below returns early or
        // unwinds (the iterator may panic), its values are dropped with it.
        let mut staged = Staged::<T>::default();
        let mut next_free = Some(0u64);
        for (index, (range, value)) in entries.into_iter().enumerate() {
            let Some(range) = Range::from_bounds(range) else {
                return Err(BulkLoadError::InvalidRange { index, value });
            };
            let (first, last) = (range.first(), range.last());
            let Some(free) = next_free.filter(|&free| first >= free) else {
                return Err(BulkLoadError::Unsorted { index, value });
            };
            if first > free {
                staged.push(first - 1, None);
            }
            staged.push(last, Some(value));
            next_free = last.checked_add(1);
        }
        if next_free.is_some() {
            staged.push(u64::MAX, None);
        }
        let loaded = self
            .exclusive()
            .with_writer(|w| w.load_items(staged.items(), staged.values()));
        loaded.map_err(|crate::OutOfMemory| BulkLoadError::OutOfMemory)?;
        staged.loaded();
        Ok(())
    }
}

impl<T: 'static> Default for MapleTree<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Drop for MapleTree<T> {
    fn drop(&mut self) {
        self.exclusive().clear();
    }
}
