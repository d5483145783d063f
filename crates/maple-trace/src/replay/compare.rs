//! Comparing the model's VMAs with a kernel snapshot, and explaining the differences.
//!
//! Both sides become [`Shape`]s: what `/proc/PID/smaps` can show of a VMA. Where the lists
//! differ, [`windows`] cuts the smallest address ranges that hold every difference, and
//! [`classify`] decides, for each, whether kernel state that no system call shows explains it
//! (a [`Resync`]) or the model is wrong (a [`Mismatch`]).

use std::collections::BTreeSet;
use std::fmt::{self, Display, Formatter};

use crate::format::{Backing, FileId, SnapshotVma};

/// The `VmFlags` mnemonics of every flag the model keeps, with their `vm_flags` bits (x86-64
/// Linux): all are compared, and a resynchronisation copies all of them from the kernel.
///
/// Others the kernel may show (`sd` soft-dirty, `ht` hugetlb, `um`/`uw` userfaultfd, `ss`
/// shadow stack, `sl` sealed, `gu` maybe-guard, ...) are not compared.
pub(crate) const COMPARED_FLAGS: &[([u8; 2], u64)] = &[
    (*b"rd", 0x1),
    (*b"wr", 0x2),
    (*b"ex", 0x4),
    (*b"sh", 0x8),
    (*b"mr", 0x10),
    (*b"mw", 0x20),
    (*b"me", 0x40),
    (*b"ms", 0x80),
    (*b"gd", 0x100),
    (*b"pf", 0x400),
    (*b"lo", 0x2000),
    (*b"io", 0x4000),
    (*b"sr", 0x8000),
    (*b"rr", 0x1_0000),
    (*b"dc", 0x2_0000),
    (*b"de", 0x4_0000),
    (*b"lf", 0x8_0000),
    (*b"ac", 0x10_0000),
    (*b"nr", 0x20_0000),
    (*b"sf", 0x80_0000),
    (*b"wf", 0x200_0000),
    (*b"dd", 0x400_0000),
    (*b"mm", 0x1000_0000),
    (*b"hg", 0x2000_0000),
    (*b"nh", 0x4000_0000),
    (*b"mg", 0x8000_0000),
    (*b"dp", 1 << 40),
];

/// The `vm_flags` bits of a VMA's protection key (x86-64: four bits from bit 32), which
/// `/proc/PID/smaps` shows as `ProtectionKey:` rather than as mnemonics.
pub(crate) const PKEY_BITS: u64 = 0xf << 32;

/// The bits a VMA shows without its `VmFlags` (a maps line): read, write, exec and
/// VM_MAYSHARE (`s`).
pub(crate) const MAPS_BITS: u64 = 0x87;

/// The bits of [`COMPARED_FLAGS`] and the protection key.
pub(crate) fn compared_mask() -> u64 {
    COMPARED_FLAGS
        .iter()
        .fold(PKEY_BITS, |acc, &(_, bit)| acc | bit)
}

/// The `vm_flags` bits named by a snapshot VMA's mnemonics (only the compared ones), with its
/// protection key.
pub(crate) fn flags_of(vma: &SnapshotVma) -> u64 {
    let key = (u64::from(vma.pkey) << 32) & PKEY_BITS;
    vma.flags.iter().fold(key, |acc, m| {
        acc | COMPARED_FLAGS
            .iter()
            .find(|(name, _)| name == m)
            .map_or(0, |&(_, bit)| bit)
    })
}

/// Writes `vm_flags` bits as mnemonics (`rd,wr,mr`), then the protection key if not 0
/// (`rd,wr pkey3`).
pub(crate) fn mnemonics(bits: u64) -> String {
    let names: Vec<&str> = COMPARED_FLAGS
        .iter()
        .filter(|&&(_, bit)| bits & bit != 0)
        .map(|(name, _)| std::str::from_utf8(name).unwrap_or("??"))
        .collect();
    let mut text = names.join(",");
    let key = (bits & PKEY_BITS) >> 32;
    if key != 0 {
        text.push_str(&format!(" pkey{key}"));
    }
    text
}

/// What a VMA looks like from `/proc/PID/smaps`, on either side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// `vm_flags`, restricted to [`COMPARED_FLAGS`] (or to the access and shared bits when
    /// the snapshot carries no `VmFlags`).
    pub(crate) flags: u64,
    /// The file, in trace ids; `None` for anonymous memory.
    pub(crate) file: Option<FileId>,
    /// The file offset of `start` in bytes (0 for anonymous memory).
    pub(crate) offset: u64,
    /// A kernel name (`[vdso]`, `[anon:x]`); never set on the model's side.
    pub(crate) name: Option<String>,
    /// On the model's side, its whole `vm_flags` and its anon_vma (a number): what keeps
    /// it apart from a neighbour when `flags` does not show it. Not compared.
    pub(crate) apart: Option<(u64, Option<u64>)>,
}

impl Shape {
    /// The shape of a snapshot VMA; `mask` keeps the flags both sides can show.
    pub(crate) fn of_snapshot(vma: &SnapshotVma, mask: u64) -> Shape {
        let mut flags = flags_of(vma);
        if vma.flags.is_empty() {
            // A maps line's `s` is VM_MAYSHARE: a shared mapping of a read-only file has no
            // VM_SHARED.
            flags = u64::from(vma.read) | u64::from(vma.write) << 1 | u64::from(vma.exec) << 2;
            flags |= u64::from(vma.shared) << 7;
        }
        let (file, name) = match &vma.backing {
            Backing::Anon => (None, None),
            Backing::File(id) => (Some(*id), None),
            Backing::Named(name) => (None, Some(name.clone())),
        };
        let offset = if file.is_some() { vma.offset } else { 0 };
        Shape {
            start: vma.start,
            end: vma.end,
            flags: flags & mask,
            file,
            offset,
            name,
            apart: None,
        }
    }

    /// Whether the name is one the model has no counterpart for and that takes no part in
    /// merging: `[heap]`, `[stack]`, `[vdso]`, `[vvar]` and other kernel names. Names set by
    /// the program (`[anon:NAME]`, `[anon_shmem:NAME]`) keep VMAs apart and are compared.
    fn plain_name(&self) -> bool {
        self.name
            .as_deref()
            .is_none_or(|n| !n.starts_with("anon:") && !n.starts_with("anon_shmem:"))
    }

    /// Whether both describe the same memory at `addr`: same flags, same file at the same
    /// offset, same kind of name.
    fn same_at(&self, other: &Shape, addr: u64) -> bool {
        self.flags == other.flags
            && self.file == other.file
            && (self.file.is_none()
                || self.offset.wrapping_add(addr - self.start)
                    == other.offset.wrapping_add(addr - other.start))
            && (self.plain_name() && other.plain_name() || self.name == other.name)
    }

    /// Equal as a whole (names that stand for plain memory match the model's none).
    pub(crate) fn matches(&self, other: &Shape) -> bool {
        self.start == other.start && self.end == other.end && self.same_at(other, self.start)
    }
}

impl Display for Shape {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:x}-{:x} {}",
            self.start,
            self.end,
            mnemonics(self.flags)
        )?;
        if let Some(file) = self.file {
            write!(f, " {file}@{:x}", self.offset)?;
        }
        if let Some(name) = &self.name {
            write!(f, " [{name}]")?;
        }
        Ok(())
    }
}

/// One address range where the lists differ: the VMAs of each side that lie in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    /// Lowest address of any VMA in the window.
    pub(crate) start: u64,
    /// Highest end of any VMA in the window.
    pub(crate) end: u64,
    /// Indices into the model's list.
    pub(crate) ours: std::ops::Range<usize>,
    /// Indices into the kernel's list.
    pub(crate) kernel: std::ops::Range<usize>,
}

/// Cuts the differences between two sorted lists into windows; each holds whole VMAs of both
/// sides, and outside the windows the lists are equal.
pub(crate) fn windows(ours: &[Shape], kernel: &[Shape]) -> Vec<Window> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < ours.len() || j < kernel.len() {
        if i < ours.len() && j < kernel.len() && ours[i].matches(&kernel[j]) {
            i += 1;
            j += 1;
            continue;
        }
        let (oi, kj) = (i, j);
        let mut start = u64::MAX;
        let mut end = 0;
        if let Some(v) = ours.get(i) {
            start = start.min(v.start);
        }
        if let Some(v) = kernel.get(j) {
            start = start.min(v.start);
        }
        // Take the first VMA of whichever side starts lower, then everything that overlaps
        // the growing window, until both sides agree again at the window's end.
        loop {
            let mut grew = false;
            if let Some(v) = ours.get(i)
                && (v.start < end || (i == oi && v.start == start))
            {
                end = end.max(v.end);
                i += 1;
                grew = true;
            }
            if let Some(v) = kernel.get(j)
                && (v.start < end || (j == kj && v.start == start))
            {
                end = end.max(v.end);
                j += 1;
                grew = true;
            }
            if !grew {
                break;
            }
        }
        out.push(Window {
            start,
            end,
            ours: oi..i,
            kernel: kj..j,
        });
    }
    out
}

/// Kernel state that no system call shows, which explains a difference; the replay copies
/// the kernel's layout there, counts it by kind, and goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resync {
    /// A stack VMA grew down on page faults (`expand_stack`).
    StackGrowth,
    /// The kernel kept apart VMAs the model merged, and they are private: whether each has an
    /// anon_vma (and which) decides that merge, and depends on page faults.
    AnonVma,
    /// The kernel kept apart shared file VMAs the model merged: two opens of one file are two
    /// `struct file`s, which `/proc` shows alike.
    FileInstance,
    /// A file's `mmap` hook or mount changed the flags of its mapping: a driver added
    /// `VM_IO`, `VM_PFNMAP`, `VM_MIXEDMAP`, `VM_DONTEXPAND`, `VM_DONTDUMP` or `VM_DONTCOPY`
    /// (io_uring rings, perf buffers, devices), or a `noexec` mount took `VM_MAYEXEC` away.
    /// The replay learns it for that file and models its later mappings alike.
    MmapHook,
    /// A VMA the kernel made without a system call of the program (`[uprobes]`, say).
    KernelMapping,
    /// Calls of two threads that ran in another order than the capture saw them return: an
    /// `mmap` got an address that a later-recorded `munmap` or `mremap` of another thread
    /// freed, so that call is replayed first.
    CallOrder,
    /// A fork while other threads of the parent were inside memory calls: the child copies
    /// the parent at an instant between their entries and exits, which the capture cannot
    /// see. The child's first snapshot gives its layout.
    ForkRace,
    /// A call the model does not implement changed the layout (`mseal`, `mbind`,
    /// `set_vma_name`, `shmat`, `remap_file_pages`, `map_shadow_stack`...).
    UnmodelledCall,
}

impl Resync {
    /// A short name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            Resync::StackGrowth => "stack-growth",
            Resync::AnonVma => "anon_vma",
            Resync::FileInstance => "file-instance",
            Resync::MmapHook => "mmap-hook",
            Resync::KernelMapping => "kernel-mapping",
            Resync::ForkRace => "fork-race",
            Resync::CallOrder => "call-order",
            Resync::UnmodelledCall => "unmodelled-call",
        }
    }
}

/// How the model's layout differs from the kernel's where nothing explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mismatch {
    /// The kernel has memory where the model has none.
    Missing,
    /// The model has memory where the kernel has none.
    Extra,
    /// The kernel merged VMAs the model keeps apart.
    MissedMerge,
    /// The VMAs cover the same memory, but their ends differ otherwise.
    Boundaries,
    /// Access or shared flags differ.
    Permissions,
    /// Other `vm_flags` differ.
    Flags,
    /// A different file, or an anonymous VMA against a file one.
    File,
    /// The same file at a different offset.
    Offset,
    /// The call's result differs (address, error, or break).
    Result,
}

impl Mismatch {
    /// A short name for summaries.
    pub fn name(self) -> &'static str {
        match self {
            Mismatch::Missing => "missing-vma",
            Mismatch::Extra => "extra-vma",
            Mismatch::MissedMerge => "missed-merge",
            Mismatch::Boundaries => "boundaries",
            Mismatch::Permissions => "permissions",
            Mismatch::Flags => "flags",
            Mismatch::File => "file",
            Mismatch::Offset => "offset",
            Mismatch::Result => "result",
        }
    }
}

/// What a window's difference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Explained(Resync),
    Wrong(Mismatch),
}

/// Whether every address of the window is covered alike by both sides: same flags, file and
/// offset everywhere, only the ends of VMAs differ.
fn same_memory(ours: &[Shape], kernel: &[Shape]) -> bool {
    let mut points: Vec<u64> = ours
        .iter()
        .chain(kernel)
        .flat_map(|v| [v.start, v.end])
        .collect();
    points.sort_unstable();
    points.dedup();
    let at = |list: &[Shape], addr: u64| {
        list.iter()
            .find(|v| v.start <= addr && addr < v.end)
            .cloned()
    };
    points.iter().all(|&p| match (at(ours, p), at(kernel, p)) {
        (None, None) => true,
        (Some(o), Some(k)) => o.same_at(&k, p),
        _ => false,
    })
}

/// `VM_ACCOUNT` (`ac`).
const VM_ACCOUNT: u64 = 0x10_0000;

/// Whether the sides differ only in `VM_ACCOUNT`, on private anonymous VMAs that cannot be
/// written. `mprotect` that takes write access away keeps the charge of a VMA that has an
/// anon_vma and drops it otherwise, and whether a page fault made one is not visible.
fn account_only(ours: &[Shape], kernel: &[Shape]) -> bool {
    ours.len() == kernel.len()
        && ours.iter().zip(kernel).all(|(o, k)| {
            o.start == k.start
                && o.end == k.end
                && o.file.is_none()
                && k.file.is_none()
                && o.flags & (0x2 | 0x8) == 0
                && (o.flags ^ k.flags) == VM_ACCOUNT
                && o.name == k.name
        })
}

/// Whether every cut of the model's that the kernel does not have lies between two private
/// pieces of the same memory that only anon_vma state keeps apart: different anon_vmas, or
/// `VM_ACCOUNT` on one side only (which `mprotect` keeps when there is an anon_vma). Which
/// VMAs have anon_vmas, and which, depends on page faults the trace does not show, so the
/// kernel merging what the model keeps apart there is explained.
fn apart_by_anon_vma(ours: &[Shape], kernel_cuts: &BTreeSet<u64>) -> bool {
    ours.windows(2).all(|pair| {
        let (a, b) = (&pair[0], &pair[1]);
        if a.end != b.start || kernel_cuts.contains(&b.start) {
            return true;
        }
        let (Some((fa, anon_a)), Some((fb, anon_b))) = (a.apart, b.apart) else {
            return false;
        };
        a.file == b.file
            && (fa | fb) & 0x8 == 0
            && (fa ^ fb) & !VM_ACCOUNT == 0
            && (fa != fb || anon_a != anon_b)
    })
}

/// Flags a driver's `mmap` hook may add: `VM_DONTCOPY`, `VM_DONTEXPAND`, `VM_IO`,
/// `VM_PFNMAP`, `VM_DONTDUMP`, `VM_MIXEDMAP`.
pub(crate) const HOOK_ADDS: u64 = 0x2_0000 | 0x4_0000 | 0x4000 | 0x400 | 0x400_0000 | 0x1000_0000;

/// `VM_MAYEXEC`, which a `noexec` mount takes away.
pub(crate) const VM_MAYEXEC: u64 = 0x40;

/// Where the sides differ only as a file's `mmap` hook or mount makes them differ (same
/// VMAs of the same file at the same offsets; the kernel has extra [`HOOK_ADDS`] flags or
/// lacks `VM_MAYEXEC`): each file with what the kernel added and whether it dropped
/// `VM_MAYEXEC`. Empty when the difference is anything else.
pub(crate) fn hook_flags(ours: &[Shape], kernel: &[Shape]) -> Vec<(FileId, u64, bool)> {
    let mut out = Vec::new();
    if ours.len() != kernel.len() {
        return out;
    }
    for (o, k) in ours.iter().zip(kernel) {
        let added = k.flags & !o.flags;
        let dropped = o.flags & !k.flags;
        let fits = o.start == k.start
            && o.end == k.end
            && o.offset == k.offset
            && added & !HOOK_ADDS == 0
            && dropped & !VM_MAYEXEC == 0;
        match (o.file, k.file) {
            (Some(a), Some(b)) if a == b && fits => {
                if added | dropped != 0 {
                    out.push((a, added, dropped != 0));
                }
            }
            _ => return Vec::new(),
        }
    }
    out
}

/// Explains the difference in one window, or names what is wrong.
///
/// `excuse` names kernel activity the model could not follow since the last comparison (a
/// call it does not implement, a fork while sibling threads were inside calls), which then
/// explains any difference.
pub(crate) fn classify(ours: &[Shape], kernel: &[Shape], excuse: Option<Resync>) -> Verdict {
    use Verdict::{Explained, Wrong};
    // A stack that grew on page faults: the same VMAs, the lowest starting lower in the
    // kernel (the kernel shows it growing down, or the model knows it does).
    if let (Some(o), Some(k)) = (ours.first(), kernel.first())
        && ours.len() == kernel.len()
        && o.end == k.end
        && k.start < o.start
        && (k.flags & 0x100 != 0
            || k.name.as_deref() == Some("stack")
            || o.apart.is_some_and(|(flags, _)| flags & 0x100 != 0))
        && o.same_at(k, o.start)
        && ours[1..]
            .iter()
            .zip(&kernel[1..])
            .all(|(a, b)| a.matches(b))
    {
        return Explained(Resync::StackGrowth);
    }
    if let Some(excuse) = excuse {
        return Explained(excuse);
    }
    if account_only(ours, kernel) {
        return Explained(Resync::AnonVma);
    }
    if !hook_flags(ours, kernel).is_empty() {
        return Explained(Resync::MmapHook);
    }
    if ours.is_empty()
        && kernel.iter().all(|k| {
            k.name
                .as_deref()
                .is_some_and(|n| !matches!(n, "heap" | "stack"))
        })
    {
        return Explained(Resync::KernelMapping);
    }
    if same_memory(ours, kernel) {
        let starts = |list: &[Shape]| list.iter().map(|v| v.start).collect::<BTreeSet<u64>>();
        let (model_cuts, kernel_cuts) = (starts(ours), starts(kernel));
        if kernel_cuts.is_subset(&model_cuts) && apart_by_anon_vma(ours, &kernel_cuts) {
            return Explained(Resync::AnonVma);
        }
        if model_cuts.is_subset(&kernel_cuts) {
            let shared_file = kernel
                .iter()
                .all(|k| k.file.is_some() && k.flags & 0x8 != 0);
            return Explained(if shared_file {
                Resync::FileInstance
            } else {
                Resync::AnonVma
            });
        }
        // Both at once: the kernel merged pieces the model keeps apart by anon_vma state, and
        // cut private memory where the model did not (faults before and after cuts decide
        // which pieces share an anon_vma).
        let private_cut = |cut: &u64| {
            kernel
                .iter()
                .filter(|k| k.start == *cut || k.end == *cut)
                .all(|k| k.flags & 0x8 == 0)
        };
        if !kernel_cuts.is_subset(&model_cuts)
            && apart_by_anon_vma(ours, &kernel_cuts)
            && kernel_cuts.difference(&model_cuts).all(private_cut)
        {
            return Explained(Resync::AnonVma);
        }
        if kernel_cuts.is_subset(&model_cuts) {
            return Wrong(Mismatch::MissedMerge);
        }
        return Wrong(Mismatch::Boundaries);
    }
    // The model merged pieces the kernel kept apart because some kept `VM_ACCOUNT` (they had
    // an anon_vma, from page faults) when made read-only: the same memory but for that bit.
    let no_account = |list: &[Shape]| -> Vec<Shape> {
        list.iter()
            .map(|v| {
                let mut v = v.clone();
                if v.file.is_none() && v.flags & (0x2 | 0x8) == 0 {
                    v.flags &= !VM_ACCOUNT;
                }
                v
            })
            .collect()
    };
    let (loose_ours, loose_kernel) = (no_account(ours), no_account(kernel));
    if same_memory(&loose_ours, &loose_kernel) {
        let starts = |list: &[Shape]| list.iter().map(|v| v.start).collect::<BTreeSet<u64>>();
        let (model_cuts, kernel_cuts) = (starts(ours), starts(kernel));
        if model_cuts.is_subset(&kernel_cuts)
            || (kernel_cuts.is_subset(&model_cuts) && apart_by_anon_vma(ours, &kernel_cuts))
        {
            return Explained(Resync::AnonVma);
        }
    }
    if ours.is_empty() {
        return Wrong(Mismatch::Missing);
    }
    if kernel.is_empty() {
        return Wrong(Mismatch::Extra);
    }
    // Name the first attribute that differs where both sides have memory.
    for k in kernel {
        for o in ours.iter().filter(|o| o.start < k.end && k.start < o.end) {
            let addr = o.start.max(k.start);
            if o.flags & 0xf != k.flags & 0xf {
                return Wrong(Mismatch::Permissions);
            }
            if o.flags != k.flags {
                return Wrong(Mismatch::Flags);
            }
            if o.file != k.file
                || o.name.is_some() != k.name.is_some() && !(o.plain_name() && k.plain_name())
            {
                return Wrong(Mismatch::File);
            }
            if !o.same_at(k, addr) {
                return Wrong(Mismatch::Offset);
            }
        }
    }
    let covered = |list: &[Shape]| list.iter().map(|v| v.end - v.start).sum::<u64>();
    if covered(kernel) > covered(ours) {
        Wrong(Mismatch::Missing)
    } else {
        Wrong(Mismatch::Extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: u64 = 0x1 | 0x2 | 0x10 | 0x20 | 0x40;

    fn anon(start: u64, end: u64, flags: u64) -> Shape {
        Shape {
            start,
            end,
            flags,
            file: None,
            offset: 0,
            name: None,
            apart: None,
        }
    }

    fn file(start: u64, end: u64, flags: u64, id: u32, offset: u64) -> Shape {
        Shape {
            start,
            end,
            flags,
            file: Some(FileId(id)),
            offset,
            name: None,
            apart: None,
        }
    }

    #[test]
    fn equal_lists_have_no_window() {
        let list = vec![
            anon(0x1000, 0x2000, RW),
            file(0x3000, 0x5000, 0x1 | 0x10, 1, 0x2000),
        ];
        assert!(windows(&list, &list).is_empty());
    }

    #[test]
    fn windows_hold_whole_vmas_of_both_sides() {
        let ours = vec![
            anon(0x1000, 0x2000, RW),
            anon(0x3000, 0x6000, RW),
            anon(0x8000, 0x9000, RW),
        ];
        let kernel = vec![
            anon(0x1000, 0x2000, RW),
            anon(0x3000, 0x4000, RW),
            anon(0x4000, 0x6000, RW),
            anon(0x8000, 0x9000, 0x1),
        ];
        let found = windows(&ours, &kernel);
        assert_eq!(
            found,
            vec![
                Window {
                    start: 0x3000,
                    end: 0x6000,
                    ours: 1..2,
                    kernel: 1..3
                },
                Window {
                    start: 0x8000,
                    end: 0x9000,
                    ours: 2..3,
                    kernel: 3..4
                },
            ]
        );
        let missing = windows(&[], &kernel[..1]);
        assert_eq!(
            missing,
            vec![Window {
                start: 0x1000,
                end: 0x2000,
                ours: 0..0,
                kernel: 0..1
            }]
        );
    }

    #[test]
    fn explanations_and_mismatches() {
        use Verdict::{Explained, Wrong};
        let stack = Shape {
            name: Some("stack".into()),
            ..anon(0x7000, 0x9000, RW | 0x100)
        };
        assert_eq!(
            classify(&[anon(0x8000, 0x9000, RW | 0x100)], &[stack], None),
            Explained(Resync::StackGrowth)
        );
        // The kernel kept two private pieces apart that the model merged.
        // The charge of a read-only private VMA depends on its anon_vma; not for writable ones.
        assert_eq!(
            classify(
                &[anon(0x1000, 0x3000, 0x1)],
                &[anon(0x1000, 0x3000, 0x1 | VM_ACCOUNT)],
                None
            ),
            Explained(Resync::AnonVma)
        );
        assert_eq!(
            classify(
                &[anon(0x1000, 0x3000, RW)],
                &[anon(0x1000, 0x3000, RW | VM_ACCOUNT)],
                None
            ),
            Wrong(Mismatch::Flags)
        );
        // A driver's flags and a noexec mount, on a file; not on anonymous memory.
        let ring = Shape {
            file: Some(FileId(3)),
            ..anon(0x1000, 0x3000, RW | 0x8 | 0x80)
        };
        let hooked = Shape {
            flags: (ring.flags | 0x4_0000 | 0x1000_0000) & !VM_MAYEXEC,
            ..ring.clone()
        };
        assert_eq!(
            classify(
                std::slice::from_ref(&ring),
                std::slice::from_ref(&hooked),
                None
            ),
            Explained(Resync::MmapHook)
        );
        assert_eq!(
            hook_flags(std::slice::from_ref(&ring), std::slice::from_ref(&hooked)),
            [(FileId(3), 0x4_0000 | 0x1000_0000, true)]
        );
        assert_eq!(
            classify(
                &[anon(0x1000, 0x3000, RW)],
                &[anon(0x1000, 0x3000, RW | 0x4000)],
                None
            ),
            Wrong(Mismatch::Flags)
        );
        let split = [anon(0x1000, 0x2000, RW), anon(0x2000, 0x3000, RW)];
        assert_eq!(
            classify(&[anon(0x1000, 0x3000, RW)], &split, None),
            Explained(Resync::AnonVma)
        );
        // ... and the other way round is the model's fault.
        assert_eq!(
            classify(&split, &[anon(0x1000, 0x3000, RW)], None),
            Wrong(Mismatch::MissedMerge)
        );
        // Each side cut where the other did not: explained when the model's cut is between
        // pieces with different anon_vmas, the model's fault when it is not.
        let with_anon = |v: Shape, id: u64| Shape {
            apart: Some((v.flags, Some(id))),
            ..v
        };
        let ours = [
            with_anon(anon(0x1000, 0x4000, RW), 1),
            with_anon(anon(0x4000, 0x6000, RW), 2),
        ];
        let kernel = [anon(0x1000, 0x2000, RW), anon(0x2000, 0x6000, RW)];
        assert_eq!(classify(&ours, &kernel, None), Explained(Resync::AnonVma));
        let same_anon = [
            with_anon(anon(0x1000, 0x4000, RW), 1),
            with_anon(anon(0x4000, 0x6000, RW), 1),
        ];
        assert_eq!(
            classify(&same_anon, &kernel, None),
            Wrong(Mismatch::Boundaries)
        );
        let shared = [
            file(0x1000, 0x2000, 0x1 | 0x8, 1, 0),
            file(0x2000, 0x3000, 0x1 | 0x8, 1, 0x1000),
        ];
        assert_eq!(
            classify(&[file(0x1000, 0x3000, 0x1 | 0x8, 1, 0)], &shared, None),
            Explained(Resync::FileInstance)
        );
        assert_eq!(
            classify(
                &[anon(0x1000, 0x3000, RW)],
                &[anon(0x1000, 0x3000, 0x1)],
                None
            ),
            Wrong(Mismatch::Permissions)
        );
        assert_eq!(
            classify(
                &[anon(0x1000, 0x3000, RW)],
                &[anon(0x1000, 0x3000, RW | 0x2_0000)],
                None
            ),
            Wrong(Mismatch::Flags)
        );
        assert_eq!(
            classify(
                &[file(0x1000, 0x3000, 0x1, 1, 0)],
                &[file(0x1000, 0x3000, 0x1, 2, 0)],
                None
            ),
            Wrong(Mismatch::File)
        );
        assert_eq!(
            classify(
                &[file(0x1000, 0x3000, 0x1, 1, 0)],
                &[file(0x1000, 0x3000, 0x1, 1, 0x1000)],
                None
            ),
            Wrong(Mismatch::Offset)
        );
        assert_eq!(
            classify(&[], &[anon(0x1000, 0x3000, RW)], None),
            Wrong(Mismatch::Missing)
        );
        assert_eq!(
            classify(&[anon(0x1000, 0x3000, RW)], &[], None),
            Wrong(Mismatch::Extra)
        );
        assert_eq!(
            classify(
                &[anon(0x1000, 0x3000, RW)],
                &[],
                Some(Resync::UnmodelledCall)
            ),
            Explained(Resync::UnmodelledCall)
        );
        // Only page-fault state keeps the model's pieces apart where the kernel merged them:
        // different anon_vmas, or VM_ACCOUNT on one side; the other way round, the kernel's
        // pieces differ only in VM_ACCOUNT.
        let apart = |start, end, flags, id| Shape {
            apart: Some((flags, id)),
            ..anon(start, end, flags & 0xf)
        };
        // A stack the op cut into pieces grew too: the model's growsdown flag tells, where
        // the kernel's snapshot shows no flags.
        let low = Shape {
            apart: Some((0x5 | 0x100, None)),
            ..anon(0x8000, 0x9000, 0x5)
        };
        assert_eq!(
            classify(
                &[low, anon(0x9000, 0xa000, 0x7)],
                &[anon(0x6000, 0x9000, 0x5), anon(0x9000, 0xa000, 0x7)],
                None
            ),
            Explained(Resync::StackGrowth)
        );
        let merged = [anon(0x1000, 0x3000, 0x1)];
        assert_eq!(
            classify(
                &[
                    apart(0x1000, 0x2000, 0x1, Some(1)),
                    apart(0x2000, 0x3000, 0x1, Some(2))
                ],
                &merged,
                None
            ),
            Explained(Resync::AnonVma)
        );
        assert_eq!(
            classify(
                &[
                    apart(0x1000, 0x2000, 0x1 | VM_ACCOUNT, Some(1)),
                    apart(0x2000, 0x3000, 0x1, Some(1))
                ],
                &merged,
                None
            ),
            Explained(Resync::AnonVma)
        );
        assert_eq!(
            classify(
                &[
                    apart(0x1000, 0x2000, 0x1, Some(1)),
                    apart(0x2000, 0x3000, 0x1, Some(1))
                ],
                &merged,
                None
            ),
            Wrong(Mismatch::MissedMerge)
        );
        assert_eq!(
            classify(
                &[anon(0x1000, 0x3000, 0x1)],
                &[
                    anon(0x1000, 0x2000, 0x1 | VM_ACCOUNT),
                    anon(0x2000, 0x3000, 0x1)
                ],
                None
            ),
            Explained(Resync::AnonVma)
        );
        let uprobes = Shape {
            name: Some("uprobes".into()),
            ..anon(0x1000, 0x2000, 0x4)
        };
        assert_eq!(
            classify(&[], &[uprobes], None),
            Explained(Resync::KernelMapping)
        );
        assert_eq!(
            classify(
                &[anon(0x1000, 0x1800, RW), anon(0x1800, 0x3000, RW)],
                &[anon(0x1000, 0x2000, RW), anon(0x2000, 0x3000, RW)],
                None
            ),
            Wrong(Mismatch::Boundaries)
        );
    }
}
