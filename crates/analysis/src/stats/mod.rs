//! Statistics that predict scaling exponents before training (SCIENCE.md §2 and §3).
//!
//! * [`correlation`] — lag covariances `C(n)` of a token stream, `‖C(n)‖_op` (Lanczos on a
//!   sparse-plus-rank-one operator) and `‖C(n)‖_F`, the sampling-noise floor, and the fit
//!   `‖C(n)‖_op ~ n^(−β)` with lag and stream-block bootstrap intervals and a broken-power-law
//!   check ([`correlation_decay`], [`fit_correlation_decay`]).
//! * [`entropy`] — conditional entropies `H_n` from n-gram counts (plug-in, Miller–Madow,
//!   Grassberger) or from a model's per-position losses, and the fit `H_n − H∞ ~ n^(−γ)` with
//!   `H∞` free ([`ngram_entropies`], [`fit_entropy_decay`]).
//! * [`intrinsic`] — exact parallel k-nearest neighbours, Levina–Bickel (MacKay–Ghahramani
//!   averaging) and TwoNN, batched ([`intrinsic_dimension`]).
//! * [`predict`] — `α_D = γ/(2β)`, `α_D = 2s/(2s+d)`, `α_N = 2s/d` with errors, the context
//!   horizon `n*(P)`, and the collapse test.
//! * [`io`] — token shards, point files, per-position losses, loss tables.
//! * [`synth`] — synthetic data with known answers (power-law correlated tokens, spheres).
//! * [`command`] — [`stats_command`], the entry point of `scalinglab stats`: all of the above
//!   on a token shard and/or a point file, written as `stats.json`, `stats.md` and SVG plots.
//!
//! Conventions: entropies and losses in nats; exponents are positive for decaying laws;
//! intervals are 95% unless a field says otherwise.

pub mod command;
pub mod correlation;
pub mod entropy;
pub mod intrinsic;
pub mod io;
mod lanczos;
pub mod output;
pub mod predict;
mod special;
pub mod synth;

pub use command::{PointSource, StatsCommandOptions, StatsReport, TokenSource, stats_command};
pub use correlation::{
    CorrelationFit, CorrelationOptions, CorrelationStats, LagCovariance, LagStat, NoiseFloor,
    correlation_decay, fit_correlation_decay, log_spaced_lags, parse_lags, parse_window,
};
pub use entropy::{
    ConditionalEntropy, EntropyEstimator, EntropyFit, EntropyOptions, fit_entropy_decay,
    ngram_entropies,
};
pub use intrinsic::{
    IdEstimate, IdOptions, Metric, Neighbours, intrinsic_dimension, knn, levina_bickel, two_nn,
};
pub use predict::{
    Collapse, CorrelationPrediction, DEFAULT_SMOOTHNESS, DimensionPrediction, Horizon, LossCurve,
    collapse, context_horizon, predict_from_correlations, predict_from_dimension,
};

use crate::error::AnalysisError;

/// SplitMix64's finaliser: a bijective 64-bit mix.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Errors unless `vocab ≥ 1` and every token is `< vocab`; names the first bad position.
pub(crate) fn check_tokens(tokens: &[u32], vocab: usize, ctx: &str) -> Result<(), AnalysisError> {
    if vocab == 0 {
        return Err(AnalysisError::invalid(
            ctx,
            "vocab = 0: the vocabulary size must be at least 1",
        ));
    }
    if let Some(i) = tokens.iter().position(|&t| t as usize >= vocab) {
        return Err(AnalysisError::invalid(
            ctx,
            format!("tokens[{i}] = {} is not below vocab = {vocab}", tokens[i]),
        ));
    }
    Ok(())
}

/// Linear-interpolation quantile of sorted, non-empty `v`.
pub(crate) fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    if i + 1 < v.len() { v[i] * (1.0 - f) + v[i + 1] * f } else { v[i] }
}
