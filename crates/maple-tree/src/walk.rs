//! Descending the tree: frames that carry a node's implied limits, paths of frames from the
//! root to a leaf, and the validated reads every reader makes through them.
//!
//! A node does not store the range it covers; a walk derives it from the parent's pivots on the
//! way down, exactly like the kernel's `mas_descend()`. A [`Path`] keeps every frame from the root
//! down, so moving to a neighbouring leaf or propagating a change upwards needs no parent
//! pointers and no re-walk (the kernel climbs `node->parent` and recomputes the limits instead).
//!
//! # Validated reads
//!
//! A [`Frame`] records its node's data end when it is made. Whatever a reader loads from a leaf
//! (pivots, slot words), it uses only after [`Frame::confirm`] has loaded the header again and
//! found the leaf still in the tree with the same end; otherwise the read is [`Stale`] and the
//! reader starts again. The crate docs ("The read and write protocol") say why that is enough:
//! while a node is in the tree with a given end, its pivots up to that end never change, only
//! slot words do, one atomic store each.
//!
//! Internal nodes need no confirmation. A walk may pass through one that a writer has just
//! replaced, but a node keeps its range for as long as it is in the tree, and every pointer read
//! from a node, even a dead one, leads to a node that is still allocated (it was in the tree
//! after the reader pinned). So the leaf a walk arrives at is either still in the tree, covering
//! the range the walk worked out for it, or dead, which its confirmation notices.

use arrayvec::ArrayVec;

use crate::node::{MAX_HEIGHT, NodeKind, NodeRef};
use crate::range::Range;
use crate::rcu::Guard;
use crate::root::Core;

/// One level of a walk: a node, the range it covers and the slot of interest.
///
/// Linux: the `node`, `min`, `max`, `offset` and `end` fields of `struct ma_state`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<'g> {
    pub(crate) node: NodeRef<'g>,
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) offset: usize,
    pub(crate) end: usize,
}

/// Frames from the root (index 0) down to the current node.
pub(crate) type Path<'g> = ArrayVec<Frame<'g>, MAX_HEIGHT>;

/// A read that cannot be trusted: since its frame was made, the node was replaced (marked dead)
/// or grew (an append moved its end). The reader reads again, from the root.
#[derive(Debug)]
pub(crate) struct Stale;

/// Index of the slot of `node` (data end `end`) that contains `index`.
///
/// Linux: the pivot scan of `mas_descend()` / `mtree_lookup_walk()`.
#[inline]
pub(crate) fn slot_of(node: NodeRef<'_>, end: usize, index: u64) -> usize {
    node.leading_below(index).min(end)
}

/// [`slot_of`] for the tree's writer, which no write can race: the slot of `node` that
/// contains `index`, which lies within the node.
///
/// The scan looks at every other pivot, and then at the one it stepped over. A pivot past the
/// end is 0 (N2), and no stored pivot after the first one is 0 (they ascend), so comparing
/// `pivot - 1` with `index - 1` stops the scan at the end too: a node that is not full holds
/// its maximum at its end (N1), and the pivot the scan stepped over is always below the end or
/// that maximum. The loop has a fixed bound per kind, so it unrolls.
#[inline]
pub(crate) fn slot_of_writer(node: NodeRef<'_>, index: u64) -> usize {
    if node.kind().has_gaps() {
        scan_pairs::<{ NodeKind::AllocRange.pivots() }>(node, index)
    } else {
        scan_pairs::<{ NodeKind::Leaf.pivots() }>(node, index)
    }
}

/// [`slot_of_writer`] for a node of `PIVOTS` pivots.
#[inline(always)]
fn scan_pairs<const PIVOTS: usize>(node: NodeRef<'_>, index: u64) -> usize {
    let Some(below) = index.checked_sub(1) else {
        return 0;
    };
    let mut i = 0;
    while i + 1 < PIVOTS && node.pivot(i + 1).wrapping_sub(1) < below {
        i += 2;
    }
    i + usize::from(node.pivot(i) < index)
}

impl<'g> Frame<'g> {
    /// A frame for `node` covering `[min, max]`, positioned on slot 0.
    #[inline]
    pub(crate) fn new(node: NodeRef<'g>, min: u64, max: u64) -> Self {
        Self {
            node,
            min,
            max,
            offset: 0,
            end: node.end(),
        }
    }

    /// First index covered by slot `i`.
    #[inline]
    pub(crate) fn slot_min(&self, i: usize) -> u64 {
        if i == 0 {
            self.min
        } else {
            self.node.pivot(i - 1) + 1
        }
    }

    /// Last index covered by slot `i` (`i <= end`).
    #[inline]
    pub(crate) fn slot_max(&self, i: usize) -> u64 {
        if i < self.end {
            self.node.pivot(i)
        } else {
            self.max
        }
    }

    /// Frame of the child in slot `offset`, positioned on its slot 0.
    #[inline]
    pub(crate) fn child_frame(&self) -> Option<Frame<'g>> {
        let child = self.node.child(self.offset)?;
        Some(Frame::new(
            child,
            self.slot_min(self.offset),
            self.slot_max(self.offset),
        ))
    }

    /// Moves to the slot containing `index` (which must lie in `[min, max]`).
    #[inline]
    pub(crate) fn seek(&mut self, index: u64) {
        self.offset = slot_of(self.node, self.end, index);
    }

    /// Confirms that everything read from the node since this frame was made is current: the
    /// node is still in the tree and its end has not moved. Call it after the loads it vouches
    /// for (a slot load is Acquire, so this header load cannot come before it).
    ///
    /// Linux: the `ma_dead_node()` checks of `mas_descend()` and `mtree_lookup_walk()`.
    #[inline]
    pub(crate) fn confirm(&self) -> Result<(), Stale> {
        if self.node.is_current(self.end) {
            Ok(())
        } else {
            Err(Stale)
        }
    }

    /// Reads slot `i` (`i <= end`): its word and the range it covers, confirmed together.
    #[inline]
    pub(crate) fn read_slot(&self, i: usize) -> Result<(usize, Range), Stale> {
        let word = self.node.slot(i);
        let range = Range::new_unchecked(self.slot_min(i), self.slot_max(i));
        self.confirm()?;
        Ok((word, range))
    }
}

/// The root frame of the tree, or `None` when the tree is empty.
#[inline]
pub(crate) fn root_frame<'g>(core: &Core, guard: &'g Guard) -> Option<Frame<'g>> {
    core.root
        .load(guard)
        .map(|node| Frame::new(node, 0, u64::MAX))
}

/// Fills `path` with the frames from the root down to the leaf containing `index`; `false`
/// for an empty tree (the path is left empty).
///
/// The leaf is not confirmed: a reader confirms it after reading its slot.
///
/// Linux: `mas_walk()` / `mas_wr_walk()`.
pub(crate) fn walk_to<'g>(core: &Core, guard: &'g Guard, path: &mut Path<'g>, index: u64) -> bool {
    path.clear();
    let Some(mut frame) = root_frame(core, guard) else {
        return false;
    };
    loop {
        frame.seek(index);
        path.push(frame);
        if frame.node.is_leaf() {
            return true;
        }
        frame = frame
            .child_frame()
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
    }
}

/// [`walk_to`] for the tree's writer: the same path, found with [`slot_of_writer`]. Each
/// level's limits come from the pivots beside the slot taken, and each frame is written once.
pub(crate) fn walk_to_writer<'g>(
    core: &Core,
    guard: &'g Guard,
    path: &mut Path<'g>,
    index: u64,
) -> bool {
    path.clear();
    let Some(node) = core.root.load(guard) else {
        return false;
    };
    descend_writer(path, node, 0, u64::MAX, index);
    true
}

/// [`walk_to_writer`], starting from `path`: a walk of the tree that no write has changed
/// since it was made, except in place in its leaf (empty: none). The frames whose nodes cover
/// `index` are kept, the lowest of them is scanned again (and its end read again) and the walk
/// goes on down from there; a walk in the same leaf reads one node. `false` for an empty tree.
///
/// Linux: `mas_wr_prealloc_setup()`, which walks again only when the `ma_state`'s node does
/// not hold the index.
#[inline]
pub(crate) fn walk_from<'g>(
    core: &Core,
    guard: &'g Guard,
    path: &mut Path<'g>,
    index: u64,
) -> bool {
    if let Some(leaf) = path.last_mut()
        && leaf.min <= index
        && index <= leaf.max
    {
        // The slot the walk stood on may still hold `index` (the same index again, or a store
        // in place since that kept the slot where it was): then it needs no scan.
        let (node, offset) = (leaf.node, leaf.offset);
        let end = node.end();
        leaf.end = end;
        let holds = offset <= end
            && (offset == 0 || node.pivot(offset - 1) < index)
            && (offset == end || index <= node.pivot(offset));
        if !holds {
            leaf.offset = slot_of_writer(node, index);
        }
        return true;
    }
    climb_from(core, guard, path, index)
}

/// [`walk_from`] when `index` lies outside the leaf of `path`: up to the lowest frame that
/// covers it, then down.
#[cold]
fn climb_from<'g>(core: &Core, guard: &'g Guard, path: &mut Path<'g>, index: u64) -> bool {
    while let Some(top) = path.pop() {
        if top.min <= index && index <= top.max {
            descend_writer(path, top.node, top.min, top.max, index);
            return true;
        }
    }
    walk_to_writer(core, guard, path, index)
}

/// Pushes onto `path` the frames from `node`, which covers `[min, max]`, down to the leaf
/// holding `index`.
#[inline(always)]
fn descend_writer<'g>(
    path: &mut Path<'g>,
    mut node: NodeRef<'g>,
    mut min: u64,
    mut max: u64,
    index: u64,
) {
    loop {
        let end = node.end();
        let offset = slot_of_writer(node, index);
        path.push(Frame {
            node,
            min,
            max,
            offset,
            end,
        });
        if node.is_leaf() {
            return;
        }
        if offset > 0 {
            min = node.pivot(offset - 1) + 1;
        }
        if offset < end {
            max = node.pivot(offset);
        }
        node = node
            .child(offset)
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
    }
}

/// Descends from the last frame of `path` to a leaf, always taking the first slot (`leftmost`)
/// or the last one. The last frame's offset must already point at the child to enter.
pub(crate) fn descend_edge(path: &mut Path<'_>, leftmost: bool) {
    loop {
        let Some(top) = path.last() else {
            return;
        };
        if top.node.is_leaf() {
            return;
        }
        let mut child = top
            .child_frame()
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        if !leftmost {
            child.offset = child.end;
        }
        path.push(child);
    }
}

/// The value slot of the leaf at the end of `path` nearest before its offset, or else the last
/// value of the leaves to its left: its range and word. For a reader no write can race (the
/// tree's writer, an [`OwnedTree`](crate::OwnedTree)): nothing is confirmed.
fn value_before(path: &Path<'_>) -> Option<(Range, usize)> {
    let depth = path.len().checked_sub(1)?;
    let leaf = path[depth];
    if let Some(found) = last_value_below(&leaf, leaf.offset) {
        return Some(found);
    }
    // The nearest ancestor with a child to the left, then that child's right edge down.
    let d = (0..depth).rev().find(|&d| path[d].offset > 0)?;
    let (parent, offset) = (path[d], path[d].offset - 1);
    // A slot left of the offset has a pivot: it bounds the child.
    let (mut min, max) = (parent.slot_min(offset), parent.node.pivot(offset));
    let mut node = parent.node.child(offset);
    loop {
        let node_ref =
            node.unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        let end = node_ref.end();
        if node_ref.is_leaf() {
            // A leaf that is not the root holds a value: empty slots are never adjacent.
            let leaf = Frame {
                node: node_ref,
                min,
                max,
                offset: end,
                end,
            };
            return last_value_below(&leaf, end + 1);
        }
        // Its last child ends where it does.
        if end > 0 {
            min = node_ref.pivot(end - 1) + 1;
        }
        node = node_ref.child(end);
    }
}

/// The last value slot of `leaf` below slot `below` (at most its end + 1): its range and word.
#[inline]
fn last_value_below(leaf: &Frame<'_>, below: usize) -> Option<(Range, usize)> {
    let words = leaf.node.leaf_words();
    let i = (0..below).rev().find(|&i| words.slot(i) != 0)?;
    let first = if i == 0 {
        leaf.min
    } else {
        words.pivot(i - 1) + 1
    };
    let last = if i < leaf.end {
        words.pivot(i)
    } else {
        leaf.max
    };
    Some((Range::new_unchecked(first, last), words.slot(i)))
}

/// Calls `f`, in ascending order, for the entry before `[first, last]`, every entry that
/// intersects it and the entry after; see [`OwnedTree::for_each_around`](crate::OwnedTree::for_each_around).
/// `path` is a walk to `first` (empty for an empty tree): from its leaf on, slot by slot. For a
/// reader no write can race: nothing is confirmed.
pub(crate) fn around_writer(path: &Path<'_>, last: u64, mut f: impl FnMut(Range, usize)) {
    let Some(leaf) = path.last() else {
        return;
    };
    if let Some((range, word)) = value_before(path) {
        f(range, word);
    }
    if scan_leaf(leaf, leaf.offset, last, &mut f) {
        return;
    }
    // On into the leaves after it (rare: a range up to the end of its leaf), on a path of
    // its own.
    let mut path = path.clone();
    loop {
        // The next leaf: up to the nearest ancestor with a child to the right, then down its
        // left edge.
        path.pop();
        while path.last().is_some_and(|f| f.offset == f.end) {
            path.pop();
        }
        let Some(top) = path.last_mut() else {
            return;
        };
        top.offset += 1;
        descend_edge(&mut path, true);
        let Some(leaf) = path.last() else {
            return;
        };
        if scan_leaf(leaf, 0, last, &mut f) {
            return;
        }
    }
}

/// Calls `f`, in ascending order, for every value of the tree: depth first from the root, each
/// leaf's slots in one loop, with no path kept; see [`OwnedTree::for_each`](crate::OwnedTree::for_each).
/// For a reader no write can race: nothing is confirmed.
pub(crate) fn each_writer(core: &Core, guard: &Guard, mut f: impl FnMut(Range, usize)) {
    if let Some(root) = core.root.load(guard) {
        each_below(&Frame::new(root, 0, u64::MAX), &mut f);
    }
}

/// [`each_writer`] for the subtree of `frame`'s node.
fn each_below(frame: &Frame<'_>, f: &mut impl FnMut(Range, usize)) {
    if frame.node.is_leaf() {
        scan_leaf(frame, 0, u64::MAX, f);
        return;
    }
    let mut at = *frame;
    for i in 0..=frame.end {
        at.offset = i;
        if let Some(child) = at.child_frame() {
            each_below(&child, f);
        }
    }
}

/// Calls `f` for each value of `leaf` from slot `from` on, until one that starts after `last`
/// (which it gets too); `true` once that one came.
#[inline(always)]
fn scan_leaf(leaf: &Frame<'_>, from: usize, last: u64, f: &mut impl FnMut(Range, usize)) -> bool {
    let words = leaf.node.leaf_words();
    let mut lo = leaf.slot_min(from);
    for i in from..=leaf.end {
        let hi = if i < leaf.end {
            words.pivot(i)
        } else {
            leaf.max
        };
        let word = words.slot(i);
        if word != 0 {
            f(Range::new_unchecked(lo, hi), word);
            if lo > last {
                return true;
            }
        }
        // Past the last slot this wraps only at the top of the key space, where the scan
        // ends.
        lo = hi.wrapping_add(1);
    }
    false
}
