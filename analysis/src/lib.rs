//! `reawaken-analysis`: the layer every part of reawaken shares — run records
//! ([`record`]: `run.json` and numpy `.npy` arrays, written atomically), the metrics of
//! anticipatory recovery ([`metrics`]: recovery score, shift-averaged and online loss),
//! [`pca`] (on [`eigen`]), cosine similarity and trajectory residuals ([`similarity`]),
//! work spread over the cores ([`parallel`]), and the
//! settings mechanism of the commands ([`settings`]: TOML files, config diffs, the keys
//! that do not define a condition), stop signals ([`interrupt`]) and the CPU cores
//! concurrent runs share ([`cpus`]).
//!
//! Pure `ndarray`: no libtorch and no plotting here. The toy model, the LLM probe and
//! the figures depend on this crate; it depends on none of them. See
//! docs/architecture.md for the data flow.

pub mod choice;
pub mod cpus;
pub mod eigen;
pub mod interrupt;
pub mod lapack;
pub mod metrics;
pub mod parallel;
pub mod pca;
pub mod record;
pub mod settings;
pub mod similarity;

pub use choice::{Order, ParseChoiceError};
pub use metrics::{online_loss, recovery_score, shift_averaged_loss, MetricsError};
pub use record::{
    write_atomic, Metrics, OpenMode, RecordError, RunDir, RunInfo, RunKind, RunStatus,
};
