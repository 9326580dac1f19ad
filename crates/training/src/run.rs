//! One training run: a fresh model trained for one epoch over a token budget, then evaluated.

use std::sync::Mutex;
use std::time::Instant;

use burn::module::{ModuleVisitor, Param};

use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use scalinglab_data::TokenCorpus;
use scalinglab_model::{Gpt, ModelConfig};

use crate::TrainConfig;
use crate::schedule::LrSchedule;

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// Optimisation steps taken.
    pub steps: u64,
    /// Mean training loss over the last 10% of steps (at least one), nats/token.
    pub train_loss: f64,
    /// Loss on the held-out sequences at the end, nats/token (NaN if the run diverged).
    pub eval_loss: f64,
    /// The loss at the first step (≈ ln V at initialisation).
    pub initial_loss: f64,
    /// Whether the run was stopped because its loss diverged.
    pub diverged: bool,
    /// Wall-clock seconds, evaluation included.
    pub wall_seconds: f64,
}

/// burn seeds a backend's random generator globally, and draws parameters lazily, at their
/// first use: runs trained side by side would draw from one stream in an order the scheduler
/// picks. Seeding and drawing every parameter happen under this lock, so that a run's initial
/// weights depend on its seed alone.
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Draws every parameter now (they are lazy otherwise).
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// A freshly initialised model whose weights depend only on `seed` (and the backend), also when
/// other runs initialise models on other threads at the same time.
pub fn init_seeded(model_cfg: &ModelConfig, device: &Device, seed: u64) -> Gpt {
    let _guard = INIT_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let model = model_cfg.init(device);
    model.visit(&mut Materialize);
    model
}

fn int_batch(values: Vec<i64>, batch: usize, seq: usize, device: &Device) -> Tensor<2, Int> {
    Tensor::<1, Int>::from_data(TensorData::new(values, [batch * seq]), device)
        .reshape([batch, seq])
}

/// Mean loss of `model` on every sequence of `corpus`, in batches, without gradients.
pub fn evaluate(model: &Gpt, corpus: &TokenCorpus, batch_size: usize, device: &Device) -> f64 {
    let model = model.valid();
    let seq = corpus.seq_len;
    let (mut total, mut count) = (0.0f64, 0usize);
    let indices: Vec<usize> = (0..corpus.num_sequences()).collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let (x, y) = corpus.batch(chunk);
        let x = int_batch(x, chunk.len(), seq, device);
        let y = int_batch(y, chunk.len(), seq, device);
        let loss = model.loss(x, y).into_scalar::<f32>() as f64;
        total += loss * chunk.len() as f64;
        count += chunk.len();
    }
    total / count.max(1) as f64
}

/// Trains a fresh `model_cfg` for one epoch over `train` (every sequence once, shuffled), then
/// evaluates it on `eval`. `on_step(tokens_done, loss)` is called after every step.
///
/// `device` is a plain device; training runs on `device.clone().autodiff()`.
pub fn train_run(
    model_cfg: &ModelConfig,
    train_cfg: &TrainConfig,
    train: &TokenCorpus,
    eval: &TokenCorpus,
    device: &Device,
    mut on_step: impl FnMut(u64, f64),
) -> (Gpt, RunOutcome) {
    let start = Instant::now();
    let ad_device = device.clone().autodiff();
    let mut model = init_seeded(model_cfg, &ad_device, train_cfg.seed);
    let mut optim = AdamWConfig::new()
        .with_beta_1(train_cfg.beta1 as f32)
        .with_beta_2(train_cfg.beta2 as f32)
        .with_epsilon(train_cfg.eps as f32)
        .with_weight_decay(train_cfg.weight_decay as f32)
        .with_grad_clipping(
            (train_cfg.grad_clip > 0.0)
                .then(|| GradientClippingConfig::Norm(train_cfg.grad_clip as f32)),
        )
        .init();

    let seq = train.seq_len;
    let mut order: Vec<usize> = (0..train.num_sequences()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(train_cfg.seed ^ 0x5ca1_ab1e));
    let batches: Vec<&[usize]> = order.chunks(train_cfg.batch_size).collect();
    let schedule = LrSchedule::new(
        train_cfg.lr,
        batches.len() as u64,
        train_cfg.warmup_frac,
        train_cfg.min_lr_ratio,
    );
    let limit = train_cfg.divergence_factor * (model_cfg.vocab_size as f64).ln();
    let tail = (batches.len() / 10).max(1);
    let (mut losses, mut tokens, mut diverged) = (Vec::with_capacity(batches.len()), 0u64, false);

    for (step, idx) in batches.iter().enumerate() {
        let (x, y) = train.batch(idx);
        let x = int_batch(x, idx.len(), seq, &ad_device);
        let y = int_batch(y, idx.len(), seq, &ad_device);
        let loss = model.loss(x, y);
        let loss_value = loss.clone().into_scalar::<f32>() as f64;
        if !loss_value.is_finite() || loss_value > limit {
            diverged = true;
            losses.push(loss_value);
            break;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(schedule.lr_at(step as u64), model, grads);
        tokens += (idx.len() * seq) as u64;
        losses.push(loss_value);
        on_step(tokens, loss_value);
    }

    let steps = losses.len() as u64;
    let last = &losses[losses.len().saturating_sub(tail)..];
    let train_loss = last.iter().sum::<f64>() / last.len().max(1) as f64;
    let eval_loss = if diverged { f64::NAN } else { evaluate(&model, eval, 64, device) };
    let outcome = RunOutcome {
        steps,
        train_loss,
        eval_loss,
        initial_loss: losses.first().copied().unwrap_or(f64::NAN),
        diverged,
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    (model, outcome)
}
