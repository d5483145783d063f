//! `mmap`: argument checks and flag translation (`do_mmap`), then the mapping itself
//! (`__mmap_region`): unmap what is in the way, merge with a neighbour or insert a new VMA.
//!
//! Linux: `ksys_mmap_pgoff()`, `do_mmap()` in mm/mmap.c, `__mmap_region()` in mm/vma.c.

use std::sync::Arc;

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::{MapFlags, Prot, VmFlags};
use crate::index::VmaIndex;
use crate::merge::{Proposal, merge_existing_range, merge_new_range};
use crate::munmap::gather_munmap;
use crate::vma::{File, PAGE_SHIFT, PAGE_SIZE, Vma, page_align};
use crate::window::Window;

/// `MAX_LFS_FILESIZE` on 64-bit: the largest offset a regular file mapping may reach.
const MAX_FILE_SIZE: u64 = i64::MAX as u64;

impl<I: VmaIndex> AddressSpace<I> {
    /// Maps `len` bytes with protection `prot`, as `mmap(2)` does, and returns the address.
    ///
    /// - Without `MAP_FIXED`, `addr` is a hint: taken if the range is free (raised to
    ///   `mmap_min_addr` if below it), otherwise the highest free range below `mmap_base` is
    ///   used (see [`get_unmapped_area`](Self::get_unmapped_area)).
    /// - With `MAP_FIXED`, whatever is mapped in the range is replaced: VMAs straddling its
    ///   ends are split, the ones inside removed, all in one atomic change.
    /// - With `MAP_FIXED_NOREPLACE`, an existing mapping in the range is an error.
    /// - The new range merges with compatible neighbours; private anonymous memory gets
    ///   `pgoff = addr >> 12`, shared anonymous memory its own shmem file.
    ///
    /// `file` is ignored with `MAP_ANONYMOUS` (as the file descriptor is) and required
    /// without it. `offset` is in bytes.
    ///
    /// # Errors
    ///
    /// As Linux: [`Errno::Inval`] (zero length, unaligned offset or fixed address, a bad
    /// mapping type, growsdown file or shared mappings), [`Errno::NoMem`] (no room, the
    /// `max_map_count` limit, a resource limit, tree memory), [`Errno::Overflow`] (offset
    /// overflow), [`Errno::Exist`] (`MAP_FIXED_NOREPLACE`), [`Errno::Perm`] (below
    /// `mmap_min_addr`, `PROT_EXEC` on a `noexec` file, `MAP_LOCKED` without permission),
    /// [`Errno::Again`] (`RLIMIT_MEMLOCK`), [`Errno::Access`] (file mode),
    /// [`Errno::OpNotSupp`] (`MAP_SHARED_VALIDATE` with an unsupported flag),
    /// [`Errno::BadF`] (no file without `MAP_ANONYMOUS`).
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Errno, MapFlags, Prot};
    ///
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let a = mm.mmap(0, 0x3000, Prot::READ | Prot::WRITE, anon, None, 0)?;
    /// assert_eq!(a, 0x7fff_f7ff_c000);
    /// // Replace the middle page with a read-only mapping.
    /// mm.mmap(a + 0x1000, 0x1000, Prot::READ, anon | MapFlags::FIXED, None, 0)?;
    /// assert_eq!(mm.map_count(), 3);
    /// assert_eq!(
    ///     mm.mmap(a, 0x1000, Prot::READ, anon | MapFlags::FIXED_NOREPLACE, None, 0),
    ///     Err(Errno::Exist)
    /// );
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `mmap()`, `ksys_mmap_pgoff()`, `do_mmap()`.
    #[doc(alias = "do_mmap")]
    #[doc(alias = "ksys_mmap_pgoff")]
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        file: Option<&Arc<File>>,
        offset: u64,
    ) -> Result<u64, Errno> {
        if !offset.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::Inval);
        }
        let pgoff = offset >> PAGE_SHIFT;
        let file = if flags.contains(MapFlags::ANONYMOUS) {
            if flags.contains(MapFlags::HUGETLB) {
                // hugetlbfs is not modelled: a valid size asks for huge pages, and none are
                // reserved (the default).
                return match flags.bits() >> 26 & 0x3f {
                    0 | 21 | 30 => Err(Errno::NoMem),
                    _ => Err(Errno::Inval),
                };
            }
            None
        } else {
            let file = file.ok_or(Errno::BadF)?;
            if flags.contains(MapFlags::HUGETLB) {
                return Err(Errno::Inval);
            }
            Some(file)
        };
        self.do_mmap(file, addr, len, prot, flags, pgoff)
    }

    /// Linux: `do_mmap()`.
    fn do_mmap(
        &mut self,
        file: Option<&Arc<File>>,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        pgoff: u64,
    ) -> Result<u64, Errno> {
        if len == 0 {
            return Err(Errno::Inval);
        }
        let mut flags = flags;
        if flags.contains(MapFlags::FIXED_NOREPLACE) {
            flags |= MapFlags::FIXED;
        }
        let mut addr = addr;
        if !flags.contains(MapFlags::FIXED) {
            // round_hint_to_min()
            addr &= !(PAGE_SIZE - 1);
            if addr != 0 && addr < self.config.mmap_min_addr {
                addr = page_align(self.config.mmap_min_addr).ok_or(Errno::NoMem)?;
            }
        }
        let len = page_align(len).ok_or(Errno::NoMem)?;
        if pgoff.checked_add(len >> PAGE_SHIFT).is_none() {
            return Err(Errno::Overflow);
        }
        if self.map_count > self.config.max_map_count {
            return Err(Errno::NoMem);
        }
        let mut vm_flags = VmFlags::from_prot(prot)
            | self.def_flags
            | VmFlags::MAYREAD
            | VmFlags::MAYWRITE
            | VmFlags::MAYEXEC;
        if flags.contains(MapFlags::GROWSDOWN) {
            vm_flags |= VmFlags::GROWSDOWN;
        }
        if flags.contains(MapFlags::LOCKED) {
            vm_flags |= VmFlags::LOCKED;
        }
        if flags.contains(MapFlags::SYNC) {
            vm_flags |= VmFlags::SYNC;
        }
        if flags.contains(MapFlags::STACK) && self.config.thp {
            vm_flags |= VmFlags::NOHUGEPAGE;
        }
        let addr = self.get_unmapped_area(file.map(|f| &**f), addr, len, pgoff, flags)?;
        if flags.contains(MapFlags::FIXED_NOREPLACE)
            && self.find_vma_intersection(addr, addr + len).is_some()
        {
            return Err(Errno::Exist);
        }
        // Execute-only memory gets the execute-only protection key, where keys exist.
        if prot == Prot::EXEC
            && let Some(key) = self.execute_only_pkey()
        {
            vm_flags |= VmFlags::from_pkey(key);
        }
        if flags.contains(MapFlags::LOCKED)
            && !self.config.cap_ipc_lock
            && self.config.rlimit_memlock == 0
        {
            return Err(Errno::Perm);
        }
        if !self.mlock_future_ok(vm_flags.contains(VmFlags::LOCKED), len) {
            return Err(Errno::Again);
        }
        let mut pgoff = pgoff;
        match file {
            Some(f) => {
                if len > MAX_FILE_SIZE || pgoff > (MAX_FILE_SIZE - len) >> PAGE_SHIFT {
                    return Err(Errno::Overflow);
                }
                let map_type = flags.map_type();
                if map_type == MapFlags::SHARED.bits()
                    || map_type == MapFlags::SHARED_VALIDATE.bits()
                {
                    let checked = if map_type == MapFlags::SHARED.bits() {
                        flags & MapFlags::LEGACY
                    } else {
                        flags
                    };
                    if !checked.without(MapFlags::LEGACY).is_empty() {
                        return Err(Errno::OpNotSupp);
                    }
                    if prot.contains(Prot::WRITE) && !f.writable() {
                        return Err(Errno::Access);
                    }
                    vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                    if !f.writable() {
                        vm_flags = vm_flags.without(VmFlags::MAYWRITE | VmFlags::SHARED);
                    }
                } else if map_type != MapFlags::PRIVATE.bits() {
                    return Err(Errno::Inval);
                }
                if !f.readable() {
                    return Err(Errno::Access);
                }
                if f.is_noexec() {
                    if vm_flags.contains(VmFlags::EXEC) {
                        return Err(Errno::Perm);
                    }
                    vm_flags = vm_flags.without(VmFlags::MAYEXEC);
                }
                if vm_flags.contains(VmFlags::GROWSDOWN) {
                    return Err(Errno::Inval);
                }
            }
            None => match flags.map_type() {
                t if t == MapFlags::SHARED.bits() => {
                    if vm_flags.contains(VmFlags::GROWSDOWN) {
                        return Err(Errno::Inval);
                    }
                    pgoff = 0;
                    vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                }
                t if t == MapFlags::DROPPABLE.bits() => {
                    if flags.intersects(MapFlags::LOCKED | MapFlags::HUGETLB)
                        || vm_flags.contains(VmFlags::GROWSDOWN)
                    {
                        return Err(Errno::Inval);
                    }
                    vm_flags |= VmFlags::DROPPABLE
                        | VmFlags::NORESERVE
                        | VmFlags::WIPEONFORK
                        | VmFlags::DONTDUMP;
                    pgoff = addr >> PAGE_SHIFT;
                }
                t if t == MapFlags::PRIVATE.bits() => pgoff = addr >> PAGE_SHIFT,
                _ => return Err(Errno::Inval),
            },
        }
        if flags.contains(MapFlags::NORESERVE) && !self.config.overcommit_never {
            vm_flags |= VmFlags::NORESERVE;
        }
        let addr = self.map_region(file, addr, len, vm_flags, pgoff)?;
        // Locked memory and MAP_POPULATE are faulted in; failures there do not fail mmap.
        let populate = flags & (MapFlags::POPULATE | MapFlags::NONBLOCK) == MapFlags::POPULATE;
        if vm_flags.contains(VmFlags::LOCKED) || populate {
            self.mm_populate(addr, addr + len, true)?;
        }
        Ok(addr)
    }

    /// Maps `[addr, addr + len)` with VMA flags `flags` exactly (`addr` and `len` page aligned),
    /// replacing what is there, merging with compatible neighbours. `VM_ACCOUNT` is added to
    /// private writable mappings without `VM_NORESERVE`. This is the second half of
    /// [`mmap`](Self::mmap), for callers that already know the address and flags (a trace
    /// replayer, the kernel's own tests).
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for an unaligned, empty or out-of-range request; [`Errno::NoMem`] at
    /// the `max_map_count` limit (punching a hole), for `RLIMIT_AS`/`RLIMIT_DATA`, or when
    /// tree memory runs out. Nothing changes on error.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, VmFlags};
    ///
    /// let mut mm = AddressSpace::new();
    /// let flags = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
    /// mm.mmap_region(0x300000, 0x3000, flags, 0x300, None)?;
    /// mm.mmap_region(0x303000, 0x3000, flags, 0x303, None)?;
    /// assert_eq!(mm.map_count(), 1);
    /// assert_eq!(mm.vma_lookup(0x300000).unwrap().end(), 0x306000);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `__mmap_region()`.
    #[doc(alias = "__mmap_region")]
    pub fn mmap_region(
        &mut self,
        addr: u64,
        len: u64,
        flags: VmFlags,
        pgoff: u64,
        file: Option<&Arc<File>>,
    ) -> Result<u64, Errno> {
        if len == 0
            || !addr.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || addr > self.config.task_size
            || len > self.config.task_size - addr
        {
            return Err(Errno::Inval);
        }
        self.map_region(file, addr, len, flags, pgoff)
    }

    /// Linux: `__mmap_region()`.
    fn map_region(
        &mut self,
        file: Option<&Arc<File>>,
        addr: u64,
        len: u64,
        flags: VmFlags,
        pgoff: u64,
    ) -> Result<u64, Errno> {
        let end = addr + len;
        let mut w = self.window();
        w.load(self, addr, end);
        let result = self.map_in_window(&mut w, file, addr, end, flags, pgoff);
        match result {
            Ok(()) => {
                self.commit(w)?;
                // The new mapping replaced whatever was there, guard markers included.
                self.guards.remove(addr, end);
                Ok(addr)
            }
            Err(e) => {
                self.recycle(w);
                Err(e)
            }
        }
    }

    /// The mapping itself, on a window that covers `[addr, end)`: Linux's `__mmap_prepare()`,
    /// the merge, `__mmap_new_vma()` and `__mmap_complete()`.
    pub(crate) fn map_in_window(
        &mut self,
        w: &mut Window,
        file: Option<&Arc<File>>,
        addr: u64,
        end: u64,
        flags: VmFlags,
        pgoff: u64,
    ) -> Result<(), Errno> {
        let len = end - addr;
        let mut flags = flags;
        let removed = if w.any_in(addr, end) {
            gather_munmap(w, addr, end, self.config.max_map_count)?
        } else {
            0
        };
        if !self.may_expand_vm(flags, (len >> PAGE_SHIFT).saturating_sub(removed)) {
            return Err(Errno::NoMem);
        }
        // accountable_mapping(): private writable memory is charged to the commit limit.
        if flags & (VmFlags::NORESERVE | VmFlags::SHARED | VmFlags::WRITE) == VmFlags::WRITE {
            flags |= VmFlags::ACCOUNT;
        }
        let prev = w.prev_of(addr);
        let next = w.next_of(end);
        let mut proposal = Proposal::new(addr, end, pgoff, flags, file.cloned());
        let merged = if prev.is_some() || next.is_some() {
            merge_new_range(w, &proposal, prev, next, false)
        } else {
            None
        };
        let at = match merged {
            Some(at) => at,
            None => {
                let mut retry_merge = false;
                let mut vma_flags = flags;
                let backing = if let Some(f) = file {
                    // The file's mmap hook may add flags; if it changed mergeable ones, Linux
                    // tries a merge again.
                    let hooked = flags | f.mmap_flags();
                    retry_merge = hooked != flags && !hooked.intersects(VmFlags::SPECIAL);
                    vma_flags = hooked;
                    proposal.flags = hooked;
                    Some(Arc::clone(f))
                } else if flags.contains(VmFlags::SHARED) {
                    // The shmem object is as large as the mapping: growing the mapping later
                    // (mremap) reaches past its end.
                    Some(self.new_shmem_file(end - addr))
                } else {
                    None
                };
                // Built in place: the VMA is moved once, into the window.
                let at = w.insert(
                    None,
                    Vma {
                        start: addr,
                        end,
                        pgoff,
                        flags: vma_flags,
                        close_hook: file.is_some_and(|f| f.has_close_hook()),
                        file: backing,
                        anon: None,
                    },
                );
                if retry_merge {
                    merge_existing_range(w, &proposal, at).unwrap_or(at)
                } else {
                    at
                }
            }
        };
        // __mmap_complete(): locking is dropped on mappings that cannot be locked.
        let vma = w.vma_mut(at);
        if vma.flags.contains(VmFlags::LOCKED)
            && vma.flags.intersects(VmFlags::SPECIAL | VmFlags::DROPPABLE)
        {
            vma.flags = vma.flags.without(VmFlags::LOCKED_MASK);
        }
        Ok(())
    }
}
