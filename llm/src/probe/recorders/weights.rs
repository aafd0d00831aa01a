//! `weights`: the weight trajectory (paper Fig. 8c, 9, 22). Two series are recorded after
//! every episode (exact, or a seeded CountSketch when large), each with the exact norm of
//! each episode's update:
//! - the `--weights-param` parameters (default all, as the paper flattens all weights for
//!   Fig. 8c and 22b): at the end, the cosine similarity of their residuals (weights minus
//!   their mean over a window of T episodes) and the residuals' top-3 PCA;
//! - the `--pca-param` parameters (default `embed_out.weight`): the top-3 PCA of the raw
//!   weights, which is what Fig. 9 shows (the authors' `visualization_minimums.py` runs
//!   sklearn's PCA on the flattened `embed_out` weights of every checkpoint).

use ndarray::{Array2, ArrayBase, Data, Ix2};
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
    residual: Traced,
    /// `None` when `--pca-param` names the same parameters as `--weights-param`.
    raw: Option<Traced>,
    tasks: usize,
}

/// One recorded series and the parameters it is made of.
struct Traced {
    params: Vec<Tensor>,
    names: Vec<String>,
    series: Series,
}

impl Traced {
    fn new<M: CausalLm>(
        cfg: &ProbeConfig,
        trainer: &Trainer<'_, M>,
        names: &[String],
        files: (&'static str, &'static str),
        salt: u64,
    ) -> Self {
        let params: Vec<Tensor> = trainer
            .params()
            .iter()
            .filter(|(n, _)| names.contains(n))
            .map(|(_, p)| p.shallow_clone())
            .collect();
        let numel: usize = params.iter().map(|p| p.numel()).sum();
        let traj =
            TrajectoryRecorder::new(numel, cfg.sketch_budget, cfg.sketch_dim, cfg.seed ^ salt);
        Traced {
            params,
            names: names.to_vec(),
            series: Series::new(traj, files.0, files.1, cfg.sketch_dim),
        }
    }

    fn parts(&self) -> Vec<Tensor> {
        self.params.iter().map(Tensor::shallow_clone).collect()
    }

    fn push(&mut self) -> Result<()> {
        let parts = self.parts();
        self.series.push(&parts)
    }

    fn resume(&mut self, dir: &RunDir, done: usize) -> Result<()> {
        let parts = self.parts();
        let ck = crate::probe::checkpoint::dir(dir);
        self.series.resume(dir, &ck, done, &parts)
    }
}

/// Top-3 PCA scores of the rows of `x` (zero columns when fewer components exist).
fn pca3<S, A>(x: &ArrayBase<S, Ix2>) -> Option<Array2<f64>>
where
    S: Data<Elem = A>,
    A: Copy + Into<f64>,
{
    match reawaken_analysis::pca::pca(x, 3) {
        Ok(p) => {
            let mut s = Array2::<f64>::zeros((x.nrows(), 3));
            for ((i, j), v) in p.scores.indexed_iter() {
                s[[i, j]] = *v;
            }
            Some(s)
        }
        Err(e) => {
            tracing::warn!("weights PCA skipped: {e}");
            None
        }
    }
}

impl WeightsRecorder {
    pub fn new<M: CausalLm>(cfg: &ProbeConfig, plan: &Plan, trainer: &Trainer<'_, M>) -> Self {
        let residual = Traced::new(
            cfg,
            trainer,
            &plan.weights_names,
            ("weights.npy", "weights_update_norm.npy"),
            0x77,
        );
        let raw = (plan.pca_names != plan.weights_names).then(|| {
            Traced::new(
                cfg,
                trainer,
                &plan.pca_names,
                ("pca_weights.npy", "pca_weights_update_norm.npy"),
                0x78,
            )
        });
        WeightsRecorder {
            residual,
            raw,
            tasks: cfg.tasks,
        }
    }

    fn traced(&mut self) -> impl Iterator<Item = &mut Traced> {
        std::iter::once(&mut self.residual).chain(self.raw.as_mut())
    }
}

impl<M: CausalLm> Recorder<M> for WeightsRecorder {
    fn name(&self) -> &'static str {
        "weights"
    }

    fn describe(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![
            (
                "weights.npy",
                format!(
                    "float32 (episodes+1, D): the weights_params after every episode ({})",
                    self.residual.series.storage()
                ),
            ),
            (
                "weights_update_norm.npy",
                "float32 (episodes,): exact L2 norm of each episode's change of the weights_params".into(),
            ),
            (
                "weights_residual_cosine.npy",
                "float64 (episodes+1, episodes+1): cosine similarity of the weight residuals (weights_params minus their mean over a window of T episodes)".into(),
            ),
            (
                "weights_residual_pca.npy",
                "float64 (episodes+1, 3): top-3 PCA coordinates of the weight residual trajectory".into(),
            ),
            (
                "weights_pca.npy",
                "float64 (episodes+1, 3): top-3 PCA coordinates of the raw pca_params trajectory (paper Fig. 9)".into(),
            ),
        ];
        if let Some(raw) = &self.raw {
            out.push((
                "pca_weights.npy",
                format!(
                    "float32 (episodes+1, D): the pca_params after every episode ({})",
                    raw.series.storage()
                ),
            ));
            out.push((
                "pca_weights_update_norm.npy",
                "float32 (episodes,): exact L2 norm of each episode's change of the pca_params"
                    .into(),
            ));
        }
        out
    }

    fn info(&self) -> Vec<(&'static str, serde_json::Value)> {
        let pca = self.raw.as_ref().unwrap_or(&self.residual);
        vec![
            ("weights_params", serde_json::json!(self.residual.names)),
            ("pca_params", serde_json::json!(pca.names)),
        ]
    }

    fn start(&mut self, _at: &At<'_, '_, M>) -> Result<()> {
        self.traced().try_for_each(Traced::push)
    }

    fn resume(&mut self, at: &At<'_, '_, M>, _state: Option<&serde_json::Value>) -> Result<()> {
        self.traced().try_for_each(|t| t.resume(at.dir, at.done))
    }

    fn after_episode(&mut self, _at: &At<'_, '_, M>, _finite: bool) -> Result<()> {
        self.traced().try_for_each(Traced::push)
    }

    fn checkpoint(&mut self, checkpoint: &std::path::Path) -> Result<()> {
        self.traced()
            .try_for_each(|t| t.series.checkpoint(checkpoint))
    }

    fn save(&self, dir: &RunDir) -> Result<()> {
        self.residual.series.save(dir)?;
        self.raw.as_ref().map_or(Ok(()), |r| r.series.save(dir))
    }

    fn finish(&mut self, at: &At<'_, '_, M>, _complete: bool) -> Result<()> {
        let dir = at.dir;
        <Self as Recorder<M>>::save(self, dir)?;
        if self.residual.series.rows() < 2 {
            return Ok(());
        }
        let res = reawaken_analysis::similarity::windowed_residual(
            &self.residual.series.matrix(),
            self.tasks,
        );
        dir.write_npy(
            "weights_residual_cosine.npy",
            &reawaken_analysis::similarity::cosine_similarity_matrix(&res),
        )?;
        if let Some(s) = pca3(&res) {
            dir.write_npy("weights_residual_pca.npy", &s)?;
        }
        let raw = self.raw.as_ref().unwrap_or(&self.residual).series.matrix();
        if let Some(s) = pca3(&raw) {
            dir.write_npy("weights_pca.npy", &s)?;
        }
        Ok(())
    }
}
