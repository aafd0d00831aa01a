//! The straightforward implementation with an explicit matrix P, exactly as the equations
//! read. O(M·N) per step and O(M·N·T) for the T losses. Kept as the ground truth the fast
//! path ([`crate::FastState`]) is tested against.

use ndarray::{Array1, Array2, ArrayViewMut1};

use crate::config::Mapping;
use crate::dynamics::Dynamics;
use crate::error::ToyError;
use crate::problem::{Init, ToyProblem};
use crate::run::ToyRun;
use crate::simulate::run_with;

/// The state (P, w) with P materialised.
#[derive(Clone, Debug)]
pub struct ExplicitState {
    mapping: Mapping,
    alpha: f64,
    /// P, (M, N).
    p: Array2<f64>,
    /// X, (T, N), row i = x_i.
    x: Array2<f64>,
    /// Y, (T, M), row i = y_i.
    y: Array2<f64>,
    w: Array1<f64>,
}

impl ExplicitState {
    /// The initial state; the problem must carry P0 ([`ToyProblem::sample_explicit`]).
    pub fn new(problem: &ToyProblem) -> Result<ExplicitState, ToyError> {
        problem.check()?;
        let Init::P0(p0) = &problem.init else {
            return Err(ToyError::InvalidProblem(
                "the explicit reference needs P0 itself, not only Z0 = P0 X".into(),
            ));
        };
        Ok(ExplicitState {
            mapping: problem.mapping,
            alpha: problem.lr,
            p: p0.clone(),
            x: problem.x.clone(),
            y: problem.y.clone(),
            w: problem.w0.clone(),
        })
    }

    /// P, (M, N).
    pub fn p(&self) -> &Array2<f64> {
        &self.p
    }

    /// f_i(w).
    fn f(&self, i: usize, w: &Array1<f64>) -> Array1<f64> {
        match self.mapping {
            Mapping::Identity => w.clone(),
            Mapping::Target => &self.y.row(i) - w,
        }
    }

    /// f_i⁻¹(v).
    fn f_inv(&self, i: usize, v: &Array1<f64>) -> Array1<f64> {
        match self.mapping {
            Mapping::Identity => v.clone(),
            Mapping::Target => &self.y.row(i) - v,
        }
    }
}

impl Dynamics for ExplicitState {
    fn tasks(&self) -> usize {
        self.x.nrows()
    }
    fn embed_dim(&self) -> usize {
        self.w.len()
    }
    fn p_step(&mut self, i: usize) {
        let xi = self.x.row(i).to_owned();
        let r = self.p.dot(&xi) - self.f(i, &self.w);
        // P ← P − α r x_iᵀ
        let rc = r.insert_axis(ndarray::Axis(1));
        let xr = xi.insert_axis(ndarray::Axis(0));
        self.p.scaled_add(-self.alpha, &rc.dot(&xr));
    }
    fn solve_w(&mut self, i: usize) {
        let z = self.p.dot(&self.x.row(i));
        self.w = self.f_inv(i, &z);
    }
    fn losses_into(&self, mut out: ArrayViewMut1<f64>) {
        let z = self.x.dot(&self.p.t()); // (T, M), row j = P x_j
        for (j, o) in out.iter_mut().enumerate() {
            let d = &z.row(j) - &self.f(j, &self.w);
            *o = 0.5 * d.dot(&d);
        }
    }
    fn residual(&self, i: usize) -> Array1<f64> {
        self.p.dot(&self.x.row(i)) - self.f(i, &self.w)
    }
    fn points(&self) -> Array2<f64> {
        let z = self.x.dot(&self.p.t());
        match self.mapping {
            Mapping::Identity => z,
            Mapping::Target => &self.y - &z,
        }
    }
    fn w(&self) -> Array1<f64> {
        self.w.clone()
    }
}

/// Runs the explicit-P reference on a problem carrying P0 with the given order
/// (same recording rules as [`crate::run_with_order`]).
pub fn simulate_explicit(
    problem: &ToyProblem,
    order: &[usize],
    steps: usize,
    on_episode: &mut dyn FnMut(usize),
) -> Result<ToyRun, ToyError> {
    crate::simulate::check_stability(problem)?;
    let mut state = ExplicitState::new(problem)?;
    run_with(&mut state, problem, order, steps, on_episode)
}
