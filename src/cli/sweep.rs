//! `reawaken sweep plan|run|submit|status|summary`: the paper's comparisons (settings ×
//! seeds) as one command, on this machine or as a Slurm job array (`reawaken-sweep`
//! crate; guide: docs/sweeps.md). Each point is checked through the command's own
//! settings struct before anything runs: `ToyConfig` here, `ProbeConfig` by the LLM
//! executable (`super::llm::check_probe_settings`).
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use reawaken_sweep::runner::{Event, RunOptions};
use reawaken_sweep::slurm::SubmitOptions;
use reawaken_sweep::{RunState, Sweep, SweepCommand, SweepSpec};

/// Plan a sweep: check every point, write the manifest, configs and Slurm script.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Spec (TOML; keys are the command's own settings, as in its --config file):
  command = \"llm probe\"          # or \"toy simulate\"
  seeds = [0, 1, 2]
  [base]                         # shared by every point
  tasks = 10
  [grid]                         # full cross product
  steps = [1, 5, 10]
  order = [\"cyclic\", \"prequential-shuffled\"]
  [[zip]]                        # keys that vary together (any number of tables)
  width = [64, 128]
  intermediate-size = [256, 512]

Writes DIR/sweep.json (every run: point, seed, resolved settings, record directory),
DIR/configs/NNN.toml, DIR/sweep.sbatch. Recipes for the paper's figures: sweeps/."
)]
pub struct PlanArgs {
    /// The sweep spec.
    #[arg(value_name = "SPEC.toml")]
    pub spec: PathBuf,
    /// The sweep directory (new or empty; the same spec again is a no-op).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Run the runs of a sweep that have work left, here.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Complete runs are skipped, interrupted ones resumed, failed ones started again:
running the same command again continues the sweep. Ctrl-C / SIGTERM / SIGUSR1 stop every
run at its next safe point. One run's output: DIR/logs/NNN.log."
)]
pub struct RunArgs {
    /// The sweep directory (from `sweep plan`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Runs at once; the machine's cores are divided between them.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub jobs: usize,
    /// Only run I (what a Slurm array task calls).
    #[arg(long, value_name = "I")]
    pub index: Option<usize>,
    /// CPU threads per run [default: cores / jobs, at least 1].
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
}

/// Submit the runs left to do as a Slurm job array (`sbatch`).
#[derive(clap::Args, Debug)]
#[command(after_help = "Example (GPU cluster):
  reawaken sweep submit runs/sweep-fig2a --partition gpu --time 12:00:00 \\
      --cpus-per-task 8 --gpus-per-task 1 --mem 64G --max-parallel 5

Each array task runs `reawaken sweep run DIR --index $SLURM_ARRAY_TASK_ID`; two minutes
before the time limit it stops at a safe point and requeues itself. Submit again after a
failure: only the runs not complete are submitted.")]
pub struct SubmitArgs {
    /// The sweep directory (from `sweep plan`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per task (Slurm format: MM, HH:MM:SS, D-HH).
    #[arg(long)]
    pub time: Option<String>,
    /// CPUs per task (the run's thread count).
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<u32>,
    /// GPUs per task (use with `device = "cuda"` in the spec).
    #[arg(long, value_name = "N")]
    pub gpus_per_task: Option<u32>,
    /// Memory per task (e.g. 16G).
    #[arg(long)]
    pub mem: Option<String>,
    /// Slurm account.
    #[arg(long)]
    pub account: Option<String>,
    /// At most P tasks at once.
    #[arg(long, value_name = "P")]
    pub max_parallel: Option<u32>,
    /// A further sbatch argument (repeatable), e.g. --sbatch-arg=--qos=long.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Print the sbatch command instead of running it.
    #[arg(long)]
    pub dry_run: bool,
}

/// A table of the runs of a sweep and the indices still to run.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The sweep directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Write DIR/summary.csv and print each condition's mean ± sd over seeds.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "summary.csv: index, point, label, seed, status, every swept key, rs_1..rs_K,
online_loss, final_loss, elapsed_s, record, message (pandas.read_csv; empty = NaN)."
)]
pub struct SummaryArgs {
    /// The sweep directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The toy's own check of one run's settings: its resolved settings, as `run.json` will
/// hold them, or why they are refused.
fn resolve_toy_point(table: &toml::Table) -> Result<serde_json::Value, String> {
    let cfg: reawaken_toy::ToyConfig = super::typed_table(table)?;
    cfg.validate().map_err(|e| e.to_string())?;
    serde_json::to_value(&cfg).map_err(|e| e.to_string())
}

/// The running binary (each run calls it).
fn this_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the reawaken binary's path")
}

/// `reawaken sweep plan`.
pub fn plan(args: PlanArgs) -> anyhow::Result<()> {
    let spec = SweepSpec::load(&args.spec)?;
    // `llm probe` settings are checked by the LLM executable, every run in one call.
    let mut probe_checks = std::collections::HashMap::new();
    if spec.command == SweepCommand::LlmProbe {
        let tables = spec.run_tables();
        let answers = super::llm::check_probe_settings(&tables)?;
        for (table, answer) in tables.iter().zip(answers) {
            probe_checks.insert(toml::to_string(table).unwrap_or_default(), answer);
        }
    }
    let validate = |command: SweepCommand, table: &toml::Table| match command {
        SweepCommand::ToySimulate => resolve_toy_point(table),
        SweepCommand::LlmProbe => probe_checks
            .get(&toml::to_string(table).unwrap_or_default())
            .cloned()
            .unwrap_or_else(|| Err("was not checked by reawaken-llm".into())),
    };
    let sweep = reawaken_sweep::plan(&spec, &args.out, &this_exe()?, &validate)?;
    let m = &sweep.manifest;
    println!(
        "sweep plan: {} point(s) x {} seed(s) = {} run(s) of `reawaken {}`{}",
        spec.point_count(),
        m.seeds.len(),
        m.runs.len(),
        m.command,
        if m.swept.is_empty() {
            String::new()
        } else {
            format!(", swept: {}", m.swept.join(", "))
        }
    );
    println!("  manifest: {}", sweep.dir.join("sweep.json").display());
    println!(
        "  run here: reawaken sweep run {} --jobs 2",
        sweep.dir.display()
    );
    println!(
        "  or Slurm: reawaken sweep submit {} --time 1:00:00 (script: {})",
        sweep.dir.display(),
        sweep.dir.join(reawaken_sweep::slurm::SCRIPT).display()
    );
    Ok(())
}

/// Progress of a sweep: a bar with ETA on a terminal, one log line per run otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: std::time::Instant,
    jobs: usize,
}

impl Progress {
    fn new(jobs: usize) -> Self {
        Progress {
            bar: None,
            started: std::time::Instant::now(),
            jobs,
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn on(&mut self, event: Event) {
        match event {
            Event::Skipped { entry, state } => self.line(format!(
                "  run {:03} {} seed {}: {} (skipped)",
                entry.index,
                entry.label,
                entry.seed,
                state.name()
            )),
            Event::Started { entry, how } => {
                tracing::info!("run {:03} {how}: {}", entry.index, entry.record.display());
            }
            Event::Finished {
                entry,
                state,
                elapsed_s,
                done,
                total,
            } => {
                if self.bar.is_none() && std::io::stderr().is_terminal() {
                    let bar = indicatif::ProgressBar::new(total as u64);
                    bar.set_style(
                        indicatif::ProgressStyle::with_template(
                            "sweep [{bar:30}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    self.bar = Some(bar);
                }
                let reason = state.reason().map(|r| format!(": {r}")).unwrap_or_default();
                let wall = self.started.elapsed().as_secs_f64();
                let eta = wall / done as f64 * (total - done) as f64;
                self.line(format!(
                    "  run {:03} {} seed {}: {} in {elapsed_s:.1} s{reason} [{done}/{total}, ETA {eta:.0} s at {} at once]",
                    entry.index,
                    entry.label,
                    entry.seed,
                    state.name(),
                    self.jobs
                ));
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                }
            }
        }
    }
}

/// `reawaken sweep run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.jobs == 0 {
        anyhow::bail!("--jobs must be at least 1");
    }
    if args.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let sweep = Sweep::open(&args.dir)?;
    let cpus = reawaken_sweep::slurm::available_cpus();
    let jobs = if args.index.is_some() { 1 } else { args.jobs };
    let threads = args.threads.unwrap_or((cpus / jobs).max(1));
    if jobs * threads > cpus {
        tracing::warn!(
            "{jobs} runs x {threads} threads is more than the {cpus} cores here: the runs will slow each other down"
        );
    }
    reawaken_analysis::interrupt::install();
    let opts = RunOptions {
        exe: this_exe()?,
        jobs,
        threads,
        only: args.index,
    };
    eprintln!(
        "sweep run: {} ({} runs of `reawaken {}`), {jobs} at a time, {threads} thread(s) each",
        sweep.dir.display(),
        sweep.manifest.runs.len(),
        sweep.manifest.command
    );
    let mut progress = Progress::new(jobs);
    let report = reawaken_sweep::runner::run(&sweep, &opts, &mut |e| progress.on(e))?;
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    eprintln!(
        "sweep run: {} run(s) ended here ({} failed, {} interrupted), {} already done, {} being run elsewhere",
        report.ran.len(),
        report.failed(),
        report.interrupted(),
        report.skipped_done,
        report.skipped_running
    );
    if let Some(stop) = report.stop {
        let in_slurm_task = reawaken_sweep::slurm::this_task().is_some();
        if stop.is_time_limit() && in_slurm_task && args.index.is_some() && report.interrupted() > 0
        {
            match reawaken_sweep::slurm::requeue_self() {
                Ok(task) => eprintln!(
                    "time limit near: requeued Slurm task {task}; it resumes where it stopped"
                ),
                Err(e) => eprintln!("warning: {e}"),
            }
        }
        eprintln!(
            "interrupted by {}: every record is consistent; run the same command again to continue",
            stop.name()
        );
        std::process::exit(stop.exit_code());
    }
    if report.failed() > 0 {
        anyhow::bail!(
            "{} run(s) failed (reasons: reawaken sweep status {}); the others are unaffected",
            report.failed(),
            sweep.dir.display()
        );
    }
    Ok(())
}

/// `reawaken sweep submit`.
pub fn submit(args: SubmitArgs) -> anyhow::Result<()> {
    let sweep = Sweep::open(&args.dir)?;
    let states = reawaken_sweep::status::states(&sweep);
    let todo = reawaken_sweep::status::to_run(&states);
    if todo.is_empty() {
        println!(
            "nothing to submit: every run of {} is done or running",
            sweep.dir.display()
        );
        return Ok(());
    }
    let opts = SubmitOptions {
        partition: args.partition,
        time: args.time,
        cpus_per_task: args.cpus_per_task,
        gpus_per_task: args.gpus_per_task,
        mem: args.mem,
        account: args.account,
        max_parallel: args.max_parallel,
        extra: args.sbatch_args,
    };
    if args.dry_run {
        let words = reawaken_sweep::slurm::sbatch_args(&sweep, &todo, &opts);
        println!("sbatch {}", words.join(" "));
        return Ok(());
    }
    let job = reawaken_sweep::slurm::submit(&sweep, &todo, &opts)?;
    println!(
        "submitted job array {job}: {} run(s), tasks {} (logs: {}/logs/slurm-{job}_<task>.out); follow with: reawaken sweep status {}",
        todo.len(),
        reawaken_sweep::status::compress_indices(&todo),
        sweep.dir.display(),
        sweep.dir.display()
    );
    Ok(())
}

/// `reawaken sweep status`.
pub fn status(args: StatusArgs) -> anyhow::Result<()> {
    let sweep = Sweep::open(&args.dir)?;
    let states = reawaken_sweep::status::states(&sweep);
    println!(
        "{:>5}  {:<11}  {:>4}  {:<40}  reason",
        "index", "status", "seed", "point"
    );
    for (e, s) in sweep.manifest.runs.iter().zip(&states) {
        let reason = match s {
            RunState::Running { pid } => format!("pid {pid}"),
            _ => s.reason().unwrap_or("").to_string(),
        };
        println!(
            "{:>5}  {:<11}  {:>4}  {:<40}  {reason}",
            e.index,
            s.name(),
            e.seed,
            e.label
        );
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for s in &states {
        *counts.entry(s.name()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!("{} runs: {}", states.len(), counts.join(", "));
    let todo = reawaken_sweep::status::to_run(&states);
    if todo.is_empty() {
        println!("nothing left to run");
    } else {
        println!(
            "to run: {} (reawaken sweep run {} | reawaken sweep submit {} submits exactly these)",
            reawaken_sweep::status::compress_indices(&todo),
            sweep.dir.display(),
            sweep.dir.display()
        );
    }
    Ok(())
}

/// `reawaken sweep summary`.
pub fn summary(args: SummaryArgs) -> anyhow::Result<()> {
    use reawaken_sweep::summary;
    let sweep = Sweep::open(&args.dir)?;
    let rows = summary::rows(&sweep);
    let path = summary::write_csv(&sweep, &rows)?;
    let conditions = summary::conditions(&rows);
    let k = conditions
        .iter()
        .map(|c| c.recovery_score.len())
        .max()
        .unwrap_or(0);
    let pm = |v: Option<reawaken_sweep::summary::Stat>, seeds: usize| match v {
        None => "n/a".to_string(),
        Some(st) if st.n < seeds => format!("{:.3} (n={})", st.mean, st.n),
        Some(st) => format!("{:.3}±{:.3}", st.mean, st.sd),
    };
    let mut header = format!("{:<40}  {:>5}", "condition", "seeds");
    for n in 1..=k {
        header.push_str(&format!("  {:>13}", format!("RS({n})")));
    }
    header.push_str(&format!("  {:>13}", "online loss"));
    println!("{header}");
    for c in &conditions {
        let mut line = format!(
            "{:<40}  {:>5}",
            c.label,
            format!("{}/{}", c.complete, c.runs)
        );
        for n in 0..k {
            line.push_str(&format!(
                "  {:>13}",
                pm(c.recovery_score.get(n).copied().flatten(), c.complete)
            ));
        }
        line.push_str(&format!("  {:>13}", pm(c.online_loss, c.complete)));
        println!("{line}");
    }
    println!(
        "(mean ± sd over the complete seeds; n=k: defined for k of them only) rows: {}",
        path.display()
    );
    Ok(())
}
