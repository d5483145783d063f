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
    /// The run did not measure every size the target is set at (`--quick`); the figures it
    /// has are shown as an indication only.
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
            Verdict::Indicative => "indicative (not every size in this run)",
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

/// Instructions per allocation of the maple tree before issue 11 (the tree of main at
/// a8f9c71, counted by this suite's `--callgrind`): (workload, N, instructions).
const ALLOC_INSTRUCTIONS_BEFORE: [(&str, u64, f64); 4] = [
    ("alloc_low", 1_000, 2_667.0),
    ("alloc_high", 1_000, 4_461.0),
    ("alloc_low", 100_000, 4_712.0),
    ("alloc_high", 100_000, 6_922.0),
];

/// Time per allocation of the maple tree at N = 1M before issue 11 (ns; the tree of main at
/// e621a38, the median of five runs of this suite's gap group, each a median of five rounds,
/// on the 2-core development machine at load 9 to 12, where single runs ranged from 267 to
/// 1,471 ns for `alloc_low` and from 464 ns to 147 µs for `alloc_high`).
const ALLOC_NS_BEFORE_1M: [(&str, f64); 2] = [("alloc_low", 834.0), ("alloc_high", 1_793.0)];

/// Instructions per replayed step of the shipped traces on the maple index before issue 11
/// (main at a8f9c71, `--single trace --peer maple` under callgrind).
const TRACE_INSTRUCTIONS_BEFORE: f64 = 38_065.0;

/// The same, maple-mm's calls alone (`trace_model`), counted once the replay engine ran them
/// through `model_call` and before maple-mm changed.
const TRACE_MODEL_INSTRUCTIONS_BEFORE: f64 = 7_152.0;

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

/// A ratio such as `2.31x`, with a precision that suits its size: two significant digits
/// below 0.01 (`0.00038x`).
pub fn ratio(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}x")
    } else if v >= 10.0 {
        format!("{v:.1}x")
    } else if v >= 0.01 || v <= 0.0 || !v.is_finite() {
        format!("{v:.2}x")
    } else {
        let digits = (-v.log10()).floor() as usize + 2;
        format!("{v:.digits$}x")
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
            "## Time per operation (ns, median of the rounds); ratio = maple's median / the peer's (below 1x: maple is faster)\n"
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
            "## Readers beside a writer (medians); ratio = maple's time per read / this structure's, that is its reads/s / maple's (below 1x: maple reads faster)\n"
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
            "## Bytes per entry; ratio = maple's nodes x 256 / this structure's bytes (below 1x: maple is smaller)\n"
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
            "## Instructions per operation (valgrind callgrind; exact, repeatable); ratio = maple's count / the peer's (below 1x: maple runs fewer)\n"
        );
        let _ = writeln!(s, "| workload | N | {} |", COLUMNS.join(" | "));
        let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(COLUMNS.len()));
        let mut keys: Vec<(&str, u64)> = Vec::new();
        for r in &self.callgrind {
            if !keys.contains(&(r.workload, r.n)) {
                keys.push((r.workload, r.n));
            }
        }
        for (w, n) in keys {
            let rows: Vec<&IrRow> = self
                .callgrind
                .iter()
                .filter(|r| r.workload == w && r.n == n)
                .collect();
            let n = if n == 0 {
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
        let _ = writeln!(
            s,
            "\nN: entries; live entries for vma_churn; – for the replays (replay: the kernel's captures, per operation; trace: the shipped traces through maple-mm, per replayed step, replay engine included; trace_model: the same steps, maple-mm's calls alone).\n"
        );
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

    /// Judges the targets of issue 11 (speed against BTreeMap, gap allocation, maple-mm) and
    /// those of issue 7 still open (gap allocation against the peers, memory, readers) on this
    /// run's figures.
    pub fn judge(&mut self) {
        self.targets = vec![
            self.instruction_target(
                &["insert_seq", "insert_rand", "erase_rand"],
                1.5,
                "instructions per insert (ascending, random) and random erase at N = 1k and 100k: at most 1.5x BTreeMap's",
            ),
            self.instruction_target(
                &["iterate"],
                2.0,
                "instructions per entry iterated at N = 1k and 100k: at most 2x BTreeMap's",
            ),
            self.instruction_target(
                &["load_hit", "load_miss"],
                1.0,
                "instructions per load, hit and miss, at N = 1k and 100k: at most BTreeMap's",
            ),
            self.time_target(
                &["insert_rand", "erase_rand"],
                1.0,
                "time at N = 1M, random insert and random erase: no slower than BTreeMap",
            ),
            self.time_target(
                &["iterate"],
                1.0,
                "time at N = 1M, iterate: no slower than BTreeMap",
            ),
            self.time_target(
                &["load_hit", "load_miss"],
                1.0 / 1.5,
                "time at N = 1M, loads: at least 1.5x faster than BTreeMap (ratio at most 0.67x)",
            ),
            self.alloc_target(),
            self.trace_time_target(),
            self.churn_target(),
            self.trace_instruction_target(),
            self.alloc_peers_target(),
            self.memory_target(Pattern::Adjacent),
            self.memory_target(Pattern::Gapped),
            self.concurrent_target(),
        ];
    }

    /// Instructions per operation of `workloads` against BTreeMap at 1k and 100k: every ratio
    /// at most `bar`.
    fn instruction_target(&self, workloads: &[&str], bar: f64, target: &'static str) -> Target {
        let rows: Vec<&IrRow> = self
            .callgrind
            .iter()
            .filter(|r| {
                workloads.contains(&r.workload)
                    && r.peer == BTreeRanges::NAME
                    && matches!(r.n, 1_000 | 100_000)
            })
            .collect();
        let parts: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} {}: {:.0} vs {:.0} ({})",
                    r.workload,
                    size_label(r.n),
                    r.per_op * r.ratio,
                    r.per_op,
                    ratio(r.ratio)
                )
            })
            .collect();
        let worst = rows.iter().map(|r| r.ratio).fold(f64::NAN, f64::max);
        Target {
            target,
            verdict: if rows.is_empty() {
                Verdict::NotMeasured
            } else {
                Verdict::of(worst <= bar)
            },
            detail: if rows.is_empty() {
                NO_FIGURES.to_owned()
            } else {
                format!("highest {}; {}", ratio(worst), parts.join(", "))
            },
        }
    }

    /// The timed cells of `workloads` at the largest N the run measured them at.
    fn at_largest(&self, workloads: &[&str]) -> (Option<u64>, Vec<&Cell>) {
        let largest = self
            .cells
            .iter()
            .filter(|c| workloads.contains(&c.workload.as_str()))
            .map(|c| c.n)
            .max();
        let cells = self
            .cells
            .iter()
            .filter(|c| Some(c.n) == largest && workloads.contains(&c.workload.as_str()))
            .collect();
        (largest, cells)
    }

    /// Time of `workloads` against BTreeMap at 1M: every ratio at most `bar`.
    fn time_target(&self, workloads: &[&str], bar: f64, target: &'static str) -> Target {
        let (largest, cells) = self.at_largest(workloads);
        let parts: Vec<(f64, String)> = cells
            .iter()
            .filter_map(|c| {
                let (ours, theirs) = (c.peer(Maple::NAME)?, c.peer(BTreeRanges::NAME)?);
                Some((
                    theirs.ratio,
                    format!(
                        "{} {} vs {} ns ({})",
                        c.workload,
                        ns(ours.ns_per_op),
                        ns(theirs.ns_per_op),
                        ratio(theirs.ratio)
                    ),
                ))
            })
            .collect();
        let worst = parts.iter().map(|p| p.0).fold(f64::NAN, f64::max);
        let verdict = match largest {
            _ if parts.is_empty() => Verdict::NotMeasured,
            Some(1_000_000) => Verdict::of(worst <= bar),
            _ => Verdict::Indicative,
        };
        Target {
            target,
            verdict,
            detail: if parts.is_empty() {
                NO_FIGURES.to_owned()
            } else {
                format!(
                    "N={}: highest {}; {}",
                    size_label(largest.unwrap_or(0)),
                    ratio(worst),
                    parts
                        .into_iter()
                        .map(|p| p.1)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        }
    }

    /// Allocation (find and fill) against the figures before issue 11: half the instructions
    /// at 1k and 100k, and 1/1.6 of the time at 1M.
    fn alloc_target(&self) -> Target {
        let mut parts = Vec::new();
        let mut met = true;
        for &(workload, n, before) in &ALLOC_INSTRUCTIONS_BEFORE {
            if let Some(r) = self
                .callgrind
                .iter()
                .find(|r| r.workload == workload && r.n == n && r.peer == Maple::NAME)
            {
                met &= r.per_op <= before / 2.0;
                parts.push(format!(
                    "{workload} {}: {:.0} instructions (before {before:.0}, {})",
                    size_label(n),
                    r.per_op,
                    ratio(r.per_op / before)
                ));
            }
        }
        let mut timed_at_1m = false;
        for &(workload, before) in &ALLOC_NS_BEFORE_1M {
            if let Some(p) = self
                .cells
                .iter()
                .find(|c| c.workload == workload && c.n == 1_000_000)
                .and_then(|c| c.peer(Maple::NAME))
            {
                timed_at_1m = true;
                met &= p.ns_per_op <= before / 1.6;
                parts.push(format!(
                    "{workload} 1M: {} ns (before {before:.0}, {})",
                    ns(p.ns_per_op),
                    ratio(p.ns_per_op / before)
                ));
            }
        }
        Target {
            target: "gap allocation (find and fill), maple: at most half the instructions of before issue 11 at N = 1k and 100k, and 1/1.6 of the time at 1M",
            verdict: match (parts.is_empty(), timed_at_1m) {
                (true, _) => Verdict::NotMeasured,
                (false, true) => Verdict::of(met),
                (false, false) => Verdict::Indicative,
            },
            detail: if parts.is_empty() {
                NO_FIGURES.to_owned()
            } else {
                parts.join(", ")
            },
        }
    }

    /// Shipped trace replays: maple-mm on the maple index at least 1.2x faster than on the
    /// BTreeMap index (model time), on every trace.
    fn trace_time_target(&self) -> Target {
        let parts: Vec<(f64, String)> = self
            .cells
            .iter()
            .filter(|c| c.group == "trace")
            .filter_map(|c| {
                let p = c.peer(BTreeRanges::NAME)?;
                Some((p.ratio, format!("{} {}", c.workload, ratio(p.ratio))))
            })
            .collect();
        let worst = parts.iter().map(|p| p.0).fold(f64::NAN, f64::max);
        Target {
            target: "maple-mm replays of the shipped traces (model time): at least 1.2x faster on the maple index than on the BTreeMap index, every trace (ratio at most 0.83x)",
            verdict: if parts.is_empty() {
                Verdict::NotMeasured
            } else {
                Verdict::of(worst <= 1.0 / 1.2)
            },
            detail: if parts.is_empty() {
                NO_FIGURES.to_owned()
            } else {
                format!(
                    "highest {}; {}",
                    ratio(worst),
                    parts
                        .into_iter()
                        .map(|p| p.1)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        }
    }

    /// VMA churn at every live-entry count: no peer faster.
    fn churn_target(&self) -> Target {
        let mut parts = Vec::new();
        let mut worst = f64::NAN;
        let mut sizes = Vec::new();
        for c in self.cells.iter().filter(|c| c.workload == "vma_churn") {
            sizes.push(c.n);
            for p in c.peers.iter().skip(1) {
                worst = worst.max(p.ratio);
                parts.push(format!("{} {} {}", size_label(c.n), p.peer, ratio(p.ratio)));
            }
        }
        let all_sizes = [60, 500, 2_000].iter().all(|n| sizes.contains(n));
        Target {
            target: "VMA churn at 60, 500 and 2,000 live entries: no slower than any peer (ratio at most 1x)",
            verdict: match (parts.is_empty(), all_sizes) {
                (true, _) => Verdict::NotMeasured,
                (false, true) => Verdict::of(worst <= 1.0),
                (false, false) => Verdict::Indicative,
            },
            detail: if parts.is_empty() {
                NO_FIGURES.to_owned()
            } else {
                format!("highest {}; {}", ratio(worst), parts.join(", "))
            },
        }
    }

    /// Instructions per replayed step of the shipped traces: at most a third of before.
    fn trace_instruction_target(&self) -> Target {
        let find = |w: &str| {
            self.callgrind
                .iter()
                .find(|r| r.workload == w && r.peer == Maple::NAME)
        };
        let (whole, model) = (find("trace"), find("trace_model"));
        let mut detail = match whole {
            Some(r) => format!(
                "{:.0} per step, replay engine included (before {TRACE_INSTRUCTIONS_BEFORE:.0}, {})",
                r.per_op,
                ratio(r.per_op / TRACE_INSTRUCTIONS_BEFORE)
            ),
            None => NO_FIGURES.to_owned(),
        };
        if let Some(m) = model {
            let _ = write!(
                detail,
                "; maple-mm's calls alone {:.0} (before {TRACE_MODEL_INSTRUCTIONS_BEFORE:.0}, {})",
                m.per_op,
                ratio(m.per_op / TRACE_MODEL_INSTRUCTIONS_BEFORE)
            );
        }
        Target {
            target: "instructions per replayed step of the shipped traces (maple index): at most a third of before issue 11",
            verdict: whole.map_or(Verdict::NotMeasured, |r| {
                Verdict::of(r.per_op <= TRACE_INSTRUCTIONS_BEFORE / 3.0)
            }),
            detail,
        }
    }

    /// Issue 7: gap allocation at 1M at least 20x faster than every other allocator.
    fn alloc_peers_target(&self) -> Target {
        let (largest, cells) = self.at_largest(&["alloc_low", "alloc_high"]);
        let mut parts = Vec::new();
        let mut worst = f64::NAN;
        for c in cells {
            for p in c.peers.iter().skip(1) {
                worst = worst.max(p.ratio);
                parts.push(format!("{} {} {}", c.workload, p.peer, ratio(p.ratio)));
            }
        }
        Target {
            target: "(issue 7) gap allocation at N = 1M: at least 20x faster than vm-allocator and the linear scans (ratio at most 0.05x)",
            verdict: match largest {
                _ if parts.is_empty() => Verdict::NotMeasured,
                Some(1_000_000) => Verdict::of(worst <= 0.05),
                _ => Verdict::Indicative,
            },
            detail: if parts.is_empty() {
                NO_FIGURES.to_owned()
            } else {
                format!(
                    "N={}: highest {}; {}",
                    size_label(largest.unwrap_or(0)),
                    ratio(worst),
                    parts.join(", ")
                )
            },
        }
    }

    /// Bytes per entry on one pattern: ours (nodes x 256) against every other structure.
    fn memory_target(&self, pattern: Pattern) -> Target {
        let rows: Vec<&MemRow> = self
            .memory
            .iter()
            .filter(|r| r.pattern == pattern && r.peer != MAPLE_NODES && r.peer != MAPLE_HEAP)
            .collect();
        let worst = rows.iter().max_by(|a, b| a.ratio.total_cmp(&b.ratio));
        let smaller: Vec<String> = rows
            .iter()
            .filter(|r| r.ratio >= 1.0)
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
            Pattern::Adjacent => {
                "(issue 7) bytes per entry on adjacent ranges: fewer than every peer"
            }
            Pattern::Gapped => "(issue 7) bytes per entry on gapped ranges (reported, no target)",
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
            (Pattern::Adjacent, Some(w)) => Verdict::of(w.ratio < 1.0),
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
            .max_by(|a, b| a.ratio_busy.total_cmp(&b.ratio_busy));
        let parts: Vec<String> = rows
            .iter()
            .map(|r| format!("N={} {}", size_label(r.n), ratio(r.ratio_busy)))
            .collect();
        Target {
            target: "(issue 7) readers beside an active writer: at least 3x the read throughput of RwLock<BTreeMap> (ratio at most 0.33x)",
            verdict: worst.map_or(Verdict::NotMeasured, |w| {
                Verdict::of(w.ratio_busy <= 1.0 / 3.0)
            }),
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
