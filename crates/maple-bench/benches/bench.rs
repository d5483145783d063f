//! Criterion benches of the maple tree against every peer, with every peer in each group (the
//! `maple-bench` binary runs the same workloads as a fixed suite with a table of ratios).
//!
//! Group names encode the cell, BTreeMap style (`load_hit_1m`, `alloc_low_fragmented_100k`);
//! the functions in a group are the peers. Every group's throughput is the number of operations
//! in one iteration.
//!
//! ```text
//! cargo bench -p maple-bench --bench bench
//! cargo bench -p maple-bench --bench bench -- load_hit
//! ```

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

mod gap;
mod point;

/// Sizes of the benches, with the suffix of their group names.
const SIZES: [(usize, &str); 3] = [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1m")];

/// A group named `name` whose iterations each perform `ops` operations.
fn group<'a>(c: &'a mut Criterion, name: &str, ops: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(ops as u64));
    g.sampling_mode(SamplingMode::Flat);
    g
}

/// Few samples and short windows, so that the whole set stays within minutes on 2 cores.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = point::load_hit, point::insert_rand, gap::alloc
}
criterion_main!(benches);
