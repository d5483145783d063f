//! Choosing an address for a new mapping: the hint check, the top-down search below
//! `mmap_base` with its bottom-up fallback, the THP alignment of large anonymous mappings, and
//! the stack guard gap, all as x86-64 Linux does them.
//!
//! The searches use the index's gap search (for the maple tree, `mas_empty_area_rev()` and
//! `mas_empty_area()` through [`GapRequest`](maple_tree::GapRequest)):
//!
//! ```text
//!  top-down: highest gap of length + align_mask bytes inside [low, high - 1]
//!            candidate = gap end - length, rounded down to the alignment
//!            if the VMA above the gap is a growsdown stack whose guard gap reaches into
//!            the candidate range: high = its gapped start, search again
//! ```
//!
//! Linux: `__get_unmapped_area()`, `mm_get_unmapped_area_vmflags()`,
//! `arch_get_unmapped_area_topdown()` and `arch_get_unmapped_area()` in
//! arch/x86/kernel/sys_x86_64.c, `unmapped_area_topdown()` and `unmapped_area()` in
//! mm/vma.c, `__thp_get_unmapped_area()` in mm/huge_memory.c.

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::{MapFlags, VmFlags};
use crate::index::VmaIndex;
use crate::vma::{File, PAGE_SHIFT, PAGE_SIZE, page_aligned};

/// The size of a PMD-mapped transparent huge page: 2 MiB.
pub(crate) const PMD_SIZE: u64 = 2 << 20;

/// A search for a free range (Linux: `struct vm_unmapped_area_info`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AreaRequest {
    pub(crate) length: u64,
    pub(crate) low_limit: u64,
    pub(crate) high_limit: u64,
    pub(crate) align_mask: u64,
    pub(crate) align_offset: u64,
    pub(crate) top_down: bool,
}

impl<I: VmaIndex> AddressSpace<I> {
    /// The highest fit for `req` (Linux: `unmapped_area_topdown()`).
    fn unmapped_area_topdown(&self, req: &AreaRequest) -> Option<u64> {
        let length = req.length.checked_add(req.align_mask)?;
        let low = req.low_limit.max(self.config.mmap_min_addr);
        let mut high = req.high_limit;
        loop {
            if high == 0 || high - 1 < low {
                return None;
            }
            let s = self.index.gap(low, high - 1, length, true)?;
            let gap_end = s + length;
            let mut gap = gap_end - req.length;
            gap -= gap.wrapping_sub(req.align_offset) & req.align_mask;
            // The VMA above the gap: is it a stack whose guard gap reaches into the range?
            if let Some(next) = self.index.find(gap_end, u64::MAX)
                && let Some(vma) = self.vmas.get(next.id)
                && vma.flags.contains(VmFlags::GROWSDOWN)
            {
                let gapped = vma.start_gap(self.config.stack_guard_gap);
                if gapped < gap_end {
                    high = gapped;
                    continue;
                }
            }
            return Some(gap);
        }
    }

    /// The lowest fit for `req` (Linux: `unmapped_area()`).
    fn unmapped_area(&self, req: &AreaRequest) -> Option<u64> {
        let length = req.length.checked_add(req.align_mask)?;
        let mut low = req.low_limit.max(self.config.mmap_min_addr);
        let high = req.high_limit;
        loop {
            if high == 0 || high - 1 < low {
                return None;
            }
            let s = self.index.gap(low, high - 1, length, false)?;
            let mut gap = s;
            gap += req.align_offset.wrapping_sub(gap) & req.align_mask;
            if let Some(next) = self.index.find(s + length, u64::MAX)
                && let Some(vma) = self.vmas.get(next.id)
                && vma.flags.contains(VmFlags::GROWSDOWN)
                && vma.start_gap(self.config.stack_guard_gap) < gap + length - 1
            {
                low = vma.end;
                continue;
            }
            return Some(gap);
        }
    }

    /// Linux: `vm_unmapped_area()`.
    pub(crate) fn vm_unmapped_area(&self, req: &AreaRequest) -> Option<u64> {
        if req.top_down {
            self.unmapped_area_topdown(req)
        } else {
            self.unmapped_area(req)
        }
    }

    /// Whether `[addr, addr + len)` is free, with the guard gap of a stack above it.
    fn hint_fits(&self, addr: u64, len: u64) -> bool {
        match self.find_vma(addr) {
            None => true,
            Some(vma) => addr
                .checked_add(len)
                .is_some_and(|end| end <= vma.start_gap(self.config.stack_guard_gap)),
        }
    }

    /// The bottom-up allocator (Linux: `arch_get_unmapped_area()` on x86-64).
    fn area_bottom_up(
        &self,
        addr: u64,
        len: u64,
        pgoff: u64,
        flags: MapFlags,
    ) -> Result<u64, Errno> {
        if flags.contains(MapFlags::FIXED) {
            return Ok(addr);
        }
        let (begin, end) = if flags.contains(MapFlags::BIT32) {
            (0x4000_0000, 0x8000_0000)
        } else {
            (self.config.mmap_legacy_base, self.config.task_size)
        };
        if len > end {
            return Err(Errno::NoMem);
        }
        if addr != 0 {
            let addr = addr.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
            if end - len >= addr && self.hint_fits(addr, len) {
                return Ok(addr);
            }
        }
        let req = AreaRequest {
            length: len,
            low_limit: begin,
            high_limit: end,
            align_mask: 0,
            align_offset: pgoff << PAGE_SHIFT,
            top_down: false,
        };
        self.vm_unmapped_area(&req).ok_or(Errno::NoMem)
    }

    /// The top-down allocator, falling back to bottom-up (Linux:
    /// `arch_get_unmapped_area_topdown()` on x86-64).
    fn area_top_down(
        &self,
        addr0: u64,
        len: u64,
        pgoff: u64,
        flags: MapFlags,
    ) -> Result<u64, Errno> {
        let task_size = self.config.task_size;
        if len > task_size {
            return Err(Errno::NoMem);
        }
        if flags.contains(MapFlags::FIXED) {
            return Ok(addr0);
        }
        if !flags.contains(MapFlags::BIT32) {
            if addr0 != 0 {
                let addr = addr0 & !(PAGE_SIZE - 1);
                // mmap_address_hint_valid(): inside the task size (no 5-level window here).
                if task_size - len >= addr && self.hint_fits(addr, len) {
                    return Ok(addr);
                }
            }
            let req = AreaRequest {
                length: len,
                low_limit: if flags.contains(MapFlags::ABOVE4G) {
                    1 << 32
                } else {
                    PAGE_SIZE
                },
                high_limit: self.config.mmap_base,
                align_mask: 0,
                align_offset: pgoff << PAGE_SHIFT,
                top_down: true,
            };
            if let Some(found) = self.vm_unmapped_area(&req) {
                return Ok(found);
            }
        }
        self.area_bottom_up(addr0, len, pgoff, flags)
    }

    /// Linux: `mm_get_unmapped_area_vmflags()`.
    fn area(&self, addr: u64, len: u64, pgoff: u64, flags: MapFlags) -> Result<u64, Errno> {
        if self.config.top_down {
            self.area_top_down(addr, len, pgoff, flags)
        } else {
            self.area_bottom_up(addr, len, pgoff, flags)
        }
    }

    /// Searches for `len` plus 2 MiB and places the mapping on a 2 MiB boundary inside it,
    /// or returns `None` to fall back (Linux: `__thp_get_unmapped_area()` with the
    /// `PMD_SIZE` alignment).
    fn area_thp(&self, addr: u64, len: u64, pgoff: u64, flags: MapFlags) -> Option<u64> {
        let off = pgoff.checked_mul(PAGE_SIZE)?;
        let off_end = off.checked_add(len)?;
        let off_align = off.checked_next_multiple_of(PMD_SIZE)?;
        if off_end <= off_align || off_end - off_align < PMD_SIZE {
            return None;
        }
        let len_pad = len.checked_add(PMD_SIZE)?;
        off.checked_add(len_pad)?;
        let ret = self.area(addr, len_pad, pgoff, flags).ok()?;
        if ret == addr {
            // Zero means failure to the caller, who then searches again without padding.
            return (ret != 0).then_some(ret);
        }
        let off_sub = off.wrapping_sub(ret) & (PMD_SIZE - 1);
        if self.config.top_down && off_sub == 0 {
            return Some(ret + PMD_SIZE);
        }
        Some(ret + off_sub)
    }

    /// Chooses where a mapping of `len` bytes goes, as `mmap` does before mapping: a
    /// `MAP_FIXED` address is checked and returned, a free hint is taken, otherwise the
    /// highest free range below `mmap_base` (falling back to the lowest above
    /// `mmap_legacy_base`). Anonymous private mappings with no hint and a length that is a
    /// multiple of 2 MiB are placed on a 2 MiB boundary when THP is configured.
    ///
    /// `len` must already be page aligned; `pgoff` only matters for file mappings.
    ///
    /// # Errors
    ///
    /// [`Errno::NoMem`] if nothing fits or the range ends above the task size,
    /// [`Errno::Inval`] for a fixed address that is not page aligned, [`Errno::Perm`] below
    /// `mmap_min_addr` (without `CAP_SYS_RAWIO`).
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags};
    ///
    /// let mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// // Top-down: right below mmap_base.
    /// assert_eq!(mm.get_unmapped_area(None, 0, 0x1000, 0, anon), Ok(0x7fff_f7ff_e000));
    /// // 4 MiB anonymous: 2 MiB aligned.
    /// assert_eq!(mm.get_unmapped_area(None, 0, 4 << 20, 0, anon), Ok(0x7fff_f7a0_0000));
    /// ```
    ///
    /// Linux: `__get_unmapped_area()`.
    #[doc(alias = "__get_unmapped_area")]
    pub fn get_unmapped_area(
        &self,
        file: Option<&File>,
        addr: u64,
        len: u64,
        pgoff: u64,
        flags: MapFlags,
    ) -> Result<u64, Errno> {
        if len > self.config.task_size {
            return Err(Errno::NoMem);
        }
        let pgoff = if file.is_some() { pgoff } else { 0 };
        let shared_anon = file.is_none() && flags.contains(MapFlags::SHARED);
        let found = if !shared_anon
            && file.is_none()
            && self.config.thp
            && addr == 0
            && len.is_multiple_of(PMD_SIZE)
        {
            match self.area_thp(addr, len, pgoff, flags) {
                Some(a) => a,
                None => self.area(addr, len, pgoff, flags)?,
            }
        } else {
            self.area(addr, len, pgoff, flags)?
        };
        if found > self.config.task_size - len {
            return Err(Errno::NoMem);
        }
        if !page_aligned(found) {
            return Err(Errno::Inval);
        }
        if found < self.config.mmap_min_addr && !self.config.cap_sys_rawio {
            return Err(Errno::Perm);
        }
        Ok(found)
    }
}
