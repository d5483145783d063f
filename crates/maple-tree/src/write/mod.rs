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
//! An empty store over `[first, last]` first widens over the empty slots next to it, so empty
//! ranges stay maximal. A store that empties the end of a leaf that is not the rightmost one
//! crosses into the next leaf, so that its first empty slot merges; as in the kernel, this is a
//! spanning store.
//!
//! # Doing it safely
//!
//! Every path builds new nodes off to the side, then publishes them with a single pointer
//! store, so a concurrent reader sees the tree either before or after the write. Nothing in the
//! live tree changes before every allocation has succeeded: a failed allocation leaves the tree
//! as it was. What the write unlinks (nodes, values, whole subtrees) is collected in a
//! [`Disposal`] and released after publication: at once in exclusive mode, after a grace period
//! in RCU mode.

pub(crate) mod big_node;
mod leaf;
mod rebuild;

use core::marker::PhantomData;
use core::num::NonZeroUsize;

use arrayvec::ArrayVec;

use crate::error::OutOfMemory;
use crate::gap;
use crate::node::NodeRef;
use crate::node::entry::{Entry, Values};
use crate::node::pool::Pool;
use crate::rcu::{self, Guard};
use crate::tree::Core;
use crate::walk::{self, Frame, Path};
use big_node::BigNode;

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

/// How to clone a value word for the tail of an entry that a store cuts in two; `None` for
/// stores that cannot cut an entry (inserts into an empty range).
pub(crate) type Cloner = Option<fn(NonZeroUsize) -> NonZeroUsize>;

/// A list that stays on the stack while it is short, as it nearly always is: a write touches a
/// few nodes per level.
#[derive(Debug)]
struct List<T> {
    inline: ArrayVec<T, 16>,
    spill: Vec<T>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self {
            inline: ArrayVec::new(),
            spill: Vec::new(),
        }
    }
}

impl<T: Copy + PartialEq> List<T> {
    fn push(&mut self, item: T) {
        if let Err(full) = self.inline.try_push(item) {
            self.spill.push(full.element());
        }
    }

    fn contains(&self, item: &T) -> bool {
        self.inline.contains(item) || self.spill.contains(item)
    }

    fn remove(&mut self, item: &T) {
        self.inline.retain(|i| i != item);
        self.spill.retain(|i| i != item);
    }

    /// Empties the list, returning its items.
    fn take(&mut self) -> impl Iterator<Item = T> + '_ {
        self.inline.drain(..).chain(self.spill.drain(..))
    }
}

/// Everything one write unlinks or creates, released only once the write is published.
///
/// Linux: the `ma_topiary` list and the freed-node handling of `mas_wmb_replace()`.
#[derive(Default)]
pub(crate) struct Disposal<'a> {
    /// Nodes unlinked from the tree; their children live on elsewhere.
    unlinked: List<NodeRef<'a>>,
    /// Roots of subtrees that lie wholly inside the written range.
    subtrees: List<NodeRef<'a>>,
    /// Internal nodes built or rewritten by this write, with the first slot whose child must
    /// be pointed back at them.
    adopt: List<(NodeRef<'a>, usize)>,
    /// Value words that lost all their indices.
    values: ArrayVec<NonZeroUsize, 40>,
    /// A clone made for the tail of a cut entry, dropped if the write fails.
    pub(crate) cloned: Option<NonZeroUsize>,
    /// A removed word the caller takes back instead of dropping (erase in exclusive mode).
    pub(crate) keep: Option<NonZeroUsize>,
    /// Values added to the tree.
    pub(crate) added: usize,
    /// Values removed from the tree.
    pub(crate) removed: usize,
}

impl<'a> Disposal<'a> {
    /// Records that the value word in a slot lost all its indices.
    pub(crate) fn remove_value(&mut self, word: usize) {
        if let Some(w) = NonZeroUsize::new(word) {
            self.removed += 1;
            if self.keep != Some(w) {
                self.values.push(w);
            }
        }
    }

    /// Records that `node` is no longer part of the tree once the write is published.
    pub(crate) fn unlink(&mut self, node: NodeRef<'a>) {
        if !self.unlinked.contains(&node) {
            self.unlinked.push(node);
        }
    }

    /// Takes back an unlinked node that the write reuses in place (exclusive mode).
    pub(crate) fn relink(&mut self, node: NodeRef<'a>) {
        self.unlinked.remove(&node);
    }

    /// Records that the children of `node` from slot `from` on must point back at it.
    pub(crate) fn adopt_from(&mut self, node: NodeRef<'a>, from: usize) {
        if !node.is_leaf() {
            self.adopt.push((node, from));
        }
    }
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

impl<'a, T: Entry> Writer<'a, T> {
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
        walk::walk_to(self.core, self.guard, path, index)
            .unwrap_or_else(|_| unreachable!("the writer met a node it had replaced"))
    }

    /// Stores `word` (`None`: nothing) over `[first, last]`.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if a node could not be allocated; the tree is unchanged.
    pub(crate) fn store(
        &mut self,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        cloner: Cloner,
    ) -> Result<StoreKind, OutOfMemory> {
        let mut left = Path::new();
        self.walk(&mut left, first);
        self.store_at(
            &mut left,
            first,
            last,
            word,
            cloner,
            &mut Disposal::default(),
        )
    }

    /// Stores `word` over `[first, last]` if every index there is empty; `Ok(None)` if not.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if a node could not be allocated; the tree is unchanged.
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
        }
        self.store_at(
            &mut left,
            first,
            last,
            Some(word),
            None,
            &mut Disposal::default(),
        )
        .map(Some)
    }

    /// Removes the entry containing `index` and returns its word, which the caller takes
    /// (`take`) or leaves to be dropped after a grace period.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if a node could not be allocated; the tree is unchanged.
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
        let (first, last) = (leaf.slot_min(leaf.offset), leaf.slot_max(leaf.offset));
        let mut disp = Disposal {
            keep: take.then_some(word),
            ..Disposal::default()
        };
        // The walk to `index` is also the walk to `first`: both lie in the same slot at every
        // level.
        self.store_at(&mut left, first, last, None, None, &mut disp)?;
        Ok(Some(word))
    }

    /// Stores `word` over `[first, last]`, given the walk `left` to `first` (empty for an empty
    /// tree) and a prepared disposal.
    fn store_at(
        &mut self,
        left: &mut Path<'a>,
        first: u64,
        last: u64,
        word: Option<NonZeroUsize>,
        cloner: Cloner,
        disp: &mut Disposal<'a>,
    ) -> Result<StoreKind, OutOfMemory> {
        debug_assert!(first <= last);
        let word_raw = word.map_or(0, NonZeroUsize::get);
        let req = leaf::Request {
            first,
            last,
            word: word_raw,
            cloner,
        };
        if left.is_empty() {
            return self.store_root(first, last, word_raw, disp);
        }
        if first == 0 && last == u64::MAX {
            return self.new_root(left, word_raw, disp);
        }
        let leaf = left[left.len() - 1];
        // An empty store also looks at the slot after it, to merge with it.
        let target = if word.is_none() && last < u64::MAX {
            last + 1
        } else {
            last
        };
        if target <= leaf.max {
            if self.try_exact_fit(left, first, last, word_raw, disp) {
                return Ok(StoreKind::ExactFit);
            }
            let edit = leaf::plan(&leaf, &leaf, &req, disp);
            return self.commit_leaf(left, &edit, disp);
        }
        let mut right = Path::new();
        self.branch_path(left, &mut right, target);
        self.queue_covered(left, &right, disp);
        let rleaf = right[right.len() - 1];
        let edit = leaf::plan(&leaf, &rleaf, &req, disp);
        let mut big = BigNode::new(leaf.min);
        edit.expand(&leaf, &rleaf, &mut big);
        self.rebuild(left, &mut right, &mut big, disp, StoreKind::Spanning)
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

    /// Queues every subtree lying wholly between the two paths of a spanning store.
    fn queue_covered(&self, left: &Path<'a>, right: &Path<'a>, disp: &mut Disposal<'a>) {
        let leaf_depth = left.len() - 1;
        let top = (0..leaf_depth)
            .rev()
            .find(|&d| left[d].node == right[d].node)
            .unwrap_or(0);
        let mut queue = |frame: &Frame<'a>, range: core::ops::Range<usize>| {
            for i in range {
                if let Some(child) = frame.node.child(i) {
                    disp.subtrees.push(child);
                }
            }
        };
        queue(&left[top], left[top].offset + 1..right[top].offset);
        for d in top + 1..leaf_depth {
            queue(&left[d], left[d].offset + 1..left[d].end + 1);
            queue(&right[d], 0..right[d].offset);
        }
    }

    /// The first store into an empty tree: one leaf. Linux: `mas_store_root()`.
    fn store_root(
        &mut self,
        first: u64,
        last: u64,
        word: usize,
        disp: &mut Disposal<'a>,
    ) -> Result<StoreKind, OutOfMemory> {
        if word == 0 {
            return Ok(StoreKind::StoreRoot);
        }
        let mut big = BigNode::new(0);
        if first > 0 {
            big.push_value(first - 1, 0);
        }
        big.push_value(last, word);
        if last < u64::MAX {
            big.push_value(u64::MAX, 0);
        }
        disp.added = 1;
        let leaf = self.alloc_leaf(&big)?;
        self.publish_root(Some(leaf), 1);
        self.finish(disp);
        Ok(StoreKind::StoreRoot)
    }

    /// A store over every index replaces the whole tree. Linux: `mas_new_root()`.
    fn new_root(
        &mut self,
        left: &Path<'a>,
        word: usize,
        disp: &mut Disposal<'a>,
    ) -> Result<StoreKind, OutOfMemory> {
        let root = left[0].node;
        let new = if word == 0 {
            None
        } else {
            let mut big = BigNode::new(0);
            big.push_value(u64::MAX, word);
            disp.added = 1;
            Some(self.alloc_leaf(&big)?)
        };
        disp.subtrees.push(root);
        self.publish_root(new, usize::from(new.is_some()));
        self.finish(disp);
        Ok(StoreKind::NewRoot)
    }

    /// Overwrites one slot in place when the store covers it exactly. Linux: `mas_wr_exact_fit()`.
    fn try_exact_fit(
        &mut self,
        left: &Path<'a>,
        first: u64,
        last: u64,
        word: usize,
        disp: &mut Disposal<'a>,
    ) -> bool {
        let depth = left.len() - 1;
        let leaf = left[depth];
        let lo = leaf.offset;
        if leaf.slot_min(lo) != first || leaf.slot_max(lo) != last {
            return false;
        }
        let node = leaf.node;
        if word == 0
            && ((lo > 0 && node.slot(lo - 1) == 0) || (lo < leaf.end && node.slot(lo + 1) == 0))
        {
            // Empty neighbours must merge: the slot count changes.
            return false;
        }
        let old = node.slot(lo);
        node.set_slot(lo, word);
        disp.remove_value(old);
        if word != 0 {
            disp.added += 1;
        }
        if self.core.alloc && depth > 0 && (old == 0) != (word == 0) {
            gap::propagate(left, depth - 1, gap::leaf_gap(&leaf));
        }
        self.finish(disp);
        true
    }

    /// Commits an edit of a single leaf: in place, copy on write, split or rebalance.
    fn commit_leaf(
        &mut self,
        left: &mut Path<'a>,
        edit: &leaf::Edit,
        disp: &mut Disposal<'a>,
    ) -> Result<StoreKind, OutOfMemory> {
        let depth = left.len() - 1;
        let leaf = left[depth];
        let kind = leaf.node.kind();
        let len = edit.len_in(&leaf);
        let empties_root =
            depth == 0 && len == 1 && edit.middle.first().is_some_and(|it| it.word == 0);
        let label = if len > kind.slots() {
            StoreKind::Split
        } else if len < kind.min_len() && depth > 0 {
            StoreKind::Rebalance
        } else if empties_root || !(self.exclusive || edit.is_rcu_safe(&leaf)) {
            StoreKind::NodeStore
        } else {
            return Ok(self.edit_in_place(left, edit, disp));
        };
        let mut big = BigNode::new(leaf.min);
        edit.expand(&leaf, &leaf, &mut big);
        let mut right = Path::new();
        right.clone_from(left);
        self.rebuild(left, &mut right, &mut big, disp, label)
    }

    /// Applies an edit that fits to the leaf in place: any such edit in exclusive mode, only
    /// the shapes [`leaf::Edit::is_rcu_safe`] accepts in RCU mode.
    /// Linux: `mas_wr_append()`, `mas_wr_slot_store()`, and the non-RCU `mas_wr_node_store()`.
    fn edit_in_place(
        &mut self,
        left: &Path<'a>,
        edit: &leaf::Edit,
        disp: &mut Disposal<'a>,
    ) -> StoreKind {
        let depth = left.len() - 1;
        let leaf = left[depth];
        let len = edit.len_in(&leaf);
        let kind = if leaf.offset == leaf.end && len > leaf.end + 1 {
            // The write lands in the last slot and only adds slots after it.
            StoreKind::Append
        } else if len == leaf.end + 1 && edit.middle.len() <= 2 {
            StoreKind::SlotStore
        } else {
            StoreKind::NodeStore
        };
        if kind == StoreKind::Append && !self.exclusive {
            edit.apply_append(&leaf);
        } else {
            edit.apply(&leaf);
        }
        if self.core.alloc && depth > 0 {
            gap::propagate(left, depth - 1, gap::leaf_gap(&leaf));
        }
        self.finish(disp);
        kind
    }

    /// Allocates a leaf holding all of `big`.
    fn alloc_leaf(&mut self, big: &BigNode) -> Result<NodeRef<'a>, OutOfMemory> {
        let node = self.pool.alloc(crate::node::NodeKind::Leaf)?;
        let max = big.items().last().map_or(u64::MAX, |it| it.pivot);
        big_node::fill(node, big.items(), 0, big.min, max, 0, self.core.alloc);
        Ok(node)
    }

    /// Drops the clone a failed write made for the tail of a cut entry.
    pub(crate) fn drop_clone(disp: &mut Disposal<'a>) {
        if let Some(clone) = disp.cloned.take() {
            drop(Values::<T>::take(clone));
        }
    }

    /// Makes `root` the tree's root at `height`.
    fn publish_root(&mut self, root: Option<NodeRef<'a>>, height: usize) {
        if let Some(node) = root {
            node.set_parent(None, 0);
        }
        self.core.root.publish(root);
        self.core.set_height(height);
    }

    /// Releases what a published write unlinked and updates the entry count.
    pub(crate) fn finish(&mut self, disp: &mut Disposal<'a>) {
        for (node, from) in disp.adopt.take() {
            adopt_children(node, from);
        }
        for node in disp.unlinked.take() {
            self.release_node(node);
        }
        for word in disp.values.drain(..) {
            self.release_value(word);
        }
        for root in disp.subtrees.take() {
            disp.removed += self.destroy_subtree(root, disp.keep);
        }
        self.core.add_len(disp.added, disp.removed);
    }

    fn release_node(&mut self, node: NodeRef<'a>) {
        if self.exclusive {
            self.pool.recycle(node);
        } else {
            self.pool.retire(node, self.guard);
        }
    }

    fn release_value(&mut self, word: NonZeroUsize) {
        if self.exclusive {
            drop(Values::<T>::take(word));
        } else {
            rcu::defer(self.guard, move || drop(Values::<T>::take(word)));
        }
    }

    /// Releases a whole unlinked subtree, except the value word `keep` that the caller takes
    /// back, and returns how many values it held.
    ///
    /// Linux: `mt_destroy_walk()`.
    pub(crate) fn destroy_subtree(
        &mut self,
        node: NodeRef<'a>,
        keep: Option<NonZeroUsize>,
    ) -> usize {
        let end = node.end();
        let mut values = 0;
        for i in 0..=end {
            if node.is_leaf() {
                if let Some(word) = NonZeroUsize::new(node.slot(i)) {
                    values += 1;
                    if keep != Some(word) {
                        self.release_value(word);
                    }
                }
            } else if let Some(child) = node.child(i) {
                values += self.destroy_subtree(child, keep);
            }
        }
        self.release_node(node);
        values
    }

    /// Empties the tree. Linux: `__mt_destroy()`.
    pub(crate) fn clear(&mut self) {
        if let Some(root) = self.core.root.load(self.guard) {
            self.publish_root(None, 0);
            let removed = self.destroy_subtree(root, None);
            self.core.add_len(0, removed);
        }
    }
}

/// Points the children of a built or rewritten internal node, from slot `from` on, back at it.
///
/// Linux: `mas_adopt_children()`.
fn adopt_children(node: NodeRef<'_>, from: usize) {
    for i in from..=node.end() {
        if let Some(child) = node.child(i) {
            child.set_parent(Some(node), i);
        }
    }
}
