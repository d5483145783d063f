//! The new content of one level, gathered as plain words before any node of it is written.
//!
//! An exclusive-mode split or rebalance ([`crate::write`]'s `direct` module) rewrites up to two
//! nodes whose new content comes from both of them and from the edit. It reads all of it here
//! first: runs of each old node's slots, pivots and gaps in one block copy each, the edit's few
//! new slots one by one. Then each node is written whole from its run of the content, every
//! word at once, with the words past the run zeroed (invariant N2), and no write can
//! overwrite a word that another node still has to read.
//!
//! Each gathered slot carries its word, the last index of its range (its pivot, or the old
//! node's maximum for an old node's last slot) and, on an allocation tree's internal level,
//! its gap.

use core::mem::MaybeUninit;

use super::{NodeKind, NodeRef};
use crate::sync::AtomicU64;
#[cfg(maple_loom)]
use crate::sync::Ordering;

/// The most slots a level's content has: a full node grown by an edit (which replaces at
/// least one slot by at most four) and a whole neighbour.
const MAX_SLOTS: usize = 16 + 3 + 16;

/// A node's worth of words: a run of the content is written from a window this long.
const WINDOW: usize = 16;

/// Room for the content and one window past its end.
const CAP: usize = MAX_SLOTS + WINDOW;

/// Masks for a run of `len` slots: `KEEP[WINDOW - len..][..WINDOW]` keeps the first `len`
/// words of a window and zeroes the rest.
static KEEP: [u64; 2 * WINDOW] = {
    let mut keep = [0; 2 * WINDOW];
    let mut i = 0;
    while i < WINDOW {
        keep[i] = u64::MAX;
        i += 1;
    }
    keep
};

/// Gathered content of one level of `kind` nodes (see the module docs).
pub(crate) struct Gathered {
    kind: NodeKind,
    /// Slots gathered. The first `len` words of `pivots` and `slots` (and of `gaps` for a kind
    /// with gaps) are initialised, and once `closed`, the `WINDOW` words after them too.
    len: usize,
    closed: bool,
    pivots: [MaybeUninit<u64>; CAP],
    slots: [MaybeUninit<u64>; CAP],
    gaps: [MaybeUninit<u64>; CAP],
}

impl Gathered {
    /// No content yet, for nodes of `kind`.
    #[inline]
    pub(crate) fn new(kind: NodeKind) -> Self {
        Self {
            kind,
            len: 0,
            closed: false,
            pivots: [const { MaybeUninit::uninit() }; CAP],
            slots: [const { MaybeUninit::uninit() }; CAP],
            gaps: [const { MaybeUninit::uninit() }; CAP],
        }
    }

    /// Slots gathered.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends slots `from..to` of `node` (of this kind), whose last slot is `end` and whose
    /// range ends at `max`: their words, their ranges and, for a kind with gaps, their gaps.
    ///
    /// A run from a leaf's or range node's first slot is copied as a whole window of 16 words,
    /// a fixed-size copy; what the window carries past the run is overwritten by the next push,
    /// or by the zeroes of [`close`](Self::close). A run from a later slot of such a node is
    /// copied as the window from that slot on of the node's words read whole, fixed-size copies
    /// too. An allocation node's runs from a later slot are copied word for word.
    #[inline]
    pub(crate) fn push_node(
        &mut self,
        node: NodeRef<'_>,
        end: usize,
        max: u64,
        from: usize,
        to: usize,
    ) {
        if from >= to {
            return;
        }
        let kind = self.kind;
        let (at, count) = (self.len, to - from);
        // Gathering after `close` would leave words past the content uninitialised.
        assert!(!self.closed, "gathered after closing");
        debug_assert!(
            node.kind == kind && to <= end + 1 && end < kind.slots() && at + count <= MAX_SLOTS,
            "gathered from a node of another kind, past its end, or too much"
        );
        let words = &node.node.words;
        if from == 0 && !kind.has_gaps() {
            // Words 0..16 are the 15 pivots and slot 0, whose word lands past the run's
            // pivots; words 15..31 are the 16 slots.
            load_words(&words[..WINDOW], &mut self.pivots[at..at + WINDOW]);
            load_words(&words[15..15 + WINDOW], &mut self.slots[at..at + WINDOW]);
        } else if !kind.has_gaps() {
            // A run from a later slot: the node's first 16 pivot words (the last is slot 0's
            // word) and its 16 slots are read whole into a buffer, and the window from `from`
            // on is copied out of it: fixed-size copies where the run's length varies. What
            // the window carries past the run is overwritten as above.
            let mut buf = [const { MaybeUninit::<u64>::uninit() }; 2 * WINDOW];
            load_words(&words[..WINDOW], &mut buf[..WINDOW]);
            self.pivots[at..at + WINDOW].copy_from_slice(&buf[from..from + WINDOW]);
            load_words(&words[15..15 + WINDOW], &mut buf[..WINDOW]);
            self.slots[at..at + WINDOW].copy_from_slice(&buf[from..from + WINDOW]);
        } else {
            // Every slot but a full node's last has a stored pivot; that one ends at `max`.
            let stored = count.min(kind.pivots() - from);
            load_words(
                &words[from..from + stored],
                &mut self.pivots[at..at + stored],
            );
            let base = kind.slot_base();
            load_words(
                &words[base + from..base + from + count],
                &mut self.slots[at..at + count],
            );
            if kind.has_gaps() {
                let base = kind.gap_base();
                load_words(
                    &words[base + from..base + from + count],
                    &mut self.gaps[at..at + count],
                );
            }
        }
        self.len += count;
        if to == end + 1 {
            self.pivots[self.len - 1] = MaybeUninit::new(max);
        }
    }

    /// Appends one slot: `word`, ending at `pivot`, with `gap` (ignored for a kind without
    /// gaps).
    #[inline]
    pub(crate) fn push(&mut self, pivot: u64, word: usize, gap: u64) {
        assert!(
            self.len < MAX_SLOTS && !self.closed,
            "more content than a level can have"
        );
        let at = self.len;
        self.pivots[at] = MaybeUninit::new(pivot);
        self.slots[at] = MaybeUninit::new(word as u64);
        self.gaps[at] = MaybeUninit::new(gap);
        self.len += 1;
    }

    /// Ends the gathering: zeroes the window past the content, so that runs can be written.
    #[inline]
    pub(crate) fn close(&mut self) {
        let (a, b) = (self.len, self.len + WINDOW);
        self.pivots[a..b].fill(MaybeUninit::new(0));
        self.slots[a..b].fill(MaybeUninit::new(0));
        if self.kind.has_gaps() {
            self.gaps[a..b].fill(MaybeUninit::new(0));
        }
        self.closed = true;
    }

    /// Whether slot `v` of the content is empty.
    #[inline]
    pub(crate) fn is_empty(&self, v: usize) -> bool {
        assert!(v < self.len, "slot past the content");
        // SAFETY: the first `len` slot words are initialised.
        unsafe { self.slots[v].assume_init() == 0 }
    }

    /// The last index of slot `v` of the content.
    #[inline]
    pub(crate) fn max(&self, v: usize) -> u64 {
        assert!(v < self.len, "slot past the content");
        // SAFETY: the first `len` pivots are initialised.
        unsafe { self.pivots[v].assume_init() }
    }

    /// Makes `node` (of this kind) hold slots `a..b` of the content and nothing else: every
    /// pivot, slot and gap word, the words past the run zeroed (N2), a pivot stored for its
    /// last slot if it has one (N1), and its end. Only on a node no reader can see (exclusive
    /// mode, or not published yet), and only after [`close`](Self::close).
    #[inline]
    pub(crate) fn write(&self, node: NodeRef<'_>, a: usize, b: usize) {
        let kind = self.kind;
        // What the windows below read must be initialised.
        assert!(
            self.closed && a < b && b <= self.len,
            "a run that is not within the closed content"
        );
        debug_assert!(
            node.kind == kind && b - a <= kind.slots(),
            "a run that does not fit its node"
        );
        let len = b - a;
        let mask = window(&KEEP, WINDOW - len);
        // SAFETY: `a < self.len`, and once closed the content and the window after it are
        // initialised.
        let pivots = unsafe { init_window(&self.pivots, a) };
        // SAFETY: as for the pivots.
        let slots = unsafe { init_window(&self.slots, a) };
        let words = &node.node.words;
        match kind {
            NodeKind::Leaf | NodeKind::Range => {
                store_masked::<15>(&words[..15], pivots, mask);
                store_masked::<16>(&words[15..31], slots, mask);
            }
            NodeKind::AllocRange => {
                store_masked::<9>(&words[..9], pivots, mask);
                store_masked::<10>(&words[9..19], slots, mask);
                // SAFETY: as for the pivots: a kind with gaps gathers and closes its gaps too.
                let gaps = unsafe { init_window(&self.gaps, a) };
                store_masked::<10>(&words[19..29], gaps, mask);
            }
        }
        node.set_end(len - 1);
    }
}

/// `WINDOW` words of `words` from `at` on.
#[inline]
fn window(words: &[u64], at: usize) -> &[u64; WINDOW] {
    words[at..at + WINDOW]
        .try_into()
        .unwrap_or_else(|_| unreachable!("a window is WINDOW words"))
}

/// `WINDOW` words of `words` from `at` on, as initialised words.
///
/// # Safety
///
/// Those words are initialised.
#[inline]
unsafe fn init_window(words: &[MaybeUninit<u64>; CAP], at: usize) -> &[u64; WINDOW] {
    let run: &[MaybeUninit<u64>; WINDOW] = words[at..at + WINDOW]
        .try_into()
        .unwrap_or_else(|_| unreachable!("a window is WINDOW words"));
    // SAFETY: `MaybeUninit<u64>` has the layout of `u64`, and the caller guarantees the words
    // that are read are initialised.
    unsafe { &*core::ptr::from_ref(run).cast::<[u64; WINDOW]>() }
}

/// Copies the node words `from` into `to`, a plain buffer of the same length.
#[inline]
fn load_words(from: &[AtomicU64], to: &mut [MaybeUninit<u64>]) {
    debug_assert_eq!(from.len(), to.len());
    #[cfg(not(maple_loom))]
    // SAFETY: `from` is `to.len()` live node words, which have the layout of `u64`s, and `to`
    // a distinct buffer of that length. Only the writer stores to nodes, and it is the
    // caller, so these plain loads race with no store.
    unsafe {
        core::ptr::copy_nonoverlapping(
            from.as_ptr().cast::<u64>(),
            to.as_mut_ptr().cast::<u64>(),
            to.len(),
        );
    }
    #[cfg(maple_loom)]
    for (t, f) in to.iter_mut().zip(from) {
        *t = MaybeUninit::new(f.load(Ordering::Relaxed));
    }
}

/// Writes `from[i] & mask[i]` into each of the `N` words of `to`, with plain stores.
#[inline]
fn store_masked<const N: usize>(to: &[AtomicU64], from: &[u64; WINDOW], mask: &[u64; WINDOW]) {
    let to: &[AtomicU64; N] = to
        .try_into()
        .unwrap_or_else(|_| unreachable!("a kind's run of words has its fixed length"));
    #[cfg(not(maple_loom))]
    {
        let to = to.as_ptr().cast::<u64>().cast_mut();
        for i in 0..N {
            // SAFETY: `i < N`, so a live word of the node. An `AtomicU64` has the layout of a
            // `u64` and may be written through a shared reference; the caller writes only
            // nodes that no reader can load (unpublished, or the tree is exclusive), and only
            // this writer stores to nodes, so the plain store races with nothing.
            unsafe { to.wrapping_add(i).write(from[i] & mask[i]) };
        }
    }
    #[cfg(maple_loom)]
    for (i, t) in to.iter().enumerate() {
        t.store(from[i] & mask[i], Ordering::Relaxed);
    }
}
