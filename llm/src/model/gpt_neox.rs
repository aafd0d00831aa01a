//! GPT-NeoX (the Pythia architecture) on tch, following Hugging Face
//! `transformers/models/gpt_neox/modeling_gpt_neox.py` line by line:
//!
//! - `embed_in` → `num_hidden_layers` × block → `final_layer_norm` → `embed_out`
//!   (untied unless `tie_word_embeddings`).
//! - block: `a = attention(input_layernorm(x))`; parallel residual
//!   `x + a + mlp(post_attention_layernorm(x))`, else `h = x + a; h + mlp(post_attention_layernorm(h))`.
//! - attention: fused `query_key_value` laid out per head (`[B,S,H,3·hd]`, then split
//!   into q,k,v), rotary embeddings (`rotate_half` form) on the first
//!   `rotary_ndims = int(hd·rotary_pct)` dims of q and k, causal softmax attention with
//!   scale `hd^-½`, output projection `dense`.
//! - MLP: `dense_h_to_4h` → GELU (exact erf form for `hidden_act = "gelu"`) → `dense_4h_to_h`.
//!
//! Parameters are created through `nn::Path` (tch's `VarStore`) under exactly Hugging
//! Face's names; [`GptNeoX::named_parameters`] lists them as the paths registered them,
//! in creation order, so a checkpoint's tensors map one to one onto them. Shape errors
//! and failed allocations are returned as errors, never panics.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use crate::model::config::{Activation, GptNeoXConfig};
use crate::model::error::{LlmError, Result};

/// The model's parameters as `nn::Path` named them, in creation order.
type Registry = Vec<(String, Tensor)>;

/// Creates variable `name` under `p` and registers it with its full (dotted) path.
fn var(p: &nn::Path, name: &str, dims: &[i64], init: Init, reg: &mut Registry) -> Result<Tensor> {
    let t = p
        .f_var(name, dims, init)
        .map_err(|e| LlmError::torch(format!("allocating {} {dims:?}", p.path(name)), e))?;
    reg.push((p.path(name), t.shallow_clone()));
    Ok(t)
}

/// The sizes of a 3-D tensor, or an error naming what it is.
fn size3(x: &Tensor, what: &str) -> Result<(i64, i64, i64)> {
    x.size3()
        .map_err(|e| LlmError::torch(format!("{what}: expected a 3-D tensor"), e))
}

/// `x·Wᵀ + b` with HF's `nn.Linear` parameter layout (`weight` is `[out, in]`).
#[derive(Debug)]
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    fn new(
        p: nn::Path,
        d_in: i64,
        d_out: i64,
        bias: bool,
        init: Init,
        reg: &mut Registry,
    ) -> Result<Self> {
        let weight = var(&p, "weight", &[d_out, d_in], init, reg)?;
        let bias = if bias {
            Some(var(&p, "bias", &[d_out], Init::Const(0.0), reg)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// LayerNorm with `weight` and `bias`.
#[derive(Debug)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    dim: i64,
}

impl LayerNorm {
    fn new(p: nn::Path, dim: i64, eps: f64, reg: &mut Registry) -> Result<Self> {
        Ok(LayerNorm {
            weight: var(&p, "weight", &[dim], Init::Const(1.0), reg)?,
            bias: var(&p, "bias", &[dim], Init::Const(0.0), reg)?,
            eps,
            dim,
        })
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [self.dim],
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            true,
        )
    }
}

#[derive(Debug)]
struct Attention {
    query_key_value: Linear,
    dense: Linear,
    n_head: i64,
    head_dim: i64,
    rotary_ndims: i64,
}

impl Attention {
    fn new(p: nn::Path, cfg: &GptNeoXConfig, init: Init, reg: &mut Registry) -> Result<Self> {
        let d = cfg.hidden_size;
        let bias = cfg.attention_bias;
        Ok(Attention {
            query_key_value: Linear::new(&p / "query_key_value", d, 3 * d, bias, init, reg)?,
            dense: Linear::new(&p / "dense", d, d, bias, init, reg)?,
            n_head: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            rotary_ndims: cfg.rotary_ndims(),
        })
    }

    /// `x`: `[B,S,D]`; `cos`/`sin`: `[S, rotary_ndims]`.
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (b, s, d) = size3(x, "attention input")?;
        let hd = self.head_dim;
        // [B,S,3D] → [B,S,H,3hd] → [B,H,S,3hd] → q,k,v each [B,H,S,hd] (HF layout).
        let qkv = self
            .query_key_value
            .forward(x)
            .view([b, s, self.n_head, 3 * hd])
            .transpose(1, 2);
        let q = qkv.narrow(-1, 0, hd);
        let k = qkv.narrow(-1, hd, hd);
        let v = qkv.narrow(-1, 2 * hd, hd);
        let (q, k) = if self.rotary_ndims > 0 {
            (
                apply_rotary(&q, cos, sin, self.rotary_ndims),
                apply_rotary(&k, cos, sin, self.rotary_ndims),
            )
        } else {
            (q, k)
        };
        let scale = (hd as f64).powf(-0.5);
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            0.0,
            true,
            Some(scale),
            false,
        );
        let y = y.transpose(1, 2).contiguous().view([b, s, d]);
        Ok(self.dense.forward(&y))
    }
}

/// `rotate_half`: `[x1, x2] → [−x2, x1]` over the last dimension.
fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    Tensor::cat(&[x2.neg(), x1], -1)
}

/// Rotary embedding on the first `rd` dims of `x` (`[B,H,S,hd]`).
fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor, rd: i64) -> Tensor {
    let hd = x.size().last().copied().unwrap_or(0);
    let x_rot = x.narrow(-1, 0, rd);
    let rotated = &x_rot * cos + rotate_half(&x_rot) * sin;
    if rd == hd {
        rotated
    } else {
        Tensor::cat(&[rotated, x.narrow(-1, rd, hd - rd)], -1)
    }
}

#[derive(Debug)]
struct Mlp {
    dense_h_to_4h: Linear,
    dense_4h_to_h: Linear,
    act: Activation,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.dense_h_to_4h.forward(x);
        let h = match self.act {
            Activation::Gelu => h.gelu("none"),
            Activation::GeluTanh => h.gelu("tanh"),
            Activation::Relu => h.relu(),
        };
        self.dense_4h_to_h.forward(&h)
    }
}

#[derive(Debug)]
struct Block {
    input_layernorm: LayerNorm,
    post_attention_layernorm: LayerNorm,
    attention: Attention,
    mlp: Mlp,
    parallel: bool,
}

impl Block {
    fn forward(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let a = self
            .attention
            .forward(&self.input_layernorm.forward(x), cos, sin)?;
        Ok(if self.parallel {
            let m = self.mlp.forward(&self.post_attention_layernorm.forward(x));
            m + a + x
        } else {
            let h = a + x;
            let m = self.mlp.forward(&self.post_attention_layernorm.forward(&h));
            m + h
        })
    }
}

/// How freshly created variables are filled (see [`crate::model::presets`] for Pythia's recipe).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FreshInit {
    /// HF `_init_weights`: matrices N(0, initializer_range²), biases 0, LayerNorm 1/0.
    Normal(f64),
    /// Everything zero except LayerNorm weights: for weights that are loaded next.
    Zeros,
}

/// A `GPTNeoXForCausalLM` (decoder + LM head) on tch.
#[derive(Debug)]
pub struct GptNeoX {
    embed_in: Tensor,
    layers: Vec<Block>,
    final_layer_norm: LayerNorm,
    embed_out: Tensor,
    cfg: GptNeoXConfig,
    params: Registry,
}

impl GptNeoX {
    /// Creates the model's variables under `p` with Hugging Face's names and default
    /// initialisation (normal σ = `initializer_range`, biases 0, LayerNorm 1/0).
    /// `p` is normally `vs.root()`.
    pub fn new(p: &nn::Path, cfg: &GptNeoXConfig) -> Result<Self> {
        Self::with_init(p, cfg, FreshInit::Normal(cfg.initializer_range))
    }

    pub(crate) fn with_init(p: &nn::Path, cfg: &GptNeoXConfig, init: FreshInit) -> Result<Self> {
        cfg.validate().map_err(LlmError::InvalidShape)?;
        let act = cfg.activation().map_err(LlmError::InvalidShape)?;
        let w_init = match init {
            FreshInit::Normal(stdev) => Init::Randn { mean: 0.0, stdev },
            FreshInit::Zeros => Init::Const(0.0),
        };
        let (v, d) = (cfg.vocab_size, cfg.hidden_size);
        let eps = cfg.layer_norm_eps;
        let mut reg = Registry::new();
        let base = p / "gpt_neox";
        let embed_in = var(&(&base / "embed_in"), "weight", &[v, d], w_init, &mut reg)?;
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let lp = &base / "layers" / i;
            let mp = &lp / "mlp";
            let inner = cfg.intermediate_size;
            layers.push(Block {
                input_layernorm: LayerNorm::new(&lp / "input_layernorm", d, eps, &mut reg)?,
                post_attention_layernorm: LayerNorm::new(
                    &lp / "post_attention_layernorm",
                    d,
                    eps,
                    &mut reg,
                )?,
                attention: Attention::new(&lp / "attention", cfg, w_init, &mut reg)?,
                mlp: Mlp {
                    dense_h_to_4h: Linear::new(
                        &mp / "dense_h_to_4h",
                        d,
                        inner,
                        true,
                        w_init,
                        &mut reg,
                    )?,
                    dense_4h_to_h: Linear::new(
                        &mp / "dense_4h_to_h",
                        inner,
                        d,
                        true,
                        w_init,
                        &mut reg,
                    )?,
                    act,
                },
                parallel: cfg.use_parallel_residual,
            });
        }
        let final_layer_norm = LayerNorm::new(&base / "final_layer_norm", d, eps, &mut reg)?;
        let embed_out = if cfg.tie_word_embeddings {
            embed_in.shallow_clone()
        } else {
            var(&(p / "embed_out"), "weight", &[v, d], w_init, &mut reg)?
        };
        Ok(GptNeoX {
            embed_in,
            layers,
            final_layer_norm,
            embed_out,
            cfg: cfg.clone(),
            params: reg,
        })
    }

    /// The config the model was built from.
    pub fn config(&self) -> &GptNeoXConfig {
        &self.cfg
    }

    /// `cos`, `sin` of shape `[S, rotary_ndims]` (HF `GPTNeoXRotaryEmbedding`), in `kind`.
    fn rotary(&self, seq_len: i64, kind: Kind, device: tch::Device) -> (Tensor, Tensor) {
        let rd = self.cfg.rotary_ndims();
        let opts = (Kind::Float, device);
        let exponents = Tensor::arange_start_step(0, rd, 2, opts) / (rd as f64);
        let inv_freq = Tensor::pow_scalar(self.cfg.rotary_emb_base, &exponents).reciprocal();
        let pos = Tensor::arange(seq_len, opts);
        let freqs = pos.unsqueeze(1) * inv_freq.unsqueeze(0);
        let emb = Tensor::cat(&[&freqs, &freqs], -1);
        (emb.cos().to_kind(kind), emb.sin().to_kind(kind))
    }

    /// Final hidden states `[B,S,D]` (after `final_layer_norm`, before `embed_out`), in
    /// the model's dtype. `input_ids`: `[B,S]` int64. Attention is causal, so
    /// right-padding never changes the states of the real tokens.
    pub fn hidden_states(&self, input_ids: &Tensor) -> Result<Tensor> {
        let seq_len = input_ids.size().last().copied().unwrap_or(0);
        let mut x = Tensor::embedding(&self.embed_in, input_ids, -1, false, false);
        let (cos, sin) = self.rotary(seq_len, x.kind(), x.device());
        for layer in &self.layers {
            x = layer.forward(&x, &cos, &sin)?;
        }
        Ok(self.final_layer_norm.forward(&x))
    }

    /// Logits `[B,S,V]` in float32 from final hidden states `[B,S,D]`.
    pub fn logits_from_hidden(&self, hidden: &Tensor) -> Tensor {
        hidden
            .linear(&self.embed_out, None::<Tensor>)
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

    /// Parameters in Hugging Face naming (as `nn::Path` registered them) and order of
    /// creation (`embed_out.weight` absent when tied).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
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
