//! A model of a Linux process address space on the maple tree.
//!
//! Crate docs are written at the end.

#![forbid(unsafe_code)]

mod address_space;
mod brk;
mod error;
mod fault;
mod flags;
mod index;
mod iter;
mod madvise;
mod merge;
mod mlock;
mod mmap;
mod mprotect;
mod mremap;
mod munmap;
mod ops;
mod split;
mod unmapped_area;
mod vma;
mod window;

pub use address_space::{AddressSpace, AddressSpaceConfig, Maps, RLIM_INFINITY};
pub use error::{Errno, InvariantError};
pub use flags::{Advice, MapFlags, McFlags, MlockFlags, MremapFlags, Prot, VmFlags};
pub use index::{BTreeIndex, IndexEntry, IndexWrite, MapleIndex, VmaIndex, WritePlan};
pub use iter::VmaIter;
pub use ops::MergeRequest;
pub use vma::{AnonVma, AnonVmaId, File, FileId, PAGE_SHIFT, PAGE_SIZE, Vma, VmaId};
