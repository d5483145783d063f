//! Prints a Markdown report comparing the maple tree in exclusive mode (values `u32`) with a
//! `BTreeMap<u64, (u64, u32)>` range map, on the workloads of the criterion benches.
//!
//! ```text
//! cargo run --release -p maple-tree --example report            # N = 1k, 100k, 1M
//! cargo run --release -p maple-tree --example report -- --quick # N = 1k, 100k, fewer repetitions
//! ```
//!
//! Method, so that the numbers are honest:
//! - both structures get the same inputs from the same seeded generator, through the same
//!   generic code (`benches/workload.rs`, shared with the criterion benches);
//! - building, creating empty structures and dropping them are outside the timed regions;
//! - every measurement is repeated, alternating which structure goes first, and the report
//!   gives medians; the ratio is maple / BTreeMap from the same run (< 1: maple is faster);
//! - every timed operation's results (counts, sums of values, gap starts) are compared with
//!   each other and with answers computed from the inputs alone; any disagreement aborts the
//!   report.
//!
//! Memory: the maple tree's bytes per entry are `node_count * 256 / len` (as
//! `MapleTree::bytes_per_entry`) and, for comparison, the heap bytes a counting global
//! allocator saw it keep; the BTreeMap's are the heap bytes it keeps, from the same counter.
//! Both are also measured as the growth of the resident set while one structure is built in
//! a fresh child process (this program run with `--rss-child`), which adds what malloc spends
//! on headers, alignment and fragmentation.

use std::alloc::System;
use std::hint::black_box;
use std::time::{Duration, Instant};

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[path = "../benches/workload.rs"]
mod workload;

use workload::{
    LOOKUP_BATCH, Maple, Pattern, RangeMap, RangeOps, SEED_ORDER, SIZES, Structure, ascending,
    build, erase_all, erase_queries, expected_gap, expected_lookups, far_gap_sizes, find_gaps,
    fragmented_entries, hit_queries, insert_all, lookup_all, miss_queries, near_gap_sizes,
    shuffled,
};

/// The system allocator with allocation statistics (`stats_alloc`).
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes currently allocated through the global allocator.
fn live_bytes() -> isize {
    let stats = ALLOCATOR.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize + stats.bytes_reallocated
}

/// Run settings.
struct Config {
    /// Entry counts, with their names.
    sizes: Vec<(usize, &'static str)>,
    /// Repetitions per measurement at fewer than a million entries.
    reps_small: usize,
    /// Repetitions per measurement at a million entries.
    reps_large: usize,
    /// A read-only measurement repeats its batch until this much time has passed.
    read_time: Duration,
    /// Insert and erase measurements work on several structures at once until they hold
    /// about this many entries in total, so that small sizes are timed over milliseconds.
    write_entries: usize,
}

impl Config {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                sizes: SIZES
                    .iter()
                    .copied()
                    .filter(|&(n, _)| n < 1_000_000)
                    .collect(),
                reps_small: 3,
                reps_large: 3,
                read_time: Duration::from_millis(5),
                write_entries: 50_000,
            }
        } else {
            Self {
                sizes: SIZES.to_vec(),
                reps_small: 7,
                reps_large: 5,
                read_time: Duration::from_millis(20),
                write_entries: 200_000,
            }
        }
    }

    fn reps(&self, n: usize) -> usize {
        if n >= 1_000_000 {
            self.reps_large
        } else {
            self.reps_small
        }
    }

    /// How many structures of `n` entries a write measurement uses at once.
    fn copies(&self, n: usize) -> usize {
        (self.write_entries / n).max(1)
    }
}

/// One timed measurement.
#[derive(Clone, Copy, Debug)]
struct Sample {
    elapsed: Duration,
    /// Operations performed in `elapsed`.
    ops: u64,
    /// What the operations returned (counts, sums), to compare between the structures.
    check: (u64, u64),
}

impl Sample {
    fn ns_per_op(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e9 / self.ops as f64
    }
}

/// A row of the timing table.
struct Row {
    workload: &'static str,
    n: usize,
    pattern: &'static str,
    maple: f64,
    btree: f64,
}

/// The median of `xs` (not empty).
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        f64::midpoint(xs[mid - 1], xs[mid])
    }
}

/// Reports a disagreement between results and ends the program.
fn mismatch(what: &str, detail: &str) -> ! {
    eprintln!("RESULT MISMATCH in {what}: {detail}");
    eprintln!("The two structures (or a structure and the expected answer) disagree; aborting.");
    std::process::exit(2);
}

/// Takes `reps` samples of each structure, alternating which goes first, checks that every
/// sample returned `expected`, and returns the median ns/op of maple and of the BTreeMap.
fn compare(
    what: &str,
    reps: usize,
    expected: (u64, u64),
    mut maple: impl FnMut() -> Sample,
    mut btree: impl FnMut() -> Sample,
) -> (f64, f64) {
    let mut m = Vec::with_capacity(reps);
    let mut b = Vec::with_capacity(reps);
    for rep in 0..reps {
        let (ms, bs) = if rep % 2 == 0 {
            let ms = maple();
            (ms, btree())
        } else {
            let bs = btree();
            (maple(), bs)
        };
        for (name, s) in [("maple", ms), ("btreemap", bs)] {
            if s.check != expected {
                mismatch(
                    what,
                    &format!("{name} returned {:?}, expected {expected:?}", s.check),
                );
            }
        }
        m.push(ms.ns_per_op());
        b.push(bs.ns_per_op());
    }
    (median(m), median(b))
}

/// Runs `pass` (which performs `ops` operations) until `time` has passed, at least once.
fn repeat_for(time: Duration, ops: u64, mut pass: impl FnMut() -> (u64, u64)) -> Sample {
    let start = Instant::now();
    let mut passes = 0;
    let mut check;
    loop {
        check = black_box(pass());
        passes += 1;
        if start.elapsed() >= time {
            break;
        }
    }
    Sample {
        elapsed: start.elapsed(),
        ops: ops * passes,
        check,
    }
}

/// Inserts `order` into `copies` empty structures; only the inserts are timed.
fn sample_insert<S: Structure>(pattern: Pattern, order: &[u64], copies: usize) -> Sample {
    let mut all: Vec<S> = (0..copies).map(|_| S::empty(false)).collect();
    let start = Instant::now();
    for s in &mut all {
        insert_all(&mut s.ops(), pattern, order);
    }
    let elapsed = start.elapsed();
    let len = all.iter().map(|s| s.len() as u64).sum();
    drop(black_box(all));
    Sample {
        elapsed,
        ops: (copies * order.len()) as u64,
        check: (len, 0),
    }
}

/// Erases by `queries` from `copies` full structures; only the erases are timed.
fn sample_erase<S: Structure>(pattern: Pattern, queries: &[u64], copies: usize) -> Sample {
    let order = ascending(queries.len());
    let mut all: Vec<S> = (0..copies)
        .map(|_| build::<S>(false, pattern, &order))
        .collect();
    let mut total = (0, 0);
    let start = Instant::now();
    for s in &mut all {
        let (n, sum) = erase_all(&mut s.ops(), queries);
        total = (total.0 + n, total.1 + sum);
    }
    let elapsed = start.elapsed();
    if let Some(s) = all.iter().find(|s| s.len() != 0) {
        mismatch(
            "erase",
            &format!("{} still holds {} entries", S::NAME, s.len()),
        );
    }
    drop(black_box(all));
    Sample {
        elapsed,
        ops: (copies * queries.len()) as u64,
        check: total,
    }
}

/// Times every workload at every size, both structures, and returns the table rows.
fn run_timings(cfg: &Config) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |workload, n, pattern: &'static str, (maple, btree): (f64, f64)| {
        rows.push(Row {
            workload,
            n,
            pattern,
            maple,
            btree,
        });
    };
    for &(n, label) in &cfg.sizes {
        let reps = cfg.reps(n);
        let copies = cfg.copies(n);
        let seq = ascending(n);
        let rand = shuffled(n, SEED_ORDER);
        let n64 = n as u64;
        let full_sum = n64 * (n64 - 1) / 2;
        for pattern in Pattern::ALL {
            let tag = |w: &str| format!("{w} n={label} {}", pattern.name());
            eprintln!("timing n={label} {}", pattern.name());

            for (workload, order) in [("insert seq", &seq), ("insert rand", &rand)] {
                let expected = ((copies * n) as u64, 0);
                let r = compare(
                    &tag(workload),
                    reps,
                    expected,
                    || sample_insert::<Maple>(pattern, order, copies),
                    || sample_insert::<RangeMap>(pattern, order, copies),
                );
                push(workload, n, pattern.name(), r);
            }

            let mut maple = build::<Maple>(false, pattern, &seq);
            let mut btree = build::<RangeMap>(false, pattern, &seq);
            let (m_ops, b_ops) = (maple.ops(), btree.ops());

            let hits = hit_queries(pattern, n, LOOKUP_BATCH);
            let mut loads = vec![("load rand hit", hits)];
            if pattern == Pattern::Gapped {
                loads.push(("load rand miss", miss_queries(n, LOOKUP_BATCH)));
            }
            for (workload, queries) in loads {
                let expected = expected_lookups(pattern, n, &queries);
                let ops = queries.len() as u64;
                let r = compare(
                    &tag(workload),
                    reps,
                    expected,
                    || repeat_for(cfg.read_time, ops, || lookup_all(&m_ops, &queries)),
                    || repeat_for(cfg.read_time, ops, || lookup_all(&b_ops, &queries)),
                );
                push(workload, n, pattern.name(), r);
            }

            let r = compare(
                &tag("iterate"),
                reps,
                (n64, full_sum),
                || repeat_for(cfg.read_time, n64, || m_ops.count_and_sum()),
                || repeat_for(cfg.read_time, n64, || b_ops.count_and_sum()),
            );
            push("iterate", n, pattern.name(), r);
            drop((m_ops, b_ops));
            drop((maple, btree));

            let queries = erase_queries(pattern, n);
            let expected = ((copies * n) as u64, copies as u64 * full_sum);
            let r = compare(
                &tag("erase rand"),
                reps,
                expected,
                || sample_erase::<Maple>(pattern, &queries, copies),
                || sample_erase::<RangeMap>(pattern, &queries, copies),
            );
            push("erase rand", n, pattern.name(), r);
        }

        eprintln!("timing n={label} find_gap");
        let present = fragmented_entries(n);
        let mut maple = build::<Maple>(true, Pattern::Gapped, &present);
        let mut btree = build::<RangeMap>(true, Pattern::Gapped, &present);
        let (m_ops, b_ops) = (maple.ops(), btree.ops());
        for (workload, sizes) in [
            ("find_gap near", near_gap_sizes()),
            ("find_gap far", far_gap_sizes()),
        ] {
            let mut expected = (0, 0u64);
            for &size in &sizes {
                let want = expected_gap(Pattern::Gapped, &present, size);
                let (m, b) = (m_ops.first_gap(size), b_ops.first_gap(size));
                if m != want || b != want {
                    mismatch(
                        &format!("{workload} n={label} size {size}"),
                        &format!("maple {m:?}, btreemap {b:?}, expected {want:?}"),
                    );
                }
                if let Some(start) = want {
                    expected = (expected.0 + 1, expected.1.wrapping_add(start));
                }
            }
            let ops = sizes.len() as u64;
            let r = compare(
                &format!("{workload} n={label}"),
                reps,
                expected,
                || repeat_for(cfg.read_time, ops, || find_gaps(&m_ops, &sizes)),
                || repeat_for(cfg.read_time, ops, || find_gaps(&b_ops, &sizes)),
            );
            push(workload, n, "fragmented", r);
        }
    }
    rows
}

/// A row of the memory table.
struct MemRow {
    n: usize,
    pattern: &'static str,
    order: &'static str,
    height: usize,
    nodes: usize,
    maple_nodes: f64,
    maple_heap: f64,
    /// `None` below [`RSS_MIN_ENTRIES`].
    maple_rss: Option<f64>,
    btree_heap: f64,
    btree_rss: Option<f64>,
}

/// Below this many entries a structure spans too few pages for its resident set growth to
/// mean anything, so the RSS columns are left empty.
const RSS_MIN_ENTRIES: usize = 100_000;

/// Heap bytes per entry kept by a structure built by `make`, and the structure.
fn heap_per_entry<S: Structure>(n: usize, make: impl FnOnce() -> S) -> (f64, S) {
    let before = live_bytes();
    let s = make();
    let after = live_bytes();
    if s.len() != n {
        mismatch(
            "memory",
            &format!("{} holds {} entries, not {n}", S::NAME, s.len()),
        );
    }
    ((after - before) as f64 / n as f64, s)
}

/// Measures bytes per entry of both structures after seq and rand builds at every size.
fn run_memory(cfg: &Config) -> Vec<MemRow> {
    let mut rows = Vec::new();
    for &(n, _) in &cfg.sizes {
        for pattern in Pattern::ALL {
            for (order_name, order) in [("seq", ascending(n)), ("rand", shuffled(n, SEED_ORDER))] {
                let (maple_heap, maple) =
                    heap_per_entry(n, || build::<Maple>(false, pattern, &order));
                let (btree_heap, btree) =
                    heap_per_entry(n, || build::<RangeMap>(false, pattern, &order));
                let (height, nodes, maple_nodes) = (
                    maple.0.stats().height,
                    maple.0.stats().nodes,
                    maple.0.stats().bytes_per_entry(),
                );
                drop((maple, btree));
                rows.push(MemRow {
                    n,
                    pattern: pattern.name(),
                    order: order_name,
                    height,
                    nodes,
                    maple_nodes,
                    maple_heap,
                    maple_rss: (n >= RSS_MIN_ENTRIES)
                        .then(|| rss_in_child(Maple::NAME, pattern, order_name, n)),
                    btree_heap,
                    btree_rss: (n >= RSS_MIN_ENTRIES)
                        .then(|| rss_in_child(RangeMap::NAME, pattern, order_name, n)),
                });
            }
        }
    }
    rows
}

/// The resident set size of this process, in bytes.
fn rss_bytes() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    kib.map_or_else(
        || mismatch("memory", "cannot read VmRSS from /proc/self/status"),
        |kib| kib * 1024.0,
    )
}

/// Builds one structure in a fresh process (this program, run with `--rss-child`) and
/// returns the growth of that process's resident set per entry. Unlike the counted heap bytes,
/// this includes what malloc spends on headers, alignment and fragmentation.
fn rss_in_child(name: &str, pattern: Pattern, order: &str, n: usize) -> f64 {
    let exe = std::env::current_exe().unwrap_or_else(|e| mismatch("memory", &e.to_string()));
    let out = std::process::Command::new(exe)
        .args(["--rss-child", name, pattern.name(), order, &n.to_string()])
        .output()
        .unwrap_or_else(|e| mismatch("memory", &format!("cannot run the RSS child: {e}")));
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse::<f64>() {
        Ok(v) if out.status.success() => v,
        _ => mismatch(
            "memory",
            &format!(
                "RSS child for {name} {} {order} {n} failed: {}",
                pattern.name(),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
    }
}

/// The `--rss-child` mode: prints the resident set growth per entry of one built structure.
fn rss_child(args: &[String]) {
    let [name, pattern, order, n] = args else {
        mismatch("memory", &format!("bad --rss-child arguments {args:?}"));
    };
    let n: usize = n
        .parse()
        .unwrap_or_else(|_| mismatch("memory", &format!("bad entry count {n:?}")));
    let pattern = Pattern::ALL
        .into_iter()
        .find(|p| p.name() == pattern)
        .unwrap_or_else(|| mismatch("memory", &format!("bad pattern {pattern:?}")));
    let order = match order.as_str() {
        "seq" => ascending(n),
        _ => shuffled(n, SEED_ORDER),
    };
    let before = rss_bytes();
    let (len, after) = if name == Maple::NAME {
        let s = build::<Maple>(false, pattern, &order);
        (s.len(), rss_bytes())
    } else {
        let s = build::<RangeMap>(false, pattern, &order);
        (s.len(), rss_bytes())
    };
    if len != n {
        mismatch("memory", &format!("{name} holds {len} entries, not {n}"));
    }
    println!("{}", (after - before) / n as f64);
}

/// `value` with `digits` decimals, or a dash.
fn fmt_opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
}

/// The CPU model from `/proc/cpuinfo`.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The 1, 5 and 15-minute load averages from `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--rss-child") {
        rss_child(&args[1..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    if let Some(other) = args.iter().find(|a| *a != "--quick") {
        eprintln!("unknown argument {other:?}; usage: report [--quick]");
        std::process::exit(1);
    }
    let cfg = Config::new(quick);
    let started = Instant::now();

    println!("# maple-tree vs BTreeMap range map\n");
    println!(
        "- mode: exclusive mode (`MapleTree::exclusive`), values u32; baseline `BTreeMap<u64, (u64, u32)>`"
    );
    println!(
        "- machine: nproc {}, CPU {}, load average at start {}",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        cpu_model(),
        load_average()
    );
    println!(
        "- run: {}; {} repetitions per measurement ({} at 1M), alternating order, medians; read-only batches repeated for at least {} ms",
        if quick { "--quick" } else { "full" },
        cfg.reps_small,
        cfg.reps_large,
        cfg.read_time.as_millis()
    );
    println!(
        "- patterns: gapped `[16j, 16j+9]`, adjacent `[10j, 10j+9]`; fragmented = gapped without every 64th entry and 4 consecutive entries at 3N/4 (near: sizes 7..=22, first fit 63 entries in; far: sizes 23..=70, first fit at 3N/4)\n"
    );

    let timings = run_timings(&cfg);
    println!("## Time\n");
    println!("| workload | N | pattern | maple ns/op | BTreeMap ns/op | ratio |");
    println!("|---|---:|---|---:|---:|---:|");
    for r in &timings {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} |",
            r.workload,
            r.n,
            r.pattern,
            r.maple,
            r.btree,
            r.maple / r.btree
        );
    }
    println!("\nratio = maple / BTreeMap; below 1 means maple is faster.\n");

    let memory = run_memory(&cfg);
    println!("## Memory\n");
    println!(
        "| N | pattern | insert order | maple height | maple nodes | maple B/entry (nodes x 256) | maple B/entry (heap) | BTreeMap B/entry (heap) | ratio (heap) | maple B/entry (RSS) | BTreeMap B/entry (RSS) | ratio (RSS) |"
    );
    println!("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &memory {
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {} | {} |",
            r.n,
            r.pattern,
            r.order,
            r.height,
            r.nodes,
            r.maple_nodes,
            r.maple_heap,
            r.btree_heap,
            r.maple_nodes / r.btree_heap,
            fmt_opt(r.maple_rss, 1),
            fmt_opt(r.btree_rss, 1),
            fmt_opt(r.maple_rss.zip(r.btree_rss).map(|(m, b)| m / b), 2)
        );
    }
    println!(
        "\nratio (heap) = maple (nodes x 256) / BTreeMap (heap): requested sizes, counted by a global allocator wrapper, without malloc's headers, alignment padding or fragmentation. ratio (RSS) = growth of the resident set while building the structure in a fresh process, which includes them (page-granular, so left out below {RSS_MIN_ENTRIES} entries)."
    );
    println!("\n## Values and modes\n");
    println!(
        "Random insert of N gapped ranges; values stored in the slot (`u32`) or behind a pointer (`Box<u64>`, `Arc<u64>`); writes through one `exclusive()` guard, or in RCU mode through `insert_range` on `&self` (lock and pin per operation, copy on write, deferred frees). Making the value is timed with the insert. Heap bytes per entry = the tree's node pool (chunks of up to 2 MiB, including nodes waiting for reclamation) plus the values' own allocations, as requested from the allocator.\n"
    );
    println!("| N | values | mode | ns/op | heap B/entry |");
    println!("|---:|---|---|---:|---:|");
    for &(n, _) in &cfg.sizes {
        if n < 100_000 {
            continue;
        }
        let order = shuffled(n, SEED_ORDER);
        let reps = if n >= 1_000_000 {
            cfg.reps_large
        } else {
            cfg.reps_small
        };
        let rows = [
            (
                "u32",
                "exclusive",
                value_cost(&order, reps, |j| u32::try_from(j).unwrap_or(0), false),
            ),
            (
                "u32",
                "RCU",
                value_cost(&order, reps, |j| u32::try_from(j).unwrap_or(0), true),
            ),
            (
                "Box<u64>",
                "exclusive",
                value_cost(&order, reps, Box::new, false),
            ),
            (
                "Arc<u64>",
                "exclusive",
                value_cost(&order, reps, std::sync::Arc::new, false),
            ),
        ];
        for (values, mode, (ns, bytes)) in rows {
            println!("| {n} | {values} | {mode} | {ns:.1} | {bytes:.1} |");
        }
    }
    println!("\n## Whole-tree operations\n");
    println!(
        "`try_clone` copies node by node (the kernel's `__mt_dup`, used by fork); the alternative re-inserts every entry of an iteration into a new tree. `bulk_load` builds from sorted entries in one pass; the alternative inserts them in ascending order. Allocation tree, gapped ranges, values u32, medians.\n"
    );
    println!(
        "| N | try_clone ms | re-insert ms | speed-up | bulk_load ms | ascending inserts ms | speed-up |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &(n, _) in &cfg.sizes {
        let reps = if n >= 1_000_000 {
            cfg.reps_large
        } else {
            cfg.reps_small
        };
        let (clone, reinsert, bulk, ascending) = whole_tree(n as u64, reps);
        println!(
            "| {n} | {clone:.2} | {reinsert:.2} | {:.1}x | {bulk:.2} | {ascending:.2} | {:.1}x |",
            reinsert / clone,
            ascending / bulk
        );
    }
    let order = shuffled(100_000, SEED_ORDER);
    let (erase, try_erase) = erase_paths(&order, cfg.reps_small);
    println!(
        "\nThe infallible `erase` is `try_erase` plus an abort on failure: {erase:.1} ns/op against {try_erase:.1} ns/op for `try_erase` (100000 entries, random order, exclusive mode)."
    );
    println!("\nTotal run time {:.1} s.", started.elapsed().as_secs_f64());
}

/// Medians (ms) of: `try_clone` of an `n`-entry allocation tree, copying it by re-inserting
/// every entry, `bulk_load` of the same entries, and inserting them in ascending order.
fn whole_tree(n: u64, reps: usize) -> (f64, f64, f64, f64) {
    let ms = |start: Instant| start.elapsed().as_secs_f64() * 1e3;
    let entries: Vec<(u64, u64, u32)> = (0..n)
        .map(|j| {
            let (first, last) = Pattern::Gapped.range(j);
            (first, last, u32::try_from(j).unwrap_or(0))
        })
        .collect();
    let mut source = maple_tree::MapleTree::new_alloc();
    if source
        .bulk_load(entries.iter().map(|&(f, l, v)| (f..=l, v)))
        .is_err()
    {
        mismatch("bulk load", "the entries are sorted and fit");
    }
    let (mut clone, mut reinsert, mut bulk, mut ascending) = (vec![], vec![], vec![], vec![]);
    for _ in 0..reps {
        let start = Instant::now();
        let copy = source
            .try_clone()
            .unwrap_or_else(|_| mismatch("try_clone", "out of memory"));
        clone.push(ms(start));
        let start = Instant::now();
        let mut again = maple_tree::MapleTree::new_alloc();
        {
            let guard = source.read();
            let mut w = again.exclusive();
            for (range, value) in guard.iter() {
                if w.insert_range(range, *value).is_err() {
                    mismatch("re-insert", "an insert failed");
                }
            }
        }
        reinsert.push(ms(start));
        if copy.len() != again.len() || copy.len() != source.len() {
            mismatch("copies", "the copies differ in length");
        }
        let start = Instant::now();
        let mut loaded = maple_tree::MapleTree::new_alloc();
        if loaded
            .bulk_load(entries.iter().map(|&(f, l, v)| (f..=l, v)))
            .is_err()
        {
            mismatch("bulk load", "the entries are sorted and fit");
        }
        bulk.push(ms(start));
        let start = Instant::now();
        let mut inserted = maple_tree::MapleTree::new_alloc();
        {
            let mut w = inserted.exclusive();
            for &(first, last, value) in &entries {
                if w.insert_range(first..=last, value).is_err() {
                    mismatch("ascending inserts", "an insert failed");
                }
            }
        }
        ascending.push(ms(start));
        black_box((copy.len(), loaded.len(), inserted.len()));
    }
    source.exclusive().clear();
    (
        median(clone),
        median(reinsert),
        median(bulk),
        median(ascending),
    )
}

/// Median ns per erase through `erase` and through `try_erase`, on trees of `order.len()`
/// entries.
fn erase_paths(order: &[u64], reps: usize) -> (f64, f64) {
    let mut plain = Vec::with_capacity(reps);
    let mut fallible = Vec::with_capacity(reps);
    for rep in 0..reps * 2 {
        let mut tree = maple_tree::MapleTree::new();
        {
            let mut w = tree.exclusive();
            for &j in order {
                let (first, last) = Pattern::Gapped.range(j);
                if w.insert_range(first..=last, 1u32).is_err() {
                    mismatch("erase paths", "an insert failed");
                }
            }
        }
        let mut w = tree.exclusive();
        let start = Instant::now();
        for &j in order.iter().rev() {
            let index = Pattern::Gapped.range(j).0 + 3;
            let erased = if rep % 2 == 0 {
                w.erase(index)
            } else {
                w.try_erase(index)
                    .unwrap_or_else(|_| mismatch("try_erase", "out of memory"))
            };
            black_box(erased);
        }
        let ns = start.elapsed().as_nanos() as f64 / order.len() as f64;
        if rep % 2 == 0 {
            plain.push(ns);
        } else {
            fallible.push(ns);
        }
    }
    (median(plain), median(fallible))
}

/// Median time per random insert of `order.len()` gapped ranges with values made by `make`
/// (making the value is part of the insert: a boxed value costs its allocation), and the heap
/// bytes per entry of the finished tree: its node pool plus the values' own allocations. In RCU
/// mode every insert goes through the convenience method, which takes the lock and pins for that
/// one operation, as concurrent users do.
fn value_cost<T: Send + 'static>(
    order: &[u64],
    reps: usize,
    make: impl Fn(u64) -> T,
    rcu: bool,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(reps);
    let mut bytes = 0.0;
    for _ in 0..reps {
        let mut tree = maple_tree::MapleTree::new();
        let before = live_bytes();
        let start = Instant::now();
        if rcu {
            for &j in order {
                let (first, last) = Pattern::Gapped.range(j);
                if tree.insert_range(first..=last, make(j)).is_err() {
                    mismatch("value cost", "an insert failed");
                }
            }
        } else {
            let mut w = tree.exclusive();
            for &j in order {
                let (first, last) = Pattern::Gapped.range(j);
                if w.insert_range(first..=last, make(j)).is_err() {
                    mismatch("value cost", "an insert failed");
                }
            }
        }
        times.push(start.elapsed().as_nanos() as f64 / order.len() as f64);
        bytes = (live_bytes() - before) as f64 / order.len() as f64;
        black_box(tree.len());
        // Let the deferred frees of RCU mode finish, so that they do not land in the next
        // measurement.
        let counter = tree.node_counter();
        drop(tree);
        counter.settle(Duration::from_secs(10));
    }
    (median(times), bytes)
}
