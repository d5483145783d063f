//! Gap search benches.
//!
//! Dimensions: operation find_gap (lowest fit in `[0, u64::MAX]`) × distribution fragmented
//! (the gapped pattern without every 64th entry, and without four consecutive entries three
//! quarters in; see [`fragmented_entries`]) × answer near (sizes 7..=22, first fit 63 entries
//! in) and far (sizes 23..=70, first fit three quarters in) × size 1k, 100k, 1M × 1 thread.
//!
//! The maple tree is an allocation tree (`MapleTree::new_alloc`) and descends by its gap
//! tracking; the BTreeMap walks its entries in order and returns the first hole that fits.
//! Both are built outside the measurement; one iteration searches every size once.

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};

use crate::workload::{
    Maple, Pattern, RangeMap, RangeOps, SIZES, Structure, build, expected_gap, far_gap_sizes,
    find_gaps, fragmented_entries, near_gap_sizes,
};

/// `find_gap_near_fragmented_{size}`.
pub(crate) fn near(c: &mut Criterion) {
    run(c, "near", &near_gap_sizes());
}

/// `find_gap_far_fragmented_{size}`.
pub(crate) fn far(c: &mut Criterion) {
    run(c, "far", &far_gap_sizes());
}

fn run(c: &mut Criterion, answer: &str, sizes: &[u64]) {
    for (n, size) in SIZES {
        let present = fragmented_entries(n);
        let mut g = crate::group(
            c,
            &format!("find_gap_{answer}_fragmented_{size}"),
            sizes.len(),
        );
        one::<Maple>(&mut g, &present, sizes);
        one::<RangeMap>(&mut g, &present, sizes);
        g.finish();
    }
}

fn one<S: Structure>(g: &mut BenchmarkGroup<'_, WallTime>, present: &[u64], sizes: &[u64]) {
    let mut built: Option<S> = None;
    g.bench_function(S::NAME, |b| {
        let s = built.get_or_insert_with(|| {
            let mut s = build::<S>(true, Pattern::Gapped, present);
            let ops = s.ops();
            for &size in sizes {
                let want = expected_gap(Pattern::Gapped, present, size);
                assert_eq!(
                    ops.first_gap(size),
                    want,
                    "{}: wrong gap of {size}",
                    S::NAME
                );
            }
            drop(ops);
            s
        });
        let ops = s.ops();
        b.iter(|| find_gaps(&ops, sizes));
    });
}
