//! GPT-NeoX (Pythia) on tch: the `config.json` schema ([`config`]), the network in
//! Hugging Face parameter naming ([`gpt_neox`]), loading and saving model directories
//! ([`load`]), fresh models of the Pythia shapes ([`presets`]) and tokenizers
//! ([`tokenizer`]). Details: docs/gpt-neox.md.

pub mod config;
pub mod error;
pub mod gpt_neox;
pub mod load;
pub mod presets;
pub mod tokenizer;
