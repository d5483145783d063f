//! From a trace to a kernel test case: the maple-tree operations behind an address space
//! (`maple export`).
//!
//! The replay runs the trace through [`maple_mm`], whose VMA code writes its tree the way
//! Linux's does: a store of a VMA's range when a VMA is made, moved or resized, a NULL store
//! where memory is unmapped. [`export_reader`] records those writes for one address space,
//! step by step (the writes that copy the kernel's layout where the model is re-synchronised
//! included, so that the tree follows the trace), and checks them: applied to a fresh
//! [`MapleTree`], they give the trace's VMA ranges at every snapshot of the space.
//!
//! [`Export::erase2`] writes them as an array of the kernel's maple-tree test suite
//! (`tools/testing/radix-tree/maple.c`, replayed by `check_erase2_testset()`): `STORE`, `SNULL`
//! triplets with inclusive ranges in decimal, ready to paste; [`Export::script`] writes a
//! `maple script` (`S first last`, `N first last`, then `C` to check the tree).
//!
//! ```
//! use maple_trace::parse::Reader;
//! use maple_trace::format::SpaceId;
//! use maple_trace::replay::export::{export_reader, ExportOptions};
//!
//! let text = "#mapletrace 2\nN 1 t1 demo\nS 1 1\n\
//!     v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
//!     m 1 t1 0 3000 rw- pa - 0 7f0000000000\n\
//!     D 1 1\nw 7f0000000000 7f0000003000 1\nv 7f0000000000 7f0000003000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
//!     u 1 t1 7f0000001000 1000 0\n\
//!     D 1 1\nw 7f0000000000 7f0000003000 2\n\
//!     v 7f0000000000 7f0000001000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
//!     v 7f0000002000 7f0000003000 rw-p 0 - rd,wr,mr,mw,me,ac\nX 1\n";
//! let export = export_reader(Reader::new(text.as_bytes())?, &ExportOptions::new(SpaceId(1)))?;
//! assert_eq!(export.checked, 3);
//! let set = export.erase2("set_demo");
//! assert!(set.contains("STORE, 139637976727552, 139637976739839,"));
//! assert!(set.contains("SNULL, 139637976731648, 139637976735743,"));
//! assert!(export.script().ends_with("C\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;
use std::num::NonZeroU64;
use std::rc::Rc;

use maple_mm::{IndexEntry, IndexWrite, MapleIndex, VmaIndex, WritePlan};
use maple_tree::{MapleTree, OutOfMemory};

use super::{Engine, ReplayError, ReplayOptions, Replayer, TreeFigures, TreeStats, streamed};
use crate::format::SpaceId;
use crate::parse::Reader;

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// The address space.
    pub space: SpaceId,
    /// The first step to export (counting from 1, as `maple replay` does): the tree's content
    /// before it is written first, as stores.
    pub from: u64,
    /// The last step to export (the end of the space if `None`).
    pub to: Option<u64>,
}

impl ExportOptions {
    /// Every step of `space`.
    pub fn new(space: SpaceId) -> ExportOptions {
        ExportOptions {
            space,
            from: 1,
            to: None,
        }
    }
}

/// One write to the tree: a store of a VMA over `[first, last]` or a NULL store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeOp {
    /// A VMA stored over `[first, last]` (inclusive).
    Store {
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
    },
    /// `[first, last]` emptied.
    Null {
        /// First index.
        first: u64,
        /// Last index.
        last: u64,
    },
}

/// The exported operations of one address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The address space.
    pub space: SpaceId,
    /// The operations, each with the step that made it (0 for the content before `from`).
    pub ops: Vec<(u64, TreeOp)>,
    /// Snapshots of the space at which the exported operations gave the trace's layout.
    pub checked: u64,
    /// The steps exported.
    pub steps: (u64, u64),
}

/// Why an export failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportError {
    /// The replay stopped.
    Replay(ReplayError),
    /// The space never existed in the steps asked for.
    NoSuchSpace(SpaceId),
    /// The exported operations did not give the trace's layout (a bug of the export).
    Check {
        /// The step.
        step: u64,
        /// What differed.
        detail: String,
    },
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::Replay(e) => write!(f, "{e}"),
            ExportError::NoSuchSpace(space) => {
                write!(
                    f,
                    "address space {space} has no step in the range asked for"
                )
            }
            ExportError::Check { step, detail } => write!(
                f,
                "step {step}: the exported operations do not give the trace's layout: {detail}"
            ),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<ReplayError> for ExportError {
    fn from(e: ReplayError) -> Self {
        ExportError::Replay(e)
    }
}

thread_local! {
    /// The log the indexes of the running export write to (see [`Logged`]).
    static LOG: RefCell<Option<Log>> = const { RefCell::new(None) };
}

/// Writes of every index made during an export, tagged with the index that made them.
type Log = Rc<RefCell<LogInner>>;

#[derive(Debug, Default)]
struct LogInner {
    next_id: u64,
    writes: Vec<(u64, IndexWrite)>,
}

/// A [`MapleIndex`] that logs its writes (only while an export runs on this thread).
#[derive(Debug)]
struct Logged {
    inner: MapleIndex,
    id: u64,
    log: Option<Log>,
}

impl Logged {
    fn with(inner: MapleIndex) -> Logged {
        let log = LOG.with(|l| l.borrow().clone());
        let id = log.as_ref().map_or(0, |log| {
            let mut log = log.borrow_mut();
            log.next_id += 1;
            log.next_id
        });
        Logged { inner, id, log }
    }
}

impl VmaIndex for Logged {
    fn new() -> Self {
        Logged::with(MapleIndex::new())
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn lookup(&self, addr: u64) -> Option<IndexEntry> {
        self.inner.lookup(addr)
    }

    fn find(&self, addr: u64, limit: u64) -> Option<IndexEntry> {
        self.inner.find(addr, limit)
    }

    fn find_rev(&self, addr: u64, min: u64) -> Option<IndexEntry> {
        self.inner.find_rev(addr, min)
    }

    fn collect(&self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        self.inner.collect(start, end, out);
    }

    fn neighbourhood(&mut self, start: u64, end: u64, out: &mut Vec<IndexEntry>) {
        self.inner.neighbourhood(start, end, out);
    }

    fn gap(&self, min: u64, max: u64, size: u64, top_down: bool) -> Option<u64> {
        self.inner.gap(min, max, size, top_down)
    }

    fn apply(&mut self, writes: &[IndexWrite], plan: WritePlan) -> Result<(), OutOfMemory> {
        self.inner.apply(writes, plan)?;
        if let Some(log) = &self.log {
            let mut log = log.borrow_mut();
            let id = self.id;
            log.writes
                .extend(writes.iter().filter(|w| w.start < w.end).map(|&w| (id, w)));
        }
        Ok(())
    }

    fn try_clone(&self) -> Result<Self, OutOfMemory> {
        Ok(Logged::with(self.inner.try_clone()?))
    }

    fn check(&self) -> Result<(), String> {
        self.inner.check()
    }
}

impl TreeStats for Logged {
    fn figures(&self, vmas: usize) -> Option<TreeFigures> {
        self.inner.figures(vmas)
    }
}

/// The tree the exported operations build, and whether it matches the trace. Each store's
/// value is its first index, as in the kernel's tests.
struct Check {
    tree: MapleTree<NonZeroU64>,
}

impl Check {
    fn apply(&mut self, op: TreeOp) -> Result<(), String> {
        match op {
            TreeOp::Store { first, last } => self
                .tree
                .store_range(
                    first..=last,
                    NonZeroU64::new(first).unwrap_or(NonZeroU64::MIN),
                )
                .map_err(|_| "the tree refused a store".to_owned()),
            TreeOp::Null { first, last } => self
                .tree
                .clear_range(first..=last)
                .map_err(|_| "the tree refused a NULL store".to_owned()),
        }
    }

    /// The stored ranges, `[start, end)`.
    fn ranges(&self) -> Vec<(u64, u64)> {
        let guard = self.tree.read();
        guard
            .iter()
            .map(|(range, _)| (range.first(), range.last().saturating_add(1)))
            .collect()
    }
}

/// Replays a trace as it is read and exports the tree operations of one of its address
/// spaces (see the module docs).
///
/// # Errors
/// [`ExportError::Replay`] when the trace cannot be read or replayed,
/// [`ExportError::NoSuchSpace`] when the space has no step in the range,
/// [`ExportError::Check`] if the operations do not give the trace's layout.
pub fn export_reader<'r, R: std::io::BufRead + 'r>(
    reader: Reader<R>,
    options: &ExportOptions,
) -> Result<Export, ExportError> {
    let log: Log = Rc::default();
    LOG.with(|l| *l.borrow_mut() = Some(Rc::clone(&log)));
    let result = run(reader, options, &log);
    LOG.with(|l| *l.borrow_mut() = None);
    result
}

fn run<'r, R: std::io::BufRead + 'r>(
    reader: Reader<R>,
    options: &ExportOptions,
    log: &Log,
) -> Result<Export, ExportError> {
    let header = reader.header().clone();
    let replay_options = ReplayOptions {
        check: true,
        engine: Engine::Maple,
    };
    let mut replayer = Replayer::<Logged>::new(streamed(reader), &header, &replay_options);
    let mut check = Check {
        tree: MapleTree::new_alloc(),
    };
    let mut export = Export {
        space: options.space,
        ops: Vec::new(),
        checked: 0,
        steps: (0, 0),
    };
    let mut index_id = None;
    let mut started = false;
    let mut error = None;
    let stop = options.to;
    let mut after = |r: &Replayer<'_, Logged>, done: Option<(SpaceId, bool)>| {
        let Some((space, snapshot)) = done.filter(|(s, _)| *s == options.space) else {
            return;
        };
        let step = r.report.steps;
        let writes = std::mem::take(&mut log.borrow_mut().writes);
        if step >= options.from && !started {
            // The content of the tree before the first exported step, as stores.
            started = true;
            export.steps.0 = step;
            for (first, end) in check.ranges() {
                export.ops.push((
                    0,
                    TreeOp::Store {
                        first,
                        last: end - 1,
                    },
                ));
            }
        }
        let mut ops = Vec::new();
        // The index of the space is new at exec and fork. A fork copies the parent's tree
        // (Linux: `__mt_dup()`), which writes nothing: its entries are stored here.
        if let Some(s) = r.spaces.get(&space)
            && index_id != Some(s.mm.index().id)
        {
            index_id = Some(s.mm.index().id);
            ops.extend(s.mm.iter().map(|v| TreeOp::Store {
                first: v.start(),
                last: v.end() - 1,
            }));
        }
        ops.extend(
            writes
                .into_iter()
                .filter(|(id, _)| Some(*id) == index_id)
                .map(|(_, write)| match write.id {
                    Some(_) => TreeOp::Store {
                        first: write.start,
                        last: write.end - 1,
                    },
                    None => TreeOp::Null {
                        first: write.start,
                        last: write.end - 1,
                    },
                }),
        );
        for op in ops {
            if let Err(detail) = check.apply(op) {
                error.get_or_insert(ExportError::Check { step, detail });
            }
            if started {
                export.ops.push((step, op));
            }
        }
        export.steps.1 = step;
        if snapshot && let Some(s) = r.spaces.get(&space) {
            let top = r.config.task_size + 0x1000;
            let kernel: Vec<(u64, u64)> = s
                .kernel
                .all()
                .into_iter()
                .filter(|v| v.end <= top)
                .map(|v| (v.start, v.end))
                .collect();
            let tree = check.ranges();
            if tree != kernel {
                let at = tree.iter().zip(&kernel).find(|(a, b)| a != b).map_or_else(
                    || format!("{} ranges against {}", tree.len(), kernel.len()),
                    |(a, b)| format!("{:#x}-{:#x} against {:#x}-{:#x}", a.0, a.1, b.0, b.1),
                );
                error.get_or_insert(ExportError::Check { step, detail: at });
            } else {
                export.checked += 1;
            }
        }
    };
    replayer.walk_with(stop, &mut |_| {}, &mut after)?;
    if let Some(error) = error {
        return Err(error);
    }
    if !started {
        return Err(ExportError::NoSuchSpace(options.space));
    }
    if let Err(e) = check.tree.check_invariants() {
        return Err(ExportError::Check {
            step: export.steps.1,
            detail: e.to_string(),
        });
    }
    Ok(export)
}

impl Export {
    /// The operations as an array of the kernel's maple-tree tests (`STORE`/`SNULL`, first,
    /// last; decimal, inclusive), named `name`.
    pub fn erase2(&self, name: &str) -> String {
        let mut out = format!(
            "/* maple export: address space {}, steps {}-{}, {} operations; checked against \
             {} snapshots of the trace. */\nstatic const unsigned long {name}[] = {{\n",
            self.space,
            self.steps.0,
            self.steps.1,
            self.ops.len(),
            self.checked
        );
        for (_, op) in &self.ops {
            let (kind, first, last) = match *op {
                TreeOp::Store { first, last } => ("STORE", first, last),
                TreeOp::Null { first, last } => ("SNULL", first, last),
            };
            let _ = writeln!(out, "{kind}, {first}, {last},");
        }
        out.push_str("};\n");
        out
    }

    /// The operations as a `maple script` (allocation tree; `S`, `N`, a comment before each
    /// step's operations, and `C` at the end).
    pub fn script(&self) -> String {
        let mut out = format!(
            "# maple export: address space {}, steps {}-{}, {} operations\ntree alloc\n",
            self.space,
            self.steps.0,
            self.steps.1,
            self.ops.len()
        );
        let mut step = None;
        for &(at, op) in &self.ops {
            if step != Some(at) {
                step = Some(at);
                if at == 0 {
                    out.push_str("# the tree before the first step\n");
                } else {
                    let _ = writeln!(out, "# step {at}");
                }
            }
            let _ = match op {
                TreeOp::Store { first, last } => writeln!(out, "S {first:#x} {last:#x}"),
                TreeOp::Null { first, last } => writeln!(out, "N {first:#x} {last:#x}"),
            };
        }
        out.push_str("C\n");
        out
    }
}
