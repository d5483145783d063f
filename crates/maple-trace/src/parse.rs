//! Reading the text form of a trace, with an error that names the line and the reason.
//!
//! The parser checks more than syntax: operations must name an address space that exists (made
//! by `N` or `F` and not yet ended by `X`), a snapshot must hold exactly the VMAs it announces in
//! address order, and every number must fit in 64 bits. Any input, including random bytes, gives
//! either a [`Trace`] or a [`ParseError`]; never a panic.

use std::collections::HashSet;
use std::fmt::{self, Display, Formatter};

use crate::format::{
    Advice, Backing, Errno, FORMAT_VERSION, FileId, Header, MAGIC, MapFlags, Op, OpenMode,
    OtherCall, Prot, Record, RemapFlags, SnapshotVma, SpaceId, SysResult, ThreadId, Trace,
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
    /// The first line is not `#mapletrace 1`.
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
                    "format version {v} is not supported (this build reads {FORMAT_VERSION})"
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
/// let text = "#mapletrace 1\nN 1 t1 true\nS 1 1\nv 1000 2000 r-xp 0 f1\nm 1 t1 0 1000 rw- pa - 0 7000\n";
/// let trace = maple_trace::parse(text.as_bytes())?;
/// assert_eq!(trace.op_count(), 2);
/// assert_eq!(trace.to_string(), text);
///
/// let err = maple_trace::parse(b"#mapletrace 1\nu 3 t1 1000 1000 0\n").unwrap_err();
/// assert_eq!(err.to_string(), "line 2: address space 3 does not exist here");
/// # Ok::<(), maple_trace::ParseError>(())
/// ```
pub fn parse(bytes: &[u8]) -> Result<Trace, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ParseError {
            line,
            kind: ParseErrorKind::NotText,
        }
    })?;
    let mut parser = Parser::default();
    for (index, line) in text.lines().enumerate() {
        parser.line(line).map_err(|kind| ParseError {
            line: index + 1,
            kind,
        })?;
    }
    let last_line = text.lines().count().max(1);
    parser.finish().map_err(|kind| ParseError {
        line: last_line,
        kind,
    })
}

/// A snapshot being read: its space, the count announced, the VMAs so far.
struct OpenSnapshot {
    space: SpaceId,
    expected: usize,
    vmas: Vec<SnapshotVma>,
}

#[derive(Default)]
struct Parser {
    seen_magic: bool,
    header: Header,
    records: Vec<Record>,
    live: HashSet<SpaceId>,
    named_files: HashSet<FileId>,
    snapshot: Option<OpenSnapshot>,
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
    fn line(&mut self, line: &str) -> Result<(), ParseErrorKind> {
        if !self.seen_magic {
            let mut words = line.split_ascii_whitespace();
            if words.next() != Some(MAGIC) {
                if looks_like_strace(line) {
                    return Err(ParseErrorKind::OtherFormat(OtherFormat::Strace));
                }
                return Err(ParseErrorKind::BadMagic);
            }
            let version = words.next().ok_or(ParseErrorKind::BadMagic)?;
            if version != FORMAT_VERSION.to_string() {
                return Err(ParseErrorKind::UnsupportedVersion(clip(version)));
            }
            self.seen_magic = true;
            return Ok(());
        }
        let mut fields = Fields {
            tokens: line.split_ascii_whitespace(),
        };
        let Some(first) = fields.tokens.next() else {
            return Ok(());
        };
        if first.starts_with('#') {
            return self.header_or_comment(first, line);
        }
        if first == "v" {
            let snapshot = self
                .snapshot
                .as_mut()
                .ok_or(ParseErrorKind::VmaOutsideSnapshot)?;
            let vma = parse_vma(&mut fields)?;
            fields.end()?;
            let after_previous = snapshot
                .vmas
                .last()
                .is_none_or(|prev| prev.end <= vma.start);
            if vma.start >= vma.end || !after_previous {
                return Err(ParseErrorKind::VmaOrder { start: vma.start });
            }
            snapshot.vmas.push(vma);
            if snapshot.vmas.len() == snapshot.expected {
                self.close_snapshot();
            }
            return Ok(());
        }
        self.check_snapshot_closed()?;
        let record = match first {
            "S" => {
                let space = fields.space()?;
                let expected = fields.decimal("VMA count")? as usize;
                fields.end()?;
                self.require_live(space)?;
                self.snapshot = Some(OpenSnapshot {
                    space,
                    expected,
                    vmas: Vec::new(),
                });
                if expected == 0 {
                    self.close_snapshot();
                }
                return Ok(());
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
        self.records.push(record);
        Ok(())
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
        if !self.records.is_empty() || slot.is_some() {
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
        if !self.records.is_empty() || self.header.pkeys.is_some() {
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
        if self.live.contains(&space) {
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
            // An ftrace capture of the kernel's tree starts with `T tree program`.
            if letter == "T" && self.records.is_empty() {
                return Err(ParseErrorKind::OtherFormat(OtherFormat::Ftrace));
            }
            return Err(ParseErrorKind::UnknownRecord(clip(letter)));
        }
        let space = fields.space()?;
        let (thread, op) = match letter {
            "N" => {
                let thread = fields.thread()?;
                let program = unescape("program", fields.next("program")?)?;
                if !self.live.insert(space) {
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
                if !self.live.insert(space) {
                    return Err(ParseErrorKind::SpaceExists(space));
                }
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
                Op::Mmap {
                    addr,
                    len,
                    prot,
                    flags,
                    file,
                    mode,
                    offset,
                    ret,
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

    fn check_snapshot_closed(&self) -> Result<(), ParseErrorKind> {
        match &self.snapshot {
            Some(open) => Err(ParseErrorKind::SnapshotShort {
                expected: open.expected,
                found: open.vmas.len(),
            }),
            None => Ok(()),
        }
    }

    fn close_snapshot(&mut self) {
        if let Some(open) = self.snapshot.take() {
            self.records.push(Record::Snapshot {
                space: open.space,
                vmas: open.vmas,
            });
        }
    }

    fn finish(self) -> Result<Trace, ParseErrorKind> {
        if !self.seen_magic {
            return Err(ParseErrorKind::BadMagic);
        }
        self.check_snapshot_closed()?;
        Ok(Trace {
            header: self.header,
            records: self.records,
        })
    }
}
