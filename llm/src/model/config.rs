//! `GptNeoXConfig`: a mirror of Hugging Face's GPT-NeoX `config.json`.
//!
//! Reads both the classic form (`rotary_pct`, `rotary_emb_base`, as in the Pythia
//! checkpoints) and the forms newer Transformers write (`rope_theta`,
//! `partial_rotary_factor`, `rope_parameters: {rope_theta, partial_rotary_factor,
//! rope_type}`). Fields we do not use are kept in [`GptNeoXConfig::extra`] and written
//! back on save, so a config survives a load/save round trip.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::error::{LlmError, Result};
use crate::model::family;
use crate::model::layers::Activation;

/// The GPT-NeoX hyper-parameters (names as in Hugging Face `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawConfig", into = "Value")]
pub struct GptNeoXConfig {
    /// e.g. `["GPTNeoXForCausalLM"]`.
    pub architectures: Vec<String>,
    /// `"gpt_neox"`.
    pub model_type: String,
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    /// Fraction of each head's dimensions that get rotary embeddings (Pythia: 0.25).
    pub rotary_pct: f64,
    /// RoPE base θ (Pythia: 10000).
    pub rotary_emb_base: f64,
    pub max_position_embeddings: i64,
    pub layer_norm_eps: f64,
    /// Pythia: true (attention and MLP read the same input, both added to the residual).
    pub use_parallel_residual: bool,
    /// `gelu` (exact, Pythia), `gelu_new`/`gelu_pytorch_tanh`/`gelu_fast` (tanh approximation) or `relu`.
    pub hidden_act: String,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<i64>,
    pub eos_token_id: Option<i64>,
    /// Biases on `query_key_value` and `dense` (Pythia: true).
    pub attention_bias: bool,
    /// σ of the default normal initialisation (HF `initializer_range`).
    pub initializer_range: f64,
    /// Every other key of `config.json`, written back unchanged by `save_hf_dir`.
    pub extra: Map<String, Value>,
}

impl GptNeoXConfig {
    /// A Pythia-style config (parallel residual, rotary 25 %, base 10000, untied, eos = bos = 0).
    pub fn pythia(vocab: i64, width: i64, depth: i64, heads: i64) -> Self {
        GptNeoXConfig {
            architectures: vec!["GPTNeoXForCausalLM".to_string()],
            model_type: "gpt_neox".to_string(),
            vocab_size: vocab,
            hidden_size: width,
            num_hidden_layers: depth,
            num_attention_heads: heads,
            intermediate_size: 4 * width,
            rotary_pct: 0.25,
            rotary_emb_base: 10000.0,
            max_position_embeddings: 2048,
            layer_norm_eps: 1e-5,
            use_parallel_residual: true,
            hidden_act: "gelu".to_string(),
            tie_word_embeddings: false,
            bos_token_id: Some(0),
            eos_token_id: Some(0),
            attention_bias: true,
            initializer_range: 0.02,
            extra: Map::new(),
        }
    }

    /// Parses and validates a `config.json` text; `path` is only used in messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        Self::from_value(family::parse_json(text, path)?, path)
    }

    /// Validates a parsed `config.json`, which must be a GPT-NeoX one (the architecture is
    /// looked at first, see [`family::checked_model_type`]).
    pub fn from_value(value: Value, path: &Path) -> Result<Self> {
        match family::checked_model_type(&value, path)? {
            "gpt_neox" => Self::typed(value, path),
            other => Err(LlmError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                found: format!("model_type {other:?} (a GPT-NeoX config.json was expected)"),
            }),
        }
    }

    /// A config whose architecture was checked, parsed and validated.
    pub(crate) fn typed(value: Value, path: &Path) -> Result<Self> {
        family::typed_config(value, path, |c: &mut GptNeoXConfig| c.validate())
    }

    /// Checks that the numbers describe a model we can build; the message names the field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v <= 0 {
                return Err(format!("{name} = {v} must be positive"));
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "hidden_size = {} is not divisible by num_attention_heads = {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !(0.0..=1.0).contains(&self.rotary_pct) {
            return Err(format!(
                "rotary_pct = {} must be in [0, 1]",
                self.rotary_pct
            ));
        }
        if self.rotary_ndims() % 2 != 0 {
            return Err(format!(
                "rotary dimensions int(head_dim {} × rotary_pct {}) = {} must be even",
                self.head_dim(),
                self.rotary_pct,
                self.rotary_ndims()
            ));
        }
        if self.rotary_emb_base.is_nan() || self.rotary_emb_base <= 0.0 {
            return Err(format!(
                "rotary_emb_base = {} must be positive",
                self.rotary_emb_base
            ));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(format!(
                "layer_norm_eps = {} must be positive",
                self.layer_norm_eps
            ));
        }
        self.activation()?;
        for (name, id) in [
            ("bos_token_id", self.bos_token_id),
            ("eos_token_id", self.eos_token_id),
        ] {
            if let Some(id) = id {
                if id < 0 || id >= self.vocab_size {
                    return Err(format!(
                        "{name} = {id} is outside the vocabulary 0..{}",
                        self.vocab_size
                    ));
                }
            }
        }
        Ok(())
    }

    /// Dimensions per attention head.
    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Number of leading dimensions of each head that are rotated: `int(head_dim * rotary_pct)`.
    pub fn rotary_ndims(&self) -> i64 {
        (self.head_dim() as f64 * self.rotary_pct) as i64
    }

    /// The activation named by `hidden_act`.
    pub fn activation(&self) -> std::result::Result<Activation, String> {
        Activation::from_hf("hidden_act", &self.hidden_act)
    }

    /// The pad token: eos, as Pythia does (0 when the config names none).
    pub fn pad_token_id(&self) -> i64 {
        self.eos_token_id.unwrap_or(0)
    }

    /// Number of parameters (untied embeddings counted twice), including embeddings.
    /// Saturates at `i64::MAX` for absurd configs instead of overflowing.
    pub fn num_parameters(&self) -> i64 {
        let count = || -> Option<i64> {
            let (v, d, l, i) = (
                self.vocab_size,
                self.hidden_size,
                self.num_hidden_layers,
                self.intermediate_size,
            );
            let ab = i64::from(self.attention_bias);
            let dd = d.checked_mul(d)?;
            let di = d.checked_mul(i)?;
            let per_layer = [
                d.checked_mul(4)?,
                dd.checked_mul(3)?,
                ab * d.checked_mul(3)?,
                dd,
                ab * d,
                di,
                i,
                di,
                d,
            ]
            .into_iter()
            .try_fold(0i64, i64::checked_add)?;
            let vd = v.checked_mul(d)?;
            let emb = if self.tie_word_embeddings {
                vd
            } else {
                vd.checked_mul(2)?
            };
            emb.checked_add(l.checked_mul(per_layer)?)?
                .checked_add(d.checked_mul(2)?)
        };
        count().unwrap_or(i64::MAX)
    }

    /// The config as a JSON object in the form `config.json` uses.
    pub fn to_json(&self) -> Value {
        Value::from(self.clone())
    }
}

/// What `config.json` may contain (every Transformers version we know of).
#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    model_type: Option<String>,
    vocab_size: i64,
    hidden_size: i64,
    num_hidden_layers: i64,
    num_attention_heads: i64,
    #[serde(default)]
    intermediate_size: Option<i64>,
    #[serde(default)]
    rotary_pct: Option<f64>,
    #[serde(default)]
    rotary_emb_base: Option<f64>,
    #[serde(default)]
    rope_theta: Option<f64>,
    #[serde(default)]
    partial_rotary_factor: Option<f64>,
    #[serde(default)]
    rope_parameters: Option<Value>,
    #[serde(default)]
    rope_scaling: Option<Value>,
    #[serde(default)]
    max_position_embeddings: Option<i64>,
    #[serde(default)]
    layer_norm_eps: Option<f64>,
    #[serde(default)]
    use_parallel_residual: Option<bool>,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    tie_word_embeddings: Option<bool>,
    #[serde(default)]
    bos_token_id: Option<TokenIds>,
    #[serde(default)]
    eos_token_id: Option<TokenIds>,
    #[serde(default)]
    attention_bias: Option<bool>,
    #[serde(default)]
    initializer_range: Option<f64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum TokenIds {
    One(i64),
    Many(Vec<i64>),
}

impl TokenIds {
    pub(crate) fn first(self) -> Option<i64> {
        match self {
            TokenIds::One(i) => Some(i),
            TokenIds::Many(v) => v.first().copied(),
        }
    }
}

/// Reads `{rope_theta, partial_rotary_factor, rope_type}` out of a rope dict.
fn rope_dict(v: &Value, key: &str) -> std::result::Result<(Option<f64>, Option<f64>), String> {
    let Some(obj) = v.as_object() else {
        return Ok((None, None));
    };
    let ty = obj
        .get("rope_type")
        .or_else(|| obj.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    if ty != "default" {
        return Err(format!(
            "{key}.rope_type = {ty:?} is not supported (only the default RoPE of Pythia)"
        ));
    }
    Ok((
        obj.get("rope_theta").and_then(Value::as_f64),
        obj.get("partial_rotary_factor").and_then(Value::as_f64),
    ))
}

impl TryFrom<RawConfig> for GptNeoXConfig {
    type Error = String;

    fn try_from(r: RawConfig) -> std::result::Result<Self, String> {
        let (mut theta, mut pct) = (None, None);
        if let Some(rp) = &r.rope_parameters {
            (theta, pct) = rope_dict(rp, "rope_parameters")?;
        }
        if let Some(rs) = &r.rope_scaling {
            let (t, p) = rope_dict(rs, "rope_scaling")?;
            theta = theta.or(t);
            pct = pct.or(p);
        }
        // Newer Transformers give rope_parameters precedence over the legacy keys.
        let rotary_emb_base = theta
            .or(r.rope_theta)
            .or(r.rotary_emb_base)
            .unwrap_or(10000.0);
        let rotary_pct = pct
            .or(r.partial_rotary_factor)
            .or(r.rotary_pct)
            .unwrap_or(0.25);
        let mut extra = r.extra;
        // Derived / superseded keys are regenerated on save.
        for k in ["dtype", "torch_dtype", "transformers_version"] {
            extra.remove(k);
        }
        Ok(GptNeoXConfig {
            architectures: r
                .architectures
                .unwrap_or_else(|| vec!["GPTNeoXForCausalLM".to_string()]),
            model_type: r.model_type.unwrap_or_else(|| "gpt_neox".to_string()),
            vocab_size: r.vocab_size,
            hidden_size: r.hidden_size,
            num_hidden_layers: r.num_hidden_layers,
            num_attention_heads: r.num_attention_heads,
            intermediate_size: r
                .intermediate_size
                .unwrap_or(r.hidden_size.saturating_mul(4)),
            rotary_pct,
            rotary_emb_base,
            max_position_embeddings: r.max_position_embeddings.unwrap_or(2048),
            layer_norm_eps: r.layer_norm_eps.unwrap_or(1e-5),
            use_parallel_residual: r.use_parallel_residual.unwrap_or(true),
            hidden_act: r.hidden_act.unwrap_or_else(|| "gelu".to_string()),
            tie_word_embeddings: r.tie_word_embeddings.unwrap_or(false),
            bos_token_id: r.bos_token_id.and_then(TokenIds::first),
            eos_token_id: r.eos_token_id.and_then(TokenIds::first),
            attention_bias: r.attention_bias.unwrap_or(true),
            initializer_range: r.initializer_range.unwrap_or(0.02),
            extra,
        })
    }
}

impl From<GptNeoXConfig> for Value {
    fn from(c: GptNeoXConfig) -> Value {
        let mut m = c.extra;
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("architectures", Value::from(c.architectures));
        put("model_type", Value::from(c.model_type));
        put("vocab_size", Value::from(c.vocab_size));
        put("hidden_size", Value::from(c.hidden_size));
        put("num_hidden_layers", Value::from(c.num_hidden_layers));
        put("num_attention_heads", Value::from(c.num_attention_heads));
        put("intermediate_size", Value::from(c.intermediate_size));
        // Both spellings: Transformers 4.x reads the first two, 5.x the dict.
        put("rotary_pct", Value::from(c.rotary_pct));
        put("rotary_emb_base", Value::from(c.rotary_emb_base));
        put(
            "rope_parameters",
            serde_json::json!({
                "rope_type": "default",
                "rope_theta": c.rotary_emb_base,
                "partial_rotary_factor": c.rotary_pct,
            }),
        );
        m.remove("rope_scaling");
        m.remove("rope_theta");
        m.remove("partial_rotary_factor");
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put(
            "max_position_embeddings",
            Value::from(c.max_position_embeddings),
        );
        put("layer_norm_eps", Value::from(c.layer_norm_eps));
        put(
            "use_parallel_residual",
            Value::from(c.use_parallel_residual),
        );
        put("hidden_act", Value::from(c.hidden_act));
        put("tie_word_embeddings", Value::from(c.tie_word_embeddings));
        put(
            "bos_token_id",
            c.bos_token_id.map_or(Value::Null, Value::from),
        );
        put(
            "eos_token_id",
            c.eos_token_id.map_or(Value::Null, Value::from),
        );
        put("attention_bias", Value::from(c.attention_bias));
        put("initializer_range", Value::from(c.initializer_range));
        put("dtype", Value::from("float32"));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<GptNeoXConfig> {
        GptNeoXConfig::from_json_str(s, Path::new("config.json"))
    }

    #[test]
    fn legacy_and_new_rope_forms_agree() {
        let legacy = parse(
            r#"{"model_type":"gpt_neox","vocab_size":10,"hidden_size":16,"num_hidden_layers":1,
            "num_attention_heads":2,"rotary_pct":0.5,"rotary_emb_base":500.0}"#,
        )
        .unwrap();
        let new = parse(
            r#"{"model_type":"gpt_neox","vocab_size":10,"hidden_size":16,"num_hidden_layers":1,
            "num_attention_heads":2,"rope_parameters":{"rope_type":"default","rope_theta":500.0,"partial_rotary_factor":0.5}}"#,
        )
        .unwrap();
        assert_eq!(legacy.rotary_pct, 0.5);
        assert_eq!(new.rotary_emb_base, 500.0);
        assert_eq!(legacy.rotary_ndims(), new.rotary_ndims());
        assert_eq!(legacy.intermediate_size, 64);
    }

    #[test]
    fn round_trip_keeps_unknown_keys() {
        let c = parse(
            r#"{"model_type":"gpt_neox","vocab_size":10,"hidden_size":16,"num_hidden_layers":1,
            "num_attention_heads":2,"my_key":[1,2],"eos_token_id":[3,4]}"#,
        )
        .unwrap();
        assert_eq!(c.eos_token_id, Some(3));
        let back = parse(&c.to_json().to_string()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.extra["my_key"], serde_json::json!([1, 2]));
    }

    #[test]
    fn rejects_other_architectures_and_bad_shapes() {
        let e = parse(r#"{"model_type":"llama","vocab_size":10}"#).unwrap_err();
        assert!(matches!(e, LlmError::UnsupportedArchitecture { .. }), "{e}");
        let e = parse(
            r#"{"architectures":["LlamaForCausalLM"],"vocab_size":10,"hidden_size":16,"num_hidden_layers":1,"num_attention_heads":2}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("LlamaForCausalLM"), "{e}");
        let e = parse(
            r#"{"model_type":"gpt_neox","vocab_size":10,"hidden_size":9,"num_hidden_layers":1,"num_attention_heads":2}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not divisible"), "{e}");
        let e = parse(r#"{"model_type":"gpt_neox","vocab_size":10}"#).unwrap_err();
        assert!(e.to_string().contains("hidden_size"), "{e}");
        let e = parse(
            r#"{"model_type":"gpt_neox","vocab_size":10,"hidden_size":16,"num_hidden_layers":1,"num_attention_heads":2,"hidden_act":"mish"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("mish"), "{e}");
    }

    #[test]
    fn pythia_70m_parameter_count() {
        // Hugging Face EleutherAI/pythia-70m: 70,426,624 parameters incl. both embeddings.
        assert_eq!(
            GptNeoXConfig::pythia(50304, 512, 6, 8).num_parameters(),
            70_426_624
        );
    }
}
