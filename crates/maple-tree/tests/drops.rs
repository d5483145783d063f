//! Drop counting: every value stored in a tree is dropped exactly once, whatever path removed
//! it (overwrite, cut, clear, erase, teardown), in both modes, and no node outlives the tree.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Counted, Model, Rng};
use maple_tree::{GapRequest, MapleTree};

/// Counts values made (by `Counted::new` and clones) and dropped.
struct Ledger {
    made: Arc<AtomicUsize>,
    drops: Arc<AtomicUsize>,
}

impl Ledger {
    fn new() -> Self {
        Self {
            made: Arc::new(AtomicUsize::new(0)),
            drops: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn value(&self, id: u64) -> Box<Counted> {
        self.made.fetch_add(1, Ordering::Relaxed);
        Counted::new(id, &self.drops)
    }

    fn live(&self, tree_clones: usize) -> usize {
        self.made.load(Ordering::Relaxed) + tree_clones - self.drops.load(Ordering::Relaxed)
    }

    /// Runs deferred drops until nothing is alive or ten seconds have passed.
    fn settle(&self, tree_clones: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while self.live(tree_clones) != 0 && std::time::Instant::now() < deadline {
            maple_tree::flush_deferred();
            std::thread::yield_now();
        }
    }
}

/// Clones made inside the tree are counted by the drop counter but not by `made`; count them
/// by comparing against the reference model's number of entries instead.
fn churn(exclusive: bool, seed: u64) {
    let ledger = Ledger::new();
    let mut rng = Rng::new(seed);
    let mut tree = MapleTree::new_alloc();
    let mut model = Model::default();
    let mut clones = 0;
    for step in 0..4000u64 {
        let first = rng.below(3000);
        let span = if rng.chance(5) { 600 } else { 30 };
        let last = first + rng.below(span);
        {
            let mut w = if exclusive {
                tree.exclusive()
            } else {
                tree.lock()
            };
            match rng.below(6) {
                0 | 1 => {
                    // A store inside one entry cuts it in two: the tail is a clone.
                    let cuts = model
                        .get(first)
                        .is_some_and(|(f, l, _)| f < first && l > last);
                    w.store_range(first..=last, ledger.value(step)).unwrap();
                    model.store(first, last, Some(step));
                    clones += usize::from(cuts);
                }
                2 => {
                    let cuts = model
                        .get(first)
                        .is_some_and(|(f, l, _)| f < first && l > last);
                    w.clear_range(first..=last).unwrap();
                    model.store(first, last, None);
                    clones += usize::from(cuts);
                }
                3 => {
                    // A failed insert hands its value back, which the test then drops.
                    if w.insert_range(first..=last, ledger.value(step)).is_ok() {
                        model.store(first, last, Some(step));
                    }
                }
                4 => {
                    // Erase hands back the value (a clone in RCU mode).
                    let erased = w.erase(first);
                    assert_eq!(erased.as_ref().map(|c| c.id), model.erase(first));
                    clones += usize::from(!exclusive && erased.is_some());
                }
                _ => {
                    let size = 1 + rng.below(40);
                    let request = GapRequest::new(0..=4000, size);
                    let start = w.find_gap_for(request).ok();
                    match w.alloc_range_for(request, ledger.value(step)) {
                        Ok(s) => {
                            assert_eq!(Some(s), start);
                            model.store(s, s + size - 1, Some(step));
                        }
                        Err(e) => drop(e.into_value()),
                    }
                }
            }
        }
        assert_eq!(tree.len(), model.len());
        if exclusive {
            // Exclusive mode drops at once: exactly the stored values are alive.
            assert_eq!(ledger.live(clones), tree.len(), "step {step}");
        }
    }
    tree.check_invariants().unwrap();
    let counter = tree.node_counter();
    drop(tree);
    assert_eq!(
        counter.settle(std::time::Duration::from_secs(120)),
        0,
        "nodes leaked"
    );
    // Deferred drops have run once the nodes have: nothing is alive, nothing dropped twice.
    ledger.settle(clones);
    assert_eq!(ledger.live(clones), 0, "values leaked or dropped twice");
}

#[test]
fn every_value_dropped_once_in_exclusive_mode() {
    churn(true, 1);
}

#[test]
fn every_value_dropped_once_in_rcu_mode() {
    churn(false, 2);
}

#[test]
fn teardown_drops_every_value_of_every_shape() {
    for n in [0u64, 1, 15, 16, 17, 100, 1000, 20_000] {
        for alloc in [false, true] {
            let ledger = Ledger::new();
            let mut tree = if alloc {
                MapleTree::new_alloc()
            } else {
                MapleTree::new()
            };
            let mut w = tree.exclusive();
            for i in 0..n {
                w.insert(i * 3, ledger.value(i)).unwrap();
            }
            drop(w);
            assert_eq!(ledger.live(0), usize::try_from(n).unwrap());
            let counter = tree.node_counter();
            drop(tree);
            assert_eq!(ledger.live(0), 0, "n {n}");
            assert_eq!(counter.live(), 0, "n {n}: nodes leaked");
        }
    }
}

#[test]
fn clear_in_rcu_mode_defers_but_drops_everything() {
    let ledger = Ledger::new();
    let tree = MapleTree::new();
    for i in 0..5000 {
        tree.insert(i, ledger.value(i)).unwrap();
    }
    let guard = tree.read();
    let held = guard.get(42).map(|c| c.id);
    tree.clear();
    // The reader still sees the value it borrowed before the clear.
    assert_eq!(held, Some(42));
    assert_eq!(guard.get(42).map(|c| c.id), None);
    drop(guard);
    let counter = tree.node_counter();
    drop(tree);
    assert_eq!(counter.settle(std::time::Duration::from_secs(120)), 0);
    ledger.settle(0);
    assert_eq!(ledger.live(0), 0);
}
