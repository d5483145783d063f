//! Guard regions (`MADV_GUARD_INSTALL`): pages whose page-table entries are markers that make
//! any access fault with `SIGSEGV`. They change no VMA, but populating over them fails (`mlock`
//! then returns `ENOMEM`, `MADV_POPULATE_*` `EFAULT`), so the model keeps which pages have
//! them: installed and removed by the advice, gone with the memory (unmapped or replaced),
//! moved with it by `mremap`, copied by `fork`.
//!
//! Linux: `madvise_guard_install()`, `madvise_guard_remove()` in mm/madvise.c.

use std::collections::BTreeMap;

/// A set of address ranges, `[start, end)`, kept disjoint and coalesced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ranges {
    /// End by start.
    map: BTreeMap<u64, u64>,
}

impl Ranges {
    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds `[start, end)`.
    pub(crate) fn insert(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let (mut lo, mut hi) = (start, end);
        // Ranges touching or overlapping the new one join it.
        let touching: Vec<(u64, u64)> = self
            .map
            .range(..=end)
            .rev()
            .take_while(|&(_, &e)| e >= start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in touching {
            self.map.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        self.map.insert(lo, hi);
    }

    /// Removes `[start, end)`.
    pub(crate) fn remove(&mut self, start: u64, end: u64) {
        if start >= end || self.map.is_empty() {
            return;
        }
        // Usually nothing is there: find that out without gathering.
        let last_below = self.map.range(..end).next_back();
        if last_below.is_none_or(|(_, &e)| e <= start) {
            return;
        }
        let cut: Vec<(u64, u64)> = self
            .map
            .range(..end)
            .rev()
            .take_while(|&(_, &e)| e > start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in cut {
            self.map.remove(&s);
            if s < start {
                self.map.insert(s, start);
            }
            if e > end {
                self.map.insert(end, e);
            }
        }
    }

    /// The lowest address in `[start, end)` that the set holds.
    pub(crate) fn first_in(&self, start: u64, end: u64) -> Option<u64> {
        if let Some((_, &e)) = self.map.range(..=start).next_back()
            && e > start
        {
            return Some(start);
        }
        self.map.range(start..end).next().map(|(&s, _)| s)
    }

    /// The parts of the set inside `[start, end)`.
    pub(crate) fn within(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        if let Some((&s, &e)) = self.map.range(..start).next_back()
            && e > start
        {
            out.push((s.max(start), e.min(end)));
        }
        for (&s, &e) in self.map.range(start..end) {
            out.push((s, e.min(end)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts coalesce, removals cut, and lookups find the first guarded address.
    #[test]
    fn ranges_insert_remove_find() {
        let mut r = Ranges::default();
        r.insert(0x1000, 0x3000);
        r.insert(0x3000, 0x4000);
        r.insert(0x8000, 0x9000);
        assert_eq!(r.within(0, u64::MAX), [(0x1000, 0x4000), (0x8000, 0x9000)]);
        r.remove(0x2000, 0x2800);
        assert_eq!(
            r.within(0, u64::MAX),
            [(0x1000, 0x2000), (0x2800, 0x4000), (0x8000, 0x9000)]
        );
        assert_eq!(r.first_in(0x2000, 0x9000), Some(0x2800));
        assert_eq!(r.first_in(0x1800, 0x1900), Some(0x1800));
        assert_eq!(r.first_in(0x4000, 0x8000), None);
        assert_eq!(
            r.within(0x3000, 0x8800),
            [(0x3000, 0x4000), (0x8000, 0x8800)]
        );
        r.remove(0, u64::MAX);
        assert!(r.is_empty());
    }
}
