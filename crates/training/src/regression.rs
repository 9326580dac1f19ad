//! Training a [`Regressor`] on manifold data (mean squared error), the measurement behind
//! `scalinglab reproduce manifolds`.
//!
//! Each point `x ∈ R^D` becomes D tokens (one quantised coordinate each,
//! [`ManifoldData::encode_tokens`]); the model reads the target out at the last position.
//! Training draws batches with replacement from `n` training points for a fixed number of AdamW
//! steps (warmup then cosine), evaluates a validation set every `eval_every` steps, and reports
//! the test error at the step of the best validation error (early stopping), so that small
//! data sets are not scored after over-fitting.
//!
//! # Label noise
//! With `label_noise = σ > 0` the training and validation labels are `f(x) + σ ε`, `ε ~ N(0, 1)`
//! drawn afresh for each point (the setting of the minimax rate `n^(−2s/(2s+d))`), while the
//! test error is measured against the clean `f(x)`: it is the excess risk, whose floor is 0
//! (up to the inputs' quantisation), not `σ²`. With `σ = 0` every label is exact.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rand_distr::StandardNormal;
use scalinglab_data::ManifoldData;
use scalinglab_model::{ModelConfig, Regressor};
use serde::{Deserialize, Serialize};

use crate::{AdamW, LrSchedule, TrainConfig, TrainingError};

/// How one regressor is trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionTrain {
    /// Quantisation bins per coordinate (the vocabulary) when the model reads tokens.
    /// Default: 256.
    pub bins: usize,
    /// Real coordinates per position through a linear input embedding
    /// ([`ModelConfig::init_patch_regressor`]), at most the ambient dimension; 0 feeds one
    /// quantised token per coordinate instead. Default: 0.
    #[serde(default)]
    pub patch: usize,
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
    /// Standard deviation σ of the Gaussian noise added to the training and validation labels
    /// (the targets have unit variance), in `[0, 1000]`; the test error is against the clean
    /// targets. Default: 0 (exact labels).
    #[serde(default)]
    pub label_noise: f64,
}

impl Default for RegressionTrain {
    fn default() -> Self {
        Self {
            bins: 256,
            patch: 0,
            steps: 500,
            batch_size: 64,
            lr: 2e-3,
            validation: 1024,
            test: 4096,
            eval_every: 50,
            label_noise: 0.0,
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
    /// The test error of the untrained model, which predicts 0, the targets' mean (0 in
    /// results written before it was recorded): the plateau a learning curve starts from.
    #[serde(default)]
    pub initial_test_mse: f64,
    /// Optimisation steps taken (0 in results written before it was recorded).
    #[serde(default)]
    pub steps: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Points as the model reads them: one quantised token per coordinate, or patches of real
/// coordinates.
#[derive(Clone)]
enum Inputs {
    Tokens(Tensor<2, Int>),
    Patches(Tensor<3>),
}

impl Inputs {
    fn select(&self, idx: Tensor<1, Int>) -> Inputs {
        match self {
            Inputs::Tokens(t) => Inputs::Tokens(t.clone().select(0, idx)),
            Inputs::Patches(p) => Inputs::Patches(p.clone().select(0, idx)),
        }
    }
}

/// Points and targets as device tensors.
struct Split {
    inputs: Inputs,
    targets: Tensor<1>,
    len: usize,
}

fn loss(model: &Regressor, x: Inputs, y: Tensor<1>) -> Tensor<1> {
    match x {
        Inputs::Tokens(t) => model.mse(t, y),
        Inputs::Patches(p) => model.mse_patches(p, y),
    }
}

/// The labels of a sample drawn with `seed`: its targets plus Gaussian noise of standard
/// deviation `noise` (a stream of its own, derived from `seed`), as every learner of a grid sees
/// them ([`train_regressor`] and [`crate::knn_regression`]).
pub(crate) fn labels(targets: &[f64], noise: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x00A0_BE10_015E);
    targets
        .iter()
        .map(|&v| if noise > 0.0 { v + noise * rng.sample::<f64, _>(StandardNormal) } else { v })
        .collect()
}

/// The largest label noise accepted: 1,000 target standard deviations, so that every label
/// stays finite in `f32`.
const MAX_LABEL_NOISE: f64 = 1e3;

/// Refuses a label noise that is negative, not finite or above [`MAX_LABEL_NOISE`], naming the
/// field (shared by [`train_regressor`] and [`crate::knn_regression`]).
pub(crate) fn check_label_noise(sigma: f64) -> Result<(), TrainingError> {
    if sigma.is_finite() && (0.0..=MAX_LABEL_NOISE).contains(&sigma) {
        Ok(())
    } else {
        Err(crate::error::invalid(
            "label_noise",
            sigma,
            format!("must be a standard deviation in [0, {MAX_LABEL_NOISE}]"),
        ))
    }
}

/// The sample seeds of a grid's points: training points of run seed `seed`, and the
/// validation and test points shared by every run.
pub(crate) fn train_seed(seed: u64) -> u64 {
    1_000 + seed
}
pub(crate) const VALIDATION_SEED: u64 = 1;
pub(crate) const TEST_SEED: u64 = 2;

/// `n` points of `data` drawn with `seed`, their labels perturbed by Gaussian noise of standard
/// deviation `noise` (its own stream, derived from `seed`).
fn split(
    data: &ManifoldData,
    n: usize,
    seed: u64,
    train: &RegressionTrain,
    noise: f64,
    device: &Device,
) -> Split {
    let s = data.sample(n, seed);
    let d = s.ambient_dim;
    let inputs = if train.patch == 0 {
        let mut toks = Vec::with_capacity(n * d);
        for i in 0..n {
            data.encode_tokens(s.point(i), train.bins, None, &mut toks);
        }
        let toks: Vec<i64> = toks.into_iter().map(i64::from).collect();
        Inputs::Tokens(
            Tensor::<1, Int>::from_data(TensorData::new(toks, [n * d]), device).reshape([n, d]),
        )
    } else {
        let p = train.patch;
        let positions = d.div_ceil(p);
        let mut xs = Vec::with_capacity(n * positions * p);
        for i in 0..n {
            xs.extend(data.patches(s.point(i), p));
        }
        Inputs::Patches(
            Tensor::<1>::from_data(TensorData::new(xs, [n * positions * p]), device)
                .reshape([n, positions, p]),
        )
    };
    let t: Vec<f32> = labels(&s.targets, noise, seed).into_iter().map(|v| v as f32).collect();
    let targets = Tensor::<1>::from_data(TensorData::new(t, [n]), device);
    Split { inputs, targets, len: n }
}

fn mse(model: &Regressor, s: &Split, batch: usize, device: &Device) -> f64 {
    let mut total = 0.0;
    for start in (0..s.len).step_by(batch.max(1)) {
        let end = (start + batch).min(s.len);
        let idx: Vec<i64> = (start as i64..end as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [end - start]), device);
        let x = s.inputs.select(idx.clone());
        let y = s.targets.clone().select(0, idx);
        total += loss(model, x, y).into_scalar::<f32>() as f64 * (end - start) as f64;
    }
    total / s.len as f64
}

/// Trains a regressor of `model` (its `context` must hold a point's positions, one per
/// coordinate or per patch, and its `vocab_size` at least `train.bins` when it reads tokens) on
/// `n_train` points of `data` drawn with `seed` (validation and test points take seeds of their own, the same for every run of a grid), on
/// `device`.
///
/// # Errors
/// [`TrainingError::Invalid`] for a model that cannot read the points, for `n_train = 0`, a
/// patch wider than the ambient dimension or a label noise outside `[0, 1000]`.
pub fn train_regressor(
    data: &ManifoldData,
    model: &ModelConfig,
    n_train: usize,
    train: &RegressionTrain,
    seed: u64,
    device: &Device,
) -> Result<RegressionResult, TrainingError> {
    let ambient = data.config().ambient_dim;
    // Checked before the patches are allocated (n · ⌈D/p⌉ · p numbers).
    if train.patch > ambient {
        return Err(crate::error::invalid(
            "patch",
            train.patch,
            format!("must be at most the ambient dimension {ambient} (0 reads tokens)"),
        ));
    }
    // Positions the model reads: one per coordinate, or one per patch.
    let positions = if train.patch == 0 { ambient } else { ambient.div_ceil(train.patch) };
    if model.context < positions {
        return Err(crate::error::invalid(
            "model.context",
            model.context,
            format!(
                "must be at least the {positions} positions of a point (ambient dimension \
                 {ambient}, patch {})",
                train.patch
            ),
        ));
    }
    if train.patch == 0 && model.vocab_size < train.bins {
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
    check_label_noise(train.label_noise)?;
    model.validate()?;
    let start = Instant::now();
    let eval_device = device.clone();
    let device = device.clone().autodiff();
    device.seed(seed);
    let noise = train.label_noise;
    let train_set = split(data, n_train, train_seed(seed), train, noise, &device);
    let val = split(data, train.validation.max(1), VALIDATION_SEED, train, noise, &eval_device);
    let test = split(data, train.test.max(1), TEST_SEED, train, 0.0, &eval_device);
    let mut net = if train.patch == 0 {
        model.init_regressor(&device)
    } else {
        model.init_patch_regressor(train.patch, &device)
    };
    let tc = TrainConfig::default();
    let mut optim = AdamW::for_module(&tc, &net);
    let steps = train.steps;
    let schedule = LrSchedule::new(train.lr, steps as u64, tc.warmup_frac, tc.min_lr_ratio);
    let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x005E_ED0F_DA7A);
    // Step 0: the untrained model predicts 0 (its head starts at zero), the targets' mean, so
    // early stopping never reports worse than that.
    let mut best = {
        let valid = net.valid();
        (mse(&valid, &val, 512, &eval_device), mse(&valid, &test, 512, &eval_device), 0usize)
    };
    let initial_test = best.1;
    for step in 0..steps {
        let idx: Vec<i64> =
            (0..train.batch_size).map(|_| rng.random_range(0..n_train) as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [train.batch_size]), &device);
        let x = train_set.inputs.select(idx.clone());
        let y = train_set.targets.clone().select(0, idx);
        let grads = GradientsParams::from_grads(loss(&net, x, y).backward(), &net);
        net = optim.step(schedule.lr_at(step as u64), net, grads).0;
        if (step + 1) % train.eval_every.max(1) == 0 || step + 1 == steps {
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
        initial_test_mse: initial_test,
        steps,
        seconds: start.elapsed().as_secs_f64(),
    })
}
