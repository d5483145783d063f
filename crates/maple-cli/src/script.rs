//! The script language: [`parse_line`] reads one line, [`run`] runs a whole script against a
//! fresh tree and prints one line per query.
//!
//! The format is described in the [crate docs](crate) and in [`FORMAT`].
//!
//! Values are `u64`s, which the tree keeps inline in their slots when they fit in 63 bits.

use std::fmt;
use std::io::{self, BufRead, BufWriter, Write};

use maple_tree::{ClearError, GapError, GapRequest, InsertErrorKind, MapleTree, StoreErrorKind};

/// The description of the script format that `maple script --help` prints and the crate docs
/// show.
pub const FORMAT: &str = include_str!("format.txt");

/// What a script's tree holds.
type Tree = MapleTree<u64>;

/// The kind of tree a script runs against, chosen by a `tree` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TreeKind {
    /// `tree alloc`: an allocation tree ([`MapleTree::new_alloc`]), which tracks gaps. The
    /// default.
    #[default]
    Alloc,
    /// `tree range`: a plain range tree ([`MapleTree::new`]); gap searches visit its leaves.
    Range,
}

impl TreeKind {
    fn new_tree(self) -> Tree {
        match self {
            Self::Alloc => MapleTree::new_alloc(),
            Self::Range => MapleTree::new(),
        }
    }
}

/// One operation of a script. Ranges are inclusive; a `value` of `None` means the op's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `S first last [value]`: stores `value` (default `first`) over the range. Prints nothing,
    /// or `invalid` when `first > last`.
    Store {
        /// First index of the range.
        first: u64,
        /// Last index of the range.
        last: u64,
        /// The value to store; `None` stores `first`.
        value: Option<u64>,
    },
    /// `N first last`: empties the range. Prints nothing, or `invalid` when `first > last`.
    Clear {
        /// First index of the range.
        first: u64,
        /// Last index of the range.
        last: u64,
    },
    /// `I first last [value]`: stores `value` (default `first`) if the range is empty. Prints
    /// `ok`, `occupied` or `invalid`.
    Insert {
        /// First index of the range.
        first: u64,
        /// Last index of the range.
        last: u64,
        /// The value to store; `None` stores `first`.
        value: Option<u64>,
    },
    /// `E index [ignored]`: erases the entry containing `index`. Prints its value or `none`.
    Erase {
        /// An index inside the entry to erase.
        index: u64,
    },
    /// `L index`: prints the entry containing `index` as `first last value`, or `none`.
    Lookup {
        /// The index to look up.
        index: u64,
    },
    /// `F start limit`: prints the first entry intersecting `[start, limit]`, or `none`.
    Find {
        /// Where the search starts.
        start: u64,
        /// The highest index the entry may start at.
        limit: u64,
    },
    /// `P start min`: prints the last entry intersecting `[min, start]`, or `none`.
    FindRev {
        /// Where the search starts.
        start: u64,
        /// The lowest index the entry may end at.
        min: u64,
    },
    /// `G min max size` (lowest fit) or `H min max size` (highest fit, `rev`): prints the start
    /// of a free run of `size` indices inside `[min, max]`, `none` or `invalid`.
    Gap {
        /// Lowest index of the window.
        min: u64,
        /// Highest index of the window.
        max: u64,
        /// Number of indices wanted.
        size: u64,
        /// Whether to search top-down (`H`).
        rev: bool,
    },
    /// `A min max size [value]` (lowest fit) or `B …` (highest fit, `rev`): finds a fit as
    /// [`Op::Gap`] does and stores `value` (default: the start) there. Prints the start, `busy`
    /// or `invalid`.
    Alloc {
        /// Lowest index of the window.
        min: u64,
        /// Highest index of the window.
        max: u64,
        /// Number of indices to allocate.
        size: u64,
        /// The value to store; `None` stores the start found.
        value: Option<u64>,
        /// Whether to search top-down (`B`).
        rev: bool,
    },
    /// `D`: prints every entry as `first last value`, in order, then `end`.
    Dump,
    /// `C`: prints `ok`, or the first invariant violation on one line.
    Check,
    /// `X`: prints `height H nodes N`.
    Shape,
}

/// What one line of a script says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A blank or comment-only line.
    Blank,
    /// A `tree` line choosing the kind of tree.
    Tree(TreeKind),
    /// An operation.
    Op(Op),
}

/// Why a line is malformed. Its `Display` is the reason printed after `line N: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The first token is not an op.
    UnknownOp(String),
    /// Fewer numbers than the op needs.
    MissingNumber {
        /// How the op is written.
        usage: &'static str,
    },
    /// More tokens than the op takes.
    ExtraArgument {
        /// The first token too many.
        token: String,
        /// How the op is written.
        usage: &'static str,
    },
    /// A token that is not a decimal or `0x` hex number.
    Unparsable(String),
    /// A number larger than 2^64-1.
    TooLarge(String),
    /// `tree` without a kind.
    MissingTreeKind,
    /// `tree` followed by something other than `alloc` or `range`.
    UnknownTreeKind(String),
    /// A `tree` line after the first line that is not blank or a comment.
    TreeNotFirst,
}

/// How a `tree` line is written.
const TREE_USAGE: &str = "tree alloc|range";

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownOp(op) => write!(f, "unknown op `{op}`"),
            Self::MissingNumber { usage } => write!(f, "missing number (usage: `{usage}`)"),
            Self::ExtraArgument { token, usage } => {
                write!(f, "extra argument `{token}` (usage: `{usage}`)")
            }
            Self::Unparsable(token) => {
                write!(
                    f,
                    "unparsable number `{token}` (expected decimal or 0x hex)"
                )
            }
            Self::TooLarge(token) => write!(f, "number `{token}` is larger than 2^64-1"),
            Self::MissingTreeKind => write!(f, "missing tree kind (usage: `{TREE_USAGE}`)"),
            Self::UnknownTreeKind(kind) => {
                write!(f, "unknown tree kind `{kind}` (usage: `{TREE_USAGE}`)")
            }
            Self::TreeNotFirst => {
                f.write_str("`tree` must be the first line that is not blank or a comment")
            }
        }
    }
}

impl std::error::Error for Malformed {}

/// Why a script stopped.
#[derive(Debug)]
pub enum Error {
    /// Line `line` (1-based) is malformed. `maple` exits with status 2.
    Malformed {
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: Malformed,
    },
    /// The tree failed an operation that was not the script's fault (it ran out of memory, or
    /// broke its own contract). `maple` exits with status 1.
    Tree {
        /// The 1-based line number.
        line: usize,
        /// What the tree reported.
        reason: String,
    },
    /// Reading the script failed.
    Read(io::Error),
    /// Writing the output failed.
    Write(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
            Self::Tree { line, reason } => write!(f, "line {line}: {reason}"),
            Self::Read(e) => write!(f, "cannot read the script: {e}"),
            Self::Write(e) => write!(f, "cannot write the output: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed { reason, .. } => Some(reason),
            Self::Tree { .. } => None,
            Self::Read(e) | Self::Write(e) => Some(e),
        }
    }
}

/// Parses one line of a script (a trailing `\n` or `\r\n` is allowed).
///
/// # Errors
///
/// The [`Malformed`] reason when the line is not a blank line, a comment, a `tree` line or an
/// op with the right numbers. Whether a `tree` line is allowed where it stands is for the
/// caller to decide ([`run`] does).
///
/// # Examples
///
/// ```
/// use maple_cli::script::{Line, Op, parse_line};
///
/// let line = parse_line(b"S 0x10 31  # a store").unwrap();
/// assert_eq!(line, Line::Op(Op::Store { first: 16, last: 31, value: None }));
/// assert_eq!(parse_line(b"   # just a comment\n").unwrap(), Line::Blank);
/// assert_eq!(
///     parse_line(b"L 1 2").unwrap_err().to_string(),
///     "extra argument `2` (usage: `L index`)"
/// );
/// ```
pub fn parse_line(text: &[u8]) -> Result<Line, Malformed> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let text = match text.iter().position(|&b| b == b'#') {
        Some(comment) => &text[..comment],
        None => text,
    };
    let mut tokens = text
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|token| !token.is_empty());
    match tokens.next() {
        None => Ok(Line::Blank),
        Some(b"tree") => parse_tree(tokens).map(Line::Tree),
        Some(op) => parse_op(op, tokens).map(Line::Op),
    }
}

/// A token as text for a message; bytes that are not UTF-8 show as U+FFFD.
fn lossy(token: &[u8]) -> String {
    String::from_utf8_lossy(token).into_owned()
}

fn parse_tree<'a>(mut args: impl Iterator<Item = &'a [u8]>) -> Result<TreeKind, Malformed> {
    let kind = match args.next() {
        None => return Err(Malformed::MissingTreeKind),
        Some(b"alloc") => TreeKind::Alloc,
        Some(b"range") => TreeKind::Range,
        Some(other) => return Err(Malformed::UnknownTreeKind(lossy(other))),
    };
    match args.next() {
        None => Ok(kind),
        Some(extra) => Err(Malformed::ExtraArgument {
            token: lossy(extra),
            usage: TREE_USAGE,
        }),
    }
}

/// Builds an op from its required numbers (unused ones are 0) and its optional one.
type Build = fn([u64; 3], Option<u64>) -> Op;

/// Parses the numbers of one op: its required ones, then at most one optional one.
fn parse_op<'a>(op: &[u8], args: impl Iterator<Item = &'a [u8]>) -> Result<Op, Malformed> {
    // (usage, required numbers, takes an optional one, build)
    let (usage, required, optional, build): (&'static str, usize, bool, Build) = match op {
        b"S" => ("S first last [value]", 2, true, |a, value| Op::Store {
            first: a[0],
            last: a[1],
            value,
        }),
        b"N" => ("N first last", 2, false, |a, _| Op::Clear {
            first: a[0],
            last: a[1],
        }),
        b"I" => ("I first last [value]", 2, true, |a, value| Op::Insert {
            first: a[0],
            last: a[1],
            value,
        }),
        // The kernel's erase2 sets carry the entry's last index here; erase ignores it.
        b"E" => ("E index [ignored]", 1, true, |a, _| Op::Erase {
            index: a[0],
        }),
        b"L" => ("L index", 1, false, |a, _| Op::Lookup { index: a[0] }),
        b"F" => ("F start limit", 2, false, |a, _| Op::Find {
            start: a[0],
            limit: a[1],
        }),
        b"P" => ("P start min", 2, false, |a, _| Op::FindRev {
            start: a[0],
            min: a[1],
        }),
        b"G" => ("G min max size", 3, false, |a, _| Op::Gap {
            min: a[0],
            max: a[1],
            size: a[2],
            rev: false,
        }),
        b"H" => ("H min max size", 3, false, |a, _| Op::Gap {
            min: a[0],
            max: a[1],
            size: a[2],
            rev: true,
        }),
        b"A" => ("A min max size [value]", 3, true, |a, value| Op::Alloc {
            min: a[0],
            max: a[1],
            size: a[2],
            value,
            rev: false,
        }),
        b"B" => ("B min max size [value]", 3, true, |a, value| Op::Alloc {
            min: a[0],
            max: a[1],
            size: a[2],
            value,
            rev: true,
        }),
        b"D" => ("D", 0, false, |_, _| Op::Dump),
        b"C" => ("C", 0, false, |_, _| Op::Check),
        b"X" => ("X", 0, false, |_, _| Op::Shape),
        _ => return Err(Malformed::UnknownOp(lossy(op))),
    };
    let most = required + usize::from(optional);
    let mut numbers = [0u64; 4];
    let mut count = 0;
    for token in args {
        if count == most {
            return Err(Malformed::ExtraArgument {
                token: lossy(token),
                usage,
            });
        }
        numbers[count] = parse_number(token)?;
        count += 1;
    }
    if count < required {
        return Err(Malformed::MissingNumber { usage });
    }
    let value = (count > required).then_some(numbers[required]);
    Ok(build([numbers[0], numbers[1], numbers[2]], value))
}

/// Parses a decimal or `0x` hex number of at most 2^64-1. Signs, underscores and empty digit
/// strings are rejected.
fn parse_number(token: &[u8]) -> Result<u64, Malformed> {
    let (digits, radix) = match token.strip_prefix(b"0x") {
        Some(hex) => (hex, 16),
        None => (token, 10),
    };
    // One pass (scripts are mostly numbers); a bad digit after an overflow still makes the
    // token unparsable rather than too large.
    let mut value = Some(0u64);
    for &b in digits {
        let Some(d) = char::from(b).to_digit(radix) else {
            return Err(Malformed::Unparsable(lossy(token)));
        };
        value = value
            .and_then(|n| n.checked_mul(u64::from(radix)))
            .and_then(|n| n.checked_add(u64::from(d)));
    }
    match value {
        _ if digits.is_empty() => Err(Malformed::Unparsable(lossy(token))),
        Some(n) => Ok(n),
        None => Err(Malformed::TooLarge(lossy(token))),
    }
}

/// Runs a script read from `input` against a fresh tree, writing one line per query to
/// `output` (buffered here, so pass an unbuffered writer such as a locked stdout).
///
/// Ops run as their lines are read, so the output of the lines before a malformed one is
/// written (and flushed) before the error is returned.
///
/// # Errors
///
/// [`Error::Malformed`] for the first malformed line, [`Error::Tree`] if the tree fails an
/// operation through no fault of the script (out of memory), [`Error::Read`] or
/// [`Error::Write`] if the input or the output fails.
///
/// # Examples
///
/// ```
/// let script = "tree alloc\nS 10 19 7\nL 15\nG 0 100 10\nI 20 20\nD\n";
/// let mut out = Vec::new();
/// maple_cli::script::run(script.as_bytes(), &mut out).unwrap();
/// assert_eq!(String::from_utf8(out).unwrap(), "10 19 7\n0\nok\n10 19 7\n20 20 20\nend\n");
///
/// let mut out = Vec::new();
/// let err = maple_cli::script::run(&b"L 0\nQ 1\nL 0\n"[..], &mut out).unwrap_err();
/// assert_eq!(err.to_string(), "line 2: unknown op `Q`");
/// assert_eq!(out, b"none\n");
/// ```
pub fn run<R: BufRead, W: Write>(mut input: R, output: W) -> Result<(), Error> {
    let mut out = BufWriter::with_capacity(1 << 16, output);
    let result = run_lines(&mut input, &mut out, &mut None);
    // Whatever the earlier lines printed stays printed, even when a later line stopped the run.
    let flushed = out.flush().map_err(Error::Write);
    result.and(flushed)
}

/// Runs a script as [`run`] does, without printing the answers to its queries, and returns the
/// tree it leaves: what `maple dump --script` draws.
///
/// A script without any op leaves an empty tree of the kind its `tree` line chose (an
/// allocation tree by default).
///
/// # Errors
///
/// As [`run`]: [`Error::Malformed`], [`Error::Tree`] or [`Error::Read`] (never
/// [`Error::Write`]).
///
/// # Examples
///
/// ```
/// let tree = maple_cli::script::final_tree(&b"tree range\nS 10 19 7\nE 10\nS 30 39\n"[..]).unwrap();
/// assert!(!tree.is_alloc());
/// assert_eq!(tree.len(), 1);
/// assert_eq!(tree.get(35), Some(30));
/// ```
pub fn final_tree<R: BufRead>(mut input: R) -> Result<MapleTree<u64>, Error> {
    let mut tree = None;
    run_lines(&mut input, &mut io::sink(), &mut tree)?;
    Ok(tree.unwrap_or_else(|| TreeKind::default().new_tree()))
}

/// Runs the lines of `input` against `tree`, which a `tree` line or the first op creates.
fn run_lines<R: BufRead, W: Write>(
    input: &mut R,
    out: &mut W,
    tree: &mut Option<Tree>,
) -> Result<(), Error> {
    let mut text = Vec::new();
    let mut line = 0;
    loop {
        text.clear();
        if input.read_until(b'\n', &mut text).map_err(Error::Read)? == 0 {
            return Ok(());
        }
        line += 1;
        let malformed = |reason| Error::Malformed { line, reason };
        match parse_line(&text).map_err(malformed)? {
            Line::Blank => {}
            Line::Tree(_) if tree.is_some() => return Err(malformed(Malformed::TreeNotFirst)),
            Line::Tree(kind) => *tree = Some(kind.new_tree()),
            Line::Op(op) => {
                let tree = tree.get_or_insert_with(|| TreeKind::default().new_tree());
                apply(tree, op, out).map_err(|fault| match fault {
                    Fault::Write(e) => Error::Write(e),
                    Fault::Tree(reason) => Error::Tree { line, reason },
                })?;
            }
        }
    }
}

/// Why one op could not finish.
enum Fault {
    Write(io::Error),
    Tree(String),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Self::Write(e)
    }
}

/// The writer every write of a script goes through. A script owns its tree and no reader
/// runs beside it, so it writes in exclusive mode: nodes are rewritten in place and freed at
/// once.
fn writer(tree: &mut Tree) -> maple_tree::WriteGuard<'_, u64> {
    tree.exclusive()
}

/// Runs one op and prints its answer.
fn apply<W: Write>(tree: &mut Tree, op: Op, out: &mut W) -> Result<(), Fault> {
    match op {
        Op::Store { first, last, value } => {
            if let Err(e) = writer(tree).store_range(first..=last, value.unwrap_or(first)) {
                match e.kind() {
                    StoreErrorKind::InvalidRange => writeln!(out, "invalid")?,
                    _ => return Err(Fault::Tree(e.to_string())),
                }
            }
        }
        Op::Clear { first, last } => match writer(tree).clear_range(first..=last) {
            Ok(()) => {}
            Err(ClearError::InvalidRange) => writeln!(out, "invalid")?,
            Err(e) => return Err(Fault::Tree(e.to_string())),
        },
        Op::Insert { first, last, value } => {
            match writer(tree).insert_range(first..=last, value.unwrap_or(first)) {
                Ok(()) => writeln!(out, "ok")?,
                Err(e) => match e.kind() {
                    InsertErrorKind::Occupied => writeln!(out, "occupied")?,
                    InsertErrorKind::InvalidRange => writeln!(out, "invalid")?,
                    _ => return Err(Fault::Tree(e.to_string())),
                },
            }
        }
        Op::Erase { index } => match writer(tree).erase(index) {
            Some(value) => writeln!(out, "{value}")?,
            None => writeln!(out, "none")?,
        },
        Op::Lookup { index } => print_entry(out, tree.read().get_range(index))?,
        Op::Find { start, limit } => print_entry(out, tree.read().find(start..=limit))?,
        Op::FindRev { start, min } => print_entry(out, tree.read().find_rev(min..=start))?,
        Op::Gap {
            min,
            max,
            size,
            rev,
        } => {
            let found = if rev {
                tree.find_gap_rev(min..=max, size)
            } else {
                tree.find_gap(min..=max, size)
            };
            match found {
                Ok(start) => writeln!(out, "{start}")?,
                Err(GapError::NoSpace) => writeln!(out, "none")?,
                Err(_) => writeln!(out, "invalid")?,
            }
        }
        Op::Alloc {
            min,
            max,
            size,
            value,
            rev,
        } => alloc(tree, min, max, size, value, rev, out)?,
        Op::Dump => {
            let guard = tree.read();
            for (range, value) in guard.iter() {
                writeln!(out, "{} {} {value}", range.first(), range.last())?;
            }
            writeln!(out, "end")?;
        }
        Op::Check => match tree.check_invariants() {
            Ok(()) => writeln!(out, "ok")?,
            Err(violation) => writeln!(out, "{}", violation.to_string().replace('\n', " "))?,
        },
        Op::Shape => writeln!(
            out,
            "height {} nodes {}",
            tree.stats().height,
            tree.stats().nodes
        )?,
    }
    Ok(())
}

/// `A` and `B`: the search and the insert run under one write guard, so nothing can take the
/// gap in between, and the default value (the start) is known before the insert (which
/// [`MapleTree::alloc_range`] cannot do).
fn alloc<W: Write>(
    tree: &mut Tree,
    min: u64,
    max: u64,
    size: u64,
    value: Option<u64>,
    rev: bool,
    out: &mut W,
) -> Result<(), Fault> {
    let request = GapRequest::new(min..=max, size);
    let request = if rev { request.top_down() } else { request };
    let mut w = writer(tree);
    let start = match w.find_gap_for(request) {
        Ok(start) => start,
        Err(GapError::NoSpace) => return Ok(writeln!(out, "busy")?),
        Err(_) => return Ok(writeln!(out, "invalid")?),
    };
    // A successful search had `size >= 1` and a fit that ends by `max`, so this cannot
    // overflow; the check keeps a tree bug from turning into a panic.
    let Some(last) = start.checked_add(size.saturating_sub(1)) else {
        return Err(Fault::Tree(format!(
            "the gap search returned {start}, where {size} indices do not fit"
        )));
    };
    match w.insert_range(start..=last, value.unwrap_or(start)) {
        Ok(()) => Ok(writeln!(out, "{start}")?),
        Err(e) => Err(Fault::Tree(format!(
            "the gap search returned {start}, but inserting [{start}, {last}] failed: {e}"
        ))),
    }
}

/// Prints an entry as `first last value`, or `none`.
fn print_entry<W: Write>(
    out: &mut W,
    entry: Option<(maple_tree::Range, maple_tree::Ref<'_, u64>)>,
) -> io::Result<()> {
    match entry {
        Some((range, value)) => writeln!(out, "{} {} {value}", range.first(), range.last()),
        None => writeln!(out, "none"),
    }
}

#[cfg(test)]
mod tests;
