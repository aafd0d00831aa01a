//! `acts`: the final hidden states of one document after every episode (paper Fig. 8d):
//! exact or sketched, the exact norm of each episode's change, and at the end their
//! cosine similarity.

use reawaken_analysis::record::RunDir;

use super::series::Series;
use super::sketch::TrajectoryRecorder;
use super::{At, Recorder};
use crate::probe::config::ProbeConfig;
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

pub struct ActsRecorder {
    tokens: Vec<i64>,
    series: Series,
}

impl ActsRecorder {
    pub fn new<M: CausalLm>(
        cfg: &ProbeConfig,
        plan: &Plan,
        trainer: &Trainer<'_, M>,
    ) -> Result<Self> {
        let tokens: Vec<i64> = trainer
            .eval_tokens(cfg.acts_task)
            .map(<[i64]>::to_vec)
            .unwrap_or_default();
        let numel = tokens.len() * plan.hidden_size;
        let traj =
            TrajectoryRecorder::new(numel, cfg.sketch_budget, cfg.sketch_dim, cfg.seed ^ 0xAC7);
        Ok(ActsRecorder {
            tokens,
            series: Series::new(traj, "acts.npy", "acts_change_norm.npy", cfg.sketch_dim),
        })
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
        self.series.push(&[at.trainer.hidden_flat(&self.tokens)?])
    }

    fn resume(&mut self, at: &At<'_, '_, M>, _state: Option<&serde_json::Value>) -> Result<()> {
        let now = at.trainer.hidden_flat(&self.tokens)?;
        self.series.resume(at.dir, at.done, &[now])
    }

    fn after_episode(&mut self, at: &At<'_, '_, M>, _finite: bool) -> Result<()> {
        self.series.push(&[at.trainer.hidden_flat(&self.tokens)?])
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
