//! Real kernel activity: replays captures of the Linux kernel's own maple-tree stores during
//! real programs (`testdata/kernel-ftrace/*.mt.xz`, format `mapletrace 1`) and reproduces every
//! answer the kernel's `vm_unmapped_area()` gap search gave.
//!
//! Set `MAPLE_FTRACE_DIR` to replay captures from another folder (`.mt` or `.mt.xz` files).

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use common::Model;
use maple_tree::MapleTree;

fn capture_dir() -> PathBuf {
    std::env::var_os("MAPLE_FTRACE_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kernel-ftrace"),
        PathBuf::from,
    )
}

fn read_capture(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "xz") {
        let mut text = String::new();
        xz2::read::XzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

fn hex(field: &str) -> u64 {
    u64::from_str_radix(field, 16).unwrap_or_else(|_| panic!("bad hex field {field:?}"))
}

/// What the kernel's `vm_unmapped_area()` returns for a query, computed with our gap search.
fn unmapped_area(
    tree: &MapleTree<NonZeroU64>,
    len: u64,
    lo: u64,
    hi: u64,
    mask: u64,
    ofs: u64,
    top_down: bool,
) -> Option<u64> {
    let size = len.checked_add(mask)?;
    let max = hi.checked_sub(1)?;
    if top_down {
        let start = tree.find_gap_rev(lo..=max, size).ok()?;
        let gap_end = start + size - 1;
        let x = gap_end + 1 - len;
        Some(x - (x.wrapping_sub(ofs) & mask))
    } else {
        let start = tree.find_gap(lo..=max, size).ok()?;
        Some(start + (ofs.wrapping_sub(start) & mask))
    }
}

/// Replays one capture; returns how many gap queries it checked.
fn replay(name: &str, text: &str) -> usize {
    let mut trees: HashMap<u64, (MapleTree<NonZeroU64>, Model)> = HashMap::new();
    let mut queries = 0;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let ctx = || format!("{name} line {}: {line}", n + 1);
        let id = hex(f[1]);
        match f[0] {
            "T" => {
                trees.insert(id, (MapleTree::new_alloc(), Model::default()));
            }
            "D" => {
                let (tree, _) = trees
                    .remove(&id)
                    .unwrap_or_else(|| panic!("{}: no such tree", ctx()));
                let counter = tree.node_counter();
                drop(tree);
                assert_eq!(
                    counter.settle(std::time::Duration::from_secs(120)),
                    0,
                    "{}: nodes leaked",
                    ctx()
                );
            }
            "S" | "Z" => {
                let (tree, model) = trees
                    .get_mut(&id)
                    .unwrap_or_else(|| panic!("{}: no such tree", ctx()));
                let (first, last) = (hex(f[2]), hex(f[3]));
                let value = if f[0] == "S" {
                    f[4].parse::<u64>().ok().and_then(NonZeroU64::new)
                } else {
                    None
                };
                match value {
                    Some(v) => tree.store_range(first..=last, v).unwrap(),
                    None => tree.clear_range(first..=last).unwrap(),
                }
                model.store(first, last, value.map(NonZeroU64::get));
                if let Err(e) = tree.check_invariants() {
                    panic!("{}: {e}", ctx());
                }
            }
            "R" => {
                let (tree, model) = &trees[&id];
                let i = hex(f[2]);
                let got = tree
                    .get_range(i)
                    .map(|(r, v)| (r.first(), r.last(), v.get()));
                assert_eq!(got, model.get(i), "{}", ctx());
            }
            "P" => {}
            "Q" => {
                let (tree, _) = &trees[&id];
                let (len, lo, hi, mask, ofs, flags) = (
                    hex(f[2]),
                    hex(f[3]),
                    hex(f[4]),
                    hex(f[5]),
                    hex(f[6]),
                    hex(f[7]),
                );
                let expected = (f[8] != "!ERR").then(|| hex(f[8]));
                let got = unmapped_area(tree, len, lo, hi, mask, ofs, flags & 1 == 1);
                assert_eq!(got, expected, "{}: gap search answer", ctx());
                queries += 1;
            }
            other => panic!("{}: unknown record {other}", ctx()),
        }
    }
    for (id, (tree, model)) in &trees {
        assert_eq!(
            common::tree_entries(tree, |v| v.get()),
            model.entries(),
            "{name}: tree {id} contents"
        );
    }
    queries
}

#[test]
fn kernel_gap_search_answers_are_reproduced() {
    let dir = capture_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".mt") || p.to_string_lossy().ends_with(".mt.xz"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no captures in {}", dir.display());
    let mut total = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let queries = replay(&name, &read_capture(file));
        eprintln!("{name}: {queries} kernel gap-search answers reproduced");
        total += queries;
    }
    eprintln!(
        "{total} kernel gap-search answers reproduced in {} captures",
        files.len()
    );
    if std::env::var_os("MAPLE_FTRACE_DIR").is_none() {
        assert_eq!(total, 380, "the shipped captures hold 380 gap queries");
    }
}
