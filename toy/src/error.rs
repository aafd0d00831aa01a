//! Errors of the toy model.

use crate::run::ToyRun;

/// Everything that can go wrong when configuring or running the toy model.
#[derive(Debug, thiserror::Error)]
pub enum ToyError {
    /// A setting is out of range; the message says which and what to change.
    #[error("invalid toy configuration: {0}")]
    InvalidConfig(String),
    /// The step size is past the stability limit on at least one sampled task:
    /// `lr * |x_i|^2 >= 1` (see `config::UNSTABLE_STEP_FACTOR`), so the residuals grow
    /// geometrically from task to task. Refused before any step is taken.
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
         (the step factor lr*|x|^2 must stay below 1)"
    )]
    NonFinite {
        /// Number of episodes done when the non-finite loss appeared (1-based row of the
        /// loss matrix that would have held it).
        episode: usize,
        /// What ran until then (all values finite).
        partial: Box<ToyRun>,
    },
    /// The losses grew without bound: after `episode` episodes the largest loss, still
    /// finite, exceeded [`crate::config::RUNAWAY_FACTOR`] times the largest initial loss.
    /// `partial` holds the run up to and including that episode.
    #[error(
        "the losses grew without bound: the largest loss reached {max_loss:.3e} after \
         {episode} episodes ({:.0e} times its initial maximum {initial_max:.3e}); lower --lr",
        crate::config::RUNAWAY_FACTOR
    )]
    Runaway {
        /// The episode at which the bound was crossed.
        episode: usize,
        /// The largest loss of that episode.
        max_loss: f64,
        /// The largest loss before training.
        initial_max: f64,
        /// What ran until then (every value finite).
        partial: Box<ToyRun>,
    },
    /// A stop was requested (Ctrl-C, SIGTERM, SIGHUP; `reawaken_analysis::interrupt`)
    /// after `episode` episodes; `partial` holds what ran until then.
    #[error("stopped by {signal} after {episode} episodes")]
    Interrupted {
        /// Which signal (`Ctrl-C (SIGINT)`, `SIGTERM`, `SIGHUP`).
        signal: &'static str,
        /// Episodes done.
        episode: usize,
        /// What ran until then.
        partial: Box<ToyRun>,
    },
    /// The run was stopped and its record says so (status `interrupted`).
    #[error(
        "stopped by {signal} after {kept} episodes; the record in `{}` has status \"interrupted\" and holds them (a toy run cannot be resumed: run it again with --force)",
        dir.display()
    )]
    Stopped {
        /// Which signal.
        signal: &'static str,
        /// Episodes kept in the record.
        kept: usize,
        /// The record.
        dir: std::path::PathBuf,
        /// The shell's exit status for that signal (128 + its number).
        exit_code: i32,
    },
    /// The run diverged and its record says so (status `diverged`).
    #[error(
        "the run diverged: {reason}; the record in `{}` has status \"diverged\" and holds the {kept} episodes up to it",
        dir.display()
    )]
    Diverged {
        /// Why (the message of the non-finite or runaway error).
        reason: String,
        /// Episodes kept in the record.
        kept: usize,
        /// The record.
        dir: std::path::PathBuf,
    },
    /// Writing or reading the run record failed.
    #[error(transparent)]
    Record(#[from] reawaken_analysis::RecordError),
    /// The metrics could not be computed.
    #[error("computing metrics: {0}")]
    Metrics(#[from] reawaken_analysis::MetricsError),
}
