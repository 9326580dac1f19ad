//! K GPT-2 models of one shape trained as one: every parameter gets a leading replica axis.
//!
//! A scaling sweep trains many small models of the same shape: the cells of a learning-rate
//! grid, the seeds of one cell. Trained one by one, each step of each model dispatches the
//! same few hundred small operations. Stacked, the K replicas share every dispatch:
//!
//! - a weight `[d_in, d_out]` becomes `[K, d_in, d_out]` and each projection one batched
//!   matrix product of `[K, B·T, d_in]` by it;
//! - everything that acts on rows alone (attention within a sequence, GELU, the normalisation,
//!   the cross-entropy) treats the K·B sequences as one batch; LayerNorm's gain and shift are
//!   `[K, d]` ([`crate::fused::layer_norm_grouped`]);
//! - the token embedding `[K, V, d]` is one table of K·V rows, replica `k`'s tokens offset by
//!   `k·V`.
//!
//! Replica `k` computes exactly what the model [`StackedGpt::replica`] returns computes: the
//! same parameters, the same operations on its own rows; only the blocking of the matrix
//! products (and so the last bits of a sum) may differ. No parameter is shared, so the gradient
//! of the sum of the K losses is, per replica, the gradient of its own loss; a replica whose
//! loss is not finite cannot reach another's parameters.
//!
//! GPT-2 only (learned positions, LayerNorm, GELU), SP or muP, tied or untied; LLaMA blocks
//! and grouped-query attention are refused by [`StackedGpt::stack`].

use std::collections::HashMap;

use burn::module::{Param, ParamId};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::gpt::{Block, Gpt, Norm};
use crate::{ParamRole, fused};

/// LayerNorm's `ε` (as [`Gpt`]).
const LAYER_NORM_EPS: f64 = 1e-5;

/// A linear layer of K replicas: weight `[K, d_in, d_out]`, bias `[K, d_out]`.
#[derive(Module, Debug)]
pub struct StackedLinear {
    weight: Param<Tensor<3>>,
    bias: Option<Param<Tensor<2>>>,
}

impl StackedLinear {
    fn stack(layers: &[&Linear]) -> Self {
        StackedLinear {
            weight: stack_param(layers.iter().map(|l| l.weight.val()).collect()),
            bias: layers[0].bias.as_ref().map(|_| {
                stack_param(layers.iter().map(|l| l.bias.as_ref().unwrap().val()).collect())
            }),
        }
    }

    /// `x`: `[K, rows, d_in]` → `[K, rows, d_out]`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = x.matmul(self.weight.val());
        match &self.bias {
            Some(b) => y + b.val().unsqueeze_dim::<3>(1),
            None => y,
        }
    }

    fn replica(&self, k: usize, template: &Linear) -> Linear {
        Linear {
            weight: Param::initialized(template.weight.id, slice(&self.weight, k)),
            bias: template
                .bias
                .as_ref()
                .zip(self.bias.as_ref())
                .map(|(t, b)| Param::initialized(t.id, slice(b, k))),
        }
    }

    fn roles(&self, role: ParamRole, roles: &mut HashMap<ParamId, ParamRole>) {
        roles.insert(self.weight.id, role);
        if let Some(b) = &self.bias {
            roles.insert(b.id, ParamRole::Vector);
        }
    }
}

/// LayerNorm of K replicas: gain and shift `[K, d]`.
#[derive(Module, Debug)]
pub struct StackedNorm {
    gamma: Param<Tensor<2>>,
    beta: Option<Param<Tensor<2>>>,
}

impl StackedNorm {
    fn stack(norms: &[&Norm]) -> Self {
        let layer = |n: &&Norm| match n {
            Norm::Layer(l) => l.clone(),
            Norm::Rms(_) => unreachable!("stack refuses RMSNorm models"),
        };
        let ls: Vec<_> = norms.iter().map(layer).collect();
        StackedNorm {
            gamma: stack_param(ls.iter().map(|l| l.gamma.val()).collect()),
            beta: ls[0]
                .beta
                .as_ref()
                .map(|_| stack_param(ls.iter().map(|l| l.beta.as_ref().unwrap().val()).collect())),
        }
    }

    /// `x`: `[K, rows, d]`, normalised over `d`.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        fused::layer_norm_grouped(
            x,
            self.gamma.val(),
            self.beta.as_ref().map(|b| b.val()),
            LAYER_NORM_EPS,
        )
    }

    fn replica(&self, k: usize, template: &Norm) -> Norm {
        let Norm::Layer(t) = template else { unreachable!("stack refuses RMSNorm models") };
        let mut n = t.clone();
        n.gamma = Param::initialized(t.gamma.id, slice(&self.gamma, k));
        n.beta = t
            .beta
            .as_ref()
            .zip(self.beta.as_ref())
            .map(|(tb, b)| Param::initialized(tb.id, slice(b, k)));
        Norm::Layer(n)
    }

    fn roles(&self, roles: &mut HashMap<ParamId, ParamRole>) {
        roles.insert(self.gamma.id, ParamRole::Vector);
        if let Some(b) = &self.beta {
            roles.insert(b.id, ParamRole::Vector);
        }
    }
}

/// One pre-LayerNorm GPT-2 block of K replicas.
#[derive(Module, Debug)]
pub struct StackedBlock {
    ln1: StackedNorm,
    qkv: StackedLinear,
    attn_proj: StackedLinear,
    ln2: StackedNorm,
    fc: StackedLinear,
    mlp_proj: StackedLinear,
    n_heads: usize,
    scale: f64,
}

impl StackedBlock {
    /// `x`: `[K, B·T, d]` → `[K, B·T, d]`, sequences of `t` positions.
    fn forward(&self, x: Tensor<3>, t: usize) -> Tensor<3> {
        let [k, rows, d] = x.dims();
        let (kb, h) = (k * rows / t, self.n_heads);
        let hd = d / h;
        let qkv = self.qkv.forward(self.ln1.forward(x.clone())).reshape([kb, t, 3 * d]);
        let heads =
            |i: usize| qkv.clone().narrow(2, i * d, d).reshape([kb, t, h, hd]).swap_dims(1, 2);
        let (q, key, v) = (heads(0), heads(1), heads(2)); // [K·B, h, t, hd]
        let y = if fused::available(&q.device()) {
            fused::causal_softmax(q.matmul(key.swap_dims(2, 3)), self.scale).matmul(v)
        } else {
            let options =
                AttentionModuleOptions { scale: Some(self.scale), softcap: None, is_causal: t > 1 };
            attention(q, key, v, None, None, options)
        };
        let y = y.swap_dims(1, 2).reshape([k, rows, d]);
        let x = x + self.attn_proj.forward(y);
        let hidden = fused::gelu(self.fc.forward(self.ln2.forward(x.clone())));
        x + self.mlp_proj.forward(hidden)
    }
}

/// K GPT-2 decoders of one configuration, stacked (see the [module docs](self)).
#[derive(Module, Debug)]
pub struct StackedGpt {
    tok_emb: Param<Tensor<3>>,
    pos_emb: Param<Tensor<3>>,
    blocks: Vec<StackedBlock>,
    ln_f: StackedNorm,
    lm_head: Option<StackedLinear>,
    replicas: usize,
    vocab: usize,
    context: usize,
    logit_multiplier: f64,
    hidden_lr_multiplier: f64,
}

/// Stacks tensors of one shape along a new leading axis, as a trainable parameter.
fn stack_param<const D: usize, const E: usize>(ts: Vec<Tensor<D>>) -> Param<Tensor<E>> {
    let device = ts[0].device();
    let t: Tensor<E> = Tensor::stack(ts, 0);
    // A fresh leaf on the same device (an operation's output cannot become a parameter).
    Param::from_tensor(Tensor::from_data(t.into_data(), &device))
}

/// Replica `k` of a stacked parameter, without the leading axis.
fn slice<const D: usize, const E: usize>(p: &Param<Tensor<E>>, k: usize) -> Tensor<D> {
    let t = p.val();
    let trainable = t.is_require_grad();
    let mut dims = t.dims().to_vec();
    dims.remove(0);
    let n: usize = dims.iter().product();
    let shape: [usize; D] = dims.try_into().expect("one axis fewer");
    let device = t.device();
    let out = t.detach().narrow(0, k, 1).reshape([n]).reshape(shape);
    let out = Tensor::from_data(out.into_data(), &device);
    if trainable { out.require_grad() } else { out }
}

impl StackedGpt {
    /// Stacks `models` (all built from one GPT-2 configuration) into one: replica `k` starts
    /// from `models[k]`'s parameters.
    ///
    /// # Errors
    /// If there are no models, they differ in shape, or they are LLaMA-style, use
    /// grouped-query attention or dropout (which the stack cannot reproduce per replica).
    pub fn stack(models: &[Gpt]) -> Result<Self, String> {
        let first = models.first().ok_or("no models to stack")?;
        if first.rope.is_some() || first.pos_emb.is_none() {
            return Err("only GPT-2 models (learned positions, LayerNorm) can be stacked".into());
        }
        let b0 = first.blocks.first().ok_or("a model without blocks")?;
        if b0.attn.n_kv_heads != b0.attn.n_heads || b0.mlp.gate.is_some() {
            return Err("grouped-query attention and gated MLPs cannot be stacked".into());
        }
        if first.dropout.prob > 0.0 {
            return Err(format!(
                "dropout {} cannot be stacked (each replica would draw another mask than alone)",
                first.dropout.prob
            ));
        }
        let shapes = |m: &Gpt| {
            (
                m.tok_emb.weight.dims(),
                m.blocks.len(),
                m.lm_head.is_some(),
                m.context,
                m.logit_multiplier.to_bits(),
                m.hidden_lr_multiplier.to_bits(),
                m.blocks[0].attn.n_heads,
                m.blocks[0].attn.scale.to_bits(),
                m.blocks[0].mlp.fc.weight.dims(),
                m.blocks[0].attn.qkv.bias.is_some(),
            )
        };
        if models.iter().any(|m| shapes(m) != shapes(first)) {
            return Err("the models to stack differ in shape or parameterisation".into());
        }
        let [vocab, _] = first.tok_emb.weight.dims();
        let each = |f: &dyn Fn(&Gpt) -> Tensor<2>| models.iter().map(f).collect::<Vec<_>>();
        let blocks = (0..first.blocks.len())
            .map(|i| {
                let bs: Vec<&Block> = models.iter().map(|m| &m.blocks[i]).collect();
                StackedBlock {
                    ln1: StackedNorm::stack(&bs.iter().map(|b| &b.ln1).collect::<Vec<_>>()),
                    qkv: StackedLinear::stack(&bs.iter().map(|b| &b.attn.qkv).collect::<Vec<_>>()),
                    attn_proj: StackedLinear::stack(
                        &bs.iter().map(|b| &b.attn.proj).collect::<Vec<_>>(),
                    ),
                    ln2: StackedNorm::stack(&bs.iter().map(|b| &b.ln2).collect::<Vec<_>>()),
                    fc: StackedLinear::stack(&bs.iter().map(|b| &b.mlp.fc).collect::<Vec<_>>()),
                    mlp_proj: StackedLinear::stack(
                        &bs.iter().map(|b| &b.mlp.proj).collect::<Vec<_>>(),
                    ),
                    n_heads: bs[0].attn.n_heads,
                    scale: bs[0].attn.scale,
                }
            })
            .collect();
        Ok(StackedGpt {
            tok_emb: stack_param(each(&|m| m.tok_emb.weight.val())),
            pos_emb: stack_param(each(&|m| m.pos_emb.as_ref().unwrap().weight.val())),
            blocks,
            ln_f: StackedNorm::stack(&models.iter().map(|m| &m.ln_f).collect::<Vec<_>>()),
            lm_head: first.lm_head.as_ref().map(|_| {
                StackedLinear::stack(
                    &models.iter().map(|m| m.lm_head.as_ref().unwrap()).collect::<Vec<_>>(),
                )
            }),
            replicas: models.len(),
            vocab,
            context: first.context,
            logit_multiplier: first.logit_multiplier,
            hidden_lr_multiplier: first.hidden_lr_multiplier,
        })
    }

    /// Number of replicas K.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// Replica `k` as a plain [`Gpt`]: `template` (a model of the same configuration, e.g.
    /// one of those stacked) with this replica's parameter values and the template's ids.
    ///
    /// # Panics
    /// If `k ≥ K` or `template` has another shape.
    pub fn replica(&self, k: usize, template: &Gpt) -> Gpt {
        assert!(k < self.replicas, "replica {k} of {}", self.replicas);
        let mut m = template.clone();
        m.tok_emb.weight = Param::initialized(template.tok_emb.weight.id, slice(&self.tok_emb, k));
        if let Some(p) = m.pos_emb.as_mut() {
            p.weight = Param::initialized(p.weight.id, slice(&self.pos_emb, k));
        }
        for (b, s) in m.blocks.iter_mut().zip(&self.blocks) {
            b.ln1 = s.ln1.replica(k, &b.ln1);
            b.attn.qkv = s.qkv.replica(k, &b.attn.qkv);
            b.attn.proj = s.attn_proj.replica(k, &b.attn.proj);
            b.ln2 = s.ln2.replica(k, &b.ln2);
            b.mlp.fc = s.fc.replica(k, &b.mlp.fc);
            b.mlp.proj = s.mlp_proj.replica(k, &b.mlp.proj);
        }
        m.ln_f = self.ln_f.replica(k, &template.ln_f);
        if let (Some(h), Some(s)) = (m.lm_head.as_mut(), self.lm_head.as_ref()) {
            *h = s.replica(k, h);
        }
        m
    }

    /// Cross-entropy (nats) of each target token given its prefix, per replica.
    ///
    /// # Shapes
    /// `inputs`, `targets`: `[K, batch, seq]` (replica `k` reads `inputs[k]`) →
    /// `[K, batch, seq]`.
    ///
    /// # Panics
    /// If the leading axis is not K or `seq` exceeds the context.
    pub fn loss_per_token(&self, inputs: Tensor<3, Int>, targets: Tensor<3, Int>) -> Tensor<3> {
        let [k, b, t] = inputs.dims();
        assert_eq!(k, self.replicas, "inputs for {k} replicas, the stack has {}", self.replicas);
        assert!(t <= self.context, "sequence of {t} exceeds the context {}", self.context);
        let (v, device) = (self.vocab, inputs.device());
        let d = self.tok_emb.dims()[2];
        // Replica k's tokens index rows k·V.. of one [K·V, d] table.
        let offsets =
            Tensor::<1, Int>::arange(0..k as i64, &device).mul_scalar(v as i64).reshape([k, 1, 1]);
        let table = self.tok_emb.val().reshape([k * v, d]);
        let x = burn::tensor::module::embedding(table, (inputs + offsets).reshape([k * b, t]));
        let pos = self.pos_emb.val().narrow(1, 0, t).unsqueeze_dim::<4>(1); // [K, 1, t, d]
        let mut x = (x.reshape([k, b, t, d]) + pos).reshape([k, b * t, d]);
        for block in &self.blocks {
            x = block.forward(x, t);
        }
        let x = self.ln_f.forward(x);
        let logits = match &self.lm_head {
            Some(head) => head.forward(x),
            None => x.matmul(self.tok_emb.val().swap_dims(1, 2)),
        };
        let logits = if self.logit_multiplier == 1.0 {
            logits
        } else {
            logits.mul_scalar(self.logit_multiplier)
        };
        fused::cross_entropy(logits.reshape([k * b * t, v]), targets.reshape([k * b * t]))
            .reshape([k, b, t])
    }

    /// Learning-rate multiplier of a role (muP: `1/m` for hidden matrices), as
    /// [`Gpt::lr_multiplier`].
    pub fn lr_multiplier(&self, role: ParamRole) -> f64 {
        if role == ParamRole::Hidden { self.hidden_lr_multiplier } else { 1.0 }
    }

    /// The role of every stacked parameter tensor, as [`Gpt::param_roles`].
    pub fn param_roles(&self) -> HashMap<ParamId, ParamRole> {
        let mut roles = HashMap::new();
        roles.insert(self.tok_emb.id, ParamRole::Embedding);
        roles.insert(self.pos_emb.id, ParamRole::Embedding);
        for b in &self.blocks {
            b.ln1.roles(&mut roles);
            b.ln2.roles(&mut roles);
            b.qkv.roles(ParamRole::Hidden, &mut roles);
            b.attn_proj.roles(ParamRole::Hidden, &mut roles);
            b.fc.roles(ParamRole::Hidden, &mut roles);
            b.mlp_proj.roles(ParamRole::Hidden, &mut roles);
        }
        self.ln_f.roles(&mut roles);
        if let Some(h) = &self.lm_head {
            h.roles(ParamRole::Output, &mut roles);
        }
        roles
    }
}
