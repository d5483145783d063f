//! Differential testing against the running kernel: seeded random programs of memory calls,
//! captured and replayed with checks (`maple fuzz`).
//!
//! [`Program::generate`] makes, from a seed, a C program of random memory system calls
//! (`mmap` at fixed addresses, hints or anywhere, of anonymous memory and of a scratch file
//! open read-write and read-only; `munmap`, `mprotect`, every `mremap` form, every `madvise`
//! advice but the memory-failure ones, the `mlock` family, `brk`), page faults (reads and
//! writes, with `SIGSEGV` and `SIGBUS` caught, so faulting on inaccessible memory is harmless)
//! and forks (the child makes calls of its own, then exits). Every address a call names lies
//! in a window of the program's own, so no call touches the runtime's mappings; mappings the
//! kernel places itself may land elsewhere and are left alone after.
//!
//! [`run`] compiles the program with `cc`, runs it under the [capture](crate::capture) and
//! replays the trace through maple-mm with checks. A divergence is classified by its first
//! instance ([`class_of`]: the call and what differed), and [`shrink`] reduces the program to
//! a minimal one that still diverges that way (delta debugging), to be printed as C and as a
//! trace.
//!
//! ```no_run
//! use maple_trace::fuzz::{FuzzOptions, Program, class_of, run};
//!
//! let program = Program::generate(7, &FuzzOptions::default());
//! let dir = std::env::temp_dir();
//! let outcome = run(&program, &dir)?;
//! match class_of(&outcome.report) {
//!     None => println!("seed 7: every step matched"),
//!     Some(class) => println!("seed 7 diverged: {class}\n{}", program.to_c()),
//! }
//! # Ok::<(), maple_trace::fuzz::FuzzError>(())
//! ```

use std::fmt::{self, Display, Formatter, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::capture::{Capture, CaptureError};
use crate::format::Trace;
use crate::replay::{ReplayError, ReplayOptions, Report, replay};

const PAGE: u64 = 4096;

/// What a generated program may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzOptions {
    /// Calls in the program (page faults and forks included; a fork's child makes some more).
    pub calls: usize,
    /// Whether the program forks (the child makes calls of its own).
    pub forks: bool,
    /// Whether the program reads and writes its memory (page faults).
    pub faults: bool,
    /// Pages of the window the calls' addresses lie in.
    pub window_pages: u64,
}

impl Default for FuzzOptions {
    /// 400 calls with forks and faults, in a window of 96 pages.
    fn default() -> Self {
        FuzzOptions {
            calls: 400,
            forks: true,
            faults: true,
            window_pages: 96,
        }
    }
}

/// SplitMix64: a small generator whose output is the same on every machine.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` in 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One argument of a system call in a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A number.
    Value(u64),
    /// An address in the window: its start plus this many bytes.
    Window(u64),
    /// An address relative to the program break at the start (`sbrk(0)`), in bytes.
    Break(i64),
    /// The scratch file's descriptor, open for reading and writing.
    File,
    /// The scratch file's descriptor, open read-only.
    FileReadOnly,
}

impl Display for Arg {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Value(v) => write!(f, "{:#x}L", v),
            Arg::Window(offset) => write!(f, "(long)(w + {offset:#x})"),
            Arg::Break(offset) => write!(f, "(long)(b + {offset})"),
            Arg::File => f.write_str("(long)fd"),
            Arg::FileReadOnly => f.write_str("(long)ro"),
        }
    }
}

/// One step of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `syscall(SYS_<name>, args...)`.
    Syscall {
        /// The system call's name.
        name: &'static str,
        /// Its arguments.
        args: Vec<Arg>,
    },
    /// A read or write of one byte at this offset of the window (a page fault, if the page is
    /// not there yet; `SIGSEGV` and `SIGBUS` are caught).
    Touch {
        /// Bytes from the window's start.
        offset: u64,
        /// A write rather than a read.
        write: bool,
    },
    /// `fork()`: the child makes these calls, then exits; the parent waits for it.
    Fork {
        /// The child's calls.
        child: Vec<Call>,
    },
}

impl Call {
    /// Calls in this one, itself included (a fork counts its child's calls).
    fn count(&self) -> usize {
        match self {
            Call::Fork { child } => 1 + child.iter().map(Call::count).sum::<usize>(),
            _ => 1,
        }
    }

    fn write_c(&self, out: &mut String, indent: &str) {
        match self {
            Call::Syscall { name, args } => {
                let _ = write!(out, "{indent}syscall(SYS_{name}");
                for arg in args {
                    let _ = write!(out, ", {arg}");
                }
                out.push_str(");\n");
            }
            Call::Touch { offset, write } => {
                let _ = writeln!(out, "{indent}touch(w + {offset:#x}, {});", u8::from(*write));
            }
            Call::Fork { child } => {
                let _ = writeln!(out, "{indent}if ((pid = fork()) == 0) {{");
                let inner = format!("{indent}  ");
                for call in child {
                    call.write_c(out, &inner);
                }
                let _ = writeln!(out, "{inner}_exit(0);");
                let _ = writeln!(out, "{indent}}}");
                let _ = writeln!(out, "{indent}waitpid(pid, 0, 0);");
            }
        }
    }
}

/// A generated program: its calls, and the window and file they work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The seed it was made from.
    pub seed: u64,
    /// Pages of the window.
    pub window_pages: u64,
    /// Bytes of the scratch file (not always a whole number of pages).
    pub file_size: u64,
    /// The calls, in order.
    pub calls: Vec<Call>,
}

/// `madvise` advices the programs use: every one but `MADV_HWPOISON` and
/// `MADV_SOFT_OFFLINE`, which would damage the machine's memory when run as root.
const ADVICES: &[u64] = &[
    0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 102, 103,
];

/// Protections: none, read, read-write, read-execute, execute, all.
const PROTS: &[u64] = &[0, 1, 3, 5, 4, 7];

impl Program {
    /// The program of `seed`: the same for the same seed and options on every machine.
    ///
    /// ```
    /// use maple_trace::fuzz::{FuzzOptions, Program};
    /// let options = FuzzOptions { calls: 50, ..FuzzOptions::default() };
    /// let a = Program::generate(3, &options);
    /// assert_eq!(a, Program::generate(3, &options));
    /// assert!(a.len() >= 50);
    /// assert!(a.to_c().contains("int main"));
    /// ```
    pub fn generate(seed: u64, options: &FuzzOptions) -> Program {
        let mut rng = Rng(seed);
        let window_pages = options.window_pages.max(8);
        let file_pages = 8 + rng.below(24);
        let file_size = file_pages * PAGE - rng.pick(&[0, 1, 100, PAGE - 1]);
        let mut g = Generator {
            rng,
            window_pages,
            file_pages,
            options: options.clone(),
        };
        // Most calls should meet memory: the program starts by mapping its whole window.
        let mut calls = vec![Generator::syscall(
            "mmap",
            vec![
                Arg::Window(0),
                Arg::Value(window_pages * PAGE),
                Arg::Value(3),
                Arg::Value(0x32),
                Arg::Value(u64::MAX),
                Arg::Value(0),
            ],
        )];
        let mut made = 1;
        while made < options.calls {
            let call = if options.forks && g.rng.chance(1) {
                let n = 4 + g.rng.below(12) as usize;
                Call::Fork {
                    child: (0..n).map(|_| g.call()).collect(),
                }
            } else {
                g.call()
            };
            made += call.count();
            calls.push(call);
        }
        Program {
            seed,
            window_pages,
            file_size,
            calls,
        }
    }

    /// Calls in the program, forks' children included.
    pub fn len(&self) -> usize {
        self.calls.iter().map(Call::count).sum()
    }

    /// Whether the program makes no call.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The program as C: it opens the scratch file its first argument names (read-write and
    /// read-only), sizes it, reserves its window, catches `SIGSEGV` and `SIGBUS`, then makes
    /// its calls through `syscall()` (so no C library wrapper checks or changes an argument).
    pub fn to_c(&self) -> String {
        let mut out = format!(
            "/* maple fuzz, seed {}: {} calls. Build: cc -O1 -w -o prog prog.c; run: ./prog SCRATCH_FILE */\n",
            self.seed,
            self.len()
        );
        out.push_str(C_PRELUDE);
        let _ = writeln!(
            out,
            "  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);\n  \
             if (fd < 0 || ftruncate(fd, {:#x}) != 0) return 2;\n  \
             int ro = open(argv[1], O_RDONLY);\n  \
             long n = {} * 4096L;\n  \
             char *w = mmap(0, n + 2 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);\n  \
             if (w == MAP_FAILED) return 2;\n  \
             munmap(w, n + 2 * 4096);\n  \
             w += 4096;\n  \
             char *b = sbrk(0);\n  \
             pid_t pid;\n  \
             (void)b; (void)ro; (void)pid;",
            self.file_size, self.window_pages
        );
        for call in &self.calls {
            call.write_c(&mut out, "  ");
        }
        out.push_str("  return 0;\n}\n");
        out
    }
}

/// The start of every program: includes, the fault catcher and `touch`.
const C_PRELUDE: &str = r"#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf env;
static void caught(int sig) { (void)sig; siglongjmp(env, 1); }
/* A read or write of one byte: a page fault, survived if the memory is not there. */
static void touch(char *p, int write) {
  if (sigsetjmp(env, 1) == 0) {
    if (write) *(volatile char *)p = 1; else (void)*(volatile char *)p;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  struct sigaction sa = {0};
  sa.sa_handler = caught;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGBUS, &sa, 0);
";

/// Random calls, from a seed.
struct Generator {
    rng: Rng,
    window_pages: u64,
    file_pages: u64,
    options: FuzzOptions,
}

impl Generator {
    /// An offset in the window: mostly page aligned.
    fn addr(&mut self) -> u64 {
        let page = self.rng.below(self.window_pages);
        if self.rng.chance(3) {
            page * PAGE + 1 + self.rng.below(PAGE - 1)
        } else {
            page * PAGE
        }
    }

    /// A length for a range starting at window offset `at`, ending inside the window (so no
    /// call reaches the runtime's memory beyond it).
    fn len_at(&mut self, at: u64) -> u64 {
        let room = self.window_pages * PAGE - at;
        self.len().min(room)
    }

    /// A length: mostly a few pages, sometimes many, not a whole number of pages or 0.
    fn len(&mut self) -> u64 {
        let pages = if self.rng.chance(15) {
            1 + self.rng.below(self.window_pages / 2)
        } else {
            1 + self.rng.below(4)
        };
        match self.rng.below(40) {
            0 => 0,
            1 => pages * PAGE - 1 - self.rng.below(PAGE - 1),
            _ => pages * PAGE,
        }
    }

    fn syscall(name: &'static str, args: Vec<Arg>) -> Call {
        Call::Syscall { name, args }
    }

    /// One call (never a fork).
    fn call(&mut self) -> Call {
        let weights: &[(u64, u8)] = &[
            (20, b'm'),
            (11, b'u'),
            (17, b'p'),
            (8, b'r'),
            (14, b'a'),
            (4, b'l'),
            (3, b'2'),
            (4, b'n'),
            (1, b'A'),
            (1, b'N'),
            (3, b'b'),
            (10, b't'),
        ];
        let total: u64 = weights.iter().map(|w| w.0).sum();
        let mut pick = self.rng.below(total);
        let mut kind = b'm';
        for &(weight, k) in weights {
            if pick < weight {
                kind = k;
                break;
            }
            pick -= weight;
        }
        match kind {
            b'u' => {
                let at = self.addr();
                Self::syscall("munmap", vec![Arg::Window(at), Arg::Value(self.len_at(at))])
            }
            b'p' => {
                let mut prot = self.rng.pick(PROTS);
                if self.rng.chance(3) {
                    prot |= 0x0100_0000; // PROT_GROWSDOWN
                }
                let at = self.addr();
                Self::syscall(
                    "mprotect",
                    vec![
                        Arg::Window(at),
                        Arg::Value(self.len_at(at)),
                        Arg::Value(prot),
                    ],
                )
            }
            b'r' => self.mremap(),
            b'a' => {
                let at = self.addr();
                Self::syscall(
                    "madvise",
                    vec![
                        Arg::Window(at),
                        Arg::Value(self.len_at(at)),
                        Arg::Value(self.rng.pick(ADVICES)),
                    ],
                )
            }
            b'l' => {
                let at = self.addr();
                Self::syscall("mlock", vec![Arg::Window(at), Arg::Value(self.len_at(at))])
            }
            b'2' => {
                let at = self.addr();
                Self::syscall(
                    "mlock2",
                    vec![
                        Arg::Window(at),
                        Arg::Value(self.len_at(at)),
                        Arg::Value(self.rng.below(2)),
                    ],
                )
            }
            b'n' => {
                let at = self.addr();
                Self::syscall(
                    "munlock",
                    vec![Arg::Window(at), Arg::Value(self.len_at(at))],
                )
            }
            b'A' => Self::syscall(
                "mlockall",
                vec![Arg::Value(self.rng.pick(&[1, 2, 3, 5, 7]))],
            ),
            b'N' => Self::syscall("munlockall", Vec::new()),
            b'b' => {
                let arg = if self.rng.chance(20) {
                    Arg::Value(0)
                } else {
                    let pages = self.rng.below(32) as i64;
                    Arg::Break(pages * PAGE as i64 + self.rng.pick(&[0, 1, 2048]))
                };
                Self::syscall("brk", vec![arg])
            }
            b't' if self.options.faults => Call::Touch {
                offset: self.rng.below(self.window_pages * PAGE),
                write: self.rng.chance(60),
            },
            _ => self.mmap(),
        }
    }

    fn mmap(&mut self) -> Call {
        const FIXED: u64 = 0x10;
        const NOREPLACE: u64 = 0x10_0000;
        let anonymous = self.rng.chance(75);
        let kind = self.rng.below(100);
        let mut flags = match kind {
            0..70 => 0x02,  // MAP_PRIVATE
            70..92 => 0x01, // MAP_SHARED
            92..96 => 0x08, // MAP_DROPPABLE
            _ => 0x03,      // MAP_SHARED_VALIDATE
        };
        if anonymous {
            flags |= 0x20;
        }
        let at = self.addr();
        let len = self.len_at(at);
        let addr = match self.rng.below(100) {
            0..55 => {
                flags |= FIXED;
                Arg::Window(at)
            }
            55..70 => {
                flags |= NOREPLACE;
                Arg::Window(at)
            }
            70..88 => Arg::Window(at),
            _ => Arg::Value(0),
        };
        for (percent, bit) in [
            (8, 0x8000),   // MAP_POPULATE
            (4, 0x2000),   // MAP_LOCKED
            (8, 0x4000),   // MAP_NORESERVE
            (4, 0x0100),   // MAP_GROWSDOWN
            (5, 0x2_0000), // MAP_STACK
        ] {
            if self.rng.chance(percent) {
                flags |= bit;
            }
        }
        let (fd, offset) = if anonymous {
            (Arg::Value(u64::MAX), 0)
        } else {
            let fd = if self.rng.chance(25) {
                Arg::FileReadOnly
            } else {
                Arg::File
            };
            let page = self.rng.below(self.file_pages + 4);
            let offset = if self.rng.chance(3) {
                page * PAGE + 100
            } else {
                page * PAGE
            };
            (fd, offset)
        };
        Self::syscall(
            "mmap",
            vec![
                addr,
                Arg::Value(len),
                Arg::Value(self.rng.pick(PROTS)),
                Arg::Value(flags),
                fd,
                Arg::Value(offset),
            ],
        )
    }

    fn mremap(&mut self) -> Call {
        const MAYMOVE: u64 = 1;
        const FIXED: u64 = 2;
        const DONTUNMAP: u64 = 4;
        let old = self.addr();
        let old_len = self.len_at(old);
        let target = self.addr();
        // Growth in place only takes free memory; a fixed target stays in the window.
        let (old_len, new_len, flags) = match self.rng.below(100) {
            0..20 => (old_len, self.len(), 0),
            20..50 => (old_len, self.len(), MAYMOVE),
            50..70 => (old_len, self.len_at(target), MAYMOVE | FIXED),
            70..80 => {
                let len = old_len.min(self.window_pages * PAGE - target);
                (len, len, MAYMOVE | FIXED | DONTUNMAP)
            }
            80..88 => (old_len, old_len, MAYMOVE | DONTUNMAP),
            // A duplicate of shared memory.
            _ => (0, self.len(), MAYMOVE),
        };
        Self::syscall(
            "mremap",
            vec![
                Arg::Window(old),
                Arg::Value(old_len),
                Arg::Value(new_len),
                Arg::Value(flags),
                Arg::Window(target),
            ],
        )
    }
}

/// Why a program could not be run and checked.
#[derive(Debug)]
#[non_exhaustive]
pub enum FuzzError {
    /// `cc` is not there (or would not compile the program: its message).
    Compiler(String),
    /// The capture failed (or is not allowed here).
    Capture(CaptureError),
    /// The program ended other than with status 0.
    Program(String),
    /// The replay could not go on.
    Replay(ReplayError),
    /// The scratch folder could not be written.
    Io(std::io::Error),
}

impl Display for FuzzError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            FuzzError::Compiler(why) => write!(f, "cannot compile the program with cc: {why}"),
            FuzzError::Capture(e) => write!(f, "{e}"),
            FuzzError::Program(status) => write!(f, "the program {status}"),
            FuzzError::Replay(e) => write!(f, "replay: {e}"),
            FuzzError::Io(e) => write!(f, "scratch folder: {e}"),
        }
    }
}

impl std::error::Error for FuzzError {}

/// A program's trace and the replay's report.
#[derive(Debug)]
pub struct Outcome {
    /// The capture.
    pub trace: Trace,
    /// The replay with checks.
    pub report: Report,
}

/// Compiles `program` in `dir` with `cc`, runs it under the capture (with a scratch file in
/// `dir`) and replays the trace with checks.
///
/// # Errors
/// [`FuzzError`] when any of these steps fails; a divergence is no error (see the report).
pub fn run(program: &Program, dir: &Path) -> Result<Outcome, FuzzError> {
    std::fs::create_dir_all(dir).map_err(FuzzError::Io)?;
    let source = dir.join("prog.c");
    let binary = dir.join("prog");
    std::fs::write(&source, program.to_c()).map_err(FuzzError::Io)?;
    let built = Command::new("cc")
        .args(["-O1", "-w", "-o"])
        .arg(&binary)
        .arg(&source)
        .stdout(Stdio::null())
        .output()
        .map_err(|e| FuzzError::Compiler(e.to_string()))?;
    if !built.status.success() {
        let why = String::from_utf8_lossy(&built.stderr);
        return Err(FuzzError::Compiler(
            why.lines().next().unwrap_or("failed").to_owned(),
        ));
    }
    let outcome = Capture::new(&binary, [dir.join("scratch")])
        .name(format!("fuzz-{}", program.seed))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .run(|_| {})
        .map_err(FuzzError::Capture)?;
    if !outcome.status.success() {
        return Err(FuzzError::Program(outcome.status.to_string()));
    }
    let options = ReplayOptions {
        check: true,
        ..ReplayOptions::default()
    };
    let report = replay(&outcome.trace, &options, &mut |_, _| {}).map_err(FuzzError::Replay)?;
    Ok(Outcome {
        trace: outcome.trace,
        report,
    })
}

/// The class of a replay's divergence: the call of its first divergence and what differed
/// (`mprotect: missed-merge`); `None` when every checked step matched.
pub fn class_of(report: &Report) -> Option<String> {
    if report.steps_wrong() == 0 {
        return None;
    }
    let first = report.first_divergence.as_ref()?;
    Some(format!("{}: {}", op_name(&first.op), first.kind.name()))
}

/// The call a trace line records (`mmap`, `mlock` ...).
fn op_name(line: &str) -> &str {
    let mut words = line.split_ascii_whitespace();
    match words.next() {
        Some("m") => "mmap",
        Some("u") => "munmap",
        Some("p") => "mprotect",
        Some("b") => "brk",
        Some("r") => "mremap",
        Some("a") => "madvise",
        Some("o") => words.nth(2).unwrap_or("other"),
        Some("N") => "exec",
        Some("F") => "fork",
        Some("X") => "exit",
        _ => "?",
    }
}

/// Reduces `program` to a smaller one for which `still_fails` holds (it must hold for
/// `program`), by delta debugging: removes ever smaller chunks of calls while the failure
/// stays, first at the top level, then inside each fork's child.
///
/// ```
/// use maple_trace::fuzz::{FuzzOptions, Program, Call, shrink};
/// let program = Program::generate(1, &FuzzOptions { calls: 60, forks: false, ..FuzzOptions::default() });
/// let target = program.calls[17].clone();
/// let small = shrink(&program, |p| p.calls.contains(&target));
/// assert_eq!(small.calls, vec![target]);
/// ```
pub fn shrink(program: &Program, mut still_fails: impl FnMut(&Program) -> bool) -> Program {
    let mut best = program.clone();
    best.calls = ddmin(best.calls.clone(), |calls| {
        still_fails(&Program {
            calls: calls.to_vec(),
            ..best.clone()
        })
    });
    for i in 0..best.calls.len() {
        let Call::Fork { child } = &best.calls[i] else {
            continue;
        };
        let child = child.clone();
        let reduced = ddmin(child, |calls| {
            let mut candidate = best.clone();
            candidate.calls[i] = Call::Fork {
                child: calls.to_vec(),
            };
            still_fails(&candidate)
        });
        best.calls[i] = Call::Fork { child: reduced };
    }
    best
}

/// Delta debugging over a list: the removal of complements of ever finer chunks.
fn ddmin<T: Clone>(items: Vec<T>, mut test: impl FnMut(&[T]) -> bool) -> Vec<T> {
    let mut items = items;
    let mut n = 2usize;
    while items.len() >= 2 {
        let chunk = items.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..items.len()).step_by(chunk) {
            let mut rest = items[..start].to_vec();
            rest.extend_from_slice(&items[(start + chunk).min(items.len())..]);
            if test(&rest) {
                items = rest;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    if items.len() == 1 && test(&[]) {
        items.clear();
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator is deterministic and names only window addresses.
    #[test]
    fn programs_stay_in_their_window() {
        let options = FuzzOptions::default();
        let program = Program::generate(42, &options);
        assert_eq!(program, Program::generate(42, &options));
        assert_ne!(program, Program::generate(43, &options));
        let window = options.window_pages * PAGE;
        let mut stack: Vec<&Call> = program.calls.iter().collect();
        let mut forks = 0;
        while let Some(call) = stack.pop() {
            match call {
                Call::Syscall { args, .. } => {
                    for arg in args {
                        if let Arg::Window(offset) = arg {
                            assert!(*offset < window, "{call:?}");
                        }
                    }
                }
                Call::Touch { offset, .. } => assert!(*offset < window),
                Call::Fork { child } => {
                    forks += 1;
                    stack.extend(child.iter());
                }
            }
        }
        assert!(forks > 0, "400 calls hold a fork");
        let c = program.to_c();
        assert!(
            c.contains("syscall(SYS_mmap, ") && c.contains("fork()"),
            "{c}"
        );
    }

    /// Delta debugging finds the one element that matters, and a pair that must stay
    /// together.
    #[test]
    fn ddmin_finds_the_culprits() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(ddmin(items.clone(), |s| s.contains(&37)), vec![37]);
        let pair = ddmin(items, |s| s.contains(&3) && s.contains(&90));
        assert_eq!(pair, vec![3, 90]);
        assert!(ddmin(vec![1, 2], |_| true).is_empty());
    }

    /// Trace lines name their call.
    #[test]
    fn op_names() {
        assert_eq!(op_name("m 1 t1 0 1000 rw- pa - 0 7000"), "mmap");
        assert_eq!(op_name("o 1 t1 mlock2 1000 2000 0 !ENOMEM"), "mlock2");
        assert_eq!(op_name("X 1"), "exit");
    }
}
