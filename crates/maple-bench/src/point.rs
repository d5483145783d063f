//! Point workloads on the gapped pattern (`[16j, 16j + 9]`), for the maple tree (a range tree,
//! `MapleTree::new`), the `BTreeMap` range map, `rangemap` and `nodit`:
//!
//! - `insert_seq`, `insert_rand`: insert N entries into empty maps, ascending or shuffled;
//! - `load_hit`, `load_miss`: random lookups inside entries, and in the holes between them;
//! - `iterate`: an in-order walk over all N entries;
//! - `erase_rand`: erase every entry, in shuffled order, by an index inside it.
//!
//! Erase samples work on clones of a map built once. Small sizes work on several maps at once ([`Settings::write_entries`] entries in all), so
//! that a sample lasts milliseconds. Building, creating empty maps and dropping them are outside
//! the timed regions.

use std::hint::black_box;

use crate::Settings;
use crate::input::{
    Pattern, SEED_ORDER, ascending, erase_queries, expected_lookups, hit_queries, miss_queries,
    shuffled, value_of,
};
use crate::measure::{Cell, Sample, compare, cpu_now, mismatch, repeat_for};
use crate::peers::{BTreeRanges, Maple, Nodit, Peer, RangeMapPeer};

/// The point workloads, in table order.
pub const WORKLOADS: [&str; 6] = [
    "insert_seq",
    "insert_rand",
    "load_hit",
    "load_miss",
    "iterate",
    "erase_rand",
];

/// Inserts the entries of `pattern` numbered by `order`; false if one was refused.
#[inline]
pub fn insert_all<P: Peer>(p: &mut P, pattern: Pattern, order: &[u64]) -> bool {
    let mut ok = true;
    for &j in order {
        let (first, last) = pattern.range(j);
        ok &= p.insert(black_box(first), black_box(last), value_of(j));
    }
    ok
}

/// A map holding the entries of `pattern` numbered by `order`, inserted in that order.
pub fn build<P: Peer>(alloc: bool, pattern: Pattern, order: &[u64]) -> P {
    let mut p = P::empty(alloc);
    if !insert_all(&mut p, pattern, order) {
        mismatch("build", &format!("{} refused a fresh range", P::NAME));
    }
    p
}

/// Looks up every query; returns the number of hits and the sum of the values found.
#[inline]
pub fn lookup_all<P: Peer>(p: &mut P, queries: &[u64]) -> (u64, u64) {
    let mut hits = 0;
    let mut sum = 0;
    for &q in queries {
        if let Some(v) = black_box(p.get(black_box(q))) {
            hits += 1;
            sum += u64::from(v);
        }
    }
    (hits, sum)
}

/// Erases the entry containing each query; returns the number erased and the sum of values.
#[inline]
pub fn erase_all<P: Peer>(p: &mut P, queries: &[u64]) -> (u64, u64) {
    let mut erased = 0;
    let mut sum = 0;
    for &q in queries {
        if let Some(v) = black_box(p.erase(black_box(q))) {
            erased += 1;
            sum += u64::from(v);
        }
    }
    (erased, sum)
}

/// Times the point workloads at `n` entries.
pub fn run(settings: &Settings, n: usize, progress: &mut dyn FnMut(&str)) -> Vec<Cell> {
    let rounds = settings.rounds(n);
    let copies = (settings.write_entries / n).max(1);
    let seq = ascending(n);
    let rand = shuffled(n, SEED_ORDER);
    let n64 = n as u64;
    let full = (n64, (0..n64).map(|j| u64::from(value_of(j))).sum::<u64>());
    let copies64 = copies as u64;
    let mut cells = Vec::new();

    for (workload, order) in [("insert_seq", &seq), ("insert_rand", &rand)] {
        progress(&format!("{workload} n={n}"));
        let expected = (full.0 * copies64, full.1 * copies64);
        let mut c = typed_contenders!(|P| move || sample_insert::<P>(order, copies));
        cells.push(compare(
            "point",
            workload,
            n64,
            rounds,
            Some(expected),
            &mut c,
        ));
    }

    progress(&format!("building the maps for the lookups, n={n}"));
    let mut built = quartet!(|P| build::<P>(false, Pattern::Gapped, &seq));
    let batch = settings.lookup_batch;
    let hits = hit_queries(Pattern::Gapped, n, batch);
    let misses = miss_queries(n, batch);
    for (workload, queries) in [("load_hit", &hits), ("load_miss", &misses)] {
        progress(&format!("{workload} n={n}"));
        let expected = expected_lookups(Pattern::Gapped, n, queries);
        let ops = queries.len() as u64;
        let time = settings.read_time;
        let mut c = contenders!(built, |p| move || repeat_for(time, ops, || lookup_all(
            p, queries
        )));
        cells.push(compare(
            "point",
            workload,
            n64,
            rounds,
            Some(expected),
            &mut c,
        ));
    }
    progress(&format!("iterate n={n}"));
    let time = settings.read_time;
    let mut c = contenders!(built, |p| move || repeat_for(time, n64, || p
        .count_and_sum()));
    cells.push(compare("point", "iterate", n64, rounds, Some(full), &mut c));
    drop(c);
    drop(built);

    progress(&format!("erase_rand n={n}"));
    let queries = erase_queries(Pattern::Gapped, n);
    let expected = (full.0 * copies64, full.1 * copies64);
    let mut c = typed_contenders!(|P| {
        let queries = &queries;
        let template = build::<P>(false, Pattern::Gapped, &seq);
        move || sample_erase::<P>(&template, queries, copies)
    });
    cells.push(compare(
        "point",
        "erase_rand",
        n64,
        rounds,
        Some(expected),
        &mut c,
    ));
    cells
}

/// Inserts the gapped entries numbered by `order` into `copies` empty maps; only the inserts
/// are timed. The check is the entries and the sum of values the maps hold afterwards.
fn sample_insert<P: Peer>(order: &[u64], copies: usize) -> Sample {
    let mut all: Vec<P> = (0..copies).map(|_| P::empty(false)).collect();
    let start = cpu_now();
    let mut ok = true;
    for p in &mut all {
        ok &= insert_all(p, Pattern::Gapped, order);
    }
    let elapsed = cpu_now().saturating_sub(start);
    let check = all.iter_mut().fold((0, 0), |(n, s), p| {
        let (pn, ps) = p.count_and_sum();
        (n + pn, s + ps)
    });
    drop(black_box(all));
    Sample {
        elapsed,
        ops: (copies * order.len()) as u64,
        check: if ok { check } else { (0, 0) },
    }
}

/// Erases by `queries` from `copies` clones of `template`; only the erases are timed. The check
/// is the number erased and the sum of their values, or zeros if a map is not empty afterwards.
fn sample_erase<P: Peer>(template: &P, queries: &[u64], copies: usize) -> Sample {
    let mut all: Vec<P> = (0..copies).map(|_| template.clone()).collect();
    let mut total = (0, 0);
    let start = cpu_now();
    for p in &mut all {
        let (n, sum) = erase_all(p, queries);
        total = (total.0 + n, total.1 + sum);
    }
    let elapsed = cpu_now().saturating_sub(start);
    let empty = all.iter_mut().all(|p| p.count_and_sum().0 == 0);
    drop(black_box(all));
    Sample {
        elapsed,
        ops: (copies * queries.len()) as u64,
        check: if empty { total } else { (0, 0) },
    }
}

/// One map of every range-map peer.
#[derive(Debug)]
pub struct Quartet {
    /// Ours.
    pub maple: Maple,
    /// The `BTreeMap` range map.
    pub btree: BTreeRanges,
    /// `rangemap`.
    pub rangemap: RangeMapPeer,
    /// `nodit`.
    pub nodit: Nodit,
}
