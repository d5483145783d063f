//! The results of a run: Markdown tables, the targets judged on them, and the JSON
//! document of `--json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::callgrind::IrRow;
use crate::concurrent::{ConcurrentRow, Locked, Shared};
use crate::input::Pattern;
use crate::measure::Cell;
use crate::memory::{MAPLE_HEAP, MAPLE_NODES, MemRow};
use crate::peers::{BTreeRanges, Maple, Nodit, Peer, RangeMapPeer, VmAlloc};

/// The machine a run was on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// Memory in GiB from `/proc/meminfo`.
    pub memory_gib: f64,
    /// Kernel release from `/proc/sys/kernel/osrelease`.
    pub kernel: String,
    /// Load averages (1, 5, 15 minutes) at the start of the run.
    pub load_at_start: String,
    /// Load averages at the end of the run.
    pub load_at_end: String,
}

impl Machine {
    /// Reads what `/proc` says about this machine; the end load is filled in later.
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, m)| m.trim().to_owned());
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
        Self {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            memory_gib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_at_start: load_average(),
            load_at_end: String::new(),
        }
    }
}

/// The 1, 5 and 15-minute load averages from `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// How a run stands against one of the targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The figures meet the target.
    Met,
    /// The figures miss the target.
    Missed,
    /// A figure the issue asks to report, without a target.
    Reported,
    /// The run did not measure the size the target is set at (`--quick`); the figures at its
    /// largest size are shown as an indication only.
    Indicative,
    /// The run has no figures for it (`--only`).
    NotMeasured,
}

impl Verdict {
    /// `Met` or `Missed`.
    fn of(met: bool) -> Self {
        if met { Verdict::Met } else { Verdict::Missed }
    }

    /// The word in the targets table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Met => "**met**",
            Verdict::Missed => "**missed**",
            Verdict::Reported => "reported",
            Verdict::Indicative => "indicative (no 1M in this run)",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One of the targets, judged on a run.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// What the issue asks.
    pub target: &'static str,
    /// How the run stands against it.
    pub verdict: Verdict,
    /// The figures it was judged on.
    pub detail: String,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The command line.
    pub command: String,
    /// `full` or `quick`.
    pub mode: &'static str,
    /// The machine.
    pub machine: Machine,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// Timed workloads, single-threaded.
    pub cells: Vec<Cell>,
    /// Readers beside a writer.
    pub concurrent: Vec<ConcurrentRow>,
    /// Bytes per entry.
    pub memory: Vec<MemRow>,
    /// Instruction counts (`--callgrind`).
    pub callgrind: Vec<IrRow>,
    /// The targets.
    pub targets: Vec<Target>,
    /// Workloads left out because their inputs do not exist, and why.
    pub skipped: Vec<String>,
}

/// The detail of a target the run has no figures for.
const NO_FIGURES: &str = "no figures in this run";

/// The columns of the single-threaded tables, ours first.
const COLUMNS: [&str; 5] = [
    Maple::NAME,
    BTreeRanges::NAME,
    RangeMapPeer::NAME,
    Nodit::NAME,
    VmAlloc::NAME,
];

/// A time per operation, with a precision that suits its size.
fn ns(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0} µs", v / 1_000.0)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A ratio such as `2.31x`, with a precision that suits its size.
pub fn ratio(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}x")
    } else if v >= 10.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.2}x")
    }
}

/// A count of items such as `1000000` written as `1M`.
pub fn size_label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

impl Report {
    /// The report as Markdown: the tables and the targets.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        self.time_table(&mut s);
        self.concurrent_table(&mut s);
        self.memory_table(&mut s);
        self.callgrind_table(&mut s);
        self.targets_table(&mut s);
        for note in &self.skipped {
            let _ = writeln!(s, "Skipped: {note}.\n");
        }
        s
    }

    fn time_table(&self, s: &mut String) {
        if self.cells.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Time per operation (ns, median) and ratio to maple (same run; above 1x: maple is faster)\n"
        );
        let _ = writeln!(s, "| workload | N | {} |", COLUMNS.join(" | "));
        let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(COLUMNS.len()));
        for c in &self.cells {
            let mut row = format!("| {} | {} |", c.workload, size_label(c.n));
            for col in COLUMNS {
                let cell = match c.peer(col) {
                    Some(p) if col == Maple::NAME => ns(p.ns_per_op),
                    Some(p) => format!("{} ({})", ns(p.ns_per_op), ratio(p.ratio)),
                    None => "–".to_owned(),
                };
                let _ = write!(row, " {cell} |");
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(
            s,
            "\nN: entries (point and gap workloads), live entries (vma_churn), operations in the capture (replay_*), steps in the trace (trace_*: maple-mm with the maple tree or a BTreeMap as its VMA index). µs: microseconds per operation.\n"
        );
    }

    fn concurrent_table(&self, s: &mut String) {
        if self.concurrent.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Readers beside a writer (medians; ratio = maple's reads/s over this structure's, same round)\n"
        );
        let _ = writeln!(
            s,
            "| N | readers | structure | M reads/s alone | M reads/s beside the writer | ratio beside the writer | writer k steps/s | reader CPU | writer CPU |"
        );
        let _ = writeln!(s, "|---:|---:|---|---:|---:|---:|---:|---:|---:|");
        for r in &self.concurrent {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.2} | {} | {:.0} | {:.0} % | {:.0} % |",
                size_label(r.n),
                r.readers,
                r.peer,
                r.reads_alone / 1e6,
                r.reads_busy / 1e6,
                ratio(r.ratio_busy),
                r.writes_busy / 1e3,
                100.0 * r.reader_cpu_busy,
                100.0 * r.writer_cpu_busy
            );
        }
        let _ = writeln!(
            s,
            "\nreader CPU, writer CPU: each thread's CPU time over the wall time beside the writer (from /proc/thread-self/stat). A reader below 100 % waited, for the lock or for a core: with other work on the machine, reader and writer share cores and a lock is rarely contended.\n"
        );
    }

    fn memory_table(&self, s: &mut String) {
        if self.memory.is_empty() {
            return;
        }
        let mut peers: Vec<&'static str> = Vec::new();
        for r in &self.memory {
            if !peers.contains(&r.peer) {
                peers.push(r.peer);
            }
        }
        let _ = writeln!(
            s,
            "## Bytes per entry (ratio = this over maple's nodes x 256; above 1x: maple is smaller)\n"
        );
        let _ = writeln!(s, "| N | pattern | order | {} |", peers.join(" | "));
        let _ = writeln!(s, "|---:|---|---|{}", "---:|".repeat(peers.len()));
        let mut i = 0;
        while i < self.memory.len() {
            let first = &self.memory[i];
            let group: Vec<&MemRow> = self.memory[i..]
                .iter()
                .take_while(|r| {
                    r.n == first.n && r.pattern == first.pattern && r.order == first.order
                })
                .collect();
            i += group.len();
            let mut row = format!(
                "| {} | {} | {} |",
                size_label(first.n),
                first.pattern.name(),
                first.order
            );
            for p in &peers {
                let cell = match group.iter().find(|r| r.peer == *p) {
                    Some(r) if r.peer == MAPLE_NODES => format!("{:.1}", r.bytes_per_entry),
                    Some(r) => format!("{:.1} ({})", r.bytes_per_entry, ratio(r.ratio)),
                    None => "–".to_owned(),
                };
                let _ = write!(row, " {cell} |");
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(s);
    }

    fn callgrind_table(&self, s: &mut String) {
        if self.callgrind.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Instructions per operation (valgrind callgrind; exact, repeatable) and ratio to maple\n"
        );
        let _ = writeln!(s, "| workload | N | {} |", COLUMNS.join(" | "));
        let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(COLUMNS.len()));
        let mut workloads: Vec<&str> = Vec::new();
        for r in &self.callgrind {
            if !workloads.contains(&r.workload) {
                workloads.push(r.workload);
            }
        }
        for w in workloads {
            let rows: Vec<&IrRow> = self.callgrind.iter().filter(|r| r.workload == w).collect();
            let n = rows.first().map_or(0, |r| r.n);
            let n = if matches!(w, "vma_churn" | "replay" | "trace") {
                "–".to_owned()
            } else {
                size_label(n)
            };
            let mut row = format!("| {w} | {n} |");
            for col in COLUMNS {
                let cell = match rows.iter().find(|r| r.peer == col) {
                    Some(r) if col == Maple::NAME => format!("{:.0}", r.per_op),
                    Some(r) => format!("{:.0} ({})", r.per_op, ratio(r.ratio)),
                    None => "–".to_owned(),
                };
                let _ = write!(row, " {cell} |");
            }
            let _ = writeln!(s, "{row}");
        }
        let _ = writeln!(s);
    }

    fn targets_table(&self, s: &mut String) {
        if self.targets.is_empty() {
            return;
        }
        let _ = writeln!(s, "## Targets of the issue\n");
        let _ = writeln!(s, "| target | met? | figures (this run) |");
        let _ = writeln!(s, "|---|---|---|");
        for t in &self.targets {
            let _ = writeln!(s, "| {} | {} | {} |", t.target, t.verdict.label(), t.detail);
        }
        let _ = writeln!(s);
    }

    /// Judges the targets on this run's figures (at its largest N).
    pub fn judge(&mut self) {
        let largest = self
            .cells
            .iter()
            .filter(|c| c.group == "point")
            .map(|c| c.n)
            .max();
        let mut targets = Vec::new();
        let at = |n: Option<u64>| n.map_or_else(String::new, |n| format!("N={}: ", size_label(n)));

        let mut min_ratio = |workloads: &[&str], peers: &[&str], bar: f64, target: &'static str| {
            let mut worst: Option<(f64, String)> = None;
            let mut parts = Vec::new();
            for c in self
                .cells
                .iter()
                .filter(|c| Some(c.n) == largest && workloads.contains(&c.workload.as_str()))
            {
                for p in c.peers.iter().filter(|p| peers.contains(&p.peer)) {
                    parts.push(format!("{} {} {}", c.workload, p.peer, ratio(p.ratio)));
                    if worst.as_ref().is_none_or(|(r, _)| p.ratio < *r) {
                        worst = Some((p.ratio, format!("{} {}", c.workload, p.peer)));
                    }
                }
            }
            // The ratio targets are set at a million entries.
            let verdict = match &worst {
                None => Verdict::NotMeasured,
                Some(_) if largest != Some(1_000_000) => Verdict::Indicative,
                Some((r, _)) => Verdict::of(*r >= bar),
            };
            let detail = match &worst {
                Some((r, who)) => format!(
                    "{}lowest {} ({who}); {}",
                    at(largest),
                    ratio(*r),
                    parts.join(", ")
                ),
                None => NO_FIGURES.to_owned(),
            };
            targets.push(Target {
                target,
                verdict,
                detail,
            });
        };
        let range_peers = [BTreeRanges::NAME, RangeMapPeer::NAME, Nodit::NAME];
        min_ratio(
            &["load_hit", "load_miss"],
            &range_peers,
            1.4,
            "load at 1M: every peer at least 1.4x slower",
        );
        min_ratio(
            &["insert_rand", "erase_rand"],
            &range_peers,
            1.0,
            "random insert and erase at 1M: no peer faster",
        );
        min_ratio(
            &["alloc_low", "alloc_high"],
            &[
                BTreeRanges::NAME,
                RangeMapPeer::NAME,
                Nodit::NAME,
                VmAlloc::NAME,
            ],
            20.0,
            "gap alloc at 1M fragmented: at least 20x faster than vm-allocator and the linear scans",
        );
        targets.push(self.memory_target(Pattern::Adjacent));
        targets.push(self.memory_target(Pattern::Gapped));
        targets.push(self.concurrent_target());
        self.targets = targets;
    }

    /// Bytes per entry on one pattern: ours (nodes x 256) against every other structure.
    fn memory_target(&self, pattern: Pattern) -> Target {
        let rows: Vec<&MemRow> = self
            .memory
            .iter()
            .filter(|r| r.pattern == pattern && r.peer != MAPLE_NODES && r.peer != MAPLE_HEAP)
            .collect();
        let worst = rows.iter().min_by(|a, b| a.ratio.total_cmp(&b.ratio));
        let smaller: Vec<String> = rows
            .iter()
            .filter(|r| r.ratio <= 1.0)
            .map(|r| {
                format!(
                    "{} at N={} {} ({:.1} B, {})",
                    r.peer,
                    size_label(r.n),
                    r.order,
                    r.bytes_per_entry,
                    ratio(r.ratio)
                )
            })
            .collect();
        let target = match pattern {
            Pattern::Adjacent => "bytes per entry on adjacent ranges: fewer than every peer",
            Pattern::Gapped => "bytes per entry on gapped ranges (reported, no target)",
        };
        let detail = match worst {
            None => NO_FIGURES.to_owned(),
            Some(w) if smaller.is_empty() => format!(
                "every structure uses more than maple's nodes x 256; closest {} at N={} {} ({})",
                w.peer,
                size_label(w.n),
                w.order,
                ratio(w.ratio)
            ),
            Some(_) => format!("as small as or smaller than maple: {}", smaller.join("; ")),
        };
        let verdict = match (pattern, worst) {
            (_, None) => Verdict::NotMeasured,
            (Pattern::Adjacent, Some(w)) => Verdict::of(w.ratio > 1.0),
            (Pattern::Gapped, Some(_)) => Verdict::Reported,
        };
        Target {
            target,
            verdict,
            detail,
        }
    }

    /// Readers beside a writer against `RwLock<BTreeMap>`.
    fn concurrent_target(&self) -> Target {
        let rows: Vec<&ConcurrentRow> = self
            .concurrent
            .iter()
            .filter(|r| r.peer == Locked::NAME)
            .collect();
        let worst = rows
            .iter()
            .min_by(|a, b| a.ratio_busy.total_cmp(&b.ratio_busy));
        let parts: Vec<String> = rows
            .iter()
            .map(|r| format!("N={} {}", size_label(r.n), ratio(r.ratio_busy)))
            .collect();
        Target {
            target: "readers beside an active writer: at least 3x the read throughput of RwLock<BTreeMap>",
            verdict: worst.map_or(Verdict::NotMeasured, |w| Verdict::of(w.ratio_busy >= 3.0)),
            detail: if parts.is_empty() {
                NO_FIGURES.to_owned()
            } else {
                format!(
                    "{} reader(s) + 1 writer: {}",
                    rows[0].readers,
                    parts.join(", ")
                )
            },
        }
    }
}
