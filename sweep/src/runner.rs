//! Runs a sweep's pending runs on this machine, `jobs` at a time, each as its own
//! `reawaken <command> --config configs/NNN.toml --out runs/NNN-…` process (one run's
//! crash never takes another with it).
//!
//! - Each run gets `threads` CPU threads (`OMP_NUM_THREADS`, `MKL_NUM_THREADS`,
//!   `OPENBLAS_NUM_THREADS`): the caller divides the cores between the concurrent runs,
//!   so that libtorch's OpenMP threads, which spin while they wait, never outnumber them.
//! - A run that is complete (or diverged) is skipped; one that is pending starts; one that
//!   was interrupted continues (`--resume` for the probe; the toy model starts over, which
//!   gives the same numbers); one that failed starts again (`--force`).
//! - A stop signal (Ctrl-C, SIGTERM, SIGUSR1, SIGHUP; [`reawaken_analysis::interrupt`])
//!   starts no further run and is passed on to the running ones, which stop at their next
//!   safe point with a consistent record.
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reawaken_analysis::interrupt::{self, Stop};

use crate::error::{Result, SweepError};
use crate::manifest::{RunEntry, Sweep};
use crate::status::{entry_state, run_state, RunState};

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `reawaken` binary each run calls.
    pub exe: PathBuf,
    /// Runs at once.
    pub jobs: usize,
    /// CPU threads of each run.
    pub threads: usize,
    /// Only this run (an array task), instead of every run with work left.
    pub only: Option<usize>,
}

/// What happened, for progress display.
#[derive(Debug)]
pub enum Event<'a> {
    /// A run needs nothing (complete, diverged) or is being written by another process.
    Skipped {
        /// The run.
        entry: &'a RunEntry,
        /// Its state.
        state: RunState,
    },
    /// A run was started.
    Started {
        /// The run.
        entry: &'a RunEntry,
        /// `start`, `resume` or `restart`.
        how: &'static str,
    },
    /// A run's process ended.
    Finished {
        /// The run.
        entry: &'a RunEntry,
        /// Its state after the process ended.
        state: RunState,
        /// Seconds its process ran.
        elapsed_s: f64,
        /// Runs of this invocation finished so far (this one included).
        done: usize,
        /// Runs this invocation started or will start.
        total: usize,
    },
}

/// The outcome of [`run`].
#[derive(Debug, Default)]
pub struct Report {
    /// `(index, state)` of every run this invocation started, in the order they ended.
    pub ran: Vec<(usize, RunState)>,
    /// Runs skipped because they were done already.
    pub skipped_done: usize,
    /// Runs skipped because another process is writing them.
    pub skipped_running: usize,
    /// The signal that stopped the sweep, if one did.
    pub stop: Option<Stop>,
}

impl Report {
    /// Runs that ended failed.
    pub fn failed(&self) -> usize {
        self.ran
            .iter()
            .filter(|(_, s)| matches!(s, RunState::Failed { .. }))
            .count()
    }

    /// Runs that ended interrupted (a stop signal, or killed).
    pub fn interrupted(&self) -> usize {
        self.ran
            .iter()
            .filter(|(_, s)| !s.is_done() && !matches!(s, RunState::Failed { .. }))
            .count()
    }
}

/// A run in progress.
struct Active<'a> {
    entry: &'a RunEntry,
    child: Child,
    started: Instant,
}

/// Runs every run of `sweep` with work left (or only `opts.only`), `opts.jobs` at a time.
/// Call [`interrupt::install`] first for stop signals to be passed on.
pub fn run(sweep: &Sweep, opts: &RunOptions, on_event: &mut dyn FnMut(Event)) -> Result<Report> {
    let selected: Vec<&RunEntry> = match opts.only {
        Some(i) => vec![sweep.entry(i)?],
        None => sweep.manifest.runs.iter().collect(),
    };
    let mut report = Report::default();
    let mut queue = Vec::new();
    for entry in selected {
        let state = entry_state(sweep, entry);
        if state.needs_run() {
            queue.push((entry, state));
        } else {
            match state {
                RunState::Running { .. } => report.skipped_running += 1,
                _ => report.skipped_done += 1,
            }
            on_event(Event::Skipped { entry, state });
        }
    }
    let total = queue.len();
    queue.reverse(); // pop() takes the lowest index first
    let mut active: Vec<Active> = Vec::new();
    let mut forwarded = false;
    let jobs = opts.jobs.max(1);
    while !queue.is_empty() || !active.is_empty() {
        let stop = Stop::received();
        if let (Some(stop), false) = (stop, forwarded) {
            for a in &active {
                // SAFETY: kill(2) on the pid of a child we have not yet waited for.
                unsafe { libc::kill(a.child.id() as libc::pid_t, stop.signal()) };
            }
            forwarded = true;
        }
        while stop.is_none() && active.len() < jobs {
            let Some((entry, state)) = queue.pop() else {
                break;
            };
            let (child, how) = spawn(sweep, entry, &state, opts)?;
            on_event(Event::Started { entry, how });
            active.push(Active {
                entry,
                child,
                started: Instant::now(),
            });
        }
        let mut i = 0;
        while i < active.len() {
            let exited = active[i]
                .child
                .try_wait()
                .map_err(|err| SweepError::Process {
                    action: "wait for",
                    what: active[i].entry.record.display().to_string(),
                    err,
                })?;
            match exited {
                Some(status) => {
                    let a = active.swap_remove(i);
                    let state = outcome(sweep, a.entry, status);
                    report.ran.push((a.entry.index, state.clone()));
                    on_event(Event::Finished {
                        entry: a.entry,
                        state,
                        elapsed_s: a.started.elapsed().as_secs_f64(),
                        done: report.ran.len(),
                        total,
                    });
                }
                None => i += 1,
            }
        }
        if stop.is_some() {
            queue.clear();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    report.stop = Stop::received();
    Ok(report)
}

/// Starts one run's process; says whether it starts, resumes or restarts.
fn spawn(
    sweep: &Sweep,
    entry: &RunEntry,
    state: &RunState,
    opts: &RunOptions,
) -> Result<(Child, &'static str)> {
    let record = sweep.path(&entry.record);
    let command = sweep.manifest.command;
    clear_stub(&record);
    let (flag, how) = match state {
        RunState::Pending => (None, "start"),
        RunState::Interrupted { .. } if command.resumes() => (Some("--resume"), "resume"),
        _ => (Some("--force"), "restart"),
    };
    let _ = std::fs::remove_file(sweep.path(&entry.failure_note()));
    let log_path = sweep.path(&entry.log());
    let io = |action: &'static str, err| SweepError::Process {
        action,
        what: log_path.display().to_string(),
        err,
    };
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| io("open", e))?;
    let mut cmd = Command::new(&opts.exe);
    cmd.current_dir(&sweep.manifest.workdir)
        .args(command.words())
        .arg("--config")
        .arg(sweep.path(&entry.config))
        .arg("--out")
        .arg(&record);
    if let Some(flag) = flag {
        cmd.arg(flag);
    }
    let threads = opts.threads.max(1).to_string();
    for var in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"] {
        cmd.env(var, &threads);
    }
    writeln!(
        log,
        "=== {} {how}: {} {} --config {} --out {}{} (OMP_NUM_THREADS={threads})",
        reawaken_analysis::record::rfc3339(reawaken_analysis::record::unix_now()),
        opts.exe.display(),
        command,
        entry.config.display(),
        entry.record.display(),
        flag.map(|f| format!(" {f}")).unwrap_or_default(),
    )
    .map_err(|e| io("write", e))?;
    let err_log = log.try_clone().map_err(|e| io("open", e))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err_log));
    #[cfg(unix)]
    {
        // Its own process group: a Ctrl-C in the terminal reaches the sweep, which passes
        // it on once, rather than every run at the same time.
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd.spawn().map_err(|err| SweepError::Process {
        action: "start",
        what: opts.exe.display().to_string(),
        err,
    })?;
    Ok((child, how))
}

/// A record directory that a run created but left before writing `run.json` holds only
/// the tool's manifest and lock: those are removed, so that the run can start afresh
/// (neither `--force` nor a fresh start accepts such a directory).
fn clear_stub(record: &Path) {
    use reawaken_analysis::record::{LOCK, MANIFEST};
    let Ok(entries) = std::fs::read_dir(record) else {
        return;
    };
    let names: Vec<_> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    if names.iter().all(|n| n == MANIFEST || n == LOCK) {
        for n in names {
            let _ = std::fs::remove_file(record.join(n));
        }
    }
}

/// The run's state once its process ended: the record's, or — when the process ended
/// before writing one — failed with the last line it printed.
fn outcome(sweep: &Sweep, entry: &RunEntry, status: std::process::ExitStatus) -> RunState {
    let state = run_state(&sweep.path(&entry.record));
    let from_log = || {
        let text = std::fs::read_to_string(sweep.path(&entry.log())).unwrap_or_default();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("==="))
            .unwrap_or("")
            .trim()
            .to_string();
        if last.is_empty() {
            format!("exited with {status}")
        } else {
            last
        }
    };
    match state {
        RunState::Pending | RunState::Running { .. } => {
            if interrupt::requested() && !status.success() {
                RunState::Interrupted { reason: from_log() }
            } else {
                let reason = from_log();
                // No record to keep the reason in: the sweep keeps it.
                let note = sweep.path(&entry.failure_note());
                if let Err(e) = reawaken_analysis::record::write_atomic(&note, reason.as_bytes()) {
                    tracing::warn!("cannot keep the failure of run {}: {e}", entry.index);
                }
                RunState::Failed { reason }
            }
        }
        RunState::Failed { reason } if reason.is_empty() => RunState::Failed { reason: from_log() },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_record_is_cleared_but_a_real_one_is_left_alone() {
        use reawaken_analysis::record::{LOCK, MANIFEST, RUN_JSON};
        let tmp = tempfile::tempdir().unwrap();
        let stub = tmp.path().join("stub");
        std::fs::create_dir(&stub).unwrap();
        std::fs::write(stub.join(MANIFEST), "run.json\n").unwrap();
        std::fs::write(stub.join(LOCK), "999999999").unwrap();
        clear_stub(&stub);
        assert_eq!(std::fs::read_dir(&stub).unwrap().count(), 0);
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join(MANIFEST), "run.json\n").unwrap();
        std::fs::write(real.join(RUN_JSON), "{}").unwrap();
        clear_stub(&real);
        assert!(real.join(MANIFEST).is_file() && real.join(RUN_JSON).is_file());
        clear_stub(&tmp.path().join("missing")); // nothing there: nothing to do
    }
}
