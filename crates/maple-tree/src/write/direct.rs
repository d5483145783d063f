//! Splits and rebalances of one leaf in exclusive mode, written in place over the old nodes.
//!
//! A store that overflows its node (a split, or a push into a sibling) or underflows it (a
//! rebalance with a sibling) rewrites at most two nodes of its level: the node and a sibling
//! under the same parent or a cousin under the next one, or the node and a new node; the
//! parents above change the same way. In exclusive mode no reader can see them half written.
//! An overflowing leaf is edited in place (below); otherwise the new content is gathered as
//! plain words ([`Gathered`]: the old node's slots before and after the edit, the edit's few
//! new slots ([`Edit`]) and the sibling's slots, each run in a block copy), cut where the
//! counts say, and each node is then written whole from its run, every word at once. No
//! [`BigNode`] of items is built.
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
//! Everything is read before anything is written, so the nodes are written in any order.
//!
//! A leaf that an edit overflows is not gathered: the left sibling takes the moved slots after
//! its own, the right sibling moves its slots up and takes them in front, a new leaf is
//! written from the leaf's and the edit's slots; the leaf's slots that stay move within it,
//! each run before anything lands on its words.
//!
//! A store that crosses from its leaf into the next one (an erase of a leaf's last entry)
//! rewrites the two leaves as one content cut evenly, or merged into the first; so does a
//! rebalance of a node that is its parent's last child with the next node, a cousin under
//! another parent. When the two nodes have different parents, the two parents are then such a
//! pair in turn, with the children's new nodes in place of the two old ones, up to the parent
//! they share.
//!
//! The parent changes in place too: one pivot between two nodes that shared their content, a
//! child added after a split or one removed after a merge. A parent that would overflow or
//! underflow is itself an edited node (`X'` is the parent with the new child, or without the
//! removed one) and splits or rebalances the same way, with the gaps of an allocation tree's
//! nodes and its children's parent links carried along, and so on up. The shapes this module
//! leaves alone (a root that splits, a merge that leaves one node for a whole level, a
//! neighbour too small to make up a node with) go through the general [`rebuild`](super::Writer::rebuild) from
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
use crate::node::gather::Gathered;
use crate::node::{NodeKind, NodeRef};
use crate::walk::{Frame, Path};

/// Appends slots `from..to` of the node of `frame` to `content`.
fn push_frame(content: &mut Gathered, frame: &Frame<'_>, from: usize, to: usize) {
    content.push_node(frame.node, frame.end, frame.max, from, to);
}

/// Appends `X'` to `content`: the kept front of `leaf`, the edit's new slots, the kept back of
/// `back` (the same node, or the next leaf for a store that crosses into it).
fn push_edited(content: &mut Gathered, leaf: &Frame<'_>, back: &Frame<'_>, edit: &Edit) {
    push_frame(content, leaf, 0, edit.keep_front);
    for item in &edit.middle {
        content.push(item.pivot, item.word, item.gap);
    }
    push_frame(content, back, edit.keep_back, back.end + 1);
}

/// The word of slot `j` of the leaf of `leaf` edited by `edit` (`X'`).
#[inline(always)]
fn edited_word(leaf: &Frame<'_>, edit: &Edit, j: usize) -> usize {
    let (kf, kb) = (edit.keep_front, edit.keep_back);
    let new_end = kf + edit.middle.len();
    let words = leaf.node.leaf_words();
    if j < kf {
        words.slot(j)
    } else if j < new_end {
        edit.middle[j - kf].word
    } else {
        words.slot(j - new_end + kb)
    }
}

/// Calls `f` with the last index and the word of each slot of `X'` (the leaf of `leaf` edited
/// by `edit`) from slot `from` on, in order: some of the leaf's first slots, some of the
/// edit's new ones, then the leaf's from `keep_back` on, the last ending at the leaf's
/// maximum. At most 15 slots, so each has a pivot word wherever it lands.
#[inline(always)]
fn edited_from(leaf: &Frame<'_>, edit: &Edit, from: usize, mut f: impl FnMut(u64, usize)) {
    let (kf, kb) = (edit.keep_front, edit.keep_back);
    let new_end = kf + edit.middle.len();
    let words = leaf.node.leaf_words();
    for j in from..kf {
        f(words.pivot(j), words.slot(j));
    }
    for item in edit.middle.iter().skip(from.saturating_sub(kf)) {
        f(item.pivot, item.word);
    }
    for k in kb + from.saturating_sub(new_end)..=leaf.end {
        f(leaf.slot_max(k), words.slot(k));
    }
}

/// Makes the leaf of `leaf` hold slots `..cut` of `X'` (the leaf edited by `edit`, which
/// overflows it and so adds slots), once its later slots were read, and returns the last
/// index of the last slot it keeps, its new maximum: its first slots stay; if the cut lies
/// past `keep_front`, the edit's new ones follow, and then the leaf's slots from `keep_back`
/// that stay, moved up after them first. The words past the new end are zeroed (N2); the new
/// end's pivot, if it has one, is that slot's own (N1).
#[inline(always)]
fn keep_edited(leaf: &Frame<'_>, edit: &Edit, cut: usize) -> u64 {
    let (kf, kb) = (edit.keep_front, edit.keep_back);
    let new_end = kf + edit.middle.len();
    let words = leaf.node.leaf_words();
    let pivots = NodeKind::Leaf.pivots();
    // Not the leaf's last slot, so it has a stored pivot.
    let last = cut - 1;
    let max = if last < kf {
        words.pivot(last)
    } else if last < new_end {
        edit.middle[last - kf].pivot
    } else {
        words.pivot(last - new_end + kb)
    };
    if cut > new_end {
        let by = new_end - kb;
        for k in (kb..kb + (cut - new_end)).rev() {
            if k + by < pivots {
                words.set_pivot(k + by, words.pivot(k));
            }
            words.set_slot(k + by, words.slot(k));
        }
    }
    for (t, item) in edit.middle.iter().enumerate().take(cut.saturating_sub(kf)) {
        if kf + t < pivots {
            words.set_pivot(kf + t, item.pivot);
        }
        words.set_slot(kf + t, item.word);
    }
    if cut <= leaf.end {
        leaf.node.clear_from(cut, leaf.end);
    }
    leaf.node.set_end(last);
    max
}

/// Makes `node` hold slots `a..b` of `content`; the children of an internal node from slot
/// `moved` on are pointed at it again (the ones before it have not moved).
fn put(content: &Gathered, node: NodeRef<'_>, a: usize, b: usize, moved: usize) {
    content.write(node, a, b);
    if !node.is_leaf() {
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

/// Whether the nodes at `depth` of `left` and `right` are neighbours: no subtree lies between
/// them, so that their parents, when not the same node, are neighbours too.
fn neighbours(left: &Path<'_>, right: &Path<'_>, depth: usize) -> bool {
    for k in (0..depth).rev() {
        let (l, r) = (left[k], right[k]);
        if l.node == r.node {
            return r.offset == l.offset + 1;
        }
        if l.offset != l.end || r.offset != 0 {
            return false;
        }
    }
    false
}

/// Makes `right` the path to the node after the one at `depth` of `left`: up to the nearest
/// ancestor with a child to the right, then down the left edge to `depth`. `false`, leaving
/// `right` as it was, when there is no such node (the end of the level).
pub(super) fn next_path<'a>(left: &Path<'a>, right: &mut Path<'a>, depth: usize) -> bool {
    let Some(top) = (0..depth).rev().find(|&k| left[k].offset < left[k].end) else {
        return false;
    };
    right.clear();
    right
        .try_extend_from_slice(&left[..=top])
        .unwrap_or_else(|_| unreachable!("two paths of one tree have the same capacity"));
    let mut frame = right[top];
    frame.offset += 1;
    right[top] = frame;
    for _ in top..depth {
        frame = frame
            .child_frame()
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        right.push(frame);
    }
    true
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
        let lx = edit.len_in(&leaf);
        // The neighbour the general path would take in, and how it would cut.
        let (sibling, bias) = if lx > kind.slots() {
            let space = push_room(kind, leaf.max == u64::MAX);
            let fits = |sib: &Frame<'_>| lx + sib.end + 1 - 2 < space;
            let left_sib = (o > 0).then(|| child(o - 1)).filter(fits);
            if let Some(sib) = left_sib {
                if kind.is_leaf() && self.push_left(left, depth, &sib, edit, lx) {
                    return true;
                }
                (Some((Side::Left, sib)), Bias::FillLeft)
            } else if let Some(sib) = (o < parent.end).then(|| child(o + 1)).filter(fits) {
                if kind.is_leaf() && self.push_right(left, depth, &sib, edit, lx) {
                    return true;
                }
                (Some((Side::Right, sib)), Bias::FillRight)
            } else if kind.is_leaf() {
                return self.split_leaf(left, depth, edit, lx);
            } else {
                (None, Bias::Even)
            }
        } else if lx < kind.min_len() {
            if leaf.max != u64::MAX {
                if o == parent.end {
                    return self.rebalance_with_cousin(left, depth, edit);
                }
                (Some((Side::Right, child(o + 1))), Bias::Even)
            } else {
                // The last node of the level is its parent's first child only if that
                // parent is the root with one child, which no tree has.
                if o == 0 {
                    return false;
                }
                (Some((Side::Left, child(o - 1))), Bias::Even)
            }
        } else {
            return false;
        };
        let mut content = Gathered::new(kind);
        if let Some((Side::Left, sib)) = sibling {
            push_frame(&mut content, &sib, 0, sib.end + 1);
        }
        push_edited(&mut content, &leaf, &leaf, edit);
        if let Some((Side::Right, sib)) = sibling {
            push_frame(&mut content, &sib, 0, sib.end + 1);
        }
        content.close();
        let len = content.len();
        let ls = len - lx;
        let ends = split_points(len, kind, bias, |v| content.is_empty(v));
        let alloc = self.core.alloc;
        let gap_of = |node: NodeRef<'_>, min: u64, max: u64| node_gap(alloc, node, min, max);
        let kf = edit.keep_front;
        // Everything was read into `content`: the nodes are written in any order.
        let change = match (sibling, ends.as_slice()) {
            (None, &[cut, _]) => {
                let new = self.pool.take(kind);
                put(&content, new, cut, len, 0);
                put(&content, leaf.node, 0, cut, kf);
                let mid = content.max(cut - 1);
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
                put(&content, sib.node, 0, cut, ls);
                // The leaf keeps its front slots where they were only if it keeps all of `X'`.
                put(&content, leaf.node, cut, len, if cut > ls { 0 } else { kf });
                ParentChange::meeting(alloc, o - 1, &sib, content.max(cut - 1), &leaf)
            }
            (Some((Side::Left, sib)), &[_]) if sib.min > 0 || leaf.max < u64::MAX => {
                put(&content, sib.node, 0, len, ls);
                self.pool.retired.unlink(leaf.node);
                ParentChange::Remove {
                    keep: o - 1,
                    gap: gap_of(sib.node, sib.min, leaf.max),
                }
            }
            (Some((Side::Right, sib)), &[cut, _]) => {
                put(&content, leaf.node, 0, cut, kf);
                put(&content, sib.node, cut, len, 0);
                ParentChange::meeting(alloc, o, &leaf, content.max(cut - 1), &sib)
            }
            (Some((Side::Right, sib)), &[_]) if leaf.min > 0 || sib.max < u64::MAX => {
                put(&content, leaf.node, 0, len, kf);
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

    /// [`split_level`](Self::split_level)'s push of the first slots of the leaf at `depth` of
    /// `left`, edited (`lx` slots), into its left sibling `sib`, with the nodes the general path
    /// writes, both edited in place: the sibling keeps its slots where they are and takes the
    /// moved ones after them; the leaf's remaining slots move down over the moved ones (its
    /// later slots past the edit's new ones), and the words past its new end are zeroed.
    /// Returns `false`, having changed nothing, when the cut falls within the sibling's slots;
    /// the caller then goes on to the gathered push.
    fn push_left(
        &mut self,
        left: &mut Path<'a>,
        depth: usize,
        sib: &Frame<'a>,
        edit: &Edit,
        lx: usize,
    ) -> bool {
        let leaf = left[depth];
        let (node, e) = (leaf.node, leaf.end);
        let ls = sib.end + 1;
        let (kf, kb, m) = (edit.keep_front, edit.keep_back, edit.middle.len());
        let new_end = kf + m;
        let xw = node.leaf_words();
        let ends = split_points(ls + lx, node.kind(), Bias::FillLeft, |v| {
            // Slot `v` of the sibling, then of the edited leaf.
            let word = if v < ls {
                sib.node.slot(v)
            } else if v - ls < kf {
                xw.slot(v - ls)
            } else if v - ls < new_end {
                edit.middle[v - ls - kf].word
            } else {
                xw.slot(v - ls - new_end + kb)
            };
            word == 0
        });
        let &[cut, _] = ends.as_slice() else {
            return false;
        };
        if cut <= ls {
            return false;
        }
        let moved = cut - ls;
        let pivots = node.kind().pivots();
        // The sibling takes the first `moved` slots of the edited leaf after its own: the
        // leaf's first slots, then new ones, then the leaf's slots from `kb` on. Its words past
        // its end are zero (N2), and its last pivot, its maximum, stays. None of the moved
        // slots is the leaf's last, so each has a stored pivot.
        let sw = sib.node.leaf_words();
        let (mut at, mut mid) = (ls, 0);
        let mut take = |pivot: u64, word: usize| {
            mid = pivot;
            if at < pivots {
                sw.set_pivot(at, pivot);
            }
            sw.set_slot(at, word);
            at += 1;
        };
        for j in 0..moved.min(kf) {
            take(xw.pivot(j), xw.slot(j));
        }
        for item in edit.middle.iter().take(moved.saturating_sub(kf)) {
            take(item.pivot, item.word);
        }
        for k in kb..kb + moved.saturating_sub(new_end) {
            take(xw.pivot(k), xw.slot(k));
        }
        sib.node.set_end(cut - 1);
        // The leaf keeps slots `moved..lx` of the edited leaf: its own slots from `moved` to
        // `kf` move down by `moved`, the new ones follow, then its slots from `kb` on (those of
        // them that stay). Each run moves before anything lands on its words.
        let ne = lx - moved - 1;
        let (back_from, back_to) = if moved > new_end {
            (kb + moved - new_end, 0)
        } else {
            (kb, new_end - moved)
        };
        let count = e + 1 - back_from;
        if back_to > back_from {
            // Up: from the last slot down. The leaf's last slot ends at its maximum, stored
            // below.
            for k in (back_from..=e).rev() {
                xw.set_slot(k + back_to - back_from, xw.slot(k));
            }
            for k in (back_from..e).rev() {
                xw.set_pivot(k + back_to - back_from, xw.pivot(k));
            }
        }
        for j in moved..kf {
            xw.set_pivot(j - moved, xw.pivot(j));
            xw.set_slot(j - moved, xw.slot(j));
        }
        if back_to < back_from {
            for k in back_from..back_from + count {
                let to = k - (back_from - back_to);
                if k < e {
                    xw.set_pivot(to, xw.pivot(k));
                }
                xw.set_slot(to, xw.slot(k));
            }
        }
        for (t, item) in edit
            .middle
            .iter()
            .enumerate()
            .skip(moved.saturating_sub(kf))
        {
            let at = kf + t - moved;
            if at < pivots {
                xw.set_pivot(at, item.pivot);
            }
            xw.set_slot(at, item.word);
        }
        if ne < e {
            node.clear_from(ne + 1, e);
        }
        if ne < pivots {
            node.set_pivot(ne, leaf.max);
        }
        node.set_end(ne);
        let o = left[depth - 1].offset;
        self.move_boundary(left, depth - 1, o - 1, sib, mid, &leaf);
        true
    }

    /// [`split_level`](Self::split_level)'s split of the leaf at `depth` of `left`, edited
    /// (`lx` slots), into itself and a new leaf after it, where the general path cuts: the new
    /// leaf is written from the leaf's later slots and the edit's, then the leaf keeps its
    /// first slots where they are, takes the edit's new ones and those of its later slots that
    /// stay, and zeroes the words past its new end.
    fn split_leaf(&mut self, left: &mut Path<'a>, depth: usize, edit: &Edit, lx: usize) -> bool {
        let leaf = left[depth];
        let kind = leaf.node.kind();
        let ends = split_points(lx, kind, Bias::Even, |j| edited_word(&leaf, edit, j) == 0);
        let &[cut, _] = ends.as_slice() else {
            return false;
        };
        // The new leaf is fresh: its words past its end are zero already.
        let new = self.pool.take(kind);
        let nw = new.leaf_words();
        let mut at = 0;
        edited_from(&leaf, edit, cut, |pivot, word| {
            nw.set_pivot(at, pivot);
            nw.set_slot(at, word);
            at += 1;
        });
        new.set_end(lx - cut - 1);
        let mid = keep_edited(&leaf, edit, cut);
        let alloc = self.core.alloc;
        let change = ParentChange::Insert {
            new,
            pivot: mid,
            gaps: [
                node_gap(alloc, leaf.node, leaf.min, mid),
                node_gap(alloc, new, mid + 1, leaf.max),
            ],
        };
        self.change_parent(left, depth - 1, change);
        true
    }

    /// [`split_level`](Self::split_level)'s push of the last slots of the leaf at `depth` of
    /// `left`, edited (`lx` slots), into its right sibling `sib`, both edited in place: the
    /// sibling's slots move up to make room and the moved ones land in front of them, then
    /// the leaf keeps its first slots as [`split_leaf`](Self::split_leaf) keeps them. Returns
    /// `false`, having changed nothing, when the cut does not fall within the edited leaf.
    fn push_right(
        &mut self,
        left: &mut Path<'a>,
        depth: usize,
        sib: &Frame<'a>,
        edit: &Edit,
        lx: usize,
    ) -> bool {
        let leaf = left[depth];
        let kind = leaf.node.kind();
        let rs = sib.end + 1;
        let rw = sib.node.leaf_words();
        let ends = split_points(lx + rs, kind, Bias::FillRight, |v| {
            let word = if v < lx {
                edited_word(&leaf, edit, v)
            } else {
                rw.slot(v - lx)
            };
            word == 0
        });
        let &[cut, _] = ends.as_slice() else {
            return false;
        };
        if cut >= lx {
            return false;
        }
        let by = lx - cut;
        let pivots = kind.pivots();
        // The sibling's slots move up by `by`, from its last one down; its last pivot, its
        // maximum, is stored at its new end if that has a pivot (N1).
        for i in (0..rs).rev() {
            rw.set_slot(i + by, rw.slot(i));
        }
        for i in (0..sib.end).rev() {
            rw.set_pivot(i + by, rw.pivot(i));
        }
        let new_end = sib.end + by;
        if new_end < pivots {
            rw.set_pivot(new_end, sib.max);
        }
        // The moved slots land in front; the last of them ends at the leaf's maximum, which
        // stays stored, as it is not the sibling's last.
        let mut at = 0;
        edited_from(&leaf, edit, cut, |pivot, word| {
            rw.set_pivot(at, pivot);
            rw.set_slot(at, word);
            at += 1;
        });
        sib.node.set_end(new_end);
        let mid = keep_edited(&leaf, edit, cut);
        let o = left[depth - 1].offset;
        self.move_boundary(left, depth - 1, o, &leaf, mid, sib);
        true
    }

    /// [`split_level`](Self::split_level) for a node at `depth` of `left` that `edit` leaves
    /// below its minimum, which is the last child of its parent and not the last node of its
    /// level: it takes in the next node, a cousin (under another parent), as the general path
    /// does. Returns `false`, having changed nothing, for the shapes [`pair`](Self::pair)
    /// leaves to the rebuild.
    #[inline(never)]
    fn rebalance_with_cousin(&mut self, left: &mut Path<'a>, depth: usize, edit: &Edit) -> bool {
        let mut right = Path::new();
        if !next_path(left, &mut right, depth) {
            return false;
        }
        let (leaf, next) = (left[depth], right[depth]);
        let mut content = Gathered::new(leaf.node.kind());
        push_edited(&mut content, &leaf, &leaf, edit);
        push_frame(&mut content, &next, 0, next.end + 1);
        content.close();
        self.pair(left, &mut right, depth, &content, edit.keep_front)
    }

    /// Exclusive mode: carries out a store that crosses from the leaf at the end of `left` into
    /// the next leaf, at the end of `right` (an empty store reaching the end of its leaf merges
    /// with what follows), writing the two leaves straight from the old ones: the content is cut
    /// in two, or merged into the first. Returns `false`, having changed nothing, for the shapes
    /// it leaves to [`rebuild`](Self::rebuild).
    pub(super) fn span_in_place(
        &mut self,
        left: &mut Path<'a>,
        right: &mut Path<'a>,
        edit: &Edit,
    ) -> bool {
        debug_assert!(self.exclusive);
        let depth = left.len() - 1;
        depth > 0 && neighbours(left, right, depth) && self.span_level(left, right, depth, edit)
    }

    /// Rewrites two neighbouring nodes at `depth`, the one on `left` and the next one on
    /// `right`, whose new content is `edit` over the pair: the first one's slots before
    /// `edit.keep_front`, the new slots, the second one's from `edit.keep_back`, written by
    /// [`pair`](Self::pair). A leaf whose neighbour is a cousin (under another parent) makes
    /// its parent and the cousin's parent such a pair in turn, up to the parent they share.
    /// Returns `false`, having changed nothing, for the shapes `pair` leaves to the rebuild.
    fn span_level(
        &mut self,
        left: &mut Path<'a>,
        right: &mut Path<'a>,
        depth: usize,
        edit: &Edit,
    ) -> bool {
        let (l, r) = (left[depth], right[depth]);
        let mut content = Gathered::new(l.node.kind());
        push_edited(&mut content, &l, &r, edit);
        content.close();
        self.pair(left, right, depth, &content, edit.keep_front)
    }

    /// Writes `content`, the new content of the neighbouring nodes at `depth` of `left` and
    /// `right`, over them: cut in two evenly, or merged into the first, as the general rebuild
    /// cuts it; then [`join_parents`](Self::join_parents). The first node's slots before
    /// `kept` have not moved. Returns `false`, having changed nothing, when the content is too
    /// small for one node (the rebuild takes in a third), fills three, or fits one node that
    /// would hold a whole level (a new root).
    fn pair(
        &mut self,
        left: &mut Path<'a>,
        right: &mut Path<'a>,
        depth: usize,
        content: &Gathered,
        kept: usize,
    ) -> bool {
        let (l, r) = (left[depth], right[depth]);
        let kind = l.node.kind();
        let len = content.len();
        if len < kind.min_len() {
            return false;
        }
        let ends = split_points(len, kind, Bias::Even, |v| content.is_empty(v));
        let alloc = self.core.alloc;
        let item = |node: NodeRef<'a>, min: u64, max: u64| Item {
            pivot: max,
            word: node.ptr().to_word(),
            gap: node_gap(alloc, node, min, max),
        };
        let mut runs = ArrayVec::new();
        // Everything was read into `content`: the nodes are written in any order.
        match *ends.as_slice() {
            [_] if l.min > 0 || r.max < u64::MAX => {
                put(content, l.node, 0, len, kept);
                self.pool.retired.unlink(r.node);
                runs.push(item(l.node, l.min, r.max));
            }
            [cut, _] => {
                put(content, l.node, 0, cut, kept.min(cut));
                put(content, r.node, cut, len, 0);
                let mid = content.max(cut - 1);
                runs.push(item(l.node, l.min, mid));
                runs.push(item(r.node, mid + 1, r.max));
            }
            _ => return false,
        }
        self.join_parents(left, right, depth - 1, runs);
        true
    }

    /// Puts `runs`, the one or two nodes that now hold the content of the neighbours below
    /// `left[depth]` and `right[depth]`, in their parents: in place when both had the same
    /// parent ([`change_parent`](Self::change_parent)); else the two parents are a pair
    /// rewritten by [`span_level`](Self::span_level), or by the general rebuild from their
    /// level up.
    fn join_parents(
        &mut self,
        left: &mut Path<'a>,
        right: &mut Path<'a>,
        depth: usize,
        runs: ArrayVec<Item, 4>,
    ) {
        let (pl, pr) = (left[depth], right[depth]);
        if pl.node == pr.node {
            let change = match *runs.as_slice() {
                [low, high] => ParentChange::Pivot {
                    slot: pl.offset,
                    pivot: low.pivot,
                    gaps: [low.gap, high.gap],
                },
                _ => ParentChange::Remove {
                    keep: pl.offset,
                    gap: runs[0].gap,
                },
            };
            self.change_parent(left, depth, change);
            return;
        }
        let edit = Edit::replacing(pl.offset, runs, pr.offset + 1);
        if !self.span_level(left, right, depth, &edit) {
            let mut big = BigNode::new(pl.min);
            edit.expand(&pl, &pr, &mut big);
            self.rebuild_from(left, right, &mut big, depth);
        }
    }

    /// Moves the boundary between the children `low` and `high` in slots `slot` and
    /// `slot + 1` of the parent at `depth` of `left` to `mid`, after their content moved: what
    /// [`change_parent`](Self::change_parent) does for [`ParentChange::meeting`]'s change,
    /// without building it. An allocation tree's gaps of both children, and so the parent's
    /// largest, are recorded again up the path.
    #[inline]
    fn move_boundary(
        &mut self,
        left: &Path<'a>,
        depth: usize,
        slot: usize,
        low: &Frame<'_>,
        mid: u64,
        high: &Frame<'_>,
    ) {
        let node = left[depth].node;
        node.set_pivot(slot, mid);
        if self.core.alloc {
            node.set_gap(slot, node_gap(true, low.node, low.min, mid));
            node.set_gap(slot + 1, node_gap(true, high.node, mid + 1, high.max));
            let gap = gap::refresh_max_gap(node);
            if depth > 0 {
                gap::propagate(left, depth - 1, gap);
            }
        }
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
