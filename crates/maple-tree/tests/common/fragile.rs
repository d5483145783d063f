//! Counted values whose `Clone` or `Drop` panics on demand, for the panic-safety tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Counts values made and dropped, and decides which clones and drops panic.
#[derive(Debug, Default)]
pub struct Ledger {
    pub made: AtomicUsize,
    pub dropped: AtomicUsize,
    /// Clones that may still succeed; the next one panics when this reaches 0 (negative: no
    /// limit).
    clones_left: AtomicIsize,
}

impl Ledger {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            clones_left: AtomicIsize::new(-1),
            ..Self::default()
        })
    }

    pub fn value(self: &Arc<Self>, id: u64) -> Box<Fragile> {
        self.value_with(id, false)
    }

    /// A value whose drop panics if `panics` is set.
    pub fn value_with(self: &Arc<Self>, id: u64, panics: bool) -> Box<Fragile> {
        self.made.fetch_add(1, Ordering::Relaxed);
        Box::new(Fragile {
            id,
            panics_on_drop: panics,
            ledger: Arc::clone(self),
        })
    }

    pub fn panic_after_clones(&self, n: isize) {
        self.clones_left.store(n, Ordering::Relaxed);
    }

    pub fn live(&self) -> usize {
        self.made.load(Ordering::Relaxed) - self.dropped.load(Ordering::Relaxed)
    }

    /// Runs deferred drops until `expected` values are alive or ten seconds have passed.
    pub fn settle(&self, expected: usize) -> usize {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while self.live() != expected && std::time::Instant::now() < deadline {
            maple_tree::flush_deferred();
            std::thread::yield_now();
        }
        self.live()
    }
}

/// A counted value that can be told to panic when cloned or dropped.
#[derive(Debug)]
pub struct Fragile {
    pub id: u64,
    panics_on_drop: bool,
    ledger: Arc<Ledger>,
}

impl Clone for Fragile {
    fn clone(&self) -> Self {
        let left = self.ledger.clones_left.fetch_sub(1, Ordering::Relaxed);
        assert!(left != 0, "clone of value {} panics on purpose", self.id);
        self.ledger.made.fetch_add(1, Ordering::Relaxed);
        Self {
            id: self.id,
            panics_on_drop: false,
            ledger: Arc::clone(&self.ledger),
        }
    }
}

impl Drop for Fragile {
    fn drop(&mut self) {
        self.ledger.dropped.fetch_add(1, Ordering::Relaxed);
        assert!(
            !self.panics_on_drop,
            "drop of value {} panics on purpose",
            self.id
        );
    }
}
