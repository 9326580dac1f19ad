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
    /// GPT-2: pre-LayerNorm blocks, learned absolute positions, GELU MLP, biases.
    #[default]
    Gpt2,
    /// LLaMA: pre-RMSNorm blocks, rotary position embedding, SwiGLU MLP, no biases,
    /// optionally fewer key/value heads than query heads (grouped-query attention).
    Llama,
}

/// How weights are initialised and how their learning rates scale with width.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parameterization {
    /// Standard parameterization: every matrix drawn from N(0, init_std²) at every width,
    /// one learning rate for all parameters, attention logits scaled by 1/√d_head.
    #[default]
    Sp,
    /// Maximal-update parameterization (Yang et al. 2022, Tensor Programs V, table 3 with the
    /// output multiplier of its table 8), relative to `base_width`: with m = d_model/base_width,
    /// hidden matrices are drawn with variance init_std²/m and trained with Adam learning rate
    /// lr/m; embeddings keep init_std and lr; an untied unembedding starts at zero (§D.2) and
    /// keeps lr; the logits are multiplied by output_multiplier/m; attention logits are scaled
    /// by 1/d_head. At m = 1 it equals SP
    /// apart from the attention scale, so a learning rate tuned at the base width transfers.
    Mup,
}

impl std::fmt::Display for Parameterization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Parameterization::Sp => "sp",
            Parameterization::Mup => "mup",
        })
    }
}

/// The role of a parameter tensor, which decides its muP initialisation, learning-rate
/// multiplier and whether weight decay applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamRole {
    /// Token or position embedding (a vocabulary or position axis as input).
    Embedding,
    /// A matrix between hidden widths (attention and MLP projections).
    Hidden,
    /// The unembedding (output) matrix.
    Output,
    /// A vector: bias or normalisation gain.
    Vector,
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arch::Gpt2 => write!(f, "gpt2"),
            Arch::Llama => write!(f, "llama"),
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
    /// Number of attention (query) heads; must divide `d_model`. Default: 4.
    pub n_heads: usize,
    /// Key/value heads (LLaMA's grouped-query attention); must divide `n_heads`. `None` means
    /// `n_heads` (ordinary multi-head attention). GPT-2 requires `None` or `n_heads`.
    pub n_kv_heads: Option<usize>,
    /// MLP hidden width; `None` means `4 * d_model` for GPT-2 and `8/3 * d_model` rounded up
    /// to a multiple of 8 for LLaMA (so that its three SwiGLU matrices hold about as many
    /// parameters as GPT-2's two). Default: `None`.
    pub d_ff: Option<usize>,
    /// Share the token embedding with the output projection (unembedding). Default: false.
    pub tie_embeddings: bool,
    /// Biases in linear layers and norms; `None` means the architecture's own choice (GPT-2:
    /// yes, LLaMA: no). Default: `None`.
    pub bias: Option<bool>,
    /// Base of the rotary position embedding's frequencies (LLaMA only). Default: 10000.
    pub rope_theta: f64,
    /// Standard or maximal-update parameterization. Default: `sp`.
    pub parameterization: Parameterization,
    /// The width at which muP equals SP and learning rates are tuned. Default: 64.
    pub base_width: usize,
    /// muP's output-logit multiplier α_out (logits × α_out · base_width/d_model).
    /// Default: 1.0.
    pub output_multiplier: f64,
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
            n_kv_heads: None,
            d_ff: None,
            tie_embeddings: false,
            bias: None,
            rope_theta: 10_000.0,
            parameterization: Parameterization::Sp,
            base_width: 64,
            output_multiplier: 1.0,
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
        self.d_ff.unwrap_or(match self.arch {
            // Saturating: an absurd width is refused by `validate` (its counts overflow).
            Arch::Gpt2 => self.d_model.saturating_mul(4),
            Arch::Llama => self.d_model.saturating_mul(8).div_ceil(3).div_ceil(8).saturating_mul(8),
        })
    }

    /// Whether linear layers and norms carry biases.
    pub fn bias(&self) -> bool {
        self.bias.unwrap_or(self.arch == Arch::Gpt2)
    }

    /// Key/value heads.
    pub fn kv_heads(&self) -> usize {
        self.n_kv_heads.unwrap_or(self.n_heads)
    }

    /// muP's width multiplier m = d_model / base_width (1 under SP).
    pub fn width_multiplier(&self) -> f64 {
        match self.parameterization {
            Parameterization::Sp => 1.0,
            Parameterization::Mup => self.d_model as f64 / self.base_width as f64,
        }
    }

    /// Learning-rate multiplier of a parameter with this role (muP: 1/m for hidden
    /// matrices; 1 otherwise).
    pub fn lr_multiplier(&self, role: ParamRole) -> f64 {
        match role {
            ParamRole::Hidden => 1.0 / self.width_multiplier(),
            _ => 1.0,
        }
    }

    /// Attention-logit scale: 1/√d_head under SP, 1/d_head under muP.
    pub fn attention_scale(&self) -> f64 {
        let hd = self.head_dim() as f64;
        match self.parameterization {
            Parameterization::Sp => 1.0 / hd.sqrt(),
            Parameterization::Mup => 1.0 / hd,
        }
    }

    /// Multiplier on the logits: 1 under SP, output_multiplier/m under muP.
    pub fn logit_multiplier(&self) -> f64 {
        match self.parameterization {
            Parameterization::Sp => 1.0,
            Parameterization::Mup => self.output_multiplier / self.width_multiplier(),
        }
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
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return Err(invalid(
                "n_heads",
                self.n_heads,
                &format!("must be positive and divide d_model = {}", self.d_model),
            ));
        }
        let kv = self.kv_heads();
        if kv == 0 || !self.n_heads.is_multiple_of(kv) {
            return Err(invalid(
                "n_kv_heads",
                kv,
                &format!("must be positive and divide n_heads = {}", self.n_heads),
            ));
        }
        if self.arch == Arch::Gpt2 && kv != self.n_heads {
            return Err(invalid(
                "n_kv_heads",
                kv,
                "grouped-query attention is a LLaMA feature; GPT-2 needs n_kv_heads = n_heads",
            ));
        }
        if self.arch == Arch::Llama {
            if !self.head_dim().is_multiple_of(2) {
                return Err(invalid(
                    "n_heads",
                    self.n_heads,
                    &format!(
                        "rotary embeddings need an even head width; d_model / n_heads = {}",
                        self.head_dim()
                    ),
                ));
            }
            if !(self.rope_theta > 1.0 && self.rope_theta.is_finite()) {
                return Err(invalid("rope_theta", self.rope_theta, "must be finite and > 1"));
            }
        }
        if self.base_width == 0 {
            return Err(invalid("base_width", 0, "must be at least 1"));
        }
        if !(self.output_multiplier > 0.0 && self.output_multiplier.is_finite()) {
            return Err(invalid(
                "output_multiplier",
                self.output_multiplier,
                "must be positive and finite",
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
        self.checked_param_counts()?;
        Ok(())
    }
}
