//! Scenarios of the calls that cut and change existing mappings: `munmap`, `mprotect`,
//! `madvise`, `mlock` and friends, with every error path and the invariants after each step.

use std::sync::Arc;

use maple_mm::{
    AddressSpace, AddressSpaceConfig, Advice, Errno, File, FileId, MapFlags, McFlags, MlockFlags,
    Prot, VmFlags,
};

const FIXED: MapFlags = MapFlags::from_bits(0x32); // MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
const RW: Prot = Prot::from_bits(3);

fn check(mm: &AddressSpace) {
    if let Err(e) = mm.check_invariants() {
        panic!("{e}\n{}", mm.maps());
    }
}

fn ranges(mm: &AddressSpace) -> Vec<(u64, u64)> {
    mm.iter().map(|v| (v.start(), v.end())).collect()
}

fn perms(mm: &AddressSpace) -> Vec<String> {
    mm.iter().map(|v| v.perms()).collect()
}

/// An address space with one read-write anonymous VMA `[0x10000, 0x20000)`.
fn sixteen_pages() -> AddressSpace {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x10000, RW, FIXED, None, 0).unwrap();
    mm
}

/// munmap: the head, the tail, a hole, and a range spanning VMAs and gaps.
#[test]
fn munmap_shapes() {
    let mut mm = sixteen_pages();
    mm.munmap(0x10000, 0x1000).unwrap();
    mm.munmap(0x1f000, 0x1000).unwrap();
    mm.munmap(0x14000, 0x2000).unwrap();
    assert_eq!(ranges(&mm), [(0x11000, 0x14000), (0x16000, 0x1f000)]);
    assert_eq!(mm.vma_lookup(0x16000).unwrap().pgoff(), 0x16);
    check(&mm);
    // Lengths are rounded up to pages; holes inside the range are fine.
    mm.munmap(0x12000, 0x5001).unwrap();
    assert_eq!(ranges(&mm), [(0x11000, 0x12000), (0x18000, 0x1f000)]);
    // A range with nothing mapped succeeds.
    mm.munmap(0x5000_0000, 0x1000).unwrap();
    mm.munmap(0, 0x20000).unwrap();
    assert_eq!(mm.map_count(), 0);
    check(&mm);
}

/// munmap errors: unaligned address, zero length, beyond the task size.
#[test]
fn munmap_errors() {
    let mut mm = sixteen_pages();
    let task = mm.config().task_size;
    assert_eq!(mm.munmap(0x10001, 0x1000), Err(Errno::Inval));
    assert_eq!(mm.munmap(0x10000, 0), Err(Errno::Inval));
    assert_eq!(mm.munmap(task + 0x1000, 0x1000), Err(Errno::Inval));
    assert_eq!(mm.munmap(task - 0x1000, 0x2000), Err(Errno::Inval));
    assert_eq!(mm.munmap(0x10000, u64::MAX), Err(Errno::Inval));
    assert_eq!(ranges(&mm), [(0x10000, 0x20000)]);
    check(&mm);
}

/// munmap at max_map_count: a hole (one VMA more) is refused, trimming an end is not, and
/// splitting two VMAs at once may go one over the limit.
#[test]
fn munmap_map_count() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        max_map_count: 2,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    mm.mmap(0x14000, 0x4000, Prot::READ, FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.munmap(0x11000, 0x1000), Err(Errno::NoMem));
    assert_eq!(mm.map_count(), 2);
    // Unmapping across the boundary splits both, but only the first split is checked.
    mm.munmap(0x13000, 0x2000).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x13000), (0x15000, 0x18000)]);
    mm.munmap(0x10000, 0x1000).unwrap();
    check(&mm);
}

/// mprotect splits at both ends and merges back; neighbours with the new flags absorb the
/// range from either side.
#[test]
fn mprotect_split_and_merge() {
    let mut mm = sixteen_pages();
    mm.mprotect(0x14000, 0x4000, Prot::READ).unwrap();
    assert_eq!(
        ranges(&mm),
        [(0x10000, 0x14000), (0x14000, 0x18000), (0x18000, 0x20000)]
    );
    assert_eq!(perms(&mm), ["rw-p", "r--p", "rw-p"]);
    check(&mm);
    // Growing the read-only part from the left: the left neighbour shrinks.
    mm.mprotect(0x12000, 0x2000, Prot::READ).unwrap();
    assert_eq!(
        ranges(&mm),
        [(0x10000, 0x12000), (0x12000, 0x18000), (0x18000, 0x20000)]
    );
    // From the right, across the boundary.
    mm.mprotect(0x17000, 0x2000, Prot::READ).unwrap();
    assert_eq!(
        ranges(&mm),
        [(0x10000, 0x12000), (0x12000, 0x19000), (0x19000, 0x20000)]
    );
    check(&mm);
    // Back to read-write everywhere: one VMA.
    mm.mprotect(0x10000, 0x10000, RW).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x20000)]);
    check(&mm);
}

/// mprotect over several VMAs changes each and merges them pairwise.
#[test]
fn mprotect_many_vmas() {
    let mut mm = AddressSpace::new();
    for (i, prot) in [Prot::READ, Prot::NONE, Prot::READ | Prot::EXEC, Prot::NONE]
        .into_iter()
        .enumerate()
    {
        let i = u64::try_from(i).unwrap();
        mm.mmap(0x10000 + i * 0x2000, 0x2000, prot, FIXED, None, 0)
            .unwrap();
    }
    assert_eq!(mm.map_count(), 4);
    mm.mprotect(0x11000, 0x6000, Prot::READ).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x17000), (0x17000, 0x18000)]);
    check(&mm);
}

/// mprotect over a hole: the VMAs before it change, then ENOMEM.
#[test]
fn mprotect_hole_is_partial() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x2000, RW, FIXED, None, 0).unwrap();
    mm.mmap(0x13000, 0x2000, RW, FIXED, None, 0).unwrap();
    assert_eq!(mm.mprotect(0x10000, 0x5000, Prot::READ), Err(Errno::NoMem));
    assert_eq!(perms(&mm), ["r--p", "rw-p"]);
    check(&mm);
    // Starting in a hole fails at once.
    assert_eq!(mm.mprotect(0x12000, 0x2000, Prot::NONE), Err(Errno::NoMem));
    assert_eq!(perms(&mm), ["r--p", "rw-p"]);
    // A range with nothing at all.
    assert_eq!(
        mm.mprotect(0x5000_0000, 0x1000, Prot::NONE),
        Err(Errno::NoMem)
    );
}

/// mprotect errors: alignment, unknown bits, both grow directions, PROT_GROWSDOWN on a VMA
/// that does not grow, EACCES beyond VM_MAY*, overflow, and zero length (a no-op).
#[test]
fn mprotect_errors() {
    let mut mm = sixteen_pages();
    let ro = Arc::new(File::new(FileId(1)).read_only());
    mm.mmap(
        0x30000,
        0x2000,
        Prot::READ,
        MapFlags::SHARED | MapFlags::FIXED,
        Some(&ro),
        0,
    )
    .unwrap();
    assert_eq!(mm.mprotect(0x10001, 0x1000, Prot::READ), Err(Errno::Inval));
    assert_eq!(
        mm.mprotect(0x10000, 0x1000, Prot::from_bits(0x10)),
        Err(Errno::Inval)
    );
    let both = Prot::READ | Prot::GROWSDOWN | Prot::GROWSUP;
    assert_eq!(mm.mprotect(0x10000, 0x1000, both), Err(Errno::Inval));
    assert_eq!(
        mm.mprotect(0x10000, 0x1000, Prot::READ | Prot::GROWSDOWN),
        Err(Errno::Inval)
    );
    assert_eq!(
        mm.mprotect(0x10000, 0x1000, Prot::READ | Prot::GROWSUP),
        Err(Errno::Inval)
    );
    assert_eq!(mm.mprotect(0x30000, 0x1000, RW), Err(Errno::Access));
    assert_eq!(
        mm.mprotect(0x10000, u64::MAX - 0x10000, Prot::READ),
        Err(Errno::NoMem)
    );
    assert_eq!(mm.mprotect(0x10001, 0, Prot::READ), Err(Errno::Inval));
    assert_eq!(mm.mprotect(0x10000, 0, Prot::NONE), Ok(()));
    assert_eq!(perms(&mm), ["rw-p", "r--s"]);
    check(&mm);
}

/// PROT_GROWSDOWN extends the change down to the start of a growsdown VMA.
#[test]
fn mprotect_growsdown() {
    let mut mm = AddressSpace::new();
    let stack = FIXED | MapFlags::GROWSDOWN;
    mm.mmap(0x40000, 0x4000, RW, stack, None, 0).unwrap();
    mm.mprotect(0x42000, 0x1000, Prot::READ | Prot::GROWSDOWN)
        .unwrap();
    assert_eq!(ranges(&mm), [(0x40000, 0x43000), (0x43000, 0x44000)]);
    assert_eq!(perms(&mm), ["r--p", "rw-p"]);
    check(&mm);
}

/// VM_ACCOUNT: a private mapping made writable is charged, and a never-faulted anonymous
/// one made read-only is not; so "was writable" and "never writable" neighbours differ.
#[test]
fn mprotect_accounting() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x2000, Prot::NONE, FIXED, None, 0)
        .unwrap();
    assert!(
        !mm.vma_lookup(0x10000)
            .unwrap()
            .flags()
            .contains(VmFlags::ACCOUNT)
    );
    mm.mprotect(0x10000, 0x1000, RW).unwrap();
    assert!(
        mm.vma_lookup(0x10000)
            .unwrap()
            .flags()
            .contains(VmFlags::ACCOUNT)
    );
    // Read-only again: never faulted, so the charge goes and the VMAs merge.
    mm.mprotect(0x10000, 0x1000, Prot::NONE).unwrap();
    assert_eq!(mm.map_count(), 1);
    // Once faulted, the charge stays: the two halves no longer merge.
    mm.mprotect(0x10000, 0x1000, RW).unwrap();
    mm.fault(0x10000, true).unwrap();
    mm.mprotect(0x10000, 0x1000, Prot::NONE).unwrap();
    assert_eq!(mm.map_count(), 2);
    assert!(
        mm.vma_lookup(0x10000)
            .unwrap()
            .flags()
            .contains(VmFlags::ACCOUNT)
    );
    check(&mm);
}

/// mprotect at max_map_count: the first split succeeds, the second is refused; Linux keeps
/// the first, and so does the model (and tolerates the unmerged pair it leaves).
#[test]
fn mprotect_map_count() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        max_map_count: 2,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    assert_eq!(mm.mprotect(0x11000, 0x1000, Prot::READ), Err(Errno::NoMem));
    assert_eq!(ranges(&mm), [(0x10000, 0x11000), (0x11000, 0x14000)]);
    assert_eq!(perms(&mm), ["rw-p", "rw-p"]);
    check(&mm);
    // Touching that pair again clears the tolerance once it is merged.
    mm.mprotect(0x10000, 0x4000, Prot::READ).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x14000)]);
    check(&mm);
}

/// madvise: flag advices split and merge; page advices change nothing; holes are ENOMEM but
/// the mapped parts are advised.
#[test]
fn madvise_flags() {
    let mut mm = sixteen_pages();
    mm.madvise(0x12000, 0x2000, Advice::DONTFORK).unwrap();
    assert_eq!(mm.map_count(), 3);
    mm.madvise(0x12000, 0x2000, Advice::DOFORK).unwrap();
    assert_eq!(mm.map_count(), 1);
    for (advice, flag) in [
        (Advice::SEQUENTIAL, VmFlags::SEQ_READ),
        (Advice::RANDOM, VmFlags::RAND_READ),
        (Advice::WIPEONFORK, VmFlags::WIPEONFORK),
        (Advice::DONTDUMP, VmFlags::DONTDUMP),
        (Advice::MERGEABLE, VmFlags::MERGEABLE),
        (Advice::HUGEPAGE, VmFlags::HUGEPAGE),
        (Advice::NOHUGEPAGE, VmFlags::NOHUGEPAGE),
    ] {
        mm.madvise(0x10000, 0x1000, advice).unwrap();
        assert!(
            mm.vma_lookup(0x10000).unwrap().flags().contains(flag),
            "{advice:?}"
        );
        check(&mm);
    }
    // RANDOM replaced SEQUENTIAL; NOHUGEPAGE replaced HUGEPAGE.
    let f = mm.vma_lookup(0x10000).unwrap().flags();
    assert!(!f.intersects(VmFlags::SEQ_READ | VmFlags::HUGEPAGE));
    for advice in [
        Advice::NORMAL,
        Advice::KEEPONFORK,
        Advice::DODUMP,
        Advice::UNMERGEABLE,
        Advice::HUGEPAGE,
    ] {
        mm.madvise(0x10000, 0x1000, advice).unwrap();
        check(&mm);
    }
    // Only HUGEPAGE is left on the first page.
    assert_eq!(mm.map_count(), 2);
    mm.madvise(0x11000, 0xf000, Advice::HUGEPAGE).unwrap();
    assert_eq!(mm.map_count(), 1);
    // Page-only advice over a hole.
    mm.munmap(0x14000, 0x1000).unwrap();
    assert_eq!(
        mm.madvise(0x10000, 0x10000, Advice::DONTNEED),
        Err(Errno::NoMem)
    );
    assert_eq!(
        mm.madvise(0x10000, 0x10000, Advice::DONTDUMP),
        Err(Errno::NoMem)
    );
    assert!(mm.iter().all(|v| v.flags().contains(VmFlags::DONTDUMP)));
    check(&mm);
}

/// madvise errors.
#[test]
fn madvise_errors() {
    let mut mm = sixteen_pages();
    let f = Arc::new(File::new(FileId(2)));
    mm.mmap(
        0x30000,
        0x1000,
        RW,
        MapFlags::PRIVATE | MapFlags::FIXED,
        Some(&f),
        0,
    )
    .unwrap();
    mm.mmap(
        0x40000,
        0x1000,
        RW,
        MapFlags::SHARED | MapFlags::FIXED,
        Some(&f),
        0,
    )
    .unwrap();
    assert_eq!(mm.madvise(0x10000, 0x1000, Advice(7)), Err(Errno::Inval));
    assert_eq!(
        mm.madvise(0x10001, 0x1000, Advice::DONTNEED),
        Err(Errno::Inval)
    );
    assert_eq!(
        mm.madvise(0x10000, u64::MAX, Advice::DONTNEED),
        Err(Errno::Inval)
    );
    assert_eq!(mm.madvise(0x10000, 0, Advice::DONTNEED), Ok(()));
    assert_eq!(
        mm.madvise(0x30000, 0x1000, Advice::WIPEONFORK),
        Err(Errno::Inval)
    );
    assert_eq!(mm.madvise(0x30000, 0x1000, Advice::FREE), Err(Errno::Inval));
    assert_eq!(
        mm.madvise(0x10000, 0x1000, Advice::REMOVE),
        Err(Errno::Inval)
    );
    assert_eq!(
        mm.madvise(0x30000, 0x1000, Advice::REMOVE),
        Err(Errno::Access)
    );
    assert_eq!(mm.madvise(0x40000, 0x1000, Advice::REMOVE), Ok(()));
    assert_eq!(
        mm.madvise(0x10000, 0x1000, Advice::HWPOISON),
        Err(Errno::Perm)
    );
    mm.mlock(0x10000, 0x1000).unwrap();
    assert_eq!(
        mm.madvise(0x10000, 0x1000, Advice::DONTNEED),
        Err(Errno::Inval)
    );
    assert_eq!(mm.madvise(0x10000, 0x1000, Advice::DONTNEED_LOCKED), Ok(()));
    assert_eq!(
        mm.madvise(0x10000, 0x1000, Advice::GUARD_INSTALL),
        Err(Errno::Inval)
    );
    assert_eq!(mm.madvise(0x10000, 0x1000, Advice::GUARD_REMOVE), Ok(()));
    // Shared memory cannot be made KSM-mergeable: no change, no error.
    mm.madvise(0x40000, 0x1000, Advice::MERGEABLE).unwrap();
    assert!(
        !mm.vma_lookup(0x40000)
            .unwrap()
            .flags()
            .contains(VmFlags::MERGEABLE)
    );
    // Without THP the THP advices do not exist.
    let mut no_thp = AddressSpace::with_config(AddressSpaceConfig {
        thp: false,
        ..AddressSpaceConfig::default()
    });
    assert_eq!(
        no_thp.madvise(0x10000, 0x1000, Advice::HUGEPAGE),
        Err(Errno::Inval)
    );
    check(&mm);
}

/// madvise at max_map_count reports EAGAIN, as Linux turns the ENOMEM of a split into it.
#[test]
fn madvise_map_count() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        max_map_count: 1,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    assert_eq!(
        mm.madvise(0x10000, 0x1000, Advice::DONTFORK),
        Err(Errno::Again)
    );
    assert_eq!(mm.map_count(), 1);
    check(&mm);
}

/// MADV_POPULATE_*: holes are ENOMEM, memory the access is not allowed on EINVAL (as Linux
/// 6.18 answers); write population gives private VMAs an anon_vma.
#[test]
fn madvise_populate() {
    let mut mm = sixteen_pages();
    mm.mmap(0x30000, 0x1000, Prot::READ, FIXED, None, 0)
        .unwrap();
    mm.madvise(0x10000, 0x1000, Advice::POPULATE_WRITE).unwrap();
    assert!(mm.vma_lookup(0x10000).unwrap().anon_vma().is_some());
    assert_eq!(
        mm.madvise(0x30000, 0x1000, Advice::POPULATE_WRITE),
        Err(Errno::Inval)
    );
    assert_eq!(mm.madvise(0x30000, 0x1000, Advice::POPULATE_READ), Ok(()));
    assert_eq!(
        mm.madvise(0x20000, 0x11000, Advice::POPULATE_READ),
        Err(Errno::NoMem)
    );
    check(&mm);
}

/// mlock, mlock2 and munlock split and merge; ranges are rounded out to pages.
#[test]
fn mlock_ranges() {
    let mut mm = sixteen_pages();
    mm.mlock(0x12800, 0x1000).unwrap();
    assert_eq!(
        ranges(&mm),
        [(0x10000, 0x12000), (0x12000, 0x14000), (0x14000, 0x20000)]
    );
    assert_eq!(mm.locked_vm(), 2);
    mm.mlock2(0x14000, 0x1000, MlockFlags::ONFAULT).unwrap();
    assert!(
        mm.vma_lookup(0x14000)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKONFAULT)
    );
    assert_eq!(mm.map_count(), 4);
    check(&mm);
    mm.munlock(0x10000, 0x10000).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x20000)]);
    check(&mm);
    // Holes: the VMAs before the hole are locked, then ENOMEM.
    mm.munmap(0x18000, 0x1000).unwrap();
    assert_eq!(mm.mlock(0x10000, 0x10000), Err(Errno::NoMem));
    assert!(
        mm.vma_lookup(0x10000)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKED)
    );
    assert!(
        !mm.vma_lookup(0x19000)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKED)
    );
    assert_eq!(mm.munlock(0x20000, 0x1000), Err(Errno::NoMem));
    assert_eq!(
        mm.mlock2(0x10000, 0x1000, MlockFlags::from_bits(2)),
        Err(Errno::Inval)
    );
    check(&mm);
}

/// Lock limits and special mappings: RLIMIT_MEMLOCK of 0 is EPERM, going over it ENOMEM
/// (already locked pages in the range do not count twice); special VMAs are skipped.
#[test]
fn mlock_limits() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_memlock: 0x3000,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x8000, RW, FIXED, None, 0).unwrap();
    mm.mlock(0x10000, 0x2000).unwrap();
    assert_eq!(mm.mlock(0x12000, 0x2000), Err(Errno::NoMem));
    // Re-locking what is locked plus one page fits.
    mm.mlock(0x10000, 0x3000).unwrap();
    assert_eq!(mm.locked_vm(), 3);
    let mut none = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_memlock: 0,
        ..AddressSpaceConfig::default()
    });
    assert_eq!(none.mlock(0x10000, 0x1000), Err(Errno::Perm));
    let mut mm = sixteen_pages();
    let dev = Arc::new(File::new(FileId(3)).with_mmap_flags(VmFlags::IO));
    mm.mmap(
        0x30000,
        0x1000,
        RW,
        MapFlags::SHARED | MapFlags::FIXED,
        Some(&dev),
        0,
    )
    .unwrap();
    mm.mlock(0x30000, 0x1000).unwrap();
    assert!(
        !mm.vma_lookup(0x30000)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKED)
    );
    check(&mm);
}

/// mlockall(MCL_CURRENT) locks everything, MCL_FUTURE new mappings (and brk); munlockall
/// undoes both; bad flags are EINVAL.
#[test]
fn mlockall() {
    let mut mm = sixteen_pages();
    mm.mmap(0x30000, 0x1000, Prot::READ, FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.mlockall(McFlags::empty()), Err(Errno::Inval));
    assert_eq!(mm.mlockall(McFlags::ONFAULT), Err(Errno::Inval));
    assert_eq!(mm.mlockall(McFlags::from_bits(8)), Err(Errno::Inval));
    mm.mlockall(McFlags::CURRENT).unwrap();
    assert!(mm.iter().all(|v| v.flags().contains(VmFlags::LOCKED)));
    assert!(!mm.def_flags().contains(VmFlags::LOCKED));
    mm.mlockall(McFlags::FUTURE | McFlags::ONFAULT).unwrap();
    assert!(
        mm.def_flags()
            .contains(VmFlags::LOCKED | VmFlags::LOCKONFAULT)
    );
    let a = mm
        .mmap(
            0,
            0x1000,
            RW,
            MapFlags::PRIVATE | MapFlags::ANONYMOUS,
            None,
            0,
        )
        .unwrap();
    assert!(
        mm.vma_lookup(a)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKONFAULT)
    );
    check(&mm);
    mm.munlockall().unwrap();
    assert!(
        mm.iter()
            .all(|v| !v.flags().intersects(VmFlags::LOCKED_MASK))
    );
    assert!(mm.def_flags().is_empty());
    // MCL_CURRENT beyond the limit.
    let mut small = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_memlock: 0x1000,
        ..AddressSpaceConfig::default()
    });
    small.mmap(0x10000, 0x2000, RW, FIXED, None, 0).unwrap();
    assert_eq!(small.mlockall(McFlags::CURRENT), Err(Errno::NoMem));
    check(&mm);
}
