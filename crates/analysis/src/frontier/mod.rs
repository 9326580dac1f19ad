//! Compute-optimal analysis: four ways to find how `N` and `D` should grow with compute.
//!
//! * **Approach 1** ([`fit_envelope`]) — the lower envelope of loss against FLOPs over the
//!   runs (and their training curves when given): at each budget the run with the lowest loss
//!   gives `N_opt(C)` and `D_opt(C)` (Hoffmann et al. 2022, §3.1).
//! * **Approach 2** ([`fit_isoflop`]) — IsoFLOP profiles: at each budget a parabola of the
//!   loss in `ln N`, whose vertex is `N_opt(C)` (§3.2).
//! * **Approach 3** ([`fit_joint_law`]) — the parametric law `L(N, D) = E + A/N^α + B/D^β`,
//!   fitted as `LSE(a − α ln N, b − β ln D, e)` against `ln L` with a Huber loss, by L-BFGS
//!   from Chinchilla's 4,500-point grid of initialisations, in parallel (§3.3); the optimum
//!   is then `N_opt = G (C/6)^(β/(α+β))`, `D_opt = G⁻¹ (C/6)^(α/(α+β))`,
//!   `G = (αA/(βB))^(1/(α+β))` under `C = 6ND`.
//! * **Surface** ([`fit_surface`]) — the loss surface interpolated over the run grid, and the
//!   frontier read off as the minimum of `L(N, C/(6N))` along each iso-FLOP line (Barkeshli,
//!   Alfarano & Gromov, arXiv 2601.10684).
//!
//! Each method gives a [`Frontier`]: `N_opt = K_N·C^a` and `D_opt = K_D·C^b` fitted to its
//! per-budget optima, from which the tokens per parameter `D_opt/N_opt` at a reference
//! budget follow. [`analyze`] runs the chosen methods side by side with bootstrap intervals
//! (by default a fixed-design residual bootstrap that keeps every run, so IsoFLOP profiles
//! and grids keep their structure; see [`analysis`]; in parallel), a fit-window sweep reported apart from the
//! bootstrap, and an extrapolation check of approach 3 on the largest models;
//! [`fit_command`] reads a results file or any CSV and writes `fit.json`, `fit.md` and plots;
//! [`answers`] evaluates every method at the user's budgets and `(N, D)` pairs (`--budget`,
//! `--predict`) with intervals from the same resamples.
//!
//! Counting conventions (whether `N` counts embeddings, whether `C` is `6ND` or the recorded
//! FLOPs with or without the unembedding) are chosen when reading the data
//! ([`points_from_records`], [`read_points_csv`]) and travel with it ([`Conventions`]).
//! Compute is modelled as `C = k(N)·N·D` ([`ComputeModel`]); `k = 6` under `6ND`.
//!
//! Modules: [`data`] (points, curves, conventions, readers), [`envelope`], [`isoflop`],
//! [`joint`], [`surface`] (one per method), [`kaplan`] and [`constrained`] (Kaplan et al.'s and
//! Muennighoff et al.'s data-constrained laws, fitted beside approach 3), [`analysis`] (side by side, bootstrap, windows,
//! extrapolation), [`command`] (`scalinglab fit`), [`bench`](mod@bench) (the timing of a 4,500-start fit
//! with 1,000 resamples).

pub mod analysis;
pub mod answers;
pub mod bench;
pub mod command;
pub mod constrained;
pub mod data;
pub mod envelope;
mod interp;
pub mod isoflop;
pub mod joint;
pub mod kaplan;
mod output;
pub mod surface;

pub use analysis::{
    Allocation, AnalysisSettings, BandPoint, ExtrapolationCheck, FitReport, HeldOutRun,
    JointReport, KnownFloor, MethodDetail, MethodReport, Resampling, WindowFit, analyze,
};
pub use answers::{
    Answers, BelowFloor, BudgetAnswer, OptimumAnswer, OptimumLoss, PredictedLoss, Prediction,
    below_floor, parse_predict,
};
pub use bench::{FitBenchmark, benchmark_points, fit_benchmark};
pub use command::{CURVES_FILE, FitCommandOptions, fit_command};
pub use constrained::{
    ConstrainedFit, ConstrainedFitOptions, ConstrainedLaw, RepeatedPoint, effective_data,
    fit_constrained_law, read_repeated_csv, repeated_points_from_records,
};
pub use data::{
    ComputeCounting, ComputeModel, Conventions, CsvColumns, CurvePoint, ParamCounting, ScalingData,
    ScalingPoint, TrainingCurves, is_results_csv, points_from_records, read_curves_csv,
    read_points_csv, read_training_curves,
};
pub use envelope::{EnvelopeFit, EnvelopePoint, fit_envelope};
pub use isoflop::{IsoFlopFit, IsoFlopMode, IsoFlopOptions, IsoFlopProfile, fit_isoflop};
pub use joint::{
    JointFit, JointFitOptions, JointLaw, chinchilla_grid, fit_joint_law, initial_points,
};
pub use kaplan::{KaplanFit, KaplanFitOptions, KaplanLaw, fit_kaplan_law};
pub use surface::{SurfaceFit, SurfaceKind, SurfaceOptions, SurfacePoint, fit_surface};

use crate::error::AnalysisError;

/// One of the four compute-optimal methods.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Lower envelope of loss against FLOPs (Chinchilla approach 1).
    Approach1,
    /// IsoFLOP parabolas (Chinchilla approach 2).
    Approach2,
    /// Parametric `L(N, D) = E + A/N^α + B/D^β` (Chinchilla approach 3).
    Approach3,
    /// Frontier of the interpolated loss surface (Barkeshli et al.).
    Surface,
}

impl Method {
    /// All methods, in report order.
    pub const ALL: [Method; 4] =
        [Method::Approach1, Method::Approach2, Method::Approach3, Method::Surface];

    /// The command-line name: `approach1`, `approach2`, `approach3`, `surface`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Approach1 => "approach1",
            Method::Approach2 => "approach2",
            Method::Approach3 => "approach3",
            Method::Surface => "surface",
        }
    }

    /// A short description for tables, e.g. "1: lower envelope".
    pub fn title(self) -> &'static str {
        match self {
            Method::Approach1 => "1: lower envelope",
            Method::Approach2 => "2: IsoFLOP parabolas",
            Method::Approach3 => "3: parametric L(N, D)",
            Method::Surface => "surface frontier",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = AnalysisError;

    /// Parses `approach1`…`approach3` or `surface` (also `1`, `2`, `3`, case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "approach1" | "1" | "envelope" => Ok(Method::Approach1),
            "approach2" | "2" | "isoflop" => Ok(Method::Approach2),
            "approach3" | "3" | "parametric" => Ok(Method::Approach3),
            "surface" => Ok(Method::Surface),
            other => Err(AnalysisError::invalid(
                "--method",
                format!(
                    "unknown method `{other}`; expected approach1, approach2, approach3, surface or all"
                ),
            )),
        }
    }
}

/// Parses a `--method` value: `all`, or one or more method names separated by commas
/// (case-insensitive: `approach1`…`approach3` or `1`…`3`, `envelope`, `isoflop`, `parametric`,
/// `surface`). The result is sorted in report order, without repeats.
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] naming the first unknown method.
///
/// ```
/// use scalinglab_analysis::frontier::{parse_methods, Method};
/// assert_eq!(parse_methods("all").unwrap(), Method::ALL.to_vec());
/// assert_eq!(parse_methods("surface,approach3").unwrap(), vec![Method::Approach3, Method::Surface]);
/// assert!(parse_methods("approach4").is_err());
/// ```
pub fn parse_methods(s: &str) -> Result<Vec<Method>, AnalysisError> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(Method::ALL.to_vec());
    }
    let mut out: Vec<Method> = s.split(',').map(str::parse).collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

/// A value with an optional 95% bootstrap interval (see [`analysis`] for how it is drawn and
/// placed).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    /// The estimate from all the data.
    pub value: f64,
    /// 2.5% and 97.5% bootstrap quantiles (None without bootstrap, or when too few resamples
    /// could be fitted).
    pub ci: Option<(f64, f64)>,
}

/// One compute-optimal point found by a method at one budget.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrontierPoint {
    /// Training compute, FLOPs.
    pub c: f64,
    /// Compute-optimal parameters at `c` (under the data's [`ParamCounting`]).
    pub n_opt: f64,
    /// Compute-optimal training tokens at `c`.
    pub d_opt: f64,
    /// Loss at the optimum, in the unit of the data's losses (nats per token for runs).
    pub loss: f64,
}

/// Power laws `N_opt = exp(ln_n_prefactor)·C^n_exponent` and
/// `D_opt = exp(ln_d_prefactor)·C^d_exponent`, fitted by least squares in log space to a
/// method's per-budget optima.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    /// `ln K_N`.
    pub ln_n_prefactor: f64,
    /// `a` in `N_opt ∝ C^a`.
    pub n_exponent: f64,
    /// `ln K_D`.
    pub ln_d_prefactor: f64,
    /// `b` in `D_opt ∝ C^b`.
    pub d_exponent: f64,
    /// The optima the laws were fitted to.
    pub points: Vec<FrontierPoint>,
}

impl Frontier {
    /// `N_opt(C)`: compute-optimal parameters at a budget of `c` FLOPs.
    pub fn n_opt(&self, c: f64) -> f64 {
        (self.ln_n_prefactor + self.n_exponent * c.ln()).exp()
    }

    /// `D_opt(C)`: compute-optimal training tokens at a budget of `c` FLOPs.
    pub fn d_opt(&self, c: f64) -> f64 {
        (self.ln_d_prefactor + self.d_exponent * c.ln()).exp()
    }

    /// Tokens per parameter `D_opt(C) / N_opt(C)`.
    pub fn tokens_per_param(&self, c: f64) -> f64 {
        self.d_opt(c) / self.n_opt(c)
    }

    /// Fits the two power laws. Errors (naming `context`) with fewer than three points (two
    /// would fit exactly, leaving nothing to check the power law against), a single budget,
    /// or a single model size among the optima (the exponent would be a meaningless 0).
    pub(crate) fn fit(context: &str, points: Vec<FrontierPoint>) -> Result<Self, AnalysisError> {
        if points.len() < 3 {
            return Err(AnalysisError::TooFewPoints {
                context: context.into(),
                n: points.len(),
                needed: 3,
                detail: "compute-optimal points to fit N_opt ∝ C^a".into(),
            });
        }
        let lc: Vec<f64> = points.iter().map(|p| p.c.ln()).collect();
        let ln: Vec<f64> = points.iter().map(|p| p.n_opt.ln()).collect();
        let ld: Vec<f64> = points.iter().map(|p| p.d_opt.ln()).collect();
        if data::distinct(points.iter().map(|p| p.n_opt)) < 2 {
            return Err(AnalysisError::FitFailed {
                context: context.into(),
                message: format!(
                    "every compute-optimal point has the same model size N = {}; the N_opt exponent is not \
                     identifiable (add model sizes around the frontier)",
                    points[0].n_opt
                ),
            });
        }
        let (Some((cn, an)), Some((cd, ad))) = (linfit(&lc, &ln), linfit(&lc, &ld)) else {
            return Err(AnalysisError::FitFailed {
                context: context.into(),
                message: "all compute-optimal points share one budget C".into(),
            });
        };
        Ok(Frontier {
            ln_n_prefactor: cn,
            n_exponent: an,
            ln_d_prefactor: cd,
            d_exponent: ad,
            points,
        })
    }
}

/// Least-squares line `y = c0 + c1 x`; `None` if `x` has no spread or values are not finite.
pub(crate) fn linfit(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    let n = x.len() as f64;
    if x.len() < 2 || x.len() != y.len() {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    if sxx.is_nan() || sxx <= 1e-24 * (1.0 + mx * mx) {
        return None;
    }
    let slope = sxy / sxx;
    let fit = (my - slope * mx, slope);
    (fit.0.is_finite() && fit.1.is_finite()).then_some(fit)
}

/// `n` log-spaced values from `lo` to `hi` inclusive.
pub(crate) fn logspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (a, b) = (lo.ln(), hi.ln());
    if n == 1 {
        return vec![(0.5 * (a + b)).exp()];
    }
    (0..n).map(|i| (a + (b - a) * i as f64 / (n - 1) as f64).exp()).collect()
}

/// Linear-interpolated quantile of sorted, non-empty data.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Spearman rank correlation of two samples (average ranks for ties); 0 when either is constant.
pub(crate) fn spearman(x: &[f64], y: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|a, b| v[*a].total_cmp(&v[*b]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let sxy: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = rx.iter().map(|a| (a - mx) * (a - mx)).sum();
    let syy: f64 = ry.iter().map(|b| (b - my) * (b - my)).sum();
    if sxx <= 0.0 || syy <= 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Threshold of [`check_losses_fall`]: the loss must fall with compute at least this strongly
/// in rank correlation.
const MAX_SPEARMAN: f64 = -0.2;

/// Errors when the losses do not fall with compute (Spearman correlation of loss with `C`
/// above −0.2): no method can then give a meaningful compute-optimal exponent.
pub(crate) fn check_losses_fall(
    context: &str,
    points: &[ScalingPoint],
) -> Result<(), AnalysisError> {
    let c: Vec<f64> = points.iter().map(|p| p.c).collect();
    let l: Vec<f64> = points.iter().map(|p| p.loss).collect();
    let rho = spearman(&c, &l);
    if rho > MAX_SPEARMAN {
        return Err(AnalysisError::invalid(
            context,
            format!(
                "the losses do not fall with compute: Spearman rank correlation of loss with C is {rho:.2} over {} \
                 points (a scaling law needs it below {MAX_SPEARMAN}); no compute-optimal exponent can be fitted",
                points.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_fit_and_degenerate_frontiers() {
        let pts: Vec<FrontierPoint> = [1e18, 1e19, 1e20]
            .iter()
            .map(|&c| FrontierPoint {
                c,
                n_opt: 0.1 * f64::powf(c, 0.5),
                d_opt: c / (6.0 * 0.1 * f64::powf(c, 0.5)),
                loss: 2.0,
            })
            .collect();
        let f = Frontier::fit("t", pts.clone()).unwrap();
        assert!((f.n_exponent - 0.5).abs() < 1e-12 && (f.d_exponent - 0.5).abs() < 1e-12);
        assert!((f.tokens_per_param(1e20) - 1e20 / 6.0 / 1e-2 / 1e20).abs() < 1e-6);
        let same_n: Vec<FrontierPoint> =
            pts.iter().map(|p| FrontierPoint { n_opt: 1e6, ..*p }).collect();
        let m = Frontier::fit("t", same_n).unwrap_err().to_string();
        assert!(m.contains("same model size"), "{m}");
        let m = Frontier::fit("t", pts[..2].to_vec()).unwrap_err().to_string();
        assert!(m.contains("2 points but 3 are needed"), "{m}");
    }

    #[test]
    fn spearman_and_quantiles() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]), 0.0);
        assert!((quantile(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.25) - 1.0).abs() < 1e-12);
        let l = logspace(1.0, 100.0, 3);
        assert!((l[1] - 10.0).abs() < 1e-12);
    }
}
