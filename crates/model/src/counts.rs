//! Exact parameter counts and training FLOPs, in closed form.

use serde::{Deserialize, Serialize};

use crate::{Arch, ModelConfig, ModelError};

/// Parameter counts of a model, split as scaling-law papers split them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCounts {
    /// Every trained parameter.
    pub total: u64,
    /// Token embedding, position embedding and an untied unembedding matrix: every matrix
    /// with a vocabulary or position axis.
    pub embedding: u64,
    /// `total - embedding`: Kaplan et al.'s N (blocks and final norm).
    pub non_embedding: u64,
}

/// Which FLOPs a count includes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlopCounting {
    /// Kaplan et al. 2020: 6 N (non-embedding) + 6 n_layers T d (attention scores and mixing).
    Kaplan,
    /// Kaplan's count plus the unembedding matmul, 6 d V (Porian et al. 2024 count this; at
    /// small d and large V it dominates).
    WithUnembedding,
}

impl ModelConfig {
    /// Exact parameter counts of the model [`ModelConfig::init`] builds.
    ///
    /// GPT-2 with width d, MLP width f, L layers, vocabulary V, context T, biases b ∈ {0, 1}:
    /// - embeddings: V d (tokens) + T d (positions) + V d (unembedding, unless tied);
    /// - per block: LayerNorms 2 (d + b d); attention 3 d² + 3 b d (qkv) + d² + b d (output);
    ///   MLP d f + b f + f d + b d;
    /// - final LayerNorm d + b d.
    ///
    /// LLaMA with h query heads and g key/value heads of width e = d/h (no position embedding;
    /// biases only if asked):
    /// - embeddings: V d + V d (unless tied);
    /// - per block: RMSNorms 2 d; attention d (h + 2g) e + b (h + 2g) e (fused q, k, v) plus
    ///   h e d + b d (output); SwiGLU 3 d f + b (2 f + d);
    /// - final RMSNorm d.
    ///
    /// A shape whose count does not fit in 64 bits (which [`ModelConfig::validate`] refuses,
    /// see [`ModelConfig::checked_param_counts`]) saturates at `u64::MAX`.
    pub fn param_counts(&self) -> ParamCounts {
        self.try_param_counts().unwrap_or(ParamCounts {
            total: u64::MAX,
            embedding: u64::MAX,
            non_embedding: u64::MAX,
        })
    }

    /// [`ModelConfig::param_counts`], or an error naming the largest dimension when a count
    /// does not fit in 64 bits (e.g. `d_model = 2^40`: 12 d² alone is 2^67).
    ///
    /// # Errors
    /// [`ModelError::InvalidField`] naming the field with the largest value among `d_model`,
    /// `d_ff`, `context`, `vocab_size` and `n_layers`.
    pub fn checked_param_counts(&self) -> Result<ParamCounts, ModelError> {
        self.try_param_counts().ok_or_else(|| {
            let mut fields = vec![
                ("d_model", self.d_model),
                ("context", self.context),
                ("vocab_size", self.vocab_size),
                ("n_layers", self.n_layers),
            ];
            if let Some(f) = self.d_ff {
                fields.push(("d_ff", f));
            }
            let (field, value) =
                fields.into_iter().max_by_key(|&(_, v)| v).expect("a non-empty list");
            ModelError::InvalidField {
                field,
                value: value.to_string(),
                reason: format!(
                    "the model's parameter count overflows 64 bits (d_model {}, d_ff {}, \
                     n_layers {}, vocab_size {}, context {})",
                    self.d_model,
                    self.d_ff(),
                    self.n_layers,
                    self.vocab_size,
                    self.context
                ),
            }
        })
    }

    /// The counts in checked arithmetic: `None` on overflow.
    fn try_param_counts(&self) -> Option<ParamCounts> {
        let (v, t, d, f, l) = (
            C::of(self.vocab_size),
            C::of(self.context),
            C::of(self.d_model),
            C::of(self.d_ff()),
            C::of(self.n_layers),
        );
        let b = C(Some(u64::from(self.bias())));
        let (zero, two, three) = (C(Some(0)), C(Some(2)), C(Some(3)));
        let (embedding, non_embedding) = match self.arch {
            Arch::Gpt2 => {
                let embedding = v * d + t * d + if self.tie_embeddings { zero } else { v * d };
                let norm = d + b * d;
                let attn = three * d * d + three * b * d + d * d + b * d;
                let mlp = d * f + b * f + f * d + b * d;
                (embedding, l * (two * norm + attn + mlp) + norm)
            }
            Arch::Llama => {
                let (h, g) = (C::of(self.n_heads), C::of(self.kv_heads()));
                let e = C(d.0.zip(h.0).and_then(|(d, h)| d.checked_div(h)));
                let embedding = v * d + if self.tie_embeddings { zero } else { v * d };
                let attn = d * (h + two * g) * e + b * (h + two * g) * e + h * e * d + b * d;
                let mlp = three * d * f + b * (two * f + d);
                (embedding, l * (two * d + attn + mlp) + d)
            }
        };
        let total = embedding + non_embedding;
        Some(ParamCounts {
            total: total.0?,
            embedding: embedding.0?,
            non_embedding: non_embedding.0?,
        })
    }

    /// Training FLOPs per token (forward plus backward, 3 × forward), counting a multiply-add
    /// as 2 FLOPs: `6 N + 6 L T d` (Kaplan et al. 2020, table 1, with N non-embedding and the
    /// attention term at the full context T), plus `6 d V` for the unembedding when asked.
    pub fn flops_per_token(&self, counting: FlopCounting) -> f64 {
        let n = self.param_counts().non_embedding as f64;
        let (d, l, t, v) = (
            self.d_model as f64,
            self.n_layers as f64,
            self.context as f64,
            self.vocab_size as f64,
        );
        let kaplan = 6.0 * n + 6.0 * l * t * d;
        match counting {
            FlopCounting::Kaplan => kaplan,
            FlopCounting::WithUnembedding => kaplan + 6.0 * d * v,
        }
    }
}

/// A count in checked arithmetic: `None` once anything overflowed.
#[derive(Clone, Copy)]
struct C(Option<u64>);

impl C {
    fn of(n: usize) -> Self {
        C(u64::try_from(n).ok())
    }
}

impl std::ops::Add for C {
    type Output = C;
    fn add(self, o: C) -> C {
        C(self.0.zip(o.0).and_then(|(a, b)| a.checked_add(b)))
    }
}

impl std::ops::Mul for C {
    type Output = C;
    fn mul(self, o: C) -> C {
        C(self.0.zip(o.0).and_then(|(a, b)| a.checked_mul(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_width_is_refused_naming_the_field_not_overflowed() {
        for arch in [Arch::Gpt2, Arch::Llama] {
            let cfg =
                ModelConfig { arch, d_model: 1 << 40, n_heads: 1 << 20, ..Default::default() };
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains("model.d_model = 1099511627776") && e.contains("overflows"), "{e}");
            assert_eq!(cfg.param_counts().total, u64::MAX);
            assert!(cfg.flops_per_token(FlopCounting::WithUnembedding).is_finite());
        }
        let cfg = ModelConfig { context: usize::MAX, ..Default::default() };
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("model.context"), "{e}");
        let cfg = ModelConfig { d_ff: Some(usize::MAX / 2), ..Default::default() };
        assert!(cfg.validate().unwrap_err().to_string().contains("model.d_ff"));
        // The ordinary shapes are unchanged.
        let cfg = ModelConfig::default();
        assert_eq!(cfg.checked_param_counts().unwrap(), cfg.param_counts());
    }
}
