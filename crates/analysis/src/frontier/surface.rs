//! The surface method: the frontier of the interpolated loss surface (Barkeshli, Alfarano &
//! Gromov, arXiv 2601.10684).
//!
//! `ln L` is interpolated over the runs in `(ln N, ln D)` (a monotone cubic along `D` for each
//! model size, then along `N`; no extrapolation beyond the runs). For each of `budgets`
//! log-spaced budgets, `L(N, C/(k(N)·N))` is scanned along the iso-FLOP line at `samples`
//! values of `ln N` inside the surface and the minimum refined by golden-section search. A
//! minimum at the edge of the surface is not bracketed: it is reported but not fitted.
//! `N_opt ∝ C^a`, `D_opt ∝ C^b` are fitted to the bracketed minima.

use super::data::{ComputeModel, ScalingPoint, validate_points};
use super::interp::LossSurface;
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
        SurfaceOptions {
            budgets: 24,
            samples: 96,
        }
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
    /// Model sizes with runs at a single token count, which the surface cannot use.
    pub single_d_sizes: Vec<f64>,
}

/// The surface method (see the [module docs](self)).
///
/// Errors: invalid points or options; losses that do not fall with compute; fewer than two
/// model sizes with runs at two or more token counts; fewer than two budgets whose minimum is
/// bracketed inside the run grid (the grid then does not contain the compute-optimal models).
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
    let surf = LossSurface::new(points);
    if surf.sizes.len() < 2 {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "the surface needs at least 2 model sizes with runs at two or more token counts; found {} ({} model size(s) have a single D): the runs do not form a grid over (N, D) to interpolate",
                surf.sizes.len(),
                surf.single_d.len()
            ),
        });
    }
    let (u_lo, u_hi) = (surf.sizes[0].0, surf.sizes[surf.sizes.len() - 1].0);
    // Budgets spanning the compute reached by the surface's corners.
    let lc = |u: f64, v: f64| (cm.k(u.exp())).ln() + u + v;
    let mut c_lo = f64::INFINITY;
    let mut c_hi = f64::NEG_INFINITY;
    for (u, p) in &surf.sizes {
        let (v0, v1) = p.range();
        c_lo = c_lo.min(lc(*u, v0));
        c_hi = c_hi.max(lc(*u, v1));
    }
    let line = |c: f64, u: f64| {
        let n = u.exp();
        surf.eval(u, cm.d_for(n, c).ln())
    };
    let mut minima = Vec::new();
    // Skip the two extreme budgets, where the line only touches a corner of the surface.
    for c in logspace(c_lo.exp(), c_hi.exp(), opts.budgets + 2)
        .into_iter()
        .skip(1)
        .take(opts.budgets)
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
            golden_min(
                |u| line(c, u).unwrap_or(f64::INFINITY),
                us[i - 1],
                us[i + 1],
            )
        } else {
            us[i]
        };
        let Some(ll) = line(c, u) else { continue };
        let n = u.exp();
        minima.push(SurfacePoint {
            point: FrontierPoint {
                c,
                n_opt: n,
                d_opt: cm.d_for(n, c),
                loss: ll.exp(),
            },
            bracketed,
        });
    }
    let inside: Vec<FrontierPoint> = minima
        .iter()
        .filter(|m| m.bracketed)
        .map(|m| m.point)
        .collect();
    if inside.len() < 2 {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "{} of {} iso-FLOP lines have their minimum inside the run grid (N = {:.3e}–{:.3e}); the others \
                 sit on its edge, so the grid does not bracket the compute-optimal model sizes (extend the range of N \
                 or D)",
                inside.len(),
                minima.len(),
                u_lo.exp(),
                u_hi.exp()
            ),
        });
    }
    let frontier = Frontier::fit(CTX, inside)?;
    Ok(SurfaceFit {
        frontier,
        minima,
        single_d_sizes: surf.single_d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontier::JointLaw;

    #[test]
    fn surface_frontier_follows_the_law_on_a_grid() {
        let law = JointLaw {
            e: 1.9,
            a: 30.0,
            b: 200.0,
            alpha: 0.3,
            beta: 0.3,
        };
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
            assert!(
                (m.point.n_opt / n_true - 1.0).abs() < 0.25,
                "{m:?} vs {n_true:e}"
            );
        }
        assert!(
            (f.frontier.n_exponent - 0.5).abs() < 0.05,
            "{:?}",
            f.frontier
        );
    }

    #[test]
    fn minimum_on_the_edge_of_the_grid_is_an_error() {
        // The loss keeps falling with N across the whole grid at every budget: no bracket.
        let law = JointLaw {
            e: 1.0,
            a: 1e4,
            b: 1.0,
            alpha: 0.6,
            beta: 0.2,
        };
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
        assert!(
            m.contains("at least 2 model sizes") && m.contains("found 1"),
            "{m}"
        );
    }
}
