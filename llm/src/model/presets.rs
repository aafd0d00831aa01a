//! Pythia and GPT-2 shapes and their initialisations, for models trained from scratch.
//!
//! Shapes are those of the Hugging Face `EleutherAI/pythia-*` configs (all: rotary_pct
//! 0.25, base 10000, intermediate 4·d, parallel residual, untied embeddings, 2048
//! positions, eos = bos = 0). A width/depth/heads override keeps the preset's MLP width
//! (intermediate 4·d of the preset's d), as the authors' from-scratch ablations do
//! (`train_interleave_scratch.py` overrides only `hidden_size`, `num_hidden_layers` and
//! `num_attention_heads` of the Pythia-1B config, so the MLP stays 8192 wide). Vocabulary 50304, except 6.9b (50432) and 12b (50688).
//!
//! Initialisation ([`InitScheme::Pythia`], the GPT-NeoX recipe Pythia was trained with):
//! `small_init` σ = √(2/(5d)) for `embed_in`, `embed_out`, `query_key_value` and
//! `dense_h_to_4h`; `wang_init` σ = 2/(L·√d) for the attention output `dense` and
//! `dense_4h_to_h`; biases 0; LayerNorm weight 1, bias 0.
//! [`InitScheme::Gpt2`] is GPT-2's: every matrix N(0, 0.02²), the residual projections
//! (`c_proj`; in the other families `dense`/`dense_4h_to_h`, `o_proj`/`down_proj`)
//! N(0, (0.02/√(2L))²). [`InitScheme::Isotropic`] draws every matrix from N(0, σ²)
//! (paper B.4: σ = 0.02). Every scheme applies to every preset.
//!
//! GPT-2 presets (`gpt2`, `gpt2-medium`, `gpt2-large`, `gpt2-xl`) are the
//! `openai-community/gpt2*` shapes: vocabulary 50257, 1024 learned positions, tied
//! embeddings, `gelu_new`, no dropout.
//!
//! Draws are made on the CPU from `tch::manual_seed(seed)` in the fixed parameter
//! order and then copied to the device, so a seed gives the same weights on every device.

use std::str::FromStr;

use tch::{nn, Device, Kind, Tensor};

use crate::model::config::GptNeoXConfig;
use crate::model::error::{LlmError, Result};
use crate::model::family::{Model, ModelConfig};
use crate::model::gpt2::Gpt2Config;
use crate::model::load::LoadedModel;

/// The architecture a preset builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetFamily {
    /// GPT-NeoX with Pythia's settings.
    Pythia,
    /// GPT-2 (`GPT2LMHeadModel`: learned positions, 1024 of them, tied embeddings).
    Gpt2,
}

/// One Pythia or GPT-2 shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub width: i64,
    pub depth: i64,
    pub heads: i64,
    pub vocab: i64,
    pub family: PresetFamily,
}

/// The GPT-2 shapes of the Hugging Face `openai-community/gpt2*` configs.
pub const GPT2_PRESETS: [Preset; 4] = [
    gpt2_preset("gpt2", 768, 12, 12),
    gpt2_preset("gpt2-medium", 1024, 24, 16),
    gpt2_preset("gpt2-large", 1280, 36, 20),
    gpt2_preset("gpt2-xl", 1600, 48, 25),
];

const fn gpt2_preset(name: &'static str, width: i64, depth: i64, heads: i64) -> Preset {
    Preset {
        name,
        width,
        depth,
        heads,
        vocab: 50257,
        family: PresetFamily::Gpt2,
    }
}

/// GPT-2's learned positions (`n_positions`).
const GPT2_POSITIONS: i64 = 1024;

/// Every preset shape: `tiny` (the default fresh model of `llm probe`, small enough for
/// a laptop CPU) and the Pythia sizes.
pub const PRESETS: [Preset; 11] = [
    Preset {
        name: "tiny",
        width: 128,
        depth: 2,
        heads: 4,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-14m",
        width: 128,
        depth: 6,
        heads: 4,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-31m",
        width: 256,
        depth: 6,
        heads: 8,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-70m",
        width: 512,
        depth: 6,
        heads: 8,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-160m",
        width: 768,
        depth: 12,
        heads: 12,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-410m",
        width: 1024,
        depth: 24,
        heads: 16,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-1b",
        width: 2048,
        depth: 16,
        heads: 8,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-1.4b",
        width: 2048,
        depth: 24,
        heads: 16,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-2.8b",
        width: 2560,
        depth: 32,
        heads: 32,
        vocab: 50304,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-6.9b",
        width: 4096,
        depth: 32,
        heads: 32,
        vocab: 50432,
        family: PresetFamily::Pythia,
    },
    Preset {
        name: "pythia-12b",
        width: 5120,
        depth: 36,
        heads: 40,
        vocab: 50688,
        family: PresetFamily::Pythia,
    },
];

/// Finds a preset by name (`tiny`, `pythia-70m`, `gpt2-large`; the `pythia-` prefix may
/// be left out).
pub fn preset(name: &str) -> Result<Preset> {
    let lower = name.to_ascii_lowercase();
    let full = format!("pythia-{lower}");
    let all = || PRESETS.iter().chain(GPT2_PRESETS.iter());
    all()
        .find(|p| p.name == lower || p.name == full)
        .copied()
        .ok_or_else(|| LlmError::UnknownPreset {
            name: name.to_string(),
            known: all().map(|p| p.name).collect::<Vec<_>>().join(", "),
        })
}

/// Changes to a preset's shape (paper Fig. 3 and B.3). `None` keeps the preset's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShapeOverrides {
    /// Model width d (`hidden_size`); the MLP keeps the preset's width.
    pub width: Option<i64>,
    /// MLP width (`intermediate_size`) [default: the preset's, 4·d of the preset's d].
    pub intermediate: Option<i64>,
    /// Number of blocks L.
    pub depth: Option<i64>,
    /// Attention heads (must divide the width).
    pub heads: Option<i64>,
    /// Vocabulary size (e.g. 257 for the byte tokenizer).
    pub vocab: Option<i64>,
    /// The longest sequence the run feeds the model: Pythia's `max_position_embeddings`
    /// (rotary, so only a bound) becomes at least this (and at least 2048), GPT-2's learned
    /// `n_positions` too (at least 1024).
    pub context: Option<i64>,
}

/// How a fresh model's weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InitScheme {
    /// GPT-NeoX `small_init` / `wang_init` as Pythia (see the module docs).
    Pythia,
    /// GPT-2's `_init_weights`: every matrix (embeddings included) N(0, 0.02²), the
    /// residual projections N(0, (0.02/√(2L))²), biases 0, LayerNorm 1/0.
    Gpt2,
    /// Every matrix N(0, σ²), biases 0, LayerNorm 1/0 (paper B.4 uses σ = 0.02).
    Isotropic(f64),
}

impl std::fmt::Display for InitScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitScheme::Pythia => f.write_str("pythia"),
            InitScheme::Gpt2 => f.write_str("gpt2"),
            InitScheme::Isotropic(s) if *s == 0.02 => f.write_str("isotropic"),
            InitScheme::Isotropic(s) => write!(f, "isotropic:{s}"),
        }
    }
}

impl FromStr for InitScheme {
    type Err = String;
    /// `pythia`, `gpt2`, `isotropic` (σ = 0.02) or `isotropic:SIGMA`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "pythia" => Ok(InitScheme::Pythia),
            "gpt2" => Ok(InitScheme::Gpt2),
            "isotropic" => Ok(InitScheme::Isotropic(0.02)),
            _ => match s.strip_prefix("isotropic:") {
                Some(v) => match v.parse::<f64>() {
                    Ok(sigma) if sigma.is_finite() && sigma > 0.0 => {
                        Ok(InitScheme::Isotropic(sigma))
                    }
                    _ => Err(format!(
                        "the σ of `{s}` must be a positive finite number (e.g. isotropic:0.02)"
                    )),
                },
                None => Err(format!(
                    "unknown init `{s}` (expected pythia, gpt2, isotropic or isotropic:SIGMA)"
                )),
            },
        }
    }
}

/// The config of a preset after overrides, validated (width divisible by heads, …).
pub fn preset_config(name: &str, shape: &ShapeOverrides) -> Result<ModelConfig> {
    let p = preset(name)?;
    let width = shape.width.unwrap_or(p.width);
    let depth = shape.depth.unwrap_or(p.depth);
    let heads = shape.heads.unwrap_or(p.heads);
    let vocab = shape.vocab.unwrap_or(p.vocab);
    let intermediate = shape.intermediate.unwrap_or(4 * p.width);
    for (flag, v) in [
        ("width", width),
        ("intermediate-size", intermediate),
        ("depth", depth),
        ("heads", heads),
        ("vocab", vocab),
    ] {
        if v <= 0 {
            return Err(LlmError::InvalidShape(format!(
                "{flag} = {v} must be positive"
            )));
        }
    }
    if width % heads != 0 {
        return Err(LlmError::InvalidShape(format!(
            "width {width} is not divisible by heads {heads} (choose heads among the divisors of the width)"
        )));
    }
    let invalid = |e: String| LlmError::InvalidShape(format!("{name} with {shape:?}: {e}"));
    match p.family {
        PresetFamily::Pythia => {
            let mut cfg = GptNeoXConfig::pythia(vocab, width, depth, heads);
            cfg.intermediate_size = intermediate;
            cfg.max_position_embeddings = shape.context.unwrap_or(0).max(2048);
            if vocab <= 2 {
                cfg.bos_token_id = None;
                cfg.eos_token_id = None;
            }
            cfg.validate().map_err(invalid)?;
            Ok(cfg.into())
        }
        PresetFamily::Gpt2 => {
            let positions = shape.context.unwrap_or(0).max(GPT2_POSITIONS);
            let mut cfg = Gpt2Config::gpt2(vocab, positions, width, depth, heads);
            cfg.n_inner = Some(intermediate);
            cfg.validate().map_err(invalid)?;
            Ok(cfg.into())
        }
    }
}

/// Whether `name` is a norm's parameter (LayerNorm, RMSNorm): weight 1, bias 0.
fn is_norm(name: &str) -> bool {
    name.contains("layernorm")
        || name.contains("layer_norm")
        || name.contains(".ln_")
        || name.starts_with("model.norm.")
}

/// Whether `name` is a projection back into the residual stream (GPT-NeoX `attention.dense`
/// and `dense_4h_to_h`, GPT-2 `c_proj`, Llama `o_proj` and `down_proj`): what
/// `wang_init` draws.
fn is_residual_projection(name: &str) -> bool {
    [
        "attention.dense.weight",
        "dense_4h_to_h.weight",
        "c_proj.weight",
        "o_proj.weight",
        "down_proj.weight",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// σ of every parameter matrix under `scheme` (biases and norms are not drawn).
/// Returns `None` for parameters that are constants.
pub fn init_std(name: &str, cfg: &ModelConfig, scheme: InitScheme) -> Option<f64> {
    if !name.ends_with(".weight") || is_norm(name) {
        return None;
    }
    let shape = cfg.shape();
    match scheme {
        InitScheme::Isotropic(s) => Some(s),
        InitScheme::Gpt2 if is_residual_projection(name) => {
            Some(0.02 / (2.0 * shape.depth as f64).sqrt())
        }
        InitScheme::Gpt2 => Some(0.02),
        InitScheme::Pythia => {
            let d = shape.width as f64;
            let l = shape.depth as f64;
            let small = (2.0 / (5.0 * d)).sqrt();
            let wang = 2.0 / (l * d.sqrt());
            if is_residual_projection(name) {
                Some(wang)
            } else {
                Some(small)
            }
        }
    }
}

/// Re-draws every weight of `model` under `scheme` from `seed` (biases 0, norms 1/0).
pub fn init_weights(model: &Model, cfg: &ModelConfig, scheme: InitScheme, seed: i64) -> Result<()> {
    tch::manual_seed(seed);
    for (name, param) in model.named_parameters() {
        let value = match init_std(&name, cfg, scheme) {
            Some(std) => Tensor::randn(param.size(), (Kind::Float, Device::Cpu)) * std,
            None if is_norm(&name) && name.ends_with(".weight") => {
                Tensor::ones(param.size(), (Kind::Float, Device::Cpu))
            }
            None => Tensor::zeros(param.size(), (Kind::Float, Device::Cpu)),
        };
        let mut dst = param;
        tch::no_grad(|| dst.f_copy_(&value))
            .map_err(|e| LlmError::torch(format!("initialising {name}"), e))?;
    }
    Ok(())
}

/// A fresh model of a Pythia shape (with overrides), initialised with `init` from `seed`,
/// on `device`, float32. It has no tokenizer: choose one (bytes or a `tokenizer.json`)
/// whose ids fit `vocab`.
pub fn from_preset(
    name: &str,
    shape: &ShapeOverrides,
    init: InitScheme,
    seed: i64,
    device: Device,
) -> Result<LoadedModel> {
    from_config(preset_config(name, shape)?, init, seed, device)
}

/// A fresh model of a validated shape (e.g. from [`preset_config`]), initialised as
/// `init` says with `seed`.
pub fn from_config(
    config: ModelConfig,
    init: InitScheme,
    seed: i64,
    device: Device,
) -> Result<LoadedModel> {
    if let InitScheme::Isotropic(s) = init {
        if !(s.is_finite() && s > 0.0) {
            return Err(LlmError::InvalidShape(format!(
                "isotropic init σ = {s} must be positive"
            )));
        }
    }
    let vs = nn::VarStore::new(device);
    let model = Model::build(&vs.root(), &config)?;
    init_weights(&model, &config, init, seed)?;
    Ok(LoadedModel {
        vs,
        model,
        config,
        tokenizer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_lookup_and_overrides() {
        assert_eq!(preset("70m").unwrap().width, 512);
        assert!(preset("pythia-7b")
            .unwrap_err()
            .to_string()
            .contains("pythia-6.9b"));
        let c = preset_config(
            "pythia-70m",
            &ShapeOverrides {
                width: Some(256),
                depth: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        let s = c.shape();
        assert_eq!((s.width, s.depth, s.heads), (256, 2, 8));
        // The MLP keeps the preset's width (70m: 4·512), as the authors' ablations.
        assert_eq!(c.shape().intermediate, 2048);
        let c = preset_config(
            "pythia-1b",
            &ShapeOverrides {
                width: Some(512),
                heads: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!((c.shape().width, c.shape().intermediate), (512, 8192));
        let c = preset_config(
            "pythia-70m",
            &ShapeOverrides {
                width: Some(256),
                intermediate: Some(1024),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.shape().intermediate, 1024);
        let e = preset_config(
            "pythia-70m",
            &ShapeOverrides {
                width: Some(500),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("not divisible"), "{e}");
        let e = preset_config(
            "pythia-70m",
            &ShapeOverrides {
                depth: Some(0),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("depth"), "{e}");
    }

    #[test]
    fn every_preset_is_valid() {
        for p in PRESETS.iter().chain(GPT2_PRESETS.iter()) {
            let s = preset_config(p.name, &ShapeOverrides::default())
                .unwrap()
                .shape();
            assert_eq!(s.width % s.heads, 0, "{}", p.name);
        }
    }

    #[test]
    fn init_scheme_parses() {
        assert_eq!("pythia".parse::<InitScheme>().unwrap(), InitScheme::Pythia);
        assert_eq!(
            "isotropic:0.05".parse::<InitScheme>().unwrap(),
            InitScheme::Isotropic(0.05)
        );
        assert!("isotropic:-1".parse::<InitScheme>().is_err());
    }
}
