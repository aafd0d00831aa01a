//! The probe's recorders (paper §4): what a run records besides the loss matrix.
//!
//! Each recorder owns its state and its arrays, says which files it writes and what they
//! hold ([`Recorder::describe`]), and is called by the run loop at the start (or resume),
//! after every episode, at every safe point and at the end. To add one: a module here
//! with a struct implementing [`Recorder`], a flag in `Recorders` (probe/config.rs), and a
//! line in [`build`]. Analyses of what was recorded (similarity, PCA) come from
//! `reawaken-analysis`, outside the training loop.
//!
//! | recorder | module | files |
//! |---|---|---|
//! | `grads` | [`grads`] | `grad_cosine.npy` |
//! | `pairwise` | [`pairwise`] | `pairwise.npy` |
//! | `weights` | [`weights`] | `weights.npy`, `weights_update_norm.npy`, `weights_residual_cosine.npy`, `weights_residual_pca.npy`, `pca_weights.npy`, `pca_weights_update_norm.npy`, `weights_pca.npy` |
//! | `acts` | [`acts`] | `acts.npy`, `acts_change_norm.npy`, `acts_cosine.npy` |

pub mod acts;
pub mod grads;
pub mod pairwise;
pub mod series;
pub mod sketch;
pub mod weights;

use ndarray::{Array1, Array2};
use reawaken_analysis::record::RunDir;
use std::path::Path;

use tch::Tensor;

use crate::probe::config::ProbeConfig;
use crate::probe::error::{ProbeError, Result};
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

/// Where a run stands when a recorder is called: the trainer (the model's current
/// parameters), the record directory, the number of episodes trained so far, and what
/// the evaluation of these parameters recorded on its way.
pub struct At<'a, 'm, M: CausalLm> {
    pub trainer: &'a Trainer<'m, M>,
    pub dir: &'a RunDir,
    pub done: usize,
    /// The final hidden states of the `acts` task from the evaluation just made
    /// ([`Trainer::evaluate`]), when `acts` is recorded; `None` where no evaluation was.
    pub acts: Option<&'a Tensor>,
}

/// One recorder of a probe run.
pub trait Recorder<M: CausalLm> {
    /// The recorder's name (`grads`, `pairwise`, …), the key of its checkpoint state.
    fn name(&self) -> &'static str;
    /// The files it writes and what they hold (for `run.json`'s `arrays`).
    fn describe(&self) -> Vec<(&'static str, String)>;
    /// Fields it adds to `run.json` (e.g. which parameter it records).
    fn info(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }
    /// A fresh run, before the first episode.
    fn start(&mut self, _at: &At<'_, '_, M>) -> Result<()> {
        Ok(())
    }
    /// A resumed run: reload what was recorded in episodes `0..at.done` from the record
    /// (what [`Recorder::checkpoint`] wrote to [`crate::probe::checkpoint::dir`]); `state` is what
    /// [`Recorder::state`] returned at that safe point.
    fn resume(&mut self, _at: &At<'_, '_, M>, _state: Option<&serde_json::Value>) -> Result<()> {
        Ok(())
    }
    /// After episode `at.done`; `finite` is false when its losses were not all finite
    /// (the run then ends as diverged).
    fn after_episode(&mut self, _at: &At<'_, '_, M>, _finite: bool) -> Result<()> {
        Ok(())
    }
    /// At a safe point: make what grows with the episodes durable in the checkpoint
    /// directory (e.g. append the new rows to a log and sync it), so that
    /// [`Recorder::resume`] can reload it.
    fn checkpoint(&mut self, _checkpoint: &Path) -> Result<()> {
        Ok(())
    }
    /// When the run stops before its end: write the arrays that grow with the episodes
    /// (rows so far) into the record, so the interrupted record can be read.
    fn save(&self, _dir: &RunDir) -> Result<()> {
        Ok(())
    }
    /// What must survive a resume besides the arrays.
    fn state(&self) -> Option<serde_json::Value> {
        None
    }
    /// The run ended (`complete`, or diverged when false): write the final arrays.
    fn finish(&mut self, at: &At<'_, '_, M>, complete: bool) -> Result<()>;
}

/// The recorders `cfg.record` asks for, in the order they are called.
pub fn build<M: CausalLm>(
    cfg: &ProbeConfig,
    plan: &Plan,
    trainer: &Trainer<'_, M>,
) -> Result<Vec<Box<dyn Recorder<M>>>> {
    let r = cfg.record;
    let mut out: Vec<Box<dyn Recorder<M>>> = Vec::new();
    if r.weights {
        out.push(Box::new(weights::WeightsRecorder::new(cfg, plan, trainer)));
    }
    if r.acts {
        out.push(Box::new(acts::ActsRecorder::new(cfg, plan, trainer)?));
    }
    if r.grads {
        let grads = grads::GradCosine::new(plan);
        out.push(Box::new(AfterEpoch::new(cfg, plan, grads)));
    }
    if r.pairwise {
        let pairwise = pairwise::PairwiseRecovery::new(plan);
        out.push(Box::new(AfterEpoch::new(cfg, plan, pairwise)));
    }
    Ok(out)
}

/// A measurement taken once, from the parameters after epoch P (`pairwise`, `grads`; the
/// paper's Fig. 8a/8b checkpoint), or at the end when the run is shorter. Wrapped in
/// [`AfterEpoch`], which makes it a [`Recorder`].
pub trait EpochMeasure<M: CausalLm> {
    fn name(&self) -> &'static str;
    fn describe(&self) -> Vec<(&'static str, String)>;
    /// Fields for `run.json`; `epoch` is P.
    fn info(&self, epoch: usize) -> Vec<(&'static str, serde_json::Value)>;
    /// Measures from the trainer's current parameters and writes the result.
    fn measure(&mut self, trainer: &Trainer<'_, M>, dir: &RunDir) -> Result<()>;
}

/// Runs an [`EpochMeasure`] once, after epoch P (capped at E).
pub struct AfterEpoch<X> {
    epoch: usize,
    /// Episodes done at the end of epoch P.
    at_episode: Option<usize>,
    /// Whether it was taken (survives a resume through the recorder state).
    done: bool,
    measure: X,
}

impl<X> AfterEpoch<X> {
    pub fn new(cfg: &ProbeConfig, plan: &Plan, measure: X) -> Self {
        let epoch = cfg.pairwise_epoch.clamp(1, cfg.epochs);
        AfterEpoch {
            epoch,
            at_episode: plan.epoch_ends.get(epoch - 1).copied(),
            done: false,
            measure,
        }
    }
}

impl<M: CausalLm, X: EpochMeasure<M>> Recorder<M> for AfterEpoch<X> {
    fn name(&self) -> &'static str {
        self.measure.name()
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        self.measure.describe()
    }

    fn info(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.measure.info(self.epoch)
    }

    fn resume(&mut self, _at: &At<'_, '_, M>, state: Option<&serde_json::Value>) -> Result<()> {
        self.done = state.and_then(|s| s.get("done")).and_then(|v| v.as_bool()) == Some(true);
        Ok(())
    }

    fn after_episode(&mut self, at: &At<'_, '_, M>, finite: bool) -> Result<()> {
        if finite && !self.done && self.at_episode == Some(at.done) {
            self.measure.measure(at.trainer, at.dir)?;
            self.done = true;
        }
        Ok(())
    }

    fn state(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "done": self.done }))
    }

    fn finish(&mut self, at: &At<'_, '_, M>, complete: bool) -> Result<()> {
        if complete && !self.done {
            self.measure.measure(at.trainer, at.dir)?;
            self.done = true;
        }
        Ok(())
    }
}

/// Rows of equal length as a 2-D array (shorter rows are zero-padded).
pub fn to_array2(rows: &[Vec<f32>], width: usize) -> Array2<f32> {
    let mut a = Array2::<f32>::zeros((rows.len(), width));
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate().take(width) {
            a[[i, j]] = *v;
        }
    }
    a
}

/// The first `keep` rows of a recorded 2-D array (for a resume).
pub fn read_rows(dir: &RunDir, name: &str, keep: usize) -> Result<Vec<Vec<f32>>> {
    let a: Array2<f32> = dir.read_npy(name)?;
    if a.nrows() < keep {
        return Err(ProbeError::Resume(format!(
            "cannot resume: {} has {} rows, the checkpoint needs {keep}",
            dir.file(name).display(),
            a.nrows()
        )));
    }
    Ok(a.outer_iter().take(keep).map(|r| r.to_vec()).collect())
}

/// The first `keep` entries of a recorded 1-D array (for a resume).
pub fn read_vec<T: ndarray_npy::ReadableElement + Clone>(
    dir: &RunDir,
    name: &str,
    keep: usize,
) -> Result<Vec<T>> {
    let a: Array1<T> = dir.read_npy(name)?;
    if a.len() < keep {
        return Err(ProbeError::Resume(format!(
            "cannot resume: {} has {} entries, the checkpoint needs {keep}",
            dir.file(name).display(),
            a.len()
        )));
    }
    Ok(a.iter().take(keep).cloned().collect())
}

/// How a recorded vector series is stored, for the array descriptions in run.json.
fn storage_kind(sketched: bool, sketch_dim: usize) -> String {
    if sketched {
        format!("CountSketch of dimension {sketch_dim}")
    } else {
        "exact".into()
    }
}
