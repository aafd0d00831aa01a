//! Errors of the toy model.

use crate::simulate::ToyRun;

/// A choice flag (`--mapping`, `--order`) got a value it does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{got}': expected one of {expected}")]
pub struct ParseChoiceError {
    /// Which setting was parsed (`mapping`, `order`).
    pub what: &'static str,
    /// The value given.
    pub got: String,
    /// The accepted values, human readable.
    pub expected: &'static str,
}

/// Everything that can go wrong when configuring or running the toy model.
#[derive(Debug, thiserror::Error)]
pub enum ToyError {
    /// A setting is out of range; the message says which and what to change.
    #[error("invalid toy configuration: {0}")]
    InvalidConfig(String),
    /// The learning rate overshoots on at least one sampled task:
    /// `lr * |x_i|^2 >= 2`, so the residual of that task grows at every visit and the run
    /// would end in inf/NaN. Refused before any step is taken.
    #[error("{message}")]
    Unstable {
        /// The learning rate α.
        lr: f64,
        /// N, the input dimension.
        input_dim: usize,
        /// The (0-based) task with the largest `lr * |x_i|^2` (the first one when not sampled yet).
        task: usize,
        /// `lr * |x_task|^2` (the expected value `lr * N / 3` when checked before sampling).
        step_factor: f64,
        /// A plain-words explanation including what to change.
        message: String,
    },
    /// An explicitly given problem (data, initial state, order) is inconsistent.
    #[error("invalid toy problem: {0}")]
    InvalidProblem(String),
    /// A loss became inf/NaN after `episode` episodes. `partial` holds everything recorded
    /// up to the last finite episode (rows `0..episode` of the loss matrix, the order
    /// trained so far, and the points of the completed epochs), so that a caller can write
    /// a record with status `diverged`.
    #[error(
        "the loss became non-finite (inf/NaN) after {episode} episodes; lower --lr \
         (the step factor lr*|x|^2 must stay well below 2)"
    )]
    NonFinite {
        /// Number of episodes done when the non-finite loss appeared (1-based row of the
        /// loss matrix that would have held it).
        episode: usize,
        /// What ran until then (all values finite).
        partial: Box<ToyRun>,
    },
}
