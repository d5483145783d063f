//! Importing `strace -f` logs: the operations of a trace, without the kernel's snapshots.
//!
//! Users can bring their own logs made with
//! `strace -f -y -e trace=%memory,%process -e signal=none -o LOG PROGRAM`. [`import`] turns one
//! into a [`Trace`] whose records are the same operations `maple capture` records, so it can be
//! replayed; with no snapshot, a replay cannot be checked step by step (and starts from an empty
//! address space, without the layout exec built).
//!
//! What the importer understands (strace's own format, see its manual):
//! - a task id at the start of every line (`-f`), or `[pid N]` (strace writing to a terminal),
//!   or none for a single-task log; an optional timestamp after it (`-t`, `-tt`, `-ttt`);
//! - calls split into `... <unfinished ...>` and `<... NAME resumed> ...` halves, joined per
//!   task. The operation happens at its exit, except clone, fork and vfork, whose child exists
//!   from the parent's entry (its first lines can come before the parent's exit);
//! - `-y` file annotations such as `3</usr/lib/libc.so.6>` (each distinct path becomes a file
//!   id; only the path's last component is kept, as the file's name) or, in the sanitised logs
//!   we ship, `3<f2:so>`. Without `-y`, each descriptor number stands for one file;
//! - clone and clone3 flags (CLONE_VM shares the address space), vfork, fork, execve and
//!   execveat (a successful one gives the task a new address space), `+++ exited` and
//!   `+++ killed` lines (a space ends with its last task).
//!
//! Calls that do not change VMAs (`wait4`, `msync`, `mincore` ...) are skipped, as are signal
//! lines. A line that cannot be read gives an [`ImportError`] naming it.

use std::collections::HashMap;
use std::fmt::{self, Display, Formatter};

use crate::format::{
    Advice, Errno, FileId, Header, MapFlags, Op, OtherCall, Prot, Record, RemapFlags, SpaceId,
    SysResult, ThreadId, Trace,
};

/// Why a strace log could not be imported: the line (counting from 1) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it.
    pub kind: ImportErrorKind,
}

/// What is wrong with a line of a strace log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportErrorKind {
    /// The log is not UTF-8 text.
    NotText,
    /// The line has no `name(arguments) = result` shape.
    Malformed(String),
    /// A call has fewer arguments than it takes.
    MissingArgument {
        /// The call.
        call: String,
        /// Which argument, counting from 1.
        index: usize,
    },
    /// A number does not parse or does not fit in 64 bits.
    BadNumber(String),
    /// A flag name this importer does not know.
    UnknownFlag(String),
    /// A `<... NAME resumed>` line with no unfinished call of that task before it.
    OrphanResume(String),
    /// The log has no line to import.
    Empty,
}

impl Display for ImportErrorKind {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ImportErrorKind::NotText => f.write_str("not UTF-8 text"),
            ImportErrorKind::Malformed(what) => write!(f, "cannot read `{what}` as a strace line"),
            ImportErrorKind::MissingArgument { call, index } => {
                write!(f, "{call} has no argument {index}")
            }
            ImportErrorKind::BadNumber(token) => {
                write!(f, "`{token}` is not a number that fits in 64 bits")
            }
            ImportErrorKind::UnknownFlag(name) => write!(f, "unknown flag `{name}`"),
            ImportErrorKind::OrphanResume(call) => {
                write!(
                    f,
                    "`{call}` resumed without an unfinished call of the same task"
                )
            }
            ImportErrorKind::Empty => f.write_str("no system call in the log"),
        }
    }
}

impl Display for ImportError {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.kind)
    }
}

impl std::error::Error for ImportError {}

/// One completed call or task end, in log order.
struct Event {
    /// Where the event takes effect, for ordering: the exit line, or the entry line for calls
    /// that create tasks.
    order: usize,
    /// The exit line (for error messages).
    line: usize,
    task: u64,
    kind: EventKind,
}

enum EventKind {
    /// A call: its name, its whole argument text, and its result text.
    Call {
        name: String,
        args: String,
        result: String,
    },
    /// `+++ exited ... +++` or `+++ killed ... +++`.
    TaskEnd,
}

/// Splits `[pid N] `, `N ` and timestamps off the front of a line.
fn split_task(line: &str) -> (u64, &str) {
    let mut rest = line.trim_start();
    let mut task = 0;
    if let Some(after) = rest.strip_prefix("[pid") {
        if let Some((num, tail)) = after.split_once(']')
            && let Ok(n) = num.trim().parse()
        {
            task = n;
            rest = tail.trim_start();
        }
    } else {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0
            && rest[digits..].starts_with(' ')
            && let Ok(n) = rest[..digits].parse()
        {
            task = n;
            rest = rest[digits..].trim_start();
        }
    }
    // A timestamp: digits with `:` or `.` (`10:00:00.123456`, `1700000000.123456`).
    let stamp = rest
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b':' || *b == b'.')
        .count();
    if stamp > 0 && rest[stamp..].starts_with(' ') && rest[..stamp].contains(['.', ':']) {
        rest = rest[stamp..].trim_start();
    }
    (task, rest)
}

/// Splits `name(args) = result` into its three parts.
fn split_call(body: &str) -> Option<(&str, &str, &str)> {
    let open = body.find('(')?;
    let name = &body[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    // The argument list ends at the last `)` followed by `=`; an error's text in parentheses
    // comes after it.
    let close = body
        .match_indices(')')
        .rev()
        .map(|(i, _)| i)
        .find(|&i| i > open && body[i + 1..].trim_start().starts_with('='))?;
    let result = body[close + 1..].trim_start()[1..].trim();
    Some((name, &body[open + 1..close], result))
}

/// Splits an argument list at the commas that are not inside brackets, braces or quotes.
fn split_args(args: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_quote = false;
    let mut escaped = false;
    let mut start = 0;
    let mut previous = ' ';
    for (i, c) in args.char_indices() {
        let before = std::mem::replace(&mut previous, c);
        if in_quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quote = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_quote = true,
            // `<<` is a shift (`21<<MAP_HUGE_SHIFT`) and `=>` an arrow (clone3), not brackets.
            '<' if args[i + 1..].starts_with('<') || before == '<' => {}
            '>' if before == '=' => {}
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(args[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    let last = args[start..].trim();
    if !last.is_empty() || !out.is_empty() {
        out.push(last);
    }
    out
}

fn parse_number(token: &str) -> Result<u64, ImportErrorKind> {
    let bad = || ImportErrorKind::BadNumber(token.to_owned());
    let token = token.trim();
    if token == "NULL" {
        return Ok(0);
    }
    if let Some(hex) = token.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).map_err(|_| bad());
    }
    if let Some(neg) = token.strip_prefix('-') {
        let value: u64 = neg.parse().map_err(|_| bad())?;
        return Ok(value.wrapping_neg());
    }
    if token.len() > 1
        && token.starts_with('0')
        && token.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return u64::from_str_radix(&token[1..], 8).map_err(|_| bad());
    }
    token.parse().map_err(|_| bad())
}

const PROT_NAMES: &[(&str, u64)] = &[
    ("PROT_NONE", 0),
    ("PROT_READ", 0x1),
    ("PROT_WRITE", 0x2),
    ("PROT_EXEC", 0x4),
    ("PROT_SEM", 0x8),
    ("PROT_GROWSDOWN", 0x0100_0000),
    ("PROT_GROWSUP", 0x0200_0000),
];

const MAP_NAMES: &[(&str, u64)] = &[
    ("MAP_FILE", 0),
    ("MAP_SHARED", 0x01),
    ("MAP_PRIVATE", 0x02),
    ("MAP_SHARED_VALIDATE", 0x03),
    ("MAP_DROPPABLE", 0x08),
    ("MAP_FIXED", 0x10),
    ("MAP_ANONYMOUS", 0x20),
    ("MAP_ANON", 0x20),
    ("MAP_32BIT", 0x40),
    ("MAP_GROWSDOWN", 0x0100),
    ("MAP_DENYWRITE", 0x0800),
    ("MAP_EXECUTABLE", 0x1000),
    ("MAP_LOCKED", 0x2000),
    ("MAP_NORESERVE", 0x4000),
    ("MAP_POPULATE", 0x8000),
    ("MAP_NONBLOCK", 0x1_0000),
    ("MAP_STACK", 0x2_0000),
    ("MAP_HUGETLB", 0x4_0000),
    ("MAP_SYNC", 0x8_0000),
    ("MAP_FIXED_NOREPLACE", 0x10_0000),
    ("MAP_UNINITIALIZED", 0x400_0000),
    ("MAP_HUGE_SHIFT", 26),
];

const MREMAP_NAMES: &[(&str, u64)] = &[
    ("MREMAP_MAYMOVE", 1),
    ("MREMAP_FIXED", 2),
    ("MREMAP_DONTUNMAP", 4),
];

const LOCK_NAMES: &[(&str, u64)] = &[
    ("MCL_CURRENT", 1),
    ("MCL_FUTURE", 2),
    ("MCL_ONFAULT", 4),
    ("MLOCK_ONFAULT", 1),
];

/// `pkey_alloc` access rights.
const PKEY_RIGHTS: &[(&str, u64)] = &[("PKEY_DISABLE_ACCESS", 1), ("PKEY_DISABLE_WRITE", 2)];

const CLONE_VM: u64 = 0x100;

/// Reads `A|B|0x40|21<<MAP_HUGE_SHIFT` with the names in `table`.
fn parse_flags(token: &str, table: &[(&str, u64)]) -> Result<u64, ImportErrorKind> {
    let lookup = |name: &str| -> Result<u64, ImportErrorKind> {
        let name = name.trim();
        if name.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            return parse_number(name);
        }
        table
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
            .ok_or_else(|| ImportErrorKind::UnknownFlag(name.to_owned()))
    };
    let mut bits = 0u64;
    for part in token.split('|') {
        bits |= match part.split_once("<<") {
            Some((value, shift)) => {
                let shift = lookup(shift)?;
                let value = lookup(value)?;
                u32::try_from(shift)
                    .ok()
                    .and_then(|s| value.checked_shl(s))
                    .ok_or_else(|| ImportErrorKind::BadNumber(part.to_owned()))?
            }
            None => lookup(part)?,
        };
    }
    Ok(bits)
}

/// Reads a result: `0x7f...`, `0`, `-1 ENOMEM (text)`, `? ERESTARTSYS (...)`, `?`.
fn parse_result(result: &str) -> Result<Option<SysResult>, ImportErrorKind> {
    let mut words = result.split_whitespace();
    let value = words
        .next()
        .ok_or_else(|| ImportErrorKind::Malformed(result.to_owned()))?;
    if value == "?" {
        return Ok(None);
    }
    let number = parse_number(value)?;
    if number >= (-4095i64) as u64 {
        let errno = words
            .next()
            .and_then(Errno::from_name)
            .unwrap_or(Errno(u16::try_from(number.wrapping_neg()).unwrap_or(0)));
        return Ok(Some(Err(errno)));
    }
    Ok(Some(Ok(number)))
}

fn to_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The state of the conversion: tasks, spaces, ids.
#[derive(Default)]
struct Importer {
    records: Vec<Record>,
    /// Task id to the space it uses.
    task_space: HashMap<u64, SpaceId>,
    /// Tasks using each space.
    users: HashMap<SpaceId, usize>,
    next_space: u32,
    threads: HashMap<u64, ThreadId>,
    files: HashMap<String, FileId>,
}

impl Importer {
    fn thread(&mut self, task: u64) -> ThreadId {
        let next = ThreadId(u32::try_from(self.threads.len() + 1).unwrap_or(u32::MAX));
        *self.threads.entry(task).or_insert(next)
    }

    fn new_space(&mut self) -> SpaceId {
        self.next_space += 1;
        SpaceId(self.next_space)
    }

    fn drop_user(&mut self, task: u64) {
        if let Some(space) = self.task_space.remove(&task) {
            let users = self.users.entry(space).or_insert(1);
            *users -= 1;
            if *users == 0 {
                self.users.remove(&space);
                self.records.push(Record::Op {
                    space,
                    thread: None,
                    op: Op::Exit,
                });
            }
        }
    }

    /// The space of `task`, creating one (for a task already running when the log began).
    fn space_of(&mut self, task: u64) -> SpaceId {
        if let Some(&space) = self.task_space.get(&task) {
            return space;
        }
        self.exec_space(task, "?".to_owned())
    }

    /// A new space made by exec (`N`), whose only user is `task`.
    fn exec_space(&mut self, task: u64, program: String) -> SpaceId {
        let space = self.new_space();
        let thread = self.thread(task);
        self.task_space.insert(task, space);
        self.users.insert(space, 1);
        self.records.push(Record::Op {
            space,
            thread: Some(thread),
            op: Op::NewSpace { program },
        });
        space
    }

    fn file(&mut self, token: &str) -> Option<FileId> {
        let fd = token.split('<').next().unwrap_or(token).trim();
        if fd.starts_with('-') {
            return None;
        }
        let key = match token.find('<') {
            Some(open) => token[open + 1..].trim_end_matches('>').to_owned(),
            None => format!("fd{fd}"),
        };
        if let Some(&id) = self.files.get(&key) {
            return Some(id);
        }
        let id = FileId(u32::try_from(self.files.len() + 1).unwrap_or(u32::MAX));
        if key.contains('/') {
            let name = key.rsplit('/').next().unwrap_or(&key).to_owned();
            self.records.push(Record::FileName { file: id, name });
        }
        self.files.insert(key, id);
        Some(id)
    }

    fn event(&mut self, event: Event) -> Result<(), ImportErrorKind> {
        let (name, args, result) = match event.kind {
            EventKind::TaskEnd => {
                self.drop_user(event.task);
                return Ok(());
            }
            EventKind::Call { name, args, result } => (name, args, result),
        };
        let (name, result) = (name.as_str(), result.as_str());
        let args = split_args(&args);
        let arg = |index: usize| -> Result<&str, ImportErrorKind> {
            args.get(index)
                .copied()
                .ok_or_else(|| ImportErrorKind::MissingArgument {
                    call: name.to_owned(),
                    index: index + 1,
                })
        };
        let num = |index: usize| arg(index).and_then(parse_number);
        let Some(ret) = parse_result(result)? else {
            return Ok(());
        };
        let task = event.task;
        match name {
            "execve" | "execveat" => {
                if ret.is_ok() {
                    let path = arg(usize::from(name == "execveat"))?;
                    let program = path
                        .trim_matches('"')
                        .rsplit('/')
                        .next()
                        .unwrap_or("?")
                        .to_owned();
                    self.drop_user(task);
                    let program = if program.is_empty() {
                        "?".into()
                    } else {
                        program
                    };
                    self.exec_space(task, program);
                }
                return Ok(());
            }
            "clone" | "clone3" | "fork" | "vfork" => {
                let Ok(child) = ret else { return Ok(()) };
                let flags = match name {
                    "vfork" => CLONE_VM,
                    "fork" => 0,
                    _ => {
                        let text = args
                            .iter()
                            .find_map(|a| a.trim_start_matches('{').strip_prefix("flags="));
                        match text {
                            Some(text) => {
                                parse_flags(text, &[("CLONE_VM", CLONE_VM)]).or_else(|_| {
                                    Ok::<u64, ImportErrorKind>(
                                        if text.split('|').any(|f| f == "CLONE_VM") {
                                            CLONE_VM
                                        } else {
                                            0
                                        },
                                    )
                                })?
                            }
                            None => 0,
                        }
                    }
                };
                let parent = self.space_of(task);
                if flags & CLONE_VM != 0 {
                    self.task_space.insert(child, parent);
                    *self.users.entry(parent).or_insert(0) += 1;
                } else {
                    let space = self.new_space();
                    let thread = self.thread(task);
                    self.task_space.insert(child, space);
                    self.users.insert(space, 1);
                    self.records.push(Record::Op {
                        space,
                        thread: Some(thread),
                        op: Op::Fork {
                            parent,
                            racing: false,
                        },
                    });
                }
                return Ok(());
            }
            _ => {}
        }
        let op = match name {
            "mmap" | "mmap2" => {
                let (addr, len) = (num(0)?, num(1)?);
                let prot = Prot(to_u32(parse_flags(arg(2)?, PROT_NAMES)?));
                let flags = MapFlags(to_u32(parse_flags(arg(3)?, MAP_NAMES)?));
                let fd = arg(4)?;
                let offset = num(5)?;
                let file = if flags.has(MapFlags::ANONYMOUS) {
                    None
                } else {
                    self.file(fd)
                };
                Op::Mmap {
                    addr,
                    len,
                    prot,
                    flags,
                    file,
                    mode: None,
                    offset,
                    ret,
                    file_size: None,
                }
            }
            "munmap" => Op::Munmap {
                addr: num(0)?,
                len: num(1)?,
                ret,
            },
            "mprotect" | "pkey_mprotect" => Op::Mprotect {
                addr: num(0)?,
                len: num(1)?,
                prot: Prot(to_u32(parse_flags(arg(2)?, PROT_NAMES)?)),
                pkey: if name == "pkey_mprotect" {
                    Some(to_u32(num(3)?))
                } else {
                    None
                },
                ret,
            },
            "brk" => Op::Brk {
                request: num(0)?,
                ret: ret.unwrap_or(0),
            },
            "mremap" => Op::Mremap {
                old_addr: num(0)?,
                old_len: num(1)?,
                new_len: num(2)?,
                flags: RemapFlags(to_u32(parse_flags(arg(3)?, MREMAP_NAMES)?)),
                new_addr: if args.len() > 4 { num(4)? } else { 0 },
                ret,
            },
            "madvise" => {
                let token = arg(2)?;
                let advice = match token.strip_prefix("MADV_") {
                    Some(name) => Advice::from_name(name)
                        .ok_or_else(|| ImportErrorKind::UnknownFlag(token.to_owned()))?,
                    None => Advice(to_u32(parse_number(token)?)),
                };
                Op::Madvise {
                    addr: num(0)?,
                    len: num(1)?,
                    advice,
                    ret,
                }
            }
            "prctl" => {
                if arg(0)? != "PR_SET_VMA" {
                    return Ok(());
                }
                let set = u64::from(arg(4).is_ok_and(|name| name != "NULL"));
                Op::Other {
                    call: OtherCall::SetVmaName,
                    args: vec![num(2)?, num(3)?, set],
                    ret,
                }
            }
            other => {
                let Some(call) = OtherCall::from_name(other) else {
                    return Ok(());
                };
                let mut values = Vec::with_capacity(call.arity());
                for index in 0..call.arity() {
                    let token = arg(index)?;
                    let value = match (call, index) {
                        (OtherCall::Mlockall, 0) | (OtherCall::Mlock2, 2) => {
                            parse_flags(token, LOCK_NAMES)?
                        }
                        (OtherCall::PkeyAlloc, 1) => parse_flags(token, PKEY_RIGHTS)?,
                        (OtherCall::Mbind, 2) | (OtherCall::ProcessMadvise, _) => {
                            parse_number(token).unwrap_or(0)
                        }
                        _ => parse_number(token)?,
                    };
                    values.push(value);
                }
                Op::Other {
                    call,
                    args: values,
                    ret,
                }
            }
        };
        let space = self.space_of(task);
        let thread = self.thread(task);
        self.records.push(Record::Op {
            space,
            thread: Some(thread),
            op,
        });
        Ok(())
    }
}

/// Converts a `strace -f` log into a trace without snapshots.
///
/// # Errors
/// The first line that cannot be read, with the reason.
///
/// # Examples
/// ```
/// let log = "\
/// 100 execve(\"/usr/bin/true\", [\"true\"], 0x7ffd /* 20 vars */) = 0
/// 100 brk(NULL) = 0x5581a4000000
/// 100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0437ce4000
/// 100 munmap(0x7f0437ce4000, 8192 <unfinished ...>
/// 100 <... munmap resumed>) = 0
/// 100 exit_group(0) = ?
/// 100 +++ exited with 0 +++
/// ";
/// let trace = maple_trace::strace::import(log.as_bytes())?;
/// assert_eq!(
///     trace.to_string(),
///     "#mapletrace 2\n#source strace\nN 1 t1 true\nb 1 t1 0 5581a4000000\n\
///      m 1 t1 0 2000 rw- pa - 0 7f0437ce4000\nu 1 t1 7f0437ce4000 2000 0\nX 1\n"
/// );
/// # Ok::<(), maple_trace::strace::ImportError>(())
/// ```
pub fn import(bytes: &[u8]) -> Result<Trace, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError {
        line: bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
        kind: ImportErrorKind::NotText,
    })?;
    let mut events = Vec::new();
    // Unfinished calls per task: the entry text and its line.
    let mut pending: HashMap<u64, (&str, usize)> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let fail = |kind| ImportError { line: number, kind };
        let (task, body) = split_task(line);
        if body.is_empty() || body.starts_with("---") || body.starts_with("strace:") {
            continue;
        }
        if body.starts_with("+++") {
            events.push(Event {
                order: number,
                line: number,
                task,
                kind: EventKind::TaskEnd,
            });
            continue;
        }
        if let Some(entry) = body.strip_suffix("<unfinished ...>") {
            pending.insert(task, (entry.trim_end(), number));
            continue;
        }
        let (text, entry_line) = match body.strip_prefix("<... ") {
            Some(resumed) => {
                let (name, rest) = resumed
                    .split_once(" resumed>")
                    .ok_or_else(|| fail(ImportErrorKind::Malformed(body.to_owned())))?;
                let (entry, entry_line) = pending
                    .remove(&task)
                    .ok_or_else(|| fail(ImportErrorKind::OrphanResume(name.to_owned())))?;
                let joined = format!("{entry}{}", rest.trim_start_matches(' '));
                (joined, entry_line)
            }
            None => (body.to_owned(), number),
        };
        let (name, args, result) =
            split_call(&text).ok_or_else(|| fail(ImportErrorKind::Malformed(text.clone())))?;
        let creates_task = matches!(name, "clone" | "clone3" | "fork" | "vfork");
        let order = if creates_task { entry_line } else { number };
        events.push(Event {
            order,
            line: number,
            task,
            kind: EventKind::Call {
                name: name.to_owned(),
                args: args.to_owned(),
                result: result.to_owned(),
            },
        });
    }
    if events.is_empty() {
        return Err(ImportError {
            line: text.lines().count().max(1),
            kind: ImportErrorKind::Empty,
        });
    }
    events.sort_by_key(|e| e.order);
    let mut importer = Importer::default();
    for event in events {
        let line = event.line;
        importer
            .event(event)
            .map_err(|kind| ImportError { line, kind })?;
    }
    Ok(Trace {
        header: Header {
            source: Some("strace".to_owned()),
            ..Header::default()
        },
        records: importer.records,
    })
}
