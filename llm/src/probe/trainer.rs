//! The cyclic fine-tuning protocol on a causal language model (paper §2, §3, App. B).
//!
//! The trainer owns the training and evaluation data as tensors and the list of model
//! parameters; it performs M plain gradient steps per episode (SGD, or Adam whose state is
//! reset at every document), evaluates every document in one batched forward pass, and can
//! save and restore its parameters exactly (for `--resume`). Nothing here touches the run
//! record: the caller (the CLI) decides what to write and when.
//!
//! Randomness: every random choice of an episode (the token mask and the window shift,
//! both redrawn at every gradient step as in the authors' `train_interleave_randommask.py`
//! and `train_interleave_randomwindow.py`) comes from an RNG seeded by `(seed, episode)`,
//! so an episode trained after a resume draws exactly what it would have drawn in an
//! uninterrupted run, and no RNG state needs saving.
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::model::family::ParamLayout;
use crate::model::load::LoadedModel;
use crate::probe::error::{ProbeError, Result};

/// What the probe needs from a causal language model.
pub trait CausalLm {
    /// Logits `[B, S, V]` for token ids `[B, S]` (int64).
    fn logits(&self, ids: &Tensor) -> Result<Tensor>;
    /// Final hidden states `[B, S, D]` (after the final LayerNorm, before the output layer).
    fn hidden(&self, ids: &Tensor) -> Result<Tensor>;
    /// Logits `[B, S, V]` from final hidden states: `logits(ids)` is
    /// `logits_from_hidden(hidden(ids))`, the same operations.
    fn logits_from_hidden(&self, hidden: &Tensor) -> Result<Tensor>;
    /// Named parameters (shallow handles sharing storage with the model).
    fn named_parameters(&self) -> Vec<(String, Tensor)>;
    /// Number of transformer blocks.
    fn num_layers(&self) -> usize;
    /// Where the model keeps its embeddings and blocks (what `--freeze-blocks` freezes).
    fn layout(&self) -> ParamLayout;
    /// Vocabulary size (rows of the output matrix).
    fn vocab_size(&self) -> usize;
    fn device(&self) -> Device;
}

reawaken_analysis::choice! {
    /// Optimizer of the episodes.
    pub enum Optim("optimizer") {
        /// Plain gradient descent, constant lr, no momentum, no weight decay (paper default).
        Sgd = "sgd",
        /// Adam (β = 0.9, 0.999, ε = 1e-8, no weight decay), state reset at every document.
        Adam = "adam",
    }
}

reawaken_analysis::choice! {
    /// Learning-rate schedule over the whole run.
    pub enum LrSchedule("lr schedule") {
        /// The same lr at every step.
        Constant = "constant",
        /// Cosine decay from lr to 0 over the E epochs, one lr per epoch: epoch e (0-based)
        /// trains at lr·(1 + cos(π·e/E))/2, as a per-epoch `CosineAnnealingLR(T_max = E)`
        /// (paper B.6: minimum lr 0, maximum number of epochs 10).
        CosineEpoch = "cosine-epoch",
        /// The same decay step by step: global step k of K trains at lr·(1 + cos(π·k/K))/2.
        Cosine = "cosine",
    }
}

/// The token id a masked input position gets (the authors multiply the ids by the 0/1
/// mask; in Pythia's tokenizer id 0 is `<|endoftext|>`).
pub const MASK_TOKEN: i64 = 0;

/// The M at which `--inverse-lr-scaling` leaves the lr unchanged (paper B.8: lr 1e-3 at
/// M = 10, hence 0.01 at M = 1 and 0.0005 at M = 20).
pub const INVERSE_LR_REFERENCE_STEPS: f64 = 10.0;

/// Training hyper-parameters of the protocol.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// M: gradient steps per episode.
    pub steps: usize,
    pub lr: f64,
    pub optimizer: Optim,
    pub lr_schedule: LrSchedule,
    /// lr_used = lr · 10 / M (paper B.8: lr 0.01 at M = 1, 0.002 at M = 5, …).
    pub inverse_lr_scaling: bool,
    /// Probability that an input token is replaced by [`MASK_TOKEN`] (per step).
    pub mask_prob: f64,
    /// The random window: `Some(S)` trains on `[C/2+s, 3C/2+s)`, s ∈ −S..=S drawn per
    /// step, of a 2C-token document; `None` trains on the first C tokens.
    pub window_shift: Option<usize>,
    /// C: context length.
    pub context: usize,
    /// Freeze `embed_in` and the first B blocks.
    pub freeze_blocks: usize,
    pub pad_id: i64,
    pub seed: u64,
    /// Episodes done at the end of each epoch (for the lr schedules).
    pub epoch_ends: Vec<usize>,
    /// Largest number of logits elements in one evaluation forward pass.
    pub eval_logits_budget: usize,
}

/// The input of one gradient step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInput {
    /// Where the training window starts in the document.
    pub start: usize,
    /// Input ids, padded to C (masked positions hold [`MASK_TOKEN`]).
    pub input: Vec<i64>,
    /// Next-token targets (C − 1; never masked).
    pub targets: Vec<i64>,
    /// 1 where a target is scored, 0 on padding.
    pub loss_mask: Vec<f32>,
    /// Number of scored targets.
    pub scored: usize,
}

/// Result of one episode's training.
#[derive(Debug, Clone, Copy)]
pub struct EpisodeOutcome {
    /// Training loss of the first step (= prequential loss on the training window).
    pub first_loss: f64,
    pub last_loss: f64,
    /// Some(step) if a step's loss was NaN/inf: training stopped there.
    pub diverged_at_step: Option<usize>,
}

struct EvalChunk {
    /// Index of the chunk's first task.
    first: usize,
    ids: Tensor,
    targets: Tensor,
    mask: Tensor,
    counts: Tensor,
}

/// The trainer of one probe run.
pub struct Trainer<'m, M: CausalLm> {
    model: &'m M,
    cfg: TrainConfig,
    device: Device,
    /// All parameters, sorted by name.
    params: Vec<(String, Tensor)>,
    /// Indices into `params` that are trained.
    trainable: Vec<usize>,
    /// Eval tokens (≤ C) of each task.
    eval_tokens: Vec<Vec<i64>>,
    chunks: Vec<EvalChunk>,
}

/// Mixes a seed with a stream id and an index into a fresh RNG seed.
pub fn sub_seed(seed: u64, stream: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(index.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const STREAM_EPISODE: u64 = 1;
const STREAM_PAIRWISE: u64 = 2;

fn ids_tensor(tokens: &[i64], device: Device) -> Tensor {
    Tensor::from_slice(tokens)
        .view([1, tokens.len() as i64])
        .to_device(device)
}

/// Mean next-token cross-entropy per row: logits `[B,S,V]`, targets `[B,S-1]`, mask `[B,S-1]`.
fn masked_row_losses(logits: &Tensor, targets: &Tensor, mask: &Tensor, counts: &Tensor) -> Tensor {
    let nll = crate::model::family::next_token_nll(logits, targets, mask);
    nll.sum_dim_intlist([1i64].as_slice(), false, Kind::Float) / counts
}

impl EvalChunk {
    /// Whether task `task` is one of the chunk's rows.
    fn holds(&self, task: usize) -> bool {
        let rows = self.counts.size().first().map_or(0, |&b| b as usize);
        (self.first..self.first + rows).contains(&task)
    }
}

impl<'m, M: CausalLm> Trainer<'m, M> {
    /// Prepares a trainer. `tasks_eval` are the evaluation token sequences (each ≥ 2 tokens).
    pub fn new(model: &'m M, cfg: TrainConfig, tasks_eval: Vec<Vec<i64>>) -> Result<Self> {
        if cfg.context < 2 {
            return Err(ProbeError::Input("--context must be at least 2".into()));
        }
        if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
            return Err(ProbeError::Input(format!(
                "--lr must be a positive finite number, got {}",
                cfg.lr
            )));
        }
        if !(0.0..1.0).contains(&cfg.mask_prob) {
            return Err(ProbeError::Input(format!(
                "--mask-prob must lie in [0, 1), got {}",
                cfg.mask_prob
            )));
        }
        if cfg.steps == 0 {
            return Err(ProbeError::Input("--steps must be at least 1".into()));
        }
        let layers = model.num_layers();
        if cfg.freeze_blocks > layers {
            return Err(ProbeError::Input(format!(
                "--freeze-blocks {} exceeds the model's {layers} blocks",
                cfg.freeze_blocks
            )));
        }
        let device = model.device();
        let mut params = model.named_parameters();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let layout = model.layout();
        let frozen = |name: &str| {
            cfg.freeze_blocks > 0
                && (layout.embeddings.iter().any(|e| name.starts_with(e))
                    || (0..cfg.freeze_blocks).any(|b| name.starts_with(&layout.block(b))))
        };
        let mut trainable = Vec::new();
        for (i, (name, p)) in params.iter().enumerate() {
            if frozen(name) {
                let _ = p.set_requires_grad(false);
            } else {
                let _ = p.set_requires_grad(true);
                trainable.push(i);
            }
        }
        let mut trainer = Trainer {
            model,
            cfg,
            device,
            params,
            trainable,
            eval_tokens: tasks_eval,
            chunks: Vec::new(),
        };
        trainer.chunks = trainer.build_eval_chunks()?;
        Ok(trainer)
    }

    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Number of trainable scalar parameters.
    pub fn trainable_numel(&self) -> i64 {
        self.trainable
            .iter()
            .map(|&i| self.params[i].1.numel() as i64)
            .sum()
    }

    fn build_eval_chunks(&self) -> Result<Vec<EvalChunk>> {
        let t = self.eval_tokens.len();
        if t == 0 {
            return Err(ProbeError::Input("no tasks to evaluate".into()));
        }
        let lmax = self.eval_tokens.iter().map(Vec::len).max().unwrap_or(2);
        let vocab = self.model.vocab_size();
        let per_doc = (lmax * vocab.max(1)).max(1);
        let docs_per_chunk = (self.cfg.eval_logits_budget / per_doc).clamp(1, t);
        let mut chunks = Vec::new();
        for group in self.eval_tokens.chunks(docs_per_chunk) {
            let lmax = group.iter().map(Vec::len).max().unwrap_or(2);
            let b = group.len();
            let mut ids = vec![self.cfg.pad_id; b * lmax];
            let mut mask = vec![0f32; b * (lmax - 1)];
            let mut counts = vec![0f32; b];
            for (r, toks) in group.iter().enumerate() {
                ids[r * lmax..r * lmax + toks.len()].copy_from_slice(toks);
                for j in 0..toks.len() - 1 {
                    mask[r * (lmax - 1) + j] = 1.0;
                }
                counts[r] = (toks.len() - 1) as f32;
            }
            let ids = Tensor::from_slice(&ids)
                .view([b as i64, lmax as i64])
                .to_device(self.device);
            let targets = ids.narrow(1, 1, lmax as i64 - 1);
            chunks.push(EvalChunk {
                first: chunks.len() * docs_per_chunk,
                targets,
                ids,
                mask: Tensor::from_slice(&mask)
                    .view([b as i64, lmax as i64 - 1])
                    .to_device(self.device),
                counts: Tensor::from_slice(&counts).to_device(self.device),
            });
        }
        Ok(chunks)
    }

    /// Loss of every task, evaluated on its unpadded sequence, in one batched forward pass
    /// (right-padded, padding masked) — split only if the logits exceed the budget.
    pub fn eval_losses(&self) -> Result<Vec<f32>> {
        Ok(self.evaluate(None)?.0)
    }

    /// [`Trainer::eval_losses`], and with `watch = Some(task)` that task's final hidden
    /// states from the same forward pass (its unpadded positions, flattened `[L·D]`,
    /// float32): what the `acts` recorder records, at no extra forward pass.
    pub fn evaluate(&self, watch: Option<usize>) -> Result<(Vec<f32>, Option<Tensor>)> {
        let _guard = tch::no_grad_guard();
        let mut out = Vec::with_capacity(self.eval_tokens.len());
        let mut watched = None;
        for c in &self.chunks {
            let hidden = self.model.hidden(&c.ids)?;
            if let Some(task) = watch.filter(|&t| c.holds(t)) {
                watched = Some(self.hidden_of(&hidden, c, task));
            }
            let logits = self.model.logits_from_hidden(&hidden)?;
            let l =
                masked_row_losses(&logits, &c.targets, &c.mask, &c.counts).to_device(Device::Cpu);
            let v: Vec<f32> = Vec::<f32>::try_from(&l).map_err(ProbeError::Torch)?;
            out.extend(v);
        }
        Ok((out, watched))
    }

    /// The final hidden states of `task` as [`Trainer::evaluate`] computes them (its
    /// chunk's forward pass, without the output layer), e.g. to resume the `acts` series.
    pub fn eval_hidden(&self, task: usize) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let c = self
            .chunks
            .iter()
            .find(|c| c.holds(task))
            .ok_or_else(|| ProbeError::Input(format!("{task} is not a task")))?;
        Ok(self.hidden_of(&self.model.hidden(&c.ids)?, c, task))
    }

    /// Row `task` of a chunk's hidden states `[B, S, D]`, cut to the task's length.
    fn hidden_of(&self, hidden: &Tensor, c: &EvalChunk, task: usize) -> Tensor {
        let len = self.eval_tokens[task].len() as i64;
        hidden
            .get((task - c.first) as i64)
            .narrow(0, 0, len)
            .flatten(0, -1)
            .to_kind(Kind::Float)
            .contiguous()
    }

    /// Loss of each task evaluated alone (batch size 1): the reference for `eval_losses`.
    pub fn eval_losses_one_by_one(&self) -> Result<Vec<f32>> {
        let _guard = tch::no_grad_guard();
        let mut out = Vec::new();
        for toks in &self.eval_tokens {
            let loss = self.sequence_loss(toks)?;
            out.push(f64::try_from(&loss).map_err(ProbeError::Torch)? as f32);
        }
        Ok(out)
    }

    /// Mean next-token loss of one unpadded sequence (keeps the graph if grad is enabled).
    pub fn sequence_loss(&self, toks: &[i64]) -> Result<Tensor> {
        let ids = ids_tensor(toks, self.device);
        let logits = self.model.logits(&ids)?;
        let n = toks.len() as i64;
        let targets = ids.narrow(1, 1, n - 1);
        let mask = Tensor::ones([1, n - 1], (Kind::Float, self.device));
        let counts = Tensor::from_slice(&[(n - 1) as f32]).to_device(self.device);
        Ok(masked_row_losses(&logits, &targets, &mask, &counts).squeeze_dim(0))
    }

    /// Learning rate of global step `step` (0-based) in epoch `epoch` (0-based).
    pub fn lr_at(&self, step: usize, epoch: usize) -> f64 {
        let mut lr = self.cfg.lr;
        if self.cfg.inverse_lr_scaling {
            lr *= INVERSE_LR_REFERENCE_STEPS / self.cfg.steps as f64;
        }
        let cosine =
            |k: f64, total: f64| 0.5 * lr * (1.0 + (std::f64::consts::PI * k / total).cos());
        match self.cfg.lr_schedule {
            LrSchedule::Constant => lr,
            LrSchedule::CosineEpoch => {
                cosine(epoch as f64, self.cfg.epoch_ends.len().max(1) as f64)
            }
            LrSchedule::Cosine => {
                let episodes = self.cfg.epoch_ends.last().copied().unwrap_or(1);
                cosine(
                    step as f64,
                    (episodes as f64 * self.cfg.steps as f64).max(1.0),
                )
            }
        }
    }

    /// Epoch (0-based) of episode `episode` (0-based).
    pub fn epoch_of(&self, episode: usize) -> usize {
        self.cfg.epoch_ends.partition_point(|&end| end <= episode)
    }

    /// The inputs of an episode's M gradient steps: each step draws its own window shift
    /// and mask from `rng` (nothing is drawn when both are off).
    pub fn step_inputs(&self, tokens: &[i64], rng: &mut ChaCha8Rng) -> Vec<StepInput> {
        (0..self.cfg.steps)
            .map(|_| self.step_input(tokens, rng))
            .collect()
    }

    fn step_input(&self, tokens: &[i64], rng: &mut ChaCha8Rng) -> StepInput {
        let c = self.cfg.context;
        let last_start = tokens.len().saturating_sub(2);
        let start = match self.cfg.window_shift {
            None => 0,
            Some(max) => {
                let shift = if max > 0 {
                    rng.random_range(-(max as i64)..=max as i64)
                } else {
                    0
                };
                // max ≤ C/2 (checked by the settings), so the start is ≥ 0.
                ((c / 2) as i64 + shift).max(0) as usize
            }
        }
        .min(last_start);
        let window = &tokens[start..(start + c).min(tokens.len())];
        let len = window.len();
        let mut input = vec![self.cfg.pad_id; c];
        input[..len].copy_from_slice(window);
        let mut targets = vec![self.cfg.pad_id; c - 1];
        targets[..len - 1].copy_from_slice(&window[1..]);
        if self.cfg.mask_prob > 0.0 {
            for tok in input.iter_mut().take(len) {
                if rng.random::<f64>() < self.cfg.mask_prob {
                    *tok = MASK_TOKEN;
                }
            }
        }
        let mut loss_mask = vec![0f32; c - 1];
        loss_mask[..len - 1].fill(1.0);
        StepInput {
            start,
            input,
            targets,
            loss_mask,
            scored: len - 1,
        }
    }

    /// One episode: M gradient steps on `tokens` alone (batch size 1). `episode` (0-based)
    /// seeds the episode's randomness and places it in the lr schedule.
    pub fn train_episode(&self, tokens: &[i64], episode: usize) -> Result<EpisodeOutcome> {
        let mut rng =
            ChaCha8Rng::seed_from_u64(sub_seed(self.cfg.seed, STREAM_EPISODE, episode as u64));
        let epoch = self.epoch_of(episode);
        self.train_steps(
            tokens,
            &mut rng,
            episode.saturating_mul(self.cfg.steps),
            epoch,
        )
    }

    fn step_tensors(&self, x: &StepInput) -> (Tensor, Tensor, Tensor, Tensor) {
        let c = self.cfg.context as i64;
        let on = |t: Tensor, shape: &[i64]| t.view(shape).to_device(self.device);
        (
            on(Tensor::from_slice(&x.input), &[1, c]),
            on(Tensor::from_slice(&x.targets), &[1, c - 1]),
            on(Tensor::from_slice(&x.loss_mask), &[1, c - 1]),
            Tensor::from_slice(&[x.scored as f32]).to_device(self.device),
        )
    }

    fn train_steps(
        &self,
        tokens: &[i64],
        rng: &mut ChaCha8Rng,
        first_step: usize,
        epoch: usize,
    ) -> Result<EpisodeOutcome> {
        let inputs = self.step_inputs(tokens, rng);
        // Adam state: fresh for every document.
        let mut adam: Vec<(Tensor, Tensor)> = Vec::new();
        let mut outcome = EpisodeOutcome {
            first_loss: f64::NAN,
            last_loss: f64::NAN,
            diverged_at_step: None,
        };
        let trained: Vec<&Tensor> = self.trainable.iter().map(|&i| &self.params[i].1).collect();
        for (step, x) in inputs.iter().enumerate() {
            let (ids, targets, mask, counts) = self.step_tensors(x);
            let logits = self.model.logits(&ids)?;
            let loss = masked_row_losses(&logits, &targets, &mask, &counts).sum(Kind::Float);
            let value = f64::try_from(&loss).map_err(ProbeError::Torch)?;
            if step == 0 {
                outcome.first_loss = value;
            }
            outcome.last_loss = value;
            if !value.is_finite() {
                outcome.diverged_at_step = Some(step);
                return Ok(outcome);
            }
            // The gradients come back from autograd instead of being accumulated into
            // zeroed `.grad` tensors (the same values, 0 + g = g, for every parameter the
            // loss reaches), which saves zeroing and adding every parameter's gradient at
            // every step. A parameter the loss does not reach gets no update (with a
            // zeroed gradient Adam would still have moved it by its decaying moments; no
            // model here has such a parameter).
            let grads = Tensor::f_run_backward(&[&loss], &trained, false, false)?;
            let lr = self.lr_at(first_step + step, epoch);
            self.apply_update(lr, step + 1, &mut adam, &grads)?;
        }
        Ok(outcome)
    }

    /// One optimizer step with `grads`, the gradients of the trainable parameters (in
    /// `self.trainable` order; an undefined one, of a parameter the loss does not reach,
    /// leaves it unchanged).
    fn apply_update(
        &self,
        lr: f64,
        t: usize,
        adam: &mut Vec<(Tensor, Tensor)>,
        grads: &[Tensor],
    ) -> Result<()> {
        let _guard = tch::no_grad_guard();
        if self.cfg.optimizer == Optim::Adam && adam.is_empty() {
            for &i in &self.trainable {
                let p = &self.params[i].1;
                adam.push((p.zeros_like(), p.zeros_like()));
            }
        }
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
        for (k, (&i, g)) in self.trainable.iter().zip(grads).enumerate() {
            let mut p = self.params[i].1.shallow_clone();
            if !g.defined() {
                continue;
            }
            match self.cfg.optimizer {
                Optim::Sgd => {
                    let _ = p.f_sub_(&(g * lr))?;
                }
                Optim::Adam => {
                    let (m, v) = &mut adam[k];
                    let _ = m.f_mul_scalar_(b1)?;
                    let _ = m.f_add_(&(g * (1.0 - b1)))?;
                    let _ = v.f_mul_scalar_(b2)?;
                    let _ = v.f_add_(&(g * g * (1.0 - b2)))?;
                    let bc1 = 1.0 - b1.powi(t as i32);
                    let bc2 = 1.0 - b2.powi(t as i32);
                    let denom = v.sqrt() / bc2.sqrt() + eps;
                    let _ = p.f_sub_(&(m.shallow_clone() / denom * (lr / bc1)))?;
                }
            }
        }
        Ok(())
    }

    /// Copies of all parameters (an in-memory checkpoint).
    pub fn snapshot(&self) -> Vec<Tensor> {
        let _guard = tch::no_grad_guard();
        self.params.iter().map(|(_, p)| p.copy()).collect()
    }

    /// Restores parameters from `snapshot`.
    pub fn restore(&self, snapshot: &[Tensor]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for ((_, p), s) in self.params.iter().zip(snapshot) {
            let mut p = p.shallow_clone();
            p.f_copy_(s)?;
        }
        Ok(())
    }

    /// Saves all parameters to a safetensors file (exact values).
    pub fn save_params(&self, path: &Path) -> Result<()> {
        let named: Vec<(&str, Tensor)> = self
            .params
            .iter()
            .map(|(n, p)| (n.as_str(), p.to_device(Device::Cpu)))
            .collect();
        Tensor::write_safetensors(&named, path)?;
        Ok(())
    }

    /// Loads parameters saved by `save_params`.
    pub fn load_params(&self, path: &Path) -> Result<()> {
        let loaded = Tensor::read_safetensors(path)?;
        let map: std::collections::HashMap<String, Tensor> = loaded.into_iter().collect();
        let _guard = tch::no_grad_guard();
        for (name, p) in &self.params {
            let src = map.get(name).ok_or_else(|| {
                ProbeError::Model(format!(
                    "checkpoint {} lacks parameter {name}",
                    path.display()
                ))
            })?;
            if src.size() != p.size() {
                return Err(ProbeError::Model(format!(
                    "checkpoint {}: parameter {name} has shape {:?}, the model {:?}",
                    path.display(),
                    src.size(),
                    p.size()
                )));
            }
            let mut p = p.shallow_clone();
            p.f_copy_(&src.to_device(self.device))?;
        }
        Ok(())
    }

    /// Pairwise recovery (paper Fig. 8b): from the current parameters, for each task i:
    /// M steps on task i, then loss_before(j) − loss_after(j) for every j. Parameters are
    /// restored afterwards, so training continues exactly as without this recorder.
    pub fn pairwise(&self, train_tokens: &[Vec<i64>]) -> Result<Vec<Vec<f32>>> {
        let snap = self.snapshot();
        let before = self.eval_losses()?;
        let mut rows = Vec::with_capacity(train_tokens.len());
        for (i, toks) in train_tokens.iter().enumerate() {
            let mut rng =
                ChaCha8Rng::seed_from_u64(sub_seed(self.cfg.seed, STREAM_PAIRWISE, i as u64));
            // Constant lr of the run (no schedule position): the effect of M steps on x_i.
            let out = self.train_steps_const(toks, &mut rng)?;
            let after = if out.diverged_at_step.is_some() {
                vec![f32::NAN; before.len()]
            } else {
                self.eval_losses()?
            };
            rows.push(before.iter().zip(&after).map(|(b, a)| b - a).collect());
            self.restore(&snap)?;
        }
        Ok(rows)
    }

    fn train_steps_const(&self, tokens: &[i64], rng: &mut ChaCha8Rng) -> Result<EpisodeOutcome> {
        // lr_at(0, 0) is the schedule's starting value = the constant lr.
        self.train_steps(tokens, rng, 0, 0)
    }

    /// Gradient of each task's loss (unpadded evaluation sequence) w.r.t. the parameters
    /// `names`, flattened and concatenated in the order given.
    pub fn task_gradients(&self, names: &[String]) -> Result<Vec<Tensor>> {
        let mut chosen = Vec::with_capacity(names.len());
        for name in names {
            let (_, p) = self
                .params
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| ProbeError::Model(format!("no parameter named {name}")))?;
            chosen.push((name, p, p.requires_grad()));
            let _ = p.set_requires_grad(true);
        }
        let out = self.gradients_of(&chosen);
        for (_, p, was) in chosen {
            let _ = p.set_requires_grad(was);
        }
        out
    }

    /// Each task's loss gradient w.r.t. the `chosen` parameters, concatenated.
    fn gradients_of(&self, chosen: &[(&String, &Tensor, bool)]) -> Result<Vec<Tensor>> {
        let inputs: Vec<&Tensor> = chosen.iter().map(|(_, p, _)| *p).collect();
        let mut out = Vec::new();
        for toks in &self.eval_tokens {
            let loss = self.sequence_loss(toks)?;
            // Only the chosen parameters' gradients are computed (not every parameter's,
            // as `backward` would), and nothing is accumulated into `.grad`.
            let grads = Tensor::f_run_backward(&[&loss], &inputs, false, false)?;
            let mut parts = Vec::with_capacity(chosen.len());
            for ((name, _, _), g) in chosen.iter().zip(&grads) {
                if !g.defined() {
                    return Err(ProbeError::Model(format!("no gradient reached {name}")));
                }
                parts.push(g.flatten(0, -1));
            }
            out.push(Tensor::f_cat(&parts, 0)?);
        }
        Ok(out)
    }

    /// Evaluation tokens of task `i`.
    pub fn eval_tokens(&self, i: usize) -> Option<&[i64]> {
        self.eval_tokens.get(i).map(Vec::as_slice)
    }
}

/// Any supported family, with its config (which knows the layout).
impl CausalLm for LoadedModel {
    fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.model.forward(ids)?)
    }
    fn hidden(&self, ids: &Tensor) -> Result<Tensor> {
        Ok(self.model.hidden_states(ids)?)
    }
    fn logits_from_hidden(&self, hidden: &Tensor) -> Result<Tensor> {
        Ok(self.model.logits_from_hidden(hidden))
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.model.named_parameters()
    }
    fn num_layers(&self) -> usize {
        self.config.shape().depth.max(0) as usize
    }
    fn layout(&self) -> ParamLayout {
        self.config.layout()
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size().max(0) as usize
    }
    fn device(&self) -> Device {
        self.vs.device()
    }
}
