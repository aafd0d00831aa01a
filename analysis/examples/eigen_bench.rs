//! The symmetric eigen-decomposition behind every PCA, both sides in one process:
//! nalgebra's `SymmetricEigen` (`eigen::symmetric_in_rust`, what `eigen::symmetric` uses up
//! to `eigen::SMALL` rows) against LAPACK's `dsyev` (OpenBLAS, through `ndarray-linalg`), on
//! centred Gram matrices of random-walk trajectories (n snapshots × 1000 coordinates) of
//! the sizes a toy run (n = T) and a short probe (n = episodes + 1) produce. Also prints
//! what opening LAPACK costs once, which a process that stays in Rust never pays.
//!
//! ```text
//! cargo run --release -p reawaken-analysis --example eigen_bench [-- REPS]
//! ```

use std::time::Instant;

use ndarray::{Array2, Axis};
use ndarray_linalg::{Eigh, UPLO};
use reawaken_analysis::eigen;

#[path = "support/trajectory.rs"]
mod trajectory;

/// The centred Gram matrix of an `n`-snapshot trajectory in 1000 coordinates.
fn gram(n: usize, seed: u64) -> Array2<f64> {
    let x = trajectory::trajectory(n, 1000, seed);
    let mean = x.mean_axis(Axis(0)).expect("rows");
    let xc = x - &mean;
    xc.dot(&xc.t())
}

/// Median seconds of `reps` calls.
fn median_s(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(51);
    let t0 = Instant::now();
    reawaken_analysis::lapack::available().expect("LAPACK (apt-get install libopenblas0-serial)");
    println!(
        "opening LAPACK (once per process): {:.2} ms",
        t0.elapsed().as_secs_f64() * 1e3
    );
    println!("eigen::SMALL = {}; medians of {reps}", eigen::SMALL);
    for n in [10, 25, 41, 64, 100, 128, 192, 256, 384, 512] {
        let g = gram(n, n as u64);
        let rust = median_s(reps, || {
            std::hint::black_box(eigen::symmetric_in_rust(&g).expect("rust"));
        });
        let lapack = median_s(reps, || {
            std::hint::black_box(g.eigh(UPLO::Lower).expect("lapack"));
        });
        let (a, _) = eigen::symmetric_in_rust(&g).expect("rust");
        let (b, _) = g.eigh(UPLO::Lower).expect("lapack");
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let scale = b.iter().map(|v| v.abs()).fold(0.0, f64::max);
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        println!(
            "n = {n:4}: nalgebra {:8.1} us, LAPACK {:8.1} us, LAPACK/nalgebra {:5.2}x; max eigenvalue difference {:.1e} of the largest",
            rust * 1e6,
            lapack * 1e6,
            lapack / rust,
            diff / scale
        );
    }
}
