//! The write side: one store of a value (or of nothing) over a range, by the cheapest path the
//! shape of the tree allows.
//!
//! # Choosing a path
//!
//! The decision follows the kernel's `mas_wr_store_type()`, in this order:
//!
//! | condition | path ([`StoreKind`]) | nodes allocated |
//! |---|---|---|
//! | the tree is empty | `StoreRoot`: a first leaf | 1 |
//! | the range is `[0, u64::MAX]` | `NewRoot`: one leaf, or an empty tree | 0 or 1 |
//! | the range crosses the leaf that holds `first` | `Spanning` | up to 3 per level + 1 |
//! | the range is exactly one slot (and empty neighbours need no merging) | `ExactFit`: one word written in place | 0 |
//! | the new content overflows the leaf | `Split`, pushing upward | 2 per level + 1 |
//! | the new content underflows a non-root leaf | `Rebalance` with a neighbour | 2 per level |
//! | exclusive mode, content grows at the end | `Append`, in place | 0 |
//! | exclusive mode, same slot count | `SlotStore`, in place | 0 |
//! | exclusive mode, otherwise | `NodeStore`, rewritten in place | 0 |
//! | RCU mode, otherwise | `NodeStore`, copy on write | 1 |
//!
//! In exclusive mode, an insert into one empty slot and any store that stays inside one leaf
//! and fits it (an overwrite, a clear, a trim or a hole over existing entries) skip the
//! planner: they are written straight into the leaf (`insert_in_place`, and `overwrite.rs`),
//! with the layout the table gives.
//!
//! An empty store over `[first, last]` first widens over the empty slots next to it, so empty
//! ranges stay maximal. A store that empties the end of a leaf that is not the rightmost one
//! crosses into the next leaf, so that its first empty slot merges; as in the kernel, this is a
//! spanning store.
//!
//! # Doing it safely
//!
//! Every path follows the read and write protocol of the crate docs (W1-W4): new nodes are
//! built off to the side and published with a single pointer store, so a concurrent reader sees
//! the tree either before or after the write. Nothing in the live tree changes before every
//! allocation has succeeded (the nodes, and room to record what the write takes out) and the
//! clone for a cut entry is made: a failure leaves the tree as it was. What the write takes out
//! (nodes, values, whole subtrees) is recorded in the writer's
//! [`Retirements`](crate::node::retire::Retirements) and freed after publication: at once in
//! exclusive mode, after a grace period in RCU mode (see [`crate::node::retire`]).

pub(crate) mod big_node;
mod direct;
mod leaf;
mod overwrite;
mod rebuild;

use core::marker::PhantomData;
use core::num::NonZeroUsize;

use arrayvec::ArrayVec;

use crate::error::OutOfMemory;
use crate::gap;
use crate::node::NodeRef;
use crate::node::entry::Values;
use crate::node::pool::Pool;
use crate::node::retire::Panics;
use crate::rcu::Guard;
use crate::root::Core;
use crate::walk::{self, Frame, Path};
use big_node::{BigNode, Item};

/// Which write path a store took. Linux: `enum store_type`.
#[doc(alias = "store_type")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// First store into an empty tree (Linux: `wr_store_root`).
    StoreRoot,
    /// The store covered every index (Linux: `wr_new_root`).
    NewRoot,
    /// One slot overwritten in place (Linux: `wr_exact_fit`).
    ExactFit,
    /// New slots added at the end of the leaf, in place (Linux: `wr_append`).
    Append,
    /// Same number of slots, changed in place (Linux: `wr_slot_store`).
    SlotStore,
    /// One leaf rewritten (Linux: `wr_node_store`).
    NodeStore,
    /// A leaf overflowed and split, possibly up to the root (Linux: `wr_split_store`).
    Split,
    /// A leaf underflowed and took in a neighbour (Linux: `wr_rebalance`).
    Rebalance,
    /// The store crossed leaves (Linux: `wr_spanning_store`).
    Spanning,
}

/// How a store will be carried out, decided before anything changes.
pub(crate) enum Plan {
    /// A store into an empty tree, or over every index.
    Root(StoreKind),
    /// One slot gets a new word.
    ExactFit,
    /// The leaf holding the range is edited, in place or by a rebuild.
    Leaf {
        edit: leaf::Edit,
        kind: StoreKind,
        in_place: bool,
    },
    /// The store crosses leaves: a rebuild from the leaf of `first` to the right path's.
    Spanning { edit: leaf::Edit },
}

pub(crate) use leaf::Request;

/// Whether a store covers exactly the one slot it starts in, so that one word changes.
fn is_exact_fit(leaf: &Frame<'_>, req: &Request) -> bool {
    let lo = leaf.offset;
    if leaf.slot_min(lo) != req.first || leaf.slot_max(lo) != req.last {
        return false;
    }
    let node = leaf.node;
    // An empty store next to an empty slot must merge with it: the slot count changes.
    req.word != 0
        || !((lo > 0 && node.slot(lo - 1) == 0) || (lo < leaf.end && node.slot(lo + 1) == 0))
}

/// The edit of an insert of `word` over `[first, last]`, inside the empty slot `leaf.offset`,
/// that overflows the leaf: the one [`leaf::plan`] would make (the new entry and what stays of
/// the empty range on each side; the slots beside an empty one hold values, so nothing
/// merges), for the split [`Writer::decide`] would choose. `None` if the insert fits.
#[inline(always)]
fn insert_split(leaf: &Frame<'_>, first: u64, last: u64, word: NonZeroUsize) -> Option<leaf::Edit> {
    let lo = leaf.offset;
    let (min, max) = (leaf.slot_min(lo), leaf.slot_max(lo));
    let added = usize::from(first > min) + usize::from(last < max);
    if leaf.end + 1 + added <= leaf.node.kind().slots() {
        return None;
    }
    let mut middle = ArrayVec::new();
    let item = |pivot, word| Item {
        pivot,
        word,
        gap: 0,
    };
    if first > min {
        middle.push(item(first - 1, 0));
    }
    middle.push(item(last, word.get()));
    if last < max {
        middle.push(item(max, 0));
    }
    Some(leaf::Edit::replacing(lo, middle, lo + 1))
}

/// The nodes a split of a leaf in a tree of `height` may take, at worst: a split grows each
/// level by at most one slot, so each level is cut into at most two nodes, and a new root may
/// come on top (`2h + 1`, as the kernel reserves).
fn split_nodes(height: usize) -> usize {
    2 * height + 1
}

/// The items a rebuild in a tree of `height` may retire, at worst, besides the values it
/// removes and the subtrees it cuts off: two nodes per level (the left and right paths), one
/// more per neighbour it takes in, and, when that neighbour sits under another parent, the
/// path nodes in between, at each level it does so: `h * (h + 5) + 2` bounds it all.
fn rebuild_room(height: usize) -> usize {
    height * (height + 5) + 2
}

/// The slots `first..=last` that an erase of the entry in slot `leaf.offset` leaves as one
/// empty slot: that slot and the empty slots beside it (an empty run is never longer than one
/// slot, so at most one on each side).
#[inline]
fn emptied_run(leaf: &Frame<'_>) -> (usize, usize) {
    let (node, lo) = (leaf.node, leaf.offset);
    let first = if lo > 0 && node.slot(lo - 1) == 0 {
        lo - 1
    } else {
        lo
    };
    let last = if lo < leaf.end && node.slot(lo + 1) == 0 {
        lo + 1
    } else {
        lo
    };
    (first, last)
}

/// The plan of an erase of the entry in the slot the walk in `left` ended on, when emptying it
/// (merged with the empty slots beside it) leaves a non-root leaf below its minimum: the
/// rebalance [`Writer::decide`] would choose, with the edit [`leaf::plan`] would make. `None`
/// otherwise, and for an erase that reaches into the next leaf (a spanning store).
fn erase_rebalance(left: &Path<'_>) -> Option<Plan> {
    let depth = left.len() - 1;
    let leaf = left[depth];
    let (node, lo, end) = (leaf.node, leaf.offset, leaf.end);
    let (first, last) = emptied_run(&leaf);
    let spans = lo == end && leaf.max < u64::MAX;
    if depth == 0 || spans || end - (last - first) + 1 >= node.kind().min_len() {
        return None;
    }
    let mut middle = ArrayVec::new();
    middle.push(Item {
        pivot: leaf.slot_max(last),
        word: 0,
        gap: 0,
    });
    Some(Plan::Leaf {
        edit: leaf::Edit::replacing(first, middle, last + 1),
        kind: StoreKind::Rebalance,
        in_place: false,
    })
}

/// The value word of a store that has not reached the tree yet: dropped if the store unwinds
/// (a clone panicked) before it is [`stored`](Self::stored).
struct Unstored<T: 'static> {
    word: Option<NonZeroUsize>,
    values: PhantomData<T>,
}

impl<T: 'static> Unstored<T> {
    fn new(word: usize) -> Self {
        Self {
            word: NonZeroUsize::new(word),
            values: PhantomData,
        }
    }

    /// The store goes ahead: the tree takes the word.
    fn stored(mut self) {
        self.word = None;
    }
}

impl<T: 'static> Drop for Unstored<T> {
    fn drop(&mut self) {
        if let Some(word) = self.word.take() {
            drop(Values::<T>::take(word));
        }
    }
}

/// How to clone a value word for the tail of an entry that a store cuts in two; `None` for
/// stores that cannot cut an entry (inserts into an empty range).
pub(crate) type Cloner = Option<fn(NonZeroUsize) -> NonZeroUsize>;

/// What one write adds and removes, worked out while it is planned. The nodes it unlinks and the
/// subtrees it cuts off go to the writer's retirements instead.
#[derive(Default)]
pub(crate) struct Disposal {
    /// Value words that lost all their indices (a store edits at most two leaves).
    values: ArrayVec<NonZeroUsize, 40>,
    /// A removed word the caller takes back instead of dropping (erase in exclusive mode).
    pub(crate) keep: Option<NonZeroUsize>,
    /// Values added to the tree.
    pub(crate) added: usize,
    /// Values removed from the tree.
    pub(crate) removed: usize,
    /// Subtrees a spanning store cuts off whole.
    covered: usize,
}

impl Disposal {
    /// Records that the value word in a slot lost all its indices.
    pub(crate) fn remove_value(&mut self, word: usize) {
        if let Some(w) = NonZeroUsize::new(word) {
            self.removed += 1;
            if self.keep != Some(w) {
                self.values.push(w);
            }
        }
    }
}

/// What a store reserved before changing anything: nodes, room to retire what it takes out,
/// and the clone for the tail of an entry it cuts in two (made then, so that the store itself
/// runs no user code and allocates nothing).
#[derive(Debug)]
pub(crate) struct Reservation {
    pub(crate) nodes: usize,
    pub(crate) clone: Option<NonZeroUsize>,
}

/// A writer: the tree's single writer for one operation or one lock guard.
///
/// In exclusive mode the caller held `&mut` to the tree, so no reader exists: paths may rewrite
/// nodes in place and unlinked nodes are recycled at once. In RCU mode every change that a
/// reader could see half-done is made on a copy.
pub(crate) struct Writer<'a, T> {
    pub(crate) core: &'a Core,
    pub(crate) pool: &'a mut Pool,
    pub(crate) guard: &'a Guard,
    pub(crate) exclusive: bool,
    values: PhantomData<fn(T) -> T>,
}

impl<'a, T: 'static> Writer<'a, T> {
    pub(crate) fn new(
        core: &'a Core,
        pool: &'a mut Pool,
        guard: &'a Guard,
        exclusive: bool,
    ) -> Self {
        Self {
            core,
            pool,
            guard,
            exclusive,
            values: PhantomData,
        }
    }

    /// Walks to the leaf holding `index`; `false` for an empty tree. A writer never meets a
    /// dead node: only it replaces nodes.
    pub(crate) fn walk(&self, path: &mut Path<'a>, index: u64) -> bool {
        walk::walk_to_writer(self.core, self.guard, path, index)
    }

    /// Stores `word` (`None`: nothing) over `[first, last]`.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the nodes the store may need could not be reserved; the tree is
    /// unchanged.
    pub(crate) fn store(
        &mut self,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        cloner: Cloner,
    ) -> Result<StoreKind, OutOfMemory> {
        let mut left = Path::new();
        if self.walk(&mut left, first)
            && self.exclusive
            && let Some(kind) = self.store_in_place(&left, first, last, word, cloner)
        {
            return Ok(kind);
        }
        let req = Request::new(first, last, word, cloner);
        self.store_at(&mut left, &req, &mut Disposal::default(), false)
    }

    /// Exclusive mode: a store made straight in the leaf `left` ends on, `left` being the walk
    /// to `first`, if it can be (see [`store_in_place`](Self::store_in_place)); `false`, having
    /// changed nothing, when it cannot. A store made there leaves every node of `left` in the
    /// tree, changing only that leaf's slots, pivots and end.
    pub(crate) fn store_in_leaf(
        &mut self,
        left: &Path<'a>,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        cloner: Cloner,
    ) -> bool {
        !left.is_empty()
            && self.exclusive
            && self
                .store_in_place(left, first, last, word, cloner)
                .is_some()
    }

    /// [`store`](Self::store), given `left`: the walk to `first` (empty for an empty tree),
    /// which it does not walk again.
    ///
    /// # Errors
    ///
    /// As for [`store`](Self::store); the tree is unchanged.
    ///
    /// Linux: `mas_wr_prealloc_setup()`, which keeps an active `ma_state` whose node holds the
    /// range.
    pub(crate) fn store_walked(
        &mut self,
        left: &mut Path<'a>,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        cloner: Cloner,
    ) -> Result<StoreKind, OutOfMemory> {
        let req = Request::new(first, last, word, cloner);
        self.store_at(left, &req, &mut Disposal::default(), false)
    }

    /// Exclusive mode: a store, given the walk `left` to `first`, made straight in the leaf if
    /// it can be: into one empty slot, or over slots of the one leaf; `None` for the general
    /// path.
    #[inline(always)]
    fn store_in_place(
        &mut self,
        left: &Path<'a>,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        cloner: Cloner,
    ) -> Option<StoreKind> {
        if let Some(word) = word
            && let Some(kind) = self.store_into_empty(left, first, last, word, false)
        {
            return Some(kind);
        }
        self.overwrite_in_place(left, first, last, word.map_or(0, NonZeroUsize::get), cloner)
    }

    /// Stores `word` over `[first, last]`, all of it empty, given `path`: the frames from the
    /// root to the leaf slot holding `first` (empty for an empty tree), as a gap search left
    /// them.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the nodes the store may need could not be reserved; the tree is
    /// unchanged.
    pub(crate) fn store_from(
        &mut self,
        path: &mut Path<'a>,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
    ) -> Result<StoreKind, OutOfMemory> {
        if !path.is_empty()
            && self.exclusive
            && let Some(word) = word
            && let Some(kind) = self.store_into_empty(path, first, last, word, true)
        {
            return Ok(kind);
        }
        let req = Request::new(first, last, word, None);
        self.store_at(path, &req, &mut Disposal::default(), false)
    }

    /// [`insert_in_place`](Self::insert_in_place) for a store that finds `[first, last]` inside
    /// the one empty slot of the leaf that the walk (or gap search, `searched`) in `left` ended
    /// on; `None` when it does not.
    fn store_into_empty(
        &mut self,
        left: &Path<'a>,
        first: u64,
        last: u64,
        word: NonZeroUsize,
        searched: bool,
    ) -> Option<StoreKind> {
        let leaf = left[left.len() - 1];
        let lo = leaf.offset;
        if leaf.node.slot(lo) != 0 || leaf.slot_min(lo) > first || leaf.slot_max(lo) < last {
            return None;
        }
        self.insert_in_place(left, first, last, word, searched)
    }

    /// Stores `word` over `[first, last]` if every index there is empty; `Ok(None)` if not.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the nodes the store may need could not be reserved; the tree is
    /// unchanged.
    pub(crate) fn insert(
        &mut self,
        first: u64,
        last: u64,
        word: NonZeroUsize,
    ) -> Result<Option<StoreKind>, OutOfMemory> {
        let mut left = Path::new();
        if self.walk(&mut left, first) {
            let leaf = left[left.len() - 1];
            // Empty runs are maximal and never cross a leaf, so one empty slot reaching `last`
            // proves the whole range empty.
            if leaf.node.slot(leaf.offset) != 0 || leaf.slot_max(leaf.offset) < last {
                return Ok(None);
            }
            if let Some(edit) = insert_split(&leaf, first, last, word) {
                if self.exclusive {
                    return self.split_insert(&mut left, &edit).map(Some);
                }
                // What `decide` would find, found without its general planning.
                let mut plan = Plan::Leaf {
                    edit,
                    kind: StoreKind::Split,
                    in_place: false,
                };
                let req = Request::new(first, last, Some(word), None);
                let mut disp = Disposal {
                    added: 1,
                    ..Disposal::default()
                };
                let mut right = Path::new();
                return self
                    .carry_out(&mut left, &mut right, &mut plan, &req, &mut disp, false)
                    .map(Some);
            }
            // The insert fits in the leaf, which is all `insert_in_place` asks.
            if self.exclusive
                && let Some(kind) = self.insert_in_place(&left, first, last, word, false)
            {
                return Ok(Some(kind));
            }
        }
        let req = Request::new(first, last, Some(word), None);
        self.store_at(&mut left, &req, &mut Disposal::default(), false)
            .map(Some)
    }

    /// Removes the entry containing `index` and returns its word, which the caller takes
    /// (`take`) or leaves to be dropped after a grace period.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the nodes the store may need could not be reserved; the tree is
    /// unchanged.
    pub(crate) fn erase(
        &mut self,
        index: u64,
        take: bool,
    ) -> Result<Option<NonZeroUsize>, OutOfMemory> {
        let mut left = Path::new();
        if !self.walk(&mut left, index) {
            return Ok(None);
        }
        let leaf = left[left.len() - 1];
        let Some(word) = NonZeroUsize::new(leaf.node.slot(leaf.offset)) else {
            return Ok(None);
        };
        if self.exclusive && take && self.erase_in_place(&left) {
            return Ok(Some(word));
        }
        let mut disp = Disposal {
            keep: take.then_some(word),
            ..Disposal::default()
        };
        let req = Request::new(
            leaf.slot_min(leaf.offset),
            leaf.slot_max(leaf.offset),
            None,
            None,
        );
        let mut right = Path::new();
        if let Some(mut plan) =
            erase_rebalance(&left).or_else(|| self.erase_spanning(&left, &mut right))
        {
            // What `decide` would find, found without its general planning.
            disp.remove_value(word.get());
            self.carry_out(&mut left, &mut right, &mut plan, &req, &mut disp, false)?;
            return Ok(Some(word));
        }
        // The walk to `index` is also the walk to the entry's first index: both lie in the same
        // slot at every level.
        self.store_at(&mut left, &req, &mut disp, false)?;
        Ok(Some(word))
    }

    /// The plan of an erase of the entry in the last slot of the leaf the walk in `left` ended
    /// on, a leaf that is not the rightmost one: the spanning store [`decide`](Self::decide)
    /// would choose, reaching into the next leaf so that an empty slot starting it merges, with
    /// the edit [`leaf::plan`] would make; `right` gets the path to that next leaf. `None` for
    /// any other erase.
    fn erase_spanning(&self, left: &Path<'a>, right: &mut Path<'a>) -> Option<Plan> {
        let depth = left.len() - 1;
        let leaf = left[depth];
        if depth == 0 || leaf.offset != leaf.end || leaf.max == u64::MAX {
            return None;
        }
        // The next leaf (the path `branch_path` would find, without its pivot scans).
        if !direct::next_path(left, right, depth) {
            return None;
        }
        // The emptied slot merges with an empty slot before it, and with the next leaf's first
        // slot if that is empty; no subtree lies between two neighbouring leaves.
        let (first, _) = emptied_run(&leaf);
        let next = right[depth];
        let (pivot, keep_back) = if next.node.slot(0) == 0 {
            (next.slot_max(0), 1)
        } else {
            (leaf.max, 0)
        };
        let mut middle = ArrayVec::new();
        middle.push(Item {
            pivot,
            word: 0,
            gap: 0,
        });
        Some(Plan::Spanning {
            edit: leaf::Edit::replacing(first, middle, keep_back),
        })
    }

    /// Exclusive mode: stores `word` over `[first, last]`, which lies inside the empty slot the
    /// walk in `left` ended on, straight into the leaf when the new entry and what remains of
    /// the empty range around it fit there; an exact fit takes the slot alone. No plan, no
    /// reservation: nothing is taken out, no node is needed and nothing can fail. Returns
    /// `None`, having changed nothing, when the leaf would overflow: the general path takes
    /// that.
    ///
    /// In an allocation tree only the empty range the entry goes into shrinks, so the leaf's
    /// recorded largest gap tells whether the leaf needs a scan, unless the range is one a gap
    /// search chose (`searched`): that is most often the leaf's largest, and the leaf is scanned
    /// without asking.
    ///
    /// Linux: `mas_wr_exact_fit()`, `mas_wr_append()` and the non-RCU `mas_wr_node_store()`,
    /// for an insert.
    #[inline(always)]
    fn insert_in_place(
        &mut self,
        left: &Path<'a>,
        first: u64,
        last: u64,
        word: NonZeroUsize,
        searched: bool,
    ) -> Option<StoreKind> {
        let depth = left.len() - 1;
        let leaf = left[depth];
        let (node, lo, end) = (leaf.node, leaf.offset, leaf.end);
        let (min, max) = (leaf.slot_min(lo), leaf.slot_max(lo));
        let (head, tail) = (usize::from(first > min), usize::from(last < max));
        let added = head + tail;
        if added == 0 {
            // The neighbours of an empty slot hold values (empty runs are maximal): the value
            // takes the slot and nothing merges.
            node.set_slot(lo, word.get());
            self.after_insert(left, searched, min, max);
            self.core.add_len(1, 0);
            return Some(StoreKind::ExactFit);
        }
        if end + added >= node.kind().slots() {
            return None;
        }
        // The slots after the empty one move up past the new ones, with their stored pivots;
        // the last of them ends at the leaf's maximum, stored if it has a pivot (N1). Neighbours
        // of an empty slot hold values, so nothing merges.
        let words = node.leaf_words();
        let pivots = crate::node::NodeKind::Leaf.pivots();
        let new_end = end + added;
        if lo < end {
            words.open(lo + 1, added, end);
        }
        if new_end < pivots {
            words.set_pivot(new_end, leaf.max);
        }
        let mut i = lo;
        if head == 1 {
            words.set_pivot(i, first - 1);
            words.set_slot(i, 0);
            i += 1;
        }
        if i < pivots {
            words.set_pivot(i, last);
        }
        words.set_slot(i, word.get());
        if tail == 1 {
            i += 1;
            if i < pivots {
                words.set_pivot(i, max);
            }
            words.set_slot(i, 0);
        }
        node.set_end(new_end);
        self.after_insert(left, searched, min, max);
        self.core.add_len(1, 0);
        Some(if lo == end {
            StoreKind::Append
        } else {
            StoreKind::NodeStore
        })
    }

    /// The gaps of an allocation tree after [`insert_in_place`](Self::insert_in_place) filled
    /// part or all of the empty range `[min, max]`.
    #[inline(always)]
    fn after_insert(&self, left: &Path<'a>, searched: bool, min: u64, max: u64) {
        let depth = left.len() - 1;
        if self.core.alloc && depth > 0 {
            if searched {
                gap::propagate(left, depth - 1, gap::leaf_gap(&left[depth]));
            } else {
                gap::after_shrink(left, depth, (max - min).saturating_add(1));
            }
        }
    }

    /// Exclusive mode: carries out an insert into an empty range whose `edit` overflows the
    /// leaf at the end of `left`, as [`carry_out`](Self::carry_out) would carry out its split
    /// plan, without one: it reserves the nodes and the room to retire what it unlinks, then
    /// splits in place, or else rebuilds. Nothing is cut, so nothing is cloned or dropped.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the reservation fails; the tree is unchanged.
    fn split_insert(
        &mut self,
        left: &mut Path<'a>,
        edit: &leaf::Edit,
    ) -> Result<StoreKind, OutOfMemory> {
        let height = left.len();
        self.pool.reserve(split_nodes(height))?;
        self.pool.retired.reserve(rebuild_room(height))?;
        self.pool.retired.begin();
        if !self.split_in_place(left, edit) {
            let leaf = left[height - 1];
            let mut big = BigNode::new(leaf.min);
            edit.expand(&leaf, &leaf, &mut big);
            let mut right = left.clone();
            self.rebuild(left, &mut right, &mut big);
        }
        if self.pool.retired.last_is_empty() {
            // Most splits and pushes unlink nothing: there is nothing to free.
            self.core.add_len(1, 0);
        } else {
            self.finish(&mut Disposal {
                added: 1,
                ..Disposal::default()
            });
        }
        Ok(StoreKind::Split)
    }

    /// Exclusive mode: empties the slot the walk in `left` ended on, merging it with the empty
    /// slots beside it, straight in the leaf when it keeps enough slots and the emptied range
    /// does not reach into the next leaf. The caller takes the value back, so nothing is
    /// dropped, no node is needed and nothing can fail. Returns `false`, having changed
    /// nothing, for the stores the general path takes: a leaf that underflows, a spanning
    /// store, a root leaf left empty.
    ///
    /// The emptied range only merges with the empty ranges beside it, so the leaf's largest
    /// gap is kept without a scan ([`gap::after_merge`]).
    ///
    /// Linux: `mas_wr_exact_fit()`, or the non-RCU `mas_wr_node_store()` of an erase.
    #[inline(always)]
    fn erase_in_place(&mut self, left: &Path<'a>) -> bool {
        let depth = left.len() - 1;
        let leaf = left[depth];
        let (node, lo, end) = (leaf.node, leaf.offset, leaf.end);
        // Slots `first..=last` become one empty slot.
        let (first, last) = emptied_run(&leaf);
        let new_end = end - (last - first);
        let spans = lo == end && leaf.max < u64::MAX;
        let underflows = depth > 0 && new_end + 1 < node.kind().min_len();
        if spans || underflows || (depth == 0 && new_end == 0) {
            return false;
        }
        let pivots = node.kind().pivots();
        let max = leaf.slot_max(last);
        let merged = (max - leaf.slot_min(first)).saturating_add(1);
        if first < last {
            if last < end {
                node.move_slots(last + 1, first + 1, end - last);
                node.move_pivots(last + 1, first + 1, end - last - 1);
            }
            if first < pivots {
                node.set_pivot(first, max);
            }
            if new_end < end {
                node.clear_from(new_end + 1, end);
            }
            if new_end < pivots {
                node.set_pivot(new_end, leaf.max);
            }
            node.set_end(new_end);
        }
        node.set_slot(first, 0);
        if self.core.alloc {
            gap::after_merge(left, depth, merged);
        }
        self.core.add_len(0, 1);
        true
    }

    /// [`erase_in_place`](Self::erase_in_place) for the stores that empty exactly one slot
    /// (`overwrite.rs`), as a call of its own: the erase keeps its inlined copy.
    #[inline(never)]
    pub(super) fn empty_slot_in_place(&mut self, left: &Path<'a>) -> bool {
        self.erase_in_place(left)
    }

    /// Reserves everything a store of `word` over `[first, last]` may need, without changing
    /// anything: its nodes (at worst), room to retire what it takes out, and the clone for the
    /// tail of an entry it cuts in two, made with `cloner`.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the nodes or the room could not be reserved; the tree is unchanged.
    ///
    /// Linux: `mas_preallocate()` (`mas_prealloc_calc()`).
    pub(crate) fn reserve_store(
        &mut self,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        cloner: Cloner,
    ) -> Result<Reservation, OutOfMemory> {
        let mut left = Path::new();
        self.walk(&mut left, first);
        let mut right = Path::new();
        let req = Request::new(first, last, word, cloner);
        let mut disp = Disposal::default();
        let mut plan = self.decide(&left, &mut right, &req, &mut disp);
        let nodes = self.plan_nodes(&plan, left.len(), &req);
        self.pool.reserve(nodes)?;
        self.pool
            .retired
            .reserve(self.retire_room(&plan, left.len(), &disp))?;
        let clone = match &mut plan {
            Plan::Leaf { edit, .. } | Plan::Spanning { edit } => {
                let unstored = Unstored::<T>::new(req.word);
                let clone = edit.clone_for_tail(cloner);
                unstored.stored();
                clone
            }
            Plan::Root(_) | Plan::ExactFit => None,
        };
        Ok(Reservation { nodes, clone })
    }

    /// A store that [`reserve_store`](Self::reserve_store) prepared: it cannot fail, runs no
    /// user code and allocates nothing.
    ///
    /// Linux: `mas_store_prealloc()`.
    pub(crate) fn store_reserved(
        &mut self,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        clone: Option<NonZeroUsize>,
    ) -> StoreKind {
        let mut left = Path::new();
        self.walk(&mut left, first);
        let mut req = Request::new(first, last, word, None);
        req.clone = clone;
        self.store_at(&mut left, &req, &mut Disposal::default(), true)
            .unwrap_or_else(|OutOfMemory| unreachable!("a preallocated store asked for memory"))
    }

    /// Reserves `n` nodes for the next store.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when the pool cannot provide them.
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), OutOfMemory> {
        self.pool.reserve(n)
    }

    /// Carries out a store, given the walk `left` to `first` (empty for an empty tree) and a
    /// prepared disposal. Everything that can fail happens before the first change (rule W4):
    /// the plan is made, the nodes it may need and room to retire what it takes out are reserved
    /// (unless `reserved`: a preallocation did it), the tail of a cut entry is cloned (or the
    /// preallocation's clone taken), and only then is the tree changed.
    pub(crate) fn store_at(
        &mut self,
        left: &mut Path<'a>,
        req: &Request,
        disp: &mut Disposal,
        reserved: bool,
    ) -> Result<StoreKind, OutOfMemory> {
        debug_assert!(req.first <= req.last);
        let mut right = Path::new();
        let mut plan = self.decide(left, &mut right, req, disp);
        self.carry_out(left, &mut right, &mut plan, req, disp, reserved)
    }

    /// Carries out `plan`, which [`decide`](Self::decide) made for `req` (or a faster path
    /// made as it would have), as [`store_at`](Self::store_at) says.
    #[inline(always)]
    fn carry_out(
        &mut self,
        left: &mut Path<'a>,
        right: &mut Path<'a>,
        plan: &mut Plan,
        req: &Request,
        disp: &mut Disposal,
        reserved: bool,
    ) -> Result<StoreKind, OutOfMemory> {
        let nodes = self.plan_nodes(plan, left.len(), req);
        let room = self.retire_room(plan, left.len(), disp);
        if reserved {
            debug_assert!(
                self.pool.spare() >= nodes && self.pool.retired.room() >= room,
                "a preallocation was too small"
            );
        } else {
            self.pool.reserve(nodes)?;
            self.pool.retired.reserve(room)?;
        }
        let mut clone = req.clone;
        match plan {
            Plan::Leaf { edit, .. } | Plan::Spanning { edit } => {
                // The clone is user code and may panic; the value being stored has not reached
                // the tree yet, so it is dropped then, and the tree is left as it was.
                let unstored = Unstored::<T>::new(req.word);
                edit.materialize(&mut clone, req.cloner, disp);
                unstored.stored();
            }
            Plan::Root(_) | Plan::ExactFit => {}
        }
        if let Some(unused) = clone {
            // A preallocation's clone for a plan that no longer cuts an entry (it cannot
            // happen: the tree has not changed since); drop it rather than leak it.
            drop(Values::<T>::take(unused));
        }
        let capacity = self.pool.retired.capacity();
        self.pool.retired.begin();
        if let Plan::Spanning { .. } = plan
            && disp.covered > 0
        {
            for root in covered_subtrees(left, right) {
                self.pool.retired.cut_off(root);
            }
        }
        let before = self.pool.stats().handed_out();
        let kind = self.execute(plan, left, right, req, disp);
        debug_assert!(
            self.pool.stats().handed_out() - before <= nodes as u64,
            "a {kind:?} took more than the {nodes} nodes reserved for it"
        );
        debug_assert_eq!(
            self.pool.retired.capacity(),
            capacity,
            "a {kind:?} retired more than the {room} items it reserved room for"
        );
        Ok(kind)
    }

    /// Decides how a store will be carried out. Changes nothing in the tree: `disp` only
    /// records what the store would remove, and a spanning store fills `right`.
    ///
    /// Linux: `mas_wr_store_type()`.
    fn decide(
        &self,
        left: &Path<'a>,
        right: &mut Path<'a>,
        req: &Request,
        disp: &mut Disposal,
    ) -> Plan {
        if left.is_empty() {
            return Plan::Root(StoreKind::StoreRoot);
        }
        if req.first == 0 && req.last == u64::MAX {
            return Plan::Root(StoreKind::NewRoot);
        }
        let leaf = left[left.len() - 1];
        // An empty store also looks at the slot after it, to merge with it.
        let target = if req.word == 0 && req.last < u64::MAX {
            req.last + 1
        } else {
            req.last
        };
        if target <= leaf.max {
            if is_exact_fit(&leaf, req) {
                return Plan::ExactFit;
            }
            let edit = leaf::plan(&leaf, &leaf, req, disp);
            let (kind, in_place) = self.leaf_kind(left, &edit);
            return Plan::Leaf {
                edit,
                kind,
                in_place,
            };
        }
        self.branch_path(left, right, target);
        disp.covered = covered_subtrees(left, right).count();
        let edit = leaf::plan(&leaf, &right[right.len() - 1], req, disp);
        Plan::Spanning { edit }
    }

    /// Which path a single-leaf edit takes, and whether it is made in place.
    fn leaf_kind(&self, left: &Path<'a>, edit: &leaf::Edit) -> (StoreKind, bool) {
        let depth = left.len() - 1;
        let leaf = left[depth];
        let kind = leaf.node.kind();
        let len = edit.len_in(&leaf);
        let empties_root =
            depth == 0 && len == 1 && edit.middle.first().is_some_and(|it| it.word == 0);
        if len > kind.slots() {
            (StoreKind::Split, false)
        } else if len < kind.min_len() && depth > 0 {
            (StoreKind::Rebalance, false)
        } else if empties_root || !(self.exclusive || edit.is_rcu_safe(&leaf)) {
            (StoreKind::NodeStore, false)
        } else if leaf.offset == leaf.end && len > leaf.end + 1 {
            // The write lands in the last slot and only adds slots after it.
            (StoreKind::Append, true)
        } else if len == leaf.end + 1 && edit.middle.len() <= 2 {
            (StoreKind::SlotStore, true)
        } else {
            (StoreKind::NodeStore, true)
        }
    }

    /// The nodes a plan may take from the pool, at worst, for a tree of `height`.
    ///
    /// A split takes at most [`split_nodes`]. A rebalance
    /// can take in a cousin (a neighbour under another parent); the levels between the leaf
    /// and the common ancestor then gather two old nodes each, which can be cut into three,
    /// so it is bounded like a spanning store: three nodes per level and a root, `3h + 1`.
    /// (Three is the most [`rebuild`](Writer::rebuild) ever cuts a level into.)
    fn plan_nodes(&self, plan: &Plan, height: usize, req: &Request) -> usize {
        match plan {
            Plan::Root(_) => usize::from(req.word != 0),
            Plan::ExactFit => 0,
            Plan::Leaf { in_place: true, .. } => 0,
            Plan::Leaf { kind, .. } => match kind {
                StoreKind::Split => split_nodes(height),
                StoreKind::Rebalance => 3 * height + 1,
                _ => 1,
            },
            Plan::Spanning { .. } => 3 * height + 1,
        }
    }

    /// The items a plan may retire, at worst: the values it removes, the subtrees it cuts off
    /// and the nodes it unlinks, which for a rebuild [`rebuild_room`] bounds. The room is only
    /// memory set aside (16 bytes an item), kept from write to write.
    fn retire_room(&self, plan: &Plan, height: usize, disp: &Disposal) -> usize {
        disp.values.len()
            + match plan {
                Plan::Root(_) | Plan::ExactFit => 1,
                Plan::Leaf { in_place: true, .. } => 0,
                Plan::Leaf { .. } => rebuild_room(height),
                Plan::Spanning { .. } => disp.covered + rebuild_room(height),
            }
    }

    /// Carries out a plan whose nodes are reserved; cannot fail.
    #[inline(always)]
    fn execute(
        &mut self,
        plan: &Plan,
        left: &mut Path<'a>,
        right: &mut Path<'a>,
        req: &Request,
        disp: &mut Disposal,
    ) -> StoreKind {
        let kind = match plan {
            Plan::Root(StoreKind::StoreRoot) => self.store_root(req, disp),
            Plan::Root(_) => self.new_root(left, req, disp),
            Plan::ExactFit => self.exact_fit(left, req, disp),
            Plan::Leaf {
                edit,
                kind,
                in_place: true,
            } => self.edit_in_place(left, edit, *kind),
            Plan::Leaf { edit, kind, .. } if self.exclusive && self.split_in_place(left, edit) => {
                *kind
            }
            Plan::Leaf { edit, kind, .. } => {
                let leaf = left[left.len() - 1];
                let mut big = BigNode::new(leaf.min);
                edit.expand(&leaf, &leaf, &mut big);
                right.clone_from(left);
                self.rebuild(left, right, &mut big);
                *kind
            }
            Plan::Spanning { edit } if self.exclusive && self.span_in_place(left, right, edit) => {
                StoreKind::Spanning
            }
            Plan::Spanning { edit } => {
                let leaf = left[left.len() - 1];
                let mut big = BigNode::new(leaf.min);
                edit.expand(&leaf, &right[right.len() - 1], &mut big);
                self.rebuild(left, right, &mut big);
                StoreKind::Spanning
            }
        };
        self.finish(disp);
        kind
    }

    /// A path to the leaf holding `target`, sharing the frames of `left` down to where the two
    /// walks part.
    fn branch_path(&self, left: &Path<'a>, right: &mut Path<'a>, target: u64) {
        right.clone_from(left);
        while right.len() > 1 && right[right.len() - 1].max < target {
            right.pop();
        }
        let top = right.len() - 1;
        right[top].seek(target);
        loop {
            let frame = right[right.len() - 1];
            if frame.node.is_leaf() {
                return;
            }
            let mut child = frame
                .child_frame()
                .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
            child.seek(target);
            right.push(child);
        }
    }

    /// The first store into an empty tree: one leaf. Linux: `mas_store_root()`.
    fn store_root(&mut self, req: &Request, disp: &mut Disposal) -> StoreKind {
        if req.word != 0 {
            let mut big = BigNode::new(0);
            if req.first > 0 {
                big.push_value(req.first - 1, 0);
            }
            big.push_value(req.last, req.word);
            if req.last < u64::MAX {
                big.push_value(u64::MAX, 0);
            }
            disp.added = 1;
            let leaf = self.leaf_from(&big);
            self.publish_root(Some(leaf), 1);
        }
        StoreKind::StoreRoot
    }

    /// A store over every index replaces the whole tree. Linux: `mas_new_root()`.
    fn new_root(&mut self, left: &Path<'a>, req: &Request, disp: &mut Disposal) -> StoreKind {
        let root = left[0].node;
        let new = (req.word != 0).then(|| {
            let mut big = BigNode::new(0);
            big.push_value(u64::MAX, req.word);
            disp.added = 1;
            self.leaf_from(&big)
        });
        self.publish_root(new, usize::from(new.is_some()));
        self.pool.retired.cut_off(root);
        StoreKind::NewRoot
    }

    /// Overwrites the one slot the store covers. Linux: `mas_wr_exact_fit()`.
    fn exact_fit(&mut self, left: &Path<'a>, req: &Request, disp: &mut Disposal) -> StoreKind {
        let depth = left.len() - 1;
        let leaf = left[depth];
        let old = leaf.node.slot(leaf.offset);
        leaf.node.set_slot(leaf.offset, req.word);
        disp.remove_value(old);
        if req.word != 0 {
            disp.added += 1;
        }
        if self.core.alloc && depth > 0 && (old == 0) != (req.word == 0) {
            gap::propagate(left, depth - 1, gap::leaf_gap(&leaf));
        }
        StoreKind::ExactFit
    }

    /// Applies an edit that fits to the leaf in place: any such edit in exclusive mode, only
    /// the shapes [`leaf::Edit::is_rcu_safe`] accepts in RCU mode.
    /// Linux: `mas_wr_append()`, `mas_wr_slot_store()`, and the non-RCU `mas_wr_node_store()`.
    fn edit_in_place(&mut self, left: &Path<'a>, edit: &leaf::Edit, kind: StoreKind) -> StoreKind {
        let depth = left.len() - 1;
        let leaf = left[depth];
        if kind == StoreKind::Append && !self.exclusive {
            edit.apply_append(&leaf);
        } else {
            edit.apply(&leaf);
        }
        if self.core.alloc && depth > 0 {
            gap::propagate(left, depth - 1, gap::leaf_gap(&leaf));
        }
        kind
    }

    /// A reserved leaf holding all of `big`.
    fn leaf_from(&mut self, big: &BigNode) -> NodeRef<'a> {
        let node = self.pool.take(crate::node::NodeKind::Leaf);
        let max = big.items().last().map_or(u64::MAX, |it| it.pivot);
        big_node::fill(node, big.items(), 0, big.min, max, 0, self.core.alloc);
        node
    }

    /// Makes a freshly built tree of `height` holding `len` values this (empty) tree's content.
    pub(crate) fn set_root(&mut self, root: NodeRef<'a>, height: usize, len: usize) {
        self.publish_root(Some(root), height);
        self.core.add_len(len, 0);
    }

    /// Makes `root` the tree's root at `height`.
    pub(crate) fn publish_root(&mut self, root: Option<NodeRef<'a>>, height: usize) {
        if let Some(node) = root {
            node.set_parent(None, 0);
        }
        self.core.root.publish(root);
        self.core.set_height(height);
    }

    /// Releases what a published write took out of the tree and updates the entry count.
    ///
    /// In exclusive mode everything is freed at once; a value whose `Drop` panics does not stop
    /// the others, and the panic is resumed once the tree and its count are complete. In RCU
    /// mode the unlinked and cut-off nodes are marked dead (rule W3), and everything waits for
    /// the guard to hand it to the reclaimer.
    pub(crate) fn finish(&mut self, disp: &mut Disposal) {
        if self.exclusive {
            let mut panics = Panics::default();
            disp.removed += self
                .pool
                .free_retired(Values::<T>::drop_word, disp.keep, &mut panics);
            for word in disp.values.drain(..) {
                if Values::<T>::owns_memory(word) {
                    panics.run(|| Values::<T>::drop_word(word));
                }
            }
            self.core.add_len(disp.added, disp.removed);
            panics.resume();
        } else {
            disp.removed += self.pool.retired.mark_dead();
            for word in disp.values.drain(..) {
                if Values::<T>::owns_memory(word) {
                    self.pool.retired.value(word);
                }
            }
            self.core.add_len(disp.added, disp.removed);
        }
    }

    /// Empties the tree. Linux: `__mt_destroy()`.
    ///
    /// Also takes down a tree that a copy left half built ([`crate::MapleTree::try_clone`] when a
    /// clone panics), whose entry count is not set yet.
    pub(crate) fn clear(&mut self) {
        if let Some(root) = self.core.root.load(self.guard) {
            self.publish_root(None, 0);
            self.core.set_len(0);
            self.pool.retired.begin();
            self.pool.retired.cut_off(root);
            if self.exclusive {
                let mut panics = Panics::default();
                self.pool
                    .free_retired(Values::<T>::drop_word, None, &mut panics);
                panics.resume();
            } else {
                self.pool.retired.mark_dead();
            }
        }
    }
}

/// Every subtree lying wholly between the two paths of a spanning store, which the store cuts
/// off whole.
fn covered_subtrees<'a>(left: &Path<'a>, right: &Path<'a>) -> impl Iterator<Item = NodeRef<'a>> {
    let leaf_depth = left.len() - 1;
    let top = (0..leaf_depth)
        .rev()
        .find(|&d| left[d].node == right[d].node)
        .unwrap_or(0);
    let (l, r) = (left[top], right[top]);
    let sides = (top + 1..leaf_depth).flat_map(move |d| {
        let (l, r) = (left[d], right[d]);
        (l.offset + 1..=l.end)
            .map(move |i| (l, i))
            .chain((0..r.offset).map(move |i| (r, i)))
    });
    (l.offset + 1..r.offset)
        .map(move |i| (l, i))
        .chain(sides)
        .filter_map(|(frame, i)| frame.node.child(i))
}

/// Points the children of a built or rewritten internal node, from slot `from` on, back at it.
///
/// Linux: `mas_adopt_children()`.
#[inline]
pub(super) fn adopt_children(node: NodeRef<'_>, from: usize) {
    node.adopt_children(from);
}
