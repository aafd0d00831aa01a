//! `reawaken llm probe`: the paper's cyclic fine-tuning protocol with its run record.
//!
//! This module resolves the configuration, builds the model and the documents, runs the
//! episodes with [`reawaken_llm::trainer::Trainer`], and writes the record (SPEC §5):
//! `run.json`, `losses.npy`, `order.npy`, `tasks.json` and the recorder arrays.
//!
//! # Safe points and `--resume`
//! After every `checkpoint-every` episodes (and when stopping) the record is brought to a
//! consistent state: first the parameters go to `checkpoint/params-<s>.safetensors`, then
//! every growing array (rows 0..=s) is rewritten atomically, then `checkpoint/state.json`
//! says "s episodes done, parameters in that file", then older parameter files are
//! deleted. A crash at any moment leaves `state.json` pointing at a complete parameter
//! file; arrays may hold a few rows more than `state.json` says and are cut back on
//! resume. Optimizer state needs no saving (SGD has none; Adam is reset at every
//! document, and safe points are between documents), nor does RNG state (every episode's
//! randomness is seeded by `(seed, episode)`, the schedule is drawn up front). So a
//! resumed run computes exactly what the uninterrupted one would have (bit-for-bit on CPU).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array1, Array2};
use reawaken_llm::tch::{self, Tensor};
use serde::{Deserialize, Serialize};

use reawaken_llm::documents::{self, Sample, TaskDoc};
use reawaken_llm::load::{self, LoadedModel};
use reawaken_llm::presets::{self, InitScheme, ShapeOverrides};
use reawaken_llm::recorders::{cosine_matrix, matches_pattern, TrajectoryRecorder};
use reawaken_llm::schedule::{self, Episode, InsertRandom, Order, ScheduleSpec};
use reawaken_llm::tokenizer::Tokenizer;
use reawaken_llm::trainer::{LrSchedule, Optim, TrainConfig, Trainer};

use reawaken_analysis::record::{OpenMode, RunDir, RunInfo, RunKind, RunStatus};

/// Errors of a probe run (the CLI turns them into one plain message).
#[derive(Debug, thiserror::Error)]
pub enum ProbeRunError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Probe(#[from] reawaken_llm::probe_error::ProbeError),
    #[error(transparent)]
    Llm(#[from] reawaken_llm::error::LlmError),
    #[error(transparent)]
    Record(#[from] reawaken_analysis::record::RecordError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("metrics: {0}")]
    Metrics(#[from] reawaken_analysis::metrics::MetricsError),
}

type Result<T> = std::result::Result<T, ProbeRunError>;

/// Every setting of `llm probe`; keys = flag names (kebab-case). See `docs/llm-probe.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ProbeConfig {
    pub seed: u64,
    /// A Hugging Face model directory; when absent a fresh model of `preset` is built.
    pub model: Option<PathBuf>,
    pub preset: String,
    pub width: Option<i64>,
    pub depth: Option<i64>,
    pub heads: Option<i64>,
    /// Initialisation of a preset model: `pythia`, `isotropic`, `isotropic:SIGMA`.
    pub init: String,
    /// `bytes` or a `tokenizer.json`; default: the model directory's, else `bytes`.
    pub tokenizer: Option<String>,
    pub docs: Option<PathBuf>,
    pub text_field: String,
    pub sample: String,
    pub tasks: usize,
    pub context: usize,
    pub steps: usize,
    pub epochs: usize,
    /// Default: 1e-3 for SGD and 1e-5 for Adam (the paper's values) with `--model`;
    /// 1e-2 (SGD) / 1e-3 (Adam) for a fresh preset model.
    pub lr: Option<f64>,
    pub optimizer: String,
    pub order: String,
    pub device: String,
    /// Comma-separated recorders: grads, pairwise, weights, acts (or `none`, `all`).
    pub record: String,
    pub freeze_blocks: usize,
    pub mask_prob: f64,
    pub window_shift: usize,
    pub lr_schedule: String,
    pub inverse_lr_scaling: bool,
    pub partial_shuffle: Option<usize>,
    /// Paper B.7: `K`, or `MIN-MAX` drawn per epoch (serialized `5` or `"20-100"`).
    pub insert_random: InsertRandom,
    /// Epoch P after which `pairwise` is measured (capped at E).
    pub pairwise_epoch: usize,
    /// Block whose `query_key_value` gradient `grads` uses; default the middle block.
    pub grads_block: Option<usize>,
    pub weights_param: String,
    /// Task whose final hidden states `acts` records (0-based; 0 = document 1).
    pub acts_task: usize,
    pub sketch_dim: usize,
    /// Vectors with more elements than this are sketched.
    pub sketch_budget: usize,
    /// Safe point every k episodes; 0 = auto (1 for models ≤ 100M parameters, else T).
    pub checkpoint_every: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            seed: 0,
            model: None,
            preset: "pythia-14m".into(),
            width: Some(128),
            depth: Some(2),
            heads: Some(4),
            init: "pythia".into(),
            tokenizer: None,
            docs: None,
            text_field: "text".into(),
            sample: "random".into(),
            tasks: 10,
            context: 64,
            steps: 10,
            epochs: 4,
            lr: None,
            optimizer: "sgd".into(),
            order: "cyclic".into(),
            device: "auto".into(),
            record: "all".into(),
            freeze_blocks: 0,
            mask_prob: 0.0,
            window_shift: 0,
            lr_schedule: "constant".into(),
            inverse_lr_scaling: false,
            partial_shuffle: None,
            insert_random: InsertRandom::default(),
            pairwise_epoch: 4,
            grads_block: None,
            weights_param: "embed_out.weight".into(),
            acts_task: 0,
            sketch_dim: 4096,
            sketch_budget: 1 << 18,
            checkpoint_every: 0,
        }
    }
}

/// Which recorders are on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorders {
    pub grads: bool,
    pub pairwise: bool,
    pub weights: bool,
    pub acts: bool,
}

impl Recorders {
    pub fn parse(s: &str) -> Result<Self> {
        let mut r = Recorders::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "none" => {}
                "all" => {
                    r = Recorders {
                        grads: true,
                        pairwise: true,
                        weights: true,
                        acts: true,
                    }
                }
                "grads" => r.grads = true,
                "pairwise" => r.pairwise = true,
                "weights" => r.weights = true,
                "acts" => r.acts = true,
                other => {
                    return Err(ProbeRunError::Config(format!(
                        "--record: unknown recorder `{other}` (expected a comma-separated list of grads, pairwise, weights, acts, or all/none)"
                    )))
                }
            }
        }
        Ok(r)
    }
}

fn parse<T: std::str::FromStr<Err = String>>(flag: &str, v: &str) -> Result<T> {
    v.parse::<T>()
        .map_err(|e| ProbeRunError::Config(format!("--{flag}: {e}")))
}

/// How the record directory is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    Fresh,
    Force,
    Resume,
}

/// What a finished (or stopped) run reports.
#[derive(Debug, Clone)]
pub struct ProbeSummary {
    pub out: PathBuf,
    pub status: RunStatus,
    pub episodes_done: usize,
    pub episodes_total: usize,
    pub metrics: reawaken_analysis::record::Metrics,
    pub message: Option<String>,
    pub interrupted: bool,
    pub elapsed_s: f64,
    pub files: Vec<String>,
}

/// Persistent state of the latest safe point.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    episodes_done: usize,
    params_file: String,
    pairwise_done: bool,
}

const CHECKPOINT_DIR: &str = "checkpoint";

/// Everything recorded so far (rows 0..=episodes_done).
struct Arrays {
    t: usize,
    losses: Vec<Vec<f32>>,
    order: Vec<i64>,
    weights: Vec<Vec<f32>>,
    weights_update_norm: Vec<f32>,
    acts: Vec<Vec<f32>>,
    acts_change_norm: Vec<f32>,
}

fn to_array2(rows: &[Vec<f32>], width: usize) -> Array2<f32> {
    let mut a = Array2::<f32>::zeros((rows.len(), width));
    for (i, r) in rows.iter().enumerate() {
        for (j, v) in r.iter().enumerate().take(width) {
            a[[i, j]] = *v;
        }
    }
    a
}

fn read_rows(dir: &RunDir, name: &str, keep: usize) -> Result<Vec<Vec<f32>>> {
    let a: Array2<f32> = dir.read_npy(name)?;
    if a.nrows() < keep {
        return Err(ProbeRunError::Config(format!(
            "cannot resume: {} has {} rows, the checkpoint needs {keep}",
            dir.file(name).display(),
            a.nrows()
        )));
    }
    Ok(a.outer_iter().take(keep).map(|r| r.to_vec()).collect())
}

fn read_vec<T: ndarray_npy::ReadableElement + Clone>(
    dir: &RunDir,
    name: &str,
    keep: usize,
) -> Result<Vec<T>> {
    let a: Array1<T> = dir.read_npy(name)?;
    if a.len() < keep {
        return Err(ProbeRunError::Config(format!(
            "cannot resume: {} has {} entries, the checkpoint needs {keep}",
            dir.file(name).display(),
            a.len()
        )));
    }
    Ok(a.iter().take(keep).cloned().collect())
}

/// The resolved run: model, data, schedule.
struct Prepared {
    model: LoadedModel,
    tasks: Vec<TaskDoc>,
    extra: Vec<TaskDoc>,
    episodes: Vec<Episode>,
    epoch_ends: Vec<usize>,
    train_cfg: TrainConfig,
    recorders: Recorders,
    weights_names: Vec<String>,
    grads_param: String,
    config_json: serde_json::Value,
    tokenizer_desc: String,
}

fn validate(cfg: &ProbeConfig) -> Result<()> {
    let bad = |m: String| Err(ProbeRunError::Config(m));
    if cfg.tasks == 0 {
        return bad("--tasks must be at least 1".into());
    }
    if cfg.epochs == 0 {
        return bad("--epochs must be at least 1".into());
    }
    if cfg.steps == 0 {
        return bad("--steps must be at least 1".into());
    }
    if cfg.context < 2 {
        return bad(format!(
            "--context {} is too short: at least 2 tokens are needed for a next-token loss",
            cfg.context
        ));
    }
    if let Some(lr) = cfg.lr {
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("--lr must be a positive finite number, got {lr}"));
        }
    }
    if !(cfg.mask_prob.is_finite() && (0.0..1.0).contains(&cfg.mask_prob)) {
        return bad(format!(
            "--mask-prob must lie in [0, 1), got {}",
            cfg.mask_prob
        ));
    }
    if cfg.sketch_dim == 0 {
        return bad("--sketch-dim must be at least 1".into());
    }
    if cfg.acts_task >= cfg.tasks {
        return bad(format!(
            "--acts-task {} is not a task (0..{})",
            cfg.acts_task, cfg.tasks
        ));
    }
    Ok(())
}

fn prepare(cfg: &mut ProbeConfig) -> Result<Prepared> {
    validate(cfg)?;
    let optimizer: Optim = parse("optimizer", &cfg.optimizer)?;
    let order: Order = parse("order", &cfg.order)?;
    let lr_schedule: LrSchedule = parse("lr-schedule", &cfg.lr_schedule)?;
    let sample: Sample = parse("sample", &cfg.sample)?;
    let recorders = Recorders::parse(&cfg.record)?;
    let device = load::select_device(&cfg.device)?;

    // Model and tokenizer.
    let (model, tokenizer) = match &cfg.model {
        Some(dir) => {
            let m = load::load_hf_dir(dir, device)?;
            let tok = match &cfg.tokenizer {
                Some(spec) => Tokenizer::from_spec(spec)?,
                None => m.tokenizer.clone().ok_or_else(|| {
                    ProbeRunError::Config(format!(
                        "{}: no tokenizer.json in the model directory; pass --tokenizer bytes|FILE.json",
                        dir.display()
                    ))
                })?,
            };
            (m, tok)
        }
        None => {
            let tok = Tokenizer::from_spec(cfg.tokenizer.as_deref().unwrap_or("bytes"))?;
            let shape = ShapeOverrides {
                width: cfg.width,
                depth: cfg.depth,
                heads: cfg.heads,
                vocab: Some(match tok {
                    Tokenizer::Bytes => 257,
                    _ => tok.vocab_size(),
                }),
                context: Some((cfg.context + cfg.window_shift).max(2048) as i64),
            };
            let init: InitScheme = parse("init", &cfg.init)?;
            let m = presets::from_preset(&cfg.preset, &shape, init, cfg.seed as i64, device)?;
            (m, tok)
        }
    };
    let model_vocab = model.config.vocab_size;
    tok_check(&tokenizer, model_vocab, cfg)?;
    if cfg.lr.is_none() {
        cfg.lr = Some(match (optimizer, cfg.model.is_some()) {
            (Optim::Sgd, true) => 1e-3,
            (Optim::Adam, true) => 1e-5,
            (Optim::Sgd, false) => 1e-2,
            (Optim::Adam, false) => 1e-3,
        });
    }
    let layers = model.config.num_hidden_layers.max(1) as usize;
    if cfg.freeze_blocks > layers {
        return Err(ProbeRunError::Config(format!(
            "--freeze-blocks {} exceeds the model's {layers} blocks",
            cfg.freeze_blocks
        )));
    }
    let grads_block = cfg.grads_block.unwrap_or(layers / 2);
    if grads_block >= layers {
        return Err(ProbeRunError::Config(format!(
            "--grads-block {grads_block} is not a block of the model (0..{layers})"
        )));
    }
    cfg.grads_block = Some(grads_block);

    // Documents.
    let docs = documents::load_documents(cfg.docs.as_deref(), &cfg.text_field)?;
    let (task_idx, rest) = documents::sample_indices(docs.len(), cfg.tasks, sample, cfg.seed)?;
    let keep = cfg.context + cfg.window_shift;
    let encode = |s: &str| tokenizer.encode(s).map_err(|e| e.to_string());
    let tasks = task_idx
        .iter()
        .map(|&i| documents::tokenize_doc(&docs[i], i, keep, cfg.context, &encode))
        .collect::<std::result::Result<Vec<_>, _>>()?;

    let spec = ScheduleSpec {
        tasks: cfg.tasks,
        epochs: cfg.epochs,
        order,
        partial_shuffle: cfg.partial_shuffle,
        insert_random: cfg.insert_random,
        seed: cfg.seed,
    };
    let by_epoch = schedule::build_schedule(&spec)?;
    let need = schedule::random_docs_used(&by_epoch);
    if need > rest.len() {
        let drawn = if cfg.insert_random.min == cfg.insert_random.max {
            String::new()
        } else {
            format!(" (this seed's draw; at most {})", spec.max_random_docs())
        };
        return Err(ProbeRunError::Config(format!(
            "--insert-random {} needs {need} one-off documents besides the {} tasks{drawn}, but only {} are available; give --docs more documents or insert fewer",
            cfg.insert_random,
            cfg.tasks,
            rest.len()
        )));
    }
    let extra = rest[..need]
        .iter()
        .map(|&i| documents::tokenize_doc(&docs[i], i, keep, cfg.context, &encode))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut episodes = Vec::new();
    let mut epoch_ends = Vec::new();
    for e in by_epoch {
        episodes.extend(e);
        epoch_ends.push(episodes.len());
    }

    // Parameters recorded by `weights`.
    let names: Vec<String> = model
        .model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let mut weights_names: Vec<String> = names
        .iter()
        .filter(|n| matches_pattern(n, &cfg.weights_param))
        .cloned()
        .collect();
    if weights_names.is_empty()
        && cfg.weights_param == "embed_out.weight"
        && model.config.tie_word_embeddings
    {
        weights_names.push("gpt_neox.embed_in.weight".into());
    }
    if recorders.weights && weights_names.is_empty() {
        return Err(ProbeRunError::Config(format!(
            "--weights-param `{}` matches no parameter of the model (e.g. embed_out.weight, gpt_neox.layers.*.attention.dense.weight)",
            cfg.weights_param
        )));
    }
    weights_names.sort();
    let grads_param = format!("gpt_neox.layers.{grads_block}.attention.query_key_value.weight");

    if cfg.checkpoint_every == 0 {
        cfg.checkpoint_every = if model.num_parameters() <= 100_000_000 {
            1
        } else {
            cfg.tasks
        };
    }
    let train_cfg = TrainConfig {
        steps: cfg.steps,
        lr: cfg.lr.unwrap_or(1e-3),
        optimizer,
        lr_schedule,
        inverse_lr_scaling: cfg.inverse_lr_scaling,
        mask_prob: cfg.mask_prob,
        window_shift: cfg.window_shift,
        context: cfg.context,
        freeze_blocks: cfg.freeze_blocks,
        pad_id: tokenizer.pad_id(),
        seed: cfg.seed,
        total_episodes: episodes.len(),
        eval_logits_budget: 1 << 27,
    };
    let config_json = serde_json::to_value(&*cfg)
        .map_err(|e| ProbeRunError::Config(format!("cannot record the configuration: {e}")))?;
    Ok(Prepared {
        tokenizer_desc: tokenizer.describe(),
        model,
        tasks,
        extra,
        episodes,
        epoch_ends,
        train_cfg,
        recorders,
        weights_names,
        grads_param,
        config_json,
    })
}

fn tok_check(tok: &Tokenizer, model_vocab: i64, cfg: &ProbeConfig) -> Result<()> {
    let path = cfg
        .tokenizer
        .as_deref()
        .map(PathBuf::from)
        .or_else(|| cfg.model.as_ref().map(|m| m.join("tokenizer.json")))
        .unwrap_or_else(|| PathBuf::from("bytes"));
    tok.check_fits(model_vocab, &path)?;
    Ok(())
}

/// Keys whose change does not alter the numbers (allowed to differ on `--resume`).
const RESUME_NEUTRAL_KEYS: [&str; 1] = ["checkpoint-every"];

/// How a recorded vector series is stored, for the array descriptions in run.json.
fn storage_kind(sketched: bool, sketch_dim: usize) -> String {
    if sketched {
        format!("CountSketch of dimension {sketch_dim}")
    } else {
        "exact".into()
    }
}

fn describe_arrays(
    info: &mut RunInfo,
    r: &Recorders,
    weights_sketched: bool,
    acts_sketched: bool,
    sketch_dim: usize,
) {
    info.describe_array(
        "losses.npy",
        "float32 (episodes+1, T): mean next-token loss of every task after s episodes (row 0 = before training)",
    );
    info.describe_array(
        "order.npy",
        "int64 (episodes,): task trained in episode s (leads to row s+1); -1 = one-off random document",
    );
    if r.grads {
        info.describe_array(
            "grad_cosine.npy",
            "float32 (T, T): cosine similarity of the tasks' loss gradients w.r.t. one block's attention query_key_value weight, at the end of training",
        );
    }
    if r.pairwise {
        info.describe_array(
            "pairwise.npy",
            "float32 (T, T): row i, column j = loss_before(j) - loss_after(j) after M steps on task i from the checkpoint after epoch P",
        );
    }
    if r.weights {
        let how = storage_kind(weights_sketched, sketch_dim);
        info.describe_array(
            "weights.npy",
            &format!("float32 (episodes+1, D): recorded weights after every episode ({how})"),
        );
        info.describe_array(
            "weights_residual_cosine.npy",
            "float64 (episodes+1, episodes+1): cosine similarity of weight residuals (weights minus their mean over a window of T episodes)",
        );
        info.describe_array(
            "weights_pca.npy",
            "float64 (episodes+1, 3): top-3 PCA coordinates of the weight residual trajectory",
        );
        info.describe_array(
            "weights_update_norm.npy",
            "float32 (episodes,): exact L2 norm of each episode's change of the recorded weights",
        );
    }
    if r.acts {
        let how = storage_kind(acts_sketched, sketch_dim);
        info.describe_array(
            "acts.npy",
            &format!("float32 (episodes+1, L*D): final hidden states of the probe task after every episode ({how})"),
        );
        info.describe_array(
            "acts_cosine.npy",
            "float64 (episodes+1, episodes+1): cosine similarity of the recorded activations",
        );
        info.describe_array(
            "acts_change_norm.npy",
            "float32 (episodes,): exact L2 norm of the change of the activations in each episode",
        );
    }
}

fn write_growing(dir: &RunDir, a: &Arrays, r: &Recorders, wlen: usize, alen: usize) -> Result<()> {
    dir.write_npy("losses.npy", &to_array2(&a.losses, a.t))?;
    dir.write_npy("order.npy", &Array1::from(a.order.clone()))?;
    if r.weights {
        dir.write_npy("weights.npy", &to_array2(&a.weights, wlen))?;
        dir.write_npy(
            "weights_update_norm.npy",
            &Array1::from(a.weights_update_norm.clone()),
        )?;
    }
    if r.acts {
        dir.write_npy("acts.npy", &to_array2(&a.acts, alen))?;
        dir.write_npy(
            "acts_change_norm.npy",
            &Array1::from(a.acts_change_norm.clone()),
        )?;
    }
    Ok(())
}

fn write_derived(dir: &RunDir, a: &Arrays, r: &Recorders, wlen: usize, alen: usize) -> Result<()> {
    if r.weights && a.weights.len() >= 2 {
        let w = to_array2(&a.weights, wlen);
        let res = reawaken_analysis::similarity::windowed_residual(&w, a.t);
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
    }
    if r.acts && a.acts.len() >= 2 {
        let x = to_array2(&a.acts, alen);
        dir.write_npy(
            "acts_cosine.npy",
            &reawaken_analysis::similarity::cosine_similarity_matrix(&x),
        )?;
    }
    Ok(())
}

fn remove_checkpoint(dir: &RunDir) {
    let p = dir.file(CHECKPOINT_DIR);
    if p.is_dir() {
        let _ = std::fs::remove_dir_all(&p);
    }
}

fn save_checkpoint<M: reawaken_llm::trainer::CausalLm>(
    dir: &RunDir,
    trainer: &Trainer<'_, M>,
    a: &Arrays,
    r: &Recorders,
    wlen: usize,
    alen: usize,
    pairwise_done: bool,
) -> Result<()> {
    let ck = dir.file(CHECKPOINT_DIR);
    std::fs::create_dir_all(&ck).map_err(|e| reawaken_llm::probe_error::ProbeError::Io {
        path: ck.clone(),
        source: e,
    })?;
    let s = a.losses.len() - 1;
    let params_file = format!("params-{s}.safetensors");
    let tmp = ck.join(format!(".{params_file}.tmp-{}", std::process::id()));
    trainer.save_params(&tmp)?;
    if let Ok(f) = std::fs::File::open(&tmp) {
        let _ = f.sync_all();
    }
    std::fs::rename(&tmp, ck.join(&params_file)).map_err(|e| {
        reawaken_llm::probe_error::ProbeError::Io {
            path: ck.join(&params_file),
            source: e,
        }
    })?;
    write_growing(dir, a, r, wlen, alen)?;
    let state = CheckpointState {
        episodes_done: s,
        params_file: params_file.clone(),
        pairwise_done,
    };
    reawaken_analysis::record::write_json(ck.join("state.json"), &state)?;
    if let Ok(entries) = std::fs::read_dir(&ck) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with("params-") && name != params_file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Runs (or resumes) a probe and writes its record to `out`.
pub fn run_probe(
    mut cfg: ProbeConfig,
    out: &Path,
    mode: StartMode,
    show_progress: bool,
) -> Result<ProbeSummary> {
    let t0 = Instant::now();
    let prep = prepare(&mut cfg)?;
    let t = cfg.tasks;
    let total = prep.episodes.len();

    // Open the record.
    let (dir, mut info, resume_state) = match mode {
        StartMode::Resume => {
            let dir = RunDir::create(out, OpenMode::Resume)?;
            let info = dir.read_run_info()?;
            if info.kind != RunKind::Llm {
                return Err(ProbeRunError::Config(format!(
                    "cannot resume {}: it is not an `llm probe` record",
                    out.display()
                )));
            }
            let diff: Vec<String> = info
                .config_diff(&prep.config_json)
                .into_iter()
                .filter(|k| !RESUME_NEUTRAL_KEYS.contains(&k.as_str()))
                .collect();
            if !diff.is_empty() {
                return Err(ProbeRunError::Config(format!(
                    "cannot resume {}: the configuration differs in {} (run it with the recorded settings, or start a new run with --force)",
                    out.display(),
                    diff.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                )));
            }
            if info.status == RunStatus::Complete {
                let elapsed = info.timings.elapsed_s.unwrap_or(0.0);
                return Ok(ProbeSummary {
                    out: out.to_path_buf(),
                    status: info.status,
                    episodes_done: info.episodes_done.unwrap_or(total),
                    episodes_total: total,
                    metrics: info.metrics.clone(),
                    message: Some("the run was already complete; nothing to do".into()),
                    interrupted: false,
                    elapsed_s: elapsed,
                    files: info.arrays.keys().cloned().collect(),
                });
            }
            let state_path = dir.file(CHECKPOINT_DIR).join("state.json");
            let state: Option<CheckpointState> = if state_path.is_file() {
                Some(reawaken_analysis::record::read_json(&state_path)?)
            } else {
                None
            };
            (dir, info, state)
        }
        StartMode::Fresh | StartMode::Force => {
            let dir = RunDir::create(
                out,
                if mode == StartMode::Force {
                    OpenMode::Force
                } else {
                    OpenMode::Fresh
                },
            )?;
            remove_checkpoint(&dir);
            let info = RunInfo::new(RunKind::Llm, prep.config_json.clone(), cfg.seed);
            (dir, info, None)
        }
    };

    let trainer = Trainer::new(
        &prep.model.model,
        prep.train_cfg.clone(),
        prep.tasks
            .iter()
            .map(|d| d.tokens[..d.eval_tokens].to_vec())
            .collect(),
    )?;
    let rec = prep.recorders;
    let params = trainer.params();
    let weight_parts = || -> Vec<Tensor> {
        params
            .iter()
            .filter(|(n, _)| prep.weights_names.contains(n))
            .map(|(_, p)| p.shallow_clone())
            .collect()
    };
    let weights_numel: usize = weight_parts().iter().map(|p| p.numel()).sum();
    let mut wrec = TrajectoryRecorder::new(
        weights_numel,
        cfg.sketch_budget,
        cfg.sketch_dim,
        cfg.seed ^ 0x77,
    );
    let acts_tokens: Vec<i64> = trainer
        .eval_tokens(cfg.acts_task)
        .map(<[i64]>::to_vec)
        .unwrap_or_default();
    let acts_numel = acts_tokens.len() * prep.model.config.hidden_size.max(0) as usize;
    let mut arec = TrajectoryRecorder::new(
        acts_numel,
        cfg.sketch_budget,
        cfg.sketch_dim,
        cfg.seed ^ 0xAC7,
    );
    let (wlen, alen) = (wrec.row_len(), arec.row_len());

    // tasks.json
    #[derive(Serialize)]
    struct TasksJson<'a> {
        tokenizer: &'a str,
        context: usize,
        tasks: Vec<serde_json::Value>,
        one_off_documents: Vec<serde_json::Value>,
    }
    let task_json = |i: usize, d: &TaskDoc| {
        serde_json::json!({"task": i, "source": d.source, "document_index": d.doc_index,
            "excerpt": d.excerpt, "tokens": d.tokens_total, "tokens_used": d.eval_tokens})
    };
    dir.write_json(
        "tasks.json",
        &TasksJson {
            tokenizer: &prep.tokenizer_desc,
            context: cfg.context,
            tasks: prep
                .tasks
                .iter()
                .enumerate()
                .map(|(i, d)| task_json(i, d))
                .collect(),
            one_off_documents: prep
                .extra
                .iter()
                .enumerate()
                .map(|(i, d)| task_json(i, d))
                .collect(),
        },
    )?;

    describe_arrays(
        &mut info,
        &rec,
        wrec.sketch.is_some(),
        arec.sketch.is_some(),
        cfg.sketch_dim,
    );
    info.extra
        .insert("episodes_total".into(), serde_json::json!(total));
    // CPU kernels split work by thread count, so the last bits of a result depend on it.
    let threads = tch::get_num_threads();
    let prev_threads = info.extra.get("cpu_threads").and_then(|v| v.as_i64());
    if let Some(prev) = prev_threads.filter(|&p| p != i64::from(threads)) {
        if trainer.device() == tch::Device::Cpu {
            tracing::warn!(
                "this run was started with {prev} CPU threads and continues with {threads}: later episodes may differ from an uninterrupted run in the last bits (set OMP_NUM_THREADS={prev} for an exact continuation)"
            );
        }
    }
    info.extra
        .insert("cpu_threads".into(), serde_json::json!(threads));
    info.extra.insert(
        "model".into(),
        serde_json::json!({
            "source": cfg.model.as_ref().map_or_else(|| format!("preset {} ({} init)", cfg.preset, cfg.init), |p| p.display().to_string()),
            "parameters": prep.model.num_parameters(),
            "width": prep.model.config.hidden_size,
            "depth": prep.model.config.num_hidden_layers,
            "heads": prep.model.config.num_attention_heads,
            "vocab": prep.model.config.vocab_size,
            "device": format!("{:?}", trainer.device()),
        }),
    );
    if rec.grads {
        info.extra
            .insert("grads_param".into(), serde_json::json!(prep.grads_param));
    }
    if rec.weights {
        info.extra.insert(
            "weights_params".into(),
            serde_json::json!(prep.weights_names),
        );
    }
    let pairwise_epoch = cfg.pairwise_epoch.clamp(1, cfg.epochs);
    if rec.pairwise {
        info.extra
            .insert("pairwise_epoch".into(), serde_json::json!(pairwise_epoch));
    }

    // Initial state or resume.
    let mut arrays = Arrays {
        t,
        losses: Vec::new(),
        order: Vec::new(),
        weights: Vec::new(),
        weights_update_norm: Vec::new(),
        acts: Vec::new(),
        acts_change_norm: Vec::new(),
    };
    let mut pairwise_done = false;
    let mut start = 0usize;
    let mut prior_elapsed = 0.0;
    if let Some(state) = &resume_state {
        let s = state.episodes_done;
        if s > total {
            return Err(ProbeRunError::Config(format!(
                "cannot resume {}: the checkpoint is at episode {s} but the run has {total}",
                out.display()
            )));
        }
        trainer.load_params(&dir.file(CHECKPOINT_DIR).join(&state.params_file))?;
        arrays.losses = read_rows(&dir, "losses.npy", s + 1)?;
        arrays.order = read_vec(&dir, "order.npy", s)?;
        if rec.weights {
            arrays.weights = read_rows(&dir, "weights.npy", s + 1)?;
            arrays.weights_update_norm = read_vec(&dir, "weights_update_norm.npy", s)?;
            wrec.prime(&weight_parts());
        }
        if rec.acts {
            arrays.acts = read_rows(&dir, "acts.npy", s + 1)?;
            arrays.acts_change_norm = read_vec(&dir, "acts_change_norm.npy", s)?;
            arec.prime(&[trainer.hidden_flat(&acts_tokens)?]);
        }
        pairwise_done = state.pairwise_done;
        start = s;
        prior_elapsed = info
            .extra
            .get("elapsed_before_resume_s")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0)
            + (reawaken_analysis::record::unix_now() - info.timings.started_unix).max(0.0);
        tracing::info!("resuming {} at episode {s} of {total}", out.display());
    } else {
        if mode == StartMode::Resume {
            tracing::warn!(
                "{}: no checkpoint yet, starting from episode 0",
                out.display()
            );
        }
        // A fresh record, keeping what was described above (model, recorder parameters).
        let extra = std::mem::take(&mut info.extra);
        info = RunInfo::new(RunKind::Llm, prep.config_json.clone(), cfg.seed);
        describe_arrays(
            &mut info,
            &rec,
            wrec.sketch.is_some(),
            arec.sketch.is_some(),
            cfg.sketch_dim,
        );
        info.extra.extend(extra);
        let row0 = trainer.eval_losses()?;
        arrays.losses.push(row0);
        if rec.weights {
            let (row, _) = wrec.record(&weight_parts())?;
            arrays.weights.push(row);
        }
        if rec.acts {
            let (row, _) = arec.record(&[trainer.hidden_flat(&acts_tokens)?])?;
            arrays.acts.push(row);
        }
    }
    info.extra
        .insert("episodes_total".into(), serde_json::json!(total));
    info.status = RunStatus::Running;
    info.episodes_done = Some(start);
    dir.write_run_info(&info)?;
    if resume_state.is_none() {
        save_checkpoint(&dir, &trainer, &arrays, &rec, wlen, alen, pairwise_done)?;
    }

    let pb = if show_progress {
        let pb = indicatif::ProgressBar::new(total as u64);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} episode {pos}/{len} [{bar:30}] {elapsed_precise} ETA {eta_precise} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_position(start as u64);
        pb.reset_eta();
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };

    let mut diverged: Option<(usize, String)> = None;
    let mut interrupted = false;
    let mut since_ck = 0usize;
    for s in start..total {
        if reawaken_llm::interrupt::requested() {
            interrupted = true;
            break;
        }
        let ep = prep.episodes[s];
        let tokens = match ep {
            Episode::Task(i) => &prep.tasks[i].tokens,
            Episode::Random(k) => &prep.extra[k].tokens,
        };
        let outcome = trainer.train_episode(tokens, s)?;
        if let Some(step) = outcome.diverged_at_step {
            diverged = Some((
                s + 1,
                format!(
                    "training loss became {} at step {} of episode {} (task {}); try a smaller --lr",
                    outcome.last_loss,
                    step + 1,
                    s + 1,
                    ep.order_value()
                ),
            ));
            break;
        }
        let row = trainer.eval_losses()?;
        let bad = row.iter().position(|v| !v.is_finite());
        arrays.losses.push(row);
        arrays.order.push(ep.order_value());
        if let Some(j) = bad {
            diverged = Some((
                s + 1,
                format!(
                    "the loss of task {j} became non-finite after episode {} (the row is kept in losses.npy); try a smaller --lr",
                    s + 1
                ),
            ));
            if rec.weights {
                let (row, ch) = wrec.record(&weight_parts())?;
                arrays.weights.push(row);
                arrays.weights_update_norm.push(ch.unwrap_or(f32::NAN));
            }
            if rec.acts {
                let (row, ch) = arec.record(&[trainer.hidden_flat(&acts_tokens)?])?;
                arrays.acts.push(row);
                arrays.acts_change_norm.push(ch.unwrap_or(f32::NAN));
            }
            break;
        }
        if rec.weights {
            let (row, ch) = wrec.record(&weight_parts())?;
            arrays.weights.push(row);
            arrays.weights_update_norm.push(ch.unwrap_or(f32::NAN));
        }
        if rec.acts {
            let (row, ch) = arec.record(&[trainer.hidden_flat(&acts_tokens)?])?;
            arrays.acts.push(row);
            arrays.acts_change_norm.push(ch.unwrap_or(f32::NAN));
        }
        let done = s + 1;
        if rec.pairwise && !pairwise_done && prep.epoch_ends.get(pairwise_epoch - 1) == Some(&done)
        {
            let rows = trainer.pairwise(
                &prep
                    .tasks
                    .iter()
                    .map(|d| d.tokens.clone())
                    .collect::<Vec<_>>(),
            )?;
            dir.write_npy("pairwise.npy", &to_array2(&rows, t))?;
            pairwise_done = true;
        }
        since_ck += 1;
        pb.set_position(done as u64);
        pb.set_message(format!("train loss {:.3}", outcome.last_loss));
        if since_ck >= cfg.checkpoint_every && done < total {
            save_checkpoint(&dir, &trainer, &arrays, &rec, wlen, alen, pairwise_done)?;
            info.episodes_done = Some(done);
            dir.write_run_info(&info)?;
            since_ck = 0;
        }
    }
    pb.finish_and_clear();

    let done = arrays.losses.len() - 1;
    info.episodes_done = Some(done);
    let elapsed = prior_elapsed + t0.elapsed().as_secs_f64();
    info.extra.insert(
        "elapsed_before_resume_s".into(),
        serde_json::json!(prior_elapsed),
    );
    let status;
    if interrupted {
        save_checkpoint(&dir, &trainer, &arrays, &rec, wlen, alen, pairwise_done)?;
        status = RunStatus::Running;
        info.message = Some(format!(
            "interrupted (Ctrl-C) after episode {done} of {total}; continue with --resume"
        ));
    } else if let Some((ep, msg)) = &diverged {
        write_growing(&dir, &arrays, &rec, wlen, alen)?;
        write_derived(&dir, &arrays, &rec, wlen, alen)?;
        info.diverged_at_episode = Some(*ep);
        info.message = Some(msg.clone());
        status = RunStatus::Diverged;
        remove_checkpoint(&dir);
    } else {
        write_growing(&dir, &arrays, &rec, wlen, alen)?;
        if rec.grads {
            let grads = trainer.task_gradients(&prep.grads_param)?;
            let cos = cosine_matrix(&grads)?;
            dir.write_npy("grad_cosine.npy", &to_array2(&cos, t))?;
        }
        if rec.pairwise && !pairwise_done {
            let rows = trainer.pairwise(
                &prep
                    .tasks
                    .iter()
                    .map(|d| d.tokens.clone())
                    .collect::<Vec<_>>(),
            )?;
            dir.write_npy("pairwise.npy", &to_array2(&rows, t))?;
        }
        write_derived(&dir, &arrays, &rec, wlen, alen)?;
        status = RunStatus::Complete;
        remove_checkpoint(&dir);
    }
    let losses = to_array2(&arrays.losses, t);
    let metrics = reawaken_analysis::record::Metrics::compute(&losses, &arrays.order)?;
    info.metrics = metrics.clone();
    if status == RunStatus::Running {
        info.status = RunStatus::Running;
    } else {
        info.finish(status);
        info.timings.elapsed_s = Some(elapsed);
    }
    // Arrays the record really holds.
    let present: Vec<String> = info.arrays.keys().filter(|f| dir.has(f)).cloned().collect();
    let absent: Vec<String> = info
        .arrays
        .keys()
        .filter(|f| !dir.has(f))
        .cloned()
        .collect();
    for f in absent {
        info.arrays.remove(&f);
    }
    dir.write_run_info(&info)?;
    Ok(ProbeSummary {
        out: out.to_path_buf(),
        status,
        episodes_done: done,
        episodes_total: total,
        metrics,
        message: info.message.clone(),
        interrupted,
        elapsed_s: elapsed,
        files: present,
    })
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
    out.push_str(&format!(
        "  recovery score: {}\n",
        if rs.is_empty() {
            "n/a (needs E >= 2)".to_string()
        } else {
            rs.join("  ")
        }
    ));
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
    let mut files: BTreeMap<&str, ()> = BTreeMap::new();
    for f in &s.files {
        files.insert(f, ());
    }
    out.push_str(&format!(
        "  files: run.json tasks.json {}\n",
        files.keys().copied().collect::<Vec<_>>().join(" ")
    ));
    out
}
