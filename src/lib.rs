//! `reawaken`: the command-line edge over the library crates — clap arguments, settings
//! resolution (defaults ← `--config` file ← flags) and the summaries printed at the end.
//!
//! The work is done by `reawaken-analysis` (records, metrics), `reawaken-toy` (the toy
//! model), `reawaken-llm` (GPT-NeoX and the probe; behind the `llm` feature, which needs
//! libtorch) and `reawaken-figures`; see docs/architecture.md.

pub mod cli;
