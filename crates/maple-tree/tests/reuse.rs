//! Node reuse in RCU mode: the nodes a write replaces come back to the pool after a grace
//! period, handed back by whichever thread runs the reclaimer (a reader's thread, or the
//! writer's own), and the writer takes them again, so that a tree whose size stays the same
//! stops asking for memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use maple_tree::MapleTree;

/// One round of an mprotect-like churn on entry `j`: a store into its middle splits it in
/// three, a store over all of it merges it back. In RCU mode each store copies its leaf.
fn round(tree: &MapleTree<u32>, j: u64) {
    tree.store_range(16 * j + 3..=16 * j + 5, 2).unwrap();
    tree.store_range(16 * j..=16 * j + 9, 1).unwrap();
}

/// Waits until every node the tree retired is back in the pool: the nodes still handed out are
/// exactly those in the tree.
fn wait_for_reclaim(tree: &MapleTree<u32>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    // The writer's thread passes its deferred frees on to the global collector; they run on
    // whichever thread collects once the grace period is over (this one, or the reader's).
    maple_tree::flush_deferred();
    while tree.stats().live_nodes != tree.stats().nodes {
        assert!(Instant::now() < deadline, "retired nodes never came back");
        thread::yield_now();
    }
}

#[test]
fn rcu_writes_reuse_the_nodes_the_reclaimer_hands_back() {
    let mut tree = MapleTree::new();
    {
        let mut w = tree.exclusive();
        for j in 0..200u64 {
            w.insert_range(16 * j..=16 * j + 9, 1).unwrap();
        }
    }
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                // A reader pins, and its thread collects what other threads deferred.
                assert_eq!(tree.read().get(16 * 7).map(|v| *v), Some(1));
                maple_tree::flush_deferred();
                thread::yield_now();
            }
        });
        for j in 0..200 {
            round(&tree, j);
            wait_for_reclaim(&tree);
        }
        let warm = tree.stats();
        let handed_out = warm.nodes_handed_out;
        for j in 0..1000 {
            round(&tree, j % 200);
            wait_for_reclaim(&tree);
        }
        stop.store(true, Ordering::Relaxed);
        let now = tree.stats();
        let handed_out = now.nodes_handed_out - handed_out;
        assert!(
            handed_out >= 1000,
            "each round copies at least one leaf: {handed_out} nodes handed out, {now:?}"
        );
        // Without reuse the pool would grow by a node for every node handed out. With it, a
        // slow reclaimer may at most make a reservation carve one more chunk now and then.
        let node = now.node_bytes() / now.nodes;
        let grown = now.pool_bytes - warm.pool_bytes;
        assert!(
            grown * 10 < handed_out as usize * node,
            "the pool grew by {grown} bytes while every replaced node came back ({handed_out} \
             nodes handed out)"
        );
    });
    tree.check_invariants().unwrap();
    assert_eq!(tree.len(), 200);
}
