//! From ptrace events to records: address spaces, threads, files, and when to take a snapshot.
//!
//! The tracer reports what the kernel told it (a task entered or left a system call, forked,
//! exec'd or died) and the [`Recorder`] keeps the books and writes the records. It reads the
//! process only through [`Proc`], so every rule below is tested with made-up layouts.
//!
//! # The books
//!
//! - R1. Every task the trace follows belongs to exactly one address space, and a space's
//!   `members` are exactly the tasks that belong to it. A space dies (`X`) when its last member
//!   leaves by exit or exec. Tasks that run before the first exec (the starting shell) belong
//!   to none and are not recorded.
//! - R2. A space's `in_flight` counts its members that are between the entry and the exit stop
//!   of a call that may change the layout ([`Class::ChangesLayout`]); `ended` counts such calls
//!   that left (returned, or were dropped with their task).
//! - R9. A fork copies the parent at an instant between its entry stop and its event stop, and
//!   stops of other threads reach the tracer in no set order with it: a sibling's call that
//!   returned after the fork's entry stop may have run after the copy, though its op is
//!   recorded before `F`. So `F` is `racing` when a call of the parent's space was in flight at
//!   any time between the two stops: still in flight at the event, or ended since the entry.
//! - R3. A snapshot is read only when `in_flight` is 0 right after an op was recorded, so it
//!   shows exactly the effect of the ops before it; while another member is inside such a
//!   call, the snapshot waits for the last one to leave. An `S` is written only when the
//!   layout or the flags differ from the last `S` written for that space (whether a VMA has
//!   anonymous pages does not count), except right after `N` and `F`, which always get one.
//! - R4. Space ids, thread ids and file ids count from 1 in order of first appearance in the
//!   records.
//! - R5. `/proc/TID/smaps` walks the page tables of every VMA (about 18 ms for a process with
//!   200 MB resident), `/proc/TID/maps` does not (0.4 ms). So the layout is read from `maps`
//!   first, and `smaps` is read only when `maps` differs from the last snapshot, or when a call
//!   since the last read may have changed flags alone ([`Entry::may_change_flags`]: `madvise`,
//!   the `mlock` family, `mseal`; and [`Entry::replaces_mappings`]: `MAP_FIXED` mappings). A
//!   `maps` line that is unchanged keeps the flags it had, since only those calls change the
//!   flags of a VMA in place.
//! - R6. A replay judges the ops of one thread against the layout right after them (no `S`
//!   means the layout did not change, R3), but ops of several threads since the last `S` only
//!   at the next `S`. So when a task reaches its exit stop (`PTRACE_EVENT_EXIT`, before the
//!   kernel tears its memory down), no call of its space is in flight, and ops of several
//!   threads were recorded since the space's last `S`, the layout is written now, changed or
//!   not. A call the task was inside never returns; it is dropped from the books then, and
//!   a snapshot that waited for it (R3) is read then, with whatever the call left.
//! - R8. Where the kernel answers `PROCMAP_QUERY` (Linux 6.11+), a call is read alone: the
//!   VMAs around the address ranges it may have changed ([`Op::ranges`]) are looked up one by
//!   one and compared with the last snapshot, so its cost grows with the VMAs it touched, not
//!   with the address space. Those VMAs carry no `VmFlags` (maps lines have none; an
//!   unchanged one keeps the flags it had, R5; a piece of an old VMA, or one that took an old
//!   VMA in, has the old one's flags, since Linux copies flags to both pieces of a split and
//!   merges only VMAs whose flags agree). The whole layout is still read with `smaps`
//!   after a call without known ranges, after a call that may change flags alone, and now
//!   and then ([`FULL_EVERY`], or every `n / 8` calls in a space of `n` VMAs), so that what
//!   no call shows (a stack grown by page faults) and every VMA's flags reach the trace.
//! - R7. The snapshot after `N` or `F` is written whole (`S`); every later one gives only the
//!   windows that changed since the space's last snapshot (`D`), so a trace grows with what
//!   the program changed, not with the size of its address space.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::CaptureStats;
use maple_procmap::{MapsVma, QueryError};

use super::layout::{FileKey, FileTable, RawVma, parse_smaps};
use super::syscalls::{Class, Entry, decode};
use crate::format::{Backing, DeltaWindow, Op, OpenMode, Record, SnapshotVma, SpaceId, ThreadId};

/// A file open as a descriptor: its identity, its path (only its base name is written), and
/// its size when it is a regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FdFile {
    pub(crate) key: FileKey,
    pub(crate) path: String,
    pub(crate) size: Option<u64>,
}

/// The recorder's window on the traced processes.
pub(crate) trait Proc {
    /// The text of `/proc/TID/smaps`, or `None` when the task or its memory is gone.
    fn smaps(&mut self, tid: i32) -> Option<String>;
    /// The text of `/proc/TID/maps` (cheap: no page-table walk, but no `VmFlags`).
    fn maps(&mut self, tid: i32) -> Option<String>;
    /// The file open as descriptor `fd` in task `tid`.
    fn fd_file(&mut self, tid: i32, fd: i32) -> Option<FdFile>;
    /// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) descriptor `fd` of task `tid` was
    /// opened with.
    fn fd_mode(&mut self, tid: i32, fd: i32) -> Option<OpenMode>;
    /// The process a pidfd of task `tid` refers to.
    fn pidfd_pid(&mut self, tid: i32, fd: i32) -> Option<i32>;
    /// Opens VMA queries (`PROCMAP_QUERY`) on the address space of task `tid`, for `space`;
    /// `false` when the kernel has none (R8).
    fn open_queries(&mut self, space: SpaceId, tid: i32) -> bool;
    /// Closes the queries of a space that ended.
    fn close_queries(&mut self, space: SpaceId);
    /// The VMA of `space` that covers `addr`, or the next one above it.
    fn query(&mut self, space: SpaceId, addr: u64) -> Result<Option<MapsVma>, QueryError>;
}

/// Layout-changing calls read by queries between two whole reads, at least (R8).
pub(crate) const FULL_EVERY: usize = 64;

#[derive(Debug)]
struct Space {
    /// The tasks in this space (R1).
    members: BTreeSet<i32>,
    /// Members inside a layout-changing call (R2).
    in_flight: usize,
    /// Layout-changing calls that left flight so far (R2, R9).
    ended: u64,
    /// The layout as last written (R3), by start address.
    last: Option<BTreeMap<u64, SnapshotVma>>,
    /// The address ranges the calls since the last read may have changed; `None` when one
    /// may have changed anything (R8).
    dirty: Option<Vec<(u64, u64)>>,
    /// Whether the kernel answers VMA queries for this space (R8).
    queries: bool,
    /// Calls read by queries since the last whole read (R8).
    since_full: usize,
    /// The break after the last `brk` (to know what the next one changed).
    brk: Option<u64>,
    /// A call that may change VMA flags without changing `/proc/TID/maps` completed since
    /// the last read (R5).
    flags_dirty: bool,
    /// A call that may have replaced mappings with new ones that look the same completed
    /// since the last read (R5, R8).
    replaced: bool,
    /// Threads with ops recorded since the last snapshot written (R6).
    threads_since: BTreeSet<ThreadId>,
}

impl Space {
    /// A layout-changing call of this space left flight (R2).
    fn call_ended(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.ended += 1;
    }
}

#[derive(Debug)]
struct Task {
    space: SpaceId,
    /// Given on the task's first record (R4).
    thread: Option<ThreadId>,
    /// A recorded call between its entry and exit stops.
    pending: Option<Entry>,
    /// Inside a call that may fork: the space's `ended` at its entry stop (R9).
    fork_entered: Option<u64>,
}

/// The books and the records written so far.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    tasks: HashMap<i32, Task>,
    spaces: BTreeMap<SpaceId, Space>,
    spaces_made: u32,
    threads_made: u32,
    files: FileTable,
    records: Vec<Record>,
    stats: CaptureStats,
}

impl Recorder {
    /// The number of the recorded call task `tid` is inside (between its entry and exit).
    pub(crate) fn pending_call(&self, tid: i32) -> Option<u64> {
        self.tasks.get(&tid)?.pending.map(|e| e.nr)
    }

    /// The records made since the last call, to be written out.
    pub(crate) fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    /// The statistics so far.
    pub(crate) fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// The statistics, for the tracer's own counters.
    pub(crate) fn stats_mut(&mut self) -> &mut CaptureStats {
        &mut self.stats
    }

    /// Task `tid` exec'd `program` successfully. `former` is the tid the task had before:
    /// when a thread other than the leader execs, it takes over the leader's tid and the old
    /// leader vanishes without an exit report.
    ///
    /// Writes `X` for the old space if the task was its last member, then `N` and a snapshot.
    pub(crate) fn exec(&mut self, tid: i32, former: i32, program: &str, proc: &mut dyn Proc) {
        if former != tid {
            self.leave(tid, proc);
            if let Some(task) = self.tasks.remove(&former) {
                if let Some(space) = self.spaces.get_mut(&task.space) {
                    space.members.remove(&former);
                    space.members.insert(tid);
                }
                self.tasks.insert(tid, task);
            }
        }
        let thread = self.tasks.get(&tid).and_then(|t| t.thread);
        self.leave(tid, proc);
        let thread = thread.unwrap_or_else(|| self.new_thread());
        let space = self.new_space(tid);
        self.tasks.insert(
            tid,
            Task {
                space,
                thread: Some(thread),
                pending: None,
                fork_entered: None,
            },
        );
        self.push_op(
            space,
            Some(thread),
            Op::NewSpace {
                program: program.to_owned(),
            },
        );
        self.snapshot(space, tid, proc);
    }

    /// Task `parent` made task `child`, sharing its address space (`CLONE_VM`: threads,
    /// vfork, posix_spawn) or with a copy of it (fork: `F` and a snapshot of the child, read
    /// before the child runs).
    pub(crate) fn clone(&mut self, parent: i32, child: i32, shares_vm: bool, proc: &mut dyn Proc) {
        let Some(parent_space) = self.tasks.get(&parent).map(|t| t.space) else {
            return;
        };
        // A tid is only reused after its exit was reported; be safe all the same.
        self.leave(child, proc);
        if shares_vm {
            if let Some(space) = self.spaces.get_mut(&parent_space) {
                space.members.insert(child);
            }
            self.tasks.insert(
                child,
                Task {
                    space: parent_space,
                    thread: None,
                    pending: None,
                    fork_entered: None,
                },
            );
            return;
        }
        // Siblings' calls in flight at any time since the fork's entry may have run before or
        // after the copy, whichever side of `F` their ops are recorded (R9).
        let entered = self
            .tasks
            .get_mut(&parent)
            .and_then(|t| t.fork_entered.take());
        let racing = self
            .spaces
            .get(&parent_space)
            .is_some_and(|s| s.in_flight > 0 || entered.is_some_and(|ended| ended != s.ended));
        let thread = self.new_thread();
        let space = self.new_space(child);
        self.tasks.insert(
            child,
            Task {
                space,
                thread: Some(thread),
                pending: None,
                fork_entered: None,
            },
        );
        self.push_op(
            space,
            Some(thread),
            Op::Fork {
                parent: parent_space,
                racing,
            },
        );
        self.snapshot(space, child, proc);
    }

    /// Task `tid` is gone (its exit was reported).
    pub(crate) fn exit(&mut self, tid: i32, proc: &mut dyn Proc) {
        self.leave(tid, proc);
    }

    /// Task `tid` is about to exit, its memory still mapped (`PTRACE_EVENT_EXIT`): a call it
    /// was inside will not return, and the space's layout is written if a replay needs it to
    /// judge ops of several threads (R6).
    pub(crate) fn exiting(&mut self, tid: i32, proc: &mut dyn Proc) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        let dropped = task.pending.take();
        let space_id = task.space;
        let Some(space) = self.spaces.get_mut(&space_id) else {
            return;
        };
        let dropped_call = dropped.is_some_and(|e| e.class() == Class::ChangesLayout);
        if dropped_call {
            space.call_ended();
            space.flags_dirty = true;
            space.dirty = None;
        }
        if space.in_flight > 0 {
            return;
        }
        let update = if space.threads_since.len() > 1 {
            self.read_whole(space_id, tid, proc, true)
        } else if dropped_call {
            // The snapshot that waited for this call (R3), with what the call left.
            self.refresh(space_id, tid, proc)
        } else {
            return;
        };
        self.push_snapshot(update);
    }

    /// Task `tid` entered a system call.
    pub(crate) fn entry(&mut self, tid: i32, entry: Entry) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        task.fork_entered = None;
        if entry.may_fork() {
            task.fork_entered = self.spaces.get(&task.space).map(|s| s.ended);
        }
        let class = entry.class();
        if class == Class::Ignored {
            return;
        }
        let before = task.pending.replace(entry);
        let Some(space) = self.spaces.get_mut(&task.space) else {
            return;
        };
        // A task cannot enter a call before leaving the last one; if the stops ever said so,
        // keep R2 by forgetting the older call.
        if before.is_some_and(|e| e.class() == Class::ChangesLayout) {
            space.call_ended();
        }
        if class == Class::ChangesLayout {
            space.in_flight += 1;
        }
    }

    /// Task `tid` left the system call it entered, which returned `ret`: records the op, and a
    /// snapshot when the layout may have changed and no other call of the space is in flight
    /// (R3).
    pub(crate) fn exit_call(&mut self, tid: i32, ret: u64, proc: &mut dyn Proc) {
        let Some(task) = self.tasks.get_mut(&tid) else {
            return;
        };
        let Some(entry) = task.pending.take() else {
            return;
        };
        let space_id = task.space;
        let changes_layout = entry.class() == Class::ChangesLayout;
        let decoded = decode(&entry, ret);
        let mut layout_read = false;
        let mut update = None;
        if changes_layout {
            let Some(space) = self.spaces.get_mut(&space_id) else {
                return;
            };
            space.call_ended();
            space.flags_dirty |= entry.may_change_flags();
            space.replaced |= entry.replaces_mappings();
            let ranges = decoded.as_ref().and_then(|d| d.op.ranges(space.brk));
            match (&mut space.dirty, ranges) {
                (Some(dirty), Some(ranges)) => dirty.extend(ranges),
                (dirty, _) => *dirty = None,
            }
            if let Some(Op::Brk { ret, .. }) = decoded.as_ref().map(|d| &d.op) {
                space.brk = Some(*ret);
            }
            if space.in_flight == 0 {
                update = self.refresh(space_id, tid, proc);
                layout_read = true;
            } else {
                self.stats.deferred_snapshots += 1;
            }
        }
        let Some(decoded) = decoded else {
            self.push_snapshot(update);
            return;
        };
        let mut op = decoded.op;
        if let (
            Op::Mmap {
                file,
                mode,
                ret,
                file_size,
                ..
            },
            Some(fd),
        ) = (&mut op, decoded.mmap_fd)
        {
            *mode = proc.fd_mode(tid, fd);
            let layout = self
                .spaces
                .get(&space_id)
                .and_then(|s| s.last.as_ref())
                .filter(|_| layout_read);
            let mapped = ret.ok().and_then(|addr| file_at(layout?, addr));
            let open = proc.fd_file(tid, fd);
            *file_size = open.as_ref().and_then(|f| f.size);
            // The VMA made shows the file (for /dev/zero, the shmem file mmap made instead);
            // a failed call names the descriptor's file, new or not.
            *file = mapped.or_else(|| {
                let open = open?;
                Some(self.files.id(open.key, &open.path, &mut self.records))
            });
        }
        let mut target = Some(space_id);
        if let Some(pid) = decoded.pidfd.and_then(|fd| proc.pidfd_pid(tid, fd)) {
            target = self.tasks.get(&pid).map(|t| t.space);
        }
        match target {
            Some(target) => {
                let thread = self.thread_of(tid);
                self.push_op(target, thread, op);
            }
            // process_madvise on a process outside the trace.
            None => self.stats.foreign_calls += 1,
        }
        self.push_snapshot(update);
    }

    /// Ends the books: writes `X` for every space still alive (tasks that vanished without a
    /// report) and returns the records and statistics.
    pub(crate) fn finish(mut self) -> (Vec<Record>, CaptureStats) {
        let left: Vec<SpaceId> = self.spaces.keys().copied().collect();
        for space in left {
            self.spaces.remove(&space);
            self.push_op(space, None, Op::Exit);
        }
        self.stats.files = self.files.len();
        (self.records, self.stats)
    }

    /// Removes task `tid` from the books; writes `X` if it was its space's last member, or a
    /// snapshot if it died inside the space's last call in flight.
    fn leave(&mut self, tid: i32, proc: &mut dyn Proc) {
        let Some(task) = self.tasks.remove(&tid) else {
            return;
        };
        let Some(space) = self.spaces.get_mut(&task.space) else {
            return;
        };
        space.members.remove(&tid);
        let was_in_flight = task
            .pending
            .is_some_and(|e| e.class() == Class::ChangesLayout);
        if was_in_flight {
            space.call_ended();
        }
        if space.members.is_empty() {
            self.spaces.remove(&task.space);
            proc.close_queries(task.space);
            self.push_op(task.space, None, Op::Exit);
        } else if was_in_flight && space.in_flight == 0 {
            // The call's effect is unknown; show what it left.
            space.flags_dirty = true;
            space.dirty = None;
            if let Some(&other) = space.members.first() {
                let update = self.refresh(task.space, other, proc);
                self.push_snapshot(update);
            }
        }
    }

    fn new_thread(&mut self) -> ThreadId {
        self.threads_made += 1;
        self.stats.threads = self.threads_made;
        ThreadId(self.threads_made)
    }

    fn thread_of(&mut self, tid: i32) -> Option<ThreadId> {
        let existing = self.tasks.get(&tid)?.thread;
        let thread = existing.unwrap_or_else(|| self.new_thread());
        if let Some(task) = self.tasks.get_mut(&tid) {
            task.thread = Some(thread);
        }
        Some(thread)
    }

    fn new_space(&mut self, first_member: i32) -> SpaceId {
        self.spaces_made += 1;
        self.stats.spaces = self.spaces_made;
        let id = SpaceId(self.spaces_made);
        self.spaces.insert(
            id,
            Space {
                members: BTreeSet::from([first_member]),
                in_flight: 0,
                ended: 0,
                last: None,
                dirty: None,
                queries: false,
                since_full: 0,
                brk: None,
                flags_dirty: false,
                replaced: false,
                threads_since: BTreeSet::new(),
            },
        );
        id
    }

    fn push_op(&mut self, space: SpaceId, thread: Option<ThreadId>, op: Op) {
        *self.stats.ops_by_kind.entry(op.name()).or_insert(0) += 1;
        self.stats.ops += 1;
        let failed = match &op {
            Op::Mmap { ret, .. }
            | Op::Munmap { ret, .. }
            | Op::Mprotect { ret, .. }
            | Op::Mremap { ret, .. }
            | Op::Madvise { ret, .. }
            | Op::Other { ret, .. } => ret.is_err(),
            Op::Brk { request, ret } => *request != 0 && request != ret,
            Op::NewSpace { .. } | Op::Fork { .. } | Op::Exit => false,
        };
        if failed {
            self.stats.failed_ops += 1;
        }
        if let (Some(state), Some(thread)) = (self.spaces.get_mut(&space), thread) {
            state.threads_since.insert(thread);
        }
        self.records.push(Record::Op { space, thread, op });
    }

    /// Reads the layout through task `tid`, giving ids to new files (their `f` records are
    /// written now, before whatever uses them).
    fn read_layout(&mut self, tid: i32, proc: &mut dyn Proc) -> Option<Vec<SnapshotVma>> {
        self.stats.smaps_reads += 1;
        let started = Instant::now();
        let text = proc.smaps(tid);
        let raw = text.as_deref().map(parse_smaps).unwrap_or_default();
        let vmas: Vec<SnapshotVma> = raw
            .iter()
            .map(|vma| vma.to_snapshot(&mut self.files, &mut self.records))
            .collect();
        self.stats.layout_time += started.elapsed();
        (!vmas.is_empty()).then_some(vmas)
    }

    /// Reads and writes the whole layout of a space that just began (after `N` or `F`), and
    /// opens its VMA queries (R7, R8).
    fn snapshot(&mut self, space: SpaceId, tid: i32, proc: &mut dyn Proc) {
        let queries = proc.open_queries(space, tid);
        let Some(vmas) = self.read_layout(tid, proc) else {
            return;
        };
        let Some(state) = self.spaces.get_mut(&space) else {
            return;
        };
        state.queries = queries;
        state.dirty = Some(Vec::new());
        state.since_full = 0;
        state.last = Some(vmas.iter().map(|v| (v.start, v.clone())).collect());
        self.push_snapshot(Some(Record::Snapshot { space, vmas }));
    }

    /// Writes a snapshot record made by [`Recorder::refresh`] or [`Recorder::snapshot`].
    fn push_snapshot(&mut self, record: Option<Record>) {
        let Some(record) = record else {
            return;
        };
        let space = match &record {
            Record::Snapshot { space, .. } | Record::Delta { space, .. } => *space,
            _ => return,
        };
        if let Some(state) = self.spaces.get_mut(&space) {
            state.threads_since.clear();
            let vmas = state.last.as_ref().map_or(0, BTreeMap::len);
            self.stats.peak_vmas = self.stats.peak_vmas.max(vmas);
        }
        self.stats.snapshots += 1;
        self.records.push(record);
    }

    /// Reads what the calls since the last read changed in `space`, through task `tid`, and
    /// returns the snapshot to write after the op if anything did (R3, R5, R8). The space's
    /// layout is up to date when it returns.
    fn refresh(&mut self, space: SpaceId, tid: i32, proc: &mut dyn Proc) -> Option<Record> {
        let state = self.spaces.get_mut(&space)?;
        let mut flags_dirty = std::mem::take(&mut state.flags_dirty);
        let replaced = std::mem::take(&mut state.replaced);
        let dirty = state.dirty.replace(Vec::new());
        let size = state.last.as_ref().map_or(0, BTreeMap::len);
        let by_query = state.queries && !flags_dirty && state.since_full < FULL_EVERY.max(size / 8);
        if by_query && let Some(ranges) = dirty {
            state.since_full += 1;
            let started = Instant::now();
            let windows = self.query_windows(space, &ranges, replaced, proc);
            self.stats.layout_time += started.elapsed();
            match windows {
                Ok(windows) => return self.apply(space, windows),
                // The space is gone or the kernel refused: read it whole.
                Err(_) => {
                    if let Some(state) = self.spaces.get_mut(&space) {
                        state.queries = false;
                    }
                }
            }
        }
        // Without queries, `maps` cannot tell a replaced mapping from the old one (R5).
        flags_dirty |= replaced;
        if !flags_dirty && let Some(last) = self.spaces.get(&space).and_then(|s| s.last.as_ref()) {
            self.stats.maps_reads += 1;
            let started = Instant::now();
            if let Some(text) = proc.maps(tid) {
                let raw = parse_smaps(&text);
                let same = raw.len() == last.len()
                    && raw
                        .iter()
                        .zip(last.values())
                        .all(|(now, then)| now.looks_like(then, &self.files));
                self.stats.layout_time += started.elapsed();
                if same || raw.is_empty() {
                    if let Some(state) = self.spaces.get_mut(&space) {
                        state.since_full = 0;
                    }
                    return None;
                }
            }
        }
        self.read_whole(space, tid, proc, false)
    }

    /// Reads the whole layout of `space` with `smaps` and returns the changes since the last
    /// snapshot (an empty `D` when `always`, none otherwise).
    fn read_whole(
        &mut self,
        space: SpaceId,
        tid: i32,
        proc: &mut dyn Proc,
        always: bool,
    ) -> Option<Record> {
        let vmas = self.read_layout(tid, proc)?;
        let state = self.spaces.get_mut(&space)?;
        state.since_full = 0;
        let old: Vec<SnapshotVma> = state.last.as_ref()?.values().cloned().collect();
        let windows = changes(&old, &vmas);
        state.last = Some(vmas.into_iter().map(|v| (v.start, v)).collect());
        (always || !windows.is_empty()).then_some(Record::Delta { space, windows })
    }

    /// Applies change windows to the layout of `space`: the record to write, if any changed.
    fn apply(&mut self, space: SpaceId, windows: Vec<DeltaWindow>) -> Option<Record> {
        if windows.is_empty() {
            return None;
        }
        let last = self.spaces.get_mut(&space)?.last.as_mut()?;
        for window in &windows {
            let gone: Vec<u64> = last
                .range(window.start..window.end)
                .map(|(&start, _)| start)
                .collect();
            for start in gone {
                last.remove(&start);
            }
            last.extend(window.vmas.iter().map(|v| (v.start, v.clone())));
        }
        Some(Record::Delta { space, windows })
    }

    /// The changes in `space` around `ranges`, looked up with VMA queries (R8): each range is
    /// widened by a byte on each side (a merge changes the neighbours) and then until no VMA
    /// of the last layout or of the kernel's crosses its ends. With `replaced`, a VMA in the
    /// ranges that looks as it did may still be a new one: it is written without flags.
    fn query_windows(
        &mut self,
        space: SpaceId,
        ranges: &[(u64, u64)],
        replaced: bool,
        proc: &mut dyn Proc,
    ) -> Result<Vec<DeltaWindow>, QueryError> {
        let mut found: BTreeMap<u64, MapsVma> = BTreeMap::new();
        let mut regions: Vec<(u64, u64)> = Vec::new();
        for &(start, end) in ranges {
            let (mut lo, mut hi) = (start.saturating_sub(1), end.saturating_add(1));
            loop {
                let mut at = lo;
                let mut got = Vec::new();
                while at < hi {
                    self.stats.queries += 1;
                    match proc.query(space, at)? {
                        Some(vma) if vma.start < hi && vma.end > at => {
                            at = vma.end;
                            got.push(vma);
                        }
                        _ => break,
                    }
                }
                let last = self
                    .spaces
                    .get(&space)
                    .and_then(|s| s.last.as_ref())
                    .ok_or(QueryError::Gone)?;
                let mut new_lo = got.first().map_or(lo, |v| v.start.min(lo));
                let mut new_hi = got.last().map_or(hi, |v| v.end.max(hi));
                if let Some((_, v)) = last.range(..=new_lo).next_back()
                    && v.end > new_lo
                {
                    new_lo = v.start;
                }
                if let Some((_, v)) = last.range(..new_hi).next_back()
                    && v.end > new_hi
                {
                    new_hi = v.end;
                }
                found.extend(got.into_iter().map(|v| (v.start, v)));
                if (new_lo, new_hi) == (lo, hi) {
                    break;
                }
                (lo, hi) = (new_lo, new_hi);
            }
            regions.push((lo, hi));
        }
        regions.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (lo, hi) in regions {
            match merged.last_mut() {
                Some(last) if last.1 >= lo => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let mut windows = Vec::new();
        for (lo, hi) in merged {
            let old: Vec<SnapshotVma> = self
                .spaces
                .get(&space)
                .and_then(|s| s.last.as_ref())
                .ok_or(QueryError::Gone)?
                .range(lo..hi)
                .map(|(_, v)| v.clone())
                .collect();
            let mut new = Vec::new();
            for vma in found.range(lo..hi).map(|(_, v)| v) {
                let raw = RawVma::from_query(vma);
                // A VMA that looks as it did keeps the flags it had (R5), unless a call may
                // have put a new one there.
                let maybe_new =
                    replaced && ranges.iter().any(|&(a, b)| vma.start < b && a < vma.end);
                match old.iter().find(|o| o.start == vma.start) {
                    Some(o) if !maybe_new && raw.looks_like(o, &self.files) => {
                        new.push(o.clone());
                    }
                    _ => {
                        let mut fresh = raw.to_snapshot(&mut self.files, &mut self.records);
                        // A piece of an old VMA (a split) or one that took an old VMA in (a
                        // merge, an expansion) has its flags: Linux copies them to both
                        // pieces, and merges only VMAs whose flags agree (R8).
                        if !maybe_new && let Some(o) = old.iter().find(|o| same_mapping(o, &fresh))
                        {
                            fresh.flags.clone_from(&o.flags);
                            fresh.pkey = o.pkey;
                        }
                        new.push(fresh);
                    }
                }
            }
            windows.extend(changes(&old, &new));
        }
        Ok(windows)
    }
}

/// Whether `old` and `new` overlap, one inside the other, and map the same memory the same
/// way as far as a maps line shows: permissions, backing, and the same file offset at the same
/// address.
fn same_mapping(old: &SnapshotVma, new: &SnapshotVma) -> bool {
    let nested = (old.start <= new.start && new.end <= old.end)
        || (new.start <= old.start && old.end <= new.end);
    let offset_at = |v: &SnapshotVma, addr: u64| v.offset.wrapping_add(addr - v.start);
    let at = old.start.max(new.start);
    nested
        && !old.flags.is_empty()
        && (old.read, old.write, old.exec, old.shared)
            == (new.read, new.write, new.exec, new.shared)
        && old.backing == new.backing
        && (old.backing == Backing::Anon || offset_at(old, at) == offset_at(new, at))
}

/// Whether two VMAs of snapshots are the same but for their anonymous pages: pages come and
/// go with every store the program makes, and a snapshot is written for layout changes only
/// (it still carries the `A` marks of the moment).
fn same_vma(x: &SnapshotVma, y: &SnapshotVma) -> bool {
    (
        x.start, x.end, x.read, x.write, x.exec, x.shared, x.offset, x.pkey,
    ) == (
        y.start, y.end, y.read, y.write, y.exec, y.shared, y.offset, y.pkey,
    ) && x.backing == y.backing
        && x.flags == y.flags
}

/// The windows of a `D` record that turn layout `old` into `new`: the smallest address ranges
/// that hold every VMA that differs (whole VMAs of both sides), with `new`'s VMAs in them.
pub(crate) fn changes(old: &[SnapshotVma], new: &[SnapshotVma]) -> Vec<DeltaWindow> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && same_vma(&old[i], &new[j]) {
            i += 1;
            j += 1;
            continue;
        }
        let first_new = j;
        let mut start = u64::MAX;
        if let Some(v) = old.get(i) {
            start = start.min(v.start);
        }
        if let Some(v) = new.get(j) {
            start = start.min(v.start);
        }
        // Take the lowest VMA of either side, then everything that overlaps the growing
        // window, until both sides agree again at its end.
        let mut end = start;
        loop {
            let mut grew = false;
            if let Some(v) = old.get(i)
                && (v.start < end || v.start == start)
            {
                end = end.max(v.end);
                i += 1;
                grew = true;
            }
            if let Some(v) = new.get(j)
                && (v.start < end || v.start == start)
            {
                end = end.max(v.end);
                j += 1;
                grew = true;
            }
            if !grew {
                break;
            }
        }
        out.push(DeltaWindow {
            start,
            end,
            vmas: new[first_new..j].to_vec(),
        });
    }
    out
}

/// The file id of the VMA holding `addr`, if it maps a file.
fn file_at(vmas: &BTreeMap<u64, SnapshotVma>, addr: u64) -> Option<crate::format::FileId> {
    let (_, vma) = vmas.range(..=addr).next_back()?;
    match vma.backing {
        Backing::File(id) if addr < vma.end => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::syscalls::nr;
    use super::*;

    /// A fake process table: each task reads the layout of its "mm".
    #[derive(Default)]
    struct FakeProc {
        mm_of: HashMap<i32, u32>,
        layouts: HashMap<u32, String>,
        fds: HashMap<(i32, i32), FdFile>,
        reads: usize,
        maps_reads: usize,
        /// Whether the fake kernel answers VMA queries, and the mm of each space.
        queries: bool,
        space_mm: HashMap<SpaceId, u32>,
    }

    impl Proc for FakeProc {
        fn smaps(&mut self, tid: i32) -> Option<String> {
            self.reads += 1;
            self.layouts.get(self.mm_of.get(&tid)?).cloned()
        }
        fn maps(&mut self, tid: i32) -> Option<String> {
            self.maps_reads += 1;
            self.layouts.get(self.mm_of.get(&tid)?).cloned()
        }
        fn fd_file(&mut self, tid: i32, fd: i32) -> Option<FdFile> {
            self.fds.get(&(tid, fd)).cloned()
        }
        fn fd_mode(&mut self, tid: i32, fd: i32) -> Option<OpenMode> {
            self.fds.contains_key(&(tid, fd)).then_some(OpenMode::Read)
        }
        fn pidfd_pid(&mut self, _tid: i32, _fd: i32) -> Option<i32> {
            None
        }
        fn open_queries(&mut self, space: SpaceId, tid: i32) -> bool {
            if let Some(&mm) = self.mm_of.get(&tid) {
                self.space_mm.insert(space, mm);
            }
            self.queries
        }
        fn close_queries(&mut self, space: SpaceId) {
            self.space_mm.remove(&space);
        }
        fn query(&mut self, space: SpaceId, addr: u64) -> Result<Option<MapsVma>, QueryError> {
            let mm = self.space_mm.get(&space).ok_or(QueryError::Gone)?;
            let text = self.layouts.get(mm).ok_or(QueryError::Gone)?;
            Ok(parse_smaps(text)
                .iter()
                .map(RawVma::to_query)
                .find(|v| v.end > addr))
        }
    }

    const START: &str = "1000-2000 r-xp 00000000 fe:00 11 /bin/prog\nVmFlags: rd ex\n";

    fn text(records: &[Record]) -> String {
        records.iter().map(|r| format!("{r}\n")).collect()
    }

    fn mmap(len: u64) -> Entry {
        Entry {
            nr: nr::MMAP,
            args: [0, len, 3, 0x22, u64::MAX, 0],
        }
    }

    /// exec, an mmap, fork, threads, exit: the records, the ids and the snapshots.
    #[test]
    fn a_small_life() {
        let mut proc = FakeProc::default();
        proc.mm_of.insert(100, 1);
        proc.layouts.insert(1, START.to_owned());
        let mut rec = Recorder::default();
        rec.exec(100, 100, "prog", &mut proc);
        // An mmap that changes the layout.
        rec.entry(100, mmap(0x1000));
        proc.layouts.insert(
            1,
            format!("{START}5000-6000 rw-p 00000000 00:00 0 \nVmFlags: rd wr\n"),
        );
        rec.exit_call(100, 0x5000, &mut proc);
        // brk(NULL) reads nothing.
        let reads = proc.reads;
        rec.entry(
            100,
            Entry {
                nr: nr::BRK,
                args: [0; 6],
            },
        );
        rec.exit_call(100, 0x9000, &mut proc);
        assert_eq!(proc.reads, reads);
        // A thread, then a fork by the thread.
        rec.clone(100, 101, true, &mut proc);
        proc.mm_of.insert(101, 1);
        proc.mm_of.insert(102, 2);
        proc.layouts.insert(2, START.to_owned());
        rec.clone(101, 102, false, &mut proc);
        // A munmap that fails changes nothing: no snapshot.
        rec.entry(
            101,
            Entry {
                nr: nr::MUNMAP,
                args: [0x1001, 0x1000, 0, 0, 0, 0],
            },
        );
        rec.exit_call(101, 0u64.wrapping_sub(22), &mut proc);
        rec.exit(102, &mut proc);
        rec.exit(101, &mut proc);
        rec.exit(100, &mut proc);
        let (records, stats) = rec.finish();
        assert_eq!(
            text(&records),
            "\
N 1 t1 prog
f f1 prog
S 1 1
v 1000 2000 r-xp 0 f1 rd,ex
m 1 t1 0 1000 rw- pa - 0 5000
D 1 1
w 5000 6000 1
v 5000 6000 rw-p 0 - rd,wr
b 1 t1 0 9000
F 2 1 t2
S 2 1
v 1000 2000 r-xp 0 f1 rd,ex
u 1 t3 1001 1000 !EINVAL
X 2
X 1
"
        );
        assert_eq!(stats.spaces, 2);
        assert_eq!(stats.threads, 3);
        assert_eq!(stats.failed_ops, 1);
        assert_eq!(stats.snapshots, 3);
        assert_eq!(stats.ops_by_kind.get("mmap"), Some(&1));
        crate::parse(format!("#mapletrace 2\n{}", text(&records)).as_bytes()).unwrap();
    }

    /// `maps` is read first; `smaps` only when `maps` changed or flags may have changed alone
    /// (R5); a change of anonymous pages alone writes no snapshot.
    #[test]
    fn maps_first_then_smaps() {
        let mut proc = FakeProc::default();
        proc.mm_of.insert(1, 1);
        let anon = "5000-6000 rw-p 00000000 00:00 0 \n";
        proc.layouts
            .insert(1, format!("{START}{anon}VmFlags: rd wr\n"));
        let mut rec = Recorder::default();
        rec.exec(1, 1, "prog", &mut proc);
        let call = |rec: &mut Recorder, proc: &mut FakeProc, nr, args| {
            rec.entry(1, Entry { nr, args });
            rec.exit_call(1, 0, proc);
        };
        // A failed munmap: maps unchanged, no smaps read, no snapshot.
        let smaps_before = proc.reads;
        call(
            &mut rec,
            &mut proc,
            nr::MUNMAP,
            [0x5001, 0x1000, 0, 0, 0, 0],
        );
        assert_eq!((proc.reads, proc.maps_reads), (smaps_before, 1));
        // Pages appear (A): still no snapshot after another no-op.
        proc.layouts
            .insert(1, format!("{START}{anon}Anonymous: 4 kB\nVmFlags: rd wr\n"));
        call(
            &mut rec,
            &mut proc,
            nr::MPROTECT,
            [0x5000, 0x1000, 3, 0, 0, 0],
        );
        assert_eq!(proc.reads, smaps_before);
        // madvise(DONTFORK) changes flags alone: smaps is read and a snapshot written.
        proc.layouts
            .insert(1, format!("{START}{anon}VmFlags: rd wr dc\n"));
        call(
            &mut rec,
            &mut proc,
            nr::MADVISE,
            [0x5000, 0x1000, 10, 0, 0, 0],
        );
        assert_eq!(proc.reads, smaps_before + 1);
        assert_eq!(rec.stats().maps_reads, 2);
        let (records, stats) = rec.finish();
        assert_eq!(stats.snapshots, 2);
        let text = text(&records);
        assert!(
            text.ends_with("v 5000 6000 rw-p 0 - rd,wr,dc\nX 1\n"),
            "{text}"
        );
    }

    /// A successful file mmap takes the file id of the VMA it made; a failed one resolves its
    /// descriptor to its file (a new id if no snapshot showed it yet), or `-` for a bad
    /// descriptor. Both carry the descriptor's open mode, and the size of a regular file.
    #[test]
    fn mmap_files_resolve() {
        let mut proc = FakeProc::default();
        proc.mm_of.insert(1, 1);
        proc.layouts.insert(1, START.to_owned());
        let key = FileKey {
            major: 0xfe,
            minor: 0,
            inode: 11,
        };
        proc.fds.insert(
            (1, 3),
            FdFile {
                key,
                path: "/bin/prog".to_owned(),
                size: Some(0x1800),
            },
        );
        let unseen = FileKey { inode: 99, ..key };
        proc.fds.insert(
            (1, 5),
            FdFile {
                key: unseen,
                path: "/dev/some device".to_owned(),
                size: None,
            },
        );
        let mut rec = Recorder::default();
        rec.exec(1, 1, "prog", &mut proc);
        let file_mmap = Entry {
            nr: nr::MMAP,
            args: [0, 0x1000, 1, 2, 3, 0],
        };
        proc.layouts.insert(
            1,
            format!("{START}7000-8000 r--p 00000000 fe:00 12 /lib/data\nVmFlags: rd\n"),
        );
        rec.entry(1, file_mmap);
        rec.exit_call(1, 0x7000, &mut proc);
        rec.entry(1, file_mmap);
        rec.exit_call(1, 0u64.wrapping_sub(19), &mut proc);
        rec.entry(
            1,
            Entry {
                nr: nr::MMAP,
                args: [0, 0x1000, 1, 2, 4, 0],
            },
        );
        rec.exit_call(1, 0u64.wrapping_sub(9), &mut proc);
        rec.entry(
            1,
            Entry {
                nr: nr::MMAP,
                args: [0, 0x1000, 1, 0x12, 5, 0],
            },
        );
        rec.exit_call(1, 0u64.wrapping_sub(22), &mut proc);
        let (records, _) = rec.finish();
        let text = text(&records);
        assert!(
            text.contains("f f2 data\nm 1 t1 0 1000 r-- p f2:r 0 7000 z1800\n"),
            "{text}"
        );
        assert!(
            text.contains("m 1 t1 0 1000 r-- p f1:r 0 !ENODEV z1800\n"),
            "{text}"
        );
        assert!(text.contains("m 1 t1 0 1000 r-- p - 0 !EBADF\n"), "{text}");
        assert!(
            text.contains("f f3 some%20device\nm 1 t1 0 1000 r-- pF f3:r 0 !EINVAL\n"),
            "{text}"
        );
    }

    /// A process whose threads 1 and 2 share address space 1, which shows `START`, recorded
    /// from its exec.
    fn two_threads() -> (FakeProc, Recorder) {
        let mut proc = FakeProc::default();
        for tid in [1, 2] {
            proc.mm_of.insert(tid, 1);
        }
        proc.layouts.insert(1, START.to_owned());
        let mut rec = Recorder::default();
        rec.exec(1, 1, "prog", &mut proc);
        rec.clone(1, 2, true, &mut proc);
        (proc, rec)
    }

    /// While another thread of the space is inside a layout-changing call, the snapshot waits
    /// for it, and then shows both calls' effects after both ops (R3).
    #[test]
    fn snapshots_wait_for_calls_in_flight() {
        let (mut proc, mut rec) = two_threads();
        rec.entry(1, mmap(0x1000));
        rec.entry(2, mmap(0x1000));
        proc.layouts.insert(
            1,
            format!("{START}5000-7000 rw-p 00000000 00:00 0 \nVmFlags: rd wr\n"),
        );
        let reads = proc.reads;
        rec.exit_call(2, 0x6000, &mut proc);
        assert_eq!(proc.reads, reads, "deferred");
        rec.exit_call(1, 0x5000, &mut proc);
        assert_eq!(rec.stats().deferred_snapshots, 1);
        let (records, _) = rec.finish();
        let text = text(&records);
        assert!(
            text.contains(
                "m 1 t2 0 1000 rw- pa - 0 6000\nm 1 t1 0 1000 rw- pa - 0 5000\nD 1 1\n\
                 w 5000 7000 1\nv 5000 7000 rw-p 0 - rd,wr\n"
            ),
            "{text}"
        );
    }

    /// A snapshot that waits for a sibling's call is read when the sibling exits inside that
    /// call (its exit stop), not left for the next op of the space (R3, R6): the op before it
    /// is judged against the layout right after it.
    #[test]
    fn a_snapshot_waiting_for_a_call_is_read_when_its_task_exits_inside_it() {
        let (mut proc, mut rec) = two_threads();
        rec.entry(2, mmap(0x1000));
        rec.entry(1, mmap(0x2000));
        proc.layouts.insert(
            1,
            format!("{START}5000-7000 rw-p 00000000 00:00 0 \nVmFlags: rd wr\n"),
        );
        rec.exit_call(1, 0x5000, &mut proc);
        assert_eq!(rec.stats().deferred_snapshots, 1);
        rec.exiting(2, &mut proc);
        let (records, _) = rec.finish();
        let text = text(&records);
        assert!(
            text.contains(
                "m 1 t1 0 2000 rw- pa - 0 5000\nD 1 1\nw 5000 7000 1\nv 5000 7000 rw-p 0 - rd,wr\n"
            ),
            "{text}"
        );
    }

    /// A fork is `racing` when a sibling's call was in flight at any time between the fork's
    /// entry and its event, even one that returned before the event: the stops of two threads
    /// reach the tracer in no set order, so the copy may not hold that call (R9). A fork after
    /// a call that returned before its entry, or with no sibling calls at all, is not.
    #[test]
    fn forks_race_with_calls_in_flight_since_their_entry() {
        let fork = Entry {
            nr: nr::FORK,
            args: [0; 6],
        };
        let (mut proc, mut rec) = two_threads();
        for mm in [3, 4, 5] {
            proc.mm_of.insert(mm, mm.unsigned_abs());
            proc.layouts.insert(mm.unsigned_abs(), START.to_owned());
        }
        // Thread 2's mmap returns between the fork's entry and its event.
        rec.entry(2, mmap(0x1000));
        rec.entry(1, fork);
        rec.exit_call(2, 0x5000, &mut proc);
        rec.clone(1, 3, false, &mut proc);
        rec.exit_call(1, 3, &mut proc);
        // Thread 2's mmap returned before the fork's entry.
        rec.entry(2, mmap(0x1000));
        rec.exit_call(2, 0x6000, &mut proc);
        rec.entry(1, fork);
        rec.clone(1, 4, false, &mut proc);
        rec.exit_call(1, 4, &mut proc);
        // Thread 2 enters an mmap after the fork's entry; it is in flight at the event.
        rec.entry(1, fork);
        rec.entry(2, mmap(0x1000));
        rec.clone(1, 5, false, &mut proc);
        rec.exit_call(2, 0x7000, &mut proc);
        let (records, _) = rec.finish();
        let forks: Vec<String> = records
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Record::Op {
                        op: Op::Fork { .. },
                        ..
                    }
                )
            })
            .map(ToString::to_string)
            .collect();
        assert_eq!(forks, ["F 2 1 t3 racing", "F 3 1 t4", "F 4 1 t5 racing"]);
    }

    /// At an exit stop, after ops of two threads that no snapshot followed, the layout is
    /// written even though it did not change (R6); after ops of one thread it is not.
    #[test]
    fn exit_stops_write_the_layout_after_ops_of_several_threads() {
        let (mut proc, mut rec) = two_threads();
        let failed_munmap = Entry {
            nr: nr::MUNMAP,
            args: [0x1001, 0x1000, 0, 0, 0, 0],
        };
        rec.entry(1, failed_munmap);
        rec.exit_call(1, 0u64.wrapping_sub(22), &mut proc);
        rec.exiting(2, &mut proc);
        assert_eq!(rec.stats().snapshots, 1, "one thread's ops: no snapshot");
        // Thread 2 is inside an mmap when thread 1 begins to exit: the call never returns.
        rec.entry(2, failed_munmap);
        rec.exit_call(2, 0u64.wrapping_sub(22), &mut proc);
        rec.entry(2, mmap(0x1000));
        rec.exiting(2, &mut proc);
        rec.exiting(1, &mut proc);
        rec.exit(2, &mut proc);
        rec.exit(1, &mut proc);
        let (records, stats) = rec.finish();
        assert_eq!(stats.snapshots, 2);
        let text = text(&records);
        assert!(
            text.ends_with("u 1 t2 1001 1000 !EINVAL\nD 1 0\nX 1\n"),
            "{text}"
        );
    }

    /// A thread other than the leader execs: it takes the leader's tid, the old space ends
    /// when its other threads are gone, and the new space starts with the exec'ing thread.
    #[test]
    fn non_leader_exec() {
        let mut proc = FakeProc::default();
        for tid in [10, 11, 12] {
            proc.mm_of.insert(tid, 1);
        }
        proc.layouts.insert(1, START.to_owned());
        proc.layouts.insert(
            2,
            "1000-3000 r-xp 00000000 fe:00 20 /bin/other\n".to_owned(),
        );
        let mut rec = Recorder::default();
        rec.exec(10, 10, "prog", &mut proc);
        rec.clone(10, 11, true, &mut proc);
        rec.clone(10, 12, true, &mut proc);
        // Thread 11 makes a call, so it has a thread id.
        rec.entry(11, mmap(0x1000));
        rec.exit_call(11, 0x5000, &mut proc);
        proc.mm_of.insert(10, 2);
        rec.exec(10, 11, "other", &mut proc);
        rec.exit(12, &mut proc);
        let (records, _) = rec.finish();
        let text = text(&records);
        assert!(
            text.ends_with("N 2 t2 other\nf f2 other\nS 2 1\nv 1000 3000 r-xp 0 f2\nX 1\nX 2\n"),
            "{text}"
        );
        crate::parse(format!("#mapletrace 2\n{text}").as_bytes()).unwrap();
    }

    /// Tasks before the first exec, and their calls, are not recorded.
    #[test]
    fn untracked_tasks_record_nothing() {
        let mut proc = FakeProc::default();
        let mut rec = Recorder::default();
        rec.entry(5, mmap(0x1000));
        rec.exit_call(5, 0x5000, &mut proc);
        rec.clone(5, 6, false, &mut proc);
        rec.exit(6, &mut proc);
        assert!(rec.tasks.is_empty());
        assert!(rec.finish().0.is_empty());
    }

    fn vma(start: u64, end: u64, write: bool) -> SnapshotVma {
        SnapshotVma {
            start,
            end,
            read: true,
            write,
            exec: false,
            shared: false,
            offset: 0,
            backing: Backing::Anon,
            flags: Vec::new(),
            anon_pages: false,
            pkey: 0,
        }
    }

    /// The windows of a change snapshot hold exactly the VMAs that differ, whole on both
    /// sides, and applying them to the old layout gives the new one.
    #[test]
    fn change_windows_cover_whole_vmas() {
        let old = [
            vma(0x1000, 0x2000, false),
            vma(0x3000, 0x6000, true),
            vma(0x8000, 0x9000, false),
            vma(0xa000, 0xb000, false),
        ];
        // Split the second, unmap the third, add one at the end.
        let new = [
            vma(0x1000, 0x2000, false),
            vma(0x3000, 0x4000, true),
            vma(0x4000, 0x6000, false),
            vma(0xa000, 0xb000, false),
            vma(0xc000, 0xd000, true),
        ];
        let windows = changes(&old, &new);
        let shape: Vec<(u64, u64, usize)> = windows
            .iter()
            .map(|w| (w.start, w.end, w.vmas.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (0x3000, 0x6000, 2),
                (0x8000, 0x9000, 0),
                (0xc000, 0xd000, 1)
            ]
        );
        assert!(changes(&new, &new).is_empty());
        let mut rebuilt: Vec<SnapshotVma> = old
            .iter()
            .filter(|v| !windows.iter().any(|w| w.start <= v.start && v.end <= w.end))
            .cloned()
            .chain(windows.iter().flat_map(|w| w.vmas.iter().cloned()))
            .collect();
        rebuilt.sort_by_key(|v| v.start);
        assert_eq!(rebuilt, new);
    }

    /// Replays `records` and returns the layout (start, end, perms) after each snapshot.
    fn layouts(records: &[Record]) -> Vec<Vec<(u64, u64, String)>> {
        let mut now: BTreeMap<u64, SnapshotVma> = BTreeMap::new();
        let mut out = Vec::new();
        for record in records {
            match record {
                Record::Snapshot { vmas, .. } => {
                    now = vmas.iter().map(|v| (v.start, v.clone())).collect();
                }
                Record::Delta { windows, .. } => {
                    for w in windows {
                        now.retain(|&start, _| start < w.start || start >= w.end);
                        now.extend(w.vmas.iter().map(|v| (v.start, v.clone())));
                    }
                }
                _ => continue,
            }
            out.push(now.values().map(|v| (v.start, v.end, v.perms())).collect());
        }
        out
    }

    /// Reading each call's VMAs with queries (R8) gives the layouts whole reads give, after
    /// merges with both neighbours, splits, unmaps and a grown break, with fewer `smaps`
    /// reads.
    #[test]
    fn queries_give_the_layouts_of_whole_reads() {
        let steps: [(Entry, u64, &str); 5] = [
            // An mmap that fills the hole between two VMAs it merges with.
            (
                Entry {
                    nr: nr::MMAP,
                    args: [0x5000, 0x1000, 3, 0x32, u64::MAX, 0],
                },
                0x5000,
                "4000-7000 rw-p 00000000 00:00 0 \n",
            ),
            // An munmap in the middle: a split.
            (
                Entry {
                    nr: nr::MUNMAP,
                    args: [0x5000, 0x1000, 0, 0, 0, 0],
                },
                0,
                "4000-5000 rw-p 00000000 00:00 0 \n6000-7000 rw-p 00000000 00:00 0 \n",
            ),
            // An mprotect of one page: three VMAs.
            (
                Entry {
                    nr: nr::MPROTECT,
                    args: [0x6000, 0x1000, 1, 0, 0, 0],
                },
                0,
                "4000-5000 rw-p 00000000 00:00 0 \n6000-7000 r--p 00000000 00:00 0 \n",
            ),
            // brk(NULL), then a brk that grows the heap.
            (
                Entry {
                    nr: nr::BRK,
                    args: [0; 6],
                },
                0x9000,
                "4000-5000 rw-p 00000000 00:00 0 \n6000-7000 r--p 00000000 00:00 0 \n",
            ),
            (
                Entry {
                    nr: nr::BRK,
                    args: [0xb000, 0, 0, 0, 0, 0],
                },
                0xb000,
                "4000-5000 rw-p 00000000 00:00 0 \n6000-7000 r--p 00000000 00:00 0 \n\
                 8000-b000 rw-p 00000000 00:00 0 [heap]\n",
            ),
        ];
        let run = |queries: bool| {
            let mut proc = FakeProc {
                queries,
                ..FakeProc::default()
            };
            proc.mm_of.insert(1, 1);
            proc.layouts.insert(
                1,
                format!(
                    "{START}4000-5000 rw-p 00000000 00:00 0 \n6000-7000 rw-p 00000000 00:00 0 \n\
                     8000-9000 rw-p 00000000 00:00 0 [heap]\n"
                ),
            );
            let mut rec = Recorder::default();
            rec.exec(1, 1, "prog", &mut proc);
            for (entry, ret, after) in &steps {
                rec.entry(1, *entry);
                let layout = if after.contains("[heap]") {
                    format!("{START}{after}")
                } else {
                    format!("{START}{after}8000-9000 rw-p 00000000 00:00 0 [heap]\n")
                };
                proc.layouts.insert(1, layout);
                rec.exit_call(1, *ret, &mut proc);
            }
            let smaps = proc.reads;
            let (records, stats) = rec.finish();
            (layouts(&records), stats.queries, smaps)
        };
        let (whole, no_queries, whole_reads) = run(false);
        let (queried, queries, query_reads) = run(true);
        assert_eq!(queried, whole);
        assert_eq!(whole.len(), 5, "{whole:?}");
        assert_eq!(no_queries, 0);
        assert!(queries > 0);
        assert!(query_reads < whole_reads, "{query_reads} < {whole_reads}");
    }

    /// The VMA lookup for an address finds the VMA that holds it, or none in a gap.
    #[test]
    fn file_lookup_by_address() {
        let mut files = FileTable::default();
        let mut records = Vec::new();
        let vmas: BTreeMap<u64, SnapshotVma> =
            parse_smaps("1000-2000 r--p 00000000 fe:00 1 /a\n3000-4000 rw-p 00000000 00:00 0 \n")
                .iter()
                .map(|v| v.to_snapshot(&mut files, &mut records))
                .map(|v| (v.start, v))
                .collect();
        assert_eq!(file_at(&vmas, 0x1000), Some(crate::format::FileId(1)));
        assert_eq!(file_at(&vmas, 0x1fff), Some(crate::format::FileId(1)));
        assert_eq!(file_at(&vmas, 0x2000), None);
        assert_eq!(file_at(&vmas, 0x3000), None);
        assert_eq!(file_at(&vmas, 0x9000), None);
    }
}
