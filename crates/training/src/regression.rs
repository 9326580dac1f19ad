//! Training a [`Regressor`] on manifold data (mean squared error), the measurement behind
//! `scalinglab reproduce manifolds`.
//!
//! Each point `x ∈ R^D` becomes D tokens (one quantised coordinate each,
//! [`ManifoldData::encode_tokens`]); the model reads the target out at the last position.
//! Training draws batches with replacement from `n` training points for a fixed number of AdamW
//! steps (warmup then cosine), evaluates a validation set every `eval_every` steps, and reports
//! the test error at the step of the best validation error (early stopping), so that small
//! data sets are not scored after over-fitting.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use scalinglab_data::ManifoldData;
use scalinglab_model::{ModelConfig, Regressor};
use serde::{Deserialize, Serialize};

use crate::{AdamW, LrSchedule, TrainConfig, TrainingError};

/// How one regressor is trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionTrain {
    /// Quantisation bins per coordinate (the vocabulary). Default: 256.
    pub bins: usize,
    /// Optimisation steps. Default: 500.
    pub steps: usize,
    /// Points per batch. Default: 64.
    pub batch_size: usize,
    /// Peak learning rate. Default: 2e-3.
    pub lr: f64,
    /// Validation points (early stopping). Default: 1024.
    pub validation: usize,
    /// Test points (the reported error). Default: 4096.
    pub test: usize,
    /// Steps between validations. Default: 50.
    pub eval_every: usize,
}

impl Default for RegressionTrain {
    fn default() -> Self {
        Self {
            bins: 256,
            steps: 500,
            batch_size: 64,
            lr: 2e-3,
            validation: 1024,
            test: 4096,
            eval_every: 50,
        }
    }
}

/// The outcome of one regression run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressionResult {
    /// Model width.
    pub d_model: usize,
    /// Non-embedding parameters (trunk + head).
    pub params: u64,
    /// Training points n.
    pub n_train: usize,
    /// Test mean squared error at the best validation step.
    pub test_mse: f64,
    /// The best validation mean squared error.
    pub val_mse: f64,
    /// The step (1-based) of the best validation error; 0 when training never beat the
    /// untrained model (which predicts the mean).
    pub best_step: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Points and targets as device tensors.
struct Split {
    tokens: Tensor<2, Int>,
    targets: Tensor<1>,
    len: usize,
}

fn split(data: &ManifoldData, n: usize, seed: u64, bins: usize, device: &Device) -> Split {
    let s = data.sample(n, seed);
    let d = s.ambient_dim;
    let mut toks = Vec::with_capacity(n * d);
    for i in 0..n {
        data.encode_tokens(s.point(i), bins, None, &mut toks);
    }
    let toks: Vec<i64> = toks.into_iter().map(i64::from).collect();
    let tokens =
        Tensor::<1, Int>::from_data(TensorData::new(toks, [n * d]), device).reshape([n, d]);
    let t: Vec<f32> = s.targets.iter().map(|&v| v as f32).collect();
    let targets = Tensor::<1>::from_data(TensorData::new(t, [n]), device);
    Split { tokens, targets, len: n }
}

fn mse(model: &Regressor, s: &Split, batch: usize, device: &Device) -> f64 {
    let mut total = 0.0;
    for start in (0..s.len).step_by(batch.max(1)) {
        let end = (start + batch).min(s.len);
        let idx: Vec<i64> = (start as i64..end as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [end - start]), device);
        let x = s.tokens.clone().select(0, idx.clone());
        let y = s.targets.clone().select(0, idx);
        total += model.mse(x, y).into_scalar::<f32>() as f64 * (end - start) as f64;
    }
    total / s.len as f64
}

/// Trains a regressor of `model` (its `context` must be at least the ambient dimension and its
/// `vocab_size` at least `train.bins`) on `n_train` points of `data` drawn with `seed`
/// (validation and test points take seeds of their own, the same for every run of a grid), on
/// `device`.
///
/// # Errors
/// [`TrainingError::Invalid`] for a model that cannot read the points or for `n_train = 0`.
pub fn train_regressor(
    data: &ManifoldData,
    model: &ModelConfig,
    n_train: usize,
    train: &RegressionTrain,
    seed: u64,
    device: &Device,
) -> Result<RegressionResult, TrainingError> {
    let ambient = data.config().ambient_dim;
    if model.context < ambient {
        return Err(crate::error::invalid(
            "model.context",
            model.context,
            format!("must be at least the ambient dimension {ambient}"),
        ));
    }
    if model.vocab_size < train.bins {
        return Err(crate::error::invalid(
            "model.vocab_size",
            model.vocab_size,
            format!("must be at least bins = {}", train.bins),
        ));
    }
    if n_train == 0 || train.steps == 0 || train.batch_size == 0 {
        return Err(crate::error::invalid(
            "n_train / steps / batch_size",
            format!("{n_train} / {} / {}", train.steps, train.batch_size),
            "must all be positive",
        ));
    }
    model.validate()?;
    let start = Instant::now();
    let eval_device = device.clone();
    let device = device.clone().autodiff();
    device.seed(seed);
    let train_set = split(data, n_train, 1_000 + seed, train.bins, &device);
    let val = split(data, train.validation.max(1), 1, train.bins, &eval_device);
    let test = split(data, train.test.max(1), 2, train.bins, &eval_device);
    let mut net = model.init_regressor(&device);
    let tc = TrainConfig::default();
    let mut optim = AdamW::for_module(&tc, &net);
    let schedule = LrSchedule::new(train.lr, train.steps as u64, tc.warmup_frac, tc.min_lr_ratio);
    let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x005E_ED0F_DA7A);
    // Step 0: the untrained model predicts 0 (its head starts at zero), the targets' mean, so
    // early stopping never reports worse than that.
    let mut best = {
        let valid = net.valid();
        (mse(&valid, &val, 512, &eval_device), mse(&valid, &test, 512, &eval_device), 0usize)
    };
    for step in 0..train.steps {
        let idx: Vec<i64> =
            (0..train.batch_size).map(|_| rng.random_range(0..n_train) as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [train.batch_size]), &device);
        let x = train_set.tokens.clone().select(0, idx.clone());
        let y = train_set.targets.clone().select(0, idx);
        let loss = net.mse(x, y);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(schedule.lr_at(step as u64), net, grads).0;
        if (step + 1) % train.eval_every.max(1) == 0 || step + 1 == train.steps {
            let valid = net.valid();
            let v = mse(&valid, &val, 512, &eval_device);
            if v < best.0 {
                best = (v, mse(&valid, &test, 512, &eval_device), step + 1);
            }
        }
    }
    Ok(RegressionResult {
        d_model: model.d_model,
        params: model.regressor_params(),
        n_train,
        test_mse: best.1,
        val_mse: best.0,
        best_step: best.2,
        seconds: start.elapsed().as_secs_f64(),
    })
}
