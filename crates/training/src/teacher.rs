//! Using a trained model as data: sampling a corpus from it (the teacher rung of the ladder of
//! languages) and reading its final-layer hidden states (whose intrinsic dimension predicts
//! the data-scaling exponent).

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use scalinglab_model::{Gpt, ModelConfig, SampleConfig, read_safetensors};

use crate::TrainingError;

/// A model saved by a sweep with `train.save_models = true` (its config is in the file's
/// metadata), loaded on `device`.
///
/// # Errors
/// If the file cannot be read, lacks the model metadata, or its tensors do not fit.
pub fn load_saved_model(path: &Path, device: &Device) -> Result<(ModelConfig, Gpt), TrainingError> {
    let bad = |reason: String| TrainingError::Checkpoint { path: path.to_path_buf(), reason };
    let (_, meta) = read_safetensors(path).map_err(|e| bad(e.to_string()))?;
    let json = meta.get("model").ok_or_else(|| {
        bad("no `model` entry in the metadata (write it with train.save_models = true)".into())
    })?;
    let cfg: ModelConfig =
        serde_json::from_str(json).map_err(|e| bad(format!("metadata `model`: {e}")))?;
    cfg.validate()?;
    let model = cfg.load_safetensors(path, device).map_err(|e| bad(e.to_string()))?;
    Ok((cfg, model))
}

/// What [`sample_corpus`] produced.
#[derive(Clone, Debug)]
pub struct SampledCorpus {
    /// `sequences` sequences of `length` tokens, concatenated.
    pub tokens: Vec<u32>,
    /// Seconds spent sampling.
    pub seconds: f64,
}

/// Samples `sequences` sequences of `length` tokens from `model`, `batch` at a time, each
/// starting from a token drawn uniformly (seeded), through the key/value cache.
pub fn sample_corpus(
    model: &Gpt,
    vocab: usize,
    sequences: usize,
    length: usize,
    batch: usize,
    cfg: &SampleConfig,
    device: &Device,
) -> SampledCorpus {
    let start = Instant::now();
    let mut tokens = Vec::with_capacity(sequences * length);
    let mut done = 0;
    let mut chunk = 0u64;
    while done < sequences {
        let b = batch.max(1).min(sequences - done);
        let prompts: Vec<Vec<u32>> = (0..b)
            .map(|i| {
                vec![
                    (scalinglab_data::splitmix64(
                        cfg.seed ^ ((done + i) as u64).wrapping_mul(0x9E37),
                    ) % vocab as u64) as u32,
                ]
            })
            .collect();
        let c = SampleConfig { seed: cfg.seed.wrapping_add(chunk), ..cfg.clone() };
        for seq in model.generate(&prompts, length.saturating_sub(1), &c, device) {
            tokens.extend_from_slice(&seq);
        }
        done += b;
        chunk += 1;
    }
    SampledCorpus { tokens, seconds: start.elapsed().as_secs_f64() }
}

/// Final-layer hidden states of `points` token positions drawn (seeded) from windows of
/// `tokens`: each window of `context` tokens is run through the model and the state of its
/// last position is kept (the position that has seen the most context). Returns the row-major
/// `[points, d_model]` values and `d_model`.
///
/// # Errors
/// If `tokens` is shorter than the model's context or holds an id outside the vocabulary.
pub fn hidden_state_points(
    model: &Gpt,
    cfg: &ModelConfig,
    tokens: &[u32],
    points: usize,
    seed: u64,
    device: &Device,
) -> Result<(Vec<f32>, usize), TrainingError> {
    let t = cfg.context;
    if tokens.len() < t {
        return Err(crate::error::invalid(
            "tokens",
            tokens.len(),
            format!("need at least the model's context, {t} tokens"),
        ));
    }
    if let Some(bad) = tokens.iter().find(|&&x| x as usize >= cfg.vocab_size) {
        return Err(crate::error::invalid(
            "tokens",
            bad,
            format!("token id outside the model's vocabulary of {}", cfg.vocab_size),
        ));
    }
    let windows = tokens.len() - t + 1;
    let d = cfg.d_model;
    let mut out = Vec::with_capacity(points * d);
    let batch = 64;
    let mut i = 0;
    while i < points {
        let b = batch.min(points - i);
        let flat: Vec<i64> = (0..b)
            .flat_map(|j| {
                let s =
                    (scalinglab_data::splitmix64(seed ^ (i + j) as u64) % windows as u64) as usize;
                tokens[s..s + t].iter().map(|&x| x as i64)
            })
            .collect();
        let x = Tensor::<1, Int>::from_data(TensorData::new(flat, [b * t]), device).reshape([b, t]);
        let h = model.hidden_states(x).slice([0..b, t - 1..t]).reshape([b * d]);
        out.extend(h.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default());
        i += b;
    }
    Ok((out, d))
}
