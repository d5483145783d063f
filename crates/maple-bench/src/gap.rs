//! Gap workloads against the [`Fragmented`] space of N entry slots (see there: the fits of the
//! sizes used here are half-way through the entries):
//!
//! - `gap_low`, `gap_high`: find the lowest (highest) fit for every size from 23 to 70, without
//!   taking it. Peers: the maple tree (an allocation tree, which descends by its gap tracking),
//!   the `BTreeMap` range map (a walk over its entries), `rangemap` and `nodit` (their gap
//!   iterators for the lowest fit, their overlap iterators from the back for the highest).
//! - `alloc_low`, `alloc_high`: take the lowest (highest) fit of 70 indices
//!   [`WIDE_HOLES`] times in a row, each filling one wide hole, then
//!   give them back (not timed). Peers: the same, each searching then inserting (the maple tree
//!   with `alloc_range_for`), and `vm-allocator`'s `AddressAllocator` (`FirstMatch` and
//!   `LastMatch`).
//!
//! Every search and allocation answer is compared with the one computed from the plain list of
//! entries, and between peers.
//!
//! An allocation batch lasts a few microseconds, too short for the CPU clock's system call
//! ([`crate::measure::cpu_now`]): the batches are timed on the wall clock, the searches (whole
//! passes of milliseconds) on the CPU clock like every other workload.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::Settings;
use crate::input::{Fragmented, WIDE_HOLE, WIDE_HOLES, wide_gap_sizes};
use crate::measure::{Cell, Contender, Sample, compare, mismatch, repeat_for, repeat_timed_for};
use crate::peers::{
    Allocator, BTreeRanges, MapAllocator, Maple, Nodit, Peer, RangeMapPeer, VmAlloc,
};

/// The gap workloads, in table order.
pub const WORKLOADS: [&str; 4] = ["gap_low", "gap_high", "alloc_low", "alloc_high"];

/// Searches a fit for every size; returns the number found and the sum of their starts.
#[inline]
pub fn find_gaps<P: Peer>(p: &mut P, sizes: &[u64], max: u64, top_down: bool) -> (u64, u64) {
    let mut found = 0;
    let mut sum = 0u64;
    for &size in sizes {
        if let Some(start) = black_box(p.find_gap(black_box(size), 0, max, top_down)) {
            found += 1;
            sum = sum.wrapping_add(start);
        }
    }
    (found, sum)
}

/// Takes [`WIDE_HOLES`] fits of [`WIDE_HOLE`] indices into `starts`; returns the number
/// taken and the sum of their starts.
#[inline]
pub fn alloc_batch<A: Allocator>(a: &mut A, top_down: bool, starts: &mut Vec<u64>) -> (u64, u64) {
    starts.clear();
    for i in 0..WIDE_HOLES as u32 {
        if let Some(start) = black_box(a.alloc(black_box(WIDE_HOLE), top_down, i + 1)) {
            starts.push(start);
        }
    }
    let sum = starts.iter().fold(0u64, |s, &x| s.wrapping_add(x));
    (starts.len() as u64, sum)
}

/// Gives back what [`alloc_batch`] took.
pub fn free_batch<A: Allocator>(a: &mut A, starts: &[u64]) {
    for &start in starts {
        a.free(start, WIDE_HOLE);
    }
}

/// The answers of [`alloc_batch`] on a fresh space: the wide holes, lowest or highest first.
fn expected_batch(space: &Fragmented, top_down: bool) -> (u64, u64) {
    let first = space.expected_gap(WIDE_HOLE, top_down);
    let Some(first) = first else {
        mismatch("alloc", "the fragmented space has no wide hole");
    };
    // The wide holes are 8 entries (128 indices) apart.
    let step = 128u64;
    let sum = (0..WIDE_HOLES as u64).fold(0u64, |s, i| {
        s.wrapping_add(if top_down {
            first - i * step
        } else {
            first + i * step
        })
    });
    (WIDE_HOLES as u64, sum)
}

/// A sampler of `alloc_batch` on `a`: batches until `time` has passed, each given back.
fn alloc_sampler<A: Allocator>(
    a: &mut A,
    top_down: bool,
    time: Duration,
) -> impl FnMut() -> Sample + '_ {
    let mut starts = Vec::with_capacity(WIDE_HOLES);
    move || {
        repeat_timed_for(time, WIDE_HOLES as u64, || {
            let start = Instant::now();
            let check = alloc_batch(a, top_down, &mut starts);
            let elapsed = start.elapsed();
            free_batch(a, &starts);
            (elapsed, check)
        })
    }
}

/// Times the gap workloads at `n` entry slots.
pub fn run(settings: &Settings, n: usize, progress: &mut dyn FnMut(&str)) -> Vec<Cell> {
    let rounds = settings.rounds(n);
    let time = settings.read_time;
    let space = Fragmented::new(n);
    let max = space.max;
    let n64 = n as u64;
    let sizes = wide_gap_sizes();
    let mut cells = Vec::new();

    progress(&format!("building the fragmented spaces, n={n}"));
    let mut built = quartet!(|P| {
        let mut p = P::empty(true);
        for (first, last, value) in space.ranges() {
            if !p.insert(first, last, value) {
                mismatch("gap build", &format!("{} refused a fresh range", P::NAME));
            }
        }
        p
    });
    for (workload, top_down) in [("gap_low", false), ("gap_high", true)] {
        progress(&format!("{workload} n={n}"));
        let expected = sizes.iter().fold((0, 0u64), |(k, s), &size| {
            match space.expected_gap(size, top_down) {
                Some(start) => (k + 1, s.wrapping_add(start)),
                None => (k, s),
            }
        });
        let ops = sizes.len() as u64;
        let sizes = &sizes;
        let mut c = contenders!(built, |p| move || repeat_for(time, ops, || find_gaps(
            p, sizes, max, top_down
        )));
        cells.push(compare(
            "gap",
            workload,
            n64,
            rounds,
            Some(expected),
            &mut c,
        ));
    }
    drop(built);

    progress(&format!("building the allocators, n={n}"));
    let mut maple = MapAllocator::<Maple>::with_ranges(max, space.ranges());
    let mut btree = MapAllocator::<BTreeRanges>::with_ranges(max, space.ranges());
    let mut rangemap = MapAllocator::<RangeMapPeer>::with_ranges(max, space.ranges());
    let mut nodit = MapAllocator::<Nodit>::with_ranges(max, space.ranges());
    let mut vm = VmAlloc::with_ranges(max, space.ranges());
    for (workload, top_down) in [("alloc_low", false), ("alloc_high", true)] {
        progress(&format!("{workload} n={n}"));
        let expected = expected_batch(&space, top_down);
        let mut c = [
            Contender::new(Maple::NAME, alloc_sampler(&mut maple, top_down, time)),
            Contender::new(BTreeRanges::NAME, alloc_sampler(&mut btree, top_down, time)),
            Contender::new(
                RangeMapPeer::NAME,
                alloc_sampler(&mut rangemap, top_down, time),
            ),
            Contender::new(Nodit::NAME, alloc_sampler(&mut nodit, top_down, time)),
            Contender::new(VmAlloc::NAME, alloc_sampler(&mut vm, top_down, time)),
        ];
        cells.push(compare(
            "gap",
            workload,
            n64,
            rounds,
            Some(expected),
            &mut c,
        ));
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch<A: Allocator>(space: &Fragmented, top_down: bool) -> (u64, u64) {
        let mut a = A::with_ranges(space.max, space.ranges());
        let mut starts = Vec::new();
        let first = alloc_batch(&mut a, top_down, &mut starts);
        free_batch(&mut a, &starts);
        let second = alloc_batch(&mut a, top_down, &mut starts);
        assert_eq!(first, second, "{}: freeing restores the space", A::NAME);
        first
    }

    #[test]
    fn every_allocator_takes_the_wide_holes() {
        let space = Fragmented::new(2_000);
        for top_down in [false, true] {
            let want = expected_batch(&space, top_down);
            assert_eq!(batch::<MapAllocator<Maple>>(&space, top_down), want);
            assert_eq!(batch::<MapAllocator<BTreeRanges>>(&space, top_down), want);
            assert_eq!(batch::<MapAllocator<RangeMapPeer>>(&space, top_down), want);
            assert_eq!(batch::<MapAllocator<Nodit>>(&space, top_down), want);
            assert_eq!(batch::<VmAlloc>(&space, top_down), want);
        }
    }

    #[test]
    fn every_peer_finds_the_same_gaps() {
        let space = Fragmented::new(3_000);
        let mut q = quartet!(|P| {
            let mut p = P::empty(true);
            for (first, last, value) in space.ranges() {
                assert!(p.insert(first, last, value));
            }
            p
        });
        for size in 1..=80 {
            for top_down in [false, true] {
                let want = space.expected_gap(size, top_down);
                assert_eq!(q.maple.find_gap(size, 0, space.max, top_down), want);
                assert_eq!(q.btree.find_gap(size, 0, space.max, top_down), want);
                assert_eq!(q.rangemap.find_gap(size, 0, space.max, top_down), want);
                assert_eq!(q.nodit.find_gap(size, 0, space.max, top_down), want);
            }
        }
    }
}
