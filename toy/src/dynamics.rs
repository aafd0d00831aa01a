//! The two implementations of one training step: the fast one in projection space
//! ([`FastState`]) and the textbook one with an explicit matrix P ([`crate::reference`]).

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut1};

use crate::config::Mapping;
use crate::error::ToyError;
use crate::problem::{gram, ToyProblem};

/// One implementation of the toy dynamics. The run loop ([`crate::simulate::run_with`])
/// drives any of them.
pub trait Dynamics {
    /// T, the number of tasks.
    fn tasks(&self) -> usize;
    /// M, the embedding dimension.
    fn embed_dim(&self) -> usize;
    /// The gradient step on P for task i: P ← P − α (P x_i − f_i(w)) x_iᵀ (w unchanged).
    fn p_step(&mut self, i: usize);
    /// Re-solves the fast vector for task i: w ← f_i⁻¹(P x_i).
    fn solve_w(&mut self, i: usize);
    /// One training step on task i: [`Dynamics::p_step`] then [`Dynamics::solve_w`].
    fn step(&mut self, i: usize) {
        self.p_step(i);
        self.solve_w(i);
    }
    /// Writes ℓ_j = ½‖P x_j − f_j(w)‖² for every task j into `out` (length T).
    fn losses_into(&self, out: ArrayViewMut1<f64>);
    /// An episode: `steps` training steps on task i, then the losses of all tasks into `out`.
    fn episode(&mut self, i: usize, steps: usize, out: ArrayViewMut1<f64>) {
        for _ in 0..steps {
            self.step(i);
        }
        self.losses_into(out);
    }
    /// The residual of task i, P x_i − f_i(w) (length M).
    fn residual(&self, i: usize) -> Array1<f64>;
    /// The points f_j⁻¹(P x_j) of all tasks, shape (T, M).
    fn points(&self) -> Array2<f64>;
    /// The current fast vector w.
    fn w(&self) -> Array1<f64>;
}

/// The dynamics in "projection space".
///
/// Write p_j = f_j⁻¹(P x_j) (the point of task j; for `identity` p_j = P x_j, for `target`
/// p_j = y_j − P x_j). For both mappings ℓ_j = ½‖p_j − w‖², and a P-step on task i changes
/// every projection by a rank-1 term: P x_j ← P x_j − α r (x_iᵀ x_j) with r = P x_i − f_i(w),
/// which in point space reads, for both mappings,
///
///   p_j ← p_j − α G_ij (p_i − w),   then   w ← p_i,
///
/// with the Gram matrix G = XᵀX. So a step costs O(M·T) and the T losses O(M·T),
/// instead of O(M·N·T) to form P·X; P itself is never needed.
#[derive(Clone, Debug)]
pub struct FastState {
    alpha: f64,
    mapping: Mapping,
    /// G_ij = x_i·x_j, (T, T).
    g: Array2<f64>,
    /// Points, (T, M), row j = p_j (contiguous).
    p: Array2<f64>,
    w: Array1<f64>,
    /// Scratch: p_i − w.
    r: Array1<f64>,
}

impl FastState {
    /// The initial state of a problem.
    pub fn new(problem: &ToyProblem) -> Result<FastState, ToyError> {
        problem.check()?;
        let p = problem.p0_points();
        let m = problem.embed_dim();
        Ok(FastState {
            alpha: problem.lr,
            mapping: problem.mapping,
            g: gram(&problem.x),
            p: p.as_standard_layout().into_owned(),
            w: problem.w0.clone(),
            r: Array1::zeros(m),
        })
    }

    /// The points, (T, M), row j = f_j⁻¹(P x_j).
    pub fn points_view(&self) -> ArrayView2<'_, f64> {
        self.p.view()
    }

    /// The Gram matrix G = XᵀX, (T, T).
    pub fn gram(&self) -> ArrayView2<'_, f64> {
        self.g.view()
    }

    /// r ← p_i − w.
    fn load_r(&mut self, i: usize) {
        let pi = self.p.row(i);
        for ((r, &a), &b) in self.r.iter_mut().zip(pi.iter()).zip(self.w.iter()) {
            *r = a - b;
        }
    }
}

/// a ← a − c·r on contiguous slices.
#[inline]
fn axpy_neg(a: &mut [f64], c: f64, r: &[f64]) {
    for (x, &y) in a.iter_mut().zip(r) {
        *x -= c * y;
    }
}

/// ½‖a − b‖², four partial sums so the compiler can vectorise.
#[inline]
fn half_dist2(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..4 {
            let d = x[k] - y[k];
            acc[k] += d * d;
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        tail += d * d;
    }
    0.5 * ((acc[0] + acc[1]) + (acc[2] + acc[3]) + tail)
}

impl Dynamics for FastState {
    fn tasks(&self) -> usize {
        self.p.nrows()
    }
    fn embed_dim(&self) -> usize {
        self.w.len()
    }

    fn p_step(&mut self, i: usize) {
        self.load_r(i);
        let (t, alpha) = (self.tasks(), self.alpha);
        let r = self.r.as_slice().unwrap_or(&[]);
        let Some(p) = self.p.as_slice_mut() else {
            return;
        };
        let m = r.len();
        for j in 0..t {
            let c = alpha * self.g[[i, j]];
            axpy_neg(&mut p[j * m..(j + 1) * m], c, r);
        }
    }

    fn solve_w(&mut self, i: usize) {
        self.w.assign(&self.p.row(i));
    }

    fn losses_into(&self, mut out: ArrayViewMut1<f64>) {
        let w = self.w.as_slice().unwrap_or(&[]);
        for (o, pj) in out.iter_mut().zip(self.p.rows()) {
            *o = half_dist2(pj.as_slice().unwrap_or(&[]), w);
        }
    }

    /// Fused: all steps but the last as usual; in the last one each row is updated and its
    /// loss taken in the same pass (one sweep over the (T, M) state per episode).
    fn episode(&mut self, i: usize, steps: usize, mut out: ArrayViewMut1<f64>) {
        for _ in 1..steps {
            self.step(i);
        }
        if steps == 0 {
            self.losses_into(out);
            return;
        }
        self.load_r(i);
        let (t, alpha) = (self.tasks(), self.alpha);
        let m = self.w.len();
        let (Some(r), Some(p), Some(w)) = (
            self.r.as_slice(),
            self.p.as_slice_mut(),
            self.w.as_slice_mut(),
        ) else {
            return;
        };
        // New p_i first: it is the new w.
        axpy_neg(&mut p[i * m..(i + 1) * m], alpha * self.g[[i, i]], r);
        w.copy_from_slice(&p[i * m..(i + 1) * m]);
        for j in 0..t {
            let row = &mut p[j * m..(j + 1) * m];
            if j != i {
                axpy_neg(row, alpha * self.g[[i, j]], r);
            }
            out[j] = half_dist2(row, w);
        }
    }

    fn residual(&self, i: usize) -> Array1<f64> {
        let d = &self.p.row(i) - &self.w;
        match self.mapping {
            // identity: P x_i − w = p_i − w
            Mapping::Identity => d,
            // target: P x_i − (y_i − w) = w − p_i
            Mapping::Target => -d,
        }
    }

    fn points(&self) -> Array2<f64> {
        self.p.clone()
    }

    fn w(&self) -> Array1<f64> {
        self.w.clone()
    }
}
