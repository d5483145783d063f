//! The VMA operations inside Linux's mm (the shapes of mm/vma.c), exposed for tests and
//! replayers: link a VMA as is, merge a new range, merge a changed sub-range, expand, shrink,
//! split, copy, extend.
//!
//! Unlike the system calls, these take their inputs as given: [`AddressSpace::link_vma`] and
//! the setters can build states that Linux would never produce (adjacent VMAs that should have
//! merged), on which [`AddressSpace::check_invariants`] then reports invariant M6. The
//! kernel's own tests (tools/testing/vma) work this way, and the tests of this crate port
//! them onto these functions.
//!
//! Each operation is atomic like the system calls: on error nothing changes.

use std::sync::Arc;

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::VmFlags;
use crate::index::VmaIndex;
use crate::merge::{Proposal, expand, merge_existing_range, merge_new_range};
use crate::mremap::copy_vma;
use crate::split::{modify_flags, split_checked};
use crate::vma::{AnonVma, File, PAGE_SIZE, Vma, VmaId, page_aligned};
use crate::window::Window;

/// A proposed range and its attributes for [`AddressSpace::vma_merge_new_range`] and
/// [`AddressSpace::vma_merge_existing_range`].
///
/// # Examples
///
/// ```
/// use maple_mm::{MergeRequest, VmFlags};
///
/// let flags = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
/// let req = MergeRequest::new(0x1000, 0x2000, 1, flags);
/// assert!(!req.just_expand);
/// ```
///
/// Linux: `struct vma_merge_struct`.
#[doc(alias = "vma_merge_struct")]
#[derive(Clone, Debug)]
pub struct MergeRequest {
    /// First address.
    pub start: u64,
    /// First address after the range.
    pub end: u64,
    /// Page offset of `start`.
    pub pgoff: u64,
    /// Flags of the range.
    pub flags: VmFlags,
    /// Backing file.
    pub file: Option<Arc<File>>,
    /// anon_vma of the range.
    pub anon_vma: Option<AnonVma>,
    /// Consider only the VMA before the range, never the one after (brk's expand-only mode).
    pub just_expand: bool,
}

impl MergeRequest {
    /// An anonymous range with no anon_vma.
    ///
    /// ```
    /// use maple_mm::{MergeRequest, VmFlags};
    /// let req = MergeRequest::new(0x1000, 0x2000, 1, VmFlags::READ);
    /// assert!(req.file.is_none() && req.anon_vma.is_none());
    /// ```
    pub fn new(start: u64, end: u64, pgoff: u64, flags: VmFlags) -> MergeRequest {
        MergeRequest {
            start,
            end,
            pgoff,
            flags,
            file: None,
            anon_vma: None,
            just_expand: false,
        }
    }

    fn proposal(&self, middle: Option<&Vma>) -> Proposal {
        let mut p = Proposal::new(
            self.start,
            self.end,
            self.pgoff,
            self.flags,
            self.file.clone(),
        );
        p.anon = self.anon_vma;
        p.src_forked = middle.is_some_and(|m| m.anon.is_some_and(AnonVma::is_inherited));
        p
    }
}

impl<I: VmaIndex> AddressSpace<I> {
    /// Checks that `[start, end)` is a page-aligned, non-empty range below the task size.
    fn check_range(&self, start: u64, end: u64) -> Result<(), Errno> {
        if start >= end || !page_aligned(start) || !page_aligned(end) || end > self.config.task_size
        {
            return Err(Errno::Inval);
        }
        Ok(())
    }

    /// Commits `w` if `op` succeeded on it; gives it back otherwise.
    fn run<T>(
        &mut self,
        start: u64,
        end: u64,
        op: impl FnOnce(&mut Self, &mut Window) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        let mut w = self.window();
        w.load(self, start, end);
        match op(self, &mut w) {
            Ok(v) => {
                self.commit(w)?;
                Ok(v)
            }
            Err(e) => {
                self.recycle(w);
                Err(e)
            }
        }
    }

    /// The id of the VMA containing `addr`, after a change that put one there.
    fn id_at(&self, addr: u64) -> Result<VmaId, Errno> {
        self.vma_id(addr).ok_or(Errno::Fault)
    }

    /// Inserts `vma` as it is, without merging, and returns its id.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for a malformed range, [`Errno::Exist`] if it overlaps a VMA,
    /// [`Errno::NoMem`] for tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let id = mm.link_vma(Vma::anonymous(0x1000, 0x3000, VmFlags::READ))?;
    /// assert_eq!(mm.get(id).unwrap().pages(), 2);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_link()`.
    #[doc(alias = "vma_link")]
    pub fn link_vma(&mut self, vma: Vma) -> Result<VmaId, Errno> {
        let (start, end) = (vma.start, vma.end);
        self.check_range(start, end)?;
        if self.find_vma_intersection(start, end).is_some() {
            return Err(Errno::Exist);
        }
        self.run(start, end, |_, w| {
            w.insert(None, vma);
            Ok(())
        })?;
        self.id_at(start)
    }

    /// Tries to merge the new range of `req`, which must be free, with the VMAs before and
    /// after it; returns the VMA that now covers it, or `None` if nothing merged (nothing
    /// changed then).
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for a malformed range or one that is not free, [`Errno::NoMem`] for
    /// tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MergeRequest, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let f = VmFlags::READ | VmFlags::MAYREAD;
    /// mm.link_vma(Vma::anonymous(0x1000, 0x2000, f))?;
    /// mm.link_vma(Vma::anonymous(0x3000, 0x4000, f))?;
    /// let merged = mm.vma_merge_new_range(&MergeRequest::new(0x2000, 0x3000, 2, f))?.unwrap();
    /// let vma = mm.get(merged).unwrap();
    /// assert_eq!((vma.start(), vma.end()), (0x1000, 0x4000));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_merge_new_range()`.
    pub fn vma_merge_new_range(&mut self, req: &MergeRequest) -> Result<Option<VmaId>, Errno> {
        self.check_range(req.start, req.end)?;
        if self.find_vma_intersection(req.start, req.end).is_some() {
            return Err(Errno::Inval);
        }
        let merged = self.run(req.start, req.end, |_, w| {
            let prev = w.prev_of(req.start);
            let next = w.next_of(req.end);
            Ok(merge_new_range(w, &req.proposal(None), prev, next, req.just_expand).is_some())
        })?;
        if merged {
            self.id_at(req.start).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Tries to merge the sub-range of `req`, which must lie inside one VMA (the *middle*),
    /// with the middle's neighbours, as a change of its attributes to `req`'s would; the VMA
    /// that now covers the range takes `req.flags`. Returns it, or `None` if nothing merged
    /// (nothing changed then).
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] if the range is malformed or not inside one VMA, [`Errno::NoMem`]
    /// for tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MergeRequest, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let f = VmFlags::READ | VmFlags::MAYREAD;
    /// mm.link_vma(Vma::anonymous(0x1000, 0x2000, f))?;
    /// mm.link_vma(Vma::anonymous(0x2000, 0x4000, VmFlags::MAYREAD))?;
    /// let req = MergeRequest::new(0x2000, 0x3000, 2, f);
    /// let merged = mm.vma_merge_existing_range(&req)?.unwrap();
    /// assert_eq!(mm.get(merged).unwrap().end(), 0x3000);
    /// assert_eq!(mm.vma_lookup(0x3000).unwrap().start(), 0x3000);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_merge_existing_range()`.
    pub fn vma_merge_existing_range(&mut self, req: &MergeRequest) -> Result<Option<VmaId>, Errno> {
        self.check_range(req.start, req.end)?;
        let merged = self.run(req.start, req.end, |_, w| {
            let middle = w
                .containing(req.start)
                .filter(|&m| w.vma(m).end >= req.end)
                .ok_or(Errno::Inval)?;
            let p = req.proposal(Some(w.vma(middle)));
            let at = merge_existing_range(w, &p, middle);
            if let Some(at) = at {
                w.vma_mut(at).flags = req.flags;
            }
            Ok(at.is_some())
        })?;
        if merged {
            self.id_at(req.start).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Gives `[start, end)`, which must lie inside one VMA, the flags `flags`: merges with a
    /// neighbour if the rules allow, else splits off the rest of the VMA. Returns the VMA
    /// that now covers the range.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] if the range is malformed or not inside one VMA; [`Errno::NoMem`] at
    /// `max_map_count` or for tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// mm.link_vma(Vma::anonymous(0, 0x3000, VmFlags::READ | VmFlags::WRITE))?;
    /// let id = mm.vma_modify_flags(0x1000, 0x2000, VmFlags::READ)?;
    /// assert_eq!(mm.get(id).unwrap().pgoff(), 1);
    /// assert_eq!(mm.map_count(), 3);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_modify_flags()`.
    pub fn vma_modify_flags(
        &mut self,
        start: u64,
        end: u64,
        flags: VmFlags,
    ) -> Result<VmaId, Errno> {
        self.check_range(start, end)?;
        let max = self.config.max_map_count;
        self.run(start, end, |_, w| {
            let middle = w
                .containing(start)
                .filter(|&m| w.vma(m).end >= end)
                .ok_or(Errno::Inval)?;
            modify_flags(w, middle, start, end, flags, max)
        })?;
        self.id_at(start)
    }

    /// Grows the VMA `target` to `[start, end)` with page offset `pgoff`. If the range ends
    /// where the next VMA ends, that VMA is removed (and its anon_vma given to `target` if it
    /// has none); otherwise the range must not reach any other VMA.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for a malformed range, one that does not contain the target, or one
    /// that covers other VMAs; [`Errno::NoMem`] for tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let id = mm.link_vma(Vma::anonymous(0, 0x1000, VmFlags::READ))?;
    /// mm.vma_expand(id, 0, 0x3000, 0)?;
    /// assert_eq!(mm.get(id).unwrap().end(), 0x3000);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_expand()`.
    pub fn vma_expand(
        &mut self,
        target: VmaId,
        start: u64,
        end: u64,
        pgoff: u64,
    ) -> Result<VmaId, Errno> {
        self.check_range(start, end)?;
        let vma = self.get(target).ok_or(Errno::Inval)?;
        let (t_start, t_end) = (vma.start, vma.end);
        if start > t_start || end < t_end {
            return Err(Errno::Inval);
        }
        self.run(start, end, |_, w| {
            let t = w.containing(t_start).ok_or(Errno::Inval)?;
            let next = w.next_of(t_end);
            let removes_next = next.is_some_and(|n| w.vma(n).end == end);
            // Everything else in the range must be free.
            let others = w
                .vmas
                .iter()
                .filter(|s| s.vma.start < end && s.vma.end > start)
                .count();
            if others != 1 + usize::from(removes_next) {
                return Err(Errno::Inval);
            }
            expand(w, t, start, end, pgoff, next);
            Ok(())
        })?;
        self.id_at(t_start)
    }

    /// Shrinks the VMA `id` to `[start, end)`, which must keep one of its ends, with page
    /// offset `pgoff`.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for a range that is not such a part of the VMA; [`Errno::NoMem`] for
    /// tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let id = mm.link_vma(Vma::anonymous(0, 0x3000, VmFlags::READ))?;
    /// mm.vma_shrink(id, 0, 0x1000, 0)?;
    /// assert_eq!(mm.get(id).unwrap().end(), 0x1000);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_shrink()`.
    pub fn vma_shrink(&mut self, id: VmaId, start: u64, end: u64, pgoff: u64) -> Result<(), Errno> {
        self.check_range(start, end)?;
        let vma = self.get(id).ok_or(Errno::Inval)?;
        let (v_start, v_end) = (vma.start, vma.end);
        if start < v_start || end > v_end || (start != v_start && end != v_end) {
            return Err(Errno::Inval);
        }
        self.run(v_start, v_end, |_, w| {
            let i = w.containing(v_start).ok_or(Errno::Inval)?;
            let v = w.vma_mut(i);
            v.start = start;
            v.end = end;
            v.pgoff = pgoff;
            Ok(())
        })
    }

    /// Splits the VMA containing `addr` at `addr`, which must lie strictly inside it; returns
    /// the ids of the lower and upper pieces.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] if `addr` is not such an address; [`Errno::NoMem`] at
    /// `max_map_count` or for tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// mm.link_vma(Vma::anonymous(0x10000, 0x14000, VmFlags::READ))?;
    /// let (lo, hi) = mm.split_vma(0x11000)?;
    /// assert_eq!(mm.get(hi).unwrap().pgoff(), 0x11);
    /// assert_eq!(mm.get(lo).unwrap().end(), 0x11000);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `split_vma()`.
    pub fn split_vma(&mut self, addr: u64) -> Result<(VmaId, VmaId), Errno> {
        if !page_aligned(addr) {
            return Err(Errno::Inval);
        }
        let vma = self.vma_lookup(addr).ok_or(Errno::Inval)?;
        if vma.start == addr {
            return Err(Errno::Inval);
        }
        let start = vma.start;
        let max = self.config.max_map_count;
        self.run(addr, addr + PAGE_SIZE, |_, w| {
            let i = w.containing(addr).ok_or(Errno::Inval)?;
            split_checked(w, i, addr, max).map(drop)
        })?;
        Ok((self.id_at(start)?, self.id_at(addr)?))
    }

    /// Copies the VMA `src` to the free range `[addr, addr + len)` with page offset `pgoff`,
    /// merging with the destination's neighbours if possible (a never-faulted anonymous VMA
    /// takes `addr >> 12` as its offset). Returns the VMA covering the copy: the new one, or
    /// a neighbour that absorbed it.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for a malformed or occupied destination or an unknown source;
    /// [`Errno::NoMem`] for tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let src = mm.link_vma(Vma::anonymous(0x3000, 0x5000, VmFlags::READ))?;
    /// let copy = mm.copy_vma(src, 0x10000, 0x2000, 3)?;
    /// assert_ne!(copy, src);
    /// assert_eq!(mm.get(copy).unwrap().pgoff(), 0x10);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `copy_vma()`.
    pub fn copy_vma(
        &mut self,
        src: VmaId,
        addr: u64,
        len: u64,
        pgoff: u64,
    ) -> Result<VmaId, Errno> {
        let end = addr.checked_add(len).ok_or(Errno::Inval)?;
        self.check_range(addr, end)?;
        let src_start = self.get(src).ok_or(Errno::Inval)?.start;
        if self.find_vma_intersection(addr, end).is_some() {
            return Err(Errno::Inval);
        }
        self.run(addr, end, |mm, w| {
            w.load(mm, src_start, src_start + PAGE_SIZE);
            let i = w.containing(src_start).ok_or(Errno::Inval)?;
            copy_vma(w, i, addr, len, pgoff)
                .map(drop)
                .ok_or(Errno::Inval)
        })?;
        self.id_at(addr)
    }

    /// Grows the VMA `id` by `delta` bytes into the free space after it, merging with the
    /// next VMA if compatible; returns the VMA that now covers the growth.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] if `delta` is not whole pages or the space is not free;
    /// [`Errno::NoMem`] if the VMA cannot merge (special flags) or for tree memory.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// let id = mm.link_vma(Vma::anonymous(0, 0x1000, VmFlags::READ))?;
    /// mm.link_vma(Vma::anonymous(0x3000, 0x4000, VmFlags::READ))?;
    /// let grown = mm.vma_merge_extend(id, 0x2000)?;
    /// assert_eq!(mm.get(grown).unwrap().end(), 0x4000);
    /// assert_eq!(mm.map_count(), 1);
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    ///
    /// Linux: `vma_merge_extend()`.
    pub fn vma_merge_extend(&mut self, id: VmaId, delta: u64) -> Result<VmaId, Errno> {
        let vma = self.get(id).ok_or(Errno::Inval)?;
        let (start, end) = (vma.start, vma.end);
        let new_end = end.checked_add(delta).ok_or(Errno::Inval)?;
        self.check_range(end, new_end)?;
        if self.find_vma_intersection(end, new_end).is_some() {
            return Err(Errno::Inval);
        }
        self.run(start, new_end, |mm, w| {
            let i = w.containing(start).ok_or(Errno::Inval)?;
            mm.merge_extend(w, i, delta).map(drop).ok_or(Errno::NoMem)
        })?;
        self.id_at(start)
    }

    /// Sets the anon_vma of the VMA containing `addr` as it is, with no merge (a test hook:
    /// the kernel's tests attach anon_vmas by hand this way).
    ///
    /// # Errors
    ///
    /// [`Errno::Fault`] if no VMA contains `addr`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, AnonVma, AnonVmaId, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// mm.link_vma(Vma::anonymous(0x1000, 0x2000, VmFlags::READ))?;
    /// mm.set_anon_vma(0x1000, Some(AnonVma::new(AnonVmaId(9))))?;
    /// assert_eq!(mm.vma_lookup(0x1000).unwrap().anon_vma().unwrap().id(), AnonVmaId(9));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn set_anon_vma(&mut self, addr: u64, anon: Option<AnonVma>) -> Result<(), Errno> {
        self.set_attribute(addr, |v| v.anon = anon)
    }

    /// Gives the VMA containing `addr` a close hook or takes it away, with no merge (a test
    /// hook, like [`set_anon_vma`](Self::set_anon_vma)).
    ///
    /// # Errors
    ///
    /// [`Errno::Fault`] if no VMA contains `addr`.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, Vma, VmFlags};
    /// let mut mm = AddressSpace::new();
    /// mm.link_vma(Vma::anonymous(0x1000, 0x2000, VmFlags::READ))?;
    /// mm.set_close_hook(0x1000, true)?;
    /// assert!(mm.vma_lookup(0x1000).unwrap().has_close_hook());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn set_close_hook(&mut self, addr: u64, close: bool) -> Result<(), Errno> {
        self.set_attribute(addr, |v| v.close_hook = close)
    }

    fn set_attribute(&mut self, addr: u64, f: impl FnOnce(&mut Vma)) -> Result<(), Errno> {
        if self.vma_lookup(addr).is_none() {
            return Err(Errno::Fault);
        }
        self.run(addr, addr + 1, |_, w| {
            let i = w.containing(addr).ok_or(Errno::Fault)?;
            f(w.vma_mut(i));
            Ok(())
        })
    }
}
