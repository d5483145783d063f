//! Scenarios around the life of a process: fork, exec, faults and anon_vmas, stack growth,
//! lookups and iteration, the `/proc/PID/maps` output, and the BTreeMap index giving the same
//! results as the tree.

use std::sync::Arc;

use maple_mm::{
    AddressSpace, AddressSpaceConfig, Advice, BTreeIndex, Errno, File, FileId, MapFlags,
    MremapFlags, Prot, VmFlags, VmaIndex,
};

const ANON: MapFlags = MapFlags::from_bits(0x22);
const FIXED: MapFlags = MapFlags::from_bits(0x32);
const RW: Prot = Prot::from_bits(3);

fn check<I: VmaIndex>(mm: &AddressSpace<I>) {
    if let Err(e) = mm.check_invariants() {
        panic!("{e}\n{}", mm.maps());
    }
}

fn ranges<I: VmaIndex>(mm: &AddressSpace<I>) -> Vec<(u64, u64)> {
    mm.iter().map(|v| (v.start(), v.end())).collect()
}

/// fork copies every VMA but the DONTCOPY ones, clears VM_LOCKED in the child, gives faulted
/// VMAs new inherited anon_vmas (none for WIPEONFORK), and leaves the parent alone.
#[test]
fn fork_copies() {
    let mut mm = AddressSpace::new();
    mm.set_brk_base(0x5555_0000_0000);
    mm.brk(0x5555_0000_3000);
    mm.mmap(0x10000, 0x8000, RW, FIXED, None, 0).unwrap();
    mm.madvise(0x10000, 0x2000, Advice::DONTFORK).unwrap();
    mm.madvise(0x12000, 0x2000, Advice::WIPEONFORK).unwrap();
    mm.mlock(0x14000, 0x2000).unwrap();
    mm.fault(0x12000, true).unwrap();
    mm.fault(0x16000, true).unwrap();
    let parent_layout = mm.maps().to_string();
    let child = mm.fork().unwrap();
    assert_eq!(mm.maps().to_string(), parent_layout);
    assert_eq!(child.map_count(), mm.map_count() - 1);
    assert!(child.vma_lookup(0x10000).is_none());
    assert_eq!(child.current_brk(), 0x5555_0000_3000);
    let wipe = child.vma_lookup(0x12000).unwrap();
    assert!(wipe.anon_vma().is_none());
    assert!(
        !child
            .vma_lookup(0x14000)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKED)
    );
    let faulted = child.vma_lookup(0x16000).unwrap().anon_vma().unwrap();
    assert!(faulted.is_inherited());
    assert_ne!(Some(faulted), mm.vma_lookup(0x16000).unwrap().anon_vma());
    // [0x14000, 0x16000) lost VM_LOCKED and now equals [0x16000, 0x18000) but for the
    // anon_vma... the never-faulted one matches its neighbour only in the child, where
    // Linux leaves it apart too.
    check(&mm);
    check(&child);
    // The copies are independent.
    let mut child = child;
    child.munmap(0x12000, 0x6000).unwrap();
    assert!(mm.vma_lookup(0x12000).is_some());
    check(&child);
}

/// In a child, inherited anon_vmas do not merge with VMAs that have none (Linux avoids
/// spreading a forked anon_vma); in the parent they do.
#[test]
fn fork_child_merges_less() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x2000, RW, FIXED, None, 0).unwrap();
    mm.fault(0x10000, true).unwrap();
    mm.mmap(0x12000, 0x2000, Prot::READ, FIXED, None, 0)
        .unwrap();
    let mut child = mm.fork().unwrap();
    // Parent: the read-only part becomes writable and merges.
    mm.mprotect(0x12000, 0x2000, RW).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x14000)]);
    // Child: the same change does not merge.
    child.mprotect(0x12000, 0x2000, RW).unwrap();
    assert_eq!(ranges(&child), [(0x10000, 0x12000), (0x12000, 0x14000)]);
    check(&mm);
    check(&child);
}

/// exec leaves an empty address space with the same configuration.
#[test]
fn exec_is_fresh() {
    let cfg = AddressSpaceConfig {
        mmap_min_addr: 0x10000,
        ..AddressSpaceConfig::default()
    };
    let mut mm = AddressSpace::with_config(cfg.clone());
    mm.set_brk_base(0x5555_0000_0000);
    mm.mmap(0, 0x1000, RW, ANON, None, 0).unwrap();
    mm.exec();
    assert_eq!(mm.map_count(), 0);
    assert_eq!(mm.current_brk(), 0);
    assert_eq!(mm.config(), &cfg);
    check(&mm);
}

/// Write faults attach anon_vmas, reusing a compatible neighbour's so that a later mprotect
/// can merge them again.
#[test]
fn fault_reuses_neighbour_anon_vma() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x4000, RW, FIXED, None, 0).unwrap();
    mm.mprotect(0x12000, 0x2000, Prot::READ).unwrap();
    mm.fault(0x10000, true).unwrap();
    let first = mm.vma_lookup(0x10000).unwrap().anon_vma().unwrap();
    mm.mprotect(0x12000, 0x2000, RW).unwrap();
    assert_eq!(ranges(&mm), [(0x10000, 0x14000)]);
    // Split again, fault the other half: it takes the same anon_vma.
    mm.mprotect(0x12000, 0x2000, Prot::READ).unwrap();
    mm.mprotect(0x12000, 0x2000, RW).unwrap();
    assert_eq!(
        mm.vma_lookup(0x12000).unwrap().anon_vma().map(|a| a.id()),
        Some(first.id())
    );
    // Read faults and faults in shared memory attach nothing; bad accesses are EFAULT.
    mm.mmap(0x20000, 0x1000, Prot::READ, FIXED, None, 0)
        .unwrap();
    mm.fault(0x20000, false).unwrap();
    assert!(mm.vma_lookup(0x20000).unwrap().anon_vma().is_none());
    assert_eq!(mm.fault(0x20000, true), Err(Errno::Fault));
    assert_eq!(mm.fault(0x30000, false), Err(Errno::Fault));
    mm.mmap(0x30000, 0x1000, Prot::NONE, FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.fault(0x30000, false), Err(Errno::Fault));
    check(&mm);
}

/// A growsdown stack grows on faults and by expand_stack, keeps the guard gap to the
/// mapping below, and respects RLIMIT_STACK.
#[test]
fn stack_growth() {
    let mut mm = AddressSpace::with_config(AddressSpaceConfig {
        rlimit_stack: 0x40_0000,
        ..AddressSpaceConfig::default()
    });
    let top = 0x7ff0_0000_0000;
    mm.mmap(
        top - 0x1000,
        0x1000,
        RW,
        FIXED | MapFlags::GROWSDOWN,
        None,
        0,
    )
    .unwrap();
    mm.set_start_stack(top - 0x10);
    mm.fault(top - 0x3000, true).unwrap();
    let stack = mm.vma_lookup(top - 0x3000).unwrap();
    assert_eq!((stack.start(), stack.end()), (top - 0x3000, top));
    assert_eq!(stack.pgoff(), (top - 0x3000) >> 12);
    assert!(stack.anon_vma().is_some());
    assert!(mm.maps().to_string().contains("[stack]"));
    // Beyond RLIMIT_STACK.
    assert_eq!(mm.expand_stack(top - 0x50_0000), Err(Errno::NoMem));
    // A mapping below: growth stops a guard gap above it.
    mm.mmap(top - 0x20_0000, 0x1000, RW, FIXED, None, 0)
        .unwrap();
    assert_eq!(mm.expand_stack(top - 0x1f_0000), Err(Errno::NoMem));
    mm.expand_stack(top - 0xff000).unwrap();
    // Addresses inside a VMA need nothing; below a plain VMA there is nothing to grow.
    assert_eq!(mm.expand_stack(top - 0x1000), Ok(()));
    assert_eq!(mm.expand_stack(top - 0x20_1000), Err(Errno::Fault));
    assert_eq!(mm.fault(top - 0x20_1000, false), Err(Errno::Fault));
    check(&mm);
}

/// find_vma, vma_lookup, find_vma_prev, find_vma_intersection and iteration agree.
#[test]
fn lookups() {
    let mut mm = AddressSpace::new();
    for i in 0..4u64 {
        let prot = if i % 2 == 0 { RW } else { Prot::READ };
        mm.mmap(0x10000 + i * 0x3000, 0x2000, prot, FIXED, None, 0)
            .unwrap();
    }
    assert_eq!(mm.find_vma(0).map(|v| v.start()), Some(0x10000));
    assert_eq!(mm.find_vma(0x12000).map(|v| v.start()), Some(0x13000));
    assert_eq!(mm.find_vma(0x1b000), None);
    assert_eq!(mm.vma_lookup(0x12000), None);
    assert_eq!(mm.vma_lookup(0x13fff).map(|v| v.start()), Some(0x13000));
    let (vma, prev) = mm.find_vma_prev(0x13800);
    assert_eq!(
        (vma.unwrap().start(), prev.unwrap().start()),
        (0x13000, 0x10000)
    );
    let (vma, prev) = mm.find_vma_prev(0x5000);
    assert_eq!((vma.unwrap().start(), prev.is_none()), (0x10000, true));
    let (vma, prev) = mm.find_vma_prev(0x50000);
    assert_eq!((vma.is_none(), prev.unwrap().start()), (true, 0x19000));
    assert_eq!(mm.find_vma_intersection(0x12000, 0x13000), None);
    assert_eq!(
        mm.find_vma_intersection(0x12000, 0x13001)
            .map(|v| v.start()),
        Some(0x13000)
    );
    assert_eq!(mm.find_vma_intersection(0x13000, 0x13000), None);
    let starts: Vec<u64> = mm.range(0x11000, 0x16001).map(|v| v.start()).collect();
    assert_eq!(starts, [0x10000, 0x13000, 0x16000]);
    assert_eq!(mm.iter().count(), mm.map_count());
    assert_eq!(mm.range(0x50000, 0x40000).count(), 0);
    let id = mm.vma_id(0x16000).unwrap();
    assert_eq!(mm.get(id).unwrap().start(), 0x16000);
    assert_eq!(mm.total_vm(), 8);
    assert_eq!(mm.data_vm(), 4);
}

/// The `/proc/PID/maps` lines: ranges, permissions, file offsets, device and inode, names
/// padded to column 74.
#[test]
fn maps_format() {
    let mut mm = AddressSpace::new();
    let libc = Arc::new(
        File::new(FileId(3))
            .with_name("/usr/lib/libc.so.6")
            .with_inode(0x103, 2, 1_234_567)
            .read_only(),
    );
    mm.mmap(
        0x7f00_0000_0000,
        0x2000,
        Prot::READ | Prot::EXEC,
        MapFlags::PRIVATE | MapFlags::FIXED,
        Some(&libc),
        0x28000,
    )
    .unwrap();
    mm.mmap(0x7f00_0000_2000, 0x1000, RW, FIXED, None, 0)
        .unwrap();
    mm.mmap(
        0x7f00_0000_3000,
        0x1000,
        Prot::READ,
        MapFlags::SHARED | MapFlags::ANONYMOUS | MapFlags::FIXED,
        None,
        0,
    )
    .unwrap();
    mm.set_brk_base(0x5555_5555_9000);
    mm.brk(0x5555_5557_a000);
    let text = mm.maps().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        "555555559000-55555557a000 rw-p 00000000 00:00 0                          [heap]"
    );
    assert_eq!(
        lines[1],
        "7f0000000000-7f0000002000 r-xp 00028000 103:02 1234567                   /usr/lib/libc.so.6"
    );
    assert_eq!(lines[2], "7f0000002000-7f0000003000 rw-p 00000000 00:00 0 ");
    assert!(lines[3].starts_with("7f0000003000-7f0000004000 r--s 00000000 00:01 "));
    assert!(lines[3].ends_with(" /dev/zero (deleted)"));
    // The name starts at column 74 whatever the prefix length.
    assert_eq!(lines[0].find('[').unwrap(), 73);
    assert_eq!(lines[1].find('/').unwrap(), 73);
    assert_eq!(format!("{mm}"), text);
}

/// get_unmapped_area: fixed addresses are checked, a stack's guard gap makes the top-down
/// search retry below it.
#[test]
fn get_unmapped_area() {
    let mut mm = AddressSpace::new();
    let base = mm.config().mmap_base;
    assert_eq!(
        mm.get_unmapped_area(None, 0x1234, 0x1000, 0, MapFlags::FIXED),
        Err(Errno::Inval)
    );
    assert_eq!(
        mm.get_unmapped_area(None, 0, 0x1000, 0, MapFlags::FIXED),
        Err(Errno::Perm)
    );
    assert_eq!(
        mm.get_unmapped_area(None, 0x7fff_ffff_f000, 0x2000, 0, MapFlags::FIXED),
        Err(Errno::NoMem)
    );
    // A stack sits 512 KiB below mmap_base; the space above it is big enough but the search
    // must also stay 1 MiB above... below it: it takes the highest range under its gap.
    mm.mmap(
        base - 0x8_0000,
        0x1000,
        RW,
        FIXED | MapFlags::GROWSDOWN,
        None,
        0,
    )
    .unwrap();
    let got = mm.get_unmapped_area(None, 0, 0x8_0000, 0, ANON).unwrap();
    assert_eq!(got, base - 0x8_0000 - 0x10_0000 - 0x8_0000);
    // A smaller request fits above the stack.
    assert_eq!(
        mm.get_unmapped_area(None, 0, 0x1000, 0, ANON),
        Ok(base - 0x1000)
    );
    // Nothing big enough anywhere.
    assert_eq!(
        mm.get_unmapped_area(None, 0, 1 << 47, 0, ANON),
        Err(Errno::NoMem)
    );
}

/// The same operations on the BTreeMap index give the same address space as on the tree.
#[test]
fn btree_index_agrees() {
    let mut tree = AddressSpace::new();
    let mut btree = AddressSpace::<BTreeIndex>::with_index(AddressSpaceConfig::default());
    tree.set_brk_base(0x5555_0000_0000);
    btree.set_brk_base(0x5555_0000_0000);
    fn script<I: VmaIndex>(mm: &mut AddressSpace<I>) -> Vec<Result<u64, Errno>> {
        let mut out = Vec::new();
        for i in 0..40u64 {
            let prot = if i % 3 == 0 { Prot::READ } else { RW };
            out.push(mm.mmap(0, 0x1000 * (1 + i % 4), prot, ANON, None, 0));
        }
        let a = out[10].unwrap();
        out.push(mm.munmap(a, 0x3000).map(|()| 0));
        out.push(mm.mprotect(a + 0x3000, 0x1000, Prot::NONE).map(|()| 0));
        out.push(mm.mremap(out[5].unwrap(), 0x2000, 0x10000, MremapFlags::MAYMOVE, 0));
        out.push(Ok(mm.brk(0x5555_0001_0000)));
        out.push(mm.madvise(a, 0x20000, Advice::DONTFORK).map(|()| 0));
        out
    }
    assert_eq!(script(&mut tree), script(&mut btree));
    assert_eq!(tree.maps().to_string(), btree.maps().to_string());
    check(&tree);
    check(&btree);
    let child = btree.fork().unwrap();
    check(&child);
}
