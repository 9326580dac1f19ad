//! Approach 1: the lower envelope of loss against compute (Hoffmann et al. 2022, §3.1).
//!
//! With training curves, each run's loss is interpolated (linearly in `ln C`) onto 40
//! log-spaced budgets spanning the curves; at each budget the run with the lowest loss is
//! found — and if it is neither the smallest nor the largest model whose curve reaches that
//! budget (else the optimum may lie beyond the sweep: the point is shown but not fitted),
//! `N_opt` is the vertex of the parabola in `ln N` through `ln L` of that run and its two
//! neighbours in size, and `D_opt = C/(k(N_opt)·N_opt)`. Hoffmann et al. take the best run's
//! own size; on a grid of sizes ×3 apart that staircase moves in jumps, noise pulled its
//! exponent low by 0.6 standard deviations, and its bootstrap intervals covered 80% of
//! simulated sweeps at nominal 95% (90% refined; `tests/coverage_fits.rs`). Without curves, each run is one
//! point `(C, L)` and the envelope is the set of runs that no cheaper run beats
//! ([`lower_envelope`]); a run on it is fitted only if a smaller and a larger model were
//! trained with at most its compute (otherwise — e.g. every model trained on the same `D` —
//! the envelope just follows the largest model and its slope says nothing about allocation). `N_opt ∝ C^a` and `D_opt ∝ C^b` are fitted to the envelope.
//!
//! Caveats (say so when reporting): on a finite grid of model sizes `N_opt` is a staircase;
//! mid-training points of a cosine schedule sit above what a run of that length would reach.

use std::collections::HashMap;

use super::data::{ComputeModel, CurvePoint, ScalingPoint, validate_points};
use super::{Frontier, FrontierPoint, check_losses_fall, logspace};
use crate::error::AnalysisError;
use crate::report::lower_envelope;

const CTX: &str = "approach 1 (lower envelope)";

/// Training curves grouped by run: `(tokens, loss)` pairs of each point's run.
pub(crate) type Curves = Vec<Vec<(f64, f64)>>;

/// A curve as `(ln C, ln L, ln tokens)`.
type LogCurve = Vec<(f64, f64, f64)>;

/// Budgets per curve envelope.
const BUDGETS: usize = 40;

/// One point of the envelope.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EnvelopePoint {
    /// The run that is best at this compute.
    pub run_id: String,
    /// Compute, FLOPs.
    pub c: f64,
    /// That run's parameters.
    pub n: f64,
    /// Tokens it had seen at `c`.
    pub d: f64,
    /// Its loss at `c`.
    pub loss: f64,
    /// Whether the minimum is bracketed, so the point is fitted: with training curves, a
    /// smaller and a larger model also reach `c`; with end-of-run points, a smaller and a
    /// larger model were trained with at most `c`.
    pub bracketed: bool,
}

/// Result of [`fit_envelope`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EnvelopeFit {
    /// Power laws fitted to the envelope.
    pub frontier: Frontier,
    /// Whether training curves were used (else end-of-run points only).
    pub from_curves: bool,
    /// Runs with a usable curve (two or more points); 0 without curves.
    pub runs_with_curves: usize,
    /// The envelope.
    pub envelope: Vec<EnvelopePoint>,
}

/// Approach 1 on `points`, with training `curves` when non-empty (see the
/// [module docs](self)).
///
/// # Errors
///
/// Invalid points or curve values (non-finite, non-positive); a curve point whose run is not among
/// `points`, or duplicate run ids among `points` when curves are given; losses that do not fall
/// with compute; an envelope with fewer than two points or a single model size.
pub fn fit_envelope(
    points: &[ScalingPoint],
    curves: &[CurvePoint],
    cm: &ComputeModel,
) -> Result<EnvelopeFit, AnalysisError> {
    validate_points(CTX, points)?;
    let by_point = match_curves(points, curves)?;
    envelope_of(points, by_point.as_deref(), cm)
}

/// Groups curve points by the index of their run in `points` (`None` without curves),
/// checking their values.
pub(crate) fn match_curves(
    points: &[ScalingPoint],
    curves: &[CurvePoint],
) -> Result<Option<Curves>, AnalysisError> {
    if curves.is_empty() {
        return Ok(None);
    }
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        if index.insert(p.run_id.as_str(), i).is_some() {
            return Err(AnalysisError::invalid(
                CTX,
                format!(
                    "run id `{}` appears twice among the points; curves cannot be matched to runs",
                    p.run_id
                ),
            ));
        }
    }
    let mut by_point: Vec<Vec<(f64, f64)>> = vec![Vec::new(); points.len()];
    for (k, cp) in curves.iter().enumerate() {
        let &i = index.get(cp.run_id.as_str()).ok_or_else(|| {
            AnalysisError::invalid(
                format!("{CTX}: curve point {k}"),
                format!(
                    "run `{}` has a training curve but is not among the runs fitted",
                    cp.run_id
                ),
            )
        })?;
        for (name, v) in [("tokens_seen", cp.tokens_seen), ("loss", cp.loss)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(AnalysisError::invalid(
                    format!("{CTX}: curve point {k} (run {})", cp.run_id),
                    format!("{name} = {v} must be finite and > 0"),
                ));
            }
        }
        by_point[i].push((cp.tokens_seen, cp.loss));
    }
    Ok(Some(by_point))
}

/// Approach 1 on validated points, with curves grouped by point when given.
pub(crate) fn envelope_of(
    points: &[ScalingPoint],
    by_point: Option<&[Vec<(f64, f64)>]>,
    cm: &ComputeModel,
) -> Result<EnvelopeFit, AnalysisError> {
    check_losses_fall(CTX, points)?;
    match by_point {
        Some(curves) => from_curves(points, curves, cm),
        None => from_end_points(points),
    }
}

/// Envelope of end-of-run points.
fn from_end_points(points: &[ScalingPoint]) -> Result<EnvelopeFit, AnalysisError> {
    let env = lower_envelope(points.iter().map(|p| (p.c, p.loss)).collect());
    let envelope: Vec<EnvelopePoint> = env
        .iter()
        .filter_map(|&(c, l)| {
            let p = points.iter().find(|p| p.c == c && p.loss == l)?;
            // Bracketed when a smaller and a larger model were trained with at most this compute.
            let cheaper =
                |f: &dyn Fn(f64) -> bool| points.iter().any(|q| q.c <= c * (1.0 + 1e-9) && f(q.n));
            let bracketed = cheaper(&|n| n < p.n) && cheaper(&|n| n > p.n);
            Some(EnvelopePoint { run_id: p.run_id.clone(), c, n: p.n, d: p.d, loss: l, bracketed })
        })
        .collect();
    let frontier = fit_bracketed(
        &envelope,
        "run on the envelope has no smaller or no larger model trained with at most its compute",
    )?;
    Ok(EnvelopeFit { frontier, from_curves: false, runs_with_curves: 0, envelope })
}

/// The optimum at budget `c` between the best run `b` and its neighbours in `N`, `a` below and
/// `z` above (each `(ln N, ln L at c, ln tokens at c, run)`): the vertex of the parabola in
/// `ln N` through their `ln L`, which lies between `a` and `z` because `b` is the lowest of the
/// three. Returns `(N, D, L)` with `D = c/(k(N)·N)`.
fn refine(
    a: (f64, f64, f64, usize),
    b: (f64, f64, f64, usize),
    z: (f64, f64, f64, usize),
    c: f64,
    cm: &ComputeModel,
) -> (f64, f64, f64) {
    let (x0, x1, x2) = (a.0, b.0, z.0);
    let (y0, y1, y2) = (a.1, b.1, z.1);
    // Newton form through the three points: divided differences.
    let d01 = (y1 - y0) / (x1 - x0);
    let d12 = (y2 - y1) / (x2 - x1);
    let curv = (d12 - d01) / (x2 - x0);
    let fallback = (b.0.exp(), b.2.exp(), b.1.exp());
    if curv.is_nan() || curv <= 0.0 {
        return fallback;
    }
    // y = y0 + d01 (x − x0) + curv (x − x0)(x − x1); dy/dx = 0 at the vertex.
    let xv = ((x0 + x1) - d01 / curv) / 2.0;
    let xv = xv.clamp(x0, x2);
    let yv = y0 + d01 * (xv - x0) + curv * (xv - x0) * (xv - x1);
    let n = xv.exp();
    let d = c / (cm.k(n) * n);
    if !(n.is_finite() && d.is_finite() && yv.is_finite()) {
        return fallback;
    }
    (n, d, yv.exp().min(b.1.exp()))
}

/// Fits the frontier to the bracketed envelope points; errors with fewer than three.
fn fit_bracketed(envelope: &[EnvelopePoint], why: &str) -> Result<Frontier, AnalysisError> {
    let inside: Vec<FrontierPoint> = envelope
        .iter()
        .filter(|e| e.bracketed)
        .map(|e| FrontierPoint { c: e.c, n_opt: e.n, d_opt: e.d, loss: e.loss })
        .collect();
    if inside.len() < 3 {
        return Err(AnalysisError::FitFailed {
            context: CTX.into(),
            message: format!(
                "{} of {} envelope points are not bracketed (the best {why}), so the optimum may lie beyond \
                 the sweep there; the {} bracketed points are too few (3 are needed): add model sizes around \
                 the frontier{}",
                envelope.len() - inside.len(),
                envelope.len(),
                inside.len(),
                if envelope.iter().all(|e| e.bracketed) { "" } else { " or training curves" }
            ),
        });
    }
    Frontier::fit(CTX, inside)
}

/// Envelope over training curves; `curves[i]` holds `(tokens, loss)` of `points[i]`.
fn from_curves(
    points: &[ScalingPoint],
    curves: &[Vec<(f64, f64)>],
    cm: &ComputeModel,
) -> Result<EnvelopeFit, AnalysisError> {
    // Per run: (ln C, ln L, ln tokens), sorted, distinct C.
    let mut runs: Vec<(usize, LogCurve)> = Vec::new();
    for (i, curve) in curves.iter().enumerate() {
        let k = cm.k(points[i].n) * points[i].n;
        let mut c: Vec<(f64, f64, f64)> =
            curve.iter().map(|&(t, l)| ((k * t).ln(), l.ln(), t.ln())).collect();
        c.sort_by(|a, b| a.0.total_cmp(&b.0));
        c.dedup_by(|a, b| a.0 == b.0);
        if c.len() >= 2 {
            runs.push((i, c));
        }
    }
    if runs.is_empty() {
        return Err(AnalysisError::invalid(
            CTX,
            "no run has a training curve with two or more points",
        ));
    }
    let lo = runs.iter().map(|r| r.1[0].0).fold(f64::INFINITY, f64::min);
    let hi = runs.iter().map(|r| r.1[r.1.len() - 1].0).fold(f64::NEG_INFINITY, f64::max);
    let mut envelope = Vec::new();
    for c in logspace(lo.exp(), hi.exp(), BUDGETS) {
        let lc = c.ln().clamp(lo, hi);
        // Every run whose curve reaches `c`: (ln N, ln L at c, ln tokens at c, run).
        let mut reach: Vec<(f64, f64, f64, usize)> = Vec::new();
        for (i, curve) in &runs {
            let (first, last) = (curve[0].0, curve[curve.len() - 1].0);
            if lc < first - 1e-12 || lc > last + 1e-12 {
                continue;
            }
            let j = curve.partition_point(|p| p.0 <= lc).clamp(1, curve.len() - 1);
            let (a, b) = (curve[j - 1], curve[j]);
            let t = ((lc - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
            reach.push((points[*i].n.ln(), a.1 + t * (b.1 - a.1), a.2 + t * (b.2 - a.2), *i));
        }
        if reach.is_empty() {
            continue;
        }
        // The best run of each model size (runs of one size on several D share ln N), by size.
        reach.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        reach.dedup_by(|later, first| later.0 == first.0);
        let best = (0..reach.len()).min_by(|&a, &b| reach[a].1.total_cmp(&reach[b].1)).unwrap_or(0);
        let (_, ll, lt, i) = reach[best];
        let p = &points[i];
        let bracketed = best > 0 && best + 1 < reach.len();
        let (n, d, loss) = if bracketed {
            refine(reach[best - 1], reach[best], reach[best + 1], c, cm)
        } else {
            (p.n, lt.exp(), ll.exp())
        };
        envelope.push(EnvelopePoint { run_id: p.run_id.clone(), c, n, d, loss, bracketed });
    }
    let frontier = fit_bracketed(
        &envelope,
        "run at a budget is the smallest or largest model whose curve reaches it",
    )?;
    Ok(EnvelopeFit { frontier, from_curves: true, runs_with_curves: runs.len(), envelope })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(id: &str, n: f64, d: f64, loss: f64) -> ScalingPoint {
        ScalingPoint { run_id: id.into(), n, d, c: 6.0 * n * d, loss }
    }

    #[test]
    fn end_points_envelope_and_single_size_error() {
        let pts = vec![
            point("a", 1e6, 1e8, 3.0), // C = 6e14
            point("b", 1e6, 1e9, 2.9), // 6e15
            point("c", 1e7, 1e8, 2.7), // 6e15 too, lower loss
            point("d", 1e7, 1e9, 2.5), // 6e16
            point("e", 1e8, 1e8, 2.6), // 6e16, worse than d
            point("f", 1e8, 1e9, 2.2), // 6e17
        ];
        let f = fit_envelope(&pts, &[], &ComputeModel::six_nd());
        // a: no smaller model; c: no larger model with C <= 6e15; f: no larger model at all.
        let m = f.unwrap_err().to_string();
        assert!(m.contains("3 of 4 envelope points are not bracketed"), "{m}");
        // A grid from a known law: the bracketed points are exactly those with a smaller and a
        // larger model among the runs with at most their compute.
        let law = |n: f64, d: f64| 1.7 + 400.0 * n.powf(-0.34) + 410.0 * d.powf(-0.28);
        let mut grid = Vec::new();
        for i in 0..6 {
            for j in 0..6 {
                let (n, d) = (1e6 * 4f64.powi(i), 1e8 * 4f64.powi(j));
                grid.push(point(&format!("{i}{j}"), n, d, law(n, d)));
            }
        }
        let f = fit_envelope(&grid, &[], &ComputeModel::six_nd()).unwrap();
        assert!(!f.from_curves);
        for e in &f.envelope {
            let smaller = grid.iter().any(|q| q.n < e.n && q.c <= e.c);
            let larger = grid.iter().any(|q| q.n > e.n && q.c <= e.c);
            assert_eq!(e.bracketed, smaller && larger, "{e:?}");
            // Nothing cheaper beats an envelope point.
            assert!(grid.iter().all(|q| q.c > e.c || q.loss >= e.loss), "{e:?}");
        }
        assert_eq!(f.frontier.points.len(), f.envelope.iter().filter(|e| e.bracketed).count());
        // The staircase follows the law's exponent β/(α+β) = 0.45 roughly.
        assert!((f.frontier.n_exponent - 0.45).abs() < 0.2, "{:?}", f.frontier);
        // Every model trained on the same D: the envelope follows N ∝ C and nothing is
        // bracketed, so no exponent (1.0 would be silently wrong).
        let same_d: Vec<ScalingPoint> = (0..5)
            .map(|i| point(&format!("r{i}"), 1e6 * 10f64.powi(i), 1e9, 3.0 - 0.2 * i as f64))
            .collect();
        let m = fit_envelope(&same_d, &[], &ComputeModel::six_nd()).unwrap_err().to_string();
        assert!(m.contains("5 of 5 envelope points are not bracketed"), "{m}");
        // A single model size: nothing bracketed either.
        let one =
            vec![point("a", 1e6, 1e8, 3.0), point("b", 1e6, 1e9, 2.9), point("c", 1e6, 1e10, 2.8)];
        let m = fit_envelope(&one, &[], &ComputeModel::six_nd()).unwrap_err().to_string();
        assert!(m.contains("not bracketed"), "{m}");
    }

    #[test]
    fn curves_envelope_picks_the_best_run_per_budget() {
        // Six model sizes; curves L = E + A/N^α + B/t^β along training.
        let law = |n: f64, t: f64| 1.7 + 400.0 * n.powf(-0.34) + 410.0 * t.powf(-0.28);
        let sizes = [1e6, 3e6, 1e7, 3e7, 1e8, 3e8];
        let pts: Vec<ScalingPoint> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| point(&format!("r{i}"), n, 1e11, law(n, 1e11)))
            .collect();
        let mut curves = Vec::new();
        for p in &pts {
            for k in 0..60 {
                let t = 1e7 * (1e4f64).powf(k as f64 / 59.0);
                curves.push(CurvePoint {
                    run_id: p.run_id.clone(),
                    tokens_seen: t,
                    flops_so_far: 6.0 * p.n * t,
                    loss: law(p.n, t),
                });
            }
        }
        let f = fit_envelope(&pts, &curves, &ComputeModel::six_nd()).unwrap();
        assert!(f.from_curves && f.runs_with_curves == 6);
        assert_eq!(f.envelope.first().unwrap().run_id, "r0");
        // At each budget the winner beats every other run whose curve reaches that compute.
        for e in &f.envelope {
            for &other in &sizes {
                let t_other = e.c / (6.0 * other);
                if (1e7..=1e11).contains(&t_other) {
                    assert!(law(other, t_other) >= e.loss * (1.0 - 2e-3), "{e:?} vs N = {other:e}");
                }
            }
            assert!((e.d - e.c / (6.0 * e.n)).abs() < 1e-6 * e.d);
        }
        // The first budgets are reached by the smallest model only: not bracketed, not fitted.
        assert!(!f.envelope[0].bracketed);
        assert!(f.frontier.points.len() < f.envelope.len());
        assert!(f.frontier.n_exponent > 0.2 && f.frontier.n_exponent < 0.8, "{:?}", f.frontier);
        // Unknown run and bad values are errors naming them.
        let bad = vec![CurvePoint {
            run_id: "ghost".into(),
            tokens_seen: 1.0,
            flops_so_far: 1.0,
            loss: 1.0,
        }];
        let m = fit_envelope(&pts, &bad, &ComputeModel::six_nd()).unwrap_err().to_string();
        assert!(m.contains("ghost"), "{m}");
        let bad = vec![CurvePoint {
            run_id: "r5".into(),
            tokens_seen: 1.0,
            flops_so_far: 1.0,
            loss: f64::INFINITY,
        }];
        let m = fit_envelope(&pts, &bad, &ComputeModel::six_nd()).unwrap_err().to_string();
        assert!(m.contains("loss = inf"), "{m}");
    }
}
