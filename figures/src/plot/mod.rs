//! Drawing primitives on plain numbers: line charts with ±sd bands and revisit
//! markers ([`mod@line`]), heatmaps with a colour bar ([`mod@heatmap`]), the toy ring grid
//! ([`ring`]) and the 3-D PCA trajectory ([`trajectory`]), with the shared palettes and
//! sizes in [`style`]. Every function returns the SVG text; writing is the caller's job.
//! Every coordinate is a checked [`Axis`] ([`mod@axis`]): finite, bounded ticks for any
//! finite data, and [`FigureError::Unplottable`] for values no axis can span.
//!
//! Element accounting (relied on by the tests): every data line (a series, an
//! error bar, a ring) is exactly one `<polyline>` with `stroke-width="2"` (axes and
//! ticks are 1 px wide), every ±sd band one `<polygon>`, every revisit marker one
//! `<circle>`, every heatmap cell one `<rect>` (plus [`COLORBAR_STEPS`] rects for the
//! colour bar). Legend swatches are rects, never polylines.

pub mod axis;
pub mod heatmap;
pub mod line;
pub mod ring;
pub mod style;
pub mod trajectory;

use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;

use crate::FigureError;
pub use axis::{ticks, Axis};
pub use heatmap::{downsample, heatmap, Heatmap, COLORBAR_STEPS, MAX_HEATMAP_CELLS};
pub use line::{line_chart, line_panels, LineChart, Series};
pub use ring::{ring_grid, RingPanel};
pub use trajectory::{trajectory3, Segment3, Trajectory3};

/// The drawing area of an SVG canvas.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The (low, high) range of an axis.
type Span = (f64, f64);

fn draw_err<E: std::fmt::Display>(e: E) -> FigureError {
    FigureError::Draw(e.to_string())
}

/// Draws one SVG canvas of `size` px: a white background, the `title` (when given) above
/// the area handed to `draw`, and returns the SVG text.
fn canvas(
    size: (u32, u32),
    title: Option<&str>,
    draw: impl FnOnce(&Area<'_>) -> Result<(), FigureError>,
) -> Result<String, FigureError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = match title {
            Some(t) => root
                .titled(t, (style::FONT, style::TITLE_PX).into_font())
                .map_err(draw_err)?,
            None => root,
        };
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Draws the legend of the labelled series at `position`, on a translucent white box.
fn draw_legend<'a, 'b: 'a, CT: CoordTranslate>(
    ctx: &mut ChartContext<'a, SVGBackend<'b>, CT>,
    position: SeriesLabelPosition,
) -> Result<(), FigureError> {
    ctx.configure_series_labels()
        .position(position)
        .label_font((style::FONT, style::LEGEND_PX).into_font())
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(0xAA, 0xAA, 0xAA))
        .draw()
        .map_err(draw_err)
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

/// Whether both coordinates of a point are finite (points that are not are never drawn).
fn finite2(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}
