//! `reawaken`: the shared analysis layer (run records, metrics, PCA, cosine
//! similarity, figures) and the command-line edge.
//!
//! Data flows: documents → schedule → trainer → recorders → run record → figures.
//! The toy model lives in the `reawaken-toy` crate, the GPT-NeoX half in
//! `reawaken-llm` (behind the `llm` feature, which needs libtorch).

pub mod cli;
pub mod figures;
#[cfg(feature = "llm")]
pub mod probe;
