//! Interrupts during a capture: Ctrl-C, `kill`, a closed terminal.
//!
//! [`Interrupts::catch`] blocks `SIGINT`, `SIGTERM` and `SIGHUP` in the calling thread (and in
//! the threads it starts afterwards) and reads them from a signalfd instead, on a thread of
//! its own while a capture runs:
//!
//! - The first one goes to the traced program as it would without maple: one sent to maple
//!   alone (`kill -INT`, `kill -TERM`) is sent on to the program; one the terminal sent to its
//!   foreground process group (Ctrl-C, a hang-up) has reached the program already. maple goes
//!   on recording until the program ends, and writes the whole trace.
//! - The second one stops the program (`SIGKILL`); maple writes what it recorded, ending the
//!   trace with `E cut-short`, which the replay reports.
//!
//! The callback given to [`Interrupts::catch`] hears of each, to tell the user.
//!
//! The kernel keeps at most one pending signal of each kind: two Ctrl-Cs that both arrive
//! before maple has read the first are one interrupt. The watching thread waits on the
//! signalfd itself, so it reads each one as soon as it is scheduled.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{self, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use super::CaptureError;

/// `si_code` of a signal the kernel sent itself (the terminal's Ctrl-C or hang-up).
const SI_KERNEL: i32 = 0x80;

/// How long the watching thread waits for a signal before it looks for the end of the capture,
/// in milliseconds.
const WAIT_MS: u16 = 20;

/// What happened, for the callback of [`Interrupts::catch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// The first interrupt: the program has it (`forwarded` when maple sent it on, because
    /// it was sent to maple alone); the capture goes on until the program ends.
    Passed {
        /// The signal number.
        signal: i32,
        /// Whether maple sent it on to the program.
        forwarded: bool,
    },
    /// A second interrupt: the program is being stopped, and the trace will end there.
    Stopping,
}

/// Interrupts caught for a capture (see the module docs).
pub struct Interrupts {
    fd: SignalFd,
    on_signal: Box<dyn Fn(Interrupt) + Send>,
}

impl std::fmt::Debug for Interrupts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupts").finish_non_exhaustive()
    }
}

impl Interrupts {
    /// Blocks `SIGINT`, `SIGTERM` and `SIGHUP` in this thread and the threads it starts from
    /// now on, so that none of them ends maple: call it before starting other threads, and
    /// run the capture on this thread. The program starts with them unblocked (the capture
    /// unblocks them in this thread while it starts the program: an interrupt at that very
    /// moment ends maple as it would without this).
    ///
    /// # Errors
    /// [`CaptureError::Trace`] when the signals cannot be blocked or the signalfd made.
    pub fn catch(
        on_signal: impl Fn(Interrupt) + Send + 'static,
    ) -> Result<Interrupts, CaptureError> {
        let error = |e: nix::Error| CaptureError::Trace {
            during: "setting up interrupt handling",
            source: e.into(),
        };
        let mask = interrupt_set();
        mask.thread_block().map_err(error)?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(error)?;
        Ok(Interrupts {
            fd,
            on_signal: Box::new(on_signal),
        })
    }
}

/// Unblocks the interrupts in this thread for a moment (to start a program, which inherits
/// the mask), returning the set to block again.
pub(super) fn unblock_here() -> nix::Result<SigSet> {
    let set = interrupt_set();
    set.thread_unblock()?;
    Ok(set)
}

fn interrupt_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(signal);
    }
    set
}

/// The watching thread of a running capture.
pub(super) struct Watch {
    done: Arc<AtomicBool>,
    /// Interrupts seen so far.
    count: Arc<AtomicU32>,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching for interrupts on behalf of the program whose first process is `root`.
    pub(super) fn start(interrupts: Interrupts, root: i32) -> Watch {
        let done = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU32::new(0));
        let (done_in, count_in) = (Arc::clone(&done), Arc::clone(&count));
        let thread = std::thread::spawn(move || {
            loop {
                // Read what came before looking at `done`: a signal that reached maple and
                // the program together is counted even when the program ended at once.
                let finished = done_in.load(Ordering::Relaxed);
                while let Ok(Some(info)) = interrupts.fd.read_signal() {
                    let seen = count_in.fetch_add(1, Ordering::Relaxed) + 1;
                    let signo = i32::try_from(info.ssi_signo).unwrap_or(0);
                    let root = Pid::from_raw(root);
                    if seen == 1 {
                        // A signal the terminal sent went to the whole foreground group, the
                        // program included; one sent to maple alone is passed on.
                        let forwarded = info.ssi_code != SI_KERNEL;
                        if forwarded && let Ok(signal) = Signal::try_from(signo) {
                            let _ = signal::kill(root, signal);
                        }
                        (interrupts.on_signal)(Interrupt::Passed {
                            signal: signo,
                            forwarded,
                        });
                    } else if seen == 2 && !finished {
                        (interrupts.on_signal)(Interrupt::Stopping);
                        // The tracer wakes up on the program's death and stops the rest.
                        let _ = signal::kill(root, Signal::SIGKILL);
                    }
                }
                if finished {
                    return;
                }
                // Woken by the next signal at once, or after a while to look at `done`; an
                // error (EINTR) only means looking again.
                let mut fds = [PollFd::new(interrupts.fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(WAIT_MS));
            }
        });
        Watch {
            done,
            count,
            thread: Some(thread),
        }
    }

    /// Whether a second interrupt asked to stop the program.
    pub(super) fn stopping(&self) -> bool {
        self.count.load(Ordering::Relaxed) >= 2
    }

    /// How many interrupts came.
    pub(super) fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Stops watching (the signals stay blocked) and returns how many interrupts came, the
    /// ones that arrived with the program's end included.
    pub(super) fn stop(mut self) -> u32 {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.count()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}
