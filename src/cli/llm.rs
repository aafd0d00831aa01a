//! `reawaken llm probe`: flags, config resolution, and the closing summary.
use std::path::PathBuf;

use anyhow::Context;

use crate::probe::{format_summary, run_probe, ProbeConfig, StartMode};
use reawaken_analysis::record::RunStatus;
use reawaken_llm::schedule::InsertRandom;

/// Cyclic fine-tuning of a GPT-NeoX (Pythia) model on T documents (paper §2–4).
///
/// For epoch 1..E, for each document in the order: M gradient steps on it alone (batch 1),
/// then the loss of every document (one batched forward pass) → a row of losses.npy.
///
/// Defaults (no flags): a fresh Pythia-shaped model (width 128, 2 blocks, 4 heads, Pythia
/// init, byte tokenizer) on T = 10 documents drawn from the built-in English corpus,
/// C = 64 tokens, M = 10 SGD steps at lr 0.01, E = 4 epochs, cyclic order, all recorders,
/// record in runs/llm-probe. About a minute on a 2-core CPU.
///
/// Every flag can also be given as a key of `--config FILE.toml` (same name, kebab-case);
/// a flag on the command line wins. See docs/llm-probe.md.
#[derive(clap::Args, Debug, Default)]
#[command(
    args_override_self = true,
    allow_negative_numbers = true,
    after_help = "Examples:
  reawaken llm probe                        # built-in defaults: tiny fresh model, CPU
  reawaken llm probe --order shuffled --out runs/llm-shuffled
  reawaken llm probe --model pythia-160m --docs cnn.jsonl --text-field article \\
      --tasks 25 --context 256 --steps 10 --epochs 5 --device cuda --out runs/p160m
  reawaken llm probe --order shuffled --out runs/llm-shuffled --resume   # same flags + --resume

Record files (numpy.load): losses.npy (episodes+1, T), order.npy, tasks.json, \
grad_cosine.npy, pairwise.npy, weights*.npy, acts*.npy, run.json (config, status, metrics).
Several probes at once on one machine: give each OMP_NUM_THREADS=cores/k (see docs/llm-probe.md)."
)]
pub struct ProbeArgs {
    /// TOML file of settings (keys = flag names); flags override it.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Record directory [default: runs/llm-probe].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace an existing record in --out.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Continue the interrupted run in --out (same settings required).
    #[arg(long)]
    pub resume: bool,
    /// Seed of everything random (document sample, init, orders, masking) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hugging Face model directory (config.json, model.safetensors, tokenizer.json),
    /// e.g. a downloaded pythia-160m. Without it a fresh --preset model is trained.
    #[arg(long, value_name = "HF_DIR", conflicts_with = "preset")]
    pub model: Option<PathBuf>,
    /// Pythia shape of a fresh model: 14m, 31m, 70m, 160m, 410m, 1b, 1.4b, 2.8b, 6.9b, 12b
    /// [default: pythia-14m, with --width 128 --depth 2 --heads 4].
    #[arg(long)]
    pub preset: Option<String>,
    /// Width (hidden size) of the fresh model [default: 128].
    #[arg(long)]
    pub width: Option<i64>,
    /// Depth (number of blocks) of the fresh model [default: 2].
    #[arg(long)]
    pub depth: Option<i64>,
    /// Attention heads of the fresh model (must divide the width) [default: 4].
    #[arg(long)]
    pub heads: Option<i64>,
    /// Initialisation of a fresh model: pythia, isotropic (σ=0.02), isotropic:SIGMA [default: pythia].
    #[arg(long)]
    pub init: Option<String>,
    /// `bytes` or a tokenizer.json [default: the model directory's; bytes for a fresh model].
    #[arg(long, value_name = "bytes|FILE.json")]
    pub tokenizer: Option<String>,
    /// Documents: a directory of .txt (one document each, by name), a .jsonl file, or a .txt
    /// with documents separated by blank lines [default: the built-in corpus, 30 documents].
    #[arg(long, value_name = "PATH")]
    pub docs: Option<PathBuf>,
    /// JSON field holding the text in a .jsonl (CNN/DailyMail: article) [default: text].
    #[arg(long, value_name = "NAME")]
    pub text_field: Option<String>,
    /// random: T documents drawn with the seed (the paper); first: the first T [default: random].
    #[arg(long, value_name = "random|first")]
    pub sample: Option<String>,
    /// T: number of documents (tasks) [default: 10].
    #[arg(long, value_name = "T")]
    pub tasks: Option<usize>,
    /// C: context length in tokens; documents are truncated to it [default: 64].
    #[arg(long, value_name = "C")]
    pub context: Option<usize>,
    /// M: gradient steps per document and episode [default: 10].
    #[arg(long, value_name = "M")]
    pub steps: Option<usize>,
    /// E: epochs [default: 4].
    #[arg(long, value_name = "E")]
    pub epochs: Option<usize>,
    /// Learning rate [default: with --model the paper's 1e-3 (sgd) / 1e-5 (adam); for a fresh
    /// model 1e-2 (sgd) / 1e-3 (adam)].
    #[arg(long)]
    pub lr: Option<f64>,
    /// sgd (plain, constant lr, no weight decay) or adam (state reset at every document) [default: sgd].
    #[arg(long, value_name = "sgd|adam")]
    pub optimizer: Option<String>,
    /// cyclic (0..T-1 every epoch), shuffled (new permutation every epoch) or
    /// prequential-shuffled (document 1 always first, paper §3.5) [default: cyclic].
    #[arg(long, value_name = "ORDER")]
    pub order: Option<String>,
    /// auto (CUDA if available), cpu, cuda, cuda:N [default: auto].
    #[arg(long)]
    pub device: Option<String>,
    /// Recorders: comma list of grads, pairwise, weights, acts; or all, none [default: all].
    #[arg(long, value_name = "LIST")]
    pub record: Option<String>,
    /// Freeze embed_in and the first B blocks (paper Fig. 5d) [default: 0].
    #[arg(long, value_name = "B")]
    pub freeze_blocks: Option<usize>,
    /// Replace each input token by the pad token with probability p, redrawn every
    /// episode (paper Fig. 4a) [default: 0].
    #[arg(long, value_name = "P")]
    pub mask_prob: Option<f64>,
    /// Shift the C-token training window by a random 0..=S tokens every episode (paper
    /// Fig. 4b); evaluation uses the first C tokens [default: 0].
    #[arg(long, value_name = "S")]
    pub window_shift: Option<usize>,
    /// constant, or cosine decay to 0 over the whole run (paper B.6) [default: constant].
    #[arg(long, value_name = "constant|cosine")]
    pub lr_schedule: Option<String>,
    /// Use lr/M per step (paper B.8: same total update for any M).
    #[arg(long)]
    pub inverse_lr_scaling: bool,
    /// With --order cyclic: shuffle documents 2..N+1 every epoch, keep the others fixed
    /// (paper B.1; N = T-2 fixes only the first and the last).
    #[arg(long, value_name = "N")]
    pub partial_shuffle: Option<usize>,
    /// Insert one-off documents (never repeated) after every epoch but the last: K each
    /// time, or MIN-MAX for a number drawn per epoch with the seed (paper B.7: 20-100);
    /// their episodes have order -1 [default: 0].
    #[arg(long, value_name = "K|MIN-MAX")]
    pub insert_random: Option<InsertRandom>,
    /// pairwise: measured from the parameters after epoch P (capped at E) [default: 4].
    #[arg(long, value_name = "P")]
    pub pairwise_epoch: Option<usize>,
    /// grads: block whose attention query_key_value gradient is used [default: the middle block].
    #[arg(long, value_name = "BLOCK")]
    pub grads_block: Option<usize>,
    /// weights: parameter name or glob (`*`) [default: embed_out.weight].
    #[arg(long, value_name = "PATTERN")]
    pub weights_param: Option<String>,
    /// acts: task whose final hidden states are recorded (0-based) [default: 0].
    #[arg(long, value_name = "TASK")]
    pub acts_task: Option<usize>,
    /// Dimension of the CountSketch used for large weight/activation vectors [default: 4096].
    #[arg(long, value_name = "K")]
    pub sketch_dim: Option<usize>,
    /// Vectors with more elements are sketched; smaller ones are stored exactly [default: 262144].
    #[arg(long, value_name = "N")]
    pub sketch_budget: Option<usize>,
    /// Safe point (for --resume) every k episodes; 0 = auto: 1 for models up to 100M
    /// parameters, else T [default: 0].
    #[arg(long, value_name = "K")]
    pub checkpoint_every: Option<usize>,
}

/// Resolves defaults ← config file ← flags.
pub fn resolve(args: &ProbeArgs) -> anyhow::Result<ProbeConfig> {
    let mut cfg: ProbeConfig = crate::cli::config::load_or_default(args.config.as_deref())?;
    crate::override_from_flags!(cfg, args;
        seed, opt model, preset, opt width, opt depth, opt heads, init, opt tokenizer, opt docs,
        text_field, sample, tasks, context, steps, epochs, opt lr, optimizer, order, device,
        record, freeze_blocks, mask_prob, window_shift, lr_schedule, opt partial_shuffle,
        insert_random, pairwise_epoch, opt grads_block, weights_param, acts_task, sketch_dim,
        sketch_budget, checkpoint_every);
    if args.inverse_lr_scaling {
        cfg.inverse_lr_scaling = true;
    }
    // The default shape (width 128, depth 2, heads 4) belongs to the default model only:
    // a --preset given by flag or config file keeps its own shape unless the shape
    // flags/keys are given too.
    let file_keys: Vec<String> = match args.config.as_deref() {
        Some(path) => std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .map(|table| table.keys().cloned().collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let given = |flag: bool, key: &str| flag || file_keys.iter().any(|k| k == key);
    if given(args.preset.is_some(), "preset") {
        if !given(args.width.is_some(), "width") {
            cfg.width = None;
        }
        if !given(args.depth.is_some(), "depth") {
            cfg.depth = None;
        }
        if !given(args.heads.is_some(), "heads") {
            cfg.heads = None;
        }
    }
    if cfg.model.is_some() {
        // Shape flags describe fresh models only.
        cfg.width = None;
        cfg.depth = None;
        cfg.heads = None;
        if args.width.is_some() || args.depth.is_some() || args.heads.is_some() {
            anyhow::bail!(
                "--width/--depth/--heads apply to a fresh --preset model, not to --model"
            );
        }
    }
    Ok(cfg)
}

pub fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let cfg = resolve(&args)?;
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
    reawaken_llm::interrupt::install();
    let summary = run_probe(cfg, &out, mode, true)
        .with_context(|| format!("llm probe ({})", out.display()))?;
    print!("{}", format_summary(&summary));
    match summary.status {
        RunStatus::Diverged => anyhow::bail!(
            "the run diverged at episode {} ({}); everything recorded so far is in {}",
            summary.episodes_done + 1,
            summary.message.unwrap_or_default(),
            out.display()
        ),
        RunStatus::Running if summary.interrupted => {
            eprintln!("interrupted: record is consistent; continue with --resume");
            std::process::exit(130);
        }
        _ => Ok(()),
    }
}
