//! Aliasing: a reader's borrow of a value stays valid while the writer clones, reads and drops
//! values around it. These tests pass natively; they exist for Miri, whose Tree Borrows model
//! rejects a write path that disturbs a reader's borrow:
//!
//! ```text
//! MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks" cargo +nightly miri test -p maple-tree --test borrows
//! ```
//!
//! (Leaks are ignored because deferred frees may still be queued in crossbeam's global collector
//! when the process exits. Stacked Borrows stops inside crossbeam-epoch's own list code before it
//! reaches ours; the value layer alone is checked under Stacked Borrows by the unit tests in
//! `src/node/entry.rs`: `cargo +nightly miri test -p maple-tree --lib node::entry`.)

use maple_tree::MapleTree;

#[test]
fn a_value_cut_in_two_is_cloned_without_disturbing_its_readers() {
    let tree: MapleTree<String> = MapleTree::new();
    tree.insert_range(0..=99, String::from("whole")).unwrap();
    let guard = tree.read();
    let seen = guard.get(10).unwrap();
    // The store cuts [0, 99] in two: the tail needs a clone of the value the reader holds.
    tree.store_range(40..=59, String::from("middle")).unwrap();
    assert_eq!(*seen, "whole");
    drop(guard);
    assert_eq!(tree.get(70).as_deref(), Some("whole"));
}

#[test]
fn an_erased_value_is_cloned_for_the_caller_without_disturbing_its_readers() {
    let tree: MapleTree<Box<u64>> = MapleTree::new();
    tree.insert_range(5..=9, Box::new(7)).unwrap();
    let guard = tree.read();
    let seen = guard.get(6).unwrap();
    assert_eq!(tree.erase(7).as_deref(), Some(&7));
    assert_eq!(**seen, 7);
    assert_eq!(tree.get_range(6).map(|(r, v)| (r.first(), *v)), None);
    drop(guard);
}

#[test]
fn a_value_read_by_a_writer_keeps_readers_borrows_valid() {
    let tree: MapleTree<Box<u64>> = MapleTree::new();
    tree.insert_range(5..=9, Box::new(7)).unwrap();
    let guard = tree.read();
    let seen = guard.get(6).unwrap();
    // A clone through the convenience API, then one through a writing cursor.
    assert_eq!(tree.get(6).as_deref(), Some(&7));
    {
        let mut writer = tree.lock();
        let mut cursor = writer.cursor_mut(0);
        assert_eq!(cursor.find(u64::MAX).map(|(_, v)| *v), Some(7));
    }
    assert_eq!(**seen, 7);
    drop(guard);
}
