//! The `maple` command and its script language, for driving a [`maple_tree::MapleTree`] from
//! text: `maple script FILE` runs a tree script (or `maple script -` reads one from standard
//! input) and prints one line per query.
//!
//! Scripts are how we replay captured workloads (the kernel's erase2 sets use the same `S`, `N`
//! and `E` lines), pin down a behaviour in a regression file, and poke at the tree by hand. The
//! workspace's `examples/scripts/` holds a tour of every operation and a replay of a real `cc1`
//! address space.
//!
//! The parser and the runner live in [`script`] and need no process: [`script::run`] takes any
//! reader and writer. [`cli`] is the command line around it.
//!
//! `maple dump` draws a tree, a trace step's VMA tree or a script's final tree, as text and as
//! an SVG picture ([`dump_cmd`], [`draw`]).
//!
//! # The script format
//!
//! This text is also what `maple script --help` prints.
//!
#![doc = concat!("```text\n", include_str!("format.txt"), "```")]
#![forbid(unsafe_code)]

pub mod capture_cmd;
pub mod cli;
pub mod draw;
pub mod dump_cmd;
pub mod export_cmd;
pub mod fuzz_cmd;
pub mod output;
pub mod script;
pub mod trace_cmd;
