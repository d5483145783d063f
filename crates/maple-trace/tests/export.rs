//! `maple export` on the shipped traces: every address space of each exports, and the
//! exported tree operations give the trace's layout at every snapshot of the space (the export
//! checks that itself, and fails otherwise); a step range starts from the tree's content.

use std::path::PathBuf;

use maple_trace::format::{Op, Record, SpaceId};
use maple_trace::replay::export::{ExportOptions, TreeOp, export_reader};

fn traces() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/traces"
    ));
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".mtrace.zst"))
        .collect();
    out.sort();
    out
}

/// Spaces of every shipped trace export, checked against each of their snapshots (up to six
/// spaces a trace, forked ones included, to keep the test short).
#[test]
fn every_space_of_the_shipped_traces_exports() {
    for path in traces() {
        let trace = maple_trace::io::read_file(&path).unwrap();
        let spaces: Vec<SpaceId> = trace
            .records
            .iter()
            .filter_map(|r| match r {
                Record::Op {
                    space,
                    op: Op::NewSpace { .. } | Op::Fork { .. },
                    ..
                } => Some(*space),
                _ => None,
            })
            .collect();
        let step = spaces.len().div_ceil(6).max(1);
        for space in spaces.into_iter().step_by(step) {
            let reader = maple_trace::io::open(&path).unwrap();
            let export = export_reader(reader, &ExportOptions::new(space))
                .unwrap_or_else(|e| panic!("{}: space {space}: {e}", path.display()));
            assert!(export.checked >= 1, "{}: space {space}", path.display());
            assert!(!export.ops.is_empty());
        }
    }
}

/// A step range starts with stores of the tree's content before it, and ends at its last
/// step; the erase2 array and the script hold the same operations.
#[test]
fn step_ranges_start_from_the_tree() {
    let path = traces()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("gcc-cc1-O2"))
        .unwrap();
    let whole = export_reader(
        maple_trace::io::open(&path).unwrap(),
        &ExportOptions::new(SpaceId(2)),
    )
    .unwrap();
    let mut options = ExportOptions::new(SpaceId(2));
    options.from = whole.steps.0 + 20;
    options.to = Some(whole.steps.0 + 60);
    let part = export_reader(maple_trace::io::open(&path).unwrap(), &options).unwrap();
    assert!(part.steps.0 >= options.from && part.steps.1 <= 60 + whole.steps.0);
    assert!(matches!(part.ops[0], (0, TreeOp::Store { .. })));
    let stores = part
        .ops
        .iter()
        .filter(|(_, op)| matches!(op, TreeOp::Store { .. }));
    let set = part.erase2("set_cc1");
    assert_eq!(set.matches("STORE, ").count(), stores.count());
    assert_eq!(
        set.matches("SNULL, ").count() + set.matches("STORE, ").count(),
        part.ops.len()
    );
    let script = part.script();
    assert_eq!(
        script
            .lines()
            .filter(|l| l.starts_with("S ") || l.starts_with("N "))
            .count(),
        part.ops.len()
    );
}
