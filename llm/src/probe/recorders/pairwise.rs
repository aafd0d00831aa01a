//! `pairwise`: from the parameters after epoch P, M steps on task i alone and the loss
//! change of every task j, restoring the parameters after each i (paper Fig. 8b). Costs
//! T × M extra steps, once.

use reawaken_analysis::record::RunDir;

use super::{to_array2, EpochMeasure};
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

pub struct PairwiseRecovery {
    train_tokens: Vec<Vec<i64>>,
}

impl PairwiseRecovery {
    pub fn new(plan: &Plan) -> Self {
        PairwiseRecovery {
            train_tokens: plan.tasks.iter().map(|d| d.tokens.clone()).collect(),
        }
    }
}

impl<M: CausalLm> EpochMeasure<M> for PairwiseRecovery {
    fn name(&self) -> &'static str {
        "pairwise"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![(
            "pairwise.npy",
            "float32 (T, T): row i, column j = loss_before(j) - loss_after(j) after M steps on task i from the checkpoint after epoch P".into(),
        )]
    }

    fn info(&self, epoch: usize) -> Vec<(&'static str, serde_json::Value)> {
        vec![("pairwise_epoch", serde_json::json!(epoch))]
    }

    fn measure(&mut self, trainer: &Trainer<'_, M>, dir: &RunDir) -> Result<()> {
        let rows = trainer.pairwise(&self.train_tokens)?;
        dir.write_npy("pairwise.npy", &to_array2(&rows, self.train_tokens.len()))?;
        Ok(())
    }
}
