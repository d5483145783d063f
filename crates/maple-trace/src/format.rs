//! The records of a trace and how each one is written as a line.
//!
//! [`Trace`] is a header and a list of [`Record`]s; the text form is described in the crate docs.
//! Every type here prints itself in exactly the form the [parser](crate::parse()) reads, so writing
//! and parsing round-trip.

use std::fmt::{self, Display, Formatter, Write as _};

/// The format version this crate writes. It reads this one and every earlier one
/// ([`READ_VERSIONS`]).
pub const FORMAT_VERSION: u32 = 2;

/// The format versions this crate reads: 1 (full snapshots only) and 2 (which adds `D`
/// snapshots that give only what changed, and `E cut-short`).
pub const READ_VERSIONS: &[u32] = &[1, 2];

/// The first line of every trace.
pub const MAGIC: &str = "#mapletrace";

/// An address space, numbered by the capture in order of appearance (never a pid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpaceId(pub u32);

/// A thread, written `t<n>`, numbered by the capture in order of appearance (never a tid).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u32);

/// A file, written `f<n>`: one id per file (device and inode) seen in the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

impl Display for SpaceId {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Display for ThreadId {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl Display for FileId {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "f{}", self.0)
    }
}

/// An error number returned by a failed system call, such as `ENOMEM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(pub u16);

/// Error names by number (x86-64 and generic Linux), plus the kernel-internal restart codes
/// that strace shows.
const ERRNO_NAMES: &[(u16, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (8, "ENOEXEC"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (18, "EXDEV"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (34, "ERANGE"),
    (35, "EDEADLK"),
    (36, "ENAMETOOLONG"),
    (37, "ENOLCK"),
    (38, "ENOSYS"),
    (40, "ELOOP"),
    (61, "ENODATA"),
    (75, "EOVERFLOW"),
    (95, "EOPNOTSUPP"),
    (110, "ETIMEDOUT"),
    (125, "ECANCELED"),
    (133, "EHWPOISON"),
    (512, "ERESTARTSYS"),
    (513, "ERESTARTNOINTR"),
    (514, "ERESTARTNOHAND"),
    (516, "ERESTART_RESTARTBLOCK"),
];

impl Errno {
    /// `ENOMEM`.
    pub const ENOMEM: Errno = Errno(12);
    /// `EINVAL`.
    pub const EINVAL: Errno = Errno(22);

    /// The symbolic name, if this crate knows it.
    pub fn name(self) -> Option<&'static str> {
        ERRNO_NAMES
            .iter()
            .find(|&&(n, _)| n == self.0)
            .map(|&(_, name)| name)
    }

    /// Looks up a symbolic name (`ENOMEM`) or the numeric form `E#12`.
    pub fn from_name(name: &str) -> Option<Errno> {
        if let Some(num) = name.strip_prefix("E#") {
            return num.parse().ok().map(Errno);
        }
        ERRNO_NAMES
            .iter()
            .find(|&&(_, n)| n == name)
            .map(|&(num, _)| Errno(num))
    }
}

impl Display for Errno {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "E#{}", self.0),
        }
    }
}

/// What a system call returned: a value (written in hex) or an error (written `!ENOMEM`).
pub type SysResult = Result<u64, Errno>;

struct ShowResult<'a>(&'a SysResult);

impl Display for ShowResult<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            Ok(value) => write!(f, "{value:x}"),
            Err(errno) => write!(f, "!{errno}"),
        }
    }
}

/// Writes `bits` as letters from `table` (in table order), then any bits the table does not
/// name as `+<hex>`; `empty` when no bit is set.
fn write_letters(
    f: &mut Formatter<'_>,
    bits: u64,
    table: &[(u64, char)],
    empty: &str,
) -> fmt::Result {
    if bits == 0 {
        return f.write_str(empty);
    }
    let mut left = bits;
    for &(bit, letter) in table {
        if bits & bit == bit && left & bit != 0 {
            f.write_char(letter)?;
            left &= !bit;
        }
    }
    if left != 0 {
        write!(f, "+{left:x}")?;
    }
    Ok(())
}

/// Memory protection as passed to `mmap` and `mprotect`, written `rwx` with `-` for a missing
/// right, then `G` (PROT_GROWSDOWN) or `U` (PROT_GROWSUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Prot(pub u32);

impl Prot {
    /// PROT_READ.
    pub const READ: u32 = 0x1;
    /// PROT_WRITE.
    pub const WRITE: u32 = 0x2;
    /// PROT_EXEC.
    pub const EXEC: u32 = 0x4;
    /// PROT_GROWSDOWN.
    pub const GROWSDOWN: u32 = 0x0100_0000;
    /// PROT_GROWSUP.
    pub const GROWSUP: u32 = 0x0200_0000;
}

impl Display for Prot {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let bits = self.0;
        for (bit, letter) in [(Prot::READ, 'r'), (Prot::WRITE, 'w'), (Prot::EXEC, 'x')] {
            f.write_char(if bits & bit != 0 { letter } else { '-' })?;
        }
        let rest = bits & !(Prot::READ | Prot::WRITE | Prot::EXEC);
        write_letters(
            f,
            rest.into(),
            &[(Prot::GROWSDOWN.into(), 'G'), (Prot::GROWSUP.into(), 'U')],
            "",
        )
    }
}

/// `mmap` flags, written as letters (see the crate docs); unnamed bits follow as `+<hex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MapFlags(pub u32);

impl MapFlags {
    /// MAP_SHARED.
    pub const SHARED: u32 = 0x01;
    /// MAP_PRIVATE.
    pub const PRIVATE: u32 = 0x02;
    /// MAP_SHARED_VALIDATE.
    pub const SHARED_VALIDATE: u32 = 0x03;
    /// MAP_DROPPABLE.
    pub const DROPPABLE: u32 = 0x08;
    /// The bits that hold the mapping type.
    pub const TYPE_MASK: u32 = 0x0f;
    /// MAP_FIXED.
    pub const FIXED: u32 = 0x10;
    /// MAP_ANONYMOUS.
    pub const ANONYMOUS: u32 = 0x20;
    /// MAP_32BIT.
    pub const BIT32: u32 = 0x40;
    /// MAP_GROWSDOWN.
    pub const GROWSDOWN: u32 = 0x0100;
    /// MAP_DENYWRITE.
    pub const DENYWRITE: u32 = 0x0800;
    /// MAP_EXECUTABLE.
    pub const EXECUTABLE: u32 = 0x1000;
    /// MAP_LOCKED.
    pub const LOCKED: u32 = 0x2000;
    /// MAP_NORESERVE.
    pub const NORESERVE: u32 = 0x4000;
    /// MAP_POPULATE.
    pub const POPULATE: u32 = 0x8000;
    /// MAP_NONBLOCK.
    pub const NONBLOCK: u32 = 0x1_0000;
    /// MAP_STACK.
    pub const STACK: u32 = 0x2_0000;
    /// MAP_HUGETLB.
    pub const HUGETLB: u32 = 0x4_0000;
    /// MAP_SYNC.
    pub const SYNC: u32 = 0x8_0000;
    /// MAP_FIXED_NOREPLACE.
    pub const FIXED_NOREPLACE: u32 = 0x10_0000;
    /// MAP_UNINITIALIZED.
    pub const UNINITIALIZED: u32 = 0x400_0000;

    /// Letters in writing order. The type letters come first; `v` (SHARED_VALIDATE) covers
    /// both type bits.
    pub(crate) const LETTERS: &'static [(u32, char)] = &[
        (MapFlags::SHARED_VALIDATE, 'v'),
        (MapFlags::SHARED, 's'),
        (MapFlags::PRIVATE, 'p'),
        (MapFlags::DROPPABLE, 'Z'),
        (MapFlags::ANONYMOUS, 'a'),
        (MapFlags::FIXED, 'F'),
        (MapFlags::FIXED_NOREPLACE, 'R'),
        (MapFlags::DENYWRITE, 'D'),
        (MapFlags::EXECUTABLE, 'E'),
        (MapFlags::NORESERVE, 'N'),
        (MapFlags::GROWSDOWN, 'G'),
        (MapFlags::LOCKED, 'L'),
        (MapFlags::POPULATE, 'P'),
        (MapFlags::NONBLOCK, 'B'),
        (MapFlags::STACK, 'K'),
        (MapFlags::HUGETLB, 'H'),
        (MapFlags::BIT32, '3'),
        (MapFlags::SYNC, 'Y'),
        (MapFlags::UNINITIALIZED, 'U'),
    ];

    /// Whether `bit` (one of the constants) is set; for the type constants, whether the type
    /// is exactly that.
    pub fn has(self, bit: u32) -> bool {
        if bit & MapFlags::TYPE_MASK == bit {
            self.0 & MapFlags::TYPE_MASK == bit
        } else {
            self.0 & bit == bit
        }
    }
}

impl Display for MapFlags {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        // With MAP_HUGETLB the top six bits are the page size (MAP_HUGE_SHIFT), not
        // MAP_UNINITIALIZED: leave them in the `+<hex>` part.
        let huge = self.has(MapFlags::HUGETLB);
        let table: Vec<(u64, char)> = MapFlags::LETTERS
            .iter()
            .filter(|&&(bit, _)| !(huge && bit == MapFlags::UNINITIALIZED))
            .map(|&(bit, c)| (u64::from(bit), c))
            .collect();
        write_letters(f, self.0.into(), &table, "0")
    }
}

/// `mremap` flags: `M` MREMAP_MAYMOVE, `F` MREMAP_FIXED, `D` MREMAP_DONTUNMAP, `0` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RemapFlags(pub u32);

impl RemapFlags {
    /// MREMAP_MAYMOVE.
    pub const MAYMOVE: u32 = 1;
    /// MREMAP_FIXED.
    pub const FIXED: u32 = 2;
    /// MREMAP_DONTUNMAP.
    pub const DONTUNMAP: u32 = 4;

    pub(crate) const LETTERS: &'static [(u32, char)] = &[
        (RemapFlags::MAYMOVE, 'M'),
        (RemapFlags::FIXED, 'F'),
        (RemapFlags::DONTUNMAP, 'D'),
    ];
}

impl Display for RemapFlags {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let table: Vec<(u64, char)> = RemapFlags::LETTERS
            .iter()
            .map(|&(bit, c)| (u64::from(bit), c))
            .collect();
        write_letters(f, self.0.into(), &table, "0")
    }
}

/// `madvise` advice values by name, without the `MADV_` prefix.
const ADVICE_NAMES: &[(u32, &str)] = &[
    (0, "NORMAL"),
    (1, "RANDOM"),
    (2, "SEQUENTIAL"),
    (3, "WILLNEED"),
    (4, "DONTNEED"),
    (8, "FREE"),
    (9, "REMOVE"),
    (10, "DONTFORK"),
    (11, "DOFORK"),
    (12, "MERGEABLE"),
    (13, "UNMERGEABLE"),
    (14, "HUGEPAGE"),
    (15, "NOHUGEPAGE"),
    (16, "DONTDUMP"),
    (17, "DODUMP"),
    (18, "WIPEONFORK"),
    (19, "KEEPONFORK"),
    (20, "COLD"),
    (21, "PAGEOUT"),
    (22, "POPULATE_READ"),
    (23, "POPULATE_WRITE"),
    (24, "DONTNEED_LOCKED"),
    (25, "COLLAPSE"),
    (100, "HWPOISON"),
    (101, "SOFT_OFFLINE"),
    (102, "GUARD_INSTALL"),
    (103, "GUARD_REMOVE"),
];

/// A `madvise` advice, written by name without `MADV_` (`DONTFORK`), or `#<n>` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Advice(pub u32);

impl Advice {
    /// The name without `MADV_`, if known.
    pub fn name(self) -> Option<&'static str> {
        ADVICE_NAMES
            .iter()
            .find(|&&(n, _)| n == self.0)
            .map(|&(_, name)| name)
    }

    /// Looks up a name without `MADV_` (`DONTFORK`) or the numeric form `#<n>`.
    pub fn from_name(name: &str) -> Option<Advice> {
        if let Some(num) = name.strip_prefix('#') {
            return num.parse().ok().map(Advice);
        }
        ADVICE_NAMES
            .iter()
            .find(|&&(_, n)| n == name)
            .map(|&(num, _)| Advice(num))
    }
}

impl Display for Advice {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "#{}", self.0),
        }
    }
}

/// How the file descriptor given to `mmap` was opened (`O_ACCMODE`): it decides whether a
/// shared mapping may be written (`VM_MAYWRITE`, `VM_SHARED`) and whether `mmap` may ask for
/// write access at all. Written after the file id: `f3:r`, `f3:w`, `f3:rw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpenMode {
    /// `O_RDONLY`.
    Read,
    /// `O_WRONLY`.
    Write,
    /// `O_RDWR`.
    ReadWrite,
}

impl OpenMode {
    /// The suffix letters (`r`, `w`, `rw`).
    pub fn letters(self) -> &'static str {
        match self {
            OpenMode::Read => "r",
            OpenMode::Write => "w",
            OpenMode::ReadWrite => "rw",
        }
    }

    /// The mode of `O_ACCMODE` bits (0, 1 or 2); `None` for 3, which Linux reserves.
    pub fn from_accmode(bits: u32) -> Option<OpenMode> {
        match bits & 3 {
            0 => Some(OpenMode::Read),
            1 => Some(OpenMode::Write),
            2 => Some(OpenMode::ReadWrite),
            _ => None,
        }
    }
}

/// Memory system calls that have no letter of their own, written `o` with the syscall's name.
///
/// Each takes a fixed number of hex arguments ([`OtherCall::arity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtherCall {
    /// `mlock(addr, len)`.
    Mlock,
    /// `mlock2(addr, len, flags)`.
    Mlock2,
    /// `munlock(addr, len)`.
    Munlock,
    /// `mlockall(flags)`.
    Mlockall,
    /// `munlockall()`.
    Munlockall,
    /// `mseal(addr, len, flags)`.
    Mseal,
    /// `mbind(addr, len, mode)` (the node mask is not recorded).
    Mbind,
    /// `remap_file_pages(addr, size, prot, pgoff, flags)`.
    RemapFilePages,
    /// `shmat(shmid, addr, flags)`, returning the address.
    Shmat,
    /// `shmdt(addr)`.
    Shmdt,
    /// `map_shadow_stack(addr, size, flags)`, returning the address.
    MapShadowStack,
    /// `prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name)`: the name is not recorded,
    /// only whether one was set (1) or cleared (0).
    SetVmaName,
    /// `set_mempolicy_home_node(addr, len, node, flags)`.
    SetMempolicyHomeNode,
    /// `process_madvise(pidfd, iovec, vlen, advice, flags)` on this process (ranges not recorded).
    ProcessMadvise,
    /// `pkey_alloc(flags, access_rights)`, returning the key.
    PkeyAlloc,
    /// `pkey_free(key)`.
    PkeyFree,
}

const OTHER_CALLS: &[(OtherCall, &str, usize)] = &[
    (OtherCall::Mlock, "mlock", 2),
    (OtherCall::Mlock2, "mlock2", 3),
    (OtherCall::Munlock, "munlock", 2),
    (OtherCall::Mlockall, "mlockall", 1),
    (OtherCall::Munlockall, "munlockall", 0),
    (OtherCall::Mseal, "mseal", 3),
    (OtherCall::Mbind, "mbind", 3),
    (OtherCall::RemapFilePages, "remap_file_pages", 5),
    (OtherCall::Shmat, "shmat", 3),
    (OtherCall::Shmdt, "shmdt", 1),
    (OtherCall::MapShadowStack, "map_shadow_stack", 3),
    (OtherCall::SetVmaName, "set_vma_name", 3),
    (
        OtherCall::SetMempolicyHomeNode,
        "set_mempolicy_home_node",
        4,
    ),
    (OtherCall::ProcessMadvise, "process_madvise", 1),
    (OtherCall::PkeyAlloc, "pkey_alloc", 2),
    (OtherCall::PkeyFree, "pkey_free", 1),
];

impl OtherCall {
    /// The syscall's name as written in a trace.
    pub fn name(self) -> &'static str {
        OTHER_CALLS
            .iter()
            .find(|e| e.0 == self)
            .map_or("?", |e| e.1)
    }

    /// How many hex arguments the call carries.
    pub fn arity(self) -> usize {
        OTHER_CALLS.iter().find(|e| e.0 == self).map_or(0, |e| e.2)
    }

    /// Looks up a call by its name in a trace.
    pub fn from_name(name: &str) -> Option<OtherCall> {
        OTHER_CALLS.iter().find(|e| e.1 == name).map(|e| e.0)
    }
}

/// One operation on an address space, with the arguments the program passed and the result
/// the kernel returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `N space thread prog`: a new, empty address space (a program started or exec'd); a
    /// snapshot of the layout exec built follows.
    NewSpace {
        /// The program's file name, without its directory.
        program: String,
    },
    /// `F space parent thread [racing]`: fork; the space starts as a copy of `parent`.
    Fork {
        /// The space that was copied.
        parent: SpaceId,
        /// Other threads of `parent` were inside memory calls at the fork (written
        /// `racing`): the copy may hold effects of their calls, which are recorded after
        /// this line, when they returned.
        racing: bool,
    },
    /// `X space`: the last task using the space exited or exec'd.
    Exit,
    /// `m space thread addr len prot flags file off ret`: `mmap`.
    Mmap {
        /// The hint or fixed address (0 for NULL).
        addr: u64,
        /// The length as passed.
        len: u64,
        /// The protection.
        prot: Prot,
        /// The flags.
        flags: MapFlags,
        /// The file mapped, or `None` for anonymous memory (or when the descriptor was bad).
        file: Option<FileId>,
        /// How the descriptor was opened, when the capture could tell (`None` for anonymous
        /// memory, and in traces imported from strace).
        mode: Option<OpenMode>,
        /// The file offset in bytes.
        offset: u64,
        /// The address mapped, or the error.
        ret: SysResult,
        /// The size in bytes of the regular file mapped, at the call (written `z<hex>` after
        /// the result): pages wholly beyond it cannot be faulted in. `None` for anything else
        /// (anonymous memory, devices) and when the capture could not tell.
        file_size: Option<u64>,
    },
    /// `u space thread addr len ret`: `munmap`.
    Munmap {
        /// Start address.
        addr: u64,
        /// Length as passed.
        len: u64,
        /// 0 or the error.
        ret: SysResult,
    },
    /// `p space thread addr len prot ret [k<pkey>]`: `mprotect` or `pkey_mprotect`.
    Mprotect {
        /// Start address.
        addr: u64,
        /// Length as passed.
        len: u64,
        /// New protection.
        prot: Prot,
        /// The key, for `pkey_mprotect`.
        pkey: Option<u32>,
        /// 0 or the error.
        ret: SysResult,
    },
    /// `b space thread req ret`: `brk`. `req` 0 is `brk(NULL)`; `ret` is the break after the
    /// call (the old one when the request failed).
    Brk {
        /// The requested break (0 for a query).
        request: u64,
        /// The break the kernel returned.
        ret: u64,
    },
    /// `r space thread old oldlen newlen flags newaddr ret`: `mremap`.
    Mremap {
        /// The old address.
        old_addr: u64,
        /// The old length.
        old_len: u64,
        /// The new length.
        new_len: u64,
        /// The flags.
        flags: RemapFlags,
        /// The new address for MREMAP_FIXED (0 when absent).
        new_addr: u64,
        /// The resulting address, or the error.
        ret: SysResult,
    },
    /// `a space thread addr len advice ret`: `madvise`.
    Madvise {
        /// Start address.
        addr: u64,
        /// Length as passed.
        len: u64,
        /// The advice.
        advice: Advice,
        /// 0 or the error.
        ret: SysResult,
    },
    /// `o space thread name args... ret`: another memory system call.
    Other {
        /// Which call.
        call: OtherCall,
        /// Its arguments ([`OtherCall::arity`] of them).
        args: Vec<u64>,
        /// The result.
        ret: SysResult,
    },
}

impl Op {
    /// The letter that starts the op's line.
    pub fn letter(&self) -> char {
        match self {
            Op::NewSpace { .. } => 'N',
            Op::Fork { .. } => 'F',
            Op::Exit => 'X',
            Op::Mmap { .. } => 'm',
            Op::Munmap { .. } => 'u',
            Op::Mprotect { .. } => 'p',
            Op::Brk { .. } => 'b',
            Op::Mremap { .. } => 'r',
            Op::Madvise { .. } => 'a',
            Op::Other { .. } => 'o',
        }
    }

    /// The address ranges the call may have changed, `[start, end)` (before the VMAs around
    /// them, which a merge may change too), given the break before it; `None` when it may
    /// have changed any part of the address space (fork, exec, `mlockall`, a `brk` without a
    /// known break, calls whose range the trace does not hold).
    ///
    /// ```
    /// use maple_trace::format::{Op, SysResult};
    /// let munmap = Op::Munmap { addr: 0x7000, len: 0x2000, ret: Ok(0) };
    /// assert_eq!(munmap.ranges(None), Some(vec![(0x7000, 0x9000)]));
    /// assert_eq!(Op::Brk { request: 0x6000, ret: 0x6000 }.ranges(Some(0x5000)), Some(vec![(0x5000, 0x6000)]));
    /// assert_eq!(Op::Exit.ranges(None), None);
    /// ```
    pub fn ranges(&self, brk_before: Option<u64>) -> Option<Vec<(u64, u64)>> {
        self.spans(brk_before).map(|s| s.as_slice().to_vec())
    }

    /// [`Op::ranges`] without an allocation.
    pub(crate) fn spans(&self, brk_before: Option<u64>) -> Option<Spans> {
        let span = |addr: u64, len: u64| Spans::one(addr, addr.saturating_add(len.max(1)));
        Some(match self {
            // A failed MAP_FIXED may have unmapped the range already.
            Op::Mmap { addr, len, ret, .. } => span(*ret.as_ref().unwrap_or(addr), *len),
            Op::Munmap { addr, len, .. }
            | Op::Mprotect { addr, len, .. }
            | Op::Madvise { addr, len, .. } => span(*addr, *len),
            Op::Mremap {
                old_addr,
                old_len,
                new_len,
                ret,
                ..
            } => {
                let mut out = span(*old_addr, (*old_len).max(*new_len));
                if let Ok(at) = ret {
                    out.ranges[1] = (*at, at.saturating_add((*new_len).max(1)));
                    out.len = 2;
                }
                out
            }
            Op::Brk { ret, .. } => {
                let before = brk_before?;
                Spans::one(before.min(*ret), before.max(*ret))
            }
            Op::Other { call, args, .. } => match call {
                OtherCall::Mlock
                | OtherCall::Mlock2
                | OtherCall::Munlock
                | OtherCall::Mseal
                | OtherCall::Mbind
                | OtherCall::RemapFilePages
                | OtherCall::SetVmaName
                | OtherCall::SetMempolicyHomeNode => span(*args.first()?, *args.get(1)?),
                _ => return None,
            },
            Op::NewSpace { .. } | Op::Fork { .. } | Op::Exit => return None,
        })
    }

    /// A short name for summaries (`mmap`, `fork`, `mlock` ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::NewSpace { .. } => "exec",
            Op::Fork { .. } => "fork",
            Op::Exit => "exit",
            Op::Mmap { .. } => "mmap",
            Op::Munmap { .. } => "munmap",
            Op::Mprotect { .. } => "mprotect",
            Op::Brk { .. } => "brk",
            Op::Mremap { .. } => "mremap",
            Op::Madvise { .. } => "madvise",
            Op::Other { call, .. } => call.name(),
        }
    }
}

/// The address ranges of [`Op::ranges`], held inline: one, or two for an `mremap` that
/// moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spans {
    ranges: [(u64, u64); 2],
    len: usize,
}

impl Spans {
    fn one(start: u64, end: u64) -> Spans {
        Spans {
            ranges: [(start, end), (0, 0)],
            len: 1,
        }
    }

    /// The ranges, `[start, end)` each.
    pub(crate) fn as_slice(&self) -> &[(u64, u64)] {
        &self.ranges[..self.len]
    }
}

/// Which file (or kernel-named area) a snapshot VMA maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Backing {
    /// Anonymous memory with no name, written `-`.
    Anon,
    /// A file, written `f<n>`.
    File(FileId),
    /// A name the kernel shows in brackets: `[heap]`, `[stack]`, `[vdso]`, `[vvar]`,
    /// `[vsyscall]`, `[anon:NAME]`... Written in brackets, percent-escaped like every name.
    Named(String),
}

impl Display for Backing {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Backing::Anon => f.write_str("-"),
            Backing::File(id) => write!(f, "{id}"),
            Backing::Named(name) => write!(f, "[{}]", escape_token(name)),
        }
    }
}

/// One VMA of a kernel snapshot, as `/proc/PID/smaps` showed it.
///
/// Written `v start end perms offset backing [flags] [A] [pkey<n>]`, with `perms` as in
/// `/proc/PID/maps` (`rw-p`), `flags` the two-letter `VmFlags` joined by commas
/// (`rd,wr,mr,mw,me,ac`), and the protection key when it is not 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SnapshotVma {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
    /// Shared (`s`) rather than private (`p`).
    pub shared: bool,
    /// The file offset in bytes (0 for anonymous memory).
    pub offset: u64,
    /// What the VMA maps.
    pub backing: Backing,
    /// The `VmFlags` mnemonics in the kernel's order, when the capture read them.
    pub flags: Vec<[u8; 2]>,
    /// Whether `/proc/PID/smaps` showed anonymous pages in the VMA (`Anonymous:` above 0),
    /// written as a final `A`. Such a VMA has an anon_vma, which decides some merges; a VMA
    /// without anonymous pages may still have one (its pages freed), so `false` proves nothing.
    pub anon_pages: bool,
    /// The memory protection key (`ProtectionKey:` in `/proc/PID/smaps`, shown on machines
    /// with keys), written `pkey<n>` when it is not 0.
    pub pkey: u32,
}

impl SnapshotVma {
    /// The permissions as `/proc/PID/maps` writes them (`r-xp`).
    pub fn perms(&self) -> String {
        let mut s = String::with_capacity(4);
        s.push(if self.read { 'r' } else { '-' });
        s.push(if self.write { 'w' } else { '-' });
        s.push(if self.exec { 'x' } else { '-' });
        s.push(if self.shared { 's' } else { 'p' });
        s
    }

    /// Whether the `VmFlags` include `mnemonic` (such as `b"gd"`).
    pub fn has_flag(&self, mnemonic: &[u8; 2]) -> bool {
        self.flags.iter().any(|f| f == mnemonic)
    }
}

impl Display for SnapshotVma {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "v {:x} {:x} {} {:x} {}",
            self.start,
            self.end,
            self.perms(),
            self.offset,
            self.backing
        )?;
        for (i, flag) in self.flags.iter().enumerate() {
            f.write_char(if i == 0 { ' ' } else { ',' })?;
            f.write_char(char::from(flag[0]))?;
            f.write_char(char::from(flag[1]))?;
        }
        if self.anon_pages {
            f.write_str(" A")?;
        }
        if self.pkey != 0 {
            write!(f, " pkey{}", self.pkey)?;
        }
        Ok(())
    }
}

/// One line (or, for a snapshot, one block of lines) of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An operation on an address space.
    Op {
        /// The address space.
        space: SpaceId,
        /// The thread that made the call (`None` only for [`Op::Exit`]).
        thread: Option<ThreadId>,
        /// What was done.
        op: Op,
    },
    /// `S space count` and `count` `v` lines: the kernel's layout of `space` after every
    /// record before it.
    Snapshot {
        /// The address space.
        space: SpaceId,
        /// Its VMAs in address order.
        vmas: Vec<SnapshotVma>,
    },
    /// `D space n` and `n` windows (format 2): the kernel's layout of `space` after every
    /// record before it, given as its last layout (`S` or `D`) with the VMAs of each window
    /// replaced.
    Delta {
        /// The address space.
        space: SpaceId,
        /// The changed address ranges, in address order, not overlapping.
        windows: Vec<DeltaWindow>,
    },
    /// `f f<n> name`: the file name (without directory) of a file id, for readers.
    FileName {
        /// The id.
        file: FileId,
        /// The name without its directory.
        name: String,
    },
    /// `E cut-short` (format 2): the capture was stopped before the program ended (a second
    /// interrupt), and the records end here.
    CutShort,
}

/// One window of a [`Record::Delta`], written `w start end count` and `count` `v` lines: in
/// `[start, end)` the layout holds exactly `vmas`. No VMA of the layout before or after the
/// change crosses `start` or `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaWindow {
    /// First address of the window.
    pub start: u64,
    /// One past its last address.
    pub end: u64,
    /// The VMAs inside it now, in address order.
    pub vmas: Vec<SnapshotVma>,
}

impl Record {
    /// Whether the record is a snapshot, full (`S`) or of changes (`D`).
    pub fn is_snapshot(&self) -> bool {
        matches!(self, Record::Snapshot { .. } | Record::Delta { .. })
    }
}

impl Display for Record {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Record::Snapshot { space, vmas } => {
                write!(f, "S {space} {}", vmas.len())?;
                for vma in vmas {
                    write!(f, "\n{vma}")?;
                }
                Ok(())
            }
            Record::Delta { space, windows } => {
                write!(f, "D {space} {}", windows.len())?;
                for window in windows {
                    write!(
                        f,
                        "\nw {:x} {:x} {}",
                        window.start,
                        window.end,
                        window.vmas.len()
                    )?;
                    for vma in &window.vmas {
                        write!(f, "\n{vma}")?;
                    }
                }
                Ok(())
            }
            Record::CutShort => f.write_str("E cut-short"),
            Record::FileName { file, name } => write!(f, "f {file} {}", escape_token(name)),
            Record::Op { space, thread, op } => {
                write!(f, "{} {space}", op.letter())?;
                if let Op::Fork { parent, .. } = op {
                    write!(f, " {parent}")?;
                }
                if let Some(thread) = thread {
                    write!(f, " {thread}")?;
                }
                if let Op::Fork { racing: true, .. } = op {
                    f.write_str(" racing")?;
                }
                match op {
                    Op::NewSpace { program } => write!(f, " {}", escape_token(program)),
                    Op::Fork { .. } | Op::Exit => Ok(()),
                    Op::Mmap {
                        addr,
                        len,
                        prot,
                        flags,
                        file,
                        mode,
                        offset,
                        ret,
                        file_size,
                    } => {
                        write!(f, " {addr:x} {len:x} {prot} {flags} ")?;
                        match file {
                            Some(id) => write!(f, "{id}")?,
                            None => f.write_char('-')?,
                        }
                        if let Some(mode) = mode {
                            write!(f, ":{}", mode.letters())?;
                        }
                        write!(f, " {offset:x} {}", ShowResult(ret))?;
                        match file_size {
                            Some(size) => write!(f, " z{size:x}"),
                            None => Ok(()),
                        }
                    }
                    Op::Munmap { addr, len, ret } => {
                        write!(f, " {addr:x} {len:x} {}", ShowResult(ret))
                    }
                    Op::Mprotect {
                        addr,
                        len,
                        prot,
                        pkey,
                        ret,
                    } => {
                        write!(f, " {addr:x} {len:x} {prot} {}", ShowResult(ret))?;
                        match pkey {
                            Some(key) => write!(f, " k{key}"),
                            None => Ok(()),
                        }
                    }
                    Op::Brk { request, ret } => write!(f, " {request:x} {ret:x}"),
                    Op::Mremap {
                        old_addr,
                        old_len,
                        new_len,
                        flags,
                        new_addr,
                        ret,
                    } => write!(
                        f,
                        " {old_addr:x} {old_len:x} {new_len:x} {flags} {new_addr:x} {}",
                        ShowResult(ret)
                    ),
                    Op::Madvise {
                        addr,
                        len,
                        advice,
                        ret,
                    } => {
                        write!(f, " {addr:x} {len:x} {advice} {}", ShowResult(ret))
                    }
                    Op::Other { call, args, ret } => {
                        write!(f, " {}", call.name())?;
                        for arg in args {
                            write!(f, " {arg:x}")?;
                        }
                        write!(f, " {}", ShowResult(ret))
                    }
                }
            }
        }
    }
}

/// Percent-escapes what a token cannot hold: white space, control characters, `%`, `#` and
/// `]`. The empty
/// string is written `%`, which no other string produces.
pub(crate) fn escape_token(s: &str) -> String {
    if s.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            c if c.is_ascii_whitespace() || c.is_control() || matches!(c, '%' | '#' | ']') => {
                let mut buf = [0; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{byte:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// What the header lines say about the capture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// `#name`: a short name for the workload.
    pub name: Option<String>,
    /// `#kernel`: the kernel release from `uname -r` (`6.18.44`).
    pub kernel: Option<String>,
    /// `#arch`: the machine from `uname -m` (`x86_64`).
    pub arch: Option<String>,
    /// `#source`: how the trace was made (`maple-capture`, `strace`).
    pub source: Option<String>,
    /// `#pkeys`: how many memory protection keys the capturing machine had: 16 on x86-64
    /// with PKU, 0 without. The replay models that machine, whatever CPU it runs on. A trace
    /// without the line (written before it existed, or imported from strace) replays as from
    /// a machine without keys ([`Header::pkey_count`]).
    pub pkeys: Option<u32>,
}

impl Header {
    /// The protection keys of the capturing machine: `#pkeys`, or 0 when the header does not
    /// say.
    pub fn pkey_count(&self) -> u32 {
        self.pkeys.unwrap_or(0)
    }
}

/// A whole trace: header and records in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Trace {
    /// The header.
    pub header: Header,
    /// The records.
    pub records: Vec<Record>,
}

impl Trace {
    /// Counts the operation records.
    pub fn op_count(&self) -> usize {
        self.records
            .iter()
            .filter(|r| matches!(r, Record::Op { .. }))
            .count()
    }

    /// Counts the snapshot records, full (`S`) and changes (`D`).
    pub fn snapshot_count(&self) -> usize {
        self.records.iter().filter(|r| r.is_snapshot()).count()
    }

    /// Whether the capture was stopped before the program ended (an `E cut-short` record).
    pub fn cut_short(&self) -> bool {
        self.records.iter().any(|r| matches!(r, Record::CutShort))
    }
}

impl Display for Header {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "{MAGIC} {FORMAT_VERSION}")?;
        for (key, value) in [
            ("name", &self.name),
            ("kernel", &self.kernel),
            ("arch", &self.arch),
            ("source", &self.source),
        ] {
            if let Some(value) = value {
                writeln!(f, "#{key} {}", escape_token(value))?;
            }
        }
        if let Some(pkeys) = self.pkeys {
            writeln!(f, "#pkeys {pkeys}")?;
        }
        Ok(())
    }
}

impl Display for Trace {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.header)?;
        for record in &self.records {
            writeln!(f, "{record}")?;
        }
        Ok(())
    }
}
