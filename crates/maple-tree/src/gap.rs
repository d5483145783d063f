//! Gap tracking for allocation trees, and gap search for every tree.
//!
//! Every internal node of an allocation tree records, for each child, the largest run of empty
//! indices below it, and which child holds the largest one. A search descends only into children
//! whose recorded gap is large enough, so it visits O(log n) nodes plus at most the two edge
//! paths of the search window. A range tree records no gaps: the same search visits the leaves of
//! the window in order until one holds a fit, O(n) in the worst case.
//!
//! Linux: `mas_update_gap()`, `mas_parent_gap()`, `ma_max_gap()`, `mas_leaf_max_gap()`,
//! `mas_empty_area()`, `mas_empty_area_rev()`.

use crate::node::NodeRef;
use crate::rcu::Guard;
use crate::root::Core;
use crate::walk::{Frame, Path, Stale, root_frame, slot_of};

/// The largest empty run in the leaf of `frame` (read from the node, not the cached end).
///
/// Linux: `mas_leaf_max_gap()`.
pub(crate) fn leaf_gap(frame: &Frame<'_>) -> u64 {
    let words = frame.node.leaf_words();
    // A leaf's end is at most 15: cut to that, it bounds the slot index for the compiler.
    let end = frame.node.end().min(15);
    let mut best = 0;
    // The first index of slot `i`, carried from one slot to the next. Below `end` a slot ends
    // at its pivot, which is below the node's maximum, so its size cannot overflow.
    let mut first = frame.min;
    for i in 0..end {
        let last = words.pivot(i);
        if words.slot(i) == 0 {
            best = best.max(last - first + 1);
        }
        first = last.wrapping_add(1);
    }
    if words.slot(end) == 0 {
        best = best.max((frame.max - first).saturating_add(1));
    }
    best
}

/// Keeps the gaps above the leaf at `path[depth]` after a write that shrank or filled empty
/// ranges of at most `shrunk` indices each and made none larger. The parent records the
/// leaf's largest gap: unless a range that large was among them, the largest is untouched and
/// nothing changes; otherwise the leaf is scanned and the change carried up.
///
/// Linux: `mas_update_gap()`, which always scans.
#[inline]
pub(crate) fn after_shrink(path: &Path<'_>, depth: usize, shrunk: u64) {
    let Some(up) = depth.checked_sub(1) else {
        return;
    };
    let parent = &path[up];
    if shrunk >= parent.node.gap_words().get(parent.offset) {
        propagate(path, up, leaf_gap(&path[depth]));
    }
}

/// Keeps the gaps above the leaf at `path[depth]` after a write that merged empty ranges into
/// one of `merged` indices and shrank none: the leaf's largest gap is the merged range if that
/// is larger than the one recorded, else unchanged. No scan.
///
/// Linux: `mas_update_gap()`, which always scans.
#[inline]
pub(crate) fn after_merge(path: &Path<'_>, depth: usize, merged: u64) {
    let Some(up) = depth.checked_sub(1) else {
        return;
    };
    let parent = &path[up];
    if merged > parent.node.gap_words().get(parent.offset) {
        propagate(path, up, merged);
    }
}

/// The largest gap below an allocation node, recomputing which slot holds it.
///
/// Linux: `ma_max_gap()` and `ma_set_meta_gap()`.
pub(crate) fn refresh_max_gap(node: NodeRef<'_>) -> u64 {
    let end = node.end();
    let mut best = (0, node.gap(0));
    let mut i = 1;
    while i <= end {
        let g = node.gap(i);
        if g > best.1 {
            best = (i, g);
        }
        i += 1;
    }
    node.set_max_gap_slot(best.0);
    best.1
}

/// Records that the child under `path[depth]`'s current slot now has `gap`, and carries the
/// change up until an ancestor's largest gap is unchanged.
///
/// Linux: `mas_update_gap()` / `mas_parent_gap()`.
pub(crate) fn propagate(path: &Path<'_>, depth: usize, mut gap: u64) {
    for d in (0..=depth).rev() {
        let (node, slot) = (path[d].node, path[d].offset);
        if node.gap(slot) == gap {
            return;
        }
        let max_slot = node.max_gap_slot();
        let before = node.gap(max_slot);
        node.set_gap(slot, gap);
        // Only a shrinking largest gap needs a scan of the others to find the new largest.
        gap = if gap > before || (gap == before && slot < max_slot) {
            node.set_max_gap_slot(slot);
            gap
        } else if slot != max_slot {
            before
        } else {
            refresh_max_gap(node)
        };
        if gap == before {
            return;
        }
    }
}

/// A validated gap request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GapQuery {
    pub(crate) min: u64,
    pub(crate) max: u64,
    /// Size minus one, so that a size of 2^64 - 1 indices still fits a `u64` sum.
    pub(crate) size_m1: u64,
    /// Alignment mask (`align - 1`).
    pub(crate) mask: u64,
}

impl GapQuery {
    /// Where a fit would start inside the empty run `[lo, hi]` (already clipped to the window),
    /// searching upwards: the lowest aligned start whose range ends by `hi`.
    fn fit_low(&self, lo: u64, hi: u64) -> Option<u64> {
        if hi - lo < self.size_m1 {
            return None;
        }
        let start = lo.checked_add(self.mask)? & !self.mask;
        (start <= hi && hi - start >= self.size_m1).then_some(start)
    }

    /// Searching downwards: the highest aligned start in `[lo, hi]` whose range ends by `hi`.
    fn fit_high(&self, lo: u64, hi: u64) -> Option<u64> {
        if hi - lo < self.size_m1 {
            return None;
        }
        let start = (hi - self.size_m1) & !self.mask;
        (start >= lo).then_some(start)
    }

    /// Whether a run of `gap` empty indices can hold the size at all.
    fn may_fit(&self, gap: u64) -> bool {
        gap > self.size_m1
    }
}

/// Finds a fit in the whole tree: the lowest start if `rev` is false, else the highest. An
/// empty tree is one empty run `[0, u64::MAX]`.
///
/// Runs under a guard and starts again from the root whenever a read turns out stale, so the
/// fit it answers is an empty slot read, with its range, from a node that was current at that
/// moment. Concurrent writers may fill it at once.
pub(crate) fn search(core: &Core, guard: &Guard, q: &GapQuery, rev: bool) -> Option<u64> {
    loop {
        let Some(root) = root_frame(core, guard) else {
            return if rev {
                q.fit_high(q.min, q.max)
            } else {
                q.fit_low(q.min, q.max)
            };
        };
        let found = if rev {
            search_node::<true>(root, q, &mut ())
        } else {
            search_node::<false>(root, q, &mut ())
        };
        match found {
            Ok(fit) => return Some(fit),
            Err(Miss::NoFit) => return None,
            Err(Miss::Stale) => {}
        }
    }
}

/// [`search`], leaving in `path` the frames from the root to the leaf of the fit, positioned on
/// the empty slot that holds it (left empty for an empty tree or when nothing fits). The tree's
/// writer stores into the fit from there without walking again (Linux: `mas_empty_area()`
/// leaving the maple state on the gap for `mas_store_gfp()`).
pub(crate) fn search_path<'g>(
    core: &Core,
    guard: &'g Guard,
    q: &GapQuery,
    rev: bool,
    path: &mut Path<'g>,
) -> Option<u64> {
    loop {
        path.clear();
        let Some(root) = root_frame(core, guard) else {
            return if rev {
                q.fit_high(q.min, q.max)
            } else {
                q.fit_low(q.min, q.max)
            };
        };
        let found = if rev {
            search_node::<true>(root, q, path)
        } else {
            search_node::<false>(root, q, path)
        };
        match found {
            Ok(fit) => return Some(fit),
            Err(Miss::NoFit) => {
                path.clear();
                return None;
            }
            Err(Miss::Stale) => {}
        }
    }
}

/// Where a search leaves the frames down to its fit: in a path, or nowhere.
trait Trail<'g> {
    fn push(&mut self, frame: Frame<'g>);
    fn pop(&mut self);
}

impl<'g> Trail<'g> for () {
    fn push(&mut self, _frame: Frame<'g>) {}
    fn pop(&mut self) {}
}

impl<'g> Trail<'g> for Path<'g> {
    fn push(&mut self, frame: Frame<'g>) {
        Path::push(self, frame);
    }

    fn pop(&mut self) {
        Path::pop(self);
    }
}

/// Why a subtree gave no fit.
enum Miss {
    /// It holds none.
    NoFit,
    /// A leaf read turned out stale: the search starts again from the root.
    Stale,
}

impl From<Stale> for Miss {
    fn from(Stale: Stale) -> Self {
        Self::Stale
    }
}

/// Depth-first search of one subtree, children in window order (from the top with `REV`),
/// pruned by the recorded gaps; the frames down to the fit are left in `trail`.
///
/// Every leaf is confirmed after the slots it looked at (the fit, or all of them); internal
/// nodes need not be (see [`crate::walk`]).
fn search_node<'g, const REV: bool>(
    f: Frame<'g>,
    q: &GapQuery,
    trail: &mut impl Trail<'g>,
) -> Result<u64, Miss> {
    // The slots that meet the window.
    let first = if f.min >= q.min {
        0
    } else {
        slot_of(f.node, f.end, q.min)
    };
    let last = if f.max <= q.max {
        f.end
    } else if REV {
        // A search from the top starts at the window's end, most often near the node's end:
        // scanned from there, the pivots at or above the end of the window are few.
        let mut last = f.end;
        while last > 0 && f.node.pivot(last - 1) >= q.max {
            last -= 1;
        }
        last
    } else {
        slot_of(f.node, f.end, q.max)
    };
    if f.node.is_leaf() {
        let found = if REV {
            fit_in_leaf_high(&f, first, last, q)
        } else {
            fit_in_leaf_low(&f, first, last, q)
        };
        f.confirm()?;
        let (i, fit) = found.ok_or(Miss::NoFit)?;
        trail.push(Frame { offset: i, ..f });
        return Ok(fit);
    }
    let (mut i, stop) = if REV { (last, first) } else { (first, last) };
    let gaps = f.node.kind().has_gaps().then(|| f.node.gap_words());
    loop {
        // The cheap test first: only a child whose recorded gap is large enough has its range
        // worked out. An allocation node's end is at most 9, which bounds `i`.
        if let Some(gaps) = gaps {
            while !q.may_fit(gaps.get(i.min(9))) {
                if i == stop {
                    return Err(Miss::NoFit);
                }
                i = if REV { i - 1 } else { i + 1 };
            }
        }
        let (min, max) = (f.slot_min(i), f.slot_max(i));
        if max.min(q.max) - min.max(q.min) >= q.size_m1
            && let Some(child) = f.node.child(i)
        {
            trail.push(Frame { offset: i, ..f });
            match search_node::<REV>(Frame::new(child, min, max), q, trail) {
                Err(Miss::NoFit) => trail.pop(),
                found => return found,
            }
        }
        if i == stop {
            return Err(Miss::NoFit);
        }
        i = if REV { i - 1 } else { i + 1 };
    }
}

/// The lowest fit in the empty slots `first..=last` of the leaf of `f`, and its slot;
/// unconfirmed. Only an empty slot has its range worked out.
#[inline]
fn fit_in_leaf_low(f: &Frame<'_>, first: usize, last: usize, q: &GapQuery) -> Option<(usize, u64)> {
    let words = f.node.leaf_words();
    // A leaf's end is at most 15: cut to that, it bounds the slot index for the compiler.
    let end = f.end.min(15);
    let (mut i, last) = (first.min(end), last.min(end));
    loop {
        if words.slot(i) == 0 {
            let lo = if i == 0 {
                f.min
            } else {
                words.pivot(i - 1).wrapping_add(1)
            };
            let hi = if i < end { words.pivot(i) } else { f.max };
            if let Some(fit) = q.fit_low(lo.max(q.min), hi.min(q.max)) {
                return Some((i, fit));
            }
        }
        if i >= last {
            return None;
        }
        i += 1;
    }
}

/// The highest fit in the empty slots `first..=last` of the leaf of `f`, and its slot;
/// unconfirmed. Only an empty slot has its range worked out.
#[inline]
fn fit_in_leaf_high(
    f: &Frame<'_>,
    first: usize,
    last: usize,
    q: &GapQuery,
) -> Option<(usize, u64)> {
    let words = f.node.leaf_words();
    // As in `fit_in_leaf_low`.
    let end = f.end.min(15);
    let (first, mut i) = (first.min(end), last.min(end));
    loop {
        if words.slot(i) == 0 {
            let lo = if i == 0 {
                f.min
            } else {
                words.pivot(i - 1).wrapping_add(1)
            };
            let hi = if i < end { words.pivot(i) } else { f.max };
            if let Some(fit) = q.fit_high(lo.max(q.min), hi.min(q.max)) {
                return Some((i, fit));
            }
        }
        if i <= first {
            return None;
        }
        i -= 1;
    }
}
