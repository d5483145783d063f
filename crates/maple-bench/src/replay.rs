//! Replays of the Linux kernel's own maple-tree activity, captured with ftrace while real
//! programs ran (`testdata/kernel-ftrace/*.mt.xz`, format `mapletrace 1`; see that folder's
//! README).
//!
//! Every record becomes an operation on a peer: `T` creates an allocation map and `D` drops it,
//! `S` stores a value (or NULL, for value id 0) and `Z` stores NULL over a range, `R` looks up an
//! index, and `Q` is the kernel's `vm_unmapped_area()` search, reproduced with the peer's gap
//! search (a fit of `len + mask` in `[lo, hi - 1]`, lowest or highest, then aligned by the
//! kernel's rule). Every `Q` answer must equal the kernel's; `P` records (internal operations
//! the kernel traced) are skipped. A sample replays the whole capture, and the time per
//! operation is the sample's time over the capture's operations; the trees still alive at the
//! end are dropped outside the timed region.

use std::collections::HashMap;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::Settings;
use crate::measure::{Cell, compare, cpu_now, mismatch, repeat_timed_for};
use crate::peers::{BTreeRanges, Maple, Nodit, Peer, RangeMapPeer, normalize};

/// A tree's entries `(first, last, value)`, ascending, touching equal values merged.
pub type Contents = Vec<(u64, u64, u32)>;

/// One replayed operation; trees are numbered densely from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayOp {
    /// A new, empty tree.
    New(usize),
    /// The tree is destroyed.
    Drop(usize),
    /// Store a value over `[first, last]`.
    Store(usize, u64, u64, u32),
    /// Store NULL over `[first, last]`.
    Clear(usize, u64, u64),
    /// Look up an index.
    Read(usize, u64),
    /// The kernel's gap search and the address it returned.
    Query(usize, Query),
}

/// A `Q` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// Bytes wanted.
    pub len: u64,
    /// Lowest address allowed.
    pub lo: u64,
    /// One past the highest address allowed.
    pub hi: u64,
    /// Alignment mask.
    pub mask: u64,
    /// Alignment offset.
    pub ofs: u64,
    /// Highest fit instead of lowest.
    pub top_down: bool,
    /// The kernel's answer (`None` for `!ERR`).
    pub result: Option<u64>,
}

impl Query {
    /// What `vm_unmapped_area()` returns on `p`, computed with its gap search.
    #[inline]
    pub fn answer<P: Peer>(&self, p: &mut P) -> Option<u64> {
        let size = self.len.checked_add(self.mask)?;
        let max = self.hi.checked_sub(1)?;
        let start = p.find_gap(size, self.lo, max, self.top_down)?;
        if self.top_down {
            let gap_end = start + size - 1;
            let x = gap_end + 1 - self.len;
            Some(x - (x.wrapping_sub(self.ofs) & self.mask))
        } else {
            Some(start + (self.ofs.wrapping_sub(start) & self.mask))
        }
    }
}

/// A parsed capture.
#[derive(Clone, Debug)]
pub struct Capture {
    /// The file name without `.mt.xz`.
    pub name: String,
    /// The operations, in order.
    pub ops: Vec<ReplayOp>,
    /// Number of trees.
    pub trees: usize,
}

/// The captures (`*.mt` or `*.mt.xz`) in `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Capture>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read the capture folder {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".mt") || name.ends_with(".mt.xz")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no captures (*.mt.xz) in {}", dir.display()));
    }
    files.iter().map(|f| load(f)).collect()
}

/// Reads and parses one capture.
pub fn load(path: &Path) -> Result<Capture, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let text = if file.ends_with(".xz") {
        let mut text = String::new();
        xz2::read::XzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        text
    } else {
        String::from_utf8(bytes).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let name = file
        .trim_end_matches(".xz")
        .trim_end_matches(".mt")
        .to_owned();
    parse(&name, &text)
}

/// Parses the text of a capture.
pub fn parse(name: &str, text: &str) -> Result<Capture, String> {
    let mut trees: HashMap<u64, usize> = HashMap::new();
    let mut count = 0;
    let mut values: HashMap<u64, u32> = HashMap::new();
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("{name} line {}: {what}: {line}", i + 1);
        let f: Vec<&str> = line.split_whitespace().collect();
        let hex = |k: usize| {
            f.get(k)
                .and_then(|x| u64::from_str_radix(x, 16).ok())
                .ok_or_else(|| bad("bad field"))
        };
        let id = hex(1)?;
        let tree = |trees: &HashMap<u64, usize>| {
            trees.get(&id).copied().ok_or_else(|| bad("no such tree"))
        };
        let op = match f[0] {
            "T" => {
                trees.insert(id, count);
                count += 1;
                ReplayOp::New(count - 1)
            }
            "D" => {
                let t = tree(&trees)?;
                trees.remove(&id);
                ReplayOp::Drop(t)
            }
            "S" | "Z" => {
                let t = tree(&trees)?;
                let (first, last) = (hex(2)?, hex(3)?);
                let value = if f[0] == "S" {
                    f.get(4)
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| bad("bad value id"))?
                } else {
                    0
                };
                if value == 0 {
                    ReplayOp::Clear(t, first, last)
                } else {
                    let next =
                        u32::try_from(values.len() + 1).map_err(|_| bad("too many values"))?;
                    ReplayOp::Store(t, first, last, *values.entry(value).or_insert(next))
                }
            }
            "R" => ReplayOp::Read(tree(&trees)?, hex(2)?),
            "P" => continue,
            "Q" => {
                let t = tree(&trees)?;
                let result = match f.get(8) {
                    Some(&"!ERR") => None,
                    Some(_) => Some(hex(8)?),
                    None => return Err(bad("missing result")),
                };
                ReplayOp::Query(
                    t,
                    Query {
                        len: hex(2)?,
                        lo: hex(3)?,
                        hi: hex(4)?,
                        mask: hex(5)?,
                        ofs: hex(6)?,
                        top_down: hex(7)? & 1 == 1,
                        result,
                    },
                )
            }
            _ => return Err(bad("unknown record")),
        };
        ops.push(op);
    }
    Ok(Capture {
        name: name.to_owned(),
        ops,
        trees: count,
    })
}

/// The trees a replay leaves alive at the end of its capture; dropping them is not part of
/// the capture's operations, so the caller does it outside what it measures.
pub type Leftover<P> = Vec<Option<P>>;

/// Replays `capture` on peers of type `P`; returns the number of reads that found a value
/// plus the number of gap queries, and the sum of the values read plus the query answers, and
/// the trees still alive. Ends the program if a query's answer differs from the kernel's. With
/// `snapshots`, it also collects every tree's contents (touching equal values merged) when it
/// is destroyed or at the end.
#[inline]
pub fn replay<P: Peer>(
    capture: &Capture,
    mut snapshots: Option<&mut Vec<Contents>>,
) -> ((u64, u64), Leftover<P>) {
    let mut trees: Vec<Option<P>> = (0..capture.trees).map(|_| None).collect();
    let mut found = 0u64;
    let mut sum = 0u64;
    for &op in &capture.ops {
        match op {
            ReplayOp::New(t) => trees[t] = Some(P::empty(true)),
            ReplayOp::Drop(t) => {
                if let Some(mut p) = trees[t].take()
                    && let Some(s) = snapshots.as_deref_mut()
                {
                    s.push(normalize(p.entries()));
                }
            }
            ReplayOp::Store(t, first, last, value) => {
                tree_mut(&mut trees, t).store(first, last, value);
            }
            ReplayOp::Clear(t, first, last) => tree_mut(&mut trees, t).clear(first, last),
            ReplayOp::Read(t, index) => {
                if let Some(v) = tree_mut(&mut trees, t).get(index) {
                    found += 1;
                    sum = sum.wrapping_add(u64::from(v));
                }
            }
            ReplayOp::Query(t, q) => {
                let got = q.answer(tree_mut(&mut trees, t));
                if got != q.result {
                    mismatch(
                        &format!("replay of {}", capture.name),
                        &format!(
                            "{} answered {got:x?} to {q:x?}, the kernel {:x?}",
                            P::NAME,
                            q.result
                        ),
                    );
                }
                found += 1;
                sum = sum.wrapping_add(got.unwrap_or(0));
            }
        }
    }
    if let Some(s) = snapshots {
        for p in trees.iter_mut().flatten() {
            s.push(normalize(p.entries()));
        }
    }
    ((found, sum), trees)
}

/// Tree `t`, made empty if the capture used it before creating it.
#[inline]
fn tree_mut<P: Peer>(trees: &mut [Option<P>], t: usize) -> &mut P {
    trees[t].get_or_insert_with(|| P::empty(true))
}

/// The contents of every tree of `capture` when destroyed (or at the end), replayed on `P`.
pub fn snapshots<P: Peer>(capture: &Capture) -> Vec<Contents> {
    let mut s = Vec::new();
    replay::<P>(capture, Some(&mut s));
    s
}

/// Times the replay of every capture in the settings' folder.
pub fn run(settings: &Settings, progress: &mut dyn FnMut(&str)) -> Result<Vec<Cell>, String> {
    let captures = load_dir(&settings.traces)?;
    let mut cells = Vec::new();
    for capture in &captures {
        progress(&format!("replay of {}", capture.name));
        let want = snapshots::<Maple>(capture);
        for (name, got) in [
            (BTreeRanges::NAME, snapshots::<BTreeRanges>(capture)),
            (RangeMapPeer::NAME, snapshots::<RangeMapPeer>(capture)),
            (Nodit::NAME, snapshots::<Nodit>(capture)),
        ] {
            if got != want {
                mismatch(
                    &format!("replay of {}", capture.name),
                    &format!("{name}'s trees differ from the maple tree's"),
                );
            }
        }
        let ops = capture.ops.len() as u64;
        let time = settings.read_time;
        let mut c = typed_contenders!(|P| move || repeat_timed_for(time, ops, || {
            let start = cpu_now();
            let (check, leftover) = replay::<P>(capture, None);
            let elapsed = cpu_now().saturating_sub(start);
            drop(black_box(leftover));
            (elapsed, check)
        }));
        cells.push(compare(
            "replay",
            &format!("replay_{}", capture.name),
            ops,
            settings.rounds_small,
            None,
            &mut c,
        ));
    }
    Ok(cells)
}
