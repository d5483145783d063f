//! A model of a Linux process address space on the maple tree (work in progress).

#![forbid(unsafe_code)]
