//! Where each run of a sweep stands, read from its record (the record is the truth: a
//! run that finished is `complete` whoever ran it, locally or on the cluster).
use std::path::Path;

use reawaken_analysis::record::{RunInfo, RunStatus, RUN_JSON};

use crate::manifest::{RunEntry, Sweep};

/// The state of one run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// Not started (no record yet).
    Pending,
    /// A live process is writing its record.
    Running {
        /// That process.
        pid: u32,
    },
    /// Finished; every array is complete.
    Complete,
    /// Finished early because a loss diverged (a result, not an error).
    Diverged {
        /// The cause.
        reason: String,
    },
    /// Stopped by an error.
    Failed {
        /// The error.
        reason: String,
    },
    /// Stopped by a signal, or its process died: continues when run again.
    Interrupted {
        /// How it stopped.
        reason: String,
    },
}

impl RunState {
    /// `pending`, `running`, `complete`, `diverged`, `failed`, `interrupted`.
    pub fn name(&self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running { .. } => "running",
            RunState::Complete => "complete",
            RunState::Diverged { .. } => "diverged",
            RunState::Failed { .. } => "failed",
            RunState::Interrupted { .. } => "interrupted",
        }
    }

    /// The reason, for states that have one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            RunState::Diverged { reason }
            | RunState::Failed { reason }
            | RunState::Interrupted { reason } => Some(reason),
            RunState::Pending | RunState::Running { .. } | RunState::Complete => None,
        }
    }

    /// Whether the run is finished (complete or diverged): running it again does nothing.
    pub fn is_done(&self) -> bool {
        matches!(self, RunState::Complete | RunState::Diverged { .. })
    }

    /// Whether `sweep run` (or a resubmitted array task) has work to do on it.
    pub fn needs_run(&self) -> bool {
        matches!(
            self,
            RunState::Pending | RunState::Failed { .. } | RunState::Interrupted { .. }
        )
    }
}

/// The state of the run whose record directory is `record`.
pub fn run_state(record: &Path) -> RunState {
    let writer = reawaken_analysis::record::writer_pid(record);
    if !record.join(RUN_JSON).exists() {
        return match writer {
            Some(pid) => RunState::Running { pid },
            None => RunState::Pending,
        };
    }
    let info: RunInfo = match reawaken_analysis::record::read_json(record.join(RUN_JSON)) {
        Ok(info) => info,
        Err(e) => {
            return match writer {
                Some(pid) => RunState::Running { pid },
                None => RunState::Failed {
                    reason: format!("unreadable record: {e}"),
                },
            }
        }
    };
    let message = || info.message.clone().unwrap_or_default();
    match info.status {
        RunStatus::Complete => RunState::Complete,
        RunStatus::Diverged => RunState::Diverged { reason: message() },
        RunStatus::Failed => RunState::Failed { reason: message() },
        RunStatus::Interrupted => RunState::Interrupted { reason: message() },
        RunStatus::Running => match writer {
            Some(pid) => RunState::Running { pid },
            None => RunState::Interrupted {
                reason: format!(
                    "its process ended without finishing the record (killed?) after {} episodes",
                    info.episodes_done.unwrap_or(0)
                ),
            },
        },
    }
}

/// The state of one run of `sweep`: its record's, or — for a run whose process failed
/// before it wrote a record (a refused setting, too little memory) — failed with the
/// reason the runner kept in `logs/NNN.failed`.
pub fn entry_state(sweep: &Sweep, entry: &RunEntry) -> RunState {
    match run_state(&sweep.path(&entry.record)) {
        RunState::Pending => match std::fs::read_to_string(sweep.path(&entry.failure_note())) {
            Ok(reason) => RunState::Failed {
                reason: reason.trim().to_string(),
            },
            Err(_) => RunState::Pending,
        },
        other => other,
    }
}

/// The state of every run of `sweep`, in index order.
pub fn states(sweep: &Sweep) -> Vec<RunState> {
    sweep
        .manifest
        .runs
        .iter()
        .map(|e| entry_state(sweep, e))
        .collect()
}

/// Array indices as Slurm's `--array` spells them: `0-3,5,7-9`.
pub fn compress_indices(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The indices of the runs with work left (pending, interrupted, failed), given every
/// run's state in index order.
pub fn to_run(states: &[RunState]) -> Vec<usize> {
    states
        .iter()
        .enumerate()
        .filter(|(_, s)| s.needs_run())
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_compress_into_ranges() {
        assert_eq!(compress_indices(&[0, 1, 2, 3, 5, 7, 8, 9]), "0-3,5,7-9");
        assert_eq!(compress_indices(&[4]), "4");
        assert_eq!(compress_indices(&[]), "");
    }

    #[test]
    fn states_follow_the_record() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        assert_eq!(run_state(&dir), RunState::Pending);
        let rec = reawaken_analysis::record::RunDir::create(
            &dir,
            reawaken_analysis::record::OpenMode::Fresh,
        )
        .unwrap();
        let mut info = RunInfo::new(
            reawaken_analysis::record::RunKind::Toy,
            serde_json::json!({}),
            0,
        );
        rec.write_run_info(&info).unwrap();
        // This process holds the lock: running.
        assert!(matches!(run_state(&dir), RunState::Running { .. }));
        drop(rec);
        // Lock released while `running`: the process died → interrupted.
        assert_eq!(run_state(&dir).name(), "interrupted");
        let rec = reawaken_analysis::record::RunDir::open(&dir).unwrap();
        info.message = Some("no documents".into());
        info.finish(RunStatus::Failed);
        rec.write_run_info(&info).unwrap();
        assert_eq!(
            run_state(&dir),
            RunState::Failed {
                reason: "no documents".into()
            }
        );
        info.finish(RunStatus::Complete);
        rec.write_run_info(&info).unwrap();
        assert!(run_state(&dir).is_done());
    }
}
