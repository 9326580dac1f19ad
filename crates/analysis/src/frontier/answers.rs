//! Answers at the user's budgets: what `scalinglab fit --budget C --predict N,D` reports.
//!
//! For every method that produced a frontier and every requested budget `C` (FLOPs, in the
//! data's compute convention): `N_opt(C)`, `D_opt(C)`, `D_opt/N_opt` and the loss at the
//! optimum; for every requested `(N, D)`: the predicted loss `L(N, D)`. Each number carries a
//! 95% interval from the *same* bootstrap draws as the method's exponents (see
//! [`super::analysis`]: each resample's fit is evaluated at the budget, and the scatter is
//! placed around the method's own estimate).
//!
//! * **Approach 3**: `N_opt`, `D_opt` from the fitted law's optimum at `C` (closed form under
//!   `C = k·N·D` with constant `k`, numerical otherwise), the loss `L(N_opt, D_opt)` from the
//!   law; `L(N, D)` from the law anywhere (marked as extrapolated outside the runs).
//! * **Approaches 1, 2 and the surface**: `N_opt`, `D_opt` from the method's power laws
//!   `N_opt ∝ C^a`, `D_opt ∝ C^b`. These methods have no loss model of their own beyond their
//!   per-budget optima, so the loss at the optimum is their own minimum losses (envelope runs,
//!   parabola vertices, surface minima) interpolated linearly in `(ln C, ln L)` between the
//!   budgets of those optima, and absent outside them ([`OptimumLoss`]).
//! * **Surface**: `L(N, D)` from the interpolated surface when `(N, D)` lies inside the runs;
//!   outside it is refused (the surface does not extrapolate). Approaches 1 and 2 give no
//!   `L(N, D)`.
//!
//! Numbers live here; [`super::FitReport::markdown`] and [`super::FitReport::summary_text`]
//! render them.

use super::analysis::{Scale, interval_of};
use super::data::{ComputeModel, ScalingPoint};
use super::joint::JointLaw;
use super::surface::surface_loss;
use super::{Estimate, Frontier, Method};
use crate::error::AnalysisError;

/// Every answer of a fit, in the order the budgets and `(N, D)` pairs were given.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Answers {
    /// Smallest and largest compute among the runs, FLOPs.
    pub compute_range: (f64, f64),
    /// Smallest and largest `N` among the runs.
    pub n_range: (f64, f64),
    /// Smallest and largest `D` among the runs.
    pub d_range: (f64, f64),
    /// One entry per requested budget.
    pub budgets: Vec<BudgetAnswer>,
    /// One entry per requested `(N, D)`.
    pub predictions: Vec<Prediction>,
}

/// The compute-optimal answers of every method at one budget.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BudgetAnswer {
    /// The budget, FLOPs.
    pub c: f64,
    /// How far the budget lies outside the runs' compute: `C / C_max` (> 1) above the largest
    /// run, `C / C_min` (< 1) below the smallest; `None` inside.
    pub extrapolation: Option<f64>,
    /// One entry per method run, in report order.
    pub methods: Vec<OptimumAnswer>,
}

/// One method's compute-optimal model at one budget, with 95% bootstrap intervals.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimumAnswer {
    /// Which method.
    pub method: Method,
    /// Compute-optimal parameters.
    pub n_opt: Option<Estimate>,
    /// Compute-optimal training tokens.
    pub d_opt: Option<Estimate>,
    /// `D_opt / N_opt`.
    pub tokens_per_param: Option<Estimate>,
    /// Loss at the optimum (unit of the data's losses).
    pub loss: Option<Estimate>,
    /// How the loss was obtained, or why there is none.
    pub loss_source: OptimumLoss,
    /// Why the method gave no answer (it could not be fitted).
    pub error: Option<String>,
}

/// How a method's loss at the optimum is obtained.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimumLoss {
    /// Approach 3's law at its optimum, `L(N_opt, D_opt)`.
    Law,
    /// The method's own minimum losses at its optima, interpolated in `(ln C, ln L)`; the
    /// optima span budgets `lo`–`hi` FLOPs.
    Interpolated {
        /// Smallest budget among the method's optima.
        lo: f64,
        /// Largest budget among the method's optima.
        hi: f64,
    },
    /// No loss: the budget lies outside the method's optima `lo`–`hi`, and only approach 3's
    /// law extrapolates the loss.
    OutsideOptima {
        /// Smallest budget among the method's optima.
        lo: f64,
        /// Largest budget among the method's optima.
        hi: f64,
    },
    /// The method could not be fitted.
    Unavailable,
}

/// The predicted loss of one user-given `(N, D)`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    /// Parameters.
    pub n: f64,
    /// Training tokens.
    pub d: f64,
    /// Its compute under the data's compute model `C = k(N)·N·D`, FLOPs.
    pub c: f64,
    /// `N / N_max` (> 1) above the largest run's `N`, `N / N_min` (< 1) below the smallest;
    /// `None` inside.
    pub n_extrapolation: Option<f64>,
    /// The same for `D`.
    pub d_extrapolation: Option<f64>,
    /// Approach 3 and the surface, when run.
    pub methods: Vec<PredictedLoss>,
}

/// One method's loss at a user-given `(N, D)`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PredictedLoss {
    /// Approach 3 or the surface.
    pub method: Method,
    /// The loss with its 95% interval.
    pub loss: Option<Estimate>,
    /// Why there is no loss.
    pub error: Option<String>,
}

/// A fitted value below a known floor of the loss: something no model can reach.
#[derive(Clone, Debug, PartialEq)]
pub enum BelowFloor {
    /// Approach 3's offset `E` (with its interval).
    JointE(Estimate),
    /// A method's loss at the compute-optimal model of budget `c`.
    Optimum {
        /// Which method.
        method: Method,
        /// The budget, FLOPs.
        c: f64,
        /// The loss with its interval.
        loss: Estimate,
    },
    /// A method's loss at a requested `(N, D)`.
    Prediction {
        /// Which method.
        method: Method,
        /// Parameters.
        n: f64,
        /// Training tokens.
        d: f64,
        /// The loss with its interval.
        loss: Estimate,
    },
}

/// Every value of `report` that lies below `floor`: approach 3's `E`, each method's loss at
/// each budget's optimum, each predicted loss. A value whose interval reaches the floor is
/// still listed (its central value is below it); [`BelowFloor::describe`] says which.
pub fn below_floor(report: &super::FitReport, floor: f64) -> Vec<BelowFloor> {
    let below = |e: &Estimate| e.value < floor;
    let mut out = Vec::new();
    if let Some(j) = &report.joint
        && below(&j.e)
    {
        out.push(BelowFloor::JointE(j.e));
    }
    if let Some(a) = &report.answers {
        for b in &a.budgets {
            for m in &b.methods {
                if let Some(l) = m.loss.filter(below) {
                    out.push(BelowFloor::Optimum { method: m.method, c: b.c, loss: l });
                }
            }
        }
        for p in &a.predictions {
            for m in &p.methods {
                if let Some(l) = m.loss.filter(below) {
                    out.push(BelowFloor::Prediction { method: m.method, n: p.n, d: p.d, loss: l });
                }
            }
        }
    }
    out
}

impl BelowFloor {
    /// The warning `fit` prints for it.
    pub fn describe(&self, floor: &super::KnownFloor) -> String {
        let value = |e: &Estimate| match e.ci {
            Some((lo, hi)) => {
                let whole = if hi < floor.loss { "wholly below" } else { "reaching" };
                format!("{:.4} [{lo:.4}, {hi:.4}] (95% interval {whole} the floor)", e.value)
            }
            None => format!("{:.4} (no interval)", e.value),
        };
        let bound = format!("the known floor {:.4} ({})", floor.loss, floor.source);
        match self {
            BelowFloor::JointE(e) => format!(
                "approach 3's E = {} is below {bound}: the law's offset is not the irreducible \
                 loss, and its extrapolations can fall below what any model reaches",
                value(e)
            ),
            BelowFloor::Optimum { method, c, loss } => format!(
                "{}'s loss at the optimum of C = {c:.3e}, {}, is below {bound}: no model can \
                 have it",
                method.name(),
                value(loss)
            ),
            BelowFloor::Prediction { method, n, d, loss } => format!(
                "{}'s predicted loss at N = {n:.3e}, D = {d:.3e}, {}, is below {bound}: no model \
                 can have it",
                method.name(),
                value(loss)
            ),
        }
    }
}

/// Checks budgets and `(N, D)` pairs: finite and > 0, naming `budget_flag` / `predict_flag`
/// and the value.
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] for the first bad value.
pub(crate) fn validate(
    budgets: &[f64],
    predict: &[(f64, f64)],
    budget_flag: &str,
    predict_flag: &str,
) -> Result<(), AnalysisError> {
    for &c in budgets {
        if !(c.is_finite() && c > 0.0) {
            return Err(AnalysisError::invalid(
                budget_flag,
                format!("{c}: a budget must be a finite number of FLOPs above 0"),
            ));
        }
    }
    for &(n, d) in predict {
        for (name, v) in [("N", n), ("D", d)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalysisError::invalid(
                    predict_flag,
                    format!("{n:e},{d:e}: {name} = {v:e} must be a finite number above 0"),
                ));
            }
        }
    }
    Ok(())
}

/// Parses a `--predict` value `N,D` (parameters, training tokens; e.g. `1e6,2e7`).
///
/// # Errors
///
/// [`AnalysisError::InvalidInput`] naming `--predict` and the value when it is not two
/// numbers separated by a comma, or either is not finite and > 0.
///
/// ```
/// use scalinglab_analysis::frontier::parse_predict;
/// assert_eq!(parse_predict("1e6,2e7").unwrap(), (1e6, 2e7));
/// assert!(parse_predict("1e6").unwrap_err().to_string().contains("--predict"));
/// assert!(parse_predict("1e6,-5").is_err());
/// ```
pub fn parse_predict(s: &str) -> Result<(f64, f64), AnalysisError> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let bad = |why: &str| {
        AnalysisError::invalid("--predict", format!("`{s}`: {why}; expected N,D, e.g. 1e6,2e7"))
    };
    if parts.len() != 2 {
        return Err(bad(&format!("{} comma-separated value(s) where 2 are needed", parts.len())));
    }
    let num = |p: &str, name: &str| {
        p.parse::<f64>().map_err(|_| bad(&format!("{name} = `{p}` is not a number")))
    };
    let pair = (num(parts[0], "N")?, num(parts[1], "D")?);
    validate(&[], &[pair], "--budget", "--predict")?;
    Ok(pair)
}

/// What was asked, with the data's compute model.
pub(crate) struct Asked<'a> {
    pub(crate) budgets: &'a [f64],
    pub(crate) predict: &'a [(f64, f64)],
    pub(crate) cm: &'a ComputeModel,
}

/// Quantities per budget in [`quantities`]' layout.
const PER_BUDGET: usize = 4;

impl Asked<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.budgets.is_empty() && self.predict.is_empty()
    }

    /// Whether `method` answers `(N, D)` predictions.
    fn predicts(method: Method) -> bool {
        matches!(method, Method::Approach3 | Method::Surface)
    }
}

/// The quantities one fit gives, as one vector (NaN where the fit gives none): for each
/// budget `[N_opt, D_opt, D/N, loss at the optimum]`, then for each `(N, D)` its loss.
/// Evaluated on the full data, on the data the resamples are centred on, and on every
/// resample, so that intervals come from the same draws as the exponents.
pub(crate) fn quantities(
    asked: &Asked,
    method: Method,
    frontier: &Frontier,
    law: Option<&JointLaw>,
    points: &[ScalingPoint],
) -> Vec<f64> {
    let mut q = Vec::with_capacity(PER_BUDGET * asked.budgets.len() + asked.predict.len());
    for &c in asked.budgets {
        let (n, d, loss) = match (method, law) {
            (Method::Approach3, Some(law)) => match law.optimum(c, asked.cm) {
                Some((n, d)) => (n, d, law.loss(n, d)),
                None => (f64::NAN, f64::NAN, f64::NAN),
            },
            _ => (frontier.n_opt(c), frontier.d_opt(c), optima_loss(frontier, c)),
        };
        q.extend([n, d, d / n, loss]);
    }
    for &(n, d) in asked.predict {
        q.push(match (method, law) {
            (Method::Approach3, Some(law)) => law.loss(n, d),
            (Method::Surface, _) => surface_loss(points, n, d).unwrap_or(f64::NAN),
            _ => f64::NAN,
        });
    }
    q
}

/// The loss at a method's optima, interpolated linearly in `(ln C, ln L)` at budget `c`; NaN
/// outside their budgets.
fn optima_loss(f: &Frontier, c: f64) -> f64 {
    let mut p: Vec<(f64, f64)> = f.points.iter().map(|p| (p.c.ln(), p.loss.ln())).collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    let x = c.ln();
    if let Some(hit) = p.iter().find(|q| q.0 == x) {
        return hit.1.exp();
    }
    p.windows(2)
        .find(|w| w[0].0 < x && x < w[1].0)
        .map(|w| (w[0].1 + (w[1].1 - w[0].1) * (x - w[0].0) / (w[1].0 - w[0].0)).exp())
        .unwrap_or(f64::NAN)
}

/// One method's answers, before they are gathered by budget.
pub(crate) struct MethodAnswers {
    method: Method,
    budgets: Vec<OptimumAnswer>,
    /// `None` for methods that give no `L(N, D)`.
    predictions: Vec<Option<PredictedLoss>>,
}

/// The answers of a method that could not be fitted.
pub(crate) fn method_failed(asked: &Asked, method: Method, error: &str) -> MethodAnswers {
    MethodAnswers {
        method,
        budgets: asked
            .budgets
            .iter()
            .map(|_| OptimumAnswer {
                method,
                n_opt: None,
                d_opt: None,
                tokens_per_param: None,
                loss: None,
                loss_source: OptimumLoss::Unavailable,
                error: Some(error.to_string()),
            })
            .collect(),
        predictions: asked
            .predict
            .iter()
            .map(|_| {
                Asked::predicts(method).then(|| PredictedLoss {
                    method,
                    loss: None,
                    error: Some(error.to_string()),
                })
            })
            .collect(),
    }
}

/// A method's answers with intervals: `value` from the full data, `centre` from the data the
/// resamples are drawn around (None: the median draw), `draws` from the fitted resamples
/// (intervals only when `ok`, as for the exponents, and when at least half the draws give the
/// quantity).
pub(crate) fn method_answers(
    asked: &Asked,
    method: Method,
    frontier: &Frontier,
    value: &[f64],
    centre: Option<&[f64]>,
    draws: &[&[f64]],
    ok: bool,
) -> MethodAnswers {
    let est = |j: usize| -> Option<Estimate> {
        let v = value[j];
        if !(v.is_finite() && v > 0.0) {
            return None;
        }
        let col: Vec<f64> = draws.iter().map(|d| d[j]).filter(|x| x.is_finite()).collect();
        let enough = ok && 2 * col.len() >= draws.len();
        let c = centre.map(|c| c[j]).filter(|c| c.is_finite() && *c > 0.0);
        Some(Estimate { value: v, ci: interval_of(v, c, &col, Scale::Log, enough) })
    };
    let (lo, hi) = super::analysis::c_span(frontier);
    let budgets = (0..asked.budgets.len())
        .map(|i| {
            let j = PER_BUDGET * i;
            let loss = est(j + 3);
            let loss_source = match method {
                Method::Approach3 => OptimumLoss::Law,
                _ if loss.is_some() => OptimumLoss::Interpolated { lo, hi },
                _ => OptimumLoss::OutsideOptima { lo, hi },
            };
            OptimumAnswer {
                method,
                n_opt: est(j),
                d_opt: est(j + 1),
                tokens_per_param: est(j + 2),
                loss,
                loss_source,
                error: None,
            }
        })
        .collect();
    let base = PER_BUDGET * asked.budgets.len();
    let predictions = (0..asked.predict.len())
        .map(|i| {
            Asked::predicts(method).then(|| {
                let loss = est(base + i);
                let error = match (loss, method) {
                    (Some(_), _) => None,
                    (None, Method::Surface) => Some(
                        "outside the runs: the interpolated surface does not extrapolate"
                            .to_string(),
                    ),
                    (None, _) => Some("the law gives no finite loss here".to_string()),
                };
                PredictedLoss { method, loss, error }
            })
        })
        .collect();
    MethodAnswers { method, budgets, predictions }
}

/// `x / hi` above `hi`, `x / lo` below `lo`, `None` inside.
fn outside(x: f64, (lo, hi): (f64, f64)) -> Option<f64> {
    if x > hi * (1.0 + 1e-9) {
        Some(x / hi)
    } else if x < lo * (1.0 - 1e-9) {
        Some(x / lo)
    } else {
        None
    }
}

fn range(points: &[ScalingPoint], f: fn(&ScalingPoint) -> f64) -> (f64, f64) {
    points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(f(p)), b.max(f(p))))
}

/// Gathers the methods' answers by budget and by `(N, D)`; `None` when nothing was asked.
pub(crate) fn assemble(
    asked: &Asked,
    points: &[ScalingPoint],
    per_method: Vec<MethodAnswers>,
) -> Option<Answers> {
    if asked.is_empty() {
        return None;
    }
    let mut per_method = per_method;
    per_method.sort_by_key(|m| m.method);
    let compute_range = range(points, |p| p.c);
    let n_range = range(points, |p| p.n);
    let d_range = range(points, |p| p.d);
    let budgets = asked
        .budgets
        .iter()
        .enumerate()
        .map(|(i, &c)| BudgetAnswer {
            c,
            extrapolation: outside(c, compute_range),
            methods: per_method.iter().map(|m| m.budgets[i].clone()).collect(),
        })
        .collect();
    let predictions = asked
        .predict
        .iter()
        .enumerate()
        .map(|(i, &(n, d))| Prediction {
            n,
            d,
            c: asked.cm.k(n) * n * d,
            n_extrapolation: outside(n, n_range),
            d_extrapolation: outside(d, d_range),
            methods: per_method.iter().filter_map(|m| m.predictions[i].clone()).collect(),
        })
        .collect();
    Some(Answers { compute_range, n_range, d_range, budgets, predictions })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::FrontierPoint;

    #[test]
    fn validation_names_the_flag_and_value() {
        let m = validate(&[1e12, f64::NAN], &[], "--budget", "--predict").unwrap_err().to_string();
        assert!(m.contains("--budget") && m.contains("NaN"), "{m}");
        let m = validate(&[-1.0], &[], "--budget", "--predict").unwrap_err().to_string();
        assert!(m.contains("--budget") && m.contains("-1"), "{m}");
        let m = validate(&[], &[(1e6, 0.0)], "--budget", "--predict").unwrap_err().to_string();
        assert!(m.contains("--predict") && m.contains("D = 0e0"), "{m}");
        for bad in ["1e6", "1e6,2e7,3", "a,2", "1e6,inf", ""] {
            let m = parse_predict(bad).unwrap_err().to_string();
            assert!(m.contains("--predict"), "{bad}: {m}");
        }
        assert_eq!(parse_predict(" 1e6 , 2e7 ").unwrap(), (1e6, 2e7));
    }

    #[test]
    fn optima_loss_interpolates_inside_and_not_beyond() {
        let points: Vec<FrontierPoint> = [(1e10, 3.0), (1e12, 2.0)]
            .iter()
            .map(|&(c, loss)| FrontierPoint { c, n_opt: 1.0, d_opt: 1.0, loss })
            .collect();
        let f = Frontier {
            ln_n_prefactor: 0.0,
            n_exponent: 0.5,
            ln_d_prefactor: 0.0,
            d_exponent: 0.5,
            points,
        };
        assert!((optima_loss(&f, 1e11) - 6f64.sqrt()).abs() < 1e-12);
        assert_eq!(optima_loss(&f, 1e12), 2.0);
        assert!(optima_loss(&f, 1e13).is_nan() && optima_loss(&f, 1e9).is_nan());
        assert_eq!(outside(2e12, (1e10, 1e12)), Some(2.0));
        assert_eq!(outside(1e9, (1e10, 1e12)), Some(0.1));
        assert_eq!(outside(1e11, (1e10, 1e12)), None);
    }
}
