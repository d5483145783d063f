//! `maple replay` and `maple import-strace`: the trace subcommands.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use maple_trace::format::Header;
use maple_trace::replay::{Engine, ReplayOptions, Report, replay_reader};
use serde_json::json;

use crate::output::{Output, OutputError};

/// The VMA index to replay with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// The maple tree, as Linux.
    Maple,
    /// The standard library's BTreeMap.
    Btree,
}

/// Arguments of `maple replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The trace (`.mtrace.zst`, xz or plain text).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Compare the model with every kernel snapshot.
    #[arg(long)]
    pub check: bool,
    /// The VMA index.
    #[arg(long, value_enum, default_value_t = EngineArg::Maple)]
    pub engine: EngineArg,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `maple import-strace`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The `strace -f` log (plain, xz or zstd).
    #[arg(value_name = "LOG")]
    pub log: PathBuf,
    /// Where to write the trace [default: beside the log, its name with `.strace.mtrace.zst`
    /// for the log's suffix, so that it cannot take the name `maple capture` gives a trace].
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(short, long)]
    pub force: bool,
}

/// A spinner on stderr counting records, drawn only on a terminal.
pub(crate) fn records_spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
    if !io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} {what}: {{human_pos}} records ({{per_sec}}, {{elapsed}})"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// `maple replay`: reads the trace as it replays it, so that memory stays proportional to the
/// largest address space.
pub fn replay_command(args: &ReplayArgs) -> ExitCode {
    let reader = match maple_trace::io::open(&args.file) {
        Ok(reader) => reader,
        Err(e) => {
            eprintln!("maple: {e}");
            return ExitCode::FAILURE;
        }
    };
    let header = reader.header().clone();
    let engine = match args.engine {
        EngineArg::Maple => Engine::Maple,
        EngineArg::Btree => Engine::BTree,
    };
    let options = ReplayOptions {
        check: args.check,
        engine,
    };
    let bar = records_spinner("replaying");
    let result = replay_reader(reader, &options, &mut |done| {
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("maple: {}: {e}", args.file.display());
            return ExitCode::FAILURE;
        }
    };
    let text = if args.json {
        format!("{:#}\n", report_json(&args.file, &header, &report))
    } else {
        let mut text = format!("trace:           {}", args.file.display());
        if let Some(name) = &header.name {
            text.push_str(&format!(" ({name})"));
        }
        if let Some(kernel) = &header.kernel {
            text.push_str(&format!(", captured on Linux {kernel}"));
        }
        text.push('\n');
        if args.check && !report.checked {
            text.push_str(
                "note:            this trace has no kernel snapshots: nothing to check against\n",
            );
        }
        text.push_str(&report.to_string());
        text
    };
    if io::stdout().lock().write_all(text.as_bytes()).is_err() {
        return ExitCode::FAILURE;
    }
    // Unchecked steps are reported as such, not as divergences.
    if report.steps_wrong() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The summary as JSON.
fn report_json(file: &Path, header: &Header, report: &Report) -> serde_json::Value {
    let divergence = report.first_divergence.as_ref().map(|d| {
        json!({
            "step": d.step,
            "space": d.space.0,
            "op": d.op,
            "kind": d.kind.name(),
            "detail": d.detail,
            "ours": d.ours,
            "kernel": d.kernel,
        })
    });
    json!({
        "trace": file.display().to_string(),
        "name": header.name,
        "kernel": header.kernel,
        "cut_short": report.cut_short,
        "engine": report.engine.name(),
        "checked": report.checked,
        "steps": report.steps,
        "steps_matching": report.steps_matching,
        "steps_unchecked": report.steps_unchecked,
        "steps_judged_late": report.steps_judged_late,
        "comparisons": report.comparisons,
        "operations": report.ops,
        "failures_reproduced": report.failures_reproduced,
        "failures_skipped": report.failures_skipped,
        "resyncs": report.resyncs,
        "divergences": report.divergences,
        "first_divergence": divergence,
        "spaces": report.spaces,
        "peak_vmas": report.peak_vmas,
        "peak_tree": report.peak_tree.map(|t| json!({
            "vmas": t.vmas,
            "height": t.height,
            "nodes": t.nodes,
            "bytes_per_vma": t.bytes_per_vma,
        })),
        "ops_per_sec": report.ops_per_sec(),
        "model_seconds": report.model_time.as_secs_f64(),
        "elapsed_seconds": report.elapsed.as_secs_f64(),
    })
}

/// `maple import-strace`.
pub fn import_command(args: &ImportArgs) -> ExitCode {
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.log));
    let (file_out, file) = match Output::create(&output, args.force) {
        Ok(created) => created,
        Err(e) => {
            eprintln!("maple: {e}");
            return ExitCode::FAILURE;
        }
    };
    let imported = maple_trace::io::read_bytes(&args.log)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            maple_trace::strace::import(&bytes).map_err(|e| format!("{}: {e}", args.log.display()))
        });
    let mut trace = match imported {
        Ok(trace) => trace,
        Err(e) => {
            file_out.discard();
            eprintln!("maple: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = output.file_name().map(|n| {
        n.to_string_lossy()
            .trim_end_matches(".mtrace.zst")
            .trim_end_matches(".strace")
            .to_owned()
    });
    trace.header.name = name;
    let written = maple_trace::io::write(&file, &trace)
        .and_then(|()| file.sync_all())
        .map_err(|source| OutputError::Io {
            path: output.clone(),
            source,
        });
    if let Err(e) = written.and_then(|()| file_out.commit()) {
        eprintln!("maple: {e}");
        return ExitCode::FAILURE;
    }
    let spaces = trace
        .records
        .iter()
        .filter(|r| {
            matches!(
                r,
                maple_trace::Record::Op {
                    op: maple_trace::format::Op::NewSpace { .. }
                        | maple_trace::format::Op::Fork { .. },
                    ..
                }
            )
        })
        .count();
    println!(
        "{}: {} operations in {spaces} address spaces (no snapshots: strace shows none)",
        output.display(),
        trace.op_count()
    );
    ExitCode::SUCCESS
}

/// `gcc.strace.xz` becomes `gcc.strace.mtrace.zst` beside it (`maple capture -- gcc` writes
/// `gcc.mtrace.zst`, which an import must not replace).
fn default_output(log: &Path) -> PathBuf {
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .trim_end_matches(".xz")
        .trim_end_matches(".zst")
        .trim_end_matches(".strace")
        .trim_end_matches(".log")
        .trim_end_matches(".txt");
    let stem = if stem.is_empty() { "trace" } else { stem };
    log.with_file_name(format!("{stem}.strace.mtrace.zst"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Imported traces are named after the log, with `.strace` kept before `.mtrace.zst`.
    #[test]
    fn import_names_cannot_take_a_capture_name() {
        for (log, trace) in [
            ("dir/gcc.strace.xz", "dir/gcc.strace.mtrace.zst"),
            ("node.strace", "node.strace.mtrace.zst"),
            ("run.log.zst", "run.strace.mtrace.zst"),
            ("plain", "plain.strace.mtrace.zst"),
            (".strace", "trace.strace.mtrace.zst"),
        ] {
            assert_eq!(default_output(Path::new(log)), Path::new(trace), "{log}");
        }
    }
}
