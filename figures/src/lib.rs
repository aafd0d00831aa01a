//! `reawaken-figures`: SVG figures from reawaken run records — the paper's Fig. 1a–c,
//! 2–5 (recovery score against a swept value), 8a–d (heatmaps), 9 (3-D PCA weight
//! trajectory), 10 (toy task-1 loss), 11 (toy ring), 22 (update norms). What each file
//! shows and how runs are combined: docs/figures.md.
//!
//! [`render()`] takes run directories, reads them ([`input`]: `run.json` as a typed
//! [`reawaken_analysis::record::RunInfo`], the loss matrix, the order and the recorder
//! arrays), groups them (seeds of one condition are averaged; a condition differing from
//! the first one only in `order` becomes the cyclic-vs-shuffled comparison; conditions
//! differing in other config values become a sweep) and writes every figure the runs
//! support, one module per figure family. The drawing primitives in [`plot`] work on
//! plain numbers.
//!
//! Plotting only: no libtorch, no model code. The metrics come from
//! `reawaken-analysis`.

mod condition;
mod figure;
pub mod input;
pub mod plot;
pub mod render;

use std::path::PathBuf;

pub use input::{load_run, read_float, RunInput};
pub use render::{render, Rendered};

/// Everything that can go wrong while reading runs or drawing figures.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    #[error("run directory {0} does not exist")]
    NoRunDir(PathBuf),
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Json { path: PathBuf, msg: String },
    #[error("{path} is missing (the run record is incomplete)")]
    MissingArray { path: PathBuf },
    #[error(transparent)]
    Record(#[from] reawaken_analysis::record::RecordError),
    #[error("{path}: unexpected shape: {msg}")]
    Shape { path: PathBuf, msg: String },
    #[error("run {dir} has status \"{status}\", not \"complete\"")]
    NotComplete {
        dir: PathBuf,
        status: reawaken_analysis::record::RunStatus,
    },
    #[error("nothing to draw in \"{0}\" (no finite values)")]
    Empty(String),
    /// Finite values that no axis or colour scale can show (e.g. −1e308 and 1e308: the
    /// span overflows f64).
    #[error("{what} cannot be drawn: values from {lo:e} to {hi:e}: {reason}")]
    Unplottable {
        what: String,
        lo: f64,
        hi: f64,
        reason: &'static str,
    },
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
