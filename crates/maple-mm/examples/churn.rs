//! VMA churn: 10^6 operations of an allocator-like workload on an address space, run with the
//! same address-space logic on two VMA indexes: the maple tree and a `BTreeMap`.
//!
//! The workload maps anonymous memory top-down (1 to 64 pages, mixed protections so that
//! neighbours do not all merge), unmaps whole mappings or their heads, tails or holes, and
//! changes the protection of the middle of mappings, keeping between 60 and 2,000 VMAs.
//!
//! The index's share of the time is measured by recording every index call of the run (in
//! chunks, with a copy of the index taken before each chunk) and replaying the calls alone on
//! the copy: the replay time is the time the index took; the rest is the address-space logic.
//! The replay runs the index calls back to back, with warmer caches than they have between
//! the address-space code of a real run, so the share is a lower bound. Each measurement is
//! repeated three times and the fastest kept, as the machine may be shared.
//!
//! Run with `cargo run --release -p maple-mm --example churn [ops]`.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use maple_mm::{
    AddressSpace, AddressSpaceConfig, BTreeIndex, IndexEntry, IndexWrite, MapFlags, MapleIndex,
    Prot, VmaIndex, WritePlan,
};

const PAGE: u64 = 4096;
const MIN_VMAS: usize = 60;
const MAX_VMAS: usize = 2000;
const CHUNK: usize = 20_000;
/// Measurements per index; the fastest is reported.
const REPS: usize = 3;

/// xorshift64*: deterministic, so both indexes see the same operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }
}

/// The workload: the mappings it made (each fully mapped) and its random source.
struct Churn {
    rng: Rng,
    live: Vec<(u64, u64)>,
    counts: [u64; 6],
    errors: u64,
}

const ANON: MapFlags = MapFlags::from_bits(0x22);

impl Churn {
    fn new(seed: u64) -> Churn {
        Churn {
            rng: Rng(seed),
            live: Vec::new(),
            counts: [0; 6],
            errors: 0,
        }
    }

    /// One operation.
    fn step<I: VmaIndex>(&mut self, mm: &mut AddressSpace<I>) {
        let n = mm.map_count();
        let kind = if n < MIN_VMAS || self.live.is_empty() {
            0
        } else if n > MAX_VMAS {
            1
        } else {
            match self.rng.below(100) {
                0..=39 => 0,
                40..=57 => 1,
                58..=67 => 2,
                68..=77 => 3,
                78..=87 => 4,
                _ => 5,
            }
        };
        self.counts[kind] += 1;
        let ok = match kind {
            0 => {
                let len = PAGE * (1 + self.rng.below(64));
                let prot = [
                    Prot::READ | Prot::WRITE,
                    Prot::READ,
                    Prot::READ | Prot::EXEC,
                ][self.rng.index(3)];
                match mm.mmap(0, len, prot, ANON, None, 0) {
                    Ok(addr) => {
                        self.live.push((addr, len));
                        true
                    }
                    Err(_) => false,
                }
            }
            1 => {
                let (start, len) = self.live.swap_remove(self.rng.index(self.live.len()));
                mm.munmap(start, len).is_ok()
            }
            _ => {
                let i = self.rng.index(self.live.len());
                let (start, len) = self.live[i];
                let pages = len / PAGE;
                if pages < 3 {
                    self.live.swap_remove(i);
                    return mm
                        .munmap(start, len)
                        .map_or_else(|_| self.errors += 1, drop);
                }
                let cut = PAGE * (1 + self.rng.below(pages - 2));
                match kind {
                    2 => {
                        self.live[i] = (start + cut, len - cut);
                        mm.munmap(start, cut).is_ok()
                    }
                    3 => {
                        self.live[i] = (start, len - cut);
                        mm.munmap(start + len - cut, cut).is_ok()
                    }
                    4 => {
                        let hole = start + cut;
                        self.live[i] = (start, cut);
                        self.live.push((hole + PAGE, start + len - hole - PAGE));
                        mm.munmap(hole, PAGE).is_ok()
                    }
                    _ => {
                        let prot = [Prot::READ, Prot::READ | Prot::WRITE][self.rng.index(2)];
                        mm.mprotect(start + PAGE, len - 2 * PAGE, prot).is_ok()
                    }
                }
            }
        };
        if !ok {
            self.errors += 1;
        }
    }
}

/// One index call, as recorded.
#[derive(Debug)]
enum Call {
    Lookup(u64),
    Find(u64, u64),
    FindRev(u64, u64),
    Collect(u64, u64),
    Neighbourhood(u64, u64),
    Gap(u64, u64, u64, bool),
    Apply(usize, usize, WritePlan),
}

/// An index that records its calls (writes go to a side list).
#[derive(Debug)]
struct Recorder<I> {
    inner: I,
    calls: RefCell<Vec<Call>>,
    writes: RefCell<Vec<IndexWrite>>,
}

impl<I: VmaIndex> VmaIndex for Recorder<I> {
    fn new() -> Self {
        Recorder {
            inner: I::new(),
            calls: RefCell::new(Vec::new()),
            writes: RefCell::new(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn lookup(&self, addr: u64) -> Option<IndexEntry> {
        self.calls.borrow_mut().push(Call::Lookup(addr));
        self.inner.lookup(addr)
    }

    fn find(&self, addr: u64, limit: u64) -> Option<IndexEntry> {
        self.calls.borrow_mut().push(Call::Find(addr, limit));
        self.inner.find(addr, limit)
    }

    fn find_rev(&self, addr: u64, min: u64) -> Option<IndexEntry> {
        self.calls.borrow_mut().push(Call::FindRev(addr, min));
        self.inner.find_rev(addr, min)
    }

    fn collect(&self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        self.calls.borrow_mut().push(Call::Collect(start, end));
        self.inner.collect(start, end, out);
    }

    fn neighbourhood(&mut self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        self.calls
            .borrow_mut()
            .push(Call::Neighbourhood(start, end));
        self.inner.neighbourhood(start, end, out);
    }

    fn gap(&self, min: u64, max: u64, size: u64, top_down: bool) -> Option<u64> {
        self.calls
            .borrow_mut()
            .push(Call::Gap(min, max, size, top_down));
        self.inner.gap(min, max, size, top_down)
    }

    fn apply(
        &mut self,
        writes: &[IndexWrite],
        plan: WritePlan,
    ) -> Result<(), maple_tree::OutOfMemory> {
        let from = self.writes.borrow().len();
        self.writes.borrow_mut().extend_from_slice(writes);
        let to = self.writes.borrow().len();
        self.calls.borrow_mut().push(Call::Apply(from, to, plan));
        self.inner.apply(writes, plan)
    }

    fn try_clone(&self) -> Result<Self, maple_tree::OutOfMemory> {
        Ok(Recorder {
            inner: self.inner.try_clone()?,
            calls: RefCell::new(Vec::new()),
            writes: RefCell::new(Vec::new()),
        })
    }

    fn check(&self) -> Result<(), String> {
        self.inner.check()
    }
}

/// Replays recorded calls on `index` and returns the time they took.
fn replay<I: VmaIndex>(index: &mut I, calls: &[Call], writes: &[IndexWrite]) -> Duration {
    let mut scratch = Vec::new();
    let start = Instant::now();
    for call in calls {
        match *call {
            Call::Lookup(a) => {
                black_box(index.lookup(a));
            }
            Call::Find(a, l) => {
                black_box(index.find(a, l));
            }
            Call::FindRev(a, m) => {
                black_box(index.find_rev(a, m));
            }
            Call::Collect(s, e) => {
                scratch.clear();
                index.collect(s, e, &mut scratch);
                black_box(&scratch);
            }
            Call::Neighbourhood(s, e) => {
                scratch.clear();
                index.neighbourhood(s, e, &mut scratch);
                black_box(&scratch);
            }
            Call::Gap(min, max, size, td) => {
                black_box(index.gap(min, max, size, td));
            }
            Call::Apply(from, to, plan) => {
                let applied = index.apply(&writes[from..to], plan);
                assert!(applied.is_ok(), "replay ran out of memory");
            }
        }
    }
    start.elapsed()
}

/// Time of one run: all of it, and the part spent in the index.
#[derive(Clone, Copy, Debug)]
struct Times {
    total: Duration,
    index: Duration,
    calls: usize,
}

/// Runs `ops` operations on an address space over index `I` and measures them.
///
/// A second address space over a [`Recorder`] runs the same operations in lockstep, chunk by
/// chunk: after each chunk its recorded index calls are replayed on a copy of the index taken
/// before the chunk, and that replay time is the index's time for the chunk. Measuring the
/// two side by side, chunk after chunk, keeps both exposed to the same machine load.
fn measure<I: VmaIndex>(ops: usize, seed: u64) -> (Times, AddressSpace<I>, Churn) {
    let mut mm = AddressSpace::<I>::with_index(AddressSpaceConfig::default());
    let mut churn = Churn::new(seed);
    let mut recorded = AddressSpace::<Recorder<I>>::with_index(AddressSpaceConfig::default());
    let mut recorded_churn = Churn::new(seed);
    let mut times = Times {
        total: Duration::ZERO,
        index: Duration::ZERO,
        calls: 0,
    };
    let mut done = 0;
    while done < ops {
        let n = CHUNK.min(ops - done);
        let start = Instant::now();
        for _ in 0..n {
            churn.step(&mut mm);
        }
        times.total += start.elapsed();

        let copy = recorded.index().inner.try_clone();
        let mut copy = copy.unwrap_or_else(|_| panic!("out of memory copying the index"));
        for _ in 0..n {
            recorded_churn.step(&mut recorded);
        }
        let calls = recorded.index().calls.take();
        let writes = recorded.index().writes.take();
        times.calls += calls.len();
        times.index += replay(&mut copy, &calls, &writes);
        done += n;
    }
    (times, mm, churn)
}

fn per_op(d: Duration, ops: usize) -> f64 {
    d.as_secs_f64() * 1e9 / ops as f64
}

fn main() {
    let ops: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let seed = 0x5eed_cafe;

    // Warm up both, then measure each REPS times, alternating, and keep the fastest times.
    measure::<MapleIndex>(ops / 10, seed);
    measure::<BTreeIndex>(ops / 10, seed);
    let (mut tree_times, tree, churn) = measure::<MapleIndex>(ops, seed);
    let (mut btree_times, btree, _) = measure::<BTreeIndex>(ops, seed);
    assert_eq!(
        tree.maps().to_string(),
        btree.maps().to_string(),
        "both indexes must end in the same address space"
    );
    if let Err(e) = tree.check_invariants() {
        panic!("{e}");
    }
    for _ in 1..REPS {
        for (best, times) in [
            (&mut tree_times, measure::<MapleIndex>(ops, seed).0),
            (&mut btree_times, measure::<BTreeIndex>(ops, seed).0),
        ] {
            best.total = best.total.min(times.total);
            best.index = best.index.min(times.index);
        }
    }

    println!("# VMA churn: {ops} operations, {MIN_VMAS}..{MAX_VMAS} VMAs\n");
    println!(
        "operations: {} mmap, {} munmap whole, {} munmap head, {} munmap tail, {} munmap hole, {} mprotect middle; {} failed",
        churn.counts[0],
        churn.counts[1],
        churn.counts[2],
        churn.counts[3],
        churn.counts[4],
        churn.counts[5],
        churn.errors
    );
    println!(
        "final: {} VMAs, tree height {}, {:.1} index calls per operation\n",
        tree.map_count(),
        tree.index().tree().stats().height,
        tree_times.calls as f64 / ops as f64
    );
    println!("| VMA index | ns/op (total) | ns/op in the index | index share | ns/op elsewhere |");
    println!("|---|---:|---:|---:|---:|");
    for (name, times) in [
        ("maple tree (MapleIndex)", tree_times),
        ("BTreeMap (BTreeIndex)", btree_times),
    ] {
        let (t, i) = (per_op(times.total, ops), per_op(times.index, ops));
        println!(
            "| {name} | {t:.0} | {i:.0} | {:.0} % | {:.0} |",
            100.0 * i / t,
            t - i
        );
    }
}
