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

reawaken_analysis::choice! {
    /// How the loss of a task is reduced over the M entries of the embedding.
    pub enum LossReduction("loss reduction") {
        /// ℓ_i = ½‖P x_i − f_i(w)‖²; the P-step is α (P x_i − f_i(w)) x_iᵀ (the paper's
        /// equations, A.5).
        Sum = "sum",
        /// ℓ_i = (1/M)‖P x_i − f_i(w)‖² (PyTorch's `MSELoss`); the P-step is its gradient,
        /// (2α/M)(P x_i − f_i(w)) x_iᵀ. The one reading under which the paper's lr 0.01 runs
        /// both N = 100 and N = 1000 (Fig. 10a).
        Mean = "mean",
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
    /// α, the step size of the gradient step on P; lr·N/3 must stay below 1.
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
    /// Loss of a task: `sum` ½|P x_i − f_i(w)|² (the paper's equations) or `mean`
    /// (1/M)|P x_i − f_i(w)|² (PyTorch MSELoss; its P-step is 2·lr/M times the residual).
    #[arg(long, value_name = "sum|mean", default_value_t = ToyConfig::default().loss_reduction)]
    pub loss_reduction: LossReduction,
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
            loss_reduction: LossReduction::Sum,
        }
    }
}

/// Largest memory (bytes) a toy run may allocate for its results and state.
pub const MAX_BYTES: u128 = 8 << 30;

/// Largest `--steps` (K) per episode.
pub const MAX_STEPS: usize = 1_000_000;

/// Step factor c = α‖x‖² at or above which a run grows without bound. w is re-solved
/// exactly after every P-step, so the residual of the task trained next is, to first
/// order, c times the residual just corrected plus the change P(x_{i+1} − x_i): the error
/// is carried from task to task and multiplied by c at every episode, which is a
/// geometric growth once c ≥ 1 (measured: c = 0.9 keeps the largest loss near its initial
/// value, c = 1.1 reaches 1e13 within 10 epochs; docs/toy-model.md).
pub const UNSTABLE_STEP_FACTOR: f64 = 1.0;

/// Largest loss, as a multiple of the largest initial loss, after which a run counts as
/// running away (status `diverged`) even though every value is still finite.
pub const RUNAWAY_FACTOR: f64 = 1e6;

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

/// Step factor a suggested setting keeps even for a 4-sigma-large ‖x‖².
const SAFE_STEP_FACTOR: f64 = 0.9;

/// A step size (α of the P-step) that is safe for input dimension N with a margin (step
/// factor ≤ 0.9 even for a 4-sigma-large ‖x‖²), rounded down to one significant digit.
pub fn suggested_lr(input_dim: usize) -> f64 {
    floor_1sig(SAFE_STEP_FACTOR / norm_sq_high(input_dim.max(1)))
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
        if lr * norm_sq_high(mid) <= SAFE_STEP_FACTOR {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The plain-words explanation of a step factor at or above the stability limit.
/// `lr_scale` is the P-step's α divided by `--lr` (1 for `sum`, 2/M for `mean`).
pub(crate) fn unstable_message(
    lr: f64,
    lr_scale: f64,
    input_dim: usize,
    step_factor: f64,
    sampled: Option<usize>,
) -> String {
    let c = if lr_scale == 1.0 {
        "lr*|x|^2"
    } else {
        "(2 lr/M)*|x|^2"
    };
    let what = match sampled {
        Some(task) => format!("for task {task} of the sampled data {c} = {step_factor:.3}"),
        None => format!("{c} ≈ {step_factor:.3} for a typical task (|x|^2 ≈ N/3)"),
    };
    let dim_hint = match suggested_input_dim(lr * lr_scale) {
        0 => String::new(),
        n => format!(" or --input-dim ≤ {n}"),
    };
    format!(
        "--lr {lr} with --input-dim {input_dim} is past the toy model's stability limit ({what} ≥ 1): \
         w is re-solved after every P-step, so each task's residual is carried to the next task \
         multiplied by that factor and the losses grow geometrically. Use --lr ≤ {}{dim_hint}, \
         or --loss-reduction mean.",
        floor_1sig(suggested_lr(input_dim) / lr_scale)
    )
}

impl ToyConfig {
    /// The P-step's size α divided by `--lr`: 1 for `sum`, 2/M for `mean` (the gradient
    /// of (1/M)‖r‖²). It is also the factor from ½‖r‖², what the dynamics compute, to the
    /// reported loss.
    pub fn lr_scale(&self) -> f64 {
        match self.loss_reduction {
            LossReduction::Sum => 1.0,
            LossReduction::Mean => 2.0 / self.embed_dim.max(1) as f64,
        }
    }

    /// The P-step's size α (`--lr` times [`ToyConfig::lr_scale`]).
    pub fn step_lr(&self) -> f64 {
        self.lr * self.lr_scale()
    }

    /// Checks every setting. Returns warnings (things that run but may not be what the user
    /// wants) or an error that says what to change.
    ///
    /// Stability (see [`UNSTABLE_STEP_FACTOR`]): with x entries Unif(−1, 1), ‖x_i‖² ≈ N/3.
    /// Refused here when α·N/3 ≥ 1 (α the P-step's size, [`ToyConfig::step_lr`]); warned
    /// when a 4-sigma-large ‖x_i‖² could reach 1. [`crate::simulate`] then checks the exact
    /// factor max_i α‖x_i‖² on the sampled data and refuses with [`ToyError::Unstable`] if
    /// it is ≥ 1.
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
        if self.steps > MAX_STEPS {
            return bad(format!(
                "--steps {} is more than {MAX_STEPS} steps per episode (the paper uses 1; with w re-solved exactly the steps after the first change nothing)",
                self.steps
            ));
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
                 ((T*E+1) x T), points ((E+1) x T x M) and state (P: M x N, data: T x N; \
                 limit {} GiB); lower --tasks, --epochs, --input-dim or --embed-dim",
                bytes as f64 / (1u64 << 30) as f64,
                MAX_BYTES >> 30
            ));
        }
        let scale = self.lr_scale();
        let typical = self.step_lr() * self.input_dim as f64 / 3.0;
        if typical >= UNSTABLE_STEP_FACTOR {
            return Err(ToyError::Unstable {
                lr: self.lr,
                input_dim: self.input_dim,
                task: 0,
                step_factor: typical,
                message: unstable_message(self.lr, scale, self.input_dim, typical, None),
            });
        }
        let high = self.step_lr() * norm_sq_high(self.input_dim);
        if high >= UNSTABLE_STEP_FACTOR {
            warnings.push(format!(
                "--lr {} with --input-dim {} is close to the stability limit (step factor ≈ \
                 {typical:.2} on average, up to ≈ {high:.2} for an unlucky task; ≥ 1 grows without \
                 bound): the run is refused if a sampled task crosses 1. --lr ≤ {} is safe",
                self.lr,
                self.input_dim,
                floor_1sig(suggested_lr(self.input_dim) / scale)
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
