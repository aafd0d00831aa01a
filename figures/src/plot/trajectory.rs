//! A 3-D trajectory (the weight-residual PCA), one colour per segment.

use plotters::coord::cartesian::Cartesian3d;
use plotters::prelude::*;

use super::axis::Axis;
use super::style::{self, series_colour, viridis, FONT};
use super::{canvas, draw_err, draw_legend, finite_range, fmt_tick, Area};
use crate::FigureError;

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

/// The chart context of the 3-D plot.
type Space<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian3d<Axis, Axis, Axis>>;

/// The padded axes of the three coordinates.
type Axes3 = [Axis; 3];

/// Renders a 3-D line plot (one polyline per segment, a dot per point).
pub fn trajectory3(t: &Trajectory3) -> Result<String, FigureError> {
    let all = || t.segments.iter().flat_map(|s| s.points.iter());
    let rx = finite_range(all().map(|p| p.0)).ok_or_else(|| FigureError::Empty(t.title.clone()))?;
    let ry = finite_range(all().map(|p| p.1)).ok_or_else(|| FigureError::Empty(t.title.clone()))?;
    let rz = finite_range(all().map(|p| p.2)).ok_or_else(|| FigureError::Empty(t.title.clone()))?;
    let what = |i: usize| move || format!("the {} axis of \"{}\"", t.axis_names[i], t.title);
    let axes = [
        Axis::over(rx, 0.05, what(0))?,
        Axis::over(ry, 0.05, what(1))?,
        Axis::over(rz, 0.05, what(2))?,
    ];
    canvas((640, 560), Some(&t.title), |root| {
        let mut ctx = space(root, axes, &t.axis_names)?;
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
            draw_legend(&mut ctx, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    })
}

/// The projected 3-D axes with their light grid, tick labels and axis names.
fn space<'a, 'b: 'a>(
    root: &'a Area<'b>,
    [ax, ay, az]: Axes3,
    names: &[String; 3],
) -> Result<Space<'a, 'b>, FigureError> {
    let (rx, ry, rz) = (ax.span(), ay.span(), az.span());
    let mut ctx = ChartBuilder::on(root)
        .margin(20)
        .build_cartesian_3d(ax, ay, az)
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
    Ok(ctx)
}
