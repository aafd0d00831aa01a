//! `reawaken llm probe`: flags, config resolution, and the closing summary.
use std::path::PathBuf;

use anyhow::Context;

use reawaken_analysis::record::RunStatus;
use reawaken_llm::probe::{run_probe, ProbeConfig, ProbeError, ProbeSummary, StartMode};

/// Cyclic fine-tuning of a language model on T documents (paper §2–4).
///
/// For epoch 1..E, for each document in the order: M gradient steps on it alone (batch 1),
/// then the loss of every document (one batched forward pass) → a row of losses.npy.
///
/// Defaults (no flags): a fresh `tiny` Pythia-shaped model (width 128, 2 blocks, 4 heads,
/// Pythia init, byte tokenizer) on T = 10 documents drawn from the built-in English corpus,
/// C = 64 tokens, M = 10 SGD steps at lr 0.01, E = 4 epochs, cyclic order, all recorders,
/// record in runs/llm-probe. About 5 s on a 2-core CPU.
///
/// Every flag can also be given as a key of `--config FILE.toml` (same name, kebab-case);
/// a flag on the command line wins. See docs/llm-probe.md; every paper figure with its
/// command: docs/paper-figures.md.
#[derive(clap::Args, Debug)]
#[command(
    args_override_self = true,
    allow_negative_numbers = true,
    after_help = "Examples:
  reawaken llm probe                        # built-in defaults: tiny fresh model, CPU
  reawaken llm probe --order prequential-shuffled --out runs/llm-shuffled   # the paper's control
  reawaken llm probe --model pythia-160m --docs cnn.jsonl --text-field article \\
      --tasks 25 --context 256 --steps 10 --epochs 5 --device cuda --out runs/p160m
  reawaken llm probe --order prequential-shuffled --out runs/llm-shuffled --resume   # same flags + --resume
  reawaken llm probe --preset 1b --width 512 --device cuda   # Fig. 3: the MLP stays 8192 wide

Record files (numpy.load): losses.npy (episodes+1, T), order.npy, tasks.json, \
grad_cosine.npy, pairwise.npy, weights*.npy, acts*.npy, run.json (config, status, metrics).
A busy machine: without OMP_NUM_THREADS a probe uses one thread per core that no other \
reawaken run holds and no other process kept busy while it started (recorded in run.json \
cpu_threads, and said on stderr when fewer than all); OMP_NUM_THREADS=k fixes the count. Its \
OpenMP threads spin only briefly before they sleep (GOMP_SPINCOUNT=10000 unless \
OMP_WAIT_POLICY or GOMP_SPINCOUNT is set; run.json openmp_wait), so a process that starts \
later slows it down without a collapse. For many runs use `reawaken sweep run --jobs N` \
(docs/sweeps.md)."
)]
pub struct ProbeArgs {
    /// TOML file of settings (keys = flag names); flags override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Record directory [default: runs/llm-probe].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing record in --out: deletes only the files this tool wrote there
    /// (listed in its .reawaken-files), never files you added; refused for a directory
    /// that holds no reawaken record, or that another run is writing.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue the interrupted run in --out (same settings required).
    #[arg(long)]
    pub resume: bool,
    /// Check the settings and print what the run would need (model size, episodes, memory
    /// estimate against this machine's available memory) without training or writing.
    #[arg(long, conflicts_with_all = ["force", "resume"])]
    pub dry_run: bool,
    #[command(flatten)]
    pub settings: ProbeConfig,
}

/// Entry point of `reawaken llm probe`; `matches` tells which flags were given.
pub fn run(args: ProbeArgs, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let cfg: ProbeConfig =
        reawaken::cli::resolve_settings(args.config.as_deref(), &args.settings, matches)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/llm-probe"));
    let mode = if args.resume {
        StartMode::Resume
    } else if args.force {
        StartMode::Force
    } else {
        StartMode::Fresh
    };
    if args.dry_run {
        let plan = reawaken_llm::probe::setup::dry_run(&cfg)
            .map_err(flag_spelling)
            .context("llm probe --dry-run")?;
        print!("{}", format_dry_run(&plan));
        return Ok(());
    }
    reawaken_analysis::interrupt::install();
    let summary = run_probe(cfg, &out, mode, true)
        .map_err(flag_spelling)
        .with_context(|| format!("llm probe ({})", out.display()))?;
    print!("{}", format_summary(&summary));
    match summary.status {
        RunStatus::Diverged => anyhow::bail!(
            "the run diverged at episode {} ({}); everything recorded so far is in {}",
            summary.episodes_done + 1,
            summary.message.unwrap_or_default(),
            out.display()
        ),
        RunStatus::Interrupted => {
            eprintln!(
                "interrupted: {}; the record is consistent",
                summary.message.as_deref().unwrap_or("stopped by a signal")
            );
            let code =
                reawaken_analysis::interrupt::Stop::received().map_or(130, |s| s.exit_code());
            std::process::exit(code);
        }
        _ => Ok(()),
    }
}

/// A setting error names the setting; on the command line it is spelt as a flag.
fn flag_spelling(e: ProbeError) -> anyhow::Error {
    match e {
        ProbeError::Setting { key, problem } => anyhow::anyhow!("--{key} {problem}"),
        other => other.into(),
    }
}

/// What `--dry-run` prints: the model, the episodes and the memory estimate.
pub fn format_dry_run(p: &reawaken_llm::probe::setup::DryRun) -> String {
    use reawaken_llm::probe::budget::{approx_bytes, human_bytes};
    let m = &p.model;
    let shape = m.shape();
    let need = p.estimate.ram_bytes(p.on_cpu());
    let verdict = match p.available {
        Some(have) if need > have => format!("does NOT fit: {} available", human_bytes(have)),
        Some(have) => format!("fits: {} available", human_bytes(have)),
        None => "available memory unknown".into(),
    };
    format!(
        "llm probe --dry-run: settings are valid\n  model: {} {} parameters (width {}, depth {}, heads {}, MLP {}, vocab {}) on {:?}\n  episodes: {}\n  memory estimate: {}\n  RAM needed: {} ({verdict})\n",
        m.model_type(),
        m.num_parameters(),
        shape.width,
        shape.depth,
        shape.heads,
        shape.intermediate,
        shape.vocab,
        p.device,
        p.episodes,
        p.estimate,
        approx_bytes(need),
    )
}

/// A multi-line closing summary: RS per epoch, online loss, paths.
pub fn format_summary(s: &ProbeSummary) -> String {
    let mut out = String::new();
    let fmt = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.3}"));
    out.push_str(&format!(
        "llm probe: {} after {}/{} episodes in {:.1} s\n",
        s.status, s.episodes_done, s.episodes_total, s.elapsed_s
    ));
    let rs: Vec<String> = s
        .metrics
        .recovery_score
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let flag = if v.is_some_and(|x| x > 1.0) {
                " (>1: generic learning)"
            } else {
                ""
            };
            format!("RS({})={}{flag}", i + 1, fmt(*v))
        })
        .collect();
    let rs = if rs.is_empty() {
        "n/a (needs E >= 2)".to_string()
    } else {
        rs.join("  ")
    };
    out.push_str(&format!("  recovery score: {rs}\n"));
    out.push_str(&format!(
        "  online loss (mean over epochs 2..E): {}\n",
        fmt(s.metrics.online_loss_mean)
    ));
    out.push_str(&format!(
        "  final mean loss: {}\n",
        fmt(s.metrics.final_loss_mean)
    ));
    if let Some(m) = &s.message {
        out.push_str(&format!("  note: {m}\n"));
    }
    out.push_str(&format!("  record: {}\n", s.out.display()));
    let mut files = s.files.clone();
    files.sort();
    out.push_str(&format!(
        "  files: run.json tasks.json {}\n",
        files.join(" ")
    ));
    out
}
