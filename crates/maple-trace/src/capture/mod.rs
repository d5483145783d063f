//! Recording a real program's VMA activity with ptrace (`maple capture`).
//!
//! [`Capture`] runs a program under ptrace, follows every process and thread it makes, and
//! writes a [`Trace`]: each memory system call with its arguments and result (failures
//! included), each fork, exec and exit, and after exec and after every call that changed the
//! layout a snapshot of the kernel's VMA list for that address space, read from
//! `/proc/TID/smaps`. Linux on x86-64 only; elsewhere [`Capture::run`] returns
//! [`CaptureError::UnsupportedPlatform`].
//!
//! ```no_run
//! use maple_trace::capture::Capture;
//!
//! let outcome = Capture::new("true", ["--version"]).run(|_progress| {})?;
//! assert!(outcome.trace.snapshot_count() >= 1);
//! maple_trace::io::write_file("true.mtrace.zst".as_ref(), &outcome.trace)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a program is started
//!
//! Without unsafe code there is no hook between `fork` and `exec` in the child, so the program
//! starts as `/bin/sh -c 'kill -STOP $$; exec "$0" "$@"' PROGRAM ARGS...`: the shell stops
//! itself, the tracer waits for that stop, attaches with `PTRACE_SEIZE` (options
//! `TRACESYSGOOD | TRACEFORK | TRACEVFORK | TRACECLONE | TRACEEXEC | EXITKILL`) and sends
//! `SIGCONT`. The shell's `exec` resolves PROGRAM through `PATH`; recording starts at that
//! first successful exec, with `N` and a snapshot. PROGRAM is looked up beforehand too, so a
//! missing program is reported as "PROGRAM: not found" without starting anything.
//!
//! # How each ptrace situation is handled
//!
//! Every task stops at every system call entry and exit (`PTRACE_SYSCALL`).
//!
//! - **Syscall stops.** Entry and exit alternate per task, and a task starts outside a call:
//!   new tasks do not report the exit of the `clone` that made them (the kernel clears their
//!   syscall tracing until the tracer resumes them), the shell was seized after its `kill`
//!   returned, and `execve` reports its exit after `PTRACE_EVENT_EXEC`. As a safety net, the
//!   exit of a recorded call must show the call's number in `orig_rax`, or the stop is taken
//!   as an entry ([`CaptureStats::resyncs`]). `PTRACE_GET_SYSCALL_INFO` is not used: nix's
//!   wrapper passes a buffer size of 0, so its `op` is uninitialised memory. At the entry the
//!   tracer reads `orig_rax` and the six argument registers, at the exit `rax`; the recorder
//!   turns the pair into an op at the exit, so ops are in the order the exits were seen.
//! - **fork, vfork, clone, clone3.** The flags are read at the entry stop (`clone`'s first
//!   argument; the first `u64` of `struct clone_args` for `clone3`, read with
//!   `process_vm_readv`; none for `fork`; `CLONE_VM | CLONE_VFORK` for `vfork`). At the
//!   parent's `PTRACE_EVENT_{FORK,VFORK,CLONE}` stop the child's tid comes from
//!   `PTRACE_GETEVENTMSG`: with `CLONE_VM` the child joins the parent's space, without it the
//!   recorder writes `F` and a snapshot of the child, which has not run yet; `F` says
//!   `racing` when other threads of the parent were inside layout-changing calls at any
//!   time between the fork's entry and its event, whose effects the child may hold though
//!   their ops come after `F`, or lack though their ops come before it. The child's
//!   first stop (`PTRACE_EVENT_STOP`) may arrive before the parent's event; the child then
//!   waits, stopped, until the event names it.
//! - **exec.** At `PTRACE_EVENT_EXEC` the task leaves its space (`X` if it was the last) and
//!   gets a new one (`N`, named after the base name of the path given to `execve`, and a
//!   snapshot). When a thread other than the leader execs, it takes the leader's tid;
//!   `PTRACE_GETEVENTMSG` gives its former tid, and the old leader, which reports no exit, is
//!   dropped from the books.
//! - **Signal-delivery stops** are resumed with the same signal, so the program sees it.
//!   Real-time signals (32 and up) cannot be: the safe `nix` API names only the classic
//!   signals. They are counted in [`CaptureStats::signals_dropped`] and the summary warns.
//! - **Group-stops** (`PTRACE_EVENT_STOP` with a stop signal) are resumed at once:
//!   `PTRACE_LISTEN` is not in the safe API, so a traced program does not stay stopped by
//!   `SIGSTOP` or `SIGTSTP`. Counted in [`CaptureStats::group_stops`].
//! - **Vanished tasks.** A ptrace request that fails with `ESRCH` means the task died (or was
//!   killed) meanwhile; its exit report follows and is handled then. Every exit report
//!   removes the task; the last task of a space writes `X`.
//! - **Waiting** uses `waitpid(-1, __WALL | __WNOTHREAD)` through `rustix`, which hands back
//!   the raw status (`nix` refuses statuses that carry a real-time signal, and the stop would
//!   be lost). `__WNOTHREAD` keeps two captures on two threads of one process apart.
//!
//! # Snapshots
//!
//! After a call that may change the layout (every recorded call except `brk(NULL)` and
//! `madvise` advice that acts on pages only), the recorder reads the layout and writes a
//! snapshot if the VMAs or their flags differ from the last one of that space. Where the
//! kernel has `PROCMAP_QUERY` (Linux 6.11+, through [`maple_procmap`]), only the VMAs around
//! the ranges the call may have changed are looked up, so a call costs what it touched, not
//! the size of the address space; the whole `/proc/TID/smaps` is read after calls that may
//! change flags alone (`madvise`, `mlock`, `mseal`, ...), after calls without known ranges,
//! and every `max(64, n / 8)` calls in a space of `n` VMAs (the recorder's R8). Older kernels
//! read `/proc/TID/maps` first and `smaps` only when `maps` changed or flags may have. If another
//! task of the same space is inside such a call at that moment, the read waits until the last
//! of them leaves, so a snapshot always shows exactly the effect of the ops before it (see
//! the recorder's invariant R3). Files become ids by device and inode; no path is written.
//! The snapshot after `N` and `F` is written whole (`S`); later ones give only the windows
//! that changed (`D`), so that the trace grows with what the program did, not with the size
//! of its address space.
//!
//! # Output and interrupts
//!
//! [`Capture::run_into`] hands each record to a [`Sink`] as it is made ([`TraceSink`] writes
//! the file as the capture goes, making it readable every few seconds), so a capture keeps no
//! trace in memory. With [`Capture::interrupts`], Ctrl-C and `kill` do not end maple: the first
//! goes to the program and the capture goes on; a second stops the program and the trace ends
//! `E cut-short` (see [`Interrupts`]).
//!
//! # What is not attributed
//!
//! Some layout changes have no system call of their own: the stack growing on a page fault,
//! and changes made through calls outside the memory family (for example `userfaultfd`'s
//! `UFFDIO_REGISTER`). They show up in the next snapshot of the space.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::{self, Display, Formatter};
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

pub use interrupt::{Interrupt, Interrupts};

use crate::format::{Header, Record, Trace};
use crate::io::TraceWriter;

mod interrupt;
mod layout;
mod permission;
mod recorder;
mod syscalls;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod tracer;

/// A program to run under the recorder, with its arguments and how to start it.
///
/// # Examples
/// ```no_run
/// use maple_trace::capture::Capture;
///
/// let outcome = Capture::new("gcc", ["-O2", "-c", "zstd_compress.c"])
///     .name("gcc-cc1-O2")
///     .run(|p| eprint!("\r{} ops, {} snapshots", p.ops, p.snapshots))?;
/// println!("gcc {}", outcome.status);
/// # Ok::<(), maple_trace::capture::CaptureError>(())
/// ```
#[derive(Debug)]
pub struct Capture {
    program: OsString,
    args: Vec<OsString>,
    name: Option<String>,
    dir: Option<PathBuf>,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    interrupts: Option<Interrupts>,
    terminal: Option<TerminalWatch>,
}

/// A terminal whose writes by the program are reported (see [`Capture::terminal`]).
pub(crate) struct TerminalWatch {
    /// The terminal's device number (`st_rdev`).
    pub(crate) rdev: u64,
    /// Called at the program's write to it, before the data reaches it: whether the data
    /// ends with a newline.
    pub(crate) on_write: Box<dyn FnMut(bool)>,
}

impl std::fmt::Debug for TerminalWatch {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalWatch")
            .field("rdev", &self.rdev)
            .finish_non_exhaustive()
    }
}

/// Where the records of a capture go as they are made: [`TraceSink`] writes them to a file at
/// once, so a long capture keeps no trace in memory; a [`Trace`] keeps them.
pub trait Sink {
    /// Takes the header, before any record.
    ///
    /// # Errors
    /// What writing failed with; the capture then does not start.
    fn start(&mut self, header: &Header) -> io::Result<()>;

    /// Takes one record.
    ///
    /// # Errors
    /// What writing failed with; the capture goes on, drops later records and reports it.
    fn record(&mut self, record: Record) -> io::Result<()>;

    /// Makes what was taken so far durable (every few seconds).
    ///
    /// # Errors
    /// What writing failed with.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`Sink`] that writes the trace to `W` as zstd-compressed text ([`TraceWriter`]) as the
/// records come.
///
/// # Examples
/// ```no_run
/// use maple_trace::capture::{Capture, TraceSink};
///
/// let file = std::fs::File::create("true.mtrace.zst")?;
/// let mut sink = TraceSink::new(file);
/// Capture::new("true", ["--version"]).run_into(&mut sink, |_| {})?;
/// if let Some(file) = sink.finish()? {
///     file.sync_all()?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TraceSink<W: std::io::Write> {
    out: Option<W>,
    writer: Option<TraceWriter<W>>,
}

impl<W: std::io::Write> TraceSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> TraceSink<W> {
        TraceSink {
            out: Some(out),
            writer: None,
        }
    }

    /// Ends the compressed stream and returns the output (`None` if the capture never
    /// started).
    ///
    /// # Errors
    /// What writing failed with.
    pub fn finish(self) -> io::Result<Option<W>> {
        match self.writer {
            Some(writer) => writer.finish().map(Some),
            None => Ok(self.out),
        }
    }

    fn writer(&mut self) -> io::Result<&mut TraceWriter<W>> {
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("a record before the header"))
    }
}

impl<W: std::io::Write> Sink for TraceSink<W> {
    fn start(&mut self, header: &Header) -> io::Result<()> {
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("the trace was started twice"))?;
        self.writer = Some(TraceWriter::new(out, header)?);
        Ok(())
    }

    fn record(&mut self, record: Record) -> io::Result<()> {
        self.writer()?.record(&record)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

/// Keeps the records in memory.
impl Sink for Trace {
    fn start(&mut self, header: &Header) -> io::Result<()> {
        self.header = header.clone();
        Ok(())
    }

    fn record(&mut self, record: Record) -> io::Result<()> {
        self.records.push(record);
        Ok(())
    }
}

impl Capture {
    /// A capture of `program` (a path, or a name looked up in `PATH`) run with `args`.
    pub fn new<I, S>(program: impl AsRef<OsStr>, args: I) -> Capture
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Capture {
            program: program.as_ref().to_owned(),
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            name: None,
            dir: None,
            stdin: None,
            stdout: None,
            stderr: None,
            interrupts: None,
            terminal: None,
        }
    }

    /// Reports each write of the program to the terminal with device number `rdev`
    /// (`st_rdev` of its device file) to `on_write`, before the data reaches the terminal, with
    /// whether the data ends with a newline. A status line on that terminal can so be cleared
    /// before the program writes and drawn again once it has finished a line: the two never
    /// mix.
    pub fn terminal(mut self, rdev: u64, on_write: impl FnMut(bool) + 'static) -> Capture {
        self.terminal = Some(TerminalWatch {
            rdev,
            on_write: Box::new(on_write),
        });
        self
    }

    /// Handles interrupts as [`Interrupts`] describes: the first goes to the program and the
    /// capture goes on; the second stops the program and the trace ends `E cut-short`.
    pub fn interrupts(mut self, interrupts: Interrupts) -> Capture {
        self.interrupts = Some(interrupts);
        self
    }

    /// Sets the trace's `#name` header (by default the program's base name).
    pub fn name(mut self, name: impl Into<String>) -> Capture {
        self.name = Some(name.into());
        self
    }

    /// Runs the program in `dir` instead of the current directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Capture {
        self.dir = Some(dir.into());
        self
    }

    /// The program's standard input (inherited by default).
    pub fn stdin(mut self, stdin: Stdio) -> Capture {
        self.stdin = Some(stdin);
        self
    }

    /// The program's standard output (inherited by default).
    pub fn stdout(mut self, stdout: Stdio) -> Capture {
        self.stdout = Some(stdout);
        self
    }

    /// The program's standard error (inherited by default).
    pub fn stderr(mut self, stderr: Stdio) -> Capture {
        self.stderr = Some(stderr);
        self
    }

    /// The `#name` the trace will carry.
    fn trace_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let program = self.program.to_string_lossy();
            layout::base_name(&program).to_owned()
        })
    }

    /// Runs the program to the end, recording, and returns the trace, the statistics and the
    /// program's exit status. `progress` is called a few times a second (and once at the end)
    /// with the counts so far.
    ///
    /// The call returns when every process the program made has ended, including ones that
    /// outlived it.
    ///
    /// # Errors
    /// [`CaptureError::UnsupportedPlatform`] off Linux x86-64; [`CaptureError::ProgramNotFound`]
    /// or [`CaptureError::NotExecutable`] before anything runs;
    /// [`CaptureError::NotAllowed`] with the reason when ptrace is refused; the others when
    /// the shell cannot start or tracing fails.
    pub fn run(self, progress: impl FnMut(&Progress)) -> Result<CaptureOutcome, CaptureError> {
        let mut trace = Trace::default();
        let mut outcome = self.run_into(&mut trace, progress)?;
        outcome.trace = trace;
        Ok(outcome)
    }

    /// Runs the program as [`Capture::run`] does, handing each record to `sink` as it is
    /// made; the outcome's trace holds the header only.
    ///
    /// # Errors
    /// As [`Capture::run`], and [`CaptureError::Output`] when `sink` failed.
    pub fn run_into(
        self,
        sink: &mut dyn Sink,
        progress: impl FnMut(&Progress),
    ) -> Result<CaptureOutcome, CaptureError> {
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        {
            let mut progress = progress;
            tracer::run(self, sink, &mut progress)
        }
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        {
            let _ = (self, sink, progress);
            Err(CaptureError::UnsupportedPlatform)
        }
    }
}

/// Counts while a capture runs, for a progress line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Processes (not threads) running now.
    pub processes_live: usize,
    /// Processes seen so far, the first one included.
    pub processes_total: usize,
    /// Ops recorded so far.
    pub ops: u64,
    /// Snapshots written so far.
    pub snapshots: u64,
    /// Time since the program started.
    pub elapsed: Duration,
    /// Interrupts received so far (see [`Interrupts`]).
    pub interrupts: u32,
}

/// What a capture counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CaptureStats {
    /// Op records written (`N`, `F` and `X` included).
    pub ops: u64,
    /// Op records by [`Op::name`](crate::format::Op::name): `mmap`, `exec`, `fork`, `mlock`...
    pub ops_by_kind: BTreeMap<&'static str, u64>,
    /// Calls that failed (and `brk` requests that the kernel refused).
    pub failed_ops: u64,
    /// Snapshots written.
    pub snapshots: u64,
    /// Address spaces recorded.
    pub spaces: u32,
    /// Threads that appear in records.
    pub threads: u32,
    /// Processes seen (thread groups), the starting shell included.
    pub processes: u32,
    /// Files that got an id.
    pub files: usize,
    /// The most VMAs in one snapshot.
    pub peak_vmas: usize,
    /// `/proc/TID/smaps` reads.
    pub smaps_reads: u64,
    /// `/proc/TID/maps` reads (made first, to skip `smaps` when nothing changed).
    pub maps_reads: u64,
    /// VMA queries (`PROCMAP_QUERY`): how the VMAs around a call are read alone, on Linux
    /// 6.11 and later (see the recorder's R8).
    pub queries: u64,
    /// Time spent reading and parsing `/proc/TID/maps` and `/proc/TID/smaps`.
    pub layout_time: Duration,
    /// Snapshots that waited for another task's call in flight.
    pub deferred_snapshots: u64,
    /// `process_madvise` calls on processes outside the trace (not recorded).
    pub foreign_calls: u64,
    /// Syscall stops handled (entries and exits).
    pub syscall_stops: u64,
    /// Exit stops that turned out to be entries (see the module docs; expected to stay 0).
    pub resyncs: u64,
    /// Signals passed on to the program.
    pub signals_forwarded: u64,
    /// Real-time signals that could not be passed on (see the module docs).
    pub signals_dropped: u64,
    /// Group-stops resumed at once (see the module docs).
    pub group_stops: u64,
    /// Wall time from the start of the program to the end of the last process.
    pub elapsed: Duration,
    /// Interrupts received (see [`Interrupts`]).
    pub interrupts: u32,
}

/// How the program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this status.
    Exited(i32),
    /// A signal with this number killed it.
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell would report: the exit status, or 128 plus the signal number.
    pub fn code(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => code,
            ExitStatus::Signaled(signal) => 128 + signal,
        }
    }

    /// Whether the program exited with status 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exited(0)
    }
}

impl Display for ExitStatus {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited with status {code}"),
            ExitStatus::Signaled(signal) => write!(f, "was killed by signal {signal}"),
        }
    }
}

/// A finished capture.
#[derive(Debug, Clone)]
pub struct CaptureOutcome {
    /// The trace, with `#name`, `#kernel`, `#arch` and `#source maple-capture`.
    pub trace: Trace,
    /// What was counted.
    pub stats: CaptureStats,
    /// How the program ended.
    pub status: ExitStatus,
    /// A second interrupt stopped the program: the trace ends `E cut-short`.
    pub cut_short: bool,
}

/// Why a capture could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaptureError {
    /// The recorder runs on Linux x86-64 only.
    UnsupportedPlatform,
    /// The program is not a file, nor a name found in `PATH`.
    ProgramNotFound {
        /// The program as given.
        program: String,
    },
    /// The program exists but cannot be executed.
    NotExecutable {
        /// The program as given.
        program: String,
    },
    /// ptrace is refused here; `reason` says why and what to do, in one line.
    NotAllowed {
        /// The explanation.
        reason: String,
    },
    /// `/bin/sh` could not be started.
    Start {
        /// What spawning said.
        source: io::Error,
    },
    /// The shell ended before it could exec the program.
    ExecFailed {
        /// The program as given.
        program: String,
        /// How the shell ended.
        status: ExitStatus,
    },
    /// The records could not be written.
    Output {
        /// What writing said.
        source: io::Error,
    },
    /// A wait or ptrace request failed in a way the recorder cannot go on from.
    Trace {
        /// What the recorder was doing.
        during: &'static str,
        /// The error.
        source: io::Error,
    },
}

impl Display for CaptureError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::UnsupportedPlatform => f.write_str("capture needs Linux on x86-64"),
            CaptureError::ProgramNotFound { program } => write!(f, "{program}: not found"),
            CaptureError::NotExecutable { program } => {
                write!(f, "{program}: not an executable file (permission denied)")
            }
            CaptureError::NotAllowed { reason } => {
                write!(f, "cannot trace programs here: {reason}")
            }
            CaptureError::Start { source } => write!(f, "cannot start /bin/sh: {source}"),
            CaptureError::ExecFailed { program, status } => write!(
                f,
                "{program}: could not be started (the shell {status} before running it)"
            ),
            CaptureError::Trace { during, source } => {
                write!(f, "tracing failed while {during}: {source}")
            }
            CaptureError::Output { source } => write!(f, "cannot write the trace: {source}"),
        }
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureError::Start { source }
            | CaptureError::Trace { source, .. }
            | CaptureError::Output { source } => Some(source),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Error messages are one line and say what to do or what is wrong.
    #[test]
    fn errors_read_as_one_line() {
        let cases = [
            (
                CaptureError::UnsupportedPlatform,
                "capture needs Linux on x86-64",
            ),
            (
                CaptureError::ProgramNotFound {
                    program: "nosuch".into(),
                },
                "nosuch: not found",
            ),
            (
                CaptureError::ExecFailed {
                    program: "x".into(),
                    status: ExitStatus::Exited(126),
                },
                "x: could not be started (the shell exited with status 126 before running it)",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    /// Exit statuses follow the shell's convention.
    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(ExitStatus::Exited(3).code(), 3);
        assert_eq!(ExitStatus::Signaled(9).code(), 137);
        assert!(ExitStatus::Exited(0).success());
        assert!(!ExitStatus::Signaled(0).success());
    }

    /// The default name is the program's base name.
    #[test]
    fn default_name_is_the_base_name() {
        let empty: [&str; 0] = [];
        assert_eq!(Capture::new("/usr/bin/gcc", empty).trace_name(), "gcc");
        assert_eq!(Capture::new("gcc", empty).name("x").trace_name(), "x");
    }
}
