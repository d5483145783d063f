//! The peers agree on small inputs, and the binary's modes behave: bad arguments, `--single`,
//! a small run with JSON and SVG output, shipped traces present or absent.

use std::process::Command;

use maple_bench::input::Rng;
use maple_bench::peers::{BTreeRanges, Maple, Nodit, Peer, RangeMapPeer, normalize};

/// One random operation, applied to every peer; every answer must agree.
fn step(rng: &mut Rng, peers: &mut (Maple, BTreeRanges, RangeMapPeer, Nodit), value: u32) {
    let first = rng.below(2_000);
    let last = first + rng.below(40);
    let (m, b, r, n) = peers;
    match rng.below(6) {
        0 => {
            let got = [
                m.insert(first, last, value),
                b.insert(first, last, value),
                r.insert(first, last, value),
                n.insert(first, last, value),
            ];
            assert!(
                got.iter().all(|&g| g == got[0]),
                "insert {first}..={last}: {got:?}"
            );
        }
        1 => {
            m.store(first, last, value);
            b.store(first, last, value);
            r.store(first, last, value);
            n.store(first, last, value);
        }
        2 => {
            m.clear(first, last);
            b.clear(first, last);
            r.clear(first, last);
            n.clear(first, last);
        }
        3 => {
            let got = [
                m.erase(first),
                b.erase(first),
                r.erase(first),
                n.erase(first),
            ];
            assert!(got.iter().all(|&g| g == got[0]), "erase {first}: {got:?}");
        }
        4 => {
            let got = [m.get(first), b.get(first), r.get(first), n.get(first)];
            assert!(got.iter().all(|&g| g == got[0]), "get {first}: {got:?}");
        }
        _ => {
            let size = 1 + rng.below(30);
            let top_down = rng.chance(50);
            let max = first + 500;
            let got = [
                m.find_gap(size, first, max, top_down),
                b.find_gap(size, first, max, top_down),
                r.find_gap(size, first, max, top_down),
                n.find_gap(size, first, max, top_down),
            ];
            assert!(
                got.iter().all(|&g| g == got[0]),
                "find_gap {size} in {first}..={max} top_down={top_down}: {got:?}"
            );
        }
    }
}

#[test]
fn peers_agree_on_random_operations() {
    let mut rng = Rng::new(42);
    let mut peers = (
        Maple::empty(true),
        BTreeRanges::empty(true),
        RangeMapPeer::empty(true),
        Nodit::empty(true),
    );
    for i in 0..20_000u32 {
        // Distinct values, so that rangemap never merges neighbours.
        step(&mut rng, &mut peers, i + 1);
        if i % 1_000 == 0 {
            let want = normalize(peers.0.entries());
            assert_eq!(normalize(peers.1.entries()), want, "btreemap after {i}");
            assert_eq!(normalize(peers.2.entries()), want, "rangemap after {i}");
            assert_eq!(normalize(peers.3.entries()), want, "nodit after {i}");
            let counted = peers.0.count_and_sum();
            assert_eq!(peers.1.count_and_sum(), counted);
        }
    }
}

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_maple-bench"))
}

#[test]
fn bad_arguments_give_one_line_and_status_2() {
    for args in [
        &["--frobnicate"][..],
        &["--only", "nothing"],
        &["--readers", "0"],
        &["--single", "load_hit", "--peer", "nobody", "--n", "1000"],
        &["--single", "no_such_workload", "--peer", "maple"],
        &["--peer", "maple"],
        &["--traces", "/no/such/folder", "--only", "replay"],
        &["--vma-traces", "/no/such/folder", "--only", "trace"],
    ] {
        let out = bench().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
}

#[test]
fn single_mode_gives_the_same_answers_for_every_peer() {
    let run = |workload: &str, peer: &str| {
        let out = bench()
            .args(["--single", workload, "--peer", peer, "--n", "1000"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let ours = run("alloc_high", "maple");
    assert!(ours.starts_with("ops=8 check=8,"), "{ours}");
    for peer in ["btreemap", "rangemap", "nodit", "vm-allocator"] {
        assert_eq!(run("alloc_high", peer), ours, "{peer}");
    }
}

#[test]
fn a_small_run_writes_json_and_svg() {
    let dir = std::env::temp_dir().join(format!("maple-bench-test-{}", std::process::id()));
    let json = dir.join("out.json");
    let svg = dir.join("svg");
    std::fs::create_dir_all(&dir).unwrap();
    let out = bench()
        .args(["--quick", "--only", "churn,replay"])
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("| vma_churn | 2k |"), "{table}");
    assert!(table.contains("replay_git-log-p"), "{table}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cells = doc["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2 + 3, "two churn sizes and three captures");
    for cell in cells {
        assert_eq!(cell["peers"][0]["peer"], "maple");
        assert_eq!(cell["peers"].as_array().unwrap().len(), 4);
    }
    for file in ["time_vma_churn.svg", "ratios.svg"] {
        let text = std::fs::read_to_string(svg.join(file)).unwrap();
        assert!(text.starts_with("<svg") && text.contains("maple"), "{file}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_traces_are_replayed_on_both_vma_indexes() {
    let dir = std::env::temp_dir().join(format!("maple-bench-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "#mapletrace 1\nN 1 t1 demo\n\
        S 1 1\nv 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
        m 1 t1 0 4000 rw- pa - 0 7f0000000000\n\
        p 1 t1 7f0000001000 1000 r-- 0\n\
        X 1\n";
    let trace = maple_trace::parse(text.as_bytes()).unwrap();
    maple_trace::io::write_file(&dir.join("demo.mtrace.zst"), &trace).unwrap();
    let json = dir.join("out.json");
    let out = bench()
        .args(["--quick", "--only", "trace", "--vma-traces"])
        .arg(&dir)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("| trace_demo | 4 |"), "{table}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let peers = doc["cells"][0]["peers"].as_array().unwrap();
    let names: Vec<&str> = peers.iter().map(|p| p["peer"].as_str().unwrap()).collect();
    assert_eq!(names, ["maple", "btreemap"]);
    assert!(doc["skipped"].as_array().unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_empty_trace_folder_is_skipped_with_a_note() {
    let dir = std::env::temp_dir().join(format!("maple-bench-no-traces-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = bench()
        .args(["--quick", "--only", "trace", "--vma-traces"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("Skipped: trace replays: no shipped traces"),
        "{table}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
