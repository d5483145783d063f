//! Gap search and range allocation against a brute-force search of the reference model: the
//! lowest and highest fits, with alignment, inside arbitrary windows, and allocations that
//! fill what they find.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use maple_tree::testing::RangeModel;
use maple_tree::{GapError, GapRequest, MapleTree};

#[derive(Arbitrary, Debug)]
enum Op {
    /// Occupy `[first, first + len]` (scaled, so that gaps of all sizes appear).
    Occupy { first: u32, len: u16 },
    /// Empty a range again.
    Free { first: u32, len: u16 },
    /// Search (and maybe allocate) `size` indices in `[min, max]`, aligned to `1 << align`.
    Search {
        min: u32,
        max: u32,
        size: u32,
        align: u8,
        top_down: bool,
        allocate: bool,
        top: bool,
    },
}

fn scale(x: u32) -> u64 {
    u64::from(x) * 7
}

fuzz_target!(|ops: Vec<Op>| {
    let mut tree = MapleTree::new_alloc();
    let mut model = RangeModel::default();
    for (n, op) in ops.iter().enumerate() {
        let value = u32::try_from(n).unwrap_or(u32::MAX);
        match *op {
            Op::Occupy { first, len } => {
                let (a, b) = (scale(first), scale(first) + u64::from(len));
                tree.exclusive().store_range(a..=b, value).unwrap();
                model.store(a, b, Some(u64::from(value)));
            }
            Op::Free { first, len } => {
                let (a, b) = (scale(first), scale(first) + u64::from(len));
                tree.exclusive().clear_range(a..=b).unwrap();
                model.store(a, b, None);
            }
            Op::Search {
                min,
                max,
                size,
                align,
                top_down,
                allocate,
                top,
            } => {
                // Windows near the top of the key space too.
                let shift = if top { u64::MAX - scale(u32::MAX) } else { 0 };
                let (min, max) = (scale(min) + shift, scale(max) + shift);
                let size = u64::from(size % 100_000);
                let align = 1u64 << (align % 12);
                let mut request = GapRequest::new(min..=max, size).align(align);
                if top_down {
                    request = request.top_down();
                }
                let expect = if size == 0 {
                    Err(GapError::ZeroSize)
                } else if min > max {
                    Err(GapError::InvalidRange)
                } else {
                    model
                        .find_gap(min, max, size, align, top_down)
                        .ok_or(GapError::NoSpace)
                };
                assert_eq!(tree.read().find_gap_for(request), expect);
                if allocate {
                    let got = tree.exclusive().alloc_range_for(request, value).ok();
                    assert_eq!(got, expect.ok());
                    if let Some(start) = got {
                        model.store(start, start + (size - 1), Some(u64::from(value)));
                    }
                }
            }
        }
        tree.check_invariants().unwrap();
    }
    let got: Vec<_> = tree
        .read()
        .iter()
        .map(|(r, v)| (r.first(), r.last(), u64::from(*v)))
        .collect();
    assert_eq!(got, model.entries());
});
