//! Flag sets: a VMA's `vm_flags`, and the arguments of the system calls (`PROT_*`, `MAP_*`,
//! `MREMAP_*`, `MCL_*`, `MLOCK_*`, `MADV_*`), with the values of x86-64 Linux.

use core::fmt;
use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not};

/// Declares a bit-set newtype over an integer with named constants.
macro_rules! bit_set {
    (
        $(#[$meta:meta])*
        $name:ident($int:ty) {
            $( $(#[$fmeta:meta])* $flag:ident = $value:expr; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name($int);

        impl $name {
            $( $(#[$fmeta])* pub const $flag: $name = $name($value); )*

            /// The set with no flag.
            ///
            /// ```
            #[doc = concat!("use maple_mm::", stringify!($name), ";")]
            #[doc = concat!("assert!(", stringify!($name), "::empty().is_empty());")]
            /// ```
            pub const fn empty() -> Self {
                Self(0)
            }

            /// The set with exactly these bits, named or not.
            ///
            /// ```
            #[doc = concat!("use maple_mm::", stringify!($name), ";")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::from_bits(3).bits(), 3);")]
            /// ```
            pub const fn from_bits(bits: $int) -> Self {
                Self(bits)
            }

            /// The raw bits.
            ///
            /// ```
            #[doc = concat!("use maple_mm::", stringify!($name), ";")]
            #[doc = concat!("assert_eq!(", stringify!($name), "::from_bits(1 | 4).bits(), 5);")]
            /// ```
            pub const fn bits(self) -> $int {
                self.0
            }

            /// Whether every flag of `other` is set.
            ///
            /// ```
            #[doc = concat!("use maple_mm::", stringify!($name), ";")]
            #[doc = concat!("let set = ", stringify!($name), "::from_bits(0b011);")]
            #[doc = concat!("assert!(set.contains(", stringify!($name), "::from_bits(0b001)));")]
            #[doc = concat!("assert!(!set.contains(", stringify!($name), "::from_bits(0b101)));")]
            /// ```
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether any flag of `other` is set.
            ///
            /// ```
            #[doc = concat!("use maple_mm::", stringify!($name), ";")]
            #[doc = concat!("let set = ", stringify!($name), "::from_bits(0b011);")]
            #[doc = concat!("assert!(set.intersects(", stringify!($name), "::from_bits(0b110)));")]
            #[doc = concat!("assert!(!set.intersects(", stringify!($name), "::from_bits(0b100)));")]
            /// ```
            pub const fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }

            /// Whether no flag is set.
            ///
            /// ```
            #[doc = concat!("use maple_mm::", stringify!($name), ";")]
            #[doc = concat!("assert!(!", stringify!($name), "::from_bits(2).is_empty());")]
            /// ```
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The flags of `self` that are not in `other`.
            ///
            /// ```
            #[doc = concat!("use maple_mm::", stringify!($name), ";")]
            #[doc = concat!("let set = ", stringify!($name), "::from_bits(0b011);")]
            #[doc = concat!("let other = ", stringify!($name), "::from_bits(0b110);")]
            #[doc = concat!("assert_eq!(set.without(other).bits(), 0b001);")]
            /// ```
            #[must_use]
            pub const fn without(self, other: Self) -> Self {
                Self(self.0 & !other.0)
            }

            /// Every named flag with its name.
            const NAMES: &'static [(&'static str, $int)] = &[$((stringify!($flag), $value)),*];
        }

        impl BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl BitOrAssign for $name {
            fn bitor_assign(&mut self, rhs: Self) {
                self.0 |= rhs.0;
            }
        }

        impl BitAnd for $name {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                Self(self.0 & rhs.0)
            }
        }

        impl BitAndAssign for $name {
            fn bitand_assign(&mut self, rhs: Self) {
                self.0 &= rhs.0;
            }
        }

        impl Not for $name {
            type Output = Self;
            fn not(self) -> Self {
                Self(!self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut rest = self.0;
                let mut first = true;
                for &(name, value) in Self::NAMES {
                    // Skip zero-valued names and multi-bit aliases already covered.
                    if value != 0 && self.0 & value == value && rest & value != 0 {
                        if !first {
                            f.write_str(" | ")?;
                        }
                        f.write_str(name)?;
                        rest &= !value;
                        first = false;
                    }
                }
                if rest != 0 || first {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{:#x}", rest)?;
                }
                Ok(())
            }
        }
    };
}

bit_set! {
    /// A VMA's flags (`vm_flags_t`), with Linux's bit values for the flags below bit 32.
    ///
    /// Merging compares these flags exactly (Linux ignores only `VM_SOFTDIRTY`, which this
    /// model does not track), so every flag here takes part in the merge rules.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::VmFlags;
    ///
    /// let flags = VmFlags::READ | VmFlags::WRITE | VmFlags::MAYREAD | VmFlags::MAYWRITE;
    /// assert!(flags.contains(VmFlags::WRITE));
    /// assert!(!flags.intersects(VmFlags::SPECIAL));
    /// assert_eq!(format!("{:?}", VmFlags::READ | VmFlags::SHARED), "READ | SHARED");
    /// ```
    ///
    /// Linux: `vm_flags_t`, `VM_*` in `include/linux/mm.h`.
    #[doc(alias = "vm_flags_t")]
    VmFlags(u64) {
        /// Readable (`VM_READ`).
        READ = 0x1;
        /// Writable (`VM_WRITE`).
        WRITE = 0x2;
        /// Executable (`VM_EXEC`).
        EXEC = 0x4;
        /// Shared and writable through the file (`VM_SHARED`).
        SHARED = 0x8;
        /// `mprotect` may add `READ` (`VM_MAYREAD`).
        MAYREAD = 0x10;
        /// `mprotect` may add `WRITE` (`VM_MAYWRITE`).
        MAYWRITE = 0x20;
        /// `mprotect` may add `EXEC` (`VM_MAYEXEC`).
        MAYEXEC = 0x40;
        /// A shared mapping, even if not writable (`VM_MAYSHARE`).
        MAYSHARE = 0x80;
        /// A stack that grows down on faults below it (`VM_GROWSDOWN`).
        GROWSDOWN = 0x100;
        /// Pages without `struct page` (`VM_PFNMAP`), set by drivers; special.
        PFNMAP = 0x400;
        /// Locked in memory (`VM_LOCKED`).
        LOCKED = 0x2000;
        /// Device I/O memory (`VM_IO`), set by drivers; special.
        IO = 0x4000;
        /// `MADV_SEQUENTIAL` (`VM_SEQ_READ`).
        SEQ_READ = 0x8000;
        /// `MADV_RANDOM` (`VM_RAND_READ`).
        RAND_READ = 0x10000;
        /// Not copied on fork: `MADV_DONTFORK` (`VM_DONTCOPY`).
        DONTCOPY = 0x20000;
        /// Cannot be expanded by `mremap` (`VM_DONTEXPAND`); special.
        DONTEXPAND = 0x40000;
        /// Locked, populated on fault: `MLOCK_ONFAULT` (`VM_LOCKONFAULT`).
        LOCKONFAULT = 0x80000;
        /// Charged to the commit limit (`VM_ACCOUNT`).
        ACCOUNT = 0x100000;
        /// Not charged: `MAP_NORESERVE` (`VM_NORESERVE`).
        NORESERVE = 0x200000;
        /// Synchronous page faults for DAX: `MAP_SYNC` (`VM_SYNC`).
        SYNC = 0x800000;
        /// Zero-filled in a forked child: `MADV_WIPEONFORK` (`VM_WIPEONFORK`).
        WIPEONFORK = 0x2000000;
        /// Left out of core dumps: `MADV_DONTDUMP` (`VM_DONTDUMP`).
        DONTDUMP = 0x4000000;
        /// Mixed pages and PFNs (`VM_MIXEDMAP`), set by drivers; special.
        MIXEDMAP = 0x10000000;
        /// `MADV_HUGEPAGE` (`VM_HUGEPAGE`).
        HUGEPAGE = 0x20000000;
        /// `MADV_NOHUGEPAGE` or `MAP_STACK` (`VM_NOHUGEPAGE`).
        NOHUGEPAGE = 0x40000000;
        /// KSM may merge its pages: `MADV_MERGEABLE` (`VM_MERGEABLE`).
        MERGEABLE = 0x80000000;
        /// Protection key, bit 0 (`VM_PKEY_BIT0`); see [`VmFlags::PKEY`].
        PKEY_BIT0 = 1 << 32;
        /// Protection key, bit 1 (`VM_PKEY_BIT1`).
        PKEY_BIT1 = 1 << 33;
        /// Protection key, bit 2 (`VM_PKEY_BIT2`).
        PKEY_BIT2 = 1 << 34;
        /// Protection key, bit 3 (`VM_PKEY_BIT3`).
        PKEY_BIT3 = 1 << 35;
        /// Pages may be dropped under pressure: `MAP_DROPPABLE` (`VM_DROPPABLE`).
        DROPPABLE = 1 << 40;
    }
}

impl VmFlags {
    /// Flags that forbid merging and splitting by `mlock`: `IO | DONTEXPAND | PFNMAP |
    /// MIXEDMAP` (Linux: `VM_SPECIAL`).
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert!(VmFlags::SPECIAL.contains(VmFlags::PFNMAP));
    /// ```
    pub const SPECIAL: VmFlags =
        VmFlags(Self::IO.0 | Self::DONTEXPAND.0 | Self::PFNMAP.0 | Self::MIXEDMAP.0);
    /// `READ | WRITE | EXEC` (Linux: `VM_ACCESS_FLAGS`).
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert_eq!(VmFlags::ACCESS.bits(), 0x7);
    /// ```
    pub const ACCESS: VmFlags = VmFlags(Self::READ.0 | Self::WRITE.0 | Self::EXEC.0);
    /// `LOCKED | LOCKONFAULT` (Linux: `VM_LOCKED_MASK`).
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert!(VmFlags::LOCKED_MASK.contains(VmFlags::LOCKONFAULT));
    /// ```
    pub const LOCKED_MASK: VmFlags = VmFlags(Self::LOCKED.0 | Self::LOCKONFAULT.0);
    /// The flags of brk memory without `EXEC`: `READ | WRITE | MAYREAD | MAYWRITE | MAYEXEC`
    /// (Linux: `VM_DATA_DEFAULT_FLAGS` on x86-64).
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert!(!VmFlags::DATA_DEFAULT.contains(VmFlags::EXEC));
    /// ```
    pub const DATA_DEFAULT: VmFlags = VmFlags(
        Self::READ.0 | Self::WRITE.0 | Self::MAYREAD.0 | Self::MAYWRITE.0 | Self::MAYEXEC.0,
    );

    /// The four bits that hold a VMA's memory protection key (x86-64 has 16 keys; Linux:
    /// `ARCH_VM_PKEY_FLAGS`). Keys are part of the flags, so VMAs with different keys never
    /// merge.
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert_eq!(VmFlags::PKEY.bits(), 0xf << 32);
    /// ```
    pub const PKEY: VmFlags = VmFlags(0xf << 32);

    /// The flags that hold protection key `key` (its low four bits; Linux:
    /// `arch_calc_vm_prot_bits()`).
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert_eq!(VmFlags::from_pkey(5), VmFlags::PKEY_BIT0 | VmFlags::PKEY_BIT2);
    /// assert_eq!(VmFlags::from_pkey(5).pkey(), 5);
    /// ```
    pub const fn from_pkey(key: u32) -> VmFlags {
        VmFlags(((key & 0xf) as u64) << 32)
    }

    /// The protection key these flags hold (Linux: `vma_pkey()`).
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert_eq!((VmFlags::READ | VmFlags::PKEY_BIT1).pkey(), 2);
    /// ```
    pub const fn pkey(self) -> u32 {
        ((self.0 & Self::PKEY.0) >> 32) as u32
    }

    /// The access flags for `PROT_*` bits (Linux: `calc_vm_prot_bits()`).
    ///
    /// ```
    /// use maple_mm::{Prot, VmFlags};
    /// assert_eq!(VmFlags::from_prot(Prot::READ | Prot::EXEC), VmFlags::READ | VmFlags::EXEC);
    /// ```
    pub fn from_prot(prot: Prot) -> VmFlags {
        let mut flags = VmFlags::empty();
        if prot.contains(Prot::READ) {
            flags |= VmFlags::READ;
        }
        if prot.contains(Prot::WRITE) {
            flags |= VmFlags::WRITE;
        }
        if prot.contains(Prot::EXEC) {
            flags |= VmFlags::EXEC;
        }
        flags
    }

    /// Whether this is a data mapping for `RLIMIT_DATA`: writable, private, not a stack
    /// (Linux: `is_data_mapping()`).
    ///
    /// ```
    /// use maple_mm::VmFlags;
    /// assert!((VmFlags::READ | VmFlags::WRITE).is_data());
    /// assert!(!(VmFlags::WRITE | VmFlags::SHARED).is_data());
    /// assert!(!(VmFlags::WRITE | VmFlags::GROWSDOWN).is_data());
    /// ```
    pub fn is_data(self) -> bool {
        self.bits() & (Self::WRITE.0 | Self::SHARED.0 | Self::GROWSDOWN.0) == Self::WRITE.0
    }
}

bit_set! {
    /// `mmap` and `mprotect` protection bits.
    ///
    /// ```
    /// use maple_mm::Prot;
    /// assert_eq!((Prot::READ | Prot::WRITE).bits(), 3);
    /// ```
    Prot(u32) {
        /// `PROT_NONE`.
        NONE = 0;
        /// `PROT_READ`.
        READ = 0x1;
        /// `PROT_WRITE`.
        WRITE = 0x2;
        /// `PROT_EXEC`.
        EXEC = 0x4;
        /// `PROT_SEM` (accepted, no effect).
        SEM = 0x8;
        /// `PROT_GROWSDOWN`: `mprotect` extends the range down to the start of a growsdown
        /// VMA.
        GROWSDOWN = 0x0100_0000;
        /// `PROT_GROWSUP` (no growsup VMAs exist on x86-64).
        GROWSUP = 0x0200_0000;
    }
}

bit_set! {
    /// `mmap` flags.
    ///
    /// The mapping type is in the low four bits ([`MapFlags::TYPE`]): `SHARED`, `PRIVATE`,
    /// `SHARED_VALIDATE` or `DROPPABLE`.
    ///
    /// ```
    /// use maple_mm::MapFlags;
    /// let flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
    /// assert_eq!(flags.bits(), 0x22);
    /// ```
    MapFlags(u32) {
        /// `MAP_SHARED`.
        SHARED = 0x01;
        /// `MAP_PRIVATE`.
        PRIVATE = 0x02;
        /// `MAP_SHARED_VALIDATE`: shared, and unknown flags are an error.
        SHARED_VALIDATE = 0x03;
        /// `MAP_DROPPABLE` (a mapping type).
        DROPPABLE = 0x08;
        /// `MAP_TYPE`: the mask of the mapping type.
        TYPE = 0x0f;
        /// `MAP_FIXED`: exactly at the address, replacing what is there.
        FIXED = 0x10;
        /// `MAP_ANONYMOUS`.
        ANONYMOUS = 0x20;
        /// `MAP_32BIT`: below 2 GiB.
        BIT32 = 0x40;
        /// `MAP_ABOVE4G`: search above 4 GiB.
        ABOVE4G = 0x80;
        /// `MAP_GROWSDOWN`.
        GROWSDOWN = 0x100;
        /// `MAP_DENYWRITE` (ignored).
        DENYWRITE = 0x800;
        /// `MAP_EXECUTABLE` (ignored).
        EXECUTABLE = 0x1000;
        /// `MAP_LOCKED`.
        LOCKED = 0x2000;
        /// `MAP_NORESERVE`.
        NORESERVE = 0x4000;
        /// `MAP_POPULATE` (no VMA effect).
        POPULATE = 0x8000;
        /// `MAP_NONBLOCK` (no VMA effect).
        NONBLOCK = 0x10000;
        /// `MAP_STACK`: sets `VM_NOHUGEPAGE` when THP is configured.
        STACK = 0x20000;
        /// `MAP_HUGETLB` (hugetlbfs is not modelled: `EINVAL` with a file, `ENOMEM`
        /// without).
        HUGETLB = 0x40000;
        /// `MAP_SYNC`.
        SYNC = 0x80000;
        /// `MAP_FIXED_NOREPLACE`: exactly at the address, `EEXIST` if anything is there.
        FIXED_NOREPLACE = 0x100000;
        /// `MAP_UNINITIALIZED` (ignored).
        UNINITIALIZED = 0x4000000;
    }
}

impl MapFlags {
    /// The flags every file system accepts, also with `MAP_SHARED_VALIDATE` (Linux:
    /// `LEGACY_MAP_MASK`, with the `MAP_HUGE_*` size bits).
    pub(crate) const LEGACY: MapFlags = MapFlags(
        Self::SHARED.0
            | Self::PRIVATE.0
            | Self::FIXED.0
            | Self::ANONYMOUS.0
            | Self::DENYWRITE.0
            | Self::EXECUTABLE.0
            | Self::UNINITIALIZED.0
            | Self::GROWSDOWN.0
            | Self::LOCKED.0
            | Self::NORESERVE.0
            | Self::POPULATE.0
            | Self::NONBLOCK.0
            | Self::STACK.0
            | Self::HUGETLB.0
            | Self::BIT32.0
            | (21 << 26)
            | (30 << 26),
    );

    /// The mapping type bits.
    pub(crate) fn map_type(self) -> u32 {
        self.0 & Self::TYPE.0
    }
}

bit_set! {
    /// `mremap` flags.
    ///
    /// ```
    /// use maple_mm::MremapFlags;
    /// assert_eq!((MremapFlags::MAYMOVE | MremapFlags::FIXED).bits(), 3);
    /// ```
    MremapFlags(u32) {
        /// `MREMAP_MAYMOVE`: the mapping may move.
        MAYMOVE = 1;
        /// `MREMAP_FIXED`: move to `new_addr`, replacing what is there.
        FIXED = 2;
        /// `MREMAP_DONTUNMAP`: move, and leave the source mapped (empty).
        DONTUNMAP = 4;
    }
}

bit_set! {
    /// `mlock2` flags.
    ///
    /// ```
    /// assert_eq!(maple_mm::MlockFlags::ONFAULT.bits(), 1);
    /// ```
    MlockFlags(u32) {
        /// `MLOCK_ONFAULT`: lock pages as they are faulted in.
        ONFAULT = 1;
    }
}

bit_set! {
    /// `mlockall` flags.
    ///
    /// ```
    /// use maple_mm::McFlags;
    /// assert_eq!((McFlags::CURRENT | McFlags::FUTURE).bits(), 3);
    /// ```
    McFlags(u32) {
        /// `MCL_CURRENT`: lock every current mapping.
        CURRENT = 1;
        /// `MCL_FUTURE`: lock every future mapping.
        FUTURE = 2;
        /// `MCL_ONFAULT`: with the others, lock on fault.
        ONFAULT = 4;
    }
}

/// An `madvise` advice (`MADV_*`), as its raw number.
///
/// The advices that change VMA flags split and merge VMAs like `mprotect`; the others only
/// act on pages, so here they only check the range.
///
/// ```
/// use maple_mm::Advice;
/// assert_eq!(Advice::DONTFORK.0, 10);
/// assert!(Advice::DONTFORK.changes_vma());
/// assert!(!Advice::DONTNEED.changes_vma());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Advice(pub i32);

impl Advice {
    /// `MADV_NORMAL`: clears `SEQ_READ` and `RAND_READ`.
    pub const NORMAL: Advice = Advice(0);
    /// `MADV_RANDOM`: sets `RAND_READ`.
    pub const RANDOM: Advice = Advice(1);
    /// `MADV_SEQUENTIAL`: sets `SEQ_READ`.
    pub const SEQUENTIAL: Advice = Advice(2);
    /// `MADV_WILLNEED` (pages only).
    pub const WILLNEED: Advice = Advice(3);
    /// `MADV_DONTNEED` (pages only).
    pub const DONTNEED: Advice = Advice(4);
    /// `MADV_FREE` (pages only).
    pub const FREE: Advice = Advice(8);
    /// `MADV_REMOVE` (pages only).
    pub const REMOVE: Advice = Advice(9);
    /// `MADV_DONTFORK`: sets `DONTCOPY`.
    pub const DONTFORK: Advice = Advice(10);
    /// `MADV_DOFORK`: clears `DONTCOPY`.
    pub const DOFORK: Advice = Advice(11);
    /// `MADV_MERGEABLE`: sets `MERGEABLE` where KSM allows it.
    pub const MERGEABLE: Advice = Advice(12);
    /// `MADV_UNMERGEABLE`: clears `MERGEABLE`.
    pub const UNMERGEABLE: Advice = Advice(13);
    /// `MADV_HUGEPAGE`: sets `HUGEPAGE`, clears `NOHUGEPAGE`.
    pub const HUGEPAGE: Advice = Advice(14);
    /// `MADV_NOHUGEPAGE`: sets `NOHUGEPAGE`, clears `HUGEPAGE`.
    pub const NOHUGEPAGE: Advice = Advice(15);
    /// `MADV_DONTDUMP`: sets `DONTDUMP`.
    pub const DONTDUMP: Advice = Advice(16);
    /// `MADV_DODUMP`: clears `DONTDUMP`.
    pub const DODUMP: Advice = Advice(17);
    /// `MADV_WIPEONFORK`: sets `WIPEONFORK` (private anonymous memory only).
    pub const WIPEONFORK: Advice = Advice(18);
    /// `MADV_KEEPONFORK`: clears `WIPEONFORK`.
    pub const KEEPONFORK: Advice = Advice(19);
    /// `MADV_COLD` (pages only).
    pub const COLD: Advice = Advice(20);
    /// `MADV_PAGEOUT` (pages only).
    pub const PAGEOUT: Advice = Advice(21);
    /// `MADV_POPULATE_READ` (pages only).
    pub const POPULATE_READ: Advice = Advice(22);
    /// `MADV_POPULATE_WRITE` (pages only).
    pub const POPULATE_WRITE: Advice = Advice(23);
    /// `MADV_DONTNEED_LOCKED` (pages only).
    pub const DONTNEED_LOCKED: Advice = Advice(24);
    /// `MADV_COLLAPSE` (pages only).
    pub const COLLAPSE: Advice = Advice(25);
    /// `MADV_HWPOISON` (needs `CAP_SYS_ADMIN`: `EPERM` here).
    pub const HWPOISON: Advice = Advice(100);
    /// `MADV_SOFT_OFFLINE` (needs `CAP_SYS_ADMIN`: `EPERM` here).
    pub const SOFT_OFFLINE: Advice = Advice(101);
    /// `MADV_GUARD_INSTALL` (page markers; prepares an anon_vma).
    pub const GUARD_INSTALL: Advice = Advice(102);
    /// `MADV_GUARD_REMOVE` (page markers).
    pub const GUARD_REMOVE: Advice = Advice(103);

    /// Whether the advice changes VMA flags (and so may split and merge VMAs).
    ///
    /// ```
    /// use maple_mm::Advice;
    /// assert!(Advice::HUGEPAGE.changes_vma());
    /// assert!(!Advice::FREE.changes_vma());
    /// ```
    pub fn changes_vma(self) -> bool {
        matches!(self.0, 0..=2 | 10..=19)
    }

    /// The advice for a name without the `MADV_` prefix (`"DONTFORK"`), as the trace format
    /// writes it.
    ///
    /// ```
    /// use maple_mm::Advice;
    /// assert_eq!(Advice::from_name("WIPEONFORK"), Some(Advice::WIPEONFORK));
    /// ```
    pub fn from_name(name: &str) -> Option<Advice> {
        Some(match name {
            "NORMAL" => Self::NORMAL,
            "RANDOM" => Self::RANDOM,
            "SEQUENTIAL" => Self::SEQUENTIAL,
            "WILLNEED" => Self::WILLNEED,
            "DONTNEED" => Self::DONTNEED,
            "FREE" => Self::FREE,
            "REMOVE" => Self::REMOVE,
            "DONTFORK" => Self::DONTFORK,
            "DOFORK" => Self::DOFORK,
            "MERGEABLE" => Self::MERGEABLE,
            "UNMERGEABLE" => Self::UNMERGEABLE,
            "HUGEPAGE" => Self::HUGEPAGE,
            "NOHUGEPAGE" => Self::NOHUGEPAGE,
            "DONTDUMP" => Self::DONTDUMP,
            "DODUMP" => Self::DODUMP,
            "WIPEONFORK" => Self::WIPEONFORK,
            "KEEPONFORK" => Self::KEEPONFORK,
            "COLD" => Self::COLD,
            "PAGEOUT" => Self::PAGEOUT,
            "POPULATE_READ" => Self::POPULATE_READ,
            "POPULATE_WRITE" => Self::POPULATE_WRITE,
            "DONTNEED_LOCKED" => Self::DONTNEED_LOCKED,
            "COLLAPSE" => Self::COLLAPSE,
            "HWPOISON" => Self::HWPOISON,
            "SOFT_OFFLINE" => Self::SOFT_OFFLINE,
            "GUARD_INSTALL" => Self::GUARD_INSTALL,
            "GUARD_REMOVE" => Self::GUARD_REMOVE,
            _ => return None,
        })
    }
}
