//! Replays: small traces with known outcomes.

use maple_trace::replay::{Engine, ReplayOptions, Report, replay};

fn run(text: &str, engine: Engine) -> Report {
    let trace = maple_trace::parse(text.as_bytes()).unwrap();
    replay(
        &trace,
        &ReplayOptions {
            check: true,
            engine,
        },
        &mut |_, _| {},
    )
    .unwrap()
}

#[test]
fn an_mmap_that_matches() {
    let text = "#mapletrace 1\nN 1 t1 demo\n\
        S 1 1\nv 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
        m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
        S 1 2\nv 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
        v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
        X 1\n";
    for engine in [Engine::Maple, Engine::BTree] {
        let report = run(text, engine);
        assert!(report.all_match(), "{report}");
        assert_eq!(report.steps, 3);
    }
}

const STACK: &str = "v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n";

/// A snapshot that disagrees with the model is a divergence, named by kind and step, and the
/// replay goes on from the kernel's layout.
#[test]
fn a_wrong_snapshot_is_a_divergence() {
    let text = format!(
        "#mapletrace 1\nN 1 t1 demo\nS 1 1\n{STACK}\
         m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
         S 1 2\nv 7f0000000000 7f0000002000 r--p 0 - rd,mr,mw,me,ac\n{STACK}\
         u 1 t1 7f0000000000 2000 0\nS 1 1\n{STACK}X 1\n"
    );
    for engine in [Engine::Maple, Engine::BTree] {
        let report = run(&text, engine);
        assert!(!report.all_match(), "{report}");
        assert_eq!(report.steps, 4);
        assert_eq!(report.steps_matching, 3);
        assert_eq!(report.divergences.get("permissions"), Some(&1), "{report}");
        let first = report.first_divergence.as_ref().unwrap();
        assert_eq!(first.step, 2);
        assert!(first.op.starts_with("m 1 t1"), "{}", first.op);
        assert!(
            report.to_string().contains("first divergence at step 2"),
            "{report}"
        );
    }
}

/// A stack that grew on page faults is resynchronised and counted, not hidden.
#[test]
fn stack_growth_is_counted() {
    let text = format!(
        "#mapletrace 1\nN 1 t1 demo\nS 1 1\n{STACK}\
         m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
         S 1 2\nv 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
         v 7ffffffdc000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\nX 1\n"
    );
    let report = run(&text, Engine::Maple);
    assert!(report.all_match(), "{report}");
    assert_eq!(report.resyncs.get("stack-growth"), Some(&1), "{report}");
    assert!(report.divergences.is_empty());
}

/// An `A` mark (anonymous pages, from faults no record shows) that appears on a VMA the
/// last call did not touch, but an earlier one mapped, gives the model's VMA an anon_vma
/// there: `mprotect` to read-only then keeps its `VM_ACCOUNT`, as Linux does only for memory
/// with an anon_vma, and every step matches without a resynchronisation.
#[test]
fn a_mark_on_a_vma_the_last_call_left_alone_is_learned() {
    let x = "v 7f0000000000 7f0000002000";
    let y = "v 7f0000010000 7f0000011000 rw-p 0 - rd,wr,mr,mw,me,ac\n";
    let text = format!(
        "#mapletrace 1\nN 1 t1 demo\nS 1 1\n{STACK}\
         m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
         S 1 2\n{x} rw-p 0 - rd,wr,mr,mw,me,ac\n{STACK}\
         m 1 t1 0 1000 rw- pa - 0 7f0000010000\n\
         S 1 3\n{x} rw-p 0 - rd,wr,mr,mw,me,ac A\n{y}{STACK}\
         p 1 t1 7f0000000000 2000 r-- 0\n\
         S 1 3\n{x} r--p 0 - rd,mr,mw,me,ac A\n{y}{STACK}X 1\n"
    );
    for engine in [Engine::Maple, Engine::BTree] {
        let report = run(&text, engine);
        assert!(report.all_match(), "{report}");
        assert_eq!(report.steps, 5);
        assert!(report.resyncs.is_empty(), "{report}");
    }
    // After the second mmap's snapshot, the first mapping has an anon_vma in the model.
    let trace = maple_trace::parse(text.as_bytes()).unwrap();
    let (_, mm) = maple_trace::replay::space_at_step(&trace, 3, None).unwrap();
    assert!(
        mm.vma_lookup(0x7f00_0000_0000)
            .unwrap()
            .anon_vma()
            .is_some()
    );
    mm.check_invariants().unwrap();
}

/// A failed call is replayed and must fail alike.
#[test]
fn failed_calls_fail_alike() {
    let text = format!(
        "#mapletrace 1\nN 1 t1 demo\nS 1 1\n{STACK}\
         m 1 t1 0 0 rw- pa - 0 !EINVAL\nu 1 t1 7f0000000001 1000 !EINVAL\n\
         a 1 t1 7ffffffde000 1000 COLLAPSE !EINVAL\nX 1\n"
    );
    let report = run(&text, Engine::Maple);
    assert!(report.all_match(), "{report}");
    assert_eq!(
        report.failures_reproduced.values().sum::<u64>(),
        2,
        "{report}"
    );
    // MADV_COLLAPSE fails or not by the huge page settings: skipped, and counted.
    assert_eq!(report.failures_skipped.get("EINVAL"), Some(&1), "{report}");
    // The model cannot fail a call that succeeds: claiming it failed is a divergence.
    let text = format!(
        "#mapletrace 1\nN 1 t1 demo\nS 1 1\n{STACK}m 1 t1 0 1000 rw- pa - 0 !EINVAL\nX 1\n"
    );
    let report = run(&text, Engine::Maple);
    assert_eq!(report.divergences.get("result"), Some(&1), "{report}");
}

/// Every trace shipped in `testdata/traces` replays with both engines, every step matching
/// the kernel; explained differences are counted apart.
#[test]
fn shipped_traces_match_the_kernel() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/traces");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".mtrace.zst"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 6, "{paths:?}");
    for path in paths {
        let trace = maple_trace::io::read_file(&path).unwrap();
        let mut steps = None;
        for engine in [Engine::Maple, Engine::BTree] {
            let options = ReplayOptions {
                check: true,
                engine,
            };
            let report = replay(&trace, &options, &mut |_, _| {}).unwrap();
            assert!(report.all_match(), "{}:\n{report}", path.display());
            assert!(
                report.divergences.is_empty(),
                "{}:\n{report}",
                path.display()
            );
            assert!(report.comparisons > 0 && report.steps > 10);
            assert_eq!(*steps.get_or_insert(report.steps), report.steps);
        }
    }
}

/// Two threads: the capture saw an mmap return before another thread's munmap of the same
/// range, but the kernel's address proves the munmap ran first; the replay runs it first
/// and counts the reordering.
#[test]
fn calls_of_threads_in_kernel_order() {
    let text = format!(
        "#mapletrace 1\nN 1 t1 demo\nS 1 1\n{STACK}\
         m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
         S 1 2\nv 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n{STACK}\
         m 1 t2 0 2000 r-- pa - 0 7f0000000000\n\
         u 1 t1 7f0000000000 2000 0\n\
         S 1 2\nv 7f0000000000 7f0000002000 r--p 0 - rd,mr,mw,me\n{STACK}X 1\n"
    );
    for engine in [Engine::Maple, Engine::BTree] {
        let report = run(&text, engine);
        assert!(report.all_match(), "{report}");
        assert_eq!(report.resyncs.get("call-order"), Some(&1), "{report}");
        assert_eq!(report.steps, 5);
    }
    // In one thread the recorded order is the kernel's: the same records diverge.
    let one_thread = text.replace("m 1 t2", "m 1 t1");
    let report = run(&one_thread, Engine::Maple);
    assert!(!report.all_match(), "{report}");
    assert!(!report.resyncs.contains_key("call-order"));
}

/// Protection keys follow the machine the trace was captured on (`#pkeys`), never the CPU
/// that replays: the same program replays with every step matching from a machine without
/// keys (every key `EINVAL`, as Linux 6.18 answers on a CPU without PKU) and from one with
/// x86-64's 16 (keys allocated, a key splitting a VMA, an execute-only mapping taking its own
/// key); with the header swapped, both diverge.
#[test]
fn protection_keys_follow_the_capturing_machine() {
    let rw = "rd,wr,mr,mw,me,ac";
    let body = |pkeys: u32, alloc: &str, set_key: &str, after: &str, exec_key: &str| {
        format!(
            "#mapletrace 1\n#pkeys {pkeys}\nN 1 t1 demo\nS 1 1\n{STACK}\
             m 1 t1 0 3000 rw- pa - 0 7f0000000000\n\
             S 1 2\nv 7f0000000000 7f0000003000 rw-p 0 - {rw}\n{STACK}\
             o 1 t1 pkey_alloc 0 0 {alloc}\n\
             p 1 t1 7f0000001000 1000 rw- {set_key} k1\n{after}\
             m 1 t1 7f0000010000 1000 --x paF - 0 7f0000010000\n\
             S 1 3\nv 7f0000000000 7f0000003000 rw-p 0 - {rw}\n\
             v 7f0000010000 7f0000011000 --xp 0 - ex,mr,mw,me{exec_key}\n{STACK}X 1\n"
        )
    };
    let without = body(0, "!EINVAL", "!EINVAL", "", "");
    let split = format!(
        "S 1 4\nv 7f0000000000 7f0000001000 rw-p 0 - {rw}\n\
         v 7f0000001000 7f0000002000 rw-p 0 - {rw} pkey1\n\
         v 7f0000002000 7f0000003000 rw-p 0 - {rw}\n{STACK}"
    );
    let with = body(16, "1", "0", &split, " pkey2")
        // The execute-only mapping's snapshot still shows the key-1 split.
        .replace(
            &format!("S 1 3\nv 7f0000000000 7f0000003000 rw-p 0 - {rw}\n"),
            &format!(
                "S 1 5\nv 7f0000000000 7f0000001000 rw-p 0 - {rw}\n\
                 v 7f0000001000 7f0000002000 rw-p 0 - {rw} pkey1\n\
                 v 7f0000002000 7f0000003000 rw-p 0 - {rw}\n"
            ),
        );
    for text in [&without, &with] {
        for engine in [Engine::Maple, Engine::BTree] {
            let report = run(text, engine);
            assert!(report.all_match(), "{text}\n{report}");
            assert_eq!(report.steps, 6, "{report}");
        }
    }
    // The header decides: a trace from a machine without keys replayed as if it had them
    // (and the other way round) diverges at the calls whose answers the keys decide.
    let report = run(&without.replace("#pkeys 0", "#pkeys 16"), Engine::Maple);
    assert_eq!(report.divergences.get("result"), Some(&2), "{report}");
    let report = run(&with.replace("#pkeys 16", "#pkeys 0"), Engine::Maple);
    assert!(!report.all_match(), "{report}");
    // A trace written before the header existed replays as from a machine without keys.
    let old = without.replace("#pkeys 0\n", "");
    assert!(run(&old, Engine::Maple).all_match());
}

/// A step no snapshot judged is unchecked, never a match: calls of two threads after the
/// space's last snapshot (and the exit after them); every step of a replay without checking.
/// Calls of one thread after the last snapshot are judged against it, so an mmap the kernel's
/// layout does not show is found.
#[test]
fn unchecked_steps_are_not_matches() {
    let two_threads = format!(
        "#mapletrace 1\nN 1 t1 demo\nS 1 1\n{STACK}\
         m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
         m 1 t2 0 1000 rw- pa - 0 7e0000000000\nX 1\n"
    );
    for engine in [Engine::Maple, Engine::BTree] {
        let report = run(&two_threads, engine);
        assert_eq!(report.steps, 4);
        assert_eq!(
            (report.steps_matching, report.steps_unchecked),
            (1, 3),
            "{report}"
        );
        assert!(!report.all_match() && report.divergences.is_empty());
        assert!(report.to_string().contains("3 unchecked"), "{report}");
    }
    // The capture writes the layout at the exit stop after such calls: now all are judged.
    let judged = two_threads.replace(
        "X 1\n",
        &format!(
            "S 1 3\nv 7e0000000000 7e0000001000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
             v 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n{STACK}X 1\n"
        ),
    );
    let report = run(&judged, Engine::Maple);
    assert!(report.all_match(), "{report}");
    assert_eq!(report.steps_judged_late, 1, "{report}");
    // One thread: the mmap after the last snapshot is compared with it, and is wrong.
    let one_thread = two_threads.replace("m 1 t2", "m 1 t1");
    let report = run(&one_thread, Engine::Maple);
    assert_eq!(report.divergences.get("extra-vma"), Some(&2), "{report}");
    assert_eq!(report.steps_unchecked, 0);
    // Without checking nothing is a match.
    let trace = maple_trace::parse(judged.as_bytes()).unwrap();
    let report = replay(&trace, &ReplayOptions::default(), &mut |_, _| {}).unwrap();
    assert_eq!(
        (report.steps_matching, report.steps_unchecked, report.steps),
        (0, 4, 4)
    );
}
