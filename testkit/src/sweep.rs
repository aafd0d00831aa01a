//! Support for the sweep tests (local runner and Slurm): waiting on a condition with a
//! bound, reading a record's `run.json`, and comparing two records' arrays byte for byte.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Polls `cond` every 100 ms; panics naming `what` after `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "still waiting after {secs} s for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The record's `run.json` (Null while there is none or it is being replaced).
pub fn run_json(record: &Path) -> serde_json::Value {
    std::fs::read(record.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Episodes a record has done so far (0 without a record).
pub fn episodes_done(record: &Path) -> u64 {
    run_json(record)["episodes_done"].as_u64().unwrap_or(0)
}

/// The record directories of the sweep in `sweep` (from its `sweep.json`), in index order.
pub fn records(sweep: &Path) -> Vec<PathBuf> {
    let bytes = std::fs::read(sweep.join("sweep.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", sweep.display()));
    let m: serde_json::Value = serde_json::from_slice(&bytes).expect("sweep.json is JSON");
    m["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| sweep.join(r["record"].as_str().expect("record")))
        .collect()
}

/// The `.npy` files of a record, sorted by name.
pub fn arrays(record: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(record)
        .unwrap_or_else(|e| panic!("{}: {e}", record.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .collect();
    files.sort();
    files
}

/// Asserts that two records hold the same `.npy` files with the same bytes, and the same
/// metrics in `run.json`.
pub fn assert_same_numbers(a: &Path, b: &Path) {
    let (fa, fb) = (arrays(a), arrays(b));
    let names = |f: &[PathBuf]| -> Vec<String> {
        f.iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&fa), names(&fb), "{} vs {}", a.display(), b.display());
    assert!(!fa.is_empty(), "{} holds no arrays", a.display());
    for (x, y) in fa.iter().zip(&fb) {
        assert!(
            std::fs::read(x).unwrap() == std::fs::read(y).unwrap(),
            "{} differs from {}",
            x.display(),
            y.display()
        );
    }
    assert_eq!(run_json(a)["metrics"], run_json(b)["metrics"]);
}
