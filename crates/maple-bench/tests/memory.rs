//! Memory figures: alone in their own test binary, because the counting allocator sees every
//! thread's allocations and tests in one binary run in parallel.

use maple_bench::input::{Pattern, ascending};
use maple_bench::memory::{MAPLE_NODES, measure};

#[test]
fn every_structure_is_counted() {
    let rows = measure(2_000, Pattern::Adjacent, "seq", &ascending(2_000));
    assert_eq!(rows.len(), 7);
    for r in &rows {
        assert!(r.bytes_per_entry > 4.0, "{} {}", r.peer, r.bytes_per_entry);
    }
    // 2,000 adjacent entries fill leaves of 16 slots: about 256 / 16 bytes per entry, plus the
    // internal nodes.
    let nodes = rows.iter().find(|r| r.peer == MAPLE_NODES).unwrap();
    assert!(
        (16.0..24.0).contains(&nodes.bytes_per_entry),
        "{}",
        nodes.bytes_per_entry
    );
}
