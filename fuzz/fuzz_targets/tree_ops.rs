//! Random operation sequences on a tree against the reference model: every store, insert,
//! clear and erase, in exclusive or RCU mode, on range and allocation trees; after each one the
//! contents and reads must match the model and every invariant must hold.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use maple_tree::MapleTree;
use maple_tree::testing::RangeModel;

/// An index: mostly small (so that ranges collide), sometimes at the top of the key space.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Index {
    Low(u16),
    High(u16),
}

impl Index {
    fn get(self) -> u64 {
        match self {
            Self::Low(i) => u64::from(i),
            Self::High(i) => u64::MAX - u64::from(i),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Store { first: Index, len: u16, value: u16 },
    Insert { first: Index, len: u16, value: u16 },
    Clear { first: Index, len: u16 },
    Erase { index: Index },
    Find { start: Index, limit: Index },
    FindRev { start: Index, min: Index },
    Full { value: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    alloc: bool,
    exclusive: bool,
    ops: Vec<Op>,
}

fn range(first: Index, len: u16) -> (u64, u64) {
    let first = first.get();
    (first, first.saturating_add(u64::from(len)))
}

fuzz_target!(|input: Input| {
    let mut tree = if input.alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut model = RangeModel::default();
    for op in &input.ops {
        {
            let mut w = if input.exclusive {
                tree.exclusive()
            } else {
                tree.lock()
            };
            match *op {
                Op::Store { first, len, value } => {
                    let (a, b) = range(first, len);
                    w.store_range(a..=b, u32::from(value)).unwrap();
                    model.store(a, b, Some(u64::from(value)));
                }
                Op::Insert { first, len, value } => {
                    let (a, b) = range(first, len);
                    let ok = w.insert_range(a..=b, u32::from(value)).is_ok();
                    assert_eq!(ok, model.is_vacant(a, b));
                    if ok {
                        model.store(a, b, Some(u64::from(value)));
                    }
                }
                Op::Clear { first, len } => {
                    let (a, b) = range(first, len);
                    w.clear_range(a..=b).unwrap();
                    model.store(a, b, None);
                }
                Op::Erase { index } => {
                    let i = index.get();
                    assert_eq!(w.erase(i).map(u64::from), model.erase(i));
                }
                Op::Find { start, limit } => {
                    let (s, l) = (start.get(), limit.get());
                    let got = w
                        .find(s..=l)
                        .map(|(r, v)| (r.first(), r.last(), u64::from(*v)));
                    assert_eq!(got, model.find(s, l));
                }
                Op::FindRev { start, min } => {
                    let (s, m) = (start.get(), min.get());
                    let got = w
                        .find_rev(m..=s)
                        .map(|(r, v)| (r.first(), r.last(), u64::from(*v)));
                    assert_eq!(got, model.find_rev(s, m));
                }
                Op::Full { value } => {
                    w.store_range(0..=u64::MAX, u32::from(value)).unwrap();
                    model.store(0, u64::MAX, Some(u64::from(value)));
                }
            }
        }
        tree.check_invariants().unwrap();
        let guard = tree.read();
        let got: Vec<_> = guard
            .iter()
            .map(|(r, v)| (r.first(), r.last(), u64::from(*v)))
            .collect();
        assert_eq!(got, model.entries());
    }
});
