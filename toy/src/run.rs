//! The outcome of a toy simulation.

use ndarray::{Array2, Array3};

use crate::problem::InitMethod;

/// The result of a toy simulation (all values finite).
#[derive(Clone, Debug, PartialEq)]
pub struct ToyRun {
    /// Shape (episodes + 1, T): row s = ℓ_j of every task j after s episodes; row 0 before
    /// training.
    pub losses: Array2<f64>,
    /// Length = episodes: the task trained in episode s (its losses are row s + 1).
    pub order: Vec<usize>,
    /// Shape (snapshots, T, M): the points f_i⁻¹(P x_i) of every task, at episode 0 and
    /// after every T episodes (for plain runs: index e = end of epoch e, 0 = init; E + 1
    /// snapshots).
    pub points: Array3<f64>,
    /// max_i α‖x_i‖² of the data (the P-step multiplies the trained task's residual by
    /// 1 − α‖x_i‖²; must stay < 2).
    pub step_factor_max: f64,
    /// How the initial projections P0·X were produced.
    pub init_method: InitMethod,
}
