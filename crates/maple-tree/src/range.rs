//! Inclusive ranges of indices.

use core::fmt;
use core::ops::RangeInclusive;

/// An inclusive range of indices `[first, last]` with `first <= last`.
///
/// The tree's keys are ranges like this one: an entry occupies every index from `first` to
/// `last`, both included. `[0, u64::MAX]` is a valid range of 2^64 indices.
///
/// # Examples
///
/// ```
/// use maple_tree::Range;
///
/// let r = Range::new(0x1000, 0x1fff).unwrap();
/// assert!(r.contains(0x1800));
/// assert_eq!(r.len(), 0x1000);
/// assert!(Range::new(5, 4).is_none());
/// ```
///
/// Linux: the `index` and `last` fields of `struct ma_state`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Range {
    first: u64,
    last: u64,
}

impl Range {
    /// The range `[first, last]`, or `None` when `first > last`.
    pub fn new(first: u64, last: u64) -> Option<Self> {
        (first <= last).then_some(Self { first, last })
    }

    /// The range of one index.
    pub fn single(index: u64) -> Self {
        Self {
            first: index,
            last: index,
        }
    }

    pub(crate) fn new_unchecked(first: u64, last: u64) -> Self {
        debug_assert!(first <= last);
        Self { first, last }
    }

    /// The first index.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The last index (included).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Number of indices, which is 2^64 for the full range (hence `u128`).
    #[expect(
        clippy::len_without_is_empty,
        reason = "a range always holds at least one index"
    )]
    pub fn len(&self) -> u128 {
        u128::from(self.last - self.first) + 1
    }

    /// Whether `index` lies in the range.
    pub fn contains(&self, index: u64) -> bool {
        self.first <= index && index <= self.last
    }

    /// Whether the two ranges share an index.
    pub fn overlaps(&self, other: &Range) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x}]", self.first, self.last)
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl From<Range> for RangeInclusive<u64> {
    fn from(r: Range) -> Self {
        r.first..=r.last
    }
}
