//! The surface method: the frontier of the interpolated loss surface (Barkeshli, Alfarano &
//! Gromov, arXiv 2601.10684).
//!
//! `ln L` is interpolated over the runs in `(ln N, ln D)`, with no extrapolation beyond them:
//! on a (possibly ragged) grid of runs, by a monotone cubic along `D` for each model size,
//! then along `N`; on scattered runs (an IsoFLOP design, points read off a published figure),
//! by a thin-plate spline inside their convex hull ([`SurfaceKind`]). For each of `budgets`
//! log-spaced budgets, `L(N, C/(k(N)·N))` is scanned along the iso-FLOP line at `samples`
//! values of `ln N` inside the surface and the minimum refined by golden-section search. A
//! minimum at the edge of the surface is not bracketed: it is reported but not fitted.
//! `N_opt ∝ C^a`, `D_opt ∝ C^b` are fitted to the bracketed minima.

use super::data::{ComputeModel, ScalingPoint, validate_points};
use super::interp::{LossSurface, ThinPlate};
use super::joint::golden_min;
use super::{Frontier, FrontierPoint, check_losses_fall, logspace};
use crate::error::AnalysisError;

const CTX: &str = "surface frontier";

/// Options of [`fit_surface`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SurfaceOptions {
    /// Budgets. Default 24.
    pub budgets: usize,
    /// Samples of `ln N` per iso-FLOP line before refinement. Default 96.
    pub samples: usize,
}

impl Default for SurfaceOptions {
    /// 24 budgets, 96 samples per line.
    fn default() -> Self {
        SurfaceOptions { budgets: 24, samples: 96 }
    }
}

/// The minimum along one iso-FLOP line.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SurfacePoint {
    /// The minimum (budget, `N`, `D`, loss).
    pub point: FrontierPoint,
    /// Whether the minimum lies inside the surface (used for the fit) rather than on its edge.
    pub bracketed: bool,
}

/// Result of [`fit_surface`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SurfaceFit {
    /// Power laws fitted to the bracketed minima.
    pub frontier: Frontier,
    /// Every budget's minimum.
    pub minima: Vec<SurfacePoint>,
    /// How the surface was interpolated.
    pub interpolation: SurfaceKind,
    /// Model sizes with runs at a single token count, which the grid surface cannot use.
    pub single_d_sizes: Vec<f64>,
}

/// How the surface method interpolates the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurfaceKind {
    /// Runs on a (possibly ragged) grid: monotone cubics along `ln D` for each model size,
    /// then along `ln N`.
    Grid,
    /// Scattered runs (e.g. an IsoFLOP design): a thin-plate spline in `(ln N, ln D)` inside
    /// the runs' convex hull.
    Scattered,
}

/// The interpolant in use.
enum Interp {
    Grid(LossSurface),
    Scattered(ThinPlate),
}

impl Interp {
    fn eval(&self, u: f64, v: f64) -> Option<f64> {
        match self {
            Interp::Grid(g) => g.eval(u, v),
            Interp::Scattered(t) => t.eval(u, v),
        }
    }
}

/// The grid surface when at least two model sizes have runs at two or more token counts
/// and they hold three quarters of the runs; else a thin-plate spline over the scattered runs.
fn build_surface(points: &[ScalingPoint]) -> Result<(Interp, SurfaceKind), AnalysisError> {
    let grid = LossSurface::new(points);
    let on_grid = points.iter().filter(|p| !grid.single_d.contains(&p.n)).count();
    if grid.sizes.len() >= 2 && 4 * on_grid >= 3 * points.len() {
        return Ok((Interp::Grid(grid), SurfaceKind::Grid));
    }
    match ThinPlate::new(points) {
        Some(t) => Ok((Interp::Scattered(t), SurfaceKind::Scattered)),
        None => Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "the runs neither form a grid over (N, D) ({} model size(s) with runs at two or more token \
                 counts) nor spread over a region of the (N, D) plane that a thin-plate spline can interpolate \
                 (they are fewer than 3 or lie on one line)",
                grid.sizes.len()
            ),
        }),
    }
}

/// The interpolated loss surface at `(n, d)`: `None` outside the runs (the surface does not
/// extrapolate) or when the runs admit no surface (see [`fit_surface`]'s errors).
pub(crate) fn surface_loss(points: &[ScalingPoint], n: f64, d: f64) -> Option<f64> {
    let (surf, _) = build_surface(points).ok()?;
    surf.eval(n.ln(), d.ln()).map(f64::exp).filter(|l| l.is_finite())
}

/// The surface method (see the [module docs](self)).
///
/// # Errors
///
/// Invalid points or options; losses that do not fall with compute; fewer than two model sizes with
/// runs at two or more token counts; fewer than two budgets whose minimum is bracketed inside the
/// run grid (the grid then does not contain the compute-optimal models).
pub fn fit_surface(
    points: &[ScalingPoint],
    cm: &ComputeModel,
    opts: &SurfaceOptions,
) -> Result<SurfaceFit, AnalysisError> {
    validate_points(CTX, points)?;
    if opts.budgets == 0 || opts.samples < 8 {
        return Err(AnalysisError::invalid(
            CTX,
            format!(
                "budgets = {} must be > 0 and samples = {} at least 8",
                opts.budgets, opts.samples
            ),
        ));
    }
    check_losses_fall(CTX, points)?;
    let (surf, kind) = build_surface(points)?;
    let (u_lo, u_hi, c_lo, c_hi) = match &surf {
        Interp::Grid(g) => {
            // Budgets spanning the compute reached by the surface's corners.
            let lc = |u: f64, v: f64| (cm.k(u.exp())).ln() + u + v;
            let (mut c_lo, mut c_hi) = (f64::INFINITY, f64::NEG_INFINITY);
            for (u, p) in &g.sizes {
                let (v0, v1) = p.range();
                c_lo = c_lo.min(lc(*u, v0));
                c_hi = c_hi.max(lc(*u, v1));
            }
            (g.sizes[0].0, g.sizes[g.sizes.len() - 1].0, c_lo, c_hi)
        }
        Interp::Scattered(_) => {
            let lo_hi = |f: fn(&ScalingPoint) -> f64| {
                points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                    (a.min(f(p).ln()), b.max(f(p).ln()))
                })
            };
            let ((u_lo, u_hi), (c_lo, c_hi)) = (lo_hi(|p| p.n), lo_hi(|p| p.c));
            (u_lo, u_hi, c_lo, c_hi)
        }
    };
    let line = |c: f64, u: f64| {
        let n = u.exp();
        surf.eval(u, cm.d_for(n, c).ln())
    };
    let mut minima = Vec::new();
    // Skip the two extreme budgets, where the line only touches a corner of the surface.
    for c in
        logspace(c_lo.exp(), c_hi.exp(), opts.budgets + 2).into_iter().skip(1).take(opts.budgets)
    {
        let us: Vec<f64> = (0..opts.samples)
            .map(|i| u_lo + (u_hi - u_lo) * i as f64 / (opts.samples - 1) as f64)
            .collect();
        let vals: Vec<Option<f64>> = us.iter().map(|&u| line(c, u)).collect();
        let Some((i, _)) = vals
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
        else {
            continue;
        };
        if vals.iter().filter(|v| v.is_some()).count() < 3 {
            continue;
        }
        let bracketed = i > 0 && i + 1 < us.len() && vals[i - 1].is_some() && vals[i + 1].is_some();
        let u = if bracketed {
            golden_min(|u| line(c, u).unwrap_or(f64::INFINITY), us[i - 1], us[i + 1])
        } else {
            us[i]
        };
        let Some(ll) = line(c, u) else { continue };
        let n = u.exp();
        minima.push(SurfacePoint {
            point: FrontierPoint { c, n_opt: n, d_opt: cm.d_for(n, c), loss: ll.exp() },
            bracketed,
        });
    }
    let inside: Vec<FrontierPoint> =
        minima.iter().filter(|m| m.bracketed).map(|m| m.point).collect();
    if inside.len() < 3 {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "{} of {} iso-FLOP lines have their minimum inside the runs (N = {:.3e}–{:.3e}); the others sit on \
                 the edge of the surface, so the runs do not bracket the compute-optimal model sizes (3 bracketed \
                 minima are needed; extend the range of N or D)",
                inside.len(),
                minima.len(),
                u_lo.exp(),
                u_hi.exp()
            ),
        });
    }
    let frontier = Frontier::fit(CTX, inside)?;
    let single_d_sizes = match surf {
        Interp::Grid(g) => g.single_d,
        Interp::Scattered(_) => Vec::new(),
    };
    Ok(SurfaceFit { frontier, minima, interpolation: kind, single_d_sizes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::JointLaw;

    #[test]
    fn surface_frontier_follows_the_law_on_a_grid() {
        let law = JointLaw { e: 1.9, a: 30.0, b: 200.0, alpha: 0.3, beta: 0.3 };
        let ns: Vec<f64> = (0..10).map(|i| 1e4 * 2f64.powi(i)).collect();
        let ds: Vec<f64> = (0..12).map(|i| 1e6 * 2f64.powi(i)).collect();
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
        let f = fit_surface(&pts, &ComputeModel::six_nd(), &SurfaceOptions::default()).unwrap();
        // Bracketed minima close to the law's optimum.
        for m in f.minima.iter().filter(|m| m.bracketed) {
            let (n_true, _) = law.optimum_closed_form(m.point.c, 6.0).unwrap();
            assert!((m.point.n_opt / n_true - 1.0).abs() < 0.25, "{m:?} vs {n_true:e}");
        }
        assert!((f.frontier.n_exponent - 0.5).abs() < 0.05, "{:?}", f.frontier);
    }

    #[test]
    fn minimum_on_the_edge_of_the_grid_is_an_error() {
        // The loss keeps falling with N across the whole grid at every budget: no bracket.
        let law = JointLaw { e: 1.0, a: 1e4, b: 1.0, alpha: 0.6, beta: 0.2 };
        let mut pts = Vec::new();
        for &n in &[1e4, 1e5, 1e6] {
            for &d in &[1e6, 1e7, 1e8] {
                pts.push(ScalingPoint {
                    run_id: String::new(),
                    n,
                    d,
                    c: 6.0 * n * d,
                    loss: law.loss(n, d),
                });
            }
        }
        let m = fit_surface(&pts, &ComputeModel::six_nd(), &SurfaceOptions::default())
            .unwrap_err()
            .to_string();
        assert!(m.contains("edge"), "{m}");
        // A single model size.
        let one: Vec<ScalingPoint> = pts.iter().filter(|p| p.n == 1e4).cloned().collect();
        let m = fit_surface(&one, &ComputeModel::six_nd(), &SurfaceOptions::default())
            .unwrap_err()
            .to_string();
        assert!(m.contains("neither form a grid") && m.contains("one line"), "{m}");
    }

    #[test]
    fn scattered_isoflop_runs_use_a_thin_plate_surface() {
        // Chinchilla-style design: 9 model sizes around the optimum at each of 5 budgets.
        let law = JointLaw { e: 1.8, a: 100.0, b: 300.0, alpha: 0.36, beta: 0.24 };
        let mut pts = Vec::new();
        for c in [1e16, 4e16, 1.6e17, 6.4e17, 2.56e18] {
            let (n0, _) = law.optimum_closed_form(c, 6.0).unwrap();
            for k in -4..=4 {
                let n = n0 * 10f64.powf(0.2 * k as f64 + 0.05);
                let d = c / (6.0 * n);
                pts.push(ScalingPoint { run_id: String::new(), n, d, c, loss: law.loss(n, d) });
            }
        }
        let f = fit_surface(&pts, &ComputeModel::six_nd(), &SurfaceOptions::default()).unwrap();
        assert_eq!(f.interpolation, SurfaceKind::Scattered);
        for m in f.minima.iter().filter(|m| m.bracketed) {
            let (n_true, _) = law.optimum_closed_form(m.point.c, 6.0).unwrap();
            assert!((m.point.n_opt / n_true - 1.0).abs() < 0.15, "{m:?} vs {n_true:e}");
        }
        assert!((f.frontier.n_exponent - 0.4).abs() < 0.03, "{:?}", f.frontier);
    }
}
