//! The x86-64 memory system calls and how each becomes an [`Op`].
//!
//! The tracer hands over the call's number and six argument registers at the entry stop and
//! the return register at the exit stop; [`decode`] turns the pair into the record the format
//! describes. Nothing here touches a process, so the mapping is tested on its own.

use crate::format::{Advice, Errno, MapFlags, Op, OtherCall, Prot, RemapFlags, SysResult};

/// x86-64 system call numbers (`arch/x86/entry/syscalls/syscall_64.tbl`).
pub(crate) mod nr {
    pub(crate) const WRITE: u64 = 1;
    pub(crate) const PWRITE64: u64 = 18;
    pub(crate) const WRITEV: u64 = 20;
    pub(crate) const PWRITEV: u64 = 296;
    pub(crate) const PWRITEV2: u64 = 328;
    pub(crate) const MMAP: u64 = 9;
    pub(crate) const MPROTECT: u64 = 10;
    pub(crate) const MUNMAP: u64 = 11;
    pub(crate) const BRK: u64 = 12;
    pub(crate) const MREMAP: u64 = 25;
    pub(crate) const MADVISE: u64 = 28;
    pub(crate) const SHMAT: u64 = 30;
    pub(crate) const CLONE: u64 = 56;
    pub(crate) const FORK: u64 = 57;
    pub(crate) const VFORK: u64 = 58;
    pub(crate) const EXECVE: u64 = 59;
    pub(crate) const SHMDT: u64 = 67;
    pub(crate) const MLOCK: u64 = 149;
    pub(crate) const MUNLOCK: u64 = 150;
    pub(crate) const MLOCKALL: u64 = 151;
    pub(crate) const MUNLOCKALL: u64 = 152;
    pub(crate) const PRCTL: u64 = 157;
    pub(crate) const REMAP_FILE_PAGES: u64 = 216;
    pub(crate) const MBIND: u64 = 237;
    pub(crate) const EXECVEAT: u64 = 322;
    pub(crate) const MLOCK2: u64 = 325;
    pub(crate) const PKEY_MPROTECT: u64 = 329;
    pub(crate) const PKEY_ALLOC: u64 = 330;
    pub(crate) const PKEY_FREE: u64 = 331;
    pub(crate) const CLONE3: u64 = 435;
    pub(crate) const PROCESS_MADVISE: u64 = 440;
    pub(crate) const SET_MEMPOLICY_HOME_NODE: u64 = 450;
    pub(crate) const MAP_SHADOW_STACK: u64 = 453;
    pub(crate) const MSEAL: u64 = 462;
}

/// `clone` flag: the child shares the parent's address space.
pub(crate) const CLONE_VM: u64 = 0x100;
/// `clone` flag: the parent sleeps until the child execs or exits.
pub(crate) const CLONE_VFORK: u64 = 0x4000;
/// `clone` flag: the child is a thread of the parent's process.
pub(crate) const CLONE_THREAD: u64 = 0x1_0000;
/// `SIGCHLD`, the exit signal `fork` asks for.
pub(crate) const SIGCHLD: u64 = 17;

/// `prctl` option that names anonymous memory (`PR_SET_VMA`, "SVMA").
const PR_SET_VMA: u64 = 0x5356_4d41;
/// `PR_SET_VMA` sub-option: set or clear an anonymous VMA's name.
const PR_SET_VMA_ANON_NAME: u64 = 0;

/// `madvise` advice values that never split, merge or re-flag a VMA: they act on pages only.
/// After a call with one of them the layout cannot have changed, so no snapshot is read.
const PAGE_ONLY_ADVICE: &[u32] = &[
    3,   // WILLNEED
    4,   // DONTNEED
    8,   // FREE
    9,   // REMOVE
    20,  // COLD
    21,  // PAGEOUT
    22,  // POPULATE_READ
    23,  // POPULATE_WRITE
    24,  // DONTNEED_LOCKED
    100, // HWPOISON
    101, // SOFT_OFFLINE
];

/// A system call as the entry stop showed it: its number and the six argument registers
/// (`rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// `orig_rax`.
    pub(crate) nr: u64,
    /// The arguments in calling-convention order.
    pub(crate) args: [u64; 6],
}

/// Whether a call is one the trace records, and whether it may change the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Not a memory call: nothing is recorded.
    Ignored,
    /// Recorded; the kernel's layout cannot change (`brk(NULL)`, `madvise(DONTNEED)`...).
    Recorded,
    /// Recorded, and the layout or the VMA flags may change: a snapshot is read after it.
    ChangesLayout,
}

impl Entry {
    /// Classifies the call.
    pub(crate) fn class(&self) -> Class {
        let [a0, a1, a2, ..] = self.args;
        match self.nr {
            nr::BRK if a0 == 0 => Class::Recorded,
            nr::MADVISE if PAGE_ONLY_ADVICE.contains(&low32(a2)) => Class::Recorded,
            nr::PROCESS_MADVISE if PAGE_ONLY_ADVICE.contains(&low32(self.args[3])) => {
                Class::Recorded
            }
            nr::PRCTL if a0 == PR_SET_VMA && a1 == PR_SET_VMA_ANON_NAME => Class::ChangesLayout,
            nr::PRCTL => Class::Ignored,
            // They change which keys `pkey_mprotect` accepts, not the layout.
            nr::PKEY_ALLOC | nr::PKEY_FREE => Class::Recorded,
            nr::MMAP
            | nr::MPROTECT
            | nr::MUNMAP
            | nr::BRK
            | nr::MREMAP
            | nr::MADVISE
            | nr::SHMAT
            | nr::SHMDT
            | nr::MLOCK
            | nr::MUNLOCK
            | nr::MLOCKALL
            | nr::MUNLOCKALL
            | nr::REMAP_FILE_PAGES
            | nr::MBIND
            | nr::MLOCK2
            | nr::PKEY_MPROTECT
            | nr::PROCESS_MADVISE
            | nr::SET_MEMPOLICY_HOME_NODE
            | nr::MAP_SHADOW_STACK
            | nr::MSEAL => Class::ChangesLayout,
            _ => Class::Ignored,
        }
    }
}

impl Entry {
    /// Whether the call may make a task with a copy of the caller's address space (`fork`,
    /// `vfork` and the `clone` family; which of them copy is known at their event stop).
    pub(crate) fn may_fork(&self) -> bool {
        matches!(self.nr, nr::CLONE | nr::CLONE3 | nr::FORK | nr::VFORK)
    }

    /// Whether the call may change the flags of a VMA in place while its `/proc/PID/maps`
    /// line stays the same: `madvise` with advice that is not page-only, the `mlock` family,
    /// `mseal`, `remap_file_pages` and `pkey_mprotect` (a VMA's key shows only in `smaps`).
    /// [`Entry::replaces_mappings`] names the calls that may do so by making a new VMA that
    /// looks like the old; every other layout-changing call shows its effect in `maps`.
    pub(crate) fn may_change_flags(&self) -> bool {
        match self.nr {
            nr::MADVISE => self.class() == Class::ChangesLayout,
            nr::MLOCK
            | nr::MLOCK2
            | nr::MUNLOCK
            | nr::MLOCKALL
            | nr::MUNLOCKALL
            | nr::MSEAL
            | nr::REMAP_FILE_PAGES
            | nr::PKEY_MPROTECT => true,
            _ => false,
        }
    }

    /// Whether the call may replace mappings with ones that look the same in
    /// `/proc/TID/maps` but differ in their flags: a `MAP_FIXED` mmap over a mapping of the
    /// same range and protection, an `mremap` with `MREMAP_FIXED` (over whatever was at the
    /// target) or `MREMAP_DONTUNMAP` (the old VMA loses `VM_LOCKED`).
    pub(crate) fn replaces_mappings(&self) -> bool {
        match self.nr {
            nr::MMAP => low32(self.args[3]) & MapFlags::FIXED != 0,
            nr::MREMAP => low32(self.args[3]) & (RemapFlags::FIXED | RemapFlags::DONTUNMAP) != 0,
            _ => false,
        }
    }
}

/// An operation decoded from a call, with what the recorder still has to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// The operation. For a file `mmap`, `file` is `None` until the recorder resolves `fd`.
    pub(crate) op: Op,
    /// For a file `mmap`: the descriptor that was mapped.
    pub(crate) mmap_fd: Option<i32>,
    /// For `process_madvise`: the pidfd naming the process whose memory was advised.
    pub(crate) pidfd: Option<i32>,
}

/// The low 32 bits of a register (C `int` and `unsigned int` arguments).
fn low32(value: u64) -> u32 {
    // NOTE: truncation is the point: the kernel reads these arguments as 32-bit types.
    (value & 0xffff_ffff) as u32
}

/// A return register as a result: -4095..=-1 are error numbers, as in the kernel's
/// `IS_ERR_VALUE`.
pub(crate) fn result(ret: u64) -> SysResult {
    // Two's complement: -4095..=-1 are the values at and above 2^64 - 4095.
    if ret >= 0u64.wrapping_sub(4095) {
        let errno = 0u64.wrapping_sub(ret);
        Err(Errno(u16::try_from(errno).unwrap_or(u16::MAX)))
    } else {
        Ok(ret)
    }
}

/// Decodes a recorded call (one whose [`Entry::class`] is not [`Class::Ignored`]) and its
/// return register into an op. Returns `None` for calls that are not recorded.
pub(crate) fn decode(entry: &Entry, ret: u64) -> Option<Decoded> {
    let [a0, a1, a2, a3, a4, a5] = entry.args;
    let plain = |op| {
        Some(Decoded {
            op,
            mmap_fd: None,
            pidfd: None,
        })
    };
    let other = |call: OtherCall, args: &[u64]| {
        plain(Op::Other {
            call,
            args: args.to_vec(),
            ret: result(ret),
        })
    };
    if entry.class() == Class::Ignored {
        return None;
    }
    match entry.nr {
        nr::MMAP => {
            let flags = MapFlags(low32(a3));
            let anonymous = flags.0 & MapFlags::ANONYMOUS != 0;
            Some(Decoded {
                op: Op::Mmap {
                    addr: a0,
                    len: a1,
                    prot: Prot(low32(a2)),
                    flags,
                    file: None,
                    mode: None,
                    offset: a5,
                    ret: result(ret),
                    file_size: None,
                },
                // `fd` is an int; MAP_ANONYMOUS ignores it (it is usually -1).
                mmap_fd: (!anonymous).then_some(low32(a4).cast_signed()),
                pidfd: None,
            })
        }
        nr::MUNMAP => plain(Op::Munmap {
            addr: a0,
            len: a1,
            ret: result(ret),
        }),
        nr::MPROTECT | nr::PKEY_MPROTECT => plain(Op::Mprotect {
            addr: a0,
            len: a1,
            prot: Prot(low32(a2)),
            pkey: (entry.nr == nr::PKEY_MPROTECT).then_some(low32(a3)),
            ret: result(ret),
        }),
        // brk returns the break, never an error: the old break when the request failed.
        nr::BRK => plain(Op::Brk { request: a0, ret }),
        nr::MREMAP => {
            let flags = RemapFlags(low32(a3));
            let has_new_addr = flags.0 & (RemapFlags::FIXED | RemapFlags::DONTUNMAP) != 0;
            plain(Op::Mremap {
                old_addr: a0,
                old_len: a1,
                new_len: a2,
                flags,
                new_addr: if has_new_addr { a4 } else { 0 },
                ret: result(ret),
            })
        }
        nr::MADVISE => plain(Op::Madvise {
            addr: a0,
            len: a1,
            advice: Advice(low32(a2)),
            ret: result(ret),
        }),
        nr::MLOCK => other(OtherCall::Mlock, &[a0, a1]),
        nr::MLOCK2 => other(OtherCall::Mlock2, &[a0, a1, u64::from(low32(a2))]),
        nr::MUNLOCK => other(OtherCall::Munlock, &[a0, a1]),
        nr::MLOCKALL => other(OtherCall::Mlockall, &[u64::from(low32(a0))]),
        nr::MUNLOCKALL => other(OtherCall::Munlockall, &[]),
        nr::MSEAL => other(OtherCall::Mseal, &[a0, a1, a2]),
        nr::MBIND => other(OtherCall::Mbind, &[a0, a1, u64::from(low32(a2))]),
        nr::REMAP_FILE_PAGES => other(OtherCall::RemapFilePages, &[a0, a1, a2, a3, a4]),
        nr::SHMAT => other(
            OtherCall::Shmat,
            &[u64::from(low32(a0)), a1, u64::from(low32(a2))],
        ),
        nr::SHMDT => other(OtherCall::Shmdt, &[a0]),
        nr::MAP_SHADOW_STACK => other(OtherCall::MapShadowStack, &[a0, a1, u64::from(low32(a2))]),
        nr::PRCTL => other(OtherCall::SetVmaName, &[a2, a3, u64::from(a4 != 0)]),
        nr::SET_MEMPOLICY_HOME_NODE => other(OtherCall::SetMempolicyHomeNode, &[a0, a1, a2, a3]),
        nr::PKEY_ALLOC => other(OtherCall::PkeyAlloc, &[a0, a1]),
        nr::PKEY_FREE => other(OtherCall::PkeyFree, &[u64::from(low32(a0))]),
        nr::PROCESS_MADVISE => Some(Decoded {
            op: Op::Other {
                call: OtherCall::ProcessMadvise,
                args: vec![u64::from(low32(a3))],
                ret: result(ret),
            },
            mmap_fd: None,
            pidfd: Some(low32(a0).cast_signed()),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(nr: u64, args: [u64; 6]) -> Entry {
        Entry { nr, args }
    }

    const NEG_ENOMEM: u64 = 0u64.wrapping_sub(12);

    /// Return registers in -4095..=-1 are errors; everything else, including high addresses,
    /// is a value.
    #[test]
    fn results_split_errors_from_values() {
        assert_eq!(result(0), Ok(0));
        assert_eq!(result(0x7f04_37ce_4000), Ok(0x7f04_37ce_4000));
        assert_eq!(result(NEG_ENOMEM), Err(Errno::ENOMEM));
        assert_eq!(result(u64::MAX), Err(Errno(1)));
        assert_eq!(result(0u64.wrapping_sub(4095)), Err(Errno(4095)));
        assert_eq!(result(0u64.wrapping_sub(4096)), Ok(0u64.wrapping_sub(4096)));
    }

    /// A file mmap keeps its descriptor for the recorder; an anonymous one does not.
    #[test]
    fn mmap_decodes_with_its_descriptor() {
        let file = entry(nr::MMAP, [0, 0x2000, 1, 0x802, 3, 0x1000]);
        let d = decode(&file, 0x7f00_0000_0000).unwrap();
        assert_eq!(d.mmap_fd, Some(3));
        assert_eq!(
            d.op.to_string_with(),
            "m 1 t1 0 2000 r-- pD - 1000 7f0000000000"
        );
        let anon = entry(nr::MMAP, [0, 0x1000, 3, 0x22, u64::MAX, 0]);
        let d = decode(&anon, NEG_ENOMEM).unwrap();
        assert_eq!(d.mmap_fd, None);
        assert_eq!(d.op.to_string_with(), "m 1 t1 0 1000 rw- pa - 0 !ENOMEM");
    }

    /// Each call maps to the record the format describes.
    #[test]
    fn calls_decode_to_their_records() {
        let cases: &[(u64, [u64; 6], u64, &str)] = &[
            (
                nr::MUNMAP,
                [0x1000, 0x2000, 0, 0, 0, 0],
                0,
                "u 1 t1 1000 2000 0",
            ),
            (
                nr::MPROTECT,
                [0x1000, 0x1000, 0, 0, 0, 0],
                0,
                "p 1 t1 1000 1000 --- 0",
            ),
            (
                nr::PKEY_MPROTECT,
                [0x1000, 0x1000, 3, 2, 0, 0],
                0,
                "p 1 t1 1000 1000 rw- 0 k2",
            ),
            (
                nr::BRK,
                [0, 0, 0, 0, 0, 0],
                0x55e0_0000,
                "b 1 t1 0 55e00000",
            ),
            (
                nr::MREMAP,
                [0x1000, 0x1000, 0x3000, 1, 0xdead, 0],
                0x9000,
                "r 1 t1 1000 1000 3000 M 0 9000",
            ),
            (
                nr::MREMAP,
                [0x1000, 0x1000, 0x3000, 3, 0x8000, 0],
                0x8000,
                "r 1 t1 1000 1000 3000 MF 8000 8000",
            ),
            (
                nr::MADVISE,
                [0x1000, 0x2000, 10, 0, 0, 0],
                0,
                "a 1 t1 1000 2000 DONTFORK 0",
            ),
            (
                nr::MLOCK,
                [0x1000, 0x10, 0, 0, 0, 0],
                0,
                "o 1 t1 mlock 1000 10 0",
            ),
            (
                nr::MLOCK2,
                [0x1000, 0x10, 1, 0, 0, 0],
                0,
                "o 1 t1 mlock2 1000 10 1 0",
            ),
            (
                nr::MUNLOCK,
                [0x1000, 0x10, 0, 0, 0, 0],
                0,
                "o 1 t1 munlock 1000 10 0",
            ),
            (nr::MLOCKALL, [3, 0, 0, 0, 0, 0], 0, "o 1 t1 mlockall 3 0"),
            (nr::MUNLOCKALL, [0; 6], 0, "o 1 t1 munlockall 0"),
            (
                nr::MSEAL,
                [0x1000, 0x1000, 0, 0, 0, 0],
                0,
                "o 1 t1 mseal 1000 1000 0 0",
            ),
            (
                nr::MBIND,
                [0x1000, 0x1000, 2, 9, 9, 9],
                0,
                "o 1 t1 mbind 1000 1000 2 0",
            ),
            (
                nr::REMAP_FILE_PAGES,
                [0x1000, 0x2000, 0, 4, 0, 0],
                0,
                "o 1 t1 remap_file_pages 1000 2000 0 4 0 0",
            ),
            (
                nr::SHMAT,
                [7, 0, 0x1000, 0, 0, 0],
                0x7000,
                "o 1 t1 shmat 7 0 1000 7000",
            ),
            (nr::SHMDT, [0x7000, 0, 0, 0, 0, 0], 0, "o 1 t1 shmdt 7000 0"),
            (
                nr::MAP_SHADOW_STACK,
                [0, 0x4000, 1, 0, 0, 0],
                0x5000,
                "o 1 t1 map_shadow_stack 0 4000 1 5000",
            ),
            (
                nr::PRCTL,
                [PR_SET_VMA, 0, 0x1000, 0x2000, 0x1234, 0],
                0,
                "o 1 t1 set_vma_name 1000 2000 1 0",
            ),
            (
                nr::PRCTL,
                [PR_SET_VMA, 0, 0x1000, 0x2000, 0, 0],
                NEG_ENOMEM,
                "o 1 t1 set_vma_name 1000 2000 0 !ENOMEM",
            ),
            (
                nr::SET_MEMPOLICY_HOME_NODE,
                [0x1000, 0x2000, 1, 0, 0, 0],
                0,
                "o 1 t1 set_mempolicy_home_node 1000 2000 1 0 0",
            ),
            (
                nr::PKEY_ALLOC,
                [0, 1, 0, 0, 0, 0],
                0u64.wrapping_sub(22),
                "o 1 t1 pkey_alloc 0 1 !EINVAL",
            ),
            (
                nr::PKEY_FREE,
                [u64::MAX, 0, 0, 0, 0, 0],
                0u64.wrapping_sub(22),
                "o 1 t1 pkey_free ffffffff !EINVAL",
            ),
            (
                nr::PROCESS_MADVISE,
                [5, 0x10, 1, 14, 0, 0],
                0x1000,
                "o 1 t1 process_madvise e 1000",
            ),
        ];
        for &(number, args, ret, line) in cases {
            let d = decode(&entry(number, args), ret).unwrap();
            assert_eq!(d.op.to_string_with(), line, "syscall {number}");
        }
    }

    /// Calls outside the memory family, and prctl options other than PR_SET_VMA, are ignored.
    #[test]
    fn other_calls_are_ignored() {
        assert_eq!(entry(0, [0; 6]).class(), Class::Ignored);
        assert_eq!(
            entry(nr::PRCTL, [15, 0, 0, 0, 0, 0]).class(),
            Class::Ignored
        );
        assert!(decode(&entry(nr::PRCTL, [15, 0, 0, 0, 0, 0]), 0).is_none());
        assert!(decode(&entry(nr::CLONE, [0; 6]), 0).is_none());
    }

    /// Only calls that can change flags in place force a read of smaps.
    #[test]
    fn flag_changing_calls() {
        let flags = |nr, args| entry(nr, args).may_change_flags();
        assert!(flags(nr::MADVISE, [0, 0, 10, 0, 0, 0]));
        assert!(!flags(nr::MADVISE, [0, 0, 4, 0, 0, 0]));
        assert!(flags(nr::MLOCK, [0; 6]));
        let replaces = |nr, args| entry(nr, args).replaces_mappings();
        assert!(replaces(nr::MMAP, [0, 0, 3, 0x32, 0, 0]));
        assert!(!replaces(nr::MMAP, [0, 0, 3, 0x22, 0, 0]));
        assert!(replaces(nr::MREMAP, [0, 0, 0, 5, 0, 0]));
        assert!(replaces(nr::MREMAP, [0, 0, 0, 3, 0, 0]));
        assert!(!replaces(nr::MREMAP, [0, 0, 0, 1, 0, 0]));
        assert!(!flags(nr::MMAP, [0, 0, 3, 0x32, 0, 0]));
        assert!(!flags(nr::MUNMAP, [0; 6]));
        assert!(!flags(nr::MPROTECT, [0; 6]));
        assert!(flags(nr::PKEY_MPROTECT, [0; 6]));
    }

    /// Calls that cannot touch the layout are recorded without a snapshot read.
    #[test]
    fn page_only_calls_do_not_change_the_layout() {
        assert_eq!(entry(nr::BRK, [0; 6]).class(), Class::Recorded);
        assert_eq!(
            entry(nr::BRK, [0x1000, 0, 0, 0, 0, 0]).class(),
            Class::ChangesLayout
        );
        assert_eq!(
            entry(nr::MADVISE, [0, 0, 4, 0, 0, 0]).class(),
            Class::Recorded
        );
        assert_eq!(entry(nr::PKEY_ALLOC, [0; 6]).class(), Class::Recorded);
        assert_eq!(entry(nr::PKEY_FREE, [0; 6]).class(), Class::Recorded);
        assert_eq!(
            entry(nr::MADVISE, [0, 0, 10, 0, 0, 0]).class(),
            Class::ChangesLayout
        );
    }

    trait Line {
        fn to_string_with(&self) -> String;
    }

    impl Line for Op {
        /// The op as a line in space 1, thread t1.
        fn to_string_with(&self) -> String {
            crate::format::Record::Op {
                space: crate::format::SpaceId(1),
                thread: Some(crate::format::ThreadId(1)),
                op: self.clone(),
            }
            .to_string()
        }
    }
}
