//! An ID allocator: process IDs, interrupt vectors, file descriptors, port numbers.
//!
//! IDs are indices of an allocation tree; each allocated ID (or block of IDs) is an entry whose
//! value says who holds it. The tree gives what such allocators need:
//!
//! - the lowest free ID (file descriptors, POSIX says lowest first) or the next one after the
//!   last handed out, wrapping around (process IDs, so a freed ID is not reused at once);
//! - blocks of consecutive, aligned IDs (MSI-X vectors come in aligned power-of-two blocks);
//! - reserved ranges nobody may take;
//! - freeing, and the free ranges for a report.
//!
//! Each search is O(log n) in an allocation tree, whatever the fragmentation.
//!
//! Run with `cargo run -p maple-tree --example id_allocator`.

use maple_tree::{GapRequest, MapleTree, Range};

/// Who holds an ID.
#[derive(Clone, Debug, PartialEq)]
enum Holder {
    Reserved,
    Process(&'static str),
    Device(&'static str),
}

/// Process IDs from 1 to `max`, handed out in increasing order from the last one given, wrapping
/// around as Linux's `alloc_pid()` does (with its IDR); ID 0 is reserved.
struct Pids {
    ids: MapleTree<Holder>,
    max: u64,
    next: u64,
}

impl Pids {
    fn new(max: u64) -> Self {
        let ids = MapleTree::new_alloc();
        ids.insert(0, Holder::Reserved).unwrap();
        Self { ids, max, next: 1 }
    }

    /// The next free ID at or after the last one given, else the lowest free one.
    fn alloc(&mut self, name: &'static str) -> Option<u64> {
        let value = Holder::Process(name);
        let pid = match self.ids.alloc_range(self.next..=self.max, 1, value) {
            Ok(pid) => pid,
            Err(e) => self.ids.alloc_range(1..=self.max, 1, e.into_value()).ok()?,
        };
        self.next = if pid == self.max { 1 } else { pid + 1 };
        Some(pid)
    }

    fn free(&mut self, pid: u64) -> Option<Holder> {
        self.ids.erase(pid)
    }
}

fn main() {
    // File descriptors: always the lowest free one.
    let fds = MapleTree::new_alloc();
    for name in ["stdin", "stdout", "stderr", "log", "socket"] {
        fds.alloc_range(.., 1, Holder::Process(name)).unwrap();
    }
    assert_eq!(fds.erase(1), Some(Holder::Process("stdout")));
    assert_eq!(
        fds.alloc_range(.., 1, Holder::Process("pipe")).unwrap(),
        1,
        "lowest first"
    );

    // Process IDs: increasing, wrapping around, never 0.
    let mut pids = Pids::new(8);
    let given: Vec<u64> = ["init", "sh", "cc", "ld"]
        .into_iter()
        .map(|name| pids.alloc(name).unwrap())
        .collect();
    assert_eq!(given, [1, 2, 3, 4]);
    pids.free(2);
    assert_eq!(
        pids.alloc("make"),
        Some(5),
        "a freed ID is not reused at once"
    );
    for name in ["a", "b", "c"] {
        pids.alloc(name).unwrap();
    }
    assert_eq!(
        pids.alloc("wraps"),
        Some(2),
        "after the last ID, the lowest free one"
    );
    assert_eq!(pids.alloc("full"), None);
    assert_eq!(pids.ids.len(), 9);

    // Interrupt vectors: 32..=255, the first 16 above 32 reserved, blocks for MSI-X aligned to
    // their size, taken from the top.
    let vectors = MapleTree::new_alloc();
    vectors.insert_range(32..48, Holder::Reserved).unwrap();
    let mut blocks = Vec::new();
    for (device, count) in [("nvme", 16), ("nic", 8), ("gpu", 4), ("nic2", 8)] {
        let request = GapRequest::new(32..=255, count).align(count).top_down();
        let first = vectors
            .lock()
            .alloc_range_for(request, Holder::Device(device))
            .unwrap();
        assert_eq!(first % count, 0);
        blocks.push((device, first, count));
    }
    assert_eq!(blocks[0], ("nvme", 240, 16));
    assert_eq!(vectors.get(245), Some(Holder::Device("nvme")));
    // The nic's block is freed as one entry, whichever vector names it.
    assert_eq!(vectors.erase(blocks[1].1 + 3), Some(Holder::Device("nic")));

    println!("vectors in use:");
    for (range, holder) in &vectors {
        println!("  {:<10}  {holder:?}", range.to_string());
    }
    let free: Vec<Range> = vectors.gaps(32..=255).collect();
    println!("free vectors: {free:?}");
    let free_count: u128 = free.iter().map(Range::len).sum();
    assert_eq!(free_count, 224 - 16 - 16 - 4 - 8);
    vectors.check_invariants().unwrap();
    println!("process IDs in use: {:?}", pids.ids);
}

#[test]
fn runs() {
    main();
}
