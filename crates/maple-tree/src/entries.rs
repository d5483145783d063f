//! Iterators beyond the cursor's: free ranges ([`Gaps`]) under a guard, and iterators on the
//! tree itself ([`Entries`], [`TreeGaps`]) that need no guard from the caller.
//!
//! A tree-level iterator cannot lend references into the tree: a writer on another thread may
//! remove a value as soon as no guard protects it. So it pins only while it refills a small
//! buffer (up to [`BATCH`] items, cloned out under one pin, about one leaf's worth) and yields
//! owned items: clones of the values, and ranges. Between refills it holds no pin, and each
//! refill walks from the root to where the last one stopped, so iterating costs one extra walk
//! per [`BATCH`] items. Like [`Iter`], it returns ranges in strictly ascending order (or
//! descending from the back) that never overlap, each one current when it was read.

use alloc::collections::VecDeque;
use core::fmt;
use core::marker::PhantomData;
use core::ops::RangeBounds;

use crate::cursor::Iter;
use crate::range::Range;
use crate::rcu::{self, Guard};
use crate::root::Core;

/// Items a tree-level iterator takes out per pin.
pub(crate) const BATCH: usize = 16;

/// The free ranges (runs of indices that hold no value) inside a range, in ascending order, each
/// cut to the range; see [`ReadGuard::gaps`](crate::ReadGuard::gaps).
///
/// Linux: the empty slots `mas_next_range()` and `mas_prev_range()` stop on.
pub struct Gaps<'g, T: 'static> {
    entries: Iter<'g, T>,
    /// The lowest index not yet passed from the front; `None` when the front reached the end.
    front: Option<u64>,
    /// The highest index not yet passed from the back; `None` when the back reached the start.
    back: Option<u64>,
}

impl<T: 'static> fmt::Debug for Gaps<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gaps")
            .field("front", &self.front)
            .field("back", &self.back)
            .finish_non_exhaustive()
    }
}

impl<'g, T: 'static> Gaps<'g, T> {
    pub(crate) fn new(
        core: &'g Core,
        guard: &'g Guard,
        bounds: impl RangeBounds<u64>,
        validate: bool,
    ) -> Self {
        let range = Range::from_bounds(bounds);
        let entries = match range {
            Some(r) => Iter::new(core, guard, r, validate),
            None => Iter::new(core, guard, 1..1, validate),
        };
        Self {
            entries,
            front: range.map(|r| r.first()),
            back: range.map(|r| r.last()),
        }
    }

    /// The free range between the ends, once no entry is left between them; it ends both.
    fn last_gap(&mut self) -> Option<Range> {
        let gap = Range::new(self.front?, self.back?);
        self.front = None;
        self.back = None;
        gap
    }
}

impl<T: 'static> Iterator for Gaps<'_, T> {
    type Item = Range;

    fn next(&mut self) -> Option<Range> {
        loop {
            let start = self.front?;
            let Some((entry, _)) = self.entries.next() else {
                return self.last_gap();
            };
            self.front = entry.last().checked_add(1);
            if entry.first() > start {
                return Some(Range::new_unchecked(start, entry.first() - 1));
            }
        }
    }
}

impl<T: 'static> DoubleEndedIterator for Gaps<'_, T> {
    fn next_back(&mut self) -> Option<Range> {
        loop {
            let end = self.back?;
            let Some((entry, _)) = self.entries.next_back() else {
                return self.last_gap();
            };
            self.back = entry.first().checked_sub(1);
            if entry.last() < end {
                return Some(Range::new_unchecked(entry.last() + 1, end));
            }
        }
    }
}

impl<T: 'static> core::iter::FusedIterator for Gaps<'_, T> {}

/// What a tree-level iterator takes out of the tree under one pin.
trait Source<T: 'static> {
    type Item;

    /// The range of an item, which moves the iterator's bounds.
    fn range(item: &Self::Item) -> Range;

    /// Cuts an item's range to `[low, high]`.
    fn clip(item: &mut Self::Item, low: u64, high: u64);

    /// Takes up to [`BATCH`] items from inside `[low, high]`, from the front or (`back`) from
    /// the back, in the order they are met; `false` once the source has no more there.
    fn fill(
        core: &Core,
        guard: &Guard,
        low: u64,
        high: u64,
        back: bool,
        out: &mut VecDeque<Self::Item>,
    ) -> bool;
}

/// Entries with cloned values.
enum Cloned {}

impl<T: Clone + 'static> Source<T> for Cloned {
    type Item = (Range, T);

    fn range(item: &(Range, T)) -> Range {
        item.0
    }

    fn clip(item: &mut (Range, T), low: u64, high: u64) {
        item.0 = Range::new_unchecked(item.0.first().max(low), item.0.last().min(high));
    }

    fn fill(
        core: &Core,
        guard: &Guard,
        low: u64,
        high: u64,
        back: bool,
        out: &mut VecDeque<(Range, T)>,
    ) -> bool {
        let mut entries = Iter::<T>::new(core, guard, low..=high, true);
        take(
            |back| {
                let (range, value) = if back {
                    entries.next_back()?
                } else {
                    entries.next()?
                };
                Some((range, T::clone(&value)))
            },
            back,
            out,
        )
    }
}

/// Free ranges.
enum Free {}

impl<T: 'static> Source<T> for Free {
    type Item = Range;

    fn range(item: &Range) -> Range {
        *item
    }

    /// Gaps are cut to the bounds they are searched in already.
    fn clip(_item: &mut Range, _low: u64, _high: u64) {}

    fn fill(
        core: &Core,
        guard: &Guard,
        low: u64,
        high: u64,
        back: bool,
        out: &mut VecDeque<Range>,
    ) -> bool {
        let mut gaps = Gaps::<T>::new(core, guard, low..=high, true);
        take(
            |back| if back { gaps.next_back() } else { gaps.next() },
            back,
            out,
        )
    }
}

/// Moves up to [`BATCH`] items from `next` into `out`; `false` if `next` ran dry first.
fn take<I>(mut next: impl FnMut(bool) -> Option<I>, back: bool, out: &mut VecDeque<I>) -> bool {
    for _ in 0..BATCH {
        match next(back) {
            Some(item) => out.push_back(item),
            None => return false,
        }
    }
    true
}

/// The engine of the tree-level iterators: bounds not yet passed from either end, and the
/// items taken out but not yet returned (`front` ascending, `back` descending).
struct Batched<'t, T: 'static, S: Source<T>> {
    core: &'t Core,
    low: u64,
    high: u64,
    /// Nothing is left between `low` and `high`.
    drained: bool,
    /// Whether the front, or the back, has taken items out: later items are then cut to the
    /// bound it moved, in case a writer extended an entry back over what was passed (see
    /// [`Iter`]).
    front_started: bool,
    back_started: bool,
    front: VecDeque<S::Item>,
    back: VecDeque<S::Item>,
    values: PhantomData<fn() -> T>,
}

impl<'t, T: 'static, S: Source<T>> Batched<'t, T, S> {
    fn new(core: &'t Core, bounds: impl RangeBounds<u64>) -> Self {
        let range = Range::from_bounds(bounds);
        Self {
            core,
            low: range.map_or(1, |r| r.first()),
            high: range.map_or(0, |r| r.last()),
            drained: range.is_none(),
            front_started: false,
            back_started: false,
            front: VecDeque::new(),
            back: VecDeque::new(),
            values: PhantomData,
        }
    }

    /// Takes the next batch from one end, under one pin, and moves that end's bound past it.
    fn refill(&mut self, back: bool) {
        let pin = rcu::pin();
        let out = if back {
            &mut self.back
        } else {
            &mut self.front
        };
        let more = S::fill(
            self.core,
            rcu::guard_of(&pin),
            self.low,
            self.high,
            back,
            out,
        );
        let (low, high) = (self.low, self.high);
        let (low, high) = match (self.front_started, self.back_started) {
            (true, true) => (low, high),
            (true, false) => (low, u64::MAX),
            (false, true) => (0, high),
            (false, false) => (0, u64::MAX),
        };
        for item in out.iter_mut() {
            S::clip(item, low, high);
        }
        if back {
            self.back_started = true;
        } else {
            self.front_started = true;
        }
        let bound = if back {
            out.back()
                .and_then(|item| S::range(item).first().checked_sub(1))
        } else {
            out.back()
                .and_then(|item| S::range(item).last().checked_add(1))
        };
        match bound {
            Some(b) if more && back && b >= self.low => self.high = b,
            Some(b) if more && !back && b <= self.high => self.low = b,
            _ => self.drained = true,
        }
    }

    fn next(&mut self) -> Option<S::Item> {
        if self.front.is_empty() && !self.drained {
            self.refill(false);
        }
        self.front.pop_front().or_else(|| self.back.pop_back())
    }

    fn next_back(&mut self) -> Option<S::Item> {
        if self.back.is_empty() && !self.drained {
            self.refill(true);
        }
        self.back.pop_front().or_else(|| self.front.pop_back())
    }
}

/// Every entry of a tree (or of a range of it), with clones of the values, in ascending order;
/// see [`MapleTree::iter`](crate::MapleTree::iter). It needs no guard: it pins the tree only
/// while it takes out the next few entries.
pub struct Entries<'t, T: Clone + 'static> {
    inner: Batched<'t, T, Cloned>,
}

impl<'t, T: Clone + 'static> Entries<'t, T> {
    pub(crate) fn new(core: &'t Core, bounds: impl RangeBounds<u64>) -> Self {
        Self {
            inner: Batched::new(core, bounds),
        }
    }
}

impl<T: Clone + 'static> fmt::Debug for Entries<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entries")
            .field("low", &self.inner.low)
            .field("high", &self.inner.high)
            .finish_non_exhaustive()
    }
}

impl<T: Clone + 'static> Iterator for Entries<'_, T> {
    type Item = (Range, T);

    fn next(&mut self) -> Option<(Range, T)> {
        self.inner.next()
    }
}

impl<T: Clone + 'static> DoubleEndedIterator for Entries<'_, T> {
    fn next_back(&mut self) -> Option<(Range, T)> {
        self.inner.next_back()
    }
}

impl<T: Clone + 'static> core::iter::FusedIterator for Entries<'_, T> {}

/// The free ranges inside a range of a tree, in ascending order; see
/// [`MapleTree::gaps`](crate::MapleTree::gaps). It needs no guard: it pins the tree only while
/// it takes out the next few ranges.
pub struct TreeGaps<'t, T: 'static> {
    inner: Batched<'t, T, Free>,
}

impl<'t, T: 'static> TreeGaps<'t, T> {
    pub(crate) fn new(core: &'t Core, bounds: impl RangeBounds<u64>) -> Self {
        Self {
            inner: Batched::new(core, bounds),
        }
    }
}

impl<T: 'static> fmt::Debug for TreeGaps<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TreeGaps")
            .field("low", &self.inner.low)
            .field("high", &self.inner.high)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Iterator for TreeGaps<'_, T> {
    type Item = Range;

    fn next(&mut self) -> Option<Range> {
        self.inner.next()
    }
}

impl<T: 'static> DoubleEndedIterator for TreeGaps<'_, T> {
    fn next_back(&mut self) -> Option<Range> {
        self.inner.next_back()
    }
}

impl<T: 'static> core::iter::FusedIterator for TreeGaps<'_, T> {}
