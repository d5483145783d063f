//! Instruction counts of the single-threaded workloads under `valgrind --tool=callgrind`, which
//! repeat exactly from run to run, unlike wall-clock times on a shared machine.
//!
//! Each (workload, N, peer) runs in its own process: this program with `--single WORKLOAD
//! --peer PEER --n N`, under
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=FILE --toggle-collect='*callgrind_measured_region*' \
//!     maple-bench --single load_hit --peer maple --n 100000
//! ```
//!
//! The child builds its inputs and structures with collection off; `--toggle-collect` switches
//! collection on only inside [`callgrind_measured_region`], which runs the measured operations
//! and nothing else (dropping what they built happens after it), so the `summary:` (or
//! `totals:`) line of the output file counts those operations alone. The child prints the
//! number of operations and their check on stdout; the instruction count per operation is the
//! total over that number, and the checks of all peers of a cell must agree. The same command
//! line, run by hand, gives the count of one cell.
//!
//! `trace_model` runs the same replays as `trace` but collects only inside the replay
//! engine's `model_call` (`--toggle-collect='*model_call*'`): the instructions of maple-mm's
//! system calls alone, without the engine's own bookkeeping.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde::Serialize;

use crate::Settings;
use crate::churn;
use crate::gap::{alloc_batch, find_gaps, free_batch};
use crate::input::{
    Fragmented, Pattern, SEED_ORDER, ascending, erase_queries, hit_queries, miss_queries, shuffled,
    wide_gap_sizes,
};
use crate::measure::mismatch;
use crate::peers::{
    AllocInto, Allocator, BTreeRanges, MapAllocator, Maple, Nodit, Peer, RangeMapPeer, VmAlloc,
};
use crate::point::{build, erase_all, insert_all, lookup_all};
use crate::replay;
use crate::trace;

/// The workloads `--single` runs, in table order.
pub const WORKLOADS: [&str; 14] = [
    "insert_seq",
    "insert_rand",
    "load_hit",
    "load_miss",
    "iterate",
    "erase_rand",
    "gap_low",
    "gap_high",
    "alloc_low",
    "alloc_high",
    "vma_churn",
    "replay",
    "trace",
    "trace_model",
];

/// Lookups per load workload.
const LOOKUPS: usize = 10_000;
/// Operations of the churn (its N is the number of live entries).
const CHURN_OPS: usize = 10_000;

/// The `--only` group a workload belongs to.
pub fn group_of(workload: &str) -> &'static str {
    match workload {
        "gap_low" | "gap_high" | "alloc_low" | "alloc_high" => "gap",
        "vma_churn" => "churn",
        "replay" => "replay",
        "trace" | "trace_model" => "trace",
        _ => "point",
    }
}

/// Whether a workload's size is fixed by its input (the captures or the traces), not by N.
pub fn fixed_size(workload: &str) -> bool {
    matches!(workload, "replay" | "trace" | "trace_model")
}

/// The function whose instructions a workload counts (the `--toggle-collect` pattern).
fn collected_in(workload: &str) -> &'static str {
    if workload == "trace_model" {
        "*model_call*"
    } else {
        "*callgrind_measured_region*"
    }
}

/// The peers of `workload`, ours first.
pub fn peers_of(workload: &str) -> Vec<&'static str> {
    if group_of(workload) == "trace" {
        return trace::PEERS.iter().map(|&(name, _)| name).collect();
    }
    let mut peers = vec![
        Maple::NAME,
        BTreeRanges::NAME,
        RangeMapPeer::NAME,
        Nodit::NAME,
    ];
    if workload.starts_with("alloc_") {
        peers.push(VmAlloc::NAME);
    }
    peers
}

/// Runs `f` where callgrind collects (see the module docs); never inlined, so that its name
/// stays in the binary for `--toggle-collect`.
#[inline(never)]
pub fn callgrind_measured_region<R>(f: impl FnOnce() -> R) -> R {
    black_box(f())
}

/// What one `--single` run did: operations measured and their check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SingleRun {
    /// Operations inside the measured region.
    pub ops: u64,
    /// The check of the operations, equal for all peers.
    pub check: (u64, u64),
}

/// The `--single` mode: sets up `workload` at `n` entries for `peer`, then runs its measured
/// operations once inside [`callgrind_measured_region`].
///
/// # Errors
///
/// An unknown workload or peer, a peer that does not take part in the workload, or unreadable
/// captures or traces.
pub fn single(
    workload: &str,
    peer: &str,
    n: usize,
    settings: &Settings,
) -> Result<SingleRun, String> {
    if !WORKLOADS.contains(&workload) {
        return Err(format!(
            "unknown workload {workload:?}; one of: {}",
            WORKLOADS.join(", ")
        ));
    }
    if !peers_of(workload).contains(&peer) {
        return Err(format!(
            "peer {peer:?} does not run {workload}; one of: {}",
            peers_of(workload).join(", ")
        ));
    }
    // The churn's N is its number of live entries (60 in the suite); the other inputs need
    // room for their patterns.
    let least = if workload == "vma_churn" { 1 } else { 256 };
    if n < least {
        return Err(format!("--n {n}: at least {least} entries"));
    }
    let traces = &settings.traces;
    if group_of(workload) == "trace" {
        return trace_single(peer, settings);
    }
    match peer {
        p if p == Maple::NAME => single_for::<Maple>(workload, n, traces),
        p if p == BTreeRanges::NAME => single_for::<BTreeRanges>(workload, n, traces),
        p if p == RangeMapPeer::NAME => single_for::<RangeMapPeer>(workload, n, traces),
        p if p == Nodit::NAME => single_for::<Nodit>(workload, n, traces),
        _ => Ok(alloc_single::<VmAlloc>(workload, n)),
    }
}

/// [`single`] for a range-map peer.
fn single_for<P: Peer + AllocInto>(
    workload: &str,
    n: usize,
    traces: &Path,
) -> Result<SingleRun, String> {
    let n64 = n as u64;
    let run = match workload {
        "insert_seq" | "insert_rand" => {
            let order = if workload == "insert_seq" {
                ascending(n)
            } else {
                shuffled(n, SEED_ORDER)
            };
            let mut p = callgrind_measured_region(|| {
                let mut p = P::empty(false);
                insert_all(&mut p, Pattern::Gapped, &order);
                p
            });
            SingleRun {
                ops: n64,
                check: p.count_and_sum(),
            }
        }
        "load_hit" | "load_miss" => {
            let queries = if workload == "load_hit" {
                hit_queries(Pattern::Gapped, n, LOOKUPS)
            } else {
                miss_queries(n, LOOKUPS)
            };
            let mut p = build::<P>(false, Pattern::Gapped, &ascending(n));
            SingleRun {
                ops: LOOKUPS as u64,
                check: callgrind_measured_region(|| lookup_all(&mut p, &queries)),
            }
        }
        "iterate" => {
            let mut p = build::<P>(false, Pattern::Gapped, &ascending(n));
            SingleRun {
                ops: n64,
                check: callgrind_measured_region(|| p.count_and_sum()),
            }
        }
        "erase_rand" => {
            let queries = erase_queries(Pattern::Gapped, n);
            let mut p = build::<P>(false, Pattern::Gapped, &ascending(n));
            SingleRun {
                ops: n64,
                check: callgrind_measured_region(|| erase_all(&mut p, &queries)),
            }
        }
        "gap_low" | "gap_high" => {
            let space = Fragmented::new(n);
            let sizes = wide_gap_sizes();
            let mut p = P::empty(true);
            for (first, last, value) in space.ranges() {
                p.insert(first, last, value);
            }
            let top_down = workload == "gap_high";
            SingleRun {
                ops: sizes.len() as u64,
                check: callgrind_measured_region(|| find_gaps(&mut p, &sizes, space.max, top_down)),
            }
        }
        "alloc_low" | "alloc_high" => alloc_single::<MapAllocator<P>>(workload, n),
        "vma_churn" => {
            let c = churn::generate(n, CHURN_OPS, churn::seed(n));
            let mut p = P::empty(true);
            churn::apply(&mut p, &c.setup);
            SingleRun {
                ops: c.ops.len() as u64,
                check: callgrind_measured_region(|| churn::apply(&mut p, &c.ops)),
            }
        }
        _ => {
            let captures = replay::load_dir(traces)?;
            let ops = captures.iter().map(|c| c.ops.len() as u64).sum();
            let mut leftovers = Vec::with_capacity(captures.len());
            let check = callgrind_measured_region(|| {
                captures.iter().fold((0u64, 0u64), |(a, b), c| {
                    let ((x, y), leftover) = replay::replay::<P>(c, None);
                    leftovers.push(leftover);
                    (a + x, b.wrapping_add(y))
                })
            });
            drop(leftovers);
            SingleRun { ops, check }
        }
    };
    Ok(run)
}

/// [`single`] for the replays of the shipped traces through maple-mm, with `peer`'s engine
/// (`trace` and `trace_model` run the same; they differ in where callgrind collects).
fn trace_single(peer: &str, settings: &Settings) -> Result<SingleRun, String> {
    let engine = trace::PEERS
        .iter()
        .find(|&&(name, _)| name == peer)
        .map(|&(_, engine)| engine)
        .ok_or_else(|| format!("peer {peer:?} does not run trace"))?;
    let files = trace::find(&settings.vma_traces)?;
    if files.is_empty() {
        return Err(format!(
            "no shipped traces (*{}) in {}",
            trace::SUFFIX,
            settings.vma_traces.display()
        ));
    }
    let traces = trace::load(&files)?;
    let replayed = callgrind_measured_region(|| {
        traces
            .iter()
            .map(|t| trace::replay_once(&t.trace, engine))
            .collect::<Result<Vec<_>, String>>()
    })?;
    let (ops, check) = replayed
        .iter()
        .fold((0, (0, 0)), |(ops, (a, b)), &(_, steps, (x, y))| {
            (ops + steps, (a + x, b + y))
        });
    Ok(SingleRun { ops, check })
}

/// [`single`] for an allocation workload on allocator `A`.
fn alloc_single<A: Allocator>(workload: &str, n: usize) -> SingleRun {
    let space = Fragmented::new(n);
    let mut a = A::with_ranges(space.max, space.ranges());
    let mut starts = Vec::new();
    let top_down = workload == "alloc_high";
    // One batch taken and given back first, as every timed batch but the first is: the
    // allocator's own caches are warm, as they are in the timings.
    alloc_batch(&mut a, top_down, &mut starts);
    free_batch(&mut a, &starts);
    let check = callgrind_measured_region(|| alloc_batch(&mut a, top_down, &mut starts));
    SingleRun {
        ops: starts.len() as u64,
        check,
    }
}

/// The `--single` mode's line on stdout.
pub fn format_single(run: &SingleRun) -> String {
    format!("ops={} check={},{}", run.ops, run.check.0, run.check.1)
}

/// Parses [`format_single`]'s line.
fn parse_single(text: &str) -> Option<SingleRun> {
    let line = text.lines().find(|l| l.starts_with("ops="))?;
    let (ops, check) = line.strip_prefix("ops=")?.split_once(" check=")?;
    let (a, b) = check.split_once(',')?;
    Some(SingleRun {
        ops: ops.parse().ok()?,
        check: (a.parse().ok()?, b.trim().parse().ok()?),
    })
}

/// The event count of the `summary:` or `totals:` line of a callgrind output file (the first
/// event, instructions read, with the default options).
pub fn parse_total(out: &str) -> Option<u64> {
    let line = out
        .lines()
        .find(|l| l.starts_with("summary:"))
        .or_else(|| out.lines().find(|l| l.starts_with("totals:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One cell of the instruction-count table.
#[derive(Clone, Debug, Serialize)]
pub struct IrRow {
    /// The workload.
    pub workload: &'static str,
    /// Entries.
    pub n: u64,
    /// The peer.
    pub peer: &'static str,
    /// Instructions in the measured region.
    pub instructions: u64,
    /// Operations in the measured region.
    pub ops: u64,
    /// Instructions per operation.
    pub per_op: f64,
    /// Ours per operation over this peer's (below 1: ours runs fewer). 1 for ours.
    pub ratio: f64,
}

/// Whether `valgrind` can be run.
pub fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What one child under callgrind gave: the instructions counted and its own report.
type ChildResult = Result<(u64, SingleRun), String>;

/// The cells of a run: every (workload, N, peer) of the workloads in `groups`, at the settings'
/// callgrind sizes (the churn at its live-entry counts, the replays once).
pub fn cells(settings: &Settings, groups: &[&str], have_traces: bool) -> Vec<CgCell> {
    let mut cells = Vec::new();
    for &workload in &WORKLOADS {
        if !groups.contains(&group_of(workload)) || (group_of(workload) == "trace" && !have_traces)
        {
            continue;
        }
        let sizes: &[usize] = if fixed_size(workload) {
            &[1_000]
        } else if workload == "vma_churn" {
            &settings.churn_sizes
        } else {
            &settings.callgrind_sizes
        };
        for &n in sizes {
            for peer in peers_of(workload) {
                cells.push(CgCell { workload, n, peer });
            }
        }
    }
    cells
}

/// One (workload, N, peer) to count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgCell {
    /// The workload.
    pub workload: &'static str,
    /// Entries (live entries for the churn; unused by the replays).
    pub n: usize,
    /// The peer.
    pub peer: &'static str,
}

/// Runs every cell of the workloads in `groups` under callgrind, `jobs` processes at a time.
///
/// # Errors
///
/// valgrind missing or failing, or a child's output that cannot be read.
pub fn run(
    settings: &Settings,
    groups: &[&str],
    exe: &Path,
    jobs: usize,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<IrRow>, String> {
    if !valgrind_available() {
        return Err("--callgrind needs valgrind on PATH".to_owned());
    }
    let dir = std::env::temp_dir().join(format!("maple-bench-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let have_traces = !trace::find(&settings.vma_traces)?.is_empty();
    let cells = cells(settings, groups, have_traces);
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<ChildResult>>> = Mutex::new(vec![None; cells.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut next = next
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        let i = *next;
                        *next += 1;
                        i
                    };
                    let Some(&cell) = cells.get(i) else {
                        break;
                    };
                    let CgCell { workload, n, peer } = cell;
                    progress(&format!("callgrind {workload} {peer} n={n}"));
                    let out = dir.join(format!("{workload}.{n}.{}.out", peer.replace(' ', "_")));
                    let r = one(exe, &out, cell, settings);
                    results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rows = Vec::new();
    let mut ours = (0.0, (0, 0));
    for (&CgCell { workload, n, peer }, r) in cells.iter().zip(results) {
        let (instructions, run) = r.unwrap_or_else(|| Err("not run".to_owned()))?;
        let per_op = instructions as f64 / run.ops.max(1) as f64;
        // Ours comes first in every (workload, N).
        if peer == Maple::NAME {
            ours = (per_op, run.check);
        } else if run.check != ours.1 {
            mismatch(
                &format!("callgrind {workload} n={n}"),
                &format!("{peer} returned {:?}, maple {:?}", run.check, ours.1),
            );
        }
        rows.push(IrRow {
            workload,
            n: if fixed_size(workload) { 0 } else { n as u64 },
            peer,
            instructions,
            ops: run.ops,
            per_op,
            ratio: ours.0 / per_op,
        });
    }
    Ok(rows)
}

/// Runs one cell under callgrind; returns the instructions counted and the child's report.
fn one(exe: &Path, out: &PathBuf, cell: CgCell, settings: &Settings) -> ChildResult {
    let CgCell { workload, n, peer } = cell;
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!("--toggle-collect={}", collected_in(workload)))
        .arg(exe)
        .args([
            "--single",
            workload,
            "--peer",
            peer,
            "--n",
            &n.to_string(),
            "--traces",
        ])
        .arg(&settings.traces)
        .arg("--vma-traces")
        .arg(&settings.vma_traces)
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let fail = |what: &str| {
        format!(
            "callgrind {workload} {peer}: {what}: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )
    };
    if !output.status.success() {
        return Err(fail("the run failed"));
    }
    let run = parse_single(&stdout).ok_or_else(|| fail("no ops= line on stdout"))?;
    let text = std::fs::read_to_string(out).map_err(|e| fail(&e.to_string()))?;
    let total = parse_total(&text).ok_or_else(|| fail("no summary: line in the output file"))?;
    if total == 0 {
        return Err(fail(&format!(
            "no instructions counted inside {}",
            collected_in(workload)
        )));
    }
    Ok((total, run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_summary_line_and_the_child_line() {
        let out = "version: 1\nevents: Ir\nfn=foo\n1 5\nsummary: 123456\ntotals: 123456\n";
        assert_eq!(parse_total(out), Some(123_456));
        assert_eq!(parse_total("totals: 42\n"), Some(42));
        assert_eq!(parse_total("events: Ir\n"), None);
        let run = SingleRun {
            ops: 7,
            check: (3, 4),
        };
        assert_eq!(parse_single(&format_single(&run)), Some(run));
    }

    #[test]
    fn every_peer_of_every_workload_agrees_in_single_mode() {
        let settings = Settings::new(true);
        let have_traces = !trace::find(&settings.vma_traces).unwrap().is_empty();
        for workload in WORKLOADS {
            if group_of(workload) == "trace" && !have_traces {
                continue;
            }
            let runs: Vec<SingleRun> = peers_of(workload)
                .into_iter()
                .map(|p| single(workload, p, 1_000, &settings).unwrap())
                .collect();
            assert!(runs[0].ops > 0, "{workload}");
            assert!(runs.iter().all(|r| *r == runs[0]), "{workload}: {runs:?}");
        }
    }

    #[test]
    fn cells_follow_the_groups_and_sizes() {
        let settings = Settings::new(true);
        let all = cells(&settings, &["point", "churn", "trace"], true);
        let at = |w: &str| -> Vec<usize> {
            let mut n: Vec<usize> = all
                .iter()
                .filter(|c| c.workload == w)
                .map(|c| c.n)
                .collect();
            n.dedup();
            n
        };
        assert_eq!(at("insert_rand"), [1_000, 100_000]);
        assert_eq!(at("vma_churn"), settings.churn_sizes);
        assert_eq!(at("trace").len(), 1);
        assert_eq!(at("trace_model").len(), 1);
        assert!(at("gap_low").is_empty() && at("replay").is_empty());
        assert!(cells(&settings, &["trace"], false).is_empty());
        // Ours first in every (workload, N).
        for (i, c) in all.iter().enumerate() {
            let first = i == 0 || (all[i - 1].workload, all[i - 1].n) != (c.workload, c.n);
            assert_eq!(first, c.peer == Maple::NAME, "{c:?}");
        }
    }

    #[test]
    fn single_rejects_unknown_names() {
        let mut settings = Settings::new(true);
        assert!(single("nope", "maple", 1_000, &settings).is_err());
        assert!(single("load_hit", "vm-allocator", 1_000, &settings).is_err());
        assert!(single("load_hit", "maple", 10, &settings).is_err());
        assert!(single("vma_churn", "maple", 0, &settings).is_err());
        assert_eq!(
            single("vma_churn", "nodit", 60, &settings).unwrap().ops,
            10_000
        );
        assert!(single("trace", "rangemap", 1_000, &settings).is_err());
        assert!(single("trace_model", "nodit", 1_000, &settings).is_err());
        settings.vma_traces = PathBuf::from("/no/such/folder");
        let e = single("trace", "maple", 1_000, &settings).unwrap_err();
        assert!(e.contains("no shipped traces"), "{e}");
    }
}
