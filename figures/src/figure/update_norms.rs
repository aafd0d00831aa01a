//! The magnitude of updates (Fig. 22): norms of the activation changes and of the weight
//! updates of an LLM run, per episode.

use crate::condition::Condition;
use crate::plot::{self, LineChart, Series};
use crate::FigureError;

use super::{first_array1, Found, Output};
use crate::input::Extent;

const NAME: &str = "llm-update-norms.svg";

/// `llm-update-norms.svg`: one panel per array found (`acts_change_norm.npy`,
/// `weights_update_norm.npy`, each of shape (episodes,)), or a note when neither is
/// there (a misshapen array has its own note).
pub(crate) fn update_norms(base: &Condition, out: &mut Output<'_>) -> Result<(), FigureError> {
    let mut panels = Vec::new();
    let mut unusable = false;
    for (file, what) in [
        ("acts_change_norm.npy", "(a) activation change ‖Δh‖"),
        ("weights_update_norm.npy", "(b) weight update ‖Δw‖"),
    ] {
        let found = first_array1(base, file, Extent::Episodes, NAME, out);
        unusable |= matches!(found, Found::Unusable);
        if let Found::Yes(a) = found {
            panels.push(LineChart {
                title: what.into(),
                x_label: "episode".into(),
                y_label: "L2 norm".into(),
                series: vec![Series {
                    name: what.into(),
                    x: (1..=a.len()).map(|i| i as f64).collect(),
                    y: a.to_vec(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    if panels.is_empty() && unusable {
        return Ok(());
    }
    if panels.is_empty() {
        out.note(format!(
            "{NAME} not drawn: no acts_change_norm.npy or weights_update_norm.npy (record with --record acts,weights)"
        ));
        return Ok(());
    }
    let w = 560 * panels.len() as u32;
    let title = format!(
        "Magnitude of updates through {} training (seed {})",
        base.first().order_name(),
        base.first().seed()
    );
    out.emit(NAME, plot::line_panels(&title, &panels, (w, 420)))
}
