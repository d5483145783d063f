//! [`Vma`]: one virtual memory area, `[start, end)` with its flags, backing and anon_vma; and
//! the identities it refers to ([`File`], [`AnonVma`]).

use core::fmt;
use std::sync::Arc;

use crate::flags::VmFlags;

/// Page size: 4 KiB.
///
/// ```
/// assert_eq!(maple_mm::PAGE_SIZE, 1 << maple_mm::PAGE_SHIFT);
/// ```
pub const PAGE_SIZE: u64 = 4096;
/// `log2(PAGE_SIZE)`.
///
/// ```
/// assert_eq!(0x7000_u64 >> maple_mm::PAGE_SHIFT, 7);
/// ```
pub const PAGE_SHIFT: u32 = 12;

/// `len` rounded up to whole pages, or `None` if that overflows (Linux: `PAGE_ALIGN()`, which
/// wraps to 0 instead).
pub(crate) fn page_align(len: u64) -> Option<u64> {
    len.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

/// Whether `addr` is a multiple of the page size.
pub(crate) fn page_aligned(addr: u64) -> bool {
    addr.is_multiple_of(PAGE_SIZE)
}

/// The handle of a VMA inside its [`AddressSpace`](crate::AddressSpace): the value the VMA
/// tree stores for the VMA's range.
///
/// A VMA keeps its id while its range changes by expansion or merging. When a VMA is split,
/// the lowest piece keeps the id and the others get new ones; when VMAs merge, the one that
/// grows keeps its id and the others' ids are freed (and may be reused later).
///
/// # Examples
///
/// ```
/// use maple_mm::{AddressSpace, MapFlags, Prot};
///
/// let mut mm = AddressSpace::new();
/// let addr = mm.mmap(0, 0x3000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
/// let id = mm.vma_id(addr).unwrap();
/// assert_eq!(mm.get(id).unwrap().start(), addr);
/// # Ok::<(), maple_mm::Errno>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VmaId(pub(crate) u32);

impl VmaId {
    /// The raw slot number.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x1000, Prot::READ, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// let b = mm.mmap(0, 0x1000, Prot::WRITE, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert_ne!(mm.vma_id(a).unwrap().index(), mm.vma_id(b).unwrap().index());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn index(self) -> u32 {
        self.0
    }
}

/// The identity of an open file (a `struct file`): two `open()`s of the same path are two
/// files, and VMAs of different files never merge.
///
/// ```
/// use maple_mm::{File, FileId};
/// assert_ne!(File::new(FileId(3)), File::new(FileId(4)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u64);

/// An open file as `mmap` sees it: its identity, access mode, and what its mapping hooks do.
///
/// # Examples
///
/// ```
/// use maple_mm::{File, FileId, VmFlags};
///
/// let libc = File::new(FileId(3)).with_name("/usr/lib/libc.so.6").read_only();
/// assert!(!libc.writable());
/// let device = File::new(FileId(4)).with_mmap_flags(VmFlags::IO | VmFlags::DONTEXPAND);
/// assert!(device.mmap_flags().intersects(VmFlags::SPECIAL));
/// ```
///
/// Linux: `struct file` with its `f_mode` and `f_op->mmap`, and the `vm_ops` it installs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    id: FileId,
    name: Option<Arc<str>>,
    readable: bool,
    writable: bool,
    noexec: bool,
    close_hook: bool,
    mmap_flags: VmFlags,
    device: (u32, u32),
    inode: u64,
    size: Option<u64>,
}

impl File {
    /// A regular file open for reading and writing, on an `exec`-permitting mount, with no
    /// name, no close hook and a driver `mmap` hook that adds no flags. Its inode number is
    /// its id.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// let f = File::new(FileId(9));
    /// assert!(f.readable() && f.writable() && !f.is_noexec() && !f.has_close_hook());
    /// assert_eq!((f.id(), f.name(), f.inode()), (FileId(9), None, 9));
    /// ```
    pub fn new(id: FileId) -> File {
        File {
            id,
            name: None,
            readable: true,
            writable: true,
            noexec: false,
            close_hook: false,
            mmap_flags: VmFlags::empty(),
            device: (0, 0),
            inode: id.0,
            size: None,
        }
    }

    /// The same file with a path, printed in `/proc/PID/maps`.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert_eq!(File::new(FileId(1)).with_name("/bin/sh").name(), Some("/bin/sh"));
    /// ```
    #[must_use]
    pub fn with_name(mut self, name: impl Into<Arc<str>>) -> File {
        self.name = Some(name.into());
        self
    }

    /// The same file opened read-only (`O_RDONLY`): no `FMODE_WRITE`.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// let f = File::new(FileId(1)).read_only();
    /// assert!(f.readable() && !f.writable());
    /// ```
    #[must_use]
    pub fn read_only(mut self) -> File {
        self.writable = false;
        self
    }

    /// The same file opened write-only (`O_WRONLY`): no `FMODE_READ`.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// let f = File::new(FileId(1)).write_only();
    /// assert!(!f.readable() && f.writable());
    /// ```
    #[must_use]
    pub fn write_only(mut self) -> File {
        self.readable = false;
        self
    }

    /// The same file on a `noexec` mount.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert!(File::new(FileId(1)).noexec().is_noexec());
    /// ```
    #[must_use]
    pub fn noexec(mut self) -> File {
        self.noexec = true;
        self
    }

    /// The same file, whose mappings have a `vm_ops->close` hook (as device and System V
    /// shared memory mappings do): such a VMA may grow by merging but is never removed by
    /// one.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert!(File::new(FileId(1)).with_close_hook().has_close_hook());
    /// ```
    #[must_use]
    pub fn with_close_hook(mut self) -> File {
        self.close_hook = true;
        self
    }

    /// The same file, whose `mmap` hook adds `flags` to every new VMA (a driver setting
    /// `VM_IO | VM_DONTEXPAND`, say). Flags added this way make Linux retry a merge.
    ///
    /// ```
    /// use maple_mm::{File, FileId, VmFlags};
    /// let f = File::new(FileId(1)).with_mmap_flags(VmFlags::IO);
    /// assert_eq!(f.mmap_flags(), VmFlags::IO);
    /// ```
    #[must_use]
    pub fn with_mmap_flags(mut self, flags: VmFlags) -> File {
        self.mmap_flags = flags;
        self
    }

    /// The same file with the device and inode numbers `/proc/PID/maps` shows.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// let f = File::new(FileId(1)).with_inode(8, 2, 131_074);
    /// assert_eq!((f.device(), f.inode()), ((8, 2), 131_074));
    /// ```
    #[must_use]
    pub fn with_inode(mut self, major: u32, minor: u32, inode: u64) -> File {
        self.device = (major, minor);
        self.inode = inode;
        self
    }

    /// The same file with a size in bytes (`i_size`). A fault on a page wholly beyond the
    /// end of the file fails (`SIGBUS`), so populating it fails: `mlock` with `ENOMEM`,
    /// `MADV_POPULATE_*` with `EFAULT`. Without a size (the default) every page can be
    /// faulted in.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert_eq!(File::new(FileId(1)).with_size(4097).size(), Some(4097));
    /// ```
    #[must_use]
    pub fn with_size(mut self, bytes: u64) -> File {
        self.size = Some(bytes);
        self
    }

    /// The size in bytes, if known.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert_eq!(File::new(FileId(1)).size(), None);
    /// ```
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The file's identity.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert_eq!(File::new(FileId(5)).id(), FileId(5));
    /// ```
    pub fn id(&self) -> FileId {
        self.id
    }

    /// The path, if one was given.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert_eq!(File::new(FileId(5)).name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the file is open for reading (`FMODE_READ`).
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert!(File::new(FileId(5)).readable());
    /// ```
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether the file is open for writing (`FMODE_WRITE`).
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert!(!File::new(FileId(5)).read_only().writable());
    /// ```
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Whether the file lies on a `noexec` mount.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert!(!File::new(FileId(5)).is_noexec());
    /// ```
    pub fn is_noexec(&self) -> bool {
        self.noexec
    }

    /// Whether its mappings have a close hook.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert!(!File::new(FileId(5)).has_close_hook());
    /// ```
    pub fn has_close_hook(&self) -> bool {
        self.close_hook
    }

    /// Flags the `mmap` hook adds.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert!(File::new(FileId(5)).mmap_flags().is_empty());
    /// ```
    pub fn mmap_flags(&self) -> VmFlags {
        self.mmap_flags
    }

    /// Device numbers (major, minor).
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert_eq!(File::new(FileId(5)).device(), (0, 0));
    /// ```
    pub fn device(&self) -> (u32, u32) {
        self.device
    }

    /// Inode number.
    ///
    /// ```
    /// use maple_mm::{File, FileId};
    /// assert_eq!(File::new(FileId(5)).with_inode(0, 1, 77).inode(), 77);
    /// ```
    pub fn inode(&self) -> u64 {
        self.inode
    }
}

/// The identity of an anon_vma: the object that tracks a VMA's anonymous pages for reverse
/// mapping.
///
/// ```
/// use maple_mm::{AnonVma, AnonVmaId};
/// assert_eq!(AnonVma::new(AnonVmaId(3)).id(), AnonVmaId(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AnonVmaId(pub u64);

/// The anon_vma a VMA is attached to, and what its anon_vma chain looks like.
///
/// A VMA gets an anon_vma when its first anonymous page is faulted in. Linux allows a merge
/// between a VMA without an anon_vma and one with an anon_vma only if the latter's chain is
/// *singular*: one link, its own anon_vma. A VMA copied by fork has a chain with its parent's
/// anon_vma too; this model calls that `inherited`.
///
/// # Examples
///
/// ```
/// use maple_mm::{AnonVma, AnonVmaId};
///
/// let own = AnonVma::new(AnonVmaId(7));
/// assert!(!own.is_inherited());
/// assert!(own.inherited().is_inherited());
/// ```
///
/// Linux: `vma->anon_vma` and `list_is_singular(&vma->anon_vma_chain)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnonVma {
    id: AnonVmaId,
    inherited: bool,
}

impl AnonVma {
    /// An anon_vma on a singular chain.
    ///
    /// ```
    /// use maple_mm::{AnonVma, AnonVmaId};
    /// assert!(!AnonVma::new(AnonVmaId(1)).is_inherited());
    /// ```
    pub fn new(id: AnonVmaId) -> AnonVma {
        AnonVma {
            id,
            inherited: false,
        }
    }

    /// The same anon_vma on a chain that also links a parent's anon_vma (after fork).
    ///
    /// ```
    /// use maple_mm::{AnonVma, AnonVmaId};
    /// let a = AnonVma::new(AnonVmaId(1)).inherited();
    /// assert_eq!((a.id(), a.is_inherited()), (AnonVmaId(1), true));
    /// ```
    #[must_use]
    pub fn inherited(self) -> AnonVma {
        AnonVma {
            inherited: true,
            ..self
        }
    }

    /// The identity.
    ///
    /// ```
    /// use maple_mm::{AnonVma, AnonVmaId};
    /// assert_eq!(AnonVma::new(AnonVmaId(8)).id(), AnonVmaId(8));
    /// ```
    pub fn id(self) -> AnonVmaId {
        self.id
    }

    /// Whether the chain has more than one link.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x1000, Prot::READ | Prot::WRITE, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// mm.fault(a, true)?;
    /// assert!(!mm.find_vma(a).unwrap().anon_vma().unwrap().is_inherited());
    /// let child = mm.fork()?;
    /// assert!(child.find_vma(a).unwrap().anon_vma().unwrap().is_inherited());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn is_inherited(self) -> bool {
        self.inherited
    }
}

/// One virtual memory area: the half-open range `[start, end)` with its flags, the page
/// offset of `start` in its backing object, the backing file (none for anonymous memory), its
/// anon_vma, and whether its operations have a close hook.
///
/// Anonymous private VMAs have `pgoff == start >> 12` when created, so page offsets stay
/// continuous when they are split and merged.
///
/// # Examples
///
/// ```
/// use maple_mm::{Vma, VmFlags};
///
/// let vma = Vma::anonymous(0x10000, 0x14000, VmFlags::READ | VmFlags::MAYREAD);
/// assert_eq!(vma.pages(), 4);
/// assert_eq!(vma.pgoff(), 0x10);
/// assert_eq!(vma.pgoff_at(0x12000), 0x12);
/// assert!(vma.is_anonymous());
/// ```
///
/// Linux: `struct vm_area_struct`.
#[doc(alias = "vm_area_struct")]
#[derive(Clone, PartialEq, Eq)]
pub struct Vma {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) pgoff: u64,
    pub(crate) flags: VmFlags,
    pub(crate) file: Option<Arc<File>>,
    pub(crate) anon: Option<AnonVma>,
    pub(crate) close_hook: bool,
}

impl Vma {
    /// An anonymous VMA over `[start, end)` with `pgoff = start >> 12`, no anon_vma and no
    /// close hook. The range is not checked here;
    /// [`AddressSpace::link_vma`](crate::AddressSpace::link_vma) checks it.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ);
    /// assert_eq!((v.start(), v.end(), v.pgoff()), (0x5000, 0x7000, 5));
    /// assert!(v.file().is_none() && v.anon_vma().is_none() && !v.has_close_hook());
    /// ```
    pub fn anonymous(start: u64, end: u64, flags: VmFlags) -> Vma {
        Vma {
            start,
            end,
            pgoff: start >> PAGE_SHIFT,
            flags,
            file: None,
            anon: None,
            close_hook: false,
        }
    }

    /// The same VMA with another page offset.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert_eq!(Vma::anonymous(0x5000, 0x7000, VmFlags::READ).with_pgoff(2).pgoff(), 2);
    /// ```
    #[must_use]
    pub fn with_pgoff(mut self, pgoff: u64) -> Vma {
        self.pgoff = pgoff;
        self
    }

    /// The same VMA backed by `file` (its close hook comes with it).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use maple_mm::{File, FileId, Vma, VmFlags};
    /// let f = Arc::new(File::new(FileId(1)).with_close_hook());
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ).with_pgoff(0).with_file(f);
    /// assert_eq!(v.file().map(|f| f.id()), Some(FileId(1)));
    /// assert!(v.has_close_hook() && !v.is_anonymous());
    /// ```
    #[must_use]
    pub fn with_file(mut self, file: Arc<File>) -> Vma {
        self.close_hook = self.close_hook || file.has_close_hook();
        self.file = Some(file);
        self
    }

    /// The same VMA attached to `anon`.
    ///
    /// ```
    /// use maple_mm::{AnonVma, AnonVmaId, Vma, VmFlags};
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ);
    /// let v = v.with_anon_vma(AnonVma::new(AnonVmaId(2)));
    /// assert_eq!(v.anon_vma().map(|a| a.id()), Some(AnonVmaId(2)));
    /// ```
    #[must_use]
    pub fn with_anon_vma(mut self, anon: AnonVma) -> Vma {
        self.anon = Some(anon);
        self
    }

    /// The same VMA with (or without) a close hook.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ);
    /// assert!(v.with_close_hook(true).has_close_hook());
    /// ```
    #[must_use]
    pub fn with_close_hook(mut self, close: bool) -> Vma {
        self.close_hook = close;
        self
    }

    /// First address.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert_eq!(Vma::anonymous(0x5000, 0x7000, VmFlags::READ).start(), 0x5000);
    /// ```
    pub fn start(&self) -> u64 {
        self.start
    }

    /// First address after the VMA.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert_eq!(Vma::anonymous(0x5000, 0x7000, VmFlags::READ).end(), 0x7000);
    /// ```
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Length in bytes.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert_eq!(Vma::anonymous(0x5000, 0x7000, VmFlags::READ).len(), 0x2000);
    /// ```
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the VMA is empty (never true for a VMA in an address space).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert!(!Vma::anonymous(0x5000, 0x7000, VmFlags::READ).is_empty());
    /// assert!(Vma::anonymous(0x5000, 0x5000, VmFlags::READ).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Length in pages (Linux: `vma_pages()`).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert_eq!(Vma::anonymous(0x5000, 0x7000, VmFlags::READ).pages(), 2);
    /// ```
    pub fn pages(&self) -> u64 {
        (self.end - self.start) >> PAGE_SHIFT
    }

    /// Page offset of `start` in the backing object (`vm_pgoff`).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert_eq!(Vma::anonymous(0x5000, 0x7000, VmFlags::READ).pgoff(), 5);
    /// ```
    pub fn pgoff(&self) -> u64 {
        self.pgoff
    }

    /// Page offset of `addr`, which should lie in the VMA (Linux: `linear_page_index()`).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ).with_pgoff(100);
    /// assert_eq!(v.pgoff_at(0x6000), 101);
    /// ```
    pub fn pgoff_at(&self, addr: u64) -> u64 {
        self.pgoff
            .wrapping_add(addr.wrapping_sub(self.start) >> PAGE_SHIFT)
    }

    /// Flags (`vm_flags`).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert_eq!(Vma::anonymous(0x5000, 0x7000, VmFlags::READ).flags(), VmFlags::READ);
    /// ```
    pub fn flags(&self) -> VmFlags {
        self.flags
    }

    /// The backing file (`vm_file`); a shared anonymous mapping has its own shmem file.
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x1000, Prot::READ, MapFlags::SHARED | MapFlags::ANONYMOUS, None, 0)?;
    /// // Shared anonymous memory is backed by a shmem file of its own.
    /// assert_eq!(mm.find_vma(a).unwrap().file().and_then(|f| f.name()), Some("/dev/zero (deleted)"));
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn file(&self) -> Option<&Arc<File>> {
        self.file.as_ref()
    }

    /// The anon_vma, if anonymous pages were faulted in (or a merge brought one).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, MapFlags, Prot};
    /// let mut mm = AddressSpace::new();
    /// let a = mm.mmap(0, 0x1000, Prot::READ | Prot::WRITE, MapFlags::PRIVATE | MapFlags::ANONYMOUS, None, 0)?;
    /// assert!(mm.find_vma(a).unwrap().anon_vma().is_none());
    /// mm.fault(a, true)?;
    /// assert!(mm.find_vma(a).unwrap().anon_vma().is_some());
    /// # Ok::<(), maple_mm::Errno>(())
    /// ```
    pub fn anon_vma(&self) -> Option<AnonVma> {
        self.anon
    }

    /// Whether the VMA's operations have a close hook.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// assert!(!Vma::anonymous(0x5000, 0x7000, VmFlags::READ).has_close_hook());
    /// ```
    pub fn has_close_hook(&self) -> bool {
        self.close_hook
    }

    /// Whether `addr` lies in `[start, end)`.
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ);
    /// assert!(v.contains(0x6fff) && !v.contains(0x7000));
    /// ```
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Whether the VMA is private anonymous memory: no file and no operations (Linux:
    /// `vma_is_anonymous()`).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ);
    /// assert!(v.is_anonymous());
    /// assert!(!v.with_close_hook(true).is_anonymous());
    /// ```
    pub fn is_anonymous(&self) -> bool {
        self.file.is_none() && !self.close_hook
    }

    /// The start lowered by the stack guard gap for a growsdown VMA, clamped at 0 (Linux:
    /// `vm_start_gap()`).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// let stack = Vma::anonymous(0x30_0000, 0x40_0000, VmFlags::READ | VmFlags::GROWSDOWN);
    /// assert_eq!(stack.start_gap(0x10_0000), 0x20_0000);
    /// assert_eq!(stack.start_gap(0x100_0000), 0);
    /// ```
    pub fn start_gap(&self, guard_gap: u64) -> u64 {
        if self.flags.contains(VmFlags::GROWSDOWN) {
            self.start.saturating_sub(guard_gap)
        } else {
            self.start
        }
    }

    /// The `/proc/PID/maps` permission letters (`rw-p`).
    ///
    /// ```
    /// use maple_mm::{Vma, VmFlags};
    /// let v = Vma::anonymous(0x5000, 0x7000, VmFlags::READ | VmFlags::EXEC);
    /// assert_eq!(v.perms(), "r-xp");
    /// ```
    pub fn perms(&self) -> String {
        let f = self.flags;
        let mut s = String::with_capacity(4);
        s.push(if f.contains(VmFlags::READ) { 'r' } else { '-' });
        s.push(if f.contains(VmFlags::WRITE) { 'w' } else { '-' });
        s.push(if f.contains(VmFlags::EXEC) { 'x' } else { '-' });
        s.push(if f.contains(VmFlags::MAYSHARE) {
            's'
        } else {
            'p'
        });
        s
    }

    /// Whether the VMA's anon_vma chain is singular (Linux: `list_is_singular()`; an empty
    /// chain is not).
    pub(crate) fn chain_singular(&self) -> bool {
        self.anon.is_some_and(|a| !a.inherited)
    }

    /// Whether two VMAs are backed by the same file (or both by none).
    pub(crate) fn same_file(&self, other: Option<&Arc<File>>) -> bool {
        match (&self.file, other) {
            (None, None) => true,
            (Some(a), Some(b)) => a.id == b.id,
            _ => false,
        }
    }
}

impl fmt::Debug for Vma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:#x}, {:#x}) {} pgoff {:#x} {:?}",
            self.start,
            self.end,
            self.perms(),
            self.pgoff,
            self.flags
        )?;
        if let Some(file) = &self.file {
            write!(f, " file {}", file.id.0)?;
        }
        if let Some(anon) = self.anon {
            write!(
                f,
                " anon {}{}",
                anon.id.0,
                if anon.inherited { " (inherited)" } else { "" }
            )?;
        }
        if self.close_hook {
            f.write_str(" close")?;
        }
        Ok(())
    }
}
