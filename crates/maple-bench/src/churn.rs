//! VMA-like churn: a process's address space under mmap, munmap and mprotect, with a steady
//! number of live entries (60 to 2,000 in the suite, the range of real processes).
//!
//! Addresses are in pages, in `[CHURN_MIN, CHURN_MAX]`. A seeded generator makes the sequence
//! once, on the `BTreeMap` range map, and records each operation with its answer:
//!
//! - mmap (top-down, as the kernel's default layout): the highest free run of the size (mostly
//!   1 to 16 pages, sometimes up to 1,024), then a store of a new value there;
//! - munmap: an existing entry whole, or its head, its tail, or a hole in its middle (a clear);
//! - mprotect: a store of a new value into the middle of an entry (a split into three), or
//!   across the boundary between two touching entries, or over a whole entry.
//!
//! While fewer than 90 % of the target are live, it maps; above 110 % it unmaps; in between
//! 30 % mmap, 30 % munmap, 40 % mprotect. Every peer replays the same sequence, and every mmap's
//! gap answer must equal the recorded one.

use std::hint::black_box;

use crate::Settings;
use crate::input::Rng;
use crate::measure::{Cell, Sample, compare, cpu_now, mismatch};
use crate::peers::{BTreeRanges, Peer, normalize};

/// The lowest page an mmap may use.
pub const CHURN_MIN: u64 = 0x10;
/// The highest page an mmap may use (a 47-bit address space of 4 KiB pages).
pub const CHURN_MAX: u64 = (1 << 35) - 1;

/// One operation of the churn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChurnOp {
    /// Find the highest free run of `size` pages, which must start at `expect`, and store
    /// `value` there.
    Mmap {
        /// Pages.
        size: u64,
        /// The value stored.
        value: u32,
        /// The start the generator found.
        expect: u64,
    },
    /// Clear `[first, last]`.
    Munmap {
        /// First page.
        first: u64,
        /// Last page.
        last: u64,
    },
    /// Store `value` over `[first, last]`.
    Mprotect {
        /// First page.
        first: u64,
        /// Last page.
        last: u64,
        /// The value stored.
        value: u32,
    },
}

/// A generated churn: the operations that fill the space, then the timed ones.
#[derive(Clone, Debug)]
pub struct Churn {
    /// The target number of live entries.
    pub target: usize,
    /// Mmaps that bring the space to the target (not timed).
    pub setup: Vec<ChurnOp>,
    /// The timed operations.
    pub ops: Vec<ChurnOp>,
    /// The contents after all operations, with touching equal values merged.
    pub end: Vec<(u64, u64, u32)>,
    /// The check [`apply`] returns for `ops` on the state after `setup`.
    pub check: (u64, u64),
}

/// Generates a churn around `target` live entries with `ops` timed operations.
pub fn generate(target: usize, ops: usize, seed: u64) -> Churn {
    let mut rng = Rng::new(seed);
    let mut map = BTreeRanges::default();
    let mut next_value = 1u32;
    let mut setup = Vec::with_capacity(target);
    while map.0.len() < target {
        setup.push(mmap(&mut map, &mut rng, &mut next_value));
    }
    let mut list = Vec::with_capacity(ops);
    for _ in 0..ops {
        let live = map.0.len();
        let kind = if live * 10 < target * 9 {
            0
        } else if live * 10 > target * 11 {
            1
        } else {
            match rng.below(100) {
                0..30 => 0,
                30..60 => 1,
                _ => 2,
            }
        };
        let op = match kind {
            0 => mmap(&mut map, &mut rng, &mut next_value),
            1 => munmap(&mut map, &mut rng),
            _ => mprotect(&mut map, &mut rng, &mut next_value),
        };
        list.push(op);
    }
    // The check of a replay from the state after the setup.
    let mut check_map = BTreeRanges::default();
    apply(&mut check_map, &setup);
    let check = apply(&mut check_map, &list);
    Churn {
        target,
        setup,
        ops: list,
        end: normalize(map.entries()),
        check,
    }
}

/// An mmap of a random size on the generator's map.
fn mmap(map: &mut BTreeRanges, rng: &mut Rng, next_value: &mut u32) -> ChurnOp {
    let size = if rng.chance(80) {
        1 + rng.below(16)
    } else {
        17 + rng.below(1_008)
    };
    let Some(expect) = map.find_gap(size, CHURN_MIN, CHURN_MAX, true) else {
        mismatch("churn generation", "the address space is full");
    };
    let value = take(next_value);
    map.store(expect, expect + size - 1, value);
    ChurnOp::Mmap {
        size,
        value,
        expect,
    }
}

/// A new value.
fn take(next_value: &mut u32) -> u32 {
    let v = *next_value;
    *next_value = next_value.wrapping_add(1).max(1);
    v
}

/// A random live entry: the one starting at or before a random page of the mapped span.
fn pick(map: &BTreeRanges, rng: &mut Rng) -> (u64, u64) {
    let (&low, _) = map.0.first_key_value().expect("a live entry");
    let (_, &(high, _)) = map.0.last_key_value().expect("a live entry");
    let at = low + rng.below(high - low + 1);
    let (&first, &(last, _)) = map.0.range(..=at).next_back().expect("low is a key");
    (first, last)
}

/// Two offsets `a <= b` inside `1..len - 1`, for a piece strictly inside an entry of `len`
/// pages (`len >= 3`).
fn middle(rng: &mut Rng, len: u64) -> (u64, u64) {
    let a = 1 + rng.below(len - 2);
    let b = a + rng.below(len - 1 - a);
    (a, b)
}

/// An munmap of a whole entry, its head, its tail or a hole in it.
fn munmap(map: &mut BTreeRanges, rng: &mut Rng) -> ChurnOp {
    let (f, l) = pick(map, rng);
    let len = l - f + 1;
    let (first, last) = match rng.below(4) {
        _ if len == 1 => (f, l),
        0 => (f, l),
        1 => (f, f + rng.below(len - 1)),
        2 => (l - rng.below(len - 1), l),
        _ if len < 3 => (f, l),
        _ => {
            let (a, b) = middle(rng, len);
            (f + a, f + b)
        }
    };
    map.clear(first, last);
    ChurnOp::Munmap { first, last }
}

/// An mprotect into the middle of an entry, across two touching entries, or over one entry.
fn mprotect(map: &mut BTreeRanges, rng: &mut Rng, next_value: &mut u32) -> ChurnOp {
    let (f, l) = pick(map, rng);
    let len = l - f + 1;
    let next = l
        .checked_add(1)
        .and_then(|after| map.0.get(&after).map(|&(nl, _)| (after, nl)));
    let (first, last) = match (rng.below(10), next) {
        (0..7, _) if len >= 3 => {
            let (a, b) = middle(rng, len);
            (f + a, f + b)
        }
        (0..9, Some((nf, nl))) => (f + rng.below(len), nf + rng.below(nl - nf + 1)),
        _ => (f, l),
    };
    let value = take(next_value);
    map.store(first, last, value);
    ChurnOp::Mprotect { first, last, value }
}

/// Applies `ops` to `p`; returns the number of mmaps and the sum of their starts, or ends
/// the program if an mmap's answer differs from the recorded one.
#[inline]
pub fn apply<P: Peer>(p: &mut P, ops: &[ChurnOp]) -> (u64, u64) {
    let mut maps = 0;
    let mut sum = 0u64;
    let mut wrong = None;
    for &op in ops {
        match op {
            ChurnOp::Mmap {
                size,
                value,
                expect,
            } => {
                let start = black_box(p.find_gap(size, CHURN_MIN, CHURN_MAX, true));
                let start = match start {
                    Some(s) if s == expect => s,
                    other => {
                        wrong.get_or_insert((expect, other));
                        expect
                    }
                };
                p.store(start, start + size - 1, value);
                maps += 1;
                sum = sum.wrapping_add(start);
            }
            ChurnOp::Munmap { first, last } => p.clear(first, last),
            ChurnOp::Mprotect { first, last, value } => p.store(first, last, value),
        }
    }
    if let Some((expect, got)) = wrong {
        mismatch(
            "churn",
            &format!(
                "{} found an mmap gap at {got:?}, expected {expect:#x}",
                P::NAME
            ),
        );
    }
    (maps, sum)
}

/// One sample: a fresh allocation map, the setup (not timed), then the timed operations.
fn sample<P: Peer>(churn: &Churn) -> Sample {
    let mut p = P::empty(true);
    apply(&mut p, &churn.setup);
    let start = cpu_now();
    let check = apply(&mut p, &churn.ops);
    let elapsed = cpu_now().saturating_sub(start);
    if normalize(p.entries()) != churn.end {
        mismatch(
            "churn",
            &format!("{}'s contents differ from the generator's", P::NAME),
        );
    }
    Sample {
        elapsed,
        ops: churn.ops.len() as u64,
        check,
    }
}

/// The seed of the churn around `target` live entries (the timings and the instruction counts
/// use the same).
pub fn seed(target: usize) -> u64 {
    0x5eed_0000 + target as u64
}

/// Times the churn at every size of the settings.
pub fn run(settings: &Settings, progress: &mut dyn FnMut(&str)) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &target in &settings.churn_sizes {
        progress(&format!("churn, {target} live entries"));
        let churn = generate(target, settings.churn_ops, seed(target));
        let mut c = typed_contenders!(|P| {
            let churn = &churn;
            move || sample::<P>(churn)
        });
        cells.push(compare(
            "churn",
            "vma_churn",
            target as u64,
            settings.rounds_small,
            Some(churn.check),
            &mut c,
        ));
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{Maple, Nodit, RangeMapPeer};

    #[test]
    fn every_peer_replays_the_churn_identically() {
        let churn = generate(200, 5_000, 7);
        let kinds = churn.ops.iter().fold([0; 3], |mut k, op| {
            k[match op {
                ChurnOp::Mmap { .. } => 0,
                ChurnOp::Munmap { .. } => 1,
                ChurnOp::Mprotect { .. } => 2,
            }] += 1;
            k
        });
        assert!(
            kinds.iter().all(|&k| k > 500),
            "a mix of operations: {kinds:?}"
        );
        assert_eq!(sample::<Maple>(&churn).check, churn.check);
        assert_eq!(sample::<BTreeRanges>(&churn).check, churn.check);
        assert_eq!(sample::<RangeMapPeer>(&churn).check, churn.check);
        assert_eq!(sample::<Nodit>(&churn).check, churn.check);
        let live = churn.end.len();
        assert!(
            (150..=260).contains(&live),
            "about 200 live entries: {live}"
        );
    }
}
