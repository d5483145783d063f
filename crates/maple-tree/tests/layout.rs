//! `MapleTree::layout`: the copied nodes describe the tree exactly. On range and allocation
//! trees of heights 1 to 3, built in ascending and in scattered order: every level partitions
//! `[0, u64::MAX]`, children cover their parent slot, the recorded gaps are what the leaves
//! hold and what `find_gap` finds, values are the tree's, and `path_to` follows a lookup.

use maple_tree::{GapError, LayoutKind, MapleTree, SlotContent, TreeLayout};

/// Entry `i`: a range of 1 to 20 indices somewhere in `[100i, 100i + 69]`, so entries never
/// touch and the empty runs between them differ in size.
fn entry(i: u64) -> (u64, u64) {
    let first = 100 * i + (i * 37) % 50;
    (first, first + i % 20)
}

/// Inserts entries (in ascending order, or scattered by a fixed permutation of blocks of 64)
/// until the tree has `height` levels.
fn tree_of_height(alloc: bool, height: usize, scattered: bool) -> MapleTree<u32> {
    let tree = if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut n = 0u64;
    while tree.stats().height < height {
        // Scattered: inside each block of 64 entries, insert in the order 0, 37, 10, 47, ...
        // (37 is odd, so `k * 37 % 64` visits the whole block).
        let i = if scattered {
            (n / 64) * 64 + (n % 64) * 37 % 64
        } else {
            n
        };
        let (first, last) = entry(i);
        tree.insert_range(first..=last, u32::try_from(i).unwrap() + 1)
            .unwrap();
        n += 1;
        assert!(n < 100_000, "the tree never reached height {height}");
    }
    tree.check_invariants().unwrap();
    assert_eq!(tree.stats().height, height);
    tree
}

/// Every tree shape the tests below look at.
fn shapes() -> Vec<(String, MapleTree<u32>)> {
    let mut trees = Vec::new();
    for alloc in [false, true] {
        for height in 1..=3 {
            for scattered in [false, true] {
                let name = format!(
                    "{} tree of height {height}, {}",
                    if alloc { "allocation" } else { "range" },
                    if scattered { "scattered" } else { "ascending" }
                );
                trees.push((name, tree_of_height(alloc, height, scattered)));
            }
        }
    }
    trees
}

fn layout_of(tree: &MapleTree<u32>) -> TreeLayout {
    tree.layout(|v| format!("v{v}"))
}

/// The largest empty leaf slot below node `id`, computed from the leaves of the layout.
fn largest_empty_run(layout: &TreeLayout, id: usize) -> u64 {
    let node = &layout.nodes[id];
    node.slots
        .iter()
        .map(|slot| match slot.content {
            SlotContent::Child(child) => largest_empty_run(layout, child),
            SlotContent::Empty if node.is_leaf() => {
                u64::try_from(slot.range.len()).unwrap_or(u64::MAX)
            }
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// The header figures and the root: node count, height, entries, root covers everything.
#[test]
fn layout_reports_the_tree_figures_and_the_root() {
    for (name, tree) in shapes() {
        let layout = layout_of(&tree);
        assert_eq!(layout.alloc, tree.is_alloc(), "{name}");
        assert_eq!(layout.height, tree.stats().height, "{name}");
        assert_eq!(layout.entries, tree.len(), "{name}");
        assert_eq!(layout.nodes.len(), tree.stats().nodes, "{name}");
        let root = layout.root().unwrap();
        assert_eq!((root.id, root.parent, root.depth), (0, None, 0), "{name}");
        assert_eq!((root.min, root.max), (0, u64::MAX), "{name}");
        for (i, node) in layout.nodes.iter().enumerate() {
            assert_eq!(node.id, i, "{name}: ids are pre-order positions");
            assert!(!node.dead, "{name}: node {i}");
            assert!(!node.slots.is_empty(), "{name}: node {i}");
            assert!(node.slots.len() <= node.kind.capacity(), "{name}: node {i}");
            let expected = match (node.depth + 1 == layout.height, tree.is_alloc()) {
                (true, _) => LayoutKind::Leaf,
                (false, true) => LayoutKind::AllocRange,
                (false, false) => LayoutKind::Range,
            };
            assert_eq!(
                node.kind, expected,
                "{name}: node {i} at depth {}",
                node.depth
            );
        }
    }
}

/// At every depth, the nodes' slots, left to right, cover `[0, u64::MAX]` without a hole or an
/// overlap, and each node's slots cover exactly `[min, max]`.
#[test]
fn each_level_partitions_the_key_space() {
    for (name, tree) in shapes() {
        let layout = layout_of(&tree);
        for depth in 0..layout.height {
            let mut next = Some(0u64);
            for node in layout.nodes.iter().filter(|n| n.depth == depth) {
                assert_eq!(Some(node.min), next, "{name}: node {} starts", node.id);
                for slot in &node.slots {
                    assert_eq!(Some(slot.range.first()), next, "{name}: node {}", node.id);
                    next = slot.range.last().checked_add(1);
                }
                assert_eq!(node.slots.last().unwrap().range.last(), node.max);
            }
            assert_eq!(next, None, "{name}: depth {depth} ends at u64::MAX");
        }
    }
}

/// A child covers exactly its parent slot's range, one level down, and names that slot as its
/// parent; pre-order puts every child after its parent and the children in slot order.
#[test]
fn children_cover_their_parent_slot() {
    for (name, tree) in shapes() {
        let layout = layout_of(&tree);
        let mut reached = vec![false; layout.nodes.len()];
        reached[0] = true;
        for node in &layout.nodes {
            let mut last_child = node.id;
            for (i, slot) in node.slots.iter().enumerate() {
                match &slot.content {
                    SlotContent::Child(c) => {
                        assert!(!node.is_leaf(), "{name}: a leaf with a child");
                        let child = &layout.nodes[*c];
                        assert_eq!(child.parent, Some((node.id, i)), "{name}");
                        assert_eq!(child.depth, node.depth + 1, "{name}");
                        assert_eq!(
                            (child.min, child.max),
                            (slot.range.first(), slot.range.last()),
                            "{name}: node {} slot {i}",
                            node.id
                        );
                        assert!(*c > last_child, "{name}: pre-order");
                        last_child = *c;
                        reached[*c] = true;
                    }
                    SlotContent::Empty => {
                        assert!(node.is_leaf(), "{name}: an internal slot without a child");
                    }
                    SlotContent::Value(_) => assert!(node.is_leaf(), "{name}"),
                }
            }
            let children: Vec<usize> = layout.children(node.id).map(|c| c.id).collect();
            let expected = if node.is_leaf() { 0 } else { node.slots.len() };
            assert_eq!(children.len(), expected, "{name}: node {}", node.id);
        }
        assert!(
            reached.iter().all(|&r| r),
            "{name}: every node has a parent"
        );
    }
}

/// Leaf slots hold what the tree holds there, printed by the callback, and the values, in
/// order, are the tree's entries.
#[test]
fn leaf_slots_hold_the_tree_values() {
    for (name, tree) in shapes() {
        let layout = layout_of(&tree);
        let mut from_layout = Vec::new();
        for node in layout.nodes.iter().filter(|n| n.is_leaf()) {
            for slot in &node.slots {
                let expected = tree.get(slot.range.first()).map(|v| format!("v{v}"));
                match &slot.content {
                    SlotContent::Value(text) => {
                        assert_eq!(Some(text), expected.as_ref(), "{name}");
                        from_layout.push((slot.range, text.clone()));
                    }
                    SlotContent::Empty => assert_eq!(expected, None, "{name}"),
                    SlotContent::Child(_) => panic!("{name}: a leaf with a child"),
                }
            }
        }
        let from_tree: Vec<_> = tree
            .read()
            .iter()
            .map(|(range, v)| (range, format!("v{v}")))
            .collect();
        assert_eq!(from_layout, from_tree, "{name}");
    }
}

/// Allocation-range nodes carry a gap per slot, equal to the largest empty leaf slot below it,
/// with the largest marked; `find_gap` inside each child finds that size and no more. Other
/// nodes carry no gaps.
#[test]
fn gaps_match_the_leaves_and_find_gap() {
    let mut checked = 0;
    for (name, tree) in shapes() {
        let layout = layout_of(&tree);
        for node in &layout.nodes {
            if node.kind != LayoutKind::AllocRange {
                assert_eq!(node.max_gap_slot, None, "{name}");
                assert!(node.slots.iter().all(|s| s.gap.is_none()), "{name}");
                continue;
            }
            checked += 1;
            let gaps: Vec<u64> = node.slots.iter().map(|s| s.gap.unwrap()).collect();
            let largest = *gaps.iter().max().unwrap();
            let marked = node.max_gap_slot.unwrap();
            assert_eq!(gaps[marked], largest, "{name}: node {} {gaps:?}", node.id);
            for (slot, &gap) in node.slots.iter().zip(&gaps) {
                let SlotContent::Child(child) = slot.content else {
                    panic!("{name}: an allocation-range slot without a child");
                };
                assert_eq!(gap, largest_empty_run(&layout, child), "{name}");
                let (lo, hi) = (slot.range.first(), slot.range.last());
                if gap > 0 {
                    let start = tree.find_gap(lo..=hi, gap).unwrap();
                    assert!(lo <= start && start <= hi - (gap - 1), "{name}");
                }
                if gap < u64::MAX {
                    assert_eq!(
                        tree.find_gap(lo..=hi, gap + 1),
                        Err(GapError::NoSpace),
                        "{name}: node {} slot [{lo}, {hi}] gap {gap}",
                        node.id
                    );
                }
            }
        }
    }
    // Two heights with one internal level and two with two (root plus at least 2 children).
    assert!(checked >= 8, "only {checked} allocation-range nodes");
}

/// `path_to` has one step per level, starts at the root, goes from each slot to the child it
/// holds, and ends in the leaf slot covering the index, which holds the tree's value there.
#[test]
fn path_ends_in_the_slot_holding_the_index() {
    for (name, tree) in shapes() {
        let layout = layout_of(&tree);
        let (_, last) = entry(u64::try_from(tree.len()).unwrap());
        let indices = [0, 1, 99, 100, 4321, last, last + 1, u64::MAX / 2, u64::MAX];
        for index in indices.into_iter().chain((0..400).map(|i| i * 37)) {
            let path = layout.path_to(index);
            assert_eq!(path.len(), layout.height, "{name}: index {index}");
            assert_eq!(path[0].0, 0, "{name}");
            for pair in path.windows(2) {
                let (node, slot) = pair[0];
                assert_eq!(
                    layout.nodes[node].slots[slot].content,
                    SlotContent::Child(pair[1].0),
                    "{name}"
                );
            }
            for &(node, slot) in &path {
                assert!(layout.nodes[node].slots[slot].range.contains(index));
            }
            let &(leaf, slot) = path.last().unwrap();
            assert!(layout.nodes[leaf].is_leaf(), "{name}");
            let expected = match tree.get(index) {
                Some(v) => SlotContent::Value(format!("v{v}")),
                None => SlotContent::Empty,
            };
            assert_eq!(layout.nodes[leaf].slots[slot].content, expected, "{name}");
        }
    }
}

/// An empty tree has no nodes and no path; values of any entry type are printed by the
/// callback.
#[test]
fn empty_trees_and_boxed_values() {
    let empty: MapleTree<u32> = MapleTree::new_alloc();
    let layout = layout_of(&empty);
    assert_eq!((layout.height, layout.entries), (0, 0));
    assert!(layout.nodes.is_empty());
    assert!(layout.root().is_none());
    assert!(layout.path_to(7).is_empty());
    assert_eq!(layout.children(0).count(), 0);

    let boxed: MapleTree<Box<String>> = MapleTree::new();
    boxed
        .insert_range(5..=9, Box::new("<five>".into()))
        .unwrap();
    let layout = boxed.layout(|s| s.to_string());
    let &(leaf, slot) = layout.path_to(7).last().unwrap();
    assert_eq!(
        layout.nodes[leaf].slots[slot].content,
        SlotContent::Value("<five>".into())
    );
}
