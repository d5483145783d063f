//! Readers beside a writer: the read throughput of the maple tree (RCU readers through
//! `MapleTree::read`, the writer through the tree's lock), of `RwLock<BTreeMap>` (readers wait
//! while the writer holds the lock) and of scc's `TreeIndex` (lock-free lookups), alone and
//! with one writer churning the same structure flat out.
//!
//! Entries are `[16j, 16j + 9]`. A reader looks up random indices inside entries, taking its
//! guard or lock for one lookup; the maple tree and the `BTreeMap` find the entry containing
//! the index, while `TreeIndex` has no predecessor search, so its readers look up the entry's
//! first index exactly (an easier problem). The writer's churn, like mmap/munmap/mprotect: empty
//! an entry and map it again, store a different value into its middle and restore it, grow it
//! into the hole after it and shrink it back. On 2 cores that is 1 reader and 1 writer; with
//! more cores, more readers (all cores but one, or `--readers`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use maple_tree::MapleTree;
use serde::Serialize;

use crate::Settings;
use crate::input::Rng;
use crate::measure::{median, mismatch};
use crate::peers::{BTreeRanges, Peer};

/// A structure shared by reader threads and a writer thread.
pub trait Shared: Send + Sync + 'static {
    /// Its name in tables, plots and JSON.
    const NAME: &'static str;
    /// The entries `[16j, 16j + 9]` for `j < n`, all with value 1.
    fn build(n: u64) -> Self;
    /// One reader lookup of `index`.
    fn read(&self, index: u64) -> Option<u32>;
    /// Stores `value` over `[first, last]`, trimming what it overlaps.
    fn store(&self, first: u64, last: u64, value: u32);
    /// Empties `[first, last]`.
    fn clear(&self, first: u64, last: u64);
}

/// The maple tree: readers pin an epoch for each lookup; the writer takes the tree's lock for
/// each store (RCU mode: copy on write, deferred frees).
#[derive(Debug)]
pub struct SharedMaple(pub MapleTree<u32>);

impl Shared for SharedMaple {
    const NAME: &'static str = "maple";

    fn build(n: u64) -> Self {
        let mut tree = MapleTree::new();
        {
            let mut w = tree.exclusive();
            for j in 0..n {
                if w.insert_range(16 * j..=16 * j + 9, 1).is_err() {
                    mismatch("concurrent build", "maple refused a fresh range");
                }
            }
        }
        Self(tree)
    }

    #[inline]
    fn read(&self, index: u64) -> Option<u32> {
        self.0.read().get(index).map(|v| *v)
    }

    fn store(&self, first: u64, last: u64, value: u32) {
        if self.0.store_range(first..=last, value).is_err() {
            mismatch("concurrent", "maple: out of memory");
        }
    }

    fn clear(&self, first: u64, last: u64) {
        if self.0.clear_range(first..=last).is_err() {
            mismatch("concurrent", "maple: out of memory");
        }
    }
}

/// The `BTreeMap` range map behind a `std::sync::RwLock`.
#[derive(Debug)]
pub struct Locked(pub RwLock<BTreeRanges>);

impl Shared for Locked {
    const NAME: &'static str = "RwLock<BTreeMap>";

    fn build(n: u64) -> Self {
        let map: BTreeMap<u64, (u64, u32)> = (0..n).map(|j| (16 * j, (16 * j + 9, 1))).collect();
        Self(RwLock::new(BTreeRanges(map)))
    }

    #[inline]
    fn read(&self, index: u64) -> Option<u32> {
        let map = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry_at(index).map(|(_, _, v)| v)
    }

    fn store(&self, first: u64, last: u64, value: u32) {
        let mut map = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.store(first, last, value);
    }

    fn clear(&self, first: u64, last: u64) {
        let mut map = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.clear(first, last);
    }
}

/// scc's `TreeIndex` from `first` to `(last, value)`; readers look up entries' first indices.
#[derive(Debug)]
pub struct Scc(pub scc::TreeIndex<u64, (u64, u32)>);

impl Shared for Scc {
    const NAME: &'static str = "scc TreeIndex";

    fn build(n: u64) -> Self {
        let index = scc::TreeIndex::new();
        for j in 0..n {
            if index.insert(16 * j, (16 * j + 9, 1)).is_err() {
                mismatch("concurrent build", "TreeIndex refused a fresh key");
            }
        }
        Self(index)
    }

    #[inline]
    fn read(&self, index: u64) -> Option<u32> {
        // No predecessor search: look up the first index of the entry.
        self.0.peek_with(&(index & !15), |_, &(_, v)| v)
    }

    fn store(&self, first: u64, last: u64, value: u32) {
        // The churn's stores start at an entry's first index or inside it; a key-value index
        // keeps one key per entry start, so a store replaces the entry at `first & !15`.
        let key = first & !15;
        let _ = self.0.remove(&key);
        let _ = self.0.insert(key, (last.max(key + 9), value));
    }

    fn clear(&self, first: u64, _last: u64) {
        if first.is_multiple_of(16) {
            let _ = self.0.remove(&first);
        }
    }
}

/// One step of the writer's churn on a random entry of the `n`.
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
            // Grow into the hole after the entry, then shrink back.
            s.store(first, last + 4, 1);
            s.clear(last + 1, last + 4);
        }
    }
}

/// CPU time this thread has used, from `/proc/thread-self/stat` (in ticks of 10 ms, Linux's
/// fixed `USER_HZ` of 100); `None` where that file does not exist.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses: state is the first of them,
    // utime and stime the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// What one timed run measured.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    /// Reads per second, all readers together.
    reads: f64,
    /// Fraction of the reads that found a value.
    hit_rate: f64,
    /// Writer churn steps per second.
    writes: f64,
    /// CPU time of the readers over their wall time (1 per reader that never waited).
    reader_cpu: f64,
    /// The writer's CPU time over the wall time.
    writer_cpu: f64,
}

/// Runs `readers` reader threads, with or without a writer, for `time`, and past it until every
/// thread has finished one batch of work (on a loaded machine a thread may get no CPU at first).
fn run_once<S: Shared>(s: &Arc<S>, n: u64, readers: usize, writer: bool, time: Duration) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    // Readers that have finished a batch.
    let started = Arc::new(AtomicU64::new(0));
    let with_writer = writer;
    let writer = writer.then(|| {
        let (s, stop, writes) = (Arc::clone(s), Arc::clone(&stop), Arc::clone(&writes));
        thread::spawn(move || {
            let cpu = thread_cpu_seconds();
            let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
            while !stop.load(Ordering::Relaxed) {
                churn(&*s, &mut rng, n);
                writes.fetch_add(1, Ordering::Relaxed);
            }
            cpu.zip(thread_cpu_seconds()).map_or(0.0, |(a, b)| b - a)
        })
    });
    let start = Instant::now();
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let (s, stop, started) = (Arc::clone(s), Arc::clone(&stop), Arc::clone(&started));
            thread::spawn(move || {
                let cpu = thread_cpu_seconds();
                let mut rng = Rng::new(0xd1b5_4a32_d192_ed03 + r as u64);
                let mut reads = 0u64;
                let mut hits = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let j = rng.below(n);
                        hits += u64::from(black_box(s.read(16 * j + rng.below(10))).is_some());
                    }
                    if reads == 0 {
                        started.fetch_add(1, Ordering::Relaxed);
                    }
                    reads += 256;
                }
                let cpu = cpu.zip(thread_cpu_seconds()).map_or(0.0, |(a, b)| b - a);
                (reads, hits, cpu)
            })
        })
        .collect();
    thread::sleep(time);
    while started.load(Ordering::Relaxed) < readers as u64
        || (with_writer && writes.load(Ordering::Relaxed) == 0)
    {
        thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    let (reads, hits, reader_cpu) = handles
        .into_iter()
        .map(|h| {
            h.join()
                .unwrap_or_else(|_| mismatch("concurrent", "a reader panicked"))
        })
        .fold((0, 0, 0.0), |(r, h, c), (r2, h2, c2)| {
            (r + r2, h + h2, c + c2)
        });
    let elapsed = start.elapsed().as_secs_f64();
    let writer_cpu = writer.map_or(0.0, |w| {
        w.join()
            .unwrap_or_else(|_| mismatch("concurrent", "the writer panicked"))
    });
    Run {
        reads: reads as f64 / elapsed,
        hit_rate: hits as f64 / reads.max(1) as f64,
        writes: writes.load(Ordering::Relaxed) as f64 / elapsed,
        reader_cpu: reader_cpu / elapsed / readers as f64,
        writer_cpu: writer_cpu / elapsed,
    }
}

/// One structure's result at one size.
#[derive(Clone, Debug, Serialize)]
pub struct ConcurrentRow {
    /// Entries.
    pub n: u64,
    /// Reader threads.
    pub readers: usize,
    /// The structure.
    pub peer: &'static str,
    /// Median reads per second without a writer (all readers together).
    pub reads_alone: f64,
    /// Median reads per second beside the writer.
    pub reads_busy: f64,
    /// Median writer churn steps per second (two writes each).
    pub writes_busy: f64,
    /// The maple tree's time per read beside the writer over this structure's: this
    /// structure's median reads per second over ours (below 1: ours reads faster). 1 for ours.
    pub ratio_busy: f64,
    /// The same without a writer.
    pub ratio_alone: f64,
    /// Median CPU time of a reader beside the writer over the wall time: 1 when the reader
    /// had a core to itself and never waited; less when it waited for a lock or for a core.
    pub reader_cpu_busy: f64,
    /// Median CPU time of the writer over the wall time.
    pub writer_cpu_busy: f64,
    /// Reads per second beside the writer, every round.
    pub samples_busy: Vec<f64>,
}

/// The runs of one structure: alone and beside the writer, per round.
type Samples = (Vec<Run>, Vec<Run>);

/// Takes one round's samples of structure `S`, checking that every lookup without a writer
/// finds its entry.
fn round<S: Shared>(s: &Arc<S>, n: u64, readers: usize, time: Duration, out: &mut Samples) {
    let alone = run_once(s, n, readers, false, time);
    if alone.hit_rate != 1.0 {
        mismatch(
            &format!("concurrent reads n={n}"),
            &format!(
                "{} found {:.4} of the entries without a writer",
                S::NAME,
                alone.hit_rate
            ),
        );
    }
    out.0.push(alone);
    out.1.push(run_once(s, n, readers, true, time));
}

/// Measures every structure at every size of the settings.
pub fn run(settings: &Settings, progress: &mut dyn FnMut(&str)) -> Vec<ConcurrentRow> {
    let readers = settings.readers;
    let time = settings.concurrent_time;
    let rounds = if settings.quick { 3 } else { 5 };
    let mut rows = Vec::new();
    for &n in &settings.concurrent_sizes {
        progress(&format!(
            "concurrent reads, n={n}, {readers} reader(s) + 1 writer"
        ));
        let n = n as u64;
        let maple = Arc::new(SharedMaple::build(n));
        let locked = Arc::new(Locked::build(n));
        let scc = Arc::new(Scc::build(n));
        let mut samples: [Samples; 3] = Default::default();
        for r in 0..rounds {
            for step in 0..3 {
                match (r + step) % 3 {
                    0 => round(&maple, n, readers, time, &mut samples[0]),
                    1 => round(&locked, n, readers, time, &mut samples[1]),
                    _ => round(&scc, n, readers, time, &mut samples[2]),
                }
            }
        }
        let names = [SharedMaple::NAME, Locked::NAME, Scc::NAME];
        let field = |runs: &[Run], f: fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
        // Time per read, ours over theirs: their median reads per second over ours.
        let ratio = |ours: &[Run], theirs: &[Run], f: fn(&Run) -> f64| {
            median(&field(theirs, f)) / median(&field(ours, f))
        };
        for (peer, (alone, busy)) in names.into_iter().zip(&samples) {
            let (ours_alone, ours_busy) = &samples[0];
            rows.push(ConcurrentRow {
                n,
                readers,
                peer,
                reads_alone: median(&field(alone, |r| r.reads)),
                reads_busy: median(&field(busy, |r| r.reads)),
                writes_busy: median(&field(busy, |r| r.writes)),
                ratio_busy: ratio(ours_busy, busy, |r| r.reads),
                ratio_alone: ratio(ours_alone, alone, |r| r.reads),
                reader_cpu_busy: median(&field(busy, |r| r.reader_cpu)),
                writer_cpu_busy: median(&field(busy, |r| r.writer_cpu)),
                samples_busy: field(busy, |r| r.reads),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree<S: Shared>() {
        let s = Arc::new(S::build(1_000));
        let alone = run_once(&s, 1_000, 1, false, Duration::from_millis(20));
        assert_eq!(alone.hit_rate, 1.0, "{}", S::NAME);
        // A run lasts until the reader and the writer have both made progress.
        let busy = run_once(&s, 1_000, 1, true, Duration::from_millis(20));
        assert!(busy.reads > 0.0 && busy.writes > 0.0, "{}", S::NAME);
        // After the writer stops, every entry is back with value 1.
        for j in 0..1_000 {
            assert_eq!(s.read(16 * j + 4), Some(1), "{} entry {j}", S::NAME);
        }
    }

    #[test]
    fn every_structure_reads_beside_the_writer() {
        assert!(
            thread_cpu_seconds().is_some(),
            "/proc/thread-self/stat is readable"
        );
        agree::<SharedMaple>();
        agree::<Locked>();
        agree::<Scc>();
    }
}
