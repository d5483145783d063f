//! A model of a Linux process address space, with its VMAs kept in a maple tree.
//!
//! An [`AddressSpace`] plays the role of the kernel's `mm_struct`: it holds the process's
//! virtual memory areas ([`Vma`], the kernel's `vm_area_struct`) in an allocation
//! [`maple_tree::MapleTree`], and its methods are the memory-management system calls:
//! [`mmap`](AddressSpace::mmap), [`munmap`](AddressSpace::munmap),
//! [`mprotect`](AddressSpace::mprotect), [`madvise`](AddressSpace::madvise),
//! [`mlock`](AddressSpace::mlock) and friends, [`brk`](AddressSpace::brk),
//! [`mremap`](AddressSpace::mremap), memory protection keys
//! ([`pkey_alloc`](AddressSpace::pkey_alloc), [`pkey_mprotect`](AddressSpace::pkey_mprotect)),
//! plus [`fork`](AddressSpace::fork),
//! [`exec`](AddressSpace::exec), page [`fault`](AddressSpace::fault)s and stack growth.
//! Each follows what Linux 6.x does to the VMA layout: where a mapping is placed, where VMAs
//! are split, which neighbours merge, which `errno` comes back and when `max_map_count` is
//! hit. No memory is mapped; only the bookkeeping is modelled, so that the layout after a
//! sequence of calls can be compared with `/proc/PID/maps` of a real process (the
//! [`maps`](AddressSpace::maps) output uses that format).
//!
//! ```
//! use maple_mm::{AddressSpace, Errno, MapFlags, Prot};
//!
//! let mut mm = AddressSpace::new(); // x86-64 defaults, see `AddressSpaceConfig`
//! let anon = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
//! let rw = Prot::READ | Prot::WRITE;
//!
//! // Top-down placement right below mmap_base; the second mapping merges with the first.
//! let a = mm.mmap(0, 0x4000, rw, anon, None, 0)?;
//! let b = mm.mmap(0, 0x2000, rw, anon, None, 0)?;
//! assert_eq!((a, b), (0x7fff_f7ff_b000, 0x7fff_f7ff_9000));
//! assert_eq!(mm.map_count(), 1);
//!
//! // A hole in the middle splits the VMA in two.
//! mm.munmap(a, 0x1000)?;
//! assert_eq!(mm.map_count(), 2);
//! assert_eq!(mm.find_vma(a).map(|v| v.start()), Some(a + 0x1000));
//!
//! // Errors are Linux's errnos.
//! assert_eq!(mm.munmap(a + 1, 0x1000), Err(Errno::Inval));
//! assert_eq!(Errno::Inval.code(), 22);
//!
//! assert_eq!(
//!     mm.maps().to_string(),
//!     "7ffff7ff9000-7ffff7ffb000 rw-p 00000000 00:00 0 \n\
//!      7ffff7ffc000-7ffff7fff000 rw-p 00000000 00:00 0 \n"
//! );
//! mm.check_invariants().unwrap();
//! # Ok::<(), Errno>(())
//! ```
//!
//! # What maps to what
//!
//! | here | Linux |
//! |---|---|
//! | [`AddressSpace`] | `struct mm_struct` (`mm_mt`, `map_count`, `brk`, `def_flags`, `total_vm`, `locked_vm`, `data_vm`) |
//! | [`AddressSpaceConfig`] | `TASK_SIZE`, `mmap_base`, `mmap_min_addr`, `stack_guard_gap`, `max_map_count`, rlimits, `CAP_IPC_LOCK`, THP and overcommit settings |
//! | [`Vma`] | `struct vm_area_struct` (`vm_start`, `vm_end`, `vm_pgoff`, `vm_flags`, `vm_file`, `anon_vma`, `vm_ops->close`) |
//! | [`File`] | `struct file` as mmap sees it: identity, mode, `noexec`, device and inode, a `close` hook |
//! | [`AnonVma`] | the identity of a VMA's `anon_vma`, and whether it came from the parent at fork |
//! | [`VmFlags`], [`Prot`], [`MapFlags`], [`MremapFlags`], [`MlockFlags`], [`McFlags`], [`Advice`] | `vm_flags_t`, `PROT_*`, `MAP_*`, `MREMAP_*`, `MLOCK_*`, `MCL_*`, `MADV_*` with their Linux values |
//! | [`Errno`] | the `errno` values these calls return |
//! | [`AddressSpace::get_unmapped_area`] | `__get_unmapped_area()`, `vm_unmapped_area()` |
//! | [`AddressSpace::mmap_region`] | `mmap_region()` |
//! | [`AddressSpace::split_vma`], [`vma_merge_new_range`](AddressSpace::vma_merge_new_range), [`vma_merge_existing_range`](AddressSpace::vma_merge_existing_range), [`vma_expand`](AddressSpace::vma_expand), [`vma_shrink`](AddressSpace::vma_shrink), [`copy_vma`](AddressSpace::copy_vma), [`vma_merge_extend`](AddressSpace::vma_merge_extend), [`link_vma`](AddressSpace::link_vma) | the functions of mm/vma.c of the same names, as the kernel's `tools/testing/vma` tests drive them |
//! | [`AddressSpace::check_invariants`] | `validate_mm()` |
//! | [`AddressSpace::maps`] | `/proc/PID/maps` (`show_map_vma()`) |
//!
//! Items carry the Linux function they model in a "Linux:" line and as a documentation alias,
//! so searching the docs for `do_mmap` or `vma_modify_flags` finds them.
//!
//! # How a change is made
//!
//! The tree maps each VMA's range `[start, end - 1]` to a [`VmaId`], a small number naming the
//! VMA in a slab beside the tree. Every operation first copies the VMAs it may touch into a
//! private *window*, runs the kernel's steps (split, merge, expand, remove) on that copy, and
//! then turns the difference into a list of tree writes applied at once. Where Linux writes
//! the tree step by step and can fail half-way (leaving VMAs split),
//! this model reserves every tree node it needs before the first visible change: if the
//! allocation fails the call returns [`Errno::NoMem`] and the address space is exactly as it
//! was. The allocation-failure tests check this at every reservation point, using the tree's
//! fault injection (the `fault-injection` feature and `AddressSpace::fail_reservations_after`).
//!
//! VMA identity is kept the kernel's way where it matters: when a VMA is split, the lower
//! piece keeps its [`VmaId`], and a merge keeps the id of the VMA that is expanded.
//!
//! # Invariants
//!
//! [`AddressSpace::check_invariants`] validates the tree, checks that its entries and the VMAs
//! agree range for range, that `map_count` equals the number of entries, that each VMA is
//! well formed, and that no two adjacent VMAs are ones Linux would have merged, except at the
//! boundaries where Linux itself leaves mergeable VMAs apart (after a fault gave one of them
//! an `anon_vma`, after stack growth or `brk`, after `fork` cleared `VM_LOCKED`, after
//! `MREMAP_DONTUNMAP`, or where a split succeeded and the second one failed).
//!
//! # The index trait
//!
//! The address-space logic is generic over [`VmaIndex`], the handful of calls it makes on the
//! index: point lookup, next and previous entry, range collection, gap search and a batch of
//! writes. [`MapleIndex`] (the default) is the maple tree; [`BTreeIndex`] is a `BTreeMap`
//! with a scanning gap search. Both run the identical logic, which is what the `churn`
//! example uses to measure the tree's share of the time.
//!
//! # What is left out
//!
//! Memory contents, page tables and reclaim are not modelled; a fault only records that a
//! VMA has an `anon_vma`. Left out as well: hugetlbfs (`MAP_HUGETLB` fails as it does with no
//! huge pages reserved), `mseal`, shadow stacks, userfaultfd, NUMA
//! policies, anonymous VMA names, soft-dirty tracking, `VM_GROWSUP` architectures, 5-level
//! paging, and commit-charge accounting beyond `overcommit_memory = 2` being off or on.

#![forbid(unsafe_code)]

mod address_space;
mod brk;
mod error;
mod fault;
mod flags;
mod guard;
mod index;
mod iter;
mod madvise;
mod merge;
mod mlock;
mod mmap;
mod mprotect;
mod mremap;
mod munmap;
mod ops;
mod pkey;
mod split;
mod unmapped_area;
mod vma;
mod window;

pub use address_space::{AddressSpace, AddressSpaceConfig, Maps, RLIM_INFINITY};
pub use error::{Errno, InvariantError};
pub use flags::{Advice, MapFlags, McFlags, MlockFlags, MremapFlags, Prot, VmFlags};
pub use index::{BTreeIndex, IndexEntry, IndexWrite, MapleIndex, VmaIndex, WritePlan};
pub use iter::VmaIter;
pub use ops::MergeRequest;
pub use vma::{AnonVma, AnonVmaId, File, FileId, PAGE_SHIFT, PAGE_SIZE, Vma, VmaId};
