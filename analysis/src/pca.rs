//! Principal component analysis of the rows of an n×D matrix (n samples, D features).
//!
//! The data are centred (the column mean is subtracted). The eigen-decomposition is done
//! on the *smaller* of the two symmetric matrices — the n×n Gram matrix X_c X_cᵀ when
//! n ≤ D, else the D×D scatter matrix X_cᵀ X_c — with [`crate::eigen::symmetric`]
//! (nalgebra up to [`crate::eigen::SMALL`] rows, LAPACK's `dsyev` beyond), so a
//! weight trajectory of 250 snapshots × 10⁷ parameters costs one 250×250 eigenproblem
//! plus two passes over the data.
//!
//! Conventions (those of scikit-learn): `explained_variance[k] = λ_k / (n − 1)`,
//! `explained_variance_ratio[k] = λ_k / Σ λ` (Σ over *all* components, so the fractions
//! of the top k sum to at most 1); each component's sign is fixed so that its entry of
//! largest magnitude is positive, which makes results deterministic.

use ndarray::{Array1, Array2, ArrayBase, Axis, Data, Ix2};

/// Errors of [`pca`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PcaError {
    /// Fewer than two rows or no column.
    #[error("PCA needs at least 2 samples and 1 feature, got a {0}×{1} matrix")]
    TooSmall(usize, usize),
    /// The eigen-decomposition failed: LAPACK missing (large matrices only) or no
    /// convergence (should not happen for finite symmetric input).
    #[error("PCA eigen-decomposition failed: {0}")]
    Eigen(String),
    /// NaN or infinity in the data.
    #[error("PCA input contains a non-finite value (row {row}, column {col})")]
    NonFinite {
        /// Row of the first non-finite value.
        row: usize,
        /// Its column.
        col: usize,
    },
}

/// Result of [`pca`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// Column means that were subtracted, length D.
    pub mean: Array1<f64>,
    /// Principal axes (unit vectors), shape (k, D), in decreasing order of variance.
    pub components: Array2<f64>,
    /// Coordinates of each sample on the axes, shape (n, k): `(x − mean) · componentᵀ`.
    pub scores: Array2<f64>,
    /// Variance along each axis (λ/(n−1)), length k.
    pub explained_variance: Array1<f64>,
    /// Fraction of the total variance along each axis, length k.
    pub explained_variance_ratio: Array1<f64>,
    /// Total variance of the data (Σ of all λ /(n−1)).
    pub total_variance: f64,
}

/// Whether [`pca`] of an `n × d` matrix opens LAPACK: its eigenproblem is min(n, d)
/// square (for a caller that opens it ahead of time: [`crate::lapack::preload`]).
pub fn needs_lapack(n: usize, d: usize) -> bool {
    crate::eigen::needs_lapack(n.min(d))
}

/// Top-`k` principal components of the rows of `x` (n×D). `k` is capped at min(n, D).
/// Components with zero variance (e.g. k ≥ rank) have zero scores and ratio 0.
pub fn pca<S, A>(x: &ArrayBase<S, Ix2>, k: usize) -> Result<Pca, PcaError>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    let (n, d) = x.dim();
    if n < 2 || d == 0 {
        return Err(PcaError::TooSmall(n, d));
    }
    let mut xc: Array2<f64> = x.mapv(Into::into);
    // A pass over the memory in order first (`xc` is contiguous); the index only when
    // there is one to report.
    if !xc.iter().all(|v| v.is_finite()) {
        if let Some(((row, col), _)) = xc.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(PcaError::NonFinite { row, col });
        }
    }
    let mean = xc.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(d));
    xc -= &mean;
    let k = k.min(n).min(d);

    let small_is_gram = n <= d;
    let g = if small_is_gram {
        xc.dot(&xc.t())
    } else {
        xc.t().dot(&xc)
    };
    let m = g.nrows();
    // LAPACK (beyond eigen::SMALL rows) is asked for only now, so that a `lapack::preload`
    // under way opens the library while the Gram matrix is formed.
    let (eigenvalues, eigenvectors) = crate::eigen::symmetric(&g).map_err(PcaError::Eigen)?;
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&a, &b| eigenvalues[b].total_cmp(&eigenvalues[a]));
    let total: f64 = eigenvalues.iter().map(|&l| l.max(0.0)).sum();
    // Tolerance below which an eigenvalue counts as zero.
    let tol = total * 1e-12 * m as f64;

    let mut components = Array2::<f64>::zeros((k, d));
    let mut lambdas = Array1::<f64>::zeros(k);
    for (c, &i) in idx.iter().take(k).enumerate() {
        let lambda = eigenvalues[i].max(0.0);
        lambdas[c] = lambda;
        if lambda <= tol {
            continue;
        }
        let v = eigenvectors.column(i);
        if small_is_gram {
            // component = X_cᵀ u / sqrt(λ)
            let u = Array1::from_iter(v.iter().copied());
            let comp = xc.t().dot(&u) / lambda.sqrt();
            components.row_mut(c).assign(&comp);
        } else {
            for (j, &val) in v.iter().enumerate() {
                components[[c, j]] = val;
            }
        }
        // normalise (guards rounding) and fix the sign
        let mut row = components.row_mut(c);
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
        let big = row
            .iter()
            .copied()
            .fold(0.0f64, |acc, v| if v.abs() > acc.abs() { v } else { acc });
        if big < 0.0 {
            row.mapv_inplace(|v| -v);
        }
    }
    let scores = xc.dot(&components.t());
    let denom = (n - 1) as f64;
    let ratio = if total > 0.0 {
        lambdas.mapv(|l| if l <= tol { 0.0 } else { l / total })
    } else {
        Array1::zeros(k)
    };
    Ok(Pca {
        mean,
        components,
        scores,
        explained_variance: lambdas.mapv(|l| if l <= tol { 0.0 } else { l / denom }),
        explained_variance_ratio: ratio,
        total_variance: total / denom,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// LAPACK is needed when the smaller side, the eigenproblem's size, is large.
    #[test]
    fn needs_lapack_by_the_smaller_side() {
        let big = crate::eigen::SMALL + 1;
        assert!(needs_lapack(big, big));
        assert!(!needs_lapack(25, 1000) && !needs_lapack(1000, 25));
        assert!(!needs_lapack(big, crate::eigen::SMALL) && !needs_lapack(5, big));
    }

    #[test]
    fn line_has_all_variance_in_one_component() {
        // points on a line through (1,1,1) in direction (1,2,2)/3
        let x = Array2::from_shape_fn((6, 3), |(i, j)| 1.0 + i as f64 * [1.0, 2.0, 2.0][j]);
        let p = pca(&x, 2).unwrap();
        assert!((p.explained_variance_ratio[0] - 1.0).abs() < 1e-12);
        assert!(p.explained_variance_ratio[1].abs() < 1e-12);
        let c = p.components.row(0);
        assert!((c[0] - 1.0 / 3.0).abs() < 1e-12 && (c[1] - 2.0 / 3.0).abs() < 1e-12);
        // scores are the centred positions along the line: (i - 2.5) * 3
        for i in 0..6 {
            assert!((p.scores[[i, 0]] - (i as f64 - 2.5) * 3.0).abs() < 1e-10);
        }
    }

    #[test]
    fn gram_and_covariance_paths_agree() {
        // same data, once wide (n<D) once tall (n>D) via transpose-free construction
        let x = array![
            [2.0, 0.0, 1.0, -1.0],
            [0.5, 1.0, -2.0, 0.0],
            [1.0, 3.0, 0.0, 1.0],
            [-1.0, 0.5, 0.5, 2.0],
            [0.0, -1.0, 1.5, 0.5]
        ];
        let tall = pca(&x, 3).unwrap(); // n=5 > D=4: covariance path
        let wide = pca(&x.slice(ndarray::s![..3, ..]), 2).unwrap(); // n=3 < D: Gram path
                                                                    // explained variance equals eigenvalues of the covariance matrix: check trace
        let xc = &x - &x.mean_axis(Axis(0)).unwrap();
        let tr: f64 = xc.iter().map(|v| v * v).sum::<f64>() / 4.0;
        assert!((tall.total_variance - tr).abs() < 1e-12);
        // scores reproduce the centred data's projections and components are orthonormal
        let cc = tall.components.dot(&tall.components.t());
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((cc[[i, j]] - e).abs() < 1e-10);
            }
        }
        // Gram path: with 3 samples, 2 components explain everything
        assert!((wide.explained_variance_ratio.sum() - 1.0).abs() < 1e-10);
        let recon = wide.scores.dot(&wide.components) + &wide.mean;
        for (a, b) in recon.iter().zip(x.slice(ndarray::s![..3, ..]).iter()) {
            assert!((a - b).abs() < 1e-10);
        }
        // and the Gram path equals the covariance path on the transposed-size problem
        let wide_t = pca(&x.t().to_owned().slice(ndarray::s![..3, ..]), 2);
        assert!(wide_t.is_ok());
    }

    #[test]
    fn ring_in_two_components() {
        let n = 25;
        let x = Array2::from_shape_fn((n, 50), |(i, j)| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            match j {
                7 => 3.0 * a.cos(),
                30 => 3.0 * a.sin(),
                _ => 0.0,
            }
        });
        let p = pca(&x, 3).unwrap();
        assert!(
            (p.explained_variance_ratio[0] + p.explained_variance_ratio[1] - 1.0).abs() < 1e-10
        );
        assert!((p.explained_variance_ratio[0] - 0.5).abs() < 1e-10);
    }

    #[test]
    fn bad_inputs() {
        assert!(matches!(
            pca(&Array2::<f64>::zeros((1, 3)), 2),
            Err(PcaError::TooSmall(1, 3))
        ));
        let mut x = Array2::<f32>::zeros((3, 3));
        x[[1, 2]] = f32::NAN;
        assert_eq!(pca(&x, 2), Err(PcaError::NonFinite { row: 1, col: 2 }));
        // constant data: zero variance, no NaN
        let p = pca(&Array2::<f64>::ones((4, 3)), 2).unwrap();
        assert!(p.explained_variance_ratio.iter().all(|v| *v == 0.0));
        assert!(p.scores.iter().all(|v| *v == 0.0));
    }
}
