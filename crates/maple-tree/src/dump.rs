//! A readable dump of every node, sideways, one line per node and per leaf slot.
//!
//! ```text
//! maple tree (alloc), height 2, 3 entries, 3 nodes
//! 0-18446744073709551615: node 0x5581a3c0e100 depth 0 AllocRange end 1 max-gap slot 1 gaps [20, 18446744073709551516]
//!   0-29: node 0x5581a3c0e200 depth 1 Leaf end 6
//!     0-9: 1
//!     10-19: empty
//! ```
//!
//! Linux: `mt_dump()` with `mt_dump_dec` or `mt_dump_hex`.

use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroUsize;

use crate::node::NodeRef;
use crate::node::entry::Values;
use crate::rcu;
use crate::root::Core;
use crate::validate::count_nodes;
use crate::walk::Frame;

/// How a dump prints indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DumpFormat {
    /// Decimal (Linux: `mt_dump_dec`).
    #[default]
    Dec,
    /// Hexadecimal with `0x` (Linux: `mt_dump_hex`).
    Hex,
}

/// Formats a value in a dump.
pub type ValueFormatter<T> = for<'a> fn(&'a T, &mut fmt::Formatter<'_>) -> fmt::Result;

/// A [`Display`](fmt::Display) view of a tree's nodes; see [`MapleTree::dump`](crate::MapleTree::dump).
///
/// Values print with their `Debug` format unless [`values`](Self::values) gives another.
///
/// # Examples
///
/// ```
/// use maple_tree::{DumpFormat, MapleTree};
///
/// let tree = MapleTree::new();
/// tree.insert_range(10..=19, 7u32).unwrap();
/// tree.insert_range(20..=29, 8u32).unwrap();
/// let text = tree.dump(DumpFormat::Dec).to_string();
/// assert!(text.contains("10-19: 7\n"));
/// let text = tree
///     .dump(DumpFormat::Hex)
///     .values(|v, f| write!(f, "value {v}"))
///     .to_string();
/// assert!(text.contains("0x14-0x1d: value 8\n"));
/// assert!(text.contains("0x1e-0xffffffffffffffff: empty"));
/// ```
pub struct Dump<'t, T: 'static> {
    core: &'t Core,
    format: DumpFormat,
    value: ValueFormatter<T>,
}

impl<T: 'static> fmt::Debug for Dump<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dump")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl<'t, T: 'static> Dump<'t, T> {
    pub(crate) fn new(core: &'t Core, format: DumpFormat, value: ValueFormatter<T>) -> Self {
        Self {
            core,
            format,
            value,
        }
    }

    /// Prints values with `format` instead of their `Debug` format.
    #[must_use]
    pub fn values(mut self, format: ValueFormatter<T>) -> Self {
        self.value = format;
        self
    }

    fn range(&self, f: &mut fmt::Formatter<'_>, min: u64, max: u64) -> fmt::Result {
        match (self.format, min == max) {
            (DumpFormat::Dec, true) => write!(f, "{min}"),
            (DumpFormat::Dec, false) => write!(f, "{min}-{max}"),
            (DumpFormat::Hex, true) => write!(f, "{min:#x}"),
            (DumpFormat::Hex, false) => write!(f, "{min:#x}-{max:#x}"),
        }
    }

    fn node(&self, f: &mut fmt::Formatter<'_>, frame: &Frame<'_>, depth: usize) -> fmt::Result {
        let node = frame.node;
        let indent = depth * 2;
        write!(f, "{:indent$}", "")?;
        self.range(f, frame.min, frame.max)?;
        write!(
            f,
            ": node {:#x} depth {depth} {:?} end {}",
            node_addr(node),
            node.kind(),
            frame.end
        )?;
        if node.kind().has_gaps() {
            let gaps: Vec<u64> = (0..=frame.end).map(|i| node.gap(i)).collect();
            write!(f, " max-gap slot {} gaps {gaps:?}", node.max_gap_slot())?;
        }
        if node.is_dead() {
            write!(f, " DEAD")?;
        }
        writeln!(f)?;
        for i in 0..=frame.end {
            let (min, max) = (frame.slot_min(i), frame.slot_max(i));
            if node.is_leaf() {
                write!(f, "{:width$}", "", width = indent + 2)?;
                self.range(f, min, max)?;
                match NonZeroUsize::new(node.slot(i)) {
                    None => writeln!(f, ": empty")?,
                    Some(word) => {
                        f.write_str(": ")?;
                        (self.value)(&Values::<T>::borrow(word), f)?;
                        writeln!(f)?;
                    }
                }
            } else if let Some(child) = node.child(i) {
                self.node(f, &Frame::new(child, min, max), depth + 1)?;
            } else {
                write!(f, "{:width$}", "", width = indent + 2)?;
                self.range(f, min, max)?;
                writeln!(f, ": MISSING CHILD")?;
            }
        }
        Ok(())
    }
}

fn node_addr(node: NodeRef<'_>) -> usize {
    node.ptr().to_word() & !0xff
}

impl<T: 'static> fmt::Display for Dump<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pin = rcu::pin();
        let guard = rcu::guard_of(&pin);
        let kind = if self.core.alloc { "alloc" } else { "range" };
        writeln!(
            f,
            "maple tree ({kind}), height {}, {} entries, {} nodes",
            self.core.height(),
            self.core.len(),
            count_nodes(self.core, guard)
        )?;
        match crate::walk::root_frame(self.core, guard) {
            None => writeln!(f, "(empty)"),
            Some(root) => self.node(f, &root, 0),
        }
    }
}
