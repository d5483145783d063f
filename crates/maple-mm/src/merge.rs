//! Merging: when two adjacent VMAs may become one, and the two merge operations Linux has
//! (a new range next to existing VMAs, and a changed sub-range of an existing VMA), run on a
//! [`Window`].
//!
//! # When may a range merge with a neighbour?
//!
//! A proposed range `[start, end)` with its attributes may merge with the VMA before it
//! (`prev`) or after it (`next`) when all of these hold:
//!
//! | rule | condition |
//! |---|---|
//! | adjacency | `prev.end == start` / `end == next.start` |
//! | flags | equal (Linux ignores `VM_SOFTDIRTY`, not modelled here) |
//! | special | the proposal has none of `IO`, `DONTEXPAND`, `PFNMAP`, `MIXEDMAP` |
//! | file | the same open file, or no file on both sides |
//! | offsets | `prev.pgoff + pages(prev) == pgoff` / `pgoff + pages == next.pgoff` |
//! | anon_vma | equal; or one side has none and the side that has one was not copied by fork (its chain is singular) |
//! | both sides | when merging left and right, `prev` and `next` must not have two different anon_vmas |
//! | close hook | a VMA with a close hook may grow, but is never removed by a merge |
//!
//! The anon_vma rule is the one of Linux 6.16 and later: when one side has no anon_vma, the
//! merge is refused only if the side that has one "had unCoW'd parents" (a fork child).
//!
//! Linux: `is_mergeable_vma()`, `is_mergeable_anon_vma()`, `vma_had_uncowed_parents()`,
//! `can_vma_merge_before()`, `can_vma_merge_after()`, `can_vma_merge_left()`,
//! `can_vma_merge_right()`, `can_merge_remove_vma()` in mm/vma.c.

use std::sync::Arc;

use crate::flags::VmFlags;
use crate::vma::{AnonVma, File, PAGE_SHIFT, Vma};
use crate::window::Window;

/// A proposed range and its attributes: what Linux keeps in a `struct vma_merge_struct`.
#[derive(Clone, Debug)]
pub(crate) struct Proposal {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) pgoff: u64,
    pub(crate) flags: VmFlags,
    pub(crate) file: Option<Arc<File>>,
    pub(crate) anon: Option<AnonVma>,
    /// Whether the existing VMA the range belongs to (the *middle* of a change) is a fork
    /// child with an inherited anon_vma; `false` for a new range.
    pub(crate) src_forked: bool,
}

impl Proposal {
    /// A new range with no anon_vma.
    pub(crate) fn new(
        start: u64,
        end: u64,
        pgoff: u64,
        flags: VmFlags,
        file: Option<Arc<File>>,
    ) -> Proposal {
        Proposal {
            start,
            end,
            pgoff,
            flags,
            file,
            anon: None,
            src_forked: false,
        }
    }

    /// The sub-range `[start, end)` of `vma` with `vma`'s attributes (Linux:
    /// `VMG_VMA_STATE()`).
    pub(crate) fn within(vma: &Vma, start: u64, end: u64) -> Proposal {
        Proposal {
            start,
            end,
            pgoff: vma.pgoff_at(start),
            flags: vma.flags,
            file: vma.file.clone(),
            anon: vma.anon,
            src_forked: vma.anon.is_some_and(AnonVma::is_inherited),
        }
    }

    fn pages(&self) -> u64 {
        (self.end - self.start) >> PAGE_SHIFT
    }
}

/// Flags and file agree (Linux: `is_mergeable_vma()`).
fn same_kind(p: &Proposal, vma: &Vma) -> bool {
    vma.flags == p.flags && vma.same_file(p.file.as_ref())
}

/// Whether the range `p` and the existing VMA `target` may share one anon_vma after a merge
/// (Linux: `is_mergeable_anon_vma()`).
fn anon_mergeable(p: &Proposal, target: &Vma) -> bool {
    match (target.anon, p.anon) {
        // The target will take the range's anon_vma.
        (None, Some(_)) => !p.src_forked,
        // The range will use the target's.
        (Some(t), None) => !t.is_inherited(),
        (t, r) => t.map(AnonVma::id) == r.map(AnonVma::id),
    }
}

/// Whether two VMAs do not have two different anon_vmas.
fn anon_compatible(a: &Vma, b: &Vma) -> bool {
    match (a.anon, b.anon) {
        (Some(x), Some(y)) => x.id() == y.id(),
        _ => true,
    }
}

/// Whether `p` may merge in front of `next` (Linux: `can_vma_merge_before()`).
fn merges_before(p: &Proposal, next: &Vma) -> bool {
    same_kind(p, next) && anon_mergeable(p, next) && next.pgoff == p.pgoff.wrapping_add(p.pages())
}

/// Whether `p` may merge after `prev` (Linux: `can_vma_merge_after()`).
fn merges_after(p: &Proposal, prev: &Vma) -> bool {
    same_kind(p, prev)
        && anon_mergeable(p, prev)
        && prev.pgoff.wrapping_add(prev.pages()) == p.pgoff
}

/// Whether a merge may remove `vma` (Linux: `can_merge_remove_vma()`).
pub(crate) fn removable(vma: &Vma) -> bool {
    !vma.close_hook
}

/// Whether two existing adjacent VMAs are ones Linux would have merged: the invariant M6
/// checks that none such are left (unless tolerated). Both must be plain (no special flags, no
/// close hook), equal in flags and file, with contiguous offsets, and their anon_vmas must
/// merge from either side: the same, or none on one side and an own (not inherited) one on the
/// other.
pub(crate) fn would_merge(a: &Vma, b: &Vma) -> bool {
    let anon_ok = match (a.anon, b.anon) {
        (Some(x), Some(y)) => x.id() == y.id(),
        (Some(x), None) | (None, Some(x)) => !x.is_inherited(),
        (None, None) => true,
    };
    a.end == b.start
        && !a.flags.intersects(VmFlags::SPECIAL)
        && a.flags == b.flags
        && b.same_file(a.file.as_ref())
        && a.pgoff.wrapping_add(a.pages()) == b.pgoff
        && anon_ok
        && !a.close_hook
        && !b.close_hook
}

fn can_merge_left(w: &Window, p: &Proposal, prev: Option<usize>) -> bool {
    prev.is_some_and(|i| w.vma(i).end == p.start && merges_after(p, w.vma(i)))
}

fn can_merge_right(
    w: &Window,
    p: &Proposal,
    prev: Option<usize>,
    next: Option<usize>,
    can_left: bool,
) -> bool {
    let Some(n) = next else {
        return false;
    };
    if p.end != w.vma(n).start || !merges_before(p, w.vma(n)) {
        return false;
    }
    // Mergeable with each side does not make prev and next compatible with each other.
    !can_left || prev.is_some_and(|i| anon_compatible(w.vma(i), w.vma(n)))
}

/// Gives `dst` the anon_vma of `src` if it has none (Linux: `dup_anon_vma()`; the cloned
/// chain is as singular as `src`'s).
fn dup_anon(w: &mut Window, dst: usize, src: usize) {
    let src_anon = w.vma(src).anon;
    let d = w.vma_mut(dst);
    if d.anon.is_none() && src_anon.is_some() {
        d.anon = src_anon;
    }
}

/// Grows the VMA at `target` to `[start, end)` with page offset `pgoff`, removing `next` if
/// the new range ends where `next` ends. Returns the target's index.
///
/// Linux: `vma_expand()`.
pub(crate) fn expand(
    w: &mut Window,
    target: usize,
    start: u64,
    end: u64,
    pgoff: u64,
    next: Option<usize>,
) -> usize {
    let remove = next.filter(|&n| n != target && w.vma(n).end == end);
    if let Some(n) = remove {
        dup_anon(w, target, n);
    }
    let t = w.vma_mut(target);
    t.start = start;
    t.end = end;
    t.pgoff = pgoff;
    match remove {
        Some(n) => {
            w.remove(n);
            if n < target { target - 1 } else { target }
        }
        None => target,
    }
}

/// Tries to merge the new range `p`, which lies in a gap of the window, with the VMA before
/// it (`prev`) and after it (`next`); `just_expand` considers `prev` only (brk). Returns the
/// index of the VMA that now covers the range, or `None` if nothing merged.
///
/// | case | result |
/// |---|---|
/// | left and right | prev grows over the range and next, next is removed (if next has a close hook, prev grows over the range only) |
/// | right only | next grows down over the range, taking its page offset |
/// | left only | prev grows over the range |
///
/// Linux: `vma_merge_new_range()`.
pub(crate) fn merge_new_range(
    w: &mut Window,
    p: &Proposal,
    prev: Option<usize>,
    next: Option<usize>,
    just_expand: bool,
) -> Option<usize> {
    if p.flags.intersects(VmFlags::SPECIAL) || (prev.is_none() && next.is_none()) {
        return None;
    }
    let left = can_merge_left(w, p, prev);
    let right = !just_expand && can_merge_right(w, p, prev, next, left);
    let (mut start, mut end, mut pgoff) = (p.start, p.end, p.pgoff);
    let mut target = None;
    if right && let Some(n) = next {
        end = w.vma(n).end;
        target = Some(n);
    }
    if left && let Some(pi) = prev {
        start = w.vma(pi).start;
        pgoff = w.vma(pi).pgoff;
        target = Some(pi);
        if right && next.is_some_and(|n| !removable(w.vma(n))) {
            end = p.end;
        }
    }
    let t = target?;
    Some(expand(w, t, start, end, pgoff, next))
}

/// Tries to merge the sub-range `[p.start, p.end)` of the VMA at `middle`, about to take
/// `p`'s attributes, with its neighbours. Returns the index of the VMA that now covers the
/// range, or `None` if nothing merged (the caller then splits).
///
/// | case | before → after |
/// |---|---|
/// | both | `PPP[MMM]NNN` → `PPPPPPPPP` |
/// | left, all of middle | `PPP[MMMM]` → `PPPPPPP` |
/// | left, part | `PPP[MM]MM` → `PPPPP MM` |
/// | right, all of middle | `[MMMM]NNN` → `NNNNNNN` |
/// | right, part | `MM[MM]NNN` → `MM NNNNN` |
///
/// A range touching neither edge of the middle never merges; a middle with a close hook is
/// never removed; if next has a close hook a merge on both sides becomes a merge with prev.
///
/// Linux: `vma_merge_existing_range()`.
pub(crate) fn merge_existing_range(w: &mut Window, p: &Proposal, middle: usize) -> Option<usize> {
    let mid = w.vma(middle);
    let (mid_start, mid_end, mid_removable) = (mid.start, mid.end, removable(mid));
    let left_side = p.start == mid_start;
    let right_side = p.end == mid_end;
    if p.flags.intersects(VmFlags::SPECIAL) || (!left_side && !right_side) {
        return None;
    }
    let prev = if left_side {
        w.prev_of(mid_start)
    } else {
        None
    };
    let next = if right_side { w.next_of(mid_end) } else { None };
    let merge_left = left_side && can_merge_left(w, p, prev);
    let mut merge_right = right_side && can_merge_right(w, p, prev, next, merge_left);
    if !merge_left && !merge_right {
        return None;
    }
    let delete_middle = left_side && right_side;
    if delete_middle && !mid_removable {
        return None;
    }
    let mut merge_both = merge_left && merge_right;
    if merge_both && next.is_some_and(|n| !removable(w.vma(n))) {
        merge_both = false;
        merge_right = false;
    }
    match (prev, next) {
        (Some(pi), Some(ni)) if merge_both => {
            let src = if w.vma(ni).anon.is_some() { ni } else { middle };
            dup_anon(w, pi, src);
            w.vma_mut(pi).end = w.vma(ni).end;
            w.remove(ni);
            w.remove(middle);
            Some(pi)
        }
        (Some(pi), _) if merge_left => {
            dup_anon(w, pi, middle);
            w.vma_mut(pi).end = p.end;
            if delete_middle {
                w.remove(middle);
            } else {
                let m = w.vma_mut(middle);
                m.pgoff = m.pgoff_at(p.end);
                m.start = p.end;
            }
            Some(pi)
        }
        (_, Some(ni)) if merge_right => {
            let pages = p.pages();
            dup_anon(w, ni, middle);
            let n = w.vma_mut(ni);
            n.start = p.start;
            n.pgoff = n.pgoff.wrapping_sub(pages);
            if delete_middle {
                w.remove(middle);
                Some(ni - 1)
            } else {
                w.vma_mut(middle).end = p.start;
                Some(ni)
            }
        }
        _ => None,
    }
}
