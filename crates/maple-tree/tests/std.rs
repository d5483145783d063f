//! The std collection manners: iteration on the tree and through references, building from and
//! extending by iterators, `contains`, `first`/`last`, `get_mut`, equality, `Default`, `Debug`,
//! free ranges (`gaps`), and a lock taken twice on one thread.

mod common;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use maple_tree::{DumpFormat, MapleTree, Range};

/// A tree of `n` entries `[10i, 10i + 4]` holding `i`.
fn spaced(n: u64) -> MapleTree<u64> {
    (0..n).map(|i| (i * 10..i * 10 + 5, i)).collect()
}

fn r(first: u64, last: u64) -> Range {
    Range::new(first, last).unwrap()
}

#[test]
fn the_tree_iterates_without_a_guard_in_both_directions() {
    let tree = spaced(1_000);
    let forward: Vec<(Range, u64)> = tree.iter().collect();
    let want: Vec<(Range, u64)> = (0..1_000).map(|i| (r(i * 10, i * 10 + 4), i)).collect();
    assert_eq!(forward, want);
    let backward: Vec<(Range, u64)> = tree.iter().rev().collect();
    assert!(backward.iter().rev().eq(want.iter()));
    // Both ends at once meet in the middle, each entry once.
    let mut both = tree.iter();
    let mut seen = Vec::new();
    while let Some((_, front)) = both.next() {
        seen.push(front);
        if let Some((_, back)) = both.next_back() {
            seen.push(back);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..1_000).collect::<Vec<_>>());
    assert_eq!(both.next(), None);
    // `&tree` and `&guard` iterate too.
    let mut n = 0;
    for (range, value) in &tree {
        assert_eq!(range.first(), value * 10);
        n += 1;
    }
    assert_eq!(n, 1_000);
    let guard = tree.read();
    assert_eq!((&guard).into_iter().count(), 1_000);
    for (range, value) in &guard {
        assert_eq!(range.first(), *value * 10);
    }
}

#[test]
fn tree_ranges_and_gaps_match_a_btreemap_model() {
    let mut model: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let tree = MapleTree::new_alloc();
    let mut rng = common::Rng::new(7);
    for i in 0..2_000u64 {
        let first = rng.below(50_000);
        let last = first + rng.below(30);
        if tree.insert_range(first..=last, i).is_ok() {
            model.insert(first, (last, i));
        }
    }
    tree.check_invariants().unwrap();
    let check = |lo: u64, hi: u64| {
        // Entries intersecting [lo, hi], whole.
        let want: Vec<(Range, u64)> = model
            .iter()
            .filter(|&(&f, &(l, _))| f <= hi && l >= lo)
            .map(|(&f, &(l, v))| (r(f, l), v))
            .collect();
        assert_eq!(tree.range(lo..=hi).collect::<Vec<_>>(), want);
        assert!(tree.range(lo..=hi).rev().eq(want.iter().rev().copied()));
        // Free ranges inside [lo, hi], cut to it.
        let mut gaps = Vec::new();
        let mut next = Some(lo);
        for (f, l) in want.iter().map(|(range, _)| (range.first(), range.last())) {
            if let Some(n) = next
                && f > n
            {
                gaps.push(r(n, f - 1));
            }
            next = l.checked_add(1);
        }
        if let Some(n) = next
            && n <= hi
        {
            gaps.push(r(n, hi));
        }
        assert_eq!(tree.gaps(lo..=hi).collect::<Vec<_>>(), gaps, "{lo}..={hi}");
        assert!(tree.gaps(lo..=hi).rev().eq(gaps.iter().rev().copied()));
        let guard = tree.read();
        assert_eq!(guard.gaps(lo..=hi).collect::<Vec<_>>(), gaps);
        assert!(guard.gaps(lo..=hi).rev().eq(gaps.iter().rev().copied()));
    };
    for _ in 0..300 {
        let (a, b) = (rng.below(52_000), rng.below(52_000));
        check(a.min(b), a.max(b));
    }
    check(0, u64::MAX);
    let empty = MapleTree::<u8>::new();
    assert_eq!(empty.gaps(..).collect::<Vec<_>>(), [r(0, u64::MAX)]);
    assert_eq!(empty.read().gaps(5..5).count(), 0);
    let mut tree = tree;
    tree.exclusive().clear();
    assert_eq!(tree.iter().next(), None);
}

#[test]
fn from_iter_and_extend_store_in_turn_like_btreemap_inserts() {
    // Later pairs overwrite what they share with earlier ones; empty ranges store nothing.
    let tree: MapleTree<char> = [(r(0, 9), 'a'), (r(20, 29), 'b'), (r(5, 24), 'c')]
        .into_iter()
        .collect();
    assert_eq!(
        tree.iter().collect::<Vec<_>>(),
        [(r(0, 4), 'a'), (r(5, 24), 'c'), (r(25, 29), 'b')]
    );
    let mut tree = tree;
    tree.extend([(30..30, 'x'), (30..31, 'd')]);
    tree.extend(vec![(Range::single(0), 'e')]);
    assert_eq!(tree.len(), 5);
    assert_eq!(tree.first(), Some((r(0, 0), 'e')));
    assert_eq!(tree.last(), Some((r(30, 30), 'd')));
    tree.check_invariants().unwrap();
}

#[test]
fn contains_first_last_and_get_mut() {
    let mut tree = spaced(100);
    assert!(tree.contains(0) && tree.contains(994) && !tree.contains(5) && !tree.contains(995));
    assert_eq!(tree.first(), Some((r(0, 4), 0)));
    assert_eq!(tree.last(), Some((r(990, 994), 99)));
    let guard = tree.read();
    assert_eq!(guard.first().map(|(r, v)| (r, *v)), Some((r(0, 4), 0)));
    assert_eq!(guard.last().map(|(r, v)| (r, *v)), Some((r(990, 994), 99)));
    assert!(guard.contains(12) && !guard.contains(15));
    drop(guard);
    // An inline value, a value that outgrows the slot, and a boxed one.
    *tree.get_mut(12).unwrap() += 1000;
    *tree.get_mut(22).unwrap() = u64::MAX;
    assert!(tree.get_mut(15).is_none());
    assert_eq!(tree.get(10), Some(1001));
    assert_eq!(tree.get(24), Some(u64::MAX));
    let mut names: MapleTree<String> = [(0..10, String::from("a"))].into_iter().collect();
    names.get_mut(3).unwrap().push_str("bc");
    assert_eq!(names.get(9).as_deref(), Some("abc"));
    tree.check_invariants().unwrap();
    let empty = MapleTree::<u32>::default();
    assert!(empty.first().is_none() && empty.last().is_none() && !empty.contains(0));
}

#[test]
fn equality_compares_entries_not_shapes() {
    let a = spaced(500);
    let b = MapleTree::new_alloc();
    for i in (0..500u64).rev() {
        b.insert_range(i * 10..i * 10 + 5, i).unwrap();
    }
    assert_ne!(a.stats().nodes, 0);
    assert_eq!(a, b);
    b.store(0, 7).unwrap();
    assert_ne!(a, b);
    assert_eq!(MapleTree::<u8>::new(), MapleTree::<u8>::default());
}

#[test]
fn debug_prints_the_entries_and_dump_prints_values() {
    let tree: MapleTree<&str> = [(0..10, "a"), (20..30, "b")].into_iter().collect();
    assert_eq!(format!("{tree:?}"), r#"{0..=9: "a", 20..=29: "b"}"#);
    assert_eq!(
        format!("{tree:#x?}").lines().nth(1),
        Some(r#"    0x0..=0x9: "a","#)
    );
    let dump = tree.dump(DumpFormat::Dec).to_string();
    assert!(
        dump.contains("0-9: \"a\"\n") && dump.contains("20-29: \"b\"\n"),
        "{dump}"
    );
    let boxed: MapleTree<Vec<u8>> = [(0..1, vec![1, 2])].into_iter().collect();
    assert!(
        boxed
            .dump(DumpFormat::Hex)
            .to_string()
            .contains("0x0: [1, 2]\n")
    );
    // A range prints in one base in Display and Debug alike.
    let range = r(4096, 8191);
    assert_eq!(
        (range.to_string(), format!("{range:?}")),
        ("4096..=8191".into(), "4096..=8191".into())
    );
    assert_eq!(
        (format!("{range:#x}"), format!("{range:#x?}")),
        ("0x1000..=0x1fff".into(), "0x1000..=0x1fff".into())
    );
}

#[test]
fn taking_the_lock_twice_on_one_thread_panics_and_says_why() {
    let tree = MapleTree::new();
    let writer = tree.lock();
    let err = catch_unwind(AssertUnwindSafe(|| tree.insert(1, 1u32))).unwrap_err();
    let message = err
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| err.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("");
    assert!(
        message.contains("already holds this tree's lock"),
        "{message}"
    );
    // The guard held is untouched; once dropped, the lock is free again.
    drop(writer);
    tree.insert(1, 1).unwrap();
    // Another thread still waits for the lock instead of panicking.
    let writer = tree.lock();
    std::thread::scope(|s| {
        let other = s.spawn(|| tree.insert(2, 2));
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(writer);
        other.join().unwrap().unwrap();
    });
    assert_eq!(tree.len(), 2);
}
