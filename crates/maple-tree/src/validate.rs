//! The validator: every structural invariant of the tree, checked node by node.
//!
//! It checks everything the kernel's `mt_validate()` checks, plus the rules our write paths
//! keep. Each failure names the invariant (the IDs of [`crate::node`] and the list below), the
//! node's address and the range it covers.
//!
//! Tree invariants (on top of the node invariants N1-N5):
//! - T1. Every leaf is at depth `height - 1`, and the stored height is right.
//! - T2. A non-root node uses at least its kind's minimum of slots; an internal root has at
//!   least two children.
//! - T3. No two empty slots are adjacent, across leaves too, and only the rightmost leaf may end
//!   with an empty slot (so every gap sits in one leaf).
//! - T4. In an allocation tree, each internal slot's gap is the largest empty run below it, and
//!   the node's max-gap slot holds the largest of its gaps.
//! - T5. The stored entry count equals the number of values.
//!
//! Linux: `mt_validate()`, `mas_validate_limits()`, `mas_validate_parent_slot()`,
//! `mas_validate_child_slot()`, `mas_validate_gaps()`, `mt_validate_nulls()`.

use alloc::format;
use alloc::string::String;
use core::fmt;

use crate::node::{NodeKind, NodeRef};
use crate::range::Range;
use crate::rcu::Guard;
use crate::root::Core;
use crate::walk::{Frame, root_frame};

/// Which invariant a [`InvariantViolation`] broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Invariant {
    /// N1: pivots strictly ascend inside the node's range, and `pivot[end]` equals the max.
    Pivots,
    /// N2: everything after the end is zero (the July 2022 stale-data bug).
    StaleData,
    /// N3: an internal slot is empty, or its child does not point back at the slot.
    ParentLink,
    /// N3: a child of the wrong kind (leaf above the bottom, or the wrong internal kind).
    ChildKind,
    /// N4: a dead node is still reachable.
    DeadNode,
    /// T1: leaves at different depths, or a wrong stored height.
    Height,
    /// T2: a non-root node below minimum occupancy, or an internal root with one child.
    Occupancy,
    /// T3: two adjacent empty slots, or a leaf other than the rightmost ending empty.
    EmptySlots,
    /// T4: a stored gap that is not the largest empty run below it.
    Gap,
    /// T5: the entry count is wrong.
    Count,
}

impl Invariant {
    /// The invariant's ID in the module docs.
    pub fn id(self) -> &'static str {
        match self {
            Self::Pivots => "N1",
            Self::StaleData => "N2",
            Self::ParentLink | Self::ChildKind => "N3",
            Self::DeadNode => "N4",
            Self::Height => "T1",
            Self::Occupancy => "T2",
            Self::EmptySlots => "T3",
            Self::Gap => "T4",
            Self::Count => "T5",
        }
    }
}

/// A broken invariant: which one, in which node, over which range, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    /// The invariant.
    pub invariant: Invariant,
    /// Address of the node where it broke (0 when it concerns the whole tree).
    pub node: usize,
    /// The range the node covers.
    pub range: Range,
    /// What was found.
    pub detail: String,
}

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?}: node {:#x} covering {}: {}",
            self.invariant.id(),
            self.invariant,
            self.node,
            self.range,
            self.detail
        )
    }
}

impl core::error::Error for InvariantViolation {}

struct Checker {
    alloc: bool,
    height: usize,
    values: usize,
    /// Whether the last leaf slot seen, in key order, was empty.
    last_empty: bool,
}

fn fail(
    invariant: Invariant,
    frame: &Frame<'_>,
    detail: impl Into<String>,
) -> Result<u64, InvariantViolation> {
    Err(InvariantViolation {
        invariant,
        node: node_addr(frame.node),
        range: Range::new_unchecked(frame.min, frame.max),
        detail: detail.into(),
    })
}

fn node_addr(node: NodeRef<'_>) -> usize {
    let ptr = node.ptr();
    ptr.to_word() & !0xff
}

/// Checks the whole tree.
pub(crate) fn check(core: &Core, guard: &Guard) -> Result<(), InvariantViolation> {
    let whole = Range::new_unchecked(0, u64::MAX);
    let tree_fail = |invariant, detail: String| {
        Err(InvariantViolation {
            invariant,
            node: 0,
            range: whole,
            detail,
        })
    };
    let mut checker = Checker {
        alloc: core.alloc,
        height: core.height(),
        values: 0,
        last_empty: false,
    };
    match root_frame(core, guard) {
        None => {
            if core.height() != 0 {
                return tree_fail(
                    Invariant::Height,
                    format!("empty tree of height {}", core.height()),
                );
            }
        }
        Some(root) => {
            if root.node.parent_link().is_some() {
                return fail(Invariant::ParentLink, &root, "the root has a parent").map(drop);
            }
            if core.height() == 0 {
                return tree_fail(Invariant::Height, "a tree with nodes has height 0".into());
            }
            checker.node(&root, 0)?;
        }
    }
    if checker.values != core.len() {
        return tree_fail(
            Invariant::Count,
            format!(
                "{} values stored, count says {}",
                checker.values,
                core.len()
            ),
        );
    }
    Ok(())
}

impl Checker {
    /// Checks one node and its subtree; returns the largest empty run in it.
    fn node(&mut self, f: &Frame<'_>, depth: usize) -> Result<u64, InvariantViolation> {
        let node = f.node;
        let kind = node.kind();
        if node.is_dead() {
            return fail(Invariant::DeadNode, f, "reachable node is marked dead");
        }
        let end = f.end;
        let is_root = depth == 0;
        let is_bottom = depth + 1 == self.height;
        if kind.is_leaf() != is_bottom {
            return fail(
                Invariant::Height,
                f,
                format!(
                    "{kind:?} node at depth {depth} of a tree of height {}",
                    self.height
                ),
            );
        }
        if !kind.is_leaf() && kind != NodeKind::internal(self.alloc) {
            return fail(
                Invariant::ChildKind,
                f,
                format!("{kind:?} node in this tree"),
            );
        }
        if !is_root && end + 1 < kind.min_len() {
            return fail(
                Invariant::Occupancy,
                f,
                format!("{} slots used, minimum {}", end + 1, kind.min_len()),
            );
        }
        if is_root && !kind.is_leaf() && end == 0 {
            return fail(Invariant::Occupancy, f, "internal root with a single child");
        }
        self.pivots(f)?;
        self.tail(f)?;
        if kind.is_leaf() {
            return self.leaf(f);
        }
        let mut best = (0, 0);
        for i in 0..=end {
            let Some(child) = node.child(i) else {
                return fail(Invariant::ParentLink, f, format!("slot {i} is empty"));
            };
            if !child.parent_is(node) || child.parent_link().map(|(_, s)| s) != Some(i) {
                return fail(
                    Invariant::ParentLink,
                    f,
                    format!(
                        "child in slot {i} points to parent {:?}",
                        child.parent_link()
                    ),
                );
            }
            let child_frame = Frame::new(child, f.slot_min(i), f.slot_max(i));
            let gap = self.node(&child_frame, depth + 1)?;
            if self.alloc {
                if node.gap(i) != gap {
                    return fail(
                        Invariant::Gap,
                        f,
                        format!(
                            "slot {i} records gap {} but the largest below is {gap}",
                            node.gap(i)
                        ),
                    );
                }
                if gap > best.1 {
                    best = (i, gap);
                }
            }
        }
        if self.alloc && node.gap(node.max_gap_slot()) != best.1 {
            return fail(
                Invariant::Gap,
                f,
                format!(
                    "max-gap slot {} but slot {} has gap {}",
                    node.max_gap_slot(),
                    best.0,
                    best.1
                ),
            );
        }
        Ok(best.1)
    }

    /// N1: pivots of used slots.
    fn pivots(&self, f: &Frame<'_>) -> Result<(), InvariantViolation> {
        let node = f.node;
        let mut prev: Option<u64> = None;
        for i in 0..f.end.min(node.kind().pivots()) {
            let p = node.pivot(i);
            let low = prev.map_or(f.min, |q| q.wrapping_add(1));
            if p < low || p >= f.max || prev == Some(u64::MAX) {
                return fail(
                    Invariant::Pivots,
                    f,
                    format!("pivot {i} = {p} outside [{low}, {})", f.max),
                )
                .map(drop);
            }
            prev = Some(p);
        }
        if f.end < node.kind().pivots() && node.pivot(f.end) != f.max {
            return fail(
                Invariant::Pivots,
                f,
                format!(
                    "pivot at the end ({}) = {} is not the node max",
                    f.end,
                    node.pivot(f.end)
                ),
            )
            .map(drop);
        }
        Ok(())
    }

    /// N2: nothing after the end.
    fn tail(&self, f: &Frame<'_>) -> Result<(), InvariantViolation> {
        let node = f.node;
        let kind = node.kind();
        for i in f.end + 1..kind.slots() {
            let pivot = if i < kind.pivots() { node.pivot(i) } else { 0 };
            let gap = if kind.has_gaps() { node.gap(i) } else { 0 };
            if node.slot(i) != 0 || pivot != 0 || gap != 0 {
                return fail(
                    Invariant::StaleData,
                    f,
                    format!("slot {i} after the end {} holds data", f.end),
                )
                .map(drop);
            }
        }
        if node.spare_words().any(|w| w != 0) {
            return fail(Invariant::StaleData, f, "unused words hold data").map(drop);
        }
        if kind.has_gaps() && node.max_gap_slot() > f.end {
            return fail(
                Invariant::StaleData,
                f,
                format!(
                    "max-gap slot {} after the end {}",
                    node.max_gap_slot(),
                    f.end
                ),
            )
            .map(drop);
        }
        Ok(())
    }

    /// T3 and T5 over a leaf; returns its largest empty run.
    fn leaf(&mut self, f: &Frame<'_>) -> Result<u64, InvariantViolation> {
        let mut gap = 0;
        for i in 0..=f.end {
            let empty = f.node.slot(i) == 0;
            if empty {
                if self.last_empty {
                    return fail(
                        Invariant::EmptySlots,
                        f,
                        format!("slot {i} is empty after an empty slot"),
                    );
                }
                gap = gap.max((f.slot_max(i) - f.slot_min(i)).saturating_add(1));
            } else {
                self.values += 1;
            }
            self.last_empty = empty;
        }
        if self.last_empty && f.max != u64::MAX {
            return fail(
                Invariant::EmptySlots,
                f,
                "a leaf other than the rightmost ends empty",
            );
        }
        Ok(gap)
    }
}

/// Counts the nodes of the tree.
pub(crate) fn count_nodes(core: &Core, guard: &Guard) -> usize {
    fn count(node: NodeRef<'_>) -> usize {
        if node.is_leaf() {
            return 1;
        }
        1 + (0..=node.end())
            .filter_map(|i| node.child(i))
            .map(count)
            .sum::<usize>()
    }
    core.root.load(guard).map_or(0, count)
}
