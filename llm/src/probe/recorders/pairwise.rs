//! `pairwise`: from the parameters after epoch P, M steps on task i alone and the loss
//! change of every task j, restoring the parameters after each i (paper Fig. 8b). Costs
//! T × M extra steps, once.

use reawaken_analysis::record::RunDir;

use super::{to_array2, At, Recorder};
use crate::probe::config::ProbeConfig;
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

pub struct PairwiseRecorder {
    /// Epoch P after which it is measured (capped at E).
    epoch: usize,
    /// Episodes done at the end of epoch P.
    at_episode: Option<usize>,
    train_tokens: Vec<Vec<i64>>,
    done: bool,
}

impl PairwiseRecorder {
    pub fn new(cfg: &ProbeConfig, plan: &Plan) -> Self {
        let epoch = cfg.pairwise_epoch.clamp(1, cfg.epochs);
        PairwiseRecorder {
            epoch,
            at_episode: plan.epoch_ends.get(epoch - 1).copied(),
            train_tokens: plan.tasks.iter().map(|d| d.tokens.clone()).collect(),
            done: false,
        }
    }

    fn measure<M: CausalLm>(&mut self, trainer: &Trainer<'_, M>, dir: &RunDir) -> Result<()> {
        let rows = trainer.pairwise(&self.train_tokens)?;
        dir.write_npy("pairwise.npy", &to_array2(&rows, self.train_tokens.len()))?;
        self.done = true;
        Ok(())
    }
}

impl<M: CausalLm> Recorder<M> for PairwiseRecorder {
    fn name(&self) -> &'static str {
        "pairwise"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![(
            "pairwise.npy",
            "float32 (T, T): row i, column j = loss_before(j) - loss_after(j) after M steps on task i from the checkpoint after epoch P".into(),
        )]
    }

    fn info(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![("pairwise_epoch", serde_json::json!(self.epoch))]
    }

    fn resume(&mut self, _at: &At<'_, '_, M>, state: Option<&serde_json::Value>) -> Result<()> {
        self.done = state.and_then(|s| s.get("done")).and_then(|v| v.as_bool()) == Some(true);
        Ok(())
    }

    fn after_episode(&mut self, at: &At<'_, '_, M>, finite: bool) -> Result<()> {
        if finite && !self.done && self.at_episode == Some(at.done) {
            self.measure(at.trainer, at.dir)?;
        }
        Ok(())
    }

    fn state(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "done": self.done }))
    }

    fn finish(&mut self, at: &At<'_, '_, M>, complete: bool) -> Result<()> {
        if complete && !self.done {
            self.measure(at.trainer, at.dir)?;
        }
        Ok(())
    }
}
