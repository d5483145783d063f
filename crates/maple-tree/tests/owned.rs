//! `OwnedTree`: its unpinned reads through `&self` answer exactly as a pinned reader of the same
//! tree does, after every kind of write, and several threads may read it at once.

use maple_tree::{GapRequest, MapleTree, OwnedTree, Range};

/// xorshift64: the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

type Hit = Option<(Range, u32)>;

fn hit(found: Option<(Range, maple_tree::Ref<'_, u32>)>) -> Hit {
    found.map(|(r, v)| (r, *v))
}

/// The entry before `[a, b]`, those intersecting it and the entry after, from the sorted
/// entries by brute force.
fn around_of(all: &[(Range, u32)], a: u64, b: u64) -> Vec<(Range, u32)> {
    let inside: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].0.first() <= b && all[i].0.last() >= a)
        .collect();
    let before = match inside.first() {
        Some(&i) => i.checked_sub(1),
        None => all.iter().rposition(|(r, _)| r.last() < a),
    };
    let after = match inside.last() {
        Some(&i) => Some(i + 1).filter(|&j| j < all.len()),
        None => all.iter().position(|(r, _)| r.first() > b),
    };
    before
        .into_iter()
        .chain(inside)
        .chain(after)
        .map(|i| all[i])
        .collect()
}

/// Every read of `owned` against the same read of `reference` under a pinned guard.
fn compare(owned: &OwnedTree<u32>, reference: &MapleTree<u32>, rng: &mut Rng, space: u64) {
    let guard = reference.read();
    assert_eq!(owned.len(), guard.len());
    let all: Vec<(Range, u32)> = owned.iter().map(|(r, v)| (r, *v)).collect();
    let want: Vec<(Range, u32)> = guard.iter().map(|(r, v)| (r, *v)).collect();
    assert_eq!(all, want);
    let mut each = Vec::new();
    owned.for_each(|r, v| each.push((r, *v)));
    assert_eq!(each, want, "for_each");
    assert_eq!(hit(owned.first()), hit(guard.first()));
    assert_eq!(hit(owned.last()), hit(guard.last()));
    for _ in 0..200 {
        let a = rng.below(space);
        let b = a + rng.below(64);
        assert_eq!(
            hit(owned.get_range(a)),
            hit(guard.get_range(a)),
            "get_range({a})"
        );
        assert_eq!(owned.contains(a), guard.contains(a));
        assert_eq!(
            hit(owned.find(a..=b)),
            hit(guard.find(a..=b)),
            "find({a}..={b})"
        );
        assert_eq!(
            hit(owned.find_rev(a..=b)),
            hit(guard.find_rev(a..=b)),
            "find_rev({a}..={b})"
        );
        let ranges: Vec<(Range, u32)> = owned.range(a..=b).map(|(r, v)| (r, *v)).collect();
        let want: Vec<(Range, u32)> = guard.range(a..=b).map(|(r, v)| (r, *v)).collect();
        assert_eq!(ranges, want, "range({a}..={b})");
        let gaps: Vec<Range> = owned.gaps(a..=b).collect();
        assert_eq!(
            gaps,
            guard.gaps(a..=b).collect::<Vec<_>>(),
            "gaps({a}..={b})"
        );
        let size = 1 + rng.below(8);
        for top_down in [false, true] {
            let mut request = GapRequest::new(a..=b + 32, size);
            if top_down {
                request = request.top_down();
            }
            assert_eq!(owned.find_gap_for(request), guard.find_gap_for(request));
        }
        let mut around = Vec::new();
        owned.for_each_around(a..=b, |r, v| around.push((r, *v)));
        assert_eq!(around, around_of(&all, a, b), "for_each_around({a}..={b})");
        // A cursor: one step back, then forward past the range.
        let mut mine = owned.cursor(a);
        let mut theirs = guard.cursor(a);
        assert_eq!(mine.walk().map(|v| *v), theirs.walk().map(|v| *v));
        assert_eq!(hit(mine.prev(0)), hit(theirs.prev(0)));
        for _ in 0..4 {
            assert_eq!(hit(mine.next(u64::MAX)), hit(theirs.next(u64::MAX)));
        }
    }
}

#[test]
fn unpinned_reads_match_pinned_reads_after_every_kind_of_write() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for alloc in [false, true] {
        let (mut owned, reference) = if alloc {
            (OwnedTree::new_alloc(), MapleTree::new_alloc())
        } else {
            (OwnedTree::new(), MapleTree::new())
        };
        let space = 4000;
        for round in 0..40u32 {
            {
                let mut writer = owned.exclusive();
                for i in 0..50u32 {
                    let first = rng.below(space);
                    let last = first + rng.below(20);
                    let value = round * 100 + i;
                    match rng.below(3) {
                        0 | 1 => {
                            writer.store_range(first..=last, value).unwrap();
                            reference.store_range(first..=last, value).unwrap();
                        }
                        _ => {
                            writer.clear_range(first..=last).unwrap();
                            reference.clear_range(first..=last).unwrap();
                        }
                    }
                }
                writer.check_invariants().unwrap();
            }
            owned.check_invariants().unwrap();
            compare(&owned, &reference, &mut rng, space + 40);
        }
        let copy = owned.try_clone().unwrap();
        compare(&copy, &reference, &mut rng, space + 40);
        assert_eq!(owned.stats().entries, reference.len());
        let back = owned.into_inner();
        assert_eq!(back, reference);
    }
}

#[test]
fn threads_read_one_owned_tree_at_once() {
    let mut tree = OwnedTree::new_alloc();
    {
        let mut writer = tree.exclusive();
        for i in 0..2000u32 {
            let first = u64::from(i) * 10;
            writer.insert_range(first..=first + 6, i).unwrap();
        }
    }
    let tree = &tree;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            s.spawn(move || {
                for i in 0..2000u64 {
                    let at = i * 10 + t * 3;
                    let (range, value) = tree.get_range(at).unwrap();
                    assert_eq!((range.first(), u64::from(*value)), (i * 10, i));
                    assert!(tree.get(i * 10 + 8).is_none());
                }
            });
        }
    });
}

/// `EntryMut`: a store or clear through the handle leaves the tree exactly as the same write
/// through `WriteGuard` does (node for node, gaps included), and the handle reads what holds
/// its index and what lies around a range. Ranges start at the index, elsewhere in its leaf,
/// or anywhere in the tree (a fresh walk); checked against the reference model after every
/// write. Each handle starts from where the last one left the tree (its finger), which writes
/// through `exclusive()` in between (splits, merges, new roots) must make it forget.
#[test]
fn entry_mut_writes_as_the_write_guard_does() {
    use maple_tree::testing::RangeModel;
    for (seed, alloc, universe) in [
        (1u64, true, 4_000u64),
        (2, false, 4_000),
        (3, true, 200_000),
    ] {
        let mut rng = Rng(0x9e37_79b9 ^ seed);
        let (mut handle, mut guard) = if alloc {
            (OwnedTree::new_alloc(), MapleTree::new_alloc())
        } else {
            (OwnedTree::new(), MapleTree::new())
        };
        let mut model = RangeModel::default();
        for step in 0..6_000u32 {
            let index = rng.below(universe);
            let first = match rng.below(3) {
                0 => index,
                1 => index.saturating_sub(rng.below(40)),
                _ => rng.below(universe),
            };
            let span = if rng.below(10) == 0 { 2_000 } else { 30 };
            let last = first + rng.below(span);
            if rng.below(16) == 0 {
                // A write beside the handle: the next one must not start from a stale walk.
                let first = rng.below(universe);
                let last = first + rng.below(3_000);
                handle.exclusive().clear_range(first..=last).unwrap();
                guard.exclusive().clear_range(first..=last).unwrap();
                model.store(first, last, None);
            }
            let entry = handle.entry_mut(index);
            let want = model.get(index);
            assert_eq!(entry.get().map(|v| u64::from(*v)), want.map(|(_, _, v)| v));
            let range = entry.range();
            if let Some((f, l, _)) = want {
                assert_eq!((range.first(), range.last()), (f, l), "step {step}");
            }
            assert!(range.first() <= index && index <= range.last());
            let all: Vec<(Range, u32)> = model
                .entries()
                .into_iter()
                .map(|(f, l, v)| (Range::new(f, l).unwrap(), v as u32))
                .collect();
            let (a, b) = if rng.below(2) == 0 {
                (index, index + rng.below(60))
            } else {
                (first, last)
            };
            let mut around = Vec::new();
            entry.for_each_around(a..=b, |r, v| around.push((r, *v)));
            assert_eq!(
                around,
                around_of(&all, a, b),
                "step {step}: around {a}..={b}"
            );
            if rng.below(3) == 0 {
                entry.clear(first..=last).unwrap();
                guard.exclusive().clear_range(first..=last).unwrap();
                model.store(first, last, None);
            } else {
                entry.store(first..=last, step).unwrap();
                guard.exclusive().store_range(first..=last, step).unwrap();
                model.store(first, last, Some(u64::from(step)));
            }
            handle
                .check_invariants()
                .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
            let show = |v: &u32| v.to_string();
            assert!(
                handle.layout(show) == guard.layout(show),
                "seed {seed} step {step}: {first}..={last} from {index}"
            );
            if step % 64 == 0 {
                let entries: Vec<_> = handle
                    .iter()
                    .map(|(r, v)| (r.first(), r.last(), u64::from(*v)))
                    .collect();
                assert_eq!(entries, model.entries(), "seed {seed} step {step}");
            }
        }
    }
}
