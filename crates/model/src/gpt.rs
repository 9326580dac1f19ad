//! GPT-2 style decoder: pre-LayerNorm blocks, learned absolute positions, GELU MLP.
//!
//! Follows nanoGPT's `model.py` (Radford et al. 2019): weights drawn from N(0, 0.02), residual
//! output projections from N(0, 0.02 / sqrt(2 L)), biases zero, LayerNorm gains one.

use burn::module::Initializer;
use burn::nn::{Dropout, DropoutConfig, Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, log_softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::ModelConfig;

/// A linear layer with GPT-2 initialisation: weight N(0, std²), bias zero.
fn linear(d_in: usize, d_out: usize, bias: bool, std: f64, device: &Device) -> Linear {
    Linear {
        weight: Initializer::Normal { mean: 0.0, std }.init([d_in, d_out], device),
        bias: bias.then(|| Initializer::Zeros.init([d_out], device)),
    }
}

fn layer_norm(d: usize, bias: bool, device: &Device) -> LayerNorm {
    LayerNormConfig::new(d).with_bias(bias).init(device)
}

/// Causal multi-head self-attention with one fused q/k/v projection.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    qkv: Linear,
    proj: Linear,
    dropout: Dropout,
    n_heads: usize,
}

impl CausalSelfAttention {
    /// # Shapes
    /// `x`: `[batch, seq, d_model]` → `[batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let hd = d / self.n_heads;
        let qkv = self.qkv.forward(x); // [b, t, 3d]
        let heads = |i: usize| {
            qkv.clone().narrow(2, i * d, d).reshape([b, t, self.n_heads, hd]).swap_dims(1, 2)
        }; // [b, h, t, hd]
        let (q, k, v) = (heads(0), heads(1), heads(2));
        let options = AttentionModuleOptions {
            scale: Some(1.0 / (hd as f64).sqrt()),
            softcap: None,
            is_causal: true,
        };
        let y = attention(q, k, v, None, None, options); // [b, h, t, hd]
        let y = y.swap_dims(1, 2).reshape([b, t, d]);
        self.dropout.forward(self.proj.forward(y))
    }
}

/// The position-wise MLP: Linear → GELU → Linear.
#[derive(Module, Debug)]
pub struct Mlp {
    fc: Linear,
    proj: Linear,
    dropout: Dropout,
}

impl Mlp {
    /// # Shapes
    /// `x`: `[batch, seq, d_model]` → `[batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.dropout.forward(self.proj.forward(gelu(self.fc.forward(x))))
    }
}

/// One pre-LayerNorm block: `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
#[derive(Module, Debug)]
pub struct Block {
    ln1: LayerNorm,
    attn: CausalSelfAttention,
    ln2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    /// # Shapes
    /// `x`: `[batch, seq, d_model]` → `[batch, seq, d_model]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.ln1.forward(x));
        x.clone() + self.mlp.forward(self.ln2.forward(x))
    }
}

/// GPT-2 style decoder-only transformer. Build it with [`ModelConfig::init`].
#[derive(Module, Debug)]
pub struct Gpt {
    tok_emb: Embedding,
    pos_emb: Embedding,
    dropout: Dropout,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// Unembedding; `None` when tied to the token embedding.
    lm_head: Option<Linear>,
    context: usize,
}

impl ModelConfig {
    /// Builds the model on `device`, initialised as GPT-2.
    ///
    /// # Panics
    /// If the config is invalid; call [`ModelConfig::validate`] first to get an error instead.
    pub fn init(&self, device: &Device) -> Gpt {
        if let Err(e) = self.validate() {
            panic!("invalid model config: {e}");
        }
        let (d, f, std) = (self.d_model, self.d_ff(), self.init_std);
        let resid_std = std / (2.0 * self.n_layers as f64).sqrt();
        let embedding = |n: usize| Embedding {
            weight: Initializer::Normal { mean: 0.0, std }.init([n, d], device),
        };
        let dropout = || DropoutConfig::new(self.dropout).init();
        let blocks = (0..self.n_layers)
            .map(|_| Block {
                ln1: layer_norm(d, self.bias, device),
                attn: CausalSelfAttention {
                    qkv: linear(d, 3 * d, self.bias, std, device),
                    proj: linear(d, d, self.bias, resid_std, device),
                    dropout: dropout(),
                    n_heads: self.n_heads,
                },
                ln2: layer_norm(d, self.bias, device),
                mlp: Mlp {
                    fc: linear(d, f, self.bias, std, device),
                    proj: linear(f, d, self.bias, resid_std, device),
                    dropout: dropout(),
                },
            })
            .collect();
        Gpt {
            tok_emb: embedding(self.vocab_size),
            pos_emb: embedding(self.context),
            dropout: dropout(),
            blocks,
            ln_f: layer_norm(d, self.bias, device),
            lm_head: (!self.tie_embeddings).then(|| linear(d, self.vocab_size, false, std, device)),
            context: self.context,
        }
    }
}

impl Gpt {
    /// Next-token logits.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` with `seq <= context` → logits `[batch, seq, vocab]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [_, t] = tokens.dims();
        assert!(t <= self.context, "sequence of {t} tokens exceeds the context {}", self.context);
        let positions = self.pos_emb.weight.val().slice([0..t]).unsqueeze_dim::<3>(0); // [1, t, d]
        let x = self.tok_emb.forward(tokens) + positions; // [b, t, d]
        let mut x = self.dropout.forward(x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.ln_f.forward(x);
        match &self.lm_head {
            Some(head) => head.forward(x),
            None => {
                let w = self.tok_emb.weight.val().transpose().unsqueeze_dim::<3>(0); // [1, d, V]
                x.matmul(w)
            }
        }
    }

    /// Cross-entropy (nats) of each target token given its prefix.
    ///
    /// # Shapes
    /// `inputs`, `targets`: `[batch, seq]` → `[batch, seq]`; entry `(i, n)` is the loss of the
    /// token at position `n + 1` given the `n + 1` tokens before it.
    pub fn loss_per_token(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2> {
        let log_probs = log_softmax(self.forward(inputs), 2); // [b, t, V]
        let picked = log_probs.gather(2, targets.unsqueeze_dim::<3>(2)); // [b, t, 1]
        picked.squeeze_dim::<2>(2).neg()
    }

    /// Mean cross-entropy (nats per token) over every target.
    pub fn loss(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<1> {
        self.loss_per_token(inputs, targets).mean()
    }

    /// Context length the model was built for.
    pub fn context(&self) -> usize {
        self.context
    }
}
