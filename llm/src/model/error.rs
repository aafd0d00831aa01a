//! Errors of the model side of `reawaken-llm`: loading, saving, presets, devices.
//!
//! Every variant names the file (and where relevant the tensor) it is about, so that
//! a user reading one line knows what to fix.

use std::path::PathBuf;

/// Everything that can go wrong while building, loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// Reading or writing a file failed at the OS level.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The model directory does not exist or is not a directory.
    #[error("{}: {}", .path.display(), if .path.exists() { "not a directory (a Hugging Face model directory is expected)" } else { "no such model directory" })]
    NotADirectory { path: PathBuf },

    /// A model directory has no `config.json`.
    #[error("{}: no config.json in this model directory (expected a Hugging Face model directory: config.json + model.safetensors)", dir.display())]
    MissingConfig { dir: PathBuf },

    /// `config.json` is not valid JSON or has a field of the wrong type.
    #[error("{}: cannot parse config: {source}", path.display())]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// `config.json` parses but describes a model we cannot build.
    #[error("{}: invalid config: {reason}", path.display())]
    InvalidConfig { path: PathBuf, reason: String },

    /// `config.json` is for an architecture reawaken does not build.
    #[error("{}: unsupported architecture {found} (supported model_type: {})", path.display(), crate::model::family::supported_model_types())]
    UnsupportedArchitecture { path: PathBuf, found: String },

    /// A model directory has neither `model.safetensors` nor `model.safetensors.index.json`.
    #[error("{}: no weights found (expected model.safetensors or model.safetensors.index.json; pytorch_model.bin is not supported, convert it to safetensors)", dir.display())]
    MissingWeights { dir: PathBuf },

    /// A safetensors file is truncated, has a broken header, or is not safetensors at all.
    #[error("{}: corrupt or truncated safetensors file: {reason}", path.display())]
    CorruptFile { path: PathBuf, reason: String },

    /// The sharded index file is malformed or points to a missing shard.
    #[error("{}: bad sharded-weights index: {reason}", path.display())]
    BadIndex { path: PathBuf, reason: String },

    /// A tensor the model needs is in none of the weight files.
    #[error("{}: missing tensor {name} (the config asks for it; the file does not have it)", path.display())]
    MissingTensor { path: PathBuf, name: String },

    /// A tensor has another shape than the config implies.
    #[error("{}: tensor {name} has shape {found:?}, but config.json implies {expected:?} (config/weights mismatch?)", path.display())]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },

    /// A tensor has a dtype that cannot hold model weights (e.g. integers).
    #[error("{}: tensor {name} has dtype {found}; weights must be F32, F16, BF16 or F64", path.display())]
    DtypeMismatch {
        path: PathBuf,
        name: String,
        found: String,
    },

    /// A weight file holds a tensor the config does not account for.
    #[error("{}: unexpected tensor {name}: {reason} (config/weights mismatch)", path.display())]
    UnexpectedTensor {
        path: PathBuf,
        name: String,
        reason: String,
    },

    /// `tokenizer.json` cannot be read by the `tokenizers` crate.
    #[error("{}: cannot load tokenizer: {reason}", path.display())]
    Tokenizer { path: PathBuf, reason: String },

    /// The tokenizer produces ids the model has no embedding for.
    #[error("{}: tokenizer has ids up to {max_id} but the model's vocab_size is {model_vocab} (tokenizer and model do not belong together)", path.display())]
    TokenizerVocab {
        path: PathBuf,
        max_id: i64,
        model_vocab: i64,
    },

    /// Encoding a text failed.
    #[error("cannot tokenize text: {0}")]
    Encode(String),

    /// `--device` asked for something this machine does not have.
    #[error("device {spec:?}: {reason}")]
    Device { spec: String, reason: String },

    /// An unknown preset name.
    #[error("unknown preset {name:?}; known presets: {known}")]
    UnknownPreset { name: String, known: String },

    /// A width/depth/heads/vocab override that makes no model.
    #[error("invalid model shape: {0}")]
    InvalidShape(String),

    /// A libtorch call failed.
    #[error("libtorch error while {context}: {}", torch_message(.source))]
    Torch {
        context: String,
        #[source]
        source: tch::TchError,
    },
}

impl LlmError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LlmError::Io {
            path: path.into(),
            source,
        }
    }

    /// Wraps a libtorch error with what we were doing.
    pub fn torch(context: impl Into<String>, source: tch::TchError) -> Self {
        LlmError::Torch {
            context: context.into(),
            source,
        }
    }
}

/// libtorch's message without its C++ backtrace (`Exception raised from … frame #0 …`)
/// and its repetitions: the first line of what went wrong.
pub fn torch_message(e: &tch::TchError) -> String {
    let text = e.to_string();
    let text = text.split("Exception raised from").next().unwrap_or(&text);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let line = line.strip_prefix("Internal torch error: ").unwrap_or(line);
    let mut out: String = line.chars().take(400).collect();
    if out.is_empty() {
        out = "unknown libtorch error".into();
    }
    out
}

/// Result alias of this crate's model side.
pub type Result<T, E = LlmError> = std::result::Result<T, E>;
