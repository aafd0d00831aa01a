//! PCA at the sizes the recorders produce: `weights`/`acts` trajectories of n snapshots ×
//! D = 4096 sketched coordinates (and the exact 500 × 32 896 of a tiny model's
//! `embed_out`). Runs both sides in one process and prints the ratio:
//!
//! - nalgebra: `SymmetricEigen` of the Gram matrix (the implementation before
//!   `ndarray-linalg`), kept here as the reference;
//! - `reawaken_analysis::pca::pca`: its eigen-decomposition by nalgebra too up to
//!   `eigen::SMALL` rows (the same solver: the difference is the rest of the PCA), LAPACK
//!   `dsyev` through `ndarray-linalg` beyond.
//!
//! ```text
//! cargo run --release -p reawaken-analysis --example pca_bench [-- REPS]
//! ```

use std::time::Instant;

use nalgebra::{DMatrix, SymmetricEigen};
use ndarray::{Array2, Axis};

#[path = "support/trajectory.rs"]
mod trajectory;
use trajectory::trajectory;

/// Top-k scores with nalgebra's symmetric eigen-solver on the n×n Gram matrix and the
/// same sign rule as `pca` (largest-magnitude entry of each component positive).
fn scores_nalgebra(x: &Array2<f64>, k: usize) -> Array2<f64> {
    let mean = x.mean_axis(Axis(0)).expect("rows");
    let xc = x - &mean;
    let g = xc.dot(&xc.t());
    let m = g.nrows();
    let eig = SymmetricEigen::new(DMatrix::from_fn(m, m, |i, j| g[[i, j]]));
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut comps = Array2::<f64>::zeros((k, x.ncols()));
    for (c, &i) in idx.iter().take(k).enumerate() {
        let u = ndarray::Array1::from_iter(eig.eigenvectors.column(i).iter().copied());
        let mut comp = xc.t().dot(&u);
        let norm = comp.dot(&comp).sqrt();
        comp /= norm;
        let big = comp
            .iter()
            .copied()
            .fold(0.0f64, |a, v| if v.abs() > a.abs() { v } else { a });
        if big < 0.0 {
            comp.mapv_inplace(|v| -v);
        }
        comps.row_mut(c).assign(&comp);
    }
    xc.dot(&comps.t())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    println!("PCA, top 3 components, median of {reps} runs each (both sides in this process)");
    println!(
        "{:>14} {:>12} {:>12} {:>7} {:>14}",
        "n x D", "nalgebra s", "pca s", "ratio", "max |Δscore|/max|score|"
    );
    for &(n, d) in &[
        (126usize, 4096usize),
        (250, 4096),
        (500, 4096),
        (500, 32_896),
    ] {
        let x = trajectory(n, d, 7);
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        let (mut a, mut b) = (Array2::zeros((0, 0)), Array2::zeros((0, 0)));
        for _ in 0..reps {
            let t = Instant::now();
            a = scores_nalgebra(&x, 3);
            ta.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            b = reawaken_analysis::pca::pca(&x, 3).expect("pca").scores;
            tb.push(t.elapsed().as_secs_f64());
        }
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let diff = (&a - &b).iter().fold(0.0f64, |m, v| m.max(v.abs())) / scale;
        let (ma, mb) = (median(ta), median(tb));
        println!(
            "{:>14} {:>12.4} {:>12.4} {:>6.2}x {:>14.2e}",
            format!("{n} x {d}"),
            ma,
            mb,
            ma / mb,
            diff
        );
    }
}
