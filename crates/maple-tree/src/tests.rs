//! In-crate unit tests: one per write path, starting from trees of pinned shapes, plus the
//! shape constants that pin the split policy to the kernel's.

use alloc::string::ToString;
use alloc::vec::Vec;
use core::num::NonZeroUsize;
use std::collections::{BTreeMap, BTreeSet};

use crate::node::entry::Values;
use crate::write::StoreKind;
use crate::{DumpFormat, MapleTree};

/// Gapped ranges `[16i, 16i + 9]` inserted in ascending order until the root leaf splits: a
/// leaf holds 16 slots, each entry takes two (itself and the gap after it), so 8 entries fill
/// the root leaf and the 9th splits it.
const INSERTS_TO_HEIGHT_2: u64 = 9;

/// Stores through the tree's writer and returns the path the store took.
fn store(
    tree: &mut MapleTree<u32>,
    exclusive: bool,
    first: u64,
    last: u64,
    value: Option<u32>,
) -> StoreKind {
    let mut guard = if exclusive {
        tree.exclusive()
    } else {
        tree.lock()
    };
    let kind = guard
        .with_writer(|w| {
            w.store(
                first,
                last,
                value.map(Values::<u32>::into_word),
                Some(Values::<u32>::clone_word as fn(NonZeroUsize) -> NonZeroUsize),
            )
        })
        .expect("allocation succeeds");
    drop(guard);
    if let Err(e) = tree.check_invariants() {
        panic!("{e}\n{}", tree.dump(DumpFormat::Dec));
    }
    kind
}

/// A tree of `n` gapped entries `[16i, 16i + 9]` (value `i`), inserted in ascending order.
fn gapped(n: u64, alloc: bool) -> MapleTree<u32> {
    let mut tree = if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut w = tree.exclusive();
    for i in 0..n {
        w.insert_range(16 * i..=16 * i + 9, u32::try_from(i).unwrap())
            .unwrap();
    }
    drop(w);
    tree
}

fn both_modes() -> [bool; 2] {
    [true, false]
}

#[test]
fn first_store_makes_a_root_leaf() {
    for exclusive in both_modes() {
        let mut tree = MapleTree::new();
        assert_eq!(
            store(&mut tree, exclusive, 10, 20, Some(1)),
            StoreKind::StoreRoot
        );
        assert_eq!(
            (tree.stats().height, tree.stats().nodes, tree.len()),
            (1, 1, 1)
        );
        // Storing nothing into an empty tree changes nothing.
        let mut empty = MapleTree::<u32>::new();
        assert_eq!(
            store(&mut empty, exclusive, 10, 20, None),
            StoreKind::StoreRoot
        );
        assert_eq!(empty.stats().height, 0);
    }
}

#[test]
fn full_range_store_replaces_the_whole_tree() {
    for exclusive in both_modes() {
        let mut tree = gapped(500, true);
        assert!(tree.stats().height >= 3);
        assert_eq!(
            store(&mut tree, exclusive, 0, u64::MAX, Some(9)),
            StoreKind::NewRoot
        );
        assert_eq!(
            (tree.stats().height, tree.stats().nodes, tree.len()),
            (1, 1, 1)
        );
        assert_eq!(tree.get(u64::MAX), Some(9));
        assert_eq!(
            store(&mut tree, exclusive, 0, u64::MAX, None),
            StoreKind::NewRoot
        );
        assert_eq!(
            (tree.stats().height, tree.stats().nodes, tree.len()),
            (0, 0, 0)
        );
    }
}

#[test]
fn exact_fit_writes_one_slot_and_allocates_nothing() {
    for exclusive in both_modes() {
        let mut tree = gapped(100, true);
        let nodes = tree.stats().nodes;
        let handed_out = tree.stats().nodes_handed_out;
        assert_eq!(
            store(&mut tree, exclusive, 160, 169, Some(77)),
            StoreKind::ExactFit
        );
        // Filling a gap exactly also fits one slot.
        assert_eq!(
            store(&mut tree, exclusive, 170, 175, Some(78)),
            StoreKind::ExactFit
        );
        assert_eq!(tree.stats().nodes_handed_out, handed_out);
        assert_eq!(tree.stats().nodes, nodes);
        assert_eq!(tree.get(165), Some(77));
        assert_eq!(tree.get(172), Some(78));
        assert_eq!(tree.len(), 101);
    }
}

#[test]
fn append_grows_the_last_leaf_in_place() {
    let mut tree = gapped(3, false);
    let handed_out = tree.stats().nodes_handed_out;
    // The new entry lands in the last (empty) slot of the root leaf.
    assert_eq!(store(&mut tree, true, 100, 109, Some(5)), StoreKind::Append);
    assert_eq!(tree.stats().nodes_handed_out, handed_out);
    // In RCU mode too: the new slots go past the old end, which is published last.
    assert_eq!(
        store(&mut tree, false, 200, 209, Some(6)),
        StoreKind::Append
    );
    assert_eq!(tree.stats().nodes_handed_out, handed_out);
    // But a store that changes the word of the last slot is copied in RCU mode.
    assert_eq!(
        store(&mut tree, false, 210, 300, Some(7)),
        StoreKind::NodeStore
    );
    assert_eq!(tree.stats().nodes_handed_out, handed_out + 1);
}

#[test]
fn boundary_move_is_copied_in_rcu_mode() {
    // Entry 1 is [16, 25] with value 1; growing it into the gap after it with the same value
    // only moves one pivot. Readers never see a pivot move below a node's end (the read
    // protocol), so RCU mode copies the leaf; exclusive mode moves the pivot in place.
    for exclusive in both_modes() {
        let mut tree = gapped(3, false);
        let handed_out = tree.stats().nodes_handed_out;
        let kind = store(&mut tree, exclusive, 16, 28, Some(1));
        assert_eq!(
            tree.get_range(27).map(|(r, v)| (r.first(), r.last(), v)),
            Some((16, 28, 1))
        );
        if exclusive {
            assert_eq!(kind, StoreKind::SlotStore);
            assert_eq!(tree.stats().nodes_handed_out, handed_out);
        } else {
            assert_eq!(kind, StoreKind::NodeStore);
            assert_eq!(tree.stats().nodes_handed_out, handed_out + 1);
        }
    }
}

#[test]
fn slot_store_moves_one_boundary_in_place() {
    let mut tree = gapped(3, false);
    // [16, 25] is entry 1 and [26, 31] the gap after it: cover the entry and part of the gap.
    assert_eq!(
        store(&mut tree, true, 16, 28, Some(9)),
        StoreKind::SlotStore
    );
    assert_eq!(
        tree.get_range(20).map(|(r, v)| (r.first(), r.last(), v)),
        Some((16, 28, 9))
    );
    assert_eq!(tree.get_range(30).map(|(r, _)| r.first()), None);
}

#[test]
fn node_store_rewrites_one_leaf() {
    for exclusive in both_modes() {
        let mut tree = gapped(3, false);
        // Two entries and the gap between them become one entry: two slots fewer.
        assert_eq!(
            store(&mut tree, exclusive, 0, 25, Some(9)),
            StoreKind::NodeStore
        );
        assert_eq!(tree.len(), 2);
        assert_eq!(tree.stats().nodes, 1);
    }
}

/// Exclusive mode: stores and clears over existing entries of one leaf (what munmap and mprotect
/// do to VMAs) are edited in the leaf, without a node, and leave the same tree, gaps included,
/// as RCU mode's copies.
#[test]
fn overwrites_inside_one_leaf_edit_it_in_place() {
    // Entry i is [16i, 16i + 9]; entries 0 to 4 fill 9 slots of the first of two leaves.
    type Op = (u64, u64, Option<u32>, StoreKind);
    let ops: [Op; 8] = [
        // Trim the head of entry 2, then its tail: one boundary moves each time.
        (32, 33, None, StoreKind::SlotStore),
        (40, 41, None, StoreKind::SlotStore),
        // A hole in the middle: the entry is cut in two (the tail holds a clone).
        (36, 37, None, StoreKind::NodeStore),
        // A new value over the whole of the remaining head: one word changes.
        (34, 35, Some(90), StoreKind::ExactFit),
        // A new value across the gap between two entries, keeping a piece of each.
        (39, 50, Some(91), StoreKind::NodeStore),
        // A clear of entry 3's tail and of part of the gap after it.
        (52, 60, None, StoreKind::SlotStore),
        // The whole of entry 1: it and the gaps beside it become one empty slot.
        (16, 25, None, StoreKind::NodeStore),
        // A value into the middle of entry 4, the leaf's last slot: slots added after it.
        (66, 67, Some(92), StoreKind::Append),
    ];
    let (mut fast, mut copied) = (gapped(12, true), gapped(12, true));
    assert_eq!(fast.stats().height, 2);
    let handed_out = fast.stats().nodes_handed_out;
    for (first, last, value, kind) in ops {
        assert_eq!(
            store(&mut fast, true, first, last, value),
            kind,
            "{first}..={last}"
        );
        store(&mut copied, false, first, last, value);
        let show = |v: &u32| v.to_string();
        assert!(fast.layout(show) == copied.layout(show), "{first}..={last}");
    }
    assert_eq!(fast.stats().nodes_handed_out, handed_out);
    let entries: Vec<_> = fast
        .iter()
        .filter(|(r, _)| r.last() < 74)
        .map(|(r, v)| (r.first(), r.last(), v))
        .collect();
    assert_eq!(
        entries,
        [
            (0, 9, 0),
            (34, 35, 90),
            (38, 38, 2),
            (39, 50, 91),
            (51, 51, 3),
            (64, 65, 4),
            (66, 67, 92),
            (68, 73, 4)
        ]
    );
}

#[test]
fn split_pushes_upward_and_grows_the_tree() {
    for exclusive in both_modes() {
        let mut tree = gapped(INSERTS_TO_HEIGHT_2 - 1, false);
        assert_eq!(tree.stats().height, 1);
        let i = INSERTS_TO_HEIGHT_2 - 1;
        assert_eq!(
            store(&mut tree, exclusive, 16 * i, 16 * i + 9, Some(1)),
            StoreKind::Split
        );
        assert_eq!((tree.stats().height, tree.stats().nodes), (2, 3));
    }
}

#[test]
fn split_of_a_full_root_internal_node_adds_a_level() {
    // Ascending inserts fill leaves (push left) and then internal nodes; the first time the
    // root internal node overflows the tree reaches height 3.
    let mut tree = gapped(0, false);
    let mut i = 0;
    while tree.stats().height < 3 {
        store(&mut tree, true, 16 * i, 16 * i + 9, Some(1));
        i += 1;
    }
    assert!(i > 100, "height 3 after only {i} inserts");
}

#[test]
fn split_shares_load_with_a_sibling_that_has_room() {
    // Random-order inserts into a leaf next to a half-full sibling: the push leaves the parent
    // with the same number of children.
    let mut tree = gapped(INSERTS_TO_HEIGHT_2, false);
    let before = tree.stats().nodes;
    // The left leaf has room; overflow the right leaf by filling its gaps.
    let mut kinds = Vec::new();
    for i in INSERTS_TO_HEIGHT_2..INSERTS_TO_HEIGHT_2 + 4 {
        kinds.push(store(&mut tree, true, 16 * i, 16 * i + 9, Some(2)));
    }
    assert!(kinds.contains(&StoreKind::Split), "{kinds:?}");
    assert_eq!(
        tree.stats().nodes,
        before,
        "pushing into the sibling needs no new leaf"
    );
}

#[test]
fn rebalance_merges_an_underfull_leaf() {
    for exclusive in both_modes() {
        let mut tree = gapped(12, false);
        assert_eq!((tree.stats().height, tree.stats().nodes), (2, 3));
        // The right leaf holds entries 5..=11 in 15 slots; each entry emptied takes two slots
        // away, and the fifth leaves 5 slots, below the minimum of 7.
        let mut kinds = Vec::new();
        for i in (7..12).rev() {
            kinds.push(store(&mut tree, exclusive, 16 * i, 16 * i + 9, None));
        }
        assert_eq!(kinds.last(), Some(&StoreKind::Rebalance), "{kinds:?}");
        assert_eq!(
            (tree.stats().height, tree.stats().nodes),
            (1, 1),
            "merged back into one root leaf"
        );
        assert_eq!(tree.len(), 7);
    }
}

#[test]
fn rebalance_takes_in_a_cousin_across_parents() {
    for exclusive in both_modes() {
        let mut tree = gapped(1500, false);
        assert_eq!(tree.stats().height, 3);
        // Erase from the left end: leaves underflow and merge with neighbours under the next
        // parent once their own parent runs out of siblings.
        for i in 0..1000 {
            let kind = store(&mut tree, exclusive, 16 * i, 16 * i + 9, None);
            assert!(
                matches!(
                    kind,
                    StoreKind::ExactFit
                        | StoreKind::NodeStore
                        | StoreKind::SlotStore
                        | StoreKind::Rebalance
                        | StoreKind::Spanning
                ),
                "{kind:?}"
            );
        }
        assert_eq!(tree.len(), 500);
        assert_eq!(tree.get(16 * 1000), Some(1000));
        assert_eq!(tree.get(16 * 999), None);
    }
}

#[test]
fn spanning_store_crosses_leaves_and_levels() {
    for exclusive in both_modes() {
        for alloc in [false, true] {
            let mut tree = gapped(5000, alloc);
            let height = tree.stats().height;
            assert_eq!(
                store(&mut tree, exclusive, 100, 50_000, Some(3)),
                StoreKind::Spanning
            );
            assert_eq!(tree.get(100), Some(3));
            assert_eq!(tree.get(50_000), Some(3));
            // The entry cut at 50_000 keeps its tail.
            assert_eq!(tree.get(50_001), Some(3125));
            assert_eq!(tree.get(96), Some(6));
            // Empty a range across most of the tree: the tree collapses.
            assert_eq!(
                store(&mut tree, exclusive, 5, 79_000, None),
                StoreKind::Spanning
            );
            assert!(tree.stats().height < height);
            assert_eq!(tree.get(0), Some(0));
            assert_eq!(tree.get(79_000), None);
            assert_eq!(tree.get(79_001), Some(4937));
        }
    }
}

#[test]
fn spanning_empty_store_merges_with_the_next_leafs_gap() {
    for exclusive in both_modes() {
        let mut tree = gapped(200, true);
        // Find a leaf boundary: the last entry of the first leaf ends at that leaf's max.
        let text = tree.dump(DumpFormat::Dec).to_string();
        let leaf_max: u64 = text
            .lines()
            .find(|l| l.contains("Leaf"))
            .and_then(|l| l.trim().split(':').next())
            .and_then(|r| r.split('-').nth(1))
            .and_then(|m| m.parse().ok())
            .expect("a leaf line");
        let (range, _) = tree.get_range(leaf_max).expect("leaves end on an entry");
        let kind = store(&mut tree, exclusive, range.first(), range.last(), None);
        assert_eq!(kind, StoreKind::Spanning);
        // The emptied range and the gaps on both sides are one empty run now.
        assert_eq!(
            tree.find_gap(0..=u64::MAX, range.last() - range.first() + 1 + 12),
            Ok(range.first() - 6)
        );
    }
}

#[test]
fn shapes_match_the_kernel() {
    // 1001 single indices 0..=1000, ascending: the kernel's check_dfs_preorder counts 73 nodes
    // in a range tree and 76 in an allocation tree (its loop counts one more).
    for (alloc, nodes) in [(false, 73), (true, 76)] {
        for rev in [false, true] {
            let mut tree = if alloc {
                MapleTree::new_alloc()
            } else {
                MapleTree::new()
            };
            let mut w = tree.exclusive();
            for i in 0..=1000u32 {
                let i = if rev { 1000 - i } else { i };
                w.insert(u64::from(i), i).unwrap();
            }
            drop(w);
            tree.check_invariants().unwrap();
            assert_eq!(tree.stats().nodes, nodes, "alloc {alloc} reversed {rev}");
        }
    }
}

#[test]
fn unlinked_nodes_are_freed_in_both_modes() {
    for exclusive in both_modes() {
        let mut tree = gapped(2000, true);
        for i in (0..2000).step_by(3) {
            store(&mut tree, exclusive, 16 * i, 16 * i + 40, None);
        }
        let counter = tree.node_counter();
        drop(tree);
        assert_eq!(counter.settle(std::time::Duration::from_secs(10)), 0);
    }
}

/// The kinds a store can take on a tree of `height` (a rebalance or a spanning store needs at
/// least two leaves).
/// The store kinds a tree of `height` shows. A slot store (a boundary move in place) is made in
/// exclusive mode only: RCU mode copies the leaf instead.
fn kinds_for_height(height: usize, exclusive: bool) -> BTreeSet<&'static str> {
    let mut kinds: BTreeSet<&str> = ["ExactFit", "Append", "NodeStore", "Split", "NewRoot"].into();
    if exclusive {
        kinds.insert("SlotStore");
    }
    if height >= 2 {
        kinds.insert("Rebalance");
        kinds.insert("Spanning");
    }
    kinds
}

#[test]
fn preallocated_stores_take_only_reserved_nodes() {
    // For every store kind, at tree heights 1 to 4, in both modes: reserve what
    // `nodes_needed` says, then store with the reservation. The store must not refill the pool
    // (no allocation), and may take at most the reserved nodes.
    for exclusive in both_modes() {
        let mut seen: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for (target, entries) in [(1_usize, 4_u64), (2, 60), (3, 500), (4, 5_000)] {
            let mut tree = gapped(entries, true);
            assert_eq!(tree.stats().height, target);
            for step in 0..6_000_u64 {
                let height = tree.stats().height;
                let i = next(entries);
                let (first, last, value) = match step % 8 {
                    // Over an entry exactly, or past the end (an append).
                    0 => (16 * i, 16 * i + 9, Some(7)),
                    1 => (16 * entries + 16 * i, 16 * entries + 16 * i + 3, Some(8)),
                    // Grow an entry into its gap with the same value, or cut one.
                    2 => (16 * i, 16 * i + 12, Some(u32::try_from(i).unwrap())),
                    3 => (16 * i + 2, 16 * i + 4, Some(9)),
                    // Fill a gap, empty an entry.
                    4 => (16 * i + 11, 16 * i + 13, Some(10)),
                    5 => (16 * i, 16 * i + 9, None),
                    // Wide stores and clears.
                    6 => (16 * i, 16 * (i + next(300)) + 5, Some(11)),
                    _ => (16 * i, 16 * (i + next(300)) + 5, None),
                };
                let word = value.map(Values::<u32>::into_word);
                let mut guard = if exclusive {
                    tree.exclusive()
                } else {
                    tree.lock()
                };
                let kind = guard.with_writer(|w| {
                    let cloner =
                        Some(Values::<u32>::clone_word as fn(NonZeroUsize) -> NonZeroUsize);
                    let reservation = w.reserve_store(first, last, word, cloner).unwrap();
                    let refills = w.pool.stats().refills();
                    let handed_out = w.pool.stats().handed_out();
                    let kind = w.store_reserved(first, last, word, reservation.clone);
                    assert_eq!(w.pool.stats().refills(), refills, "{kind:?} allocated");
                    assert!(w.pool.stats().handed_out() - handed_out <= reservation.nodes as u64);
                    kind
                });
                drop(guard);
                seen.entry(height).or_default().insert(kind_name(kind));
                if step % 500 == 0 {
                    tree.check_invariants().unwrap();
                }
            }
            // A store over every index replaces the tree: one reserved leaf.
            let height = tree.stats().height;
            let mut guard = if exclusive {
                tree.exclusive()
            } else {
                tree.lock()
            };
            let kind = guard.with_writer(|w| {
                let word = Some(Values::<u32>::into_word(1));
                let reservation = w.reserve_store(0, u64::MAX, word, None).unwrap();
                let refills = w.pool.stats().refills();
                let kind = w.store_reserved(0, u64::MAX, word, reservation.clone);
                assert_eq!(w.pool.stats().refills(), refills);
                kind
            });
            seen.entry(height).or_default().insert(kind_name(kind));
        }
        for height in 1..=4 {
            let missing: Vec<_> = kinds_for_height(height, exclusive)
                .difference(&seen[&height])
                .copied()
                .collect();
            assert!(
                missing.is_empty(),
                "exclusive {exclusive}, height {height}: never saw {missing:?}"
            );
        }
    }
}

fn kind_name(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::StoreRoot => "StoreRoot",
        StoreKind::NewRoot => "NewRoot",
        StoreKind::ExactFit => "ExactFit",
        StoreKind::Append => "Append",
        StoreKind::SlotStore => "SlotStore",
        StoreKind::NodeStore => "NodeStore",
        StoreKind::Split => "Split",
        StoreKind::Rebalance => "Rebalance",
        StoreKind::Spanning => "Spanning",
    }
}
