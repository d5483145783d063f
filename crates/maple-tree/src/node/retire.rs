//! Retirement: what a write takes out of the tree (the nodes it unlinks, the subtrees it cuts
//! off whole, the values that lose all their indices), and when it is freed.
//!
//! A write records what it takes out in its writer's [`Retirements`], whose room it reserves
//! together with its nodes, before it changes anything: recording never allocates, so a
//! preallocated store allocates nothing (rule W4 of the crate docs). Once the write is
//! published:
//!
//! - in exclusive mode no reader exists: the nodes go straight back to the pool's free list
//!   and the values are dropped at once, on the writer's thread ([`super::pool::Pool::free_retired`]);
//! - in RCU mode the unlinked nodes, and every node of a cut-off subtree, are marked dead
//!   ([`Retirements::mark_dead`]), and everything stays on the list until the write guard
//!   drops. The list then goes to the reclaimer as one [`Batch`] in one deferred call
//!   ([`super::pool::Pool::hand_over`]). Nothing the writer retired could be freed sooner
//!   anyway, since the writer is pinned for as long as its guard lives.
//!
//! # Where values are dropped, and panicking drops
//!
//! A value removed in exclusive mode is dropped before the write returns, on the writer's
//! thread. A value removed in RCU mode is dropped by the reclaimer ([`crossbeam_epoch`]'s global
//! collector), after every reader that was pinned when the writer's guard dropped has unpinned:
//! on whichever thread next collects, which is any thread that pins (a [`crate::MapleTree::read`]
//! or a write on any tree, or [`crate::flush_deferred`]), possibly after the tree is gone.
//!
//! If a value's `Drop` panics, the rest of what was retired with it is freed all the same, the
//! way `Vec` drops the rest of its elements: in exclusive mode, after the tree and its entry
//! count are complete, the first panic is resumed out of the write; in RCU mode, the first panic
//! is resumed out of the call that ran the reclaimer. crossbeam then drops without running the
//! other deferred functions it had bagged with that batch (of this tree or others): what they
//! would have freed is leaked, never freed twice.
//!
//! Linux: `mt_free_walk()`, `mt_destroy_walk()`, `ma_free_rcu()`, `mas_dead_leaves()`.

#[cfg(feature = "std")]
use alloc::boxed::Box;
use alloc::vec::Vec;
#[cfg(feature = "std")]
use core::any::Any;
use core::num::NonZeroUsize;
use core::ptr::NonNull;
#[cfg(feature = "std")]
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::{NodePtr, NodeRef};
use crate::error::OutOfMemory;

/// One thing a write took out of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retired {
    /// A node unlinked from the tree; its children live on elsewhere.
    Node(NodePtr),
    /// The root of a subtree cut off whole: every node and value below it goes.
    Subtree(NodePtr),
    /// A value word that lost all its indices.
    Value(NonZeroUsize),
}

/// What a writer's writes took out of the tree and have not freed yet, in order. The last
/// write's items start at `start`.
#[derive(Debug, Default)]
pub(crate) struct Retirements {
    items: Vec<Retired>,
    start: usize,
}

impl Retirements {
    /// Makes room for `n` more items, so that recording them cannot allocate.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the room could not be allocated.
    #[inline]
    pub(crate) fn reserve(&mut self, n: usize) -> Result<(), OutOfMemory> {
        if self.room() >= n {
            return Ok(());
        }
        self.items.try_reserve(n).map_err(|_| OutOfMemory)
    }

    /// Items that can be recorded without allocating.
    pub(crate) fn room(&self) -> usize {
        self.items.capacity() - self.items.len()
    }

    /// Items the list can hold without allocating (it grows only when a write records more
    /// than it reserved room for).
    pub(crate) fn capacity(&self) -> usize {
        self.items.capacity()
    }

    /// Starts a write's items.
    pub(crate) fn begin(&mut self) {
        self.start = self.items.len();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Records that `node` leaves the tree once the write is published (once, however often
    /// the write says so).
    pub(crate) fn unlink(&mut self, node: NodeRef<'_>) {
        let item = Retired::Node(node.ptr());
        if !self.items[self.start..].contains(&item) {
            self.items.push(item);
        }
    }

    /// Takes back an unlinked node that the write reuses in place (exclusive mode).
    pub(crate) fn relink(&mut self, node: NodeRef<'_>) {
        let item = Retired::Node(node.ptr());
        if let Some(i) = self.items[self.start..].iter().position(|&x| x == item) {
            self.items.remove(self.start + i);
        }
    }

    /// Records a subtree that the write cuts off whole.
    pub(crate) fn cut_off(&mut self, root: NodeRef<'_>) {
        self.items.push(Retired::Subtree(root.ptr()));
    }

    /// Records a value word that lost all its indices.
    pub(crate) fn value(&mut self, word: NonZeroUsize) {
        self.items.push(Retired::Value(word));
    }

    /// RCU mode: marks dead what the last write unlinked or cut off (every node of a cut-off
    /// subtree), now that its replacement is published (rule W3), and returns the number of
    /// values the cut-off subtrees held. The items stay for the reclaimer.
    pub(crate) fn mark_dead(&self) -> usize {
        let mut values = 0;
        for item in &self.items[self.start..] {
            match *item {
                // SAFETY: a node of this tree unlinked by the write that just finished; the
                // writer holds the pool, whose chunks outlive this call.
                Retired::Node(ptr) => unsafe { ptr.deref() }.mark_dead(),
                Retired::Subtree(ptr) => walk_subtree(
                    // SAFETY: as for a node.
                    unsafe { ptr.deref() },
                    &mut |_| values += 1,
                    &mut |node| node.mark_dead(),
                ),
                Retired::Value(_) => {}
            }
        }
        values
    }

    /// Whether the write that began last recorded nothing.
    pub(crate) fn last_is_empty(&self) -> bool {
        self.items.len() == self.start
    }

    /// Removes the last write's items, for freeing at once (exclusive mode).
    pub(crate) fn take_last(&mut self) -> impl Iterator<Item = Retired> + '_ {
        self.items.drain(self.start..)
    }

    /// Moves every item into `batch`, taking the batch's list (and its room) in exchange.
    pub(crate) fn swap_into(&mut self, batch: &mut Batch) {
        debug_assert!(batch.items.is_empty());
        core::mem::swap(&mut self.items, &mut batch.items);
        self.start = 0;
    }
}

/// What a writer's guard retired in RCU mode, handed to the reclaimer in one deferred call and
/// freed by [`super::pool::PoolStats`] once its grace period is over. Run batches are kept for
/// reuse, so that their lists' room comes back to the writer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) items: Vec<Retired>,
    /// The batch below this one while it is on the pool's stack of batches ready for the
    /// writer ([`super::pool`]'s `ReadyBatches`); `None` everywhere else.
    pub(crate) next: Option<NonNull<Batch>>,
}

// SAFETY: `next` is only set while the batch lies on a `ReadyBatches` stack, which owns every
// batch it links; the rest of a batch (node addresses and value words whose types are `Send`)
// may be freed on any thread.
unsafe impl Send for Batch {}

/// Walks a subtree cut off from the tree (dead or not, but no longer changed by any writer):
/// each value word to `value`, each node to `node`, children before their parent, and a node
/// only once its slots have been read.
///
/// Linux: `mt_destroy_walk()`, `mas_dead_leaves()`.
pub(crate) fn walk_subtree(
    root: NodeRef<'_>,
    value: &mut impl FnMut(NonZeroUsize),
    node: &mut impl FnMut(NodeRef<'_>),
) {
    let end = root.end();
    for i in 0..=end {
        if root.is_leaf() {
            if let Some(word) = NonZeroUsize::new(root.slot(i)) {
                value(word);
            }
        } else if let Some(child) = root.child(i) {
            walk_subtree(child, value, node);
        }
    }
    node(root);
}

/// The first panic among several drops, held until all of them have run. Without `std`, which
/// alone can catch a panic, a panicking drop unwinds at once (and what was to be freed after it
/// leaks).
#[derive(Default)]
pub(crate) struct Panics(#[cfg(feature = "std")] Option<Box<dyn Any + Send>>);

impl Panics {
    /// Runs `f` (a drop), keeping its panic if it is the first.
    pub(crate) fn run(&mut self, f: impl FnOnce()) {
        #[cfg(feature = "std")]
        if let Err(payload) = catch_unwind(AssertUnwindSafe(f))
            && self.0.is_none()
        {
            self.0 = Some(payload);
        }
        #[cfg(not(feature = "std"))]
        f();
    }

    /// Resumes the first panic, if any.
    pub(crate) fn resume(self) {
        #[cfg(feature = "std")]
        if let Some(payload) = self.0 {
            resume_unwind(payload);
        }
    }
}
