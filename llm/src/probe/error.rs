//! Errors of `llm probe` (settings, documents, schedule, trainer, recorders, record).
use std::path::PathBuf;

/// Everything that can go wrong while preparing or running a probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A user input (documents, flag values) is not usable; the message names it.
    #[error("{0}")]
    Input(String),
    /// An error from libtorch.
    #[error("libtorch: {}", crate::model::error::torch_message(.0))]
    Torch(#[from] tch::TchError),
    /// Loading or building the model failed.
    #[error(transparent)]
    Llm(#[from] crate::model::error::LlmError),
    /// The model does not have what the probe needs (e.g. a parameter name).
    #[error("model: {0}")]
    Model(String),
    /// A setting is out of range or does not fit the model or the documents. `key` is the
    /// setting's name (the flag without `--`, the TOML key); the CLI spells it as a flag.
    #[error("`{key}` {problem}")]
    Setting { key: &'static str, problem: String },
    /// The run record cannot be written or read, or does not fit the run.
    #[error(transparent)]
    Record(#[from] reawaken_analysis::RecordError),
    /// A record that cannot be resumed, and why.
    #[error("{0}")]
    Resume(String),
    /// The run would not fit in this machine's memory; the message has the estimate.
    #[error("{0}")]
    TooBig(String),
    /// The run stopped on an error after its record was opened; the record is marked
    /// `failed` and `next` says what can be done.
    #[error("{error}; the record is marked failed: {next}")]
    RunFailed {
        error: Box<ProbeError>,
        next: String,
    },
    /// The metrics could not be computed.
    #[error("metrics: {0}")]
    Metrics(#[from] reawaken_analysis::MetricsError),
}

impl ProbeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ProbeError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the probe half.
pub type Result<T> = std::result::Result<T, ProbeError>;
