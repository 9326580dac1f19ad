//! A decoder used as a regressor: the same trunk as [`Gpt`], read out at the last position by
//! a linear head to one real number. It is what `scalinglab reproduce manifolds` trains on
//! points of a d-dimensional manifold, fed as one token per quantised ambient coordinate
//! (Havrilla & Liao 2024 regress Hölder targets on manifolds with transformers).
//!
//! With causal attention the last position attends to every coordinate, so the readout sees
//! the whole point. The trunk's unembedding is tied (no unused parameters); the head is
//! initialised to zero, so a fresh regressor predicts 0, the targets' mean.

use burn::module::{Initializer, Module};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::{Gpt, ModelConfig};

/// [`Gpt`]'s trunk read out at the last position by a linear head to one real number, for
/// regression on token sequences (`scalinglab reproduce manifolds` feeds it one token per
/// quantised coordinate). Built by [`ModelConfig::init_regressor`]; the head starts at zero,
/// so a fresh regressor predicts 0.
#[derive(Module, Debug)]
pub struct Regressor {
    trunk: Gpt,
    head: Linear,
}

impl ModelConfig {
    /// Builds a [`Regressor`] with this config's trunk (`tie_embeddings` is forced on, so the
    /// unused unembedding costs no parameters).
    ///
    /// # Panics
    /// If the config is invalid; call [`ModelConfig::validate`] first to get an error instead.
    pub fn init_regressor(&self, device: &Device) -> Regressor {
        let cfg = ModelConfig { tie_embeddings: true, ..self.clone() };
        let head =
            LinearConfig::new(self.d_model, 1).with_initializer(Initializer::Zeros).init(device);
        Regressor { trunk: cfg.init(device), head }
    }

    /// Parameters of [`init_regressor`](Self::init_regressor)'s model that are not
    /// embeddings: the trunk's non-embedding count plus the head's `d + 1`.
    pub fn regressor_params(&self) -> u64 {
        let cfg = ModelConfig { tie_embeddings: true, ..self.clone() };
        cfg.param_counts().non_embedding + self.d_model as u64 + 1
    }
}

impl Regressor {
    /// Predictions, one per sequence.
    ///
    /// # Shapes
    /// `tokens`: `[batch, seq]` with `seq <= context` → `[batch]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<1> {
        let [b, t] = tokens.dims();
        let h = self.trunk.hidden_states(tokens); // [b, t, d]
        let d = h.dims()[2];
        let last = h.slice([0..b, t - 1..t, 0..d]).reshape([b, d]);
        self.head.forward(last).reshape([b])
    }

    /// Mean squared error against `targets` (`[batch]`), a one-element tensor.
    pub fn mse(&self, tokens: Tensor<2, Int>, targets: Tensor<1>) -> Tensor<1> {
        let diff = self.forward(tokens) - targets;
        (diff.clone() * diff).mean()
    }
}
