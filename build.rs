//! Adds an rpath to libtorch when the `llm` feature is on (see `libtorch_rpath.rs`).
include!("libtorch_rpath.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=libtorch_rpath.rs");
    if std::env::var_os("CARGO_FEATURE_LLM").is_some() {
        libtorch_rpath();
    }
}
