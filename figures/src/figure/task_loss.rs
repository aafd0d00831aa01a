//! The loss of task 1 after every episode (Fig. 10 for the toy, Fig. 1a), alone and
//! cyclic vs shuffled.

use crate::condition::{kind_label, loss_label, Condition};
use crate::plot::{self, LineChart, Series};
use crate::FigureError;

use super::{mean_sd, Output};

/// `<kind>-task1-loss.svg` of the reference condition.
pub(crate) fn task1(base: &Condition, out: &mut Output<'_>) -> Result<(), FigureError> {
    let chart = LineChart {
        title: format!("{}: loss of task 1", kind_label(base.kind)),
        subtitle: base.describe(),
        x_label: "episodes trained".into(),
        y_label: loss_label(base.kind).into(),
        series: vec![task_series(base, 0, base.first().order_name())],
        marker_label: Some("just before training task 1".into()),
        ..Default::default()
    };
    out.emit(
        &format!("{}-task1-loss.svg", base.kind.as_str()),
        plot::line_chart(&chart),
    )
}

/// `<kind>-loss-task1-<order>-vs-<order>.svg` of the reference and its `--order` twin,
/// or a note when there is no twin.
pub(crate) fn task1_vs_twin(
    base: &Condition,
    twin: Option<&Condition>,
    out: &mut Output<'_>,
) -> Result<(), FigureError> {
    let k = base.kind.as_str();
    let Some(tw) = twin else {
        out.note(format!(
            "{k}-loss-task1-cyclic-vs-shuffled.svg not drawn: no {k} run that differs from {} only in --order",
            base.first().dir.display()
        ));
        return Ok(());
    };
    let (a, b) = (base.first().order_name(), tw.first().order_name());
    let chart = LineChart {
        title: format!("{}: task 1 loss, {a} vs {b}", kind_label(base.kind)),
        subtitle: base.describe_with(false, true),
        x_label: "episodes trained".into(),
        y_label: loss_label(base.kind).into(),
        series: vec![
            task_series(base, 0, a.clone()),
            task_series(tw, 0, b.clone()),
        ],
        marker_label: Some("just before training task 1".into()),
        ..Default::default()
    };
    out.emit(
        &format!("{k}-loss-task1-{a}-vs-{b}.svg"),
        plot::line_chart(&chart),
    )
}

/// Loss of `task` over all rows, averaged over seeds, with markers just before each
/// episode that trains `task` (from the first run's order).
fn task_series(c: &Condition, task: usize, name: String) -> Series {
    let rows: Vec<Vec<f64>> = c
        .runs
        .iter()
        .map(|r| r.losses.column(task).to_vec())
        .collect();
    let (y, sd) = mean_sd(&rows);
    let x: Vec<f64> = (0..y.len()).map(|s| s as f64).collect();
    let markers = c
        .first()
        .order
        .iter()
        .enumerate()
        .filter(|(_, &o)| o == task as i64)
        .filter_map(|(s, _)| y.get(s).map(|v| (s as f64, *v)))
        .collect();
    Series {
        name,
        x,
        y,
        sd,
        markers,
        ..Default::default()
    }
}
