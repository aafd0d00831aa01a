//! Adds an rpath to libtorch to `reawaken-llm` and its tests (see `../libtorch_rpath.rs`).
include!("../libtorch_rpath.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../libtorch_rpath.rs");
    libtorch_rpath("rustc-link-arg");
}
