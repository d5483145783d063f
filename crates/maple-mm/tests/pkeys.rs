//! Memory protection keys on both kinds of machine, whatever CPU runs the tests: without keys
//! (the answers of Linux 6.18 on an x86-64 CPU without PKU, checked with a C program on such a
//! machine), and with x86-64's 16 keys (as mm/mprotect.c and arch/x86/mm/pkeys.c decide).

use maple_mm::{AddressSpace, AddressSpaceConfig, Errno, MapFlags, Prot, VmFlags};

const ANON: MapFlags = MapFlags::from_bits(0x22); // MAP_PRIVATE | MAP_ANONYMOUS
const FIXED: MapFlags = MapFlags::from_bits(0x32); // ... | MAP_FIXED
const RW: Prot = Prot::from_bits(3);

fn check(mm: &AddressSpace) {
    if let Err(e) = mm.check_invariants() {
        panic!("{e}\n{}", mm.maps());
    }
}

fn keys(mm: &AddressSpace) -> Vec<(u64, u64, u32)> {
    mm.iter()
        .map(|v| (v.start(), v.end(), v.flags().pkey()))
        .collect()
}

fn with_pku() -> AddressSpace {
    AddressSpace::with_config(AddressSpaceConfig {
        pkeys: 16,
        ..AddressSpaceConfig::default()
    })
}

/// Without PKU every key but -1 is `EINVAL` (even key 0), before the range is looked at;
/// `pkey_alloc` and `pkey_free` fail with `EINVAL`; execute-only memory keeps key 0.
#[test]
fn without_keys_only_minus_one_is_valid() {
    let mut mm = AddressSpace::new();
    assert_eq!(mm.config().pkeys, 0);
    let a = mm.mmap(0x10000, 0x10000, RW, FIXED, None, 0).unwrap();
    for key in [-2, 0, 1, 5, 15, 16] {
        assert_eq!(
            mm.pkey_mprotect(a, 0x1000, Prot::READ, key),
            Err(Errno::Inval)
        );
    }
    assert_eq!(mm.map_count(), 1, "nothing changed");
    // A zero length returns before the key is checked; an unaligned start fails first; an
    // unmapped range with a bad key is EINVAL, with -1 ENOMEM.
    assert_eq!(mm.pkey_mprotect(a, 0, Prot::READ, 5), Ok(()));
    assert_eq!(
        mm.pkey_mprotect(a + 1, 0x1000, Prot::READ, 5),
        Err(Errno::Inval)
    );
    assert_eq!(
        mm.pkey_mprotect(0x1000, 0x1000, Prot::READ, 5),
        Err(Errno::Inval)
    );
    assert_eq!(
        mm.pkey_mprotect(0x1000, 0x1000, Prot::READ, -1),
        Err(Errno::NoMem)
    );
    mm.pkey_mprotect(a, 0x1000, Prot::READ, -1).unwrap();
    assert_eq!(mm.map_count(), 2);
    for (flags, rights) in [(0, 0), (1, 0), (0, 4)] {
        assert_eq!(mm.pkey_alloc(flags, rights), Err(Errno::Inval));
    }
    for key in [-1, 0, 1] {
        assert_eq!(mm.pkey_free(key), Err(Errno::Inval));
    }
    let x = mm.mmap(0, 0x1000, Prot::EXEC, ANON, None, 0).unwrap();
    assert_eq!(mm.vma_lookup(x).unwrap().flags().pkey(), 0);
    assert!(keys(&mm).iter().all(|&(_, _, k)| k == 0));
    check(&mm);
}

/// With PKU: keys are handed out lowest first until none is left; freed keys come back;
/// key 0 is allocated from the start (and can even be freed).
#[test]
fn with_keys_allocation() {
    let mut mm = with_pku();
    assert_eq!(mm.pkey_alloc(1, 0), Err(Errno::Inval));
    assert_eq!(mm.pkey_alloc(0, 4), Err(Errno::Inval));
    let got: Vec<u32> = (0..15).map(|_| mm.pkey_alloc(0, 3).unwrap()).collect();
    assert_eq!(got, (1..16).collect::<Vec<_>>());
    assert_eq!(mm.pkey_alloc(0, 0), Err(Errno::NoSpc));
    mm.pkey_free(7).unwrap();
    assert_eq!(mm.pkey_free(7), Err(Errno::Inval));
    assert_eq!(mm.pkey_free(16), Err(Errno::Inval));
    assert_eq!(mm.pkey_alloc(0, 0), Ok(7));
    mm.pkey_free(0).unwrap();
    let a = mm.mmap(0x10000, 0x2000, RW, FIXED, None, 0).unwrap();
    assert_eq!(mm.pkey_mprotect(a, 0x1000, RW, 0), Err(Errno::Inval));
    assert_eq!(mm.pkey_alloc(0, 0), Ok(0));
    mm.pkey_mprotect(a, 0x1000, RW, 0).unwrap();
    check(&mm);
}

/// With PKU the key is part of the VMA: a key change splits like a protection change, plain
/// mprotect keeps each VMA's key, and VMAs merge again only when the keys agree.
#[test]
fn with_keys_the_key_splits_and_merges() {
    let mut mm = with_pku();
    let a = mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    assert_eq!(
        mm.pkey_mprotect(a, 0x1000, RW, 3),
        Err(Errno::Inval),
        "not allocated"
    );
    let k = mm.pkey_alloc(0, 0).unwrap();
    let k_i32 = i32::try_from(k).unwrap();
    mm.pkey_mprotect(a + 0x1000, 0x2000, RW, k_i32).unwrap();
    assert_eq!(
        keys(&mm),
        [
            (0x10000, 0x11000, 0),
            (0x11000, 0x13000, k),
            (0x13000, 0x14000, 0)
        ]
    );
    check(&mm);
    // Plain mprotect keeps the key: the middle stays apart from its neighbours.
    mm.mprotect(a, 0x4000, Prot::READ).unwrap();
    assert_eq!(mm.map_count(), 3);
    assert_eq!(mm.vma_lookup(a + 0x1000).unwrap().flags().pkey(), k);
    // A new mapping next to the keyed VMA has key 0: no merge.
    mm.mmap(0x14000, 0x1000, Prot::READ, FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.map_count(), 3);
    // Back to key 0: everything merges into one VMA.
    mm.pkey_mprotect(a + 0x1000, 0x2000, Prot::READ, 0).unwrap();
    assert_eq!(keys(&mm), [(0x10000, 0x15000, 0)]);
    // Freeing a key leaves the VMAs that carry it alone.
    mm.pkey_mprotect(a, 0x1000, Prot::READ, k_i32).unwrap();
    mm.pkey_free(k_i32).unwrap();
    assert_eq!(mm.vma_lookup(a).unwrap().flags().pkey(), k);
    assert_eq!(
        mm.pkey_mprotect(a, 0x1000, Prot::READ, k_i32),
        Err(Errno::Inval)
    );
    check(&mm);
}

/// With PKU, execute-only memory (`PROT_EXEC` alone, from mmap or mprotect) takes the
/// execute-only key, allocated on first use and then no longer handed out nor accepted;
/// leaving execute-only moves a VMA back to key 0; fork keeps the allocations, exec drops them.
#[test]
fn with_keys_execute_only_memory() {
    let mut mm = with_pku();
    let x = mm
        .mmap(0x10000, 0x1000, Prot::EXEC, FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.vma_lookup(x).unwrap().flags().pkey(), 1);
    assert_eq!(mm.pkey_alloc(0, 0), Ok(2));
    assert_eq!(
        mm.pkey_mprotect(x, 0x1000, Prot::EXEC, 1),
        Err(Errno::Inval)
    );
    assert_eq!(mm.pkey_free(1), Err(Errno::Inval));
    // mprotect to PROT_EXEC alone: the execute-only key, so it merges with `x`.
    mm.mmap(0x11000, 0x1000, RW, FIXED, None, 0).unwrap();
    mm.mprotect(0x11000, 0x1000, Prot::EXEC).unwrap();
    assert_eq!(keys(&mm), [(0x10000, 0x12000, 1)]);
    // Leaving execute-only: key 0 again. An explicit key wins over the execute-only one.
    mm.mprotect(0x10000, 0x1000, Prot::READ | Prot::EXEC)
        .unwrap();
    assert_eq!(keys(&mm), [(0x10000, 0x11000, 0), (0x11000, 0x12000, 1)]);
    mm.pkey_mprotect(0x11000, 0x1000, Prot::EXEC, 2).unwrap();
    assert_eq!(mm.vma_lookup(0x11000).unwrap().flags().pkey(), 2);
    check(&mm);

    let mut child = mm.fork().unwrap();
    assert_eq!(child.pkey_alloc(0, 0), Ok(3));
    assert_eq!(mm.pkey_alloc(0, 0), Ok(3));
    assert_eq!(child.vma_lookup(0x11000).unwrap().flags().pkey(), 2);
    child.exec();
    assert_eq!(child.pkey_alloc(0, 0), Ok(1));
    let y = child
        .mmap(0x20000, 0x1000, Prot::EXEC, FIXED, None, 0)
        .unwrap();
    assert_eq!(child.vma_lookup(y).unwrap().flags().pkey(), 2);
    check(&child);
}

/// The key bits of `vm_flags`: four bits from bit 32, outside the access flags.
#[test]
fn key_bits() {
    assert_eq!(VmFlags::from_pkey(15), VmFlags::PKEY);
    assert!(!VmFlags::PKEY.intersects(VmFlags::ACCESS));
    assert_eq!((VmFlags::READ | VmFlags::from_pkey(9)).pkey(), 9);
}
