//! `scalinglab stats`: every statistic of this module on a token shard and/or a point file,
//! with fits, predictions, plots and a report.
//!
//! # Mapping of command-line flags onto [`StatsCommandOptions`]
//!
//! ```text
//! scalinglab stats
//!   --tokens FILE --vocab V        tokens = Some(TokenSource { path, vocab, .. })
//!   [--token-width 16|32]          tokens.width = TokenWidth::from_bits(..)   (default 16)
//!   [--token-format auto|binary|text]  tokens.format                         (default auto:
//!                                  .bin/.u16/.u32 are binary, anything else text)
//!   [--lags 1..200 | 1..200@40 | 1,2,4]  correlation.lags = parse_lags(..)
//!                                  (default 40 log-spaced lags in 1..=200)
//!   [--fit-lags LO..HI]            correlation.fit_window = Some(parse_window(..))  (default: all)
//!   [--max-n N]                    entropy.max_n                               (default 6)
//!   [--estimator miller_madow|grassberger|plugin]  entropy.estimator          (default MM)
//!   --points FILE [--dim D]        points = Some(PointSource { path, dim, .. })
//!   [--k 20] [--metric euclidean|cosine] [--batch-size 3600] [--max-points M]
//!                                  id.k, id.metric (Metric::parse), id.batch_size, id.max_points
//!   [--position-losses FILE]       position_losses: a trained model's L_n (CSV)
//!   [--loss-table FILE]            loss_table: tokens,position,loss for the collapse
//!   [--smoothness s]               smoothness                                  (default 1)
//!   [--data-sizes 1e6,1e7,...]     data_sizes for the context horizon
//!                                  (default: the stream's length and 1e6..1e9)
//!   [--beta B] [--gamma G] [--h-inf H]  beta/gamma/h_inf: used when not measured
//!   [--bootstrap R] [--seed S]     set `bootstrap` and `seed` of correlation, entropy and
//!                                  (seed only) id
//!   [--out DIR]                    the `out_dir` argument
//! ```
//!
//! # Files written to `out_dir`
//!
//! * `stats.json` — the [`StatsReport`].
//! * `stats.md` — tables of every statistic, fit, prediction and caveat, with the plots.
//! * `correlation_decay.svg` — `‖C(n)‖_op` (resolved and below-floor lags) and `‖C(n)‖_F`
//!   against `n`, the noise floor and threshold, the fit (and the broken law when it wins).
//! * `entropy_decay.svg` — `H_n` against `n` (n-gram estimates and/or model losses) with the
//!   fits and `H∞`; `entropy_excess.svg` — `H_n − H∞` on log-log axes.
//! * `intrinsic_dimension.svg` — estimates per batch with their means.
//! * `collapse.svg` — the collapse test, when a loss table is given.
//!
//! Fits that cannot be made (too few resolved lags, no decay) become warnings in the
//! report; unreadable or invalid inputs are errors.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::AnalysisError;
use crate::format::sci;
use crate::stats::correlation::{
    CorrelationFit, CorrelationOptions, CorrelationStats, correlation_decay, fit_correlation_decay,
};
use crate::stats::entropy::{
    ConditionalEntropy, EntropyFit, EntropyOptions, fit_entropy_decay, ngram_entropies,
};
use crate::stats::intrinsic::{IdEstimate, IdOptions, intrinsic_dimension};
use crate::stats::io::{
    PointsFormat, TokenFormat, TokenWidth, read_loss_table, read_points, read_position_losses,
    read_tokens,
};
use crate::stats::output::write_stats;
use crate::stats::predict::{
    Collapse, CorrelationPrediction, DEFAULT_SMOOTHNESS, DimensionPrediction, Horizon, LossCurve,
    collapse, context_horizon_measured, predict_from_correlations, predict_from_dimension,
};

/// A token shard to read.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TokenSource {
    /// The file.
    pub path: PathBuf,
    /// Vocabulary size `V`; every id must be below it.
    pub vocab: usize,
    /// Id width of binary files (default 16 bits).
    pub width: TokenWidth,
    /// Encoding (default: by extension).
    pub format: TokenFormat,
}

impl TokenSource {
    /// A shard with the default width (16 bits) and format (by extension).
    pub fn new(path: impl Into<PathBuf>, vocab: usize) -> Self {
        TokenSource { path: path.into(), vocab, width: TokenWidth::U16, format: TokenFormat::Auto }
    }
}

/// A point file to read.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointSource {
    /// The file.
    pub path: PathBuf,
    /// Dimension (required for binary files).
    pub dim: Option<usize>,
    /// Encoding (default: by extension).
    pub format: PointsFormat,
}

impl PointSource {
    /// A point file with the format chosen by extension.
    pub fn new(path: impl Into<PathBuf>, dim: Option<usize>) -> Self {
        PointSource { path: path.into(), dim, format: PointsFormat::Auto }
    }
}

/// Everything `scalinglab stats` can be asked to do (see the module documentation for the
/// flag mapping). At least one of `tokens`, `points`, `position_losses` or `loss_table` must
/// be given.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StatsCommandOptions {
    /// Report title.
    pub title: String,
    /// Token shard: correlation and n-gram entropy statistics.
    pub tokens: Option<TokenSource>,
    /// Point file (manifold samples or hidden states): intrinsic dimension.
    pub points: Option<PointSource>,
    /// A trained model's per-position losses `L_n` (CSV, see [`crate::stats::io`]).
    pub position_losses: Option<PathBuf>,
    /// Per-position losses of a sweep over data sizes (CSV `tokens,position,loss`): collapse.
    pub loss_table: Option<PathBuf>,
    /// Correlation settings.
    pub correlation: CorrelationOptions,
    /// Entropy settings.
    pub entropy: EntropyOptions,
    /// Intrinsic-dimension settings.
    pub id: IdOptions,
    /// Smoothness `s` of the intrinsic-dimension route (default [`DEFAULT_SMOOTHNESS`]).
    pub smoothness: f64,
    /// Data sizes `P` for the context horizon; empty = the stream's length and 1e6..1e9.
    pub data_sizes: Vec<f64>,
    /// `β` for the prediction and the collapse when no token stream is given.
    pub beta: Option<f64>,
    /// `γ` for the collapse (overrides the fitted one there), and for the prediction when no
    /// entropy fit is available.
    pub gamma: Option<f64>,
    /// `H∞` for the collapse (default: from the entropy fit, preferring model losses, else
    /// from a fit of the largest-P loss curve).
    pub h_inf: Option<f64>,
}

impl Default for StatsCommandOptions {
    fn default() -> Self {
        StatsCommandOptions {
            title: "Data statistics".into(),
            tokens: None,
            points: None,
            position_losses: None,
            loss_table: None,
            correlation: CorrelationOptions::default(),
            entropy: EntropyOptions::default(),
            id: IdOptions::default(),
            smoothness: DEFAULT_SMOOTHNESS,
            data_sizes: Vec::new(),
            beta: None,
            gamma: None,
            h_inf: None,
        }
    }
}

impl StatsCommandOptions {
    /// Sets the bootstrap resamples of every fit.
    pub fn set_bootstrap(&mut self, resamples: usize) {
        self.correlation.bootstrap = resamples;
        self.entropy.bootstrap = resamples;
    }

    /// Sets the seed of every random choice.
    pub fn set_seed(&mut self, seed: u64) {
        self.correlation.seed = seed;
        self.entropy.seed = seed;
        self.id.seed = seed;
    }
}

/// In-memory inputs of [`compute_stats`].
#[derive(Clone, Copy, Debug, Default)]
pub struct StatsInputs<'a> {
    /// A token stream and its vocabulary size.
    pub tokens: Option<(&'a [u32], usize)>,
    /// Row-major points and their dimension.
    pub points: Option<(&'a [f32], usize)>,
    /// A model's per-position losses `L_n`, indexed by context length.
    pub position_losses: Option<&'a [f64]>,
    /// Per-position loss curves of a sweep over data sizes.
    pub loss_curves: Option<&'a [LossCurve]>,
}

/// Summary of the token stream.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamSummary {
    /// Tokens `P`.
    pub tokens: u64,
    /// Vocabulary size `V`.
    pub vocab: usize,
    /// Distinct tokens that occur.
    pub tokens_seen: usize,
}

/// Wall-clock time of one step.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// The step.
    pub step: String,
    /// Seconds.
    pub seconds: f64,
}

/// Everything `scalinglab stats` computed.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StatsReport {
    /// Report title.
    pub title: String,
    /// The options used.
    pub options: StatsCommandOptions,
    /// The token stream, when given.
    pub stream: Option<StreamSummary>,
    /// Correlation statistics.
    pub correlation: Option<CorrelationStats>,
    /// Correlation fit.
    pub correlation_fit: Option<CorrelationFit>,
    /// n-gram conditional entropies (empty without tokens).
    pub entropy: Vec<ConditionalEntropy>,
    /// Fit of the n-gram `H_n` (chosen estimator, reliable rows).
    pub ngram_fit: Option<EntropyFit>,
    /// The model's per-position losses, when given.
    pub position_losses: Vec<f64>,
    /// Fit of the model losses.
    pub model_fit: Option<EntropyFit>,
    /// Intrinsic dimension.
    pub intrinsic: Option<IdEstimate>,
    /// `α_D = γ/(2β)`, one per source of `γ`.
    pub correlation_predictions: Vec<CorrelationPrediction>,
    /// `α_D`, `α_N` from the intrinsic dimension, one per estimator.
    pub dimension_predictions: Vec<DimensionPrediction>,
    /// Context horizon `n*(P)`.
    pub horizon: Vec<Horizon>,
    /// The collapse test.
    pub collapse: Option<Collapse>,
    /// Caveats and fits that could not be made.
    pub warnings: Vec<String>,
    /// Wall-clock time per step.
    pub timings: Vec<Timing>,
    /// Files written (names relative to the output directory).
    pub files: Vec<String>,
}

/// Reads the inputs named in `opts`, computes every statistic ([`compute_stats`]) and writes
/// `stats.json`, `stats.md` and the plots into `out_dir` (created if needed). Fits that
/// cannot be made are reported as warnings instead of errors.
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] when `opts` names no input; the errors of the readers
/// ([`read_tokens`], [`read_points`], [`read_position_losses`], [`read_loss_table`]), of
/// [`compute_stats`] and of [`write_stats`].
pub fn stats_command(
    opts: &StatsCommandOptions,
    out_dir: &Path,
) -> Result<StatsReport, AnalysisError> {
    if opts.tokens.is_none()
        && opts.points.is_none()
        && opts.position_losses.is_none()
        && opts.loss_table.is_none()
    {
        return Err(AnalysisError::invalid(
            "stats",
            "nothing to do: give a token shard (--tokens, --vocab), a point file (--points), per-position losses or a loss table",
        ));
    }
    let mut timings = Vec::new();
    let t0 = Instant::now();
    let tokens = match &opts.tokens {
        Some(src) => Some(read_tokens(&src.path, src.format, src.width, src.vocab)?),
        None => None,
    };
    let points = match &opts.points {
        Some(src) => Some(read_points(&src.path, src.format, src.dim)?),
        None => None,
    };
    let losses = match &opts.position_losses {
        Some(p) => Some(read_position_losses(p)?),
        None => None,
    };
    let curves = match &opts.loss_table {
        Some(p) => Some(read_loss_table(p)?),
        None => None,
    };
    timings.push(Timing { step: "read inputs".into(), seconds: t0.elapsed().as_secs_f64() });
    let inputs = StatsInputs {
        tokens: tokens.as_deref().zip(opts.tokens.as_ref().map(|s| s.vocab)),
        points: points.as_ref().map(|(v, d)| (v.as_slice(), *d)),
        position_losses: losses.as_deref(),
        loss_curves: curves.as_deref(),
    };
    let mut report = compute_stats(&inputs, opts)?;
    report.timings.splice(0..0, timings);
    write_stats(&mut report, out_dir)?;
    Ok(report)
}

fn half_width(ci: Option<(f64, f64)>) -> f64 {
    ci.map_or(0.0, |(lo, hi)| 0.5 * (hi - lo))
}

/// Computes every statistic the inputs allow (see the module documentation), without
/// touching the file system. Fits and predictions that cannot be made are reported as
/// warnings in the report instead of errors.
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] for a non-positive or non-finite `opts.smoothness` or a
/// per-position loss that is not finite and positive (a missing `L_0`, NaN, is allowed); the
/// errors of [`correlation_decay`] and [`ngram_entropies`] on the tokens and of
/// [`intrinsic_dimension`] on the points.
pub fn compute_stats(
    inputs: &StatsInputs<'_>,
    opts: &StatsCommandOptions,
) -> Result<StatsReport, AnalysisError> {
    if !(opts.smoothness.is_finite() && opts.smoothness > 0.0) {
        return Err(AnalysisError::invalid(
            "stats",
            format!("smoothness = {} must be finite and > 0", opts.smoothness),
        ));
    }
    let mut r = StatsReport {
        title: opts.title.clone(),
        options: opts.clone(),
        stream: None,
        correlation: None,
        correlation_fit: None,
        entropy: Vec::new(),
        ngram_fit: None,
        position_losses: Vec::new(),
        model_fit: None,
        intrinsic: None,
        correlation_predictions: Vec::new(),
        dimension_predictions: Vec::new(),
        horizon: Vec::new(),
        collapse: None,
        warnings: Vec::new(),
        timings: Vec::new(),
        files: Vec::new(),
    };
    let time = |r: &mut StatsReport, step: &str, t: Instant| {
        r.timings.push(Timing { step: step.into(), seconds: t.elapsed().as_secs_f64() })
    };

    if let Some((tokens, vocab)) = inputs.tokens {
        let t = Instant::now();
        let stats = correlation_decay(tokens, vocab, &opts.correlation)?;
        time(&mut r, "correlation decay", t);
        r.stream =
            Some(StreamSummary { tokens: stats.tokens, vocab, tokens_seen: stats.tokens_seen });
        match fit_correlation_decay(&stats, &opts.correlation) {
            Ok(f) => {
                r.warnings.extend(f.warnings.iter().map(|w| format!("correlation: {w}")));
                r.correlation_fit = Some(f);
            }
            Err(e) => r.warnings.push(format!("correlation fit: {e}")),
        }
        r.correlation = Some(stats);
        let t = Instant::now();
        r.entropy = ngram_entropies(tokens, vocab, &opts.entropy)?;
        time(&mut r, "n-gram entropies", t);
        let est = opts.entropy.estimator;
        let h: Vec<f64> = r.entropy.iter().map(|c| c.value(est)).collect();
        let reliable: Vec<bool> = r.entropy.iter().map(|c| c.reliable).collect();
        let source = format!("n-gram ({})", est.name());
        match fit_entropy_decay(
            &h,
            opts.entropy.fit_min_n,
            |n| reliable[n],
            &source,
            opts.entropy.bootstrap,
            opts.entropy.seed,
        ) {
            Ok(f) => {
                r.warnings.extend(f.warnings.iter().map(|w| format!("entropy ({source}): {w}")));
                r.ngram_fit = Some(f);
            }
            Err(e) => r.warnings.push(e.to_string()),
        }
        if let Some(first_bad) = r.entropy.iter().find(|c| !c.reliable) {
            r.warnings.push(format!(
                "entropy: n-gram estimates from n = {} on are undersampled ({} distinct (n+1)-grams in {} samples) and were not fitted",
                first_bad.n, first_bad.distinct, first_bad.samples
            ));
        }
    }

    if let Some(losses) = inputs.position_losses {
        // L_0 may be absent (NaN) — a sweep's per-position losses start at n = 1, and the fit
        // never uses n = 0.
        if let Some(n) = losses.iter().enumerate().position(|(n, v)| {
            let valid = v.is_finite() && *v > 0.0;
            let absent_l0 = n == 0 && v.is_nan();
            !valid && !absent_l0
        }) {
            return Err(AnalysisError::invalid(
                "position losses",
                format!("L_{n} = {} must be finite and > 0", losses[n]),
            ));
        }
        r.position_losses = losses.to_vec();
        let source = "model per-position loss";
        match fit_entropy_decay(
            losses,
            opts.entropy.fit_min_n,
            |_| true,
            source,
            opts.entropy.bootstrap,
            opts.entropy.seed,
        ) {
            Ok(f) => {
                r.warnings.extend(f.warnings.iter().map(|w| format!("entropy ({source}): {w}")));
                r.model_fit = Some(f);
            }
            Err(e) => r.warnings.push(e.to_string()),
        }
    }

    if let Some((points, dim)) = inputs.points {
        let t = Instant::now();
        let id = intrinsic_dimension(points, dim, &opts.id)?;
        time(&mut r, "intrinsic dimension", t);
        if id.batches.len() < 2 {
            r.warnings.push(format!(
                "intrinsic dimension: a single batch of {} points has no spread, so its ± is 0; \
                 use a batch size of at most half the points for an interval",
                id.n_points
            ));
        }
        r.intrinsic = Some(id);
    }

    // Predictions: correlation and entropy route.
    let beta = r
        .correlation_fit
        .as_ref()
        .map(|f| (f.beta, half_width(f.beta_ci), "measured"))
        .or(opts.beta.map(|b| (b, 0.0, "given")));
    let mut gammas: Vec<(f64, f64, String)> = Vec::new();
    for f in [&r.model_fit, &r.ngram_fit].into_iter().flatten() {
        if f.at_bound {
            r.warnings.push(format!(
                "prediction α_D = γ/(2β) from {}: not made, because H∞ sits at its bound, so γ \
                 is set by the bound and has no calibrated interval",
                f.source
            ));
        } else {
            gammas.push((f.gamma, half_width(f.gamma_ci), f.source.clone()));
        }
    }
    if gammas.is_empty()
        && let Some(g) = opts.gamma
    {
        gammas.push((g, 0.0, "given".into()));
    }
    if let Some((b, be, _)) = beta {
        for (g, ge, src) in &gammas {
            match predict_from_correlations(b, be, *g, *ge, src) {
                Ok(p) => r.correlation_predictions.push(p),
                Err(e) => r.warnings.push(format!("prediction α_D = γ/(2β): {e}")),
            }
        }
    }
    // Intrinsic-dimension route.
    if let Some(id) = &r.intrinsic {
        if id.clustered {
            r.warnings.push(
                "intrinsic dimension: the points form tight clusters (the largest gap in each \
                 point's neighbour distances dominates), so Levina–Bickel and TwoNN measure the \
                 clusters' tightness, not a manifold's dimension; no α prediction is made from \
                 them. Deduplicate by context or look at d̂ against k."
                    .into(),
            );
        }
        for (name, s) in [("levina_bickel", id.mle), ("two_nn", id.two_nn)] {
            let label = if name == "levina_bickel" {
                format!("{name} (k = {}, {})", id.k, id.metric.name())
            } else {
                format!("{name} ({})", id.metric.name())
            };
            if id.clustered {
                continue;
            }
            let Some(half) = s.half_width else {
                r.warnings.push(format!(
                    "prediction from {label}: one batch gives no interval for d̂ (use more points \
                     or a smaller --batch-size)"
                ));
                continue;
            };
            match predict_from_dimension(s.mean, half, opts.smoothness, &label) {
                Ok(p) => r.dimension_predictions.push(p),
                Err(e) => r.warnings.push(format!("prediction from {label}: {e}")),
            }
        }
    }
    // Context horizon.
    if let (Some(f), Some(c)) = (&r.correlation_fit, &r.correlation) {
        let mut sizes = opts.data_sizes.clone();
        if sizes.is_empty() {
            sizes = vec![1e6, 1e7, 1e8, 1e9];
            if let Some(s) = &r.stream {
                sizes.push(s.tokens as f64);
            }
        }
        sizes.sort_by(f64::total_cmp);
        sizes.dedup();
        match context_horizon_measured(
            c,
            f,
            &sizes,
            opts.correlation.bootstrap,
            opts.correlation.seed,
        ) {
            Ok(h) => r.horizon = h,
            Err(e) => r.warnings.push(format!("context horizon: {e}")),
        }
    }
    // Collapse.
    if let Some(curves) = inputs.loss_curves {
        let from_fit = r.model_fit.as_ref().or(r.ngram_fit.as_ref());
        let mut h_inf = opts.h_inf.or(from_fit.map(|f| f.h_inf));
        let mut gamma = opts.gamma.or(from_fit.map(|f| f.gamma));
        if (h_inf.is_none() || gamma.is_none())
            && let Some(largest) = curves.iter().max_by(|a, b| a.tokens.total_cmp(&b.tokens))
        {
            let src = format!("largest-P loss curve (P = {})", sci(largest.tokens, 2));
            match fit_entropy_decay(
                &largest.losses,
                opts.entropy.fit_min_n,
                |_| true,
                &src,
                0,
                opts.entropy.seed,
            ) {
                Ok(f) => {
                    h_inf = h_inf.or(Some(f.h_inf));
                    gamma = gamma.or(Some(f.gamma));
                }
                Err(e) => {
                    r.warnings.push(format!("collapse: cannot fit H∞ and γ on the {src}: {e}"))
                }
            }
        }
        match (h_inf, gamma, beta) {
            (Some(h), Some(g), Some((b, _, _))) => match collapse(curves, h, g, b) {
                Ok(c) => r.collapse = Some(c),
                Err(e) => r.warnings.push(format!("collapse: {e}")),
            },
            (_, _, None) => {
                r.warnings.push("collapse: needs β: give a token stream or --beta".into())
            }
            _ => r.warnings.push(
                "collapse: needs H∞ and γ: give --h-inf/--gamma or per-position losses".into(),
            ),
        }
    }
    Ok(r)
}
