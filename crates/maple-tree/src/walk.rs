//! Descending the tree: frames that carry a node's implied limits, and paths of frames from the
//! root to a leaf.
//!
//! A node does not store the range it covers; a walk derives it from the parent's pivots on the
//! way down, exactly like the kernel's `mas_descend()`. A [`Path`] keeps every frame from the root
//! down, so moving to a neighbouring leaf or propagating a change upwards needs no parent
//! pointers and no re-walk (the kernel climbs `node->parent` and recomputes the limits instead).

use arrayvec::ArrayVec;

use crate::node::{MAX_HEIGHT, NodeRef};
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

/// The walk met a node that a writer has replaced; start again from the root.
#[derive(Debug)]
pub(crate) struct Dead;

/// Index of the slot of `node` (data end `end`) that contains `index`.
///
/// Linux: the pivot scan of `mas_descend()` / `mtree_lookup_walk()`.
#[inline]
pub(crate) fn slot_of(node: NodeRef<'_>, end: usize, index: u64) -> usize {
    let mut i = 0;
    while i < end && node.pivot(i) < index {
        i += 1;
    }
    i
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
}

/// The root frame of the tree, or `None` when the tree is empty.
#[inline]
pub(crate) fn root_frame<'g>(core: &Core, guard: &'g Guard) -> Option<Frame<'g>> {
    core.root
        .load(guard)
        .map(|node| Frame::new(node, 0, u64::MAX))
}

/// Fills `path` with the frames from the root down to the leaf containing `index`.
///
/// Returns `Ok(false)` for an empty tree (the path is left empty) and `Err(Dead)` when a node on
/// the way had been replaced by a concurrent writer; the caller retries.
///
/// Linux: `mas_walk()` / `mas_wr_walk()`.
pub(crate) fn walk_to<'g>(
    core: &Core,
    guard: &'g Guard,
    path: &mut Path<'g>,
    index: u64,
) -> Result<bool, Dead> {
    path.clear();
    let Some(mut frame) = root_frame(core, guard) else {
        return Ok(false);
    };
    loop {
        frame.seek(index);
        path.push(frame);
        if frame.node.is_leaf() {
            break;
        }
        let child = frame
            .child_frame()
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        if frame.node.is_dead() {
            return Err(Dead);
        }
        frame = child;
    }
    if frame.node.is_dead() {
        return Err(Dead);
    }
    Ok(true)
}

/// Descends from the last frame of `path` to a leaf, always taking the first slot (`leftmost`)
/// or the last one. The last frame's offset must already point at the child to enter.
pub(crate) fn descend_edge<'g>(path: &mut Path<'g>, leftmost: bool) -> Result<(), Dead> {
    loop {
        let Some(top) = path.last() else {
            return Ok(());
        };
        if top.node.is_leaf() {
            return Ok(());
        }
        let mut child = top
            .child_frame()
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        if top.node.is_dead() {
            return Err(Dead);
        }
        if !leftmost {
            child.offset = child.end;
        }
        path.push(child);
    }
}
