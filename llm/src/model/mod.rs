//! The model families on tch, one file per family, behind [`family`]'s interface:
//! GPT-NeoX / Pythia ([`gpt_neox`], its `config.json` in [`config`]), GPT-2 and Image GPT ([`gpt2`]) and
//! the Llama family — Llama, Qwen2, Mistral ([`llama`]); their shared building blocks
//! ([`layers`]); loading and saving Hugging Face directories ([`load`]); fresh models of
//! the Pythia and GPT-2 shapes ([`presets`]); tokenizers ([`tokenizer`]), Image GPT's
//! colour clusters among them ([`pixels`]).
//! Details: docs/gpt-neox.md and docs/model-families.md.

pub mod config;
pub mod error;
pub mod family;
pub mod gpt2;
pub mod gpt_neox;
pub mod layers;
pub mod llama;
pub mod load;
pub mod pixels;
pub mod presets;
pub mod tokenizer;
