//! Gap allocation benches.
//!
//! Dimensions: operation alloc (lowest fit of 70 indices, eight in a row, then given back
//! outside the measurement) × distribution fragmented (`maple_bench::input::Fragmented`: the
//! fits are half-way through) × size 1k, 100k, 1M × 1 thread; peers maple (`alloc_range_for`),
//! btreemap, rangemap and nodit (gap search then insert) and vm-allocator.

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use maple_bench::gap::{alloc_batch, free_batch};
use maple_bench::input::{Fragmented, WIDE_HOLES};
use maple_bench::peers::{
    Allocator, BTreeRanges, MapAllocator, Maple, Nodit, RangeMapPeer, VmAlloc,
};

use crate::SIZES;

/// `alloc_low_fragmented_{size}`.
pub(crate) fn alloc(c: &mut Criterion) {
    for (n, size) in SIZES {
        let space = Fragmented::new(n);
        let mut g = crate::group(c, &format!("alloc_low_fragmented_{size}"), WIDE_HOLES);
        one::<MapAllocator<Maple>>(&mut g, &space);
        one::<MapAllocator<BTreeRanges>>(&mut g, &space);
        one::<MapAllocator<RangeMapPeer>>(&mut g, &space);
        one::<MapAllocator<Nodit>>(&mut g, &space);
        one::<VmAlloc>(&mut g, &space);
        g.finish();
    }
}

fn one<A: Allocator>(g: &mut BenchmarkGroup<'_, WallTime>, space: &Fragmented) {
    let mut built: Option<A> = None;
    let mut starts = Vec::with_capacity(WIDE_HOLES);
    g.bench_function(A::NAME, |b| {
        let a = built.get_or_insert_with(|| A::with_ranges(space.max, space.ranges()));
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                let start = std::time::Instant::now();
                alloc_batch(a, false, &mut starts);
                total += start.elapsed();
                free_batch(a, &starts);
            }
            total
        });
    });
}
