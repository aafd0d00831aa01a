//! Tests of the real `reawaken toy simulate` binary: defaults, determinism, the record
//! files, config files and flag overrides, and bad input (docs/errors.md).

use std::path::Path;

use assert_cmd::Command;
use ndarray::{Array1, Array2, Array3, Ix1, Ix2, Ix3};
use reawaken_analysis::record::{read_npy, read_npy_header, RunDir, RunStatus};

fn bin() -> Command {
    let mut c = Command::cargo_bin("reawaken").expect("binary built");
    c.env_remove("RUST_LOG").env("RUST_BACKTRACE", "1");
    c
}

fn simulate(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    bin()
        .args(["toy", "simulate", "--out"])
        .arg(out)
        .args(extra)
        .assert()
}

/// Asserts a failure with one plain `error:` line mentioning every `needle`, no panic,
/// and no record that looks complete at `out`.
fn assert_plain_failure(a: assert_cmd::assert::Assert, out: &Path, needles: &[&str]) {
    let output = a.get_output().clone();
    assert!(!output.status.success(), "expected failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one message, got:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("error:"), "{line}");
    for n in needles {
        assert!(
            line.to_lowercase().contains(&n.to_lowercase()),
            "message lacks {n:?}: {line}"
        );
    }
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    if let Ok(rd) = RunDir::open(out) {
        if let Ok(info) = rd.read_run_info() {
            assert_ne!(info.status, RunStatus::Complete);
        }
    }
}

#[test]
fn defaults_run_and_write_a_complete_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let a = simulate(&out, &[]).success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(stdout.contains("recovery score"), "{stdout}");
    assert!(stdout.contains("online loss"), "{stdout}");
    assert!(stdout.contains(&out.display().to_string()), "{stdout}");

    let h = read_npy_header(out.join("losses.npy")).unwrap();
    assert_eq!(
        (h.descr.as_str(), h.shape.as_slice()),
        ("<f4", &[251usize, 25][..])
    );
    let h = read_npy_header(out.join("order.npy")).unwrap();
    assert_eq!(
        (h.descr.as_str(), h.shape.as_slice()),
        ("<i8", &[250usize][..])
    );
    let h = read_npy_header(out.join("points.npy")).unwrap();
    assert_eq!(
        (h.descr.as_str(), h.shape.as_slice()),
        ("<f4", &[11usize, 25, 100][..])
    );
    let losses: Array2<f32> = read_npy::<f32, Ix2>(out.join("losses.npy")).unwrap();
    let order: Array1<i64> = read_npy::<i64, Ix1>(out.join("order.npy")).unwrap();
    let _points: Array3<f32> = read_npy::<f32, Ix3>(out.join("points.npy")).unwrap();
    // cyclic order, and the trained task's loss is ~0 right after its episode
    for (s, &t) in order.iter().enumerate() {
        assert_eq!(t, (s % 25) as i64);
        assert!(losses[[s + 1, t as usize]].abs() < 1e-3);
    }

    let info = RunDir::open(&out).unwrap().read_run_info().unwrap();
    assert_eq!(info.status, RunStatus::Complete);
    assert_eq!(info.seed, 0);
    assert_eq!(info.config["tasks"], 25);
    assert_eq!(info.config["input-dim"], 100);
    assert_eq!(info.config["mapping"], "target");
    assert_eq!(info.metrics.recovery_score.len(), 9);
    // The metrics in run.json are those of the stored arrays.
    let rs =
        reawaken_analysis::metrics::recovery_score(&losses, order.as_slice().unwrap()).unwrap();
    for (a, b) in rs.iter().zip(&info.metrics.recovery_score) {
        assert!((a.unwrap() - b.unwrap()).abs() < 1e-4);
    }
    // anticipatory recovery in the defaults: RS rises and is high by epoch 9
    let rs9 = info.metrics.recovery_score[8].unwrap();
    let rs1 = info.metrics.recovery_score[0].unwrap();
    assert!(rs9 > 0.8 && rs9 > rs1, "RS(1) = {rs1}, RS(9) = {rs9}");
    assert!(info.metrics.online_loss_mean.is_some());
    for f in ["losses.npy", "order.npy", "points.npy"] {
        assert!(info.arrays.contains_key(f));
    }
    // no temporary files left behind
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains(".tmp-"), "{name}");
    }
}

#[test]
fn same_seed_same_bytes_different_seed_different() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--tasks",
        "6",
        "--epochs",
        "3",
        "--input-dim",
        "12",
        "--embed-dim",
        "9",
    ];
    let run = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        let mut a = args.to_vec();
        a.extend(["--seed", seed, "--order", "shuffled"]);
        simulate(&out, &a).success();
        (
            std::fs::read(out.join("losses.npy")).unwrap(),
            std::fs::read(out.join("order.npy")).unwrap(),
            std::fs::read(out.join("points.npy")).unwrap(),
        )
    };
    let a = run("a", "3");
    let b = run("b", "3");
    let c = run("c", "4");
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
}

#[test]
fn existing_output_refused_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let small = [
        "--tasks",
        "4",
        "--epochs",
        "2",
        "--input-dim",
        "8",
        "--embed-dim",
        "8",
    ];
    simulate(&out, &small).success();
    let before = std::fs::read(out.join("run.json")).unwrap();
    assert_plain_failure(
        simulate(&out, &small),
        Path::new("/nonexistent"),
        &["--force", "exists"],
    );
    assert_eq!(std::fs::read(out.join("run.json")).unwrap(), before);
    let mut forced = small.to_vec();
    forced.extend(["--force", "--seed", "1"]);
    simulate(&out, &forced).success();
    let info = RunDir::open(&out).unwrap().read_run_info().unwrap();
    assert_eq!(info.seed, 1);
    // --force never clears a directory that is not a record
    let other = dir.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("data.json"), "{}").unwrap();
    let mut forced = small.to_vec();
    forced.push("--force");
    assert_plain_failure(simulate(&other, &forced), &other, &["run.json"]);
    assert!(other.join("data.json").exists());
}

#[test]
fn config_file_and_flag_override_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("toy.toml");
    std::fs::write(
        &cfg,
        "tasks = 5\nepochs = 3\ninput-dim = 10\nembed-dim = 6\nlr = 0.05\nmapping = \"identity\"\nseed = 9\n",
    )
    .unwrap();
    let out = dir.path().join("r");
    simulate(
        &out,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--epochs",
            "4",
            "--lr",
            "0.04",
        ],
    )
    .success();
    let info = RunDir::open(&out).unwrap().read_run_info().unwrap();
    assert_eq!(info.config["tasks"], 5);
    assert_eq!(info.config["epochs"], 4); // flag wins
    assert_eq!(info.config["lr"], 0.04); // flag wins
    assert_eq!(info.config["input-dim"], 10);
    assert_eq!(info.config["mapping"], "identity");
    assert_eq!(info.config["steps"], 1); // default
    assert_eq!(info.seed, 9);
    let h = read_npy_header(out.join("losses.npy")).unwrap();
    assert_eq!(h.shape, vec![21, 5]);
    let h = read_npy_header(out.join("points.npy")).unwrap();
    assert_eq!(h.shape, vec![5, 5, 6]);
}

#[test]
fn default_out_dir_name() {
    let dir = tempfile::tempdir().unwrap();
    bin()
        .current_dir(dir.path())
        .args([
            "toy", "simulate", "--tasks", "3", "--epochs", "2", "--seed", "5",
        ])
        .args([
            "--order",
            "shuffled",
            "--input-dim",
            "5",
            "--embed-dim",
            "5",
        ])
        .assert()
        .success();
    assert!(dir
        .path()
        .join("runs/toy-target-shuffled-seed5/run.json")
        .is_file());
}

#[test]
fn bad_inputs_give_one_plain_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let malformed = write("bad.toml", "tasks = [1,\n");
    let unknown = write("unknown.toml", "tasks = 5\nlearning-rate = 0.1\n");
    let wrong_type = write("type.toml", "tasks = \"many\"\n");
    let bad_mapping = write("map.toml", "mapping = \"circle\"\n");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            vec!["--config".into(), malformed.clone()],
            vec!["bad.toml", "line"],
        ),
        (
            vec!["--config".into(), unknown],
            vec!["unknown.toml", "learning-rate", "line 2"],
        ),
        (
            vec!["--config".into(), wrong_type],
            vec!["type.toml", "tasks"],
        ),
        (
            vec!["--config".into(), bad_mapping],
            vec!["map.toml", "circle"],
        ),
        (
            vec![
                "--config".into(),
                dir.path().join("missing.toml").to_str().unwrap().into(),
            ],
            vec!["missing.toml"],
        ),
        (vec!["--tasks".into(), "0".into()], vec!["--tasks"]),
        (vec!["--epochs".into(), "0".into()], vec!["--epochs"]),
        (vec!["--steps".into(), "0".into()], vec!["--steps"]),
        (vec!["--input-dim".into(), "0".into()], vec!["--input-dim"]),
        (
            vec!["--lr".into(), "-0.01".into()],
            vec!["--lr", "positive"],
        ),
        (vec!["--lr".into(), "NaN".into()], vec!["--lr"]),
        (vec!["--lr".into(), "inf".into()], vec!["--lr"]),
        (vec!["--lr".into(), "0".into()], vec!["--lr"]),
        (
            vec![
                "--input-dim".into(),
                "1000".into(),
                "--embed-dim".into(),
                "1000".into(),
            ],
            vec!["--lr", "stability limit"],
        ),
        (
            vec!["--lr".into(), "0.07".into()],
            vec!["--lr", "stability limit"],
        ),
    ];
    for (args, needles) in cases {
        let a = bin()
            .args(["toy", "simulate", "--out"])
            .arg(&out)
            .args(&args)
            .assert();
        assert_plain_failure(a, &out, &needles);
        assert!(!out.exists(), "a refused run created {out:?} ({args:?})");
    }
    // clap-level errors (unknown flag value) also fail cleanly, without a panic
    let a = bin()
        .args(["toy", "simulate", "--mapping", "circle", "--out"])
        .arg(&out)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        stderr.contains("circle") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn help_explains_flags_and_defaults() {
    let a = bin().args(["toy", "simulate", "--help"]).assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    for needle in [
        "--config",
        "--out",
        "--force",
        "--seed",
        "--tasks",
        "--input-dim",
        "--embed-dim",
        "--lr",
        "--mapping",
        "--epochs",
        "--steps",
        "--order",
        "default: 25",
        "default: 0.01",
        "default: target",
        "default: cyclic",
        "losses.npy",
    ] {
        assert!(out.contains(needle), "help lacks {needle:?}:\n{out}");
    }
}

/// The paper's printed Fig. 10a setting (N = M = 1000, identity, lr 0.01) is refused with
/// the summed loss and runs to `complete` under `--loss-reduction mean`, which is recorded.
#[test]
fn fig10a_as_printed_runs_under_the_mean_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fig10a");
    let args = [
        "--input-dim",
        "1000",
        "--embed-dim",
        "1000",
        "--mapping",
        "identity",
        "--lr",
        "0.01",
    ];
    assert_plain_failure(
        simulate(&out, &args),
        &out,
        &["stability limit", "--loss-reduction mean"],
    );
    let mut mean = args.to_vec();
    mean.extend(["--loss-reduction", "mean"]);
    simulate(&out, &mean).success();
    let info = RunDir::open(&out).unwrap().read_run_info().unwrap();
    assert_eq!(info.status, reawaken_analysis::RunStatus::Complete);
    assert_eq!(info.config["loss-reduction"], "mean");
    let rs: Vec<f64> = info
        .metrics
        .recovery_score
        .iter()
        .map(|v| v.unwrap())
        .collect();
    assert_eq!(rs.len(), 9);
    // Recovery builds slowly and steadily under the mean loss (docs/toy-model.md).
    assert!(rs.windows(2).all(|w| w[1] > w[0]), "{rs:?}");
    assert!((0.05..0.3).contains(&rs[8]), "{rs:?}");
}
