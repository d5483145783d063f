//! The big node: the content of one level of the tree, gathered from the nodes a write rebuilds,
//! before it is cut into new nodes.
//!
//! Linux: `struct maple_big_node`, `mab_calc_split()`, `mab_no_null_split()`, `mab_mas_cp()`.

use arrayvec::ArrayVec;

use crate::node::{NodeKind, NodeRef};
use crate::walk::Frame;

/// Capacity of a big node. The largest content gathered at one level is a left prefix of 15
/// slots, up to 3 new children (or a value and two remainders), a right suffix of 15 slots and
/// one pulled neighbour of 16 slots: 49 items.
const BIG_CAP: usize = 64;

/// One slot's worth of content: the slot's last index, its word and, for children of an
/// allocation node, the largest gap below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) pivot: u64,
    pub(crate) word: usize,
    pub(crate) gap: u64,
}

/// How to place the cut of a two-way split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bias {
    /// Halve the content.
    Even,
    /// The content took in its left sibling: fill the left node (the kernel's push left).
    FillLeft,
    /// The content took in its right sibling: fill the right node (the kernel's push right).
    FillRight,
}

/// Content of one level covering `[min, max of the last item]`.
#[derive(Clone, Debug)]
pub(crate) struct BigNode {
    pub(crate) min: u64,
    items: ArrayVec<Item, BIG_CAP>,
}

impl BigNode {
    pub(crate) fn new(min: u64) -> Self {
        Self {
            min,
            items: ArrayVec::new(),
        }
    }

    /// Empties the content and restarts it at `min`.
    pub(crate) fn reset(&mut self, min: u64) {
        self.min = min;
        self.items.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn items(&self) -> &[Item] {
        &self.items
    }

    /// Appends a slot as is.
    #[inline]
    pub(crate) fn push(&mut self, item: Item) {
        self.items.push(item);
    }

    /// Appends a leaf slot, merging an empty slot into an empty predecessor so that empty
    /// ranges stay maximal. Linux: `mas_wr_extend_null()`.
    #[inline]
    pub(crate) fn push_value(&mut self, pivot: u64, word: usize) {
        if word == 0
            && let Some(last) = self.items.last_mut()
            && last.word == 0
        {
            last.pivot = pivot;
            return;
        }
        self.items.push(Item {
            pivot,
            word,
            gap: 0,
        });
    }

    /// Appends slot `i` of the node in `frame`, with its gap when the node has gaps.
    #[inline]
    pub(crate) fn push_slot(&mut self, frame: &Frame<'_>, i: usize) {
        self.items.push(slot_item(frame, i));
    }

    /// Appends every slot of `frame`.
    pub(crate) fn push_all(&mut self, frame: &Frame<'_>) {
        for i in 0..=frame.end {
            self.push_slot(frame, i);
        }
    }

    /// Puts every slot of `frame`, which ends just before this content, in front of it.
    pub(crate) fn prepend_all(&mut self, frame: &Frame<'_>) {
        let old = self.items.len();
        let n = frame.end + 1;
        // The content moves up by `n` in one copy; the frame's slots then fill the front.
        let blank = Item {
            pivot: 0,
            word: 0,
            gap: 0,
        };
        for _ in 0..n {
            self.items.push(blank);
        }
        self.items.copy_within(0..old, n);
        for (i, item) in self.items[..n].iter_mut().enumerate() {
            *item = slot_item(frame, i);
        }
        self.min = frame.min;
    }

    /// Cuts the content into runs of `kind` nodes: see [`split_points`].
    pub(crate) fn split_points(&self, kind: NodeKind, bias: Bias) -> ArrayVec<usize, 3> {
        split_points(self.items.len(), kind, bias, |i| self.items[i].word == 0)
    }
}

/// Cuts content of `len` slots of `kind` nodes into 1, 2 or 3 runs and returns where each run
/// ends; `is_empty(i)` says whether slot `i` of the content is empty. Only the count and the
/// slots beside a cut matter, so the content need not be gathered anywhere first.
///
/// Every run fits a node. Runs hold at least the kind's minimum when there are several of
/// them. A leaf run that is not the last never ends with an empty slot: all empty slots of a
/// gap stay in one leaf, and only the rightmost leaf may end empty.
///
/// Linux: `mab_calc_split()`, `mab_no_null_split()`.
#[inline]
pub(crate) fn split_points(
    len: usize,
    kind: NodeKind,
    bias: Bias,
    is_empty: impl Fn(usize) -> bool,
) -> ArrayVec<usize, 3> {
    let cap = kind.slots();
    let min = kind.min_len();
    // Moves a cut at `cut` (a run `[start, cut)` followed by `[cut, len)`) by one slot if the
    // run would end on an empty leaf slot. Empty slots are never adjacent, so one step is
    // enough; it goes right when both runs still fit, else left.
    let avoid_empty_end = |start: usize, cut: usize| {
        if !kind.is_leaf() || !is_empty(cut - 1) {
            return cut;
        }
        let fits = |c: usize| c - start <= cap && len - c >= min;
        if fits(cut + 1) { cut + 1 } else { cut - 1 }
    };
    let mut ends = ArrayVec::new();
    if len <= cap {
        ends.push(len);
    } else if len < 2 * cap {
        let cut = match bias {
            Bias::Even => len.div_ceil(2),
            Bias::FillLeft => (cap - 1).min(len - min),
            Bias::FillRight => (len - (cap - 1)).max(min),
        };
        ends.push(avoid_empty_end(0, cut));
        ends.push(len);
    } else {
        let first = avoid_empty_end(0, len.div_ceil(3));
        let second = avoid_empty_end(first, first + (len - first).div_ceil(2));
        ends.push(first);
        ends.push(second);
        ends.push(len);
    }
    ends
}

/// Slot `i` of the node in `frame` as an item, with its gap when the node has gaps.
#[inline]
fn slot_item(frame: &Frame<'_>, i: usize) -> Item {
    let node = frame.node;
    Item {
        pivot: frame.slot_max(i),
        word: node.slot(i),
        gap: if node.kind().has_gaps() {
            node.gap(i)
        } else {
            0
        },
    }
}

/// Writes `items` into `node` from slot `from` on, as the content of a node covering
/// `[min, max]`, and zeroes what lay beyond the new end up to `old_end` (invariant N2).
///
/// Returns the largest gap in the node; for a leaf only when `gaps` (the tree tracks gaps), else
/// 0.
///
/// Linux: `mab_mas_cp()` and `mas_leaf_set_meta()`.
pub(crate) fn fill(
    node: NodeRef<'_>,
    items: &[Item],
    from: usize,
    min: u64,
    max: u64,
    old_end: usize,
    gaps: bool,
) -> u64 {
    let kind = node.kind();
    let end = items.len() - 1;
    // Every slot but the last has a pivot (`end` is at most the pivot count); the last one
    // ends at `max`, stored if it has a pivot.
    if from < end {
        for (i, item) in (from..end).zip(&items[from..end]) {
            node.set_pivot(i, item.pivot);
            node.set_slot(i, item.word);
        }
    }
    if from <= end {
        if end < kind.pivots() {
            node.set_pivot(end, max);
        }
        node.set_slot(end, items[end].word);
    }
    if kind.has_gaps() {
        for (i, item) in (from..).zip(items.get(from..).unwrap_or_default()) {
            node.set_gap(i, item.gap);
        }
        for i in end + 1..=old_end {
            node.set_gap(i, 0);
        }
    }
    if end < old_end {
        node.clear_from(end + 1, old_end);
    }
    node.set_end(end);
    match kind {
        NodeKind::Leaf if gaps => leaf_gap(items, min),
        NodeKind::AllocRange => {
            let (slot, gap) = items.iter().enumerate().fold((0, 0), |best, (i, it)| {
                if it.gap > best.1 { (i, it.gap) } else { best }
            });
            node.set_max_gap_slot(slot);
            gap
        }
        NodeKind::Leaf | NodeKind::Range => 0,
    }
}

/// The largest run of empty indices in leaf content starting at `min`.
///
/// Linux: `mas_leaf_max_gap()`.
pub(crate) fn leaf_gap(items: &[Item], min: u64) -> u64 {
    let mut best = 0;
    let mut start = min;
    for item in items {
        if item.word == 0 {
            best = best.max((item.pivot - start).saturating_add(1));
        }
        start = item.pivot.wrapping_add(1);
    }
    best
}
