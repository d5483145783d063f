//! Pictures of a tree: a [`TreeLayout`] drawn as an SVG document, written by hand (no drawing
//! library).
//!
//! Each node is a box listing its used slots, one row each: the slot number, the range the
//! slot covers (its pivot is the range's end), and what it holds (a value, `empty`, or the child
//! node it points to); allocation-range nodes add the largest gap below each slot, and the slot
//! with the largest is shaded green. Nodes are laid out by depth, root on top, each parent
//! centred over its children; an edge leaves each internal node from a numbered port per slot
//! and enters the child's top. The path a lookup of the chosen index takes is drawn in orange
//! with thicker strokes: its nodes, its slot in each, and the edges between them.
//!
//! ```text
//!             ┌ node 0 · alloc-range ─────────────┐
//!             │ 0  0x0-0x55c3ffff   → node 1  gap │
//!             │ 1  0x55c40000-max   → node 2  gap │
//!             └──────── 0 ──────────── 1 ─────────┘
//!                      /                \
//!   ┌ node 1 · leaf ──────────┐   ┌ node 2 · leaf ──┐
//! ```
//!
//! A tree of more than [`DrawOptions::max_nodes`] nodes is drawn in part: the root, the nodes on
//! the path and every child of a node on the path (the path's siblings); the title says how
//! many nodes were left out. Slots pointing at a node that is not drawn say so.
//!
//! Linux has no picture; its `mt_dump()` text is [`maple_tree::MapleTree::dump`], which
//! `maple dump` prints beside this.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use maple_tree::{LayoutKind, LayoutNode, SlotContent, TreeLayout};

/// The default for [`DrawOptions::max_nodes`].
pub const MAX_DRAWN_NODES: usize = 150;

/// Labels longer than this many characters are cut, with `…`.
const MAX_LABEL: usize = 40;

/// Width of one character of the monospace font (0.6 em, rounded up for wider fonts).
const CHAR_W: f64 = 6.8;
/// Height of one slot row.
const ROW_H: f64 = 15.0;
/// Height of a node's header (two lines).
const HEADER_H: f64 = 34.0;
/// Height of the strip of numbered ports under an internal node.
const PORTS_H: f64 = 14.0;
/// Padding inside a box.
const PAD: f64 = 8.0;
/// Horizontal space between sibling subtrees.
const H_GAP: f64 = 24.0;
/// Vertical space between levels (where the edges run).
const V_GAP: f64 = 70.0;
/// Margin around the picture.
const MARGIN: f64 = 20.0;
/// Height of the title, figures and legend block.
const TOP_H: f64 = 78.0;

/// The style sheet: classes name what a shape is, so tests and readers can find them.
const STYLE: &str = "\
text{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:11px;fill:#212529}
.title{font-size:16px;font-weight:bold}
.figures{font-size:12px}
rect.node{fill:#ffffff;stroke:#495057;stroke-width:1}
rect.node.path{stroke:#e8590c;stroke-width:3}
rect.node.dead{stroke-dasharray:4 3}
rect.header{fill:#f1f3f5;stroke:none}
rect.header.path{fill:#ffe8cc}
rect.row.maxgap{fill:#d3f9d8}
rect.row.path{fill:#ffd8a8}
rect.swatch{stroke:#495057;stroke-width:1}
path.edge{fill:none;stroke:#adb5bd;stroke-width:1.2}
path.edge.path{stroke:#e8590c;stroke-width:3}
.head{font-weight:bold}
.empty{fill:#868e96}
.child{fill:#1c7ed6}
.hidden{fill:#868e96;font-style:italic}
.gap{fill:#2b8a3e}
.port{font-size:9px;fill:#868e96}
.port.path,.path-text{fill:#d9480f;font-weight:bold}
";

/// How to draw a tree.
#[derive(Clone, Debug)]
pub struct DrawOptions {
    /// Print indices, ranges, gaps and numeric values in hexadecimal (`0x7f3a…`), as for
    /// addresses in a VMA tree.
    pub hex: bool,
    /// Highlight the path a lookup of this index takes.
    pub index: Option<u64>,
    /// The first line of the picture (say, the trace and step); `maple tree` when `None`.
    pub title: Option<String>,
    /// Draw every node of a tree of at most this many nodes; a larger tree is drawn in part
    /// (see the [module docs](self)).
    pub max_nodes: usize,
}

impl Default for DrawOptions {
    fn default() -> Self {
        Self {
            hex: false,
            index: None,
            title: None,
            max_nodes: MAX_DRAWN_NODES,
        }
    }
}

/// Formats indices as [`DrawOptions::hex`] asks; `u64::MAX` prints as `max`.
#[derive(Clone, Copy, Debug)]
pub struct Numbers {
    /// Hexadecimal with `0x`, or decimal.
    pub hex: bool,
}

impl Numbers {
    /// One index.
    ///
    /// ```
    /// use maple_cli::draw::Numbers;
    /// assert_eq!(Numbers { hex: true }.index(4096), "0x1000");
    /// assert_eq!(Numbers { hex: false }.index(u64::MAX), "max");
    /// ```
    pub fn index(self, n: u64) -> String {
        match (n, self.hex) {
            (u64::MAX, _) => "max".to_owned(),
            (n, true) => format!("{n:#x}"),
            (n, false) => n.to_string(),
        }
    }

    /// A range `first-last`, or one index when `first == last`.
    ///
    /// ```
    /// use maple_cli::draw::Numbers;
    /// assert_eq!(Numbers { hex: true }.range(0x1000, 0x1fff), "0x1000-0x1fff");
    /// assert_eq!(Numbers { hex: false }.range(7, 7), "7");
    /// ```
    pub fn range(self, first: u64, last: u64) -> String {
        if first == last {
            self.index(first)
        } else {
            format!("{}-{}", self.index(first), self.index(last))
        }
    }

    /// A count of indices (a gap): like [`index`](Self::index), but 2^64-1 is a number.
    fn count(self, n: u64) -> String {
        if self.hex {
            format!("{n:#x}")
        } else {
            n.to_string()
        }
    }
}

/// The ids of the nodes a picture of `layout` shows, in pre-order.
///
/// Every node when there are at most [`DrawOptions::max_nodes`]; otherwise the root, the nodes
/// on the path to [`DrawOptions::index`], and every child of a node on that path (with no
/// index, the root and its children).
///
/// # Examples
///
/// ```
/// use maple_cli::draw::{DrawOptions, drawn_nodes};
///
/// let tree = maple_tree::MapleTree::new();
/// for i in 0..2000u32 {
///     tree.insert_range(u64::from(i) * 10..=u64::from(i) * 10 + 4, i).unwrap();
/// }
/// let layout = tree.layout(|v| v.to_string());
/// assert!(layout.nodes.len() > 150);
/// let options = DrawOptions { index: Some(12_345), ..DrawOptions::default() };
/// let some = drawn_nodes(&layout, &options);
/// assert!(some.len() < 40);
/// for (node, _) in layout.path_to(12_345) {
///     assert!(some.contains(&node));
/// }
/// let all = drawn_nodes(&layout, &DrawOptions { max_nodes: usize::MAX, ..options });
/// assert_eq!(all.len(), layout.nodes.len());
/// ```
pub fn drawn_nodes(layout: &TreeLayout, options: &DrawOptions) -> Vec<usize> {
    if layout.nodes.len() <= options.max_nodes {
        return (0..layout.nodes.len()).collect();
    }
    let path = path_of(layout, options);
    let mut expand: Vec<usize> = path.iter().map(|&(node, _)| node).collect();
    if expand.is_empty() && layout.root().is_some() {
        expand.push(0);
    }
    let mut drawn: BTreeSet<usize> = expand.iter().copied().collect();
    drawn.insert(0);
    for &node in &expand {
        drawn.extend(layout.children(node).map(|c| c.id));
    }
    drawn.into_iter().collect()
}

/// The path to highlight: `(node, slot)` from the root down, empty without an index.
fn path_of(layout: &TreeLayout, options: &DrawOptions) -> Vec<(usize, usize)> {
    options
        .index
        .map(|index| layout.path_to(index))
        .unwrap_or_default()
}

/// Escapes text for SVG content and attribute values.
///
/// ```
/// assert_eq!(maple_cli::draw::escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
/// ```
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0 text.
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Cuts a label to [`MAX_LABEL`] characters.
fn cut(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        label.to_owned()
    } else {
        let mut short: String = label.chars().take(MAX_LABEL - 1).collect();
        short.push('…');
        short
    }
}

/// Width in pixels of `chars` characters of node text.
fn text_w(chars: usize) -> f64 {
    chars as f64 * CHAR_W
}

/// One drawn node's box: its texts and where it sits.
#[derive(Debug)]
struct NodeBox {
    id: usize,
    /// Header lines.
    title: String,
    span: String,
    /// Per slot: number, range, content (with its class), gap.
    rows: Vec<Row>,
    /// Column widths in characters: range, content, gap.
    cols: [usize; 3],
    w: f64,
    h: f64,
    x: f64,
    y: f64,
}

#[derive(Debug)]
struct Row {
    range: String,
    content: String,
    class: &'static str,
    gap: String,
    max_gap: bool,
}

impl NodeBox {
    fn new(layout: &TreeLayout, node: &LayoutNode, drawn: &BTreeSet<usize>, nums: Numbers) -> Self {
        let mut title = format!("node {} · {}", node.id, node.kind.name());
        match node.parent {
            None => title.push_str(" · root"),
            Some((parent, slot)) => {
                let _ = write!(title, " · node {parent} slot {slot}");
            }
        }
        if node.dead {
            title.push_str(" · DEAD");
        }
        let span = format!("covers {}", nums.range(node.min, node.max));
        let rows: Vec<Row> = node
            .slots
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let (content, class) = match &slot.content {
                    SlotContent::Empty => ("empty".to_owned(), "empty"),
                    SlotContent::Value(v) => (cut(v), "value"),
                    SlotContent::Child(c) if drawn.contains(c) => (format!("→ node {c}"), "child"),
                    SlotContent::Child(c) => {
                        let below = layout
                            .nodes
                            .get(*c)
                            .map_or(0, |n| subtree_size(layout, n.id));
                        (format!("→ node {c} (+{below} not drawn)"), "hidden")
                    }
                };
                let max_gap = node.max_gap_slot == Some(i);
                let gap = match slot.gap {
                    Some(g) if max_gap => format!("gap {} (max)", nums.count(g)),
                    Some(g) => format!("gap {}", nums.count(g)),
                    None => String::new(),
                };
                Row {
                    range: nums.range(slot.range.first(), slot.range.last()),
                    content,
                    class,
                    gap,
                    max_gap,
                }
            })
            .collect();
        let mut cols = [0; 3];
        for row in &rows {
            cols[0] = cols[0].max(row.range.chars().count());
            cols[1] = cols[1].max(row.content.chars().count());
            cols[2] = cols[2].max(row.gap.chars().count());
        }
        // "NN  range  content  gap"
        let row_chars = 2 + 2 + cols[0] + 2 + cols[1] + if cols[2] > 0 { 2 + cols[2] } else { 0 };
        let head_chars = title.chars().count().max(span.chars().count());
        let w = 2.0 * PAD + text_w(row_chars.max(head_chars));
        let ports = if node.kind == LayoutKind::Leaf {
            0.0
        } else {
            PORTS_H
        };
        let h = HEADER_H + ROW_H * rows.len() as f64 + PAD / 2.0 + ports;
        Self {
            id: node.id,
            title,
            span,
            rows,
            cols,
            w,
            h,
            x: 0.0,
            y: 0.0,
        }
    }

    /// Where the edge to the child in slot `i` leaves: the bottom of its port.
    fn port(&self, i: usize) -> (f64, f64) {
        let n = self.rows.len().max(1) as f64;
        (self.x + self.w * (i as f64 + 0.5) / n, self.y + self.h)
    }
}

/// Number of nodes in the subtree of `id`, itself included.
fn subtree_size(layout: &TreeLayout, id: usize) -> usize {
    1 + layout
        .children(id)
        .map(|c| subtree_size(layout, c.id))
        .sum::<usize>()
}

/// Places the drawn subtree of `id` with its left edge at `left`; returns its width.
fn place(
    boxes: &mut BTreeMap<usize, NodeBox>,
    children: &BTreeMap<usize, Vec<usize>>,
    level_y: &[f64],
    depths: &BTreeMap<usize, usize>,
    id: usize,
    left: f64,
) -> f64 {
    let kids = children.get(&id).cloned().unwrap_or_default();
    let widths: Vec<f64> = kids
        .iter()
        .map(|&kid| subtree_width(boxes, children, kid))
        .collect();
    let kids_w = widths.iter().sum::<f64>() + H_GAP * kids.len().saturating_sub(1) as f64;
    let own_w = boxes.get(&id).map_or(0.0, |b| b.w);
    let total = own_w.max(kids_w);
    let mut x = left + (total - kids_w) / 2.0;
    for (&kid, &w) in kids.iter().zip(&widths) {
        place(boxes, children, level_y, depths, kid, x);
        x += w + H_GAP;
    }
    if let Some(b) = boxes.get_mut(&id) {
        b.x = left + (total - own_w) / 2.0;
        b.y = depths
            .get(&id)
            .and_then(|&d| level_y.get(d))
            .copied()
            .unwrap_or(0.0);
    }
    total
}

fn subtree_width(
    boxes: &BTreeMap<usize, NodeBox>,
    children: &BTreeMap<usize, Vec<usize>>,
    id: usize,
) -> f64 {
    let kids = children.get(&id).map(Vec::as_slice).unwrap_or_default();
    let kids_w = kids
        .iter()
        .map(|&kid| subtree_width(boxes, children, kid))
        .sum::<f64>()
        + H_GAP * kids.len().saturating_sub(1) as f64;
    boxes.get(&id).map_or(0.0, |b| b.w).max(kids_w)
}

/// Draws `layout` as an SVG document.
///
/// # Examples
///
/// ```
/// use maple_cli::draw::{DrawOptions, svg};
///
/// let tree = maple_tree::MapleTree::new_alloc();
/// tree.insert_range(0x1000..=0x1fff, 1u32).unwrap();
/// let layout = tree.layout(|v| format!("vma {v}"));
/// let picture = svg(&layout, &DrawOptions { hex: true, index: Some(0x1800), ..Default::default() });
/// assert!(picture.starts_with("<svg "));
/// assert!(picture.contains("0x1000-0x1fff"));
/// assert!(picture.contains("vma 1"));
/// assert_eq!(picture.matches("<rect class=\"node path\"").count(), 1);
/// ```
pub fn svg(layout: &TreeLayout, options: &DrawOptions) -> String {
    let nums = Numbers { hex: options.hex };
    let path = path_of(layout, options);
    let on_path: BTreeSet<usize> = path.iter().map(|&(node, _)| node).collect();
    let path_slot: BTreeMap<usize, usize> = path.iter().copied().collect();
    let drawn_ids = drawn_nodes(layout, options);
    let drawn: BTreeSet<usize> = drawn_ids.iter().copied().collect();

    // Boxes and the drawn tree's shape.
    let mut boxes: BTreeMap<usize, NodeBox> = BTreeMap::new();
    let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut depths: BTreeMap<usize, usize> = BTreeMap::new();
    let mut level_h: Vec<f64> = Vec::new();
    for &id in &drawn_ids {
        let Some(node) = layout.nodes.get(id) else {
            continue;
        };
        let b = NodeBox::new(layout, node, &drawn, nums);
        if level_h.len() <= node.depth {
            level_h.resize(node.depth + 1, 0.0);
        }
        level_h[node.depth] = level_h[node.depth].max(b.h);
        depths.insert(id, node.depth);
        if let Some((parent, _)) = node.parent.filter(|(p, _)| drawn.contains(p)) {
            children.entry(parent).or_default().push(id);
        }
        boxes.insert(id, b);
    }
    let mut level_y = Vec::with_capacity(level_h.len());
    let mut y = MARGIN + TOP_H;
    for h in &level_h {
        level_y.push(y);
        y += h + V_GAP;
    }
    let body_w = if boxes.is_empty() {
        0.0
    } else {
        place(&mut boxes, &children, &level_y, &depths, 0, MARGIN)
    };
    let body_h = if level_h.is_empty() {
        ROW_H
    } else {
        y - V_GAP - (MARGIN + TOP_H)
    };

    let heading = heading(layout, options, nums, drawn.len());
    let width = (2.0 * MARGIN + body_w)
        .max(2.0 * MARGIN + heading.chars().count() as f64 * 7.4)
        .max(760.0)
        .ceil();
    let height = (2.0 * MARGIN + TOP_H + body_h).ceil();

    let mut out = String::with_capacity(4096 + boxes.len() * 4096);
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\">"
    );
    let _ = writeln!(out, "<style>\n{STYLE}</style>");
    let _ = writeln!(
        out,
        "<rect class=\"background\" x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );

    // Title, figures, legend.
    let title = options.title.as_deref().unwrap_or("maple tree");
    let _ = writeln!(
        out,
        "<text class=\"title\" x=\"{MARGIN}\" y=\"{:.1}\">{}</text>",
        MARGIN + 14.0,
        escape(title)
    );
    let _ = writeln!(
        out,
        "<text class=\"figures\" x=\"{MARGIN}\" y=\"{:.1}\">{}</text>",
        MARGIN + 34.0,
        escape(&heading)
    );
    legend(&mut out, MARGIN, MARGIN + 48.0, options, nums);

    // Edges first, so that boxes cover where they cross.
    let _ = writeln!(out, "<g class=\"edges\">");
    for (&parent, kids) in &children {
        let Some(p) = boxes.get(&parent) else {
            continue;
        };
        for &kid in kids {
            let (Some(c), Some(node)) = (boxes.get(&kid), layout.nodes.get(kid)) else {
                continue;
            };
            let Some((_, slot)) = node.parent else {
                continue;
            };
            let (x1, y1) = p.port(slot);
            let (x2, y2) = (c.x + c.w / 2.0, c.y);
            let mid = (y1 + y2) / 2.0;
            let class = if path_slot.get(&parent) == Some(&slot) {
                "edge path"
            } else {
                "edge"
            };
            let _ = writeln!(
                out,
                "<path class=\"{class}\" d=\"M{x1:.1},{y1:.1} C{x1:.1},{mid:.1} {x2:.1},{mid:.1} {x2:.1},{y2:.1}\"/>"
            );
        }
    }
    let _ = writeln!(out, "</g>");

    for b in boxes.values() {
        let Some(node) = layout.nodes.get(b.id) else {
            continue;
        };
        draw_box(
            &mut out,
            b,
            node,
            on_path.contains(&b.id),
            path_slot.get(&b.id),
        );
    }
    if boxes.is_empty() {
        let _ = writeln!(
            out,
            "<text class=\"empty\" x=\"{MARGIN}\" y=\"{:.1}\">(empty tree: no nodes)</text>",
            MARGIN + TOP_H + 11.0
        );
    }
    out.push_str("</svg>\n");
    out
}

/// The second line: the tree's figures, the highlighted index and what was left out.
fn heading(layout: &TreeLayout, options: &DrawOptions, nums: Numbers, drawn: usize) -> String {
    let kind = if layout.alloc { "alloc" } else { "range" };
    let mut text = format!(
        "maple tree ({kind}), height {}, {} entries, {} nodes",
        layout.height,
        layout.entries,
        layout.nodes.len()
    );
    if let Some(index) = options.index {
        let _ = write!(text, "; path to {}", nums.index(index));
    }
    let left_out = layout.nodes.len().saturating_sub(drawn);
    if left_out > 0 {
        let shown = if options.index.is_some() {
            "the path and its siblings"
        } else {
            "the root and its children"
        };
        let _ = write!(
            text,
            "; {left_out} of {} nodes left out (drawn: {shown})",
            layout.nodes.len()
        );
    }
    text
}

/// The legend: what the colours mean.
fn legend(out: &mut String, x: f64, y: f64, options: &DrawOptions, nums: Numbers) {
    let _ = writeln!(out, "<g class=\"legend\">");
    let mut x = x;
    let mut item = |out: &mut String, swatch: Option<&str>, label: &str| {
        if let Some(fill) = swatch {
            let _ = write!(
                out,
                "<rect class=\"swatch\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"14\" height=\"11\" fill=\"{fill}\"/>"
            );
            x += 19.0;
        }
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
            y + 9.5,
            escape(label)
        );
        x += label.chars().count() as f64 * CHAR_W + 24.0;
    };
    match options.index {
        Some(index) => item(
            out,
            Some("#ffd8a8"),
            &format!(
                "the slots and nodes a lookup of {} visits",
                nums.index(index)
            ),
        ),
        None => item(out, None, "no index chosen: no path drawn"),
    }
    item(
        out,
        Some("#d3f9d8"),
        "the slot with the largest gap below it",
    );
    item(
        out,
        None,
        "rows: slot, range (ending at the pivot), value or → child, gap",
    );
    let _ = writeln!(out, "</g>");
}

/// One node: the box, the header, a row per slot and, for an internal node, its ports.
fn draw_box(out: &mut String, b: &NodeBox, node: &LayoutNode, on_path: bool, slot: Option<&usize>) {
    let path = if on_path { " path" } else { "" };
    let dead = if node.dead { " dead" } else { "" };
    let _ = writeln!(out, "<g class=\"node-group\" id=\"node-{}\">", b.id);
    let _ = writeln!(
        out,
        "<title>node {} ({}), depth {}, covers {}-{}, {} slots in use of {}</title>",
        b.id,
        node.kind.name(),
        node.depth,
        node.min,
        node.max,
        node.slots.len(),
        node.kind.capacity()
    );
    let _ = writeln!(
        out,
        "<rect class=\"node{path}{dead}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\"/>",
        b.x, b.y, b.w, b.h
    );
    let _ = writeln!(
        out,
        "<rect class=\"header{path}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
        b.x + 1.5,
        b.y + 1.5,
        b.w - 3.0,
        HEADER_H - 4.0
    );
    let tx = b.x + PAD;
    let _ = writeln!(
        out,
        "<text class=\"head\" x=\"{tx:.1}\" y=\"{:.1}\">{}</text>",
        b.y + 14.0,
        escape(&b.title)
    );
    let _ = writeln!(
        out,
        "<text x=\"{tx:.1}\" y=\"{:.1}\">{}</text>",
        b.y + 27.0,
        escape(&b.span)
    );
    // Slot numbers end at the second character, so that 9 and 10 line up.
    let num_x = tx + text_w(2);
    let col_range = tx + text_w(4);
    let col_content = col_range + text_w(b.cols[0] + 2);
    let col_gap = col_content + text_w(b.cols[1] + 2);
    for (i, row) in b.rows.iter().enumerate() {
        let top = b.y + HEADER_H + ROW_H * i as f64;
        let base = top + ROW_H - 4.0;
        let chosen = slot == Some(&i);
        if chosen || row.max_gap {
            let class = if chosen { "row path" } else { "row maxgap" };
            let _ = writeln!(
                out,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{ROW_H}\"/>",
                b.x + 1.5,
                b.w - 3.0
            );
        }
        let strong = if chosen { " class=\"path-text\"" } else { "" };
        let _ = write!(
            out,
            "<text x=\"{num_x:.1}\" y=\"{base:.1}\" text-anchor=\"end\"{strong}>{i}</text>\
             <text x=\"{col_range:.1}\" y=\"{base:.1}\"{strong}>{}</text>\
             <text class=\"{}\" x=\"{col_content:.1}\" y=\"{base:.1}\">{}</text>",
            escape(&row.range),
            row.class,
            escape(&row.content)
        );
        if !row.gap.is_empty() {
            let _ = write!(
                out,
                "<text class=\"gap\" x=\"{col_gap:.1}\" y=\"{base:.1}\">{}</text>",
                escape(&row.gap)
            );
        }
        out.push('\n');
    }
    if !node.is_leaf() {
        for i in 0..b.rows.len() {
            let (px, py) = b.port(i);
            let class = if slot == Some(&i) {
                "port path"
            } else {
                "port"
            };
            let _ = write!(
                out,
                "<text class=\"{class}\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{i}</text>",
                py - 4.0
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "</g>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use maple_tree::MapleTree;

    /// Checks that `svg` is well-formed as far as these pictures go: every tag closes in order,
    /// attribute values are quoted, and text holds no raw `<` or stray `&`.
    fn check_well_formed(svg: &str) {
        let mut stack: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            check_text(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('>').expect("every tag ends");
            let tag = &after[..close];
            assert!(!tag.contains('<'), "a `<` inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop(), Some(name), "closing tag out of order");
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("a tag name");
                stack.push(name);
            }
            // Attribute values are quoted: an even number of quotes.
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
            rest = &after[close + 1..];
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed tags: {stack:?}");
    }

    /// Text content: `&` only starts an entity, and `>` is escaped too.
    fn check_text(text: &str) {
        assert!(!text.contains('>'), "a raw `>` in text: {text}");
        for (at, _) in text.match_indices('&') {
            let entity = &text[at..];
            assert!(
                ["&lt;", "&gt;", "&amp;", "&quot;", "&#39;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "a stray `&` in text: {text}"
            );
        }
    }

    fn tree(n: u32, alloc: bool) -> MapleTree<u32> {
        let tree = if alloc {
            MapleTree::new_alloc()
        } else {
            MapleTree::new()
        };
        for i in 0..n {
            let first = u64::from(i) * 0x3000;
            tree.insert_range(first..=first + 0x1fff, i + 1).unwrap();
        }
        tree
    }

    /// Every drawn node is one `rect.node`; the picture is well-formed for every shape.
    #[test]
    fn one_node_rect_per_drawn_node() {
        for alloc in [false, true] {
            for n in [0, 1, 8, 60, 600] {
                let layout = tree(n, alloc).layout(|v| format!("#{v}"));
                for index in [None, Some(0x4000), Some(u64::MAX)] {
                    let options = DrawOptions {
                        index,
                        hex: n % 2 == 0,
                        ..DrawOptions::default()
                    };
                    let picture = svg(&layout, &options);
                    check_well_formed(&picture);
                    let drawn = drawn_nodes(&layout, &options).len();
                    assert_eq!(picture.matches("<rect class=\"node").count(), drawn);
                    assert_eq!(picture.matches("class=\"node-group\"").count(), drawn);
                    assert!(picture.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
                    assert!(picture.ends_with("</svg>\n"));
                }
            }
        }
    }

    /// The path's nodes, slots and edges are highlighted, and only they are.
    #[test]
    fn the_path_is_highlighted() {
        let layout = tree(200, true).layout(|v| format!("#{v}"));
        assert_eq!(layout.height, 3);
        let index = 0x3000 * 150 + 5;
        let options = DrawOptions {
            index: Some(index),
            hex: true,
            ..DrawOptions::default()
        };
        let picture = svg(&layout, &options);
        let path = layout.path_to(index);
        assert_eq!(path.len(), 3);
        assert_eq!(picture.matches("<rect class=\"node path\"").count(), 3);
        assert_eq!(picture.matches("<rect class=\"row path\"").count(), 3);
        assert_eq!(picture.matches("<path class=\"edge path\"").count(), 2);
        for (node, _) in &path {
            let group = format!("<g class=\"node-group\" id=\"node-{node}\">\n<title>");
            let start = picture.find(&group).expect("the path node is drawn");
            let body = &picture[start..];
            let body = &body[..body.find("</g>").unwrap()];
            assert!(body.contains("<rect class=\"node path\""), "{body}");
        }
        // The leaf's chosen row shows the value and the range of the entry.
        assert!(picture.contains("0x1c2000-0x1c3fff"));
        assert!(picture.contains(">#151<"));
        assert!(picture.contains("path to 0x1c2005"));
        // Without an index nothing is on a path.
        let plain = svg(&layout, &DrawOptions::default());
        assert!(!plain.contains("class=\"node path\""));
        assert!(!plain.contains("edge path"));
        assert!(plain.contains("no index chosen"));
    }

    /// The slot with the largest gap is shaded in allocation-range nodes only.
    #[test]
    fn the_max_gap_slot_is_marked() {
        let layout = tree(60, true).layout(|v| v.to_string());
        let internal = layout
            .nodes
            .iter()
            .filter(|n| n.kind == LayoutKind::AllocRange)
            .count();
        assert!(internal > 0);
        let picture = svg(&layout, &DrawOptions::default());
        assert_eq!(
            picture.matches("<rect class=\"row maxgap\"").count(),
            internal
        );
        assert_eq!(picture.matches("(max)</text>").count(), internal);
        let range = svg(
            &tree(60, false).layout(|v| v.to_string()),
            &DrawOptions::default(),
        );
        assert!(!range.contains("row maxgap"));
        assert!(!range.contains("class=\"gap\""));
    }

    /// Values, titles and indices with `<`, `&` and quotes are escaped.
    #[test]
    fn text_is_escaped() {
        let tree: MapleTree<String> = MapleTree::new();
        tree.insert_range(1..=2, "<script>&\"x\"'".into()).unwrap();
        let layout = tree.layout(|s: &String| s.clone());
        let options = DrawOptions {
            title: Some("a < b & c".into()),
            index: Some(1),
            ..DrawOptions::default()
        };
        let picture = svg(&layout, &options);
        check_well_formed(&picture);
        assert!(picture.contains("&lt;script&gt;&amp;&quot;x&quot;&#39;"));
        assert!(picture.contains("a &lt; b &amp; c"));
        assert!(!picture.contains("<script"));
    }

    /// Long labels are cut so that boxes keep a sane width.
    #[test]
    fn long_labels_are_cut() {
        let tree: MapleTree<String> = MapleTree::new();
        tree.insert_range(1..=2, "x".repeat(500)).unwrap();
        let picture = svg(
            &tree.layout(|s: &String| s.clone()),
            &DrawOptions::default(),
        );
        assert!(picture.contains(&format!("{}…", "x".repeat(MAX_LABEL - 1))));
        assert!(!picture.contains(&"x".repeat(MAX_LABEL)));
    }

    /// A large tree is drawn in part: the path, its siblings and a title saying how many
    /// nodes were left out; slots of hidden children say so.
    #[test]
    fn large_trees_draw_the_path_and_its_siblings() {
        let layout = tree(3000, false).layout(|v| v.to_string());
        assert!(layout.nodes.len() > MAX_DRAWN_NODES);
        let index = 0x3000 * 1234;
        let options = DrawOptions {
            index: Some(index),
            ..DrawOptions::default()
        };
        let drawn = drawn_nodes(&layout, &options);
        let path = layout.path_to(index);
        let mut expected: BTreeSet<usize> = BTreeSet::from([0]);
        for &(node, _) in &path {
            expected.insert(node);
            expected.extend(layout.children(node).map(|c| c.id));
        }
        assert_eq!(drawn, expected.into_iter().collect::<Vec<_>>());
        let picture = svg(&layout, &options);
        check_well_formed(&picture);
        assert_eq!(picture.matches("<rect class=\"node").count(), drawn.len());
        let left_out = layout.nodes.len() - drawn.len();
        assert!(picture.contains(&format!(
            "{left_out} of {} nodes left out (drawn: the path and its siblings)",
            layout.nodes.len()
        )));
        assert!(picture.contains("not drawn)"));

        // Without an index: the root and its children.
        let top = drawn_nodes(&layout, &DrawOptions::default());
        assert_eq!(top.len(), 1 + layout.children(0).count());
    }

    /// An empty tree draws a title and a note, no node.
    #[test]
    fn empty_tree_draws_a_note() {
        let layout = MapleTree::<u32>::new().layout(|v| v.to_string());
        let picture = svg(&layout, &DrawOptions::default());
        check_well_formed(&picture);
        assert!(picture.contains("(empty tree: no nodes)"));
        assert_eq!(picture.matches("<rect class=\"node").count(), 0);
    }
}
