//! `maple capture [-o FILE] [-n NAME] [--force] -- PROGRAM ARGS...`: runs a program under the ptrace
//! recorder of [`maple_trace::capture`] and writes its trace, zstd-compressed.
//!
//! While the program runs, a line on stderr shows the processes alive and seen, the ops and
//! snapshots recorded and the time (only when stderr is a terminal, and not with `--quiet`);
//! it is cleared before each write of the program to that terminal and drawn again once the
//! program has ended its line and kept quiet for half a second, so the two never mix. The
//! output file is checked before the program starts: its folder must be writable, and an
//! existing file is replaced only with `--force`. At the end one paragraph sums up the
//! capture, and `maple capture` exits with the program's status (128 plus the signal number if a signal killed it). A capture that
//! cannot run (ptrace refused, program not found) prints one line and exits with 1.

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Args;
use maple_trace::capture::{Capture, CaptureOutcome, Interrupt, Interrupts, Progress, TraceSink};

use crate::output::{Output, OutputError};

/// The arguments of `maple capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Where to write the trace [default: NAME.mtrace.zst in the current directory, where NAME is
    /// the program's file name].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The trace's `#name` header [default: the program's file name].
    #[arg(short, long)]
    pub name: Option<String>,
    /// No progress line.
    #[arg(short, long)]
    pub quiet: bool,
    /// Replace the output file if it exists.
    #[arg(short, long)]
    pub force: bool,
    /// The program to run (a path, or a name looked up in PATH) and its arguments.
    #[arg(
        value_name = "PROGRAM",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<OsString>,
}

/// `maple capture`: records, writes the trace, prints the summary and returns the program's
/// exit status.
pub fn run(args: CaptureArgs) -> ExitCode {
    let Some((program, program_args)) = args.command.split_first() else {
        eprintln!("maple capture: missing the program to run");
        return ExitCode::FAILURE;
    };
    let base = program.to_string_lossy();
    let base = base.rsplit('/').next().unwrap_or_default();
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{base}.mtrace.zst")));
    // The output is checked (and created, as NAME.partial) before the program starts.
    let (file_out, file) = match Output::create(&output, args.force) {
        Ok(created) => created,
        Err(e) => {
            eprintln!("maple capture: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Interrupts are caught before any other thread starts, so that none ends maple.
    // On a terminal, the message first clears the progress line (which comes back after it).
    let clear = if std::io::stderr().is_terminal() {
        "\r\x1b[K"
    } else {
        ""
    };
    let interrupts = match Interrupts::catch(move |i| eprintln!("{clear}{}", interrupt_line(i))) {
        Ok(interrupts) => interrupts,
        Err(e) => {
            file_out.discard();
            eprintln!("maple capture: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut capture = Capture::new(program, program_args).interrupts(interrupts);
    if let Some(name) = &args.name {
        capture = capture.name(name.clone());
    }
    let status = Rc::new(RefCell::new(StatusLine::new(!args.quiet)));
    if let Some(rdev) = status.borrow().terminal {
        let on_write = Rc::clone(&status);
        capture = capture.terminal(rdev, move |newline| {
            on_write.borrow_mut().program_wrote(newline);
        });
    }
    let mut sink = TraceSink::new(file);
    let outcome = capture.run_into(&mut sink, |p| status.borrow_mut().show(&progress_line(p)));
    status.borrow_mut().finish();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            file_out.discard();
            eprintln!("maple capture: {e}");
            return ExitCode::FAILURE;
        }
    };
    let written = sink
        .finish()
        .and_then(|file| file.map_or(Ok(()), |file| file.sync_all()))
        .map_err(|source| OutputError::Io {
            path: output.clone(),
            source,
        });
    if let Err(e) = written.and_then(|()| file_out.commit()) {
        eprintln!("maple capture: {e}");
        return ExitCode::FAILURE;
    }
    let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    eprintln!("{}", summary(base, &outcome, &output, size));
    let code = outcome.status.code();
    ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1))
}

/// What maple says when an interrupt comes.
fn interrupt_line(interrupt: Interrupt) -> String {
    match interrupt {
        Interrupt::Passed { signal, forwarded } => format!(
            "maple capture: signal {signal} {} the program; recording goes on until it ends \
             (interrupt again to stop it and keep what was recorded)",
            if forwarded { "passed on to" } else { "reached" }
        ),
        Interrupt::Stopping => {
            "maple capture: stopping the program; the trace keeps what was recorded, marked cut \
             short"
                .to_owned()
        }
    }
}

/// The progress line on stderr, drawn only when stderr is a terminal, and never over the
/// program's own output there: the tracer reports each write of the program to that terminal
/// before it happens ([`Capture::terminal`]); the line is cleared then, and drawn again only
/// once the program's last write ended a line and [`QUIET`] passed without another.
#[derive(Debug)]
struct StatusLine {
    /// The terminal's device number, when the line is drawn at all.
    terminal: Option<u64>,
    /// Whether the line is on the screen now.
    shown: bool,
    /// When the program last wrote to the terminal, and whether that ended a line.
    program: Option<(Instant, bool)>,
}

/// How long the program must keep quiet on the terminal before the line comes back.
const QUIET: Duration = Duration::from_millis(500);

impl StatusLine {
    fn new(wanted: bool) -> StatusLine {
        let stderr = std::io::stderr();
        let terminal = (wanted && stderr.is_terminal())
            .then(|| std::fs::metadata("/proc/self/fd/2").ok())
            .flatten()
            .map(|m| m.rdev());
        StatusLine {
            terminal,
            shown: false,
            program: None,
        }
    }

    /// Draws `text` if the terminal is the line's.
    fn show(&mut self, text: &str) {
        if self.terminal.is_none() {
            return;
        }
        let free = self
            .program
            .is_none_or(|(at, newline)| newline && at.elapsed() >= QUIET);
        if self.shown || free {
            eprint!("\r\x1b[Kmaple capture: {text}");
            self.shown = true;
        }
    }

    /// The program is about to write to the terminal: the line goes away first.
    fn program_wrote(&mut self, newline: bool) {
        self.clear();
        self.program = Some((Instant::now(), newline));
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }

    /// Clears the line for good; if the program left the terminal inside a line, what maple
    /// writes next starts on a new one.
    fn finish(&mut self) {
        self.clear();
        if self.terminal.is_some() && self.program.is_some_and(|(_, newline)| !newline) {
            eprintln!();
        }
    }
}

/// `2/5 processes, 12,345 ops, 678 snapshots, 3.2 s`.
fn progress_line(p: &Progress) -> String {
    format!(
        "{}/{} processes, {} ops, {} snapshots, {:.1} s",
        p.processes_live,
        p.processes_total,
        thousands(p.ops),
        thousands(p.snapshots),
        p.elapsed.as_secs_f64()
    )
}

/// The closing paragraph: status, ops by kind, snapshots, spaces, output size, and warnings.
fn summary(program: &str, outcome: &CaptureOutcome, output: &Path, size: u64) -> String {
    let stats = &outcome.stats;
    let mut kinds: Vec<(&str, u64)> = stats.ops_by_kind.iter().map(|(&k, &n)| (k, n)).collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let kinds: Vec<String> = kinds
        .iter()
        .map(|(kind, n)| format!("{kind} {}", thousands(*n)))
        .collect();
    let mut text = format!(
        "maple capture: {program} {} after {:.2} s ({} syscall stops; maps read {} times and \
         smaps {} times, in {:.2} s). Recorded {} ops ({}; {} failed) and {} snapshots of {} address \
         spaces (peak {} VMAs) from {} processes and {} threads, {} files; wrote {} ({}).",
        outcome.status,
        stats.elapsed.as_secs_f64(),
        thousands(stats.syscall_stops),
        thousands(stats.maps_reads),
        thousands(stats.smaps_reads),
        stats.layout_time.as_secs_f64(),
        thousands(stats.ops),
        kinds.join(", "),
        thousands(stats.failed_ops),
        thousands(stats.snapshots),
        stats.spaces,
        stats.peak_vmas,
        stats.processes,
        stats.threads,
        stats.files,
        output.display(),
        human_size(size),
    );
    if outcome.cut_short {
        text.push_str(
            " Cut short by a second interrupt: the trace holds what was recorded until then \
             (marked `E cut-short`; the replay says so).",
        );
    } else if let Some(interrupted) = (stats.interrupts > 0).then_some(stats.interrupts) {
        let _ = write!(
            text,
            " The program had the interrupt ({interrupted}) and ended; the trace is complete."
        );
    }
    if stats.signals_dropped > 0 {
        let _ = write!(
            text,
            " Warning: {} real-time signals could not be passed on to the program.",
            stats.signals_dropped
        );
    }
    if stats.resyncs > 0 {
        let _ = write!(
            text,
            " Warning: {} syscall stops were out of step and taken as entries.",
            stats.resyncs
        );
    }
    if stats.foreign_calls > 0 {
        let _ = write!(
            text,
            " {} process_madvise calls on processes outside the trace were not recorded.",
            stats.foreign_calls
        );
    }
    text
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count as `812 B`, `45.3 KiB` or `2.10 MiB`.
fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    // NOTE: precision loss above 2^53 bytes does not matter for a display.
    #[expect(
        clippy::cast_precision_loss,
        reason = "an approximate size for a person"
    )]
    let b = bytes as f64;
    if b < KIB {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.2} MiB", b / (KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts get thousands separators.
    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    /// Sizes read as a person would write them.
    #[test]
    fn sizes() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(46_387), "45.3 KiB");
        assert_eq!(human_size(2_202_010), "2.10 MiB");
    }

    /// The progress line shows every count.
    #[test]
    fn progress_line_shows_the_counts() {
        let line = progress_line(&Progress {
            processes_live: 2,
            processes_total: 5,
            ops: 12_345,
            snapshots: 678,
            elapsed: Duration::from_millis(3200),
            interrupts: 0,
        });
        assert_eq!(line, "2/5 processes, 12,345 ops, 678 snapshots, 3.2 s");
    }
}
