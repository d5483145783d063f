//! Reading the text form of a trace, with an error that names the line and the reason.
//!
//! The parser checks more than syntax: operations must name an address space that exists (made
//! by `N` or `F` and not yet ended by `X`), a snapshot must hold exactly the VMAs it announces in
//! address order, and every number must fit in 64 bits. Any input, including random bytes, gives
//! either a [`Trace`] or a [`ParseError`]; never a panic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::{self, Display, Formatter};

use crate::format::{
    Advice, Backing, DeltaWindow, Errno, FORMAT_VERSION, FileId, Header, MAGIC, MapFlags, Op,
    OpenMode, OtherCall, Prot, READ_VERSIONS, Record, RemapFlags, SnapshotVma, SpaceId, SysResult,
    ThreadId, Trace,
};

/// Why a trace could not be read: the line (counting from 1) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The text is not UTF-8.
    NotText,
    /// The first line is not `#mapletrace 2` (or 1).
    BadMagic,
    /// The format version is not one this crate reads.
    UnsupportedVersion(String),
    /// A header line after the first record, or an unknown header key.
    BadHeader(String),
    /// The line ended before a field.
    MissingField(&'static str),
    /// The line has more fields than its kind takes.
    ExtraField(String),
    /// A field is not a number of the right form, or does not fit.
    BadNumber {
        /// The field.
        field: &'static str,
        /// What was there.
        token: String,
        /// What the field takes (`a hex number of at most 64 bits`).
        expected: &'static str,
    },
    /// A field is not in its expected form.
    BadField {
        /// The field.
        field: &'static str,
        /// What was there.
        token: String,
    },
    /// The line starts with a letter that is no record.
    UnknownRecord(String),
    /// An `o` line names a syscall this format does not know.
    UnknownSyscall(String),
    /// An operation names an address space that does not exist (yet or any more).
    UnknownSpace(SpaceId),
    /// `N` or `F` names an address space that already exists.
    SpaceExists(SpaceId),
    /// A `v` line outside a snapshot.
    VmaOutsideSnapshot,
    /// A snapshot's VMAs are empty, reversed, overlapping or out of order.
    VmaOrder {
        /// Start of the offending VMA.
        start: u64,
    },
    /// A snapshot ended (another record or the end of input) before all its VMAs.
    SnapshotShort {
        /// VMAs announced.
        expected: usize,
        /// VMAs present.
        found: usize,
    },
    /// A file id was named twice by `f` lines.
    FileNamedTwice(FileId),
    /// A `w` line outside a `D` record, or more windows than it announced.
    WindowOutsideDelta,
    /// A window is empty or overlaps or precedes the one before it.
    WindowOrder {
        /// Its start.
        start: u64,
    },
    /// A window's edge falls inside a VMA of the layout before the change.
    WindowCutsVma {
        /// The edge.
        edge: u64,
        /// The start of the VMA it cuts.
        start: u64,
    },
    /// A `D` record of a space that has had no `S` since it began.
    DeltaFirst(SpaceId),
    /// A `D` record ended before all its windows.
    DeltaShort {
        /// Windows announced.
        expected: usize,
        /// Windows present.
        found: usize,
    },
    /// A record after `E cut-short`.
    AfterEnd,
    /// The input could not be read (a damaged compressed file, or an I/O error).
    Unreadable(String),
    /// The file is another kind of log that another command reads.
    OtherFormat(OtherFormat),
}

/// Logs that look like traces but are not, and the command that reads each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtherFormat {
    /// An `strace -f` log: `maple import-strace` turns it into a trace.
    Strace,
    /// A capture of the kernel's own maple-tree operations made with ftrace
    /// (`testdata/kernel-ftrace`): `maple-bench --traces` replays those.
    Ftrace,
}

impl Display for ParseErrorKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::NotText => f.write_str("not UTF-8 text"),
            ParseErrorKind::BadMagic => {
                write!(f, "not a maple trace (expected `{MAGIC} {FORMAT_VERSION}`)")
            }
            ParseErrorKind::UnsupportedVersion(v) => {
                write!(
                    f,
                    "format version {v} is not supported (this build reads 1 and {FORMAT_VERSION})"
                )
            }
            ParseErrorKind::BadHeader(h) => write!(f, "unexpected header `{h}`"),
            ParseErrorKind::MissingField(field) => write!(f, "line ends before the {field}"),
            ParseErrorKind::ExtraField(t) => {
                write!(f, "unexpected field `{t}` at the end of the line")
            }
            ParseErrorKind::BadNumber {
                field,
                token,
                expected,
            } => write!(f, "{field} `{token}` is not {expected}"),
            ParseErrorKind::BadField { field, token } => write!(f, "bad {field} `{token}`"),
            ParseErrorKind::UnknownRecord(t) => write!(f, "unknown record `{t}`"),
            ParseErrorKind::UnknownSyscall(t) => write!(f, "unknown syscall `{t}`"),
            ParseErrorKind::UnknownSpace(id) => write!(f, "address space {id} does not exist here"),
            ParseErrorKind::SpaceExists(id) => write!(f, "address space {id} already exists"),
            ParseErrorKind::VmaOutsideSnapshot => f.write_str("`v` line outside a snapshot"),
            ParseErrorKind::VmaOrder { start } => {
                write!(
                    f,
                    "VMA at {start:x} is empty or overlaps or precedes the one before it"
                )
            }
            ParseErrorKind::SnapshotShort { expected, found } => {
                write!(f, "snapshot announces {expected} VMAs but has {found}")
            }
            ParseErrorKind::FileNamedTwice(id) => write!(f, "file {id} is named twice"),
            ParseErrorKind::WindowOutsideDelta => {
                f.write_str("`w` line outside a `D` record or beyond its window count")
            }
            ParseErrorKind::WindowOrder { start } => write!(
                f,
                "window at {start:x} is empty or overlaps or precedes the one before it"
            ),
            ParseErrorKind::WindowCutsVma { edge, start } => write!(
                f,
                "window edge {edge:x} cuts the VMA at {start:x} of the layout before it"
            ),
            ParseErrorKind::DeltaFirst(space) => write!(
                f,
                "`D` record of address space {space} before any full snapshot (`S`) of it"
            ),
            ParseErrorKind::DeltaShort { expected, found } => {
                write!(f, "`D` record announces {expected} windows but has {found}")
            }
            ParseErrorKind::AfterEnd => f.write_str("record after `E cut-short`"),
            ParseErrorKind::Unreadable(reason) => write!(f, "cannot read on: {reason}"),
            ParseErrorKind::OtherFormat(OtherFormat::Strace) => f.write_str(
                "this is an strace log, not a maple trace: `maple import-strace LOG` turns it \
                 into one",
            ),
            ParseErrorKind::OtherFormat(OtherFormat::Ftrace) => f.write_str(
                "this is an ftrace capture of the kernel's maple-tree operations, not a maple \
                 trace of system calls: `maple-bench --traces DIR` replays such captures",
            ),
        }
    }
}

impl Display for ParseError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for ParseError {}

/// Parses a whole trace from bytes (which must be UTF-8 text).
///
/// # Errors
/// The first problem found, with its line.
///
/// # Examples
/// ```
/// let text = "#mapletrace 2\nN 1 t1 true\nS 1 1\nv 1000 2000 r-xp 0 f1\nm 1 t1 0 1000 rw- pa - 0 7000\n";
/// let trace = maple_trace::parse(text.as_bytes())?;
/// assert_eq!(trace.op_count(), 2);
/// assert_eq!(trace.to_string(), text);
///
/// let err = maple_trace::parse(b"#mapletrace 2\nu 3 t1 1000 1000 0\n").unwrap_err();
/// assert_eq!(err.to_string(), "line 2: address space 3 does not exist here");
/// # Ok::<(), maple_trace::ParseError>(())
/// ```
pub fn parse(bytes: &[u8]) -> Result<Trace, ParseError> {
    let mut reader = Reader::new(bytes)?;
    let records = reader
        .by_ref()
        .map(|item| item.map(|(_, record)| record))
        .collect::<Result<Vec<Record>, ParseError>>()?;
    Ok(Trace {
        header: reader.header().clone(),
        records,
    })
}

/// Reads a trace one record at a time, so that memory stays proportional to the largest
/// address space and not to the length of the trace.
///
/// [`Reader::new`] reads the header; iterating yields each record with the line it starts
/// on (counting from 1), then stops after the first error.
///
/// # Examples
/// ```
/// use maple_trace::parse::Reader;
/// use maple_trace::Record;
///
/// let text = "#mapletrace 2\n#name demo\nN 1 t1 true\nS 1 1\nv 1000 2000 r-xp 0 f1\n\
///             m 1 t1 0 1000 rw- pa - 0 7000\nD 1 1\nw 7000 8000 1\nv 7000 8000 rw-p 0 -\n";
/// let mut reader = Reader::new(text.as_bytes())?;
/// assert_eq!(reader.header().name.as_deref(), Some("demo"));
/// let lines: Vec<usize> = reader.by_ref().map(|r| r.map(|(line, _)| line)).collect::<Result<_, _>>()?;
/// assert_eq!(lines, [3, 4, 6, 7]);
/// # Ok::<(), maple_trace::ParseError>(())
/// ```
#[derive(Debug)]
pub struct Reader<R> {
    input: R,
    parser: Parser,
    /// The number of the last line read.
    line: usize,
    buf: Vec<u8>,
    /// A record read ahead by [`Reader::new`] (to see the whole header).
    ahead: Option<(usize, Record)>,
    done: bool,
}

impl<R: std::io::BufRead> Reader<R> {
    /// Starts reading: reads the magic line and the header.
    ///
    /// # Errors
    /// A [`ParseError`] in the first line or the header (including a file that is no trace).
    pub fn new(input: R) -> Result<Reader<R>, ParseError> {
        let mut reader = Reader {
            input,
            parser: Parser::default(),
            line: 0,
            buf: Vec::new(),
            ahead: None,
            done: false,
        };
        reader.ahead = reader.read_record()?;
        if reader.ahead.is_none() {
            reader.done = true;
        }
        Ok(reader)
    }

    /// The header lines.
    pub fn header(&self) -> &Header {
        &self.parser.header
    }

    /// The format version of the file.
    pub fn version(&self) -> u32 {
        self.parser.version
    }

    /// Reads lines until a record is complete; `None` at a clean end.
    fn read_record(&mut self) -> Result<Option<(usize, Record)>, ParseError> {
        loop {
            self.buf.clear();
            let read = self.input.read_until(b'\n', &mut self.buf);
            let at = self.line + 1;
            let error = |kind| ParseError { line: at, kind };
            match read {
                Ok(0) => {
                    let last = self.line.max(1);
                    return self
                        .parser
                        .finish()
                        .map(|()| None)
                        .map_err(|kind| ParseError { line: last, kind });
                }
                Ok(_) => {}
                Err(e) => return Err(error(ParseErrorKind::Unreadable(e.to_string()))),
            }
            self.line = at;
            let mut bytes = self.buf.as_slice();
            if let Some(rest) = bytes.strip_suffix(b"\n") {
                bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
            }
            let text = std::str::from_utf8(bytes).map_err(|_| error(ParseErrorKind::NotText))?;
            if let Some(done) = self.parser.line(at, text).map_err(error)? {
                return Ok(Some(done));
            }
        }
    }
}

impl<R: std::io::BufRead> Iterator for Reader<R> {
    type Item = Result<(usize, Record), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(record) = self.ahead.take() {
            return Some(Ok(record));
        }
        if self.done {
            return None;
        }
        match self.read_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A record that spans lines and is not complete yet.
#[derive(Debug)]
enum Open {
    /// `S space count`: the VMAs so far.
    Snapshot {
        space: SpaceId,
        expected: usize,
        vmas: Vec<SnapshotVma>,
    },
    /// `D space windows`: the windows so far; the last one may still expect VMAs.
    Delta {
        space: SpaceId,
        expected: usize,
        windows: Vec<DeltaWindow>,
        /// VMAs the last window still expects.
        vmas_left: usize,
    },
}

#[derive(Debug, Default)]
struct Parser {
    seen_magic: bool,
    version: u32,
    header: Header,
    /// Whether any record was read (header lines must come first).
    any_record: bool,
    /// Whether `E cut-short` was read (nothing may follow).
    ended: bool,
    /// Live spaces, each with its layout as start -> end once it had an `S` (to check that
    /// `D` windows do not cut a VMA).
    live: HashMap<SpaceId, Option<BTreeMap<u64, u64>>>,
    named_files: HashSet<FileId>,
    open: Option<Open>,
    /// The line the open record started on.
    open_line: usize,
}

/// The fields of one line, consumed in order, each named for error messages.
struct Fields<'a> {
    tokens: std::str::SplitAsciiWhitespace<'a>,
}

impl<'a> Fields<'a> {
    fn next(&mut self, field: &'static str) -> Result<&'a str, ParseErrorKind> {
        self.tokens
            .next()
            .ok_or(ParseErrorKind::MissingField(field))
    }

    fn hex(&mut self, field: &'static str) -> Result<u64, ParseErrorKind> {
        let token = self.next(field)?;
        parse_hex(token).ok_or_else(|| ParseErrorKind::BadNumber {
            field,
            token: clip(token),
            expected: HEX,
        })
    }

    fn decimal(&mut self, field: &'static str) -> Result<u32, ParseErrorKind> {
        let token = self.next(field)?;
        parse_decimal(token).ok_or_else(|| ParseErrorKind::BadNumber {
            field,
            token: clip(token),
            expected: DECIMAL,
        })
    }

    fn space(&mut self) -> Result<SpaceId, ParseErrorKind> {
        self.decimal("address space").map(SpaceId)
    }

    fn thread(&mut self) -> Result<ThreadId, ParseErrorKind> {
        let token = self.next("thread")?;
        token
            .strip_prefix('t')
            .and_then(parse_decimal)
            .map(ThreadId)
            .ok_or_else(|| ParseErrorKind::BadField {
                field: "thread",
                token: clip(token),
            })
    }

    fn result(&mut self) -> Result<SysResult, ParseErrorKind> {
        let token = self.next("result")?;
        match token.strip_prefix('!') {
            Some(name) => Errno::from_name(name)
                .map(Err)
                .ok_or_else(|| ParseErrorKind::BadField {
                    field: "error name",
                    token: clip(token),
                }),
            None => parse_hex(token)
                .map(Ok)
                .ok_or_else(|| ParseErrorKind::BadNumber {
                    field: "result",
                    token: clip(token),
                    expected: HEX,
                }),
        }
    }

    fn end(&mut self) -> Result<(), ParseErrorKind> {
        match self.tokens.next() {
            Some(extra) => Err(ParseErrorKind::ExtraField(clip(extra))),
            None => Ok(()),
        }
    }
}

/// What a hex field takes, for error messages.
const HEX: &str = "a hex number (without 0x) of at most 64 bits";
/// What a decimal field (an address space id, a count) takes, for error messages.
const DECIMAL: &str = "a decimal number below 2^32";

/// Whether a first line looks like `strace -f` output: an optional task id (`1234 ` or
/// `[pid 1234] `) and timestamp, then `name(`, or a `+++`/`---` line.
fn looks_like_strace(line: &str) -> bool {
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("[pid") {
        rest = after.split_once(']').map_or("", |(_, r)| r).trim_start();
    }
    // A task id, then a timestamp (`12:00:01.123456` or `1700000000.123`), each optional.
    for _ in 0..2 {
        let digits = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':' || c == '.');
        if digits.len() < rest.len() && digits.starts_with(' ') {
            rest = digits.trim_start();
        }
    }
    if rest.starts_with("+++ ") || rest.starts_with("--- ") {
        return true;
    }
    match rest.split_once('(') {
        Some((name, _)) => {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    }
}

/// Keeps error messages short when a token is huge.
fn clip(token: &str) -> String {
    match token.char_indices().nth(40) {
        Some((cut, _)) => format!("{}...", &token[..cut]),
        None => token.to_owned(),
    }
}

fn parse_hex(token: &str) -> Option<u64> {
    if token.is_empty() || token.len() > 16 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(token, 16).ok()
}

fn parse_decimal(token: &str) -> Option<u32> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// The one value of a header line (`#name VALUE`).
fn header_value(line: &str) -> Result<&str, ParseErrorKind> {
    let mut words = line.split_ascii_whitespace().skip(1);
    let value = words
        .next()
        .ok_or(ParseErrorKind::MissingField("header value"))?;
    if let Some(extra) = words.next() {
        return Err(ParseErrorKind::ExtraField(clip(extra)));
    }
    Ok(value)
}

/// Reverses [`crate::format::escape_token`].
fn unescape(field: &'static str, token: &str) -> Result<String, ParseErrorKind> {
    if token == "%" {
        return Ok(String::new());
    }
    let bad = || ParseErrorKind::BadField {
        field,
        token: clip(token),
    };
    let mut bytes = Vec::with_capacity(token.len());
    let mut rest = token.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail
                .get(..2)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

/// Reads letters from `table`, then an optional `+<hex>` of unnamed bits; `zero` reads as 0.
fn parse_letters(
    field: &'static str,
    token: &str,
    table: &[(u32, char)],
    zero: Option<&str>,
) -> Result<u32, ParseErrorKind> {
    let bad = || ParseErrorKind::BadField {
        field,
        token: clip(token),
    };
    if Some(token) == zero {
        return Ok(0);
    }
    let (letters, extra) = match token.split_once('+') {
        Some((letters, extra)) => {
            let extra = parse_hex(extra)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(bad)?;
            (letters, extra)
        }
        None => (token, 0),
    };
    let mut bits = extra;
    for c in letters.chars() {
        let &(bit, _) = table.iter().find(|&&(_, l)| l == c).ok_or_else(bad)?;
        bits |= bit;
    }
    Ok(bits)
}

fn parse_prot(token: &str) -> Result<Prot, ParseErrorKind> {
    let bad = || ParseErrorKind::BadField {
        field: "protection",
        token: clip(token),
    };
    let bytes = token.as_bytes();
    if bytes.len() < 3 {
        return Err(bad());
    }
    let mut bits = 0;
    for (i, (letter, bit)) in [(b'r', Prot::READ), (b'w', Prot::WRITE), (b'x', Prot::EXEC)]
        .into_iter()
        .enumerate()
    {
        match bytes[i] {
            b'-' => {}
            b if b == letter => bits |= bit,
            _ => return Err(bad()),
        }
    }
    let rest = token.get(3..).ok_or_else(bad)?;
    let table = [(Prot::GROWSDOWN, 'G'), (Prot::GROWSUP, 'U')];
    let more = if rest.is_empty() {
        0
    } else {
        parse_letters("protection", rest, &table, None)?
    };
    Ok(Prot(bits | more))
}

/// Reads `-`, `f<n>`, `f<n>:<mode>` or `-:<mode>` (`r`, `w`, `rw`; a descriptor whose file
/// has no id, such as a ring buffer unmapped before any snapshot showed it).
fn parse_file_ref(token: &str) -> Result<(Option<FileId>, Option<OpenMode>), ParseErrorKind> {
    let (id, mode) = match token.split_once(':') {
        Some((id, mode)) => {
            let mode = match mode {
                "r" => OpenMode::Read,
                "w" => OpenMode::Write,
                "rw" => OpenMode::ReadWrite,
                _ => {
                    return Err(ParseErrorKind::BadField {
                        field: "file",
                        token: clip(token),
                    });
                }
            };
            (id, Some(mode))
        }
        None => (token, None),
    };
    if id == "-" {
        return Ok((None, mode));
    }
    Ok((Some(parse_file_id(id)?), mode))
}

fn parse_file_id(token: &str) -> Result<FileId, ParseErrorKind> {
    token
        .strip_prefix('f')
        .and_then(parse_decimal)
        .map(FileId)
        .ok_or_else(|| ParseErrorKind::BadField {
            field: "file",
            token: clip(token),
        })
}

fn parse_backing(token: &str) -> Result<Backing, ParseErrorKind> {
    if token == "-" {
        return Ok(Backing::Anon);
    }
    if let Some(inner) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return unescape("name", inner).map(Backing::Named);
    }
    parse_file_id(token).map(Backing::File)
}

fn parse_vma(fields: &mut Fields<'_>) -> Result<SnapshotVma, ParseErrorKind> {
    let start = fields.hex("start")?;
    let end = fields.hex("end")?;
    let perms = fields.next("permissions")?;
    let bad_perms = || ParseErrorKind::BadField {
        field: "permissions",
        token: clip(perms),
    };
    let p = perms.as_bytes();
    if p.len() != 4 {
        return Err(bad_perms());
    }
    let flag = |i: usize, yes: u8| match p[i] {
        b'-' => Ok(false),
        b if b == yes => Ok(true),
        _ => Err(bad_perms()),
    };
    let (read, write, exec) = (flag(0, b'r')?, flag(1, b'w')?, flag(2, b'x')?);
    let shared = match p[3] {
        b's' => true,
        b'p' => false,
        _ => return Err(bad_perms()),
    };
    let offset = fields.hex("offset")?;
    let backing = parse_backing(fields.next("file")?)?;
    let mut flags = Vec::new();
    let mut anon_pages = false;
    let mut pkey = 0;
    let mut token = fields.tokens.next();
    if let Some(list) = token.filter(|&t| t != "A" && !t.starts_with("pkey")) {
        for mnemonic in list.split(',') {
            match mnemonic.as_bytes() {
                &[a, b] if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
                    flags.push([a, b]);
                }
                _ => {
                    return Err(ParseErrorKind::BadField {
                        field: "VmFlags",
                        token: clip(list),
                    });
                }
            }
        }
        token = fields.tokens.next();
    }
    if token == Some("A") {
        anon_pages = true;
        token = fields.tokens.next();
    }
    if let Some(key) = token.and_then(|t| t.strip_prefix("pkey")) {
        pkey = parse_decimal(key)
            .filter(|&k| k != 0)
            .ok_or_else(|| ParseErrorKind::BadField {
                field: "protection key",
                token: clip(token.unwrap_or_default()),
            })?;
        token = fields.tokens.next();
    }
    if let Some(extra) = token {
        return Err(ParseErrorKind::ExtraField(clip(extra)));
    }
    Ok(SnapshotVma {
        start,
        end,
        read,
        write,
        exec,
        shared,
        offset,
        backing,
        flags,
        anon_pages,
        pkey,
    })
}

impl Parser {
    /// Reads line `number`; returns a record when this line completes one (with the line it
    /// started on).
    fn line(
        &mut self,
        number: usize,
        line: &str,
    ) -> Result<Option<(usize, Record)>, ParseErrorKind> {
        if !self.seen_magic {
            let mut words = line.split_ascii_whitespace();
            if words.next() != Some(MAGIC) {
                if looks_like_strace(line) {
                    return Err(ParseErrorKind::OtherFormat(OtherFormat::Strace));
                }
                return Err(ParseErrorKind::BadMagic);
            }
            let version = words.next().ok_or(ParseErrorKind::BadMagic)?;
            self.version = version
                .parse()
                .ok()
                .filter(|v| READ_VERSIONS.contains(v))
                .ok_or_else(|| ParseErrorKind::UnsupportedVersion(clip(version)))?;
            self.seen_magic = true;
            return Ok(None);
        }
        let mut fields = Fields {
            tokens: line.split_ascii_whitespace(),
        };
        let Some(first) = fields.tokens.next() else {
            return Ok(None);
        };
        if first.starts_with('#') {
            self.header_or_comment(first, line)?;
            return Ok(None);
        }
        if first == "v" {
            let vma = parse_vma(&mut fields)?;
            fields.end()?;
            return self.vma(vma);
        }
        if first == "w" && self.version >= 2 {
            let start = fields.hex("start")?;
            let end = fields.hex("end")?;
            let count = fields.decimal("VMA count")? as usize;
            fields.end()?;
            return self.window(start, end, count);
        }
        self.check_open_closed()?;
        if self.ended {
            return Err(ParseErrorKind::AfterEnd);
        }
        // An ftrace capture of the kernel's tree starts with `T tree program`.
        if first == "T" && !self.any_record {
            return Err(ParseErrorKind::OtherFormat(OtherFormat::Ftrace));
        }
        self.any_record = true;
        self.open_line = number;
        let record = match first {
            "S" => {
                let space = fields.space()?;
                let expected = fields.decimal("VMA count")? as usize;
                fields.end()?;
                self.require_live(space)?;
                self.open = Some(Open::Snapshot {
                    space,
                    expected,
                    vmas: Vec::new(),
                });
                return Ok(self.close_if_complete());
            }
            "D" if self.version >= 2 => {
                let space = fields.space()?;
                let expected = fields.decimal("window count")? as usize;
                fields.end()?;
                match self.live.get(&space) {
                    None => return Err(ParseErrorKind::UnknownSpace(space)),
                    Some(None) => return Err(ParseErrorKind::DeltaFirst(space)),
                    Some(Some(_)) => {}
                }
                self.open = Some(Open::Delta {
                    space,
                    expected,
                    windows: Vec::new(),
                    vmas_left: 0,
                });
                return Ok(self.close_if_complete());
            }
            "E" if self.version >= 2 => {
                let token = fields.next("reason")?;
                if token != "cut-short" {
                    return Err(ParseErrorKind::BadField {
                        field: "end",
                        token: clip(token),
                    });
                }
                self.ended = true;
                Record::CutShort
            }
            "f" => {
                let file = parse_file_id(fields.next("file")?)?;
                let name = unescape("file name", fields.next("file name")?)?;
                if !self.named_files.insert(file) {
                    return Err(ParseErrorKind::FileNamedTwice(file));
                }
                Record::FileName { file, name }
            }
            _ => self.op(first, &mut fields)?,
        };
        fields.end()?;
        Ok(Some((number, record)))
    }

    /// A `v` line of the open snapshot or window.
    fn vma(&mut self, vma: SnapshotVma) -> Result<Option<(usize, Record)>, ParseErrorKind> {
        let order = ParseErrorKind::VmaOrder { start: vma.start };
        match &mut self.open {
            Some(Open::Snapshot { expected, vmas, .. }) if vmas.len() < *expected => {
                if vma.start >= vma.end || vmas.last().is_some_and(|prev| prev.end > vma.start) {
                    return Err(order);
                }
                vmas.push(vma);
            }
            Some(Open::Delta {
                windows, vmas_left, ..
            }) if *vmas_left > 0 => {
                let window = windows
                    .last_mut()
                    .ok_or(ParseErrorKind::VmaOutsideSnapshot)?;
                let after = window.vmas.last().map_or(window.start, |prev| prev.end);
                if vma.start >= vma.end || vma.start < after || vma.end > window.end {
                    return Err(order);
                }
                window.vmas.push(vma);
                *vmas_left -= 1;
            }
            _ => return Err(ParseErrorKind::VmaOutsideSnapshot),
        }
        Ok(self.close_if_complete())
    }

    /// A `w` line of the open `D` record.
    fn window(
        &mut self,
        start: u64,
        end: u64,
        count: usize,
    ) -> Result<Option<(usize, Record)>, ParseErrorKind> {
        let Some(Open::Delta {
            space,
            expected,
            windows,
            vmas_left,
        }) = &mut self.open
        else {
            return Err(ParseErrorKind::WindowOutsideDelta);
        };
        if *vmas_left > 0 || windows.len() >= *expected {
            return Err(ParseErrorKind::WindowOutsideDelta);
        }
        if start >= end || windows.last().is_some_and(|w| w.end > start) {
            return Err(ParseErrorKind::WindowOrder { start });
        }
        // No VMA of the layout before may cross an edge of the window.
        let layout = self
            .live
            .get(space)
            .and_then(Option::as_ref)
            .ok_or(ParseErrorKind::UnknownSpace(*space))?;
        for edge in [start, end] {
            if let Some((&vma_start, &vma_end)) = layout.range(..edge).next_back()
                && vma_end > edge
            {
                return Err(ParseErrorKind::WindowCutsVma {
                    edge,
                    start: vma_start,
                });
            }
        }
        windows.push(DeltaWindow {
            start,
            end,
            vmas: Vec::with_capacity(count.min(1 << 16)),
        });
        *vmas_left = count;
        Ok(self.close_if_complete())
    }

    /// Closes the open snapshot or delta if it holds everything it announced: returns the
    /// record and updates the space's layout.
    fn close_if_complete(&mut self) -> Option<(usize, Record)> {
        let complete = match &self.open {
            Some(Open::Snapshot { expected, vmas, .. }) => vmas.len() == *expected,
            Some(Open::Delta {
                expected,
                windows,
                vmas_left,
                ..
            }) => windows.len() == *expected && *vmas_left == 0,
            None => false,
        };
        if !complete {
            return None;
        }
        let record = match self.open.take()? {
            Open::Snapshot { space, vmas, .. } => {
                let layout = vmas.iter().map(|v| (v.start, v.end)).collect();
                self.live.insert(space, Some(layout));
                Record::Snapshot { space, vmas }
            }
            Open::Delta { space, windows, .. } => {
                if let Some(Some(layout)) = self.live.get_mut(&space) {
                    for window in &windows {
                        let gone: Vec<u64> = layout
                            .range(window.start..window.end)
                            .map(|(&start, _)| start)
                            .collect();
                        for start in gone {
                            layout.remove(&start);
                        }
                        layout.extend(window.vmas.iter().map(|v| (v.start, v.end)));
                    }
                }
                Record::Delta { space, windows }
            }
        };
        Some((self.open_line, record))
    }

    fn header_or_comment(&mut self, first: &str, line: &str) -> Result<(), ParseErrorKind> {
        let key = &first[1..];
        let slot = match key {
            "name" => &mut self.header.name,
            "kernel" => &mut self.header.kernel,
            "arch" => &mut self.header.arch,
            "source" => &mut self.header.source,
            "pkeys" => return self.pkeys_header(line),
            // Any other `#` line is a comment.
            _ => return Ok(()),
        };
        if self.any_record || slot.is_some() {
            return Err(ParseErrorKind::BadHeader(clip(line)));
        }
        if key == "source" && line[first.len()..].trim_start().starts_with("ftrace") {
            return Err(ParseErrorKind::OtherFormat(OtherFormat::Ftrace));
        }
        *slot = Some(unescape("header value", header_value(line)?)?);
        Ok(())
    }

    /// `#pkeys N`: the protection keys of the capturing machine, a decimal count.
    fn pkeys_header(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        if self.any_record || self.header.pkeys.is_some() {
            return Err(ParseErrorKind::BadHeader(clip(line)));
        }
        let value = header_value(line)?;
        let count = parse_decimal(value).ok_or_else(|| ParseErrorKind::BadNumber {
            field: "protection key count",
            token: clip(value),
            expected: DECIMAL,
        })?;
        self.header.pkeys = Some(count);
        Ok(())
    }

    fn require_live(&self, space: SpaceId) -> Result<(), ParseErrorKind> {
        if self.live.contains_key(&space) {
            Ok(())
        } else {
            Err(ParseErrorKind::UnknownSpace(space))
        }
    }

    fn op(&mut self, letter: &str, fields: &mut Fields<'_>) -> Result<Record, ParseErrorKind> {
        if !matches!(
            letter,
            "N" | "F" | "X" | "m" | "u" | "p" | "b" | "r" | "a" | "o"
        ) {
            return Err(ParseErrorKind::UnknownRecord(clip(letter)));
        }
        let space = fields.space()?;
        let (thread, op) = match letter {
            "N" => {
                let thread = fields.thread()?;
                let program = unescape("program", fields.next("program")?)?;
                if self.live.insert(space, None).is_some() {
                    return Err(ParseErrorKind::SpaceExists(space));
                }
                (Some(thread), Op::NewSpace { program })
            }
            "F" => {
                let parent = fields.space()?;
                let thread = fields.thread()?;
                let racing = match fields.tokens.next() {
                    None => false,
                    Some("racing") => true,
                    Some(extra) => return Err(ParseErrorKind::ExtraField(clip(extra))),
                };
                self.require_live(parent)?;
                if self.live.contains_key(&space) {
                    return Err(ParseErrorKind::SpaceExists(space));
                }
                self.live.insert(space, None);
                (Some(thread), Op::Fork { parent, racing })
            }
            "X" => {
                self.require_live(space)?;
                self.live.remove(&space);
                (None, Op::Exit)
            }
            _ => {
                self.require_live(space)?;
                let thread = fields.thread()?;
                (Some(thread), Self::memory_op(letter, fields)?)
            }
        };
        Ok(Record::Op { space, thread, op })
    }

    fn memory_op(letter: &str, fields: &mut Fields<'_>) -> Result<Op, ParseErrorKind> {
        Ok(match letter {
            "m" => {
                let addr = fields.hex("address")?;
                let len = fields.hex("length")?;
                let prot = parse_prot(fields.next("protection")?)?;
                let flags_token = fields.next("flags")?;
                let flags = MapFlags(parse_letters(
                    "flags",
                    flags_token,
                    MapFlags::LETTERS,
                    Some("0"),
                )?);
                let (file, mode) = parse_file_ref(fields.next("file")?)?;
                let offset = fields.hex("offset")?;
                let ret = fields.result()?;
                let file_size = match fields.tokens.clone().next() {
                    Some(token) if token.starts_with('z') => {
                        fields.tokens.next();
                        let size =
                            parse_hex(&token[1..]).ok_or_else(|| ParseErrorKind::BadNumber {
                                field: "file size",
                                token: clip(token),
                                expected: "z and a hex number of at most 64 bits",
                            })?;
                        Some(size)
                    }
                    _ => None,
                };
                Op::Mmap {
                    addr,
                    len,
                    prot,
                    flags,
                    file,
                    mode,
                    offset,
                    ret,
                    file_size,
                }
            }
            "u" => {
                let addr = fields.hex("address")?;
                let len = fields.hex("length")?;
                Op::Munmap {
                    addr,
                    len,
                    ret: fields.result()?,
                }
            }
            "p" => {
                let addr = fields.hex("address")?;
                let len = fields.hex("length")?;
                let prot = parse_prot(fields.next("protection")?)?;
                let ret = fields.result()?;
                let pkey = match fields.tokens.next() {
                    Some(token) => Some(
                        token
                            .strip_prefix('k')
                            .and_then(parse_decimal)
                            .ok_or_else(|| ParseErrorKind::BadField {
                                field: "pkey",
                                token: clip(token),
                            })?,
                    ),
                    None => None,
                };
                Op::Mprotect {
                    addr,
                    len,
                    prot,
                    pkey,
                    ret,
                }
            }
            "b" => {
                let request = fields.hex("request")?;
                Op::Brk {
                    request,
                    ret: fields.hex("result")?,
                }
            }
            "r" => {
                let old_addr = fields.hex("old address")?;
                let old_len = fields.hex("old length")?;
                let new_len = fields.hex("new length")?;
                let flags_token = fields.next("flags")?;
                let flags = RemapFlags(parse_letters(
                    "flags",
                    flags_token,
                    RemapFlags::LETTERS,
                    Some("0"),
                )?);
                let new_addr = fields.hex("new address")?;
                let ret = fields.result()?;
                Op::Mremap {
                    old_addr,
                    old_len,
                    new_len,
                    flags,
                    new_addr,
                    ret,
                }
            }
            "a" => {
                let addr = fields.hex("address")?;
                let len = fields.hex("length")?;
                let token = fields.next("advice")?;
                let advice = Advice::from_name(token).ok_or_else(|| ParseErrorKind::BadField {
                    field: "advice",
                    token: clip(token),
                })?;
                Op::Madvise {
                    addr,
                    len,
                    advice,
                    ret: fields.result()?,
                }
            }
            _ => {
                let name = fields.next("syscall")?;
                let call = OtherCall::from_name(name)
                    .ok_or_else(|| ParseErrorKind::UnknownSyscall(clip(name)))?;
                let args = (0..call.arity())
                    .map(|_| fields.hex("argument"))
                    .collect::<Result<_, _>>()?;
                Op::Other {
                    call,
                    args,
                    ret: fields.result()?,
                }
            }
        })
    }

    fn check_open_closed(&self) -> Result<(), ParseErrorKind> {
        match &self.open {
            Some(Open::Snapshot { expected, vmas, .. }) => Err(ParseErrorKind::SnapshotShort {
                expected: *expected,
                found: vmas.len(),
            }),
            Some(Open::Delta {
                expected,
                windows,
                vmas_left,
                ..
            }) => Err(if *vmas_left > 0 {
                let found = windows.last().map_or(0, |w| w.vmas.len());
                ParseErrorKind::SnapshotShort {
                    expected: found + vmas_left,
                    found,
                }
            } else {
                ParseErrorKind::DeltaShort {
                    expected: *expected,
                    found: windows.len(),
                }
            }),
            None => Ok(()),
        }
    }

    fn finish(&self) -> Result<(), ParseErrorKind> {
        if !self.seen_magic {
            return Err(ParseErrorKind::BadMagic);
        }
        self.check_open_closed()
    }
}
