//! Drawing primitives on plain numbers: line charts with ±sd bands and revisit
//! markers, heatmaps with a colour bar, the toy ring grid and the 3-D PCA
//! trajectory. Every function returns the SVG text; writing is the caller's job.
//!
//! Element accounting (relied on by the tests): every data line (a series, an
//! error bar, a ring) is exactly one `<polyline>` with `stroke-width="2"` (axes and
//! ticks are 1 px wide), every ±sd band one `<polygon>`, every revisit marker one
//! `<circle>`, every heatmap cell one `<rect>` (plus [`COLORBAR_STEPS`] rects for the
//! colour bar). Legend swatches are rects, never polylines.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::style::{self, series_colour, viridis, FONT};
use super::FigureError;

/// Number of gradient steps drawn in a colour bar.
pub const COLORBAR_STEPS: usize = 64;
/// Heatmaps larger than this are block-averaged down to it (keeps SVGs small).
pub const MAX_HEATMAP_CELLS: usize = 160;

fn draw_err<E: std::fmt::Display>(e: E) -> FigureError {
    FigureError::Draw(e.to_string())
}

/// One line of a line chart.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// ±1 sd band around `y` (same length), drawn translucent.
    pub sd: Option<Vec<f64>>,
    /// Points marked with a black circle (e.g. just before each revisit of the focal task).
    pub markers: Vec<(f64, f64)>,
    /// Vertical error bars: (x, low, high).
    pub error_bars: Vec<(f64, f64, f64)>,
    /// Draw a dot at every point (for short series such as sweeps).
    pub dots: bool,
}

/// One panel of line series.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    pub title: String,
    /// Smaller line under the title (run details); used as the panel caption.
    pub subtitle: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Legend text of the markers, if any series has markers.
    pub marker_label: Option<String>,
    /// Tick labels for categorical x axes: position i gets label i.
    pub x_categories: Option<Vec<String>>,
    /// Horizontal reference lines (e.g. RS = 0 and RS = 1), dashed grey.
    pub hlines: Vec<f64>,
    /// Put the legend in the lower right corner instead of the upper right.
    pub legend_lower: bool,
}

fn finite_range(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (lo <= hi).then_some((lo, hi))
}

fn padded(lo: f64, hi: f64, frac: f64) -> (f64, f64) {
    if (hi - lo).abs() < 1e-12 {
        let d = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        (lo - d, hi + d)
    } else {
        let d = (hi - lo) * frac;
        (lo - d, hi + d)
    }
}

fn fmt_tick(v: f64) -> String {
    if v.abs() < 1e-12 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// Renders one or more line panels side by side under one title.
pub fn line_panels(
    title: &str,
    panels: &[LineChart],
    size: (u32, u32),
) -> Result<String, FigureError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = if title.is_empty() {
            root
        } else {
            root.titled(title, (FONT, style::TITLE_PX).into_font())
                .map_err(draw_err)?
        };
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            draw_line_panel(area, panel)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// A corner of the plotting area, where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corner {
    UpperRight,
    LowerRight,
    UpperLeft,
    LowerLeft,
}

/// The legend corner that hides the fewest data points (line points, band and error-bar
/// ends). The legend's box is estimated from its number of entries and longest label.
/// Ties go to the chart's preferred corner (`legend_lower` → lower right, else upper
/// right), then to upper right, upper left, lower right, lower left.
pub(crate) fn legend_corner(
    chart: &LineChart,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    (w_px, h_px): (u32, u32),
    entries: usize,
    longest_label: usize,
) -> Corner {
    let legend_w = 46.0 + 0.6 * style::LEGEND_PX as f64 * longest_label as f64;
    let legend_h = 12.0 + entries as f64 * (style::LEGEND_PX as f64 + 8.0);
    // The legend sits ~10 px from the plot's edges.
    let fw = ((legend_w + 10.0) / w_px.max(1) as f64).min(1.0);
    let fh = ((legend_h + 10.0) / h_px.max(1) as f64).min(1.0);
    let mut points: Vec<(f64, f64)> = Vec::new();
    for s in &chart.series {
        for (i, (x, y)) in s.x.iter().zip(&s.y).enumerate() {
            points.push((*x, *y));
            if let Some(d) = s.sd.as_ref().and_then(|sd| sd.get(i)) {
                points.push((*x, y + d));
                points.push((*x, y - d));
            }
            // Midpoints, so that a line crossing the box between two points counts.
            if let (Some(nx), Some(ny)) = (s.x.get(i + 1), s.y.get(i + 1)) {
                points.push(((x + nx) / 2.0, (y + ny) / 2.0));
            }
        }
        for (x, lo, hi) in &s.error_bars {
            points.push((*x, *lo));
            points.push((*x, *hi));
        }
    }
    let covered = |c: Corner| {
        let (right, upper) = match c {
            Corner::UpperRight => (true, true),
            Corner::LowerRight => (true, false),
            Corner::UpperLeft => (false, true),
            Corner::LowerLeft => (false, false),
        };
        let fx = |x: f64| (x - x0) / (x1 - x0);
        let fy = |y: f64| (y - y0) / (y1 - y0);
        points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .filter(|(x, y)| {
                let (u, v) = (fx(*x), fy(*y));
                let in_x = if right { u >= 1.0 - fw } else { u <= fw };
                let in_y = if upper { v >= 1.0 - fh } else { v <= fh };
                in_x && in_y
            })
            .count()
    };
    let preferred = if chart.legend_lower {
        Corner::LowerRight
    } else {
        Corner::UpperRight
    };
    let mut best = (covered(preferred), preferred);
    for c in [
        Corner::UpperRight,
        Corner::UpperLeft,
        Corner::LowerRight,
        Corner::LowerLeft,
    ] {
        let n = covered(c);
        if n < best.0 {
            best = (n, c);
        }
    }
    best.1
}

/// Renders a single line chart (title = `chart.title`).
pub fn line_chart(chart: &LineChart) -> Result<String, FigureError> {
    let mut c = chart.clone();
    let title = std::mem::take(&mut c.title);
    line_panels(&title, &[c], style::SINGLE)
}

fn draw_line_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    chart: &LineChart,
) -> Result<(), FigureError> {
    let xs = chart.series.iter().flat_map(|s| s.x.iter().copied());
    let (x0, x1) = finite_range(xs).ok_or_else(|| FigureError::Empty(chart.title.clone()))?;
    let ys = chart.series.iter().flat_map(|s| {
        let band: Vec<f64> = match &s.sd {
            Some(sd) => {
                s.y.iter()
                    .zip(sd)
                    .flat_map(|(y, d)| [y - d, y + d])
                    .collect()
            }
            None => Vec::new(),
        };
        let bars: Vec<f64> = s.error_bars.iter().flat_map(|b| [b.1, b.2]).collect();
        s.y.iter()
            .copied()
            .chain(band)
            .chain(bars)
            .collect::<Vec<_>>()
    });
    let (y0, y1) = finite_range(ys.chain(chart.hlines.iter().copied()))
        .ok_or_else(|| FigureError::Empty(chart.title.clone()))?;
    let (x0, x1) = if chart.x_categories.is_some() {
        (x0 - 0.5, x1 + 0.5)
    } else if chart.series.iter().any(|s| s.dots) {
        padded(x0, x1, 0.05)
    } else {
        padded(x0, x1, 0.0)
    };
    let (y0, y1) = padded(y0, y1, 0.06);

    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .margin_right(22)
        .x_label_area_size(50)
        .y_label_area_size(70);
    let caption = if chart.subtitle.is_empty() {
        &chart.title
    } else {
        &chart.subtitle
    };
    if !caption.is_empty() {
        builder.caption(caption, (FONT, style::TICK_PX).into_font());
    }
    let mut ctx = builder
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_err)?;
    let cats = chart.x_categories.clone();
    let x_fmt = move |v: &f64| match &cats {
        Some(c) => {
            let r = v.round();
            if (v - r).abs() < 1e-6 && r >= 0.0 && (r as usize) < c.len() {
                c[r as usize].clone()
            } else {
                String::new()
            }
        }
        None => fmt_tick(*v),
    };
    let n_x_labels = chart.x_categories.as_ref().map_or(6, |c| c.len() + 1);
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(n_x_labels)
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| fmt_tick(*v))
        .label_style((FONT, style::TICK_PX).into_font())
        .axis_desc_style((FONT, style::LABEL_PX).into_font())
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(0xE4, 0xE4, 0xE4))
        .draw()
        .map_err(draw_err)?;

    let grey = RGBColor(0x88, 0x88, 0x88);
    for h in &chart.hlines {
        ctx.draw_series(DashedLineSeries::new(
            [(x0, *h), (x1, *h)],
            6,
            4,
            grey.stroke_width(1),
        ))
        .map_err(draw_err)?;
    }

    let multi = chart.series.len() > 1;
    for (i, s) in chart.series.iter().enumerate() {
        let colour = series_colour(i);
        if let Some(sd) = &s.sd {
            let upper =
                s.x.iter()
                    .zip(s.y.iter().zip(sd))
                    .map(|(x, (y, d))| (*x, y + d));
            let lower: Vec<(f64, f64)> =
                s.x.iter()
                    .zip(s.y.iter().zip(sd))
                    .map(|(x, (y, d))| (*x, y - d))
                    .collect();
            let pts: Vec<(f64, f64)> = upper
                .chain(lower.into_iter().rev())
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            ctx.draw_series(std::iter::once(Polygon::new(
                pts,
                colour.mix(0.22).filled(),
            )))
            .map_err(draw_err)?;
        }
        let pts: Vec<(f64, f64)> =
            s.x.iter()
                .zip(&s.y)
                .map(|(x, y)| (*x, *y))
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
        let anno = ctx
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(draw_err)?;
        if multi {
            anno.label(&s.name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 2), (x + 18, y + 2)], colour.filled())
            });
        }
        if s.dots {
            ctx.draw_series(pts.iter().map(|p| Circle::new(*p, 4, colour.filled())))
                .map_err(draw_err)?;
        }
        for (x, lo, hi) in &s.error_bars {
            let w = (x1 - x0) * 0.012;
            ctx.draw_series(std::iter::once(PathElement::new(
                vec![
                    (x - w, *lo),
                    (x + w, *lo),
                    (*x, *lo),
                    (*x, *hi),
                    (x - w, *hi),
                    (x + w, *hi),
                ],
                colour.stroke_width(2),
            )))
            .map_err(draw_err)?;
        }
    }
    let mut marker_legend = false;
    for s in &chart.series {
        if s.markers.is_empty() {
            continue;
        }
        let anno = ctx
            .draw_series(
                s.markers
                    .iter()
                    .filter(|p| p.0.is_finite() && p.1.is_finite())
                    .map(|p| Circle::new(*p, 3, BLACK.filled())),
            )
            .map_err(draw_err)?;
        if !marker_legend {
            if let Some(l) = &chart.marker_label {
                anno.label(l)
                    .legend(|(x, y)| Circle::new((x + 9, y), 3, BLACK.filled()));
                marker_legend = true;
            }
        }
    }
    if multi || marker_legend {
        let entries = if multi { chart.series.len() } else { 0 } + usize::from(marker_legend);
        let longest = chart
            .series
            .iter()
            .map(|s| s.name.chars().count())
            .chain(chart.marker_label.iter().map(|l| l.chars().count()))
            .max()
            .unwrap_or(0);
        let corner = legend_corner(
            chart,
            (x0, x1),
            (y0, y1),
            ctx.plotting_area().dim_in_pixel(),
            entries,
            longest,
        );
        ctx.configure_series_labels()
            .position(match corner {
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
                Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
            .label_font((FONT, style::LEGEND_PX).into_font())
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xAA, 0xAA, 0xAA))
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}

/// A square (or rectangular) matrix drawn as coloured cells with a colour bar.
#[derive(Debug, Clone)]
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Label of the colour bar (the quantity and its unit).
    pub value_label: String,
    /// Row-major values, `rows × cols`; row 0 is drawn at the top.
    pub values: Vec<f64>,
    pub rows: usize,
    pub cols: usize,
    /// Index labels start here (1 = tasks numbered 1..T as in the paper).
    pub index_base: usize,
}

/// Block-averages a row-major matrix so that neither side exceeds `max` (NaN-aware).
/// Returns (values, rows, cols, block size).
pub fn downsample(
    values: &[f64],
    rows: usize,
    cols: usize,
    max: usize,
) -> (Vec<f64>, usize, usize, usize) {
    let b = rows.max(cols).div_ceil(max.max(1)).max(1);
    if b == 1 {
        return (values.to_vec(), rows, cols, 1);
    }
    let (r2, c2) = (rows.div_ceil(b), cols.div_ceil(b));
    let mut out = vec![f64::NAN; r2 * c2];
    for i in 0..r2 {
        for j in 0..c2 {
            let (mut s, mut n) = (0.0, 0usize);
            for a in i * b..((i + 1) * b).min(rows) {
                for c in j * b..((j + 1) * b).min(cols) {
                    let v = values[a * cols + c];
                    if v.is_finite() {
                        s += v;
                        n += 1;
                    }
                }
            }
            if n > 0 {
                out[i * c2 + j] = s / n as f64;
            }
        }
    }
    (out, r2, c2, b)
}

/// Renders a heatmap with a viridis colour bar on the right.
pub fn heatmap(h: &Heatmap) -> Result<String, FigureError> {
    if h.rows == 0 || h.cols == 0 || h.values.len() != h.rows * h.cols {
        return Err(FigureError::Empty(h.title.clone()));
    }
    let (vals, rows, cols, block) = downsample(&h.values, h.rows, h.cols, MAX_HEATMAP_CELLS);
    let (lo, hi) = finite_range(vals.iter().copied()).unwrap_or((0.0, 1.0));
    let (lo, hi) = if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let norm = |v: f64| (v - lo) / (hi - lo);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (620, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled(&h.title, (FONT, style::TITLE_PX).into_font())
            .map_err(draw_err)?;
        let (main, bar) = root.split_horizontally(520);
        // Coordinates are the original indices (numbered from `index_base`); cell
        // (i, j) is centred on its index, so integer ticks sit on cell centres.
        // The y axis is reversed so that row 0 is at the top.
        let base = h.index_base as f64;
        let (orig_rows, orig_cols) = (h.rows as f64, h.cols as f64);
        let mut ctx = ChartBuilder::on(&main)
            .margin(10)
            .x_label_area_size(50)
            .y_label_area_size(64)
            .build_cartesian_2d(
                (base - 0.5)..(orig_cols + base - 0.5),
                (orig_rows + base - 0.5)..(base - 0.5),
            )
            .map_err(draw_err)?;
        let idx = |v: &f64| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{}", v.round() as i64)
            } else {
                String::new()
            }
        };
        ctx.configure_mesh()
            .disable_mesh()
            .x_desc(&h.x_label)
            .y_desc(&h.y_label)
            .x_labels(8)
            .y_labels(8)
            .x_label_formatter(&idx)
            .y_label_formatter(&idx)
            .label_style((FONT, style::TICK_PX).into_font())
            .axis_desc_style((FONT, style::LABEL_PX).into_font())
            .draw()
            .map_err(draw_err)?;
        let edge = |k: usize, n: usize| (k * block).min(n) as f64 + base - 0.5;
        ctx.draw_series((0..rows).flat_map(|i| {
            let vals = &vals;
            (0..cols).map(move |j| {
                let v = vals[i * cols + j];
                Rectangle::new(
                    [
                        (edge(j, h.cols), edge(i, h.rows)),
                        (edge(j + 1, h.cols), edge(i + 1, h.rows)),
                    ],
                    viridis(norm(v)).filled(),
                )
            })
        }))
        .map_err(draw_err)?;
        colour_bar(&bar, lo, hi, &h.value_label)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Draws a vertical viridis colour bar spanning `lo..hi` with ticks and a label.
fn colour_bar(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    lo: f64,
    hi: f64,
    label: &str,
) -> Result<(), FigureError> {
    let mut ctx = ChartBuilder::on(area)
        .margin_top(10)
        .margin_bottom(60)
        .margin_left(4)
        .margin_right(4)
        .y_label_area_size(0)
        .right_y_label_area_size(64)
        .build_cartesian_2d(0f64..1f64, lo..hi)
        .map_err(draw_err)?;
    ctx.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| fmt_tick(*v))
        .y_desc(label)
        .label_style((FONT, style::TICK_PX - 2).into_font())
        .axis_desc_style((FONT, style::TICK_PX).into_font())
        .draw()
        .map_err(draw_err)?;
    let step = (hi - lo) / COLORBAR_STEPS as f64;
    ctx.draw_series((0..COLORBAR_STEPS).map(|k| {
        let a = lo + step * k as f64;
        Rectangle::new(
            [(0.0, a), (1.0, a + step)],
            viridis((k as f64 + 0.5) / COLORBAR_STEPS as f64).filled(),
        )
    }))
    .map_err(draw_err)?;
    Ok(())
}

/// One panel of the toy ring figure: 2-D points coloured by task index.
#[derive(Debug, Clone)]
pub struct RingPanel {
    pub caption: String,
    /// (pc1, pc2) per task, in task order.
    pub points: Vec<(f64, f64)>,
}

/// Small multiples of 2-D scatters, each point coloured by its task index
/// (viridis) and joined in task order by a thin grey closed line (one polyline
/// per panel, one circle per point).
pub fn ring_grid(title: &str, panels: &[RingPanel], n_tasks: usize) -> Result<String, FigureError> {
    if panels.is_empty() {
        return Err(FigureError::Empty(title.to_string()));
    }
    let cols = 4usize.min(panels.len());
    let rows = panels.len().div_ceil(cols);
    let size = (200 * cols as u32 + 110, 200 * rows as u32 + 50);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled(title, (FONT, style::TITLE_PX).into_font())
            .map_err(draw_err)?;
        let (grid, bar) = root.split_horizontally(200 * cols as u32);
        let cells = grid.split_evenly((rows, cols));
        let denom = (n_tasks.max(2) - 1) as f64;
        for (p, cell) in panels.iter().zip(cells.iter()) {
            let r = p
                .points
                .iter()
                .flat_map(|q| [q.0.abs(), q.1.abs()])
                .filter(|v| v.is_finite())
                .fold(0.0f64, f64::max)
                .max(1e-9)
                * 1.1;
            let mut ctx = ChartBuilder::on(cell)
                .margin(6)
                .caption(&p.caption, (FONT, style::TICK_PX).into_font())
                .x_label_area_size(18)
                .y_label_area_size(18)
                .build_cartesian_2d(-r..r, -r..r)
                .map_err(draw_err)?;
            ctx.configure_mesh()
                .disable_mesh()
                .x_labels(0)
                .y_labels(0)
                .x_desc("PC1")
                .y_desc("PC2")
                .axis_desc_style((FONT, style::TICK_PX - 3).into_font())
                .draw()
                .map_err(draw_err)?;
            let mut ring: Vec<(f64, f64)> = p
                .points
                .iter()
                .copied()
                .filter(|q| q.0.is_finite() && q.1.is_finite())
                .collect();
            if let Some(first) = ring.first().copied() {
                ring.push(first);
            }
            ctx.draw_series(std::iter::once(PathElement::new(
                ring,
                RGBColor(0xC8, 0xC8, 0xC8).stroke_width(2),
            )))
            .map_err(draw_err)?;
            ctx.draw_series(
                p.points
                    .iter()
                    .enumerate()
                    .filter(|(_, q)| q.0.is_finite() && q.1.is_finite())
                    .map(|(i, q)| Circle::new(*q, 4, viridis(i as f64 / denom).filled())),
            )
            .map_err(draw_err)?;
        }
        colour_bar(&bar, 1.0, n_tasks.max(2) as f64, "task index")?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// A 3-D trajectory split into segments (e.g. one per epoch), each its own colour.
#[derive(Debug, Clone)]
pub struct Trajectory3 {
    pub title: String,
    pub axis_names: [String; 3],
    pub segments: Vec<Segment3>,
}

/// One coloured piece of a [`Trajectory3`].
#[derive(Debug, Clone)]
pub struct Segment3 {
    /// Legend name (e.g. "epoch 2").
    pub name: String,
    pub points: Vec<(f64, f64, f64)>,
}

/// Renders a 3-D line plot (one polyline per segment, a dot per point).
pub fn trajectory3(t: &Trajectory3) -> Result<String, FigureError> {
    let all = || t.segments.iter().flat_map(|s| s.points.iter());
    let rx = finite_range(all().map(|p| p.0)).ok_or_else(|| FigureError::Empty(t.title.clone()))?;
    let ry = finite_range(all().map(|p| p.1)).ok_or_else(|| FigureError::Empty(t.title.clone()))?;
    let rz = finite_range(all().map(|p| p.2)).ok_or_else(|| FigureError::Empty(t.title.clone()))?;
    let (rx, ry, rz) = (
        padded(rx.0, rx.1, 0.05),
        padded(ry.0, ry.1, 0.05),
        padded(rz.0, rz.1, 0.05),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root
            .titled(&t.title, (FONT, style::TITLE_PX).into_font())
            .map_err(draw_err)?;
        let mut ctx = ChartBuilder::on(&root)
            .margin(20)
            .build_cartesian_3d(rx.0..rx.1, ry.0..ry.1, rz.0..rz.1)
            .map_err(draw_err)?;
        ctx.with_projection(|mut p| {
            p.pitch = 0.45;
            p.yaw = 0.7;
            p.scale = 0.8;
            p.into_matrix()
        });
        ctx.configure_axes()
            .light_grid_style(RGBColor(0xEE, 0xEE, 0xEE))
            .max_light_lines(2)
            .label_style((FONT, style::TICK_PX - 3).into_font())
            .x_formatter(&|v| fmt_tick(*v))
            .y_formatter(&|v| fmt_tick(*v))
            .z_formatter(&|v| fmt_tick(*v))
            .draw()
            .map_err(draw_err)?;
        let label_style = (FONT, style::LABEL_PX).into_font().color(&BLACK);
        let names = &t.axis_names;
        let (dx, dy, dz) = (rx.1 - rx.0, ry.1 - ry.0, rz.1 - rz.0);
        ctx.draw_series([
            Text::new(
                names[0].clone(),
                (rx.1 + 0.12 * dx, ry.0, rz.0),
                label_style.clone(),
            ),
            Text::new(
                names[1].clone(),
                (rx.0, ry.1 + 0.06 * dy, rz.0),
                label_style.clone(),
            ),
            Text::new(
                names[2].clone(),
                (rx.0, ry.0, rz.1 + 0.18 * dz),
                label_style.clone(),
            ),
        ])
        .map_err(draw_err)?;
        let n = t.segments.len();
        for (k, Segment3 { name, points: pts }) in t.segments.iter().enumerate() {
            let c = if n <= 8 {
                series_colour(k)
            } else {
                viridis(k as f64 / (n - 1) as f64)
            };
            let pts: Vec<_> = pts
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
                .collect();
            ctx.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(draw_err)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 2), (x + 18, y + 2)], c.filled()));
            ctx.draw_series(pts.iter().map(|p| Circle::new(*p, 2, c.filled())))
                .map_err(draw_err)?;
        }
        if n > 1 {
            ctx.configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((FONT, style::LEGEND_PX).into_font())
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(0xAA, 0xAA, 0xAA))
                .draw()
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<(Vec<f64>, Vec<f64>)>, legend_lower: bool) -> LineChart {
        LineChart {
            series: series
                .into_iter()
                .enumerate()
                .map(|(i, (x, y))| Series {
                    name: format!("series {i}"),
                    x,
                    y,
                    ..Default::default()
                })
                .collect(),
            legend_lower,
            ..Default::default()
        }
    }

    #[test]
    fn legend_avoids_the_corner_with_data() {
        let x: Vec<f64> = (0..=40).map(f64::from).collect();
        // Rising curves: the upper right is full, the upper left empty.
        let up: Vec<f64> = x.iter().map(|v| v / 40.0).collect();
        let c = chart(vec![(x.clone(), up.clone()), (x.clone(), up)], false);
        let at = legend_corner(&c, (0.0, 40.0), (0.0, 1.0), (540, 340), 2, 8);
        assert_eq!(at, Corner::UpperLeft);
        // Falling curves: the upper right is empty, so the default stays.
        let down: Vec<f64> = x.iter().map(|v| 1.0 - v / 40.0).collect();
        let c = chart(vec![(x.clone(), down.clone()), (x.clone(), down)], false);
        let at = legend_corner(&c, (0.0, 40.0), (0.0, 1.0), (540, 340), 2, 8);
        assert_eq!(at, Corner::UpperRight);
        // A preferred lower corner is kept when it is free.
        let c = chart(vec![(x.clone(), vec![1.0; 41]), (x, vec![0.9; 41])], true);
        let at = legend_corner(&c, (0.0, 40.0), (0.0, 1.0), (540, 340), 2, 8);
        assert_eq!(at, Corner::LowerRight);
    }

    #[test]
    fn legend_box_grows_with_entries_and_labels() {
        let x: Vec<f64> = (0..=40).map(f64::from).collect();
        let dims = (540, 340);
        // A line at 70 % height: a 2-entry legend fits above it, an 8-entry one does not.
        let c = chart(
            vec![(x.clone(), vec![0.7; 41]), (x.clone(), vec![0.7; 41])],
            false,
        );
        assert_eq!(
            legend_corner(&c, (0.0, 40.0), (0.0, 1.0), dims, 2, 8),
            Corner::UpperRight
        );
        assert_eq!(
            legend_corner(&c, (0.0, 40.0), (0.0, 1.0), dims, 8, 8),
            Corner::LowerRight
        );
        // A line near the top of the right half only: short labels fit in the upper left,
        // a legend as wide as the plot has to go down.
        let xr: Vec<f64> = (25..=40).map(f64::from).collect();
        let c = chart(
            vec![(xr.clone(), vec![0.95; 16]), (xr, vec![0.9; 16])],
            false,
        );
        assert_eq!(
            legend_corner(&c, (0.0, 40.0), (0.0, 1.0), dims, 2, 8),
            Corner::UpperLeft
        );
        assert_eq!(
            legend_corner(&c, (0.0, 40.0), (0.0, 1.0), dims, 2, 60),
            Corner::LowerRight
        );
    }
}
