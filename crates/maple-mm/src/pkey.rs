//! Memory protection keys: `pkey_alloc`, `pkey_free`, and the key `mprotect` and `mmap` give a
//! VMA.
//!
//! A key is four bits of a VMA's flags ([`VmFlags::PKEY`]), so VMAs with different keys never
//! merge. How many keys exist depends on the machine
//! ([`AddressSpaceConfig::pkeys`](crate::AddressSpaceConfig::pkeys)): x86-64 with PKU has 16;
//! without it there is none, and every key but -1 is invalid.
//!
//! | call | with keys | without |
//! |---|---|---|
//! | `pkey_alloc(0, rights)` | the lowest free key, `ENOSPC` when none is left | `EINVAL` |
//! | `pkey_free(key)` | frees an allocated key (key 0 too); `EINVAL` otherwise | `EINVAL` |
//! | `pkey_mprotect(.., key)` | `key` must be allocated (not the execute-only key); -1 keeps each VMA's key | only -1 |
//! | `mprotect(.., PROT_EXEC)`, `mmap(.., PROT_EXEC, ..)` | the execute-only key, allocated on first use | key 0 |
//!
//! Linux: `pkey_alloc()`, `pkey_free()` in mm/mprotect.c; `mm_pkey_alloc()`,
//! `mm_pkey_is_allocated()`, `mm_pkey_free()`, `__execute_only_pkey()`,
//! `__arch_override_mprotect_pkey()` in arch/x86.

use crate::address_space::AddressSpace;
use crate::error::Errno;
use crate::flags::{Prot, VmFlags};
use crate::index::VmaIndex;

/// The access rights `pkey_alloc` accepts: `PKEY_DISABLE_ACCESS | PKEY_DISABLE_WRITE`.
const PKEY_ACCESS_MASK: u64 = 0x3;

impl<I: VmaIndex> AddressSpace<I> {
    /// How many keys the machine has (at most 16: four bits of `vm_flags`).
    fn pkey_count(&self) -> u32 {
        self.config.pkeys.min(16)
    }

    /// Allocates a protection key with initial access rights `rights` (0, or
    /// `PKEY_DISABLE_ACCESS` 1 and/or `PKEY_DISABLE_WRITE` 2) and returns it: the lowest
    /// free one.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] for flags other than 0, unknown rights, or a machine without keys;
    /// [`Errno::NoSpc`] when every key is allocated.
    ///
    /// # Examples
    ///
    /// ```
    /// use maple_mm::{AddressSpace, AddressSpaceConfig, Errno};
    ///
    /// let mut pku = AddressSpace::with_config(AddressSpaceConfig { pkeys: 16, ..Default::default() });
    /// assert_eq!(pku.pkey_alloc(0, 0), Ok(1)); // key 0 is everyone's from the start
    /// assert_eq!(pku.pkey_alloc(0, 4), Err(Errno::Inval));
    ///
    /// let mut none = AddressSpace::new(); // no protection keys
    /// assert_eq!(none.pkey_alloc(0, 0), Err(Errno::Inval));
    /// ```
    ///
    /// Linux: `pkey_alloc()`.
    #[doc(alias = "mm_pkey_alloc")]
    pub fn pkey_alloc(&mut self, flags: u64, rights: u64) -> Result<u32, Errno> {
        if flags != 0 || rights & !PKEY_ACCESS_MASK != 0 {
            return Err(Errno::Inval);
        }
        // Without keys Linux finds key 0 free in an empty map, then fails to set its rights.
        if self.pkey_count() == 0 {
            return Err(Errno::Inval);
        }
        let key = self.free_pkey().ok_or(Errno::NoSpc)?;
        self.pkeys_allocated |= 1 << key;
        Ok(key)
    }

    /// Frees protection key `key`. VMAs keep the key they have.
    ///
    /// # Errors
    ///
    /// [`Errno::Inval`] if `key` is not allocated (the execute-only key never counts as
    /// allocated here).
    ///
    /// ```
    /// use maple_mm::{AddressSpace, AddressSpaceConfig, Errno};
    /// let mut mm = AddressSpace::with_config(AddressSpaceConfig { pkeys: 16, ..Default::default() });
    /// let key = mm.pkey_alloc(0, 0)?;
    /// mm.pkey_free(1)?;
    /// assert_eq!(mm.pkey_free(1), Err(Errno::Inval));
    /// assert_eq!(key, 1);
    /// # Ok::<(), Errno>(())
    /// ```
    ///
    /// Linux: `pkey_free()`, `mm_pkey_free()`.
    pub fn pkey_free(&mut self, key: i32) -> Result<(), Errno> {
        if !self.pkey_is_allocated(key) {
            return Err(Errno::Inval);
        }
        self.pkeys_allocated &= !(1 << key);
        Ok(())
    }

    /// The lowest key not allocated, if any.
    fn free_pkey(&self) -> Option<u32> {
        (0..self.pkey_count()).find(|&k| self.pkeys_allocated & (1 << k) == 0)
    }

    /// Whether `key` may be given to `pkey_mprotect` and `pkey_free` (Linux:
    /// `mm_pkey_is_allocated()`).
    pub(crate) fn pkey_is_allocated(&self, key: i32) -> bool {
        let Ok(key) = u32::try_from(key) else {
            return false;
        };
        key < self.pkey_count()
            && Some(key) != self.execute_only_pkey
            && self.pkeys_allocated & (1 << key) != 0
    }

    /// The execute-only key, allocated on first use; `None` without keys or when none is
    /// free (Linux: `execute_only_pkey()`).
    pub(crate) fn execute_only_pkey(&mut self) -> Option<u32> {
        if self.pkey_count() == 0 {
            return None;
        }
        if self.execute_only_pkey.is_none() {
            let key = self.free_pkey()?;
            self.pkeys_allocated |= 1 << key;
            self.execute_only_pkey = Some(key);
        }
        self.execute_only_pkey
    }

    /// The key `mprotect` gives a VMA with flags `old`, given the protection asked for, the
    /// key passed (-1 for plain `mprotect`) and the execute-only key if `prot` is exactly
    /// `PROT_EXEC` and one could be had (Linux: `arch_override_mprotect_pkey()`).
    pub(crate) fn mprotect_pkey(
        &self,
        old: VmFlags,
        prot: Prot,
        pkey: i32,
        exec_only: Option<u32>,
    ) -> u32 {
        if self.pkey_count() == 0 {
            return 0;
        }
        if let Ok(key) = u32::try_from(pkey) {
            return key;
        }
        if prot == Prot::EXEC
            && let Some(key) = exec_only.filter(|&k| k > 0)
        {
            return key;
        }
        let exec_only_vma =
            old & VmFlags::ACCESS == VmFlags::EXEC && Some(old.pkey()) == self.execute_only_pkey;
        if prot != Prot::EXEC && exec_only_vma {
            return 0;
        }
        old.pkey()
    }
}
