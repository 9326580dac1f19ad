//! Approach 3: the parametric law `L(N, D) = E + A/N^α + B/D^β` (Hoffmann et al. 2022).
//!
//! # Method
//!
//! With `θ = (a, b, e, α, β)`, `A = exp(a)`, `B = exp(b)`, `E = exp(e)`, the fit minimises
//!
//! ```text
//! Σᵢ Huber_δ( LSE(a − α ln Nᵢ, b − β ln Dᵢ, e) − ln Lᵢ )
//! ```
//!
//! (`LSE` = log-sum-exp, so the prediction is `ln(A/N^α + B/D^β + E)` computed stably;
//! `Huber_δ(r) = r²/2` for `|r| ≤ δ`, `δ(|r| − δ/2)` beyond; δ = 10⁻³ by default). The
//! gradient is analytic: with softmax weights `wⱼ` of the three LSE terms and `ψ = Huber'`,
//! `∂/∂a = Σ ψ w₁`, `∂/∂α = −Σ ψ w₁ ln N`, and likewise for `b, β` and `e`.
//!
//! L-BFGS ([`lbfgs`](crate::lbfgs), in its allocation-free fixed-size form) runs from every
//! point of Chinchilla's grid — `α, β ∈ {0, 0.5, …, 2}`, `e ∈ {−1, −0.5, …, 1}`,
//! `a, b ∈ {0, 5, …, 25}`, 4,500 starts — in parallel with rayon, and the lowest objective is
//! kept. (The optimiser works on the objective divided by `n·δ`, which has the same minimisers
//! and better-scaled stopping tests.)
//!
//! Most starts end in the same few basins, so starts share them: they run in fixed batches
//! (in a fixed shuffled order), the iterates of finished starts are recorded by cell of
//! `θ` space (side 0.1), and a start whose iterate enters a recorded cell with an objective no
//! lower than was recorded there stops and counts as having reached that basin's optimum. On
//! the benchmark ([`fit_benchmark`](super::fit_benchmark): 256 points) this cuts the L-BFGS
//! iterations from 275,000 to 57,000 with the same optimum (Σ Huber equal to 12 digits); it
//! does not depend on the number of threads. An evaluation allocates nothing and takes one
//! `exp` per distinct `N` and `D` and one `ln` per point inside δ only.
//! Bootstrap resamples refit from [`JointFit::warm_starts`].
//!
//! Compute-optimal allocation under `C = k·N·D` with constant `k` (6 for `C = 6ND`):
//! `N_opt = G (C/k)^(β/(α+β))`, `D_opt = G⁻¹ (C/k)^(α/(α+β))`, `G = (αA/(βB))^(1/(α+β))`.
//! When `k` depends on `N` (recorded FLOPs), the optimum is found numerically along each
//! iso-FLOP line.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use super::data::{ComputeModel, ScalingPoint, distinct, validate_points};
use super::{Frontier, FrontierPoint, check_losses_fall, logspace};
use crate::error::AnalysisError;
use crate::optim::{LbfgsOptions, Stop, lbfgs_fixed};

/// `L(N, D) = E + A/N^α + B/D^β`, with `N` parameters, `D` training tokens and `L` (and `E`)
/// in the unit of the fitted losses (nats per token for scalinglab's runs).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JointLaw {
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
}

impl JointLaw {
    /// Hoffmann et al. 2022's published fit: `E = 1.69, A = 406.4, B = 410.7, α = 0.34,
    /// β = 0.28`.
    pub const CHINCHILLA: JointLaw =
        JointLaw { e: 1.69, a: 406.4, b: 410.7, alpha: 0.34, beta: 0.28 };

    /// `L(N, D)` for `n` parameters trained on `d` tokens.
    pub fn loss(&self, n: f64, d: f64) -> f64 {
        self.e + self.a * n.powf(-self.alpha) + self.b * d.powf(-self.beta)
    }

    /// `G = (αA/(βB))^(1/(α+β))`; NaN unless `α, β > 0`.
    pub fn g(&self) -> f64 {
        if self.alpha > 0.0 && self.beta > 0.0 {
            (self.alpha * self.a / (self.beta * self.b)).powf(1.0 / (self.alpha + self.beta))
        } else {
            f64::NAN
        }
    }

    /// `a = β/(α+β)` in `N_opt ∝ C^a` (under a constant `k`).
    pub fn n_opt_exponent(&self) -> f64 {
        self.beta / (self.alpha + self.beta)
    }

    /// `b = α/(α+β)` in `D_opt ∝ C^b` (under a constant `k`).
    pub fn d_opt_exponent(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// The closed-form optimum `(N_opt, D_opt)` at compute `c` (FLOPs) under `C = k·N·D`:
    /// `N_opt = G (C/k)^(β/(α+β))`, `D_opt = G⁻¹ (C/k)^(α/(α+β))`. `None` unless
    /// `α, β > 0` and the result is finite.
    pub fn optimum_closed_form(&self, c: f64, k: f64) -> Option<(f64, f64)> {
        let g = self.g();
        let ck = c / k;
        let n = g * ck.powf(self.n_opt_exponent());
        let d = ck.powf(self.d_opt_exponent()) / g;
        (n.is_finite() && d.is_finite() && n > 0.0 && d > 0.0).then_some((n, d))
    }

    /// The optimum `(N_opt, D_opt)` at compute `c` under `cm`: closed form when `k` is
    /// constant, else a scan of `ln N` followed by golden-section refinement. `None` when
    /// `α` or `β` is not positive or the minimum is not bracketed.
    pub fn optimum(&self, c: f64, cm: &ComputeModel) -> Option<(f64, f64)> {
        if let Some(k) = cm.constant() {
            return self.optimum_closed_form(c, k);
        }
        // Start from the closed form with k at the current guess (a short fixed-point walk).
        let mut n0 = self.optimum_closed_form(c, 6.0)?.0;
        for _ in 0..4 {
            n0 = self.optimum_closed_form(c, cm.k(n0))?.0;
        }
        let f = |u: f64| {
            let n = u.exp();
            self.loss(n, cm.d_for(n, c))
        };
        let u0 = n0.ln();
        let grid: Vec<f64> = (0..=160).map(|i| u0 - 4.0 + 8.0 * i as f64 / 160.0).collect();
        let vals: Vec<f64> = grid.iter().map(|&u| f(u)).collect();
        let (i, _) = vals.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
        if i == 0 || i == grid.len() - 1 {
            return None;
        }
        let u = golden_min(f, grid[i - 1], grid[i + 1]);
        let n = u.exp();
        Some((n, cm.d_for(n, c)))
    }

    /// The law's compute-optimal frontier over `[c_lo, c_hi]`, sampled at 16 budgets and
    /// fitted as in [`Frontier`] (exact power laws under a constant `k`). `c_lo` and `c_hi`
    /// are in FLOPs.
    ///
    /// # Errors
    ///
    /// [`AnalysisError::FitFailed`] when there is no optimum at some budget (`α` or `β` not
    /// positive, or an unbracketed minimum under an `N`-dependent `k`), or when the power
    /// laws cannot be fitted to the optima (all at one model size).
    pub fn frontier(
        &self,
        cm: &ComputeModel,
        c_lo: f64,
        c_hi: f64,
    ) -> Result<Frontier, AnalysisError> {
        let mut pts = Vec::new();
        for c in logspace(c_lo, c_hi.max(c_lo * 1.0001), 16) {
            let (n, d) = self.optimum(c, cm).ok_or_else(|| AnalysisError::FitFailed {
                context: "approach 3: compute-optimal allocation".into(),
                message: format!(
                    "no optimum at C = {c:.3e} for α = {}, β = {} (both must be > 0)",
                    self.alpha, self.beta
                ),
            })?;
            pts.push(FrontierPoint { c, n_opt: n, d_opt: d, loss: self.loss(n, d) });
        }
        Frontier::fit("approach 3", pts)
    }

    fn from_theta(t: &[f64; 5]) -> Self {
        JointLaw { a: t[0].exp(), b: t[1].exp(), e: t[2].exp(), alpha: t[3], beta: t[4] }
    }
}

/// Minimiser of a unimodal `f` on `[lo, hi]` by golden-section search.
pub(crate) fn golden_min(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    const R: f64 = 0.618_033_988_749_894_9;
    let mut x1 = hi - R * (hi - lo);
    let mut x2 = lo + R * (hi - lo);
    let (mut f1, mut f2) = (f(x1), f(x2));
    for _ in 0..80 {
        if f1 <= f2 {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - R * (hi - lo);
            f1 = f(x1);
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + R * (hi - lo);
            f2 = f(x2);
        }
        if hi - lo < 1e-10 * (1.0 + lo.abs()) {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Options of [`fit_joint_law`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JointFitOptions {
    /// Huber threshold δ on log residuals. Default 1e-3 (Chinchilla).
    pub huber_delta: f64,
    /// Number of L-BFGS starts. 4,500 (the default) is exactly Chinchilla's grid; fewer take a
    /// seeded random subset of it, more add seeded uniform points in the grid's box.
    pub starts: usize,
    /// Seed for subsetting or extending the grid.
    pub seed: u64,
    /// Iteration cap of each L-BFGS run. Default 500.
    pub max_iters: usize,
}

impl Default for JointFitOptions {
    /// δ = 1e-3, 4,500 starts, seed 0, 500 iterations.
    fn default() -> Self {
        JointFitOptions { huber_delta: 1e-3, starts: 4500, seed: 0, max_iters: 500 }
    }
}

/// A fitted approach-3 law with its diagnostics.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JointFit {
    /// The fitted law.
    pub law: JointLaw,
    /// `Σᵢ Huber_δ(rᵢ)` at the optimum (Chinchilla's objective, not divided by anything).
    pub objective: f64,
    /// δ used.
    pub huber_delta: f64,
    /// Points fitted.
    pub n_points: usize,
    /// `ln Lᵢ − ln L̂ᵢ`, in input order.
    pub residuals: Vec<f64>,
    /// Root mean square of `residuals`.
    pub rms_log_residual: f64,
    /// L-BFGS starts run.
    pub starts: usize,
    /// Starts whose L-BFGS met a convergence test (or that were stopped early in a basin found
    /// by a converged start).
    pub converged_starts: usize,
    /// Starts that ended within a relative 10⁻⁶ of the best objective (a start stopped early
    /// counts at the optimum it joined).
    pub starts_at_best: usize,
    /// Starts stopped early because they reached an optimum found by an earlier start
    /// ([`fit_joint_law`]'s basin sharing); they count as converged, at that optimum.
    #[serde(default)]
    pub stopped_early: usize,
    /// L-BFGS iterations of all starts together.
    #[serde(default)]
    pub iterations: usize,
    /// The best distinct optima `(a, b, e, α, β)` (best first, at most 8, more than 10⁻³ apart
    /// in some component) with an objective within 1.5 times the best: warm starts for
    /// bootstrap resamples and fit windows. (An optimum half again as bad as the best on all
    /// the data is not where a resample's optimum lies; refitting from it cost most of the
    /// bootstrap's time.)
    pub warm_starts: Vec<[f64; 5]>,
}

/// Chinchilla's initialisation grid, `(a, b, e, α, β)` with `a, b ∈ {0, 5, …, 25}`,
/// `e ∈ {−1, −0.5, …, 1}`, `α, β ∈ {0, 0.5, …, 2}`: 4,500 points.
pub fn chinchilla_grid() -> Vec<[f64; 5]> {
    let mut out = Vec::with_capacity(4500);
    for ia in 0..6 {
        for ib in 0..6 {
            for ie in 0..5 {
                for ial in 0..5 {
                    for ibe in 0..5 {
                        out.push([
                            5.0 * ia as f64,
                            5.0 * ib as f64,
                            -1.0 + 0.5 * ie as f64,
                            0.5 * ial as f64,
                            0.5 * ibe as f64,
                        ]);
                    }
                }
            }
        }
    }
    out
}

/// `starts` initial points: Chinchilla's grid when `starts` = 4,500; a seeded random subset
/// of it when fewer; the grid plus seeded uniform points in its box
/// (`a, b ∈ [0, 25]`, `e ∈ [−1, 1]`, `α, β ∈ [0, 2]`) when more.
pub fn initial_points(starts: usize, seed: u64) -> Vec<[f64; 5]> {
    let mut grid = chinchilla_grid();
    if starts == grid.len() {
        return grid;
    }
    let mut rng = ChaCha12Rng::seed_from_u64(seed ^ 0x5EED_0003);
    if starts < grid.len() {
        // Partial Fisher–Yates, then restore grid order.
        let mut idx: Vec<usize> = (0..grid.len()).collect();
        for i in 0..starts {
            let j = rng.random_range(i..idx.len());
            idx.swap(i, j);
        }
        let mut keep = idx[..starts].to_vec();
        keep.sort_unstable();
        return keep.into_iter().map(|i| grid[i]).collect();
    }
    while grid.len() < starts {
        grid.push([
            rng.random_range(0.0..25.0),
            rng.random_range(0.0..25.0),
            rng.random_range(-1.0..1.0),
            rng.random_range(0.0..2.0),
            rng.random_range(0.0..2.0),
        ]);
    }
    grid
}

/// The approach-3 objective on one data set.
pub(crate) struct JointProblem {
    /// `(ln N, ln D, ln L)` of each point, with the indices of its `ln N` in `xs` and its
    /// `ln D` in `ys`.
    pts: Vec<ProblemPoint>,
    /// The distinct values of `ln N` (ascending).
    xs: Vec<f64>,
    /// The distinct values of `ln D` (ascending).
    ys: Vec<f64>,
    delta: f64,
}

#[derive(Clone, Copy)]
struct ProblemPoint {
    x: f64,
    y: f64,
    ln_l: f64,
    /// `L` and `1/L`.
    l: f64,
    inv_l: f64,
    /// `L e^(−δ)` and `L e^δ`: the predictions `L̂` with `|ln L̂ − ln L| ≤ δ`.
    lo: f64,
    hi: f64,
    ix: u32,
    iy: u32,
}

/// The sorted distinct values of `v` (compared bit for bit) and each value's index among them.
fn distinct_index(v: &[f64]) -> (Vec<f64>, Vec<u32>) {
    let mut xs = v.to_vec();
    xs.sort_by(f64::total_cmp);
    xs.dedup_by(|a, b| a.to_bits() == b.to_bits());
    let idx =
        v.iter().map(|x| xs.binary_search_by(|p| p.total_cmp(x)).map_or(0, |i| i as u32)).collect();
    (xs, idx)
}

impl JointProblem {
    pub(crate) fn new(points: &[ScalingPoint], delta: f64) -> Self {
        let ln_n: Vec<f64> = points.iter().map(|p| p.n.ln()).collect();
        let ln_d: Vec<f64> = points.iter().map(|p| p.d.ln()).collect();
        let (xs, ix) = distinct_index(&ln_n);
        let (ys, iy) = distinct_index(&ln_d);
        let pts = points
            .iter()
            .enumerate()
            .map(|(i, p)| ProblemPoint {
                x: ln_n[i],
                y: ln_d[i],
                ln_l: p.loss.ln(),
                l: p.loss,
                inv_l: 1.0 / p.loss,
                lo: p.loss * (-delta).exp(),
                hi: p.loss * delta.exp(),
                ix: ix[i],
                iy: iy[i],
            })
            .collect();
        JointProblem { pts, xs, ys, delta }
    }

    /// Prediction `LSE(a − α x, b − β y, e)` and the three softmax weights.
    #[inline]
    fn predict(t: &[f64], x: f64, y: f64) -> (f64, [f64; 3]) {
        let t1 = t[0] - t[3] * x;
        let t2 = t[1] - t[4] * y;
        let t3 = t[2];
        let m = t1.max(t2).max(t3);
        let (e1, e2, e3) = ((t1 - m).exp(), (t2 - m).exp(), (t3 - m).exp());
        let s = e1 + e2 + e3;
        (m + s.ln(), [e1 / s, e2 / s, e3 / s])
    }

    /// `Σ Huber_δ(r)` (Chinchilla's objective).
    pub(crate) fn huber_sum(&self, t: &[f64]) -> f64 {
        self.residuals(t).iter().map(|&r| huber(r, self.delta).0).sum()
    }

    /// `ln L − prediction` for each point.
    pub(crate) fn residuals(&self, t: &[f64]) -> Vec<f64> {
        self.pts.iter().map(|p| p.ln_l - Self::predict(t, p.x, p.y).0).collect()
    }

    /// `(1/(nδ)) Σ Huber_δ(pred − ln L)` and its gradient in `(a, b, e, α, β)` (allocates its
    /// scratch; the fits use [`JointEval`]).
    #[cfg(test)]
    pub(crate) fn objective(&self, t: &[f64]) -> (f64, Vec<f64>) {
        let t: [f64; 5] = t.try_into().expect("θ has 5 components");
        let (f, g) = self.evaluator().objective(&t);
        (f, g.to_vec())
    }

    /// An evaluator with its own scratch, for one L-BFGS run at a time.
    pub(crate) fn evaluator(&self) -> JointEval<'_> {
        let (nx, ny) = (self.xs.len(), self.ys.len());
        JointEval {
            prob: self,
            ea: vec![0.0; nx],
            eb: vec![0.0; ny],
            qa: vec![0.0; nx],
            qb: vec![0.0; ny],
        }
    }
}

/// [`JointProblem`]'s objective and gradient with scratch per distinct `N` and `D`: an
/// evaluation allocates nothing.
///
/// With `s = A/N^α + B/D^β + E` (so that the prediction is `ln s`), an evaluation takes
///
/// - one `exp` per distinct model size and token count for `A/N^α` and `B/D^β` (16 + 16 on
///   the benchmark's 16 × 16 grid, instead of two per point);
/// - one `ln` per point inside the Huber threshold only: a point with `s > L e^δ` (`s < L e^(−δ)`)
///   contributes `δ(|r| − δ/2)` with `|r| = ln(s/L)` (`ln(L/s)`), and these logarithms are
///   summed as the logarithm of a running product (taken whenever it passes 10²⁰⁰);
/// - one division per point: the gradient needs `ψ/s` per point (`ψ` = Huber′), summed per
///   distinct `N` (then times `A/N^α`, and `−ln N·A/N^α` for `α`), per distinct `D`, and over
///   all points (times `E`).
///
/// Where `s` overflows or underflows, the point takes the max-shifted log-sum-exp instead.
pub(crate) struct JointEval<'a> {
    prob: &'a JointProblem,
    ea: Vec<f64>,
    eb: Vec<f64>,
    qa: Vec<f64>,
    qb: Vec<f64>,
}

impl JointEval<'_> {
    /// `(1/(nδ)) Σ Huber_δ(pred − ln L)` and its gradient in `(a, b, e, α, β)`.
    pub(crate) fn objective(&mut self, t: &[f64; 5]) -> (f64, [f64; 5]) {
        let prob = self.prob;
        let d = prob.delta;
        for (ea, x) in self.ea.iter_mut().zip(&prob.xs) {
            *ea = (t[0] - t[3] * x).exp();
        }
        for (eb, y) in self.eb.iter_mut().zip(&prob.ys) {
            *eb = (t[1] - t[4] * y).exp();
        }
        self.qa.fill(0.0);
        self.qb.fill(0.0);
        let ee = t[2].exp();
        // Σ r²/2 inside δ; the count outside, and Σ |r| outside as ln(acc_prod) + acc_log.
        let mut quad = 0.0;
        let mut outside = 0usize;
        let mut acc_prod = 1.0;
        let mut acc_log = 0.0;
        // Σ ψ/s over all points, for ∂/∂e.
        let mut qe = 0.0;
        // Points on the max-shifted path: their Huber sum and gradient.
        let mut f_shifted = 0.0;
        let mut g_shifted = [0.0; 5];
        for p in &prob.pts {
            let (ix, iy) = (p.ix as usize, p.iy as usize);
            let s = self.ea[ix] + self.eb[iy] + ee;
            if !(s.is_finite() && s > 1e-300) {
                let (pred, w) = JointProblem::predict(t, p.x, p.y);
                let (h, psi) = huber(pred - p.ln_l, d);
                f_shifted += h;
                g_shifted[0] += psi * w[0];
                g_shifted[1] += psi * w[1];
                g_shifted[2] += psi * w[2];
                g_shifted[3] -= psi * w[0] * p.x;
                g_shifted[4] -= psi * w[1] * p.y;
                continue;
            }
            let inv_s = 1.0 / s;
            let psi = if s > p.hi || s < p.lo {
                // e^|r| ≥ e^δ > 1, so the product only grows.
                let (ratio, psi) = if s > p.hi { (s * p.inv_l, d) } else { (p.l * inv_s, -d) };
                outside += 1;
                let next = acc_prod * ratio;
                if next < 1e200 {
                    acc_prod = next;
                } else {
                    acc_log += acc_prod.ln() + ratio.ln();
                    acc_prod = 1.0;
                }
                psi
            } else {
                let r = s.ln() - p.ln_l;
                quad += 0.5 * r * r;
                r
            };
            let q = psi * inv_s;
            self.qa[ix] += q;
            self.qb[iy] += q;
            qe += q;
        }
        let abs_sum = acc_prod.ln() + acc_log;
        let f = quad + d * abs_sum - outside as f64 * (0.5 * d * d) + f_shifted;
        // A size or token count whose term overflowed has all its points on the shifted path
        // (q = 0): skipped, as ∞ · 0 would be NaN.
        let mut g = g_shifted;
        for ((ea, qa), x) in self.ea.iter().zip(&self.qa).zip(&prob.xs) {
            if *qa == 0.0 {
                continue;
            }
            let v = ea * qa;
            g[0] += v;
            g[3] -= v * x;
        }
        for ((eb, qb), y) in self.eb.iter().zip(&self.qb).zip(&prob.ys) {
            if *qb == 0.0 {
                continue;
            }
            let v = eb * qb;
            g[1] += v;
            g[4] -= v * y;
        }
        if qe != 0.0 {
            g[2] += ee * qe;
        }
        let scale = 1.0 / (prob.pts.len() as f64 * d);
        (f * scale, g.map(|v| v * scale))
    }
}

/// `(Huber_δ(r), Huber_δ'(r))`: `r²/2` for `|r| ≤ δ`, `δ(|r| − δ/2)` beyond (Chinchilla's loss on
/// log residuals).
#[inline]
pub(crate) fn huber(r: f64, delta: f64) -> (f64, f64) {
    if r.abs() <= delta {
        (0.5 * r * r, r)
    } else {
        (delta * (r.abs() - 0.5 * delta), delta * r.signum())
    }
}

/// Validates points and options for approach 3.
fn validate(points: &[ScalingPoint], opts: &JointFitOptions) -> Result<(), AnalysisError> {
    const CTX: &str = "approach 3";
    validate_points(CTX, points)?;
    if !(opts.huber_delta.is_finite() && opts.huber_delta > 0.0) {
        return Err(AnalysisError::invalid(
            "approach 3: huber_delta",
            format!("Huber δ = {} must be finite and > 0", opts.huber_delta),
        ));
    }
    if opts.starts == 0 {
        return Err(AnalysisError::invalid(
            "approach 3: starts",
            "at least one start is needed (got 0)",
        ));
    }
    if points.len() < 5 {
        return Err(AnalysisError::TooFewPoints {
            context: CTX.into(),
            n: points.len(),
            needed: 5,
            detail: "L(N, D) = E + A/N^α + B/D^β has 5 free parameters".into(),
        });
    }
    let (dn, dd) = (distinct(points.iter().map(|p| p.n)), distinct(points.iter().map(|p| p.d)));
    if dn < 2 || dd < 2 {
        let (which, v) =
            if dn < 2 { ("model size N", points[0].n) } else { ("token count D", points[0].d) };
        return Err(AnalysisError::TooFewPoints {
            context: CTX.into(),
            n: dn.min(dd),
            needed: 2,
            detail: format!(
                "a single {which} ({v}) among {} points: its exponent and amplitude are not identifiable",
                points.len()
            ),
        });
    }
    check_losses_fall(CTX, points)
}

/// Fits `L(N, D) = E + A/N^α + B/D^β` (see the [module docs](self)).
///
/// # Errors
///
/// Never panics, never a silently meaningless exponent. A non-finite or non-positive `N`, `D`, `C`
/// or loss (naming the point and run); fewer than 5 points; a single model size or token count;
/// losses that do not fall with compute; a fitted `α ≤ 0` or `β ≤ 0`, or a term `A/N^α` (`B/D^β`)
/// that explains less than 1% of the losses' range over the data (the loss does not fall with `N`
/// (`D`)); no start giving a finite objective.
///
/// ```
/// use scalinglab_analysis::frontier::{fit_joint_law, JointFitOptions, JointLaw, ScalingPoint};
/// let law = JointLaw::CHINCHILLA;
/// let mut pts = Vec::new();
/// for &n in &[1e7, 3e7, 1e8, 3e8, 1e9] {
///     for &d in &[1e9, 4e9, 1.6e10, 6.4e10] {
///         pts.push(ScalingPoint { run_id: String::new(), n, d, c: 6.0 * n * d, loss: law.loss(n, d) });
///     }
/// }
/// let fit = fit_joint_law(&pts, &JointFitOptions { starts: 300, ..Default::default() }).unwrap();
/// assert!((fit.law.alpha - 0.34).abs() < 1e-3 && (fit.law.beta - 0.28).abs() < 1e-3);
/// ```
pub fn fit_joint_law(
    points: &[ScalingPoint],
    opts: &JointFitOptions,
) -> Result<JointFit, AnalysisError> {
    validate(points, opts)?;
    fit_from(points, &initial_points(opts.starts, opts.seed), opts, Visit::Spread)
}

/// Fits from the given starts (validated input).
pub(crate) fn fit_joint_from(
    points: &[ScalingPoint],
    starts: &[[f64; 5]],
    opts: &JointFitOptions,
) -> Result<JointFit, AnalysisError> {
    validate(points, opts)?;
    fit_from(points, starts, opts, Visit::Given)
}

/// How a multi-start fit visits its starts ([`run_starts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Visit {
    /// In a fixed pseudo-random order, so that the first batches sample the whole grid.
    Spread,
    /// In the given order (warm starts, best first).
    Given,
}

/// Side of the cells of `θ = (a, b, e, α, β)` space in which [`run_starts`] records where
/// starts went; also the distance (largest component) within which two optima are one basin.
const BASIN_CELL: f64 = 0.1;
/// Largest batch of starts run in parallel against the same record of visited cells.
const BASIN_MAX_BATCH: usize = 64;
/// Warm starts ([`JointFit::warm_starts`]) are optima with an objective within this factor of
/// the best.
const WARM_START_RATIO: f64 = 1.5;

/// The end of one start: its own optimum, or the index of the basin it joined.
#[derive(Clone, Copy, Debug)]
enum StartEnd {
    Own { f: f64, x: [f64; 5], converged: bool },
    Joined { basin: usize },
}

/// The optima `(objective, θ)` of a multi-start fit per start (in start order) and whether
/// each converged; the starts stopped early, and the L-BFGS iterations of all starts.
struct Starts {
    results: Vec<(f64, [f64; 5], bool)>,
    stopped: usize,
    iterations: usize,
}

/// The cell of side [`BASIN_CELL`] that holds `x`.
fn cell(x: &[f64; 5]) -> [i64; 5] {
    x.map(|v| (v / BASIN_CELL).floor() as i64)
}

/// Runs L-BFGS from every start, sharing basins.
///
/// Starts run in batches of 1, 2, 4, … then [`BASIN_MAX_BATCH`] starts, each batch in
/// parallel. The iterates of every start that ended in a basin (converged, or stopped in a
/// known basin) are recorded by cell of `θ` space, with the lowest objective seen in the cell
/// and the basin. A start of a later batch whose iterate enters a recorded cell with an
/// objective no lower than the cell's is stopped there and counts as having reached that basin's
/// optimum (the best optimum found in it): it was about to retrace a descent already made.
///
/// Converged optima within [`BASIN_CELL`] of each other (largest component) are one basin,
/// represented by the lowest. A batch only sees the record of earlier batches, and batches are
/// fixed, so the result does not depend on timing or on the number of threads.
fn run_starts(prob: &JointProblem, starts: &[[f64; 5]], lb: &LbfgsOptions, visit: Visit) -> Starts {
    let mut order: Vec<usize> = (0..starts.len()).collect();
    if visit == Visit::Spread {
        let mut rng = ChaCha12Rng::seed_from_u64(0xBA51_0003);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
    }
    // Optima of converged starts `(objective, θ)`, more than BASIN_CELL apart.
    let mut basins: Vec<(f64, [f64; 5])> = Vec::new();
    // Cell → (lowest objective of a recorded iterate in it, that iterate's basin).
    let mut cells: HashMap<[i64; 5], (f64, usize)> = HashMap::new();
    let mut ends: Vec<Option<StartEnd>> = vec![None; starts.len()];
    let mut iterations = 0;
    let mut done = 0;
    let mut batch = 1;
    while done < order.len() {
        let ids = &order[done..(done + batch).min(order.len())];
        let visited = &cells;
        // Each start's end, iterates `(θ, objective)` and iteration count.
        type Ran = (StartEnd, Vec<([f64; 5], f64)>, usize);
        let batch_ends: Vec<Ran> = ids
            .par_iter()
            .map(|&i| {
                let mut eval = prob.evaluator();
                let mut joined = None;
                let mut path = Vec::new();
                let m = lbfgs_fixed(
                    |t| eval.objective(t),
                    &starts[i],
                    lb,
                    |x, fx, _| {
                        path.push((*x, fx));
                        joined = visited.get(&cell(x)).filter(|(fc, _)| fx >= *fc).map(|c| c.1);
                        joined.is_some()
                    },
                );
                let end = match (m.stop, joined) {
                    (Stop::Asked, Some(basin)) => StartEnd::Joined { basin },
                    _ => {
                        path.push((m.x, m.f));
                        let ok = m.f.is_finite() && m.x.iter().all(|v| v.is_finite());
                        StartEnd::Own {
                            f: if ok { m.f } else { f64::INFINITY },
                            x: m.x,
                            converged: m.stop == Stop::Converged,
                        }
                    }
                };
                (end, path, m.iterations)
            })
            .collect();
        // Record the batch in visiting order.
        for (&i, (end, path, its)) in ids.iter().zip(batch_ends) {
            iterations += its;
            let basin = match end {
                StartEnd::Joined { basin } => Some(basin),
                StartEnd::Own { f, x, converged: true } if f.is_finite() => {
                    let near = basins.iter().position(|(_, xb)| {
                        x.iter().zip(xb).all(|(a, b)| (a - b).abs() <= BASIN_CELL)
                    });
                    Some(match near {
                        Some(k) => {
                            if f < basins[k].0 {
                                basins[k] = (f, x);
                            }
                            k
                        }
                        None => {
                            basins.push((f, x));
                            basins.len() - 1
                        }
                    })
                }
                StartEnd::Own { .. } => None,
            };
            if let Some(basin) = basin {
                for (x, f) in path.iter().filter(|(_, f)| f.is_finite()) {
                    let c = cells.entry(cell(x)).or_insert((*f, basin));
                    if *f < c.0 {
                        *c = (*f, basin);
                    }
                }
            }
            ends[i] = Some(end);
        }
        done += ids.len();
        batch = (2 * batch).min(BASIN_MAX_BATCH);
    }
    let mut stopped = 0;
    let results = ends
        .into_iter()
        .map(|end| match end.expect("every start was run") {
            StartEnd::Own { f, x, converged } => (f, x, converged),
            StartEnd::Joined { basin } => {
                stopped += 1;
                (basins[basin].0, basins[basin].1, true)
            }
        })
        .collect();
    Starts { results, stopped, iterations }
}

fn fit_from(
    points: &[ScalingPoint],
    starts: &[[f64; 5]],
    opts: &JointFitOptions,
    visit: Visit,
) -> Result<JointFit, AnalysisError> {
    let prob = JointProblem::new(points, opts.huber_delta);
    let lb = LbfgsOptions { max_iters: opts.max_iters, history: 10, grad_tol: 1e-9, f_tol: 1e-13 };
    let run = run_starts(&prob, starts, &lb, visit);
    let mut results = run.results;
    let converged_starts = results.iter().filter(|r| r.2).count();
    // Stable sort: ties keep start order, so the result does not depend on the thread count.
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (best_f, best_x, _) = results[0];
    if !best_f.is_finite() {
        return Err(AnalysisError::FitFailed {
            context: "approach 3".into(),
            message: format!("none of {} starts gave a finite objective", starts.len()),
        });
    }
    let starts_at_best =
        results.iter().filter(|r| r.0 <= best_f + 1e-6 * best_f.abs() + 1e-15).count();
    let mut warm_starts: Vec<[f64; 5]> = Vec::new();
    for (f, x, _) in &results {
        if warm_starts.len() >= 8 || !f.is_finite() || *f > WARM_START_RATIO * best_f {
            break;
        }
        if warm_starts.iter().all(|w| w.iter().zip(x).any(|(a, b)| (a - b).abs() > 1e-3)) {
            warm_starts.push(*x);
        }
    }
    let law = JointLaw::from_theta(&best_x);
    check_law(&law, points)?;
    let residuals = prob.residuals(&best_x);
    let rms = (residuals.iter().map(|r| r * r).sum::<f64>() / residuals.len() as f64).sqrt();
    Ok(JointFit {
        law,
        objective: prob.huber_sum(&best_x),
        huber_delta: opts.huber_delta,
        n_points: points.len(),
        residuals,
        rms_log_residual: rms,
        starts: starts.len(),
        converged_starts,
        starts_at_best,
        stopped_early: run.stopped,
        iterations: run.iterations,
        warm_starts,
    })
}

/// Rejects laws whose exponents say the loss does not fall with `N` or `D`.
fn check_law(law: &JointLaw, points: &[ScalingPoint]) -> Result<(), AnalysisError> {
    let fail =
        |message: String| Err(AnalysisError::FitFailed { context: "approach 3".into(), message });
    if !(law.e.is_finite() && law.a.is_finite() && law.b.is_finite()) {
        return fail(format!("non-finite parameters {law:?}"));
    }
    let range = |f: fn(&ScalingPoint) -> f64| {
        let lo = points.iter().map(f).fold(f64::INFINITY, f64::min);
        let hi = points.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    };
    let (l_lo, l_hi) = range(|p| p.loss);
    let spread = l_hi - l_lo;
    for (name, var, amp, exp, (lo, hi)) in
        [("α", "N", law.a, law.alpha, range(|p| p.n)), ("β", "D", law.b, law.beta, range(|p| p.d))]
    {
        if exp <= 0.0 {
            return fail(format!(
                "fitted {name} = {exp:.4} ≤ 0: the loss does not fall with {var} over {lo:.3e}–{hi:.3e}; no \
                 compute-optimal allocation exists"
            ));
        }
        let drop = amp * (lo.powf(-exp) - hi.powf(-exp));
        if drop.is_nan() || drop < 0.01 * spread {
            return fail(format!(
                "the fitted {var} term falls by only {drop:.3e} nats over {var} = {lo:.3e}–{hi:.3e}, under 1% of the \
                 losses' range {spread:.3e} ({name} = {exp:.4}): the loss does not fall with {var}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(law: &JointLaw, ns: &[f64], ds: &[f64], noise: f64, seed: u64) -> Vec<ScalingPoint> {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for &n in ns {
            for &d in ds {
                let z: f64 = rng.random_range(-1.0..1.0);
                out.push(ScalingPoint {
                    run_id: format!("{n}_{d}"),
                    n,
                    d,
                    c: 6.0 * n * d,
                    loss: law.loss(n, d) * (noise * z).exp(),
                });
            }
        }
        out
    }

    #[test]
    fn gradient_matches_central_differences() {
        let law = JointLaw { e: 1.8, a: 300.0, b: 500.0, alpha: 0.3, beta: 0.3 };
        let p = pts(&law, &[1e6, 1e7, 1e8], &[1e8, 1e9, 1e10], 0.02, 1);
        for delta in [1e-3, 0.05, 10.0] {
            let prob = JointProblem::new(&p, delta);
            // The last start overflows exp(a − α ln N) and takes the max-shifted path.
            for t in [
                [5.0, 6.0, 0.5, 0.3, 0.3],
                [0.0, 25.0, -1.0, 2.0, 0.0],
                [6.1, 6.0, 0.6, 0.35, 0.29],
                [720.0, 6.0, 0.5, 0.3, 0.3],
            ] {
                let (_, g) = prob.objective(&t);
                for k in 0..5 {
                    let h = 1e-7;
                    let mut tp = t;
                    tp[k] += h;
                    let mut tm = t;
                    tm[k] -= h;
                    let fd = (prob.objective(&tp).0 - prob.objective(&tm).0) / (2.0 * h);
                    assert!(
                        (fd - g[k]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "δ {delta} at {t:?} component {k}: analytic {} vs fd {fd}",
                        g[k]
                    );
                }
            }
        }
    }

    #[test]
    fn evaluator_matches_the_per_point_formula() {
        // The evaluator groups the gradient by distinct N and D and sums |r| through a running
        // product: against the plain per-point sums, on a grid with repeated N and D.
        let law = JointLaw { e: 1.8, a: 300.0, b: 500.0, alpha: 0.3, beta: 0.3 };
        let p = pts(&law, &[1e6, 1e7, 1e8, 1e9], &[1e8, 1e9, 1e10], 0.02, 2);
        for delta in [1e-3, 0.05] {
            let prob = JointProblem::new(&p, delta);
            let scale = 1.0 / (p.len() as f64 * delta);
            for t in [
                [5.0, 6.0, 0.5, 0.3, 0.3],
                [6.1, 6.0, 0.6, 0.35, 0.29],
                [0.0, 25.0, -1.0, 2.0, 0.0],
                [720.0, 6.0, 0.5, 0.3, 0.3], // A/N^α overflows for the small models
                [-800.0, -800.0, -800.0, 0.0, 0.0], // s underflows everywhere
            ] {
                let (f, g) = prob.evaluator().objective(&t);
                let mut want_g = [0.0; 5];
                for q in &p {
                    let (x, y) = (q.n.ln(), q.d.ln());
                    let (pred, w) = JointProblem::predict(&t, x, y);
                    let psi = huber(pred - q.loss.ln(), delta).1;
                    for (k, v) in [w[0], w[1], w[2], -w[0] * x, -w[1] * y].into_iter().enumerate() {
                        want_g[k] += psi * v * scale;
                    }
                }
                let want_f = prob.huber_sum(&t) * scale;
                assert!(
                    (f - want_f).abs() <= 1e-12 * want_f.abs(),
                    "δ {delta} {t:?}: {f} vs {want_f}"
                );
                for k in 0..5 {
                    let tol = 1e-12 * want_g.iter().fold(1e-300_f64, |m, v| m.max(v.abs()));
                    assert!(
                        (g[k] - want_g[k]).abs() <= tol,
                        "δ {delta} {t:?} ∂{k}: {} vs {}",
                        g[k],
                        want_g[k]
                    );
                }
            }
        }
    }

    #[test]
    fn basin_sharing_keeps_the_optimum_and_ignores_the_thread_count() {
        let law = JointLaw { e: 1.5, a: 40.0, b: 80.0, alpha: 0.4, beta: 0.3 };
        let p = pts(&law, &[1e4, 3e4, 1e5, 3e5, 1e6], &[1e5, 1e6, 1e7, 1e8], 0.02, 11);
        let opts = JointFitOptions { starts: 800, ..Default::default() };
        let with_threads = |k: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(k).build().unwrap();
            pool.install(|| fit_joint_law(&p, &opts).unwrap())
        };
        let fit = with_threads(1);
        assert_eq!(fit, with_threads(3), "the fit depends on the thread count");
        assert!(fit.stopped_early > 400, "{} of 800 starts stopped early", fit.stopped_early);
        // Every start run to its end, without sharing: the same best objective.
        let prob = JointProblem::new(&p, opts.huber_delta);
        let lb = LbfgsOptions { max_iters: 500, history: 10, grad_tol: 1e-9, f_tol: 1e-13 };
        let (best, iterations) = initial_points(800, 0)
            .par_iter()
            .map(|s| {
                let mut eval = prob.evaluator();
                let m = lbfgs_fixed(|t| eval.objective(t), s, &lb, |_, _, _| false);
                (prob.huber_sum(&m.x), m.iterations)
            })
            .reduce(|| (f64::INFINITY, 0), |a, b| (a.0.min(b.0), a.1 + b.1));
        assert!(
            (fit.objective - best).abs() <= 1e-9 * best,
            "shared {} vs alone {best}",
            fit.objective
        );
        assert!(
            2 * fit.iterations < iterations,
            "{} iterations shared, {iterations} alone",
            fit.iterations
        );
    }

    #[test]
    fn closed_form_optimum_matches_numeric_and_chinchilla() {
        let law = JointLaw::CHINCHILLA;
        // G from the published values, and the exponents a = β/(α+β), b = α/(α+β).
        let g = (0.34f64 * 406.4 / (0.28 * 410.7)).powf(1.0 / 0.62);
        assert!((law.g() - g).abs() < 1e-12);
        assert!((law.n_opt_exponent() - 0.28 / 0.62).abs() < 1e-12);
        let c = 5.76e23; // Chinchilla's budget
        let (n, d) = law.optimum_closed_form(c, 6.0).unwrap();
        assert!((6.0 * n * d / c - 1.0).abs() < 1e-12);
        // Independent check: brute-force scan of L(N, C/(6N)) over ln N.
        let mut best = (f64::INFINITY, 0.0);
        for i in 0..200_001 {
            let u = 15.0 + 15.0 * i as f64 / 200_000.0;
            let nn = f64::exp(u);
            let l = law.loss(nn, c / (6.0 * nn));
            if l < best.0 {
                best = (l, nn);
            }
        }
        assert!((best.1 / n - 1.0).abs() < 1e-3, "scan {} vs closed form {n}", best.1);
        // The published fit puts Gopher's budget at ~40B parameters (Hoffmann et al. table 3 area).
        assert!(n > 2e10 && n < 6e10, "N_opt = {n:e}");
        // Numeric path with a k that varies, then with a constant k, agree with the closed form at k = 6.
        let cm = ComputeModel::six_nd();
        let f = law.frontier(&cm, 1e18, 1e24).unwrap();
        assert!((f.n_exponent - law.n_opt_exponent()).abs() < 1e-10);
        assert!((f.d_exponent - law.d_opt_exponent()).abs() < 1e-10);
        assert!((f.n_opt(c) / n - 1.0).abs() < 1e-9);
        let varying = ComputeModel::from_points(&[
            ScalingPoint {
                run_id: String::new(),
                n: 1e6,
                d: 1e9,
                c: 6.0 * 1e15 * (1.0 + 1e-6),
                loss: 3.0,
            },
            ScalingPoint { run_id: String::new(), n: 1e9, d: 1e9, c: 6.0 * 1e18, loss: 2.0 },
        ]);
        assert!(varying.constant().is_none());
        let (n2, _) = law.optimum(c, &varying).unwrap();
        assert!((n2 / n - 1.0).abs() < 1e-4, "{n2} vs {n}");
    }

    #[test]
    fn recovers_parameters_without_noise_from_subset_of_grid() {
        let law = JointLaw { e: 2.0, a: 60.0, b: 300.0, alpha: 0.35, beta: 0.3 };
        let p = pts(&law, &[2e4, 6e4, 2e5, 6e5, 2e6], &[1e6, 4e6, 1.6e7, 6.4e7], 0.0, 0);
        let fit =
            fit_joint_law(&p, &JointFitOptions { starts: 500, ..Default::default() }).unwrap();
        let l = fit.law;
        assert!((l.alpha - 0.35).abs() < 1e-4 && (l.beta - 0.3).abs() < 1e-4, "{l:?}");
        assert!(
            (l.e - 2.0).abs() < 1e-4
                && (l.a / 60.0 - 1.0).abs() < 1e-3
                && (l.b / 300.0 - 1.0).abs() < 1e-3
        );
        assert!(fit.rms_log_residual < 1e-6 && fit.objective < 1e-10);
        assert!(fit.starts_at_best > 10 && !fit.warm_starts.is_empty());
        assert_eq!(fit.starts, 500);
    }

    /// Derivative-free Nelder–Mead simplex (standard coefficients 1, 2, ½, ½), restarted
    /// from its best vertex until a restart no longer improves: an optimiser independent of
    /// the analytic gradient, for the brute-force comparison.
    fn nelder_mead(f: &dyn Fn(&[f64; 5]) -> f64, x0: [f64; 5], size: f64) -> ([f64; 5], f64) {
        let mut best = (x0, f(&x0));
        for _restart in 0..20 {
            let mut simplex: Vec<([f64; 5], f64)> = vec![best];
            for k in 0..5 {
                let mut x = best.0;
                x[k] += size;
                simplex.push((x, f(&x)));
            }
            for _ in 0..20_000 {
                simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
                let spread = simplex[5].1 - simplex[0].1;
                if spread <= 1e-15 * simplex[0].1.abs().max(1e-300) {
                    break;
                }
                let mut centroid = [0.0; 5];
                for (x, _) in &simplex[..5] {
                    for k in 0..5 {
                        centroid[k] += x[k] / 5.0;
                    }
                }
                let along = |t: f64| {
                    let mut y = [0.0; 5];
                    for k in 0..5 {
                        y[k] = centroid[k] + t * (simplex[5].0[k] - centroid[k]);
                    }
                    (y, f(&y))
                };
                let r = along(-1.0);
                if r.1 < simplex[0].1 {
                    let e = along(-2.0);
                    simplex[5] = if e.1 < r.1 { e } else { r };
                } else if r.1 < simplex[4].1 {
                    simplex[5] = r;
                } else {
                    let c = if r.1 < simplex[5].1 { along(-0.5) } else { along(0.5) };
                    if c.1 < simplex[5].1.min(r.1) {
                        simplex[5] = c;
                    } else {
                        let b = simplex[0].0;
                        for v in simplex.iter_mut().skip(1) {
                            for (vk, bk) in v.0.iter_mut().zip(b) {
                                *vk = bk + 0.5 * (*vk - bk);
                            }
                            v.1 = f(&v.0);
                        }
                    }
                }
            }
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            if simplex[0].1 >= best.1 * (1.0 - 1e-12) && _restart > 0 {
                best = simplex[0];
                break;
            }
            best = simplex[0];
        }
        best
    }

    #[test]
    fn optimiser_reaches_the_brute_force_objective() {
        // A small noisy problem: 12 points, Huber δ = 1e-3 (non-smooth enough to matter).
        let law = JointLaw { e: 1.5, a: 40.0, b: 80.0, alpha: 0.4, beta: 0.3 };
        let p = pts(&law, &[1e4, 1e5, 1e6], &[1e5, 1e6, 1e7, 1e8], 0.02, 7);
        let prob = JointProblem::new(&p, 1e-3);
        let f = |t: &[f64; 5]| prob.huber_sum(t);
        // Brute force: an exhaustive 5-D grid (17⁵ ≈ 1.4M points) around the truth's
        // neighbourhood, then derivative-free refinement (Nelder–Mead) of the 10 best grid points.
        let axes: [Vec<f64>; 5] = [
            (0..17).map(|i| 1.0 + 0.35 * i as f64).collect(), // a ∈ [1, 6.6]
            (0..17).map(|i| 2.0 + 0.35 * i as f64).collect(), // b ∈ [2, 7.6]
            (0..17).map(|i| -0.5 + 0.1 * i as f64).collect(), // e ∈ [−0.5, 1.1]
            (0..17).map(|i| 0.05 + 0.05 * i as f64).collect(), // α ∈ [0.05, 0.85]
            (0..17).map(|i| 0.05 + 0.05 * i as f64).collect(), // β
        ];
        let mut all: Vec<(f64, [f64; 5])> = Vec::new();
        for &a in &axes[0] {
            for &b in &axes[1] {
                for &e in &axes[2] {
                    for &al in &axes[3] {
                        for &be in &axes[4] {
                            let t = [a, b, e, al, be];
                            all.push((f(&t), t));
                        }
                    }
                }
            }
        }
        all.sort_by(|x, y| x.0.total_cmp(&y.0));
        let brute =
            all[..10].iter().map(|(_, t)| nelder_mead(&f, *t, 0.2).1).fold(f64::INFINITY, f64::min);
        let fit = fit_joint_law(&p, &JointFitOptions::default()).unwrap();
        eprintln!("grid best {}, Nelder–Mead {brute}, L-BFGS {}", all[0].0, fit.objective);
        assert!(
            (fit.objective - brute).abs() <= 1e-6 * brute,
            "L-BFGS objective {} differs from the brute-force minimum {brute}",
            fit.objective
        );
        assert!(brute < 0.5 * all[0].0, "refinement should improve on the raw grid");
    }

    #[test]
    fn degenerate_inputs_are_clear_errors() {
        let law = JointLaw { e: 2.0, a: 60.0, b: 300.0, alpha: 0.35, beta: 0.3 };
        let o = JointFitOptions { starts: 200, ..Default::default() };
        let err = |p: &[ScalingPoint]| fit_joint_law(p, &o).unwrap_err().to_string();
        // Fewer points than parameters.
        let p = pts(&law, &[1e5, 1e6], &[1e6, 1e7], 0.0, 0);
        let m = err(&p);
        assert!(m.contains("4 points") && m.contains("5 are needed"), "{m}");
        // A single model size.
        let p = pts(&law, &[1e5], &[1e6, 1e7, 1e8, 1e9, 1e10], 0.0, 0);
        let m = err(&p);
        assert!(m.contains("single model size"), "{m}");
        // A single token count.
        let p = pts(&law, &[1e4, 1e5, 1e6, 1e7, 1e8], &[1e6], 0.0, 0);
        assert!(err(&p).contains("single token count"));
        // Non-finite loss.
        let mut p = pts(&law, &[1e5, 1e6, 1e7], &[1e6, 1e7], 0.0, 0);
        p[3].loss = f64::NAN;
        let m = err(&p);
        assert!(m.contains("point 3") && m.contains("loss = NaN"), "{m}");
        // Losses that do not fall: constant, or rising with compute.
        let mut p = pts(&law, &[1e5, 1e6, 1e7], &[1e6, 1e7, 1e8], 0.0, 0);
        for q in p.iter_mut() {
            q.loss = 3.0;
        }
        assert!(err(&p).contains("do not fall"), "{}", err(&p));
        let mut p = pts(&law, &[1e5, 1e6, 1e7], &[1e6, 1e7, 1e8], 0.0, 0);
        for q in p.iter_mut() {
            q.loss = 1.0 + 0.1 * q.c.ln();
        }
        assert!(err(&p).contains("do not fall"));
        // Losses that fall with D but not with N: the N term is rejected.
        let flat_n = JointLaw { a: 1e-9, ..law };
        let p = pts(&flat_n, &[1e5, 1e6, 1e7], &[1e6, 1e7, 1e8], 0.001, 3);
        let m = err(&p);
        assert!(m.contains("does not fall with N") || m.contains("α"), "{m}");
        // Bad options.
        let p = pts(&law, &[1e5, 1e6, 1e7], &[1e6, 1e7], 0.0, 0);
        let m = fit_joint_law(&p, &JointFitOptions { huber_delta: 0.0, ..o.clone() })
            .unwrap_err()
            .to_string();
        assert!(m.contains("Huber"), "{m}");
        let m = fit_joint_law(&p, &JointFitOptions { starts: 0, ..o }).unwrap_err().to_string();
        assert!(m.contains("start"), "{m}");
    }

    #[test]
    fn initial_points_grid_subset_and_extension() {
        let g = chinchilla_grid();
        assert_eq!(g.len(), 4500);
        assert!(g.contains(&[25.0, 0.0, 1.0, 2.0, 0.5]));
        assert_eq!(initial_points(4500, 3), g);
        let s = initial_points(100, 3);
        assert_eq!(s.len(), 100);
        assert!(s.iter().all(|p| g.contains(p)));
        assert_eq!(s, initial_points(100, 3), "deterministic");
        let x = initial_points(5000, 3);
        assert_eq!(&x[..4500], &g[..]);
        assert!(
            x[4500..].iter().all(|p| (0.0..=25.0).contains(&p[0]) && (0.0..=2.0).contains(&p[4]))
        );
    }
}
