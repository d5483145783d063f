//! The VMA index: the map from address ranges to [`VmaId`]s that the address space keeps its
//! VMAs in, as a small trait with two implementations.
//!
//! [`MapleIndex`] is the real one: an allocation maple tree, as Linux's `mm->mm_mt`, held as
//! an [`OwnedTree`] (only the address space writes it, through `&mut`).
//! [`BTreeIndex`] keeps the same map in a `BTreeMap` and finds free ranges by scanning; it
//! exists so that a benchmark can run the identical address-space logic on both and measure
//! what the tree contributes.
//!
//! # How a change reaches the index
//!
//! The address-space logic works out a change on a private copy of the VMAs around it (see
//! `window.rs`), then hands the index the list of range writes that turn the old layout into
//! the new one. The writes come with a [`WritePlan`]:
//!
//! - [`WritePlan::Direct`]: the first write may need new tree nodes; every later write stores
//!   a new id over exactly the range of one entry that exists once the writes before it are
//!   done (a *relabel*). In exclusive mode the maple tree changes one slot word for such a
//!   store and reserves no node, so it cannot fail. The change is therefore atomic: either the
//!   first write's reservation fails and nothing changes, or everything is done.
//! - [`WritePlan::Transaction`]: several writes need nodes. The maple index applies them to a
//!   node-by-node copy of the tree ([`OwnedTree::try_clone`]) and swaps the copy in only when
//!   all succeeded. Linux is not atomic there (a multi-VMA `mprotect` or an `mremap` move
//!   can fail half-way); this model is.

use std::collections::BTreeMap;
use std::ops::Bound;

use maple_tree::{GapRequest, OutOfMemory, OwnedTree};

use crate::vma::VmaId;

/// An entry of the index: a VMA's range `[start, end)` and its id.
///
/// ```
/// use maple_mm::{IndexEntry, MapleIndex, VmaIndex};
/// let index = MapleIndex::new();
/// let none: Option<IndexEntry> = index.lookup(0x1000);
/// assert_eq!(none, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// First address.
    pub start: u64,
    /// First address after the range.
    pub end: u64,
    /// The VMA stored there.
    pub id: VmaId,
}

/// One write to the index: store `id` over `[start, end)`, or empty the range (`None`).
/// Entries that overlap the range lose the overlapping part.
///
/// ```
/// use maple_mm::{AddressSpace, IndexWrite, MapleIndex, Vma, VmFlags, VmaIndex, WritePlan};
/// // Writes come from the address space; here one is replayed on a second index.
/// let mut mm = AddressSpace::new();
/// let id = mm.link_vma(Vma::anonymous(0x1000, 0x3000, VmFlags::READ))?;
/// let mut index = MapleIndex::new();
/// let write = IndexWrite { start: 0x1000, end: 0x3000, id: Some(id) };
/// index.apply(&[write], WritePlan::Direct)?;
/// assert_eq!(index.lookup(0x2fff).map(|e| e.id), Some(id));
/// index.apply(&[IndexWrite { id: None, ..write }], WritePlan::Direct)?;
/// assert!(index.is_empty());
/// # Ok::<(), maple_mm::Errno>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexWrite {
    /// First address.
    pub start: u64,
    /// First address after the range.
    pub end: u64,
    /// The id to store, or `None` to empty the range.
    pub id: Option<VmaId>,
}

/// How the writes of one change may be carried out.
///
/// With `Direct`, the first write may need new tree nodes and every later write stores a new
/// id over exactly one existing entry (which needs none), so the change is atomic if the
/// first write is. With `Transaction`, several writes may need nodes; the maple index then
/// applies them to a copy of the tree and swaps it in when all succeeded.
///
/// ```
/// use maple_mm::{AddressSpace, IndexWrite, MapleIndex, Vma, VmFlags, VmaIndex, WritePlan};
/// let mut mm = AddressSpace::new();
/// let a = mm.link_vma(Vma::anonymous(0x1000, 0x2000, VmFlags::READ))?;
/// let b = mm.link_vma(Vma::anonymous(0x5000, 0x6000, VmFlags::READ))?;
/// // Two stores into empty space both need nodes: a transaction.
/// let mut index = MapleIndex::new();
/// let writes = [
///     IndexWrite { start: 0x1000, end: 0x2000, id: Some(a) },
///     IndexWrite { start: 0x5000, end: 0x6000, id: Some(b) },
/// ];
/// index.apply(&writes, WritePlan::Transaction)?;
/// assert_eq!(index.len(), 2);
/// # Ok::<(), maple_mm::Errno>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePlan {
    /// One write that may need memory, then relabels that cannot fail.
    Direct,
    /// Several writes that may need memory: all or nothing.
    Transaction,
}

/// The map from address ranges to VMA ids that an [`AddressSpace`](crate::AddressSpace)
/// keeps its VMAs in.
///
/// Ranges are half-open `[start, end)` and never overlap. An implementation must apply
/// [`VmaIndex::apply`] atomically: on error the index is unchanged.
///
/// # Examples
///
/// ```
/// use maple_mm::{AddressSpace, BTreeIndex, MapFlags, Prot};
///
/// // The same address-space logic over a BTreeMap instead of the maple tree.
/// let mut mm = AddressSpace::<BTreeIndex>::with_index(Default::default());
/// let addr = mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
/// assert_eq!(mm.find_vma(addr).unwrap().start(), addr);
/// # Ok::<(), maple_mm::Errno>(())
/// ```
pub trait VmaIndex: Sized + core::fmt::Debug {
    /// An empty index.
    ///
    /// ```
    /// use maple_mm::{BTreeIndex, VmaIndex};
    /// assert_eq!(BTreeIndex::new().len(), 0);
    /// ```
    fn new() -> Self;

    /// Number of entries.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// assert_eq!(index.len(), 2);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn len(&self) -> usize;

    /// Whether the index is empty.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// assert!(!index.is_empty());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry containing `addr`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// assert_eq!(index.lookup(0x11fff).map(|e| (e.start, e.end)), Some((0x10000, 0x12000)));
    /// assert_eq!(index.lookup(0x12000), None);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn lookup(&self, addr: u64) -> Option<IndexEntry>;

    /// The first entry that intersects `[addr, limit]` (`limit` included).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// assert_eq!(index.find(0x12000, u64::MAX).map(|e| e.start), Some(0x20000));
    /// assert_eq!(index.find(0x12000, 0x1ffff), None);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn find(&self, addr: u64, limit: u64) -> Option<IndexEntry>;

    /// The last entry that intersects `[min, addr]` (both included).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// assert_eq!(index.find_rev(0x1ffff, 0).map(|e| e.start), Some(0x10000));
    /// assert_eq!(index.find_rev(0x1ffff, 0x12000), None);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn find_rev(&self, addr: u64, min: u64) -> Option<IndexEntry>;

    /// Appends every entry that intersects `[start, end)` to `out`, in ascending order.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// let mut out = Vec::new();
    /// index.collect(0x11000, 0x20001, &mut out);
    /// assert_eq!(out.iter().map(|e| e.start).collect::<Vec<_>>(), [0x10000, 0x20000]);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn collect(&self, start: u64, end: u64, out: &mut Vec<IndexEntry>);

    /// Appends to `out`, in ascending order, every entry that intersects `[start, end)`
    /// (`end` raised to `start + 1` if below), the entry before them and the entry after them
    /// (each if there is one): the VMAs a change of `[start, end)` may touch or merge with.
    ///
    /// The entry before is the last one that ends at or below the start of the first entry
    /// intersecting the range (or at or below `start`); the entry after is the first one that
    /// starts at or above the end of the last entry intersecting the range (or at or above
    /// `end`). The maple index finds them all with one cursor: a walk of the tree to `start`,
    /// one step back and steps forward (Linux: one `vma_iterator` for the whole operation).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// for (addr, prot) in [(0x10000, Prot::READ), (0x20000, Prot::WRITE), (0x30000, Prot::READ)] {
    ///     mm.mmap(addr, 0x2000, prot, fixed, None, 0)?;
    /// }
    /// mm.mmap(0x40000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// // The address space keeps its index to itself: look at a copy.
    /// let mut index = mm.index().try_clone()?;
    /// let mut out = Vec::new();
    /// index.neighbourhood(0x21000, 0x22000, &mut out);
    /// assert_eq!(out.iter().map(|e| e.start).collect::<Vec<_>>(), [0x10000, 0x20000, 0x30000]);
    /// out.clear();
    /// index.neighbourhood(0x25000, 0x26000, &mut out);
    /// assert_eq!(out.iter().map(|e| e.start).collect::<Vec<_>>(), [0x20000, 0x30000]);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_prev()`, `vma_find()` and `vma_next()` on one `vma_iterator`.
    fn neighbourhood(&mut self, start: u64, end: u64, out: &mut Vec<IndexEntry>);

    /// The lowest (or, `top_down`, highest) `s` such that `[s, s + size - 1]` lies in
    /// `[min, max]` and holds no entry.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// assert_eq!(index.gap(0x10000, 0x2ffff, 0x3000, false), Some(0x12000));
    /// assert_eq!(index.gap(0x10000, 0x2ffff, 0x3000, true), Some(0x2d000));
    /// assert_eq!(index.gap(0x10000, 0x21fff, 0xf000, false), None);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn gap(&self, min: u64, max: u64, size: u64, top_down: bool) -> Option<u64>;

    /// Applies `writes` in order, atomically.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if memory for the index ran out; the index is then unchanged.
    ///
    /// ```
    /// use maple_mm::{IndexWrite, MapleIndex, VmaIndex, WritePlan};
    /// # use maple_mm::{AddressSpace, Vma, VmFlags};
    /// # let mut mm = AddressSpace::new();
    /// # let id = mm.link_vma(Vma::anonymous(0x1000, 0x4000, VmFlags::READ))?;
    /// let mut index = MapleIndex::new();
    /// index.apply(&[IndexWrite { start: 0x1000, end: 0x4000, id: Some(id) }], WritePlan::Direct)?;
    /// // Punch a hole: the entry loses the middle page.
    /// index.apply(&[IndexWrite { start: 0x2000, end: 0x3000, id: None }], WritePlan::Direct)?;
    /// assert_eq!(index.len(), 2);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn apply(&mut self, writes: &[IndexWrite], plan: WritePlan) -> Result<(), OutOfMemory>;

    /// A copy, for fork.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if memory for the copy ran out.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// let copy = index.try_clone()?;
    /// assert_eq!(copy.len(), 2);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn try_clone(&self) -> Result<Self, OutOfMemory>;

    /// Checks the index's own structure.
    ///
    /// # Errors
    ///
    /// A description of the first problem found.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::WRITE, fixed, None, 0)?;
    /// let index = mm.index();
    /// assert_eq!(index.check(), Ok(()));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    fn check(&self) -> Result<(), String>;

    /// Fault injection: node reservations may ask for `nodes` more nodes in all, then fail
    /// (`None`: no limit). Indexes that cannot fail keep this default, which ignores it.
    ///
    /// ```
    /// use maple_mm::{IndexWrite, MapleIndex, VmaIndex, WritePlan};
    /// # use maple_mm::{AddressSpace, Vma, VmFlags};
    /// # let mut mm = AddressSpace::new();
    /// # let id = mm.link_vma(Vma::anonymous(0x1000, 0x4000, VmFlags::READ))?;
    /// let mut index = MapleIndex::new();
    /// index.fail_reservations_after(Some(0));
    /// let write = IndexWrite { start: 0x1000, end: 0x4000, id: Some(id) };
    /// assert!(index.apply(&[write], WritePlan::Direct).is_err());
    /// assert!(index.is_empty());
    /// index.fail_reservations_after(None);
    /// index.apply(&[write], WritePlan::Direct)?;
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    #[cfg(feature = "fault-injection")]
    fn fail_reservations_after(&self, nodes: Option<u64>) {
        let _ = nodes;
    }
}

/// The VMA index on an allocation maple tree, as Linux keeps `mm->mm_mt`: a VMA
/// `[start, end)` is stored over the inclusive range `[start, end - 1]`, and free address
/// ranges are found with the tree's gap search.
///
/// The address space owns the tree as an [`OwnedTree`], so every write goes through
/// [`OwnedTree::exclusive`] (`&mut`: no reader can exist, and nodes are rewritten in place)
/// and reads through `&self` pin no RCU epoch (no writer can exist).
///
/// ```
/// use maple_mm::{IndexWrite, MapleIndex, VmaIndex, WritePlan};
///
/// let index = MapleIndex::new();
/// assert!(index.is_empty());
/// assert_eq!(index.gap(0x1000, 0xffff, 0x2000, true), Some(0xe000));
/// ```
#[derive(Debug, Default)]
pub struct MapleIndex {
    tree: OwnedTree<u32>,
}

impl MapleIndex {
    /// The tree itself, for inspection (height, node count, dumps).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// let tree = mm.index().tree();
    /// assert!(tree.is_alloc());
    /// assert!(tree.check_invariants().is_ok());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn tree(&self) -> &OwnedTree<u32> {
        &self.tree
    }
}

/// Converts a tree hit (an inclusive range and an id) to an entry.
fn entry_of(range: maple_tree::Range, id: u32) -> IndexEntry {
    IndexEntry {
        start: range.first(),
        end: range.last().saturating_add(1),
        id: VmaId(id),
    }
}

/// Carries out one write on the tree, from the tree's finger when the write starts in its
/// leaf (Linux: `vma_iter_store()` on the iterator the operation walked with).
fn write_owned(tree: &mut OwnedTree<u32>, write: &IndexWrite) -> Result<(), OutOfMemory> {
    if write.start >= write.end {
        return Ok(());
    }
    let range = write.start..=write.end - 1;
    let entry = tree.entry_mut(write.start);
    match write.id {
        Some(id) => entry.store(range, id.0).map_err(|_| OutOfMemory),
        None => entry.clear(range).map_err(|_| OutOfMemory),
    }
}

/// Carries out one write on a tree writer.
fn write_tree(
    w: &mut maple_tree::WriteGuard<'_, u32>,
    write: &IndexWrite,
) -> Result<(), OutOfMemory> {
    if write.start >= write.end {
        return Ok(());
    }
    let last = write.end - 1;
    match write.id {
        Some(id) => w
            .store_range(write.start..=last, id.0)
            .map_err(|_| OutOfMemory),
        None => w.clear_range(write.start..=last).map_err(|_| OutOfMemory),
    }
}

impl VmaIndex for MapleIndex {
    fn new() -> Self {
        MapleIndex {
            tree: OwnedTree::new_alloc(),
        }
    }

    fn len(&self) -> usize {
        self.tree.len()
    }

    fn lookup(&self, addr: u64) -> Option<IndexEntry> {
        self.tree.get_range(addr).map(|(r, id)| entry_of(r, *id))
    }

    fn find(&self, addr: u64, limit: u64) -> Option<IndexEntry> {
        self.tree.find(addr..=limit).map(|(r, id)| entry_of(r, *id))
    }

    fn find_rev(&self, addr: u64, min: u64) -> Option<IndexEntry> {
        self.tree
            .find_rev(min..=addr)
            .map(|(r, id)| entry_of(r, *id))
    }

    fn collect(&self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        if start >= end {
            return;
        }
        if start == 0 && end == u64::MAX {
            // The whole address space (fork, exit): every entry, leaf after leaf.
            self.tree.for_each(|r, id| out.push(entry_of(r, *id)));
            return;
        }
        // `for_each` folds, which walks each leaf's slots in one loop.
        self.tree
            .range(start..end)
            .for_each(|(r, id)| out.push(entry_of(r, *id)));
    }

    fn neighbourhood(&mut self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        // One walk, then slot by slot (Linux: one `vma_iterator` for the whole operation). The
        // tree keeps the position for the commit's first write, which most often starts there.
        let last = end.saturating_sub(1).max(start);
        self.tree
            .entry_mut(start)
            .for_each_around(start..=last, |range, &id| out.push(entry_of(range, id)));
    }

    fn gap(&self, min: u64, max: u64, size: u64, top_down: bool) -> Option<u64> {
        let mut request = GapRequest::new(min..=max, size);
        if top_down {
            request = request.top_down();
        }
        self.tree.find_gap_for(request).ok()
    }

    fn apply(&mut self, writes: &[IndexWrite], plan: WritePlan) -> Result<(), OutOfMemory> {
        match plan {
            WritePlan::Direct => {
                let mut writes = writes.iter();
                if let Some(first) = writes.next() {
                    write_owned(&mut self.tree, first)?;
                }
                for relabel in writes {
                    // NOTE: each of these stores a word over exactly one existing slot (an
                    // exact fit), which maple-tree plans with no node at all in exclusive mode
                    // (reserving zero nodes cannot fail), so nothing below can fail.
                    let done = write_owned(&mut self.tree, relabel);
                    debug_assert!(done.is_ok(), "a relabel {relabel:?} needed memory");
                    done?;
                }
                Ok(())
            }
            WritePlan::Transaction => {
                let mut copy = self.tree.try_clone()?;
                {
                    let mut w = copy.exclusive();
                    for write in writes {
                        write_tree(&mut w, write)?;
                    }
                }
                self.tree = copy;
                Ok(())
            }
        }
    }

    fn try_clone(&self) -> Result<Self, OutOfMemory> {
        Ok(MapleIndex {
            tree: self.tree.try_clone()?,
        })
    }

    fn check(&self) -> Result<(), String> {
        self.tree.check_invariants().map_err(|e| e.to_string())
    }

    #[cfg(feature = "fault-injection")]
    fn fail_reservations_after(&self, nodes: Option<u64>) {
        self.tree.fail_reservations_after(nodes);
    }
}

/// The VMA index on a `BTreeMap` keyed by start address, for comparison: lookups take
/// O(log n) like the tree's, but a free-range search scans the gaps one by one.
///
/// ```
/// use maple_mm::{BTreeIndex, IndexWrite, VmaIndex, WritePlan};
///
/// let index = BTreeIndex::new();
/// assert_eq!(index.gap(0x1000, 0xffff, 0x2000, false), Some(0x1000));
/// ```
#[derive(Clone, Debug, Default)]
pub struct BTreeIndex {
    /// start -> (end, id)
    map: BTreeMap<u64, (u64, u32)>,
}

impl BTreeIndex {
    fn hit(start: u64, end: u64, id: u32) -> IndexEntry {
        IndexEntry {
            start,
            end,
            id: VmaId(id),
        }
    }

    /// The entry with the highest start at or below `addr`.
    fn at_or_below(&self, addr: u64) -> Option<IndexEntry> {
        self.map
            .range(..=addr)
            .next_back()
            .map(|(&s, &(e, id))| Self::hit(s, e, id))
    }

    fn write(&mut self, write: &IndexWrite) {
        if write.start >= write.end {
            return;
        }
        let mut cut = Vec::new();
        if let Some(e) = self.at_or_below(write.start)
            && e.end > write.start
        {
            cut.push(e);
        }
        cut.extend(
            self.map
                .range((Bound::Excluded(write.start), Bound::Excluded(write.end)))
                .map(|(&s, &(e, id))| Self::hit(s, e, id)),
        );
        for e in cut {
            self.map.remove(&e.start);
            if e.start < write.start {
                self.map.insert(e.start, (write.start, e.id.0));
            }
            if e.end > write.end {
                self.map.insert(write.end, (e.end, e.id.0));
            }
        }
        if let Some(id) = write.id {
            self.map.insert(write.start, (write.end, id.0));
        }
    }
}

impl VmaIndex for BTreeIndex {
    fn new() -> Self {
        BTreeIndex::default()
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn lookup(&self, addr: u64) -> Option<IndexEntry> {
        self.at_or_below(addr).filter(|e| e.end > addr)
    }

    fn find(&self, addr: u64, limit: u64) -> Option<IndexEntry> {
        if addr > limit {
            return None;
        }
        if let Some(e) = self.lookup(addr) {
            return Some(e);
        }
        self.map
            .range((Bound::Excluded(addr), Bound::Included(limit)))
            .next()
            .map(|(&s, &(e, id))| Self::hit(s, e, id))
    }

    fn find_rev(&self, addr: u64, min: u64) -> Option<IndexEntry> {
        if addr < min {
            return None;
        }
        self.at_or_below(addr).filter(|e| e.end > min)
    }

    fn collect(&self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        if start >= end {
            return;
        }
        if let Some(e) = self.lookup(start)
            && e.start < start
        {
            out.push(e);
        }
        out.extend(
            self.map
                .range(start..end)
                .map(|(&s, &(e, id))| Self::hit(s, e, id)),
        );
    }

    fn neighbourhood(&mut self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        let end = end.max(start.saturating_add(1));
        let mut below = self.map.range(..=start).rev();
        if let Some((&s, &(e, id))) = below.next() {
            if e > start
                && let Some((&ps, &(pe, pid))) = below.next()
            {
                out.push(Self::hit(ps, pe, pid));
            }
            out.push(Self::hit(s, e, id));
        }
        for (&s, &(e, id)) in self.map.range((Bound::Excluded(start), Bound::Unbounded)) {
            out.push(Self::hit(s, e, id));
            if s >= end {
                break;
            }
        }
    }

    fn gap(&self, min: u64, max: u64, size: u64, top_down: bool) -> Option<u64> {
        if size == 0 || min > max || max - min < size - 1 {
            return None;
        }
        if top_down {
            // Walk down from `max`: `hi` is the highest index not yet known to be taken.
            let mut hi = max;
            for (&s, &(e, _)) in self.map.range(..=max).rev() {
                let free_lo = e.max(min);
                if e <= hi && hi - free_lo >= size - 1 {
                    return Some(hi - (size - 1));
                }
                if s <= min {
                    return None;
                }
                hi = hi.min(s - 1);
                if hi < min || hi - min < size - 1 {
                    return None;
                }
            }
            Some(hi - (size - 1))
        } else {
            let mut lo = min;
            if let Some(e) = self.lookup(min) {
                lo = e.end;
            }
            for (&s, &(e, _)) in self.map.range((Bound::Excluded(min), Bound::Included(max))) {
                if s > lo && s - lo >= size {
                    return Some(lo);
                }
                lo = lo.max(e);
                if lo > max {
                    return None;
                }
            }
            (lo <= max && max - lo >= size - 1).then_some(lo)
        }
    }

    fn apply(&mut self, writes: &[IndexWrite], _plan: WritePlan) -> Result<(), OutOfMemory> {
        for write in writes {
            self.write(write);
        }
        Ok(())
    }

    fn try_clone(&self) -> Result<Self, OutOfMemory> {
        Ok(self.clone())
    }

    fn check(&self) -> Result<(), String> {
        let mut prev_end = 0;
        for (&s, &(e, _)) in &self.map {
            if s >= e || s < prev_end {
                return Err(format!("bad or overlapping entry [{s:#x}, {e:#x})"));
            }
            prev_end = e;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The neighbourhood by brute force over the entries, ascending.
    fn reference(entries: &[IndexEntry], start: u64, end: u64) -> Vec<IndexEntry> {
        let end = end.max(start + 1);
        let inside: Vec<usize> = (0..entries.len())
            .filter(|&i| entries[i].start < end && entries[i].end > start)
            .collect();
        let before = match inside.first() {
            Some(&i) => i.checked_sub(1),
            None => entries.iter().rposition(|e| e.end <= start),
        };
        let after = match inside.last() {
            Some(&i) => Some(i + 1).filter(|&j| j < entries.len()),
            None => entries.iter().position(|e| e.start >= end),
        };
        before
            .into_iter()
            .chain(inside)
            .chain(after)
            .map(|i| entries[i])
            .collect()
    }

    #[test]
    fn neighbourhoods_agree_with_brute_force_on_both_indexes() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..40 {
            // Entries of 1 to 3 pages with holes of 0 to 2 pages, 0 to 150 of them.
            let mut entries = Vec::new();
            let mut at = next(3);
            for id in 0..next(150) as u32 {
                let len = 1 + next(3);
                entries.push(IndexEntry {
                    start: at,
                    end: at + len,
                    id: VmaId(id),
                });
                at += len + next(3);
            }
            let writes: Vec<IndexWrite> = entries
                .iter()
                .map(|e| IndexWrite {
                    start: e.start,
                    end: e.end,
                    id: Some(e.id),
                })
                .collect();
            let mut maple = MapleIndex::new();
            let mut btree = BTreeIndex::new();
            maple.apply(&writes, WritePlan::Transaction).unwrap();
            btree.apply(&writes, WritePlan::Transaction).unwrap();
            for _ in 0..200 {
                let start = next(at + 4);
                let end = start + next(8);
                let want = reference(&entries, start, end);
                for (name, got) in [
                    ("maple", {
                        let mut out = Vec::new();
                        maple.neighbourhood(start, end, &mut out);
                        out
                    }),
                    ("btree", {
                        let mut out = Vec::new();
                        btree.neighbourhood(start, end, &mut out);
                        out
                    }),
                ] {
                    assert_eq!(got, want, "{name}, round {round}, [{start}, {end})");
                }
            }
        }
    }
}
