//! `mprotect`: change the access flags of every VMA in a range, splitting at the range's ends
//! and merging with neighbours as the flags change.
//!
//! Linux: `do_mprotect_pkey()` and `mprotect_fixup()` in mm/mprotect.c.

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::{Prot, VmFlags};
use crate::index::VmaIndex;
use crate::split::modify_flags;
use crate::vma::{PAGE_SHIFT, page_align, page_aligned};
use crate::window::Window;

/// Where an mprotect of `[start, end)` begins, from the first VMA that intersects the range
/// in a window that covers it: its start for `PROT_GROWSDOWN` (which that VMA must allow),
/// else `start`, which that VMA must contain.
fn mprotect_start(w: &Window, start: u64, end: u64, grows: Prot) -> Result<u64, Errno> {
    let first = match w.vmas.get(w.first_ending_after(start)) {
        Some(slot) if slot.vma.start < end => &slot.vma,
        _ => return Err(Errno::NoMem),
    };
    if grows.contains(Prot::GROWSDOWN) {
        if !first.flags.contains(VmFlags::GROWSDOWN) {
            return Err(Errno::Inval);
        }
        return Ok(first.start);
    }
    if first.start > start {
        return Err(Errno::NoMem);
    }
    if grows.contains(Prot::GROWSUP) {
        // No VMA grows up on x86-64.
        return Err(Errno::Inval);
    }
    Ok(start)
}

impl<I: VmaIndex> AddressSpace<I> {
    /// Sets the protection of every page in `[start, start + len)` to `prot`, as
    /// `mprotect(2)` does. VMAs are split where the range starts and ends inside them and merged
    /// with neighbours that end up with the same flags.
    ///
    /// A private mapping that becomes writable is charged (`VM_ACCOUNT` is added); an
    /// anonymous one that was never faulted in loses the charge when made read-only.
    ///
    /// # Errors
    ///
    /// - [`Errno::Inval`]: unaligned `start`, unknown `prot` bits, `PROT_GROWSDOWN` with
    ///   `PROT_GROWSUP`, or `PROT_GROWSDOWN` on a VMA that does not grow down.
    /// - [`Errno::NoMem`]: the range is not fully mapped (the VMAs before the first hole *are*
    ///   changed, as in Linux), a split at `max_map_count`, or tree memory (nothing changed).
    /// - [`Errno::Access`]: a flag the VMA's `VM_MAY*` flags do not allow (VMAs before it are
    ///   changed).
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Errno, MapFlags, Prot};
    ///
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let a = mm.mmap(0, 0x4000, Prot::READ | Prot::WRITE, anon, None, 0)?;
    /// mm.mprotect(a, 0x1000, Prot::READ)?;
    /// assert_eq!(mm.vma_lookup(a).unwrap().perms(), "r--p");
    /// assert_eq!(mm.vma_lookup(a + 0x1000).unwrap().perms(), "rw-p");
    /// // A range reaching past the mapping changes what is mapped, then fails.
    /// assert_eq!(mm.mprotect(a, 0x8000, Prot::NONE), Err(Errno::NoMem));
    /// assert_eq!(mm.vma_lookup(a).unwrap().perms(), "---p");
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `mprotect()`, `do_mprotect_pkey()`.
    #[doc(alias = "do_mprotect_pkey")]
    pub fn mprotect(&mut self, start: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        self.pkey_mprotect(start, len, prot, -1)
    }

    /// [`mprotect`](Self::mprotect) that also sets the protection key of every VMA in the
    /// range to `pkey`, which must be allocated ([`pkey_alloc`](Self::pkey_alloc), or key 0);
    /// -1 keeps each VMA's key, as `mprotect` does. VMAs with different keys do not merge.
    ///
    /// # Errors
    ///
    /// As [`mprotect`](Self::mprotect), and [`Errno::Inval`] for a key that is not allocated:
    /// on a machine without protection keys, any key but -1.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, AddressSpaceConfig, Errno, MapFlags, Prot};
    ///
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let rw = Prot::READ | Prot::WRITE;
    /// let mut pku = AddressSpace::with_config(AddressSpaceConfig { pkeys: 16, ..Default::default() });
    /// let a = pku.mmap(0, 0x3000, rw, anon, None, 0)?;
    /// let key = pku.pkey_alloc(0, 0)?;
    /// pku.pkey_mprotect(a + 0x1000, 0x1000, rw, key as i32)?;
    /// assert_eq!(pku.map_count(), 3); // same protection, another key: split
    /// assert_eq!(pku.vma_lookup(a + 0x1000).unwrap().flags().pkey(), key);
    ///
    /// let mut none = AddressSpace::new(); // no protection keys: only -1 is valid
    /// let b = none.mmap(0, 0x3000, rw, anon, None, 0)?;
    /// assert_eq!(none.pkey_mprotect(b, 0x1000, rw, 0), Err(Errno::Inval));
    /// none.pkey_mprotect(b, 0x1000, Prot::READ, -1)?;
    /// # Ok::<(), Errno>(())
    /// ```
    ///
    /// Linux: `pkey_mprotect()`, `do_mprotect_pkey()`.
    pub fn pkey_mprotect(
        &mut self,
        start: u64,
        len: u64,
        prot: Prot,
        pkey: i32,
    ) -> Result<(), Errno> {
        let grows = prot & (Prot::GROWSDOWN | Prot::GROWSUP);
        let prot = prot.without(grows);
        if grows == (Prot::GROWSDOWN | Prot::GROWSUP) || !page_aligned(start) {
            return Err(Errno::Inval);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_align(len)
            .and_then(|l| start.checked_add(l))
            .ok_or(Errno::NoMem)?;
        if !prot
            .without(Prot::READ | Prot::WRITE | Prot::EXEC | Prot::SEM)
            .is_empty()
        {
            return Err(Errno::Inval);
        }
        if pkey != -1 && !self.pkey_is_allocated(pkey) {
            return Err(Errno::Inval);
        }
        // The window holds every VMA of the range and the ones around it: the first VMA is
        // looked up there, not in the index.
        let mut w = self.window();
        w.load(self, start, end);
        let checked = mprotect_start(&w, start, end, grows);
        let start = match checked {
            Ok(start) => start,
            Err(e) => {
                self.recycle(w);
                return Err(e);
            }
        };
        // A plain mprotect to execute-only memory takes the execute-only key (allocated on
        // first use); Linux asks for it at the first VMA of the loop, which always runs.
        let exec_only = if pkey == -1 && prot == Prot::EXEC {
            self.execute_only_pkey()
        } else {
            None
        };
        let result = self.mprotect_window(&mut w, start, end, prot, pkey, exec_only);
        self.commit(w)?;
        result
    }

    /// The loop over the VMAs of `[start, end)`, on a window that covers it.
    fn mprotect_window(
        &mut self,
        w: &mut Window,
        start: u64,
        end: u64,
        prot: Prot,
        pkey: i32,
        exec_only: Option<u32>,
    ) -> Result<(), Errno> {
        let mut nstart = start;
        let mut i = w.first_ending_after(start);
        let Some(first) = w.vmas.get(i) else {
            return Err(Errno::NoMem);
        };
        let mut tmp = first.vma.start;
        while i < w.vmas.len() && w.vma(i).start < end {
            if w.vma(i).start != tmp {
                return Err(Errno::NoMem);
            }
            let old = w.vma(i).flags;
            let key = self.mprotect_pkey(old, prot, pkey, exec_only);
            let newflags = VmFlags::from_prot(prot)
                | VmFlags::from_pkey(key)
                | old.without(VmFlags::ACCESS | VmFlags::PKEY);
            // Each access flag needs its VM_MAY* flag, four bits up.
            let may = VmFlags::from_bits(newflags.bits() >> 4);
            if !(newflags & VmFlags::ACCESS).without(may).is_empty() {
                return Err(Errno::Access);
            }
            let range_end = w.vma(i).end.min(end);
            let r = self.mprotect_fixup(w, i, nstart, range_end, newflags)?;
            tmp = w.vma(r).end;
            nstart = tmp;
            i = r + 1;
        }
        if tmp < end {
            return Err(Errno::NoMem);
        }
        Ok(())
    }

    /// Changes the flags of `[start, end)` in the VMA at `i` to `newflags`, with the commit
    /// charge bookkeeping, and returns the index of the VMA that now covers the range.
    ///
    /// Linux: `mprotect_fixup()`.
    fn mprotect_fixup(
        &mut self,
        w: &mut Window,
        i: usize,
        start: u64,
        end: u64,
        newflags: VmFlags,
    ) -> Result<usize, Errno> {
        let vma = w.vma(i);
        let old = vma.flags;
        if newflags == old {
            return Ok(i);
        }
        let pages = (end - start) >> PAGE_SHIFT;
        let mut newflags = newflags;
        if newflags.contains(VmFlags::WRITE) {
            if !self.may_expand_vm(newflags, pages) && self.may_expand_vm(old, pages) {
                return Err(Errno::NoMem);
            }
            let charged = VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED | VmFlags::NORESERVE;
            if !old.intersects(charged) {
                newflags |= VmFlags::ACCOUNT;
            }
        } else if old.contains(VmFlags::ACCOUNT) && vma.is_anonymous() && vma.anon.is_none() {
            newflags = newflags.without(VmFlags::ACCOUNT);
        }
        let r = modify_flags(w, i, start, end, newflags, self.config.max_map_count)?;
        // Private locked memory that becomes writable is faulted in for writing (errors are
        // ignored), which gives it an anon_vma; lock-on-fault memory is not.
        let lock_only = old & (VmFlags::WRITE | VmFlags::SHARED | VmFlags::LOCKED);
        if lock_only == VmFlags::LOCKED
            && !old.contains(VmFlags::LOCKONFAULT)
            && newflags.contains(VmFlags::WRITE)
            && self.fault_limit(w.vma(r), start, end) > start
        {
            self.anon_vma_prepare(w, r);
        }
        Ok(r)
    }
}
