//! The std traits of [`MapleTree`]: printing, comparing, building from an iterator, extending,
//! and iterating through `&tree`, with `BTreeMap`'s meaning wherever it has one.

use core::fmt;
use core::ops::RangeBounds;

use crate::entries::Entries;
use crate::error::StoreErrorKind;
use crate::node::pool::out_of_memory;
use crate::range::Range;
use crate::tree::MapleTree;

/// Prints the entries as a map from ranges to values, as `BTreeMap` does:
/// `{0..=9: "a", 20..=29: "b"}`.
///
/// # Examples
///
/// ```
/// let tree = maple_tree::MapleTree::new();
/// tree.insert_range(0..10, "a").unwrap();
/// tree.insert_range(20..30, "b").unwrap();
/// assert_eq!(format!("{tree:?}"), r#"{0..=9: "a", 20..=29: "b"}"#);
/// assert_eq!(format!("{tree:x?}"), r#"{0..=9: "a", 14..=1d: "b"}"#);
/// ```
impl<T: fmt::Debug + 'static> fmt::Debug for MapleTree<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guard = self.read();
        f.debug_map().entries(guard.iter()).finish()
    }
}

/// Two trees are equal when they hold the same entries: the same ranges with equal values.
/// Their kinds and shapes do not matter.
///
/// # Examples
///
/// ```
/// use maple_tree::MapleTree;
///
/// let a = MapleTree::new();
/// a.insert_range(0..10, 1u32).unwrap();
/// let b = MapleTree::new_alloc();
/// b.insert_range(0..5, 1u32).unwrap();
/// assert_ne!(a, b);
/// b.insert_range(5..10, 1u32).unwrap();
/// assert_ne!(a, b, "two entries are not one, even with equal values");
/// b.store_range(0..10, 1u32).unwrap();
/// assert_eq!(a, b);
/// ```
impl<T: PartialEq + 'static> PartialEq for MapleTree<T> {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let (a, b) = (self.read(), other.read());
        a.iter().eq(b.iter())
    }
}

impl<T: Eq + 'static> Eq for MapleTree<T> {}

/// Builds a tree from `(range, value)` pairs, storing each in turn: later pairs overwrite the
/// indices they share with earlier ones, as `BTreeMap`'s `insert` replaces a key's value, and
/// the entries they cut keep their other indices. A pair with an empty range stores nothing.
/// [`MapleTree::bulk_load`] builds faster from sorted, non-overlapping entries.
///
/// # Panics
///
/// Aborts, as std's collections do, if a node cannot be allocated.
///
/// # Examples
///
/// ```
/// use maple_tree::MapleTree;
///
/// let tree: MapleTree<char> = [(0..10, 'a'), (20..30, 'b'), (5..25, 'c')].into_iter().collect();
/// assert_eq!(format!("{tree:?}"), "{0..=4: 'a', 5..=24: 'c', 25..=29: 'b'}");
/// ```
impl<T: Clone + 'static, R: RangeBounds<u64>> FromIterator<(R, T)> for MapleTree<T> {
    fn from_iter<I: IntoIterator<Item = (R, T)>>(entries: I) -> Self {
        let mut tree = Self::new();
        tree.extend(entries);
        tree
    }
}

/// Stores `(range, value)` pairs in turn, as [`FromIterator`] does: later pairs overwrite what
/// they overlap; a pair with an empty range stores nothing.
///
/// # Panics
///
/// Aborts, as std's collections do, if a node cannot be allocated.
///
/// # Examples
///
/// ```
/// let mut tree = maple_tree::MapleTree::new();
/// tree.extend([(0..=9, 1u8), (10..=19, 2)]);
/// tree.extend(vec![(maple_tree::Range::single(5), 3)]);
/// assert_eq!(format!("{tree:?}"), "{0..=4: 1, 5..=5: 3, 6..=9: 1, 10..=19: 2}");
/// ```
impl<T: Clone + 'static, R: RangeBounds<u64>> Extend<(R, T)> for MapleTree<T> {
    fn extend<I: IntoIterator<Item = (R, T)>>(&mut self, entries: I) {
        let mut writer = self.exclusive();
        for (range, value) in entries {
            if let Err(e) = writer.store_range(range, value)
                && e.kind() == StoreErrorKind::OutOfMemory
            {
                out_of_memory();
            }
        }
    }
}

/// Iterates over `&tree` as [`MapleTree::iter`] does: entries with clones of their values.
impl<'t, T: Clone + 'static> IntoIterator for &'t MapleTree<T> {
    type Item = (Range, T);
    type IntoIter = Entries<'t, T>;

    fn into_iter(self) -> Entries<'t, T> {
        self.iter()
    }
}
