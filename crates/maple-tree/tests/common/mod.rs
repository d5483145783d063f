//! Shared test helpers: a reference model of the tree, a seeded random generator, and
//! drop-counting values.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod fragile;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use maple_tree::MapleTree;

pub use maple_tree::testing::RangeModel as Model;

/// xorshift64*: small, seeded, reproducible.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Every entry of a tree of `u64`-valued boxes, in order.
pub fn tree_entries<T: 'static>(
    tree: &MapleTree<T>,
    value: impl Fn(&T) -> u64,
) -> Vec<(u64, u64, u64)> {
    let guard = tree.read();
    guard
        .iter()
        .map(|(r, v)| (r.first(), r.last(), value(&v)))
        .collect()
}

/// A value that counts its drops, to prove each value is dropped exactly once.
#[derive(Debug)]
pub struct Counted {
    pub id: u64,
    drops: Arc<AtomicUsize>,
}

impl Counted {
    pub fn new(id: u64, drops: &Arc<AtomicUsize>) -> Box<Self> {
        Box::new(Self {
            id,
            drops: Arc::clone(drops),
        })
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            drops: Arc::clone(&self.drops),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}
