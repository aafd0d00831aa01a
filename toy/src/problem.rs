//! A concrete toy problem: the data (x_i, y_i), the initial state (P0 or Z0 = P0·X, w0)
//! and its seeded sampling.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{Mapping, ToyConfig};
use crate::error::ToyError;

/// RNG stream (of the ChaCha8 generator seeded with the run's seed) of each random draw.
/// Separate streams keep draws independent of each other: the same seed gives the same
/// x_i, w0 and P0 for `identity` and `target`, for cyclic and shuffled order, and the first
/// tasks' x_i do not change when T grows.
pub mod stream {
    /// The data points x_i (task by task, N entries each).
    pub const X: u64 = 1;
    /// The targets y_i (task by task, M entries each).
    pub const Y: u64 = 2;
    /// The initial fast vector w0.
    pub const W: u64 = 3;
    /// The initial embedding (standard normals behind Z0 or P0).
    pub const INIT: u64 = 4;
    /// The per-epoch permutations of the shuffled order.
    pub const ORDER: u64 = 5;
}

/// A ChaCha8 generator for the given seed and stream.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// The initial slow embedding: either P0 itself or only its projections Z0 = P0·X.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// P0, shape (M, N).
    P0(Array2<f64>),
    /// The projections of the data, shape (T, M): row i = P0·x_i. This is all the dynamics
    /// needs (see docs/toy-model.md); P0 itself never has to exist.
    Z0(Array2<f64>),
}

/// How the initial projections of a sampled problem were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitMethod {
    /// Z0 = P0·X drawn directly from its exact distribution: rows iid N(0, G/N²) with
    /// G = XᵀX, via the Cholesky factor of G (used when G is positive definite, T ≤ N).
    SampledZ0,
    /// P0 drawn entry by entry (N(0, 1/N²)) and multiplied with X (used when T > N).
    MaterialisedP0,
    /// Given explicitly by the caller.
    Given,
}

impl std::fmt::Display for InitMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InitMethod::SampledZ0 => "sampled-z0",
            InitMethod::MaterialisedP0 => "materialised-p0",
            InitMethod::Given => "given",
        })
    }
}

/// Everything that defines a toy simulation apart from the task order.
#[derive(Clone, Debug, PartialEq)]
pub struct ToyProblem {
    /// The task maps f_i.
    pub mapping: Mapping,
    /// α, the step size of the P-step (`--lr` times the loss reduction's scale).
    pub lr: f64,
    /// Factor from ½‖P x − f(w)‖² to the reported loss, which is also α / `--lr`: 1 for
    /// `--loss-reduction sum`, 2/M for `mean`.
    pub loss_scale: f64,
    /// The data points, shape (T, N): row i = x_i.
    pub x: Array2<f64>,
    /// The task targets, shape (T, M): row i = y_i. Ignored by `identity` (may be zeros).
    pub y: Array2<f64>,
    /// The initial fast vector w, length M.
    pub w0: Array1<f64>,
    /// The initial slow embedding.
    pub init: Init,
    /// Where `init` came from.
    pub init_method: InitMethod,
}

fn sample_uniform(seed: u64, stream: u64, rows: usize, cols: usize) -> Array2<f64> {
    let mut r = rng(seed, stream);
    Array2::from_shape_simple_fn((rows, cols), || r.random_range(-1.0..1.0))
}

/// Cholesky factor L (lower triangular, G = L·Lᵀ) of a symmetric matrix, or `None` if
/// it is not (numerically) positive definite.
pub(crate) fn cholesky(g: &Array2<f64>) -> Option<Array2<f64>> {
    let n = g.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let mut s = g[[i, j]];
            for k in 0..j {
                s -= l[[i, k]] * l[[j, k]];
            }
            if i == j {
                // Relative pivot threshold: reject nearly singular Gram matrices.
                if s.is_nan() || s <= 1e-10 * g[[i, i]].abs() || !s.is_finite() {
                    return None;
                }
                l[[i, i]] = s.sqrt();
            } else {
                l[[i, j]] = s / l[[j, j]];
            }
        }
    }
    Some(l)
}

/// The Gram matrix G = X·Xᵀ of the rows of x (shape (T, T)): G_ij = x_i·x_j.
pub fn gram(x: &Array2<f64>) -> Array2<f64> {
    x.dot(&x.t())
}

impl ToyProblem {
    /// Samples the problem of a configuration (docs/toy-model.md): x_i, y_i, w0 entries Unif(−1, 1),
    /// P0 entries N(0, 1/N²). The initial projections Z0 = P0·X are drawn directly from
    /// their exact distribution when T ≤ N (fast: O(T·M) normals instead of O(M·N)),
    /// otherwise P0 is materialised row by row. Does not validate `cfg`.
    pub fn sample(cfg: &ToyConfig) -> ToyProblem {
        let (x, y, w0) = Self::sample_data(cfg);
        let (t, n, m) = (cfg.tasks, cfg.input_dim, cfg.embed_dim);
        let g = gram(&x);
        let inv_n = 1.0 / n as f64;
        let mut r = rng(cfg.seed, stream::INIT);
        let (z0, init_method) = match (t <= n).then(|| cholesky(&g)).flatten() {
            Some(l) => {
                // Rows of Z0ᵀ (M×T) are iid N(0, G/N²) = (1/N)·L·g with g ~ N(0, I_T).
                // Stored as (T, M): z0[i, :] = (1/N) Σ_{k≤i} L[i,k] · gt[k, :].
                let gt =
                    Array2::<f64>::from_shape_simple_fn((t, m), || StandardNormal.sample(&mut r));
                let mut z0 = Array2::<f64>::zeros((t, m));
                for i in 0..t {
                    let mut zi = z0.row_mut(i);
                    for k in 0..=i {
                        zi.scaled_add(l[[i, k]] * inv_n, &gt.row(k));
                    }
                }
                (z0, InitMethod::SampledZ0)
            }
            None => {
                // Stream P0 one row (length N) at a time: z0[:, r] = X · P0[r, :]ᵀ.
                let mut z0 = Array2::<f64>::zeros((t, m));
                let mut row = Array1::<f64>::zeros(n);
                for mi in 0..m {
                    for v in row.iter_mut() {
                        let s: f64 = StandardNormal.sample(&mut r);
                        *v = s * inv_n;
                    }
                    z0.column_mut(mi).assign(&x.dot(&row));
                }
                (z0, InitMethod::MaterialisedP0)
            }
        };
        ToyProblem {
            mapping: cfg.mapping,
            lr: cfg.step_lr(),
            loss_scale: cfg.lr_scale(),
            x,
            y,
            w0,
            init: Init::Z0(z0),
            init_method,
        }
    }

    /// Samples the same data as [`ToyProblem::sample`] but materialises P0 (shape (M, N),
    /// entries N(0, 1/N²), drawn row by row from the INIT stream). This is the textbook
    /// initialisation, used by the explicit reference implementation and its tests. Same
    /// distribution of runs as `sample`, different realisation of P0.
    pub fn sample_explicit(cfg: &ToyConfig) -> ToyProblem {
        let (x, y, w0) = Self::sample_data(cfg);
        let inv_n = 1.0 / cfg.input_dim as f64;
        let mut r = rng(cfg.seed, stream::INIT);
        let p0 = Array2::<f64>::from_shape_simple_fn((cfg.embed_dim, cfg.input_dim), || {
            let s: f64 = StandardNormal.sample(&mut r);
            s * inv_n
        });
        ToyProblem {
            mapping: cfg.mapping,
            lr: cfg.step_lr(),
            loss_scale: cfg.lr_scale(),
            x,
            y,
            w0,
            init: Init::P0(p0),
            init_method: InitMethod::MaterialisedP0,
        }
    }

    fn sample_data(cfg: &ToyConfig) -> (Array2<f64>, Array2<f64>, Array1<f64>) {
        let (t, n, m) = (cfg.tasks, cfg.input_dim, cfg.embed_dim);
        let x = sample_uniform(cfg.seed, stream::X, t, n);
        let y = match cfg.mapping {
            Mapping::Target => sample_uniform(cfg.seed, stream::Y, t, m),
            Mapping::Identity => Array2::zeros((t, m)),
        };
        let mut rw = rng(cfg.seed, stream::W);
        let w0 = Array1::from_shape_simple_fn(m, || rw.random_range(-1.0..1.0));
        (x, y, w0)
    }

    /// T, the number of tasks.
    pub fn tasks(&self) -> usize {
        self.x.nrows()
    }
    /// N, the input dimension.
    pub fn input_dim(&self) -> usize {
        self.x.ncols()
    }
    /// M, the embedding dimension.
    pub fn embed_dim(&self) -> usize {
        self.w0.len()
    }

    /// Checks that all shapes agree and all values are finite.
    pub fn check(&self) -> Result<(), ToyError> {
        let (t, n, m) = (self.tasks(), self.input_dim(), self.embed_dim());
        let bad = |s: String| Err(ToyError::InvalidProblem(s));
        if t == 0 || n == 0 || m == 0 {
            return bad(format!("empty problem (T = {t}, N = {n}, M = {m})"));
        }
        if self.y.dim() != (t, m) {
            return bad(format!(
                "y has shape {:?}, expected (T, M) = ({t}, {m})",
                self.y.dim()
            ));
        }
        match &self.init {
            Init::P0(p) if p.dim() != (m, n) => {
                return bad(format!(
                    "P0 has shape {:?}, expected (M, N) = ({m}, {n})",
                    p.dim()
                ))
            }
            Init::Z0(z) if z.dim() != (t, m) => {
                return bad(format!(
                    "Z0 has shape {:?}, expected (T, M) = ({t}, {m})",
                    z.dim()
                ))
            }
            _ => {}
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be positive and finite (got {})", self.lr));
        }
        Ok(())
    }

    /// The initial projections Z0 (T, M): row i = P0·x_i.
    pub fn z0(&self) -> Array2<f64> {
        match &self.init {
            Init::Z0(z) => z.clone(),
            Init::P0(p) => self.x.dot(&p.t()),
        }
    }

    /// The initial points f_i⁻¹(P0·x_i), shape (T, M).
    pub fn p0_points(&self) -> Array2<f64> {
        let z = self.z0();
        match self.mapping {
            Mapping::Identity => z,
            Mapping::Target => &self.y - &z,
        }
    }

    /// max_i α‖x_i‖² and the task where it is reached.
    pub fn step_factor_max(&self) -> (usize, f64) {
        let mut best = (0, f64::NEG_INFINITY);
        for (i, xi) in self.x.rows().into_iter().enumerate() {
            let f = self.lr * xi.dot(&xi);
            if f > best.1 || f.is_nan() {
                best = (i, f);
            }
        }
        best
    }
}
