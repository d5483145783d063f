//! `maple fuzz`: seeded random programs of memory calls, run on this machine's kernel, captured
//! and replayed with checks; divergences are classified and shrunk to minimal programs.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use maple_trace::fuzz::{FuzzError, FuzzOptions, Program, class_of, run, shrink};

/// Arguments of `maple fuzz`.
#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1, value_name = "SEED")]
    pub start: u64,
    /// Calls per program.
    #[arg(long, default_value_t = 400, value_name = "N")]
    pub calls: usize,
    /// Programs do not fork.
    #[arg(long)]
    pub no_forks: bool,
    /// Programs do not touch their memory (no page faults).
    #[arg(long)]
    pub no_faults: bool,
    /// Shrink each new class of divergence to a minimal program and print it as C and as a
    /// trace.
    #[arg(long)]
    pub shrink: bool,
    /// Where programs are built and run [default: a folder in the system's temporary
    /// directory, removed at the end].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Runs `maple fuzz`. Exit status 0 when every step of every seed matched the kernel, 2 when
/// some diverged, 1 when a program could not be built or run.
pub fn run_command(args: &FuzzArgs) -> ExitCode {
    let options = FuzzOptions {
        calls: args.calls,
        forks: !args.no_forks,
        faults: !args.no_faults,
        ..FuzzOptions::default()
    };
    let (dir, temporary) = match &args.dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("maple-fuzz-{}", std::process::id())),
            true,
        ),
    };
    let result = fuzz(args, &options, &dir);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("maple fuzz: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Counts over all seeds.
#[derive(Default)]
struct Totals {
    seeds: u64,
    calls: usize,
    steps: u64,
    matching: u64,
    unchecked: u64,
    resyncs: BTreeMap<&'static str, u64>,
    classes: BTreeMap<String, Vec<u64>>,
}

/// Runs the seeds; `Ok(true)` when all matched.
fn fuzz(args: &FuzzArgs, options: &FuzzOptions, dir: &std::path::Path) -> Result<bool, FuzzError> {
    let mut out = io::stdout().lock();
    let mut totals = Totals::default();
    for seed in args.start..args.start.saturating_add(args.seeds) {
        let program = Program::generate(seed, options);
        let outcome = run(&program, dir)?;
        let report = &outcome.report;
        totals.seeds += 1;
        totals.calls += program.len();
        totals.steps += report.steps;
        totals.matching += report.steps_matching;
        totals.unchecked += report.steps_unchecked;
        for (kind, n) in &report.resyncs {
            *totals.resyncs.entry(kind).or_default() += n;
        }
        let class = class_of(report);
        let line = match &class {
            None if report.all_match() => format!(
                "seed {seed}: {} calls, {} steps, all matching",
                program.len(),
                report.steps
            ),
            None => format!(
                "seed {seed}: {} calls, {} steps, {} matching, {} unchecked",
                program.len(),
                report.steps,
                report.steps_matching,
                report.steps_unchecked
            ),
            Some(class) => format!(
                "seed {seed}: {} calls, {} steps, {} matching; first divergence: {class}",
                program.len(),
                report.steps,
                report.steps_matching
            ),
        };
        let _ = writeln!(out, "{line}");
        if let Some(class) = class {
            let first_of_class = !totals.classes.contains_key(&class);
            totals.classes.entry(class.clone()).or_default().push(seed);
            if args.shrink && first_of_class {
                let _ = writeln!(out, "  shrinking ({} calls)...", program.len());
                let _ = out.flush();
                let small = shrink(&program, |candidate| {
                    run(candidate, dir)
                        .ok()
                        .and_then(|o| class_of(&o.report))
                        .as_ref()
                        == Some(&class)
                });
                let again = run(&small, dir)?;
                let _ = writeln!(
                    out,
                    "  minimal program ({} calls) for `{class}`:\n{}\n  its trace:\n{}\n{}",
                    small.len(),
                    small.to_c(),
                    again.trace,
                    again.report
                );
            }
        }
    }
    let percent = 100.0 * totals.matching as f64 / totals.steps.max(1) as f64;
    let _ = writeln!(
        out,
        "{} seeds of {} calls ({}forks, {}faults): {} calls, {} steps, {} matching the kernel \
         ({percent:.2}%), {} unchecked",
        totals.seeds,
        options.calls,
        if options.forks { "" } else { "no " },
        if options.faults { "" } else { "no " },
        totals.calls,
        totals.steps,
        totals.matching,
        totals.unchecked
    );
    let resyncs: Vec<String> = totals
        .resyncs
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(
        out,
        "resynchronised: {}",
        if resyncs.is_empty() {
            "none".to_owned()
        } else {
            resyncs.join(", ")
        }
    );
    if totals.classes.is_empty() {
        let _ = writeln!(out, "divergences: none");
    } else {
        let _ = writeln!(out, "divergences by class (seeds):");
        for (class, seeds) in &totals.classes {
            let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
            let _ = writeln!(out, "  {class}: {}", list.join(" "));
        }
    }
    Ok(totals.classes.is_empty() && totals.unchecked == 0)
}
