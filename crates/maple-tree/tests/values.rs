//! Any value type: what new users store first (`u64`, `usize`, `i64`, `bool`, `String`,
//! `&'static str`, `Rc`, `Box`, `Arc`, structs) goes in, comes back equal, is cloned when a store
//! cuts its entry in two and is dropped exactly once.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use maple_tree::{MapleTree, flush_deferred};

/// Stores `a` over [0, 99], cuts it with `b` over [40, 59], and checks every read path: the
/// three pieces, clones and borrows, iteration and erase.
fn cut_and_read<T>(a: T, b: T)
where
    T: Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static,
{
    let tree = MapleTree::new();
    tree.insert_range(0..100, a.clone()).unwrap();
    tree.store_range(40..60, b.clone()).unwrap();
    tree.check_invariants().unwrap();
    assert_eq!(tree.get(39).as_ref(), Some(&a));
    assert_eq!(tree.get(40).as_ref(), Some(&b));
    assert_eq!(tree.get(60).as_ref(), Some(&a));
    {
        let guard = tree.read();
        let seen: Vec<(u64, u64, T)> = guard
            .iter()
            .map(|(r, v)| (r.first(), r.last(), (*v).clone()))
            .collect();
        let want = vec![(0, 39, a.clone()), (40, 59, b.clone()), (60, 99, a.clone())];
        assert_eq!(seen, want);
        assert_eq!(*guard.get(70).unwrap(), a);
    }
    assert_eq!(tree.erase(45), Some(b));
    assert_eq!(tree.len(), 2);
    let mut tree = tree;
    assert_eq!(tree.exclusive().erase(0), Some(a));
    tree.check_invariants().unwrap();
}

#[test]
fn the_types_new_users_store_first_all_work() {
    cut_and_read(7u64, u64::MAX);
    cut_and_read(1u64 << 63, 3u64);
    cut_and_read(usize::MAX, 0usize);
    cut_and_read(-1i64, i64::MIN);
    cut_and_read(i64::MAX, 1 << 62);
    cut_and_read(isize::MIN, 5isize);
    cut_and_read(true, false);
    cut_and_read('a', char::MAX);
    cut_and_read(0u8, 255u8);
    cut_and_read(-7i32, i32::MAX);
    cut_and_read(1.5f32, -0.0f32);
    cut_and_read((), ());
    cut_and_read(String::from("left"), String::from("middle"));
    cut_and_read("static", "str");
    cut_and_read(Box::new(1u8), Box::new(2u8));
    cut_and_read(Arc::new(vec![1, 2]), Arc::new(vec![3]));
    cut_and_read((1u8, 2u16), (3u8, 4u16));
    cut_and_read([0u64; 4], [9u64; 4]);
    cut_and_read(f64::NAN.to_bits(), 0.5f64.to_bits());
}

#[test]
fn rc_values_work_through_exclusive_access() {
    // `Rc` is not `Send`: the tree is written through `&mut` (exclusive mode), where values are
    // dropped at once on this thread.
    let shared = Rc::new(Cell::new(0));
    let mut tree = MapleTree::new();
    let mut writer = tree.exclusive();
    writer.insert_range(0..10, Rc::clone(&shared)).unwrap();
    writer.store_range(3..5, Rc::new(Cell::new(9))).unwrap();
    assert_eq!(Rc::strong_count(&shared), 3, "the cut clones the Rc");
    writer.get(0).unwrap().set(1);
    assert_eq!(shared.get(), 1);
    drop(writer);
    assert_eq!(tree.read().get(4).map(|v| v.get()), Some(9));
    drop(tree);
    assert_eq!(Rc::strong_count(&shared), 1);
}

/// Counts its drops across clones.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn boxed_values_are_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counted = || Counted(Arc::clone(&drops));
    let tree = MapleTree::new();
    for i in 0..1_000u64 {
        tree.insert_range(i * 10..i * 10 + 8, counted()).unwrap();
    }
    for i in 0..100u64 {
        tree.store_range(i * 10 + 3..i * 10 + 5, counted()).unwrap();
    }
    for i in 0..100u64 {
        drop(tree.erase(i * 10 + 4));
    }
    tree.check_invariants().unwrap();
    let counter = tree.node_counter();
    drop(tree);
    for _ in 0..1_000 {
        if drops.load(Ordering::Relaxed) == 1_300 {
            break;
        }
        flush_deferred();
        std::thread::yield_now();
    }
    // Made: 1,000 inserted, 100 stored, 100 clones for the cut tails, 100 clones that erase
    // returns in RCU mode: every one dropped once.
    assert_eq!(drops.load(Ordering::Relaxed), 1_300);
    assert_eq!(counter.settle(std::time::Duration::from_secs(120)), 0);
}

#[test]
fn wide_integers_keep_every_bit_through_every_path() {
    // Values at and beyond the 63 bits a slot holds inline, mixed in one tree.
    let edges = [
        0,
        1,
        (1 << 62) - 1,
        1 << 62,
        (1 << 63) - 1,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ];
    let mut tree = MapleTree::new_alloc();
    let mut writer = tree.exclusive();
    for (i, &v) in (0u64..).zip(edges.iter()) {
        writer.insert_range(i * 2..=i * 2, v).unwrap();
    }
    assert_eq!(writer.alloc_range(.., 1, u64::MAX).unwrap(), 1);
    drop(writer);
    let copy = tree.try_clone().unwrap();
    for t in [&tree, &copy] {
        for (i, &v) in (0u64..).zip(edges.iter()) {
            assert_eq!(t.get(i * 2), Some(v));
            assert_eq!(*t.read().get(i * 2).unwrap(), v);
        }
        assert_eq!(t.get(1), Some(u64::MAX));
        t.check_invariants().unwrap();
    }
}
