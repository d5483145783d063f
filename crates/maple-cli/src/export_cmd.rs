//! `maple export TRACE [--space S] [--from N] [--to M] [--script] [-o FILE]`: the maple-tree
//! operations Linux's VMA code made for one address space of a trace, as an array of the
//! kernel's maple-tree tests or as a `maple script` ([`maple_trace::replay::export`]).
//!
//! The export is checked before it is written: its operations, replayed through our tree,
//! give the trace's VMA layout at every snapshot of the space. Errors are one line and exit
//! status 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use maple_trace::format::SpaceId;
use maple_trace::replay::export::{ExportOptions, export_reader};

use crate::output::{Output, OutputError};

/// Arguments of `maple export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The trace (`.mtrace.zst`, xz or plain text).
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,
    /// The address space to export (`maple replay` counts them; 1 is the first program).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub space: u32,
    /// The first step to export (counting from 1, as `maple replay` does); the tree's content
    /// before it comes first, as stores.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub from: u64,
    /// The last step to export [default: the end of the space].
    #[arg(long, value_name = "M")]
    pub to: Option<u64>,
    /// Write a `maple script` instead of the kernel's array.
    #[arg(long)]
    pub script: bool,
    /// The array's name in the kernel's test file.
    #[arg(long, default_value = "set_maple_export")]
    pub name: String,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(short, long, requires = "output")]
    pub force: bool,
}

/// `maple export`.
pub fn run(args: &ExportArgs) -> ExitCode {
    match export(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("maple export: {message}");
            ExitCode::FAILURE
        }
    }
}

fn export(args: &ExportArgs) -> Result<(), String> {
    let output = match &args.output {
        Some(path) => Some(Output::create(path, args.force).map_err(|e| e.to_string())?),
        None => None,
    };
    let reader = maple_trace::io::open(&args.trace).map_err(|e| e.to_string())?;
    let mut options = ExportOptions::new(SpaceId(args.space));
    options.from = args.from;
    options.to = args.to;
    let exported = export_reader(reader, &options);
    let exported = match exported {
        Ok(exported) => exported,
        Err(e) => {
            if let Some((out, _)) = output {
                out.discard();
            }
            return Err(format!("{}: {e}", args.trace.display()));
        }
    };
    let text = if args.script {
        exported.script()
    } else {
        exported.erase2(&args.name)
    };
    match output {
        Some((out, mut file)) => {
            let path = out.target().to_owned();
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|source| OutputError::Io { path, source }.to_string())?;
            out.commit().map_err(|e| e.to_string())?;
            eprintln!(
                "maple export: {} operations of address space {} (steps {}-{}), checked against {} \
                 snapshots; wrote {}",
                exported.ops.len(),
                exported.space,
                exported.steps.0,
                exported.steps.1,
                exported.checked,
                args.output
                    .as_ref()
                    .map_or_else(String::new, |p| p.display().to_string())
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    return Err(format!("cannot write the output: {e}"));
                }
                _ => {}
            }
        }
    }
    Ok(())
}
