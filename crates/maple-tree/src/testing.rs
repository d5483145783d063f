//! Test support, with the `testing` feature: a reference model of the tree that tests and fuzz
//! targets compare it against.

#![allow(missing_docs, clippy::missing_panics_doc)]

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// A simple, obviously correct range map, `first -> (last, value)`, with the tree's semantics:
/// stores trim what they overlap, adjacent entries are never merged, empty ranges are absent.
/// Tests and fuzz targets compare the tree with it.
#[derive(Clone, Debug, Default)]
pub struct RangeModel {
    pub map: BTreeMap<u64, (u64, u64)>,
}

impl RangeModel {
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

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
