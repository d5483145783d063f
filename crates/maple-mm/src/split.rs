//! Splitting a VMA, and changing the attributes of part of one: merge with a neighbour if
//! the rules allow it, otherwise split off the parts outside the range.
//!
//! ```text
//!  vma_modify on [s, e) inside M, no merge possible:
//!     [ M                 )          [ M  )[ M'  )[ M'' )
//!           s      e          ->           s      e
//!  two splits; the middle piece then takes the new attributes.
//! ```
//!
//! Linux: `__split_vma()`, `split_vma()`, `vma_modify()`, `vma_modify_flags()` in mm/vma.c.

use crate::error::Errno;
use crate::flags::VmFlags;
use crate::merge::{Proposal, merge_existing_range};
use crate::window::Window;

/// Splits the VMA at index `i` at `addr`, refusing when the address space already holds
/// `max_map_count` VMAs. Returns the index of the upper piece.
///
/// # Errors
///
/// [`Errno::NoMem`] at the limit.
///
/// Linux: `split_vma()`.
pub(crate) fn split_checked(
    w: &mut Window,
    i: usize,
    addr: u64,
    max_map_count: usize,
) -> Result<usize, Errno> {
    if w.map_count() >= max_map_count {
        return Err(Errno::NoMem);
    }
    Ok(w.split(i, addr))
}

/// Makes `[p.start, p.end)`, a sub-range of the VMA at `middle`, one VMA that can take `p`'s
/// attributes: by merging it with a neighbour, or else by splitting off the parts of `middle`
/// outside it. Returns the index of that VMA.
///
/// # Errors
///
/// [`Errno::NoMem`] if a split would exceed `max_map_count`. As in Linux, a first split that
/// succeeded stays when the second fails; the boundary it leaves is recorded as tolerated.
///
/// Linux: `vma_modify()`.
pub(crate) fn vma_modify(
    w: &mut Window,
    p: &Proposal,
    middle: usize,
    max_map_count: usize,
) -> Result<usize, Errno> {
    if let Some(merged) = merge_existing_range(w, p, middle) {
        return Ok(merged);
    }
    let mut m = middle;
    let mut split_below = false;
    if w.vma(m).start < p.start {
        m = split_checked(w, m, p.start, max_map_count)?;
        split_below = true;
    }
    if w.vma(m).end > p.end
        && let Err(e) = split_checked(w, m, p.end, max_map_count)
    {
        if split_below {
            w.tolerate(p.start);
        }
        return Err(e);
    }
    Ok(m)
}

/// Gives `[start, end)` of the VMA at `i` the flags `flags`, splitting and merging as needed,
/// and returns the index of the VMA that now covers the range with those flags. Nothing
/// changes if the VMA already has them.
///
/// # Errors
///
/// As [`vma_modify`].
///
/// Linux: `vma_modify_flags()` followed by the caller's flag update.
pub(crate) fn modify_flags(
    w: &mut Window,
    i: usize,
    start: u64,
    end: u64,
    flags: VmFlags,
    max_map_count: usize,
) -> Result<usize, Errno> {
    if w.vma(i).flags == flags {
        return Ok(i);
    }
    let mut p = Proposal::within(w.vma(i), start, end);
    p.flags = flags;
    let r = vma_modify(w, &p, i, max_map_count)?;
    w.vma_mut(r).flags = flags;
    Ok(r)
}
