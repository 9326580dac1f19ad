//! Exponent predictions from the data statistics, the context horizon, and the collapse test.
//!
//! * Correlation and entropy route (Cagnetta et al.): `α_D = γ / (2β)` with
//!   `Δα = sqrt((Δγ / 2β)² + (γ Δβ / 2β²)²)`, where `Δ` is the half-width of a 95% interval
//!   (so `Δα` is a half-width of the same nominal level).
//! * Intrinsic-dimension route (Havrilla & Liao): `α_D = 2s / (2s + d)` and `α_N = 2s / d` with
//!   the target's smoothness `s` a parameter ([`DEFAULT_SMOOTHNESS`] = 1, a Lipschitz target,
//!   the upper end of their Hölder range; `s = 2` reproduces Sharma & Kaplan's `α_N ≈ 4/d`).
//!   `Δd` is the half-width of the 95% Student-t interval over batches (`Spread::half_width`).
//! * Context horizon `n*(P)`: the lag where `‖C(n)‖_op` falls to the sampling noise
//!   `P^(−1/2)`. [`context_horizon_measured`] (and [`horizon_from_norms`] on any curve) reads
//!   it off the *measured* norms: the first measured lag whose norm is below `P^(−1/2)`,
//!   interpolated linearly in `(ln n, ln ‖C‖)` with the lag before it. Only when the curve never
//!   falls that low is the value extrapolated past the largest measured lag, as `A n^(−β)`
//!   through the last measured point with the fitted `β`, and then flagged
//!   ([`Horizon::extrapolated`]). A power law fitted on lags 1–200 and carried to lags near
//!   `10^4` can be off by a factor of ten where the decay steepens (the copy stream at
//!   `P = 2^20`: exact crossing 887; the law fitted to the *exact* norms on lags 1–200 and
//!   extrapolated from its pivot gives 7,084), hence measured first.
//!   [`context_horizon`] is that pure extrapolation from the fit's pivot,
//!   `n*(P) = n_c (y_c √P)^(1/β)`, i.e. `n* ∝ P^(1/(2β))`, every value flagged.
//! * Collapse: `(L_n − H∞)·n^γ` against `P / n^(2β)` for loss curves of several data sizes
//!   `P` falls on one curve when the theory holds.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

use crate::error::AnalysisError;
use crate::stats::correlation::{CorrelationFit, CorrelationStats, stratified_weights};
use crate::stats::quantile_sorted;

/// Default smoothness `s` of the intrinsic-dimension route.
pub const DEFAULT_SMOOTHNESS: f64 = 1.0;

/// `α_D = γ/(2β)` from the correlation and entropy exponents.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CorrelationPrediction {
    /// Where `γ` came from.
    pub gamma_source: String,
    /// Correlation exponent `β`.
    pub beta: f64,
    /// Half-width of `β`'s 95% interval (0 when unknown).
    pub beta_err: f64,
    /// Entropy exponent `γ`.
    pub gamma: f64,
    /// Half-width of `γ`'s 95% interval (0 when unknown).
    pub gamma_err: f64,
    /// Predicted data exponent `α_D`.
    pub alpha_d: f64,
    /// Propagated half-width of `α_D`.
    pub alpha_d_err: f64,
}

/// `α_D = γ/(2β)` with the propagated error (see the module documentation).
///
/// # Errors
///
/// Returns an error unless `β > 0`, `γ` finite and both errors finite and `≥ 0`.
pub fn predict_from_correlations(
    beta: f64,
    beta_err: f64,
    gamma: f64,
    gamma_err: f64,
    gamma_source: &str,
) -> Result<CorrelationPrediction, AnalysisError> {
    const CTX: &str = "predict_from_correlations";
    if !(beta.is_finite() && beta > 0.0) {
        return Err(AnalysisError::invalid(CTX, format!("beta = {beta} must be finite and > 0")));
    }
    if !gamma.is_finite() {
        return Err(AnalysisError::invalid(CTX, format!("gamma = {gamma} must be finite")));
    }
    for (name, v) in [("beta_err", beta_err), ("gamma_err", gamma_err)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(AnalysisError::invalid(
                CTX,
                format!("{name} = {v} must be finite and >= 0"),
            ));
        }
    }
    let alpha_d = gamma / (2.0 * beta);
    let alpha_d_err = ((gamma_err / (2.0 * beta)).powi(2)
        + (gamma * beta_err / (2.0 * beta * beta)).powi(2))
    .sqrt();
    Ok(CorrelationPrediction {
        gamma_source: gamma_source.to_string(),
        beta,
        beta_err,
        gamma,
        gamma_err,
        alpha_d,
        alpha_d_err,
    })
}

/// Exponents from an intrinsic dimension `d` and smoothness `s`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DimensionPrediction {
    /// Which estimate of `d` (e.g. `levina_bickel k=20 cosine`).
    pub estimator: String,
    /// Intrinsic dimension.
    pub d: f64,
    /// Its half-width.
    pub d_err: f64,
    /// Smoothness `s`.
    pub smoothness: f64,
    /// `2s/(2s + d)`.
    pub alpha_d: f64,
    /// Propagated half-width.
    pub alpha_d_err: f64,
    /// `2s/d`.
    pub alpha_n: f64,
    /// Propagated half-width.
    pub alpha_n_err: f64,
}

/// `α_D = 2s/(2s+d)`, `α_N = 2s/d` with first-order error propagation from `d_err`.
///
/// # Errors
///
/// Returns an error unless `d > 0`, `s > 0` and `d_err ≥ 0`, all finite.
pub fn predict_from_dimension(
    d: f64,
    d_err: f64,
    smoothness: f64,
    estimator: &str,
) -> Result<DimensionPrediction, AnalysisError> {
    const CTX: &str = "predict_from_dimension";
    if !(d.is_finite() && d > 0.0) {
        return Err(AnalysisError::invalid(CTX, format!("d = {d} must be finite and > 0")));
    }
    if !(smoothness.is_finite() && smoothness > 0.0) {
        return Err(AnalysisError::invalid(
            CTX,
            format!("smoothness = {smoothness} must be finite and > 0"),
        ));
    }
    if !(d_err.is_finite() && d_err >= 0.0) {
        return Err(AnalysisError::invalid(
            CTX,
            format!("d_err = {d_err} must be finite and >= 0"),
        ));
    }
    let s2 = 2.0 * smoothness;
    Ok(DimensionPrediction {
        estimator: estimator.to_string(),
        d,
        d_err,
        smoothness,
        alpha_d: s2 / (s2 + d),
        alpha_d_err: s2 * d_err / (s2 + d).powi(2),
        alpha_n: s2 / d,
        alpha_n_err: s2 * d_err / (d * d),
    })
}

/// The context horizon at one data size.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Horizon {
    /// Data size `P` in tokens.
    pub tokens: f64,
    /// `n*(P)`.
    pub n_star: f64,
    /// A 95% range of `n*`, when known: from the stream block bootstrap of the measured norms
    /// for a measured crossing, or from `n*` at the ends of `β`'s interval for an extrapolated
    /// one.
    pub range: Option<(f64, f64)>,
    /// Whether `n*` lies outside the measured lags and was extrapolated with a power law
    /// (always true for [`context_horizon`]).
    #[serde(default)]
    pub extrapolated: bool,
    /// The largest lag of the measured curve the value was read from (`None` for
    /// [`context_horizon`], which uses the fit alone).
    #[serde(default)]
    pub max_lag: Option<usize>,
}

/// `n*(P)` for each `P` in `tokens` from a correlation fit's pivot `(n_c, y_c)` and `β`: the
/// pure power-law extrapolation (see the module documentation), every value flagged
/// [`extrapolated`](Horizon::extrapolated). Non-positive or non-finite sizes are skipped.
/// Prefer [`context_horizon_measured`].
pub fn context_horizon(
    pivot_lag: f64,
    pivot_value: f64,
    beta: f64,
    beta_ci: Option<(f64, f64)>,
    tokens: &[f64],
) -> Vec<Horizon> {
    let n_star = |p: f64, b: f64| pivot_lag * (pivot_value * p.sqrt()).powf(1.0 / b);
    tokens
        .iter()
        .filter(|p| p.is_finite() && **p > 0.0)
        .map(|&p| {
            let range = beta_ci.filter(|(lo, hi)| *lo > 0.0 && *hi > 0.0).map(|(lo, hi)| {
                let (a, b) = (n_star(p, lo), n_star(p, hi));
                (a.min(b), a.max(b))
            });
            Horizon { tokens: p, n_star: n_star(p, beta), range, extrapolated: true, max_lag: None }
        })
        .collect()
}

/// Where a curve `(lags, norms)` (increasing lags, positive norms) first falls below `level`:
/// `Ok(n)` interpolated log-log between the measured lags around the crossing, or
/// `Err(k)` when it does not (`k = 0`: already below at the first lag; `k = len`: never).
fn crossing(lags: &[f64], norms: &[f64], level: f64) -> Result<f64, usize> {
    match norms.iter().position(|&y| y < level) {
        Some(0) => Err(0),
        None => Err(norms.len()),
        Some(k) => {
            let (x0, x1) = (lags[k - 1].ln(), lags[k].ln());
            let (y0, y1) = (norms[k - 1].ln(), norms[k].ln());
            Ok((x0 + (level.ln() - y0) * (x1 - x0) / (y1 - y0)).exp())
        }
    }
}

/// `n*(P)` read off a measured curve `‖C(n)‖` at the increasing `lags` (see the module
/// documentation): the first lag whose norm is below `P^(−1/2)`, interpolated log-log with the
/// lag before it. When the curve stays above `P^(−1/2)` (or is below it from its first lag),
/// `n*` is extrapolated from the last (first) measured point as `‖C(n)‖ ∝ n^(−β)` with
/// `beta`, its range from `beta_ci`, and flagged. `range` is `None` for measured crossings
/// (see [`context_horizon_measured`] for a bootstrap range).
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] naming the field for: `lags` and `norms` of different or zero
/// length, a lag that is not finite, `≥ 1` and above the one before, a norm that is not finite
/// and `> 0`, `beta` not finite and `> 0`, or a size in `tokens` that is not finite and `> 0`.
///
/// ```
/// use scalinglab_analysis::stats::predict::horizon_from_norms;
/// // ‖C(n)‖ = 0.1/n: falls to P^(-1/2) = 1e-3 at n = 100 (P = 1e6).
/// let lags = [1.0, 10.0, 50.0, 200.0];
/// let norms: Vec<f64> = lags.iter().map(|n| 0.1 / n).collect();
/// let h = horizon_from_norms(&lags, &norms, 1.0, None, &[1e6, 1e8]).unwrap();
/// assert!((h[0].n_star - 100.0).abs() < 1e-9 && !h[0].extrapolated);
/// assert!((h[1].n_star - 1000.0).abs() < 1e-6 && h[1].extrapolated); // beyond lag 200
/// ```
pub fn horizon_from_norms(
    lags: &[f64],
    norms: &[f64],
    beta: f64,
    beta_ci: Option<(f64, f64)>,
    tokens: &[f64],
) -> Result<Vec<Horizon>, AnalysisError> {
    const CTX: &str = "horizon_from_norms";
    if lags.is_empty() || lags.len() != norms.len() {
        return Err(AnalysisError::invalid(
            CTX,
            format!(
                "lags ({}) and norms ({}) must be non-empty and of equal length",
                lags.len(),
                norms.len()
            ),
        ));
    }
    for (i, &n) in lags.iter().enumerate() {
        if !(n.is_finite() && n >= 1.0) || (i > 0 && n <= lags[i - 1]) {
            return Err(AnalysisError::invalid(
                CTX,
                format!("lags[{i}] = {n} must be finite, >= 1 and above the lag before it"),
            ));
        }
    }
    if let Some(i) = norms.iter().position(|y| !(y.is_finite() && *y > 0.0)) {
        return Err(AnalysisError::invalid(
            CTX,
            format!("norms[{i}] = {} must be finite and > 0", norms[i]),
        ));
    }
    if !(beta.is_finite() && beta > 0.0) {
        return Err(AnalysisError::invalid(CTX, format!("beta = {beta} must be finite and > 0")));
    }
    if let Some(i) = tokens.iter().position(|p| !(p.is_finite() && *p > 0.0)) {
        return Err(AnalysisError::invalid(
            CTX,
            format!("tokens[{i}] = {} (a data size) must be finite and > 0", tokens[i]),
        ));
    }
    let max_lag = lags[lags.len() - 1];
    let ci = beta_ci.filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && *lo > 0.0 && *hi > 0.0);
    Ok(tokens
        .iter()
        .map(|&p| {
            let level = p.powf(-0.5);
            let (n_star, range, extrapolated) = match crossing(lags, norms, level) {
                Ok(n) => (n, None, false),
                Err(k) => {
                    // Through the last point (never below) or the first (below from the start).
                    let k = k.min(lags.len() - 1);
                    let at = |b: f64| lags[k] * (norms[k] / level).powf(1.0 / b);
                    let range = ci.map(|(lo, hi)| {
                        let (a, b) = (at(lo), at(hi));
                        (a.min(b), a.max(b))
                    });
                    (at(beta), range, true)
                }
            };
            Horizon {
                tokens: p,
                n_star,
                range,
                extrapolated,
                max_lag: Some(max_lag.round() as usize),
            }
        })
        .collect())
}

/// `n*(P)` for each `P` in `tokens` from measured correlations (see the module documentation):
/// the curve is the fitted estimate [`LagStat::fitted_op_norm`] (bias-corrected, so not lifted
/// by the noise) at every measured lag from the first resolved one up to the first unresolved
/// one, inside or outside the fit window; [`horizon_from_norms`] reads the crossing off it,
/// extrapolating with the fit's `β` only past its largest lag. A measured crossing gets a 95%
/// percentile range from `bootstrap` stream block resamples (stratified by half, as
/// `beta_ci_blocks`; seeded by `seed`) when the stream was cut into blocks.
///
/// [`LagStat::fitted_op_norm`]: crate::stats::LagStat::fitted_op_norm
///
/// # Errors
///
/// As [`horizon_from_norms`]; [`AnalysisError::InvalidInput`] when no measured lag is resolved.
pub fn context_horizon_measured(
    stats: &CorrelationStats,
    fit: &CorrelationFit,
    tokens: &[f64],
    bootstrap: usize,
    seed: u64,
) -> Result<Vec<Horizon>, AnalysisError> {
    let curve: Vec<&crate::stats::LagStat> = stats
        .lags
        .iter()
        .skip_while(|s| !s.resolved)
        .take_while(|s| s.resolved && s.fitted_op_norm().is_finite() && s.fitted_op_norm() > 0.0)
        .collect();
    if curve.is_empty() {
        return Err(AnalysisError::invalid(
            "context_horizon_measured",
            format!(
                "no measured lag is resolved (threshold {:.3e}): the horizon needs at least one",
                stats.floor.threshold
            ),
        ));
    }
    let lags: Vec<f64> = curve.iter().map(|s| s.lag as f64).collect();
    let norms: Vec<f64> = curve.iter().map(|s| s.fitted_op_norm()).collect();
    let mut out = horizon_from_norms(&lags, &norms, fit.beta, fit.beta_ci, tokens)?;
    let nb = curve[0].blocks.blocks();
    if bootstrap == 0 || nb < 4 || !curve.iter().all(|s| s.is_cross_fitted()) {
        return Ok(out);
    }
    // Bootstrap ranges of the measured crossings: every resample's curve, same blocks.
    let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x4012_1204);
    let mut weights = vec![0.0; nb];
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(bootstrap); out.len()];
    for _ in 0..bootstrap {
        stratified_weights(&mut rng, &mut weights);
        let ys: Vec<f64> = curve.iter().map(|s| s.blocks.resampled(&weights)).collect();
        if ys.iter().any(|y| !(y.is_finite() && *y > 0.0)) {
            continue;
        }
        for (h, d) in out.iter().zip(draws.iter_mut()) {
            if h.extrapolated {
                continue;
            }
            let level = h.tokens.powf(-0.5);
            let n = match crossing(&lags, &ys, level) {
                Ok(n) => n,
                Err(k) => {
                    let k = k.min(lags.len() - 1);
                    lags[k] * (ys[k] / level).powf(1.0 / fit.beta)
                }
            };
            d.push(n);
        }
    }
    // The resamples draw `nb / 2` blocks per half, so their spread is an estimate with about
    // `nb / 2 − 1` degrees of freedom: the percentile range is widened about `n*` in `ln n` by
    // `t_{0.975, nb/2 − 1} / z_{0.975}` (1.15 for 20 blocks), as a Student-t interval would be.
    // Without it the range covered the exact crossing in 83–88% of 100 copy streams (nominal
    // 95%); with it 93% (`tests/coverage_correlation.rs`).
    let pairs = (nb / 2) as f64;
    let widen = crate::stats::intrinsic::student_t_quantile(0.975, pairs - 1.0)
        .map_or(1.0, |t| t / 1.959_963_984_540_054);
    for (h, mut d) in out.iter_mut().zip(draws) {
        if !h.extrapolated && d.len() >= 10 {
            d.sort_by(f64::total_cmp);
            let (lo, hi) = (quantile_sorted(&d, 0.025), quantile_sorted(&d, 0.975));
            let stretch = |q: f64| h.n_star * (q / h.n_star).powf(widen);
            h.range = Some((stretch(lo), stretch(hi)));
        }
    }
    Ok(out)
}

/// Per-position losses of a model trained on `tokens` tokens: `losses[n]` is the mean loss on
/// tokens that see `n` previous tokens.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossCurve {
    /// Training-set size `P`.
    pub tokens: f64,
    /// `L_n`, indexed by context length `n`.
    pub losses: Vec<f64>,
}

/// One collapsed curve.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CollapseSeries {
    /// Data size `P`.
    pub tokens: f64,
    /// `(P / n^(2β), (L_n − H∞)·n^γ)` for `n ≥ 1` with `L_n > H∞`.
    pub points: Vec<(f64, f64)>,
}

/// The collapse test.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Collapse {
    /// `H∞` used.
    pub h_inf: f64,
    /// `γ` used.
    pub gamma: f64,
    /// `β` used.
    pub beta: f64,
    /// One series per data size, in input order.
    pub series: Vec<CollapseSeries>,
    /// Points dropped because `L_n ≤ H∞`.
    pub dropped: usize,
    /// Spread of the collapsed curves: the RMS difference in `log10 y` between data sizes
    /// where their `x` ranges overlap (log-log interpolation); `None` without overlap.
    pub spread_collapsed: Option<f64>,
    /// The same spread for the raw curves `L_n − H∞` against `n`, for comparison.
    pub spread_raw: Option<f64>,
}

/// The collapse of `curves` with `H∞`, `γ` and `β` (see the module documentation).
///
/// # Errors
///
/// Returns an error on fewer than two curves, non-positive sizes, non-finite losses or parameters.
pub fn collapse(
    curves: &[LossCurve],
    h_inf: f64,
    gamma: f64,
    beta: f64,
) -> Result<Collapse, AnalysisError> {
    const CTX: &str = "collapse";
    if curves.len() < 2 {
        return Err(AnalysisError::invalid(
            CTX,
            format!(
                "{} loss curves given; the collapse needs at least two data sizes",
                curves.len()
            ),
        ));
    }
    for (name, v) in [("h_inf", h_inf), ("gamma", gamma), ("beta", beta)] {
        if !v.is_finite() {
            return Err(AnalysisError::invalid(CTX, format!("{name} = {v} must be finite")));
        }
    }
    if beta <= 0.0 {
        return Err(AnalysisError::invalid(CTX, format!("beta = {beta} must be > 0")));
    }
    let mut series = Vec::new();
    let mut raw = Vec::new();
    let mut dropped = 0;
    for (ci, c) in curves.iter().enumerate() {
        if !(c.tokens.is_finite() && c.tokens > 0.0) {
            return Err(AnalysisError::invalid(
                CTX,
                format!("curve {ci}: data size {} must be finite and > 0", c.tokens),
            ));
        }
        // L_0 (no context) is not used; a sweep's per-position losses start at n = 1.
        if let Some(n) = c.losses.iter().skip(1).position(|v| !v.is_finite()).map(|i| i + 1) {
            return Err(AnalysisError::invalid(
                CTX,
                format!("curve {ci} (P = {}): L_{n} = {} is not finite", c.tokens, c.losses[n]),
            ));
        }
        let mut pts = Vec::new();
        let mut rpts = Vec::new();
        for (n, &l) in c.losses.iter().enumerate().skip(1) {
            let ex = l - h_inf;
            if ex <= 0.0 {
                dropped += 1;
                continue;
            }
            let nf = n as f64;
            pts.push((c.tokens / nf.powf(2.0 * beta), ex * nf.powf(gamma)));
            rpts.push((nf, ex));
        }
        series.push(CollapseSeries { tokens: c.tokens, points: pts });
        raw.push(rpts);
    }
    let collapsed: Vec<Vec<(f64, f64)>> = series.iter().map(|s| s.points.clone()).collect();
    Ok(Collapse {
        h_inf,
        gamma,
        beta,
        spread_collapsed: overlap_spread(&collapsed),
        spread_raw: overlap_spread(&raw),
        series,
        dropped,
    })
}

/// Root-mean-square difference in `log10 y` between series where their `x` ranges overlap:
/// each point of one series is compared with the log-log linear interpolation of every other
/// series at the same `x`. `None` when no two series overlap.
fn overlap_spread(series: &[Vec<(f64, f64)>]) -> Option<f64> {
    let logs: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            let mut v: Vec<(f64, f64)> = s
                .iter()
                .filter(|p| p.0 > 0.0 && p.1 > 0.0)
                .map(|p| (p.0.log10(), p.1.log10()))
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            v
        })
        .collect();
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, a) in logs.iter().enumerate() {
        for (j, b) in logs.iter().enumerate() {
            if i == j || b.len() < 2 {
                continue;
            }
            for &(x, y) in a {
                if x < b[0].0 || x > b[b.len() - 1].0 {
                    continue;
                }
                let k = b.partition_point(|p| p.0 < x).clamp(1, b.len() - 1);
                let (p0, p1) = (b[k - 1], b[k]);
                let yb = if p1.0 > p0.0 {
                    p0.1 + (p1.1 - p0.1) * (x - p0.0) / (p1.0 - p0.0)
                } else {
                    p0.1
                };
                sum += (y - yb).powi(2);
                count += 1;
            }
        }
    }
    if count == 0 { None } else { Some((sum / count as f64).sqrt()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_numbers_from_the_paper() {
        // TinyStories: β = 0.88 ± 0.06, γ = 0.325 ± 0.003 → α_D = 0.185 ± 0.013.
        let p = predict_from_correlations(0.88, 0.06, 0.325, 0.003, "paper").unwrap();
        assert!((p.alpha_d - 0.185).abs() < 0.001, "{p:?}");
        assert!((p.alpha_d_err - 0.013).abs() < 0.001, "{p:?}");
        // WikiText-103: β = 0.94 ± 0.16, γ = 0.265 ± 0.016 → 0.141 ± 0.025.
        let p = predict_from_correlations(0.94, 0.16, 0.265, 0.016, "paper").unwrap();
        assert!(
            (p.alpha_d - 0.141).abs() < 0.001 && (p.alpha_d_err - 0.025).abs() < 0.001,
            "{p:?}"
        );
        assert!(predict_from_correlations(0.0, 0.1, 0.3, 0.0, "x").is_err());
        assert!(
            predict_from_correlations(0.5, -0.1, 0.3, 0.0, "x")
                .unwrap_err()
                .to_string()
                .contains("beta_err")
        );
    }

    #[test]
    fn dimension_route() {
        let p = predict_from_dimension(8.0, 0.5, 1.0, "mle").unwrap();
        assert!((p.alpha_d - 0.2).abs() < 1e-12 && (p.alpha_n - 0.25).abs() < 1e-12);
        // Finite-difference check of the propagated errors.
        let h = 1e-6;
        let dd = (predict_from_dimension(8.0 + h, 0.0, 1.0, "").unwrap().alpha_d - p.alpha_d) / h;
        assert!((p.alpha_d_err - dd.abs() * 0.5).abs() < 1e-6);
        // Sharma & Kaplan: s = 2 gives α_N = 4/d.
        assert!((predict_from_dimension(10.0, 0.0, 2.0, "").unwrap().alpha_n - 0.4).abs() < 1e-12);
        assert!(predict_from_dimension(-1.0, 0.0, 1.0, "").is_err());
        assert!(
            predict_from_dimension(1.0, 0.0, 0.0, "")
                .unwrap_err()
                .to_string()
                .contains("smoothness")
        );
    }

    #[test]
    fn horizon_scales_as_p_to_one_over_two_beta() {
        let h = context_horizon(10.0, 1e-3, 0.5, Some((0.4, 0.6)), &[1e6, 1e8, -1.0]);
        assert_eq!(h.len(), 2);
        // n* = 10 (1e-3 · 1e3)^(2) = 10 at P = 1e6; ×100^(1/(2·0.5)) = ×100 at P = 1e8.
        assert!(
            (h[0].n_star - 10.0).abs() < 1e-9 && (h[1].n_star / h[0].n_star - 100.0).abs() < 1e-6
        );
        let (lo, hi) = h[1].range.unwrap();
        assert!(lo < h[1].n_star && h[1].n_star < hi);
    }

    #[test]
    fn horizon_read_off_a_curve_and_flagged_outside_it() {
        // ‖C(n)‖ = 0.04 n^(-0.5) on lags 4..=400: P^(-1/2) = 0.04 n^(-0.5) at n = 1.6e-3 P.
        let lags: Vec<f64> = (4..=400).map(f64::from).collect();
        let norms: Vec<f64> = lags.iter().map(|n| 0.04 / n.sqrt()).collect();
        let h = horizon_from_norms(&lags, &norms, 0.5, Some((0.4, 0.6)), &[1e5, 1e3, 1e6]).unwrap();
        // Inside the curve: exact (a power law is linear on log-log axes), not flagged.
        assert!((h[0].n_star - 160.0).abs() < 1e-9 && !h[0].extrapolated && h[0].range.is_none());
        // Below the curve from its first lag (n* = 1.6 < 4) and beyond it (n* = 1600 > 400):
        // extrapolated with β from the first and last points, flagged, with β's range.
        assert!((h[1].n_star - 1.6).abs() < 1e-9 && h[1].extrapolated, "{:?}", h[1]);
        assert!((h[2].n_star - 1600.0).abs() < 1e-6 && h[2].extrapolated, "{:?}", h[2]);
        let (lo, hi) = h[2].range.unwrap();
        assert!(lo < 1600.0 && 1600.0 < hi && h[2].max_lag == Some(400));
        assert!(horizon_from_norms(&lags, &norms, 0.0, None, &[1e5]).is_err());
        let e = horizon_from_norms(&[1.0], &[0.0], 0.5, None, &[1e5]).unwrap_err().to_string();
        assert!(e.contains("norms[0] = 0"), "{e}");
    }

    #[test]
    fn collapse_of_an_exact_scaling_form_is_perfect() {
        // L_n = H∞ + n^(−γ) F(P / n^(2β)) with F(z) = 1 + 5 z^(−0.3).
        let (h_inf, gamma, beta) = (1.0, 0.3, 0.8);
        let curves: Vec<LossCurve> = [1e5, 1e6, 1e7]
            .iter()
            .map(|&p| LossCurve {
                tokens: p,
                losses: (0..200)
                    .map(|n| {
                        let nf = (n as f64).max(1.0);
                        h_inf + nf.powf(-gamma) * (1.0 + 5.0 * (p / nf.powf(2.0 * beta)).powf(-0.3))
                    })
                    .collect(),
            })
            .collect();
        let c = collapse(&curves, h_inf, gamma, beta).unwrap();
        assert_eq!(c.series.len(), 3);
        assert!(c.spread_collapsed.unwrap() < 1e-3, "{:?}", c.spread_collapsed);
        assert!(c.spread_raw.unwrap() > 0.01);
        // The wrong β breaks the collapse.
        let bad = collapse(&curves, h_inf, gamma, 0.4).unwrap();
        assert!(bad.spread_collapsed.unwrap() > 0.01);
        assert!(collapse(&curves[..1], h_inf, gamma, beta).is_err());
    }
}
