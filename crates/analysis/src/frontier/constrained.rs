//! The data-constrained law of Muennighoff et al. (2023, "Scaling Data-Constrained Language
//! Models", eq. 5): repeated tokens are worth less than new ones.
//!
//! With `U_D` unique tokens seen over `D` training tokens, `R_D = D/U_D − 1` repetitions, the
//! effective data are
//!
//! ```text
//! D' = U_D + U_D·R_D*·(1 − exp(−R_D/R_D*))        (effective_data)
//! L(N, D) = E + A/N^α + B/D'^β
//! ```
//!
//! A few epochs are worth nearly as much as new data (`D' ≈ D` for `R_D ≪ R_D*`), and no amount
//! of repetition gives more than `U_D·(1 + R_D*)`. Only the data side is modelled: Muennighoff
//! et al.'s parameter-side term (`N'` with `U_N`, the parameters "worth" the unique data) needs
//! `U_N` defined as the compute-optimal model size for `U_D`, i.e. a second law fitted first;
//! it is left out, and `N` enters as in approach 3.
//!
//! # Method
//!
//! The machinery of approach 3 ([`super::joint`]): with `θ = (a, b, e, α, β, ρ)`,
//! `A = exp(a)`, `B = exp(b)`, `E = exp(e)`, `R_D* = exp(ρ)` (fitted in log space, so it
//! stays positive and its scale is free), the fit minimises
//! `Σᵢ Huber_δ(LSE(a − α ln Nᵢ, b − β ln D'ᵢ, e) − ln Lᵢ)` (δ = 10⁻³ by default) by L-BFGS with
//! the analytic gradient (`∂ ln D'/∂ρ = R*·(1 − e^(−x) − x·e^(−x)) / (1 + R*·(1 − e^(−x)))`,
//! `x = R_D/R*`). Starts: `starts` points of Chinchilla's grid ([`super::initial_points`]),
//! each paired with one of `R_D* ∈ {2, 8, 32}` in turn, run in parallel with rayon; the lowest
//! objective wins.
//!
//! # Intervals
//!
//! A residual bootstrap as [`super::kaplan`]'s and [`crate::broken`]'s: the log residuals
//! (without those pinned inside ±δ by the near-L1 Huber loss), centred and scaled so that a
//! draw has the variance `RSS/(n − 6)`, drawn with replacement and added to `ln L̂`; each
//! resample is refitted from the full fit's optimum. The 95% intervals of `α`, `β`, `E` and
//! `R_D*` (in `ln R_D*`) are the 2.5% and 97.5% percentiles widened about the estimate by
//! `t_{0.975, n−6}/z_{0.975}`. Coverage is a test (`tests/laws_extra.rs`): over 100 simulated
//! grids (3 model sizes × 2 unique-token counts × 1–32 epochs, Chinchilla's law with
//! `R_D* = 5`, 1% log-normal noise, 200 resamples) the nominal 95% intervals held α, β, E and
//! R_D* in 95, 91, 95 and 93 of them.
//!
//! # When it can be fitted
//!
//! `R_D*` is identifiable only from runs that repeat their data: the fit needs at least 3
//! distinct repetition counts `D/U_D`, one of them a single epoch, and is refused otherwise
//! (naming what the data have) — with no repeated run at all the error says "no run repeats its
//! data".

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use super::data::{CsvColumns, distinct};
use super::joint::{huber, initial_points};
use crate::broken::{bootstrap_interval, residual_pool, t_widening};
use crate::error::AnalysisError;

/// Free parameters of the law.
const PARAMS: usize = 6;
const CTX: &str = "data-constrained law";
/// `R_D*` of the starts (each start takes one in turn).
const R_STAR_STARTS: [f64; 3] = [2.0, 8.0, 32.0];

/// One run that may have repeated its data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RepeatedPoint {
    /// Run name.
    pub run_id: String,
    /// Parameters `N`.
    pub n: f64,
    /// Training tokens `D`, repeats included.
    pub d: f64,
    /// Unique training tokens `U_D` (`D` for a single epoch).
    pub unique_d: f64,
    /// Final held-out loss, nats per token.
    pub loss: f64,
}

impl RepeatedPoint {
    /// Passes over the unique tokens, `D/U_D`.
    pub fn epochs(&self) -> f64 {
        self.d / self.unique_d
    }
}

/// Effective data `D' = U_D + U_D·R_D*·(1 − exp(−R_D/R_D*))` with `R_D = d/unique − 1`
/// (Muennighoff et al. 2023, eq. 5): `d` for a single epoch, at most `unique·(1 + r_star)`.
pub fn effective_data(d: f64, unique: f64, r_star: f64) -> f64 {
    let r = d / unique - 1.0;
    unique + unique * r_star * -(-r / r_star).exp_m1()
}

/// `L(N, D) = E + A/N^α + B/D'^β` with `D'` the [`effective_data`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConstrainedLaw {
    /// Irreducible loss `E`.
    pub e: f64,
    /// Model-size amplitude `A`.
    pub a: f64,
    /// Data amplitude `B`.
    pub b: f64,
    /// Model-size exponent `α`.
    pub alpha: f64,
    /// Data exponent `β`.
    pub beta: f64,
    /// Repetitions `R_D*` at which a repeated token is worth `1/e` of a new one.
    pub r_star: f64,
}

impl ConstrainedLaw {
    /// `L` for `n` parameters trained on `d` tokens of which `unique` are unique.
    pub fn loss(&self, n: f64, d: f64, unique: f64) -> f64 {
        self.e
            + self.a * n.powf(-self.alpha)
            + self.b * effective_data(d, unique, self.r_star).powf(-self.beta)
    }

    fn from_theta(t: &[f64; PARAMS]) -> Self {
        ConstrainedLaw {
            a: t[0].exp(),
            b: t[1].exp(),
            e: t[2].exp(),
            alpha: t[3],
            beta: t[4],
            r_star: t[5].exp(),
        }
    }
}

/// Options of [`fit_constrained_law`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConstrainedFitOptions {
    /// Huber threshold δ on log residuals. Default 1e-3 (approach 3's).
    pub huber_delta: f64,
    /// L-BFGS starts (Chinchilla's grid, subset or extended as [`super::initial_points`]
    /// does, each with one of three `R_D*`). Default 900.
    pub starts: usize,
    /// Residual-bootstrap resamples for the intervals (0: none). Default 200.
    pub bootstrap: usize,
    /// Seed of the start subset and of the resampling. Default 0.
    pub seed: u64,
}

impl Default for ConstrainedFitOptions {
    /// δ = 1e-3, 900 starts, 200 resamples, seed 0.
    fn default() -> Self {
        ConstrainedFitOptions { huber_delta: 1e-3, starts: 900, bootstrap: 200, seed: 0 }
    }
}

/// A fitted data-constrained law with its 95% bootstrap intervals.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConstrainedFit {
    /// The fitted law.
    pub law: ConstrainedLaw,
    /// 95% interval of `E` (residual bootstrap, t-widened); `None` without resamples.
    pub e_ci: Option<(f64, f64)>,
    /// 95% interval of `α`.
    pub alpha_ci: Option<(f64, f64)>,
    /// 95% interval of `β`.
    pub beta_ci: Option<(f64, f64)>,
    /// 95% interval of `R_D*`.
    pub r_star_ci: Option<(f64, f64)>,
    /// Points fitted.
    pub n_points: usize,
    /// Points with `D > U_D`.
    pub repeated_points: usize,
    /// The distinct repetition counts `D/U_D`, ascending.
    pub epochs: Vec<f64>,
    /// Root mean square of the log residuals `ln L − ln L̂`.
    pub rms_log_residual: f64,
    /// L-BFGS starts run.
    pub starts: usize,
    /// Resamples that refitted to a finite law (of those requested).
    pub resamples_used: usize,
}

struct Problem {
    ln_n: Vec<f64>,
    ln_u: Vec<f64>,
    /// `R_D = D/U_D − 1`.
    reps: Vec<f64>,
    ln_l: Vec<f64>,
    delta: f64,
}

impl Problem {
    fn new(points: &[RepeatedPoint], delta: f64) -> Self {
        Problem {
            ln_n: points.iter().map(|p| p.n.ln()).collect(),
            ln_u: points.iter().map(|p| p.unique_d.ln()).collect(),
            reps: points.iter().map(|p| (p.d / p.unique_d - 1.0).max(0.0)).collect(),
            ln_l: points.iter().map(|p| p.loss.ln()).collect(),
            delta,
        }
    }

    /// `(ln L̂, [w₁, w₂, w₃], ln D', ∂ ln D'/∂ρ)` at point `i`.
    #[inline]
    fn predict(&self, t: &[f64], i: usize, r_star: f64, ee: f64) -> (f64, [f64; 3], f64, f64) {
        let r = self.reps[i];
        let (ln_dp, dldp) = if r > 0.0 {
            let x = r / r_star;
            let em = (-x).exp();
            let h = -r_star * (-x).exp_m1();
            let dh = r_star * (-(-x).exp_m1() - x * em);
            (self.ln_u[i] + h.ln_1p(), dh / (1.0 + h))
        } else {
            (self.ln_u[i], 0.0)
        };
        let (t1, t2) = (t[0] - t[3] * self.ln_n[i], t[1] - t[4] * ln_dp);
        let (ea, eb) = (t1.exp(), t2.exp());
        let s = ea + eb + ee;
        if s.is_finite() && s > 1e-300 {
            (s.ln(), [ea / s, eb / s, ee / s], ln_dp, dldp)
        } else {
            let m = t1.max(t2).max(t[2]);
            let (e1, e2, e3) = ((t1 - m).exp(), (t2 - m).exp(), (t[2] - m).exp());
            let s = e1 + e2 + e3;
            (m + s.ln(), [e1 / s, e2 / s, e3 / s], ln_dp, dldp)
        }
    }

    fn residuals(&self, t: &[f64]) -> Vec<f64> {
        let (r_star, ee) = (t[5].exp(), t[2].exp());
        (0..self.ln_l.len()).map(|i| self.ln_l[i] - self.predict(t, i, r_star, ee).0).collect()
    }

    /// `(1/(nδ)) Σ Huber_δ(ln L̂ − ln L)` and its gradient in `(a, b, e, α, β, ρ)`.
    fn objective(&self, t: &[f64]) -> (f64, Vec<f64>) {
        let (r_star, ee) = (t[5].exp(), t[2].exp());
        let (mut f, mut g) = (0.0, vec![0.0; PARAMS]);
        for i in 0..self.ln_l.len() {
            let (pred, w, ln_dp, dldp) = self.predict(t, i, r_star, ee);
            let (h, psi) = huber(pred - self.ln_l[i], self.delta);
            f += h;
            g[0] += psi * w[0];
            g[1] += psi * w[1];
            g[2] += psi * w[2];
            g[3] -= psi * w[0] * self.ln_n[i];
            g[4] -= psi * w[1] * ln_dp;
            g[5] -= psi * w[1] * t[4] * dldp;
        }
        let scale = 1.0 / (self.ln_l.len() as f64 * self.delta);
        (f * scale, g.into_iter().map(|v| v * scale).collect())
    }

    /// One L-BFGS run from `start` ([`crate::optim::descend`]).
    fn descend(&self, start: &[f64; PARAMS]) -> Option<(f64, [f64; PARAMS])> {
        crate::optim::descend(|t| self.objective(t), start)
    }

    /// The best of L-BFGS runs from `starts` ([`crate::optim::best_of_starts`]).
    fn best(&self, starts: &[[f64; PARAMS]]) -> Option<(f64, [f64; PARAMS])> {
        crate::optim::best_of_starts(|t| self.objective(t), starts)
    }
}

/// The distinct repetition counts `D/U_D` of `points` (equal within a relative 10⁻⁶),
/// ascending.
fn epoch_counts(points: &[RepeatedPoint]) -> Vec<f64> {
    let mut e: Vec<f64> = points.iter().map(RepeatedPoint::epochs).collect();
    e.sort_by(f64::total_cmp);
    e.dedup_by(|a, b| (*a - *b).abs() <= 1e-6 * b.abs());
    e
}

/// Validates points and options, and the repetitions that make `R_D*` identifiable.
fn validate(points: &[RepeatedPoint], opts: &ConstrainedFitOptions) -> Result<(), AnalysisError> {
    for (i, p) in points.iter().enumerate() {
        for (name, v) in [("N", p.n), ("D", p.d), ("unique_d", p.unique_d), ("loss", p.loss)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalysisError::invalid(
                    format!("{CTX}: point {i} (run {})", p.run_id),
                    format!("{name} = {v} must be finite and > 0"),
                ));
            }
        }
        if p.unique_d > p.d * (1.0 + 1e-9) {
            return Err(AnalysisError::invalid(
                format!("{CTX}: point {i} (run {})", p.run_id),
                format!(
                    "unique_d = {} exceeds D = {}: a run cannot see more unique tokens than tokens",
                    p.unique_d, p.d
                ),
            ));
        }
    }
    if !(opts.huber_delta.is_finite() && opts.huber_delta > 0.0) {
        return Err(AnalysisError::invalid(
            format!("{CTX}: huber_delta"),
            format!("Huber δ = {} must be finite and > 0", opts.huber_delta),
        ));
    }
    if opts.starts == 0 {
        return Err(AnalysisError::invalid(format!("{CTX}: starts"), "0: at least one is needed"));
    }
    let repeated = points.iter().filter(|p| p.epochs() > 1.0 + 1e-6).count();
    if repeated == 0 {
        return Err(AnalysisError::invalid(
            format!("{CTX}: unique_d"),
            format!(
                "no run repeats its data (all {} have D = U_D, one epoch): R_D* is not identifiable",
                points.len()
            ),
        ));
    }
    let epochs = epoch_counts(points);
    let single = epochs.first().is_some_and(|&e| (e - 1.0).abs() <= 1e-6);
    if epochs.len() < 3 || !single {
        let list: Vec<String> = epochs.iter().map(|e| crate::format::sig(*e, 3)).collect();
        return Err(AnalysisError::invalid(
            format!("{CTX}: unique_d"),
            format!(
                "R_D* needs at least 3 distinct repetition counts D/U_D, one of them a single epoch; the data \
                 have {} ({})",
                epochs.len(),
                list.join(", ")
            ),
        ));
    }
    if points.len() < PARAMS + 2 {
        return Err(AnalysisError::TooFewPoints {
            context: CTX.into(),
            n: points.len(),
            needed: PARAMS + 2,
            detail: "L = E + A/N^α + B/D'^β has 6 free parameters (with R_D*) and the bootstrap needs 2 \
                     residual degrees of freedom"
                .into(),
        });
    }
    let dn = distinct(points.iter().map(|p| p.n));
    if dn < 2 {
        return Err(AnalysisError::TooFewPoints {
            context: CTX.into(),
            n: dn,
            needed: 2,
            detail: format!(
                "a single model size N ({}) among {} points: α and A are not identifiable",
                points[0].n,
                points.len()
            ),
        });
    }
    Ok(())
}

/// Fits the data-constrained law (see the [module docs](self)) with 95% bootstrap intervals
/// of `α`, `β`, `E` and `R_D*`.
///
/// # Errors
///
/// Never panics. [`AnalysisError::InvalidInput`] for a non-finite or non-positive `N`, `D`,
/// `U_D` or loss, or `U_D > D` (naming the point, run and value), for a bad Huber δ or 0
/// starts, when no run repeats its data, or with fewer than 3 distinct repetition counts
/// including a single epoch; [`AnalysisError::TooFewPoints`] below 8 points or with a single
/// model size; [`AnalysisError::FitFailed`] when no start ends finite.
///
/// ```
/// use scalinglab_analysis::frontier::{
///     ConstrainedFitOptions, ConstrainedLaw, RepeatedPoint, fit_constrained_law,
/// };
/// let truth = ConstrainedLaw { e: 1.69, a: 406.4, b: 410.7, alpha: 0.34, beta: 0.28, r_star: 5.0 };
/// let mut pts = Vec::new();
/// for n in [1e7, 4e7, 1.6e8] {
///     for u in [1e8, 1e9] {
///         for epochs in [1.0, 4.0, 16.0, 64.0] {
///             let d = u * epochs;
///             let loss = truth.loss(n, d, u);
///             pts.push(RepeatedPoint { run_id: String::new(), n, d, unique_d: u, loss });
///         }
///     }
/// }
/// let opts = ConstrainedFitOptions { starts: 300, bootstrap: 0, ..Default::default() };
/// let fit = fit_constrained_law(&pts, &opts)?;
/// assert!((fit.law.r_star / 5.0 - 1.0).abs() < 1e-3, "{:?}", fit.law);
/// # Ok::<(), scalinglab_analysis::AnalysisError>(())
/// ```
pub fn fit_constrained_law(
    points: &[RepeatedPoint],
    opts: &ConstrainedFitOptions,
) -> Result<ConstrainedFit, AnalysisError> {
    validate(points, opts)?;
    let prob = Problem::new(points, opts.huber_delta);
    let starts: Vec<[f64; PARAMS]> = initial_points(opts.starts, opts.seed)
        .into_iter()
        .enumerate()
        .map(|(i, s)| [s[0], s[1], s[2], s[3], s[4], R_STAR_STARTS[i % 3].ln()])
        .collect();
    let Some((_, theta)) = prob.best(&starts) else {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!("none of {} starts reached a finite law", starts.len()),
        });
    };
    let law = ConstrainedLaw::from_theta(&theta);
    let residuals = prob.residuals(&theta);
    let n = residuals.len();
    let rms = (residuals.iter().map(|r| r * r).sum::<f64>() / n as f64).sqrt();

    // Residual bootstrap, refitted from the optimum.
    let pool = residual_pool(&residuals, PARAMS, opts.huber_delta);
    let fitted: Vec<f64> = prob.ln_l.iter().zip(&residuals).map(|(l, r)| l - r).collect();
    let laws: Vec<ConstrainedLaw> = (0..opts.bootstrap)
        .into_par_iter()
        .filter_map(|k| {
            let mut rng = ChaCha12Rng::seed_from_u64(opts.seed ^ (0x4D55_454E + k as u64));
            let ln_l = fitted.iter().map(|f| f + pool[rng.random_range(0..pool.len())]).collect();
            let p = Problem {
                ln_l,
                ln_n: prob.ln_n.clone(),
                ln_u: prob.ln_u.clone(),
                reps: prob.reps.clone(),
                delta: prob.delta,
            };
            let (_, best) = p.descend(&theta)?;
            Some(ConstrainedLaw::from_theta(&best))
        })
        .collect();
    let enough = laws.len() >= 10 && 2 * laws.len() >= opts.bootstrap;
    let widen = t_widening(n - PARAMS);
    let ci = |value: f64, of: fn(&ConstrainedLaw) -> f64, log: bool| {
        if enough { bootstrap_interval(value, laws.iter().map(of), widen, log) } else { None }
    };
    Ok(ConstrainedFit {
        law,
        e_ci: ci(law.e, |l| l.e, false),
        alpha_ci: ci(law.alpha, |l| l.alpha, false),
        beta_ci: ci(law.beta, |l| l.beta, false),
        r_star_ci: ci(law.r_star, |l| l.r_star, true),
        n_points: n,
        repeated_points: points.iter().filter(|p| p.epochs() > 1.0 + 1e-6).count(),
        epochs: epoch_counts(points),
        rms_log_residual: rms,
        starts: starts.len(),
        resamples_used: laws.len(),
    })
}

/// Reads the runs of a generic CSV with a unique-token column into [`RepeatedPoint`]s: `N`,
/// loss and `D` (or `C`, with `D = C/(6N)`) from the columns of `cols` as
/// [`super::read_points_csv`] reads them, `U_D` from the column `unique`. Rows sharing
/// `(N, D, U_D)` keep the lowest loss. Columns are matched exactly, then ignoring case and
/// surrounding spaces; lines starting with `#` are comments.
///
/// # Errors
///
/// An unreadable file, a missing column (listing the header), a field that is not a finite
/// positive number (naming the line, column and value).
pub fn read_repeated_csv(
    path: &Path,
    cols: &CsvColumns,
    unique: &str,
) -> Result<Vec<RepeatedPoint>, AnalysisError> {
    use super::data::{csv_err, find_column, open_csv, parse_positive, require_column};
    let (mut reader, headers) = open_csv(path)?;
    let n_idx = require_column(path, &headers, "N", &cols.n)?;
    let loss_idx = require_column(path, &headers, "loss", &cols.loss)?;
    let u_idx = require_column(path, &headers, "unique-token", unique)?;
    let d_idx = cols.d.as_deref().and_then(|name| find_column(&headers, name));
    let c_idx = match &cols.c {
        Some(c) => Some(require_column(path, &headers, "C", c)?),
        None if d_idx.is_none() => find_column(&headers, "C"),
        None => None,
    };
    // `D` from its column, else `C/(6N)` from the compute column.
    let (dc_idx, from_c) = match (d_idx, c_idx) {
        (Some(i), _) => (i, false),
        (None, Some(i)) => (i, true),
        (None, None) => {
            return Err(require_column(path, &headers, "D", cols.d.as_deref().unwrap_or("D"))
                .err()
                .unwrap_or_else(|| csv_err(path, 1, "neither a D nor a C column".into())));
        }
    };
    let id_idx = match &cols.run_id {
        Some(name) => Some(require_column(path, &headers, "run id", name)?),
        None => None,
    };
    let mut best: std::collections::BTreeMap<(u64, u64, u64), RepeatedPoint> =
        std::collections::BTreeMap::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            csv_err(path, line, format!("unreadable row: {e}"))
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let value = |i: usize| parse_positive(path, &rec, i, headers.get(i).unwrap_or(""));
        let n = value(n_idx)?;
        let d = if from_c { value(dc_idx)? / (6.0 * n) } else { value(dc_idx)? };
        let p = RepeatedPoint {
            run_id: match id_idx {
                Some(i) => rec.get(i).unwrap_or("").trim().to_string(),
                None => format!("line{line}"),
            },
            n,
            d,
            unique_d: value(u_idx)?,
            loss: value(loss_idx)?,
        };
        keep_lowest(&mut best, p);
    }
    Ok(best.into_values().collect())
}

/// Puts `p` into `best` unless a point of the same `(N, D, U_D)` with a lower loss is there.
fn keep_lowest(
    best: &mut std::collections::BTreeMap<(u64, u64, u64), RepeatedPoint>,
    p: RepeatedPoint,
) {
    let key = (p.n.to_bits(), p.d.to_bits(), p.unique_d.to_bits());
    match best.get_mut(&key) {
        Some(old) if p.loss < old.loss => *old = p,
        Some(_) => {}
        None => {
            best.insert(key, p);
        }
    }
}

/// The runs of a results file as [`RepeatedPoint`]s: status ok with a finite positive eval
/// loss, `N` counted by `params`, `U_D = tokens / epochs`; the lowest loss per
/// `(N, D, U_D)` cell.
pub fn repeated_points_from_records(
    records: &[crate::records::RunRecord],
    params: super::ParamCounting,
) -> Vec<RepeatedPoint> {
    let mut best: std::collections::BTreeMap<(u64, u64, u64), RepeatedPoint> =
        std::collections::BTreeMap::new();
    for r in records.iter().filter(|r| r.status == crate::records::RunStatus::Ok) {
        let n = params.of(r) as f64;
        let (d, u) = (r.tokens as f64, r.tokens as f64 / f64::from(r.epochs.max(1)));
        if !(r.eval_loss.is_finite() && r.eval_loss > 0.0 && n > 0.0 && d > 0.0) {
            continue;
        }
        keep_lowest(
            &mut best,
            RepeatedPoint { run_id: r.run_id.clone(), n, d, unique_d: u, loss: r.eval_loss },
        );
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_central_differences_and_effective_data_saturates() {
        let truth =
            ConstrainedLaw { e: 1.7, a: 400.0, b: 410.0, alpha: 0.34, beta: 0.28, r_star: 5.0 };
        let mut pts = Vec::new();
        for (k, n) in [1e6, 1e7, 1e8].into_iter().enumerate() {
            for epochs in [1.0, 2.0, 8.0, 40.0] {
                let u = 1e8;
                let d = u * epochs;
                let loss = truth.loss(n, d, u) * (1.0 + 0.01 * ((k as f64 + epochs) % 3.0 - 1.0));
                pts.push(RepeatedPoint { run_id: String::new(), n, d, unique_d: u, loss });
            }
        }
        for delta in [1e-3, 0.05, 10.0] {
            let prob = Problem::new(&pts, delta);
            for t in [[6.0, 6.0, 0.5, 0.34, 0.28, 1.6], [0.0, 25.0, -1.0, 2.0, 0.0, 0.7]] {
                let (_, g) = prob.objective(&t);
                for k in 0..PARAMS {
                    let h = 1e-7;
                    let (mut up, mut down) = (t, t);
                    up[k] += h;
                    down[k] -= h;
                    let fd = (prob.objective(&up).0 - prob.objective(&down).0) / (2.0 * h);
                    assert!(
                        (fd - g[k]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "δ {delta} at {t:?}, ∂{k}: {fd} vs {}",
                        g[k]
                    );
                }
            }
        }
        assert_eq!(effective_data(3e8, 3e8, 5.0), 3e8);
        assert!((effective_data(2e8, 1e8, 1e6) / 2e8 - 1.0).abs() < 1e-6, "R ≪ R*: D' ≈ D");
        assert!((effective_data(1e12, 1e8, 5.0) / 6e8 - 1.0).abs() < 1e-9, "saturates at U(1+R*)");
    }
}
