//! GPT-2 and Image GPT on tch, following Hugging Face
//! `transformers/models/gpt2/modeling_gpt2.py` (`GPT2LMHeadModel`) and
//! `imagegpt/modeling_imagegpt.py` (`ImageGPTForCausalImageModeling`):
//!
//! - `transformer.wte` (tokens) + `transformer.wpe` (learned positions, at most
//!   `n_positions`) → `n_layer` × block → `transformer.ln_f` → `lm_head` (tied to `wte`
//!   unless `tie_word_embeddings = false`).
//! - block: `h = x + attn(ln_1(x))`, `h + mlp(ln_2(h))`.
//! - attention: fused `c_attn` split into q, k, v (each `n_embd` wide), causal softmax
//!   attention with scale `hd^-½` (1 without `scale_attn_weights`, divided by `layer + 1`
//!   with `scale_attn_by_inverse_layer_idx`), output projection `c_proj`.
//! - MLP: `c_fc` (`n_inner`, default 4·`n_embd`) → `activation_function` → `c_proj`.
//! - Every projection is a `Conv1D`: its `weight` is stored `[in, out]`.
//! - Image GPT (`model_type: imagegpt`) is the same network with `ImageGPTLayerNorm`
//!   (`weight · x / √(mean(x²) + ε)`, no bias), `quick_gelu` by default, and an untied
//!   `lm_head` of `vocab_size − 1` rows (the start-of-sequence id is never predicted).
//!
//! Dropout is not applied: the probe trains deterministically (see docs/model-families.md).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tch::nn;
use tch::Tensor;

use crate::model::error::{LlmError, Result};
use crate::model::family;
use crate::model::layers::{
    causal_attention, embed, output_matrix, size3, var, Activation, Conv1D, ImageGptNorm,
    LayerNorm, Registry, EMPTY,
};

/// GPT-2's `config.json` (names and defaults as Hugging Face `GPT2Config`). Keys we do
/// not use are kept in [`Gpt2Config::extra`] and written back on save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    #[serde(default = "gpt2_architectures")]
    pub architectures: Vec<String>,
    #[serde(default = "gpt2_model_type")]
    pub model_type: String,
    #[serde(default = "d_vocab")]
    pub vocab_size: i64,
    #[serde(default = "d_positions")]
    pub n_positions: i64,
    #[serde(default = "d_embd")]
    pub n_embd: i64,
    #[serde(default = "d_layer")]
    pub n_layer: i64,
    #[serde(default = "d_layer")]
    pub n_head: i64,
    /// MLP width; `None` means 4·`n_embd`.
    #[serde(default)]
    pub n_inner: Option<i64>,
    /// `None`: GPT-2's `gelu_new`, Image GPT's `quick_gelu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_function: Option<String>,
    #[serde(default = "d_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    #[serde(default = "yes")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// `None`: tied for GPT-2; Image GPT never ties (its `lm_head` has one row fewer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    /// Every other key (`bos_token_id`, the dropouts, …), written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn gpt2_architectures() -> Vec<String> {
    vec!["GPT2LMHeadModel".to_string()]
}
fn gpt2_model_type() -> String {
    "gpt2".to_string()
}
fn d_vocab() -> i64 {
    50257
}
fn d_positions() -> i64 {
    1024
}
fn d_embd() -> i64 {
    768
}
fn d_layer() -> i64 {
    12
}
fn d_eps() -> f64 {
    1e-5
}
fn d_init() -> f64 {
    0.02
}
fn yes() -> bool {
    true
}

impl Gpt2Config {
    /// A GPT-2 shape with GPT-2's defaults (gelu_new, tied embeddings, eos = bos = 50256
    /// when the vocabulary has it, no dropout).
    pub fn gpt2(vocab: i64, positions: i64, width: i64, depth: i64, heads: i64) -> Self {
        let mut extra = Map::new();
        for k in ["resid_pdrop", "embd_pdrop", "attn_pdrop"] {
            extra.insert(k.to_string(), Value::from(0.0));
        }
        let eos = if vocab > 50256 {
            Value::from(50256)
        } else {
            Value::Null
        };
        extra.insert("bos_token_id".to_string(), eos.clone());
        extra.insert("eos_token_id".to_string(), eos);
        Gpt2Config {
            architectures: gpt2_architectures(),
            model_type: gpt2_model_type(),
            vocab_size: vocab,
            n_positions: positions,
            n_embd: width,
            n_layer: depth,
            n_head: heads,
            n_inner: None,
            activation_function: Some("gelu_new".to_string()),
            layer_norm_epsilon: d_eps(),
            initializer_range: d_init(),
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            tie_word_embeddings: Some(true),
            extra,
        }
    }

    /// Parses and validates a `config.json` value; `path` is only used in messages.
    pub fn from_value(mut value: Value, path: &Path) -> Result<Self> {
        // ImageGPTConfig's defaults where its config.json leaves a key out.
        if let Some(obj) = value.as_object_mut() {
            if obj.get("model_type").and_then(Value::as_str) == Some("imagegpt") {
                for (k, v) in [
                    ("vocab_size", Value::from(513)),
                    ("n_embd", Value::from(512)),
                    ("n_layer", Value::from(24)),
                    ("n_head", Value::from(8)),
                ] {
                    obj.entry(k).or_insert(v);
                }
            }
        }
        family::typed_config(value, path, |c: &mut Gpt2Config| {
            family::drop_derived_keys(&mut c.extra);
            c.validate()
        })
    }

    /// Checks that the numbers describe a model we can build; the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        family::check_positive(&[
            ("vocab_size", self.vocab_size),
            ("n_positions", self.n_positions),
            ("n_embd", self.n_embd),
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_inner", self.intermediate_size()),
        ])?;
        if self.n_embd % self.n_head != 0 {
            return Err(format!(
                "n_embd = {} is not divisible by n_head = {}",
                self.n_embd, self.n_head
            ));
        }
        family::check_eps("layer_norm_epsilon", self.layer_norm_epsilon)?;
        self.activation()?;
        if self.is_image_gpt() && self.vocab_size < 2 {
            return Err(format!(
                "vocab_size = {} leaves Image GPT no colour cluster (clusters + 1 start-of-sequence id)",
                self.vocab_size
            ));
        }
        if self.extra.get("add_cross_attention") == Some(&Value::Bool(true)) {
            return Err(
                "add_cross_attention = true (an encoder-decoder GPT-2) is not supported".into(),
            );
        }
        family::check_token_ids(&self.extra, self.vocab_size)
    }

    /// Whether this is Image GPT (`model_type: imagegpt`).
    pub fn is_image_gpt(&self) -> bool {
        self.model_type == "imagegpt"
    }

    pub fn activation(&self) -> std::result::Result<Activation, String> {
        let default = if self.is_image_gpt() {
            "quick_gelu"
        } else {
            "gelu_new"
        };
        let name = self.activation_function.as_deref().unwrap_or(default);
        Activation::from_hf("activation_function", name)
    }

    /// Whether `lm_head` is `wte` (GPT-2's default; never for Image GPT).
    pub fn tied(&self) -> bool {
        !self.is_image_gpt() && self.tie_word_embeddings.unwrap_or(true)
    }

    /// Rows of the output matrix: the vocabulary, less Image GPT's start-of-sequence id.
    pub fn output_rows(&self) -> i64 {
        if self.is_image_gpt() {
            self.vocab_size - 1
        } else {
            self.vocab_size
        }
    }

    /// MLP width: `n_inner`, or 4·`n_embd`.
    pub fn intermediate_size(&self) -> i64 {
        self.n_inner.unwrap_or(self.n_embd.saturating_mul(4))
    }

    /// Number of parameters (an untied `lm_head` counted separately), saturating.
    pub fn num_parameters(&self) -> i64 {
        let count = || -> Option<i64> {
            let (d, i) = (self.n_embd, self.intermediate_size());
            // A LayerNorm has a weight and a bias, Image GPT's norm a weight only.
            let norm = if self.is_image_gpt() {
                d
            } else {
                d.checked_mul(2)?
            };
            let per_layer = [
                norm.checked_mul(2)?,              // ln_1, ln_2
                d.checked_mul(d)?.checked_mul(3)?, // c_attn
                d.checked_mul(3)?,                 // its bias
                d.checked_mul(d)?.checked_add(d)?, // attn.c_proj
                d.checked_mul(i)?.checked_add(i)?, // c_fc
                d.checked_mul(i)?.checked_add(d)?, // mlp.c_proj
            ]
            .into_iter()
            .try_fold(0i64, i64::checked_add)?;
            let vd = self.vocab_size.checked_mul(d)?;
            let emb = if self.tied() {
                vd
            } else {
                vd.checked_add(self.output_rows().checked_mul(d)?)?
            };
            emb.checked_add(self.n_positions.checked_mul(d)?)?
                .checked_add(self.n_layer.checked_mul(per_layer)?)?
                .checked_add(norm)
        };
        count().unwrap_or(i64::MAX)
    }
}

/// GPT-2's LayerNorm or Image GPT's weight-only norm.
#[derive(Debug)]
enum Norm {
    Layer(LayerNorm),
    ImageGpt(ImageGptNorm),
}

impl Norm {
    fn new(p: nn::Path, cfg: &Gpt2Config, reg: &mut Registry) -> Result<Self> {
        let (d, eps) = (cfg.n_embd, cfg.layer_norm_epsilon);
        Ok(if cfg.is_image_gpt() {
            Norm::ImageGpt(ImageGptNorm::new(p, d, eps, reg)?)
        } else {
            Norm::Layer(LayerNorm::new(p, d, eps, reg)?)
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Norm::Layer(n) => n.forward(x),
            Norm::ImageGpt(n) => n.forward(x),
        }
    }
}

#[derive(Debug)]
struct Attention {
    c_attn: Conv1D,
    c_proj: Conv1D,
    n_head: i64,
    scale: f64,
}

impl Attention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, s, d) = size3(x, "attention input")?;
        let hd = d / self.n_head;
        let qkv = self.c_attn.forward(x);
        let heads = |i: i64| {
            qkv.narrow(-1, i * d, d)
                .view([b, s, self.n_head, hd])
                .transpose(1, 2)
        };
        let y = causal_attention(&heads(0), &heads(1), &heads(2), self.scale, None);
        let y = y.transpose(1, 2).contiguous().view([b, s, d]);
        Ok(self.c_proj.forward(&y))
    }
}

#[derive(Debug)]
struct Block {
    ln_1: Norm,
    attn: Attention,
    ln_2: Norm,
    c_fc: Conv1D,
    mlp_proj: Conv1D,
    act: Activation,
}

impl Block {
    fn new(p: nn::Path, cfg: &Gpt2Config, layer: i64, reg: &mut Registry) -> Result<Self> {
        let (d, i) = (cfg.n_embd, cfg.intermediate_size());
        let mut scale = if cfg.scale_attn_weights {
            ((d / cfg.n_head) as f64).powf(-0.5)
        } else {
            1.0
        };
        if cfg.scale_attn_by_inverse_layer_idx {
            scale /= (layer + 1) as f64;
        }
        let ln_1 = Norm::new(&p / "ln_1", cfg, reg)?;
        let ap = &p / "attn";
        let attn = Attention {
            c_attn: Conv1D::new(&ap / "c_attn", d, 3 * d, reg)?,
            c_proj: Conv1D::new(&ap / "c_proj", d, d, reg)?,
            n_head: cfg.n_head,
            scale,
        };
        let ln_2 = Norm::new(&p / "ln_2", cfg, reg)?;
        let mp = &p / "mlp";
        Ok(Block {
            ln_1,
            attn,
            ln_2,
            c_fc: Conv1D::new(&mp / "c_fc", d, i, reg)?,
            mlp_proj: Conv1D::new(&mp / "c_proj", i, d, reg)?,
            act: cfg.activation().map_err(LlmError::InvalidShape)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.attn.forward(&self.ln_1.forward(x))? + x;
        let m = self
            .mlp_proj
            .forward(&self.act.apply(&self.c_fc.forward(&self.ln_2.forward(&h))));
        Ok(m + h)
    }
}

/// A `GPT2LMHeadModel` on tch.
#[derive(Debug)]
pub struct Gpt2 {
    wte: Tensor,
    wpe: Tensor,
    h: Vec<Block>,
    ln_f: Norm,
    lm_head: Tensor,
    cfg: Gpt2Config,
    params: Registry,
}

impl Gpt2 {
    /// The model's variables under `p` (normally `vs.root()`), empty (see [`EMPTY`]).
    pub(crate) fn new(p: &nn::Path, cfg: &Gpt2Config) -> Result<Self> {
        cfg.validate().map_err(LlmError::InvalidShape)?;
        let mut reg = Registry::new();
        let t = p / "transformer";
        let d = cfg.n_embd;
        let wte = var(
            &(&t / "wte"),
            "weight",
            &[cfg.vocab_size, d],
            EMPTY,
            &mut reg,
        )?;
        let wpe = var(
            &(&t / "wpe"),
            "weight",
            &[cfg.n_positions, d],
            EMPTY,
            &mut reg,
        )?;
        let mut h = Vec::new();
        for layer in 0..cfg.n_layer {
            h.push(Block::new(&t / "h" / layer, cfg, layer, &mut reg)?);
        }
        let ln_f = Norm::new(&t / "ln_f", cfg, &mut reg)?;
        let rows = cfg.output_rows();
        let lm_head = output_matrix(p / "lm_head", &wte, cfg.tied(), rows, &mut reg)?;
        Ok(Gpt2 {
            wte,
            wpe,
            h,
            ln_f,
            lm_head,
            cfg: cfg.clone(),
            params: reg,
        })
    }

    pub fn config(&self) -> &Gpt2Config {
        &self.cfg
    }

    /// Final hidden states `[B,S,D]` (after `ln_f`). At most `n_positions` tokens.
    pub fn hidden_states(&self, input_ids: &Tensor) -> Result<Tensor> {
        let seq_len = input_ids.size().last().copied().unwrap_or(0);
        if seq_len > self.cfg.n_positions {
            return Err(LlmError::InvalidShape(format!(
                "a sequence of {seq_len} tokens is longer than GPT-2's n_positions = {}",
                self.cfg.n_positions
            )));
        }
        let pos = Tensor::arange(seq_len, (tch::Kind::Int64, input_ids.device()));
        let mut x = embed(&self.wte, input_ids) + embed(&self.wpe, &pos);
        for block in &self.h {
            x = block.forward(&x)?;
        }
        Ok(self.ln_f.forward(&x))
    }

    /// The output matrix `[V, D]` (`wte` when tied).
    pub(crate) fn output_weight(&self) -> &Tensor {
        &self.lm_head
    }

    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        family::clone_registry(&self.params)
    }
}
