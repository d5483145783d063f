//! Planning the leaf-level change of a store, and deciding which old values it keeps, clones
//! or drops.
//!
//! A store over `[first, last]` keeps the slots of the left leaf before the one holding
//! `first`, replaces a short run of slots by at most four new ones, and keeps the slots of the
//! right leaf after the one holding `last`:
//!
//! ```text
//!   left leaf  [ a | b | c  d ]   right leaf [ x  y | z ]
//!                     ^first                       ^last
//!   keep a b | middle: [c's head] [new entry] [y's tail] | keep z
//! ```
//!
//! That [`Edit`] is either applied in place (exclusive mode, when it fits the leaf), or
//! expanded into a [`BigNode`] for a rebuild.
//!
//! Linux: `mas_store_b_node()`, `mas_wr_extend_null()`, `mas_extend_spanning_null()`.

use core::num::NonZeroUsize;

use arrayvec::ArrayVec;

use super::big_node::{BigNode, Item};
use super::{Cloner, Disposal};
use crate::walk::{Frame, slot_of};

/// What a store does to the leaves `l ..= r`: keep `l`'s slots before `keep_front`, then
/// `middle`, then `r`'s slots from `keep_back` on.
#[derive(Debug)]
pub(crate) struct Edit {
    pub(crate) keep_front: usize,
    pub(crate) middle: ArrayVec<Item, 4>,
    pub(crate) keep_back: usize,
    /// The middle item that is the tail of an entry whose head also stays: it needs a clone
    /// of the value, made by [`Edit::materialize`] once nothing can fail any more.
    clone_at: Option<usize>,
}

/// Appends a leaf slot to `middle`, merging an empty slot into an empty predecessor.
fn push_value(middle: &mut ArrayVec<Item, 4>, pivot: u64, word: usize) {
    if word == 0
        && let Some(last) = middle.last_mut()
        && last.word == 0
    {
        last.pivot = pivot;
        return;
    }
    middle.push(Item {
        pivot,
        word,
        gap: 0,
    });
}

/// A store of `word` over `[first, last]`, as the rest of the write sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// The value word, 0 for an empty store.
    pub(crate) word: usize,
    pub(crate) cloner: Cloner,
    /// The clone for the tail of an entry the store cuts in two, made in advance by a
    /// preallocation; `None` to make it with `cloner` when needed.
    pub(crate) clone: Option<NonZeroUsize>,
}

impl Request {
    pub(crate) fn new(first: u64, last: u64, word: Option<NonZeroUsize>, cloner: Cloner) -> Self {
        Self {
            first,
            last,
            word: word.map_or(0, NonZeroUsize::get),
            cloner,
            clone: None,
        }
    }
}

/// Plans a store over the leaves `l ..= r`.
///
/// `l.offset` is the slot containing `first`; `r` is the leaf holding `last` (or, for an empty
/// store, `last + 1`, so that a following empty slot merges). An entry cut by the store keeps
/// its head `[start, first - 1]` and its tail `[last + 1, end]`; when one entry keeps both, the
/// tail will hold a clone (see [`Edit::materialize`]). Entries that lose all their indices go
/// to `disp`. Empty slots next to an empty store merge with it, so empty ranges stay maximal.
/// Leaves strictly between `l` and `r` are not looked at: their subtrees were queued whole.
/// Nothing in the tree changes.
pub(crate) fn plan<'a>(l: &Frame<'a>, r: &Frame<'a>, req: &Request, disp: &mut Disposal) -> Edit {
    let (first, last, word) = (req.first, req.last, req.word);
    let same = l.node == r.node;
    let lo = l.offset;
    let mut keep_front = lo;
    let mut middle = ArrayVec::new();

    let keeps_head = l.slot_min(lo) < first;
    if keeps_head {
        push_value(&mut middle, first - 1, l.node.slot(lo));
    } else if word == 0 && lo > 0 && l.node.slot(lo - 1) == 0 {
        // The empty slot before absorbs the store.
        keep_front = lo - 1;
    }
    push_value(&mut middle, last, word);
    if word != 0 {
        disp.added += 1;
    }

    // `rk`: the first slot of `r` that ends after `last`, if any. In one leaf no slot before
    // `lo` does, so the scan starts there.
    let rk = if last >= r.max {
        r.end + 1
    } else if same {
        let mut i = lo;
        while i < r.end && r.node.pivot(i) <= last {
            i += 1;
        }
        i
    } else {
        slot_of(r.node, r.end, last + 1)
    };
    let l_stop = if same { rk.min(l.end + 1) } else { l.end + 1 };
    for i in lo..l_stop {
        if !(i == lo && keeps_head) {
            disp.remove_value(l.node.slot(i));
        }
    }
    if !same {
        for i in 0..rk.min(r.end + 1) {
            disp.remove_value(r.node.slot(i));
        }
    }
    let mut keep_back = rk;
    let mut clone_at = None;
    if rk <= r.end && r.slot_min(rk) <= last {
        // The entry in `rk` straddles `last` and keeps its tail.
        let rk_word = r.node.slot(rk);
        if rk_word != 0 && same && rk == lo && keeps_head {
            // One entry keeps both ends: the tail needs its own value.
            clone_at = Some(middle.len());
        }
        push_value(&mut middle, r.slot_max(rk), rk_word);
        keep_back = rk + 1;
    }
    if keep_back <= r.end
        && r.node.slot(keep_back) == 0
        && let Some(end) = middle.last_mut()
        && end.word == 0
    {
        // The empty slot after absorbs the store.
        end.pivot = r.slot_max(keep_back);
        keep_back += 1;
    }
    Edit {
        keep_front,
        middle,
        keep_back,
        clone_at,
    }
}

impl Edit {
    /// An edit that keeps a node's slots before `keep_front`, puts `middle` in place of those up
    /// to `keep_back`, and keeps the rest: a parent taking in a new child after a split, or
    /// giving up one after a merge.
    pub(crate) fn replacing(
        keep_front: usize,
        middle: ArrayVec<Item, 4>,
        keep_back: usize,
    ) -> Self {
        Self {
            keep_front,
            middle,
            keep_back,
            clone_at: None,
        }
    }

    /// The clone the tail of an entry cut in two needs, made with `cloner`, or `None` if the
    /// edit cuts no entry. For a preallocation, which makes it before the store.
    pub(crate) fn clone_for_tail(&self, cloner: Cloner) -> Option<NonZeroUsize> {
        self.clone_at.map(|k| self.clone_for_tail_at(k, cloner))
    }

    /// Gives the tail of an entry cut in two its own value: `clone` if a preallocation made it
    /// (taken), else one made with `cloner`. Called once the store's nodes are reserved, so that
    /// no clone is made for a store that fails.
    pub(crate) fn materialize(
        &mut self,
        clone: &mut Option<NonZeroUsize>,
        cloner: Cloner,
        disp: &mut Disposal,
    ) {
        if let Some(k) = self.clone_at.take() {
            let word = match clone.take() {
                Some(made) => made,
                None => self.clone_for_tail_at(k, cloner),
            };
            self.middle[k].word = word.get();
            disp.added += 1;
        }
    }

    fn clone_for_tail_at(&self, k: usize, cloner: Cloner) -> NonZeroUsize {
        let word = NonZeroUsize::new(self.middle[k].word)
            .unwrap_or_else(|| unreachable!("only values are cloned"));
        cloner.unwrap_or_else(|| unreachable!("a store into an empty range cut an entry"))(word)
    }

    /// Number of slots the leaf `l` holds after the edit, when `r` is the same leaf.
    pub(crate) fn len_in(&self, leaf: &Frame<'_>) -> usize {
        self.keep_front + self.middle.len() + (leaf.end + 1 - self.keep_back)
    }

    /// The whole new content of the leaves `l ..= r`.
    pub(crate) fn expand(&self, l: &Frame<'_>, r: &Frame<'_>, big: &mut BigNode) {
        big.reset(l.min);
        for i in 0..self.keep_front {
            big.push_slot(l, i);
        }
        for item in &self.middle {
            big.push(*item);
        }
        for i in self.keep_back..=r.end {
            big.push_slot(r, i);
        }
    }

    /// Whether the edit can be applied in place under concurrent readers (RCU mode).
    ///
    /// Only an append qualifies: the last slot keeps its word while its range shrinks, and new
    /// slots follow it. The new slots and pivots go past the old end, where no reader looks, the
    /// last old slot's pivot (the node's maximum until then) is set, and the new end is
    /// published last (Release). A reader that read the old end uses the node's maximum for the
    /// last slot, not the stored pivot, so it sees the old content; one that read the new end
    /// sees all of the new. Either way its confirmation ([`crate::walk::Frame::confirm`])
    /// compares the end it used with the current one, so no reader pairs a word read after the
    /// append with a range from before it.
    ///
    /// Every other change of pivots is copied, so that a reader never needs to check pivots:
    /// while a node is in the tree with a given end, its pivots below that end never change.
    /// The kernel also moves a boundary, or stores a pivot and two slots, in place (its slot
    /// store); a reader could pair a value with a range from before or after such a change, and
    /// could not tell, since neither moves the end (the crate docs: "The read and write
    /// protocol").
    pub(crate) fn is_rcu_safe(&self, leaf: &Frame<'_>) -> bool {
        self.keep_front == leaf.end
            && self.keep_back == leaf.end + 1
            && self.middle.len() >= 2
            && self.middle[0].word == leaf.node.slot(leaf.end)
    }

    /// Applies the edit to `leaf` in place (exclusive mode; the result must fit): moves the
    /// kept tail, writes the middle and zeroes what lies past the new end (invariant N2).
    ///
    /// Linux: the non-RCU `mas_wr_node_store()`, `mas_wr_append()`, `mas_wr_slot_store()`.
    pub(crate) fn apply(&self, leaf: &Frame<'_>) {
        let node = leaf.node;
        let end = leaf.end;
        let pivots = node.kind().pivots();
        let tail = end + 1 - self.keep_back;
        let to = self.keep_front + self.middle.len();
        let new_len = to + tail;
        if tail > 0 && to != self.keep_back {
            // The kept slots after the middle move as a block with their stored pivots; the
            // last one ends at the leaf's maximum, stored if its new place has a pivot (N1).
            node.move_slots(self.keep_back, to, tail);
            node.move_pivots(self.keep_back, to, tail - 1);
            if new_len - 1 < pivots {
                node.set_pivot(new_len - 1, leaf.max);
            }
        }
        for (k, item) in self.middle.iter().enumerate() {
            let i = self.keep_front + k;
            if i < pivots {
                node.set_pivot(i, item.pivot);
            }
            node.set_slot(i, item.word);
        }
        if new_len <= end {
            node.clear_from(new_len, end);
        }
        if new_len != end + 1 {
            node.set_end(new_len - 1);
        }
    }

    /// Applies an append that [`is_rcu_safe`](Self::is_rcu_safe) accepted: the new slots past
    /// the old end first, then the last old slot's pivot, then the new end.
    pub(crate) fn apply_append(&self, leaf: &Frame<'_>) {
        let node = leaf.node;
        let pivots = node.kind().pivots();
        let new_end = leaf.end + self.middle.len() - 1;
        for (k, item) in self.middle.iter().enumerate().skip(1) {
            let i = leaf.end + k;
            if i < pivots {
                node.set_pivot(i, item.pivot);
            }
            node.set_slot(i, item.word);
        }
        node.set_pivot(leaf.end, self.middle[0].pivot);
        node.set_end(new_end);
    }
}
