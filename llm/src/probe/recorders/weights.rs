//! `weights`: the trajectory of one or more parameters (paper Fig. 8c, 9, 22): the
//! weights after every episode (exact, or a seeded CountSketch when large), the exact
//! norm of each episode's update, and, at the end, the cosine similarity of the weight
//! residuals (weights minus their mean over a window of T episodes) and their top-3 PCA.

use ndarray::Array2;
use reawaken_analysis::record::RunDir;
use tch::Tensor;

use super::series::Series;
use super::sketch::TrajectoryRecorder;
use super::{At, Recorder};
use crate::probe::config::ProbeConfig;
use crate::probe::error::Result;
use crate::probe::setup::Plan;
use crate::probe::trainer::{CausalLm, Trainer};

pub struct WeightsRecorder {
    params: Vec<Tensor>,
    names: Vec<String>,
    series: Series,
    tasks: usize,
}

impl WeightsRecorder {
    pub fn new<M: CausalLm>(cfg: &ProbeConfig, plan: &Plan, trainer: &Trainer<'_, M>) -> Self {
        let params: Vec<Tensor> = trainer
            .params()
            .iter()
            .filter(|(n, _)| plan.weights_names.contains(n))
            .map(|(_, p)| p.shallow_clone())
            .collect();
        let numel: usize = params.iter().map(|p| p.numel()).sum();
        let traj =
            TrajectoryRecorder::new(numel, cfg.sketch_budget, cfg.sketch_dim, cfg.seed ^ 0x77);
        WeightsRecorder {
            params,
            names: plan.weights_names.clone(),
            series: Series::new(
                traj,
                "weights.npy",
                "weights_update_norm.npy",
                cfg.sketch_dim,
            ),
            tasks: cfg.tasks,
        }
    }

    fn parts(&self) -> Vec<Tensor> {
        self.params.iter().map(Tensor::shallow_clone).collect()
    }
}

impl<M: CausalLm> Recorder<M> for WeightsRecorder {
    fn name(&self) -> &'static str {
        "weights"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "weights.npy",
                format!(
                    "float32 (episodes+1, D): recorded weights after every episode ({})",
                    self.series.storage()
                ),
            ),
            (
                "weights_residual_cosine.npy",
                "float64 (episodes+1, episodes+1): cosine similarity of weight residuals (weights minus their mean over a window of T episodes)".into(),
            ),
            (
                "weights_pca.npy",
                "float64 (episodes+1, 3): top-3 PCA coordinates of the weight residual trajectory".into(),
            ),
            (
                "weights_update_norm.npy",
                "float32 (episodes,): exact L2 norm of each episode's change of the recorded weights".into(),
            ),
        ]
    }

    fn info(&self) -> Vec<(&'static str, serde_json::Value)> {
        vec![("weights_params", serde_json::json!(self.names))]
    }

    fn start(&mut self, _at: &At<'_, '_, M>) -> Result<()> {
        self.series.push(&self.parts())
    }

    fn resume(&mut self, at: &At<'_, '_, M>, _state: Option<&serde_json::Value>) -> Result<()> {
        let parts = self.parts();
        self.series.resume(at.dir, at.done, &parts)
    }

    fn after_episode(&mut self, _at: &At<'_, '_, M>, _finite: bool) -> Result<()> {
        self.series.push(&self.parts())
    }

    fn save(&self, dir: &RunDir) -> Result<()> {
        self.series.save(dir)
    }

    fn finish(&mut self, at: &At<'_, '_, M>, _complete: bool) -> Result<()> {
        let dir = at.dir;
        self.series.save(dir)?;
        if self.series.rows() < 2 {
            return Ok(());
        }
        let res =
            reawaken_analysis::similarity::windowed_residual(&self.series.matrix(), self.tasks);
        dir.write_npy(
            "weights_residual_cosine.npy",
            &reawaken_analysis::similarity::cosine_similarity_matrix(&res),
        )?;
        match reawaken_analysis::pca::pca(&res, 3) {
            Ok(p) => {
                let mut s = Array2::<f64>::zeros((res.nrows(), 3));
                for ((i, j), v) in p.scores.indexed_iter() {
                    s[[i, j]] = *v;
                }
                dir.write_npy("weights_pca.npy", &s)?;
            }
            Err(e) => tracing::warn!("weights PCA skipped: {e}"),
        }
        Ok(())
    }
}
