//! Kaplan et al. (2020)'s joint law `L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D`, fitted with
//! the machinery of approach 3 (Huber loss on log residuals, L-BFGS from a grid of starts) and a
//! residual bootstrap for its 95% intervals.
//!
//! # Method
//!
//! With `θ = (a, b, κ, α_D)`, `κ = α_N/α_D`, `a = κ ln N_c`, `b = ln D_c`, the prediction is
//! `ln L̂ = α_D · LSE(a − κ ln N, b − ln D)` (log-sum-exp, stable), and the fit minimises
//! `Σᵢ Huber_δ(ln L̂ᵢ − ln Lᵢ)` (δ = 10⁻³ by default, as approach 3). The gradient is analytic:
//! with the softmax weights `w₁, w₂` of the two terms and `ψ = Huber'`, `∂/∂a = Σ ψ α_D w₁`,
//! `∂/∂b = Σ ψ α_D w₂`, `∂/∂κ = −Σ ψ α_D w₁ ln N`, `∂/∂α_D = Σ ψ LSE`. Starts: `α_D ∈ {0.05,
//! 0.1, 0.2, 0.4, 0.8}`, `κ ∈ {0.25, 0.5, 1, 2, 4}`, and `ln N_c`, `ln D_c` each at the
//! smallest, the geometric middle and the largest of the data's `N` (`D`) and 3 and 10 e-folds
//! above the largest: 625 starts, run in parallel.
//!
//! The law has no irreducible term: it suits losses far above their floor (Kaplan et al.'s
//! regime). `scalinglab fit` prints its rms log residual beside approach 3's, so a law that
//! misses the data's curvature shows.
//!
//! # Intervals
//!
//! A residual bootstrap: each resample adds the fit's log residuals, drawn with replacement and
//! scaled by `sqrt(n/(n − 4))`, to the fitted `ln L̂`, and refits from the fit's optimum; the
//! 95% intervals are the 2.5% and 97.5% percentiles of the refitted `α_N`, `α_D` (`ln N_c`,
//! `ln D_c`), widened about the estimate by `t_{0.975, n−4}/z_{0.975}` (1.06 for 25 points).
//! Coverage is a test (`tests/coverage_fits.rs`): over 120 simulated 5 × 5 grids with 2%
//! log-normal noise, the nominal 95% intervals of `α_N` and `α_D` held the true values in 91% and
//! 93% of them.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use super::data::{ScalingPoint, distinct, validate_points};
use super::joint::huber;
use crate::error::AnalysisError;
use crate::optim::{LbfgsOptions, lbfgs};

/// `L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D` (Kaplan et al. 2020, eq. 1.5).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KaplanLaw {
    /// Model-size scale `N_c`.
    pub n_c: f64,
    /// Data scale `D_c`.
    pub d_c: f64,
    /// Model-size exponent `α_N`.
    pub alpha_n: f64,
    /// Data exponent `α_D`.
    pub alpha_d: f64,
}

impl KaplanLaw {
    /// Kaplan et al. 2020's published fit (their Table 2): `α_N = 0.076`, `α_D = 0.103`,
    /// `N_c = 6.4e13`, `D_c = 1.8e13` (losses in nats per token of their tokenizer).
    pub const KAPLAN: KaplanLaw =
        KaplanLaw { n_c: 6.4e13, d_c: 1.8e13, alpha_n: 0.076, alpha_d: 0.103 };

    /// `L(N, D)`.
    pub fn loss(&self, n: f64, d: f64) -> f64 {
        ((self.n_c / n).powf(self.alpha_n / self.alpha_d) + self.d_c / d).powf(self.alpha_d)
    }

    #[cfg(test)]
    fn theta(&self) -> [f64; 4] {
        let kappa = self.alpha_n / self.alpha_d;
        [kappa * self.n_c.ln(), self.d_c.ln(), kappa, self.alpha_d]
    }

    fn from_theta(t: &[f64; 4]) -> Self {
        KaplanLaw { n_c: (t[0] / t[2]).exp(), d_c: t[1].exp(), alpha_n: t[2] * t[3], alpha_d: t[3] }
    }
}

/// Options of [`fit_kaplan_law`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KaplanFitOptions {
    /// Huber threshold δ on log residuals. Default 1e-3.
    pub huber_delta: f64,
    /// Residual-bootstrap resamples for the intervals (0: none). Default 200.
    pub bootstrap: usize,
    /// Seed of the resampling. Default 0.
    pub seed: u64,
}

impl Default for KaplanFitOptions {
    fn default() -> Self {
        KaplanFitOptions { huber_delta: 1e-3, bootstrap: 200, seed: 0 }
    }
}

/// A fitted Kaplan law with its 95% bootstrap intervals.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KaplanFit {
    /// The fitted law.
    pub law: KaplanLaw,
    /// 95% interval of `α_N` (residual bootstrap, percentile); `None` without resamples.
    pub alpha_n_ci: Option<(f64, f64)>,
    /// 95% interval of `α_D`.
    pub alpha_d_ci: Option<(f64, f64)>,
    /// 95% interval of `N_c`.
    pub n_c_ci: Option<(f64, f64)>,
    /// 95% interval of `D_c`.
    pub d_c_ci: Option<(f64, f64)>,
    /// Points fitted.
    pub n_points: usize,
    /// Root mean square of the log residuals `ln L − ln L̂`.
    pub rms_log_residual: f64,
    /// Resamples that refitted to a valid law (of those requested).
    pub resamples_used: usize,
}

struct Problem {
    ln_n: Vec<f64>,
    ln_d: Vec<f64>,
    ln_l: Vec<f64>,
    delta: f64,
}

impl Problem {
    /// `(ln L̂, LSE, w₁, w₂)` at one point.
    #[inline]
    fn predict(t: &[f64], x: f64, y: f64) -> (f64, f64, f64, f64) {
        let (t1, t2) = (t[0] - t[2] * x, t[1] - y);
        let m = t1.max(t2);
        let (e1, e2) = ((t1 - m).exp(), (t2 - m).exp());
        let s = e1 + e2;
        let lse = m + s.ln();
        (t[3] * lse, lse, e1 / s, e2 / s)
    }

    fn residuals(&self, t: &[f64]) -> Vec<f64> {
        (0..self.ln_n.len())
            .map(|i| self.ln_l[i] - Self::predict(t, self.ln_n[i], self.ln_d[i]).0)
            .collect()
    }

    /// `(1/(nδ)) Σ Huber_δ(ln L̂ − ln L)` and its gradient.
    fn objective(&self, t: &[f64]) -> (f64, Vec<f64>) {
        let d = self.delta;
        let (mut f, mut g) = (0.0, vec![0.0; 4]);
        for i in 0..self.ln_n.len() {
            let (pred, lse, w1, w2) = Self::predict(t, self.ln_n[i], self.ln_d[i]);
            let r = pred - self.ln_l[i];
            let (h, psi) = huber(r, d);
            f += h;
            g[0] += psi * t[3] * w1;
            g[1] += psi * t[3] * w2;
            g[2] -= psi * t[3] * w1 * self.ln_n[i];
            g[3] += psi * lse;
        }
        let scale = 1.0 / (self.ln_n.len() as f64 * d);
        (f * scale, g.into_iter().map(|v| v * scale).collect())
    }

    /// One L-BFGS run from `start`, as `(objective, θ)`; `None` unless it ends finite with
    /// positive exponents.
    fn descend(&self, start: &[f64; 4]) -> Option<(f64, [f64; 4])> {
        let lb = LbfgsOptions { max_iters: 500, history: 10, grad_tol: 1e-9, f_tol: 1e-13 };
        let m = lbfgs(|t| self.objective(t), start, &lb);
        let x: [f64; 4] = m.x.as_slice().try_into().ok()?;
        let ok = m.f.is_finite() && x.iter().all(|v| v.is_finite()) && x[2] > 0.0 && x[3] > 0.0;
        ok.then_some((m.f, x))
    }

    /// The best of L-BFGS runs from `starts`, as `(objective, θ)`; `None` when none is valid.
    fn best(&self, starts: &[[f64; 4]]) -> Option<(f64, [f64; 4])> {
        let mut results: Vec<(f64, [f64; 4])> =
            starts.par_iter().filter_map(|s| self.descend(s)).collect();
        // Stable sort: ties keep start order, so the result does not depend on the thread count.
        results.sort_by(|a, b| a.0.total_cmp(&b.0));
        results.first().copied()
    }
}

/// The 625 starts of the [module docs](self).
fn starts(points: &[ScalingPoint]) -> Vec<[f64; 4]> {
    let span = |v: Vec<f64>| {
        let (lo, hi) =
            v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        [lo, 0.5 * (lo + hi), hi, hi + 3.0, hi + 10.0]
    };
    let ln_nc = span(points.iter().map(|p| p.n.ln()).collect());
    let ln_dc = span(points.iter().map(|p| p.d.ln()).collect());
    let mut out = Vec::with_capacity(625);
    for &ad in &[0.05, 0.1, 0.2, 0.4, 0.8] {
        for &kappa in &[0.25, 0.5, 1.0, 2.0, 4.0] {
            for &nc in &ln_nc {
                for &dc in &ln_dc {
                    out.push([kappa * nc, dc, kappa, ad]);
                }
            }
        }
    }
    out
}

/// Fits Kaplan et al.'s joint law (see the [module docs](self)) with 95% bootstrap intervals.
///
/// # Errors
///
/// Invalid points (naming the point), fewer than 6 points, a single `N` or `D`, a non-finite or
/// non-positive Huber δ, or no start reaching a law with positive exponents.
///
/// ```
/// use scalinglab_analysis::frontier::{fit_kaplan_law, KaplanFitOptions, KaplanLaw, ScalingPoint};
/// let law = KaplanLaw { n_c: 1e7, d_c: 1e9, alpha_n: 0.3, alpha_d: 0.25 };
/// let mut pts = Vec::new();
/// for &n in &[1e6, 1e7, 1e8, 1e9] {
///     for &d in &[1e8, 1e9, 1e10, 1e11] {
///         pts.push(ScalingPoint { run_id: String::new(), n, d, c: 6.0 * n * d, loss: law.loss(n, d) });
///     }
/// }
/// let fit = fit_kaplan_law(&pts, &KaplanFitOptions { bootstrap: 0, ..Default::default() }).unwrap();
/// assert!((fit.law.alpha_n - 0.3).abs() < 1e-4 && (fit.law.alpha_d - 0.25).abs() < 1e-4);
/// ```
pub fn fit_kaplan_law(
    points: &[ScalingPoint],
    opts: &KaplanFitOptions,
) -> Result<KaplanFit, AnalysisError> {
    const CTX: &str = "Kaplan law";
    validate_points(CTX, points)?;
    if !(opts.huber_delta.is_finite() && opts.huber_delta > 0.0) {
        return Err(AnalysisError::invalid(
            "Kaplan law: huber_delta",
            format!("Huber δ = {} must be finite and > 0", opts.huber_delta),
        ));
    }
    if points.len() < 6 {
        return Err(AnalysisError::TooFewPoints {
            context: CTX.into(),
            n: points.len(),
            needed: 6,
            detail: "L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D has 4 free parameters, and the \
                     bootstrap needs residual degrees of freedom"
                .into(),
        });
    }
    let (dn, dd) = (distinct(points.iter().map(|p| p.n)), distinct(points.iter().map(|p| p.d)));
    if dn < 2 || dd < 2 {
        return Err(AnalysisError::TooFewPoints {
            context: CTX.into(),
            n: dn.min(dd),
            needed: 2,
            detail: format!(
                "a single {} among {} points: its exponent is not identifiable",
                if dn < 2 { "model size N" } else { "token count D" },
                points.len()
            ),
        });
    }
    let prob = Problem {
        ln_n: points.iter().map(|p| p.n.ln()).collect(),
        ln_d: points.iter().map(|p| p.d.ln()).collect(),
        ln_l: points.iter().map(|p| p.loss.ln()).collect(),
        delta: opts.huber_delta,
    };
    let Some((_, theta)) = prob.best(&starts(points)) else {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: "no start reached a law with positive exponents".into(),
        });
    };
    let law = KaplanLaw::from_theta(&theta);
    let residuals = prob.residuals(&theta);
    let n = residuals.len();
    let rms = (residuals.iter().map(|r| r * r).sum::<f64>() / n as f64).sqrt();

    // Residual bootstrap, refitted from the optimum.
    let mean = residuals.iter().sum::<f64>() / n as f64;
    let scale = (n as f64 / (n - 4) as f64).sqrt();
    let pool: Vec<f64> = residuals.iter().map(|r| (r - mean) * scale).collect();
    let fitted: Vec<f64> = prob.ln_l.iter().zip(&residuals).map(|(l, r)| l - r).collect();
    let laws: Vec<KaplanLaw> = (0..opts.bootstrap)
        .into_par_iter()
        .filter_map(|k| {
            let mut rng = ChaCha12Rng::seed_from_u64(opts.seed ^ (0x4B41_504C + k as u64));
            let ln_l = fitted.iter().map(|f| f + pool[rng.random_range(0..n)]).collect();
            let p = Problem {
                ln_l,
                ln_n: prob.ln_n.clone(),
                ln_d: prob.ln_d.clone(),
                delta: prob.delta,
            };
            p.descend(&theta).map(|(_, x)| KaplanLaw::from_theta(&x))
        })
        .collect();
    let enough = laws.len() >= 10 && 2 * laws.len() >= opts.bootstrap;
    // Widened about the estimate by t_{0.975, n − 4}/z_{0.975}, as the power-law fits are: the
    // residuals' spread is itself estimated from n − 4 degrees of freedom.
    let widen = crate::stats::intrinsic::student_t_quantile(0.975, (n - 4) as f64)
        .map_or(1.0, |t| t / 1.959_963_984_540_054);
    let ci = |f: fn(&KaplanLaw) -> f64, log: bool| {
        enough.then(|| {
            type Map = fn(f64) -> f64;
            let (to, from): (Map, Map) = if log { (f64::ln, f64::exp) } else { (|x| x, |x| x) };
            let mut v: Vec<f64> = laws.iter().map(|l| to(f(l))).filter(|x| x.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            let c = to(f(&law));
            let (lo, hi) = (
                crate::stats::quantile_sorted(&v, 0.025),
                crate::stats::quantile_sorted(&v, 0.975),
            );
            (from(c + (lo - c) * widen), from(c + (hi - c) * widen))
        })
    };
    Ok(KaplanFit {
        law,
        alpha_n_ci: ci(|l| l.alpha_n, false),
        alpha_d_ci: ci(|l| l.alpha_d, false),
        n_c_ci: ci(|l| l.n_c, true),
        d_c_ci: ci(|l| l.d_c, true),
        n_points: n,
        rms_log_residual: rms,
        resamples_used: laws.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(law: &KaplanLaw) -> Vec<ScalingPoint> {
        let mut pts = Vec::new();
        for &n in &[1e6, 5e6, 2e7, 1e8, 5e8] {
            for &d in &[1e8, 5e8, 2e9, 1e10, 5e10] {
                pts.push(ScalingPoint {
                    run_id: format!("{n}_{d}"),
                    n,
                    d,
                    c: 6.0 * n * d,
                    loss: law.loss(n, d),
                });
            }
        }
        pts
    }

    #[test]
    fn recovers_a_known_law_and_its_gradient_matches_finite_differences() {
        let truth = KaplanLaw { n_c: 1e7, d_c: 1e9, alpha_n: 0.3, alpha_d: 0.25 };
        let pts = grid(&truth);
        let fit =
            fit_kaplan_law(&pts, &KaplanFitOptions { bootstrap: 0, ..Default::default() }).unwrap();
        for (got, want) in [
            (fit.law.alpha_n, 0.3),
            (fit.law.alpha_d, 0.25),
            (fit.law.n_c.ln(), 1e7f64.ln()),
            (fit.law.d_c.ln(), 1e9f64.ln()),
        ] {
            assert!((got - want).abs() < 1e-4 * want.abs().max(1.0), "{fit:?}");
        }
        assert!(fit.rms_log_residual < 1e-6 && fit.alpha_n_ci.is_none());
        // The analytic gradient against central differences, away from the optimum (Huber's
        // quadratic and linear parts both in play).
        let mut noisy = pts.clone();
        for (i, p) in noisy.iter_mut().enumerate() {
            p.loss *= 1.0 + 0.01 * ((i * 7 % 11) as f64 - 5.0);
        }
        let prob = Problem {
            ln_n: noisy.iter().map(|p| p.n.ln()).collect(),
            ln_d: noisy.iter().map(|p| p.d.ln()).collect(),
            ln_l: noisy.iter().map(|p| p.loss.ln()).collect(),
            delta: 0.02,
        };
        let t = [truth.theta()[0] + 0.1, truth.theta()[1] - 0.2, 1.1, 0.27];
        let (_, g) = prob.objective(&t);
        for j in 0..4 {
            let h = 1e-6;
            let (mut up, mut down) = (t, t);
            up[j] += h;
            down[j] -= h;
            let fd = (prob.objective(&up).0 - prob.objective(&down).0) / (2.0 * h);
            assert!((fd - g[j]).abs() < 1e-5 * (1.0 + fd.abs()), "∂{j}: {fd} vs {}", g[j]);
        }
    }

    #[test]
    fn bad_input_is_refused_naming_what() {
        let truth = KaplanLaw { n_c: 1e7, d_c: 1e9, alpha_n: 0.3, alpha_d: 0.25 };
        let pts = grid(&truth);
        let e = fit_kaplan_law(&pts[..5], &KaplanFitOptions::default()).unwrap_err().to_string();
        assert!(e.contains("6"), "{e}");
        let one_n: Vec<ScalingPoint> = [1e8, 3e8, 1e9, 3e9, 1e10, 3e10]
            .iter()
            .map(|&d| ScalingPoint {
                run_id: format!("{d}"),
                n: 1e6,
                d,
                c: 6e6 * d,
                loss: truth.loss(1e6, d),
            })
            .collect();
        let e = fit_kaplan_law(&one_n, &KaplanFitOptions::default()).unwrap_err().to_string();
        assert!(e.contains("single model size"), "{e}");
        let opts = KaplanFitOptions { huber_delta: f64::NAN, ..Default::default() };
        let e = fit_kaplan_law(&pts, &opts).unwrap_err().to_string();
        assert!(e.contains("huber_delta") && e.contains("NaN"), "{e}");
        let mut bad = pts.clone();
        bad[3].loss = f64::NAN;
        assert!(fit_kaplan_law(&bad, &KaplanFitOptions::default()).is_err());
    }
}
