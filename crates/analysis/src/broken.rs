//! A broken power law in one variable (Caballero et al. 2022, "Broken neural scaling laws",
//! with one break):
//!
//! ```text
//! L(x) = E + A·x^(−α₁)·(1 + (x/x_b)^(1/f))^(−(α₂−α₁)·f)
//! ```
//!
//! `L − E` falls as `x^(−α₁)` well below the break `x_b` and as `x^(−α₂)` well above it; the
//! local exponent is `α₁ + (α₂ − α₁)·σ(ln(x/x_b)/f)` (`σ` the logistic function), so it moves
//! from 12% to 88% of the way between the two over `ln(x/x_b) ∈ [−2f, 2f]`.
//!
//! # Smoothness
//!
//! `f` is fixed, not fitted ([`BrokenFitOptions::smoothness`], default 0.5): with `f` free
//! the five other parameters of a 7–20 point slice lose most of their precision (`f`, `x_b` and
//! the two exponents trade against each other), and the question asked of a sweep — is there a
//! break, where, and what are the exponents on either side — does not need it. `f = 0.5`
//! spreads the change of exponent over a factor `e² ≈ 7.4` in `x`: the 2–3 points of a sweep
//! spaced ×2–×4 apart, smooth enough that the objective is smooth in `x_b` between points
//! (gradient steps can move the break), sharp enough to be a break rather than gentle
//! curvature (which the offset `E` already models). Data made with another `f` give biased
//! `α₁, α₂` near the break; fit with that `f` when it is known.
//!
//! # Method
//!
//! With `z = ln x − c` (`c` the mean of `ln x`), `θ = (e, a, α₁, α₂, u)`, `E = exp(e)`,
//! `u = ln x_b − c`, and `sp(t) = ln(1 + eᵗ)`, the power term is `exp(T)` with
//! `T = a − α₁ z − (α₂ − α₁)·f·sp((z − u)/f)` and the prediction is `ln L̂ = LSE(e, T)`. The fit
//! minimises `Σᵢ Huber_δ(ln L̂ᵢ − ln Lᵢ)` (δ = 10⁻³ by default, as approach 3) by L-BFGS with
//! the analytic gradient (`∂T/∂α₁ = −z + f·sp`, `∂T/∂α₂ = −f·sp`, `∂T/∂u = (α₂ − α₁)·σ`,
//! weighted by the softmax weights of `LSE`). Starts: `α₁ ∈ {0.1, 0.3, 0.6, 1.2}`,
//! `α₂ ∈ {0.05, 0.2, 0.5, 1}`, the break at 15, 30, 50, 70 and 85% of the data's `ln x` range,
//! `E` at 0.1%, 50% and 90% of the lowest loss, and `a` by least squares given the rest: 240
//! starts, run in parallel with rayon; the lowest objective wins (ties keep start order, so
//! the result does not depend on the thread count).
//!
//! # Intervals
//!
//! A residual bootstrap, as [`crate::frontier::kaplan`]'s: each resample adds the fit's log
//! residuals, drawn with replacement, to `ln L̂` and refits from the full fit's optimum. The
//! residuals pinned inside ±δ by the near-L1 Huber loss are left out of the pool, as approach 3's
//! bootstrap does, and the rest are centred and scaled so that a draw has the variance
//! `RSS/(n − 5)` (scaling by `sqrt(n/(n − 5))` on top of leaving the pinned ones out made the
//! intervals 30% too wide in simulation: covering α₁ in 100 of 100 data sets). The 95%
//! intervals of `E`, `α₁`, `α₂`, `α₂ − α₁` and `x_b` (in `ln x_b`) are the 2.5% and 97.5%
//! percentiles of the refits widened about the estimate by `t_{0.975, n−5}/z_{0.975}`. Coverage
//! is a test (`tests/laws_extra.rs`): over 100 simulated data sets (20 points over 1e2–1e7,
//! `α₁ = 0.6`, `α₂ = 0.2`, `x_b = 1e4`, 1% log-normal noise, 100 resamples) the nominal 95%
//! intervals held α₁, α₂, E and x_b in 96, 96, 95 and 94 of them.
//!
//! # Verdict on the break
//!
//! [`BreakVerdict::Resolved`] only when every precondition holds, each checked in code: the
//! break lies strictly inside the data's range with at least 3 points on each side, the fit has
//! 2 or more degrees of freedom, and the 95% interval of `α₂ − α₁` excludes 0. A plain power law
//! with an offset is fitted to the same data (same Huber δ) and its rms log residual reported
//! beside the broken law's.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use crate::error::AnalysisError;
use crate::format::{interval, sig};
use crate::frontier::joint::huber;
use crate::powerlaw::{FitLoss, FitOptions, Offset, fit_power_law};
use crate::verdict::Precondition;

/// `z_{0.975}`.
const Z_975: f64 = 1.959_963_984_540_054;
/// Free parameters of the broken law (`f` is fixed).
const PARAMS: usize = 5;
/// Fewest points the fit accepts: 5 parameters and 2 degrees of freedom for the noise.
pub const MIN_POINTS: usize = 7;
/// Starts of the full grid (see the [module docs](self)).
const GRID_STARTS: usize = 240;

/// `L(x) = E + A·x^(−α₁)·(1 + (x/x_b)^(1/f))^(−(α₂−α₁)·f)`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrokenPowerLaw {
    /// Irreducible loss `E`.
    pub e: f64,
    /// Amplitude `A` (of `x^(−α₁)` below the break).
    pub a: f64,
    /// Exponent below the break, `α₁`.
    pub alpha1: f64,
    /// Exponent above the break, `α₂`.
    pub alpha2: f64,
    /// Break position `x_b`.
    pub x_b: f64,
    /// Smoothness `f` of the break (fixed, not fitted).
    pub smoothness: f64,
}

impl BrokenPowerLaw {
    /// `L(x)`.
    pub fn loss(&self, x: f64) -> f64 {
        let f = self.smoothness;
        let t = (x / self.x_b).ln() / f;
        let ln_power =
            self.a.ln() - self.alpha1 * x.ln() - (self.alpha2 - self.alpha1) * f * softplus(t);
        self.e + ln_power.exp()
    }

    fn from_theta(t: &[f64; PARAMS], centre: f64, smoothness: f64) -> Self {
        BrokenPowerLaw {
            e: t[0].exp(),
            a: (t[1] + t[2] * centre).exp(),
            alpha1: t[2],
            alpha2: t[3],
            x_b: (t[4] + centre).exp(),
            smoothness,
        }
    }
}

/// `ln(1 + eᵗ)`, stable for any `t`.
#[inline]
fn softplus(t: f64) -> f64 {
    t.max(0.0) + (-t.abs()).exp().ln_1p()
}

/// Options of [`fit_broken_power_law`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrokenFitOptions {
    /// Smoothness `f` of the break, fixed (see the [module docs](self)). Default 0.5.
    pub smoothness: f64,
    /// Huber threshold δ on log residuals. Default 1e-3 (approach 3's).
    pub huber_delta: f64,
    /// Residual-bootstrap resamples for the intervals (0: none). Default 200.
    pub bootstrap: usize,
    /// Seed of the resampling (and of the start subset). Default 0.
    pub seed: u64,
    /// L-BFGS starts: the grid's 240 (the default) or more run it whole; fewer take a seeded
    /// random subset of it.
    pub starts: usize,
}

impl Default for BrokenFitOptions {
    /// `f = 0.5`, δ = 1e-3, 200 resamples, seed 0, the 240 starts of the grid.
    fn default() -> Self {
        BrokenFitOptions {
            smoothness: 0.5,
            huber_delta: 1e-3,
            bootstrap: 200,
            seed: 0,
            starts: GRID_STARTS,
        }
    }
}

/// Whether the data resolve a break, and why not when they do not.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum BreakVerdict {
    /// The break lies inside the data with 3 or more points on each side, the fit has 2 or
    /// more degrees of freedom, and the 95% interval of `α₂ − α₁` excludes 0.
    Resolved,
    /// Every precondition holds but the 95% interval of `α₂ − α₁` contains 0: the data show
    /// no change of exponent.
    NotResolved(String),
    /// A precondition fails (the reason names it).
    NotTestable(String),
}

impl BreakVerdict {
    /// Two or three words for a table cell.
    pub fn short(&self) -> &'static str {
        match self {
            BreakVerdict::Resolved => "break resolved",
            BreakVerdict::NotResolved(_) => "no break resolved",
            BreakVerdict::NotTestable(_) => "not testable",
        }
    }

    /// Whether a break was resolved.
    pub fn is_resolved(&self) -> bool {
        matches!(self, BreakVerdict::Resolved)
    }
}

impl std::fmt::Display for BreakVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakVerdict::Resolved => f.write_str("break resolved"),
            BreakVerdict::NotResolved(why) => write!(f, "no break resolved: {why}"),
            BreakVerdict::NotTestable(why) => write!(f, "not testable: {why}"),
        }
    }
}

/// A fitted broken power law with its 95% bootstrap intervals and the verdict on its break.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BrokenFit {
    /// The fitted law.
    pub law: BrokenPowerLaw,
    /// 95% interval of `E` (residual bootstrap, t-widened); `None` without resamples.
    pub e_ci: Option<(f64, f64)>,
    /// 95% interval of `α₁`.
    pub alpha1_ci: Option<(f64, f64)>,
    /// 95% interval of `α₂`.
    pub alpha2_ci: Option<(f64, f64)>,
    /// 95% interval of `α₂ − α₁`.
    pub delta_alpha_ci: Option<(f64, f64)>,
    /// 95% interval of `x_b`.
    pub x_b_ci: Option<(f64, f64)>,
    /// Points fitted.
    pub n_points: usize,
    /// Smallest and largest `x`.
    pub x_range: (f64, f64),
    /// Points with `x < x_b` and with `x > x_b`.
    pub points_either_side: (usize, usize),
    /// Root mean square of the log residuals `ln L − ln L̂`.
    pub rms_log_residual: f64,
    /// Rms log residual of the plain law `E + A·x^(−α)` fitted to the same data (same Huber
    /// δ); `None` when it could not be fitted.
    pub power_law_rms: Option<f64>,
    /// Resamples that refitted to a finite law (of those requested).
    pub resamples_used: usize,
    /// What the verdict needs, each checked.
    pub preconditions: Vec<Precondition>,
    /// Whether the data resolve the break.
    pub verdict: BreakVerdict,
}

impl BrokenFit {
    /// Residual degrees of freedom, `n − 5`.
    pub fn dof(&self) -> usize {
        self.n_points.saturating_sub(PARAMS)
    }
}

struct Problem {
    z: Vec<f64>,
    ln_l: Vec<f64>,
    f: f64,
    delta: f64,
}

impl Problem {
    /// `(ln L̂, w_E, ∂T/∂α₁, ∂T/∂α₂, ∂T/∂u)` at one point (three transcendental calls: this
    /// is the inner loop of every start and resample).
    #[inline]
    fn predict(&self, t: &[f64], z: f64) -> (f64, f64, f64, f64, f64) {
        let (e, a, a1, a2, u) = (t[0], t[1], t[2], t[3], t[4]);
        let s = (z - u) / self.f;
        // softplus(s) and logistic(s) from one exponential.
        let q = (-s.abs()).exp();
        let sp = s.max(0.0) + q.ln_1p();
        let sigma = if s >= 0.0 { 1.0 / (1.0 + q) } else { q / (1.0 + q) };
        let big_t = a - a1 * z - (a2 - a1) * self.f * sp;
        // LSE(e, T) and the weight of e, from one exponential.
        let r = (-(e - big_t).abs()).exp();
        let pred = e.max(big_t) + r.ln_1p();
        let we = if e >= big_t { 1.0 / (1.0 + r) } else { r / (1.0 + r) };
        (pred, we, -z + self.f * sp, -self.f * sp, (a2 - a1) * sigma)
    }

    fn residuals(&self, t: &[f64]) -> Vec<f64> {
        self.z.iter().zip(&self.ln_l).map(|(&z, l)| l - self.predict(t, z).0).collect()
    }

    /// `(1/(nδ)) Σ Huber_δ(ln L̂ − ln L)` and its gradient in `θ`.
    fn objective(&self, t: &[f64]) -> (f64, Vec<f64>) {
        let (mut f, mut g) = (0.0, vec![0.0; PARAMS]);
        for (&z, &l) in self.z.iter().zip(&self.ln_l) {
            let (pred, we, d1, d2, du) = self.predict(t, z);
            let (h, psi) = huber(pred - l, self.delta);
            let wt = 1.0 - we;
            f += h;
            g[0] += psi * we;
            g[1] += psi * wt;
            g[2] += psi * wt * d1;
            g[3] += psi * wt * d2;
            g[4] += psi * wt * du;
        }
        let scale = 1.0 / (self.z.len() as f64 * self.delta);
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

    /// The 240 starts of the [module docs](self), `a` by least squares given the rest; a seeded
    /// random subset of `count` of them (in grid order) when `count` < 240.
    fn starts(&self, min_loss: f64, count: usize, seed: u64) -> Vec<[f64; PARAMS]> {
        let (lo, hi) = self
            .z
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &z| (a.min(z), b.max(z)));
        let mut out = Vec::with_capacity(240);
        for &a1 in &[0.1, 0.3, 0.6, 1.2] {
            for &a2 in &[0.05, 0.2, 0.5, 1.0] {
                for &q in &[0.15, 0.3, 0.5, 0.7, 0.85] {
                    let u = lo + q * (hi - lo);
                    for &frac in &[1e-3, 0.5, 0.9] {
                        let e = frac * min_loss;
                        let a = self
                            .z
                            .iter()
                            .zip(&self.ln_l)
                            .map(|(&z, &l)| {
                                (l.exp() - e).max(1e-12 * min_loss).ln()
                                    + a1 * z
                                    + (a2 - a1) * self.f * softplus((z - u) / self.f)
                            })
                            .sum::<f64>()
                            / self.z.len() as f64;
                        out.push([e.ln(), a, a1, a2, u]);
                    }
                }
            }
        }
        if count < out.len() {
            // Partial Fisher–Yates, then grid order.
            let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x5EED_B4E4);
            let mut idx: Vec<usize> = (0..out.len()).collect();
            for i in 0..count {
                let j = rng.random_range(i..idx.len());
                idx.swap(i, j);
            }
            let mut keep = idx[..count].to_vec();
            keep.sort_unstable();
            out = keep.into_iter().map(|i| out[i]).collect();
        }
        out
    }
}

/// The residual pool of a fixed-design bootstrap: log residuals pinned inside ±δ by a near-L1
/// Huber fit (at most `params` of them, and only when most residuals lie outside ±δ) left
/// out, the rest centred and scaled by `sqrt(m/(n − params))` for the `m` kept, so that a draw
/// has the variance `RSS/(n − params)` (the pinned residuals are the degrees of freedom the
/// fit used: scaling the rest by `sqrt(n/(n − params))` as well would count them twice, and
/// made the intervals 30% too wide in simulation).
pub(crate) fn residual_pool(residuals: &[f64], params: usize, delta: f64) -> Vec<f64> {
    let n = residuals.len();
    let outside = residuals.iter().filter(|r| r.abs() > delta).count();
    let mut pool = residuals.to_vec();
    if 2 * outside >= n {
        pool.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
        let pinned = pool.iter().take(params).filter(|r| r.abs() <= delta).count();
        pool.drain(..pinned);
    }
    let mean = pool.iter().sum::<f64>() / pool.len().max(1) as f64;
    let scale = (pool.len() as f64 / n.saturating_sub(params).max(1) as f64).sqrt();
    pool.iter().map(|r| (r - mean) * scale).collect()
}

/// `t_{0.975, dof}/z_{0.975}`: how much a bootstrap percentile interval is widened about its
/// estimate when the noise level is itself estimated from `dof` degrees of freedom.
pub(crate) fn t_widening(dof: usize) -> f64 {
    crate::stats::intrinsic::student_t_quantile(0.975, dof as f64).map_or(1.0, |t| t / Z_975)
}

/// The 95% percentile interval of `draws` about `estimate`, widened by `widen`, on a log
/// scale when `log` (for positive quantities); `None` when fewer than 10 draws are finite.
pub(crate) fn bootstrap_interval(
    estimate: f64,
    draws: impl Iterator<Item = f64>,
    widen: f64,
    log: bool,
) -> Option<(f64, f64)> {
    let to = |x: f64| if log { x.ln() } else { x };
    let from = |x: f64| if log { x.exp() } else { x };
    let mut v: Vec<f64> = draws.map(to).filter(|x| x.is_finite()).collect();
    let c = to(estimate);
    if v.len() < 10 || !c.is_finite() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let (lo, hi) =
        (crate::stats::quantile_sorted(&v, 0.025), crate::stats::quantile_sorted(&v, 0.975));
    Some((from(c + (lo - c) * widen), from(c + (hi - c) * widen)))
}

/// Checks `x` and `loss` for [`fit_broken_power_law`], naming the first bad value.
fn validate(x: &[f64], loss: &[f64], opts: &BrokenFitOptions) -> Result<(), AnalysisError> {
    const CTX: &str = "broken power law";
    if x.len() != loss.len() {
        return Err(AnalysisError::invalid(
            format!("{CTX}: x, loss"),
            format!("{} values of x but {} losses", x.len(), loss.len()),
        ));
    }
    for (name, values) in [("x", x), ("loss", loss)] {
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v > 0.0))
        {
            return Err(AnalysisError::invalid(
                format!("{CTX}: {name}[{i}]"),
                format!("{name} = {v} must be finite and > 0"),
            ));
        }
    }
    if opts.starts == 0 {
        return Err(AnalysisError::invalid(format!("{CTX}: starts"), "0: at least one is needed"));
    }
    for (name, v) in [("smoothness", opts.smoothness), ("huber_delta", opts.huber_delta)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(AnalysisError::invalid(
                format!("{CTX}: {name}"),
                format!("{name} = {v} must be finite and > 0"),
            ));
        }
    }
    let distinct = crate::frontier::data::distinct(x.iter().copied());
    if x.len() < MIN_POINTS || distinct < PARAMS + 1 {
        return Err(AnalysisError::TooFewPoints {
            context: CTX.into(),
            n: x.len(),
            needed: MIN_POINTS,
            detail: format!(
                "the law has {PARAMS} free parameters (E, A, α₁, α₂, x_b) and the bootstrap needs 2 residual \
                 degrees of freedom; {distinct} distinct x"
            ),
        });
    }
    Ok(())
}

/// The preconditions of a resolved break and the verdict.
fn verdict(
    law: &BrokenPowerLaw,
    x: &[f64],
    delta_alpha_ci: Option<(f64, f64)>,
) -> (Vec<Precondition>, BreakVerdict, (usize, usize)) {
    let below = x.iter().filter(|&&v| v < law.x_b).count();
    let above = x.iter().filter(|&&v| v > law.x_b).count();
    let (lo, hi) = x.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &v| (a.min(v), b.max(v)));
    let dof = x.len().saturating_sub(PARAMS);
    let d = law.alpha2 - law.alpha1;
    let preconditions = vec![
        Precondition::new(
            "the break strictly inside the data's range",
            lo < law.x_b && law.x_b < hi,
            format!("x_b = {}, data {} – {}", sig(law.x_b, 3), sig(lo, 3), sig(hi, 3)),
        ),
        Precondition::new(
            "3 or more points on each side of the break",
            below >= 3 && above >= 3,
            format!("{below} below, {above} above"),
        ),
        Precondition::new(
            "two or more degrees of freedom",
            dof >= 2,
            format!("{} points, {PARAMS} free parameters", x.len()),
        ),
        Precondition::new(
            "a 95% interval of α₂ − α₁",
            delta_alpha_ci.is_some(),
            match delta_alpha_ci {
                Some(ci) => format!("α₂ − α₁ = {} {}", sig(d, 3), interval(Some(ci), 3)),
                None => format!("α₂ − α₁ = {} with no interval", sig(d, 3)),
            },
        ),
    ];
    let verdict = if let Some(p) = preconditions.iter().find(|p| !p.holds) {
        BreakVerdict::NotTestable(format!("needs {}; here {}", p.statement, p.measured))
    } else {
        match delta_alpha_ci {
            Some((a, b)) if a > 0.0 || b < 0.0 => BreakVerdict::Resolved,
            _ => BreakVerdict::NotResolved(format!(
                "the 95% interval of α₂ − α₁ = {} {} contains 0",
                sig(d, 3),
                interval(delta_alpha_ci, 3)
            )),
        }
    };
    (preconditions, verdict, (below, above))
}

/// Fits the broken power law (see the [module docs](self)) to losses `loss` at sizes `x`,
/// with 95% bootstrap intervals, the plain power law's rms beside it and the verdict on the
/// break.
///
/// # Errors
///
/// Never panics. [`AnalysisError::InvalidInput`] for mismatched lengths, a non-finite or
/// non-positive `x` or loss (naming the index and value: `broken power law: x[2]`, `x = -1 must
/// be finite and > 0`), or a non-finite or non-positive smoothness or Huber δ;
/// [`AnalysisError::TooFewPoints`] below 7 points (or 6 distinct `x`);
/// [`AnalysisError::FitFailed`] when no start ends at a finite law.
///
/// ```
/// use scalinglab_analysis::broken::{BrokenFitOptions, BrokenPowerLaw, fit_broken_power_law};
/// let truth = BrokenPowerLaw { e: 1.5, a: 200.0, alpha1: 0.6, alpha2: 0.2, x_b: 1e4, smoothness: 0.5 };
/// let x: Vec<f64> = (0..20).map(|i| 100.0 * 10f64.powf(i as f64 * 5.0 / 19.0)).collect();
/// let y: Vec<f64> = x.iter().map(|&x| truth.loss(x)).collect();
/// let fit = fit_broken_power_law(&x, &y, &BrokenFitOptions { bootstrap: 0, ..Default::default() })?;
/// assert!((fit.law.alpha1 - 0.6).abs() < 1e-3 && (fit.law.alpha2 - 0.2).abs() < 1e-3);
/// # Ok::<(), scalinglab_analysis::AnalysisError>(())
/// ```
pub fn fit_broken_power_law(
    x: &[f64],
    loss: &[f64],
    opts: &BrokenFitOptions,
) -> Result<BrokenFit, AnalysisError> {
    validate(x, loss, opts)?;
    let n = x.len();
    let centre = x.iter().map(|v| v.ln()).sum::<f64>() / n as f64;
    let prob = Problem {
        z: x.iter().map(|v| v.ln() - centre).collect(),
        ln_l: loss.iter().map(|l| l.ln()).collect(),
        f: opts.smoothness,
        delta: opts.huber_delta,
    };
    let min_loss = loss.iter().copied().fold(f64::INFINITY, f64::min);
    let Some((_, theta)) = prob.best(&prob.starts(min_loss, opts.starts, opts.seed)) else {
        return Err(AnalysisError::FitFailed {
            context: "broken power law".into(),
            message: "no start reached a finite law".into(),
        });
    };
    let law = BrokenPowerLaw::from_theta(&theta, centre, opts.smoothness);
    let residuals = prob.residuals(&theta);
    let rms = (residuals.iter().map(|r| r * r).sum::<f64>() / n as f64).sqrt();

    // Residual bootstrap, refitted from the optimum.
    let pool = residual_pool(&residuals, PARAMS, opts.huber_delta);
    let fitted: Vec<f64> = prob.ln_l.iter().zip(&residuals).map(|(l, r)| l - r).collect();
    let laws: Vec<BrokenPowerLaw> = (0..opts.bootstrap)
        .into_par_iter()
        .filter_map(|k| {
            let mut rng = ChaCha12Rng::seed_from_u64(opts.seed ^ (0x4252_4B4E + k as u64));
            let ln_l = fitted.iter().map(|f| f + pool[rng.random_range(0..pool.len())]).collect();
            let p = Problem { ln_l, z: prob.z.clone(), f: prob.f, delta: prob.delta };
            let (_, best) = p.descend(&theta)?;
            Some(BrokenPowerLaw::from_theta(&best, centre, opts.smoothness))
        })
        .collect();
    let enough = laws.len() >= 10 && 2 * laws.len() >= opts.bootstrap;
    let widen = t_widening(n - PARAMS);
    let ci = |value: f64, of: fn(&BrokenPowerLaw) -> f64, log: bool| {
        if enough { bootstrap_interval(value, laws.iter().map(of), widen, log) } else { None }
    };
    let delta_alpha_ci = ci(law.alpha2 - law.alpha1, |l| l.alpha2 - l.alpha1, false);
    let (preconditions, verdict, points_either_side) = verdict(&law, x, delta_alpha_ci);
    let plain = FitOptions {
        offset: Offset::Free,
        loss: FitLoss::Huber { delta: opts.huber_delta },
        bootstrap: 0,
        seed: opts.seed,
    };
    Ok(BrokenFit {
        law,
        e_ci: ci(law.e, |l| l.e, false),
        alpha1_ci: ci(law.alpha1, |l| l.alpha1, false),
        alpha2_ci: ci(law.alpha2, |l| l.alpha2, false),
        delta_alpha_ci,
        x_b_ci: ci(law.x_b, |l| l.x_b, true),
        n_points: n,
        x_range: (
            x.iter().copied().fold(f64::INFINITY, f64::min),
            x.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
        points_either_side,
        rms_log_residual: rms,
        power_law_rms: fit_power_law(x, loss, &plain).ok().map(|p| p.rms_log_residual),
        resamples_used: laws.len(),
        preconditions,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_central_differences() {
        let truth = BrokenPowerLaw {
            e: 1.5,
            a: 200.0,
            alpha1: 0.6,
            alpha2: 0.2,
            x_b: 1e4,
            smoothness: 0.5,
        };
        let x: Vec<f64> = (0..12).map(|i| 100.0 * 3f64.powi(i)).collect();
        let centre = x.iter().map(|v| v.ln()).sum::<f64>() / x.len() as f64;
        for delta in [1e-3, 0.05, 10.0] {
            let prob = Problem {
                z: x.iter().map(|v| v.ln() - centre).collect(),
                ln_l: x
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| truth.loss(v).ln() + 0.01 * ((i * 7 % 5) as f64 - 2.0))
                    .collect(),
                f: 0.5,
                delta,
            };
            for t in [
                [0.3, -1.0, 0.5, 0.3, 0.2],
                [-2.0, 0.5, 0.1, 0.9, -3.0],
                [1.0, 3.0, 1.2, 0.05, 4.0],
            ] {
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
        // θ ↔ law round trip.
        let t = [1.5f64.ln(), 2.0, 0.6, 0.2, 1.0];
        let law = BrokenPowerLaw::from_theta(&t, centre, 0.5);
        let z = 1e3f64.ln() - centre;
        let p = Problem { z: vec![z], ln_l: vec![0.0], f: 0.5, delta: 1.0 };
        assert!((p.predict(&t, z).0 - law.loss(1e3).ln()).abs() < 1e-12);
    }
}
