//! `reawaken-llm`: GPT-NeoX (Pythia) on tch/libtorch, and the building blocks of the
//! cyclic fine-tuning probe (documents, schedule, trainer, recorders).

// --- the model (GPT-NeoX issue) ---
pub mod config;
pub mod error;
pub mod gpt_neox;
pub mod load;
pub mod presets;
pub mod tokenizer;

pub use config::GptNeoXConfig;
pub use error::LlmError;
pub use gpt_neox::{lm_loss, GptNeoX};
pub use load::{load_hf_dir, load_hf_dir_with, save_hf_dir, select_device, DType, LoadedModel};
pub use presets::{from_preset, InitScheme, ShapeOverrides};
pub use tokenizer::Tokenizer;

// --- the probe (llm probe issue) ---
pub mod corpus;
pub mod documents;
pub mod interrupt;
pub mod probe_error;
pub mod recorders;
pub mod schedule;
pub mod trainer;

/// Re-export so the CLI crate can name tensors without its own `tch` dependency.
pub use tch;
