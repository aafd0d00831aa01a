//! `acts`: the final hidden states of one document after every episode (paper Fig. 8d):
//! exact or sketched, the exact norm of each episode's change, and at the end their
//! cosine similarity. The hidden states are the ones the evaluation after the episode
//! computes for that document anyway (in its batched forward pass), so recording them
//! costs no forward pass of its own.

use reawaken_analysis::record::RunDir;

use super::series::Series;
use super::sketch::TrajectoryRecorder;
use super::{At, Recorder};
use crate::probe::config::ProbeConfig;
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

pub struct ActsRecorder {
    task: usize,
    series: Series,
}

impl ActsRecorder {
    pub fn new<M: CausalLm>(
        cfg: &ProbeConfig,
        plan: &Plan,
        trainer: &Trainer<'_, M>,
    ) -> Result<Self> {
        let numel = trainer.eval_tokens(cfg.acts_task).map_or(0, <[i64]>::len) * plan.hidden_size;
        let traj =
            TrajectoryRecorder::new(numel, cfg.sketch_budget, cfg.sketch_dim, cfg.seed ^ 0xAC7);
        Ok(ActsRecorder {
            task: cfg.acts_task,
            series: Series::new(traj, "acts.npy", "acts_change_norm.npy", cfg.sketch_dim),
        })
    }
}

impl ActsRecorder {
    /// Records the evaluation's hidden states of the task (computed again only when the
    /// caller made no evaluation that kept them).
    fn push<M: CausalLm>(&mut self, at: &At<'_, '_, M>) -> Result<()> {
        match at.acts {
            Some(h) => self.series.push(std::slice::from_ref(h)),
            None => self.series.push(&[at.trainer.eval_hidden(self.task)?]),
        }
    }
}

impl<M: CausalLm> Recorder<M> for ActsRecorder {
    fn name(&self) -> &'static str {
        "acts"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "acts.npy",
                format!(
                    "float32 (episodes+1, L*D): final hidden states of the probe task after every episode ({})",
                    self.series.storage()
                ),
            ),
            (
                "acts_cosine.npy",
                "float64 (episodes+1, episodes+1): cosine similarity of the recorded activations".into(),
            ),
            (
                "acts_change_norm.npy",
                "float32 (episodes,): exact L2 norm of the change of the activations in each episode".into(),
            ),
        ]
    }

    fn start(&mut self, at: &At<'_, '_, M>) -> Result<()> {
        self.push(at)
    }

    fn resume(&mut self, at: &At<'_, '_, M>, _state: Option<&serde_json::Value>) -> Result<()> {
        let now = at.trainer.eval_hidden(self.task)?;
        let ck = crate::probe::checkpoint::dir(at.dir);
        self.series.resume(at.dir, &ck, at.done, &[now])
    }

    fn checkpoint(&mut self, checkpoint: &std::path::Path) -> Result<()> {
        self.series.checkpoint(checkpoint)
    }

    fn after_episode(&mut self, at: &At<'_, '_, M>, _finite: bool) -> Result<()> {
        self.push(at)
    }

    fn save(&self, dir: &RunDir) -> Result<()> {
        self.series.save(dir)
    }

    fn finish(&mut self, at: &At<'_, '_, M>, _complete: bool) -> Result<()> {
        let dir = at.dir;
        self.series.save(dir)?;
        if self.series.rows() >= 2 {
            dir.write_npy(
                "acts_cosine.npy",
                &reawaken_analysis::similarity::cosine_similarity_matrix(&self.series.matrix()),
            )?;
        }
        Ok(())
    }
}
