//! Diagnostics: counters and sizes of a tree and its node pool ([`Stats`]), and the handles
//! leak checks use ([`NodeCounter`], [`flush_deferred`]).

use crate::node::pool::PoolStats;
use crate::sync::Arc;

/// Counters and sizes of a tree and its node pool at one moment; see
/// [`MapleTree::stats`](crate::MapleTree::stats).
///
/// Linux: what `mt_dump()` and the kernel's test harness report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Stats {
    /// Number of entries (values), as [`MapleTree::len`](crate::MapleTree::len).
    pub entries: usize,
    /// Levels of nodes: 0 for an empty tree, 1 for a single leaf (Linux: `mt_height()`).
    pub height: usize,
    /// Nodes in the tree, counted by a walk over all of them.
    pub nodes: usize,
    /// Nodes handed out by the tree's pool and not yet back in it: the tree's nodes and the
    /// replaced ones still waiting for readers to finish.
    pub live_nodes: usize,
    /// Bytes of memory the pool holds. Nodes are carved from chunks of up to 2 MiB, which are
    /// kept until the tree is dropped.
    pub pool_bytes: usize,
    /// Nodes handed out by the pool since the tree was created.
    pub nodes_handed_out: u64,
    /// Times a write had to get nodes beyond the pool's free list and the unused rest of its
    /// newest chunk (from reclaimed nodes or the system). A preallocated store never does.
    pub pool_refills: u64,
}

impl Stats {
    /// Bytes of the tree's nodes (256 each).
    pub fn node_bytes(&self) -> usize {
        self.nodes * 256
    }

    /// Bytes of node memory per entry; 0 for an empty tree.
    pub fn bytes_per_entry(&self) -> f64 {
        if self.entries == 0 {
            return 0.0;
        }
        #[expect(clippy::cast_precision_loss, reason = "a ratio for reports")]
        let ratio = self.node_bytes() as f64 / self.entries as f64;
        ratio
    }
}

/// Hands this thread's deferred frees (of replaced nodes and removed values) to the reclaimer
/// and runs those whose grace period is over.
///
/// Normal use never needs it: the reclaimer runs as threads pin and unpin. Leak checks call it
/// in a loop until their counters settle, since a value removed in RCU mode is dropped only
/// once every reader that might see it has finished.
///
/// # Examples
///
/// ```
/// let tree = maple_tree::MapleTree::new();
/// tree.insert(1, std::sync::Arc::new(5u8)).unwrap();
/// let value = tree.get(1).unwrap();
/// tree.erase(1);
/// for _ in 0..1000 {
///     if std::sync::Arc::strong_count(&value) == 1 {
///         break;
///     }
///     maple_tree::flush_deferred();
/// }
/// assert_eq!(std::sync::Arc::strong_count(&value), 1);
/// ```
///
/// Linux: `rcu_barrier()`, approximately.
#[cfg(feature = "std")]
pub fn flush_deferred() {
    crate::rcu::flush();
}

/// Node counters of a tree, kept alive after the tree is dropped (see
/// [`MapleTree::node_counter`](crate::MapleTree::node_counter)).
#[derive(Clone, Debug)]
pub struct NodeCounter(pub(crate) Arc<PoolStats>);

impl NodeCounter {
    /// Nodes handed out by the pool and not yet back in it.
    pub fn live(&self) -> usize {
        self.0.live()
    }

    /// Runs deferred frees that are due, repeatedly, until the live count is 0 or `timeout`
    /// has passed; returns the live count.
    ///
    /// Deferred frees wait for every thread pinned when they were queued, so on a busy
    /// process this can take a while.
    #[cfg(feature = "std")]
    pub fn settle(&self, timeout: std::time::Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        while self.live() != 0 && std::time::Instant::now() < deadline {
            flush_deferred();
            std::thread::yield_now();
        }
        self.live()
    }
}
