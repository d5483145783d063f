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
//! - [`Pool::free_retired`] puts nodes that no reader can reach (exclusive mode) back on the
//!   writer's free list.
//! - [`Pool::hand_over`] gives what RCU-mode writes retired ([`super::retire`]) to the
//!   reclaimer, which returns the nodes to the pool once every reader that might still see them
//!   has unpinned. That may happen on another thread and after the tree is gone, so returned
//!   nodes go to the shared part of the pool, which also owns the chunks: they are released when
//!   the last deferred free has run.
//! - The reclaimer runs on whichever thread next collects, most often a reader. A batch of
//!   nodes alone (most writes retire no value) is handed back whole, with one atomic exchange,
//!   onto a stack of batches ready for the writer ([`ReadyBatches`]); the writer puts their
//!   nodes on its free list when it next runs short ([`Pool::reserve`]). So a reader beside a
//!   busy writer neither touches the writer's dead nodes (their cache lines stay with the
//!   writer, which reuses them) nor waits for a lock. A batch with values is freed where it
//!   runs: its values' drops cannot wait for the next write.
//!
//! Free nodes are kept on intrusive lists ([`FreeList`]), linked through their first word, so
//! that freeing a node never allocates, whatever number a write frees.
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
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::num::NonZeroUsize;
use core::ptr::{self, NonNull};

use crate::sync::{Arc, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};

use super::retire::{Batch, Panics, Retired, Retirements, walk_subtree};
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
        // Advise before the first touch: the first node handed out then faults the chunk in
        // as a huge page. The memory stays uninitialised until then: a node is zeroed when it
        // is handed out ([`Pool::take`]) or put on a free list, never before.
        advise_huge_page(base, nodes);
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

/// Free nodes, linked through their first word (no allocation to push or pop any number).
#[derive(Debug, Default)]
pub(crate) struct FreeList {
    head: Option<NodePtr>,
    tail: Option<NodePtr>,
    len: usize,
}

// SAFETY: the list only holds addresses of free nodes in chunks of one pool; whoever holds the
// list (the writer, or the shared part under its mutex) is the only user of those nodes.
unsafe impl Send for FreeList {}

impl FreeList {
    /// Adds a node that nothing can reach any more.
    pub(crate) fn push(&mut self, node: NodeRef<'_>) {
        node.set_link(self.head);
        let ptr = node.ptr();
        self.head = Some(ptr);
        self.tail.get_or_insert(ptr);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<NodePtr> {
        let ptr = self.head?;
        // SAFETY: the list holds free nodes of this pool, whose chunks outlive it.
        let node = unsafe { ptr.deref() };
        self.head = node.link();
        if self.head.is_none() {
            self.tail = None;
        }
        self.len -= 1;
        Some(ptr)
    }

    /// Moves every node of `other` onto this list.
    fn append(&mut self, other: &mut Self) {
        let Some(tail) = other.tail.take() else {
            return;
        };
        // SAFETY: as in `pop`: a free node of this pool.
        unsafe { tail.deref() }.set_link(self.head);
        self.head = other.head.take();
        self.tail.get_or_insert(tail);
        self.len += core::mem::take(&mut other.len);
    }
}

/// Batches of nodes alone whose grace period is over: the reclaimer pushes them, on any thread,
/// and the writer takes them all at once. Nothing is ever popped singly, so a push cannot race a
/// pop into the ABA problem of lock-free stacks.
#[derive(Debug)]
struct ReadyBatches(AtomicPtr<Batch>);

impl Default for ReadyBatches {
    fn default() -> Self {
        Self(AtomicPtr::new(ptr::null_mut()))
    }
}

impl ReadyBatches {
    /// Pushes `batch`, whatever other threads push at the same time.
    fn push(&self, batch: Box<Batch>) {
        let new = Box::into_raw(batch);
        let mut head = self.0.load(Ordering::Relaxed);
        loop {
            // SAFETY: `new` came from `Box::into_raw` just above, and no other thread can see it
            // before the exchange below succeeds.
            unsafe { (*new).next = NonNull::new(head) };
            // ORDERING: Release publishes `next` (and the batch's list) to the writer's Acquire
            // swap in `take_all`; an earlier push's Release is carried on by this exchange,
            // which is a read-modify-write of the same atomic.
            match self
                .0
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Takes every batch on the stack, passing each to `f`.
    fn take_all(&self, mut f: impl FnMut(Box<Batch>)) {
        // ORDERING: Acquire pairs with the Release of every push before it (see `push`).
        let mut next = NonNull::new(self.0.swap(ptr::null_mut(), Ordering::Acquire));
        while let Some(ptr) = next {
            // SAFETY: every batch on the stack came from `Box::into_raw` in `push`, and the
            // swap made this call the only owner of the whole chain.
            let mut batch = unsafe { Box::from_raw(ptr.as_ptr()) };
            next = batch.next.take();
            f(batch);
        }
    }
}

impl Drop for ReadyBatches {
    fn drop(&mut self) {
        self.take_all(drop);
    }
}

/// The part of a pool shared with the reclaimer's deferred frees, which may run after the tree
/// is gone.
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    /// Nodes handed out and not yet back in the pool: in the tree, or waiting for a grace
    /// period.
    live: AtomicUsize,
    /// Nodes handed out since the pool was created.
    handed_out: AtomicU64,
    /// Times a reservation had to get nodes beyond the free list and the unused rest of the
    /// newest chunk: from the deferred frees or from the system.
    refills: AtomicU64,
    /// Nodes returned by deferred frees of batches with values, for the writer to reuse.
    returned: Mutex<FreeList>,
    /// Batches of nodes alone returned by deferred frees, for the writer to reuse.
    ready: ReadyBatches,
    /// Batches the reclaimer has run, kept for the writer to reuse (with their lists' room).
    #[expect(
        clippy::vec_box,
        reason = "a deferred call captures the box, one word, which crossbeam keeps inline"
    )]
    batches: Mutex<Vec<Box<Batch>>>,
    /// Every chunk, freed when the last owner of this struct is gone.
    chunks: Mutex<Vec<Chunk>>,
}

/// Batches a pool keeps for reuse at most; more are freed.
const SPARE_BATCHES: usize = 16;

impl PoolStats {
    /// Nodes handed out and not yet back in the pool.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Nodes handed out by the pool since it was created.
    pub(crate) fn handed_out(&self) -> u64 {
        self.handed_out.load(Ordering::Relaxed)
    }

    /// Times a reservation had to get nodes beyond the pool's spare nodes.
    pub(crate) fn refills(&self) -> u64 {
        self.refills.load(Ordering::Relaxed)
    }

    /// Bytes of chunk memory the pool holds.
    pub(crate) fn reserved_bytes(&self) -> usize {
        let chunks = self.chunks.lock();
        chunks.iter().map(|c| c.nodes * size_of::<Node>()).sum()
    }

    /// Frees what a batch retired, once its grace period is over (the reclaimer calls this):
    /// drops its values with `drop_value`, returns its nodes and keeps the batch for reuse. If a
    /// value's `Drop` panics, the rest is freed all the same and the first panic is then
    /// resumed.
    fn free_batch(&self, mut batch: Box<Batch>, drop_value: fn(NonZeroUsize)) {
        if batch
            .items
            .iter()
            .all(|item| matches!(item, Retired::Node(_)))
        {
            self.live.fetch_sub(batch.items.len(), Ordering::Relaxed);
            self.ready.push(batch);
            return;
        }
        let mut panics = Panics::default();
        let mut freed = FreeList::default();
        for item in batch.items.drain(..) {
            match item {
                Retired::Node(ptr) => {
                    // SAFETY: a retired node of this pool: its chunk lives as long as `self`,
                    // and after the grace period only this batch holds it.
                    freed.push(unsafe { ptr.deref() });
                }
                Retired::Value(word) => panics.run(|| drop_value(word)),
                Retired::Subtree(ptr) => walk_subtree(
                    // SAFETY: as for a node: the subtree's nodes were retired with it.
                    unsafe { ptr.deref() },
                    &mut |word| panics.run(|| drop_value(word)),
                    &mut |node| freed.push(node),
                ),
            }
        }
        self.live.fetch_sub(freed.len, Ordering::Relaxed);
        self.returned.lock().append(&mut freed);
        let mut batches = self.batches.lock();
        if batches.len() < SPARE_BATCHES {
            batches.push(batch);
        }
        drop(batches);
        panics.resume();
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
    free: FreeList,
    /// What this writer's writes took out of the tree and have not freed yet.
    pub(crate) retired: Retirements,
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
            free: FreeList::default(),
            retired: Retirements::default(),
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
    #[inline]
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), OutOfMemory> {
        #[cfg(feature = "fault-injection")]
        if let Some(budget) = &mut self.budget {
            *budget = budget.checked_sub(n as u64).ok_or(OutOfMemory)?;
        }
        if self.spare() >= n {
            return Ok(());
        }
        self.refill(n)
    }

    /// [`reserve`](Self::reserve) when the spare nodes are too few: takes the nodes the
    /// reclaimer handed back, then carves new chunks.
    #[cold]
    fn refill(&mut self, n: usize) -> Result<(), OutOfMemory> {
        self.shared.refills.fetch_add(1, Ordering::Relaxed);
        self.free.append(&mut self.shared.returned.lock());
        self.take_ready();
        while self.spare() < n {
            // The rest of the newest chunk is too small: it goes on the free list, and the
            // nodes after it come from a new chunk.
            while let Some(node) = self.carve_one() {
                // SAFETY: a never-used node of a chunk this pool owns, which nothing else
                // reaches; zeroed, it is a valid empty node.
                self.free.push(unsafe { fresh(node, NodeKind::Leaf) });
            }
            let chunk = Chunk::new(self.next_chunk)?;
            self.next_chunk = (self.next_chunk * 2).min(MAX_CHUNK_NODES);
            self.carve = Some((chunk.base, chunk.nodes));
            self.shared.chunks.lock().push(chunk);
        }
        Ok(())
    }

    /// Puts the nodes of every batch the reclaimer handed back ([`ReadyBatches`]) on the free
    /// list, and keeps the batches for reuse.
    fn take_ready(&mut self) {
        let free = &mut self.free;
        let shared = &self.shared;
        // Locked only if a batch came back: most refills of a growing tree find none.
        let mut batches = None;
        shared.ready.take_all(|mut batch| {
            for item in batch.items.drain(..) {
                if let Retired::Node(ptr) = item {
                    // SAFETY: a node of this pool whose grace period is over: the reclaimer
                    // handed it back, and only this writer holds it now.
                    free.push(unsafe { ptr.deref() });
                }
            }
            let batches = batches.get_or_insert_with(|| shared.batches.lock());
            if batches.len() < SPARE_BATCHES {
                batches.push(batch);
            }
        });
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

    /// Nodes ready to hand out without touching the system allocator: the free list, and the
    /// never-used rest of the newest chunk.
    pub(crate) fn spare(&self) -> usize {
        self.free.len + self.carve.map_or(0, |(_, left)| left)
    }

    /// Hands out a zeroed node of `kind` from the reserve, owned by the caller until it is
    /// published. The handle's lifetime is the caller's write operation: the node stays
    /// allocated until it is recycled or retired (invariant N4).
    pub(crate) fn take<'a>(&mut self, kind: NodeKind) -> NodeRef<'a> {
        let ptr = match self.free.pop() {
            Some(ptr) => ptr.untagged(),
            None => self
                .carve_one()
                .unwrap_or_else(|| unreachable!("a write took more nodes than it reserved")),
        };
        // SAFETY: free and never-used nodes lie in chunks owned by the pool and are
        // unreachable; the node stays allocated until the caller recycles or retires it, and
        // long after.
        let node = unsafe { fresh(ptr, kind) };
        self.shared.live.fetch_add(1, Ordering::Relaxed);
        self.shared.handed_out.fetch_add(1, Ordering::Relaxed);
        node
    }

    /// A never-used (uninitialised) node from the newest chunk, if it has one left.
    fn carve_one(&mut self) -> Option<NonNull<Node>> {
        let (next, left) = self.carve?;
        self.carve = (left > 1).then(|| {
            // SAFETY: `left > 1`, so the next node lies inside the same chunk.
            (unsafe { next.add(1) }, left - 1)
        });
        Some(next)
    }

    /// Exclusive mode: frees at once what the last write took out of the tree, now that no
    /// part of the tree leads to it: nodes back on the free list, values dropped with
    /// `drop_value` (except `keep`, which the caller takes back). Returns the number of values
    /// the cut-off subtrees held. A panicking `Drop` is caught into `panics`, so that the rest is
    /// freed all the same.
    pub(crate) fn free_retired(
        &mut self,
        drop_value: fn(NonZeroUsize),
        keep: Option<NonZeroUsize>,
        panics: &mut Panics,
    ) -> usize {
        if self.retired.last_is_empty() {
            // Most writes edit a leaf in place and retire nothing.
            return 0;
        }
        let mut values = 0;
        let mut freed = FreeList::default();
        for item in self.retired.take_last() {
            match item {
                Retired::Node(ptr) => {
                    // SAFETY: a node of this pool, unlinked by the write that just finished;
                    // in exclusive mode nothing else can reach it.
                    freed.push(unsafe { ptr.deref() });
                }
                Retired::Value(word) => panics.run(|| drop_value(word)),
                Retired::Subtree(ptr) => walk_subtree(
                    // SAFETY: as for a node: the whole subtree was cut off by the write.
                    unsafe { ptr.deref() },
                    &mut |word| {
                        values += 1;
                        if keep != Some(word) {
                            panics.run(|| drop_value(word));
                        }
                    },
                    &mut |node| freed.push(node),
                ),
            }
        }
        self.shared.live.fetch_sub(freed.len, Ordering::Relaxed);
        self.free.append(&mut freed);
        values
    }

    /// Hands what this writer's RCU-mode writes retired to the reclaimer, as one batch that is
    /// freed once every reader pinned now has unpinned ([`PoolStats::free_batch`]). The writer
    /// calls this when its guard drops: nothing it retired could be freed before that anyway,
    /// since the writer itself stays pinned until then.
    ///
    /// `drop_value` drops a value word of the tree's type, which must be `Send`: the reclaimer
    /// may run on any thread.
    ///
    /// Linux: `ma_free_rcu()`, `mt_free_walk()` through `call_rcu()`.
    pub(crate) fn hand_over(&mut self, guard: &Guard, drop_value: fn(NonZeroUsize)) {
        if self.retired.is_empty() {
            return;
        }
        let spare = self.shared.batches.lock().pop();
        let mut batch = spare.unwrap_or_default();
        self.retired.swap_into(&mut batch);
        let shared = Arc::clone(&self.shared);
        rcu::defer(guard, move || shared.free_batch(batch, drop_value));
    }
}

/// Zeroes the node at `node` (every data word and the header) and hands out a handle to it as
/// a node of `kind`.
///
/// # Safety
///
/// `node` is a node of a chunk of the caller's pool that no reader and no write can reach: a
/// never-used one, or one of the free list. It stays allocated for `'a`.
unsafe fn fresh<'a>(node: NonNull<Node>, kind: NodeKind) -> NodeRef<'a> {
    #[cfg(not(maple_loom))]
    // SAFETY: the node lies inside a live chunk (caller), so the 256 bytes are ours to write;
    // nothing else can reach it, so no access races these plain stores. All-zero bytes are a
    // valid empty node (atomics of 0), so the memory is initialised from here on, whatever it
    // held before.
    unsafe {
        node.as_ptr().write_bytes(0, 1);
    }
    // SAFETY: the node is allocated for 'a (caller) and, just zeroed, a valid node.
    let node = unsafe { NodePtr::new(node, kind).deref() };
    // Under loom a chunk is one node built with loom's atomics, which only atomics may write.
    #[cfg(maple_loom)]
    node.clear();
    node
}

/// Aborts on a failed node allocation in an operation that cannot report it, as std's
/// collections do.
pub(crate) fn out_of_memory() -> ! {
    alloc::alloc::handle_alloc_error(Chunk::layout(FIRST_CHUNK_NODES))
}
