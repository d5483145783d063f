//! Public behaviour at the edges: index 0 and `u64::MAX`, full-range stores, rejected
//! arguments (handed back, never a panic), cursor states and double-ended iteration.

use core::ops::Bound;

use maple_tree::{
    AllocErrorKind, ClearError, CursorState, GapError, GapRequest, InsertErrorKind, MapleTree,
    Range, StoreErrorKind,
};

fn entries(tree: &MapleTree<u32>) -> Vec<(u64, u64, u32)> {
    tree.read()
        .iter()
        .map(|(r, v)| (r.first(), r.last(), *v))
        .collect()
}

#[test]
fn edges_of_the_key_space_are_ordinary_indices() {
    let tree = MapleTree::new();
    tree.insert(0, 1u32).unwrap();
    tree.insert(u64::MAX, 2u32).unwrap();
    tree.insert_range(u64::MAX - 10..=u64::MAX - 1, 3u32)
        .unwrap();
    assert_eq!(tree.get(0), Some(1));
    assert_eq!(tree.get(u64::MAX), Some(2));
    assert_eq!(tree.get(u64::MAX - 5), Some(3));
    assert_eq!(tree.get(1), None);
    assert_eq!(
        entries(&tree),
        [
            (0, 0, 1),
            (u64::MAX - 10, u64::MAX - 1, 3),
            (u64::MAX, u64::MAX, 2)
        ]
    );
    tree.check_invariants().unwrap();
    assert_eq!(tree.erase(u64::MAX), Some(2));
    assert_eq!(tree.erase(0), Some(1));
    assert_eq!(entries(&tree), [(u64::MAX - 10, u64::MAX - 1, 3)]);
}

#[test]
fn full_range_store_and_clear() {
    let tree = MapleTree::new();
    for i in 0..100u32 {
        tree.insert_range(u64::from(i) * 10..=u64::from(i) * 10 + 4, i)
            .unwrap();
    }
    tree.store_range(0..=u64::MAX, 7u32).unwrap();
    assert_eq!(entries(&tree), [(0, u64::MAX, 7)]);
    assert_eq!((tree.len(), tree.stats().height), (1, 1));
    // Cutting the full-range entry in the middle leaves two pieces with their own values.
    tree.store_range(10..=20, 8u32).unwrap();
    assert_eq!(entries(&tree), [(0, 9, 7), (10, 20, 8), (21, u64::MAX, 7)]);
    tree.clear_range(0..=u64::MAX).unwrap();
    assert!(tree.is_empty());
    assert_eq!(tree.stats().height, 0);
    assert_eq!(tree.get(5), None);
    tree.check_invariants().unwrap();
}

#[test]
#[expect(
    clippy::reversed_empty_ranges,
    reason = "empty ranges are the input under test"
)]
fn rejected_arguments_hand_the_value_back() {
    let tree = MapleTree::new();
    let err = tree.insert_range(5..=4, 1u32).unwrap_err();
    assert_eq!(
        (err.kind(), err.into_value()),
        (InsertErrorKind::InvalidRange, 1)
    );
    let err = tree.store_range(9..=3, 2u32).unwrap_err();
    assert_eq!(
        (err.kind(), err.into_value()),
        (StoreErrorKind::InvalidRange, 2)
    );
    assert_eq!(
        tree.clear_range(1..=0),
        Err(maple_tree::ClearError::InvalidRange)
    );
    tree.insert_range(10..=20, 3u32).unwrap();
    let err = tree.insert_range(20..=30, 4u32).unwrap_err();
    assert_eq!((err.kind(), *err.value()), (InsertErrorKind::Occupied, 4));
    assert!(tree.is_empty() || tree.len() == 1);
}

#[test]
#[expect(
    clippy::reversed_empty_ranges,
    reason = "empty ranges are the input under test"
)]
fn gap_requests_are_validated() {
    let tree = MapleTree::<u32>::new_alloc();
    assert_eq!(tree.find_gap(0..=100, 0), Err(GapError::ZeroSize));
    assert_eq!(tree.find_gap(100..=0, 1), Err(GapError::InvalidRange));
    assert_eq!(tree.find_gap(0..=9, 11), Err(GapError::NoSpace));
    assert_eq!(tree.find_gap(0..=9, 10), Ok(0));
    assert_eq!(tree.find_gap_rev(0..=9, 10), Ok(0));
    let request = GapRequest::new(0..=100, 4).align(3);
    assert_eq!(
        tree.read().find_gap_for(request),
        Err(GapError::InvalidAlignment)
    );
    // The largest possible size fits only in an empty tree over the whole space minus one.
    assert_eq!(tree.find_gap(0..=u64::MAX, u64::MAX), Ok(0));
    assert_eq!(tree.find_gap_rev(0..=u64::MAX, u64::MAX), Ok(1));
    let err = tree.alloc_range(0..=10, 0, 5u32).unwrap_err();
    assert_eq!(err.into_value(), 5);
}

#[test]
fn reverse_gap_search_finds_fits_under_the_leftmost_slot() {
    // The kernel's reverse search with max = 2^64 - 1 misses a fit below the first entry.
    let tree = MapleTree::new_alloc();
    tree.insert_range(100..=u64::MAX, 1u32).unwrap();
    assert_eq!(tree.find_gap_rev(0..=u64::MAX, 10), Ok(90));
    assert_eq!(tree.find_gap_rev(0..=u64::MAX, 100), Ok(0));
    assert_eq!(tree.find_gap_rev(0..=u64::MAX, 101), Err(GapError::NoSpace));
    assert_eq!(tree.find_gap(0..=u64::MAX, 100), Ok(0));
}

#[test]
#[expect(
    clippy::reversed_empty_ranges,
    reason = "empty ranges are the input under test"
)]
fn find_rev_respects_min_when_the_only_entry_is_at_zero() {
    // The kernel's mas_find_rev ignores min when the tree is a single [0, 0] entry.
    let tree = MapleTree::new();
    tree.insert(0, 1u32).unwrap();
    let guard = tree.read();
    assert!(guard.find_rev(1..=5).is_none());
    assert_eq!(guard.find_rev(0..=5).map(|(_, v)| *v), Some(1));
    assert!(guard.find(1..).is_none());
    assert!(
        guard.find(5..5).is_none(),
        "an empty interval finds nothing"
    );
    assert!(
        guard.find_rev(5..=4).is_none(),
        "an empty interval finds nothing"
    );
}

#[test]
fn alloc_range_fills_from_both_ends() {
    let tree = MapleTree::new_alloc();
    assert_eq!(tree.alloc_range(0..=99, 10, 1u32).unwrap(), 0);
    assert_eq!(tree.alloc_range_rev(0..=99, 10, 2u32).unwrap(), 90);
    assert_eq!(tree.alloc_range(0..=99, 10, 3u32).unwrap(), 10);
    assert_eq!(tree.alloc_range_rev(0..=99, 10, 4u32).unwrap(), 80);
    let request = GapRequest::new(0..=99, 5).align(16);
    let start = tree.lock().alloc_range_for(request, 5u32).unwrap();
    assert_eq!(start, 32);
    let request = GapRequest::new(0..=99, 5).align(16).top_down();
    assert_eq!(tree.lock().alloc_range_for(request, 6u32).unwrap(), 64);
    let err = tree.alloc_range(0..=99, 81, 7u32).unwrap_err();
    assert_eq!(
        err.kind(),
        maple_tree::AllocErrorKind::Gap(GapError::NoSpace)
    );
    tree.check_invariants().unwrap();
    // Near the top of the key space.
    assert_eq!(
        tree.alloc_range_rev(0..=u64::MAX, 16, 8u32).unwrap(),
        u64::MAX - 15
    );
    assert_eq!(tree.get(u64::MAX), Some(8));
}

#[test]
fn iteration_is_double_ended_and_bounded() {
    let tree = MapleTree::new();
    for i in 0..50u32 {
        tree.insert_range(u64::from(i) * 10..=u64::from(i) * 10 + 4, i)
            .unwrap();
    }
    let guard = tree.read();
    let fwd: Vec<u32> = guard.iter().map(|(_, v)| *v).collect();
    assert_eq!(fwd, (0..50).collect::<Vec<_>>());
    let back: Vec<u32> = guard.iter().rev().map(|(_, v)| *v).collect();
    assert_eq!(back, (0..50).rev().collect::<Vec<_>>());
    // Entries intersecting the range are included even if they start before it.
    let some: Vec<u32> = guard.range(42..=77).map(|(_, v)| *v).collect();
    assert_eq!(some, [4, 5, 6, 7]);
    let none: Vec<u32> = guard.range(45..50).map(|(_, v)| *v).collect();
    assert!(none.is_empty());
    // Meeting in the middle yields every entry once.
    let mut it = guard.range(100..=199);
    let mut seen = Vec::new();
    while let Some((_, v)) = it.next() {
        seen.push(*v);
        if let Some((_, w)) = it.next_back() {
            seen.push(*w);
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (10..20).collect::<Vec<_>>());
    assert_eq!(guard.range(..).count(), 50);
    assert_eq!(
        guard
            .range((
                core::ops::Bound::Excluded(u64::MAX),
                core::ops::Bound::Unbounded
            ))
            .count(),
        0
    );
}

#[test]
fn cursor_overflow_resumes_with_a_larger_limit() {
    let tree = MapleTree::new();
    for i in 1..=5u32 {
        tree.insert_range(u64::from(i) * 100..=u64::from(i) * 100 + 9, i)
            .unwrap();
    }
    let guard = tree.read();
    let mut cursor = guard.cursor(0);
    assert_eq!(cursor.find(250).map(|(_, v)| *v), Some(1));
    assert_eq!(cursor.next(250).map(|(_, v)| *v), Some(2));
    assert!(cursor.next(250).is_none());
    assert_eq!(cursor.state(), CursorState::Overflow);
    assert_eq!(cursor.next(1000).map(|(_, v)| *v), Some(3));
    assert_eq!(cursor.prev(0).map(|(_, v)| *v), Some(2));
    assert!(cursor.prev(250).is_none());
    assert_eq!(cursor.state(), CursorState::Underflow);
    assert_eq!(cursor.prev(0).map(|(_, v)| *v), Some(1));
    // Empty ranges are visible through next_range.
    let (range, value) = cursor.next_range(u64::MAX).unwrap();
    assert_eq!((range, value), (Range::new(110, 199).unwrap(), None));
    cursor.pause();
    assert_eq!(cursor.next(u64::MAX).map(|(_, v)| *v), Some(2));
    assert_eq!(cursor.walk().map(|v| *v), Some(2));
    cursor.set(450);
    assert_eq!(cursor.walk(), None);
    assert_eq!(cursor.range(), Range::new(410, 499).unwrap());
}

#[test]
fn cursor_on_an_empty_tree() {
    let tree = MapleTree::<u32>::new();
    let guard = tree.read();
    let mut cursor = guard.cursor(7);
    assert_eq!(cursor.walk(), None);
    assert_eq!(cursor.state(), CursorState::Empty);
    assert!(cursor.next(u64::MAX).is_none());
    assert!(cursor.find(u64::MAX).is_none());
    assert!(guard.iter().next().is_none());
}

#[test]
fn write_cursor_stores_and_erases_where_it_stands() {
    let tree = MapleTree::new();
    let mut writer = tree.lock();
    for i in 0..10u32 {
        writer
            .insert_range(u64::from(i) * 10..=u64::from(i) * 10 + 4, i)
            .unwrap();
    }
    let mut cursor = writer.cursor_mut(0);
    while let Some((range, value)) = cursor.find(u64::MAX) {
        if value % 3 == 0 {
            assert_eq!(cursor.erase(), Some(value));
        } else {
            cursor.set_range(range.first()..=range.last()).unwrap();
            cursor.store(value * 100).unwrap();
        }
        cursor.set(range.last() + 1);
    }
    let left: Vec<u32> = writer.iter().map(|(_, v)| *v).collect();
    assert_eq!(left, [100, 200, 400, 500, 700, 800]);
}

#[test]
fn exclusive_erase_returns_the_original_value() {
    let mut tree = MapleTree::new();
    let value = Box::new(String::from("x"));
    let address = core::ptr::from_ref::<String>(&value);
    tree.insert(3, value).unwrap();
    let back = tree.exclusive().erase(3).unwrap();
    assert!(
        core::ptr::eq(core::ptr::from_ref::<String>(&back), address),
        "exclusive erase must not clone"
    );
}

#[test]
fn erasing_a_full_range_entry_hands_back_a_live_value() {
    // Regression: an exclusive erase of an entry over every index replaced the whole tree and
    // dropped the value it then returned.
    for exclusive in [true, false] {
        let mut tree = MapleTree::new_alloc();
        tree.store_range(0..=u64::MAX, std::sync::Arc::new(5u64))
            .unwrap();
        let value = if exclusive {
            tree.exclusive().erase(77)
        } else {
            tree.erase(77)
        };
        assert_eq!(value.as_deref(), Some(&5));
        assert!(tree.is_empty());
        let value = value.unwrap();
        let counter = tree.node_counter();
        drop(tree);
        counter.settle(std::time::Duration::from_secs(120));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::sync::Arc::strong_count(&value) > 1 && std::time::Instant::now() < deadline {
            maple_tree::flush_deferred();
        }
        assert_eq!(std::sync::Arc::strong_count(&value), 1);
    }
}

#[test]
fn trees_are_send_and_sync_when_their_values_are() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<MapleTree<u32>>();
    send_sync::<MapleTree<Box<String>>>();
    send_sync::<MapleTree<std::sync::Arc<Vec<u8>>>>();
    // Readers on other threads see what the writer stored.
    let tree = std::sync::Arc::new(MapleTree::new());
    tree.insert_range(0..=9, Box::new(String::from("shared")))
        .unwrap();
    let reader = {
        let tree = std::sync::Arc::clone(&tree);
        std::thread::spawn(move || tree.read().get(5).map(|s| s.len()))
    };
    assert_eq!(reader.join().unwrap(), Some(6));
}

#[test]
fn every_range_form_means_the_same_indices() {
    use core::ops::Bound::{Excluded, Included, Unbounded};

    // Each form names [10, 19]: the same store, the same entry.
    let forms: [(Bound<u64>, Bound<u64>); 4] = [
        (Included(10), Excluded(20)),
        (Included(10), Included(19)),
        (Excluded(9), Included(19)),
        (Excluded(9), Excluded(20)),
    ];
    for form in forms {
        let tree = MapleTree::new();
        tree.insert_range(form, 1u32).unwrap();
        assert_eq!(entries(&tree), [(10, 19, 1)], "{form:?}");
    }
    let tree = MapleTree::new();
    tree.insert_range(10..20, 1u32).unwrap();
    tree.insert_range(Range::new(20, 29).unwrap(), 2).unwrap();
    tree.store_range(30..=39, 3).unwrap();
    tree.store_range(40.., 4).unwrap();
    tree.store_range(..5, 5).unwrap();
    assert_eq!(
        entries(&tree),
        [
            (0, 4, 5),
            (10, 19, 1),
            (20, 29, 2),
            (30, 39, 3),
            (40, u64::MAX, 4)
        ]
    );
    tree.clear_range(..).unwrap();
    assert!(tree.is_empty());
    tree.check_invariants().unwrap();

    // Every form that holds no index is rejected, by every method that takes a range.
    let empty: [(Bound<u64>, Bound<u64>); 5] = [
        (Included(5), Excluded(5)),
        (Included(6), Included(5)),
        (Excluded(5), Excluded(6)),
        (Excluded(u64::MAX), Unbounded),
        (Unbounded, Excluded(0)),
    ];
    let alloc = MapleTree::new_alloc();
    for form in empty {
        assert_eq!(Range::from_bounds(form), None, "{form:?}");
        let e = tree.insert_range(form, 1u32).unwrap_err();
        assert_eq!(
            (e.kind(), e.into_value()),
            (InsertErrorKind::InvalidRange, 1)
        );
        let e = tree.store_range(form, 2u32).unwrap_err();
        assert_eq!(
            (e.kind(), e.into_value()),
            (StoreErrorKind::InvalidRange, 2)
        );
        assert_eq!(tree.clear_range(form), Err(ClearError::InvalidRange));
        assert_eq!(alloc.find_gap(form, 1), Err(GapError::InvalidRange));
        assert_eq!(alloc.find_gap_rev(form, 1), Err(GapError::InvalidRange));
        let e = alloc.alloc_range(form, 1, 3u32).unwrap_err();
        assert_eq!(
            (e.kind(), e.into_value()),
            (AllocErrorKind::Gap(GapError::InvalidRange), 3)
        );
        let guard = tree.read();
        assert!(guard.find(form).is_none() && guard.find_rev(form).is_none());
        assert_eq!(guard.range(form).count(), 0);
    }
    assert!(tree.is_empty() && alloc.is_empty());
    assert!(
        tree.lock().preallocate(5..5, 1).is_err() && tree.lock().preallocate_clear(5..5).is_err()
    );
}

#[test]
fn gap_and_allocation_calls_take_range_then_size_then_value() {
    let tree = MapleTree::new_alloc();
    tree.insert_range(0..0x1000, 1u32).unwrap();
    // One order everywhere: where, how many, what.
    assert_eq!(tree.find_gap(0x1000.., 0x100), Ok(0x1000));
    assert_eq!(tree.find_gap_rev(..0x4000, 0x100), Ok(0x3f00));
    assert_eq!(tree.alloc_range(0x1000.., 0x100, 2).unwrap(), 0x1000);
    assert_eq!(tree.alloc_range_rev(..0x4000, 0x100, 3).unwrap(), 0x3f00);
    let request = GapRequest::new(0x1000.., 0x100).align(0x1000);
    assert_eq!(tree.read().find_gap_for(request), Ok(0x2000));
    assert_eq!(tree.lock().alloc_range_for(request, 4).unwrap(), 0x2000);
    tree.check_invariants().unwrap();
}

#[test]
fn gap_search_answers_the_same_in_range_and_allocation_trees() {
    // A range tree keeps no gap records, yet its gap search and allocations give the same
    // answers as an allocation tree's (by visiting leaves) and as the reference model's.
    let plain = MapleTree::new();
    let alloc = MapleTree::new_alloc();
    let mut model = maple_tree::testing::RangeModel::default();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for i in 0..3_000u32 {
        let first = next(100_000);
        let last = first + next(40);
        if plain.insert_range(first..=last, i).is_ok() {
            alloc.insert_range(first..=last, i).unwrap();
            model.store(first, last, Some(u64::from(i)));
        }
    }
    assert!(plain.stats().height >= 3 && alloc.stats().height >= 3);
    for _ in 0..2_000 {
        let (a, b) = (next(110_000), next(110_000));
        let (min, max) = (a.min(b), a.max(b));
        let size = 1 + next(30);
        let align = 1 << next(4);
        for rev in [false, true] {
            let mut request = GapRequest::new(min..=max, size).align(align);
            if rev {
                request = request.top_down();
            }
            let want = model
                .find_gap(min, max, size, align, rev)
                .ok_or(GapError::NoSpace);
            assert_eq!(plain.read().find_gap_for(request), want, "{request:?}");
            assert_eq!(alloc.read().find_gap_for(request), want, "{request:?}");
        }
    }
    for i in 0..500u32 {
        let size = 1 + next(64);
        let (p, a) = (
            plain.alloc_range(.., size, i).unwrap(),
            alloc.alloc_range(.., size, i).unwrap(),
        );
        assert_eq!(p, a);
        let (p, a) = (
            plain.alloc_range_rev(..=200_000, size, i).unwrap(),
            alloc.alloc_range_rev(..=200_000, size, i).unwrap(),
        );
        assert_eq!(p, a);
    }
    plain.check_invariants().unwrap();
    alloc.check_invariants().unwrap();
}
