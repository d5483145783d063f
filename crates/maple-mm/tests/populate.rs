//! Faulting memory in, as the kernel does around locking and `MADV_POPULATE_*`, and the calls
//! whose results depend on it. Each case is a minimal program run on Linux 6.18 (x86-64), whose
//! answers and `/proc/self/smaps` are the expectations here; `crates/maple-trace/tests/
//! fidelity.rs` captures the same programs and replays them against the kernel.

use std::sync::Arc;

use maple_mm::{
    AddressSpace, AddressSpaceConfig, Advice, Errno, File, FileId, MapFlags, McFlags, MlockFlags,
    MremapFlags, Prot, VmFlags,
};

const PG: u64 = 0x1000;
const ANON: MapFlags = MapFlags::from_bits(0x22); // MAP_PRIVATE | MAP_ANONYMOUS
const RW: Prot = Prot::from_bits(3);

fn check(mm: &AddressSpace) {
    if let Err(e) = mm.check_invariants() {
        panic!("{e}\n{}", mm.maps());
    }
}

/// `(start, end, locked, has an anon_vma)` of every VMA in `[lo, hi)`.
fn locks(mm: &AddressSpace, lo: u64, hi: u64) -> Vec<(u64, u64, bool, bool)> {
    mm.range(lo, hi)
        .map(|v| {
            (
                v.start() - lo,
                v.end() - lo,
                v.flags().contains(VmFlags::LOCKED),
                v.anon_vma().is_some(),
            )
        })
        .collect()
}

/// A process that may lock memory (the replay's setting: no limit).
fn unlimited() -> AddressSpace {
    AddressSpace::with_config(AddressSpaceConfig {
        cap_ipc_lock: true,
        ..AddressSpaceConfig::default()
    })
}

/// Class 1: `mlock` and `mlock2(0)` over `PROT_NONE` memory set `VM_LOCKED` everywhere (and
/// split), then fail to fault the inaccessible pages in: `ENOMEM`. The pages before them were
/// faulted in (an anon_vma), the ones after were not. `MLOCK_ONFAULT` faults nothing: 0.
/// `mlockall(MCL_CURRENT)` ignores such failures.
#[test]
fn mlock_over_prot_none() {
    for flags in [None, Some(MlockFlags::empty())] {
        let mut mm = unlimited();
        let a = mm.mmap(0, 8 * PG, RW, ANON, None, 0).unwrap();
        mm.mprotect(a + 2 * PG, 2 * PG, Prot::NONE).unwrap();
        let r = match flags {
            None => mm.mlock(a + PG, 4 * PG),
            Some(f) => mm.mlock2(a + PG, 4 * PG, f),
        };
        assert_eq!(r, Err(Errno::NoMem));
        assert_eq!(
            locks(&mm, a, a + 8 * PG),
            [
                (0, PG, false, false),
                (PG, 2 * PG, true, true),
                (2 * PG, 4 * PG, true, false),
                (4 * PG, 5 * PG, true, false),
                (5 * PG, 8 * PG, false, false),
            ]
        );
        check(&mm);
    }
    let mut mm = unlimited();
    let a = mm.mmap(0, 8 * PG, RW, ANON, None, 0).unwrap();
    mm.mprotect(a + 2 * PG, 2 * PG, Prot::NONE).unwrap();
    assert_eq!(mm.mlock2(a + PG, 4 * PG, MlockFlags::ONFAULT), Ok(()));
    assert!(
        locks(&mm, a, a + 8 * PG).iter().all(|l| !l.3),
        "nothing faulted"
    );
    let g = mm.mmap(0, 4 * PG, Prot::NONE, ANON, None, 0).unwrap();
    assert_eq!(mm.mlockall(McFlags::CURRENT), Ok(()));
    assert_eq!(locks(&mm, g, g + 4 * PG), [(0, 4 * PG, true, false)]);
    check(&mm);
}

/// Locking private writable memory writes it in: the VMA gets an anon_vma (so a later
/// read-only `mprotect` keeps `VM_ACCOUNT`).
#[test]
fn mlock_writes_private_memory_in() {
    let mut mm = unlimited();
    let w = mm.mmap(0, 2 * PG, RW, ANON, None, 0).unwrap();
    mm.mlock(w, 2 * PG).unwrap();
    assert_eq!(locks(&mm, w, w + 2 * PG), [(0, 2 * PG, true, true)]);
    mm.munlock(w, 2 * PG).unwrap();
    mm.mprotect(w, PG, Prot::READ).unwrap();
    assert!(mm.vma_lookup(w).unwrap().flags().contains(VmFlags::ACCOUNT));
    check(&mm);
}

/// Class 2: `MADV_POPULATE_READ/WRITE` on memory without that access is `EINVAL`, not
/// `EFAULT`.
#[test]
fn populate_advice_without_access_is_einval() {
    let mut mm = unlimited();
    let a = mm.mmap(0, 4 * PG, Prot::NONE, ANON, None, 0).unwrap();
    let ro = mm.mmap(0, 2 * PG, Prot::READ, ANON, None, 0).unwrap();
    assert_eq!(mm.madvise(a, PG, Advice::POPULATE_READ), Err(Errno::Inval));
    assert_eq!(mm.madvise(a, PG, Advice::POPULATE_WRITE), Err(Errno::Inval));
    assert_eq!(
        mm.madvise(ro, PG, Advice::POPULATE_WRITE),
        Err(Errno::Inval)
    );
    assert_eq!(mm.madvise(ro, 2 * PG, Advice::POPULATE_READ), Ok(()));
    check(&mm);
}

/// Class 3: `MAP_DROPPABLE` memory is never locked: not by `mlockall(MCL_FUTURE)`, not by
/// `mlock` (its pages are still faulted in); `MAP_LOCKED` with it is `EINVAL`; guard regions
/// are allowed on it.
#[test]
fn droppable_memory_is_never_locked() {
    let mut mm = unlimited();
    let droppable = MapFlags::DROPPABLE | MapFlags::ANONYMOUS;
    let d = mm.mmap(0, 4 * PG, RW, droppable, None, 0).unwrap();
    assert_eq!(mm.madvise(d, PG, Advice::GUARD_INSTALL), Ok(()));
    assert_eq!(mm.madvise(d, PG, Advice::GUARD_REMOVE), Ok(()));
    assert_eq!(
        mm.mmap(0, 4 * PG, RW, droppable | MapFlags::LOCKED, None, 0),
        Err(Errno::Inval)
    );
    mm.mlockall(McFlags::FUTURE).unwrap();
    let d2 = mm.mmap(0, 4 * PG, RW, droppable, None, 0).unwrap();
    assert_eq!(locks(&mm, d2, d2 + 4 * PG), [(0, 4 * PG, false, true)]);
    mm.mlock(d, 4 * PG).unwrap();
    assert_eq!(locks(&mm, d, d + 4 * PG), [(0, 4 * PG, false, true)]);
    check(&mm);
}

/// Class 4: `mremap(addr, 0, len, MREMAP_MAYMOVE)` inside a shared mapping duplicates it and
/// leaves the source whole.
#[test]
fn shared_duplicate_leaves_the_source_whole() {
    let mut mm = unlimited();
    let shared = MapFlags::SHARED | MapFlags::ANONYMOUS;
    let s = mm.mmap(0, 8 * PG, RW, shared, None, 0).unwrap();
    let dup = mm
        .mremap(s + 2 * PG, 0, 2 * PG, MremapFlags::MAYMOVE, 0)
        .unwrap();
    assert_ne!(dup, s + 2 * PG);
    assert_eq!(
        mm.vma_lookup(s).map(|v| (v.start(), v.end())),
        Some((s, s + 8 * PG))
    );
    assert_eq!(mm.vma_lookup(dup).map(|v| v.len()), Some(2 * PG));
    check(&mm);
}

/// Class 11: populating a file mapping beyond the file's end fails (`SIGBUS`): `mlock` with
/// `ENOMEM` (the VMA stays locked), `MADV_POPULATE_READ` with `EFAULT`; up to the end it works.
/// A private writable mapping gets an anon_vma for the pages before the end.
#[test]
fn populating_beyond_the_end_of_a_file_fails() {
    let mut mm = unlimited();
    let file = Arc::new(File::new(FileId(3)).with_size(PG + 100));
    let f = mm
        .mmap(0, 4 * PG, Prot::READ, MapFlags::PRIVATE, Some(&file), 0)
        .unwrap();
    assert_eq!(mm.mlock(f, 4 * PG), Err(Errno::NoMem));
    assert_eq!(locks(&mm, f, f + 4 * PG), [(0, 4 * PG, true, false)]);
    mm.munlock(f, 4 * PG).unwrap();
    assert_eq!(
        mm.madvise(f, 4 * PG, Advice::POPULATE_READ),
        Err(Errno::Fault)
    );
    assert_eq!(mm.madvise(f, 2 * PG, Advice::POPULATE_READ), Ok(()));
    let fw = mm
        .mmap(0, 4 * PG, RW, MapFlags::PRIVATE, Some(&file), 0)
        .unwrap();
    assert_eq!(mm.mlock(fw, 4 * PG), Err(Errno::NoMem));
    assert_eq!(locks(&mm, fw, fw + 4 * PG), [(0, 4 * PG, true, true)]);
    // Without a known size, every page can be faulted in.
    let unknown = Arc::new(File::new(FileId(4)));
    let u = mm
        .mmap(0, 4 * PG, Prot::READ, MapFlags::PRIVATE, Some(&unknown), 0)
        .unwrap();
    assert_eq!(mm.mlock(u, 4 * PG), Ok(()));
    check(&mm);
}

/// Guard regions (`MADV_GUARD_INSTALL`) stop populating: `mlock` over them locks, then fails
/// with `ENOMEM`, `MADV_POPULATE_READ` with `EFAULT`. They go with their memory: removed by
/// `MADV_GUARD_REMOVE`, unmapped, replaced by a new mapping, or moved along by `mremap`.
#[test]
fn guard_pages_stop_populating() {
    let mut mm = unlimited();
    let a = mm
        .mmap(0, 8 * PG, Prot::READ | Prot::EXEC, ANON, None, 0)
        .unwrap();
    mm.madvise(a + 2 * PG, 2 * PG, Advice::GUARD_INSTALL)
        .unwrap();
    assert_eq!(mm.mlock(a + 3 * PG, 3 * PG), Err(Errno::NoMem));
    assert!(
        mm.vma_lookup(a + 3 * PG)
            .unwrap()
            .flags()
            .contains(VmFlags::LOCKED)
    );
    mm.munlock(a, 8 * PG).unwrap();
    assert_eq!(
        mm.madvise(a, 4 * PG, Advice::POPULATE_READ),
        Err(Errno::Fault)
    );
    assert_eq!(mm.madvise(a, 2 * PG, Advice::POPULATE_READ), Ok(()));
    mm.madvise(a + 3 * PG, PG, Advice::GUARD_REMOVE).unwrap();
    assert_eq!(mm.mlock(a + 3 * PG, PG), Ok(()));
    mm.munlock(a, 8 * PG).unwrap();
    // A fixed mapping over the guard page replaces it.
    let fixed = ANON | MapFlags::FIXED;
    mm.mmap(a + 2 * PG, PG, Prot::READ, fixed, None, 0).unwrap();
    assert_eq!(mm.mlock(a + 2 * PG, PG), Ok(()));
    // A moved range takes its guards along.
    mm.madvise(a + 6 * PG, PG, Advice::GUARD_INSTALL).unwrap();
    let to = mm
        .mremap(
            a + 5 * PG,
            2 * PG,
            2 * PG,
            MremapFlags::MAYMOVE | MremapFlags::FIXED,
            a + 0x100 * PG,
        )
        .unwrap();
    assert_eq!(mm.mlock(to, PG), Ok(()));
    assert_eq!(mm.mlock(to + PG, PG), Err(Errno::NoMem));
    check(&mm);
}

/// Making locked private memory writable faults it in (an anon_vma), unless it is locked
/// on fault.
#[test]
fn mprotect_writable_faults_locked_memory_in() {
    for (onfault, faulted) in [(false, true), (true, false)] {
        let mut mm = unlimited();
        let a = mm.mmap(0, 4 * PG, Prot::READ, ANON, None, 0).unwrap();
        let flags = if onfault {
            MlockFlags::ONFAULT
        } else {
            MlockFlags::empty()
        };
        mm.mlock2(a, 4 * PG, flags).unwrap();
        mm.mprotect(a, 4 * PG, RW).unwrap();
        assert_eq!(locks(&mm, a, a + 4 * PG), [(0, 4 * PG, true, faulted)]);
        check(&mm);
    }
}
