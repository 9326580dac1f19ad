//! Autoregressive sampling with a key/value cache, temperature and top-k, seeded.
//!
//! Each sequence of a batch draws from its own random stream (derived from the seed and its
//! row), so a sequence's sample does not depend on what else is in the batch. When a sequence
//! reaches the context length, the cache is rebuilt from its last `context / 2` tokens (one
//! forward pass over them) and generation continues: positions never exceed what the model was
//! trained on, and the re-encoding costs one pass per `context / 2` new tokens instead of one
//! per token.

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::{Gpt, KvCache};

/// How to turn logits into a token.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Softmax temperature; 0 means greedy (argmax). Default: 1.0 (the model's own
    /// distribution, which a teacher-generated corpus needs).
    pub temperature: f64,
    /// Keep only the `k` most likely tokens before sampling. Default: `None` (all).
    pub top_k: Option<usize>,
    /// Seed of the random streams. Default: 0.
    pub seed: u64,
}

impl Default for SampleConfig {
    fn default() -> Self {
        Self { temperature: 1.0, top_k: None, seed: 0 }
    }
}

/// SplitMix64 mixing, to derive one stream per sequence.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One random stream per sequence of a batch, so that a row's sample does not depend on the
/// rest of the batch.
fn row_streams(rows: usize, seed: u64) -> Vec<ChaCha12Rng> {
    (0..rows).map(|r| ChaCha12Rng::seed_from_u64(mix(seed ^ mix(r as u64)))).collect()
}

/// Appends to each sequence a token drawn from its row of logits, with its own stream.
fn push_draws(
    seqs: &mut [Vec<u32>],
    rngs: &mut [ChaCha12Rng],
    logits: &[Vec<f32>],
    cfg: &SampleConfig,
) {
    for ((seq, rng), row) in seqs.iter_mut().zip(rngs).zip(logits) {
        seq.push(draw(row, cfg, rng));
    }
}

/// Draws one token from a row of logits.
fn draw(logits: &[f32], cfg: &SampleConfig, rng: &mut ChaCha12Rng) -> u32 {
    if cfg.temperature <= 0.0 {
        let mut best = 0;
        for (i, &v) in logits.iter().enumerate() {
            if v > logits[best] {
                best = i;
            }
        }
        return best as u32;
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    if let Some(k) = cfg.top_k.filter(|&k| k > 0 && k < logits.len()) {
        idx.select_nth_unstable_by(k - 1, |&a, &b| logits[b].total_cmp(&logits[a]));
        idx.truncate(k);
        idx.sort_unstable();
    }
    let max = idx.iter().map(|&i| logits[i]).fold(f32::NEG_INFINITY, f32::max) as f64;
    let weights: Vec<f64> =
        idx.iter().map(|&i| ((logits[i] as f64 - max) / cfg.temperature).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (w, &i) in weights.iter().zip(&idx) {
        if u < *w {
            return i as u32;
        }
        u -= w;
    }
    *idx.last().expect("at least one token") as u32
}

fn int_rows(rows: &[Vec<u32>], from: usize, device: &Device) -> Tensor<2, Int> {
    let (b, t) = (rows.len(), rows[0].len() - from);
    let flat: Vec<i64> = rows.iter().flat_map(|r| r[from..].iter().map(|&x| x as i64)).collect();
    Tensor::<1, Int>::from_data(TensorData::new(flat, [b * t]), device).reshape([b, t])
}

/// The logits of the last position of each row, as plain vectors.
fn last_logits(logits: Tensor<3>) -> Vec<Vec<f32>> {
    let [b, t, v] = logits.dims();
    let last = logits.slice([0..b, t - 1..t]).reshape([b, v]);
    let flat = last.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 logits");
    flat.chunks(v).map(<[f32]>::to_vec).collect()
}

fn check_prompts(prompts: &[Vec<u32>], context: usize) {
    assert!(!prompts.is_empty(), "sampling needs at least one prompt");
    let len = prompts[0].len();
    assert!(len >= 1, "prompts must hold at least one token");
    assert!(prompts.iter().all(|p| p.len() == len), "prompts of a batch must have equal length");
    assert!(len <= context, "a prompt of {len} tokens exceeds the context {context}");
}

impl Gpt {
    /// Continues each prompt by `new_tokens` tokens, through the key/value cache.
    ///
    /// Returns the prompts with their continuations. Run it on a plain (non-autodiff) device:
    /// `model.valid()` if the model was trained with autodiff.
    ///
    /// # Panics
    /// If the prompts are empty, of unequal length, or longer than the context.
    pub fn generate(
        &self,
        prompts: &[Vec<u32>],
        new_tokens: usize,
        cfg: &SampleConfig,
        device: &Device,
    ) -> Vec<Vec<u32>> {
        let context = self.context();
        check_prompts(prompts, context);
        let mut rngs = row_streams(prompts.len(), cfg.seed);
        let mut seqs = prompts.to_vec();
        let mut cache = KvCache::new();
        let mut logits = last_logits(self.forward_cached(int_rows(&seqs, 0, device), &mut cache));
        for step in 0..new_tokens {
            push_draws(&mut seqs, &mut rngs, &logits, cfg);
            if step + 1 == new_tokens {
                break;
            }
            let len = seqs[0].len();
            let input = if cache.len() == context {
                // Full: re-encode the last context/2 tokens (new positions 0..keep).
                cache = KvCache::new();
                int_rows(&seqs, len - (context / 2).max(1), device)
            } else {
                int_rows(&seqs, len - 1, device)
            };
            logits = last_logits(self.forward_cached(input, &mut cache));
        }
        seqs
    }

    /// The same as [`generate`](Self::generate) without a cache: every token re-encodes the
    /// whole window (the last `context` tokens). The reference the cache is measured against;
    /// both give the same tokens while the sequences fit the context.
    ///
    /// # Panics
    /// As [`generate`](Self::generate).
    pub fn generate_uncached(
        &self,
        prompts: &[Vec<u32>],
        new_tokens: usize,
        cfg: &SampleConfig,
        device: &Device,
    ) -> Vec<Vec<u32>> {
        let context = self.context();
        check_prompts(prompts, context);
        let mut rngs = row_streams(prompts.len(), cfg.seed);
        let mut seqs = prompts.to_vec();
        for _ in 0..new_tokens {
            let len = seqs[0].len();
            let logits =
                last_logits(self.forward(int_rows(&seqs, len.saturating_sub(context), device)));
            push_draws(&mut seqs, &mut rngs, &logits, cfg);
        }
        seqs
    }

    /// Writes every float parameter to a safetensors file, named by module path
    /// (`blocks.0.attn.qkv.weight`, …) in burn's layout (a linear weight is
    /// `[d_in, d_out]`, the transpose of PyTorch's), with `metadata` in the header.
    ///
    /// # Errors
    /// If the file cannot be written.
    pub fn export_safetensors(
        &self,
        path: &std::path::Path,
        metadata: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), crate::SafetensorsError> {
        let mut named = crate::safetensors::NamedParams::default();
        burn::module::Module::visit(self, &mut named);
        crate::write_safetensors(path, &named.tensors, metadata)
    }
}

impl crate::ModelConfig {
    /// Builds this model on `device` and loads its weights from a safetensors file written by
    /// [`Gpt::export_safetensors`] (names are module paths; every parameter must be present
    /// with its shape, and no tensor may be left over).
    ///
    /// # Errors
    /// If the file cannot be read, or its tensors do not match the model.
    pub fn load_safetensors(
        &self,
        path: &std::path::Path,
        device: &Device,
    ) -> Result<Gpt, crate::SafetensorsError> {
        let (tensors, _) = crate::read_safetensors(path)?;
        let mut loader = crate::safetensors::LoadNamed::new(tensors);
        let model = burn::module::Module::map(self.init(device), &mut loader);
        let mut problems = loader.errors;
        problems.extend(loader.tensors.keys().map(|k| format!("unexpected tensor {k}")));
        if problems.is_empty() {
            Ok(model)
        } else {
            problems.sort();
            Err(crate::SafetensorsError::Format {
                path: path.to_path_buf(),
                reason: format!("does not fit the model: {}", problems.join("; ")),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_and_greedy_draws() {
        let logits = [0.0f32, 5.0, 1.0, 4.9];
        let mut rng = ChaCha12Rng::seed_from_u64(1);
        let greedy = SampleConfig { temperature: 0.0, ..Default::default() };
        assert_eq!(draw(&logits, &greedy, &mut rng), 1);
        let top2 = SampleConfig { top_k: Some(2), ..Default::default() };
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[draw(&logits, &top2, &mut rng) as usize] += 1;
        }
        assert_eq!(counts[0] + counts[2], 0, "only the top two may be drawn: {counts:?}");
        // p(1) / p(3) = e^{0.1} ≈ 1.105 → p(1) ≈ 0.525.
        let p1 = counts[1] as f64 / 4000.0;
        assert!((p1 - 0.525).abs() < 0.025, "p(1) = {p1}");
    }
}
