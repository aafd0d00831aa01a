//! SVG figures from run records (SPEC §7): the paper's Fig. 1a–c, 2–5 (recovery
//! score against a swept value), 8a–d (heatmaps), 9 (3-D PCA weight trajectory),
//! 10 (toy task-1 loss), 11 (toy ring), 22 (update norms).
//!
//! [`render`] takes run directories, groups them (seeds of one condition are
//! averaged; a condition differing from the first one only in `order` becomes the
//! cyclic-vs-shuffled comparison; conditions differing in other config values become
//! a sweep) and writes every figure the runs support. The drawing primitives in
//! [`plot`] work on plain numbers.

pub mod input;
pub mod plot;
pub mod render;
pub mod style;

use std::path::PathBuf;

pub use input::{load_run, RunInput};
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
    #[error("cannot read {path}: {msg}")]
    Npy { path: PathBuf, msg: String },
    #[error(transparent)]
    Record(#[from] reawaken_analysis::record::RecordError),
    #[error("{path}: unexpected shape: {msg}")]
    Shape { path: PathBuf, msg: String },
    #[error("run {dir} has status \"{status}\", not \"complete\"")]
    NotComplete { dir: PathBuf, status: String },
    #[error("nothing to draw in \"{0}\" (no finite values)")]
    Empty(String),
    #[error("drawing failed: {0}")]
    Draw(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("none of the {0} run(s) given can be used (reasons above)")]
    NoUsableRuns(usize),
}
