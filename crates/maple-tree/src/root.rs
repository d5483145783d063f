//! The root state of a tree, shared by its readers and its writer: the root pointer, the height,
//! the entry count and whether internal nodes track gaps.
//!
//! It sits below every module that walks or changes the tree (walk, gap, cursor, validate, the
//! write paths); the public facade ([`crate::MapleTree`]) owns one and hands it down, and no
//! module below imports the facade.

use crate::node::RootCell;
use crate::sync::{AtomicUsize, Ordering};

/// The state readers share with the writer: the root and a few counters.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) root: RootCell,
    height: AtomicUsize,
    len: AtomicUsize,
    /// Whether internal nodes track gaps (Linux: `MT_FLAGS_ALLOC_RANGE`).
    pub(crate) alloc: bool,
}

impl Core {
    pub(crate) fn new(alloc: bool) -> Self {
        Self {
            root: RootCell::default(),
            height: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            alloc,
        }
    }

    pub(crate) fn height(&self) -> usize {
        self.height.load(Ordering::Relaxed)
    }

    /// Only the writer calls this.
    pub(crate) fn set_height(&self, height: usize) {
        self.height.store(height, Ordering::Relaxed);
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Only the writer calls this.
    pub(crate) fn set_len(&self, len: usize) {
        self.len.store(len, Ordering::Relaxed);
    }

    /// Only the writer calls this.
    pub(crate) fn add_len(&self, added: usize, removed: usize) {
        let len = self.len.load(Ordering::Relaxed);
        self.len.store(len + added - removed, Ordering::Relaxed);
    }
}
