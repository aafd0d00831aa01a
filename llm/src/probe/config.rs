//! The settings of `llm probe`: one typed struct that is at once the command's flags
//! (clap), the schema of `--config` files and the `config` object of `run.json` (serde,
//! kebab-case keys). Meaning of every setting: docs/llm-probe.md.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::presets::InitScheme;
use crate::probe::documents::Sample;
use crate::probe::error::{ProbeError, Result};
use crate::probe::schedule::{InsertRandom, Order};
use crate::probe::trainer::{LrSchedule, Optim};

/// Every setting of `llm probe`. Defaults (no flags): a fresh `tiny` model (width 128, 2
/// blocks, 4 heads, Pythia init, byte tokenizer) on T = 10 documents of the built-in
/// corpus, C = 64, M = 10 SGD steps at lr 0.01, E = 4, cyclic, all recorders. Which of
/// the authors' scripts each setting follows: docs/llm-probe.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Seed of everything random (document sample, init, orders, masking).
    #[arg(long, default_value_t = d().seed)]
    pub seed: u64,
    /// Hugging Face model directory (config.json, model.safetensors, tokenizer.json) of
    /// GPT-NeoX / Pythia, GPT-2, Llama, Qwen2, Mistral or Image GPT (by model_type), e.g.
    /// a downloaded pythia-160m. Without it a fresh --preset model is trained.
    #[arg(long, value_name = "HF_DIR", conflicts_with = "preset")]
    pub model: Option<PathBuf>,
    /// Shape of a fresh model: tiny (width 128, 2 blocks, 4 heads), a Pythia size
    /// 14m, 31m, 70m, 160m, 410m, 1b, 1.4b, 2.8b, 6.9b, 12b, or a GPT-2 size gpt2,
    /// gpt2-medium, gpt2-large, gpt2-xl.
    #[arg(long, default_value_t = d().preset)]
    pub preset: String,
    /// Width (hidden size) of the fresh model [default: the preset's].
    #[arg(long)]
    pub width: Option<i64>,
    /// Depth (number of blocks) of the fresh model [default: the preset's].
    #[arg(long)]
    pub depth: Option<i64>,
    /// Attention heads of the fresh model (must divide the width) [default: the preset's].
    #[arg(long)]
    pub heads: Option<i64>,
    /// MLP width (intermediate_size) of the fresh model [default: the preset's, also when
    /// --width changes: the authors' width ablations keep Pythia-1B's 8192].
    #[arg(long, value_name = "N")]
    pub intermediate_size: Option<i64>,
    /// Initialisation of a fresh model: pythia (GPT-NeoX's small/wang init), gpt2 (GPT-2's:
    /// σ=0.02, residual projections 0.02/√(2L)), isotropic (σ=0.02), isotropic:SIGMA
    /// [default: the preset family's own: pythia, or gpt2 for the GPT-2 presets].
    #[arg(long)]
    pub init: Option<InitScheme>,
    /// `bytes` or a tokenizer.json [default: the model directory's; bytes for a fresh model].
    #[arg(long, value_name = "bytes|FILE.json")]
    pub tokenizer: Option<String>,
    /// Documents: a directory of .txt (one document each, by name), a .jsonl file, a .txt
    /// with documents separated by blank lines, or for Image GPT a .npy of N×H×W×3 uint8
    /// images [default: the built-in corpus, 30 documents].
    #[arg(long, value_name = "PATH")]
    pub docs: Option<PathBuf>,
    /// JSON field holding the text in a .jsonl (CNN/DailyMail: article).
    #[arg(long, value_name = "NAME", default_value_t = d().text_field)]
    pub text_field: String,
    /// random: T documents drawn with the seed (the paper); first: the first T.
    #[arg(long, value_name = "random|first", default_value_t = d().sample)]
    pub sample: Sample,
    /// T: number of documents (tasks).
    #[arg(long, value_name = "T", default_value_t = d().tasks)]
    pub tasks: usize,
    /// C: context length in tokens; documents are truncated to it.
    #[arg(long, value_name = "C", default_value_t = d().context)]
    pub context: usize,
    /// M: gradient steps per document and episode.
    #[arg(long, value_name = "M", default_value_t = d().steps)]
    pub steps: usize,
    /// E: epochs.
    #[arg(long, value_name = "E", default_value_t = d().epochs)]
    pub epochs: usize,
    /// Learning rate [default: the paper's 1e-3 (sgd) / 1e-5 (adam), for --model and for
    /// fresh Pythia presets alike; the built-in `tiny` demo model 1e-2 (sgd) / 1e-3 (adam)].
    #[arg(long)]
    pub lr: Option<f64>,
    /// sgd (plain, constant lr, no weight decay) or adam (state reset at every document).
    #[arg(long, value_name = "sgd|adam", default_value_t = d().optimizer)]
    pub optimizer: Optim,
    /// cyclic (0..T-1 every epoch), shuffled (new permutation every epoch) or
    /// prequential-shuffled (document 1 always first, paper §3.5).
    #[arg(long, value_name = "ORDER", default_value_t = d().order)]
    pub order: Order,
    /// auto (CUDA if available), cpu, cuda, cuda:N.
    #[arg(long, default_value_t = d().device)]
    pub device: String,
    /// Recorders: comma list of grads, pairwise, weights, acts; or all, none.
    #[arg(long, value_name = "LIST", default_value_t = d().record)]
    pub record: Recorders,
    /// Freeze embed_in and the first B blocks (paper Fig. 5d).
    #[arg(long, value_name = "B", default_value_t = d().freeze_blocks)]
    pub freeze_blocks: usize,
    /// Replace each input token by token id 0 with probability p, redrawn at every
    /// gradient step; targets stay unmasked (paper Fig. 4a, the authors' input_ids * mask).
    #[arg(long, value_name = "P", default_value_t = d().mask_prob)]
    pub mask_prob: f64,
    /// Random window (paper Fig. 4b): documents keep 2C tokens, every gradient step trains
    /// on [C/2+s, 3C/2+s) with s drawn from -S..=S, evaluation uses the centre [C/2, 3C/2).
    /// S ≤ C/2; 0 is the figure's unshifted baseline [default: off, the first C tokens].
    #[arg(long, value_name = "S")]
    pub window_shift: Option<usize>,
    /// constant; cosine-epoch: the paper's B.6 (cosine from lr to 0 over the E epochs, one
    /// lr per epoch, as a per-epoch CosineAnnealingLR); cosine: the same decay per step.
    #[arg(long, value_name = "constant|cosine-epoch|cosine", default_value_t = d().lr_schedule)]
    pub lr_schedule: LrSchedule,
    /// Use lr·10/M per step, lr being the rate at M = 10 (paper B.8: 0.01, 0.002, 0.001,
    /// 0.0005 for M = 1, 5, 10, 20 with the default lr 1e-3).
    #[arg(long)]
    pub inverse_lr_scaling: bool,
    /// With --order cyclic: shuffle documents x2..xN every epoch, keep the others fixed
    /// (paper B.1; N = 24 with T = 25 fixes only x1 and x25).
    #[arg(long, value_name = "N")]
    pub partial_shuffle: Option<usize>,
    /// Insert one-off documents (never repeated) after every epoch but the last: K each
    /// time, or MIN-MAX for a number drawn per epoch with the seed (paper B.7: 20-100);
    /// their episodes have order -1.
    #[arg(long, value_name = "K|MIN-MAX", default_value_t = d().insert_random)]
    pub insert_random: InsertRandom,
    /// pairwise and grads: measured from the parameters after epoch P (capped at E; paper
    /// Fig. 8a/8b: 4).
    #[arg(long, value_name = "P", default_value_t = d().pairwise_epoch)]
    pub pairwise_epoch: usize,
    /// grads: block whose attention gradients are used [default: the middle block].
    #[arg(long, value_name = "BLOCK")]
    pub grads_block: Option<usize>,
    /// grads: parameters of that block, a name or glob relative to the block
    /// (attention.* = the whole attention module, as Fig. 8a; attention.query_key_value.weight).
    #[arg(long, value_name = "PATTERN", default_value_t = d().grads_param)]
    pub grads_param: String,
    /// weights: parameters whose trajectory, update norms and residual similarity are
    /// recorded, a name or glob (`*` = all, as Fig. 8c and 22b).
    #[arg(long, value_name = "PATTERN", default_value_t = d().weights_param)]
    pub weights_param: String,
    /// weights: parameters of the raw-weight PCA trajectory (Fig. 9: the output embedding).
    #[arg(long, value_name = "PATTERN", default_value_t = d().pca_param)]
    pub pca_param: String,
    /// acts: task whose final hidden states are recorded (0-based).
    #[arg(long, value_name = "TASK", default_value_t = d().acts_task)]
    pub acts_task: usize,
    /// Dimension of the CountSketch used for large weight/activation vectors.
    #[arg(long, value_name = "K", default_value_t = d().sketch_dim)]
    pub sketch_dim: usize,
    /// Vectors with more elements are sketched; smaller ones are stored exactly.
    #[arg(long, value_name = "N", default_value_t = d().sketch_budget)]
    pub sketch_budget: usize,
    /// Safe point (for --resume) every k episodes; 0 = auto: whenever the time since the
    /// last is 50 times what that one took (at most 2% of the run), at the latest after 10
    /// minutes. A stop (Ctrl-C, SIGTERM, SIGUSR1) always makes one.
    #[arg(long, value_name = "K", default_value_t = d().checkpoint_every)]
    pub checkpoint_every: usize,
}

/// Largest `--steps` (M): more would run for days on one document.
pub const MAX_STEPS: usize = 1_000_000;

/// Largest `--sketch-dim` (a sketch is meant to be small; 2^24 float32 is 64 MiB a row).
pub const MAX_SKETCH_DIM: usize = 1 << 24;

fn d() -> ProbeConfig {
    ProbeConfig::default()
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            seed: 0,
            model: None,
            preset: "tiny".into(),
            width: None,
            depth: None,
            heads: None,
            intermediate_size: None,
            init: None,
            tokenizer: None,
            docs: None,
            text_field: "text".into(),
            sample: Sample::Random,
            tasks: 10,
            context: 64,
            steps: 10,
            epochs: 4,
            lr: None,
            optimizer: Optim::Sgd,
            order: Order::Cyclic,
            device: "auto".into(),
            record: Recorders::ALL,
            freeze_blocks: 0,
            mask_prob: 0.0,
            window_shift: None,
            lr_schedule: LrSchedule::Constant,
            inverse_lr_scaling: false,
            partial_shuffle: None,
            insert_random: InsertRandom::default(),
            pairwise_epoch: 4,
            grads_block: None,
            grads_param: "attention.*".into(),
            weights_param: "*".into(),
            pca_param: "embed_out.weight".into(),
            acts_task: 0,
            sketch_dim: 4096,
            sketch_budget: 1 << 18,
            checkpoint_every: 0,
        }
    }
}

impl ProbeConfig {
    /// Checks the ranges of the settings that need no model or documents; the error
    /// names the setting ([`ProbeError::Setting`]).
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &'static str, problem: String| Err(ProbeError::Setting { key, problem });
        for (key, v) in [
            ("tasks", self.tasks),
            ("epochs", self.epochs),
            ("steps", self.steps),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        if self.steps > MAX_STEPS {
            return bad(
                "steps",
                format!(
                    "{} is more than {MAX_STEPS} gradient steps per document (the paper uses 1 to 20)",
                    self.steps
                ),
            );
        }
        if self.context < 2 {
            return bad(
                "context",
                format!(
                    "{} is too short: at least 2 tokens are needed for a next-token loss",
                    self.context
                ),
            );
        }
        if let Some(lr) = self.lr {
            if !(lr.is_finite() && lr > 0.0) {
                return bad("lr", format!("must be a positive finite number, got {lr}"));
            }
        }
        if !(self.mask_prob.is_finite() && (0.0..1.0).contains(&self.mask_prob)) {
            return bad(
                "mask-prob",
                format!("must lie in [0, 1), got {}", self.mask_prob),
            );
        }
        if self.sketch_dim == 0 || self.sketch_dim > MAX_SKETCH_DIM {
            return bad(
                "sketch-dim",
                format!("must lie in 1..={MAX_SKETCH_DIM}, got {}", self.sketch_dim),
            );
        }
        if self.acts_task >= self.tasks {
            return bad(
                "acts-task",
                format!("{} is not a task (0..{})", self.acts_task, self.tasks),
            );
        }
        let fresh_only = [
            ("preset", self.preset != d().preset),
            ("init", self.init.is_some()),
        ];
        if self.model.is_some() {
            if let Some((key, _)) = fresh_only.iter().find(|(_, set)| *set) {
                return bad(
                    key,
                    "applies to a fresh model; with --model the directory's weights are used (remove it from the command line or the config file)".into(),
                );
            }
        }
        if self.model.is_some()
            && (self.width.is_some()
                || self.depth.is_some()
                || self.heads.is_some()
                || self.intermediate_size.is_some())
        {
            return bad(
                "width",
                "(and --depth/--heads/--intermediate-size) apply to a fresh --preset model, not to --model".into(),
            );
        }
        if let Some(s) = self.window_shift {
            if s > self.context / 2 {
                return bad(
                    "window-shift",
                    format!(
                        "{s} exceeds C/2 = {}: the window [C/2+s, 3C/2+s) must stay inside the 2C-token block",
                        self.context / 2
                    ),
                );
            }
        }
        Ok(())
    }

    /// The learning rate: the given one, or the default for the optimizer and model: the
    /// paper's (SGD 1e-3, Adam 1e-5) except for the `tiny` demo model (1e-2, 1e-3).
    pub fn resolved_lr(&self) -> f64 {
        let tiny = self.model.is_none() && self.preset.eq_ignore_ascii_case("tiny");
        self.lr.unwrap_or(match (self.optimizer, tiny) {
            (Optim::Sgd, false) => 1e-3,
            (Optim::Adam, false) => 1e-5,
            (Optim::Sgd, true) => 1e-2,
            (Optim::Adam, true) => 1e-3,
        })
    }

    /// The initialisation: the given one, or the preset family's own (GPT-2's for the GPT-2
    /// presets, Pythia's otherwise — also recorded for `--model` runs, where it is unused).
    pub fn resolved_init(&self) -> InitScheme {
        let gpt2 = self.model.is_none()
            && crate::model::presets::preset(&self.preset)
                .is_ok_and(|p| p.family == crate::model::presets::PresetFamily::Gpt2);
        self.init.unwrap_or(if gpt2 {
            InitScheme::Gpt2
        } else {
            InitScheme::Pythia
        })
    }

    /// Tokens kept of each document: C, or the 2C block of the random window.
    pub fn tokens_kept(&self) -> usize {
        match self.window_shift {
            Some(_) => self.context.saturating_mul(2),
            None => self.context,
        }
    }
}

/// Which recorders are on. Written as a comma list (`grads,weights`), `all` or `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorders {
    pub grads: bool,
    pub pairwise: bool,
    pub weights: bool,
    pub acts: bool,
}

impl Recorders {
    /// Every recorder.
    pub const ALL: Recorders = Recorders {
        grads: true,
        pairwise: true,
        weights: true,
        acts: true,
    };

    fn names(&self) -> Vec<&'static str> {
        [
            ("grads", self.grads),
            ("pairwise", self.pairwise),
            ("weights", self.weights),
            ("acts", self.acts),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n)
        .collect()
    }
}

impl FromStr for Recorders {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.trim().is_empty() {
            return Err(
                "an empty list; give grads, pairwise, weights, acts (comma-separated), all or none"
                    .into(),
            );
        }
        let mut r = Recorders::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "none" => {}
                "all" => r = Recorders::ALL,
                "grads" => r.grads = true,
                "pairwise" => r.pairwise = true,
                "weights" => r.weights = true,
                "acts" => r.acts = true,
                other => {
                    return Err(format!(
                        "unknown recorder `{other}` (expected a comma-separated list of grads, pairwise, weights, acts, or all/none)"
                    ))
                }
            }
        }
        Ok(r)
    }
}

impl fmt::Display for Recorders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names().as_slice() {
            [] => f.write_str("none"),
            [_, _, _, _] => f.write_str("all"),
            names => f.write_str(&names.join(",")),
        }
    }
}

reawaken_analysis::serde_via_str!(Recorders);
reawaken_analysis::serde_via_str!(InitScheme);

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cfg: ProbeConfig,
    }

    #[test]
    fn flag_defaults_are_the_config_defaults() {
        let m = Cli::command().try_get_matches_from(["x"]).unwrap();
        assert_eq!(
            Cli::from_arg_matches(&m).unwrap().cfg,
            ProbeConfig::default()
        );
    }

    #[test]
    fn every_setting_round_trips_through_json_and_toml() {
        let mut c = ProbeConfig {
            record: "grads,acts".parse().unwrap(),
            init: Some("isotropic:0.05".parse().unwrap()),
            order: Order::PrequentialShuffled,
            insert_random: "20-100".parse().unwrap(),
            ..Default::default()
        };
        c.lr = Some(0.5);
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["record"], "grads,acts");
        assert_eq!(j["order"], "prequential-shuffled");
        assert_eq!(serde_json::from_value::<ProbeConfig>(j).unwrap(), c);
        let t: ProbeConfig = toml::from_str("record = \"all\"\ninit = \"isotropic\"\n").unwrap();
        assert_eq!(t.record, Recorders::ALL);
        assert_eq!(t.init, Some(InitScheme::Isotropic(0.02)));
        assert_eq!("none".parse::<Recorders>().unwrap().to_string(), "none");
        assert!("bogus".parse::<Recorders>().is_err());
    }

    #[test]
    fn validation_names_the_setting() {
        let cases = [
            (
                ProbeConfig {
                    tasks: 0,
                    ..Default::default()
                },
                "tasks",
            ),
            (
                ProbeConfig {
                    acts_task: 10,
                    ..Default::default()
                },
                "acts-task",
            ),
            (
                ProbeConfig {
                    window_shift: Some(33),
                    ..Default::default()
                },
                "window-shift",
            ),
        ];
        for (cfg, want) in cases {
            match cfg.validate() {
                Err(ProbeError::Setting { key, .. }) => assert_eq!(key, want),
                other => panic!("{want}: {other:?}"),
            }
        }
        assert!(ProbeConfig::default().validate().is_ok());
    }

    #[test]
    fn default_lr_is_the_papers_except_for_the_tiny_demo() {
        let lr = |preset: &str, optimizer: Optim, model: Option<&str>| {
            ProbeConfig {
                preset: preset.into(),
                optimizer,
                model: model.map(PathBuf::from),
                ..Default::default()
            }
            .resolved_lr()
        };
        // The authors' from-scratch scripts and the paper (A): SGD 1e-3, Adam 1e-5.
        assert_eq!(lr("1b", Optim::Sgd, None), 1e-3);
        assert_eq!(lr("pythia-160m", Optim::Adam, None), 1e-5);
        assert_eq!(lr("tiny", Optim::Sgd, Some("m")), 1e-3);
        assert_eq!(lr("tiny", Optim::Sgd, None), 1e-2);
        assert_eq!(lr("tiny", Optim::Adam, None), 1e-3);
        assert_eq!(ProbeConfig::default().tokens_kept(), 64);
        let w = ProbeConfig {
            window_shift: Some(0),
            ..Default::default()
        };
        assert_eq!(w.tokens_kept(), 128);
    }
}
