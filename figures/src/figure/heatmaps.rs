//! The recorder heatmaps of LLM runs (Fig. 8a–d): gradient similarity, pairwise
//! recovery, weight-residual and activation similarity.

use crate::condition::Condition;
use crate::plot::{self, Heatmap};
use crate::FigureError;

use super::{first_array2, Found, Output};
use crate::input::Extent;

/// One recorder heatmap: where its matrix comes from and how it is labelled.
struct HeatmapSpec {
    /// Array file of the record.
    file: &'static str,
    /// Figure file.
    name: &'static str,
    title: &'static str,
    x_label: &'static str,
    y_label: &'static str,
    /// Colour-bar label.
    value_label: &'static str,
    /// First index on the axes (1: tasks, 0: episodes).
    index_base: usize,
    /// The shape the record needs: (T, T) or (episodes+1, episodes+1).
    shape: [Extent; 2],
    /// The `--record` value that writes the array.
    record: &'static str,
}

const HEATMAPS: [HeatmapSpec; 4] = [
    HeatmapSpec {
        file: "grad_cosine.npy",
        name: "llm-heatmap-gradient-similarity.svg",
        title: "Gradient cosine similarity between tasks",
        x_label: "task j",
        y_label: "task i",
        value_label: "cosine similarity",
        index_base: 1,
        shape: [Extent::Tasks, Extent::Tasks],
        record: "grads",
    },
    HeatmapSpec {
        file: "pairwise.npy",
        name: "llm-heatmap-pairwise-recovery.svg",
        title: "Loss recovery: train on task i, evaluate task j",
        x_label: "evaluated task j",
        y_label: "trained task i",
        value_label: "loss before − after (nats)",
        index_base: 1,
        shape: [Extent::Tasks, Extent::Tasks],
        record: "pairwise",
    },
    HeatmapSpec {
        file: "weights_residual_cosine.npy",
        name: "llm-heatmap-weight-residual-similarity.svg",
        title: "Cosine similarity of weight residuals",
        x_label: "episode",
        y_label: "episode",
        value_label: "cosine similarity",
        index_base: 0,
        shape: [Extent::Rows, Extent::Rows],
        record: "weights",
    },
    HeatmapSpec {
        file: "acts_cosine.npy",
        name: "llm-heatmap-activation-similarity.svg",
        title: "Cosine similarity of last-layer activations (doc 1)",
        x_label: "episode",
        y_label: "episode",
        value_label: "cosine similarity",
        index_base: 0,
        shape: [Extent::Rows, Extent::Rows],
        record: "acts",
    },
];

/// How many recorder heatmaps there are ([`heatmap`] draws each).
pub(crate) const COUNT: usize = HEATMAPS.len();

/// Recorder heatmap `index` (< [`COUNT`]), from the first run of the reference condition
/// that has its array in the shape the record needs, or a note naming the array and the
/// `--record` value that writes it (or, for each run, why its array is unusable).
pub(crate) fn heatmap(
    base: &Condition,
    index: usize,
    out: &mut Output<'_>,
) -> Result<(), FigureError> {
    if let Some(spec) = HEATMAPS.get(index) {
        match first_array2(base, spec.file, spec.shape, spec.name, out) {
            Found::Yes((seed, a)) => {
                let h = Heatmap {
                    title: format!("{} (seed {seed})", spec.title),
                    x_label: spec.x_label.into(),
                    y_label: spec.y_label.into(),
                    value_label: spec.value_label.into(),
                    values: a.iter().copied().collect(),
                    rows: a.nrows(),
                    cols: a.ncols(),
                    index_base: spec.index_base,
                };
                out.emit(spec.name, plot::heatmap(&h))?;
            }
            Found::Unusable => {}
            Found::Absent => out.note(format!(
                "{} not drawn: no run of {} has {} (record it with --record {})",
                spec.name,
                base.first().dir.display(),
                spec.file,
                spec.record
            )),
        }
    }
    Ok(())
}
