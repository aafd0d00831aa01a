//! Line charts: one or more panels of [`Series`] with ±sd bands, error bars, dots,
//! revisit markers, dashed reference lines and a legend placed where it hides the least.

use plotters::prelude::*;

use super::axis::Axis;
use super::style::{self, series_colour, FONT};
use super::{canvas, draw_err, draw_legend, finite2, finite_range, fmt_tick, Area, Span};
use crate::FigureError;

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

/// Renders one or more line panels side by side under one title.
pub fn line_panels(
    title: &str,
    panels: &[LineChart],
    size: (u32, u32),
) -> Result<String, FigureError> {
    canvas(size, (!title.is_empty()).then_some(title), |root| {
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            draw_line_panel(area, panel, title)?;
        }
        Ok(())
    })
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
    (x0, x1): Span,
    (y0, y1): Span,
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

/// The chart context of one line panel: f64 × f64 Cartesian coordinates.
type Panel<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Axis, Axis>>;

/// Axes of a panel, padded: x over every series; y over every value, band edge,
/// error-bar end and reference line. `Empty` when nothing is finite, `Unplottable` when
/// the finite values span more than an axis can (e.g. −1e308 to 1e308; the error names
/// the panel by its title, else the figure's `fig_title`, else its subtitle).
fn panel_axes(chart: &LineChart, fig_title: &str) -> Result<(Axis, Axis), FigureError> {
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
    let name = |axis: &str| {
        let title = [chart.title.as_str(), fig_title, chart.subtitle.as_str()]
            .into_iter()
            .find(|t| !t.is_empty())
            .unwrap_or_default();
        if title.is_empty() {
            format!("the {axis} axis")
        } else {
            format!("the {axis} axis of \"{title}\"")
        }
    };
    let x = if chart.x_categories.is_some() {
        Axis::new((x0 - 0.5, x1 + 0.5), || name("x"))?
    } else if chart.series.iter().any(|s| s.dots) {
        Axis::over((x0, x1), 0.05, || name("x"))?
    } else {
        Axis::over((x0, x1), 0.0, || name("x"))?
    };
    Ok((x, Axis::over((y0, y1), 0.06, || name("y"))?))
}

/// Builds the panel's coordinates, caption, axes, tick labels and grid.
fn panel_context<'a, 'b: 'a>(
    area: &'a Area<'b>,
    chart: &LineChart,
    x: Axis,
    y: Axis,
) -> Result<Panel<'a, 'b>, FigureError> {
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
    let mut ctx = builder.build_cartesian_2d(x, y).map_err(draw_err)?;
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
    Ok(ctx)
}

fn draw_line_panel(area: &Area<'_>, chart: &LineChart, fig_title: &str) -> Result<(), FigureError> {
    let (x_axis, y_axis) = panel_axes(chart, fig_title)?;
    let (x, y) = (x_axis.span(), y_axis.span());
    let mut ctx = panel_context(area, chart, x_axis, y_axis)?;
    let grey = RGBColor(0x88, 0x88, 0x88);
    for h in &chart.hlines {
        ctx.draw_series(DashedLineSeries::new(
            [(x.0, *h), (x.1, *h)],
            6,
            4,
            grey.stroke_width(1),
        ))
        .map_err(draw_err)?;
    }
    let multi = chart.series.len() > 1;
    for (i, s) in chart.series.iter().enumerate() {
        draw_series(&mut ctx, s, series_colour(i), multi, x.1 - x.0)?;
    }
    let marker_legend = draw_markers(&mut ctx, chart)?;
    if multi || marker_legend {
        let entries = if multi { chart.series.len() } else { 0 } + usize::from(marker_legend);
        let longest = chart
            .series
            .iter()
            .map(|s| s.name.chars().count())
            .chain(chart.marker_label.iter().map(|l| l.chars().count()))
            .max()
            .unwrap_or(0);
        let dims = ctx.plotting_area().dim_in_pixel();
        let corner = legend_corner(chart, x, y, dims, entries, longest);
        let position = match corner {
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
        };
        draw_legend(&mut ctx, position)?;
    }
    Ok(())
}

/// Draws one series: its ±sd band, its line (labelled for the legend when the panel has
/// several series), its dots and its error bars (whiskers `x_span` × 1.2 % wide; a bar
/// with a non-finite end is left out, as non-finite points are).
fn draw_series(
    ctx: &mut Panel<'_, '_>,
    s: &Series,
    colour: RGBColor,
    multi: bool,
    x_span: f64,
) -> Result<(), FigureError> {
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
            .filter(finite2)
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
            .filter(finite2)
            .collect();
    let anno = ctx
        .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
        .map_err(draw_err)?;
    if multi {
        anno.label(&s.name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 2), (x + 18, y + 2)], colour.filled()));
    }
    if s.dots {
        ctx.draw_series(pts.iter().map(|p| Circle::new(*p, 4, colour.filled())))
            .map_err(draw_err)?;
    }
    let w = x_span * 0.012;
    let finite_bars = s
        .error_bars
        .iter()
        .filter(|(x, lo, hi)| x.is_finite() && lo.is_finite() && hi.is_finite());
    for (x, lo, hi) in finite_bars {
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
    Ok(())
}

/// Draws every series' markers as black dots; the first series with markers gets the
/// legend entry `marker_label` (if the chart has one). Returns whether it did.
fn draw_markers(ctx: &mut Panel<'_, '_>, chart: &LineChart) -> Result<bool, FigureError> {
    let mut marker_legend = false;
    for s in &chart.series {
        if s.markers.is_empty() {
            continue;
        }
        let anno = ctx
            .draw_series(
                s.markers
                    .iter()
                    .filter(|p| finite2(p))
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
    Ok(marker_legend)
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
