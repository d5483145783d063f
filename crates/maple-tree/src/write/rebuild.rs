//! Rebuilding the part of the tree a write touches, level by level from the leaves up: the node
//! store in RCU mode, split, rebalance and spanning store all run through here.
//!
//! At each level the writer holds the new content of the span of nodes it replaces, from the
//! node on the left path to the node on the right path (one node unless the store spans):
//!
//! ```text
//!   left[d]: [ a b c | x y ]      right[d]: [ p q | r s t ]
//!                      ^ offset                 ^ offset
//!   content = a b c  ++  (new nodes from level d+1)  ++  s t
//! ```
//!
//! The content is cut into one, two or three new nodes. Too little content for a non-root node
//! takes in a neighbouring node first (rebalance); too much first tries to share a sibling's
//! room (the kernel's push left and push right), then splits. The new nodes become the content
//! replacing `left[d-1]`'s and `right[d-1]`'s slots one level up, until a level produces a
//! single node that replaces exactly one old node: that node is published with one pointer
//! store into its parent, or as the root.
//!
//! ```text
//!   split:       [ 16 slots + 2 ]            ->  [ 9 ] [ 9 ]        parent gains a slot
//!   push left:   [ 9 ] [ 16 slots + 2 ]      ->  [ 15 ] [ 12 ]      parent keeps its size
//!   rebalance:   [ 5 ] [ 9 ]                 ->  [ 14 ]             parent loses a slot
//! ```
//!
//! Linux: `mas_split()`, `mas_push_data()`, `mas_rebalance()`, `mas_spanning_rebalance()`,
//! `mas_wr_spanning_store()`, `mas_wmb_replace()`.

use arrayvec::ArrayVec;

use super::big_node::{self, Bias, BigNode, Item};
use super::{Writer, adopt_children};
use crate::gap;
use crate::node::retire::Retirements;
use crate::node::{NodeKind, NodeRef};
use crate::walk::{Frame, Path};

/// Which neighbour to take in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Left,
    Right,
}

/// Where a rebuild attaches its result to the tree.
enum Publish<'a> {
    /// As the root, with the tree's new height; `None` empties the tree.
    Root(Option<NodeRef<'a>>, usize),
    /// Into slot `offset` of the node at `depth` of the left path, replacing one child.
    Slot {
        depth: usize,
        node: NodeRef<'a>,
        gap: u64,
    },
    /// Exclusive mode only: the nodes of a level were rewritten in place, one for one, under
    /// the node at `depth` of the left path, which only needs the pivots (and gaps) between
    /// them updated.
    Pivots { depth: usize, runs: Runs<'a> },
}

/// The nodes a level was cut into, each with the slot that points to it from the level above.
type Runs<'a> = ArrayVec<(NodeRef<'a>, Item), 3>;

/// The nodes whose content a level gathered, in key order.
type Members<'a> = ArrayVec<NodeRef<'a>, 4>;

/// Whether the span `l ..= r` is a whole level of the tree.
fn covers_level(l: &Frame<'_>, r: &Frame<'_>) -> bool {
    l.min == 0 && r.max == u64::MAX
}

impl<'a, T: 'static> Writer<'a, T> {
    /// Rebuilds from the leaves `left.last() ..= right.last()` upwards, with `big` as their new
    /// content, and publishes the result. The caller has reserved the nodes it may need.
    ///
    /// In exclusive mode the nodes being replaced are rewritten in place where they can be,
    /// so a split or a push into a sibling keeps the nodes' addresses and their parent's
    /// links, and children are re-pointed only from the first slot that moved.
    pub(super) fn rebuild(&mut self, left: &mut Path<'a>, right: &mut Path<'a>, big: &mut BigNode) {
        self.rebuild_from(left, right, big, left.len() - 1);
    }

    /// [`rebuild`](Self::rebuild) from the level at `depth` up, with `big` as the new content
    /// of `left[depth] ..= right[depth]`: the levels below are written and their new nodes are
    /// in `big`.
    pub(super) fn rebuild_from(
        &mut self,
        left: &mut Path<'a>,
        right: &mut Path<'a>,
        big: &mut BigNode,
        mut depth: usize,
    ) {
        let height = left.len();
        let publish = loop {
            let kind = left[depth].node.kind();
            let mut members = Members::new();
            members.push(left[depth].node);
            if right[depth].node != left[depth].node {
                members.push(right[depth].node);
            }
            self.pool.retired.unlink(left[depth].node);
            self.pool.retired.unlink(right[depth].node);
            let mut bias = Bias::Even;
            if big.len() < kind.min_len() && !covers_level(&left[depth], &right[depth]) {
                if right[depth].max != u64::MAX {
                    take_in(right, depth, Side::Right, big, &mut self.pool.retired);
                    members.push(right[depth].node);
                } else {
                    take_in(left, depth, Side::Left, big, &mut self.pool.retired);
                    members.insert(0, left[depth].node);
                }
            } else if big.len() > kind.slots() && depth > 0 && left[depth].node == right[depth].node
            {
                bias = push_to_sibling(left, right, depth, big, &mut self.pool.retired);
                match bias {
                    Bias::FillLeft => members.insert(0, left[depth].node),
                    Bias::FillRight => members.push(right[depth].node),
                    Bias::Even => {}
                }
            }
            let (l, r) = (left[depth], right[depth]);
            let ends = big.split_points(kind, bias);
            if covers_level(&l, &r) && ends.len() == 1 {
                // Everything at this level fits one node: it is the new root, and every node
                // above it goes.
                for k in 0..depth {
                    self.pool.retired.unlink(left[k].node);
                    self.pool.retired.unlink(right[k].node);
                }
                if kind.is_leaf() && big.len() == 1 && big.items()[0].word == 0 {
                    break Publish::Root(None, 0);
                }
                let runs = self.place_runs(kind, big, &ends, &members);
                break Publish::Root(Some(runs[0].0), height - depth);
            }
            let runs = self.place_runs(kind, big, &ends, &members);
            if depth == 0 {
                // The root split: a new root above the pieces.
                let root = self.pool.take(NodeKind::internal(self.core.alloc));
                let items: ArrayVec<Item, 3> = runs.iter().map(|(_, item)| *item).collect();
                big_node::fill(root, &items, 0, 0, u64::MAX, 0, true);
                adopt_children(root, 0);
                break Publish::Root(Some(root), height + 1);
            }
            if l.node == r.node && runs.len() == 1 {
                let (node, item) = runs[0];
                break Publish::Slot {
                    depth: depth - 1,
                    node,
                    gap: item.gap,
                };
            }
            let (pl, pr) = (left[depth - 1], right[depth - 1]);
            if self.exclusive
                && runs.len() == members.len()
                && pl.node == pr.node
                && pr.offset + 1 - pl.offset == members.len()
            {
                break Publish::Pivots {
                    depth: depth - 1,
                    runs,
                };
            }
            big.reset(pl.min);
            for i in 0..pl.offset {
                big.push_slot(&pl, i);
            }
            for (_, item) in &runs {
                big.push(*item);
            }
            for i in pr.offset + 1..=pr.end {
                big.push_slot(&pr, i);
            }
            depth -= 1;
        };
        match publish {
            Publish::Root(node, height) => self.publish_root(node, height),
            Publish::Slot { depth, node, gap } => {
                let parent = left[depth];
                let word = node.ptr().to_word();
                if parent.node.slot(parent.offset) != word {
                    node.set_parent(Some(parent.node), parent.offset);
                    parent.node.set_slot(parent.offset, word);
                }
                if self.core.alloc {
                    gap::propagate(left, depth, gap);
                }
            }
            Publish::Pivots { depth, runs } => {
                let parent = left[depth];
                for (k, (_, item)) in runs.iter().enumerate() {
                    if k + 1 < runs.len() {
                        parent.node.set_pivot(parent.offset + k, item.pivot);
                    }
                    if self.core.alloc {
                        parent.node.set_gap(parent.offset + k, item.gap);
                    }
                }
                if self.core.alloc {
                    let gap = gap::refresh_max_gap(parent.node);
                    if depth > 0 {
                        gap::propagate(left, depth - 1, gap);
                    }
                }
            }
        }
    }

    /// Fills one node per run of `big`; returns each with the slot that points to it from the
    /// level above. In exclusive mode run `k` is written over `members[k]` in place, from its
    /// first slot that changes; otherwise every run gets a reserved node.
    fn place_runs(
        &mut self,
        kind: NodeKind,
        big: &BigNode,
        ends: &[usize],
        members: &[NodeRef<'a>],
    ) -> Runs<'a> {
        let mut runs = Runs::new();
        let mut start = 0;
        let mut min = big.min;
        for (k, &end) in ends.iter().enumerate() {
            let items = &big.items()[start..end];
            let max = items[items.len() - 1].pivot;
            let (node, from, old_end) = match members.get(k) {
                Some(&node) if self.exclusive => {
                    self.pool.retired.relink(node);
                    let old_end = node.end();
                    // A leaf is rewritten whole: writing its slots costs less than comparing
                    // them first. An internal node is rewritten from its first change, so
                    // that only the children from there on are pointed at it again.
                    let from = if kind.is_leaf() {
                        0
                    } else {
                        first_change(node, old_end, items)
                    };
                    (node, from, old_end)
                }
                _ => (self.pool.take(kind), 0, 0),
            };
            let gap = big_node::fill(node, items, from, min, max, old_end, self.core.alloc);
            if !node.is_leaf() {
                adopt_children(node, from);
            }
            runs.push((
                node,
                Item {
                    pivot: max,
                    word: node.ptr().to_word(),
                    gap,
                },
            ));
            start = end;
            min = max.wrapping_add(1);
        }
        runs
    }
}

/// The first slot at which `items` differ from what `node` (with data end `old_end`) holds.
/// The last old slot counts as changed, since its maximum is not stored in the node.
fn first_change(node: NodeRef<'_>, old_end: usize, items: &[Item]) -> usize {
    let same = |i: usize| {
        let item = &items[i];
        node.slot(i) == item.word
            && node.pivot(i) == item.pivot
            && (!node.kind().has_gaps() || node.gap(i) == item.gap)
    };
    (0..old_end.min(items.len()))
        .find(|&i| !same(i))
        .unwrap_or(old_end.min(items.len()))
}

/// Takes the neighbouring node on `side` of `path[depth]` into the content, moving the path
/// onto it. The neighbour may sit under another parent (a cousin): the path then follows it up
/// to the first ancestor that has room on that side.
///
/// Linux: `mast_spanning_rebalance()`, `mas_next_sibling()`, `mas_prev_sibling()`.
fn take_in<'a>(
    path: &mut Path<'a>,
    depth: usize,
    side: Side,
    big: &mut BigNode,
    retired: &mut Retirements,
) {
    let at_edge = |f: &Frame<'_>| match side {
        Side::Right => f.offset == f.end,
        Side::Left => f.offset == 0,
    };
    let mut j = depth - 1;
    while at_edge(&path[j]) {
        j -= 1;
    }
    // The old nodes between that ancestor and `depth` sit at the edge of the span being
    // replaced, so they go too (they hold nothing beyond the path on this side).
    for k in j + 1..depth {
        retired.unlink(path[k].node);
    }
    match side {
        Side::Right => path[j].offset += 1,
        Side::Left => path[j].offset -= 1,
    }
    path.truncate(j + 1);
    while path.len() <= depth {
        let parent = path[path.len() - 1];
        let mut child = parent
            .child_frame()
            .unwrap_or_else(|| unreachable!("invariant N3 broken: empty internal slot"));
        child.offset = match side {
            Side::Right => 0,
            Side::Left => child.end,
        };
        path.push(child);
    }
    let neighbour = path[depth];
    retired.unlink(neighbour.node);
    match side {
        Side::Right => big.push_all(&neighbour),
        Side::Left => big.prepend_all(&neighbour),
    }
}

/// The combined content below which an overfull node of `kind` shares its load with a sibling
/// (see [`push_to_sibling`]); `rightmost` when the node ends at `u64::MAX`.
pub(super) fn push_room(kind: NodeKind, rightmost: bool) -> usize {
    2 * kind.slots() - 2 - usize::from(kind.is_leaf()) - usize::from(rightmost)
}

/// Before splitting an overfull node, tries to share the load with a sibling that has room,
/// as the kernel does, so that sequential inserts leave full nodes behind.
///
/// The sibling is taken in when the combined content stays below twice the capacity minus a
/// margin (one more for leaves and for the rightmost node), so that the two nodes that result
/// do not split again at once.
///
/// Linux: `mas_push_data()`.
fn push_to_sibling<'a>(
    left: &mut Path<'a>,
    right: &mut Path<'a>,
    depth: usize,
    big: &mut BigNode,
    retired: &mut Retirements,
) -> Bias {
    let space = push_room(left[depth].node.kind(), right[depth].max == u64::MAX);
    let sibling_len = |parent: &Frame<'_>, slot: usize| {
        parent.node.child(slot).map_or_else(
            || unreachable!("invariant N3 broken: empty internal slot"),
            |c| c.end() + 1,
        )
    };
    let parent = left[depth - 1];
    if parent.offset > 0 && big.len() + sibling_len(&parent, parent.offset - 1) - 2 < space {
        take_in(left, depth, Side::Left, big, retired);
        return Bias::FillLeft;
    }
    let parent = right[depth - 1];
    if parent.offset < parent.end && big.len() + sibling_len(&parent, parent.offset + 1) - 2 < space
    {
        take_in(right, depth, Side::Right, big, retired);
        return Bias::FillRight;
    }
    Bias::Even
}
