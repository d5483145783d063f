//! Gathering the new leaf content of a store, and deciding which old values it keeps, clones
//! or drops.
//!
//! Linux: `mas_store_b_node()`, `mas_wr_extend_null()`, `mas_extend_spanning_null()`.

use core::num::NonZeroUsize;

use super::big_node::BigNode;
use super::{Cloner, Disposal};
use crate::walk::{Frame, slot_of};

/// Builds, in `big`, the content that replaces the leaves `l` ..= `r` once `word` (0: empty) is stored
/// over `[first, last]`.
///
/// `l.offset` is the slot containing `first`; `r` is the leaf holding `last` (or, for an empty
/// store, `last + 1`, so that a following empty slot merges). An entry cut by the store keeps
/// its head `[start, first - 1]` and its tail `[last + 1, end]`; when one entry keeps both, the
/// tail holds a clone made with `cloner`. Entries that lose all their indices go to `disp`.
/// Leaves strictly between `l` and `r` are not looked at: their subtrees were queued whole.
#[expect(
    clippy::too_many_arguments,
    reason = "the two leaves, the store and its two outputs; a struct would only rename them"
)]
pub(crate) fn gather<'a>(
    l: &Frame<'a>,
    r: &Frame<'a>,
    first: u64,
    last: u64,
    word: usize,
    cloner: Cloner,
    big: &mut BigNode,
    disp: &mut Disposal<'a>,
) {
    let same = l.node == r.node;
    let lo = l.offset;
    big.reset(l.min);
    for i in 0..lo {
        big.push_slot(l, i);
    }

    let lo_word = l.node.slot(lo);
    let keeps_head = l.slot_min(lo) < first;
    if keeps_head {
        big.push_value(first - 1, lo_word);
    }
    big.push_value(last, word);
    if word != 0 {
        disp.added += 1;
    }

    // `rk`: the first slot of `r` that ends after `last`, if any.
    let rk = if last >= r.max {
        r.end + 1
    } else {
        slot_of(r.node, r.end, last + 1)
    };
    let l_stop = if same { rk.min(l.end + 1) } else { l.end + 1 };
    for i in lo..l_stop {
        if !(i == lo && keeps_head) {
            disp.remove_value(l.node.slot(i));
        }
    }
    if !same {
        for i in 0..rk.min(r.end + 1) {
            disp.remove_value(r.node.slot(i));
        }
    }
    if rk <= r.end {
        let rk_word = r.node.slot(rk);
        let tail = if r.slot_min(rk) <= last && same && rk == lo && keeps_head {
            // One entry keeps both ends: the tail needs its own value.
            match NonZeroUsize::new(rk_word) {
                Some(w) => {
                    let clone = cloner.unwrap_or_else(|| {
                        unreachable!("a store into an empty range cut an entry")
                    })(w);
                    disp.cloned = Some(clone);
                    disp.added += 1;
                    clone.get()
                }
                None => 0,
            }
        } else {
            rk_word
        };
        big.push_value(r.slot_max(rk), tail);
        for i in rk + 1..=r.end {
            big.push_slot(r, i);
        }
    }
}
