//! [`VmaIter`]: the VMAs of an address space in address order.

use crate::address_space::AddressSpace;
use crate::index::VmaIndex;
use crate::vma::Vma;

/// The VMAs of an [`AddressSpace`] that intersect a range, in address order, from
/// [`AddressSpace::iter`] or [`AddressSpace::range`].
///
/// Each step is one index search from the end of the previous VMA, so the iterator holds no
/// lock or guard of the tree.
///
/// # Examples
///
/// ```
/// use maple_mm::{AddressSpace, MapFlags, Prot};
///
/// let mut mm = AddressSpace::new();
/// let fixed = MapFlags::PRIVATE | MapFlags::ANONYMOUS | MapFlags::FIXED;
/// for i in 0..4u64 {
///     mm.mmap(0x10000 * (i + 1), 0x1000, Prot::READ, fixed, None, 0)?;
/// }
/// let starts: Vec<u64> = mm.range(0x20000, 0x40000).map(|v| v.start()).collect();
/// assert_eq!(starts, [0x20000, 0x30000]);
/// # Ok::<(), maple_mm::Errno>(())
/// ```
///
/// Linux: `for_each_vma_range()`.
#[doc(alias = "vma_iterator")]
#[derive(Debug)]
pub struct VmaIter<'a, I: VmaIndex> {
    mm: &'a AddressSpace<I>,
    next: u64,
    end: u64,
    done: bool,
}

impl<'a, I: VmaIndex> VmaIter<'a, I> {
    pub(crate) fn new(mm: &'a AddressSpace<I>, start: u64, end: u64) -> Self {
        VmaIter {
            mm,
            next: start,
            end,
            done: start >= end,
        }
    }
}

impl<'a, I: VmaIndex> Iterator for VmaIter<'a, I> {
    type Item = &'a Vma;

    fn next(&mut self) -> Option<&'a Vma> {
        if self.done {
            return None;
        }
        let Some(entry) = self.mm.index.find(self.next, self.end - 1) else {
            self.done = true;
            return None;
        };
        if entry.end >= self.end {
            self.done = true;
        }
        self.next = entry.end;
        self.mm.get(entry.id)
    }
}
