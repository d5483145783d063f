//! Iteration benches.
//!
//! Dimensions: operation iterate (every entry in order, summing the values) × distribution
//! seq (the structure is built by ascending inserts, outside the measurement) × pattern gapped
//! and adjacent × size 1k, 100k, 1M × 1 thread. One iteration visits all `n` entries.

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

use crate::workload::{Maple, Pattern, RangeMap, RangeOps, SIZES, Structure, ascending, build};

/// `iterate_{pattern}_{size}`.
pub(crate) fn all(c: &mut Criterion) {
    for (n, size) in SIZES {
        for pattern in Pattern::ALL {
            let mut g = crate::group(c, &format!("iterate_{}_{size}", pattern.name()), n);
            one::<Maple>(&mut g, pattern, n);
            one::<RangeMap>(&mut g, pattern, n);
            g.finish();
        }
    }
}

fn one<S: Structure>(g: &mut BenchmarkGroup<'_, WallTime>, pattern: Pattern, n: usize) {
    let expected = (n as u64, (n as u64) * (n as u64 - 1) / 2);
    let mut built: Option<S> = None;
    g.bench_function(S::NAME, |b| {
        let s = built.get_or_insert_with(|| {
            let mut s = build::<S>(false, pattern, &ascending(n));
            assert_eq!(
                s.ops().count_and_sum(),
                expected,
                "{}: wrong iteration",
                S::NAME
            );
            s
        });
        let ops = s.ops();
        b.iter(|| ops.count_and_sum());
    });
}
