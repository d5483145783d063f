//! The `maple-bench` suite: the maple tree against every peer, workload by workload, in one
//! process, with medians and same-run ratios.
//!
//! The binary (`src/main.rs`) runs the suite and prints the tables; the criterion benches
//! (`benches/bench.rs`) and the tests use the same workloads from here. The pieces:
//!
//! - [`input`]: seeded inputs (entry layouts, shuffles, queries, the fragmented space);
//! - [`peers`]: the structures under test behind one interface;
//! - [`measure`]: rounds, medians, ratios and the cross-checks between peers;
//! - [`point`], [`gap`], [`churn`], [`replay`], [`trace`], [`concurrent`], [`memory`]: the
//!   workloads;
//! - [`callgrind`]: instruction counts of single workloads under valgrind;
//! - [`report`] and [`plot`]: the Markdown tables, the targets, JSON and SVG.
//!
//! All heap allocations go through a counting allocator (`stats_alloc`), which [`memory`]
//! reads; it adds a few uncontended atomic additions to every allocation of every peer.

#![forbid(unsafe_code)]

use std::alloc::System;
use std::path::PathBuf;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

/// The system allocator with allocation statistics, for the memory figures.
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes currently allocated through the global allocator.
pub fn live_bytes() -> i64 {
    let stats = ALLOCATOR.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64 + stats.bytes_reallocated as i64
}

/// One [`measure::Contender`] for each range-map peer type: in `$body`, `$P` names the type.
macro_rules! typed_contenders {
    (|$P:ident| $body:expr) => {
        vec![
            {
                type $P = $crate::peers::Maple;
                $crate::measure::Contender::new(<$P as $crate::peers::Peer>::NAME, $body)
            },
            {
                type $P = $crate::peers::BTreeRanges;
                $crate::measure::Contender::new(<$P as $crate::peers::Peer>::NAME, $body)
            },
            {
                type $P = $crate::peers::RangeMapPeer;
                $crate::measure::Contender::new(<$P as $crate::peers::Peer>::NAME, $body)
            },
            {
                type $P = $crate::peers::Nodit;
                $crate::measure::Contender::new(<$P as $crate::peers::Peer>::NAME, $body)
            },
        ]
    };
}

/// A [`point::Quartet`] with one map of each range-map peer type: in `$body`, `$P` names it.
macro_rules! quartet {
    (|$P:ident| $body:expr) => {
        $crate::point::Quartet {
            maple: {
                type $P = $crate::peers::Maple;
                $body
            },
            btree: {
                type $P = $crate::peers::BTreeRanges;
                $body
            },
            rangemap: {
                type $P = $crate::peers::RangeMapPeer;
                $body
            },
            nodit: {
                type $P = $crate::peers::Nodit;
                $body
            },
        }
    };
}

/// One [`measure::Contender`] for each map of a [`point::Quartet`]: in `$body`, `$p` is a
/// `&mut` to the map.
macro_rules! contenders {
    ($quartet:expr, |$p:ident| $body:expr) => {{
        let q = &mut $quartet;
        vec![
            {
                let $p = &mut q.maple;
                $crate::measure::Contender::new(
                    <$crate::peers::Maple as $crate::peers::Peer>::NAME,
                    $body,
                )
            },
            {
                let $p = &mut q.btree;
                $crate::measure::Contender::new(
                    <$crate::peers::BTreeRanges as $crate::peers::Peer>::NAME,
                    $body,
                )
            },
            {
                let $p = &mut q.rangemap;
                $crate::measure::Contender::new(
                    <$crate::peers::RangeMapPeer as $crate::peers::Peer>::NAME,
                    $body,
                )
            },
            {
                let $p = &mut q.nodit;
                $crate::measure::Contender::new(
                    <$crate::peers::Nodit as $crate::peers::Peer>::NAME,
                    $body,
                )
            },
        ]
    }};
}

pub mod callgrind;
pub mod churn;
pub mod concurrent;
pub mod gap;
pub mod input;
pub mod measure;
pub mod memory;
pub mod peers;
pub mod plot;
pub mod point;
pub mod replay;
pub mod report;
pub mod trace;

/// How much work a run does.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--quick`: smaller sizes and fewer, shorter samples.
    pub quick: bool,
    /// Entry counts of the point and gap workloads.
    pub sizes: Vec<usize>,
    /// Rounds per cell below a million entries.
    pub rounds_small: usize,
    /// Rounds per cell at a million entries or more.
    pub rounds_large: usize,
    /// Rounds of the trace replays, whose samples are single replays.
    pub trace_rounds: usize,
    /// A read-only sample repeats its batch until this much time has passed.
    pub read_time: Duration,
    /// Insert and erase samples work on several maps at once until they hold about this many
    /// entries in total.
    pub write_entries: usize,
    /// Lookups per batch of the load workloads.
    pub lookup_batch: usize,
    /// Live entries of the churn workloads.
    pub churn_sizes: Vec<usize>,
    /// Timed operations per churn sample.
    pub churn_ops: usize,
    /// Time per concurrent sample.
    pub concurrent_time: Duration,
    /// Entry counts of the concurrent workloads.
    pub concurrent_sizes: Vec<usize>,
    /// Reader threads beside the writer.
    pub readers: usize,
    /// Folder of the kernel captures (`*.mt.xz`).
    pub traces: PathBuf,
    /// Folder of the shipped traces of real programs (`*.mtrace.zst`); may not exist.
    pub vma_traces: PathBuf,
    /// Entry counts of the instruction counts (`--callgrind`; the churn uses
    /// [`Settings::churn_sizes`]).
    pub callgrind_sizes: Vec<usize>,
}

impl Settings {
    /// The settings of a full run (`quick == false`) or of `--quick`.
    pub fn new(quick: bool) -> Self {
        let readers = std::thread::available_parallelism()
            .map_or(1, |p| p.get().saturating_sub(1))
            .max(1);
        let traces = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/kernel-ftrace"
        ));
        let vma_traces = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/traces"
        ));
        if quick {
            Self {
                quick,
                sizes: vec![1_000, 100_000],
                rounds_small: 3,
                rounds_large: 3,
                trace_rounds: 9,
                read_time: Duration::from_millis(3),
                write_entries: 100_000,
                lookup_batch: 10_000,
                churn_sizes: vec![60, 2_000],
                churn_ops: 20_000,
                concurrent_time: Duration::from_millis(200),
                concurrent_sizes: vec![100_000],
                readers,
                traces,
                vma_traces,
                callgrind_sizes: vec![1_000, 100_000],
            }
        } else {
            Self {
                quick,
                sizes: vec![1_000, 100_000, 1_000_000],
                rounds_small: 7,
                rounds_large: 5,
                trace_rounds: 31,
                read_time: Duration::from_millis(20),
                write_entries: 200_000,
                lookup_batch: 100_000,
                churn_sizes: vec![60, 500, 2_000],
                churn_ops: 100_000,
                concurrent_time: Duration::from_millis(500),
                concurrent_sizes: vec![1_000, 100_000, 1_000_000],
                readers,
                traces,
                vma_traces,
                callgrind_sizes: vec![1_000, 100_000],
            }
        }
    }

    /// Rounds per cell at `n` entries.
    pub fn rounds(&self, n: usize) -> usize {
        if n >= 1_000_000 {
            self.rounds_large
        } else {
            self.rounds_small
        }
    }
}
