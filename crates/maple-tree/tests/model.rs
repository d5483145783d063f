//! Randomized differential test: the tree against a simple reference range map, with every
//! invariant checked after every operation and every read compared.

mod common;

use common::{Model, Rng};
use maple_tree::{GapRequest, MapleTree};

/// Picks an index: mostly from a small universe so that ranges collide, sometimes at the edges
/// of the key space.
fn index(rng: &mut Rng, universe: u64) -> u64 {
    match rng.below(40) {
        0 => 0,
        1 => u64::MAX,
        2 => u64::MAX - rng.below(universe),
        _ => rng.below(universe),
    }
}

fn range(rng: &mut Rng, universe: u64) -> (u64, u64) {
    let first = index(rng, universe);
    let len = match rng.below(100) {
        0 => rng.below(universe * 4),
        1..=3 => rng.below(universe / 8 + 1),
        4..=33 => 0,
        _ => rng.below(24),
    };
    (first, first.saturating_add(len))
}

fn value_of(v: u32) -> u64 {
    u64::from(v)
}

/// Runs `ops` random operations on one tree and checks everything after each.
fn run(seed: u64, ops: usize, universe: u64, alloc: bool, exclusive: bool) {
    let mut rng = Rng::new(seed);
    let mut tree = if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    };
    let mut model = Model::default();
    let mut peak = (0, 0);
    for (step, value) in (0..ops).zip(1u32..) {
        let (first, last) = range(&mut rng, universe);
        // Alternate phases that grow and shrink the tree, so that every height is reached and
        // left again.
        let growing = (step / 1500) % 2 == 0;
        let roll = rng.below(100);
        let op = if growing {
            roll
        } else {
            // Shrinking: fewer stores and inserts, more clears and erases.
            match roll {
                0..=19 => roll,
                20..=24 => 40 + roll - 20,
                25..=54 => 55 + (roll - 25) / 2,
                55..=89 => 70 + (roll - 55) * 20 / 35,
                _ => roll,
            }
        };
        let desc;
        {
            let mut w = if exclusive {
                tree.exclusive()
            } else {
                tree.lock()
            };
            match op {
                0..=39 => {
                    desc = format!("store {first} {last} {value}");
                    w.store_range(first..=last, value).unwrap();
                    model.store(first, last, Some(u64::from(value)));
                }
                40..=54 => {
                    desc = format!("insert {first} {last} {value}");
                    let ok = w.insert_range(first..=last, value).is_ok();
                    assert_eq!(ok, model.is_vacant(first, last), "{desc}");
                    if ok {
                        model.store(first, last, Some(u64::from(value)));
                    }
                }
                55..=69 => {
                    desc = format!("clear {first} {last}");
                    w.clear_range(first..=last).unwrap();
                    model.store(first, last, None);
                }
                70..=89 => {
                    desc = format!("erase {first}");
                    let got = w.erase(first).map(value_of);
                    assert_eq!(got, model.erase(first), "{desc}");
                }
                _ => {
                    let span = if rng.chance(50) { 8 } else { universe };
                    let size = 1 + rng.below(span);
                    let (min, max) = if first <= last {
                        (first, last.saturating_add(universe))
                    } else {
                        (last, first)
                    };
                    let rev = rng.chance(50);
                    desc = format!("alloc {min} {max} {size} rev={rev}");
                    let mut req = GapRequest::new(min..=max, size);
                    if rev {
                        req = req.top_down();
                    }
                    let expect = model.find_gap(min, max, size, 1, rev);
                    let got = w.alloc_range_for(req, value).ok();
                    assert_eq!(got, expect, "{desc}");
                    if let Some(s) = got {
                        model.store(s, s + (size - 1), Some(u64::from(value)));
                    }
                }
            }
        }
        if let Err(e) = tree.check_invariants() {
            panic!(
                "seed {seed} step {step} after {desc}: {e}\n{}",
                tree.dump(maple_tree::DumpFormat::Dec)
            );
        }
        assert_eq!(
            tree.len(),
            model.len(),
            "seed {seed} step {step} after {desc}"
        );
        let got: Vec<_> = common::tree_entries(&tree, |&v| value_of(v));
        assert!(
            got == model.entries(),
            "seed {seed} step {step} after {desc}: entries differ\ntree:  {got:?}\nmodel: {:?}\n{}",
            model.entries(),
            tree.dump(maple_tree::DumpFormat::Dec)
        );
        peak = (peak.0.max(tree.len()), peak.1.max(tree.stats().height));
        // Reads and searches.
        let guard = tree.read();
        for _ in 0..4 {
            let i = index(&mut rng, universe);
            let got = guard
                .get_range(i)
                .map(|(r, v)| (r.first(), r.last(), value_of(*v)));
            assert_eq!(got, model.get(i), "get {i} after {desc}");
            let j = index(&mut rng, universe);
            let got = guard
                .find(i..=j)
                .map(|(r, v)| (r.first(), r.last(), value_of(*v)));
            assert_eq!(got, model.find(i, j), "find {i} {j} after {desc}");
            let got = guard
                .find_rev(j..=i)
                .map(|(r, v)| (r.first(), r.last(), value_of(*v)));
            assert_eq!(got, model.find_rev(i, j), "find_rev {i} {j} after {desc}");
            if alloc {
                let size = 1 + rng.below(16);
                let align = 1 << rng.below(4);
                let (lo, hi) = (i.min(j), i.max(j));
                for rev in [false, true] {
                    let mut req = GapRequest::new(lo..=hi, size).align(align);
                    if rev {
                        req = req.top_down();
                    }
                    assert_eq!(
                        guard.find_gap_for(req).ok(),
                        model.find_gap(lo, hi, size, align, rev),
                        "gap {lo} {hi} {size} align {align} rev {rev} after {desc}"
                    );
                }
            }
        }
        drop(guard);
    }
    eprintln!("seed {seed}: peak len {} height {}", peak.0, peak.1);
}

// Together the tests below run 1,100,000 operations, each followed by a full validation and
// a comparison of every entry with the model.

#[test]
fn random_ops_range_tree_rcu_mode() {
    for seed in 0..10 {
        run(seed, 25_000, 2_000, false, false);
    }
}

#[test]
fn random_ops_alloc_tree_exclusive_mode() {
    for seed in 100..110 {
        run(seed, 25_000, 2_000, true, true);
    }
}

#[test]
fn random_ops_big_universe() {
    for seed in 200..212 {
        run(seed, 50_000, 200_000, seed % 2 == 0, seed % 4 < 2);
    }
}

/// An empty tree of `u32`: an allocation tree, or a range tree.
fn empty_tree(alloc: bool) -> MapleTree<u32> {
    if alloc {
        MapleTree::new_alloc()
    } else {
        MapleTree::new()
    }
}

/// Exclusive mode rewrites nodes in place (a split or a rebalance of a leaf writes the new
/// leaves straight from the old ones), RCU mode builds every changed node anew: both must build
/// the same tree, node for node, since the node counts are the kernel's. The same random
/// operations go to one tree of each mode, and their layouts are compared after every one.
#[test]
fn exclusive_and_rcu_writes_build_the_same_nodes() {
    for (seed, alloc, universe) in [
        (400, false, 2_000),
        (401, true, 2_000),
        (402, false, 60_000),
        (403, true, 60_000),
    ] {
        let mut rng = Rng::new(seed);
        let (mut fast, copied) = (empty_tree(alloc), empty_tree(alloc));
        for (step, value) in (0..12_000).zip(1u32..) {
            let (first, last) = range(&mut rng, universe);
            // Grow, then shrink, then grow again, so that splits and merges both come up.
            let erasing = (step / 3_000) % 2 == 1;
            let roll = rng.below(100) + if erasing { 40 } else { 0 };
            let desc = format!("step {step}: roll {roll} {first}..={last}");
            let mut ours = fast.exclusive();
            let mut theirs = copied.lock();
            match roll {
                0..=44 => {
                    ours.store_range(first..=last, value).unwrap();
                    theirs.store_range(first..=last, value).unwrap();
                }
                45..=79 => {
                    let a = ours.insert_range(first..=last, value).is_ok();
                    assert_eq!(
                        a,
                        theirs.insert_range(first..=last, value).is_ok(),
                        "{desc}"
                    );
                }
                80..=99 => {
                    ours.clear_range(first..=last).unwrap();
                    theirs.clear_range(first..=last).unwrap();
                }
                _ => {
                    assert_eq!(ours.erase(first), theirs.erase(first), "{desc}");
                }
            }
            // Every fifth step an allocation fills the empty range at or after `first` exactly
            // (an exact fit into an empty slot, stored from the leaf the search found).
            let gap = ours.gaps(first..).next().filter(|g| g.last() < u64::MAX);
            if step % 5 == 0
                && let Some(gap) = gap
            {
                let req = GapRequest::new(gap.first()..=gap.last(), gap.last() - gap.first() + 1);
                let got = ours.alloc_range_for(req, value).ok();
                assert_eq!(got, Some(gap.first()), "{desc}: exact fit into {gap}");
                assert_eq!(got, theirs.alloc_range_for(req, value).ok(), "{desc}");
            }
            drop((ours, theirs));
            fast.check_invariants()
                .unwrap_or_else(|e| panic!("seed {seed} {desc}: {e}"));
            let show = |v: &u32| v.to_string();
            assert!(
                fast.layout(show) == copied.layout(show),
                "seed {seed} {desc}: the modes built different nodes\nexclusive:\n{}\nrcu:\n{}",
                fast.dump(maple_tree::DumpFormat::Dec),
                copied.dump(maple_tree::DumpFormat::Dec)
            );
        }
    }
}

/// As above, for trees grown by ascending and by descending inserts of gapped ranges, and then
/// emptied by erases from the front, where the splits push into a sibling and the merges pull
/// from one every time.
#[test]
fn exclusive_and_rcu_inserts_in_order_build_the_same_nodes() {
    for alloc in [false, true] {
        for descending in [false, true] {
            let (mut fast, copied) = (empty_tree(alloc), empty_tree(alloc));
            let keys: Vec<u64> = if descending {
                (0..6_000).rev().collect()
            } else {
                (0..6_000).collect()
            };
            let show = |v: &u32| v.to_string();
            for (step, (&k, value)) in keys.iter().zip(1u32..).enumerate() {
                fast.exclusive()
                    .insert_range(k * 10..=k * 10 + 5, value)
                    .unwrap();
                copied.insert_range(k * 10..=k * 10 + 5, value).unwrap();
                if step % 97 == 0 {
                    assert!(fast.layout(show) == copied.layout(show), "insert {k}");
                }
            }
            assert!(fast.layout(show) == copied.layout(show));
            for (step, &k) in keys.iter().enumerate() {
                assert_eq!(fast.exclusive().erase(k * 10), copied.erase(k * 10));
                if step % 97 == 0 {
                    fast.check_invariants().unwrap();
                    assert!(fast.layout(show) == copied.layout(show), "erase {k}");
                }
            }
        }
    }
}

/// Deep trees: grows to tens of thousands of entries (height 5 and more), then churns with
/// overwrites, cuts and wide clears, comparing sampled reads after every operation and the
/// whole tree and its invariants periodically.
#[test]
fn random_ops_deep_trees() {
    for (seed, alloc) in [(300, true), (301, false)] {
        let mut rng = Rng::new(seed);
        let mut tree = if alloc {
            MapleTree::new_alloc()
        } else {
            MapleTree::new()
        };
        let mut model = Model::default();
        let universe = 4_000_000;
        let mut max_height = 0;
        for step in 0..60_000u32 {
            let first = rng.below(universe);
            let growing = step < 30_000;
            let len = match rng.below(1000) {
                0 if !growing => rng.below(universe / 20),
                1..=9 => rng.below(2_000),
                _ => rng.below(60),
            };
            let last = first + len;
            {
                let mut w = if step % 3 == 0 {
                    tree.lock()
                } else {
                    tree.exclusive()
                };
                match rng.below(if growing { 10 } else { 12 }) {
                    0..=5 => {
                        w.store_range(first..=last, step).unwrap();
                        model.store(first, last, Some(u64::from(step)));
                    }
                    6..=7 => {
                        if w.insert_range(first..=last, step).is_ok() {
                            model.store(first, last, Some(u64::from(step)));
                        }
                    }
                    8 => {
                        assert_eq!(w.erase(first).map(u64::from), model.erase(first));
                    }
                    _ => {
                        w.clear_range(first..=last).unwrap();
                        model.store(first, last, None);
                    }
                }
            }
            max_height = max_height.max(tree.stats().height);
            let guard = tree.read();
            for _ in 0..4 {
                let i = rng.below(universe);
                let got = guard
                    .get_range(i)
                    .map(|(r, v)| (r.first(), r.last(), u64::from(*v)));
                assert_eq!(got, model.get(i), "seed {seed} step {step}: get {i}");
            }
            if alloc && step % 16 == 0 {
                let size = 1 + rng.below(5_000);
                let (a, b) = (rng.below(universe), rng.below(universe));
                let (lo, hi) = (a.min(b), a.max(b));
                assert_eq!(
                    tree.find_gap(lo..=hi, size).ok(),
                    model.find_gap(lo, hi, size, 1, false)
                );
                assert_eq!(
                    tree.find_gap_rev(lo..=hi, size).ok(),
                    model.find_gap(lo, hi, size, 1, true)
                );
            }
            drop(guard);
            if step % 97 == 0 {
                tree.check_invariants()
                    .unwrap_or_else(|e| panic!("seed {seed} step {step}: {e}"));
                assert_eq!(tree.len(), model.len());
            }
            if step % 5_000 == 0 {
                assert_eq!(
                    common::tree_entries(&tree, |&v| value_of(v)),
                    model.entries()
                );
            }
        }
        tree.check_invariants().unwrap();
        assert_eq!(
            common::tree_entries(&tree, |&v| value_of(v)),
            model.entries()
        );
        assert!(
            max_height >= 5,
            "seed {seed}: only reached height {max_height}"
        );
        eprintln!(
            "deep seed {seed}: max height {max_height}, final len {}",
            tree.len()
        );
    }
}

/// A fold (`for_each`, `count`, `sum`...) yields what a reference says, from any point an
/// iteration may have reached with `next` and `next_back`, for readers and for the writer, on
/// trees of several levels, over windows that start and end inside entries, gaps and leaves;
/// so do `next` and `next_back` on their own.
#[test]
fn folding_an_iterator_yields_what_next_yields() {
    type Seen = Vec<(u64, u64, u32)>;
    let mut rng = Rng::new(400);
    for count in [1, 15, 40, 300, 3_000] {
        let mut tree = MapleTree::new();
        let mut entries = Seen::new();
        let mut at = 0u64;
        for v in 0..count {
            // Adjacent entries and gaps, one index to a few hundred wide.
            at += rng.below(3) * rng.below(200);
            let last = at + rng.below(300);
            tree.store_range(at..=last, v).unwrap();
            entries.push((at, last, v));
            at = last + 1;
        }
        let end = at + 10;
        for _ in 0..300 {
            let a = rng.below(end);
            let b = a + rng.below(end - a + 10);
            let steps = usize::try_from(rng.below(20)).unwrap();
            let back = rng.chance(30);
            let window: Seen = entries
                .iter()
                .copied()
                .filter(|&(first, last, _)| first <= b && last >= a)
                .collect();
            // The front's first `steps`, then the back's one, then the rest in order.
            let front = steps.min(window.len());
            let mut expected = window[..front].to_vec();
            let mut rest = &window[front..];
            if back && let Some((&last, before)) = rest.split_last() {
                expected.push(last);
                rest = before;
            }
            expected.extend_from_slice(rest);
            let mut reversed = window.clone();
            reversed.reverse();
            let prefix = |iter: &mut maple_tree::Iter<'_, u32>| {
                let mut seen = Seen::new();
                for _ in 0..steps {
                    if let Some((r, v)) = iter.next() {
                        seen.push((r.first(), r.last(), *v));
                    }
                }
                if back && let Some((r, v)) = iter.next_back() {
                    seen.push((r.first(), r.last(), *v));
                }
                seen
            };
            let push = |mut seen: Seen, (r, v): (maple_tree::Range, maple_tree::Ref<'_, u32>)| {
                seen.push((r.first(), r.last(), *v));
                seen
            };
            // By value: `fold` on `&mut Iter` would go through `next`.
            let folded = |mut iter: maple_tree::Iter<'_, u32>| {
                let seen = prefix(&mut iter);
                iter.fold(seen, push)
            };
            let stepped = |mut iter: maple_tree::Iter<'_, u32>| {
                let mut seen = prefix(&mut iter);
                seen.extend(iter.map(|(r, v)| (r.first(), r.last(), *v)));
                seen
            };
            {
                let guard = tree.read();
                assert_eq!(folded(guard.range(a..=b)), expected, "reader, {a}..={b}");
                assert_eq!(stepped(guard.range(a..=b)), expected, "reader, {a}..={b}");
                let rev = guard.range(a..=b).rev().fold(Seen::new(), push);
                assert_eq!(rev, reversed, "reader, {a}..={b} backwards");
            }
            let guard = tree.exclusive();
            assert_eq!(folded(guard.range(a..=b)), expected, "writer, {a}..={b}");
            assert_eq!(stepped(guard.range(a..=b)), expected, "writer, {a}..={b}");
            let rev = guard.range(a..=b).rev().fold(Seen::new(), push);
            assert_eq!(rev, reversed, "writer, {a}..={b} backwards");
        }
    }
}
