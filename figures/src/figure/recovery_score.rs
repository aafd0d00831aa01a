//! The recovery score RS(n) by epoch, from run.json's `metrics.recovery_score`.

use crate::condition::{kind_label, Condition};
use crate::plot::{self, LineChart, Series};
use crate::FigureError;

use super::{mean_sd, Output};

/// `<kind>-recovery-score-by-epoch.svg`: the reference condition and, when there is one,
/// its twin; a note when no run has a recovery score.
pub(crate) fn by_epoch(
    base: &Condition,
    twin: Option<&Condition>,
    out: &mut Output<'_>,
) -> Result<(), FigureError> {
    let k = base.kind.as_str();
    let mut series: Vec<Series> = rs_series(base, base.first().order_name())
        .into_iter()
        .collect();
    if let Some(tw) = twin {
        series.extend(rs_series(tw, tw.first().order_name()));
    }
    if series.is_empty() {
        out.note(format!(
            "{k}-recovery-score-by-epoch.svg not drawn: run.json of {} has no metrics.recovery_score values",
            base.first().dir.display()
        ));
        return Ok(());
    }
    let chart = LineChart {
        title: format!("{}: recovery score by epoch", kind_label(base.kind)),
        subtitle: base.describe_with(twin.is_none(), true),
        x_label: "n (epochs completed)".into(),
        y_label: "recovery score RS(n)".into(),
        series,
        hlines: vec![0.0, 1.0],
        legend_lower: true,
        ..Default::default()
    };
    out.emit(
        &format!("{k}-recovery-score-by-epoch.svg"),
        plot::line_chart(&chart),
    )
}

/// RS(n) for n = 1.., mean ± sd over seeds (undefined values are gaps); None when no
/// value is finite.
fn rs_series(c: &Condition, name: String) -> Option<Series> {
    let n = c
        .runs
        .iter()
        .map(|r| r.recovery_score().len())
        .max()
        .unwrap_or(0);
    if n == 0 {
        return None;
    }
    let rows: Vec<Vec<f64>> = c
        .runs
        .iter()
        .map(|r| {
            (0..n)
                .map(|i| {
                    r.recovery_score()
                        .get(i)
                        .copied()
                        .flatten()
                        .unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect();
    let (y, sd) = mean_sd(&rows);
    if y.iter().all(|v| !v.is_finite()) {
        return None;
    }
    Some(Series {
        name,
        x: (1..=n).map(|i| i as f64).collect(),
        y,
        sd,
        dots: true,
        ..Default::default()
    })
}
