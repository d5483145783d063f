//! Scenarios of `brk` and `mremap`: growth in place and by moving, shrinking, fixed and
//! don't-unmap moves, multi-VMA moves, every error path, with the invariants after each step.

use std::sync::Arc;

use maple_mm::{
    AddressSpace, AddressSpaceConfig, Errno, File, FileId, MapFlags, MremapFlags, Prot, VmFlags,
};

const ANON: MapFlags = MapFlags::from_bits(0x22);
const FIXED: MapFlags = MapFlags::from_bits(0x32);
const RW: Prot = Prot::from_bits(3);
const MAYMOVE: MremapFlags = MremapFlags::MAYMOVE;

fn check(mm: &AddressSpace) {
    if let Err(e) = mm.check_invariants() {
        panic!("{e}\n{}", mm.maps());
    }
}

fn ranges(mm: &AddressSpace) -> Vec<(u64, u64)> {
    mm.iter().map(|v| (v.start(), v.end())).collect()
}

const HEAP: u64 = 0x5555_5555_a000;

/// brk grows one heap VMA in place, shrinks it, and reports the old break on failure.
#[test]
fn brk_grow_and_shrink() {
    let mut mm = AddressSpace::new();
    mm.set_brk_base(HEAP);
    assert_eq!(mm.brk(0), HEAP);
    // The first byte needs a page; more bytes within that page only move the break.
    assert_eq!(mm.brk(HEAP + 0x10), HEAP + 0x10);
    assert_eq!(ranges(&mm), [(HEAP, HEAP + 0x1000)]);
    assert_eq!(mm.brk(HEAP + 0xfff), HEAP + 0xfff);
    assert_eq!(ranges(&mm), [(HEAP, HEAP + 0x1000)]);
    assert_eq!(mm.brk(HEAP + 0x21000), HEAP + 0x21000);
    assert_eq!(ranges(&mm), [(HEAP, HEAP + 0x21000)]);
    assert_eq!(mm.brk(HEAP + 0x42123), HEAP + 0x42123);
    assert_eq!(ranges(&mm), [(HEAP, HEAP + 0x43000)]);
    let heap = mm.vma_lookup(HEAP).unwrap();
    assert_eq!(heap.pgoff(), HEAP >> 12);
    assert!(heap.flags().contains(VmFlags::ACCOUNT | VmFlags::MAYEXEC));
    assert!(mm.maps().to_string().contains("[heap]"));
    check(&mm);
    assert_eq!(mm.brk(HEAP + 0x1000), HEAP + 0x1000);
    assert_eq!(ranges(&mm), [(HEAP, HEAP + 0x1000)]);
    // Below the start: refused.
    assert_eq!(mm.brk(HEAP - 0x1000), HEAP + 0x1000);
    assert_eq!(mm.brk(HEAP), HEAP);
    assert_eq!(mm.map_count(), 0);
    check(&mm);
}

/// brk stops a page (plus the stack guard gap) short of the next mapping, and does not
/// merge with a VMA that ends at the brk start.
#[test]
fn brk_collisions() {
    let mut mm = AddressSpace::new();
    mm.set_brk_base(HEAP);
    mm.mmap(HEAP + 0x10000, 0x1000, RW, FIXED, None, 0).unwrap();
    assert_eq!(mm.brk(HEAP + 0xf000), HEAP + 0xf000);
    assert_eq!(mm.brk(HEAP + 0xf001), HEAP + 0xf000);
    check(&mm);
    // A stack needs its 1 MiB gap too.
    let mut mm = AddressSpace::new();
    mm.set_brk_base(HEAP);
    mm.mmap(
        HEAP + 0x20_0000,
        0x1000,
        RW,
        FIXED | MapFlags::GROWSDOWN,
        None,
        0,
    )
    .unwrap();
    assert_eq!(mm.brk(HEAP + 0xff000), HEAP + 0xff000);
    assert_eq!(mm.brk(HEAP + 0x10_0000), HEAP + 0xff000);
    // A data VMA ending exactly at the brk start stays separate from the heap, although the
    // two are compatible (M6 tolerates the pair, as Linux leaves it).
    let mut mm = AddressSpace::new();
    mm.mmap(HEAP - 0x2000, 0x2000, RW, FIXED, None, 0).unwrap();
    mm.set_brk_base(HEAP);
    mm.brk(HEAP + 0x1000);
    assert_eq!(mm.map_count(), 2);
    check(&mm);
    mm.brk(HEAP + 0x3000);
    assert_eq!(ranges(&mm), [(HEAP - 0x2000, HEAP), (HEAP, HEAP + 0x3000)]);
    check(&mm);
    // Shrinking with nothing mapped in the freed range fails.
    let mut mm = AddressSpace::new();
    mm.set_brk_base(HEAP);
    mm.brk(HEAP + 0x3000);
    mm.munmap(HEAP, 0x3000).unwrap();
    assert_eq!(mm.brk(HEAP), HEAP + 0x3000);
    // RLIMIT_DATA.
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_data: 0x2000,
        ..AddressSpaceConfig::default()
    });
    mm.set_brk_base(HEAP);
    assert_eq!(mm.brk(HEAP + 0x3000), HEAP);
    assert_eq!(mm.brk(HEAP + 0x2000), HEAP + 0x2000);
    check(&mm);
}

/// brk at max_map_count: growth that needs a new VMA may still go one over the limit.
#[test]
fn brk_map_count() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        max_map_count: 1,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x1000, RW, FIXED, None, 0).unwrap();
    mm.set_brk_base(HEAP);
    assert_eq!(mm.brk(HEAP + 0x1000), HEAP + 0x1000);
    assert_eq!(mm.map_count(), 2);
    // Extending the heap needs no new VMA, but the check comes first.
    assert_eq!(mm.brk(HEAP + 0x2000), HEAP + 0x1000);
    check(&mm);
}

/// mremap shrinks in place, grows in place (merging with the next VMA), and moves when it
/// cannot grow.
#[test]
fn mremap_resize() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    assert_eq!(
        mm.mremap(0x10000, 0x4000, 0x2000, MremapFlags::empty(), 0),
        Ok(0x10000)
    );
    assert_eq!(ranges(&mm), [(0x10000, 0x12000)]);
    // Grow in place.
    assert_eq!(
        mm.mremap(0x10000, 0x2000, 0x3000, MremapFlags::empty(), 0),
        Ok(0x10000)
    );
    assert_eq!(ranges(&mm), [(0x10000, 0x13000)]);
    // Grow into a compatible next VMA's boundary: the two merge.
    mm.mmap(0x15000, 0x1000, RW, FIXED, None, 0).unwrap();
    assert_eq!(
        mm.mremap(0x10000, 0x3000, 0x5000, MremapFlags::empty(), 0),
        Ok(0x10000)
    );
    assert_eq!(ranges(&mm), [(0x10000, 0x16000)]);
    check(&mm);
    // Blocked: ENOMEM without MAYMOVE, a move with it.
    mm.mmap(0x16000, 0x1000, Prot::READ, FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.mremap(0x10000, 0x6000, 0x8000, MremapFlags::empty(), 0),
        Err(Errno::NoMem)
    );
    let moved = mm.mremap(0x10000, 0x6000, 0x8000, MAYMOVE, 0).unwrap();
    assert_ne!(moved, 0x10000);
    assert_eq!(mm.vma_lookup(moved).unwrap().len(), 0x8000);
    assert!(mm.vma_lookup(0x10000).is_none());
    // Never faulted: the moved VMA takes its new address as page offset.
    assert_eq!(mm.vma_lookup(moved).unwrap().pgoff(), moved >> 12);
    check(&mm);
    // Same size without flags: nothing to do.
    assert_eq!(
        mm.mremap(moved, 0x8000, 0x8000, MremapFlags::empty(), 0),
        Ok(moved)
    );
}

/// A faulted anonymous VMA keeps its page offset when moved, so it does not merge with a
/// fresh neighbour at the destination; a never-faulted one does.
#[test]
fn mremap_move_merges() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x20000, 0x2000, RW, FIXED, None, 0).unwrap();
    mm.mmap(0x40000, 0x2000, RW, FIXED, None, 0).unwrap();
    let fixed = MAYMOVE | MremapFlags::FIXED;
    assert_eq!(
        mm.mremap(0x40000, 0x2000, 0x2000, fixed, 0x22000),
        Ok(0x22000)
    );
    assert_eq!(ranges(&mm), [(0x20000, 0x24000)]);
    check(&mm);
    mm.mmap(0x40000, 0x2000, RW, FIXED, None, 0).unwrap();
    mm.fault(0x40000, true).unwrap();
    assert_eq!(
        mm.mremap(0x40000, 0x2000, 0x2000, fixed, 0x24000),
        Ok(0x24000)
    );
    assert_eq!(mm.map_count(), 2);
    assert_eq!(mm.vma_lookup(0x24000).unwrap().pgoff(), 0x40);
    check(&mm);
}

/// MREMAP_FIXED replaces what is at the target; a shrinking fixed move unmaps the source's
/// tail first.
#[test]
fn mremap_fixed() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    mm.mmap(0x30000, 0x4000, Prot::READ, FIXED, None, 0)
        .unwrap();
    let fixed = MAYMOVE | MremapFlags::FIXED;
    assert_eq!(
        mm.mremap(0x10000, 0x4000, 0x2000, fixed, 0x31000),
        Ok(0x31000)
    );
    assert_eq!(
        ranges(&mm),
        [(0x30000, 0x31000), (0x31000, 0x33000), (0x33000, 0x34000)]
    );
    assert_eq!(mm.vma_lookup(0x31000).unwrap().perms(), "rw-p");
    check(&mm);
    // Growing to a fixed address.
    assert_eq!(
        mm.mremap(0x31000, 0x2000, 0x6000, fixed, 0x50000),
        Ok(0x50000)
    );
    assert_eq!(mm.vma_lookup(0x50000).unwrap().end(), 0x56000);
    check(&mm);
}

/// An equal-length fixed move may span several VMAs; they keep the gaps between them.
#[test]
fn mremap_multi_vma_move() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x2000, RW, FIXED, None, 0).unwrap();
    mm.mmap(0x13000, 0x1000, Prot::READ, FIXED, None, 0)
        .unwrap();
    mm.mmap(0x15000, 0x2000, RW, FIXED, None, 0).unwrap();
    let fixed = MAYMOVE | MremapFlags::FIXED;
    assert_eq!(
        mm.mremap(0x11000, 0x5000, 0x5000, fixed, 0x40000),
        Ok(0x40000)
    );
    assert_eq!(
        ranges(&mm),
        [
            (0x10000, 0x11000),
            (0x16000, 0x17000),
            (0x40000, 0x41000),
            (0x42000, 0x43000),
            (0x44000, 0x45000)
        ]
    );
    check(&mm);
    // A gap at the start of the range is EFAULT.
    assert_eq!(
        mm.mremap(0x41000, 0x2000, 0x2000, fixed, 0x60000),
        Err(Errno::Fault)
    );
}

/// MREMAP_DONTUNMAP moves the pages and leaves the source VMA, unlocked and (if it moved
/// whole) without its anon_vma.
#[test]
fn mremap_dontunmap() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x2000, RW, FIXED | MapFlags::LOCKED, None, 0)
        .unwrap();
    mm.fault(0x10000, true).unwrap();
    let flags = MAYMOVE | MremapFlags::DONTUNMAP;
    let to = mm.mremap(0x10000, 0x2000, 0x2000, flags, 0).unwrap();
    assert_ne!(to, 0x10000);
    let src = mm.vma_lookup(0x10000).unwrap();
    assert!(!src.flags().contains(VmFlags::LOCKED));
    assert!(src.anon_vma().is_none());
    let dst = mm.vma_lookup(to).unwrap();
    assert!(dst.flags().contains(VmFlags::LOCKED));
    assert!(dst.anon_vma().is_some());
    check(&mm);
    // With a hint, and with a fixed target.
    let hinted = mm
        .mremap(0x10000, 0x1000, 0x1000, flags, 0x7000_0000)
        .unwrap();
    assert_eq!(hinted, 0x7000_0000);
    assert_eq!(
        mm.mremap(
            0x11000,
            0x1000,
            0x1000,
            flags | MremapFlags::FIXED,
            0x7100_0000
        ),
        Ok(0x7100_0000)
    );
    check(&mm);
}

/// Shared mappings may be duplicated with old_len == 0.
#[test]
fn mremap_duplicate_shared() {
    let mut mm = AddressSpace::new();
    let shared = MapFlags::SHARED | MapFlags::ANONYMOUS;
    let a = mm.mmap(0, 0x2000, RW, shared, None, 0).unwrap();
    let dup = mm.mremap(a, 0, 0x2000, MAYMOVE, 0).unwrap();
    assert_ne!(dup, a);
    assert_eq!(mm.map_count(), 2);
    assert_eq!(
        mm.vma_lookup(a).unwrap().file().unwrap().id(),
        mm.vma_lookup(dup).unwrap().file().unwrap().id()
    );
    check(&mm);
}

/// Every mremap argument and state error.
#[test]
fn mremap_errors() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    let dev = Arc::new(File::new(FileId(1)).with_mmap_flags(VmFlags::DONTEXPAND));
    mm.mmap(
        0x30000,
        0x1000,
        RW,
        MapFlags::SHARED | MapFlags::FIXED,
        Some(&dev),
        0,
    )
    .unwrap();
    let none = MremapFlags::empty();
    let fixed = MAYMOVE | MremapFlags::FIXED;
    let task = mm.config().task_size;
    let cases = [
        (
            mm.mremap(0x10000, 0x1000, 0x2000, MremapFlags::from_bits(8), 0),
            Errno::Inval,
        ),
        (mm.mremap(0x10001, 0x1000, 0x2000, none, 0), Errno::Inval),
        (mm.mremap(0x10000, 0x1000, 0, none, 0), Errno::Inval),
        (
            mm.mremap(0x10000, 0x1000, task + 0x1000, none, 0),
            Errno::Inval,
        ),
        (
            mm.mremap(0x10000, 0x1000, 0x1000, MremapFlags::FIXED, 0x50000),
            Errno::Inval,
        ),
        (
            mm.mremap(0x10000, 0x1000, 0x1000, fixed, 0x50001),
            Errno::Inval,
        ),
        (
            mm.mremap(0x10000, 0x1000, 0x1000, fixed, task),
            Errno::Inval,
        ),
        (
            mm.mremap(0x10000, 0x2000, 0x2000, fixed, 0x11000),
            Errno::Inval,
        ),
        (
            mm.mremap(0x10000, 0x1000, 0x2000, MAYMOVE | MremapFlags::DONTUNMAP, 0),
            Errno::Inval,
        ),
        (mm.mremap(0x20000, 0x1000, 0x2000, MAYMOVE, 0), Errno::Fault),
        (mm.mremap(0x12000, 0x4000, 0x5000, MAYMOVE, 0), Errno::Fault),
        (mm.mremap(0x10000, 0, 0x2000, MAYMOVE, 0), Errno::Inval),
        (mm.mremap(0x30000, 0x1000, 0x2000, MAYMOVE, 0), Errno::Fault),
        (
            mm.mremap(0x30000, 0x1000, 0x1000, MAYMOVE | MremapFlags::DONTUNMAP, 0),
            Errno::Inval,
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, Err(want), "case {i}");
    }
    assert_eq!(ranges(&mm), [(0x10000, 0x14000), (0x30000, 0x31000)]);
    check(&mm);
}

/// mremap's margins below max_map_count: a move needs three spare VMAs, and a fixed or
/// don't-unmap request five.
#[test]
fn mremap_map_count() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        max_map_count: 6,
        ..AddressSpaceConfig::default()
    });
    for i in 0..3u64 {
        let prot = if i % 2 == 0 { RW } else { Prot::READ };
        mm.mmap(0x10000 + i * 0x1000, 0x1000, prot, FIXED, None, 0)
            .unwrap();
    }
    let fixed = MAYMOVE | MremapFlags::FIXED;
    // map_count 3: 3 + 2 >= 6 - 3.
    assert_eq!(
        mm.mremap(0x10000, 0x1000, 0x1000, fixed, 0x50000),
        Err(Errno::NoMem)
    );
    // 3 >= 6 - 3: a plain move is refused too.
    mm.mmap(0x13000, 0x1000, Prot::NONE, FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.mremap(0x12000, 0x1000, 0x3000, MAYMOVE, 0),
        Err(Errno::NoMem)
    );
    // In-place growth needs no margin.
    mm.munmap(0x13000, 0x1000).unwrap();
    assert_eq!(mm.mremap(0x12000, 0x1000, 0x3000, MAYMOVE, 0), Ok(0x12000));
    check(&mm);
}

/// A locked mapping grows only within RLIMIT_MEMLOCK (EAGAIN); RLIMIT_AS bounds growth
/// (ENOMEM).
#[test]
fn mremap_limits() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_memlock: 0x3000,
        rlimit_as: 0x6000,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x2000, RW, FIXED | MapFlags::LOCKED, None, 0)
        .unwrap();
    assert_eq!(
        mm.mremap(0x10000, 0x2000, 0x4000, MAYMOVE, 0),
        Err(Errno::Again)
    );
    mm.mmap(0x20000, 0x2000, RW, FIXED, None, 0).unwrap();
    assert_eq!(
        mm.mremap(0x20000, 0x2000, 0x6000, MAYMOVE, 0),
        Err(Errno::NoMem)
    );
    assert_eq!(mm.mremap(0x20000, 0x2000, 0x4000, MAYMOVE, 0), Ok(0x20000));
    check(&mm);
}

/// File mappings keep their file and offset when moved.
#[test]
fn mremap_file() {
    let mut mm = AddressSpace::new();
    let f = Arc::new(File::new(FileId(4)));
    mm.mmap(
        0x10000,
        0x3000,
        Prot::READ,
        MapFlags::PRIVATE | MapFlags::FIXED,
        Some(&f),
        0x5000,
    )
    .unwrap();
    mm.mmap(0x13000, 0x1000, Prot::NONE, FIXED, None, 0)
        .unwrap();
    let to = mm.mremap(0x11000, 0x2000, 0x4000, MAYMOVE, 0).unwrap();
    let v = mm.vma_lookup(to).unwrap();
    assert_eq!((v.pgoff(), v.file().unwrap().id()), (6, FileId(4)));
    assert_eq!(ranges(&mm)[0], (0x10000, 0x11000));
    check(&mm);
    let _ = ANON;
}
