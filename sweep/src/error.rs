//! The one error type of the sweep crate.
use std::path::PathBuf;

/// Everything that can go wrong planning, running or reading a sweep.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The spec file could not be read or parsed (unknown table, wrong type, bad TOML).
    #[error(transparent)]
    Config(#[from] reawaken_analysis::settings::ConfigError),
    /// The spec is well-formed TOML but does not describe a sweep (an empty list, zip
    /// lists of different lengths, a key given twice, `seed` outside `seeds`).
    #[error("sweep spec `{path}`: {problem}")]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// What is wrong, naming the key.
        problem: String,
    },
    /// One point's settings are refused by the command's own validation.
    #[error("sweep spec `{path}`: point {point} ({values}): {problem}")]
    Point {
        /// The spec file.
        path: PathBuf,
        /// 0-based index of the point.
        point: usize,
        /// The point's swept values, `key = value, …`.
        values: String,
        /// The command's refusal (names the key).
        problem: String,
    },
    /// The sweep directory does not hold a plan, or holds another one.
    #[error("sweep directory `{path}`: {problem}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A file of the sweep could not be written or read.
    #[error(transparent)]
    Record(#[from] reawaken_analysis::RecordError),
    /// A run process could not be started or waited for.
    #[error("{action} `{what}`: {err}")]
    Process {
        /// What was being done (`start`, `wait for`).
        action: &'static str,
        /// The program or run.
        what: String,
        /// The OS error.
        err: std::io::Error,
    },
    /// `sbatch` refused the submission or is not installed.
    #[error("{0}")]
    Slurm(String),
}

/// The crate's result type.
pub type Result<T, E = SweepError> = std::result::Result<T, E>;
