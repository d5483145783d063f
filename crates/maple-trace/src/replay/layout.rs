//! The kernel's layout of one address space as the snapshots give it.
//!
//! A full snapshot (`S`) is kept as it came, borrowed from an in-memory trace or moved out
//! of a streamed record: nothing is copied. The first change snapshot (`D`) after it turns it
//! into a map by start address, which each later `D` edits window by window, in time
//! proportional to the VMAs in the windows.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::format::{DeltaWindow, SnapshotVma};

/// The kernel's VMAs of one space at its last snapshot.
#[derive(Debug, Clone)]
pub(crate) enum Layout<'t> {
    /// A full snapshot, in address order.
    Full(Cow<'t, [SnapshotVma]>),
    /// Edited by change snapshots: start address to VMA.
    Edited(BTreeMap<u64, SnapshotVma>),
}

impl Default for Layout<'_> {
    fn default() -> Self {
        Layout::Full(Cow::Borrowed(&[]))
    }
}

impl<'t> Layout<'t> {
    /// How many VMAs.
    pub(crate) fn len(&self) -> usize {
        match self {
            Layout::Full(vmas) => vmas.len(),
            Layout::Edited(map) => map.len(),
        }
    }

    /// The VMAs that intersect `[lo, hi)`, in address order.
    pub(crate) fn range(&self, lo: u64, hi: u64) -> Vec<&SnapshotVma> {
        self.iter_range(lo, hi).collect()
    }

    /// [`range`](Self::range) without collecting: the VMAs that intersect `[lo, hi)`, in
    /// address order.
    pub(crate) fn iter_range(&self, lo: u64, hi: u64) -> impl Iterator<Item = &SnapshotVma> {
        // One of the two parts is empty: a full layout is a slice, an edited one a map whose
        // VMA starting before `lo` comes first.
        let (full, edited) = match self {
            Layout::Full(vmas) => {
                let first = vmas.partition_point(|v| v.end <= lo);
                (&vmas[first..], None)
            }
            Layout::Edited(map) => {
                let before = map
                    .range(..lo)
                    .next_back()
                    .map(|(_, v)| v)
                    .filter(|v| v.end > lo);
                let within = map.range(lo..hi.max(lo)).map(|(_, v)| v);
                (&[][..], Some(before.into_iter().chain(within)))
            }
        };
        full.iter()
            .take_while(move |v| v.start < hi)
            .chain(edited.into_iter().flatten())
    }

    /// Appends the `(start, end)` of every VMA with anonymous pages (`A`), in address order.
    pub(crate) fn anon_marked(&self, out: &mut Vec<(u64, u64)>) {
        let marked = |v: &SnapshotVma| v.anon_pages.then_some((v.start, v.end));
        match self {
            Layout::Full(vmas) => out.extend(vmas.iter().filter_map(marked)),
            Layout::Edited(map) => out.extend(map.values().filter_map(marked)),
        }
    }

    /// Whether the VMAs with anonymous pages are those of `marks`, `(start, end)` in address
    /// order ([`anon_marked`](Self::anon_marked) without making the list).
    pub(crate) fn has_marks(&self, marks: &[(u64, u64)]) -> bool {
        let mut expected = marks.iter();
        let mut same =
            |v: &SnapshotVma| !v.anon_pages || expected.next() == Some(&(v.start, v.end));
        let all = match self {
            Layout::Full(vmas) => vmas.iter().all(&mut same),
            Layout::Edited(map) => map.values().all(&mut same),
        };
        all && expected.next().is_none()
    }

    /// Every VMA, in address order.
    pub(crate) fn all(&self) -> Vec<&SnapshotVma> {
        self.range(0, u64::MAX)
    }

    /// The VMA holding `addr`.
    pub(crate) fn at(&self, addr: u64) -> Option<&SnapshotVma> {
        self.range(addr, addr.saturating_add(1)).into_iter().next()
    }

    /// Applies a change snapshot: in each window, the VMAs are replaced by the window's.
    pub(crate) fn apply(&mut self, windows: Vec<DeltaWindow>) {
        if let Layout::Full(vmas) = self {
            let map = vmas.iter().map(|v| (v.start, v.clone())).collect();
            *self = Layout::Edited(map);
        }
        let Layout::Edited(map) = self else {
            return;
        };
        for window in windows {
            let gone: Vec<u64> = map
                .range(window.start..window.end)
                .map(|(&start, _)| start)
                .collect();
            for start in gone {
                map.remove(&start);
            }
            map.extend(window.vmas.into_iter().map(|v| (v.start, v)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Backing;

    fn vma(start: u64, end: u64) -> SnapshotVma {
        SnapshotVma {
            start,
            end,
            read: true,
            write: false,
            exec: false,
            shared: false,
            offset: 0,
            backing: Backing::Anon,
            flags: Vec::new(),
            anon_pages: false,
            pkey: 0,
        }
    }

    fn starts(vmas: &[&SnapshotVma]) -> Vec<u64> {
        vmas.iter().map(|v| v.start).collect()
    }

    /// Windows replace exactly their VMAs; ranges include a VMA that starts before them.
    #[test]
    fn windows_replace_their_vmas() {
        let full = [
            vma(0x1000, 0x3000),
            vma(0x5000, 0x6000),
            vma(0x8000, 0x9000),
        ];
        let mut layout = Layout::Full(Cow::Borrowed(&full));
        assert_eq!(starts(&layout.range(0x2000, 0x5001)), [0x1000, 0x5000]);
        layout.apply(vec![DeltaWindow {
            start: 0x4000,
            end: 0x7000,
            vmas: vec![vma(0x4000, 0x5000), vma(0x6000, 0x7000)],
        }]);
        assert_eq!(starts(&layout.all()), [0x1000, 0x4000, 0x6000, 0x8000]);
        assert_eq!(starts(&layout.range(0x2fff, 0x4000)), [0x1000]);
        assert_eq!(layout.at(0x6fff).map(|v| v.start), Some(0x6000));
        assert_eq!(layout.at(0x7000), None);
        layout.apply(vec![DeltaWindow {
            start: 0,
            end: u64::MAX,
            vmas: Vec::new(),
        }]);
        assert_eq!(layout.len(), 0);
    }

    /// The marks (`A`) of a layout, listed and compared with a list, whole or edited.
    #[test]
    fn marks_are_listed_and_compared() {
        let marked = |start, end| SnapshotVma {
            anon_pages: true,
            ..vma(start, end)
        };
        let full = [
            marked(0x1000, 0x2000),
            vma(0x2000, 0x3000),
            marked(0x5000, 0x6000),
        ];
        let mut layout = Layout::Full(Cow::Borrowed(&full));
        let mut marks = Vec::new();
        layout.anon_marked(&mut marks);
        assert_eq!(marks, [(0x1000, 0x2000), (0x5000, 0x6000)]);
        assert!(layout.has_marks(&marks));
        assert!(!layout.has_marks(&marks[..1]));
        assert!(!layout.has_marks(&[(0x1000, 0x2000), (0x5000, 0x6000), (0x7000, 0x8000)]));
        assert!(!layout.has_marks(&[(0x1000, 0x2000), (0x5000, 0x7000)]));
        layout.apply(vec![DeltaWindow {
            start: 0x2000,
            end: 0x3000,
            vmas: vec![marked(0x2000, 0x3000)],
        }]);
        assert!(!layout.has_marks(&marks));
        marks.clear();
        layout.anon_marked(&mut marks);
        assert_eq!(
            marks,
            [(0x1000, 0x2000), (0x2000, 0x3000), (0x5000, 0x6000)]
        );
        assert!(layout.has_marks(&marks));
    }
}
