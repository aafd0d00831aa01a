//! From settings to a runnable plan: the model and tokenizer, the documents, the
//! schedule of episodes and the training hyper-parameters — everything checked before
//! a record is opened, so a bad setting writes nothing.

use std::path::PathBuf;

use crate::model::family::{ModelConfig, ParamLayout};
use crate::model::load::{self, LoadedModel};
use crate::model::presets::{self, ShapeOverrides};
use crate::model::tokenizer::Tokenizer;
use crate::probe::budget::{self, MemoryEstimate};
use crate::probe::config::ProbeConfig;
use crate::probe::documents::{self, TaskDoc};
use crate::probe::error::{ProbeError, Result};
use crate::probe::recorders::sketch::matches_pattern;
use crate::probe::schedule::{self, Episode, ScheduleSpec};
use crate::probe::trainer::TrainConfig;

/// A resolved run: model, documents, schedule, hyper-parameters.
pub struct Plan {
    pub model: LoadedModel,
    pub tokenizer_desc: String,
    /// The T tasks (tokenized documents).
    pub tasks: Vec<TaskDoc>,
    /// One-off documents of `--insert-random`.
    pub extra: Vec<TaskDoc>,
    /// Every episode of the run, in order.
    pub episodes: Vec<Episode>,
    /// Episodes done at the end of each epoch.
    pub epoch_ends: Vec<usize>,
    pub train: TrainConfig,
    /// Parameters whose residuals `weights` records (sorted).
    pub weights_names: Vec<String>,
    /// Parameters of the raw-weight PCA of `weights` (sorted).
    pub pca_names: Vec<String>,
    /// Parameters whose gradients `grads` records (sorted).
    pub grads_params: Vec<String>,
    pub hidden_size: usize,
}

impl Plan {
    /// The evaluation tokens (at most C) of every task.
    pub fn eval_tokens(&self) -> Vec<Vec<i64>> {
        self.tasks
            .iter()
            .map(|d| d.eval_window().to_vec())
            .collect()
    }

    /// Tokens trained in an episode.
    pub fn tokens(&self, ep: Episode) -> &[i64] {
        match ep {
            Episode::Task(i) => &self.tasks[i].tokens,
            Episode::Random(k) => &self.extra[k].tokens,
        }
    }
}

/// What a run would need, from the settings and the model's shape alone (nothing is
/// allocated): `llm probe --dry-run`.
pub struct DryRun {
    pub device: tch::Device,
    pub model: ModelConfig,
    pub episodes: f64,
    pub estimate: MemoryEstimate,
    /// `MemAvailable` now, where it can be read.
    pub available: Option<f64>,
    /// A fresh model's tokenizer, read once for its vocabulary and kept for the run.
    fresh_tokenizer: Option<Tokenizer>,
}

impl DryRun {
    /// Whether the model lives in the machine's RAM.
    pub fn on_cpu(&self) -> bool {
        self.device == tch::Device::Cpu
    }
}

/// Validates `cfg` and estimates the run's memory without allocating the model.
pub fn dry_run(cfg: &ProbeConfig) -> Result<DryRun> {
    cfg.validate()?;
    let device = load::select_device(&cfg.device)?;
    let (model, fresh_tokenizer) = planned_shape(cfg)?;
    Ok(DryRun {
        device,
        episodes: budget::max_episodes(cfg),
        estimate: budget::estimate(cfg, &model),
        model,
        available: budget::available_ram(),
        fresh_tokenizer,
    })
}

/// Refuses a run whose estimate exceeds the memory this machine has available.
fn check_memory(plan: &DryRun) -> Result<()> {
    let need = plan.estimate.ram_bytes(plan.on_cpu());
    let too_big = match plan.available {
        Some(have) => need > have,
        None => need > 1e18,
    };
    if too_big {
        let have = plan.available.map_or_else(
            || "far less".to_string(),
            |b| format!("{} available", budget::human_bytes(b)),
        );
        return Err(ProbeError::TooBig(format!(
            "the run needs {} of memory (largest: {}) and this machine has {have}; make it smaller (--epochs, --tasks, --context, --insert-random, --record, a smaller model); `llm probe --dry-run` prints the whole estimate",
            budget::approx_bytes(need),
            plan.estimate.largest(plan.on_cpu(), 3),
        )));
    }
    Ok(())
}

/// The model's shape before anything is allocated: the model directory's `config.json`,
/// checked against its weight files; or the preset's with the overrides and the
/// vocabulary of the tokenizer, which is returned too.
fn planned_shape(cfg: &ProbeConfig) -> Result<(ModelConfig, Option<Tokenizer>)> {
    match &cfg.model {
        Some(dir) => Ok((load::planned_config(dir)?, None)),
        None => {
            let tok = Tokenizer::from_spec(cfg.tokenizer.as_deref().unwrap_or("bytes"))?;
            let vocab = match tok {
                Tokenizer::Bytes => 257,
                _ => tok.vocab_size(),
            };
            let shape = presets::preset_config(&cfg.preset, &shape_overrides(cfg, vocab))?;
            Ok((shape, Some(tok)))
        }
    }
}

fn shape_overrides(cfg: &ProbeConfig, vocab: i64) -> ShapeOverrides {
    ShapeOverrides {
        width: cfg.width,
        intermediate: cfg.intermediate_size,
        depth: cfg.depth,
        heads: cfg.heads,
        vocab: Some(vocab),
        context: Some(i64::try_from(cfg.tokens_kept()).unwrap_or(i64::MAX)),
    }
}

/// Validates `cfg`, checks that the run fits in memory, fills in what depends on the
/// model (lr, grads block, safe-point interval) and builds the plan.
pub fn prepare(cfg: &mut ProbeConfig) -> Result<Plan> {
    let dry = dry_run(cfg)?;
    check_memory(&dry)?;
    let (model, tokenizer) = model_and_tokenizer(cfg, dry)?;
    cfg.lr = Some(cfg.resolved_lr());
    cfg.init = Some(cfg.resolved_init());
    let layout = model.config.layout();
    let layers = model.config.shape().depth.max(1) as usize;
    if let Some(max) = model.config.max_sequence() {
        if cfg.context as i64 > max {
            return Err(setting(
                "context",
                format!(
                    "{} tokens exceed the {max} positions of this {} model",
                    cfg.context,
                    model.config.model_type()
                ),
            ));
        }
    }
    if cfg.freeze_blocks > layers {
        return Err(setting(
            "freeze-blocks",
            format!("{} exceeds the model's {layers} blocks", cfg.freeze_blocks),
        ));
    }
    let grads_block = cfg.grads_block.unwrap_or(layers / 2);
    if grads_block >= layers {
        return Err(setting(
            "grads-block",
            format!("{grads_block} is not a block of the model (0..{layers})"),
        ));
    }
    cfg.grads_block = Some(grads_block);
    let grads_params = param_names(
        cfg.record.grads,
        "grads-param",
        &format!(
            "{}{}",
            layout.block(grads_block),
            in_block_pattern(&cfg.grads_param, &layout)
        ),
        &model,
    )?;
    let (tasks, extra, by_epoch) = documents_and_schedule(cfg, &tokenizer)?;
    let mut episodes = Vec::new();
    let mut epoch_ends = Vec::new();
    for e in by_epoch {
        episodes.extend(e);
        epoch_ends.push(episodes.len());
    }
    let weights_names = param_names(
        cfg.record.weights,
        "weights-param",
        &cfg.weights_param,
        &model,
    )?;
    let pca_names = param_names(cfg.record.weights, "pca-param", &cfg.pca_param, &model)?;
    let train = TrainConfig {
        steps: cfg.steps,
        lr: cfg.resolved_lr(),
        optimizer: cfg.optimizer,
        lr_schedule: cfg.lr_schedule,
        inverse_lr_scaling: cfg.inverse_lr_scaling,
        mask_prob: cfg.mask_prob,
        window_shift: cfg.window_shift,
        context: cfg.context,
        freeze_blocks: cfg.freeze_blocks,
        pad_id: tokenizer.pad_id(),
        seed: cfg.seed,
        epoch_ends: epoch_ends.clone(),
        eval_logits_budget: budget::EVAL_LOGITS_BUDGET,
    };
    Ok(Plan {
        tokenizer_desc: tokenizer.describe(),
        hidden_size: model.config.shape().width.max(0) as usize,
        grads_params,
        model,
        tasks,
        extra,
        episodes,
        epoch_ends,
        train,
        weights_names,
        pca_names,
    })
}

fn setting(key: &'static str, problem: String) -> ProbeError {
    ProbeError::Setting { key, problem }
}

/// The model (loaded, or a fresh one of the planned shape) and the tokenizer, checked to
/// fit each other.
fn model_and_tokenizer(cfg: &ProbeConfig, plan: DryRun) -> Result<(LoadedModel, Tokenizer)> {
    let device = plan.device;
    let (model, tokenizer) = match (&cfg.model, plan.fresh_tokenizer) {
        (Some(dir), _) => {
            let m = load::load_hf_dir(dir, device)?;
            if m.config.model_type() == "imagegpt" {
                return image_gpt_tokenizer(cfg, dir, m);
            }
            let tok = match &cfg.tokenizer {
                Some(spec) => Tokenizer::from_spec(spec)?,
                None => m.tokenizer.clone().ok_or_else(|| {
                    ProbeError::Input(format!(
                        "{}: no tokenizer.json in the model directory; pass --tokenizer bytes|FILE.json",
                        dir.display()
                    ))
                })?,
            };
            (m, tok)
        }
        (None, tok) => {
            let tok = tok.ok_or_else(|| ProbeError::Model("no tokenizer planned".into()))?;
            let m = presets::from_config(plan.model, cfg.resolved_init(), cfg.seed as i64, device)?;
            (m, tok)
        }
    };
    let path = cfg
        .tokenizer
        .as_deref()
        .map(PathBuf::from)
        .or_else(|| cfg.model.as_ref().map(|m| m.join("tokenizer.json")))
        .unwrap_or_else(|| PathBuf::from("bytes"));
    tokenizer.check_fits(model.config.output_rows(), &path)?;
    Ok((model, tokenizer))
}

/// An Image GPT model reads images through its own colour clusters: `--tokenizer` does
/// not apply, and the directory must have them.
fn image_gpt_tokenizer(
    cfg: &ProbeConfig,
    dir: &std::path::Path,
    m: LoadedModel,
) -> Result<(LoadedModel, Tokenizer)> {
    if cfg.tokenizer.is_some() {
        return Err(setting(
            "tokenizer",
            "does not apply to an Image GPT model: its images are tokenised by the colour clusters of its preprocessor_config.json".into(),
        ));
    }
    match m.tokenizer.clone() {
        Some(tok @ Tokenizer::Pixels(_)) => Ok((m, tok)),
        _ => Err(ProbeError::Input(format!(
            "{}: no preprocessor_config.json with the colour clusters (an Image GPT directory has one)",
            dir.display()
        ))),
    }
}

type Schedule = (Vec<TaskDoc>, Vec<TaskDoc>, Vec<Vec<Episode>>);

/// The T task documents, the one-off documents and the episodes of every epoch.
fn documents_and_schedule(cfg: &ProbeConfig, tokenizer: &Tokenizer) -> Result<Schedule> {
    let docs = match (&cfg.docs, tokenizer) {
        (Some(path), Tokenizer::Pixels(clusters)) if documents::is_image_array(path) => {
            documents::load_images(path, clusters)?
        }
        (Some(path), _) if documents::is_image_array(path) => {
            return Err(ProbeError::Input(format!(
                "{}: a .npy of images needs an Image GPT model (--model DIR with the colour clusters in preprocessor_config.json)",
                path.display()
            )))
        }
        (_, Tokenizer::Pixels(_)) => {
            return Err(ProbeError::Input(
                "an Image GPT model reads images, not text: give --docs a .npy of N×H×W×3 uint8 images (docs/model-families.md)".into(),
            ))
        }
        _ => documents::load_documents(cfg.docs.as_deref(), &cfg.text_field)?,
    };
    let (task_idx, rest) = documents::sample_indices(docs.len(), cfg.tasks, cfg.sample, cfg.seed)?;
    let keep = cfg.tokens_kept();
    // The random window evaluates the centre [C/2, 3C/2) and needs C/2 + S + 2 tokens for
    // its right-most window to hold a next-token target.
    let (eval_start, need_tokens) = match cfg.window_shift {
        Some(s) => (cfg.context / 2, cfg.context / 2 + s + 2),
        None => (0, 2),
    };
    let encode = |s: &str| tokenizer.encode(s).map_err(|e| e.to_string());
    let tokenize = |idx: &[usize]| {
        idx.iter()
            .map(|&i| {
                let d =
                    documents::tokenize_doc(&docs[i], i, keep, eval_start, cfg.context, &encode)?;
                if d.tokens.len() < need_tokens {
                    return Err(setting(
                        "window-shift",
                        format!(
                            "{}: the document has {} tokens, the random window with C = {} and S = {} needs at least {need_tokens}",
                            d.source,
                            d.tokens.len(),
                            cfg.context,
                            cfg.window_shift.unwrap_or(0)
                        ),
                    ));
                }
                Ok(d)
            })
            .collect::<Result<Vec<_>>>()
    };
    let tasks = tokenize(&task_idx)?;
    let spec = ScheduleSpec {
        tasks: cfg.tasks,
        epochs: cfg.epochs,
        order: cfg.order,
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
        return Err(setting(
            "insert-random",
            format!(
                "{} needs {need} one-off documents besides the {} tasks{drawn}, but only {} are available; give --docs more documents or insert fewer",
                cfg.insert_random,
                cfg.tasks,
                rest.len()
            ),
        ));
    }
    let extra = tokenize(&rest[..need])?;
    Ok((tasks, extra, by_epoch))
}

/// A `--grads-param` pattern inside a block, in the model's naming: a leading
/// `attention` (GPT-NeoX's name, the default `attention.*`) means the family's attention
/// module (`attn` in GPT-2, `self_attn` in the Llama family).
fn in_block_pattern(pattern: &str, layout: &ParamLayout) -> String {
    match pattern.strip_prefix("attention") {
        Some(rest) if rest.is_empty() || rest.starts_with('.') => {
            format!("{}{rest}", layout.attention)
        }
        _ => pattern.to_string(),
    }
}

/// The parameters `pattern` names (sorted); an error naming the setting `key` when the
/// recorder that uses them is on and it names none. `embed_out.weight` (GPT-NeoX's name,
/// the `--pca-param` default) means the output matrix of any family, and with tied
/// embeddings the input embedding it shares.
fn param_names(
    used: bool,
    key: &'static str,
    pattern: &str,
    model: &LoadedModel,
) -> Result<Vec<String>> {
    let layout = model.config.layout();
    let pattern = if pattern == "embed_out.weight" {
        if model.config.tie_word_embeddings() {
            layout.input_embedding
        } else {
            layout.output
        }
    } else {
        pattern
    };
    let mut names: Vec<String> = model
        .model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| matches_pattern(n, pattern))
        .collect();
    if used && names.is_empty() {
        return Err(setting(
            key,
            format!(
                "`{pattern}` matches no parameter of the model (e.g. embed_out.weight, {}0.{}.*, or * for all)",
                layout.block_prefix, layout.attention
            ),
        ));
    }
    names.sort();
    Ok(names)
}
