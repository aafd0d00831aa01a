//! The model families reawaken runs, behind one interface: [`ModelConfig`] (a
//! `config.json`, read by its `model_type`), [`Model`] (forward to logits and to the final
//! hidden state, named parameters in Hugging Face naming) and [`ParamLayout`] (where a
//! family keeps its embedding, blocks, attention and output matrix — what `--grads-block`,
//! `--freeze-blocks`, `--weights-param` and `--pca-param` resolve against).
//!
//! | `model_type` | file | Hugging Face class |
//! |---|---|---|
//! | `gpt_neox` | [`crate::model::gpt_neox`] | `GPTNeoXForCausalLM` (Pythia) |
//! | `gpt2` | [`crate::model::gpt2`] | `GPT2LMHeadModel` |
//! | `imagegpt` | [`crate::model::gpt2`] | `ImageGPTForCausalImageModeling` |
//! | `llama`, `qwen2`, `mistral` | [`crate::model::llama`] | `LlamaForCausalLM`, `Qwen2ForCausalLM`, `MistralForCausalLM` |

use std::path::Path;

use serde_json::{Map, Value};
use tch::{nn, Kind, Tensor};

use crate::model::config::GptNeoXConfig;
use crate::model::error::{LlmError, Result};
use crate::model::gpt2::{Gpt2, Gpt2Config};
use crate::model::gpt_neox::GptNeoX;
use crate::model::layers::{size3, Registry};
use crate::model::llama::{Llama, LlamaConfig};

/// Every `model_type` `--model` accepts, with its Hugging Face `XForCausalLM` class.
pub const SUPPORTED: [(&str, &str); 6] = [
    ("gpt_neox", "GPTNeoXForCausalLM"),
    ("gpt2", "GPT2LMHeadModel"),
    ("imagegpt", "ImageGPTForCausalImageModeling"),
    ("llama", "LlamaForCausalLM"),
    ("qwen2", "Qwen2ForCausalLM"),
    ("mistral", "MistralForCausalLM"),
];

/// `gpt_neox, gpt2, llama, qwen2, mistral`
pub fn supported_model_types() -> String {
    SUPPORTED.map(|(t, _)| t).join(", ")
}

/// Where a family keeps its parts, in Hugging Face parameter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamLayout {
    /// The `XForCausalLM` class (`architectures` of a saved `config.json`).
    pub architecture: &'static str,
    /// Prefix of block `i`'s parameters, before the index: `gpt_neox.layers.`.
    pub block_prefix: &'static str,
    /// The attention module's name inside a block: `attention`, `attn`, `self_attn`.
    pub attention: &'static str,
    /// Prefixes of the input embeddings (frozen with the first blocks).
    pub embeddings: &'static [&'static str],
    /// The input token embedding matrix (what a tied output matrix is).
    pub input_embedding: &'static str,
    /// The output (unembedding) matrix when it is not tied.
    pub output: &'static str,
}

impl ParamLayout {
    /// `gpt_neox.layers.3.`
    pub fn block(&self, i: usize) -> String {
        format!("{}{i}.", self.block_prefix)
    }
}

/// The supported `model_type` a parsed `config.json` names (GPT-NeoX when it names none,
/// as old Pythia uploads), checked before any field is read: a Llama config should say
/// "unsupported architecture", not "missing field rotary_pct"; and `architectures`, when
/// given, must name that type's causal-LM class (not `…ForSequenceClassification`).
pub(crate) fn checked_model_type(value: &Value, path: &Path) -> Result<&'static str> {
    let Some(obj) = value.as_object() else {
        return Err(LlmError::InvalidConfig {
            path: path.to_path_buf(),
            reason: "config.json must be a JSON object".to_string(),
        });
    };
    let unsupported = |found: String| LlmError::UnsupportedArchitecture {
        path: path.to_path_buf(),
        found,
    };
    let named = match obj.get("model_type") {
        None => "gpt_neox",
        Some(Value::String(t)) => t.as_str(),
        Some(other) => return Err(unsupported(format!("model_type {other}"))),
    };
    let Some(&(model_type, class)) = SUPPORTED.iter().find(|(t, _)| *t == named) else {
        return Err(unsupported(format!("model_type {named:?}")));
    };
    // GPT-2 uploads saved from the base model say `GPT2Model`; its head is the tied wte.
    let fits = |x: &Value| {
        x.as_str() == Some(class) || (model_type == "gpt2" && x.as_str() == Some("GPT2Model"))
    };
    match obj.get("architectures") {
        Some(Value::Array(a)) if !a.is_empty() && !a.iter().any(fits) => Err(unsupported(format!(
            "architectures {} (this model_type is supported as {class})",
            Value::Array(a.clone())
        ))),
        Some(Value::Array(_)) | Some(Value::Null) | None => Ok(model_type),
        Some(other) => Err(unsupported(format!("architectures {other}"))),
    }
}

/// The `XForCausalLM` class of a supported `model_type`.
fn causal_lm_class(model_type: &str) -> Option<&'static str> {
    SUPPORTED
        .iter()
        .find(|(t, _)| *t == model_type)
        .map(|(_, class)| *class)
}

const GPT_NEOX: ParamLayout = ParamLayout {
    architecture: "GPTNeoXForCausalLM",
    block_prefix: "gpt_neox.layers.",
    attention: "attention",
    embeddings: &["gpt_neox.embed_in."],
    input_embedding: "gpt_neox.embed_in.weight",
    output: "embed_out.weight",
};

const GPT2: ParamLayout = ParamLayout {
    architecture: "GPT2LMHeadModel",
    block_prefix: "transformer.h.",
    attention: "attn",
    embeddings: &["transformer.wte.", "transformer.wpe."],
    input_embedding: "transformer.wte.weight",
    output: "lm_head.weight",
};

const LLAMA: ParamLayout = ParamLayout {
    architecture: "LlamaForCausalLM",
    block_prefix: "model.layers.",
    attention: "self_attn",
    embeddings: &["model.embed_tokens."],
    input_embedding: "model.embed_tokens.weight",
    output: "lm_head.weight",
};

/// A model's `config.json`, by family.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    GptNeoX(GptNeoXConfig),
    Gpt2(Gpt2Config),
    Llama(LlamaConfig),
}

/// The sizes every part of the probe needs, whatever the family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub vocab: i64,
    pub width: i64,
    pub depth: i64,
    pub heads: i64,
    pub intermediate: i64,
}

impl From<GptNeoXConfig> for ModelConfig {
    fn from(c: GptNeoXConfig) -> Self {
        ModelConfig::GptNeoX(c)
    }
}

impl From<Gpt2Config> for ModelConfig {
    fn from(c: Gpt2Config) -> Self {
        ModelConfig::Gpt2(c)
    }
}

impl From<LlamaConfig> for ModelConfig {
    fn from(c: LlamaConfig) -> Self {
        ModelConfig::Llama(c)
    }
}

impl ModelConfig {
    /// Reads and validates `config.json`, choosing the family by `model_type`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = crate::model::load::read_text(path, 16 << 20)?;
        Self::from_json_str(&text, path)
    }

    /// Parses a `config.json` text; `path` is only used in messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let value = parse_json(text, path)?;
        Ok(match checked_model_type(&value, path)? {
            "gpt_neox" => GptNeoXConfig::typed(value, path)?.into(),
            "gpt2" | "imagegpt" => Gpt2Config::from_value(value, path)?.into(),
            _ => LlamaConfig::from_value(value, path)?.into(),
        })
    }

    /// The config key of the number of blocks (`num_hidden_layers`, GPT-2's `n_layer`).
    pub fn depth_key(&self) -> &'static str {
        match self {
            ModelConfig::Gpt2(_) => "n_layer",
            _ => "num_hidden_layers",
        }
    }

    /// `gpt_neox`, `gpt2`, `llama`, …
    pub fn model_type(&self) -> &str {
        match self {
            ModelConfig::GptNeoX(c) => &c.model_type,
            ModelConfig::Gpt2(c) => &c.model_type,
            ModelConfig::Llama(c) => &c.model_type,
        }
    }

    /// Where the family keeps its parameters.
    pub fn layout(&self) -> ParamLayout {
        match self {
            ModelConfig::GptNeoX(_) => GPT_NEOX,
            ModelConfig::Gpt2(c) => ParamLayout {
                architecture: causal_lm_class(&c.model_type).unwrap_or(GPT2.architecture),
                ..GPT2
            },
            ModelConfig::Llama(c) => ParamLayout {
                architecture: causal_lm_class(&c.model_type).unwrap_or(LLAMA.architecture),
                ..LLAMA
            },
        }
    }

    pub fn shape(&self) -> Shape {
        match self {
            ModelConfig::GptNeoX(c) => Shape {
                vocab: c.vocab_size,
                width: c.hidden_size,
                depth: c.num_hidden_layers,
                heads: c.num_attention_heads,
                intermediate: c.intermediate_size,
            },
            ModelConfig::Gpt2(c) => Shape {
                vocab: c.vocab_size,
                width: c.n_embd,
                depth: c.n_layer,
                heads: c.n_head,
                intermediate: c.intermediate_size(),
            },
            ModelConfig::Llama(c) => Shape {
                vocab: c.vocab_size,
                width: c.hidden_size,
                depth: c.num_hidden_layers,
                heads: c.num_attention_heads,
                intermediate: c.intermediate_size,
            },
        }
    }

    pub fn vocab_size(&self) -> i64 {
        self.shape().vocab
    }

    /// Rows of the output matrix: the ids the model predicts, every id a document may hold
    /// (the vocabulary; Image GPT's lacks the start-of-sequence id).
    pub fn output_rows(&self) -> i64 {
        match self {
            ModelConfig::Gpt2(c) => c.output_rows(),
            c => c.vocab_size(),
        }
    }

    pub fn tie_word_embeddings(&self) -> bool {
        match self {
            ModelConfig::GptNeoX(c) => c.tie_word_embeddings,
            ModelConfig::Gpt2(c) => c.tied(),
            ModelConfig::Llama(c) => c.tie_word_embeddings,
        }
    }

    /// The longest sequence the model can take (learned position embeddings), if bounded.
    pub fn max_sequence(&self) -> Option<i64> {
        match self {
            ModelConfig::Gpt2(c) => Some(c.n_positions),
            _ => None,
        }
    }

    /// Number of parameters (a tied embedding counted once), saturating at `i64::MAX`.
    pub fn num_parameters(&self) -> i64 {
        match self {
            ModelConfig::GptNeoX(c) => c.num_parameters(),
            ModelConfig::Gpt2(c) => c.num_parameters(),
            ModelConfig::Llama(c) => c.num_parameters(),
        }
    }

    /// The config as `config.json` writes it (with `architectures` and `dtype`).
    pub fn to_json(&self) -> Value {
        let mut v = match self {
            ModelConfig::GptNeoX(c) => c.to_json(),
            ModelConfig::Gpt2(c) => serde_json::to_value(c).unwrap_or(Value::Null),
            ModelConfig::Llama(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        };
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "architectures".to_string(),
                serde_json::json!([self.layout().architecture]),
            );
            obj.insert("dtype".to_string(), Value::from("float32"));
        }
        v
    }
}

/// A causal language model of any supported family.
#[derive(Debug)]
pub enum Model {
    GptNeoX(GptNeoX),
    Gpt2(Gpt2),
    Llama(Llama),
}

impl Model {
    /// Creates the variables of `config`'s model under `p` (normally `vs.root()`), all
    /// matrices zero: they are loaded or drawn next.
    pub(crate) fn build(p: &nn::Path, config: &ModelConfig) -> Result<Self> {
        Ok(match config {
            ModelConfig::GptNeoX(c) => Model::GptNeoX(GptNeoX::new(p, c)?),
            ModelConfig::Gpt2(c) => Model::Gpt2(Gpt2::new(p, c)?),
            ModelConfig::Llama(c) => Model::Llama(Llama::new(p, c)?),
        })
    }

    /// Final hidden states `[B,S,D]` (after the final norm, before the output matrix), in
    /// the model's dtype. Attention is causal, so right-padding never changes the states
    /// of the real tokens.
    pub fn hidden_states(&self, input_ids: &Tensor) -> Result<Tensor> {
        match self {
            Model::GptNeoX(m) => m.hidden_states(input_ids),
            Model::Gpt2(m) => m.hidden_states(input_ids),
            Model::Llama(m) => m.hidden_states(input_ids),
        }
    }

    fn output_weight(&self) -> &Tensor {
        match self {
            Model::GptNeoX(m) => m.output_weight(),
            Model::Gpt2(m) => m.output_weight(),
            Model::Llama(m) => m.output_weight(),
        }
    }

    /// Logits `[B,S,V]` in float32 from final hidden states `[B,S,D]`.
    pub fn logits_from_hidden(&self, hidden: &Tensor) -> Tensor {
        hidden
            .linear(self.output_weight(), None::<Tensor>)
            .to_kind(Kind::Float)
    }

    /// Logits `[B,S,V]` (float32) for `input_ids` `[B,S]` (int64).
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        Ok(self.logits_from_hidden(&self.hidden_states(input_ids)?))
    }

    /// Mean next-token cross-entropy of `input_ids` `[B,S]` (HF `labels = input_ids`).
    /// `mask` (`[B,S]`, nonzero = real token) drops padded targets from the mean.
    pub fn loss(&self, input_ids: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        lm_loss(&self.forward(input_ids)?, input_ids, mask)
    }

    /// Parameters in Hugging Face naming and order of creation (a tied output matrix
    /// absent).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        match self {
            Model::GptNeoX(m) => m.named_parameters(),
            Model::Gpt2(m) => m.named_parameters(),
            Model::Llama(m) => m.named_parameters(),
        }
    }
}

/// Next-token negative log-likelihoods `[B, S−1]`: entry (b, t) is
/// −log p(`targets[b, t]` | `logits[b, t]`) times `mask[b, t]` (1 for a real target, 0 for
/// one to ignore). The one LM loss of reawaken: [`lm_loss`] (a mean over all targets) and
/// the probe's per-document losses (a mean per row) are its reductions.
pub fn next_token_nll(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Tensor {
    let s = logits.size()[1];
    let lp = logits
        .narrow(1, 0, s - 1)
        .log_softmax(-1, Kind::Float)
        .gather(2, &targets.unsqueeze(-1), false)
        .squeeze_dim(-1);
    -(lp * mask)
}

/// Mean next-token cross-entropy: predicts `input_ids[:,1:]` from `logits[:,:-1]`,
/// as Hugging Face's `ForCausalLMLoss`. Targets whose `mask` is 0 are ignored.
/// Returns a scalar float32 tensor (NaN if no target is left).
pub fn lm_loss(logits: &Tensor, input_ids: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let (_, s, _) = size3(logits, "logits")?;
    let targets = input_ids.narrow(1, 1, s - 1).to_kind(Kind::Int64);
    let keep = match mask {
        Some(m) => m.narrow(1, 1, s - 1).ne(0).to_kind(Kind::Float),
        None => targets.ones_like().to_kind(Kind::Float),
    };
    let nll = next_token_nll(logits, &targets, &keep);
    Ok(nll.sum(Kind::Float) / keep.sum(Kind::Float))
}

/// A `config.json` text as JSON.
pub(crate) fn parse_json(text: &str, path: &Path) -> Result<Value> {
    serde_json::from_str(text).map_err(|source| LlmError::ConfigParse {
        path: path.to_path_buf(),
        source,
    })
}

/// A parsed `config.json` as the family's config struct, then `check`ed (tidied and
/// validated); a failed check is an invalid config naming the file.
pub(crate) fn typed_config<T: serde::de::DeserializeOwned>(
    value: Value,
    path: &Path,
    check: impl FnOnce(&mut T) -> std::result::Result<(), String>,
) -> Result<T> {
    let mut cfg: T = serde_json::from_value(value).map_err(|source| LlmError::ConfigParse {
        path: path.to_path_buf(),
        source,
    })?;
    check(&mut cfg).map_err(|reason| LlmError::InvalidConfig {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok(cfg)
}

/// Shallow handles of a registry's parameters.
pub(crate) fn clone_registry(reg: &Registry) -> Vec<(String, Tensor)> {
    reg.iter()
        .map(|(n, t)| (n.clone(), t.shallow_clone()))
        .collect()
}

/// Keys regenerated on save (`dtype`, `transformers_version`).
pub(crate) fn drop_derived_keys(extra: &mut Map<String, Value>) {
    for k in ["dtype", "torch_dtype", "transformers_version"] {
        extra.remove(k);
    }
}

/// Each `(name, value)` must be positive.
pub(crate) fn check_positive(fields: &[(&str, i64)]) -> std::result::Result<(), String> {
    match fields.iter().find(|(_, v)| *v <= 0) {
        Some((name, v)) => Err(format!("{name} = {v} must be positive")),
        None => Ok(()),
    }
}

/// A norm's ε must be positive.
pub(crate) fn check_eps(name: &str, eps: f64) -> std::result::Result<(), String> {
    if eps.is_nan() || eps <= 0.0 {
        return Err(format!("{name} = {eps} must be positive"));
    }
    Ok(())
}

/// `bos_token_id`, `eos_token_id` and `pad_token_id`, where given, must be in the vocabulary.
pub(crate) fn check_token_ids(
    extra: &Map<String, Value>,
    vocab: i64,
) -> std::result::Result<(), String> {
    for key in ["bos_token_id", "eos_token_id", "pad_token_id"] {
        let ids: Vec<i64> = match extra.get(key) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_i64).collect(),
            Some(v) => v.as_i64().into_iter().collect(),
            None => Vec::new(),
        };
        if let Some(id) = ids.into_iter().find(|&id| id < 0 || id >= vocab) {
            return Err(format!("{key} = {id} is outside the vocabulary 0..{vocab}"));
        }
    }
    Ok(())
}
