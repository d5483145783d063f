//! Importing strace logs: the shipped captures, the line shapes strace prints, and bad input.

use std::path::PathBuf;

use maple_trace::format::{Errno, Op, Record, SpaceId};
use maple_trace::strace::import;

fn shipped(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/strace")
        .join(name);
    maple_trace::io::read_bytes(&path).unwrap()
}

/// Counts the log's lines for `call` that completed (entry lines of split calls excluded).
fn count_calls(log: &str, call: &str) -> usize {
    let complete = format!(" {call}(");
    let resumed = format!("<... {call} resumed>");
    log.lines()
        .filter(|l| {
            (l.contains(&complete) && !l.ends_with("<unfinished ...>")) || l.contains(&resumed)
        })
        .count()
}

#[test]
fn shipped_logs_import_with_every_memory_call() {
    for name in [
        "gcc-cc1-O2.strace.xz",
        "git-log-p.strace.xz",
        "python3-mixed.strace.xz",
        "rustc-cargo-release.strace.xz",
        "synthetic-edge-cases.strace.xz",
    ] {
        let bytes = shipped(name);
        let log = String::from_utf8(bytes.clone()).unwrap();
        let trace = import(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ops = |letter: char| {
            trace
                .records
                .iter()
                .filter(|r| matches!(r, Record::Op { op, .. } if op.letter() == letter))
                .count()
        };
        for (call, letter) in [
            ("mmap", 'm'),
            ("munmap", 'u'),
            ("mprotect", 'p'),
            ("brk", 'b'),
            ("madvise", 'a'),
            ("mremap", 'r'),
        ] {
            assert_eq!(ops(letter), count_calls(&log, call), "{name}: {call}");
        }
        let execs = log
            .lines()
            .filter(|l| l.contains("execve(") && l.ends_with("= 0"))
            .count()
            + log
                .lines()
                .filter(|l| l.contains("<... execve resumed>") && l.ends_with("= 0"))
                .count();
        assert_eq!(ops('N'), execs, "{name}: one space per successful exec");
        assert_eq!(ops('N') + ops('F'), ops('X'), "{name}: every space ends");
        // The written trace parses back to the same records.
        let again = maple_trace::parse(trace.to_string().as_bytes()).unwrap();
        assert_eq!(again, trace, "{name}");
    }
}

#[test]
fn forks_threads_and_vforks_get_the_right_spaces() {
    let log = "\
10 execve(\"/bin/sh\", [\"sh\"], 0x7ffd /* 3 vars */) = 0
10 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>
11 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000
10 <... clone resumed>, child_tidptr=0x7f) = 11
10 clone3({flags=CLONE_VM|CLONE_FS|CLONE_THREAD, exit_signal=0} => {parent_tid=[12]}, 88) = 12
12 munmap(0x7f0000001000, 4096) = 0
12 exit(0) = ?
12 +++ exited with 0 +++
10 vfork( <unfinished ...>
13 execve(\"/usr/bin/cc1\", [\"cc1\"], 0x1 /* 3 vars */ <unfinished ...>
10 <... vfork resumed>) = 13
13 <... execve resumed>) = 0
13 brk(NULL) = 0x1000000
13 exit_group(0) = ?
13 +++ exited with 0 +++
11 +++ killed by SIGKILL +++
10 exit_group(0) = ?
10 +++ exited with 0 +++
";
    let trace = import(log.as_bytes()).unwrap();
    assert_eq!(
        trace.to_string(),
        "#mapletrace 2\n#source strace\nN 1 t1 sh\nF 2 1 t1\nm 2 t2 0 1000 r-- pa - 0 7f0000001000\n\
         u 1 t3 7f0000001000 1000 0\nN 3 t4 cc1\nb 3 t4 0 1000000\nX 3\nX 2\nX 1\n"
    );
}

#[test]
fn line_shapes_strace_prints() {
    let log = "\
[pid  7] 10:00:00.123456 mmap(0x7f0000000000, 8192, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3</usr/lib/libc.so.6>, 0x26000) = 0x7f0000000000
[pid  7] 10:00:00.123457 mmap(NULL, 2097152, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|21<<MAP_HUGE_SHIFT, -1, 0) = -1 ENOMEM (Cannot allocate memory)
[pid  7] 10:00:00.123458 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 4</usr/lib/libc.so.6>, 0) = 0x7f0000100000
[pid  7] 10:00:00.123459 mremap(0x7f0000100000, 4096, 8192, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f0000200000) = 0x7f0000200000
[pid  7] 10:00:00.123460 mlock2(0x7f0000200000, 4096, MLOCK_ONFAULT) = 0
[pid  7] 10:00:00.123461 mlockall(MCL_CURRENT|MCL_FUTURE) = 0
[pid  7] 10:00:00.123462 pkey_mprotect(0x7f0000200000, 4096, PROT_READ|PROT_WRITE, 1) = 0
[pid  7] 10:00:00.123463 prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, 0x7f0000200000, 4096, \"my heap\") = 0
[pid  7] 10:00:00.123464 madvise(0x7f0000200000, 4096, MADV_GUARD_INSTALL) = 0
[pid  7] 10:00:00.123465 munmap(0x7f0000200000, 4096) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)
--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
[pid  7] 10:00:00.123466 wait4(-1, NULL, 0, NULL) = 8
";
    let trace = import(log.as_bytes()).unwrap();
    assert_eq!(
        trace.to_string(),
        "#mapletrace 2\n#source strace\nf f1 libc.so.6\nN 1 t1 ?\nm 1 t1 7f0000000000 2000 r-x pFD f1 26000 7f0000000000\n\
         m 1 t1 0 200000 --- paH+54000000 - 0 !ENOMEM\nm 1 t1 0 1000 r-- s f1 0 7f0000100000\n\
         r 1 t1 7f0000100000 1000 2000 MF 7f0000200000 7f0000200000\no 1 t1 mlock2 7f0000200000 1000 1 0\n\
         o 1 t1 mlockall 3 0\np 1 t1 7f0000200000 1000 rw- 0 k1\no 1 t1 set_vma_name 7f0000200000 1000 1 0\n\
         a 1 t1 7f0000200000 1000 GUARD_INSTALL 0\n"
    );
    let errno = trace.records.iter().find_map(|r| match r {
        Record::Op {
            space: SpaceId(1),
            op: Op::Mmap { ret: Err(e), .. },
            ..
        } => Some(*e),
        _ => None,
    });
    assert_eq!(errno, Some(Errno::ENOMEM));
}

#[test]
fn bad_logs_name_the_line() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "line 1: no system call in the log"),
        (
            b"1 mmap(NULL, 4096) = 0x1000\n",
            "line 1: mmap has no argument 3",
        ),
        (
            b"1 hello world\n",
            "line 1: cannot read `hello world` as a strace line",
        ),
        (
            b"1 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_BOGUS, -1, 0) = 0x1000\n",
            "line 1: unknown flag `MAP_BOGUS`",
        ),
        (
            b"1 munmap(0x1zz, 4096) = 0\n",
            "line 1: `0x1zz` is not a number that fits in 64 bits",
        ),
        (
            b"1 munmap(0x10000000000000000, 4096) = 0\n",
            "line 1: `0x10000000000000000` is not a number that fits in 64 bits",
        ),
        (
            b"1 brk(NULL) = 0x1000\n1 <... munmap resumed>) = 0\n",
            "line 2: `munmap` resumed without an unfinished call of the same task",
        ),
        (b"1 brk(NULL) = 0x1000\n\xff\n", "line 2: not UTF-8 text"),
    ];
    for &(log, expected) in cases {
        let err = import(log).unwrap_err();
        assert_eq!(
            err.to_string(),
            expected,
            "log {:?}",
            String::from_utf8_lossy(log)
        );
    }
}

/// An imported log has no snapshots: asked to check, the replay runs unchecked (nothing to
/// compare with) instead of reporting every mapping as extra.
#[test]
fn imported_logs_replay_unchecked() {
    use maple_trace::replay::{ReplayOptions, replay};
    let trace = import(&shipped("git-log-p.strace.xz")).unwrap();
    let options = ReplayOptions {
        check: true,
        ..ReplayOptions::default()
    };
    let report = replay(&trace, &options, &mut |_, _| {}).unwrap();
    assert!(!report.checked);
    assert_eq!(report.comparisons, 0);
    assert!(report.divergences.is_empty(), "{report}");
    assert!(report.steps > 4000, "{report}");
    // Nothing is checked, so nothing is called a match.
    assert_eq!(
        (report.steps_matching, report.steps_unchecked),
        (0, report.steps),
        "{report}"
    );
}
