//! Workloads shared by the criterion benches (`benches/bench.rs`) and the report generator
//! (`examples/report.rs`), so both time exactly the same inputs and the same code.
//!
//! Two structures implement [`Structure`]:
//! - [`Maple`]: a [`MapleTree<u32>`] written and read through [`MapleTree::exclusive`]
//!   (non-RCU mode: in-place writes, immediate frees, no epoch pinning);
//! - [`RangeMap`]: the baseline, a `BTreeMap<u64, (u64, u32)>` keyed by `first` whose value is
//!   `(last, value)`.
//!
//! Both get the same operations with the same semantics: `insert_range` fails if any index of
//! the range is taken, `get` finds the entry containing an index, `erase` removes the whole
//! entry containing an index, and `find_gap` returns the lowest start of a free run of `size`
//! indices in `[0, u64::MAX]`.

use std::collections::BTreeMap;
use std::hint::black_box;

use maple_tree::{GapRequest, MapleTree, WriteGuard};

/// Entry counts the workloads run at, with the suffix used in benchmark names.
pub(crate) const SIZES: [(usize, &str); 3] = [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1m")];

/// Number of random lookups in one batch of a load workload.
pub(crate) const LOOKUP_BATCH: usize = 100_000;

/// Seeds of the generators, one per use, so that every input is reproducible.
pub(crate) const SEED_ORDER: u64 = 0x2545_f491_4f6c_dd1d;
const SEED_HIT: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED_MISS: u64 = 0xd1b5_4a32_d192_ed03;
const SEED_ERASE: u64 = 0x8cb9_2ba7_2f3d_8dd7;

/// Entry `j` of a pattern covers `[stride * j, stride * j + 9]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// `[16j, 16j + 9]`: a 6-index hole after every entry.
    Gapped,
    /// `[10j, 10j + 9]`: entries touch.
    Adjacent,
}

impl Pattern {
    /// Both patterns, gapped first.
    pub(crate) const ALL: [Pattern; 2] = [Pattern::Gapped, Pattern::Adjacent];

    /// The name used in benchmark ids and report rows.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pattern::Gapped => "gapped",
            Pattern::Adjacent => "adjacent",
        }
    }

    fn stride(self) -> u64 {
        match self {
            Pattern::Gapped => 16,
            Pattern::Adjacent => 10,
        }
    }

    /// The range of entry `j`.
    pub(crate) fn range(self, j: u64) -> (u64, u64) {
        let first = self.stride() * j;
        (first, first + 9)
    }
}

/// The value stored for entry `j`.
fn value_of(j: u64) -> u32 {
    u32::try_from(j).expect("entry numbers fit in u32")
}

/// A small seeded generator (xorshift64*), so inputs need no `rand` dependency.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator; `seed` must be non-zero.
    pub(crate) fn new(seed: u64) -> Self {
        assert_ne!(seed, 0, "xorshift needs a non-zero seed");
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (with a negligible modulo bias).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Entry numbers `0..n` in ascending order.
pub(crate) fn ascending(n: usize) -> Vec<u64> {
    (0..n as u64).collect()
}

/// Entry numbers `0..n` in a fixed shuffled order (Fisher-Yates).
pub(crate) fn shuffled(n: usize, seed: u64) -> Vec<u64> {
    let mut order = ascending(n);
    let mut rng = Rng::new(seed);
    for i in (1..order.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).expect("an index below the length");
        order.swap(i, j);
    }
    order
}

/// `count` random indices, each inside a random entry of the first `n`.
pub(crate) fn hit_queries(pattern: Pattern, n: usize, count: usize) -> Vec<u64> {
    let mut rng = Rng::new(SEED_HIT);
    (0..count)
        .map(|_| pattern.range(rng.below(n as u64)).0 + rng.below(10))
        .collect()
}

/// `count` random indices, each in the hole after a random entry of the first `n` of the
/// gapped pattern (`16j + 10 ..= 16j + 15`).
pub(crate) fn miss_queries(n: usize, count: usize) -> Vec<u64> {
    let mut rng = Rng::new(SEED_MISS);
    (0..count)
        .map(|_| Pattern::Gapped.range(rng.below(n as u64)).1 + 1 + rng.below(6))
        .collect()
}

/// One index inside every entry of the first `n`, entries in a fixed shuffled order.
pub(crate) fn erase_queries(pattern: Pattern, n: usize) -> Vec<u64> {
    let mut rng = Rng::new(SEED_ERASE ^ 1);
    shuffled(n, SEED_ERASE)
        .into_iter()
        .map(|j| pattern.range(j).0 + rng.below(10))
        .collect()
}

/// The fragmented address space of the gap workloads: the gapped pattern without every 64th
/// entry (`j % 64 == 63`, leaving 22-index holes), and without four consecutive entries from
/// `3n / 4` on (leaving one hole of at least 70 indices, three quarters into the tree).
pub(crate) fn fragmented_entries(n: usize) -> Vec<u64> {
    let wide = (3 * n as u64) / 4;
    ascending(n)
        .into_iter()
        .filter(|&j| j % 64 != 63 && !(wide..wide + 4).contains(&j))
        .collect()
}

/// Gap sizes that fit only in the 22-index holes (and the wide one): the answer is the first
/// removed entry's hole, 63 entries into the tree.
pub(crate) fn near_gap_sizes() -> Vec<u64> {
    (7..=22).collect()
}

/// Gap sizes that fit only in the wide hole three quarters into the tree.
pub(crate) fn far_gap_sizes() -> Vec<u64> {
    (23..=70).collect()
}

/// The operations every workload uses, on a writer of the structure.
pub(crate) trait RangeOps {
    /// Stores `value` over `[first, last]` if all of it is free; returns whether it did.
    fn insert_range(&mut self, first: u64, last: u64, value: u32) -> bool;
    /// The value of the entry containing `index`.
    fn get(&self, index: u64) -> Option<u32>;
    /// Removes the entry containing `index` and returns its value.
    fn erase(&mut self, index: u64) -> Option<u32>;
    /// Number of entries and sum of values, by an in-order walk over every entry.
    fn count_and_sum(&self) -> (u64, u64);
    /// The lowest start of a free run of `size` indices.
    fn first_gap(&self, size: u64) -> Option<u64>;
}

/// A structure under test.
pub(crate) trait Structure: Sized {
    /// Its name in benchmark ids and report columns.
    const NAME: &'static str;
    /// The writer that [`RangeOps`] works on.
    type Ops<'a>: RangeOps
    where
        Self: 'a;
    /// An empty structure; `alloc` asks for gap tracking where the structure has it.
    fn empty(alloc: bool) -> Self;
    /// A writer, taken once per batch of operations.
    fn ops(&mut self) -> Self::Ops<'_>;
    /// Number of entries.
    fn len(&self) -> usize;
}

/// The maple tree in exclusive mode with `u32` values.
#[derive(Debug)]
pub(crate) struct Maple(pub(crate) MapleTree<u32>);

impl Structure for Maple {
    const NAME: &'static str = "maple";
    type Ops<'a> = WriteGuard<'a, u32>;

    fn empty(alloc: bool) -> Self {
        Self(if alloc {
            MapleTree::new_alloc()
        } else {
            MapleTree::new()
        })
    }

    fn ops(&mut self) -> WriteGuard<'_, u32> {
        self.0.exclusive()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl RangeOps for WriteGuard<'_, u32> {
    #[inline]
    fn insert_range(&mut self, first: u64, last: u64, value: u32) -> bool {
        WriteGuard::insert_range(self, first..=last, value).is_ok()
    }

    #[inline]
    fn get(&self, index: u64) -> Option<u32> {
        WriteGuard::get(self, index).map(|v| *v)
    }

    #[inline]
    fn erase(&mut self, index: u64) -> Option<u32> {
        WriteGuard::erase(self, index)
    }

    #[inline]
    fn count_and_sum(&self) -> (u64, u64) {
        self.iter()
            .fold((0, 0), |(n, s), (_, v)| (n + 1, s + u64::from(*v)))
    }

    #[inline]
    fn first_gap(&self, size: u64) -> Option<u64> {
        self.find_gap_for(GapRequest::new(0..=u64::MAX, size)).ok()
    }
}

/// The baseline: a `BTreeMap` from `first` to `(last, value)`.
#[derive(Debug, Default)]
pub(crate) struct RangeMap(BTreeMap<u64, (u64, u32)>);

impl Structure for RangeMap {
    const NAME: &'static str = "btreemap";
    type Ops<'a> = &'a mut RangeMap;

    fn empty(_alloc: bool) -> Self {
        Self::default()
    }

    fn ops(&mut self) -> &mut RangeMap {
        self
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

impl RangeMap {
    /// The entry containing `index`: `(first, last, value)`.
    #[inline]
    fn entry_at(&self, index: u64) -> Option<(u64, u64, u32)> {
        match self.0.range(..=index).next_back() {
            Some((&first, &(last, value))) if last >= index => Some((first, last, value)),
            _ => None,
        }
    }
}

impl RangeOps for &mut RangeMap {
    #[inline]
    fn insert_range(&mut self, first: u64, last: u64, value: u32) -> bool {
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
    fn get(&self, index: u64) -> Option<u32> {
        self.entry_at(index).map(|(_, _, v)| v)
    }

    #[inline]
    fn erase(&mut self, index: u64) -> Option<u32> {
        let (first, _, _) = self.entry_at(index)?;
        self.0.remove(&first).map(|(_, v)| v)
    }

    #[inline]
    fn count_and_sum(&self) -> (u64, u64) {
        self.0
            .values()
            .fold((0, 0), |(n, s), &(_, v)| (n + 1, s + u64::from(v)))
    }

    /// A linear scan: walk the entries in order and return the first hole that fits.
    #[inline]
    fn first_gap(&self, size: u64) -> Option<u64> {
        let mut free = 0u64; // first index not covered by the entries walked so far
        for (&first, &(last, _)) in &self.0 {
            if first - free >= size {
                return Some(free);
            }
            free = last.checked_add(1)?;
        }
        (u64::MAX - free >= size - 1).then_some(free)
    }
}

/// Inserts the entries of `pattern` numbered by `order`, in that order; panics if one fails.
#[inline]
pub(crate) fn insert_all(ops: &mut impl RangeOps, pattern: Pattern, order: &[u64]) {
    for &j in order {
        let (first, last) = pattern.range(j);
        let inserted = ops.insert_range(black_box(first), black_box(last), value_of(j));
        assert!(inserted, "insert_range({first}, {last}) failed");
    }
}

/// A structure holding the entries of `pattern` numbered by `order`, inserted in that order.
pub(crate) fn build<S: Structure>(alloc: bool, pattern: Pattern, order: &[u64]) -> S {
    let mut s = S::empty(alloc);
    insert_all(&mut s.ops(), pattern, order);
    s
}

/// Looks up every query; returns the number of hits and the sum of the values found.
#[inline]
pub(crate) fn lookup_all(ops: &impl RangeOps, queries: &[u64]) -> (u64, u64) {
    let mut hits = 0;
    let mut sum = 0;
    for &q in queries {
        if let Some(v) = black_box(ops.get(black_box(q))) {
            hits += 1;
            sum += u64::from(v);
        }
    }
    (hits, sum)
}

/// Erases the entry containing each query; returns the number erased and the sum of values.
#[inline]
pub(crate) fn erase_all(ops: &mut impl RangeOps, queries: &[u64]) -> (u64, u64) {
    let mut erased = 0;
    let mut sum = 0;
    for &q in queries {
        if let Some(v) = black_box(ops.erase(black_box(q))) {
            erased += 1;
            sum += u64::from(v);
        }
    }
    (erased, sum)
}

/// The value lookups of `queries` should find, computed from the pattern alone: the number of
/// queries that land inside an entry (all of the first `n` are present) and the sum of those
/// entries' values.
pub(crate) fn expected_lookups(pattern: Pattern, n: usize, queries: &[u64]) -> (u64, u64) {
    let mut hits = 0;
    let mut sum = 0;
    for &q in queries {
        let j = q / pattern.stride();
        if j < n as u64 && q <= pattern.range(j).1 {
            hits += 1;
            sum += j;
        }
    }
    (hits, sum)
}

/// The lowest start of a free run of `size` indices among the entries `present` (ascending
/// entry numbers of `pattern`), computed on a plain list, independently of both structures.
pub(crate) fn expected_gap(pattern: Pattern, present: &[u64], size: u64) -> Option<u64> {
    let mut free = 0u64;
    for &j in present {
        let (first, last) = pattern.range(j);
        if first - free >= size {
            return Some(free);
        }
        free = last + 1;
    }
    (u64::MAX - free >= size - 1).then_some(free)
}

/// Searches a gap of every size in `sizes`; returns the number found and the sum of starts.
#[inline]
pub(crate) fn find_gaps(ops: &impl RangeOps, sizes: &[u64]) -> (u64, u64) {
    let mut found = 0;
    let mut sum = 0u64;
    for &size in sizes {
        if let Some(start) = black_box(ops.first_gap(black_box(size))) {
            found += 1;
            sum = sum.wrapping_add(start);
        }
    }
    (found, sum)
}
