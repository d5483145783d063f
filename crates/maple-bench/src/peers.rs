//! The structures under test, behind one single-threaded interface ([`Peer`]), and the gap
//! allocators behind another ([`Allocator`]).
//!
//! Every peer maps non-overlapping inclusive ranges of `u64` to `u32` values (word-sized, so the
//! maple tree keeps them in its slots and no peer pays for a boxed value), and every operation
//! has the same meaning for all of them:
//!
//! - [`Peer::insert`] stores a range only if all of it is free;
//! - [`Peer::get`] finds the value of the entry containing an index;
//! - [`Peer::erase`] removes the whole entry containing an index;
//! - [`Peer::store`] overwrites a range, trimming or splitting the entries it overlaps, and
//!   [`Peer::clear`] empties one the same way (the kernel's `mas_store` of a value or of NULL);
//! - [`Peer::find_gap`] returns the lowest (or highest) start of a free run of indices.
//!
//! Each peer uses its own library's API the way a user would: the maple tree its gap tracking,
//! `rangemap` and `nodit` their gap iterators (lowest fit) or their double-ended overlap
//! iterators (highest fit), and the `BTreeMap` range map a walk over its entries.

use std::collections::BTreeMap;

use maple_tree::{GapRequest, MapleTree};
use nodit::{Interval, NoditMap, interval::ii};
use rangemap::RangeInclusiveMap;
use vm_allocator::{AddressAllocator, AllocPolicy};

/// A range map under test, used by one thread. `Clone` makes the fresh copies that the erase
/// samples destroy (the maple tree's clone copies node by node, keeping the shape).
pub trait Peer: Clone {
    /// Its name in tables, plots and JSON.
    const NAME: &'static str;

    /// An empty map. `alloc` asks for gap tracking where the structure has a choice (the maple
    /// tree's allocation tree, `MapleTree::new_alloc`); the point workloads pass `false`.
    fn empty(alloc: bool) -> Self;

    /// Stores `value` over `[first, last]` if none of it is taken; returns whether it did.
    fn insert(&mut self, first: u64, last: u64, value: u32) -> bool;

    /// The value of the entry containing `index`.
    fn get(&mut self, index: u64) -> Option<u32>;

    /// Removes the whole entry containing `index` and returns its value.
    fn erase(&mut self, index: u64) -> Option<u32>;

    /// The number of entries and the sum of their values, by an in-order walk.
    fn count_and_sum(&mut self) -> (u64, u64);

    /// Stores `value` over `[first, last]`, trimming or splitting what it overlaps.
    fn store(&mut self, first: u64, last: u64, value: u32);

    /// Empties `[first, last]`, trimming or splitting what it overlaps.
    fn clear(&mut self, first: u64, last: u64);

    /// The lowest (or, with `top_down`, the highest) start of a free run of `size` indices
    /// inside `[min, max]`.
    fn find_gap(&mut self, size: u64, min: u64, max: u64, top_down: bool) -> Option<u64>;

    /// Every entry `(first, last, value)`, ascending.
    fn entries(&mut self) -> Vec<(u64, u64, u32)>;
}

/// The maple tree, written and read through `MapleTree::exclusive` (non-RCU mode: in-place
/// writes, immediate frees, no epoch pinning), which is the mode for a single thread.
#[derive(Clone, Debug)]
pub struct Maple(pub MapleTree<u32>);

impl Peer for Maple {
    const NAME: &'static str = "maple";

    fn empty(alloc: bool) -> Self {
        Self(if alloc {
            MapleTree::new_alloc()
        } else {
            MapleTree::new()
        })
    }

    #[inline]
    fn insert(&mut self, first: u64, last: u64, value: u32) -> bool {
        self.0.exclusive().insert_range(first..=last, value).is_ok()
    }

    #[inline]
    fn get(&mut self, index: u64) -> Option<u32> {
        self.0.exclusive().get(index).map(|v| *v)
    }

    #[inline]
    fn erase(&mut self, index: u64) -> Option<u32> {
        self.0.exclusive().erase(index)
    }

    fn count_and_sum(&mut self) -> (u64, u64) {
        self.0
            .exclusive()
            .iter()
            .fold((0, 0), |(n, s), (_, v)| (n + 1, s + u64::from(*v)))
    }

    #[inline]
    fn store(&mut self, first: u64, last: u64, value: u32) {
        if self.0.exclusive().store_range(first..=last, value).is_err() {
            out_of_memory(Self::NAME);
        }
    }

    #[inline]
    fn clear(&mut self, first: u64, last: u64) {
        if self.0.exclusive().clear_range(first..=last).is_err() {
            out_of_memory(Self::NAME);
        }
    }

    #[inline]
    fn find_gap(&mut self, size: u64, min: u64, max: u64, top_down: bool) -> Option<u64> {
        self.0
            .exclusive()
            .find_gap_for(request(size, min, max, top_down))
            .ok()
    }

    fn entries(&mut self) -> Vec<(u64, u64, u32)> {
        self.0
            .exclusive()
            .iter()
            .map(|(r, v)| (r.first(), r.last(), *v))
            .collect()
    }
}

/// A gap request for `size` indices in `[min, max]`, lowest or highest fit.
fn request(size: u64, min: u64, max: u64, top_down: bool) -> GapRequest {
    let r = GapRequest::new(min..=max, size);
    if top_down { r.top_down() } else { r }
}

/// Ends the program when a store could not allocate: no workload here comes near that.
fn out_of_memory(peer: &str) -> ! {
    eprintln!("error: {peer}: out of memory during a store");
    std::process::exit(1)
}

/// The baseline: a `BTreeMap` from `first` to `(last, value)`.
#[derive(Clone, Debug, Default)]
pub struct BTreeRanges(pub BTreeMap<u64, (u64, u32)>);

impl BTreeRanges {
    /// The entry containing `index`: `(first, last, value)`.
    #[inline]
    pub fn entry_at(&self, index: u64) -> Option<(u64, u64, u32)> {
        match self.0.range(..=index).next_back() {
            Some((&first, &(last, value))) if last >= index => Some((first, last, value)),
            _ => None,
        }
    }
}

impl Peer for BTreeRanges {
    const NAME: &'static str = "btreemap";

    fn empty(_alloc: bool) -> Self {
        Self::default()
    }

    #[inline]
    fn insert(&mut self, first: u64, last: u64, value: u32) -> bool {
        // The only entry that can overlap is the last one starting at or before `last`.
        if let Some((_, &(prev_last, _))) = self.0.range(..=last).next_back()
            && prev_last >= first
        {
            return false;
        }
        self.0.insert(first, (last, value));
        true
    }

    #[inline]
    fn get(&mut self, index: u64) -> Option<u32> {
        self.entry_at(index).map(|(_, _, v)| v)
    }

    #[inline]
    fn erase(&mut self, index: u64) -> Option<u32> {
        let (first, _, _) = self.entry_at(index)?;
        self.0.remove(&first).map(|(_, v)| v)
    }

    fn count_and_sum(&mut self) -> (u64, u64) {
        self.0
            .values()
            .fold((0, 0), |(n, s), &(_, v)| (n + 1, s + u64::from(v)))
    }

    #[inline]
    fn store(&mut self, first: u64, last: u64, value: u32) {
        self.clear(first, last);
        self.0.insert(first, (last, value));
    }

    fn clear(&mut self, first: u64, last: u64) {
        // An entry starting before `first` that reaches into the range keeps its head, and its
        // tail too if it reaches past `last`.
        if let Some((&f, &(l, v))) = self.0.range(..first).next_back()
            && l >= first
        {
            self.0.insert(f, (first - 1, v));
            if l > last {
                self.0.insert(last + 1, (l, v));
                return;
            }
        }
        // Entries starting inside the range go; the last one may keep its tail.
        while let Some((&f, &(l, v))) = self.0.range(first..=last).next() {
            self.0.remove(&f);
            if l > last {
                self.0.insert(last + 1, (l, v));
                break;
            }
        }
    }

    fn find_gap(&mut self, size: u64, min: u64, max: u64, top_down: bool) -> Option<u64> {
        if size == 0 || min > max {
            return None;
        }
        if top_down {
            let entries = self.0.range(..=max).map(|(&f, &(l, _))| (f, l));
            scan_high(entries.rev(), size, min, max)
        } else {
            // Start at the entry containing `min`, if any.
            let from = self.entry_at(min).map_or(min, |(f, _, _)| f);
            scan_low(
                self.0.range(from..=max).map(|(&f, &(l, _))| (f, l)),
                size,
                min,
                max,
            )
        }
    }

    fn entries(&mut self) -> Vec<(u64, u64, u32)> {
        self.0.iter().map(|(&f, &(l, v))| (f, l, v)).collect()
    }
}

/// `rangemap::RangeInclusiveMap<u64, u32>`.
///
/// It merges touching ranges that hold equal values; every workload stores distinct values on
/// neighbours, except the kernel captures, whose comparison merges such neighbours first
/// ([`normalize`]).
#[derive(Clone, Debug, Default)]
pub struct RangeMapPeer(pub RangeInclusiveMap<u64, u32>);

impl Peer for RangeMapPeer {
    const NAME: &'static str = "rangemap";

    fn empty(_alloc: bool) -> Self {
        Self::default()
    }

    #[inline]
    fn insert(&mut self, first: u64, last: u64, value: u32) -> bool {
        if self.0.overlaps(&(first..=last)) {
            return false;
        }
        self.0.insert(first..=last, value);
        true
    }

    #[inline]
    fn get(&mut self, index: u64) -> Option<u32> {
        self.0.get(&index).copied()
    }

    #[inline]
    fn erase(&mut self, index: u64) -> Option<u32> {
        let (range, &value) = self.0.get_key_value(&index)?;
        self.0.remove(range.clone());
        Some(value)
    }

    fn count_and_sum(&mut self) -> (u64, u64) {
        self.0
            .iter()
            .fold((0, 0), |(n, s), (_, &v)| (n + 1, s + u64::from(v)))
    }

    #[inline]
    fn store(&mut self, first: u64, last: u64, value: u32) {
        self.0.insert(first..=last, value);
    }

    #[inline]
    fn clear(&mut self, first: u64, last: u64) {
        self.0.remove(first..=last);
    }

    fn find_gap(&mut self, size: u64, min: u64, max: u64, top_down: bool) -> Option<u64> {
        if size == 0 || min > max {
            return None;
        }
        let outer = min..=max;
        if top_down {
            let entries = self
                .0
                .overlapping(&outer)
                .map(|(r, _)| (*r.start(), *r.end()));
            scan_high(entries.rev(), size, min, max)
        } else {
            self.0
                .gaps(&outer)
                .find(|g| g.end() - g.start() >= size - 1)
                .map(|g| *g.start())
        }
    }

    fn entries(&mut self) -> Vec<(u64, u64, u32)> {
        self.0
            .iter()
            .map(|(r, &v)| (*r.start(), *r.end(), v))
            .collect()
    }
}

/// `nodit::NoditMap<u64, Interval<u64>, u32>` with inclusive intervals.
#[derive(Clone, Debug, Default)]
pub struct Nodit(pub NoditMap<u64, Interval<u64>, u32>);

impl Peer for Nodit {
    const NAME: &'static str = "nodit";

    fn empty(_alloc: bool) -> Self {
        Self::default()
    }

    #[inline]
    fn insert(&mut self, first: u64, last: u64, value: u32) -> bool {
        self.0.insert_strict(ii(first, last), value).is_ok()
    }

    #[inline]
    fn get(&mut self, index: u64) -> Option<u32> {
        self.0.get_at_point(index).copied()
    }

    #[inline]
    fn erase(&mut self, index: u64) -> Option<u32> {
        let (&key, _) = self.0.get_key_value_at_point(index).ok()?;
        self.0.remove_overlapping(key).next().map(|(_, v)| v)
    }

    fn count_and_sum(&mut self) -> (u64, u64) {
        self.0
            .iter()
            .fold((0, 0), |(n, s), (_, &v)| (n + 1, s + u64::from(v)))
    }

    #[inline]
    fn store(&mut self, first: u64, last: u64, value: u32) {
        // The cut is done eagerly; the iterator only hands back the removed pieces.
        drop(self.0.insert_overwrite(ii(first, last), value));
    }

    #[inline]
    fn clear(&mut self, first: u64, last: u64) {
        drop(self.0.cut(ii(first, last)));
    }

    fn find_gap(&mut self, size: u64, min: u64, max: u64, top_down: bool) -> Option<u64> {
        if size == 0 || min > max {
            return None;
        }
        let outer = ii(min, max);
        if top_down {
            let entries = self.0.overlapping(outer).map(|(k, _)| (k.start(), k.end()));
            scan_high(entries.rev(), size, min, max)
        } else {
            self.0
                .gaps_trimmed(outer)
                .find(|g| g.end() - g.start() >= size - 1)
                .map(|g| g.start())
        }
    }

    fn entries(&mut self) -> Vec<(u64, u64, u32)> {
        self.0
            .iter()
            .map(|(k, &v)| (k.start(), k.end(), v))
            .collect()
    }
}

/// The lowest start of a free run of `size` indices in `[min, max]`, from the entries
/// `(first, last)` in ascending order (entries wholly before `min` are skipped).
pub fn scan_low(
    entries: impl Iterator<Item = (u64, u64)>,
    size: u64,
    min: u64,
    max: u64,
) -> Option<u64> {
    if size == 0 || min > max {
        return None;
    }
    let mut free = min; // the lowest index not covered by the entries walked so far
    for (first, last) in entries {
        if last < free {
            continue;
        }
        if first > max {
            break;
        }
        if first > free && first - free >= size {
            return Some(free);
        }
        if last >= max {
            return None;
        }
        free = last + 1;
    }
    (max - free >= size - 1).then_some(free)
}

/// The highest start of a free run of `size` indices in `[min, max]`, from the entries
/// `(first, last)` in descending order (entries wholly after `max` are skipped).
pub fn scan_high(
    entries: impl Iterator<Item = (u64, u64)>,
    size: u64,
    min: u64,
    max: u64,
) -> Option<u64> {
    if size == 0 || min > max {
        return None;
    }
    let mut end = max; // the highest index not covered by the entries walked so far
    for (first, last) in entries {
        if first > end {
            continue;
        }
        if last < min {
            break;
        }
        if last < end && end - last >= size {
            return Some(end - (size - 1));
        }
        if first <= min {
            return None;
        }
        end = first - 1;
    }
    (end - min >= size - 1).then(|| end - (size - 1))
}

/// `entries` with touching neighbours of equal value merged, so that structures that merge
/// them (`rangemap`) and those that do not compare equal.
pub fn normalize(entries: Vec<(u64, u64, u32)>) -> Vec<(u64, u64, u32)> {
    let mut out: Vec<(u64, u64, u32)> = Vec::with_capacity(entries.len());
    for (first, last, value) in entries {
        match out.last_mut() {
            Some(prev) if prev.2 == value && prev.1.checked_add(1) == Some(first) => {
                prev.1 = last;
            }
            _ => out.push((first, last, value)),
        }
    }
    out
}

/// A gap allocator: finds a free run of `size` indices in its space and takes it.
pub trait Allocator {
    /// Its name in tables, plots and JSON.
    const NAME: &'static str;

    /// A space `[0, max]` with the ranges `(first, last, value)` taken.
    fn with_ranges(max: u64, ranges: impl Iterator<Item = (u64, u64, u32)>) -> Self;

    /// Takes the lowest (or, `top_down`, the highest) free run of `size` indices in the space
    /// and returns its start.
    fn alloc(&mut self, size: u64, top_down: bool, value: u32) -> Option<u64>;

    /// Gives back `[start, start + size - 1]`, taken by [`alloc`](Self::alloc).
    fn free(&mut self, start: u64, size: u64);
}

/// A range-map peer used as an allocator: its gap search, then an insert (the maple tree
/// overrides this with `alloc_range_for`, which searches and stores in one call).
#[derive(Debug)]
pub struct MapAllocator<P> {
    /// The map.
    pub map: P,
    /// The last index of the space.
    pub max: u64,
}

impl<P: Peer + AllocInto> Allocator for MapAllocator<P> {
    const NAME: &'static str = P::NAME;

    fn with_ranges(max: u64, ranges: impl Iterator<Item = (u64, u64, u32)>) -> Self {
        let mut map = P::empty(true);
        for (first, last, value) in ranges {
            assert!(
                map.insert(first, last, value),
                "{}: overlapping ranges",
                P::NAME
            );
        }
        Self { map, max }
    }

    #[inline]
    fn alloc(&mut self, size: u64, top_down: bool, value: u32) -> Option<u64> {
        self.map.alloc_into(size, self.max, top_down, value)
    }

    #[inline]
    fn free(&mut self, start: u64, _size: u64) {
        self.map.erase(start);
    }
}

/// How a range map allocates: by default its gap search followed by an insert.
pub trait AllocInto: Peer {
    /// Finds a gap of `size` in `[0, max]`, stores `value` there and returns the start.
    #[inline]
    fn alloc_into(&mut self, size: u64, max: u64, top_down: bool, value: u32) -> Option<u64> {
        let start = self.find_gap(size, 0, max, top_down)?;
        self.insert(start, start + size - 1, value).then_some(start)
    }
}

impl AllocInto for Maple {
    #[inline]
    fn alloc_into(&mut self, size: u64, max: u64, top_down: bool, value: u32) -> Option<u64> {
        self.0
            .exclusive()
            .alloc_range_for(request(size, 0, max, top_down), value)
            .ok()
    }
}

impl AllocInto for BTreeRanges {}
impl AllocInto for RangeMapPeer {}
impl AllocInto for Nodit {}

/// `vm_allocator::AddressAllocator`: the rust-vmm address allocator (an AVL tree of free and
/// taken ranges, searched in order for a fit).
#[derive(Debug)]
pub struct VmAlloc(pub AddressAllocator);

impl VmAlloc {
    /// Its name in tables, plots and JSON.
    pub const NAME: &'static str = "vm-allocator";
}

impl Allocator for VmAlloc {
    const NAME: &'static str = VmAlloc::NAME;

    fn with_ranges(max: u64, ranges: impl Iterator<Item = (u64, u64, u32)>) -> Self {
        let mut a = AddressAllocator::new(0, max + 1).expect("a valid address space");
        for (first, last, _) in ranges {
            a.allocate(last - first + 1, 1, AllocPolicy::ExactMatch(first))
                .expect("vm-allocator: the ranges are free");
        }
        Self(a)
    }

    #[inline]
    fn alloc(&mut self, size: u64, top_down: bool, _value: u32) -> Option<u64> {
        let policy = if top_down {
            AllocPolicy::LastMatch
        } else {
            AllocPolicy::FirstMatch
        };
        self.0.allocate(size, 1, policy).ok().map(|r| r.start())
    }

    #[inline]
    fn free(&mut self, start: u64, size: u64) {
        let range =
            vm_allocator::RangeInclusive::new(start, start + size - 1).expect("an allocated range");
        self.0
            .free(&range)
            .expect("vm-allocator: free of an allocated range");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_find_lowest_and_highest_fits() {
        let entries = [(10, 19), (25, 29), (40, 49)];
        let asc = || entries.iter().copied();
        let desc = || entries.iter().rev().copied();
        assert_eq!(scan_low(asc(), 5, 0, 100), Some(0));
        assert_eq!(scan_low(asc(), 5, 12, 100), Some(20));
        assert_eq!(scan_low(asc(), 10, 12, 100), Some(30));
        assert_eq!(scan_low(asc(), 60, 0, 100), None);
        assert_eq!(scan_low(asc(), 51, 0, 100), Some(50));
        assert_eq!(scan_high(desc(), 5, 0, 100), Some(96));
        assert_eq!(scan_high(desc(), 5, 0, 45), Some(35));
        assert_eq!(scan_high(desc(), 5, 0, 27), Some(20));
        assert_eq!(scan_high(desc(), 11, 0, 45), None);
        assert_eq!(scan_high(desc(), 10, 0, 45), Some(30));
        assert_eq!(scan_high(desc(), 1, 0, u64::MAX), Some(u64::MAX));
    }

    #[test]
    fn normalize_merges_equal_neighbours_only() {
        let merged = normalize(vec![(0, 9, 1), (10, 19, 1), (20, 29, 2), (31, 40, 2)]);
        assert_eq!(merged, vec![(0, 19, 1), (20, 29, 2), (31, 40, 2)]);
    }
}
