//! Model ladders: how a sweep's sizes are chosen and trained. The depth of each width (one
//! depth for every width, as the width-only ladder of the quickstart, or a fixed aspect ratio
//! `d_model / n_layers`, as the OLMo ladder keeps), named presets of such ladders, and the
//! rules that give each size its peak learning rate and each token budget its batch size.
//!
//! ```toml
//! [sweep]
//! ladder = "aspect16-xs"                 # widths 32…128, depth = width / 16, head_dim 16
//!
//! [train]
//! lr = 0.02
//! lr_rule = { kind = "power_law", reference_params = 1e5, exponent = 0.25 }
//! batch_rule = { kind = "power_law", reference_tokens = 1e6, exponent = 0.5 }
//! ```

use serde::{Deserialize, Serialize};

/// The depth of each width of the sweep.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DepthRule {
    /// `model.n_layers` at every width (a width-only ladder). Default.
    #[default]
    Fixed,
    /// A fixed aspect ratio: `n_layers = max(1, round(width / ratio))`, so depth and width grow
    /// together (the OLMo ladder's shape).
    Aspect {
        /// `d_model / n_layers`.
        ratio: usize,
    },
}

impl DepthRule {
    /// The depth of a width-`width` model; `fixed` is `model.n_layers`.
    pub fn depth(&self, width: usize, fixed: usize) -> usize {
        match *self {
            DepthRule::Fixed => fixed,
            DepthRule::Aspect { ratio } => {
                ((width as f64 / ratio.max(1) as f64).round() as usize).max(1)
            }
        }
    }

    /// One phrase for reports: "2 layers", or "depth = width / 16 (rounded, at least 1): …".
    pub fn describe(&self, fixed: usize) -> String {
        match self {
            DepthRule::Fixed => format!("{fixed} layers"),
            DepthRule::Aspect { ratio } => {
                format!("depth = width / {ratio} (rounded, at least 1): a fixed aspect ratio")
            }
        }
    }
}

/// A named ladder of sizes with a fixed aspect ratio (`sweep.ladder = "NAME"`): its widths,
/// head width and depth rule replace `sweep.widths`, `sweep.head_dim` and `sweep.depth`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LadderPreset {
    /// The name a config uses.
    pub name: &'static str,
    /// What the ladder is for.
    pub description: &'static str,
    /// Widths `d_model`, smallest first.
    pub widths: &'static [usize],
    /// `d_model / n_layers`.
    pub aspect_ratio: usize,
    /// Width of one attention head.
    pub head_dim: usize,
}

/// The named ladders. Each keeps `d_model / n_layers` fixed, as the OLMo ladder does (its
/// models keep about 128 at the 1B scale; ours are smaller, so thinner ratios keep at least two
/// layers at the bottom rung).
pub const LADDER_PRESETS: &[LadderPreset] = &[
    LadderPreset {
        name: "aspect16-xs",
        description: "a 2-core CPU in minutes: widths 32–128, 2–8 layers",
        widths: &[32, 48, 64, 96, 128],
        aspect_ratio: 16,
        head_dim: 16,
    },
    LadderPreset {
        name: "aspect32-s",
        description: "a laptop GPU in an hour: widths 64–512, 2–16 layers",
        widths: &[64, 128, 192, 256, 384, 512],
        aspect_ratio: 32,
        head_dim: 32,
    },
    LadderPreset {
        name: "aspect64-m",
        description: "one data-centre GPU: widths 256–1024, 4–16 layers",
        widths: &[256, 384, 512, 768, 1024],
        aspect_ratio: 64,
        head_dim: 64,
    },
];

/// The preset called `name`.
pub fn ladder_preset(name: &str) -> Option<&'static LadderPreset> {
    LADDER_PRESETS.iter().find(|p| p.name == name)
}

/// How each model size's peak learning rate follows from `train.lr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrRule {
    /// `train.lr` at every size.
    Constant,
    /// `train.lr × base_width / width`: the 1/width rule that maximal-update
    /// parameterization gives Adam's hidden matrices (`train.lr_base_width` says the same).
    InverseWidth {
        /// The width at which the rate is `train.lr`.
        base_width: usize,
    },
    /// `train.lr` at every size, tuned at `model.base_width`: muP
    /// (`model.parameterization = "mup"`) scales each layer's rate itself, so the tuned rate
    /// transfers across widths.
    Mup,
    /// A fitted rule `train.lr × (N / reference_params)^(−exponent)`, N without embeddings
    /// (e.g. from a learning-rate sweep at a few sizes, as DeepSeek and the OLMo ladder fit).
    PowerLaw {
        /// The size N at which the rate is `train.lr`.
        reference_params: f64,
        /// How fast the rate falls with N.
        exponent: f64,
    },
}

impl LrRule {
    /// The peak rate of a model of width `width` and `params` non-embedding parameters.
    pub fn lr(&self, base_lr: f64, width: usize, params: u64) -> f64 {
        match *self {
            LrRule::Constant | LrRule::Mup => base_lr,
            LrRule::InverseWidth { base_width } => base_lr * base_width as f64 / width as f64,
            LrRule::PowerLaw { reference_params, exponent } => {
                base_lr * (params.max(1) as f64 / reference_params).powf(-exponent)
            }
        }
    }

    /// One phrase for reports, e.g. "0.045 × 16/d_model".
    pub fn describe(&self, base_lr: f64) -> String {
        match self {
            LrRule::Constant => format!("{base_lr}"),
            LrRule::InverseWidth { base_width } => format!("{base_lr} × {base_width}/d_model"),
            LrRule::Mup => format!("{base_lr} at every width, transferred by muP"),
            LrRule::PowerLaw { reference_params, exponent } => {
                format!("{base_lr} × (N / {reference_params:e})^−{exponent} (N without embeddings)")
            }
        }
    }
}

/// How each token budget's batch size follows from `train.batch_size`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BatchRule {
    /// `train.batch_size` at every budget. Default.
    #[default]
    Constant,
    /// `round(train.batch_size × (D / reference_tokens)^exponent)` sequences, at least 1:
    /// larger budgets take larger batches (the critical batch grows with the data, e.g.
    /// exponent 0.3–0.5).
    PowerLaw {
        /// The budget D at which the batch is `train.batch_size`.
        reference_tokens: f64,
        /// How fast the batch grows with D.
        exponent: f64,
    },
}

impl BatchRule {
    /// The batch size (sequences) of a run of `tokens` training tokens.
    pub fn batch(&self, base: usize, tokens: u64) -> usize {
        match *self {
            BatchRule::Constant => base,
            BatchRule::PowerLaw { reference_tokens, exponent } => {
                let b = base as f64 * (tokens as f64 / reference_tokens).powf(exponent);
                if b.is_finite() { (b.round() as usize).max(1) } else { base }
            }
        }
    }

    /// One phrase for reports.
    pub fn describe(&self, base: usize) -> String {
        match self {
            BatchRule::Constant => format!("{base} sequences"),
            BatchRule::PowerLaw { reference_tokens, exponent } => {
                format!(
                    "{base} × (D / {reference_tokens:e})^{exponent} sequences (rounded, at least 1)"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratio_ties_depth_to_width() {
        let r = DepthRule::Aspect { ratio: 16 };
        let depths: Vec<usize> = [8, 32, 48, 64, 96, 128].iter().map(|&w| r.depth(w, 2)).collect();
        assert_eq!(depths, vec![1, 2, 3, 4, 6, 8]);
        assert_eq!(DepthRule::Fixed.depth(128, 2), 2);
        for p in LADDER_PRESETS {
            assert!(p.widths.windows(2).all(|w| w[0] < w[1]), "{} ascends", p.name);
            for &w in p.widths {
                assert!(w.is_multiple_of(p.head_dim), "{}: width {w} splits into heads", p.name);
                let d = DepthRule::Aspect { ratio: p.aspect_ratio }.depth(w, 0);
                assert!(d >= 2, "{}: width {w} keeps at least two layers", p.name);
                assert_eq!(w, d * p.aspect_ratio, "{}: the ratio is exact", p.name);
            }
        }
        assert!(ladder_preset("aspect32-s").is_some() && ladder_preset("nope").is_none());
    }

    #[test]
    fn learning_rate_and_batch_rules_follow_their_formulas() {
        assert_eq!(LrRule::InverseWidth { base_width: 16 }.lr(0.04, 64, 1), 0.01);
        assert_eq!(LrRule::Mup.lr(0.04, 64, 1), 0.04);
        let fitted = LrRule::PowerLaw { reference_params: 1e5, exponent: 0.5 };
        assert!((fitted.lr(0.04, 0, 400_000) - 0.02).abs() < 1e-15);
        let b = BatchRule::PowerLaw { reference_tokens: 1e6, exponent: 0.5 };
        assert_eq!(b.batch(16, 4_000_000), 32);
        assert_eq!(b.batch(16, 1_000), 1, "at least one sequence");
        assert_eq!(BatchRule::Constant.batch(16, 4_000_000), 16);
    }
}
