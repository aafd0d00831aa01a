//! A sweep as a Slurm job array: one array task per run, index = the run's index.
//!
//! The batch script ([`SCRIPT`], written by the plan) `exec`s
//! `reawaken sweep run DIR --index $SLURM_ARRAY_TASK_ID`, so the signals Slurm sends reach
//! the runner: SIGUSR1 two minutes before the time limit (`--signal=B:USR1@120`), after
//! which the run stops at a safe point and the task requeues itself
//! ([`requeue_self`]) to continue where it stopped; SIGTERM (preemption, `scancel`),
//! after which it stops at a safe point. A requeued task resumes its record. Logs go to
//! `DIR/logs/slurm-<job>_<task>.out`, appended across requeues.
use std::path::Path;
use std::process::Command;

use crate::error::{Result, SweepError};
use crate::manifest::Sweep;

/// The batch script's file name in the sweep directory.
pub const SCRIPT: &str = "sweep.sbatch";

/// Seconds before the time limit at which Slurm warns the task (SIGUSR1).
pub const WARN_BEFORE_LIMIT_S: u32 = 120;

/// The batch script of `sweep`, calling `exe`. Resources (partition, time, CPUs, GPUs) are
/// given at submission, on `sbatch`'s command line.
pub fn batch_script(sweep: &Sweep, exe: &Path) -> String {
    let dir = std::path::absolute(&sweep.dir).unwrap_or_else(|_| sweep.dir.clone());
    let exe = std::path::absolute(exe).unwrap_or_else(|_| exe.to_path_buf());
    let n = sweep.manifest.runs.len();
    format!(
        "#!/bin/bash
# Slurm job array of the sweep in {dir}: {n} runs of `reawaken {command}`, one per task.
# Submit with `reawaken sweep submit {dir}` (it adds --array with the runs left to do and
# the resources you give), or by hand: sbatch --array=0-{last}%4 --time=2:00:00 {dir}/{SCRIPT}
#SBATCH --job-name=reawaken-sweep
#SBATCH --output={dir}/logs/slurm-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@{WARN_BEFORE_LIMIT_S}
#SBATCH --requeue
# The runner: skips a complete run, resumes an interrupted one, stops at a safe point on
# SIGUSR1 (then requeues this task) or SIGTERM. {exe} must be reachable from the nodes.
cd {workdir}
exec {exe} sweep run {dir} --index \"$SLURM_ARRAY_TASK_ID\"
",
        workdir = shell_quote(&sweep.manifest.workdir.display().to_string()),
        dir = shell_quote(&dir.display().to_string()),
        exe = shell_quote(&exe.display().to_string()),
        command = sweep.manifest.command,
        last = n.saturating_sub(1),
    )
}

/// Quotes a word for the shell when it needs it.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=,@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Resources and limits of a submission.
#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (Slurm's format: `MM`, `HH:MM:SS`, `D-HH`).
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--gpus-per-task`.
    pub gpus_per_task: Option<u32>,
    /// `--mem` (e.g. `16G`).
    pub mem: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// At most this many tasks at once (`%P` of `--array`).
    pub max_parallel: Option<u32>,
    /// Further `sbatch` arguments, passed as given.
    pub extra: Vec<String>,
}

/// The `sbatch` arguments that submit `indices` of `sweep` (before the script path).
pub fn sbatch_args(sweep: &Sweep, indices: &[usize], opts: &SubmitOptions) -> Vec<String> {
    let mut array = crate::status::compress_indices(indices);
    if let Some(p) = opts.max_parallel {
        array.push_str(&format!("%{p}"));
    }
    let mut args = vec!["--parsable".to_string(), format!("--array={array}")];
    let mut opt = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            args.push(format!("--{name}={v}"));
        }
    };
    opt("partition", opts.partition.clone());
    opt("time", opts.time.clone());
    opt("cpus-per-task", opts.cpus_per_task.map(|c| c.to_string()));
    opt("gpus-per-task", opts.gpus_per_task.map(|g| g.to_string()));
    opt("mem", opts.mem.clone());
    opt("account", opts.account.clone());
    args.extend(opts.extra.iter().cloned());
    let dir = std::path::absolute(&sweep.dir).unwrap_or_else(|_| sweep.dir.clone());
    args.push(dir.join(SCRIPT).display().to_string());
    args
}

/// Submits `indices` of `sweep` with `sbatch`; returns the job id.
pub fn submit(sweep: &Sweep, indices: &[usize], opts: &SubmitOptions) -> Result<String> {
    let args = sbatch_args(sweep, indices, opts);
    let out = Command::new("sbatch").args(&args).output().map_err(|e| {
        SweepError::Slurm(format!(
            "cannot run sbatch ({e}); is Slurm installed here? (`--dry-run` prints the command)"
        ))
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(SweepError::Slurm(format!(
            "sbatch refused the array: {}",
            stderr.split_whitespace().collect::<Vec<_>>().join(" ")
        )));
    }
    // --parsable prints `jobid` or `jobid;cluster`.
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        return Err(SweepError::Slurm(format!(
            "sbatch printed no job id: {stdout}"
        )));
    }
    Ok(id)
}

/// The array task this process runs in (`<job>_<task>`), when it runs under Slurm.
pub fn this_task() -> Option<String> {
    let job = std::env::var("SLURM_ARRAY_JOB_ID").ok()?;
    let task = std::env::var("SLURM_ARRAY_TASK_ID").ok()?;
    Some(format!("{job}_{task}"))
}

/// Puts this array task back in the queue (`scontrol requeue`), to continue after the time
/// limit. Returns the task id requeued.
pub fn requeue_self() -> Result<String> {
    let task =
        this_task().ok_or_else(|| SweepError::Slurm("not running as a Slurm array task".into()))?;
    let out = Command::new("scontrol")
        .args(["requeue", &task])
        .output()
        .map_err(|e| SweepError::Slurm(format!("cannot run scontrol ({e})")))?;
    if out.status.success() {
        Ok(task)
    } else {
        Err(SweepError::Slurm(format!(
            "scontrol requeue {task} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The CPUs this process may use: Slurm's allocation when it runs in a Slurm job, else
/// the cores the OS gives it.
pub fn available_cpus() -> usize {
    let slurm = std::env::var("SLURM_JOB_ID").is_ok().then(|| {
        std::env::var("SLURM_CPUS_PER_TASK")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    });
    slurm
        .flatten()
        .filter(|&n| n > 0)
        .unwrap_or_else(reawaken_analysis::cpus::cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_paths_and_quotes_the_rest() {
        assert_eq!(shell_quote("/a/b-c_1.x"), "/a/b-c_1.x");
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}
