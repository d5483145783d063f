//! Cursors and iterators: positions in the tree that move slot by slot.
//!
//! A [`Cursor`] keeps the path from the root to its leaf, so stepping to the next or previous
//! range is amortised O(1): inside a leaf it moves one slot, at a leaf's edge it climbs to the
//! first ancestor with a slot on that side and descends along the edge of that subtree.
//!
//! In RCU mode a cursor may sit on a node that a writer has since replaced or grown. Every step
//! reads the slot's word and range and then confirms the node (see [`crate::walk`]); if the read
//! is stale, the step is thrown away, the cursor keeps the range it stood on, and it walks again
//! from the root to the index just past that range (the kernel's `mas_rewalk()`). So a step
//! never skips an index: each range a cursor moves onto contains the index next to the one it
//! left.

use core::marker::PhantomData;
use core::num::NonZeroUsize;
use core::ops::{Bound, RangeBounds};

use crate::node::NodeRef;
use crate::node::entry::{Ref, Values};
use crate::range::Range;
use crate::rcu::Guard;
use crate::root::Core;
use crate::walk::{self, Frame, Path, Stale};

/// Where a cursor stands. Linux: `enum maple_status`.
#[doc(alias = "maple_status")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorState {
    /// Not walked yet: the next operation walks from the root to the cursor's index
    /// (Linux: `ma_start`).
    Start,
    /// Positioned on a range of the tree (Linux: `ma_active`).
    Active,
    /// The tree was empty at the last walk (Linux: `ma_none`).
    Empty,
    /// Paused: the next operation re-walks, continuing after the current range
    /// (Linux: `ma_pause`).
    Paused,
    /// A forward move stopped at its limit; a later call with a larger limit continues
    /// (Linux: `ma_overflow`).
    Overflow,
    /// A backward move stopped at its limit (Linux: `ma_underflow`).
    Underflow,
}

/// A read position in a tree, valid while the guard it came from lives.
///
/// Its *range* is the full extent of the slot it stands on, empty or not. Methods that move
/// return what they stood on after moving.
///
/// # Examples
///
/// ```
/// use maple_tree::MapleTree;
///
/// let tree = MapleTree::new();
/// for i in 0..10u32 {
///     tree.insert_range(u64::from(i) * 100..=u64::from(i) * 100 + 49, i).unwrap();
/// }
/// let guard = tree.read();
/// let mut cursor = guard.cursor(250);
/// // The first find returns the entry containing the index, or the next one.
/// assert_eq!(cursor.find(u64::MAX).map(|(r, v)| (r.first(), *v)), Some((300, 3)));
/// assert_eq!(cursor.next(u64::MAX).map(|(r, v)| (r.first(), *v)), Some((400, 4)));
/// assert_eq!(cursor.prev(0).map(|(r, v)| (r.first(), *v)), Some((300, 3)));
/// ```
///
/// Linux: `struct ma_state`.
#[doc(alias = "ma_state")]
#[doc(alias = "MA_STATE")]
pub struct Cursor<'g, T: 'static> {
    core: &'g Core,
    guard: &'g Guard,
    path: Path<'g>,
    index: u64,
    last: u64,
    /// The word of the slot the cursor stands on, read with its range `[index, last]`.
    word: usize,
    state: CursorState,
    /// Whether reads are confirmed (R1). The tree's writer reads without: no write can race it.
    validate: bool,
    values: PhantomData<fn() -> T>,
}

impl<T: 'static> core::fmt::Debug for Cursor<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cursor")
            .field("index", &self.index)
            .field("last", &self.last)
            .field("state", &self.state)
            .field("depth", &self.path.len())
            .finish()
    }
}

/// An entry as a cursor or iterator yields it.
pub(crate) type Found<'g, T> = (Range, Ref<'g, T>);

impl<'g, T: 'static> Cursor<'g, T> {
    pub(crate) fn new(core: &'g Core, guard: &'g Guard, index: u64, validate: bool) -> Self {
        Self {
            core,
            guard,
            path: Path::new(),
            index,
            last: index,
            word: 0,
            state: CursorState::Start,
            validate,
            values: PhantomData,
        }
    }

    /// Puts the cursor back on a position saved from another cursor: walks again to `index`
    /// unless the saved state needs no path.
    pub(crate) fn restore(&mut self, index: u64, last: u64, state: CursorState) {
        self.index = index;
        self.last = last;
        self.state = state;
        if matches!(
            state,
            CursorState::Active | CursorState::Overflow | CursorState::Underflow
        ) {
            self.walk_to(index);
            if self.state == CursorState::Active {
                self.state = state;
            }
        }
    }

    /// The cursor's state.
    pub fn state(&self) -> CursorState {
        self.state
    }

    /// The range the cursor stands on (after a walk or a move), or the index it will walk to.
    pub fn range(&self) -> Range {
        Range::new_unchecked(self.index, self.last)
    }

    /// Forgets the position: the next operation walks from the root to `index`.
    ///
    /// Linux: `mas_set()`.
    #[doc(alias = "mas_set")]
    pub fn set(&mut self, index: u64) {
        self.index = index;
        self.last = index;
        self.state = CursorState::Start;
    }

    /// Forgets the position but keeps the index. Linux: `mas_reset()`.
    #[doc(alias = "mas_reset")]
    pub fn reset(&mut self) {
        self.state = CursorState::Start;
    }

    /// Drops the cached path, so the next move re-walks from the root and continues after the
    /// current range. Use it before holding a cursor for long across writes.
    ///
    /// Linux: `mas_pause()`.
    #[doc(alias = "mas_pause")]
    pub fn pause(&mut self) {
        self.path.clear();
        self.state = CursorState::Paused;
    }

    /// Walks to the cursor's index and returns the value there, if any. The cursor's range
    /// becomes the whole slot holding the index, empty or not.
    ///
    /// Linux: `mas_walk()`.
    #[doc(alias = "mas_walk")]
    pub fn walk(&mut self) -> Option<Ref<'g, T>> {
        self.walk_to(self.index);
        self.current().map(|(_, v)| v)
    }

    /// The entry at the cursor's index, or else the next one starting at or before `limit`; on
    /// later calls, the next entry. Returns `None` when there is none up to `limit`; the cursor
    /// then stands in [`CursorState::Overflow`].
    ///
    /// An entry that starts at or before `limit` is returned even when it ends after `limit`.
    ///
    /// Linux: `mas_find()`.
    #[doc(alias = "mas_find")]
    pub fn find(&mut self, limit: u64) -> Option<Found<'g, T>> {
        match self.state {
            CursorState::Start | CursorState::Empty => {
                if self.index > limit {
                    return None;
                }
                self.walk_to(self.index);
                if let Some(found) = self.current() {
                    return Some(found);
                }
                self.next(limit)
            }
            _ => self.next(limit),
        }
    }

    /// The entry at the cursor's index, or else the previous one ending at or after `min`; on
    /// later calls, the previous entry.
    ///
    /// Linux: `mas_find_rev()`.
    #[doc(alias = "mas_find_rev")]
    pub fn find_rev(&mut self, min: u64) -> Option<Found<'g, T>> {
        match self.state {
            CursorState::Start | CursorState::Empty => {
                if self.index < min {
                    return None;
                }
                self.walk_to(self.index);
                if let Some(found) = self.current() {
                    return Some(found);
                }
                self.prev(min)
            }
            _ => self.prev(min),
        }
    }

    /// The next entry after the current range, if it starts at or before `limit`.
    ///
    /// Linux: `mas_next()`.
    #[doc(alias = "mas_next")]
    pub fn next(&mut self, limit: u64) -> Option<Found<'g, T>> {
        if let Some(found) = self.step_in_leaf(limit, true) {
            return Some(found);
        }
        loop {
            let (range, value) = self.next_range(limit)?;
            if let Some(v) = value {
                return Some((range, v));
            }
        }
    }

    /// The previous entry before the current range, if it ends at or after `min`.
    ///
    /// Linux: `mas_prev()`.
    #[doc(alias = "mas_prev")]
    pub fn prev(&mut self, min: u64) -> Option<Found<'g, T>> {
        if let Some(found) = self.step_in_leaf(min, false) {
            return Some(found);
        }
        loop {
            let (range, value) = self.prev_range(min)?;
            if let Some(v) = value {
                return Some((range, v));
            }
        }
    }

    /// The fast path of [`next`](Self::next) and [`prev`](Self::prev): the nearest value in
    /// the same leaf, within `bound`, confirmed after it is read. `None` sends the caller down
    /// the general path, which also handles leaf edges, limits and stale reads.
    #[inline]
    fn step_in_leaf(&mut self, bound: u64, forward: bool) -> Option<Found<'g, T>> {
        if self.state != CursorState::Active {
            return None;
        }
        let leaf = self.path.last_mut()?;
        let (node, end) = (leaf.node, leaf.end);
        let Some((i, word)) = next_value(node, end, leaf.offset, forward) else {
            return self.step_beside(bound, forward);
        };
        let first = if i == 0 {
            leaf.min
        } else {
            node.pivot(i - 1) + 1
        };
        let last = if i < end { node.pivot(i) } else { leaf.max };
        let beyond = if forward { first > bound } else { last < bound };
        if beyond || (self.validate && !node.is_current(end)) {
            return None;
        }
        leaf.offset = i;
        self.index = first;
        self.last = last;
        self.word = word.get();
        Some((Range::new_unchecked(first, last), Values::<T>::borrow(word)))
    }

    /// The part of [`step_in_leaf`](Self::step_in_leaf) that leaves the leaf, which holds no
    /// value past the cursor: the nearest value in the leaf beside it under the same parent,
    /// within `bound`. `None` leaves the cursor as it was, for the general path.
    ///
    /// A reader first confirms the leaf it leaves, for the empty slots it passed there. It
    /// enters the leaf beside through the parent's slot, as the general path's descent does:
    /// that leaf covers the slot's range for as long as it is in the tree, which its
    /// confirmation, after the slots read there, proves.
    #[inline(never)]
    fn step_beside(&mut self, bound: u64, forward: bool) -> Option<Found<'g, T>> {
        let depth = self.path.len().checked_sub(1)?;
        if self.validate && self.path[depth].confirm().is_err() {
            return None;
        }
        let parent = self.path[depth.checked_sub(1)?];
        let offset = if forward {
            if parent.offset == parent.end {
                return None;
            }
            parent.offset + 1
        } else {
            parent.offset.checked_sub(1)?
        };
        let leaf = Frame { offset, ..parent }.child_frame()?;
        if !leaf.node.is_leaf() {
            return None;
        }
        let from = if forward { 0 } else { leaf.end };
        let (i, word) = match NonZeroUsize::new(leaf.node.slot(from)) {
            Some(word) => (from, word),
            None => next_value(leaf.node, leaf.end, from, forward)?,
        };
        let (first, last) = (leaf.slot_min(i), leaf.slot_max(i));
        let beyond = if forward { first > bound } else { last < bound };
        if beyond || (self.validate && leaf.confirm().is_err()) {
            return None;
        }
        self.path[depth - 1].offset = offset;
        self.path[depth] = Frame { offset: i, ..leaf };
        self.index = first;
        self.last = last;
        self.word = word.get();
        Some((Range::new_unchecked(first, last), Values::<T>::borrow(word)))
    }

    /// The next range after the current one, empty or not, if it starts at or before `limit`.
    ///
    /// Linux: `mas_next_range()`.
    #[doc(alias = "mas_next_range")]
    pub fn next_range(&mut self, limit: u64) -> Option<(Range, Option<Ref<'g, T>>)> {
        self.step(limit, true)
    }

    /// The previous range before the current one, empty or not, if it ends at or after `min`.
    ///
    /// Linux: `mas_prev_range()`.
    #[doc(alias = "mas_prev_range")]
    pub fn prev_range(&mut self, min: u64) -> Option<(Range, Option<Ref<'g, T>>)> {
        self.step(min, false)
    }

    /// One move forward (`forward`) or backward, stopping at `bound`.
    fn step(&mut self, bound: u64, forward: bool) -> Option<(Range, Option<Ref<'g, T>>)> {
        match self.state {
            CursorState::Start | CursorState::Empty => {
                self.walk_to(self.index);
                if self.state != CursorState::Active {
                    return None;
                }
            }
            CursorState::Paused => {
                // Continue from the neighbour of the range we stood on.
                let target = self.neighbour(forward)?;
                self.walk_to(target);
                if self.state != CursorState::Active {
                    return None;
                }
                return self.arrive(bound, forward);
            }
            CursorState::Overflow if forward => return self.resume(bound, forward),
            CursorState::Underflow if !forward => return self.resume(bound, forward),
            CursorState::Active | CursorState::Overflow | CursorState::Underflow => {}
        }
        let moved = match self.try_step(forward) {
            Ok(moved) => moved,
            Err(Stale) => {
                // Re-walk to where we were heading: just past the range the cursor still holds,
                // and take the slot there.
                let target = self.neighbour(forward)?;
                self.walk_to(target);
                self.state == CursorState::Active
            }
        };
        if !moved {
            return None;
        }
        self.arrive(bound, forward)
    }

    /// The index just past the current range in the direction of travel.
    fn neighbour(&self, forward: bool) -> Option<u64> {
        if forward {
            self.last.checked_add(1)
        } else {
            self.index.checked_sub(1)
        }
    }

    /// Returns the range the cursor moved onto, unless it lies beyond `bound`; then the cursor
    /// stays on it in the overflow (or underflow) state.
    fn arrive(&mut self, bound: u64, forward: bool) -> Option<(Range, Option<Ref<'g, T>>)> {
        let beyond = if forward {
            self.index > bound
        } else {
            self.last < bound
        };
        if beyond {
            self.state = if forward {
                CursorState::Overflow
            } else {
                CursorState::Underflow
            };
            return None;
        }
        self.state = CursorState::Active;
        Some(self.current_range())
    }

    /// Moves the path one slot; `Ok(false)` at the end of the key space. On `Err` the path is
    /// left moved but the cursor's range and word are those it stood on.
    fn try_step(&mut self, forward: bool) -> Result<bool, Stale> {
        let leaf = self.path.len() - 1;
        let at_edge = |f: &Frame<'_>| {
            if forward {
                f.offset == f.end
            } else {
                f.offset == 0
            }
        };
        let mut d = leaf;
        while at_edge(&self.path[d]) {
            if d == 0 {
                return Ok(false);
            }
            d -= 1;
        }
        if forward {
            self.path[d].offset += 1;
        } else {
            self.path[d].offset -= 1;
        }
        self.path.truncate(d + 1);
        walk::descend_edge(&mut self.path, forward);
        self.load_current()?;
        Ok(true)
    }

    /// Walks from the root to `index`, retrying while it meets replaced nodes.
    fn walk_to(&mut self, index: u64) {
        loop {
            if !walk::walk_to(self.core, self.guard, &mut self.path, index) {
                self.last = self.index;
                self.state = CursorState::Empty;
                return;
            }
            if self.load_current().is_ok() {
                self.state = CursorState::Active;
                return;
            }
        }
    }

    /// Takes the word and range of the path's leaf slot as the cursor's, once confirmed; on a
    /// stale read the cursor keeps what it had.
    fn load_current(&mut self) -> Result<(), Stale> {
        let leaf = self.path[self.path.len() - 1];
        let (word, range) = leaf.read_slot(leaf.offset)?;
        self.index = range.first();
        self.last = range.last();
        self.word = word;
        Ok(())
    }

    /// Continues from an overflow (or underflow): reads the slot the cursor stands on again, as
    /// it may have changed since the cursor stopped there, walking from the root to its first
    /// index if the path is stale, and returns it if it now lies within `bound`.
    fn resume(&mut self, bound: u64, forward: bool) -> Option<(Range, Option<Ref<'g, T>>)> {
        if self.path.is_empty() || self.load_current().is_err() {
            self.walk_to(self.index);
            if self.state != CursorState::Active {
                return None;
            }
        }
        self.arrive(bound, forward)
    }

    /// The value in the current slot, if the cursor is active.
    fn current_word(&self) -> Option<NonZeroUsize> {
        if self.state != CursorState::Active {
            return None;
        }
        NonZeroUsize::new(self.word)
    }

    fn current_range(&self) -> (Range, Option<Ref<'g, T>>) {
        (self.range(), self.current_word().map(Values::<T>::borrow))
    }

    fn current(&self) -> Option<Found<'g, T>> {
        let (range, value) = self.current_range();
        value.map(|v| (range, v))
    }
}

/// The nearest slot after `offset` (before it, backwards) in a leaf `node` with end `end` that
/// holds a value, and its word; unconfirmed.
#[inline]
fn next_value(
    node: NodeRef<'_>,
    end: usize,
    offset: usize,
    forward: bool,
) -> Option<(usize, NonZeroUsize)> {
    let mut i = offset;
    loop {
        if forward {
            if i >= end {
                return None;
            }
            i += 1;
        } else {
            i = i.checked_sub(1)?;
        }
        if let Some(word) = NonZeroUsize::new(node.slot(i)) {
            return Some((i, word));
        }
    }
}

/// An iterator over the entries intersecting a range of indices, in ascending order, or from
/// both ends.
///
/// Each step is consistent on its own; under concurrent writes, the whole iteration is not a
/// snapshot. Ranges are returned strictly ascending (or descending from the back) and never
/// overlap: if a concurrent writer extends an entry backwards over indices the iterator has
/// already passed, only the part it has not passed is returned. The first entry returned may
/// start before the iterated range (and the first from the back end after it), as it
/// intersects it.
///
/// Linux: `mt_for_each()`, `mas_for_each()`.
#[doc(alias = "mt_for_each")]
#[doc(alias = "mas_for_each")]
pub struct Iter<'g, T: 'static> {
    front: Cursor<'g, T>,
    back: Cursor<'g, T>,
    /// The lowest index not yet passed from the front.
    low: u64,
    /// The highest index not yet passed from the back.
    high: u64,
    /// Whether the front, or the back, has yielded an entry.
    front_started: bool,
    back_started: bool,
    done: bool,
}

impl<T: 'static> core::fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Iter")
            .field("low", &self.low)
            .field("high", &self.high)
            .field("done", &self.done)
            .finish()
    }
}

impl<'g, T: 'static> Iter<'g, T> {
    pub(crate) fn new(
        core: &'g Core,
        guard: &'g Guard,
        bounds: impl RangeBounds<u64>,
        validate: bool,
    ) -> Self {
        let (low, high, empty) = resolve_bounds(&bounds);
        Self {
            front: Cursor::new(core, guard, low, validate),
            back: Cursor::new(core, guard, high, validate),
            low,
            high,
            front_started: false,
            back_started: false,
            done: empty,
        }
    }
}

impl<T: 'static> Iter<'_, T> {
    /// Keeps a range off the indices either end has already passed.
    ///
    /// Without concurrent writes this changes nothing. With them, a cursor that finds its node
    /// replaced walks again to the next index it has not passed, and the entry there may now
    /// start before it (a writer extended it backwards over indices already visited in their
    /// old version): the iterator then yields only the part not visited yet, so that ranges
    /// stay strictly ascending and never overlap.
    fn clip(&self, range: Range) -> Range {
        let first = if self.front_started {
            range.first().max(self.low)
        } else {
            range.first()
        };
        let last = if self.back_started {
            range.last().min(self.high)
        } else {
            range.last()
        };
        Range::new_unchecked(first, last)
    }
}

/// Turns any `RangeBounds<u64>` into inclusive `(low, high, is_empty)`.
pub(crate) fn resolve_bounds(bounds: &impl RangeBounds<u64>) -> (u64, u64, bool) {
    let (low, low_empty) = match bounds.start_bound() {
        Bound::Included(&s) => (s, false),
        Bound::Excluded(&s) => s.checked_add(1).map_or((u64::MAX, true), |s| (s, false)),
        Bound::Unbounded => (0, false),
    };
    let (high, high_empty) = match bounds.end_bound() {
        Bound::Included(&e) => (e, false),
        Bound::Excluded(&e) => e.checked_sub(1).map_or((0, true), |e| (e, false)),
        Bound::Unbounded => (u64::MAX, false),
    };
    (low, high, low_empty || high_empty || low > high)
}

impl<'g, T: 'static> Iter<'g, T> {
    /// The heart of [`Iterator::fold`]: passes `f` the values after the front cursor in its
    /// leaf and in the leaves beside it under the same parent, as [`Iterator::next`] would yield
    /// them, and leaves the iterator where `next` would. It stops at the parent's last leaf, at
    /// the bound and at a stale read, and leaves those to `next`.
    ///
    /// It reads the leaves as `next` does (see [`Cursor::step_beside`]), slot by slot, but moves
    /// the cursor only once per leaf. A reader confirms a leaf after each value it reads there,
    /// before lending it, which also vouches for the empty slots read before that value, and
    /// once more before it leaves the leaf, for the empty slots it passed last (R1).
    #[inline]
    fn fold_leaves<B, F>(&mut self, mut acc: B, f: &mut F) -> B
    where
        F: FnMut(B, Found<'g, T>) -> B,
    {
        if self.done
            || !self.front_started
            || self.back_started
            || self.front.state != CursorState::Active
        {
            return acc;
        }
        let Some(depth) = self.front.path.len().checked_sub(1) else {
            return acc;
        };
        let (validate, high) = (self.front.validate, self.high);
        let mut leaf = self.front.path[depth];
        // How many leaves past the cursor's, under the same parent, `leaf` is.
        let mut moved = 0;
        // The slot, range and word of the last value passed to `f` in `leaf`.
        let mut yielded = None;
        let mut i = leaf.offset + 1;
        loop {
            let words = leaf.node.leaf_words();
            // A leaf's end is at most 15: cut to that, it bounds the slot index for the
            // compiler.
            let end = leaf.end.min(15);
            // Whether some slot of the leaf may reach the iterator's bound: if not, the loop
            // need not check it.
            let bounded = leaf.max >= high;
            let mut stop = false;
            while i <= end {
                let Some(word) = NonZeroUsize::new(words.slot(i)) else {
                    i += 1;
                    continue;
                };
                let first = if i == 0 {
                    leaf.min
                } else {
                    words.pivot(i - 1).wrapping_add(1)
                };
                let last = if i < end { words.pivot(i) } else { leaf.max };
                if (bounded && first > high) || (validate && !leaf.node.is_current(leaf.end)) {
                    stop = true;
                    break;
                }
                yielded = Some((i, first, last, word));
                acc = f(
                    acc,
                    (Range::new_unchecked(first, last), Values::<T>::borrow(word)),
                );
                if bounded && last >= high {
                    stop = true;
                    break;
                }
                i += 1;
            }
            if let Some(at) = yielded.take() {
                self.settle(depth, leaf, moved, at);
                moved = 0;
            }
            if stop || (validate && !leaf.node.is_current(leaf.end)) {
                return acc;
            }
            // On to the leaf beside, under the same parent.
            let Some(parent) = depth.checked_sub(1).map(|d| self.front.path[d]) else {
                return acc;
            };
            let offset = parent.offset + moved + 1;
            if offset > parent.end {
                return acc;
            }
            match (Frame { offset, ..parent }).child_frame() {
                Some(next) if next.node.is_leaf() => leaf = next,
                _ => return acc,
            }
            moved += 1;
            i = 0;
        }
    }

    /// Moves the front cursor onto slot `at.0` of `leaf`, `moved` leaves past its own under the
    /// same parent, where [`fold_leaves`](Self::fold_leaves) yielded range `[at.1, at.2]` with
    /// word `at.3`, as [`Iterator::next`] would have left it.
    #[inline]
    fn settle(
        &mut self,
        depth: usize,
        leaf: Frame<'g>,
        moved: usize,
        (i, first, last, word): (usize, u64, u64, NonZeroUsize),
    ) {
        if moved > 0 {
            self.front.path[depth - 1].offset += moved;
        }
        self.front.path[depth] = Frame { offset: i, ..leaf };
        self.front.index = first;
        self.front.last = last;
        self.front.word = word.get();
        match last.checked_add(1) {
            Some(next) if next <= self.high => self.low = next,
            _ => self.done = true,
        }
    }
}

impl<'g, T: 'static> Iterator for Iter<'g, T> {
    type Item = Found<'g, T>;

    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            acc = self.fold_leaves(acc, &mut f);
            match self.next() {
                Some(item) => acc = f(acc, item),
                None => return acc,
            }
        }
    }

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // The common step: the next value in the front cursor's leaf. It starts after the
        // range returned last, so there is nothing to clip while the back end has not moved.
        if self.front_started
            && !self.back_started
            && let Some((range, value)) = self.front.step_in_leaf(self.high, true)
        {
            match range.last().checked_add(1) {
                Some(next) if next <= self.high => self.low = next,
                _ => self.done = true,
            }
            return Some((range, value));
        }
        let found = self.front.find(self.high);
        match found {
            Some((range, value)) => {
                let range = self.clip(range);
                self.front_started = true;
                match range.last().checked_add(1) {
                    Some(next) if next <= self.high => self.low = next,
                    _ => self.done = true,
                }
                Some((range, value))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

impl<T: 'static> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let found = self.back.find_rev(self.low);
        match found {
            Some((range, value)) => {
                let range = self.clip(range);
                self.back_started = true;
                match range.first().checked_sub(1) {
                    Some(next) if next >= self.low => self.high = next,
                    _ => self.done = true,
                }
                Some((range, value))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

impl<T: 'static> core::iter::FusedIterator for Iter<'_, T> {}
