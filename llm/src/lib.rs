//! `reawaken-llm`: GPT-NeoX (Pythia) on tch/libtorch, and the building blocks of the
//! cyclic fine-tuning probe (documents, schedule, trainer, recorders).

// --- the model (GPT-NeoX issue) ---
pub mod config;
pub mod error;
pub mod gpt_neox;
pub mod load;
pub mod presets;
pub mod tokenizer;

// --- the probe (llm probe issue) ---
pub mod corpus;
pub mod documents;
pub mod recorders;
pub mod schedule;
pub mod trainer;
