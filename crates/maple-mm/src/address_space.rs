//! [`AddressSpace`]: the `mm_struct` role. It owns the VMA index (a maple tree by default), the
//! VMAs, `map_count`, the brk and the limits; lookups, fork, exec, the invariant check and the
//! `/proc/PID/maps` output live here. The system calls are in their own modules.

use core::fmt;
use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::{Errno, InvariantError};
use crate::flags::VmFlags;
use crate::guard::Ranges;
use crate::index::{IndexEntry, IndexWrite, MapleIndex, VmaIndex, WritePlan};
use crate::iter::VmaIter;
use crate::merge::would_merge;
use crate::vma::{AnonVma, AnonVmaId, File, FileId, PAGE_SIZE, Vma, VmaId, page_aligned};
use crate::window::Window;

/// `RLIM_INFINITY`: no limit.
///
/// ```
/// use maple_mm::{AddressSpaceConfig, RLIM_INFINITY};
/// let config = AddressSpaceConfig { rlimit_memlock: RLIM_INFINITY, ..Default::default() };
/// assert_eq!(config.rlimit_memlock, u64::MAX);
/// ```
pub const RLIM_INFINITY: u64 = u64::MAX;

/// The parameters of an address space that Linux takes from the architecture, sysctls,
/// resource limits and capabilities. [`AddressSpaceConfig::default`] is x86-64 with 4-level
/// paging, no address randomization, the default sysctls and an unprivileged process.
///
/// # Examples
///
/// ```
/// use maple_mm::AddressSpaceConfig;
///
/// let config = AddressSpaceConfig::default();
/// assert_eq!(config.task_size, 0x7fff_ffff_f000);
/// // The top-down allocator starts 128 MiB below the top: the stack's 8 MiB limit and
/// // 1 MiB guard gap are below the minimum gap.
/// assert_eq!(config.mmap_base, 0x7fff_f7ff_f000);
/// assert_eq!(config.max_map_count, 65530);
///
/// // An address space laid out with a 64 MiB random offset (ASLR):
/// let aslr = AddressSpaceConfig {
///     mmap_base: AddressSpaceConfig::mmap_base_for(config.task_size, 8 << 20, 1 << 20, 64 << 20),
///     ..config
/// };
/// assert_eq!(aslr.mmap_base, 0x7fff_f3ff_f000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSpaceConfig {
    /// Top of the user address space (`TASK_SIZE`); nothing is mapped at or above it.
    pub task_size: u64,
    /// `vm.mmap_min_addr`: hints below it are raised to it, fixed mappings below it fail with
    /// `EPERM`, searches never go below it.
    pub mmap_min_addr: u64,
    /// Ceiling of the top-down search (`mm->mmap_base`).
    pub mmap_base: u64,
    /// Floor of the bottom-up search and of the top-down fallback (`mm->mmap_legacy_base`,
    /// `TASK_UNMAPPED_BASE`).
    pub mmap_legacy_base: u64,
    /// Whether the layout is top-down (`MMF_TOPDOWN`), the default.
    pub top_down: bool,
    /// The gap kept below a growsdown stack (`stack_guard_gap`), 256 pages.
    pub stack_guard_gap: u64,
    /// `vm.max_map_count`, 65530.
    pub max_map_count: usize,
    /// Whether transparent huge pages are configured: anonymous mappings whose length is a
    /// multiple of 2 MiB are placed on 2 MiB boundaries, `MAP_STACK` sets `VM_NOHUGEPAGE`,
    /// and the THP advices are valid.
    pub thp: bool,
    /// `RLIMIT_AS` in bytes.
    pub rlimit_as: u64,
    /// `RLIMIT_DATA` in bytes.
    pub rlimit_data: u64,
    /// `RLIMIT_STACK` in bytes (stack growth).
    pub rlimit_stack: u64,
    /// `RLIMIT_MEMLOCK` in bytes.
    pub rlimit_memlock: u64,
    /// `CAP_IPC_LOCK`: lock memory beyond `RLIMIT_MEMLOCK`.
    pub cap_ipc_lock: bool,
    /// `CAP_SYS_RAWIO`: map below `mmap_min_addr`.
    pub cap_sys_rawio: bool,
    /// `vm.overcommit_memory == 2`: `MAP_NORESERVE` is then ignored.
    pub overcommit_never: bool,
    /// Memory protection keys the CPU and kernel offer: 16 on x86-64 with PKU (the kernel
    /// enabled it: `ospke` in `/proc/cpuinfo`), 0 without, the default. With keys, key 0 is
    /// every VMA's key at first, `pkey_alloc` hands out the others, `pkey_mprotect` sets
    /// them, and a `PROT_EXEC`-only mapping gets an execute-only key of its own. Without,
    /// every key but -1 is `EINVAL` and `pkey_alloc` fails. At most 16 count (4 bits of
    /// `vm_flags`).
    pub pkeys: u32,
}

impl AddressSpaceConfig {
    /// `mm->mmap_base` as x86-64 computes it: the task size minus a gap of the stack limit
    /// plus the guard gap, kept between 128 MiB and 5/6 of the task size, minus a random
    /// offset, page aligned.
    ///
    /// Linux: `mmap_base()` in arch/x86/mm/mmap.c.
    ///
    /// ```
    /// use maple_mm::AddressSpaceConfig;
    /// // An 8 MiB stack limit is below the 128 MiB minimum gap; a 256 MiB limit is used as is
    /// // (plus the 1 MiB guard gap).
    /// let task_size = 0x7fff_ffff_f000;
    /// let base = |stack| AddressSpaceConfig::mmap_base_for(task_size, stack, 1 << 20, 0);
    /// assert_eq!(base(8 << 20), 0x7fff_f7ff_f000);
    /// assert_eq!(base(256 << 20), 0x7fff_efef_f000);
    /// ```
    #[doc(alias = "mmap_base")]
    pub fn mmap_base_for(task_size: u64, stack_rlimit: u64, guard_gap: u64, random: u64) -> u64 {
        let mut gap = stack_rlimit;
        if let Some(padded) = gap.checked_add(guard_gap) {
            gap = padded;
        }
        let gap = gap.clamp(128 << 20, task_size / 6 * 5);
        task_size.saturating_sub(gap).saturating_sub(random) & !(PAGE_SIZE - 1)
    }
}

impl Default for AddressSpaceConfig {
    fn default() -> Self {
        let task_size = (1u64 << 47) - PAGE_SIZE;
        let stack_guard_gap = 256 * PAGE_SIZE;
        let rlimit_stack = 8 << 20;
        AddressSpaceConfig {
            task_size,
            mmap_min_addr: PAGE_SIZE,
            mmap_base: Self::mmap_base_for(task_size, rlimit_stack, stack_guard_gap, 0),
            mmap_legacy_base: (task_size / 3).next_multiple_of(PAGE_SIZE),
            top_down: true,
            stack_guard_gap,
            max_map_count: 65530,
            thp: true,
            rlimit_as: RLIM_INFINITY,
            rlimit_data: RLIM_INFINITY,
            rlimit_stack,
            rlimit_memlock: 8 << 20,
            cap_ipc_lock: false,
            cap_sys_rawio: false,
            overcommit_never: false,
            pkeys: 0,
        }
    }
}

/// The VMAs, by id: the `vm_area_struct` objects the index points at.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slab {
    items: Vec<Option<Vma>>,
    free: Vec<u32>,
    live: usize,
}

impl Slab {
    pub(crate) fn get(&self, id: VmaId) -> Option<&Vma> {
        self.items.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, id: VmaId) -> Option<&mut Vma> {
        self.items.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// A free id, holding nothing until [`Slab::put`].
    #[inline]
    pub(crate) fn reserve(&mut self) -> Option<VmaId> {
        if let Some(id) = self.free.pop() {
            return Some(VmaId(id));
        }
        let id = u32::try_from(self.items.len()).ok()?;
        self.items.push(None);
        Some(VmaId(id))
    }

    /// Frees an id (and its VMA, if it holds one).
    #[inline]
    pub(crate) fn release(&mut self, id: VmaId) {
        if let Some(item) = self.items.get_mut(id.0 as usize) {
            if item.take().is_some() {
                self.live -= 1;
            }
            self.free.push(id.0);
        }
    }

    /// Puts `vma` under `id` without moving it through the stack: an existing VMA there is
    /// swapped into `vma` (for the caller to drop), an empty id gets a clone.
    #[inline(always)]
    pub(crate) fn put(&mut self, id: VmaId, vma: &mut Vma) {
        if let Some(item) = self.items.get_mut(id.0 as usize) {
            match item {
                Some(held) => core::mem::swap(held, vma),
                None => {
                    self.live += 1;
                    *item = Some(vma.clone());
                }
            }
        }
    }
}

/// A process address space: the VMAs of one `mm_struct`, kept in an allocation maple tree.
///
/// Every system call behaves like Linux 6.18 on x86-64 for the same state and arguments,
/// including its error: [`mmap`](Self::mmap), [`munmap`](Self::munmap),
/// [`mprotect`](Self::mprotect), [`madvise`](Self::madvise), [`mlock`](Self::mlock) and
/// friends, [`brk`](Self::brk), [`mremap`](Self::mremap), [`fork`](Self::fork),
/// [`exec`](Self::exec). VMAs split and merge by Linux's rules, and new mappings are placed
/// where Linux would place them.
///
/// # Atomicity
///
/// A change is first worked out on a private copy of the VMAs it touches, then written to the
/// tree in one step that either fails before changing anything or cannot fail (see the
/// `index` module). So when memory for tree nodes runs out, the call returns
/// [`Errno::NoMem`] and the address space is exactly as before. Errors that Linux reports
/// after changing something (an `mprotect` that meets a hole, a split refused at
/// `max_map_count` after an earlier split) leave the same changes Linux leaves.
///
/// # Invariants (checked by [`check_invariants`](Self::check_invariants))
///
/// - M1. The index is a valid tree.
/// - M2. Every index entry's range is its VMA's `[start, end)`.
/// - M3. Every VMA is non-empty, page aligned and below the task size.
/// - M4. `map_count` is the number of index entries.
/// - M5. Every stored VMA is indexed exactly once.
/// - M6. No two adjacent VMAs are left that Linux would have merged, except where Linux
///   itself leaves them: fork clears `VM_LOCKED` in the child without merging, and so do
///   `MREMAP_DONTUNMAP`, stack growth, and a split that a later failure left in place.
///
/// # Examples
///
/// ```
/// use maple_mm::{AddressSpace, MapFlags, Prot};
///
/// let mut mm = AddressSpace::new();
/// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
/// let a = mm.mmap(0, 0x4000, Prot::READ | Prot::WRITE, anon, None, 0)?;
/// // The next mapping lands right below and merges with the first.
/// let b = mm.mmap(0, 0x1000, Prot::READ | Prot::WRITE, anon, None, 0)?;
/// assert_eq!(b, a - 0x1000);
/// assert_eq!(mm.map_count(), 1);
/// // Write-protecting a page in the middle splits the VMA in three.
/// mm.mprotect(a + 0x1000, 0x1000, Prot::READ)?;
/// assert_eq!(mm.map_count(), 3);
/// mm.mprotect(a + 0x1000, 0x1000, Prot::READ | Prot::WRITE)?;
/// assert_eq!(mm.map_count(), 1);
/// mm.check_invariants().unwrap();
/// # Ok::<(), maple_mm::Errno>(())
/// ```
///
/// Linux: `struct mm_struct`.
#[doc(alias = "mm_struct")]
pub struct AddressSpace<I: VmaIndex = MapleIndex> {
    pub(crate) config: AddressSpaceConfig,
    pub(crate) index: I,
    pub(crate) vmas: Slab,
    pub(crate) map_count: usize,
    pub(crate) start_brk: u64,
    pub(crate) brk: u64,
    pub(crate) start_stack: u64,
    /// Flags every new mapping gets (`mm->def_flags`): `VM_LOCKED` after
    /// `mlockall(MCL_FUTURE)`.
    pub(crate) def_flags: VmFlags,
    next_anon_vma: u64,
    next_shmem: u64,
    /// Protection keys allocated, one bit per key (`mm->context.pkey_allocation_map`).
    pub(crate) pkeys_allocated: u16,
    /// The key of execute-only mappings, once one was needed
    /// (`mm->context.execute_only_pkey`).
    pub(crate) execute_only_pkey: Option<u32>,
    /// Pages with guard markers (`MADV_GUARD_INSTALL`).
    pub(crate) guards: Ranges,
    /// Boundaries where Linux leaves mergeable VMAs apart (M6).
    pub(crate) tolerated: BTreeSet<u64>,
    /// A filter over `tolerated`: bit `(at >> PAGE_SHIFT) % 64` is set for every boundary `at`
    /// in it (and may stay set after a removal). A clear bit spares a search of the set.
    pub(crate) tolerated_filter: u64,
    pub(crate) scratch: Option<Box<Window>>,
    /// Fault injection: the next commit that writes the index fails.
    #[cfg(feature = "fault-injection")]
    pub(crate) fail_next_write: bool,
}

impl<I: VmaIndex> fmt::Debug for AddressSpace<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressSpace")
            .field("map_count", &self.map_count)
            .field("brk", &format_args!("{:#x}", self.brk))
            .field("vmas", &self.iter().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AddressSpace<MapleIndex> {
    /// An empty address space with the default (x86-64) configuration, on a maple tree.
    ///
    /// ```
    /// let mm = maple_mm::AddressSpace::new();
    /// assert_eq!(mm.map_count(), 0);
    /// ```
    pub fn new() -> Self {
        Self::with_index(AddressSpaceConfig::default())
    }

    /// An empty address space with `config`, on a maple tree.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, AddressSpaceConfig};
    /// let config = AddressSpaceConfig { mmap_min_addr: 0x10000, ..Default::default() };
    /// let mm = AddressSpace::with_config(config);
    /// assert_eq!(mm.config().mmap_min_addr, 0x10000);
    /// ```
    pub fn with_config(config: AddressSpaceConfig) -> Self {
        Self::with_index(config)
    }
}

impl Default for AddressSpace<MapleIndex> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: VmaIndex> AddressSpace<I> {
    /// An empty address space with `config` on an index of type `I`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, BTreeIndex};
    /// let mm = AddressSpace::<BTreeIndex>::with_index(Default::default());
    /// assert_eq!(mm.map_count(), 0);
    /// ```
    pub fn with_index(config: AddressSpaceConfig) -> Self {
        Self::from_index(config, I::new())
    }

    /// An empty address space around `index`.
    fn from_index(config: AddressSpaceConfig, index: I) -> Self {
        // Key 0 is allocated implicitly when keys exist.
        let pkeys_allocated = u16::from(config.pkeys > 0);
        AddressSpace {
            config,
            index,
            vmas: Slab::default(),
            map_count: 0,
            start_brk: 0,
            brk: 0,
            start_stack: 0,
            def_flags: VmFlags::empty(),
            next_anon_vma: 1,
            next_shmem: 1,
            pkeys_allocated,
            execute_only_pkey: None,
            guards: Ranges::default(),
            tolerated: BTreeSet::new(),
            tolerated_filter: 0,
            scratch: None,
            #[cfg(feature = "fault-injection")]
            fail_next_write: false,
        }
    }

    /// The configuration.
    ///
    /// ```
    /// let mm = maple_mm::AddressSpace::new();
    /// assert_eq!(mm.config().max_map_count, 65530);
    /// ```
    pub fn config(&self) -> &AddressSpaceConfig {
        &self.config
    }

    /// The VMA index, for inspection.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot, VmaIndex};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert_eq!(mm.index().len(), 1);
    /// assert_eq!(mm.index().tree().len(), 1);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn index(&self) -> &I {
        &self.index
    }

    /// Number of VMAs (`mm->map_count`).
    ///
    /// ```
    /// assert_eq!(maple_mm::AddressSpace::new().map_count(), 0);
    /// ```
    pub fn map_count(&self) -> usize {
        self.map_count
    }

    /// The current program break (`mm->brk`); 0 until [`set_brk_base`](Self::set_brk_base).
    ///
    /// ```
    /// let mut mm = maple_mm::AddressSpace::new();
    /// assert_eq!(mm.current_brk(), 0);
    /// mm.set_brk_base(0x40_0000);
    /// mm.brk(0x40_2000);
    /// assert_eq!(mm.current_brk(), 0x40_2000);
    /// ```
    pub fn current_brk(&self) -> u64 {
        self.brk
    }

    /// Start of the brk area (`mm->start_brk`).
    ///
    /// ```
    /// let mut mm = maple_mm::AddressSpace::new();
    /// mm.set_brk_base(0x40_0000);
    /// mm.brk(0x40_2000);
    /// assert_eq!(mm.start_brk(), 0x40_0000);
    /// ```
    pub fn start_brk(&self) -> u64 {
        self.start_brk
    }

    /// Flags every new mapping gets (`mm->def_flags`).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, AddressSpaceConfig, McFlags, VmFlags};
    /// let config = AddressSpaceConfig { cap_ipc_lock: true, ..Default::default() };
    /// let mut mm = AddressSpace::with_config(config);
    /// assert!(mm.def_flags().is_empty());
    /// mm.mlockall(McFlags::FUTURE)?;
    /// assert_eq!(mm.def_flags(), VmFlags::LOCKED);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn def_flags(&self) -> VmFlags {
        self.def_flags
    }

    /// Sets the start of the brk area and the break to `addr`, as the ELF loader does at exec
    /// (`mm->start_brk = mm->brk`). The heap VMA is created by the first [`brk`](Self::brk)
    /// that grows it.
    ///
    /// ```
    /// let mut mm = maple_mm::AddressSpace::new();
    /// mm.set_brk_base(0x5555_5555_9000);
    /// assert_eq!(mm.brk(0), 0x5555_5555_9000);
    /// ```
    pub fn set_brk_base(&mut self, addr: u64) {
        self.start_brk = addr;
        self.brk = addr;
    }

    /// Records where the initial stack pointer lies (`mm->start_stack`), so the VMA holding it
    /// is named `[stack]` in [`maps`](Self::maps).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED | MapFlags::GROWSDOWN;
    /// mm.mmap(0x7fff_fffd_e000, 0x21000, Prot::READ | Prot::WRITE, fixed, None, 0)?;
    /// mm.set_start_stack(0x7fff_ffff_e000);
    /// assert!(mm.maps().to_string().ends_with("[stack]\n"));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn set_start_stack(&mut self, addr: u64) {
        self.start_stack = addr;
    }

    /// The VMA with the given id.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x2000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// let id = mm.vma_id(a).unwrap();
    /// mm.munmap(a + 0x1000, 0x1000)?;
    /// // The VMA keeps its id while it shrinks.
    /// assert_eq!(mm.get(id).map(|v| v.len()), Some(0x1000));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn get(&self, id: VmaId) -> Option<&Vma> {
        self.vmas.get(id)
    }

    /// The id of the VMA containing `addr`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x3000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// let id = mm.vma_id(a).unwrap();
    /// mm.mprotect(a + 0x1000, 0x1000, Prot::NONE)?;
    /// // After a split the lowest piece keeps the id.
    /// assert_eq!(mm.vma_id(a), Some(id));
    /// assert_ne!(mm.vma_id(a + 0x1000), Some(id));
    /// assert_eq!(mm.vma_id(a - 1), None);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn vma_id(&self, addr: u64) -> Option<VmaId> {
        self.index.lookup(addr).map(|e| e.id)
    }

    fn vma_of(&self, e: IndexEntry) -> Option<&Vma> {
        self.vmas.get(e.id)
    }

    /// The VMA containing `addr`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x2000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert!(mm.vma_lookup(a + 0x1fff).is_some());
    /// assert!(mm.vma_lookup(a + 0x2000).is_none());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_lookup()`.
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma> {
        self.index.lookup(addr).and_then(|e| self.vma_of(e))
    }

    /// The first VMA that ends after `addr`: the one containing it, or the next one above.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x2000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert_eq!(mm.find_vma(0x1000).unwrap().start(), a);
    /// assert!(mm.find_vma(a + 0x2000).is_none());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `find_vma()`.
    pub fn find_vma(&self, addr: u64) -> Option<&Vma> {
        self.index.find(addr, u64::MAX).and_then(|e| self.vma_of(e))
    }

    /// [`find_vma`](Self::find_vma), and the VMA before the position of `addr` (before the
    /// VMA containing it, or before the gap it lies in).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x1000, Prot::READ, anon, None, 0)?;
    /// mm.mmap(0x20000, 0x1000, Prot::NONE, anon, None, 0)?;
    /// let (vma, prev) = mm.find_vma_prev(0x18000);
    /// assert_eq!((vma.unwrap().start(), prev.unwrap().start()), (0x20000, 0x10000));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `find_vma_prev()`.
    pub fn find_vma_prev(&self, addr: u64) -> (Option<&Vma>, Option<&Vma>) {
        let here = self.index.lookup(addr);
        let below = here.map_or(addr, |e| e.start);
        let prev = below
            .checked_sub(1)
            .and_then(|b| self.index.find_rev(b, 0))
            .and_then(|e| self.vma_of(e));
        let vma = here
            .or_else(|| self.index.find(addr, u64::MAX))
            .and_then(|e| self.vma_of(e));
        (vma, prev)
    }

    /// The last VMA that starts below `addr`: for the start of a VMA, the one before it (the
    /// previous VMA of [`find_vma_prev`](Self::find_vma_prev), in one walk instead of two).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x1000, Prot::READ, anon, None, 0)?;
    /// mm.mmap(0x20000, 0x1000, Prot::NONE, anon, None, 0)?;
    /// assert_eq!(mm.vma_below(0x20000).unwrap().start(), 0x10000);
    /// assert_eq!(mm.vma_below(0x10800).unwrap().start(), 0x10000);
    /// assert!(mm.vma_below(0x10000).is_none());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: the `pprev` of `find_vma_prev()` at a VMA's start.
    pub fn vma_below(&self, addr: u64) -> Option<&Vma> {
        addr.checked_sub(1)
            .and_then(|below| self.index.find_rev(below, 0))
            .and_then(|e| self.vma_of(e))
    }

    /// The first VMA that intersects `[start, end)`; `None` if the range is empty.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0x10000, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED, None, 0)?;
    /// assert!(mm.find_vma_intersection(0x8000, 0x10001).is_some());
    /// assert!(mm.find_vma_intersection(0x8000, 0x10000).is_none());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `find_vma_intersection()`.
    pub fn find_vma_intersection(&self, start: u64, end: u64) -> Option<&Vma> {
        if start >= end {
            return None;
        }
        self.index.find(start, end - 1).and_then(|e| self.vma_of(e))
    }

    /// Every VMA, in address order.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.mmap(0, 0x1000, Prot::NONE, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// let starts: Vec<u64> = mm.iter().map(|v| v.start()).collect();
    /// assert!(starts.windows(2).all(|w| w[0] < w[1]));
    /// assert_eq!(starts.len(), 2);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `for_each_vma()`.
    #[doc(alias = "for_each_vma")]
    pub fn iter(&self) -> VmaIter<'_, I> {
        VmaIter::new(self, 0, u64::MAX)
    }

    /// The VMAs that intersect `[start, end)`, in address order.
    ///
    /// Linux: `for_each_vma_range()`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
    /// mm.mmap(0x10000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// mm.mmap(0x20000, 0x2000, Prot::READ, fixed, None, 0)?;
    /// assert_eq!(mm.range(0x11000, 0x20001).count(), 2);
    /// assert_eq!(mm.range(0x12000, 0x20000).count(), 0);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    #[doc(alias = "for_each_vma_range")]
    pub fn range(&self, start: u64, end: u64) -> VmaIter<'_, I> {
        VmaIter::new(self, start, end)
    }

    /// Mapped pages in all (`mm->total_vm`).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0, 0x3000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert_eq!(mm.total_vm(), 3);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn total_vm(&self) -> u64 {
        self.iter().map(Vma::pages).sum()
    }

    /// Pages of `VM_LOCKED` VMAs (`mm->locked_vm`).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x3000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.mlock(a, 0x2000)?;
    /// assert_eq!(mm.locked_vm(), 2);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn locked_vm(&self) -> u64 {
        self.iter()
            .filter(|v| v.flags.contains(VmFlags::LOCKED))
            .map(Vma::pages)
            .sum()
    }

    /// Pages of data mappings: private, writable, not stacks (`mm->data_vm`).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// mm.mmap(0, 0x3000, Prot::READ | Prot::WRITE, anon, None, 0)?;
    /// mm.mmap(0, 0x1000, Prot::READ, MapFlags::SHARED | MapFlags::ANONYMOUS, None, 0)?;
    /// assert_eq!(mm.data_vm(), 3);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn data_vm(&self) -> u64 {
        self.iter()
            .filter(|v| v.flags.is_data())
            .map(Vma::pages)
            .sum()
    }

    /// A new anon_vma identity.
    pub(crate) fn new_anon_vma(&mut self) -> AnonVma {
        let id = AnonVmaId(self.next_anon_vma);
        self.next_anon_vma += 1;
        AnonVma::new(id)
    }

    /// A new shmem file for a shared anonymous mapping. Its id has the top bit set, out of
    /// the way of callers' file ids.
    pub(crate) fn new_shmem_file(&mut self, size: u64) -> Arc<File> {
        let id = FileId((1 << 63) | self.next_shmem);
        self.next_shmem += 1;
        Arc::new(
            File::new(id)
                .with_name("/dev/zero (deleted)")
                .with_inode(0, 1, id.0 & !(1 << 63))
                .with_size(size),
        )
    }

    /// Whether the address space may grow by `pages` pages of mappings with `flags` under
    /// `RLIMIT_AS` and `RLIMIT_DATA`.
    ///
    /// Linux: `may_expand_vm()`.
    pub(crate) fn may_expand_vm(&self, flags: VmFlags, pages: u64) -> bool {
        let limit_as = self.config.rlimit_as;
        let limit_data = self.config.rlimit_data;
        if limit_as != RLIM_INFINITY
            && self.total_vm().saturating_add(pages) > limit_as >> crate::vma::PAGE_SHIFT
        {
            return false;
        }
        !(flags.is_data()
            && limit_data != RLIM_INFINITY
            && self.data_vm().saturating_add(pages) > limit_data >> crate::vma::PAGE_SHIFT)
    }

    /// Whether `bytes` more of locked memory (if `locked`) stay within `RLIMIT_MEMLOCK`.
    ///
    /// Linux: `mlock_future_ok()`.
    pub(crate) fn mlock_future_ok(&self, locked: bool, bytes: u64) -> bool {
        if !locked || self.config.cap_ipc_lock || self.config.rlimit_memlock == RLIM_INFINITY {
            return true;
        }
        (bytes >> crate::vma::PAGE_SHIFT).saturating_add(self.locked_vm())
            <= self.config.rlimit_memlock >> crate::vma::PAGE_SHIFT
    }

    /// Copies the address space as `fork` does: every VMA is duplicated except those marked
    /// `VM_DONTCOPY` (`MADV_DONTFORK`); the copies lose `VM_LOCKED`; a VMA with an anon_vma
    /// gets a new one on a chain inherited from the parent, except `VM_WIPEONFORK` VMAs,
    /// which start empty. The tree is copied node by node
    /// ([`maple_tree::MapleTree::try_clone`]), as Linux's `dup_mmap()` does with `__mt_dup()`.
    ///
    /// # Errors
    ///
    /// [`Errno::NoMem`] if the copy's tree could not get memory; the parent is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{Advice, AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// let a = mm.mmap(0, 0x4000, Prot::READ | Prot::WRITE, anon, None, 0)?;
    /// mm.madvise(a, 0x1000, Advice::DONTFORK)?;
    /// let child = mm.fork()?;
    /// assert_eq!(mm.map_count(), 2);
    /// assert_eq!(child.map_count(), 1);
    /// assert!(child.vma_lookup(a).is_none());
    /// child.check_invariants().unwrap();
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `dup_mmap()`.
    #[doc(alias = "dup_mmap")]
    pub fn fork(&self) -> Result<AddressSpace<I>, Errno> {
        let mut child = AddressSpace::from_index(self.config.clone(), self.index.try_clone()?);
        child.vmas = self.vmas.clone();
        child.next_anon_vma = self.next_anon_vma;
        child.next_shmem = self.next_shmem;
        child.pkeys_allocated = self.pkeys_allocated;
        child.execute_only_pkey = self.execute_only_pkey;
        // Guard markers are copied with the page tables, except where the child's memory
        // starts empty or is not there.
        child.guards = self.guards.clone();
        child.start_brk = self.start_brk;
        child.brk = self.brk;
        child.start_stack = self.start_stack;
        child.def_flags = self.def_flags & VmFlags::NOHUGEPAGE;

        let mut entries = Vec::with_capacity(self.map_count);
        self.index.collect(0, u64::MAX, &mut entries);
        let mut removed = 0;
        for e in &entries {
            let Some(flags) = child.vmas.get(e.id).map(|v| v.flags) else {
                continue;
            };
            if flags.intersects(VmFlags::DONTCOPY | VmFlags::WIPEONFORK) {
                child.guards.remove(e.start, e.end);
            }
            if flags.contains(VmFlags::DONTCOPY) {
                let clear = IndexWrite {
                    start: e.start,
                    end: e.end,
                    id: None,
                };
                child.index.apply(&[clear], WritePlan::Direct)?;
                child.vmas.release(e.id);
                removed += 1;
                continue;
            }
            let needs_anon = child
                .vmas
                .get(e.id)
                .is_some_and(|v| v.anon.is_some() && !v.flags.contains(VmFlags::WIPEONFORK));
            let new_anon = needs_anon.then(|| child.new_anon_vma().inherited());
            if let Some(v) = child.vmas.get_mut(e.id) {
                v.flags = v.flags.without(VmFlags::LOCKED_MASK);
                v.anon = new_anon;
            }
        }
        child.map_count = self.map_count - removed;
        // Linux copies the layout as it is: pairs that became mergeable (VM_LOCKED cleared)
        // stay apart.
        // The child's VMAs are the parent's entries less those just removed (released ids):
        // no walk of the child's tree is needed to visit them.
        let mut prev: Option<&Vma> = None;
        let mut tolerated = BTreeSet::new();
        for vma in entries.iter().filter_map(|e| child.vmas.get(e.id)) {
            if let Some(p) = prev
                && would_merge(p, vma)
            {
                tolerated.insert(vma.start);
            }
            prev = Some(vma);
        }
        child.tolerated_filter = tolerated.iter().fold(0, |f, &at| f | filter_bit(at));
        child.tolerated = tolerated;
        Ok(child)
    }

    /// Replaces the address space by a fresh, empty one with the same configuration, as a
    /// successful `execve` does (the new program's layout is then built by the caller).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.exec();
    /// assert_eq!(mm.map_count(), 0);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `exec_mmap()` with a new `mm_struct` from `mm_alloc()`.
    #[doc(alias = "exec_mmap")]
    pub fn exec(&mut self) {
        *self = AddressSpace::with_index(self.config.clone());
    }

    /// Fault injection, for tests: the VMA tree's node reservations may ask for `nodes` more
    /// nodes in all, then fail (`None`: no limit). Needs the `fault-injection` feature.
    ///
    /// ```
    /// # #[cfg(feature = "fault-injection")] {
    /// use maple_mm::{AddressSpace, Errno, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.fail_reservations_after(Some(0));
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// assert_eq!(mm.mmap(0, 0x1000, Prot::READ, anon, None, 0), Err(Errno::NoMem));
    /// assert_eq!(mm.map_count(), 0);
    /// mm.fail_reservations_after(None);
    /// assert!(mm.mmap(0, 0x1000, Prot::READ, anon, None, 0).is_ok());
    /// # }
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn fail_reservations_after(&self, nodes: Option<u64>) {
        self.index.fail_reservations_after(nodes);
    }

    /// Fault injection, for tests: the next change that needs to write the VMA tree fails with
    /// [`Errno::NoMem`] before it changes anything, however few nodes it needs (the kernel
    /// tests' `fail_prealloc`). Changes of VMA attributes alone do not write the tree and are
    /// not affected. Needs the `fault-injection` feature.
    ///
    /// ```
    /// # #[cfg(feature = "fault-injection")] {
    /// use maple_mm::{AddressSpace, Errno, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.fail_next_index_write();
    /// let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// assert_eq!(mm.mmap(0, 0x1000, Prot::READ, anon, None, 0), Err(Errno::NoMem));
    /// assert!(mm.mmap(0, 0x1000, Prot::READ, anon, None, 0).is_ok());
    /// # }
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn fail_next_index_write(&mut self) {
        self.fail_next_write = true;
    }

    /// Checks the invariants M1 to M6 listed in the [type docs](AddressSpace).
    ///
    /// # Errors
    ///
    /// The first [`InvariantError`] found.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert_eq!(mm.check_invariants(), Ok(()));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `validate_mm()`.
    #[doc(alias = "validate_mm")]
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        self.index.check().map_err(InvariantError::Index)?;
        let mut entries = Vec::new();
        self.index.collect(0, u64::MAX, &mut entries);
        let mut seen = BTreeSet::new();
        let mut prev: Option<&Vma> = None;
        for e in &entries {
            let vma = self
                .vmas
                .get(e.id)
                .filter(|v| v.start == e.start && v.end == e.end);
            let Some(vma) = vma else {
                return Err(InvariantError::RangeMismatch {
                    start: e.start,
                    end: e.end,
                });
            };
            if vma.start >= vma.end
                || !page_aligned(vma.start)
                || !page_aligned(vma.end)
                || vma.end > self.config.task_size
            {
                return Err(InvariantError::BadVma {
                    start: vma.start,
                    end: vma.end,
                });
            }
            if !seen.insert(e.id) {
                return Err(InvariantError::Orphan {
                    stored: self.vmas.live,
                    entries: entries.len(),
                });
            }
            if let Some(p) = prev
                && would_merge(p, vma)
                && !self.tolerated.contains(&vma.start)
            {
                return Err(InvariantError::Mergeable { at: vma.start });
            }
            prev = Some(vma);
        }
        if self.map_count != entries.len() {
            return Err(InvariantError::MapCount {
                map_count: self.map_count,
                entries: entries.len(),
            });
        }
        if self.vmas.live != entries.len() {
            return Err(InvariantError::Orphan {
                stored: self.vmas.live,
                entries: entries.len(),
            });
        }
        Ok(())
    }

    /// A printable view of the VMAs in the `/proc/PID/maps` format; also what `Display`
    /// prints.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// mm.mmap(0x7f00_0000_0000, 0x2000, Prot::READ | Prot::WRITE,
    ///         MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED, None, 0)?;
    /// assert_eq!(mm.maps().to_string(), "7f0000000000-7f0000002000 rw-p 00000000 00:00 0 \n");
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `show_map_vma()` in fs/proc/task_mmu.c.
    #[doc(alias = "show_map_vma")]
    pub fn maps(&self) -> Maps<'_, I> {
        Maps { mm: self }
    }

    /// The name `/proc/PID/maps` shows for a VMA.
    fn maps_name<'a>(&self, vma: &'a Vma) -> Option<std::borrow::Cow<'a, str>> {
        if let Some(file) = &vma.file {
            return file.name().map(std::borrow::Cow::Borrowed);
        }
        if self.start_brk != 0 && vma.start <= self.brk && vma.end >= self.start_brk {
            return Some("[heap]".into());
        }
        if self.start_stack != 0 && vma.start <= self.start_stack && vma.end >= self.start_stack {
            return Some("[stack]".into());
        }
        None
    }
}

/// The `/proc/PID/maps` view of an address space, from [`AddressSpace::maps`]: one line per
/// VMA, `start-end perms offset major:minor inode`, then the name padded to column 74.
///
/// ```
/// use maple_mm::{AddressSpace, File, FileId, MapFlags, Prot};
/// use std::sync::Arc;
/// let mut mm = AddressSpace::new();
/// let lib = File::new(FileId(3)).with_name("/usr/lib/libfoo.so").with_inode(8, 1, 1234);
/// let lib = Arc::new(lib.read_only());
/// mm.mmap(0x7000_0000_0000, 0x2000, Prot::READ, MapFlags::PRIVATE | MapFlags::FIXED, Some(&lib), 0x1000)?;
/// assert_eq!(
///     mm.maps().to_string(),
///     format!(
///         "700000000000-700000002000 r--p 00001000 08:01 1234{}/usr/lib/libfoo.so\n",
///         " ".repeat(23)
///     )
/// );
/// # Ok::<(), maple_mm::Errno>(())
/// ```
#[derive(Debug)]
pub struct Maps<'a, I: VmaIndex> {
    mm: &'a AddressSpace<I>,
}

impl<I: VmaIndex> fmt::Display for Maps<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for vma in self.mm.iter() {
            let (offset, (major, minor), inode) = match &vma.file {
                Some(file) => (
                    vma.pgoff << crate::vma::PAGE_SHIFT,
                    file.device(),
                    file.inode(),
                ),
                None => (0, (0, 0), 0),
            };
            let line = format!(
                "{:08x}-{:08x} {} {:08x} {:02x}:{:02x} {} ",
                vma.start,
                vma.end,
                vma.perms(),
                offset,
                major,
                minor,
                inode
            );
            f.write_str(&line)?;
            if let Some(name) = self.mm.maps_name(vma) {
                let pad = 72usize.saturating_sub(line.len());
                write!(f, "{:pad$} {}", "", name, pad = pad)?;
            }
            f.write_str("\n")?;
        }
        Ok(())
    }
}

impl<I: VmaIndex> fmt::Display for AddressSpace<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.maps().fmt(f)
    }
}

/// The bit of a boundary in [`AddressSpace::tolerated_filter`].
pub(crate) fn filter_bit(at: u64) -> u64 {
    1 << ((at >> crate::vma::PAGE_SHIFT) % 64)
}
