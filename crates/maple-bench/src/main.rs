//! The `maple-bench` suite (work in progress).

#![forbid(unsafe_code)]

fn main() {}
