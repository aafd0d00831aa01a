//! A toy simulation written as a run record (docs/records.md): `run.json`, `losses.npy`,
//! `order.npy`, `points.npy`.
//!
//! Flow: validate the config and the sampled data (an unstable α is refused here, before
//! anything is written) → create the output directory (refusing an existing one unless
//! forced) → simulate, while another thread deletes an earlier record (`--force`) and
//! writes the manifest and `run.json` with status `running` → arrays and metrics →
//! `run.json` with status `complete` (or `diverged` with the episode, the arrays holding
//! everything finite up to it; or `failed` with the reason).

use std::path::Path;
use std::time::Instant;

use ndarray::{s, Array1, Array2, Array3};
use reawaken_analysis::parallel::spawn_beside;
use reawaken_analysis::record::{
    Metrics, OpenMode, PreparedRunDir, RunDir, RunInfo, RunKind, RunStatus, RUN_JSON,
};

use crate::config::ToyConfig;
use crate::error::ToyError;
use crate::run::ToyRun;
use crate::simulate::{check_stability, make_order, run_with_order};
use crate::ToyProblem;

/// Runs `cfg` and writes its record to `out`. `on_episode(done)` reports progress;
/// `total_episodes` is `cfg.episodes()`. Returns the final `run.json` contents; a run
/// whose loss became non-finite returns [`ToyError::Diverged`] after writing its record.
pub fn simulate_to_record(
    cfg: &ToyConfig,
    out: &Path,
    mode: OpenMode,
    on_episode: &mut dyn FnMut(usize),
) -> Result<RunInfo, ToyError> {
    let warnings = cfg.validate()?;
    // The PCA metric at the end (of T × M snapshots) needs LAPACK only for a large
    // eigenproblem: then open it while the simulation runs.
    if reawaken_analysis::pca::needs_lapack(cfg.tasks, cfg.embed_dim) {
        reawaken_analysis::lapack::preload();
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    // Sample the data and check the exact step factor before anything is written.
    let problem = ToyProblem::sample(cfg);
    let step_factor = check_stability(&problem)?;
    tracing::info!(
        "sampled {} tasks (N = {}, M = {}); max lr*|x|^2 = {step_factor:.3}; init: {}",
        cfg.tasks,
        cfg.input_dim,
        cfg.embed_dim,
        problem.init_method
    );
    let order = make_order(cfg);

    let prepared = RunDir::prepare(out, mode)?;
    let config = serde_json::to_value(cfg).map_err(|e| ToyError::InvalidConfig(e.to_string()))?;
    let mut info = RunInfo::new(RunKind::Toy, config, cfg.seed);
    if !warnings.is_empty() {
        info.extra
            .insert("warnings".into(), serde_json::json!(warnings));
    }
    info.extra
        .insert("step_factor_max".into(), serde_json::json!(step_factor));
    describe_arrays(&mut info, cfg);
    // The record's first writes go to disk on another thread while the simulation (which
    // writes nothing) runs; the arrays are written only after both, so the disk sees the
    // same order as without the overlap. (A failure there, e.g. a full disk, is reported
    // when the simulation ends.)
    let (dir, result, simulate_s) = std::thread::scope(|s| {
        let opening = spawn_beside(s, || open_record(prepared, &info));
        let t0 = Instant::now();
        let result = run_with_order(&problem, &order, cfg.steps, on_episode);
        let simulate_s = t0.elapsed().as_secs_f64();
        let opened = opening
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (opened, result, simulate_s)
    });
    let dir = dir?;
    info.timings
        .extra
        .insert("simulate_s".into(), serde_json::json!(simulate_s));
    finish_record(&dir, &mut info, result)?;
    Ok(info)
}

/// The start of the record: an earlier record's files deleted (with `--force`), every
/// file of this one in the manifest at once (one sync instead of four), then `run.json`
/// with status `running`.
fn open_record(prepared: PreparedRunDir, info: &RunInfo) -> Result<RunDir, ToyError> {
    let dir = prepared.clear()?;
    dir.will_write(&[RUN_JSON, "points.npy", "losses.npy", "order.npy"])?;
    dir.write_run_info(info)?;
    Ok(dir)
}

/// Writes the outcome of a simulation into the record: arrays, metrics and `run.json`
/// with status `complete`; or, for a run whose loss became non-finite, every finite
/// episode before it with status `diverged` (then returns [`ToyError::Diverged`]); or
/// status `failed` for any other error.
pub fn finish_record(
    dir: &RunDir,
    info: &mut RunInfo,
    result: Result<ToyRun, ToyError>,
) -> Result<(), ToyError> {
    match result {
        Ok(run) => {
            // The arrays go to disk (each synced) while the metrics are computed.
            let (written, computed) = write_arrays_while(dir, &run, || metrics(&run));
            written.map_err(|e| fail(dir, info, e))?;
            info.metrics = computed.map_err(|e| fail(dir, info, e))?;
            info.episodes_done = Some(run.order.len());
            info.finish(RunStatus::Complete);
            dir.write_run_info(info)?;
            Ok(())
        }
        Err(ToyError::Interrupted {
            signal,
            episode,
            partial,
        }) => {
            let (written, computed) = write_arrays_while(dir, &partial, || metrics(&partial));
            written.map_err(|e| fail(dir, info, e))?;
            info.metrics = computed.unwrap_or_default();
            info.episodes_done = Some(partial.order.len());
            info.message = Some(format!(
                "stopped by {signal} after {episode} episodes; the arrays hold them; a toy run cannot be resumed: run it again with --force"
            ));
            info.finish(RunStatus::Interrupted);
            dir.write_run_info(info)?;
            Err(ToyError::Stopped {
                signal,
                kept: episode,
                dir: dir.path().to_path_buf(),
                exit_code: reawaken_analysis::interrupt::Stop::received()
                    .map_or(130, |s| s.exit_code()),
            })
        }
        Err(e) => {
            let message = e.to_string();
            let (ToyError::NonFinite { episode, partial }
            | ToyError::Runaway {
                episode, partial, ..
            }) = e
            else {
                return Err(fail(dir, info, e));
            };
            let (written, computed) = write_arrays_while(dir, &partial, || metrics(&partial));
            written.map_err(|e| fail(dir, info, e))?;
            info.metrics = computed.unwrap_or_default();
            info.episodes_done = Some(partial.order.len());
            info.diverged_at_episode = Some(episode);
            info.message = Some(format!(
                "{message}; the arrays hold the {} episodes up to it",
                partial.order.len()
            ));
            info.finish(RunStatus::Diverged);
            dir.write_run_info(info)?;
            Err(ToyError::Diverged {
                reason: message,
                kept: partial.order.len(),
                dir: dir.path().to_path_buf(),
            })
        }
    }
}

/// Marks the record `failed` (best effort) and passes the error on.
fn fail(dir: &RunDir, info: &mut RunInfo, e: impl Into<ToyError>) -> ToyError {
    let e = e.into();
    info.message = Some(e.to_string());
    info.finish(RunStatus::Failed);
    if let Err(w) = dir.write_run_info(info) {
        tracing::error!("could not mark the record as failed: {w}");
    }
    e
}

fn describe_arrays(info: &mut RunInfo, t: &ToyConfig) {
    let (tt, e, m) = (t.tasks, t.epochs, t.embed_dim);
    info.describe_array(
        "losses.npy",
        &format!(
            "float32 ({}, {tt}) = (T*E+1, T): row s = loss 1/2|P x_j - f_j(w)|^2 of every task j \
             after s episodes; row 0 before training",
            tt * e + 1
        ),
    );
    info.describe_array(
        "order.npy",
        &format!(
            "int64 ({},) = (T*E,): task trained in episode s (its effect is row s+1)",
            tt * e
        ),
    );
    info.describe_array(
        "points.npy",
        &format!(
            "float32 ({}, {tt}, {m}) = (E+1, T, M): f_i^-1(P x_i) of every task i at the end of \
             every epoch; index 0 = before training",
            e + 1
        ),
    );
}

/// Writes the three arrays, each on its own thread, while `meanwhile` runs on this one;
/// returns both outcomes once everything is done.
fn write_arrays_while<T>(
    dir: &RunDir,
    run: &ToyRun,
    meanwhile: impl FnOnce() -> T,
) -> (Result<(), ToyError>, T) {
    std::thread::scope(|s| {
        let points = spawn_beside(s, || {
            let points: Array3<f32> = run.points.mapv(|v| v as f32);
            dir.write_npy("points.npy", &points)
        });
        let losses = spawn_beside(s, || {
            let losses: Array2<f32> = run.losses.mapv(|v| v as f32);
            dir.write_npy("losses.npy", &losses)
        });
        let order = spawn_beside(s, || {
            let order: Array1<i64> = run.order.iter().map(|&t| t as i64).collect();
            dir.write_npy("order.npy", &order)
        });
        let out = meanwhile();
        let mut written = Ok(());
        for h in [order, losses, points] {
            let w = h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            written = written.and(w.map_err(ToyError::from));
        }
        (written, out)
    })
}

/// Standard metrics plus the fraction of the points' variance in their top two
/// principal components, per snapshot (the ring of paper Fig. 11); the PCAs on every core.
fn metrics(run: &ToyRun) -> Result<Metrics, ToyError> {
    let order: Vec<i64> = run.order.iter().map(|&t| t as i64).collect();
    let (standard, top2) = std::thread::scope(|s| {
        let standard = spawn_beside(s, || Metrics::compute(&run.losses, &order));
        let top2 = reawaken_analysis::parallel::map((0..run.points.shape()[0]).collect(), |e| {
            reawaken_analysis::pca::pca(&run.points.slice(s![e, .., ..]), 2)
                .ok()
                .map(|p| p.explained_variance_ratio.sum())
                .filter(|v| v.is_finite())
        });
        let standard = standard
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (standard, top2)
    });
    let mut m = standard?;
    m.extra.insert(
        "points_top2_variance_fraction".into(),
        serde_json::json!(top2),
    );
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverged_run_keeps_finite_part_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let rd = RunDir::create(dir.path().join("r"), OpenMode::Fresh).unwrap();
        let mut info = RunInfo::new(RunKind::Toy, serde_json::json!({}), 0);
        rd.write_run_info(&info).unwrap();
        // T = 2: 3 finite rows (2 episodes), the 3rd episode went non-finite
        let partial = ToyRun {
            losses: ndarray::array![[1.0, 1.0], [0.0, 2.0], [1.5, 0.0]],
            order: vec![0, 1],
            points: Array3::zeros((2, 2, 3)),
            step_factor_max: 0.5,
            init_method: crate::InitMethod::Given,
        };
        let err = finish_record(
            &rd,
            &mut info,
            Err(ToyError::NonFinite {
                episode: 3,
                partial: Box::new(partial),
            }),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("diverged") && err.contains("after 3 episodes"),
            "{err}"
        );
        let back = rd.read_run_info().unwrap();
        assert_eq!(back.status, RunStatus::Diverged);
        assert_eq!(back.diverged_at_episode, Some(3));
        assert_eq!(back.episodes_done, Some(2));
        let l: Array2<f32> = rd.read_npy("losses.npy").unwrap();
        assert_eq!(l.dim(), (3, 2));
        let o: Array1<i64> = rd.read_npy("order.npy").unwrap();
        assert_eq!(o.to_vec(), vec![0, 1]);
        assert!(l.iter().all(|v| v.is_finite()));
    }

    /// Finite losses that ran away end as `diverged` with the reason, never `complete`.
    #[test]
    fn runaway_run_is_diverged_not_complete() {
        let dir = tempfile::tempdir().unwrap();
        let rd = RunDir::create(dir.path().join("r"), OpenMode::Fresh).unwrap();
        let mut info = RunInfo::new(RunKind::Toy, serde_json::json!({}), 0);
        rd.write_run_info(&info).unwrap();
        let partial = ToyRun {
            losses: ndarray::array![[1.0, 1.0], [0.0, 3e3], [4e6, 0.0]],
            order: vec![0, 1],
            points: Array3::zeros((1, 2, 3)),
            step_factor_max: 0.5,
            init_method: crate::InitMethod::Given,
        };
        let err = finish_record(
            &rd,
            &mut info,
            Err(ToyError::Runaway {
                episode: 2,
                max_loss: 4e6,
                initial_max: 1.0,
                partial: Box::new(partial),
            }),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("grew without bound"), "{err}");
        let back = rd.read_run_info().unwrap();
        assert_eq!(back.status, RunStatus::Diverged);
        assert_eq!(back.diverged_at_episode, Some(2));
        assert!(back.message.unwrap().contains("grew without bound"));
        let l: Array2<f32> = rd.read_npy("losses.npy").unwrap();
        assert_eq!(l.dim(), (3, 2));
    }
}
