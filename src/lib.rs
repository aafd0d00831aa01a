//! `reawaken`: the command-line edge over the library crates — clap arguments, settings
//! resolution (defaults ← `--config` file ← flags) and the summaries printed at the end.
//!
//! The work is done by `reawaken-analysis` (records, metrics), `reawaken-toy` (the toy
//! model) and `reawaken-figures`. The LLM half (`reawaken-llm`, which needs libtorch) is a
//! separate executable, `llm-cli/`, that `reawaken llm …` runs (`cli::llm`); see
//! docs/architecture.md.

pub mod cli;
