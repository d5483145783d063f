//! Shared test helpers: a reference model of the tree, a seeded random generator, and
//! drop-counting values.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use maple_tree::{Entry, MapleTree};

/// A simple, obviously correct range map: first -> (last, value). Adjacent entries are never
/// merged, as in the tree.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub map: BTreeMap<u64, (u64, u64)>,
}

impl Model {
    /// Entries overlapping `[first, last]`.
    fn overlapping(&self, first: u64, last: u64) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        if let Some((&f, &(l, v))) = self.map.range(..first).next_back()
            && l >= first
        {
            out.push((f, l, v));
        }
        for (&f, &(l, v)) in self.map.range(first..=last) {
            out.push((f, l, v));
        }
        out
    }

    /// Stores `value` (None: empties) over `[first, last]`, trimming what it overlaps.
    pub fn store(&mut self, first: u64, last: u64, value: Option<u64>) {
        for (f, l, v) in self.overlapping(first, last) {
            self.map.remove(&f);
            if f < first {
                self.map.insert(f, (first - 1, v));
            }
            if l > last {
                self.map.insert(last + 1, (l, v));
            }
        }
        if let Some(v) = value {
            self.map.insert(first, (last, v));
        }
    }

    pub fn get(&self, index: u64) -> Option<(u64, u64, u64)> {
        let (&f, &(l, v)) = self.map.range(..=index).next_back()?;
        (l >= index).then_some((f, l, v))
    }

    pub fn is_vacant(&self, first: u64, last: u64) -> bool {
        self.overlapping(first, last).is_empty()
    }

    pub fn erase(&mut self, index: u64) -> Option<u64> {
        let (f, _, v) = self.get(index)?;
        self.map.remove(&f);
        Some(v)
    }

    /// First entry intersecting `[start, limit]`.
    pub fn find(&self, start: u64, limit: u64) -> Option<(u64, u64, u64)> {
        if start > limit {
            return None;
        }
        if let Some(e) = self.get(start) {
            return Some(e);
        }
        let (&f, &(l, v)) = self.map.range(start..=limit).next()?;
        Some((f, l, v))
    }

    /// Last entry intersecting `[min, start]`.
    pub fn find_rev(&self, start: u64, min: u64) -> Option<(u64, u64, u64)> {
        if start < min {
            return None;
        }
        if let Some(e) = self.get(start) {
            return Some(e);
        }
        let (&f, &(l, v)) = self.map.range(..start).next_back()?;
        (l >= min).then_some((f, l, v))
    }

    /// Empty runs of the whole key space, in order.
    pub fn gaps(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut next: Option<u64> = Some(0);
        for (&f, &(l, _)) in &self.map {
            if let Some(n) = next
                && n < f
            {
                out.push((n, f - 1));
            }
            next = l.checked_add(1);
        }
        if let Some(n) = next {
            out.push((n, u64::MAX));
        }
        out
    }

    /// Brute-force gap search with the tree's semantics.
    pub fn find_gap(&self, min: u64, max: u64, size: u64, align: u64, rev: bool) -> Option<u64> {
        let mask = align - 1;
        let fits = self.gaps().into_iter().filter_map(|(a, b)| {
            let lo = a.max(min);
            let hi = b.min(max);
            if lo > hi || hi - lo < size - 1 {
                return None;
            }
            if rev {
                let s = (hi - (size - 1)) & !mask;
                (s >= lo).then_some(s)
            } else {
                let s = lo.checked_add(mask)? & !mask;
                (s <= hi && hi - s >= size - 1).then_some(s)
            }
        });
        if rev { fits.max() } else { fits.min() }
    }

    pub fn entries(&self) -> Vec<(u64, u64, u64)> {
        self.map.iter().map(|(&f, &(l, v))| (f, l, v)).collect()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
}

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
pub fn tree_entries<T: Entry>(
    tree: &MapleTree<T>,
    value: impl Fn(T::Ref<'_>) -> u64,
) -> Vec<(u64, u64, u64)> {
    let guard = tree.read();
    guard
        .iter()
        .map(|(r, v)| (r.first(), r.last(), value(v)))
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
