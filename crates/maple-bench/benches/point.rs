//! Point benches.
//!
//! Dimensions: operation load (`get`, random hits) and insert (random order into an empty map)
//! × distribution rand × size 1k, 100k, 1M × 1 thread; peers maple, btreemap, rangemap, nodit.
//! Maps for lookups are built outside the measurement.

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use maple_bench::input::{Pattern, SEED_ORDER, ascending, hit_queries, shuffled};
use maple_bench::peers::{BTreeRanges, Maple, Nodit, Peer, RangeMapPeer};
use maple_bench::point::{build, insert_all, lookup_all};

use crate::SIZES;

/// Lookups per iteration.
const BATCH: usize = 10_000;

/// `load_hit_{size}`.
pub(crate) fn load_hit(c: &mut Criterion) {
    for (n, size) in SIZES {
        let queries = hit_queries(Pattern::Gapped, n, BATCH);
        let mut g = crate::group(c, &format!("load_hit_{size}"), BATCH);
        load::<Maple>(&mut g, n, &queries);
        load::<BTreeRanges>(&mut g, n, &queries);
        load::<RangeMapPeer>(&mut g, n, &queries);
        load::<Nodit>(&mut g, n, &queries);
        g.finish();
    }
}

fn load<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, n: usize, queries: &[u64]) {
    let mut built: Option<P> = None;
    g.bench_function(P::NAME, |b| {
        let p = built.get_or_insert_with(|| build::<P>(false, Pattern::Gapped, &ascending(n)));
        b.iter(|| lookup_all(p, queries));
    });
}

/// `insert_rand_{size}`.
pub(crate) fn insert_rand(c: &mut Criterion) {
    for (n, size) in SIZES {
        let order = shuffled(n, SEED_ORDER);
        let mut g = crate::group(c, &format!("insert_rand_{size}"), n);
        insert::<Maple>(&mut g, &order);
        insert::<BTreeRanges>(&mut g, &order);
        insert::<RangeMapPeer>(&mut g, &order);
        insert::<Nodit>(&mut g, &order);
        g.finish();
    }
}

fn insert<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, order: &[u64]) {
    g.bench_function(P::NAME, |b| {
        b.iter_batched(
            || P::empty(false),
            |mut p| {
                insert_all(&mut p, Pattern::Gapped, order);
                p
            },
            criterion::BatchSize::LargeInput,
        );
    });
}
