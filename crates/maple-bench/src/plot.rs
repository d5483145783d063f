//! SVG plots of a run (plotters, SVG backend only):
//!
//! - `time_<workload>.svg`: time per operation against N for every peer, both axes logarithmic,
//!   for every workload measured at more than one N (and `time_concurrent_reads.svg`, the time
//!   per read beside the writer);
//! - `ratios.svg`: the maple tree's time over every peer's at the largest N of each workload
//!   (the tables' ratios), as horizontal bars from 1 on a logarithmic axis, each with its value
//!   (left of 1: the maple tree is faster);
//! - `memory.svg`: bytes per entry of every structure at the largest N, in ascending order, on
//!   adjacent and on gapped entries.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::memory::MAPLE_NODES;
use crate::report::{Report, ratio, size_label};

/// The colour of a peer in every plot.
fn colour(peer: &str) -> RGBColor {
    match peer {
        "maple" | MAPLE_NODES => RGBColor(214, 39, 40),
        "btreemap" => RGBColor(31, 119, 180),
        "RwLock<BTreeMap>" => RGBColor(23, 190, 207),
        "maple (heap)" => RGBColor(247, 129, 191),
        "rangemap" => RGBColor(44, 160, 44),
        "nodit" => RGBColor(255, 127, 14),
        "vm-allocator" => RGBColor(148, 103, 189),
        "scc TreeIndex" => RGBColor(140, 86, 75),
        _ => RGBColor(127, 127, 127),
    }
}

/// A plotting error as text.
fn err(e: impl std::fmt::Display) -> String {
    format!("plot: {e}")
}

/// Writes every plot of `report` into `dir`; returns the files written.
///
/// # Errors
///
/// The folder cannot be created or a file cannot be written.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    let mut workloads: Vec<(&str, &str)> = Vec::new();
    for c in &report.cells {
        if !workloads.iter().any(|(w, _)| *w == c.workload) {
            workloads.push((&c.workload, c.group));
        }
    }
    for (workload, group) in workloads {
        let cells: Vec<_> = report
            .cells
            .iter()
            .filter(|c| c.workload == workload)
            .collect();
        if cells.len() < 2 {
            continue;
        }
        let mut series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
        for c in &cells {
            for p in &c.peers {
                let point = (c.n as f64, p.ns_per_op);
                match series.iter_mut().find(|(name, _)| *name == p.peer) {
                    Some((_, points)) => points.push(point),
                    None => series.push((p.peer, vec![point])),
                }
            }
        }
        let x_desc = if group == "churn" {
            "live entries"
        } else {
            "N (entries)"
        };
        let path = dir.join(format!("time_{workload}.svg"));
        line_chart(
            &path,
            &format!("{workload}: time per operation"),
            x_desc,
            "ns per operation",
            &series,
        )?;
        written.push(path);
    }
    if report
        .concurrent
        .iter()
        .map(|r| r.n)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1
    {
        let mut series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
        for r in &report.concurrent {
            let point = (r.n as f64, 1e9 * r.readers as f64 / r.reads_busy);
            match series.iter_mut().find(|(name, _)| *name == r.peer) {
                Some((_, points)) => points.push(point),
                None => series.push((r.peer, vec![point])),
            }
        }
        let path = dir.join("time_concurrent_reads.svg");
        line_chart(
            &path,
            "reads beside a writer: time per read per reader thread",
            "N (entries)",
            "ns per read",
            &series,
        )?;
        written.push(path);
    }
    let path = dir.join("ratios.svg");
    ratio_chart(report, &path)?;
    written.push(path);
    if !report.memory.is_empty() {
        let path = dir.join("memory.svg");
        memory_chart(report, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Width of a line chart: the plot, then its legend on the right.
const LINE_WIDTH: u32 = 980;
/// Width of the legend column of a line chart.
const LEGEND_WIDTH: u32 = 200;

/// Tick marks of a logarithmic axis over `[lo, hi]`: labelled ones (`1, 2, 5 x 10^k` on a
/// short axis, `10^k` on one spanning more than three decades) and light grid lines at the
/// other `1..9 x 10^k`.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let mut all = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in 1..10 {
            let v = decade * f64::from(m);
            if v >= lo && v <= hi {
                all.push((m, v));
            }
        }
        decade *= 10.0;
    }
    let labelled: &[i32] = if hi / lo > 1e3 { &[1] } else { &[1, 2, 5] };
    let (bold, light): (Vec<_>, Vec<_>) = all.into_iter().partition(|(m, _)| labelled.contains(m));
    let mut bold: Vec<f64> = bold.into_iter().map(|(_, v)| v).collect();
    let mut light: Vec<f64> = light.into_iter().map(|(_, v)| v).collect();
    if bold.len() < 3 {
        // A very short axis: label every tick.
        bold.append(&mut light);
        bold.sort_by(f64::total_cmp);
    }
    (bold, light)
}

/// A log-log line chart of `series` (name, points), ticks on the x axis at the measured
/// sizes, the legend beside the plot.
fn line_chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    let mut xs: Vec<f64> = Vec::new();
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
        if !xs.contains(&x) {
            xs.push(x);
        }
    }
    xs.sort_by(f64::total_cmp);
    let (x_lo, x_hi) = (x0 / 1.6, x1 * 1.6);
    let (y_lo, y_hi) = (y0 / 1.6, y1 * 1.6);
    let (y_bold, y_light) = log_ticks(y_lo, y_hi);
    let (_, mut x_light) = log_ticks(x_lo, x_hi);
    x_light.retain(|x| !xs.contains(x));
    let root = SVGBackend::new(path, (LINE_WIDTH, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (plot_area, legend_area) = root.split_horizontally(LINE_WIDTH - LEGEND_WIDTH);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x_lo..x_hi)
                .log_scale()
                .with_key_points(xs)
                .with_light_points(x_light),
            (y_lo..y_hi)
                .log_scale()
                .with_key_points(y_bold)
                .with_light_points(y_light),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .bold_line_style(RGBColor(200, 200, 200))
        .light_line_style(RGBColor(238, 238, 238))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|x| size_label(x.round() as u64))
        .y_label_formatter(&|y| format_number(*y))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    for (name, pts) in series {
        let c = colour(name);
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(err)?;
    }
    let font =
        TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, _)) in series.iter().enumerate() {
        let c = colour(name);
        let y = 70 + 26 * i as i32;
        legend_area
            .draw(&PathElement::new(vec![(4, y), (32, y)], c.stroke_width(3)))
            .map_err(err)?;
        legend_area
            .draw(&Circle::new((18, y), 4, c.filled()))
            .map_err(err)?;
        legend_area
            .draw(&Text::new((*name).to_owned(), (40, y), font.clone()))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// A number for an axis label: `1.5`, `20`, `3k`, `2M`.
fn format_number(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// `v` with at most two significant decimals and no trailing zeros.
fn trim(v: f64) -> String {
    let s = if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// One bar of a horizontal bar chart.
struct Bar {
    label: String,
    peer: String,
    value: f64,
}

/// The ratios of every peer at the largest N of every workload.
fn ratio_bars(report: &Report) -> Vec<Bar> {
    let mut bars = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for c in &report.cells {
        if seen.contains(&c.workload.as_str()) {
            continue;
        }
        seen.push(&c.workload);
        let Some(largest) = report
            .cells
            .iter()
            .filter(|d| d.workload == c.workload)
            .max_by_key(|d| d.n)
        else {
            continue;
        };
        for p in largest.peers.iter().skip(1) {
            let label = if matches!(largest.group, "replay" | "trace") {
                largest.workload.clone()
            } else {
                format!("{} {}", largest.workload, size_label(largest.n))
            };
            bars.push(Bar {
                label,
                peer: p.peer.to_owned(),
                value: p.ratio,
            });
        }
    }
    if let Some(n) = report.concurrent.iter().map(|r| r.n).max() {
        for r in report.concurrent.iter().filter(|r| r.n == n).skip(1) {
            bars.push(Bar {
                label: format!("reads beside writer {}", size_label(n)),
                peer: r.peer.to_owned(),
                value: r.ratio_busy,
            });
        }
    }
    bars
}

/// The label of row `v` of a bar chart whose rows are `labels`, top to bottom.
fn row_label(v: &SegmentValue<i32>, labels: &[String]) -> String {
    match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| labels.len().checked_sub(1 + i))
            .and_then(|i| labels.get(i))
            .cloned()
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

/// Horizontal bars from 1 on a logarithmic axis of ratios, one row per bar, coloured by peer,
/// with a legend.
fn bar_chart(path: &Path, title: &str, x_desc: &str, bars: &[Bar]) -> Result<(), String> {
    let rows = bars.len().max(1);
    let height = 140 + 22 * rows as u32;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (lo, hi) = bars.iter().fold((1.0f64, 1.0f64), |(lo, hi), b| {
        (lo.min(b.value), hi.max(b.value))
    });
    // Room for the value beside the longest bars on either side.
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(46)
        .y_label_area_size(300)
        .build_cartesian_2d(
            (lo / 3.0..hi * 4.0).log_scale(),
            // `into_segmented` makes one segment more than the range holds.
            (0..(rows as i32 - 1).max(1)).into_segmented(),
        )
        .map_err(err)?;
    let labels: Vec<String> = bars
        .iter()
        .map(|b| format!("{} · {}", b.label, b.peer))
        .collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_formatter(&|v| row_label(v, &labels))
        .x_label_formatter(&|x| format!("{}x", trim(*x)))
        .x_desc(x_desc)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    let mut legend: Vec<String> = Vec::new();
    for (i, b) in bars.iter().enumerate() {
        let row = (rows - 1 - i) as i32;
        let c = colour(&b.peer);
        let mut rect = Rectangle::new(
            [
                (1.0, SegmentValue::Exact(row)),
                (b.value, SegmentValue::Exact(row + 1)),
            ],
            c.filled(),
        );
        rect.set_margin(3, 3, 0, 0);
        let anno = chart.draw_series(std::iter::once(rect)).map_err(err)?;
        if !legend.contains(&b.peer) {
            legend.push(b.peer.clone());
            anno.label(b.peer.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
        }
        // The value past the end of the bar: right of it above 1, left of it below.
        let (x, h) = if b.value >= 1.0 {
            (b.value * 1.06, HPos::Left)
        } else {
            (b.value / 1.06, HPos::Right)
        };
        chart
            .draw_series(std::iter::once(Text::new(
                ratio(b.value),
                (x, SegmentValue::CenterOf(row)),
                TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(h, VPos::Center)),
            )))
            .map_err(err)?;
    }
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(1.0, SegmentValue::Exact(0)), (1.0, SegmentValue::Last)],
            BLACK.stroke_width(2),
        )))
        .map_err(err)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// The ratio chart (see the module docs).
fn ratio_chart(report: &Report, path: &Path) -> Result<(), String> {
    bar_chart(
        path,
        "maple time / peer time, same run, at the largest N (left of 1: maple is faster)",
        "ratio (log scale)",
        &ratio_bars(report),
    )
}

/// The memory chart (see the module docs): horizontal bars from 0 on a linear axis.
fn memory_chart(report: &Report, path: &Path) -> Result<(), String> {
    let Some(n) = report.memory.iter().map(|r| r.n).max() else {
        return Ok(());
    };
    let mut bars = Vec::new();
    for pattern in crate::input::Pattern::ALL {
        let mut rows: Vec<_> = report
            .memory
            .iter()
            .filter(|r| r.n == n && r.pattern == pattern && r.order == "rand")
            .collect();
        rows.sort_by(|a, b| a.bytes_per_entry.total_cmp(&b.bytes_per_entry));
        bars.extend(rows.into_iter().map(|r| Bar {
            label: format!("{} {}", pattern.name(), size_label(n)),
            peer: r.peer.to_owned(),
            value: r.bytes_per_entry,
        }));
    }
    let rows = bars.len().max(1);
    let root = SVGBackend::new(path, (1000, 140 + 22 * rows as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let hi = bars.iter().map(|b| b.value).fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "bytes per entry, shuffled inserts, at the largest N (shorter is smaller)",
            ("sans-serif", 20),
        )
        .margin(14)
        .x_label_area_size(46)
        .y_label_area_size(300)
        .build_cartesian_2d(
            0.0..hi * 1.45,
            (0..(rows as i32 - 1).max(1)).into_segmented(),
        )
        .map_err(err)?;
    let labels: Vec<String> = bars
        .iter()
        .map(|b| format!("{} · {}", b.label, b.peer))
        .collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_formatter(&|v| row_label(v, &labels))
        .x_label_formatter(&|x| format!("{x:.0} B"))
        .x_desc("bytes per entry")
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    for (i, b) in bars.iter().enumerate() {
        let row = (rows - 1 - i) as i32;
        let c = colour(&b.peer);
        let mut rect = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(row)),
                (b.value, SegmentValue::Exact(row + 1)),
            ],
            c.filled(),
        );
        rect.set_margin(3, 3, 0, 0);
        chart.draw_series(std::iter::once(rect)).map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{:.1}", b.value),
                (b.value + hi * 0.01, SegmentValue::CenterOf(row)),
                TextStyle::from(("sans-serif", 12).into_font())
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_label_one_two_five_on_short_axes_and_decades_on_long_ones() {
        let (bold, light) = log_ticks(30.0, 900.0);
        assert_eq!(bold, vec![50.0, 100.0, 200.0, 500.0]);
        assert!(light.contains(&40.0) && light.contains(&300.0) && light.contains(&900.0));
        assert!(!light.contains(&1000.0) && !light.contains(&20.0));
        let (bold, _) = log_ticks(300.0, 3e7);
        assert_eq!(bold, vec![1e3, 1e4, 1e5, 1e6, 1e7]);
        // A very short axis labels every tick.
        let (bold, _) = log_ticks(350.0, 900.0);
        assert_eq!(bold, vec![400.0, 500.0, 600.0, 700.0, 800.0, 900.0]);
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(format_number(2_000_000.0), "2M");
        assert_eq!(format_number(1_500.0), "1.5k");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(20.0), "20");
    }
}
