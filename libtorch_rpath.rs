// Shared by build.rs, llm/build.rs and llm-cli/build.rs (included with `include!`): adds
// an rpath to libtorch (see `.cargo/config.toml`) so binaries, tests and examples run
// without `LD_LIBRARY_PATH`, and one to Debian's single-threaded OpenBLAS. `directive` is the cargo instruction that carries it
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

// Debian's single-threaded OpenBLAS (`libopenblas0-serial`, installed by
// scripts/setup.sh), found before the default pthread build when it is installed. The
// analysis layer's matrices are small (PCA of T×T or episode×episode Gram matrices);
// the pthread build starts a pool of threads when it is loaded that spin (sched_yield)
// for a while, which cost a short run like `toy simulate` a third of its time and
// compete with libtorch's own threads in the LLM executable. Without the package the
// default OpenBLAS is used, with the same results.
fn openblas_serial_rpath(directive: &str) {
    let Ok(target) = std::env::var("TARGET") else {
        return;
    };
    let arch = target.split('-').next().unwrap_or("");
    let dir = format!("/usr/lib/{arch}-linux-gnu/openblas-serial");
    println!("cargo:rerun-if-changed={dir}");
    if std::path::Path::new(&dir).join("libopenblas.so.0").exists() {
        println!("cargo:{directive}=-Wl,-rpath,{dir}");
    }
}
