//! Safe points and `--resume`.
//!
//! After every `checkpoint-every` episodes (and when stopping) the record is brought to a
//! consistent state: first the parameters go to `checkpoint/params-<s>.safetensors`, then
//! every growing array (rows 0..=s) is rewritten atomically, then `checkpoint/state.json`
//! says "s episodes done, parameters in that file", then older parameter files are
//! deleted. A crash at any moment leaves `state.json` pointing at a complete parameter
//! file; arrays may hold a few rows more than `state.json` says and are cut back on
//! resume. Optimizer state needs no saving (SGD has none; Adam is reset at every
//! document, and safe points are between documents), nor does RNG state (every episode's
//! randomness is seeded by `(seed, episode)`, the schedule is drawn up front). So a
//! resumed run computes exactly what the uninterrupted one would have (bit-for-bit on CPU).

use std::collections::BTreeMap;

use ndarray::Array1;
use reawaken_analysis::record::{self, RunDir};
use serde::{Deserialize, Serialize};

use crate::probe::error::{ProbeError, Result};
use crate::probe::recorders::{read_rows, read_vec, to_array2, Recorder};
use crate::probe::trainer::{CausalLm, Trainer};

const CHECKPOINT_DIR: &str = "checkpoint";

/// Persistent state of the latest safe point (`checkpoint/state.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    pub episodes_done: usize,
    pub params_file: String,
    /// Each recorder's own state, by recorder name.
    #[serde(default)]
    pub recorders: BTreeMap<String, serde_json::Value>,
}

/// The loss matrix and the order so far: rows 0..=done, entries 0..done.
pub struct LossRecord {
    pub tasks: usize,
    pub losses: Vec<Vec<f32>>,
    pub order: Vec<i64>,
}

impl LossRecord {
    /// Episodes done.
    pub fn done(&self) -> usize {
        self.losses.len().saturating_sub(1)
    }

    /// The loss matrix (episodes+1, T).
    pub fn matrix(&self) -> ndarray::Array2<f32> {
        to_array2(&self.losses, self.tasks)
    }

    /// Appends the losses after an episode and the task it trained (`order.npy` value).
    pub fn push(&mut self, row: Vec<f32>, task: i64) {
        self.losses.push(row);
        self.order.push(task);
    }

    /// Writes `losses.npy` and `order.npy`.
    pub fn save(&self, dir: &RunDir) -> Result<()> {
        dir.write_npy("losses.npy", &self.matrix())?;
        dir.write_npy("order.npy", &Array1::from(self.order.clone()))?;
        Ok(())
    }

    /// Rows 0..=done of an interrupted record.
    pub fn resume(dir: &RunDir, tasks: usize, done: usize) -> Result<Self> {
        Ok(LossRecord {
            tasks,
            losses: read_rows(dir, "losses.npy", done + 1)?,
            order: read_vec(dir, "order.npy", done)?,
        })
    }
}

/// The state of the latest safe point, if there is one.
pub fn load(dir: &RunDir) -> Result<Option<CheckpointState>> {
    let path = dir.file(CHECKPOINT_DIR).join("state.json");
    if path.is_file() {
        Ok(Some(record::read_json(&path)?))
    } else {
        Ok(None)
    }
}

/// Loads the parameters of a safe point into the trainer.
pub fn restore_params<M: CausalLm>(
    dir: &RunDir,
    state: &CheckpointState,
    trainer: &Trainer<'_, M>,
) -> Result<()> {
    trainer.load_params(&dir.file(CHECKPOINT_DIR).join(&state.params_file))
}

/// Deletes the checkpoint (the run is over, or starts afresh).
pub fn remove(dir: &RunDir) {
    let p = dir.file(CHECKPOINT_DIR);
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(&p);
    }
}

/// Makes a safe point (see the module docs for the order of writes).
pub fn save<M: CausalLm>(
    dir: &RunDir,
    trainer: &Trainer<'_, M>,
    losses: &LossRecord,
    recorders: &[Box<dyn Recorder<M>>],
) -> Result<()> {
    let ck = dir.file(CHECKPOINT_DIR);
    std::fs::create_dir_all(&ck).map_err(|e| ProbeError::io(&ck, e))?;
    let s = losses.done();
    let params_file = format!("params-{s}.safetensors");
    let target = ck.join(&params_file);
    let tmp = record::temp_path(&target);
    trainer.save_params(&tmp)?;
    record::publish(&tmp, &target)?;
    losses.save(dir)?;
    for r in recorders {
        r.save(dir)?;
    }
    let state = CheckpointState {
        episodes_done: s,
        params_file: params_file.clone(),
        recorders: recorders
            .iter()
            .filter_map(|r| r.state().map(|v| (r.name().to_string(), v)))
            .collect(),
    };
    record::write_json(ck.join("state.json"), &state)?;
    if let Ok(entries) = std::fs::read_dir(&ck) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("params-") && name != params_file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}
