//! Seeded inputs shared by every workload, so that every peer gets exactly the same operations.
//!
//! Adapted from `crates/maple-tree/benches/workload.rs`: the same generator, the same entry
//! layout (entry `j` of the gapped pattern is `[16j, 16j + 9]`) and the same query shapes.

/// Seed of the shuffled insert order.
pub const SEED_ORDER: u64 = 0x2545_f491_4f6c_dd1d;
/// Seed of the hit queries.
const SEED_HIT: u64 = 0x9e37_79b9_7f4a_7c15;
/// Seed of the miss queries.
const SEED_MISS: u64 = 0xd1b5_4a32_d192_ed03;
/// Seed of the erase order.
const SEED_ERASE: u64 = 0x8cb9_2ba7_2f3d_8dd7;

/// Entry `j` of a pattern covers `[stride * j, stride * j + 9]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// `[16j, 16j + 9]`: a 6-index hole after every entry.
    Gapped,
    /// `[10j, 10j + 9]`: entries touch.
    Adjacent,
}

impl Pattern {
    /// Both patterns, adjacent first.
    pub const ALL: [Pattern; 2] = [Pattern::Adjacent, Pattern::Gapped];

    /// The name used in tables.
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Gapped => "gapped",
            Pattern::Adjacent => "adjacent",
        }
    }

    /// Distance between the starts of consecutive entries.
    pub fn stride(self) -> u64 {
        match self {
            Pattern::Gapped => 16,
            Pattern::Adjacent => 10,
        }
    }

    /// The range `(first, last)` of entry `j`.
    pub fn range(self, j: u64) -> (u64, u64) {
        let first = self.stride() * j;
        (first, first + 9)
    }
}

/// The value stored for entry `j` (distinct per entry, so no peer can merge neighbours).
pub fn value_of(j: u64) -> u32 {
    // Entry numbers stay below 2^32 in every workload; wrap rather than fail if one did not.
    (j & u64::from(u32::MAX)) as u32
}

/// A small seeded generator (xorshift64*), so inputs need no `rand` dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator; a zero seed is replaced by a fixed non-zero one.
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { SEED_ORDER } else { seed })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (with a negligible modulo bias); `n` must not be 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent / 100`.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Entry numbers `0..n` in ascending order.
pub fn ascending(n: usize) -> Vec<u64> {
    (0..n as u64).collect()
}

/// Entry numbers `0..n` in a fixed shuffled order (Fisher-Yates).
pub fn shuffled(n: usize, seed: u64) -> Vec<u64> {
    let mut order = ascending(n);
    let mut rng = Rng::new(seed);
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// `count` random indices, each inside a random entry of the first `n` of `pattern`.
pub fn hit_queries(pattern: Pattern, n: usize, count: usize) -> Vec<u64> {
    let mut rng = Rng::new(SEED_HIT);
    (0..count)
        .map(|_| pattern.range(rng.below(n as u64)).0 + rng.below(10))
        .collect()
}

/// `count` random indices, each in the hole after a random entry of the first `n` of the
/// gapped pattern (`16j + 10 ..= 16j + 15`).
pub fn miss_queries(n: usize, count: usize) -> Vec<u64> {
    let mut rng = Rng::new(SEED_MISS);
    (0..count)
        .map(|_| Pattern::Gapped.range(rng.below(n as u64)).1 + 1 + rng.below(6))
        .collect()
}

/// One index inside every entry of the first `n`, entries in a fixed shuffled order.
pub fn erase_queries(pattern: Pattern, n: usize) -> Vec<u64> {
    let mut rng = Rng::new(SEED_ERASE ^ 1);
    shuffled(n, SEED_ERASE)
        .into_iter()
        .map(|j| pattern.range(j).0 + rng.below(10))
        .collect()
}

/// The number of hits and the sum of the values that lookups of `queries` find when the first
/// `n` entries of `pattern` are present, computed from the pattern alone.
pub fn expected_lookups(pattern: Pattern, n: usize, queries: &[u64]) -> (u64, u64) {
    let mut hits = 0;
    let mut sum = 0;
    for &q in queries {
        let j = q / pattern.stride();
        if j < n as u64 && q <= pattern.range(j).1 {
            hits += 1;
            sum += u64::from(value_of(j));
        }
    }
    (hits, sum)
}

/// The fragmented address space of the gap workloads.
///
/// It holds the first `n` entries of the gapped pattern (`[16j, 16j + 9]`, 6-index holes)
/// except:
/// - every 64th entry (`j % 64 == 63`), which leaves 22-index holes all over the space;
/// - [`WIDE_HOLES`] runs of four consecutive entries in the middle, eight entries apart (from
///   entry `n / 2` on), which leave holes of exactly [`WIDE_HOLE`] indices.
///
/// A request for [`WIDE_HOLE`] indices fits only in the wide holes, so the lowest fit and the
/// highest fit are both half-way through the entries: a linear scan walks half of them, and an
/// allocation of that size fills one wide hole exactly, so a batch of [`WIDE_HOLES`]
/// allocations finds a new hole each time.
#[derive(Clone, Debug)]
pub struct Fragmented {
    /// Entry numbers present, ascending.
    pub present: Vec<u64>,
    /// The last index of the space (`16n - 1`): the gap searches look in `[0, max]`.
    pub max: u64,
}

/// Number of wide holes in the [`Fragmented`] space.
pub const WIDE_HOLES: usize = 8;
/// Size of a wide hole: four missing entries and the holes around them (`4 * 16 + 6`).
pub const WIDE_HOLE: u64 = 70;

impl Fragmented {
    /// The space for `n` entry slots; `n` must be at least 256.
    pub fn new(n: usize) -> Self {
        let mid = n as u64 / 2;
        let end = mid + 8 * WIDE_HOLES as u64;
        // Around the wide holes no 64th entry is left out, so that they stay exactly
        // WIDE_HOLE wide.
        let present = (0..n as u64)
            .filter(|&j| {
                if (mid.saturating_sub(1)..=end).contains(&j) {
                    j < mid || j >= end || (j - mid) % 8 >= 4
                } else {
                    j % 64 != 63
                }
            })
            .collect();
        Self {
            present,
            max: 16 * n as u64 - 1,
        }
    }

    /// The ranges present, ascending.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64, u32)> + '_ {
        self.present.iter().map(|&j| {
            let (first, last) = Pattern::Gapped.range(j);
            (first, last, value_of(j))
        })
    }

    /// The lowest (or, `top_down`, highest) start of a free run of `size` indices in
    /// `[0, max]`, computed on the plain list of entries, independently of every peer.
    pub fn expected_gap(&self, size: u64, top_down: bool) -> Option<u64> {
        let mut gaps = Vec::with_capacity(self.present.len() + 1);
        let mut free = 0u64;
        for (first, last, _) in self.ranges() {
            if first > free {
                gaps.push((free, first - 1));
            }
            free = last + 1;
        }
        if free <= self.max {
            gaps.push((free, self.max));
        }
        let fits = |&&(a, b): &&(u64, u64)| b - a + 1 >= size;
        if top_down {
            gaps.iter().rev().find(fits).map(|&(_, b)| b + 1 - size)
        } else {
            gaps.iter().find(fits).map(|&(a, _)| a)
        }
    }
}

/// Gap sizes of the search workloads: every size from 23 to [`WIDE_HOLE`] fits only in the
/// wide holes of the [`Fragmented`] space.
pub fn wide_gap_sizes() -> Vec<u64> {
    (23..=WIDE_HOLE).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragmented_space_answers_half_way_through() {
        let space = Fragmented::new(1000);
        let low = space.expected_gap(WIDE_HOLE, false).unwrap();
        let high = space.expected_gap(WIDE_HOLE, true).unwrap();
        // The first wide hole starts after entry 499: [16 * 499 + 10, 16 * 504 - 1].
        assert_eq!(low, 16 * 499 + 10);
        assert_eq!(high, 16 * (500 + 8 * 7) - 6);
        assert_eq!(space.expected_gap(22, false), Some(16 * 62 + 10));
        assert_eq!(space.expected_gap(71, false), None);
    }

    #[test]
    fn shuffled_is_a_permutation() {
        let mut order = shuffled(1000, SEED_ORDER);
        order.sort_unstable();
        assert_eq!(order, ascending(1000));
    }
}
