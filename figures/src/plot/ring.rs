//! The toy ring grid: small multiples of 2-D scatters coloured by task index.

use plotters::prelude::*;

use super::axis::Axis;
use super::heatmap::colour_bar;
use super::style::{self, viridis, FONT};
use super::{canvas, draw_err, finite2, Area};
use crate::FigureError;

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
    canvas(size, Some(title), |root| {
        let (grid, bar) = root.split_horizontally(200 * cols as u32);
        let cells = grid.split_evenly((rows, cols));
        let denom = (n_tasks.max(2) - 1) as f64;
        for (p, cell) in panels.iter().zip(cells.iter()) {
            draw_ring_panel(cell, p, denom)?;
        }
        colour_bar(&bar, 1.0, n_tasks.max(2) as f64, "task index")
    })
}

/// One panel: square axes around the origin, the closed grey ring in task order, one dot
/// per task coloured by `index / denom`.
fn draw_ring_panel(cell: &Area<'_>, p: &RingPanel, denom: f64) -> Result<(), FigureError> {
    let r = p
        .points
        .iter()
        .flat_map(|q| [q.0.abs(), q.1.abs()])
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9)
        * 1.1;
    let what = || format!("the axes of panel \"{}\"", p.caption);
    let (x, y) = (Axis::new((-r, r), what)?, Axis::new((-r, r), what)?);
    let mut ctx = ChartBuilder::on(cell)
        .margin(6)
        .caption(&p.caption, (FONT, style::TICK_PX).into_font())
        .x_label_area_size(18)
        .y_label_area_size(18)
        .build_cartesian_2d(x, y)
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
    let mut ring: Vec<(f64, f64)> = p.points.iter().copied().filter(finite2).collect();
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
            .filter(|(_, q)| finite2(q))
            .map(|(i, q)| Circle::new(*q, 4, viridis(i as f64 / denom).filled())),
    )
    .map_err(draw_err)?;
    Ok(())
}
