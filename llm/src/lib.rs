//! `reawaken-llm`: the LLM half of reawaken, on tch/libtorch.
//!
//! - [`model`]: the model families — GPT-NeoX (Pythia), GPT-2, Llama / Qwen2 / Mistral —
//!   their `config.json`s and networks behind one interface ([`Model`], [`ModelConfig`]),
//!   loading and saving Hugging Face directories, presets for fresh models, tokenizers.
//! - [`probe`]: `llm probe`, the paper's cyclic fine-tuning protocol, in the order the
//!   data flows: documents → schedule → trainer → recorders → run record.
//!
//! Run records, metrics and similarity live in `reawaken-analysis`; see
//! docs/architecture.md for how the crates fit together.

pub mod model;
pub mod probe;

pub use model::config::GptNeoXConfig;
pub use model::error::LlmError;
pub use model::family::{lm_loss, Model, ModelConfig, ParamLayout};
pub use model::gpt2::Gpt2Config;
pub use model::gpt_neox::GptNeoX;
pub use model::llama::LlamaConfig;
pub use model::load::{
    load_hf_dir, load_hf_dir_with, save_hf_dir, select_device, DType, LoadedModel,
};
pub use model::presets::{from_preset, InitScheme, ShapeOverrides};
pub use model::tokenizer::Tokenizer;

/// Re-export so the CLI crate can name tensors without its own `tch` dependency.
pub use tch;
