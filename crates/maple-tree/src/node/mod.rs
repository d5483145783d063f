//! Node storage: 256-byte, 256-aligned nodes addressed by tagged [`NodePtr`]s.
//!
//! This module and [`crate::rcu`] are the only places in the crate that use `unsafe`. Everything
//! above them works on [`NodeRef`] handles through safe accessors.
//!
//! # Layout
//!
//! Every node is one header word followed by 31 data words, all atomics so that a reader on
//! another thread may load any of them while the single writer stores to a different word:
//!
//! ```text
//!            header   words[0..15]      words[15..31]
//! Leaf       hdr      pivot 0..=14      slot 0..=15              (16 slots, 15 pivots)
//! Range      hdr      pivot 0..=14      slot 0..=15              (16 slots, 15 pivots)
//!
//!            header   words[0..9]  words[9..19]  words[19..29]  words[29]   words[30]
//! AllocRange hdr      pivot 0..=8  slot 0..=9    gap 0..=9      max-gap    unused
//!                                                               slot
//! ```
//!
//! Slot `i` covers `[pivot[i-1] + 1, pivot[i]]`, where `pivot[-1]` is the node's minimum and the
//! pivot of the last slot is the node's maximum. Neither limit is stored: both come from the
//! parent's pivots (or are `[0, u64::MAX]` for the root), as in the kernel.
//!
//! The header word packs the node's metadata and its parent link:
//!
//! ```text
//!  63                                  8 7        4 3        0
//! +-------------------------------------+----------+----------+
//! | parent node address >> 8 (0: root)  | parent   |   end    |
//! |                                     | slot     |          |
//! +-------------------------------------+----------+----------+
//! ```
//!
//! `end` is the offset of the last used slot (the kernel's `ma_meta_end`). A dead node has its own
//! address in the address field (the kernel's "parent points to itself" marker) and keeps its
//! end: its content is frozen from its death until it is freed, and still complete.
//!
//! # Invariants
//!
//! The validator ([`crate::validate`]) checks all of these.
//!
//! - N1. `pivots[..end]` strictly ascend and lie in `[min, max)`; if the node is not full,
//!   `pivot[end] == max`.
//! - N2. Everything after `end` is zero: slots, pivots and gaps. Nodes are built by writing
//!   every word from index 0 upwards and zeroing the tail, never by copying whole arrays, so stale
//!   data cannot survive behind the end (the July 2022 stale-copy bug).
//! - N3. Every slot `0..=end` of an internal node holds a [`NodePtr`] to a live child whose header
//!   names this node and that slot.
//! - N4. A published node is freed only after it has been unlinked and, in RCU mode, marked dead
//!   and a grace period has passed; in exclusive mode only when the write operation that unlinked
//!   it has finished (see [`pool`]).
//! - N5. Every non-zero leaf slot owns exactly one value ([`entry`]).
//!
//! # Why the metadata lives in the header
//!
//! The kernel overlays `{end, gap}` on the last slot of a node that is not full, and decodes "is
//! this the end?" from pointer bits. That overlay was the root of the big-endian leak discussed in
//! the July 2022 review thread. Here `end` is an explicit field, so walks over children iterate
//! exactly `end + 1` slots on every architecture.

pub(crate) mod entry;
pub(crate) mod gather;
pub(crate) mod pool;
pub(crate) mod retire;
#[cfg(not(any(feature = "std", maple_loom)))]
pub(crate) mod spin;

use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use core::fmt;
use core::ptr::NonNull;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("maple-tree needs 64-bit pointers: its nodes are laid out as 32 64-bit words");

/// The greatest height a tree can reach (the kernel's `MAPLE_HEIGHT_MAX`).
///
/// A non-root internal node has at least 5 children, so a tree of this height would need more
/// than 5^29 nodes; memory runs out long before.
pub(crate) const MAX_HEIGHT: usize = 31;

/// Number of data words after the header.
const WORDS: usize = 31;

/// Index of the data word holding an allocation node's max-gap slot.
const META_WORD: usize = 29;

const END_MASK: usize = 0x0f;
const SLOT_SHIFT: u32 = 4;
const SLOT_MASK: usize = 0xf0;
const ADDR_MASK: usize = !0xff;
const KIND_MASK: usize = 0x03;

/// What a node is: a leaf, or one of the two internal kinds.
///
/// Linux: `enum maple_type`.
#[doc(alias = "maple_type")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum NodeKind {
    /// A leaf of any tree: 16 slots of values (Linux: `maple_leaf_64`).
    Leaf = 1,
    /// An internal node of a range tree: 16 children (Linux: `maple_range_64`).
    Range = 2,
    /// An internal node of an allocation tree: 10 children and the largest gap below each
    /// (Linux: `maple_arange_64`).
    AllocRange = 3,
}

impl NodeKind {
    /// Number of slots.
    #[inline]
    pub(crate) const fn slots(self) -> usize {
        match self {
            Self::AllocRange => 10,
            Self::Leaf | Self::Range => 16,
        }
    }

    /// Number of stored pivots (one fewer than slots: the last slot's pivot is the node max).
    #[inline]
    pub(crate) const fn pivots(self) -> usize {
        self.slots() - 1
    }

    /// The fewest slots a non-root node may use (the kernel's `mt_min_slots` plus one).
    #[inline]
    pub(crate) const fn min_len(self) -> usize {
        match self {
            Self::AllocRange => 5,
            Self::Leaf | Self::Range => 7,
        }
    }

    /// Whether this is a leaf.
    #[inline]
    pub(crate) const fn is_leaf(self) -> bool {
        matches!(self, Self::Leaf)
    }

    /// Whether the node stores a gap per slot.
    #[inline]
    pub(crate) const fn has_gaps(self) -> bool {
        matches!(self, Self::AllocRange)
    }

    #[inline]
    const fn slot_base(self) -> usize {
        self.pivots()
    }

    #[inline]
    const fn gap_base(self) -> usize {
        self.pivots() + self.slots()
    }

    /// The internal kind used by a tree with or without gap tracking.
    #[inline]
    pub(crate) const fn internal(alloc: bool) -> Self {
        if alloc { Self::AllocRange } else { Self::Range }
    }

    /// The kind a pointer's tag names. Every [`NodePtr`] is made with a kind, so the tag is never
    /// 0. The tags are the discriminants, so the walks, which decode a kind at every level, pay
    /// only the check.
    ///
    /// A `match` on the tag compiles to a jump table that materialises the same number again;
    /// the tag is taken as the discriminant instead, after the one check.
    #[inline]
    const fn from_tag(tag: usize) -> Self {
        assert!(
            tag != 0 && tag <= KIND_MASK,
            "invariant N3 broken: a node pointer without a kind tag"
        );
        // SAFETY: `tag` is 1, 2 or 3, the discriminants of `NodeKind`, a `repr(u8)` enum.
        unsafe { core::mem::transmute::<u8, Self>(tag as u8) }
    }
}

/// One 256-byte node. Only ever handled through [`NodePtr`] and [`NodeRef`].
///
/// Linux: `struct maple_node`.
#[doc(alias = "maple_node")]
#[repr(C, align(256))]
pub(crate) struct Node {
    header: AtomicUsize,
    words: [AtomicU64; WORDS],
}

// Loom's atomics are larger than the real ones; the layout only holds without loom.
#[cfg(not(maple_loom))]
const _: () = assert!(size_of::<Node>() == 256);
#[cfg(not(maple_loom))]
const _: () = assert!(align_of::<Node>() == 256);

impl Node {
    /// An empty node, for pools that construct their nodes one by one (under loom, whose
    /// atomics cannot come from zeroed memory).
    #[cfg(maple_loom)]
    pub(crate) fn empty() -> Self {
        Self {
            header: AtomicUsize::new(0),
            words: core::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A tagged pointer to a node: the node's address with its [`NodeKind`] in the low two bits.
///
/// This is what internal slots and the tree root hold. Linux: `struct maple_enode`.
#[doc(alias = "maple_enode")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NodePtr(NonNull<Node>);

// SAFETY: a `NodePtr` is an address; which thread may dereference it is governed by the
// reclamation rules (invariant N4), not by the pointer value itself.
unsafe impl Send for NodePtr {}

impl NodePtr {
    fn new(node: NonNull<Node>, kind: NodeKind) -> Self {
        Self(node.map_addr(|a| a | kind as usize))
    }

    /// The node's kind.
    #[inline]
    pub(crate) fn kind(self) -> NodeKind {
        NodeKind::from_tag(self.0.addr().get() & KIND_MASK)
    }

    #[inline]
    fn untagged(self) -> NonNull<Node> {
        // SAFETY: the address of a 256-aligned allocation is never 0, and clearing the tag in
        // its low bits leaves that address.
        unsafe { NonNull::new_unchecked(self.0.as_ptr().map_addr(|a| a & ADDR_MASK)) }
    }

    #[inline]
    fn addr(self) -> usize {
        self.0.addr().get() & ADDR_MASK
    }

    /// The word stored in a parent slot or the root.
    #[inline]
    pub(crate) fn to_word(self) -> usize {
        self.0.as_ptr().expose_provenance()
    }

    /// Decodes a word written by [`NodePtr::to_word`]; `None` for the empty word.
    #[inline]
    pub(crate) fn from_word(word: usize) -> Option<Self> {
        NonNull::new(core::ptr::with_exposed_provenance_mut::<Node>(word)).map(Self)
    }

    /// Dereferences the pointer.
    ///
    /// # Safety
    ///
    /// The node must stay allocated for `'a` (invariant N4): it was loaded from the live tree
    /// while `'a`'s guard was pinned or the writer held the tree, or it is an unpublished node
    /// owned by the caller.
    #[inline]
    pub(crate) unsafe fn deref<'a>(self) -> NodeRef<'a> {
        // SAFETY: the caller guarantees the allocation lives for 'a; nodes are always fully
        // initialised (zeroed when the pool hands them out) and only accessed through atomics.
        let node = unsafe { self.untagged().as_ref() };
        NodeRef {
            node,
            kind: self.kind(),
        }
    }
}

impl fmt::Debug for NodePtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}({:?})", self.addr(), self.kind())
    }
}

/// A shared handle to a node, valid for `'a`.
///
/// All reads and writes go through atomics, so a handle may be shared with concurrent readers.
/// Writers only store to nodes they have not published yet, or to the few words that the RCU
/// rules allow to change in place (see the crate docs).
#[derive(Clone, Copy)]
pub(crate) struct NodeRef<'a> {
    node: &'a Node,
    kind: NodeKind,
}

impl PartialEq for NodeRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        core::ptr::eq(self.node, other.node)
    }
}
impl Eq for NodeRef<'_> {}

impl fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ptr().fmt(f)
    }
}

impl<'a> NodeRef<'a> {
    /// The node's kind.
    #[inline]
    pub(crate) fn kind(self) -> NodeKind {
        self.kind
    }

    /// Whether the node is a leaf.
    #[inline]
    pub(crate) fn is_leaf(self) -> bool {
        self.kind.is_leaf()
    }

    /// The tagged pointer to this node.
    #[inline]
    pub(crate) fn ptr(self) -> NodePtr {
        NodePtr::new(NonNull::from(self.node), self.kind)
    }

    #[inline]
    fn self_addr(self) -> usize {
        core::ptr::from_ref(self.node).addr()
    }

    /// Pivot `i` (`i < kind.pivots()`).
    #[inline]
    pub(crate) fn pivot(self, i: usize) -> u64 {
        debug_assert!(i < self.kind.pivots());
        self.node.words[i].load(Ordering::Relaxed)
    }

    /// How many of the node's first 15 data words, in order, lie below `index`: the scan stops
    /// at the first word at or above it.
    ///
    /// Cut to the node's end (`leading_below(index).min(end)`), this is the slot that contains
    /// an `index` of the node's range, whatever the words at and past the end hold: below the
    /// end they are the pivots, which ascend, and a scan that passes them all is cut back to the
    /// end. So it needs no bound of its own and no kind: 15 is the pivot count of a leaf or
    /// range node, and in an allocation node the words past its 9 pivots (its slots) lie past
    /// its end too. A node that is not full holds its maximum at its end (N1), so in a node
    /// that is not changing the scan stops there at the latest. In RCU mode a writer may be
    /// appending past a leaf's end while this reads: what the scan meets there is cut off all
    /// the same.
    ///
    /// Linux: the pivot scan of `mtree_lookup_walk()`, which relies on the same stored maximum.
    #[inline]
    pub(crate) fn leading_below(self, index: u64) -> usize {
        let words = &self.node.words;
        let mut i = 0;
        while i < 15 && words[i].load(Ordering::Relaxed) < index {
            i += 1;
        }
        i
    }

    /// Sets pivot `i`. Only on unpublished nodes or in exclusive mode.
    #[inline]
    pub(crate) fn set_pivot(self, i: usize, pivot: u64) {
        debug_assert!(i < self.kind.pivots());
        self.node.words[i].store(pivot, Ordering::Relaxed);
    }

    /// The raw word in slot `i`: a value word in a leaf, a [`NodePtr`] word in an internal node,
    /// 0 when empty.
    #[inline]
    pub(crate) fn slot(self, i: usize) -> usize {
        debug_assert!(i < self.kind.slots());
        // ORDERING: Acquire pairs with the Release store in `set_slot` (and the publication of
        // a child in `publish_slot`), so the value or node behind the word is visible.
        self.node.words[self.kind.slot_base() + i].load(Ordering::Acquire) as usize
    }

    /// The pivots and slots of a leaf, as arrays of their exact lengths, for the walks that
    /// step through its slots.
    #[inline]
    pub(crate) fn leaf_words(self) -> LeafWords<'a> {
        debug_assert!(self.kind.is_leaf());
        let (pivots, rest) = self
            .node
            .words
            .split_first_chunk::<15>()
            .unwrap_or_else(|| {
                unreachable!("a node holds 31 words");
            });
        let slots = rest.first_chunk::<16>().unwrap_or_else(|| {
            unreachable!("a node holds 31 words");
        });
        LeafWords { pivots, slots }
    }

    /// The gaps of an allocation node, as an array of its exact length, for the gap search that
    /// skips the children whose recorded gap is too small.
    #[inline]
    pub(crate) fn gap_words(self) -> GapWords<'a> {
        debug_assert!(self.kind.has_gaps());
        let base = NodeKind::AllocRange.gap_base();
        let gaps = self.node.words[base..]
            .first_chunk::<10>()
            .unwrap_or_else(|| unreachable!("an allocation node's gaps end before its meta word"));
        GapWords(gaps)
    }

    /// Stores a word into slot `i`.
    ///
    /// This is the one store that may hit a published node in RCU mode: an exact-fit replacement
    /// of a single slot, which readers observe as either the old or the new word.
    #[inline]
    pub(crate) fn set_slot(self, i: usize, word: usize) {
        debug_assert!(i < self.kind.slots());
        // ORDERING: Release pairs with the Acquire load in `slot`: whatever the word points to
        // (a value, or a fully built child node) is visible before the word itself.
        self.node.words[self.kind.slot_base() + i].store(word as u64, Ordering::Release);
    }

    /// Moves the `count` slot words from slot `src` on to slot `dst` on (the runs may overlap).
    /// Only on unpublished nodes or in exclusive mode: a reader could see the run half moved.
    #[inline(always)]
    pub(crate) fn move_slots(self, src: usize, dst: usize, count: usize) {
        let base = self.kind.slot_base();
        Self::move_words(
            &self.node.words[base..base + self.kind.slots()],
            src,
            dst,
            count,
        );
    }

    /// Moves the `count` pivots from `src` on to `dst` on, as [`move_slots`](Self::move_slots).
    #[inline(always)]
    pub(crate) fn move_pivots(self, src: usize, dst: usize, count: usize) {
        Self::move_words(&self.node.words[..self.kind.pivots()], src, dst, count);
    }

    /// Moves the `count` gaps of an allocation node from `src` on to `dst` on, as
    /// [`move_slots`](Self::move_slots).
    #[inline]
    pub(crate) fn move_gaps(self, src: usize, dst: usize, count: usize) {
        debug_assert!(self.kind.has_gaps());
        let base = self.kind.gap_base();
        Self::move_words(
            &self.node.words[base..base + self.kind.slots()],
            src,
            dst,
            count,
        );
    }

    /// Zeroes slots `from..=end` and their pivots (invariant N2), as
    /// [`move_slots`](Self::move_slots).
    #[inline(always)]
    pub(crate) fn clear_from(self, from: usize, end: usize) {
        let base = self.kind.slot_base();
        zero_words(&self.node.words[base + from..base + end + 1]);
        let pivots = self.kind.pivots();
        zero_words(&self.node.words[from.min(pivots)..(end + 1).min(pivots)]);
    }

    /// Moves `words[src..src + count]` to `words[dst..dst + count]` (the runs may overlap).
    /// Nothing to move is no move, wherever it starts.
    #[inline(always)]
    fn move_words(words: &[AtomicU64], src: usize, dst: usize, count: usize) {
        if count == 0 {
            return;
        }
        copy_words(&words[src..src + count], &words[dst..dst + count]);
    }

    /// The gap recorded for child `i` of an allocation node.
    #[inline]
    pub(crate) fn gap(self, i: usize) -> u64 {
        debug_assert!(self.kind.has_gaps() && i < self.kind.slots());
        self.node.words[self.kind.gap_base() + i].load(Ordering::Relaxed)
    }

    /// Sets the gap of child `i` of an allocation node.
    ///
    /// Gaps may change in place on a published node: they are hints for gap searches, which
    /// always confirm a fit in a leaf.
    #[inline]
    pub(crate) fn set_gap(self, i: usize, gap: u64) {
        debug_assert!(self.kind.has_gaps() && i < self.kind.slots());
        self.node.words[self.kind.gap_base() + i].store(gap, Ordering::Relaxed);
    }

    /// The slot holding the largest gap of an allocation node (the kernel's `ma_meta_gap`).
    #[inline]
    pub(crate) fn max_gap_slot(self) -> usize {
        debug_assert!(self.kind.has_gaps());
        self.node.words[META_WORD].load(Ordering::Relaxed) as usize
    }

    /// Records the slot holding the largest gap.
    #[inline]
    pub(crate) fn set_max_gap_slot(self, slot: usize) {
        debug_assert!(self.kind.has_gaps() && slot < self.kind.slots());
        self.node.words[META_WORD].store(slot as u64, Ordering::Relaxed);
    }

    /// The raw value of every data word that lies past the layout of this kind, for the
    /// validator's "nothing after the end" check.
    pub(crate) fn spare_words(self) -> impl Iterator<Item = u64> + 'a {
        let used = match self.kind {
            NodeKind::AllocRange => META_WORD + 1,
            NodeKind::Leaf | NodeKind::Range => WORDS,
        };
        self.node.words[used..]
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
    }

    #[inline]
    fn header(self) -> usize {
        // ORDERING: Acquire pairs with the Release stores in `mark_dead` and `set_end`: a reader
        // that sees the node dead also sees the replacement published before it died, and one
        // that sees a new end also sees the slots appended before it.
        self.node.header.load(Ordering::Acquire)
    }

    /// Offset of the last used slot (the kernel's `ma_data_end`).
    #[inline]
    pub(crate) fn end(self) -> usize {
        self.header() & END_MASK
    }

    /// Sets the end offset.
    ///
    /// On a published node in RCU mode this is the last step of an append: everything past the
    /// old end was written first, and a reader that sees the new end sees all of it.
    #[inline]
    pub(crate) fn set_end(self, end: usize) {
        debug_assert!(end < self.kind.slots());
        let h = self.node.header.load(Ordering::Relaxed);
        // ORDERING: Release pairs with the Acquire load in `header` (via `end`): the slots and
        // pivots written past the old end are visible to a reader that sees the new end.
        self.node
            .header
            .store((h & !END_MASK) | end, Ordering::Release);
    }

    /// The parent link: the parent's address (without kind) and our slot in it; `None` for the
    /// root. Linux: `mte_parent()`, `mte_parent_slot()`.
    #[doc(alias = "mte_parent")]
    pub(crate) fn parent_link(self) -> Option<(usize, usize)> {
        let h = self.header();
        let addr = h & ADDR_MASK;
        (addr != 0).then_some((addr, (h & SLOT_MASK) >> SLOT_SHIFT))
    }

    /// Whether `other` is the node this node's parent link points at.
    pub(crate) fn parent_is(self, other: NodeRef<'_>) -> bool {
        self.parent_link()
            .is_some_and(|(addr, _)| addr == other.self_addr())
    }

    /// Points this node's parent link at `parent`, slot `slot` (`None`: this is the root).
    ///
    /// A single-word store that keeps `end`, so it may hit a published node: readers only use the
    /// header for `end` and for the death check.
    ///
    /// Linux: `mas_set_parent()`.
    #[doc(alias = "mas_set_parent")]
    pub(crate) fn set_parent(self, parent: Option<NodeRef<'_>>, slot: usize) {
        debug_assert!(slot < 16);
        let h = self.node.header.load(Ordering::Relaxed);
        let addr = parent.map_or(0, |p| p.self_addr());
        // ORDERING: Release, like `set_end`: a reader whose Acquire load of the header reads
        // this store must also see the slots an earlier append published with the end it
        // carries (a plain store would not continue the earlier Release store's ordering).
        self.node.header.store(
            addr | (slot << SLOT_SHIFT) | (h & END_MASK),
            Ordering::Release,
        );
    }

    /// Whether the node has been unlinked and marked dead. Linux: `ma_dead_node()`.
    #[doc(alias = "ma_dead_node")]
    #[inline]
    pub(crate) fn is_dead(self) -> bool {
        self.header() & ADDR_MASK == self.self_addr()
    }

    /// Whether the node is still in the tree with data end `end`: the check that closes every
    /// read of a published node (see [`crate::walk`]). It loads the header once.
    ///
    /// Linux: `ma_dead_node()`, plus the end, which our in-place appends move.
    #[inline]
    pub(crate) fn is_current(self, end: usize) -> bool {
        let h = self.header();
        h & ADDR_MASK != self.self_addr() && h & END_MASK == end
    }

    /// Marks an unlinked node dead, after its replacement has been published. Only the address
    /// changes: the end stays, so the node keeps describing its old content completely, and a
    /// deferred free can still walk it.
    ///
    /// Linux: `mte_set_node_dead()`.
    #[doc(alias = "mte_set_node_dead")]
    pub(crate) fn mark_dead(self) {
        let end = self.node.header.load(Ordering::Relaxed) & END_MASK;
        // ORDERING: Release pairs with the Acquire load in `header` (via `is_dead` and
        // `is_current`): a reader that observes the death restarts from the root and must find
        // the replacement, which was published before this store.
        self.node
            .header
            .store(self.self_addr() | end, Ordering::Release);
    }

    /// The child in slot `i` of an internal node, or `None` if the slot is empty.
    #[inline]
    pub(crate) fn child(self, i: usize) -> Option<NodeRef<'a>> {
        assert!(
            !self.kind.is_leaf(),
            "invariant N3 broken: asked a leaf for a child"
        );
        let ptr = NodePtr::from_word(self.slot(i))?;
        // SAFETY: an internal slot only ever holds a pointer to a published child (N3). The
        // child stays allocated for 'a because this node does (N4): a child is unlinked and
        // retired no earlier than the parent slot that points to it is overwritten, and the
        // retirement waits for every guard that could have loaded it.
        Some(unsafe { ptr.deref() })
    }

    /// Points the children in slots `from..=end` of this internal node back at it: each one's
    /// parent link names this node and its slot, and keeps its end.
    ///
    /// Linux: `mas_adopt_children()`.
    #[doc(alias = "mas_adopt_children")]
    pub(crate) fn adopt_children(self, from: usize) {
        assert!(
            !self.kind.is_leaf(),
            "invariant N3 broken: a leaf has no children"
        );
        let base = self.kind.slot_base();
        let addr = self.self_addr();
        let end = self.end();
        for (i, word) in self.node.words[base..=base + end]
            .iter()
            .enumerate()
            .skip(from)
        {
            // ORDERING: as in `slot`.
            let word = word.load(Ordering::Acquire) as usize;
            if word == 0 {
                continue;
            }
            // SAFETY: an internal slot holds a pointer to a published child (N3) or, while
            // the writer builds this node, one it is about to publish; either stays allocated
            // while this node does (N4). Only its header is touched, and the untagged address
            // of any node is 256-aligned and non-zero.
            let child = unsafe { &*core::ptr::with_exposed_provenance::<Node>(word & ADDR_MASK) };
            let h = child.header.load(Ordering::Relaxed);
            // ORDERING: Release, as in `set_parent`.
            child
                .header
                .store(addr | (i << SLOT_SHIFT) | (h & END_MASK), Ordering::Release);
        }
    }

    /// Copies every word of `src` (same kind) into this unpublished, empty node, in one plain
    /// copy, with the end; the slots past the end stay empty. The slots up to the end then hold
    /// `src`'s words, which the caller keeps (inline values, owned by no one) or overwrites
    /// with words of its own before anything can drop this node. Linux: the `memcpy` of
    /// `__mt_dup()`.
    pub(crate) fn copy_whole_from(self, src: NodeRef<'_>) {
        debug_assert_eq!(self.kind, src.kind);
        let end = src.end();
        let slots = self.kind.slot_base()..self.kind.slot_base() + self.kind.slots();
        // The source is published, but the copy runs while no writer can (the callers hold the
        // tree's lock or borrow it exclusively), so plain loads race with nothing.
        copy_words(
            &src.node.words[..slots.start + end + 1],
            &self.node.words[..slots.start + end + 1],
        );
        copy_words(&src.node.words[slots.end..], &self.node.words[slots.end..]);
        self.set_end(end);
    }

    /// Copies the pivots, gaps and end of `src` (same kind) into this unpublished, empty node,
    /// leaving its slots empty for the caller to fill with words of its own. Linux: the `memcpy`
    /// of `__mt_dup()`, without the slots.
    pub(crate) fn copy_shape_from(self, src: NodeRef<'_>) {
        debug_assert_eq!(self.kind, src.kind);
        let slots = self.kind.slot_base()..self.kind.slot_base() + self.kind.slots();
        for (i, (to, from)) in self.node.words.iter().zip(&src.node.words).enumerate() {
            if !slots.contains(&i) {
                to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        self.set_end(src.end());
    }

    /// The next node of a free list this node is on (its first data word; see [`pool`]).
    fn link(self) -> Option<NodePtr> {
        NodePtr::from_word(self.node.words[0].load(Ordering::Relaxed) as usize)
    }

    /// Puts this node on a free list in front of `next`. Only for a node no reader and no
    /// write can reach any more.
    fn set_link(self, next: Option<NodePtr>) {
        let word = next.map_or(0, NodePtr::to_word);
        self.node.words[0].store(word as u64, Ordering::Relaxed);
    }

    /// Zeroes every data word and the header. Used when a node comes out of the pool under
    /// loom, whose atomics only atomic stores may write.
    #[cfg(maple_loom)]
    pub(crate) fn clear(self) {
        self.node.header.store(0, Ordering::Relaxed);
        for w in &self.node.words {
            w.store(0, Ordering::Relaxed);
        }
    }
}

/// Copies the words of `from` into `to`, which has the same length; the two may overlap.
///
/// Plain loads and stores: only for words that no other thread reads meanwhile (a node not
/// published yet, or any node while the writer holds the tree exclusively), as the callers
/// say. Under loom, whose atomics only atomic accesses may touch, word by word, in the order
/// that reads every word before it is overwritten.
#[inline]
fn copy_words(from: &[AtomicU64], to: &[AtomicU64]) {
    debug_assert_eq!(from.len(), to.len());
    #[cfg(not(maple_loom))]
    // SAFETY: both runs are `to.len()` words inside live nodes. An `AtomicU64` has the size and
    // alignment of a `u64` and is an `UnsafeCell`, so its memory may be written through a
    // pointer from a shared reference. The callers copy only into words no reader can load
    // (the node is unpublished, or the writer holds the tree exclusively and no reader exists),
    // and only this writer stores to nodes, so these plain accesses race with nothing.
    // `ptr::copy` allows the runs to overlap.
    unsafe {
        core::ptr::copy(
            from.as_ptr().cast::<u64>(),
            to.as_ptr().cast::<u64>().cast_mut(),
            to.len(),
        );
    }
    #[cfg(maple_loom)]
    {
        let (f, t) = (from.as_ptr().addr(), to.as_ptr().addr());
        if t > f {
            for (t, f) in to.iter().zip(from).rev() {
                t.store(f.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        } else {
            for (t, f) in to.iter().zip(from) {
                t.store(f.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }
}

/// Zeroes `words`, with plain stores, as [`copy_words`] copies.
#[inline]
fn zero_words(words: &[AtomicU64]) {
    #[cfg(not(maple_loom))]
    // SAFETY: as in `copy_words`: live words, writable through a shared reference, that no
    // other thread loads meanwhile.
    unsafe {
        core::ptr::write_bytes(words.as_ptr().cast::<u64>().cast_mut(), 0, words.len());
    }
    #[cfg(maple_loom)]
    for w in words {
        w.store(0, Ordering::Relaxed);
    }
}

/// A leaf's 15 pivots and 16 slots: a walk that keeps its slot index within 15 loads them
/// without a bounds check per load.
#[derive(Clone, Copy)]
pub(crate) struct LeafWords<'a> {
    pivots: &'a [AtomicU64; 15],
    slots: &'a [AtomicU64; 16],
}

impl LeafWords<'_> {
    /// Pivot `i`, as [`NodeRef::pivot`] reads it.
    #[inline]
    pub(crate) fn pivot(self, i: usize) -> u64 {
        self.pivots[i].load(Ordering::Relaxed)
    }

    /// The word in slot `i`, as [`NodeRef::slot`] reads it.
    #[inline]
    pub(crate) fn slot(self, i: usize) -> usize {
        // ORDERING: as in `NodeRef::slot`.
        self.slots[i].load(Ordering::Acquire) as usize
    }

    /// Sets pivot `i`, as [`NodeRef::set_pivot`] does. Only on unpublished nodes or in
    /// exclusive mode.
    #[inline]
    pub(crate) fn set_pivot(self, i: usize, pivot: u64) {
        self.pivots[i].store(pivot, Ordering::Relaxed);
    }

    /// Stores a word into slot `i`, as [`NodeRef::set_slot`] does.
    #[inline]
    pub(crate) fn set_slot(self, i: usize, word: usize) {
        // ORDERING: as in `NodeRef::set_slot`.
        self.slots[i].store(word as u64, Ordering::Release);
    }

    /// Moves slots `from..=end` up by `by`, with the pivots of `from..end` that keep a pivot
    /// where they land (not the end's: the caller stores the new end's pivot, or the node's
    /// maximum stays implied): the room an insert opens before slot `from`. Only on
    /// unpublished nodes or in exclusive mode, as [`NodeRef::move_slots`].
    #[inline]
    pub(crate) fn open(self, from: usize, by: usize, end: usize) {
        copy_words(&self.slots[from..=end], &self.slots[from + by..=end + by]);
        let to = end.min(self.pivots.len() - by);
        if from < to {
            copy_words(&self.pivots[from..to], &self.pivots[from + by..to + by]);
        }
    }
}

/// An allocation node's 10 gaps: a scan that keeps its index within 9 loads them without a
/// bounds check per load.
#[derive(Clone, Copy)]
pub(crate) struct GapWords<'a>(&'a [AtomicU64; 10]);

impl GapWords<'_> {
    /// The gap of child `i`, as [`NodeRef::gap`] reads it.
    #[inline]
    pub(crate) fn get(self, i: usize) -> u64 {
        self.0[i].load(Ordering::Relaxed)
    }
}

/// The tree's root pointer: a [`NodePtr`] word, or 0 for an empty tree.
///
/// Linux: `maple_tree.ma_root`.
#[derive(Debug, Default)]
pub(crate) struct RootCell(AtomicUsize);

impl RootCell {
    /// The root node, if any, valid for as long as `guard`.
    #[inline]
    pub(crate) fn load<'g>(&self, _guard: &'g crate::rcu::Guard) -> Option<NodeRef<'g>> {
        // ORDERING: Acquire pairs with the Release store in `publish`: the root's contents are
        // visible before the pointer.
        let ptr = NodePtr::from_word(self.0.load(Ordering::Acquire))?;
        // SAFETY: the root word always points to a published node (or is 0). A node is freed
        // only after it is unlinked and every guard that could have loaded it is gone (N4); the
        // caller's guard was taken before this load, so the node outlives 'g.
        Some(unsafe { ptr.deref() })
    }

    /// Publishes a new root (`None`: the tree is empty).
    pub(crate) fn publish(&self, root: Option<NodeRef<'_>>) {
        let word = root.map_or(0, |n| n.ptr().to_word());
        // ORDERING: Release pairs with the Acquire load in `load`: the new root and everything
        // below it were fully written before it becomes reachable.
        self.0.store(word, Ordering::Release);
    }
}
