//! `serde` support (the `serde` feature): a [`Range`] is the pair `(first, last)`, a
//! [`MapleTree`] the sequence of its entries as `(range, value)` pairs, in ascending order.
//!
//! ```
//! use maple_tree::MapleTree;
//!
//! let tree: MapleTree<String> = [(0..10, "a".to_string()), (20..30, "b".to_string())]
//!     .into_iter()
//!     .collect();
//! let json = serde_json::to_string(&tree).unwrap();
//! assert_eq!(json, r#"[[[0,9],"a"],[[20,29],"b"]]"#);
//! let back: MapleTree<String> = serde_json::from_str(&json).unwrap();
//! assert_eq!(back, tree);
//! ```
//!
//! The pairs do not record the tree's kind: a tree deserializes as a range tree
//! ([`MapleTree::new`]). For an allocation tree, deserialize the pairs and extend one:
//!
//! ```
//! use maple_tree::{MapleTree, Range};
//!
//! let pairs: Vec<(Range, u32)> = serde_json::from_str("[[[0,9],1],[[20,29],2]]").unwrap();
//! let mut tree = MapleTree::new_alloc();
//! tree.extend(pairs);
//! assert_eq!(tree.find_gap(.., 10), Ok(10));
//! ```

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::error::InsertErrorKind;
use crate::range::Range;
use crate::tree::MapleTree;

/// The pair `(first, last)`.
impl Serialize for Range {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.first(), self.last()).serialize(serializer)
    }
}

/// The pair `(first, last)`; an error if `first > last`.
impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (first, last) = <(u64, u64)>::deserialize(deserializer)?;
        Range::new(first, last)
            .ok_or_else(|| de::Error::custom(format_args!("range {first}-{last}: first > last")))
    }
}

/// The entries as a sequence of `(range, value)` pairs, in ascending order, read under one
/// guard.
impl<T: Serialize + 'static> Serialize for MapleTree<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let guard = self.read();
        let mut seq = serializer.serialize_seq(Some(guard.len()))?;
        for (range, value) in guard.iter() {
            seq.serialize_element(&(range, &*value))?;
        }
        seq.end()
    }
}

/// A tree of the `(range, value)` pairs of a sequence, in any order. Pairs whose ranges overlap
/// are an error (the serialized form of a tree never has them), as is an allocation failure.
impl<'de, T: Deserialize<'de> + 'static> Deserialize<'de> for MapleTree<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(TreeVisitor(PhantomData))
    }
}

struct TreeVisitor<T>(PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de> + 'static> Visitor<'de> for TreeVisitor<T> {
    type Value = MapleTree<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of (range, value) pairs with ranges that do not overlap")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MapleTree<T>, A::Error> {
        let mut tree = MapleTree::new();
        let mut writer = tree.exclusive();
        let mut index = 0usize;
        while let Some((range, value)) = seq.next_element::<(Range, T)>()? {
            if let Err(e) = writer.insert_range(range, value) {
                return Err(if e.kind() == InsertErrorKind::Occupied {
                    de::Error::custom(format_args!(
                        "entry {index}: range {range} overlaps an earlier one"
                    ))
                } else {
                    de::Error::custom(format_args!("entry {index}: {e}"))
                });
            }
            index += 1;
        }
        drop(writer);
        Ok(tree)
    }
}
