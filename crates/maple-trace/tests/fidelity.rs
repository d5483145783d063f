//! The classes of divergence between maple-mm and Linux that random programs found (issue 12),
//! each pinned by a minimal C program: compiled with `cc`, captured on this machine (the kernel
//! is the oracle) and replayed with checks, every step matching. Each test also checks that
//! the kernel answered what the class is about, so a test cannot pass by not exercising it.
//! The tests skip, saying why, where there is no C compiler or ptrace is not allowed.

use std::path::PathBuf;
use std::process::Stdio;

use maple_trace::Trace;
use maple_trace::capture::{Capture, CaptureError};
use maple_trace::replay::{ReplayOptions, Report, replay};

/// What every program includes.
const PRELUDE: &str = r#"
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#define PG 4096L
"#;

/// Compiles `main` (the body of a C `main` that gets `argv[1]`, a scratch file path), runs it
/// under the capture and returns the trace; `None` (after saying why) when this machine
/// cannot: no C compiler, no ptrace, or the program's exit status 77 (a kernel without a
/// feature it needs).
fn capture_c(name: &str, main: &str) -> Option<Trace> {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("maple-fidelity-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join(format!("{name}.c"));
    let program = dir.join(name);
    std::fs::write(
        &source,
        format!(
            "{PRELUDE}\nint main(int argc, char **argv) {{\n(void)argc;\n{main}\nreturn 0;\n}}\n"
        ),
    )
    .unwrap();
    let built = std::process::Command::new("cc")
        .args(["-O1", "-w", "-o"])
        .arg(&program)
        .arg(&source)
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("skipping {name}: no C compiler");
        let _ = std::fs::remove_dir_all(&dir);
        return None;
    }
    let data = dir.join("data");
    let result = Capture::new(&program, [&data])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .run(|_| {});
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(outcome) if outcome.status.code() == 77 => {
            eprintln!("skipping {name}: this kernel lacks what the program needs");
            None
        }
        Ok(outcome) => {
            assert!(outcome.status.success(), "{name} {}", outcome.status);
            Some(outcome.trace)
        }
        Err(e @ (CaptureError::NotAllowed { .. } | CaptureError::UnsupportedPlatform)) => {
            eprintln!("skipping {name}: {e}");
            None
        }
        Err(e) => panic!("capture of {name} failed: {e}"),
    }
}

/// Replays with checks and asserts that every step matched.
fn replays_exactly(name: &str, trace: &Trace) -> Report {
    let options = ReplayOptions {
        check: true,
        ..ReplayOptions::default()
    };
    let report = replay(trace, &options, &mut |_, _| {}).unwrap();
    assert!(report.all_match(), "{name}:\n{trace}\n{report}");
    report
}

/// Asserts that the trace holds an op line containing each of `parts` (its result included).
fn has_ops(trace: &Trace, parts: &[&str]) {
    let text = trace.to_string();
    for part in parts {
        assert!(
            text.lines().any(|l| l.contains(part)),
            "no `{part}` in\n{text}"
        );
    }
}

/// Class 1: `mlock` and `mlock2(0)` over `PROT_NONE` lock (and split) the range, then fail to
/// fault it in: `ENOMEM`. `MLOCK_ONFAULT` returns 0; `mlockall(MCL_CURRENT)` ignores the
/// failure. Locked private memory was written in, so its VMA keeps `VM_ACCOUNT` when made
/// read-only.
#[test]
fn class1_mlock_over_prot_none() {
    let Some(trace) = capture_c(
        "mlock_none",
        r"
        char *a = mmap(0, 8 * PG, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        mprotect(a + 2 * PG, 2 * PG, PROT_NONE);
        mlock(a + PG, 4 * PG);
        munlock(a, 8 * PG);
        syscall(SYS_mlock2, a + PG, 4 * PG, 0);
        munlock(a, 8 * PG);
        syscall(SYS_mlock2, a + PG, 4 * PG, 1);
        munlock(a, 8 * PG);
        mprotect(a + PG, PG, PROT_READ);
        char *g = mmap(0, 4 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        mlockall(MCL_CURRENT);
        munlockall();
        munmap(g, 4 * PG);
        ",
    ) else {
        return;
    };
    has_ops(
        &trace,
        &[
            "mlock 7",
            " 4000 !ENOMEM",
            "mlock2",
            " 4000 1 0",
            "mlockall 1 0",
        ],
    );
    replays_exactly("mlock_none", &trace);
}

/// Class 2: `MADV_POPULATE_READ/WRITE` on memory without that access is `EINVAL`.
#[test]
fn class2_populate_without_access() {
    let Some(trace) = capture_c(
        "populate_access",
        r"
        char *a = mmap(0, 4 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        char *ro = mmap(0, 2 * PG, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        madvise(a, PG, MADV_POPULATE_READ);
        madvise(a, PG, MADV_POPULATE_WRITE);
        madvise(ro, PG, MADV_POPULATE_WRITE);
        madvise(ro, 2 * PG, MADV_POPULATE_READ);
        munmap(a, 4 * PG);
        ",
    ) else {
        return;
    };
    has_ops(
        &trace,
        &[
            "POPULATE_READ !EINVAL",
            "POPULATE_WRITE !EINVAL",
            "2000 POPULATE_READ 0",
        ],
    );
    replays_exactly("populate_access", &trace);
}

/// Class 3: `MAP_DROPPABLE` memory is never locked (`mlockall(MCL_FUTURE)`, `mlock`), and
/// guard regions are allowed on it.
#[test]
fn class3_droppable_is_never_locked() {
    let Some(trace) = capture_c(
        "droppable",
        r"
        char *d = mmap(0, 4 * PG, PROT_READ|PROT_WRITE, MAP_DROPPABLE|MAP_ANONYMOUS, -1, 0);
        if (d == MAP_FAILED) return 77;
        madvise(d, PG, MADV_GUARD_INSTALL);
        madvise(d, PG, MADV_GUARD_REMOVE);
        mmap(0, 4 * PG, PROT_READ|PROT_WRITE, MAP_DROPPABLE|MAP_ANONYMOUS|MAP_LOCKED, -1, 0);
        mlockall(MCL_FUTURE);
        char *d2 = mmap(0, 4 * PG, PROT_READ|PROT_WRITE, MAP_DROPPABLE|MAP_ANONYMOUS, -1, 0);
        mlock(d, 4 * PG);
        munlockall();
        munmap(d2, 4 * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["GUARD_INSTALL 0", "ZaL - 0 !EINVAL", "mlock "]);
    replays_exactly("droppable", &trace);
}

/// Class 4: `mremap(addr, 0, len, MREMAP_MAYMOVE)` inside a shared mapping duplicates it and
/// leaves the source whole.
#[test]
fn class4_shared_duplicate_keeps_the_source() {
    let Some(trace) = capture_c(
        "dup",
        r"
        char *s = mmap(0, 8 * PG, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0);
        char *d = mremap(s + 2 * PG, 0, 2 * PG, MREMAP_MAYMOVE);
        munmap(d, 2 * PG);
        munmap(s, 8 * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &[" 0 2000 M 0 "]);
    replays_exactly("dup", &trace);
}

/// Class 7: a failed mmap of a file no snapshot has shown names the file, so the model fails
/// it alike (here `EEXIST` from `MAP_FIXED_NOREPLACE`, and `EINVAL` for an unaligned offset).
#[test]
fn class7_failed_mmap_of_an_unseen_file() {
    let Some(trace) = capture_c(
        "unseen_file",
        r"
        int fd = open(argv[1], O_RDWR|O_CREAT|O_TRUNC, 0600);
        ftruncate(fd, 4 * PG);
        char *a = mmap(0, 4 * PG, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        mmap(a, PG, PROT_READ, MAP_SHARED|MAP_FIXED_NOREPLACE, fd, 0);
        syscall(SYS_mmap, 0, PG, PROT_READ, MAP_SHARED, fd, 100);
        munmap(a, 4 * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &[":rw 0 !EEXIST", ":rw 64 !EINVAL"]);
    let report = replays_exactly("unseen_file", &trace);
    assert_eq!(report.failures_reproduced.get("EEXIST"), Some(&1));
}

/// Class 8: an `mprotect` that fails with `EACCES` at a VMA that may not be written changed
/// the VMAs before it; the replay applies it too.
#[test]
fn class8_mprotect_eacces_changes_the_vmas_before() {
    let Some(trace) = capture_c(
        "eacces",
        r"
        int fd = open(argv[1], O_RDWR|O_CREAT|O_TRUNC, 0600);
        ftruncate(fd, 4 * PG);
        int ro = open(argv[1], O_RDONLY);
        char *a = mmap(0, 8 * PG, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        mmap(a + 4 * PG, 4 * PG, PROT_READ, MAP_SHARED|MAP_FIXED, ro, 0);
        mprotect(a + 2 * PG, 4 * PG, PROT_READ|PROT_WRITE);
        mprotect(a, 2 * PG, PROT_READ|PROT_WRITE);
        munmap(a, 8 * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["4000 rw- !EACCES"]);
    let report = replays_exactly("eacces", &trace);
    assert_eq!(report.failures_reproduced.get("EACCES"), Some(&1));
}

/// Class 9: after an explained difference (a call the model does not implement, here
/// `mseal`, which splits the VMA), the model takes the kernel's VMAs with every flag it knows,
/// `dp` (droppable) included: `MADV_KEEPONFORK` on them still fails as in the kernel.
#[test]
fn class9_resync_keeps_every_known_flag() {
    let Some(trace) = capture_c(
        "resync_flags",
        r"
        char *d = mmap(0, 4 * PG, PROT_READ|PROT_WRITE, MAP_DROPPABLE|MAP_ANONYMOUS, -1, 0);
        if (d == MAP_FAILED) return 77;
        if (syscall(462 /* mseal */, d + 2 * PG, 2 * PG, 0) != 0) return 77;
        madvise(d + 2 * PG, PG, MADV_KEEPONFORK);
        madvise(d, PG, MADV_KEEPONFORK);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["mseal", "KEEPONFORK !EINVAL"]);
    let report = replays_exactly("resync_flags", &trace);
    assert!(
        report.resyncs.contains_key("unmodelled-call"),
        "{trace}\n{report}"
    );
}

/// Class 10: whether `mprotect` keeps `VM_ACCOUNT` on memory made inaccessible depends on its
/// anon_vma, which page faults made; the snapshot before the call shows it (`A`), and the
/// replay gives the model's VMA one. VMAs the replay copies from the kernel get anon_vmas only
/// where the kernel shows anonymous pages, so the kernel's later merges happen in the model.
#[test]
fn class10_anon_vma_from_the_snapshot() {
    let Some(trace) = capture_c(
        "account",
        r"
        char *a = mmap(0, 8 * PG, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        memset(a, 1, 2 * PG);
        char *b = mmap(0, PG, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        mprotect(a, PG, PROT_NONE);
        mprotect(a + 4 * PG, PG, PROT_NONE);
        mprotect(a, 8 * PG, PROT_READ|PROT_WRITE);
        munmap(b, PG);
        munmap(a, 8 * PG);
        ",
    ) else {
        return;
    };
    let report = replays_exactly("account", &trace);
    assert!(report.resyncs.is_empty(), "{report}");
}

/// Class 11: populating a file mapping beyond the file's end fails (`SIGBUS`): `mlock` with
/// `ENOMEM`, `MADV_POPULATE_READ` with `EFAULT`. The trace records the file's size at the
/// mmap (`z<size>`), so the model knows where the file ends.
#[test]
fn class11_populate_beyond_the_end_of_a_file() {
    let Some(trace) = capture_c(
        "beyond_eof",
        r"
        int fd = open(argv[1], O_RDWR|O_CREAT|O_TRUNC, 0600);
        ftruncate(fd, PG + 100);
        char *f = mmap(0, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
        mlock(f, 4 * PG);
        munlock(f, 4 * PG);
        madvise(f, 4 * PG, MADV_POPULATE_READ);
        madvise(f, 2 * PG, MADV_POPULATE_READ);
        char *w = mmap(0, 4 * PG, PROT_READ|PROT_WRITE, MAP_PRIVATE, fd, 0);
        mlock(w, 4 * PG);
        munlockall();
        mprotect(w, PG, PROT_READ);
        munmap(f, 4 * PG);
        munmap(w, 4 * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &[" z1064", "4000 !ENOMEM", "POPULATE_READ !EFAULT"]);
    replays_exactly("beyond_eof", &trace);
}

/// Found by `maple fuzz`: guard regions (`MADV_GUARD_INSTALL`) stop populating (`mlock`
/// `ENOMEM`, `MADV_POPULATE_READ` `EFAULT`) until removed, and move with `mremap`.
#[test]
fn guard_pages_stop_populating() {
    let Some(trace) = capture_c(
        "guards",
        r"
        char *a = mmap(0, 8 * PG, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        char *b = mmap(0, 2 * PG, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        if (madvise(a + 2 * PG, 2 * PG, MADV_GUARD_INSTALL) != 0) return 77;
        mlock(a + 3 * PG, 3 * PG);
        munlock(a, 8 * PG);
        madvise(a, 4 * PG, MADV_POPULATE_READ);
        madvise(a + 3 * PG, PG, MADV_GUARD_REMOVE);
        mlock(a + 3 * PG, PG);
        munlock(a, 8 * PG);
        madvise(a + 6 * PG, PG, MADV_GUARD_INSTALL);
        mremap(a + 5 * PG, 2 * PG, 2 * PG, MREMAP_MAYMOVE|MREMAP_FIXED, b);
        mlock(b, PG);
        mlock(b + PG, PG);
        ",
    ) else {
        return;
    };
    has_ops(
        &trace,
        &["3000 !ENOMEM", "POPULATE_READ !EFAULT", "1000 !ENOMEM"],
    );
    replays_exactly("guards", &trace);
}

/// Found by `maple fuzz`: memory locked on fault (`mlockall(MCL_CURRENT | MCL_FUTURE |
/// MCL_ONFAULT)`) is not faulted in when `mprotect` makes it writable, so it gets no anon_vma,
/// loses `VM_ACCOUNT` when made read-only again and merges with its neighbour.
#[test]
fn locked_on_fault_memory_made_writable() {
    let Some(trace) = capture_c(
        "onfault_writable",
        r"
        char *a = mmap(0, 4 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
        mprotect(a, 2 * PG, PROT_READ|PROT_WRITE);
        mprotect(a + PG, 2 * PG, PROT_READ|PROT_EXEC);
        munlockall();
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["mlockall 7 0"]);
    replays_exactly("onfault_writable", &trace);
}

/// Found by `maple fuzz`: where the capture read VMAs without their `VmFlags` (a maps line)
/// and the replay copies them after an explained difference (here, pages written before an
/// `mremap` that the model could not know of), the model's flags there are kept
/// (`VM_ACCOUNT`), not rebuilt from the permissions.
#[test]
fn copies_of_flagless_vmas_keep_the_models_flags() {
    let Some(trace) = capture_c(
        "flagless_resync",
        r"
        char *w = mmap(0, 0x60 * PG, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        w[0xa70] = 1;
        mremap(w + 0x26 * PG, 2 * PG, PG, MREMAP_MAYMOVE|MREMAP_FIXED, w + 0x36 * PG);
        munlock(w + 9 * PG, 3 * PG);
        madvise(w + 0x28 * PG, PG, MADV_DONTFORK);
        ",
    ) else {
        return;
    };
    replays_exactly("flagless_resync", &trace);
}

/// A few seeds of `maple fuzz` (forks and page faults included) replay with every step
/// matching; `maple fuzz --seeds 100 --calls 400` is the long run (README).
#[test]
fn a_few_fuzz_seeds_match_the_kernel() {
    use maple_trace::fuzz::{FuzzError, FuzzOptions, Program, class_of, run};
    let options = FuzzOptions {
        calls: 150,
        ..FuzzOptions::default()
    };
    let dir = std::env::temp_dir().join(format!("maple-fidelity-fuzz-{}", std::process::id()));
    for seed in [1, 2, 3] {
        let program = Program::generate(seed, &options);
        let outcome = match run(&program, &dir) {
            Ok(outcome) => outcome,
            Err(
                e @ (FuzzError::Compiler(_)
                | FuzzError::Capture(
                    CaptureError::NotAllowed { .. } | CaptureError::UnsupportedPlatform,
                )),
            ) => {
                eprintln!("skipping the fuzz seeds: {e}");
                break;
            }
            Err(e) => panic!("seed {seed}: {e}"),
        };
        assert_eq!(
            class_of(&outcome.report),
            None,
            "seed {seed}:\n{}",
            outcome.report
        );
        assert!(
            outcome.report.all_match(),
            "seed {seed}:\n{}",
            outcome.report
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Found by `maple fuzz`: a stack (`MAP_GROWSDOWN`) grown by a page fault, which no record
/// shows, makes a later `MAP_FIXED_NOREPLACE` below it fail with `EEXIST`; the replay grows
/// the model's stack first when the next snapshot shows it grown.
#[test]
fn a_stack_grown_by_a_fault_is_met_by_the_next_call() {
    let Some(trace) = capture_c(
        "grown_stack",
        r"
        char *w = mmap(0, 1024 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 1024 * PG);
        char *s = mmap(w + 1000 * PG, 3 * PG, PROT_READ|PROT_WRITE,
                       MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_GROWSDOWN, -1, 0);
        *(volatile char *)(s - 8 * PG) = 1;
        mmap(s - 4 * PG, PG, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE, -1, 0);
        munmap(s - 8 * PG, 11 * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["paR - 0 !EEXIST"]);
    let report = replays_exactly("grown_stack", &trace);
    assert!(report.resyncs.contains_key("stack-growth"), "{report}");
}

/// Found by `maple fuzz`: shared anonymous memory is a shmem object as large as the mapping;
/// grown by `mremap`, its pages past the object's end cannot be faulted in, so `mlock` there
/// fails with `ENOMEM`.
#[test]
fn grown_shared_memory_ends_at_its_object() {
    let Some(trace) = capture_c(
        "shmem_end",
        r"
        char *s = mmap(0, 4 * PG, PROT_READ, MAP_SHARED|MAP_ANONYMOUS, -1, 0);
        char *t = mremap(s, 4 * PG, 8 * PG, MREMAP_MAYMOVE);
        mlock(t, 4 * PG);
        mlock(t + 5 * PG, PG);
        munlockall();
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["4000 0", "1000 !ENOMEM"]);
    replays_exactly("shmem_end", &trace);
}

/// Found by `maple fuzz` (seed 323): a fault in one piece of a mapping (away from others)
/// that `mprotect` cut up before any fault gives that piece alone an anon_vma. The piece made read-only shows it:
/// Linux took its `VM_ACCOUNT` away, which it does only without an anon_vma. So the piece
/// below stays without one, and a `MREMAP_DONTUNMAP` move inside it merges all around, as a
/// fresh mapping would (its page offset follows the new address).
#[test]
fn a_fault_after_the_cut_gives_one_piece_an_anon_vma() {
    let Some(trace) = capture_c(
        "fault_after_cut",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        w = mmap(w + PG, 0x60 * PG, PROT_READ|PROT_WRITE,
                 MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0);
        mprotect(w + 0x46 * PG, 4 * PG, PROT_READ|PROT_EXEC);
        w[0x5e * PG] = 1;
        munlock(w + 0x40 * PG, 0x20 * PG);
        mremap(w + 0xc * PG, 3 * PG, 3 * PG, MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP,
               w + 0x1e * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &[" MFD "]);
    replays_exactly("fault_after_cut", &trace);
}

/// Found by `maple fuzz` (seed 123): an `munmap` below a stack that a fault grew cuts a hole
/// in the grown part, which the next snapshot shows; the replay grows the model's stack
/// before the `munmap`, as the hole proves the growth came first.
#[test]
fn an_munmap_cuts_a_hole_in_a_grown_stack() {
    let Some(trace) = capture_c(
        "hole_in_grown_stack",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        char *s = mmap(w + 0x5b * PG, PG, PROT_READ|PROT_WRITE,
                       MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN, -1, 0);
        *(volatile char *)(s - 0x5711) = 1;
        munmap(s - 5 * PG, PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["paG - 0"]);
    let report = replays_exactly("hole_in_grown_stack", &trace);
    assert!(report.resyncs.contains_key("stack-growth"), "{report}");
}

/// Found by `maple fuzz` (seed 266): which pieces of a mapping share an anon_vma depends on
/// whether each page fault came before or after the cuts (here a fault after one `mlock2`
/// cut and one before another), which no record shows. `mlockall` then merges the pieces
/// whose anon_vmas agree: the kernel keeps a cut the model has not, and the model one the
/// kernel merged, each between pieces of the same memory only anon_vma state keeps apart.
/// The replay explains that as anon_vma state (`anon_vma` resync), not as wrong boundaries.
#[test]
fn anon_vmas_from_faults_on_both_sides_of_cuts() {
    let Some(trace) = capture_c(
        "faults_around_cuts",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        w = mmap(w + PG, 0x60 * PG, PROT_READ|PROT_WRITE,
                 MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0);
        syscall(SYS_mlock2, w + 0xd * PG, PG, 1);
        w[0xc * PG] = 1;
        w[0x16 * PG] = 1;
        syscall(SYS_mlock2, w + 0x11 * PG, 2 * PG, 0);
        if (mlockall(MCL_CURRENT) != 0) return 77;
        munlockall();
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["mlockall 1 0"]);
    let report = replays_exactly("faults_around_cuts", &trace);
    assert!(report.resyncs.contains_key("anon_vma"), "{report}");
}

/// Found by `maple fuzz` (seed 174), the same cause as seed 323's: `mprotect(PROT_NONE)` cut
/// a piece out of a mapping before any fault (Linux took its `VM_ACCOUNT` away), so a fault
/// below it gives the piece below alone an anon_vma. A `MREMAP_DONTUNMAP` move from there to
/// the piece above, and an `mprotect` over all of it, then cut and merge as in the kernel.
#[test]
fn a_fault_after_a_prot_none_cut() {
    let Some(trace) = capture_c(
        "fault_after_prot_none",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        w = mmap(w + PG, 0x60 * PG, PROT_READ|PROT_WRITE,
                 MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0);
        mprotect(w + 0xe * PG, 4 * PG, PROT_NONE);
        w[0xa * PG + 0x58b] = 1;
        mremap(w + 0xb * PG, 3 * PG, 3 * PG, MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP,
               w + 0x16 * PG);
        munlock(w + 0x1c * PG, PG);
        mprotect(w + 9 * PG, 0x29 * PG, PROT_READ|PROT_EXEC);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &[" MFD ", "29000 r-x 0"]);
    replays_exactly("fault_after_prot_none", &trace);
}

/// Found by `maple fuzz` (seed 587, and the first half of seed 266): a cut the kernel showed
/// (in a snapshot with flags) between pieces without anonymous pages was made before the
/// faults a later snapshot shows, so a fault above it does not give the pieces below its
/// anon_vma; a cut made after the fault does. A `MREMAP_DONTUNMAP` move from below into the
/// faulted piece then merges there as a fresh mapping would, as in the kernel.
#[test]
fn cuts_seen_before_a_fault_keep_its_anon_vma_out() {
    let Some(trace) = capture_c(
        "cut_before_fault",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        w = mmap(w + PG, 0x60 * PG, PROT_READ|PROT_WRITE,
                 MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0);
        madvise(w + 0x1c * PG, PG, MADV_DONTFORK);
        w[0x2f * PG + 0xe6c] = 1;
        madvise(w + 0x3a * PG, 4 * PG, MADV_DONTDUMP);
        mremap(w + 0xc * PG, 3 * PG, 3 * PG, MREMAP_MAYMOVE|MREMAP_FIXED|MREMAP_DONTUNMAP,
               w + 0x4b * PG);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &[" MFD "]);
    let report = replays_exactly("cut_before_fault", &trace);
    assert!(report.resyncs.is_empty(), "{report}");
}

/// Found by `maple fuzz` (seed 401): a `MAP_FIXED` mmap inside the part of a stack a fault
/// grew cuts it in two, which the next snapshot shows; a stack cannot grow across a mapping,
/// so the growth came first, and the replay grows the model's stack before the mmap.
#[test]
fn an_mmap_cuts_a_grown_stack() {
    let Some(trace) = capture_c(
        "mmap_in_grown_stack",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        char *s = mmap(w + 0x3b * PG, 3 * PG, PROT_READ,
                       MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN, -1, 0);
        (void)*(volatile char *)(s - 0x1b72c);
        mmap(s - 0x1a * PG, 2 * PG, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["paG - 0", "paF - 0"]);
    let report = replays_exactly("mmap_in_grown_stack", &trace);
    assert!(report.resyncs.contains_key("stack-growth"), "{report}");
}

/// Found by `maple fuzz` (seed 652): `madvise` from the start of a stack that a fault grew
/// cuts the grown stack there (growth after it would have grown the lowest piece instead),
/// which the next snapshot shows; the replay grows the model's stack before the call.
#[test]
fn a_call_from_the_start_of_a_grown_stack_cuts_it() {
    let Some(trace) = capture_c(
        "call_at_grown_stack",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        char *s = mmap(w + 0x58 * PG, 8 * PG, PROT_READ|PROT_WRITE,
                       MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_GROWSDOWN, -1, 0);
        (void)*(volatile char *)(w + 0x40f6d);
        madvise(s, 3 * PG, MADV_DONTFORK);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["paFG - 0", "3000 DONTFORK 0"]);
    let report = replays_exactly("call_at_grown_stack", &trace);
    assert!(report.resyncs.contains_key("stack-growth"), "{report}");
}

/// Found by `maple fuzz` (seed 988): an `mremap` duplicate (old length 0) inside the part
/// of a stack a fault grew fails with `EINVAL` (private memory), which proves the VMA was
/// there (without one it is `EFAULT`); the replay grows the model's stack before the call.
#[test]
fn a_refused_duplicate_in_a_grown_stack() {
    let Some(trace) = capture_c(
        "duplicate_in_grown_stack",
        r"
        char *w = mmap(0, 0x62 * PG, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
        munmap(w, 0x62 * PG);
        char *s = mmap(w + 0x5d * PG, 4 * PG, PROT_READ,
                       MAP_PRIVATE|MAP_ANONYMOUS|MAP_GROWSDOWN, -1, 0);
        (void)*(volatile char *)(s - 0x7d99);
        mremap(s - 6 * PG, 0, PG, MREMAP_MAYMOVE);
        ",
    ) else {
        return;
    };
    has_ops(&trace, &["0 1000 M 0 !EINVAL"]);
    let report = replays_exactly("duplicate_in_grown_stack", &trace);
    assert!(report.resyncs.contains_key("stack-growth"), "{report}");
}
