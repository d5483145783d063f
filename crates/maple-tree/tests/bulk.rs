//! Whole-tree operations: `try_clone` (the kernel's `__mt_dup`) and `bulk_load`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Counted, Rng};
use maple_tree::{BulkLoadError, MapleTree};

fn entries(tree: &MapleTree<u32>) -> Vec<(u64, u64, u64)> {
    common::tree_entries(tree, |&v| u64::from(v))
}

/// A tree built by random stores, so that it has every kind of node shape.
fn random_tree(seed: u64, alloc: bool, n: u64) -> MapleTree<u32> {
    let mut rng = Rng::new(seed);
    let mut tree = if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    // Exclusive writes free the nodes they replace at once (no grace period), so the tree's
    // live nodes are exactly its own when it is handed back.
    let mut writer = tree.exclusive();
    for v in 0..n {
        let first = rng.below(n * 20);
        let wide = rng.chance(5);
        let span = rng.below(if wide { 500 } else { 12 });
        writer
            .store_range(first..=first + span, u32::try_from(v).unwrap())
            .unwrap();
    }
    drop(writer);
    tree
}

#[test]
fn try_clone_copies_node_by_node() {
    for (n, alloc) in [
        (0, true),
        (1, false),
        (50, true),
        (3_000, false),
        (20_000, true),
    ] {
        let tree = random_tree(n, alloc, n);
        let copy = tree.try_clone().unwrap();
        copy.check_invariants().unwrap();
        assert_eq!(entries(&copy), entries(&tree));
        assert_eq!(
            (copy.len(), copy.stats().height, copy.stats().nodes),
            (tree.len(), tree.stats().height, tree.stats().nodes)
        );
        assert_eq!(copy.is_alloc(), tree.is_alloc());
        // The copy is independent of the original.
        copy.clear_range(0..=u64::MAX / 2).unwrap();
        assert_eq!(tree.len(), entries(&tree).len());
        tree.check_invariants().unwrap();
        if alloc && !tree.is_empty() {
            assert_eq!(copy.find_gap(0..=u64::MAX, 1_000), Ok(0));
        }
    }
}

#[test]
fn try_clone_clones_every_value_once() {
    let made = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let mut tree = MapleTree::new();
    {
        let mut w = tree.exclusive();
        for i in 0..5_000u64 {
            made.fetch_add(1, Ordering::Relaxed);
            w.insert_range(i * 4..=i * 4 + 1, Counted::new(i, &drops))
                .unwrap();
        }
    }
    let copy = tree.try_clone().unwrap();
    let guard = copy.read();
    assert!(guard.iter().all(|(r, c)| r.first() == c.id * 4));
    drop(guard);
    drop(tree);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        5_000,
        "the original's values"
    );
    drop(copy);
    assert_eq!(
        drops.load(Ordering::Relaxed),
        10_000,
        "and the copies, once each"
    );
}

#[test]
fn try_clone_fails_cleanly_at_every_allocation() {
    let tree = random_tree(9, true, 5_000);
    let live = tree.stats().live_nodes;
    assert_eq!(
        live,
        tree.stats().nodes,
        "no node of the tree awaits a grace period"
    );
    let expected = entries(&tree);
    let mut budget = 0;
    let copy = loop {
        tree.fail_reservations_after(Some(budget));
        match tree.try_clone() {
            Ok(copy) => break copy,
            Err(_) => {
                assert_eq!(tree.stats().live_nodes, live);
                assert_eq!(entries(&tree), expected);
                budget += 1;
            }
        }
    };
    tree.fail_reservations_after(None);
    assert_eq!(
        budget as usize,
        tree.stats().nodes,
        "the copy reserves exactly its nodes"
    );
    copy.check_invariants().unwrap();
    assert_eq!(entries(&copy), expected);
}

#[test]
fn bulk_load_builds_full_valid_trees() {
    for alloc in [false, true] {
        for n in [0u64, 1, 2, 7, 8, 9, 16, 17, 100, 1_000, 50_000] {
            for stride in [10, 16] {
                let mut tree = if alloc {
                    MapleTree::new_alloc()
                } else {
                    MapleTree::new()
                };
                tree.bulk_load(
                    (0..n).map(|i| (i * stride..=i * stride + 9, u32::try_from(i).unwrap())),
                )
                .unwrap();
                tree.check_invariants()
                    .unwrap_or_else(|e| panic!("alloc {alloc} n {n} stride {stride}: {e}"));
                assert_eq!(tree.len(), usize::try_from(n).unwrap());
                let expect: Vec<_> = (0..n).map(|i| (i * stride, i * stride + 9, i)).collect();
                assert_eq!(entries(&tree), expect);
                // No more nodes than ascending inserts need.
                let mut incremental = if alloc {
                    MapleTree::new_alloc()
                } else {
                    MapleTree::new()
                };
                let mut w = incremental.exclusive();
                for i in 0..n {
                    w.insert_range(i * stride..=i * stride + 9, 0u32).unwrap();
                }
                drop(w);
                assert!(tree.stats().nodes <= incremental.stats().nodes, "n {n}");
                // The loaded tree takes further writes.
                tree.store_range(5..=n * stride + 100, 1).unwrap();
                tree.check_invariants().unwrap();
            }
        }
    }
}

#[test]
#[expect(
    clippy::reversed_empty_ranges,
    reason = "an empty range is the input under test"
)]
fn bulk_load_rejects_bad_input_and_drops_what_it_took() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut tree = MapleTree::new();
    let input = vec![(0, 9, 0u64), (10, 19, 1), (15, 30, 2), (40, 49, 3)];
    let err = tree
        .bulk_load(
            input
                .into_iter()
                .map(|(f, l, i)| (f..=l, Counted::new(i, &drops))),
        )
        .unwrap_err();
    match err {
        BulkLoadError::Unsorted { index, value } => assert_eq!((index, value.id), (2, 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        drops.load(Ordering::Relaxed),
        3,
        "the two taken, then the one handed back"
    );
    assert!(tree.is_empty());
    let err = tree
        .bulk_load([(5u64..=4, Counted::new(9, &drops))])
        .unwrap_err();
    assert!(matches!(err, BulkLoadError::InvalidRange { index: 0, .. }));
    tree.bulk_load([(0u64..=u64::MAX, Counted::new(1, &drops))])
        .unwrap();
    assert_eq!(tree.len(), 1);
    assert!(matches!(
        tree.bulk_load([(1u64..=1, Counted::new(2, &drops))]),
        Err(BulkLoadError::NotEmpty)
    ));
    tree.check_invariants().unwrap();
}
