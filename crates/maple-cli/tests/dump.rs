//! End-to-end tests of `maple dump`: the final tree of the example scripts and the VMA tree of
//! a real trace step (gcc's strace capture, imported), as text and as SVG, and one error line
//! with exit status 1 for every kind of bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{success, text};

/// The `maple` binary built for these tests.
fn maple(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maple"))
        .args(args)
        .output()
        .expect("maple runs")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script(name: &str) -> String {
    workspace()
        .join("examples/scripts")
        .join(name)
        .to_str()
        .expect("a UTF-8 path")
        .to_owned()
}

/// A scratch file path for this test binary.
fn scratch(name: &str) -> String {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dump-tests");
    std::fs::create_dir_all(&dir).expect("the scratch folder");
    dir.join(name).to_str().expect("a UTF-8 path").to_owned()
}

/// gcc's strace capture converted to a trace, written once per run.
fn gcc_trace() -> &'static str {
    static TRACE: OnceLock<String> = OnceLock::new();
    TRACE.get_or_init(|| {
        let log = workspace().join("testdata/strace/gcc-cc1-O2.strace.xz");
        let bytes = maple_trace::io::read_bytes(&log).expect("the shipped strace log");
        let trace = maple_trace::strace::import(&bytes).expect("the log imports");
        let path = scratch("gcc-cc1-O2.mtrace.zst");
        maple_trace::io::write_file(Path::new(&path), &trace).expect("the trace is written");
        path
    })
}

/// Asserts exit status 1, nothing on stdout and one `maple: ` line on stderr; returns it.
fn failure(output: &Output) -> &str {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout: {}",
        text(&output.stdout)
    );
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("maple: "), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr.trim_end()
}

/// Tags open and close in order, and `<rect class="node` appears once per drawn node.
fn check_svg(svg: &str, nodes: usize) {
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.ends_with("</svg>\n"));
    let mut stack = Vec::new();
    for tag in svg.split('<').skip(1) {
        let tag = &tag[..tag.find('>').expect("every tag ends")];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name));
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().expect("a tag name"));
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    assert_eq!(svg.matches("<rect class=\"node").count(), nodes);
}

/// The figures line of a text dump: `maple tree (alloc), height H, E entries, N nodes`.
fn figures(out: &str) -> (usize, usize, usize) {
    let line = out
        .lines()
        .find(|l| l.starts_with("maple tree ("))
        .expect("the dump's first line");
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1], numbers[2])
}

/// A script's final tree prints as the text dump, with the path to `--index`.
#[test]
fn script_final_tree_prints_as_text() {
    let out = maple(&["dump", "--script", &script("gcc-cc1-O2.script")]);
    let out = success(&out);
    assert!(out.starts_with("script gcc-cc1-O2.script\n\nmaple tree (alloc), height 2, "));
    let (height, entries, nodes) = figures(out);
    assert_eq!(height, 2);
    assert!(entries > 30, "{out}");
    assert_eq!(out.matches(": node 0x").count(), nodes);
    assert!(!out.contains("path to"));

    let out = maple(&[
        "dump",
        "--script",
        &script("gcc-cc1-O2.script"),
        "--index",
        "0x7f0000000000",
        "--hex",
    ]);
    let out = success(&out);
    let path = out.lines().last().expect("a path line");
    assert!(
        path.starts_with("path to 0x7f0000000000: node 0 slot "),
        "{path}"
    );
    assert_eq!(path.matches(" -> node ").count(), 1, "{path}");
}

/// `--svg` writes the picture (and prints only where); `--text` adds the text dump.
#[test]
fn script_final_tree_draws_as_svg() {
    let svg = scratch("tour.svg");
    let out = maple(&[
        "dump",
        "--script",
        &script("tour.script"),
        "--svg",
        &svg,
        "--index",
        "1",
    ]);
    assert_eq!(success(&out), format!("wrote {svg} (1 nodes)\n"));
    let picture = std::fs::read_to_string(&svg).expect("the picture");
    check_svg(&picture, 1);
    assert!(picture.contains("script tour.script"));
    assert_eq!(picture.matches("<rect class=\"node path\"").count(), 1);
    assert_eq!(picture.matches("<rect class=\"row path\"").count(), 1);

    let svg = scratch("gcc-script.svg");
    let out = maple(&[
        "dump",
        "--script",
        &script("gcc-cc1-O2.script"),
        "--svg",
        &svg,
        "--text",
        "--hex",
        "--index",
        "0x400000",
    ]);
    let out = success(&out);
    let (height, _, nodes) = figures(out);
    assert!(
        out.ends_with(&format!("wrote {svg} ({nodes} nodes)\n")),
        "{out}"
    );
    let picture = std::fs::read_to_string(&svg).expect("the picture");
    check_svg(&picture, nodes);
    assert_eq!(picture.matches("<rect class=\"node path\"").count(), height);
    assert_eq!(
        picture.matches("<path class=\"edge path\"").count(),
        height - 1
    );
    assert!(picture.contains("path to 0x400000"));
}

/// A trace step prints its maps listing, then the VMA tree with one entry per VMA and the
/// path to an address inside a VMA, which the picture highlights.
#[test]
fn trace_step_prints_maps_and_tree() {
    let trace = gcc_trace();
    let out = maple(&["dump", trace, "--step", "300"]);
    let out = success(&out);
    let mut lines = out.lines();
    let title = lines.next().expect("a title");
    // The trace has no name header, so the title names the file.
    assert!(
        title.starts_with("gcc-cc1-O2.mtrace.zst: step 300, address space "),
        "{title}"
    );
    let vmas: usize = title
        .rsplit_once(", ")
        .and_then(|(_, v)| v.strip_suffix(" VMAs"))
        .and_then(|v| v.parse().ok())
        .expect("the VMA count");
    assert!(vmas >= 24, "a few dozen VMAs: {title}");
    assert_eq!(lines.next(), Some(""));
    let maps: Vec<&str> = lines.by_ref().take_while(|l| !l.is_empty()).collect();
    assert_eq!(maps.len(), vmas);
    let (height, entries, nodes) = figures(out);
    assert_eq!(entries, vmas);
    assert!(height >= 2, "{out}");
    assert_eq!(out.matches(" vma ").count(), vmas);

    // An address in the middle of the tenth VMA.
    let (start, end) = maps[9]
        .split_whitespace()
        .next()
        .and_then(|r| r.split_once('-'))
        .expect("a maps range");
    let start = u64::from_str_radix(start, 16).expect("hex");
    let end = u64::from_str_radix(end, 16).expect("hex");
    let index = format!("{:#x}", start + (end - start) / 2);

    let svg = scratch("gcc-step-300.svg");
    let out = maple(&[
        "dump", trace, "--step", "300", "--index", &index, "--svg", &svg, "--text",
    ]);
    let out = success(&out);
    let path = out
        .lines()
        .find(|l| l.starts_with("path to "))
        .expect("a path line");
    assert!(
        path.starts_with(&format!("path to {index}: node 0 slot ")),
        "{path}"
    );
    // The leaf slot is the VMA's, labelled with its id and permissions.
    assert!(
        path.contains(&format!("({start:#x}-{:#x}: vma ", end - 1)),
        "{path}"
    );
    assert!(path.ends_with(')'), "{path}");
    let picture = std::fs::read_to_string(&svg).expect("the picture");
    check_svg(&picture, nodes);
    assert_eq!(picture.matches("<rect class=\"node path\"").count(), height);
    assert!(picture.contains(&format!("path to {index}")));
    assert!(picture.contains(&format!("{start:#x}-{:#x}", end - 1)));
    assert!(picture.contains("gcc-cc1-O2.mtrace.zst: step 300, address space "));
    assert!(picture.contains(" r-xp "), "labels carry permissions");
    assert!(
        picture.contains("(max)</text>"),
        "the max-gap slot is marked"
    );
}

/// `--space` picks another address space; one that does not exist at that step is an error.
#[test]
fn trace_space_is_chosen_or_refused() {
    let trace = gcc_trace();
    let default = maple(&["dump", trace, "--step", "300"]);
    let title = success(&default)
        .lines()
        .next()
        .expect("a title")
        .to_owned();
    let space = title
        .split("address space ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("a space id")
        .to_owned();
    let same = maple(&["dump", trace, "--step", "300", "--space", &space]);
    assert_eq!(success(&same).lines().next(), Some(title.as_str()));

    let err = maple(&["dump", trace, "--step", "300", "--space", "99"]);
    assert!(
        failure(&err).ends_with("step 300: address space 99 does not exist after this step"),
        "{}",
        failure(&err)
    );
}

/// Bad files, steps, spaces, indices and argument mixes: one line, exit status 1.
#[test]
fn bad_input_is_one_line_and_exit_1() {
    let trace = gcc_trace();
    let missing = scratch("no-such.mtrace.zst");
    let line = failure(&maple(&["dump", &missing, "--step", "1"])).to_owned();
    assert!(line.contains("no-such.mtrace.zst"), "{line}");

    let line = failure(&maple(&["dump", trace, "--step", "100000"])).to_owned();
    assert!(
        line.ends_with("step 100000: the trace has only 576 steps"),
        "{line}"
    );

    let line = failure(&maple(&["dump", trace])).to_owned();
    assert_eq!(
        line,
        "maple: a trace needs --step N: the step after which to show the tree"
    );

    for args in [
        &["dump"][..],
        &["dump", trace, "--step", "0"],
        &["dump", trace, "--step", "x"],
        &["dump", trace, "--step", "1", "--space", "-1"],
        &["dump", trace, "--step", "1", "--index", "0xzz"],
        &[
            "dump",
            trace,
            "--step",
            "1",
            "--index",
            "18446744073709551616",
        ],
        &["dump", trace, "--step", "1", "--script", "x.script"],
        &["dump", "--script", "x.script", "--step", "1"],
    ] {
        failure(&maple(args));
    }
    let line = failure(&maple(&["dump", trace, "--step", "1", "--index", "0xzz"])).to_owned();
    assert!(
        line.contains("expected a decimal or 0x hex number"),
        "{line}"
    );

    let line = failure(&maple(&["dump", "--script", &missing])).to_owned();
    assert!(line.ends_with("No such file or directory"), "{line}");

    let bad = scratch("bad.script");
    std::fs::write(&bad, "S 1 2\nQ 7\n").expect("a scratch script");
    let line = failure(&maple(&["dump", "--script", &bad])).to_owned();
    assert_eq!(line, format!("maple: {bad}: line 2: unknown op `Q`"));

    let unwritable = "/nonexistent-folder/out.svg";
    let out = maple(&[
        "dump",
        "--script",
        &script("tour.script"),
        "--svg",
        unwritable,
    ]);
    assert_eq!(
        failure(&out),
        format!("maple: cannot write {unwritable}: No such file or directory")
    );
}

/// `maple dump --help` names both sources and the picture option.
#[test]
fn dump_help_names_the_options() {
    let out = maple(&["dump", "--help"]);
    let help = success(&out);
    for needle in [
        "--step <N>",
        "--script <FILE>",
        "--index <INDEX>",
        "--svg <OUT.svg>",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
}
