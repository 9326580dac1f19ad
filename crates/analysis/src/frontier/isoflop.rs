//! Approach 2: IsoFLOP profiles (Hoffmann et al. 2022, §3.2).
//!
//! At each compute budget `C` the loss is fitted as a parabola in `ln N`,
//! `L = p₀ + p₁ u + p₂ u²` with `u = ln N − ū` (least squares), and the vertex gives `N_opt(C)`,
//! `D_opt = C/(k(N_opt)·N_opt)`. `N_opt ∝ C^a`, `D_opt ∝ C^b` are fitted to the vertices.
//!
//! Profiles come from the runs in one of two ways:
//!
//! * **grouped** — when the runs were planned at fixed budgets: runs whose compute agrees
//!   within `group_tolerance` form a profile at their geometric-mean compute. Used when at
//!   least two such groups have three or more model sizes.
//! * **interpolated** — on a grid of `(N, D)` runs: each model size's `ln L` is interpolated
//!   in `ln D` (monotone cubic, no extrapolation), and at each of `budgets` log-spaced
//!   budgets the model sizes whose token range reaches `D = C/(k N)` give the profile.
//!
//! A profile gives a vertex only when it has three or more model sizes, opens upwards
//! (`p₂ > 0`) and its vertex lies within its `N` range (the minimum is bracketed); other
//! profiles are kept, with the reason, for the report and plots.

use super::data::{ComputeModel, ScalingPoint, distinct, validate_points};
use super::interp::LossSurface;
use super::{Frontier, FrontierPoint, check_losses_fall, logspace, quantile};
use crate::error::AnalysisError;
use crate::format::{sci, sig};

const CTX: &str = "approach 2 (IsoFLOP)";

/// Options of [`fit_isoflop`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IsoFlopOptions {
    /// Budgets of the interpolated mode. Default 8.
    pub budgets: usize,
    /// Runs whose compute differs by at most this fraction form one budget in the grouped
    /// mode. Default 0.05.
    pub group_tolerance: f64,
}

impl Default for IsoFlopOptions {
    /// 8 budgets, 5% grouping tolerance.
    fn default() -> Self {
        IsoFlopOptions { budgets: 8, group_tolerance: 0.05 }
    }
}

/// How the profiles were formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IsoFlopMode {
    /// Runs planned at common budgets.
    Grouped,
    /// Interpolated along `D` for each model size.
    Interpolated,
}

/// One IsoFLOP profile.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IsoFlopProfile {
    /// The budget, FLOPs.
    pub c: f64,
    /// `(N, L)` along the profile.
    pub points: Vec<(f64, f64)>,
    /// `ū`, the mean of `ln N` over the profile.
    pub center: f64,
    /// `(p₀, p₁, p₂)` of `L = p₀ + p₁ (ln N − ū) + p₂ (ln N − ū)²`, when fitted.
    pub parabola: Option<[f64; 3]>,
    /// The vertex, when the profile is usable.
    pub optimum: Option<FrontierPoint>,
    /// Why the profile gave no vertex.
    pub note: Option<String>,
}

impl IsoFlopProfile {
    /// The parabola's loss at `n`.
    pub fn parabola_at(&self, n: f64) -> Option<f64> {
        let p = self.parabola?;
        let u = n.ln() - self.center;
        Some(p[0] + p[1] * u + p[2] * u * u)
    }
}

/// Result of [`fit_isoflop`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IsoFlopFit {
    /// Power laws fitted to the vertices.
    pub frontier: Frontier,
    /// How the profiles were formed.
    pub mode: IsoFlopMode,
    /// Every profile, usable or not.
    pub profiles: Vec<IsoFlopProfile>,
}

/// Approach 2 (see the [module docs](self)).
///
/// # Errors
///
/// Invalid points or options; losses that do not fall with compute; no budget with runs at three or
/// more model sizes (saying how many share a budget at most); fewer than three profiles with a
/// bracketed, upward-opening parabola (listing each profile's reason); vertices that all sit at one
/// model size.
pub fn fit_isoflop(
    points: &[ScalingPoint],
    cm: &ComputeModel,
    opts: &IsoFlopOptions,
) -> Result<IsoFlopFit, AnalysisError> {
    validate_points(CTX, points)?;
    if opts.budgets == 0 || !(opts.group_tolerance.is_finite() && opts.group_tolerance >= 0.0) {
        return Err(AnalysisError::invalid(
            CTX,
            format!(
                "budgets = {} must be > 0 and group_tolerance = {} finite and >= 0",
                opts.budgets, opts.group_tolerance
            ),
        ));
    }
    check_losses_fall(CTX, points)?;
    let grouped = grouped_profiles(points, opts.group_tolerance);
    let (mode, mut profiles) = if grouped.len() >= 2 {
        (IsoFlopMode::Grouped, grouped)
    } else {
        (
            IsoFlopMode::Interpolated,
            interpolated_profiles(points, cm, opts.budgets, opts.group_tolerance)?,
        )
    };
    for p in profiles.iter_mut() {
        fit_profile(p, cm);
    }
    let optima: Vec<FrontierPoint> = profiles.iter().filter_map(|p| p.optimum).collect();
    if optima.len() < 3 {
        let reasons: Vec<String> = profiles
            .iter()
            .map(|p| format!("C = {:.3e}: {}", p.c, p.note.as_deref().unwrap_or("usable")))
            .collect();
        let design = match mode {
            IsoFlopMode::Grouped => String::new(),
            IsoFlopMode::Interpolated => format!(". {}", grid_diagnosis(points, cm)),
        };
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "{} of {} IsoFLOP profiles gave a bracketed minimum; at least 3 are needed ({}){design}",
                optima.len(),
                profiles.len(),
                reasons.join("; ")
            ),
        });
    }
    let frontier = Frontier::fit(CTX, optima)?;
    Ok(IsoFlopFit { frontier, mode, profiles })
}

/// Groups runs at common budgets; keeps groups with three or more model sizes.
fn grouped_profiles(points: &[ScalingPoint], tol: f64) -> Vec<IsoFlopProfile> {
    let mut sorted: Vec<&ScalingPoint> = points.iter().collect();
    sorted.sort_by(|a, b| a.c.total_cmp(&b.c));
    let width = (1.0 + tol).ln();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i].c.ln();
        let mut j = i;
        while j < sorted.len() && sorted[j].c.ln() - start <= width {
            j += 1;
        }
        let group = &sorted[i..j];
        if distinct(group.iter().map(|p| p.n)) >= 3 {
            let c = (group.iter().map(|p| p.c.ln()).sum::<f64>() / group.len() as f64).exp();
            let mut pts: Vec<(f64, f64)> = group.iter().map(|p| (p.n, p.loss)).collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            out.push(IsoFlopProfile {
                c,
                points: pts,
                center: 0.0,
                parabola: None,
                optimum: None,
                note: None,
            });
        }
        i = j;
    }
    out
}

/// Profiles at log-spaced budgets from per-model-size interpolation in `D`.
fn interpolated_profiles(
    points: &[ScalingPoint],
    cm: &ComputeModel,
    budgets: usize,
    tol: f64,
) -> Result<Vec<IsoFlopProfile>, AnalysisError> {
    let surf = LossSurface::new(points);
    // Compute range of each model size: [k N D_min, k N D_max].
    let ranges: Vec<(f64, f64)> = surf
        .sizes
        .iter()
        .map(|(ln_n, p)| {
            let n = ln_n.exp();
            let lk = (cm.k(n) * n).ln();
            (lk + p.range().0, lk + p.range().1)
        })
        .collect();
    if ranges.is_empty() {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "the runs are neither planned at common budgets (3 or more model sizes within {:.0}% of one \
                 compute) nor on a grid: no model size has runs at two or more token counts to interpolate \
                 along D",
                100.0 * tol
            ),
        });
    }
    let lo = ranges.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let hi = ranges.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    let cover = |lc: f64| ranges.iter().filter(|r| lc >= r.0 - 1e-9 && lc <= r.1 + 1e-9).count();
    let fine: Vec<f64> = (0..=400).map(|i| lo + (hi - lo) * i as f64 / 400.0).collect();
    let max_cover = fine.iter().map(|&lc| cover(lc)).max().unwrap_or(0);
    let covered: Vec<f64> = fine.iter().copied().filter(|&lc| cover(lc) >= 3).collect();
    if covered.is_empty() {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "no compute budget is reached by 3 or more model sizes (at most {max_cover} share one; {} model sizes \
                 have runs at two or more D): a parabola in ln N needs 3. {}",
                surf.sizes.len(),
                grid_diagnosis(points, cm)
            ),
        });
    }
    let (c_lo, c_hi) = (covered[0].exp(), covered[covered.len() - 1].exp());
    let mut out = Vec::new();
    for c in logspace(c_lo, c_hi, budgets) {
        let mut pts = Vec::new();
        for (i, (ln_n, _)) in surf.sizes.iter().enumerate() {
            let n = ln_n.exp();
            if let Some(ll) = surf.along_d(i, cm.d_for(n, c).ln()) {
                pts.push((n, ll.exp()));
            }
        }
        if pts.len() >= 3 {
            out.push(IsoFlopProfile {
                c,
                points: pts,
                center: 0.0,
                parabola: None,
                optimum: None,
                note: None,
            });
        }
    }
    Ok(out)
}

/// Why a grid of runs gives few IsoFLOP profiles, and what grid would give them.
///
/// Along a line of constant `C`, `ln D = ln C − ln k − ln N`: a model size reaches a budget
/// when its runs' token range covers `C/(kN)`. With model sizes a factor `r` apart and each
/// size's tokens spanning a factor `s`, a budget is reached by about `1 + ln s / ln r` sizes;
/// three sizes at every budget between the extremes need `s ≥ r³`, and three sizes at
/// isolated budgets already need `s ≥ r²`.
pub(crate) fn grid_diagnosis(points: &[ScalingPoint], cm: &ComputeModel) -> String {
    let surf = LossSurface::new(points);
    let ln_n: Vec<f64> = surf.sizes.iter().map(|s| s.0).collect();
    if ln_n.len() < 3 {
        return format!(
            "Only {} model size(s) have runs at two or more token counts: plan IsoFLOP runs (every model size at \
             D = C/(6N) for a few budgets C; in a scalinglab sweep, `sweep.compute_budgets`) or add model sizes",
            ln_n.len()
        );
    }
    let mut gaps: Vec<f64> = ln_n.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let mut spans: Vec<f64> = surf.sizes.iter().map(|s| s.1.range().1 - s.1.range().0).collect();
    spans.sort_by(f64::total_cmp);
    let r = quantile(&gaps, 0.5);
    let span = quantile(&spans, 0.5);
    // Budgets reached by 3 or more sizes, as contiguous bands of ln C.
    let ranges: Vec<(f64, f64)> = surf
        .sizes
        .iter()
        .map(|(u, p)| {
            let lk = (cm.k(u.exp()) * u.exp()).ln();
            (lk + p.range().0, lk + p.range().1)
        })
        .collect();
    let lo = ranges.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let hi = ranges.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max);
    let cover = |lc: f64| ranges.iter().filter(|r| lc >= r.0 - 1e-9 && lc <= r.1 + 1e-9).count();
    let mut bands: Vec<(f64, f64)> = Vec::new();
    let steps = 2000;
    let mut open: Option<f64> = None;
    for i in 0..=steps {
        let lc = lo + (hi - lo) * i as f64 / steps as f64;
        match (cover(lc) >= 3, open) {
            (true, None) => open = Some(lc),
            (false, Some(a)) => {
                bands.push((a, lc));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(a) = open {
        bands.push((a, hi));
    }
    let where_three = if bands.is_empty() {
        "no budget is reached by 3 model sizes".to_string()
    } else {
        let list: Vec<String> = bands
            .iter()
            .map(|(a, b)| format!("C = {}–{}", sci(a.exp(), 3), sci(b.exp(), 3)))
            .collect();
        format!(
            "3 model sizes meet only at {} (a factor {} of compute in all)",
            list.join(" and "),
            sig(bands.iter().map(|(a, b)| b - a).sum::<f64>().exp(), 3)
        )
    };
    format!(
        "On this grid the model sizes are ×{r_x} apart and each size's runs span D ×{s_x}, so a budget reaches about \
         1 + ln {s_x} / ln {r_x} = {:.2} model sizes and {where_three}. IsoFLOP profiles with 3 sizes across a range \
         of budgets need each model size's tokens to span at least ×{} (the cube of the size ratio; ×{}, its \
         square, gives 3 sizes only at isolated budgets): widen sweep.tokens, space the model sizes closer, or plan \
         IsoFLOP runs (every size at D = C/(6N) for a few budgets C; in a scalinglab sweep, `sweep.compute_budgets`)",
        1.0 + span / r,
        sig((3.0 * r).exp(), 2),
        sig((2.0 * r).exp(), 2),
        r_x = sig(r.exp(), 3),
        s_x = sig(span.exp(), 3),
    )
}

/// Fits the parabola and, when it is usable, the vertex.
fn fit_profile(p: &mut IsoFlopProfile, cm: &ComputeModel) {
    let u: Vec<f64> = p.points.iter().map(|q| q.0.ln()).collect();
    let n_distinct = distinct(u.iter().copied());
    p.center = u.iter().sum::<f64>() / u.len() as f64;
    if n_distinct < 3 {
        p.note = Some(format!("{n_distinct} model sizes; a parabola needs 3"));
        return;
    }
    let x: Vec<f64> = u.iter().map(|v| v - p.center).collect();
    let y: Vec<f64> = p.points.iter().map(|q| q.1).collect();
    let Some(coef) = quadratic_fit(&x, &y) else {
        p.note = Some("the parabola's normal equations are singular".into());
        return;
    };
    p.parabola = Some(coef);
    if coef[2] <= 0.0 {
        p.note =
            Some(format!("the parabola opens downwards (curvature {:.3e}): no minimum", coef[2]));
        return;
    }
    let xv = -coef[1] / (2.0 * coef[2]);
    let (xmin, xmax) =
        x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    if xv < xmin || xv > xmax {
        let side = if xv < xmin { "smallest" } else { "largest" };
        p.note = Some(format!(
            "the vertex N = {:.3e} lies beyond the {side} model size: the minimum is not bracketed",
            (xv + p.center).exp()
        ));
        return;
    }
    let n = (xv + p.center).exp();
    let loss = coef[0] + coef[1] * xv + coef[2] * xv * xv;
    p.optimum = Some(FrontierPoint { c: p.c, n_opt: n, d_opt: cm.d_for(n, p.c), loss });
}

/// Least-squares `y = c₀ + c₁ x + c₂ x²`, by Gaussian elimination with partial pivoting.
pub(crate) fn quadratic_fit(x: &[f64], y: &[f64]) -> Option<[f64; 3]> {
    let mut s = [0.0; 5];
    let mut t = [0.0; 3];
    for (&xi, &yi) in x.iter().zip(y) {
        let mut p = 1.0;
        for (k, sk) in s.iter_mut().enumerate() {
            *sk += p;
            if k < 3 {
                t[k] += p * yi;
            }
            p *= xi;
        }
    }
    let mut m = [[s[0], s[1], s[2], t[0]], [s[1], s[2], s[3], t[1]], [s[2], s[3], s[4], t[2]]];
    for col in 0..3 {
        let piv = (col..3).max_by(|a, b| m[*a][col].abs().total_cmp(&m[*b][col].abs()))?;
        m.swap(col, piv);
        if m[col][col].abs() < 1e-300 {
            return None;
        }
        let pivot = m[col];
        for (r, row) in m.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot[col];
                for (v, p) in row.iter_mut().zip(pivot).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let c = [m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]];
    c.iter().all(|v| v.is_finite()).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::JointLaw;

    #[test]
    fn quadratic_fit_is_exact_on_a_parabola() {
        let x = [-2.0, -1.0, 0.0, 1.0, 3.0];
        let y: Vec<f64> = x.iter().map(|v| 1.0 - 0.5 * v + 0.25 * v * v).collect();
        let c = quadratic_fit(&x, &y).unwrap();
        assert!(
            (c[0] - 1.0).abs() < 1e-12 && (c[1] + 0.5).abs() < 1e-12 && (c[2] - 0.25).abs() < 1e-12
        );
        assert!(quadratic_fit(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    }

    #[test]
    fn grouped_profiles_find_the_law_optimum() {
        // Runs planned at budgets, 9 model sizes each (Chinchilla's design), from the published law.
        let law = JointLaw::CHINCHILLA;
        let mut pts = Vec::new();
        for &c in &[1e18, 1e19, 1e20, 1e21] {
            let (n0, _) = law.optimum_closed_form(c, 6.0).unwrap();
            for k in -4..=4 {
                let n = n0 * 10f64.powf(0.2 * k as f64) * 1.01; // off-centre on purpose
                let d = c / (6.0 * n);
                pts.push(ScalingPoint {
                    run_id: format!("{c}_{k}"),
                    n,
                    d,
                    c,
                    loss: law.loss(n, d),
                });
            }
        }
        let f = fit_isoflop(&pts, &ComputeModel::six_nd(), &IsoFlopOptions::default()).unwrap();
        assert_eq!(f.mode, IsoFlopMode::Grouped);
        assert_eq!(f.profiles.len(), 4);
        // The parabola in ln N approximates the true profile: vertices within 10% of the truth,
        // and the exponent near β/(α+β) = 0.452.
        for p in &f.profiles {
            let o = p.optimum.unwrap();
            let (n_true, _) = law.optimum_closed_form(p.c, 6.0).unwrap();
            assert!((o.n_opt / n_true - 1.0).abs() < 0.1, "C {:e}: {} vs {n_true}", p.c, o.n_opt);
        }
        assert!((f.frontier.n_exponent - law.n_opt_exponent()).abs() < 0.02, "{:?}", f.frontier);
        assert!(
            (f.frontier.n_exponent + f.frontier.d_exponent - 1.0).abs() < 1e-9,
            "C = 6ND ⇒ a + b = 1"
        );
    }

    #[test]
    fn grid_without_three_sizes_per_budget_is_a_clear_error() {
        // The quickstart's shape: N ×4 per step, D over a factor 8: two sizes per budget at most.
        let law = JointLaw { e: 1.9, a: 30.0, b: 200.0, alpha: 0.3, beta: 0.3 };
        let mut pts = Vec::new();
        for &n in &[6e3, 2.5e4, 1e5, 4e5] {
            for &d in &[5.12e4, 1.024e5, 2.048e5, 4.096e5] {
                pts.push(ScalingPoint {
                    run_id: String::new(),
                    n,
                    d,
                    c: 6.0 * n * d,
                    loss: law.loss(n, d),
                });
            }
        }
        let m = fit_isoflop(&pts, &ComputeModel::six_nd(), &IsoFlopOptions::default())
            .unwrap_err()
            .to_string();
        assert!(m.contains("at most 2 share one") && m.contains("needs 3"), "{m}");
    }

    #[test]
    fn interpolated_profiles_on_a_wide_grid() {
        let law = JointLaw { e: 1.9, a: 30.0, b: 200.0, alpha: 0.3, beta: 0.3 };
        let ns: Vec<f64> = (0..8).map(|i| 1e5 * 2f64.powi(i)).collect();
        // D ×3 per step and N ×2: no two runs share a budget, so profiles are interpolated.
        let ds: Vec<f64> = (0..7).map(|i| 1e6 * 3f64.powi(i)).collect();
        let mut pts = Vec::new();
        for &n in &ns {
            for &d in &ds {
                pts.push(ScalingPoint {
                    run_id: String::new(),
                    n,
                    d,
                    c: 6.0 * n * d,
                    loss: law.loss(n, d),
                });
            }
        }
        let f = fit_isoflop(&pts, &ComputeModel::six_nd(), &IsoFlopOptions::default()).unwrap();
        assert_eq!(f.mode, IsoFlopMode::Interpolated);
        assert!((f.frontier.n_exponent - 0.5).abs() < 0.05, "{:?}", f.frontier);
        // A profile whose minimum lies beyond the grid is reported, not used.
        assert!(f.profiles.iter().all(|p| p.optimum.is_some() || p.note.is_some()));
    }
}
