//! Insert benches.
//!
//! Dimensions: operation insert_range (into an empty structure) × distribution seq
//! (ascending) and rand (a fixed shuffle) × pattern gapped `[16j, 16j + 9]` and adjacent
//! `[10j, 10j + 9]` × size 1k, 100k, 1M × 1 thread. One iteration inserts all `n` entries;
//! creating the empty structure and dropping the full one are outside the measurement.

use criterion::{BatchSize, BenchmarkGroup, Criterion, measurement::WallTime};

use crate::workload::{
    Maple, Pattern, RangeMap, SEED_ORDER, SIZES, Structure, ascending, insert_all, shuffled,
};

/// `insert_seq_{pattern}_{size}`.
pub(crate) fn seq(c: &mut Criterion) {
    run(c, "seq", ascending);
}

/// `insert_rand_{pattern}_{size}`.
pub(crate) fn rand(c: &mut Criterion) {
    run(c, "rand", |n| shuffled(n, SEED_ORDER));
}

fn run(c: &mut Criterion, dist: &str, order_of: impl Fn(usize) -> Vec<u64>) {
    for (n, size) in SIZES {
        let order = order_of(n);
        for pattern in Pattern::ALL {
            let name = format!("insert_{dist}_{}_{size}", pattern.name());
            let mut g = crate::group(c, &name, n);
            one::<Maple>(&mut g, pattern, &order);
            one::<RangeMap>(&mut g, pattern, &order);
            g.finish();
        }
    }
}

fn one<S: Structure>(g: &mut BenchmarkGroup<'_, WallTime>, pattern: Pattern, order: &[u64]) {
    g.bench_function(S::NAME, |b| {
        b.iter_batched(
            || S::empty(false),
            |mut s| {
                insert_all(&mut s.ops(), pattern, order);
                assert_eq!(s.len(), order.len(), "{}: wrong length", S::NAME);
                s
            },
            BatchSize::LargeInput,
        );
    });
}
