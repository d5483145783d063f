//! End-to-end tests of the `maple` binary: scripts from stdin and from files, the example
//! scripts with their exact output, exit statuses and stderr for bad input, and (when
//! `MAPLE_KERNEL_SETS` names the folder) a replay of the kernel's erase2 sets.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{success, text};

/// The `maple` binary built for these tests.
fn maple() -> Command {
    Command::new(env!("CARGO_BIN_EXE_maple"))
}

/// The workspace's `examples/scripts/` folder.
fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scripts")
}

/// Runs `maple script -` with `script` on stdin.
fn run_stdin(script: &[u8]) -> Output {
    let mut child = maple()
        .args(["script", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maple starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = script.to_vec();
    // Feed stdin from another thread so that a large output cannot fill its pipe and stall
    // both processes. maple stops reading at a malformed line, so a broken pipe is fine.
    let feeder = std::thread::spawn(move || match stdin.write_all(&input) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    });
    let output = child.wait_with_output().expect("maple runs");
    feeder
        .join()
        .expect("the feeder thread")
        .expect("stdin is written");
    output
}

/// Runs `maple` with `args`.
fn run_args(args: &[&str]) -> Output {
    maple().args(args).output().expect("maple runs")
}

/// A script on stdin prints one line per query, in order.
#[test]
fn stdin_script_prints_one_line_per_query() {
    let script = b"tree alloc\n\
        S 0x1000 0x1fff 7    # a store prints nothing\n\
        L 0x1800\n\
        I 0x1fff 0x2fff\n\
        G 0 0xffff 0x1000\n\
        H 0 0xffff 0x1000\n\
        A 0 0xffff 0x2000\n\
        E 0x1000\n\
        D\nC\nX\n";
    let output = run_stdin(script);
    assert_eq!(
        success(&output),
        "4096 8191 7\noccupied\n0\n61440\n8192\n7\n8192 16383 8192\nend\nok\nheight 1 nodes 1\n"
    );
}

/// The tour script prints exactly `tour.expected`, from a file and from stdin.
#[test]
fn tour_script_prints_tour_expected() {
    let dir = scripts_dir();
    let script = dir.join("tour.script");
    let expected = std::fs::read_to_string(dir.join("tour.expected")).expect("tour.expected");
    assert!(
        expected.lines().count() > 50,
        "tour.expected is the full output"
    );

    let from_file = run_args(&["script", script.to_str().expect("a UTF-8 path")]);
    assert_eq!(success(&from_file), expected);

    let from_stdin = run_stdin(&std::fs::read(&script).expect("tour.script"));
    assert_eq!(success(&from_stdin), expected);
}

/// The cc1 replay reproduces every one of the kernel's gap-search answers, which the script
/// carries in the comment of each `H` line, and ends with a valid tree.
#[test]
fn gcc_cc1_replay_matches_the_kernel_answers() {
    let script = scripts_dir().join("gcc-cc1-O2.script");
    let source = std::fs::read_to_string(&script).expect("gcc-cc1-O2.script");
    let kernel: Vec<&str> = source
        .lines()
        .filter(|line| line.starts_with("H "))
        .map(|line| {
            line.rsplit_once("= ")
                .expect("each H line carries the kernel's answer in decimal")
                .1
                .trim()
        })
        .collect();
    assert_eq!(kernel.len(), 152);

    let output = run_args(&["script", script.to_str().expect("a UTF-8 path")]);
    let lines: Vec<&str> = success(&output).lines().collect();
    // S and N print nothing, so the H answers come first, then C, X and D.
    assert_eq!(&lines[..kernel.len()], kernel.as_slice());
    assert_eq!(lines[kernel.len()], "ok");
    assert!(lines[kernel.len() + 1].starts_with("height "));
    assert_eq!(lines.last(), Some(&"end"));
}

/// A malformed line stops the run: exit status 2, `line N: reason` on stderr, and what the
/// lines before it printed stays on stdout.
#[test]
fn malformed_line_exits_2_with_its_line_number() {
    let output = run_stdin(b"# header\nS 1 2\nL 1\n\nfoo 1\nL 1\n");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "1 2 1\n");
    assert_eq!(text(&output.stderr), "line 5: unknown op `foo`\n");

    let output = run_stdin(b"L 0\nL 18446744073709551616\n");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(text(&output.stdout), "none\n");
    assert_eq!(
        text(&output.stderr),
        "line 2: number `18446744073709551616` is larger than 2^64-1\n"
    );

    let output = run_stdin(b"S 1 1\ntree range\n");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        text(&output.stderr),
        "line 2: `tree` must be the first line that is not blank or a comment\n"
    );
}

/// A file that cannot be read is one line on stderr and exit status 1.
#[test]
fn unreadable_files_exit_1_with_one_line() {
    let missing = scripts_dir().join("no-such.script");
    let missing = missing.to_str().expect("a UTF-8 path");
    let output = run_args(&["script", missing]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stdout), "");
    assert_eq!(
        text(&output.stderr),
        format!("maple: cannot read {missing}: No such file or directory\n")
    );

    let dir = scripts_dir();
    let dir = dir.to_str().expect("a UTF-8 path");
    let output = run_args(&["script", dir]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        format!("maple: cannot read {dir}: Is a directory\n")
    );
}

/// Bad arguments are one line on stderr and exit status 1.
#[test]
fn bad_arguments_exit_1_with_one_line() {
    for args in [
        &[][..],
        &["script"],
        &["script", "a", "b"],
        &["replay", "x"],
    ] {
        let output = run_args(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&output.stdout), "", "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("maple: "), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// `maple script --help` documents the format and succeeds.
#[test]
fn script_help_documents_the_format() {
    let output = run_args(&["script", "--help"]);
    let help = success(&output);
    for needle in [
        "maple script <FILE|->",
        "`#` starts a comment",
        "S first last [value]",
        "A malformed line stops the script",
        "Exit status:",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
}

/// A script of 200,000 lines runs quickly. The bound is loose (CI machines are shared); it
/// catches a quadratic slip, not a few percent.
#[test]
fn large_scripts_run_fast() {
    let mut script = String::with_capacity(200_000 * 24);
    for i in 0..100_000u64 {
        script.push_str(&format!("S {:#x} {:#x}\n", i * 0x2000, i * 0x2000 + 0xfff));
    }
    for i in 0..100_000u64 {
        script.push_str(&format!("L {}\n", i * 0x2000 + 0x1000));
    }
    let start = Instant::now();
    let output = run_stdin(script.as_bytes());
    let elapsed = start.elapsed();
    let out = success(&output);
    assert_eq!(out.len(), "none\n".len() * 100_000);
    assert!(out.lines().all(|line| line == "none"));
    assert!(
        elapsed < Duration::from_secs(10),
        "200,000 lines took {elapsed:?}"
    );
}

/// The kernel's erase2 sets (GPL data, read from `MAPLE_KERNEL_SETS`, never copied here) run
/// through the binary: exit status 0, every erase returns the value its start stored, and the
/// tree is valid at the end.
#[test]
fn kernel_erase2_sets_replay() {
    let Some(dir) = std::env::var_os("MAPLE_KERNEL_SETS") else {
        eprintln!("skipping the kernel erase2 replay through maple: MAPLE_KERNEL_SETS is not set");
        return;
    };
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("MAPLE_KERNEL_SETS is a readable folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "trace"))
        .collect();
    sets.sort();
    assert_eq!(sets.len(), 43, "the kernel has 43 erase2 sets");
    for path in &sets {
        let name = path.display();
        let source = std::fs::read_to_string(path).expect("a readable set");
        // Three sets run on a plain tree in the kernel; a `tree` line before the first op
        // (the headers are comments) does the same here.
        let plain = source.lines().any(|l| l.starts_with("# tree: plain"));
        let mut script = String::from(if plain { "tree range\n" } else { "" });
        script.push_str(&source);
        script.push_str("\nC\n");
        let output = run_stdin(script.as_bytes());
        let out = success(&output);
        let lines: Vec<&str> = out.lines().collect();
        let erased: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("E "))
            .map(|args| args.split_whitespace().next().expect("E has an index"))
            .collect();
        assert_eq!(
            lines.len(),
            erased.len() + 1,
            "{name}: one line per E, then C"
        );
        assert_eq!(&lines[..erased.len()], erased.as_slice(), "{name}");
        assert_eq!(lines.last(), Some(&"ok"), "{name}");
    }
}

/// Fuzzing findings and other bugs, kept as scripts in `fuzz/regressions/`: each replays with
/// exactly its `.expected` output.
#[test]
fn regression_scripts_replay_exactly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/regressions exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "script") {
            continue;
        }
        let expected = std::fs::read_to_string(path.with_extension("expected"))
            .unwrap_or_else(|e| panic!("{}: no .expected file: {e}", path.display()));
        let output = run_args(&["script", path.to_str().expect("a UTF-8 path")]);
        assert_eq!(success(&output), expected, "{}", path.display());
        replayed += 1;
    }
    assert!(replayed >= 2, "only {replayed} regression scripts");
}
