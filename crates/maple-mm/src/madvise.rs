//! `madvise`: the advices that change VMA flags split and merge like `mprotect`; the others act
//! on pages, so here they only check the range and the VMAs they meet.
//!
//! Linux: `do_madvise()`, `madvise_walk_vmas()`, `madvise_vma_behavior()`,
//! `madvise_update_vma()` in mm/madvise.c; `ksm_madvise()`, `hugepage_madvise()`.

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::{Advice, VmFlags};
use crate::index::VmaIndex;
use crate::split::modify_flags;
use crate::vma::{page_align, page_aligned};
use crate::window::Window;

impl Advice {
    /// Whether Linux (with KSM, THP as configured, memory-failure injection) knows the advice.
    fn valid(self, thp: bool) -> bool {
        match self.0 {
            0..=4 | 8..=13 | 16..=24 | 100..=103 => true,
            14 | 15 | 25 => thp,
            _ => false,
        }
    }
}

impl<I: VmaIndex> AddressSpace<I> {
    /// Gives advice about `[start, start + len)`, as `madvise(2)` does.
    ///
    /// Advices that change VMA flags (`NORMAL`, `RANDOM`, `SEQUENTIAL`, `DONTFORK`,
    /// `DOFORK`, `WIPEONFORK`, `KEEPONFORK`, `DONTDUMP`, `DODUMP`, `MERGEABLE`,
    /// `UNMERGEABLE`, `HUGEPAGE`, `NOHUGEPAGE`) split and merge VMAs like `mprotect`. The
    /// others act on pages: they change no VMA boundary, but check the VMAs they meet
    /// (`MADV_GUARD_INSTALL` and `MADV_POPULATE_WRITE` also give private VMAs an anon_vma, as
    /// their faults do).
    ///
    /// # Errors
    ///
    /// - [`Errno::Inval`]: unknown advice, unaligned `start`, a range that wraps, or an advice
    ///   the VMA does not allow (`DONTNEED` on locked memory, `WIPEONFORK` on a file,
    ///   `MADV_POPULATE_*` on memory that cannot be accessed that way...).
    /// - [`Errno::NoMem`]: part of the range is unmapped; the advice is still applied to the
    ///   mapped parts, as in Linux.
    /// - [`Errno::Again`]: a split at `max_map_count` or tree memory for a flag change
    ///   (Linux reports `ENOMEM` from there as `EAGAIN`).
    /// - [`Errno::Perm`]: the memory-failure advices (they need `CAP_SYS_ADMIN`).
    /// - [`Errno::Access`]: `MADV_REMOVE` on a mapping that is not shared and writable.
    /// - [`Errno::Fault`]: `MADV_POPULATE_*` over pages beyond the end of a mapped file (the
    ///   faults there fail).
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{Advice, AddressSpace, Errno, MapFlags, Prot, VmFlags};
    ///
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let a = mm.mmap(0, 0x4000, Prot::READ | Prot::WRITE, anon, None, 0)?;
    /// mm.madvise(a + 0x2000, 0x2000, Advice::DONTFORK)?;
    /// assert_eq!(mm.map_count(), 2);
    /// assert!(mm.vma_lookup(a + 0x2000).unwrap().flags().contains(VmFlags::DONTCOPY));
    /// mm.madvise(a, 0x1000, Advice::DONTNEED)?; // pages only: no split
    /// assert_eq!(mm.map_count(), 2);
    /// assert_eq!(mm.madvise(a, 0x1000, Advice(77)), Err(Errno::Inval));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `madvise()`, `do_madvise()`.
    #[doc(alias = "do_madvise")]
    pub fn madvise(&mut self, start: u64, len: u64, advice: Advice) -> Result<(), Errno> {
        if !advice.valid(self.config.thp) || !page_aligned(start) {
            return Err(Errno::Inval);
        }
        let aligned = page_align(len).ok_or(Errno::Inval)?;
        let end = start.checked_add(aligned).ok_or(Errno::Inval)?;
        if end == start {
            return Ok(());
        }
        if advice == Advice::HWPOISON || advice == Advice::SOFT_OFFLINE {
            return Err(Errno::Perm);
        }
        if advice == Advice::POPULATE_READ || advice == Advice::POPULATE_WRITE {
            return self.madvise_populate(start, end, advice == Advice::POPULATE_WRITE);
        }
        let mut w = self.window();
        w.load(self, start, end);
        let result = self.madvise_walk(&mut w, start, end, advice);
        self.commit(w).map_err(|_| Errno::Again)?;
        result
    }

    /// The walk over the VMAs of `[start, end)`: holes make the result `ENOMEM` but do not
    /// stop it; a VMA's error does.
    ///
    /// Linux: `madvise_walk_vmas()`.
    fn madvise_walk(
        &mut self,
        w: &mut Window,
        start: u64,
        end: u64,
        advice: Advice,
    ) -> Result<(), Errno> {
        let mut unmapped = false;
        let mut cur = start;
        loop {
            let i = w.first_ending_after(cur);
            if i >= w.vmas.len() {
                return Err(Errno::NoMem);
            }
            if cur < w.vma(i).start {
                unmapped = true;
                cur = w.vma(i).start;
                if cur >= end {
                    break;
                }
            }
            let range_end = w.vma(i).end.min(end);
            let r = self.madvise_vma(w, i, cur, range_end, advice)?;
            let reached = w.vma(r).end.max(range_end);
            if reached >= end {
                break;
            }
            cur = reached;
        }
        if unmapped { Err(Errno::NoMem) } else { Ok(()) }
    }

    /// Applies `advice` to `[start, end)` of the VMA at `i`; returns the index of the VMA
    /// that now covers the range.
    ///
    /// Linux: `madvise_vma_behavior()`.
    fn madvise_vma(
        &mut self,
        w: &mut Window,
        i: usize,
        start: u64,
        end: u64,
        advice: Advice,
    ) -> Result<usize, Errno> {
        let vma = w.vma(i);
        let flags = vma.flags;
        let mut new = flags;
        match advice {
            Advice::NORMAL => new = new.without(VmFlags::RAND_READ | VmFlags::SEQ_READ),
            Advice::SEQUENTIAL => new = new.without(VmFlags::RAND_READ) | VmFlags::SEQ_READ,
            Advice::RANDOM => new = new.without(VmFlags::SEQ_READ) | VmFlags::RAND_READ,
            Advice::DONTFORK => new |= VmFlags::DONTCOPY,
            Advice::DOFORK => {
                if flags.intersects(VmFlags::SPECIAL) {
                    return Err(Errno::Inval);
                }
                new = new.without(VmFlags::DONTCOPY);
            }
            Advice::WIPEONFORK => {
                if vma.file.is_some() || flags.contains(VmFlags::SHARED) {
                    return Err(Errno::Inval);
                }
                new |= VmFlags::WIPEONFORK;
            }
            Advice::KEEPONFORK => {
                if flags.contains(VmFlags::DROPPABLE) {
                    return Err(Errno::Inval);
                }
                new = new.without(VmFlags::WIPEONFORK);
            }
            Advice::DONTDUMP => new |= VmFlags::DONTDUMP,
            Advice::DODUMP => {
                if flags.intersects(VmFlags::SPECIAL | VmFlags::DROPPABLE) {
                    return Err(Errno::Inval);
                }
                new = new.without(VmFlags::DONTDUMP);
            }
            Advice::MERGEABLE => {
                let incompatible =
                    VmFlags::SHARED | VmFlags::MAYSHARE | VmFlags::SPECIAL | VmFlags::DROPPABLE;
                if !flags.intersects(incompatible) {
                    new |= VmFlags::MERGEABLE;
                }
            }
            Advice::UNMERGEABLE => new = new.without(VmFlags::MERGEABLE),
            Advice::HUGEPAGE => new = new.without(VmFlags::NOHUGEPAGE) | VmFlags::HUGEPAGE,
            Advice::NOHUGEPAGE => new = new.without(VmFlags::HUGEPAGE) | VmFlags::NOHUGEPAGE,
            _ => return self.madvise_pages(w, i, start, end, advice),
        }
        modify_flags(w, i, start, end, new, self.config.max_map_count).map_err(|e| match e {
            Errno::NoMem => Errno::Again,
            other => other,
        })
    }

    /// The checks of the advices that act on pages only.
    fn madvise_pages(
        &mut self,
        w: &mut Window,
        i: usize,
        start: u64,
        end: u64,
        advice: Advice,
    ) -> Result<usize, Errno> {
        let vma = w.vma(i);
        let flags = vma.flags;
        match advice {
            Advice::DONTNEED | Advice::FREE
                if flags.intersects(VmFlags::PFNMAP | VmFlags::LOCKED) =>
            {
                Err(Errno::Inval)
            }
            Advice::DONTNEED_LOCKED if flags.contains(VmFlags::PFNMAP) => Err(Errno::Inval),
            Advice::FREE if !vma.is_anonymous() => Err(Errno::Inval),
            Advice::COLD | Advice::PAGEOUT
                if flags.intersects(VmFlags::LOCKED | VmFlags::PFNMAP) =>
            {
                Err(Errno::Inval)
            }
            Advice::REMOVE if flags.contains(VmFlags::LOCKED) || vma.file.is_none() => {
                Err(Errno::Inval)
            }
            Advice::REMOVE if !flags.contains(VmFlags::SHARED | VmFlags::MAYWRITE) => {
                Err(Errno::Access)
            }
            Advice::GUARD_INSTALL | Advice::GUARD_REMOVE => {
                let mut disallowed = VmFlags::SPECIAL;
                if advice == Advice::GUARD_INSTALL {
                    disallowed |= VmFlags::LOCKED;
                }
                if flags.intersects(disallowed) {
                    return Err(Errno::Inval);
                }
                if advice == Advice::GUARD_INSTALL {
                    if vma.is_anonymous() {
                        self.anon_vma_prepare(w, i);
                    }
                    self.guards.insert(start, end);
                } else {
                    self.guards.remove(start, end);
                }
                Ok(i)
            }
            _ => Ok(i),
        }
    }

    /// `MADV_POPULATE_READ` and `MADV_POPULATE_WRITE`: fault the range in, without forcing
    /// access. A hole is `ENOMEM`; a VMA the access is not allowed on (or I/O memory)
    /// `EINVAL`; a fault that fails (a page beyond the end of a mapped file) `EFAULT`. Write
    /// faults on private memory attach anon_vmas, up to where a fault failed.
    ///
    /// Linux: `madvise_populate()`, `faultin_page_range()`.
    fn madvise_populate(&mut self, start: u64, end: u64, write: bool) -> Result<(), Errno> {
        let mut w = self.window();
        w.load(self, start, end);
        let mut result = Ok(());
        let mut cur = start;
        while cur < end {
            let Some(i) = w.containing(cur) else {
                result = Err(Errno::NoMem);
                break;
            };
            let vma = w.vma(i);
            let flags = vma.flags;
            let allowed = if write {
                flags.contains(VmFlags::WRITE)
            } else {
                flags.contains(VmFlags::READ)
            };
            if flags.intersects(VmFlags::IO | VmFlags::PFNMAP) || !allowed {
                result = Err(Errno::Inval);
                break;
            }
            let nend = vma.end.min(end);
            let reached = self.fault_limit(vma, cur, nend);
            if write && !flags.contains(VmFlags::SHARED) && reached > cur {
                self.anon_vma_prepare(&mut w, i);
            }
            if reached < nend {
                result = Err(Errno::Fault);
                break;
            }
            cur = nend;
        }
        self.commit(w)?;
        result
    }
}
