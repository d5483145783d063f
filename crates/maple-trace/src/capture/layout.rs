//! Reading the kernel's VMA list: `/proc/PID/smaps` text to snapshot VMAs, with file identities
//! turned into per-trace ids.
//!
//! A `/proc/PID/smaps` entry is a `/proc/PID/maps` line followed by `Key: value` lines, the
//! last of which is `VmFlags:`:
//!
//! ```text
//! 5566aa205000-5566aa207000 r--p 00000000 fe:00 247282                     /usr/bin/head
//! Size:                  8 kB
//! ...
//! VmFlags: rd mr mw me
//! ```
//!
//! The maps line gives the range, the permissions, the file offset, the device (major and
//! minor, hex), the inode and the path. The path never reaches the trace: a file becomes an id
//! `f<n>` keyed by device and inode, and only its base name is kept, in an `f` record.

use std::collections::HashMap;

use maple_procmap::MapsVma;

use crate::format::{Backing, FileId, Record, SnapshotVma};

/// A file as `/proc/PID/maps` identifies it: the device's major and minor number and the inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FileKey {
    /// Device major number.
    pub(crate) major: u32,
    /// Device minor number.
    pub(crate) minor: u32,
    /// Inode number.
    pub(crate) inode: u64,
}

impl FileKey {
    /// The key of a file whose `stat` gave `st_dev` and `st_ino`, decoding the device number
    /// the way glibc's `major()` and `minor()` do.
    pub(crate) fn from_stat(dev: u64, inode: u64) -> FileKey {
        // NOTE: the masks keep the values within 32 bits, so the casts cannot truncate.
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
        let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
        FileKey {
            major: u32::try_from(major).unwrap_or(u32::MAX),
            minor: u32::try_from(minor).unwrap_or(u32::MAX),
            inode,
        }
    }
}

/// File ids in order of first appearance, one per [`FileKey`].
#[derive(Debug, Default)]
pub(crate) struct FileTable {
    ids: HashMap<FileKey, FileId>,
}

impl FileTable {
    /// The id of a file already seen.
    pub(crate) fn known(&self, key: FileKey) -> Option<FileId> {
        self.ids.get(&key).copied()
    }

    /// The id of `key`, made on first sight; a new id pushes an `f` record with the base name
    /// of `path` onto `records`.
    pub(crate) fn id(&mut self, key: FileKey, path: &str, records: &mut Vec<Record>) -> FileId {
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = FileId(u32::try_from(self.ids.len() + 1).unwrap_or(u32::MAX));
        self.ids.insert(key, id);
        records.push(Record::FileName {
            file: id,
            name: base_name(path).to_owned(),
        });
        id
    }

    /// How many files have ids.
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }
}

/// The part of a path after its last `/` (`libc.so.6` for `/usr/lib/libc.so.6`, and
/// `zero (deleted)` for `/dev/zero (deleted)`). Program names in `N` records use it too.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The backing of a maps line before file ids are given.
enum RawBacking<'a> {
    /// A bracketed kernel name, or a path without device or inode (its last component).
    Named(&'a str),
    /// A file, keyed by device and inode.
    File,
    /// No path, no identity.
    Anon,
}

/// One VMA as the maps line shows it, before file ids are given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawVma<'a> {
    start: u64,
    end: u64,
    perms: [bool; 4],
    offset: u64,
    key: FileKey,
    path: &'a str,
    flags: Vec<[u8; 2]>,
    anon_pages: bool,
    pkey: u32,
}

/// How many protection keys a machine has, from any `/proc/PID/smaps` text of it: Linux shows
/// a `ProtectionKey:` line per VMA exactly when the CPU has keys and the kernel enabled them
/// (x86-64 PKU: 16 keys); otherwise there are none.
pub(crate) fn pkey_count(smaps: &str) -> u32 {
    if smaps.lines().any(|l| l.starts_with("ProtectionKey:")) {
        16
    } else {
        0
    }
}

/// Parses a maps line: `start-end perms offset major:minor inode [path]`.
fn parse_maps_line(line: &str) -> Option<RawVma<'_>> {
    let mut fields = line.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let start = u64::from_str_radix(start, 16).ok()?;
    let end = u64::from_str_radix(end, 16).ok()?;
    let perms = fields.next()?.as_bytes();
    let &[r, w, x, s] = perms else {
        return None;
    };
    let perms = [r == b'r', w == b'w', x == b'x', s == b's'];
    let offset = u64::from_str_radix(fields.next()?, 16).ok()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let key = FileKey {
        major: u32::from_str_radix(major, 16).ok()?,
        minor: u32::from_str_radix(minor, 16).ok()?,
        inode: fields.next()?.parse().ok()?,
    };
    let path = fields.next().unwrap_or("").trim_start_matches(' ');
    Some(RawVma {
        start,
        end,
        perms,
        offset,
        key,
        path,
        flags: Vec::new(),
        anon_pages: false,
        pkey: 0,
    })
}

/// Parses the text of `/proc/PID/smaps` (or `/proc/PID/maps`, which has no flags) into raw
/// VMAs in address order. Lines that are neither a maps line nor `VmFlags:` are skipped, and
/// so is a VMA that would not come after the one before it (the parser of the format would
/// refuse it; the kernel never prints one).
pub(crate) fn parse_smaps(text: &str) -> Vec<RawVma<'_>> {
    let mut vmas: Vec<RawVma<'_>> = Vec::new();
    for line in text.lines() {
        if let Some(list) = line.strip_prefix("VmFlags:") {
            if let Some(vma) = vmas.last_mut() {
                vma.flags = list
                    .split_ascii_whitespace()
                    .filter_map(|m| match m.as_bytes() {
                        &[a, b] if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
                            Some([a, b])
                        }
                        _ => None,
                    })
                    .collect();
            }
            continue;
        }
        if let Some(size) = line.strip_prefix("Anonymous:") {
            if let Some(vma) = vmas.last_mut() {
                let kb = size.split_ascii_whitespace().next().unwrap_or("0");
                vma.anon_pages = kb.parse::<u64>().is_ok_and(|kb| kb > 0);
            }
            continue;
        }
        if let Some(key) = line.strip_prefix("ProtectionKey:") {
            if let Some(vma) = vmas.last_mut() {
                vma.pkey = key.trim().parse().unwrap_or(0);
            }
            continue;
        }
        // Other field lines (`Size:   8 kB`) have a colon right after their first word.
        if line
            .split_ascii_whitespace()
            .next()
            .is_some_and(|w| w.ends_with(':'))
        {
            continue;
        }
        if let Some(vma) = parse_maps_line(line) {
            let in_order = vmas.last().is_none_or(|prev| prev.end <= vma.start);
            if vma.start < vma.end && in_order {
                vmas.push(vma);
            }
        }
    }
    vmas
}

impl<'a> RawVma<'a> {
    /// The VMA a `PROCMAP_QUERY` answer shows (what its maps line shows; no flags).
    pub(crate) fn from_query(vma: &'a MapsVma) -> RawVma<'a> {
        RawVma {
            start: vma.start,
            end: vma.end,
            perms: [vma.read, vma.write, vma.exec, vma.shared],
            offset: vma.offset,
            key: FileKey {
                major: vma.dev_major,
                minor: vma.dev_minor,
                inode: vma.inode,
            },
            path: &vma.name,
            flags: Vec::new(),
            anon_pages: false,
            pkey: 0,
        }
    }

    /// What a `PROCMAP_QUERY` of this VMA answers (for made-up processes in tests).
    #[cfg(test)]
    pub(crate) fn to_query(&self) -> MapsVma {
        let [read, write, exec, shared] = self.perms;
        MapsVma {
            start: self.start,
            end: self.end,
            read,
            write,
            exec,
            shared,
            offset: self.offset,
            dev_major: self.key.major,
            dev_minor: self.key.minor,
            inode: self.key.inode,
            name: self.path.to_owned(),
        }
    }
    /// What the VMA maps: a bracketed kernel name (`[heap]`, `[anon:NAME]`,
    /// `[anon_shmem:NAME]`) is [`Backing::Named`]; anything else with a device or an inode is a
    /// file (memfd, `/dev/zero (deleted)` for shared anonymous memory, deleted files, anon
    /// inodes such as `anon_inode:[io_uring]`); the rest is anonymous.
    pub(crate) fn backing(&self, files: &mut FileTable, records: &mut Vec<Record>) -> Backing {
        match self.kind() {
            RawBacking::Named(name) => Backing::Named(name.to_owned()),
            RawBacking::File => Backing::File(files.id(self.key, self.path, records)),
            RawBacking::Anon => Backing::Anon,
        }
    }

    /// Whether this maps line shows `vma`: same range, permissions, offset and backing (a file
    /// without an id yet is a new file). Flags are not compared: maps lines have none.
    pub(crate) fn looks_like(&self, vma: &SnapshotVma, files: &FileTable) -> bool {
        let [read, write, exec, shared] = self.perms;
        let plain = (self.start, self.end, read, write, exec, shared, self.offset)
            == (
                vma.start, vma.end, vma.read, vma.write, vma.exec, vma.shared, vma.offset,
            );
        plain
            && match self.kind() {
                RawBacking::Named(name) => matches!(&vma.backing, Backing::Named(n) if n == name),
                RawBacking::File => {
                    matches!(vma.backing, Backing::File(id) if files.known(self.key) == Some(id))
                }
                RawBacking::Anon => vma.backing == Backing::Anon,
            }
    }

    /// What kind of backing the path and identity show.
    fn kind(&self) -> RawBacking<'_> {
        let path = self.path;
        if path.len() >= 2 && path.starts_with('[') && path.ends_with(']') {
            RawBacking::Named(&path[1..path.len() - 1])
        } else if self.key.inode != 0 || self.key.major != 0 || self.key.minor != 0 {
            RawBacking::File
        } else if path.is_empty() {
            RawBacking::Anon
        } else {
            RawBacking::Named(base_name(path))
        }
    }

    /// The snapshot VMA, giving file ids (and pushing `f` records for new ones).
    pub(crate) fn to_snapshot(
        &self,
        files: &mut FileTable,
        records: &mut Vec<Record>,
    ) -> SnapshotVma {
        let [read, write, exec, shared] = self.perms;
        SnapshotVma {
            start: self.start,
            end: self.end,
            read,
            write,
            exec,
            shared,
            offset: self.offset,
            backing: self.backing(files, records),
            flags: self.flags.clone(),
            anon_pages: self.anon_pages,
            pkey: self.pkey,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5546aa205000-5546aa207000 r--p 00000000 fe:00 247282                     /usr/bin/head
Size:                  8 kB
KernelPageSize:        4 kB
Anonymous:             0 kB
THPeligible:           0
ProtectionKey:         0
VmFlags: rd mr mw me 
55589d552000-55589d573000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
Anonymous:            12 kB
VmFlags: rd wr mr mw me ac 
7f36e9f54000-7f36e9f76000 rw-p 00000000 00:00 0 
VmFlags: rd wr mr mw me ac 
7f36e9f76000-7f36e9f78000 rw-s 00000000 00:01 1030                       /dev/zero (deleted)
VmFlags: rd wr sh mr mw me ms 
7f36e9f78000-7f36e9f79000 rw-p 00000000 00:00 0                          [anon:glibc malloc]
VmFlags: rd wr mr mw me ac 
7f36e9f79000-7f36e9f7b000 r-xp 00002000 fe:00 247282                     /usr/bin/head
ProtectionKey:         3
VmFlags: rd ex mr mw me 
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
VmFlags: ex 
";

    /// Every kind of maps line becomes the right snapshot VMA, and a file keeps one id.
    #[test]
    fn smaps_text_becomes_snapshot_vmas() {
        let raw = parse_smaps(SMAPS);
        assert_eq!(raw.len(), 7);
        let mut files = FileTable::default();
        let mut records = Vec::new();
        let vmas: Vec<SnapshotVma> = raw
            .iter()
            .map(|v| v.to_snapshot(&mut files, &mut records))
            .collect();
        let lines: Vec<String> = vmas.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "v 5546aa205000 5546aa207000 r--p 0 f1 rd,mr,mw,me",
                "v 55589d552000 55589d573000 rw-p 0 [heap] rd,wr,mr,mw,me,ac A",
                "v 7f36e9f54000 7f36e9f76000 rw-p 0 - rd,wr,mr,mw,me,ac",
                "v 7f36e9f76000 7f36e9f78000 rw-s 0 f2 rd,wr,sh,mr,mw,me,ms",
                "v 7f36e9f78000 7f36e9f79000 rw-p 0 [anon:glibc%20malloc] rd,wr,mr,mw,me,ac",
                "v 7f36e9f79000 7f36e9f7b000 r-xp 2000 f1 rd,ex,mr,mw,me pkey3",
                "v ffffffffff600000 ffffffffff601000 --xp 0 [vsyscall] ex",
            ]
        );
        let names: Vec<String> = records.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["f f1 head", "f f2 zero%20(deleted)"]);
        assert_eq!(files.len(), 2);
        assert_eq!(
            pkey_count(SMAPS),
            16,
            "ProtectionKey lines: a machine with keys"
        );
        assert_eq!(
            pkey_count("1000-2000 r--p 00000000 00:00 0\nVmFlags: rd\n"),
            0
        );
    }

    /// Plain maps text (no VmFlags) parses too, and out-of-order lines are dropped.
    #[test]
    fn maps_text_and_disorder() {
        let text = "1000-2000 r--p 00000000 00:00 0\n\
                    3000-4000 rw-p 00000000 00:00 0 \n\
                    3800-5000 rw-p 00000000 00:00 0 \n\
                    garbage line\n\
                    6000-6000 rw-p 00000000 00:00 0 \n";
        let raw = parse_smaps(text);
        assert_eq!(
            raw.iter().map(|v| v.start).collect::<Vec<_>>(),
            [0x1000, 0x3000]
        );
        assert!(raw.iter().all(|v| v.flags.is_empty()));
    }

    /// `stat`'s device number decodes to the major and minor numbers maps prints.
    #[test]
    fn stat_device_numbers_decode() {
        assert_eq!(
            FileKey::from_stat(0xfe00, 7),
            FileKey {
                major: 0xfe,
                minor: 0,
                inode: 7
            }
        );
        // Large numbers use the split encoding: major 0x123, minor 0x45678.
        let dev = (0x123 << 8) | 0x78 | (0x456 << 12 << 8);
        let key = FileKey::from_stat(dev, 1);
        assert_eq!((key.major, key.minor), (0x123, 0x45678));
    }

    /// Base names drop every directory.
    #[test]
    fn base_names() {
        assert_eq!(base_name("/usr/lib/libc.so.6"), "libc.so.6");
        assert_eq!(base_name("cc1"), "cc1");
        assert_eq!(base_name("/memfd:jit (deleted)"), "memfd:jit (deleted)");
        assert_eq!(base_name("dir/"), "");
    }
}
