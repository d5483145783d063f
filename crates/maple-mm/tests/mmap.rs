//! `mmap` scenarios: placement (top-down, hints, fixed, THP alignment, guard gaps, fallback),
//! merging of new mappings, and every error path, with the invariants checked after each step.

use std::sync::Arc;

use maple_mm::{AddressSpace, AddressSpaceConfig, Errno, File, FileId, MapFlags, Prot, VmFlags};

const ANON: MapFlags = MapFlags::from_bits(0x22); // MAP_PRIVATE | MAP_ANONYMOUS
const RW: Prot = Prot::from_bits(3);
const BASE: u64 = 0x7fff_f7ff_f000; // mmap_base of the default configuration

/// Runs `check_invariants` and panics with the layout if it fails.
fn check(mm: &AddressSpace) {
    if let Err(e) = mm.check_invariants() {
        panic!("{e}\n{}", mm.maps());
    }
}

/// Every VMA as `(start, end)`.
fn ranges(mm: &AddressSpace) -> Vec<(u64, u64)> {
    mm.iter().map(|v| (v.start(), v.end())).collect()
}

fn file(id: u64) -> Arc<File> {
    Arc::new(File::new(FileId(id)).with_name(format!("/lib/f{id}.so")))
}

/// Anonymous mappings without a hint go top-down below mmap_base, each right below the
/// previous, and merge into one VMA.
#[test]
fn anonymous_top_down_and_merge() {
    let mut mm = AddressSpace::new();
    let a = mm.mmap(0, 0x1000, RW, ANON, None, 0).unwrap();
    assert_eq!(a, BASE - 0x1000);
    let b = mm.mmap(0, 0x3000, RW, ANON, None, 0).unwrap();
    assert_eq!(b, a - 0x3000);
    assert_eq!(ranges(&mm), [(b, BASE)]);
    let v = mm.vma_lookup(b).unwrap();
    assert_eq!(v.pgoff(), b >> 12);
    assert_eq!(
        v.flags(),
        VmFlags::READ
            | VmFlags::WRITE
            | VmFlags::MAYREAD
            | VmFlags::MAYWRITE
            | VmFlags::MAYEXEC
            | VmFlags::ACCOUNT
    );
    check(&mm);
    // Different protection: a neighbour, not a merge.
    let c = mm.mmap(0, 0x1000, Prot::READ, ANON, None, 0).unwrap();
    assert_eq!(c, b - 0x1000);
    assert_eq!(mm.map_count(), 2);
    check(&mm);
}

/// A free hint is taken as is; a hint below mmap_min_addr is raised to it; a hint that
/// overlaps a mapping is ignored.
#[test]
fn hints() {
    let mut mm = AddressSpace::new();
    assert_eq!(
        mm.mmap(0x1000_0000, 0x2000, RW, ANON, None, 0),
        Ok(0x1000_0000)
    );
    assert_eq!(
        mm.mmap(0x1000_1000, 0x1000, RW, ANON, None, 0),
        Ok(BASE - 0x1000)
    );
    // Below mmap_min_addr (4 KiB by default; 64 KiB here).
    let mut mm2 = AddressSpace::with_config(AddressSpaceConfig {
        mmap_min_addr: 0x10000,
        ..AddressSpaceConfig::default()
    });
    assert_eq!(mm2.mmap(0x2000, 0x1000, RW, ANON, None, 0), Ok(0x10000));
    // Unaligned hints are rounded down.
    assert_eq!(
        mm.mmap(0x2000_0123, 0x1000, RW, ANON, None, 0),
        Ok(0x2000_0000)
    );
    // A hint whose range would cross the task size is ignored.
    let top = mm.config().task_size - 0x1000;
    assert_ne!(mm.mmap(top, 0x2000, RW, ANON, None, 0), Ok(top));
    check(&mm);
    check(&mm2);
}

/// MAP_FIXED replaces what is there: a hole in the middle of one VMA, and a range spanning
/// several VMAs and gaps, in one atomic change.
#[test]
fn fixed_replaces() {
    let mut mm = AddressSpace::new();
    let fixed = ANON | MapFlags::FIXED;
    mm.mmap(0x10000, 0x8000, RW, fixed, None, 0).unwrap();
    mm.mmap(0x13000, 0x2000, Prot::READ, fixed, None, 0)
        .unwrap();
    assert_eq!(
        ranges(&mm),
        [(0x10000, 0x13000), (0x13000, 0x15000), (0x15000, 0x18000)]
    );
    // The tail piece keeps offsets continuous.
    assert_eq!(mm.vma_lookup(0x15000).unwrap().pgoff(), 0x15);
    check(&mm);
    // Mapping back the same protection merges everything again.
    mm.mmap(0x13000, 0x2000, RW, fixed, None, 0).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x18000)]);
    check(&mm);
    // Spanning: [0x20000, 0x22000) [0x24000, 0x26000) then fixed over [0x21000, 0x25000).
    mm.mmap(0x20000, 0x2000, Prot::READ, fixed, None, 0)
        .unwrap();
    mm.mmap(0x24000, 0x2000, Prot::READ, fixed, None, 0)
        .unwrap();
    mm.mmap(0x21000, 0x4000, Prot::NONE, fixed, None, 0)
        .unwrap();
    assert_eq!(
        ranges(&mm),
        [
            (0x10000, 0x18000),
            (0x20000, 0x21000),
            (0x21000, 0x25000),
            (0x25000, 0x26000)
        ]
    );
    check(&mm);
}

/// MAP_FIXED_NOREPLACE fails with EEXIST over any mapping and succeeds in a free range.
#[test]
fn fixed_noreplace() {
    let mut mm = AddressSpace::new();
    let noreplace = ANON | MapFlags::FIXED_NOREPLACE;
    assert_eq!(
        mm.mmap(0x40000, 0x2000, RW, noreplace, None, 0),
        Ok(0x40000)
    );
    assert_eq!(
        mm.mmap(0x41000, 0x2000, RW, noreplace, None, 0),
        Err(Errno::Exist)
    );
    assert_eq!(
        mm.mmap(0x3f000, 0x2000, RW, noreplace, None, 0),
        Err(Errno::Exist)
    );
    assert_eq!(
        mm.mmap(0x42000, 0x1000, RW, noreplace, None, 0),
        Ok(0x42000)
    );
    assert_eq!(ranges(&mm), [(0x40000, 0x43000)]);
    check(&mm);
}

/// Anonymous mappings of a multiple of 2 MiB without a hint land on 2 MiB boundaries; other
/// sizes, hints and file mappings do not.
#[test]
fn thp_alignment() {
    let mut mm = AddressSpace::new();
    let a = mm.mmap(0, 0x1000, RW, ANON, None, 0).unwrap();
    let big = mm.mmap(0, 4 << 20, RW, ANON, None, 0).unwrap();
    assert_eq!(big % (2 << 20), 0);
    assert!(big + (4 << 20) <= a);
    let odd = mm.mmap(0, (2 << 20) + 0x1000, RW, ANON, None, 0).unwrap();
    assert_ne!(odd % (2 << 20), 0);
    // Without THP, no alignment.
    let mut plain = AddressSpace::with_config(AddressSpaceConfig {
        thp: false,
        ..AddressSpaceConfig::default()
    });
    assert_eq!(
        plain.mmap(0, 4 << 20, RW, ANON, None, 0),
        Ok(BASE - (4 << 20))
    );
    check(&mm);
}

/// Shared anonymous mappings get their own shmem file and never merge; their offset is 0.
#[test]
fn shared_anonymous() {
    let mut mm = AddressSpace::new();
    let shared = MapFlags::SHARED | MapFlags::ANONYMOUS;
    let a = mm.mmap(0, 0x1000, RW, shared, None, 0).unwrap();
    let b = mm.mmap(0, 0x1000, RW, shared, None, 0).unwrap();
    assert_eq!(b, a - 0x1000);
    assert_eq!(mm.map_count(), 2);
    let (va, vb) = (mm.vma_lookup(a).unwrap(), mm.vma_lookup(b).unwrap());
    assert_ne!(va.file().unwrap().id(), vb.file().unwrap().id());
    assert_eq!(va.pgoff(), 0);
    assert!(va.flags().contains(VmFlags::SHARED | VmFlags::MAYSHARE));
    assert!(!va.flags().contains(VmFlags::ACCOUNT));
    assert!(mm.maps().to_string().contains("/dev/zero (deleted)"));
    check(&mm);
}

/// File mappings merge only with the same file at contiguous offsets.
#[test]
fn file_mappings_merge_by_offset() {
    let mut mm = AddressSpace::new();
    let lib = file(3);
    let private = MapFlags::PRIVATE | MapFlags::FIXED;
    mm.mmap(0x50000, 0x2000, Prot::READ, private, Some(&lib), 0)
        .unwrap();
    // Contiguous offset: merges.
    mm.mmap(0x52000, 0x1000, Prot::READ, private, Some(&lib), 0x2000)
        .unwrap();
    assert_eq!(ranges(&mm), [(0x50000, 0x53000)]);
    // Gap in the offsets: no merge.
    mm.mmap(0x53000, 0x1000, Prot::READ, private, Some(&lib), 0x8000)
        .unwrap();
    // Another open of "the same" file: no merge.
    let other = file(4);
    mm.mmap(0x54000, 0x1000, Prot::READ, private, Some(&other), 0x9000)
        .unwrap();
    assert_eq!(mm.map_count(), 3);
    let v = mm.vma_lookup(0x52000).unwrap();
    assert_eq!((v.pgoff(), v.file().unwrap().id()), (0, FileId(3)));
    assert!(mm.maps().to_string().contains("/lib/f3.so"));
    check(&mm);
}

/// A read-only file mapped shared loses VM_MAYWRITE and VM_SHARED (VM_MAYSHARE stays).
#[test]
fn shared_read_only_file() {
    let mut mm = AddressSpace::new();
    let ro = Arc::new(File::new(FileId(7)).read_only());
    let a = mm
        .mmap(0, 0x1000, Prot::READ, MapFlags::SHARED, Some(&ro), 0)
        .unwrap();
    let flags = mm.vma_lookup(a).unwrap().flags();
    assert!(flags.contains(VmFlags::MAYSHARE));
    assert!(!flags.intersects(VmFlags::SHARED | VmFlags::MAYWRITE));
    assert_eq!(mm.vma_lookup(a).unwrap().perms(), "r--s");
    check(&mm);
}

/// A driver's mmap hook that adds special flags: the VMA gets them and never merges.
#[test]
fn driver_hook_flags() {
    let mut mm = AddressSpace::new();
    let dev = Arc::new(File::new(FileId(9)).with_mmap_flags(VmFlags::IO | VmFlags::DONTEXPAND));
    let shared = MapFlags::SHARED | MapFlags::FIXED;
    mm.mmap(0x60000, 0x1000, RW, shared, Some(&dev), 0).unwrap();
    mm.mmap(0x61000, 0x1000, RW, shared, Some(&dev), 0x1000)
        .unwrap();
    assert_eq!(mm.map_count(), 2);
    assert!(
        mm.vma_lookup(0x60000)
            .unwrap()
            .flags()
            .contains(VmFlags::IO)
    );
    // MAP_LOCKED is dropped on special mappings.
    let locked = shared | MapFlags::LOCKED;
    mm.mmap(0x70000, 0x1000, RW, locked, Some(&dev), 0).unwrap();
    assert!(
        !mm.vma_lookup(0x70000)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKED)
    );
    check(&mm);
}

/// A file mapping whose hook adds a mergeable flag is merged after all (the retried merge).
#[test]
fn driver_hook_retry_merge() {
    let mut mm = AddressSpace::new();
    let f = Arc::new(File::new(FileId(11)).with_mmap_flags(VmFlags::DONTDUMP));
    let fixed = MapFlags::PRIVATE | MapFlags::FIXED;
    mm.mmap(0x80000, 0x1000, Prot::READ, fixed, Some(&f), 0)
        .unwrap();
    mm.mmap(0x81000, 0x1000, Prot::READ, fixed, Some(&f), 0x1000)
        .unwrap();
    assert_eq!(ranges(&mm), [(0x80000, 0x82000)]);
    check(&mm);
}

/// New mappings keep the stack guard gap (1 MiB) below a growsdown VMA: the top-down search
/// skips the gap, and a hint inside it is refused.
#[test]
fn stack_guard_gap() {
    let mut mm = AddressSpace::new();
    let stack = ANON | MapFlags::GROWSDOWN | MapFlags::FIXED;
    let top = BASE + 0x10_0000;
    // A stack just above mmap_base... whose guard gap reaches below it.
    mm.mmap(BASE, 0x1000, RW, stack, None, 0).unwrap();
    let a = mm.mmap(0, 0x1000, RW, ANON, None, 0).unwrap();
    assert_eq!(a, BASE - 0x10_0000 - 0x1000);
    // A hint in the gap is refused.
    let hinted = mm.mmap(BASE - 0x2000, 0x1000, RW, ANON, None, 0).unwrap();
    assert_ne!(hinted, BASE - 0x2000);
    // MAP_FIXED may go there.
    assert_eq!(
        mm.mmap(BASE - 0x1000, 0x1000, RW, ANON | MapFlags::FIXED, None, 0),
        Ok(BASE - 0x1000)
    );
    assert!(top > BASE);
    check(&mm);
}

/// When the top-down window is full, the search falls back to bottom-up above
/// mmap_legacy_base.
#[test]
fn bottom_up_fallback() {
    let config = AddressSpaceConfig {
        mmap_base: 0x10_0000,
        mmap_legacy_base: 0x4000_0000,
        ..AddressSpaceConfig::default()
    };
    let mut mm = AddressSpace::with_config(config);
    // The whole window below mmap_base, [4 KiB, 1 MiB), is free: top-down.
    assert_eq!(mm.mmap(0, 0x8_0000, RW, ANON, None, 0), Ok(0x8_0000));
    // Too big for what is left: bottom-up from the legacy base.
    assert_eq!(mm.mmap(0, 0x10_0000, RW, ANON, None, 0), Ok(0x4000_0000));
    assert_eq!(
        mm.mmap(0, 0x10_0000, Prot::READ, ANON, None, 0),
        Ok(0x4010_0000)
    );
    // A bottom-up layout starts there directly.
    let mut up = AddressSpace::with_config(AddressSpaceConfig {
        top_down: false,
        ..AddressSpaceConfig::default()
    });
    let legacy = up.config().mmap_legacy_base;
    assert_eq!(up.mmap(0, 0x1000, RW, ANON, None, 0), Ok(legacy));
    assert_eq!(
        up.mmap(0, 0x1000, Prot::READ, ANON, None, 0),
        Ok(legacy + 0x1000)
    );
    check(&mm);
    check(&up);
}

/// MAP_32BIT searches [1 GiB, 2 GiB) bottom-up; MAP_ABOVE4G keeps top-down above 4 GiB.
#[test]
fn map_32bit_and_above4g() {
    let mut mm = AddressSpace::new();
    assert_eq!(
        mm.mmap(0, 0x1000, RW, ANON | MapFlags::BIT32, None, 0),
        Ok(0x4000_0000)
    );
    let cfg = AddressSpaceConfig {
        mmap_base: 0x2_0000_0000,
        ..AddressSpaceConfig::default()
    };
    let mut mm = AddressSpace::with_config(cfg);
    mm.mmap(
        0x1_0000_0000,
        0x1_0000_0000,
        RW,
        ANON | MapFlags::FIXED,
        None,
        0,
    )
    .unwrap();
    // The window [4 GiB, 8 GiB) is now full: MAP_ABOVE4G falls back to bottom-up.
    let got = mm
        .mmap(0, 0x1000, RW, ANON | MapFlags::ABOVE4G, None, 0)
        .unwrap();
    assert_eq!(got, mm.config().mmap_legacy_base);
    check(&mm);
}

/// map_count: mmap checks `map_count > max_map_count`, so one VMA more than the limit may
/// exist; then every mmap fails, and so does a fixed mapping punching a hole.
#[test]
fn map_count_limit() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        max_map_count: 4,
        ..AddressSpaceConfig::default()
    });
    let mut protect = [Prot::READ, Prot::NONE].into_iter().cycle();
    for _ in 0..5 {
        mm.mmap(0, 0x1000, protect.next().unwrap(), ANON, None, 0)
            .unwrap();
    }
    assert_eq!(mm.map_count(), 5);
    assert_eq!(mm.mmap(0, 0x1000, RW, ANON, None, 0), Err(Errno::NoMem));
    check(&mm);
    // At the limit exactly (4), a hole punched by MAP_FIXED is refused.
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        max_map_count: 2,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x3000, RW, ANON | MapFlags::FIXED, None, 0)
        .unwrap();
    mm.mmap(0x20000, 0x1000, RW, ANON | MapFlags::FIXED, None, 0)
        .unwrap();
    assert_eq!(
        mm.mmap(0x11000, 0x1000, Prot::READ, ANON | MapFlags::FIXED, None, 0),
        Err(Errno::NoMem)
    );
    assert_eq!(ranges(&mm), [(0x10000, 0x13000), (0x20000, 0x21000)]);
    check(&mm);
}

/// Every argument error of mmap, each leaving the address space unchanged.
#[test]
fn argument_errors() {
    let mut mm = AddressSpace::new();
    let f = file(5);
    let ro = Arc::new(File::new(FileId(6)).read_only());
    let wo = Arc::new(File::new(FileId(8)).write_only());
    let noexec = Arc::new(File::new(FileId(10)).noexec());
    let fixed = ANON | MapFlags::FIXED;
    let shared = MapFlags::SHARED;
    let cases: Vec<(Result<u64, Errno>, Errno)> = vec![
        (mm.mmap(0, 0, RW, ANON, None, 0), Errno::Inval),
        (
            mm.mmap(0, 0x1000, RW, MapFlags::PRIVATE, Some(&f), 0x123),
            Errno::Inval,
        ),
        (mm.mmap(0, u64::MAX, RW, ANON, None, 0), Errno::NoMem),
        (mm.mmap(0, 1 << 48, RW, ANON, None, 0), Errno::NoMem),
        (
            mm.mmap(0, 0x2000, RW, MapFlags::PRIVATE, Some(&f), u64::MAX - 0xfff),
            Errno::Overflow,
        ),
        (mm.mmap(0x1001, 0x1000, RW, fixed, None, 0), Errno::Inval),
        (mm.mmap(0, 0x1000, RW, fixed, None, 0), Errno::Perm),
        (
            mm.mmap(0x7fff_ffff_f000, 0x2000, RW, fixed, None, 0),
            Errno::NoMem,
        ),
        (
            mm.mmap(0, 0x1000, RW, MapFlags::PRIVATE, None, 0),
            Errno::BadF,
        ),
        (mm.mmap(0, 0x1000, RW, shared, Some(&ro), 0), Errno::Access),
        (
            mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE, Some(&wo), 0),
            Errno::Access,
        ),
        (
            mm.mmap(0, 0x1000, Prot::EXEC, MapFlags::PRIVATE, Some(&noexec), 0),
            Errno::Perm,
        ),
        (
            mm.mmap(
                0,
                0x1000,
                RW,
                MapFlags::PRIVATE | MapFlags::GROWSDOWN,
                Some(&f),
                0,
            ),
            Errno::Inval,
        ),
        (
            mm.mmap(0, 0x1000, RW, MapFlags::ANONYMOUS, None, 0),
            Errno::Inval,
        ),
        (
            mm.mmap(
                0,
                0x1000,
                RW,
                MapFlags::SHARED_VALIDATE | MapFlags::ANONYMOUS,
                None,
                0,
            ),
            Errno::Inval,
        ),
        (
            mm.mmap(
                0,
                0x1000,
                RW,
                MapFlags::SHARED_VALIDATE | MapFlags::SYNC,
                Some(&f),
                0,
            ),
            Errno::OpNotSupp,
        ),
        (
            mm.mmap(
                0,
                0x1000,
                RW,
                MapFlags::SHARED | MapFlags::ANONYMOUS | MapFlags::GROWSDOWN,
                None,
                0,
            ),
            Errno::Inval,
        ),
        (
            mm.mmap(
                0,
                0x1000,
                RW,
                MapFlags::DROPPABLE | MapFlags::ANONYMOUS | MapFlags::LOCKED,
                None,
                0,
            ),
            Errno::Inval,
        ),
        (
            mm.mmap(0, 0x20_0000, RW, ANON | MapFlags::HUGETLB, None, 0),
            Errno::NoMem,
        ),
        (
            mm.mmap(
                0,
                0x20_0000,
                RW,
                ANON | MapFlags::HUGETLB | MapFlags::from_bits(5 << 26),
                None,
                0,
            ),
            Errno::Inval,
        ),
        (
            mm.mmap(
                0,
                0x1000,
                RW,
                MapFlags::PRIVATE | MapFlags::HUGETLB,
                Some(&f),
                0,
            ),
            Errno::Inval,
        ),
        (
            mm.mmap(0, 0x1000, RW, MapFlags::DROPPABLE, Some(&f), 0),
            Errno::Inval,
        ),
    ];
    for (i, (got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, Err(want), "case {i}");
    }
    assert_eq!(mm.map_count(), 0);
    // MAP_SHARED (not _VALIDATE) ignores unknown flags.
    assert!(
        mm.mmap(
            0,
            0x1000,
            RW,
            MapFlags::SHARED | MapFlags::SYNC,
            Some(&f),
            0
        )
        .is_ok()
    );
    check(&mm);
}

/// Locking limits: MAP_LOCKED needs RLIMIT_MEMLOCK > 0 (EPERM), and the locked total must
/// stay under it (EAGAIN); with CAP_IPC_LOCK neither applies.
#[test]
fn lock_limits() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_memlock: 0,
        ..AddressSpaceConfig::default()
    });
    assert_eq!(
        mm.mmap(0, 0x1000, RW, ANON | MapFlags::LOCKED, None, 0),
        Err(Errno::Perm)
    );
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_memlock: 0x4000,
        ..AddressSpaceConfig::default()
    });
    let locked = ANON | MapFlags::LOCKED;
    mm.mmap(0, 0x3000, RW, locked, None, 0).unwrap();
    assert_eq!(mm.mmap(0, 0x2000, RW, locked, None, 0), Err(Errno::Again));
    assert_eq!(mm.locked_vm(), 3);
    let mut capable = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_memlock: 0,
        cap_ipc_lock: true,
        ..AddressSpaceConfig::default()
    });
    assert!(capable.mmap(0, 0x10000, RW, locked, None, 0).is_ok());
    check(&mm);
}

/// RLIMIT_AS and RLIMIT_DATA: mappings beyond them fail with ENOMEM; replaced pages count as
/// freed.
#[test]
fn address_space_limits() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_as: 0x4000,
        rlimit_data: 0x2000,
        ..AddressSpaceConfig::default()
    });
    mm.mmap(0x10000, 0x2000, RW, ANON | MapFlags::FIXED, None, 0)
        .unwrap();
    // Data (private writable) over the data limit.
    assert_eq!(mm.mmap(0, 0x1000, RW, ANON, None, 0), Err(Errno::NoMem));
    // Read-only is not data; the address-space limit still holds.
    mm.mmap(0, 0x2000, Prot::READ, ANON, None, 0).unwrap();
    assert_eq!(
        mm.mmap(0, 0x1000, Prot::READ, ANON, None, 0),
        Err(Errno::NoMem)
    );
    // Replacing mapped pages is fine.
    mm.mmap(0x10000, 0x2000, RW, ANON | MapFlags::FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.total_vm(), 4);
    check(&mm);
}

/// MAP_STACK sets VM_NOHUGEPAGE, so a thread stack does not merge with a plain neighbour;
/// MAP_NORESERVE drops the charge; MAP_DROPPABLE sets its flags.
#[test]
fn flag_translation() {
    let mut mm = AddressSpace::new();
    let a = mm.mmap(0, 0x1000, RW, ANON, None, 0).unwrap();
    let s = mm
        .mmap(0, 0x1000, RW, ANON | MapFlags::STACK, None, 0)
        .unwrap();
    assert_eq!(s, a - 0x1000);
    assert_eq!(mm.map_count(), 2);
    assert!(
        mm.vma_lookup(s)
            .unwrap()
            .flags()
            .contains(VmFlags::NOHUGEPAGE)
    );
    let n = mm
        .mmap(0, 0x1000, RW, ANON | MapFlags::NORESERVE, None, 0)
        .unwrap();
    let nf = mm.vma_lookup(n).unwrap().flags();
    assert!(nf.contains(VmFlags::NORESERVE) && !nf.contains(VmFlags::ACCOUNT));
    let d = mm
        .mmap(
            0,
            0x1000,
            RW,
            MapFlags::DROPPABLE | MapFlags::ANONYMOUS,
            None,
            0,
        )
        .unwrap();
    let df = mm.vma_lookup(d).unwrap().flags();
    assert!(df.contains(VmFlags::DROPPABLE | VmFlags::WIPEONFORK | VmFlags::DONTDUMP));
    assert_eq!(mm.vma_lookup(d).unwrap().pgoff(), d >> 12);
    check(&mm);
}
