//! The largest eigenpair of a symmetric positive semi-definite operator by the Lanczos method
//! with full reorthogonalisation, and the small symmetric tridiagonal eigensolver it needs.
//!
//! Used for top singular values `σ₁(C) = sqrt(λ_max(CᵀC))` of sparse-plus-rank-one lag
//! covariance matrices: only products with `C` and `Cᵀ` are needed, never a dense matrix.

/// Result of [`lanczos_largest`].
#[derive(Clone, Debug)]
pub(crate) struct LanczosResult {
    /// The largest Ritz value (an estimate of `λ_max`).
    pub value: f64,
    /// Its unit Ritz vector.
    pub vector: Vec<f64>,
    /// Lanczos steps taken (= operator applications).
    pub iterations: usize,
    /// Whether the residual test `‖A y − θ y‖ ≤ tol·θ` was met (or the Krylov space became
    /// invariant).
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Largest eigenpair of the symmetric PSD operator `apply: v ↦ A v` on `R^dim`.
///
/// `start` seeds the Krylov space (a warm start from a nearby problem converges in a few
/// steps); a zero or wrong-length start is replaced by a fixed pseudo-random vector. Stops
/// when the residual bound `β_j |s_j|` of the top Ritz pair is at most `tol · θ` (after at
/// least `min(4, dim)` steps) or after `max_iter` steps.
pub(crate) fn lanczos_largest(
    dim: usize,
    mut apply: impl FnMut(&[f64], &mut [f64]),
    start: &[f64],
    tol: f64,
    max_iter: usize,
) -> LanczosResult {
    if dim == 0 {
        return LanczosResult { value: 0.0, vector: Vec::new(), iterations: 0, converged: true };
    }
    let mut v0: Vec<f64> = if start.len() == dim { start.to_vec() } else { Vec::new() };
    let n0 = dot(&v0, &v0).sqrt();
    if v0.is_empty() || !(n0.is_finite() && n0 > 0.0) {
        v0 = pseudo_random_unit(dim, 0x5EED);
    } else {
        v0.iter_mut().for_each(|x| *x /= n0);
    }
    let max_iter = max_iter.clamp(1, dim);
    let min_iter = 4.min(dim);
    let mut basis: Vec<Vec<f64>> = vec![v0];
    let mut alpha: Vec<f64> = Vec::new();
    let mut beta: Vec<f64> = Vec::new();
    let mut w = vec![0.0; dim];
    let mut converged = false;
    let mut best = 0usize;
    for j in 0..max_iter {
        apply(&basis[j], &mut w);
        let a = dot(&w, &basis[j]);
        // Full reorthogonalisation, twice ("twice is enough"), which also removes the
        // three-term recurrence's α v_j + β v_{j−1}.
        for _ in 0..2 {
            for v in &basis {
                let c = dot(&w, v);
                w.iter_mut().zip(v).for_each(|(wi, vi)| *wi -= c * vi);
            }
        }
        alpha.push(a);
        let b = dot(&w, &w).sqrt();
        let scale = alpha.iter().map(|x| x.abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let (evals, last) = tridiagonal_eigen(&alpha, &beta, false);
        best = argmax(&evals);
        let theta = evals[best];
        let resid = b * last[0][best].abs();
        let invariant = b <= 1e-13 * scale;
        if invariant
            || (j + 1 >= min_iter && resid <= tol * theta.abs().max(1e-300))
            || j + 1 == dim
        {
            converged = invariant || resid <= tol * theta.abs().max(1e-300) || j + 1 == dim;
            break;
        }
        if j + 1 == max_iter {
            break;
        }
        beta.push(b);
        basis.push(w.iter().map(|x| x / b).collect());
    }
    let (evals, z) = tridiagonal_eigen(&alpha, &beta, true);
    let theta = evals[best];
    let mut y = vec![0.0; dim];
    for (k, v) in basis.iter().enumerate().take(alpha.len()) {
        let c = z[k][best];
        y.iter_mut().zip(v).for_each(|(yi, vi)| *yi += c * vi);
    }
    let ny = dot(&y, &y).sqrt();
    if ny > 0.0 {
        y.iter_mut().for_each(|x| *x /= ny);
    }
    LanczosResult { value: theta.max(0.0), vector: y, iterations: alpha.len(), converged }
}

fn argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// A deterministic unit vector with pseudo-random entries (SplitMix64).
pub(crate) fn pseudo_random_unit(dim: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    let mut v: Vec<f64> = (0..dim)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            (crate::stats::mix64(s) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
        .collect();
    let n = dot(&v, &v).sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Eigenvalues of the symmetric tridiagonal matrix with diagonal `d` and off-diagonal `e`
/// (`e.len() = d.len() − 1`), by the implicit QL method (Numerical Recipes' `tqli`).
///
/// With `full`, returns the whole eigenvector matrix `Z` (rows indexed by component,
/// columns by eigenvalue); otherwise only its last row (`Z[n−1][·]`, the last components that
/// the Lanczos residual bound needs), as a single row.
pub(crate) fn tridiagonal_eigen(d: &[f64], e: &[f64], full: bool) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = d.len();
    let mut d = d.to_vec();
    let mut e: Vec<f64> = e.iter().copied().chain(std::iter::once(0.0)).take(n).collect();
    let mut z: Vec<Vec<f64>> = if full {
        (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect()
    } else {
        vec![(0..n).map(|j| if j + 1 == n { 1.0 } else { 0.0 }).collect()]
    };
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 100 {
                break; // does not happen for finite input; keeps the loop bounded regardless
            }
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0, 1.0, 0.0);
            let mut i = m;
            let mut deflated = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    deflated = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                for row in z.iter_mut() {
                    let f = row[i + 1];
                    row[i + 1] = s * row[i] + c * f;
                    row[i] = c * row[i] - s * f;
                }
            }
            if deflated {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    (d, z)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense_apply(a: &[Vec<f64>]) -> impl FnMut(&[f64], &mut [f64]) + '_ {
        move |x, y| {
            for (yi, row) in y.iter_mut().zip(a) {
                *yi = dot(row, x);
            }
        }
    }

    #[test]
    fn tridiagonal_eigen_matches_known_spectrum() {
        // The path-graph Laplacian-like matrix tridiag(-1, 2, -1) of size n has eigenvalues
        // 2 − 2 cos(kπ/(n+1)).
        let n = 12;
        let d = vec![2.0; n];
        let e = vec![-1.0; n - 1];
        let (mut ev, z) = tridiagonal_eigen(&d, &e, true);
        // Eigenvectors: T z_j = λ_j z_j.
        for j in 0..n {
            for i in 0..n {
                let mut tz = d[i] * z[i][j];
                if i > 0 {
                    tz += e[i - 1] * z[i - 1][j];
                }
                if i + 1 < n {
                    tz += e[i] * z[i + 1][j];
                }
                assert!((tz - ev[j] * z[i][j]).abs() < 1e-12);
            }
        }
        ev.sort_by(f64::total_cmp);
        for (k, v) in ev.iter().enumerate() {
            let exact = 2.0 - 2.0 * (std::f64::consts::PI * (k + 1) as f64 / (n + 1) as f64).cos();
            assert!((v - exact).abs() < 1e-12, "{k}: {v} vs {exact}");
        }
        // Last-row mode agrees with the full matrix.
        let (_, last) = tridiagonal_eigen(&d, &e, false);
        for j in 0..n {
            assert!((last[0][j] - z[n - 1][j]).abs() < 1e-12);
        }
    }

    #[test]
    fn lanczos_finds_top_eigenpair_of_a_psd_matrix() {
        // A = Bᵀ B for a pseudo-random 40 × 30 B.
        let (rows, cols) = (40, 30);
        let bvals = pseudo_random_unit(rows * cols, 7);
        let b: Vec<Vec<f64>> =
            (0..rows).map(|i| bvals[i * cols..(i + 1) * cols].to_vec()).collect();
        let a: Vec<Vec<f64>> = (0..cols)
            .map(|i| (0..cols).map(|j| (0..rows).map(|k| b[k][i] * b[k][j]).sum()).collect())
            .collect();
        // Reference: plain power iteration, many steps.
        let mut x = vec![1.0; cols];
        let mut lam = 0.0;
        for _ in 0..20_000 {
            let mut y = vec![0.0; cols];
            dense_apply(&a)(&x, &mut y);
            lam = dot(&y, &x) / dot(&x, &x);
            let ny = dot(&y, &y).sqrt();
            x = y.iter().map(|v| v / ny).collect();
        }
        let r = lanczos_largest(cols, dense_apply(&a), &[], 1e-10, 100);
        assert!(r.converged);
        assert!((r.value - lam).abs() < 1e-10 * lam, "{} vs {lam}", r.value);
        let overlap = dot(&r.vector, &x).abs();
        assert!((overlap - 1.0).abs() < 1e-6, "overlap {overlap}");
        // A warm start converges in fewer steps.
        let warm = lanczos_largest(cols, dense_apply(&a), &x, 1e-10, 100);
        assert!(warm.iterations <= r.iterations, "{} vs {}", warm.iterations, r.iterations);
        assert!((warm.value - lam).abs() < 1e-10 * lam);
    }

    #[test]
    fn lanczos_handles_rank_one_and_zero() {
        let u = [3.0, 4.0, 0.0];
        let a: Vec<Vec<f64>> = (0..3).map(|i| (0..3).map(|j| u[i] * u[j]).collect()).collect();
        let r = lanczos_largest(3, dense_apply(&a), &[1.0, 1.0, 1.0], 1e-12, 50);
        assert!((r.value - 25.0).abs() < 1e-10 && r.converged);
        let z = vec![vec![0.0; 3]; 3];
        let r = lanczos_largest(3, dense_apply(&z), &[], 1e-12, 50);
        assert_eq!(r.value, 0.0);
        assert!(r.converged);
    }
}
