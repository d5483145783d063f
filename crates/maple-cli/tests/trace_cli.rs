//! End-to-end tests of the trace commands of the `maple` binary: output files checked before
//! anything runs, no file replaced without `--force`, import names that cannot take a
//! capture's, and the one-line errors for files of the wrong kind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{success, text};

/// The `maple` binary built for these tests.
fn maple(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maple"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("maple runs")
}

/// A fresh scratch folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("maple-trace-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The workspace's `testdata/`.
fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Asserts exit status 1 and one line on stderr, and returns it.
fn failure(output: &Output) -> &str {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let err = text(&output.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    err.trim_end()
}

/// `capture -o` into a missing folder fails before the program runs (it would create a
/// file), and so does an existing output without `--force`; nothing is left behind.
#[test]
fn capture_checks_its_output_before_running() {
    let dir = scratch("capture-output");
    let marker = dir.join("ran");
    let marker = marker.to_str().unwrap();
    let out = maple(
        &[
            "capture",
            "-o",
            "missing/x.mtrace.zst",
            "--",
            "touch",
            marker,
        ],
        &dir,
    );
    assert_eq!(
        failure(&out),
        "maple capture: cannot write missing/x.mtrace.zst: No such file or directory"
    );
    std::fs::write(dir.join("x.mtrace.zst"), "mine").unwrap();
    let out = maple(
        &["capture", "-o", "x.mtrace.zst", "--", "touch", marker],
        &dir,
    );
    assert_eq!(
        failure(&out),
        "maple capture: x.mtrace.zst exists (give --force to replace it, or -o another name)"
    );
    assert!(!Path::new(marker).exists(), "the program did not run");
    assert_eq!(
        std::fs::read_to_string(dir.join("x.mtrace.zst")).unwrap(),
        "mine"
    );
    // A program that cannot start leaves no file.
    let out = maple(
        &["capture", "-o", "y.mtrace.zst", "--", "no-such-program-x"],
        &dir,
    );
    assert_eq!(failure(&out), "maple capture: no-such-program-x: not found");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["x.mtrace.zst"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `import-strace` names its trace `LOG.strace.mtrace.zst` (never the `PROG.mtrace.zst` of a
/// capture), refuses to replace a file without `--force`, and replaces it with it.
#[test]
fn import_never_replaces_a_capture() {
    let dir = scratch("import");
    let log = dir.join("gcc-cc1-O2.strace.xz");
    std::fs::copy(testdata().join("strace/gcc-cc1-O2.strace.xz"), &log).unwrap();
    std::fs::write(dir.join("gcc-cc1-O2.mtrace.zst"), "a capture").unwrap();
    let out = maple(&["import-strace", "gcc-cc1-O2.strace.xz"], &dir);
    assert!(success(&out).starts_with("gcc-cc1-O2.strace.mtrace.zst: "));
    assert_eq!(
        std::fs::read_to_string(dir.join("gcc-cc1-O2.mtrace.zst")).unwrap(),
        "a capture"
    );
    let out = maple(&["import-strace", "gcc-cc1-O2.strace.xz"], &dir);
    assert_eq!(
        failure(&out),
        "maple: gcc-cc1-O2.strace.mtrace.zst exists (give --force to replace it, or -o another name)"
    );
    let out = maple(&["import-strace", "--force", "gcc-cc1-O2.strace.xz"], &dir);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = maple(&["replay", "gcc-cc1-O2.strace.mtrace.zst"], &dir);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stdout).contains("(gcc-cc1-O2)"), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `replay` of an strace log or of an ftrace capture says what the file is and which command
/// reads it.
#[test]
fn replay_names_the_command_for_other_logs() {
    let dir = scratch("other-logs");
    let out = maple(
        &[
            "replay",
            testdata()
                .join("strace/gcc-cc1-O2.strace.xz")
                .to_str()
                .unwrap(),
        ],
        &dir,
    );
    assert!(
        failure(&out).ends_with(
            "gcc-cc1-O2.strace.xz: line 1: this is an strace log, not a maple trace: \
             `maple import-strace LOG` turns it into one"
        ),
        "{out:?}"
    );
    let out = maple(
        &[
            "replay",
            testdata()
                .join("kernel-ftrace/gcc-cc1-O2.mt.xz")
                .to_str()
                .unwrap(),
        ],
        &dir,
    );
    assert!(
        failure(&out).contains("this is an ftrace capture of the kernel's maple-tree operations"),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
