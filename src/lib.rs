//! `reawaken`: the command-line edge over the shared analysis layer (run records,
//! metrics, PCA, cosine similarity: the `reawaken-analysis` crate).
//!
//! Data flows: documents → schedule → trainer → recorders → run record → figures.
//! The toy model lives in the `reawaken-toy` crate, the GPT-NeoX half in
//! `reawaken-llm` (behind the `llm` feature, which needs libtorch), the figures in
//! `reawaken-figures`.

pub mod cli;
#[cfg(feature = "llm")]
pub mod probe;
