//! RCU stress: one writer changes the tree with random stores, splits, spanning stores, clears
//! and erases while reader threads run lookups, finds, iterations and gap searches.
//!
//! Every value records the range it was stored with. A reader that sees value `v` at index `i`
//! checks that `i` lies inside `v`'s range: an entry that also appeared several slots too early
//! (the July 2022 stale-copy bug) would fail this at once. Iterations must be strictly
//! ascending and never overlap. Values record their own drop, so a reader can never look at a
//! freed value without noticing; at the end every value must have been dropped exactly once and
//! every node returned.
//!
//! `MAPLE_STRESS_READS` sets the number of read operations (default 10^7, the CI run):
//!
//! ```text
//! MAPLE_STRESS_READS=1000000000 cargo test -p maple-tree --release --test rcu -- --nocapture
//! ```

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use common::Rng;
use maple_tree::{GapRequest, MapleTree};

/// Counts values made (including clones) and dropped.
#[derive(Debug, Default)]
struct Ledger {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

/// A value stamped with the range it was stored over.
#[derive(Debug)]
struct Stamp {
    first: u64,
    last: u64,
    alive: AtomicBool,
    ledger: Arc<Ledger>,
}

impl Stamp {
    fn new(first: u64, last: u64, ledger: &Arc<Ledger>) -> Box<Self> {
        ledger.made.fetch_add(1, Ordering::Relaxed);
        Box::new(Self {
            first,
            last,
            alive: AtomicBool::new(true),
            ledger: Arc::clone(ledger),
        })
    }

    /// The checks every reader makes on a value seen over `[first, last]`.
    fn check(&self, first: u64, last: u64) {
        assert!(
            self.alive.load(Ordering::Acquire),
            "a reader saw a dropped value"
        );
        assert!(
            self.first <= first && last <= self.last,
            "value stored over [{}, {}] seen over [{first}, {last}]",
            self.first,
            self.last
        );
    }
}

impl Clone for Stamp {
    fn clone(&self) -> Self {
        self.ledger.made.fetch_add(1, Ordering::Relaxed);
        Self {
            first: self.first,
            last: self.last,
            alive: AtomicBool::new(true),
            ledger: Arc::clone(&self.ledger),
        }
    }
}

impl Drop for Stamp {
    fn drop(&mut self) {
        assert!(
            self.alive.swap(false, Ordering::AcqRel),
            "a value was dropped twice"
        );
        self.ledger.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

type Tree = MapleTree<Box<Stamp>>;

const UNIVERSE: u64 = 1 << 20;

fn target_reads() -> u64 {
    std::env::var("MAPLE_STRESS_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// One writer operation.
fn write(tree: &Tree, rng: &mut Rng, ledger: &Arc<Ledger>) {
    let first = rng.below(UNIVERSE);
    let span = match rng.below(100) {
        0..=1 => rng.below(UNIVERSE / 16),
        2..=9 => rng.below(4096),
        _ => rng.below(64),
    };
    let last = (first + span).min(UNIVERSE);
    match rng.below(10) {
        0..=3 => {
            tree.store_range(first..=last, Stamp::new(first, last, ledger))
                .unwrap();
        }
        4..=5 => {
            let _ = tree.insert_range(first..=last, Stamp::new(first, last, ledger));
        }
        6 => tree.clear_range(first..=last).unwrap(),
        7 => {
            // A batch under one lock: several writes that readers see one by one.
            let mut w = tree.lock();
            for k in 0..8 {
                let a = (first + k * 100).min(UNIVERSE);
                w.store_range(a..=a + 40, Stamp::new(a, a + 40, ledger))
                    .unwrap();
            }
        }
        8 => {
            let size = 1 + rng.below(256);
            let request = GapRequest::new(first..=UNIVERSE, size);
            let mut w = tree.lock();
            if let Ok(start) = w.find_gap_for(request) {
                let stamp = Stamp::new(start, start + size - 1, ledger);
                w.alloc_range_for(request, stamp).unwrap();
            }
        }
        _ => drop(tree.erase(first)),
    }
}

/// One reader operation; returns the number of entries it checked.
fn read(tree: &Tree, rng: &mut Rng) -> u64 {
    let guard = tree.read();
    match rng.below(8) {
        0..=3 => {
            let i = rng.below(UNIVERSE);
            if let Some((range, stamp)) = guard.get_range(i) {
                assert!(range.contains(i));
                stamp.check(range.first(), range.last());
            }
            1
        }
        4 => {
            let (start, limit) = (rng.below(UNIVERSE), rng.below(UNIVERSE));
            if let Some((range, stamp)) = guard.find(start..=limit) {
                assert!(start <= limit && range.last() >= start && range.first() <= limit);
                stamp.check(range.first(), range.last());
            }
            1
        }
        5..=6 => {
            let a = rng.below(UNIVERSE);
            let b = a + rng.below(50_000);
            let mut previous: Option<u64> = None;
            let mut count = 0;
            let reverse = rng.chance(30);
            let mut check = |range: maple_tree::Range, stamp: &Stamp| {
                stamp.check(range.first(), range.last());
                assert!(
                    range.first() <= b && range.last() >= a,
                    "outside the window"
                );
                if let Some(p) = previous {
                    if reverse {
                        assert!(range.last() < p, "reverse iteration overlapped");
                    } else {
                        assert!(range.first() > p, "iteration overlapped or went back");
                    }
                }
                previous = Some(if reverse { range.first() } else { range.last() });
                count += 1;
            };
            if reverse {
                for (range, stamp) in guard.range(a..=b).rev() {
                    check(range, &stamp);
                }
            } else {
                for (range, stamp) in guard.range(a..=b) {
                    check(range, &stamp);
                }
            }
            count
        }
        _ => {
            let size = 1 + rng.below(1024);
            let min = rng.below(UNIVERSE);
            if let Ok(start) = guard.find_gap_for(GapRequest::new(min..=u64::MAX, size)) {
                assert!(start >= min && start.checked_add(size - 1).is_some());
            }
            1
        }
    }
}

/// The writer's sequence alone, far longer than the concurrent test reaches: every write
/// checks (in debug builds) that it took no more nodes than it reserved. At write 2.6 million
/// a rebalance that took in a cousin node used 2h + 2 nodes when 2h + 1 were reserved; a
/// rebalance now reserves 3h + 1, like a spanning store.
#[test]
fn a_long_writer_run_stays_within_its_reservations() {
    let ledger = Arc::new(Ledger::default());
    let tree = Tree::new_alloc();
    let mut rng = Rng::new(7);
    for _ in 0..20_000 {
        write(&tree, &mut rng, &ledger);
    }
    let mut rng = Rng::new(1);
    for _ in 0..2_700_000 {
        write(&tree, &mut rng, &ledger);
    }
    tree.check_invariants().unwrap();
    let entries = tree.len();
    drop(tree);
    maple_tree::flush_deferred();
    let (made, dropped) = (
        ledger.made.load(Ordering::Relaxed),
        ledger.dropped.load(Ordering::Relaxed),
    );
    assert!(entries > 0 && made >= dropped, "{entries} {made} {dropped}");
}

#[test]
fn readers_never_see_a_torn_or_misplaced_entry() {
    let target = target_reads();
    let readers = 3;
    let ledger = Arc::new(Ledger::default());
    let tree = Arc::new(Tree::new_alloc());
    {
        // A starting population, so that the tree has several levels from the start.
        let mut rng = Rng::new(7);
        for _ in 0..20_000 {
            write(&tree, &mut rng, &ledger);
        }
    }
    let reads = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let writer = {
        let (tree, ledger, stop) = (Arc::clone(&tree), Arc::clone(&ledger), Arc::clone(&stop));
        thread::spawn(move || {
            let mut rng = Rng::new(1);
            let mut writes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                write(&tree, &mut rng, &ledger);
                writes += 1;
            }
            writes
        })
    };
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let (tree, reads) = (Arc::clone(&tree), Arc::clone(&reads));
            thread::spawn(move || {
                let mut rng = Rng::new(100 + r);
                let mut entries = 0;
                while reads.fetch_add(1, Ordering::Relaxed) < target {
                    entries += read(&tree, &mut rng);
                }
                entries
            })
        })
        .collect();
    let entries: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("a reader failed"))
        .sum();
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("the writer failed");
    let elapsed = started.elapsed().as_secs_f64();
    let reads = reads.load(Ordering::Relaxed).min(target);
    eprintln!(
        "{reads} reads (lookups, finds, iterations, gap searches) checking {entries} entries, \
         by {readers} readers beside {writes} writes in {elapsed:.1} s ({:.2} M reads/s); \
         final tree: {} entries, height {}",
        reads as f64 / elapsed / 1e6,
        tree.len(),
        tree.stats().height
    );
    assert!(reads >= target);
    tree.check_invariants().unwrap();

    let tree = Arc::into_inner(tree).expect("every thread is done");
    let counter = tree.node_counter();
    drop(tree);
    assert_eq!(
        counter.settle(std::time::Duration::from_secs(30)),
        0,
        "nodes leaked"
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while ledger.dropped.load(Ordering::Relaxed) < ledger.made.load(Ordering::Relaxed)
        && Instant::now() < deadline
    {
        maple_tree::flush_deferred();
        thread::yield_now();
    }
    assert_eq!(
        ledger.dropped.load(Ordering::Relaxed),
        ledger.made.load(Ordering::Relaxed),
        "every value is dropped exactly once"
    );
}
