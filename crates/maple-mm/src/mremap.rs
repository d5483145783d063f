//! `mremap`: shrink a mapping, grow it in place, or move it (to a free range, to a fixed
//! address, or leaving the source behind with `MREMAP_DONTUNMAP`).
//!
//! ```text
//!  grow in place:  [ V    )........     ->  [ V           )     (merges with next if it can)
//!  move:           [ V    )   ...   [free     ]  ->  ....   [ V'         ]
//!                  copy the VMA to the destination (merging there if possible), then unmap
//!                  the source, unless MREMAP_DONTUNMAP
//! ```
//!
//! Linux: `do_mremap()`, `check_mremap_params()`, `check_prep_vma()`, `mremap_to()`,
//! `mremap_at()`, `expand_vma()`, `move_vma()`, `remap_move()` in mm/mremap.c; `copy_vma()`
//! and `vma_merge_extend()` in mm/vma.c.

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::{MapFlags, MremapFlags, VmFlags};
use crate::index::VmaIndex;
use crate::merge::{Proposal, merge_new_range};
use crate::munmap::gather_munmap;
use crate::vma::{PAGE_SHIFT, PAGE_SIZE, page_aligned};
use crate::window::Window;

/// One remap: the user's request as it is being carried out (Linux:
/// `struct vma_remap_struct`).
#[derive(Clone, Copy, Debug)]
struct Remap {
    addr: u64,
    old_len: u64,
    new_len: u64,
    flags: MremapFlags,
    new_addr: u64,
}

impl Remap {
    /// Whether the destination is chosen by the caller (`FIXED`) or a search (`DONTUNMAP`).
    fn implies_new_addr(&self) -> bool {
        self.flags
            .intersects(MremapFlags::FIXED | MremapFlags::DONTUNMAP)
    }
}

/// `PAGE_ALIGN()` with the kernel's wrap to 0.
fn page_align_wrapping(len: u64) -> u64 {
    len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl<I: VmaIndex> AddressSpace<I> {
    /// Resizes and/or moves the mapping at `addr`, as `mremap(2)` does, and returns its new
    /// address.
    ///
    /// - Shrinking unmaps the tail. Growing extends the VMA in place if it ends at
    ///   `addr + old_len` and the space after it is free (merging with the next VMA if
    ///   compatible); otherwise, with `MREMAP_MAYMOVE`, the mapping moves to a free range.
    /// - `MREMAP_FIXED` moves it to `new_addr`, replacing what is there; with equal lengths
    ///   the source range may span several VMAs, which keep the gaps between them.
    /// - `MREMAP_DONTUNMAP` moves it and leaves the source VMA mapped (unlocked, and without
    ///   its anon_vma if it moved whole).
    ///
    /// A never-faulted anonymous VMA takes the page offset of its new address, so it merges
    /// at the destination like a fresh mapping.
    ///
    /// # Errors
    ///
    /// - [`Errno::Inval`]: unknown flags, unaligned addresses, `new_len == 0`, `FIXED`
    ///   without `MAYMOVE`, `DONTUNMAP` with different lengths, overlapping source and
    ///   destination, `old_len == 0` on a private mapping.
    /// - [`Errno::Fault`]: no VMA at `addr`, or the range crosses the end of its VMA, or a
    ///   `VM_DONTEXPAND`/`VM_PFNMAP` mapping would grow.
    /// - [`Errno::NoMem`]: no room to grow in place and no `MAYMOVE`, no free range, the
    ///   `max_map_count` margins, a resource limit, or tree memory.
    /// - [`Errno::Again`]: `RLIMIT_MEMLOCK` for a locked mapping that grows.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, MremapFlags, Prot};
    ///
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let a = mm.mmap(0, 0x2000, Prot::READ | Prot::WRITE, anon, None, 0)?;
    /// let b = mm.mmap(0, 0x1000, Prot::READ, anon, None, 0)?; // right below a
    /// // a cannot grow down, nor up past the end of the top-down area... it moves.
    /// let moved = mm.mremap(b, 0x1000, 0x4000, MremapFlags::MAYMOVE, 0)?;
    /// assert_ne!(moved, b);
    /// assert_eq!(mm.vma_lookup(moved).unwrap().len(), 0x4000);
    /// // Shrinking stays in place.
    /// assert_eq!(mm.mremap(a, 0x2000, 0x1000, MremapFlags::empty(), 0)?, a);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `mremap()`, `do_mremap()`.
    #[doc(alias = "do_mremap")]
    pub fn mremap(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        let r = Remap {
            addr,
            old_len: page_align_wrapping(old_len),
            new_len: page_align_wrapping(new_len),
            flags,
            new_addr,
        };
        self.check_mremap_params(&r)?;
        let mut w = self.window();
        w.load(self, r.addr, r.addr.saturating_add(r.old_len.max(1)));
        let move_only = r.flags.contains(MremapFlags::FIXED) && r.old_len == r.new_len;
        let locked = w
            .containing(r.addr)
            .is_some_and(|i| w.vma(i).flags.contains(VmFlags::LOCKED));
        let result = if move_only {
            self.remap_move(&mut w, r)
        } else {
            let vma = w.containing(r.addr);
            self.check_prep_vma(&w, vma, &r)
                .and_then(|()| self.remap_one(&mut w, r))
        };
        // Linux leaves what it did before an error (an unmapped MREMAP_FIXED target).
        self.commit(w)?;
        let to = result?;
        if !self.guards.is_empty() {
            self.move_guards(&r, to);
        }
        // Locked memory that grew is faulted in.
        if locked && r.new_len > r.old_len {
            self.mm_populate(to + r.old_len, to + r.new_len, true)?;
        }
        Ok(to)
    }

    /// Guard markers follow the page tables: the tail a shrink unmapped loses them, a move
    /// takes them along (the source is left without them, even with `MREMAP_DONTUNMAP`), and a
    /// fixed target loses what it had.
    fn move_guards(&mut self, r: &Remap, to: u64) {
        if r.old_len == 0 {
            return;
        }
        if to == r.addr {
            if r.new_len < r.old_len {
                self.guards.remove(r.addr + r.new_len, r.addr + r.old_len);
            }
            return;
        }
        let kept = r.old_len.min(r.new_len);
        let moved = self.guards.within(r.addr, r.addr + kept);
        self.guards.remove(r.addr, r.addr + r.old_len);
        self.guards.remove(to, to + r.new_len);
        for (s, e) in moved {
            self.guards.insert(s - r.addr + to, e - r.addr + to);
        }
    }

    /// Linux: `check_mremap_params()`.
    fn check_mremap_params(&self, r: &Remap) -> Result<(), Errno> {
        let known = MremapFlags::FIXED | MremapFlags::MAYMOVE | MremapFlags::DONTUNMAP;
        if !r.flags.without(known).is_empty() || !page_aligned(r.addr) {
            return Err(Errno::Inval);
        }
        let task_size = self.config.task_size;
        if r.new_len == 0 || r.new_len > task_size {
            return Err(Errno::Inval);
        }
        if !r.implies_new_addr() {
            return Ok(());
        }
        if r.new_addr > task_size - r.new_len
            || !page_aligned(r.new_addr)
            || !r.flags.contains(MremapFlags::MAYMOVE)
            || (r.flags.contains(MremapFlags::DONTUNMAP) && r.old_len != r.new_len)
        {
            return Err(Errno::Inval);
        }
        let overlaps =
            r.addr.saturating_add(r.old_len) > r.new_addr && r.new_addr + r.new_len > r.addr;
        if overlaps {
            return Err(Errno::Inval);
        }
        // Both the target and the source may be split in three: keep room for that.
        if self.map_count + 2 >= self.config.max_map_count.saturating_sub(3) {
            return Err(Errno::NoMem);
        }
        Ok(())
    }

    /// Checks the VMA at `addr` against the request (Linux: `check_prep_vma()`).
    fn check_prep_vma(&self, w: &Window, vma: Option<usize>, r: &Remap) -> Result<(), Errno> {
        let vma = w.vma(vma.ok_or(Errno::Fault)?);
        let expand = r.new_len > r.old_len;
        if !expand && !r.implies_new_addr() {
            return Ok(());
        }
        if r.old_len == 0 && !vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE) {
            return Err(Errno::Inval);
        }
        if r.flags.contains(MremapFlags::DONTUNMAP)
            && vma.flags.intersects(VmFlags::DONTEXPAND | VmFlags::PFNMAP)
        {
            return Err(Errno::Inval);
        }
        let span = if r.new_len < r.old_len {
            r.new_len
        } else {
            r.old_len
        };
        if span > vma.end - r.addr {
            return Err(Errno::Fault);
        }
        if r.new_len == r.old_len {
            return Ok(());
        }
        let pgoff = vma.pgoff_at(r.addr);
        if pgoff.checked_add(r.new_len >> PAGE_SHIFT).is_none() {
            return Err(Errno::Inval);
        }
        if vma.flags.intersects(VmFlags::DONTEXPAND | VmFlags::PFNMAP) {
            return Err(Errno::Fault);
        }
        let delta = r.new_len.abs_diff(r.old_len);
        if !self.mlock_future_ok(vma.flags.contains(VmFlags::LOCKED), delta) {
            return Err(Errno::Again);
        }
        if !self.may_expand_vm(vma.flags, delta >> PAGE_SHIFT) {
            return Err(Errno::NoMem);
        }
        Ok(())
    }

    /// One VMA's remap, after the checks.
    fn remap_one(&mut self, w: &mut Window, r: Remap) -> Result<u64, Errno> {
        if r.implies_new_addr() {
            return self.mremap_to(w, r);
        }
        // Linux: mremap_at().
        if r.new_len == r.old_len {
            return Ok(r.addr);
        }
        if r.new_len < r.old_len {
            gather_munmap(
                w,
                r.addr + r.new_len,
                r.addr + r.old_len,
                self.config.max_map_count,
            )?;
            return Ok(r.addr);
        }
        self.expand_vma(w, r)
    }

    /// Grows in place if possible, else moves (Linux: `expand_vma()`).
    fn expand_vma(&mut self, w: &mut Window, r: Remap) -> Result<u64, Errno> {
        let i = w.containing(r.addr).ok_or(Errno::Fault)?;
        let delta = r.new_len - r.old_len;
        let vma = w.vma(i);
        if vma.end - r.addr == r.old_len && self.expandable(vma.start, vma.end, delta) {
            w.load(self, vma.end, vma.end + delta);
            let i = w.containing(r.addr).ok_or(Errno::Fault)?;
            return match self.merge_extend(w, i, delta) {
                Some(_) => Ok(r.addr),
                None => Err(Errno::NoMem),
            };
        }
        if !r.flags.contains(MremapFlags::MAYMOVE) {
            return Err(Errno::NoMem);
        }
        let new_addr = self.remap_destination(w, i, &r, 0, MapFlags::empty())?;
        self.move_vma(w, r, new_addr)
    }

    /// Whether `[end, end + delta)` is free and the grown VMA passes the fixed-address checks
    /// (Linux: `vma_expandable()`).
    fn expandable(&self, start: u64, end: u64, delta: u64) -> bool {
        let Some(new_end) = end.checked_add(delta) else {
            return false;
        };
        self.find_vma_intersection(end, new_end).is_none()
            && self
                .get_unmapped_area(None, start, new_end - start, 0, MapFlags::FIXED)
                .is_ok()
    }

    /// Grows the VMA at `i` by `delta` bytes into the free space after it, merging with the
    /// next VMA if compatible (Linux: `vma_merge_extend()`).
    pub(crate) fn merge_extend(&self, w: &mut Window, i: usize, delta: u64) -> Option<usize> {
        let vma = w.vma(i);
        let p = Proposal::within(vma, vma.end, vma.end + delta);
        let next = w.next_of(p.end);
        merge_new_range(w, &p, Some(i), next, false)
    }

    /// Chooses the destination of a move: `hint` for `MREMAP_DONTUNMAP`, `new_addr` for
    /// `MREMAP_FIXED`, a search otherwise (Linux: `vrm_set_new_addr()`).
    fn remap_destination(
        &self,
        w: &Window,
        i: usize,
        r: &Remap,
        hint: u64,
        extra: MapFlags,
    ) -> Result<u64, Errno> {
        let vma = w.vma(i);
        let mut flags = extra;
        if vma.flags.contains(VmFlags::MAYSHARE) {
            flags |= MapFlags::SHARED;
        }
        let pgoff = vma.pgoff_at(r.addr);
        let file = vma.file.as_deref();
        self.get_unmapped_area(file, hint, r.new_len, pgoff, flags)
    }

    /// Moves to a given or searched destination (Linux: `mremap_to()`).
    fn mremap_to(&mut self, w: &mut Window, mut r: Remap) -> Result<u64, Errno> {
        let max = self.config.max_map_count;
        if r.flags.contains(MremapFlags::FIXED) {
            w.load(self, r.new_addr, r.new_addr + r.new_len);
            gather_munmap(w, r.new_addr, r.new_addr + r.new_len, max)?;
            if w.containing(r.addr).is_none() {
                return Err(Errno::Fault);
            }
        }
        if r.new_len < r.old_len {
            gather_munmap(w, r.addr + r.new_len, r.addr + r.old_len, max)?;
            r.old_len = r.new_len;
        }
        let i = w.containing(r.addr).ok_or(Errno::Fault)?;
        if r.flags.contains(MremapFlags::DONTUNMAP)
            && !self.may_expand_vm(w.vma(i).flags, r.old_len >> PAGE_SHIFT)
        {
            return Err(Errno::NoMem);
        }
        let fixed = if r.flags.contains(MremapFlags::FIXED) {
            MapFlags::FIXED
        } else {
            MapFlags::empty()
        };
        let new_addr = self.remap_destination(w, i, &r, r.new_addr, fixed)?;
        self.move_vma(w, r, new_addr)
    }

    /// Copies the VMA to `new_addr` and unmaps the source (Linux: `move_vma()`).
    fn move_vma(&mut self, w: &mut Window, r: Remap, new_addr: u64) -> Result<u64, Errno> {
        if w.map_count() >= self.config.max_map_count.saturating_sub(3) {
            return Err(Errno::NoMem);
        }
        w.load(self, new_addr, new_addr + r.new_len);
        let i = w.containing(r.addr).ok_or(Errno::Fault)?;
        let pgoff = w.vma(i).pgoff_at(r.addr);
        let (old_start, old_end) = (w.vma(i).start, w.vma(i).end);
        let copy = copy_vma(w, i, new_addr, r.new_len, pgoff).ok_or(Errno::NoMem)?;
        let copy_start = w.vma(copy).start;
        if r.flags.contains(MremapFlags::DONTUNMAP) {
            // The source stays mapped but empty: unlocked, and without its anon_vma if all of
            // it moved. Linux does not try to merge it after that.
            if let Some(src) = w.containing(r.addr) {
                let moved_whole = r.addr == old_start && r.addr + r.old_len == old_end;
                let is_copy = w.vma(src).start == copy_start;
                let v = w.vma_mut(src);
                v.flags = v.flags.without(VmFlags::LOCKED_MASK);
                if moved_whole && !is_copy {
                    v.anon = None;
                }
                w.tolerate_around(src);
            }
        } else if r.old_len > 0 {
            // Linux ignores a failure here: the source then stays mapped. A duplicate of
            // shared memory (old length 0) leaves the source alone.
            let _ = gather_munmap(w, r.addr, r.addr + r.old_len, self.config.max_map_count);
        }
        Ok(new_addr)
    }

    /// A fixed move of equal length that may span several VMAs, keeping the gaps between
    /// them (Linux: `remap_move()`).
    fn remap_move(&mut self, w: &mut Window, r: Remap) -> Result<u64, Errno> {
        let (start, end) = (r.addr, r.addr + r.old_len);
        let sources: Vec<(u64, u64)> = w
            .vmas
            .iter()
            .map(|s| (s.vma.start, s.vma.end))
            .filter(|&(s, e)| s < end && e > start)
            .collect();
        let mut result = Err(Errno::Fault);
        let mut target = r.new_addr;
        let mut last_end = 0;
        for (n, &(vs, ve)) in sources.iter().enumerate() {
            let seen = n > 0;
            if !seen && start < vs {
                return Err(Errno::Fault);
            }
            let addr = vs.max(start);
            let len = end.min(ve) - addr;
            let offset = if seen { vs - last_end } else { 0 };
            last_end = ve;
            let piece = Remap {
                addr,
                old_len: len,
                new_len: len,
                flags: r.flags,
                new_addr: target + offset,
            };
            let vma = w.containing(addr);
            self.check_prep_vma(w, vma, &piece)?;
            let moved = self.mremap_to(w, piece)?;
            if !seen {
                result = Ok(moved);
            }
            target = moved + len;
        }
        result
    }
}

/// Copies the VMA at `i` to `[addr, addr + len)` with page offset `pgoff`, merging with the
/// destination's neighbours if possible; returns the index of the VMA that covers the copy.
/// A never-faulted anonymous VMA takes `addr >> 12` as its offset, to merge like a fresh
/// mapping. The destination must be free.
///
/// Linux: `copy_vma()`.
pub(crate) fn copy_vma(w: &mut Window, i: usize, addr: u64, len: u64, pgoff: u64) -> Option<usize> {
    let src = w.vma(i).clone();
    let end = addr + len;
    if w.any_in(addr, end) {
        return None;
    }
    let pgoff = if src.is_anonymous() && src.anon.is_none() {
        addr >> PAGE_SHIFT
    } else {
        pgoff
    };
    // The copy is a new range (no middle), carrying the source's anon_vma.
    let mut p = Proposal::new(addr, end, pgoff, src.flags, src.file.clone());
    p.anon = src.anon;
    let prev = w.prev_of(addr);
    let next = w.next_of(end);
    if let Some(merged) = merge_new_range(w, &p, prev, next, false) {
        return Some(merged);
    }
    let mut copy = src;
    copy.start = addr;
    copy.end = end;
    copy.pgoff = pgoff;
    Some(w.insert(None, copy))
}
