//! Panic safety, the way `Vec` has it: a value whose `Clone` or `Drop` panics in the middle of
//! a tree operation leaks nothing else and leaves the tree valid, with the right entry count.
//!
//! Every value here is counted when made (by the test or by a clone) and when dropped; at the end
//! of each test every value made has been dropped exactly once.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use common::fragile::{Fragile, Ledger};
use maple_tree::MapleTree;

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
    assert_eq!(counter.settle(std::time::Duration::from_secs(120)), 0);
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

/// A tree of 100 counted entries `[10i, 10i + 4]`; the value of entry `bad` panics when dropped.
fn with_a_bad_value(ledger: &Arc<Ledger>, bad: u64, alloc: bool) -> Tree {
    let mut tree = if alloc {
        Tree::new_alloc()
    } else {
        Tree::new()
    };
    let mut w = tree.exclusive();
    for i in 0..100 {
        w.insert_range(10 * i..=10 * i + 4, ledger.value_with(i, i == bad))
            .unwrap();
    }
    drop(w);
    tree
}

#[test]
fn a_panicking_drop_in_an_exclusive_write_leaves_the_count_right_and_leaks_nothing_else() {
    for alloc in [false, true] {
        // A spanning store over 40 entries, one of which panics when dropped.
        let ledger = Ledger::new();
        let mut tree = with_a_bad_value(&ledger, 37, alloc);
        let value = ledger.value(1000);
        expect_panic(|| drop(tree.exclusive().store_range(200..=600, value)));
        tree.check_invariants().unwrap();
        assert_eq!(tree.len(), 61);
        assert_eq!(ledger.live(), 61, "values the write removed leaked");
        assert_eq!(tree.read().get(400).map(|v| v.id), Some(1000));

        // An exact fit over the bad value.
        let ledger = Ledger::new();
        let mut tree = with_a_bad_value(&ledger, 5, alloc);
        let value = ledger.value(1000);
        expect_panic(|| drop(tree.exclusive().store_range(50..=54, value)));
        tree.check_invariants().unwrap();
        assert_eq!((tree.len(), ledger.live()), (100, 100));

        // Dropping the whole tree.
        let ledger = Ledger::new();
        let tree = with_a_bad_value(&ledger, 60, alloc);
        let counter = tree.node_counter();
        expect_panic(|| drop(tree));
        assert_eq!(ledger.live(), 0, "values of the dropped tree leaked");
        assert_eq!(counter.live(), 0, "nodes of the dropped tree leaked");
    }
}
