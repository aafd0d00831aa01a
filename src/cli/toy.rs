//! `reawaken toy simulate`: resolves the settings (defaults ← `--config` file ← flags),
//! runs the toy model into a run record (`reawaken_toy::simulate_to_record`) with a
//! progress bar, and prints a short summary. The model: docs/toy-model.md.

use std::path::{Path, PathBuf};

use reawaken_analysis::record::{OpenMode, RunInfo};
use reawaken_toy::{ToyConfig, ToyError};

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

Stability: w is re-solved after every P-step, so each task's residual is carried to the
next task multiplied by c = lr |x_i|^2 (|x_i|^2 ~ N/3): c >= 1 grows geometrically. So
lr*N/3 must stay below 1 (N = M = 1000 needs lr <= 0.002 with the summed loss). Unstable
settings are refused before anything runs; a run whose losses still grow more than 1e6-fold
ends with status \"diverged\". --loss-reduction mean ((1/M)|.|^2, PyTorch MSELoss) scales the
P-step by 2/M, so the paper's lr 0.01 runs N = 100 and N = 1000 alike (Fig. 10a).";

/// Arguments of `reawaken toy simulate`: where the record goes, and the settings.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_long_help = AFTER_HELP,
    args_override_self = true,
    allow_negative_numbers = true
)]
pub struct SimulateArgs {
    /// TOML file with settings; keys are the flag names (`tasks = 25`, `input-dim = 100`,
    /// `mapping = "target"`). Flags given here override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Directory of the run record [default: runs/toy-<mapping>-<order>-seed<S>, relative
    /// to the current directory].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the record in an existing --out directory: deletes only the files this tool
    /// wrote there (listed in its .reawaken-files), never files you added; refused for a
    /// directory that holds no reawaken record, or that another run is writing.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub settings: ToyConfig,
}

/// `--out`, or `runs/toy-<mapping>-<order>-seed<S>`.
pub fn out_dir(out: Option<&Path>, cfg: &ToyConfig) -> PathBuf {
    out.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/toy-{}-{}-seed{}",
            cfg.mapping, cfg.order, cfg.seed
        ))
    })
}

/// Entry point of `reawaken toy simulate`; `matches` tells which flags were given.
pub fn run(args: SimulateArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let cfg: ToyConfig = super::resolve_settings(args.config.as_deref(), &args.settings, matches)?;
    let out = out_dir(args.out.as_deref(), &cfg);
    let mode = if args.force {
        OpenMode::Force
    } else {
        OpenMode::Fresh
    };
    reawaken_analysis::interrupt::install();
    let bar = progress_bar(&cfg, cfg.episodes());
    let result = reawaken_toy::simulate_to_record(&cfg, &out, mode, &mut |done| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    if let Err(ToyError::Stopped { exit_code, .. }) = &result {
        let code = *exit_code;
        if let Err(e) = result {
            eprintln!("error: {e}");
        }
        std::process::exit(code);
    }
    let info = result.map_err(plain_toy_error)?;
    print_summary(&cfg, &info, &out);
    Ok(())
}

/// Turns a toy error into one plain message (the toy's messages already name the flag).
fn plain_toy_error(e: ToyError) -> anyhow::Error {
    match e {
        ToyError::InvalidConfig(m) => anyhow::anyhow!("{m}"),
        other => anyhow::anyhow!("{other}"),
    }
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

fn print_summary(cfg: &ToyConfig, info: &RunInfo, dir: &Path) {
    let m = &info.metrics;
    println!(
        "toy simulate: mapping {}, order {}, loss {}, T={} N={} M={} lr={} K={} E={} seed {}",
        cfg.mapping,
        cfg.order,
        cfg.loss_reduction,
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
    use clap::{FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn resolve(argv: &[&str]) -> ToyConfig {
        let cmd = <Cli as clap::CommandFactory>::command();
        let m = cmd.try_get_matches_from(argv).unwrap();
        let cli = Cli::from_arg_matches(&m).unwrap();
        crate::cli::resolve_settings(cli.args.config.as_deref(), &cli.args.settings, &m).unwrap()
    }

    #[test]
    fn defaults_file_flags() {
        assert_eq!(resolve(&["x"]), ToyConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "tasks = 7\nlr = 0.02\nmapping = \"identity\"\n").unwrap();
        let path = f.to_str().unwrap();
        let cfg = resolve(&["x", "--config", path, "--lr", "0.03", "--epochs", "10"]);
        assert_eq!(cfg.tasks, 7);
        assert_eq!(cfg.lr, 0.03);
        assert_eq!(cfg.mapping, reawaken_toy::Mapping::Identity);
        assert_eq!(cfg.epochs, ToyConfig::default().epochs);
        assert_eq!(
            out_dir(None, &cfg),
            PathBuf::from("runs/toy-identity-cyclic-seed0")
        );
        let j = serde_json::to_value(&cfg).unwrap();
        assert_eq!(j["mapping"], "identity");
        assert_eq!(j["input-dim"], 100);
    }
}
