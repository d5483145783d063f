//! Where values removed in RCU mode are dropped, and what a panicking `Drop` does there: the
//! reclaimer drops them after a grace period, on whichever thread runs it (any thread that
//! pins), so this binary holds this one test, that no other test's thread runs its drops.

mod common;

use std::panic::catch_unwind;

use common::fragile::{Fragile, Ledger};
use maple_tree::MapleTree;

type Tree = MapleTree<Box<Fragile>>;

#[test]
fn a_panicking_drop_in_rcu_mode_still_drops_the_rest_of_its_write() {
    // The values a write removes in RCU mode are dropped by the reclaimer, on whichever thread
    // runs it, after a grace period. One of them panics: the others are dropped all the same,
    // and the panic comes out of the call that ran the reclaimer.
    let ledger = Ledger::new();
    let mut tree = Tree::new_alloc();
    let mut w = tree.exclusive();
    for i in 0..100 {
        w.insert_range(10 * i..=10 * i + 4, ledger.value_with(i, i == 37))
            .unwrap();
    }
    drop(w);
    tree.store_range(200..=600, ledger.value(1000)).unwrap();
    tree.check_invariants().unwrap();
    assert_eq!(tree.len(), 61);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut panicked = false;
    while ledger.live() > 61 && std::time::Instant::now() < deadline {
        panicked |= catch_unwind(maple_tree::flush_deferred).is_err();
        std::thread::yield_now();
    }
    assert!(panicked, "the panic did not come out of the reclaimer");
    assert_eq!(
        ledger.live(),
        61,
        "values the write removed were never dropped"
    );
}
