//! `maple-bench`: runs the fixed benchmark suite of the maple tree against every peer and prints
//! Markdown tables of medians and same-run ratios (see the `maple_bench` library docs for the
//! workloads and the method).
//!
//! ```text
//! cargo run --release -p maple-bench -- --quick                 # under a minute
//! cargo run --release -p maple-bench -- --callgrind --json docs/benchmarks/results.json --svg docs/benchmarks
//! ```
//!
//! Exit status: 0 on success, 1 when a run fails (peers disagree, a file cannot be written,
//! valgrind fails), 2 for bad arguments.

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use maple_bench::report::{Machine, Report, load_average};
use maple_bench::{
    Settings, callgrind, churn, concurrent, gap, memory, plot, point, replay, trace,
};

/// The benchmark suite of maple-tree against a BTreeMap range map, rangemap, nodit,
/// vm-allocator, RwLock<BTreeMap> and scc's TreeIndex.
#[derive(Debug, Parser)]
#[command(name = "maple-bench", version)]
struct Cli {
    /// Smaller sizes (N = 1k, 100k) and shorter samples: under a minute.
    #[arg(long)]
    quick: bool,
    /// Also count instructions of the single-threaded workloads of the groups run, every peer,
    /// under valgrind callgrind, at N = 1k and 100k (the churn at its live-entry counts).
    #[arg(long)]
    callgrind: bool,
    /// Write all results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write SVG plots into DIR.
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
    /// Run only these groups (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "GROUPS")]
    only: Vec<Group>,
    /// Reader threads beside the writer [default: all CPUs but one, at least 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    readers: Option<u16>,
    /// Folder of the kernel captures (*.mt.xz) [default: the repository's testdata/kernel-ftrace].
    #[arg(long, value_name = "DIR")]
    traces: Option<PathBuf>,
    /// Folder of the shipped traces of real programs (*.mtrace.zst) [default: the repository's
    /// testdata/traces; skipped when it holds none].
    #[arg(long, value_name = "DIR")]
    vma_traces: Option<PathBuf>,
    /// Run one workload's measured operations once and print `ops=.. check=..` (the child
    /// process of --callgrind; run it under valgrind by hand to count one cell).
    #[arg(long, value_name = "WORKLOAD")]
    single: Option<String>,
    /// The peer of --single.
    #[arg(long, value_name = "PEER", requires = "single")]
    peer: Option<String>,
    /// The entry count of --single [default: 1000].
    #[arg(long, value_name = "N", requires = "single")]
    n: Option<usize>,
    /// Internal: measure the memory of one layout and print it (the child process of the
    /// memory group).
    #[arg(long, hide = true, num_args = 3, value_names = ["N", "PATTERN", "ORDER"])]
    memory_row: Option<Vec<String>>,
}

/// Groups of workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Group {
    /// Insert, load, iterate and erase.
    Point,
    /// Gap search and allocation in a fragmented space.
    Gap,
    /// VMA-like churn.
    Churn,
    /// Replays of the kernel captures.
    Replay,
    /// Replays of the shipped traces of real programs through maple-mm.
    Trace,
    /// Readers beside a writer.
    Concurrent,
    /// Bytes per entry.
    Memory,
}

impl Group {
    /// The group's name, as `--only` takes it.
    fn name(self) -> &'static str {
        match self {
            Group::Point => "point",
            Group::Gap => "gap",
            Group::Churn => "churn",
            Group::Replay => "replay",
            Group::Trace => "trace",
            Group::Concurrent => "concurrent",
            Group::Memory => "memory",
        }
    }
}

/// Prints a one-line error and returns exit status 2 (bad arguments).
fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Prints a one-line error and returns exit status 1 (the run failed).
fn run_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("bad arguments");
            return usage_error(line.trim_start_matches("error: "));
        }
    };
    let mut settings = Settings::new(cli.quick);
    if let Some(r) = cli.readers {
        settings.readers = usize::from(r);
    }
    if let Some(t) = &cli.traces {
        settings.traces.clone_from(t);
    }
    if let Some(t) = &cli.vma_traces {
        settings.vma_traces.clone_from(t);
    }

    if let Some(args) = &cli.memory_row {
        let n = args[0]
            .parse::<usize>()
            .map_err(|e| format!("--memory-row {}: {e}", args[0]));
        return match n.and_then(|n| memory::child(n, &args[1], &args[2])) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        };
    }
    if let Some(workload) = &cli.single {
        let Some(peer) = &cli.peer else {
            return usage_error("--single needs --peer");
        };
        let n = cli.n.unwrap_or(1_000);
        return match callgrind::single(workload, peer, n, &settings) {
            Ok(run) => {
                println!("{}", callgrind::format_single(&run));
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(&e),
        };
    }
    if cli.peer.is_some() || cli.n.is_some() {
        return usage_error("--peer and --n go with --single");
    }

    let groups = if cli.only.is_empty() {
        vec![
            Group::Point,
            Group::Gap,
            Group::Churn,
            Group::Replay,
            Group::Trace,
            Group::Concurrent,
            Group::Memory,
        ]
    } else {
        cli.only.clone()
    };
    // Fail on unusable paths now rather than after the run.
    let json_file = match &cli.json {
        Some(path) => match File::create(path) {
            Ok(f) => Some(f),
            Err(e) => return usage_error(&format!("--json {}: {e}", path.display())),
        },
        None => None,
    };
    if let Some(dir) = &cli.svg
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return usage_error(&format!("--svg {}: {e}", dir.display()));
    }
    if groups.contains(&Group::Replay) && !settings.traces.is_dir() {
        return usage_error(&format!(
            "--traces {}: not a folder (give the folder of the *.mt.xz captures)",
            settings.traces.display()
        ));
    }
    // The shipped traces may not exist yet (then they are skipped), but a folder given by hand
    // must.
    if groups.contains(&Group::Trace)
        && let Some(dir) = &cli.vma_traces
        && !dir.is_dir()
    {
        return usage_error(&format!(
            "--vma-traces {}: not a folder (give the folder of the *.mtrace.zst traces)",
            dir.display()
        ));
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return run_error(&format!("cannot find this program's path: {e}")),
    };
    if cli.callgrind && !callgrind::valgrind_available() {
        return usage_error("--callgrind needs valgrind on PATH");
    }

    let started = Instant::now();
    let progress = |msg: &str| eprintln!("[{:6.1} s] {msg}", started.elapsed().as_secs_f64());
    let mut step = |msg: &str| progress(msg);
    let mut report = Report {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        mode: if cli.quick { "quick" } else { "full" },
        machine: Machine::detect(),
        seconds: 0.0,
        cells: Vec::new(),
        concurrent: Vec::new(),
        memory: Vec::new(),
        callgrind: Vec::new(),
        targets: Vec::new(),
        skipped: Vec::new(),
    };

    if groups.contains(&Group::Point) {
        for &n in &settings.sizes {
            report.cells.extend(point::run(&settings, n, &mut step));
        }
    }
    if groups.contains(&Group::Gap) {
        for &n in &settings.sizes {
            report.cells.extend(gap::run(&settings, n, &mut step));
        }
    }
    if groups.contains(&Group::Churn) {
        report.cells.extend(churn::run(&settings, &mut step));
    }
    if groups.contains(&Group::Replay) {
        match replay::run(&settings, &mut step) {
            Ok(cells) => report.cells.extend(cells),
            Err(e) => return run_error(&e),
        }
    }
    if groups.contains(&Group::Trace) {
        match trace::run(&settings, &mut step, &mut report.skipped) {
            Ok(cells) => report.cells.extend(cells),
            Err(e) => return run_error(&e),
        }
    }
    if groups.contains(&Group::Concurrent) {
        report.concurrent = concurrent::run(&settings, &mut step);
    }
    if groups.contains(&Group::Memory) {
        match memory::run(&settings, &exe, &mut step) {
            Ok(rows) => report.memory = rows,
            Err(e) => return run_error(&e),
        }
    }
    if cli.callgrind {
        let jobs = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let names: Vec<&str> = groups.iter().map(|g| g.name()).collect();
        match callgrind::run(&settings, &names, &exe, jobs, &progress) {
            Ok(rows) => report.callgrind = rows,
            Err(e) => return run_error(&e),
        }
    }
    // Table order: by workload (in the order first run), then by N.
    let order: Vec<String> = report.cells.iter().fold(Vec::new(), |mut v, c| {
        if !v.contains(&c.workload) {
            v.push(c.workload.clone());
        }
        v
    });
    report
        .cells
        .sort_by_key(|c| (order.iter().position(|w| *w == c.workload), c.n));
    report.judge();
    report.machine.load_at_end = load_average();
    report.seconds = started.elapsed().as_secs_f64();

    let m = &report.machine;
    println!("# maple-bench ({} run)\n", report.mode);
    println!("- command: `{}`", report.command);
    println!(
        "- machine: {} CPUs ({}), {:.0} GiB, Linux {}; load average {} at the start, {} at the end",
        m.cpus, m.cpu, m.memory_gib, m.kernel, m.load_at_start, m.load_at_end
    );
    println!("- run time: {:.0} s\n", report.seconds);
    print!("{}", report.markdown());

    if let Some(mut f) = json_file {
        let written = serde_json::to_writer_pretty(&mut f, &report)
            .map_err(|e| e.to_string())
            .and_then(|()| writeln!(f).map_err(|e| e.to_string()));
        if let Err(e) = written {
            return run_error(&format!("--json: {e}"));
        }
    }
    if let Some(dir) = &cli.svg {
        match plot::write_all(&report, dir) {
            Ok(files) => progress(&format!(
                "wrote {} plots into {}",
                files.len(),
                dir.display()
            )),
            Err(e) => return run_error(&e),
        }
    }
    ExitCode::SUCCESS
}
