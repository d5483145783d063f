//! Inclusive ranges of indices, and the one range convention of the API: every method that takes
//! a range takes `impl RangeBounds<u64>` (`5..10`, `5..=9`, `..`, `5..`, or a [`Range`]).

use core::fmt;
use core::ops::{Bound, RangeBounds, RangeInclusive};

/// An inclusive range of indices `[first, last]` with `first <= last`.
///
/// The tree's keys are ranges like this one: an entry occupies every index from `first` to
/// `last`, both included. `[0, u64::MAX]` is a valid range of 2^64 indices, which no
/// `core::ops` range type can hold as a half-open range.
///
/// A `Range` is itself a [`RangeBounds<u64>`], so it can be passed wherever the API takes a
/// range. It prints like a `RangeInclusive` (`4096..=8191`), with `Display` and `Debug` in
/// decimal and `{:x}`, `{:#x}` or `{:#x?}` in hexadecimal.
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
/// assert_eq!(Range::from_bounds(0x1000..0x2000), Some(r));
/// assert_eq!(r.to_string(), "4096..=8191");
/// assert_eq!(format!("{r:#x}"), "0x1000..=0x1fff");
/// assert_eq!(format!("{r:?}"), "4096..=8191");
/// assert_eq!(format!("{r:#x?}"), "0x1000..=0x1fff");
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
    pub const fn new(first: u64, last: u64) -> Option<Self> {
        if first <= last {
            Some(Self { first, last })
        } else {
            None
        }
    }

    /// The range holding the same indices as `bounds`, or `None` when `bounds` holds none
    /// (`5..5`, `6..=5`).
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_tree::Range;
    ///
    /// assert_eq!(Range::from_bounds(..), Range::new(0, u64::MAX));
    /// assert_eq!(Range::from_bounds(10..20), Range::new(10, 19));
    /// assert_eq!(Range::from_bounds(10..10), None);
    /// ```
    pub fn from_bounds(bounds: impl RangeBounds<u64>) -> Option<Self> {
        let first = match bounds.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let last = match bounds.end_bound() {
            Bound::Included(&e) => e,
            Bound::Excluded(&e) => e.checked_sub(1)?,
            Bound::Unbounded => u64::MAX,
        };
        Self::new(first, last)
    }

    /// The range of one index.
    pub const fn single(index: u64) -> Self {
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
    pub const fn first(&self) -> u64 {
        self.first
    }

    /// The last index (included).
    pub const fn last(&self) -> u64 {
        self.last
    }

    /// Number of indices, which is 2^64 for the full range (hence `u128`).
    #[expect(
        clippy::len_without_is_empty,
        reason = "a range always holds at least one index"
    )]
    pub const fn len(&self) -> u128 {
        (self.last - self.first) as u128 + 1
    }

    /// Whether `index` lies in the range.
    pub const fn contains(&self, index: u64) -> bool {
        self.first <= index && index <= self.last
    }

    /// Whether the two ranges share an index.
    pub const fn overlaps(&self, other: &Range) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Prints `first..=last`, each bound with the formatter's flags.
    fn write_with(
        &self,
        f: &mut fmt::Formatter<'_>,
        bound: fn(&u64, &mut fmt::Formatter<'_>) -> fmt::Result,
    ) -> fmt::Result {
        bound(&self.first, f)?;
        f.write_str("..=")?;
        bound(&self.last, f)
    }
}

impl RangeBounds<u64> for Range {
    fn start_bound(&self) -> Bound<&u64> {
        Bound::Included(&self.first)
    }

    fn end_bound(&self) -> Bound<&u64> {
        Bound::Included(&self.last)
    }
}

/// Like `RangeInclusive`'s: decimal, or hexadecimal with `{:x?}` and `{:#x?}`.
impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_with(f, fmt::Debug::fmt)
    }
}

/// `first..=last` in decimal, the same as `Debug`.
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_with(f, fmt::Display::fmt)
    }
}

/// `first..=last` in hexadecimal; `{:#x}` adds `0x` to each bound.
impl fmt::LowerHex for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_with(f, fmt::LowerHex::fmt)
    }
}

/// `first..=last` in upper-case hexadecimal; `{:#X}` adds `0x` to each bound.
impl fmt::UpperHex for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_with(f, fmt::UpperHex::fmt)
    }
}

impl From<Range> for RangeInclusive<u64> {
    fn from(r: Range) -> Self {
        r.first..=r.last
    }
}
