//! Building a whole tree at once: duplicating one node by node, and loading sorted entries.
//!
//! Both reserve every node first, so they fail before building anything, and build each node
//! complete before linking it, so the result is a valid tree with the kernel's invariants.
//!
//! Linux: `__mt_dup()` / `mtree_dup()`, and the bulk mode of `mas_expected_entries()`.

use alloc::vec::Vec;
use core::marker::PhantomData;
use core::num::NonZeroUsize;

use crate::error::OutOfMemory;
use crate::node::entry::Values;
use crate::node::{NodeKind, NodeRef};
use crate::rcu::Guard;
use crate::root::Core;
use crate::validate::count_nodes;
use crate::write::Writer;
use crate::write::big_node::{self, Item};

impl<'a, T: Clone + 'static> Writer<'a, T> {
    /// Fills this (empty) tree with a node-by-node copy of `src`, cloning every value.
    ///
    /// The copy is reachable from this tree's root at every step, and its slots hold nothing but
    /// the clones and children made so far, so if a clone panics, dropping this tree drops every
    /// clone already made.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the nodes could not be reserved; this tree is still empty.
    pub(crate) fn duplicate(&mut self, src: &Core, guard: &Guard) -> Result<(), OutOfMemory> {
        let Some(root) = src.root.load(guard) else {
            return Ok(());
        };
        self.reserve(count_nodes(src, guard))?;
        let copy = self.pool.take(root.kind());
        self.publish_root(Some(copy), src.height());
        self.copy_node(root, copy);
        self.core.set_len(src.len());
        Ok(())
    }

    /// Copies `src` into the empty node `node` (same kind), then its children, depth first.
    ///
    /// A node's words go over in one plain copy, except the slots of a leaf whose values need
    /// a clone of their own. An internal copy's slots are all pointed at new (empty) children
    /// before any child is filled, so the copy never leads into `src`'s nodes.
    fn copy_node(&mut self, src: NodeRef<'_>, node: NodeRef<'a>) {
        if src.is_leaf() {
            if Values::<T>::always_inline() {
                node.copy_whole_from(src);
            } else {
                node.copy_shape_from(src);
                for i in 0..=src.end() {
                    if let Some(word) = NonZeroUsize::new(src.slot(i)) {
                        node.set_slot(i, Values::<T>::clone_word(word).get());
                    }
                }
            }
            return;
        }
        node.copy_whole_from(src);
        for i in 0..=src.end() {
            if let Some(child) = src.child(i) {
                let new = self.pool.take(child.kind());
                new.set_parent(Some(node), i);
                node.set_slot(i, new.ptr().to_word());
            }
        }
        for i in 0..=src.end() {
            if let (Some(child), Some(new)) = (src.child(i), node.child(i)) {
                self.copy_node(child, new);
            }
        }
    }
}

impl<'a, T: 'static> Writer<'a, T> {
    /// Fills this (empty) tree with `items`: leaf slots covering `[0, u64::MAX]` in order, as
    /// full as the node rules allow (the kernel's bulk mode), then each level above.
    ///
    /// # Errors
    ///
    /// [`OutOfMemory`] if the nodes could not be reserved; this tree is still empty.
    pub(crate) fn load_items(&mut self, items: &[Item], values: usize) -> Result<(), OutOfMemory> {
        if items.iter().all(|it| it.word == 0) {
            return Ok(());
        }
        let internal = NodeKind::internal(self.core.alloc);
        let mut ends = pack(items, NodeKind::Leaf);
        // Leaves, then at most one node per `slots - 1` children per level, and one spare per
        // level for the sharing of the last two nodes.
        let mut nodes = ends.len();
        let mut count = ends.len();
        while count > 1 {
            count = count.div_ceil(internal.slots() - 1);
            nodes += count + 1;
        }
        self.reserve(nodes)?;
        let mut kind = NodeKind::Leaf;
        let mut content: Vec<Item> = items.to_vec();
        let mut children: Vec<NodeRef<'a>> = Vec::new();
        let mut height = 1;
        loop {
            let mut built: Vec<NodeRef<'a>> = Vec::with_capacity(ends.len());
            let mut next: Vec<Item> = Vec::with_capacity(ends.len());
            let (mut start, mut min) = (0, 0);
            for &end in &ends {
                let run = &content[start..end];
                let node = self.pool.take(kind);
                let max = run[run.len() - 1].pivot;
                let gap = big_node::fill(node, run, 0, min, max, 0, self.core.alloc);
                for (i, child) in children[start.min(children.len())..end.min(children.len())]
                    .iter()
                    .enumerate()
                {
                    child.set_parent(Some(node), i);
                }
                built.push(node);
                next.push(Item {
                    pivot: max,
                    word: node.ptr().to_word(),
                    gap,
                });
                (start, min) = (end, max.wrapping_add(1));
            }
            if let [root] = built[..] {
                self.set_root(root, height, values);
                return Ok(());
            }
            kind = internal;
            ends = pack(&next, kind);
            content = next;
            children = built;
            height += 1;
        }
    }
}

/// Entries taken from the caller of a bulk load, as leaf slots covering `[0, u64::MAX]` in
/// order, that are not in the tree yet: their values are dropped with it unless the load
/// [takes](Staged::loaded) them, so a load that fails or unwinds half way leaks nothing.
pub(crate) struct Staged<T: 'static> {
    items: Vec<Item>,
    values: usize,
    entries: PhantomData<T>,
}

impl<T: 'static> Default for Staged<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            values: 0,
            entries: PhantomData,
        }
    }
}

impl<T: 'static> Staged<T> {
    /// Appends a slot ending at `pivot`, holding `value` or nothing.
    pub(crate) fn push(&mut self, pivot: u64, value: Option<T>) {
        self.items.reserve(1);
        self.values += usize::from(value.is_some());
        self.items.push(Item {
            pivot,
            word: value.map_or(0, |v| Values::<T>::into_word(v).get()),
            gap: 0,
        });
    }

    pub(crate) fn items(&self) -> &[Item] {
        &self.items
    }

    /// Number of values among the items.
    pub(crate) fn values(&self) -> usize {
        self.values
    }

    /// The tree now owns every value.
    pub(crate) fn loaded(mut self) {
        self.items.clear();
    }
}

impl<T: 'static> Drop for Staged<T> {
    fn drop(&mut self) {
        for item in self.items.drain(..) {
            if let Some(word) = NonZeroUsize::new(item.word) {
                drop(Values::<T>::take(word));
            }
        }
    }
}

/// Cuts `items` into runs for nodes of `kind`, filling each as far as it goes (a leaf run may
/// not end with an empty slot unless it is the last), and sharing the last two runs so that
/// the last one holds at least the minimum. Returns where each run ends.
fn pack(items: &[Item], kind: NodeKind) -> Vec<usize> {
    let cap = kind.slots();
    let ends_empty = |end: usize| kind.is_leaf() && end < items.len() && items[end - 1].word == 0;
    let mut ends = Vec::with_capacity(items.len() / (cap - 1) + 1);
    let mut start = 0;
    while start < items.len() {
        let mut end = (start + cap).min(items.len());
        if ends_empty(end) {
            end -= 1;
        }
        ends.push(end);
        start = end;
    }
    if let [.., before, last] = ends[..] {
        let first_of_pair = ends.get(ends.len().wrapping_sub(3)).copied().unwrap_or(0);
        if last - before < kind.min_len() {
            // Share the last two runs evenly, keeping a leaf run off an empty last slot.
            let mut cut = first_of_pair + (last - first_of_pair).div_ceil(2);
            if ends_empty(cut) {
                cut += 1;
            }
            let n = ends.len();
            ends[n - 2] = cut;
        }
    }
    ends
}
