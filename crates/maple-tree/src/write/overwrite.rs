//! Exclusive mode: a store over existing slots of one leaf (an overwrite, a clear, a trim, a
//! hole punched in an entry), edited straight in the leaf without the general planner.
//!
//! The edit is the one [`leaf::plan`](super::leaf::plan) would make and
//! [`leaf::Edit::apply`](super::leaf::Edit::apply) would carry out, worked out in one pass
//! over the slots the store touches: the slots before the one holding `first` stay, at most
//! three new slots (what stays of the first entry, the stored range, what stays of the last
//! entry) replace those up to the one holding `last`, and the rest move as a block. Empty
//! slots beside an empty store merge with it, so empty ranges stay maximal. Stores that
//! overflow or underflow the leaf, cross into the next leaf, or empty the root take the
//! general path: this one needs no node, reserves nothing and cannot fail.
//!
//! An allocation tree's gaps are kept without scanning the leaf where the recorded largest gap
//! tells the answer: an empty store only merges empty ranges, so the leaf's largest gap becomes
//! the larger of the recorded one and the merged range; a value stored over values leaves every
//! empty range as it was; one stored over (part of) empty ranges smaller than the recorded
//! largest leaves the largest where it is.
//!
//! Linux: `mas_wr_slot_store()`, `mas_wr_append()` and the non-RCU `mas_wr_node_store()`
//! (`mas_wr_store_type()` choosing them), and `mas_update_gap()`.

use core::num::NonZeroUsize;

use arrayvec::ArrayVec;

use super::{Cloner, StoreKind, Unstored, Writer};
use crate::gap;
use crate::node::entry::Values;
use crate::node::retire::Panics;
use crate::walk::Path;

/// The new slots of an overwrite, in order: `(pivot, word)`.
type Middle = ArrayVec<(u64, usize), 3>;

/// Appends a slot to `middle`, merging an empty slot into an empty predecessor.
#[inline]
fn push(middle: &mut Middle, pivot: u64, word: usize) {
    if word == 0
        && let Some(prev) = middle.last_mut()
        && prev.1 == 0
    {
        prev.0 = pivot;
        return;
    }
    middle.push((pivot, word));
}

impl<'a, T: 'static> Writer<'a, T> {
    /// Exclusive mode: stores `word` (0: nothing) over `[first, last]` straight into the leaf
    /// the walk in `left` ended on (on the slot holding `first`), when the range lies in that
    /// leaf and the result fits it; see the [module docs](self). Returns `None`, having
    /// changed nothing, for the stores the general path takes: a split, a rebalance, a
    /// spanning store, a store over every index, a root leaf left empty.
    ///
    /// The tail of an entry cut in two gets a clone made with `cloner` before anything
    /// changes (a panicking clone leaves the tree as it was and drops `word`); values that
    /// lose all their indices are dropped once the leaf is complete.
    pub(super) fn overwrite_in_place(
        &mut self,
        left: &Path<'a>,
        first: u64,
        last: u64,
        word: usize,
        cloner: Cloner,
    ) -> Option<StoreKind> {
        debug_assert!(self.exclusive);
        let depth = left.len() - 1;
        let leaf = left[depth];
        let (node, lo, end) = (leaf.node, leaf.offset, leaf.end);
        // An empty store also merges with the slot after it, which may start the next leaf.
        let reach = if word == 0 {
            last.saturating_add(1)
        } else {
            last
        };
        if reach > leaf.max || (first == 0 && last == u64::MAX) {
            return None;
        }
        let words = node.leaf_words();
        if first == leaf.slot_min(lo) && last == leaf.slot_max(lo) {
            // Exactly one slot: a new value for an entry, or an entry emptied.
            if let Some(old) = NonZeroUsize::new(words.slot(lo)) {
                let kind = if word != 0 {
                    // Value over value: no empty range changes, nor does the count.
                    node.set_slot(lo, word);
                    StoreKind::ExactFit
                } else {
                    let merges = (lo > 0 && words.slot(lo - 1) == 0)
                        || (lo < end && words.slot(lo + 1) == 0);
                    if !self.empty_slot_in_place(left) {
                        return None;
                    }
                    if merges {
                        StoreKind::NodeStore
                    } else {
                        StoreKind::ExactFit
                    }
                };
                Values::<T>::drop_word(old);
                return Some(kind);
            }
        }
        if lo < end
            && let Some(kind) = self.shift_boundary(left, first, last, word)
        {
            return Some(kind);
        }
        let mut hi = lo;
        while hi < end && words.pivot(hi) < last {
            hi += 1;
        }
        let (smin, smax) = (leaf.slot_min(lo), leaf.slot_max(hi));
        let (head_word, tail_word) = (words.slot(lo), words.slot(hi));
        let keeps_head = smin < first;
        let keeps_tail = last < smax;

        let mut keep_front = lo;
        let mut keep_back = hi + 1;
        let mut middle = Middle::new();
        if keeps_head {
            push(&mut middle, first - 1, head_word);
        } else if word == 0 && lo > 0 && words.slot(lo - 1) == 0 {
            keep_front = lo - 1;
        }
        push(&mut middle, last, word);
        let stored_at = middle.len() - 1;
        if keeps_tail {
            push(&mut middle, smax, tail_word);
        }
        if keep_back <= end
            && words.slot(keep_back) == 0
            && let Some(prev) = middle.last_mut()
            && prev.1 == 0
        {
            prev.0 = leaf.slot_max(keep_back);
            keep_back += 1;
        }

        let kind = node.kind();
        let new_len = keep_front + middle.len() + (end + 1 - keep_back);
        let empties_root = depth == 0 && new_len == 1 && word == 0;
        if new_len > kind.slots() || (depth > 0 && new_len < kind.min_len()) || empties_root {
            return None;
        }
        let exact = hi == lo && !keeps_head && !keeps_tail;
        let store_kind = if exact && keep_front == lo && keep_back == lo + 1 {
            StoreKind::ExactFit
        } else if lo == end && new_len > end + 1 {
            StoreKind::Append
        } else if new_len == end + 1 && middle.len() <= 2 {
            StoreKind::SlotStore
        } else {
            StoreKind::NodeStore
        };

        // What the store takes out: the words of the slots it covers, but for those that live
        // on in what stays of the first and last entries.
        let mut removed = 0;
        let mut dropped: ArrayVec<NonZeroUsize, 16> = ArrayVec::new();
        // The largest empty range the store covers (part of): a value shrinks it.
        let mut shrunk = 0;
        for i in lo..=hi {
            let w = words.slot(i);
            let Some(w) = NonZeroUsize::new(w) else {
                let size = (leaf.slot_max(i) - leaf.slot_min(i)).saturating_add(1);
                shrunk = shrunk.max(size);
                continue;
            };
            if (i == lo && keeps_head) || (i == hi && keeps_tail) {
                continue;
            }
            removed += 1;
            if Values::<T>::owns_memory(w) {
                dropped.push(w);
            }
        }
        let run_first = if stored_at == 0 {
            leaf.slot_min(keep_front)
        } else {
            middle[stored_at - 1].0 + 1
        };

        let mut added = usize::from(word != 0);
        if lo == hi
            && keeps_head
            && keeps_tail
            && let Some(cut) = NonZeroUsize::new(tail_word)
        {
            // One entry keeps both ends: its tail needs a value of its own. The clone is user
            // code and may panic; `word` has not reached the tree yet, and is dropped then.
            let unstored = Unstored::<T>::new(word);
            let clone = cloner.unwrap_or_else(|| unreachable!("an insert cut an entry"))(cut);
            unstored.stored();
            if let Some(tail) = middle.last_mut() {
                tail.1 = clone.get();
            }
            added += 1;
        }

        // The kept slots after the middle move as a block with their stored pivots; the last
        // one ends at the leaf's maximum, stored if its new place has a pivot (N1).
        let pivots = kind.pivots();
        let tail = end + 1 - keep_back;
        let to = keep_front + middle.len();
        if tail > 0 && to != keep_back {
            node.move_slots(keep_back, to, tail);
            node.move_pivots(keep_back, to, tail - 1);
            if new_len - 1 < pivots {
                node.set_pivot(new_len - 1, leaf.max);
            }
        }
        for (k, &(pivot, w)) in middle.iter().enumerate() {
            let i = keep_front + k;
            if i < pivots {
                node.set_pivot(i, pivot);
            }
            node.set_slot(i, w);
        }
        if new_len <= end {
            node.clear_from(new_len, end);
        }
        if new_len != end + 1 {
            node.set_end(new_len - 1);
        }

        if self.core.alloc {
            if word == 0 {
                // Only empty ranges merged.
                let run = (middle[stored_at].0 - run_first).saturating_add(1);
                gap::after_merge(left, depth, run);
            } else if shrunk > 0 {
                gap::after_shrink(left, depth, shrunk);
            }
        }
        self.core.add_len(added, removed);
        let mut panics = Panics::default();
        for w in dropped {
            panics.run(|| Values::<T>::drop_word(w));
        }
        panics.resume();
        Some(store_kind)
    }

    /// A store that moves the one boundary between slot `lo` (where the walk in `left` stands,
    /// `lo < end`) and slot `lo + 1`: `word` takes the whole of one of them and part of the
    /// other, which keeps what it had over the rest; or a clear of the tail of the value in
    /// `lo` when `lo + 1` is empty, which takes the tail in. One pivot and at most one slot
    /// change. `None`, having changed nothing, for any other store. What
    /// [`overwrite_in_place`](Self::overwrite_in_place) does for such a store, in a few words:
    /// most of maple-mm's merges and trims (a VMA grown over the hole or the VMA beside it, the
    /// tail of a VMA unmapped).
    ///
    /// Linux: `mas_wr_slot_store()`.
    #[inline(always)]
    fn shift_boundary(
        &mut self,
        left: &Path<'a>,
        first: u64,
        last: u64,
        word: usize,
    ) -> Option<StoreKind> {
        /// What a move does to the empty ranges of the leaf.
        enum Gaps {
            Same,
            Shrunk(u64),
            Merged(u64),
        }
        let depth = left.len() - 1;
        let leaf = left[depth];
        let (words, lo) = (leaf.node.leaf_words(), leaf.offset);
        let (here, next) = (words.slot(lo), words.slot(lo + 1));
        // `lo < end`: the slot has a pivot.
        let (lo_min, lo_max) = (leaf.slot_min(lo), words.pivot(lo));
        let next_max = leaf.slot_max(lo + 1);
        let (old, gaps) =
            if word != 0 && here != 0 && first == lo_min && lo_max < last && last < next_max {
                // The value in `lo` takes `word` and grows into `lo + 1`.
                words.set_pivot(lo, last);
                words.set_slot(lo, word);
                let gaps = if next == 0 {
                    Gaps::Shrunk(next_max - lo_max)
                } else {
                    Gaps::Same
                };
                (here, gaps)
            } else if word != 0 && next != 0 && lo_min < first && last == next_max {
                // The value in `lo + 1` takes `word` and grows into `lo`.
                words.set_pivot(lo, first - 1);
                words.set_slot(lo + 1, word);
                let gaps = if here == 0 {
                    Gaps::Shrunk(lo_max - lo_min + 1)
                } else {
                    Gaps::Same
                };
                (next, gaps)
            } else if word == 0 && here != 0 && next == 0 && lo_min < first && last == lo_max {
                // The empty range after the value in `lo` takes its tail.
                words.set_pivot(lo, first - 1);
                (0, Gaps::Merged((next_max - first).saturating_add(1)))
            } else {
                return None;
            };
        if self.core.alloc {
            match gaps {
                Gaps::Same => {}
                Gaps::Shrunk(size) => gap::after_shrink(left, depth, size),
                Gaps::Merged(size) => gap::after_merge(left, depth, size),
            }
        }
        // One value out and one in, or none of either: the count stays.
        if let Some(old) = NonZeroUsize::new(old) {
            Values::<T>::drop_word(old);
        }
        Some(StoreKind::SlotStore)
    }
}
