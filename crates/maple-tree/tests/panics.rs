//! Panic safety, the way `Vec` has it: a value whose `Clone` or `Drop` panics in the middle of
//! a tree operation leaks nothing else and leaves the tree valid, with the right entry count.
//!
//! Every value here is counted when made (by the test or by a clone) and when dropped; at the end
//! of each test every value made has been dropped exactly once.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use maple_tree::MapleTree;

/// Counts values made and dropped, and decides which clones and drops panic.
#[derive(Debug, Default)]
struct Ledger {
    made: AtomicUsize,
    dropped: AtomicUsize,
    /// Clones that may still succeed; the next one panics when this reaches 0 (negative: no
    /// limit).
    clones_left: AtomicIsize,
}

impl Ledger {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            clones_left: AtomicIsize::new(-1),
            ..Self::default()
        })
    }

    fn value(self: &Arc<Self>, id: u64) -> Box<Fragile> {
        self.value_with(id, false)
    }

    /// A value whose drop panics if `panics` is set.
    fn value_with(self: &Arc<Self>, id: u64, panics: bool) -> Box<Fragile> {
        self.made.fetch_add(1, Ordering::Relaxed);
        Box::new(Fragile {
            id,
            panics_on_drop: panics,
            ledger: Arc::clone(self),
        })
    }

    fn panic_after_clones(&self, n: isize) {
        self.clones_left.store(n, Ordering::Relaxed);
    }

    fn live(&self) -> usize {
        self.made.load(Ordering::Relaxed) - self.dropped.load(Ordering::Relaxed)
    }

    /// Runs deferred drops until `expected` values are alive or ten seconds have passed.
    fn settle(&self, expected: usize) -> usize {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.live() != expected && std::time::Instant::now() < deadline {
            maple_tree::flush_deferred();
            std::thread::yield_now();
        }
        self.live()
    }
}

/// A counted value that can be told to panic when cloned or dropped.
#[derive(Debug)]
struct Fragile {
    id: u64,
    panics_on_drop: bool,
    ledger: Arc<Ledger>,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        let left = self.ledger.clones_left.fetch_sub(1, Ordering::Relaxed);
        assert!(left != 0, "clone of value {} panics on purpose", self.id);
        self.ledger.made.fetch_add(1, Ordering::Relaxed);
        Self {
            id: self.id,
            panics_on_drop: false,
            ledger: Arc::clone(&self.ledger),
        }
    }
}

impl Drop for Fragile {
    fn drop(&mut self) {
        self.ledger.dropped.fetch_add(1, Ordering::Relaxed);
        assert!(
            !self.panics_on_drop,
            "drop of value {} panics on purpose",
            self.id
        );
    }
}

type Tree = MapleTree<Box<Fragile>>;

/// Runs `f`, which must panic (its message is printed like any panic's).
fn expect_panic(f: impl FnOnce()) {
    let result = catch_unwind(AssertUnwindSafe(f));
    assert!(result.is_err(), "the operation did not panic");
}

#[test]
fn a_store_whose_split_clone_panics_drops_the_value_it_was_storing() {
    for exclusive in [false, true] {
        let ledger = Ledger::new();
        let mut tree = Tree::new();
        tree.insert_range(0..=99, ledger.value(1)).unwrap();
        ledger.panic_after_clones(0);
        let value = ledger.value(2);
        expect_panic(|| {
            // Cutting [0, 99] in two needs a clone of its value for the tail: it panics.
            if exclusive {
                drop(tree.exclusive().store_range(40..=59, value));
            } else {
                drop(tree.store_range(40..=59, value));
            }
        });
        tree.check_invariants().unwrap();
        assert_eq!(tree.len(), 1, "the tree is unchanged");
        assert_eq!(tree.read().get(50).map(|v| v.id), Some(1));
        assert_eq!(
            ledger.settle(1),
            1,
            "exclusive {exclusive}: the stored value leaked"
        );
        drop(tree);
        assert_eq!(ledger.settle(0), 0);
    }
}

#[test]
fn a_tree_copy_whose_clone_panics_drops_the_clones_already_made() {
    let ledger = Ledger::new();
    let tree = Tree::new_alloc();
    for i in 0..500 {
        tree.insert_range(10 * i..=10 * i + 4, ledger.value(i))
            .unwrap();
    }
    ledger.panic_after_clones(300);
    expect_panic(|| drop(tree.try_clone()));
    assert_eq!(
        ledger.settle(500),
        500,
        "clones made before the panic leaked"
    );
    tree.check_invariants().unwrap();
    let counter = tree.node_counter();
    drop(tree);
    assert_eq!(ledger.settle(0), 0);
    assert_eq!(counter.settle(std::time::Duration::from_secs(10)), 0);
}

#[test]
fn a_bulk_load_whose_source_panics_drops_what_it_took() {
    let ledger = Ledger::new();
    let mut tree = Tree::new();
    expect_panic(|| {
        let entries = (0..100u64).map(|i| {
            assert!(i < 60, "the source panics on purpose");
            (10 * i..=10 * i + 4, ledger.value(i))
        });
        drop(tree.bulk_load(entries));
    });
    assert!(tree.is_empty());
    tree.check_invariants().unwrap();
    assert_eq!(ledger.live(), 0, "values taken from the source leaked");
}
