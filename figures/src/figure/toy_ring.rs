//! The toy ring (Fig. 11): f_i⁻¹(P x_i) of every task on its top-2 principal components,
//! one panel per epoch, from `points.npy`.

use crate::condition::Condition;
use crate::plot::{self, RingPanel};
use crate::FigureError;

use super::{first_with, Output};

const NAME: &str = "toy-ring-by-epoch.svg";

/// At most this many epoch panels (evenly spaced, first and last included).
const MAX_PANELS: usize = 12;

/// `toy-ring-by-epoch.svg` from the first run of the reference condition that has
/// `points.npy`, or a note saying why not.
pub(crate) fn toy_ring(base: &Condition, out: &mut Output<'_>) -> Result<(), FigureError> {
    let found = first_with(base, out, Some(NAME), |r| {
        Ok(r.optional3("points.npy")?.map(|p| (r, p)))
    });
    let Some((run, p)) = found else {
        out.note(format!(
            "{NAME} not drawn: no run of {} has points.npy",
            base.first().dir.display()
        ));
        return Ok(());
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
            panels.push(RingPanel {
                caption: format!("epoch {e} ({:.0}% var.)", frac * 100.0),
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

/// Top-2 PCA of the rows of a (T × M) matrix: coordinates and explained variance fraction.
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
    Some((p1.into_iter().zip(p2).collect(), frac))
}
