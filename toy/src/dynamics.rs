//! The two implementations of one training step: the fast one in projection space
//! ([`FastState`]) and the textbook one with an explicit matrix P ([`crate::reference`]).

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis};

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
    /// Episodes `tasks` (each as [`Dynamics::episode`]), the losses after each into the rows
    /// of `out` ((len, T)).
    fn episodes(&mut self, tasks: &[usize], steps: usize, mut out: ArrayViewMut2<f64>) {
        for (&i, row) in tasks.iter().zip(out.rows_mut()) {
            self.episode(i, steps, row);
        }
    }
    /// The residual of task i, P x_i − f_i(w) (length M).
    fn residual(&self, i: usize) -> Array1<f64>;
    /// The points f_j⁻¹(P x_j) of all tasks, shape (T, M).
    fn points(&self) -> Array2<f64>;
    /// Writes [`Dynamics::points`] into `out` (shape (T, M)).
    fn points_into(&self, mut out: ArrayViewMut2<f64>) {
        out.assign(&self.points());
    }
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

    /// Runs episodes `tasks` ([`run_columns`]); with `out` ((len, T)), the losses after
    /// each one.
    fn run_episodes(&mut self, tasks: &[usize], steps: usize, mut out: Option<ArrayViewMut2<f64>>) {
        let (Some(p), Some(w)) = (self.p.as_slice_mut(), self.w.as_slice_mut()) else {
            // Not reached (both are built in standard layout): a step at a time.
            for (e, &i) in tasks.iter().enumerate() {
                for _ in 0..steps {
                    self.p_step(i);
                    self.solve_w(i);
                }
                if let Some(out) = out.as_mut() {
                    self.losses_into(out.row_mut(e));
                }
            }
            return;
        };
        let mut acc = match out {
            Some(_) => vec![[0.0; 5]; tasks.len() * self.g.nrows()],
            None => Vec::new(),
        };
        let g = self.g.view();
        let state = Columns {
            p,
            w,
            g,
            alpha: self.alpha,
        };
        run_columns(state, tasks, steps, &mut acc);
        if let Some(mut out) = out {
            for (o, a) in out.iter_mut().zip(&acc) {
                *o = loss_of(a);
            }
        }
    }
}

/// a ← a − c·r on contiguous slices.
#[inline(always)]
fn axpy_neg(a: &mut [f64], c: f64, r: &[f64]) {
    for (x, &y) in a.iter_mut().zip(r) {
        *x -= c * y;
    }
}

/// ½‖a − b‖², four partial sums so the compiler can vectorise.
#[inline(always)]
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

/// Columns per block of [`run_columns`]: the block of every row ((T, B) values) and of r
/// and w stay in the first-level cache, at least 64 columns, a multiple of 4.
fn column_block(tasks: usize) -> usize {
    let fit = 24 * 1024 / (8 * (tasks + 2));
    (fit / 4 * 4).clamp(64, MAX_BLOCK)
}

/// The widest column block (r lives on the stack).
const MAX_BLOCK: usize = 512;

/// Loss accumulators of one task after one episode: the four partial sums of
/// [`half_dist2`] and its tail, summed over the column blocks in order.
type LossAcc = [f64; 5];

/// The loss ½‖a − b‖² from its accumulators, combined as [`half_dist2`] combines them.
fn loss_of(acc: &LossAcc) -> f64 {
    0.5 * ((acc[0] + acc[1]) + (acc[2] + acc[3]) + acc[4])
}

/// Runs the episodes `tasks` (each `steps` steps on its task) on the points `p` ((T, M)
/// row-major) and w (length M): every step on task i is p_j ← p_j − α G_ij (p_i − w) for
/// every j, then w ← p_i. After each episode e the loss accumulators of every task j
/// (`acc[e·T + j]`, when `acc` is not empty) take ½‖p_j − w‖².
///
/// The dynamics act on each coordinate separately, so the work goes block of columns by
/// block of columns: all the episodes on one block of every row while it is in the cache,
/// instead of one sweep over the whole state per step. Each coordinate sees the same
/// operations in the same order as in a sweep per step, and each loss the same additions
/// in the same order as [`half_dist2`] over the whole row (the blocks start at multiples
/// of 4 and are taken in order), so the numbers do not depend on the blocking.
///
/// On x86-64 CPUs with AVX2 the same code runs compiled for AVX2 (checked at run time):
/// the same IEEE operations, four lanes wide instead of two and no fused multiply-add,
/// so the numbers are bit for bit those of the portable code.
fn run_columns(state: Columns<'_>, tasks: &[usize], steps: usize, acc: &mut [LossAcc]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        unsafe { run_columns_avx2(state, tasks, steps, acc) };
        return;
    }
    run_columns_portable(state, tasks, steps, acc);
}

/// What [`run_columns`] works on: the points `p` ((T, M) row-major), w (length M), the
/// Gram matrix and α.
struct Columns<'a> {
    p: &'a mut [f64],
    w: &'a mut [f64],
    g: ArrayView2<'a, f64>,
    alpha: f64,
}

/// [`run_columns_portable`] compiled for AVX2.
///
/// # Safety
/// Only for a CPU that supports AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_columns_avx2(state: Columns<'_>, tasks: &[usize], steps: usize, acc: &mut [LossAcc]) {
    run_columns_portable(state, tasks, steps, acc);
}

/// The body of [`run_columns`], inlined into each build of it.
#[inline(always)]
fn run_columns_portable(state: Columns<'_>, tasks: &[usize], steps: usize, acc: &mut [LossAcc]) {
    let Columns { p, w, g, alpha } = state;
    let (m, t) = (w.len(), g.nrows());
    // Columns below `body` fall in [`half_dist2`]'s chunks of 4; the rest is its tail.
    let body = m / 4 * 4;
    let block = column_block(t);
    let mut r = [0.0f64; MAX_BLOCK];
    for k0 in (0..m).step_by(block) {
        let k1 = (k0 + block).min(m);
        let (r, w) = (&mut r[..k1 - k0], &mut w[k0..k1]);
        let split = body.clamp(k0, k1) - k0;
        for (e, &i) in tasks.iter().enumerate() {
            for s in 0..steps {
                let pi = &mut p[i * m + k0..i * m + k1];
                for ((r, &a), &b) in r.iter_mut().zip(pi.iter()).zip(w.iter()) {
                    *r = a - b;
                }
                // New p_i first: it is the new w.
                axpy_neg(pi, alpha * g[[i, i]], r);
                w.copy_from_slice(pi);
                let losses = if s + 1 == steps && !acc.is_empty() {
                    &mut acc[e * t..(e + 1) * t]
                } else {
                    &mut []
                };
                for j in 0..t {
                    let row = &mut p[j * m + k0..j * m + k1];
                    if j != i {
                        axpy_neg(row, alpha * g[[i, j]], r);
                    }
                    if let Some(a) = losses.get_mut(j) {
                        accumulate_half_dist2(a, row, w, split);
                    }
                }
            }
        }
    }
}

/// Adds the block `a` − `b` to the loss accumulators: its first `split` values (a multiple
/// of 4) in [`half_dist2`]'s four partial sums, the rest in its tail.
#[inline(always)]
fn accumulate_half_dist2(acc: &mut LossAcc, a: &[f64], b: &[f64], split: usize) {
    let (a_body, a_tail) = a.split_at(split);
    let (b_body, b_tail) = b.split_at(split);
    let mut lanes = [acc[0], acc[1], acc[2], acc[3]];
    for (x, y) in a_body.chunks_exact(4).zip(b_body.chunks_exact(4)) {
        for k in 0..4 {
            let d = x[k] - y[k];
            lanes[k] += d * d;
        }
    }
    acc[..4].copy_from_slice(&lanes);
    for (x, y) in a_tail.iter().zip(b_tail) {
        let d = x - y;
        acc[4] += d * d;
    }
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

    /// P-step and re-solve in one pass over the (T, M) state ([`run_columns`]).
    fn step(&mut self, i: usize) {
        self.run_episodes(&[i], 1, None);
    }

    fn episode(&mut self, i: usize, steps: usize, out: ArrayViewMut1<f64>) {
        if steps == 0 {
            self.losses_into(out);
            return;
        }
        self.run_episodes(&[i], steps, Some(out.insert_axis(Axis(0))));
    }

    /// All the episodes in one pass over the state ([`run_columns`]).
    fn episodes(&mut self, tasks: &[usize], steps: usize, mut out: ArrayViewMut2<f64>) {
        if steps == 0 {
            for row in out.rows_mut() {
                self.losses_into(row);
            }
            return;
        }
        self.run_episodes(tasks, steps, Some(out));
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

    fn points_into(&self, mut out: ArrayViewMut2<f64>) {
        out.assign(&self.p);
    }

    fn w(&self) -> Array1<f64> {
        self.w.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ToyConfig;

    fn state(tasks: usize, m: usize, seed: u64) -> FastState {
        let cfg = ToyConfig {
            tasks,
            input_dim: 40,
            embed_dim: m,
            lr: 0.02,
            seed,
            ..ToyConfig::default()
        };
        FastState::new(&ToyProblem::sample(&cfg)).unwrap()
    }

    /// A sweep over the whole state per step, with the loss of every row taken by
    /// `half_dist2` over the whole row: what the blocked kernel must reproduce exactly.
    fn sweep_per_step(st: &mut FastState, tasks: &[usize], steps: usize) -> Array2<f64> {
        let t = st.tasks();
        let mut out = Array2::zeros((tasks.len(), t));
        for (e, &i) in tasks.iter().enumerate() {
            for _ in 0..steps {
                st.p_step(i);
                st.solve_w(i);
            }
            st.losses_into(out.row_mut(e));
        }
        out
    }

    #[test]
    fn blocked_episodes_are_bit_for_bit_a_sweep_per_step() {
        // M below, at and across the column block, with and without a tail of < 4.
        for (t, m) in [
            (1, 3),
            (2, 4),
            (5, 7),
            (3, 130),
            (30, 1001),
            (25, 1000),
            (4, 2053),
        ] {
            for steps in [1, 3] {
                let tasks: Vec<usize> = (0..3 * t).map(|k| (k * 7 + 1) % t).collect();
                let mut a = state(t, m, 5);
                let mut b = a.clone();
                let mut blocked = Array2::zeros((tasks.len(), t));
                a.episodes(&tasks, steps, blocked.view_mut());
                let swept = sweep_per_step(&mut b, &tasks, steps);
                let same =
                    |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits());
                let (Some(bl), Some(sw)) = (blocked.as_slice(), swept.as_slice()) else {
                    panic!("standard layout");
                };
                assert!(same(bl, sw), "losses differ (T {t}, M {m}, K {steps})");
                assert!(same(a.p.as_slice().unwrap(), b.p.as_slice().unwrap()));
                assert!(same(a.w.as_slice().unwrap(), b.w.as_slice().unwrap()));
                assert!(t == 1 || bl.iter().any(|&l| l > 0.0), "losses all zero");
            }
        }
    }

    #[test]
    fn the_avx2_build_of_the_kernel_gives_the_portable_numbers() {
        let mut a = state(9, 777, 2);
        let mut b = a.clone();
        let tasks = [0, 3, 8, 1, 1, 5];
        let mut acc_a = vec![[0.0; 5]; tasks.len() * 9];
        let mut acc_b = acc_a.clone();
        fn columns(s: &mut FastState) -> Columns<'_> {
            Columns {
                p: s.p.as_slice_mut().unwrap(),
                w: s.w.as_slice_mut().unwrap(),
                g: s.g.view(),
                alpha: s.alpha,
            }
        }
        run_columns(columns(&mut a), &tasks, 2, &mut acc_a);
        run_columns_portable(columns(&mut b), &tasks, 2, &mut acc_b);
        let bits = |v: &[LossAcc]| v.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&acc_a), bits(&acc_b));
        assert_eq!(a.p, b.p);
    }
}
