//! Cosine similarities, update norms and windowed residuals of row trajectories
//! (the probe's recorders `grads`, `weights`, `acts`; paper Fig. 8, 9, 22).
//!
//! Inputs are n×D matrices whose rows are vectors (gradients of T documents, weight or
//! activation snapshots after each episode). Element type `f32` or `f64`; results `f64`.

use ndarray::{Array1, Array2, ArrayBase, Axis, Data, Ix2};

/// Cosine-similarity matrix of the rows of `x`: entry (i, j) = ⟨xᵢ, xⱼ⟩ / (‖xᵢ‖‖xⱼ‖),
/// shape (n, n), symmetric with 1 on the diagonal. A row of norm 0 has no direction:
/// its whole row and column are NaN (numpy: `np.isnan` to mask them in a heatmap).
pub fn cosine_similarity_matrix<S, A>(x: &ArrayBase<S, Ix2>) -> Array2<f64>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    let mut xn: Array2<f64> = x.mapv(Into::into);
    let mut direction = vec![true; xn.nrows()];
    for (i, mut row) in xn.axis_iter_mut(Axis(0)).enumerate() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 && norm.is_finite() {
            row /= norm;
        } else {
            direction[i] = false;
        }
    }
    let mut c = xn.dot(&xn.t());
    apply_cosine_rule(&mut c, &direction);
    c
}

/// The one rule of every cosine matrix in reawaken, applied to the Gram matrix of
/// unit-normalised rows (however it was computed, e.g. on a GPU): rows without a
/// direction (`has_direction[i] == false`: norm 0 or not finite) get NaN in their row
/// and column, the diagonal is exactly 1, and the rest is clamped to [−1, 1].
pub fn apply_cosine_rule(gram: &mut Array2<f64>, has_direction: &[bool]) {
    let n = gram.nrows();
    for i in 0..n {
        for j in 0..n {
            if !has_direction[i] || !has_direction[j] {
                gram[[i, j]] = f64::NAN;
            } else if i == j {
                gram[[i, j]] = 1.0;
            } else {
                gram[[i, j]] = gram[[i, j]].clamp(-1.0, 1.0);
            }
        }
    }
}

/// Euclidean norms of consecutive differences ‖x_{s+1} − x_s‖, length n − 1 (empty for
/// n < 2). For weight snapshots after every episode: the size of each episode's update.
pub fn consecutive_diff_norms<S, A>(x: &ArrayBase<S, Ix2>) -> Array1<f64>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    let n = x.nrows();
    Array1::from_iter((1..n).map(|s| {
        x.row(s)
            .iter()
            .zip(x.row(s - 1).iter())
            .map(|(&a, &b)| {
                let d = a.into() - b.into();
                d * d
            })
            .sum::<f64>()
            .sqrt()
    }))
}

/// Start row of the window of length `window` centred at row `t` among `n` rows.
///
/// The window is rows `lo..lo+window` with `lo = t − ⌊window/2⌋` (for an even window the
/// centre row is the right one of the two middle rows), **shifted** to stay inside
/// `0..n` so that it always has full length — near the edges it is not centred but it
/// still spans exactly one cycle, so a period-`window` signal still averages out. If
/// `n < window` the window is all rows.
pub fn window_start(t: usize, n: usize, window: usize) -> usize {
    if window >= n {
        return 0;
    }
    t.saturating_sub(window / 2).min(n - window)
}

/// Windowed residual of a trajectory (the `weights` recorder): row t of the result is
/// `x_t − mean(x_lo .. x_{lo+window−1})`, the mean over the window of length `window`
/// (normally T, one cycle) around t as defined by [`window_start`]. This removes the slow
/// drift of the trajectory and keeps the within-cycle structure. `window = 0` is
/// treated as 1 (the residual is then 0). Shape (n, D); O(n·D) time.
pub fn windowed_residual<S, A>(x: &ArrayBase<S, Ix2>, window: usize) -> Array2<f64>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    let (n, d) = x.dim();
    let mut out: Array2<f64> = x.mapv(Into::into);
    if n == 0 {
        return out;
    }
    let window = window.max(1).min(n);
    // Running sum of the current window.
    let mut lo = 0usize;
    let mut sum = Array1::<f64>::zeros(d);
    for r in 0..window {
        sum += &out.row(r);
    }
    let xs: Array2<f64> = out.clone();
    for t in 0..n {
        let want = window_start(t, n, window);
        while lo < want {
            sum -= &xs.row(lo);
            sum += &xs.row(lo + window);
            lo += 1;
        }
        let mean = &sum / window as f64;
        let mut row = out.row_mut(t);
        row -= &mean;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cosine_matrix() {
        let x = array![[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 0.0], [0.0, 0.0]];
        let c = cosine_similarity_matrix(&x);
        assert_eq!(c[[0, 0]], 1.0);
        assert!(c[[0, 1]].abs() < 1e-15);
        assert!((c[[0, 2]] - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((c[[0, 3]] + 1.0).abs() < 1e-15);
        assert_eq!(c[[2, 0]], c[[0, 2]]);
        assert!(c[[4, 0]].is_nan() && c[[4, 4]].is_nan() && c[[1, 4]].is_nan());
    }

    #[test]
    fn diff_norms() {
        let x = array![[0.0f32, 0.0], [3.0, 4.0], [3.0, 5.0]];
        assert_eq!(consecutive_diff_norms(&x), array![5.0, 1.0]);
        assert_eq!(
            consecutive_diff_norms(&x.slice(ndarray::s![..1, ..])).len(),
            0
        );
    }

    #[test]
    fn window_positions() {
        // odd window 3 among 10 rows: centred, shifted at edges
        assert_eq!(window_start(0, 10, 3), 0);
        assert_eq!(window_start(1, 10, 3), 0);
        assert_eq!(window_start(5, 10, 3), 4);
        assert_eq!(window_start(9, 10, 3), 7);
        // even window 4: rows t-2..t+1
        assert_eq!(window_start(5, 10, 4), 3);
        assert_eq!(window_start(9, 10, 4), 6);
        assert_eq!(window_start(3, 2, 4), 0);
    }

    #[test]
    fn residual_removes_drift_and_keeps_the_cycle() {
        // x_t = drift·t + periodic(t mod 4) (periodic part sums to 0 over a cycle)
        let per = [1.0, -2.0, 0.5, 0.5];
        let n = 17;
        let x = Array2::from_shape_fn((n, 2), |(t, j)| {
            let drift = 0.3 * t as f64 * (j as f64 + 1.0);
            drift + per[t % 4]
        });
        let r = windowed_residual(&x, 4);
        for t in 0..n {
            // residual = periodic part + (drift_t − mean drift over the window)
            let lo = window_start(t, n, 4) as f64;
            for j in 0..2 {
                let slope = 0.3 * (j as f64 + 1.0);
                let expected = per[t % 4] + slope * (t as f64 - (lo + 1.5));
                assert!((r[[t, j]] - expected).abs() < 1e-12, "t={t} j={j}");
            }
        }
        // brute-force check of the running-sum implementation
        let y = Array2::from_shape_fn((9, 3), |(i, j)| ((i * 7 + j * 3) % 5) as f64 - 1.7);
        for w in [1, 2, 3, 5, 9, 12] {
            let r = windowed_residual(&y, w);
            for t in 0..9 {
                let lo = window_start(t, 9, w);
                let hi = (lo + w).min(9);
                let m = y.slice(ndarray::s![lo..hi, ..]).mean_axis(Axis(0)).unwrap();
                for j in 0..3 {
                    assert!((r[[t, j]] - (y[[t, j]] - m[j])).abs() < 1e-12);
                }
            }
        }
    }
}
