//! The records a replay reads, one at a time, with a window of the ones ahead.
//!
//! A replay needs to look ahead a little: whether an op's space gets a snapshot right after
//! it, which threads made calls in a space before its next snapshot, and which of those
//! calls the kernel ran first ([`Resync::CallOrder`](super::Resync::CallOrder)). All of that
//! lies before the space's next snapshot, so [`Feed`] reads ahead only that far and keeps the
//! records in between; memory is proportional to that stretch, not to the trace. A stretch is
//! cut at [`LOOKAHEAD`] records (a space whose threads keep a call in flight for that long).

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::format::{Op, Record, SpaceId, ThreadId};
use crate::parse::ParseError;

/// The most records read ahead of the one being replayed.
pub(crate) const LOOKAHEAD: usize = 1 << 20;

/// One record: its line in the file (when read from one) and the record, borrowed from an
/// in-memory trace or owned when streamed.
#[derive(Debug)]
pub(crate) struct Item<'t> {
    pub(crate) line: Option<usize>,
    pub(crate) record: Cow<'t, Record>,
}

/// Where records come from.
pub(crate) type Source<'t> = Box<dyn Iterator<Item = Result<Item<'t>, ParseError>> + 't>;

/// The records being replayed, with a window of the ones read ahead.
pub(crate) struct Feed<'t> {
    source: Source<'t>,
    ahead: VecDeque<Item<'t>>,
    /// Records handed out so far.
    pub(crate) done: usize,
    /// The first error of the source, kept until the records before it are replayed.
    error: Option<ParseError>,
}

impl<'t> Feed<'t> {
    pub(crate) fn new(source: Source<'t>) -> Feed<'t> {
        Feed {
            source,
            ahead: VecDeque::new(),
            done: 0,
            error: None,
        }
    }

    /// Reads one more record into the window; `false` at the end (or an error).
    fn read_one(&mut self) -> bool {
        if self.error.is_some() || self.ahead.len() >= LOOKAHEAD {
            return false;
        }
        match self.source.next() {
            Some(Ok(item)) => {
                self.ahead.push_back(item);
                true
            }
            Some(Err(e)) => {
                self.error = Some(e);
                false
            }
            None => false,
        }
    }

    /// The next record, or the source's error once the records before it are out.
    pub(crate) fn next(&mut self) -> Option<Result<Item<'t>, ParseError>> {
        if self.ahead.is_empty() && !self.read_one() {
            return self.error.take().map(Err);
        }
        self.done += 1;
        self.ahead.pop_front().map(Ok)
    }

    /// Reads ahead until the next record of `space` that is a snapshot or its exit (or the end
    /// of the window), and returns how many records of the window come before it, plus
    /// whether it is there.
    pub(crate) fn until_snapshot(&mut self, space: SpaceId) -> (usize, bool) {
        let mut at = 0;
        loop {
            // The records read ahead already, then one more at a time.
            for item in self.ahead.range(at..) {
                match item.record.as_ref() {
                    Record::Snapshot { space: s, .. } | Record::Delta { space: s, .. }
                        if *s == space =>
                    {
                        return (at, true);
                    }
                    Record::Op {
                        space: s,
                        op: Op::Exit,
                        ..
                    } if *s == space => return (at + 1, false),
                    _ => at += 1,
                }
            }
            if !self.read_one() {
                return (at, false);
            }
        }
    }

    /// [`Feed::until_snapshot`], and whether the ops of `space` before that record (the exit
    /// included), with one of `thread`, come from two threads or more (an exit, with no
    /// thread, is none's): one pass over the window.
    pub(crate) fn until_snapshot_threads(
        &mut self,
        space: SpaceId,
        thread: Option<ThreadId>,
    ) -> (usize, bool, bool) {
        let mut at = 0;
        let mut seen = thread;
        let mut several = false;
        loop {
            for item in self.ahead.range(at..) {
                match item.record.as_ref() {
                    Record::Snapshot { space: s, .. } | Record::Delta { space: s, .. }
                        if *s == space =>
                    {
                        return (at, true, several);
                    }
                    Record::Op {
                        space: s,
                        thread: t,
                        op,
                    } if *s == space => {
                        if let Some(t) = t {
                            several |= seen.is_some_and(|first| first != *t);
                            seen = seen.or(Some(*t));
                        }
                        if matches!(op, Op::Exit) {
                            return (at + 1, false, several);
                        }
                        at += 1;
                    }
                    _ => at += 1,
                }
            }
            if !self.read_one() {
                return (at, false, several);
            }
        }
    }

    /// Whether the next record of `space` is one of its snapshots.
    pub(crate) fn next_is_snapshot(&mut self, space: SpaceId) -> bool {
        let mut at = 0;
        loop {
            if at == self.ahead.len() && !self.read_one() {
                return false;
            }
            match self.ahead[at].record.as_ref() {
                Record::Snapshot { space: s, .. } | Record::Delta { space: s, .. }
                    if *s == space =>
                {
                    return true;
                }
                Record::Op { space: s, .. } if *s == space => return false,
                _ => {}
            }
            at += 1;
        }
    }

    /// The records of the window (position 0 is the next one).
    pub(crate) fn window(&self) -> impl Iterator<Item = &Record> {
        self.ahead.iter().map(|item| item.record.as_ref())
    }

    /// Takes the record at `position` of the window out of it.
    pub(crate) fn take(&mut self, position: usize) -> Option<Item<'t>> {
        let item = self.ahead.remove(position)?;
        self.done += 1;
        Some(item)
    }
}
