//! One VMA of a Linux process by address, without reading `/proc/PID/maps`.
//!
//! Linux 6.11 added the `PROCMAP_QUERY` ioctl on an open `/proc/PID/maps` file: given an
//! address, the kernel returns the VMA that covers it (or the next one), with what a maps
//! line shows of it: range, permissions, offset, device, inode and name. A lookup costs a walk
//! of the process's VMA tree, not a formatting of every VMA, so a tool that follows a process
//! (the `maple capture` recorder) can look at the few VMAs a system call touched in time that
//! does not grow with the address space. Older kernels answer `ENOTTY`, reported as
//! [`QueryError::Unsupported`]: read `/proc/PID/maps` instead.
//!
//! The file stands for the address space it was opened on: after the process execs, open it
//! again. Reading another process's maps needs the same permission as reading the file
//! (`PTRACE_MODE_READ`, which a tracer has).
//!
//! This crate holds the workspace's only `unsafe` outside `maple-tree`'s node layer: the one
//! `ioctl` call, whose argument is a `#[repr(C)]` copy of the kernel's `struct procmap_query`
//! and a name buffer that outlives the call.
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! use maple_procmap::{Maps, QueryError};
//!
//! let maps = Maps::open(std::process::id() as i32).unwrap();
//! let here = &maps as *const Maps as u64; // an address on this thread's stack
//! match maps.query(here) {
//!     Ok(Some(vma)) => {
//!         assert!(vma.start <= here && here < vma.end);
//!         assert!(vma.read && vma.write);
//!     }
//!     Ok(None) => unreachable!("the stack is mapped"),
//!     Err(QueryError::Unsupported) => {} // a kernel before 6.11
//!     Err(e) => panic!("{e}"),
//! }
//! # }
//! ```

use std::fmt::{self, Display, Formatter};
use std::io;

/// A VMA as `PROCMAP_QUERY` shows it (what a line of `/proc/PID/maps` shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsVma {
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
    /// Shared (`s` in maps) rather than private.
    pub shared: bool,
    /// The file offset of `start`, in bytes (0 for anonymous memory).
    pub offset: u64,
    /// The device's major number (0 for anonymous memory).
    pub dev_major: u32,
    /// The device's minor number.
    pub dev_minor: u32,
    /// The inode (0 for anonymous memory).
    pub inode: u64,
    /// The name maps shows: a path, `[heap]`, `[stack]`, `[vdso]`, `[anon:NAME]`...; empty
    /// for unnamed anonymous memory.
    pub name: String,
}

/// Why a query failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueryError {
    /// The kernel has no `PROCMAP_QUERY` (before Linux 6.11), or this is not Linux.
    Unsupported,
    /// The process or its memory is gone (`ESRCH`).
    Gone,
    /// Any other error of the call.
    Io(io::Error),
}

impl Display for QueryError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Unsupported => f.write_str("the kernel has no PROCMAP_QUERY (Linux 6.11+)"),
            QueryError::Gone => f.write_str("the process or its memory is gone"),
            QueryError::Io(e) => write!(f, "PROCMAP_QUERY failed: {e}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// An open `/proc/PID/maps`, for queries of the address space it was opened on.
#[derive(Debug)]
pub struct Maps {
    file: std::fs::File,
}

impl Maps {
    /// Opens `/proc/PID/maps` (`pid` may be any thread id of the process).
    ///
    /// # Errors
    /// What opening the file said (no such process, no permission).
    pub fn open(pid: i32) -> io::Result<Maps> {
        let file = std::fs::File::open(format!("/proc/{pid}/maps"))?;
        Ok(Maps { file })
    }

    /// The VMA that covers `addr`, or the first one above it; `None` when there is none.
    ///
    /// # Errors
    /// [`QueryError::Unsupported`] on kernels before 6.11 (and off Linux),
    /// [`QueryError::Gone`] when the address space is gone, [`QueryError::Io`] otherwise.
    pub fn query(&self, addr: u64) -> Result<Option<MapsVma>, QueryError> {
        sys::query(&self.file, addr)
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::os::fd::AsRawFd;

    use super::{MapsVma, QueryError};

    /// `_IOWR('f', 17, struct procmap_query)` (`include/uapi/linux/fs.h`).
    const PROCMAP_QUERY: libc::c_ulong = 0xC068_6611;
    /// Query flag: the VMA covering the address, or else the next one.
    const COVERING_OR_NEXT_VMA: u64 = 0x10;
    /// Result flags.
    const VMA_READABLE: u64 = 0x01;
    const VMA_WRITABLE: u64 = 0x02;
    const VMA_EXECUTABLE: u64 = 0x04;
    const VMA_SHARED: u64 = 0x08;
    /// Room for a path (`PATH_MAX`) and its NUL.
    const NAME_ROOM: usize = 4097;

    /// The kernel's `struct procmap_query` (Linux 6.11 layout, 104 bytes).
    #[repr(C)]
    #[derive(Default)]
    struct ProcmapQuery {
        size: u64,
        query_flags: u64,
        query_addr: u64,
        vma_start: u64,
        vma_end: u64,
        vma_flags: u64,
        vma_page_size: u64,
        vma_offset: u64,
        inode: u64,
        dev_major: u32,
        dev_minor: u32,
        vma_name_size: u32,
        build_id_size: u32,
        vma_name_addr: u64,
        build_id_addr: u64,
    }

    const _: () = assert!(std::mem::size_of::<ProcmapQuery>() == 104);

    pub(super) fn query(file: &std::fs::File, addr: u64) -> Result<Option<MapsVma>, QueryError> {
        let mut name = vec![0u8; NAME_ROOM];
        let mut arg = ProcmapQuery {
            size: std::mem::size_of::<ProcmapQuery>() as u64,
            query_flags: COVERING_OR_NEXT_VMA,
            query_addr: addr,
            vma_name_size: NAME_ROOM as u32,
            vma_name_addr: name.as_mut_ptr() as u64,
            ..ProcmapQuery::default()
        };
        // SAFETY: `file` is an open descriptor for the whole call. PROCMAP_QUERY reads and
        // writes exactly one `struct procmap_query`, whose layout `ProcmapQuery` repeats
        // (`#[repr(C)]`, size checked above, `size` set so the kernel checks it too), through
        // the pointer to `arg`, which lives until the call returns. The kernel writes at most
        // `vma_name_size` bytes to `vma_name_addr`, which points to `name`'s buffer of that
        // many bytes, alive and not otherwise borrowed until after the call; `build_id_size`
        // is 0, so `build_id_addr` (null) is not used.
        let ret = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                PROCMAP_QUERY,
                std::ptr::from_mut(&mut arg),
            )
        };
        if ret < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOENT) => Ok(None),
                Some(libc::ENOTTY | libc::EINVAL) => Err(QueryError::Unsupported),
                Some(libc::ESRCH) => Err(QueryError::Gone),
                _ => Err(QueryError::Io(e)),
            };
        }
        // The kernel gives the name's length with its NUL, or 0 for none.
        let len = (arg.vma_name_size as usize).min(NAME_ROOM);
        let name = name[..len.saturating_sub(1)].to_vec();
        Ok(Some(MapsVma {
            start: arg.vma_start,
            end: arg.vma_end,
            read: arg.vma_flags & VMA_READABLE != 0,
            write: arg.vma_flags & VMA_WRITABLE != 0,
            exec: arg.vma_flags & VMA_EXECUTABLE != 0,
            shared: arg.vma_flags & VMA_SHARED != 0,
            offset: arg.vma_offset,
            dev_major: arg.dev_major,
            dev_minor: arg.dev_minor,
            inode: arg.inode,
            name: String::from_utf8_lossy(&name).into_owned(),
        }))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::{MapsVma, QueryError};

    pub(super) fn query(_file: &std::fs::File, _addr: u64) -> Result<Option<MapsVma>, QueryError> {
        Err(QueryError::Unsupported)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Walking this process's VMAs with queries gives exactly the lines of its maps file.
    #[test]
    fn queries_walk_the_maps_file() {
        let pid = std::process::id() as i32;
        let maps = Maps::open(pid).unwrap();
        // Read the text first: the walk below allocates nothing that maps a new VMA.
        let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        let mut walked = Vec::new();
        let mut at = 0;
        loop {
            match maps.query(at) {
                Ok(Some(vma)) => {
                    at = vma.end;
                    walked.push(vma);
                }
                Ok(None) => break,
                Err(QueryError::Unsupported) => {
                    eprintln!("skipping: the kernel has no PROCMAP_QUERY");
                    return;
                }
                Err(e) => panic!("{e}"),
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        // The walk and the text were taken at different moments: the test's own threads may
        // map memory between them, so compare the VMAs both show.
        let mut same = 0;
        for vma in &walked {
            let head = format!("{:x}-{:x} ", vma.start, vma.end);
            let Some(line) = lines.iter().find(|l| l.starts_with(&head)) else {
                continue;
            };
            let perms = format!(
                "{}{}{}{}",
                if vma.read { 'r' } else { '-' },
                if vma.write { 'w' } else { '-' },
                if vma.exec { 'x' } else { '-' },
                if vma.shared { 's' } else { 'p' }
            );
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields[1], perms, "{line}");
            assert_eq!(
                u64::from_str_radix(fields[2], 16).unwrap(),
                vma.offset,
                "{line}"
            );
            assert_eq!(
                fields[3],
                format!("{:02x}:{:02x}", vma.dev_major, vma.dev_minor),
                "{line}"
            );
            assert_eq!(fields[4].parse::<u64>().unwrap(), vma.inode, "{line}");
            assert_eq!(
                fields.get(5..).map(|f| f.join(" ")).unwrap_or_default(),
                vma.name,
                "{line}"
            );
            same += 1;
        }
        assert!(
            same * 10 >= lines.len() * 9,
            "{same} of {} lines",
            lines.len()
        );
        assert!(walked.iter().any(|v| v.name == "[stack]"));
    }

    /// Above the last VMA there is nothing; a closed address space is an error.
    #[test]
    fn past_the_end_is_none() {
        let maps = Maps::open(std::process::id() as i32).unwrap();
        match maps.query(u64::MAX - 4096) {
            Ok(found) => assert_eq!(found, None),
            Err(QueryError::Unsupported) => {}
            Err(e) => panic!("{e}"),
        }
    }
}
