//! The command line: `maple script FILE|-`, `maple replay FILE`, `maple import-strace LOG`,
//! `maple dump`.
//!
//! Exit statuses: 0 when the command did what was asked; 1 for a bad argument, a file that
//! cannot be read, output that cannot be written or a tree failure; 2 for a malformed script
//! line, or a replay that found a divergence from the kernel. Every error is one line on stderr.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

use crate::script::{self, Error};

/// `maple`: tools for the maple-tree range B-tree.
#[derive(Debug, Parser)]
#[command(
    name = "maple",
    version,
    about = "Tools for the maple-tree range B-tree"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `maple`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs a tree script and prints one line per query.
    #[command(
        long_about = "Runs a tree script against a fresh maple tree and prints one line per \
                      query, in order.",
        after_help = "Run `maple script --help` for the script format.",
        after_long_help = script::FORMAT
    )]
    Script {
        /// The script to run, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
    /// Replays a trace through maple-mm and, with --check, compares every step with the
    /// kernel's snapshots.
    #[command(
        long_about = "Replays a trace of real programs' VMA activity through maple-mm, starting \
                      each address space from the layout exec built. With --check, compares the \
                      model's VMAs with the kernel's after every step, explains what kernel state \
                      no system call shows (stack growth, anon_vma, ...) and reports the first \
                      divergence. Ends with a summary."
    )]
    Replay(crate::trace_cmd::ReplayArgs),
    /// Converts a `strace -f` log into a trace (without kernel snapshots).
    #[command(
        name = "import-strace",
        long_about = "Converts a log of `strace -f -y -e trace=%memory,%process -e signal=none` \
                      into a trace. strace shows no kernel layout, so the trace replays but cannot \
                      be checked step by step."
    )]
    ImportStrace(crate::trace_cmd::ImportArgs),
    /// Runs a program under ptrace and records its VMA activity as a trace.
    #[command(
        long_about = "Runs PROGRAM with its arguments under ptrace, following its forks, threads \
                      and execs, and records every memory system call with the kernel's VMA \
                      layout after each change into a zstd-compressed trace. Exits with the \
                      program's status.",
        after_help = "Example: maple capture -o gcc.mtrace.zst -- gcc -O2 -c file.c"
    )]
    Capture(crate::capture_cmd::CaptureArgs),
    /// Shows the tree of a trace step or of a script's final state, as text and as an SVG
    /// picture.
    #[command(
        long_about = "Shows a maple tree: the VMA tree of an address space after a step of a \
                      trace (with its /proc/PID/maps listing), or the tree a script leaves. \
                      Prints the nodes as text; with --svg, draws them as boxes of slots, with \
                      the path to --index highlighted.",
        after_help = "Examples:\n  maple dump gcc.mtrace.zst --step 120 --index 0x7f0000001000 --svg tree.svg\n  \
                      maple dump --script examples/scripts/tour.script --svg tour.svg --text"
    )]
    Dump(crate::dump_cmd::DumpArgs),
    /// Writes the maple-tree operations behind one address space of a trace, as a kernel test
    /// array or a script.
    #[command(
        long_about = "Replays a trace and writes the maple-tree operations Linux's VMA code made \
                      for one of its address spaces (stores of VMA ranges and NULL stores), as an \
                      array of the kernel's maple-tree tests (tools/testing/radix-tree/maple.c, \
                      replayed by check_erase2_testset) or, with --script, as a maple script. The \
                      operations are checked first: replayed through our tree, they give the \
                      trace's VMA layout at every snapshot of the space.",
        after_help = "Example: maple export gcc.mtrace.zst --space 2 --from 100 --to 200 -o set_cc1.c"
    )]
    Export(crate::export_cmd::ExportArgs),
    /// Runs seeded random programs of memory calls on this kernel and checks maple-mm
    /// against every step.
    #[command(
        long_about = "Generates seeded random C programs of memory calls (mmap, munmap, \
                      mprotect, every mremap form, every madvise advice but the memory-failure \
                      ones, the mlock family, brk, page faults and forks) that stay inside a \
                      window of their own, builds each with cc, runs it under `maple capture` and \
                      replays the trace with checks. Prints each seed's result and the divergences \
                      by class; with --shrink, reduces each new class to a minimal program, \
                      printed as C and as a trace. Exits with 0 when every step matched, 2 when \
                      some did not, 1 when a program could not be built or run.",
        after_help = "Example: maple fuzz --seeds 100 --calls 400 --shrink"
    )]
    Fuzz(crate::fuzz_cmd::FuzzArgs),
}

/// Runs `maple` with `args` (the first is the program name) and returns its exit status.
/// Output goes to stdout, errors to stderr as one line each.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // `--help` and `--version` are not errors.
        Err(e) if !e.use_stderr() => {
            return match e.print() {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::FAILURE,
            };
        }
        Err(e) => {
            eprintln!("maple: {} (see `maple --help`)", one_line(&e));
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Script { file } => script_command(&file),
        Command::Capture(args) => crate::capture_cmd::run(args),
        Command::Replay(args) => crate::trace_cmd::replay_command(&args),
        Command::ImportStrace(args) => crate::trace_cmd::import_command(&args),
        Command::Dump(args) => crate::dump_cmd::run(&args),
        Command::Export(args) => crate::export_cmd::run(&args),
        Command::Fuzz(args) => crate::fuzz_cmd::run_command(&args),
    }
}

/// `maple script FILE|-`.
fn script_command(file: &Path) -> ExitCode {
    let stdout = io::stdout().lock();
    let (result, name) = if file == Path::new("-") {
        (
            script::run(io::stdin().lock(), stdout),
            "standard input".into(),
        )
    } else {
        match File::open(file) {
            Ok(f) => (
                script::run(BufReader::with_capacity(1 << 16, f), stdout),
                file.display().to_string(),
            ),
            Err(e) => {
                eprintln!("maple: cannot read {}: {}", file.display(), describe(&e));
                return ExitCode::FAILURE;
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ Error::Malformed { .. }) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(Error::Read(e)) => {
            eprintln!("maple: cannot read {name}: {}", describe(&e));
            ExitCode::FAILURE
        }
        // A reader that stopped early (`maple script x | head`) is not an error.
        Err(Error::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Error::Write(e)) => {
            eprintln!("maple: cannot write the output: {}", describe(&e));
            ExitCode::FAILURE
        }
        Err(e @ Error::Tree { .. }) => {
            eprintln!("maple: {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A clap error on one line: its first paragraph, without the `error: ` prefix, the usage and
/// the hint that follow.
fn one_line(e: &clap::Error) -> String {
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // Clap would print the whole help here.
        return "missing a subcommand, such as `maple script FILE|-`".to_owned();
    }
    let text = e.to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = paragraph.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// An I/O error as a person reads it: `No such file or directory`, without `(os error 2)`.
pub(crate) fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The clap definition is consistent (clap's own self-check).
    #[test]
    fn command_definition_is_valid() {
        Cli::command().debug_assert();
    }

    /// `--help` of `script` carries the whole format description.
    #[test]
    fn script_long_help_shows_the_format() {
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("script")
            .expect("the script subcommand exists")
            .render_long_help()
            .to_string();
        assert!(help.contains("A malformed line stops the script"), "{help}");
        assert!(help.contains("B min max size [value]"), "{help}");
    }

    /// `-` and a path both parse as the script argument.
    #[test]
    fn script_takes_a_file_or_dash() {
        for arg in ["-", "some/file.script"] {
            let cli = Cli::try_parse_from(["maple", "script", arg]).unwrap();
            let Command::Script { file } = cli.command else {
                panic!("`script` parses as the script command");
            };
            assert_eq!(file, Path::new(arg));
        }
        assert!(Cli::try_parse_from(["maple", "script"]).is_err());
        assert!(Cli::try_parse_from(["maple", "script", "a", "b"]).is_err());
    }

    /// Argument errors become one line that names the problem.
    #[test]
    fn argument_errors_fit_on_one_line() {
        let message = |args: &[&str]| one_line(&Cli::try_parse_from(args).unwrap_err());
        assert_eq!(
            message(&["maple"]),
            "missing a subcommand, such as `maple script FILE|-`"
        );
        assert_eq!(
            message(&["maple", "script"]),
            "the following required arguments were not provided: <FILE|->"
        );
        assert_eq!(
            message(&["maple", "script", "a", "b"]),
            "unexpected argument 'b' found"
        );
        assert_eq!(
            message(&["maple", "frobnicate"]),
            "unrecognized subcommand 'frobnicate'"
        );
    }

    /// OS error numbers are dropped from messages.
    #[test]
    fn describe_drops_the_os_error_number() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(describe(&e), "No such file or directory");
        let custom = io::Error::other("plain message");
        assert_eq!(describe(&custom), "plain message");
    }
}
