//! Allocation failure: every write either completes or leaves the tree exactly as it was.
//!
//! For each operation of a random workload, node reservations are allowed 0, 1, 2, ... more
//! nodes until the operation succeeds. After each failure the contents must equal the reference
//! model, every invariant must hold, and the pool's live-node count must be what it was before.
//! Runs in exclusive and RCU mode, on range and allocation trees, up to height 4.

mod common;

use common::{Model, Rng};
use maple_tree::{
    AllocErrorKind, ClearError, DumpFormat, GapRequest, InsertErrorKind, MapleTree, StoreErrorKind,
};

/// The outcome of one operation: it ran (and the model was updated), or it ran out of nodes.
enum Outcome {
    Done,
    OutOfMemory,
}

fn attempt(
    tree: &mut MapleTree<u32>,
    model: &mut Model,
    exclusive: bool,
    op: u64,
    first: u64,
    last: u64,
    value: u32,
) -> Outcome {
    let mut w = if exclusive {
        tree.exclusive()
    } else {
        tree.lock()
    };
    match op {
        0..=3 => match w.store_range(first..=last, value) {
            Ok(()) => model.store(first, last, Some(u64::from(value))),
            Err(e) => {
                assert_eq!(e.kind(), StoreErrorKind::OutOfMemory);
                assert_eq!(e.into_value(), value, "the value is handed back");
                return Outcome::OutOfMemory;
            }
        },
        4..=5 => match w.insert_range(first..=last, value) {
            Ok(()) => model.store(first, last, Some(u64::from(value))),
            Err(e) if e.kind() == InsertErrorKind::Occupied => {
                assert!(!model.is_vacant(first, last));
            }
            Err(e) => {
                assert_eq!(e.kind(), InsertErrorKind::OutOfMemory);
                assert_eq!(e.into_value(), value);
                return Outcome::OutOfMemory;
            }
        },
        6 => match w.clear_range(first..=last) {
            Ok(()) => model.store(first, last, None),
            Err(e) => {
                assert_eq!(e, ClearError::OutOfMemory);
                return Outcome::OutOfMemory;
            }
        },
        7..=8 => match w.try_erase(first) {
            Ok(erased) => assert_eq!(erased.map(u64::from), model.erase(first)),
            Err(_) => return Outcome::OutOfMemory,
        },
        _ => {
            let size = 1 + (last - first) % 64;
            let request = GapRequest::new(first..=first + 100_000, size);
            let expect = model.find_gap(first, first + 100_000, size, 1, false);
            match w.alloc_range_for(request, value) {
                Ok(start) => {
                    assert_eq!(Some(start), expect);
                    model.store(start, start + size - 1, Some(u64::from(value)));
                }
                Err(e) if e.kind() == AllocErrorKind::OutOfMemory => {
                    assert_eq!(e.into_value(), value);
                    return Outcome::OutOfMemory;
                }
                Err(e) => {
                    assert_eq!(expect, None, "{:?}", e.kind());
                }
            }
        }
    }
    Outcome::Done
}

/// Waits until every node the tree retired has been reclaimed, so that its live-node count is
/// exactly the nodes in the tree (RCU mode returns replaced nodes after a grace period).
fn quiesce(tree: &MapleTree<u32>) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while tree.stats().live_nodes != tree.stats().nodes && std::time::Instant::now() < deadline {
        maple_tree::flush_deferred();
        std::thread::yield_now();
    }
    assert_eq!(
        tree.stats().live_nodes,
        tree.stats().nodes,
        "retired nodes never came back"
    );
    tree.stats().live_nodes
}

fn workload(seed: u64, exclusive: bool, alloc: bool) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let mut tree = if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut model = Model::default();
    let (mut failures, mut max_height) = (0, 0);
    for step in 0..6_000u32 {
        let growing = step < 5_000;
        let first = rng.below(200_000);
        let span = match rng.below(50) {
            0 => rng.below(20_000),
            1..=5 => rng.below(600),
            _ => rng.below(12),
        };
        let last = first + span;
        let op = if growing {
            // Range trees have no gap search: op 9 becomes a store there.
            let op = rng.below(10);
            if op == 9 && !alloc { 0 } else { op }
        } else {
            [0, 6, 7, 8][usize::try_from(rng.below(4)).unwrap()]
        };
        let mut budget = 0;
        loop {
            let live = quiesce(&tree);
            let before = common::tree_entries(&tree, |&v| u64::from(v));
            tree.fail_reservations_after(Some(budget));
            let outcome = attempt(&mut tree, &mut model, exclusive, op, first, last, step);
            tree.fail_reservations_after(None);
            match outcome {
                Outcome::Done => break,
                Outcome::OutOfMemory => {
                    failures += 1;
                    assert_eq!(
                        common::tree_entries(&tree, |&v| u64::from(v)),
                        before,
                        "seed {seed} step {step} op {op} budget {budget}: a failed write changed the tree"
                    );
                    if let Err(e) = tree.check_invariants() {
                        panic!(
                            "seed {seed} step {step} budget {budget}: {e}\n{}",
                            tree.dump(DumpFormat::Dec)
                        );
                    }
                    assert_eq!(quiesce(&tree), live, "a failed write leaked or freed nodes");
                    budget += 1;
                }
            }
        }
        assert_eq!(
            common::tree_entries(&tree, |&v| u64::from(v)),
            model.entries(),
            "seed {seed} step {step}"
        );
        max_height = max_height.max(tree.stats().height);
    }
    tree.check_invariants().unwrap();
    let counter = tree.node_counter();
    drop(tree);
    assert_eq!(
        counter.settle(std::time::Duration::from_secs(120)),
        0,
        "nodes leaked"
    );
    (failures, max_height)
}

#[test]
fn failed_writes_leave_the_tree_unchanged() {
    for (seed, exclusive, alloc) in [
        (1, true, true),
        (2, false, true),
        (3, true, false),
        (4, false, false),
    ] {
        let (failures, height) = workload(seed, exclusive, alloc);
        assert!(failures > 1_000, "only {failures} injected failures");
        assert!(
            height >= if alloc { 4 } else { 3 },
            "only reached height {height}"
        );
        eprintln!("seed {seed}: {failures} injected failures, height up to {height}");
    }
}
