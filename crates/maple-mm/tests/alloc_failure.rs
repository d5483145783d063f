//! Allocation failure: every operation is run with the VMA tree's node reservations failing
//! after k nodes, for k = 0, 1, 2, ... until it succeeds. Each failure must be `ENOMEM` with
//! the address space exactly as before (same VMAs, invariants intact), and the final success
//! must give the same result as an unrestricted run. This is the unwind problem of the July
//! 2022 maple tree review: a change made of several tree writes must not stop half-way.

use maple_mm::{AddressSpace, Advice, Errno, MapFlags, McFlags, MremapFlags, Prot, VmFlags, Vma};

const FIXED: MapFlags = MapFlags::from_bits(0x32);
const ANON: MapFlags = MapFlags::from_bits(0x22);
const RW: Prot = Prot::from_bits(3);
const BASE: u64 = 0x1000_0000;
const HEAP: u64 = 0x5555_5555_0000;
const GROUPS: u64 = 100;
const GROUP: u64 = 0xa000;

/// 100 groups of three adjacent three-page VMAs with different protections (so none merge),
/// each group followed by a one-page gap, plus a heap: 300 VMAs, a tree of height 3.
fn build() -> AddressSpace {
    let mut mm = AddressSpace::new();
    for g in 0..GROUPS {
        let a = BASE + g * GROUP;
        mm.mmap(a, 0x3000, Prot::READ, FIXED, None, 0).unwrap();
        mm.mmap(a + 0x3000, 0x3000, RW, FIXED, None, 0).unwrap();
        mm.mmap(a + 0x6000, 0x3000, Prot::NONE, FIXED, None, 0)
            .unwrap();
    }
    mm.set_brk_base(HEAP);
    mm.brk(HEAP + 0x3000);
    mm
}

type Op = fn(&mut AddressSpace, u64) -> Result<u64, Errno>;

/// The operations under test; each gets the start of one group, and whether it must need
/// tree nodes somewhere (a change that only rewrites VMA attributes, or fills one slot
/// exactly, needs none).
fn ops() -> Vec<(&'static str, bool, Op)> {
    vec![
        ("mmap hint into a gap", false, |mm, a| {
            mm.mmap(a + 0x9000, 0x1000, Prot::EXEC, ANON, None, 0)
        }),
        ("mmap fresh", false, |mm, _| {
            mm.mmap(0, 0x5000, RW, ANON, None, 0)
        }),
        ("mmap fixed over three VMAs", true, |mm, a| {
            mm.mmap(a + 0x1000, 0x7000, Prot::EXEC, FIXED, None, 0)
        }),
        ("mmap fixed hole", true, |mm, a| {
            mm.mmap(a + 0x1000, 0x1000, Prot::EXEC, FIXED, None, 0)
        }),
        ("munmap hole", true, |mm, a| {
            mm.munmap(a + 0x1000, 0x1000).map(|()| 0)
        }),
        ("munmap span", true, |mm, a| {
            mm.munmap(a + 0x1000, 0x7000).map(|()| 0)
        }),
        ("mprotect head", true, |mm, a| {
            mm.mprotect(a, 0x1000, Prot::EXEC).map(|()| 0)
        }),
        ("mprotect span", true, |mm, a| {
            mm.mprotect(a + 0x1000, 0x7000, Prot::EXEC).map(|()| 0)
        }),
        ("madvise", true, |mm, a| {
            mm.madvise(a + 0x1000, 0x1000, Advice::DONTFORK).map(|()| 0)
        }),
        ("mlock", true, |mm, a| {
            mm.mlock(a + 0x4000, 0x1000).map(|()| 0)
        }),
        ("mremap grow", false, |mm, a| {
            mm.mremap(a + 0x6000, 0x3000, 0x4000, MremapFlags::empty(), 0)
        }),
        ("mremap move", true, |mm, a| {
            mm.mremap(a + 0x3000, 0x3000, 0x8000, MremapFlags::MAYMOVE, 0)
        }),
        ("mremap fixed", true, |mm, a| {
            let fixed = MremapFlags::MAYMOVE | MremapFlags::FIXED;
            mm.mremap(a + 0x1000, 0x1000, 0x1000, fixed, a + 0x4000)
        }),
        ("brk grow", false, |mm, _| Ok(mm.brk(HEAP + 0x10_0000))),
        ("fault", false, |mm, a| {
            mm.fault(a + 0x3000, true).map(|()| 0)
        }),
        ("mlockall", false, |mm, _| {
            mm.mlockall(McFlags::CURRENT).map(|()| 0)
        }),
    ]
}

/// Whether an outcome is the failure an allocation failure produces (brk reports the old
/// break instead of an error, madvise reports EAGAIN).
fn failed(name: &str, result: &Result<u64, Errno>) -> bool {
    match name {
        "brk grow" => *result == Ok(HEAP + 0x3000),
        "madvise" => *result == Err(Errno::Again),
        _ => *result == Err(Errno::NoMem),
    }
}

/// Runs `op` at `addr` failing after k nodes for every k until it succeeds; returns how many
/// runs failed.
fn fail_until_success(name: &str, op: Op, addr: u64) -> usize {
    let baseline = build().maps().to_string();
    let mut free = build();
    let expected = op(&mut free, addr);
    let expected_maps = free.maps().to_string();
    assert!(
        !failed(name, &expected),
        "{name} at {addr:#x} fails without fault injection"
    );
    let mut failures = 0;
    for k in 0..1000 {
        let mut mm = build();
        mm.fail_reservations_after(Some(k));
        let got = op(&mut mm, addr);
        mm.fail_reservations_after(None);
        if let Err(e) = mm.check_invariants() {
            panic!("{name} at {addr:#x}, {k} nodes: {e}");
        }
        if failed(name, &got) {
            assert_eq!(
                mm.maps().to_string(),
                baseline,
                "{name} at {addr:#x}: changed on failure"
            );
            failures += 1;
            continue;
        }
        assert_eq!(got, expected, "{name} at {addr:#x}, {k} nodes");
        assert_eq!(
            mm.maps().to_string(),
            expected_maps,
            "{name} at {addr:#x}, {k} nodes"
        );
        return failures;
    }
    panic!("{name} at {addr:#x} never succeeded");
}

/// Every operation, at VMAs all over the tree, fails cleanly at every allocation point.
#[test]
fn every_operation_fails_cleanly() {
    for (name, needs_nodes, op) in ops() {
        let mut failures = 0;
        for g in (2..GROUPS - 2).step_by(7) {
            failures += fail_until_success(name, op, BASE + g * GROUP);
        }
        // An operation that adds entries to leaves, or copies the tree, must have met an
        // allocation point somewhere; otherwise this test would prove nothing about it.
        assert!(!needs_nodes || failures > 0, "{name}: never needed a node");
    }
}

/// A relabel (storing a new id over one existing entry) needs no node: a hole punched in a
/// VMA succeeds even with no nodes left once the entry count does not grow past a leaf.
#[test]
fn relabels_need_no_memory() {
    let mut mm = AddressSpace::new();
    mm.mmap(0x10000, 0x10000, RW, FIXED, None, 0).unwrap();
    // A single leaf with room: the hole (two writes: empty the middle, new id on the tail)
    // takes no node at all.
    mm.fail_reservations_after(Some(0));
    mm.munmap(0x14000, 0x1000).unwrap();
    mm.mprotect(0x18000, 0x1000, Prot::READ).unwrap();
    mm.fail_reservations_after(None);
    assert_eq!(mm.map_count(), 4);
    mm.check_invariants().unwrap();
}

/// fork with the tree copy failing: ENOMEM, the parent untouched.
#[test]
fn fork_fails_cleanly() {
    let mm = build();
    let before = mm.maps().to_string();
    let mut failures = 0;
    for k in 0..1000 {
        mm.fail_reservations_after(Some(k));
        let child = mm.fork();
        mm.fail_reservations_after(None);
        match child {
            Err(e) => {
                assert_eq!(e, Errno::NoMem);
                failures += 1;
            }
            Ok(child) => {
                assert_eq!(child.maps().to_string(), before);
                child.check_invariants().unwrap();
                break;
            }
        }
        assert_eq!(mm.maps().to_string(), before);
    }
    assert!(failures > 10);
}

/// The low-level operations roll back too.
#[test]
fn low_level_operations_fail_cleanly() {
    let f = VmFlags::READ | VmFlags::MAYREAD;
    for k in 0..100 {
        let mut mm = build();
        let a = mm
            .link_vma(Vma::anonymous(0x100_0000, 0x100_2000, f))
            .unwrap();
        let before = mm.maps().to_string();
        mm.fail_reservations_after(Some(k));
        // Into a gap page in the middle of a group: a new slot in a leaf.
        let result = mm.copy_vma(a, BASE + 50 * GROUP + 0x9000, 0x1000, 0);
        mm.fail_reservations_after(None);
        mm.check_invariants().unwrap();
        match result {
            Err(e) => {
                assert_eq!(e, Errno::NoMem);
                assert_eq!(mm.maps().to_string(), before);
            }
            Ok(_) => return,
        }
    }
    panic!("copy_vma never succeeded");
}
