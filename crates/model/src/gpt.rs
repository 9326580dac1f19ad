//! The decoder: GPT-2 and LLaMA blocks behind one module type, [`Gpt`].
//!
//! - GPT-2 (Radford et al. 2019, as nanoGPT's `model.py`): pre-LayerNorm blocks, learned
//!   absolute positions, GELU MLP, biases; weights drawn from N(0, 0.02²), residual output
//!   projections from N(0, 0.02²/(2L)), biases zero, norm gains one.
//! - LLaMA (Touvron et al. 2023): pre-RMSNorm blocks, rotary position embedding on queries and
//!   keys (the rotate-half layout of GPT-NeoX and Hugging Face), SwiGLU MLP
//!   `down(silu(gate(x)) ⊙ up(x))`, no biases, optional grouped-query attention. Same
//!   initialisation as GPT-2.
//!
//! Under muP (see [`Parameterization::Mup`](crate::Parameterization)) hidden matrices are drawn
//! with variance `init_std²/m`, the logits are multiplied by `α_out/m`, and attention logits
//! are scaled by `1/d_head`; [`Gpt::param_roles`] tells the optimiser which tensors take the
//! `1/m` learning rate.

use std::collections::HashMap;

use burn::module::{Initializer, ParamId};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, LayerNorm, LayerNormConfig, Linear, RmsNorm, RmsNormConfig,
};
use burn::prelude::*;
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::{Arch, ModelConfig, ParamRole, Parameterization};

/// A linear layer with normal initialisation: weight N(0, std²) (zeros when `std` is 0), bias
/// zero.
fn linear(d_in: usize, d_out: usize, bias: bool, std: f64, device: &Device) -> Linear {
    let init = if std == 0.0 { Initializer::Zeros } else { Initializer::Normal { mean: 0.0, std } };
    Linear {
        weight: init.init([d_in, d_out], device),
        bias: bias.then(|| Initializer::Zeros.init([d_out], device)),
    }
}

/// LayerNorm's `ε` (burn's and PyTorch's default).
const LAYER_NORM_EPS: f64 = 1e-5;

/// LayerNorm (GPT-2) or RMSNorm (LLaMA).
#[derive(Module, Debug)]
pub enum Norm {
    /// LayerNorm with optional bias.
    Layer(LayerNorm),
    /// RMSNorm (gain only).
    Rms(RmsNorm),
}

impl Norm {
    fn new(arch: Arch, d: usize, bias: bool, device: &Device) -> Self {
        match arch {
            Arch::Gpt2 => Norm::Layer(
                LayerNormConfig::new(d).with_bias(bias).with_epsilon(LAYER_NORM_EPS).init(device),
            ),
            Arch::Llama => Norm::Rms(RmsNormConfig::new(d).init(device)),
        }
    }

    /// Normalises the last axis (LayerNorm through [`crate::fused::layer_norm`]: one fused
    /// pass forward and backward on the CPU backend, burn's composed operations elsewhere).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Norm::Layer(n) => crate::fused::layer_norm(
                x,
                n.gamma.val(),
                n.beta.as_ref().map(|b| b.val()),
                LAYER_NORM_EPS,
            ),
            Norm::Rms(n) => n.forward(x),
        }
    }
}

/// Rotary position embedding tables (constants, not parameters).
#[derive(Module, Debug)]
pub struct Rope {
    /// `cos(p θ_i)` for position p and frequency i, repeated over both halves: `[T, d_head]`.
    cos: Tensor<2>,
    /// `sin(p θ_i)`, same layout.
    sin: Tensor<2>,
}

impl Rope {
    fn new(context: usize, head_dim: usize, theta: f64, device: &Device) -> Self {
        let half = head_dim / 2;
        let (mut cos, mut sin) =
            (Vec::with_capacity(context * head_dim), Vec::with_capacity(context * head_dim));
        for p in 0..context {
            for j in 0..head_dim {
                let i = j % half;
                let angle = p as f64 * theta.powf(-2.0 * i as f64 / head_dim as f64);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        let table =
            |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [context, head_dim]), device);
        Rope { cos: table(cos), sin: table(sin) }
    }

    /// Rotates `x` (`[batch, heads, seq, d_head]`) as if its first position were `start`:
    /// `x cos + rotate_half(x) sin` with `rotate_half(x₁, x₂) = (−x₂, x₁)`.
    fn apply(&self, x: Tensor<4>, start: usize) -> Tensor<4> {
        let [_, _, t, hd] = x.dims();
        let half = hd / 2;
        let cos = self.cos.clone().slice([start..start + t]).unsqueeze::<4>();
        let sin = self.sin.clone().slice([start..start + t]).unsqueeze::<4>();
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos + rotated * sin
    }
}

/// Keys and values of the positions seen so far, one entry per block (see
/// [`Gpt::forward_cached`]).
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    /// Per block: keys and values `[batch, kv_heads, seen, d_head]`.
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    /// Positions already in the cache.
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Causal multi-head self-attention with one fused q/k/v projection (grouped-query when the
/// model has fewer key/value heads than query heads).
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    pub(crate) qkv: Linear,
    pub(crate) proj: Linear,
    pub(crate) dropout: Dropout,
    pub(crate) n_heads: usize,
    pub(crate) n_kv_heads: usize,
    pub(crate) scale: f64,
}

impl CausalSelfAttention {
    /// `x`: `[batch, seq, d_model]` → `[batch, seq, d_model]`. With a cache, the keys and
    /// values of the earlier positions are prepended and the new ones stored in `slot`.
    fn forward(
        &self,
        x: Tensor<3>,
        rope: Option<&Rope>,
        start: usize,
        slot: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
    ) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let (h, g) = (self.n_heads, self.n_kv_heads);
        let hd = d / h;
        let qkv = self.qkv.forward(x); // [b, t, (h + 2g) hd]
        let heads = |offset: usize, n: usize| {
            qkv.clone().narrow(2, offset * hd, n * hd).reshape([b, t, n, hd]).swap_dims(1, 2)
        }; // [b, n, t, hd]
        let (mut q, mut k, v) = (heads(0, h), heads(h, g), heads(h + g, g));
        if let Some(rope) = rope {
            q = rope.apply(q, start);
            k = rope.apply(k, start);
        }
        let (k, v) = match slot {
            Some(slot) => {
                let (k, v) = match slot.take() {
                    Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
                    None => (k, v),
                };
                *slot = Some((k.clone(), v.clone()));
                (k, v)
            }
            None => (k, v),
        };
        let s = k.dims()[2]; // keys: earlier positions + these
        let (k, v) = if g == h {
            (k, v)
        } else {
            let expand =
                |z: Tensor<4>| z.unsqueeze_dim::<5>(2).repeat_dim(2, h / g).reshape([b, h, s, hd]);
            (expand(k), expand(v))
        };
        // Query i (absolute position start + i) may see keys 0..=start + i.
        let (mask, is_causal) = if start == 0 {
            (None, t > 1)
        } else if t == 1 {
            (None, false)
        } else {
            let rows = Tensor::<1, Int>::arange(0..t as i64, &q.device()).reshape([t, 1]);
            let cols = Tensor::<1, Int>::arange(0..s as i64, &q.device()).reshape([1, s]);
            let mask = cols.greater(rows.add_scalar(start as i64)); // true = masked
            (Some(mask.unsqueeze::<4>().expand([b, h, t, s])), false)
        };
        let y = if is_causal && crate::fused::available(&q.device()) {
            // Training and evaluation without a cache: one fused scale + causal mask + softmax
            // pass between the two batched matrix products (crate::fused).
            let p = crate::fused::causal_softmax(q.matmul(k.swap_dims(2, 3)), self.scale);
            p.matmul(v)
        } else {
            let options =
                AttentionModuleOptions { scale: Some(self.scale), softcap: None, is_causal };
            attention(q, k, v, mask, None, options)
        }; // [b, h, t, hd]
        let y = y.swap_dims(1, 2).reshape([b, t, d]);
        self.dropout.forward(self.proj.forward(y))
    }
}

/// The position-wise MLP: `proj(gelu(fc(x)))` (GPT-2) or `proj(silu(gate(x)) ⊙ fc(x))`
/// (LLaMA's SwiGLU, where `fc` is the "up" projection).
#[derive(Module, Debug)]
pub struct Mlp {
    pub(crate) fc: Linear,
    pub(crate) gate: Option<Linear>,
    pub(crate) proj: Linear,
    pub(crate) dropout: Dropout,
}

impl Mlp {
    /// `x`: `[batch, seq, d_model]` → `[batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = match &self.gate {
            None => crate::fused::gelu(self.fc.forward(x)),
            Some(gate) => silu(gate.forward(x.clone())) * self.fc.forward(x),
        };
        self.dropout.forward(self.proj.forward(hidden))
    }
}

/// One pre-norm block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`.
#[derive(Module, Debug)]
pub struct Block {
    pub(crate) ln1: Norm,
    pub(crate) attn: CausalSelfAttention,
    pub(crate) ln2: Norm,
    pub(crate) mlp: Mlp,
}

impl Block {
    fn forward(
        &self,
        x: Tensor<3>,
        rope: Option<&Rope>,
        start: usize,
        slot: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
    ) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln1.forward(x), rope, start, slot);
        x.clone() + self.mlp.forward(self.ln2.forward(x))
    }
}

/// A decoder-only transformer, GPT-2 or LLaMA style. Build it with [`ModelConfig::init`].
#[derive(Module, Debug)]
pub struct Gpt {
    pub(crate) tok_emb: Embedding,
    /// Learned absolute positions (GPT-2); `None` for LLaMA, which rotates queries and keys.
    pub(crate) pos_emb: Option<Embedding>,
    pub(crate) rope: Option<Rope>,
    pub(crate) dropout: Dropout,
    pub(crate) blocks: Vec<Block>,
    pub(crate) ln_f: Norm,
    /// Unembedding; `None` when tied to the token embedding.
    pub(crate) lm_head: Option<Linear>,
    pub(crate) context: usize,
    pub(crate) logit_multiplier: f64,
    /// Adam learning-rate multiplier of hidden matrices (muP: 1/m; SP: 1).
    pub(crate) hidden_lr_multiplier: f64,
}

impl ModelConfig {
    /// Builds the model on `device`, initialised as GPT-2 (see the [module docs](crate::gpt)),
    /// with muP's width scaling when the config asks for it.
    ///
    /// # Panics
    /// If the config is invalid; call [`ModelConfig::validate`] first to get an error instead.
    pub fn init(&self, device: &Device) -> Gpt {
        if let Err(e) = self.validate() {
            panic!("invalid model config: {e}");
        }
        let (d, f, std, bias) = (self.d_model, self.d_ff(), self.init_std, self.bias());
        let (h, g, hd) = (self.n_heads, self.kv_heads(), self.head_dim());
        // muP: hidden matrices have variance init_std²/m (m = 1 under SP).
        let hidden_std = std / self.width_multiplier().sqrt();
        let resid_std = hidden_std / (2.0 * self.n_layers as f64).sqrt();
        let embedding = |n: usize| Embedding {
            weight: Initializer::Normal { mean: 0.0, std }.init([n, d], device),
        };
        let dropout = || DropoutConfig::new(self.dropout).init();
        let llama = self.arch == Arch::Llama;
        let blocks = (0..self.n_layers)
            .map(|_| Block {
                ln1: Norm::new(self.arch, d, bias, device),
                attn: CausalSelfAttention {
                    qkv: linear(d, (h + 2 * g) * hd, bias, hidden_std, device),
                    proj: linear(h * hd, d, bias, resid_std, device),
                    dropout: dropout(),
                    n_heads: h,
                    n_kv_heads: g,
                    scale: self.attention_scale(),
                },
                ln2: Norm::new(self.arch, d, bias, device),
                mlp: Mlp {
                    fc: linear(d, f, bias, hidden_std, device),
                    gate: llama.then(|| linear(d, f, bias, hidden_std, device)),
                    proj: linear(f, d, bias, resid_std, device),
                    dropout: dropout(),
                },
            })
            .collect();
        Gpt {
            tok_emb: embedding(self.vocab_size),
            pos_emb: (!llama).then(|| embedding(self.context)),
            rope: llama.then(|| Rope::new(self.context, hd, self.rope_theta, device)),
            dropout: dropout(),
            blocks,
            ln_f: Norm::new(self.arch, d, bias, device),
            // muP: the readout starts at zero (Yang et al. 2022, §D.2), so the logits are zero
            // at every width and grow only through training.
            lm_head: (!self.tie_embeddings).then(|| {
                let out_std =
                    if self.parameterization == Parameterization::Mup { 0.0 } else { std };
                linear(d, self.vocab_size, false, out_std, device)
            }),
            context: self.context,
            logit_multiplier: self.logit_multiplier(),
            hidden_lr_multiplier: self.lr_multiplier(ParamRole::Hidden),
        }
    }
}

impl Gpt {
    /// Residual stream after the final norm, for tokens at positions `start..start + seq`.
    fn trunk(&self, tokens: Tensor<2, Int>, cache: Option<&mut KvCache>) -> Tensor<3> {
        self.trunk_from(self.tok_emb.forward(tokens), cache)
    }

    /// The trunk from input vectors `x` (`[batch, seq, d_model]`) in place of token
    /// embeddings: positions, blocks and the final norm. The regressor's linear input feeds it.
    pub(crate) fn trunk_from(
        &self,
        mut x: Tensor<3>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let [_, t, _] = x.dims();
        let start = cache.as_ref().map_or(0, |c| c.len);
        assert!(
            start + t <= self.context,
            "positions {start}..{} exceed the context {}",
            start + t,
            self.context
        );
        if let Some(pos) = &self.pos_emb {
            x = x + pos.weight.val().slice([start..start + t]).unsqueeze_dim::<3>(0);
        }
        let mut x = self.dropout.forward(x);
        if let Some(c) = cache.as_deref_mut()
            && c.layers.len() != self.blocks.len()
        {
            c.layers = vec![None; self.blocks.len()];
        }
        for (i, block) in self.blocks.iter().enumerate() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = block.forward(x, self.rope.as_ref(), start, slot);
        }
        if let Some(c) = cache {
            c.len += t;
        }
        self.ln_f.forward(x)
    }

    fn unembed(&self, x: Tensor<3>) -> Tensor<3> {
        let logits = match &self.lm_head {
            Some(head) => head.forward(x),
            None => {
                let w = self.tok_emb.weight.val().transpose().unsqueeze_dim::<3>(0); // [1, d, V]
                x.matmul(w)
            }
        };
        if self.logit_multiplier == 1.0 { logits } else { logits.mul_scalar(self.logit_multiplier) }
    }

    /// Next-token logits.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` with `seq <= context` → logits `[batch, seq, vocab]`.
    ///
    /// # Panics
    /// If `seq` exceeds the context length.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.unembed(self.trunk(tokens, None))
    }

    /// Logits of `tokens`, which continue the sequence whose keys and values `cache` holds;
    /// the new keys and values are appended. With an empty cache this equals
    /// [`forward`](Self::forward); feeding a sequence in pieces gives the same logits as feeding
    /// it whole.
    ///
    /// # Shapes
    /// `tokens`: `[batch, new]` → `[batch, new, vocab]`; the batch must match the cache's.
    ///
    /// # Panics
    /// If the cached and new positions together exceed the context length.
    pub fn forward_cached(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        self.unembed(self.trunk(tokens, Some(cache)))
    }

    /// Final-layer hidden states (the residual stream after the last norm), the
    /// representation whose intrinsic dimension the statistics measure.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` → `[batch, seq, d_model]`.
    pub fn hidden_states(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.trunk(tokens, None)
    }

    /// Every layer's output, for the muP coordinate check: `("embedding", x₀)`, then
    /// `("block i", x_i)` for each block, then `("logits", z)`.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` → tensors `[batch, seq, d_model]` (logits `[batch, seq, vocab]`).
    pub fn activations(&self, tokens: Tensor<2, Int>) -> Vec<(String, Tensor<3>)> {
        let [_, t] = tokens.dims();
        let mut x = self.tok_emb.forward(tokens);
        if let Some(pos) = &self.pos_emb {
            x = x + pos.weight.val().slice([0..t]).unsqueeze_dim::<3>(0);
        }
        let mut out = vec![("embedding".to_string(), x.clone())];
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x, self.rope.as_ref(), 0, None);
            out.push((format!("block {i}"), x.clone()));
        }
        out.push(("logits".to_string(), self.unembed(self.ln_f.forward(x))));
        out
    }

    /// Cross-entropy (nats) of each target token given its prefix.
    ///
    /// # Shapes
    /// `inputs`, `targets`: `[batch, seq]` → `[batch, seq]`; entry `(i, n)` is the loss of the
    /// token at position `n + 1` given the `n + 1` tokens before it.
    pub fn loss_per_token(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2> {
        let [b, t] = targets.dims();
        let logits = self.forward(inputs); // [b, t, V]
        let v = logits.dims()[2];
        // One fused log-softmax + pick per row on the CPU backend (crate::fused).
        crate::fused::cross_entropy(logits.reshape([b * t, v]), targets.reshape([b * t]))
            .reshape([b, t])
    }

    /// Mean cross-entropy (nats per token) over every target.
    pub fn loss(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<1> {
        self.loss_per_token(inputs, targets).mean()
    }

    /// Context length the model was built for.
    pub fn context(&self) -> usize {
        self.context
    }

    /// The learning-rate multiplier of a parameter role in this model (see
    /// [`ModelConfig::lr_multiplier`]).
    pub fn lr_multiplier(&self, role: ParamRole) -> f64 {
        if role == ParamRole::Hidden { self.hidden_lr_multiplier } else { 1.0 }
    }

    /// The role of every parameter tensor (which sets its muP learning rate and whether weight
    /// decay applies), keyed by parameter id.
    pub fn param_roles(&self) -> HashMap<ParamId, ParamRole> {
        let mut roles = HashMap::new();
        let linear = |l: &Linear, role: ParamRole, roles: &mut HashMap<ParamId, ParamRole>| {
            roles.insert(l.weight.id, role);
            if let Some(b) = &l.bias {
                roles.insert(b.id, ParamRole::Vector);
            }
        };
        let norm = |n: &Norm, roles: &mut HashMap<ParamId, ParamRole>| match n {
            Norm::Layer(n) => {
                roles.insert(n.gamma.id, ParamRole::Vector);
                if let Some(b) = &n.beta {
                    roles.insert(b.id, ParamRole::Vector);
                }
            }
            Norm::Rms(n) => {
                roles.insert(n.gamma.id, ParamRole::Vector);
            }
        };
        roles.insert(self.tok_emb.weight.id, ParamRole::Embedding);
        if let Some(p) = &self.pos_emb {
            roles.insert(p.weight.id, ParamRole::Embedding);
        }
        for b in &self.blocks {
            norm(&b.ln1, &mut roles);
            norm(&b.ln2, &mut roles);
            linear(&b.attn.qkv, ParamRole::Hidden, &mut roles);
            linear(&b.attn.proj, ParamRole::Hidden, &mut roles);
            linear(&b.mlp.fc, ParamRole::Hidden, &mut roles);
            if let Some(gate) = &b.mlp.gate {
                linear(gate, ParamRole::Hidden, &mut roles);
            }
            linear(&b.mlp.proj, ParamRole::Hidden, &mut roles);
        }
        norm(&self.ln_f, &mut roles);
        if let Some(head) = &self.lm_head {
            linear(head, ParamRole::Output, &mut roles);
        }
        roles
    }
}
