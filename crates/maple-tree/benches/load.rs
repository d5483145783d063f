//! Lookup benches.
//!
//! Dimensions: operation load (`get`) × distribution rand hit (a random index inside a random
//! entry; both patterns) and rand miss (a random index in the hole after a random entry;
//! gapped pattern only) × size 1k, 100k, 1M × 1 thread. The structure is built once, by
//! ascending inserts, outside the measurement; one iteration is a batch of
//! [`LOOKUP_BATCH`] lookups.

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

use crate::workload::{
    LOOKUP_BATCH, Maple, Pattern, RangeMap, SIZES, Structure, ascending, build, expected_lookups,
    hit_queries, lookup_all, miss_queries,
};

/// `load_rand_hit_{pattern}_{size}`.
pub(crate) fn hit(c: &mut Criterion) {
    for (n, size) in SIZES {
        for pattern in Pattern::ALL {
            let queries = hit_queries(pattern, n, LOOKUP_BATCH);
            run(
                c,
                &format!("load_rand_hit_{}_{size}", pattern.name()),
                pattern,
                n,
                &queries,
            );
        }
    }
}

/// `load_rand_miss_gapped_{size}`.
pub(crate) fn miss(c: &mut Criterion) {
    for (n, size) in SIZES {
        let queries = miss_queries(n, LOOKUP_BATCH);
        run(
            c,
            &format!("load_rand_miss_gapped_{size}"),
            Pattern::Gapped,
            n,
            &queries,
        );
    }
}

fn run(c: &mut Criterion, name: &str, pattern: Pattern, n: usize, queries: &[u64]) {
    let expected = expected_lookups(pattern, n, queries);
    let mut g = crate::group(c, name, queries.len());
    one::<Maple>(&mut g, pattern, n, queries, expected);
    one::<RangeMap>(&mut g, pattern, n, queries, expected);
    g.finish();
}

fn one<S: Structure>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    pattern: Pattern,
    n: usize,
    queries: &[u64],
    expected: (u64, u64),
) {
    let mut built: Option<S> = None;
    g.bench_function(S::NAME, |b| {
        let s = built.get_or_insert_with(|| {
            let mut s = build::<S>(false, pattern, &ascending(n));
            let found = lookup_all(&s.ops(), queries);
            assert_eq!(found, expected, "{}: wrong lookup results", S::NAME);
            s
        });
        let ops = s.ops();
        b.iter(|| lookup_all(&ops, queries));
    });
}
