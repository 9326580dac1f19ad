//! Interpolation of the loss over the run grid: a monotone cubic (PCHIP) in `ln D` for each
//! model size, then across model sizes in `ln N`. Shared by approach 2 (IsoFLOP profiles on a
//! grid of runs) and the surface method.

use super::data::ScalingPoint;

/// Monotone piecewise-cubic Hermite interpolant (Fritsch & Carlson 1980, with the
/// three-point end slopes of Moler's `pchip`): it never overshoots the data, so it adds no
/// spurious minima between runs.
#[derive(Clone, Debug)]
pub(crate) struct Pchip {
    x: Vec<f64>,
    y: Vec<f64>,
    m: Vec<f64>,
}

impl Pchip {
    /// `x` strictly increasing, at least 2 points, all finite; `None` otherwise.
    pub(crate) fn new(x: Vec<f64>, y: Vec<f64>) -> Option<Self> {
        let n = x.len();
        if n < 2
            || y.len() != n
            || x.windows(2).any(|w| w[1] <= w[0])
            || !x.iter().chain(&y).all(|v| v.is_finite())
        {
            return None;
        }
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let del: Vec<f64> = (0..n - 1).map(|k| (y[k + 1] - y[k]) / h[k]).collect();
        let mut m = vec![0.0; n];
        if n == 2 {
            m[0] = del[0];
            m[1] = del[0];
            return Some(Pchip { x, y, m });
        }
        for k in 1..n - 1 {
            if del[k - 1] * del[k] > 0.0 {
                let w1 = 2.0 * h[k] + h[k - 1];
                let w2 = h[k] + 2.0 * h[k - 1];
                m[k] = (w1 + w2) / (w1 / del[k - 1] + w2 / del[k]);
            }
        }
        let end = |h0: f64, h1: f64, d0: f64, d1: f64| {
            let s = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
            if s.signum() != d0.signum() || d0 == 0.0 {
                0.0
            } else if d0.signum() != d1.signum() && s.abs() > 3.0 * d0.abs() {
                3.0 * d0
            } else {
                s
            }
        };
        m[0] = end(h[0], h[1], del[0], del[1]);
        m[n - 1] = end(h[n - 2], h[n - 3], del[n - 2], del[n - 3]);
        Some(Pchip { x, y, m })
    }

    /// Value at `t`, `None` outside `[x₀, x_last]` (no extrapolation).
    pub(crate) fn eval(&self, t: f64) -> Option<f64> {
        let n = self.x.len();
        let tol = 1e-12 * (self.x[n - 1] - self.x[0]);
        if !(t >= self.x[0] - tol && t <= self.x[n - 1] + tol) {
            return None;
        }
        let t = t.clamp(self.x[0], self.x[n - 1]);
        let k = self.x.partition_point(|v| *v <= t).clamp(1, n - 1) - 1;
        let h = self.x[k + 1] - self.x[k];
        let s = (t - self.x[k]) / h;
        let (s2, s3) = (s * s, s * s * s);
        Some(
            (2.0 * s3 - 3.0 * s2 + 1.0) * self.y[k]
                + (s3 - 2.0 * s2 + s) * h * self.m[k]
                + (-2.0 * s3 + 3.0 * s2) * self.y[k + 1]
                + (s3 - s2) * h * self.m[k + 1],
        )
    }

    /// The interpolation interval.
    pub(crate) fn range(&self) -> (f64, f64) {
        (self.x[0], self.x[self.x.len() - 1])
    }
}

/// `ln L` as a function of `(ln N, ln D)` over the runs.
///
/// For each model size with runs at two or more token counts, `ln L` is a PCHIP in `ln D`
/// (no extrapolation beyond its smallest and largest `D`). At a point `(ln N, ln D)`, the
/// model sizes whose `D` range covers `ln D` are interpolated by a PCHIP in `ln N`; the
/// surface is defined only between the smallest and the largest of them.
#[derive(Clone, Debug)]
pub(crate) struct LossSurface {
    /// `(ln N, ln L over ln D)`, by increasing `N`.
    pub(crate) sizes: Vec<(f64, Pchip)>,
    /// Model sizes with runs at a single `D`, which the surface cannot use.
    pub(crate) single_d: Vec<f64>,
}

impl LossSurface {
    /// Builds the surface; runs of one `(N, D)` cell keep their lowest loss.
    pub(crate) fn new(points: &[ScalingPoint]) -> Self {
        let mut pts: Vec<(f64, f64, f64)> = points
            .iter()
            .map(|p| (p.n, p.d.ln(), p.loss.ln()))
            .collect();
        pts.sort_by(|a, b| {
            a.0.total_cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then(a.2.total_cmp(&b.2))
        });
        let mut sizes = Vec::new();
        let mut single_d = Vec::new();
        let mut i = 0;
        while i < pts.len() {
            let n = pts[i].0;
            let mut x: Vec<f64> = Vec::new();
            let mut y: Vec<f64> = Vec::new();
            while i < pts.len() && pts[i].0 == n {
                // Sorted by loss within a cell, so the first is the lowest.
                if x.last() != Some(&pts[i].1) {
                    x.push(pts[i].1);
                    y.push(pts[i].2);
                }
                i += 1;
            }
            match Pchip::new(x, y) {
                Some(p) => sizes.push((n.ln(), p)),
                None => single_d.push(n),
            }
        }
        LossSurface { sizes, single_d }
    }

    /// `ln L` of model size `i` at `ln D = v`.
    pub(crate) fn along_d(&self, i: usize, v: f64) -> Option<f64> {
        self.sizes[i].1.eval(v)
    }

    /// `ln L` at `(u, v) = (ln N, ln D)`, or `None` outside the surface's domain.
    pub(crate) fn eval(&self, u: f64, v: f64) -> Option<f64> {
        let mut xs = Vec::with_capacity(self.sizes.len());
        let mut ys = Vec::with_capacity(self.sizes.len());
        for (ln_n, p) in &self.sizes {
            if let Some(l) = p.eval(v) {
                xs.push(*ln_n);
                ys.push(l);
            }
        }
        Pchip::new(xs, ys)?.eval(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pchip_interpolates_and_preserves_monotonicity() {
        let x = vec![0.0, 1.0, 2.0, 3.0, 4.0];
        let y = vec![0.0, 0.1, 0.2, 2.0, 2.05];
        let p = Pchip::new(x.clone(), y.clone()).unwrap();
        for (xi, yi) in x.iter().zip(&y) {
            assert!((p.eval(*xi).unwrap() - yi).abs() < 1e-12);
        }
        // Monotone data give a monotone interpolant (no overshoot between knots).
        let mut prev = f64::NEG_INFINITY;
        for k in 0..=400 {
            let v = p.eval(4.0 * k as f64 / 400.0).unwrap();
            assert!(v >= prev - 1e-12 && v <= 2.05 + 1e-12, "at {k}: {v}");
            prev = v;
        }
        assert_eq!(p.eval(-0.1), None);
        assert_eq!(p.eval(4.1), None);
        // A cubic-free case: linear data are reproduced exactly.
        let p = Pchip::new(vec![0.0, 1.0, 3.0], vec![1.0, 3.0, 7.0]).unwrap();
        assert!((p.eval(2.0).unwrap() - 5.0).abs() < 1e-12);
        // Two points: a line. Bad input: None.
        assert!(
            (Pchip::new(vec![0.0, 2.0], vec![1.0, 2.0])
                .unwrap()
                .eval(1.0)
                .unwrap()
                - 1.5)
                .abs()
                < 1e-15
        );
        assert!(Pchip::new(vec![0.0, 0.0], vec![1.0, 2.0]).is_none());
        assert!(Pchip::new(vec![0.0], vec![1.0]).is_none());
    }

    #[test]
    fn surface_reproduces_a_separable_law_on_a_grid() {
        // ln L = 2 − 0.3 ln N − 0.2 ln D is linear in both, which PCHIP reproduces exactly.
        let mut pts = Vec::new();
        for &n in &[1e4, 1e5, 1e6] {
            for &d in &[1e6, 1e7, 1e8] {
                let loss = (2.0 - 0.3 * f64::ln(n) - 0.2 * f64::ln(d)).exp();
                pts.push(ScalingPoint {
                    run_id: String::new(),
                    n,
                    d,
                    c: 6.0 * n * d,
                    loss,
                });
            }
        }
        pts.push(ScalingPoint {
            run_id: String::new(),
            n: 1e7,
            d: 1e6,
            c: 6e13,
            loss: 1.0,
        });
        let s = LossSurface::new(&pts);
        assert_eq!(s.sizes.len(), 3);
        assert_eq!(s.single_d, vec![1e7]);
        let (u, v) = (3e4f64.ln(), 3e7f64.ln());
        assert!((s.eval(u, v).unwrap() - (2.0 - 0.3 * u - 0.2 * v)).abs() < 1e-12);
        assert_eq!(s.eval(1e3f64.ln(), v), None);
        assert_eq!(s.eval(u, 1e9f64.ln()), None);
    }
}
