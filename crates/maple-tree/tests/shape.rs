//! Shape: the tree's node counts on the kernel's reference workload, 1,000,000 ranges
//! `[16i, 16i+9]`, stay at or below what the kernel's own tree needs.

use maple_tree::MapleTree;

const N: u64 = 1_000_000;

/// A fixed pseudo-random permutation of `0..n` (Fisher-Yates with xorshift).
fn shuffled(n: u64) -> Vec<u64> {
    let mut keys: Vec<u64> = (0..n).collect();
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..keys.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = usize::try_from(x % (i as u64 + 1)).unwrap();
        keys.swap(i, j);
    }
    keys
}

fn build(alloc: bool, keys: &[u64]) -> MapleTree<u32> {
    let mut tree = if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut w = tree.exclusive();
    for &i in keys {
        w.insert_range(16 * i..=16 * i + 9, 1).unwrap();
    }
    drop(w);
    tree.check_invariants().unwrap();
    assert_eq!(tree.len(), keys.len());
    tree
}

#[test]
fn ascending_range_tree_matches_the_kernel() {
    let keys: Vec<u64> = (0..N).collect();
    // The kernel: 133,932 nodes (34.3 bytes per entry).
    assert!(build(false, &keys).stats().nodes <= 133_932);
}

#[test]
fn random_range_tree_is_no_bigger_than_the_kernel() {
    // The kernel: about 165,230 nodes (42.3 bytes per entry).
    assert!(build(false, &shuffled(N)).stats().nodes <= 165_230);
}

#[test]
fn ascending_allocation_tree_matches_the_kernel() {
    let keys: Vec<u64> = (0..N).collect();
    // The kernel: 36.0 bytes per entry.
    let tree = build(true, &keys);
    assert!(
        tree.stats().bytes_per_entry() < 36.05,
        "{}",
        tree.stats().bytes_per_entry()
    );
}
