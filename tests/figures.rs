//! `reawaken figures render` on the command line, from small, hand-made run records
//! (the records are those of the `reawaken-figures` tests). What the figures hold is
//! tested in `figures/tests/render.rs`.

#[path = "../figures/tests/common/mod.rs"]
mod fixtures;

use std::path::Path;

use assert_cmd::Command;
use fixtures::write_run;

#[test]
fn cli_missing_run_dir_fails_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let out = Command::cargo_bin("reawaken")
        .unwrap()
        .args(["figures", "render", "--run"])
        .arg(&missing)
        .assert()
        .failure()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("nope"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cli_writes_figures_and_lists_them() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    write_run(&a, "toy", 0, false, &[], &[]);
    let out = tmp.path().join("figs");
    let res = Command::cargo_bin("reawaken")
        .unwrap()
        .args(["figures", "render", "--run"])
        .arg(&a)
        .arg("--out")
        .arg(&out)
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&res.stdout);
    let listed: Vec<&str> = stdout.lines().collect();
    assert!(!listed.is_empty());
    for l in listed {
        assert!(Path::new(l).is_file(), "{l} listed but not written");
    }
    // No ring without points.npy, and the user is told so.
    assert!(!out.join("toy-ring-by-epoch.svg").exists());
    assert!(String::from_utf8_lossy(&res.stderr).contains("points.npy"));

    // A directory that is not a run record: non-zero exit naming run.json.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let res = Command::cargo_bin("reawaken")
        .unwrap()
        .args(["figures", "render", "--run"])
        .arg(&empty)
        .assert()
        .failure()
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&res.stderr).contains("run.json"));
}
