//! Page faults as far as VMAs see them: a write fault on private memory gives the VMA an
//! anon_vma (reusing a compatible neighbour's, so that a later `mprotect` can merge them
//! again), and a fault below a growsdown stack grows it. Populating (the faults `mlock`,
//! `MAP_POPULATE`, `MAP_LOCKED`, `mlockall` and `MADV_POPULATE_*` make) does the same over a
//! range, and fails where a fault would: memory the VMA does not let be touched, or pages
//! wholly beyond the end of a mapped file (`SIGBUS`).
//!
//! Linux: `anon_vma_prepare()`, `find_mergeable_anon_vma()`, `reusable_anon_vma()` in
//! mm/rmap.c and mm/vma.c; `expand_downwards()` and `acct_stack_growth()` in mm/mmap.c;
//! `__mm_populate()`, `populate_vma_page_range()`, `faultin_page_range()`,
//! `check_vma_flags()` in mm/gup.c.

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::VmFlags;
use crate::index::VmaIndex;
use crate::vma::{AnonVma, PAGE_SHIFT, PAGE_SIZE, Vma};
use crate::window::Window;

/// Whether `a` and the VMA right after it, `b`, could share an anon_vma: adjacent, same file,
/// flags equal but for the access bits, offsets contiguous (Linux: `anon_vma_compatible()`).
fn anon_compatible(a: &Vma, b: &Vma) -> bool {
    a.end == b.start
        && b.same_file(a.file.as_ref())
        && (a.flags.bits() ^ b.flags.bits()) & !VmFlags::ACCESS.bits() == 0
        && b.pgoff == a.pgoff_at(b.start)
}

/// `old`'s anon_vma, if `a` and `b` are compatible and `old`'s chain is singular (Linux:
/// `reusable_anon_vma()`).
fn reusable(old: &Vma, a: &Vma, b: &Vma) -> Option<AnonVma> {
    if anon_compatible(a, b) && old.chain_singular() {
        old.anon
    } else {
        None
    }
}

/// The first address of `[start, end)` in `vma` whose page lies wholly beyond the end of the
/// file it maps (a fault there is `SIGBUS`), or `end`.
fn eof_limit(vma: &Vma, start: u64, end: u64) -> u64 {
    let Some(size) = vma.file.as_ref().and_then(|f| f.size()) else {
        return end;
    };
    let eof_page = size.div_ceil(PAGE_SIZE);
    let first = vma.pgoff_at(start);
    if vma.pgoff_at(end) <= eof_page {
        return end;
    }
    let good = eof_page.saturating_sub(first);
    start
        .saturating_add(good.saturating_mul(PAGE_SIZE))
        .min(end)
}

impl<I: VmaIndex> AddressSpace<I> {
    /// The first address of `[start, end)` in `vma` where a fault fails: a page beyond the end
    /// of the mapped file (`SIGBUS`) or a guard page (`SIGSEGV`); `end` when every page can be
    /// faulted in.
    pub(crate) fn fault_limit(&self, vma: &Vma, start: u64, end: u64) -> u64 {
        let eof = eof_limit(vma, start, end);
        self.guards.first_in(start, eof).unwrap_or(eof)
    }

    /// Faults in `[start, end)` as the locking paths do, VMA by VMA: `I/O` and `PFNMAP` memory
    /// and lock-on-fault VMAs are skipped; private writable memory is written (its VMA gets an
    /// anon_vma), the rest read, with access forced on any memory but `PROT_NONE`. At the
    /// first VMA that cannot be faulted in whole it returns [`Errno::Fault`], unless
    /// `ignore_errors` (then it goes on with the next VMA).
    ///
    /// Linux: `__mm_populate()`, `populate_vma_page_range()`.
    pub(crate) fn mm_populate(
        &mut self,
        start: u64,
        end: u64,
        ignore_errors: bool,
    ) -> Result<(), Errno> {
        if start >= end {
            return Ok(());
        }
        let mut w = self.window();
        w.load(self, start, end);
        let mut result = Ok(());
        let mut i = w.first_ending_after(start);
        while i < w.vmas.len() && w.vma(i).start < end {
            let vma = w.vma(i);
            let flags = vma.flags;
            if flags.intersects(VmFlags::IO | VmFlags::PFNMAP | VmFlags::LOCKONFAULT) {
                i += 1;
                continue;
            }
            let (nstart, nend) = (vma.start.max(start), vma.end.min(end));
            let write = flags & (VmFlags::WRITE | VmFlags::SHARED) == VmFlags::WRITE;
            // FOLL_FORCE lets a read through on memory that is accessible at all.
            let readable = flags.contains(VmFlags::READ)
                || (flags.intersects(VmFlags::ACCESS) && flags.contains(VmFlags::MAYREAD));
            let reached = if write || readable {
                self.fault_limit(vma, nstart, nend)
            } else {
                nstart
            };
            if write && reached > nstart {
                self.anon_vma_prepare(&mut w, i);
            }
            if reached < nend && !ignore_errors {
                result = Err(Errno::Fault);
                break;
            }
            i += 1;
        }
        self.commit(w)?;
        result
    }

    /// Gives the VMA containing `addr` an anon_vma if it has none, as its first anonymous
    /// page would: a neighbour's when Linux would reuse it, else a new one. For a replayer
    /// that learns from `/proc/PID/smaps` which VMAs have anonymous pages (page faults are
    /// no system calls). Changes no range, so it cannot fail for memory.
    ///
    /// # Errors
    ///
    /// [`Errno::Fault`] if no VMA contains `addr`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let a = mm.mmap(0, 0x2000, Prot::READ, anon, None, 0)?;
    /// mm.prepare_anon_vma(a)?;
    /// assert!(mm.vma_lookup(a).unwrap().anon_vma().is_some());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `anon_vma_prepare()`.
    #[doc(alias = "anon_vma_prepare")]
    pub fn prepare_anon_vma(&mut self, addr: u64) -> Result<(), Errno> {
        // The window finds the VMA and its neighbours in one walk.
        let mut w = self.window();
        w.load(self, addr, addr.saturating_add(1));
        let Some(i) = w.containing(addr) else {
            self.recycle(w);
            return Err(Errno::Fault);
        };
        if w.vma(i).anon.is_some() {
            self.recycle(w);
            return Ok(());
        }
        self.anon_vma_prepare(&mut w, i);
        self.commit(w)
    }

    /// Gives the VMA at `i` an anon_vma if it has none: its next neighbour's or its previous
    /// neighbour's when reusable, else a new one.
    ///
    /// Linux: `anon_vma_prepare()`, `find_mergeable_anon_vma()`.
    pub(crate) fn anon_vma_prepare(&mut self, w: &mut Window, i: usize) {
        if w.vma(i).anon.is_some() {
            return;
        }
        let vma = w.vma(i);
        let from_next = w
            .vmas
            .get(i + 1)
            .and_then(|next| reusable(&next.vma, vma, &next.vma));
        let found = from_next.or_else(|| {
            i.checked_sub(1)
                .and_then(|p| reusable(w.vma(p), w.vma(p), vma))
        });
        let anon = match found {
            Some(shared) => AnonVma::new(shared.id()),
            None => self.new_anon_vma(),
        };
        w.vma_mut(i).anon = Some(anon);
        w.tolerate_around(i);
    }

    /// A page fault at `addr`, for reading or (if `write`) writing, as far as VMAs see it:
    /// a fault below a growsdown VMA grows the stack, and a write fault in a private mapping
    /// gives the VMA an anon_vma. Faults never split or merge VMAs.
    ///
    /// This lets a model reproduce which VMAs have anonymous pages, which decides some
    /// merges: Linux merges a VMA without an anon_vma with a neighbour that has one only in
    /// some directions.
    ///
    /// # Errors
    ///
    /// [`Errno::Fault`] where a real fault would raise `SIGSEGV`: no VMA, an access the VMA
    /// does not allow, or a stack that cannot grow there; [`Errno::NoMem`] if tree memory ran
    /// out while attaching the anon_vma.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Errno, MapFlags, Prot};
    ///
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let a = mm.mmap(0, 0x2000, Prot::READ, anon, None, 0)?;
    /// assert_eq!(mm.fault(a, true), Err(Errno::Fault)); // not writable
    /// mm.fault(a, false)?; // a read fault maps the zero page: no anon_vma
    /// assert!(mm.vma_lookup(a).unwrap().anon_vma().is_none());
    /// mm.mprotect(a, 0x2000, Prot::READ | Prot::WRITE)?;
    /// mm.fault(a, true)?;
    /// assert!(mm.vma_lookup(a).unwrap().anon_vma().is_some());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `lock_mm_and_find_vma()`, `access_error()`, `anon_vma_prepare()` on the write
    /// fault path.
    #[doc(alias = "handle_mm_fault")]
    pub fn fault(&mut self, addr: u64, write: bool) -> Result<(), Errno> {
        let vma = self.find_vma(addr).ok_or(Errno::Fault)?;
        if vma.start > addr {
            if !vma.flags.contains(VmFlags::GROWSDOWN) {
                return Err(Errno::Fault);
            }
            // A stack that cannot grow there means SIGSEGV.
            self.expand_stack(addr).map_err(|_| Errno::Fault)?;
        }
        let vma = self.find_vma(addr).ok_or(Errno::Fault)?;
        let allowed = if write {
            vma.flags.contains(VmFlags::WRITE)
        } else {
            vma.flags.intersects(VmFlags::ACCESS)
        };
        if !allowed {
            return Err(Errno::Fault);
        }
        // A write fault on private memory needs an anon_vma, unless it has one already.
        if !write || vma.flags.contains(VmFlags::SHARED) || vma.anon.is_some() {
            return Ok(());
        }
        self.prepare_anon_vma(addr)
    }

    /// Grows the growsdown VMA above `addr` down to `addr`'s page, as a fault below a stack
    /// does. An address already inside a VMA is left alone.
    ///
    /// # Errors
    ///
    /// - [`Errno::Fault`]: no VMA above, or it does not grow down.
    /// - [`Errno::Perm`]: below `mmap_min_addr`.
    /// - [`Errno::NoMem`]: the stack guard gap would be violated, `RLIMIT_STACK` or another
    ///   limit exceeded, or tree memory ran out.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    ///
    /// let mut mm = AddressSpace::new();
    /// let stack = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::GROWSDOWN | MapFlags::FIXED;
    /// mm.mmap(0x7ff0_0000_0000, 0x1000, Prot::READ | Prot::WRITE, stack, None, 0)?;
    /// mm.expand_stack(0x7fef_ffff_e123)?;
    /// assert_eq!(mm.vma_lookup(0x7fef_ffff_e000).unwrap().start(), 0x7fef_ffff_e000);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `expand_stack()`, `expand_downwards()`.
    #[doc(alias = "expand_downwards")]
    pub fn expand_stack(&mut self, addr: u64) -> Result<(), Errno> {
        let vma = self.find_vma(addr).ok_or(Errno::Fault)?;
        if vma.start <= addr {
            return Ok(());
        }
        if !vma.flags.contains(VmFlags::GROWSDOWN) {
            return Err(Errno::Fault);
        }
        let address = addr & !(PAGE_SIZE - 1);
        if address < self.config.mmap_min_addr {
            return Err(Errno::Perm);
        }
        let start = vma.start;
        let (_, prev) = self.find_vma_prev(start);
        if let Some(prev) = prev
            && !prev.flags.contains(VmFlags::GROWSDOWN)
            && prev.flags.intersects(VmFlags::ACCESS)
            && address - prev.end < self.config.stack_guard_gap
        {
            return Err(Errno::NoMem);
        }
        let mut w = self.window();
        w.load(self, address, start + 1);
        let Some(i) = w.containing(start) else {
            self.recycle(w);
            return Err(Errno::Fault);
        };
        // Linux prepares the anon_vma before it checks the limits; it stays on failure.
        self.anon_vma_prepare(&mut w, i);
        let result = self.grow_down(&mut w, i, address);
        self.commit(w)?;
        result
    }

    /// The limit checks and the growth of `expand_downwards()` (Linux: `acct_stack_growth()`).
    fn grow_down(&self, w: &mut Window, i: usize, address: u64) -> Result<(), Errno> {
        let vma = w.vma(i);
        let size = vma.end - address;
        let grow = (vma.start - address) >> PAGE_SHIFT;
        if grow > vma.pgoff
            || !self.may_expand_vm(vma.flags, grow)
            || size > self.config.rlimit_stack
            || !self.mlock_future_ok(vma.flags.contains(VmFlags::LOCKED), grow << PAGE_SHIFT)
        {
            return Err(Errno::NoMem);
        }
        let vma = w.vma_mut(i);
        vma.start = address;
        vma.pgoff -= grow;
        w.tolerate_around(i);
        Ok(())
    }
}
