//! The behaviours of the kernel's own VMA tests (tools/testing/vma, cases 1 to 16), written
//! again against this crate's API.
//!
//! The kernel's harness calls mm/vma.c's internal functions with hand-built
//! `vma_merge_struct`s; here the same states are built with `link_vma` and the setters, and the
//! same operations run through `vma_merge_new_range`, `vma_merge_existing_range`,
//! `vma_expand` and friends. Differences, all deliberate:
//!
//! - The "sticky flag" permutations of newer kernels are not ported (this model has no sticky
//!   flags).
//! - `vma_write_started()` (VMA write locks) has no counterpart: there are no VMA locks.
//! - Object identity ("the returned VMA is prev") is checked through ranges and `VmaId`s.
//! - On an allocation failure the kernel's stubs leave the duplicated anon_vma visible on
//!   prev (with `was_unlinked` set); the real kernel then clears it. Here a failed change
//!   leaves everything as it was, which is the real kernel's net effect.

use maple_mm::{
    AddressSpace, AddressSpaceConfig, AnonVma, AnonVmaId, Errno, MergeRequest, VmFlags, Vma,
};

/// The flags every kernel test uses: `VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE`.
const F: VmFlags = VmFlags::from_bits(0x1 | 0x2 | 0x10 | 0x20);

/// The kernel tests' single dummy anon_vma, on a one-link (singular) chain.
fn dummy() -> AnonVma {
    AnonVma::new(AnonVmaId(1000))
}

/// An address space configured like the kernel's harness (`mmap_min_addr` 64 KiB).
fn mm() -> AddressSpace {
    AddressSpace::with_config(AddressSpaceConfig {
        mmap_min_addr: 0x10000,
        ..AddressSpaceConfig::default()
    })
}

/// Links an anonymous VMA `[start, end)` with page offset `pgoff` and flags `F`.
fn link(mm: &mut AddressSpace, start: u64, end: u64, pgoff: u64) -> maple_mm::VmaId {
    mm.link_vma(Vma::anonymous(start, end, F).with_pgoff(pgoff))
        .unwrap()
}

/// The VMA at `addr` as `(start, end, pgoff)`.
fn span(mm: &AddressSpace, addr: u64) -> (u64, u64, u64) {
    let v = mm.vma_lookup(addr).unwrap();
    (v.start(), v.end(), v.pgoff())
}

/// Every VMA as `(start, end, pgoff)`.
fn layout(mm: &AddressSpace) -> Vec<(u64, u64, u64)> {
    mm.iter().map(|v| (v.start(), v.end(), v.pgoff())).collect()
}

/// Kernel case 1, simple_merge: a new range between two compatible VMAs merges with both.
#[test]
fn simple_merge() {
    let mut mm = mm();
    link(&mut mm, 0, 0x1000, 0);
    link(&mut mm, 0x2000, 0x3000, 2);
    let merged = mm
        .vma_merge_new_range(&MergeRequest::new(0x1000, 0x2000, 1, F))
        .unwrap()
        .unwrap();
    let v = mm.get(merged).unwrap();
    assert_eq!(
        (v.start(), v.end(), v.pgoff(), v.flags()),
        (0, 0x3000, 0, F)
    );
    assert_eq!(mm.map_count(), 1);
    mm.check_invariants().unwrap();
}

/// Kernel case 2, simple_modify: changing the middle of a VMA splits it in three with continuous offsets.
#[test]
fn simple_modify() {
    let mut mm = mm();
    link(&mut mm, 0, 0x3000, 0);
    let flags = VmFlags::READ | VmFlags::MAYREAD;
    let id = mm.vma_modify_flags(0x1000, 0x2000, flags).unwrap();
    let v = mm.get(id).unwrap();
    assert_eq!((v.start(), v.end(), v.pgoff()), (0x1000, 0x2000, 1));
    assert_eq!(
        layout(&mm),
        [(0, 0x1000, 0), (0x1000, 0x2000, 1), (0x2000, 0x3000, 2)]
    );
    assert_eq!(mm.vma_lookup(0).unwrap().flags(), F);
    assert_eq!(mm.vma_lookup(0x1000).unwrap().flags(), flags);
    mm.check_invariants().unwrap();
}

/// Kernel case 3, simple_expand: a VMA grows over free space.
#[test]
fn simple_expand() {
    let mut mm = mm();
    let id = link(&mut mm, 0, 0x1000, 0);
    mm.vma_expand(id, 0, 0x3000, 0).unwrap();
    assert_eq!(layout(&mm), [(0, 0x3000, 0)]);
    mm.check_invariants().unwrap();
}

/// Kernel case 4, simple_shrink: a VMA gives up its tail.
#[test]
fn simple_shrink() {
    let mut mm = mm();
    let id = link(&mut mm, 0, 0x3000, 0);
    mm.vma_shrink(id, 0, 0x1000, 0).unwrap();
    assert_eq!(layout(&mm), [(0, 0x1000, 0)]);
    mm.check_invariants().unwrap();
}

/// Tries a new-range merge; links a new VMA if nothing merged (the harness's
/// `try_merge_new_vma()`). Returns the VMA covering the range and whether it merged.
fn merge_or_link(
    mm: &mut AddressSpace,
    start: u64,
    end: u64,
    pgoff: u64,
) -> (maple_mm::VmaId, bool) {
    match mm
        .vma_merge_new_range(&MergeRequest::new(start, end, pgoff, F))
        .unwrap()
    {
        Some(id) => (id, true),
        None => (link(mm, start, end, pgoff), false),
    }
}

/// Kernel case 5, merge_new: new ranges merge left, right and both ways; a close hook on the VMA that
/// grows does not matter, one on the VMA that would be removed does; anon_vmas are
/// duplicated into the VMA that grows.
#[test]
fn merge_new() {
    let mut mm = mm();
    // 0123456789abc
    // AA B       CC
    let a = link(&mut mm, 0, 0x2000, 0);
    link(&mut mm, 0x3000, 0x4000, 3);
    link(&mut mm, 0xb000, 0xc000, 0xb);

    // No neighbour: a new VMA D.        AA B   DD  CC
    let (d, merged) = merge_or_link(&mut mm, 0x7000, 0x9000, 7);
    assert!(!merged);
    assert_eq!(mm.map_count(), 4);

    // Both sides; A's close hook has no effect, B's anon_vma moves to A.  AAAA   DD  CC
    mm.set_close_hook(0, true).unwrap();
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    let (id, merged) = merge_or_link(&mut mm, 0x2000, 0x3000, 2);
    assert!(merged);
    assert_eq!(id, a);
    assert_eq!(span(&mm, 0), (0, 0x4000, 0));
    assert_eq!(mm.vma_lookup(0).unwrap().anon_vma(), Some(dummy()));
    assert_eq!(mm.map_count(), 3);

    // Previous only.                    AAAAA  DD  CC
    let (id, merged) = merge_or_link(&mut mm, 0x4000, 0x5000, 4);
    assert!(merged);
    assert_eq!(id, a);
    assert_eq!(span(&mm, 0), (0, 0x5000, 0));
    assert_eq!(mm.map_count(), 3);

    // Next only: D may grow although it has a close hook.   AAAAA DDD  CC
    mm.set_anon_vma(0x7000, Some(dummy())).unwrap();
    mm.set_close_hook(0x7000, true).unwrap();
    let (id, merged) = merge_or_link(&mut mm, 0x6000, 0x7000, 6);
    assert!(merged);
    assert_eq!(id, d);
    assert_eq!(span(&mm, 0x6000), (0x6000, 0x9000, 6));
    assert_eq!(mm.vma_lookup(0x6000).unwrap().anon_vma(), Some(dummy()));
    assert_eq!(mm.map_count(), 3);

    // Both sides again, D's hook gone: D is removed.   AAAAAAAAA  CC
    mm.set_close_hook(0x6000, false).unwrap();
    let (id, merged) = merge_or_link(&mut mm, 0x5000, 0x6000, 5);
    assert!(merged);
    assert_eq!(id, a);
    assert_eq!(span(&mm, 0), (0, 0x9000, 0));
    assert_eq!(mm.map_count(), 2);

    // Next only: C grows down.          AAAAAAAAA CCC
    mm.set_anon_vma(0xb000, Some(dummy())).unwrap();
    let (_, merged) = merge_or_link(&mut mm, 0xa000, 0xb000, 0xa);
    assert!(merged);
    assert_eq!(span(&mm, 0xa000), (0xa000, 0xc000, 0xa));
    assert_eq!(mm.map_count(), 2);

    // Both sides: one VMA remains.      AAAAAAAAAAAAA
    let (id, merged) = merge_or_link(&mut mm, 0x9000, 0xa000, 9);
    assert!(merged);
    assert_eq!(id, a);
    assert_eq!(layout(&mm), [(0, 0xc000, 0)]);
    assert_eq!(mm.vma_lookup(0).unwrap().anon_vma(), Some(dummy()));
    assert_eq!(mm.map_count(), 1);
}

/// Kernel case 6, vma_merge_special_flags: none of `IO`, `DONTEXPAND`, `PFNMAP`, `MIXEDMAP` ever merges,
/// for new ranges or changed ones; together they are `VmFlags::SPECIAL`.
#[test]
fn vma_merge_special_flags() {
    let specials = [
        VmFlags::IO,
        VmFlags::DONTEXPAND,
        VmFlags::PFNMAP,
        VmFlags::MIXEDMAP,
    ];
    let all = specials.iter().fold(VmFlags::empty(), |acc, &f| acc | f);
    assert_eq!(all, VmFlags::SPECIAL);
    for special in specials {
        let flags = F | special;
        let mut mm = mm();
        mm.link_vma(Vma::anonymous(0, 0x3000, flags)).unwrap();
        // A new range that would otherwise merge.
        let req = MergeRequest::new(0x3000, 0x4000, 3, flags);
        assert_eq!(mm.vma_merge_new_range(&req), Ok(None));
        // An existing VMA changed to the special flags.
        link(&mut mm, 0x3000, 0x4000, 3);
        assert_eq!(mm.vma_merge_existing_range(&req), Ok(None));
        assert_eq!(layout(&mm), [(0, 0x3000, 0), (0x3000, 0x4000, 3)]);
    }
}

/// Kernel case 7, vma_merge_with_close: a VMA with a close hook is never removed by a merge.
#[test]
fn vma_merge_with_close() {
    // i. New range between prev and next (close): prev grows over the range only.
    let mut mm = mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x5000, 0x9000, 5);
    mm.set_close_hook(0x5000, true).unwrap();
    let got = mm
        .vma_merge_new_range(&MergeRequest::new(0x3000, 0x5000, 3, F))
        .unwrap();
    assert_eq!(got, Some(prev));
    assert_eq!(layout(&mm), [(0, 0x5000, 0), (0x5000, 0x9000, 5)]);

    // ii. All of middle (close) merging into prev: refused.
    let mut mm = self::mm();
    link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    mm.set_close_hook(0x3000, true).unwrap();
    let req = MergeRequest::new(0x3000, 0x5000, 3, F);
    assert_eq!(mm.vma_merge_existing_range(&req), Ok(None));
    assert_eq!(mm.map_count(), 2);

    // iii. All of middle (close) merging into next: refused.
    let mut mm = self::mm();
    link(&mut mm, 0x3000, 0x5000, 3);
    link(&mut mm, 0x5000, 0x9000, 5);
    mm.set_close_hook(0x3000, true).unwrap();
    assert_eq!(mm.vma_merge_existing_range(&req), Ok(None));
    assert_eq!(mm.map_count(), 2);

    // iv. prev, middle (close), next: refused.
    let mut mm = self::mm();
    link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    link(&mut mm, 0x5000, 0x9000, 5);
    mm.set_close_hook(0x3000, true).unwrap();
    assert_eq!(mm.vma_merge_existing_range(&req), Ok(None));
    assert_eq!(mm.map_count(), 3);

    // v. prev, middle, next (close): reduced to prev absorbing middle.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    link(&mut mm, 0x5000, 0x9000, 5);
    mm.set_close_hook(0x5000, true).unwrap();
    assert_eq!(mm.vma_merge_existing_range(&req), Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x5000, 0), (0x5000, 0x9000, 5)]);
}

/// Kernel case 8, vma_merge_new_with_close: between two VMAs with close hooks, a new range grows prev and
/// leaves next; prev keeps its hook.
#[test]
fn vma_merge_new_with_close() {
    let mut mm = mm();
    let prev = link(&mut mm, 0, 0x2000, 0);
    link(&mut mm, 0x5000, 0x7000, 5);
    mm.set_close_hook(0, true).unwrap();
    mm.set_close_hook(0x5000, true).unwrap();
    let got = mm
        .vma_merge_new_range(&MergeRequest::new(0x2000, 0x5000, 2, F))
        .unwrap();
    assert_eq!(got, Some(prev));
    assert_eq!(layout(&mm), [(0, 0x5000, 0), (0x5000, 0x7000, 5)]);
    assert!(mm.get(prev).unwrap().has_close_hook());
    assert_eq!(mm.map_count(), 2);
}

/// A merge request for `[start, end)` carrying the dummy anon_vma.
fn req_anon(start: u64, end: u64, pgoff: u64) -> MergeRequest {
    MergeRequest {
        anon_vma: Some(dummy()),
        ..MergeRequest::new(start, end, pgoff, F)
    }
}

/// Kernel case 9, merge_existing: each case of a changed sub-range merging with its neighbours, with
/// close hooks that must not matter and the anon_vma carried to the VMA that grows.
#[test]
fn merge_existing() {
    // Right, part of middle: middle shrinks, next grows down.
    let mut mm = mm();
    link(&mut mm, 0x2000, 0x6000, 2);
    let next = link(&mut mm, 0x6000, 0x9000, 6);
    mm.set_close_hook(0x2000, true).unwrap();
    mm.set_close_hook(0x6000, true).unwrap();
    mm.set_anon_vma(0x2000, Some(dummy())).unwrap();
    let got = mm.vma_merge_existing_range(&req_anon(0x3000, 0x6000, 3));
    assert_eq!(got, Ok(Some(next)));
    assert_eq!(layout(&mm), [(0x2000, 0x3000, 2), (0x3000, 0x9000, 3)]);
    assert_eq!(mm.get(next).unwrap().anon_vma(), Some(dummy()));
    assert_eq!(mm.map_count(), 2);

    // Right, all of middle: next absorbs it.
    let mut mm = self::mm();
    link(&mut mm, 0x2000, 0x6000, 2);
    let next = link(&mut mm, 0x6000, 0x9000, 6);
    mm.set_close_hook(0x6000, true).unwrap();
    mm.set_anon_vma(0x2000, Some(dummy())).unwrap();
    let got = mm.vma_merge_existing_range(&req_anon(0x2000, 0x6000, 2));
    assert_eq!(got, Ok(Some(next)));
    assert_eq!(layout(&mm), [(0x2000, 0x9000, 2)]);
    assert_eq!(mm.get(next).unwrap().anon_vma(), Some(dummy()));

    // Left, part of middle: prev grows, middle's start and offset move up.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x7000, 3);
    mm.set_close_hook(0, true).unwrap();
    mm.set_close_hook(0x3000, true).unwrap();
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    let got = mm.vma_merge_existing_range(&req_anon(0x3000, 0x6000, 3));
    assert_eq!(got, Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x6000, 0), (0x6000, 0x7000, 6)]);
    assert_eq!(mm.get(prev).unwrap().anon_vma(), Some(dummy()));

    // Left, all of middle: prev absorbs it.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x7000, 3);
    mm.set_close_hook(0, true).unwrap();
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    let got = mm.vma_merge_existing_range(&req_anon(0x3000, 0x7000, 3));
    assert_eq!(got, Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x7000, 0)]);

    // Both: prev absorbs middle and next.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x7000, 3);
    link(&mut mm, 0x7000, 0x9000, 7);
    mm.set_close_hook(0, true).unwrap();
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    let got = mm.vma_merge_existing_range(&req_anon(0x3000, 0x7000, 3));
    assert_eq!(got, Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x9000, 0)]);
    assert_eq!(mm.get(prev).unwrap().anon_vma(), Some(dummy()));
    assert_eq!(mm.map_count(), 1);

    // Ranges touching neither edge of middle never merge.
    let mut mm = self::mm();
    link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x8000, 3);
    link(&mut mm, 0x8000, 0xa000, 8);
    for (s, e) in [
        (0x4000, 0x5000),
        (0x5000, 0x6000),
        (0x6000, 0x7000),
        (0x4000, 0x7000),
        (0x4000, 0x6000),
        (0x5000, 0x6000),
    ] {
        let req = MergeRequest::new(s, e, s >> 12, F);
        assert_eq!(mm.vma_merge_existing_range(&req), Ok(None));
    }
    assert_eq!(mm.map_count(), 3);
    // That state (three compatible neighbours) is one Linux never leaves: the check sees it.
    assert_eq!(
        mm.check_invariants(),
        Err(maple_mm::InvariantError::Mergeable { at: 0x3000 })
    );
}

/// Kernel case 10, anon_vma_non_mergeable: prev and next each have their own anon_vma, so a range
/// between them merges with prev only.
#[test]
fn anon_vma_non_mergeable() {
    let first = AnonVma::new(AnonVmaId(1));
    let second = AnonVma::new(AnonVmaId(2));

    // A changed middle.
    let mut mm = mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x7000, 3);
    let next = link(&mut mm, 0x7000, 0x9000, 7);
    mm.set_anon_vma(0, Some(first)).unwrap();
    mm.set_anon_vma(0x7000, Some(second)).unwrap();
    let req = MergeRequest::new(0x3000, 0x7000, 3, F);
    assert_eq!(mm.vma_merge_existing_range(&req), Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x7000, 0), (0x7000, 0x9000, 7)]);
    assert_eq!(mm.get(next).unwrap().anon_vma(), Some(second));

    // A new range.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x7000, 0x9000, 7);
    mm.set_anon_vma(0, Some(first)).unwrap();
    mm.set_anon_vma(0x7000, Some(second)).unwrap();
    assert_eq!(mm.vma_merge_new_range(&req), Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x7000, 0), (0x7000, 0x9000, 7)]);
    // Both keep their anon_vma: the pair is not mergeable, so the layout is valid.
    mm.check_invariants().unwrap();
}

/// Kernel case 11, dup_anon_vma: whichever removed or shrunk VMA had the anon_vma, the VMA that grows gets
/// it.
#[test]
fn dup_anon_vma() {
    // Expanding prev over next.
    let mut mm = mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    mm.vma_expand(prev, 0, 0x5000, 0).unwrap();
    assert_eq!(layout(&mm), [(0, 0x5000, 0)]);
    assert_eq!(mm.get(prev).unwrap().anon_vma(), Some(dummy()));

    // Both sides, next has the anon_vma.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    link(&mut mm, 0x5000, 0x8000, 5);
    mm.set_anon_vma(0x5000, Some(dummy())).unwrap();
    let req = MergeRequest::new(0x3000, 0x5000, 3, F);
    assert_eq!(mm.vma_merge_existing_range(&req), Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x8000, 0)]);
    assert_eq!(mm.get(prev).unwrap().anon_vma(), Some(dummy()));

    // Both sides, middle has the anon_vma.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    link(&mut mm, 0x5000, 0x8000, 5);
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    assert_eq!(
        mm.vma_merge_existing_range(&req_anon(0x3000, 0x5000, 3)),
        Ok(Some(prev))
    );
    assert_eq!(layout(&mm), [(0, 0x8000, 0)]);
    assert_eq!(mm.get(prev).unwrap().anon_vma(), Some(dummy()));

    // Left, part of middle (which has the anon_vma).
    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x8000, 3);
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    assert_eq!(
        mm.vma_merge_existing_range(&req_anon(0x3000, 0x5000, 3)),
        Ok(Some(prev))
    );
    assert_eq!(layout(&mm), [(0, 0x5000, 0), (0x5000, 0x8000, 5)]);
    assert_eq!(mm.get(prev).unwrap().anon_vma(), Some(dummy()));

    // Right, part of middle (which has the anon_vma).
    let mut mm = self::mm();
    link(&mut mm, 0, 0x5000, 0);
    let next = link(&mut mm, 0x5000, 0x8000, 5);
    mm.set_anon_vma(0, Some(dummy())).unwrap();
    assert_eq!(
        mm.vma_merge_existing_range(&req_anon(0x3000, 0x5000, 3)),
        Ok(Some(next))
    );
    assert_eq!(layout(&mm), [(0, 0x3000, 0), (0x3000, 0x8000, 3)]);
    assert_eq!(mm.get(next).unwrap().anon_vma(), Some(dummy()));
}

/// Kernel case 12, vmi_prealloc_fail: when the tree cannot get memory, a merge and an expansion fail with
/// ENOMEM and the anon_vma duplication is undone: nothing changes.
#[test]
fn vmi_prealloc_fail() {
    let mut mm = mm();
    link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    let before = format!("{:?}", mm.iter().collect::<Vec<_>>());
    mm.fail_next_index_write();
    assert_eq!(
        mm.vma_merge_existing_range(&req_anon(0x3000, 0x5000, 3)),
        Err(Errno::NoMem)
    );
    assert_eq!(format!("{:?}", mm.iter().collect::<Vec<_>>()), before);
    assert_eq!(mm.vma_lookup(0).unwrap().anon_vma(), None);

    let mut mm = self::mm();
    let prev = link(&mut mm, 0, 0x3000, 0);
    link(&mut mm, 0x3000, 0x5000, 3);
    mm.set_anon_vma(0x3000, Some(dummy())).unwrap();
    mm.fail_next_index_write();
    assert_eq!(mm.vma_expand(prev, 0, 0x5000, 3), Err(Errno::NoMem));
    assert_eq!(layout(&mm), [(0, 0x3000, 0), (0x3000, 0x5000, 3)]);
    assert_eq!(mm.get(prev).unwrap().anon_vma(), None);
    // Without the injected failure the same expansion goes through.
    mm.vma_expand(prev, 0, 0x5000, 0).unwrap();
    assert_eq!(mm.get(prev).unwrap().anon_vma(), Some(dummy()));
}

/// Kernel case 13, merge_extend: a VMA grows into the gap after it and merges with the next.
#[test]
fn merge_extend() {
    let mut mm = mm();
    let first = link(&mut mm, 0, 0x1000, 0);
    link(&mut mm, 0x3000, 0x4000, 3);
    assert_eq!(mm.vma_merge_extend(first, 0x2000), Ok(first));
    assert_eq!(layout(&mm), [(0, 0x4000, 0)]);
    assert_eq!(mm.map_count(), 1);
}

/// Kernel case 14, expand_only_mode: brk's mode grows prev and looks at nothing else.
#[test]
fn expand_only_mode() {
    let mut mm = mm();
    link(&mut mm, 0, 0x2000, 0);
    let prev = link(&mut mm, 0x3000, 0x5000, 3);
    let req = MergeRequest {
        just_expand: true,
        ..MergeRequest::new(0x5000, 0x9000, 5, F)
    };
    assert_eq!(mm.vma_merge_new_range(&req), Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0, 0x2000, 0), (0x3000, 0x9000, 3)]);
    // Expand-only never merges with a following VMA.
    let mut mm = self::mm();
    let prev = link(&mut mm, 0x3000, 0x5000, 3);
    link(&mut mm, 0x9000, 0xa000, 9);
    assert_eq!(mm.vma_merge_new_range(&req), Ok(Some(prev)));
    assert_eq!(layout(&mm), [(0x3000, 0x9000, 3), (0x9000, 0xa000, 9)]);
}

/// Kernel case 15, mmap_region_basic: four fixed mappings, two of which merge into each of the others.
#[test]
fn mmap_region_basic() {
    let mut mm = mm();
    assert_eq!(
        mm.mmap_region(0x300000, 0x3000, F, 0x300, None),
        Ok(0x300000)
    );
    assert_eq!(
        mm.mmap_region(0x250000, 0x3000, F, 0x250, None),
        Ok(0x250000)
    );
    assert_eq!(
        mm.mmap_region(0x303000, 0x3000, F, 0x303, None),
        Ok(0x303000)
    );
    assert_eq!(
        mm.mmap_region(0x24d000, 0x3000, F, 0x24d, None),
        Ok(0x24d000)
    );
    assert_eq!(mm.map_count(), 2);
    assert_eq!(
        layout(&mm),
        [(0x24d000, 0x253000, 0x24d), (0x300000, 0x306000, 0x300)]
    );
    // Private writable mappings are charged.
    assert!(mm.iter().all(|v| v.flags() == F | VmFlags::ACCOUNT));
    mm.check_invariants().unwrap();
}

/// Kernel case 16, copy_vma: a copy that cannot merge is a new VMA; one next to a compatible VMA merges
/// into it (the copied, never-faulted VMA takes its new address as page offset).
#[test]
fn copy_vma() {
    let mut mm = mm();
    let src = link(&mut mm, 0x3000, 0x5000, 3);
    let copy = mm.copy_vma(src, 0, 0x2000, 0).unwrap();
    assert_ne!(copy, src);
    assert_eq!(span(&mm, 0), (0, 0x2000, 0));

    let mut mm = self::mm();
    let src = link(&mut mm, 0, 0x2000, 0);
    let next = link(&mut mm, 0x6000, 0x8000, 6);
    let copy = mm.copy_vma(src, 0x4000, 0x2000, 4).unwrap();
    assert_eq!(copy, next);
    assert_eq!(span(&mm, 0x4000), (0x4000, 0x8000, 4));
    assert_eq!(mm.map_count(), 2);
}
