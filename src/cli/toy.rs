//! `reawaken toy simulate`: runs the toy model (SPEC §3) and writes a run record (SPEC §5).
//!
//! Flow: resolve the config (defaults ← `--config` file ← flags) → validate it and the
//! sampled data (an unstable α is refused here, before anything is written) → create the
//! output directory (refusing an existing one without `--force`) → `run.json` with status
//! `running` → simulate with a progress bar → arrays and metrics → `run.json` with status
//! `complete` (or `diverged` with the episode, the arrays holding everything finite up to
//! it) → a short summary on stdout.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use ndarray::{s, Array1, Array2, Array3};
use reawaken_toy::{Mapping, Order, ToyConfig, ToyError, ToyRun};
use serde::{Deserialize, Serialize};

use crate::cli::config;
use reawaken_analysis::record::{Metrics, OpenMode, RunDir, RunInfo, RunKind, RunStatus};

const AFTER_HELP: &str = "\
The toy model (paper §4.4, App. A.5): T tasks, each one point x_i in R^N; a slow linear
embedding P (M x N) and a fast vector w in R^M. One step on task i: P <- P - lr (P x_i -
f_i(w)) x_i^T, then w <- f_i^-1(P x_i). After every episode (K steps on one task) the loss
1/2 |P x_j - f_j(w)|^2 of every task j is recorded.

Every flag can also be given in the --config TOML file under its own name, e.g.
    tasks = 25
    input-dim = 100
    lr = 0.01
    mapping = \"target\"
Flags on the command line override the file. The resolved values are stored in run.json.

Output (numpy: np.load(DIR + '/losses.npy')):
    run.json     config, seed, status, timings, metrics (recovery_score per epoch, online loss)
    losses.npy   float32 (T*E+1, T): row s = loss of every task after s episodes (row 0: init)
    order.npy    int64 (T*E,): task trained in episode s (its effect is row s+1)
    points.npy   float32 (E+1, T, M): f_i^-1(P x_i) of every task at the end of each epoch
                 (index 0 = before training), for the ring / PCA figure

Stability: the P-step multiplies the trained task's residual by 1 - lr |x_i|^2 with
|x_i|^2 ~ N/3, so lr*N/3 must stay below 2 (N = M = 1000 needs lr <= 0.004). Unstable
settings are refused before anything runs.";

/// Arguments of `reawaken toy simulate`. Every run setting is optional here: unset flags
/// take the value of the `--config` file, then the default.
#[derive(clap::Args, Debug, Clone, Default)]
#[command(
    after_long_help = AFTER_HELP,
    args_override_self = true,
    allow_negative_numbers = true
)]
pub struct SimulateArgs {
    /// TOML file with settings; keys are the flag names (`tasks = 25`, `input-dim = 100`,
    /// `mapping = "target"`, `out = "runs/x"`). Flags given here override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Directory of the run record [default: runs/toy-<mapping>-<order>-seed<S>, relative
    /// to the current directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the record in an existing --out directory (deletes its .npy/.json files;
    /// refused for directories that hold no reawaken run.json).
    #[arg(long)]
    pub force: bool,
    /// Seed of every random draw: data x_i, targets y_i, initial P and w, shuffled orders
    /// [default: 0].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// T, the number of tasks (one data point each) [default: 25].
    #[arg(long, value_name = "T")]
    pub tasks: Option<usize>,
    /// N, the dimension of the data points x_i [default: 100].
    #[arg(long, value_name = "N")]
    pub input_dim: Option<usize>,
    /// M, the embedding dimension (rows of P; length of w and y_i) [default: 100].
    #[arg(long, value_name = "M")]
    pub embed_dim: Option<usize>,
    /// α, the step size of the gradient step on P; lr·N/3 must stay below 2 [default: 0.01].
    #[arg(long, value_name = "A", allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Task maps: `target` f_i(w) = y_i − w (paper Fig. 10b), `identity` f_i(w) = w
    /// (Fig. 10a) [default: target].
    #[arg(long, value_name = "MAP", value_parser = PossibleValuesParser::new(["target", "identity"])
        .try_map(|s| s.parse::<Mapping>()))]
    pub mapping: Option<Mapping>,
    /// E, the number of epochs (passes over all T tasks) [default: 10].
    #[arg(long, value_name = "E")]
    pub epochs: Option<usize>,
    /// K, training steps per episode (the paper uses 1) [default: 1].
    #[arg(long, value_name = "K")]
    pub steps: Option<usize>,
    /// Task order: `cyclic` (0..T−1 every epoch) or `shuffled` (a new seeded permutation
    /// every epoch) [default: cyclic].
    #[arg(long, value_name = "ORDER", value_parser = PossibleValuesParser::new(["cyclic", "shuffled"])
        .try_map(|s| s.parse::<Order>()))]
    pub order: Option<Order>,
}

/// The resolved settings of `toy simulate` (the `config` object of `run.json`; also the
/// schema of `--config` files).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct SimulateConfig {
    /// Output directory (`None`: the default name).
    pub out: Option<PathBuf>,
    /// Seed.
    pub seed: u64,
    /// T.
    pub tasks: usize,
    /// N.
    pub input_dim: usize,
    /// M.
    pub embed_dim: usize,
    /// α.
    pub lr: f64,
    /// Task maps.
    pub mapping: Mapping,
    /// E.
    pub epochs: usize,
    /// K.
    pub steps: usize,
    /// Order.
    pub order: Order,
}

impl Default for SimulateConfig {
    fn default() -> Self {
        Self::from_toy(&ToyConfig::default(), None)
    }
}

impl SimulateConfig {
    fn from_toy(t: &ToyConfig, out: Option<PathBuf>) -> Self {
        Self {
            out,
            seed: t.seed,
            tasks: t.tasks,
            input_dim: t.input_dim,
            embed_dim: t.embed_dim,
            lr: t.lr,
            mapping: t.mapping,
            epochs: t.epochs,
            steps: t.steps,
            order: t.order,
        }
    }

    /// The toy model's configuration.
    pub fn toy(&self) -> ToyConfig {
        ToyConfig {
            seed: self.seed,
            tasks: self.tasks,
            input_dim: self.input_dim,
            embed_dim: self.embed_dim,
            lr: self.lr,
            mapping: self.mapping,
            epochs: self.epochs,
            steps: self.steps,
            order: self.order,
        }
    }

    /// `--out`, or `runs/toy-<mapping>-<order>-seed<S>`.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "runs/toy-{}-{}-seed{}",
                self.mapping, self.order, self.seed
            ))
        })
    }
}

/// Defaults ← `--config` file ← flags.
pub fn resolve(args: &SimulateArgs) -> anyhow::Result<SimulateConfig> {
    let mut cfg: SimulateConfig = config::load_or_default(args.config.as_deref())?;
    crate::override_from_flags!(cfg, args;
        opt out, seed, tasks, input_dim, embed_dim, lr, mapping, epochs, steps, order);
    Ok(cfg)
}

/// Entry point of `reawaken toy simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let cfg = resolve(&args)?;
    let toy = cfg.toy();
    let warnings = toy.validate().map_err(plain_toy_error)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    // Sample the data and check the exact step factor before anything is written.
    let problem = reawaken_toy::ToyProblem::sample(&toy);
    let step_factor = reawaken_toy::check_stability(&problem).map_err(plain_toy_error)?;
    tracing::info!(
        "sampled {} tasks (N = {}, M = {}); max lr*|x|^2 = {step_factor:.3}; init: {}",
        toy.tasks,
        toy.input_dim,
        toy.embed_dim,
        problem.init_method
    );
    let order = reawaken_toy::make_order(&toy);

    let out = cfg.out_dir();
    let mode = if args.force {
        OpenMode::Force
    } else {
        OpenMode::Fresh
    };
    let dir = RunDir::create(&out, mode)?;
    let mut info = RunInfo::new(RunKind::Toy, config::to_json(&cfg)?, cfg.seed);
    if !warnings.is_empty() {
        info.extra
            .insert("warnings".into(), serde_json::json!(warnings));
    }
    info.extra
        .insert("step_factor_max".into(), serde_json::json!(step_factor));
    describe_arrays(&mut info, &toy);
    dir.write_run_info(&info)?;

    let episodes = order.len();
    let bar = progress_bar(&toy, episodes);
    let t0 = Instant::now();
    let result = reawaken_toy::run_with_order(&problem, &order, toy.steps, &mut |done| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    let sim_s = t0.elapsed().as_secs_f64();
    info.timings
        .extra
        .insert("simulate_s".into(), serde_json::json!(sim_s));

    finish_record(&dir, &mut info, result)?;
    print_summary(&cfg, &info, dir.path());
    Ok(())
}

/// Writes the outcome of a simulation into the record: arrays, metrics and `run.json`
/// with status `complete`; or, for a run whose loss became non-finite, every finite
/// episode before it with status `diverged` (then returns an error saying so); or status
/// `failed` for any other error.
fn finish_record(
    dir: &RunDir,
    info: &mut RunInfo,
    result: Result<ToyRun, ToyError>,
) -> anyhow::Result<()> {
    match result {
        Ok(run) => {
            write_arrays(dir, &run).map_err(|e| fail(dir, info, e))?;
            info.metrics = metrics(&run).map_err(|e| fail(dir, info, e))?;
            info.episodes_done = Some(run.order.len());
            info.finish(RunStatus::Complete);
            dir.write_run_info(info)?;
            Ok(())
        }
        Err(ToyError::NonFinite { episode, partial }) => {
            write_arrays(dir, &partial).map_err(|e| fail(dir, info, e))?;
            info.metrics = metrics(&partial).unwrap_or_default();
            info.episodes_done = Some(partial.order.len());
            info.diverged_at_episode = Some(episode);
            info.message = Some(format!(
                "a loss became inf/NaN in episode {episode}; the arrays hold the {} finite \
                 episodes before it",
                partial.order.len()
            ));
            info.finish(RunStatus::Diverged);
            dir.write_run_info(info)?;
            anyhow::bail!(
                "the run diverged: a loss became inf/NaN in episode {episode} (lower --lr); \
                 the record in `{}` has status \"diverged\" and holds the {} episodes before it",
                dir.path().display(),
                partial.order.len()
            )
        }
        Err(e) => Err(fail(dir, info, plain_toy_error(e))),
    }
}

/// Turns a toy error into one plain message (the toy's messages already name the flag).
fn plain_toy_error(e: ToyError) -> anyhow::Error {
    match e {
        ToyError::InvalidConfig(m) => anyhow::anyhow!("{m}"),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Marks the record `failed` (best effort) and passes the error on.
fn fail(dir: &RunDir, info: &mut RunInfo, e: impl Into<anyhow::Error>) -> anyhow::Error {
    let e = e.into();
    info.message = Some(format!("{e:#}"));
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

fn write_arrays(dir: &RunDir, run: &ToyRun) -> anyhow::Result<()> {
    let losses: Array2<f32> = run.losses.mapv(|v| v as f32);
    let order: Array1<i64> = run.order.iter().map(|&t| t as i64).collect();
    let points: Array3<f32> = run.points.mapv(|v| v as f32);
    dir.write_npy("losses.npy", &losses)?;
    dir.write_npy("order.npy", &order)?;
    dir.write_npy("points.npy", &points)?;
    Ok(())
}

/// Standard metrics plus the fraction of the points' variance in their top two
/// principal components, per snapshot (the ring of paper Fig. 11).
fn metrics(run: &ToyRun) -> anyhow::Result<Metrics> {
    let order: Vec<i64> = run.order.iter().map(|&t| t as i64).collect();
    let mut m = Metrics::compute(&run.losses, &order).context("computing metrics")?;
    let mut top2 = Vec::new();
    for e in 0..run.points.shape()[0] {
        let pts = run.points.slice(s![e, .., ..]);
        let frac = reawaken_analysis::pca::pca(&pts, 2)
            .ok()
            .map(|p| p.explained_variance_ratio.sum())
            .filter(|v| v.is_finite());
        top2.push(frac);
    }
    m.extra.insert(
        "points_top2_variance_fraction".into(),
        serde_json::json!(top2),
    );
    Ok(m)
}

fn progress_bar(t: &ToyConfig, episodes: usize) -> indicatif::ProgressBar {
    // Per episode the fast dynamics cost O(T·M); hide the bar for runs that take well
    // under a second.
    let work = (episodes as f64) * (t.tasks as f64) * (t.embed_dim as f64 + t.tasks as f64);
    if work < 2e8 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(episodes as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} episodes (ETA {eta})",
    ) {
        bar.set_style(style);
    }
    bar
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("undefined".into(), |x| format!("{x:.4}"))
}

fn print_summary(cfg: &SimulateConfig, info: &RunInfo, dir: &Path) {
    let m = &info.metrics;
    println!(
        "toy simulate: mapping {}, order {}, T={} N={} M={} lr={} K={} E={} seed {}",
        cfg.mapping,
        cfg.order,
        cfg.tasks,
        cfg.input_dim,
        cfg.embed_dim,
        cfg.lr,
        cfg.steps,
        cfg.epochs,
        cfg.seed
    );
    println!(
        "status {} in {:.2} s",
        info.status,
        info.timings.elapsed_s.unwrap_or(0.0)
    );
    if m.recovery_score.is_empty() {
        println!("recovery score: needs at least 2 epochs");
    } else {
        println!("recovery score RS(n), n = 1..{}:", m.recovery_score.len());
        for (c, chunk) in m.recovery_score.chunks(10).enumerate() {
            let mut line = String::new();
            for (i, rs) in chunk.iter().enumerate() {
                let flag = if rs.is_some_and(|x| x > 1.0) { "*" } else { "" };
                line.push_str(&format!("  {}: {}{flag}", c * 10 + i + 1, fmt_opt(*rs)));
            }
            println!("{line}");
        }
        if m.recovery_score_above_one.iter().any(|&b| b) {
            println!(
                "  * RS > 1: the loss fell below its post-training value (generic learning, \
                 not only recovery)"
            );
        }
    }
    println!(
        "online loss (loss of the task about to be trained), mean over epochs 2..{}: {}",
        cfg.epochs,
        fmt_opt(m.online_loss_mean)
    );
    if let Some(Some(f)) = m
        .extra
        .get("points_top2_variance_fraction")
        .and_then(|v| v.as_array())
        .and_then(|a| a.last())
        .map(|v| v.as_f64())
    {
        println!(
            "points f_i^-1(P x_i) after the last epoch: {:.1}% of their variance in the top 2 \
             principal components",
            100.0 * f
        );
    }
    println!(
        "record: {}/ (run.json, losses.npy, order.npy, points.npy)",
        dir.display()
    );
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
            init_method: reawaken_toy::InitMethod::Given,
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
            err.contains("diverged") && err.contains("episode 3"),
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

    #[test]
    fn resolve_layers() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "tasks = 7\nlr = 0.02\nmapping = \"identity\"\n").unwrap();
        let args = SimulateArgs {
            config: Some(f),
            lr: Some(0.03),
            ..Default::default()
        };
        let cfg = resolve(&args).unwrap();
        assert_eq!(cfg.tasks, 7);
        assert_eq!(cfg.lr, 0.03);
        assert_eq!(cfg.mapping, Mapping::Identity);
        assert_eq!(cfg.epochs, ToyConfig::default().epochs);
        assert_eq!(
            cfg.out_dir(),
            PathBuf::from("runs/toy-identity-cyclic-seed0")
        );
        let j = config::to_json(&cfg).unwrap();
        assert_eq!(j["mapping"], "identity");
        assert_eq!(j["input-dim"], 100);
    }
}
