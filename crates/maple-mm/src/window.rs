//! The window: a private copy of the VMAs around a change, on which the Linux logic runs, and
//! the commit that turns the result into index writes.
//!
//! # Why a window
//!
//! A Linux VMA operation is a sequence of steps (split the first VMA, split the last, merge
//! with the neighbours, store), each of which writes the tree. Failing half-way leaves the
//! address space split (Linux documents that "the vmas will remain split"). Here every
//! operation first loads the VMAs it may touch into a [`Window`], runs the kernel's steps on
//! that copy, and only then commits: it compares the copy with what was loaded and writes the
//! difference to the index in one atomic [`crate::VmaIndex::apply`]. A
//! failed allocation therefore changes nothing.
//!
//! # Invariants
//!
//! - W1. `vmas` is sorted by start and its ranges do not overlap.
//! - W2. `covered` intervals are fully known: every VMA of the address space that intersects a
//!   covered interval was loaded, and changes stay inside covered intervals.
//! - W3. A slot's `origin` is the VMA it derives from (by keeping, splitting or growing it),
//!   or `None` for a new VMA. At commit, the lowest slot of each origin keeps its id.
//!
//! The commit computes the writes like this:
//!
//! ```text
//!   old:   [ X              ) [ Y    )
//!   new:   [ X  ) [ N  ) [X' )          X' derives from X but gets a new id; Y is gone
//!   writes: N over its range (may need nodes: it cuts X in three)
//!           X' over its range (a relabel: after the first write it is exactly one slot)
//!           empty Y's range
//! ```
//!
//! A slot that keeps its id and lies inside its old range needs no write: the writes around it
//! trim its entry.
//!
//! Most changes are simpler than that: every loaded VMA but one stays over its range with its
//! id, and that one is gone, new, grown, cut at one end or split in two (an mmap into a hole
//! or over a whole VMA, a munmap of a whole VMA or of its head or tail, an expanding merge,
//! an mprotect of part of a VMA), or only attributes changed (a fault's anon_vma, an mprotect
//! of whole VMAs). Comparing the window with what was loaded from both ends recognises such a
//! change (`Simple`), which is then committed with at most one write and no id assignment.

use crate::address_space::{AddressSpace, filter_bit};
use crate::error::Errno;
use crate::index::{IndexEntry, IndexWrite, VmaIndex, WritePlan};
use crate::vma::{Vma, VmaId};

/// One VMA of the window and where it comes from.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// The VMA it derives from (W3), `None` for a new VMA.
    pub(crate) origin: Option<VmaId>,
    pub(crate) vma: Vma,
    /// Whether `vma` may differ from the VMA loaded for `origin` (set by every change).
    changed: bool,
}

/// A private copy of the VMAs around a change; see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// The current state (W1).
    pub(crate) vmas: Vec<Slot>,
    /// What was loaded, as the index holds it, sorted by start.
    old: Vec<IndexEntry>,
    /// Fully known address intervals (W2), sorted and disjoint.
    covered: Vec<(u64, u64)>,
    /// `map_count` of the address space when the window was opened.
    base_count: usize,
    /// Boundaries that the change leaves between VMAs Linux would merge but does not (it
    /// changed their attributes without trying a merge).
    pub(crate) tolerate: Vec<u64>,
    /// Scratch for loading.
    scratch: Vec<IndexEntry>,
    /// Scratch for committing (boxed: taken out and put back by one pointer move).
    commit: Option<Box<CommitScratch>>,
}

/// The buffers of a commit, kept with the window so that a change allocates nothing once the
/// address space has seen a few.
#[derive(Debug, Default)]
struct CommitScratch {
    /// The id of each slot of the window, and whether it was reserved for a new VMA (to be
    /// given back if the index write fails).
    ids: Vec<(VmaId, bool)>,
    /// Which loaded entries keep their id: bit `k % 64` of word `k / 64` for `Window::old[k]`.
    kept: Vec<u64>,
    /// The index writes.
    writes: Vec<IndexWrite>,
    /// The layout before the writes.
    before: Vec<(u64, u64)>,
    /// A layout after a write.
    layout: Vec<(u64, u64)>,
}

impl Window {
    /// An empty window with room for the usual change (a VMA, its neighbours and a new one),
    /// so that its buffers do not grow one by one in a new address space.
    fn with_room() -> Window {
        const SLOTS: usize = 8;
        Window {
            vmas: Vec::with_capacity(SLOTS),
            old: Vec::with_capacity(SLOTS),
            covered: Vec::with_capacity(2),
            base_count: 0,
            tolerate: Vec::with_capacity(4),
            scratch: Vec::with_capacity(SLOTS),
            commit: None,
        }
    }

    /// Empties the window for a new change on an address space with `map_count` VMAs.
    #[inline]
    pub(crate) fn reset(&mut self, map_count: usize) {
        self.vmas.clear();
        self.old.clear();
        self.covered.clear();
        self.tolerate.clear();
        self.base_count = map_count;
    }

    /// The address space's `map_count` if the window were committed now.
    pub(crate) fn map_count(&self) -> usize {
        self.base_count + self.vmas.len() - self.old.len()
    }

    /// Loads every VMA that intersects `[a, b)`, the one before the first of them and the one
    /// after the last, and everything in between: the interval from the previous VMA's start
    /// to the next VMA's end becomes covered (W2).
    pub(crate) fn load<I: VmaIndex>(&mut self, mm: &mut AddressSpace<I>, a: u64, b: u64) {
        let b = b.max(a.saturating_add(1));
        self.scratch.clear();
        mm.index.neighbourhood(a, b, &mut self.scratch);
        let found = &self.scratch;
        // The VMA before the range starts the interval, the one after ends it.
        let lo = match found.first() {
            Some(e) if e.end <= a => e.start,
            _ => 0,
        };
        let hi = match found.last() {
            Some(e) if e.start >= b => e.end,
            _ => u64::MAX,
        };
        if self.covered.is_empty() {
            // The first load of a change (the usual case): the window is empty and `found` is
            // sorted, so it becomes what was loaded as it is.
            core::mem::swap(&mut self.old, &mut self.scratch);
            let slab = &mm.vmas;
            self.vmas.reserve(self.old.len());
            for e in &self.old {
                if let Some(vma) = slab.get(e.id) {
                    self.vmas.push(Slot {
                        origin: Some(e.id),
                        vma: vma.clone(),
                        changed: false,
                    });
                }
            }
            if self.vmas.len() != self.old.len() {
                self.old.retain(|e| slab.get(e.id).is_some());
            }
            self.covered.push((lo, hi));
            return;
        }
        if self.is_covered(lo, hi) {
            return;
        }
        for e in found {
            if self.intersects_covered(e.start, e.end) {
                continue;
            }
            let Some(vma) = mm.vmas.get(e.id) else {
                continue;
            };
            let at = self.old.partition_point(|o| o.start < e.start);
            self.old.insert(at, *e);
            let at = self.vmas.partition_point(|s| s.vma.start < e.start);
            self.vmas.insert(
                at,
                Slot {
                    origin: Some(e.id),
                    vma: vma.clone(),
                    changed: false,
                },
            );
        }
        self.cover(lo, hi);
    }

    fn is_covered(&self, lo: u64, hi: u64) -> bool {
        self.covered.iter().any(|&(a, b)| a <= lo && hi <= b)
    }

    fn intersects_covered(&self, lo: u64, hi: u64) -> bool {
        self.covered.iter().any(|&(a, b)| a < hi && lo < b)
    }

    fn cover(&mut self, lo: u64, hi: u64) {
        let (mut lo, mut hi) = (lo, hi);
        self.covered.retain(|&(a, b)| {
            if a <= hi && lo <= b {
                lo = lo.min(a);
                hi = hi.max(b);
                false
            } else {
                true
            }
        });
        let at = self.covered.partition_point(|&(a, _)| a < lo);
        self.covered.insert(at, (lo, hi));
    }

    /// Whether `[a, b)` lies in one covered interval (W2).
    pub(crate) fn covers(&self, a: u64, b: u64) -> bool {
        self.is_covered(a, b)
    }

    /// The index of the VMA containing `addr`.
    #[inline]
    pub(crate) fn containing(&self, addr: u64) -> Option<usize> {
        let i = self.vmas.partition_point(|s| s.vma.end <= addr);
        (i < self.vmas.len() && self.vmas[i].vma.start <= addr).then_some(i)
    }

    /// The index of the first VMA that ends after `addr` (contains it or lies above it);
    /// `vmas.len()` if none.
    #[inline]
    pub(crate) fn first_ending_after(&self, addr: u64) -> usize {
        self.vmas.partition_point(|s| s.vma.end <= addr)
    }

    /// The index of the last VMA that ends at or below `addr`.
    #[inline]
    pub(crate) fn prev_of(&self, addr: u64) -> Option<usize> {
        self.first_ending_after(addr).checked_sub(1)
    }

    /// The index of the first VMA that starts at or above `addr`.
    #[inline]
    pub(crate) fn next_of(&self, addr: u64) -> Option<usize> {
        let i = self.vmas.partition_point(|s| s.vma.start < addr);
        (i < self.vmas.len()).then_some(i)
    }

    /// The VMA at an index.
    pub(crate) fn vma(&self, i: usize) -> &Vma {
        &self.vmas[i].vma
    }

    /// The VMA at an index, to change in place.
    pub(crate) fn vma_mut(&mut self, i: usize) -> &mut Vma {
        let slot = &mut self.vmas[i];
        slot.changed = true;
        &mut slot.vma
    }

    /// Whether any VMA intersects `[a, b)`.
    #[inline]
    pub(crate) fn any_in(&self, a: u64, b: u64) -> bool {
        let i = self.first_ending_after(a);
        i < self.vmas.len() && self.vmas[i].vma.start < b
    }

    /// Splits the VMA at index `i` at `addr` (strictly inside it) and returns the index of the
    /// upper piece. Both pieces derive from the same VMA (W3); the upper piece's page offset
    /// moves up with its start.
    ///
    /// Linux: `__split_vma()`, without the limit check.
    pub(crate) fn split(&mut self, i: usize, addr: u64) -> usize {
        let lower = &mut self.vmas[i];
        debug_assert!(lower.vma.start < addr && addr < lower.vma.end);
        lower.changed = true;
        let mut upper = lower.clone();
        upper.vma.pgoff = lower.vma.pgoff_at(addr);
        upper.vma.start = addr;
        lower.vma.end = addr;
        self.vmas.insert(i + 1, upper);
        i + 1
    }

    /// Removes the VMA at index `i`.
    pub(crate) fn remove(&mut self, i: usize) -> Slot {
        self.vmas.remove(i)
    }

    /// Removes every VMA at indices `range`.
    pub(crate) fn remove_range(&mut self, range: core::ops::Range<usize>) {
        // Usually one VMA: removed without setting up a drain.
        if range.len() == 1 {
            self.vmas.remove(range.start);
        } else {
            self.vmas.drain(range);
        }
    }

    /// Inserts a VMA in order and returns its index. The range must be free in the window
    /// and covered (W1, W2).
    #[inline]
    pub(crate) fn insert(&mut self, origin: Option<VmaId>, vma: Vma) -> usize {
        debug_assert!(self.covers(vma.start, vma.end), "insert outside the window");
        debug_assert!(!self.any_in(vma.start, vma.end), "insert over a VMA");
        let at = self.vmas.partition_point(|s| s.vma.start < vma.start);
        self.vmas.insert(
            at,
            Slot {
                origin,
                vma,
                changed: true,
            },
        );
        at
    }

    /// Records that the boundary at `addr` may separate VMAs Linux would merge, because the
    /// change altered attributes without a merge attempt, as Linux does there.
    pub(crate) fn tolerate(&mut self, addr: u64) {
        self.tolerate.push(addr);
    }

    /// Records the boundaries on both sides of the VMA at index `i`.
    pub(crate) fn tolerate_around(&mut self, i: usize) {
        let (start, end) = (self.vmas[i].vma.start, self.vmas[i].vma.end);
        self.tolerate.push(start);
        self.tolerate.push(end);
    }

    /// Checks W1 (debug builds).
    fn debug_check(&self) {
        debug_assert!(
            self.vmas.windows(2).all(|p| p[0].vma.end <= p[1].vma.start),
            "window VMAs out of order or overlapping"
        );
        debug_assert!(self.vmas.iter().all(|s| s.vma.start < s.vma.end));
    }
}

/// A change whose commit needs at most one index write and no id assignment: every loaded
/// VMA that is still in the window lies over its loaded range and keeps its id, and at most
/// one VMA was added or one removed. Most changes are such: an mmap into a hole, a munmap of
/// one whole VMA, a fault's anon_vma, flags changed on whole VMAs.
#[derive(Clone, Copy, Debug)]
enum Simple {
    /// Only attributes changed: the index stays as it is.
    Attributes,
    /// The new VMA at this index of the window lies in what was free space.
    Add(usize),
    /// The loaded entry at this index of `old` is gone, and nothing took its place.
    Remove(usize),
    /// The VMA at this index of the window keeps the id of the loaded entry at the second
    /// index and grew over free space, or gave up a piece at one end (an expanding merge, a
    /// munmap of a VMA's head or tail).
    Resize(usize, usize),
    /// The VMA at this index of the window is the upper piece of a loaded entry split in
    /// two: the lower piece (the slot before) keeps the id, this one needs a new one.
    Split(usize),
    /// The new VMA at this index of the window lies exactly over the loaded entry at the
    /// second index, which is gone (a fixed mmap over a whole VMA).
    Replace(usize, usize),
}

/// How a VMA loaded over `[old.start, old.end)` may now lie over `[start, end)` in a
/// [`Simple::Resize`]: over all of it and more, or over all of it but a piece at one end.
fn resizable(old: &IndexEntry, start: u64, end: u64) -> bool {
    let grew = start <= old.start && old.end <= end;
    let cut_tail = start == old.start && end < old.end;
    let cut_head = end == old.end && old.start < start;
    grew || cut_tail || cut_head
}

impl Window {
    /// The change as a [`Simple`] one, if it is one. The slots and the loaded entries are
    /// both sorted: they agree on a common head and tail (slots exactly as loaded), and the
    /// change is what lies between.
    fn simple_change(&self) -> Option<Simple> {
        let (slots, old) = (self.vmas.as_slice(), self.old.as_slice());
        let as_loaded = |slot: &Slot, e: &IndexEntry| {
            slot.origin == Some(e.id) && slot.vma.start == e.start && slot.vma.end == e.end
        };
        let head = slots
            .iter()
            .zip(old)
            .take_while(|&(slot, e)| as_loaded(slot, e))
            .count();
        let (slots, old) = (&slots[head..], &old[head..]);
        let tail = slots
            .iter()
            .rev()
            .zip(old.iter().rev())
            .take_while(|&(slot, e)| as_loaded(slot, e))
            .count();
        let (slots, old) = (&slots[..slots.len() - tail], &old[..old.len() - tail]);
        match (slots, old) {
            ([], []) => Some(Simple::Attributes),
            ([added], []) if added.origin.is_none() => Some(Simple::Add(head)),
            ([], [_]) => Some(Simple::Remove(head)),
            ([slot], [e]) => {
                let (start, end) = (slot.vma.start, slot.vma.end);
                match slot.origin {
                    Some(id) if id == e.id && resizable(e, start, end) => {
                        Some(Simple::Resize(head, head))
                    }
                    None if start == e.start && end == e.end => Some(Simple::Replace(head, head)),
                    _ => None,
                }
            }
            ([lower, upper], [e]) => {
                let pieces = lower.origin == Some(e.id)
                    && upper.origin == Some(e.id)
                    && lower.vma.start == e.start
                    && lower.vma.end == upper.vma.start
                    && upper.vma.end == e.end;
                pieces.then_some(Simple::Split(head + 1))
            }
            _ => None,
        }
    }
}

/// The position in `old` of the entry with id `id`, searched from `hint` on, then before it.
#[inline]
fn find_loaded(old: &[IndexEntry], hint: usize, id: VmaId) -> Option<usize> {
    // Usually the entry at the hint itself, or the one before it (the pieces of a split).
    if old.get(hint).is_some_and(|e| e.id == id) {
        return Some(hint);
    }
    if let Some(k) = hint.checked_sub(1)
        && old.get(k).is_some_and(|e| e.id == id)
    {
        return Some(k);
    }
    find_loaded_scan(old, hint, id)
}

/// [`find_loaded`] when the entry at the hint is not the one.
fn find_loaded_scan(old: &[IndexEntry], hint: usize, id: VmaId) -> Option<usize> {
    let hint = hint.min(old.len());
    if let Some(k) = old[hint..].iter().position(|e| e.id == id) {
        return Some(hint + k);
    }
    old[..hint].iter().position(|e| e.id == id)
}

/// A range map over a few entries: `out` becomes `layout` after `write`.
fn simulate(layout: &[(u64, u64)], write: &IndexWrite, out: &mut Vec<(u64, u64)>) {
    out.clear();
    for &(s, e) in layout {
        if e <= write.start || s >= write.end {
            out.push((s, e));
            continue;
        }
        if s < write.start {
            out.push((s, write.start));
        }
        if e > write.end {
            out.push((write.end, e));
        }
    }
    if write.id.is_some() {
        out.push((write.start, write.end));
    }
    out.sort_unstable();
}

/// Orders `writes` so that at most the first needs memory and the rest are relabels of
/// whole entries, if that is possible; otherwise the change needs a transaction. `base` and
/// `layout` are scratch.
fn plan_writes(
    old: &[IndexEntry],
    writes: &mut [IndexWrite],
    base: &mut Vec<(u64, u64)>,
    layout: &mut Vec<(u64, u64)>,
) -> WritePlan {
    if writes.len() <= 1 {
        return WritePlan::Direct;
    }
    base.clear();
    base.extend(old.iter().map(|e| (e.start, e.end)));
    for first in 0..writes.len() {
        simulate(base, &writes[first], layout);
        let relabels = writes.iter().enumerate().all(|(i, w)| {
            i == first || (w.id.is_some() && layout.binary_search(&(w.start, w.end)).is_ok())
        });
        if relabels {
            writes[..=first].rotate_right(1);
            return WritePlan::Direct;
        }
    }
    WritePlan::Transaction
}

/// Appends writes that empty what the window no longer maps. Adjacent empty pieces inside one
/// covered interval, with no VMA between them, become one write.
///
/// One pass: the loaded entries and the window's VMAs are both sorted and disjoint, so the
/// pieces come out in order and the VMAs that meet each entry are found by a pointer that
/// only moves forwards. An entry's walk stops once it is covered, usually at its first VMA;
/// pieces are rare, and each looks for a VMA between it and the last by a binary search.
fn push_clears(w: &Window, writes: &mut Vec<IndexWrite>) {
    let vmas = w.vmas.as_slice();
    let clears_from = writes.len();
    // `j`: the first VMA that ends after the start of the current entry.
    let mut j = 0;
    for old in &w.old {
        while j < vmas.len() && vmas[j].vma.end <= old.start {
            j += 1;
        }
        // Walk the VMAs over the entry until they cover it (usually the first does).
        let mut cursor = old.start;
        let mut k = j;
        while cursor < old.end {
            match vmas.get(k) {
                Some(slot) if slot.vma.start < old.end => {
                    if slot.vma.start > cursor {
                        push_clear(w, writes, clears_from, cursor, slot.vma.start);
                    }
                    cursor = cursor.max(slot.vma.end);
                    k += 1;
                }
                _ => {
                    push_clear(w, writes, clears_from, cursor, old.end);
                    break;
                }
            }
        }
    }
}

/// Appends a write emptying `[start, end)`, or extends the last clear (from `clears_from` on)
/// over it when no VMA lies between them and both lie in one covered interval.
#[cold]
fn push_clear(w: &Window, writes: &mut Vec<IndexWrite>, clears_from: usize, start: u64, end: u64) {
    if let Some(last) = writes[clears_from..].last_mut() {
        let p = w.vmas.partition_point(|s| s.vma.end <= last.end);
        let vma_between = p < w.vmas.len() && w.vmas[p].vma.start < start;
        if !vma_between && w.covers(last.start, end) {
            last.end = end;
            return;
        }
    }
    writes.push(IndexWrite {
        start,
        end,
        id: None,
    });
}

impl<I: VmaIndex> AddressSpace<I> {
    /// Opens the scratch window for a change.
    pub(crate) fn window(&mut self) -> Box<Window> {
        let mut w = self
            .scratch
            .take()
            .unwrap_or_else(|| Box::new(Window::with_room()));
        w.reset(self.map_count);
        w
    }

    /// Gives the window back for reuse.
    pub(crate) fn recycle(&mut self, w: Box<Window>) {
        self.scratch = Some(w);
    }

    /// Writes the window's state to the address space atomically: on error nothing changed.
    /// The window is given back for reuse in both cases.
    ///
    /// # Errors
    ///
    /// [`Errno::NoMem`] if the index could not get memory.
    pub(crate) fn commit(&mut self, mut w: Box<Window>) -> Result<(), Errno> {
        let result = self.commit_inner(&mut w);
        self.recycle(w);
        result
    }

    fn commit_inner(&mut self, w: &mut Window) -> Result<(), Errno> {
        w.debug_check();
        if let Some(change) = w.simple_change() {
            return self.write_simple(w, change);
        }
        let mut scratch = w.commit.take().unwrap_or_default();
        let result = self.write_window(w, &mut scratch);
        w.commit = Some(scratch);
        result
    }

    /// The commit itself, with its buffers in `c`.
    fn write_window(&mut self, w: &mut Window, c: &mut CommitScratch) -> Result<(), Errno> {
        // Id assignment (W3): the lowest slot of each origin keeps the id; new ids are reserved
        // now and given back if the index write fails.
        c.ids.clear();
        c.writes.clear();
        c.kept.clear();
        c.kept.resize(w.old.len().div_ceil(64), 0);
        let bit = |k: usize| (k / 64, 1u64 << (k % 64));
        // Slots mostly come in the order of their origins: the search for the next origin
        // starts after the last one found.
        let mut hint = 0;
        for slot in &w.vmas {
            let (s, e) = (slot.vma.start, slot.vma.end);
            let loaded = slot
                .origin
                .and_then(|o| find_loaded(&w.old, hint, o))
                .filter(|&k| c.kept[bit(k).0] & bit(k).1 == 0);
            if let Some(k) = loaded {
                c.kept[bit(k).0] |= bit(k).1;
                hint = k + 1;
                let old = &w.old[k];
                c.ids.push((old.id, false));
                // A slot that keeps its id inside its old range needs no write.
                if !(old.start <= s && e <= old.end) {
                    c.writes.push(IndexWrite {
                        start: s,
                        end: e,
                        id: Some(old.id),
                    });
                }
                continue;
            }
            let Some(id) = self.vmas.reserve() else {
                self.release_fresh(&c.ids);
                return Err(Errno::NoMem);
            };
            c.ids.push((id, true));
            c.writes.push(IndexWrite {
                start: s,
                end: e,
                id: Some(id),
            });
        }
        push_clears(w, &mut c.writes);
        let plan = plan_writes(&w.old, &mut c.writes, &mut c.before, &mut c.layout);
        #[cfg(feature = "fault-injection")]
        if self.fail_next_write && !c.writes.is_empty() {
            self.fail_next_write = false;
            self.release_fresh(&c.ids);
            return Err(Errno::NoMem);
        }
        // A change of attributes alone (an anon_vma attached, flags that keep every boundary)
        // leaves the index as it is.
        if !c.writes.is_empty()
            && let Err(oom) = self.index.apply(&c.writes, plan)
        {
            self.release_fresh(&c.ids);
            return Err(oom.into());
        }

        // The index is written: nothing below can fail.
        for (k, old) in w.old.iter().enumerate() {
            if c.kept[bit(k).0] & bit(k).1 == 0 {
                self.vmas.release(old.id);
            }
        }
        self.map_count = w.map_count();
        self.update_tolerated(w, None);
        // The window is done with: its VMAs move into the address space, except those that
        // are exactly as loaded and keep their id (the address space holds them already).
        for (slot, &(id, _)) in w.vmas.iter_mut().zip(&c.ids) {
            if slot.changed || slot.origin != Some(id) {
                self.vmas.put(id, &mut slot.vma);
            }
        }
        w.vmas.clear();
        Ok(())
    }

    /// Commits a [`Simple`] change: at most one index write, no id assignment, no plan.
    fn write_simple(&mut self, w: &mut Window, change: Simple) -> Result<(), Errno> {
        let (write, fresh) = match change {
            Simple::Attributes => (None, None),
            Simple::Add(i) | Simple::Split(i) | Simple::Replace(i, _) => {
                let id = self.vmas.reserve().ok_or(Errno::NoMem)?;
                let vma = &w.vmas[i].vma;
                let write = IndexWrite {
                    start: vma.start,
                    end: vma.end,
                    id: Some(id),
                };
                (Some(write), Some((i, id)))
            }
            Simple::Remove(k) => {
                let old = &w.old[k];
                let write = IndexWrite {
                    start: old.start,
                    end: old.end,
                    id: None,
                };
                (Some(write), None)
            }
            Simple::Resize(i, k) => {
                let (vma, old) = (&w.vmas[i].vma, &w.old[k]);
                // Grown: its id over the whole new range. Cut: the piece given up emptied.
                let write = if vma.start <= old.start && old.end <= vma.end {
                    IndexWrite {
                        start: vma.start,
                        end: vma.end,
                        id: Some(old.id),
                    }
                } else if vma.start == old.start {
                    IndexWrite {
                        start: vma.end,
                        end: old.end,
                        id: None,
                    }
                } else {
                    IndexWrite {
                        start: old.start,
                        end: vma.start,
                        id: None,
                    }
                };
                (Some(write), None)
            }
        };
        if let Some(write) = write {
            #[cfg(feature = "fault-injection")]
            if self.fail_next_write {
                self.fail_next_write = false;
                if let Some((_, id)) = fresh {
                    self.vmas.release(id);
                }
                return Err(Errno::NoMem);
            }
            if let Err(oom) = self.index.apply(&[write], WritePlan::Direct) {
                if let Some((_, id)) = fresh {
                    self.vmas.release(id);
                }
                return Err(oom.into());
            }
        }
        // The index is written: nothing below can fail.
        if let Simple::Remove(k) | Simple::Replace(_, k) = change {
            self.vmas.release(w.old[k].id);
        }
        self.map_count = w.map_count();
        // Usually no boundary went and none is to be tolerated: nothing to update.
        let none_gone = matches!(
            change,
            Simple::Attributes | Simple::Add(_) | Simple::Split(_) | Simple::Replace(..)
        );
        if !(none_gone && w.tolerate.is_empty()) {
            self.update_tolerated(w, Some(change));
        }
        // Loaded VMAs keep their ids: only the changed ones and the new one are written back.
        for (i, slot) in w.vmas.iter_mut().enumerate() {
            match (fresh, slot.origin) {
                (Some((at, id)), _) if at == i => self.vmas.put(id, &mut slot.vma),
                (_, Some(id)) if slot.changed => self.vmas.put(id, &mut slot.vma),
                _ => {}
            }
        }
        w.vmas.clear();
        Ok(())
    }

    /// Gives back the ids reserved for new VMAs.
    fn release_fresh(&mut self, ids: &[(VmaId, bool)]) {
        for &(id, fresh) in ids {
            if fresh {
                self.vmas.release(id);
            }
        }
    }

    /// Keeps the set of tolerated boundaries (M6) current after a commit: boundaries inside the
    /// window that no longer separate two VMAs are dropped, and the window's are added.
    /// `simple`: the change, if it is a [`Simple`] one (which tells which boundaries went).
    fn update_tolerated(&mut self, w: &Window, simple: Option<Simple>) {
        if self.tolerated.is_empty() && w.tolerate.is_empty() {
            return;
        }
        let is_boundary = |at: u64| {
            let i = w.first_ending_after(at);
            i > 0 && i < w.vmas.len() && w.vmas[i - 1].vma.end == at && w.vmas[i].vma.start == at
        };
        match simple {
            // Every loaded range is still covered up to its ends: so is every boundary.
            Some(Simple::Attributes | Simple::Add(_) | Simple::Split(_) | Simple::Replace(..)) => {}
            // A resized VMA may have given up a boundary: the walk finds it.
            Some(Simple::Resize(..)) | None => self.drop_gone_tolerated(w),
            // The removed VMA's ends separate nothing now (nothing took its place, and the
            // others lie over their loaded ranges); no other boundary went. An end was a
            // boundary only if the loaded VMA beside it touched it.
            Some(Simple::Remove(k)) => {
                let gone = &w.old[k];
                let below = k.checked_sub(1).map(|p| &w.old[p]);
                if below.is_some_and(|p| p.end == gone.start) {
                    self.drop_tolerated(gone.start);
                }
                if w.old.get(k + 1).is_some_and(|n| n.start == gone.end) {
                    self.drop_tolerated(gone.end);
                }
            }
        }
        for &at in &w.tolerate {
            if is_boundary(at) {
                self.tolerated.insert(at);
                self.tolerated_filter |= filter_bit(at);
            }
        }
    }

    /// Drops `at` from the tolerated boundaries, if it is one.
    fn drop_tolerated(&mut self, at: u64) {
        if self.tolerated_filter & filter_bit(at) != 0 {
            self.tolerated.remove(&at);
        }
    }

    /// Drops the tolerated boundaries that the window's change removed.
    fn drop_gone_tolerated(&mut self, w: &Window) {
        // Every boundary that can have gone lies between two loaded VMAs (W2): the window's
        // boundaries before the change are those of its loaded entries. Tolerated boundaries
        // are boundaries (M6), so only these can have become stale; no search of the set.
        if !self.tolerated.is_empty() {
            // `i`: the first VMA of the window that ends after `at` (`at` only grows).
            let mut i = 0;
            for pair in w.old.windows(2) {
                let at = pair[0].end;
                if at != pair[1].start {
                    continue;
                }
                while i < w.vmas.len() && w.vmas[i].vma.end <= at {
                    i += 1;
                }
                let kept = i > 0
                    && i < w.vmas.len()
                    && w.vmas[i - 1].vma.end == at
                    && w.vmas[i].vma.start == at;
                if !kept {
                    self.drop_tolerated(at);
                }
            }
        }
    }
}
