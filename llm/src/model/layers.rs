//! The building blocks every model family is made of, each following its Hugging Face
//! module: `nn.Linear` and GPT-2's `Conv1D`, `LayerNorm`, RMSNorm (`LlamaRMSNorm`), the
//! activations of `ACT2FN`, rotary embeddings (`rotate_half` form) and causal attention.
//!
//! Parameters are created through `nn::Path` under exactly Hugging Face's names and
//! registered in creation order ([`Registry`]), so a checkpoint's tensors map one to one
//! onto them. Shape errors and failed allocations are returned as errors, never panics.

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use crate::model::error::{LlmError, Result};

/// A model's parameters as `nn::Path` named them, in creation order.
pub(crate) type Registry = Vec<(String, Tensor)>;

/// What every weight matrix and bias starts as: zero (norm weights start at 1). A model
/// is built empty and then loaded ([`crate::model::load`]) or drawn
/// ([`crate::model::presets`]).
pub(crate) const EMPTY: Init = Init::Const(0.0);

/// Creates variable `name` under `p` and registers it with its full (dotted) path.
pub(crate) fn var(
    p: &nn::Path,
    name: &str,
    dims: &[i64],
    init: Init,
    reg: &mut Registry,
) -> Result<Tensor> {
    let t = p
        .f_var(name, dims, init)
        .map_err(|e| LlmError::torch(format!("allocating {} {dims:?}", p.path(name)), e))?;
    reg.push((p.path(name), t.shallow_clone()));
    Ok(t)
}

/// The output (unembedding) matrix: the input embedding `tied_to` itself when tied, else
/// a new `[rows, D]` variable `p.weight` (rows: the vocabulary, or fewer, as Image GPT's).
pub(crate) fn output_matrix(
    p: nn::Path,
    tied_to: &Tensor,
    tied: bool,
    rows: i64,
    reg: &mut Registry,
) -> Result<Tensor> {
    if tied {
        Ok(tied_to.shallow_clone())
    } else {
        let d = tied_to.size().last().copied().unwrap_or(0);
        var(&p, "weight", &[rows, d], EMPTY, reg)
    }
}

/// The sizes of a 3-D tensor, or an error naming what it is.
pub(crate) fn size3(x: &Tensor, what: &str) -> Result<(i64, i64, i64)> {
    x.size3()
        .map_err(|e| LlmError::torch(format!("{what}: expected a 3-D tensor"), e))
}

/// `x·Wᵀ + b` with HF's `nn.Linear` parameter layout (`weight` is `[out, in]`).
#[derive(Debug)]
pub(crate) struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn new(
        p: nn::Path,
        d_in: i64,
        d_out: i64,
        bias: bool,
        reg: &mut Registry,
    ) -> Result<Self> {
        let weight = var(&p, "weight", &[d_out, d_in], EMPTY, reg)?;
        let bias = if bias {
            Some(var(&p, "bias", &[d_out], Init::Const(0.0), reg)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }
}

/// GPT-2's `Conv1D`: `x·W + b` with `weight` stored `[in, out]` (the transpose of
/// `nn.Linear`), as the OpenAI checkpoints keep it.
#[derive(Debug)]
pub(crate) struct Conv1D {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    pub(crate) fn new(p: nn::Path, d_in: i64, d_out: i64, reg: &mut Registry) -> Result<Self> {
        Ok(Conv1D {
            weight: var(&p, "weight", &[d_in, d_out], EMPTY, reg)?,
            bias: var(&p, "bias", &[d_out], Init::Const(0.0), reg)?,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        x.matmul(&self.weight) + &self.bias
    }
}

/// LayerNorm with `weight` and `bias`.
#[derive(Debug)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    dim: i64,
}

impl LayerNorm {
    pub(crate) fn new(p: nn::Path, dim: i64, eps: f64, reg: &mut Registry) -> Result<Self> {
        Ok(LayerNorm {
            weight: var(&p, "weight", &[dim], Init::Const(1.0), reg)?,
            bias: var(&p, "bias", &[dim], Init::Const(0.0), reg)?,
            eps,
            dim,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [self.dim],
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            true,
        )
    }
}

/// `LlamaRMSNorm`: `weight · x / √(mean(x²) + ε)`, computed in float32 and cast back.
#[derive(Debug)]
pub(crate) struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub(crate) fn new(p: nn::Path, dim: i64, eps: f64, reg: &mut Registry) -> Result<Self> {
        Ok(RmsNorm {
            weight: var(&p, "weight", &[dim], Init::Const(1.0), reg)?,
            eps,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        let h = x.to_kind(Kind::Float);
        let var = h
            .pow_tensor_scalar(2)
            .mean_dim(-1, true, Kind::Float)
            .g_add_scalar(self.eps);
        let h = h * var.rsqrt();
        &self.weight * h.to_kind(kind)
    }
}

/// `ImageGPTLayerNorm`: `weight · x / √(mean(x²) + ε)`, no bias, in the input's dtype.
#[derive(Debug)]
pub(crate) struct ImageGptNorm {
    weight: Tensor,
    eps: f64,
}

impl ImageGptNorm {
    pub(crate) fn new(p: nn::Path, dim: i64, eps: f64, reg: &mut Registry) -> Result<Self> {
        Ok(ImageGptNorm {
            weight: var(&p, "weight", &[dim], Init::Const(1.0), reg)?,
            eps,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let ms = x.square().mean_dim(-1, true, x.kind());
        x / (ms + self.eps).sqrt() * &self.weight
    }
}

/// Activation functions we implement (Hugging Face `ACT2FN` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact erf GELU (`gelu`).
    Gelu,
    /// tanh-approximated GELU (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    GeluTanh,
    /// `x·σ(1.702·x)` (`quick_gelu`).
    QuickGelu,
    /// `x·σ(x)` (`silu`, `swish`).
    Silu,
    Relu,
}

impl Activation {
    /// The activation a `config.json` names (`hidden_act`, `activation_function`).
    pub fn from_hf(key: &str, name: &str) -> std::result::Result<Self, String> {
        match name {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "quick_gelu" => Ok(Activation::QuickGelu),
            "silu" | "swish" => Ok(Activation::Silu),
            "relu" => Ok(Activation::Relu),
            other => Err(format!(
                "{key} = {other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, quick_gelu, silu, relu)"
            )),
        }
    }

    pub(crate) fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Gelu => x.gelu("none"),
            Activation::GeluTanh => x.gelu("tanh"),
            Activation::QuickGelu => x * (x * 1.702).sigmoid(),
            Activation::Silu => x.silu(),
            Activation::Relu => x.relu(),
        }
    }
}

/// `1 / base^(2i/dim)` for i < dim/2, in float32 as Hugging Face computes it.
pub(crate) fn rope_inv_freq(dim: i64, base: f64, device: Device) -> Tensor {
    let exponents = Tensor::arange_start_step(0, dim, 2, (Kind::Int64, device))
        .to_kind(Kind::Float)
        / (dim as f64);
    Tensor::pow_scalar(base, &exponents).reciprocal()
}

/// `cos`, `sin` of shape `[S, 2·len(inv_freq)]` (positions 0..S), times `scale`, in `kind`.
pub(crate) fn rope_cos_sin(
    inv_freq: &Tensor,
    seq_len: i64,
    scale: f64,
    kind: Kind,
) -> (Tensor, Tensor) {
    let pos = Tensor::arange(seq_len, (Kind::Float, inv_freq.device()));
    let freqs = pos.unsqueeze(1) * inv_freq.unsqueeze(0);
    let emb = Tensor::cat(&[&freqs, &freqs], -1);
    let (cos, sin) = (emb.cos(), emb.sin());
    let (cos, sin) = if scale == 1.0 {
        (cos, sin)
    } else {
        (cos * scale, sin * scale)
    };
    (cos.to_kind(kind), sin.to_kind(kind))
}

/// `rotate_half`: `[x1, x2] → [−x2, x1]` over the last dimension.
fn rotate_half(x: &Tensor) -> Tensor {
    let half = x.size().last().copied().unwrap_or(0) / 2;
    let x1 = x.narrow(-1, 0, half);
    let x2 = x.narrow(-1, half, half);
    Tensor::cat(&[x2.neg(), x1], -1)
}

/// Rotary embedding on the first `rd` dims of `x` (`[B,H,S,hd]`); `cos`/`sin` `[S, rd]`.
pub(crate) fn apply_rotary(x: &Tensor, cos: &Tensor, sin: &Tensor, rd: i64) -> Tensor {
    let hd = x.size().last().copied().unwrap_or(0);
    if rd == 0 {
        return x.shallow_clone();
    }
    let x_rot = x.narrow(-1, 0, rd);
    let rotated = &x_rot * cos + rotate_half(&x_rot) * sin;
    if rd == hd {
        rotated
    } else {
        Tensor::cat(&[rotated, x.narrow(-1, rd, hd - rd)], -1)
    }
}

/// Causal softmax attention of `q` `[B,H,S,hd]` over `k`, `v` `[B,H,S,hd]` with `scale`;
/// with `window = Some(w)` a query sees only the last `w` positions (Mistral's sliding
/// window: key j is visible from query i when `0 ≤ i − j < w`). Returns `[B,H,S,hd]`.
pub(crate) fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    window: Option<i64>,
) -> Tensor {
    let s = q.size()[2];
    match window {
        Some(w) if s > w => {
            let i = Tensor::arange(s, (Kind::Int64, q.device())).unsqueeze(1);
            let j = Tensor::arange(s, (Kind::Int64, q.device())).unsqueeze(0);
            let d = i - j;
            let visible = d.ge(0).logical_and(&d.lt(w));
            Tensor::scaled_dot_product_attention(
                q,
                k,
                v,
                Some(visible),
                0.0,
                false,
                Some(scale),
                false,
            )
        }
        _ => Tensor::scaled_dot_product_attention(
            q,
            k,
            v,
            None::<Tensor>,
            0.0,
            true,
            Some(scale),
            false,
        ),
    }
}

/// Grouped-query attention's `repeat_kv`: `[B, kvH, S, hd]` → `[B, kvH·n, S, hd]`, each
/// key/value head repeated for the `n` query heads that share it.
pub(crate) fn repeat_kv(x: &Tensor, n: i64) -> Tensor {
    if n == 1 {
        return x.shallow_clone();
    }
    let size = x.size();
    let (b, h, s, d) = (size[0], size[1], size[2], size[3]);
    x.unsqueeze(2)
        .expand([b, h, n, s, d], false)
        .reshape([b, h * n, s, d])
}

/// Rows of the embedding matrix `weight` for `ids`.
pub(crate) fn embed(weight: &Tensor, ids: &Tensor) -> Tensor {
    Tensor::embedding(weight, ids, -1, false, false)
}
