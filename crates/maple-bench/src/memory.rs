//! Memory per entry of every structure, on adjacent (`[10j, 10j + 9]`) and gapped
//! (`[16j, 16j + 9]`) entries, inserted in ascending and in shuffled order.
//!
//! For the maple tree: its node count times 256 (every node is 256 bytes), and the heap bytes
//! its node pool took from the allocator (chunks of up to 2 MiB, so at small sizes most of a
//! chunk is unused). For every other structure: the heap bytes it keeps, counted by the
//! global allocator (`stats_alloc`) as the growth of live bytes while it is built. These are
//! requested sizes, without malloc's own headers and fragmentation, for every peer alike.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::Settings;
use crate::concurrent::{Scc, Shared};
use crate::input::{Pattern, SEED_ORDER, ascending, shuffled, value_of};
use crate::live_bytes;
use crate::measure::mismatch;
use crate::peers::{Allocator, BTreeRanges, Maple, Nodit, Peer, RangeMapPeer, VmAlloc};
use crate::point::build;

/// Bytes per entry of one structure in one layout.
#[derive(Clone, Debug, Serialize)]
pub struct MemRow {
    /// Entries.
    pub n: u64,
    /// Entry layout.
    pub pattern: Pattern,
    /// `seq` or `rand` insert order.
    pub order: &'static str,
    /// The structure, and for ours how it is counted.
    pub peer: &'static str,
    /// Bytes per entry.
    pub bytes_per_entry: f64,
    /// Ours counted as nodes × 256 over this structure's bytes per entry (below 1: ours is
    /// smaller).
    pub ratio: f64,
}

/// Name of our nodes × 256 figure.
pub const MAPLE_NODES: &str = "maple (nodes x 256)";
/// Name of our node-pool heap figure.
pub const MAPLE_HEAP: &str = "maple (heap)";

/// Heap bytes per entry kept by what `make` builds, and what it built.
fn heap_per_entry<T>(n: usize, make: impl FnOnce() -> T) -> (f64, T) {
    let before = live_bytes();
    let built = make();
    let after = live_bytes();
    ((after - before) as f64 / n as f64, built)
}

/// Measures every structure at every size of the settings, each layout in a fresh process
/// (this program, `exe`, with `--memory-row`), so that no structure's memory is skewed by
/// another's deferred frees (scc's `TreeIndex` frees through an epoch-based collector, at some
/// later allocation).
///
/// # Errors
///
/// A child process that fails or prints something unreadable.
pub fn run(
    settings: &Settings,
    exe: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<MemRow>, String> {
    let mut rows = Vec::new();
    for &n in &settings.sizes {
        for pattern in Pattern::ALL {
            for order in ORDERS {
                progress(&format!("memory n={n} {} {order}", pattern.name()));
                let out = Command::new(exe)
                    .args(["--memory-row", &n.to_string(), pattern.name(), order])
                    .output()
                    .map_err(|e| format!("memory: cannot run {}: {e}", exe.display()))?;
                let text = String::from_utf8_lossy(&out.stdout);
                if !out.status.success() {
                    return Err(format!(
                        "memory n={n} {} {order}: {}",
                        pattern.name(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                rows.extend(parse_child(&text, n, pattern, order)?);
            }
        }
    }
    Ok(rows)
}

/// The insert orders: ascending and shuffled.
pub const ORDERS: [&str; 2] = ["seq", "rand"];

/// The `--memory-row` mode: measures one layout and prints one `name<TAB>bytes` line per
/// structure.
///
/// # Errors
///
/// An unknown pattern or order.
pub fn child(n: usize, pattern: &str, order: &str) -> Result<String, String> {
    let pattern = Pattern::ALL
        .into_iter()
        .find(|p| p.name() == pattern)
        .ok_or_else(|| format!("unknown pattern {pattern:?} (adjacent or gapped)"))?;
    let order_name = ORDERS
        .into_iter()
        .find(|o| *o == order)
        .ok_or_else(|| format!("unknown order {order:?} (seq or rand)"))?;
    let entries = if order_name == "seq" {
        ascending(n)
    } else {
        shuffled(n, SEED_ORDER)
    };
    let mut out = String::new();
    for r in measure(n, pattern, order_name, &entries) {
        out.push_str(&format!("{}\t{}\n", r.peer, r.bytes_per_entry));
    }
    Ok(out)
}

/// The rows of a child's output.
fn parse_child(
    text: &str,
    n: usize,
    pattern: Pattern,
    order: &'static str,
) -> Result<Vec<MemRow>, String> {
    let mut figures = Vec::new();
    for line in text.lines() {
        let parsed = line.split_once('\t').and_then(|(name, bytes)| {
            let name = NAMES.into_iter().find(|k| *k == name)?;
            Some((name, bytes.trim().parse::<f64>().ok()?))
        });
        figures.push(parsed.ok_or_else(|| format!("memory: unreadable child line {line:?}"))?);
    }
    let nodes = figures
        .iter()
        .find(|(name, _)| *name == MAPLE_NODES)
        .map(|&(_, b)| b)
        .ok_or("memory: the child printed no maple figure")?;
    Ok(rows(n, pattern, order, figures, nodes))
}

/// The structures' names, in column order.
const NAMES: [&str; 7] = [
    MAPLE_NODES,
    MAPLE_HEAP,
    BTreeRanges::NAME,
    RangeMapPeer::NAME,
    Nodit::NAME,
    VmAlloc::NAME,
    Scc::NAME,
];

/// Rows from `(structure, bytes per entry)` figures.
fn rows(
    n: usize,
    pattern: Pattern,
    order: &'static str,
    figures: Vec<(&'static str, f64)>,
    nodes: f64,
) -> Vec<MemRow> {
    figures
        .into_iter()
        .map(|(peer, bytes)| MemRow {
            n: n as u64,
            pattern,
            order,
            peer,
            bytes_per_entry: bytes,
            ratio: nodes / bytes,
        })
        .collect()
}

/// The rows of one layout, measured in this process: ours first, scc's `TreeIndex` last,
/// because its deferred frees land at some later allocation.
pub fn measure(n: usize, pattern: Pattern, order_name: &'static str, order: &[u64]) -> Vec<MemRow> {
    let mut figures: Vec<(&'static str, f64)> = Vec::new();
    let (heap, mut maple) = heap_per_entry(n, || build::<Maple>(false, pattern, order));
    let nodes = maple.0.stats().bytes_per_entry();
    if maple.count_and_sum().0 != n as u64 {
        mismatch("memory", "the maple tree lost entries");
    }
    drop(maple);
    figures.push((MAPLE_NODES, nodes));
    figures.push((MAPLE_HEAP, heap));
    figures.push(peer_figure::<BTreeRanges>(n, pattern, order));
    figures.push(peer_figure::<RangeMapPeer>(n, pattern, order));
    figures.push(peer_figure::<Nodit>(n, pattern, order));
    let ranges = || {
        order.iter().map(move |&j| {
            let (first, last) = pattern.range(j);
            (first, last, value_of(j))
        })
    };
    let space_max = pattern.stride() * n as u64 + 16;
    // vm-allocator's nodes have one size and it keeps one per taken and per free range, so the
    // insert order does not change its figure; shuffled inserts into its AVL tree take half a
    // minute at a million entries, so only ascending ones are measured.
    if order_name == "seq" {
        let (vm, built) = heap_per_entry(n, || VmAlloc::with_ranges(space_max, ranges()));
        drop(built);
        figures.push((VmAlloc::NAME, vm));
    }
    let (scc, built) = heap_per_entry(n, || {
        let index = scc::TreeIndex::new();
        for (first, last, value) in ranges() {
            if index.insert(first, (last, value)).is_err() {
                mismatch("memory", "TreeIndex refused a fresh key");
            }
        }
        Scc(index)
    });
    drop(built);
    figures.push((Scc::NAME, scc));
    rows(n, pattern, order_name, figures, nodes)
}

/// Heap bytes per entry of peer `P` holding the entries of `pattern` inserted in `order`.
fn peer_figure<P: Peer>(n: usize, pattern: Pattern, order: &[u64]) -> (&'static str, f64) {
    let (bytes, mut p) = heap_per_entry(n, || build::<P>(false, pattern, order));
    if p.count_and_sum().0 != n as u64 {
        mismatch("memory", &format!("{} lost entries", P::NAME));
    }
    (P::NAME, bytes)
}
