//! Replaying a trace through [`maple_mm`] and checking every step against the kernel.
//!
//! Each address space of the trace becomes an [`AddressSpace`]. Its layout starts as the
//! snapshot exec left (the VMAs exec builds, such as the program, the loader, the stack and
//! the vDSO, come from no system call the program made), then every operation is applied
//! with the arguments the program passed. Where the kernel chose an address (an `mmap` hint,
//! an `mremap` that moved), the model maps at the address the kernel returned.
//!
//! With [`ReplayOptions::check`], the model's layout is compared with the kernel's at every
//! snapshot: start, end, flags (the `VmFlags` the model keeps), file and offset of every VMA.
//! A step matches when its call returned what the kernel returned and the next comparison of
//! its address space finds no unexplained difference. A difference is *explained* when kernel
//! state that no system call shows accounts for it: a stack that grew on page faults, VMAs
//! kept apart by their anon_vmas (which exist only once a page was touched), two opens of a
//! file, a file's `mmap` hook or `noexec` mount (learned for that file from then on), a
//! mapping the kernel made itself, or a call the model does not implement. Explained
//! differences are copied from the snapshot and counted by kind ([`Resync`]); nothing is
//! hidden. Anything else is a divergence ([`Mismatch`]); the first is kept with the VMAs of
//! both sides around it, the model is copied from the kernel there, and the replay goes on.
//!
//! In a space with one thread every operation is checked against the layout right after it
//! (an unchanged layout has no new snapshot). With several threads, the capture may take a
//! snapshot only once all of their calls in flight have returned; a step there is judged at
//! the next snapshot of its space. Threads also make calls at once, and the capture records
//! them in the order it saw them return: where the kernel's results prove another order (an
//! `mmap` got an address another thread's later-recorded `munmap` freed), the replay runs
//! them in the kernel's order and counts it ([`Resync::CallOrder`]). A fork while sibling
//! threads were inside calls copies the parent at an instant the capture cannot see; the
//! child's first snapshot decides ([`Resync::ForkRace`]).
//!
//! A trace records neither resource limits nor capabilities: the model locks memory without
//! a limit, and calls the kernel refused for such reasons are skipped and counted
//! ([`Report::failures_skipped`]). It does record the capturing machine's memory protection
//! keys (`#pkeys`): the model has those, whatever CPU replays.

mod compare;
pub mod export;
mod feed;
mod layout;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use maple_mm::{
    AddressSpace, AnonVma, AnonVmaId, BTreeIndex, Errno as MmErrno, File, FileId as MmFileId,
    MapFlags as MmMapFlags, MapleIndex, McFlags, MlockFlags, MremapFlags, Prot as MmProt, VmFlags,
    Vma, VmaIndex,
};

pub use compare::{Mismatch, Resync};
use compare::{Shape, Verdict, classify, compared_mask, windows};
use feed::{Feed, Item, Source};
use layout::Layout;

use crate::format::{
    DeltaWindow, Errno, FileId, Header, MapFlags, Op, OpenMode, OtherCall, Record, RemapFlags,
    SnapshotVma, SpaceId, SysResult, ThreadId, Trace,
};
use crate::parse::Reader;

/// The VMA index the address spaces use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// [`maple_mm::MapleIndex`]: the maple tree, as Linux.
    #[default]
    Maple,
    /// [`maple_mm::BTreeIndex`]: the standard library's `BTreeMap`, for comparison.
    BTree,
}

impl Engine {
    /// The name used on the command line (`maple`, `btree`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Maple => "maple",
            Engine::BTree => "btree",
        }
    }
}

/// How to replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    /// Compare with every kernel snapshot (ignored for a trace without snapshots, which
    /// replays unchecked: [`Report::checked`] tells).
    pub check: bool,
    /// The VMA index.
    pub engine: Engine,
}

/// The first divergence of a replay, with the VMAs of both sides around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The step (operation, counting from 1) after which it was found.
    pub step: u64,
    /// The address space.
    pub space: SpaceId,
    /// The operation, as the trace writes it.
    pub op: String,
    /// What differs.
    pub kind: Mismatch,
    /// Detail: the results, or the address range of the difference.
    pub detail: String,
    /// The model's VMAs around the difference (`/proc`-like lines).
    pub ours: Vec<String>,
    /// The kernel's VMAs around the difference.
    pub kernel: Vec<String>,
}

/// The shape of the tree of the largest address space, when it was largest.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TreeFigures {
    /// VMAs then.
    pub vmas: usize,
    /// Tree height.
    pub height: usize,
    /// Tree nodes.
    pub nodes: usize,
    /// Bytes of tree nodes per VMA.
    pub bytes_per_vma: f64,
}

/// What a replay found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The engine used.
    pub engine: Engine,
    /// Whether snapshots were compared.
    pub checked: bool,
    /// Operations replayed (exec, fork and exit included).
    pub steps: u64,
    /// Steps a comparison with the kernel's layout judged right: the call returned what the
    /// kernel returned and the next comparison of its space found no unexplained difference.
    /// 0 when not checking.
    pub steps_matching: u64,
    /// Steps no comparison judged: every step when not checking; when checking, the calls of
    /// a space with several threads made after its last snapshot (a trace captured before
    /// captures took a snapshot at each process's exit, or a space that never ended), and
    /// that space's exit. Never counted as matching.
    pub steps_unchecked: u64,
    /// Steps judged at a later snapshot because other threads' calls were in flight.
    pub steps_judged_late: u64,
    /// Snapshots compared.
    pub comparisons: u64,
    /// Operations by name.
    pub ops: BTreeMap<&'static str, u64>,
    /// Failed calls the model failed alike, by error.
    pub failures_reproduced: BTreeMap<String, u64>,
    /// Failed calls not replayed because they depend on state the model does not hold (file
    /// modes, descriptors, resource limits, signals), by error.
    pub failures_skipped: BTreeMap<String, u64>,
    /// Explained differences copied from the kernel, by kind.
    pub resyncs: BTreeMap<&'static str, u64>,
    /// Divergences, by kind.
    pub divergences: BTreeMap<&'static str, u64>,
    /// The first divergence.
    pub first_divergence: Option<Divergence>,
    /// Address spaces.
    pub spaces: u64,
    /// The largest VMA count of any space.
    pub peak_vmas: usize,
    /// The tree at that peak (maple engine only).
    pub peak_tree: Option<TreeFigures>,
    /// Time spent in the model's operations.
    pub model_time: Duration,
    /// Time of the whole replay, reading and comparisons included.
    pub elapsed: Duration,
    /// The capture was stopped before the program ended (`E cut-short`): the trace holds
    /// what was recorded until then.
    pub cut_short: bool,
}

impl Report {
    /// Operations per second of the model alone.
    pub fn ops_per_sec(&self) -> f64 {
        self.steps as f64 / self.model_time.as_secs_f64().max(1e-9)
    }

    /// Whether every step was checked and matched.
    pub fn all_match(&self) -> bool {
        self.steps_matching == self.steps
    }

    /// Steps found wrong: checked, and not matching.
    pub fn steps_wrong(&self) -> u64 {
        self.steps - self.steps_matching - self.steps_unchecked
    }
}

/// Why a replay could not go on: the model refused to copy the kernel's layout, or the
/// trace could not be read on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayError {
    /// The step.
    pub step: u64,
    /// The line of the record, when the trace was read from a file.
    pub line: Option<usize>,
    /// What failed.
    pub reason: String,
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line} (step {}): {}", self.step, self.reason),
            None => write!(f, "step {}: {}", self.step, self.reason),
        }
    }
}

impl std::error::Error for ReplayError {}

/// Replays `trace`, calling `progress(done, total)` now and then with counts of records.
///
/// # Errors
/// [`ReplayError`] if the model cannot take the kernel's layout (a snapshot the model's
/// rules reject outright).
///
/// # Examples
/// ```
/// use maple_trace::replay::{replay, ReplayOptions};
///
/// let text = "#mapletrace 1\nN 1 t1 demo\n\
///     S 1 1\nv 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
///     m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
///     S 1 2\nv 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
///     v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
///     X 1\n";
/// let trace = maple_trace::parse(text.as_bytes())?;
/// let report = replay(&trace, &ReplayOptions { check: true, ..Default::default() }, &mut |_, _| {})?;
/// assert_eq!(report.steps, 3);
/// assert!(report.all_match());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay(
    trace: &Trace,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, ReplayError> {
    let total = trace.records.len();
    replay_source(borrowed(trace), &trace.header, options, &mut |done| {
        progress(done, total);
    })
}

/// Replays a trace as it is read ([`crate::io::open`]), calling `progress(records)` now and
/// then with the records read so far: memory stays proportional to the largest address
/// space, however long the trace.
///
/// # Errors
/// A [`ReplayError`] as [`replay`] gives, or one naming the line where the trace could not
/// be read on.
///
/// # Examples
/// ```
/// use maple_trace::parse::Reader;
/// use maple_trace::replay::{replay_reader, ReplayOptions};
///
/// let text = "#mapletrace 2\nN 1 t1 demo\nS 1 1\n\
///     v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n\
///     m 1 t1 0 2000 rw- pa - 0 7f0000000000\n\
///     D 1 1\nw 7f0000000000 7f0000002000 1\nv 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac\n\
///     X 1\n";
/// let reader = Reader::new(text.as_bytes())?;
/// let options = ReplayOptions { check: true, ..Default::default() };
/// let report = replay_reader(reader, &options, &mut |_| {})?;
/// assert_eq!((report.steps, report.steps_matching), (3, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay_reader<'r, R: std::io::BufRead + 'r>(
    reader: Reader<R>,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Report, ReplayError> {
    let header = reader.header().clone();
    replay_source(streamed(reader), &header, options, progress)
}

fn replay_source(
    source: Source<'_>,
    header: &Header,
    options: &ReplayOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Report, ReplayError> {
    match options.engine {
        Engine::Maple => Replayer::<MapleIndex>::new(source, header, options).run(progress),
        Engine::BTree => Replayer::<BTreeIndex>::new(source, header, options).run(progress),
    }
}

/// The records of an in-memory trace, borrowed.
fn borrowed(trace: &Trace) -> Source<'_> {
    Box::new(trace.records.iter().map(|record| {
        Ok(Item {
            line: None,
            record: Cow::Borrowed(record),
        })
    }))
}

/// The records of a reader, owned, with their lines.
fn streamed<'r, R: std::io::BufRead + 'r>(reader: Reader<R>) -> Source<'r> {
    Box::new(reader.map(|item| {
        item.map(|(line, record)| Item {
            line: Some(line),
            record: Cow::Owned(record),
        })
    }))
}

/// The address space of a trace after step `step` (counting from 1, as the replay summary
/// does) and the snapshots that follow it, replayed with checking so that explained
/// differences are copied from the kernel. `space` picks the address space; by default, the
/// one step `step` worked on.
///
/// A trace without snapshots (an strace import) is replayed without checking: there is no
/// kernel layout to compare with, and comparing with an empty one would empty the model.
///
/// # Errors
/// A [`ReplayError`] from the replay, or one saying that the step or the space does not
/// exist (any more) at that point.
pub fn space_at_step(
    trace: &Trace,
    step: u64,
    space: Option<SpaceId>,
) -> Result<(SpaceId, AddressSpace<MapleIndex>), ReplayError> {
    space_at_step_source(borrowed(trace), &trace.header, step, space, &mut |_| {})
}

/// [`space_at_step`] on a trace as it is read, calling `progress(records)` now and then.
///
/// # Errors
/// As [`space_at_step`], and where the trace cannot be read on.
pub fn space_at_step_reader<'r, R: std::io::BufRead + 'r>(
    reader: Reader<R>,
    step: u64,
    space: Option<SpaceId>,
    progress: &mut dyn FnMut(usize),
) -> Result<(SpaceId, AddressSpace<MapleIndex>), ReplayError> {
    let header = reader.header().clone();
    space_at_step_source(streamed(reader), &header, step, space, progress)
}

fn space_at_step_source(
    source: Source<'_>,
    header: &Header,
    step: u64,
    space: Option<SpaceId>,
    progress: &mut dyn FnMut(usize),
) -> Result<(SpaceId, AddressSpace<MapleIndex>), ReplayError> {
    let options = ReplayOptions {
        check: true,
        engine: Engine::Maple,
    };
    let mut replayer = Replayer::<MapleIndex>::new(source, header, &options);
    replayer.walk(Some(step), progress)?;
    if replayer.report.steps < step {
        return Err(ReplayError {
            step,
            line: None,
            reason: format!("the trace has only {} steps", replayer.report.steps),
        });
    }
    let chosen = match space.or(replayer.step_space) {
        Some(space) => space,
        None => {
            return Err(ReplayError {
                step,
                line: None,
                reason: "no such step".to_owned(),
            });
        }
    };
    match replayer.spaces.remove(&chosen) {
        Some(s) => Ok((chosen, s.mm)),
        None => Err(ReplayError {
            step,
            line: None,
            reason: format!("address space {chosen} does not exist after this step"),
        }),
    }
}

/// The tree figures an index can give.
trait TreeStats {
    fn figures(&self, vmas: usize) -> Option<TreeFigures>;
}

impl TreeStats for MapleIndex {
    fn figures(&self, vmas: usize) -> Option<TreeFigures> {
        let stats = self.tree().stats();
        Some(TreeFigures {
            vmas,
            height: stats.height,
            nodes: stats.nodes,
            bytes_per_vma: stats.node_bytes() as f64 / vmas.max(1) as f64,
        })
    }
}

impl TreeStats for BTreeIndex {
    fn figures(&self, _vmas: usize) -> Option<TreeFigures> {
        None
    }
}

/// The model's configuration: Linux's defaults, except that locked memory is not limited,
/// with the protection keys the capturing machine had (`#pkeys`, never the replaying
/// machine's). A trace does not record `RLIMIT_MEMLOCK` or `CAP_IPC_LOCK`, so locking calls
/// are replayed as the kernel allowed them, and a lock the kernel refused for the limit is
/// skipped ([`Report::failures_skipped`]).
fn model_config(header: &Header) -> maple_mm::AddressSpaceConfig {
    maple_mm::AddressSpaceConfig {
        rlimit_memlock: u64::MAX,
        cap_ipc_lock: true,
        pkeys: header.pkey_count(),
        ..maple_mm::AddressSpaceConfig::default()
    }
}

/// An `int` argument recorded as a register's low 32 bits (or, from strace, sign-extended).
fn int_arg(value: u64) -> i32 {
    (value as u32).cast_signed()
}

/// Advices whose result depends on the kernel's build and settings, not on the layout:
/// `MADV_COLLAPSE` (the transparent huge page settings), `MADV_HWPOISON` and
/// `MADV_SOFT_OFFLINE` (`CONFIG_MEMORY_FAILURE` and `CAP_SYS_ADMIN`). None changes a VMA.
fn config_dependent(op: &Op) -> bool {
    matches!(op, Op::Madvise { advice, .. } if matches!(advice.0, 25 | 100 | 101))
}

/// Whether the model implements `call` (the locking calls); the others change nothing in it.
fn modelled(call: OtherCall) -> bool {
    matches!(
        call,
        OtherCall::Mlock
            | OtherCall::Mlock2
            | OtherCall::Munlock
            | OtherCall::Mlockall
            | OtherCall::Munlockall
            | OtherCall::PkeyAlloc
            | OtherCall::PkeyFree
    )
}

/// A hasher for the small integer keys of the replay's maps (space, file and thread ids): one
/// rotate, xor and multiply per word, as rustc's own FxHash. SipHash's defence against chosen
/// keys buys nothing here (colliding ids in a trace slow down only the replay of that trace)
/// and cost a fifth of the replay engine's instructions.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A map keyed by ids, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A set of ids, hashed with [`IdHasher`].
pub(crate) type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

/// Runs one call of the model and adds its time to `model_time`.
///
/// The call itself runs inside [`model_call`], which is never inlined, so that an instruction
/// count can collect in it alone (`maple-bench`'s `trace_model` workload:
/// `valgrind --tool=callgrind --toggle-collect='*model_call*'`).
fn timed<R>(model_time: &mut Duration, f: impl FnOnce() -> R) -> R {
    let started = Instant::now();
    let r = model_call(f);
    *model_time += started.elapsed();
    r
}

/// Runs `f`: every call of the model goes through here (see [`timed`]).
#[inline(never)]
fn model_call<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Errors that come from state the model does not hold: replaying such a failed call would
/// succeed in the model.
const UNMODELLED_ERRORS: &[&str] = &[
    "EBADF",
    "EACCES",
    "ENODEV",
    "ETXTBSY",
    "EPERM",
    "ENFILE",
    "EMFILE",
    "EAGAIN",
    "EINTR",
    "ERESTARTSYS",
    "ERESTARTNOINTR",
    "ERESTARTNOHAND",
    "ERESTART_RESTARTBLOCK",
    "EOVERFLOW",
    "ENOSYS",
    "EOPNOTSUPP",
    "ENXIO",
    "EIO",
    "ENOSPC",
    "EFBIG",
];

/// One address space being replayed.
struct Space<'t, I: VmaIndex> {
    mm: AddressSpace<I>,
    /// The kernel's layout at its last snapshot.
    kernel: Layout<'t>,
    /// Whether the kernel's layout of this space is known (it had a snapshot): only then is
    /// it compared.
    known: bool,
    /// Steps since the last comparison, and whether one of them returned something else
    /// than the kernel's result.
    unjudged: u64,
    unjudged_bad: bool,
    /// The address ranges the model changed since the last comparison; `None` when a step
    /// may have changed any part of it.
    dirty: Option<Vec<(u64, u64)>>,
    /// Kernel activity the model could not follow since the last comparison (a call it does
    /// not implement, or a fork racing with the parent's other threads).
    excuse: Option<Resync>,
    /// Whether the break is known (the first `brk` tells it).
    brk_known: bool,
    /// Whether threads of the space made calls between its last snapshot and its next one
    /// (worked out at the first op after a snapshot).
    threads_between: Option<bool>,
    /// The last operation, for divergence reports (kept when checking).
    last_op: Option<Record>,
    /// What the last learning of anon_vmas over the whole space saw.
    learned: Learned,
}

/// What [`Replayer::learn_anon_vmas`] saw at its last pass over a whole address space, so
/// that the next full snapshot learns only where something changed since.
///
/// A pass reads the kernel's `A` marks and, around each marked VMA, the model's pieces that
/// may be one mapping cut up ([`pieces_of_one`]); it leaves the pieces of each run it walked
/// sharing one anon_vma, and a second pass over the same marks and the same model changes
/// nothing. So a stretch of such pieces (a *chain*) needs a new pass only when a mark in it
/// appeared, went or moved, or the model changed in it or right beside it.
#[derive(Debug, Default)]
struct Learned {
    /// The kernel's VMAs with anonymous pages, `(start, end)` in address order, at that pass;
    /// `None` when the next full snapshot must learn everywhere: there was no pass yet, a
    /// change snapshot learned in its windows since (with cuts a full pass does not know), or
    /// the model changed where the replay cannot tell.
    marked: Option<Vec<(u64, u64)>>,
    /// The address ranges the model changed since that pass (kept only while `marked` is).
    changed: Vec<(u64, u64)>,
    /// A spare list for the next snapshot's marks (no allocation per snapshot).
    spare: Vec<(u64, u64)>,
}

impl Learned {
    /// The model changed in `ranges`.
    fn touched(&mut self, ranges: &[(u64, u64)]) {
        if self.marked.is_some() {
            self.changed.extend_from_slice(ranges);
        }
    }

    /// The model may have changed anywhere, or a pass learned with knowledge a full one
    /// lacks: the next full snapshot learns everywhere.
    fn forget(&mut self) {
        self.marked = None;
        self.changed.clear();
    }
}

struct Replayer<'t, I: VmaIndex> {
    feed: Feed<'t>,
    /// The line of the record being replayed, when read from a file.
    line: Option<usize>,
    /// The space of the last step.
    step_space: Option<SpaceId>,
    options: ReplayOptions,
    /// The configuration of every address space ([`model_config`]).
    config: maple_mm::AddressSpaceConfig,
    spaces: IdMap<SpaceId, Space<'t, I>>,
    files: IdMap<(FileId, Option<OpenMode>), Arc<File>>,
    /// The size of each regular file, as the last `mmap` of it recorded it.
    file_sizes: IdMap<FileId, u64>,
    /// Per file, the flags its `mmap` hook adds and whether its mount is `noexec`, learned
    /// from snapshots ([`Resync::MmapHook`]).
    hooks: IdMap<FileId, (u64, bool)>,
    /// The names of trace files (`f` records), shown in the model's maps listing.
    file_names: IdMap<FileId, Arc<str>>,
    /// Files made by [`Replayer::unknown_file`] so far.
    unknown_files: u64,
    /// Model file ids the model made itself (shared anonymous memory), bound to the kernel's.
    bound_files: IdMap<(SpaceId, MmFileId), FileId>,
    next_anon: u64,
    report: Report,
    flag_mask: u64,
    /// The address ranges a full snapshot learns anon_vmas in (a list kept for every one).
    regions: Vec<(u64, u64)>,
    /// Ops replayed by name since the walk began, for [`Report::ops`].
    op_counts: Vec<(&'static str, u64)>,
    /// Tests: every full snapshot learns anon_vmas everywhere, as before [`Learned`].
    #[cfg(test)]
    learn_everywhere: bool,
}

/// A record just replayed, for [`Replayer::walk_with`]: its space, and whether it was a
/// snapshot (`S` or `D`) rather than an op.
type Replayed = (SpaceId, bool);

/// Where a comparison looks: everywhere, or the VMAs around some address ranges.
enum Region {
    All,
    Ranges(Vec<(u64, u64)>),
}

/// The file as opened with `mode` (read and write when unknown).
fn with_mode(file: File, mode: Option<OpenMode>) -> File {
    match mode {
        Some(OpenMode::Read) => file.read_only(),
        Some(OpenMode::Write) => file.write_only(),
        Some(OpenMode::ReadWrite) | None => file,
    }
}

/// Model file ids for trace files; the model's own shmem files have the top bit set.
fn model_file_id(id: FileId) -> MmFileId {
    MmFileId(u64::from(id.0))
}

impl<'t, I: VmaIndex + TreeStats> Replayer<'t, I> {
    fn new(source: Source<'t>, header: &Header, options: &ReplayOptions) -> Self {
        Replayer {
            feed: Feed::new(source),
            line: None,
            step_space: None,
            options: *options,
            config: model_config(header),
            spaces: IdMap::default(),
            files: IdMap::default(),
            file_sizes: IdMap::default(),
            hooks: IdMap::default(),
            unknown_files: 0,
            file_names: IdMap::default(),
            bound_files: IdMap::default(),
            next_anon: 1 << 48,
            report: Report {
                engine: options.engine,
                ..Report::default()
            },
            flag_mask: compared_mask(),
            regions: Vec::new(),
            op_counts: Vec::new(),
            #[cfg(test)]
            learn_everywhere: false,
        }
    }

    fn run(mut self, progress: &mut dyn FnMut(usize)) -> Result<Report, ReplayError> {
        self.walk(None, progress)?;
        let leftover: Vec<SpaceId> = self.spaces.keys().copied().collect();
        for space in leftover {
            self.finish_space(space, false);
        }
        if !self.report.checked {
            self.report.steps_matching = 0;
            self.report.steps_unchecked = self.report.steps;
        }
        Ok(self.report)
    }

    /// Replays the records, up to step `stop` and the snapshots right after it if given.
    fn walk(
        &mut self,
        stop: Option<u64>,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(), ReplayError> {
        self.walk_with(stop, progress, &mut |_, _| {})
    }

    /// [`Replayer::walk`], calling `after` with the space of each op and snapshot record
    /// once it is replayed (and `None` for other records).
    fn walk_with(
        &mut self,
        stop: Option<u64>,
        progress: &mut dyn FnMut(usize),
        after: &mut dyn FnMut(&Self, Option<Replayed>),
    ) -> Result<(), ReplayError> {
        let started = Instant::now();
        while let Some(item) = self.feed.next() {
            let item = item.map_err(|e| ReplayError {
                step: self.report.steps,
                line: Some(e.line),
                reason: e.kind.to_string(),
            })?;
            if self.feed.done.is_multiple_of(4096) {
                progress(self.feed.done);
            }
            self.line = item.line;
            // The space of the record, and whether it is a snapshot.
            let done = match item.record.as_ref() {
                Record::Snapshot { space, .. } | Record::Delta { space, .. } => {
                    Some((*space, true))
                }
                Record::Op { space, .. } => Some((*space, false)),
                Record::FileName { .. } | Record::CutShort => None,
            };
            match item.record {
                Cow::Borrowed(Record::Snapshot { space, vmas }) => {
                    self.snapshot(*space, Layout::Full(Cow::Borrowed(vmas)))?;
                }
                Cow::Owned(Record::Snapshot { space, vmas }) => {
                    self.snapshot(space, Layout::Full(Cow::Owned(vmas)))?;
                }
                Cow::Borrowed(Record::Delta { space, windows }) => {
                    self.delta(*space, windows.clone())?;
                }
                Cow::Owned(Record::Delta { space, windows }) => self.delta(space, windows)?,
                record => match record.as_ref() {
                    Record::FileName { file, name } => {
                        self.file_names.insert(*file, Arc::from(name.as_str()));
                    }
                    Record::CutShort => self.report.cut_short = true,
                    Record::Op { space, thread, op } => {
                        if stop.is_some_and(|stop| self.report.steps >= stop) {
                            break;
                        }
                        self.step(*space, *thread, op, record.as_ref())?;
                    }
                    Record::Snapshot { .. } | Record::Delta { .. } => {}
                },
            }
            after(self, done);
        }
        progress(self.feed.done);
        for (name, count) in self.op_counts.drain(..) {
            *self.report.ops.entry(name).or_default() += count;
        }
        self.report.elapsed = started.elapsed();
        Ok(())
    }

    /// Counts an op by name, for [`Report::ops`] at the end of the walk.
    fn count_op(&mut self, name: &'static str) {
        // A handful of names, mostly the same few: the same literal is found by its address.
        let seen = self
            .op_counts
            .iter_mut()
            .find(|(n, _)| std::ptr::eq(*n, name) || *n == name);
        match seen {
            Some((_, count)) => *count += 1,
            None => self.op_counts.push((name, 1)),
        }
    }

    /// One op record of the trace: the calls of other threads that must run before it, the
    /// op, and the comparison right after it when the kernel's layout did not change.
    fn step(
        &mut self,
        space: SpaceId,
        thread: Option<ThreadId>,
        op: &Op,
        record: &Record,
    ) -> Result<(), ReplayError> {
        // An exit ends its space, which nothing compares after it: no reading ahead (to the
        // end of the trace, as the space has no later record) for it.
        let threads_between = !matches!(op, Op::Exit) && self.threads_between(space, thread);
        for item in self.calls_to_take_first(space, thread, op) {
            let Record::Op { space, op, .. } = item.record.as_ref() else {
                continue;
            };
            *self
                .report
                .resyncs
                .entry(Resync::CallOrder.name())
                .or_default() += 1;
            self.report.steps += 1;
            self.count_op(op.name());
            self.op(*space, op, item.record.as_ref())?;
        }
        self.report.steps += 1;
        self.step_space = Some(space);
        self.count_op(op.name());
        self.grow_stacks_first(space, op)?;
        self.op(space, op, record)?;
        let known = self.spaces.get(&space).is_some_and(|s| s.known);
        if self.options.check && known && !threads_between && !self.feed.next_is_snapshot(space) {
            // The layout did not change in the kernel: compare with the last one.
            self.compare(space, None, true)?;
        }
        Ok(())
    }

    /// Stack growth the op met: a stack grows on page faults, which no record shows, and a
    /// call below it (a `MAP_FIXED_NOREPLACE` failing with `EEXIST` there, an `mprotect`,
    /// `madvise`, `mlock` or `mremap` that worked on it, an `mremap` duplicate refused there
    /// with `EINVAL`, an `munmap` or `mmap` that cut it)
    /// proves the stack had grown. When the op's range lies below a growsdown VMA of the model
    /// and the space's next snapshot shows that VMA starting lower, the model's grows there
    /// first (counted as [`Resync::StackGrowth`]). So does an op from the stack's start on
    /// when the snapshot shows the stack cut there: growth after it would have grown the
    /// lowest piece instead. Other ops may have come before the growth, and only ops at or
    /// below a stack look ahead.
    ///
    /// An `munmap` or an `mmap` that worked may have come before the growth or after it; the
    /// snapshot tells. Pieces of the stack on both sides of its range (a hole, or the new
    /// mapping) show the growth came first: growth after an `munmap` would have filled the
    /// hole, and a stack cannot grow across a mapping. So does growth that ends in its range
    /// or above it (then the order does not change the layout). Growth across its range
    /// without a cut came after it.
    fn grow_stacks_first(&mut self, space: SpaceId, op: &Op) -> Result<(), ReplayError> {
        let met_memory = match op {
            Op::Mmap { ret, .. } => *ret == Err(Errno(17)) || ret.is_ok(),
            Op::Munmap { ret, .. } => ret.is_ok(),
            Op::Mprotect { ret, .. } | Op::Madvise { ret, .. } => ret.is_ok(),
            // A duplicate (old length 0) of private memory fails with EINVAL once it found the
            // VMA; without one, with EFAULT.
            Op::Mremap { ret, old_len, .. } => {
                ret.is_ok() || (*old_len == 0 && *ret == Err(Errno(22)))
            }
            Op::Other { call, ret, .. } => {
                ret.is_ok()
                    && matches!(
                        call,
                        OtherCall::Mlock | OtherCall::Mlock2 | OtherCall::Munlock
                    )
            }
            _ => false,
        };
        if !met_memory {
            return Ok(());
        }
        let Some(ranges) = op.spans(None) else {
            return Ok(());
        };
        // Where an munmap or mmap that worked may have cut the stack: its range in whole pages.
        let span = |at: u64, len: u64| (at, at.saturating_add(len).next_multiple_of(4096));
        let cut = match op {
            Op::Munmap { addr, len, .. } => Some(span(*addr, *len)),
            Op::Mmap {
                len, ret: Ok(at), ..
            } => Some(span(*at, *len)),
            _ => None,
        };
        for &(lo, _) in ranges.as_slice() {
            let Some(s) = self.spaces.get(&space) else {
                return Ok(());
            };
            let Some(stack) = s.mm.find_vma(lo) else {
                continue;
            };
            // An op from the stack's start on cuts it there if it had grown first.
            let at_start = stack.start() == lo;
            if !stack.flags().contains(VmFlags::GROWSDOWN) || stack.start() < lo {
                continue;
            }
            let (start, end) = (stack.start(), stack.end());
            let (at, found) = self.feed.until_snapshot(space);
            if !found {
                continue;
            }
            let kernel: Vec<&SnapshotVma> = match self.feed.window().nth(at) {
                Some(Record::Snapshot { vmas, .. }) => vmas.iter().collect(),
                Some(Record::Delta { windows, .. }) => {
                    windows.iter().flat_map(|w| &w.vmas).collect()
                }
                _ => Vec::new(),
            };
            // The stack there, maybe cut into pieces by the op: anonymous growsdown VMAs (or
            // ones shown without flags) down from the one ending where it ends, adjacent or
            // apart by the op's range (a hole, or the op's own mapping).
            let within_cut = |lo: u64, hi: u64| cut.is_some_and(|(a, b)| a <= lo && hi <= b);
            let mut crossed_cut = false;
            let grown = kernel.iter().position(|k| k.end == end).map(|mut i| {
                let mut lowest = i;
                while i > 0 {
                    let (below, here) = (kernel[i - 1], kernel[i]);
                    if below.end != here.start {
                        if !within_cut(below.end, here.start) {
                            break;
                        }
                        crossed_cut = true;
                    }
                    i -= 1;
                    if within_cut(below.start, below.end) {
                        crossed_cut = true;
                        continue;
                    }
                    let stack_like = below.backing == crate::format::Backing::Anon
                        && (below.flags.is_empty() || below.has_flag(b"gd"));
                    if !stack_like {
                        break;
                    }
                    lowest = i;
                }
                kernel[lowest].start
            });
            let Some(grown) = grown.filter(|&g| g < start) else {
                continue;
            };
            if at_start && !kernel.iter().any(|k| k.end == lo) {
                continue;
            }
            if let Some((_, cut_end)) = cut
                && !crossed_cut
                && cut_end > grown
            {
                continue;
            }
            let s = self.spaces.get_mut(&space).expect("space exists");
            if timed(&mut self.report.model_time, || s.mm.expand_stack(grown)).is_ok() {
                s.learned.touched(&[(grown, end)]);
                *self
                    .report
                    .resyncs
                    .entry(Resync::StackGrowth.name())
                    .or_default() += 1;
            }
        }
        Ok(())
    }

    /// Whether threads of `space` other than `thread` made calls between its last snapshot
    /// and its next one: the capture may then have deferred the snapshot, and every op of the
    /// stretch is judged at the next one.
    fn threads_between(&mut self, space: SpaceId, thread: Option<ThreadId>) -> bool {
        let Some(s) = self.spaces.get(&space) else {
            return false;
        };
        if let Some(known) = s.threads_between {
            return known;
        }
        let (_, _, many) = self.feed.until_snapshot_threads(space, thread);
        if let Some(s) = self.spaces.get_mut(&space) {
            s.threads_between = Some(many);
        }
        many
    }

    /// Calls that must have run before the op of `thread`, though the capture saw them
    /// return later, taken out of the records ahead.
    ///
    /// Threads of one space make calls at once; the capture records each when it sees the
    /// call return, and that order can differ from the order in which the kernel ran them.
    /// The kernel's results tell: an `mmap` that let the kernel choose, and got an address
    /// the model still holds, ran after another thread's `munmap` or `mremap` freed it. Those
    /// calls (the first of their thread after this op, before the space's next snapshot) are
    /// replayed first and counted as [`Resync::CallOrder`].
    fn calls_to_take_first(
        &mut self,
        space: SpaceId,
        thread: Option<ThreadId>,
        op: &Op,
    ) -> Vec<Item<'t>> {
        let Op::Mmap {
            len,
            flags,
            ret: Ok(addr),
            ..
        } = op
        else {
            return Vec::new();
        };
        let Some(s) = self.spaces.get(&space) else {
            return Vec::new();
        };
        let end = addr.saturating_add(len.next_multiple_of(4096));
        if flags.has(MapFlags::FIXED)
            || flags.has(MapFlags::FIXED_NOREPLACE)
            || s.mm.range(*addr, end).next().is_none()
        {
            return Vec::new();
        }
        let (count, _) = self.feed.until_snapshot(space);
        let mut positions = Vec::new();
        let mut seen_threads = IdSet::default();
        seen_threads.insert(thread);
        for (j, record) in self.feed.window().take(count).enumerate() {
            let Record::Op {
                space: s,
                thread: t,
                op,
            } = record
            else {
                continue;
            };
            if *s != space {
                continue;
            }
            let frees = match op {
                Op::Munmap {
                    addr: a,
                    len: l,
                    ret: Ok(_),
                }
                | Op::Mremap {
                    old_addr: a,
                    old_len: l,
                    ret: Ok(_),
                    ..
                } => *a < end && *addr < a.saturating_add(*l),
                _ => false,
            };
            // Only a thread's first pending call may move: its own calls stay in order.
            if frees && !seen_threads.contains(t) {
                positions.push(j);
            }
            seen_threads.insert(*t);
        }
        let mut taken: Vec<Item<'t>> = positions
            .into_iter()
            .rev()
            .filter_map(|j| self.feed.take(j))
            .collect();
        taken.reverse();
        taken
    }

    fn error(&self, reason: impl Into<String>) -> ReplayError {
        ReplayError {
            step: self.report.steps,
            line: self.line,
            reason: reason.into(),
        }
    }

    /// The model's file for a trace file opened with `mode` (read and write when unknown).
    fn file(&mut self, id: FileId, mode: Option<OpenMode>) -> Arc<File> {
        if let Some(file) = self.files.get(&(id, mode)) {
            return Arc::clone(file);
        }
        let hook = self.hooks.get(&id).copied();
        let name = self.file_names.get(&id).cloned();
        let size = self.file_sizes.get(&id).copied();
        self.files
            .entry((id, mode))
            .or_insert_with(|| {
                let mut file = File::new(model_file_id(id));
                if let Some(name) = name {
                    file = file.with_name(name);
                }
                if let Some(size) = size {
                    file = file.with_size(size);
                }
                if let Some((added, noexec)) = hook {
                    file = file.with_mmap_flags(VmFlags::from_bits(added));
                    if noexec {
                        file = file.noexec();
                    }
                }
                Arc::new(with_mode(file, mode))
            })
            .clone()
    }

    /// A file with a model id of its own (bit 63 set, like the model's shmem files, so that
    /// comparisons bind it to the kernel's id of the same memory).
    fn unknown_file(&mut self, mode: Option<OpenMode>) -> Arc<File> {
        self.unknown_files += 1;
        let file = File::new(MmFileId(1 << 63 | 1 << 62 | self.unknown_files));
        Arc::new(with_mode(file, mode))
    }

    /// Records what files' `mmap` hooks or mounts do, as a snapshot showed it, so that later
    /// mappings of those files get the same flags.
    fn learn_hooks(&mut self, learned: Vec<(FileId, u64, bool)>) {
        for (id, added, noexec) in learned {
            let hook = self.hooks.entry(id).or_default();
            hook.0 |= added;
            hook.1 |= noexec;
            self.files.retain(|(file, _), _| *file != id);
        }
    }

    /// Ends a space: by its exit record (`exited`, already counted in `unjudged`), or at the
    /// end of the trace. The exit of a space whose every call was compared matches (it changes
    /// nothing the model could get wrong); calls no comparison judged are unchecked, and so is
    /// the exit after them. Steps with a wrong result are neither.
    fn finish_space(&mut self, space: SpaceId, exited: bool) {
        let Some(s) = self.spaces.remove(&space) else {
            return;
        };
        if s.unjudged_bad {
            return;
        }
        if exited && s.unjudged == 1 {
            self.report.steps_matching += 1;
        } else {
            self.report.steps_unchecked += s.unjudged;
        }
    }

    fn new_space(
        &mut self,
        space: SpaceId,
        mm: AddressSpace<I>,
        kernel: Layout<'t>,
        brk_known: bool,
    ) {
        self.report.spaces += 1;
        self.spaces.insert(
            space,
            Space {
                mm,
                kernel,
                known: false,
                unjudged: 0,
                unjudged_bad: false,
                dirty: None,
                excuse: None,
                brk_known,
                threads_between: None,
                last_op: None,
                learned: Learned::default(),
            },
        );
    }

    fn op(&mut self, space: SpaceId, op: &Op, record: &Record) -> Result<(), ReplayError> {
        match op {
            Op::NewSpace { .. } => {
                let config = self.config.clone();
                let mm = timed(&mut self.report.model_time, || {
                    AddressSpace::with_index(config)
                });
                self.new_space(space, mm, Layout::default(), false);
            }
            Op::Fork { parent, racing } => {
                let Some(p) = self.spaces.get(parent) else {
                    return Err(self.error(format!("fork of unknown space {parent}")));
                };
                let kernel = p.kernel.clone();
                let brk_known = p.brk_known;
                let child = timed(&mut self.report.model_time, || p.mm.fork());
                let child =
                    child.map_err(|e| self.error(format!("fork failed in the model: {e}")))?;
                self.new_space(space, child, kernel, brk_known);
                if *racing && let Some(s) = self.spaces.get_mut(&space) {
                    s.excuse = Some(Resync::ForkRace);
                }
            }
            Op::Exit => {
                if let Some(s) = self.spaces.get_mut(&space) {
                    s.unjudged += 1;
                }
                self.finish_space(space, true);
                return Ok(());
            }
            _ => {}
        }
        let Some(s) = self.spaces.get_mut(&space) else {
            return Err(self.error(format!("operation on unknown space {space}")));
        };
        s.unjudged += 1;
        if self.options.check {
            // For the report of a divergence, which only a checked replay finds.
            s.last_op = Some(record.clone());
        }
        let brk_before = s.mm.current_brk();
        let outcome = self.apply(space, op);
        let Some(s) = self.spaces.get_mut(&space) else {
            return Ok(());
        };
        // Where the model may have changed: the op's ranges (and the VMAs around them). A
        // call whose result differs from the kernel's may have changed it elsewhere.
        let ranges = op.spans(Some(brk_before));
        match &ranges {
            Some(ranges) if outcome.is_ok() => s.learned.touched(ranges.as_slice()),
            _ => s.learned.forget(),
        }
        match (ranges, &mut s.dirty) {
            (Some(ranges), Some(dirty)) => dirty.extend_from_slice(ranges.as_slice()),
            (Some(ranges), dirty @ None) if s.unjudged == 1 => {
                *dirty = Some(ranges.as_slice().to_vec());
            }
            (_, dirty) => *dirty = None,
        }
        if let Err(detail) = outcome {
            s.unjudged_bad = true;
            if self.options.check && s.known {
                self.diverge(space, Mismatch::Result, detail, None);
            }
        }
        self.note_peak(space);
        Ok(())
    }

    fn note_peak(&mut self, space: SpaceId) {
        let Some(s) = self.spaces.get(&space) else {
            return;
        };
        let count = s.mm.map_count();
        if count > self.report.peak_vmas {
            self.report.peak_vmas = count;
            self.report.peak_tree = s.mm.index().figures(count);
        }
    }

    /// Applies a memory operation; `Err` describes a result that differs from the kernel's.
    fn apply(&mut self, space: SpaceId, op: &Op) -> Result<(), String> {
        let kernel_ret = op_result(op);
        if let Some(Err(errno)) = kernel_ret {
            let name = errno.to_string();
            // mlockall fails with ENOMEM only over RLIMIT_MEMLOCK.
            let over_limit = name == "ENOMEM"
                && matches!(
                    op,
                    Op::Other {
                        call: OtherCall::Mlockall,
                        ..
                    }
                );
            // mprotect's EACCES comes from the VMAs' VM_MAY* flags, which the model has; Linux
            // changed the VMAs before the one it refused, so the call is replayed.
            let modelled_access = name == "EACCES" && matches!(op, Op::Mprotect { .. });
            let unmodelled = UNMODELLED_ERRORS.contains(&name.as_str()) && !modelled_access;
            if unmodelled || over_limit || config_dependent(op) {
                *self.report.failures_skipped.entry(name).or_default() += 1;
                return Ok(());
            }
        }
        if let Op::Mmap {
            file: Some(id),
            file_size: Some(size),
            ..
        } = op
            && self.file_sizes.insert(*id, *size) != Some(*size)
        {
            // The file's mappings from now on see the new size.
            self.files.retain(|(file, _), _| file != id);
        }
        let file = match op {
            Op::Mmap {
                file: Some(id),
                mode,
                flags,
                ..
            } if !flags.has(MapFlags::ANONYMOUS) => Some(self.file(*id, *mode)),
            // A descriptor whose file no snapshot showed (a ring buffer unmapped at once):
            // a file of its own, bound to the kernel's id when a snapshot shows it.
            Op::Mmap {
                file: None,
                mode,
                flags,
                ret: Ok(_),
                ..
            } if !flags.has(MapFlags::ANONYMOUS) => Some(self.unknown_file(*mode)),
            _ => None,
        };
        let s = self
            .spaces
            .get_mut(&space)
            .expect("caller checked the space");
        if let Op::Brk { request, ret } = op
            && !s.brk_known
        {
            // The first break of a program is random: learn it from the first query, or from
            // the heap the kernel shows.
            let heap =
                s.kernel.all().into_iter().find(
                    |k| matches!(&k.backing, crate::format::Backing::Named(n) if n == "heap"),
                );
            let base = match (request, heap) {
                (0, _) | (_, None) => *ret,
                (_, Some(heap)) => heap.start,
            };
            s.mm.set_brk_base(base);
            s.brk_known = true;
        }
        if let Op::Other { call, .. } = op
            && !modelled(*call)
        {
            s.excuse = Some(Resync::UnmodelledCall);
        }
        let mm = &mut s.mm;
        let model: Option<Result<u64, MmErrno>> = timed(&mut self.report.model_time, || match op {
            Op::NewSpace { .. } | Op::Fork { .. } | Op::Exit => None,
            Op::Mmap {
                addr,
                len,
                prot,
                flags,
                offset,
                ret,
                ..
            } => {
                let mut flags_bits = flags.0;
                let mut at = *addr;
                if let Ok(placed) = ret {
                    // Map where the kernel did: its choice depends on the random mmap_base.
                    flags_bits = (flags_bits & !MapFlags::FIXED_NOREPLACE) | MapFlags::FIXED;
                    at = *placed;
                }
                Some(mm.mmap(
                    at,
                    *len,
                    MmProt::from_bits(prot.0),
                    MmMapFlags::from_bits(flags_bits),
                    file.as_ref(),
                    *offset,
                ))
            }
            Op::Munmap { addr, len, .. } => Some(mm.munmap(*addr, *len).map(|()| 0)),
            Op::Mprotect {
                addr,
                len,
                prot,
                pkey,
                ..
            } => Some(
                mm.pkey_mprotect(
                    *addr,
                    *len,
                    MmProt::from_bits(prot.0),
                    pkey.map_or(-1, u32::cast_signed),
                )
                .map(|()| 0),
            ),
            // Whether these work depends on the kernel's build and settings; none changes a
            // VMA, so their success is not compared.
            Op::Madvise { .. } if config_dependent(op) => None,
            Op::Madvise {
                addr, len, advice, ..
            } => Some(
                mm.madvise(*addr, *len, maple_mm::Advice(advice.0 as i32))
                    .map(|()| 0),
            ),
            Op::Brk { request, .. } => Some(Ok(mm.brk(*request))),
            Op::Mremap {
                old_addr,
                old_len,
                new_len,
                flags,
                new_addr,
                ret,
            } => {
                let mut bits = flags.0;
                let mut target = *new_addr;
                if let Ok(moved) = ret
                    && *moved != *old_addr
                    && flags.0 & RemapFlags::FIXED == 0
                {
                    // Moved where the kernel chose.
                    bits |= RemapFlags::FIXED | RemapFlags::MAYMOVE;
                    target = *moved;
                }
                Some(mm.mremap(
                    *old_addr,
                    *old_len,
                    *new_len,
                    MremapFlags::from_bits(bits),
                    target,
                ))
            }
            Op::Other { call, args, .. } => match call {
                OtherCall::Mlock => Some(mm.mlock(args[0], args[1]).map(|()| 0)),
                OtherCall::Mlock2 => Some(
                    mm.mlock2(args[0], args[1], MlockFlags::from_bits(args[2] as u32))
                        .map(|()| 0),
                ),
                OtherCall::Munlock => Some(mm.munlock(args[0], args[1]).map(|()| 0)),
                OtherCall::Mlockall => {
                    Some(mm.mlockall(McFlags::from_bits(args[0] as u32)).map(|()| 0))
                }
                OtherCall::Munlockall => Some(mm.munlockall().map(|()| 0)),
                OtherCall::PkeyAlloc => Some(mm.pkey_alloc(args[0], args[1]).map(u64::from)),
                OtherCall::PkeyFree => Some(mm.pkey_free(int_arg(args[0])).map(|()| 0)),
                _ => None,
            },
        });
        if let Op::Brk { request, ret } = op {
            let now = model.and_then(Result::ok).unwrap_or_default();
            return if now == *ret {
                Ok(())
            } else {
                Err(format!(
                    "brk({request:#x}) returned {now:#x}, the kernel {ret:#x}"
                ))
            };
        }
        let (Some(model), Some(kernel)) = (model, kernel_ret) else {
            return Ok(());
        };
        match (model, kernel) {
            (Ok(a), Ok(b)) if a == b || !returns_value(op) => Ok(()),
            (Err(a), Err(b)) if a.code() == i32::from(b.0) => {
                *self
                    .report
                    .failures_reproduced
                    .entry(b.to_string())
                    .or_default() += 1;
                Ok(())
            }
            (model, kernel) => Err(format!(
                "the model returned {}, the kernel {}",
                show_result(model.map_err(|e| Errno(e.code() as u16))),
                show_result(kernel)
            )),
        }
    }

    /// A full snapshot: the exec layout of a new space, or a point to compare everything.
    fn snapshot(&mut self, space: SpaceId, layout: Layout<'t>) -> Result<(), ReplayError> {
        let Some(s) = self.spaces.get_mut(&space) else {
            return Err(self.error(format!("snapshot of unknown space {space}")));
        };
        let fresh = s.mm.map_count() == 0 && !s.known;
        s.kernel = layout;
        s.known = true;
        s.threads_between = None;
        self.report.checked |= self.options.check;
        if fresh {
            // The layout exec built: take it as it is (out of the space while it is copied,
            // rather than copied twice).
            let kernel = std::mem::take(&mut s.kernel);
            let all: Vec<usize> = (0..kernel.len()).collect();
            let copied = match &kernel {
                Layout::Full(vmas) => self.copy_kernel(space, vmas, &all, None),
                Layout::Edited(map) => {
                    let vmas: Vec<SnapshotVma> = map.values().cloned().collect();
                    self.copy_kernel(space, &vmas, &all, None)
                }
            };
            let s = self.spaces.get_mut(&space).expect("space exists");
            s.kernel = kernel;
            copied?;
            if !s.unjudged_bad {
                self.report.steps_matching += s.unjudged;
            }
            s.unjudged = 0;
            s.unjudged_bad = false;
            clear_dirty(&mut s.dirty);
            return Ok(());
        }
        self.judge(space, Region::All)?;
        let mut regions = std::mem::take(&mut self.regions);
        self.where_to_learn(space, &mut regions);
        let learned = regions
            .iter()
            .try_for_each(|&(lo, hi)| self.learn_anon_vmas(space, lo, hi, &BTreeSet::new()));
        self.regions = regions;
        learned
    }

    /// Where a full snapshot of `space` has anon_vmas to learn ([`Learned`]): the chains of
    /// the model around the `A` marks that appeared, went or moved since the last pass, and
    /// around what the model changed since (with the VMAs right beside it, whose chains a
    /// change can cut or join). Everything at the first pass or after [`Learned::forget`].
    /// Sorted, apart, and each made of whole chains, so that no run of a pass crosses one's
    /// ends. Takes the snapshot's marks for the next time.
    fn where_to_learn(&mut self, space: SpaceId, regions: &mut Vec<(u64, u64)>) {
        regions.clear();
        let Some(s) = self.spaces.get_mut(&space) else {
            return;
        };
        #[cfg(test)]
        if self.learn_everywhere {
            s.learned.forget();
        }
        let learned = &mut s.learned;
        let mut around = std::mem::take(&mut learned.changed);
        // Most snapshots keep the marks of the last pass: then there is no new list to make.
        if !learned
            .marked
            .as_deref()
            .is_some_and(|before| s.kernel.has_marks(before))
        {
            let mut marked = std::mem::take(&mut learned.spare);
            marked.clear();
            s.kernel.anon_marked(&mut marked);
            let Some(before) = learned.marked.replace(marked) else {
                around.clear();
                learned.changed = around;
                regions.push((0, u64::MAX));
                return;
            };
            let now = learned.marked.as_deref().unwrap_or_default();
            // The marks of one side only (both lists are sorted and their VMAs apart).
            let (mut i, mut j) = (0, 0);
            loop {
                match (before.get(i), now.get(j)) {
                    (None, None) => break,
                    (Some(a), Some(b)) if a == b => (i, j) = (i + 1, j + 1),
                    (Some(a), b) if b.is_none_or(|b| a < b) => {
                        around.push(*a);
                        i += 1;
                    }
                    (_, b) => {
                        around.extend(b);
                        j += 1;
                    }
                }
            }
            learned.spare = before;
        }
        // Without marks there is nothing to learn anywhere.
        if learned.marked.as_ref().is_some_and(Vec::is_empty) {
            around.clear();
        }
        // Ranges that meet or touch are widened once.
        around.sort_unstable();
        for &(lo, hi) in &around {
            match regions.last_mut() {
                Some(last) if last.1.saturating_add(1) >= lo => last.1 = last.1.max(hi),
                _ => regions.push((lo, hi)),
            }
        }
        around.clear();
        learned.changed = around;
        for region in regions.iter_mut() {
            *region = chain_around(&s.mm, region.0, region.1);
        }
        // Widened, they may meet again.
        regions.dedup_by(|next, last| {
            let meet = next.0 <= last.1;
            if meet {
                last.1 = last.1.max(next.1);
            }
            meet
        });
    }

    /// A change snapshot: the kernel's layout changed in `windows` only.
    fn delta(&mut self, space: SpaceId, windows: Vec<DeltaWindow>) -> Result<(), ReplayError> {
        let Some(s) = self.spaces.get_mut(&space) else {
            return Err(self.error(format!("snapshot of unknown space {space}")));
        };
        if !s.known {
            return Err(self.error(format!(
                "change snapshot of address space {space} before its first full one"
            )));
        }
        let ranges: Vec<(u64, u64)> = windows.iter().map(|w| (w.start, w.end)).collect();
        // Cuts the kernel showed before, between two VMAs a whole read showed (with flags)
        // without anonymous pages: they were there before the faults this snapshot may show.
        let mut quiet = BTreeSet::new();
        for &(lo, hi) in &ranges {
            let old = s.kernel.range(lo.saturating_sub(1), hi.saturating_add(1));
            quiet.extend(
                old.windows(2)
                    .filter(|pair| {
                        pair[0].end == pair[1].start
                            && pair.iter().all(|v| !v.flags.is_empty() && !v.anon_pages)
                    })
                    .map(|pair| pair[1].start),
            );
        }
        s.kernel.apply(windows);
        s.threads_between = None;
        self.judge(space, Region::Ranges(ranges.clone()))?;
        for (lo, hi) in ranges {
            self.learn_anon_vmas(space, lo, hi, &quiet)?;
        }
        if let Some(s) = self.spaces.get_mut(&space) {
            s.learned.forget();
        }
        Ok(())
    }

    /// VMAs the kernel shows with anonymous pages (`A`) in `[lo, hi)` have an anon_vma: the
    /// pages came from faults, which are no system calls. The model's VMA of the same range
    /// gets one as the first fault would have given it, so that later merges and
    /// `mprotect`'s `VM_ACCOUNT` go as in the kernel.
    ///
    /// `quiet` holds cuts the kernel showed before between VMAs without anonymous pages: the
    /// pieces on their two sides were apart before the faults, so no run crosses them.
    fn learn_anon_vmas(
        &mut self,
        space: SpaceId,
        lo: u64,
        hi: u64,
        quiet: &BTreeSet<u64>,
    ) -> Result<(), ReplayError> {
        let step = self.report.steps;
        let line = self.line;
        let Some(Space { mm, kernel, .. }) = self.spaces.get_mut(&space) else {
            return Ok(());
        };
        // Anon_vmas the model made itself (its faults, populating) are known; the ones to
        // learn are missing, or were made up by the replay when it copied the kernel's VMAs.
        let invented = |a: AnonVma| a.id().0 >= 1 << 48;
        let fail = |addr: u64, e: MmErrno| ReplayError {
            step,
            line,
            reason: format!("cannot give {addr:#x} an anon_vma: {e}"),
        };
        // The fault may have come before the mapping was cut into pieces (by mprotect,
        // madvise, mlock), which then share its anon_vma; pieces without anonymous pages show
        // no `A`. So the pieces around a VMA with `A` that look like one mapping cut up (a
        // run) and have no anon_vma the model made itself share one: one the replay gave
        // already, else a new one. Both ways the guess can be wrong are explained at the next
        // comparison (anon_vma state decides merges and `VM_ACCOUNT`).
        let mut done_until = 0;
        // The run's pieces (start, anon_vma) in address order; one buffer for every run.
        let mut starts: Vec<(u64, Option<AnonVma>)> = Vec::new();
        // A run changes only VMAs below `done_until`, so the ones above it are as they were
        // before the first run, and a marked VMA can be judged when the walk reaches it.
        for k in kernel.iter_range(lo, hi).filter(|k| k.anon_pages) {
            let addr = k.start;
            if addr < done_until {
                continue;
            }
            let Some(vma) = mm.vma_lookup(addr).filter(|v| {
                v.start() == addr && v.end() == k.end && v.anon_vma().is_none_or(invented)
            }) else {
                continue;
            };
            // A piece with an anon_vma the model made was a VMA of its own then, and so was
            // one cut off before any fault: the run stops there, and at a quiet cut.
            let own = |v: &Vma| v.anon_vma().is_some_and(|a| !invented(a));
            starts.clear();
            let mut first = vma;
            while let Some(prev) = mm.vma_below(first.start())
                && pieces_of_one(prev, first)
                && !own(prev)
                && !cut_before_any_fault(prev)
                && !quiet.contains(&first.start())
            {
                starts.push((prev.start(), prev.anon_vma()));
                first = prev;
            }
            starts.reverse();
            starts.push((vma.start(), vma.anon_vma()));
            let mut last = vma;
            while let Some(next) = mm.find_vma(last.end())
                && pieces_of_one(last, next)
                && !own(next)
                && !cut_before_any_fault(next)
                && !quiet.contains(&next.start())
            {
                starts.push((next.start(), next.anon_vma()));
                last = next;
            }
            done_until = last.end();
            // An anon_vma the model made belongs to the piece it was made for (an mlock
            // populates after cutting); one learned from A marks belongs to the run.
            let chosen = starts.iter().filter_map(|&(_, a)| a).find(|&a| invented(a));
            let anon = match chosen {
                Some(anon) => anon,
                None => {
                    timed(&mut self.report.model_time, || mm.prepare_anon_vma(addr))
                        .map_err(|e| fail(addr, e))?;
                    let Some(anon) = mm.vma_lookup(addr).and_then(Vma::anon_vma) else {
                        continue;
                    };
                    // The piece at `addr` has it now.
                    if let Some(piece) = starts.iter_mut().find(|(start, _)| *start == addr) {
                        piece.1 = Some(anon);
                    }
                    anon
                }
            };
            for &(start, had) in &starts {
                if had.is_none_or(|h| invented(h) && h != anon) {
                    mm.set_anon_vma(start, Some(anon))
                        .map_err(|e| fail(start, e))?;
                }
            }
        }
        Ok(())
    }

    /// At a snapshot: compares where the kernel (`region`) or the model changed; when not
    /// checking, the steps since the last one stay unchecked.
    fn judge(&mut self, space: SpaceId, region: Region) -> Result<(), ReplayError> {
        if self.options.check {
            return self.compare(space, Some(region), false);
        }
        if let Some(s) = self.spaces.get_mut(&space) {
            s.unjudged = 0;
            clear_dirty(&mut s.dirty);
        }
        Ok(())
    }

    /// The model's VMAs in `[lo, hi)` as shapes, in trace file ids.
    fn model_shapes(&mut self, space: SpaceId, lo: u64, hi: u64) -> Vec<Shape> {
        let s = &self.spaces[&space];
        let mut out = Vec::new();
        let mut unbound = Vec::new();
        for vma in s.mm.range(lo, hi) {
            let file = vma.file().map(|f| {
                let id = f.id();
                if id.0 >> 63 == 0 {
                    // A trace file.
                    return FileId(id.0 as u32);
                }
                match self.bound_files.get(&(space, id)) {
                    Some(&trace_id) => trace_id,
                    None => {
                        unbound.push((out.len(), id));
                        FileId(u32::MAX)
                    }
                }
            });
            out.push(Shape {
                start: vma.start(),
                end: vma.end(),
                flags: vma.flags().bits() & self.flag_mask,
                file,
                offset: if vma.file().is_some() {
                    vma.pgoff() << 12
                } else {
                    0
                },
                name: None,
                apart: Some((vma.flags().bits(), vma.anon_vma().map(|a| a.id().0))),
            });
        }
        // The model's own shmem files get the kernel's id of the same memory.
        for (index, id) in unbound {
            let kernel_id = self.spaces[&space]
                .kernel
                .at(out[index].start)
                .and_then(|k| match k.backing {
                    crate::format::Backing::File(f) => Some(f),
                    _ => None,
                });
            if let Some(kernel_id) = kernel_id {
                self.bound_files.insert((space, id), kernel_id);
                out[index].file = Some(kernel_id);
            }
        }
        out
    }

    /// The address ranges to compare: `region` and what the model changed since the last
    /// comparison, each widened until no VMA of either side crosses its ends, sorted and
    /// merged. Everything when the VMA counts differ (a change elsewhere).
    fn compared_ranges(&self, space: SpaceId, region: Option<Region>) -> Vec<(u64, u64)> {
        let s = &self.spaces[&space];
        let task_top = self.config.task_size + 0x1000;
        let kernel_count =
            s.kernel.len() - usize::from(s.kernel.all().last().is_some_and(|v| v.end > task_top));
        let mut ranges = match (region, &s.dirty) {
            (Some(Region::All), _) | (_, None) => return vec![(0, u64::MAX)],
            _ if kernel_count != s.mm.map_count() => return vec![(0, u64::MAX)],
            (Some(Region::Ranges(r)), Some(dirty)) => {
                let mut r = r;
                r.extend(dirty);
                r
            }
            (None, Some(dirty)) => dirty.clone(),
        };
        for range in &mut ranges {
            let (mut lo, mut hi) = *range;
            loop {
                let kernel = s.kernel.range(lo, hi);
                let ours: Vec<(u64, u64)> =
                    s.mm.range(lo, hi).map(|v| (v.start(), v.end())).collect();
                let new_lo = kernel
                    .first()
                    .map(|v| v.start)
                    .into_iter()
                    .chain(ours.first().map(|v| v.0))
                    .fold(lo, u64::min);
                let new_hi = kernel
                    .last()
                    .map(|v| v.end)
                    .into_iter()
                    .chain(ours.last().map(|v| v.1))
                    .fold(hi, u64::max);
                if (new_lo, new_hi) == (lo, hi) {
                    break;
                }
                (lo, hi) = (new_lo, new_hi);
            }
            *range = (lo, hi);
        }
        ranges.retain(|&(lo, hi)| lo < hi);
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if last.1 >= lo => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }

    /// Compares the model with the kernel's layout of `space` where either changed (`region`
    /// for the kernel, everything when `None`... see [`Replayer::compared_ranges`]);
    /// explained differences are copied, others counted. `immediate` marks a comparison right
    /// after an op that left the kernel's layout alone.
    fn compare(
        &mut self,
        space: SpaceId,
        region: Option<Region>,
        immediate: bool,
    ) -> Result<(), ReplayError> {
        self.report.comparisons += 1;
        let task_top = self.config.task_size + 0x1000;
        let mut ours = Vec::new();
        let mut vmas: Vec<SnapshotVma> = Vec::new();
        let mut kernel: Vec<Shape> = Vec::new();
        for (lo, hi) in self.compared_ranges(space, region) {
            let found: Vec<SnapshotVma> = self.spaces[&space]
                .kernel
                .range(lo, hi)
                .into_iter()
                .filter(|v| v.end <= task_top)
                .cloned()
                .collect();
            // A kernel VMA read without `smaps` shows what a maps line shows (access bits and
            // VM_MAYSHARE): around it, both sides are compared on those alone, so that a
            // neighbour with `VmFlags` does not look different for lack of them.
            let mask = if found.iter().any(|v| v.flags.is_empty()) {
                compare::MAPS_BITS
            } else {
                self.flag_mask
            };
            kernel.extend(found.iter().map(|v| Shape::of_snapshot(v, mask)));
            vmas.extend(found);
            ours.extend(self.model_shapes(space, lo, hi).into_iter().map(|mut o| {
                o.flags &= mask;
                o
            }));
        }
        let excuse = self.spaces[&space].excuse;
        let mut bad = false;
        for window in windows(&ours, &kernel) {
            let o = &ours[window.ours.clone()];
            let k = &kernel[window.kernel.clone()];
            let kernel_indices: Vec<usize> = window.kernel.clone().collect();
            match classify(o, k, excuse) {
                Verdict::Explained(kind) => {
                    *self.report.resyncs.entry(kind.name()).or_default() += 1;
                    if kind == Resync::MmapHook {
                        self.learn_hooks(compare::hook_flags(o, k));
                    }
                    self.copy_window(space, &vmas, &kernel_indices, &window, kind)?;
                }
                Verdict::Wrong(kind) => {
                    bad = true;
                    let detail = format!("{:#x}-{:#x}", window.start, window.end);
                    self.diverge(
                        space,
                        kind,
                        detail,
                        Some((&ours, &kernel, window.start, window.end)),
                    );
                    self.copy_window(
                        space,
                        &vmas,
                        &kernel_indices,
                        &window,
                        Resync::UnmodelledCall,
                    )?;
                }
            }
        }
        let s = self.spaces.get_mut(&space).expect("space exists");
        if bad {
            s.unjudged_bad = true;
        }
        if !s.unjudged_bad {
            self.report.steps_matching += s.unjudged;
        }
        if !immediate {
            self.report.steps_judged_late += s.unjudged.saturating_sub(1);
        }
        s.unjudged = 0;
        s.unjudged_bad = false;
        s.excuse = None;
        clear_dirty(&mut s.dirty);
        Ok(())
    }

    fn diverge(
        &mut self,
        space: SpaceId,
        kind: Mismatch,
        detail: String,
        around: Option<(&[Shape], &[Shape], u64, u64)>,
    ) {
        *self.report.divergences.entry(kind.name()).or_default() += 1;
        if self.report.first_divergence.is_some() {
            return;
        }
        let near = |list: &[Shape], lo: u64, hi: u64| -> Vec<String> {
            let first = list.iter().position(|v| v.end > lo).unwrap_or(list.len());
            let last = list.iter().rposition(|v| v.start < hi).map_or(0, |p| p + 1);
            let from = first.saturating_sub(2);
            let to = (last + 2).min(list.len()).max(from);
            list[from..to].iter().map(ToString::to_string).collect()
        };
        let (ours, kernel) = match around {
            Some((ours, kernel, lo, hi)) => (near(ours, lo, hi), near(kernel, lo, hi)),
            None => (Vec::new(), Vec::new()),
        };
        let op = self
            .spaces
            .get(&space)
            .and_then(|s| s.last_op.as_ref())
            .map_or(String::new(), ToString::to_string);
        self.report.first_divergence = Some(Divergence {
            step: self.report.steps,
            space,
            op,
            kind,
            detail,
            ours,
            kernel,
        });
    }

    /// Copies the kernel's VMAs of a window into the model.
    fn copy_window(
        &mut self,
        space: SpaceId,
        vmas: &[SnapshotVma],
        kernel_indices: &[usize],
        window: &compare::Window,
        kind: Resync,
    ) -> Result<(), ReplayError> {
        if kind == Resync::StackGrowth
            && let [k] = kernel_indices
        {
            let s = self.spaces.get_mut(&space).expect("space exists");
            if s.mm.expand_stack(vmas[*k].start).is_ok() {
                s.learned.touched(&[(window.start, window.end)]);
                return Ok(());
            }
        }
        self.copy_kernel(
            space,
            vmas,
            kernel_indices,
            Some((window.start, window.end)),
        )
    }

    /// Replaces the model's VMAs in `range` (all of them if `None`) by the kernel's VMAs at
    /// `indices`. VMAs with anonymous pages get anon_vmas of their own, which keeps them apart
    /// from each other as in the kernel. Other neighbours that look mergeable stay mergeable:
    /// if the kernel keeps them apart for a reason the trace cannot show (an anon_vma whose
    /// pages were freed), a later merge of the model's is explained at the next comparison;
    /// inventing anon_vmas for them instead would block merges the kernel makes.
    fn copy_kernel(
        &mut self,
        space: SpaceId,
        vmas: &[SnapshotVma],
        indices: &[usize],
        range: Option<(u64, u64)>,
    ) -> Result<(), ReplayError> {
        let task_size = self.config.task_size;
        let mut new = Vec::new();
        for &i in indices {
            let k = &vmas[i];
            if k.end > task_size + 0x1000 {
                // The vsyscall page lies above the task; Linux keeps it out of the tree.
                continue;
            }
            // A VMA the capture read without its VmFlags (a maps line) keeps the flags the
            // model had there, if its access bits agree: only they are known.
            let known = self.spaces.get(&space).filter(|_| k.flags.is_empty());
            let known = known.and_then(|s| {
                let v = s.mm.vma_lookup(k.start)?;
                let bits = v.flags().bits();
                let perms = u64::from(k.read)
                    | u64::from(k.write) << 1
                    | u64::from(k.exec) << 2
                    | u64::from(k.shared) << 3;
                (bits & 0xf == perms).then_some(bits)
            });
            new.push(self.model_vma(k, known));
        }
        let (step, line) = (self.report.steps, self.line);
        let s = self.spaces.get_mut(&space).expect("space exists");
        match range {
            Some(range) => s.learned.touched(&[range]),
            None => s.learned.forget(),
        }
        let (lo, hi) = range.unwrap_or((0, u64::MAX));
        let old: Vec<(u64, u64)> = s.mm.range(lo, hi).map(|v| (v.start(), v.end())).collect();
        for (start, end) in old {
            s.mm.munmap(start, end - start).map_err(|e| ReplayError {
                step,
                line,
                reason: format!(
                    "cannot unmap {start:#x}-{end:#x} to copy the kernel's layout: {e}"
                ),
            })?;
        }
        for vma in new {
            let (start, end) = (vma.start(), vma.end());
            s.mm.link_vma(vma).map_err(|e| ReplayError {
                step,
                line,
                reason: format!("cannot map the kernel's {start:#x}-{end:#x}: {e}"),
            })?;
        }
        Ok(())
    }

    /// The model's VMA for a kernel one (with an anon_vma of its own if it has anonymous
    /// pages). `known` is the model's flags there, for a kernel VMA shown without its
    /// `VmFlags`; without them, the flags follow from the permissions.
    fn model_vma(&mut self, k: &SnapshotVma, known: Option<u64>) -> Vma {
        let mut flags = compare::flags_of(k);
        if let Some(bits) = known {
            flags = bits;
        } else if k.flags.is_empty() {
            flags = u64::from(k.read) | u64::from(k.write) << 1 | u64::from(k.exec) << 2;
            flags |= 0x10 | 0x20 | 0x40;
            if k.shared {
                flags |= 0x8 | 0x80;
            }
        }
        let mut vma = Vma::anonymous(k.start, k.end, VmFlags::from_bits(flags));
        match &k.backing {
            crate::format::Backing::File(id) => {
                let file = self.file(*id, None);
                vma = vma.with_file(file).with_pgoff(k.offset >> 12);
            }
            crate::format::Backing::Anon | crate::format::Backing::Named(_) => {}
        }
        if k.anon_pages {
            self.next_anon += 1;
            vma = vma.with_anon_vma(AnonVma::new(AnonVmaId(self.next_anon)));
        }
        vma
    }
}

/// Empties a space's list of changed ranges, keeping its memory (a list every step fills).
fn clear_dirty(dirty: &mut Option<Vec<(u64, u64)>>) {
    match dirty {
        Some(ranges) => ranges.clear(),
        None => *dirty = Some(Vec::new()),
    }
}

/// `[lo, hi)` widened to the chains of the model's VMAs that meet `[lo - 1, hi + 1)`: the
/// VMAs on both sides that [`pieces_of_one`] links to them, one after the other.
fn chain_around<I: VmaIndex>(mm: &AddressSpace<I>, lo: u64, hi: u64) -> (u64, u64) {
    let Some(mut first) = mm
        .find_vma(lo.saturating_sub(1))
        .filter(|v| v.start() <= hi)
    else {
        return (lo, hi);
    };
    let mut last = if first.end() > hi {
        first
    } else {
        mm.vma_below(hi.saturating_add(1)).unwrap_or(first)
    };
    while let Some(prev) = mm.vma_below(first.start())
        && pieces_of_one(prev, first)
    {
        first = prev;
    }
    while let Some(next) = mm.find_vma(last.end())
        && pieces_of_one(last, next)
    {
        last = next;
    }
    (lo.min(first.start()), hi.max(last.end()))
}

/// Whether `b`, right after `a`, may be a piece of the same mapping: the same file (or
/// anonymous memory) at contiguous offsets, and the same flags that only `mmap` sets
/// (`mprotect`, `madvise` and `mlock` cut mappings into pieces that differ in the others).
fn pieces_of_one(a: &Vma, b: &Vma) -> bool {
    let from_mmap = VmFlags::SHARED
        | VmFlags::MAYREAD
        | VmFlags::MAYWRITE
        | VmFlags::MAYEXEC
        | VmFlags::MAYSHARE
        | VmFlags::GROWSDOWN
        | VmFlags::NORESERVE
        | VmFlags::SYNC
        | VmFlags::DROPPABLE
        | VmFlags::SPECIAL;
    a.end() == b.start()
        && a.file().map(|f| f.id()) == b.file().map(|f| f.id())
        && a.pgoff_at(b.start()) == b.pgoff()
        && (a.flags() & from_mmap) == (b.flags() & from_mmap)
}

/// Whether `v` is private anonymous memory that is not writable and has neither
/// `VM_ACCOUNT` nor `VM_NORESERVE`: it never had an anon_vma, and was a VMA of its own before
/// any fault in the pieces around it. An anon_vma comes from a write fault, which needs
/// `VM_WRITE`; private writable memory is accounted (`mmap` and `mprotect` set `VM_ACCOUNT`
/// unless `VM_NORESERVE`), and `mprotect` takes `VM_ACCOUNT` away again only from anonymous
/// memory without an anon_vma (Linux 6.18 `mprotect_fixup()`). So when it was cut off (or
/// mapped), the mapping it belonged to had no anon_vma yet, and its neighbours were cut apart
/// from each other then too.
fn cut_before_any_fault(v: &Vma) -> bool {
    v.file().is_none()
        && !v.flags().intersects(
            VmFlags::SHARED
                | VmFlags::MAYSHARE
                | VmFlags::WRITE
                | VmFlags::ACCOUNT
                | VmFlags::NORESERVE,
        )
}

fn op_result(op: &Op) -> Option<SysResult> {
    match op {
        Op::Mmap { ret, .. }
        | Op::Munmap { ret, .. }
        | Op::Mprotect { ret, .. }
        | Op::Mremap { ret, .. }
        | Op::Madvise { ret, .. }
        | Op::Other { ret, .. } => Some(*ret),
        Op::Brk { ret, .. } => Some(Ok(*ret)),
        Op::NewSpace { .. } | Op::Fork { .. } | Op::Exit => None,
    }
}

/// Whether the call's success value says something (an address, a key), rather than 0.
fn returns_value(op: &Op) -> bool {
    matches!(
        op,
        Op::Mmap { .. }
            | Op::Mremap { .. }
            | Op::Other {
                call: OtherCall::PkeyAlloc,
                ..
            }
    )
}

fn show_result(r: SysResult) -> String {
    match r {
        Ok(v) => format!("{v:#x}"),
        Err(e) => e.to_string(),
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "first divergence at step {} (address space {}): {} ({})",
            self.step,
            self.space,
            self.kind.name(),
            self.detail
        )?;
        writeln!(f, "  operation: {}", self.op)?;
        writeln!(f, "  ours:")?;
        for line in &self.ours {
            writeln!(f, "    {line}")?;
        }
        writeln!(f, "  kernel:")?;
        for line in &self.kernel {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// Writes `name count, name count` or `none`.
fn counts<K: std::fmt::Display>(map: &BTreeMap<K, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let percent = 100.0 * self.steps_matching as f64 / self.steps.max(1) as f64;
        if self.checked {
            write!(
                f,
                "steps:           {} ({} matching the kernel, {percent:.2}%",
                self.steps, self.steps_matching
            )?;
            if self.steps_unchecked > 0 {
                write!(
                    f,
                    "; {} unchecked: no snapshot after them",
                    self.steps_unchecked
                )?;
            }
            writeln!(f, ")")?;
            writeln!(
                f,
                "comparisons:     {} snapshots ({} steps judged at a later snapshot)",
                self.comparisons, self.steps_judged_late
            )?;
            writeln!(f, "divergences:     {}", counts(&self.divergences))?;
            writeln!(f, "resynchronised:  {}", counts(&self.resyncs))?;
        } else {
            writeln!(f, "steps:           {} (not checked)", self.steps)?;
        }
        writeln!(f, "operations:      {}", counts(&self.ops))?;
        writeln!(
            f,
            "failed calls:    reproduced {}; skipped {}",
            counts(&self.failures_reproduced),
            counts(&self.failures_skipped)
        )?;
        writeln!(
            f,
            "address spaces:  {}, peak VMAs {}",
            self.spaces, self.peak_vmas
        )?;
        if let Some(tree) = self.peak_tree {
            writeln!(
                f,
                "tree at peak:    height {}, {} nodes, {:.1} bytes per VMA",
                tree.height, tree.nodes, tree.bytes_per_vma
            )?;
        }
        writeln!(
            f,
            "speed:           {:.0} ops/s in the model ({} engine), {:.1} ms in all",
            self.ops_per_sec(),
            self.engine.name(),
            self.elapsed.as_secs_f64() * 1e3
        )?;
        if self.cut_short {
            writeln!(
                f,
                "cut short:       the capture was stopped before the program ended; these \
                 are the steps recorded until then"
            )?;
        }
        if let Some(first) = &self.first_divergence {
            write!(f, "{first}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A space and its model's VMAs (start, end, anon_vma).
    type State = (SpaceId, Vec<(u64, u64, Option<AnonVma>)>);

    /// The model's VMAs of the space of each snapshot record of a replay of `trace`, after
    /// it, learning anon_vmas everywhere at each full snapshot or not.
    fn after_snapshots(trace: &Trace, check: bool, everywhere: bool) -> Vec<State> {
        let options = ReplayOptions {
            check,
            engine: Engine::Maple,
        };
        let mut replayer = Replayer::<MapleIndex>::new(borrowed(trace), &trace.header, &options);
        replayer.learn_everywhere = everywhere;
        let mut states = Vec::new();
        replayer
            .walk_with(None, &mut |_| {}, &mut |r, done| {
                if let Some((space, true)) = done
                    && let Some(s) = r.spaces.get(&space)
                {
                    let vmas = s.mm.iter().map(|v| (v.start(), v.end(), v.anon_vma()));
                    states.push((space, vmas.collect()));
                }
            })
            .expect("the trace replays");
        states
    }

    /// A mapping made right beside a VMA the replay gave an anon_vma (copied with its `A`)
    /// joins that VMA's run, though neither the mark nor the marked VMA changed: the pass
    /// that learns where the model changed looks at the whole chain around the change.
    #[test]
    fn a_change_beside_an_unchanged_mark_joins_its_run() {
        let stack = "v 7ffffffde000 7ffffffff000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac\n";
        let marked = "v 7f0000000000 7f0000002000 rw-p 0 - rd,wr,mr,mw,me,ac A\n";
        let far = "v 7f0000100000 7f0000101000 r--p 0 - rd,mr,mw,me\n";
        let text = format!(
            "#mapletrace 1\nN 1 t1 demo\nS 1 2\n{marked}{stack}\
             m 1 t1 0 1000 r-- pa - 0 7f0000100000\nS 1 3\n{marked}{far}{stack}\
             m 1 t1 7f0000002000 1000 rwx pa - 0 7f0000002000\nS 1 4\n{marked}\
             v 7f0000002000 7f0000003000 rwxp 0 - rd,wr,ex,mr,mw,me,ac\n{far}{stack}X 1\n"
        );
        let trace = crate::parse(text.as_bytes()).expect("the trace parses");
        for check in [true, false] {
            let learned = after_snapshots(&trace, check, false);
            assert_eq!(learned, after_snapshots(&trace, check, true));
            let (_, last) = learned.last().expect("snapshots");
            let anon = |at: u64| last.iter().find(|v| v.0 == at).and_then(|v| v.2);
            assert!(anon(0x7f00_0000_0000).is_some());
            assert_eq!(anon(0x7f00_0000_2000), anon(0x7f00_0000_0000));
        }
    }

    /// Learning anon_vmas only where the marks or the model changed since the last full
    /// snapshot leaves the model as learning everywhere at every full snapshot does: on every
    /// shipped trace (format 1, a full snapshot after each change), checked or not.
    #[test]
    fn learning_where_things_changed_is_learning_everywhere() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/traces");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("testdata/traces")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".mtrace.zst"))
            .collect();
        files.sort();
        assert!(!files.is_empty());
        for path in files {
            let trace = crate::io::read_file(&path).expect("a shipped trace");
            for check in [true, false] {
                let learned = after_snapshots(&trace, check, false);
                let everywhere = after_snapshots(&trace, check, true);
                assert_eq!(learned.len(), everywhere.len());
                for (i, (a, b)) in learned.iter().zip(&everywhere).enumerate() {
                    assert_eq!(a, b, "{}: snapshot record {i}", path.display());
                }
            }
        }
    }
}
