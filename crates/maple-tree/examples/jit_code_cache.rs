//! The code cache of a just-in-time compiler.
//!
//! Compiled functions live in one executable arena. The cache must:
//!
//! - place each new function in a free run of the arena, aligned for the instruction fetch
//!   (64 bytes here);
//! - when the arena is full, evict the least recently used functions until the new one fits,
//!   and reuse the holes they leave;
//! - map a return address found on the stack back to the function that contains it (for stack
//!   traces, deoptimization and profilers), which is a lookup by address in a range.
//!
//! An allocation tree keyed by address does all three in O(log n): `alloc_range_for` with an
//! aligned request to place, `erase` to evict, `get_range` to map an address to its function.
//!
//! Run with `cargo run -p maple-tree --example jit_code_cache`.

use std::collections::VecDeque;

use maple_tree::{GapRequest, MapleTree, Range};

/// What the cache knows of a compiled function.
#[derive(Clone, Debug, PartialEq)]
struct Function {
    name: String,
    /// Machine code size in bytes (the entry covers it rounded up to the alignment).
    size: u64,
}

/// A code cache over `[base, base + size)`.
struct CodeCache {
    code: MapleTree<Function>,
    arena: Range,
    /// Function start addresses, least recently used first.
    lru: VecDeque<u64>,
    evictions: usize,
}

const ALIGN: u64 = 64;

impl CodeCache {
    fn new(base: u64, size: u64) -> Self {
        Self {
            code: MapleTree::new_alloc(),
            arena: Range::new(base, base + size - 1).expect("a non-empty arena"),
            lru: VecDeque::new(),
            evictions: 0,
        }
    }

    /// Places a function of `size` bytes, evicting the least recently used ones until it fits;
    /// returns its address.
    fn install(&mut self, name: &str, size: u64) -> u64 {
        let span = size.next_multiple_of(ALIGN);
        let request = GapRequest::new(self.arena, span).align(ALIGN);
        let mut function = Function {
            name: name.to_string(),
            size,
        };
        loop {
            // The cache owns its tree, so it writes through `exclusive`: in place, no locking.
            let placed = self.code.exclusive().alloc_range_for(request, function);
            match placed {
                Ok(address) => {
                    self.lru.push_back(address);
                    return address;
                }
                Err(e) => {
                    function = e.into_value();
                    let victim = self
                        .lru
                        .pop_front()
                        .expect("a function that fits the arena");
                    self.code.exclusive().erase(victim);
                    self.evictions += 1;
                }
            }
        }
    }

    /// The function containing `address` and the offset into it; marks it used.
    fn symbolize(&mut self, address: u64) -> Option<(String, u64)> {
        let (range, function) = self.code.get_range(address)?;
        if address - range.first() >= function.size {
            return None; // the padding after the code
        }
        if let Some(at) = self.lru.iter().position(|&a| a == range.first()) {
            let start = self.lru.remove(at).expect("found");
            self.lru.push_back(start);
        }
        Some((function.name, address - range.first()))
    }
}

fn main() {
    let mut cache = CodeCache::new(0x7000_0000, 64 * 1024);
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut hot = Vec::new();
    for i in 0..2_000 {
        let size = 200 + random(3_000);
        let address = cache.install(&format!("fn{i}"), size);
        assert_eq!(address % ALIGN, 0);
        assert!(cache.arena.contains(address) && cache.arena.contains(address + size - 1));
        // Every fourth function is hot: a profiler keeps hitting it, so it stays cached.
        if i % 4 == 0 {
            hot.push((format!("fn{i}"), address));
        }
        hot.retain(|(name, address)| {
            cache.symbolize(address + 10).map(|(n, _)| n).as_ref() == Some(name)
        });
    }
    assert!(cache.evictions > 1_000, "a small arena evicts");
    assert!(hot.len() > 5, "recently used functions survive eviction");
    let (name, address) = &hot[hot.len() - 1];
    assert_eq!(cache.symbolize(address + 5), Some((name.clone(), 5)));
    let used: u128 = cache.code.iter().map(|(range, _)| range.len()).sum();
    let free: u128 = cache.code.gaps(cache.arena).map(|gap| gap.len()).sum();
    assert_eq!(used + free, cache.arena.len());
    cache.code.check_invariants().unwrap();
    println!(
        "{} functions cached in {} bytes ({} free in {} holes), {} evictions, {} hot survive",
        cache.code.len(),
        used,
        free,
        cache.code.gaps(cache.arena).count(),
        cache.evictions,
        hot.len()
    );
}

#[test]
fn runs() {
    main();
}
