//! Gap search requests: what [`find_gap`](crate::MapleTree::find_gap) and
//! [`alloc_range`](crate::MapleTree::alloc_range) take, with alignment and direction, and their
//! validation.

use core::ops::RangeBounds;

use crate::error::GapError;
use crate::gap::GapQuery;
use crate::range::Range;

/// A gap search request: `size` indices inside a range, optionally aligned, lowest fit first
/// or (with [`top_down`](Self::top_down)) highest.
///
/// # Examples
///
/// ```
/// use maple_tree::{GapRequest, MapleTree};
///
/// let tree = MapleTree::new_alloc();
/// tree.insert_range(0..=0x1234, 1u32).unwrap();
/// let request = GapRequest::new(.., 0x1000).align(0x1000);
/// assert_eq!(tree.read().find_gap_for(request), Ok(0x2000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GapRequest {
    pub(crate) size: u64,
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) align: u64,
    pub(crate) top_down: bool,
}

impl GapRequest {
    /// `size` indices within `range`, lowest fit first, no alignment.
    ///
    /// An empty `range` makes a request that every search rejects with
    /// [`GapError::InvalidRange`].
    pub fn new(range: impl RangeBounds<u64>, size: u64) -> Self {
        // An empty range is kept as `min > max`, which the search rejects.
        let (min, max) = Range::from_bounds(range).map_or((1, 0), |r| (r.first(), r.last()));
        Self {
            size,
            min,
            max,
            align: 1,
            top_down: false,
        }
    }

    /// Requires the start to be a multiple of `align` (a power of two).
    #[must_use]
    pub fn align(mut self, align: u64) -> Self {
        self.align = align;
        self
    }

    /// Asks for the highest fit instead of the lowest (Linux: `mas_empty_area_rev()`).
    #[must_use]
    pub fn top_down(mut self) -> Self {
        self.top_down = true;
        self
    }

    /// Checks the request and turns it into the search's form.
    pub(crate) fn query(self) -> Result<GapQuery, GapError> {
        if self.size == 0 {
            return Err(GapError::ZeroSize);
        }
        if self.min > self.max {
            return Err(GapError::InvalidRange);
        }
        if !self.align.is_power_of_two() {
            return Err(GapError::InvalidAlignment);
        }
        Ok(GapQuery {
            min: self.min,
            max: self.max,
            size_m1: self.size - 1,
            mask: self.align - 1,
        })
    }
}
