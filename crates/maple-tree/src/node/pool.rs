//! The node pool: every node of a tree is allocated and freed here.
//!
//! Nodes are carved out of chunks (a slab, like the kernel's `maple_node_cache`): 256 bytes
//! each, packed, with no allocator header between them. A 256-aligned block from the general
//! allocator costs 512 bytes of memory, and scattering nodes also spreads a walk over twice as
//! many pages. Chunks start small, so a small tree stays small, and double up to 2 MiB; chunks
//! of 2 MiB are aligned so that the kernel can back them with a huge page, which saves most TLB
//! misses of a walk through a large tree.
//!
//! Freeing follows invariant N4 of [`crate::node`]:
//! - [`Pool::recycle`] puts a node that no reader can reach on the writer's free list.
//! - [`Pool::retire`] hands an unlinked, dead node to the reclaimer, which returns it to the
//!   pool once every reader that might still see it has unpinned. That may happen on another
//!   thread and after the tree is gone, so returned nodes go to a shared list, and the chunks
//!   are owned by the shared part of the pool: they are released when the last deferred free
//!   has run.
//!
//! A node's memory is only ever given back to the system with its whole chunk, when the tree
//! and every deferred free are gone. Until then, a stale handle inside a write operation always
//! points to a valid (if reused) node.
//!
//! Linux: `mt_alloc_one()`, `mas_alloc_nodes()`, `mas_pop_node()`, `mas_push_node()`,
//! `ma_free_rcu()`.

use alloc::alloc::Layout;
#[cfg(not(maple_loom))]
use alloc::alloc::{alloc, dealloc};
#[cfg(maple_loom)]
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;

use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, Ordering};

use super::{Node, NodeKind, NodePtr, NodeRef};
use crate::error::OutOfMemory;
use crate::rcu::{self, Guard};

/// Nodes in the first chunk of a pool (4 KiB).
const FIRST_CHUNK_NODES: usize = 16;

/// Nodes in the largest chunks (2 MiB, one huge page).
const MAX_CHUNK_NODES: usize = 8192;

/// One block of nodes.
#[derive(Debug)]
struct Chunk {
    base: NonNull<Node>,
    nodes: usize,
}

// SAFETY: a chunk is plain memory owned by the pool's shared part; it is only freed once.
unsafe impl Send for Chunk {}

impl Chunk {
    fn layout(nodes: usize) -> Layout {
        let size = nodes * size_of::<Node>();
        let align = if nodes >= MAX_CHUNK_NODES {
            size
        } else {
            align_of::<Node>()
        };
        Layout::from_size_align(size, align)
            .unwrap_or_else(|_| unreachable!("chunk sizes are small powers of two"))
    }

    #[cfg(not(maple_loom))]
    fn new(nodes: usize) -> Result<Self, OutOfMemory> {
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(Self::layout(nodes)) }.cast::<Node>();
        let base = NonNull::new(raw).ok_or(OutOfMemory)?;
        // Advise before the first touch: zeroing then faults the chunk in as a huge page.
        advise_huge_page(base, nodes);
        // SAFETY: the allocation holds `nodes` nodes; all-zero bytes are a valid empty node
        // (atomics of 0).
        unsafe { base.as_ptr().write_bytes(0, nodes) };
        Ok(Self { base, nodes })
    }

    /// Under loom a chunk is one node, built with loom's atomics.
    #[cfg(maple_loom)]
    fn new(_nodes: usize) -> Result<Self, OutOfMemory> {
        let base = NonNull::from(Box::leak(Box::new(Node::empty())));
        Ok(Self { base, nodes: 1 })
    }

    /// Gives the chunk's memory back.
    ///
    /// # Safety
    ///
    /// No handle to any node of the chunk is used again.
    unsafe fn free(self) {
        #[cfg(not(maple_loom))]
        // SAFETY: the chunk was allocated with this layout (caller: nothing uses it any more).
        unsafe {
            dealloc(self.base.as_ptr().cast(), Self::layout(self.nodes));
        }
        #[cfg(maple_loom)]
        // SAFETY: the loom chunk came from `Box::leak` (caller: nothing uses it any more).
        drop(unsafe { Box::from_raw(self.base.as_ptr()) });
    }
}

/// Asks Linux to back a 2 MiB chunk with a huge page (the machine's transparent huge page
/// setting decides; this is only advice).
#[cfg(all(target_os = "linux", not(maple_loom)))]
fn advise_huge_page(base: NonNull<Node>, nodes: usize) {
    if nodes >= MAX_CHUNK_NODES {
        // SAFETY: the range is one live allocation of ours; MADV_HUGEPAGE only changes how the
        // kernel backs it, never its contents, and a failure is harmless.
        unsafe {
            libc::madvise(
                base.as_ptr().cast(),
                nodes * size_of::<Node>(),
                libc::MADV_HUGEPAGE,
            )
        };
    }
}

#[cfg(all(not(target_os = "linux"), not(maple_loom)))]
fn advise_huge_page(_base: NonNull<Node>, _nodes: usize) {}

/// The part of a pool shared with the reclaimer's deferred frees, which may run after the tree
/// is gone.
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    /// Nodes handed out and not yet back in the pool: in the tree, or waiting for a grace
    /// period.
    live: AtomicUsize,
    /// Nodes handed out since the pool was created.
    handed_out: AtomicU64,
    /// Times a reservation had to get nodes beyond the free list: from the deferred frees or
    /// from the system.
    refills: AtomicU64,
    /// Nodes returned by deferred frees, for the writer to reuse.
    returned: Mutex<Vec<NodePtr>>,
    /// Every chunk, freed when the last owner of this struct is gone.
    chunks: Mutex<Vec<Chunk>>,
}

impl PoolStats {
    /// Nodes handed out and not yet back in the pool.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Nodes handed out by the pool since it was created.
    pub(crate) fn handed_out(&self) -> u64 {
        self.handed_out.load(Ordering::Relaxed)
    }

    /// Times a reservation had to get nodes beyond the pool's free list.
    pub(crate) fn refills(&self) -> u64 {
        self.refills.load(Ordering::Relaxed)
    }

    /// Bytes of chunk memory the pool holds.
    pub(crate) fn reserved_bytes(&self) -> usize {
        let chunks = self.chunks.lock();
        chunks.iter().map(|c| c.nodes * size_of::<Node>()).sum()
    }
}

impl Drop for PoolStats {
    fn drop(&mut self) {
        let chunks = self.chunks.get_mut();
        for chunk in chunks.drain(..) {
            // SAFETY: this is the last owner of the pool: the tree is gone and every deferred
            // free has run, so no handle to any of its nodes is left.
            unsafe { chunk.free() };
        }
    }
}

/// A tree's node allocator. Only the writer touches it (through the tree lock or `&mut`).
#[derive(Debug)]
pub(crate) struct Pool {
    shared: Arc<PoolStats>,
    /// Fault injection: how many more nodes reservations may ask for before one fails.
    #[cfg(feature = "fault-injection")]
    budget: Option<u64>,
    /// Free nodes, ready to hand out.
    free: Vec<NodePtr>,
    /// Where the next node of the newest chunk is carved from, and how many are left there.
    carve: Option<(NonNull<Node>, usize)>,
    /// Size of the next chunk.
    next_chunk: usize,
}

// SAFETY: the carving cursor points into a chunk owned by `shared`; only the writer uses it.
unsafe impl Send for Pool {}

impl Pool {
    pub(crate) fn new() -> Self {
        Self {
            shared: Arc::new(PoolStats::default()),
            free: Vec::new(),
            #[cfg(feature = "fault-injection")]
            budget: None,
            carve: None,
            next_chunk: FIRST_CHUNK_NODES,
        }
    }

    /// The shared counters.
    pub(crate) fn stats(&self) -> &Arc<PoolStats> {
        &self.shared
    }

    /// Makes sure the next `n` calls to [`Pool::take`] succeed.
    ///
    /// Every write reserves what it may need before it changes anything, so a failure can only
    /// happen here, when the tree is still untouched. Linux: `mas_preallocate()`.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] when a new chunk cannot be allocated.
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), OutOfMemory> {
        #[cfg(feature = "fault-injection")]
        if let Some(budget) = &mut self.budget {
            *budget = budget.checked_sub(n as u64).ok_or(OutOfMemory)?;
        }
        if self.free.len() >= n {
            return Ok(());
        }
        self.shared.refills.fetch_add(1, Ordering::Relaxed);
        self.free.append(&mut self.shared.returned.lock());
        while self.free.len() < n {
            let node = self.carve_one()?;
            self.free.push(NodePtr::new(node, NodeKind::Leaf));
        }
        Ok(())
    }

    /// Fault injection: from now on, reservations may ask for `nodes` more nodes in all (`None`:
    /// no limit); the one that would go over fails with [`OutOfMemory`], as if the system had
    /// run out, before the write changes anything.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn set_budget(&mut self, nodes: Option<u64>) {
        self.budget = nodes;
    }

    /// The fault-injection budget left.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// Nodes ready to hand out without touching the system allocator.
    pub(crate) fn spare(&self) -> usize {
        self.free.len()
    }

    /// Hands out a zeroed node of `kind` from the reserve, owned by the caller until it is
    /// published. The handle's lifetime is the caller's write operation: the node stays
    /// allocated until it is recycled or retired (invariant N4).
    pub(crate) fn take<'a>(&mut self, kind: NodeKind) -> NodeRef<'a> {
        let ptr = self
            .free
            .pop()
            .unwrap_or_else(|| unreachable!("a write took more nodes than it reserved"));
        // SAFETY: free nodes lie in chunks owned by the pool and are unreachable; the node stays
        // allocated until the caller recycles or retires it, and long after.
        let node = unsafe { NodePtr::new(ptr.untagged(), kind).deref() };
        node.clear();
        self.shared.live.fetch_add(1, Ordering::Relaxed);
        self.shared.handed_out.fetch_add(1, Ordering::Relaxed);
        node
    }

    /// A never-used (hence zeroed) node from the newest chunk, allocating a chunk if needed.
    fn carve_one(&mut self) -> Result<NonNull<Node>, OutOfMemory> {
        let (next, left) = match self.carve {
            Some(cursor) => cursor,
            None => {
                let chunk = Chunk::new(self.next_chunk)?;
                self.next_chunk = (self.next_chunk * 2).min(MAX_CHUNK_NODES);
                let cursor = (chunk.base, chunk.nodes);
                self.shared.chunks.lock().push(chunk);
                cursor
            }
        };
        self.carve = (left > 1).then(|| {
            // SAFETY: `left > 1`, so the next node lies inside the same chunk.
            (unsafe { next.add(1) }, left - 1)
        });
        Ok(next)
    }

    /// Takes back a node that no reader can reach: one never published, or one unlinked in
    /// exclusive mode.
    pub(crate) fn recycle(&mut self, node: NodeRef<'_>) {
        self.shared.live.fetch_sub(1, Ordering::Relaxed);
        self.free.push(node.ptr());
    }

    /// Retires an unlinked node that readers may still see: marks it dead and returns it to the
    /// pool after a grace period. Linux: `mte_set_node_dead()` + `ma_free_rcu()`.
    pub(crate) fn retire(&self, node: NodeRef<'_>, guard: &Guard) {
        node.mark_dead();
        let ptr = node.ptr();
        let shared = Arc::clone(&self.shared);
        rcu::defer(guard, move || {
            shared.returned.lock().push(ptr);
            shared.live.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Aborts on a failed node allocation in an operation that cannot report it, as std's
/// collections do.
pub(crate) fn out_of_memory() -> ! {
    alloc::alloc::handle_alloc_error(Chunk::layout(FIRST_CHUNK_NODES))
}
