//! Exact parameter counts and training FLOPs, in closed form.

use serde::{Deserialize, Serialize};

use crate::{Arch, ModelConfig};

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
    pub fn param_counts(&self) -> ParamCounts {
        let (v, t, d, f, l) = (
            self.vocab_size as u64,
            self.context as u64,
            self.d_model as u64,
            self.d_ff() as u64,
            self.n_layers as u64,
        );
        let b = u64::from(self.bias());
        match self.arch {
            Arch::Gpt2 => {
                let embedding = v * d + t * d + if self.tie_embeddings { 0 } else { v * d };
                let norm = d + b * d;
                let attn = 3 * d * d + 3 * b * d + d * d + b * d;
                let mlp = d * f + b * f + f * d + b * d;
                let non_embedding = l * (2 * norm + attn + mlp) + norm;
                ParamCounts { total: embedding + non_embedding, embedding, non_embedding }
            }
            Arch::Llama => {
                let (h, g) = (self.n_heads as u64, self.kv_heads() as u64);
                let e = d / h;
                let embedding = v * d + if self.tie_embeddings { 0 } else { v * d };
                let attn = d * (h + 2 * g) * e + b * (h + 2 * g) * e + h * e * d + b * d;
                let mlp = 3 * d * f + b * (2 * f + d);
                let non_embedding = l * (2 * d + attn + mlp) + d;
                ParamCounts { total: embedding + non_embedding, embedding, non_embedding }
            }
        }
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
