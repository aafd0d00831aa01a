// Shared by build.rs, llm/build.rs and llm-cli/build.rs (included with `include!`): adds
// an rpath to libtorch (see `.cargo/config.toml`) so binaries, tests and examples run
// without `LD_LIBRARY_PATH`. `directive` is the cargo instruction that carries it
// (`rustc-link-arg` for every target, `rustc-link-arg-tests` for tests only).
//
// libtorch_cuda is deliberately not forced into the link: the LLM executable loads the
// CUDA backend at run time, only when a CUDA device is asked for or `auto` finds a driver
// (`reawaken_llm::model::load::select_device`; docs/architecture.md).
fn libtorch_rpath(directive: &str) {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        return;
    };
    let root = std::path::PathBuf::from(libtorch);
    // Resolve the `.libtorch` symlink so the rpath survives a re-link of it.
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let lib = root.join("lib");
    println!("cargo:{directive}=-Wl,-rpath,{}", lib.display());
}
