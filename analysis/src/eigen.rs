//! Eigen-decomposition of a real symmetric matrix: the one the PCA needs.
//!
//! Up to [`SMALL`] rows it is computed here, in Rust: Householder reduction to
//! tridiagonal form, then the implicit QL algorithm with Wilkinson shifts (`tred2` and
//! `tql2` of EISPACK, in the form of the public-domain JAMA library; LAPACK's `dsyev` runs
//! the same two stages). A toy run's points (T × T for T tasks) and the weight trajectory
//! of a short probe (one row per episode) stay below it, so neither the toy nor the
//! gallery's figures open LAPACK at all: opening the OpenBLAS library costs a few
//! milliseconds of a process that otherwise takes about fifteen. Larger matrices go to
//! LAPACK's `dsyev` ([`crate::lapack`]), whose blocked code is faster there.

use ndarray::{Array1, Array2, ShapeBuilder};
use ndarray_linalg::{Eigh, UPLO};

/// The largest matrix decomposed here rather than by LAPACK. Up to it this code takes
/// 0.7–1.5× LAPACK's time (`examples/eigen_bench.rs`: about 10 ms against 8 ms at 192
/// rows), and never more beyond it than the 3–4 ms that opening the library costs a
/// process (at 256 rows it would: 18–23 ms against 13–17 ms).
pub const SMALL: usize = 192;

/// Whether [`symmetric`] needs LAPACK for an `n × n` matrix (for a caller that opens it
/// ahead of time: [`crate::lapack::preload`]).
pub fn needs_lapack(n: usize) -> bool {
    n > SMALL
}

/// Eigenvalues (in no particular order) and unit eigenvectors (the columns, in the same
/// order) of the symmetric matrix `a`; only its lower triangle is read. Errors: LAPACK
/// missing or not converging (large matrices), a non-finite entry, or no convergence.
pub fn symmetric(a: &Array2<f64>) -> Result<(Array1<f64>, Array2<f64>), String> {
    let n = a.nrows();
    if a.ncols() != n {
        return Err(format!("not a square matrix: {n}×{}", a.ncols()));
    }
    if needs_lapack(n) {
        crate::lapack::available()?;
        return a.eigh(UPLO::Lower).map_err(|e| e.to_string());
    }
    symmetric_in_rust(a)
}

/// [`symmetric`] computed here whatever the size (what it does up to [`SMALL`] rows;
/// public for `examples/eigen_bench.rs`, which times it against LAPACK).
pub fn symmetric_in_rust(a: &Array2<f64>) -> Result<(Array1<f64>, Array2<f64>), String> {
    let n = a.nrows();
    if a.ncols() != n {
        return Err(format!("not a square matrix: {n}×{}", a.ncols()));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err("the matrix has a non-finite entry".into());
    }
    // Column-major (element (i, j) at i + j·n): the inner loops below walk columns.
    let mut v: Vec<f64> = (0..n * n)
        .map(|ij| {
            let (i, j) = (ij % n, ij / n);
            // The lower triangle, mirrored.
            if j <= i {
                a[[i, j]]
            } else {
                a[[j, i]]
            }
        })
        .collect();
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    if n > 0 {
        tridiagonalize(n, &mut v, &mut d, &mut e);
        diagonalize(n, &mut v, &mut d, &mut e)?;
    }
    let vectors = Array2::from_shape_vec((n, n).f(), v).map_err(|e| e.to_string())?;
    Ok((Array1::from(d), vectors))
}

/// Householder reduction of the symmetric matrix in `v` (column-major n × n) to tridiagonal
/// form: afterwards `d` holds the diagonal, `e[1..]` the subdiagonal, and `v` the
/// orthogonal transformation (JAMA's `tred2`).
fn tridiagonalize(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let at = |i: usize, j: usize| i + j * n;
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
    }
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            // The Householder vector.
            for x in &mut d[..i] {
                *x /= scale;
                h += *x * *x;
            }
            let mut f = d[i - 1];
            let mut g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].fill(0.0);
            // The similarity transformation of the remaining columns.
            for j in 0..i {
                f = d[j];
                v[at(j, i)] = f;
                g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    // Accumulate the transformations.
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(k, i + 1)] * v[at(k, j)]).sum();
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// The implicit QL algorithm on the tridiagonal matrix (`d`, `e`) left by
/// [`tridiagonalize`], accumulating its rotations into `v` (JAMA's `tql2`, without the
/// final sort): `d` ends as the eigenvalues, the columns of `v` as their eigenvectors.
fn diagonalize(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) -> Result<(), String> {
    let at = |i: usize, j: usize| i + j * n;
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0f64;
    let mut tst1 = 0.0f64;
    let eps = f64::EPSILON;
    // Each eigenvalue converges in a few iterations (cubically); this bound is never
    // reached by finite input.
    let max_iterations = 60 * n.max(1);
    let mut iterations = 0;
    for l in 0..n {
        // The first negligible subdiagonal entry from l on.
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n && e[m].abs() > eps * tst1 {
            m += 1;
        }
        // m < n always: e[n - 1] is zero.
        if m > l {
            loop {
                iterations += 1;
                if iterations > max_iterations {
                    return Err(format!(
                        "the symmetric eigensolver did not converge in {max_iterations} iterations"
                    ));
                }
                // The implicit shift.
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for x in &mut d[l + 2..] {
                    *x -= h;
                }
                f += h;
                // The QL transformation.
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    for k in 0..n {
                        let h = v[at(k, i + 1)];
                        v[at(k, i + 1)] = s * v[at(k, i)] + c * h;
                        v[at(k, i)] = c * v[at(k, i)] - s * h;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// B·Bᵀ − c·I for B (n × (n + 3)) uniform in (−1, 1) from a splitmix64 stream: positive
    /// and negative eigenvalues of different sizes.
    fn random_symmetric(n: usize, seed: u64) -> Array2<f64> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as f64 / u64::MAX as f64 * 2.0 - 1.0
        };
        let b = Array2::from_shape_simple_fn((n, n + 3), &mut next);
        b.dot(&b.t()) - Array2::<f64>::eye(n) * (n as f64 / 3.0)
    }

    /// A·v = λ·v for every pair, the vectors orthonormal, all to rounding.
    fn assert_decomposes(a: &Array2<f64>, values: &Array1<f64>, vectors: &Array2<f64>) {
        let n = a.nrows();
        assert!(values.iter().chain(vectors).all(|x| x.is_finite()), "n {n}");
        let norm = a
            .iter()
            .map(|x| x.abs())
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE);
        let tol = 1e-13 * n.max(1) as f64;
        for k in 0..n {
            let v = vectors.column(k);
            let residual = &a.dot(&v) - &(&v * values[k]);
            let worst = residual.iter().map(|x| x.abs()).fold(0.0, f64::max);
            assert!(
                worst <= tol * norm,
                "n {n}, pair {k}: |Av - lv| = {worst:e}"
            );
        }
        let gram = vectors.t().dot(vectors);
        for ((i, j), g) in gram.indexed_iter() {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((g - want).abs() <= tol, "n {n}: VtV[{i},{j}] = {g}");
        }
    }

    fn sorted(v: &Array1<f64>) -> Vec<f64> {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    }

    #[test]
    fn decomposes_random_matrices_as_lapack_does() {
        for n in (1..=40).chain([64, SMALL]) {
            let a = random_symmetric(n, n as u64);
            let (values, vectors) = symmetric(&a).unwrap();
            assert_decomposes(&a, &values, &vectors);
            // Same eigenvalues as LAPACK's dsyev.
            crate::lapack::available().unwrap();
            let (want, _) = a.eigh(UPLO::Lower).unwrap();
            let scale = want.iter().map(|x| x.abs()).fold(0.0, f64::max);
            for (got, want) in sorted(&values).iter().zip(sorted(&want)) {
                assert!(
                    (got - want).abs() <= 1e-13 * n as f64 * scale,
                    "n {n}: {got} vs LAPACK {want}"
                );
            }
        }
    }

    #[test]
    fn reads_only_the_lower_triangle() {
        let a = random_symmetric(9, 1);
        let mut upper_garbage = a.clone();
        for i in 0..9 {
            for j in i + 1..9 {
                upper_garbage[[i, j]] = 1e6 * (i + j) as f64;
            }
        }
        assert_eq!(symmetric(&a), symmetric(&upper_garbage));
    }

    #[test]
    fn handles_degenerate_and_rank_deficient_matrices() {
        let cases = [
            Array2::<f64>::zeros((5, 5)),
            Array2::<f64>::eye(6) * 3.0,
            // Rank 1 (a centred Gram matrix is rank deficient by construction).
            {
                let u = ndarray::array![[1.0], [-2.0], [0.5], [0.0]];
                u.dot(&u.t())
            },
            // Already tridiagonal, with a repeated eigenvalue.
            ndarray::array![[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 3.0]],
            // Entries many orders of magnitude apart.
            ndarray::array![[1e-12, 0.0], [0.0, 1e12]],
        ];
        for a in &cases {
            let (values, vectors) = symmetric(a).unwrap();
            assert_decomposes(a, &values, &vectors);
        }
        let (values, _) = symmetric(&cases[3]).unwrap();
        assert_eq!(sorted(&values).len(), 3);
        for (got, want) in sorted(&values).iter().zip([1.0, 3.0, 3.0]) {
            assert!((got - want).abs() < 1e-14, "{got} vs {want}");
        }
        let (values, _) = symmetric(&Array2::zeros((0, 0))).unwrap();
        assert!(values.is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_decompose() {
        let mut a = random_symmetric(4, 2);
        a[[3, 1]] = f64::NAN;
        assert!(symmetric(&a).unwrap_err().contains("non-finite"));
        assert!(symmetric(&Array2::zeros((2, 3)))
            .unwrap_err()
            .contains("not a square"));
    }

    /// Above SMALL the same call goes to LAPACK and still decomposes.
    #[test]
    fn large_matrices_go_to_lapack() {
        assert!(needs_lapack(SMALL + 1) && !needs_lapack(SMALL));
        let a = random_symmetric(SMALL + 1, 3);
        let (values, vectors) = symmetric(&a).unwrap();
        assert_decomposes(&a, &values, &vectors);
    }
}
