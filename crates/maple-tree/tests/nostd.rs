//! The tree without `std` (`cargo test -p maple-tree --no-default-features --test nostd`; CI
//! also builds the library for `x86_64-unknown-none`): exclusive writes, reads, cursors,
//! iteration, gap search and allocation, copies, and the checks, as an OS kernel or a
//! hypervisor would use them. The test harness has `std`; the library under test does not.

use maple_tree::{GapRequest, MapleTree, Range};

#[test]
fn everything_but_rcu_mode_works_without_std() {
    let mut tree = MapleTree::new_alloc();
    let mut writer = tree.exclusive();
    for i in 0..2_000u64 {
        writer.insert_range(i * 16..i * 16 + 10, i).unwrap();
    }
    writer.store_range(100..=200, 7).unwrap();
    assert_eq!(writer.erase(500), Some(31));
    let start = writer
        .alloc_range_for(GapRequest::new(.., 64).align(64).top_down(), 9)
        .unwrap();
    assert_eq!(start, u64::MAX - 63);
    let mut cursor = writer.cursor_mut(0);
    assert_eq!(
        cursor.find(u64::MAX).map(|(r, v)| (r.first(), v)),
        Some((0, 0))
    );
    drop(writer);

    assert_eq!(tree.get(150), Some(7));
    assert_eq!(tree.find_gap(0..1_000, 6), Ok(10));
    assert_eq!(
        tree.find_gap(0..1_000, 7),
        Ok(490),
        "where 500's entry was erased"
    );
    assert!(tree.contains(16) && !tree.contains(10));
    let guard = tree.read();
    let mut cursor = guard.cursor(40);
    assert_eq!(
        cursor.find(u64::MAX).map(|(r, v)| (r.first(), *v)),
        Some((32, 2))
    );
    assert_eq!(
        guard.gaps(0..32).collect::<Vec<_>>(),
        [Range::new(10, 15).unwrap(), Range::new(26, 31).unwrap()]
    );
    drop(cursor);
    drop(guard);
    *tree.get_mut(16).unwrap() += 1;
    assert_eq!(tree.iter().nth(1).map(|(_, v)| v), Some(2));
    let copy = tree.try_clone().unwrap();
    assert_eq!(copy, tree);
    assert_eq!(copy.stats().entries, tree.len());
    tree.check_invariants().unwrap();
    copy.check_invariants().unwrap();
}
