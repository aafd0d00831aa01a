//! `grads`: the cosine similarity of the documents' loss gradients w.r.t. one block's
//! attention `query_key_value` weight, at the end of training (paper Fig. 8a).

use reawaken_analysis::record::RunDir;

use super::sketch::cosine_matrix;
use super::Recorder;
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

pub struct GradsRecorder {
    param: String,
}

impl GradsRecorder {
    pub fn new(plan: &Plan) -> Self {
        GradsRecorder {
            param: plan.grads_param.clone(),
        }
    }
}

impl<M: CausalLm> Recorder<M> for GradsRecorder {
    fn name(&self) -> &'static str {
        "grads"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![(
            "grad_cosine.npy",
            "float32 (T, T): cosine similarity of the tasks' loss gradients w.r.t. one block's attention query_key_value weight, at the end of training".into(),
        )]
    }

    fn info(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![("grads_param", serde_json::json!(self.param))]
    }

    fn after_episode(
        &mut self,
        _t: &Trainer<'_, M>,
        _d: &RunDir,
        _done: usize,
        _f: bool,
    ) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self, trainer: &Trainer<'_, M>, dir: &RunDir, complete: bool) -> Result<()> {
        if complete {
            let grads = trainer.task_gradients(&self.param)?;
            let cos = cosine_matrix(&grads)?.mapv(|v| v as f32);
            dir.write_npy("grad_cosine.npy", &cos)?;
        }
        Ok(())
    }
}
