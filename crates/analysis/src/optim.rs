//! A small, hand-checked L-BFGS minimiser.
//!
//! Limited-memory BFGS (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Alg. 7.4 and 7.5):
//! the search direction comes from the two-loop recursion over the last `history` pairs
//! `(s, y)`, scaled by `γ = sᵀy / yᵀy`; the step length from a strong-Wolfe line search
//! (Alg. 3.5/3.6: bracketing, then zoom with safeguarded cubic interpolation — a "Moré–Thuente
//! lite"). Non-finite function values are treated as "step too long" and shrink the step, so
//! objectives that are undefined outside some region are handled gracefully.

/// Stopping rules and memory size for [`lbfgs`].
#[derive(Clone, Debug, PartialEq)]
pub struct LbfgsOptions {
    /// Maximum number of iterations (line searches).
    pub max_iters: usize,
    /// Number of `(s, y)` correction pairs kept.
    pub history: usize,
    /// Converged when the largest gradient component satisfies `‖g‖∞ ≤ grad_tol`.
    pub grad_tol: f64,
    /// Converged when one iteration lowers `f` by at most `f_tol · max(|f_k|, |f_{k+1}|)`
    /// (relative decrease). Zero disables this test.
    pub f_tol: f64,
}

impl Default for LbfgsOptions {
    /// `max_iters = 1000`, `history = 10`, `grad_tol = 1e-9`, `f_tol = 1e-14`.
    fn default() -> Self {
        LbfgsOptions { max_iters: 1000, history: 10, grad_tol: 1e-9, f_tol: 1e-14 }
    }
}

/// Result of a minimisation.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    /// The best point found.
    pub x: Vec<f64>,
    /// `f(x)`.
    pub f: f64,
    /// Iterations performed.
    pub iterations: usize,
    /// Whether a convergence test (gradient or relative decrease) was met, as opposed to
    /// running out of iterations or the line search failing.
    pub converged: bool,
}

const C1: f64 = 1e-4;
const C2: f64 = 0.9;
const MAX_LINE_SEARCH: usize = 40;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn inf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
}

fn finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// A point or gradient of the minimiser: a `Vec<f64>` of any length ([`lbfgs`]) or an array
/// `[f64; P]` ([`lbfgs_fixed`], which then allocates nothing per evaluation). One algorithm
/// serves both, so the two take bit for bit the same steps.
trait Point: Clone + AsRef<[f64]> + AsMut<[f64]> {}
impl Point for Vec<f64> {}
impl<const P: usize> Point for [f64; P] {}

/// `x + a·d`, component by component.
fn step<V: Point>(x: &V, a: f64, d: &V) -> V {
    let mut out = x.clone();
    for (xi, di) in out.as_mut().iter_mut().zip(d.as_ref()) {
        *xi += a * di;
    }
    out
}

/// `a − b`, component by component.
fn minus<V: Point>(a: &V, b: &V) -> V {
    let mut out = a.clone();
    for (ai, bi) in out.as_mut().iter_mut().zip(b.as_ref()) {
        *ai -= bi;
    }
    out
}

/// `−v`.
fn negated<V: Point>(v: &V) -> V {
    let mut out = v.clone();
    for x in out.as_mut() {
        *x = -*x;
    }
    out
}

/// Why a run of the minimiser stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A convergence test (gradient or relative decrease) was met.
    Converged,
    /// The iteration cap, the line search failing, or a non-finite start.
    Exhausted,
    /// The `stop` callback asked to stop.
    Asked,
}

/// The algorithm of the [module docs](self), for [`lbfgs`] and [`lbfgs_fixed`]. `eval` returns
/// the value and gradient, with a non-finite evaluation already mapped to `(∞, 0)`; after every
/// iteration `stop(x, f(x), iteration)` may end the run. Returns the last iterate, its value,
/// the iterations and why it stopped.
fn minimize<V: Point>(
    mut eval: impl FnMut(&V) -> (f64, V),
    x0: &V,
    opts: &LbfgsOptions,
    mut stop: impl FnMut(&V, f64, usize) -> bool,
) -> (V, f64, usize, Stop) {
    let mut x = x0.clone();
    let (mut fx, mut g) = eval(&x);
    if !fx.is_finite() {
        return (x, fx, 0, Stop::Exhausted);
    }
    if x.as_ref().is_empty() || inf_norm(g.as_ref()) <= opts.grad_tol {
        return (x, fx, 0, Stop::Converged);
    }
    let m = opts.history.max(1);
    // Correction pairs, oldest first.
    let mut s_hist: Vec<V> = Vec::with_capacity(m);
    let mut y_hist: Vec<V> = Vec::with_capacity(m);
    let mut rho_hist: Vec<f64> = Vec::with_capacity(m);
    let mut alpha: Vec<f64> = vec![0.0; m];

    let mut iterations = 0;
    let mut end = Stop::Exhausted;
    let mut just_reset = false;
    while iterations < opts.max_iters {
        iterations += 1;
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let k = s_hist.len();
        for i in (0..k).rev() {
            alpha[i] = rho_hist[i] * dot(s_hist[i].as_ref(), q.as_ref());
            for (qj, yj) in q.as_mut().iter_mut().zip(y_hist[i].as_ref()) {
                *qj -= alpha[i] * yj;
            }
        }
        let gamma = if k > 0 {
            dot(s_hist[k - 1].as_ref(), y_hist[k - 1].as_ref())
                / dot(y_hist[k - 1].as_ref(), y_hist[k - 1].as_ref())
        } else {
            1.0
        };
        for qj in q.as_mut() {
            *qj *= gamma;
        }
        for i in 0..k {
            let beta = rho_hist[i] * dot(y_hist[i].as_ref(), q.as_ref());
            for (qj, sj) in q.as_mut().iter_mut().zip(s_hist[i].as_ref()) {
                *qj += (alpha[i] - beta) * sj;
            }
        }
        let mut d = negated(&q);
        let mut dphi0 = dot(d.as_ref(), g.as_ref());
        if dphi0.is_nan() || dphi0 >= 0.0 || !finite(d.as_ref()) {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            d = negated(&g);
            dphi0 = dot(d.as_ref(), g.as_ref());
        }
        // First step without curvature information: keep the step length modest.
        let a0 = if s_hist.is_empty() { (1.0 / inf_norm(g.as_ref())).min(1.0) } else { 1.0 };

        let probe = |a: f64| -> Probe<V> {
            let (f, g) = eval(&step(&x, a, &d));
            let dphi = if f.is_finite() { dot(g.as_ref(), d.as_ref()) } else { f64::NAN };
            Probe { a, f, g, dphi }
        };
        let zero = Probe { a: 0.0, f: fx, g: g.clone(), dphi: dphi0 };
        let Some(p) = line_search(probe, zero, a0) else {
            if !s_hist.is_empty() && !just_reset {
                // Retry once with a fresh memory before giving up.
                s_hist.clear();
                y_hist.clear();
                rho_hist.clear();
                just_reset = true;
                continue;
            }
            break;
        };
        just_reset = false;
        let x_new = step(&x, p.a, &d);
        let s = minus(&x_new, &x);
        let y = minus(&p.g, &g);
        let sy = dot(s.as_ref(), y.as_ref());
        let f_old = fx;
        x = x_new;
        fx = p.f;
        g = p.g;
        if sy > 1e-300 && sy.is_finite() && dot(y.as_ref(), y.as_ref()) > 0.0 {
            if s_hist.len() == m {
                s_hist.remove(0);
                y_hist.remove(0);
                rho_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho_hist.push(1.0 / sy);
        }
        if inf_norm(g.as_ref()) <= opts.grad_tol {
            end = Stop::Converged;
            break;
        }
        let scale = f_old.abs().max(fx.abs()).max(f64::MIN_POSITIVE);
        if opts.f_tol > 0.0 && (f_old - fx) <= opts.f_tol * scale {
            end = Stop::Converged;
            break;
        }
        if stop(&x, fx, iterations) {
            end = Stop::Asked;
            break;
        }
    }
    (x, fx, iterations, end)
}

/// Minimises `f` from `x0`. `f` returns the value and the gradient at a point.
///
/// Never panics: if `f(x0)` is not finite, the result is `x0` with `converged = false`; a
/// gradient of the wrong length is treated as a non-finite evaluation.
///
/// ```
/// use scalinglab_analysis::{lbfgs, LbfgsOptions};
/// let m = lbfgs(|x| ((x[0] - 3.0).powi(2), vec![2.0 * (x[0] - 3.0)]), &[0.0], &LbfgsOptions::default());
/// assert!((m.x[0] - 3.0).abs() < 1e-8 && m.converged);
/// ```
pub fn lbfgs(f: impl Fn(&[f64]) -> (f64, Vec<f64>), x0: &[f64], opts: &LbfgsOptions) -> Minimum {
    let n = x0.len();
    let eval = |x: &Vec<f64>| -> (f64, Vec<f64>) {
        let (v, g) = f(x);
        if g.len() != n || !v.is_finite() || !finite(&g) {
            (f64::INFINITY, vec![0.0; n])
        } else {
            (v, g)
        }
    };
    let (x, fx, iterations, end) = minimize(eval, &x0.to_vec(), opts, |_, _, _| false);
    // A start where `f` is undefined reports `f`'s own value there, not the ∞ it stood for.
    let f = if iterations == 0 && end == Stop::Exhausted { f(x0).0 } else { fx };
    Minimum { x, f, iterations, converged: end == Stop::Converged }
}

/// Result of [`lbfgs_fixed`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct FixedMinimum<const P: usize> {
    /// The last iterate.
    pub x: [f64; P],
    /// `f(x)`.
    pub f: f64,
    /// Iterations performed.
    pub iterations: usize,
    /// Why the run ended.
    pub stop: Stop,
}

/// [`lbfgs`] for `P` parameters, without heap allocation per evaluation: the same algorithm
/// ([`minimize`]), so that from the same start it visits bit for bit the same iterates as
/// [`lbfgs`] (a test checks this); `f` returns the gradient in an array and may keep scratch
/// buffers (`FnMut`). After every iteration, `stop(x, f(x), iteration)` is asked whether to
/// end the run there ([`Stop::Asked`]); a multi-start fit uses it to abandon a start that has
/// reached a basin already explored.
pub(crate) fn lbfgs_fixed<const P: usize>(
    mut f: impl FnMut(&[f64; P]) -> (f64, [f64; P]),
    x0: &[f64; P],
    opts: &LbfgsOptions,
    stop: impl FnMut(&[f64; P], f64, usize) -> bool,
) -> FixedMinimum<P> {
    let eval = |x: &[f64; P]| -> (f64, [f64; P]) {
        let (v, g) = f(x);
        if !v.is_finite() || !finite(&g) { (f64::INFINITY, [0.0; P]) } else { (v, g) }
    };
    let (x, f, iterations, stop) = minimize(eval, x0, opts, stop);
    FixedMinimum { x, f, iterations, stop }
}

/// One evaluation along the search direction: step `a`, value, gradient and slope `gᵀd`.
#[derive(Clone)]
struct Probe<V> {
    a: f64,
    f: f64,
    g: V,
    dphi: f64,
}

/// Strong-Wolfe line search from `zero` (the step 0: the current value and slope) with first
/// step `a0` (N&W Alg. 3.5). Returns the accepted probe, or `None` when no step lowers `f` (at
/// least the Armijo condition).
fn line_search<V: Clone>(
    mut probe: impl FnMut(f64) -> Probe<V>,
    zero: Probe<V>,
    a0: f64,
) -> Option<Probe<V>> {
    let (f0, dphi0) = (zero.f, zero.dphi);
    let mut prev = zero;
    let mut a = a0;
    const A_MAX: f64 = 1e10;
    for i in 0..MAX_LINE_SEARCH {
        let p = probe(a);
        if !p.f.is_finite() {
            // Too far: the function is undefined there. Bracket between prev and a.
            return zoom(&mut probe, f0, dphi0, prev, p);
        }
        if p.f > f0 + C1 * a * dphi0 || (i > 0 && p.f >= prev.f) {
            return zoom(&mut probe, f0, dphi0, prev, p);
        }
        if p.dphi.abs() <= -C2 * dphi0 {
            return Some(p);
        }
        if p.dphi >= 0.0 {
            return zoom(&mut probe, f0, dphi0, p, prev);
        }
        prev = p;
        a = (2.0 * a).min(A_MAX);
        if prev.a >= A_MAX {
            return Some(prev);
        }
    }
    (prev.a > 0.0).then_some(prev)
}

/// Zoom phase (N&W Alg. 3.6). `lo` satisfies Armijo with the lowest value so far; the interval
/// between `lo.a` and `hi.a` contains a strong-Wolfe step.
fn zoom<V: Clone>(
    probe: &mut impl FnMut(f64) -> Probe<V>,
    f0: f64,
    dphi0: f64,
    mut lo: Probe<V>,
    mut hi: Probe<V>,
) -> Option<Probe<V>> {
    for _ in 0..MAX_LINE_SEARCH {
        let (a_lo, a_hi) = (lo.a, hi.a);
        let width = (a_hi - a_lo).abs();
        if width <= 1e-16 * a_lo.abs().max(a_hi.abs()).max(1e-300) {
            break;
        }
        let a = cubic_step(&lo, &hi).unwrap_or(0.5 * (a_lo + a_hi));
        let p = probe(a);
        if !p.f.is_finite() || p.f > f0 + C1 * a * dphi0 || p.f >= lo.f {
            hi = p;
        } else {
            if p.dphi.abs() <= -C2 * dphi0 {
                return Some(p);
            }
            if p.dphi * (hi.a - lo.a) >= 0.0 {
                hi = lo;
            }
            lo = p;
        }
    }
    // Accept the best Armijo point found, if any progress was made.
    (lo.a > 0.0 && lo.f < f0).then_some(lo)
}

/// Minimiser of the cubic interpolating value and slope at both ends (N&W eq. 3.59), kept
/// inside the middle 80% of the interval; `None` when the cubic is unusable.
fn cubic_step<V>(lo: &Probe<V>, hi: &Probe<V>) -> Option<f64> {
    if !(lo.f.is_finite() && hi.f.is_finite() && lo.dphi.is_finite() && hi.dphi.is_finite()) {
        return None;
    }
    let (a1, a2) = (lo.a, hi.a);
    let d1 = lo.dphi + hi.dphi - 3.0 * (lo.f - hi.f) / (a1 - a2);
    let disc = d1 * d1 - lo.dphi * hi.dphi;
    if disc.is_nan() || disc < 0.0 {
        return None;
    }
    let d2 = (a2 - a1).signum() * disc.sqrt();
    let denom = hi.dphi - lo.dphi + 2.0 * d2;
    if denom == 0.0 {
        return None;
    }
    let a = a2 - (a2 - a1) * (hi.dphi + d2 - d1) / denom;
    let (left, right) = if a1 < a2 { (a1, a2) } else { (a2, a1) };
    let margin = 0.1 * (right - left);
    if !a.is_finite() {
        return None;
    }
    Some(a.clamp(left + margin, right - margin))
}

/// One L-BFGS run of `f` from `start` with the settings every multi-start fit of this crate
/// uses (500 iterations, history 10, gradient tolerance 1e-9, objective tolerance 1e-13), as
/// `(objective, θ)`; `None` unless the objective and every parameter end finite.
pub(crate) fn descend<const P: usize>(
    f: impl Fn(&[f64]) -> (f64, Vec<f64>),
    start: &[f64; P],
) -> Option<(f64, [f64; P])> {
    let lb = LbfgsOptions { max_iters: 500, history: 10, grad_tol: 1e-9, f_tol: 1e-13 };
    let m = lbfgs(f, start, &lb);
    let x: [f64; P] = m.x.as_slice().try_into().ok()?;
    (m.f.is_finite() && x.iter().all(|v| v.is_finite())).then_some((m.f, x))
}

/// The best of [`descend`] runs from `starts`, in parallel, as `(objective, θ)`; `None` when
/// none ends finite. Ties keep start order, so the result does not depend on the thread count.
pub(crate) fn best_of_starts<const P: usize>(
    f: impl Fn(&[f64]) -> (f64, Vec<f64>) + Sync,
    starts: &[[f64; P]],
) -> Option<(f64, [f64; P])> {
    use rayon::prelude::*;
    let mut results: Vec<(f64, [f64; P])> =
        starts.par_iter().filter_map(|s| descend(&f, s)).collect();
    results.sort_by(|a, b| a.0.total_cmp(&b.0));
    results.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rosenbrock(x: &[f64]) -> (f64, Vec<f64>) {
        let (a, b) = (x[0], x[1]);
        let f = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
        let g = vec![-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)];
        (f, g)
    }

    #[test]
    fn rosenbrock_from_standard_start() {
        let opts = LbfgsOptions { max_iters: 500, history: 10, grad_tol: 1e-10, f_tol: 0.0 };
        let m = lbfgs(rosenbrock, &[-1.2, 1.0], &opts);
        assert!(m.converged, "{m:?}");
        assert!((m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6, "{m:?}");
        assert!(m.iterations < 200, "{m:?}");
        // Default options also get there.
        let m = lbfgs(rosenbrock, &[-1.2, 1.0], &LbfgsOptions::default());
        assert!((m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6, "{m:?}");
    }

    #[test]
    fn fixed_size_form_takes_the_same_steps() {
        let opts = LbfgsOptions { max_iters: 500, history: 10, grad_tol: 1e-10, f_tol: 0.0 };
        let fixed = |x: &[f64; 2]| {
            let (f, g) = rosenbrock(x);
            (f, [g[0], g[1]])
        };
        for x0 in [[-1.2, 1.0], [2.0, -3.0], [0.0, 0.0]] {
            let m = lbfgs(rosenbrock, &x0, &opts);
            let k = lbfgs_fixed(fixed, &x0, &opts, |_, _, _| false);
            assert_eq!(m.x, k.x.to_vec(), "from {x0:?}");
            assert_eq!(
                (m.f, m.iterations, m.converged),
                (k.f, k.iterations, k.stop == Stop::Converged)
            );
        }
        // Asked to stop after the third iteration.
        let k = lbfgs_fixed(fixed, &[-1.2, 1.0], &opts, |_, _, it| it == 3);
        assert_eq!((k.iterations, k.stop), (3, Stop::Asked));
        // A start where f is undefined.
        let k = lbfgs_fixed(|_: &[f64; 1]| (f64::NAN, [0.0]), &[1.0], &opts, |_, _, _| false);
        assert_eq!((k.iterations, k.stop), (0, Stop::Exhausted));
    }

    #[test]
    fn ill_conditioned_quadratic() {
        // f = 1/2 (x - c)^T A (x - c) with A diagonal, condition number 1e4.
        let diag = [1.0, 10.0, 100.0, 1000.0, 10000.0];
        let c = [1.0, -2.0, 3.0, -4.0, 5.0];
        let f = |x: &[f64]| {
            let mut v = 0.0;
            let mut g = vec![0.0; 5];
            for i in 0..5 {
                v += 0.5 * diag[i] * (x[i] - c[i]).powi(2);
                g[i] = diag[i] * (x[i] - c[i]);
            }
            (v, g)
        };
        let m = lbfgs(
            f,
            &[0.0; 5],
            &LbfgsOptions { f_tol: 0.0, grad_tol: 1e-10, ..Default::default() },
        );
        assert!(m.converged);
        for (xi, ci) in m.x.iter().zip(c) {
            assert!((xi - ci).abs() < 1e-9, "{m:?}");
        }
    }

    #[test]
    fn undefined_region_and_bad_start() {
        // f(x) = x - ln x, undefined for x <= 0, minimum at x = 1; a big first step lands
        // in the undefined region and must be shrunk.
        let f = |x: &[f64]| {
            if x[0] <= 0.0 {
                (f64::NAN, vec![f64::NAN])
            } else {
                (x[0] - x[0].ln(), vec![1.0 - 1.0 / x[0]])
            }
        };
        let m = lbfgs(f, &[0.01], &LbfgsOptions::default());
        assert!((m.x[0] - 1.0).abs() < 1e-6, "{m:?}");
        // A start where f is undefined returns immediately, unconverged, without panicking.
        let m = lbfgs(f, &[-1.0], &LbfgsOptions::default());
        assert!(!m.converged && m.iterations == 0);
        // Gradient of the wrong length does not panic.
        let m = lbfgs(|_x| (1.0, vec![]), &[1.0, 2.0], &LbfgsOptions::default());
        assert!(!m.converged);
    }
}
