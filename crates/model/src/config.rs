//! The model configuration: a plain serde type with defaults and validation.

use serde::{Deserialize, Serialize};

/// Errors in a model configuration. Each names the field and the offending value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    /// A field has a value the model cannot be built with.
    #[error("model.{field} = {value}: {reason}")]
    InvalidField {
        /// Field name, as written in the config file.
        field: &'static str,
        /// The offending value, formatted.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
}

/// Architecture family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// GPT-2: pre-LayerNorm blocks, learned absolute positions, GELU MLP.
    #[default]
    Gpt2,
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arch::Gpt2 => write!(f, "gpt2"),
        }
    }
}

/// Shape of a decoder-only transformer.
///
/// Every field has a default (a 2-layer, width-64 GPT-2 with context 50), so a TOML file may
/// name only the fields it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Architecture family. Default: `gpt2`.
    pub arch: Arch,
    /// Vocabulary size V. Default: 128.
    pub vocab_size: usize,
    /// Context length T (positions the model sees). Default: 50.
    pub context: usize,
    /// Residual stream width d. Default: 64.
    pub d_model: usize,
    /// Number of transformer blocks. Default: 2.
    pub n_layers: usize,
    /// Number of attention heads; must divide `d_model`. Default: 4.
    pub n_heads: usize,
    /// MLP hidden width; `None` means `4 * d_model`. Default: `None`.
    pub d_ff: Option<usize>,
    /// Share the token embedding with the output projection (unembedding). Default: false.
    pub tie_embeddings: bool,
    /// Biases in linear layers and LayerNorms. Default: true (as GPT-2).
    pub bias: bool,
    /// Dropout probability on attention output, MLP output and embeddings. Default: 0.0.
    pub dropout: f64,
    /// Standard deviation of the normal initialisation (GPT-2: 0.02). Residual output
    /// projections use `init_std / sqrt(2 * n_layers)`. Default: 0.02.
    pub init_std: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            arch: Arch::Gpt2,
            vocab_size: 128,
            context: 50,
            d_model: 64,
            n_layers: 2,
            n_heads: 4,
            d_ff: None,
            tie_embeddings: false,
            bias: true,
            dropout: 0.0,
            init_std: 0.02,
        }
    }
}

fn invalid(field: &'static str, value: impl std::fmt::Display, reason: &str) -> ModelError {
    ModelError::InvalidField { field, value: value.to_string(), reason: reason.to_string() }
}

impl ModelConfig {
    /// The MLP hidden width.
    pub fn d_ff(&self) -> usize {
        self.d_ff.unwrap_or(4 * self.d_model)
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    /// Checks that the model can be built.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.vocab_size < 2 {
            return Err(invalid("vocab_size", self.vocab_size, "need at least 2 tokens"));
        }
        if self.context == 0 {
            return Err(invalid("context", self.context, "must be at least 1"));
        }
        if self.d_model == 0 {
            return Err(invalid("d_model", self.d_model, "must be at least 1"));
        }
        if self.n_layers == 0 {
            return Err(invalid("n_layers", self.n_layers, "must be at least 1"));
        }
        if self.n_heads == 0 || self.d_model % self.n_heads != 0 {
            return Err(invalid(
                "n_heads",
                self.n_heads,
                &format!("must be positive and divide d_model = {}", self.d_model),
            ));
        }
        if self.d_ff == Some(0) {
            return Err(invalid("d_ff", 0, "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(invalid("dropout", self.dropout, "must lie in [0, 1)"));
        }
        if !(self.init_std > 0.0 && self.init_std.is_finite()) {
            return Err(invalid("init_std", self.init_std, "must be positive and finite"));
        }
        Ok(())
    }
}
