//! Tests of the script parser and runner: every op's output, every `invalid` case, every
//! malformed case with its exact message, and the edges of the key space.

use std::io::{self, Read, Write};

use super::*;

const MAX: u64 = u64::MAX;

/// Runs `script` and returns what it printed and how it ended.
fn run_str(script: &str) -> (String, Result<(), Error>) {
    let mut out = Vec::new();
    let result = run(script.as_bytes(), &mut out);
    (String::from_utf8(out).expect("output is UTF-8"), result)
}

/// Runs a script that must succeed and returns its output.
fn output(script: &str) -> String {
    let (out, result) = run_str(script);
    if let Err(e) = result {
        panic!("script failed: {e}\noutput so far:\n{out}");
    }
    out
}

/// Runs a script that must stop at a malformed line; returns the output and the error text.
fn malformed(script: &str) -> (String, String) {
    let (out, result) = run_str(script);
    match result {
        Err(e @ Error::Malformed { .. }) => (out, e.to_string()),
        Err(e) => panic!("expected a malformed line, got: {e}"),
        Ok(()) => panic!("expected a malformed line, but the script ran:\n{out}"),
    }
}

/// The error text of a one-line script that is malformed, checking that it names line 1.
fn reason(line: &str) -> String {
    let (out, error) = malformed(line);
    assert_eq!(out, "", "{line:?} printed something");
    error
        .strip_prefix("line 1: ")
        .unwrap_or_else(|| panic!("{line:?}: {error}"))
        .to_owned()
}

// ---- Each op --------------------------------------------------------------------------------

/// `S` prints nothing; its value defaults to `first`.
#[test]
fn store_prints_nothing_and_defaults_the_value_to_first() {
    assert_eq!(
        output("S 10 19\nS 20 29 5\nD\n"),
        "10 19 10\n20 29 5\nend\n"
    );
}

/// `S` over the middle of an entry splits it; both pieces keep the old value.
#[test]
fn store_splits_and_trims_older_entries() {
    assert_eq!(
        output("S 0 99 1\nS 40 59 2\nS 90 120 3\nD\n"),
        "0 39 1\n40 59 2\n60 89 1\n90 120 3\nend\n"
    );
}

/// `N` empties a range and leaves what lies outside it.
#[test]
fn clear_empties_the_range_only() {
    assert_eq!(
        output("S 0 99 1\nN 10 89\nL 9\nL 10\nL 89\nL 90\nD\n"),
        "0 9 1\nnone\nnone\n90 99 1\n0 9 1\n90 99 1\nend\n"
    );
}

/// `I` prints `ok` or `occupied`; an occupied insert changes nothing.
#[test]
fn insert_reports_ok_or_occupied() {
    assert_eq!(
        output("I 10 19\nI 15 25 3\nI 20 25 3\nI 0 10\nI 0 9 4\nD\n"),
        "ok\noccupied\nok\noccupied\nok\n0 9 4\n10 19 10\n20 25 3\nend\n"
    );
}

/// `E` removes the whole entry containing the index and prints its value, else `none`; its
/// second number is ignored.
#[test]
fn erase_prints_the_removed_value_or_none() {
    assert_eq!(
        output("S 10 19 7\nS 20 29\nE 15\nE 15\nE 25 12345\nE 25\nD\n"),
        "7\nnone\n20\nnone\nend\n"
    );
}

/// `L` prints the whole entry containing the index.
#[test]
fn lookup_prints_the_whole_entry() {
    assert_eq!(
        output("S 10 19 7\nL 9\nL 10\nL 15\nL 19\nL 20\n"),
        "none\n10 19 7\n10 19 7\n10 19 7\nnone\n"
    );
}

/// `F start limit` finds the first entry intersecting `[start, limit]`.
#[test]
fn find_returns_the_first_entry_in_the_window() {
    let script = "S 10 19 1\nS 30 39 2\n\
                  F 0 9\nF 0 10\nF 15 100\nF 20 29\nF 20 30\nF 40 0xffffffffffffffff\nF 30 20\n";
    assert_eq!(
        output(script),
        "none\n10 19 1\n10 19 1\nnone\n30 39 2\nnone\nnone\n"
    );
}

/// `P start min` finds the last entry intersecting `[min, start]`.
#[test]
fn find_rev_returns_the_last_entry_in_the_window() {
    let script = "S 10 19 1\nS 30 39 2\n\
                  P 100 0\nP 29 20\nP 29 19\nP 15 15\nP 9 0\nP 35 36\nP 0xffffffffffffffff 40\n";
    assert_eq!(
        output(script),
        "30 39 2\nnone\n10 19 1\n10 19 1\nnone\nnone\nnone\n"
    );
}

/// `G` and `H` print the lowest and highest start of a fit.
#[test]
fn gap_searches_find_the_lowest_and_highest_fit() {
    let script = "S 0 99 1\nS 110 199 2\n\
                  G 0 1000 10\nG 0 1000 11\nG 150 1000 10\n\
                  H 0 1000 10\nH 0 199 10\nH 0 299 100\nH 0 250 100\n";
    assert_eq!(output(script), "100\n200\n200\n991\n100\n200\nnone\n");
}

/// A window smaller than the size, or one with no free run long enough, prints `none`.
#[test]
fn gap_searches_print_none_when_nothing_fits() {
    assert_eq!(
        output("G 100 105 10\nH 100 105 10\nS 0 0xffffffffffffffff 1\nG 0 5 1\nH 0 5 1\n"),
        "none\nnone\nnone\nnone\n"
    );
}

/// `A`/`B` store at the fit and print its start; the value defaults to the start.
#[test]
fn alloc_stores_at_the_fit() {
    let script = "S 0 99 1\nS 110 199 2\n\
                  A 0 1000 10\nL 105\nA 0 1000 10\nB 0 1000 10 5\nL 995\nB 0 1000 1\n";
    assert_eq!(
        output(script),
        "100\n100 109 100\n200\n991\n991 1000 5\n990\n"
    );
}

/// `A`/`B` print `busy` when nothing fits and store nothing.
#[test]
fn alloc_prints_busy_when_nothing_fits() {
    assert_eq!(
        output("S 0 99 1\nA 0 99 1\nB 0 99 1\nA 50 120 50\nB 100 120 22\nD\n"),
        "busy\nbusy\nbusy\nbusy\n0 99 1\nend\n"
    );
}

/// `D` on an empty tree prints only `end`.
#[test]
fn dump_of_an_empty_tree_is_just_end() {
    assert_eq!(output("D\n"), "end\n");
}

/// `C` prints `ok` for a valid tree, however large.
#[test]
fn check_prints_ok() {
    let mut script = String::from("C\n");
    for i in 0..2000u64 {
        script.push_str(&format!("S {} {} {i}\n", i * 10, i * 10 + 4));
    }
    script.push_str("C\n");
    for i in (0..2000u64).step_by(3) {
        script.push_str(&format!("E {}\n", i * 10));
    }
    script.push_str("C\n");
    let out = output(&script);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3 + 667);
    assert_eq!(lines[0], "ok");
    assert_eq!(lines[1], "ok");
    assert_eq!(lines[669], "ok");
}

/// `X` prints the tree's height and node count, as the library reports them.
#[test]
fn shape_prints_height_and_nodes() {
    assert_eq!(
        output("X\nS 1 1\nX\n"),
        "height 0 nodes 0\nheight 1 nodes 1\n"
    );

    let mut script = String::new();
    let tree = MapleTree::new_alloc();
    for i in 0..500u64 {
        script.push_str(&format!("S {} {}\n", i * 4, i * 4 + 1));
        tree.store_range(i * 4..=i * 4 + 1, i * 4).unwrap();
    }
    script.push_str("X\n");
    assert!(
        tree.stats().height >= 2,
        "500 entries need more than one leaf"
    );
    assert_eq!(
        output(&script),
        format!(
            "height {} nodes {}\n",
            tree.stats().height,
            tree.stats().nodes
        )
    );
}

// ---- `invalid` ------------------------------------------------------------------------------

/// An inverted range in `S`, `N` or `I` prints `invalid` and changes nothing.
#[test]
fn inverted_ranges_are_invalid() {
    assert_eq!(
        output("S 5 9 1\nS 9 5\nN 9 5\nI 9 5\nI 9 5 3\nD\n"),
        "invalid\ninvalid\ninvalid\ninvalid\n5 9 1\nend\n"
    );
}

/// A size of 0 or `min > max` in a gap search or an allocation prints `invalid`.
#[test]
fn bad_gap_requests_are_invalid() {
    let script = "G 0 10 0\nH 0 10 0\nA 0 10 0\nB 0 10 0\n\
                  G 10 0 1\nH 10 0 1\nA 10 0 1\nB 10 0 1 7\nD\n";
    assert_eq!(output(script), "invalid\n".repeat(8) + "end\n");
}

/// A range tree does not track gaps, yet `G`, `H`, `A` and `B` answer as in an allocation
/// tree (the search visits its leaves).
#[test]
fn gap_ops_on_a_range_tree_answer_too() {
    assert_eq!(
        output("tree range\nS 0 9\nG 0 100 1\nH 0 100 1\nA 0 100 1\nB 0 100 1\nI 10 10\nD\n"),
        "10\n100\n10\n100\noccupied\n0 9 0\n10 10 10\n100 100 100\nend\n"
    );
}

// ---- Edges of the key space -----------------------------------------------------------------

/// A store over the whole key space, then erasing it, then allocations at both ends.
#[test]
fn full_range_store_erase_and_alloc_at_both_ends() {
    let script = "S 0 0xffffffffffffffff 5\n\
                  L 0\nL 18446744073709551615\nF 0 0\nP 0xffffffffffffffff 0xffffffffffffffff\n\
                  G 0 0xffffffffffffffff 1\nA 0 0xffffffffffffffff 1\n\
                  E 77\nD\n\
                  A 0 0xffffffffffffffff 1\nB 0 0xffffffffffffffff 1\nD\nC\n";
    let full = format!("0 {MAX} 5");
    assert_eq!(
        output(script),
        format!(
            "{full}\n{full}\n{full}\n{full}\nnone\nbusy\n5\nend\n0\n{MAX}\n0 0 0\n{MAX} {MAX} {MAX}\nend\nok\n"
        )
    );
}

/// Gap searches for 2^64-1 indices: the only fits are at 0 and at 1.
#[test]
fn largest_possible_gap_requests() {
    let script = "G 0 0xffffffffffffffff 0xffffffffffffffff\n\
                  H 0 0xffffffffffffffff 0xffffffffffffffff\n\
                  G 1 0xffffffffffffffff 0xffffffffffffffff\n\
                  G 2 0xffffffffffffffff 0xffffffffffffffff\n\
                  S 0 0\n\
                  G 0 0xffffffffffffffff 0xffffffffffffffff\n\
                  H 0 0xffffffffffffffff 0xffffffffffffffff\n\
                  B 0 0xffffffffffffffff 0xffffffffffffffff\n\
                  D\n";
    assert_eq!(
        output(script),
        format!("0\n1\n1\nnone\n1\n1\n1\n0 0 0\n1 {MAX} 1\nend\n")
    );
}

/// Entries at index 0 and at `u64::MAX` with values 0 and 2^64-1.
#[test]
fn entries_at_zero_and_max() {
    let script = "I 0 0\nI 0xffffffffffffffff 0xffffffffffffffff\n\
                  L 0\nL 0xffffffffffffffff\nF 1 0xffffffffffffffff\nP 0xfffffffffffffffe 0\n\
                  G 0 0xffffffffffffffff 0xfffffffffffffffe\n\
                  G 0 0xffffffffffffffff 0xffffffffffffffff\n\
                  E 0\nE 0xffffffffffffffff\nD\n";
    assert_eq!(
        output(script),
        format!(
            "ok\nok\n0 0 0\n{MAX} {MAX} {MAX}\n{MAX} {MAX} {MAX}\n0 0 0\n1\nnone\n0\n{MAX}\nend\n"
        )
    );
}

/// `N` over the whole key space empties the tree.
#[test]
fn full_range_clear_empties_the_tree() {
    assert_eq!(
        output("S 0 9\nS 100 0xffffffffffffffff 3\nN 0 0xffffffffffffffff\nD\nX\nC\n"),
        "end\nheight 0 nodes 0\nok\n"
    );
}

// ---- Numbers, comments and layout ----------------------------------------------------------

/// Decimal and `0x` hex (either case of digit), leading zeros, and the largest value.
#[test]
fn numbers_are_decimal_or_hex() {
    let script = "S 0x10 0X1F\n";
    assert_eq!(
        reason(script),
        "unparsable number `0X1F` (expected decimal or 0x hex)"
    );
    assert_eq!(
        output(
            "S 0x10 0x1F 0xaBc\nS 007 0008\nS 18446744073709551615 0xffffffffffffffff 0xFFFFFFFFFFFFFFFF\nD\n"
        ),
        format!("7 8 7\n16 31 2748\n{MAX} {MAX} {MAX}\nend\n")
    );
}

/// Numbers above 2^64-1 are malformed, in decimal and in hex.
#[test]
fn numbers_above_u64_max_are_malformed() {
    assert_eq!(
        reason("L 18446744073709551616"),
        "number `18446744073709551616` is larger than 2^64-1"
    );
    assert_eq!(
        reason("L 0x10000000000000000"),
        "number `0x10000000000000000` is larger than 2^64-1"
    );
    assert_eq!(
        reason("L 99999999999999999999999"),
        "number `99999999999999999999999` is larger than 2^64-1"
    );
    // Leading zeros do not count against the limit.
    assert_eq!(
        output(
            "S 0x000000000000000000ffffffffffffffff 00000000000000000000018446744073709551615\nD\n"
        ),
        format!("{MAX} {MAX} {MAX}\nend\n")
    );
}

/// Signs, separators, exponents, bare prefixes and other junk are not numbers.
#[test]
fn junk_numbers_are_malformed() {
    for token in [
        "+5", "-1", "1_000", "1e3", "0x", "0xg", "0x0x1", "12a", "x10", "0b1", "1.0",
    ] {
        assert_eq!(
            reason(&format!("L {token}")),
            format!("unparsable number `{token}` (expected decimal or 0x hex)"),
            "{token}"
        );
    }
}

/// Comments run to the end of the line; blank lines, tabs and runs of spaces are fine.
#[test]
fn comments_blank_lines_and_whitespace() {
    let script = "# header\n\n   \n\t\nS 1 2 # store\nS\t3\t4\t9#tight comment\n  L   3  \n#\nL 1#x\nD # dump\n";
    assert_eq!(output(script), "3 4 9\n1 2 1\n1 2 1\n3 4 9\nend\n");
}

/// A carriage return before the newline is ignored, and the last line needs no newline.
#[test]
fn crlf_and_a_missing_final_newline() {
    assert_eq!(output("S 1 2\r\nL 1\r\nL 2"), "1 2 1\n1 2 1\n");
}

/// An empty script prints nothing.
#[test]
fn empty_script() {
    assert_eq!(output(""), "");
    assert_eq!(output("# only a comment\n\n"), "");
}

// ---- The `tree` line -----------------------------------------------------------------------

/// The default tree is an allocation tree; `tree alloc` and `tree range` choose explicitly,
/// after any number of blank and comment lines.
#[test]
fn tree_line_chooses_the_kind() {
    assert_eq!(output("G 0 9 1\n"), "0\n");
    assert_eq!(output("tree alloc\nG 0 9 1\n"), "0\n");
    assert_eq!(
        output("# a\n\n  # b\ntree range # plain\nS 0 0\nG 0 9 1\nD\n"),
        "1\n0 0 0\nend\n"
    );
    assert_eq!(output("tree range\n"), "");
}

/// A `tree` line after an op, or a second one, is malformed.
#[test]
fn tree_line_must_come_first() {
    let not_first = "`tree` must be the first line that is not blank or a comment";
    assert_eq!(
        malformed("S 1 1\nL 1\n# c\ntree range\nL 1\n"),
        ("1 1 1\n".to_owned(), format!("line 4: {not_first}"))
    );
    assert_eq!(
        malformed("tree range\ntree range\n"),
        (String::new(), format!("line 2: {not_first}"))
    );
    assert_eq!(
        malformed("tree alloc\n\ntree alloc\n"),
        (String::new(), format!("line 3: {not_first}"))
    );
}

/// A `tree` line without a kind, with an unknown kind or with more tokens is malformed.
#[test]
fn tree_line_with_bad_arguments() {
    assert_eq!(
        reason("tree"),
        "missing tree kind (usage: `tree alloc|range`)"
    );
    assert_eq!(
        reason("tree Range"),
        "unknown tree kind `Range` (usage: `tree alloc|range`)"
    );
    assert_eq!(
        reason("tree range alloc"),
        "extra argument `alloc` (usage: `tree alloc|range`)"
    );
}

// ---- Malformed lines -----------------------------------------------------------------------

/// An unknown op stops the run at its line; earlier output stays; line numbers count every
/// physical line, blank and comment lines included.
#[test]
fn unknown_op_stops_the_run_with_its_line_number() {
    assert_eq!(
        malformed("# c\n\nS 1 1\nL 1\nQ 1 2\nL 1\n"),
        ("1 1 1\n".to_owned(), "line 5: unknown op `Q`".to_owned())
    );
    assert_eq!(reason("s 1 2"), "unknown op `s`");
    assert_eq!(reason("SS 1 2"), "unknown op `SS`");
    assert_eq!(reason("1 2"), "unknown op `1`");
    assert_eq!(reason("trees range"), "unknown op `trees`");
}

/// Every op with a number missing.
#[test]
fn missing_numbers() {
    let cases = [
        ("S 1", "S first last [value]"),
        ("N 1", "N first last"),
        ("I", "I first last [value]"),
        ("E", "E index [ignored]"),
        ("L", "L index"),
        ("F 1", "F start limit"),
        ("P 1", "P start min"),
        ("G 1 2", "G min max size"),
        ("H", "H min max size"),
        ("A 1 2", "A min max size [value]"),
        ("B 1", "B min max size [value]"),
    ];
    for (line, usage) in cases {
        assert_eq!(
            reason(line),
            format!("missing number (usage: `{usage}`)"),
            "{line}"
        );
    }
}

/// Every op with a token too many.
#[test]
fn extra_arguments() {
    let cases = [
        ("S 1 2 3 4", "4", "S first last [value]"),
        ("N 1 2 3", "3", "N first last"),
        ("I 1 2 3 x", "x", "I first last [value]"),
        ("E 1 2 3", "3", "E index [ignored]"),
        ("L 1 2", "2", "L index"),
        ("F 1 2 3", "3", "F start limit"),
        ("P 1 2 3", "3", "P start min"),
        ("G 1 2 3 4", "4", "G min max size"),
        ("H 1 2 3 4", "4", "H min max size"),
        ("A 1 2 3 4 5", "5", "A min max size [value]"),
        ("B 1 2 3 4 5", "5", "B min max size [value]"),
        ("D 0", "0", "D"),
        ("C ok", "ok", "C"),
        ("X 1", "1", "X"),
    ];
    for (line, token, usage) in cases {
        assert_eq!(
            reason(line),
            format!("extra argument `{token}` (usage: `{usage}`)"),
            "{line}"
        );
    }
}

/// An unparsable number anywhere in an op, including `E`'s ignored one, is malformed; the
/// first bad token (left to right) is the one reported.
#[test]
fn unparsable_numbers() {
    let unparsable = |t: &str| format!("unparsable number `{t}` (expected decimal or 0x hex)");
    assert_eq!(reason("S abc"), unparsable("abc"));
    assert_eq!(reason("S 1 2 v"), unparsable("v"));
    assert_eq!(reason("E 1 end"), unparsable("end"));
    assert_eq!(reason("G 1 x y"), unparsable("x"));
    assert_eq!(reason("L 1,"), unparsable("1,"));
}

/// Bytes that are not UTF-8 are reported, not a crash.
#[test]
fn non_utf8_input_is_malformed_not_a_panic() {
    let mut out = Vec::new();
    let err = run(&b"L 1\nL \xff\xfe\n"[..], &mut out).unwrap_err();
    assert_eq!(out, b"none\n");
    assert_eq!(
        err.to_string(),
        "line 2: unparsable number `\u{fffd}\u{fffd}` (expected decimal or 0x hex)"
    );
}

/// A malformed line is reported even when it is the last line and has no newline.
#[test]
fn malformed_last_line_without_newline() {
    assert_eq!(
        malformed("L 1\nL"),
        (
            "none\n".to_owned(),
            "line 2: missing number (usage: `L index`)".to_owned()
        )
    );
}

// ---- parse_line ----------------------------------------------------------------------------

/// `parse_line` gives each op its numbers and optional value.
#[test]
fn parse_line_builds_ops() {
    let op = |text: &str| match parse_line(text.as_bytes()) {
        Ok(Line::Op(op)) => op,
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(
        op("S 1 2"),
        Op::Store {
            first: 1,
            last: 2,
            value: None
        }
    );
    assert_eq!(
        op("S 1 2 0"),
        Op::Store {
            first: 1,
            last: 2,
            value: Some(0)
        }
    );
    assert_eq!(op("N 1 2"), Op::Clear { first: 1, last: 2 });
    assert_eq!(
        op("I 1 2 3"),
        Op::Insert {
            first: 1,
            last: 2,
            value: Some(3)
        }
    );
    assert_eq!(op("E 5 9"), Op::Erase { index: 5 });
    assert_eq!(op("L 5"), Op::Lookup { index: 5 });
    assert_eq!(op("F 5 9"), Op::Find { start: 5, limit: 9 });
    assert_eq!(op("P 9 5"), Op::FindRev { start: 9, min: 5 });
    assert_eq!(
        op("G 1 2 3"),
        Op::Gap {
            min: 1,
            max: 2,
            size: 3,
            rev: false
        }
    );
    assert_eq!(
        op("H 1 2 3"),
        Op::Gap {
            min: 1,
            max: 2,
            size: 3,
            rev: true
        }
    );
    assert_eq!(
        op("A 1 2 3"),
        Op::Alloc {
            min: 1,
            max: 2,
            size: 3,
            value: None,
            rev: false
        }
    );
    assert_eq!(
        op("B 1 2 3 4"),
        Op::Alloc {
            min: 1,
            max: 2,
            size: 3,
            value: Some(4),
            rev: true
        }
    );
    assert_eq!(op("D"), Op::Dump);
    assert_eq!(op("C"), Op::Check);
    assert_eq!(op("X"), Op::Shape);
    assert_eq!(
        parse_line(b"tree range\r\n"),
        Ok(Line::Tree(TreeKind::Range))
    );
    assert_eq!(parse_line(b" \t# x\n"), Ok(Line::Blank));
}

// ---- I/O failures --------------------------------------------------------------------------

/// A writer that fails after `room` bytes.
struct FailingWriter {
    room: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.room {
            return Err(io::Error::other("disk full"));
        }
        self.room -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A failing output is reported as a write error.
#[test]
fn write_errors_are_reported() {
    let err = run(&b"S 1 1\nL 1\n"[..], FailingWriter { room: 3 }).unwrap_err();
    assert!(matches!(err, Error::Write(_)), "{err:?}");
    assert_eq!(err.to_string(), "cannot write the output: disk full");
}

/// A reader that fails after its first line.
struct FailingReader {
    first: Option<&'static [u8]>,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.first.take() {
            Some(line) => {
                buf[..line.len()].copy_from_slice(line);
                Ok(line.len())
            }
            None => Err(io::Error::other("device gone")),
        }
    }
}

/// A failing input is reported as a read error, after the output of the lines before it.
#[test]
fn read_errors_are_reported() {
    let mut out = Vec::new();
    let input = io::BufReader::new(FailingReader {
        first: Some(b"L 7\n"),
    });
    let err = run(input, &mut out).unwrap_err();
    assert!(matches!(err, Error::Read(_)), "{err:?}");
    assert_eq!(err.to_string(), "cannot read the script: device gone");
    assert_eq!(out, b"none\n");
}
