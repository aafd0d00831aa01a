//! `reawaken sweep submit` on a real Slurm (single node, `scripts/slurm-local.sh start`;
//! `.ci/run` starts it): a toy sweep and a tiny-LLM sweep as job arrays, every record
//! checked; one task preempted mid-run (`scancel --signal=TERM`, then requeued) and one
//! warned of its time limit (SIGUSR1: it requeues itself) both end with the numbers of an
//! uninterrupted local sweep.
//!
//! Without a running Slurm these tests say so on stderr and return; with
//! `REAWAKEN_REQUIRE_SLURM=1` (set by `.ci/run`) a missing Slurm is a failure.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use reawaken_testkit::cli::run_ok;
use reawaken_testkit::sweep::{assert_same_numbers, episodes_done, records, run_json, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_reawaken");

/// Whether a Slurm controller answers here; if not, says so (or fails when required).
fn slurm_up(test: &str) -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var("REAWAKEN_REQUIRE_SLURM").as_deref() != Ok("1"),
            "{test}: REAWAKEN_REQUIRE_SLURM=1 but no Slurm answers (scripts/slurm-local.sh start)"
        );
        eprintln!(
            "SKIPPED {test}: no Slurm here (`sinfo` does not answer). Start a local one with `scripts/slurm-local.sh start` to run it."
        );
    }
    up
}

fn ok(args: &[&str]) -> String {
    run_ok(BIN, args, 600)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Submits the sweep in `dir` (1 CPU per task); returns the array's job id.
fn submit(dir: &Path) -> String {
    let out = ok(&[
        "sweep",
        "submit",
        s(dir),
        "--cpus-per-task",
        "1",
        "--time",
        "20",
        "--max-parallel",
        "2",
    ]);
    out.split_whitespace()
        .skip_while(|w| *w != "array")
        .nth(1)
        .unwrap_or_else(|| panic!("no job id in {out}"))
        .trim_end_matches(':')
        .to_string()
}

/// The Slurm state of a job or task (`RUNNING`, `PENDING`, … ; empty once it is gone).
fn job_states(job: &str) -> Vec<String> {
    // An squeue that fails (e.g. slurmctld busy) says nothing: ask again rather than
    // read its empty output as "no task left".
    let o = (0..10)
        .map(|_| {
            let o = Command::new("squeue")
                .args(["-h", "-r", "-j", job, "-o", "%T"])
                .output()
                .unwrap();
            if !o.status.success() {
                std::thread::sleep(Duration::from_millis(500));
            }
            o
        })
        .find(|o| o.status.success())
        .expect("squeue answers");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn scontrol(args: &[&str]) {
    let o = Command::new("scontrol").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "scontrol {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Waits (bounded) until no task of `job` is pending or running.
fn wait_for_job(job: &str, secs: u64) {
    wait_until(secs, &format!("job {job} to finish"), || {
        job_states(job).iter().all(|s| {
            ![
                "PENDING",
                "RUNNING",
                "CONFIGURING",
                "COMPLETING",
                "REQUEUED",
            ]
            .contains(&s.as_str())
        })
    });
}

#[test]
fn a_toy_sweep_runs_as_a_slurm_array() {
    if !slurm_up("a_toy_sweep_runs_as_a_slurm_array") {
        return;
    }
    let tmp = tempfile::tempdir_in(std::env::current_dir().unwrap().join("target")).unwrap();
    let spec = tmp.path().join("toy.toml");
    std::fs::write(&spec, "command = \"toy simulate\"\nseeds = [0, 1]\n[grid]\norder = [\"cyclic\", \"prequential-shuffled\"]\n").unwrap();
    let (dir, local) = (tmp.path().join("slurm"), tmp.path().join("local"));
    ok(&["sweep", "plan", s(&spec), "--out", s(&dir)]);
    ok(&["sweep", "plan", s(&spec), "--out", s(&local)]);
    let job = submit(&dir);
    wait_for_job(&job, 300);
    let status = ok(&["sweep", "status", s(&dir)]);
    assert!(status.contains("4 runs: 4 complete"), "{status}");
    ok(&["sweep", "run", s(&local), "--jobs", "2"]);
    for (a, b) in records(&dir).iter().zip(records(&local)) {
        assert_same_numbers(a, &b);
    }
    for i in 0..4 {
        let log = dir.join(format!("logs/slurm-{job}_{i}.out"));
        assert!(log.is_file(), "{} missing", log.display());
    }
    // Nothing left: a second submission submits nothing.
    assert!(ok(&["sweep", "submit", s(&dir)]).contains("nothing to submit"));
    ok(&["sweep", "summary", s(&dir)]);
}

#[test]
fn preempted_and_time_limited_llm_tasks_end_with_the_uninterrupted_numbers() {
    if !slurm_up("preempted_and_time_limited_llm_tasks_end_with_the_uninterrupted_numbers") {
        return;
    }
    let tmp = tempfile::tempdir_in(std::env::current_dir().unwrap().join("target")).unwrap();
    let spec = tmp.path().join("llm.toml");
    std::fs::write(
        &spec,
        "command = \"llm probe\"\nseeds = [3, 4]\n[base]\ndevice = \"cpu\"\nwidth = 32\ndepth = 2\nheads = 4\ntasks = 4\ncontext = 24\nsteps = 3\nlr = 0.02\nepochs = 30\nrecord = \"all\"\npairwise-epoch = 2\ncheckpoint-every = 1\n",
    )
    .unwrap();
    let (dir, local) = (tmp.path().join("slurm"), tmp.path().join("local"));
    ok(&["sweep", "plan", s(&spec), "--out", s(&dir)]);
    ok(&["sweep", "plan", s(&spec), "--out", s(&local)]);
    let job = submit(&dir);
    let recs = records(&dir);
    wait_until(180, "both tasks to be under way", || {
        recs.iter().all(|r| episodes_done(r) >= 3)
    });
    // Task 0: preempted (SIGTERM to the batch shell, i.e. the runner), then requeued.
    // Task 1: warned of its time limit (SIGUSR1, what --signal=B:USR1@120 sends): it
    // stops at a safe point and requeues itself.
    let t0 = format!("{job}_0");
    let t1 = format!("{job}_1");
    let o = Command::new("scancel")
        .args(["--batch", "--signal=TERM", &t0])
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = Command::new("scancel")
        .args(["--batch", "--signal=USR1", &t1])
        .output()
        .unwrap();
    assert!(o.status.success());
    wait_until(120, "task 0 to stop", || {
        run_json(&recs[0])["status"] == "interrupted"
            && job_states(&t0).iter().all(|s| s != "RUNNING")
    });
    assert!(
        episodes_done(&recs[0]) < 120,
        "task 0 stopped before its end"
    );
    wait_for_job(&t0, 120);
    scontrol(&["requeue", &t0]);
    // Task 1 requeued itself; a requeued task waits for its begin time (~2 min): now.
    wait_until(120, "task 1 to requeue itself", || {
        job_states(&t1).iter().any(|s| s == "PENDING")
    });
    assert_eq!(run_json(&recs[1])["status"], "interrupted");
    for t in [&t0, &t1] {
        wait_until(60, "the requeued task to be pending", || {
            job_states(t).iter().any(|s| s == "PENDING")
        });
    }
    // slurmd refuses to launch a job in the same second as the one its credential was
    // revoked in ("Job credential revoked"; a requeue revokes it): start them later.
    std::thread::sleep(Duration::from_secs(2));
    for t in [&t0, &t1] {
        scontrol(&["update", &format!("jobid={t}"), "StartTime=now"]);
    }
    wait_for_job(&job, 300);
    let status = ok(&["sweep", "status", s(&dir)]);
    assert!(status.contains("2 runs: 2 complete"), "{status}");
    let log1 = std::fs::read_to_string(dir.join(format!("logs/slurm-{job}_1.out"))).unwrap();
    assert!(log1.contains("requeued Slurm task"), "{log1}");
    ok(&["sweep", "run", s(&local), "--jobs", "2"]);
    for (a, b) in recs.iter().zip(records(&local)) {
        assert_same_numbers(a, &b);
    }
}
