//! A structured, owned view of every node: what [`MapleTree::dump`](crate::MapleTree::dump)
//! prints, as data that a program can draw, search or check.
//!
//! [`MapleTree::layout`](crate::MapleTree::layout) walks the tree under a read guard, exactly
//! as the text dump does, and
//! copies each node into a [`LayoutNode`]: its place in the tree (id, parent slot, depth), its
//! kind, the range it covers and, for every used slot, the range the slot covers and what it
//! holds. Values are turned into text by a callback while the guard is held, so the layout owns
//! everything and outlives the tree.
//!
//! Nodes are numbered in pre-order (parent before children, children left to right), the order
//! of the kernel's `mt_dump()`, so node 0 is the root and the nodes of one depth appear left to
//! right:
//!
//! ```text
//! node 0  [0, max]        slots: [0, 29] -> 1   [30, max] -> 2
//! node 1  [0, 29]         slots: [0, 9] "a"     [10, 19] empty   [20, 29] "b"
//! node 2  [30, max]       slots: ...
//! ```
//!
//! Linux: `mt_dump()`, `mt_dump_node()`.

use crate::node::NodeKind;
use crate::node::entry::Values;
use crate::range::Range;
use crate::rcu::Guard;
use crate::root::Core;
use crate::walk::{Frame, root_frame};
use alloc::string::String;
use alloc::vec::Vec;
use core::num::NonZeroUsize;

/// What a node is, as a [`LayoutNode`] reports it.
///
/// Linux: `enum maple_type` (`maple_leaf_64`, `maple_range_64`, `maple_arange_64`).
#[doc(alias = "maple_type")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayoutKind {
    /// A leaf: its slots hold values (Linux: `maple_leaf_64`).
    Leaf,
    /// An internal node of a range tree: 16 children (Linux: `maple_range_64`).
    Range,
    /// An internal node of an allocation tree: 10 children, each with the largest gap below
    /// it (Linux: `maple_arange_64`).
    AllocRange,
}

impl LayoutKind {
    /// A short lower-case name: `leaf`, `range` or `alloc-range`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(maple_tree::LayoutKind::AllocRange.name(), "alloc-range");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Leaf => "leaf",
            Self::Range => "range",
            Self::AllocRange => "alloc-range",
        }
    }

    /// How many slots a node of this kind has (16, or 10 for an allocation-range node).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(maple_tree::LayoutKind::Leaf.capacity(), 16);
    /// ```
    pub fn capacity(self) -> usize {
        self.node_kind().slots()
    }

    fn node_kind(self) -> NodeKind {
        match self {
            Self::Leaf => NodeKind::Leaf,
            Self::Range => NodeKind::Range,
            Self::AllocRange => NodeKind::AllocRange,
        }
    }

    fn of(kind: NodeKind) -> Self {
        match kind {
            NodeKind::Leaf => Self::Leaf,
            NodeKind::Range => Self::Range,
            NodeKind::AllocRange => Self::AllocRange,
        }
    }
}

/// What one slot holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SlotContent {
    /// Nothing: the slot's range has no value (a leaf slot), or the child is missing (an
    /// internal slot of a tree that breaks invariant N3, which [`MapleTree::check_invariants`](crate::MapleTree::check_invariants)
    /// reports).
    Empty,
    /// A leaf slot's value, as the callback given to [`MapleTree::layout`](crate::MapleTree::layout) printed it.
    Value(String),
    /// An internal slot's child: its node id in [`TreeLayout::nodes`].
    Child(usize),
}

/// One used slot of a node: the range it covers and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LayoutSlot {
    /// The indices the slot covers: from just after the previous pivot (or the node's minimum)
    /// to its own pivot (or the node's maximum, for the last used slot).
    pub range: Range,
    /// The value, the child or nothing.
    pub content: SlotContent,
    /// For a slot of an allocation-range node, the largest run of empty indices below it, as
    /// the node records it (a hint that gap searches follow); `None` in other nodes.
    pub gap: Option<u64>,
}

/// One node of a [`TreeLayout`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LayoutNode {
    /// The node's position in pre-order, which is its index in [`TreeLayout::nodes`].
    pub id: usize,
    /// The parent's id and the parent slot that holds this node; `None` for the root.
    pub parent: Option<(usize, usize)>,
    /// Levels above this node: 0 for the root, `height - 1` for the leaves.
    pub depth: usize,
    /// Leaf or internal, and which internal kind.
    pub kind: LayoutKind,
    /// The first index the node covers (not stored in the node: the parent's pivots imply it).
    pub min: u64,
    /// The last index the node covers.
    pub max: u64,
    /// The used slots, `0..=end`, in index order. Together they cover `[min, max]`.
    pub slots: Vec<LayoutSlot>,
    /// For an allocation-range node, the slot whose gap is the largest (Linux:
    /// `ma_meta_gap()`); `None` in other nodes.
    pub max_gap_slot: Option<usize>,
    /// Whether a writer had replaced the node when it was read (only possible while a writer
    /// runs beside [`MapleTree::layout`](crate::MapleTree::layout)).
    pub dead: bool,
}

impl LayoutNode {
    /// Whether the node is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.kind == LayoutKind::Leaf
    }

    /// The slot that covers `index`, if the node covers it.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(10..=19, 1u32).unwrap();
    /// let layout = tree.layout(|v| v.to_string());
    /// let root = &layout.nodes[0];
    /// assert_eq!(root.slot_of(15), Some(1));
    /// assert_eq!(root.slots[1].range.first(), 10);
    /// ```
    pub fn slot_of(&self, index: u64) -> Option<usize> {
        if index < self.min || index > self.max {
            return None;
        }
        // Slots ascend and partition [min, max], so the first one ending at or after `index`
        // holds it.
        let at = self.slots.partition_point(|s| s.range.last() < index);
        (at < self.slots.len()).then_some(at)
    }
}

/// Every node of a tree, copied out in pre-order; see [`MapleTree::layout`](crate::MapleTree::layout).
///
/// The layout is a picture of one moment: it owns its data and no longer follows the tree.
///
/// # Examples
///
/// ```
/// use maple_tree::{MapleTree, SlotContent};
///
/// let tree = MapleTree::new_alloc();
/// for i in 0..20u32 {
///     tree.insert_range(u64::from(i) * 100..=u64::from(i) * 100 + 49, i).unwrap();
/// }
/// let layout = tree.layout(|v| format!("v{v}"));
/// assert_eq!(layout.height, 2);
/// assert_eq!(layout.nodes.len(), tree.stats().nodes);
/// // The path to an index: the root's slot, then the leaf's slot that holds it.
/// let path = layout.path_to(1234);
/// let &(leaf, slot) = path.last().unwrap();
/// assert_eq!(layout.nodes[leaf].slots[slot].content, SlotContent::Value("v12".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TreeLayout {
    /// Whether the tree tracks gaps ([`MapleTree::new_alloc`](crate::MapleTree::new_alloc)).
    pub alloc: bool,
    /// The tree's height: 0 when empty, 1 for a root leaf.
    pub height: usize,
    /// The number of entries (non-empty ranges).
    pub entries: usize,
    /// The nodes in pre-order: `nodes[0]` is the root, and `nodes[i].id == i`.
    pub nodes: Vec<LayoutNode>,
}

impl TreeLayout {
    /// The root node, or `None` for an empty tree.
    pub fn root(&self) -> Option<&LayoutNode> {
        self.nodes.first()
    }

    /// The children of node `id`, left to right (none for a leaf or an unknown id).
    pub fn children(&self, id: usize) -> impl Iterator<Item = &LayoutNode> + '_ {
        self.nodes
            .get(id)
            .into_iter()
            .flat_map(|node| &node.slots)
            .filter_map(|slot| match slot.content {
                SlotContent::Child(child) => self.nodes.get(child),
                _ => None,
            })
    }

    /// The path a lookup of `index` takes: `(node id, slot)` for every level, from the root to
    /// the leaf slot that covers `index`. Empty for an empty tree.
    ///
    /// # Examples
    ///
    /// ```
    /// let tree = maple_tree::MapleTree::new();
    /// tree.insert_range(10..=19, 1u32).unwrap();
    /// let layout = tree.layout(|v| v.to_string());
    /// assert_eq!(layout.path_to(12), vec![(0, 1)]);
    /// assert_eq!(layout.path_to(20), vec![(0, 2)]);
    /// ```
    ///
    /// Linux: the descent of `mas_walk()`.
    #[doc(alias = "mas_walk")]
    pub fn path_to(&self, index: u64) -> Vec<(usize, usize)> {
        let mut path = Vec::with_capacity(self.height);
        let mut id = 0;
        // Each step goes one level down, so a layout of well-formed nodes ends within
        // `nodes.len()` steps; the bound keeps a hand-made cyclic layout from looping.
        for _ in 0..self.nodes.len() {
            let Some(node) = self.nodes.get(id) else {
                break;
            };
            let Some(slot) = node.slot_of(index) else {
                break;
            };
            path.push((id, slot));
            match node.slots[slot].content {
                SlotContent::Child(child) => id = child,
                _ => break,
            }
        }
        path
    }
}

/// Copies every node of the tree behind `core` under `guard`; see
/// [`MapleTree::layout`](crate::MapleTree::layout).
pub(crate) fn build<T: 'static>(
    core: &Core,
    guard: &Guard,
    value: impl Fn(&T) -> String,
) -> TreeLayout {
    let mut layout = TreeLayout {
        alloc: core.alloc,
        height: core.height(),
        entries: core.len(),
        nodes: Vec::new(),
    };
    if let Some(root) = root_frame(core, guard) {
        copy_node::<T>(&mut layout.nodes, &root, None, 0, &value);
    }
    layout
}

/// Appends the node of `frame` and, after it, its subtree in pre-order; returns its id.
fn copy_node<'g, T: 'static>(
    nodes: &mut Vec<LayoutNode>,
    frame: &Frame<'g>,
    parent: Option<(usize, usize)>,
    depth: usize,
    value: &impl Fn(&T) -> String,
) -> usize {
    let node = frame.node;
    let kind = node.kind();
    let id = nodes.len();
    nodes.push(LayoutNode {
        id,
        parent,
        depth,
        kind: LayoutKind::of(kind),
        min: frame.min,
        max: frame.max,
        slots: Vec::with_capacity(frame.end + 1),
        max_gap_slot: kind.has_gaps().then(|| node.max_gap_slot()),
        dead: node.is_dead(),
    });
    for i in 0..=frame.end {
        let (first, last) = (frame.slot_min(i), frame.slot_max(i));
        let content = if node.is_leaf() {
            match NonZeroUsize::new(node.slot(i)) {
                None => SlotContent::Empty,
                Some(word) => SlotContent::Value(value(&Values::<T>::borrow(word))),
            }
        } else if let Some(child) = node.child(i) {
            let child = Frame::new(child, first, last);
            SlotContent::Child(copy_node::<T>(
                nodes,
                &child,
                Some((id, i)),
                depth + 1,
                value,
            ))
        } else {
            SlotContent::Empty
        };
        // A torn read beside a writer could show pivots out of order; never build an inverted
        // range from them.
        let range = Range::new(first, last).unwrap_or(Range::single(first));
        let gap = kind.has_gaps().then(|| node.gap(i));
        nodes[id].slots.push(LayoutSlot {
            range,
            content,
            gap,
        });
    }
    id
}
