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
//! tree.insert_range(0x1000..=0x2fff, 1u32).unwrap();
//! tree.insert_range(0x8000..=0x8fff, 2u32).unwrap();
//! assert_eq!(tree.get(0x2abc), Some(1));
//! // The lowest free range of 0x4000 indices at or above 0x1000:
//! assert_eq!(tree.find_gap(0x1000..=u64::MAX, 0x4000), Ok(0x3000));
//! // The highest one below 0x10000:
//! assert_eq!(tree.find_gap_rev(0..=0xffff, 0x4000), Ok(0xc000));
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
//! A tree stores values of any type `T: 'static`. A slot is one machine word, as in the kernel,
//! which keeps every node at 256 bytes with atomic slots that concurrent readers can load. A
//! value that fits in the word beside the tree's tag bit stays in its slot; any other value is
//! boxed by the tree, invisibly, at the cost of one allocation per value:
//!
//! | `T` | where the value lives | cost per value |
//! |---|---|---|
//! | `u8`, `u16`, `u32`, `i8`, `i16`, `i32`, `bool`, `char`, `f32`, `()`, `NonZeroU8` to `NonZeroI32` and their `Option`s | in the slot | none |
//! | `NonZeroU64`, `NonZeroI64`, `NonZeroUsize`, `NonZeroIsize` | in the slot | none |
//! | `u64`, `usize` | in the slot when below 2^63, else boxed | none, or one 8-byte allocation |
//! | `i64`, `isize` | in the slot when in `-2^62..2^62`, else boxed | none, or one 8-byte allocation |
//! | anything else: `String`, `Vec<U>`, structs, `Box<U>`, `Arc<U>`, `&'static str` | boxed | one allocation of `size_of::<T>()` bytes |
//!
//! Readers see a value as a [`Ref`], which dereferences to `T`: a copy of a value kept in its
//! slot, or a shared reference into the tree's box. Store `T` itself rather than `Box<T>`:
//! the tree boxes it once, where a `Box<T>` would be boxed again. An `Arc<U>` is worth storing
//! when the program shares the values elsewhere; it costs one 8-byte box per value.
//!
//! The read side works for every `T`. Writing through `&self` ([`MapleTree::lock`] and the
//! methods that take it) drops removed values after a grace period, on whichever thread runs
//! the deferred drop, so it needs `T: Send`; a tree of `Rc` values is written through
//! [`MapleTree::exclusive`]. Sharing a tree between threads needs `T: Send + Sync`.
//!
//! A store that cuts an existing entry in two ([`MapleTree::store_range`],
//! [`MapleTree::clear_range`]) needs a second value for the second piece, so those methods
//! require `T: Clone`; for an inline value that is a copy of the word.
//!
//! # Reading concurrently (RCU mode)
//!
//! `MapleTree<T>` is `Send` and `Sync` when `T` is. Any number of threads read through
//! [`MapleTree::read`], which pins an epoch ([`crossbeam_epoch`] plays the part of the kernel's
//! RCU) and never blocks; values are borrowed for as long as the [`ReadGuard`] lives. One
//! writer at a time, holding the tree's lock ([`MapleTree::lock`], or the convenience methods
//! on `&self`, which take it for one operation), changes the tree so that a reader sees each
//! index either before or after each write. How, is the protocol below.
//!
//! ## The read and write protocol
//!
//! Readers never lock and never store. The writer follows four rules; every write path, and any
//! faster one added later, must keep them. They hold in RCU mode; a writer with `&mut` to the
//! tree ([`MapleTree::exclusive`]) has no reader to consider and may change anything in place.
//!
//! - **W1. Copy, then publish with one store.** A change other than those W2 allows is built
//!   in new nodes, filled completely, then made reachable by one Release store of a pointer:
//!   into the parent's slot, or the root.
//! - **W2. In place, only what a reader can detect or cannot misread.** A node readers can
//!   reach takes only these stores:
//!   - a slot's word, whose range stays as it is: an *exact fit*, or a child replaced by its
//!     copy (W1). One atomic store (Release);
//!   - an *append* to a leaf: new slots and pivots written past the node's end, where no reader
//!     looks, then the pivot of the old last slot (until then the node's maximum, which readers
//!     use instead of it), then the larger end, with Release. The end never shrinks in place;
//!   - the gaps and max-gap slot of allocation nodes: hints, which a search confirms in a leaf;
//!   - the parent link in the header, keeping the end, with Release (readers use the header
//!     only for the end and the death mark).
//!
//!   So **a node keeps the range it covers for as long as it is in the tree, and while it
//!   has a given end, its pivots below that end never change**: only words do. A moved
//!   boundary (the kernel's slot store, which also writes a pivot in place) is a copy here,
//!   because a reader that paired a word read after it with a pivot read before it could not
//!   tell.
//! - **W3. Retire after publishing.** A replaced node, and every node of a subtree a write
//!   cuts off, is marked dead (its own address in its header; its end and content stay as they
//!   were) only after the replacement is published. It is freed, like every value removed from
//!   the tree, only once every reader that may have seen it has unpinned: the write records it,
//!   and the write guard hands all its writes recorded to the reclaimer when it drops.
//! - **W4. Fail before the first change.** Everything that can fail, allocate or run user code
//!   before the write takes effect (reserving nodes and room to record what the write takes
//!   out, cloning the value for the second piece of a cut entry) happens before anything in the
//!   tree changes.
//!
//! **R1. Readers validate what they read from a leaf.** A reader makes a frame for a node by
//! loading its header (Acquire), which gives the node's end. From a leaf it loads what it needs
//! (pivots below that end; slot words, with Acquire), then loads the header again, and uses
//! what it loaded only if the leaf is not dead and its end has not moved (`Frame::confirm` in
//! `walk.rs`). Otherwise the read is stale, and the reader walks again from the root: a lookup
//! to its index, a cursor or iterator to the index just past the last range it returned, a gap
//! search from the start. A word and the range worked out from the pivots then existed together
//! at the moment the word was loaded: the pivots were those of that end (W2), and a word stored
//! after an append carries the append with it (its Release store follows the end's, so the
//! second header load sees the larger end). Internal nodes need no such check: a walk may pass
//! through one a writer has just replaced, but the child it takes keeps its range while it is
//! in the tree, and every pointer read from a node under a guard, even from a dead one, leads
//! to a node that is still allocated; the leaf at the end is either current or fails its check.
//!
//! **Changing a write path.** A new or faster write path keeps W1 to W4, and R1 stays the
//! readers' whole defence. So an in-place change is admissible only if a reader validating as
//! in R1 can never pair a word with a range its slot did not have when the word was loaded:
//! it stores slot words whose ranges stay, or it grows a leaf past its end and publishes the
//! end last. Anything else (moving a pivot below the end, shrinking an end, writing a node
//! that readers may still reach after it was unlinked, freeing before the grace period) is a
//! copy (W1), or would need a version readers can check, for which a node has no free word. A
//! new in-place change comes with a loom model of it against a reader, also after an exact fit
//! of the slot it touches, and the stress test stays at zero bad observations over 10^9 reads.
//!
//! The loom models in `tests/loom.rs` run every interleaving, within a preemption bound, of a
//! reader with each of these changes, with pairs of them (an append then an exact fit of the old
//! last slot; a boundary move then an exact fit; two node stores under a cursor; two retirements
//! under a gap search), and with node stores, splits, rebalances and spanning stores. The
//! stress test in `tests/rcu.rs` counts what readers see wrong beside a writer that mixes
//! these shapes.
//!
//! What a reader may observe:
//!
//! - A lookup ([`ReadGuard::get`], [`ReadGuard::get_range`]) returns the value the index held
//!   at some moment during the call: never a torn, misplaced or freed value. The range
//!   returned is the one that value covered at that moment.
//! - A cursor or an iterator is consistent step by step, not across the tree: each range it
//!   returns was current when it read it, and a writer may change parts already passed or not
//!   yet reached. Iterators return strictly ascending (or, from the back, descending) ranges
//!   that never overlap: if a writer extended an entry back over indices the iterator has
//!   passed, only the part not passed yet is returned.
//! - A gap search under a [`ReadGuard`] answers for some recent state; a writer may fill the
//!   gap at once. Search and fill under one [`WriteGuard`] ([`WriteGuard::alloc_range_for`])
//!   to allocate.
//!
//! What the lifetimes enforce: a reference returned through a guard cannot outlive the guard,
//! so no value or node is used after the reclaimer may have freed it; `&mut` to the tree (for
//! [`MapleTree::exclusive`]) cannot coexist with any guard.
//!
//! Because a reader may still be looking at a value that a writer removes, [`MapleTree::erase`]
//! returns a clone and drops the tree's copy after the grace period. A writer that holds
//! `&mut` ([`MapleTree::exclusive`]) knows no reader exists: it rewrites nodes in place, frees
//! at once and hands back the original value.
//!
//! ## Where values are dropped
//!
//! A value a write removes through [`MapleTree::exclusive`] is dropped before the write returns,
//! on the writer's thread. One removed in RCU mode is dropped by the reclaimer (crossbeam's
//! global collector) once every reader pinned when the writer's guard dropped has unpinned: on
//! whichever thread next collects, which is any thread that pins (a [`MapleTree::read`], a write
//! to any tree, [`flush_deferred`]), possibly after the tree itself is gone. Hence a tree is
//! written through `&self` only if `T: Send`.
//!
//! A `Drop` that panics is treated as `Vec` treats it: the rest of what the write (in RCU
//! mode, the guard's writes) removed is dropped all the same, and nothing else leaks. In
//! exclusive mode the tree and its entry count are complete before the first panic is resumed
//! out of the write. In RCU mode the first panic is resumed out of the call that ran the
//! reclaimer, on that thread; crossbeam then drops, without running them, the other deferred
//! frees it had gathered with that batch (of this tree or another): their memory leaks, nothing
//! is freed twice.
//!
//! There is no separate external-lock mode (the kernel's `MT_FLAGS_LOCK_EXTERN`): a program
//! that already serialises its writers with its own lock can take the tree's lock inside it,
//! where it is never contended, or own the tree and use [`MapleTree::exclusive`]. A program
//! that owns its tree and writes it only through `&mut` (as a `BTreeMap`) holds it as an
//! [`OwnedTree`]: the borrow checker then proves that no write runs beside a read, so its reads
//! through `&self` pin no epoch and confirm nothing.
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
//! A write first plans what it will do, then reserves every node that plan may need (the
//! kernel's counts: none for a change in place, one for a copied leaf, `2h + 1` for a split,
//! `3h + 1` for a spanning store or a rebalance, in a tree of height `h`), and only then changes
//! the tree. So the only point of failure comes before any change: a failed allocation leaves
//! the tree exactly as it was, and the value is handed back in the error. The methods that
//! return `Result` report it; [`MapleTree::erase`] aborts like `Vec` and
//! [`MapleTree::try_erase`] reports it.
//!
//! [`WriteGuard::preallocate`] takes the reservation out of the store: it may fail, and the
//! [`Prealloc`] it returns stores without failing, without running user code and without any
//! heap allocation, as the kernel's `mas_store_prealloc()`: nodes, room to record what the store
//! takes out, and the clone for a cut entry all come from the reservation. A reservation is
//! for one store: storing consumes it.
//!
//! ```
//! let tree = maple_tree::MapleTree::new();
//! let mut writer = tree.lock();
//! let reservation = writer.preallocate(10..=19, 1u32).expect("nodes for the store");
//! // ... nothing below can fail ...
//! reservation.store();
//! assert_eq!(writer.get(15).as_deref(), Some(&1));
//! ```
//!
//! With the `fault-injection` feature, `MapleTree::fail_reservations_after` makes
//! reservations fail on demand; the tests fail every write at every possible point this way.
//!
//! # Whole trees
//!
//! [`MapleTree::try_clone`] copies a tree node by node, as the kernel's `__mt_dup` does for
//! fork; [`MapleTree::bulk_load`] builds one from sorted entries in a single pass.
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
//!   prints the nodes, and [`MapleTree::layout`] copies them out as data (for pictures).
//!
//! # Features and `no_std`
//!
//! - `std` (default): RCU mode ([`MapleTree::lock`] and the methods that write through `&self`
//!   beside readers on other threads), which needs crossbeam-epoch's collector and an OS lock.
//!   Without it (`default-features = false`) the crate needs only `core` and `alloc`: writes go
//!   through [`MapleTree::exclusive`] (`&mut`), and reads, cursors, iteration, gap search,
//!   allocation, copies, the validator and the dump all work, as an OS kernel or a hypervisor
//!   written in Rust needs. CI builds it for `x86_64-unknown-none`.
//! - `serde`: `Serialize` and `Deserialize` for [`MapleTree`] (a sequence of `(range, value)`
//!   pairs) and [`Range`].
//! - `fault-injection`: `MapleTree::fail_reservations_after` makes node reservations fail on
//!   demand, for tests of the failure paths.
//! - `testing`: a reference model of the tree, for tests and fuzz targets.
//!
//! # Compared with `BTreeMap`, rangemap and nodit
//!
//! | | `MapleTree<T>` | `BTreeMap<u64, (u64, T)>` as a range map | rangemap's `RangeInclusiveMap` | nodit's `NoditMap` |
//! |---|---|---|---|---|
//! | keys | inclusive ranges of `u64`, `[0, u64::MAX]` included | one key per entry; the range map is built by hand | ranges of any ordered type | intervals of integer-like types |
//! | a store over existing entries | [`store_range`](MapleTree::store_range) trims and splits what it overlaps; [`insert_range`](MapleTree::insert_range) refuses | by hand | `insert` trims and splits | `insert_overwrite` trims; `insert_strict` refuses |
//! | equal values side by side | kept apart: never coalesced | kept apart | **coalesced** into one range | kept apart (`insert_merge_touching` merges on request) |
//! | the entry at an index | [`get`](MapleTree::get), [`get_range`](MapleTree::get_range) | `range(..=i).next_back()` and a check | `get`, `get_key_value` | `get_at_point` |
//! | free ranges | [`gaps`](MapleTree::gaps); [`find_gap`](MapleTree::find_gap) and [`alloc_range`](MapleTree::alloc_range) in O(log n), aligned, from either end | by hand | `gaps`, O(n) | `gaps_trimmed`, O(n) |
//! | readers beside a writer | yes: readers never block ([`read`](MapleTree::read)), one writer ([`lock`](MapleTree::lock)) | needs a lock around the map | needs a lock | needs a lock |
//! | values | any `T`; small ones in the slot, others boxed by the tree | any `V` | `V: Eq + Clone` | any `V` |
//! | a store that cuts an entry in two | clones the value (`T: Clone`) | by hand | clones | clones |
//! | nodes | 256 bytes, 16 slots (10 in an allocation tree's internal nodes), as in the kernel | std's B-tree | a `BTreeMap` | a B-tree |
//!
//! What differs from `BTreeMap`'s manners, and why: [`MapleTree::insert`] stores only into an
//! empty range (the kernel's `mtree_insert`), where `BTreeMap::insert` replaces, which is
//! [`MapleTree::store`] here. Lookups on the tree return clones ([`MapleTree::get`]) and
//! borrowing goes through a guard ([`MapleTree::read`]), because a writer on another thread may
//! remove a value at any time and only a guard keeps it alive. Iterating the tree without a
//! guard ([`MapleTree::iter`]) yields clones for the same reason.
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
//! | `mt_validate`, `mt_dump` | [`MapleTree::check_invariants`], [`MapleTree::dump`], [`MapleTree::layout`] |
//! | `mtree_lock`, `mt_clear_in_rcu` | [`MapleTree::lock`], [`MapleTree::exclusive`] |
//! | `MT_FLAGS_LOCK_EXTERN` (the owner's lock) | [`OwnedTree`] |
//! | `mas_walk` then `mas_store_gfp` on one `ma_state` (`vma_iter_store`) | [`OwnedTree::entry_mut`], [`EntryMut`] |
//! | a `vma_iterator` kept from an mm operation's look to its store | [`OwnedTree`]'s finger ([`EntryMut::for_each_around`], then [`EntryMut::store`]) |

#![warn(missing_docs)]
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod bulk;
mod cursor;
mod dump;
mod entries;
mod error;
mod gap;
mod guard;
mod layout;
mod node;
mod owned;
mod range;
mod rcu;
mod root;
mod search;
#[cfg(feature = "serde")]
mod serde_impls;
mod stats;
mod sync;
mod traits;
mod tree;
mod validate;
mod walk;
mod write;

#[cfg(feature = "testing")]
pub mod testing;
#[cfg(test)]
mod tests;

pub use cursor::{Cursor, CursorState, Iter};
pub use dump::{Dump, DumpFormat, ValueFormatter};
pub use entries::{Entries, Gaps, TreeGaps};
pub use error::{
    AllocError, AllocErrorKind, BulkLoadError, ClearError, GapError, InsertError, InsertErrorKind,
    OutOfMemory, StoreError, StoreErrorKind,
};
pub use guard::{CursorMut, Prealloc, ReadGuard, WriteGuard};
pub use layout::{LayoutKind, LayoutNode, LayoutSlot, SlotContent, TreeLayout};
pub use node::entry::{Ref, ValueMut};
pub use owned::{EntryMut, OwnedTree};
pub use range::Range;
pub use search::GapRequest;
#[cfg(feature = "std")]
pub use stats::flush_deferred;
pub use stats::{NodeCounter, Stats};
pub use tree::MapleTree;
pub use validate::{Invariant, InvariantViolation};
