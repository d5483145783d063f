//! The node pool: every node of a tree is allocated and freed here.
//!
//! The pool keeps a small free list so that a writer in exclusive mode reuses the nodes it has
//! just replaced (the kernel's non-RCU mode pushes freed nodes back into `mas->alloc` for the same
//! reason), and it counts nodes for tests and memory reports.
//!
//! Freeing follows invariant N4 of [`crate::node`]:
//! - [`Pool::recycle`] puts a node that no reader can reach on the free list. The memory stays
//!   allocated, so a stale handle inside the running write operation can never dangle; the list
//!   is trimmed back to [`FREE_LIST_CAP`] by [`Pool::trim`] once the operation is over.
//! - [`Pool::retire`] hands an unlinked, dead node to the reclaimer, which frees it after every
//!   reader that might still see it has unpinned.
//!
//! Linux: `mt_alloc_one()`, `mas_alloc_nodes()`, `mas_pop_node()`, `mas_push_node()`,
//! `ma_free_rcu()`.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{Node, NodeKind, NodePtr, NodeRef};
use crate::error::OutOfMemory;
use crate::rcu::{self, Guard};

/// How many free nodes a pool keeps between write operations (16 KiB).
pub(crate) const FREE_LIST_CAP: usize = 64;

/// Counters shared between a tree and the reclaimer's deferred frees, which may run after the
/// tree is gone.
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    /// Nodes allocated from the global allocator and not yet given back.
    live: AtomicUsize,
    /// Nodes handed out by [`Pool::alloc`] since the pool was created.
    handed_out: AtomicU64,
}

impl PoolStats {
    /// Nodes currently allocated, including the free list and nodes waiting for a grace period.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Nodes handed out by the pool since it was created.
    pub(crate) fn handed_out(&self) -> u64 {
        self.handed_out.load(Ordering::Relaxed)
    }
}

/// A tree's node allocator. Only the writer touches it (through the tree lock or `&mut`).
#[derive(Debug)]
pub(crate) struct Pool {
    stats: Arc<PoolStats>,
    free: Vec<NodePtr>,
}

const LAYOUT: Layout = Layout::new::<Node>();

impl Pool {
    pub(crate) fn new() -> Self {
        Self {
            stats: Arc::new(PoolStats::default()),
            free: Vec::new(),
        }
    }

    /// The shared counters.
    pub(crate) fn stats(&self) -> &Arc<PoolStats> {
        &self.stats
    }

    /// Hands out a zeroed node of `kind`, owned by the caller until it is published.
    ///
    /// The handle's lifetime is the caller's write operation: the node stays allocated until it
    /// is recycled or retired (invariant N4).
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when the global allocator has no memory.
    pub(crate) fn alloc<'a>(&mut self, kind: NodeKind) -> Result<NodeRef<'a>, OutOfMemory> {
        let node = match self.free.pop() {
            Some(ptr) => {
                // SAFETY: nodes on the free list are allocated and unreachable from the tree.
                let node = unsafe { ptr.deref() };
                node.clear();
                NodePtr::new(node.ptr().untagged(), kind)
            }
            None => {
                // SAFETY: `Node` has a non-zero size.
                let raw = unsafe { alloc_zeroed(LAYOUT) }.cast::<Node>();
                let raw = core::ptr::NonNull::new(raw).ok_or(OutOfMemory)?;
                self.stats.live.fetch_add(1, Ordering::Relaxed);
                NodePtr::new(raw, kind)
            }
        };
        self.stats.handed_out.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the node was just allocated or taken off the free list; it stays allocated
        // until the caller recycles or retires it.
        Ok(unsafe { node.deref() })
    }

    /// Takes back a node that no reader can reach: one never published, or one unlinked in
    /// exclusive mode.
    pub(crate) fn recycle(&mut self, node: NodeRef<'_>) {
        self.free.push(node.ptr());
    }

    /// Retires an unlinked node that readers may still see: marks it dead and frees it after a
    /// grace period. Linux: `mte_set_node_dead()` + `ma_free_rcu()`.
    pub(crate) fn retire(&self, node: NodeRef<'_>, guard: &Guard) {
        node.mark_dead();
        let ptr = node.ptr();
        let stats = Arc::clone(&self.stats);
        rcu::defer(guard, move || {
            // SAFETY: the node was unlinked and marked dead before being retired, and the
            // reclaimer runs this only after every guard that could have reached it is gone.
            unsafe { free_node(ptr) };
            stats.live.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Gives free nodes beyond [`FREE_LIST_CAP`] back to the global allocator. Called when a write
    /// operation has finished, so no handle to a recycled node is left.
    pub(crate) fn trim(&mut self) {
        while self.free.len() > FREE_LIST_CAP {
            self.release_one();
        }
    }

    fn release_one(&mut self) {
        if let Some(ptr) = self.free.pop() {
            // SAFETY: free-list nodes are unreachable, and `trim`/`drop` run between write
            // operations, when no handle to them exists.
            unsafe { free_node(ptr) };
            self.stats.live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        while !self.free.is_empty() {
            self.release_one();
        }
    }
}

/// Returns a node's memory to the global allocator.
///
/// # Safety
///
/// `ptr` came from [`Pool::alloc`], is unreachable, and no handle to it is used again.
unsafe fn free_node(ptr: NodePtr) {
    // SAFETY: the allocation was made with `LAYOUT` by `alloc_zeroed` (caller's contract).
    unsafe { dealloc(ptr.untagged().as_ptr().cast(), LAYOUT) }
}

/// Aborts on a failed node allocation in an operation that cannot report it, as std's
/// collections do.
pub(crate) fn out_of_memory() -> ! {
    std::alloc::handle_alloc_error(LAYOUT)
}
