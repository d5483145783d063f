//! The ptrace recorder on real programs: `/bin/true`, a shell that forks and execs, and a
//! python3 script with threads, mmap, madvise, mprotect and fork. Each capture is written,
//! read back and checked: it parses, its records make sense, no path from this machine
//! appears, every successful mmap is covered by the layout that follows it, `#kernel` is
//! this machine's release, and the replay through maple-mm matches the kernel at every step. The tests skip (saying why) where ptrace is not allowed.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;

use maple_trace::capture::{Capture, CaptureError, CaptureOutcome, ExitStatus};
use maple_trace::format::{Op, Record, SnapshotVma, SpaceId, ThreadId};
use maple_trace::replay::{ReplayOptions, replay};
use maple_trace::{Trace, io};

/// Runs a capture with the program's output discarded; `None` (after saying why) when this
/// machine cannot trace.
fn capture(program: &str, args: &[&str]) -> Option<CaptureOutcome> {
    let result = Capture::new(program, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .run(|_| {});
    match result {
        Ok(outcome) => Some(outcome),
        Err(e @ (CaptureError::NotAllowed { .. } | CaptureError::UnsupportedPlatform)) => {
            eprintln!("skipping the capture of {program}: {e}");
            None
        }
        Err(e) => panic!("capture of {program} failed: {e}"),
    }
}

/// Writes the trace compressed, reads it back, and runs every check that holds for any
/// capture. Returns the text.
fn write_read_check(trace: &Trace, file: &str) -> String {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "maple-capture-test-{}-{file}.mtrace.zst",
        std::process::id()
    ));
    io::write_file(&path, trace).unwrap();
    let back = io::read_file(&path).unwrap();
    let text = String::from_utf8(io::read_bytes(&path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(&back, trace, "the written trace reads back the same");

    // Header.
    assert_eq!(back.header.source.as_deref(), Some("maple-capture"));
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(back.header.kernel.as_deref(), Some(release.trim()));
    assert_eq!(back.header.arch.as_deref(), Some("x86_64"));
    // The machine's protection keys, as the kernel reports them in /proc/cpuinfo: x86-64
    // has 16 when it enabled PKU (`ospke`), none otherwise.
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let pku = cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_ascii_whitespace().any(|f| f == "ospke"));
    assert_eq!(back.header.pkeys, Some(if pku { 16 } else { 0 }));

    // No path of this machine: no `/` anywhere (names are base names, files are ids).
    for (i, line) in text.lines().enumerate() {
        assert!(!line.contains('/'), "line {}: {line}", i + 1);
    }

    check_records(&back);

    // End to end: the model reproduces every step the kernel took.
    let options = ReplayOptions {
        check: true,
        ..ReplayOptions::default()
    };
    let report = replay(&back, &options, &mut |_, _| {}).unwrap();
    assert!(report.all_match(), "{file}:\n{report}");
    assert!(report.comparisons > 0, "{file}:\n{report}");
    text
}

/// The threads with ops in each stretch of a space's records between two of its snapshots,
/// and for each record the stretch it is in: `(space, number of snapshots before it)`.
type Stretches = (
    HashMap<(SpaceId, usize), HashSet<ThreadId>>,
    Vec<Option<(SpaceId, usize)>>,
);

fn stretches(trace: &Trace) -> Stretches {
    let mut snapshots: HashMap<SpaceId, usize> = HashMap::new();
    let mut threads: HashMap<(SpaceId, usize), HashSet<ThreadId>> = HashMap::new();
    let mut of = Vec::new();
    for record in &trace.records {
        match record {
            Record::Snapshot { space, .. } | Record::Delta { space, .. } => {
                *snapshots.entry(*space).or_default() += 1;
                of.push(None);
            }
            Record::Op { space, thread, .. } => {
                let at = (*space, snapshots.get(space).copied().unwrap_or_default());
                if let Some(thread) = thread {
                    threads.entry(at).or_default().insert(*thread);
                }
                of.push(Some(at));
            }
            Record::FileName { .. } | Record::CutShort => of.push(None),
        }
    }
    (threads, of)
}

/// Spaces begin with N or F and a snapshot, end with one X; snapshots are sorted; every
/// successful mmap's range is inside the layout recorded after it (when one thread made the
/// ops until the next snapshot; see below).
fn check_records(trace: &Trace) {
    let (stretch_threads, stretch_of) = stretches(trace);
    let mut layout: HashMap<SpaceId, Vec<SnapshotVma>> = HashMap::new();
    // A successful mmap not yet checked, per space: its range.
    let mut unchecked: HashMap<SpaceId, (u64, u64)> = HashMap::new();
    let mut born = 0;
    let mut died = 0;
    let mut needs_snapshot: Option<SpaceId> = None;
    for (index, record) in trace.records.iter().enumerate() {
        if let Some(space) = needs_snapshot {
            match record {
                Record::FileName { .. } => {}
                Record::Snapshot { space: s, .. } if *s == space => needs_snapshot = None,
                other => panic!("N/F of space {space} is followed by {other}, not its snapshot"),
            }
        }
        // A change snapshot gives the layout with its windows replaced.
        let changed;
        let record = match record {
            Record::Delta { space, windows } => {
                let mut vmas: Vec<SnapshotVma> = layout[space]
                    .iter()
                    .filter(|v| !windows.iter().any(|w| w.start <= v.start && v.end <= w.end))
                    .cloned()
                    .collect();
                vmas.extend(windows.iter().flat_map(|w| w.vmas.iter().cloned()));
                vmas.sort_by_key(|v| v.start);
                changed = Record::Snapshot {
                    space: *space,
                    vmas,
                };
                &changed
            }
            other => other,
        };
        match record {
            Record::Snapshot { space, vmas } => {
                for pair in vmas.windows(2) {
                    assert!(
                        pair[0].end <= pair[1].start,
                        "sorted: {} {}",
                        pair[0],
                        pair[1]
                    );
                }
                assert!(
                    vmas.iter()
                        .all(|v| v.start < v.end && v.start.is_multiple_of(4096))
                );
                if let Some((start, end)) = unchecked.remove(space) {
                    assert_covered(vmas, start, end);
                }
                layout.insert(*space, vmas.clone());
            }
            Record::Op { space, op, .. } => {
                // An op after an unchecked mmap without a snapshot between: when one thread
                // made every op until the next snapshot, the layout did not change, so the
                // last snapshot must cover it. Otherwise the snapshot may have waited for a
                // sibling inside a call, even one whose op comes later (it may have entered
                // before the mmap returned), and shows the effect of later ops too, such as
                // an munmap of the new range.
                let one_thread = stretch_of[index]
                    .and_then(|at| stretch_threads.get(&at))
                    .is_some_and(|t| t.len() == 1);
                if let Some((start, end)) = unchecked.remove(space)
                    && one_thread
                {
                    assert_covered(&layout[space], start, end);
                }
                match op {
                    Op::NewSpace { program } => {
                        assert!(!program.is_empty());
                        born += 1;
                        needs_snapshot = Some(*space);
                    }
                    Op::Fork { .. } => {
                        born += 1;
                        needs_snapshot = Some(*space);
                    }
                    Op::Exit => {
                        died += 1;
                        layout.remove(space);
                    }
                    Op::Mmap {
                        len, ret: Ok(addr), ..
                    } => {
                        let end = addr + len.next_multiple_of(4096);
                        unchecked.insert(*space, (*addr, end));
                    }
                    _ => {}
                }
            }
            Record::FileName { .. } | Record::Delta { .. } | Record::CutShort => {}
        }
    }
    assert_eq!(born, died, "every space that began ended");
    assert!(born >= 1);
}

/// Panics unless `[start, end)` lies inside the union of `vmas`.
fn assert_covered(vmas: &[SnapshotVma], start: u64, end: u64) {
    let mut at = start;
    for vma in vmas {
        if vma.end <= at {
            continue;
        }
        if vma.start > at {
            break;
        }
        at = vma.end;
        if at >= end {
            return;
        }
    }
    panic!("mmap range {start:x}..{end:x} is not covered by the snapshot after it (gap at {at:x})");
}

fn count(trace: &Trace, letter: char) -> usize {
    trace
        .records
        .iter()
        .filter(|r| matches!(r, Record::Op { op, .. } if op.letter() == letter))
        .count()
}

fn programs(trace: &Trace) -> Vec<&str> {
    trace
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Op {
                op: Op::NewSpace { program },
                ..
            } => Some(program.as_str()),
            _ => None,
        })
        .collect()
}

/// `/bin/true`: one space, its exec layout, the loader's mmaps, one exit.
#[test]
fn true_is_one_space_with_snapshots() {
    let Some(outcome) = capture("/bin/true", &[]) else {
        return;
    };
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    let trace = &outcome.trace;
    write_read_check(trace, "true");
    assert_eq!(programs(trace), ["true"]);
    assert_eq!(count(trace, 'N'), 1);
    assert_eq!(count(trace, 'F'), 0);
    assert_eq!(count(trace, 'X'), 1);
    assert!(count(trace, 'm') >= 3, "the loader maps libc");
    assert!(trace.snapshot_count() >= 3);
    assert_eq!(trace.header.name.as_deref(), Some("true"));
    assert_eq!(outcome.stats.spaces, 1);
    assert!(outcome.stats.peak_vmas >= 10);
}

/// A shell that runs two programs: a new space per exec (and per fork, if the shell forks
/// rather than vforks), all ended.
#[test]
fn shell_forks_and_execs() {
    let Some(outcome) = capture("sh", &["-c", "ls / >/dev/null; cat /dev/null"]) else {
        return;
    };
    assert!(outcome.status.success());
    let trace = &outcome.trace;
    write_read_check(trace, "sh");
    let names = programs(trace);
    assert_eq!(names.first(), Some(&"sh"), "{names:?}");
    assert!(names.contains(&"ls") && names.contains(&"cat"), "{names:?}");
    assert_eq!(count(trace, 'N') + count(trace, 'F'), count(trace, 'X'));
    assert!(outcome.stats.processes >= 3);
}

/// The status of the program is the capture's, exit code or signal; signals reach it.
#[test]
fn exit_status_and_signals_pass_through() {
    let Some(outcome) = capture("sh", &["-c", "exit 3"]) else {
        return;
    };
    assert_eq!(outcome.status, ExitStatus::Exited(3));
    let Some(outcome) = capture("sh", &["-c", "kill -USR1 $$"]) else {
        return;
    };
    assert_eq!(outcome.status, ExitStatus::Signaled(10));
    // A handled signal: the trap runs, so the signal was delivered.
    let Some(outcome) = capture("sh", &["-c", "trap 'exit 5' USR1; kill -USR1 $$; exit 0"]) else {
        return;
    };
    assert_eq!(outcome.status, ExitStatus::Exited(5));
    assert!(outcome.stats.signals_forwarded >= 1);
}

/// A missing program is reported before anything runs.
#[test]
fn missing_program_is_not_found() {
    let result = Capture::new("maple-no-such-program-here", ["x"]).run(|_| {});
    match result {
        Err(CaptureError::ProgramNotFound { program }) => {
            assert_eq!(program, "maple-no-such-program-here");
        }
        Err(CaptureError::UnsupportedPlatform) => {}
        other => panic!("expected ProgramNotFound, got {other:?}"),
    }
}

/// The python3 interpreter itself (not a wrapper script such as a pyenv shim), if any.
fn python3() -> Option<String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let path = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !path.is_empty()).then_some(path)
}

const PYTHON: &str = r"
import ctypes, mmap, os, threading
def work():
    m = mmap.mmap(-1, 1 << 20)
    m[0] = 1
    m.close()
ts = [threading.Thread(target=work) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
m = mmap.mmap(-1, 16 << 12)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
assert libc.mprotect(addr + 4096, 4096, mmap.PROT_READ) == 0
assert libc.mprotect(addr + 1, 4096, mmap.PROT_READ) == -1
m.madvise(mmap.MADV_DONTFORK, 0, 4096)
pid = os.fork()
if pid == 0:
    os._exit(7)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
";

/// python3 with threads, mmap, munmap, mprotect (one failing), madvise and fork: threads
/// share the space, fork makes a copy without the DONTFORK range, failures are recorded.
#[test]
fn python_threads_mmap_and_fork() {
    let Some(python) = python3() else {
        eprintln!("skipping: no python3");
        return;
    };
    let Some(outcome) = capture(&python, &["-c", PYTHON]) else {
        return;
    };
    assert!(outcome.status.success(), "{}", outcome.status);
    let trace = &outcome.trace;
    let text = write_read_check(trace, "python3");
    assert_eq!(count(trace, 'F'), 1, "one fork");
    assert!(outcome.stats.threads >= 5, "four threads made calls");
    assert!(count(trace, 'u') >= 5, "munmaps");
    assert!(text.contains(" DONTFORK 0\n"), "the madvise");
    assert!(text.contains(" 1000 r-- 0\n"), "the mprotect");
    assert!(text.contains(" 1000 r-- !EINVAL\n"), "the failed mprotect");
    assert!(outcome.stats.failed_ops >= 1);

    // The child's layout lacks the DONTFORK page the parent's has.
    let dontfork = trace.records.iter().find_map(|r| match r {
        Record::Op {
            op:
                Op::Madvise {
                    addr,
                    advice,
                    ret: Ok(0),
                    ..
                },
            ..
        } if advice.name() == Some("DONTFORK") => Some(*addr),
        _ => None,
    });
    let dontfork = dontfork.expect("the madvise record");
    let fork_at = trace
        .records
        .iter()
        .position(|r| {
            matches!(
                r,
                Record::Op {
                    op: Op::Fork { .. },
                    ..
                }
            )
        })
        .unwrap();
    let Some(Record::Snapshot { vmas, .. }) = trace.records[fork_at..]
        .iter()
        .find(|r| matches!(r, Record::Snapshot { .. }))
    else {
        panic!("a snapshot follows F");
    };
    assert!(
        !vmas.iter().any(|v| v.start <= dontfork && dontfork < v.end),
        "the child has no VMA at the DONTFORK page {dontfork:x}"
    );
}

/// A C program making every recorded call (mmap flavours, mprotect splits, mlock, madvise,
/// set_vma_name, mremap, shared file and anonymous mappings, brk, protection keys, mseal),
/// with three threads mapping and unmapping at once, a fork and a vfork: captured, then
/// replayed with every step matching the kernel (`write_read_check`).
#[test]
fn c_program_with_every_call() {
    let dir = std::env::temp_dir().join(format!("maple-capture-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("every_call");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs/every_call.c");
    let built = std::process::Command::new("cc")
        .args(["-O1", "-pthread", "-o"])
        .arg(&program)
        .arg(source)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("skipping: no C compiler");
        return;
    }
    let data = dir.join("data");
    let outcome = capture(program.to_str().unwrap(), &[data.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(outcome) = outcome else {
        return;
    };
    assert!(outcome.status.success(), "{}", outcome.status);
    let trace = &outcome.trace;
    let text = write_read_check(trace, "every_call");
    for call in [
        "o 1 t1 mlockall",
        "o 1 t1 pkey_alloc",
        "o 1 t1 pkey_free",
        "o 1 t1 mseal",
        "o 1 t1 set_vma_name",
        "r 1 t1",
        "F 2 1",
    ] {
        assert!(text.contains(call), "{call}");
    }
    assert!(outcome.stats.threads >= 4);
}

/// Builds `tests/programs/NAME.c` into a scratch folder; `None` (after saying why) without a
/// C compiler.
fn build_program(name: &str) -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::temp_dir().join(format!("maple-capture-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join(name);
    let source = format!("{}/tests/programs/{name}.c", env!("CARGO_MANIFEST_DIR"));
    let built = std::process::Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&program)
        .arg(source)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("skipping: no C compiler");
        return None;
    }
    Some((dir, program))
}

/// The scale program at a small size: 400 one-page VMAs that cannot merge, then 400 random
/// munmap and MAP_FIXED calls; captured and replayed with every step matching the kernel.
#[test]
fn many_vmas_small() {
    let Some((dir, program)) = build_program("many_vmas") else {
        return;
    };
    let outcome = capture(program.to_str().unwrap(), &["400", "7"]);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(outcome) = outcome else {
        return;
    };
    assert!(outcome.status.success(), "{}", outcome.status);
    write_read_check(&outcome.trace, "many_vmas");
    assert!(outcome.stats.peak_vmas > 400, "{:?}", outcome.stats);
    let calls = outcome.stats.ops_by_kind["mmap"] + outcome.stats.ops_by_kind["munmap"];
    assert!(calls > 800, "{calls}");
}

/// The records of the flake `c_program_with_every_call` once hit under load, cut down: the
/// mmap of thread 1 got no snapshot of its own, because thread 2 was inside an mmap whose op
/// the capture saw return only later (R3); the snapshot after both covers it.
#[test]
fn an_mmap_may_wait_for_a_thread_with_no_op_yet() {
    let text = "#mapletrace 2\nN 1 t1 prog\nS 1 1\n\
        v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
        m 1 t1 0 2000 --- pa - 0 7f0000000000\n\
        p 1 t1 7f0000001000 1000 rw- 0\n\
        m 1 t2 0 1000 rw- pa - 0 7f0000002000\n\
        D 1 1\nw 7f0000000000 7f0000003000 3\n\
        v 7f0000000000 7f0000001000 ---p 0 - mr,mw,me\n\
        v 7f0000001000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
        v 7f0000002000 7f0000003000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
        X 1\n";
    check_records(&maple_trace::parse::parse(text.as_bytes()).unwrap());
}
