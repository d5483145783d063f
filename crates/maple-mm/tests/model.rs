//! Long random sequences of mmap, munmap, mprotect, mremap, brk and faults, run on the
//! address space and on a plain `Vec` model that implements the same Linux rules by brute
//! force (linear scans, no tree, no window, no ids). After every operation the results, the
//! VMA lists, `map_count` and the break must agree, and the invariants must hold.
//!
//! The model leaves out what the scenario tests cover: fork, close hooks, multi-VMA moves,
//! resource limits. Some seeds run with a small `max_map_count` so that the limit checks are
//! exercised too.

use maple_mm::{
    AddressSpace, AddressSpaceConfig, AnonVmaId, BTreeIndex, Errno, File, FileId, MapFlags,
    MremapFlags, Prot, VmFlags, VmaIndex,
};
use std::sync::Arc;

const PAGE: u64 = 0x1000;
const PMD: u64 = 2 << 20;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A VMA of the model.
#[derive(Clone, Debug, PartialEq, Eq)]
struct M {
    start: u64,
    end: u64,
    pgoff: u64,
    flags: VmFlags,
    file: Option<u64>,
    anon: Option<u64>,
}

impl M {
    fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE
    }
    fn pgoff_at(&self, addr: u64) -> u64 {
        self.pgoff + (addr - self.start) / PAGE
    }
    fn anonymous(&self) -> bool {
        self.file.is_none()
    }
}

/// A proposed range with attributes.
#[derive(Clone, Debug)]
struct P {
    start: u64,
    end: u64,
    pgoff: u64,
    flags: VmFlags,
    file: Option<u64>,
    anon: Option<u64>,
}

fn anon_ok(a: Option<u64>, b: Option<u64>) -> bool {
    a.is_none() || b.is_none() || a == b
}

fn joins_after(prev: &M, p: &P) -> bool {
    prev.end == p.start
        && prev.flags == p.flags
        && prev.file == p.file
        && prev.pgoff + prev.pages() == p.pgoff
        && anon_ok(prev.anon, p.anon)
}

fn joins_before(p: &P, next: &M) -> bool {
    p.end == next.start
        && next.flags == p.flags
        && next.file == p.file
        && p.pgoff + (p.end - p.start) / PAGE == next.pgoff
        && anon_ok(p.anon, next.anon)
}

struct Model {
    v: Vec<M>,
    cfg: AddressSpaceConfig,
    brk: u64,
    start_brk: u64,
    next_anon: u64,
    next_shmem: u64,
}

impl Model {
    fn new(cfg: AddressSpaceConfig) -> Model {
        Model {
            v: Vec::new(),
            cfg,
            brk: 0,
            start_brk: 0,
            next_anon: 1,
            next_shmem: 1,
        }
    }

    fn containing(&self, addr: u64) -> Option<usize> {
        self.v.iter().position(|m| m.start <= addr && addr < m.end)
    }

    fn intersects(&self, a: u64, b: u64) -> bool {
        self.v.iter().any(|m| m.start < b && a < m.end)
    }

    fn insert(&mut self, m: M) -> usize {
        let at = self
            .v
            .iter()
            .position(|x| x.start > m.start)
            .unwrap_or(self.v.len());
        self.v.insert(at, m);
        at
    }

    fn split(&mut self, i: usize, addr: u64) {
        let mut upper = self.v[i].clone();
        upper.pgoff = upper.pgoff_at(addr);
        upper.start = addr;
        self.v[i].end = addr;
        self.v.insert(i + 1, upper);
    }

    fn gap_start(&self, m: &M) -> u64 {
        if m.flags.contains(VmFlags::GROWSDOWN) {
            m.start.saturating_sub(self.cfg.stack_guard_gap)
        } else {
            m.start
        }
    }

    /// The first VMA at or above `addr`.
    fn next_from(&self, addr: u64) -> Option<&M> {
        self.v.iter().find(|m| m.end > addr)
    }

    // ----- placement -----

    /// Free ranges `[s, e)` inside `[lo, hi)`, in address order.
    fn free_ranges(&self, lo: u64, hi: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cur = lo;
        for m in &self.v {
            if m.end <= cur {
                continue;
            }
            if m.start >= hi {
                break;
            }
            if m.start > cur {
                out.push((cur, m.start));
            }
            cur = cur.max(m.end);
        }
        if cur < hi {
            out.push((cur, hi));
        }
        out
    }

    fn top_down(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let low = low.max(self.cfg.mmap_min_addr);
        let mut high = high;
        loop {
            let (_, fe) = *self
                .free_ranges(low, high)
                .iter()
                .rev()
                .find(|(s, e)| e - s >= len)?;
            let gap_end = fe;
            if let Some(next) = self.next_from(gap_end)
                && next.flags.contains(VmFlags::GROWSDOWN)
                && self.gap_start(next) < gap_end
            {
                high = self.gap_start(next);
                continue;
            }
            return Some(gap_end - len);
        }
    }

    fn bottom_up(&self, len: u64, low: u64, high: u64) -> Option<u64> {
        let mut low = low.max(self.cfg.mmap_min_addr);
        loop {
            let (fs, _) = *self
                .free_ranges(low, high)
                .iter()
                .find(|(s, e)| e - s >= len)?;
            if let Some(next) = self.next_from(fs + len)
                && next.flags.contains(VmFlags::GROWSDOWN)
                && self.gap_start(next) < fs + len - 1
            {
                low = next.end;
                continue;
            }
            return Some(fs);
        }
    }

    fn hint_ok(&self, addr: u64, len: u64) -> bool {
        addr <= self.cfg.task_size - len
            && self
                .next_from(addr)
                .is_none_or(|m| addr + len <= self.gap_start(m))
    }

    fn area(&self, hint: u64, len: u64) -> Option<u64> {
        if hint != 0 && self.hint_ok(hint, len) {
            return Some(hint);
        }
        self.top_down(len, PAGE, self.cfg.mmap_base).or_else(|| {
            if hint != 0 && self.hint_ok(hint, len) {
                return Some(hint);
            }
            self.bottom_up(len, self.cfg.mmap_legacy_base, self.cfg.task_size)
        })
    }

    fn placement(&self, hint: u64, len: u64, thp: bool) -> Result<u64, Errno> {
        let got = if thp && hint == 0 && len.is_multiple_of(PMD) {
            match self.area(0, len + PMD) {
                Some(r) => {
                    let sub = r.wrapping_neg() & (PMD - 1);
                    if sub == 0 { r + PMD } else { r + sub }
                }
                None => self.area(0, len).ok_or(Errno::NoMem)?,
            }
        } else {
            self.area(hint, len).ok_or(Errno::NoMem)?
        };
        if got < self.cfg.mmap_min_addr {
            return Err(Errno::Perm);
        }
        Ok(got)
    }

    // ----- merging -----

    fn prev_adjacent(&self, addr: u64) -> Option<usize> {
        self.v.iter().position(|m| m.end == addr)
    }

    fn next_adjacent(&self, addr: u64) -> Option<usize> {
        self.v.iter().position(|m| m.start == addr)
    }

    /// Merges a new range that lies in a gap with its neighbours; returns the covering index.
    fn merge_new(&mut self, p: &P, just_expand: bool) -> Option<usize> {
        if p.flags.intersects(VmFlags::SPECIAL) {
            return None;
        }
        let prev = self
            .prev_adjacent(p.start)
            .filter(|&i| joins_after(&self.v[i], p));
        let next = if just_expand {
            None
        } else {
            self.next_adjacent(p.end)
                .filter(|&n| joins_before(p, &self.v[n]))
                .filter(|&n| prev.is_none_or(|pi| anon_ok(self.v[pi].anon, self.v[n].anon)))
        };
        match (prev, next) {
            (Some(pi), Some(ni)) => {
                self.v[pi].end = self.v[ni].end;
                if self.v[pi].anon.is_none() {
                    self.v[pi].anon = self.v[ni].anon;
                }
                self.v.remove(ni);
                Some(pi)
            }
            (Some(pi), None) => {
                self.v[pi].end = p.end;
                Some(pi)
            }
            (None, Some(ni)) => {
                self.v[ni].start = p.start;
                self.v[ni].pgoff = p.pgoff;
                Some(ni)
            }
            (None, None) => None,
        }
    }

    /// Merges the changed sub-range `p` of the VMA at `mid`; returns the covering index.
    fn merge_existing(&mut self, p: &P, mid: usize) -> Option<usize> {
        let m = self.v[mid].clone();
        let left_side = p.start == m.start;
        let right_side = p.end == m.end;
        if p.flags.intersects(VmFlags::SPECIAL) || (!left_side && !right_side) {
            return None;
        }
        let prev = if left_side {
            self.prev_adjacent(m.start)
                .filter(|&i| joins_after(&self.v[i], p))
        } else {
            None
        };
        let next = if right_side {
            self.next_adjacent(m.end)
                .filter(|&n| joins_before(p, &self.v[n]))
                .filter(|&n| prev.is_none_or(|pi| anon_ok(self.v[pi].anon, self.v[n].anon)))
        } else {
            None
        };
        match (prev, next) {
            (Some(pi), Some(ni)) => {
                let src = if self.v[ni].anon.is_some() { ni } else { mid };
                if self.v[pi].anon.is_none() {
                    self.v[pi].anon = self.v[src].anon;
                }
                self.v[pi].end = self.v[ni].end;
                self.v.remove(ni);
                self.v.remove(mid);
                Some(pi)
            }
            (Some(pi), None) => {
                if self.v[pi].anon.is_none() {
                    self.v[pi].anon = m.anon;
                }
                self.v[pi].end = p.end;
                if right_side {
                    self.v.remove(mid);
                } else {
                    self.v[mid].pgoff = m.pgoff_at(p.end);
                    self.v[mid].start = p.end;
                }
                Some(pi)
            }
            (None, Some(ni)) => {
                if self.v[ni].anon.is_none() {
                    self.v[ni].anon = m.anon;
                }
                self.v[ni].start = p.start;
                self.v[ni].pgoff -= (p.end - p.start) / PAGE;
                if left_side {
                    self.v.remove(mid);
                    Some(ni - 1)
                } else {
                    self.v[mid].end = p.start;
                    Some(ni)
                }
            }
            (None, None) => None,
        }
    }

    fn split_checked(&mut self, i: usize, addr: u64) -> Result<(), Errno> {
        if self.v.len() >= self.cfg.max_map_count {
            return Err(Errno::NoMem);
        }
        self.split(i, addr);
        Ok(())
    }

    /// Gives `[s, e)` of the VMA at `i` new flags: merge, else split.
    fn modify(&mut self, i: usize, s: u64, e: u64, flags: VmFlags) -> Result<usize, Errno> {
        let m = self.v[i].clone();
        if m.flags == flags {
            return Ok(i);
        }
        let p = P {
            start: s,
            end: e,
            pgoff: m.pgoff_at(s),
            flags,
            file: m.file,
            anon: m.anon,
        };
        if let Some(r) = self.merge_existing(&p, i) {
            self.v[r].flags = flags;
            return Ok(r);
        }
        let mut i = i;
        if m.start < s {
            self.split_checked(i, s)?;
            i += 1;
        }
        if self.v[i].end > e {
            self.split_checked(i, e)?;
        }
        self.v[i].flags = flags;
        Ok(i)
    }

    // ----- system calls -----

    fn unmap(&mut self, s: u64, e: u64) -> Result<(), Errno> {
        let Some(first) = self.v.iter().position(|m| m.end > s && m.start < e) else {
            return Ok(());
        };
        let mut first = first;
        if self.v[first].start < s {
            if e < self.v[first].end && self.v.len() >= self.cfg.max_map_count {
                return Err(Errno::NoMem);
            }
            self.split(first, s);
            first += 1;
        }
        let mut last = first;
        while last < self.v.len() && self.v[last].start < e {
            if self.v[last].end > e {
                self.split(last, e);
            }
            last += 1;
        }
        self.v.drain(first..last);
        Ok(())
    }

    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE)
            || addr > self.cfg.task_size
            || len > self.cfg.task_size - addr
        {
            return Err(Errno::Inval);
        }
        let end = addr + len.div_ceil(PAGE) * PAGE;
        if end == addr {
            return Err(Errno::Inval);
        }
        self.unmap(addr, end)
    }

    /// Maps `[addr, end)` exactly (the region part of mmap).
    fn map_region(
        &mut self,
        addr: u64,
        end: u64,
        flags: VmFlags,
        pgoff: u64,
        file: Option<u64>,
    ) -> Result<(), Errno> {
        let saved = self.v.clone();
        if let Err(e) = self.unmap(addr, end) {
            self.v = saved;
            return Err(e);
        }
        let mut flags = flags;
        if flags & (VmFlags::NORESERVE | VmFlags::SHARED | VmFlags::WRITE) == VmFlags::WRITE {
            flags |= VmFlags::ACCOUNT;
        }
        let p = P {
            start: addr,
            end,
            pgoff,
            flags,
            file,
            anon: None,
        };
        if self.merge_new(&p, false).is_none() {
            let file = if file.is_none() && flags.contains(VmFlags::SHARED) {
                let id = (1 << 63) | self.next_shmem;
                self.next_shmem += 1;
                Some(id)
            } else {
                file
            };
            self.insert(M {
                start: addr,
                end,
                pgoff,
                flags,
                file,
                anon: None,
            });
        }
        Ok(())
    }

    fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: Prot,
        flags: MapFlags,
        file: Option<(u64, u64)>,
    ) -> Result<u64, Errno> {
        if len == 0 {
            return Err(Errno::Inval);
        }
        let fixed = flags.intersects(MapFlags::FIXED | MapFlags::FIXED_NOREPLACE);
        let mut addr = addr;
        if !fixed {
            addr &= !(PAGE - 1);
            if addr != 0 && addr < self.cfg.mmap_min_addr {
                addr = self.cfg.mmap_min_addr;
            }
        }
        let len = len.div_ceil(PAGE) * PAGE;
        if self.v.len() > self.cfg.max_map_count {
            return Err(Errno::NoMem);
        }
        let mut vm =
            VmFlags::from_prot(prot) | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC;
        if flags.contains(MapFlags::GROWSDOWN) {
            vm |= VmFlags::GROWSDOWN;
        }
        let shared = flags.contains(MapFlags::SHARED);
        let addr = if fixed {
            if !addr.is_multiple_of(PAGE) {
                return Err(Errno::Inval);
            }
            if addr > self.cfg.task_size - len {
                return Err(Errno::NoMem);
            }
            if addr < self.cfg.mmap_min_addr {
                return Err(Errno::Perm);
            }
            addr
        } else {
            self.placement(addr, len, file.is_none() && !shared && self.cfg.thp)?
        };
        if flags.contains(MapFlags::FIXED_NOREPLACE) && self.intersects(addr, addr + len) {
            return Err(Errno::Exist);
        }
        let (pgoff, file_id) = match file {
            Some((id, off)) => (off / PAGE, Some(id)),
            None if shared => {
                vm |= VmFlags::SHARED | VmFlags::MAYSHARE;
                (0, None)
            }
            None => (addr / PAGE, None),
        };
        self.map_region(addr, addr + len, vm, pgoff, file_id)?;
        Ok(addr)
    }

    fn mprotect(&mut self, start: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        if !start.is_multiple_of(PAGE) {
            return Err(Errno::Inval);
        }
        if len == 0 {
            return Ok(());
        }
        let end = start + len.div_ceil(PAGE) * PAGE;
        let Some(first) = self.v.iter().position(|m| m.end > start && m.start < end) else {
            return Err(Errno::NoMem);
        };
        if self.v[first].start > start {
            return Err(Errno::NoMem);
        }
        let mut nstart = start;
        let mut tmp = self.v[first].start;
        while let Some(i) = self.v.iter().position(|m| m.end > nstart && m.start < end) {
            let m = self.v[i].clone();
            if m.start != tmp {
                return Err(Errno::NoMem);
            }
            let mut newflags = VmFlags::from_prot(prot) | m.flags.without(VmFlags::ACCESS);
            let range_end = m.end.min(end);
            if newflags != m.flags {
                if newflags.contains(VmFlags::WRITE) {
                    let charged =
                        VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED | VmFlags::NORESERVE;
                    if !m.flags.intersects(charged) {
                        newflags |= VmFlags::ACCOUNT;
                    }
                } else if m.flags.contains(VmFlags::ACCOUNT) && m.anonymous() && m.anon.is_none() {
                    newflags = newflags.without(VmFlags::ACCOUNT);
                }
            }
            let r = self.modify(i, nstart, range_end, newflags)?;
            tmp = self.v[r].end;
            nstart = tmp;
            if nstart >= end {
                break;
            }
        }
        if tmp < end {
            return Err(Errno::NoMem);
        }
        Ok(())
    }

    fn brk(&mut self, brk: u64) -> u64 {
        let orig = self.brk;
        let ok = (|| {
            if brk < self.start_brk {
                return false;
            }
            let newbrk = brk.div_ceil(PAGE) * PAGE;
            let oldbrk = self.brk.div_ceil(PAGE) * PAGE;
            if newbrk == oldbrk {
                return true;
            }
            if brk <= self.brk {
                return self.intersects(newbrk, oldbrk) && self.unmap(newbrk, oldbrk).is_ok();
            }
            if let Some(next) = self.next_from(oldbrk)
                && next.start < newbrk + PAGE + self.cfg.stack_guard_gap
                && newbrk + PAGE > self.gap_start(next)
            {
                return false;
            }
            if self.v.len() > self.cfg.max_map_count {
                return false;
            }
            let flags = VmFlags::DATA_DEFAULT | VmFlags::ACCOUNT;
            let p = P {
                start: oldbrk,
                end: newbrk,
                pgoff: oldbrk / PAGE,
                flags,
                file: None,
                anon: None,
            };
            let below = self
                .prev_adjacent(oldbrk)
                .filter(|&i| self.v[i].end > self.start_brk);
            if below.is_none() || self.merge_new(&p, true).is_none() {
                self.insert(M {
                    start: oldbrk,
                    end: newbrk,
                    pgoff: oldbrk / PAGE,
                    flags,
                    file: None,
                    anon: None,
                });
            }
            true
        })();
        if ok {
            self.brk = brk;
            brk
        } else {
            orig
        }
    }

    /// Gives the VMA at `i` an anon_vma: a compatible neighbour's (next first), or a new one.
    fn anon_prepare(&mut self, i: usize) {
        let m = self.v[i].clone();
        if m.anon.is_some() {
            return;
        }
        let compatible = |a: &M, b: &M| {
            a.end == b.start
                && a.file == b.file
                && (a.flags.bits() ^ b.flags.bits()) & !VmFlags::ACCESS.bits() == 0
                && b.pgoff == a.pgoff_at(b.start)
        };
        let from_next = self
            .v
            .get(i + 1)
            .filter(|n| compatible(&m, n))
            .and_then(|n| n.anon);
        let from_prev = i
            .checked_sub(1)
            .map(|p| &self.v[p])
            .filter(|p| compatible(p, &m))
            .and_then(|p| p.anon);
        let anon = match from_next.or(from_prev) {
            Some(a) => a,
            None => {
                self.next_anon += 1;
                self.next_anon - 1
            }
        };
        self.v[i].anon = Some(anon);
    }

    /// A write fault: grows a stack below which it lands, then attaches an anon_vma.
    fn fault(&mut self, addr: u64) -> Result<(), Errno> {
        let i = self
            .v
            .iter()
            .position(|m| m.end > addr)
            .ok_or(Errno::Fault)?;
        if self.v[i].start > addr {
            let m = self.v[i].clone();
            if !m.flags.contains(VmFlags::GROWSDOWN) {
                return Err(Errno::Fault);
            }
            let address = addr & !(PAGE - 1);
            if address < self.cfg.mmap_min_addr {
                return Err(Errno::Fault);
            }
            if let Some(p) = i.checked_sub(1).map(|p| &self.v[p])
                && !p.flags.contains(VmFlags::GROWSDOWN)
                && p.flags.intersects(VmFlags::ACCESS)
                && address - p.end < self.cfg.stack_guard_gap
            {
                return Err(Errno::Fault);
            }
            self.anon_prepare(i);
            let grow = (m.start - address) / PAGE;
            if grow > m.pgoff || m.end - address > self.cfg.rlimit_stack {
                return Err(Errno::Fault);
            }
            self.v[i].start = address;
            self.v[i].pgoff -= grow;
        }
        let m = self.v[i].clone();
        if !m.flags.contains(VmFlags::WRITE) {
            return Err(Errno::Fault);
        }
        if !m.flags.contains(VmFlags::SHARED) {
            self.anon_prepare(i);
        }
        Ok(())
    }

    /// mremap of a range inside one VMA: shrink, grow in place, move, fixed move.
    fn mremap(
        &mut self,
        addr: u64,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        let fixed = flags.contains(MremapFlags::FIXED);
        if fixed {
            if !flags.contains(MremapFlags::MAYMOVE)
                || (addr + old_len > new_addr && new_addr + new_len > addr)
            {
                return Err(Errno::Inval);
            }
            if self.v.len() + 2 >= self.cfg.max_map_count - 3 {
                return Err(Errno::NoMem);
            }
        }
        let i = self.containing(addr).ok_or(Errno::Fault)?;
        let m = self.v[i].clone();
        if (fixed || new_len > old_len) && old_len.min(new_len) > m.end - addr {
            return Err(Errno::Fault);
        }
        if fixed {
            let saved = self.v.clone();
            if let Err(e) = self.unmap(new_addr, new_addr + new_len) {
                self.v = saved;
                return Err(e);
            }
            let mut old_len = old_len;
            if new_len < old_len {
                self.unmap(addr + new_len, addr + old_len)?;
                old_len = new_len;
            }
            return self.move_to(addr, old_len, new_len, new_addr);
        }
        if new_len == old_len {
            return Ok(addr);
        }
        if new_len < old_len {
            self.unmap(addr + new_len, addr + old_len)?;
            return Ok(addr);
        }
        let delta = new_len - old_len;
        if m.end - addr == old_len
            && m.end + delta <= self.cfg.task_size
            && !self.intersects(m.end, m.end + delta)
        {
            let p = P {
                start: m.end,
                end: m.end + delta,
                pgoff: m.pgoff_at(m.end),
                flags: m.flags,
                file: m.file,
                anon: m.anon,
            };
            self.merge_new(&p, false);
            return Ok(addr);
        }
        if !flags.contains(MremapFlags::MAYMOVE) {
            return Err(Errno::NoMem);
        }
        let to = self.area(0, new_len).ok_or(Errno::NoMem)?;
        self.move_to(addr, old_len, new_len, to)
    }

    fn move_to(&mut self, addr: u64, old_len: u64, new_len: u64, to: u64) -> Result<u64, Errno> {
        if self.v.len() >= self.cfg.max_map_count - 3 {
            return Err(Errno::NoMem);
        }
        let i = self.containing(addr).ok_or(Errno::Fault)?;
        let src = self.v[i].clone();
        let pgoff = if src.anonymous() && src.anon.is_none() {
            to / PAGE
        } else {
            src.pgoff_at(addr)
        };
        let p = P {
            start: to,
            end: to + new_len,
            pgoff,
            flags: src.flags,
            file: src.file,
            anon: src.anon,
        };
        if self.merge_new(&p, false).is_none() {
            self.insert(M {
                start: to,
                end: to + new_len,
                pgoff,
                ..src
            });
        }
        let saved = self.v.clone();
        if self.unmap(addr, addr + old_len).is_err() {
            self.v = saved;
        }
        Ok(to)
    }
}

/// Compares the address space with the model.
fn compare<I: VmaIndex>(mm: &AddressSpace<I>, model: &Model, what: &str) {
    let got: Vec<M> = mm
        .iter()
        .map(|v| M {
            start: v.start(),
            end: v.end(),
            pgoff: v.pgoff(),
            flags: v.flags(),
            file: v.file().map(|f| f.id().0),
            anon: v.anon_vma().map(|a| a.id().0),
        })
        .collect();
    assert!(
        got == model.v,
        "{what}: diverged\nmodel: {:#?}\nmm:\n{}",
        model.v,
        mm.maps()
    );
    assert_eq!(mm.map_count(), model.v.len(), "{what}");
    assert_eq!(mm.current_brk(), model.brk, "{what}");
    if let Err(e) = mm.check_invariants() {
        panic!("{what}: {e}\n{}", mm.maps());
    }
}

const REGION: u64 = 0x1000_0000;
const REGION_PAGES: u64 = 1024;
const HEAP: u64 = 0x5555_5555_0000;

/// Picks an address: near an existing VMA, or anywhere in the fixed region.
fn pick_addr(rng: &mut Rng, model: &Model) -> u64 {
    if !model.v.is_empty() && rng.chance(70) {
        let m = &model.v[usize::try_from(rng.below(model.v.len() as u64)).unwrap()];
        let span = m.pages() + 4;
        (m.start + rng.below(span) * PAGE).saturating_sub(2 * PAGE)
    } else {
        REGION + rng.below(REGION_PAGES) * PAGE
    }
}

fn pick_prot(rng: &mut Rng) -> Prot {
    [
        Prot::NONE,
        Prot::READ,
        Prot::READ | Prot::WRITE,
        Prot::READ | Prot::EXEC,
    ][usize::try_from(rng.below(4)).unwrap()]
}

/// What a run exercised, so that the tests can check they were not vacuous.
#[derive(Debug, Default)]
struct Stats {
    ok: usize,
    errors: usize,
    limit_errors: usize,
    merges: usize,
    splits: usize,
    peak: usize,
}

/// One random run of `ops` operations with `seed`.
fn run<I: VmaIndex>(seed: u64, ops: usize, max_map_count: usize) -> Stats {
    let mut stats = Stats::default();
    let cfg = AddressSpaceConfig {
        max_map_count,
        ..AddressSpaceConfig::default()
    };
    let mut mm = AddressSpace::<I>::with_index(cfg.clone());
    let mut model = Model::new(cfg);
    mm.set_brk_base(HEAP);
    model.brk = HEAP;
    model.start_brk = HEAP;
    let files = [
        Arc::new(File::new(FileId(1))),
        Arc::new(File::new(FileId(2))),
    ];
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for step in 0..ops {
        let op = rng.below(100);
        let what;
        let before = model.v.len();
        let at_limit = before + 5 >= max_map_count;
        match op {
            0..=29 => {
                let len = if rng.chance(3) {
                    PMD * (1 + rng.below(2))
                } else {
                    PAGE * (1 + rng.below(16))
                };
                let prot = pick_prot(&mut rng);
                let mut flags = MapFlags::PRIVATE | MapFlags::ANONYMOUS;
                let mut addr = 0;
                let mut file = None;
                match rng.below(10) {
                    0..=3 => {
                        addr = pick_addr(&mut rng, &model);
                        flags |= if rng.chance(80) {
                            MapFlags::FIXED
                        } else {
                            MapFlags::FIXED_NOREPLACE
                        };
                    }
                    4 => addr = pick_addr(&mut rng, &model),
                    5 => flags = MapFlags::SHARED | MapFlags::ANONYMOUS,
                    6 => {
                        addr = pick_addr(&mut rng, &model);
                        flags |= MapFlags::FIXED | MapFlags::GROWSDOWN;
                    }
                    7 => {
                        let f = usize::try_from(rng.below(2)).unwrap();
                        let off = rng.below(8) * PAGE;
                        addr = REGION + rng.below(REGION_PAGES) * PAGE;
                        flags = MapFlags::PRIVATE | MapFlags::FIXED;
                        file = Some((f, off));
                    }
                    _ => {}
                }
                what = format!(
                    "step {step}: mmap({addr:#x}, {len:#x}, {prot:?}, {flags:?}, {file:?})"
                );
                let got = mm.mmap(
                    addr,
                    len,
                    prot,
                    flags,
                    file.map(|(f, _)| &files[f]),
                    file.map_or(0, |(_, o)| o),
                );
                let want = model.mmap(addr, len, prot, flags, file.map(|(f, o)| (f as u64 + 1, o)));
                assert_eq!(got, want, "{what}");
                if got.is_ok() && model.v.len() <= before {
                    stats.merges += 1;
                }
                tally(&mut stats, got.map(drop), at_limit);
            }
            30..=49 => {
                let addr = pick_addr(&mut rng, &model);
                let len = PAGE * (1 + rng.below(12));
                what = format!("step {step}: munmap({addr:#x}, {len:#x})");
                let got = mm.munmap(addr, len);
                assert_eq!(got, model.munmap(addr, len), "{what}");
                tally(&mut stats, got, at_limit);
            }
            50..=69 => {
                let addr = pick_addr(&mut rng, &model);
                let len = PAGE * (1 + rng.below(12));
                let prot = pick_prot(&mut rng);
                what = format!("step {step}: mprotect({addr:#x}, {len:#x}, {prot:?})");
                let got = mm.mprotect(addr, len, prot);
                assert_eq!(got, model.mprotect(addr, len, prot), "{what}");
                if model.v.len() > before {
                    stats.splits += 1;
                }
                tally(&mut stats, got, at_limit);
            }
            70..=79 if !model.v.is_empty() => {
                let m = model.v[usize::try_from(rng.below(model.v.len() as u64)).unwrap()].clone();
                let addr = m.start + rng.below(m.pages()) * PAGE;
                let old_len = PAGE * (1 + rng.below((m.end - addr) / PAGE));
                let new_len = PAGE * (1 + rng.below(20));
                let (flags, new_addr) = match rng.below(4) {
                    0 => (MremapFlags::empty(), 0),
                    1 => {
                        let to = REGION + rng.below(REGION_PAGES) * PAGE;
                        (MremapFlags::MAYMOVE | MremapFlags::FIXED, to)
                    }
                    _ => (MremapFlags::MAYMOVE, 0),
                };
                what = format!(
                    "step {step}: mremap({addr:#x}, {old_len:#x}, {new_len:#x}, {flags:?}, {new_addr:#x})"
                );
                let got = mm.mremap(addr, old_len, new_len, flags, new_addr);
                let want = model.mremap(addr, old_len, new_len, flags, new_addr);
                assert_eq!(got, want, "{what}");
                tally(&mut stats, got.map(drop), at_limit);
            }
            80..=89 => {
                let target = HEAP + rng.below(64) * 0x800;
                what = format!("step {step}: brk({target:#x})");
                assert_eq!(mm.brk(target), model.brk(target), "{what}");
            }
            _ => {
                let addr = pick_addr(&mut rng, &model);
                what = format!("step {step}: fault({addr:#x})");
                let got = mm.fault(addr, true);
                let want = model.fault(addr);
                assert_eq!(got, want, "{what}");
                tally(&mut stats, got, false);
            }
        }
        compare(&mm, &model, &what);
        stats.peak = stats.peak.max(model.v.len());
    }
    // The anon_vma ids match too: both count from 1.
    assert!(
        mm.iter()
            .all(|v| v.anon_vma().is_none_or(|a| a.id() >= AnonVmaId(1)))
    );
    stats
}

fn tally(stats: &mut Stats, result: Result<(), Errno>, at_limit: bool) {
    match result {
        Ok(()) => stats.ok += 1,
        Err(e) => {
            stats.errors += 1;
            if at_limit && e == Errno::NoMem {
                stats.limit_errors += 1;
            }
        }
    }
}

/// Thousands of random operations on the maple-tree address space agree with the model.
#[test]
fn random_sequences_match_the_model() {
    for seed in 1..=12 {
        let stats = run::<maple_mm::MapleIndex>(seed, 2500, 65530);
        assert!(stats.ok > 1000 && stats.errors > 10, "{stats:?}");
        assert!(
            stats.merges > 50 && stats.splits > 50 && stats.peak > 40,
            "{stats:?}"
        );
    }
}

/// With a small max_map_count the limit checks of every call agree with the model.
#[test]
fn random_sequences_at_the_map_count_limit() {
    let mut limit_errors = 0;
    for seed in 100..=107 {
        let stats = run::<maple_mm::MapleIndex>(seed, 2000, 40);
        assert!(stats.peak >= 40, "{stats:?}");
        limit_errors += stats.limit_errors;
    }
    assert!(limit_errors > 20, "the limit was never hit");
}

/// The BTreeMap index runs the same logic: it agrees with the model too.
#[test]
fn random_sequences_on_the_btree_index() {
    for seed in 200..=203 {
        let stats = run::<BTreeIndex>(seed, 2000, 65530);
        assert!(stats.ok > 800, "{stats:?}");
    }
}
