//! `maple dump`: the tree of a trace step or of a script's final state, as text and as an SVG
//! picture.
//!
//! - `maple dump TRACE --step N [--space S]` replays the trace through maple-mm up to step `N`
//!   (counting from 1, as `maple replay` does) and shows the VMA tree of address space `S`
//!   (by default the one step `N` worked on): the `/proc/PID/maps` listing, then the tree's
//!   nodes ([`maple_tree::MapleTree::dump`], the kernel's `mt_dump()`), indices in hex.
//! - `maple dump --script FILE` runs a tree script ([`script::final_tree`]) and shows the tree
//!   it leaves.
//!
//! `--hex` prints a script's indices in hex (a trace's always are); values stay decimal.
//! `--index I` (decimal or `0x` hex) names an index: the text ends with the path a lookup of it
//! takes, and the picture highlights that path. `--svg OUT.svg` writes the picture
//! ([`draw::svg`]); the text is then printed only with `--text`.
//!
//! Every error is one line on stderr and exit status 1.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use maple_trace::format::SpaceId;
use maple_tree::{DumpFormat, SlotContent, TreeLayout};

use crate::draw::{self, DrawOptions, Numbers};
use crate::script;

/// Arguments of `maple dump`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["trace", "script"])))]
pub struct DumpArgs {
    /// The trace (`.mtrace.zst`, xz or plain text); needs --step.
    #[arg(value_name = "TRACE")]
    pub trace: Option<PathBuf>,
    /// Show the tree after this step of the trace (counting from 1, as `maple replay` does).
    #[arg(long, value_name = "N", requires = "trace", value_parser = clap::value_parser!(u64).range(1..))]
    pub step: Option<u64>,
    /// The address space to show (default: the one step N worked on).
    #[arg(long, value_name = "S", requires = "trace")]
    pub space: Option<u32>,
    /// Run this tree script and show the tree it leaves.
    #[arg(long, value_name = "FILE", conflicts_with = "trace")]
    pub script: Option<PathBuf>,
    /// Show the path a lookup of this index takes (decimal or 0x hex).
    #[arg(long, value_name = "INDEX", value_parser = parse_index)]
    pub index: Option<u64>,
    /// Write an SVG picture of the tree to this file.
    #[arg(long, value_name = "OUT.svg")]
    pub svg: Option<PathBuf>,
    /// Print the text dump even when writing a picture.
    #[arg(long)]
    pub text: bool,
    /// Print indices in hex (always so for a trace, whose indices are addresses).
    #[arg(long)]
    pub hex: bool,
}

/// Parses an index: decimal, or hex after `0x`.
///
/// # Errors
///
/// A message saying what is wrong, for clap to print after the argument's name.
///
/// # Examples
///
/// ```
/// use maple_cli::dump_cmd::parse_index;
/// assert_eq!(parse_index("0x7f00"), Ok(0x7f00));
/// assert_eq!(parse_index("4096"), Ok(4096));
/// assert!(parse_index("0x").is_err());
/// assert!(parse_index("-1").is_err());
/// assert!(parse_index("18446744073709551616").is_err());
/// ```
pub fn parse_index(text: &str) -> Result<u64, String> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err("expected a decimal or 0x hex number".to_owned());
    }
    u64::from_str_radix(digits, radix).map_err(|_| "larger than 2^64-1".to_owned())
}

/// What to show: the text and the layout to draw.
struct Shown {
    /// The listing and the dump.
    text: String,
    /// The tree's nodes, values already labelled.
    layout: TreeLayout,
    /// The picture's first line.
    title: String,
    /// Indices in hex.
    hex: bool,
}

/// `maple dump`.
pub fn run(args: &DumpArgs) -> ExitCode {
    match dump(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("maple: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Everything but the exit status; an error is the line to print.
fn dump(args: &DumpArgs) -> Result<(), String> {
    let shown = match (&args.trace, &args.script) {
        (Some(trace), None) => {
            let step = args
                .step
                .ok_or("a trace needs --step N: the step after which to show the tree")?;
            from_trace(trace, step, args.space.map(SpaceId), args.index)?
        }
        (None, Some(file)) => from_script(file, args.hex, args.index)?,
        // clap's group makes exactly one of them present.
        _ => return Err("give a TRACE with --step N, or --script FILE".to_owned()),
    };
    let mut stdout = io::stdout().lock();
    let mut print = |text: &str| match stdout.write_all(text.as_bytes()) {
        // A reader that stopped early (`maple dump ... | head`) is not an error.
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the output: {e}"))
        }
        _ => Ok(()),
    };
    if args.svg.is_none() || args.text {
        print(&shown.text)?;
    }
    if let Some(out) = &args.svg {
        let options = DrawOptions {
            hex: shown.hex,
            index: args.index,
            title: Some(shown.title.clone()),
            ..DrawOptions::default()
        };
        let picture = draw::svg(&shown.layout, &options);
        std::fs::write(out, picture)
            .map_err(|e| format!("cannot write {}: {}", out.display(), describe(&e)))?;
        let drawn = draw::drawn_nodes(&shown.layout, &options).len();
        let total = shown.layout.nodes.len();
        let note = if drawn < total {
            format!(" ({drawn} of {total} nodes drawn)")
        } else {
            format!(" ({total} nodes)")
        };
        print(&format!("wrote {}{note}\n", out.display()))?;
    }
    Ok(())
}

/// The VMA tree of a trace after `step`.
fn from_trace(
    path: &Path,
    step: u64,
    space: Option<SpaceId>,
    index: Option<u64>,
) -> Result<Shown, String> {
    let reader = maple_trace::io::open(path).map_err(|e| e.to_string())?;
    let trace_name = reader.header().name.clone();
    let bar = crate::trace_cmd::records_spinner("replaying");
    let result = maple_trace::replay::space_at_step_reader(reader, step, space, &mut |done| {
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let (space, mm) = result.map_err(|e| format!("{}: {e}", path.display()))?;
    let tree = mm.index().tree();
    let mut layout = tree.layout(|id| format!("vma {id}"));
    // The tree's values are VMA ids; say what each VMA is: `vma 7 r-xp libc.so.6`.
    for node in &mut layout.nodes {
        for slot in &mut node.slots {
            let SlotContent::Value(label) = &mut slot.content else {
                continue;
            };
            let Some(vma) = mm.vma_lookup(slot.range.first()) else {
                continue;
            };
            let name = match vma.file() {
                Some(file) => match file.name() {
                    Some(name) => name.to_owned(),
                    None => format!("f{}", file.id().0),
                },
                None if mm.start_brk() != 0
                    && vma.start() <= mm.current_brk()
                    && vma.end() >= mm.start_brk() =>
                {
                    "[heap]".to_owned()
                }
                None => "anon".to_owned(),
            };
            let _ = write!(label, " {} {name}", vma.perms());
        }
    }
    let name = trace_name.unwrap_or_else(|| file_name(path));
    let vmas = mm.map_count();
    let title = format!("{name}: step {step}, address space {space}, {vmas} VMAs");
    let mut text = format!("{title}\n\n{}\n", mm.maps());
    let _ = write!(
        text,
        "{}",
        tree.dump(DumpFormat::Hex)
            .values(|id, f| write!(f, "vma {id}"))
    );
    path_line(&mut text, &layout, index, Numbers { hex: true });
    Ok(Shown {
        text,
        layout,
        title,
        hex: true,
    })
}

/// The final tree of a script.
fn from_script(path: &Path, hex: bool, index: Option<u64>) -> Result<Shown, String> {
    let file = File::open(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), describe(&e)))?;
    let tree =
        script::final_tree(BufReader::with_capacity(1 << 16, file)).map_err(|e| match e {
            script::Error::Read(e) => format!("cannot read {}: {}", path.display(), describe(&e)),
            e => format!("{}: {e}", path.display()),
        })?;
    let nums = Numbers { hex };
    // Values print in decimal, as the script's `L` and `D` answers do; --hex is for indices.
    let layout = tree.layout(|v| v.to_string());
    let title = format!("script {}", file_name(path));
    let mut text = format!("{title}\n\n");
    let format = if hex {
        DumpFormat::Hex
    } else {
        DumpFormat::Dec
    };
    let _ = write!(
        text,
        "{}",
        tree.dump(format).values(|v, f| write!(f, "{v}"))
    );
    path_line(&mut text, &layout, index, nums);
    Ok(Shown {
        text,
        layout,
        title,
        hex,
    })
}

/// Appends `path to I: node 0 slot 3 -> node 4 slot 7 (range: content)`.
fn path_line(text: &mut String, layout: &TreeLayout, index: Option<u64>, nums: Numbers) {
    let Some(index) = index else {
        return;
    };
    let _ = write!(text, "path to {}:", nums.index(index));
    let path = layout.path_to(index);
    if path.is_empty() {
        text.push_str(" (empty tree)\n");
        return;
    }
    for (i, &(node, slot)) in path.iter().enumerate() {
        let arrow = if i == 0 { "" } else { " ->" };
        let _ = write!(text, "{arrow} node {node} slot {slot}");
    }
    if let Some(slot) = path
        .last()
        .and_then(|&(node, slot)| layout.nodes.get(node)?.slots.get(slot))
    {
        let content = match &slot.content {
            SlotContent::Value(label) => label.as_str(),
            SlotContent::Empty | SlotContent::Child(_) => "empty",
        };
        let _ = write!(
            text,
            " ({}: {content})",
            nums.range(slot.range.first(), slot.range.last())
        );
    }
    text.push('\n');
}

/// The last part of a path, for titles.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// An I/O error as a person reads it: `No such file or directory`, without `(os error 2)`.
fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path line names every level and the leaf slot's range and content.
    #[test]
    fn path_line_names_each_level() {
        let tree = maple_tree::MapleTree::new_alloc();
        for i in 0..30u32 {
            tree.insert_range(u64::from(i) * 0x100..=u64::from(i) * 0x100 + 0x7f, i)
                .unwrap();
        }
        let layout = tree.layout(|v| format!("v{v}"));
        let mut text = String::new();
        path_line(&mut text, &layout, Some(0x1234), Numbers { hex: true });
        let path = layout.path_to(0x1234);
        assert_eq!(path.len(), 2);
        let (root_slot, (leaf, leaf_slot)) = (path[0].1, path[1]);
        assert_eq!(
            text,
            format!(
                "path to 0x1234: node 0 slot {root_slot} -> node {leaf} slot {leaf_slot} \
                 (0x1200-0x127f: v18)\n"
            )
        );
        let mut none = String::new();
        path_line(&mut none, &layout, None, Numbers { hex: true });
        assert_eq!(none, "");
        let empty = maple_tree::MapleTree::<u32>::new().layout(|v| v.to_string());
        path_line(&mut none, &empty, Some(5), Numbers { hex: false });
        assert_eq!(none, "path to 5: (empty tree)\n");
    }
}
