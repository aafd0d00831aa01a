//! The shift-averaged loss (Fig. 1b): every task's loss curve aligned at the row just
//! before its first training ([`reawaken_analysis::metrics::shift_averaged_loss`]).

use crate::condition::{kind_label, loss_label, Condition};
use crate::plot::{self, LineChart, Series};
use crate::FigureError;

use super::{mean_sd, Output};

/// `<kind>-shift-averaged-loss.svg` of the reference condition (nothing when no curve
/// can be computed).
pub(crate) fn shift_averaged(base: &Condition, out: &mut Output<'_>) -> Result<(), FigureError> {
    let Some(s) = shift_series(base, "mean over tasks and seeds".into(), true) else {
        return Ok(());
    };
    let chart = LineChart {
        title: format!("{}: shift-averaged loss", kind_label(base.kind)),
        subtitle: format!(
            "{}; band ±1 sd over tasks × {} seed(s)",
            base.describe_with(true, false),
            base.runs.len()
        ),
        x_label: "episodes since just before first training".into(),
        y_label: loss_label(base.kind).into(),
        series: vec![s],
        marker_label: Some("just before a revisit".into()),
        ..Default::default()
    };
    out.emit(
        &format!("{}-shift-averaged-loss.svg", base.kind.as_str()),
        plot::line_chart(&chart),
    )
}

/// Per-task loss curves re-aligned so that offset 0 is the row just before each
/// task's first training (docs/records.md), pooled over tasks and seeds and cut to the
/// shortest.
fn shift_curves(c: &Condition) -> Vec<Vec<f64>> {
    let mut curves: Vec<Vec<f64>> = Vec::new();
    for r in &c.runs {
        let order = r.order.to_vec();
        if let Ok(sa) = reawaken_analysis::metrics::shift_averaged_loss(&r.losses, &order) {
            curves.extend(sa.curves.rows().into_iter().map(|row| row.to_vec()));
        }
    }
    let len = curves.iter().map(Vec::len).min().unwrap_or(0);
    curves.iter_mut().for_each(|v| v.truncate(len));
    curves
}

/// The shift-averaged curve of a condition; with `band`, its ±1 sd band and (cyclic
/// order) markers just before every revisit.
pub(crate) fn shift_series(c: &Condition, name: String, band: bool) -> Option<Series> {
    let curves = shift_curves(c);
    if curves.is_empty() || curves[0].is_empty() {
        return None;
    }
    let (y, sd) = mean_sd(&curves);
    let t = c.first().tasks();
    let markers = if c.first().order_name() == "cyclic" {
        (1..)
            .map(|k| k * t)
            .take_while(|&s| s < y.len())
            .map(|s| (s as f64, y[s]))
            .collect()
    } else {
        Vec::new()
    };
    Some(Series {
        name,
        x: (0..y.len()).map(|s| s as f64).collect(),
        y,
        sd: if band { sd } else { None },
        markers: if band { markers } else { Vec::new() },
        ..Default::default()
    })
}
