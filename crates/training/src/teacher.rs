//! Using a trained model as data: sampling a corpus from it (the teacher rung of the ladder of
//! languages) and reading its final-layer hidden states (whose intrinsic dimension predicts
//! the data-scaling exponent).

use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use scalinglab_model::{Gpt, ModelConfig, SampleConfig, read_safetensors};

use crate::TrainingError;
use crate::run::int_batch;

/// A model saved by a sweep with `train.save_models = true` (its config is in the file's
/// metadata), loaded on `device`.
///
/// # Errors
/// If the file cannot be read, lacks the model metadata, or its tensors do not fit.
pub fn load_saved_model(path: &Path, device: &Device) -> Result<(ModelConfig, Gpt), TrainingError> {
    let bad = |reason: String| TrainingError::Checkpoint { path: path.to_path_buf(), reason };
    let (tensors, meta) = read_safetensors(path).map_err(|e| bad(e.to_string()))?;
    // A model whose weights are not finite (a diverged run's, or a damaged file) would sample
    // one repeated token and look fine: refuse it, naming the tensor.
    if let Some((t, v)) =
        tensors.iter().find_map(|t| t.values.iter().find(|v| !v.is_finite()).map(|v| (t, v)))
    {
        return Err(bad(format!("tensor `{}` holds a non-finite weight ({v})", t.name)));
    }
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
) -> Result<SampledCorpus, TrainingError> {
    use crate::error::invalid;
    if sequences == 0 {
        return Err(invalid("--sequences", 0, "must be at least 1"));
    }
    if length < 2 {
        return Err(invalid("--length", length, "must be at least 2 (a first token, then draws)"));
    }
    if !(cfg.temperature.is_finite() && cfg.temperature >= 0.0) {
        return Err(invalid("--temperature", cfg.temperature, "must be finite and at least 0"));
    }
    if cfg.top_k == Some(0) {
        return Err(invalid("--top-k", 0, "must be at least 1"));
    }
    if vocab == 0 {
        return Err(invalid("vocab", 0, "must be at least 1"));
    }
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
    Ok(SampledCorpus { tokens, seconds: start.elapsed().as_secs_f64() })
}

/// The mean entropy of a teacher's next-token distributions over text it sampled: the
/// entropy rate (nats/token) of that text for a learner whose windows are the teacher's
/// sequences.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TeacherEntropy {
    /// Mean over every predicted position of every sequence, nats/token.
    pub mean: f64,
    /// Standard error of `mean` (sequences are independent draws).
    pub std_error: f64,
    /// Sequences the mean is over.
    pub sequences: usize,
}

/// The entropy rate of text sampled from `model` (vocabulary `vocab`) by [`sample_corpus`] at
/// temperature 1, with no top-k: `tokens` is cut into sequences of `length` tokens (each one sample), and the
/// entropy −Σ p log p of the model's distribution for every token after the first is averaged.
///
/// This is the irreducible loss of a learner trained on windows of exactly these sequences
/// (a sweep with context `length − 1` on a shard of them): the teacher's conditional for each
/// token is a function of the tokens before it in its sequence, all of which the learner sees.
/// The entropy (the expected log loss) is used rather than the log loss of the drawn tokens;
/// both estimate the same number, the entropy with less noise.
///
/// # Errors
/// If `tokens` is empty or not a whole number of sequences, if `length − 1` exceeds the
/// model's context or `length < 2`, or if a token is outside the vocabulary.
pub fn teacher_entropy(
    model: &Gpt,
    vocab: usize,
    tokens: &[u32],
    length: usize,
    batch: usize,
    device: &Device,
) -> Result<TeacherEntropy, TrainingError> {
    if length < 2 || length - 1 > model.context() {
        return Err(crate::error::invalid(
            "length",
            length,
            format!("must be 2 to context + 1 = {}", model.context() + 1),
        ));
    }
    if tokens.is_empty() || !tokens.len().is_multiple_of(length) {
        return Err(crate::error::invalid(
            "tokens",
            tokens.len(),
            format!("must be a positive whole number of sequences of {length} tokens"),
        ));
    }
    check_vocabulary(tokens, vocab)?;
    let n = tokens.len() / length;
    let t = length - 1;
    let mut per_sequence = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let b = batch.max(1).min(n - i);
        let flat: Vec<i64> = (i..i + b)
            .flat_map(|s| tokens[s * length..s * length + t].iter().map(|&x| i64::from(x)))
            .collect();
        let log_p = log_softmax(model.forward(int_batch(flat, b, t, device)), 2); // [b, t, V]
        let entropy = (log_p.clone().exp() * log_p).sum_dim(2).neg().mean_dim(1); // [b, 1, 1]
        let rows = entropy.into_data().convert::<f64>().try_to_vec::<f64>().map_err(|e| {
            crate::error::invalid("teacher entropy", format!("{e:?}"), "is not a float tensor")
        })?;
        per_sequence.extend(rows);
        i += b;
    }
    let mean = per_sequence.iter().sum::<f64>() / n as f64;
    let var = per_sequence.iter().map(|h| (h - mean).powi(2)).sum::<f64>()
        / (n.saturating_sub(1).max(1)) as f64;
    Ok(TeacherEntropy { mean, std_error: (var / n as f64).sqrt(), sequences: n })
}

/// Every id of `tokens` must index the model's vocabulary of `vocab`.
fn check_vocabulary(tokens: &[u32], vocab: usize) -> Result<(), TrainingError> {
    match tokens.iter().find(|&&x| x as usize >= vocab) {
        Some(bad) => Err(crate::error::invalid(
            "tokens",
            bad,
            format!("token id outside the model's vocabulary of {vocab}"),
        )),
        None => Ok(()),
    }
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
    check_vocabulary(tokens, cfg.vocab_size)?;
    let windows = tokens.len() - t + 1;
    let d = cfg.d_model;
    let bytes = scalinglab_data::memory::product(&[points as u64, d as u64, 4]);
    crate::error::check_memory(
        "points",
        points,
        &format!("{points} hidden states of dimension {d}"),
        bytes,
    )?;
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
        let h = model
            .hidden_states(int_batch(flat, b, t, device))
            .slice([0..b, t - 1..t])
            .reshape([b * d]);
        out.extend(h.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default());
        i += b;
    }
    Ok((out, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard error printed beside a teacher's entropy rate ("± one standard error") is
    /// calibrated: a 1-layer teacher over 4 tokens (weights ×3 so its distributions are far
    /// from uniform), sequences of 5 tokens; the truth is exact, summing over all 4⁴ prefixes
    /// the teacher can draw (first token uniform, as `sample_corpus` draws it). Over 200 seeds of
    /// 40 sequences each, `mean ± 1.96·se` must contain it in 90–99% of them.
    #[test]
    fn the_teacher_entropy_standard_error_is_calibrated() {
        let device = Device::flex();
        let cfg = ModelConfig {
            vocab_size: 4,
            context: 8,
            d_model: 16,
            n_layers: 1,
            n_heads: 2,
            ..ModelConfig::default()
        };
        let dir =
            std::env::temp_dir().join(format!("scalinglab-teacher-se-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("teacher.safetensors");
        let meta: std::collections::BTreeMap<String, String> =
            [("model".to_string(), serde_json::to_string(&cfg).unwrap())].into_iter().collect();
        crate::init_seeded(&cfg, &device, 1).export_safetensors(&path, &meta).unwrap();
        let (mut tensors, meta) = read_safetensors(&path).unwrap();
        tensors.iter_mut().for_each(|t| t.values.iter_mut().for_each(|v| *v *= 3.0));
        scalinglab_model::write_safetensors(&path, &tensors, &meta).unwrap();
        let (_, model) = load_saved_model(&path, &device).unwrap();
        let _ = std::fs::remove_dir_all(&dir);

        // Exact: every prefix x0..x3, its probability and its mean entropy over 4 positions.
        let (v, t) = (4usize, 4usize);
        let prefixes: Vec<i64> = (0..v.pow(t as u32))
            .flat_map(|k| (0..t).map(move |i| ((k / v.pow((t - 1 - i) as u32)) % v) as i64))
            .collect();
        let rows = prefixes.len() / t;
        let log_p = log_softmax(model.forward(int_batch(prefixes.clone(), rows, t, &device)), 2);
        let log_p: Vec<f64> = log_p.into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
        let at = |r: usize, i: usize, x: usize| log_p[(r * t + i) * v + x];
        let mut truth = 0.0;
        for r in 0..rows {
            let seq = &prefixes[r * t..(r + 1) * t];
            let mut log_prob = -(v as f64).ln();
            for (i, &x) in seq.iter().enumerate().skip(1) {
                log_prob += at(r, i - 1, x as usize);
            }
            let h: f64 = (0..t)
                .map(|i| -(0..v).map(|x| at(r, i, x).exp() * at(r, i, x)).sum::<f64>())
                .sum::<f64>()
                / t as f64;
            truth += log_prob.exp() * h;
        }
        assert!(truth < 0.9 * (v as f64).ln(), "the teacher is nearly uniform: {truth}");

        let repeats = 200;
        let covered = (0..repeats)
            .filter(|&seed| {
                let sc = SampleConfig { seed, ..SampleConfig::default() };
                let tokens = sample_corpus(&model, v, 40, t + 1, 40, &sc, &device).unwrap().tokens;
                let h = teacher_entropy(&model, v, &tokens, t + 1, 40, &device).unwrap();
                (h.mean - truth).abs() <= 1.96 * h.std_error
            })
            .count();
        let achieved = covered as f64 / repeats as f64;
        eprintln!(
            "teacher entropy ± 1.96 se, nominal 95%: achieved {:.1}% of {repeats} (exact {truth:.4})",
            100.0 * achieved
        );
        assert!((0.90..=0.99).contains(&achieved), "covered {achieved}");
    }

    #[test]
    fn a_model_with_a_non_finite_weight_is_refused_and_bad_sampling_settings_are_named() {
        let device = Device::flex();
        let cfg = ModelConfig {
            vocab_size: 12,
            context: 8,
            d_model: 16,
            n_layers: 1,
            n_heads: 2,
            ..ModelConfig::default()
        };
        let model = cfg.init(&device);
        let dir = std::env::temp_dir().join(format!("scalinglab-nan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.safetensors");
        let meta: std::collections::BTreeMap<String, String> =
            [("model".to_string(), serde_json::to_string(&cfg).unwrap())].into_iter().collect();
        model.export_safetensors(&path, &meta).unwrap();
        assert!(load_saved_model(&path, &device).is_ok());
        // The same file with one weight NaN.
        let (mut tensors, meta) = read_safetensors(&path).unwrap();
        tensors[1].values[3] = f32::NAN;
        let name = tensors[1].name.clone();
        scalinglab_model::write_safetensors(&path, &tensors, &meta).unwrap();
        let e = load_saved_model(&path, &device).unwrap_err().to_string();
        assert!(e.contains(&name) && e.contains("NaN") && e.contains("model.safetensors"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);

        let ok = SampleConfig::default();
        for (sequences, length, sc, flag) in [
            (0, 9, ok.clone(), "--sequences"),
            (4, 1, ok.clone(), "--length"),
            (4, 9, SampleConfig { temperature: f64::NAN, ..ok.clone() }, "--temperature"),
            (4, 9, SampleConfig { temperature: -1.0, ..ok.clone() }, "--temperature"),
            (4, 9, SampleConfig { top_k: Some(0), ..ok.clone() }, "--top-k"),
        ] {
            let e = sample_corpus(&model, 12, sequences, length, 4, &sc, &device)
                .unwrap_err()
                .to_string();
            assert!(e.contains(flag), "{flag}: {e}");
        }
        assert_eq!(sample_corpus(&model, 12, 3, 9, 4, &ok, &device).unwrap().tokens.len(), 27);
    }

    /// A small model whose next-token law is sharp and depends on the context (large weights,
    /// scaled logits), so that a learner misaligned with its sequences would do measurably
    /// worse than its entropy.
    fn sharp_teacher(device: &Device) -> Gpt {
        let cfg = ModelConfig {
            vocab_size: 12,
            context: 16,
            d_model: 32,
            n_layers: 1,
            n_heads: 2,
            init_std: 0.5,
            output_multiplier: 4.0,
            ..ModelConfig::default()
        };
        cfg.validate().expect("valid");
        cfg.init(device)
    }

    /// The entropy is the expected log loss of the model's own samples: the mean cross-entropy
    /// of 512 sampled sequences (an independent, noisier estimate of the same number) agrees
    /// with it, and cutting the same tokens one position off the sequences does not.
    #[test]
    fn entropy_matches_the_log_loss_of_its_own_samples() {
        let device = Device::flex();
        let model = sharp_teacher(&device);
        let length = 17; // prompt + 16 drawn tokens: the whole context
        let n = 512;
        let cfg = SampleConfig { seed: 7, ..SampleConfig::default() };
        let tokens = sample_corpus(&model, 12, n, length, 128, &cfg, &device).unwrap().tokens;
        let h = teacher_entropy(&model, 12, &tokens, length, 64, &device).expect("entropy");
        assert_eq!(h.sequences, n);
        assert!(h.mean > 0.2 && h.mean < 12f64.ln() - 0.2, "sharp but not degenerate: {h:?}");

        // Mean and standard error over sequences of the log loss of the drawn tokens.
        let log_loss = |toks: &[u32]| -> (f64, f64) {
            let m = toks.len() / length;
            let t = length - 1;
            let rows = |off: usize| -> Tensor<2, Int> {
                let v: Vec<i64> = (0..m)
                    .flat_map(|s| toks[s * length + off..s * length + off + t].iter())
                    .map(|&x| i64::from(x))
                    .collect();
                Tensor::<1, Int>::from_data(TensorData::new(v, [m * t]), &device).reshape([m, t])
            };
            let per_seq = model.loss_per_token(rows(0), rows(1)).mean_dim(1);
            let v = per_seq.into_data().convert::<f64>().try_to_vec::<f64>().expect("floats");
            let mean = v.iter().sum::<f64>() / m as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
            (mean, (var / m as f64).sqrt())
        };
        let (aligned, se) = log_loss(&tokens);
        assert!(
            (aligned - h.mean).abs() < 4.0 * se,
            "sampled log loss {aligned:.4} ± {se:.4} vs entropy {:.4} ± {:.4}",
            h.mean,
            h.std_error
        );
        // The same tokens cut one position later: each window now straddles two sequences.
        let (shifted, _) = log_loss(&tokens[1..tokens.len() - length + 1]);
        assert!(shifted > h.mean + 0.1, "misaligned {shifted:.4} vs entropy {:.4}", h.mean);
    }

    #[test]
    fn entropy_refuses_partial_sequences_overlong_windows_and_unknown_tokens() {
        let device = Device::flex();
        let model = sharp_teacher(&device);
        let e = teacher_entropy(&model, 12, &[1; 30], 17, 8, &device).unwrap_err();
        assert!(e.to_string().contains("sequences of 17 tokens"), "{e}");
        let e = teacher_entropy(&model, 12, &[1; 36], 18, 8, &device).unwrap_err();
        assert!(e.to_string().contains("context + 1 = 17"), "{e}");
        let mut tokens = [1u32; 34];
        tokens[20] = 12;
        let e = teacher_entropy(&model, 12, &tokens, 17, 8, &device).unwrap_err();
        assert!(e.to_string().contains("vocabulary of 12"), "{e}");
    }
}
