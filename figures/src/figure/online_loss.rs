//! The online (prequential) loss (Fig. 1c): the loss of the task about to be trained,
//! per episode ([`reawaken_analysis::metrics::online_loss`]).

use crate::condition::{kind_label, loss_label, Condition};
use crate::plot::{self, LineChart, Series};
use crate::FigureError;

use super::{mean_sd, Output};
use crate::plot::axis::robust_mean_sd;

/// `<kind>-online-loss.svg`: the reference condition and, when there is one, its twin.
pub(crate) fn online_loss(
    base: &Condition,
    twin: Option<&Condition>,
    out: &mut Output<'_>,
) -> Result<(), FigureError> {
    let mut series = vec![online_series(base, base.first().order_name())];
    if let Some(tw) = twin {
        series.push(online_series(tw, tw.first().order_name()));
    }
    let chart = LineChart {
        title: format!("{}: online (prequential) loss", kind_label(base.kind)),
        subtitle: base.describe_with(twin.is_none(), true),
        x_label: "episode (loss just before training it)".into(),
        y_label: loss_label(base.kind).into(),
        series,
        ..Default::default()
    };
    out.emit(
        &format!("{}-online-loss.svg", base.kind.as_str()),
        plot::line_chart(&chart),
    )
}

/// Prequential loss per episode, mean ± sd over seeds; the name gets the mean over
/// epochs 2..E from run.json when every run has it (finite).
fn online_series(c: &Condition, name: String) -> Series {
    let rows: Vec<Vec<f64>> = c
        .runs
        .iter()
        .map(|r| {
            let order = r.order.to_vec();
            match reawaken_analysis::metrics::online_loss(&r.losses, &order) {
                Ok(o) => o
                    .per_episode
                    .iter()
                    .map(|v| v.unwrap_or(f64::NAN))
                    .collect(),
                Err(_) => vec![f64::NAN; order.len()],
            }
        })
        .collect();
    let (y, sd) = mean_sd(&rows);
    let means: Vec<f64> = c
        .runs
        .iter()
        .filter_map(|r| r.online_loss_mean())
        .filter(|m| m.is_finite())
        .collect();
    let mean = (means.len() == c.runs.len())
        .then(|| robust_mean_sd(&means))
        .flatten();
    let name = match mean {
        // Fixed-point for ordinary losses; a huge mean (e.g. 1e308) in exponent form.
        Some((m, _)) if m.abs() < 1e6 => format!("{name} (mean epochs 2..E: {m:.3})"),
        Some((m, _)) => format!("{name} (mean epochs 2..E: {m:.3e})"),
        None => name,
    };
    Series {
        name,
        x: (1..=y.len()).map(|s| s as f64).collect(),
        y,
        sd,
        ..Default::default()
    }
}
