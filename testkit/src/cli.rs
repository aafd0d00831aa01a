//! Running the real `reawaken` binary in tests: bounded in time, and the checks every
//! refused input must pass (docs/errors.md).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `bin args` with `RUST_LOG=warn`, no backtraces and one CPU thread
/// ([`TEST_THREADS`]); kills it and panics if it runs longer than `secs` (a hang is a
/// failure, never a stuck test).
pub fn run_bounded(bin: &str, args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("OMP_NUM_THREADS", TEST_THREADS)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let o = child.wait_with_output().expect("output");
            panic!(
                "`reawaken {}` still running after {secs} s (a hang); stderr: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The CPU threads of every probe a test starts (`OMP_NUM_THREADS`): the tests of one
/// binary run side by side, and a probe without a given thread count uses as many
/// threads as cores are free, so its last bits would depend on which other tests run
/// at the same moment. With one thread each they neither spin against each other nor
/// differ from run to run.
pub const TEST_THREADS: &str = "1";

/// [`run_bounded`], which must succeed; returns stdout.
pub fn run_ok(bin: &str, args: &[&str], secs: u64) -> String {
    let o = run_bounded(bin, args, secs);
    assert!(
        o.status.success(),
        "`reawaken {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit status ≠ 0 (and not 101, a panic), stderr holds every needle (any case), no panic
/// or backtrace text (Rust's or libtorch's `frame #`), exactly one `error:` line; a record
/// under `out` (if any) is not `complete`. Returns stderr.
pub fn assert_refused(o: &Output, needles: &[&str], out: Option<&Path>) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "should fail, stderr: {err}");
    assert_ne!(o.status.code(), Some(101), "exit 101 = panic: {err}");
    for n in needles {
        assert!(
            err.to_lowercase().contains(&n.to_lowercase()),
            "stderr should mention {n:?}: {err}"
        );
    }
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace", "frame #"] {
        assert!(!err.contains(bad), "{bad} in stderr: {err}");
    }
    let error_lines = err.lines().filter(|l| l.starts_with("error:")).count();
    assert_eq!(error_lines, 1, "one `error:` line expected: {err}");
    if let Some(out) = out {
        assert_not_complete(out);
    }
    err
}

/// A `run.json` left under `out` is valid JSON and not `complete`.
pub fn assert_not_complete(out: &Path) {
    if let Ok(b) = std::fs::read(out.join("run.json")) {
        let v: serde_json::Value =
            serde_json::from_slice(&b).expect("a run.json left behind is valid JSON");
        assert_ne!(v["status"], "complete", "{}", String::from_utf8_lossy(&b));
    }
}

/// Copies a record (its files and sub-directories) to `dst`, leaving its lock file
/// behind (as a copy made after the writer ended would).
pub fn copy_record(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_record(&p, &dst.join(e.file_name()));
        } else if e.file_name() != ".reawaken-lock" {
            std::fs::copy(&p, dst.join(e.file_name())).unwrap();
        }
    }
}
