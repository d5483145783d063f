//! Conformance: replays the kernel's 43 captured VMA sets (`check_erase2_sets()` in the kernel's
//! `tools/testing/radix-tree/maple.c`) with the harness's checks after every operation and each
//! set's own post-replay assertion.
//!
//! The sets are GPL data and are not in this repository: the test reads them from the folder
//! named by `MAPLE_KERNEL_SETS` (CI sets it), and skips with one line when it is not set.

mod common;

use std::num::NonZeroU64;
use std::path::PathBuf;

use common::Model;
use maple_tree::{DumpFormat, MapleTree};

/// One parsed set.
struct Set {
    name: String,
    alloc: bool,
    ops: Vec<(char, u64, u64)>,
}

fn sets_dir() -> Option<PathBuf> {
    match std::env::var_os("MAPLE_KERNEL_SETS") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("skipping the kernel erase2 conformance: MAPLE_KERNEL_SETS is not set");
            None
        }
    }
}

fn load_sets(dir: &std::path::Path) -> Vec<Set> {
    let mut sets = Vec::new();
    for entry in std::fs::read_dir(dir).expect("MAPLE_KERNEL_SETS is not a readable folder") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "trace") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut alloc = None;
        let mut ops = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# tree:") {
                alloc = Some(rest.trim_start().starts_with("alloc_range"));
                continue;
            }
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut it = line.split_whitespace();
            let op = it.next().unwrap().chars().next().unwrap();
            let a: u64 = it.next().unwrap().parse().unwrap();
            let b: u64 = it.next().unwrap().parse().unwrap();
            ops.push((op, a, b));
        }
        let alloc = alloc.unwrap_or_else(|| panic!("{name}: no '# tree:' header"));
        sets.push(Set { name, alloc, ops });
    }
    sets.sort_by_key(|s| s.name.trim_start_matches("set").parse::<u32>().unwrap_or(1));
    sets
}

fn value(start: u64) -> NonZeroU64 {
    NonZeroU64::new(start).expect("the kernel sets never store at index 0")
}

/// Replays one set, checking after every op what the kernel harness checks.
fn replay(set: &Set, exclusive: bool) -> MapleTree<NonZeroU64> {
    let mut tree = if set.alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut model = Model::default();
    for (step, &(op, a, b)) in set.ops.iter().enumerate() {
        {
            let mut w = if exclusive {
                tree.exclusive()
            } else {
                tree.lock()
            };
            match op {
                'S' => {
                    w.store_range(a..=b, value(a)).unwrap();
                    model.store(a, b, Some(a));
                }
                'N' => {
                    w.clear_range(a..=b).unwrap();
                    model.store(a, b, None);
                }
                'E' => {
                    if model.get(a).is_some() {
                        let erased = w.erase(a).map(NonZeroU64::get);
                        assert_eq!(
                            erased,
                            Some(a),
                            "{} op {step}: erase returned the wrong value",
                            set.name
                        );
                        model.erase(a);
                    } else {
                        assert!(
                            w.get(a).is_none(),
                            "{} op {step}: tree has an entry the model lacks",
                            set.name
                        );
                    }
                }
                other => panic!("{}: unknown op {other}", set.name),
            }
        }
        let ctx = || format!("{} op {step} ({op} {a} {b})", set.name);
        if let Err(e) = tree.check_invariants() {
            panic!("{}: {e}\n{}", ctx(), tree.dump(DumpFormat::Dec));
        }
        let guard = tree.read();
        assert_eq!(
            guard.iter().count(),
            model.len(),
            "{}: iteration count",
            ctx()
        );
        let mut cursor = guard.cursor(0);
        let mut counted = 0;
        while cursor.find(u64::MAX).is_some() {
            counted += 1;
        }
        assert_eq!(counted, model.len(), "{}: cursor count", ctx());
        assert_eq!(tree.len(), model.len(), "{}: len", ctx());
        assert!(guard.get(0).is_none(), "{}: load(0) must be empty", ctx());
        assert!(
            model.is_empty() || tree.stats().height > 0,
            "{}: height",
            ctx()
        );
    }
    assert_eq!(
        common::tree_entries(&tree, |v| v.get()),
        model.entries(),
        "{}: final contents differ from the reference model",
        set.name
    );
    tree
}

/// `mas_empty_area_rev(min, max, size)` must succeed with this `last`.
fn gap_rev_last(tree: &MapleTree<NonZeroU64>, min: u64, max: u64, size: u64) -> u64 {
    let start = tree
        .find_gap_rev(min..=max, size)
        .expect("the kernel's search succeeds");
    start + size - 1
}

/// Each set's post-replay assertion, as the kernel states it.
fn check_after(name: &str, tree: &MapleTree<NonZeroU64>) {
    let guard = tree.read();
    let load = |i: u64| guard.get_range(i).map(|(r, v)| (r, v.get()));
    match name {
        "set2" => assert!(guard.find(140735933894656..=140735933906943).is_none()),
        "set4" => assert!(guard.iter().count() > 0),
        "set11" => assert_eq!(
            gap_rev_last(tree, 12288, 140014592737280, 8192),
            140014592573439
        ),
        "set12" => assert!(guard.iter().count() <= 13),
        "set13" => {
            drop(guard);
            let erased = tree.erase(140373516443648).map(NonZeroU64::get);
            assert_eq!(erased, Some(140373516443648));
            let _ = tree.find_gap_rev(0..=140373518663680, 4096);
            tree.check_invariants().unwrap();
        }
        "set16" => assert_eq!(
            gap_rev_last(tree, 4096, 139921865637888, 24576),
            139921865547775
        ),
        "set17" => {
            let last = gap_rev_last(tree, 4096, 139953197334528, 4096);
            assert_eq!(last, 139953197322239);
            assert_eq!(last + 1 - 4096, 139953197318144);
        }
        "set18" => {
            let last = gap_rev_last(tree, 4096, 140222972858368, 2215936);
            assert_eq!(last, 140222968475647);
            assert_eq!(last + 1 - 2215936, 140222966259712);
        }
        "set19" => {
            let mut cursor = guard.cursor(140656779083776);
            assert_eq!(
                cursor.find(u64::MAX).map(|(_, v)| v.get()),
                Some(140656779083776)
            );
            assert_eq!(cursor.prev(0).map(|(_, v)| v.get()), Some(140656766251008));
        }
        "set20" => assert!(load(94849009414144).is_none()),
        "set22" => assert_ne!(load(140551363362816), load(140551363420159)),
        "set26" => assert_eq!(
            gap_rev_last(tree, 4096, 140109042671616, 409600),
            140109040959487
        ),
        "set27" => assert!(load(140415537422336).is_none()),
        "set28" => {
            let last = gap_rev_last(tree, 4096, 139918413357056, 2097152);
            assert_eq!((last + 1 - 2097152) & !0x1FF000, 139918401601536);
        }
        "set33" => {
            assert_eq!(
                gap_rev_last(tree, 4096, 140583656296448, 134217728),
                140583003750399
            );
        }
        "set37" | "set38" => assert!(load(94637033459712).is_none()),
        "set42" => assert_eq!(gap_rev_last(tree, 4096, 4052029440, 28672), 4041211903),
        _ => {}
    }
}

#[test]
fn kernel_erase2_sets_replay_exactly() {
    let Some(dir) = sets_dir() else { return };
    let sets = load_sets(&dir);
    assert_eq!(
        sets.len(),
        43,
        "expected the 43 kernel sets in {}",
        dir.display()
    );
    let total: usize = sets.iter().map(|s| s.ops.len()).sum();
    assert_eq!(total, 32656, "the sets hold 32,656 operations");
    for set in &sets {
        for exclusive in [true, false] {
            let tree = replay(set, exclusive);
            check_after(&set.name, &tree);
            let counter = tree.node_counter();
            drop(tree);
            assert_eq!(
                counter.settle(std::time::Duration::from_secs(120)),
                0,
                "{}: nodes leaked",
                set.name
            );
        }
    }
}
