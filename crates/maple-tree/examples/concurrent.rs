//! Concurrent readers beside a writer: read throughput of the maple tree (RCU readers),
//! `RwLock<BTreeMap>` (readers stall behind the writer) and scc's `TreeIndex` (lock-free
//! point lookups), with and without a writer doing VMA-like churn on the same structure; and the
//! writer's cost in RCU mode against exclusive mode.
//!
//! ```text
//! cargo run --release -p maple-tree --example concurrent            # 1M entries, 2 s per cell
//! cargo run --release -p maple-tree --example concurrent -- --quick # 100k entries, 0.5 s
//! ```
//!
//! Entries are `[16j, 16j + 9]`. Readers look up random indices inside entries (the maple tree
//! and the BTreeMap find the entry containing the index; `TreeIndex` has no predecessor search,
//! so it looks up the entry's first index exactly). The writer's churn, like a process's
//! mmap/munmap/mprotect traffic: empty an entry and map it again, cut an entry with a different
//! value in its middle and restore it, grow an entry into the gap after it and shrink it back.
//! On a machine with more cores, more readers run (`--readers N`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use maple_tree::MapleTree;

/// A small seeded generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// The structures under test, behind one interface.
trait Shared: Send + Sync + 'static {
    const NAME: &'static str;
    fn build(n: u64) -> Self;
    /// One reader lookup of `index`; true if it found an entry.
    fn read(&self, index: u64) -> bool;
    /// Stores `value` over `[first, last]`, trimming what it overlaps.
    fn store(&self, first: u64, last: u64, value: u32);
    /// Empties `[first, last]`.
    fn clear(&self, first: u64, last: u64);
}

struct Maple(MapleTree<u32>);

impl Shared for Maple {
    const NAME: &'static str = "maple (RCU readers)";

    fn build(n: u64) -> Self {
        let mut tree = MapleTree::new();
        let mut w = tree.exclusive();
        for j in 0..n {
            w.insert_range(16 * j..=16 * j + 9, 1)
                .expect("fresh ranges");
        }
        drop(w);
        Self(tree)
    }

    fn read(&self, index: u64) -> bool {
        self.0.read().get(index).is_some()
    }

    fn store(&self, first: u64, last: u64, value: u32) {
        self.0.store_range(first..=last, value).expect("store");
    }

    fn clear(&self, first: u64, last: u64) {
        self.0.clear_range(first..=last).expect("clear");
    }
}

/// A range map: first -> (last, value).
type RangeMap = BTreeMap<u64, (u64, u32)>;

fn range_map_store(map: &mut RangeMap, first: u64, last: u64, value: Option<u32>) {
    let mut cut = Vec::new();
    if let Some((&f, &(l, v))) = map.range(..first).next_back()
        && l >= first
    {
        cut.push((f, l, v));
    }
    cut.extend(map.range(first..=last).map(|(&f, &(l, v))| (f, l, v)));
    for (f, l, v) in cut {
        map.remove(&f);
        if f < first {
            map.insert(f, (first - 1, v));
        }
        if l > last {
            map.insert(last + 1, (l, v));
        }
    }
    if let Some(v) = value {
        map.insert(first, (last, v));
    }
}

struct Locked(RwLock<RangeMap>);

impl Shared for Locked {
    const NAME: &'static str = "RwLock<BTreeMap>";

    fn build(n: u64) -> Self {
        Self(RwLock::new(
            (0..n).map(|j| (16 * j, (16 * j + 9, 1))).collect(),
        ))
    }

    fn read(&self, index: u64) -> bool {
        let map = self.0.read().expect("not poisoned");
        map.range(..=index)
            .next_back()
            .is_some_and(|(_, &(last, _))| last >= index)
    }

    fn store(&self, first: u64, last: u64, value: u32) {
        range_map_store(
            &mut self.0.write().expect("not poisoned"),
            first,
            last,
            Some(value),
        );
    }

    fn clear(&self, first: u64, last: u64) {
        range_map_store(
            &mut self.0.write().expect("not poisoned"),
            first,
            last,
            None,
        );
    }
}

struct Scc(scc::TreeIndex<u64, (u64, u32)>);

impl Shared for Scc {
    const NAME: &'static str = "scc TreeIndex (exact keys)";

    fn build(n: u64) -> Self {
        let index = scc::TreeIndex::new();
        for j in 0..n {
            index.insert(16 * j, (16 * j + 9, 1)).expect("fresh keys");
        }
        Self(index)
    }

    fn read(&self, index: u64) -> bool {
        // No predecessor search: look up the first index of the entry.
        let guard = scc::ebr::Guard::new();
        self.0.peek(&(index & !15), &guard).is_some()
    }

    fn store(&self, first: u64, last: u64, value: u32) {
        let _ = self.0.remove(&first);
        let _ = self.0.insert(first, (last, value));
    }

    fn clear(&self, first: u64, _last: u64) {
        let _ = self.0.remove(&first);
    }
}

/// One step of VMA-like churn on entry `j`.
fn churn<S: Shared>(s: &S, rng: &mut Rng, n: u64) {
    let j = rng.below(n);
    let (first, last) = (16 * j, 16 * j + 9);
    match rng.below(3) {
        0 => {
            // munmap and mmap again.
            s.clear(first, last);
            s.store(first, last, 1);
        }
        1 => {
            // mprotect the middle (a split into three), then back (a merge).
            s.store(first + 3, first + 5, 2);
            s.store(first, last, 1);
        }
        _ => {
            // Grow into the gap after the entry, then shrink back.
            s.store(first, last + 4, 1);
            s.clear(last + 1, last + 4);
        }
    }
}

/// Read throughput (lookups per second, all readers together) for `time`, with or without a
/// writer churning; also returns the writer's steps per second.
fn run<S: Shared>(s: &Arc<S>, n: u64, readers: usize, writer: bool, time: Duration) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = writer.then(|| {
        let (s, stop, writes) = (Arc::clone(s), Arc::clone(&stop), Arc::clone(&writes));
        thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            while !stop.load(Ordering::Relaxed) {
                churn(&*s, &mut rng, n);
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    let start = Instant::now();
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let (s, stop) = (Arc::clone(s), Arc::clone(&stop));
            thread::spawn(move || {
                let mut rng = Rng(0xd1b5_4a32_d192_ed03 + r as u64);
                let mut reads = 0u64;
                let mut hits = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let j = rng.below(n);
                        hits += u64::from(s.read(16 * j + rng.below(10)));
                    }
                    reads += 256;
                }
                black_box(hits);
                reads
            })
        })
        .collect();
    thread::sleep(time);
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = handles.into_iter().map(|h| h.join().expect("reader")).sum();
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(w) = writer {
        w.join().expect("writer");
    }
    (
        reads as f64 / elapsed,
        writes.load(Ordering::Relaxed) as f64 / elapsed,
    )
}

fn table_row<S: Shared>(n: u64, readers: usize, time: Duration) {
    let s = Arc::new(S::build(n));
    let (alone, _) = run(&s, n, readers, false, time);
    let (busy, writes) = run(&s, n, readers, true, time);
    println!(
        "| {} | {readers} | {:.2} | {:.2} | {:.0} % | {:.0} |",
        S::NAME,
        alone / 1e6,
        busy / 1e6,
        100.0 * busy / alone,
        writes / 1e3
    );
}

/// The writer's cost alone: the same churn through `exclusive()` and through the RCU-mode
/// convenience methods (lock, pin, copy on write, deferred frees), in steps per second.
fn writer_cost(n: u64, time: Duration) -> (f64, f64) {
    let mut tree = Maple::build(n);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let start = Instant::now();
    let mut steps = 0u64;
    {
        let mut w = tree.0.exclusive();
        while start.elapsed() < time {
            for _ in 0..256 {
                let j = rng.below(n);
                let (first, last) = (16 * j, 16 * j + 9);
                match rng.below(3) {
                    0 => {
                        w.clear_range(first..=last).expect("clear");
                        w.store_range(first..=last, 1).expect("store");
                    }
                    1 => {
                        w.store_range(first + 3..=first + 5, 2).expect("store");
                        w.store_range(first..=last, 1).expect("store");
                    }
                    _ => {
                        w.store_range(first..=last + 4, 1).expect("store");
                        w.clear_range(last + 1..=last + 4).expect("clear");
                    }
                }
            }
            steps += 256;
        }
    }
    let exclusive = steps as f64 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut steps = 0u64;
    while start.elapsed() < time {
        for _ in 0..256 {
            churn(&tree, &mut rng, n);
        }
        steps += 256;
    }
    let rcu = steps as f64 / start.elapsed().as_secs_f64();
    (exclusive, rcu)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let readers = args
        .iter()
        .position(|a| a == "--readers")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            thread::available_parallelism().map_or(1, |p| p.get().saturating_sub(1).max(1))
        });
    let (n, time) = if quick {
        (100_000, Duration::from_millis(500))
    } else {
        (1_000_000, Duration::from_secs(2))
    };
    println!("# Readers beside a writer\n");
    println!(
        "- {n} entries `[16j, 16j+9]`, {readers} reader thread(s) and 1 writer thread, {} ms per cell; machine: {} CPUs",
        time.as_millis(),
        thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!("- a reader lookup takes its guard or lock for one lookup\n");
    println!(
        "| structure | readers | M lookups/s alone | M lookups/s beside the writer | kept | writer k steps/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    table_row::<Maple>(n, readers, time);
    table_row::<Locked>(n, readers, time);
    table_row::<Scc>(n, readers, time);
    let (exclusive, rcu) = writer_cost(n, time);
    println!("\n# Writer cost, RCU mode against exclusive mode\n");
    println!("| mode | k churn steps/s | time per step, relative |");
    println!("|---|---:|---:|");
    println!(
        "| exclusive (`&mut`, in place) | {:.0} | 1.00 |",
        exclusive / 1e3
    );
    println!(
        "| RCU (`&self`: lock, pin, copy on write, deferred frees) | {:.0} | {:.2} |",
        rcu / 1e3,
        exclusive / rcu
    );
}
