//! The configuration of a toy run (docs/toy-model.md), its defaults and its validation.

use serde::{Deserialize, Serialize};

pub use reawaken_analysis::Order;

use crate::error::ToyError;

reawaken_analysis::choice! {
    /// The task-specific map f_i from the fast vector w to the target of task i.
    pub enum Mapping("mapping") {
        /// f_i(w) = y_i − w, with fixed random task targets y_i (paper Fig. 10b, 11).
        Target = "target",
        /// f_i(w) = w (paper Fig. 10a).
        Identity = "identity",
    }
}

/// Settings of one toy simulation: the one typed config of `reawaken toy simulate`.
/// Its fields are the command's flags (clap) and the keys of `--config` files and of
/// `run.json`'s `config` (serde, kebab-case); defaults are the paper's Fig. 10b setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ToyConfig {
    /// Seed of every random draw: data x_i, targets y_i, initial P and w, shuffled orders.
    #[arg(long, value_name = "S", default_value_t = ToyConfig::default().seed)]
    pub seed: u64,
    /// T, the number of tasks (one data point each).
    #[arg(long, value_name = "T", default_value_t = ToyConfig::default().tasks)]
    pub tasks: usize,
    /// N, the dimension of the data points x_i.
    #[arg(long, value_name = "N", default_value_t = ToyConfig::default().input_dim)]
    pub input_dim: usize,
    /// M, the embedding dimension (rows of P; length of w and y_i).
    #[arg(long, value_name = "M", default_value_t = ToyConfig::default().embed_dim)]
    pub embed_dim: usize,
    /// α, the step size of the gradient step on P; lr·N/3 must stay below 2.
    #[arg(long, value_name = "A", allow_negative_numbers = true, default_value_t = ToyConfig::default().lr)]
    pub lr: f64,
    /// Task maps: `target` f_i(w) = y_i − w (paper Fig. 10b), `identity` f_i(w) = w
    /// (Fig. 10a).
    #[arg(long, value_name = "target|identity", default_value_t = ToyConfig::default().mapping)]
    pub mapping: Mapping,
    /// E, the number of epochs (passes over all T tasks).
    #[arg(long, value_name = "E", default_value_t = ToyConfig::default().epochs)]
    pub epochs: usize,
    /// K, training steps per episode (the paper uses 1).
    #[arg(long, value_name = "K", default_value_t = ToyConfig::default().steps)]
    pub steps: usize,
    /// Task order: `cyclic` (0..T−1 every epoch), `shuffled` (a new seeded permutation
    /// every epoch) or `prequential-shuffled` (task 1 first, the rest shuffled).
    #[arg(long, value_name = "ORDER", default_value_t = ToyConfig::default().order)]
    pub order: Order,
}

impl Default for ToyConfig {
    /// The paper's Fig. 10b setting.
    fn default() -> Self {
        ToyConfig {
            seed: 0,
            tasks: 25,
            input_dim: 100,
            embed_dim: 100,
            lr: 0.01,
            mapping: Mapping::Target,
            epochs: 10,
            steps: 1,
            order: Order::Cyclic,
        }
    }
}

/// Largest memory (bytes) a toy run may allocate for its results and state.
pub const MAX_BYTES: u128 = 8 << 30;

/// Step factor α‖x‖² at or above which the P-step overshoots (the residual of the trained
/// task is multiplied by 1 − α‖x‖², whose magnitude is ≥ 1 from there on).
pub const UNSTABLE_STEP_FACTOR: f64 = 2.0;

/// Standard deviation of ‖x‖² for x with N iid Unif(−1, 1) entries: √(4N/45).
fn norm_sq_std(n: usize) -> f64 {
    (4.0 * n as f64 / 45.0).sqrt()
}

/// A high quantile of max_i ‖x_i‖² over tasks: N/3 + 4·std (a 4-sigma margin).
fn norm_sq_high(n: usize) -> f64 {
    n as f64 / 3.0 + 4.0 * norm_sq_std(n)
}

/// Rounds a positive number down to 1 significant digit (0.00539 → 0.005).
pub(crate) fn floor_1sig(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return v;
    }
    let p = 10f64.powf(v.log10().floor());
    (v / p).floor() * p
}

/// A learning rate that is safe for input dimension N with a margin (step factor ≤ 1.8
/// even for a 4-sigma-large ‖x‖²), rounded down to one significant digit.
pub fn suggested_lr(input_dim: usize) -> f64 {
    floor_1sig(1.8 / norm_sq_high(input_dim.max(1)))
}

/// The largest input dimension N that is safe for this lr with the same margin.
pub fn suggested_input_dim(lr: f64) -> usize {
    if !(lr.is_finite() && lr > 0.0) {
        return 0;
    }
    // norm_sq_high is increasing in N; bisect.
    let (mut lo, mut hi) = (0usize, 1usize << 40);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if lr * norm_sq_high(mid) <= 1.8 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The plain-words explanation of an overshooting step factor.
pub(crate) fn unstable_message(
    lr: f64,
    input_dim: usize,
    step_factor: f64,
    sampled: Option<usize>,
) -> String {
    let what = match sampled {
        Some(task) => format!("for task {task} of the sampled data lr*|x|^2 = {step_factor:.3}"),
        None => format!("lr*|x|^2 ≈ lr*N/3 = {step_factor:.3}"),
    };
    let dim_hint = match suggested_input_dim(lr) {
        0 => String::new(),
        n => format!(" or --input-dim ≤ {n}"),
    };
    format!(
        "--lr {lr} with --input-dim {input_dim} makes every P-step overshoot ({what} ≥ 2): the \
         trained task's residual is multiplied by 1 - lr*|x|^2, so it grows at each visit and the \
         losses run off to inf/NaN. Use --lr ≤ {}{dim_hint}.",
        suggested_lr(input_dim)
    )
}

impl ToyConfig {
    /// Checks every setting. Returns warnings (things that run but may not be what the user
    /// wants) or an error that says what to change.
    ///
    /// Stability: the P-step multiplies the trained task's residual by 1 − α‖x_i‖²; with
    /// x entries Unif(−1, 1), ‖x_i‖² ≈ N/3. Refused here when α·N/3 ≥ 2 (the typical task
    /// overshoots); warned when a 4-sigma-large ‖x_i‖² could reach 2. [`crate::simulate`]
    /// then checks the exact factor max_i α‖x_i‖² on the sampled data and refuses with
    /// [`ToyError::Unstable`] if it is ≥ 2.
    pub fn validate(&self) -> Result<Vec<String>, ToyError> {
        let mut warnings = Vec::new();
        let bad = |m: String| Err(ToyError::InvalidConfig(m));
        if self.tasks == 0 {
            return bad("--tasks must be at least 1 (got 0)".into());
        }
        if self.input_dim == 0 {
            return bad("--input-dim must be at least 1 (got 0)".into());
        }
        if self.embed_dim == 0 {
            return bad("--embed-dim must be at least 1 (got 0)".into());
        }
        if self.epochs == 0 {
            return bad("--epochs must be at least 1 (got 0)".into());
        }
        if self.steps == 0 {
            return bad("--steps must be at least 1 (got 0)".into());
        }
        if !self.lr.is_finite() || self.lr <= 0.0 {
            return bad(format!(
                "--lr must be a positive finite number (got {}); the paper uses 0.01 for N = 100",
                self.lr
            ));
        }
        let bytes = self.estimated_bytes();
        if bytes > MAX_BYTES {
            return bad(format!(
                "this run would need about {:.1} GiB of memory for its loss matrix \
                 ((T*E+1) x T), points ((E+1) x T x M) and state (limit {} GiB); \
                 lower --tasks, --epochs or --embed-dim",
                bytes as f64 / (1u64 << 30) as f64,
                MAX_BYTES >> 30
            ));
        }
        let typical = self.lr * self.input_dim as f64 / 3.0;
        if typical >= UNSTABLE_STEP_FACTOR {
            return Err(ToyError::Unstable {
                lr: self.lr,
                input_dim: self.input_dim,
                task: 0,
                step_factor: typical,
                message: unstable_message(self.lr, self.input_dim, typical, None),
            });
        }
        let high = self.lr * norm_sq_high(self.input_dim);
        if high >= UNSTABLE_STEP_FACTOR {
            warnings.push(format!(
                "--lr {} with --input-dim {} is close to the stability limit (lr*|x|^2 ≈ {typical:.2} \
                 on average, up to ≈ {high:.2} for an unlucky task; ≥ 2 overshoots): the run is \
                 refused if a sampled task crosses 2. --lr ≤ {} is safe",
                self.lr,
                self.input_dim,
                suggested_lr(self.input_dim)
            ));
        } else if typical > 1.0 {
            warnings.push(format!(
                "lr*|x|^2 ≈ {typical:.2} > 1: each P-step overshoots the trained task's target \
                 (its residual changes sign) though it still shrinks; the paper's settings have \
                 lr*|x|^2 ≈ 0.33"
            ));
        }
        if self.epochs == 1 {
            warnings.push(
                "--epochs 1: the recovery score needs at least 2 epochs (it will be empty)".into(),
            );
        }
        if self.steps > 1 {
            warnings.push(format!(
                "--steps {}: in this model the steps after the first in an episode change nothing \
                 (w is re-solved exactly, so the trained task's residual is already 0)",
                self.steps
            ));
        }
        if self.tasks > self.input_dim {
            warnings.push(format!(
                "--tasks {} > --input-dim {}: the x_i are linearly dependent, so not every task \
                 can be fit at once; the initial embedding P0 is materialised (slower start)",
                self.tasks, self.input_dim
            ));
        }
        Ok(warnings)
    }

    /// Number of episodes, T·E (saturating).
    pub fn episodes(&self) -> usize {
        self.tasks.saturating_mul(self.epochs)
    }

    /// Rough memory need in bytes of a run (results plus state), as f64 arrays.
    pub fn estimated_bytes(&self) -> u128 {
        let t = self.tasks as u128;
        let e = self.epochs as u128;
        let m = self.embed_dim as u128;
        let n = self.input_dim as u128;
        let losses = t.saturating_mul(e).saturating_add(1).saturating_mul(t);
        let points = e.saturating_add(1).saturating_mul(t).saturating_mul(m);
        let state = t
            .saturating_mul(m)
            .saturating_mul(2)
            .saturating_add(t.saturating_mul(t))
            .saturating_add(t.saturating_mul(n))
            .saturating_add(m);
        losses
            .saturating_add(points)
            .saturating_add(state)
            .saturating_mul(8)
    }
}
