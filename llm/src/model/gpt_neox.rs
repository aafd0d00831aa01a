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

use tch::nn;
use tch::{Kind, Tensor};

use crate::model::config::GptNeoXConfig;
use crate::model::error::{LlmError, Result};
use crate::model::layers::{
    apply_rotary, causal_attention, embed, output_matrix, rope_cos_sin, rope_inv_freq, size3, var,
    Activation, LayerNorm, Linear, Registry, EMPTY,
};

#[derive(Debug)]
struct Attention {
    query_key_value: Linear,
    dense: Linear,
    n_head: i64,
    head_dim: i64,
    rotary_ndims: i64,
}

impl Attention {
    fn new(p: nn::Path, cfg: &GptNeoXConfig, reg: &mut Registry) -> Result<Self> {
        let d = cfg.hidden_size;
        let bias = cfg.attention_bias;
        Ok(Attention {
            query_key_value: Linear::new(&p / "query_key_value", d, 3 * d, bias, reg)?,
            dense: Linear::new(&p / "dense", d, d, bias, reg)?,
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
        let q = apply_rotary(&q, cos, sin, self.rotary_ndims);
        let k = apply_rotary(&k, cos, sin, self.rotary_ndims);
        let y = causal_attention(&q, &k, &v, (hd as f64).powf(-0.5), None);
        let y = y.transpose(1, 2).contiguous().view([b, s, d]);
        Ok(self.dense.forward(&y))
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
        self.dense_4h_to_h.forward(&self.act.apply(&h))
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
    /// The model's variables under `p` (normally `vs.root()`), empty (see [`EMPTY`]).
    pub(crate) fn new(p: &nn::Path, cfg: &GptNeoXConfig) -> Result<Self> {
        cfg.validate().map_err(LlmError::InvalidShape)?;
        let act = cfg.activation().map_err(LlmError::InvalidShape)?;
        let (v, d) = (cfg.vocab_size, cfg.hidden_size);
        let eps = cfg.layer_norm_eps;
        let mut reg = Registry::new();
        let base = p / "gpt_neox";
        let embed_in = var(&(&base / "embed_in"), "weight", &[v, d], EMPTY, &mut reg)?;
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
                attention: Attention::new(&lp / "attention", cfg, &mut reg)?,
                mlp: Mlp {
                    dense_h_to_4h: Linear::new(&mp / "dense_h_to_4h", d, inner, true, &mut reg)?,
                    dense_4h_to_h: Linear::new(&mp / "dense_4h_to_h", inner, d, true, &mut reg)?,
                    act,
                },
                parallel: cfg.use_parallel_residual,
            });
        }
        let final_layer_norm = LayerNorm::new(&base / "final_layer_norm", d, eps, &mut reg)?;
        let embed_out = output_matrix(
            p / "embed_out",
            &embed_in,
            cfg.tie_word_embeddings,
            v,
            &mut reg,
        )?;
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
        let inv_freq = rope_inv_freq(self.cfg.rotary_ndims(), self.cfg.rotary_emb_base, device);
        rope_cos_sin(&inv_freq, seq_len, 1.0, kind)
    }

    /// Final hidden states `[B,S,D]` (after `final_layer_norm`, before `embed_out`), in
    /// the model's dtype. `input_ids`: `[B,S]` int64.
    pub fn hidden_states(&self, input_ids: &Tensor) -> Result<Tensor> {
        let seq_len = input_ids.size().last().copied().unwrap_or(0);
        let mut x = embed(&self.embed_in, input_ids);
        let (cos, sin) = self.rotary(seq_len, x.kind(), x.device());
        for layer in &self.layers {
            x = layer.forward(&x, &cos, &sin)?;
        }
        Ok(self.final_layer_norm.forward(&x))
    }

    /// The output matrix `[V, D]` (`embed_in` when tied).
    pub(crate) fn output_weight(&self) -> &Tensor {
        &self.embed_out
    }

    /// Parameters in Hugging Face naming (as `nn::Path` registered them) and order of
    /// creation (`embed_out.weight` absent when tied).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        crate::model::family::clone_registry(&self.params)
    }
}
