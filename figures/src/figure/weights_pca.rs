//! The weight trajectory (Fig. 9): the top-3 PCA of an LLM run's raw weights
//! (`weights_pca.npy`; the output embedding by default, as the paper), one colour per epoch.

use crate::condition::Condition;
use crate::plot::{self, Segment3, Trajectory3};
use crate::FigureError;

use super::{first_array2, Found, Output};
use crate::input::Extent;

const NAME: &str = "llm-weights-pca-trajectory.svg";

/// `llm-weights-pca-trajectory.svg` from the first run of the reference condition that
/// has `weights_pca.npy` of shape (episodes+1, 3), or a note saying why not.
pub(crate) fn weights_pca(base: &Condition, out: &mut Output<'_>) -> Result<(), FigureError> {
    let shape = [Extent::Rows, Extent::Fixed(3)];
    match first_array2(base, "weights_pca.npy", shape, NAME, out) {
        Found::Yes((seed, a)) if a.nrows() > 1 => {
            let t = base.first().tasks().max(1);
            let n = a.nrows();
            let mut segments = Vec::new();
            let mut start = 0;
            let mut epoch = 1;
            // Epoch e spans episodes (e−1)·T ..= e·T: neighbouring epochs share a point.
            while start + 1 < n {
                let end = (start + t).min(n - 1);
                let pts = (start..=end)
                    .map(|i| (a[[i, 0]], a[[i, 1]], a[[i, 2]]))
                    .collect();
                segments.push(Segment3 {
                    name: format!("epoch {epoch}"),
                    points: pts,
                });
                start = end;
                epoch += 1;
            }
            let tr = Trajectory3 {
                title: format!("Weights: top-3 PCA trajectory (seed {seed})"),
                axis_names: ["PC1".into(), "PC2".into(), "PC3".into()],
                segments,
            };
            out.emit(NAME, plot::trajectory3(&tr))
        }
        Found::Yes(_) => {
            out.note(format!(
                "{NAME} not drawn: weights_pca.npy has one row (a record without episodes)"
            ));
            Ok(())
        }
        Found::Unusable => Ok(()),
        Found::Absent => {
            out.note(format!(
                "{NAME} not drawn: no run of {} has weights_pca.npy (record it with --record weights)",
                base.first().dir.display()
            ));
            Ok(())
        }
    }
}
