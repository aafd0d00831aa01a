//! Eigen-decomposition of a real symmetric matrix: the one the PCA needs.
//!
//! Up to [`SMALL`] rows it is nalgebra's `SymmetricEigen` (Householder reduction to
//! tridiagonal form, then implicit QR with Wilkinson shifts, on the matrix scaled by its
//! largest entry), pure Rust: a toy run's points (min(T, M) rows) and the weight trajectory
//! of a short probe (one row per episode) stay below it, so neither the toy nor the
//! gallery's figures open LAPACK at all — opening the OpenBLAS library costs a few
//! milliseconds of a process that otherwise takes about twelve. Larger matrices go to
//! LAPACK's `dsyev` ([`crate::lapack`], through `ndarray-linalg`, the project's dense
//! linear algebra).

use ndarray::{Array1, Array2};
use ndarray_linalg::{Eigh, UPLO};

/// The largest matrix decomposed in Rust rather than by LAPACK. Up to it nalgebra's
/// solver took 0.56–0.83× LAPACK's time in `examples/eigen_bench.rs` (2026-12-04: 4.6
/// against 8.2 µs at 10 rows, 17.7 against 21.3 ms at 256), besides sparing the process
/// the library's opening. (It was also faster at 384 and 512 rows, 0.92× and 0.88×;
/// larger problems stay with LAPACK all the same, the project's dense linear algebra.)
pub const SMALL: usize = 256;

/// Whether [`symmetric`] needs LAPACK for an `n × n` matrix (for a caller that opens it
/// ahead of time: [`crate::lapack::preload`]).
pub fn needs_lapack(n: usize) -> bool {
    n > SMALL
}

/// Eigenvalues (in no particular order) and unit eigenvectors (the columns, in the same
/// order) of the symmetric matrix `a`; only its lower triangle is read. Errors: not square,
/// a non-finite entry, no convergence, or (large matrices) LAPACK missing.
pub fn symmetric(a: &Array2<f64>) -> Result<(Array1<f64>, Array2<f64>), String> {
    if !needs_lapack(a.nrows()) {
        return symmetric_in_rust(a);
    }
    check(a)?;
    crate::lapack::available()?;
    a.eigh(UPLO::Lower).map_err(|e| e.to_string())
}

/// [`symmetric`] by nalgebra whatever the size (what it does up to [`SMALL`] rows;
/// public for `examples/eigen_bench.rs`, which times it against LAPACK).
pub fn symmetric_in_rust(a: &Array2<f64>) -> Result<(Array1<f64>, Array2<f64>), String> {
    check(a)?;
    let n = a.nrows();
    if n == 0 {
        // (nalgebra refuses an empty matrix.)
        return Ok((Array1::zeros(0), Array2::zeros((0, 0))));
    }
    // The lower triangle, mirrored (nalgebra reads only the lower triangle too; the
    // mirror keeps the matrix handed over symmetric whatever the upper one holds).
    let m = nalgebra::DMatrix::from_fn(n, n, |i, j| if j <= i { a[[i, j]] } else { a[[j, i]] });
    // Each eigenvalue converges in a few sweeps; the bound is never reached by a finite
    // symmetric matrix and only keeps a defect from looping forever.
    let max_iterations = 100 * n;
    let eig =
        nalgebra::SymmetricEigen::try_new(m, f64::EPSILON, max_iterations).ok_or_else(|| {
            format!("the symmetric eigensolver did not converge in {max_iterations} iterations")
        })?;
    let values = Array1::from_iter(eig.eigenvalues.iter().copied());
    let vectors = Array2::from_shape_fn((n, n), |(i, j)| eig.eigenvectors[(i, j)]);
    Ok((values, vectors))
}

/// A square matrix of finite entries.
fn check(a: &Array2<f64>) -> Result<(), String> {
    if a.ncols() != a.nrows() {
        return Err(format!("not a square matrix: {}×{}", a.nrows(), a.ncols()));
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err("the matrix has a non-finite entry".into());
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
            // Near the ends of the floating-point range (the solver scales the matrix).
            random_symmetric(7, 4) * 1e-300,
            random_symmetric(7, 5) * 1e300,
        ];
        for a in &cases {
            let (values, vectors) = symmetric(a).unwrap();
            assert_decomposes(a, &values, &vectors);
        }
        let (values, _) = symmetric(&cases[3]).unwrap();
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

    /// Above SMALL the same call goes to LAPACK: its very numbers.
    #[test]
    fn large_matrices_go_to_lapack() {
        assert!(needs_lapack(SMALL + 1) && !needs_lapack(SMALL));
        let a = random_symmetric(SMALL + 1, 3);
        let (values, vectors) = symmetric(&a).unwrap();
        assert_decomposes(&a, &values, &vectors);
        let (want_values, want_vectors) = a.eigh(UPLO::Lower).unwrap();
        assert_eq!((values, vectors), (want_values, want_vectors));
        // ... which the Rust path does not produce bit for bit.
        let (rust_values, _) = symmetric_in_rust(&a).unwrap();
        assert_ne!(
            sorted(&rust_values),
            sorted(&a.eigh(UPLO::Lower).unwrap().0)
        );
    }
}
