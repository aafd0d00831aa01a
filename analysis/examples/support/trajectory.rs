//! What the PCA benches decompose: a seeded random walk of `n` snapshots in `d`
//! coordinates, like a recorder's weights after every episode.

use ndarray::Array2;

/// A random-walk trajectory (like weights after every episode), seeded.
pub fn trajectory(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut x = Array2::<f64>::zeros((n, d));
    for j in 0..d {
        x[[0, j]] = next();
    }
    for i in 1..n {
        for j in 0..d {
            x[[i, j]] = x[[i - 1, j]] + 0.1 * next();
        }
    }
    x
}
