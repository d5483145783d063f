//! A Rust Maple Tree: the range B-tree that tracks every Linux process's virtual memory areas,
//! rebuilt in safe, idiomatic Rust.
//!
//! A [`MapleTree`] maps non-overlapping inclusive ranges `[first, last]` of `u64` indices to
//! values. Lookups, ordered iteration, overwriting stores that trim their neighbours, and (in an
//! allocation tree) searches for free ranges all take O(log n). Readers on any number of threads
//! never block and never see a half-done write.
//!
//! ```
//! use maple_tree::MapleTree;
//!
//! let tree = MapleTree::new_alloc();
//! tree.insert_range(0x1000, 0x2fff, 1u32).unwrap();
//! tree.insert_range(0x8000, 0x8fff, 2u32).unwrap();
//! assert_eq!(tree.get(0x2abc), Some(1));
//! // The lowest free range of 0x4000 indices at or above 0x1000:
//! assert_eq!(tree.find_gap(0x1000, u64::MAX, 0x4000), Ok(0x3000));
//! // The highest one below 0x10000:
//! assert_eq!(tree.find_gap_rev(0, 0xffff, 0x4000), Ok(0xc000));
//! ```
//!
//! # Ranges and pivots
//!
//! Every node covers a range of indices that it does not store: the root covers
//! `[0, u64::MAX]`, and a child covers what its parent's pivots say. A node of `n` slots has
//! `n - 1` pivots; slot `i` covers from just after pivot `i - 1` up to pivot `i`:
//!
//! ```text
//!  node covers [min, max]
//!  slot:    0          1            2           ...   end
//!  pivot:   p0         p1           p2                (max, implied)
//!  covers:  [min, p0]  [p0+1, p1]   [p1+1, p2]  ...   [p(end-1)+1, max]
//! ```
//!
//! The leaves partition the whole key space: an index without a value lies in an explicit
//! empty slot. Empty slots are never adjacent, so an empty run is always one slot and a free
//! range is found by looking at one slot.
//!
//! # Node kinds and capacities
//!
//! Every node is 256 bytes, aligned to 256 bytes, as in the kernel.
//!
//! | kind | where | slots | pivots | extra | minimum use (non-root) |
//! |---|---|---|---|---|---|
//! | leaf | every tree | 16 | 15 | | 7 slots |
//! | range | internal, range tree | 16 | 15 | | 7 slots |
//! | allocation range | internal, allocation tree | 10 | 9 | largest gap below each slot, and which slot has the largest | 5 slots |
//!
//! Each node's header word records the offset of its last used slot and a link to its parent
//! with the slot it sits in. Everything after the last used slot is zero.
//!
//! # Values
//!
//! A slot is one machine word, so values are word-sized: [`Entry`] is implemented for
//! `Box<U>`, `Arc<U>`, `&'static U`, non-zero integers and integers of up to 32 bits. This keeps
//! every node at 256 bytes with atomic slots, which concurrent readers need, at the cost of one
//! allocation per value for a type that is not word-sized (put it in a `Box` or an `Arc`). The
//! kernel makes the same choice (one pointer per slot), and so does its Rust binding.
//!
//! A store that cuts an existing entry in two ([`MapleTree::store_range`],
//! [`MapleTree::clear_range`]) needs a second value for the second piece, so those methods
//! require `T: Clone`; with `Arc` that is a reference-count increment.
//!
//! # Reading concurrently (RCU mode)
//!
//! Readers pin an epoch with [`MapleTree::read`] ([`crossbeam_epoch`] plays the part of the
//! kernel's RCU) and borrow values for as long as the guard lives. One writer at a time, holding
//! the tree's lock, changes the tree so that readers always see either the old or the new
//! state:
//!
//! 1. A change to a single slot (an exact fit) is one atomic word store.
//! 2. Any other change is built in new nodes off to the side, then published by one pointer
//!    store (Release) into the parent or the root.
//! 3. The nodes it replaced are marked dead and freed after a grace period, and so are the
//!    values it removed.
//!
//! A reader checks, after reading a slot, whether the node it read is dead, and if so walks
//! again from the root (the kernel's rule).
//!
//! Because a reader may still be looking at a value that a writer removes, [`MapleTree::erase`]
//! returns a clone and drops the tree's copy after the grace period. A writer that holds
//! `&mut` ([`MapleTree::exclusive`]) knows no reader exists: it rewrites nodes in place, frees
//! at once and hands back the original value.
//!
//! # Gap tracking
//!
//! In an allocation tree, each internal node stores the largest empty run below each of its
//! children. [`MapleTree::find_gap`] and [`MapleTree::find_gap_rev`] descend only into
//! children with a large enough gap; [`MapleTree::alloc_range`] finds and fills in one step.
//! [`GapRequest`] adds alignment, which the kernel's API lacks.
//!
//! # Failure
//!
//! Every node a write needs is allocated before the write changes anything that a reader or a
//! later operation can see, so a failed allocation leaves the tree exactly as it was and the
//! value is handed back in the error.
//!
//! # Simple API and cursors
//!
//! The methods on [`MapleTree`] each take the lock for one operation. [`WriteGuard`] holds it
//! for several and offers a writing cursor, [`CursorMut`]. [`Cursor`] is the read-side
//! position (the kernel's `ma_state`), with `walk`, `find`, `next`, `prev` and their variants
//! that include empty ranges.
//!
//! # Guarantees
//!
//! - Each operation is linearizable: a read returns the value an index held at some moment
//!   during the call.
//! - Iteration is not a snapshot: each step is consistent on its own; the ranges an iterator
//!   returns are strictly ascending and never overlap.
//! - [`MapleTree::check_invariants`] checks every structural invariant; [`MapleTree::dump`]
//!   prints the nodes.
//!
//! # Mapping to Linux names
//!
//! Items with a kernel counterpart carry `#[doc(alias)]` with the kernel name, so searching these
//! docs for `mtree_load`, `mas_walk` or `mas_empty_area_rev` finds the Rust item.
//!
//! | Linux | here |
//! |---|---|
//! | `struct maple_tree`, `mt_init_flags` | [`MapleTree::new`], [`MapleTree::new_alloc`] |
//! | `mtree_load`, `mas_walk` | [`MapleTree::get`], [`ReadGuard::get`], [`ReadGuard::get_range`] |
//! | `mtree_insert_range`, `mtree_store_range`, `mtree_erase` | [`MapleTree::insert_range`], [`MapleTree::store_range`], [`MapleTree::erase`] |
//! | `mt_find`, `mas_find_rev`, `mt_for_each` | [`ReadGuard::find`], [`ReadGuard::find_rev`], [`ReadGuard::iter`] |
//! | `struct ma_state`, `mas_next`, `mas_prev`, `mas_pause` | [`Cursor`] |
//! | `mas_empty_area`, `mas_empty_area_rev` | [`MapleTree::find_gap`], [`MapleTree::find_gap_rev`] |
//! | `mtree_alloc_range`, `mtree_alloc_rrange` | [`MapleTree::alloc_range`], [`MapleTree::alloc_range_rev`] |
//! | `mt_validate`, `mt_dump` | [`MapleTree::check_invariants`], [`MapleTree::dump`] |
//! | `mtree_lock`, `mt_clear_in_rcu` | [`MapleTree::lock`], [`MapleTree::exclusive`] |

#![warn(missing_docs)]

mod cursor;
mod dump;
mod error;
mod gap;
mod guard;
mod node;
mod range;
mod rcu;
mod sync;
mod tree;
mod validate;
mod walk;
mod write;

#[cfg(test)]
mod tests;

pub use cursor::{Cursor, CursorState, Iter};
pub use dump::{Dump, DumpFormat, ValueFormatter};
pub use error::{
    AllocError, AllocErrorKind, ClearError, GapError, InsertError, InsertErrorKind, OutOfMemory,
    StoreError, StoreErrorKind,
};
pub use guard::{CursorMut, ReadGuard, WriteGuard};
pub use node::entry::Entry;
pub use range::Range;
pub use tree::{GapRequest, MapleTree, NodeCounter, flush_deferred};
pub use validate::{Invariant, InvariantViolation};
