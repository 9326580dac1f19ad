//! The experiment file: one TOML document describes data, model family, sweep grid, optimiser
//! and analysis. Every section and field has a default, so a file names only what it changes;
//! unknown fields are errors (a typo must not silently fall back to a default).

use std::path::Path;

use scalinglab_data::WalkConfig;
use scalinglab_model::{Arch, ModelConfig, Parameterization};
use serde::{Deserialize, Serialize};

use crate::TrainingError;
use crate::error::invalid;
use crate::ladder::{BatchRule, DepthRule, LrRule, ladder_preset};

/// A whole scaling-law experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Short name; the default run directory is `runs/<name>`.
    pub name: String,
    /// One paragraph on what the experiment asks; printed at the top of the report.
    pub description: String,
    /// The training and evaluation data.
    pub data: DataConfig,
    /// The model family; widths and head counts come from `sweep`, the vocabulary from the data.
    pub model: ModelFamily,
    /// The grid of model sizes and data sizes.
    pub sweep: SweepConfig,
    /// Optimiser and schedule, shared by every run.
    pub train: TrainConfig,
    /// Fitting options.
    pub analysis: AnalysisConfig,
}

/// Data: stationary random walks on a graph (the default), or token shards written by
/// `scalinglab data` (any corpus, n-gram or grammar text) when `[data.shards]` is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// The graph and walk; its entropy rate is the irreducible loss. Ignored when `shards` is
    /// set.
    pub walk: WalkConfig,
    /// Train on token shards instead of walks. Default: none.
    pub shards: Option<ShardData>,
    /// Held-out sequences (of `model.context + 1` tokens) for the evaluation loss. Default: 256.
    pub eval_sequences: usize,
    /// Seed of the sampled walks (the graph has its own seed in `walk.seed`). Default: 1.
    pub seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { walk: WalkConfig::default(), shards: None, eval_sequences: 256, seed: 1 }
    }
}

/// Token shards (`scalinglab data` output: `train.bin` and `validation.bin` with their JSON
/// headers). Each data budget D takes the first D tokens of the training shard; the held-out
/// loss uses the first `eval_sequences` sequences of the validation shard. Relative paths are
/// taken from the working directory.
///
/// ```toml
/// [data.shards]
/// train = "data/train.bin"
/// validation = "data/validation.bin"
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardData {
    /// Training tokens.
    pub train: std::path::PathBuf,
    /// Held-out tokens.
    pub validation: std::path::PathBuf,
}

/// What every model of the sweep shares: a [`ModelConfig`] without its width, head count and
/// vocabulary (which the sweep and the data set).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelFamily {
    /// Architecture family: `gpt2` or `llama`. Default: `gpt2`.
    pub arch: Arch,
    /// Number of transformer blocks. Default: 2.
    pub n_layers: usize,
    /// Context length T. Default: 50.
    pub context: usize,
    /// MLP hidden width as a multiple of `d_model`; `None` means the architecture's own
    /// (GPT-2: 4, LLaMA: 8/3 rounded up to a multiple of 8). Default: `None`.
    pub mlp_ratio: Option<f64>,
    /// Query heads per key/value head (LLaMA's grouped-query attention). Default: 1.
    pub kv_group: usize,
    /// Share the token embedding with the unembedding. Default: false.
    pub tie_embeddings: bool,
    /// Biases in linear layers and norms; `None` means the architecture's choice (GPT-2 yes,
    /// LLaMA no). Default: `None`.
    pub bias: Option<bool>,
    /// Dropout probability. Default: 0.0.
    pub dropout: f64,
    /// Standard deviation of the normal initialisation. Default: 0.02.
    pub init_std: f64,
    /// Rotary embedding base (LLaMA). Default: 10000.
    pub rope_theta: f64,
    /// `sp` or `mup`. Default: `sp`.
    pub parameterization: Parameterization,
    /// muP's base width (where muP equals SP and the learning rate is tuned). Default: 64.
    pub base_width: usize,
    /// muP's output-logit multiplier. Default: 1.0.
    pub output_multiplier: f64,
}

impl Default for ModelFamily {
    fn default() -> Self {
        let m = ModelConfig::default();
        Self {
            arch: m.arch,
            n_layers: m.n_layers,
            context: m.context,
            mlp_ratio: None,
            kv_group: 1,
            tie_embeddings: m.tie_embeddings,
            bias: m.bias,
            dropout: m.dropout,
            init_std: m.init_std,
            rope_theta: m.rope_theta,
            parameterization: m.parameterization,
            base_width: m.base_width,
            output_multiplier: m.output_multiplier,
        }
    }
}

/// Which (width, tokens) cells of `widths × tokens` a sweep trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GridLayout {
    /// Every width on every token budget (the frontier and every slice).
    #[default]
    Full,
    /// Only the two slices the 1-D laws are fitted on: every width at the largest budget
    /// (`L(N)`) and the largest width at every budget (`L(D)`). It costs about a quarter of
    /// a full grid of the same ladders and leaves the compute frontier out.
    Slices,
}

/// A learning-rate check: extra runs at one grid cell with the width's rate scaled, so that
/// the report can say whether the chosen rate is at an edge of the rates tried.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrCheck {
    /// Width of the cell (one of `sweep.widths`). Default: the largest width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<usize>,
    /// Token budget of the cell (one of `sweep.tokens`). Default: the middle budget (the lower
    /// median of `sweep.tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Multiples of the width's rate to train beside the grid's own (e.g. `[0.5, 2.0]`); with
    /// the grid's 1.0 they make the rates the report compares.
    pub multipliers: Vec<f64>,
}

/// The grid: every width is trained on every token budget, from scratch, for one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepConfig {
    /// Model widths d_model. Default: [16, 32, 64, 128].
    pub widths: Vec<usize>,
    /// Width of one attention head; each run has `d_model / head_dim` heads (at least one).
    /// Default: 16.
    pub head_dim: usize,
    /// Training tokens D (predicted tokens seen, one epoch). Each is rounded up to whole
    /// sequences of `model.context` targets. Default: [51200, 102400, 204800, 409600].
    pub tokens: Vec<u64>,
    /// IsoFLOP lines (Chinchilla's approach 2): for each training budget C (FLOPs) every width
    /// also trains on D = C / (6 N) tokens, N without embeddings, so that `scalinglab fit` finds
    /// several model sizes at each budget. Default: none.
    pub compute_budgets: Vec<f64>,
    /// IsoFLOP runs whose D would fall outside `[min_tokens, max_tokens]` are left out (a tiny
    /// model at a large budget can ask for far more tokens than the rest of the grid).
    /// Default: [context × batch_size, 10^8].
    pub isoflop_tokens: Option<[u64; 2]>,
    /// Learning rates to try at every grid point, as multiples of the width's peak rate
    /// (`train.lr`, after `lr_base_width`); the analysis keeps the best run of each (N, D) and
    /// the report says which won. Default: [1.0].
    pub lr_multipliers: Vec<f64>,
    /// Seeds to train every grid point with (best of, like the learning rates). Default: none
    /// (just `train.seed`).
    pub seeds: Vec<u64>,
    /// `"full"` (every width × every budget) or `"slices"` (every width at the largest budget
    /// and the largest width at every budget). Default: `"full"`.
    pub layout: GridLayout,
    /// Extra runs at one cell with other learning rates (see [`LrCheck`]). Default: none.
    pub lr_check: Option<LrCheck>,
    /// A named ladder (see [`crate::LADDER_PRESETS`], e.g. `"aspect16-xs"`) whose widths, head
    /// width and fixed aspect ratio replace `widths`, `head_dim` and `depth` (leave those out,
    /// or give the preset's own values). Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ladder: Option<String>,
    /// The depth of each width: `{ kind = "fixed" }` (`model.n_layers` everywhere, a
    /// width-only ladder) or `{ kind = "aspect", ratio = 16 }` (`n_layers = width / ratio`).
    /// Default: fixed.
    pub depth: DepthRule,
    /// Passes over the unique data to train every grid point with (a grid axis, like `seeds`):
    /// at budget D and `e` epochs a run sees D tokens, `D / e` of them unique, each `e` times,
    /// so the data-constrained law (`scalinglab fit`) has repeated data to fit. Default: none
    /// (just `train.epochs`).
    pub epochs: Vec<u32>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        Self {
            widths: vec![16, 32, 64, 128],
            head_dim: 16,
            tokens: vec![51_200, 102_400, 204_800, 409_600],
            compute_budgets: Vec::new(),
            isoflop_tokens: None,
            lr_multipliers: vec![1.0],
            seeds: Vec::new(),
            layout: GridLayout::Full,
            lr_check: None,
            ladder: None,
            depth: DepthRule::Fixed,
            epochs: Vec::new(),
        }
    }
}

/// AdamW with linear warmup and cosine decay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Sequences per batch. Default: 16.
    pub batch_size: usize,
    /// Peak learning rate (of a `lr_base_width`-wide model when that is set). Default: 3e-3.
    pub lr: f64,
    /// When set, a width-d model's peak learning rate is `lr × lr_base_width / d`: the 1/width
    /// rule that maximal-update parameterization gives Adam's hidden matrices, so that one
    /// learning rate serves a whole width sweep in standard parameterization. Default: none
    /// (the same `lr` for every width). Shorthand for `lr_rule = { kind = "inverse_width",
    /// base_width = … }`; give one or the other.
    pub lr_base_width: Option<usize>,
    /// How each model size's peak rate follows from `lr` (see [`LrRule`]): `constant`,
    /// `inverse_width`, `mup` or a fitted `power_law` in N. Default: from `lr_base_width`
    /// (inverse width when it is set, else constant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lr_rule: Option<LrRule>,
    /// How each token budget's batch size follows from `batch_size` (see [`BatchRule`]).
    /// Default: constant.
    pub batch_rule: BatchRule,
    /// Passes over each run's unique training data: a run of budget D trains on `D / epochs`
    /// unique tokens, each seen `epochs` times (reshuffled every pass). Recorded per run in
    /// `results.csv`. Default: 1 (every token new).
    pub epochs: u32,
    /// Warmup as a fraction of the run's steps. Default: 0.02 (2%, as Barkeshli et al.).
    pub warmup_frac: f64,
    /// Final learning rate as a fraction of the peak. Default: 0.1.
    pub min_lr_ratio: f64,
    /// Shape after warmup: `{ kind = "cosine" }` or `{ kind = "constant_cooldown",
    /// cooldown_frac = 0.2 }`. Default: cosine.
    pub schedule: crate::schedule::ScheduleKind,
    /// AdamW decoupled weight decay, applied to matrices (embeddings, hidden and output) and
    /// not to biases and norm gains, as nanoGPT. Default: 0.01.
    pub weight_decay: f64,
    /// Adam β1. Default: 0.9.
    pub beta1: f64,
    /// Adam β2. Default: 0.95.
    pub beta2: f64,
    /// Adam ε. Default: 1e-8.
    pub eps: f64,
    /// Clip the global gradient norm (over every parameter, as PyTorch's `clip_grad_norm_`) to
    /// this value; 0 disables. Default: 1.0.
    pub grad_clip: f64,
    /// Seed of parameter initialisation and batch order. Default: 0.
    pub seed: u64,
    /// A run is stopped as diverged when its loss is not finite or exceeds
    /// `divergence_factor × ln(vocab_size)` (the loss of a uniform guess). Default: 3.0.
    pub divergence_factor: f64,
    /// A run is also stopped as diverged when, after warmup, its loss exceeds `spike_factor`
    /// times the lowest running average (EMA, β = 0.9) of its loss so far; 0 disables.
    /// Default: 2.5.
    pub spike_factor: f64,
    /// Save a checkpoint (weights, optimiser state, progress) every this many steps, so that a
    /// killed sweep resumes the interrupted run where it stopped; 0 disables. Default: 200.
    pub checkpoint_every: u64,
    /// Evaluate on the held-out set every this many steps (into `curves.csv`); 0 means only at
    /// the end. Default: 0.
    pub eval_every: u64,
    /// Points of each run's training curve in `curves.csv`, log-spaced in steps; each is the
    /// mean training loss of the steps just before it (every batch is new data in a one-epoch
    /// run, so it estimates the held-out loss at that point). Default: 24.
    pub curve_points: usize,
    /// Held-out sequences evaluated at each point of the training curve (the first this many
    /// of `data.eval_sequences`), so that `curves.csv` holds a held-out curve, which approach 1
    /// and the diagnostics read (and which a repeated-data run needs: its training loss is no
    /// longer held-out). 0 leaves the curve to the training loss. Default: 64.
    pub curve_eval_sequences: usize,
    /// Keep each finished run's weights (`runs/<id>/model.safetensors`), for sampling and
    /// hidden-state statistics. Default: false.
    pub save_models: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 16,
            lr: 3e-3,
            lr_base_width: None,
            lr_rule: None,
            batch_rule: BatchRule::Constant,
            epochs: 1,
            warmup_frac: 0.02,
            min_lr_ratio: 0.1,
            schedule: crate::schedule::ScheduleKind::Cosine,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            grad_clip: 1.0,
            seed: 0,
            divergence_factor: 3.0,
            spike_factor: 2.5,
            checkpoint_every: 200,
            eval_every: 0,
            curve_points: 24,
            curve_eval_sequences: 64,
            save_models: false,
        }
    }
}

/// Fitting options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Bootstrap resamples for confidence intervals; 0 disables. Default: 200.
    pub bootstrap: usize,
    /// Seed of the bootstrap. Default: 0.
    pub seed: u64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self { bootstrap: 200, seed: 0 }
    }
}

/// A power-law rule's reference (positive, finite) and exponent (in [−2, 2]), named
/// `{rule}.{reference_name}` and `{rule}.exponent` in the error.
fn check_power_rule(
    rule: &str,
    reference_name: &str,
    reference: f64,
    exponent: f64,
) -> Result<(), TrainingError> {
    if !(reference.is_finite() && reference > 0.0) {
        return Err(invalid(
            &format!("{rule}.{reference_name}"),
            reference,
            "must be positive and finite",
        ));
    }
    if !(exponent.is_finite() && exponent.abs() <= 2.0) {
        return Err(invalid(&format!("{rule}.exponent"), exponent, "must lie in [-2, 2]"));
    }
    Ok(())
}

/// The most passes over the unique data a run may make.
pub const MAX_EPOCHS: u32 = 10_000;

/// The quickstart experiment, compiled into the binary so that it runs with no file at all.
pub const QUICKSTART_TOML: &str = include_str!("../configs/quickstart.toml");

impl ExperimentConfig {
    /// Parses and validates an experiment from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self, TrainingError> {
        let mut cfg: ExperimentConfig = toml::from_str(text).map_err(|e| TrainingError::Parse {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        cfg.apply_ladder()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates an experiment file.
    pub fn load(path: &Path) -> Result<Self, TrainingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TrainingError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, path)
    }

    /// Parses `text` with command-line overrides applied, then validates it like a file:
    /// each of `sets` is `dotted.key=VALUE` (`train.lr=1e-3`, `sweep.widths=[32,64]`,
    /// `name=wide`), `VALUE` a TOML value, or else taken as a string. A key the experiment does
    /// not have is refused like one in the file; errors name `origin` and the `--set`.
    pub fn from_toml_with(
        text: &str,
        origin: &Path,
        sets: &[String],
    ) -> Result<Self, TrainingError> {
        if sets.is_empty() {
            return Self::from_toml(text, origin);
        }
        let parse = |message: String| TrainingError::Parse { path: origin.to_path_buf(), message };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| parse(e.to_string()))?;
        for set in sets {
            let (key, raw) = set.split_once('=').ok_or_else(|| {
                parse(format!("--set {set:?}: expected KEY=VALUE, e.g. train.lr=1e-3"))
            })?;
            let (key, raw) = (key.trim(), raw.trim());
            let path: Vec<&str> = key.split('.').collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(parse(format!("--set {set:?}: the key {key:?} has an empty part")));
            }
            let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(raw.to_string()));
            let mut at = &mut table;
            for part in &path[..path.len() - 1] {
                let next = at
                    .entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                at = next.as_table_mut().ok_or_else(|| {
                    parse(format!("--set {set:?}: {part} is a value, not a table of fields"))
                })?;
            }
            at.insert(path[path.len() - 1].to_string(), value);
        }
        let text = toml::to_string(&table).map_err(|e| parse(e.to_string()))?;
        let label = format!(
            "{} with {}",
            origin.display(),
            sets.iter().map(|s| format!("--set {s}")).collect::<Vec<_>>().join(" ")
        );
        Self::from_toml(&text, Path::new(&label)).map_err(|e| match e {
            TrainingError::Invalid { field, value, reason } => {
                TrainingError::Invalid { field, value, reason: format!("{reason} (from {label})") }
            }
            other => other,
        })
    }

    /// Fills `sweep.widths`, `sweep.head_dim` and `sweep.depth` from the named
    /// `sweep.ladder`, refusing values that contradict it.
    fn apply_ladder(&mut self) -> Result<(), TrainingError> {
        let Some(name) = self.sweep.ladder.clone() else { return Ok(()) };
        let preset = ladder_preset(&name).ok_or_else(|| {
            let names: Vec<&str> = crate::LADDER_PRESETS.iter().map(|p| p.name).collect();
            invalid("sweep.ladder", &name, format!("unknown ladder; the presets are {names:?}"))
        })?;
        let defaults = SweepConfig::default();
        let depth = DepthRule::Aspect { ratio: preset.aspect_ratio };
        let conflicts = [
            (
                "sweep.widths",
                self.sweep.widths != defaults.widths && self.sweep.widths != preset.widths,
            ),
            (
                "sweep.head_dim",
                self.sweep.head_dim != defaults.head_dim && self.sweep.head_dim != preset.head_dim,
            ),
            ("sweep.depth", self.sweep.depth != defaults.depth && self.sweep.depth != depth),
        ];
        if let Some((field, _)) = conflicts.iter().find(|(_, c)| *c) {
            return Err(invalid(
                *field,
                format!(
                    "{:?}",
                    match *field {
                        "sweep.widths" => format!("{:?}", self.sweep.widths),
                        "sweep.head_dim" => self.sweep.head_dim.to_string(),
                        _ => format!("{:?}", self.sweep.depth),
                    }
                ),
                format!(
                    "sweep.ladder = {name:?} sets it; leave it out (or give the preset's own value)"
                ),
            ));
        }
        self.sweep.widths = preset.widths.to_vec();
        self.sweep.head_dim = preset.head_dim;
        self.sweep.depth = depth;
        Ok(())
    }

    /// The built-in quickstart experiment.
    pub fn quickstart() -> Self {
        Self::from_toml(QUICKSTART_TOML, Path::new("configs/quickstart.toml"))
            .expect("the embedded quickstart config is valid (checked by a test)")
    }

    /// The config as TOML, as written into each run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an experiment config always serialises")
    }

    /// Checks every field; the error names the field and value.
    pub fn validate(&self) -> Result<(), TrainingError> {
        if self.name.trim().is_empty() {
            return Err(invalid("name", "\"\"", "give the experiment a name"));
        }
        if self.name.contains(['/', '\\']) || self.name == "." || self.name == ".." {
            return Err(invalid("name", &self.name, "must not contain path separators"));
        }
        self.data.walk.validate()?;
        if self.data.shards.is_some() {
            self.vocab_size()?;
        }
        if self.data.eval_sequences == 0 {
            return Err(invalid("data.eval_sequences", 0, "need at least one held-out sequence"));
        }
        let s = &self.sweep;
        if s.widths.is_empty() {
            return Err(invalid("sweep.widths", "[]", "list at least one width"));
        }
        if s.head_dim == 0 {
            return Err(invalid("sweep.head_dim", 0, "must be at least 1"));
        }
        for &w in &s.widths {
            // A width has max(1, ⌊w / head_dim⌋) heads, which must split it evenly.
            if w == 0 || !w.is_multiple_of((w / s.head_dim).max(1)) {
                return Err(invalid(
                    "sweep.widths",
                    format!("{:?}", s.widths),
                    format!(
                        "width {w} must be positive and split evenly into its {} heads \
                         (⌊width / head_dim⌋ with head_dim = {}, at least one)",
                        (w / s.head_dim).max(1),
                        s.head_dim
                    ),
                ));
            }
        }
        if (s.tokens.is_empty() && s.compute_budgets.is_empty()) || s.tokens.contains(&0) {
            return Err(invalid(
                "sweep.tokens",
                format!("{:?}", s.tokens),
                "list positive token budgets (or IsoFLOP lines in sweep.compute_budgets)",
            ));
        }
        if let Some(c) = s.compute_budgets.iter().find(|c| !(c.is_finite() && **c > 0.0)) {
            return Err(invalid("sweep.compute_budgets", c, "budgets must be positive FLOPs"));
        }
        if s.lr_multipliers.is_empty()
            || s.lr_multipliers.iter().any(|m| !(m.is_finite() && *m > 0.0))
        {
            return Err(invalid(
                "sweep.lr_multipliers",
                format!("{:?}", s.lr_multipliers),
                "list at least one positive multiple of train.lr",
            ));
        }
        if let Some(check) = &s.lr_check {
            if let Some(w) = check.width
                && !s.widths.contains(&w)
            {
                return Err(invalid(
                    "sweep.lr_check.width",
                    w,
                    format!("must be one of sweep.widths {:?}", s.widths),
                ));
            }
            if let Some(t) = check.tokens
                && !s.tokens.contains(&t)
            {
                return Err(invalid(
                    "sweep.lr_check.tokens",
                    t,
                    format!("must be one of sweep.tokens {:?}", s.tokens),
                ));
            }
            let Some((width, tokens, _)) = self.lr_check_cell() else {
                return Err(invalid(
                    "sweep.lr_check",
                    "(no cell)",
                    "needs at least one width and one entry in sweep.tokens",
                ));
            };
            if s.layout == GridLayout::Slices
                && !(Some(&width) == s.widths.iter().max()
                    || Some(&tokens) == s.tokens.iter().max())
            {
                return Err(invalid(
                    "sweep.lr_check",
                    format!("width {width}, tokens {tokens}"),
                    "with layout = \"slices\" the cell must lie on a slice (the largest width or \
                     the largest budget)",
                ));
            }
            if check.multipliers.is_empty()
                || check.multipliers.iter().any(|m| {
                    !(m.is_finite() && *m > 0.0) || s.lr_multipliers.iter().any(|g| g == m)
                })
            {
                return Err(invalid(
                    "sweep.lr_check.multipliers",
                    format!("{:?}", check.multipliers),
                    format!(
                        "list positive multiples of the width's rate other than the grid's own \
                         {:?}",
                        s.lr_multipliers
                    ),
                ));
            }
        }
        if let crate::schedule::ScheduleKind::ConstantCooldown { cooldown_frac } =
            self.train.schedule
            && !(cooldown_frac > 0.0 && cooldown_frac <= 1.0)
        {
            return Err(invalid(
                "train.schedule.cooldown_frac",
                cooldown_frac,
                "must lie in (0, 1]",
            ));
        }
        if let Some([lo, hi]) = s.isoflop_tokens
            && (lo == 0 || lo > hi)
        {
            return Err(invalid(
                "sweep.isoflop_tokens",
                format!("[{lo}, {hi}]"),
                "need 0 < min_tokens <= max_tokens",
            ));
        }
        if let DepthRule::Aspect { ratio: 0 } = s.depth {
            return Err(invalid("sweep.depth.ratio", 0, "must be at least 1"));
        }
        if let Some(e) = s.epochs.iter().find(|e| !(1..=MAX_EPOCHS).contains(*e)) {
            return Err(invalid("sweep.epochs", e, format!("each must lie in 1..={MAX_EPOCHS}")));
        }
        if (1..s.epochs.len()).any(|i| s.epochs[..i].contains(&s.epochs[i])) {
            return Err(invalid("sweep.epochs", format!("{:?}", s.epochs), "list each count once"));
        }
        let t = &self.train;
        if !(1..=MAX_EPOCHS).contains(&t.epochs) {
            return Err(invalid("train.epochs", t.epochs, format!("must lie in 1..={MAX_EPOCHS}")));
        }
        match &t.lr_rule {
            Some(_) if t.lr_base_width.is_some() => {
                return Err(invalid(
                    "train.lr_base_width",
                    t.lr_base_width.unwrap_or_default(),
                    "give train.lr_rule or train.lr_base_width, not both",
                ));
            }
            Some(LrRule::InverseWidth { base_width: 0 }) => {
                return Err(invalid("train.lr_rule.base_width", 0, "must be at least 1"));
            }
            Some(LrRule::Mup) if self.model.parameterization != Parameterization::Mup => {
                return Err(invalid(
                    "train.lr_rule",
                    "mup",
                    "transfers a rate only under model.parameterization = \"mup\"",
                ));
            }
            Some(LrRule::PowerLaw { reference_params, exponent }) => {
                check_power_rule(
                    "train.lr_rule",
                    "reference_params",
                    *reference_params,
                    *exponent,
                )?;
            }
            _ => {}
        }
        if let BatchRule::PowerLaw { reference_tokens, exponent } = t.batch_rule {
            check_power_rule("train.batch_rule", "reference_tokens", reference_tokens, exponent)?;
        }
        if t.batch_size == 0 {
            return Err(invalid("train.batch_size", 0, "must be at least 1"));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return Err(invalid("train.lr", t.lr, "must be positive and finite"));
        }
        if t.lr_base_width == Some(0) {
            return Err(invalid("train.lr_base_width", 0, "must be at least 1 (or left out)"));
        }
        if !(0.0..1.0).contains(&t.warmup_frac) {
            return Err(invalid("train.warmup_frac", t.warmup_frac, "must lie in [0, 1)"));
        }
        if !(0.0..=1.0).contains(&t.min_lr_ratio) {
            return Err(invalid("train.min_lr_ratio", t.min_lr_ratio, "must lie in [0, 1]"));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return Err(invalid("train.weight_decay", t.weight_decay, "must be non-negative"));
        }
        for (field, v) in [("train.beta1", t.beta1), ("train.beta2", t.beta2)] {
            if !(0.0..1.0).contains(&v) {
                return Err(invalid(field, v, "must lie in [0, 1)"));
            }
        }
        if !(t.eps > 0.0) {
            return Err(invalid("train.eps", t.eps, "must be positive"));
        }
        if !(t.grad_clip >= 0.0) {
            return Err(invalid(
                "train.grad_clip",
                t.grad_clip,
                "must be non-negative (0 disables)",
            ));
        }
        if !(t.spike_factor == 0.0 || t.spike_factor > 1.0) {
            return Err(invalid(
                "train.spike_factor",
                t.spike_factor,
                "must exceed 1 (0 disables)",
            ));
        }
        if !(t.divergence_factor > 1.0) {
            return Err(invalid("train.divergence_factor", t.divergence_factor, "must exceed 1"));
        }
        // The model section is validated at every width (an absurd one overflows its counts).
        for &w in &s.widths {
            self.run_model(w)?;
        }
        Ok(())
    }

    /// Checks, before anything is allocated, that the sweep fits in memory (see
    /// [`scalinglab_data::memory::limit`]): the pool of training and held-out tokens (4 bytes
    /// a token), and the largest model's weights, gradients and two Adam moments (16 bytes a
    /// parameter) with one batch's logits (and their gradient). The estimate is a lower bound,
    /// so only what certainly cannot fit is refused.
    ///
    /// # Errors
    /// [`TrainingError::Invalid`] naming `sweep.tokens` (the largest budget) or
    /// `sweep.widths` (the largest width), with the figure.
    pub fn check_memory(&self) -> Result<(), TrainingError> {
        use scalinglab_data::memory::product;
        let check = crate::error::check_memory;
        let context = self.model.context as u64;
        let grid = self.grid()?;
        if let Some(&(_, budget)) = grid.iter().max_by_key(|(_, d)| *d) {
            let sequences = budget.div_ceil(context.max(1));
            let windows = sequences.checked_add(self.data.eval_sequences as u64);
            let bytes = windows.and_then(|w| product(&[w, context.checked_add(1)?, 4]));
            // Whole windows of context + 1 tokens: a context far beyond the budget is the
            // culprit when the budget's own tokens would fit.
            let budget_fits =
                product(&[budget, 4]).is_some_and(|b| b <= scalinglab_data::memory::limit());
            let (field, value) =
                if budget_fits { ("model.context", context) } else { ("sweep.tokens", budget) };
            check(
                field,
                value,
                &format!(
                    "the token pool ({sequences} training and {} held-out windows of context + 1 \
                     tokens, for the largest budget D = {budget})",
                    self.data.eval_sequences
                ),
                bytes,
            )?;
        }
        if let Some(&(width, _)) = grid.iter().max_by_key(|(w, _)| *w) {
            let m = self.run_model(width)?;
            let params = m.param_counts().total;
            let batch = grid.iter().map(|&(_, d)| self.batch_for(d)).max().unwrap_or(1);
            let logits = product(&[batch as u64, context, m.vocab_size as u64, 8]);
            let bytes = product(&[params, 16]).zip(logits).and_then(|(a, b)| a.checked_add(b));
            check(
                "sweep.widths",
                width as u64,
                &format!(
                    "training the width-{width} model ({params} parameters with gradients and \
                     Adam moments, and a batch of logits)"
                ),
                bytes,
            )?;
        }
        Ok(())
    }

    /// Vocabulary size of the data (graph nodes).
    ///
    /// # Errors
    /// A training shard that cannot be opened.
    pub fn vocab_size(&self) -> Result<usize, TrainingError> {
        crate::dataset::vocab_size(self)
    }

    /// The model of one point of the width sweep.
    pub fn run_model(&self, width: usize) -> Result<ModelConfig, TrainingError> {
        let f = &self.model;
        if let Some(r) = f.mlp_ratio
            && !(r > 0.0 && r.is_finite() && (r * width as f64).round() >= 1.0)
        {
            return Err(invalid("model.mlp_ratio", r, "must be positive and give d_ff >= 1"));
        }
        let n_heads = (width / self.sweep.head_dim).max(1);
        if f.kv_group == 0 || !n_heads.is_multiple_of(f.kv_group) {
            return Err(invalid(
                "model.kv_group",
                f.kv_group,
                format!("must divide the {n_heads} heads of width {width}"),
            ));
        }
        let m = ModelConfig {
            arch: f.arch,
            vocab_size: self.vocab_size()?,
            context: f.context,
            d_model: width,
            n_layers: self.sweep.depth.depth(width, f.n_layers),
            n_heads,
            n_kv_heads: Some(n_heads / f.kv_group),
            d_ff: f.mlp_ratio.map(|r| (r * width as f64).round() as usize),
            tie_embeddings: f.tie_embeddings,
            bias: f.bias,
            dropout: f.dropout,
            init_std: f.init_std,
            rope_theta: f.rope_theta,
            parameterization: f.parameterization,
            base_width: f.base_width,
            output_multiplier: f.output_multiplier,
        };
        m.validate()?;
        Ok(m)
    }

    /// The learning-rate check's cell and multipliers, `(width, tokens, multipliers)`, its
    /// defaults filled in (see [`LrCheck`]); `None` without a check (or without a grid).
    pub fn lr_check_cell(&self) -> Option<(usize, u64, &[f64])> {
        let check = self.sweep.lr_check.as_ref()?;
        let width = check.width.or_else(|| self.sweep.widths.iter().copied().max())?;
        let tokens = match check.tokens {
            Some(t) => t,
            None => {
                let mut t = self.sweep.tokens.clone();
                t.sort_unstable();
                *t.get(t.len().checked_sub(1)? / 2)?
            }
        };
        Some((width, tokens, &check.multipliers))
    }

    /// The rule that sets each size's peak rate ([`TrainConfig::lr_rule`], or the one
    /// [`TrainConfig::lr_base_width`] implies).
    pub fn lr_rule(&self) -> LrRule {
        match (&self.train.lr_rule, self.train.lr_base_width) {
            (Some(rule), _) => rule.clone(),
            (None, Some(base_width)) => LrRule::InverseWidth { base_width },
            (None, None) => LrRule::Constant,
        }
    }

    /// The peak learning rate of a width-`width` model (see [`TrainConfig::lr_rule`]).
    pub fn lr_for_width(&self, width: usize) -> f64 {
        let params = self.run_model(width).map_or(0, |m| m.param_counts().non_embedding);
        self.lr_rule().lr(self.train.lr, width, params)
    }

    /// The batch size (sequences) of a run of `tokens` training tokens (see
    /// [`TrainConfig::batch_rule`]).
    pub fn batch_for(&self, tokens: u64) -> usize {
        self.train.batch_rule.batch(self.train.batch_size, tokens)
    }

    /// The epoch counts every grid point trains with: `sweep.epochs`, or `train.epochs`.
    pub fn epoch_counts(&self) -> Vec<u32> {
        if self.sweep.epochs.is_empty() {
            vec![self.train.epochs]
        } else {
            self.sweep.epochs.clone()
        }
    }

    /// Every (width, tokens) pair of the sweep: the grid `widths × tokens` (or its two slices,
    /// see [`GridLayout`]), then the IsoFLOP points `D = C / (6 N)` of `compute_budgets` inside
    /// `isoflop_tokens`, without repeats.
    pub fn grid(&self) -> Result<Vec<(usize, u64)>, TrainingError> {
        let mut cells: Vec<(usize, u64)> = Vec::new();
        let mut push = |cell: (usize, u64)| {
            if !cells.contains(&cell) {
                cells.push(cell);
            }
        };
        let max_width = self.sweep.widths.iter().copied().max();
        let max_tokens = self.sweep.tokens.iter().copied().max();
        for &w in &self.sweep.widths {
            for &d in &self.sweep.tokens {
                let on_slice = Some(w) == max_width || Some(d) == max_tokens;
                if self.sweep.layout == GridLayout::Full || on_slice {
                    push((w, d));
                }
            }
        }
        let context = self.model.context as u64;
        let [lo, hi] = self
            .sweep
            .isoflop_tokens
            .unwrap_or([context.saturating_mul(self.train.batch_size as u64), 100_000_000]);
        for &c in &self.sweep.compute_budgets {
            for &w in &self.sweep.widths {
                let n = self.run_model(w)?.param_counts().non_embedding as f64;
                // Whole sequences, so that the run's D is what the results file will record.
                let d = ((c / (6.0 * n) / context as f64).round() as u64)
                    .max(1)
                    .saturating_mul(context);
                if (lo..=hi).contains(&d) {
                    push((w, d));
                }
            }
        }
        Ok(cells)
    }

    /// Number of training sequences for a token budget (rounded up to whole sequences).
    pub fn sequences_for(&self, tokens: u64) -> usize {
        tokens.div_ceil(self.model.context as u64) as usize
    }
}

#[cfg(test)]
mod overrides {
    use super::*;

    fn with(sets: &[&str]) -> Result<ExperimentConfig, TrainingError> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        ExperimentConfig::from_toml_with(QUICKSTART_TOML, Path::new("quick.toml"), &sets)
    }

    #[test]
    fn set_overrides_fields_and_is_validated_like_the_file() {
        let base = ExperimentConfig::quickstart();
        let cfg = with(&["train.lr=1e-3", "sweep.widths=[32, 64]", "name=wide"]).unwrap();
        assert_eq!(cfg.train.lr, 1e-3);
        assert_eq!(cfg.sweep.widths, vec![32, 64]);
        // The learning-rate check follows the ladder: its default cell is the largest width.
        assert_eq!(cfg.lr_check_cell().map(|(w, t, _)| (w, t)), Some((64, 409_600)));
        assert_eq!(cfg.name, "wide");
        assert_eq!(cfg.model, base.model, "untouched fields keep the file's values");
        // Recorded: the config written into the run directory carries the overrides.
        let back = ExperimentConfig::from_toml(&cfg.to_toml(), Path::new("back.toml")).unwrap();
        assert_eq!(back.train.lr, 1e-3);
        // Refusals name the file, the --set and the field.
        for (set, want) in [
            ("train.lr=-1", "train.lr"),
            ("train.lrr=1e-3", "lrr"),
            ("sweep.widths=many", "widths"),
            ("train.lr", "KEY=VALUE"),
            ("train..lr=1", "empty part"),
            ("name.x=1", "not a table"),
        ] {
            let e = with(&[set]).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("quick.toml"), "--set {set}: {e}");
        }
    }
}
