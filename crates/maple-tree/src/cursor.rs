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
        let mut i = leaf.offset;
        let word = loop {
            if forward {
                if i == end {
                    return None;
                }
                i += 1;
            } else {
                if i == 0 {
                    return None;
                }
                i -= 1;
            }
            if let Some(word) = NonZeroUsize::new(node.slot(i)) {
                break word;
            }
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

impl<'g, T: 'static> Iterator for Iter<'g, T> {
    type Item = Found<'g, T>;

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
