//! The toy ring (Fig. 11): f_i⁻¹(P x_i) of every task on its top-2 principal components,
//! one panel per epoch, from `points.npy`.

use crate::condition::Condition;
use crate::plot::{self, RingPanel};
use crate::FigureError;

use super::{first_with, Found, Output};
use crate::input::Extent;

const NAME: &str = "toy-ring-by-epoch.svg";

/// At most this many epoch panels (evenly spaced, first and last included).
const MAX_PANELS: usize = 12;

/// `toy-ring-by-epoch.svg` from the first run of the reference condition that has
/// `points.npy` of shape (E+1, T, M), or a note saying why not.
pub(crate) fn toy_ring(base: &Condition, out: &mut Output<'_>) -> Result<(), FigureError> {
    let shape = [Extent::EpochsPlusOne, Extent::Tasks, Extent::Any("M")];
    let found = first_with(base, out, NAME, |r| {
        Ok(r.checked3("points.npy", shape)?.map(|p| (r, p)))
    });
    let (run, p) = match found {
        Found::Yes(f) => f,
        Found::Unusable => return Ok(()),
        Found::Absent => {
            out.note(format!(
                "{NAME} not drawn: no run of {} has points.npy",
                base.first().dir.display()
            ));
            return Ok(());
        }
    };
    let (e1, t, _) = p.dim();
    let picks: Vec<usize> = if e1 <= MAX_PANELS {
        (0..e1).collect()
    } else {
        let mut v: Vec<usize> = (0..MAX_PANELS)
            .map(|i| i * (e1 - 1) / (MAX_PANELS - 1))
            .collect();
        v.dedup();
        v
    };
    let mut panels = Vec::new();
    for e in picks {
        let rows: Vec<Vec<f64>> = (0..t)
            .map(|i| p.slice(ndarray::s![e, i, ..]).to_vec())
            .collect();
        if let Some((pts, frac)) = pca2(&rows) {
            let caption = if frac.is_finite() {
                format!("epoch {e} ({:.0}% var.)", frac * 100.0)
            } else {
                format!("epoch {e}")
            };
            panels.push(RingPanel {
                caption,
                points: pts,
            });
        }
    }
    if panels.is_empty() {
        out.note(format!(
            "{NAME} not drawn: points.npy of {} has no finite epoch",
            run.dir.display()
        ));
        return Ok(());
    }
    let title = format!(
        "Toy model: f⁻¹(Px) in top-2 PCA, by epoch (seed {})",
        run.seed()
    );
    out.emit(NAME, plot::ring_grid(&title, &panels, t))
}

/// Top-2 PCA of the rows of a (T × M) matrix: coordinates and explained variance
/// fraction; None when no task has finite coordinates (e.g. values near ±1e308, whose
/// squares overflow).
fn pca2(rows: &[Vec<f64>]) -> Option<(Vec<(f64, f64)>, f64)> {
    let t = rows.len();
    let m = rows.first()?.len();
    if t < 2 || m < 2 {
        return None;
    }
    let x = ndarray::Array2::from_shape_fn((t, m), |(i, j)| rows[i][j]);
    let p = reawaken_analysis::pca::pca(&x, 2).ok()?;
    if p.scores.ncols() < 2 {
        return None;
    }
    let frac = p.explained_variance_ratio.iter().take(2).sum::<f64>();
    let mut p1 = p.scores.column(0).to_vec();
    let mut p2 = p.scores.column(1).to_vec();
    // Fix signs so panels are comparable: task 1 on the positive PC1 side, task ⌊T/4⌋+1 on positive PC2.
    if p1[0] < 0.0 {
        p1.iter_mut().for_each(|v| *v = -*v);
    }
    if p2[t / 4] < 0.0 {
        p2.iter_mut().for_each(|v| *v = -*v);
    }
    let pts: Vec<(f64, f64)> = p1.into_iter().zip(p2).collect();
    if !pts.iter().any(|q| q.0.is_finite() && q.1.is_finite()) {
        return None;
    }
    Some((pts, frac))
}
