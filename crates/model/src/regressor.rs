//! A decoder used as a regressor: the same trunk as [`Gpt`], read out at the last position by
//! a linear head to one real number. It is what `scalinglab reproduce manifolds` trains on
//! points of a d-dimensional manifold, fed as one token per quantised ambient coordinate
//! (Havrilla & Liao 2024 regress Hölder targets on manifolds with transformers).
//!
//! Or, as Havrilla & Liao's transformer does, fed patches of real coordinates through a linear
//! input embedding ([`ModelConfig::init_patch_regressor`]): position i carries coordinates
//! `i·p .. (i+1)·p` of the point, so nearby points have nearby inputs (quantised tokens are
//! unrelated symbols until the model learns their order from data).
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
    /// The linear embedding of `patch` real coordinates per position, for a patch regressor;
    /// `None` for one reading tokens.
    input: Option<Linear>,
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
        Regressor { trunk: cfg.init(device), input: None, head }
    }

    /// Builds a [`Regressor`] that reads points as patches of `patch` real coordinates through a
    /// linear input embedding (`patch → d_model`), one patch per position, in place of the
    /// trunk's token table (which stays, unused: give the config a small `vocab_size`).
    ///
    /// # Panics
    /// If the config is invalid or `patch` is 0.
    pub fn init_patch_regressor(&self, patch: usize, device: &Device) -> Regressor {
        assert!(patch > 0, "a patch holds at least one coordinate");
        let mut r = self.init_regressor(device);
        r.input = Some(LinearConfig::new(patch, self.d_model).init(device));
        r
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
        self.read_out(self.trunk.hidden_states(tokens))
    }

    /// Predictions of a patch regressor, one per point.
    ///
    /// # Shapes
    /// `patches`: `[batch, positions, patch]` with `positions <= context` → `[batch]`.
    ///
    /// # Panics
    /// If the regressor reads tokens ([`ModelConfig::init_regressor`]).
    pub fn forward_patches(&self, patches: Tensor<3>) -> Tensor<1> {
        let input = self.input.as_ref().expect("a regressor built by init_patch_regressor");
        self.read_out(self.trunk.trunk_from(input.forward(patches), None))
    }

    /// Mean squared error of [`forward_patches`](Self::forward_patches) against `targets`
    /// (`[batch]`), a one-element tensor.
    pub fn mse_patches(&self, patches: Tensor<3>, targets: Tensor<1>) -> Tensor<1> {
        mean_squared_error(self.forward_patches(patches), targets)
    }

    /// The head applied to the last position of hidden states `h` (`[b, t, d]`).
    fn read_out(&self, h: Tensor<3>) -> Tensor<1> {
        let [b, t, d] = h.dims();
        let last = h.slice([0..b, t - 1..t, 0..d]).reshape([b, d]);
        self.head.forward(last).reshape([b])
    }

    /// Mean squared error against `targets` (`[batch]`), a one-element tensor.
    pub fn mse(&self, tokens: Tensor<2, Int>, targets: Tensor<1>) -> Tensor<1> {
        mean_squared_error(self.forward(tokens), targets)
    }
}

/// `mean((predictions − targets)²)`, a one-element tensor.
fn mean_squared_error(predictions: Tensor<1>, targets: Tensor<1>) -> Tensor<1> {
    let diff = predictions - targets;
    (diff.clone() * diff).mean()
}
