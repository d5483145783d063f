//! Replays of the shipped traces of real programs (`testdata/traces/*.mtrace.zst`, the
//! `maple-trace` format: every `mmap`, `munmap`, `mprotect`, `brk`, `mremap`, fork, exec and
//! exit a program made) through `maple-mm`'s address-space model, with the maple tree as the
//! VMA index (`MapleIndex`, as Linux) and with a `BTreeMap` (`BTreeIndex`).
//!
//! Only those two peers take part: the VMA layer is written against its index trait, which
//! those two implement. The time is the model's time alone (`maple_trace::replay::Report::
//! model_time`: parsing, snapshots and bookkeeping excluded), over the trace's steps. It is a
//! sum of wall-clock times, one per call (a CPU clock would cost more than a call), so a
//! sample is a single replay, a fraction of a millisecond to a few milliseconds of model
//! time, and the rounds are many ([`Settings::trace_rounds`]): the median is then a replay
//! that no other work on the machine interrupted. The check is the steps replayed and the
//! largest VMA count of any address space, which must be equal for both engines.
//!
//! The traces may not exist yet: a missing folder, or one without `*.mtrace.zst` files, is
//! skipped with a note.

use std::path::{Path, PathBuf};
use std::time::Duration;

use maple_trace::Trace;
use maple_trace::replay::{Engine, ReplayOptions, replay};

use crate::Settings;
use crate::measure::{Cell, Contender, Sample, compare};
use crate::peers::{BTreeRanges, Maple, Peer};

/// The file name ending of a shipped trace.
pub const SUFFIX: &str = ".mtrace.zst";

/// The peers of the trace replays: maple-mm's two VMA indexes, named like the range-map peers
/// that are the same structures.
pub const PEERS: [(&str, Engine); 2] = [
    (Maple::NAME, Engine::Maple),
    (BTreeRanges::NAME, Engine::BTree),
];

/// A loaded trace.
#[derive(Debug)]
pub struct Loaded {
    /// The file name without [`SUFFIX`].
    pub name: String,
    /// The trace.
    pub trace: Trace,
}

/// The `*.mtrace.zst` files in `dir`, sorted by name; none if `dir` does not exist.
///
/// # Errors
///
/// `dir` exists but cannot be read.
pub fn find(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.to_string_lossy().ends_with(SUFFIX))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads and parses every trace of `files`.
///
/// # Errors
///
/// A file that cannot be read or parsed.
pub fn load(files: &[PathBuf]) -> Result<Vec<Loaded>, String> {
    files
        .iter()
        .map(|path| {
            let trace = maple_trace::io::read_file(path).map_err(|e| e.to_string())?;
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                .trim_end_matches(SUFFIX)
                .to_owned();
            Ok(Loaded { name, trace })
        })
        .collect()
}

/// Replays `trace` once on `engine`; returns the model's time, the steps and the check.
///
/// # Errors
///
/// The replay stopped (the model refused a layout from the trace).
pub fn replay_once(trace: &Trace, engine: Engine) -> Result<(Duration, u64, (u64, u64)), String> {
    let options = ReplayOptions {
        check: false,
        engine,
    };
    let report = replay(trace, &options, &mut |_, _| {}).map_err(|e| e.to_string())?;
    let check = (report.steps, report.peak_vmas as u64);
    Ok((report.model_time, report.steps, check))
}

/// One sample: one replay of `trace` on `engine`.
fn sample(trace: &Trace, engine: Engine) -> Result<Sample, String> {
    let (elapsed, ops, check) = replay_once(trace, engine)?;
    Ok(Sample {
        elapsed,
        ops,
        check,
    })
}

/// Times the replay of every shipped trace in the settings' folder; `skipped` gets a note
/// when there is none.
///
/// # Errors
///
/// A trace that cannot be read or replayed.
pub fn run(
    settings: &Settings,
    progress: &mut dyn FnMut(&str),
    skipped: &mut Vec<String>,
) -> Result<Vec<Cell>, String> {
    let files = find(&settings.vma_traces)?;
    if files.is_empty() {
        let note = format!(
            "trace replays: no shipped traces (*{SUFFIX}) in {}",
            settings.vma_traces.display()
        );
        progress(&format!("{note}; skipped"));
        skipped.push(note);
        return Ok(Vec::new());
    }
    progress(&format!("loading {} shipped trace(s)", files.len()));
    let traces = load(&files)?;
    let mut cells = Vec::new();
    for t in &traces {
        progress(&format!("trace replay of {}", t.name));
        // A failed replay ends the run with its message: run each engine once first, so that
        // the timed samples below cannot fail.
        let (_, steps, want) = replay_once(&t.trace, Engine::Maple)?;
        let (_, _, other) = replay_once(&t.trace, Engine::BTree)?;
        if other != want {
            return Err(format!(
                "trace {}: the btree engine replayed {other:?}, the maple engine {want:?}",
                t.name
            ));
        }
        let mut contenders: Vec<Contender<'_>> = PEERS
            .iter()
            .map(|&(name, engine)| {
                Contender::new(name, move || {
                    sample(&t.trace, engine).unwrap_or_else(|e| {
                        crate::measure::mismatch(&format!("trace {}", t.name), &e)
                    })
                })
            })
            .collect();
        cells.push(compare(
            "trace",
            &format!("trace_{}", t.name),
            steps,
            settings.trace_rounds,
            Some(want),
            &mut contenders,
        ));
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small trace: exec, three mmaps, an mprotect that splits one, a munmap, exit.
    const TEXT: &str = "#mapletrace 1\nN 1 t1 demo\n\
        S 1 1\nv 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
        m 1 t1 0 4000 rw- pa - 0 7f0000000000\n\
        m 1 t1 0 2000 r-- pa - 0 7effffffe000\n\
        p 1 t1 7f0000001000 1000 r-- 0\n\
        u 1 t1 7effffffe000 2000 0\n\
        X 1\n";

    #[test]
    fn both_engines_replay_a_trace_alike() {
        let trace = maple_trace::parse(TEXT.as_bytes()).unwrap();
        let (_, steps, maple) = replay_once(&trace, Engine::Maple).unwrap();
        let (_, _, btree) = replay_once(&trace, Engine::BTree).unwrap();
        assert_eq!(steps, 6);
        assert_eq!(maple, btree);
        // At the peak: the stack, the second mapping, and the first split in three by the
        // mprotect.
        assert_eq!(maple.1, 5);
    }

    #[test]
    fn a_missing_folder_has_no_traces() {
        let files = find(Path::new("/no/such/folder")).unwrap();
        assert!(files.is_empty());
    }

    #[test]
    fn a_run_without_traces_is_skipped_with_a_note() {
        let mut settings = Settings::new(true);
        settings.vma_traces = PathBuf::from("/no/such/folder");
        let mut skipped = Vec::new();
        let cells = run(&settings, &mut |_| {}, &mut skipped).unwrap();
        assert!(cells.is_empty());
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].contains("/no/such/folder"), "{}", skipped[0]);
    }
}
