//! A preallocated store allocates nothing: every heap allocation a store may need (nodes, the
//! room to retire what it replaces, the clone for a cut entry) is made by
//! [`WriteGuard::preallocate`](maple_tree::WriteGuard::preallocate), so that
//! [`Prealloc::store`](maple_tree::Prealloc::store) cannot fail, as the kernel's
//! `mas_store_prealloc()` cannot.
//!
//! This test binary counts the heap allocations of its own thread with a global allocator, and
//! runs every shape of store both in exclusive mode (where a store frees what it replaces at
//! once) and in RCU mode (where it hands it to the reclaimer), on trees of heights 1 to 4.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use maple_tree::MapleTree;

/// The system allocator, counting the allocations of threads that ask it to.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    if COUNTING.with(Cell::get) {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the counters are
// thread-local cells that need no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the heap allocations it made on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

/// xorshift: small and seeded.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `n` entries `[16i, 16i + 9]` holding strings, so that a cut entry needs a clone that
/// allocates.
fn gapped(n: u64, alloc: bool) -> MapleTree<String> {
    let mut tree = if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut w = tree.exclusive();
    for i in 0..n {
        w.insert_range(16 * i..=16 * i + 9, format!("entry {i}"))
            .unwrap();
    }
    drop(w);
    tree
}

/// One store or clear of a random shape, preallocated; returns the allocations the store made.
fn preallocated_store(tree: &mut MapleTree<String>, exclusive: bool, rng: &mut Rng, n: u64) -> u64 {
    let i = rng.below(n);
    let (first, last, value) = match rng.below(10) {
        // Exactly over an entry; past the end (an append); over an entry and part of its gap.
        0 => (16 * i, 16 * i + 9, true),
        1 => (16 * n + 16 * i, 16 * n + 16 * i + 3, true),
        2 => (16 * i, 16 * i + 12, true),
        // Inside an entry (cut in two, with a clone), inside a gap, over an entry's gap.
        3 => (16 * i + 2, 16 * i + 4, true),
        4 => (16 * i + 11, 16 * i + 13, true),
        5 => (16 * i, 16 * i + 9, false),
        // Over hundreds of entries.
        6 => (16 * i + 3, 16 * (i + 100 + rng.below(300)) + 5, true),
        7 => (16 * i + 3, 16 * (i + 100 + rng.below(300)) + 5, false),
        // The ends of the key space, and everything.
        8 => (0, rng.below(40), rng.below(2) == 0),
        _ => {
            if rng.below(20) == 0 {
                (0, u64::MAX, true)
            } else {
                (u64::MAX - rng.below(40), u64::MAX, true)
            }
        }
    };
    let mut writer = if exclusive {
        tree.exclusive()
    } else {
        tree.lock()
    };
    let reservation = if value {
        writer
            .preallocate(first..=last, format!("stored {first}"))
            .unwrap()
    } else {
        writer.preallocate_clear(first..=last).unwrap()
    };
    allocations_in(|| reservation.store())
}

#[test]
fn a_preallocated_store_allocates_nothing() {
    for exclusive in [true, false] {
        for alloc in [false, true] {
            for (n, height) in [(4, 1), (60, 2), (600, 3), (6_000, 4)] {
                let mut tree = gapped(n, alloc);
                assert_eq!(tree.stats().height, height);
                let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ n);
                for step in 0..1_500 {
                    let allocations = preallocated_store(&mut tree, exclusive, &mut rng, n);
                    assert_eq!(
                        allocations, 0,
                        "exclusive {exclusive}, alloc {alloc}, {n} entries, step {step}: a \
                         preallocated store allocated"
                    );
                    if tree.len() < n as usize / 4 {
                        tree = gapped(n, alloc);
                    }
                }
                tree.check_invariants().unwrap();
            }
        }
    }
}
