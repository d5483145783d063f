//! RCU: what readers see while a writer changes the tree, single-threaded (a read guard held
//! across writes) and under stress (one writer, several reader threads).
//!
//! Every value records the range it was stored over, and the writer numbers its operations and
//! marks each value with the last operation that changed which indices it holds. A reader checks:
//!
//! - *misplaced*: every value it sees lies inside the range it was stored over (the July 2022
//!   stale-copy bug, or a value paired with another slot's range, fails this at once), and was
//!   not dropped;
//! - *skipped*: an iteration (or a cursor walk, or a lookup) misses no index that one value held
//!   from before the read began until after it ended. After an iteration, the reader walks every
//!   index range the iteration did not yield with fresh root walks, and counts the values there
//!   that no operation touched since before the iteration began: each is a skipped entry;
//! - *order*: iterations are strictly ascending (descending from the back) and never overlap; a
//!   cursor's next range contains the index just after its previous one;
//! - *false gaps*: a gap search never answers a range that a value held throughout the search.
//!
//! Readers count bad observations instead of stopping at the first, so a run reports how many it
//! saw; the test fails if any was seen. At the end every value has been dropped exactly once and
//! every node returned.
//!
//! The writer mixes random stores, inserts, clears and erases with the shapes that stress the
//! in-place write paths: appends at a leaf's end followed by an exact fill of the old last slot,
//! aligned allocation and freeing, spanning stores over hundreds of entries, stores at 0 and at
//! `u64::MAX`, and (rarely) erasing everything and filling the tree again.
//!
//! `MAPLE_STRESS_READS` sets the number of read operations (default 2 * 10^6, the CI run); the
//! long run before a change to the read or write paths lands:
//!
//! ```text
//! MAPLE_STRESS_READS=1000000000 cargo test -p maple-tree --release --test rcu -- --nocapture readers_never
//! ```

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use common::Rng;
use maple_tree::{CursorState, GapRequest, MapleTree, Range, ReadGuard, Ref, WriteGuard};

/// Counts values made (including clones) and dropped, and numbers the writer's operations.
#[derive(Debug, Default)]
struct Ledger {
    made: AtomicUsize,
    dropped: AtomicUsize,
    /// The operation the writer is carrying out (numbered from 1).
    current: AtomicU64,
    /// The last operation the writer finished.
    finished: AtomicU64,
}

/// A value stamped with the range it was stored over and the operations that made and last
/// changed it.
#[derive(Debug)]
struct Stamp {
    first: u64,
    last: u64,
    /// The operation that made it (for a clone: the one that cut its entry in two).
    born: u64,
    /// The last operation that changed which indices it holds; 0 for none.
    touched: AtomicU64,
    alive: AtomicBool,
    ledger: Arc<Ledger>,
}

impl Stamp {
    fn new(first: u64, last: u64, ledger: &Arc<Ledger>) -> Self {
        ledger.made.fetch_add(1, Ordering::Relaxed);
        Self {
            first,
            last,
            born: ledger.current.load(Ordering::SeqCst),
            touched: AtomicU64::new(0),
            alive: AtomicBool::new(true),
            ledger: Arc::clone(ledger),
        }
    }

    /// Whether the value is alive and was stored over a range containing `range`.
    fn holds(&self, range: Range) -> bool {
        self.alive.load(Ordering::Acquire)
            && self.first <= range.first()
            && range.last() <= self.last
    }

    /// Whether the value has held the same indices since before operation `finished + 1`
    /// began: made by an operation up to `finished`, and changed by none after it.
    fn stable_since(&self, finished: u64) -> bool {
        self.born <= finished && self.touched.load(Ordering::SeqCst) <= finished
    }
}

impl Clone for Stamp {
    fn clone(&self) -> Self {
        self.ledger.made.fetch_add(1, Ordering::Relaxed);
        Self {
            first: self.first,
            last: self.last,
            born: self.ledger.current.load(Ordering::SeqCst),
            touched: AtomicU64::new(0),
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

type Tree = MapleTree<Stamp>;

const UNIVERSE: u64 = 1 << 20;

fn target_reads() -> u64 {
    std::env::var("MAPLE_STRESS_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

/// A value that knows the range it was stored over, for the single-threaded tests.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Span(u64, u64);

fn span(first: u64, last: u64) -> Span {
    Span(first, last)
}

/// The entries an iterator yields, each checked against its value's range.
fn yielded<'g>(iter: impl Iterator<Item = (Range, Ref<'g, Span>)>) -> Vec<(u64, u64)> {
    iter.map(|(range, value)| {
        assert!(
            value.0 <= range.first() && range.last() <= value.1,
            "value stored over [{}, {}] seen over {range}",
            value.0,
            value.1
        );
        (range.first(), range.last())
    })
    .collect()
}

#[test]
fn an_iterator_sees_an_append_then_an_exact_fit_of_the_old_last_slot() {
    // The issue's first reproducer: an append in place grows the leaf past the end the iterator
    // read; an exact fit then gives the old last slot a new value over a shorter range.
    let tree: MapleTree<Span> = MapleTree::new();
    tree.store_range(0..=9, span(0, 9)).unwrap();
    tree.store_range(10..=19, span(10, 19)).unwrap();
    let guard = tree.read();
    let mut iter = guard.iter();
    assert_eq!(yielded(iter.by_ref().take(1)), [(0, 9)]);
    let nodes = tree.stats().nodes_handed_out;
    tree.store_range(30..=39, span(30, 39)).unwrap();
    tree.store_range(20..=29, span(20, 29)).unwrap();
    assert_eq!(
        tree.stats().nodes_handed_out,
        nodes,
        "both writes were in place"
    );
    assert_eq!(yielded(iter), [(10, 19), (20, 29), (30, 39)]);
}

#[test]
fn a_cursor_on_a_replaced_leaf_skips_nothing() {
    // The issue's second reproducer: the leaf under an iterator is copied (a node store); the
    // iterator walks again from the root to the index after the last range it returned.
    let build = || {
        let tree: MapleTree<Span> = MapleTree::new();
        for i in 0..4 {
            tree.store_range(10 * i..=10 * i + 9, span(10 * i, 10 * i + 9))
                .unwrap();
        }
        tree
    };
    let tree = build();
    let guard = tree.read();
    let mut iter = guard.iter();
    assert_eq!(yielded(iter.by_ref().take(1)), [(0, 9)]);
    tree.store_range(35..=36, span(35, 36)).unwrap();
    assert_eq!(
        yielded(iter),
        [(10, 19), (20, 29), (30, 34), (35, 36), (37, 39)]
    );
    drop(guard);

    // The same from the back.
    let tree = build();
    let guard = tree.read();
    let mut iter = guard.iter().rev();
    assert_eq!(yielded(iter.by_ref().take(1)), [(30, 39)]);
    tree.store_range(5..=6, span(5, 6)).unwrap();
    assert_eq!(yielded(iter), [(20, 29), (10, 19), (7, 9), (5, 6), (0, 4)]);
}

#[test]
fn a_cursor_steps_onto_the_slots_an_append_added() {
    // A cursor that read a leaf's end before an append in place continues into the new slots.
    let tree: MapleTree<Span> = MapleTree::new();
    tree.store_range(0..=9, span(0, 9)).unwrap();
    let guard = tree.read();
    let mut cursor = guard.cursor(0);
    assert_eq!(cursor.walk().map(|v| Span::clone(&v)), Some(Span(0, 9)));
    tree.store_range(20..=29, span(20, 29)).unwrap();
    let mut ranges = Vec::new();
    while let Some((range, value)) = cursor.next_range(u64::MAX) {
        ranges.push((range.first(), range.last(), value.map(|v| Span::clone(&v))));
    }
    assert_eq!(
        ranges,
        [
            (10, 19, None),
            (20, 29, Some(Span(20, 29))),
            (30, u64::MAX, None)
        ]
    );
}

/// The writer: one operation at a time, numbered, marking every value it changes before it
/// changes it (when `track` is set; the long single-writer run does without).
struct Writer<'t> {
    tree: &'t Tree,
    ledger: Arc<Ledger>,
    rng: Rng,
    track: bool,
    /// Starts of aligned allocations, for the churn to free.
    allocated: Vec<u64>,
}

impl<'t> Writer<'t> {
    fn new(tree: &'t Tree, ledger: &Arc<Ledger>, seed: u64, track: bool) -> Self {
        Self {
            tree,
            ledger: Arc::clone(ledger),
            rng: Rng::new(seed),
            track,
            allocated: Vec::new(),
        }
    }

    /// Runs one numbered operation under the writer lock.
    fn op<R>(&mut self, f: impl FnOnce(&mut Self, &mut WriteGuard<'t, Stamp>) -> R) -> R {
        let op = self.ledger.current.load(Ordering::SeqCst) + 1;
        self.ledger.current.store(op, Ordering::SeqCst);
        let mut w = self.tree.lock();
        let result = f(self, &mut w);
        drop(w);
        self.ledger.finished.store(op, Ordering::SeqCst);
        result
    }

    /// Marks the values holding indices in `range` as changed by the current operation.
    fn touch(&self, w: &WriteGuard<'_, Stamp>, range: core::ops::RangeInclusive<u64>) {
        if self.track {
            let op = self.ledger.current.load(Ordering::SeqCst);
            for (_, stamp) in w.range(range) {
                stamp.touched.store(op, Ordering::SeqCst);
            }
        }
    }

    fn stamp(&self, first: u64, last: u64) -> Stamp {
        Stamp::new(first, last, &self.ledger)
    }

    fn store(&mut self, first: u64, last: u64) {
        self.op(|s, w| {
            s.touch(w, first..=last);
            w.store_range(first..=last, s.stamp(first, last)).unwrap();
        });
    }

    fn insert(&mut self, first: u64, last: u64) -> bool {
        self.op(|s, w| w.insert_range(first..=last, s.stamp(first, last)).is_ok())
    }

    fn clear(&mut self, first: u64, last: u64) {
        self.op(|s, w| {
            s.touch(w, first..=last);
            w.clear_range(first..=last).unwrap();
        });
    }

    fn erase(&mut self, index: u64) {
        self.op(|s, w| {
            if let Some((range, _)) = w.get_range(index) {
                s.touch(w, range.first()..=range.last());
            }
            drop(w.erase(index));
        });
    }

    /// Allocates a fit of `size` indices for `request`; returns its start.
    fn alloc(&mut self, request: GapRequest, size: u64) -> Option<u64> {
        self.op(|s, w| {
            let start = w.find_gap_for(request).ok()?;
            let last = start + (size - 1);
            w.alloc_range_for(request, s.stamp(start, last)).unwrap();
            Some(start)
        })
    }

    /// The mix of random operations the stress has always run. Its random sequence must not
    /// change: the long single-writer run replays it.
    fn basic(&mut self) {
        let first = self.rng.below(UNIVERSE);
        let span = match self.rng.below(100) {
            0..=1 => self.rng.below(UNIVERSE / 16),
            2..=9 => self.rng.below(4096),
            _ => self.rng.below(64),
        };
        let last = (first + span).min(UNIVERSE);
        match self.rng.below(10) {
            0..=3 => self.store(first, last),
            4..=5 => drop(self.insert(first, last)),
            6 => self.clear(first, last),
            7 => self.op(|s, w| {
                // A batch under one lock: several writes that readers see one by one.
                for k in 0..8 {
                    let a = (first + k * 100).min(UNIVERSE);
                    s.touch(w, a..=a + 40);
                    w.store_range(a..=a + 40, s.stamp(a, a + 40)).unwrap();
                }
            }),
            8 => {
                let size = 1 + self.rng.below(256);
                self.alloc(GapRequest::new(first..=UNIVERSE, size), size);
            }
            _ => self.erase(first),
        }
    }

    /// An append at the end of a leaf, then an exact fill of the slot that was the leaf's last:
    /// the tail of an entry gets a new value (an append in place when the entry ends its leaf),
    /// then the head left behind is overwritten exactly.
    fn append_then_fill(&mut self) {
        let index = self.rng.below(UNIVERSE);
        let (held, range) = {
            let guard = self.tree.read();
            let mut cursor = guard.cursor(index);
            (cursor.walk().is_some(), cursor.range())
        };
        if held {
            // Give the entry's tail a new value, then overwrite its head exactly.
            if range.first() < range.last() {
                let cut = range.first() + 1 + self.rng.below(range.last() - range.first());
                self.store(cut, range.last());
                self.store(range.first(), cut - 1);
            }
        } else {
            // Store inside an empty run (at the end of the last leaf: an append that leaves an
            // empty slot behind), then fill the empty head exactly.
            let last = index.saturating_add(self.rng.below(64)).min(range.last());
            self.store(index, last);
            if range.first() < index {
                self.store(range.first(), index - 1);
            }
        }
    }

    /// Aligned allocation and freeing, as an address-space allocator does.
    fn alloc_churn(&mut self) {
        if self.allocated.len() > 200 || (!self.allocated.is_empty() && self.rng.chance(45)) {
            let k = usize::try_from(self.rng.below(self.allocated.len() as u64)).unwrap();
            let start = self.allocated.swap_remove(k);
            self.erase(start);
            return;
        }
        let align = 1u64 << self.rng.below(13);
        let size = 1 + self.rng.below(4 * align);
        let from = self.rng.below(UNIVERSE);
        let mut request = GapRequest::new(from..=u64::MAX, size).align(align);
        if self.rng.chance(50) {
            request = request.top_down();
        }
        if let Some(start) = self.alloc(request, size) {
            self.allocated.push(start);
        }
    }

    /// A store or clear over hundreds of entries.
    fn spanning(&mut self) {
        let spacing = (UNIVERSE / (self.tree.len() as u64 + 1)).max(1);
        let first = self.rng.below(UNIVERSE);
        let last = first.saturating_add(spacing * (100 + self.rng.below(400)));
        if self.rng.chance(70) {
            self.store(first, last);
        } else {
            self.clear(first, last);
        }
    }

    /// Stores and clears at both ends of the key space.
    fn edges(&mut self) {
        let len = self.rng.below(64);
        match self.rng.below(6) {
            0 => self.store(0, len),
            1 => self.store(u64::MAX - len, u64::MAX),
            2 => self.store(u64::MAX, u64::MAX),
            3 => self.store(0, 0),
            4 => self.clear(0, len),
            _ => self.clear(u64::MAX - len, u64::MAX),
        }
    }

    /// Erases every entry, then fills the tree again one store at a time.
    fn erase_all_and_refill(&mut self) {
        self.op(|s, w| {
            s.touch(w, 0..=u64::MAX);
            w.clear();
        });
        for _ in 0..5_000 {
            self.basic();
        }
    }

    /// One step of the stress writer's mix.
    fn mixed(&mut self) {
        match self.rng.below(10_000) {
            0..=6_899 => self.basic(),
            6_900..=8_099 => self.append_then_fill(),
            8_100..=9_399 => self.alloc_churn(),
            9_400..=9_499 => self.spanning(),
            9_500..=9_997 => self.edges(),
            _ => {
                if self.rng.chance(10) {
                    self.erase_all_and_refill();
                } else {
                    self.basic();
                }
            }
        }
    }
}

/// What readers counted.
#[derive(Debug, Default)]
struct Tally {
    reads: AtomicU64,
    /// Entries checked.
    entries: AtomicU64,
    /// Values seen over a range they were never stored over, or seen dropped.
    misplaced: AtomicU64,
    /// Entries held throughout a read that the read did not return, and their indices.
    skipped_entries: AtomicU64,
    skipped_indices: AtomicU64,
    /// Iterations out of order or overlapping; cursor ranges that do not continue the previous.
    disorder: AtomicU64,
    /// Gaps answered over a value held throughout the search.
    false_gaps: AtomicU64,
}

impl Tally {
    fn bad(&self) -> u64 {
        self.misplaced.load(Ordering::Relaxed)
            + self.skipped_entries.load(Ordering::Relaxed)
            + self.disorder.load(Ordering::Relaxed)
            + self.false_gaps.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The reader's side of one read operation.
struct Read<'a, 'g> {
    guard: &'g ReadGuard<'a, Stamp>,
    tally: &'a Tally,
    /// The last operation the writer had finished when the read began.
    since: u64,
    /// Yield the processor after every this many steps of an iteration or a cursor walk (0:
    /// never), so that the writer gets to change what the reader is in the middle of.
    pause_every: usize,
}

impl<'g> Read<'_, 'g> {
    fn maybe_pause(&self, steps: usize) {
        if self.pause_every > 0 && steps.is_multiple_of(self.pause_every) {
            thread::yield_now();
        }
    }

    fn seen(&self, range: Range, stamp: &Stamp) {
        Tally::add(&self.tally.entries, 1);
        if !stamp.holds(range) {
            Tally::add(&self.tally.misplaced, 1);
        }
    }

    /// Counts the values in `[lo, hi]` that held their indices since before the read began,
    /// walking the range slot by slot with fresh walks from the root: each is an entry the read
    /// should have returned. Runs after the read, so that "held since" covers all of it.
    fn skipped_in(&self, lo: u64, hi: u64) {
        let mut index = lo;
        loop {
            let mut cursor = self.guard.cursor(index);
            let value = cursor.walk();
            if cursor.state() == CursorState::Empty {
                return;
            }
            let range = cursor.range();
            if let Some(stamp) = value
                && stamp.stable_since(self.since)
            {
                Tally::add(&self.tally.skipped_entries, 1);
                Tally::add(
                    &self.tally.skipped_indices,
                    range.last().min(hi) - range.first().max(lo) + 1,
                );
            }
            match range.last().checked_add(1) {
                Some(next) if next <= hi => index = next,
                _ => return,
            }
        }
    }

    fn lookup(&self, index: u64) {
        match self.guard.get_range(index) {
            Some((range, stamp)) => {
                self.seen(range, &stamp);
                if !range.contains(index) {
                    Tally::add(&self.tally.misplaced, 1);
                }
            }
            None => self.skipped_in(index, index),
        }
    }

    fn find(&self, start: u64, limit: u64) {
        if let Some((range, stamp)) = self.guard.find(start..=limit) {
            self.seen(range, &stamp);
            if range.last() < start || range.first() > limit {
                Tally::add(&self.tally.misplaced, 1);
            }
            if range.first() > start {
                self.skipped_in(start, range.first() - 1);
            }
        } else {
            self.skipped_in(start, limit);
        }
    }

    /// Iterates `[a, b]` forwards or backwards, then looks for what it skipped.
    fn iterate(&self, a: u64, b: u64, reverse: bool) {
        let mut ranges: Vec<Range> = Vec::new();
        let mut check = |range: Range, stamp: &Stamp| {
            self.seen(range, stamp);
            let in_order = ranges.last().is_none_or(|p| {
                if reverse {
                    range.last() < p.first()
                } else {
                    range.first() > p.last()
                }
            });
            if !in_order || range.first() > b || range.last() < a {
                Tally::add(&self.tally.disorder, 1);
            }
            ranges.push(range);
            self.maybe_pause(ranges.len());
        };
        if reverse {
            self.guard
                .range(a..=b)
                .rev()
                .for_each(|(r, s)| check(r, &s));
        } else {
            self.guard.range(a..=b).for_each(|(r, s)| check(r, &s));
        }
        if reverse {
            ranges.reverse();
        }
        // The holes between what was yielded, inside the window.
        let mut from = a;
        for range in ranges {
            if range.first() > from {
                self.skipped_in(from, range.first() - 1);
            }
            match range.last().checked_add(1) {
                Some(next) if next > from => from = next,
                Some(_) => {}
                None => return,
            }
            if from > b {
                return;
            }
        }
        self.skipped_in(from, b);
    }

    /// Steps a cursor over `[a, b]`, empty ranges included: each range must contain the index
    /// just past the previous one (just before it, going back).
    fn cursor_walk(&self, a: u64, b: u64, reverse: bool) {
        let mut cursor = self.guard.cursor(if reverse { b } else { a });
        if cursor.walk().is_none() && cursor.state() == CursorState::Empty {
            return;
        }
        let mut at = cursor.range();
        let mut steps = 0;
        loop {
            let step = if reverse {
                at.first().checked_sub(1).filter(|&i| i >= a)
            } else {
                at.last().checked_add(1).filter(|&i| i <= b)
            };
            let Some(expected) = step else { return };
            let next = if reverse {
                cursor.prev_range(a)
            } else {
                cursor.next_range(b)
            };
            let Some((range, value)) = next else {
                // The tree was emptied meanwhile (one empty range, which a cursor does not
                // return), or a range went missing.
                if cursor.state() != CursorState::Empty {
                    Tally::add(&self.tally.disorder, 1);
                }
                return;
            };
            if let Some(stamp) = value {
                self.seen(range, &stamp);
            }
            if !range.contains(expected) {
                Tally::add(&self.tally.disorder, 1);
                return;
            }
            at = range;
            steps += 1;
            self.maybe_pause(steps);
        }
    }

    /// A gap search for `size` indices in `window`, aligned to `align`: the answer must fit, and
    /// no value may have held any of its indices throughout the search.
    fn gap(&self, request: GapRequest, size: u64, window: (u64, u64), align: u64) {
        let Ok(start) = self.guard.find_gap_for(request) else {
            return;
        };
        let end = start.checked_add(size - 1);
        let fits = end.is_some_and(|end| start >= window.0 && end <= window.1);
        if !fits || start % align != 0 {
            Tally::add(&self.tally.false_gaps, 1);
            return;
        }
        let tally = Tally::default();
        let probe = Read {
            guard: self.guard,
            tally: &tally,
            since: self.since,
            pause_every: 0,
        };
        probe.skipped_in(start, start + (size - 1));
        Tally::add(
            &self.tally.false_gaps,
            tally.skipped_entries.load(Ordering::Relaxed),
        );
    }
}

/// One reader operation.
fn read(tree: &Tree, ledger: &Ledger, tally: &Tally, rng: &mut Rng) {
    let since = ledger.finished.load(Ordering::SeqCst);
    let guard = tree.read();
    let read = Read {
        guard: &guard,
        tally,
        since,
        pause_every: if rng.chance(2) { 8 } else { 0 },
    };
    // Most reads look at the random part of the key space; some at its two ends.
    let a = match rng.below(20) {
        0 => rng.below(256),
        1 => u64::MAX - rng.below(1 << 16),
        _ => rng.below(UNIVERSE),
    };
    let b = a.saturating_add(rng.below(50_000));
    match rng.below(10) {
        0..=3 => read.lookup(a),
        4 => read.find(a, b),
        5..=6 => read.iterate(a, b, rng.chance(30)),
        7 => read.cursor_walk(a, b.min(a.saturating_add(4_000)), rng.chance(30)),
        _ => {
            let size = 1 + rng.below(1024);
            let align = 1u64 << rng.below(10);
            let mut request = GapRequest::new(a..=u64::MAX, size).align(align);
            if rng.chance(50) {
                request = request.top_down();
            }
            read.gap(request, size, (a, u64::MAX), align);
        }
    }
    Tally::add(&tally.reads, 1);
}

/// The basic writer's sequence alone, far longer than the concurrent test reaches: every write
/// checks (in debug builds) that it took no more nodes than it reserved. At write 2.6 million
/// a rebalance that took in a cousin node used 2h + 2 nodes when 2h + 1 were reserved; a
/// rebalance now reserves 3h + 1, like a spanning store.
#[test]
fn a_long_writer_run_stays_within_its_reservations() {
    let ledger = Arc::new(Ledger::default());
    let tree = Tree::new_alloc();
    let mut writer = Writer::new(&tree, &ledger, 7, false);
    for _ in 0..20_000 {
        writer.basic();
    }
    let mut writer = Writer::new(&tree, &ledger, 1, false);
    for _ in 0..2_700_000 {
        writer.basic();
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
fn readers_never_see_a_misplaced_or_skipped_entry() {
    let target = target_reads();
    let readers = 3;
    let ledger = Arc::new(Ledger::default());
    let tree = Arc::new(Tree::new_alloc());
    {
        // A starting population, so that the tree has several levels from the start.
        let mut writer = Writer::new(&tree, &ledger, 7, true);
        for _ in 0..20_000 {
            writer.basic();
        }
    }
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let writer = {
        let (tree, ledger, stop) = (Arc::clone(&tree), Arc::clone(&ledger), Arc::clone(&stop));
        thread::spawn(move || {
            let mut writer = Writer::new(&tree, &ledger, 1, true);
            let mut steps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                writer.mixed();
                steps += 1;
            }
            steps
        })
    };
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let (tree, ledger, tally) =
                (Arc::clone(&tree), Arc::clone(&ledger), Arc::clone(&tally));
            thread::spawn(move || {
                let mut rng = Rng::new(100 + r);
                while tally.reads.load(Ordering::Relaxed) < target {
                    read(&tree, &ledger, &tally, &mut rng);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a reader failed");
    }
    stop.store(true, Ordering::Relaxed);
    let steps = writer.join().expect("the writer failed");
    let elapsed = started.elapsed().as_secs_f64();
    let reads = tally.reads.load(Ordering::Relaxed);
    eprintln!(
        "{reads} reads (lookups, finds, iterations, cursor walks, gap searches) checking {} \
         entries, by {readers} readers beside {steps} writer steps ({} operations) in \
         {elapsed:.1} s ({:.2} M reads/s); final tree: {} entries, height {}",
        tally.entries.load(Ordering::Relaxed),
        ledger.finished.load(Ordering::Relaxed),
        reads as f64 / elapsed / 1e6,
        tree.len(),
        tree.stats().height
    );
    eprintln!(
        "misplaced {}, skipped entries {} ({} indices), disorder {}, false gaps {}",
        tally.misplaced.load(Ordering::Relaxed),
        tally.skipped_entries.load(Ordering::Relaxed),
        tally.skipped_indices.load(Ordering::Relaxed),
        tally.disorder.load(Ordering::Relaxed),
        tally.false_gaps.load(Ordering::Relaxed),
    );
    assert!(reads >= target);
    assert_eq!(tally.bad(), 0, "bad observations: {tally:?}");
    tree.check_invariants().unwrap();

    let tree = Arc::into_inner(tree).expect("every thread is done");
    let counter = tree.node_counter();
    drop(tree);
    assert_eq!(
        counter.settle(std::time::Duration::from_secs(120)),
        0,
        "nodes leaked"
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
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
