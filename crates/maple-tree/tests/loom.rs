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
//! the value after it, never a torn or misplaced one, and never a value that has been dropped
//! (values record their own drop, and loom also rejects any access to a freed atomic).

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
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
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
    // Two leaves; a store across both rebuilds them. An iterating reader sees ascending,
    // non-overlapping ranges, each inside the range its value was stored with.
    model(|| {
        let tree = std::sync::Arc::new(gapped(9));
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.store_range(40..=100, Probe::new(40, 100)).unwrap();
            })
        };
        {
            let guard = tree.read();
            let mut last_end: Option<u64> = None;
            for (range, probe) in guard.iter() {
                assert!(probe.alive.load(Ordering::SeqCst));
                assert!(range.first() >= probe.first && range.last() <= probe.last);
                if let Some(end) = last_end {
                    assert!(
                        range.first() > end,
                        "iteration went backwards or overlapped"
                    );
                }
                last_end = Some(range.last());
            }
        }
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
fn boundary_move_in_place_against_a_reader() {
    // Emptying the tail of an entry next to a gap moves one pivot, in place.
    model(|| {
        let tree = std::sync::Arc::new(gapped(3));
        let nodes = tree.stats().nodes_handed_out;
        let writer = {
            let tree = tree.clone();
            thread::spawn(move || {
                tree.clear_range(22..=25).unwrap();
            })
        };
        check_read(&tree, 23, &[Some((16, 25)), None]);
        check_empty(&tree, 23, &[(22, 31)]);
        check_read(&tree, 20, &[Some((16, 25))]);
        check_empty(&tree, 28, &[(26, 31), (22, 31)]);
        writer.join().unwrap();
        assert_eq!(
            tree.stats().nodes_handed_out,
            nodes,
            "the boundary move copied the leaf"
        );
        check_read(&tree, 23, &[None]);
        teardown(std::sync::Arc::into_inner(tree).unwrap());
    });
}
