//! `grads`: the cosine similarity of the documents' loss gradients w.r.t. one block's
//! attention module, from the parameters after epoch P, the checkpoint `pairwise` uses
//! (paper Fig. 8a: block 12 of Pythia-1B after 4 epochs of cyclic training).

use reawaken_analysis::record::RunDir;

use super::sketch::cosine_matrix;
use super::EpochMeasure;
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

pub struct GradCosine {
    /// The parameters whose gradients are concatenated (sorted).
    params: Vec<String>,
}

impl GradCosine {
    pub fn new(plan: &Plan) -> Self {
        GradCosine {
            params: plan.grads_params.clone(),
        }
    }
}

impl<M: CausalLm> EpochMeasure<M> for GradCosine {
    fn name(&self) -> &'static str {
        "grads"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![(
            "grad_cosine.npy",
            "float32 (T, T): cosine similarity of the tasks' loss gradients w.r.t. grads_params (one block's attention module), from the parameters after epoch grads_epoch".into(),
        )]
    }

    fn info(&self, epoch: usize) -> Vec<(&'static str, serde_json::Value)> {
        vec![
            ("grads_params", serde_json::json!(self.params)),
            ("grads_epoch", serde_json::json!(epoch)),
        ]
    }

    fn measure(&mut self, trainer: &Trainer<'_, M>, dir: &RunDir) -> Result<()> {
        let grads = trainer.task_gradients(&self.params)?;
        let cos = cosine_matrix(&grads)?.mapv(|v| v as f32);
        dir.write_npy("grad_cosine.npy", &cos)?;
        Ok(())
    }
}
