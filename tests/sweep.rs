//! End-to-end tests of `reawaken sweep` on this machine (the real binary): plan → run →
//! status → summary → figures for a toy sweep; points refused before anything runs; one
//! failed run that stops nothing else; and a tiny-LLM sweep stopped by SIGTERM (and one
//! array-style run stopped by SIGUSR1) that, run again, ends with the numbers of an
//! uninterrupted sweep. The same on a real Slurm: tests/slurm.rs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reawaken_testkit::cli::{assert_refused, run_bounded, run_ok};
use reawaken_testkit::sweep::{assert_same_numbers, episodes_done, records, run_json, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_reawaken");

fn ok(args: &[&str]) -> String {
    run_ok(BIN, args, 600)
}

fn write_spec(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const TOY_SPEC: &str = "command = \"toy simulate\"
seeds = [0, 1]
[base]
epochs = 6
[[zip]]
input-dim = [20, 50, 100]
embed-dim = [20, 50, 100]
lr = [0.05, 0.02, 0.01]
";

#[test]
fn a_toy_sweep_plans_runs_summarises_and_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "toy.toml", TOY_SPEC);
    let dir = tmp.path().join("sweep");
    let plan = ok(&["sweep", "plan", s(&spec), "--out", s(&dir)]);
    assert!(plan.contains("3 point(s) x 2 seed(s) = 6 run(s)"), "{plan}");
    ok(&["sweep", "run", s(&dir), "--jobs", "2"]);

    // Every run is complete and trained what its point says: the record of run 3
    // (point 1, seed 1) is the record of the same settings given as flags.
    let recs = records(&dir);
    assert_eq!(recs.len(), 6);
    for r in &recs {
        assert_eq!(run_json(r)["status"], "complete", "{}", r.display());
    }
    // (With the thread count the sweep gives its runs: LAPACK's PCA of the points, in
    // the metrics, differs in the last bit between thread counts.)
    let by_hand = tmp.path().join("by-hand");
    let o = Command::new(BIN)
        .args([
            "toy",
            "simulate",
            "--input-dim",
            "50",
            "--embed-dim",
            "50",
            "--lr",
            "0.02",
            "--epochs",
            "6",
            "--seed",
            "1",
            "--out",
            s(&by_hand),
        ])
        .env("OMP_NUM_THREADS", "1")
        .env("OPENBLAS_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_same_numbers(&recs[3], &by_hand);

    let status = ok(&["sweep", "status", s(&dir)]);
    assert!(
        status.contains("6 runs: 6 complete") && status.contains("nothing left to run"),
        "{status}"
    );

    // Running again touches nothing.
    let before: Vec<Vec<u8>> = recs
        .iter()
        .map(|r| std::fs::read(r.join("run.json")).unwrap())
        .collect();
    let again = run_bounded(BIN, &["sweep", "run", s(&dir), "--jobs", "2"], 120);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 run(s) ended here"));
    let after: Vec<Vec<u8>> = recs
        .iter()
        .map(|r| std::fs::read(r.join("run.json")).unwrap())
        .collect();
    assert_eq!(before, after);

    // summary.csv: one row per run, the swept keys and each record's metrics.
    let table = ok(&["sweep", "summary", s(&dir)]);
    assert!(
        table.contains("embed-dim-50_input-dim-50_lr-0.02") && table.contains("2/2"),
        "{table}"
    );
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "seed",
        "status",
        "input-dim",
        "lr",
        "rs_1",
        "rs_5",
        "online_loss",
        "record",
    ] {
        assert!(header.contains(&col), "{col} not in {header:?}");
    }
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (row, rec) in rows.iter().zip(&recs) {
        let rs1: f64 = row[col("rs_1")].parse().unwrap();
        let want = run_json(rec)["metrics"]["recovery_score"][0]
            .as_f64()
            .unwrap();
        assert_eq!(rs1, want);
        assert_eq!(dir.join(row[col("record")]), *rec);
    }
    assert_eq!(rows[3][col("input-dim")], "50");
    assert_eq!(rows[3][col("seed")], "1");

    // figures render --sweep: the sweep figures of the swept key.
    let figs = tmp.path().join("figs");
    let out = ok(&["figures", "render", "--sweep", s(&dir), "--out", s(&figs)]);
    assert!(
        out.lines()
            .any(|l| l.contains("input-dim") || l.contains("embed-dim")),
        "no sweep figure in {out}"
    );
}

#[test]
fn a_bad_point_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "command = \"toy simulate\"\n[grid]\nsteps = [1, 0]\n",
            vec!["point 1 (steps = 0)", "--steps must be at least 1"],
        ),
        (
            "command = \"llm probe\"\n[grid]\noptimizer = [\"sgd\", \"rmsprop\"]\n",
            vec!["point 1", "rmsprop"],
        ),
        (
            "command = \"llm probe\"\n[[zip]]\nwidth = [64, 128]\nhedas = [2, 4]\n",
            vec!["point 0", "unknown field `hedas`"],
        ),
        (
            "command = \"toy simulate\"\n[base]\nseed = 4\n",
            vec!["`seed` in [base]"],
        ),
        (
            "command = \"toy simulate\"\nseeds = [0]\n[grid]\ninput-dim = [100, 100000]\n",
            vec!["point 1"],
        ),
    ];
    for (i, (text, needles)) in cases.iter().enumerate() {
        let spec = write_spec(tmp.path(), &format!("bad{i}.toml"), text);
        let dir = tmp.path().join(format!("sweep{i}"));
        let o = run_bounded(BIN, &["sweep", "plan", s(&spec), "--out", s(&dir)], 60);
        assert_refused(&o, needles, None);
        assert!(!dir.exists(), "{text}: nothing may be written");
    }
}

/// A tiny LLM sweep: two seeds of a small model, `epochs` epochs (about 0.4 s each),
/// a safe point after every episode so that `run.json` shows the progress the signal
/// tests wait for (the default takes them by cost, which here can mean near the end).
fn tiny_llm_spec(epochs: u32) -> String {
    format!(
        "command = \"llm probe\"
seeds = [3, 4]
[base]
device = \"cpu\"
width = 32
depth = 2
heads = 4
tasks = 4
context = 24
steps = 3
lr = 0.02
epochs = {epochs}
record = \"all\"
pairwise-epoch = 2
checkpoint-every = 1
"
    )
}

#[test]
fn one_failed_run_stops_nothing_else_and_keeps_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    // tasks = 100000 passes the settings' checks but not the memory estimate at run time.
    let text = tiny_llm_spec(4)
        .replace("seeds = [3, 4]", "seeds = [3]")
        .replace("tasks = 4\n", "")
        + "[grid]\ntasks = [4, 100000]\n";
    let spec = write_spec(tmp.path(), "fail.toml", &text);
    let dir = tmp.path().join("sweep");
    ok(&["sweep", "plan", s(&spec), "--out", s(&dir)]);
    let o = run_bounded(BIN, &["sweep", "run", s(&dir), "--jobs", "2"], 600);
    let err = assert_refused(&o, &["1 run(s) failed"], None);
    assert!(err.contains("run 000") && err.contains("complete"), "{err}");
    let recs = records(&dir);
    assert_eq!(run_json(&recs[0])["status"], "complete");
    let status = ok(&["sweep", "status", s(&dir)]);
    let line = status
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(
        line.contains("failed") && line.contains("memory"),
        "{status}"
    );
    assert!(status.contains("to run: 1"), "{status}");
    // Only the failed run is submitted again (shown without Slurm by --dry-run).
    let dry = ok(&[
        "sweep",
        "submit",
        s(&dir),
        "--dry-run",
        "--time",
        "10",
        "--max-parallel",
        "2",
    ]);
    assert!(
        dry.contains("--array=1%2") && dry.contains("--time=10") && dry.contains("sweep.sbatch"),
        "{dry}"
    );
    ok(&["sweep", "summary", s(&dir)]);
    let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert!(csv.lines().nth(2).unwrap().contains("failed"), "{csv}");
}

/// Starts `reawaken args…` in the background (stdout/stderr discarded).
fn spawn(args: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

#[test]
fn an_interrupted_sweep_continues_to_the_numbers_of_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), "llm.toml", &tiny_llm_spec(16));
    let (reference, stopped, task) = (
        tmp.path().join("ref"),
        tmp.path().join("stopped"),
        tmp.path().join("task"),
    );
    for d in [&reference, &stopped, &task] {
        ok(&["sweep", "plan", s(&spec), "--out", s(d)]);
    }
    ok(&["sweep", "run", s(&reference), "--jobs", "2"]);

    // SIGTERM to the sweep mid-run: both runs stop at a safe point.
    let mut child = spawn(&["sweep", "run", s(&stopped), "--jobs", "2"]);
    let recs = records(&stopped);
    wait_until(120, "both runs to be under way", || {
        recs.iter().all(|r| episodes_done(r) >= 2)
    });
    signal(&child, libc::SIGTERM);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    for r in &recs {
        assert_eq!(run_json(r)["status"], "interrupted", "{}", r.display());
        assert!(episodes_done(r) < 64, "stopped before the end");
    }
    let table = ok(&["sweep", "status", s(&stopped)]);
    assert!(
        table.contains("2 interrupted") && table.contains("to run: 0-1"),
        "{table}"
    );
    ok(&["sweep", "run", s(&stopped), "--jobs", "2"]);

    // One array-style run (--index) stopped by SIGUSR1, Slurm's time-limit warning.
    let mut child = spawn(&["sweep", "run", s(&task), "--index", "1", "--threads", "1"]);
    let trecs = records(&task);
    wait_until(120, "run 1 to be under way", || {
        episodes_done(&trecs[1]) >= 2
    });
    signal(&child, libc::SIGUSR1);
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGUSR1));
    assert_eq!(run_json(&trecs[1])["status"], "interrupted");
    assert!(!trecs[0].exists(), "--index 1 runs run 1 only");
    ok(&["sweep", "run", s(&task), "--index", "1", "--threads", "1"]);
    ok(&["sweep", "run", s(&task), "--index", "0", "--threads", "1"]);

    for (i, r) in records(&reference).iter().enumerate() {
        assert_eq!(run_json(r)["status"], "complete");
        assert_same_numbers(r, &recs[i]);
        assert_same_numbers(r, &trecs[i]);
    }
}
