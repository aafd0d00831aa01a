// Shared by build.rs and llm/build.rs (included with `include!`): adds an rpath to
// libtorch (see `.cargo/config.toml`) so binaries, tests and examples run without
// `LD_LIBRARY_PATH`.
fn libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(libtorch) = std::env::var_os("LIBTORCH") else {
        return;
    };
    let root = std::path::PathBuf::from(libtorch);
    // Resolve the `.libtorch` symlink so the rpath survives a re-link of it.
    let root = std::fs::canonicalize(&root).unwrap_or(root);
    let lib = root.join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    // Keep libtorch_cuda in the link even though no symbol of it is referenced
    // directly: it registers the CUDA backend when loaded.
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
