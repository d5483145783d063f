//! `munmap`: remove every VMA in a range, splitting the ones that straddle its ends.
//!
//! ```text
//!   munmap [s, e):   [ A      )   [ B )   [ C        )
//!                          s                     e
//!   gather:          [ A'][A" )   [ B )   [ C'  ][C"  )     split A at s, C at e
//!   remove:          [ A']                       [C"  )     one store of "empty" over [s, e)
//! ```
//!
//! Linux: `do_vmi_munmap()`, `do_vmi_align_munmap()`, `vms_gather_munmap_vmas()` in mm/vma.c.

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::index::VmaIndex;
use crate::vma::{page_align, page_aligned};
use crate::window::Window;

/// Removes every VMA in `[start, end)` from the window, splitting the first and the last at
/// the range's ends, and returns the number of pages removed.
///
/// # Errors
///
/// [`Errno::NoMem`] if the range lies strictly inside one VMA (the split makes one more) and
/// the address space already holds `max_map_count` VMAs. Nothing is changed then.
///
/// Linux: `vms_gather_munmap_vmas()` and the removal of `do_vmi_align_munmap()`.
pub(crate) fn gather_munmap(
    w: &mut Window,
    start: u64,
    end: u64,
    max_map_count: usize,
) -> Result<u64, Errno> {
    let mut first = w.first_ending_after(start);
    if first >= w.vmas.len() || w.vma(first).start >= end {
        return Ok(0);
    }
    let vma = w.vma(first);
    if start > vma.start {
        // Punching a hole makes one VMA more; Linux refuses that at the limit but lets other
        // splits go over it, "to help free resources".
        if end < vma.end && w.map_count() >= max_map_count {
            return Err(Errno::NoMem);
        }
        // NOTE: Linux gives the new struct to the lower piece here. The lower piece is the one
        // that stays, and keeping the old id there saves an index write; ids are not part of
        // the observable state.
        first = w.split(first, start);
    }
    let mut last = first;
    let mut pages = 0;
    while last < w.vmas.len() && w.vma(last).start < end {
        if w.vma(last).end > end {
            w.split(last, end);
        }
        pages += w.vma(last).pages();
        last += 1;
    }
    w.remove_range(first..last);
    Ok(pages)
}

impl<I: VmaIndex> AddressSpace<I> {
    /// Removes every mapping in `[addr, addr + len)`, splitting VMAs that straddle its ends.
    /// Holes inside the range are fine; a range with no VMA at all succeeds without change.
    ///
    /// # Errors
    ///
    /// - [`Errno::Inval`]: `addr` not page aligned, the range beyond the task size, or
    ///   `len == 0`.
    /// - [`Errno::NoMem`]: the range is strictly inside one VMA and `max_map_count` is
    ///   reached, or memory for the tree ran out. Nothing changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    ///
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x5000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.munmap(a + 0x1000, 0x1000)?; // a hole: one VMA becomes two
    /// assert_eq!(mm.map_count(), 2);
    /// assert!(mm.vma_lookup(a + 0x1000).is_none());
    /// mm.munmap(a, 0x5000)?;
    /// assert_eq!(mm.map_count(), 0);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `munmap()`, `do_vmi_munmap()`.
    #[doc(alias = "do_vmi_munmap")]
    #[doc(alias = "do_munmap")]
    pub fn munmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        let task_size = self.config.task_size;
        if !page_aligned(addr) || addr > task_size || len > task_size - addr {
            return Err(Errno::Inval);
        }
        let end = addr + page_align(len).ok_or(Errno::Inval)?;
        if end == addr {
            return Err(Errno::Inval);
        }
        self.unmap_range(addr, end).map(drop)
    }

    /// Unmaps `[start, end)` (both page aligned, `start < end`): the part of munmap after
    /// the argument checks, also used by brk. Returns whether any VMA was there.
    pub(crate) fn unmap_range(&mut self, start: u64, end: u64) -> Result<bool, Errno> {
        let mut w = self.window();
        w.load(self, start, end);
        if !w.any_in(start, end) {
            self.recycle(w);
            return Ok(false);
        }
        match gather_munmap(&mut w, start, end, self.config.max_map_count) {
            Ok(_) => {
                self.commit(w)?;
                self.guards.remove(start, end);
                Ok(true)
            }
            Err(e) => {
                self.recycle(w);
                Err(e)
            }
        }
    }
}
