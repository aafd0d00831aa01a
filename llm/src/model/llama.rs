//! The Llama family on tch — `llama` (Llama 2/3), `qwen2` (Qwen2, Qwen2.5) and `mistral`
//! — following Hugging Face `modeling_llama.py`, `modeling_qwen2.py` and
//! `modeling_mistral.py` (`*ForCausalLM`):
//!
//! - `model.embed_tokens` → `num_hidden_layers` × block → `model.norm` (RMSNorm) →
//!   `lm_head` (tied to `embed_tokens` when `tie_word_embeddings`).
//! - block: `h = x + self_attn(input_layernorm(x))`, `h + mlp(post_attention_layernorm(h))`.
//! - attention: `q_proj`, `k_proj`, `v_proj` (grouped-query: `num_key_value_heads` key and
//!   value heads, each shared by `num_attention_heads / num_key_value_heads` query heads),
//!   rotary embeddings on the whole head (`rope_theta`; `rope_scaling` / `rope_parameters`
//!   of type default, linear or llama3), causal softmax attention with scale `head_dim^-½`
//!   (Mistral's and Qwen2's sliding window where the config enables it), `o_proj`.
//!   Biases: Qwen2 on q, k, v; Llama and Mistral where `attention_bias`.
//! - MLP (SwiGLU): `down_proj(silu(gate_proj(x)) · up_proj(x))`.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tch::nn;
use tch::{Device, Kind, Tensor};

use crate::model::error::{LlmError, Result};
use crate::model::family;
use crate::model::layers::{
    apply_rotary, causal_attention, embed, output_matrix, repeat_kv, rope_cos_sin, rope_inv_freq,
    size3, var, Activation, Linear, Registry, RmsNorm, EMPTY,
};

/// The `model_type`s this file builds.
pub const MODEL_TYPES: [&str; 3] = ["llama", "qwen2", "mistral"];

/// A Llama-family `config.json` (names as in Hugging Face `LlamaConfig`, `Qwen2Config`,
/// `MistralConfig`). Keys whose default differs between the three are optional here and
/// resolved by the methods; every key we do not use is kept in [`LlamaConfig::extra`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    #[serde(default)]
    pub architectures: Vec<String>,
    /// `llama`, `qwen2` or `mistral`.
    pub model_type: String,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<i64>,
    /// Per-head width; `None` means `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<i64>,
    #[serde(default = "silu")]
    pub hidden_act: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_position_embeddings: Option<i64>,
    #[serde(default = "d_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "d_init")]
    pub initializer_range: f64,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Transformers 4.x: the RoPE base (with `rope_scaling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<Value>,
    /// Transformers 5.x: `{rope_type, rope_theta, …}` (takes precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<Value>,
    /// Llama: biases on q, k, v and o (Qwen2 always has q, k, v biases; Mistral none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Llama: biases on the MLP projections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    /// Every other key (`bos_token_id`, `sliding_window`, `layer_types`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn silu() -> String {
    "silu".to_string()
}
fn d_eps() -> f64 {
    1e-6
}
fn d_init() -> f64 {
    0.02
}

/// How the rotary frequencies are derived (`rope_type`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeKind {
    Default,
    /// Positions divided by `factor`.
    Linear {
        factor: f64,
    },
    /// Llama 3.1's frequency-dependent scaling.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// The rotary embedding a config asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    pub theta: f64,
    pub kind: RopeKind,
}

impl LlamaConfig {
    /// Parses and validates a `config.json` value; `path` is only used in messages.
    pub fn from_value(value: Value, path: &Path) -> Result<Self> {
        family::typed_config(value, path, |c: &mut LlamaConfig| {
            family::drop_derived_keys(&mut c.extra);
            c.validate()
        })
    }

    /// Checks that the numbers describe a model we can build; the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !MODEL_TYPES.contains(&self.model_type.as_str()) {
            return Err(format!(
                "model_type {:?} is not a Llama-family type",
                self.model_type
            ));
        }
        family::check_positive(&[
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("head_dim", self.head_dim()),
        ])?;
        if self.head_dim.is_none() && self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size = {} is not divisible by num_attention_heads = {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.num_attention_heads % self.kv_heads() != 0 {
            return Err(format!(
                "num_attention_heads = {} is not a multiple of num_key_value_heads = {}",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if self.head_dim() % 2 != 0 {
            return Err(format!(
                "head_dim = {} must be even for rotary embeddings",
                self.head_dim()
            ));
        }
        family::check_eps("rms_norm_eps", self.rms_norm_eps)?;
        self.activation()?;
        self.rope()?;
        match self.extra.get("sliding_window") {
            None | Some(Value::Null) => {}
            Some(v) if v.as_i64().is_some_and(|w| w > 0) => {}
            Some(v) => return Err(format!("sliding_window = {v} must be a positive integer")),
        }
        family::check_token_ids(&self.extra, self.vocab_size)
    }

    pub fn activation(&self) -> std::result::Result<Activation, String> {
        Activation::from_hf("hidden_act", &self.hidden_act)
    }

    /// Key/value heads (grouped-query attention); `num_attention_heads` when absent or
    /// null, as the configs' `__post_init__` does.
    pub fn kv_heads(&self) -> i64 {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    pub fn head_dim(&self) -> i64 {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Whether q, k, v have biases (Qwen2: always; Llama: `attention_bias`).
    fn qkv_bias(&self) -> bool {
        self.model_type == "qwen2" || self.o_bias()
    }

    /// Whether o_proj has a bias (Llama: `attention_bias`).
    fn o_bias(&self) -> bool {
        self.model_type == "llama" && self.attention_bias == Some(true)
    }

    /// Whether the MLP projections have biases (Llama: `mlp_bias`).
    fn mlp_bias(&self) -> bool {
        self.model_type == "llama" && self.mlp_bias == Some(true)
    }

    /// The rotary embedding, from `rope_scaling` (4.x, with `rope_theta`) or
    /// `rope_parameters` (Transformers 5); an unsupported `rope_type` is refused by name.
    pub fn rope(&self) -> std::result::Result<Rope, String> {
        // Transformers' `convert_rope_params_to_dict`: `rope_scaling or rope_parameters`.
        let dict = self
            .rope_scaling
            .as_ref()
            .filter(|v| !v.is_null())
            .map(|v| ("rope_scaling", v))
            .or_else(|| {
                self.rope_parameters
                    .as_ref()
                    .filter(|v| !v.is_null())
                    .map(|v| ("rope_parameters", v))
            });
        let empty = Map::new();
        let (key, obj) = match dict {
            Some((key, v)) => (
                key,
                v.as_object()
                    .ok_or_else(|| format!("{key} must be an object"))?,
            ),
            None => ("rope_parameters", &empty),
        };
        let num = |k: &str| obj.get(k).and_then(Value::as_f64);
        let need = |k: &str| {
            num(k).ok_or_else(|| format!("{key} of this rope_type needs a numeric {k:?}"))
        };
        let theta = num("rope_theta").or(self.rope_theta).unwrap_or(10000.0);
        if !(theta.is_finite() && theta > 0.0) {
            return Err(format!("rope_theta = {theta} must be positive"));
        }
        if let Some(p) = num("partial_rotary_factor").or_else(|| {
            self.extra
                .get("partial_rotary_factor")
                .and_then(Value::as_f64)
        }) {
            if p != 1.0 {
                return Err(format!(
                    "partial_rotary_factor = {p} is not supported for {} (only 1.0)",
                    self.model_type
                ));
            }
        }
        let ty = obj
            .get("rope_type")
            .or_else(|| obj.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let kind = match ty {
            "default" => RopeKind::Default,
            "linear" => RopeKind::Linear {
                factor: need("factor")?,
            },
            "llama3" => RopeKind::Llama3 {
                factor: need("factor")?,
                low_freq_factor: need("low_freq_factor")?,
                high_freq_factor: need("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")
                    .or(self.max_position_embeddings.map(|m| m as f64))
                    .ok_or_else(|| {
                        format!("{key} of rope_type llama3 needs original_max_position_embeddings")
                    })?,
            },
            other => {
                return Err(format!(
                    "{key}.rope_type = {other:?} is not supported (default, linear, llama3)"
                ))
            }
        };
        match kind {
            RopeKind::Linear { factor } | RopeKind::Llama3 { factor, .. }
                if !(factor.is_finite() && factor > 0.0) =>
            {
                Err(format!("{key}.factor = {factor} must be positive"))
            }
            RopeKind::Llama3 {
                low_freq_factor,
                high_freq_factor,
                ..
            } if high_freq_factor == low_freq_factor => Err(format!(
                "{key}: high_freq_factor and low_freq_factor must differ"
            )),
            _ => Ok(Rope { theta, kind }),
        }
    }

    /// The sliding window of `layer`, if the config enables one there (Mistral:
    /// `sliding_window` on every layer; Qwen2: with `use_sliding_window`, on the layers
    /// `layer_types` marks `sliding_attention`, by default those ≥ `max_window_layers`).
    pub fn sliding_window(&self, layer: i64) -> std::result::Result<Option<i64>, String> {
        let int = |k: &str| self.extra.get(k).and_then(Value::as_i64);
        match self.model_type.as_str() {
            "mistral" => match self.extra.get("sliding_window") {
                None => Ok(Some(4096)),
                Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| format!("sliding_window = {v} is not an integer")),
            },
            "qwen2" => {
                let on = self
                    .extra
                    .get("use_sliding_window")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if !on {
                    return Ok(None);
                }
                // Qwen2Config's default window when the key is absent.
                let w = match self.extra.get("sliding_window") {
                    None => 4096,
                    Some(v) => match v.as_i64() {
                        Some(w) => w,
                        None => return Ok(None),
                    },
                };
                let sliding = match self.extra.get("layer_types").and_then(Value::as_array) {
                    Some(types) => {
                        types.get(layer as usize).and_then(Value::as_str)
                            == Some("sliding_attention")
                    }
                    None => layer >= int("max_window_layers").unwrap_or(28),
                };
                Ok(sliding.then_some(w))
            }
            _ => Ok(None),
        }
    }

    /// Number of parameters (an untied `lm_head` counted separately), saturating.
    pub fn num_parameters(&self) -> i64 {
        let count = || -> Option<i64> {
            let (d, i) = (self.hidden_size, self.intermediate_size);
            let q = self.num_attention_heads.checked_mul(self.head_dim())?;
            let kv = self.kv_heads().checked_mul(self.head_dim())?;
            let qkv_b = if self.qkv_bias() {
                q.checked_add(kv.checked_mul(2)?)?
            } else {
                0
            };
            let o_b = if self.o_bias() { d } else { 0 };
            let mlp_b = if self.mlp_bias() {
                i.checked_mul(2)?.checked_add(d)?
            } else {
                0
            };
            let per_layer = [
                d.checked_mul(q.checked_add(kv.checked_mul(2)?)?)?,
                q.checked_mul(d)?,
                qkv_b,
                o_b,
                d.checked_mul(i)?.checked_mul(3)?,
                mlp_b,
                d.checked_mul(2)?,
            ]
            .into_iter()
            .try_fold(0i64, i64::checked_add)?;
            let vd = self.vocab_size.checked_mul(d)?;
            let emb = if self.tie_word_embeddings {
                vd
            } else {
                vd.checked_mul(2)?
            };
            emb.checked_add(self.num_hidden_layers.checked_mul(per_layer)?)?
                .checked_add(d)
        };
        count().unwrap_or(i64::MAX)
    }

    /// The rotary inverse frequencies `[head_dim/2]` of `rope` (float32, as Transformers
    /// computes them).
    fn inv_freq(&self, rope: Rope, device: Device) -> Tensor {
        let inv = rope_inv_freq(self.head_dim(), rope.theta, device);
        match rope.kind {
            RopeKind::Default => inv,
            RopeKind::Linear { factor } => inv / factor,
            RopeKind::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: old,
            } => {
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                let wavelen =
                    (inv.reciprocal() * (2.0 * std::f64::consts::PI)).to_kind(Kind::Float);
                let scaled = (&inv / factor).where_self(&wavelen.gt(low_wavelen), &inv);
                let smooth = (wavelen.reciprocal() * old - low_freq_factor)
                    / (high_freq_factor - low_freq_factor);
                let smoothed =
                    (smooth.ones_like() - &smooth) * &scaled / factor + &smooth * &scaled;
                let medium = wavelen
                    .lt(high_wavelen)
                    .logical_not()
                    .logical_and(&wavelen.gt(low_wavelen).logical_not());
                smoothed.where_self(&medium, &scaled)
            }
        }
    }
}

#[derive(Debug)]
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    n_head: i64,
    n_kv: i64,
    head_dim: i64,
    window: Option<i64>,
}

impl Attention {
    fn new(
        p: nn::Path,
        cfg: &LlamaConfig,
        window: Option<i64>,
        reg: &mut Registry,
    ) -> Result<Self> {
        let (d, hd) = (cfg.hidden_size, cfg.head_dim());
        let (h, kv) = (cfg.num_attention_heads, cfg.kv_heads());
        let b = cfg.qkv_bias();
        Ok(Attention {
            q_proj: Linear::new(&p / "q_proj", d, h * hd, b, reg)?,
            k_proj: Linear::new(&p / "k_proj", d, kv * hd, b, reg)?,
            v_proj: Linear::new(&p / "v_proj", d, kv * hd, b, reg)?,
            o_proj: Linear::new(&p / "o_proj", h * hd, d, cfg.o_bias(), reg)?,
            n_head: h,
            n_kv: kv,
            head_dim: hd,
            window,
        })
    }

    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (b, s, _) = size3(x, "attention input")?;
        let hd = self.head_dim;
        let heads = |t: Tensor, n: i64| t.view([b, s, n, hd]).transpose(1, 2);
        let q = heads(self.q_proj.forward(x), self.n_head);
        let k = heads(self.k_proj.forward(x), self.n_kv);
        let v = heads(self.v_proj.forward(x), self.n_kv);
        let q = apply_rotary(&q, cos, sin, hd);
        let k = apply_rotary(&k, cos, sin, hd);
        let rep = self.n_head / self.n_kv;
        let y = causal_attention(
            &q,
            &repeat_kv(&k, rep),
            &repeat_kv(&v, rep),
            (hd as f64).powf(-0.5),
            self.window,
        );
        let y = y
            .transpose(1, 2)
            .contiguous()
            .view([b, s, self.n_head * hd]);
        Ok(self.o_proj.forward(&y))
    }
}

#[derive(Debug)]
struct Block {
    self_attn: Attention,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    act: Activation,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

impl Block {
    fn new(p: nn::Path, cfg: &LlamaConfig, layer: i64, reg: &mut Registry) -> Result<Self> {
        let (d, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.rms_norm_eps);
        let window = cfg.sliding_window(layer).map_err(LlmError::InvalidShape)?;
        let self_attn = Attention::new(&p / "self_attn", cfg, window, reg)?;
        let mp = &p / "mlp";
        let mb = cfg.mlp_bias();
        Ok(Block {
            self_attn,
            gate_proj: Linear::new(&mp / "gate_proj", d, i, mb, reg)?,
            up_proj: Linear::new(&mp / "up_proj", d, i, mb, reg)?,
            down_proj: Linear::new(&mp / "down_proj", i, d, mb, reg)?,
            act: cfg.activation().map_err(LlmError::InvalidShape)?,
            input_layernorm: RmsNorm::new(&p / "input_layernorm", d, eps, reg)?,
            post_attention_layernorm: RmsNorm::new(&p / "post_attention_layernorm", d, eps, reg)?,
        })
    }

    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let h = self
            .self_attn
            .forward(&self.input_layernorm.forward(x), cos, sin)?
            + x;
        let n = self.post_attention_layernorm.forward(&h);
        let m = self
            .down_proj
            .forward(&(self.act.apply(&self.gate_proj.forward(&n)) * self.up_proj.forward(&n)));
        Ok(h + m)
    }
}

/// A `LlamaForCausalLM` / `Qwen2ForCausalLM` / `MistralForCausalLM` on tch.
#[derive(Debug)]
pub struct Llama {
    embed_tokens: Tensor,
    layers: Vec<Block>,
    norm: RmsNorm,
    lm_head: Tensor,
    /// The config's rotary embedding, parsed once.
    rope: Rope,
    cfg: LlamaConfig,
    params: Registry,
}

impl Llama {
    /// The model's variables under `p` (normally `vs.root()`), empty (see [`EMPTY`]).
    pub(crate) fn new(p: &nn::Path, cfg: &LlamaConfig) -> Result<Self> {
        cfg.validate().map_err(LlmError::InvalidShape)?;
        let mut reg = Registry::new();
        let m = p / "model";
        let (v, d) = (cfg.vocab_size, cfg.hidden_size);
        let embed_tokens = var(&(&m / "embed_tokens"), "weight", &[v, d], EMPTY, &mut reg)?;
        let mut layers = Vec::new();
        for layer in 0..cfg.num_hidden_layers {
            layers.push(Block::new(&m / "layers" / layer, cfg, layer, &mut reg)?);
        }
        let norm = RmsNorm::new(&m / "norm", d, cfg.rms_norm_eps, &mut reg)?;
        let lm_head = output_matrix(
            p / "lm_head",
            &embed_tokens,
            cfg.tie_word_embeddings,
            v,
            &mut reg,
        )?;
        Ok(Llama {
            rope: cfg.rope().map_err(LlmError::InvalidShape)?,
            embed_tokens,
            layers,
            norm,
            lm_head,
            cfg: cfg.clone(),
            params: reg,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Final hidden states `[B,S,D]` (after `model.norm`).
    pub fn hidden_states(&self, input_ids: &Tensor) -> Result<Tensor> {
        let seq_len = input_ids.size().last().copied().unwrap_or(0);
        let mut x = embed(&self.embed_tokens, input_ids);
        let inv_freq = self.cfg.inv_freq(self.rope, x.device());
        let (cos, sin) = rope_cos_sin(&inv_freq, seq_len, 1.0, x.kind());
        for layer in &self.layers {
            x = layer.forward(&x, &cos, &sin)?;
        }
        Ok(self.norm.forward(&x))
    }

    pub(crate) fn output_weight(&self) -> &Tensor {
        &self.lm_head
    }

    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        family::clone_registry(&self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(model_type: &str, extra: Value) -> std::result::Result<LlamaConfig, String> {
        let mut v = serde_json::json!({
            "model_type": model_type, "vocab_size": 10, "hidden_size": 8,
            "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        LlamaConfig::from_value(v, Path::new("config.json")).map_err(|e| e.to_string())
    }

    #[test]
    fn rope_scaling_wins_over_rope_parameters_as_in_transformers() {
        let c = config(
            "llama",
            serde_json::json!({
                "rope_theta": 500000.0,
                "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0},
                "rope_parameters": {"rope_type": "default", "rope_theta": 1.0},
                "max_position_embeddings": 8192,
            }),
        )
        .unwrap();
        let rope = c.rope().unwrap();
        assert_eq!(rope.theta, 500000.0);
        // original_max_position_embeddings falls back to max_position_embeddings.
        assert_eq!(
            rope.kind,
            RopeKind::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192.0
            }
        );
        let e = config(
            "llama",
            serde_json::json!({"rope_scaling": {"type": "yarn", "factor": 4.0}}),
        )
        .unwrap_err();
        assert!(e.contains("\"yarn\" is not supported"), "{e}");
    }

    #[test]
    fn key_value_heads_and_sliding_windows_follow_the_configs() {
        let q = config("qwen2", serde_json::json!({"num_key_value_heads": null})).unwrap();
        assert_eq!(q.kv_heads(), 2);
        let q = config(
            "qwen2",
            serde_json::json!({"use_sliding_window": true, "max_window_layers": 1}),
        )
        .unwrap();
        assert_eq!(
            (q.sliding_window(0), q.sliding_window(1)),
            (Ok(None), Ok(Some(4096)))
        );
        let off = config("qwen2", serde_json::json!({"sliding_window": 16})).unwrap();
        assert_eq!(off.sliding_window(1), Ok(None));
        let m = config("mistral", serde_json::json!({"sliding_window": null})).unwrap();
        assert_eq!(m.sliding_window(0), Ok(None));
        let m = config("mistral", serde_json::json!({})).unwrap();
        assert_eq!(m.sliding_window(0), Ok(Some(4096)));
        let e = config("mistral", serde_json::json!({"sliding_window": -3})).unwrap_err();
        assert!(e.contains("sliding_window"), "{e}");
    }
}
