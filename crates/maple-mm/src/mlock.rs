//! `mlock`, `mlock2`, `munlock`, `mlockall`, `munlockall`: set or clear `VM_LOCKED` (and
//! `VM_LOCKONFAULT`) over a range or every VMA, splitting and merging like `mprotect`.
//!
//! Linux: `do_mlock()`, `apply_vma_lock_flags()`, `mlock_fixup()`, `apply_mlockall_flags()` in
//! mm/mlock.c.

use crate::address_space::{AddressSpace, RLIM_INFINITY};
use crate::error::Errno;
use crate::flags::{McFlags, MlockFlags, VmFlags};
use crate::index::VmaIndex;
use crate::split::modify_flags;
use crate::vma::{PAGE_SHIFT, PAGE_SIZE};
use crate::window::Window;

/// Rounds `[start, start + len)` out to pages with the kernel's wrapping arithmetic.
fn page_range(start: u64, len: u64) -> (u64, u64) {
    let len = len
        .wrapping_add(start & (PAGE_SIZE - 1))
        .wrapping_add(PAGE_SIZE - 1)
        & !(PAGE_SIZE - 1);
    (start & !(PAGE_SIZE - 1), len)
}

impl<I: VmaIndex> AddressSpace<I> {
    /// Whether the process may lock memory at all (Linux: `can_do_mlock()`).
    fn can_do_mlock(&self) -> bool {
        self.config.cap_ipc_lock || self.config.rlimit_memlock != 0
    }

    /// Locks `[start, start + len)`: sets `VM_LOCKED` on every VMA in it, splitting and
    /// merging, then faults the range in (private writable VMAs get anon_vmas). The range is
    /// rounded out to pages.
    ///
    /// # Errors
    ///
    /// - [`Errno::Perm`]: `RLIMIT_MEMLOCK` is 0 (without `CAP_IPC_LOCK`).
    /// - [`Errno::NoMem`]: more than `RLIMIT_MEMLOCK` would be locked, the range is not fully
    ///   mapped (VMAs before the hole are locked, as in Linux), a split at `max_map_count`,
    ///   or tree memory; or the range is locked but cannot be faulted in: `PROT_NONE` memory,
    ///   or pages beyond the end of a mapped file (Linux sets `VM_LOCKED` first, as here).
    /// - [`Errno::Again`]: tree memory ran out while faulting in.
    /// - [`Errno::Inval`]: the range wraps.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmFlags};
    ///
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x3000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.mlock(a + 0x1000, 0x1000)?;
    /// assert_eq!(mm.map_count(), 3);
    /// assert!(mm.vma_lookup(a + 0x1000).unwrap().flags().contains(VmFlags::LOCKED));
    /// mm.munlock(a, 0x3000)?;
    /// assert_eq!(mm.map_count(), 1);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `mlock()`, `do_mlock()`.
    #[doc(alias = "do_mlock")]
    pub fn mlock(&mut self, start: u64, len: u64) -> Result<(), Errno> {
        self.do_mlock(start, len, VmFlags::LOCKED)
    }

    /// [`mlock`](Self::mlock) with flags: `MLOCK_ONFAULT` also sets `VM_LOCKONFAULT`, and
    /// then nothing is faulted in (so `PROT_NONE` memory locks without an error).
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for unknown flags; otherwise as [`mlock`](Self::mlock).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, MlockFlags, Prot, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.mlock2(a, 0x1000, MlockFlags::ONFAULT)?;
    /// assert!(mm.vma_lookup(a).unwrap().flags().contains(VmFlags::LOCKONFAULT));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `mlock2()`.
    pub fn mlock2(&mut self, start: u64, len: u64, flags: MlockFlags) -> Result<(), Errno> {
        if !flags.without(MlockFlags::ONFAULT).is_empty() {
            return Err(Errno::Inval);
        }
        let mut vm = VmFlags::LOCKED;
        if flags.contains(MlockFlags::ONFAULT) {
            vm |= VmFlags::LOCKONFAULT;
        }
        self.do_mlock(start, len, vm)
    }

    /// Unlocks `[start, start + len)`: clears `VM_LOCKED` and `VM_LOCKONFAULT`.
    ///
    /// # Errors
    ///
    /// [`Errno::NoMem`] for a range not fully mapped (VMAs before the hole are unlocked), a
    /// split at `max_map_count` or tree memory; [`Errno::Inval`] if the range wraps.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Errno};
    /// let mut mm = AddressSpace::new();
    /// assert_eq!(mm.munlock(0x10000, 0x1000), Err(Errno::NoMem));
    /// ```
    ///
    /// Linux: `munlock()`.
    pub fn munlock(&mut self, start: u64, len: u64) -> Result<(), Errno> {
        let (start, len) = page_range(start, len);
        self.apply_lock_flags(start, len, VmFlags::empty())
    }

    /// Linux: `do_mlock()`.
    fn do_mlock(&mut self, start: u64, len: u64, flags: VmFlags) -> Result<(), Errno> {
        if !self.can_do_mlock() {
            return Err(Errno::Perm);
        }
        let (start, len) = page_range(start, len);
        if !self.config.cap_ipc_lock && self.config.rlimit_memlock != RLIM_INFINITY {
            let limit = self.config.rlimit_memlock >> PAGE_SHIFT;
            let mut locked = (len >> PAGE_SHIFT).saturating_add(self.locked_vm());
            if locked > limit {
                locked -= self.locked_pages_in(start, start.wrapping_add(len));
            }
            if locked > limit {
                return Err(Errno::NoMem);
            }
        }
        self.apply_lock_flags(start, len, flags)?;
        // Linux reports a failed fault as ENOMEM and a lack of memory as EAGAIN here.
        self.mm_populate(start, start.wrapping_add(len), false)
            .map_err(|e| match e {
                Errno::Fault => Errno::NoMem,
                Errno::NoMem => Errno::Again,
                other => other,
            })
    }

    /// Pages of `VM_LOCKED` VMAs inside `[start, end)` (Linux: `count_mm_mlocked_page_nr()`).
    fn locked_pages_in(&self, start: u64, end: u64) -> u64 {
        self.range(start, end)
            .filter(|v| v.flags.contains(VmFlags::LOCKED))
            .map(|v| (v.end.min(end) - v.start.max(start)) >> PAGE_SHIFT)
            .sum()
    }

    /// Linux: `apply_vma_lock_flags()`.
    fn apply_lock_flags(&mut self, start: u64, len: u64, flags: VmFlags) -> Result<(), Errno> {
        let end = start.wrapping_add(len);
        if end < start {
            return Err(Errno::Inval);
        }
        if end == start {
            return Ok(());
        }
        if self.vma_lookup(start).is_none() {
            return Err(Errno::NoMem);
        }
        let mut w = self.window();
        w.load(self, start, end);
        let result = self.lock_walk(&mut w, start, end, flags);
        self.commit(w)?;
        result
    }

    fn lock_walk(&self, w: &mut Window, start: u64, end: u64, flags: VmFlags) -> Result<(), Errno> {
        let mut i = w.first_ending_after(start);
        let mut nstart = start;
        let mut tmp = w.vmas.get(i).map_or(start, |s| s.vma.start);
        while i < w.vmas.len() && w.vma(i).start < end {
            if w.vma(i).start != tmp {
                return Err(Errno::NoMem);
            }
            let newflags = w.vma(i).flags.without(VmFlags::LOCKED_MASK) | flags;
            let range_end = w.vma(i).end.min(end);
            let r = self.mlock_fixup(w, i, nstart, range_end, newflags)?;
            tmp = w.vma(r).end;
            nstart = tmp;
            i = r + 1;
        }
        if tmp < end {
            return Err(Errno::NoMem);
        }
        Ok(())
    }

    /// Sets the lock flags of `[start, end)` in the VMA at `i`, unless the VMA cannot be
    /// locked (special mappings, droppable memory), which Linux skips silently.
    ///
    /// Linux: `mlock_fixup()`.
    fn mlock_fixup(
        &self,
        w: &mut Window,
        i: usize,
        start: u64,
        end: u64,
        newflags: VmFlags,
    ) -> Result<usize, Errno> {
        let old = w.vma(i).flags;
        if newflags == old || old.intersects(VmFlags::SPECIAL | VmFlags::DROPPABLE) {
            return Ok(i);
        }
        modify_flags(w, i, start, end, newflags, self.config.max_map_count)
    }

    /// Locks every current mapping (`MCL_CURRENT`) and/or every future one (`MCL_FUTURE`,
    /// through `def_flags`); `MCL_ONFAULT` makes either lock on fault.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for no flags, unknown flags or `MCL_ONFAULT` alone; [`Errno::Perm`]
    /// if `RLIMIT_MEMLOCK` is 0; [`Errno::NoMem`] if `MCL_CURRENT` would lock more than the
    /// limit. Per-VMA failures are ignored, as in Linux, and so are faults that fail when
    /// `MCL_CURRENT` faults every mapping in.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, McFlags, MapFlags, Prot, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// mm.mlockall(McFlags::FUTURE)?;
    /// let a = mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert!(mm.vma_lookup(a).unwrap().flags().contains(VmFlags::LOCKED));
    /// mm.munlockall()?;
    /// assert!(!mm.vma_lookup(a).unwrap().flags().contains(VmFlags::LOCKED));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `mlockall()`.
    #[doc(alias = "apply_mlockall_flags")]
    pub fn mlockall(&mut self, flags: McFlags) -> Result<(), Errno> {
        let known = McFlags::CURRENT | McFlags::FUTURE | McFlags::ONFAULT;
        if flags.is_empty() || !flags.without(known).is_empty() || flags == McFlags::ONFAULT {
            return Err(Errno::Inval);
        }
        if !self.can_do_mlock() {
            return Err(Errno::Perm);
        }
        let limit = self.config.rlimit_memlock >> PAGE_SHIFT;
        if flags.contains(McFlags::CURRENT)
            && !self.config.cap_ipc_lock
            && self.config.rlimit_memlock != RLIM_INFINITY
            && self.total_vm() > limit
        {
            return Err(Errno::NoMem);
        }
        self.apply_mlockall(flags)?;
        if flags.contains(McFlags::CURRENT) {
            let top = self.config.task_size;
            self.mm_populate(0, top, true)?;
        }
        Ok(())
    }

    /// Unlocks every mapping and clears `MCL_FUTURE`.
    ///
    /// # Errors
    ///
    /// [`Errno::NoMem`] only if tree memory ran out (nothing changed then).
    ///
    /// Linux: `munlockall()`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, McFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x2000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.mlockall(McFlags::CURRENT)?;
    /// assert_eq!(mm.locked_vm(), 2);
    /// mm.munlockall()?;
    /// assert_eq!(mm.locked_vm(), 0);
    /// assert_eq!(mm.find_vma(a).map(|v| v.len()), Some(0x2000));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn munlockall(&mut self) -> Result<(), Errno> {
        self.apply_mlockall(McFlags::empty())
    }

    /// Linux: `apply_mlockall_flags()`.
    fn apply_mlockall(&mut self, flags: McFlags) -> Result<(), Errno> {
        let mut def_flags = self.def_flags.without(VmFlags::LOCKED_MASK);
        if flags.contains(McFlags::FUTURE) {
            def_flags |= VmFlags::LOCKED;
            if flags.contains(McFlags::ONFAULT) {
                def_flags |= VmFlags::LOCKONFAULT;
            }
            if !flags.contains(McFlags::CURRENT) {
                self.def_flags = def_flags;
                return Ok(());
            }
        }
        let mut to_add = VmFlags::empty();
        if flags.contains(McFlags::CURRENT) {
            to_add |= VmFlags::LOCKED;
            if flags.contains(McFlags::ONFAULT) {
                to_add |= VmFlags::LOCKONFAULT;
            }
        }
        let mut w = self.window();
        w.load(self, 0, u64::MAX);
        let mut cur = 0;
        loop {
            let i = w.first_ending_after(cur);
            if i >= w.vmas.len() {
                break;
            }
            let (start, end) = (w.vma(i).start, w.vma(i).end);
            let newflags = w.vma(i).flags.without(VmFlags::LOCKED_MASK) | to_add;
            // Errors are ignored: the walk goes on with the next VMA.
            let r = self
                .mlock_fixup(&mut w, i, start, end, newflags)
                .unwrap_or(i);
            cur = w.vma(r).end.max(end);
        }
        self.commit(w)?;
        self.def_flags = def_flags;
        Ok(())
    }
}
