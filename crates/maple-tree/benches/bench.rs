//! Criterion benches: the maple tree in exclusive mode (`MapleTree::exclusive`, values `u32`)
//! against a `BTreeMap<u64, (u64, u32)>` range map, with both in every group.
//!
//! Group names encode the cell, BTreeMap style (`insert_rand_gapped_1m`,
//! `load_rand_miss_gapped_100k`, `find_gap_far_fragmented_1m`); the functions in a group are
//! `maple` and `btreemap`. Every group sets its throughput to the number of operations in one
//! iteration, so the time per operation is the reported time divided by that number.
//!
//! Run everything (a few minutes on 2 cores) or pass a criterion filter:
//!
//! ```text
//! cargo bench -p maple-tree --bench bench
//! cargo bench -p maple-tree --bench bench -- load_rand_hit
//! cargo bench -p maple-tree --bench bench -- '_1k/'
//! ```
//!
//! Structures are built only when a benchmark that needs them runs, so a filter also skips the
//! setup of the benchmarks it excludes. `examples/report.rs` runs the same workloads without
//! criterion and prints a Markdown table of medians and ratios.

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};

mod erase;
mod gap;
mod insert;
mod iterate;
mod load;
mod workload;

/// A group named `name` whose iterations each perform `ops` operations.
fn group<'a>(c: &'a mut Criterion, name: &str, ops: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(ops as u64));
    // Iterations take from microseconds to a few hundred milliseconds; flat sampling keeps the
    // slow ones at ten iterations instead of criterion's 55-iteration linear ramp.
    g.sampling_mode(SamplingMode::Flat);
    g
}

/// Few samples and short windows, so the whole suite stays within minutes on 2 cores. Flags
/// such as `--measurement-time` or `--sample-size` on the command line override these.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = insert::seq, insert::rand, load::hit, load::miss, iterate::all, erase::rand,
        gap::near, gap::far
}
criterion_main!(benches);
