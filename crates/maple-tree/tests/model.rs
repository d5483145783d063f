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
                    w.store_range(first, last, value).unwrap();
                    model.store(first, last, Some(u64::from(value)));
                }
                40..=54 => {
                    desc = format!("insert {first} {last} {value}");
                    let ok = w.insert_range(first, last, value).is_ok();
                    assert_eq!(ok, model.is_vacant(first, last), "{desc}");
                    if ok {
                        model.store(first, last, Some(u64::from(value)));
                    }
                }
                55..=69 => {
                    desc = format!("clear {first} {last}");
                    w.clear_range(first, last).unwrap();
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
                    let mut req = GapRequest::new(size, min..=max);
                    if rev {
                        req = req.top_down();
                    }
                    let expect = if alloc {
                        model.find_gap(min, max, size, 1, rev)
                    } else {
                        None
                    };
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
        let got: Vec<_> = common::tree_entries(&tree, value_of);
        assert!(
            got == model.entries(),
            "seed {seed} step {step} after {desc}: entries differ\ntree:  {got:?}\nmodel: {:?}\n{}",
            model.entries(),
            tree.dump(maple_tree::DumpFormat::Dec)
        );
        peak = (peak.0.max(tree.len()), peak.1.max(tree.height()));
        // Reads and searches.
        let guard = tree.read();
        for _ in 0..4 {
            let i = index(&mut rng, universe);
            let got = guard
                .get_range(i)
                .map(|(r, v)| (r.first(), r.last(), value_of(v)));
            assert_eq!(got, model.get(i), "get {i} after {desc}");
            let j = index(&mut rng, universe);
            let got = guard
                .find(i, j)
                .map(|(r, v)| (r.first(), r.last(), value_of(v)));
            assert_eq!(got, model.find(i, j), "find {i} {j} after {desc}");
            let got = guard
                .find_rev(i, j)
                .map(|(r, v)| (r.first(), r.last(), value_of(v)));
            assert_eq!(got, model.find_rev(i, j), "find_rev {i} {j} after {desc}");
            if alloc {
                let size = 1 + rng.below(16);
                let align = 1 << rng.below(4);
                let (lo, hi) = (i.min(j), i.max(j));
                for rev in [false, true] {
                    let mut req = GapRequest::new(size, lo..=hi).align(align);
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

#[test]
fn random_ops_range_tree_rcu_mode() {
    for seed in 0..20 {
        run(seed, 2000, 600, false, false);
    }
}

#[test]
fn random_ops_alloc_tree_exclusive_mode() {
    for seed in 100..120 {
        run(seed, 2000, 600, true, true);
    }
}

#[test]
fn random_ops_big_universe() {
    for seed in 200..204 {
        run(seed, 20000, 200_000, seed % 2 == 0, seed % 4 < 2);
    }
}
