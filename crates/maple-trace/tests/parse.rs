//! The trace format: round trips and hostile input.

use maple_trace::format::{
    Advice, Backing, Errno, FileId, Header, MapFlags, Op, OpenMode, OtherCall, Prot, Record,
    RemapFlags, SnapshotVma, SpaceId, ThreadId, Trace,
};
use maple_trace::parse;
use proptest::prelude::*;

/// A trace that uses every record kind, field form and escape.
const EVERY_RECORD: &str = "\
#mapletrace 2
#name every%20record
#kernel 6.18.44
#arch x86_64
#source maple-capture
#pkeys 16
f f1 libc.so.6
f f2 my%20file%23
N 1 t1 true
S 1 3
v 1000 3000 r-xp 0 f1 rd,ex,mr,mw,me
v 3000 4000 rw-p 2000 f1 A pkey2
v 7ff000 800000 rw-p 0 [stack] rd,wr,mr,mw,me,gd,ac A
m 1 t1 0 2000 rw- pa - 0 7f0437ce4000
m 1 t1 7f0437b1f000 156000 r-x pFD f2:r 26000 7f0437b1f000 z17c000
m 1 t1 7f0437b1f000 156000 r-x s f2:rw 26000 7f0437b1f000
m 1 t1 7f0437b1f000 156000 r-x s f2:w 26000 !EACCES
m 1 t1 0 2000 rw- s -:rw 10000000 7f0437b00000
m 1 t2 0 1000 --- paRK+40000000 - 0 !EEXIST
m 1 t2 0 1000 rwx 0 - 0 !E#200
u 1 t1 7f0437cdb000 8787 0
u 1 t1 1001 1000 !EINVAL
p 1 t1 7f0437cc8000 4000 r-- 0
p 1 t1 7f0437cc8000 4000 rw-G !ENOMEM k3
b 1 t1 0 7145000
b 1 t1 7166000 7166000
r 1 t1 7f4c13215000 41000 51000 M 0 7f4c131c4000
r 1 t1 7f4c13215000 41000 51000 MF 7f0000000000 !EINVAL
r 1 t1 7f4c13215000 41000 1000 0 0 7f4c13215000
a 1 t1 7f30855cb000 2000 DONTFORK 0
a 1 t1 7f30855cb000 2000 #77 !EINVAL
o 1 t1 mlock 1000 2000 0
o 1 t1 munlockall 0
o 1 t1 set_vma_name 1000 2000 1 0
o 1 t1 pkey_alloc 0 1 1
o 1 t1 pkey_free ffffffff !EINVAL
F 2 1 t3 racing
S 2 1
v 1000 3000 r-xp 0 [anon:glibc%20malloc] pkey15
S 2 0
D 2 2
w 1000 3000 1
v 2000 3000 rw-p 0 - rd,wr
w 5000 6000 0
D 2 0
X 1
N 3 t3 cc1
X 2
E cut-short
";

#[test]
fn every_record_round_trips() {
    let trace = parse(EVERY_RECORD.as_bytes()).unwrap();
    assert_eq!(trace.to_string(), EVERY_RECORD);
    assert_eq!(trace.header.name.as_deref(), Some("every record"));
    assert_eq!(trace.header.kernel.as_deref(), Some("6.18.44"));
    assert_eq!(trace.snapshot_count(), 5);
    assert!(trace.cut_short());
    assert_eq!(trace.op_count(), 28);
    assert_eq!(trace.header.pkeys, Some(16));
    let named = trace.records.iter().find_map(|r| match r {
        Record::FileName {
            file: FileId(2),
            name,
        } => Some(name.clone()),
        _ => None,
    });
    assert_eq!(named.as_deref(), Some("my file#"));
    let unknown_flags = trace.records.iter().find_map(|r| match r {
        Record::Op {
            op: Op::Mmap {
                flags, ret: Err(_), ..
            },
            thread: Some(ThreadId(2)),
            ..
        } => Some(*flags),
        _ => None,
    });
    let expected = MapFlags::PRIVATE
        | MapFlags::ANONYMOUS
        | MapFlags::FIXED_NOREPLACE
        | MapFlags::STACK
        | 0x4000_0000;
    assert_eq!(unknown_flags, Some(MapFlags(expected)));
}

/// `#pkeys` (the capturing machine's protection keys) is optional: a trace without it, written
/// before it existed, reads as from a machine without keys.
#[test]
fn protection_key_header_is_optional() {
    let old = parse(b"#mapletrace 1\n#kernel 6.1\nN 1 t1 a\nX 1\n").unwrap();
    assert_eq!((old.header.pkeys, old.header.pkey_count()), (None, 0));
    let new = parse(b"#mapletrace 1\n#pkeys 0\nN 1 t1 a\nX 1\n").unwrap();
    assert_eq!((new.header.pkeys, new.header.pkey_count()), (Some(0), 0));
    assert_eq!(new.to_string(), "#mapletrace 2\n#pkeys 0\nN 1 t1 a\nX 1\n");
}

/// Format 1 files (full snapshots only) still read, and are written back as format 2.
#[test]
fn format_1_still_reads() {
    let text = "#mapletrace 1\nN 1 t1 a\nS 1 1\nv 1000 2000 r--p 0 -\nX 1\n";
    let trace = parse(text.as_bytes()).unwrap();
    assert_eq!(
        trace.to_string(),
        text.replace("#mapletrace 1", "#mapletrace 2")
    );
}

/// The streaming reader gives each record with the line it starts on, and its errors name
/// the line of the problem, not of the record.
#[test]
fn reader_counts_lines_from_1() {
    use maple_trace::parse::Reader;
    let text = "#mapletrace 2\n#name x\n\nN 1 t1 a\nS 1 1\nv 1000 2000 r--p 0 -\nD 1 1\nw 3000 4000 0\nX 1\n";
    let lines: Vec<usize> = Reader::new(text.as_bytes())
        .unwrap()
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(lines, [4, 5, 7, 9]);
    let bad = "#mapletrace 2\nN 1 t1 a\nS 1 2\nv 1000 2000 r--p 0 -\nv 1000 2000 r--p 0 -\n";
    let errors: Vec<String> = Reader::new(bad.as_bytes())
        .unwrap()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        errors,
        ["line 5: VMA at 1000 is empty or overlaps or precedes the one before it"]
    );
}

#[test]
fn comments_and_blank_lines_are_skipped() {
    let text = "#mapletrace 2\n# hello\n\nN 1 t1 a\n   \n# X 1\nX 1\n";
    let trace = parse(text.as_bytes()).unwrap();
    assert_eq!(trace.to_string(), "#mapletrace 2\nN 1 t1 a\nX 1\n");
}

#[test]
fn errno_and_advice_names() {
    assert_eq!(Errno::from_name("ENOMEM"), Some(Errno::ENOMEM));
    assert_eq!(Errno(200).to_string(), "E#200");
    assert_eq!(Errno::from_name("E#200"), Some(Errno(200)));
    assert_eq!(Errno::from_name("EWHAT"), None);
    assert_eq!(Advice::from_name("DONTNEED"), Some(Advice(4)));
    assert_eq!(Advice(77).to_string(), "#77");
}

fn error_of(text: &str) -> String {
    match parse(text.as_bytes()) {
        Ok(trace) => panic!("parsed {text:?} as {trace:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn hostile_input_names_the_line_and_the_reason() {
    let cases: &[(&str, &str)] = &[
        ("", "line 1: not a maple trace (expected `#mapletrace 2`)"),
        (
            "hello\n",
            "line 1: not a maple trace (expected `#mapletrace 2`)",
        ),
        (
            "#mapletrace 3\n",
            "line 1: format version 3 is not supported (this build reads 1 and 2)",
        ),
        // Format 1 has no change snapshots.
        (
            "#mapletrace 1\nN 1 t1 a\nS 1 0\nD 1 0\n",
            "line 4: unknown record `D`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nD 1 0\n",
            "line 3: `D` record of address space 1 before any full snapshot (`S`) of it",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 1\nv 1000 3000 rw-p 0 -\nD 1 1\nw 2000 4000 0\n",
            "line 6: window edge 2000 cuts the VMA at 1000 of the layout before it",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 0\nD 1 2\nw 2000 4000 0\nw 3000 5000 0\n",
            "line 6: window at 3000 is empty or overlaps or precedes the one before it",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 0\nD 1 1\nw 2000 4000 1\nv 3000 5000 rw-p 0 -\n",
            "line 6: VMA at 3000 is empty or overlaps or precedes the one before it",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 0\nD 1 2\nw 2000 4000 0\nX 1\n",
            "line 6: `D` record announces 2 windows but has 1",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 0\nw 2000 4000 0\n",
            "line 4: `w` line outside a `D` record or beyond its window count",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nE cut-short\nX 1\n",
            "line 4: record after `E cut-short`",
        ),
        ("#mapletrace 2\nE done\n", "line 2: bad end `done`"),
        (
            "#mapletrace 2\nN 1 t1\n",
            "line 2: line ends before the program",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nm 1 t1 0 1000 rw- pa - 0\n",
            "line 3: line ends before the result",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nu 1 t1 10000000000000000 1000 0\n",
            "line 3: address `10000000000000000` is not a hex number (without 0x) of at most 64 bits",
        ),
        (
            "#mapletrace 2\nN 99999999999 t1 a\n",
            "line 2: address space `99999999999` is not a decimal number below 2^32",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nu 1 t1 -5 1000 0\n",
            "line 3: address `-5` is not a hex number (without 0x) of at most 64 bits",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nz 1 t1\n",
            "line 3: unknown record `z`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\no 1 t1 frobnicate 0\n",
            "line 3: unknown syscall `frobnicate`",
        ),
        (
            "#mapletrace 2\nu 3 t1 1000 1000 0\n",
            "line 2: address space 3 does not exist here",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nX 1\nu 1 t1 1000 1000 0\n",
            "line 4: address space 1 does not exist here",
        ),
        (
            "#mapletrace 2\nF 2 1 t1\n",
            "line 2: address space 1 does not exist here",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nF 2 1 t2 fast\n",
            "line 3: unexpected field `fast` at the end of the line",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nN 1 t1 a\n",
            "line 3: address space 1 already exists",
        ),
        (
            "#mapletrace 2\nS 1 0\n",
            "line 2: address space 1 does not exist here",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nv 1000 2000 rw-p 0 -\n",
            "line 3: `v` line outside a snapshot",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 2\nv 1000 2000 rw-p 0 -\nu 1 t1 0 0 0\n",
            "line 5: snapshot announces 2 VMAs but has 1",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 2\nv 1000 2000 rw-p 0 -\n",
            "line 4: snapshot announces 2 VMAs but has 1",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 2\nv 1000 2000 rw-p 0 -\nv 1800 3000 rw-p 0 -\n",
            "line 5: VMA at 1800 is empty or overlaps or precedes the one before it",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 1\nv 2000 2000 rw-p 0 -\n",
            "line 4: VMA at 2000 is empty or overlaps or precedes the one before it",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 1\nv 1000 2000 rwzp 0 -\n",
            "line 4: bad permissions `rwzp`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 1\nv 1000 2000 rw-p 0 g7\n",
            "line 4: bad file `g7`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 1\nv 1000 2000 rw-p 0 - r\n",
            "line 4: bad VmFlags `r`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 1\nv 1000 2000 rw-p 0 - rd B\n",
            "line 4: unexpected field `B` at the end of the line",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nS 1 1\nv 1000 2000 rw-p 0 - A A\n",
            "line 4: unexpected field `A` at the end of the line",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nm 1 t1 0 1000 rw- pQ - 0 1000\n",
            "line 3: bad flags `pQ`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nm 1 t1 0 1000 rw- p - 0 !ENOTANERROR\n",
            "line 3: bad error name `!ENOTANERROR`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nm 1 t1 0 1000 rw- p - 0 1000 extra\n",
            "line 3: unexpected field `extra` at the end of the line",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\nu 1 x1 0 1000 0\n",
            "line 3: bad thread `x1`",
        ),
        (
            "#mapletrace 2\nN 1 t1 a\n#kernel 6.1\n",
            "line 3: unexpected header `#kernel 6.1`",
        ),
        (
            "#mapletrace 2\nf f1 a\nf f1 b\n",
            "line 3: file f1 is named twice",
        ),
        (
            "#mapletrace 1\n#pkeys many\n",
            "line 2: protection key count `many` is not a decimal number below 2^32",
        ),
        (
            "#mapletrace 1\n#pkeys 16\n#pkeys 0\n",
            "line 3: unexpected header `#pkeys 0`",
        ),
        (
            "#mapletrace 1\nN 1 t1 a\nS 1 1\nv 1000 2000 rw-p 0 - rd pkey0\n",
            "line 4: bad protection key `pkey0`",
        ),
        ("#mapletrace 2\nN 1 t1 a%zz\n", "line 2: bad program `a%zz`"),
        ("#mapletrace 2\nN 1 t1 a%2\n", "line 2: bad program `a%2`"),
        (
            "#mapletrace 2\n\u{0}\u{1}\n",
            "line 2: unknown record `\u{0}\u{1}`",
        ),
        // A snapshot's space id is decimal and 32 bits: the message says so.
        (
            "#mapletrace 2\nS 18446744073709551615 1\n",
            "line 2: address space `18446744073709551615` is not a decimal number below 2^32",
        ),
        // Other logs say what they are and which command reads them.
        (
            "32200 mmap(NULL, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n",
            "line 1: this is an strace log, not a maple trace: `maple import-strace LOG` turns it into one",
        ),
        (
            "[pid  4242] 12:00:01.123456 brk(NULL) = 0x5000\n",
            "line 1: this is an strace log, not a maple trace: `maple import-strace LOG` turns it into one",
        ),
        (
            "execve(\"/bin/true\", [\"true\"], 0x7ffd /* 5 vars */) = 0\n",
            "line 1: this is an strace log, not a maple trace: `maple import-strace LOG` turns it into one",
        ),
        (
            "#mapletrace 2\n#name gcc\n#source ftrace maple_tree:ma_write\nT 1 cc1\n",
            "line 3: this is an ftrace capture of the kernel's maple-tree operations, not a maple \
             trace of system calls: `maple-bench --traces DIR` replays such captures",
        ),
        (
            "#mapletrace 2\nT 1 cc1\nS 1 1000 1fff 3\n",
            "line 2: this is an ftrace capture of the kernel's maple-tree operations, not a maple \
             trace of system calls: `maple-bench --traces DIR` replays such captures",
        ),
    ];
    for &(text, expected) in cases {
        assert_eq!(error_of(text), expected, "input {text:?}");
    }
    let not_text = parse(b"#mapletrace 2\nN 1 t1 a\n\xff\xfe\n").unwrap_err();
    assert_eq!(not_text.to_string(), "line 3: not UTF-8 text");
}

/// Found by the `trace` fuzz target: `%+c` was read as the byte 0x0c (a form feed), which was
/// written back unescaped and split the name in two.
#[test]
fn escapes_are_two_hex_digits_and_control_characters_are_escaped() {
    assert_eq!(
        error_of("#mapletrace 2\n#name a%+cb\n"),
        "line 2: bad header value `a%+cb`"
    );
    let text = "#mapletrace 2\n#name a%0cb%00%7f\n";
    let trace = parse(text.as_bytes()).unwrap();
    assert_eq!(trace.header.name.as_deref(), Some("a\u{c}b\0\u{7f}"));
    assert_eq!(trace.to_string(), text);
}

#[test]
fn long_tokens_are_clipped_in_messages() {
    let long = "z".repeat(10_000);
    let message = error_of(&format!("#mapletrace 2\n{long}\n"));
    assert!(message.len() < 100, "{message}");
    assert!(
        message.starts_with("line 2: unknown record `zzzz"),
        "{message}"
    );
}

fn arb_result() -> impl Strategy<Value = Result<u64, Errno>> {
    prop_oneof![
        any::<u64>().prop_map(Ok),
        (1u16..600).prop_map(|n| Err(Errno(n)))
    ]
}

fn arb_memory_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            (
                proptest::option::of(0u32..50),
                proptest::option::of(0u32..3),
                proptest::option::of(any::<u64>()),
            ),
            any::<u64>(),
            arb_result()
        )
            .prop_map(
                |(addr, len, prot, flags, (file, mode, file_size), offset, ret)| Op::Mmap {
                    addr,
                    len,
                    prot: Prot(prot),
                    flags: MapFlags(flags),
                    mode: mode.and_then(OpenMode::from_accmode),
                    file: file.map(FileId),
                    offset,
                    ret,
                    file_size,
                }
            ),
        (any::<u64>(), any::<u64>(), arb_result()).prop_map(|(addr, len, ret)| Op::Munmap {
            addr,
            len,
            ret
        }),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            proptest::option::of(0u32..16),
            arb_result()
        )
            .prop_map(|(addr, len, prot, pkey, ret)| Op::Mprotect {
                addr,
                len,
                prot: Prot(prot),
                pkey,
                ret
            }),
        (any::<u64>(), any::<u64>()).prop_map(|(request, ret)| Op::Brk { request, ret }),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            arb_result()
        )
            .prop_map(
                |(old_addr, old_len, new_len, flags, new_addr, ret)| Op::Mremap {
                    old_addr,
                    old_len,
                    new_len,
                    flags: RemapFlags(flags),
                    new_addr,
                    ret,
                }
            ),
        (any::<u64>(), any::<u64>(), any::<u32>(), arb_result()).prop_map(
            |(addr, len, advice, ret)| Op::Madvise {
                addr,
                len,
                advice: Advice(advice),
                ret
            }
        ),
        (
            0usize..5,
            proptest::collection::vec(any::<u64>(), 5),
            arb_result()
        )
            .prop_map(|(which, args, ret)| {
                let call = [
                    OtherCall::Mlock2,
                    OtherCall::Munlockall,
                    OtherCall::RemapFilePages,
                    OtherCall::PkeyAlloc,
                    OtherCall::PkeyFree,
                ][which];
                Op::Other {
                    call,
                    args: args[..call.arity()].to_vec(),
                    ret,
                }
            }),
    ]
}

fn arb_backing() -> impl Strategy<Value = Backing> {
    prop_oneof![
        Just(Backing::Anon),
        (0u32..100).prop_map(|id| Backing::File(FileId(id))),
        "[\\x00-\\x7f\\u{a0}\\u{3000}é]{0,12}".prop_map(Backing::Named),
    ]
}

fn arb_snapshot() -> impl Strategy<Value = Vec<SnapshotVma>> {
    proptest::collection::vec(
        (
            1u64..1 << 20,
            1u64..1 << 20,
            any::<[bool; 4]>(),
            any::<u64>(),
            arb_backing(),
            proptest::collection::vec(
                proptest::sample::select(vec![*b"rd", *b"wr", *b"gd", *b"ac", *b"dc", *b"9z"]),
                0..4,
            ),
            proptest::sample::select(vec![0u32, 0, 1, 15]),
        ),
        0..6,
    )
    .prop_map(|parts| {
        let mut at = 0u64;
        parts
            .into_iter()
            .map(
                |(gap, len, [read, write, exec, shared], offset, backing, flags, pkey)| {
                    let start = at + gap;
                    at = start + len;
                    SnapshotVma {
                        start,
                        end: at,
                        read,
                        write,
                        exec,
                        shared,
                        offset,
                        backing,
                        flags,
                        anon_pages: offset % 2 == 0,
                        pkey,
                    }
                },
            )
            .collect()
    })
}

proptest! {
    /// Any records of one address space, written and parsed back, are the same records.
    #[test]
    fn written_traces_parse_back(
        program in "[\\x00-\\x7f\\u{a0}é]{0,10}",
        ops in proptest::collection::vec((arb_memory_op(), 1u32..5), 0..20),
        snapshot in arb_snapshot(),
        pkeys in proptest::option::of(0u32..20),
    ) {
        let space = SpaceId(1);
        let mut records = vec![
            Record::Op { space, thread: Some(ThreadId(1)), op: Op::NewSpace { program } },
            Record::Snapshot { space, vmas: snapshot },
        ];
        for (op, thread) in ops {
            records.push(Record::Op { space, thread: Some(ThreadId(thread)), op });
        }
        records.push(Record::Op { space, thread: None, op: Op::Exit });
        let trace = Trace { header: Header { name: Some("p t".into()), pkeys, ..Header::default() }, records };
        let text = trace.to_string();
        let parsed = parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&parsed, &trace);
        prop_assert_eq!(parsed.to_string(), text);
    }

    /// Random bytes after a valid first line give a trace or an error, never a panic.
    #[test]
    fn random_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = b"#mapletrace 2\n".to_vec();
        bytes.extend_from_slice(&tail);
        if let Err(err) = parse(&bytes) {
            prop_assert!(err.line >= 1);
        }
    }

    /// Random lines made of the format's own tokens give a trace or an error, never a panic.
    #[test]
    fn random_token_lines_never_panic(lines in proptest::collection::vec(
        proptest::collection::vec(proptest::sample::select(vec![
            "N", "F", "X", "m", "u", "p", "b", "r", "a", "o", "S", "v", "f", "1", "2", "t1", "0", "1000",
            "rw-", "rw-p", "pa", "-", "f1", "!ENOMEM", "mlock", "[stack]", "M", "DONTNEED", "#kernel",
        ]), 0..10),
        0..30,
    )) {
        let mut text = String::from("#mapletrace 2\n");
        for line in lines {
            text.push_str(&line.join(" "));
            text.push('\n');
        }
        if let Ok(trace) = parse(text.as_bytes()) {
            let again = parse(trace.to_string().as_bytes());
            prop_assert_eq!(again.as_ref(), Ok(&trace));
        }
    }
}
