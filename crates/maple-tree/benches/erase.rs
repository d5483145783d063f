//! Erase benches.
//!
//! Dimensions: operation erase (the whole entry containing an index) × distribution rand
//! (every entry once, in a fixed shuffled order, by a random index inside it) × pattern gapped
//! and adjacent × size 1k, 100k, 1M × 1 thread. Each iteration starts from a full structure
//! built by ascending inserts outside the measurement and erases all `n` entries.

use criterion::{BatchSize, BenchmarkGroup, Criterion, measurement::WallTime};

use crate::workload::{
    Maple, Pattern, RangeMap, SIZES, Structure, ascending, build, erase_all, erase_queries,
};

/// `erase_rand_{pattern}_{size}`.
pub(crate) fn rand(c: &mut Criterion) {
    for (n, size) in SIZES {
        let order = ascending(n);
        for pattern in Pattern::ALL {
            let queries = erase_queries(pattern, n);
            let mut g = crate::group(c, &format!("erase_rand_{}_{size}", pattern.name()), n);
            one::<Maple>(&mut g, pattern, &order, &queries);
            one::<RangeMap>(&mut g, pattern, &order, &queries);
            g.finish();
        }
    }
}

fn one<S: Structure>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    pattern: Pattern,
    order: &[u64],
    queries: &[u64],
) {
    let n = order.len() as u64;
    let expected = (n, n * (n - 1) / 2);
    g.bench_function(S::NAME, |b| {
        b.iter_batched(
            || build::<S>(false, pattern, order),
            |mut s| {
                let erased = erase_all(&mut s.ops(), queries);
                assert_eq!(erased, expected, "{}: wrong erase results", S::NAME);
                assert_eq!(s.len(), 0, "{}: not empty after erasing", S::NAME);
                s
            },
            BatchSize::LargeInput,
        );
    });
}
