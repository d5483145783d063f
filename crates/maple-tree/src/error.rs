//! Error types. Every error that consumed a value hands it back.
//!
//! Linux returns errnos: `-EEXIST` for an occupied insert, `-EINVAL` for a bad request, `-EBUSY`
//! when no gap fits, `-ENOMEM` when a node cannot be allocated. Each maps to a variant below.

use core::fmt;

/// A node could not be allocated. The operation changed nothing.
///
/// Linux: `-ENOMEM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OutOfMemory;

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("out of memory allocating a tree node")
    }
}

impl core::error::Error for OutOfMemory {}

/// Why an insert failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InsertErrorKind {
    /// Some index in the range already holds a value (Linux: `-EEXIST`).
    Occupied,
    /// The range holds no index, as `5..5` (Linux: `-EINVAL`).
    InvalidRange,
    /// A node could not be allocated (Linux: `-ENOMEM`).
    OutOfMemory,
}

/// Why a store failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The range holds no index, as `5..5` (Linux: `-EINVAL`).
    InvalidRange,
    /// A node could not be allocated (Linux: `-ENOMEM`).
    OutOfMemory,
}

/// Why a gap search, or the search of a range allocation, failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GapError {
    /// No empty run of that size lies inside the range (Linux: `-EBUSY`). This includes a
    /// range smaller than the size.
    NoSpace,
    /// The size was 0 (Linux: `-EINVAL`).
    ZeroSize,
    /// The range to search holds no index (Linux: `-EINVAL`).
    InvalidRange,
    /// The alignment was not a power of two.
    InvalidAlignment,
}

impl fmt::Display for GapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoSpace => "no free run of that size in the range",
            Self::ZeroSize => "the size is 0",
            Self::InvalidRange => "the range to search is empty",
            Self::InvalidAlignment => "the alignment is not a power of two",
        })
    }
}

impl core::error::Error for GapError {}

/// Why a range allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AllocErrorKind {
    /// The search failed or was rejected.
    Gap(GapError),
    /// A node could not be allocated (Linux: `-ENOMEM`).
    OutOfMemory,
}

/// Why a range could not be cleared. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClearError {
    /// The range holds no index, as `5..5` (Linux: `-EINVAL`).
    InvalidRange,
    /// A node could not be allocated (Linux: `-ENOMEM`).
    OutOfMemory,
}

impl fmt::Display for ClearError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidRange => "the range is empty",
            Self::OutOfMemory => "out of memory allocating a tree node",
        })
    }
}

impl core::error::Error for ClearError {}

macro_rules! value_error {
    ($(#[$doc:meta])* $name:ident, $kind:ty, |$k:ident| $msg:expr) => {
        $(#[$doc])*
        pub struct $name<T> {
            kind: $kind,
            value: T,
        }

        impl<T> $name<T> {
            pub(crate) fn new(kind: $kind, value: T) -> Self {
                Self { kind, value }
            }

            /// What went wrong.
            pub fn kind(&self) -> $kind {
                self.kind
            }

            /// The value that was not stored.
            pub fn value(&self) -> &T {
                &self.value
            }

            /// Takes back the value that was not stored.
            pub fn into_value(self) -> T {
                self.value
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("kind", &self.kind)
                    .finish_non_exhaustive()
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let $k = self.kind;
                f.write_str($msg)
            }
        }

        impl<T> core::error::Error for $name<T> {}
    };
}

value_error!(
    /// An insert that failed, with the value handed back.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_tree::{InsertErrorKind, MapleTree};
    ///
    /// let tree = MapleTree::new();
    /// tree.insert_range(10..=19, 1u32).unwrap();
    /// let err = tree.insert_range(15..=25, 2u32).unwrap_err();
    /// assert_eq!(err.kind(), InsertErrorKind::Occupied);
    /// assert_eq!(err.into_value(), 2);
    /// ```
    InsertError,
    InsertErrorKind,
    |kind| match kind {
        InsertErrorKind::Occupied => "an index of the range already holds a value",
        InsertErrorKind::InvalidRange => "the range is empty",
        InsertErrorKind::OutOfMemory => "out of memory allocating a tree node",
    }
);

value_error!(
    /// A store that failed, with the value handed back.
    StoreError,
    StoreErrorKind,
    |kind| match kind {
        StoreErrorKind::InvalidRange => "the range is empty",
        StoreErrorKind::OutOfMemory => "out of memory allocating a tree node",
    }
);

value_error!(
    /// A range allocation that failed, with the value handed back.
    AllocError,
    AllocErrorKind,
    |kind| match kind {
        AllocErrorKind::Gap(GapError::NoSpace) => "no free run of that size in the range",
        AllocErrorKind::Gap(GapError::ZeroSize) => "the size is 0",
        AllocErrorKind::Gap(GapError::InvalidRange) => "the range to search is empty",
        AllocErrorKind::Gap(GapError::InvalidAlignment) => "the alignment is not a power of two",
        AllocErrorKind::OutOfMemory => "out of memory allocating a tree node",
    }
);

/// Why [`MapleTree::bulk_load`](crate::MapleTree::bulk_load) failed. Nothing was stored; the
/// entries taken from the input before the failure were dropped.
#[non_exhaustive]
pub enum BulkLoadError<T> {
    /// The tree already held entries.
    NotEmpty,
    /// Entry `index` had an empty range; its value is handed back.
    InvalidRange {
        /// Position of the entry in the input.
        index: usize,
        /// Its value.
        value: T,
    },
    /// Entry `index` did not start after the previous one ended; its value is handed back.
    Unsorted {
        /// Position of the entry in the input.
        index: usize,
        /// Its value.
        value: T,
    },
    /// The nodes could not be allocated.
    OutOfMemory,
}

impl<T> fmt::Debug for BulkLoadError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotEmpty => f.write_str("NotEmpty"),
            Self::InvalidRange { index, .. } => write!(f, "InvalidRange {{ index: {index} }}"),
            Self::Unsorted { index, .. } => write!(f, "Unsorted {{ index: {index} }}"),
            Self::OutOfMemory => f.write_str("OutOfMemory"),
        }
    }
}

impl<T> fmt::Display for BulkLoadError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotEmpty => f.write_str("the tree is not empty"),
            Self::InvalidRange { index, .. } => write!(f, "entry {index}: the range is empty"),
            Self::Unsorted { index, .. } => {
                write!(
                    f,
                    "entry {index} does not start after the previous one ends"
                )
            }
            Self::OutOfMemory => f.write_str("out of memory allocating tree nodes"),
        }
    }
}

impl<T> core::error::Error for BulkLoadError<T> {}
