//! Heatmaps: a matrix as coloured cells (viridis) with a colour bar, block-averaged when
//! larger than [`MAX_HEATMAP_CELLS`] per side.

use plotters::prelude::*;

use super::axis::{padded, robust_mean_sd, too_narrow, Axis};
use super::style::{self, viridis, FONT};
use super::{canvas, draw_err, finite_range, fmt_tick, Area, Span};
use crate::FigureError;

/// Number of gradient steps drawn in a colour bar.
pub const COLORBAR_STEPS: usize = 64;
/// Heatmaps larger than this are block-averaged down to it (keeps SVGs small).
pub const MAX_HEATMAP_CELLS: usize = 160;

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

/// Block-averages a row-major matrix so that neither side exceeds `max` (NaN-aware; the
/// mean of finite values near ±f64::MAX does not overflow). Returns (values, rows, cols,
/// block size).
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
                let m = s / n as f64;
                out[i * c2 + j] = if m.is_finite() {
                    m
                } else {
                    block_mean(
                        values,
                        cols,
                        i * b..((i + 1) * b).min(rows),
                        j * b..((j + 1) * b).min(cols),
                    )
                };
            }
        }
    }
    (out, r2, c2, b)
}

/// The mean of the finite values of a block whose plain sum overflowed.
fn block_mean(
    values: &[f64],
    cols: usize,
    rows: std::ops::Range<usize>,
    cs: std::ops::Range<usize>,
) -> f64 {
    let v: Vec<f64> = rows
        .flat_map(|a| cs.clone().map(move |c| values[a * cols + c]))
        .filter(|v| v.is_finite())
        .collect();
    robust_mean_sd(&v).map_or(f64::NAN, |(m, _)| m)
}

/// The range of a heatmap's colour scale: the finite values (0..1 when there are none),
/// ±0.5 around constant values, ±10 % of the magnitude when the span is too narrow for
/// it; `Unplottable` when the values span more than a colour bar's axis can.
fn colour_range(vals: &[f64], title: &str) -> Result<Span, FigureError> {
    let (lo, hi) = finite_range(vals.iter().copied()).unwrap_or((0.0, 1.0));
    let range = if hi - lo < 1e-12 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let range = if too_narrow(range.0, range.1) {
        padded(lo, hi, 0.0)
    } else {
        range
    };
    // The colour bar is an axis over the range: check it before anything is drawn.
    Axis::checked(range, (lo, hi), || {
        format!("the colour scale of \"{title}\"")
    })?;
    Ok(range)
}

/// Renders a heatmap with a viridis colour bar on the right.
pub fn heatmap(h: &Heatmap) -> Result<String, FigureError> {
    if h.rows == 0 || h.cols == 0 || h.values.len() != h.rows * h.cols {
        return Err(FigureError::Empty(h.title.clone()));
    }
    let (vals, rows, cols, block) = downsample(&h.values, h.rows, h.cols, MAX_HEATMAP_CELLS);
    let (lo, hi) = colour_range(&vals, &h.title)?;
    canvas((620, 540), Some(&h.title), |root| {
        let (main, bar) = root.split_horizontally(520);
        let cells = Cells {
            values: &vals,
            rows,
            cols,
            block,
            lo,
            hi,
        };
        draw_cells(&main, h, &cells)?;
        colour_bar(&bar, lo, hi, &h.value_label)
    })
}

/// The (possibly block-averaged) cells of a heatmap and the range of their colour scale.
struct Cells<'a> {
    values: &'a [f64],
    rows: usize,
    cols: usize,
    /// Original rows/columns per cell.
    block: usize,
    lo: f64,
    hi: f64,
}

/// Draws the axes and the cells of `h` into `area`.
fn draw_cells(area: &Area<'_>, h: &Heatmap, cells: &Cells<'_>) -> Result<(), FigureError> {
    // Coordinates are the original indices (numbered from `index_base`); cell
    // (i, j) is centred on its index, so integer ticks sit on cell centres.
    // The y axis is reversed so that row 0 is at the top.
    let base = h.index_base as f64;
    let (orig_rows, orig_cols) = (h.rows as f64, h.cols as f64);
    let x = Axis::new((base - 0.5, orig_cols + base - 0.5), || {
        format!("the x axis of \"{}\"", h.title)
    })?;
    let y = Axis::new((orig_rows + base - 0.5, base - 0.5), || {
        format!("the y axis of \"{}\"", h.title)
    })?;
    let mut ctx = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(50)
        .y_label_area_size(64)
        .build_cartesian_2d(x, y)
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
    let Cells {
        values,
        rows,
        cols,
        block,
        lo,
        hi,
    } = *cells;
    let norm = |v: f64| (v - lo) / (hi - lo);
    let edge = |k: usize, n: usize| (k * block).min(n) as f64 + base - 0.5;
    ctx.draw_series((0..rows).flat_map(|i| {
        (0..cols).map(move |j| {
            let v = values[i * cols + j];
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
    Ok(())
}

/// Draws a vertical viridis colour bar spanning `lo..hi` with ticks and a label.
pub(super) fn colour_bar(
    area: &Area<'_>,
    lo: f64,
    hi: f64,
    label: &str,
) -> Result<(), FigureError> {
    let y = Axis::new((lo, hi), || format!("the colour bar \"{label}\""))?;
    let mut ctx = ChartBuilder::on(area)
        .margin_top(10)
        .margin_bottom(60)
        .margin_left(4)
        .margin_right(4)
        .y_label_area_size(0)
        .right_y_label_area_size(64)
        .build_cartesian_2d(Axis::new((0.0, 1.0), String::new)?, y)
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
