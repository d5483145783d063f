//! Loom models of the RCU protocol: a writer publishes a rebuilt node, marks the old one dead
//! and retires it, while a reader walks the same tree. Loom runs every interleaving of the two
//! threads (within the preemption bound) over the real tree code and the real crossbeam-epoch,
//! both built on loom's atomics.
//!
//! ```text
//! RUSTFLAGS="--cfg maple_loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test -p maple-tree --release --test loom
//! ```
//!
//! Each model checks what a reader may observe: at every index, the value before the write or
//! the value after it, never a torn or misplaced one, never a value that has been dropped
//! (values record their own drop, and loom also rejects any access to a freed atomic), and no
//! skipped entry that no write touched.
//!
//! The models of two writes against one reader (the pairs the read protocol must survive: see
//! the crate docs) run with at least 3 preemptions whatever `LOOM_MAX_PREEMPTIONS` says: the
//! reader must stop between two of its loads while the writer carries out both writes, which
//! loom counts as more than two switches. With 2, loom never builds that schedule.

#![cfg(maple_loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use maple_tree::MapleTree;

/// A value that knows the range it was stored with and whether it has been dropped.
#[derive(Debug)]
struct Probe {
    first: u64,
    last: u64,
    alive: AtomicBool,
}

impl Probe {
    fn new(first: u64, last: u64) -> Box<Self> {
        Box::new(Self {
            first,
            last,
            alive: AtomicBool::new(true),
        })
    }
}

impl Clone for Probe {
    fn clone(&self) -> Self {
        Self {
            first: self.first,
            last: self.last,
            alive: AtomicBool::new(true),
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.alive.store(false, Ordering::SeqCst);
    }
}

type Tree = MapleTree<Box<Probe>>;

/// A tree of `n` entries `[16i, 16i + 9]`, built before the threads start.
fn gapped(n: u64) -> Tree {
    let mut tree = MapleTree::new();
    let mut w = tree.exclusive();
    for i in 0..n {
        w.insert_range(16 * i..=16 * i + 9, Probe::new(16 * i, 16 * i + 9))
            .unwrap();
    }
    drop(w);
    tree
}

/// What a reader checks at one index: the value there (if any) is alive and was stored over a
/// range containing the index, and it is one of the values the caller allows.
fn check_read(tree: &Tree, index: u64, allowed: &[Option<(u64, u64)>]) {
    let guard = tree.read();
    let seen = guard.get_range(index).map(|(range, probe)| {
        assert!(
            probe.alive.load(Ordering::SeqCst),
            "read a dropped value at {index}"
        );
        assert!(
            probe.first <= index && index <= probe.last,
            "value stored over [{}, {}] seen at {index}",
            probe.first,
            probe.last
        );
        assert!(range.first() >= probe.first && range.last() <= probe.last);
        (probe.first, probe.last)
    });
    assert!(
        allowed.contains(&seen),
        "saw {seen:?} at {index}, allowed {allowed:?}"
    );
}

/// What a reader checks at an index that may be empty: if it is, the empty slot holding it
/// covers one of the `allowed` ranges (its range before or after the write), never a torn one.
fn check_empty(tree: &Tree, index: u64, allowed: &[(u64, u64)]) {
    let guard = tree.read();
    let mut cursor = guard.cursor(index);
    if cursor.walk().is_none() {
        let range = cursor.range();
        let seen = (range.first(), range.last());
        assert!(
            allowed.contains(&seen),
            "empty {seen:?} at {index}, allowed {allowed:?}"
        );
    }
}

/// After the model: drop the tree. The collector is dropped at the end of every execution,
/// which runs whatever is still deferred; loom then checks that every loom object (the
/// values' atomics, the pool's `Arc`) was freed.
fn teardown(tree: Tree) {
    drop(tree);
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    model_preempting(2, f);
}

/// A model explored with at least `preemptions` preemptions per execution. A reader that stops
/// between two of its loads while the writer carries out two whole writes needs 3, as loom
/// counts them.
fn model_preempting(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(2).max(preemptions));
    // A write rebuilds whole nodes, one atomic store per word: far more steps than loom's
    // default allows per execution.
    builder.max_branches = 100_000;
    builder.check(f);
}

#[test]
fn node_store_publishes_a_copy() {
    // One root leaf. The writer cuts an entry: a node store, which in RCU mode builds a new
    // leaf, publishes it as the root, marks the old one dead and retires it.
    model(|| {
        let tree = std::sync::Arc::new(gapped(3));
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.store_range(20..=22, Probe::new(20, 22)).unwrap();
            })
        };
        check_read(&tree, 21, &[Some((16, 25)), Some((20, 22))]);
        check_read(&tree, 24, &[Some((16, 25))]);
        writer.join().unwrap();
        check_read(&tree, 21, &[Some((20, 22))]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn split_publishes_a_new_root() {
    // Eight gapped entries fill the root leaf; the ninth splits it into two leaves under a new
    // root (three nodes), published with one store of the root pointer.
    model(|| {
        let tree = std::sync::Arc::new(gapped(8));
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.insert_range(128..=137, Probe::new(128, 137)).unwrap();
            })
        };
        check_read(&tree, 130, &[None, Some((128, 137))]);
        check_read(&tree, 5, &[Some((0, 9))]);
        check_read(&tree, 112, &[Some((112, 121))]);
        writer.join().unwrap();
        assert_eq!(tree.stats().height, 2);
        check_read(&tree, 130, &[Some((128, 137))]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn rebalance_collapses_to_one_leaf() {
    // Two leaves under a root; erasing leaves the right leaf underfull, so it merges with the
    // left one and the single leaf becomes the root: two nodes retired, one published.
    model(|| {
        // Two leaves of 9 slots; erasing entry 8 leaves the right one at 7, the minimum.
        let mut tree = gapped(9);
        tree.exclusive().erase(16 * 8);
        assert_eq!(tree.stats().height, 2);
        let tree = std::sync::Arc::new(tree);
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.erase(112);
            })
        };
        check_read(&tree, 115, &[Some((112, 121)), None]);
        check_read(&tree, 3, &[Some((0, 9))]);
        check_read(&tree, 99, &[Some((96, 105))]);
        writer.join().unwrap();
        assert_eq!(tree.stats().height, 1);
        check_read(&tree, 115, &[None]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn erased_value_outlives_the_reader() {
    // The reader borrows a value under its guard; the writer erases it concurrently. The value
    // may only be dropped after the reader's guard is gone.
    model(|| {
        let tree = std::sync::Arc::new(gapped(2));
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                let erased = tree.erase(16).expect("the entry exists");
                assert_eq!((erased.first, erased.last), (16, 25));
            })
        };
        {
            let guard = tree.read();
            if let Some(probe) = guard.get(20) {
                thread::yield_now();
                assert!(probe.alive.load(Ordering::SeqCst), "dropped under a guard");
            }
        }
        writer.join().unwrap();
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn spanning_store_against_an_iterating_reader() {
    spanning_store_against(false);
}

#[test]
fn spanning_store_against_a_folding_reader() {
    spanning_store_against(true);
}

/// Two leaves; a store across both rebuilds them. An iterating reader (a fold with `fold`),
/// which steps from the first leaf to the one beside it, sees ascending, non-overlapping
/// ranges, each inside the range its value was stored with.
fn spanning_store_against(fold: bool) {
    model(move || {
        let tree = std::sync::Arc::new(gapped(9));
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.store_range(40..=100, Probe::new(40, 100)).unwrap();
            })
        };
        iterate(&tree, fold);
        writer.join().unwrap();
        check_read(&tree, 70, &[Some((40, 100))]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn append_in_place_against_a_reader() {
    // RCU mode appends in place: new slots past the old end, then the new end (Release).
    model(|| {
        let tree = std::sync::Arc::new(gapped(3));
        let nodes = tree.stats().nodes_handed_out;
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.insert_range(48..=57, Probe::new(48, 57)).unwrap();
            })
        };
        check_read(&tree, 50, &[None, Some((48, 57))]);
        check_empty(&tree, 50, &[(42, u64::MAX)]);
        check_empty(&tree, 60, &[(42, u64::MAX), (58, u64::MAX)]);
        check_empty(&tree, 44, &[(42, u64::MAX), (42, 47)]);
        check_read(&tree, 33, &[Some((32, 41))]);
        writer.join().unwrap();
        assert_eq!(
            tree.stats().nodes_handed_out,
            nodes,
            "the append copied the leaf"
        );
        check_read(&tree, 50, &[Some((48, 57))]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn boundary_move_then_exact_fit_against_a_cursor() {
    // Two writes a reader could pair wrongly if it read a slot's range and its word at
    // different moments: a boundary move (emptying the tail of an entry next to a gap), then an
    // exact fit of the shortened entry. RCU mode copies the leaf for the boundary move, so the
    // cursor's read of the old leaf is stale and it walks again.
    model_preempting(3, || {
        let tree = std::sync::Arc::new(gapped(3));
        let nodes = tree.stats().nodes_handed_out;
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.clear_range(22..=25).unwrap();
                tree.store_range(16..=21, Probe::new(16, 21)).unwrap();
            })
        };
        {
            let guard = tree.read();
            let mut cursor = guard.cursor(18);
            let probe = cursor.walk().expect("index 18 holds a value throughout");
            let range = cursor.range();
            assert!(probe.alive.load(Ordering::SeqCst));
            assert!(
                probe.first <= range.first() && range.last() <= probe.last,
                "value stored over [{}, {}] seen over {range}",
                probe.first,
                probe.last
            );
            assert!([(16, 25), (16, 21)].contains(&(range.first(), range.last())));
        }
        check_empty(&tree, 28, &[(26, 31), (22, 31)]);
        writer.join().unwrap();
        assert_eq!(
            tree.stats().nodes_handed_out,
            nodes + 1,
            "RCU mode copies a boundary move"
        );
        check_read(&tree, 18, &[Some((16, 21))]);
        check_empty(&tree, 23, &[(22, 31)]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

/// The entries an iteration yields, each checked against its value: alive, and stored over a
/// range containing the one it is seen over. With `fold`, the iteration runs as a fold
/// (`for_each`), which walks a leaf's slots in one loop, else step by step (`next`).
fn iterate(tree: &Tree, fold: bool) -> Vec<(u64, u64)> {
    let guard = tree.read();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let mut check = |(range, probe): (maple_tree::Range, maple_tree::Ref<'_, Box<Probe>>)| {
        assert!(
            probe.alive.load(Ordering::SeqCst),
            "iterated a dropped value"
        );
        assert!(
            probe.first <= range.first() && range.last() <= probe.last,
            "value stored over [{}, {}] seen over {range}",
            probe.first,
            probe.last
        );
        if let Some(&(_, last)) = seen.last() {
            assert!(
                range.first() > last,
                "iteration went backwards or overlapped"
            );
        }
        seen.push((range.first(), range.last()));
    };
    if fold {
        guard.iter().for_each(check);
    } else {
        for entry in guard.iter() {
            check(entry);
        }
    }
    seen
}

#[test]
fn append_then_exact_fit_against_an_iterating_reader() {
    append_then_exact_fit_against(false);
}

#[test]
fn append_then_exact_fit_against_a_folding_reader() {
    append_then_exact_fit_against(true);
}

/// Two writes in place on one leaf: an append past the end an iterator may have read, then
/// an exact fit of the slot that was the last one. The iterator (a fold with `fold`) must
/// never pair the new value with the old slot's range (up to the leaf's maximum), and must
/// return the entries that no write touched.
fn append_then_exact_fit_against(fold: bool) {
    model_preempting(3, move || {
        let tree = std::sync::Arc::new(Tree::new());
        tree.store_range(0..=9, Probe::new(0, 9)).unwrap();
        tree.store_range(10..=19, Probe::new(10, 19)).unwrap();
        let nodes = tree.stats().nodes_handed_out;
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.store_range(30..=39, Probe::new(30, 39)).unwrap();
                tree.store_range(20..=29, Probe::new(20, 29)).unwrap();
            })
        };
        let seen = iterate(&tree, fold);
        assert!(seen.starts_with(&[(0, 9), (10, 19)]), "skipped: {seen:?}");
        writer.join().unwrap();
        assert_eq!(
            tree.stats().nodes_handed_out,
            nodes,
            "a write copied the leaf"
        );
        assert_eq!(iterate(&tree, fold), [(0, 9), (10, 19), (20, 29), (30, 39)]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn node_stores_under_a_cursor() {
    // A cursor stands on the first of four adjacent entries while the writer copies its leaf
    // twice (two node stores, cutting the last entry). Stepping on, it walks again from the root to the index after the range
    // it stood on, and skips none of the entries no write touched.
    model_preempting(3, || {
        let tree = std::sync::Arc::new(Tree::new());
        for i in 0..4 {
            tree.store_range(10 * i..=10 * i + 9, Probe::new(10 * i, 10 * i + 9))
                .unwrap();
        }
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.store_range(35..=36, Probe::new(35, 36)).unwrap();
                tree.store_range(32..=33, Probe::new(32, 33)).unwrap();
            })
        };
        {
            let guard = tree.read();
            let mut cursor = guard.cursor(0);
            assert_eq!(cursor.walk().map(|p| (p.first, p.last)), Some((0, 9)));
            for expected in [(10, 19), (20, 29)] {
                let (range, probe) = cursor.next(u64::MAX).expect("an entry no write touched");
                assert!(probe.alive.load(Ordering::SeqCst));
                assert_eq!((range.first(), range.last()), expected);
                assert_eq!((probe.first, probe.last), expected);
            }
        }
        writer.join().unwrap();
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}

#[test]
fn retirements_under_a_gap_search() {
    // An allocation tree whose one leaf begins with a short empty slot; no empty run of 100
    // indices lies inside [0, 200] at any moment. The writer replaces the leaf twice (a node
    // store, then a split), retiring it each time, while a reader searches for such a gap: the
    // search must not read a retired leaf as if it were current.
    model_preempting(3, || {
        let mut tree = Tree::new_alloc();
        let mut w = tree.exclusive();
        for i in 0..7 {
            let first = 16 * i + 4;
            w.insert_range(first..=first + 9, Probe::new(first, first + 9))
                .unwrap();
        }
        drop(w);
        let tree = std::sync::Arc::new(tree);
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.store_range(22..=29, Probe::new(22, 29)).unwrap();
                tree.store_range(38..=41, Probe::new(38, 41)).unwrap();
            })
        };
        assert_eq!(
            tree.find_gap(0..=200, 100),
            Err(maple_tree::GapError::NoSpace),
            "a gap over entries present throughout"
        );
        writer.join().unwrap();
        assert_eq!(tree.stats().height, 2);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}
