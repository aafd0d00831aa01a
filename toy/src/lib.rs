//! The toy model of anticipatory recovery (Yang et al., NeurIPS 2024, §4.4 and App. A.5).
//!
//! Tasks i = 0..T−1 are data points x_i ∈ R^N. A slow embedding P ∈ R^{M×N} and a fast
//! vector w ∈ R^M are trained on the loss ℓ_i = ½‖P x_i − f_i(w)‖² with f_i(w) = w
//! (`identity`) or f_i(w) = y_i − w (`target`). One step on task i:
//! P ← P − α (P x_i − f_i(w)) x_iᵀ, then w ← f_i⁻¹(P x_i). An episode is K steps on one
//! task; after every episode the loss of every task is recorded.
//!
//! [`simulate`] runs a [`ToyConfig`] with the fast projection-space dynamics
//! ([`FastState`], O(M·T) per episode including all T losses); [`reference`] keeps the
//! textbook explicit-P implementation that the tests compare it with.
//!
//! ```
//! use reawaken_toy::{simulate, ToyConfig};
//! let run = simulate(&ToyConfig::default(), &mut |_| {}).unwrap();
//! assert_eq!(run.losses.dim(), (25 * 10 + 1, 25));
//! assert_eq!(run.points.dim(), (11, 25, 100));
//! ```

pub mod config;
pub mod dynamics;
pub mod error;
pub mod problem;
pub mod record;
pub mod reference;
pub mod run;
pub mod simulate;

pub use config::{LossReduction, Mapping, Order, ToyConfig};
pub use dynamics::{Dynamics, FastState};
pub use error::ToyError;
pub use problem::{Init, InitMethod, ToyProblem};
pub use reawaken_analysis::ParseChoiceError;
pub use record::simulate_to_record;
pub use run::ToyRun;
pub use simulate::{check_stability, make_order, run_with_order, simulate};
