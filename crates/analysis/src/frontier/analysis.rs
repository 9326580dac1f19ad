//! The four methods side by side: fits, bootstrap intervals, the fit-window sweep and the
//! extrapolation check ([`analyze`]).
//!
//! # Bootstrap
//!
//! Every resample is one new data set, and resample `i` is the same data set for every
//! method, so the methods' intervals are comparable. Two schemes ([`Resampling`]):
//!
//! * **Residuals** (the default): a *fixed-design* residual bootstrap. A sweep is a designed
//!   experiment: which `(N, D)` cells were run is chosen, and what varies from one repetition
//!   to the next is the loss measured in each cell (seed, data order, eval noise). So every
//!   resample keeps every run's `N`, `D` and `C` and draws its loss as
//!   `L̂ᵢ · exp(r*)`, where `L̂ᵢ` is approach 3's fitted law at the run and `r*` is drawn with
//!   replacement from the runs' log residuals `ln Lᵢ − ln L̂ᵢ`, centred and rescaled by
//!   `√(n/(n − 5))` for the five fitted parameters. With Huber δ = 10⁻³ far below the noise
//!   the fit is nearly an L1 fit and pins up to five runs inside ±δ; those near-zero
//!   residuals are left out of the pool (kept when most residuals are that small), since
//!   drawing them made approach 3's intervals about 20% too narrow in simulation. Training
//!   curves (approach 1) move with their run: each is scaled by the run's `L*ᵢ / Lᵢ`. Because
//!   the design is kept, every IsoFLOP profile keeps all its model sizes, every grid keeps
//!   its cells and every method keeps the structure it needs, so every method gets intervals
//!   on a full `N × D` grid and on an IsoFLOP design alike. Residuals include any lack of fit
//!   of the law, which is then treated as noise and widens the intervals; losses without
//!   noise give zero-width intervals (there is nothing to resample). When approach 3's law
//!   cannot be fitted, or fewer than 7 runs leave too few degrees of freedom, runs are
//!   resampled instead, with a warning.
//! * **Runs**: case resampling, `n` runs drawn with replacement (with their training curves),
//!   as Besiroglu et al. 2024 resampled Chinchilla's points. It treats the design as random:
//!   a resampled IsoFLOP profile of four runs keeps three distinct model sizes only two times
//!   in three, and a resampled grid loses cells, so approach 2, the surface and approach 1
//!   often cannot be fitted and their intervals measure the fragility of the design more
//!   than the noise in the losses. (A stratified version — runs resampled within each budget
//!   or model size — has the same flaw: duplicated runs add no information to a parabola or
//!   an interpolant, and the distinct sizes left per profile still shrink.)
//!
//! Intervals are 95% percentile intervals, computed for each quantity `θ` as
//! `θ̂ ⊕ [q₂.₅, q₉₇.₅]` of `θ* ⊖ θ₀`, where `θ*` are the resamples' values, `θ₀` is the method's
//! value on the data the resamples are drawn around, and `⊕, ⊖` are `+, −` for exponents and
//! `×, ÷` for positive quantities (`N_opt`, `D_opt`, `D/N`, `E`, `A`, `B`, `G`). Under case
//! resampling `θ₀ = θ̂` and this is the ordinary percentile interval. Under residual
//! resampling `θ₀` is the method applied to the noise-free law `L̂` (for approach 3 that is
//! `θ̂` itself): the resamples measure how the method's answer scatters when noise is added
//! to a smooth surface, and that scatter is placed around the method's own estimate, so a
//! method that disagrees with approach 3 is not pulled towards it. When a method cannot be
//! fitted on `L̂` (e.g. the smooth law's minimum falls off the grid), the scatter is centred
//! on the median resample instead, and the report says so. What a method finds on `L̂`
//! against `L̂`'s own exponent is reported as that method's bias on this design (a staircase
//! of four model sizes, a parabola through widely spaced sizes), which resampling cannot put
//! into an interval. Intervals are reported only when at least half the resamples (and at
//! least 10) could be fitted.
//!
//! Coverage is a test (`tests/coverage_fits.rs`): 40 IsoFLOP sweeps (5 budgets × 5 sizes, 2%
//! noise, 200 resamples each) against each method's noise-free answer; measured at nominal
//! 95% for the `N_opt` exponent: approach 1 (with training curves) 90%, approach 2 100%,
//! approach 3 97.5%, surface 100% (its intervals on scattered IsoFLOP runs are wide: ±0.25 on
//! an exponent of 0.4); approach 3's E, α, β against the true law 90%, 95%, 100%. The
//! reflected ("basic") interval `θ̂ ⊖ [q₉₇.₅, q₂.₅]` was tried: approach 1 95%, but E 75%, α
//! 90% (E's resamples are skewed, which reflection turns the wrong way).
//!
//! In simulation (`examples/bootstrap_coverage.rs`: 40 sweeps each of an IsoFLOP design and
//! of a 6 × 7 grid, 2% noise) the residual intervals of the four methods contained the
//! method's noise-free answer in 88–100% of sweeps and were 0.9–1.3 times as wide as the
//! actual spread of the estimates (3.92 standard deviations); intervals from resampling runs
//! were 1.5–2.8 times too wide for approaches 1 and 2 — and on an IsoFLOP design with 3–4
//! model sizes per budget those two got no intervals at all.
//!
//! Approach 3 refits each resample by L-BFGS from the best distinct optima of the full-data
//! fit ([`JointFit::warm_starts`]), not from the whole grid — the grid search has already
//! located the basin, and the bootstrap would otherwise cost thousands of times the fit.
//! Resamples run in parallel (rayon) and are seeded by their index, so results do not depend
//! on the number of threads.
//!
//! # Fit windows
//!
//! Reported apart from the bootstrap: each method is refitted on the runs with `N` at least
//! each model size in turn (dropping the smallest models), and likewise for `D`. The spread
//! of the exponents across windows is a systematic uncertainty that resampling does not see.
//!
//! # Extrapolation check
//!
//! Approach 3 is refitted (from the full grid of starts) without the runs of the largest
//! `holdout_sizes` model sizes — more sizes when those hold fewer than 10% of the runs, as in
//! an IsoFLOP design where every run has its own `N`, as long as two sizes are left — and its
//! predictions for the held-out runs are compared with their measured losses.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use rayon::prelude::*;

use super::answers::{self, Answers, Asked, MethodAnswers};
use super::constrained::ConstrainedFit;
use super::data::{
    ComputeModel, Conventions, ScalingData, ScalingPoint, distinct, validate_points,
};
use super::envelope::{Curves, EnvelopeFit, envelope_of, match_curves};
use super::isoflop::{IsoFlopFit, IsoFlopOptions, fit_isoflop};
use super::joint::{JointFit, JointFitOptions, JointLaw, fit_joint_from, fit_joint_law};
use super::kaplan::{KaplanFit, KaplanFitOptions, fit_kaplan_law};
use super::surface::{SurfaceFit, SurfaceOptions, fit_surface};
use super::{Estimate, Frontier, Method, logspace, quantile};
use crate::error::AnalysisError;

/// Settings of [`analyze`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AnalysisSettings {
    /// Methods to run. Default: all four.
    pub methods: Vec<Method>,
    /// Bootstrap resamples per method (0 = no intervals). Default 1,000.
    pub bootstrap: usize,
    /// How resamples are drawn. Default: [`Resampling::Residuals`].
    #[serde(default)]
    pub resampling: Resampling,
    /// Seed of the resampling (and of the start subset of approach 3).
    pub seed: u64,
    /// Approach 3 options (Huber δ, starts).
    pub joint: JointFitOptions,
    /// Approach 2 options.
    pub isoflop: IsoFlopOptions,
    /// Surface options.
    pub surface: SurfaceOptions,
    /// Budget at which `N_opt`, `D_opt` and tokens per parameter are reported; default (None):
    /// the largest compute among the runs.
    pub reference_compute: Option<f64>,
    /// Model sizes held out (largest first) by the extrapolation check, raised until at
    /// least 10% of the runs are held out; 0 = no check. Default 1.
    pub holdout_sizes: usize,
    /// Whether to run the fit-window sweep. Default true.
    pub windows: bool,
    /// Budgets (FLOPs, in the data's compute convention) at which every method's
    /// compute-optimal `N`, `D`, `D/N` and loss are reported with intervals
    /// ([`FitReport::answers`]). Default none.
    #[serde(default)]
    pub budgets: Vec<f64>,
    /// `(N, D)` pairs whose loss approach 3 (and the surface, inside the runs) predicts with
    /// intervals ([`FitReport::answers`]). Default none.
    #[serde(default)]
    pub predict: Vec<(f64, f64)>,
}

impl Default for AnalysisSettings {
    /// All methods, 1,000 resamples of residuals, seed 0, default method options, reference compute = the
    /// largest run's, one held-out model size, windows on.
    fn default() -> Self {
        AnalysisSettings {
            methods: Method::ALL.to_vec(),
            bootstrap: 1000,
            resampling: Resampling::Residuals,
            seed: 0,
            joint: JointFitOptions::default(),
            isoflop: IsoFlopOptions::default(),
            surface: SurfaceOptions::default(),
            reference_compute: None,
            holdout_sizes: 1,
            windows: true,
            budgets: Vec::new(),
            predict: Vec::new(),
        }
    }
}

/// How bootstrap resamples are drawn (see the [module docs](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resampling {
    /// Fixed design: every run kept, its loss redrawn as approach 3's fitted law times a
    /// resampled log residual. Default.
    #[default]
    Residuals,
    /// Runs drawn with replacement (case resampling).
    Runs,
}

impl Resampling {
    /// The command-line name: `residuals` or `runs`.
    pub fn name(self) -> &'static str {
        match self {
            Resampling::Residuals => "residuals",
            Resampling::Runs => "runs",
        }
    }
}

impl std::str::FromStr for Resampling {
    type Err = AnalysisError;

    /// `residuals` or `runs` (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "residuals" | "residual" => Ok(Resampling::Residuals),
            "runs" | "cases" => Ok(Resampling::Runs),
            o => Err(AnalysisError::invalid(
                "--resample",
                format!("unknown resampling `{o}`; expected residuals or runs"),
            )),
        }
    }
}

/// The method-specific result behind a [`MethodReport`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MethodDetail {
    /// Approach 1.
    Envelope(EnvelopeFit),
    /// Approach 2.
    IsoFlop(IsoFlopFit),
    /// Approach 3.
    Joint(JointFit),
    /// Surface method.
    Surface(SurfaceFit),
}

/// The compute-optimal allocation a method gives, with 95% bootstrap intervals.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Allocation {
    /// `a` in `N_opt ∝ C^a`.
    pub n_exponent: Estimate,
    /// `b` in `D_opt ∝ C^b`.
    pub d_exponent: Estimate,
    /// `N_opt` (parameters) at the reference compute.
    pub n_opt: Estimate,
    /// `D_opt` (training tokens) at the reference compute.
    pub d_opt: Estimate,
    /// `D_opt / N_opt` at the reference compute.
    pub tokens_per_param: Estimate,
}

/// Pointwise 95% bootstrap band of a method's frontier at one budget.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BandPoint {
    /// Budget, FLOPs.
    pub c: f64,
    /// 2.5% quantile of `N_opt(c)`.
    pub n_lo: f64,
    /// 97.5% quantile of `N_opt(c)`.
    pub n_hi: f64,
    /// 2.5% quantile of `D_opt(c)`.
    pub d_lo: f64,
    /// 97.5% quantile of `D_opt(c)`.
    pub d_hi: f64,
}

/// One method's result.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MethodReport {
    /// Which method.
    pub method: Method,
    /// Why the method gave no result (None when it did).
    pub error: Option<String>,
    /// The allocation with intervals.
    pub allocation: Option<Allocation>,
    /// The fitted frontier.
    pub frontier: Option<Frontier>,
    /// Method-specific results (envelope, profiles, law, surface minima).
    pub detail: Option<MethodDetail>,
    /// Resamples requested.
    pub bootstrap_requested: usize,
    /// Resamples that could be fitted.
    pub bootstrap_ok: usize,
    /// The most frequent reasons resamples failed, with counts.
    pub bootstrap_failures: Vec<String>,
    /// Pointwise 95% band of the frontier over the budgets of the method's optima.
    pub band: Vec<BandPoint>,
    /// Caveats and how the method was applied.
    pub notes: Vec<String>,
    /// Wall time of the full-data fit, seconds.
    pub fit_seconds: f64,
    /// Wall time of the bootstrap, seconds.
    pub bootstrap_seconds: f64,
}

/// Approach 3's parameters with 95% bootstrap intervals.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JointReport {
    /// `E`.
    pub e: Estimate,
    /// `A`.
    pub a: Estimate,
    /// `B`.
    pub b: Estimate,
    /// `α`.
    pub alpha: Estimate,
    /// `β`.
    pub beta: Estimate,
    /// `G = (αA/(βB))^(1/(α+β))`.
    pub g: Estimate,
}

/// One refit on a window of the data.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowFit {
    /// Which method.
    pub method: Method,
    /// The window, e.g. `all runs`, `N ≥ 2.5e4`, `D ≥ 1e5`.
    pub window: String,
    /// Points in the window.
    pub n_points: usize,
    /// `a` in `N_opt ∝ C^a`, when the fit succeeded.
    pub n_exponent: Option<f64>,
    /// `b` in `D_opt ∝ C^b`.
    pub d_exponent: Option<f64>,
    /// Tokens per parameter at the reference compute.
    pub tokens_per_param: Option<f64>,
    /// Approach 3's `α` and `β`.
    pub alpha_beta: Option<(f64, f64)>,
    /// Why the fit failed.
    pub error: Option<String>,
}

/// A held-out run of the extrapolation check.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeldOutRun {
    /// The run.
    pub run_id: String,
    /// Its `N` (parameters).
    pub n: f64,
    /// Its `D` (training tokens).
    pub d: f64,
    /// Measured loss (nats per token for scalinglab's runs).
    pub loss: f64,
    /// Approach 3's prediction from the smaller models.
    pub predicted: f64,
    /// `(predicted − loss) / loss`.
    pub rel_error: f64,
}

/// Approach 3 fitted on the smaller models, tested on the largest.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExtrapolationCheck {
    /// Runs with `N` at least this were held out.
    pub held_out_from_n: f64,
    /// Points fitted.
    pub fit_points: usize,
    /// The law fitted without the held-out runs.
    pub law: JointLaw,
    /// Each held-out run.
    pub runs: Vec<HeldOutRun>,
    /// Mean of `|rel_error|`.
    pub mean_abs_rel_error: f64,
    /// Largest `|rel_error|`.
    pub max_abs_rel_error: f64,
}

/// A known lower bound of the loss and where it came from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KnownFloor {
    /// The loss, in the data's unit.
    pub loss: f64,
    /// Where it came from (`--floor`, or the file that recorded it).
    pub source: String,
}

/// Everything [`analyze`] found; serialised to `fit.json` by [`super::fit_command`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitReport {
    /// Report title.
    pub title: String,
    /// Input file (empty when the data did not come from a file).
    pub input: String,
    /// Kind of input, e.g. "scalinglab results" or "generic CSV".
    pub source: String,
    /// Counting conventions.
    pub conventions: Conventions,
    /// Training curves used by approach 1, in words.
    pub curves: String,
    /// How the bootstrap resampled, in words (including a fallback from residuals to runs).
    #[serde(default)]
    pub bootstrap_scheme: String,
    /// The points fitted.
    pub points: Vec<ScalingPoint>,
    /// Distinct model sizes.
    pub n_sizes: usize,
    /// Distinct token counts.
    pub n_token_counts: usize,
    /// Smallest and largest compute among the points, FLOPs.
    pub compute_range: (f64, f64),
    /// Budget of the reported `N_opt`, `D_opt` and tokens per parameter, FLOPs.
    pub reference_compute: f64,
    /// Settings used.
    pub settings: AnalysisSettings,
    /// One entry per method run, in [`Method::ALL`] order.
    pub methods: Vec<MethodReport>,
    /// Approach 3's parameters with intervals.
    pub joint: Option<JointReport>,
    /// The fit-window sweep.
    pub windows: Vec<WindowFit>,
    /// The extrapolation check.
    pub extrapolation: Option<ExtrapolationCheck>,
    /// Why the extrapolation check could not run.
    pub extrapolation_error: Option<String>,
    /// Kaplan et al. (2020)'s joint law `[(N_c/N)^(α_N/α_D) + D_c/D]^α_D` fitted beside
    /// approach 3, with 95% residual-bootstrap intervals ([`super::kaplan`]).
    #[serde(default)]
    pub kaplan: Option<KaplanFit>,
    /// Why the Kaplan law could not be fitted.
    #[serde(default)]
    pub kaplan_error: Option<String>,
    /// Muennighoff et al. (2023)'s data-constrained law `E + A/N^α + B/D'^β` with 95%
    /// residual-bootstrap intervals ([`super::constrained`]), fitted by [`super::fit_command`]
    /// when the input carries unique-token counts (a results file's `epochs`, a generic CSV's
    /// unique-token column) and some run repeats its data.
    #[serde(default)]
    pub constrained: Option<ConstrainedFit>,
    /// Why the data-constrained law was not fitted (e.g. no run repeats its data); `None` when
    /// it was, or when the input has no unique-token counts.
    #[serde(default)]
    pub constrained_error: Option<String>,
    /// Answers at the requested budgets and `(N, D)` pairs ([`AnalysisSettings::budgets`],
    /// [`AnalysisSettings::predict`]); `None` when none were requested.
    #[serde(default)]
    pub answers: Option<Answers>,
    /// The loss no model can go below, when known (`--floor`, or a sweep's recorded
    /// reference loss); approach 3's `E` and predictions below it are in `warnings`.
    #[serde(default)]
    pub floor: Option<KnownFloor>,
    /// Caveats about the data and the fits.
    pub warnings: Vec<String>,
    /// Files written (filled by [`super::fit_command`]).
    pub files: Vec<String>,
    /// Total wall time, seconds.
    pub wall_seconds: f64,
}

impl FitReport {
    /// The report of `method`, if it was run.
    pub fn method(&self, method: Method) -> Option<&MethodReport> {
        self.methods.iter().find(|m| m.method == method)
    }
}

/// What one fit of one method gives.
struct Outcome {
    frontier: Frontier,
    detail: MethodDetail,
}

impl Outcome {
    /// The fitted law, for approach 3.
    fn law(&self) -> Option<JointLaw> {
        match &self.detail {
            MethodDetail::Joint(j) => Some(j.law),
            _ => None,
        }
    }
}

/// One data set to fit: points and, when given, each point's training curve.
struct Sample {
    points: Vec<ScalingPoint>,
    curves: Option<Curves>,
}

/// How the bootstrap draws its resamples (see the module docs).
enum Scheme {
    /// Runs drawn with replacement.
    Runs,
    /// Fixed design, losses redrawn around approach 3's law.
    Residuals {
        /// `L̂ᵢ`, the law at each run.
        fitted: Vec<f64>,
        /// Centred, rescaled log residuals to draw from.
        residuals: Vec<f64>,
    },
}

/// Shared, read-only inputs of every fit.
struct Ctx<'a> {
    settings: &'a AnalysisSettings,
    cm: ComputeModel,
    /// Compute range of the full data (approach 3's frontier is sampled over it).
    c_range: (f64, f64),
    curves: Option<Curves>,
    scheme: Scheme,
    /// Approach 3 on all the data, when it was fitted to set up the residual bootstrap, with
    /// its wall time.
    joint_main: Option<(JointFit, f64)>,
}

impl Ctx<'_> {
    fn run(
        &self,
        method: Method,
        points: &[ScalingPoint],
        curves: Option<&[Vec<(f64, f64)>]>,
        warm: Option<&[[f64; 5]]>,
    ) -> Result<Outcome, AnalysisError> {
        let s = self.settings;
        Ok(match method {
            Method::Approach1 => {
                let f = envelope_of(points, curves, &self.cm)?;
                Outcome { frontier: f.frontier.clone(), detail: MethodDetail::Envelope(f) }
            }
            Method::Approach2 => {
                let f = fit_isoflop(points, &self.cm, &s.isoflop)?;
                Outcome { frontier: f.frontier.clone(), detail: MethodDetail::IsoFlop(f) }
            }
            Method::Approach3 => {
                let f = match warm {
                    Some(w) if !w.is_empty() => fit_joint_from(points, w, &s.joint)?,
                    _ => fit_joint_law(points, &s.joint)?,
                };
                self.joint_outcome(f)?
            }
            Method::Surface => {
                let f = fit_surface(points, &self.cm, &s.surface)?;
                Outcome { frontier: f.frontier.clone(), detail: MethodDetail::Surface(f) }
            }
        })
    }

    /// Approach 3's outcome from its fit: the law's frontier over the data's compute range.
    fn joint_outcome(&self, f: JointFit) -> Result<Outcome, AnalysisError> {
        let frontier = f.law.frontier(&self.cm, self.c_range.0, self.c_range.1)?;
        Ok(Outcome { frontier, detail: MethodDetail::Joint(f) })
    }

    fn run_sample(
        &self,
        method: Method,
        sample: &Sample,
        warm: Option<&[[f64; 5]]>,
    ) -> Result<Outcome, AnalysisError> {
        self.run(method, &sample.points, sample.curves.as_deref(), warm)
    }

    /// The subset `idx` of the points (with repetition), with their curves.
    fn subset(&self, all: &[ScalingPoint], idx: &[usize]) -> Sample {
        Sample {
            points: idx.iter().map(|&i| all[i].clone()).collect(),
            curves: self.curves.as_ref().map(|c| idx.iter().map(|&i| c[i].clone()).collect()),
        }
    }

    /// Every point with a new loss; each training curve scaled by its run's new/old loss.
    fn with_losses(&self, all: &[ScalingPoint], losses: &[f64]) -> Sample {
        Sample {
            points: all
                .iter()
                .zip(losses)
                .map(|(p, &loss)| ScalingPoint { loss, ..p.clone() })
                .collect(),
            curves: self.curves.as_ref().map(|c| {
                c.iter()
                    .zip(all.iter().zip(losses))
                    .map(|(curve, (p, &l))| {
                        let k = l / p.loss;
                        curve.iter().map(|&(t, v)| (t, v * k)).collect()
                    })
                    .collect()
            }),
        }
    }

    /// Bootstrap resample `i`: the same data set for every method.
    fn resample(&self, all: &[ScalingPoint], i: usize) -> Sample {
        let mut rng = ChaCha12Rng::seed_from_u64(resample_seed(self.settings.seed, i));
        match &self.scheme {
            Scheme::Runs => {
                let n = all.len();
                let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
                self.subset(all, &idx)
            }
            Scheme::Residuals { fitted, residuals } => {
                let losses: Vec<f64> = fitted
                    .iter()
                    .map(|f| f * residuals[rng.random_range(0..residuals.len())].exp())
                    .collect();
                self.with_losses(all, &losses)
            }
        }
    }

    /// The data the resamples are drawn around, when it is not the data itself: the
    /// noise-free law under residual resampling.
    fn centre(&self, all: &[ScalingPoint]) -> Option<Sample> {
        match &self.scheme {
            Scheme::Runs => None,
            Scheme::Residuals { fitted, .. } => Some(self.with_losses(all, fitted)),
        }
    }
}

/// The residual scheme around `fit`: `L̂ᵢ` and the centred log residuals rescaled by
/// `√(n/(n − 5))`. Errors (in words) with fewer than 7 points: two degrees of freedom at
/// least are needed to estimate the noise.
fn residual_scheme(points: &[ScalingPoint], fit: &JointFit) -> Result<Scheme, String> {
    let n = points.len();
    const PARAMS: usize = 5;
    if n < PARAMS + 2 {
        return Err(format!(
            "{n} runs leave {} degree(s) of freedom after approach 3's 5 parameters; 2 are needed to estimate \
             the noise",
            n.saturating_sub(PARAMS)
        ));
    }
    let fitted: Vec<f64> = points.iter().map(|p| fit.law.loss(p.n, p.d)).collect();
    let raw: Vec<f64> = points.iter().zip(&fitted).map(|(p, f)| (p.loss / f).ln()).collect();
    if raw.iter().any(|r| !r.is_finite()) {
        return Err("approach 3's law gives a non-finite prediction at some run".into());
    }
    // A Huber fit with δ far below the noise is nearly an L1 fit: it passes (almost) exactly
    // through a handful of runs, whose residuals then sit inside ±δ. Drawn as noise, those
    // near-zeros make the loss look less noisy than it is (the bootstrap intervals of
    // approach 3 came out about 20% too narrow in simulation), so they are left out — unless
    // most residuals are that small, when δ is the noise level and every residual is kept.
    let outside = raw.iter().filter(|r| r.abs() > fit.huber_delta).count();
    let mut pool = raw;
    if 2 * outside >= n {
        pool.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
        let pinned = pool.iter().take(PARAMS).filter(|r| r.abs() <= fit.huber_delta).count();
        pool.drain(..pinned);
    }
    let mean = pool.iter().sum::<f64>() / pool.len() as f64;
    let scale = (n as f64 / (n - PARAMS) as f64).sqrt();
    let residuals = pool.iter().map(|r| (r - mean) * scale).collect();
    Ok(Scheme::Residuals { fitted, residuals })
}

/// Seed of bootstrap resample `i`.
fn resample_seed(seed: u64, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (i as u64).wrapping_mul(0xD1B5_4A32_D192_ED03).rotate_left(17)
}

/// How a quantity's bootstrap deviations are taken: differences (exponents) or ratios
/// (positive quantities).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scale {
    Linear,
    Log,
}

impl Scale {
    fn to(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log if v > 0.0 => v.ln(),
            Scale::Log => f64::NAN,
        }
    }

    fn from(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.exp(),
        }
    }
}

/// The 95% interval `value ⊕ [q₂.₅, q₉₇.₅](draws ⊖ centre)` (module docs); `centre` None:
/// the median draw. `None` when `ok` is false, fewer than two draws are usable, or the
/// value or centre cannot be placed on `scale`.
pub(crate) fn interval_of(
    value: f64,
    centre: Option<f64>,
    draws: &[f64],
    scale: Scale,
    ok: bool,
) -> Option<(f64, f64)> {
    if !ok {
        return None;
    }
    let mut t: Vec<f64> = draws.iter().map(|&d| scale.to(d)).filter(|v| v.is_finite()).collect();
    if t.len() < 2 {
        return None;
    }
    t.sort_by(f64::total_cmp);
    let t0 = match centre {
        Some(c) => scale.to(c),
        None => quantile(&t, 0.5),
    };
    let tv = scale.to(value);
    if !(t0.is_finite() && tv.is_finite()) {
        return None;
    }
    let lo = tv + quantile(&t, 0.025) - t0;
    let hi = tv + quantile(&t, 0.975) - t0;
    Some((scale.from(lo), scale.from(hi)))
}

fn estimate(value: f64, centre: Option<f64>, draws: &[f64], scale: Scale, ok: bool) -> Estimate {
    Estimate { value, ci: interval_of(value, centre, draws, scale, ok) }
}

/// Runs the chosen methods on `data` side by side (see the [module docs](self)).
///
/// A method that cannot be fitted (too few model sizes, an unbracketed minimum…) gets its reason in
/// [`MethodReport::error`] and the others go on.
///
/// # Errors
///
/// Invalid settings (no method, a non-finite reference compute) or points (non-finite or
/// non-positive values, naming the point); no method could be fitted (listing every method's
/// reason).
pub fn analyze(
    data: &ScalingData,
    settings: &AnalysisSettings,
) -> Result<FitReport, AnalysisError> {
    let t0 = Instant::now();
    let points = &data.points;
    validate_points("scalinglab fit", points)?;
    if points.is_empty() {
        return Err(AnalysisError::NoData("the data set has no points".into()));
    }
    if settings.methods.is_empty() {
        return Err(AnalysisError::invalid("scalinglab fit: methods", "no method was selected"));
    }
    if let Some(c) = settings.reference_compute
        && !(c.is_finite() && c > 0.0)
    {
        return Err(AnalysisError::invalid(
            "scalinglab fit: reference_compute",
            format!("reference compute {c} must be finite and > 0"),
        ));
    }
    answers::validate(
        &settings.budgets,
        &settings.predict,
        "scalinglab fit: budgets",
        "scalinglab fit: predict",
    )?;
    let curves = match_curves(points, &data.curves)?;
    let c_lo = points.iter().map(|p| p.c).fold(f64::INFINITY, f64::min);
    let c_hi = points.iter().map(|p| p.c).fold(f64::NEG_INFINITY, f64::max);
    let c_ref = settings.reference_compute.unwrap_or(c_hi);
    let cm = ComputeModel::from_points(points);
    let mut warnings = data.warnings.clone();
    if !data.conventions.compute_is_6nd && cm.constant().is_none() {
        warnings.push(
            "C is not proportional to N·D: compute is modelled as C = k(N)·N·D with k interpolated in ln N between \
             model sizes; approach 3's optimum is found numerically"
                .into(),
        );
    }
    let (scheme, joint_main, bootstrap_scheme) = bootstrap_scheme(settings, points, &mut warnings);
    let ctx = Ctx { settings, cm, c_range: (c_lo, c_hi), curves, scheme, joint_main };
    let curves_text = match &ctx.curves {
        Some(c) => format!(
            "{} training-curve points from {} runs",
            data.curves.len(),
            c.iter().filter(|v| !v.is_empty()).count()
        ),
        None => "none: approach 1 used end-of-run points only (one point per run)".to_string(),
    };

    let mut methods: Vec<Method> = settings.methods.clone();
    methods.sort();
    methods.dedup();
    let mut reports = Vec::new();
    let mut joint_report = None;
    let mut warm: Option<Vec<[f64; 5]>> = None;
    let asked = Asked { budgets: &settings.budgets, predict: &settings.predict, cm: &ctx.cm };
    let mut method_answers = Vec::new();
    for &method in &methods {
        let (report, jr, ma) = run_with_bootstrap(&ctx, method, points, c_ref, &asked);
        method_answers.push(ma);
        if let Some(MethodDetail::Joint(j)) = &report.detail {
            warm = Some(j.warm_starts.clone());
        }
        if jr.is_some() {
            joint_report = jr;
        }
        reports.push(report);
    }
    if reports.iter().all(|r| r.error.is_some()) {
        let reasons: Vec<String> = reports
            .iter()
            .map(|r| format!("{}: {}", r.method, r.error.as_deref().unwrap_or("")))
            .collect();
        return Err(AnalysisError::FitFailed {
            context: "scalinglab fit".into(),
            message: format!("no method could be fitted — {}", reasons.join(" | ")),
        });
    }

    let windows = if settings.windows {
        window_sweep(&ctx, &methods, points, c_ref, warm.as_deref())
    } else {
        Vec::new()
    };
    let (extrapolation, extrapolation_error) =
        if methods.contains(&Method::Approach3) && settings.holdout_sizes > 0 {
            match extrapolation_check(&ctx, points, settings.holdout_sizes) {
                Ok(e) => (Some(e), None),
                Err(e) => (None, Some(e.to_string())),
            }
        } else {
            (None, None)
        };
    add_warnings(&mut warnings, &reports, &joint_report);
    let answers = answers::assemble(&asked, points, method_answers);
    let kopts = KaplanFitOptions {
        huber_delta: settings.joint.huber_delta,
        bootstrap: settings.bootstrap,
        seed: settings.seed,
    };
    let (kaplan, kaplan_error) = match fit_kaplan_law(points, &kopts) {
        Ok(k) => (Some(k), None),
        Err(e) => (None, Some(e.to_string())),
    };

    Ok(FitReport {
        title: String::new(),
        input: String::new(),
        source: data.source.clone(),
        conventions: data.conventions.clone(),
        curves: curves_text,
        bootstrap_scheme,
        points: points.clone(),
        n_sizes: distinct(points.iter().map(|p| p.n)),
        n_token_counts: distinct(points.iter().map(|p| p.d)),
        compute_range: (c_lo, c_hi),
        reference_compute: c_ref,
        settings: settings.clone(),
        methods: reports,
        joint: joint_report,
        windows,
        extrapolation,
        extrapolation_error,
        kaplan,
        kaplan_error,
        constrained: None,
        constrained_error: None,
        answers,
        floor: None,
        warnings,
        files: Vec::new(),
        wall_seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Sets up the bootstrap: the scheme, approach 3's full-data fit when the residual scheme
/// needed it, and the scheme in words. Falls back to resampling runs (with a warning) when
/// approach 3's law cannot be fitted or leaves too few degrees of freedom.
fn bootstrap_scheme(
    settings: &AnalysisSettings,
    points: &[ScalingPoint],
    warnings: &mut Vec<String>,
) -> (Scheme, Option<(JointFit, f64)>, String) {
    let runs_text = |b: usize| {
        format!(
            "{b} resamples of the runs, drawn with replacement (with their training curves); the same resamples \
             for every method"
        )
    };
    if settings.bootstrap == 0 {
        return (Scheme::Runs, None, "none (no resamples requested)".into());
    }
    if settings.resampling == Resampling::Runs {
        return (Scheme::Runs, None, runs_text(settings.bootstrap));
    }
    let t = Instant::now();
    let fit = fit_joint_law(points, &settings.joint);
    let seconds = t.elapsed().as_secs_f64();
    let why = match fit {
        Ok(fit) => match residual_scheme(points, &fit) {
            Ok(scheme) => {
                let pool = match &scheme {
                    Scheme::Residuals { residuals, .. } => residuals.len(),
                    Scheme::Runs => 0,
                };
                let left_out = if pool < points.len() {
                    format!(
                        "; the {} within the Huber δ = {}, which the fit pins near 0, left out",
                        points.len() - pool,
                        fit.huber_delta
                    )
                } else {
                    String::new()
                };
                let text = format!(
                    "{} resamples of the losses at fixed design: every run kept, its loss redrawn as approach 3's \
                     fitted law times a log residual drawn with replacement from {pool} of the {} runs' residuals \
                     (RMS {}{left_out}; centred, rescaled by √(n/(n−5))); the same resamples for every method; \
                     intervals placed around each method's own estimate",
                    settings.bootstrap,
                    points.len(),
                    crate::format::sig(fit.rms_log_residual, 3)
                );
                return (scheme, Some((fit, seconds)), text);
            }
            Err(why) => why,
        },
        Err(e) => format!("approach 3's law could not be fitted ({e})"),
    };
    warnings.push(format!(
        "the residual bootstrap needs approach 3's law and its residuals: {why}; runs were resampled instead"
    ));
    (Scheme::Runs, None, format!("{} (fallback: {why})", runs_text(settings.bootstrap)))
}

/// Full-data fit, bootstrap, intervals and band for one method.
fn run_with_bootstrap(
    ctx: &Ctx,
    method: Method,
    points: &[ScalingPoint],
    c_ref: f64,
    asked: &Asked,
) -> (MethodReport, Option<JointReport>, MethodAnswers) {
    let s = ctx.settings;
    let t = Instant::now();
    let all: Vec<usize> = (0..points.len()).collect();
    let (main, fit_seconds) = match (method, &ctx.joint_main) {
        (Method::Approach3, Some((fit, secs))) => (ctx.joint_outcome(fit.clone()), *secs),
        _ => (ctx.run_sample(method, &ctx.subset(points, &all), None), t.elapsed().as_secs_f64()),
    };
    let mut report = MethodReport {
        method,
        error: None,
        allocation: None,
        frontier: None,
        detail: None,
        bootstrap_requested: s.bootstrap,
        bootstrap_ok: 0,
        bootstrap_failures: Vec::new(),
        band: Vec::new(),
        notes: Vec::new(),
        fit_seconds,
        bootstrap_seconds: 0.0,
    };
    let main = match main {
        Ok(m) => m,
        Err(e) => {
            report.error = Some(e.to_string());
            let failed = answers::method_failed(asked, method, &e.to_string());
            return (report, None, failed);
        }
    };
    // The answers at the requested budgets and (N, D), evaluated on every fit below.
    let quantities = |o: &Outcome, sample: &[ScalingPoint]| {
        if asked.is_empty() {
            Vec::new()
        } else {
            answers::quantities(asked, method, &o.frontier, o.law().as_ref(), sample)
        }
    };
    let main_q = quantities(&main, points);
    let warm = match &main.detail {
        MethodDetail::Joint(j) => Some(j.warm_starts.clone()),
        _ => None,
    };

    let t = Instant::now();
    // Where the resamples are centred: the method on the data they are drawn around.
    let centre: Option<(Frontier, Option<JointLaw>, Vec<f64>)> = if s.bootstrap == 0 {
        None
    } else {
        match ctx.centre(points) {
            None => Some((main.frontier.clone(), main.law(), main_q.clone())),
            Some(smooth) => match ctx.run_sample(method, &smooth, warm.as_deref()) {
                Ok(o) => {
                    if let Some(note) = design_bias_note(ctx, method, &o.frontier) {
                        report.notes.push(note);
                    }
                    Some((o.frontier.clone(), o.law(), quantities(&o, &smooth.points)))
                }
                Err(e) => {
                    report.notes.push(format!(
                        "the method cannot be fitted on approach 3's noise-free law ({}), so the resamples' scatter \
                         is centred on their median",
                        first_line(&e.to_string(), 160)
                    ));
                    None
                }
            },
        }
    };
    type Draw = (Frontier, Option<JointLaw>, Vec<f64>);
    let draws: Vec<Result<Draw, String>> = (0..s.bootstrap)
        .into_par_iter()
        .map(|i| {
            let sample = ctx.resample(points, i);
            match ctx.run_sample(method, &sample, warm.as_deref()) {
                Ok(o) => Ok((o.frontier.clone(), o.law(), quantities(&o, &sample.points))),
                Err(e) => Err(e.to_string()),
            }
        })
        .collect();
    report.bootstrap_seconds = t.elapsed().as_secs_f64();
    let ok: Vec<&Draw> = draws.iter().filter_map(|d| d.as_ref().ok()).collect();
    report.bootstrap_ok = ok.len();
    report.bootstrap_failures = failure_summary(&draws);
    let enough = s.bootstrap > 0 && ok.len() >= 10 && 2 * ok.len() >= s.bootstrap;
    if s.bootstrap > 0 && !enough {
        report.notes.push(format!(
            "only {} of {} bootstrap resamples could be fitted: no intervals (the method fails on most resampled \
             data sets; see the failures below)",
            ok.len(),
            s.bootstrap
        ));
    } else if s.bootstrap > 0 && ok.len() < s.bootstrap {
        report.notes.push(format!(
            "intervals from the {} of {} resamples that could be fitted",
            ok.len(),
            s.bootstrap
        ));
    }
    let f = &main.frontier;
    let cf = centre.as_ref().map(|c| &c.0);
    let col = |g: &dyn Fn(&Frontier) -> f64| ok.iter().map(|d| g(&d.0)).collect::<Vec<f64>>();
    let est = |g: &dyn Fn(&Frontier) -> f64, scale: Scale| {
        estimate(g(f), cf.map(g), &col(g), scale, enough)
    };
    report.allocation = Some(Allocation {
        n_exponent: est(&|x| x.n_exponent, Scale::Linear),
        d_exponent: est(&|x| x.d_exponent, Scale::Linear),
        n_opt: est(&|x| x.n_opt(c_ref), Scale::Log),
        d_opt: est(&|x| x.d_opt(c_ref), Scale::Log),
        tokens_per_param: est(&|x| x.tokens_per_param(c_ref), Scale::Log),
    });
    if enough {
        let (lo, hi) = c_span(&main.frontier);
        for c in logspace(lo, hi, 40) {
            let band = |g: &dyn Fn(&Frontier) -> f64| {
                interval_of(g(f), cf.map(g), &col(g), Scale::Log, true)
            };
            if let (Some((n_lo, n_hi)), Some((d_lo, d_hi))) =
                (band(&|x| x.n_opt(c)), band(&|x| x.d_opt(c)))
            {
                report.band.push(BandPoint { c, n_lo, n_hi, d_lo, d_hi });
            }
        }
    }
    let draw_q: Vec<&[f64]> = ok.iter().map(|d| d.2.as_slice()).collect();
    let method_answers = answers::method_answers(
        asked,
        method,
        &main.frontier,
        &main_q,
        centre.as_ref().map(|c| c.2.as_slice()),
        &draw_q,
        enough,
    );
    report.notes.extend(method_notes(&main.detail));
    let joint = match &main.detail {
        MethodDetail::Joint(j) => {
            let laws: Vec<JointLaw> = ok.iter().filter_map(|d| d.1).collect();
            let cl = centre.as_ref().and_then(|c| c.1);
            let get = |g: fn(&JointLaw) -> f64, scale: Scale| {
                let draws: Vec<f64> = laws.iter().map(g).collect();
                estimate(g(&j.law), cl.as_ref().map(g), &draws, scale, enough)
            };
            Some(JointReport {
                e: get(|l| l.e, Scale::Log),
                a: get(|l| l.a, Scale::Log),
                b: get(|l| l.b, Scale::Log),
                alpha: get(|l| l.alpha, Scale::Linear),
                beta: get(|l| l.beta, Scale::Linear),
                g: get(|l| l.g(), Scale::Log),
            })
        }
        _ => None,
    };
    report.frontier = Some(main.frontier);
    report.detail = Some(main.detail);
    (report, joint, method_answers)
}

/// What the method finds on approach 3's noise-free law against the law's own exponent: the
/// method's bias on this design (finite model sizes, parabolas, interpolation), which the
/// bootstrap does not put into the intervals. `None` for approach 3 itself or without a law.
fn design_bias_note(ctx: &Ctx, method: Method, on_law: &Frontier) -> Option<String> {
    if method == Method::Approach3 {
        return None;
    }
    let (fit, _) = ctx.joint_main.as_ref()?;
    let exact = fit.law.frontier(&ctx.cm, ctx.c_range.0, ctx.c_range.1).ok()?;
    Some(format!(
        "on approach 3's noise-free law this method finds a = {:.3} where the law's own N_opt exponent is {:.3}: \
         a bias of {:+.3} from this design that the intervals do not include",
        on_law.n_exponent,
        exact.n_exponent,
        on_law.n_exponent - exact.n_exponent
    ))
}

/// The first line of `s`, cut to `max` characters.
fn first_line(s: &str, max: usize) -> String {
    let s = s.lines().next().unwrap_or_default();
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Smallest and largest budget among a frontier's optima.
pub(crate) fn c_span(f: &Frontier) -> (f64, f64) {
    f.points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.c), b.max(p.c)))
}

/// The three most frequent failure messages, with counts.
fn failure_summary<T>(draws: &[Result<T, String>]) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for e in draws.iter().filter_map(|d| d.as_ref().err()) {
        match counts.iter_mut().find(|c| c.0 == *e) {
            Some(c) => c.1 += 1,
            None => counts.push((e.clone(), 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts.into_iter().take(3).map(|(m, k)| format!("{k}×: {m}")).collect()
}

fn method_notes(detail: &MethodDetail) -> Vec<String> {
    match detail {
        MethodDetail::Envelope(e) => {
            let mut v = vec![if e.from_curves {
                format!(
                    "envelope over the training curves of {} runs at 40 budgets ({} points)",
                    e.runs_with_curves,
                    e.envelope.len()
                )
            } else {
                format!(
                    "no training curves: envelope of end-of-run points ({} runs on the envelope); N_opt is a staircase \
                     over the sweep's model sizes",
                    e.envelope.len()
                )
            }];
            let out = e.envelope.iter().filter(|p| !p.bracketed).count();
            if out > 0 {
                v.push(format!(
                    "{out} envelope points without a smaller and a larger model at that compute are not fitted"
                ));
            }
            v
        }
        MethodDetail::IsoFlop(f) => {
            let used = f.profiles.iter().filter(|p| p.optimum.is_some()).count();
            let mode = match f.mode {
                super::IsoFlopMode::Grouped => "runs grouped at common budgets",
                super::IsoFlopMode::Interpolated => {
                    "profiles interpolated along D for each model size"
                }
            };
            vec![format!("{used} of {} profiles bracket their minimum ({mode})", f.profiles.len())]
        }
        MethodDetail::Joint(j) => vec![format!(
            "{} L-BFGS starts, {} converged, {} reached the best objective {:.4e} (Σ Huber, δ = {}); RMS log residual {:.2e}",
            j.starts,
            j.converged_starts,
            j.starts_at_best,
            j.objective,
            j.huber_delta,
            j.rms_log_residual
        )],
        MethodDetail::Surface(s) => {
            let inside = s.minima.iter().filter(|m| m.bracketed).count();
            let mut v = vec![format!(
                "{inside} of {} iso-FLOP lines have their minimum inside the runs; edge minima are not fitted \
                 ({})",
                s.minima.len(),
                match s.interpolation {
                    super::SurfaceKind::Grid => "monotone cubics over the run grid",
                    super::SurfaceKind::Scattered =>
                        "thin-plate spline over scattered runs, inside their hull",
                }
            )];
            if !s.single_d_sizes.is_empty() {
                v.push(format!(
                    "{} model size(s) with a single D cannot enter the surface",
                    s.single_d_sizes.len()
                ));
            }
            v
        }
    }
}

fn add_warnings(warnings: &mut Vec<String>, reports: &[MethodReport], joint: &Option<JointReport>) {
    if let Some(j) = joint {
        for (name, est) in [("α", j.alpha), ("β", j.beta)] {
            if let Some((lo, _)) = est.ci
                && lo <= 0.0
            {
                warnings.push(format!(
                    "approach 3: the 95% interval of {name} reaches {lo:.3} ≤ 0: the data do not establish that the loss \
                     falls with this variable"
                ));
            }
        }
    }
    let exps: Vec<(Method, Estimate)> = reports
        .iter()
        .filter_map(|r| r.allocation.as_ref().map(|a| (r.method, a.n_exponent)))
        .collect();
    for (i, (m1, e1)) in exps.iter().enumerate() {
        for (m2, e2) in &exps[i + 1..] {
            if let (Some(c1), Some(c2)) = (e1.ci, e2.ci)
                && (c1.1 < c2.0 || c2.1 < c1.0)
            {
                warnings.push(format!(
                    "{m1} and {m2} disagree: N_opt exponents {:.3} [{:.3}, {:.3}] and {:.3} [{:.3}, {:.3}] have disjoint \
                     95% intervals (Besiroglu et al. 2024: check approach 3 against 1 and 2)",
                    e1.value, c1.0, c1.1, e2.value, c2.0, c2.1
                ));
            }
        }
    }
}

/// Refits every method on windows of the data (smallest model sizes, then token counts, dropped).
fn window_sweep(
    ctx: &Ctx,
    methods: &[Method],
    points: &[ScalingPoint],
    c_ref: f64,
    warm: Option<&[[f64; 5]]>,
) -> Vec<WindowFit> {
    let mut ns: Vec<f64> = points.iter().map(|p| p.n).collect();
    ns.sort_by(f64::total_cmp);
    ns.dedup();
    let mut ds: Vec<f64> = points.iter().map(|p| p.d).collect();
    ds.sort_by(f64::total_cmp);
    ds.dedup();
    let mut windows: Vec<(String, Vec<usize>)> =
        vec![("all runs".into(), (0..points.len()).collect())];
    for (name, vals, get) in
        [("N", &ns, (|p: &ScalingPoint| p.n) as fn(&ScalingPoint) -> f64), ("D", &ds, |p| p.d)]
    {
        for &lo in vals.iter().skip(1).take(vals.len().saturating_sub(2)) {
            let idx: Vec<usize> = (0..points.len()).filter(|&i| get(&points[i]) >= lo).collect();
            windows.push((format!("{name} ≥ {}", crate::format::sci(lo, 2)), idx));
        }
    }
    let jobs: Vec<(Method, &(String, Vec<usize>))> =
        methods.iter().flat_map(|&m| windows.iter().map(move |w| (m, w))).collect();
    jobs.par_iter()
        .map(|(method, (name, idx))| {
            let r = ctx.run_sample(*method, &ctx.subset(points, idx), warm);
            let mut w = WindowFit {
                method: *method,
                window: name.clone(),
                n_points: idx.len(),
                n_exponent: None,
                d_exponent: None,
                tokens_per_param: None,
                alpha_beta: None,
                error: None,
            };
            match r {
                Ok(o) => {
                    w.n_exponent = Some(o.frontier.n_exponent);
                    w.d_exponent = Some(o.frontier.d_exponent);
                    w.tokens_per_param = Some(o.frontier.tokens_per_param(c_ref));
                    if let MethodDetail::Joint(j) = o.detail {
                        w.alpha_beta = Some((j.law.alpha, j.law.beta));
                    }
                }
                Err(e) => w.error = Some(e.to_string()),
            }
            w
        })
        .collect()
}

fn extrapolation_check(
    ctx: &Ctx,
    points: &[ScalingPoint],
    holdout: usize,
) -> Result<ExtrapolationCheck, AnalysisError> {
    let mut ns: Vec<f64> = points.iter().map(|p| p.n).collect();
    ns.sort_by(f64::total_cmp);
    ns.dedup();
    if ns.len() < holdout + 2 {
        return Err(AnalysisError::TooFewPoints {
            context: "extrapolation check".into(),
            n: ns.len(),
            needed: holdout + 2,
            detail: format!("model sizes: {holdout} held out and at least 2 left to fit"),
        });
    }
    // Hold out more sizes while they hold fewer than 10% of the runs and 2 sizes remain.
    let mut k = holdout;
    let held = |k: usize| points.iter().filter(|p| p.n >= ns[ns.len() - k]).count();
    while 10 * held(k) < points.len() && ns.len() >= k + 3 {
        k += 1;
    }
    let cut = ns[ns.len() - k];
    let train: Vec<ScalingPoint> = points.iter().filter(|p| p.n < cut).cloned().collect();
    let fit = ctx.run(Method::Approach3, &train, None, None)?;
    let MethodDetail::Joint(j) = fit.detail else {
        return Err(AnalysisError::FitFailed {
            context: "extrapolation check".into(),
            message: "not an approach-3 fit".into(),
        });
    };
    let runs: Vec<HeldOutRun> = points
        .iter()
        .filter(|p| p.n >= cut)
        .map(|p| {
            let predicted = j.law.loss(p.n, p.d);
            HeldOutRun {
                run_id: p.run_id.clone(),
                n: p.n,
                d: p.d,
                loss: p.loss,
                predicted,
                rel_error: (predicted - p.loss) / p.loss,
            }
        })
        .collect();
    let abs: Vec<f64> = runs.iter().map(|r| r.rel_error.abs()).collect();
    Ok(ExtrapolationCheck {
        held_out_from_n: cut,
        fit_points: train.len(),
        law: j.law,
        mean_abs_rel_error: abs.iter().sum::<f64>() / abs.len() as f64,
        max_abs_rel_error: abs.iter().fold(0.0, |m, v| m.max(*v)),
        runs,
    })
}
