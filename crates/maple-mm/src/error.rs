//! Errors: the Linux error numbers the system calls return, and what
//! [`AddressSpace::check_invariants`](crate::AddressSpace::check_invariants) reports.

use core::fmt;

/// A Linux error number, as the memory-management system calls return it.
///
/// Every operation of [`AddressSpace`](crate::AddressSpace) fails with the number Linux returns
/// for the same input in the same state. [`Errno::code`] gives the x86-64 value and
/// [`Errno::name`] the symbolic name (`"EINVAL"`).
///
/// # Examples
///
/// ```
/// use maple_mm::{AddressSpace, Errno};
///
/// let mut mm = AddressSpace::new();
/// // munmap of an address that is not page aligned.
/// assert_eq!(mm.munmap(0x1001, 0x1000), Err(Errno::Inval));
/// assert_eq!(Errno::Inval.code(), 22);
/// assert_eq!(Errno::Inval.to_string(), "EINVAL");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// `EPERM` (1): the operation is not permitted (an address below `mmap_min_addr`, a
    /// memory-failure advice without `CAP_SYS_ADMIN`, `MAP_LOCKED` without the right to lock).
    #[doc(alias = "EPERM")]
    Perm,
    /// `EBADF` (9): a file descriptor was needed.
    #[doc(alias = "EBADF")]
    BadF,
    /// `EAGAIN` (11): a lock limit would be exceeded, or (from `madvise`) kernel memory ran
    /// out.
    #[doc(alias = "EAGAIN")]
    Again,
    /// `ENOMEM` (12): no room in the address space, a range not fully mapped, the
    /// `max_map_count` limit, a resource limit, or memory for the VMA tree ran out.
    #[doc(alias = "ENOMEM")]
    NoMem,
    /// `EACCES` (13): the protection asked for is not allowed by the mapping or the file.
    #[doc(alias = "EACCES")]
    Access,
    /// `EFAULT` (14): no VMA where one is needed (`mremap`), or a range crossing its VMA.
    #[doc(alias = "EFAULT")]
    Fault,
    /// `EEXIST` (17): `MAP_FIXED_NOREPLACE` over an existing mapping.
    #[doc(alias = "EEXIST")]
    Exist,
    /// `EINVAL` (22): an argument is invalid.
    #[doc(alias = "EINVAL")]
    Inval,
    /// `ENOSPC` (28): every protection key is allocated (`pkey_alloc`).
    #[doc(alias = "ENOSPC")]
    NoSpc,
    /// `EOVERFLOW` (75): the file offset plus the length overflow.
    #[doc(alias = "EOVERFLOW")]
    Overflow,
    /// `EOPNOTSUPP` (95): a `MAP_SHARED_VALIDATE` flag the file does not support.
    #[doc(alias = "EOPNOTSUPP")]
    OpNotSupp,
}

impl Errno {
    /// The error number on x86-64 Linux.
    ///
    /// ```
    /// assert_eq!(maple_mm::Errno::NoMem.code(), 12);
    /// ```
    pub fn code(self) -> i32 {
        match self {
            Errno::Perm => 1,
            Errno::BadF => 9,
            Errno::Again => 11,
            Errno::NoMem => 12,
            Errno::Access => 13,
            Errno::Fault => 14,
            Errno::Exist => 17,
            Errno::Inval => 22,
            Errno::NoSpc => 28,
            Errno::Overflow => 75,
            Errno::OpNotSupp => 95,
        }
    }

    /// The symbolic name, as `strace` prints it.
    ///
    /// ```
    /// assert_eq!(maple_mm::Errno::Exist.name(), "EEXIST");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Errno::Perm => "EPERM",
            Errno::BadF => "EBADF",
            Errno::Again => "EAGAIN",
            Errno::NoMem => "ENOMEM",
            Errno::Access => "EACCES",
            Errno::Fault => "EFAULT",
            Errno::Exist => "EEXIST",
            Errno::Inval => "EINVAL",
            Errno::NoSpc => "ENOSPC",
            Errno::Overflow => "EOVERFLOW",
            Errno::OpNotSupp => "EOPNOTSUPP",
        }
    }

    /// The error with a given name (`"EINVAL"`), for trace parsers; `None` for a name this
    /// crate never returns.
    ///
    /// ```
    /// use maple_mm::Errno;
    /// assert_eq!(Errno::from_name("EFAULT"), Some(Errno::Fault));
    /// assert_eq!(Errno::from_name("ENOENT"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Errno> {
        [
            Errno::Perm,
            Errno::BadF,
            Errno::Again,
            Errno::NoMem,
            Errno::Access,
            Errno::Fault,
            Errno::Exist,
            Errno::Inval,
            Errno::NoSpc,
            Errno::Overflow,
            Errno::OpNotSupp,
        ]
        .into_iter()
        .find(|e| e.name() == name)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for Errno {}

impl From<maple_tree::OutOfMemory> for Errno {
    /// The VMA tree could not get nodes: Linux fails the same way (`-ENOMEM` from
    /// `vma_iter_prealloc()`).
    fn from(_: maple_tree::OutOfMemory) -> Self {
        Errno::NoMem
    }
}

/// A broken invariant of an address space, found by
/// [`AddressSpace::check_invariants`](crate::AddressSpace::check_invariants).
///
/// The numbered invariants (M1 to M6) are listed in the documentation of
/// [`AddressSpace`](crate::AddressSpace).
///
/// # Examples
///
/// ```
/// let mm = maple_mm::AddressSpace::new();
/// assert_eq!(mm.check_invariants(), Ok(()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvariantError {
    /// M1: the VMA index is not a valid tree (the tree's own report).
    Index(String),
    /// M2: an index entry's range differs from its VMA's `[start, end)`, or names no VMA.
    RangeMismatch {
        /// Start of the index entry.
        start: u64,
        /// Exclusive end of the index entry.
        end: u64,
    },
    /// M3: a VMA is malformed: empty, not page aligned, or outside the task size.
    BadVma {
        /// Start of the VMA.
        start: u64,
        /// Exclusive end of the VMA.
        end: u64,
    },
    /// M4: `map_count` differs from the number of index entries (the kernel's
    /// `BUG_ON(count != mm->map_count)` in `validate_mm()`).
    MapCount {
        /// What the address space counted.
        map_count: usize,
        /// Entries found in the index.
        entries: usize,
    },
    /// M5: a stored VMA is not in the index, or the index and the VMA table disagree in size.
    Orphan {
        /// VMAs stored in the table.
        stored: usize,
        /// Entries found in the index.
        entries: usize,
    },
    /// M6: two adjacent VMAs that Linux would have merged are still separate.
    Mergeable {
        /// The boundary between the two VMAs.
        at: u64,
    },
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvariantError::Index(report) => write!(f, "M1: VMA tree invalid: {report}"),
            InvariantError::RangeMismatch { start, end } => {
                write!(
                    f,
                    "M2: index entry [{start:#x}, {end:#x}) does not match its VMA"
                )
            }
            InvariantError::BadVma { start, end } => {
                write!(f, "M3: malformed VMA [{start:#x}, {end:#x})")
            }
            InvariantError::MapCount { map_count, entries } => {
                write!(f, "M4: map_count {map_count} but {entries} entries")
            }
            InvariantError::Orphan { stored, entries } => {
                write!(f, "M5: {stored} VMAs stored but {entries} entries indexed")
            }
            InvariantError::Mergeable { at } => {
                write!(f, "M6: mergeable VMAs left separate at {at:#x}")
            }
        }
    }
}

impl std::error::Error for InvariantError {}
