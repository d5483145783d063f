//! Splits and rebalances of one leaf in exclusive mode, written straight from the old nodes.
//!
//! A store that overflows its leaf (a split, or a push into a sibling) or underflows it (a
//! rebalance with a sibling) rewrites at most two leaves: the leaf and a sibling under the same
//! parent, or the leaf and a new node. In exclusive mode no reader can see them half written, so
//! the new content goes straight into them from where it lies: the old leaf's slots before and
//! after the edit, the edit's few new slots ([`Edit`]) and the sibling's slots, copied as runs,
//! with the cut worked out from the counts alone. Nothing is gathered into a [`BigNode`] first.
//!
//! The content, in key order, is the sibling on the left (if any), the edited leaf `X'`, then
//! the sibling on the right (if any):
//!
//! ```text
//!   X' = X[..keep_front] ++ middle ++ X[keep_back..]
//!   even split:     X'       ->  X: X'[..cut]       new: X'[cut..]
//!   left sibling:   L ++ X'  ->  L: L ++ X'[..s]    X: X'[s..]          (or all of it in L)
//!   right sibling:  X' ++ R  ->  X: X'[..cut]       R: X'[cut..] ++ R   (a cut inside X')
//!                                X: X' ++ R[..j]    R: R[j..]           (a cut inside R, or all in X)
//! ```
//!
//! The writes are ordered so that every slot is read before anything overwrites it: a sibling or
//! a new node that takes part of `X'` is written first, while `X` still holds its old content,
//! and `X` is rewritten last, front run first (it only moves down), then the back run, then the
//! new slots; a sibling that gives slots to `X` gives them before it moves its own down.
//!
//! The parent changes in place too: one pivot between two nodes that shared their content, a
//! child added after a split or one removed after a merge. A parent that would overflow or
//! underflow is itself an edited node (`X'` is the parent with the new child, or without the
//! removed one) and splits or rebalances the same way, with the gaps of an allocation tree's
//! nodes and its children's parent links carried along, and so on up. The shapes this module
//! leaves alone (a root that splits, a neighbour under another parent, a merge that leaves one
//! node for a whole level) go through the general [`rebuild`](super::Writer::rebuild) from
//! their level up, decided before anything at that level is written. Both paths cut where
//! [`split_points`] says, so they build the same nodes.
//!
//! Linux: `mas_split()`, `mas_push_data()` and `mas_rebalance()` in non-RCU mode.

use arrayvec::ArrayVec;

use super::big_node::{Bias, BigNode, Item, split_points};
use super::leaf::Edit;
use super::rebuild::{Side, push_room};
use super::{Writer, adopt_children};
use crate::gap;
use crate::node::{NodeKind, NodeRef};
use crate::walk::{Frame, Path};

/// The new content of one level: the edited node `X'`, and all of a sibling before or after
/// it.
struct Content<'e, 'a> {
    /// The node being edited, as it was before the write: `X'` starts with its kept front.
    leaf: Frame<'a>,
    /// The node whose kept back ends `X'`, as it was before the write: the same node, or the
    /// next leaf for a store that crosses into it.
    back: Frame<'a>,
    edit: &'e Edit,
    /// Slots of `X'`.
    lx: usize,
    /// Where the kept back slots start in `X'`.
    back_at: usize,
    /// The sibling taken in, as it was before the write, and its side.
    sibling: Option<(Side, Frame<'a>)>,
}

impl<'a> Content<'_, 'a> {
    /// Slots of the sibling taken in.
    fn sibling_len(&self) -> usize {
        self.sibling.map_or(0, |(_, s)| s.end + 1)
    }

    /// The word of slot `u` of `X'`.
    fn x_word(&self, u: usize) -> usize {
        let e = self.edit;
        if u < e.keep_front {
            self.leaf.node.slot(u)
        } else if u < self.back_at {
            e.middle[u - e.keep_front].word
        } else {
            self.back.node.slot(e.keep_back + u - self.back_at)
        }
    }

    /// The last index of slot `u` of `X'`.
    fn x_max(&self, u: usize) -> u64 {
        let e = self.edit;
        if u < e.keep_front {
            self.leaf.slot_max(u)
        } else if u < self.back_at {
            e.middle[u - e.keep_front].pivot
        } else {
            self.back.slot_max(e.keep_back + u - self.back_at)
        }
    }

    /// The word of slot `v` of the whole content.
    fn word(&self, v: usize) -> usize {
        match self.sibling {
            Some((Side::Left, s)) if v <= s.end => s.node.slot(v),
            Some((Side::Left, s)) => self.x_word(v - s.end - 1),
            Some((Side::Right, s)) if v >= self.lx => s.node.slot(v - self.lx),
            _ => self.x_word(v),
        }
    }

    /// Writes `X'[a..b)` into `dst` from slot `at` on: the kept front (from the leaf), the
    /// edit's new slots, the kept back (from the back leaf). `dst` may be one of those two
    /// leaves, with `at` 0; the runs that move within it then go first, in the order that reads
    /// every slot before it is overwritten: within the leaf, the front run moves down (`a` is
    /// at least its old place) before the back run moves to just past the new slots; within a
    /// back leaf that is another node, its run moves first, past where the others go. The
    /// caller orders the nodes so that no node is written before another one reads from it.
    fn write(&self, dst: NodeRef<'a>, at: usize, a: usize, b: usize) {
        let (kf, ba, kb) = (self.edit.keep_front, self.back_at, self.edit.keep_back);
        let (f0, f1) = (a.min(kf), b.min(kf));
        let (u0, u1) = (a.max(ba), b.max(ba));
        let (b0, b1) = (kb + u0 - ba, kb + u1 - ba);
        let back_to = at + u0 - a;
        let in_leaf = dst == self.leaf.node;
        let in_back = dst == self.back.node;
        if in_back && !in_leaf {
            move_run(&self.back, b0, b1, back_to);
            copy_run(dst, at, &self.leaf, f0, f1);
        } else {
            if !in_leaf {
                copy_run(dst, at, &self.leaf, f0, f1);
            } else if f0 != at {
                move_run(&self.leaf, f0, f1, at);
            }
            if in_back {
                move_run(&self.back, b0, b1, back_to);
            } else {
                copy_run(dst, back_to, &self.back, b0, b1);
            }
        }
        let pivots = dst.kind().pivots();
        let gaps = dst.kind().has_gaps();
        for u in a.max(kf)..b.min(ba) {
            let item = &self.edit.middle[u - kf];
            let i = at + u - a;
            if i < pivots {
                dst.set_pivot(i, item.pivot);
            }
            dst.set_slot(i, item.word);
            if gaps {
                dst.set_gap(i, item.gap);
            }
        }
    }
}

/// Copies slots `from..to` of `src` into `dst`, another node, from slot `at` on, with the range
/// of each: the stored pivots, and the maximum of `src` for its last slot.
fn copy_run(dst: NodeRef<'_>, at: usize, src: &Frame<'_>, from: usize, to: usize) {
    if from >= to {
        return;
    }
    let count = to - from;
    dst.copy_slots_from(at, src.node, from, count);
    if dst.kind().has_gaps() {
        dst.copy_gaps_from(at, src.node, from, count);
    }
    let pivots = dst.kind().pivots();
    let stored = to
        .min(src.end)
        .saturating_sub(from)
        .min(pivots.saturating_sub(at));
    dst.copy_pivots_from(at, src.node, from, stored);
    let last = at + count - 1;
    if to == src.end + 1 && last < pivots {
        dst.set_pivot(last, src.max);
    }
}

/// [`copy_run`] within the node of `frame`: slots `from..to` move to `at` on (the runs may
/// overlap).
fn move_run(frame: &Frame<'_>, from: usize, to: usize, at: usize) {
    if from >= to {
        return;
    }
    let node = frame.node;
    let count = to - from;
    node.move_slots(from, at, count);
    if node.kind().has_gaps() {
        node.move_gaps(from, at, count);
    }
    let pivots = node.kind().pivots();
    let stored = to
        .min(frame.end)
        .saturating_sub(from)
        .min(pivots.saturating_sub(at));
    node.move_pivots(from, at, stored);
    let last = at + count - 1;
    if to == frame.end + 1 && last < pivots {
        node.set_pivot(last, frame.max);
    }
}

/// Closes a node whose first `len` slots were written, ending at `max`: its last slot's pivot
/// (N1), zeroes what lay past the new end up to `old_end` (N2), and sets the end. The children
/// of an internal node from slot `moved` on are pointed at it again.
fn finish(node: NodeRef<'_>, len: usize, old_end: usize, max: u64, moved: usize) {
    let kind = node.kind();
    let end = len - 1;
    if end < kind.pivots() {
        node.set_pivot(end, max);
    }
    if len <= old_end {
        node.clear_from(len, old_end);
        if kind.has_gaps() {
            for i in len..=old_end {
                node.set_gap(i, 0);
            }
        }
    }
    node.set_end(end);
    if !kind.is_leaf() {
        adopt_children(node, moved);
    }
}

/// The largest gap below `node`, covering `[min, max]`, for its parent's record: a leaf's
/// largest empty range (only tracked when `alloc`), an allocation node's largest child gap
/// (recording which child has it).
fn node_gap(alloc: bool, node: NodeRef<'_>, min: u64, max: u64) -> u64 {
    match node.kind() {
        NodeKind::Leaf if alloc => gap::leaf_gap(&Frame::new(node, min, max)),
        NodeKind::AllocRange => gap::refresh_max_gap(node),
        NodeKind::Leaf | NodeKind::Range => 0,
    }
}

/// What the parent needs after a level was written.
enum ParentChange<'a> {
    /// Two children shared their content: the pivot between slots `slot` and `slot + 1`, and
    /// their gaps.
    Pivot {
        slot: usize,
        pivot: u64,
        gaps: [u64; 2],
    },
    /// The node split: `new` goes after it, which now ends at `pivot`.
    Insert {
        new: NodeRef<'a>,
        pivot: u64,
        gaps: [u64; 2],
    },
    /// Slot `keep` took in the content of the slot after it, which goes.
    Remove { keep: usize, gap: u64 },
}

impl ParentChange<'_> {
    /// Two neighbours under one parent, `low` in slot `slot` and `high` after it, whose content
    /// now meets at `mid`: the pivot between them and the gaps of both.
    fn meeting(alloc: bool, slot: usize, low: &Frame<'_>, mid: u64, high: &Frame<'_>) -> Self {
        ParentChange::Pivot {
            slot,
            pivot: mid,
            gaps: [
                node_gap(alloc, low.node, low.min, mid),
                node_gap(alloc, high.node, mid + 1, high.max),
            ],
        }
    }
}

impl<'a, T: 'static> Writer<'a, T> {
    /// Exclusive mode: carries out the split or rebalance of the leaf at the end of `left` that
    /// `edit` overflows or underflows, writing the new leaves straight from the old ones.
    /// Returns `false`, having changed nothing, for the shapes it leaves to
    /// [`rebuild`](Self::rebuild).
    pub(super) fn split_in_place(&mut self, left: &mut Path<'a>, edit: &Edit) -> bool {
        debug_assert!(self.exclusive);
        self.split_level(left, left.len() - 1, edit)
    }

    /// [`split_in_place`](Self::split_in_place) for the node at `depth` of `left`, a leaf or
    /// an internal node.
    fn split_level(&mut self, left: &mut Path<'a>, depth: usize, edit: &Edit) -> bool {
        if depth == 0 {
            return false;
        }
        let leaf = left[depth];
        let kind = leaf.node.kind();
        let parent = left[depth - 1];
        let o = parent.offset;
        let child = |slot: usize| {
            parent.node.child(slot).map_or_else(
                || unreachable!("invariant N3 broken: empty internal slot"),
                |node| Frame::new(node, parent.slot_min(slot), parent.slot_max(slot)),
            )
        };
        let child_len = |slot: usize| {
            parent.node.child(slot).map_or_else(
                || unreachable!("invariant N3 broken: empty internal slot"),
                |node| node.end() + 1,
            )
        };
        let lx = edit.len_in(&leaf);
        // The neighbour the general path would take in, and how it would cut.
        let (sibling, bias) = if lx > kind.slots() {
            let space = push_room(kind, leaf.max == u64::MAX);
            if o > 0 && lx + child_len(o - 1) - 2 < space {
                (Some((Side::Left, child(o - 1))), Bias::FillLeft)
            } else if o < parent.end && lx + child_len(o + 1) - 2 < space {
                (Some((Side::Right, child(o + 1))), Bias::FillRight)
            } else {
                (None, Bias::Even)
            }
        } else if lx < kind.min_len() {
            // A neighbour under another parent (a cousin) is the general path's.
            if leaf.max != u64::MAX {
                if o == parent.end {
                    return false;
                }
                (Some((Side::Right, child(o + 1))), Bias::Even)
            } else {
                if o == 0 {
                    return false;
                }
                (Some((Side::Left, child(o - 1))), Bias::Even)
            }
        } else {
            return false;
        };
        let content = Content {
            leaf,
            back: leaf,
            edit,
            lx,
            back_at: edit.keep_front + edit.middle.len(),
            sibling,
        };
        let ls = content.sibling_len();
        let len = lx + ls;
        let ends = split_points(len, kind, bias, |v| content.word(v) == 0);
        let alloc = self.core.alloc;
        let gap_of = |node: NodeRef<'_>, min: u64, max: u64| node_gap(alloc, node, min, max);
        let kf = edit.keep_front;
        let change = match (sibling, ends.as_slice()) {
            (None, &[cut, _]) => {
                let new = self.pool.take(kind);
                content.write(new, 0, cut, lx);
                finish(new, lx - cut, 0, leaf.max, 0);
                let mid = content.x_max(cut - 1);
                content.write(leaf.node, 0, 0, cut);
                finish(leaf.node, cut, leaf.end, mid, kf);
                ParentChange::Insert {
                    new,
                    pivot: mid,
                    gaps: [
                        gap_of(leaf.node, leaf.min, mid),
                        gap_of(new, mid + 1, leaf.max),
                    ],
                }
            }
            (Some((Side::Left, sib)), &[cut, _]) if cut >= ls => {
                let s = cut - ls;
                content.write(sib.node, ls, 0, s);
                let mid = if s > 0 { content.x_max(s - 1) } else { sib.max };
                finish(sib.node, cut, sib.end, mid, ls);
                content.write(leaf.node, 0, s, lx);
                finish(
                    leaf.node,
                    lx - s,
                    leaf.end,
                    leaf.max,
                    if s > 0 { 0 } else { kf },
                );
                ParentChange::meeting(alloc, o - 1, &sib, mid, &leaf)
            }
            (Some((Side::Left, sib)), &[_]) if sib.min > 0 || leaf.max < u64::MAX => {
                content.write(sib.node, ls, 0, lx);
                finish(sib.node, len, sib.end, leaf.max, ls);
                self.pool.retired.unlink(leaf.node);
                ParentChange::Remove {
                    keep: o - 1,
                    gap: gap_of(sib.node, sib.min, leaf.max),
                }
            }
            (Some((Side::Right, sib)), &[cut, _]) if cut <= lx => {
                let k = lx - cut;
                move_run(&sib, 0, ls, k);
                content.write(sib.node, 0, cut, lx);
                finish(sib.node, k + ls, sib.end, sib.max, 0);
                let mid = content.x_max(cut - 1);
                content.write(leaf.node, 0, 0, cut);
                finish(leaf.node, cut, leaf.end, mid, kf);
                ParentChange::meeting(alloc, o, &leaf, mid, &sib)
            }
            (Some((Side::Right, sib)), &[cut, _]) => {
                let j = cut - lx;
                content.write(leaf.node, 0, 0, lx);
                copy_run(leaf.node, lx, &sib, 0, j);
                let mid = sib.slot_max(j - 1);
                finish(leaf.node, cut, leaf.end, mid, kf);
                move_run(&sib, j, ls, 0);
                finish(sib.node, ls - j, sib.end, sib.max, 0);
                ParentChange::meeting(alloc, o, &leaf, mid, &sib)
            }
            (Some((Side::Right, sib)), &[_]) if leaf.min > 0 || sib.max < u64::MAX => {
                content.write(leaf.node, 0, 0, lx);
                copy_run(leaf.node, lx, &sib, 0, ls);
                finish(leaf.node, len, leaf.end, sib.max, kf);
                self.pool.retired.unlink(sib.node);
                ParentChange::Remove {
                    keep: o,
                    gap: gap_of(leaf.node, leaf.min, sib.max),
                }
            }
            _ => return false,
        };
        self.change_parent(left, depth - 1, change);
        true
    }

    /// Exclusive mode: carries out a store that crosses from the leaf at the end of `left` into
    /// the next leaf under the same parent, at the end of `right` (an empty store reaching the
    /// end of its leaf merges with what follows), writing the two leaves straight from the old
    /// ones: the content is cut in two, or merged into the first. Returns `false`, having
    /// changed nothing, for the shapes it leaves to [`rebuild`](Self::rebuild).
    pub(super) fn span_in_place(
        &mut self,
        left: &mut Path<'a>,
        right: &Path<'a>,
        edit: &Edit,
    ) -> bool {
        debug_assert!(self.exclusive);
        let depth = left.len() - 1;
        if depth == 0 {
            return false;
        }
        let kind = NodeKind::Leaf;
        let (leaf, next) = (left[depth], right[depth]);
        let parent = left[depth - 1];
        let o = parent.offset;
        if right[depth - 1].node != parent.node || right[depth - 1].offset != o + 1 {
            return false;
        }
        let back_at = edit.keep_front + edit.middle.len();
        let len = back_at + next.end + 1 - edit.keep_back;
        if len < kind.min_len() {
            // It takes in a neighbour: the general path's.
            return false;
        }
        let content = Content {
            leaf,
            back: next,
            edit,
            lx: len,
            back_at,
            sibling: None,
        };
        let ends = split_points(len, kind, Bias::Even, |v| content.word(v) == 0);
        let alloc = self.core.alloc;
        let gap_of = |node: NodeRef<'_>, min: u64, max: u64| node_gap(alloc, node, min, max);
        let change = match *ends.as_slice() {
            [_] if leaf.min > 0 || next.max < u64::MAX => {
                content.write(leaf.node, 0, 0, len);
                finish(leaf.node, len, leaf.end, next.max, 0);
                self.pool.retired.unlink(next.node);
                ParentChange::Remove {
                    keep: o,
                    gap: gap_of(leaf.node, leaf.min, next.max),
                }
            }
            [cut, _] => {
                let mid = content.x_max(cut - 1);
                // The node that reads from the other goes first: the next leaf, when it takes
                // some of the first leaf's kept front; else the first leaf.
                if cut < edit.keep_front {
                    content.write(next.node, 0, cut, len);
                    finish(next.node, len - cut, next.end, next.max, 0);
                    content.write(leaf.node, 0, 0, cut);
                    finish(leaf.node, cut, leaf.end, mid, 0);
                } else {
                    content.write(leaf.node, 0, 0, cut);
                    finish(leaf.node, cut, leaf.end, mid, 0);
                    content.write(next.node, 0, cut, len);
                    finish(next.node, len - cut, next.end, next.max, 0);
                }
                ParentChange::meeting(alloc, o, &leaf, mid, &next)
            }
            _ => return false,
        };
        self.change_parent(left, depth - 1, change);
        true
    }

    /// Applies `change` to the parent at `depth` of `left`, in place where it stays within its
    /// kind's bounds; otherwise rebuilds from that level up with its new content.
    fn change_parent(&mut self, left: &mut Path<'a>, depth: usize, change: ParentChange<'a>) {
        let parent = left[depth];
        let node = parent.node;
        let kind = node.kind();
        let (o, end) = (parent.offset, parent.end);
        let alloc = self.core.alloc;
        match change {
            ParentChange::Pivot { slot, pivot, gaps } => {
                node.set_pivot(slot, pivot);
                if alloc {
                    node.set_gap(slot, gaps[0]);
                    node.set_gap(slot + 1, gaps[1]);
                }
            }
            ParentChange::Insert { new, pivot, gaps } if end + 1 < kind.slots() => {
                // Not full, so every pivot up to the end is stored (the last one is the max).
                let pivots = kind.pivots();
                let old_max = node.pivot(o);
                node.move_slots(o + 1, o + 2, end - o);
                node.move_pivots(
                    o + 1,
                    o + 2,
                    (end + 1).min(pivots - 1).saturating_sub(o + 1),
                );
                if o + 1 < pivots {
                    node.set_pivot(o + 1, old_max);
                }
                node.set_pivot(o, pivot);
                node.set_slot(o + 1, new.ptr().to_word());
                if alloc {
                    node.move_gaps(o + 1, o + 2, end - o);
                    node.set_gap(o, gaps[0]);
                    node.set_gap(o + 1, gaps[1]);
                }
                node.set_end(end + 1);
                adopt_children(node, o + 1);
            }
            ParentChange::Remove { keep, gap } if end >= kind.min_len() || depth == 0 => {
                let pivots = kind.pivots();
                let merged_max = parent.slot_max(keep + 1);
                node.move_slots(keep + 2, keep + 1, end - keep - 1);
                node.move_pivots(keep + 2, keep + 1, end.min(pivots).saturating_sub(keep + 2));
                node.set_pivot(keep, merged_max);
                if end - 1 < pivots {
                    node.set_pivot(end - 1, parent.max);
                }
                if alloc {
                    node.move_gaps(keep + 2, keep + 1, end - keep - 1);
                    node.set_gap(keep, gap);
                    node.set_gap(end, 0);
                }
                node.clear_from(end, end);
                node.set_end(end - 1);
                adopt_children(node, keep + 1);
            }
            ParentChange::Insert { new, pivot, gaps } => {
                let child = node
                    .child(o)
                    .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
                let mut middle = ArrayVec::new();
                middle.push(Item {
                    pivot,
                    word: child.ptr().to_word(),
                    gap: gaps[0],
                });
                middle.push(Item {
                    pivot: parent.slot_max(o),
                    word: new.ptr().to_word(),
                    gap: gaps[1],
                });
                self.edit_level(left, depth, Edit::replacing(o, middle, o + 1));
                return;
            }
            ParentChange::Remove { keep, gap } => {
                let mut middle = ArrayVec::new();
                middle.push(Item {
                    pivot: parent.slot_max(keep + 1),
                    word: node.slot(keep),
                    gap,
                });
                self.edit_level(left, depth, Edit::replacing(keep, middle, keep + 2));
                return;
            }
        }
        if alloc {
            let gap = gap::refresh_max_gap(node);
            if depth > 0 {
                gap::propagate(left, depth - 1, gap);
            }
        }
    }

    /// Rewrites the internal node at `depth` of `left` with `edit`, which overflows or
    /// underflows it: by [`split_level`](Self::split_level), or else through the general
    /// rebuild from that level up.
    fn edit_level(&mut self, left: &mut Path<'a>, depth: usize, edit: Edit) {
        if self.split_level(left, depth, &edit) {
            return;
        }
        let frame = left[depth];
        let mut big = BigNode::new(frame.min);
        edit.expand(&frame, &frame, &mut big);
        let mut right = left.clone();
        self.rebuild_from(left, &mut right, &mut big, depth);
    }
}
