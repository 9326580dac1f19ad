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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::AnalysisError;
use crate::format::{interval, sci, sig};
use crate::plot::{Curve, CurveStyle, PlotSpec, plot_svg};
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
use crate::stats::predict::{
    Collapse, CorrelationPrediction, DEFAULT_SMOOTHNESS, DimensionPrediction, Horizon, LossCurve,
    collapse, context_horizon_measured, predict_from_correlations, predict_from_dimension,
};

/// The 95% half-width of a batch spread, or `n/a (1 batch)`.
fn half(s: &crate::stats::intrinsic::Spread) -> String {
    s.half_width.map_or_else(|| "n/a (1 batch)".to_string(), |h| sig(h, 2))
}

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

impl StatsReport {
    /// A terminal summary: statistics, fits with intervals, predictions side by side, horizon
    /// and warnings.
    pub fn summary_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.title);
        if let (Some(st), Some(c)) = (&self.stream, &self.correlation) {
            let _ = writeln!(
                s,
                "tokens: P = {}, V = {} ({} seen); noise floor ‖C‖_op = {} (P^-1/2 = {}), {} of {} lags resolved",
                sci(st.tokens as f64, 3),
                st.vocab,
                st.tokens_seen,
                sci(c.floor.op_norm, 2),
                sci(c.floor.rule_of_thumb, 2),
                c.lags.iter().filter(|l| l.resolved).count(),
                c.lags.len()
            );
        }
        if let Some(f) = &self.correlation_fit {
            let _ = writeln!(
                s,
                "correlation: β = {} {} over lags {}..{} ({} lags; lag bootstrap {}, stream bootstrap {}){}",
                sig(f.beta, 3),
                interval(f.beta_ci, 3),
                f.lags_used[0],
                f.lags_used[f.lags_used.len() - 1],
                f.lags_used.len(),
                interval(f.beta_ci_lags, 3),
                interval(f.beta_ci_blocks, 3),
                f.frob_fit
                    .as_ref()
                    .map_or(String::new(), |ff| format!("; Frobenius β = {}", sig(ff.alpha, 3)))
            );
        }
        if !self.entropy.is_empty() {
            let est = self.options.entropy.estimator;
            let hs: Vec<String> = self
                .entropy
                .iter()
                .map(|c| {
                    format!(
                        "H_{} = {}{}",
                        c.n,
                        sig(c.value(est), 4),
                        if c.reliable { "" } else { "*" }
                    )
                })
                .collect();
            let _ =
                writeln!(s, "entropy ({}, nats; * undersampled): {}", est.name(), hs.join(", "));
        }
        for f in [&self.ngram_fit, &self.model_fit].into_iter().flatten() {
            let (gi, hi) = decay_intervals(f);
            let _ = writeln!(
                s,
                "entropy decay ({}): γ = {} {gi}, H∞ = {} {hi} over n = {}..{}{}",
                f.source,
                sig(f.gamma, 3),
                sig(f.h_inf, 4),
                f.n_fitted[0],
                f.n_fitted[f.n_fitted.len() - 1],
                binned(f)
            );
        }
        if let Some(id) = &self.intrinsic {
            let _ = writeln!(
                s,
                "intrinsic dimension ({}, {} points in {} batches, D = {}): Levina–Bickel (k = {}) {} ± {} (sd {}), TwoNN (maximum likelihood) {} ± {} (sd {}), TwoNN (Facco regression) {} ± {}; ± is the 95% Student-t half-width over batches{}",
                id.metric.name(),
                id.n_points,
                id.batches.len(),
                id.dim,
                id.k,
                sig(id.mle.mean, 3),
                half(&id.mle),
                sig(id.mle.std, 2),
                sig(id.two_nn.mean, 3),
                half(&id.two_nn),
                sig(id.two_nn.std, 2),
                sig(id.two_nn_regression.mean, 3),
                half(&id.two_nn_regression),
                if id.clustered { "; CLUSTERED: these measure cluster tightness" } else { "" }
            );
        }
        if !self.correlation_predictions.is_empty() || !self.dimension_predictions.is_empty() {
            let _ = writeln!(s, "predictions:");
            for p in &self.correlation_predictions {
                let _ = writeln!(
                    s,
                    "  α_D = γ/(2β)      = {} ± {}   (β = {} ± {}, γ = {} ± {} from {})",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.beta, 3),
                    sig(p.beta_err, 2),
                    sig(p.gamma, 3),
                    sig(p.gamma_err, 2),
                    p.gamma_source
                );
            }
            for p in &self.dimension_predictions {
                let _ = writeln!(
                    s,
                    "  α_D = 2s/(2s+d)   = {} ± {}   α_N = 2s/d = {} ± {}   (d = {} ± {} from {}, s = {})",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.alpha_n, 3),
                    sig(p.alpha_n_err, 2),
                    sig(p.d, 3),
                    sig(p.d_err, 2),
                    p.estimator,
                    sig(p.smoothness, 3)
                );
            }
        }
        if !self.horizon.is_empty() {
            let hs: Vec<String> = self
                .horizon
                .iter()
                .map(|h| {
                    format!(
                        "P = {}: {}{}{}",
                        sci(h.tokens, 2),
                        sig(h.n_star, 3),
                        h.range.map_or(String::new(), |r| format!(
                            " [{}, {}]",
                            sig(r.0, 2),
                            sig(r.1, 2)
                        )),
                        if h.extrapolated {
                            h.max_lag.map_or(
                                " (extrapolated; range from β's interval only)".into(),
                                |l| {
                                    format!(
                                        " (extrapolated past lag {l}; range from β's interval only)"
                                    )
                                },
                            )
                        } else {
                            String::new()
                        }
                    )
                })
                .collect();
            let _ = writeln!(s, "context horizon n*(P) [95% block bootstrap]: {}", hs.join("; "));
        }
        if let Some(c) = &self.collapse {
            let _ = writeln!(
                s,
                "collapse (H∞ = {}, γ = {}, β = {}): spread {} after vs {} before (log10 units)",
                sig(c.h_inf, 4),
                sig(c.gamma, 3),
                sig(c.beta, 3),
                c.spread_collapsed.map_or("–".into(), |v| sig(v, 2)),
                c.spread_raw.map_or("–".into(), |v| sig(v, 2))
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        if !self.timings.is_empty() {
            let ts: Vec<String> =
                self.timings.iter().map(|t| format!("{} {:.1} s", t.step, t.seconds)).collect();
            let _ = writeln!(s, "time: {}", ts.join(", "));
        }
        s
    }

    /// The markdown report (`stats.md`).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {}\n", self.title);
        let o = &self.options;
        let _ = writeln!(s, "## Inputs\n");
        if let Some(t) = &o.tokens {
            let _ = writeln!(
                s,
                "* tokens: `{}` (V = {}, {:?}, {:?})",
                t.path.display(),
                t.vocab,
                t.width,
                t.format
            );
        }
        if let Some(p) = &o.points {
            let _ = writeln!(s, "* points: `{}`", p.path.display());
        }
        if let Some(p) = &o.position_losses {
            let _ = writeln!(s, "* per-position losses: `{}`", p.display());
        }
        if let Some(p) = &o.loss_table {
            let _ = writeln!(s, "* loss table (collapse): `{}`", p.display());
        }
        let _ = writeln!(s);

        if !self.correlation_predictions.is_empty() || !self.dimension_predictions.is_empty() {
            let _ = writeln!(s, "## Predicted exponents\n");
            let _ = writeln!(s, "| route | α_D | α_N | inputs |\n|---|---|---|---|");
            for p in &self.correlation_predictions {
                let _ = writeln!(
                    s,
                    "| γ/(2β) | {} ± {} | – | β = {} ± {} (correlations), γ = {} ± {} ({}) |",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.beta, 3),
                    sig(p.beta_err, 2),
                    sig(p.gamma, 3),
                    sig(p.gamma_err, 2),
                    p.gamma_source
                );
            }
            for p in &self.dimension_predictions {
                let _ = writeln!(
                    s,
                    "| 2s/(2s+d), 2s/d | {} ± {} | {} ± {} | d = {} ± {} ({}), s = {} |",
                    sig(p.alpha_d, 3),
                    sig(p.alpha_d_err, 2),
                    sig(p.alpha_n, 3),
                    sig(p.alpha_n_err, 2),
                    sig(p.d, 3),
                    sig(p.d_err, 2),
                    p.estimator,
                    sig(p.smoothness, 3)
                );
            }
            let _ = writeln!(
                s,
                "\n± are half-widths of 95% intervals; α_D = γ/(2β) propagates them as \
                 Δα = sqrt((Δγ/2β)² + (γΔβ/2β²)²); the dimension route uses the half-width of the 95% Student-t interval of d̂ over batches. \
                 s = {} is the target's smoothness (a parameter; s = 2 gives Sharma & Kaplan's α_N ≈ 4/d).\n",
                sig(o.smoothness, 3)
            );
        }

        if let (Some(st), Some(c)) = (&self.stream, &self.correlation) {
            let _ = writeln!(s, "## Correlation decay\n");
            let _ = writeln!(
                s,
                "P = {} tokens, V = {} ({} occur). Noise floor (independent tokens with the same unigram frequencies, lags {:?}): \
                 ‖C‖_op = {}, ‖C‖_F = {}; rule of thumb P^-1/2 = {}. A lag is resolved when ‖C(n)‖_op ≥ {} × floor = {}.\n",
                st.tokens,
                st.vocab,
                st.tokens_seen,
                c.floor.lags,
                sci(c.floor.op_norm, 3),
                sci(c.floor.frob_norm, 3),
                sci(c.floor.rule_of_thumb, 3),
                sig(o.correlation.floor_factor, 3),
                sci(c.floor.threshold, 3)
            );
            if let Some(f) = &self.correlation_fit {
                let _ = writeln!(
                    s,
                    "**β = {} {}** (95%: union of the lag bootstrap {} and the stream block bootstrap {} over {} blocks), \
                     A = {}, over lags {}..{} ({} lags; window {}..{}{}). Frobenius norm: β_F = {} {}.\n",
                    sig(f.beta, 3),
                    interval(f.beta_ci, 3),
                    interval(f.beta_ci_lags, 3),
                    interval(f.beta_ci_blocks, 3),
                    c.blocks,
                    sci(f.amplitude, 3),
                    f.lags_used[0],
                    f.lags_used[f.lags_used.len() - 1],
                    f.lags_used.len(),
                    f.window.0,
                    f.window.1,
                    f.first_unresolved.map_or(String::new(), |l| format!(
                        "; stopped at the first unresolved lag {l}"
                    )),
                    f.frob_fit.as_ref().map_or("–".into(), |ff| sig(ff.alpha, 3)),
                    f.frob_fit.as_ref().map_or("–".into(), |ff| interval(ff.alpha_ci, 3))
                );
                if let Some(b) = &f.broken {
                    let _ = writeln!(
                        s,
                        "Broken power law: β = {} below lag {}, β = {} above; ΔBIC = {} in its favour (warning above {}).\n",
                        sig(b.beta_low, 3),
                        sig(b.break_lag, 3),
                        sig(b.beta_high, 3),
                        sig(b.delta_bic(), 3),
                        sig(o.correlation.broken_bic_threshold, 3)
                    );
                }
                if !f.windows.is_empty() {
                    let _ = writeln!(
                        s,
                        "Window sensitivity (least squares in log-log):\n\n| lags | points | β |\n|---|---|---|"
                    );
                    for w in &f.windows {
                        let _ = writeln!(
                            s,
                            "| {}..{} | {} | {} |",
                            w.lo,
                            w.hi,
                            w.n_points,
                            sig(w.beta, 3)
                        );
                    }
                    let _ = writeln!(s);
                }
            }
            let _ = writeln!(s, "![correlation decay](correlation_decay.svg)\n");
            let _ = writeln!(
                s,
                "| lag | ‖C‖_op | ‖C‖_F | distinct pairs | resolved | Lanczos steps |\n|---|---|---|---|---|---|"
            );
            for l in &c.lags {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {}{} |",
                    l.lag,
                    sci(l.op_norm, 4),
                    sci(l.frob_norm, 4),
                    l.nnz,
                    if l.resolved { "yes" } else { "no" },
                    l.lanczos_iterations,
                    if l.lanczos_converged { "" } else { " (not converged)" }
                );
            }
            let _ = writeln!(s);
        }

        if !self.entropy.is_empty() || self.model_fit.is_some() || !self.position_losses.is_empty()
        {
            let _ = writeln!(s, "## Conditional entropy decay\n");
            for f in [&self.ngram_fit, &self.model_fit].into_iter().flatten() {
                let (gi, hi) = decay_intervals(f);
                let _ = writeln!(
                    s,
                    "* {}: **γ = {} {gi}**, H∞ = {} {hi} nats, A = {}, over n = {}..{} ({} lengths{})",
                    f.source,
                    sig(f.gamma, 3),
                    sig(f.h_inf, 4),
                    sig(f.amplitude, 3),
                    f.n_fitted[0],
                    f.n_fitted[f.n_fitted.len() - 1],
                    f.n_fitted.len(),
                    binned(f)
                );
            }
            let _ = writeln!(
                s,
                "\n![entropy decay](entropy_decay.svg) ![excess entropy](entropy_excess.svg)\n"
            );
            if !self.entropy.is_empty() {
                let _ = writeln!(
                    s,
                    "n-gram estimates (nats): H_n = Ĥ(n+1-grams) − Ĥ(n-grams). Fits use the {} estimator on reliable rows \
                     (distinct (n+1)-grams ≤ {} × samples).\n",
                    o.entropy.estimator.name(),
                    sig(o.entropy.max_distinct_ratio, 2)
                );
                let _ = writeln!(
                    s,
                    "| n | plug-in | Miller–Madow | Grassberger | samples | distinct contexts | distinct (n+1)-grams | singletons | reliable |\n|---|---|---|---|---|---|---|---|---|"
                );
                for c in &self.entropy {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        c.n,
                        sig(c.plugin, 5),
                        sig(c.miller_madow, 5),
                        sig(c.grassberger, 5),
                        c.samples,
                        c.contexts,
                        c.distinct,
                        sig(c.singleton_fraction, 2),
                        if c.reliable { "yes" } else { "no" }
                    );
                }
                let _ = writeln!(s);
            }
        }

        if let Some(id) = &self.intrinsic {
            let _ = writeln!(s, "## Intrinsic dimension\n");
            let _ = writeln!(
                s,
                "{} distinct points ({} exact repeats removed) in D = {} dimensions, {} batches, {} distance, k = {}. Levina–Bickel (MacKay–Ghahramani averaging of \
                 inverses): **{} ± {}** (sd over batches {}); TwoNN, maximum likelihood: **{} ± {}** (sd {}); TwoNN, Facco et al.'s regression (top 10% of μ dropped): **{} ± {}**. ± is the half-width of the 95% Student-t interval over batches, t(0.975, batches − 1) × the standard error (none for one batch).{}\n",
                id.n_points,
                id.duplicates,
                id.dim,
                id.batches.len(),
                id.metric.name(),
                id.k,
                sig(id.mle.mean, 4),
                half(&id.mle),
                sig(id.mle.std, 2),
                sig(id.two_nn.mean, 4),
                half(&id.two_nn),
                sig(id.two_nn.std, 2),
                sig(id.two_nn_regression.mean, 4),
                half(&id.two_nn_regression),
                if id.clustered {
                    "\n\n**The points form tight clusters** (the largest gap in each point's \
                     neighbour distances dominates its range): these estimates measure the \
                     clusters' tightness, not the dimension of a manifold, and no prediction is \
                     made from them."
                } else {
                    ""
                }
            );
            let _ = writeln!(s, "![intrinsic dimension](intrinsic_dimension.svg)\n");
            let _ = writeln!(
                s,
                "| batch | points | Levina–Bickel | TwoNN (ML) | TwoNN (regression) | median largest-gap share (clusters if high) |\n|---|---|---|---|---|---|"
            );
            for (i, b) in id.batches.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {} (null {}) |",
                    i + 1,
                    b.points,
                    sig(b.mle.value, 4),
                    sig(b.two_nn.value, 4),
                    sig(b.two_nn_regression.value, 4),
                    sig(b.clusters.median_gap_share, 3),
                    sig(b.clusters.null_median, 3)
                );
            }
            let _ = writeln!(s);
        }

        if !self.horizon.is_empty() {
            let _ = writeln!(
                s,
                "## Context horizon\n\nn*(P): the first lag where the measured (bias-corrected) ‖C(n)‖_op falls below P^-1/2, interpolated log-log between measured lags. A value past the largest measured lag is extrapolated with β and marked so; measure more lags (`--lags`) to replace it. Range: for a measured n*, the 95% stream block bootstrap (its coverage of the exact crossing is a test: `tests/coverage_correlation.rs`); for an extrapolated n*, n* at the ends of β's 95% interval, which leaves out the error of carrying the power law past the measured lags and so is not a calibrated interval.\n\n| P | n* | 95% range | how |\n|---|---|---|---|"
            );
            for h in &self.horizon {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    sci(h.tokens, 3),
                    sig(h.n_star, 3),
                    h.range.map_or("–".into(), |r| format!("{} – {}", sig(r.0, 3), sig(r.1, 3))),
                    if h.extrapolated {
                        h.max_lag
                            .map_or("extrapolated".into(), |l| format!("extrapolated past lag {l}"))
                    } else {
                        "measured".to_string()
                    }
                );
            }
            let _ = writeln!(s);
        }

        if let Some(c) = &self.collapse {
            let _ = writeln!(
                s,
                "## Collapse test\n\n(L_n − H∞)·n^γ against P/n^(2β) with H∞ = {}, γ = {}, β = {}. Spread between data sizes \
                 (RMS of log10 differences where curves overlap): {} collapsed vs {} for L_n − H∞ against n. {} points with L_n ≤ H∞ omitted.\n\n![collapse](collapse.svg)\n",
                sig(c.h_inf, 4),
                sig(c.gamma, 3),
                sig(c.beta, 3),
                c.spread_collapsed.map_or("–".into(), |v| sig(v, 3)),
                c.spread_raw.map_or("–".into(), |v| sig(v, 3)),
                c.dropped
            );
        }

        if !self.warnings.is_empty() {
            let _ = writeln!(s, "## Warnings\n");
            for w in &self.warnings {
                let _ = writeln!(s, "* {w}");
            }
            let _ = writeln!(s);
        }
        if !self.timings.is_empty() {
            let _ = writeln!(s, "## Timings\n\n| step | seconds |\n|---|---|");
            for t in &self.timings {
                let _ = writeln!(s, "| {} | {:.2} |", t.step, t.seconds);
            }
        }
        s
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), AnalysisError> {
    std::fs::write(path, text).map_err(|e| AnalysisError::io("cannot write", path, e))
}

/// Writes the plots, `stats.md` and `stats.json` of `report` into `out_dir` (created if
/// needed) and records the file names in `report.files`.
///
/// # Errors
///
/// [`AnalysisError::Io`], [`AnalysisError::Plot`] or [`AnalysisError::Json`] naming the file
/// that cannot be created or written.
pub fn write_stats(report: &mut StatsReport, out_dir: &Path) -> Result<(), AnalysisError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|e| AnalysisError::io("cannot create output directory", out_dir, e))?;
    let mut files = Vec::new();
    let mut plot = |name: &str, spec: PlotSpec| -> Result<(), AnalysisError> {
        plot_svg(&out_dir.join(name), &spec)?;
        files.push(name.to_string());
        Ok(())
    };
    if let Some(spec) = correlation_plot(report) {
        plot("correlation_decay.svg", spec)?;
    }
    if let Some((a, b)) = entropy_plots(report) {
        plot("entropy_decay.svg", a)?;
        plot("entropy_excess.svg", b)?;
    }
    if let Some(spec) = id_plot(report) {
        plot("intrinsic_dimension.svg", spec)?;
    }
    if let Some(spec) = collapse_plot(report) {
        plot("collapse.svg", spec)?;
    }
    files.push("stats.md".into());
    files.push("stats.json".into());
    report.files = files;
    write_file(&out_dir.join("stats.md"), &report.markdown())?;
    let json_path = out_dir.join("stats.json");
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| AnalysisError::Json { path: json_path.clone(), source: e })?;
    write_file(&json_path, &json)
}

/// `count` points of `f` log-spaced over `[lo, hi]`.
fn curve_points(lo: f64, hi: f64, count: usize, f: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    (0..count)
        .map(|i| {
            let x = (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / (count - 1) as f64).exp();
            (x, f(x))
        })
        .collect()
}

fn correlation_plot(r: &StatsReport) -> Option<PlotSpec> {
    let c = r.correlation.as_ref()?;
    let mut curves = vec![
        Curve {
            label: "‖C(n)‖_op".into(),
            points: c
                .lags
                .iter()
                .filter(|l| l.resolved)
                .map(|l| (l.lag as f64, l.op_norm))
                .collect(),
            style: CurveStyle::Markers,
        },
        Curve {
            label: "‖C(n)‖_op below threshold".into(),
            points: c
                .lags
                .iter()
                .filter(|l| !l.resolved)
                .map(|l| (l.lag as f64, l.op_norm))
                .collect(),
            style: CurveStyle::Markers,
        },
        Curve {
            label: "‖C(n)‖_F".into(),
            points: c.lags.iter().map(|l| (l.lag as f64, l.frob_norm)).collect(),
            style: CurveStyle::Markers,
        },
    ];
    if let Some(f) = &r.correlation_fit {
        let (lo, hi) = (f.lags_used[0] as f64, f.lags_used[f.lags_used.len() - 1] as f64);
        curves.push(Curve {
            label: format!("fit: β = {} {}", sig(f.beta, 3), interval(f.beta_ci, 2)),
            points: curve_points(lo, hi, 50, |x| f.op_fit.predict(x)),
            style: CurveStyle::Line,
        });
        if let Some(b) =
            f.broken.as_ref().filter(|b| b.delta_bic() > r.options.correlation.broken_bic_threshold)
        {
            curves.push(Curve {
                label: format!("broken law: β = {} / {}", sig(b.beta_low, 2), sig(b.beta_high, 2)),
                points: curve_points(lo, hi, 80, |x| b.predict(x)),
                style: CurveStyle::Dashed,
            });
        }
    }
    Some(PlotSpec {
        title: format!("{}: correlation decay", r.title),
        x_label: "lag n".into(),
        y_label: "norm of C(n)".into(),
        log_x: true,
        log_y: true,
        curves,
        hlines: vec![
            ("noise floor ‖C‖_op".into(), c.floor.op_norm),
            (
                format!("threshold ({}× floor)", sig(r.options.correlation.floor_factor, 2)),
                c.floor.threshold,
            ),
            ("P^-1/2".into(), c.floor.rule_of_thumb),
        ],
    })
}

fn entropy_plots(r: &StatsReport) -> Option<(PlotSpec, PlotSpec)> {
    if r.entropy.is_empty() && r.position_losses.is_empty() {
        return None;
    }
    let est = r.options.entropy.estimator;
    let mut curves = Vec::new();
    let mut excess = Vec::new();
    let mut hlines = Vec::new();
    if !r.entropy.is_empty() {
        let pts = |ok: bool| {
            r.entropy
                .iter()
                .filter(|c| c.n >= 1 && c.reliable == ok)
                .map(|c| (c.n as f64, c.value(est)))
                .collect()
        };
        curves.push(Curve {
            label: format!("n-gram {}", est.name()),
            points: pts(true),
            style: CurveStyle::Markers,
        });
        curves.push(Curve {
            label: "n-gram, undersampled".into(),
            points: pts(false),
            style: CurveStyle::Markers,
        });
    }
    if !r.position_losses.is_empty() {
        curves.push(Curve {
            label: "model per-position loss".into(),
            points: r
                .position_losses
                .iter()
                .enumerate()
                .skip(1)
                .map(|(n, l)| (n as f64, *l))
                .collect(),
            style: CurveStyle::Markers,
        });
    }
    for (f, data) in [
        (&r.ngram_fit, r.entropy.iter().map(|c| c.value(est)).collect::<Vec<_>>()),
        (&r.model_fit, r.position_losses.clone()),
    ] {
        let Some(f) = f else { continue };
        let (lo, hi) = (f.n_fitted[0] as f64, f.n_fitted[f.n_fitted.len() - 1] as f64);
        let label = format!("fit {}: γ = {}", f.source, sig(f.gamma, 3));
        curves.push(Curve {
            label: label.clone(),
            points: curve_points(lo, hi, 60, |x| f.fit.predict(x)),
            style: CurveStyle::Line,
        });
        hlines.push((format!("H∞ = {} ({})", sig(f.h_inf, 4), f.source), f.h_inf));
        excess.push(Curve {
            label: format!("{} − H∞", f.source),
            points: data.iter().enumerate().skip(1).map(|(n, h)| (n as f64, h - f.h_inf)).collect(),
            style: CurveStyle::Markers,
        });
        excess.push(Curve {
            label,
            points: curve_points(lo, hi, 60, |x| f.fit.predict(x) - f.h_inf),
            style: CurveStyle::Line,
        });
    }
    if excess.is_empty() {
        // No fit: show the excess over the smallest value seen, for orientation.
        let all: Vec<(f64, f64)> = curves.iter().flat_map(|c| c.points.clone()).collect();
        let m = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        for c in &curves {
            excess.push(Curve {
                label: format!("{} − min", c.label),
                points: c.points.iter().map(|p| (p.0, p.1 - m)).collect(),
                style: c.style,
            });
        }
    }
    let a = PlotSpec {
        title: format!("{}: conditional entropy", r.title),
        x_label: "context length n".into(),
        y_label: "H_n (nats)".into(),
        log_x: true,
        log_y: false,
        curves,
        hlines,
    };
    let b = PlotSpec {
        title: format!("{}: excess entropy", r.title),
        x_label: "context length n".into(),
        y_label: "H_n − H∞ (nats)".into(),
        log_x: true,
        log_y: true,
        curves: excess,
        hlines: Vec::new(),
    };
    Some((a, b))
}

fn id_plot(r: &StatsReport) -> Option<PlotSpec> {
    let id = r.intrinsic.as_ref()?;
    let pts = |f: &dyn Fn(&crate::stats::intrinsic::BatchEstimate) -> f64| -> Vec<(f64, f64)> {
        id.batches.iter().enumerate().map(|(i, b)| ((i + 1) as f64, f(b))).collect()
    };
    Some(PlotSpec {
        title: format!("{}: intrinsic dimension per batch", r.title),
        x_label: "batch".into(),
        y_label: format!("estimated dimension ({})", id.metric.name()),
        log_x: false,
        log_y: false,
        curves: vec![
            Curve {
                label: format!("Levina–Bickel k = {}", id.k),
                points: pts(&|b| b.mle.value),
                style: CurveStyle::Markers,
            },
            Curve {
                label: "TwoNN".into(),
                points: pts(&|b| b.two_nn.value),
                style: CurveStyle::Markers,
            },
        ],
        hlines: vec![
            (format!("mean Levina–Bickel = {}", sig(id.mle.mean, 3)), id.mle.mean),
            (format!("mean TwoNN = {}", sig(id.two_nn.mean, 3)), id.two_nn.mean),
        ],
    })
}

fn collapse_plot(r: &StatsReport) -> Option<PlotSpec> {
    let c = r.collapse.as_ref()?;
    Some(PlotSpec {
        title: format!("{}: collapse (γ = {}, β = {})", r.title, sig(c.gamma, 3), sig(c.beta, 3)),
        x_label: "P / n^(2β)".into(),
        y_label: "(L_n − H∞) · n^γ".into(),
        log_x: true,
        log_y: true,
        curves: c
            .series
            .iter()
            .map(|s| Curve {
                label: format!("P = {}", sci(s.tokens, 2)),
                points: s.points.clone(),
                style: CurveStyle::Markers,
            })
            .collect(),
        hlines: Vec::new(),
    })
}

/// The printed 95% intervals of an entropy-decay fit's `γ` and `H∞`; none when `H∞` sits at a
/// bound, where `γ` is set by the bound and the bootstrap does not describe its error.
fn decay_intervals(f: &EntropyFit) -> (String, String) {
    if f.at_bound {
        let none = "(no interval: H∞ at its bound)".to_string();
        (none.clone(), none)
    } else {
        (interval(f.gamma_ci, 3), interval(f.h_inf_ci, 4))
    }
}

/// `", averaged in M √2-spaced bins"` when the fit binned its lengths.
fn binned(f: &EntropyFit) -> String {
    if f.points < f.n_fitted.len() {
        format!(", averaged in {} √2-spaced bins", f.points)
    } else {
        String::new()
    }
}
