//! `brk`: move the program break, growing the heap VMA (or creating it) or unmapping its tail.
//!
//! ```text
//!  start_brk                 old brk      new brk
//!     [ heap VMA               )  ->  [ heap VMA               ...... )
//!  growth extends the VMA just below the old break (expand-only merge), or maps a new one
//! ```
//!
//! Linux: `brk()` in mm/mmap.c, `do_brk_flags()` in mm/vma.c.

use crate::address_space::{AddressSpace, RLIM_INFINITY};
use crate::error::Errno;
use crate::flags::{MapFlags, VmFlags};
use crate::index::VmaIndex;
use crate::merge::{Proposal, merge_new_range};
use crate::vma::{PAGE_SHIFT, PAGE_SIZE, Vma, page_align};

impl<I: VmaIndex> AddressSpace<I> {
    /// Sets the program break to `addr` and returns the new break, or the old one if the
    /// request fails (`brk` never returns an error number). `brk(0)` reports the break.
    ///
    /// Growth extends the VMA that ends at the old break, if it is compatible, or maps a new
    /// anonymous VMA; it fails if it would come within a page (plus the stack guard gap) of
    /// the next mapping. Shrinking unmaps the freed tail, and fails unless a VMA lies there.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::AddressSpace;
    ///
    /// let mut mm = AddressSpace::new();
    /// mm.set_brk_base(0x5555_5555_a000);
    /// assert_eq!(mm.brk(0x5555_5557_b000), 0x5555_5557_b000);
    /// assert_eq!(mm.brk(0x5555_5559_c000), 0x5555_5559_c000);
    /// assert_eq!(mm.map_count(), 1); // one [heap] VMA, grown in place
    /// assert_eq!(mm.brk(0x1000), 0x5555_5559_c000); // below the start: refused
    /// assert_eq!(mm.brk(0x5555_5555_a000), 0x5555_5555_a000);
    /// assert_eq!(mm.map_count(), 0);
    /// ```
    ///
    /// Linux: `brk()`.
    #[doc(alias = "sys_brk")]
    pub fn brk(&mut self, addr: u64) -> u64 {
        let orig = self.brk;
        match self.try_brk(addr) {
            Ok(()) => {
                self.brk = addr;
                addr
            }
            Err(()) => orig,
        }
    }

    fn try_brk(&mut self, brk: u64) -> Result<(), ()> {
        if brk < self.start_brk {
            return Err(());
        }
        if self.config.rlimit_data != RLIM_INFINITY
            && brk - self.start_brk > self.config.rlimit_data
        {
            return Err(());
        }
        let newbrk = page_align(brk).ok_or(())?;
        let oldbrk = page_align(self.brk).ok_or(())?;
        if newbrk == oldbrk {
            return Ok(());
        }
        if brk <= self.brk {
            // Shrink: the freed tail must hold a VMA (the heap).
            return match self.unmap_range(newbrk, oldbrk) {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => Err(()),
            };
        }
        let len = newbrk - oldbrk;
        // check_brk_limits(): a fixed-address check of the new range, and the lock limit.
        self.get_unmapped_area(None, oldbrk, len, 0, MapFlags::FIXED)
            .map_err(drop)?;
        if !self.mlock_future_ok(self.def_flags.contains(VmFlags::LOCKED), len) {
            return Err(());
        }
        self.do_brk_flags(oldbrk, len).map_err(drop)?;
        // After mlockall(MCL_FUTURE) the new memory is locked, so it is faulted in.
        if self.def_flags.contains(VmFlags::LOCKED) {
            self.mm_populate(oldbrk, newbrk, true).map_err(drop)?;
        }
        Ok(())
    }

    /// Maps `[addr, addr + len)` as brk memory: extends the VMA ending at `addr` if it lies
    /// in the brk area and is compatible, else maps a new anonymous VMA.
    ///
    /// Linux: `do_brk_flags()`.
    fn do_brk_flags(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        let flags = VmFlags::DATA_DEFAULT | VmFlags::ACCOUNT | self.def_flags;
        if !self.may_expand_vm(flags, len >> PAGE_SHIFT) {
            return Err(Errno::NoMem);
        }
        if self.map_count > self.config.max_map_count {
            return Err(Errno::NoMem);
        }
        let end = addr + len;
        let mut w = self.window();
        w.load(self, addr, end);
        // Keep a page, and the guard gap below a stack, free above the new break (in brk()).
        // The window holds the first VMA that ends above `addr`, whether it lies in the new
        // range or is the one after it.
        let gap = self.config.stack_guard_gap;
        let limit = end.saturating_add(PAGE_SIZE).saturating_add(gap);
        if let Some(next) = w.vmas.get(w.first_ending_after(addr))
            && next.vma.start < limit
            && end + PAGE_SIZE > next.vma.start_gap(gap)
        {
            self.recycle(w);
            return Err(Errno::NoMem);
        }
        // The VMA below the old break counts only if it reaches into the brk area.
        let brk_vma = w.prev_of(addr).filter(|&i| w.vma(i).end > self.start_brk);
        let proposal = Proposal::new(addr, end, addr >> PAGE_SHIFT, flags, None);
        let merged = match brk_vma {
            Some(i) if w.vma(i).end == addr => {
                merge_new_range(&mut w, &proposal, Some(i), None, true)
            }
            _ => None,
        };
        if merged.is_none() {
            let at = w.insert(None, Vma::anonymous(addr, end, flags));
            // brk never looks below the brk area: a compatible VMA ending right at the new
            // one (the bss, when the heap is not randomized) stays separate, as in Linux.
            w.tolerate_around(at);
        }
        self.commit(w)
    }
}
