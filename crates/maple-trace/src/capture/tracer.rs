//! The ptrace loop (Linux x86-64): starting the program, waiting for stops, and telling the
//! [`Recorder`] what each stop means. The module docs of [`capture`](super) describe how each
//! kind of stop is handled.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, IoSliceMut};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::ptrace::{self, Options};
use nix::sys::signal::{self, Signal};
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;
use rustix::process::{WaitOptions, WaitStatus, waitpid};

use super::interrupt::Watch;
use super::layout::{FileKey, base_name};
use super::recorder::{FdFile, Proc, Recorder};
use super::syscalls::{CLONE_THREAD, CLONE_VFORK, CLONE_VM, Entry, SIGCHLD, nr};
use super::{
    Capture, CaptureError, CaptureOutcome, ExitStatus, Progress, Sink, TerminalWatch, permission,
};
use crate::format::{Header, OpenMode, Record, SpaceId, Trace};
use maple_procmap::{Maps, MapsVma, QueryError};

/// The shell line that starts the program: stop, wait to be traced, then exec `$0 "$@"`.
const START_SCRIPT: &str = r#"kill -STOP $$; exec "$0" "$@""#;

/// `waitpid` flags: `__WALL` (threads too) and `__WNOTHREAD` (only this thread's tracees).
const WAIT_ALL_MINE: u32 = 0x4000_0000 | 0x2000_0000;

/// `PTRACE_EVENT_*` numbers as they appear in bits 16..24 of a stop status.
const EVENT_FORK: i32 = 1;
const EVENT_VFORK: i32 = 2;
const EVENT_CLONE: i32 = 3;
const EVENT_EXEC: i32 = 4;
const EVENT_EXIT: i32 = 6;
const EVENT_STOP: i32 = 128;

/// The stop signal of a syscall stop under `PTRACE_O_TRACESYSGOOD`: `SIGTRAP | 0x80`.
const SYSCALL_STOP: i32 = 5 | 0x80;

/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How often the records written so far are made readable from the output.
const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// Runs `capture` to the end, handing each record to `sink` as it is made.
pub(super) fn run(
    capture: Capture,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(&Progress),
) -> Result<CaptureOutcome, CaptureError> {
    resolve(&capture.program)?;
    let name = capture.trace_name();
    let shown = capture.program.to_string_lossy().into_owned();
    let uname = nix::sys::utsname::uname().ok();
    let field = |f: fn(&nix::sys::utsname::UtsName) -> &OsStr| {
        uname.as_ref().map(|u| f(u).to_string_lossy().into_owned())
    };
    let header = Header {
        name: Some(name),
        kernel: field(nix::sys::utsname::UtsName::release),
        arch: field(nix::sys::utsname::UtsName::machine),
        source: Some("maple-capture".to_owned()),
        pkeys: Some(machine_pkeys()),
    };
    let output = |source| CaptureError::Output { source };
    sink.start(&header).map_err(output)?;
    let started = Instant::now();
    let mut capture = capture;
    let interrupts = capture.interrupts.take();
    let terminal = capture.terminal.take();
    let root = start(capture, interrupts.is_some())?;
    let mut tracer = Tracer::new(root, started);
    tracer.terminal = terminal;
    tracer.watch = interrupts.map(|i| Watch::start(i, root));
    let ran = tracer.run(sink, progress);
    if let Some(watch) = tracer.watch.take() {
        tracer.interrupts = watch.stop();
    }
    ran?;
    let Some(status) = tracer.root_status else {
        return Err(CaptureError::Trace {
            during: "waiting for the program",
            source: io::Error::other("its end was never reported"),
        });
    };
    if !tracer.exec_seen {
        return Err(match status {
            ExitStatus::Exited(127) => CaptureError::ProgramNotFound { program: shown },
            ExitStatus::Exited(126) => CaptureError::NotExecutable { program: shown },
            status => CaptureError::ExecFailed {
                program: shown,
                status,
            },
        });
    }
    let elapsed = started.elapsed();
    let processes = tracer.processes_total;
    progress(&tracer.progress());
    let cut_short = tracer.cut_short;
    let interrupts = tracer.interrupts;
    let written = tracer.written;
    let (records, mut stats) = tracer.recorder.finish();
    written?;
    for record in records {
        sink.record(record).map_err(output)?;
    }
    if cut_short {
        sink.record(Record::CutShort).map_err(output)?;
    }
    stats.elapsed = elapsed;
    stats.interrupts = interrupts;
    stats.processes = u32::try_from(processes).unwrap_or(u32::MAX);
    Ok(CaptureOutcome {
        trace: Trace {
            header,
            records: Vec::new(),
        },
        stats,
        status,
        cut_short,
    })
}

/// The protection keys of this machine, as the kernel shows them in the recorder's own
/// `/proc/self/smaps` (see [`super::layout::pkey_count`]): traces record it so that a replay on any
/// machine models the capturing one.
fn machine_pkeys() -> u32 {
    std::fs::read_to_string("/proc/self/smaps").map_or(0, |text| super::layout::pkey_count(&text))
}

/// Checks that `program` names an executable file, directly or through `PATH`, as the shell's
/// `exec` will look for it.
fn resolve(program: &OsStr) -> Result<PathBuf, CaptureError> {
    let shown = || program.to_string_lossy().into_owned();
    if program.is_empty() {
        return Err(CaptureError::ProgramNotFound { program: shown() });
    }
    let candidates: Vec<PathBuf> = if program.as_bytes().contains(&b'/') {
        vec![PathBuf::from(program)]
    } else {
        let path =
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .collect()
    };
    let mut not_executable = false;
    for candidate in candidates {
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate);
            }
            Ok(_) => not_executable = true,
            Err(_) => {}
        }
    }
    Err(if not_executable {
        CaptureError::NotExecutable { program: shown() }
    } else {
        CaptureError::ProgramNotFound { program: shown() }
    })
}

/// Starts the shell, waits for it to stop itself, seizes it and lets it go on to the exec.
/// Returns its pid.
fn start(capture: Capture, handles_interrupts: bool) -> Result<i32, CaptureError> {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(START_SCRIPT)
        .arg(&capture.program)
        .args(&capture.args);
    if let Some(dir) = capture.dir {
        command.current_dir(dir);
    }
    if let Some(stdin) = capture.stdin {
        command.stdin(stdin);
    }
    if let Some(stdout) = capture.stdout {
        command.stdout(stdout);
    }
    if let Some(stderr) = capture.stderr {
        command.stderr(stderr);
    }
    // The program starts with the signal mask of this thread: interrupts are blocked here
    // ([`Interrupts`](super::Interrupts)), but not in the program.
    let blocked = handles_interrupts.then(super::interrupt::unblock_here);
    // NOTE: the `Child` is dropped without waiting: the tracer reaps the shell with waitpid.
    let spawned = command.spawn();
    if let Some(Ok(mask)) = blocked {
        let _ = mask.thread_block();
    }
    let child = spawned.map_err(|source| CaptureError::Start { source })?;
    let trace_error = |during, source: io::Error| CaptureError::Trace { during, source };
    let raw = i32::try_from(child.id())
        .map_err(|_| trace_error("starting the shell", io::Error::other("pid out of range")))?;
    let pid = rustix::process::Pid::from_raw(raw)
        .ok_or_else(|| trace_error("starting the shell", io::Error::other("pid 0")))?;
    loop {
        match waitpid(Some(pid), WaitOptions::UNTRACED) {
            Ok(Some((_, status))) if status.stopped() => break,
            Ok(Some((_, status))) => {
                return Err(CaptureError::ExecFailed {
                    program: capture.program.to_string_lossy().into_owned(),
                    status: exit_status(status),
                });
            }
            Ok(None) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(trace_error("waiting for the shell to stop", e.into())),
        }
    }
    let options = Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEEXIT
        | Options::PTRACE_O_EXITKILL;
    let npid = Pid::from_raw(raw);
    if let Err(errno) = ptrace::seize(npid, options) {
        let _ = signal::kill(npid, Signal::SIGKILL);
        let _ = waitpid(Some(pid), WaitOptions::empty());
        return Err(CaptureError::NotAllowed {
            reason: permission::explain(&permission::gather(), &format!("{errno:?}")),
        });
    }
    signal::kill(npid, Signal::SIGCONT)
        .map_err(|e| trace_error("continuing the shell", io::Error::from(e)))?;
    Ok(raw)
}

/// The tracer's view of one task.
#[derive(Debug, Default)]
struct TaskState {
    /// Between a syscall entry stop and its exit stop.
    in_syscall: bool,
    /// The path given to the last `execve`/`execveat` entered.
    exec_path: Option<String>,
    /// The flags of the last `clone`-family call entered.
    clone_flags: Option<u64>,
    /// A thread-group leader (or the task that became one by exec).
    is_process: bool,
    /// A new task whose first stop (`PTRACE_EVENT_STOP`) has not come yet.
    awaiting_first_stop: bool,
}

struct Tracer {
    tasks: HashMap<i32, TaskState>,
    /// New tasks stopped before their parent's clone event named them; they wait, stopped.
    early: HashSet<i32>,
    recorder: Recorder,
    proc: ProcFs,
    root: i32,
    root_status: Option<ExitStatus>,
    exec_seen: bool,
    processes_live: usize,
    processes_total: usize,
    started: Instant,
    last_progress: Instant,
    last_flush: Instant,
    /// The first error of the sink; records are dropped after it.
    written: Result<(), CaptureError>,
    /// A second interrupt stopped the program (see [`super::interrupt`]).
    cut_short: bool,
    /// The thread watching for interrupts, if they are handled.
    watch: Option<Watch>,
    /// Interrupts received (once the watch is over).
    interrupts: u32,
    /// The terminal whose writes are reported.
    terminal: Option<TerminalWatch>,
}

impl Tracer {
    fn new(root: i32, started: Instant) -> Tracer {
        let mut tasks = HashMap::new();
        tasks.insert(
            root,
            TaskState {
                is_process: true,
                ..TaskState::default()
            },
        );
        Tracer {
            tasks,
            early: HashSet::new(),
            recorder: Recorder::default(),
            proc: ProcFs::default(),
            root,
            root_status: None,
            exec_seen: false,
            processes_live: 1,
            processes_total: 1,
            started,
            last_progress: started,
            last_flush: started,
            written: Ok(()),
            cut_short: false,
            watch: None,
            interrupts: 0,
            terminal: None,
        }
    }

    fn progress(&self) -> Progress {
        let stats = self.recorder.stats();
        Progress {
            processes_live: self.processes_live,
            processes_total: self.processes_total,
            ops: stats.ops,
            snapshots: stats.snapshots,
            elapsed: self.started.elapsed(),
            interrupts: self.watch.as_ref().map_or(self.interrupts, Watch::count),
        }
    }

    /// Hands the records made so far to `sink`, and makes them readable from the file every
    /// [`FLUSH_EVERY`].
    fn drain(&mut self, sink: &mut dyn Sink) {
        let records = self.recorder.take_records();
        if self.written.is_err() {
            return;
        }
        let mut result = records.into_iter().try_for_each(|r| sink.record(r));
        if result.is_ok() && self.last_flush.elapsed() >= FLUSH_EVERY {
            self.last_flush = Instant::now();
            result = sink.flush();
        }
        if let Err(source) = result {
            self.written = Err(CaptureError::Output { source });
        }
    }

    /// Handles stops until no tracee is left.
    fn run(
        &mut self,
        sink: &mut dyn Sink,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), CaptureError> {
        let options = WaitOptions::from_bits_retain(WAIT_ALL_MINE);
        loop {
            let (pid, status) = match waitpid(None, options) {
                Ok(Some(report)) => report,
                Ok(None) | Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::CHILD) => return Ok(()),
                Err(e) => {
                    return Err(CaptureError::Trace {
                        during: "waiting for the traced processes",
                        source: e.into(),
                    });
                }
            };
            let tid = pid.as_raw_nonzero().get();
            if status.stopped() {
                let raw = status.as_raw();
                let signal = (raw >> 8) & 0xff;
                let event = (raw >> 16) & 0xffff;
                if signal == SYSCALL_STOP {
                    self.on_syscall(tid);
                } else if event != 0 {
                    self.on_event(tid, event, signal);
                } else {
                    self.on_signal(tid, signal);
                }
            } else if status.exited() || status.signaled() {
                self.on_exit(tid, exit_status(status));
            }
            self.drain(sink);
            if !self.cut_short && self.watch.as_ref().is_some_and(Watch::stopping) {
                // A second interrupt: stop every process of the program.
                self.cut_short = true;
                for &tid in self.tasks.keys().chain(&self.early) {
                    let _ = signal::kill(Pid::from_raw(tid), Signal::SIGKILL);
                }
            }
            if self.last_progress.elapsed() >= PROGRESS_EVERY {
                self.last_progress = Instant::now();
                progress(&self.progress());
            }
        }
    }

    fn on_syscall(&mut self, tid: i32) {
        self.recorder.stats_mut().syscall_stops += 1;
        let pid = Pid::from_raw(tid);
        let state = self.tasks.entry(tid).or_default();
        // NOTE: entry and exit stops alternate (see the module docs). nix's
        // `ptrace::syscall_info` cannot tell them apart: it passes a buffer size of 0, so the
        // kernel fills nothing and the `op` it returns is whatever was on the stack.
        let mut entering = !state.in_syscall;
        let pending = self.recorder.pending_call(tid);
        let regs = if entering || pending.is_some() {
            ptrace::getregs(pid).ok()
        } else {
            None
        };
        // A recorded call's exit shows the call's number in `orig_rax`; if it does not, this
        // is an entry and the alternation was lost (never seen; kept as a safety net).
        if let (false, Some(nr), Some(regs)) = (entering, pending, &regs)
            && regs.orig_rax != nr
        {
            entering = true;
            self.recorder.stats_mut().resyncs += 1;
        }
        if let Some(state) = self.tasks.get_mut(&tid) {
            state.in_syscall = entering;
        }
        if let Some(regs) = regs {
            if entering {
                let entry = Entry {
                    nr: regs.orig_rax,
                    args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
                };
                self.on_entry(tid, entry);
            } else {
                self.recorder.exit_call(tid, regs.rax, &mut self.proc);
            }
        }
        resume(tid, None);
    }

    fn on_entry(&mut self, tid: i32, entry: Entry) {
        let state = self.tasks.entry(tid).or_default();
        let [a0, a1, ..] = entry.args;
        match entry.nr {
            nr::EXECVE => state.exec_path = read_c_string(tid, a0),
            nr::EXECVEAT => state.exec_path = read_c_string(tid, a1).filter(|p| !p.is_empty()),
            nr::CLONE => state.clone_flags = Some(a0),
            nr::CLONE3 => state.clone_flags = read_u64(tid, a0),
            nr::FORK => state.clone_flags = Some(SIGCHLD),
            nr::VFORK => state.clone_flags = Some(CLONE_VM | CLONE_VFORK | SIGCHLD),
            nr::WRITE | nr::PWRITE64 | nr::WRITEV | nr::PWRITEV | nr::PWRITEV2 => {
                self.on_write(tid, entry);
            }
            _ => {}
        }
        self.recorder.entry(tid, entry);
    }

    /// A write is about to run: if it goes to the watched terminal, say so first.
    fn on_write(&mut self, tid: i32, entry: Entry) {
        let Some(terminal) = &mut self.terminal else {
            return;
        };
        let [fd, buf, count, ..] = entry.args;
        let Ok(fd) = i32::try_from(fd) else {
            return;
        };
        let to_terminal = std::fs::metadata(format!("/proc/{tid}/fd/{fd}"))
            .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == terminal.rdev);
        if !to_terminal {
            return;
        }
        // The last byte written: of the buffer, or of the last vector of a writev.
        let (last, len) = if matches!(entry.nr, nr::WRITE | nr::PWRITE64) {
            (buf, count)
        } else {
            let mut iov = [0u8; 16];
            let at = count
                .checked_sub(1)
                .and_then(|i| buf.checked_add(i * 16))
                .unwrap_or(0);
            if read_memory(tid, at, &mut iov) < 16 {
                (0, 0)
            } else {
                let word =
                    |i: usize| u64::from_ne_bytes(iov[i..i + 8].try_into().unwrap_or_default());
                (word(0), word(8))
            }
        };
        let mut byte = [0u8; 1];
        let newline = len > 0
            && read_memory(tid, last.saturating_add(len - 1), &mut byte) == 1
            && byte[0] == b'\n';
        (terminal.on_write)(newline);
    }

    fn on_event(&mut self, tid: i32, event: i32, signal: i32) {
        match event {
            EVENT_STOP => match self.tasks.get_mut(&tid) {
                // A new task stopped before its parent's event: it waits for that.
                None => {
                    self.early.insert(tid);
                    return;
                }
                Some(state) if state.awaiting_first_stop => state.awaiting_first_stop = false,
                Some(_) => {
                    // A group-stop (or the stop the seize of the stopped shell made).
                    let stop_signals =
                        [Signal::SIGSTOP, Signal::SIGTSTP, Signal::SIGTTIN].map(|s| s as i32);
                    if stop_signals.contains(&signal) || signal == Signal::SIGTTOU as i32 {
                        self.recorder.stats_mut().group_stops += 1;
                    }
                }
            },
            EVENT_FORK | EVENT_VFORK | EVENT_CLONE => self.on_clone(tid, event),
            EVENT_EXEC => self.on_exec(tid),
            // About to exit, its memory still there: the space's final layout can be read.
            EVENT_EXIT => self.recorder.exiting(tid, &mut self.proc),
            _ => {}
        }
        resume(tid, None);
    }

    fn on_clone(&mut self, parent: i32, event: i32) {
        let Ok(child) = ptrace::getevent(Pid::from_raw(parent)) else {
            return;
        };
        let Ok(child) = i32::try_from(child) else {
            return;
        };
        let flags = self
            .tasks
            .get_mut(&parent)
            .and_then(|s| s.clone_flags.take())
            .unwrap_or(match event {
                EVENT_FORK => SIGCHLD,
                EVENT_VFORK => CLONE_VM | CLONE_VFORK | SIGCHLD,
                _ => CLONE_VM | CLONE_THREAD,
            });
        let is_process = flags & CLONE_THREAD == 0;
        let stopped = self.early.remove(&child);
        let state = self.tasks.entry(child).or_default();
        state.is_process = is_process;
        state.awaiting_first_stop = !stopped;
        if is_process {
            self.processes_live += 1;
            self.processes_total += 1;
        }
        self.recorder
            .clone(parent, child, flags & CLONE_VM != 0, &mut self.proc);
        if stopped {
            resume(child, None);
        }
    }

    fn on_exec(&mut self, tid: i32) {
        let pid = Pid::from_raw(tid);
        let former = ptrace::getevent(pid)
            .ok()
            .and_then(|f| i32::try_from(f).ok())
            .unwrap_or(tid);
        if former != tid {
            // The old leader is gone without a report; the exec'ing thread is the process now
            // (the count of processes does not change).
            self.tasks.remove(&tid);
            if let Some(mut state) = self.tasks.remove(&former) {
                state.is_process = true;
                self.tasks.insert(tid, state);
            }
        }
        let path = self.tasks.get_mut(&tid).and_then(|s| s.exec_path.take());
        let program = match path {
            Some(path) => base_name(&path).to_owned(),
            None => std::fs::read_link(format!("/proc/{tid}/exe"))
                .ok()
                .map(|exe| base_name(&exe.to_string_lossy()).to_owned())
                .unwrap_or_else(|| "?".to_owned()),
        };
        self.exec_seen = true;
        self.recorder.exec(tid, former, &program, &mut self.proc);
    }

    fn on_signal(&mut self, tid: i32, signal: i32) {
        let stats = self.recorder.stats_mut();
        match Signal::try_from(signal) {
            Ok(signal) => {
                stats.signals_forwarded += 1;
                resume(tid, Some(signal));
            }
            Err(_) => {
                // NOTE: nix's safe API cannot pass a real-time signal back (see the module
                // docs); the task goes on without it.
                stats.signals_dropped += 1;
                resume(tid, None);
            }
        }
    }

    fn on_exit(&mut self, tid: i32, status: ExitStatus) {
        if tid == self.root {
            self.root_status = Some(status);
        }
        self.early.remove(&tid);
        if let Some(state) = self.tasks.remove(&tid) {
            if state.is_process {
                self.processes_live = self.processes_live.saturating_sub(1);
            }
            // A task that died inside a clone may leave a child whose parent event will never
            // come: let every waiting child go, as a task of its own.
            if state.in_syscall && state.clone_flags.is_some() {
                for child in std::mem::take(&mut self.early) {
                    self.tasks.insert(child, TaskState::default());
                    resume(child, None);
                }
            }
        }
        self.recorder.exit(tid, &mut self.proc);
    }
}

/// Resumes a stopped task until its next syscall stop, delivering `signal`. A task that
/// vanished meanwhile (`ESRCH`) reports its exit later.
fn resume(tid: i32, signal: Option<Signal>) {
    let _ = ptrace::syscall(Pid::from_raw(tid), signal);
}

fn exit_status(status: WaitStatus) -> ExitStatus {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => ExitStatus::Exited(code),
        (None, Some(signal)) => ExitStatus::Signaled(signal),
        (None, None) => ExitStatus::Exited(-1),
    }
}

/// Reads up to `buf.len()` bytes of task `tid`'s memory at `addr`, page by page with
/// `process_vm_readv`, then word by word with `PTRACE_PEEKDATA` if that fails. Returns how
/// many bytes were read.
fn read_memory(tid: i32, addr: u64, buf: &mut [u8]) -> usize {
    const PAGE: u64 = 4096;
    let pid = Pid::from_raw(tid);
    let mut done = 0;
    while done < buf.len() {
        let Some(at) = addr.checked_add(done as u64) else {
            return done;
        };
        let page_left = usize::try_from(PAGE - at % PAGE).unwrap_or(1);
        let want = page_left.min(buf.len() - done);
        let Ok(base) = usize::try_from(at) else {
            return done;
        };
        let remote = [RemoteIoVec { base, len: want }];
        let mut local = [IoSliceMut::new(&mut buf[done..done + want])];
        match process_vm_readv(pid, &mut local, &remote) {
            Ok(n) if n > 0 => done += n,
            _ => break,
        }
    }
    while done < buf.len() {
        let Some(at) = addr.checked_add(done as u64) else {
            break;
        };
        let Ok(at) = usize::try_from(at) else {
            break;
        };
        let Ok(word) = ptrace::read(pid, std::ptr::without_provenance_mut(at)) else {
            break;
        };
        let bytes = word.to_ne_bytes();
        let n = bytes.len().min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&bytes[..n]);
        done += n;
    }
    done
}

/// Reads a NUL-terminated string (a path, at most 4096 bytes) from task `tid`.
fn read_c_string(tid: i32, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let mut out = Vec::new();
    let mut at = addr;
    while out.len() < 4096 {
        let mut chunk = [0u8; 256];
        let n = read_memory(tid, at, &mut chunk);
        if n == 0 {
            break;
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Some(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&chunk[..n]);
        at = at.checked_add(n as u64)?;
    }
    (!out.is_empty()).then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Reads a `u64` from task `tid` (the flags at the start of `struct clone_args`).
fn read_u64(tid: i32, addr: u64) -> Option<u64> {
    let mut buf = [0u8; 8];
    (read_memory(tid, addr, &mut buf) == 8).then(|| u64::from_ne_bytes(buf))
}

/// The recorder's window on real processes, through `/proc`.
#[derive(Debug, Default)]
struct ProcFs {
    /// Each space's `/proc/PID/maps`, open for VMA queries.
    queries: HashMap<SpaceId, Maps>,
    /// Whether the kernel has VMA queries: `None` until the first one is tried.
    supported: Option<bool>,
}

impl Proc for ProcFs {
    fn open_queries(&mut self, space: SpaceId, tid: i32) -> bool {
        if self.supported == Some(false) {
            return false;
        }
        let Ok(maps) = Maps::open(tid) else {
            return false;
        };
        if self.supported.is_none() {
            // Ask once for the lowest VMA: kernels before 6.11 refuse the ioctl.
            let works = !matches!(maps.query(0), Err(QueryError::Unsupported));
            self.supported = Some(works);
            if !works {
                return false;
            }
        }
        self.queries.insert(space, maps);
        true
    }

    fn close_queries(&mut self, space: SpaceId) {
        self.queries.remove(&space);
    }

    fn query(&mut self, space: SpaceId, addr: u64) -> Result<Option<MapsVma>, QueryError> {
        self.queries
            .get(&space)
            .ok_or(QueryError::Gone)?
            .query(addr)
    }

    fn smaps(&mut self, tid: i32) -> Option<String> {
        std::fs::read_to_string(format!("/proc/{tid}/smaps")).ok()
    }

    fn maps(&mut self, tid: i32) -> Option<String> {
        std::fs::read_to_string(format!("/proc/{tid}/maps")).ok()
    }

    fn fd_file(&mut self, tid: i32, fd: i32) -> Option<FdFile> {
        if fd < 0 {
            return None;
        }
        let link = format!("/proc/{tid}/fd/{fd}");
        let meta = std::fs::metadata(&link).ok()?;
        let path = std::fs::read_link(&link)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        Some(FdFile {
            key: FileKey::from_stat(meta.dev(), meta.ino()),
            path,
            size: meta.is_file().then_some(meta.len()),
        })
    }

    fn fd_mode(&mut self, tid: i32, fd: i32) -> Option<OpenMode> {
        if fd < 0 {
            return None;
        }
        // The `flags:` line of fdinfo is the file's `f_flags` in octal.
        let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
        let flags = info.lines().find_map(|line| line.strip_prefix("flags:"))?;
        OpenMode::from_accmode(u32::from_str_radix(flags.trim(), 8).ok()?)
    }

    fn pidfd_pid(&mut self, tid: i32, fd: i32) -> Option<i32> {
        let info = std::fs::read_to_string(format!("/proc/{tid}/fdinfo/{fd}")).ok()?;
        info.lines()
            .find_map(|line| line.strip_prefix("Pid:"))
            .and_then(|pid| pid.trim().parse().ok())
    }
}
