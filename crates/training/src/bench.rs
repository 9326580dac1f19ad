//! Training throughput: tokens/s and FLOP/s of the same model on each backend, measured in one
//! process so that the ratios compare like with like.

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use scalinglab_model::{FlopCounting, ModelConfig};

use crate::TrainingError;
use crate::device::{DeviceChoice, select_device};

/// One measured (backend, width) cell.
#[derive(Clone, Debug)]
pub struct BenchResult {
    /// Backend description.
    pub device: String,
    /// Model width.
    pub d_model: usize,
    /// Training tokens per second (forward, backward and the training's AdamW step, with global
    /// gradient-norm clipping; loss read back every step).
    pub tokens_per_s: f64,
    /// Training FLOP/s, counting 6N + attention + unembedding per token.
    pub flops_per_s: f64,
    /// Mean seconds per step.
    pub step_seconds: f64,
}

/// Trains `model` for `warmup + steps` steps of `batch` random sequences on `choice` and times
/// the last `steps`.
pub fn bench_training(
    choice: DeviceChoice,
    model: &ModelConfig,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<BenchResult, TrainingError> {
    let selected = select_device(choice)?;
    let device = selected.device.clone().autodiff();
    device.seed(0);
    let mut net = model.init(&device);
    let mut optim = crate::AdamW::new(&crate::TrainConfig::default(), &net);
    let (t, v) = (model.context, model.vocab_size as i64);
    let data: Vec<i64> = (0..batch * (t + 1)).map(|i| (i as i64 * 7919 + 13) % v).collect();
    let tokens = Tensor::<1, Int>::from_data(TensorData::new(data, [batch * (t + 1)]), &device)
        .reshape([batch, t + 1]);
    let x = tokens.clone().slice([0..batch, 0..t]);
    let y = tokens.slice([0..batch, 1..t + 1]);
    let mut start = Instant::now();
    for step in 0..warmup + steps {
        if step == warmup {
            start = Instant::now();
        }
        let loss = net.loss(x.clone(), y.clone());
        let _ = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net, grads).0;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let tokens_per_s = (steps * batch * t) as f64 / elapsed;
    Ok(BenchResult {
        device: selected.description,
        d_model: model.d_model,
        tokens_per_s,
        flops_per_s: tokens_per_s * model.flops_per_token(FlopCounting::WithUnembedding),
        step_seconds: elapsed / steps as f64,
    })
}

/// Sampling throughput through the key/value cache and by re-encoding the window for every
/// token (the naive way), on one backend.
#[derive(Clone, Debug)]
pub struct SamplingBench {
    /// Backend description.
    pub device: String,
    /// Model width.
    pub d_model: usize,
    /// Generated tokens per second with the cache.
    pub cached_tokens_per_s: f64,
    /// Generated tokens per second re-encoding the window.
    pub naive_tokens_per_s: f64,
}

/// Generates `batch` sequences of `length` new tokens from a freshly initialised `model`,
/// with and without the cache, and times both.
///
/// # Errors
/// If the backend cannot be used.
pub fn bench_sampling(
    choice: DeviceChoice,
    model: &ModelConfig,
    batch: usize,
    length: usize,
) -> Result<SamplingBench, TrainingError> {
    let selected = select_device(choice)?;
    let device = selected.device.clone();
    device.seed(0);
    let net = model.init(&device);
    let prompts: Vec<Vec<u32>> = (0..batch).map(|i| vec![(i % model.vocab_size) as u32]).collect();
    let cfg = scalinglab_model::SampleConfig::default();
    let _ = net.generate(&prompts, 2, &cfg, &device); // warm up
    let time = |f: &dyn Fn() -> Vec<Vec<u32>>| {
        let start = Instant::now();
        let out = f();
        let n = out.iter().map(|s| s.len() - 1).sum::<usize>();
        n as f64 / start.elapsed().as_secs_f64()
    };
    let cached = time(&|| net.generate(&prompts, length, &cfg, &device));
    let naive = time(&|| net.generate_uncached(&prompts, length, &cfg, &device));
    Ok(SamplingBench {
        device: selected.description,
        d_model: model.d_model,
        cached_tokens_per_s: cached,
        naive_tokens_per_s: naive,
    })
}
