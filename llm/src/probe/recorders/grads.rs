//! `grads`: the cosine similarity of the documents' loss gradients w.r.t. one block's
//! attention `query_key_value` weight, at the end of training (paper Fig. 8a).

use super::sketch::cosine_matrix;
use super::{At, Recorder};
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::CausalLm;

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

    fn finish(&mut self, at: &At<'_, '_, M>, complete: bool) -> Result<()> {
        if complete {
            let grads = at.trainer.task_gradients(&self.param)?;
            let cos = cosine_matrix(&grads)?.mapv(|v| v as f32);
            at.dir.write_npy("grad_cosine.npy", &cos)?;
        }
        Ok(())
    }
}
