//! Recorded VMA activity of real programs, with the kernel's layout after each step.
//!
//! A trace records what programs did to their address spaces (every `mmap`, `munmap`,
//! `mprotect`, `madvise`, `mlock`, `brk`, `mremap`, fork, exec and exit, with arguments and
//! results, failures included) and, after exec and after every operation that changed the
//! layout, a snapshot of the kernel's VMAs for that address space. Replaying a trace through
//! [`maple_mm`] and comparing with each snapshot proves, step by step, that the model does what
//! Linux did.
//!
//! This crate holds:
//! - the format ([`mod@format`]), its parser ([`parse()`], and [`parse::Reader`], which reads
//!   one record at a time, both with `line N: reason` errors for any malformed input) and
//!   compressed files ([`io`]);
//! - the ptrace recorder behind `maple capture` ([`capture`]), which follows forks, vforks,
//!   threads and execs and reads the kernel's VMAs after every call that changed a layout (the
//!   ones around the call with `PROCMAP_QUERY`, the whole `/proc/TID/smaps` now and then);
//! - the importer of `strace -f` logs behind `maple import-strace` ([`strace`]);
//! - the replay behind `maple replay` and `maple dump` ([`replay`]), which runs each address
//!   space through [`maple_mm`], compares it with every snapshot, and explains, counts or
//!   reports every difference.
//!
//! ```
//! use maple_trace::replay::{replay, ReplayOptions};
//!
//! let text = "#mapletrace 2\nN 1 t1 demo\n\
//!     S 1 1\nv 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
//!     m 1 t1 0 3000 rw- pa - 0 7f0000000000\n\
//!     S 1 2\nv 7f0000000000 7f0000003000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
//!     v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
//!     p 1 t1 7f0000001000 1000 r-- 0\n\
//!     S 1 4\nv 7f0000000000 7f0000001000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
//!     v 7f0000001000 7f0000002000 r--p 0 - rd,mr,mw,me,ac\n\
//!     v 7f0000002000 7f0000003000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
//!     v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
//!     X 1\n";
//! let trace = maple_trace::parse(text.as_bytes())?;
//! let options = ReplayOptions { check: true, ..Default::default() };
//! let report = replay(&trace, &options, &mut |_, _| {})?;
//! // exec, mmap, mprotect (which split the mapping in three) and exit all match Linux.
//! assert_eq!((report.steps, report.steps_matching), (4, 4));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The format
//!
//! Text, one record per line, fields separated by spaces. Addresses, lengths, offsets and
//! results are lowercase hex without `0x`; address-space ids and counts are decimal. Traces are
//! stored compressed with zstd (xz and plain text are read too).
//!
//! The first line is `#mapletrace 2` (format 1, which has no `D` and `E` records, is read
//! too). Header lines follow: `#name NAME`, `#kernel RELEASE`
//! (from `uname -r`), `#arch MACHINE` (from `uname -m`), `#source HOW`, `#pkeys N` (the memory
//! protection keys of the capturing machine: 16 on x86-64 with PKU, 0 without; a trace without
//! the line replays as from a machine without keys). Any other line starting with `#` is a
//! comment. Names are percent-escaped (`%20` for a space).
//!
//! Nothing from the capturing machine's file system appears: files become ids `f<n>` (one per
//! device and inode), threads `t<n>` and address spaces small numbers, all in order of first
//! appearance. An `f` line may give a file id's name without its directory.
//!
//! | Record | Fields | Meaning |
//! |---|---|---|
//! | `N` | `as thr prog` | a new address space made by exec (or the first program); a snapshot of the layout exec built follows |
//! | `F` | `as parent thr [racing]` | fork: `as` is a copy of `parent`; `racing` when other threads of `parent` were inside memory calls at the fork (the copy may hold effects of calls recorded after this line) |
//! | `X` | `as` | the last task using `as` exited or exec'd |
//! | `m` | `as thr addr len prot flags file off ret [z<size>]` | `mmap`: `addr` the hint (0 for NULL), `prot` as `rwx` with `-`, `flags` letters below, `file` `f<n>` (the descriptor's file, also when the call failed) or `-` (anonymous, or a bad descriptor), followed by `:r`, `:w` or `:rw` when the descriptor's open mode is known (a shared mapping of a read-only descriptor loses `VM_SHARED` and `VM_MAYWRITE`), `off` in bytes, `ret` the address, `z<size>` the regular file's size in bytes at the call (pages wholly beyond it cannot be faulted in) |
//! | `u` | `as thr addr len ret` | `munmap` |
//! | `p` | `as thr addr len prot ret [k<key>]` | `mprotect`, or `pkey_mprotect` with its key (decimal, -1 written 4294967295); `prot` may end in `G` or `U` (PROT_GROWSDOWN/UP) |
//! | `b` | `as thr req ret` | `brk`: `req` 0 is `brk(NULL)`; `ret` is the break afterwards |
//! | `r` | `as thr old oldlen newlen flags newaddr ret` | `mremap`: flags `M` maymove, `F` fixed, `D` dontunmap, `0` none; `newaddr` 0 when absent |
//! | `a` | `as thr addr len advice ret` | `madvise`, advice without `MADV_` (`DONTFORK`) |
//! | `o` | `as thr name args... ret` | other calls: `mlock addr len`, `mlock2 addr len flags`, `munlock addr len`, `mlockall flags`, `munlockall`, `mseal addr len flags`, `mbind addr len mode`, `remap_file_pages addr size prot pgoff flags`, `shmat id addr flags`, `shmdt addr`, `map_shadow_stack addr size flags`, `set_vma_name addr len set`, `set_mempolicy_home_node addr len node flags`, `process_madvise advice`, `pkey_alloc flags rights` (returning the key), `pkey_free key` |
//! | `S` | `as n` | a snapshot: the kernel's layout of `as` after every record above; `n` `v` lines follow |
//! | `D` | `as n` | a snapshot of changes: the layout of `as` is its last one (`S` or `D`) with `n` windows replaced; `n` windows follow |
//! | `w` | `start end n` | one window of a `D`: in `[start, end)` the layout holds exactly the `n` `v` lines that follow; no VMA of the layout before or after crosses `start` or `end` |
//! | `v` | `start end perms off file [flags] [A] [pkey<n>]` | one VMA of a snapshot: `[start, end)`, `perms` as in `/proc/PID/maps` (`r-xp`), `file` `f<n>`, `-` or a bracketed kernel name (`[heap]`, `[stack]`, `[vdso]`, `[anon:NAME]`), `flags` the `VmFlags` of `/proc/PID/smaps` joined by commas, `A` when smaps showed anonymous pages in it (so it has an anon_vma), `pkey<n>` its protection key when not 0 |
//! | `f` | `f<n> name` | the name of a file id |
//! | `E` | `cut-short` | the capture was stopped before the program ended (a second interrupt): the records end here |
//!
//! Results are hex, or `!` and the error name (`!ENOMEM`). `mmap` flag letters: `p` private,
//! `s` shared, `v` shared-validate, `Z` droppable, `a` anonymous, `F` fixed, `R`
//! fixed-noreplace, `D` denywrite, `E` executable, `N` noreserve, `G` growsdown, `L` locked,
//! `P` populate, `B` nonblock, `K` stack, `H` hugetlb, `3` 32-bit, `Y` sync, `U`
//! uninitialized; bits without a letter follow as `+<hex>`.
//!
//! ```text
//! #mapletrace 2
//! #kernel 6.18.44
//! N 1 t1 true
//! S 1 3
//! v 5581a3e00000 5581a3e02000 r--p 0 f1 rd,mr,mw,me,dw
//! v 7ffc1e2a1000 7ffc1e2c2000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac
//! v 7ffc1e3d4000 7ffc1e3d6000 r-xp 0 [vdso] rd,ex,mr,mw,me,de
//! b 1 t1 0 558
//! m 1 t1 0 2000 rw- pa - 0 7f0437ce4000
//! D 1 1
//! w 7f0437ce4000 7f0437ce6000 1
//! v 7f0437ce4000 7f0437ce6000 rw-p 0 - rd,wr,mr,mw,me,ac
//! ...
//! X 1
//! ```
#![forbid(unsafe_code)]

pub mod capture;
pub mod format;
pub mod fuzz;
pub mod io;
pub mod parse;
pub mod replay;
pub mod strace;

pub use format::{Record, Trace};
pub use parse::{ParseError, parse};
