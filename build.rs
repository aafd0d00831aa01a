//! The `reawaken` executable links no libtorch. Its tests do (the settings fuzzer uses the
//! LLM library), so they get an rpath to it (see `libtorch_rpath.rs`).
include!("libtorch_rpath.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=libtorch_rpath.rs");
    libtorch_rpath("rustc-link-arg-tests");
}
