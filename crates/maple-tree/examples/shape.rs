//! Prints node counts and bytes per entry for the kernel's reference shapes.
use maple_tree::MapleTree;

fn main() {
    let n = 1_000_000u64;
    for alloc in [false, true] {
        for order in ["ascending", "random", "descending"] {
            let mut tree = if alloc {
                MapleTree::new_alloc()
            } else {
                MapleTree::new()
            };
            let mut keys: Vec<u64> = (0..n).collect();
            if order == "random" {
                let mut x = 0x2545_f491_4f6c_dd1du64;
                for i in (1..keys.len()).rev() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    keys.swap(i, (x % (i as u64 + 1)) as usize);
                }
            } else if order == "descending" {
                keys.reverse();
            }
            let mut w = tree.exclusive();
            for &i in &keys {
                w.insert_range(16 * i..=16 * i + 9, 1u32).unwrap();
            }
            drop(w);
            println!(
                "{} {order}: nodes {} bytes/entry {:.1} height {}",
                if alloc { "alloc" } else { "range" },
                tree.stats().nodes,
                tree.stats().bytes_per_entry(),
                tree.stats().height
            );
            tree.check_invariants().unwrap();
        }
    }
}
