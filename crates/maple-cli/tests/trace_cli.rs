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

/// `maple capture` on a real pseudo-terminal, in a session of its own whose controlling
/// terminal it is (`setsid -c`), as in a shell: typing Ctrl-C sends SIGINT to maple and the
/// program. Returns the child, the terminal's master side and a reader of everything written
/// to the terminal so far.
#[cfg(target_os = "linux")]
mod terminal {
    use std::io::{Read, Write};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    pub(crate) struct Terminal {
        pub(crate) child: Child,
        master: std::fs::File,
        screen: Arc<Mutex<String>>,
    }

    impl Terminal {
        /// Starts `maple ARGS` in `dir` on a new terminal; `None` where no terminal or `setsid`
        /// can be had.
        pub(crate) fn start(args: &[&str], dir: &Path) -> Option<Terminal> {
            let pty = nix::pty::openpty(None, None).ok()?;
            let slave = std::fs::File::from(pty.slave);
            let child = Command::new("setsid")
                .arg("-c")
                .arg(env!("CARGO_BIN_EXE_maple"))
                .args(args)
                .current_dir(dir)
                .stdin(Stdio::from(slave.try_clone().ok()?))
                .stdout(Stdio::from(slave.try_clone().ok()?))
                .stderr(Stdio::from(slave))
                .spawn()
                .ok()?;
            let master = std::fs::File::from(pty.master);
            let mut reader = master.try_clone().ok()?;
            let screen = Arc::new(Mutex::new(String::new()));
            let shared = Arc::clone(&screen);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // The read fails (EIO) once every process has closed the terminal.
                while let Ok(n @ 1..) = reader.read(&mut buf) {
                    shared
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
            Some(Terminal {
                child,
                master,
                screen,
            })
        }

        /// Waits until a process below maple runs the program named `comm` (at most 30 s), and
        /// says whether one did.
        pub(crate) fn wait_for_program(&self, comm: &str) -> bool {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() <= deadline {
                if descendants(self.child.id())
                    .iter()
                    .any(|pid| proc_text(&format!("{pid}/comm")).trim() == comm)
                {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        }

        /// Waits until the terminal shows `text` (at most 30 s); the screen so far.
        pub(crate) fn wait_for(&self, text: &str) -> String {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let screen = self.screen.lock().unwrap().clone();
                if screen.contains(text) || Instant::now() > deadline {
                    return screen;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        /// Types Ctrl-C.
        pub(crate) fn interrupt(&mut self) {
            self.master.write_all(b"\x03").unwrap();
        }

        /// Waits for maple to end (at most 30 s) and returns its exit code.
        pub(crate) fn exit_code(&mut self) -> Option<i32> {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    return status.code();
                }
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The text of `/proc/PATH`, empty if it cannot be read (the process ended).
    fn proc_text(path: &str) -> String {
        std::fs::read_to_string(format!("/proc/{path}")).unwrap_or_default()
    }

    /// Every process below `pid`, from the parent of each process in /proc (every kernel has
    /// `/proc/PID/stat`; `/proc/PID/task/TID/children` needs CONFIG_PROC_CHILDREN).
    fn descendants(pid: u32) -> Vec<u32> {
        let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let child: u32 = entry.file_name().to_str()?.parse().ok()?;
                // The parent is the second field after the command name, which is in
                // parentheses and may itself hold spaces and parentheses.
                let stat = proc_text(&format!("{child}/stat"));
                let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
                Some((child, parent.parse().ok()?))
            })
            .collect();
        let mut found = vec![pid];
        let mut i = 0;
        while let Some(&p) = found.get(i) {
            found.extend(parents.iter().filter(|&&(_, pp)| pp == p).map(|&(c, _)| c));
            i += 1;
        }
        found.split_off(1)
    }
}

/// Ctrl-C typed on a real terminal during a capture: the program gets it and ends, maple
/// writes the whole trace and says so. A program that survives the first Ctrl-C is stopped by
/// a second one; the trace keeps what was recorded, marked cut short, and the replay says so.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_keeps_the_trace() {
    use terminal::Terminal;
    let dir = scratch("ctrl-c");
    // A program that ends on SIGINT, as most do.
    let Some(mut term) = Terminal::start(
        &[
            "capture",
            "-q",
            "-o",
            "once.mtrace.zst",
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 30",
        ],
        &dir,
    ) else {
        eprintln!("skipping: no pseudo-terminal or setsid here");
        return;
    };
    let screen = term.wait_for("ready");
    if screen.contains("cannot trace programs here") {
        eprintln!("skipping: {screen}");
        return;
    }
    // dash, running `-c`, catches SIGINT and acts on it only at its next safe point: a Ctrl-C
    // between the echo and the exec is lost with the shell's image, and sleep runs its 30 s.
    // The Ctrl-C goes once sleep is running.
    assert!(term.wait_for_program("sleep"), "{}", term.wait_for("sleep"));
    term.interrupt();
    assert_eq!(term.exit_code(), Some(130), "{}", term.wait_for("wrote"));
    let screen = term.wait_for("wrote once.mtrace.zst");
    assert!(screen.contains("reached the program"), "{screen}");
    assert!(screen.contains("the trace is complete"), "{screen}");
    let replay = maple(&["replay", "--check", "once.mtrace.zst"], &dir);
    assert_eq!(replay.status.code(), Some(0), "{replay:?}");
    assert!(!text(&replay.stdout).contains("cut short"), "{replay:?}");

    // A program that traps SIGINT and goes on: the second Ctrl-C stops it.
    let Some(mut term) = Terminal::start(
        &[
            "capture",
            "-q",
            "-o",
            "twice.mtrace.zst",
            "--",
            "sh",
            "-c",
            "trap 'echo caught' INT; echo ready; while :; do sleep 0.05; done",
        ],
        &dir,
    ) else {
        return;
    };
    term.wait_for("ready");
    term.interrupt();
    term.wait_for("caught");
    // Two Ctrl-Cs that reach maple before it has read the first are one signal (the kernel
    // keeps one pending SIGINT): the second is typed once maple has answered the first.
    term.wait_for("interrupt again");
    term.interrupt();
    assert_eq!(term.exit_code(), Some(137), "{}", term.wait_for("wrote"));
    let screen = term.wait_for("wrote twice.mtrace.zst");
    assert!(screen.contains("stopping the program"), "{screen}");
    assert!(
        screen.contains("Cut short by a second interrupt"),
        "{screen}"
    );
    let replay = maple(&["replay", "--check", "twice.mtrace.zst"], &dir);
    assert!(
        text(&replay.stdout).contains("cut short:       the capture was stopped"),
        "{replay:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `maple export` writes the kernel's test array for an address space of a shipped trace, and
/// a script that `maple script` runs to a valid tree; output files are not replaced without
/// `--force`; a space that does not exist is one line.
#[test]
fn export_writes_a_kernel_set_and_a_script() {
    let dir = scratch("export");
    let trace = testdata().join("traces/gcc-cc1-O2.mtrace.zst");
    let trace = trace.to_str().unwrap();
    let out = maple(
        &["export", trace, "--space", "2", "--name", "set_cc1"],
        &dir,
    );
    let set = success(&out);
    assert!(
        set.starts_with("/* maple export: address space 2, steps "),
        "{set}"
    );
    assert!(
        set.contains("static const unsigned long set_cc1[] = {\nSTORE, "),
        "{set}"
    );
    assert!(set.contains("\nSNULL, "), "{set}");
    assert!(set.ends_with(",\n};\n"), "{set}");
    let out = maple(
        &[
            "export",
            trace,
            "--space",
            "2",
            "--script",
            "-o",
            "cc1.script",
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stderr).contains("wrote cc1.script"), "{out:?}");
    let out = maple(&["script", "cc1.script"], &dir);
    assert_eq!(success(&out), "ok\n");
    let out = maple(&["export", trace, "--space", "2", "-o", "cc1.script"], &dir);
    assert!(failure(&out).contains("cc1.script exists"), "{out:?}");
    let out = maple(&["export", trace, "--space", "9"], &dir);
    assert!(
        failure(&out).ends_with("address space 9 has no step in the range asked for"),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On a terminal, the progress line never mixes with the program's output there: each line
/// the program writes starts after the progress line was cleared, and ends before it is
/// drawn again.
#[cfg(target_os = "linux")]
#[test]
fn progress_never_mixes_with_the_program() {
    use terminal::Terminal;
    let dir = scratch("progress");
    let script =
        "for i in 1 2 3 4; do echo line$i; sleep 0.7; done; printf 'no newline'; sleep 0.7";
    let Some(mut term) = Terminal::start(
        &["capture", "-o", "p.mtrace.zst", "--", "sh", "-c", script],
        &dir,
    ) else {
        eprintln!("skipping: no pseudo-terminal or setsid here");
        return;
    };
    let screen = term.wait_for("wrote p.mtrace.zst");
    if screen.contains("cannot trace programs here") {
        return;
    }
    assert_eq!(term.exit_code(), Some(0), "{screen:?}");
    assert!(
        screen.contains(" processes, "),
        "the progress line was drawn: {screen:?}"
    );
    // maple's summary starts on a line of its own after the program's unfinished one.
    assert!(
        screen.contains("no newline\r\nmaple capture: sh exited"),
        "{screen:?}"
    );
    // What the terminal shows of each line: the text after the last clear.
    for row in screen.split('\n') {
        let shown = row
            .rsplit("\u{1b}[K")
            .next()
            .unwrap_or(row)
            .trim_end_matches('\r');
        if ["line1", "line2", "line3", "line4"]
            .iter()
            .any(|l| row.contains(l))
        {
            assert!(shown.starts_with("line") && shown.len() == 5, "{row:?}");
        }
        if let Some(at) = row.find("no newline") {
            // Nothing was drawn after the unfinished line.
            assert!(!row[at..].contains(" processes, "), "{row:?}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A replay error about the exec snapshot names the snapshot's line in the file.
#[test]
fn exec_snapshot_errors_name_the_line() {
    let dir = scratch("exec-line");
    std::fs::write(
        dir.join("bad.mtrace"),
        "#mapletrace 2\n#name demo\nN 1 t1 demo\nS 1 1\nv 1001 2000 r--p 0 -\nX 1\n",
    )
    .unwrap();
    let out = maple(&["replay", "--check", "bad.mtrace"], &dir);
    assert_eq!(
        failure(&out),
        "maple: bad.mtrace: line 4 (step 1): cannot map the kernel's 0x1001-0x2000: EINVAL"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SIGTERM sent to maple alone is passed on to the program (which ends by it), and the trace
/// is written whole.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_to_maple_goes_to_the_program() {
    let dir = scratch("sigterm");
    let child = Command::new(env!("CARGO_BIN_EXE_maple"))
        .args(["capture", "-q", "-o", "t.mtrace.zst", "--", "sleep", "30"])
        .current_dir(&dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for maple to start the program (its output is created just before), and a little
    // more for the program to run.
    let started = std::time::Instant::now();
    while !dir.join("t.mtrace.zst.partial").exists() {
        assert!(started.elapsed().as_secs() < 30, "maple did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    if err.contains("cannot trace programs here") {
        return;
    }
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("signal 15 passed on to the program"), "{err}");
    assert!(err.contains("the trace is complete"), "{err}");
    let replay = maple(&["replay", "--check", "t.mtrace.zst"], &dir);
    assert_eq!(replay.status.code(), Some(0), "{replay:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
